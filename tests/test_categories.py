"""Subject labels, checked on the subjects that occur in the real recorded sample."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import scholarlens
from scholarlens.categories import (
    CATEGORY_NAMES,
    category_from_arxiv,
    category_from_openalex,
    category_from_s2,
    s2_main_field,
)

SAMPLE = Path(scholarlens.__file__).parent / "sample"


def openalex_works() -> dict[str, dict]:
    """Every distinct work in the OpenAlex sample, single or from a list page."""
    works = {}
    for path in sorted((SAMPLE / "openalex/works").rglob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        for w in raw.get("results", [raw]):
            works[w["id"].rsplit("/", 1)[1]] = w
    return works


WORKS = openalex_works()


@pytest.mark.parametrize("primary, label", [
    ("cs.CV", "CV"), ("cs.LG", "LG"), ("cs.CL", "CL"), ("cs.AI", "AI"), ("cs.SE", "SE"), ("cs.RO", "RO"),
    ("stat.ML", "ML"), ("stat.ME", "STAT"), ("math.ST", "STAT"), ("math.IT", "IT"), ("math.OC", "MATH"),
    ("math.GT", "MATH"),  # not cs.GT (game theory)
    ("eess.IV", "IV"), ("eess.SY", "SY"), ("hep-th", "PHYS"), ("cond-mat.str-el", "PHYS"),
    ("astro-ph.GA", "ASTRO"), ("quant-ph", "QUANT"), ("q-bio.NC", "BIO"), ("q-fin.ST", "FIN"), ("econ.EM", "ECON"),
])
def test_arxiv(primary, label):
    assert category_from_arxiv(primary) == label
    assert label in CATEGORY_NAMES


@pytest.mark.parametrize("primary", [None, "", "bogus", "xx.YY"])
def test_arxiv_unknown_gives_no_label(primary):
    assert category_from_arxiv(primary) is None


@pytest.mark.parametrize("work_id, label", [
    ("W2194775991", "CV"),   # ResNet: Computer Vision and Pattern Recognition
    ("W4322718191", "CL"),   # LLaMA: AI subfield, topic "Natural Language Processing Techniques"
    ("W4292779060", "CL"),   # GPT-3: AI subfield, topic "Topic Modeling"
    ("W1522301498", "LG"),   # Adam: AI subfield, topic "Stochastic Gradient Optimization Techniques"
    ("W2064675550", "LG"),   # LSTM: topic "Neural Networks and Applications"
    ("W3103145119", "AI"),   # SciPy: AI subfield, a topic with no finer area
    ("W2612755892", "HC"),   # Human-Computer Interaction
    ("W2582743722", "DB"),   # R: Information Systems, topic "Data Mining Algorithms and Applications"
    ("W2741809807", "STAT"),  # Decision Sciences / Statistics, Probability and Uncertainty
])
def test_openalex_real_topics(work_id, label):
    assert category_from_openalex(WORKS[work_id]["primary_topic"]) == label


def test_openalex_fields_outside_computer_science():
    by_field = {}
    for w in WORKS.values():
        pt = w.get("primary_topic")
        if pt:
            by_field.setdefault((pt["field"]["display_name"], pt["subfield"]["display_name"]), pt)
    expected = {
        ("Medicine", "Oncology"): "MED",
        ("Medicine", "Infectious Diseases"): "MED",
        ("Biochemistry, Genetics and Molecular Biology", "Molecular Biology"): "BIO",
        ("Earth and Planetary Sciences", "Geology"): "EARTH",
        ("Physics and Astronomy", "Atomic and Molecular Physics, and Optics"): "PHYS",
        ("Physics and Astronomy", "Astronomy and Astrophysics"): "ASTRO",
        ("Mathematics", "Statistics and Probability"): "STAT",
        ("Social Sciences", "Education"): "EDU",
        ("Social Sciences", "Sociology and Political Science"): "SOC",
        ("Psychology", "Social Psychology"): "PSY",
        ("Economics, Econometrics and Finance", "Economics and Econometrics"): "ECON",
        ("Arts and Humanities", "Philosophy"): "HUM",
    }
    for key, label in expected.items():
        assert category_from_openalex(by_field[key]) == label, key


def test_every_real_primary_topic_gets_a_known_label():
    topics = [w["primary_topic"] for w in WORKS.values() if w.get("primary_topic")]
    for path in sorted((SAMPLE / "openalex/authors").glob("A*.json")):
        topics += json.loads(path.read_text(encoding="utf-8")).get("topics") or []
    assert len(topics) > 150
    for t in topics:
        assert category_from_openalex(t) in CATEGORY_NAMES, t["display_name"]


def test_openalex_concepts_when_there_is_no_primary_topic():
    ieee_access = WORKS["W4250685322"]  # concepts: Computer science (0), Computer network (1), ...
    assert ieee_access["primary_topic"] is None
    assert category_from_openalex(None, ieee_access["concepts"]) == "NI"
    journal = WORKS["W2964510282"]  # Political science (0)
    assert category_from_openalex(None, journal["concepts"]) == "SOC"
    veta = WORKS["W3209445140"]  # only Psychology at 0.19: below OpenAlex's own 0.3 threshold
    assert category_from_openalex(None, veta["concepts"]) is None
    assert category_from_openalex(None, None) is None


def test_semanticscholar_fields():
    paper = json.loads((SAMPLE / "semanticscholar/Paper.json").read_text(encoding="utf-8"))
    assert category_from_s2(paper["fieldsOfStudy"], paper["s2FieldsOfStudy"]) == "CS"
    # No fieldsOfStudy: the publisher's ("external") field before S2's own classifier.
    fos = [{"category": "Education", "source": "s2-fos-model"}, {"category": "Psychology", "source": "external"}]
    assert s2_main_field(None, fos) == "Psychology" and category_from_s2(None, fos) == "PSY"
    assert category_from_s2(None, None) is None
    assert category_from_s2(["Underwater Basket Weaving"]) is None


def test_every_real_s2_field_gets_a_known_label():
    names = set()
    with gzip.open(SAMPLE / "s2ag/papers/papers-sample.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            names |= {x["category"] for x in json.loads(line)["s2fieldsofstudy"] or []}
    paper = json.loads((SAMPLE / "semanticscholar/Paper.json").read_text(encoding="utf-8"))
    for p in paper["citations"]:
        names |= set(p["fieldsOfStudy"] or []) | {x["category"] for x in p["s2FieldsOfStudy"] or []}
    assert len(names) > 10
    for name in names:
        assert category_from_s2([name]) in CATEGORY_NAMES, name


def test_profile_page_labels_are_in_the_vocabulary():
    for label in ("CV", "AI", "LG", "CL", "SE"):
        assert label in CATEGORY_NAMES
    assert all(label.isupper() and 2 <= len(label) <= 5 for label in CATEGORY_NAMES)
