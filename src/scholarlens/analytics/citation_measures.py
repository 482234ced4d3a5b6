"""Disruption (CD index) and reference-combination novelty (Uzzi, Lee) of the works in the store.

Both read the citation graph resolved to work ids and write one table each:
- work_disruption(work_id, cd, mcd, i, delta, window_closed): CD over a window of DISRUPTION_DELTA years with
  cdindex's rules; window_closed says the window has ended (year + delta < current year), so the number will
  not change as citations arrive. Cards show CD only for closed windows.
- work_refnovelty(work_id, conventionality, tail_novelty, lee_novelty, n_pairs, reason): over the venues of the
  references that are works in the store; null with a reason where a paper has too few.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from .citation_graph import coded_citations
from .disruption import CDINDEX_RULES, cd_index
from .processes import map_in_processes, worker_count
from .refnovelty import reference_novelty

DISRUPTION_DELTA = 5  # years, as Funk and Owen-Smith (2017)
UZZI_SHUFFLES = 20
UZZI_SEED = 0
# Citing years are scored in worker processes, one per core as memory allows (analytics.processes). Scoring a
# year of the 100M-edge bench graph peaked 3.04 GiB above the process's start for its 5.76M references (567
# bytes per reference of the year), and 1.6 GiB for 2.84M (605 bytes): here with a margin. (At 1,300, measured before
# the compiled null copies, the build left its only worker in the DuckDB process when memory was short.)
REFNOVELTY_WORKER_BYTES_PER_REF = 800
# Below this many references the whole step takes about as long as starting a worker (a second or two).
REFNOVELTY_PARALLEL_MIN_REFS = 1_000_000

# While worker processes compute, DuckDB only reads a step's temporary table one slice at a time, yet its buffer
# pool keeps the memory that building the table took (6.9 GB after the CD index's coded edges at 100M edges). A
# lower limit for that phase makes it give the memory back (2.2 GB, measured) at little cost to the reads (a
# 21M-edge span's part in 6.4 s against 5.1 s): the 100M build peaked at 17.8 GB without it, in the CD index.
READING_DUCKDB_MEMORY_BYTES = 2 * 2**30
_UNITS = {"B": 1, "bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
          "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def _memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> float:
    """DuckDB's memory limit in bytes (inf when it cannot be read). DuckDB prints it cut to one decimal ("2.7 GiB"
    for 2.79): half a last digit is added back, so that setting the result again does not drift down."""
    text = str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
    number, _, unit = text.partition(" ")
    try:
        return (float(number) + 0.05) * _UNITS[unit]
    except (ValueError, KeyError):
        return float("inf")


@contextmanager
def duckdb_memory_at_most(con: duckdb.DuckDBPyConnection, limit_bytes: int) -> Iterator[None]:
    """DuckDB's memory limit lowered to ``limit_bytes`` (never raised) inside the block, restored after (to within
    DuckDB's printed precision: 0.05 of its unit)."""
    current = _memory_limit_bytes(con)
    if current <= limit_bytes:
        yield
        return
    con.execute(f"SET memory_limit = '{limit_bytes // 2**20}MiB'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{int(current) // 2**20}MiB'")


def compute_disruption(con: duckdb.DuckDBPyConnection, as_of_year: int | None = None,
                       workers: int | None = None, on_span: Callable[[int, int], None] | None = None) -> int:
    """CD index of every work into work_disruption; ``workers``: processes that compute the spans of years
    (default: one per core as memory allows, when there are several spans); on_span(done, total) reports
    progress."""
    year_now = as_of_year or dt.date.today().year
    # cd_index reads ids only for equality and for membership in the works, so any one-to-one coding gives the
    # same result: the build's integer codes (coded_citations) keep hundreds of millions of edges as two int64
    # columns in Arrow instead of Python strings.
    with coded_citations(con):
        spans = _year_spans(con, _span_budget(con, workers))
        parts = []
        with duckdb_memory_at_most(con, READING_DUCKDB_MEMORY_BYTES):  # before counting the memory workers have
            workers = worker_count(len(spans), DISRUPTION_WORKER_BYTES) if workers is None else workers
            for part in map_in_processes(disruption_of_part, (_span_part(con, a, b) for a, b in spans), workers):
                parts.append(part)
                if on_span:
                    on_span(len(parts), len(spans))
        result = pa.concat_tables(parts) if parts else pa.table(
            {"id": pa.array([], pa.int64()), "cd": pa.array([], pa.float64()), "mcd": pa.array([], pa.float64()),
             "i": pa.array([], pa.int64())})
        con.register("_disruption", result)
        try:
            con.execute(
                f"""CREATE OR REPLACE TABLE work_disruption AS
                    SELECT w.work_id, d.cd, d.mcd, CAST(d.i AS BIGINT) AS i,
                           CAST({DISRUPTION_DELTA} AS BIGINT) AS delta,
                           w.year + {DISRUPTION_DELTA} < {int(year_now)} AS window_closed
                    FROM _disruption d JOIN _work_codes w ON w.code = d.id
                    ORDER BY d.id"""
            )
        finally:
            con.unregister("_disruption")
    return con.execute("SELECT count(cd) FROM work_disruption").fetchone()[0]


# Edges the CD index reads at once (about 0.2 GB of NumPy per million): focal years are taken together until
# their part of the graph would hold more, so that a window's citations are read once per span, not per year.
# Spans are computed in worker processes, one per core as memory allows (analytics.processes).
DISRUPTION_EDGE_BUDGET = 20_000_000
DISRUPTION_WORKER_BYTES = DISRUPTION_EDGE_BUDGET * 220  # the 0.2 GB per million above, with a margin (not measured per worker)


# A graph within one span's budget is still cut into about one span per core when it has at least this many edges,
# so that every core works on it. Each extra span re-reads the DISRUPTION_DELTA years of citations after it, and
# below this a worker's start (a second or two) costs about as much as it saves.
DISRUPTION_PARALLEL_MIN_EDGES = 2_000_000


def _span_budget(con: duckdb.DuckDBPyConnection, workers: int | None) -> int:
    cores = (os.cpu_count() or 1) if workers is None else workers
    return span_budget(con.execute("SELECT count(*) FROM _edge_codes").fetchall()[0][0], cores)


def span_budget(edges: int, cores: int) -> int:
    """The edge budget of a span: DISRUPTION_EDGE_BUDGET, or less, so that a large enough graph makes about a
    span per core. A span's size bound counts an edge twice (made and received) and its window's citations
    again; 2.6 x edges / cores gave one span per core on the 10M bench graph, which ran fastest on two cores
    (one span 42.6 and 42.8 s; two 38.7 and 34.3 s; three 39.2 s; six 41.8 s)."""
    if cores <= 1 or edges < DISRUPTION_PARALLEL_MIN_EDGES:
        return DISRUPTION_EDGE_BUDGET
    return min(DISRUPTION_EDGE_BUDGET, -(-26 * edges // (10 * cores)))


# Per focal year (every year a work has): citations made that year and citations received by its works, over the
# coded graph (_work_codes, _edge_codes); both engines plan their spans from it (plan_year_spans).
YEAR_SIZES_SQL = """
SELECT y.year, coalesce(m.n, 0) AS made, coalesce(r.n, 0) AS received
FROM (SELECT DISTINCT year FROM _work_codes WHERE year IS NOT NULL) y
LEFT JOIN (SELECT t_citing AS year, count(*) AS n FROM _edge_codes GROUP BY 1) m ON m.year = y.year
LEFT JOIN (SELECT t_cited AS year, count(*) AS n FROM _edge_codes GROUP BY 1) r ON r.year = y.year
ORDER BY y.year
"""


def _year_spans(con: duckdb.DuckDBPyConnection, budget: int) -> list[tuple[int, int]]:
    return plan_year_spans(con.execute(YEAR_SIZES_SQL).fetchall(), budget)


def plan_year_spans(rows: list[tuple[int, int, int]], budget: int) -> list[tuple[int, int]]:
    """Consecutive focal years, grouped while an upper bound of their part of the graph (citations made in the
    span and up to DISRUPTION_DELTA years after it, and citations received) stays within budget. ``rows``:
    (year, made, received) in year order (YEAR_SIZES_SQL)."""
    made = {year: m for year, m, _ in rows}
    spans: list[tuple[int, int]] = []
    first = None
    for year, _, _ in rows:
        if first is not None:
            size = sum(made.get(t, 0) for t in range(first, year + DISRUPTION_DELTA + 1)) + sum(
                r for y, _, r in rows if first <= y <= year)
            if size > budget:
                spans.append((first, previous))
                first = None
        if first is None:
            first = year
        previous = year
    if first is not None:
        spans.append((first, previous))
    return spans


def _span_part(con: duckdb.DuckDBPyConnection, first_year: int, last_year: int) -> tuple[pa.Table, pa.Table, int, int]:
    """The part of the graph the works of consecutive years read (as the Spark engine cuts it, by year): their
    references, the citations they receive, and the citations made in their windows (first_year + 1 ..
    last_year + delta, or from first_year when same-year citers count) to their references. A citation outside
    these touches neither a focal work nor its references, so it cannot change their CD; cd_index places the
    others in each work's own window by the citers' years. Returns (works, edges, first_year, last_year)."""
    start = 1 if CDINDEX_RULES["same_year"] == "exclude" else 0
    a, b = int(first_year), int(last_year)
    lo, hi = a + start, b + DISRUPTION_DELTA
    # Three disjoint parts (each leaves out the rows of those before it), so UNION ALL: the edges are distinct
    # (RESOLVED_EDGES_SQL), and a UNION's de-duplication of some 20M rows per span is not needed.
    edges = con.sql(
        f"""WITH refs AS (SELECT DISTINCT cited FROM _edge_codes WHERE t_citing BETWEEN {a} AND {b})
            SELECT citing, cited, t_citing FROM _edge_codes WHERE t_citing BETWEEN {a} AND {b}
            UNION ALL
            SELECT citing, cited, t_citing FROM _edge_codes
            WHERE t_cited BETWEEN {a} AND {b} AND (t_citing IS NULL OR t_citing NOT BETWEEN {a} AND {b})
            UNION ALL
            SELECT c.citing, c.cited, c.t_citing FROM _edge_codes c SEMI JOIN refs USING (cited)
            WHERE c.t_citing BETWEEN {lo} AND {hi} AND c.t_citing NOT BETWEEN {a} AND {b}
              AND (c.t_cited IS NULL OR c.t_cited NOT BETWEEN {a} AND {b})"""
    ).to_arrow_table()
    # The works cd_index reads: the span's own, and every citing work of the part with its year.
    works = con.sql(
        f"""SELECT code AS id, year AS time FROM _work_codes WHERE year BETWEEN {a} AND {b}
            UNION ALL
            SELECT DISTINCT e.citing, e.t_citing FROM edges e WHERE e.t_citing NOT BETWEEN {a} AND {b}"""
    ).to_arrow_table()
    return works, edges.select(["citing", "cited"]), a, b


def disruption_of_part(works: pa.Table, edges: pa.Table, a: int, b: int) -> pa.Table:
    """CD index of the works of years a..b from their part of the graph (_span_part): a pure function, so a
    worker process can run it."""
    if edges.num_rows == 0:
        focal = pa.compute.and_(pa.compute.greater_equal(works["time"], a), pa.compute.less_equal(works["time"], b))
        ids = works.filter(focal)["id"]
        return pa.table({"id": ids, "cd": pa.nulls(len(ids), pa.float64()), "mcd": pa.nulls(len(ids), pa.float64()),
                         "i": pa.array(np.zeros(len(ids), dtype=np.int64))})
    result = cd_index(works, edges, DISRUPTION_DELTA, **CDINDEX_RULES, time_range=(a, b))
    return result.replace_schema_metadata(None)


REFNOVELTY_COLUMNS = {"work_id": "string", "conventionality": "float64", "tail_novelty": "float64",
                      "n_pairs": "int64", "reason": "string", "lee_novelty": "float64"}

# Each work's venue coded in name order (NULL without one), over the build's work codes (coded_citations: id order,
# so codes sort as the ids do): references then travel as integers. The references of a citing year are the coded
# edges of that year whose cited work has a venue; both engines cut the graph so (the universe of Uzzi's null and of
# Lee's counts) and score each year alone, works without a year together, as "not in papers". The Spark engine
# runs the same join on its own codes (engine.spark.SPARK_CODING_SQL), which sort as the ids do too.
REFNOVELTY_VENUES_SQL = """
SELECT w.code, v.code AS venue_code
FROM _work_codes w LEFT JOIN (SELECT venue, row_number() OVER (ORDER BY venue) - 1 AS code
                              FROM (SELECT DISTINCT venue FROM _work_codes WHERE venue IS NOT NULL AND venue <> ''))
                             v USING (venue)
ORDER BY w.code
"""


def refnovelty_of_year(refs: pd.DataFrame, year, ids=None) -> pd.DataFrame:
    """Uzzi and Lee novelty of the works citing in one year (None or NaN: works without a year, which get a
    reason only): the one definition both engines run.

    refs: citing, journal, ref_year, in (citing, cited) order. citing holds work ids, or integer codes into
    ``ids`` (the year's citing work ids, in sorted order, so codes sort as the ids do); journal holds venues,
    or integer codes that sort as the venues do. Returns the columns of REFNOVELTY_COLUMNS.
    """
    citing = refs["citing"].unique()
    if year is None or pd.isna(year):  # not among the papers: reported with the reason "not in papers"
        papers = pd.DataFrame({"id": pd.Series(dtype=refs["citing"].dtype), "year": pd.Series(dtype="int64")})
    else:
        papers = pd.DataFrame({"id": citing, "year": int(year)})
    table = reference_novelty(papers, refs[["citing", "journal", "ref_year"]], focal_ids=citing,
                              n_shuffles=UZZI_SHUFFLES, seed=UZZI_SEED, rng="numpy")
    table = table.rename(columns={"id": "work_id"})[list(REFNOVELTY_COLUMNS)]
    if ids is not None:
        table["work_id"] = np.asarray(ids, dtype=object)[table["work_id"].to_numpy(dtype=np.int64)]
    return table.astype(REFNOVELTY_COLUMNS)


def compute_refnovelty(con: duckdb.DuckDBPyConnection, on_year: Callable[[int, int], None] | None = None,
                       workers: int | None = None) -> int:
    """Journal-pair novelty of every work whose references (works in the store) have venues, one citing year at
    a time: memory is bounded by the largest year, not the graph. on_year(done, total) reports progress.
    ``workers``: processes that score the years (default: one per core as memory allows, for graphs of at least
    REFNOVELTY_PARALLEL_MIN_REFS references)."""
    # Integer codes (works in id order, venues in name order) spare pandas millions of strings; codes sort as the
    # strings do, so the scores are those of the strings.
    with coded_citations(con):
        venue_of = con.sql(REFNOVELTY_VENUES_SQL).fetchnumpy()["venue_code"]
        venue_of = np.ma.filled(np.ma.asarray(venue_of).astype(np.int64), -1)  # indexed by work code; -1: no venue
        con.register("_with_venue", pa.table({"code": np.flatnonzero(venue_of >= 0)}))
        try:
            sizes = con.execute("SELECT t_citing, count(*) FROM _edge_codes SEMI JOIN _with_venue ON code = cited "
                                "GROUP BY t_citing ORDER BY t_citing NULLS LAST").fetchall()
        finally:
            con.unregister("_with_venue")
        years = [year for year, _ in sizes]
        total, largest = sum(n for _, n in sizes), max((n for _, n in sizes), default=0)

        def year_parts():
            for year in years:
                # None: the works without a year. "=" lets DuckDB skip row groups by their year range (the edges
                # are sorted by citing year).
                of_year = "t_citing IS NULL" if year is None else f"t_citing = {int(year)}"
                edges = con.sql(f"SELECT citing, cited, t_cited FROM _edge_codes WHERE {of_year} "
                                "ORDER BY citing, cited").fetchnumpy()
                cited = np.asarray(edges["cited"])
                journal = np.full(cited.size, -1, np.int64)
                in_store = cited < venue_of.size  # codes past the works are cited ids no work has
                journal[in_store] = venue_of[cited[in_store]]
                keep = journal >= 0
                citing = np.asarray(edges["citing"])[keep]
                ref_year = np.ma.filled(np.ma.asarray(edges["t_cited"]).astype(float), np.nan)[keep]
                # Rows come in citing-code order: the year's own dense codes are the running count of changes.
                first = np.ones(citing.size, bool)
                first[1:] = citing[1:] != citing[:-1]
                refs = pd.DataFrame({"citing": np.cumsum(first) - 1, "journal": journal[keep], "ref_year": ref_year})
                con.register("_year_citing", pa.table({"code": citing[first]}))
                try:
                    ids = [row[0] for row in con.execute(
                        "SELECT w.work_id FROM _year_citing y JOIN _work_codes w ON w.code = y.code ORDER BY y.code"
                    ).fetchall()]
                finally:
                    con.unregister("_year_citing")
                yield refs, year, ids

        parts = []
        with duckdb_memory_at_most(con, READING_DUCKDB_MEMORY_BYTES):  # before counting the memory workers have
            if workers is None:
                workers = (worker_count(len(years), REFNOVELTY_WORKER_BYTES_PER_REF * largest)
                           if total >= REFNOVELTY_PARALLEL_MIN_REFS else 1)
            for done, part in enumerate(map_in_processes(refnovelty_of_year, year_parts(), workers)):
                parts.append(part)
                if on_year:
                    on_year(done + 1, len(years))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {c: pd.Series(dtype=t) for c, t in REFNOVELTY_COLUMNS.items()})
    con.register("_refnovelty", table)
    try:
        con.execute("CREATE OR REPLACE TABLE work_refnovelty AS SELECT * FROM _refnovelty")
    finally:
        con.unregister("_refnovelty")
    return int(table["tail_novelty"].notna().sum()) if len(table) else 0
