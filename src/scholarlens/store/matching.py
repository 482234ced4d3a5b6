"""Matching a work across sources when no identifier links it: normalised title + year + first author.

Identifiers (DOI, arXiv id, source ids) link most records. A profile page card, an arXiv listing and an OpenAlex
record of the same paper may share none of them, so each work also carries a *match key* built from its title,
its year and its first author's surname. Two works with the same match key are one work unless their
identifiers say otherwise: different DOIs (a statement printed in several journals) or different arXiv ids are
different works, whatever their titles. arXiv's DataCite DOIs (10.48550/arXiv.*) count as arXiv ids, so a
preprint meets its proceedings version. Two DOIs for one paper (publisher aliases) therefore stay two works:
we would rather show a duplicate than join two papers.

Deliberately conservative: a year that was inferred rather than stated, a title too short or too generic to
identify a paper ("Editorial", "Reply to ..."), or a missing first author gives no match key.
"""

from __future__ import annotations

import re
import unicodedata

from ..records import Work

MATCH_SCHEME = "match"
# Keys that name one publication: two works holding different values of the same scheme are never merged.
EXCLUSIVE_SCHEMES = ("doi", "arxiv")
MIN_TITLE_CHARS = 16
GENERIC_TITLE = re.compile(
    r"^(editorial|editor s note|letter to the editor|reply|response to|comment on|book reviews?|erratum|errata|"
    r"corrigendum|correction|retraction|in memoriam|obituary|preface|foreword|introduction|index|"
    r"table of contents|front matter|back matter|contributors|acknowledg(e)?ments?)\b"
)


def normalise_title(title: str) -> str:
    """Case, accents, punctuation and spacing removed; letters of every script kept."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.findall(r"\w+", text)).replace("_", " ").strip()


def surname(name: str) -> str:
    """The family name as most sources print it: before a comma ("Lu, Lewei"), else the last word."""
    name = name.strip()
    if "," in name:
        name = name.split(",", 1)[0]
    else:
        parts = name.split()
        name = parts[-1] if parts else ""
    return normalise_title(name)


def first_author(work: Work) -> str | None:
    positioned = [a for a in work.authorships if a.position is not None]
    if positioned:
        return min(positioned, key=lambda a: a.position).raw_name
    return None


def match_key(work: Work) -> str | None:
    if not work.title or work.year_inferred:
        return None
    year = work.year if work.year is not None else (work.publication_date.year if work.publication_date else None)
    author = first_author(work)
    title = normalise_title(work.title)
    if year is None or not author or len(title.replace(" ", "")) < MIN_TITLE_CHARS or GENERIC_TITLE.match(title):
        return None
    family = surname(author)
    if not family:
        return None
    return f"{MATCH_SCHEME}:{title}|{year}|{family}"


ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$")


def exclusive_ids(keys) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for key in keys:
        scheme, _, value = key.partition(":")
        # arXiv's own DOI names the preprint, not a publication: a preprint and its journal version are one work
        if scheme == "doi" and (m := ARXIV_DOI.match(value)):
            scheme, value = "arxiv", m.group(1)
        if scheme in EXCLUSIVE_SCHEMES:
            found.setdefault(scheme, set()).add(value)
    return found


def conflicting(a: dict[str, set[str]], b: dict[str, set[str]]) -> bool:
    """True when two works hold different identifiers of a scheme that names one publication."""
    return any(a.get(s) and b.get(s) and not (a[s] & b[s]) for s in EXCLUSIVE_SCHEMES)
