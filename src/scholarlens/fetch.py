"""Fetching from the live sources into the store: "show me this researcher".

``fetch_openalex_author(store, author="Lewei Lu" | ORCID | "A5017898742")`` resolves the author, fetches the
author object and every page of their works; ``fetch_s2_author`` and ``fetch_arxiv`` do the same for Semantic
Scholar and arXiv. Each answer is written, as sent, to a file under the store's fetch folder
(``<store>.fetched/<source>/...``) and then read by ``pipeline.ingest`` like any other file. So:

- Names come from the request (entity path, query parameters, page number; never the cursor, offset or key),
  so a rerun overwrites the same files instead of adding new ones. Writes are atomic (temp file + rename).
- Each file is ingested as soon as it is written, in its own transactions (``pipeline.ingest``), so what was
  fetched before a failure or a kill stays in the store; ``pipeline`` skips a file it has already ingested
  (same content hash) and its upserts add nothing twice, so a rerun finishes the job without duplicates.
  With the HTTP cache on (the CLI keeps one in ``<store>.fetched/http-cache``) the rerun's requests for the
  pages already fetched cost nothing.
- What cannot be fetched does not stop the rest: a 404 for one work, an id arXiv does not have, or a page
  that fails after the HTTP layer's retries is written to the store's quarantine with its reason, the source
  and its position ("work 2 of 5", "page 3"), and counted in the summary. A listing that loses a page stops
  there (a cursor cannot be skipped over) and says so; the rerun retries it. What does raise is a target that
  cannot be had at all: an author that does not exist (``NotFound``, ``AuthorNotFound``), a name that fits
  several authors (``AmbiguousAuthor``, with the candidates to choose from; pass ``pick=``), or a failure to
  fetch the author object itself (``HttpError``).
- A kill in the middle of writing a file leaves a hidden temp file (``.name.tmpPID...``), never a half file;
  the next run removes the temp files of processes that are gone.
- The analytics are not rebuilt here: call ``analytics.build.analyse`` (the CLI does) after fetching.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import duckdb

from . import pipeline
from .net.arxiv import ArxivClient
from .net.http import HttpClient, HttpError, NotFound
from .net.openalex import AuthorCandidate, OpenAlexClient, Page, openalex_author_id, orcid_of
from .net.semanticscholar import AUTHOR_FIELDS, PAPER_FIELDS, S2Client
from .pipeline import IngestSummary
from .records import Quarantined
from .store import connect, write_records

# Called with (stage, done, total or None): stage is "author", "works", "papers" or "entries".
FetchProgress = Callable[[str, int, "int | None"], None]

# Request parameters that do not name what was asked for: where in a listing, and who asked.
_NOT_IN_NAMES = frozenset({"cursor", "offset", "start", "api_key", "mailto"})


class AmbiguousAuthor(Exception):
    """A name that fits several authors; ``candidates`` lists them, best match first."""

    def __init__(self, query: str, candidates: Sequence[AuthorCandidate]):
        super().__init__(f"{len(candidates)} authors match {query!r}: pass one of their ids")
        self.query = query
        self.candidates = list(candidates)


class AuthorNotFound(LookupError):
    """No author matches the name."""


@dataclass
class FetchSummary:
    source: str
    target: str  # what was asked for
    author_id: str | None = None
    author_name: str | None = None
    files: list[Path] = field(default_factory=list)  # answers written, in order
    pages: int = 0  # list pages fetched
    listed: int | None = None  # how many records the source said the listing holds
    received: int = 0  # records received in list pages (or entries, for arXiv ids)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason), each quarantined
    complete: bool = True  # False when a listing stopped at a page that could not be fetched
    requests: int = 0  # sent over the network by this fetch, retries included
    cache_hits: int = 0
    retries: int = 0
    ingest: IngestSummary = field(default_factory=IngestSummary)

    @property
    def quarantined(self) -> int:
        return len(self.problems)

    def as_dict(self) -> dict:
        return {
            "source": self.source, "target": self.target, "author_id": self.author_id,
            "author_name": self.author_name, "files": len(self.files), "pages": self.pages,
            "listed": self.listed, "received": self.received, "fetch_quarantined": self.quarantined,
            "complete": self.complete, "requests": self.requests, "cache_hits": self.cache_hits,
            "retries": self.retries, "ingest": self.ingest.as_dict(),
        }


# --- names and files -------------------------------------------------------------------------------------------

def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=&,+-]+", "_", text).strip("._") or "_"


def request_path(path: str, params: Mapping[str, object] | None = None, page: int | None = None,
                 suffix: str = ".json") -> Path:
    """The file (relative to the fetch folder) that holds the answer to a request.

    ``/authors/A5017898742`` -> ``authors/A5017898742.json``; page 2 of ``/works?filter=...&per-page=200`` ->
    ``works/filter=..&per-page=200/page-0002.json``. Long queries are shortened and a hash keeps them apart.
    """
    parts = [_safe(p) for p in path.strip("/").split("/") if p]
    kept = sorted((k, str(v)) for k, v in (params or {}).items() if v is not None and k not in _NOT_IN_NAMES)
    if kept:
        query = "&".join(f"{k}={v}" for k, v in kept)
        slug = _safe(query)
        if len(slug) > 80:
            slug = f"{slug[:60]}-{hashlib.sha1(query.encode()).hexdigest()[:12]}"
        parts.append(slug)
    if not parts:
        parts = ["_"]
    if page is not None:
        return Path(*parts, f"page-{page:04d}{suffix}")
    return Path(*parts[:-1], parts[-1] + suffix)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a kill leaves either the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _remove_orphaned_temp_files(folder: Path) -> None:
    """Temp files that a killed ``write_atomic`` left (their writer's process is gone)."""
    for tmp in folder.rglob(".*.tmp*") if folder.exists() else ():
        m = re.search(r"\.tmp(\d+)\.\d+$", tmp.name)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (PermissionError, OverflowError):
            pass  # alive under another user, or not a pid: leave it


def add_ingest(total: IngestSummary, part: IngestSummary) -> None:
    total.files += part.files
    total.files_already_done += part.files_already_done
    total.rows.update(part.rows)
    total.objects += part.objects
    total.quarantined += part.quarantined
    total.skipped += part.skipped
    total.formats.update(part.formats)
    total.quarantine_reasons.extend(part.quarantine_reasons)


def store_path_of(con: duckdb.DuckDBPyConnection) -> Path | None:
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return Path(row[0]) if row and row[0] else None


def fetch_dir(store: str | os.PathLike) -> Path:
    """Where fetched answers of a store live: ``<store>.fetched`` beside the store file."""
    return Path(f"{Path(store)}.fetched")


# --- one fetch run ---------------------------------------------------------------------------------------------

class _Run:
    """Writes answers, ingests them, sets problems aside, counts: the part every fetch shares."""

    def __init__(self, con_or_store, source: str, target: str, out_dir, http: HttpClient, progress: FetchProgress | None):
        if isinstance(con_or_store, duckdb.DuckDBPyConnection):
            self.con, self.owned = con_or_store, False
            store = store_path_of(con_or_store)
        else:
            store = Path(con_or_store)
            self.con, self.owned = connect(store), True
        if out_dir is None:
            if store is None:
                raise ValueError("an in-memory store has no fetch folder: pass out_dir")
            out_dir = fetch_dir(store) / source
        self.out = Path(out_dir)
        _remove_orphaned_temp_files(self.out)
        self.source = source
        self.http = http
        self.progress = progress or (lambda stage, done, total: None)
        self.summary = FetchSummary(source, target)
        s = http.stats
        self._start = (s.requests, s.cache_hits, s.retries)

    def save(self, relative: Path, text: str) -> Path:
        path = self.out / relative
        write_atomic(path, text)
        self.summary.files.append(path)
        add_ingest(self.summary.ingest, pipeline.ingest(self.con, [path]))
        return path

    def problem(self, origin: str, reason: str, raw: str | None = None) -> None:
        record = Quarantined(origin, reason, raw or None)
        write_records(self.con, [record])
        self.summary.problems.append((origin, reason))

    def prune(self, listing_dir: Path, last_page: int) -> None:
        """Drop pages a longer earlier run left beyond this run's last page (the listing has shrunk)."""
        for old in listing_dir.glob("page-*"):
            m = re.fullmatch(r"page-(\d+)\.\w+", old.name)
            if m and int(m.group(1)) > last_page:
                old.unlink(missing_ok=True)

    def listing(self, pages: Iterator[Page], path: str, name_params: Mapping[str, object], what: str, *,
                stage: str, results_key: str, total_of: Callable[[dict], int | None], suffix: str = ".json") -> None:
        """Save and ingest every page of a listing; a page that fails is quarantined and ends the listing."""
        number = 0
        first = request_path(path, name_params, 1, suffix)
        try:
            for page in pages:
                number = page.number
                self.save(request_path(path, name_params, number, suffix), page.response.text)
                self.summary.pages += 1
                data = page.data if isinstance(page.data, dict) else {}
                results = data.get(results_key)
                self.summary.received += len(results) if isinstance(results, list) else 0
                if self.summary.listed is None:
                    self.summary.listed = total_of(data)
                self.progress(stage, self.summary.received, self.summary.listed)
        except HttpError as exc:
            where = number + 1
            self.summary.complete = False
            self.problem(
                f"{exc.url or path} ({self.source}, {what}, page {where})",
                f"page {where} could not be fetched ({exc.status or 'no answer'}); the pages after it were not "
                f"fetched: rerun to retry",
                exc.body,
            )
            return
        self.prune(self.out / first.parent, number)

    def finish(self) -> FetchSummary:
        s = self.http.stats
        self.summary.requests = s.requests - self._start[0]
        self.summary.cache_hits = s.cache_hits - self._start[1]
        self.summary.retries = s.retries - self._start[2]
        if self.owned:
            self.con.close()
        return self.summary


# --- OpenAlex --------------------------------------------------------------------------------------------------

def _folded(name: str) -> str:
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.lower().replace(".", " ").replace("-", " ").split())


def choose_author(query: str, candidates: Sequence[AuthorCandidate], pick=None) -> AuthorCandidate | str:
    """The candidate meant by ``query``: the only one, or the only one whose name is the query (accents, case
    and dots aside); otherwise ``pick`` decides (a 1-based position, an author id, or a function of the
    candidates), and without it the name is ambiguous."""
    if pick is not None:
        if callable(pick):
            return pick(list(candidates))
        if isinstance(pick, int) and not isinstance(pick, bool):
            if not 1 <= pick <= len(candidates):
                raise ValueError(f"pick={pick}: there are {len(candidates)} candidates")
            return candidates[pick - 1]
        wanted = openalex_author_id(str(pick))
        if not wanted:
            raise ValueError(f"pick={pick!r} is neither a position nor an OpenAlex author id")
        return next((c for c in candidates if c.id == wanted), wanted)
    if len(candidates) == 1:
        return candidates[0]
    exact = [c for c in candidates if _folded(c.display_name) == _folded(query)]
    if len(exact) == 1:
        return exact[0]
    raise AmbiguousAuthor(query, candidates)


def resolve_openalex_author(client: OpenAlexClient, author: str, pick=None) -> str:
    """An OpenAlex id or ORCID as given, or the id of the author a name means (see ``choose_author``)."""
    author = author.strip()
    if openalex_author_id(author) or orcid_of(author):
        return author
    candidates = client.search_authors(author)
    if not candidates:
        raise AuthorNotFound(f"OpenAlex knows no author named {author!r}")
    chosen = choose_author(author, candidates, pick)
    return chosen.id if isinstance(chosen, AuthorCandidate) else chosen


def fetch_openalex_author(
    con_or_store,
    author: str,
    client: OpenAlexClient | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    pick=None,
    per_page: int = 200,
    select: str | None = None,
    progress: FetchProgress | None = None,
) -> FetchSummary:
    """Fetch an author (name, ORCID or OpenAlex id) and all their works from OpenAlex into the store."""
    client = client or OpenAlexClient()
    target = resolve_openalex_author(client, author, pick)  # may raise AmbiguousAuthor before anything is written
    run = _Run(con_or_store, "openalex", author, out_dir, client.http, progress)
    try:
        run.progress("author", 0, 1)
        response, data = client.author_request(target)
        author_id = openalex_author_id(str(data.get("id") or "")) if isinstance(data, dict) else None
        if not author_id:
            raise HttpError(f"{response.url}: the answer is not an OpenAlex author", status=response.status, url=response.url)
        run.summary.author_id, run.summary.author_name = author_id, data.get("display_name")
        run.save(request_path(f"/authors/{author_id}"), response.text)
        run.progress("author", 1, 1)
        name_params = {"filter": f"authorships.author.id:{author_id}", "per-page": per_page, "select": select}
        run.listing(
            client.works_of_author_pages(author_id, per_page=per_page, select=select),
            "/works", name_params, f"works of {author_id}", stage="works", results_key="results",
            total_of=lambda d: (d.get("meta") or {}).get("count"),
        )
    finally:
        summary = run.finish()
    return summary


def fetch_openalex_works(
    con_or_store,
    works: Iterable[str],
    client: OpenAlexClient | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    progress: FetchProgress | None = None,
) -> FetchSummary:
    """Fetch works by OpenAlex id or DOI, one request each; one that fails is quarantined and the rest go on."""
    client = client or OpenAlexClient()
    wanted = [w.strip() for w in works if w and w.strip()]
    run = _Run(con_or_store, "openalex", ", ".join(wanted), out_dir, client.http, progress)
    try:
        run.summary.listed = len(wanted)
        for i, work in enumerate(wanted, start=1):
            where = f"(openalex, work {i} of {len(wanted)})"
            try:
                response, data = client.work_request(work)
                short = str(data.get("id") or "").rsplit("/", 1)[-1] if isinstance(data, dict) else ""
                run.save(request_path(f"/works/{short or work}"), response.text)
                run.summary.received += 1
            except NotFound as exc:
                run.problem(f"{exc.url} {where}", f"HTTP 404: OpenAlex has no work {work}", exc.body)
            except HttpError as exc:
                run.problem(f"{exc.url or work} {where}", f"work {work} could not be fetched: {exc}", exc.body)
            except ValueError as exc:
                run.problem(f"{work} {where}", str(exc))
            run.progress("works", i, len(wanted))
    finally:
        summary = run.finish()
    return summary


# --- Semantic Scholar ------------------------------------------------------------------------------------------

def fetch_s2_author(
    con_or_store,
    author_id: str,
    client: S2Client | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    author_fields: str | None = AUTHOR_FIELDS,
    paper_fields: str | None = PAPER_FIELDS,
    limit: int = 100,
    progress: FetchProgress | None = None,
) -> FetchSummary:
    """Fetch a Semantic Scholar author (``author_fields``; None skips it) and every page of their papers
    (``paper_fields``; None skips them) into the store."""
    client = client or S2Client()
    author_id = str(author_id).strip()
    run = _Run(con_or_store, "semanticscholar", author_id, out_dir, client.http, progress)
    run.summary.author_id = author_id
    try:
        if author_fields:
            run.progress("author", 0, 1)
            response, data = client.author_request(author_id, author_fields)
            run.summary.author_name = data.get("name") if isinstance(data, dict) else None
            run.save(request_path(f"author/{author_id}", {"fields": author_fields}), response.text)
            run.progress("author", 1, 1)
        if paper_fields:
            run.listing(
                client.author_papers_pages(author_id, paper_fields, limit=limit),
                f"author/{author_id}/papers", {"fields": paper_fields, "limit": limit}, f"papers of {author_id}",
                stage="papers", results_key="data", total_of=lambda d: d.get("total"),
            )
    finally:
        summary = run.finish()
    return summary


# --- arXiv -----------------------------------------------------------------------------------------------------

def _bare_arxiv_id(value: str) -> str:
    value = re.sub(r"^(?:https?://arxiv\.org/abs/|arxiv:)", "", value.strip(), flags=re.I)
    return re.sub(r"v\d+$", "", value)


def fetch_arxiv(
    con_or_store,
    ids: Iterable[str] | None = None,
    query: str | None = None,
    client: ArxivClient | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    max_results: int = 100,
    page_size: int = 100,
    batch_size: int = 100,
    progress: FetchProgress | None = None,
) -> FetchSummary:
    """Fetch arXiv metadata by ids (in batches) or a search (``query``, at most ``max_results`` results)."""
    ids = [i.strip() for i in ids or [] if i and i.strip()]
    if bool(ids) == bool(query):
        raise ValueError("give arXiv ids or a query, not both and not neither")
    client = client or ArxivClient()
    run = _Run(con_or_store, "arxiv", query or ", ".join(ids), out_dir, client.http, progress)
    try:
        if ids:
            _fetch_arxiv_ids(run, client, ids, batch_size)
        else:
            name_params = {"search_query": query, "page_size": page_size, "max_results": max_results}
            run.listing(
                _feed_pages(client.search_pages(query, page_size=page_size, limit=max_results)),
                "query", name_params, f"search {query!r}", stage="entries", results_key="entry_ids",
                total_of=lambda d: None if d.get("total") is None else min(d["total"], max_results), suffix=".xml",
            )
    finally:
        summary = run.finish()
    return summary


def _feed_pages(pages: Iterator[Page]) -> Iterator[Page]:
    """Pages with their FeedInfo as a dict (what ``_Run.listing`` reads)."""
    for page in pages:
        info = page.data
        yield Page(page.number, page.response, {"entry_ids": [i for i in info.entry_ids if i], "total": info.total})


def _fetch_arxiv_ids(run: _Run, client: ArxivClient, ids: list[str], batch_size: int) -> None:
    run.summary.listed = len(ids)
    position = {}
    for k, i in enumerate(ids, start=1):
        position.setdefault(_bare_arxiv_id(i), k)
    done = 0
    batches = client.by_ids_pages(ids, batch_size=batch_size)
    while True:
        first = done + 1
        try:
            step = next(batches, None)
        except HttpError as exc:
            # One batch failed after the retries: set its ids aside and go on with the next batch.
            batch = ids[done: done + batch_size]
            run.problem(
                f"{exc.url or 'query'} (arxiv, ids {first}-{first + len(batch) - 1} of {len(ids)})",
                f"ids {', '.join(batch)} could not be fetched: {exc}", exc.body,
            )
            done += len(batch)
            batches = client.by_ids_pages(ids[done:], batch_size=batch_size)
            continue
        if step is None:
            break
        batch, page = step
        run.save(request_path("query", {"id_list": ",".join(batch)}, suffix=".xml"), page.response.text)
        found = {i for i in page.data.entry_ids if i}
        run.summary.received += len(found)
        for wanted in batch:
            bare = _bare_arxiv_id(wanted)
            if bare not in found:
                run.problem(f"{page.response.url} (arxiv, id {position[bare]} of {len(ids)})",
                            f"arXiv has no paper {wanted}")
        done += len(batch)
        run.progress("entries", done, len(ids))


__all__ = [
    "AmbiguousAuthor", "AuthorNotFound", "FetchSummary", "FetchProgress", "choose_author", "fetch_arxiv",
    "fetch_dir", "fetch_openalex_author", "fetch_openalex_works", "fetch_s2_author", "request_path",
    "resolve_openalex_author",
]
