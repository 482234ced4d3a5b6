"""`scholarlens score` and `scholarlens train ai-score`: the AI Score from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .cli import app, console, err, fail

train_app = typer.Typer(help="Rebuild a shipped model from its data.", no_args_is_help=True)
app.add_typer(train_app, name="train")

BACKENDS = ("offline", "llm")


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def make_scorer(backend: str, cache_dir: Optional[Path] = None):
    if backend == "offline":
        from ..aiscore.model import load_model

        return load_model()
    from ..aiscore.llm import reviewer_from_config
    from ..config import ConfigError

    try:
        return reviewer_from_config(cache_dir=cache_dir)
    except ConfigError as exc:
        fail(f"the llm backend needs an endpoint: {exc}")


@app.command()
def score(
    input: Path = typer.Option(..., "--input", "-i", help="JSON Lines: id, title, abstract, optional has_code, n_authors, n_references."),
    output: Path = typer.Option(..., "--output", "-o", help="JSON Lines out, one line per input line, in order."),
    backend: str = typer.Option("offline", help="offline (the shipped model, no network) or llm (an OpenAI-compatible endpoint)."),
    cache_dir: Optional[Path] = typer.Option(None, help="LLM answer cache (default: your user cache dir)."),
) -> None:
    """Give each paper an AI Score with its reasons. Exits 2 if some lines could not be scored.

    Example: scholarlens score --input papers.jsonl --output scores.jsonl
    """
    if backend not in BACKENDS:
        fail(f"unknown backend {backend!r}: choose {' or '.join(BACKENDS)}")
    if not input.exists():
        fail(f"no such file: {input}")
    from ..aiscore.batch import score_file

    scorer = make_scorer(backend, cache_dir)
    total = _count_lines(input)
    columns = [TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    try:
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("score", total=total)
            summary = score_file(input, output, scorer, backend=backend, progress=lambda n: bar.advance(task, n))
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    finally:
        close = getattr(scorer, "close", None)
        if close:
            close()
    console.print(f"scored {summary.scored} of {summary.lines} papers into {output}")
    run = getattr(scorer, "total", None)
    if run is not None and hasattr(run, "as_dict"):
        console.print("llm: " + json.dumps(run.as_dict()))
    if summary.failed:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.reasons.items()))
        err.print(f"[yellow]{summary.failed} line(s) not scored[/] ({kinds}); each has an output line with its error")
        raise typer.Exit(2)


@train_app.command("ai-score")
def train_ai_score(
    report: Optional[Path] = typer.Option(None, help="Also write the cross-validation report as JSON here."),
) -> None:
    """Rebuild the offline AI Score model from data/iclr_openreview and print its cross-validated figures.

    Example: scholarlens train ai-score
    """
    from ..aiscore import train

    try:
        result = train.main(report_path=report)
    except FileNotFoundError as exc:
        fail(f"training data not found: {exc}. It ships in the source repository (data/iclr_openreview), not in the wheel")
    console.print_json(json.dumps(result, default=str))
