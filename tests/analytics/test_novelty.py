"""What semantic novelty must mean, stated as properties over small synthetic literatures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scholarlens.analytics.novelty import NO_DATE, NO_EARLIER, NO_TEXT, author_novelty, semantic_novelty

DIM = 12
SETTINGS = settings(max_examples=40, deadline=None)


def _noise(rng: np.random.Generator, size: float) -> np.ndarray:
    """A random vector of length `size` orthogonal to the two topic axes (dimensions 0 and 1)."""
    v = np.zeros(DIM)
    v[2:] = rng.standard_normal(DIM - 2)
    return v / np.linalg.norm(v) * size


def _topic_work(rng, axis: int, spread: float) -> np.ndarray:
    v = np.zeros(DIM)
    v[axis] = 1.0
    return v + _noise(rng, spread)


@st.composite
def literatures(draw):
    """Random works: vectors, dates over a few years, two groups."""
    n = draw(st.integers(min_value=2, max_value=30))
    seed = draw(st.integers(min_value=0, max_value=2**31))
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM))
    days = rng.integers(0, 3 * 365, size=n)
    dates = pd.Timestamp("2015-01-01") + pd.to_timedelta(days, unit="D")
    works = pd.DataFrame({"id": [f"w{i}" for i in range(n)], "date": dates, "group": rng.choice(["cs", "bio"], n)})
    return works, vectors


def _by_id(result: pd.DataFrame) -> dict:
    return {row.id: row for row in result.itertuples()}


@SETTINGS
@given(seed=st.integers(0, 2**31), spread=st.floats(0.02, 0.3), n_topic=st.integers(3, 12))
def test_near_copy_of_an_earlier_work_scores_at_the_bottom(seed, spread, n_topic):
    rng = np.random.default_rng(seed)
    vectors = [_topic_work(rng, axis, spread) for axis in (0, 1) for _ in range(n_topic)]
    dates = [f"2016-{1 + i % 12:02d}-01" for i in range(len(vectors))]
    original = int(rng.integers(len(vectors)))
    vectors.append(vectors[original] + _noise(rng, 1e-4))  # the near-copy, published later in the same year
    dates.append("2016-12-31")
    works = pd.DataFrame({"id": [f"w{i}" for i in range(len(vectors))], "date": dates, "group": "cs"})
    result = _by_id(semantic_novelty(works, np.array(vectors), k=5))
    copy = result[f"w{len(vectors) - 1}"]
    scored = [r.novelty for r in result.values() if not math.isnan(r.novelty)]
    assert copy.neighbours[0][0] == f"w{original}"
    assert copy.distance < 1e-6
    assert copy.novelty == min(scored)
    assert copy.novelty <= 100.0 / len(scored)


@SETTINGS
@given(seed=st.integers(0, 2**31), spread=st.floats(0.0, 0.3), n_topic=st.integers(2, 10))
def test_combining_two_distant_topics_scores_above_works_within_either(seed, spread, n_topic):
    rng = np.random.default_rng(seed)
    # One earlier seed work per topic (2015), then the cohort of 2016: works within topic 0 or 1, and a combination.
    vectors = [_topic_work(rng, 0, spread), _topic_work(rng, 1, spread)]
    dates = ["2015-06-01", "2015-06-01"]
    for i in range(n_topic):
        for axis in (0, 1):
            vectors.append(_topic_work(rng, axis, spread))
            dates.append(f"2016-{1 + i % 12:02d}-15")
    both = np.zeros(DIM)
    both[:2] = 1.0 / math.sqrt(2.0)
    vectors.append(both + _noise(rng, spread / 10))
    dates.append(str(pd.Timestamp("2016-01-01") + pd.Timedelta(days=int(rng.integers(0, 365))))[:10])
    works = pd.DataFrame({"id": [f"w{i}" for i in range(len(vectors))], "date": dates, "group": "cs"})
    result = semantic_novelty(works, np.array(vectors), k=3)
    cohort = result.iloc[2:-1]
    combined = result.iloc[-1]
    assert combined.novelty > cohort.novelty.max()
    assert combined.distance > cohort.distance.max()


@SETTINGS
@given(literatures(), st.data())
def test_a_work_depends_only_on_works_published_before_it(literature, data):
    works, vectors = literature
    focus = data.draw(st.integers(0, len(works) - 1))
    before = semantic_novelty(works, vectors, k=4)
    # Change every later work's text and add new later works: the focus work must not notice.
    later = works["date"] > works["date"].iloc[focus]
    changed = vectors.copy()
    rng = np.random.default_rng(len(works))
    changed[later.to_numpy()] = rng.standard_normal((int(later.sum()), DIM))
    extra_n = data.draw(st.integers(0, 5))
    extra = pd.DataFrame(
        {
            "id": [f"x{i}" for i in range(extra_n)],
            "date": works["date"].iloc[focus] + pd.to_timedelta(rng.integers(1, 400, extra_n), unit="D"),
            "group": "cs",
        }
    )
    after = semantic_novelty(
        pd.concat([works, extra], ignore_index=True), np.vstack([changed, rng.standard_normal((extra_n, DIM))]), k=4
    )
    b, a = before.iloc[focus], after.iloc[focus]
    assert [n for n, _ in b.neighbours] == [n for n, _ in a.neighbours]
    np.testing.assert_allclose([s for _, s in b.neighbours], [s for _, s in a.neighbours], rtol=1e-5, atol=1e-6)
    assert (math.isnan(b.distance) and math.isnan(a.distance)) or math.isclose(b.distance, a.distance, abs_tol=1e-6)
    assert b.reason == a.reason


@SETTINGS
@given(literatures(), st.integers(1, 8), st.integers(0, 2**31))
def test_adding_later_works_changes_no_earlier_distance_nor_percentile(literature, n_new, seed):
    works, vectors = literature
    rng = np.random.default_rng(seed)
    last_year = works["date"].max().year
    new = pd.DataFrame(
        {
            "id": [f"n{i}" for i in range(n_new)],
            "date": pd.Timestamp(f"{last_year + 1}-01-01") + pd.to_timedelta(rng.integers(0, 365, n_new), unit="D"),
            "group": rng.choice(["cs", "bio"], n_new),
        }
    )
    before = semantic_novelty(works, vectors, k=3)
    grown = np.vstack([vectors, rng.standard_normal((n_new, DIM))])
    after = semantic_novelty(pd.concat([works, new], ignore_index=True), grown, k=3)
    head = after.iloc[: len(works)]
    np.testing.assert_allclose(head.distance.to_numpy(), before.distance.to_numpy(), atol=1e-6, equal_nan=True)
    # New works are in a later year, so no cohort of the old works changes: the percentiles stay too.
    np.testing.assert_allclose(head.novelty.to_numpy(), before.novelty.to_numpy(), atol=1e-9, equal_nan=True)
    assert [[n for n, _ in x] for x in head.neighbours] == [[n for n, _ in x] for x in before.neighbours]


@SETTINGS
@given(literatures())
def test_percentiles_lie_in_0_100_and_neighbours_are_earlier_and_sorted(literature):
    works, vectors = literature
    result = semantic_novelty(works, vectors, k=3)
    date_of = dict(zip(works["id"], works["date"]))
    for row in result.itertuples():
        if row.reason is None:
            assert 0 < row.novelty < 100
            assert 1 <= len(row.neighbours) <= 3
        else:
            assert math.isnan(row.novelty) and math.isnan(row.distance) and row.neighbours == []
        sims = [s for _, s in row.neighbours]
        assert sims == sorted(sims, reverse=True)
        assert all(date_of[n] < date_of[row.id] for n, _ in row.neighbours)


def test_works_without_earlier_works_text_or_date_get_no_score_and_a_reason():
    works = pd.DataFrame(
        {
            "id": ["first", "twin", "later", "empty", "undated"],
            "date": ["2019-01-01", "2019-01-01", "2020-05-01", "2021-01-01", None],
            "group": "cs",
        }
    )
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    result = semantic_novelty(works, vectors).set_index("id")
    assert result.loc["first", "reason"] == NO_EARLIER
    assert result.loc["twin", "reason"] == NO_EARLIER  # same day is not earlier
    assert result.loc["empty", "reason"] == NO_TEXT
    assert result.loc["undated", "reason"] == NO_DATE
    assert result.loc["later", "reason"] is None
    assert result.loc["later", "novelty"] == 50.0  # alone in its cohort
    assert result.loc["later", "cohort_size"] == 1
    assert [n for n, _ in result.loc["later", "neighbours"]] == ["first", "twin"]
    assert math.isclose(result.loc["later", "distance"], 1 - 1 / math.sqrt(2), rel_tol=1e-6)
    assert pd.isna(result.loc["first", "novelty"])


def test_year_only_works_never_count_same_year_works_as_earlier():
    works = pd.DataFrame({"id": ["a", "b", "c"], "year": [2018, 2018, 2019], "group": "cs"})
    result = semantic_novelty(works, np.eye(3)[[0, 0, 1]] + 0.1).set_index("id")
    assert result.loc["a", "reason"] == result.loc["b", "reason"] == NO_EARLIER
    assert [n for n, _ in result.loc["c", "neighbours"]] == ["a", "b"]


def test_input_order_does_not_matter():
    rng = np.random.default_rng(3)
    works = pd.DataFrame(
        {"id": [f"w{i}" for i in range(40)], "year": rng.integers(2000, 2004, 40), "group": rng.choice(["a", "b"], 40)}
    )
    vectors = rng.standard_normal((40, 8))
    straight = semantic_novelty(works, vectors, k=5).set_index("id").sort_index()
    perm = rng.permutation(40)
    shuffled = semantic_novelty(works.iloc[perm], vectors[perm], k=5).set_index("id").sort_index()
    pd.testing.assert_series_equal(straight.novelty, shuffled.novelty)
    names = lambda frame: frame.neighbours.map(lambda pairs: [n for n, _ in pairs])
    assert names(straight).equals(names(shuffled))


def test_bad_input_is_refused():
    works = pd.DataFrame({"id": ["a"], "year": [2000], "group": ["x"]})
    with pytest.raises(ValueError, match="vector rows"):
        semantic_novelty(works, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="date"):
        semantic_novelty(works[["id", "group"]], np.ones((1, 3)))


def test_author_novelty_is_the_median_of_scored_papers():
    assert author_novelty(pd.Series([10.0, 90.0, 55.0, None])) == 55.0
    assert author_novelty(pd.Series([0.5, 40.0, 60.0, 70.0])) == 50.0
    assert math.isnan(author_novelty(pd.Series([None, float("nan")], dtype="float64")))
    assert math.isnan(author_novelty(pd.Series([], dtype="float64")))
