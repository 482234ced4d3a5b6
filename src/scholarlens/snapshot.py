"""OpenAlex snapshots: JSON Lines parts streamed into the store by DuckDB, with bounded memory.

``ingest_snapshot(con, PATH)`` reads the OpenAlex snapshot layout (``PATH/data/works/updated_date=YYYY-MM-DD/
part_NNN.gz``; PATH may also be the ``data`` folder, the ``works`` folder, one ``updated_date=`` folder or one
part) and writes the same rows that the per-record path (``sources/openalex.py`` + ``store/writer.py``) writes
for the same works, much faster:

- A part is read as a stream (gzip inflated in large blocks, with python-isal's ISA-L inflate when it is
  installed, else zlib) and cut into batches of whole lines (``batch_bytes`` of JSON each, 64 MB by default).
  One reader thread hashes and inflates ahead, across parts, one batch ahead of DuckDB.
- DuckDB parses each line once (``from_json`` with an explicit structure: only the fields the store keeps are
  materialised) and SQL turns the batch into rows for every table, inserted in bulk.
- Two stages overlap: what of a batch needs nothing of the store (parsing, derived values, categories, match
  keys: ``_stage_batch``) runs on a second connection in a thread, into an in-memory database, while the store's
  connection writes the batch before it (keys, merges, tables, commit: ``_process_batch``); the first batch of
  the next part is staged while the last one of this part is written.
- Semantics are defined once, in Python, and reused rather than rewritten in SQL where they are more than
  plain field access: the subject label is ``categories.category_from_openalex`` evaluated once per distinct
  (topic, subfield, field) and registered as a DuckDB table (works without a topic label call it on their
  concepts); code links are ``openalex._code_urls`` (on the few URLs whose host may be a code host) and arXiv
  ids in non-ASCII URLs ``openalex._arxiv_id``, as DuckDB Python UDFs. Two UDFs that run on every work are
  short versions, tested equal to the originals (tests/test_snapshot_fast.py): the abstract (the rules of
  ``openalex.abstract_from_inverted_index``, read with orjson; what it would refuse goes to the per-record
  path) and the title+year+first-author key (``matching.match_key``, with a shortcut for ASCII text).
- Citations (the largest table, with no primary key: store/schema.py) are made unique here. The references of
  a work new to the store (no key of its line in work_keys) are appended as they are: no writer stores a
  citation whose citing key is an OpenAlex id without storing that id in work_keys in the same transaction,
  and work_keys rows are never deleted (tested over every source of the sample). Those of a work already
  stored (a rerun after a kill, a newer copy) go in by an anti-join on the edges already there.
- Lines SQL cannot decide exactly go through the per-record path itself (``reader._json_lines`` then
  ``writer.write_records``, in line order): a line that is not valid JSON, that has a field of an unexpected
  type or shape (checked by one regular expression over the raw line and by the parsed fields), that is not
  an OpenAlex work, whose keys meet another line of the batch or two works already stored, or whose
  title+year+author key alone meets a stored work (WorkResolver decides those merges). Authors and
  institutions, whose first-seen values win, are ordered by line over both paths.
- One transaction per batch, and a part is marked done by its content hash in ``ingested_files`` in the
  transaction of its last batch (``pipeline.file_digest`` / ``pipeline._is_done``), as pipeline.py does for a
  file: a killed ingest leaves whole batches only; a rerun skips the parts marked done and reads the
  interrupted one again from its start, its committed batches changing nothing (every upsert is idempotent,
  citations go through the anti-join since their works are stored, and batches are cut at the same lines).
  Not one transaction per part: DuckDB keeps a transaction's appends and index entries in memory (measured:
  0.8 GB for a part of 25,000 works, and an out-of-memory error under a 400 MB limit), so memory would grow
  with the size of a part.
- A bad line is quarantined with its reason and ``path:line`` (exactly as the per-record path words it); a
  truncated or corrupt ``.gz`` keeps its intact lines and adds one quarantine row for the file.

Differences from the per-record path, on purpose or by construction:
- Every line of a part is a JSON Lines record (no whole-file format sniffing); a ``manifest`` and other
  non-data files beside the parts are skipped and listed in the summary.
- ``ingested_files`` rows say format "openalex-snapshot" and count works, not records.
- Two lines of one part that share a key (the same DOI on two OpenAlex ids): the per-record path's own
  result depends on whether they fall in one of its 20,000-record batches (inside one, the first line's
  work_sources.source_id/as_of, counts_by_year and reported values win; across two, the last line's). Here
  they win as inside one batch when both lines are in one snapshot batch, else as across two.
- JSON with a duplicated key, or a value whose type is a JSON array where text or an object is expected,
  is not detected: DuckDB keeps the first duplicate and reads such arrays as text or NULL, where Python keeps
  the last duplicate and quarantines the work. OpenAlex writes neither.
"""

from __future__ import annotations

import gc
import json
import queue
import re
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from .categories import category_from_openalex
from .pipeline import _is_done, file_digest
from .records import Authorship, Institution, Provenance, Quarantined, Work
from .sources import openalex as oa
from .sources.reader import FileReport, InputError, _json_lines
from .store.matching import GENERIC_TITLE, MATCH_SCHEME, MIN_TITLE_CHARS, match_key
from .store.db import sql_string
from .store.writer import normalize_key, write_records

try:  # reads abstracts about 1.6 times as fast as json; optional (the same answers, see _udf_abstract)
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

try:  # ISA-L inflates about twice as fast as zlib; optional
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - depends on the environment
    _inflate = zlib

SNAPSHOT_FORMAT = "openalex-snapshot"
BATCH_BYTES = 64 << 20
_READ_BLOCK = 4 << 20
_NOT_PARTS = ("manifest", "_success", "readme", "source.md", "license")


# --- what the caller sees ---------------------------------------------------------------------------------

@dataclass
class SnapshotProgress:
    """Where a snapshot ingest stands; passed as the fourth argument of the progress callback."""

    parts_done: int
    parts_total: int
    works_done: int
    bytes_done: int  # compressed bytes of the parts read so far (the part being read counts what is read)
    bytes_total: int
    elapsed: float
    path: Path | None = None

    @property
    def rate(self) -> float:
        """Works per second since the start."""
        return self.works_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, from the compressed bytes still to read at the pace so far."""
        if self.bytes_done <= 0 or self.elapsed <= 0:
            return None
        return (self.bytes_total - self.bytes_done) * self.elapsed / self.bytes_done

    def __str__(self) -> str:
        eta = "?" if self.eta is None else time.strftime("%H:%M:%S", time.gmtime(self.eta))
        return (f"part {self.parts_done}/{self.parts_total} · {self.works_done:,} works · "
                f"{self.rate:,.0f} works/s · ETA {eta}")


# progress(done, total, path, info): done/total are compressed bytes (so a bar's own rate and ETA work),
# path is the part being read, info the SnapshotProgress with parts, works, rate and ETA.
ProgressFn = Callable[[int, int, Path, SnapshotProgress], None]


@dataclass
class SnapshotSummary:
    parts: int = 0  # parts read in this run
    parts_already_done: int = 0
    works: int = 0  # works written (both paths)
    lines: int = 0
    via_sql: int = 0
    via_python: int = 0  # lines that went through the per-record path
    quarantined: int = 0
    rows: Counter = field(default_factory=Counter)  # rows upserted per table
    bytes_read: int = 0  # compressed
    json_bytes: int = 0  # inflated
    seconds: float = 0.0
    ignored_files: list[str] = field(default_factory=list)
    quarantine_reasons: list[tuple[str, str]] = field(default_factory=list)
    timings: Counter = field(default_factory=Counter)  # seconds per step, summed over batches (where the time goes)

    @property
    def works_per_second(self) -> float:
        return self.works / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "parts": self.parts, "parts_already_done": self.parts_already_done, "works": self.works,
            "lines": self.lines, "via_sql": self.via_sql, "via_python": self.via_python,
            "quarantined": self.quarantined, "rows_written": dict(self.rows), "bytes_read": self.bytes_read,
            "json_bytes": self.json_bytes, "seconds": round(self.seconds, 2),
            "works_per_second": round(self.works_per_second), "ignored_files": self.ignored_files,
            "seconds_per_step": {k: round(v, 2) for k, v in self.timings.most_common()},
        }

    def __str__(self) -> str:
        s = (f"{self.parts} parts read ({self.parts_already_done} already done), {self.works:,} works in "
             f"{self.seconds:.1f} s ({self.works_per_second:,.0f} works/s); {self.quarantined} quarantined; "
             f"{self.via_python} lines through the per-record path")
        if self.ignored_files:
            s += f"; skipped {len(self.ignored_files)} non-part files ({', '.join(self.ignored_files[:3])})"
        return s


# --- layout -------------------------------------------------------------------------------------------------

def find_parts(path: str | Path) -> tuple[list[Path], list[Path]]:
    """(parts, skipped files) under a snapshot root, its data or works folder, a date folder, or one part.

    Parts come in the order the per-record path reads files (sorted paths: dates, then part numbers)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file or folder: {p}")
    if p.is_file():
        return [p], []
    root = p
    for sub in (Path("data") / "works", Path("works")):
        if (p / sub).is_dir():
            root = p / sub
            break
    parts: list[Path] = []
    skipped: list[Path] = []
    for f in sorted(root.rglob("*")):
        if not f.is_file() or f.name.startswith("."):
            continue
        name = f.name.lower()
        if name.startswith(_NOT_PARTS):
            skipped.append(f)
        else:
            parts.append(f)
    if not parts:
        raise InputError(f"no snapshot parts under {p} (expected data/works/updated_date=*/part_*.gz)")
    return parts, skipped


# --- reading a part as batches of whole lines ---------------------------------------------------------------

@dataclass
class _Batch:
    first_line: int  # number of the batch's first line (1-based)
    data: bytes  # whole lines, each ending in \n (the last one may not, at the end of a file)
    starts: np.ndarray  # int64 offsets of each line in data, plus len(data)
    compressed_pos: int  # bytes of the file read when the batch was cut


class _PartReader:
    """Inflates a part in blocks and hands out batches of whole lines. A truncated or corrupt gzip ends the
    stream early with its reason in ``problem``; the whole lines before it are handed out, the partial line at
    the break is dropped (as the per-record path drops it)."""

    def __init__(self, path: Path, batch_bytes: int):
        self.path = path
        self.batch_bytes = batch_bytes
        self.problem: Quarantined | None = None
        self.json_bytes = 0

    def __iter__(self) -> Iterator[_Batch]:
        with self.path.open("rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
            f.seek(0)
            pending = bytearray()
            line_no = 1
            d = _inflate.decompressobj(31) if gz else None
            ended = False
            while True:
                block = f.read(_READ_BLOCK)
                if not block:
                    break
                if d is None:
                    out = block
                else:
                    try:
                        out = d.decompress(block)
                        while d.eof and d.unused_data:  # a multi-member gzip: the next member starts
                            rest = d.unused_data
                            d = _inflate.decompressobj(31)
                            out += d.decompress(rest)
                    except (zlib.error, getattr(_inflate, "error", zlib.error)) as exc:
                        self.problem = Quarantined(str(self.path), f"corrupt gzip: {exc}")
                        ended = True
                        out = b""
                pending += out
                if ended:
                    break
                # A batch ends with the line that crosses batch_bytes: the cuts depend on the lines alone, so a
                # rerun cuts the part where the first run did.
                while len(pending) >= self.batch_bytes:
                    cut = pending.find(b"\n", self.batch_bytes - 1) + 1
                    if cut <= 0:  # that line is not complete yet
                        break
                    batch = bytes(pending[:cut])
                    del pending[:cut]
                    line_no = yield from self._emit(batch, line_no, f.tell())
            if d is not None and not ended and not d.eof:
                self.problem = Quarantined(str(self.path), "truncated gzip: the archive ends before its end-of-stream marker")
                ended = True
            if ended:  # the partial line at the break is not a line
                cut = pending.rfind(b"\n") + 1
                del pending[cut:]
            if pending:
                yield from self._emit(bytes(pending), line_no, f.tell())

    def _emit(self, data: bytes, line_no: int, pos: int):
        self.json_bytes += len(data)
        arr = np.frombuffer(data, dtype=np.uint8)
        nl = np.flatnonzero(arr == 10)
        starts = np.empty(len(nl) + 1 + (0 if data.endswith(b"\n") else 1), dtype=np.int64)
        starts[0] = 0
        starts[1:len(nl) + 1] = nl + 1
        if not data.endswith(b"\n"):
            starts[-1] = len(data)
        yield _Batch(line_no, data, starts, pos)
        return line_no + len(starts) - 1


def _prefetch(it: Iterator, depth: int = 1) -> Iterator:
    """Run the reader ``depth`` items ahead in a thread (inflating and hashing release the GIL)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for b in it:
                if not put(b):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(exc)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join()


@dataclass
class _PartStart:
    index: int
    path: Path
    size: int
    digest: str
    done: bool  # marked done by an earlier run (or the same content earlier in this run): not read
    reader: _PartReader | None


_PART_END = object()


def _events(parts: list[Path], sizes: list[int], batch_bytes: int, force: bool,
            is_done: Callable[[str], bool]) -> Iterator:
    """Every part in order: a _PartStart, then (unless it is done) its batches and _PART_END. Run in the reader
    thread by _prefetch, so the next part is hashed and inflated while the last batches of this one load."""
    seen: set[str] = set()
    for i, (part, size) in enumerate(zip(parts, sizes)):
        digest = file_digest(part)
        done = not force and (digest in seen or is_done(digest))
        seen.add(digest)
        if done:
            yield _PartStart(i, part, size, digest, True, None)
            continue
        reader = _PartReader(part, batch_bytes)
        yield _PartStart(i, part, size, digest, False, reader)
        yield from reader
        yield _PART_END


# --- SQL ------------------------------------------------------------------------------------------------------

def _loc(fields=("landing_page_url", "pdf_url", "url"), extra: dict | None = None) -> dict:
    d = {f: "VARCHAR" for f in fields}
    d.update(extra or {})
    return d


# Only the fields the store keeps (plus a few that tell an unusual line apart) are materialised.
_STRUCTURE = json.dumps({
    "id": "VARCHAR",
    "display_name": "VARCHAR",
    "title": "VARCHAR",
    "doi": "VARCHAR",
    "ids": {"doi": "VARCHAR"},
    "publication_date": "VARCHAR",
    "publication_year": "BIGINT",
    "cited_by_count": "BIGINT",
    "updated_date": "VARCHAR",
    "updated": "VARCHAR",
    "type": "VARCHAR",
    "is_authors_truncated": "BOOLEAN",
    "fwci": "DOUBLE",
    "citation_normalized_percentile": {"value": "DOUBLE"},
    "primary_topic": {"display_name": "VARCHAR", "subfield": {"display_name": "VARCHAR"},
                      "field": {"display_name": "VARCHAR"}},
    "primary_location": _loc(extra={"source": {"id": "VARCHAR", "display_name": "VARCHAR"}}),
    "best_oa_location": _loc(),
    "host_venue": _loc(extra={"id": "VARCHAR", "display_name": "VARCHAR"}),
    "locations": [_loc()],
    "alternate_host_venues": [_loc()],
    "authorships": [{
        "author": {"id": "VARCHAR", "display_name": "VARCHAR"},
        "raw_author_name": "VARCHAR",
        "raw_affiliation_strings": ["VARCHAR"],
        "raw_affiliation_string": "VARCHAR",
        "institutions": [{"id": "VARCHAR", "display_name": "VARCHAR", "ror": "VARCHAR", "country_code": "VARCHAR"}],
    }],
    "referenced_works": ["VARCHAR"],
    "counts_by_year": [{"year": "BIGINT", "cited_by_count": "BIGINT"}],
    "abstract_inverted_index": "JSON",
    "data": "JSON",
})

# One pass over the raw line finds what DuckDB's typed reading would hide and Python would refuse (or read
# differently): a trailing comma (DuckDB accepts it, Python does not), a Semantic Scholar key (the reader
# would take the object as S2), and a field of a type the per-record readers refuse or skip (a name that is a
# number, a count that is text or a fraction, a list that is not a list, ...). A match anywhere sends the line
# to the per-record path, which decides; matches in harmless places only cost speed.
_WS = r"[ \t\r\n]*"
_SUSPICIOUS_PARTS = [
    r",[ \t\r\n]*[\]}]",
    r'"(?:paperId|authorId|citingPaper|citedPaper|recommendedPapers|release_id|README|diffs|snippet)"' + _WS + ":",
    # text fields: a string or null (an abstract word with the same name maps to a list of positions)
    r'"(?:id|display_name|title|doi|publication_date|raw_author_name|ror|country_code|updated_date|updated|'
    r'landing_page_url|pdf_url|url|raw_affiliation_string|type)"' + _WS + ":" + _WS + r'(?:n[^u]|[^n" \t\r\n\[])',
    # whole numbers: no text, no fraction, no exponent, no more than 15 digits
    r'"(?:publication_year|cited_by_count|year)"' + _WS + ":" + _WS
    + r"(?:n[^u]|[^n0-9\- \t\r\n\[]|-[^0-9]|-?[0-9]+(?:\.[0-9]*[1-9]|[eE])|-?[0-9]{16})",
    # numbers
    r'"(?:fwci|value)"' + _WS + ":" + _WS + r"(?:n[^u]|[^n0-9\- \t\r\n\[]|-[^0-9])",
    r'"is_authors_truncated"' + _WS + ":" + _WS + r"(?:n[^u]|[^ntf \t\r\n])",
    # lists
    r'"(?:authorships|institutions|raw_affiliation_strings|referenced_works|counts_by_year|locations|'
    r'alternate_host_venues)"' + _WS + ":" + _WS + r"(?:n[^u]|[^n\[ \t\r\n])",
    r'"raw_affiliation_strings"' + _WS + ":" + _WS + r'\[' + _WS + r'(?:"(?:[^"\\]|\\.)*"' + _WS + "," + _WS
    + r')*[^" \t\r\n\]]',
    # objects
    r'"(?:ids|primary_location|best_oa_location|host_venue|source|field|subfield|primary_topic|author|'
    r'citation_normalized_percentile|abstract_inverted_index)"' + _WS + ":" + _WS + r"(?:n[^u]|[^n{ \t\r\n\[])",
]
_SUSPICIOUS = "|".join(_SUSPICIOUS_PARTS)

_W_URL = r"https://openalex\.org/W[0-9]+"
_A_URL = r"https://openalex\.org/A[0-9]+"
_I_URL = r"https://openalex\.org/I[0-9]+"
_ARXIV = r"([0-9]{4}\.[0-9]{4,5}|[a-z][a-z.-]*(?:\.[a-z]{2})?/[0-9]{7})"
_ARXIV_URL_RE2 = r"(?i)arxiv\.org/(?:abs|pdf)/" + _ARXIV + r"(?:v[0-9]+)?(?:\.pdf)?/?(?:[?#].*)?$"
_ARXIV_DOI_RE2 = r"(?i)10\.48550/arxiv\." + _ARXIV
# A URL can only be a code link if its host is one of codelinks' hosts: this superset picks the few URLs that
# codelinks.classify_host then decides (non-ASCII URLs too, whose case folding RE2 and Python may differ on).
_CODE_HOSTS_RE2 = r"(?i)github|gitlab|huggingface|hf\.co|bitbucket|codeberg|sourceforge|gitee|paperswithcode|zenodo|osf\.io|[^[:ascii:]]"
_INT32 = "BETWEEN -2147483648 AND 2147483647"


_UNREADABLE = "\x00unreadable"  # a UDF's answer for a value the per-record reader refuses: that line goes there


# Both statements name the parsed lines' table @ST@: a table of the in-memory database _sl_stage, which the
# store's connection reads while a second connection stages the next batch (see _stage_batch).
_STAGE_SQL = f"""
CREATE OR REPLACE TABLE @ST@ AS
SELECT line, CASE WHEN force_py OR regexp_matches(text, {sql_string(_SUSPICIOUS)}) THEN NULL
                  ELSE TRY(from_json(text, {sql_string(_STRUCTURE)})) END AS j
FROM _sl_lines
"""

# One row per line that parsed, with every value the store needs and an ``ok`` that says SQL can decide it.
_WORKS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _sl_w AS
WITH a AS (
  SELECT line, j,
    coalesce(nullif(j.display_name, ''), nullif(j.title, '')) AS title,
    coalesce(nullif(j.doi, ''), nullif(j.ids.doi, '')) AS doi_raw,
    coalesce(nullif(j.updated_date, ''), nullif(j.updated, '')) AS as_of,
    list_filter(list_concat(
        [j.primary_location.landing_page_url, j.primary_location.pdf_url, j.primary_location.url,
         j.best_oa_location.landing_page_url, j.best_oa_location.pdf_url, j.best_oa_location.url,
         j.host_venue.landing_page_url, j.host_venue.pdf_url, j.host_venue.url],
        flatten(list_transform(coalesce(j.locations, []), lambda l: [l.landing_page_url, l.pdf_url, l.url])),
        flatten(list_transform(coalesce(j.alternate_host_venues, []), lambda l: [l.landing_page_url, l.pdf_url, l.url]))
      ), lambda u: u <> '') AS urls0,
    sl_abstract(j.abstract_inverted_index) AS abstract
  FROM @ST@ WHERE j IS NOT NULL
), b AS (
  SELECT *,
    list_filter(urls0, lambda u, i: list_position(urls0, u) = i) AS urls,
    CASE WHEN starts_with(regexp_replace(doi_raw, '^(https?://(dx\\.)?doi\\.org/|doi:)', '', 'i'), '10.')
         THEN lower(regexp_replace(doi_raw, '^(https?://(dx\\.)?doi\\.org/|doi:)', '', 'i')) END AS doi
  FROM a
), c AS (
  SELECT *,
    list_prepend(coalesce(doi, ''), urls) AS arxiv_texts,
    CASE WHEN regexp_matches(j.publication_date, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')
         THEN TRY_CAST(left(j.publication_date, 10) AS DATE) END AS pd
  FROM b
)
SELECT line,
  substr(j.id, 22) AS short,
  title,
  coalesce(nullif(j.authorships[1].raw_author_name, ''), nullif(j.authorships[1].author.display_name, '')) AS first_author,
  abstract,
  pd,
  CASE WHEN j.publication_year IS NOT NULL AND j.publication_year <> 0 THEN j.publication_year ELSE year(pd) END AS year,
  j.primary_topic.display_name AS topic, j.primary_topic.subfield.display_name AS subfield,
  j.primary_topic.field.display_name AS topic_field,
  nullif(j.primary_topic.field.display_name, '') AS field,
  CASE WHEN j.primary_location.source.id IS NOT NULL OR j.primary_location.source.display_name IS NOT NULL
       THEN nullif(j.primary_location.source.display_name, '') ELSE nullif(j.host_venue.display_name, '') END AS venue,
  doi,
  CASE WHEN regexp_matches(array_to_string(arxiv_texts, ' '), '[^[:ascii:]]|\\n') THEN sl_arxiv(doi, urls)
       ELSE list_filter(list_transform(arxiv_texts, lambda t: coalesce(
              nullif(regexp_extract(t, {sql_string(_ARXIV_URL_RE2)}, 1), ''),
              nullif(regexp_extract(t, {sql_string(_ARXIV_DOI_RE2)}, 1), ''))), lambda x: x IS NOT NULL)[1]
  END AS arxiv_id,
  coalesce(j.is_authors_truncated, false) AS authors_truncated,
  j.cited_by_count AS cited_by_count,
  j.fwci AS fwci,
  j.citation_normalized_percentile.value AS cnp,
  as_of,
  CASE WHEN len(list_filter(urls, lambda u: regexp_matches(u, {sql_string(_CODE_HOSTS_RE2)}))) > 0
       THEN sl_code(list_filter(urls, lambda u: regexp_matches(u, {sql_string(_CODE_HOSTS_RE2)})),
                    j.type, title) END AS code,
  (
    regexp_full_match(j.id, {sql_string(_W_URL)})
    AND (doi_raw IS NULL OR regexp_full_match(doi_raw, '[!-~]+'))
    AND (j.publication_date IS NULL OR (pd IS NOT NULL AND left(j.publication_date, 4) <> '0000')
         OR regexp_full_match(j.publication_date, '[0-9]{{4}}'))
    AND coalesce(j.publication_year {_INT32}, true)
    AND coalesce(year(pd) {_INT32}, true)
    AND coalesce(j.cited_by_count {_INT32}, true)
    AND coalesce(json_type(j.data) <> 'ARRAY', true)
    AND NOT (j.primary_location.source.id IS NULL AND j.primary_location.source.display_name IS NULL
             AND j.host_venue.display_name IS NOT NULL AND j.host_venue.display_name <> '')
    AND abstract IS DISTINCT FROM {sql_string(_UNREADABLE)}
    AND len(list_filter(coalesce(j.referenced_works, []),
                        lambda r: r IS NULL OR NOT regexp_full_match(r, {sql_string(_W_URL)}))) = 0
    AND len(list_filter(coalesce(j.counts_by_year, []),
                        lambda c: c IS NULL OR (c.year IS NULL AND c.cited_by_count IS NULL)
                                  OR NOT coalesce(c.year {_INT32} AND c.cited_by_count {_INT32}, true))) = 0
    AND len(list_filter(coalesce(j.authorships, []), lambda x:
          x IS NULL
          OR coalesce(nullif(x.raw_author_name, ''), nullif(x.author.display_name, '')) IS NULL
          OR NOT coalesce(regexp_full_match(x.author.id, {sql_string(_A_URL)}), false)
          OR len(list_filter(coalesce(x.institutions, []), lambda i:
                 i.id IS NOT NULL AND i.id <> '' AND NOT regexp_full_match(i.id, {sql_string(_I_URL)}))) > 0)) = 0
  ) AS ok
FROM c
"""


def _category_rows(con: duckdb.DuckDBPyConnection, cache: dict) -> None:
    """Labels of the batch's distinct primary topics, from categories.category_from_openalex itself."""
    triples = con.execute(
        "SELECT DISTINCT topic, subfield, topic_field FROM _sl_w WHERE ok"
    ).fetchall()
    new = [t for t in triples if t not in cache]
    for t, s, f in new:
        topic = {"display_name": t, "subfield": {"display_name": s}, "field": {"display_name": f}}
        cache[(t, s, f)] = category_from_openalex(topic, None)
    frame = pd.DataFrame(
        [(t, s, f, cache[(t, s, f)]) for t, s, f in triples],
        columns=["topic", "subfield", "topic_field", "category"], dtype=object,
    )
    con.register("_sl_cat_df", frame)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _sl_cat AS SELECT topic::VARCHAR AS topic, subfield::VARCHAR AS subfield, "
                    "topic_field::VARCHAR AS topic_field, category::VARCHAR AS category FROM _sl_cat_df")
    finally:
        con.unregister("_sl_cat_df")




def _udf_arxiv(doi, urls):
    return oa._arxiv_id({"locations": [{"url": u} for u in urls or []]}, doi)


def _udf_code(urls, work_type, title):
    from .analytics.codelinks import classify_host

    found = oa._code_urls({"type": work_type, "locations": [{"url": u} for u in urls or []]}, title)
    return [{"url": u, "host": classify_host(u)} for u in found] or None


_MATCH_PROV = Provenance("openalex", None)


_WORDS = re.compile(r"\w+")


def _ascii_norm(text: str) -> str:
    # matching.normalise_title where the text is ASCII: NFKD changes nothing and casefold is lower
    return " ".join(_WORDS.findall(text.lower())).replace("_", " ").strip()


def _match_one(title, year, name) -> str | None:
    """matching.match_key of a work with this title, stated year and first author (ASCII text the short way,
    the rest through match_key itself; tests/test_snapshot_fast.py holds them equal)."""
    if not title or year is None or not name:
        return None
    if not (title.isascii() and name.isascii()):
        authors = [Authorship(author_key="", position=1, raw_name=name)]
        return match_key(Work(keys=[], title=title, provenance=_MATCH_PROV, year=year, authorships=authors))
    norm = _ascii_norm(title)
    if len(norm.replace(" ", "")) < MIN_TITLE_CHARS or GENERIC_TITLE.match(norm):
        return None
    family = name.strip()
    if "," in family:
        family = family.split(",", 1)[0]
    else:
        words = family.split()
        family = words[-1] if words else ""
    family = _ascii_norm(family)
    return f"{MATCH_SCHEME}:{norm}|{year}|{family}" if family else None


def _udf_match(titles, years, first_authors):
    """store.matching.match_key of each work, from what it reads: title, year and first author."""
    out = [_match_one(t, y, n) for t, y, n in zip(titles.to_pylist(), years.to_pylist(), first_authors.to_pylist())]
    return pa.array(out, type=pa.string())


def _udf_abstract(texts):
    """openalex.abstract_from_inverted_index on each abstract_inverted_index (as DuckDB keeps its JSON text),
    read with orjson where installed: the same words at the same positions (a later key wins a position, as in a dict); what
    that function refuses (a value that is not a list, a position that is not a whole number) or orjson cannot
    read is _UNREADABLE, and the line goes to the per-record path, which decides."""
    out = []
    for text in texts.to_pylist():
        if text is None:
            out.append(None)
            continue
        try:
            index = _loads(text)
        except ValueError:
            out.append(_UNREADABLE)
            continue
        if index is None:
            out.append(None)
            continue
        placed: dict[int, str] = {}
        ok = type(index) is dict
        if ok:
            for word, positions in index.items():
                if type(positions) is not list:
                    ok = False
                    break
                for pos in positions:
                    if type(pos) is not int:
                        ok = False
                        break
                    placed[pos] = word
                if not ok:
                    break
        out.append(" ".join([placed[p] for p in sorted(placed)]) or None if ok else _UNREADABLE)
    return pa.array(out, type=pa.string())


def _udf_concepts(concepts_json):
    if concepts_json is None:
        return None
    try:
        return category_from_openalex(None, json.loads(concepts_json))
    except (TypeError, ValueError, AttributeError):
        return _UNREADABLE  # the per-record path quarantines such a work: send it there


_UDFS = (
    ("sl_arxiv", _udf_arxiv, ["VARCHAR", "VARCHAR[]"], "VARCHAR"),
    ("sl_code", _udf_code, ["VARCHAR[]", "VARCHAR", "VARCHAR"], "STRUCT(url VARCHAR, host VARCHAR)[]"),
    ("sl_concepts", _udf_concepts, ["VARCHAR"], "VARCHAR"),
)
_ARROW_UDFS = (
    ("sl_match", _udf_match, ["VARCHAR", "BIGINT", "VARCHAR"], "VARCHAR"),
    ("sl_abstract", _udf_abstract, ["VARCHAR"], "VARCHAR"),
)


class _NoTransaction:
    """The store connection as write_records sees it inside a part's transaction: its BEGIN/COMMIT/ROLLBACK
    are left to the part (DuckDB has no nested transactions), everything else goes through."""

    _SKIP = ("BEGIN TRANSACTION", "COMMIT", "ROLLBACK")

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def execute(self, sql, *args, **kwargs):
        if sql.strip().upper() in self._SKIP:
            return self._con
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._con, name)


# --- one batch ------------------------------------------------------------------------------------------------

@dataclass
class _PartState:
    path: Path
    origin: str
    report: FileReport
    summary: SnapshotSummary
    categories: dict
    works: int = 0
    quarantined: int = 0


def _lines_table(batch: _Batch) -> pa.Table:
    """The batch as an Arrow table (line, text, force_py) without copying the text; lines that are not valid
    UTF-8 go to the per-record path, which decodes them with replacement as it always does."""
    n = len(batch.starts) - 1
    numbers = np.arange(batch.first_line, batch.first_line + n, dtype=np.int64)
    force = np.zeros(n, dtype=bool)
    offsets = pa.py_buffer(batch.starts)
    text = pa.LargeStringArray.from_buffers(n, offsets, pa.py_buffer(batch.data))
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        strs = []
        for k in range(n):
            raw = batch.data[batch.starts[k]:batch.starts[k + 1]]
            try:
                strs.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                strs.append("")
                force[k] = True
        text = pa.array(strs, type=pa.large_string())
    return pa.table({"line": numbers, "text": text, "force_py": force})


def _raw_line(batch: _Batch, line: int) -> bytes:
    k = line - batch.first_line
    return batch.data[batch.starts[k]:batch.starts[k + 1]]


def _python_records(state: _PartState, batch: _Batch, lines: list[int]) -> dict[int, list]:
    """Records of each line, read exactly as the per-record path reads a JSON Lines file."""
    out = {}
    for line in lines:
        out[line] = list(_json_lines(state.origin, state.report, [(line, _raw_line(batch, line))], None, iter(())))
    return out


def _exec(con, sql: str, params=None, *, tm: Counter | None = None, step: str = "sql") -> int:
    """Run one statement to completion (fetchall: a pending result would block a later register); the count
    it returns, if any. ``tm[step]`` adds the seconds it took."""
    t0 = time.perf_counter()
    rows = con.execute(sql, params or []).fetchall()
    if tm is not None:
        tm[step] += time.perf_counter() - t0
    return int(rows[0][0]) if rows and rows[0] and isinstance(rows[0][0], int) else 0


def _rows(con, sql: str, params=None, *, tm: Counter, step: str) -> list[tuple]:
    t0 = time.perf_counter()
    rows = con.execute(sql, params or []).fetchall()
    tm[step] += time.perf_counter() - t0
    return rows


STAGE_DB = "_sl_stage"


@dataclass
class _Staged:
    """A batch parsed and derived by ``_stage_batch``: its tables in STAGE_DB, the lines SQL decides."""

    st: str  # the parsed lines (line, j)
    w2: str  # one row per line SQL decides, with its category and title+year+author key
    fast_ok: set[int]
    n_lines: int
    timings: Counter


def _stage_batch(con: duckdb.DuckDBPyConnection, batch: _Batch, categories: dict, slot: int) -> _Staged:
    """What of a batch needs nothing of the store: its lines parsed, every work's values derived, categories
    and title+year+author keys, into tables of STAGE_DB (``slot`` 0 or 1: the batch the store's connection is
    writing keeps the other). Runs on a connection of its own, in a thread, one batch ahead of the writes: the
    two DuckDB statements run on both cores at once, where one batch at a time left one core idle (CPU 45 s in
    42 s of wall at 100,000 works). Reads nothing the writes change, so it gives what it gave in line."""
    tm: Counter = Counter()
    st, w2 = f"{STAGE_DB}.st{slot}", f"{STAGE_DB}.w2{slot}"
    t0 = time.perf_counter()
    table = _lines_table(batch)
    tm["arrow"] += time.perf_counter() - t0
    con.register("_sl_lines", table)
    try:
        _exec(con, _STAGE_SQL.replace("@ST@", st), tm=tm, step="parse")
        _exec(con, _WORKS_SQL.replace("@ST@", st), tm=tm, step="derive")
        t0 = time.perf_counter()
        _category_rows(con, categories)
        tm["categories"] += time.perf_counter() - t0
        # Works the topic does not label fall back on their concepts, read from the raw line for those only.
        _exec(con, f"""
            CREATE OR REPLACE TABLE {w2} AS
            SELECT w.*, CASE WHEN c.category IS NOT NULL THEN c.category
                             ELSE sl_concepts(json_extract(l.text, '$.concepts')) END AS category,
                   sl_match(w.title, w.year, w.first_author) AS match_key
            FROM _sl_w w
            LEFT JOIN _sl_cat c ON c.topic IS NOT DISTINCT FROM w.topic AND c.subfield IS NOT DISTINCT FROM w.subfield
                                AND c.topic_field IS NOT DISTINCT FROM w.topic_field
            LEFT JOIN _sl_lines l ON l.line = w.line AND c.category IS NULL
            WHERE w.ok
        """, tm=tm, step="category+match key")
        _exec(con, f"DELETE FROM {w2} WHERE category = {sql_string(_UNREADABLE)}", tm=tm, step="category+match key")
        fast_ok = {r[0] for r in _rows(con, f"SELECT line FROM {w2}", tm=tm, step="resolve")}
    finally:
        con.unregister("_sl_lines")
    return _Staged(st, w2, fast_ok, table.num_rows, tm)


def _process_batch(con: duckdb.DuckDBPyConnection, batch: _Batch, state: _PartState, staged: _Staged) -> None:
    """Write a staged batch into the store (inside the batch's transaction): keys and merges with stored works,
    the per-record path for the lines SQL cannot decide, and every table."""
    tm = state.summary.timings
    tm.update(staged.timings)
    fast_ok, n_lines = staged.fast_ok, staged.n_lines
    # The stage's tables under the names the statements below use; views, since this transaction writes the
    # store and a DuckDB transaction writes one database only.
    con.execute(f"CREATE OR REPLACE TEMP VIEW _sl_st AS SELECT * FROM {staged.st}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW _sl_w2 AS SELECT * FROM {staged.w2}")

    t0 = time.perf_counter()
    py_lines = [ln for ln in range(batch.first_line, batch.first_line + n_lines) if ln not in fast_ok]
    records = _python_records(state, batch, py_lines)
    py_keys = []
    for ln, recs in records.items():
        for r in recs:
            if isinstance(r, Work):
                py_keys += [(ln, normalize_key(k)) for k in r.keys]
                m = match_key(r)
                if m:
                    py_keys.append((ln, m))
    tm["per-record read"] += time.perf_counter() - t0

    # Keys: a line goes to the per-record path (with every line it meets) when one of its keys is another
    # line's, when it meets two stored works, when a stored work it meets is met by another line too, or when
    # its title+year+author key meets a stored work (the WorkResolver decides whether they are one work).
    con.register("_sl_pykeys_df", pd.DataFrame(py_keys, columns=["line", "key"]).astype({"line": "int64", "key": object}))
    try:
        _exec(con, """
            CREATE OR REPLACE TEMP TABLE _sl_keys AS
            SELECT line, 'openalex:' || short AS key FROM _sl_w2
            UNION ALL SELECT line, 'doi:' || doi FROM _sl_w2 WHERE doi IS NOT NULL
            UNION ALL SELECT line, 'arxiv:' || arxiv_id FROM _sl_w2 WHERE arxiv_id IS NOT NULL
            UNION ALL SELECT line, match_key FROM _sl_w2 WHERE match_key IS NOT NULL
        """, tm=tm, step="resolve")
        _exec(con, """
            CREATE OR REPLACE TEMP TABLE _sl_hits AS
            SELECT DISTINCT a.line, s.work_id, starts_with(a.key, 'match:') AS by_title
            FROM (SELECT line, key FROM _sl_keys UNION ALL SELECT line::BIGINT, key::VARCHAR FROM _sl_pykeys_df) a
            JOIN work_keys s ON s.key = a.key
        """, tm=tm, step="resolve")
        moved = [r[0] for r in _rows(con, """
            WITH allk AS (SELECT line, key FROM _sl_keys UNION ALL SELECT line::BIGINT, key::VARCHAR FROM _sl_pykeys_df),
            shared AS (SELECT key FROM allk GROUP BY key HAVING count(DISTINCT line) > 1),
            -- a title+year+author key that meets a stored work only by itself: the resolver may refuse the match
            multi AS (SELECT line FROM _sl_hits GROUP BY line
                      HAVING count(DISTINCT work_id) > 1 OR (bool_or(by_title) AND NOT bool_or(NOT by_title))),
            crowded AS (SELECT work_id FROM _sl_hits GROUP BY work_id HAVING count(DISTINCT line) > 1)
            SELECT DISTINCT k.line FROM _sl_keys k
            WHERE k.key IN (SELECT key FROM shared)
               OR k.line IN (SELECT line FROM multi)
               OR k.line IN (SELECT line FROM _sl_hits WHERE work_id IN (SELECT work_id FROM crowded))
        """, tm=tm, step="resolve")]
    finally:
        con.unregister("_sl_pykeys_df")
    if moved:
        t0 = time.perf_counter()
        records.update(_python_records(state, batch, moved))
        tm["per-record read"] += time.perf_counter() - t0
    # the moved lines leave the SQL path here (_sl_w2 is the stage's, read-only in this transaction)
    _exec(con, """
        CREATE OR REPLACE TEMP TABLE _sl_fw AS
        SELECT w.*, coalesce(h.work_id, 'openalex:' || w.short) AS work_id, h.work_id IS NULL AS new
        FROM _sl_w2 w LEFT JOIN (SELECT DISTINCT line, work_id FROM _sl_hits) h ON h.line = w.line
        WHERE w.line NOT IN (SELECT unnest(?::BIGINT[]))
    """, [sorted(moved)], tm=tm, step="resolve")

    # Authorships and institutions of the SQL lines, each with its order in the batch.
    _exec(con, """
        CREATE OR REPLACE TEMP TABLE _sl_au AS
        SELECT line, work_id, new, pos, 'openalex:' || substr(a.author.id, 22) AS author_id,
               coalesce(nullif(a.raw_author_name, ''), nullif(a.author.display_name, '')) AS raw_name,
               CASE WHEN len(list_filter(a.raw_affiliation_strings, lambda x: x <> '')) > 0
                    THEN array_to_string(list_filter(a.raw_affiliation_strings, lambda x: x <> ''), '; ')
                    ELSE nullif(a.raw_affiliation_string, '') END AS raw_affiliation,
               a.institutions AS insts
        FROM (SELECT f.line, f.work_id, f.new, unnest(s.j.authorships) AS a, generate_subscripts(s.j.authorships, 1) AS pos
              FROM _sl_fw f JOIN _sl_st s ON s.line = f.line)
    """, tm=tm, step="unnest")
    _exec(con, """
        CREATE OR REPLACE TEMP TABLE _sl_ai AS
        SELECT line, work_id, new, pos, author_id, 'openalex:' || substr(i.id, 22) AS institution_id,
               coalesce(nullif(i.display_name, ''), substr(i.id, 22)) AS name,
               CASE WHEN lower(left(nullif(i.ror, ''), 16)) = 'https://ror.org/' THEN substr(i.ror, 17)
                    ELSE nullif(i.ror, '') END AS ror,
               nullif(i.country_code, '') AS country, k
        FROM (SELECT line, work_id, new, pos, author_id, unnest(insts) AS i, generate_subscripts(insts, 1) AS k
              FROM _sl_au WHERE len(insts) > 0)
        WHERE i.id IS NOT NULL AND i.id <> ''
    """, tm=tm, step="unnest")

    # The per-record path's authors and institutions of the Python lines, in their order, so that the first
    # value seen wins over both paths.
    stub_rows, inst_rows = [], []
    for ln in sorted(records):
        k = 0
        for r in records[ln]:
            if isinstance(r, Work):
                for a in r.authorships:
                    stub_rows.append((a.author_key, a.raw_name, r.provenance.source, ln, k))
                    k += 1
            elif isinstance(r, Institution):
                inst_rows.append((r.key, r.name, r.ror, r.country, ln, k))
                k += 1
    counts = state.summary.rows
    con.register("_sl_pyau_df", pd.DataFrame(stub_rows, columns=["author_id", "name", "source", "line", "k"], dtype=object))
    con.register("_sl_pyin_df", pd.DataFrame(inst_rows, columns=["institution_id", "name", "ror", "country", "line", "k"], dtype=object))
    try:
        counts["authors"] += _exec(con, """
            INSERT INTO authors (author_id, name, orcid, field, source)
            SELECT author_id, arg_min(name, o), NULL, NULL, arg_min(source, o) FROM (
                SELECT author_id, raw_name AS name, 'openalex' AS source, line * 1000000000 + pos AS o FROM _sl_au
                UNION ALL
                SELECT author_id::VARCHAR, name::VARCHAR, source::VARCHAR, line::BIGINT * 1000000000 + k::BIGINT FROM _sl_pyau_df
            ) GROUP BY author_id
            ON CONFLICT (author_id) DO NOTHING
        """, tm=tm, step="insert authors")
        counts["institutions"] += _exec(con, """
            INSERT INTO institutions (institution_id, name, ror, country)
            SELECT institution_id, arg_min(name, o), arg_min(ror, o) FILTER (WHERE ror IS NOT NULL),
                   arg_min(country, o) FILTER (WHERE country IS NOT NULL) FROM (
                -- a work's first mention of an institution is its record (openalex._authorships keeps that one)
                SELECT institution_id, name, ror, country, line * 1000000000 + pos * 10000 + k AS o FROM _sl_ai
                QUALIFY row_number() OVER (PARTITION BY line, institution_id ORDER BY pos, k) = 1
                UNION ALL
                SELECT institution_id::VARCHAR, name::VARCHAR, ror::VARCHAR, country::VARCHAR,
                       line::BIGINT * 1000000000 + k::BIGINT FROM _sl_pyin_df
            ) GROUP BY institution_id
            ON CONFLICT (institution_id) DO UPDATE SET ror = COALESCE(institutions.ror, excluded.ror),
                                                      country = COALESCE(institutions.country, excluded.country)
        """, tm=tm, step="insert institutions")
    finally:
        con.unregister("_sl_pyau_df")
        con.unregister("_sl_pyin_df")

    _write_sql_rows(con, counts, tm)
    n_fast = _exec(con, "SELECT count(*) FROM _sl_fw")

    # The per-record path, in line order, inside this part's transaction.
    py_records = [r for ln in sorted(records) for r in records[ln]]
    if py_records:
        t0 = time.perf_counter()
        written = write_records(_NoTransaction(con), py_records)
        tm["per-record write"] += time.perf_counter() - t0
        for table_name, n in written.counts.items():
            counts[table_name] += n
    n_py_works = sum(1 for r in py_records if isinstance(r, Work))
    quarantined = [r for r in py_records if isinstance(r, Quarantined)]
    state.summary.quarantine_reasons += [(q.origin, q.reason) for q in quarantined]
    state.quarantined += len(quarantined)
    state.works += n_fast + n_py_works
    state.summary.lines += n_lines
    state.summary.via_sql += n_fast
    state.summary.via_python += len(records)


def _write_sql_rows(con: duckdb.DuckDBPyConnection, counts: Counter, tm: Counter) -> None:
    """Rows of the SQL lines, with the writer's upsert rules (see store/writer.py)."""
    fill = lambda t, cols: ", ".join(f"{c} = COALESCE({t}.{c}, excluded.{c})" for c in cols)
    work_cols = ["title", "abstract", "publication_date", "year", "category", "field", "venue", "doi", "arxiv_id",
                 "code_badge", "reported_ai_score"]
    counts["works"] += _exec(con, f"""
        INSERT INTO works (work_id, title, abstract, publication_date, year, category, field, venue, doi, arxiv_id,
                           authors_truncated, code_badge, cited_by_count, reported_ai_score)
        SELECT work_id, title, abstract, pd, year, category, field, venue, doi, arxiv_id,
               authors_truncated, NULL, cited_by_count, NULL FROM _sl_fw
        ON CONFLICT (work_id) DO UPDATE SET {fill('works', work_cols)},
            cited_by_count = GREATEST(works.cited_by_count, excluded.cited_by_count),
            authors_truncated = works.authors_truncated AND excluded.authors_truncated
    """, tm=tm, step="insert works")
    counts["work_keys"] += _exec(con, """
        INSERT INTO work_keys (key, work_id)
        SELECT k.key, f.work_id FROM _sl_keys k JOIN _sl_fw f ON f.line = k.line
        ON CONFLICT (key) DO UPDATE SET work_id = excluded.work_id
    """, tm=tm, step="insert work_keys")
    counts["work_sources"] += _exec(con, """
        INSERT INTO work_sources (work_id, source, source_id, as_of)
        SELECT work_id, 'openalex', short, as_of FROM _sl_fw
        ON CONFLICT (work_id, source) DO UPDATE SET source_id = excluded.source_id, as_of = excluded.as_of
    """, tm=tm, step="insert work_sources")
    counts["authorships"] += _exec(con, f"""
        INSERT INTO authorships (work_id, author_id, position, raw_name, raw_affiliation)
        SELECT work_id, author_id, min(pos), arg_min(raw_name, pos),
               arg_min(raw_affiliation, pos) FILTER (WHERE raw_affiliation IS NOT NULL)
        FROM _sl_au GROUP BY work_id, author_id
        ON CONFLICT (work_id, author_id) DO UPDATE SET {fill('authorships', ['position', 'raw_name', 'raw_affiliation'])}
    """, tm=tm, step="insert authorships")
    counts["authorship_institutions"] += _exec(con, """
        INSERT INTO authorship_institutions (work_id, author_id, institution_id)
        SELECT DISTINCT work_id, author_id, institution_id FROM _sl_ai
        ON CONFLICT DO NOTHING
    """, tm=tm, step="insert authorship_institutions")
    # citations has no primary key (store/schema.py): its rows are made unique here. A work new to the store (no
    # key of its line in work_keys) has no citation yet: every writer that writes a citation with an
    # "openalex:W..." citing key writes that key to work_keys in the same transaction, and work_keys rows are
    # never deleted. Its references (distinct) go in as they are. The references of a work the store already
    # holds (a rerun, a newer copy) go in only where the edge is not there yet (an anti-join).
    cite = """
        SELECT 'openalex:' || short AS citing_key, 'openalex:' || substr(r, 22) AS cited_key
        FROM (SELECT f.short, unnest(list_distinct(s.j.referenced_works)) AS r
              FROM _sl_fw f JOIN _sl_st s ON s.line = f.line WHERE {which})"""
    counts["citations"] += _exec(con, f"""
        INSERT INTO citations (citing_key, cited_key, source)
        SELECT citing_key, cited_key, 'openalex' FROM ({cite.format(which="f.new")})
    """, tm=tm, step="insert citations")
    if _exec(con, "SELECT count(*) FROM _sl_fw WHERE NOT new"):
        counts["citations"] += _exec(con, f"""
            INSERT INTO citations (citing_key, cited_key, source)
            SELECT c.citing_key, c.cited_key, 'openalex' FROM ({cite.format(which="NOT f.new")}) c
            WHERE NOT EXISTS (SELECT 1 FROM citations t WHERE t.citing_key = c.citing_key AND t.cited_key = c.cited_key)
        """, tm=tm, step="insert citations (works already stored)")
    counts["counts_by_year"] += _exec(con, """
        INSERT INTO counts_by_year (work_id, year, cited_by, source)
        SELECT work_id, year, arg_max(cited_by, idx), 'openalex' FROM (
            SELECT work_id, c.year AS year, c.cited_by_count AS cited_by, idx
            FROM (SELECT f.work_id, unnest(s.j.counts_by_year) AS c, generate_subscripts(s.j.counts_by_year, 1) AS idx
                  FROM _sl_fw f JOIN _sl_st s ON s.line = f.line)
            WHERE c.year IS NOT NULL AND c.cited_by_count IS NOT NULL
        ) GROUP BY work_id, year
        ON CONFLICT (work_id, year, source) DO UPDATE SET cited_by = excluded.cited_by
    """, tm=tm, step="insert counts_by_year")
    counts["code_links"] += _exec(con, """
        INSERT INTO code_links (work_id, url, host, found_in)
        SELECT work_id, c.url, arg_min(c.host, idx), 'source' FROM (
            SELECT work_id, unnest(code) AS c, generate_subscripts(code, 1) AS idx FROM _sl_fw WHERE code IS NOT NULL
        ) GROUP BY work_id, c.url
        ON CONFLICT DO NOTHING
    """, tm=tm, step="insert code_links")
    counts["reported"] += _exec(con, """
        INSERT INTO reported (entity, entity_id, metric, source, value, source_id, as_of)
        SELECT 'work', work_id, metric, 'openalex', value, short, as_of FROM (
            SELECT work_id, short, as_of, 'cited_by_count' AS metric, cited_by_count::DOUBLE AS value FROM _sl_fw
            UNION ALL SELECT work_id, short, as_of, 'fwci', fwci FROM _sl_fw
            UNION ALL SELECT work_id, short, as_of, 'citation_normalized_percentile', cnp FROM _sl_fw
        ) WHERE value IS NOT NULL
        ON CONFLICT (entity, entity_id, metric, source) DO UPDATE SET value = excluded.value,
            source_id = excluded.source_id, as_of = excluded.as_of
    """, tm=tm, step="insert reported")


# --- the whole snapshot ---------------------------------------------------------------------------------------

def _mark_done(con: duckdb.DuckDBPyConnection, digest: str, path: Path, works: int, quarantined: int) -> None:
    # The same row pipeline.ingest_file writes when it marks a file done.
    con.execute(
        "INSERT INTO ingested_files (sha256, path, format, records, quarantined) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, finished_at = now()",
        [digest, str(path), SNAPSHOT_FORMAT, works, quarantined],
    )


class _Lookahead:
    """The reader's events, with a look at the next few: the first batch of the next part is staged while the
    last batch of this one is written."""

    def __init__(self, events: Iterator):
        self.events = events
        self.ahead: deque = deque()

    def next(self):
        return self.ahead.popleft() if self.ahead else next(self.events, None)

    def peek(self, k: int):
        while len(self.ahead) < k:
            self.ahead.append(next(self.events, None))
        return self.ahead[k - 1]

    def close(self) -> None:
        self.events.close()


def _next(events: _Lookahead, summary: SnapshotSummary, peek: int = 0):
    """The next event (or, with ``peek``, the one that many ahead, left in place)."""
    t0 = time.perf_counter()
    item = events.peek(peek) if peek else events.next()
    summary.timings["wait for inflate"] += time.perf_counter() - t0
    return item


def _settings(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, str]:
    rows = con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN (SELECT unnest(?::VARCHAR[]))", [names]
    ).fetchall()
    return dict(rows)


def ingest_snapshot(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    progress: ProgressFn | None = None,
    memory_limit: str | None = "1GB",
    threads: int | None = None,
    batch_bytes: int = BATCH_BYTES,
    force: bool = False,
) -> SnapshotSummary:
    """Load an OpenAlex works snapshot (or a part of it) into the store; see the module docstring.

    ``memory_limit`` and ``threads`` are DuckDB's, set for the ingest and restored after; ``batch_bytes`` is the
    JSON read per batch; ``force`` reads parts already marked done again. Raises InputError for a missing or
    empty PATH, before writing."""
    start = time.perf_counter()
    parts, skipped = find_parts(path)
    summary = SnapshotSummary(ignored_files=[str(p) for p in skipped])
    sizes = [p.stat().st_size for p in parts]
    total_bytes = sum(sizes)
    done_bytes = 0

    wanted = {"preserve_insertion_order": "false"}
    if memory_limit:
        wanted["memory_limit"] = memory_limit
    if threads:
        wanted["threads"] = str(threads)
    before = _settings(con, list(wanted))
    for name, value in wanted.items():
        con.execute(f"SET {name} = '{value}'")
    for name, fn, args, ret in _UDFS:
        con.create_function(name, fn, args, ret, null_handling="special", side_effects=False)
    for name, fn, args, ret in _ARROW_UDFS:
        con.create_function(name, fn, args, ret, type="arrow", null_handling="special", side_effects=False)
    categories: dict = {}

    def tell(i: int, part: Path, read_in_part: int) -> None:
        if progress:
            info = SnapshotProgress(i, len(parts), summary.works, done_bytes + read_in_part, total_bytes,
                                    time.perf_counter() - start, part)
            progress(done_bytes + read_in_part, total_bytes, part, info)

    # The reader thread checks "done" on a connection of its own: it sees what earlier runs committed.
    cursor = con.cursor()
    # The next batch of a part is staged on another connection, in a thread, while this one writes the batch
    # before it (_stage_batch); the staged tables live in an in-memory database both connections see.
    con.execute(f"ATTACH ':memory:' AS {STAGE_DB}")
    stage_con = con.cursor()
    stager = ThreadPoolExecutor(1, thread_name_prefix="snapshot-stage")
    slot = 0

    def stage(batch):
        nonlocal slot
        slot ^= 1
        return stager.submit(_stage_batch, stage_con, batch, categories, slot)

    def is_done(digest: str) -> bool:
        return _is_done(cursor, digest)

    events = _Lookahead(_prefetch(_events(parts, sizes, batch_bytes, force, is_done)))
    ahead = None  # (the first batch of the next part, its staging), when staged ahead
    # The UDFs make many short-lived objects and no cycles: the cyclic collector would only walk them (measured:
    # a few per cent of the CPU).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        ev = _next(events, summary)
        while ev is not None:
            start_ev: _PartStart = ev
            i, part, size = start_ev.index, start_ev.path, start_ev.size
            tell(i, part, 0)
            if start_ev.done:
                summary.parts_already_done += 1
                done_bytes += size
                ev = _next(events, summary)
                continue
            reader = start_ev.reader
            state = _PartState(part, str(part), FileReport(part, format="jsonl"), summary, categories)
            works_before = summary.works
            batch = _next(events, summary)
            batch = None if batch is _PART_END else batch
            if batch is None:
                staging = None
            elif ahead is not None and ahead[0] is batch:
                staging = ahead[1]
            else:
                staging = stage(batch)
            ahead = None
            while True:
                # One transaction per batch, so memory stays bounded whatever the size of a part (DuckDB keeps a
                # transaction's appends and index entries in memory). The part is marked done in the transaction
                # of its last batch; a part killed before that is read again from its start, and its batches
                # already committed change nothing (every write is idempotent).
                following = _next(events, summary) if batch is not None else _PART_END
                last = following is _PART_END
                staged = None
                if staging is not None:  # before BEGIN: the transaction sees the stage's tables once made
                    t0 = time.perf_counter()
                    staged = staging.result()
                    summary.timings["wait for stage"] += time.perf_counter() - t0
                staging = stage(following) if not last else None
                if last:  # the next part's first batch, staged while this part's last one is written
                    nxt = _next(events, summary, peek=1)
                    if isinstance(nxt, _PartStart) and not nxt.done:
                        first = _next(events, summary, peek=2)
                        if first is not None and first is not _PART_END:
                            ahead = (first, stage(first))
                con.execute("BEGIN TRANSACTION")
                try:
                    if batch is not None:
                        _process_batch(con, batch, state, staged)
                    if last:
                        if reader.problem is None and reader.json_bytes == 0:
                            reader.problem = Quarantined(str(part), "empty file")  # as the per-record path says
                        if reader.problem is not None:
                            write_records(_NoTransaction(con), [reader.problem])
                            summary.quarantine_reasons.append((reader.problem.origin, reader.problem.reason))
                            state.quarantined += 1
                        _mark_done(con, start_ev.digest, part, state.works, state.quarantined)
                    _exec(con, "COMMIT", tm=summary.timings, step="commit")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                summary.works = works_before + state.works
                if batch is not None:
                    tell(i, part, batch.compressed_pos)
                if last:
                    break
                batch = following
            summary.parts += 1
            summary.quarantined += state.quarantined
            summary.bytes_read += size
            summary.json_bytes += reader.json_bytes
            done_bytes += size
            ev = _next(events, summary)
        if progress and parts:
            tell(len(parts), parts[-1], 0)
    finally:
        if gc_was_enabled:
            gc.enable()
        events.close()
        stager.shutdown(wait=True, cancel_futures=True)  # nothing may use the connection after we return
        stage_con.close()
        cursor.close()
        for name, *_ in _UDFS + _ARROW_UDFS:
            try:
                con.remove_function(name)
            except Exception:  # noqa: BLE001, S110 - a failed ingest may have left the connection unusable
                pass
        for name, value in before.items():
            try:
                con.execute(f"SET {name} = '{value}'")
            except Exception:  # noqa: BLE001, S110 - as above
                pass
        for drop in ("DROP VIEW IF EXISTS _sl_st", "DROP VIEW IF EXISTS _sl_w2", f"DETACH DATABASE IF EXISTS {STAGE_DB}",
                     *(f"DROP TABLE IF EXISTS {t}" for t in ("_sl_keys", "_sl_hits", "_sl_fw", "_sl_au", "_sl_ai"))):
            try:
                con.execute(drop)
            except Exception:  # noqa: BLE001, S110 - as above
                pass
    summary.seconds = time.perf_counter() - start
    return summary
