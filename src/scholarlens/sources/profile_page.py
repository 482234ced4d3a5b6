"""Profile pages: the text capture of a researcher-profile web page, and the records it turns into.

A page is the researcher's name, a header of figures the site reports (field, h-index, papers, citations,
Novelty %, AI Score), an "N Papers" heading, then one card per paper::

    58.7CVMay 27Code                 <- [score]CATEGORY DATE[Code], glued together
    From Pixels to Words -- ...      <- title (always the line right after the card header)

    Haiwen Diao, Jiahao Wang et al. · pku     <- authors, optional " · affiliation-tag"

    Abstract, one line.

Cards may be cut (no abstract, even no authors); what is there is kept. A block that cannot be read as a
card (a mangled card header, stray text) becomes a ``Quarantined`` record instead of being dropped or,
worse, glued onto the previous card's abstract.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterator

from ..analytics.codelinks import find_code_links
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

SOURCE = "profile-page"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "|".join(_MONTHS)

# The whole line must match: a title such as "ADDP: ..." or "3D Data ..." never does. The category is the
# capitals before the month's capital, which the month's lowercase letters make unambiguous ("AIApr").
_CARD_HEADER = re.compile(
    r"(?P<score>\d{1,3}\.\d)?\s*(?P<category>[A-Z]{2,4})\s*"
    rf"(?P<date>(?P<month>{_MONTH}) (?P<day>\d{{1,2}})(?:, (?P<year>\d{{4}}))?)"
    r"\s*(?P<code>Code)?"
)
# Something that tried to be a card header (score/capitals then a month) but is not one: the start of a
# mangled card, never an abstract.
_BROKEN_HEADER = re.compile(rf"[\d.]*\s*[A-Z]{{1,6}}\s*({_MONTH})\b.{{0,30}}")

_COUNT = r"(\d[\d,]*(?:\.\d+)?[kKmM]?)"
_NUMBER = r"(\d+(?:\.\d+)?)"
_HEADER_FIGURES = {
    "h_index": re.compile(rf"h-index\s*{_COUNT}", re.I),
    "works_count": re.compile(rf"{_COUNT}\s*papers", re.I),
    "citations": re.compile(rf"{_COUNT}\s*citations", re.I),
    "novelty": re.compile(rf"Novelty\s*{_NUMBER}\s*%", re.I),
    "ai_score": re.compile(rf"AI Score\s*{_NUMBER}", re.I),
}
# "79 Papers" opens the card list (the header's own figure is glued: "79papers").
_LIST_HEADING = re.compile(rf"{_COUNT} Papers")

_AFFILIATION = re.compile(r"\s+·\s+(?P<tag>[^·]+?)$")
_ET_AL = re.compile(r",?\s*\bet al\.?$")
# Lowercase words that still belong in a name ("Ludwig van Beethoven", "Maria de la Cruz").
_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "dos", "la", "le", "bin", "ibn", "al", "el", "y"}


class ProfilePageError(ValueError):
    """The text is not a profile page we can read (its header is missing or unreadable)."""


@dataclass
class ProfileHeader:
    name: str
    field: str | None = None
    h_index: int | None = None
    works_count: int | None = None
    citations: int | None = None
    novelty: float | None = None  # percent, as printed
    ai_score: float | None = None


@dataclass
class ProfileCard:
    index: int  # 1-based position on the page, counting unreadable blocks too
    ai_score: float | None
    category: str
    date: dt.date | None
    date_text: str  # as printed: "Nov 10, 2022" or "May 27"
    year_given: bool
    code_badge: bool
    title: str
    authors: list[str] = field(default_factory=list)
    authors_truncated: bool = False
    affiliation: str | None = None
    abstract: str | None = None
    code_links: list[str] = field(default_factory=list)


@dataclass
class ProfilePage:
    header: ProfileHeader
    cards: list[ProfileCard]
    page_year: int | None
    origin: str
    unreadable: list[Quarantined] = field(default_factory=list)  # blocks that could not be read as cards


# --- reading the text ----------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    return [line.strip() for line in text.split("\n")]


def _count(raw: str) -> float:
    raw = raw.replace(",", "")
    scale = {"k": 1e3, "m": 1e6}.get(raw[-1].lower(), 1)
    return float(raw.rstrip("kKmM")) * scale


def _header_figure(line: str) -> tuple[str, float] | None:
    for metric, pattern in _HEADER_FIGURES.items():
        m = pattern.fullmatch(line)
        if m:
            return metric, _count(m.group(1))
    return None


def looks_like_profile_page(text: str) -> bool:
    """Cheap sniff: header figures ("h-index67", "79papers", ...) and/or card headers near the top."""
    head = text[:8192].lstrip("\ufeff \t\r\n")
    if not head or head[0] in "{[":  # JSON / JSONL
        return False
    lines = [line for line in _lines(head) if line][:200]
    figures = sum(1 for line in lines[:20] if _header_figure(line))
    has_card = any(_CARD_HEADER.fullmatch(line) for line in lines)
    return figures >= 2 or (figures >= 1 and has_card)


def _parse_header(lines: list[str], origin: str) -> tuple[ProfileHeader, int]:
    """The header and the index of the first line after it."""
    start = next((i for i, line in enumerate(lines) if line), None)
    if start is None:
        raise ProfilePageError(f"{origin}: empty text, not a profile page")
    name = lines[start]
    if name[0] in "{[" or _CARD_HEADER.fullmatch(name) or _header_figure(name):
        raise ProfilePageError(f"{origin}: the first line should be the researcher's name, found {name[:60]!r}")
    header = ProfileHeader(name=name)
    figures: dict[str, float] = {}
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if _CARD_HEADER.fullmatch(line):
            break
        i += 1
        if not line:
            continue
        if _LIST_HEADING.fullmatch(line):
            figures.setdefault("list_heading", _count(_LIST_HEADING.fullmatch(line).group(1)))
            break
        figure = _header_figure(line)
        if figure:
            figures.setdefault(*figure)
        elif header.field is None and not figures and len(line) <= 60:
            header.field = line  # the field label sits between the name and the first figure
    if not any(k in figures for k in _HEADER_FIGURES):
        raise ProfilePageError(
            f"{origin}: no profile header after the name {name[:60]!r} "
            "(expected lines like 'h-index67', '79papers', '22,636citations')"
        )
    header.h_index = int(figures["h_index"]) if "h_index" in figures else None
    # The "79 Papers" heading says the same as "79papers"; use it when the header lacks the figure.
    works = figures.get("works_count", figures.get("list_heading"))
    header.works_count = int(works) if works is not None else None
    header.citations = int(figures["citations"]) if "citations" in figures else None
    header.novelty = figures.get("novelty")
    header.ai_score = figures.get("ai_score")
    return header, i


def _paragraphs(lines: list[str]) -> list[list[str]]:
    """Blank-line separated blocks. A card header starts a block that holds it and its title only, and the
    line right after a header is its title whatever it looks like."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if not line:
            if current:
                blocks.append(current)
            current = []
            continue
        awaiting_title = len(current) == 1 and _CARD_HEADER.fullmatch(current[0])
        header_done = len(current) == 2 and _CARD_HEADER.fullmatch(current[0])
        if current and not awaiting_title and (header_done or _CARD_HEADER.fullmatch(line)):
            blocks.append(current)
            current = []
        current.append(line)
    if current:
        blocks.append(current)
    return blocks


def _is_name(part: str) -> bool:
    words = part.split()
    if not 1 <= len(words) <= 6 or any(ch.isdigit() for ch in part):
        return False
    if part.endswith(".") and len(words[-1]) > 2:  # "J." is an initial; "public." ends a sentence
        return False
    return all(w[0].isupper() or w.lower() in _PARTICLES for w in words)


def _split_authors(line: str) -> tuple[list[str], bool, str | None] | None:
    """(names, truncated, affiliation tag) if the line reads as an authors line, else None."""
    affiliation = None
    m = _AFFILIATION.search(line)
    if m:
        affiliation = m.group("tag").strip()
        line = line[: m.start()]
    truncated = bool(_ET_AL.search(line))
    line = _ET_AL.sub("", line).strip()
    names = [n.strip() for n in re.split(r",|\s+and\s+|\s*&\s*", line) if n.strip()]
    if not names or not all(_is_name(n) for n in names):
        return None
    return names, truncated, affiliation


def _card_date(m: re.Match, page_year: int | None) -> dt.date | None:
    year = int(m.group("year")) if m.group("year") else page_year
    if year is None:
        return None
    try:
        return dt.date(year, _MONTHS.index(m.group("month")) + 1, int(m.group("day")))
    except ValueError:  # "Feb 30": keep the card, lose the date
        return None


def _infer_page_year(blocks: list[list[str]]) -> int | None:
    # Sites print the year only for dates outside the current year, so the page's year is later than every
    # explicitly dated card; the year after the newest one is the earliest year consistent with the page.
    years = [int(m.group("year")) for b in blocks if (m := _CARD_HEADER.fullmatch(b[0])) and m.group("year")]
    return max(years) + 1 if years else None


def parse_profile_page(text: str, origin: str, page_year: int | None = None) -> ProfilePage:
    """Read a profile page. Dates without a year get ``page_year``, or the inferred year (see above)."""
    lines = _lines(text)
    header, body_start = _parse_header(lines, origin)
    blocks = _paragraphs(lines[body_start:])
    if page_year is None:
        page_year = _infer_page_year(blocks)

    cards: list[ProfileCard] = []
    unreadable: list[Quarantined] = []
    index = 0
    i = 0
    while i < len(blocks):
        index += 1
        block = blocks[i]
        i += 1
        m = _CARD_HEADER.fullmatch(block[0])
        if m is None or len(block) < 2:
            # Not a card start: gather everything up to the next card header and set it aside.
            stray = [block]
            while i < len(blocks) and not _CARD_HEADER.fullmatch(blocks[i][0]):
                stray.append(blocks[i])
                i += 1
            if m:
                reason = "card header without a title line"
            else:
                reason = f"no card header (expected e.g. 'CVNov 10, 2022Code'), found {block[0][:60]!r}"
            raw = "\n\n".join("\n".join(b) for b in stray)
            unreadable.append(Quarantined(f"{origin}#card {index}", reason, raw[:4000]))
            continue

        card = ProfileCard(
            index=index,
            ai_score=float(m.group("score")) if m.group("score") else None,
            category=m.group("category"),
            date=_card_date(m, page_year),
            date_text=m.group("date"),
            year_given=m.group("year") is not None,
            code_badge=m.group("code") is not None,
            title=block[1],
        )
        # Authors first, then the abstract; either may be missing. A block that looks like a broken card
        # header ends the card so it cannot pass for an abstract.
        if i < len(blocks) and len(blocks[i]) == 1 and not _BROKEN_HEADER.fullmatch(blocks[i][0]):
            authors = _split_authors(blocks[i][0])
            if authors:
                card.authors, card.authors_truncated, card.affiliation = authors
                i += 1
        if i < len(blocks) and not _CARD_HEADER.fullmatch(blocks[i][0]) and not _BROKEN_HEADER.fullmatch(blocks[i][0]):
            card.abstract = " ".join(blocks[i])
            i += 1
        card.code_links = find_code_links(card.abstract)
        cards.append(card)
    return ProfilePage(header=header, cards=cards, page_year=page_year, origin=origin, unreadable=unreadable)


# --- records ---------------------------------------------------------------------------------------------


def title_slug(title: str) -> str:
    """Stable slug of a normalised title, so the same card gives the same key on every ingest."""
    folded = unicodedata.normalize("NFKD", title)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")


def card_key(card: ProfileCard) -> str:
    return "page:" + title_slug(card.title)


def records_from_profile_page(page: ProfilePage) -> Iterator[Record]:
    """Works (with their code links and scores), then the owner and the figures the page reports.

    The owner comes after the works so a writer that batches records can already resolve its work keys.
    """
    header = page.header
    owner_key = author_name_key(header.name)
    prov = Provenance(SOURCE, page.origin, "reported", as_of=str(page.page_year) if page.page_year else None)
    seen_institutions: set[str] = set()
    work_keys: list[str] = []

    for card in page.cards:
        key = card_key(card)
        work_keys.append(key)
        authorships = [
            Authorship(author_key=author_name_key(name), position=pos, raw_name=name)
            for pos, name in enumerate(card.authors, start=1)
        ]
        if card.affiliation:
            inst_key = "name:" + card.affiliation
            if inst_key not in seen_institutions:
                seen_institutions.add(inst_key)
                yield Institution(key=inst_key, name=card.affiliation)
            # The tag is the page owner's affiliation on that paper, whether or not the owner is listed.
            owner = next((a for a in authorships if a.author_key == owner_key), None)
            if owner is None:
                owner = Authorship(author_key=owner_key, position=None, raw_name=header.name)
                authorships.append(owner)
            owner.institution_keys.append(inst_key)
            owner.raw_affiliation = card.affiliation
        yield Work(
            keys=[key],
            title=card.title,
            provenance=prov,
            abstract=card.abstract,
            publication_date=card.date,
            year=card.date.year if card.date else None,
            year_inferred=card.date is not None and not card.year_given,
            category=card.category,
            authorships=authorships,
            authors_truncated=card.authors_truncated,
            code_badge=card.code_badge,
            reported_ai_score=card.ai_score,
        )
        if card.ai_score is not None:
            yield ReportedFigure("work", key, "ai_score", card.ai_score, prov)

    yield Author(key=owner_key, name=header.name, provenance=prov, field=header.field, work_keys=work_keys)
    for metric in ("h_index", "works_count", "citations", "novelty", "ai_score"):
        value = getattr(header, metric)
        if value is not None:
            yield ReportedFigure("author", owner_key, metric, float(value), prov)
    yield from page.unreadable


def cards_with_badge_but_no_link(page: ProfilePage) -> list[ProfileCard]:
    """Cards showing a Code badge whose abstract gives no code link (the link lives elsewhere, or nowhere)."""
    return [c for c in page.cards if c.code_badge and not c.code_links]


def cards_with_link_but_no_badge(page: ProfilePage) -> list[ProfileCard]:
    """Cards whose abstract links to code although the page shows no Code badge."""
    return [c for c in page.cards if c.code_links and not c.code_badge]
