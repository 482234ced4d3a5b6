"""CD index, mCD and I-index: hand-worked graphs, the peers' own numbers, properties, and a 100k-citer hub.

cdindex (pip install cdindex) is the reference for CDINDEX_RULES on every work of a generated graph. novelpy pins
pandas 2.1 and scipy 1.13, so it cannot live in this environment: its DI1 on a seeded graph is recorded in
tests/data/peers/novelpy_di1.json (benchmarks/record_novelpy.py, see SOURCE.md there) and compared in every run.
To check the recording against a fresh novelpy run: see tests/data/peers/SOURCE.md.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scholarlens.analytics.disruption as disruption
from scholarlens.analytics.disruption import CDINDEX_RULES, NOVELPY_RULES, cd_index

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
import record_novelpy  # noqa: E402
from graphgen import generate  # noqa: E402

PEERS = Path(__file__).resolve().parents[1] / "data" / "peers"


def run(works: dict, citations: list, delta=5, **rules) -> pd.DataFrame:
    frame = pd.DataFrame({"id": list(works), "time": list(works.values())})
    edges = pd.DataFrame(citations, columns=["citing", "cited"])
    return cd_index(frame, edges, delta, **rules).set_index("id")


def oracle(works: dict, citations: list, delta, window="cdindex", same_year="exclude", empty=None,
           unknown_cited="keep") -> dict:
    """The definitions, one paper at a time with Python sets (slow, obviously right)."""
    edges = {(a, b) for a, b in citations if a != b and a in works and (b in works or unknown_cited == "keep")}
    refs, citers = defaultdict(set), defaultdict(set)
    for a, b in edges:
        refs[a].add(b)
        citers[b].add(a)
    out = {}
    for f, tf in works.items():
        def in_b(c, tf=tf):
            after = works[c] > tf if same_year == "exclude" else works[c] >= tf
            return after and (window == "none" or works[c] <= tf + delta)

        a = {c for c in citers[f] if window == "none" or in_b(c)}
        b = {c for r in refs[f] for c in citers[r] if c != f and in_b(c)}
        n = len(a | b)
        cd = (len(a - b) - len(a & b)) / n if n else empty
        i = sum(1 for c in citers[f] if delta is None or works[c] <= tf + delta)
        out[f] = (cd, None if cd is None else cd * i, i)
    return out


def assert_matches(result: pd.DataFrame, expected: dict) -> None:
    for f, (cd, mcd, i) in expected.items():
        row = result.loc[f]
        if cd is None:
            assert np.isnan(row.cd) and np.isnan(row.mcd), f
        else:
            assert row.cd == cd and row.mcd == mcd, (f, row.cd, cd)
        assert row.i == i, f


# ------------------------------------------------------------------------------------------ hand-worked graphs

def test_fully_disruptive_paper_is_one():
    # F (2000) cites R1, R2; its two citers cite neither reference: both are I.
    works = {"R1": 1990, "R2": 1991, "F": 2000, "C1": 2001, "C2": 2003}
    res = run(works, [("F", "R1"), ("F", "R2"), ("C1", "F"), ("C2", "F")])
    assert res.loc["F", "cd"] == 1.0 and res.loc["F", "i"] == 2 and res.loc["F", "mcd"] == 2.0


def test_fully_consolidating_paper_is_minus_one():
    # Every later work that cites F also cites F's reference R: all are J.
    works = {"R": 1990, "F": 2000, "C1": 2001, "C2": 2002, "C3": 2005}
    cites = [("F", "R")] + [(c, x) for c in ("C1", "C2", "C3") for x in ("F", "R")]
    res = run(works, cites)
    assert res.loc["F", "cd"] == -1.0 and res.loc["F", "mcd"] == -3.0


def test_mixed_paper_counts_k_in_the_denominator():
    # I = {C1}, J = {C2}, K = {C3, C4}: CD = (1 - 1) / 4; drop C2's reference and CD = (2 - 0) / 4.
    works = {"R": 1990, "F": 2000, "C1": 2001, "C2": 2001, "C3": 2002, "C4": 2004}
    cites = [("F", "R"), ("C1", "F"), ("C2", "F"), ("C2", "R"), ("C3", "R"), ("C4", "R")]
    assert run(works, cites).loc["F", "cd"] == 0.0
    assert run(works, [e for e in cites if e != ("C2", "R")]).loc["F", "cd"] == 0.5


def test_worked_example_one_sixth():
    # F (1995) cites four works; five works cite F later, three works cite F's references in 1995 < t <= 2000:
    # I = {T7, T8, T10}, J = {T6, T9}, K = {T5}, so CD = (3 - 2) / 6 and i = 5.
    works = {"A": 1992, "B": 1992, "C": 1993, "D": 1993, "F": 1995, "T5": 1997, "T6": 1998, "T7": 1999,
             "T8": 1999, "T9": 1998, "T10": 1997}
    cites = [("F", "C"), ("F", "A"), ("F", "B"), ("F", "D"), ("T5", "C"), ("T6", "C"), ("T6", "F"), ("T7", "F"),
             ("T8", "F"), ("T9", "F"), ("T9", "B"), ("T9", "D"), ("T10", "F")]
    res = run(works, cites)
    assert res.loc["F", "cd"] == 1 / 6 and res.loc["F", "i"] == 5 and res.loc["F", "mcd"] == (1 / 6) * 5


def test_window_edges_and_same_year():
    # C_same is F's year, C_end is at t_f + delta (inside), C_late one year later (outside).
    works = {"R": 1990, "F": 2000, "C_same": 2000, "C_end": 2005, "C_late": 2006}
    cites = [("F", "R"), ("C_same", "F"), ("C_end", "F"), ("C_late", "F"), ("C_late", "R"), ("C_same", "R")]
    res = run(works, cites, 5)
    assert res.loc["F", "cd"] == 1.0  # only C_end, an I
    assert res.loc["F", "i"] == 2  # cdindex's I-index: every citer up to t_f + delta, same year included
    inc = run(works, cites, 5, same_year="include")
    assert inc.loc["F", "cd"] == 0.0  # C_same (J) joins C_end (I)
    assert run(works, cites, 6).loc["F", "cd"] == 0.0  # C_late (J) joins
    # No window: C_late counts; under novelpy's rules C_same counts too.
    assert run(works, cites, 5, window="none").loc["F", "cd"] == 1 / 3  # I = {C_same, C_end}, J = {C_late}
    assert run(works, cites, None, **NOVELPY_RULES).loc["F", "cd"] == -1 / 3


def test_citer_before_the_focal_paper_counts_only_without_window():
    # A citation to a later work (C, 1998, cites F, 2000): outside cdindex's window, an I under novelpy's rules.
    works = {"R": 1990, "C": 1998, "F": 2000}
    res = run(works, [("F", "R"), ("C", "F"), ("C", "R")])
    assert np.isnan(res.loc["F", "cd"]) and res.loc["F", "i"] == 1
    assert run(works, [("F", "R"), ("C", "F"), ("C", "R")], None, **NOVELPY_RULES).loc["F", "cd"] == 1.0


def test_empty_candidate_set():
    works = {"F": 2000, "G": 2001}
    res = run(works, [])
    assert res["cd"].isna().all() and res["mcd"].isna().all() and (res["i"] == 0).all()
    assert res.attrs["cd_index"]["works_without_candidates"] == 2
    zero = run(works, [], empty=0.0)
    assert (zero["cd"] == 0.0).all() and (zero["mcd"] == 0.0).all()


# ------------------------------------------------------------------------------------------ input cleaning

def test_duplicates_self_citations_and_unknown_works_are_cleaned_and_counted():
    works = {"R": 1990, "F": 2000, "C": 2001}
    cites = [("F", "R"), ("F", "R"), ("C", "F"), ("F", "F"), ("GHOST", "F"), ("C", "X"), ("F", "X")]
    res = run(works, cites)
    stats = res.attrs["cd_index"]
    assert stats["duplicate_citations"] == 1 and stats["self_citations"] == 1
    assert stats["citations_from_unknown_works"] == 1 and stats["citations_to_unknown_works"] == 2
    assert "X" not in res.index  # no time, no row
    # X (unknown) is a reference F shares with C, so C is a J: CD = -1. Ignoring X, C is an I.
    assert res.loc["F", "cd"] == -1.0 and res.loc["F", "i"] == 1
    assert run(works, cites, unknown_cited="drop").loc["F", "cd"] == 1.0


def test_works_without_time_and_duplicate_works():
    works = pd.DataFrame({"id": ["F", "C", "N", "F"], "time": [2000, 2001, None, 2000]})
    res = cd_index(works, pd.DataFrame({"citing": ["C", "N"], "cited": ["F", "F"]}), 5)
    assert list(res["id"]) == ["F", "C"] and res.attrs["cd_index"]["works_without_time"] == 1
    assert res.attrs["cd_index"]["duplicate_works"] == 1 and res.set_index("id").loc["F", "i"] == 1
    clash = pd.DataFrame({"id": ["F", "F"], "time": [2000, 2001]})
    with pytest.raises(ValueError, match="different times"):
        cd_index(clash, pd.DataFrame({"citing": [], "cited": []}), 5)


def test_arrow_in_arrow_out_with_integer_ids():
    works = pa.table({"id": pa.array([1, 2, 3], pa.int32()), "time": pa.array([2000, 2001, 2002], pa.int16())})
    cites = pa.table({"citing": [2, 3], "cited": [1, 1]})
    res = cd_index(works, cites, 5)
    assert isinstance(res, pa.Table) and res.column_names == ["id", "cd", "mcd", "i"]
    # 2 shares its reference 1 with 3, which does not cite 2 (K); 3 has no later work at all.
    assert res["cd"].to_pylist() == [1.0, 0.0, None] and res["i"].to_pylist() == [2, 0, 0]
    assert json.loads(res.schema.metadata[b"cd_index"])["citations_used"] == 2


def test_bad_switches_are_refused():
    works, cites = pd.DataFrame({"id": [1], "time": [2000]}), pd.DataFrame({"citing": [], "cited": []})
    for bad in ({"window": "5y"}, {"same_year": "maybe"}, {"unknown_cited": "guess"}):
        with pytest.raises(ValueError):
            cd_index(works, cites, 5, **bad)
    with pytest.raises(ValueError, match="needs delta"):
        cd_index(works, cites)
    with pytest.raises(TypeError):
        cd_index(pd.DataFrame({"id": [1], "time": [2000.5]}), cites, 5)


# ------------------------------------------------------------------------------------------ peers

@pytest.fixture(scope="module")
def graph_20k():
    return generate(20_000, seed=7)


def cdindex_reference(works: pd.DataFrame, citations: pd.DataFrame, delta: int) -> pd.DataFrame:
    import cdindex  # a test dependency (pyproject [test])
    g = cdindex.Graph()
    for name, t in zip(works["id"].tolist(), works["time"].tolist()):
        g.add_vertex(name, t)
    for a, b in zip(citations["citing"].tolist(), citations["cited"].tolist()):
        g.add_edge(a, b)
    rows = [(n, g.cdindex(n, delta), g.mcdindex(n, delta), g.iindex(n, delta)) for n in works["id"].tolist()]
    return pd.DataFrame(rows, columns=["id", "cd", "mcd", "i"]).set_index("id").astype(float)


def assert_same_as(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    ours = ours.set_index("id").loc[theirs.index]
    for col in ("cd", "mcd", "i"):
        a, b = ours[col].to_numpy(float), theirs[col].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), col
        assert np.array_equal(a[~np.isnan(a)], b[~np.isnan(b)]), col  # exact, not approximately


@pytest.mark.parametrize("delta", [1, 5, 10])
def test_equal_to_cdindex_on_every_work_of_a_generated_graph(graph_20k, delta):
    works, citations = graph_20k
    works = works[["id", "time"]]
    assert len(citations) == 20_000
    assert_same_as(cd_index(works, citations, delta, **CDINDEX_RULES), cdindex_reference(works, citations, delta))


def test_equal_to_cdindex_through_the_hub_paths(graph_20k, monkeypatch):
    # At this size few works are hubs; make many of them hubs.
    monkeypatch.setattr(disruption, "_MIN_HUB_CITERS", 10)
    works, citations = graph_20k
    works = works[["id", "time"]]
    assert_same_as(cd_index(works, citations, 5), cdindex_reference(works, citations, 5))


@pytest.mark.parametrize("rules", [CDINDEX_RULES, NOVELPY_RULES, dict(CDINDEX_RULES, same_year="include")])
def test_time_range_gives_the_rows_of_the_whole_computation(graph_20k, rules, monkeypatch):
    """Rows for the works of a range of times only, their paths alone walked: the same numbers as computing
    every work, hubs included."""
    monkeypatch.setattr(disruption, "_MIN_HUB_CITERS", 10)
    works, citations = graph_20k
    works = works[["id", "time"]]
    delta = 5 if rules["window"] == "cdindex" else None
    whole = cd_index(works, citations, delta, **rules).set_index("id")
    times = sorted(works["time"].unique())
    for first, last in [(times[3], times[3]), (times[len(times) // 2], times[len(times) // 2 + 2]),
                        (times[0], times[-1]), (times[-1] + 1, times[-1] + 5)]:
        part = cd_index(works, citations, delta, **rules, time_range=(first, last)).set_index("id")
        inside = works.loc[(works["time"] >= first) & (works["time"] <= last), "id"]
        assert list(part.index) == list(inside)  # in input order
        pd.testing.assert_frame_equal(part, whole.loc[inside])
    with pytest.raises(ValueError, match="time_range"):
        cd_index(works, citations, 5, time_range=(2005, 2001))


def test_equal_to_cdindex_with_string_ids_and_unknown_cited_works():
    works, citations = generate(10_000, seed=3, id_prefix="W")
    works = works[["id", "time"]]
    # Take some works out of `works`: citations to them stay as shared references (cdindex needs them as
    # vertices; their time does not matter to anyone else's CD). Their own rows disappear.
    hidden = works["id"].iloc[::13]
    ours = cd_index(works[~works["id"].isin(hidden)], citations[~citations["citing"].isin(hidden)], 5)
    theirs = cdindex_reference(works, citations[~citations["citing"].isin(hidden)], 5)
    assert_same_as(ours, theirs.drop(index=hidden))
    assert ours.attrs["cd_index"]["citations_to_unknown_works"] > 0


def assert_equal_to_novelpy_di1(record: dict) -> None:
    """Regenerate the recorded input, check it is the same data, and compare cd (novelpy's rules) with DI1."""
    works, citations = record_novelpy.di1_input()
    expected = {k: v for k, v in record["input"].items() if k != "generator"}
    assert record_novelpy.di1_fingerprint(works, citations) == expected, (
        "the generator no longer makes the recorded input: rerun benchmarks/record_novelpy.py with novelpy")
    ours = cd_index(works[["id", "time"]], citations, None, **NOVELPY_RULES).set_index("id")
    assert sorted(record["id"]) == sorted(works["id"].tolist())  # novelpy scores every work
    di1 = np.array([np.nan if v is None else v for v in record["di1"]], dtype=np.float64)
    # Exact: DI1 is a ratio of counts, the same division on both sides (NaN in the same places, if any).
    np.testing.assert_array_equal(ours.loc[record["id"], "cd"].to_numpy(np.float64), di1)


def test_equal_to_recorded_novelpy_di1_on_every_work():
    record = record_novelpy.load(PEERS / record_novelpy.DI1_FILE)
    assert record["input"]["works"] == len(record["id"]) > 900 and record["input"]["citations"] == 10_000
    assert_equal_to_novelpy_di1(record)


# ------------------------------------------------------------------------------------------ properties

@st.composite
def small_graphs(draw):
    n = draw(st.integers(1, 9))
    works = {f"w{k}": draw(st.integers(2000, 2006)) for k in range(n)}
    names = list(works) + ["ghost"]  # a citation may point at a work we do not know
    edges = draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)), max_size=30))
    return works, edges


SWITCHES = st.sampled_from([
    dict(CDINDEX_RULES), dict(NOVELPY_RULES), dict(CDINDEX_RULES, same_year="include"),
    dict(NOVELPY_RULES, same_year="exclude", empty=None), dict(CDINDEX_RULES, unknown_cited="drop", empty=0.0),
])


TIME_RANGES = st.none() | st.tuples(st.integers(2000, 2006), st.integers(0, 3)).map(lambda t: (t[0], t[0] + t[1]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_graphs(), st.integers(0, 4), SWITCHES, st.booleans(), TIME_RANGES)
def test_matches_the_set_definition_on_random_graphs(graph, delta, rules, every_work_a_hub, time_range):
    works, edges = graph
    with pytest.MonkeyPatch.context() as patch:
        if every_work_a_hub:  # exercise the hub masks beside the path walk on tiny graphs
            patch.setattr(disruption, "_MIN_HUB_CITERS", 1)
        res = run(works, edges, delta, **rules, time_range=time_range)
    expected = oracle(works, edges, delta, **rules)
    if time_range is not None:  # rows for the works of those times only, their numbers unchanged
        expected = {f: v for f, v in expected.items() if time_range[0] <= works[f] <= time_range[1]}
    assert sorted(res.index) == sorted(expected)
    assert_matches(res, expected)
    known = res["cd"].dropna()
    assert ((known >= -1) & (known <= 1)).all()
    assert (res["mcd"].abs().fillna(0) <= res["i"]).all()


@settings(max_examples=200, deadline=None)
@given(small_graphs(), st.integers(0, 4), st.integers(1, 3), st.data())
def test_a_citation_after_the_window_changes_nothing(graph, delta, years_late, data):
    works, edges = graph
    before = run(works, edges, delta)
    focal = data.draw(st.sampled_from(sorted(works)))
    late = dict(works, late=works[focal] + delta + years_late)
    targets = [focal] + [b for a, b in edges if a == focal]
    extra = [("late", t) for t in data.draw(st.lists(st.sampled_from(targets), min_size=1, max_size=3))]
    after = run(late, edges + extra, delta)
    for col in ("cd", "mcd", "i"):
        x, y = before.loc[focal, col], after.loc[focal, col]
        assert x == y or (np.isnan(x) and np.isnan(y)), col


@settings(max_examples=100, deadline=None)
@given(small_graphs(), st.integers(0, 4))
def test_equal_to_cdindex_on_random_graphs(graph, delta):
    works, edges = graph
    clean = sorted({(a, b) for a, b in edges if a != b and a in works and b in works})  # what cdindex accepts
    frame = pd.DataFrame({"id": list(works), "time": list(works.values())})
    edges_frame = pd.DataFrame(clean, columns=["citing", "cited"])
    assert_same_as(cd_index(frame, edges_frame, delta), cdindex_reference(frame, edges_frame, delta))


# ------------------------------------------------------------------------------------------ hub

def test_hub_with_100k_citers_in_the_window():
    """F cites a hub that 100k works cite over ten years; each of them is itself a focal paper citing the hub.

    Expanding every path would touch ~5e9 (focal, citer) pairs; the hub mask counts them with binary searches.
    Only the results are checked here; the benchmark times it against cdindex.
    """
    n, delta = 100_000, 10
    k = np.arange(n)
    citer = 102 + k
    time_ = np.concatenate([[1999, 2000], np.full(100, 1998), 2000 + k % 10])
    src = np.concatenate([[1, 1], citer, citer, citer[::7]])
    dst = np.concatenate([[0, 2], np.zeros(n, np.int64), 2 + k % 100, np.ones(citer[::7].size, np.int64)])
    works = pd.DataFrame({"id": np.arange(102 + n), "time": time_})
    res = cd_index(works, pd.DataFrame({"citing": src, "cited": dst}), delta).set_index("id")

    in_window = k % 10 != 0  # years 2001..2009 (2000 is F's own year)
    cites_f = k % 7 == 0
    j = int((cites_f & in_window).sum())  # every citer of F also cites the hub, one of F's references
    assert res.loc[1, "cd"] == -j / int(in_window.sum())
    assert res.loc[1, "i"] == int(cites_f.sum())
    assert res.loc[0, "cd"] == 1.0 and res.loc[0, "i"] == n + 1  # the hub cites nothing: its citers are all I
    # A citer in year y shares the hub with every citer after it in its window, and cites nothing cited.
    late = res.loc[citer[k % 10 == 9], "cd"]
    assert late.isna().all()
    assert (res.loc[citer[k % 10 < 9], "cd"] == 0.0).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), unknown_cited=st.sampled_from(["keep", "drop"]))
def test_dense_citation_codes_equal_the_general_path(seed, unknown_cited):
    # Integer ids in a narrow range take the compiled dense coding; the same ids as strings take Arrow's lookup and
    # dictionary_encode. Citations from and to works outside `works`, repeated ones, self-citations and duplicate
    # works: the same graph, codes and counts.
    rng = np.random.default_rng(seed)
    n_ids = int(rng.integers(20, 40))
    ids = rng.choice(80, size=n_ids, replace=False)
    ids = np.r_[ids, ids[: int(rng.integers(0, 3))]]  # a work listed twice
    times = rng.integers(2000, 2010, len(ids))
    times[len(ids) - (ids.size - n_ids):] = times[: ids.size - n_ids]  # listed twice with the same time
    citing, cited = rng.integers(0, 80, 200), rng.integers(0, 80, 200)
    as_int = disruption._build_graph(pa.array(ids), pa.array(times), pa.array(citing), pa.array(cited), unknown_cited)
    as_str = disruption._build_graph(pa.array(ids.astype(str)), pa.array(times), pa.array(citing.astype(str)),
                                     pa.array(cited.astype(str)), unknown_cited)
    assert disruption._dense_codes(pa.array(ids), pa.array(citing), pa.array(cited), unknown_cited) is not None
    assert as_int.n_timed == as_str.n_timed and as_int.n_nodes == as_str.n_nodes
    np.testing.assert_array_equal(as_int.src, as_str.src)
    np.testing.assert_array_equal(as_int.dst, as_str.dst)
    assert as_int.stats == as_str.stats
    assert as_int.stats["citations_from_unknown_works"] > 0 and as_int.stats["citations_used"] > 0
