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

import duckdb
import pandas as pd

from .disruption import CDINDEX_RULES, cd_index
from .refnovelty import lee_commonness, uzzi_novelty

DISRUPTION_DELTA = 5  # years, as Funk and Owen-Smith (2017)
UZZI_SHUFFLES = 20
UZZI_SEED = 0

RESOLVED_EDGES_SQL = """
SELECT DISTINCT citing.work_id AS citing, coalesce(cited.work_id, c.cited_key) AS cited
FROM citations c
JOIN work_keys citing ON citing.key = c.citing_key
LEFT JOIN work_keys cited ON cited.key = c.cited_key
"""


def compute_disruption(con: duckdb.DuckDBPyConnection, as_of_year: int | None = None) -> int:
    year_now = as_of_year or dt.date.today().year
    works = con.execute("SELECT work_id AS id, year AS time FROM works WHERE year IS NOT NULL").fetchdf()
    edges = con.execute(RESOLVED_EDGES_SQL).fetchdf()
    if len(edges):
        result = cd_index(works, edges, DISRUPTION_DELTA, **CDINDEX_RULES)
    else:  # no citation known: no candidate anywhere (cdindex's rule gives null)
        result = pd.DataFrame({"id": works["id"], "cd": float("nan"), "mcd": float("nan"), "i": 0})
    result = result.rename(columns={"id": "work_id"})
    result["delta"] = DISRUPTION_DELTA
    years = works.set_index("id")["time"]
    result["window_closed"] = (result["work_id"].map(years) + DISRUPTION_DELTA < year_now).to_numpy()
    con.register("_disruption", result)
    try:
        con.execute("CREATE OR REPLACE TABLE work_disruption AS SELECT * FROM _disruption")
    finally:
        con.unregister("_disruption")
    return int(result["cd"].notna().sum())


def compute_refnovelty(con: duckdb.DuckDBPyConnection) -> int:
    """Journal-pair novelty of every work whose references (works in the store) have venues."""
    papers = con.execute("SELECT work_id AS id, year FROM works WHERE year IS NOT NULL").fetchdf()
    refs = con.execute(
        f"""
        SELECT e.citing, w.venue AS journal, w.year AS ref_year
        FROM ({RESOLVED_EDGES_SQL}) e JOIN works w ON w.work_id = e.cited
        WHERE w.venue IS NOT NULL AND w.venue <> ''
        ORDER BY e.citing, e.cited
        """
    ).fetchdf()
    citing = refs["citing"].unique()
    if len(citing) == 0:
        table = pd.DataFrame({"work_id": pd.Series(dtype=str), "conventionality": pd.Series(dtype=float),
                              "tail_novelty": pd.Series(dtype=float), "lee_novelty": pd.Series(dtype=float),
                              "n_pairs": pd.Series(dtype="int64"), "reason": pd.Series(dtype=str)})
    else:
        uzzi = uzzi_novelty(papers, refs, focal_ids=citing, n_shuffles=UZZI_SHUFFLES, seed=UZZI_SEED, rng="numpy")
        lee = lee_commonness(papers, refs, focal_ids=citing)
        table = uzzi[["id", "conventionality", "tail_novelty", "n_pairs", "reason"]].merge(
            lee[["id", "novelty"]].rename(columns={"novelty": "lee_novelty"}), on="id", how="left"
        ).rename(columns={"id": "work_id"})
    con.register("_refnovelty", table)
    try:
        con.execute("CREATE OR REPLACE TABLE work_refnovelty AS SELECT * FROM _refnovelty")
    finally:
        con.unregister("_refnovelty")
    return int(table["tail_novelty"].notna().sum()) if len(table) else 0
