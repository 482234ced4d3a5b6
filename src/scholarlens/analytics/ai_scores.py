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

import duckdb
import pandas as pd

from ..aiscore.batch import as_row

WORK_TABLE = """CREATE OR REPLACE TABLE work_ai_score (
    work_id VARCHAR PRIMARY KEY, ai_score DOUBLE, p_accept DOUBLE, expected_rating DOUBLE,
    reasons VARCHAR[], model_version VARCHAR)"""
AUTHOR_TABLE = """CREATE OR REPLACE TABLE author_ai_score (
    author_id VARCHAR PRIMARY KEY, ai_score DOUBLE, papers_scored INTEGER, papers_total INTEGER)"""


def papers_to_score(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every work with text, with the metadata the model can use."""
    rows = con.execute(
        """
        WITH refs AS (
            SELECT k.work_id, count(DISTINCT c.cited_key) AS n
            FROM citations c JOIN work_keys k ON k.key = c.citing_key GROUP BY k.work_id)
        SELECT w.work_id, w.title, w.abstract,
               EXISTS (SELECT 1 FROM code_links cl WHERE cl.work_id = w.work_id) OR coalesce(w.code_badge, FALSE),
               (SELECT count(*) FROM person_authorships a WHERE a.work_id = w.work_id AND a.position IS NOT NULL),
               w.authors_truncated, refs.n
        FROM works w LEFT JOIN refs USING (work_id)
        WHERE w.title IS NOT NULL AND w.abstract IS NOT NULL AND length(trim(w.abstract)) > 0
        ORDER BY w.work_id
        """
    ).fetchall()
    papers = []
    for work_id, title, abstract, has_code, n_authors, truncated, n_refs in rows:
        paper = {"id": work_id, "title": title, "abstract": abstract, "has_code": bool(has_code)}
        if n_authors and not truncated:  # a truncated list ("et al.") does not give the count
            paper["n_authors"] = int(n_authors)
        if n_refs:
            paper["n_references"] = int(n_refs)
        papers.append(paper)
    return papers


def compute_ai_scores(con: duckdb.DuckDBPyConnection, model=None) -> int:
    from ..aiscore.model import load_model  # the model loads only when a build needs it

    con.execute(WORK_TABLE)
    con.execute(AUTHOR_TABLE)
    papers = papers_to_score(con)
    if not papers:
        return 0
    model = model or load_model()
    results = [as_row(r) for r in model.score(papers)]
    scored = [(p, r) for p, r in zip(papers, results) if r.get("ai_score") is not None]  # errors stay unscored
    if not scored:
        return 0
    papers, results = [p for p, _ in scored], [r for _, r in scored]
    frame = pd.DataFrame({
        "work_id": [p["id"] for p in papers],
        "ai_score": [r["ai_score"] for r in results],
        "p_accept": [r["p_accept"] for r in results],
        "expected_rating": [r["expected_rating"] for r in results],
        "reasons": [list(r["reasons"]) for r in results],
        "model_version": [r["model_version"] for r in results],
    })
    con.register("_scores", frame)
    try:
        con.execute("INSERT INTO work_ai_score SELECT work_id, ai_score, p_accept, expected_rating, "
                    "CAST(reasons AS VARCHAR[]), model_version FROM _scores")
    finally:
        con.unregister("_scores")
    con.execute(
        """INSERT INTO author_ai_score
           SELECT a.author_id, round(avg(s.ai_score), 1), count(s.work_id), count(*)
           FROM person_authorships a LEFT JOIN work_ai_score s USING (work_id)
           GROUP BY a.author_id HAVING count(s.work_id) > 0"""
    )
    return len(papers)
