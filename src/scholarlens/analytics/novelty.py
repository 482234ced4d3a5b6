"""Semantic novelty: how far a work's text stands from the works published before it.

For each work:
- neighbours: its k most similar works published strictly earlier (cosine similarity of text vectors), nearest
  first. Works on the same day are not earlier than each other; with only a year known, a work is placed on
  1 January, so works of the same year never count as earlier than it.
- distance = 1 - similarity to the nearest earlier work. A work is as new as its closest precedent: averaging
  over the k nearest would let a near-copy of a paper in a sparse area look novel, because its other neighbours
  would be far away.
- novelty = the percentile (0-100) of that distance among the works of the same group (the caller's cohort label: the build passes category, else field) and year:
  100 * (number of works with a smaller distance + half the number with an equal one, itself included) / n.
  Counting ties by half makes the scale symmetric: a lone work scores 50, not 100. cohort_size says how many
  works the percentile ranks against.

What a score depends on: a work's neighbours and distance depend only on the vectors of works published
strictly before it, so adding later works never changes them. Its percentile also depends on the distances of
the other works of its group and year (which is what a percentile within field and year means); works of later
years never change it.

Works with no score get novelty and distance null and a reason: "no text" (a zero vector), "no date", or "no
earlier works".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scholarlens.embed import NO_DAY, nearest_earlier, to_days

NO_TEXT = "no text"
NO_DATE = "no date"
NO_EARLIER = "no earlier works"


def _days_and_years(works: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Publication day numbers and years from a date column, a year column, or both (date wins)."""
    n = len(works)
    days = np.full(n, NO_DAY, dtype=np.int64)
    years = pd.Series(np.nan, index=works.index, dtype="float64")
    if "date" in works:
        days = to_days(works["date"])
        stamps = pd.to_datetime(pd.Series(list(works["date"]), index=works.index, dtype=object), errors="coerce")
        years = stamps.dt.year.astype("float64")
    if "year" in works:
        given = pd.to_numeric(works["year"], errors="coerce")
        from_year = to_days([f"{int(y):04d}-01-01" if pd.notna(y) else None for y in given])
        days = np.where(days == NO_DAY, from_year, days)
        years = given.astype("float64").where(given.notna(), years)
    if "date" not in works and "year" not in works:
        raise ValueError("works need a 'date' or a 'year' column")
    return days, years.to_numpy()


def semantic_novelty(works: pd.DataFrame, vectors: np.ndarray, k: int = 10) -> pd.DataFrame:
    """Novelty of each work against the works published before it.

    works: one row per work with columns id, group (a field, or any cohort label), and date and/or year.
    vectors: one row per work, in the same order (any dimension; zero rows mean no text).
    Returns a frame in the input order with columns id, distance, novelty (0-100), neighbours (a list of
    (id, similarity), nearest first, at most k), cohort_size and reason (None when scored).
    """
    for column in ("id", "group"):
        if column not in works:
            raise ValueError(f"works need an {column!r} column")
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(works):
        raise ValueError(f"expected {len(works)} vector rows, got shape {vectors.shape}")
    if k < 1:
        raise ValueError("k must be at least 1")
    ids = works["id"].astype(str).to_numpy()
    days, years = _days_and_years(works)
    has_text = np.linalg.norm(vectors, axis=1) > 0
    searchable = np.flatnonzero(has_text & (days != NO_DAY))

    rows = np.full((len(works), k), -1, dtype=np.int64)
    sims = np.full((len(works), k), np.nan, dtype=np.float32)
    if len(searchable):
        r, s = nearest_earlier(vectors[searchable], days[searchable], k, keys=ids[searchable])
        rows[searchable] = np.where(r >= 0, searchable[np.maximum(r, 0)], -1)
        sims[searchable] = s

    distance = np.where(rows[:, 0] >= 0, 1.0 - sims[:, 0].astype(np.float64), np.nan)
    reason = np.where(~has_text, NO_TEXT, np.where(days == NO_DAY, NO_DATE, np.where(rows[:, 0] < 0, NO_EARLIER, None)))
    neighbours = [
        [(ids[r], float(s)) for r, s in zip(row_r, row_s) if r >= 0] for row_r, row_s in zip(rows, sims)
    ]

    out = pd.DataFrame(
        {
            "id": works["id"].to_numpy(),
            "distance": distance,
            "group": works["group"].to_numpy(),
            "year": years,
        }
    )
    cohort = out.dropna(subset=["distance"]).groupby(["group", "year"], dropna=False)["distance"]
    rank = cohort.rank(method="average")  # ties share the mean of their ranks
    size = cohort.transform("size")
    out["novelty"] = 100.0 * (rank - 0.5) / size
    out["cohort_size"] = size.astype("Int64")
    out["neighbours"] = neighbours
    out["reason"] = pd.Series(list(reason), index=out.index, dtype=object)  # None, not NaN, when scored
    return out[["id", "distance", "novelty", "neighbours", "cohort_size", "reason"]]


def author_novelty(paper_novelty: pd.Series) -> float:
    """An author's Novelty %: the median of their papers' novelty percentiles, papers with no score left out.

    The median, because one paper should not move the figure: a duplicate record scoring near 0, or one
    off-topic paper scoring near 100, leaves it where the author's typical paper stands, and a long list of
    papers neither raises nor lowers it by count alone. NaN when no paper has a score.
    """
    scores = pd.to_numeric(pd.Series(paper_novelty), errors="coerce").dropna()
    return float(scores.median()) if len(scores) else float("nan")
