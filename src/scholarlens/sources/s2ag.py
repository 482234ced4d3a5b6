"""Semantic Scholar Academic Graph (S2AG) bulk datasets: one parsed JSON Lines record at a time into records.

Each dataset has its own line shape, told apart by its fields (``s2ag_kind``):
- papers -> a Work keyed "s2corpus:<corpusid>" (plus "s2:<sha>" from its url, its DOI and arXiv id);
- authors -> an Author and the figures S2 reports (h_index, works_count, citations), as of ``updated``;
- citations -> a Citation between two corpus ids. A line with a null end (S2 could not resolve one side)
  cannot be stored, since an edge needs both ends: it becomes a Quarantined record, so the count adds up;
- abstracts -> a partial Work (title None) with the abstract, which the store merges into the paper with the
  same corpus id (or DOI/arXiv id) whichever is written first;
- tldrs, paper-ids, publication-venues, embeddings, s2orc -> recognised, nothing produced (not used yet).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterator

from ..categories import category_from_s2, s2_main_field
from ..records import (
    Author,
    Authorship,
    Citation,
    Institution,
    Provenance,
    Quarantined,
    Record,
    ReportedFigure,
    Work,
    author_name_key,
)
from .fields import Unreadable, get_text
from .fields import get_dict as _dict
from .fields import get_int as _int  # S2AG dumps write whole numbers as JSON integers only
from .fields import get_list as _list
from .fields import raw_json as _raw

SOURCE = "s2ag"
_PAPER_URL = re.compile(r"semanticscholar\.org/paper/([0-9a-f]{40})")
NOT_USED = ("tldrs", "paper-ids", "publication-venues", "embeddings", "s2orc")


def s2ag_kind(obj) -> str | None:
    """Which S2AG dataset a line belongs to, from the fields it has; None when it is none of them."""
    if not isinstance(obj, dict):
        return None
    has = obj.keys()
    if "citingcorpusid" in has or "citedcorpusid" in has:
        return "citations"
    if "authorid" in has and "name" in has:
        return "authors"
    if "corpusid" in has:
        if "title" in has:
            return "papers"
        if "abstract" in has:
            return "abstracts"
        if "vector" in has:
            return "embeddings"
        if "content" in has:
            return "s2orc"
        if "sha" in has:
            return "paper-ids"
        if "text" in has and "model" in has:
            return "tldrs"
        return None
    if "id" in has and "name" in has and ("issn" in has or "alternate_names" in has):
        return "publication-venues"
    return None


# --- small readers that refuse the wrong type ------------------------------------------------------------

def _text(obj: dict, key: str) -> str | None:
    return get_text(obj, key, strip=True)  # the dumps write "" for an unknown venue


def _id(obj: dict, key: str) -> str | None:
    """Corpus and author ids come as numbers in some datasets and as text in others."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise Unreadable(f"{key} is not an id: {value!r}"[:200])
    return str(value).strip()


def _external(ids: dict, name: str) -> str | None:
    """An external id, whatever the dataset's casing ("ArXiv" in papers, "arxiv" in s2orc)."""
    for k, v in ids.items():
        if k.lower() == name.lower() and isinstance(v, str) and v.strip():
            return v.strip()
    return None


def _shared_keys(ids: dict) -> tuple[list[str], str | None, str | None]:
    """The keys other sources know a paper by (DOI, arXiv id), and the two values."""
    doi, arxiv = _external(ids, "DOI"), _external(ids, "ArXiv")
    doi = doi.lower() if doi else None
    keys = []
    if doi:
        keys.append(f"doi:{doi}")
    if arxiv:
        keys.append(f"arxiv:{arxiv}")
    return keys, doi, arxiv


# --- one reader per dataset ------------------------------------------------------------------------------

def _paper(line: dict) -> list[Record]:
    corpus = _id(line, "corpusid")
    if corpus is None:
        raise Unreadable("paper without corpusid")
    keys = [f"s2corpus:{corpus}"]
    m = _PAPER_URL.search(_text(line, "url") or "")
    if m:
        keys.append(f"s2:{m.group(1)}")  # the Graph API's paperId: joins with API answers
    shared, doi, arxiv = _shared_keys(_dict(line, "externalids"))
    keys += shared
    date_text = _text(line, "publicationdate")
    try:
        date = dt.date.fromisoformat(date_text) if date_text else None
    except ValueError:
        raise Unreadable(f"publicationdate is not a date: {date_text!r}") from None
    authorships = []
    for position, a in enumerate(_list(line, "authors"), start=1):
        if not isinstance(a, dict):
            raise Unreadable("an author is not an object")
        author_id, name = _id(a, "authorId"), _text(a, "name")
        if not author_id and not name:
            raise Unreadable(f"author {position} has neither id nor name")
        key = f"s2author:{author_id}" if author_id else author_name_key(name)
        authorships.append(Authorship(author_key=key, position=position, raw_name=name or key))
    fields = _list(line, "s2fieldsofstudy")
    return [Work(
        keys=keys,
        title=_text(line, "title"),
        provenance=Provenance(SOURCE, corpus, "reported", as_of=_text(line, "updated")),
        publication_date=date,
        year=_int(line, "year") or (date.year if date else None),
        category=category_from_s2(None, fields),
        field=s2_main_field(None, fields),
        venue=_text(line, "venue") or _text(_dict(line, "journal"), "name"),
        doi=doi,
        arxiv_id=arxiv,
        authorships=authorships,
        cited_by_count=_int(line, "citationcount"),
    )]


def _author(line: dict) -> list[Record]:
    author_id, name = _id(line, "authorid"), _text(line, "name")
    if not author_id or not name:
        raise Unreadable("author without authorid or name")
    key = f"s2author:{author_id}"
    prov = Provenance(SOURCE, author_id, "reported", as_of=_text(line, "updated"))
    institutions = [
        Institution(key="name:" + " ".join(aff.lower().split()), name=aff.strip())
        for aff in _list(line, "affiliations") if isinstance(aff, str) and aff.strip()
    ]
    orcid = _dict(line, "externalids").get("ORCID")
    out: list[Record] = list(institutions)
    out.append(Author(
        key=key,
        name=name,
        provenance=prov,
        orcid=orcid if isinstance(orcid, str) and orcid else None,
        institution_keys=[i.key for i in institutions],
    ))
    figures = {"h_index": _int(line, "hindex"), "works_count": _int(line, "papercount"),
               "citations": _int(line, "citationcount")}
    out += [ReportedFigure("author", key, m, float(v), prov) for m, v in figures.items() if v is not None]
    return out


def _citation(line: dict, origin: str) -> list[Record]:
    citing, cited = _id(line, "citingcorpusid"), _id(line, "citedcorpusid")
    if citing is None or cited is None:
        return [Quarantined(origin, "citation edge without citing/cited id", _raw(line))]
    return [Citation(citing_key=f"s2corpus:{citing}", cited_key=f"s2corpus:{cited}", source=SOURCE)]


def _abstract(line: dict) -> list[Record]:
    corpus = _id(line, "corpusid")
    if corpus is None:
        raise Unreadable("abstract without corpusid")
    abstract = _text(line, "abstract")
    if abstract is None:
        return []  # nothing to add to the paper
    shared, doi, arxiv = _shared_keys(_dict(_dict(line, "openaccessinfo"), "externalids"))
    return [Work(
        keys=[f"s2corpus:{corpus}"] + shared,
        title=None,  # a partial record: the paper line brings the rest
        provenance=Provenance(SOURCE, corpus, "reported", as_of=_text(line, "updated")),
        abstract=abstract,
        doi=doi,
        arxiv_id=arxiv,
    )]


def records_from_s2ag(obj, origin: str) -> Iterator[Record]:
    """Records from one S2AG line; an unreadable line becomes one Quarantined record."""
    kind = s2ag_kind(obj)
    try:
        if kind == "papers":
            records = _paper(obj)
        elif kind == "authors":
            records = _author(obj)
        elif kind == "citations":
            records = _citation(obj, origin)
        elif kind == "abstracts":
            records = _abstract(obj)
        else:
            records = []  # not S2AG, or a dataset we recognise but do not use (NOT_USED)
    except (Unreadable, KeyError, TypeError, ValueError, AttributeError) as exc:
        records = [Quarantined(origin, f"unreadable S2AG {kind} line: {exc}", _raw(obj))]
    yield from records
