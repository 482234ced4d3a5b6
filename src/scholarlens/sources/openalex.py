"""OpenAlex: API responses and snapshot lines (one parsed JSON object at a time) into records.

Reads works, authors and institutions, alone or in a list page (``{"meta": ..., "results": [...]}``). Every
other OpenAlex entity (sources, concepts, topics, funders, publishers, autocomplete answers) is recognised by
``openalex_kind`` but yields nothing, so the caller can report it as "recognised, not used".

Choices worth knowing:
- Work keys: "openalex:W...", "doi:..." and "arxiv:..." when a location points at arxiv.org (abs or pdf) or
  the DOI is arXiv's own (10.48550/arXiv.*). We trust OpenAlex's grouping of locations: where it files a
  different arXiv paper under a work, the store will merge the two.
- ``as_of`` is the entity's ``updated_date`` (``updated`` in older snapshots).
- An author's ``counts_by_year`` becomes ReportedFigures "citations_<year>" (citations received that year,
  as OpenAlex counts them), so a profile can chart the source's own yearly figures beside ours.
- A work's ``fwci`` and ``citation_normalized_percentile.value`` (0..1) travel as reported work figures.
- Code links are location URLs (landing page or PDF) on a code host (GitHub, GitLab, Hugging Face, ...).
  Zenodo and OSF hold papers as often as code, so their locations count only for software or dataset
  deposits, or a GitHub release archived on Zenodo ("greenhouselab/Veta: VETA_v1.0-alpha").
- A work without a title (OpenAlex has some) is kept with title None, like a partial record.
- A list result that cannot be read becomes one Quarantined record and the rest of the page still goes through;
  a single object that cannot be read becomes one Quarantined record too. Nothing is half-yielded.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterable, Iterator

from ..analytics.codelinks import NOT_CODE_BY_ITSELF, classify_host
from ..categories import category_from_openalex
from ..records import (
    Author,
    Authorship,
    Institution,
    Provenance,
    Quarantined,
    Record,
    ReportedFigure,
    Work,
    author_name_key,
)
from .fields import Unreadable, get_int
from .fields import get_dict as _dict
from .fields import get_list as _list
from .fields import get_number as _number
from .fields import get_text as _text  # not stripped: OpenAlex text is kept as sent
from .fields import raw_json as _raw

SOURCE = "openalex"

_ENTITY_URL = re.compile(r"^https?://openalex\.org/(?P<path>[^?#]+)$", re.I)
_SHORT_ID = re.compile(r"^(?:https?://openalex\.org/)?(?P<id>[WAISCTFPK]\d+)$", re.I)
_KIND_BY_LETTER = {
    "W": "work", "A": "author", "I": "institution", "S": "source", "C": "concept",
    "T": "topic", "F": "funder", "P": "publisher", "K": "keyword",
}
# Entities whose id is a path ("https://openalex.org/subfields/1707") rather than a letter and a number.
_KIND_BY_PATH = {
    "keywords": "keyword", "subfields": "subfield", "fields": "field", "domains": "domain",
    "countries": "country", "continents": "continent", "languages": "language", "licenses": "license",
    "sdgs": "sdg", "institution-types": "institution-type", "source-types": "source-type",
    "work-types": "work-type",
}

_ARXIV_ID = r"(?P<arxiv>\d{4}\.\d{4,5}|[a-z][a-z.-]*(?:\.[A-Z]{2})?/\d{7})"
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/" + _ARXIV_ID + r"(?:v\d+)?(?:\.pdf)?/?(?:[?#].*)?$", re.I)
_ARXIV_DOI = re.compile(r"10\.48550/arxiv\." + _ARXIV_ID, re.I)


# --- recognising ---------------------------------------------------------------------------------------

def _entity_kind(entity_id) -> str | None:
    if not isinstance(entity_id, str):
        return None
    m = _ENTITY_URL.match(entity_id.strip())
    if not m:
        return None
    path = m.group("path")
    short = _SHORT_ID.match(path)
    if short:
        return _KIND_BY_LETTER[short.group("id")[0].upper()]
    head = path.split("/", 1)[0].lower()
    return _KIND_BY_PATH.get(head)


def openalex_kind(obj) -> str | None:
    """What an OpenAlex object is: "work", "author", "institution", "list", "autocomplete", or another
    entity's name ("source", "concept", "topic", "funder", ...); None when it is not OpenAlex."""
    if not isinstance(obj, dict):
        return None
    kind = _entity_kind(obj.get("id"))
    if kind is not None:
        return kind
    results = obj.get("results")
    if not isinstance(results, list):
        return None
    items = [r for r in results if isinstance(r, dict)]
    if any("entity_type" in r for r in items):
        return "autocomplete"
    # db_response_time_ms is OpenAlex's own; it is what marks an empty (or damaged) page as OpenAlex.
    meta = obj.get("meta")
    if isinstance(meta, dict) and "db_response_time_ms" in meta:
        return "list"
    if any(_entity_kind(r.get("id")) for r in items):
        return "list"
    return None


def is_openalex(obj) -> bool:
    return openalex_kind(obj) is not None


# --- small readers that refuse the wrong type instead of guessing ----------------------------------------

def _int(obj: dict, key: str) -> int | None:
    # This reader has always taken a float with nothing after the point (2018.0) as a whole number.
    return get_int(obj, key, integral_float=True)


def _short_id(value, letter: str) -> str:
    """"https://openalex.org/W123" -> "W123"; anything else is unreadable."""
    m = _SHORT_ID.match(value.strip()) if isinstance(value, str) else None
    if not m or m.group("id")[0].upper() != letter:
        raise Unreadable(f"not an OpenAlex {letter} id: {value!r}"[:200])
    return m.group("id").upper()


def _date(value) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Unreadable(f"publication_date is not text: {value!r}")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        if re.fullmatch(r"\d{4}", value):  # a bare year says nothing about the day
            return None
        raise Unreadable(f"publication_date is not a date: {value!r}") from None


def _bare_doi(value: str | None) -> str | None:
    if not value:
        return None
    doi = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", value.strip(), flags=re.I)
    return doi.lower() if doi.startswith("10.") else None


def _strip_prefix(value: str | None, prefix: str) -> str | None:
    if not value:
        return None
    return value[len(prefix):] if value.lower().startswith(prefix) else value


def _as_of(obj: dict) -> str | None:
    return _text(obj, "updated_date") or _text(obj, "updated")


# --- works ---------------------------------------------------------------------------------------------

def abstract_from_inverted_index(index) -> str | None:
    """OpenAlex ships abstracts as {word: [positions]}; put each word back at its positions."""
    if index is None:
        return None
    if not isinstance(index, dict):
        raise Unreadable("abstract_inverted_index is not an object")
    placed: dict[int, str] = {}
    for word, positions in index.items():
        if not isinstance(positions, list):
            raise Unreadable("abstract_inverted_index positions are not a list")
        for pos in positions:
            if isinstance(pos, bool) or not isinstance(pos, int):
                raise Unreadable(f"abstract position is not a number: {pos!r}")
            placed[pos] = word
    return " ".join(placed[p] for p in sorted(placed)) or None


def _locations(work: dict) -> list[dict]:
    found = [work.get("primary_location"), work.get("best_oa_location"), work.get("host_venue")]
    found += _list(work, "locations") + _list(work, "alternate_host_venues")
    return [loc for loc in found if isinstance(loc, dict)]


def _location_urls(work: dict) -> list[str]:
    urls: list[str] = []
    for loc in _locations(work):
        for key in ("landing_page_url", "pdf_url", "url"):
            url = loc.get(key)
            if isinstance(url, str) and url and url not in urls:
                urls.append(url)
    return urls


# Archives hold papers as often as code: a location there is code only when the work is a software or
# dataset deposit, or is titled the way Zenodo's GitHub integration titles releases ("owner/repo: v1.0").
_GITHUB_RELEASE_TITLE = re.compile(r"^[\w.-]+/[\w.-]+: ")


def _code_urls(work: dict, title: str | None) -> list[str]:
    deposit = work.get("type") in ("software", "dataset") or bool(title and _GITHUB_RELEASE_TITLE.match(title))
    return [
        u for u in _location_urls(work)
        if classify_host(u) not in NOT_CODE_BY_ITSELF or (deposit and classify_host(u) != "project-page")
    ]


def _arxiv_id(work: dict, doi: str | None) -> str | None:
    for text in [doi or ""] + _location_urls(work):
        m = _ARXIV_URL.search(text) or _ARXIV_DOI.search(text)
        if m:
            return m.group("arxiv")
    return None


def _institution(inst: dict) -> Institution | None:
    if not isinstance(inst, dict) or not inst.get("id"):
        return None  # OpenAlex sometimes lists an affiliation it could not match; raw text keeps it
    short = _short_id(inst["id"], "I")
    return Institution(
        key=f"openalex:{short}",
        name=_text(inst, "display_name") or short,
        ror=_strip_prefix(_text(inst, "ror"), "https://ror.org/"),
        country=_text(inst, "country_code"),
    )


def _authorships(work: dict) -> tuple[list[Authorship], list[Institution]]:
    authorships: list[Authorship] = []
    institutions: dict[str, Institution] = {}
    for position, a in enumerate(_list(work, "authorships"), start=1):
        if not isinstance(a, dict):
            raise Unreadable("an authorship is not an object")
        author = _dict(a, "author")
        name = _text(a, "raw_author_name") or _text(author, "display_name")
        if not name:
            raise Unreadable(f"authorship {position} has no name")
        key = f"openalex:{_short_id(author['id'], 'A')}" if author.get("id") else author_name_key(name)
        inst_keys = []
        for inst in _list(a, "institutions"):
            record = _institution(inst)
            if record is not None:
                institutions.setdefault(record.key, record)
                inst_keys.append(record.key)
        raw_affiliations = [s for s in _list(a, "raw_affiliation_strings") if isinstance(s, str) and s]
        if not raw_affiliations and isinstance(a.get("raw_affiliation_string"), str):
            raw_affiliations = [a["raw_affiliation_string"]]  # older snapshots
        authorships.append(Authorship(
            author_key=key,
            position=position,
            raw_name=name,
            institution_keys=inst_keys,
            raw_affiliation="; ".join(raw_affiliations) or None,
        ))
    return authorships, list(institutions.values())


def _counts_by_year(entity: dict) -> dict[int, int]:
    counts: dict[int, int] = {}
    for row in _list(entity, "counts_by_year"):
        if not isinstance(row, dict):
            raise Unreadable("a counts_by_year entry is not an object")
        year, cited = _int(row, "year"), _int(row, "cited_by_count")
        if year is not None and cited is not None:
            counts[year] = cited
    return counts


def _work_records(work: dict) -> list[Record]:
    short = _short_id(work.get("id"), "W")
    # A few real works have no title (W2911964244, Breiman's "Random Forests"): keep the work, whose
    # authors and citations are sound, as a partial record another source may complete.
    title = _text(work, "display_name") or _text(work, "title")
    ids = _dict(work, "ids")
    doi = _bare_doi(_text(work, "doi") or _text(ids, "doi"))
    arxiv = _arxiv_id(work, doi)
    keys = [f"openalex:{short}"]
    keys += [f"doi:{doi}"] if doi else []
    keys += [f"arxiv:{arxiv}"] if arxiv else []

    primary_topic = work.get("primary_topic") if isinstance(work.get("primary_topic"), dict) else None
    venue_source = _dict(_dict(work, "primary_location"), "source") or _dict(work, "host_venue")
    authorships, institutions = _authorships(work)
    references = [f"openalex:{_short_id(ref, 'W')}" for ref in _list(work, "referenced_works")]
    date = _date(work.get("publication_date"))
    prov = Provenance(SOURCE, short, "reported", as_of=_as_of(work))

    out: list[Record] = list(institutions)
    out.append(Work(
        keys=keys,
        title=title,
        provenance=prov,
        abstract=abstract_from_inverted_index(work.get("abstract_inverted_index")),
        publication_date=date,
        year=_int(work, "publication_year") or (date.year if date else None),
        category=category_from_openalex(primary_topic, work.get("concepts")),
        field=_text(_dict(primary_topic or {}, "field"), "display_name"),
        venue=_text(venue_source, "display_name"),
        doi=doi,
        arxiv_id=arxiv,
        authorships=authorships,
        authors_truncated=bool(work.get("is_authors_truncated")),
        references=references,
        counts_by_year=_counts_by_year(work),
        cited_by_count=_int(work, "cited_by_count"),
        code_urls=_code_urls(work, title),
    ))
    figures = {
        "fwci": _number(work, "fwci"),
        "citation_normalized_percentile": _number(_dict(work, "citation_normalized_percentile"), "value"),
    }
    out += [ReportedFigure("work", keys[0], metric, value, prov) for metric, value in figures.items() if value is not None]
    return out


# --- authors and institutions -----------------------------------------------------------------------------

def _author_records(author: dict) -> list[Record]:
    short = _short_id(author.get("id"), "A")
    key = f"openalex:{short}"
    name = _text(author, "display_name")
    if not name:
        raise Unreadable("author has no display_name")
    # Current API: last_known_institutions (a list); older snapshots: last_known_institution (one).
    last_known = _list(author, "last_known_institutions") or [author.get("last_known_institution")]
    institutions = [i for i in (_institution(x) for x in last_known if x) if i is not None]
    affiliated = [_institution(_dict(a, "institution")) for a in _list(author, "affiliations") if isinstance(a, dict)]
    topics = _list(author, "topics")
    field = _text(_dict(topics[0], "field"), "display_name") if topics and isinstance(topics[0], dict) else None
    prov = Provenance(SOURCE, short, "reported", as_of=_as_of(author))

    out: list[Record] = []
    seen: set[str] = set()
    for inst in institutions + [i for i in affiliated if i is not None]:
        if inst.key not in seen:
            seen.add(inst.key)
            out.append(inst)
    out.append(Author(
        key=key,
        name=name,
        provenance=prov,
        orcid=_strip_prefix(_text(author, "orcid"), "https://orcid.org/"),
        field=field,
        institution_keys=[i.key for i in institutions],
    ))
    stats = _dict(author, "summary_stats")
    figures = {
        "h_index": _number(stats, "h_index"),
        "i10_index": _number(stats, "i10_index"),
        "2yr_mean_citedness": _number(stats, "2yr_mean_citedness"),
        "works_count": _number(author, "works_count"),
        "citations": _number(author, "cited_by_count"),
    }
    figures.update({f"citations_{year}": float(n) for year, n in sorted(_counts_by_year(author).items())})
    out += [ReportedFigure("author", key, metric, value, prov) for metric, value in figures.items() if value is not None]
    return out


def _institution_records(inst: dict) -> list[Record]:
    record = _institution(inst)
    if record is None or not _text(inst, "display_name"):
        raise Unreadable("institution has no id or name")
    return [record]


_READERS = {"work": _work_records, "author": _author_records, "institution": _institution_records}


# --- entry point ---------------------------------------------------------------------------------------

def _one(obj, origin: str, kind: str | None) -> Iterable[Record]:
    """All records of one entity, or one Quarantined record: never part of an entity."""
    reader = _READERS.get(kind or "")
    if reader is None:
        return []
    try:
        return reader(obj)
    except (Unreadable, KeyError, TypeError, ValueError, AttributeError) as exc:
        return [Quarantined(origin, f"unreadable OpenAlex {kind}: {exc}", _raw(obj))]


def records_from_openalex(obj, origin: str) -> Iterator[Record]:
    """Records from one OpenAlex object: a work, author or institution, or every result of a list page."""
    kind = openalex_kind(obj)
    if kind != "list":
        yield from _one(obj, origin, kind)
        return
    for i, item in enumerate(obj["results"]):
        where = f"{origin}#results[{i}]"
        item_kind = _entity_kind(item.get("id")) if isinstance(item, dict) else None
        if item_kind is None:
            yield Quarantined(where, "list result without an OpenAlex id", _raw(item))
        else:
            yield from _one(item, where, item_kind)
