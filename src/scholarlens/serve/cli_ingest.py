"""`scholarlens ingest`: files and folders, a live source (OpenAlex, Semantic Scholar, arXiv) or an OpenAlex snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .. import fetch as fetching
from .. import pipeline
from ..config import ConfigError, load_config
from ..net.arxiv import ArxivClient
from ..net.http import HttpError, NotFound
from ..net.openalex import OpenAlexClient, doi_of, openalex_author_id, openalex_work_id
from ..net.semanticscholar import S2Client
from ..sources.reader import InputError
from .cli import _open, _progress, analyse_showing, app, console, err, fail, print_summary, run_build


@app.command()
def ingest(
    targets: list[str] = typer.Argument(..., metavar="SOURCE_OR_PATH", help="Files or folders (OpenAlex JSON/JSONL(.gz), Semantic Scholar JSON, S2AG JSONL, arXiv Atom, profile pages), or a live source: openalex, s2, arxiv (or: snapshot PATH)."),
    author: Optional[str] = typer.Option(None, "--author", help="openalex: an author's name (an ambiguous name lists the candidates)."),
    orcid: Optional[str] = typer.Option(None, "--orcid", help="openalex: an author's ORCID."),
    ids: Optional[list[str]] = typer.Option(None, "--id", help="openalex: an author id (A...) or work ids/DOIs; arxiv: paper ids. Repeatable."),
    author_id: Optional[str] = typer.Option(None, "--author-id", help="s2: a Semantic Scholar author id."),
    query: Optional[str] = typer.Option(None, "--query", help="arxiv: a search in arXiv's syntax, e.g. 'au:lu_lewei AND cat:cs.CV'."),
    max_results: int = typer.Option(100, "--max-results", min=1, help="arxiv: at most this many search results."),
    per_page: int = typer.Option(200, "--per-page", min=1, max=200, help="openalex: works per request."),
    refresh: bool = typer.Option(False, "--refresh", help="Ask the source again instead of reusing answers saved by an earlier fetch."),
) -> None:
    """Read files into the store (format detected from content), or fetch from a live source; then refresh the analytics.

    Examples: scholarlens --store my.duckdb ingest works.jsonl.gz profiles/ ;
    scholarlens --store my.duckdb ingest openalex --author "Lewei Lu" ;
    scholarlens --store my.duckdb ingest s2 --author-id 2262347 ;
    scholarlens --store my.duckdb ingest arxiv --id 2211.05778 --id 2206.06921
    """
    options = {"--author": author, "--orcid": orcid, "--id": ids, "--author-id": author_id, "--query": query,
               "--refresh": refresh}
    given = [name for name, value in options.items() if value]
    source = targets[0].lower()
    # The first argument names a source, unless it is an existing path and no source option is given
    # (so `ingest openalex/` on a folder of that name still reads the folder).
    if source not in ("openalex", "s2", "arxiv", "snapshot") or (Path(targets[0]).exists() and not given):
        if given:
            fail(f"{', '.join(given)} need a live source first: scholarlens ingest openalex|s2|arxiv {given[0]} ...", code=2)
        for p in targets:
            if not Path(p).exists():
                fail(f"no such file or folder: {p}")
        con = _open()
        summary = run_build(con, [Path(p) for p in targets])
        print_summary(summary, con)
        return

    def analyse_into(con, bar, task) -> None:
        bar.update(task, description="analyse", total=None, completed=0, current="")
        analyse_showing(con, lambda step: bar.update(task, current=step))

    if source == "snapshot":
        import importlib.util

        if len(targets) != 2 or given:
            fail("usage: scholarlens ingest snapshot PATH", code=2)
        if importlib.util.find_spec("scholarlens.snapshot") is None:
            fail("`ingest snapshot` is not available in this version (no scholarlens.snapshot module)")
        from ..snapshot import ingest_snapshot

        if not Path(targets[1]).exists():
            fail(f"no such file or folder: {targets[1]}")
        con = _open()
        with _progress() as bar:
            task = bar.add_task("snapshot", total=None, current="")

            def snapshot_progress(done, total, path=None, info=None) -> None:  # bytes done, bytes in all, part, state
                bar.update(task, completed=done, total=total, current=str(info) if info else getattr(path, "name", ""))

            try:
                result = ingest_snapshot(con, Path(targets[1]), progress=snapshot_progress)
            except InputError as exc:
                fail(str(exc))
            analyse_into(con, bar, task)
        if isinstance(result, pipeline.IngestSummary):
            print_summary(result, con)
        else:
            console.print(str(result), highlight=False)
            if getattr(result, "quarantined", 0):
                err.print(f"[yellow]{result.quarantined} record(s) quarantined[/]; see `scholarlens quarantine`")
        return

    if len(targets) > 1:
        fail(f"`ingest {source}` takes options, not paths: {' '.join(targets[1:])}", code=2)
    allowed = {"openalex": {"--author", "--orcid", "--id"}, "s2": {"--author-id"}, "arxiv": {"--id", "--query"}}[source]
    asked = [g for g in given if g != "--refresh"]
    if not asked or set(asked) - allowed or (len(asked) > 1 and source != "arxiv") or {"--id", "--query"} <= set(asked):
        usage = {"openalex": "--author NAME | --orcid ORCID | --id A... | --id W... [--id ...]",
                 "s2": "--author-id ID", "arxiv": "--id ARXIV_ID [--id ...] | --query QUERY"}[source]
        fail(f"usage: scholarlens ingest {source} {usage}", code=2)
    try:
        config = load_config()
    except ConfigError as exc:
        fail(str(exc))
    con = _open()
    store = fetching.store_path_of(con)
    # Answers are cached so that a rerun (after a kill, or to finish a listing) costs nothing; --refresh asks
    # again: it empties the store's own cache, or goes without a cache configured for more than this store.
    cache = config.cache_dir or (fetching.fetch_dir(store) / "http-cache" if store else None)
    if refresh and cache is not None:
        if config.cache_dir:
            cache = None
        else:
            import shutil

            shutil.rmtree(cache, ignore_errors=True)
    with _progress() as bar:
        task = bar.add_task(f"fetch {source}", total=None, current="")

        def report(stage: str, done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total, current=stage)

        try:
            if source == "openalex":
                client = OpenAlexClient(config, cache_dir=cache)
                works = [i for i in ids or [] if openalex_work_id(i) or doi_of(i)]
                if works:
                    if len(works) != len(ids):
                        fail("--id takes either one author id (A...) or work ids and DOIs, not both", code=2)
                    fetched = fetching.fetch_openalex_works(con, works, client, progress=report)
                else:
                    who = author or orcid or (ids[0] if len(ids) == 1 and openalex_author_id(ids[0]) else None)
                    if who is None:
                        fail(f"not one OpenAlex author id: {' '.join(ids)}", code=2)
                    fetched = fetching.fetch_openalex_author(con, who, client, per_page=per_page, progress=report)
            elif source == "s2":
                fetched = fetching.fetch_s2_author(con, author_id, S2Client(config, cache_dir=cache), progress=report)
            else:
                fetched = fetching.fetch_arxiv(con, ids=ids, query=query, client=ArxivClient(config, cache_dir=cache),
                                               max_results=max_results, progress=report)
        except fetching.AmbiguousAuthor as exc:
            table = Table(title=f"{len(exc.candidates)} OpenAlex authors match {exc.query!r}")
            for column in ("#", "id", "name"):
                table.add_column(column, no_wrap=True)
            table.add_column("institution")
            table.add_column("works", justify="right")
            for n, c in enumerate(exc.candidates, 1):
                table.add_row(str(n), c.id, c.display_name, c.institution or "", str(c.works_count or 0))
            bar.stop()
            err.print(table)
            fail("the name is ambiguous: pass one of the ids above, e.g. "
                 f"scholarlens ingest openalex --id {exc.candidates[0].id}", code=2)
        except (fetching.AuthorNotFound, NotFound) as exc:
            fail(str(exc))
        except HttpError as exc:
            fail(f"{source}: {exc}")
        except ValueError as exc:  # an id or ORCID that is not one
            fail(str(exc), code=2)
        analyse_into(con, bar, task)
    print_summary(fetched.ingest, con)
    who = f" {fetched.author_name} ({fetched.author_id})" if fetched.author_name else ""
    listed = f" of {fetched.listed:,} listed" if fetched.listed is not None else ""
    console.print(
        f"{source}{who}: {len(fetched.files)} answer(s) saved, {fetched.received:,} record(s) received{listed}; "
        f"{fetched.requests} request(s), {fetched.cache_hits} from the cache", highlight=False,
    )
    if fetched.problems:
        err.print(f"[yellow]{len(fetched.problems)} fetch problem(s) quarantined[/] (not found, or failed after retries); "
                  "see `scholarlens quarantine`")
    if not fetched.complete:
        err.print("[yellow]a listing stopped at a page that could not be fetched: rerun the same command to finish it[/]")
