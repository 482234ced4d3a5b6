"""Typed records: what every source produces and what the store keeps.

Sources turn whatever they read into these records; they never touch the store. Identifiers are
external keys of the form "scheme:value" (``doi:10.1/x``, ``arxiv:2211.05778``, ``openalex:W2741809807``,
``s2:649def34...``, ``s2corpus:1234``, ``page:<title-slug>``). The store maps every key of a work to one
internal work id, so a work seen by two sources (same DOI or arXiv id) is one work carrying both keys.

Every figure a source states about itself (a reported h-index, a cited-by count) travels as a
``ReportedFigure`` with its ``Provenance``, so a profile can show it beside the figure we compute.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from dataclasses import field as dc_field  # "field" is also a Work attribute (research field)
from typing import Literal

Kind = Literal["reported", "computed"]


@dataclass(frozen=True)
class Provenance:
    source: str  # "openalex", "semanticscholar", "s2ag", "profile-page", "scholarlens"
    source_id: str | None  # the record's id at that source, or the file it came from
    kind: Kind = "reported"
    as_of: str | None = None  # ISO date (or datetime) the source's figures were true at


@dataclass
class Institution:
    key: str  # "openalex:I123", "ror:05ppvf150", "name:pku"
    name: str
    ror: str | None = None
    country: str | None = None


@dataclass
class Authorship:
    author_key: str
    position: int | None  # 1-based; None when the source does not say (the profile owner of a page)
    raw_name: str  # the name as printed on the work
    institution_keys: list[str] = dc_field(default_factory=list)
    raw_affiliation: str | None = None


@dataclass
class Work:
    keys: list[str]  # every external key; the first names the work when it is new
    title: str | None  # None only in partial records (an abstract line of a bulk dump)
    provenance: Provenance
    abstract: str | None = None
    publication_date: dt.date | None = None
    year: int | None = None
    category: str | None = None  # short arXiv-style label: CV, AI, LG, CL, SE, ...
    field: str | None = None  # the source's field name, for percentiles within field and year
    venue: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    authorships: list[Authorship] = dc_field(default_factory=list)
    authors_truncated: bool = False  # the source listed only the first authors ("et al.")
    references: list[str] = dc_field(default_factory=list)  # keys of cited works
    counts_by_year: dict[int, int] = dc_field(default_factory=dict)  # citations received per year
    cited_by_count: int | None = None  # as the source reports it
    code_urls: list[str] = dc_field(default_factory=list)  # repository links the source itself gives
    code_badge: bool | None = None  # the source shows a Code badge (profile pages)
    reported_ai_score: float | None = None  # a score printed by the source (profile pages)
    year_inferred: bool = False  # the year was not stated but inferred (a profile page's "Mar 5"), so never matched on


@dataclass
class Author:
    key: str  # "openalex:A5017898742", "s2author:1741101", "name:lewei lu"
    name: str
    provenance: Provenance
    orcid: str | None = None
    field: str | None = None
    institution_keys: list[str] = dc_field(default_factory=list)
    work_keys: list[str] = dc_field(default_factory=list)  # works the source says are this author's


@dataclass
class Citation:
    citing_key: str
    cited_key: str
    source: str


@dataclass
class CodeLink:
    work_key: str
    url: str
    host: str  # github, gitlab, huggingface, project-page, ...
    found_in: Literal["abstract", "source"]


@dataclass
class ReportedFigure:
    """A number a source states, kept as the source said it, with where and when."""

    entity: Literal["author", "work"]
    entity_key: str
    metric: str  # h_index, works_count, citations, i10_index, novelty, ai_score, cited_by_count, ...
    value: float
    provenance: Provenance


@dataclass
class Quarantined:
    """A record that could not be read: kept with its reason, never silently dropped."""

    origin: str  # file path (and line or member) it came from
    reason: str
    raw: str | None = None  # the raw text, cut to a sane length


def author_name_key(name: str) -> str:
    """Key for an author known only by name (a profile page): accents, case and spacing do not matter."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return "name:" + " ".join(folded.lower().replace(".", " ").split())


Record = Work | Author | Institution | Citation | CodeLink | ReportedFigure | Quarantined
