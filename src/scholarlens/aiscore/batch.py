"""Batch scoring of a JSON Lines file: `scholarlens score --input papers.jsonl --output scores.jsonl`.

Each input line is a JSON object with an id, a title and an abstract (and optional metadata the backend uses:
has_code, n_authors, n_references). Each output line carries id, ai_score (0-100), p_accept, expected_rating,
reasons, backend and model_version, in input order. A line that cannot be scored (not JSON, no abstract) gets an
output line with its error and reason instead; the run goes on, and the summary counts the failures so the
command can exit non-zero.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

CHUNK = 1000
# Kept out of output lines: the per-feature breakdown behind the reasons (the reasons already say it in words).
INTERNAL_FIELDS = ("drivers",)  # lines scored per call: the offline model is vectorised, the LLM reviewer runs them concurrently


class Scorer(Protocol):
    def score(self, papers: list[dict]) -> list[dict]: ...


@dataclass
class BatchSummary:
    lines: int = 0
    scored: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def fail(self, reason: str) -> None:
        self.failed += 1
        kind = reason.split(":", 1)[0]
        self.reasons[kind] = self.reasons.get(kind, 0) + 1


def as_row(result) -> dict:
    """A scorer's result (a dataclass with to_dict, or a dict) as an output line's fields."""
    row = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    for name in INTERNAL_FIELDS:
        row.pop(name, None)
    return row


def parse_line(text: str, number: int) -> tuple[dict | None, dict | None]:
    """(paper, None) when the line can be scored, else (None, the error line to write)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, {"id": None, "line": number, "error": f"not JSON: {exc.msg} at column {exc.colno}"}
    if not isinstance(obj, dict):
        return None, {"id": None, "line": number, "error": f"not a JSON object but {type(obj).__name__}"}
    pid = obj.get("id")
    if pid is None or (isinstance(pid, str) and not pid.strip()):
        return None, {"id": None, "line": number, "error": "no id"}
    abstract = obj.get("abstract")
    if not isinstance(abstract, str) or not abstract.strip():
        return None, {"id": pid, "line": number, "error": "no abstract: the score is made from the title and abstract"}
    title = obj.get("title")
    if title is not None and not isinstance(title, str):
        return None, {"id": pid, "line": number, "error": f"title is {type(title).__name__}, not text"}
    return {**obj, "id": pid, "title": title or ""}, None


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield number, line


def score_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    scorer: Scorer,
    *,
    backend: str,
    progress: Callable[[int], None] | None = None,
) -> BatchSummary:
    input_path, output_path = Path(input_path), Path(output_path)
    summary = BatchSummary()
    tmp = output_path.with_name(output_path.name + ".partial")
    with tmp.open("w", encoding="utf-8") as out:
        pending: list[tuple[int, dict | None, dict | None]] = []

        def flush() -> None:
            papers = [paper for _, paper, _ in pending if paper is not None]
            results = iter(scorer.score(papers)) if papers else iter(())
            for number, paper, error in pending:
                row = error if paper is None else {"id": paper["id"], "line": number, **as_row(next(results))}
                row.setdefault("backend", backend)
                if row.get("error"):
                    summary.fail(row["error"])
                else:
                    summary.scored += 1
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            if progress:
                progress(len(pending))
            pending.clear()

        for number, text in _numbered_lines(input_path):
            summary.lines += 1
            paper, error = parse_line(text, number)
            pending.append((number, paper, error))
            if len(pending) >= CHUNK:
                flush()
        flush()
    os.replace(tmp, output_path)  # a killed run leaves no half-written output under the real name
    return summary
