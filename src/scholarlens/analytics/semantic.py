"""Semantic novelty of the works in the store, and of their authors.

Embeds every work's current title and abstract with the store's embedder (scholarlens.embed: fitted on the
first build and saved beside the store in <store>.vectors/, so works added later embed in the same space; works
new to the store join the nearest-earlier-works index there), then
scores each work against the works published before it (analytics.novelty) within its group (category, else
field) and year. Writes:
- work_novelty(work_id, distance, novelty, cohort_size, reason, neighbours: list of {id, title, year, similarity});
  novelty is null (with the reason) in a cohort of fewer than MIN_NOVELTY_COHORT works or without a category/field
- author_novelty(author_id, novelty, papers_scored): the median of the author's papers' novelty (see
  analytics.novelty.author_novelty for why the median).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ..embed import index_works, store_embedder
from .novelty import NO_TEXT, author_novelty, semantic_novelty

NEIGHBOURS_KEPT = 5  # shown on cards and in JSON; the score uses the nearest one
MIN_NOVELTY_COHORT = 5  # as bibliometrics.MIN_PERCENTILE_GROUP: fewer works than this rank nothing
NO_GROUP = "(none)"
# What counts as a text to embed (both engines, SQL that DuckDB and Spark read alike).
HAS_TEXT_SQL = "(trim(coalesce(title, '')) <> '' OR trim(coalesce(abstract, '')) <> '')"


def store_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return Path(rows[0][0]) if rows and rows[0][0] else None


def compute_semantic_novelty(con: duckdb.DuckDBPyConnection, k: int = 10) -> int:
    # Works without a title or an abstract have nothing to embed: they get their "no text" row in SQL and are
    # never embedded nor indexed (at scale most works of a citation graph can be such stubs; their zero vectors
    # would cost 1 KB each and a place in the index that a later abstract could not take back).
    works = con.execute(
        f"""SELECT work_id AS id, coalesce(category, field, '{NO_GROUP}') AS "group", publication_date AS date, year,
                  title, abstract
           FROM works WHERE {HAS_TEXT_SQL} ORDER BY work_id"""
    ).fetchdf()
    _write_empty_tables(con)
    path = store_path(con)
    if path is None:
        return 0
    con.execute(f"""INSERT INTO work_novelty
                    SELECT work_id, NULL, NULL, NULL, '{NO_TEXT}', [] FROM works WHERE NOT ({HAS_TEXT_SQL})""")
    if len(works) == 0:
        _compute_author_novelty(con)
        return 0
    texts = works["abstract"].where(works["abstract"].notna(), None).tolist()
    titles = works["title"].where(works["title"].notna(), None).tolist()
    # A work known only by its year is placed on 1 January, as analytics.novelty does.
    dates = [d if pd.notna(d) else (f"{int(y):04d}-01-01" if pd.notna(y) else None) for d, y in zip(works["date"], works["year"])]
    # Every work is embedded from its current text at each build (an abstract that arrived later counts), by the
    # store's frozen embedder; the index beside the store gains the works it did not have, for "nearest before D".
    embedder = store_embedder(path, texts, titles)
    vectors = embedder.embed(texts, titles)
    index_works(path, works["id"].tolist(), texts, dates, titles, vectors=vectors)
    scored = semantic_novelty(works[["id", "group", "date", "year"]], vectors, k=k)
    # A percentile among a handful of works says nothing (a lone work would score 50): null, with the reason,
    # as citation percentiles are. Works with no category or field have no cohort to rank in at all.
    no_group = (works["group"] == NO_GROUP).to_numpy()
    small = scored["novelty"].notna().to_numpy() & (scored["cohort_size"].fillna(0).to_numpy() < MIN_NOVELTY_COHORT)
    scored.loc[small, "reason"] = [
        f"only {n} {g} works of {'?' if pd.isna(y) else int(y)} to rank among (fewer than {MIN_NOVELTY_COHORT})"
        for n, g, y in zip(scored.loc[small, "cohort_size"], works.loc[small, "group"], works.loc[small, "year"])
    ]
    scored.loc[no_group & scored["novelty"].notna().to_numpy(), "reason"] = "no category or field to rank within"
    scored.loc[small | no_group, "novelty"] = np.nan

    info = works.set_index("id")[["title", "year"]]
    neighbours = [
        [{"id": nid, "title": info.at[nid, "title"], "year": None if pd.isna(info.at[nid, "year"]) else int(info.at[nid, "year"]),
          "similarity": round(sim, 4)} for nid, sim in pairs[:NEIGHBOURS_KEPT]]
        for pairs in scored["neighbours"]
    ]
    table = pd.DataFrame({
        "work_id": scored["id"],
        "distance": scored["distance"],
        "novelty": scored["novelty"],
        "cohort_size": scored["cohort_size"].astype("float64"),
        "reason": scored["reason"],
        "neighbours_json": [json.dumps(n) for n in neighbours],
    })
    con.register("_novelty", table)
    try:
        con.execute(
            """INSERT INTO work_novelty
               SELECT work_id, distance, novelty, CAST(cohort_size AS INTEGER) AS cohort_size, reason,
                      CAST(neighbours_json AS JSON)::STRUCT(id VARCHAR, title VARCHAR, year INTEGER, similarity DOUBLE)[] AS neighbours
               FROM _novelty"""
        )
    finally:
        con.unregister("_novelty")
    _compute_author_novelty(con)
    return int(scored["novelty"].notna().sum())


def _compute_author_novelty(con: duckdb.DuckDBPyConnection) -> None:
    papers = con.execute(
        """SELECT DISTINCT a.author_id, n.work_id, n.novelty
           FROM person_authorships a JOIN work_novelty n USING (work_id) WHERE n.novelty IS NOT NULL"""
    ).fetchdf()
    rows = [
        (author, author_novelty(group["novelty"]), len(group))
        for author, group in papers.groupby("author_id", sort=True)
    ]
    table = pd.DataFrame(rows, columns=["author_id", "novelty", "papers_scored"])
    con.register("_author_novelty", table)
    try:
        con.execute("CREATE OR REPLACE TABLE author_novelty AS SELECT * FROM _author_novelty")
    finally:
        con.unregister("_author_novelty")


def _write_empty_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE OR REPLACE TABLE work_novelty (work_id VARCHAR, distance DOUBLE, novelty DOUBLE, cohort_size INTEGER,
           reason VARCHAR, neighbours STRUCT(id VARCHAR, title VARCHAR, year INTEGER, similarity DOUBLE)[])"""
    )
    con.execute("CREATE OR REPLACE TABLE author_novelty (author_id VARCHAR, novelty DOUBLE, papers_scored INTEGER)")
