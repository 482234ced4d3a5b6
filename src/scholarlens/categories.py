"""Subject categories: the one place that turns a source's subject into a short arXiv-style label.

A profile card shows a short label (CV, AI, LG, CL, SE, ...). arXiv gives one directly; OpenAlex gives a
topic with its subfield and field; Semantic Scholar gives only broad fields of study. All three end up in the
same vocabulary, ``CATEGORY_NAMES``, so a paper read from two sources gets the same label:

- computer science uses arXiv's own cs.* suffixes (CV, CL, LG, ...), plus ML for stat.ML and a few eess
  ones (SP, IV, AS, SY);
- other sciences get one label per broad field (MED, BIO, PHYS, MATH, ...), because arXiv's finer math and
  physics labels collide with the cs ones (math.GT is not cs.GT) and other sources cannot be that fine;
- "CS" is computer science with no finer area known (Semantic Scholar never says which).
"""

from __future__ import annotations

import re

CATEGORY_NAMES: dict[str, str] = {
    # Computer science (arXiv cs.* suffixes)
    "AI": "Artificial Intelligence",
    "AR": "Hardware Architecture",
    "CC": "Computational Complexity",
    "CE": "Computational Engineering, Finance, and Science",
    "CG": "Computational Geometry",
    "CL": "Computation and Language",
    "CR": "Cryptography and Security",
    "CV": "Computer Vision and Pattern Recognition",
    "CY": "Computers and Society",
    "DB": "Databases",
    "DC": "Distributed, Parallel, and Cluster Computing",
    "DL": "Digital Libraries",
    "DM": "Discrete Mathematics",
    "DS": "Data Structures and Algorithms",
    "ET": "Emerging Technologies",
    "FL": "Formal Languages and Automata Theory",
    "GL": "General Literature",
    "GR": "Graphics",
    "GT": "Computer Science and Game Theory",
    "HC": "Human-Computer Interaction",
    "IR": "Information Retrieval",
    "IT": "Information Theory",
    "LG": "Machine Learning",
    "LO": "Logic in Computer Science",
    "MA": "Multiagent Systems",
    "MM": "Multimedia",
    "MS": "Mathematical Software",
    "NA": "Numerical Analysis",
    "NE": "Neural and Evolutionary Computing",
    "NI": "Networking and Internet Architecture",
    "OH": "Other Computer Science",
    "OS": "Operating Systems",
    "PF": "Performance",
    "PL": "Programming Languages",
    "RO": "Robotics",
    "SC": "Symbolic Computation",
    "SD": "Sound",
    "SE": "Software Engineering",
    "SI": "Social and Information Networks",
    "SY": "Systems and Control",
    "CS": "Computer Science",
    # Statistics and electrical engineering
    "ML": "Machine Learning (Statistics)",
    "STAT": "Statistics",
    "SP": "Signal Processing",
    "IV": "Image and Video Processing",
    "AS": "Audio and Speech Processing",
    # Other sciences: one label per broad field
    "MATH": "Mathematics",
    "PHYS": "Physics",
    "ASTRO": "Astrophysics",
    "QUANT": "Quantum Physics",
    "BIO": "Biology",
    "AGRI": "Agricultural and Biological Sciences",
    "IMMU": "Immunology and Microbiology",
    "NEURO": "Neuroscience",
    "MED": "Medicine",
    "NURS": "Nursing",
    "DENT": "Dentistry",
    "HLTH": "Health Professions",
    "PHARM": "Pharmacology, Toxicology and Pharmaceutics",
    "VET": "Veterinary",
    "CHEM": "Chemistry",
    "CHEME": "Chemical Engineering",
    "MAT": "Materials Science",
    "ENG": "Engineering",
    "ENRG": "Energy",
    "EARTH": "Earth and Planetary Sciences",
    "ENV": "Environmental Science",
    "ECON": "Economics",
    "FIN": "Quantitative Finance",
    "BUS": "Business, Management and Accounting",
    "DEC": "Decision Sciences",
    "PSY": "Psychology",
    "SOC": "Social Sciences",
    "EDU": "Education",
    "LAW": "Law",
    "LING": "Linguistics",
    "HUM": "Arts and Humanities",
}


# --- arXiv ---------------------------------------------------------------------------------------------

_CS_ALIASES = {"math.IT": "IT", "math.NA": "NA", "eess.SY": "SY", "math.ST": "STAT", "q-fin.EC": "ECON"}
# Whole archives that map to one label (the physics archives have no dot-suffix worth keeping).
_ARXIV_ARCHIVES = {
    "math": "MATH",
    "astro-ph": "ASTRO",
    "quant-ph": "QUANT",
    "cond-mat": "PHYS",
    "gr-qc": "PHYS",
    "hep-ex": "PHYS",
    "hep-lat": "PHYS",
    "hep-ph": "PHYS",
    "hep-th": "PHYS",
    "math-ph": "PHYS",
    "nlin": "PHYS",
    "nucl-ex": "PHYS",
    "nucl-th": "PHYS",
    "physics": "PHYS",
    "q-bio": "BIO",
    "q-fin": "FIN",
    "econ": "ECON",
    "stat": "STAT",
    "eess": "SP",
}


def category_from_arxiv(primary: str | None) -> str | None:
    """Label for an arXiv primary category: "cs.CV" -> "CV", "stat.ML" -> "ML", "hep-th" -> "PHYS"."""
    if not primary:
        return None
    primary = primary.strip()
    if primary in _CS_ALIASES:
        return _CS_ALIASES[primary]
    archive, _, sub = primary.partition(".")
    if archive == "cs":
        return sub.upper() if sub.upper() in CATEGORY_NAMES else "CS"
    if primary == "stat.ML":
        return "ML"
    if archive == "eess" and sub in ("SP", "IV", "AS"):
        return sub
    # Old-style ids carry the archive with a subject class ("math.GT", "cond-mat.str-el").
    return _ARXIV_ARCHIVES.get(archive.lower())


# --- OpenAlex ------------------------------------------------------------------------------------------

# OpenAlex fields (Scopus ASJC areas) -> label. Computer science is refined by subfield below.
_OPENALEX_FIELDS = {
    "Agricultural and Biological Sciences": "AGRI",
    "Arts and Humanities": "HUM",
    "Biochemistry, Genetics and Molecular Biology": "BIO",
    "Business, Management and Accounting": "BUS",
    "Chemical Engineering": "CHEME",
    "Chemistry": "CHEM",
    "Computer Science": "CS",
    "Decision Sciences": "DEC",
    "Dentistry": "DENT",
    "Earth and Planetary Sciences": "EARTH",
    "Economics, Econometrics and Finance": "ECON",
    "Energy": "ENRG",
    "Engineering": "ENG",
    "Environmental Science": "ENV",
    "Health Professions": "HLTH",
    "Immunology and Microbiology": "IMMU",
    "Materials Science": "MAT",
    "Mathematics": "MATH",
    "Medicine": "MED",
    "Neuroscience": "NEURO",
    "Nursing": "NURS",
    "Pharmacology, Toxicology and Pharmaceutics": "PHARM",
    "Physics and Astronomy": "PHYS",
    "Psychology": "PSY",
    "Social Sciences": "SOC",
    "Veterinary": "VET",
}

# Subfields that deserve their own label, in any field.
_OPENALEX_SUBFIELDS = {
    "Artificial Intelligence": "AI",
    "Computational Theory and Mathematics": "CC",
    "Computer Graphics and Computer-Aided Design": "GR",
    "Computer Networks and Communications": "NI",
    "Computer Vision and Pattern Recognition": "CV",
    "Hardware and Architecture": "AR",
    "Human-Computer Interaction": "HC",
    "Information Systems": "IR",
    "Signal Processing": "SP",
    "Software": "SE",
    "Statistics and Probability": "STAT",
    "Statistics, Probability and Uncertainty": "STAT",
    "Astronomy and Astrophysics": "ASTRO",
    "Control and Systems Engineering": "SY",
    "Education": "EDU",
    "Law": "LAW",
    "Linguistics and Language": "LING",
}

# OpenAlex's "Artificial Intelligence" subfield holds NLP, machine learning and robotics topics that arXiv
# files as CL, LG and RO; the topic name tells them apart. Checked in order, only inside computer science.
_CS_TOPIC_RULES = (
    (re.compile(r"natural language|text (analysis|readability|and document)|topic model|language model|"
                r"machine translation|sentiment|hate speech|speech recognition|dialogue", re.I), "CL"),
    (re.compile(r"speech and audio|music and audio", re.I), "SD"),
    (re.compile(r"robot", re.I), "RO"),
    (re.compile(r"machine learning(?! in healthcare)|neural networks and applications|graph neural|"
                r"gradient|few-shot|domain adaptation|imbalanced data|clustering|adversarial robustness|"
                r"reinforcement learning", re.I), "LG"),
    (re.compile(r"multi-agent", re.I), "MA"),
    (re.compile(r"quantum", re.I), "QUANT"),
    (re.compile(r"evolutionary|genetic algorithm", re.I), "NE"),
    (re.compile(r"security|cryptograph|intrusion|phishing|privacy", re.I), "CR"),
    (re.compile(r"software engineering|open source software", re.I), "SE"),
    (re.compile(r"database|data storage|data mining", re.I), "DB"),
    (re.compile(r"distributed|parallel computing|cloud computing|edge/fog", re.I), "DC"),
    (re.compile(r"librar|informetric", re.I), "DL"),
    (re.compile(r"recommender|information retrieval|expert finding", re.I), "IR"),
)
# Subfields whose topics we refine: vision, graphics and the like are already what their name says.
_REFINED_SUBFIELDS = {
    "Artificial Intelligence",
    "Computer Science Applications",
    "Computer Networks and Communications",
    "Information Systems",
    "General Computer Science",
    "Computer Science (miscellaneous)",
    "Hardware and Architecture",
    "Signal Processing",
}


def _name(obj) -> str | None:
    if isinstance(obj, dict):
        name = obj.get("display_name")
        return name if isinstance(name, str) else None
    return None


def category_from_openalex(primary_topic: dict | None, concepts: list | None = None) -> str | None:
    """Label for an OpenAlex work from its primary topic (topic, subfield, field).

    Works without a primary topic (older snapshots, some records) fall back on their concepts."""
    if isinstance(primary_topic, dict):
        field = _name(primary_topic.get("field"))
        subfield = _name(primary_topic.get("subfield"))
        topic = _name(primary_topic) or ""
        if field == "Computer Science" and (subfield in _REFINED_SUBFIELDS or subfield is None):
            for pattern, label in _CS_TOPIC_RULES:
                if pattern.search(topic):
                    return label
        if subfield in _OPENALEX_SUBFIELDS:
            return _OPENALEX_SUBFIELDS[subfield]
        if field in _OPENALEX_FIELDS:
            return _OPENALEX_FIELDS[field]
    return _category_from_concepts(concepts)


# OpenAlex (MAG) concepts: level-0 ones are broad fields, level-1 ones under "Computer science" are areas.
_CONCEPT_AREAS = {
    "artificial intelligence": "AI",
    "machine learning": "LG",
    "computer vision": "CV",
    "pattern recognition (psychology)": "CV",
    "natural language processing": "CL",
    "speech recognition": "CL",
    "information retrieval": "IR",
    "world wide web": "IR",
    "data mining": "DB",
    "database": "DB",
    "computer security": "CR",
    "computer network": "NI",
    "telecommunications": "NI",
    "distributed computing": "DC",
    "parallel computing": "DC",
    "software engineering": "SE",
    "programming language": "PL",
    "operating system": "OS",
    "human–computer interaction": "HC",
    "human-computer interaction": "HC",
    "computer graphics (images)": "GR",
    "multimedia": "MM",
    "theoretical computer science": "CC",
    "algorithm": "DS",
    "computer hardware": "AR",
    "embedded system": "AR",
    "robotics": "RO",
}
_CONCEPT_FIELDS = {
    "computer science": "CS",
    "medicine": "MED",
    "biology": "BIO",
    "chemistry": "CHEM",
    "physics": "PHYS",
    "mathematics": "MATH",
    "psychology": "PSY",
    "economics": "ECON",
    "business": "BUS",
    "political science": "SOC",
    "sociology": "SOC",
    "philosophy": "HUM",
    "history": "HUM",
    "art": "HUM",
    "geography": "EARTH",
    "geology": "EARTH",
    "materials science": "MAT",
    "engineering": "ENG",
    "environmental science": "ENV",
}
# OpenAlex assigns a concept from a score of 0.3; below that it is only an ancestor's echo.
_CONCEPT_MIN_SCORE = 0.3


def _category_from_concepts(concepts: list | None) -> str | None:
    if not isinstance(concepts, list):
        return None
    confident = [
        c for c in concepts
        if isinstance(c, dict) and isinstance(c.get("display_name"), str)
        and (c.get("score") is None or c.get("score") >= _CONCEPT_MIN_SCORE)
    ]
    top_field = next(
        (_CONCEPT_FIELDS.get(c["display_name"].lower()) for c in confident
         if c.get("level") == 0 and c["display_name"].lower() in _CONCEPT_FIELDS),
        None,
    )
    if top_field == "CS":
        for c in confident:
            if c.get("level") == 1 and c["display_name"].lower() in _CONCEPT_AREAS:
                return _CONCEPT_AREAS[c["display_name"].lower()]
    return top_field


# --- Semantic Scholar ----------------------------------------------------------------------------------

# Semantic Scholar's fields of study (the same list in the Graph API and the S2AG dumps).
_S2_FIELDS = {
    "Computer Science": "CS",
    "Medicine": "MED",
    "Chemistry": "CHEM",
    "Biology": "BIO",
    "Materials Science": "MAT",
    "Physics": "PHYS",
    "Geology": "EARTH",
    "Psychology": "PSY",
    "Art": "HUM",
    "History": "HUM",
    "Geography": "EARTH",
    "Sociology": "SOC",
    "Business": "BUS",
    "Political Science": "SOC",
    "Economics": "ECON",
    "Philosophy": "HUM",
    "Mathematics": "MATH",
    "Engineering": "ENG",
    "Environmental Science": "ENV",
    "Agricultural and Food Sciences": "AGRI",
    "Education": "EDU",
    "Law": "LAW",
    "Linguistics": "LING",
}

# S2 is not consistent about case ("Agricultural And Food Sciences" in the Graph API, "and" in the docs).
_S2_FIELDS_FOLDED = {name.lower(): label for name, label in _S2_FIELDS.items()}


def s2_main_field(fields_of_study: list | None, s2_fields: list | None = None) -> str | None:
    """The one field a Semantic Scholar paper is filed under: the first of ``fieldsOfStudy``, else the first
    ``s2FieldsOfStudy`` entry that comes from the publisher ("external") before the S2 classifier's guess."""
    for name in fields_of_study or []:
        if isinstance(name, str) and name:
            return name
    entries = [f for f in s2_fields or [] if isinstance(f, dict) and isinstance(f.get("category"), str)]
    entries.sort(key=lambda f: f.get("source") != "external")  # stable: keeps the source's order otherwise
    return entries[0]["category"] if entries else None


def category_from_s2(fields_of_study: list | None, s2_fields: list | None = None) -> str | None:
    """Label for a Semantic Scholar paper. S2 says only "Computer Science", never which area, so CS papers
    get "CS"; a field we do not know gets no label rather than a wrong one."""
    name = s2_main_field(fields_of_study, s2_fields)
    return _S2_FIELDS_FOLDED.get(name.lower()) if name else None
