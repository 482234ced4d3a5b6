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
from . import openalex, profile_page, s2ag, semanticscholar
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


def _read_text(path: Path) -> tuple[str, Quarantined | None]:
    """The file's text; for a truncated or corrupt .gz, what could be read plus a quarantine note."""
    data = path.read_bytes()
    problem = None
    if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
        # Decompress incrementally so a truncated archive still yields its intact prefix.
        out = bytearray()
        decomp = zlib.decompressobj(wbits=31)
        try:
            out += decomp.decompress(data)
            if not decomp.eof:
                problem = Quarantined(str(path), "truncated gzip: the archive ends before its end-of-stream marker")
        except zlib.error as exc:
            problem = Quarantined(str(path), f"corrupt gzip: {exc}")
        data = bytes(out)
        if problem is not None:
            # The last line is probably cut in the middle: keep only complete lines.
            cut = data.rfind(b"\n")
            tail = data[cut + 1:] if cut >= 0 else data
            data = data[: cut + 1] if cut >= 0 else b""
            if tail.strip():
                problem.raw = tail[:RAW_LIMIT].decode("utf-8", "replace")
    text = data.decode("utf-8", errors="replace")
    return text, problem


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
    """Records from one file, whatever its format; problems become Quarantined records."""
    report = report or FileReport(path)
    origin = str(path)
    try:
        text, problem = _read_text(path)
    except OSError as exc:
        yield Quarantined(origin, f"cannot read file: {exc.strerror or exc}")
        return
    if problem is not None:
        yield problem
    stripped = text.strip()
    if not stripped:
        yield Quarantined(origin, "empty file")
        return

    if stripped[0] in "{[":
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError as exc:
            whole = None
            first_error = exc
        else:
            report.objects += len(whole) if isinstance(whole, list) else 1
            yield from _records_from_object(whole, origin, report)
            return
        lines = [ln for ln in stripped.splitlines()]
        if len(lines) > 1 and lines[0].strip().startswith("{"):
            # JSON Lines (an OpenAlex snapshot part or an S2AG dump): one object per line.
            report.format = report.format if report.format != "unknown" else "jsonl"
            for n, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                where = f"{origin}:{n}"
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Quarantined(where, f"malformed JSON line: {exc.msg} at column {exc.colno}", line[:RAW_LIMIT])
                    continue
                report.objects += 1
                yield from _records_from_object(obj, where, report)
            return
        yield Quarantined(origin, f"malformed JSON: {first_error.msg} at line {first_error.lineno} column {first_error.colno}", stripped[:RAW_LIMIT])
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
