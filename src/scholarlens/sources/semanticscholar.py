"""Semantic Scholar Graph API responses (one parsed JSON object at a time) into records.

Shapes read: a paper (``paperId``, with optional ``citations`` and ``references`` lists of papers), an author
(``authorId``, with optional ``papers``), a citation or reference edge (``{"citingPaper": ...}`` /
``{"citedPaper": ...}``), pages of any of these (``{"data": [...]}`` with ``offset``/``next``/``total``/
``token``), recommendation answers (``{"recommendedPapers": [...]}``) and batch answers (a JSON list, where
``null`` means "not found"). Snippet-search answers and Datasets API objects are recognised and yield nothing.

Choices worth knowing:
- ``as_of``: Graph API JSON carries no date, so figures have ``as_of=None`` unless the caller knows when
  the response was recorded and passes it.
- Paper keys: "s2:<paperId>", "doi:...", "arxiv:...", "s2corpus:<corpusId>"; the DOI or arXiv id is what
  lets the store merge a paper with the same work from OpenAlex or arXiv.
- A citation or reference without any id (S2 lists unresolved bibliography lines this way) cannot be keyed
  or stored: it becomes a Quarantined record with its title in ``raw``, so the count adds up.
- An edge list (``/paper/{id}/citations``) names the other end only in the request URL. Pass ``of_paper``
  (a paperId, "CorpusID:123", "DOI:10..." or a key) to get the Citation edges; without it the papers are
  still read and each edge is Quarantined, saying why.
- Authors embedded in a paper become authorships only; their figures are read from author objects, so one
  author's h-index does not come from two snapshots at once.
- S2 has no subject finer than "Computer Science": categories come from ``categories.category_from_s2``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterator

from ..analytics.codelinks import NOT_CODE_BY_ITSELF, classify_host
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
from .fields import Unreadable, get_int, get_text
from .fields import get_dict as _dict
from .fields import get_list as _list
from .fields import raw_json as _raw

SOURCE = "semanticscholar"
_PAGE_KEYS = ("offset", "next", "total", "token")
_NO_ID = "paper without any id"
# Hosts that only ever hold code or models; archives (Zenodo, OSF) hold papers too, so a PDF there is no code.


# --- recognising ---------------------------------------------------------------------------------------

def _item_kind(obj) -> str | None:
    if not isinstance(obj, dict):
        return None
    if "paperId" in obj:
        return "paper"
    if "authorId" in obj:
        return "author"
    if "citingPaper" in obj:
        return "citation"
    if "citedPaper" in obj:
        return "reference"
    if "snippet" in obj and "paper" in obj:
        return "snippet"
    return None


def semanticscholar_kind(obj) -> str | None:
    """"paper", "author", "citation", "reference", "list", "recommendations", "batch", "snippets",
    "dataset", or None when the object is not a Semantic Scholar answer (error bodies are not)."""
    if isinstance(obj, list):
        items = [x for x in obj if x is not None]
        return "batch" if items and all(_item_kind(x) in ("paper", "author") for x in items) else None
    if not isinstance(obj, dict):
        return None
    kind = _item_kind(obj)
    if kind is not None:
        return kind
    if isinstance(obj.get("recommendedPapers"), list):
        return "recommendations"
    data = obj.get("data")
    if isinstance(data, list):
        kinds = {_item_kind(x) for x in data}
        if data and kinds == {"snippet"}:
            return "snippets"
        # A page says so (offset, next, total, token); a bare {"data": [...]} must hold papers or authors.
        if any(k in obj for k in _PAGE_KEYS) or (data and None not in kinds):
            return "list"
        return None
    if any(k in obj for k in _PAGE_KEYS) and set(obj) <= set(_PAGE_KEYS):
        return "list"  # an empty search page: {"total": 0, "offset": 0}
    if {"release_id", "datasets"} <= obj.keys() or {"name", "README", "files"} <= obj.keys() \
            or {"dataset", "diffs"} <= obj.keys():
        return "dataset"  # Datasets API: a release, a dataset's download links, or its diffs
    return None


def is_semanticscholar(obj) -> bool:
    return semanticscholar_kind(obj) is not None


# --- small readers that refuse the wrong type ------------------------------------------------------------

def _text(obj: dict, key: str) -> str | None:
    return get_text(obj, key, strip=True)  # S2 sends "" for an unknown venue


def _int(obj: dict, key: str) -> int | None:
    return get_int(obj, key, digit_text=True)  # corpus ids come as text in some answers


def _date(value) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise Unreadable(f"publicationDate is not a date: {value!r}") from None


# --- papers --------------------------------------------------------------------------------------------

def paper_keys(paper: dict) -> list[str]:
    """Every key a Graph API paper can be found by; the S2 paper id first when there is one."""
    ids = _dict(paper, "externalIds")
    keys = []
    paper_id = _text(paper, "paperId")
    if paper_id:
        keys.append(f"s2:{paper_id}")
    doi = ids.get("DOI")
    if isinstance(doi, str) and doi:
        keys.append(f"doi:{doi.lower()}")
    arxiv = ids.get("ArXiv")
    if isinstance(arxiv, str) and arxiv:
        keys.append(f"arxiv:{arxiv}")
    corpus = _int(paper, "corpusId") or _int(ids, "CorpusId")
    if corpus is not None:
        keys.append(f"s2corpus:{corpus}")
    return keys


def _key_value(keys: list[str], scheme: str) -> str | None:
    return next((k.split(":", 1)[1] for k in keys if k.startswith(scheme + ":")), None)


def _authorships(paper: dict) -> list[Authorship]:
    out = []
    for position, a in enumerate(_list(paper, "authors"), start=1):
        if not isinstance(a, dict):
            raise Unreadable("an author is not an object")
        author_id, name = _text(a, "authorId"), _text(a, "name")
        if not author_id and not name:
            raise Unreadable(f"author {position} has neither id nor name")
        key = f"s2author:{author_id}" if author_id else author_name_key(name)
        out.append(Authorship(author_key=key, position=position, raw_name=name or key))
    return out


def _code_urls(paper: dict) -> list[str]:
    urls = [_text(_dict(paper, "openAccessPdf"), "url"), _text(paper, "url")]
    return [u for u in dict.fromkeys(urls) if u and classify_host(u) not in NOT_CODE_BY_ITSELF]


def _paper_work(paper: dict, as_of: str | None) -> Work:
    keys = paper_keys(paper)
    if not keys:
        raise Unreadable(_NO_ID)
    date = _date(paper.get("publicationDate"))
    fields, s2_fields = _list(paper, "fieldsOfStudy"), _list(paper, "s2FieldsOfStudy")
    venue = (_text(paper, "venue") or _text(_dict(paper, "publicationVenue"), "name")
             or _text(_dict(paper, "journal"), "name"))
    return Work(
        keys=keys,
        title=_text(paper, "title"),
        provenance=Provenance(SOURCE, _text(paper, "paperId") or keys[0], "reported", as_of=as_of),
        abstract=_text(paper, "abstract"),
        publication_date=date,
        year=_int(paper, "year") or (date.year if date else None),
        category=category_from_s2(fields, s2_fields),
        field=s2_main_field(fields, s2_fields),
        venue=venue,
        doi=_key_value(keys, "doi"),
        arxiv_id=_key_value(keys, "arxiv"),
        authorships=_authorships(paper),
        cited_by_count=_int(paper, "citationCount"),
        code_urls=_code_urls(paper),
    )


def _linked_paper(other, where: str, as_of: str | None, focal: str, other_is: str) -> list[Record]:
    """The paper at the other end of an edge of ``focal`` (``other_is`` "citing" or "cited"), and the edge.

    A citing paper is always kept as a work; a reference only when it has a title, since a bare id adds
    nothing the edge does not already say."""
    if not isinstance(other, dict):
        return [Quarantined(where, "linked paper is not an object", _raw(other))]
    try:
        work = _paper_work(other, as_of)
    except (Unreadable, KeyError, TypeError, ValueError, AttributeError) as exc:
        if str(exc) == _NO_ID:
            reason = f"{'citing paper' if other_is == 'citing' else 'reference'} without any id (S2 could not resolve it)"
        else:
            reason = f"unreadable Semantic Scholar paper: {exc}"
        return [Quarantined(where, reason, _raw(other))]
    if other_is == "citing":
        return [work, Citation(citing_key=work.keys[0], cited_key=focal, source=SOURCE)]
    edge = Citation(citing_key=focal, cited_key=work.keys[0], source=SOURCE)
    return [work, edge] if work.title else [edge]


def _paper_records(paper: dict, origin: str, as_of: str | None) -> list[Record]:
    work = _paper_work(paper, as_of)
    focal = work.keys[0]
    out: list[Record] = [work]
    for i, citing in enumerate(_list(paper, "citations")):
        out += _linked_paper(citing, f"{origin}#citations[{i}]", as_of, focal, "citing")
    for i, cited in enumerate(_list(paper, "references")):
        linked = _linked_paper(cited, f"{origin}#references[{i}]", as_of, focal, "cited")
        work.references += [r.cited_key for r in linked if isinstance(r, Citation)]
        out += linked
    return out


# --- authors -------------------------------------------------------------------------------------------

def _author_records(author: dict, origin: str, as_of: str | None) -> list[Record]:
    author_id, name = _text(author, "authorId"), _text(author, "name")
    if not author_id:
        raise Unreadable("author without authorId")
    key = f"s2author:{author_id}"
    prov = Provenance(SOURCE, author_id, "reported", as_of=as_of)
    out: list[Record] = []
    works: list[Work] = []
    for i, paper in enumerate(_list(author, "papers")):
        where = f"{origin}#papers[{i}]"
        try:
            works.append(_paper_work(paper, as_of))
        except (Unreadable, KeyError, TypeError, ValueError, AttributeError) as exc:
            out.append(Quarantined(where, f"unreadable Semantic Scholar paper: {exc}", _raw(paper)))
    inst_keys = []
    for aff in _list(author, "affiliations"):
        if isinstance(aff, str) and aff.strip():
            inst = Institution(key="name:" + " ".join(aff.lower().split()), name=aff.strip())
            inst_keys.append(inst.key)
            out.append(inst)
    orcid = _dict(author, "externalIds").get("ORCID")
    out.append(Author(
        key=key,
        name=name or key,
        provenance=prov,
        orcid=orcid if isinstance(orcid, str) else None,
        institution_keys=inst_keys,
        work_keys=[w.keys[0] for w in works],
    ))
    out += works
    figures = {"h_index": _int(author, "hIndex"), "citations": _int(author, "citationCount"),
               "works_count": _int(author, "paperCount")}
    out += [ReportedFigure("author", key, m, float(v), prov) for m, v in figures.items() if v is not None]
    return out


# --- entry point ---------------------------------------------------------------------------------------

def of_paper_key(ref: str) -> str:
    """The key of the paper an edge list belongs to, from how the request named it."""
    ref = ref.strip()
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        return f"s2:{ref}"
    scheme, sep, value = ref.partition(":")
    mapped = {"corpusid": "s2corpus", "doi": "doi", "arxiv": "arxiv"}.get(scheme.lower())
    if sep and mapped:
        return f"{mapped}:{value}"
    if sep and scheme in ("s2", "s2corpus", "openalex"):
        return ref
    if ref.startswith("10."):
        return f"doi:{ref}"
    raise ValueError(f"cannot tell which paper {ref!r} names")


def _edge_records(edge: dict, origin: str, as_of: str | None, of_paper: str | None, kind: str) -> list[Record]:
    side = "citingPaper" if kind == "citation" else "citedPaper"
    if of_paper is None:
        # The paper we would link to is in the request URL only: keep the paper, set the edge aside.
        other = edge.get(side)
        records: list[Record] = []
        if isinstance(other, dict) and paper_keys(other):
            records.append(_paper_work(other, as_of))
        records.append(Quarantined(origin, f"{kind} edge without the other paper's id (pass of_paper)", _raw(edge)))
        return records
    other_is = "citing" if kind == "citation" else "cited"
    return _linked_paper(edge.get(side), origin, as_of, of_paper_key(of_paper), other_is)


def _one(obj, origin: str, as_of: str | None, of_paper: str | None) -> list[Record]:
    """All records of one item, or one Quarantined record: never part of an item."""
    kind = _item_kind(obj)
    try:
        if kind == "paper":
            return _paper_records(obj, origin, as_of)
        if kind == "author":
            return _author_records(obj, origin, as_of)
        if kind in ("citation", "reference"):
            return _edge_records(obj, origin, as_of, of_paper, kind)
        if kind == "snippet":
            return []  # recognised, not used
    except (Unreadable, KeyError, TypeError, ValueError, AttributeError) as exc:
        return [Quarantined(origin, f"unreadable Semantic Scholar {kind}: {exc}", _raw(obj))]
    return [Quarantined(origin, "not a Semantic Scholar paper, author or edge", _raw(obj))]


def records_from_semanticscholar(obj, origin: str, as_of: str | None = None, *,
                                 of_paper: str | None = None) -> Iterator[Record]:
    """Records from one Graph API answer; ``as_of`` dates its figures, ``of_paper`` names the paper an
    edge list (citations or references) belongs to."""
    if of_paper is not None:
        of_paper_key(of_paper)  # a bad name is the caller's mistake: say so now, not once per edge
    kind = semanticscholar_kind(obj)
    if kind in ("list", "recommendations", "batch"):
        if kind == "batch":
            items, label = obj, ""
        else:
            label = "data" if kind == "list" else "recommendedPapers"
            items = obj.get(label) or []
        for i, item in enumerate(items):
            if item is not None:  # a batch answers null for an id it does not know
                yield from _one(item, f"{origin}#{label}[{i}]", as_of, of_paper)
        return
    if kind in ("paper", "author", "citation", "reference"):
        yield from _one(obj, origin, as_of, of_paper)
