"""analyse(): every analytics table, recomputed from the store in dependency order, in one transaction."""

from __future__ import annotations

import gc
import os
from contextlib import ExitStack
from typing import Callable

import duckdb

from .bibliometrics import compute_bibliometrics
from .citation_graph import coded_citations
from .citation_measures import compute_disruption, compute_refnovelty
from .codelinks import classify_host, find_code_links
from .persons import compute_persons
from .processes import release_workers
from .ai_scores import compute_ai_scores
from .semantic import compute_semantic_novelty


# DuckDB's share of the machine's memory during a build. Its default (80%) leaves too little for the NumPy and
# Arrow arrays of the steps computed in Python (the CD index of a year, Uzzi's pair keys): at 100M citations a
# build failed to allocate with DuckDB holding the rest. DuckDB spills to disk above its limit.
BUILD_DUCKDB_MEMORY_SHARE = 0.4

# The steps, consecutive in `steps` below, that read the whole citation graph as integer codes
# (citation_graph.coded_citations), made once for all of them.
GRAPH_STEPS = ("bibliometrics", "disruption", "reference novelty")


def _physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def build_memory_limit() -> str | None:
    """DuckDB's memory_limit during a build (BUILD_DUCKDB_MEMORY_SHARE of the machine's memory); None when the
    machine's memory cannot be read (DuckDB's own default then stands)."""
    total = _physical_memory_bytes()
    return f"{int(total * BUILD_DUCKDB_MEMORY_SHARE) // 2**20}MB" if total else None


def release_step_memory(con: duckdb.DuckDBPyConnection, limit: str | None) -> None:
    """Give back what a finished step leaves in this process, before the next step's workers start beside it.
    - Python's cyclic garbage: the persons step pauses the collector (gcpause), and its cycles (0.7 GiB at 100M
      citations, measured) would otherwise wait for a full collection that may not come during the build.
    - DuckDB's allocator keeps memory its queries freed; setting the memory limit, even to the value it has,
      makes DuckDB flush it: after the persons step at 10M citations, 1,897 -> 1,313 MiB of the process.
    ``limit``: the build's memory limit (build_memory_limit), set again as it is."""
    gc.collect()
    if limit:
        con.execute(f"SET memory_limit = '{limit}'")


def compute_code_links(con: duckdb.DuckDBPyConnection) -> None:
    """Find repository links in every abstract (links a source gives are already in code_links)."""
    rows = con.execute("SELECT work_id, abstract FROM works WHERE abstract IS NOT NULL").fetchall()
    found = [(wid, url, classify_host(url)) for wid, text in rows for url in find_code_links(text)]
    if found:
        con.executemany(
            "INSERT INTO code_links VALUES (?, ?, ?, 'abstract') ON CONFLICT (work_id, url) DO NOTHING", found
        )


def analyse(
    con: duckdb.DuckDBPyConnection,
    as_of_year: int | None = None,
    on_step: Callable[[str], None] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Recompute everything; a failure leaves the previous tables as they were. ``on_step(name)`` is called as
    each step starts; ``on_progress(name, done, total)`` as the long ones (persons' engine chunks, the CD index's
    spans of years, reference novelty's citing years) finish a piece."""

    def progress(name: str) -> Callable[[int, int], None] | None:
        return (lambda done, total: on_progress(name, done, total)) if on_progress else None

    steps = [
        ("code links", lambda: compute_code_links(con)),
        ("persons", lambda: compute_persons(con, on_chunk=progress("persons"))),
        ("bibliometrics", lambda: compute_bibliometrics(con, as_of_year=as_of_year)),
        ("disruption", lambda: compute_disruption(con, as_of_year=as_of_year, on_span=progress("disruption"))),
        ("reference novelty", lambda: compute_refnovelty(con, on_year=progress("reference novelty"))),
        ("semantic novelty", lambda: compute_semantic_novelty(con)),
        ("AI scores", lambda: compute_ai_scores(con)),
    ]
    previous_limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    limit = build_memory_limit()
    if limit:
        con.execute(f"SET memory_limit = '{limit}'")
    con.execute("BEGIN TRANSACTION")
    try:
        with ExitStack() as graph:  # one coding of the graph, from the first graph step to the end of the last
            for name, step in steps:
                if on_step:
                    on_step(name)
                if name == GRAPH_STEPS[0]:
                    graph.enter_context(coded_citations(con))
                step()
                release_workers()  # the next step's pieces start in fresh workers, not on this step's leftovers
                release_step_memory(con, limit)  # nor on what it left in this process
                if name == GRAPH_STEPS[-1]:
                    graph.close()
        # Computed figures are "as of" this build, not as of whenever they are read.
        con.execute("INSERT INTO meta VALUES ('analysed_at', strftime(now(), '%Y-%m-%d %H:%M UTC')) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"SET memory_limit = '{previous_limit}'")
