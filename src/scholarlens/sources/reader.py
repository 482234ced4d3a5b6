"""Reading input files: folders, gzip, JSON, JSON Lines and profile pages, with the format detected from content.

Every source module turns one parsed object into records; this module finds the objects. Whatever cannot be
read (bad JSON, a truncated .gz, an unknown format) becomes a ``Quarantined`` record with its reason, and the
rest of the file still goes through.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ..records import Quarantined, Record
from . import arxiv, openalex, profile_page, s2ag, semanticscholar
from .fields import RAW_LIMIT, raw_json

# Files that describe data rather than hold it.
_NOT_DATA = ("source.md", "readme", "license")


class InputError(Exception):
    """An input path that does not exist or cannot be read at all."""


@dataclass
class FileReport:
    """What one file held: the format it was read as, and what was skipped as recognised-but-unused."""

    path: Path
    format: str = "unknown"
    objects: int = 0
    skipped: int = 0  # recognised records this version does not use (S2AG tldrs, OpenAlex concepts, ...)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files under the given files and folders, in a stable order. A missing path is an error."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise InputError(f"no such file or folder: {p}")
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not f.name.startswith(".") and not f.name.lower().startswith(_NOT_DATA):
                    found.append(f)
        else:
            found.append(p)
    return found


class _Lines:
    """The file's lines as bytes, read as a stream (a snapshot part never sits whole in memory). A truncated or
    corrupt .gz ends the stream early and leaves its reason in ``problem``; the lines before it are intact."""

    def __init__(self, path: Path):
        self.path = path
        self.problem: Quarantined | None = None
        self.number = 0  # 1-based number of the last line handed out
        with path.open("rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
        self._stream = gzip.open(path, "rb") if gz else path.open("rb")

    def __iter__(self) -> Iterator[bytes]:
        try:
            for line in self._stream:
                self.number += 1
                yield line
        except EOFError:
            self.problem = Quarantined(str(self.path), "truncated gzip: the archive ends before its end-of-stream marker")
        except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            self.problem = Quarantined(str(self.path), f"corrupt gzip: {exc}")
        finally:
            self._stream.close()


def _records_from_object(obj, origin: str, report: FileReport) -> Iterator[Record]:
    """Send one parsed JSON value to the source that recognises it."""
    if semanticscholar.semanticscholar_kind(obj) is not None:
        report.format = "semanticscholar"
        produced = list(semanticscholar.records_from_semanticscholar(obj, origin))
        if not produced:
            report.skipped += 1  # snippets, datasets, an empty page: recognised, nothing to keep
        yield from produced
        return
    if isinstance(obj, dict):
        if openalex.is_openalex(obj):
            report.format = "openalex"
            produced = list(openalex.records_from_openalex(obj, origin))
            if not produced and openalex.openalex_kind(obj) != "list":
                report.skipped += 1  # concepts, topics, funders, autocomplete: recognised, not used
            yield from produced
            return
        kind = s2ag.s2ag_kind(obj)
        if kind is not None:
            report.format = f"s2ag-{kind}"
            produced = list(s2ag.records_from_s2ag(obj, origin))
            if not produced:
                report.skipped += 1  # tldrs, paper-ids, venues, embeddings, s2orc
            yield from produced
            return
    if isinstance(obj, list):
        # A JSON array of records (not a Semantic Scholar batch answer): each item on its own.
        for i, item in enumerate(obj):
            if item is None:
                report.skipped += 1  # a batch answer's "not found" slot
                continue
            yield from _records_from_object(item, f"{origin}#{i}", report)
        return
    yield Quarantined(origin, "unrecognised record: not OpenAlex, Semantic Scholar or S2AG", raw_json(obj))


def read_file(path: Path, report: FileReport | None = None) -> Iterator[Record]:
    """Records from one file, whatever its format; problems become Quarantined records.

    JSON Lines (a first line that is a whole JSON value, then more) are read one line at a time; anything else
    (a JSON document, a profile page) is read whole.
    """
    report = report or FileReport(path)
    origin = str(path)
    try:
        lines = _Lines(path)
    except OSError as exc:
        yield Quarantined(origin, f"cannot read file: {exc.strerror or exc}")
        return
    stream = iter(lines)
    first = next((ln for ln in stream if ln.strip()), None)
    if first is None:
        yield lines.problem or Quarantined(origin, "empty file")
        return
    first_text = first.decode("utf-8", errors="replace").strip()
    first_number = lines.number

    if first_text[0] in "{[":
        try:
            head = json.loads(first_text)
        except json.JSONDecodeError:
            head = None
        if head is not None:
            second = next((ln for ln in stream if ln.strip()), None)
            if second is None:  # one JSON value on one line
                report.objects += len(head) if isinstance(head, list) else 1
                yield from _records_from_object(head, origin, report)
            else:
                yield from _json_lines(origin, report, [(first_number, first), (lines.number, second)], lines, stream)
            if lines.problem:
                yield lines.problem
            return
        yield from _json_document(origin, report, first + b"".join(stream), lines)
        return

    data = first + b"".join(stream)
    text = data.decode("utf-8", errors="replace")
    if lines.problem:
        yield lines.problem
    stripped = text.strip()
    if arxiv.looks_like_arxiv_atom(data):
        report.format = "arxiv"
        yield from arxiv.records_from_atom(data, origin, report)
        return
    if profile_page.looks_like_profile_page(text):
        report.format = "profile-page"
        try:
            page = profile_page.parse_profile_page(text, origin)
        except profile_page.ProfilePageError as exc:
            yield Quarantined(origin, f"unreadable profile page: {exc}", stripped[:RAW_LIMIT])
            return
        report.objects += len(page.cards)
        yield from profile_page.records_from_profile_page(page)
        return
    yield Quarantined(origin, "unknown format: not JSON, JSON Lines or a profile page", stripped[:RAW_LIMIT])


def _json_lines(origin: str, report: FileReport, head: list[tuple[int, bytes]], lines: _Lines, rest) -> Iterator[Record]:
    """JSON Lines (an OpenAlex snapshot part, an S2AG dump): one object per line, a bad line set aside alone."""
    if report.format == "unknown":
        report.format = "jsonl"

    def numbered():
        yield from head
        for line in rest:
            yield lines.number, line

    for number, raw in numbered():
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            continue
        where = f"{origin}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Quarantined(where, f"malformed JSON line: {exc.msg} at column {exc.colno}", line[:RAW_LIMIT])
            continue
        report.objects += 1
        yield from _records_from_object(obj, where, report)


def _json_document(origin: str, report: FileReport, data: bytes, lines: _Lines) -> Iterator[Record]:
    """A JSON document spread over lines (an API response saved pretty-printed), or JSON Lines whose first
    line is broken."""
    text = data.decode("utf-8", errors="replace").strip()
    if lines.problem:
        yield lines.problem
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as exc:
        error = exc
    else:
        report.objects += len(whole) if isinstance(whole, list) else 1
        yield from _records_from_object(whole, origin, report)
        return
    split = text.splitlines()
    if len(split) > 1 and all(ln.strip().startswith("{") for ln in split[1:3] if ln.strip()):
        yield from _json_lines(origin, report, list(enumerate((ln.encode() for ln in split), start=1)), lines, iter(()))
        return
    yield Quarantined(origin, f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}", text[:RAW_LIMIT])
