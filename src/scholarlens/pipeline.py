"""The build: ingest files into the store, then compute the analytics tables. Resumable, with progress.

A file is written in batches, each in its own transaction, and marked done (by its content hash) in the same
transaction as its last batch. A build killed in the middle leaves whole batches only; the rerun skips the
files already marked and rewrites the interrupted one, whose upserts add nothing twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import duckdb

from .records import Quarantined
from .sources.reader import FileReport, expand_paths, read_file
from .store.writer import write_records

BATCH_RECORDS = 20_000

# Called with (files done, files in all, path being read) so the CLI can draw a progress bar.
ProgressFn = Callable[[int, int, Path], None]


@dataclass
class IngestSummary:
    files: int = 0
    files_already_done: int = 0
    rows: Counter = field(default_factory=Counter)
    objects: int = 0  # JSON objects, lines or page cards read
    quarantined: int = 0
    skipped: int = 0
    formats: Counter = field(default_factory=Counter)
    quarantine_reasons: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "files_already_done": self.files_already_done,
            "objects_read": self.objects,
            "rows_written": dict(self.rows),
            "quarantined": self.quarantined,
            "skipped_recognised_unused": self.skipped,
            "formats": dict(self.formats),
        }


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_done(con: duckdb.DuckDBPyConnection, digest: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM ingested_files WHERE sha256 = ?", [digest]).fetchall()[0][0])


def ingest_file(con: duckdb.DuckDBPyConnection, path: Path, summary: IngestSummary, *, force: bool = False) -> None:
    try:
        digest = file_digest(path)
    except OSError as exc:  # unreadable (permissions, a vanished file): set aside, the build goes on
        record = Quarantined(str(path), f"cannot read file: {exc.strerror or exc}")
        write_records(con, [record])
        summary.quarantined += 1
        summary.quarantine_reasons.append((record.origin, record.reason))
        return
    if not force and _is_done(con, digest):
        summary.files_already_done += 1
        return
    report = FileReport(path)
    batch: list = []
    quarantined = 0
    records_seen = 0

    def mark_done(c: duckdb.DuckDBPyConnection) -> None:
        c.execute(
            "INSERT INTO ingested_files (sha256, path, format, records, quarantined) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, finished_at = now()",
            [digest, str(path), report.format, records_seen, quarantined],
        )

    def flush(last: bool) -> None:
        written = write_records(con, batch, before_commit=mark_done if last else None)
        summary.rows.update(written.counts)
        batch.clear()

    for record in read_file(path, report):
        records_seen += 1
        if isinstance(record, Quarantined):
            quarantined += 1
            summary.quarantine_reasons.append((record.origin, record.reason))
        batch.append(record)
        if len(batch) >= BATCH_RECORDS:
            flush(last=False)
    flush(last=True)
    summary.files += 1
    summary.quarantined += quarantined
    summary.skipped += report.skipped
    summary.objects += report.objects
    summary.formats[report.format] += 1


def ingest(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | Path],
    *,
    progress: ProgressFn | None = None,
    force: bool = False,
) -> IngestSummary:
    """Read every file under ``paths`` into the store. Raises InputError for a missing path, before writing."""
    files = expand_paths(paths)
    summary = IngestSummary()
    for i, path in enumerate(files):
        if progress:
            progress(i, len(files), path)
        ingest_file(con, path, summary, force=force)
    if progress:
        progress(len(files), len(files), files[-1] if files else Path("."))
    return summary


def build(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | Path] = (),
    *,
    progress: ProgressFn | None = None,
    as_of_year: int | None = None,
) -> IngestSummary:
    """Ingest, then (re)compute every analytics table from the store."""
    from .analytics.build import analyse

    summary = ingest(con, paths, progress=progress)
    analyse(con, as_of_year=as_of_year)
    return summary
