"""AI Scores of the works in the store, and of their authors.

Every work with a title and an abstract is scored by the offline model (scholarlens.aiscore: an estimate of how
ICLR reviewers would rate the text, see docs/ai-score.md) from its text and what the store knows about it: a
code link, its author count, its reference count. Writes:
- work_ai_score(work_id, ai_score, p_accept, expected_rating, reasons, model_version)
- author_ai_score(author_id, ai_score, papers_scored, papers_total): the MEAN of the author's scored papers.
  A mean, not a median as for Novelty: the score is already a calibrated expectation per paper, and a mean of
  expectations is the expected score of the author's typical paper; papers_scored says how many it covers.

A source's own "AI Score" (a profile page prints one) stays in works.reported_ai_score, shown beside ours for
comparison only: it is another model.
"""

from __future__ import annotations

from functools import lru_cache

import duckdb
import pandas as pd

from ..aiscore.batch import as_row

WORK_TABLE = """CREATE OR REPLACE TABLE work_ai_score (
    work_id VARCHAR PRIMARY KEY, ai_score DOUBLE, p_accept DOUBLE, expected_rating DOUBLE,
    reasons VARCHAR[], model_version VARCHAR)"""
AUTHOR_TABLE = """CREATE OR REPLACE TABLE author_ai_score (
    author_id VARCHAR PRIMARY KEY, ai_score DOUBLE, papers_scored INTEGER, papers_total INTEGER)"""
# The same columns for Spark's mapInPandas (engine.spark runs score_papers over PAPERS_SQL's rows)
WORK_SCHEMA = "work_id string, ai_score double, p_accept double, expected_rating double, reasons array<string>, model_version string"

# Every work with text, with the metadata the model can use. Joins rather than correlated subqueries, so that
# SQLGlot's Spark translation plans as well as DuckDB's.
# References are counted for those works only: at 100M citations, counting them for every work took 40 s of a
# build whose works had no text (51 s on a slower machine).
PAPERS_SQL = """
WITH texts AS (
    SELECT * FROM works w WHERE w.title IS NOT NULL AND w.abstract IS NOT NULL AND length(trim(w.abstract)) > 0),
refs AS (
    SELECT k.work_id, count(DISTINCT c.cited_key) AS n_references
    FROM citations c JOIN work_keys k ON k.key = c.citing_key JOIN texts t ON t.work_id = k.work_id
    GROUP BY k.work_id),
code AS (SELECT DISTINCT work_id FROM code_links),
listed AS (
    SELECT work_id, count(*) AS n_authors FROM person_authorships WHERE position IS NOT NULL GROUP BY work_id)
SELECT w.work_id, w.title, w.abstract,
       code.work_id IS NOT NULL OR coalesce(w.code_badge, FALSE) AS has_code,
       coalesce(listed.n_authors, 0) AS n_authors, coalesce(w.authors_truncated, FALSE) AS authors_truncated,
       coalesce(refs.n_references, 0) AS n_references
FROM texts w LEFT JOIN refs ON refs.work_id = w.work_id LEFT JOIN code ON code.work_id = w.work_id
     LEFT JOIN listed ON listed.work_id = w.work_id
"""

# The author's score is the mean of their scored papers, to one decimal, rounded half up. Computed in integers
# (scores are tenths), because round(avg(x), 1) over doubles lands either side of a tie (41.85) with the order
# the rows are summed in, which differs between engines and even between two DuckDB runs.
AUTHOR_AI_SCORE_SQL = """
SELECT a.author_id,
       CAST((2 * sum(CAST(round(s.ai_score * 10) AS BIGINT)) + count(s.work_id)) // (2 * count(s.work_id)) AS DOUBLE) / 10
           AS ai_score,
       CAST(count(s.work_id) AS INTEGER) AS papers_scored, CAST(count(*) AS INTEGER) AS papers_total
FROM person_authorships a LEFT JOIN work_ai_score s ON s.work_id = a.work_id
GROUP BY a.author_id HAVING count(s.work_id) > 0
"""


@lru_cache(maxsize=1)
def _shipped_model():
    from ..aiscore.model import load_model  # loads only when something is scored (once per process or worker)

    return load_model()


def papers_from_frame(frame: pd.DataFrame) -> list[dict]:
    """PAPERS_SQL's rows as the model's input dicts."""
    papers = []
    for row in frame.itertuples(index=False):
        paper = {"id": row.work_id, "title": row.title, "abstract": row.abstract, "has_code": bool(row.has_code)}
        if row.n_authors and not row.authors_truncated:  # a truncated list ("et al.") does not give the count
            paper["n_authors"] = int(row.n_authors)
        if row.n_references:
            paper["n_references"] = int(row.n_references)
        papers.append(paper)
    return papers


def score_papers(frame: pd.DataFrame, model=None) -> pd.DataFrame:
    """Score a batch of PAPERS_SQL rows: one output row per scored paper (WORK_SCHEMA's columns); a paper the
    model could not score is left out. Each paper's score depends on that paper alone, so batches can be cut
    anywhere (Spark's mapInPandas cuts them by input split)."""
    papers = papers_from_frame(frame)
    results = [as_row(r) for r in (model or _shipped_model()).score(papers)] if papers else []
    scored = [(p, r) for p, r in zip(papers, results) if r.get("ai_score") is not None]  # errors stay unscored
    return pd.DataFrame({
        "work_id": pd.Series([p["id"] for p, _ in scored], dtype=object),
        "ai_score": pd.Series([r["ai_score"] for _, r in scored], dtype="float64"),
        "p_accept": pd.Series([r["p_accept"] for _, r in scored], dtype="float64"),
        "expected_rating": pd.Series([r["expected_rating"] for _, r in scored], dtype="float64"),
        "reasons": pd.Series([[str(x) for x in r["reasons"]] for _, r in scored], dtype=object),
        "model_version": pd.Series([r["model_version"] for _, r in scored], dtype=object),
    })


def papers_to_score(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every work with text, as the model's input dicts (in work id order)."""
    return papers_from_frame(con.execute(PAPERS_SQL + " ORDER BY w.work_id").df())


def compute_ai_scores(con: duckdb.DuckDBPyConnection, model=None) -> int:
    con.execute(WORK_TABLE)
    con.execute(AUTHOR_TABLE)
    frame = con.execute(PAPERS_SQL + " ORDER BY w.work_id").df()
    if frame.empty:
        return 0
    scores = score_papers(frame, model)
    if scores.empty:
        return 0
    con.register("_scores", scores)
    try:
        con.execute("INSERT INTO work_ai_score SELECT work_id, ai_score, p_accept, expected_rating, "
                    "CAST(reasons AS VARCHAR[]), model_version FROM _scores")
    finally:
        con.unregister("_scores")
    con.execute("INSERT INTO author_ai_score " + AUTHOR_AI_SCORE_SQL)
    return len(scores)
