"""The scholarlens command line (Typer + Rich).

Every command reads or writes one store (``--store``, default in the user's data dir). Errors a user can fix
(a missing file, an unknown author, a bad option) end in one line on stderr and a non-zero exit, no traceback.
"""

from __future__ import annotations

import json
import tempfile
import webbrowser
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import pipeline
from ..sources.reader import InputError
from ..store import StoreError, connect, table_counts
from ..store import queries

app = typer.Typer(
    help="Researcher profiles from open scholarly data.\n\nExample: scholarlens demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample"


class State:
    store: Optional[Path] = None


state = State()


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@app.callback()
def main(
    store: Optional[Path] = typer.Option(None, "--store", "-s", help="DuckDB store file (default: in your user data dir)."),
) -> None:
    state.store = store


def _open(read_only: bool = False, analysed: bool = False):
    try:
        con = connect(state.store, read_only=read_only)
        if analysed:
            queries.require_analysed(con)
        return con
    except (StoreError, queries.NotAnalysed) as exc:
        fail(str(exc))


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[current]}", style="dim"), console=err, transient=True,
    )


def run_build(con, paths: list[Path]) -> pipeline.IngestSummary:
    from rich.progress import DownloadColumn, TimeRemainingColumn, TransferSpeedColumn

    from ..sources.reader import expand_paths

    try:  # progress in bytes read, so that the rate and the time left are true for files of any size
        sizes = [p.stat().st_size for p in expand_paths(paths)]
    except (InputError, OSError):
        sizes = []
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[files]}"), TextColumn("{task.fields[current]}", style="dim")]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("ingest", total=sum(sizes) or None, current="", files="")

        def report(done: int, total: int, path: Path) -> None:
            bar.update(task, completed=sum(sizes[:done]), current=path.name, files=f"{done}/{total} files")

        try:
            summary = pipeline.ingest(con, paths, progress=report)
        except InputError as exc:
            fail(str(exc))
        bar.update(task, description="analyse", total=None, current="", files="")
        analyse_showing(con, lambda step: bar.update(task, current=step))
    return summary


def analyse_showing(con, show) -> None:
    """analyse(), with ``show(text)`` told each step as it starts and each piece of a long one as it finishes
    ("persons 12/108")."""
    from ..analytics.build import analyse

    analyse(con, on_step=show, on_progress=lambda step, done, total: show(f"{step} {done}/{total}"))


def print_summary(summary: pipeline.IngestSummary, con) -> None:
    table = Table(title="Ingest summary", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files read", str(summary.files))
    table.add_row("files already ingested (skipped)", str(summary.files_already_done))
    for fmt, n in sorted(summary.formats.items()):
        table.add_row(f"  format {fmt}", str(n))
    table.add_row("objects read (JSON objects, lines, page cards)", f"{summary.objects:,}")
    table.add_row("records quarantined", str(summary.quarantined))
    table.add_row("recognised, not used", str(summary.skipped))
    for name, n in table_counts(con).items():
        if name in ("works", "authors", "authorships", "citations", "code_links", "institutions", "reported", "quarantine"):
            table.add_row(f"rows in {name}", f"{n:,}")
    console.print(table)
    if summary.quarantined:
        err.print(f"[yellow]{summary.quarantined} record(s) quarantined[/]; see `scholarlens quarantine`")


@app.command()
def build(
    engine: str = typer.Option("duckdb", help="duckdb (this machine) or spark (local, or a cluster with --spark-master)."),
    spark_master: Optional[str] = typer.Option(None, help="Spark master URL, e.g. spark://host:7077 (default: local)."),
    input: Optional[Path] = typer.Option(None, "--input", help="Build from this Parquet dir (`scholarlens export`) instead of the store."),
    output: Optional[Path] = typer.Option(None, "--output", help="With --input: write the result tables here as Parquet."),
) -> None:
    """Recompute every analytics table, on DuckDB or on Spark (the same analytics, equal results).

    Examples: scholarlens --store my.duckdb build ; scholarlens --store my.duckdb build --engine spark ;
    scholarlens build --engine spark --input export/ --output results/
    """
    if engine not in ("duckdb", "spark"):
        fail(f"unknown engine {engine!r}: duckdb or spark", code=2)
    if (input is None) != (output is None):
        fail("--input and --output go together (or neither: build the store in place)", code=2)
    if spark_master and engine != "spark":
        fail("--spark-master goes with --engine spark", code=2)
    with _progress() as bar:
        task = bar.add_task(f"analyse ({engine})", total=None, current="")
        step = lambda name: bar.update(task, current=name)  # noqa: E731
        if input is not None:
            if not input.exists():
                fail(f"no such folder: {input}")
            from ..engine.run import build as engine_build

            report = engine_build(engine, input, output, spark_master, on_step=step)
            console.print(f"wrote {len(report.get('rows', {}))} result tables to {output}")
            return
        con = _open()
        if engine == "duckdb":
            analyse_showing(con, step)
        else:
            from ..engine.run import build_store

            build_store(con, "spark", spark_master, on_step=step)
    console.print("analytics rebuilt")


@app.command()
def export(
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write one Parquet table per store table into."),
    format: str = typer.Option("parquet", "--format", help="parquet (the only format so far)."),
) -> None:
    """Export the store's input tables, for a build elsewhere (`build --engine spark --input DIR`).

    Example: scholarlens --store my.duckdb export --format parquet --output export/
    """
    if format != "parquet":
        fail(f"unknown format {format!r}: parquet", code=2)
    from ..engine.parquet_io import export_store

    con = _open(read_only=True)
    rows = export_store(con, output)
    console.print(f"exported {len(rows)} tables ({sum(rows.values()):,} rows) to {output}")


@app.command("import-results")
def import_results_command(
    folder: Path = typer.Argument(..., help="A build's output folder (`build --input ... --output FOLDER`, or spark-submit's)."),
) -> None:
    """Bring the result tables of a build made elsewhere (Spark on a cluster, or DuckDB) into the store.

    Each result table replaces the store's, in one transaction; `serve` then shows them.
    Example: scholarlens --store my.duckdb import-results build/
    """
    from ..engine.parquet_io import RESULT_TABLES, import_results, read_manifest, table_dirs

    if not folder.is_dir():
        fail(f"no such folder: {folder}", code=2)
    found = set(table_dirs(folder)) & set(RESULT_TABLES)
    if not read_manifest(folder) or not found:
        fail(f"{folder} is not a build's output: it needs _manifest.json and result tables "
             f"({', '.join(RESULT_TABLES[:3])}, ...)", code=2)
    con = _open()
    imported = import_results(con, folder)
    console.print(f"imported {len(imported)} result tables ({sum(imported.values()):,} rows) from {folder}")


@app.command()
def search(query: str = typer.Argument(..., help="Part of a name, or an author id.")) -> None:
    """Find authors by name.

    Example: scholarlens search turing
    """
    con = _open(read_only=True, analysed=True)
    hits = queries.search_authors(con, query)
    if not hits:
        fail(f"no author matches {query!r}")
    table = Table("id", "name", "works", "h-index", "field")
    for h in hits:
        table.add_row(h.id, h.name, str(h.works_count), "—" if h.h_index is None else str(h.h_index), h.field or "")
    console.print(table)


def _figure(fig: dict, fmt: str = "{:,}", suffix: str = "") -> str:
    """A header figure as the seed page prints it; a star marks a figure the source reported."""
    v = fig["value"]
    if v is None:
        return "—"
    text = fmt.format(v) + suffix
    return text if fig["kind"] == "computed" else f"{text}*"


@app.command()
def profile(
    name: str = typer.Argument(..., help="Author name (or id, from `scholarlens search`)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the page."),
    limit: int = typer.Option(0, "--limit", min=0, help="Show at most this many paper cards (0: all)."),
) -> None:
    """A researcher's profile: header figures and paper cards, newest first.

    Example: scholarlens profile "A. Turing" --json
    """
    con = _open(read_only=True, analysed=True)
    try:
        choices = queries.ambiguous(con, name)
        author_id = _choose(choices, name) if choices else queries.resolve_author(con, name)
        prof = queries.author_profile(con, author_id)
    except queries.NotFound as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(prof, default=str, ensure_ascii=False, indent=2))
        return
    print_profile(prof, limit or None)


def _choose(choices: list[dict], name: str) -> str:
    """Several people share the name: show what tells them apart, and ask (or, not at a terminal, stop)."""
    import sys

    table = Table("#", "id", "name", "institution", "years", "top co-authors", "works", title=f"{len(choices)} people named {name!r}")
    for n, c in enumerate(choices, 1):
        years = f"{c['years'][0]}–{c['years'][1]}" if c["years"] else ""
        table.add_row(str(n), c["id"], c["name"], c["institution"] or "", years, ", ".join(c["top_coauthors"]), str(c["works_count"]))
    err.print(table)
    if not sys.stdin.isatty():
        fail("the name is ambiguous: pass one of the ids above instead (scholarlens profile ID)", code=2)
    pick = typer.prompt("Which one? (number)", type=int)
    if not 1 <= pick <= len(choices):
        fail(f"no candidate {pick}", code=2)
    return choices[pick - 1]["id"]


def print_profile(prof: dict, limit: int | None) -> None:
    f = prof["figures"]
    console.print(f"[bold]{prof['name']}[/]" + (f"  ORCID {prof['orcid']}" if prof.get("orcid") else ""), highlight=False)
    if prof.get("curated"):
        active = [c for c in prof["corrections"] if not c["revoked_at"]]
        console.print(f"[dim]curated: {len(active)} correction(s) by people (scholarlens correct list {prof['id']})[/]")
    console.print()
    console.print(prof["field"] or "")
    console.print(f"h-index[bold]{_figure(f['h_index'])}[/]")
    console.print(f"[bold]{_figure(f['works_count'])}[/]papers")
    console.print(f"[bold]{_figure(f['citations'])}[/]citations")
    console.print(f"Novelty[bold]{_figure(f['novelty'], '{:.0f}', '%')}[/]")
    console.print(f"AI Score[bold]{_figure(f['ai_score'], '{:.0f}')}[/]")
    if any(fig["kind"] == "reported" for fig in f.values()):
        console.print("[dim]* reported by the source, not computable from the store[/]")
    for r in prof["reported"]:
        if r["agrees"] is False:
            console.print(f"[yellow]! {r['metric']}: {r['source']} reports {r['value']:,} (as of {r['as_of']}), we compute {r['computed']:,}[/]")
    console.print()
    console.print(f"{prof['works_total']} Papers")
    for w in prof["works"][: limit or None]:
        console.print()
        score = f"{w['ai_score']:.1f}" if w["ai_score"] is not None else ""
        if w["ai_score_kind"] == "reported":
            score += "*"
        elif w.get("ai_score_reported") is not None:  # the source's own score, another model, beside ours
            score += f" ({w['ai_score_reported']:.1f}*)"
        code = "[green]Code[/]" if w["code"] else ""
        console.print(f"{score}[bold cyan]{w['category'] or ''}[/]{w['date_display'] or ''}{code}", highlight=False)
        console.print(f"[bold]{w['title'] or '(untitled)'}[/]", highlight=False)
        console.print()
        authors = ", ".join(w["authors"][:3])
        if w["authors_truncated"] or len(w["authors"]) > 3:
            authors += " et al."
        if w["affiliation"]:
            authors += f" · {w['affiliation']}"
        console.print(authors, highlight=False)
        details = []
        if w["citations"] is not None:
            details.append(f"{w['citations']:,} citations")
        if w["novelty"] is not None:
            text = f"novelty {w['novelty']:.0f}"
            if w["novelty_neighbours"]:
                n = w["novelty_neighbours"][0]
                text += f" (nearest earlier work: {n['title']}, {n['year']}, similarity {n['similarity']:.2f})"
            details.append(text)
        if w["disruption"] and w["disruption"]["cd"] is not None:
            details.append(f"CD {w['disruption']['cd']:.2f} ({w['disruption']['i']} citing in {w['disruption']['delta']} years)")
        if w["code_url"]:
            details.append(w["code_url"])
        if details:
            console.print("[dim]" + " · ".join(details) + "[/]", highlight=False)
        if w["abstract"]:
            console.print()
            console.print(w["abstract"], highlight=False)
    if limit and prof["works_total"] > limit:
        console.print(f"\n[dim]… {prof['works_total'] - limit} more (use --limit 0)[/]")


@app.command()
def quarantine(limit: int = typer.Option(50, min=1, help="Rows to show.")) -> None:
    """Records that could not be read, with their reasons.

    Example: scholarlens --store my.duckdb quarantine
    """
    con = _open(read_only=True)
    rows = con.execute("SELECT origin, reason FROM quarantine ORDER BY first_seen, origin LIMIT ?", [limit]).fetchall()
    total = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    table = Table(title=f"{total} quarantined record(s)")
    table.add_column("origin", overflow="fold", ratio=3)
    table.add_column("reason", overflow="fold", ratio=2)
    for origin, reason in rows:
        table.add_row(origin, reason)
    console.print(table)


@app.command("code-audit")
def code_audit() -> None:
    """Works where the source shows a Code badge but no repository link is known (the source had another lead).

    Example: scholarlens --store my.duckdb code-audit
    """
    con = _open(read_only=True)
    rows = con.execute(
        """SELECT w.title, w.publication_date, string_agg(DISTINCT s.source, ', ')
           FROM works w JOIN work_sources s USING (work_id)
           WHERE w.code_badge AND NOT EXISTS (SELECT 1 FROM code_links c WHERE c.work_id = w.work_id)
           GROUP BY ALL ORDER BY w.publication_date DESC NULLS LAST, w.title"""
    ).fetchall()
    table = Table("title", "date", "source", title=f"{len(rows)} work(s) with a Code badge and no link")
    for title, date, source in rows:
        table.add_row(title, str(date or ""), source)
    console.print(table)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    admin_token: Optional[str] = typer.Option(
        None, envvar="SCHOLARLENS_ADMIN_TOKEN", help="Accept corrections from requests carrying this token (else read-only)."),
) -> None:
    """Serve an existing store in the browser (profile, paper and search pages; JSON API under /api).

    Example: scholarlens --store my.duckdb serve --port 8000
    """
    _serve(state.store, host, port, open_browser=False, admin_token=admin_token)


def _serve(store: Optional[Path], host: str, port: int, open_browser: bool, admin_token: Optional[str] = None) -> None:
    import uvicorn

    from .web import create_app

    try:
        web_app = create_app(store, admin_token=admin_token)
    except (StoreError, queries.NotAnalysed) as exc:
        fail(str(exc))
    url = f"http://{host}:{port}/"
    console.print(f"serving {store} on [bold]{url}[/] (Ctrl+C to stop)")
    if open_browser:
        webbrowser.open(url)
    uvicorn.run(web_app, host=host, port=port, log_level="warning")


@app.command()
def demo(
    port: int = typer.Option(8000, min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    no_open: bool = typer.Option(False, "--no-open", help="Do not open a browser."),
) -> None:
    """Build the bundled real sample into a fresh store and serve it on http://127.0.0.1:8000.

    Example: scholarlens demo --no-open
    """
    store = state.store or Path(tempfile.mkdtemp(prefix="scholarlens-demo-")) / "demo.duckdb"
    if store.exists():
        # The demo builds a fresh store; never overwrite one the user may care about.
        fail(f"{store} exists; the demo builds a fresh store: remove it or pass another --store")
    con = connect(store)
    summary = run_build(con, [SAMPLE_DIR])
    print_summary(summary, con)
    con.close()
    _serve(store, host, port, open_browser=not no_open)


@app.command()
def embed(
    input: Path = typer.Option(..., "--input", "-i", help="JSON Lines with id and text."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write float32 vectors (.npy), rows in input order."),
    backend: str = typer.Option("default", help="default (CPU, no torch) or minilm (sentence-transformers)."),
) -> None:
    """Embed texts with the scholarlens embedder.

    Example: scholarlens embed --input texts.jsonl --output vectors.npy
    """
    if not input.exists():
        fail(f"no such file: {input}")
    from .. import embed as embedding

    try:
        n = embedding.embed_jsonl(input, output, backend=backend)
    except (ValueError, KeyError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    console.print(f"wrote {n} vectors to {output}")


# Commands kept in their own modules register themselves on `app` when imported.
from . import cli_aiscore, cli_identity, cli_ingest  # noqa: E402,F401

if __name__ == "__main__":  # pragma: no cover
    app()
