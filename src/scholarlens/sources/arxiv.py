"""arXiv: answers of the export API (Atom 1.0 feeds, ``export.arxiv.org/api/query``) into records.

Parsed with lxml (a parser that resolves no entities and reaches no network), because the fields that matter
live in arXiv's own namespace (``arxiv:primary_category``, ``arxiv:comment``, ``arxiv:journal_ref``,
``arxiv:doi``, ``arxiv:affiliation`` inside an author) and lxml reads namespaces exactly, where feedparser
renames and flattens them. lxml is imported when a feed is first parsed, so recognising a file as a feed (and
everything else the reader does) needs no lxml.

Choices worth knowing:
- Work keys: "arxiv:<id>" (without the version, so every version is one work) and "doi:<doi>" when arXiv
  names the published version's DOI. The version read ("2206.06921v3") is the provenance's ``source_id``,
  so the store keeps which version its text came from.
- ``publication_date`` is the first version's date (``<published>``); ``as_of`` is the day the feed was
  produced (the feed's ``<updated>``), else the entry's own ``<updated>``.
- Category: ``arxiv:primary_category`` through ``categories.category_from_arxiv`` (cs.CV -> CV, math.CA -> MATH).
  No ``field`` and no ``venue``: the category is the cross-source vocabulary, and a journal-ref is a
  citation ("Indiana Univ. Math. J. 73 (2024), 1331-1356"), not a venue name.
- Code links: authors put them in the comments ("Code is available at https://github.com/..."), sometimes in
  the journal-ref. Both go through the code-link finder (``analytics.codelinks.find_code_links``, the same
  rules as for abstracts) and what it finds travels as ``Work.code_urls``, i.e. links the source gives. The
  comment is not glued onto the abstract, which stays the authors' abstract for embeddings and novelty.
- Authors: arXiv has no author ids, so an author is keyed by name (``author_name_key``) like a profile page's;
  each ``arxiv:affiliation`` becomes a name-keyed Institution and the raw affiliation text of the authorship.
- For an id it does not have, arXiv answers an empty ``<entry>`` (no id, an empty primary category): it is
  counted as recognised-but-unused; the fetcher, which knows which ids it asked for, quarantines the missing
  ids by name. An API error (an entry whose id is ``.../api/errors#...``) and an entry that cannot be read are
  quarantined with their reason; the rest of the feed still goes through.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Iterator, Protocol

from ..analytics.codelinks import find_code_links
from ..categories import category_from_arxiv
from ..records import Authorship, Institution, Provenance, Quarantined, Record, Work, author_name_key
from .fields import RAW_LIMIT

SOURCE = "arxiv"

ATOM = "http://www.w3.org/2005/Atom"
ARXIV = "http://arxiv.org/schemas/atom"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
_NS = {"a": ATOM, "arxiv": ARXIV, "os": OPENSEARCH}

# "http://arxiv.org/abs/2206.06921v3", "http://arxiv.org/abs/astro-ph/9904306v1"
_ABS_URL = re.compile(
    r"arxiv\.org/abs/(?P<id>\d{4}\.\d{4,5}|[a-z][a-z.-]*(?:\.[A-Z]{2})?/\d{7})(?:v(?P<version>\d+))?/?$", re.I
)
_ERROR_ID = re.compile(r"arxiv\.org/api/errors", re.I)


class FeedError(ValueError):
    """An answer that cannot be read as a feed: malformed XML, or XML that is not an Atom feed."""


class NotAtom(FeedError):
    """Well-formed XML that is not an Atom feed."""


class _Report(Protocol):  # reader.FileReport, without importing the reader (it imports this module)
    objects: int
    skipped: int


def _parser():
    from lxml import etree

    # No entity expansion, no DTD loading, no network: a feed is data, never instructions to the parser.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def looks_like_arxiv_atom(data: bytes | str) -> bool:
    """True for an Atom feed from arXiv's export API, judged by its first few kilobytes."""
    head = data[:4096]
    if isinstance(head, bytes):
        head = head.decode("utf-8", errors="replace")
    head = head.lstrip("\ufeff \t\r\n")
    return head.startswith("<") and "<feed" in head and ATOM in head and "arxiv.org" in head.lower()


@dataclass
class FeedInfo:
    """What the feed says about itself (opensearch), and the ids of the entries it holds."""

    total: int | None
    start: int | None
    per_page: int | None
    updated: str | None
    entry_ids: list[str]  # versionless arXiv ids, in feed order; "" for an empty entry
    errors: list[str]  # messages of API error entries


def _text(el, path: str) -> str | None:
    found = el.find(path, _NS)
    if found is None or found.text is None:
        return None
    text = " ".join(found.text.split())
    return text or None


def _int(el, path: str) -> int | None:
    text = _text(el, path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def parse_feed(data: bytes | str):
    """The feed's root element (lxml). Raises ``FeedError`` for malformed XML or XML that is not Atom."""
    from lxml import etree

    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"malformed XML: {exc}") from None
    if root is None:
        raise FeedError("malformed XML: no root element")
    if root.tag != f"{{{ATOM}}}feed":
        raise NotAtom(f"not an Atom feed (root element {root.tag})")
    return root


def arxiv_id_of(url: str | None) -> tuple[str, int | None] | None:
    """("2206.06921", 3) from "http://arxiv.org/abs/2206.06921v3"; None when it is not an abs URL."""
    if not url:
        return None
    m = _ABS_URL.search(url.strip())
    if not m:
        return None
    return m.group("id"), int(m.group("version")) if m.group("version") else None


def feed_info(data: bytes | str) -> FeedInfo:
    root = parse_feed(data)
    ids, errors = [], []
    for entry in root.findall("a:entry", _NS):
        entry_url = _text(entry, "a:id")
        if entry_url and _ERROR_ID.search(entry_url):
            errors.append(_text(entry, "a:summary") or entry_url)
            continue
        parsed = arxiv_id_of(entry_url)
        ids.append(parsed[0] if parsed else "")
    return FeedInfo(
        total=_int(root, "os:totalResults"),
        start=_int(root, "os:startIndex"),
        per_page=_int(root, "os:itemsPerPage"),
        updated=_text(root, "a:updated"),
        entry_ids=ids,
        errors=errors,
    )


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"not a date: {text!r}") from None


def _institution(affiliation: str) -> Institution:
    name = " ".join(affiliation.split())
    return Institution(key="name:" + name.lower(), name=name)


def _entry_records(entry, feed_updated: str | None) -> list[Record]:
    entry_url = _text(entry, "a:id")
    parsed = arxiv_id_of(entry_url)
    if parsed is None:
        raise ValueError(f"entry id is not an arXiv abs URL: {entry_url!r}")
    arxiv_id, version = parsed
    title = _text(entry, "a:title")
    if not title:
        raise ValueError(f"arXiv entry {arxiv_id} has no title")
    published = _date(_text(entry, "a:published"))
    doi = _text(entry, "arxiv:doi")
    doi = doi.lower() if doi and doi.startswith("10.") else None
    primary = entry.find("arxiv:primary_category", _NS)
    primary_term = (primary.get("term") or "").strip() if primary is not None else ""
    comment = _text(entry, "arxiv:comment")
    journal_ref = _text(entry, "arxiv:journal_ref")

    out: list[Record] = []
    authorships: list[Authorship] = []
    institutions: dict[str, Institution] = {}
    for position, author in enumerate(entry.findall("a:author", _NS), start=1):
        name = _text(author, "a:name")
        if not name:
            raise ValueError(f"author {position} of arXiv entry {arxiv_id} has no name")
        affiliations = [" ".join(a.text.split()) for a in author.findall("arxiv:affiliation", _NS) if a.text and a.text.strip()]
        keys = []
        for aff in affiliations:
            inst = _institution(aff)
            institutions.setdefault(inst.key, inst)
            keys.append(inst.key)
        authorships.append(Authorship(
            author_key=author_name_key(name),
            position=position,
            raw_name=name,
            institution_keys=keys,
            raw_affiliation="; ".join(affiliations) or None,
        ))
    code_urls = list(dict.fromkeys(find_code_links(comment) + find_code_links(journal_ref)))
    source_id = f"{arxiv_id}v{version}" if version else arxiv_id
    as_of = (feed_updated or _text(entry, "a:updated") or "")[:10] or None
    out += list(institutions.values())
    out.append(Work(
        keys=[f"arxiv:{arxiv_id}"] + ([f"doi:{doi}"] if doi else []),
        title=title,
        provenance=Provenance(SOURCE, source_id, "reported", as_of=as_of),
        abstract=_text(entry, "a:summary"),
        publication_date=published,
        year=published.year if published else None,
        category=category_from_arxiv(primary_term or None),
        doi=doi,
        arxiv_id=arxiv_id,
        authorships=authorships,
        code_urls=code_urls,
    ))
    return out


def _xml(element) -> str:
    from lxml import etree

    return etree.tostring(element, encoding="unicode")[:RAW_LIMIT]


def records_from_atom(data: bytes | str, origin: str, report: _Report | None = None) -> Iterator[Record]:
    """Records from one arXiv API answer; whatever cannot be read becomes a Quarantined record."""
    try:
        root = parse_feed(data)
    except FeedError as exc:
        raw = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
        yield Quarantined(origin, str(exc), raw.strip()[:RAW_LIMIT])
        return
    feed_updated = _text(root, "a:updated")
    for i, entry in enumerate(root.findall("a:entry", _NS)):
        where = f"{origin}#entry[{i}]"
        if report is not None:
            report.objects += 1
        entry_url = _text(entry, "a:id")
        if entry_url is None and _text(entry, "a:title") is None:
            if report is not None:
                report.skipped += 1  # arXiv's empty answer for an id it does not have
            continue
        if entry_url and _ERROR_ID.search(entry_url):
            message = _text(entry, "a:summary") or "no message"
            yield Quarantined(where, f"arXiv API error: {message}", _xml(entry))
            continue
        try:
            records = _entry_records(entry, feed_updated)
        except (ValueError, TypeError, AttributeError) as exc:
            yield Quarantined(where, f"unreadable arXiv entry: {exc}", _xml(entry))
            continue
        yield from records
