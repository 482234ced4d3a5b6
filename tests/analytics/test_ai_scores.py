"""The store's AI Scores: one definition (PAPERS_SQL, score_papers, AUTHOR_AI_SCORE_SQL) that both engines run."""

from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from scholarlens.analytics import ai_scores
from scholarlens.store import connect


def _author_scores(rows: list[tuple[str, str, float | None]]) -> dict[str, tuple]:
    """AUTHOR_AI_SCORE_SQL over person_authorships/work_ai_score made from (author, work, score) rows."""
    con = duckdb.connect()
    con.execute("CREATE TABLE person_authorships (work_id VARCHAR, author_id VARCHAR, position INTEGER)")
    con.execute("CREATE TABLE work_ai_score (work_id VARCHAR, ai_score DOUBLE)")
    for author, work, score in rows:
        con.execute("INSERT INTO person_authorships VALUES (?, ?, 0)", [work, author])
        if score is not None:
            con.execute("INSERT INTO work_ai_score VALUES (?, ?)", [work, score])
    return {a: (s, n, t) for a, s, n, t in con.execute(ai_scores.AUTHOR_AI_SCORE_SQL).fetchall()}


def _half_up_mean(scores: list[float]) -> float:
    mean = sum(Decimal(str(s)) for s in scores) / len(scores)
    return float(mean.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("scores", [[41.8, 41.9], [41.9, 41.8], [0.1, 0.2], [10.0, 10.1, 10.2, 10.3],
                                    [33.3, 33.3, 33.4], [99.9], [12.3, 45.6, 78.9, 1.1, 0.0]])
def test_author_mean_rounds_ties_half_up_whatever_the_order(scores):
    rows = [("a", f"w{i}", s) for i, s in enumerate(scores)] + [("a", "unscored", None)]
    got = _author_scores(rows)["a"]
    assert got == (_half_up_mean(scores), len(scores), len(scores) + 1)


def test_author_with_no_scored_paper_has_no_score():
    got = _author_scores([("a", "w1", 50.0), ("b", "w2", None)])
    assert set(got) == {"a"}


def test_score_papers_is_independent_of_batching(sample_store):
    """Spark cuts the papers into arbitrary batches: each paper's score must not depend on its batch."""
    con = connect(sample_store, read_only=True)
    try:
        frame = con.execute(ai_scores.PAPERS_SQL + " ORDER BY w.work_id").df()
    finally:
        con.close()
    assert len(frame) > 10
    whole = ai_scores.score_papers(frame)
    parts = [ai_scores.score_papers(frame.iloc[i:i + 7].reset_index(drop=True)) for i in range(0, len(frame), 7)]
    import pandas as pd

    pieced = pd.concat(parts, ignore_index=True)
    assert list(whole.columns) == [c.split()[0] for c in ai_scores.WORK_SCHEMA.split(", ")]
    assert whole["work_id"].tolist() == pieced["work_id"].tolist()
    assert whole["ai_score"].tolist() == pieced["ai_score"].tolist()
    assert whole["reasons"].map(tuple).tolist() == pieced["reasons"].map(tuple).tolist()
    assert whole["ai_score"].between(0, 100).all()


def test_the_build_scores_every_work_with_text(sample_store):
    con = connect(sample_store, read_only=True)
    try:
        with_text = con.execute("SELECT count(*) FROM works WHERE title IS NOT NULL AND abstract IS NOT NULL "
                                "AND length(trim(abstract)) > 0").fetchone()[0]
        scored = con.execute("SELECT count(*) FROM work_ai_score").fetchone()[0]
        # the author's figure is the mean of the stored work scores, covering papers_scored of papers_total
        mismatched = con.execute(
            """SELECT count(*) FROM author_ai_score s JOIN (
                   SELECT a.author_id, avg(w.ai_score) AS mean, count(w.work_id) AS n, count(*) AS total
                   FROM person_authorships a LEFT JOIN work_ai_score w USING (work_id) GROUP BY a.author_id) m
               USING (author_id)
               WHERE abs(s.ai_score - m.mean) > 0.05 + 1e-9 OR s.papers_scored <> m.n OR s.papers_total <> m.total"""
        ).fetchone()[0]
    finally:
        con.close()
    assert with_text > 0 and scored == with_text
    assert mismatched == 0
