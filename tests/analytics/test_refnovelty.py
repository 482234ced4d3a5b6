"""Reference-combination novelty (Uzzi 2013, Lee 2015): hand-computed cases, NaN safety, a plain-loop reference
implementation of novelpy's definitions, order invariance, and equality with novelpy itself. novelpy pins old
pandas/SciPy/spaCy, so it lives in its own environment: its outputs on a seeded data set are recorded in
tests/data/peers/novelpy_refnovelty.json (benchmarks/record_novelpy.py, see SOURCE.md there) and compared in every
run. To check the recording against a fresh novelpy run: see tests/data/peers/SOURCE.md."""

from __future__ import annotations

import importlib.util
import itertools
import math
import random
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scholarlens.analytics import refnovelty
from scholarlens.analytics.refnovelty import lee_commonness, uzzi_novelty, uzzi_pairs

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "tests" / "data" / "peers"


def _frames(papers: dict[int, int], refs: dict[int, list]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """papers {id: year}; refs {citing: [journal or (journal, ref_year), ...]} in list order."""
    rows = []
    for citing, items in refs.items():
        for item in items:
            journal, ref_year = item if isinstance(item, tuple) else (item, 2000)
            rows.append((citing, journal, ref_year))
    p = pd.DataFrame({"id": list(papers), "year": list(papers.values())})
    r = pd.DataFrame(rows, columns=["citing", "journal", "ref_year"])
    return p, r


def _row(table: pd.DataFrame, pid) -> pd.Series:
    return table.set_index("id").loc[pid]


# ---------------------------------------------------------------- Lee, by hand


def test_lee_hand_computed():
    # Year 2020 pairs: P1 A-B, A-C, B-C; P2 A-B; P3 A-A, A-C, A-C. N_t = 7.
    # Counts: AB 2, AC 3, BC 1, AA 1.  N_A = 2 + 3 + 1 (self pair once) = 6, N_B = 3, N_C = 4.
    # Commonness: AB 2*7/18 = 7/9, AC 3*7/24 = 7/8, BC 7/12, AA 7/36.
    papers, refs = _frames(
        {1: 2020, 2: 2020, 3: 2020, 4: 2021},
        {1: ["A", "B", "C"], 2: ["A", "B"], 3: ["A", "A", "C"], 4: ["A", "A", "A"]},
    )
    out = lee_commonness(papers, refs)
    # P1 sorted [7/12, 7/9, 7/8]: 10th percentile at position 0.2.
    p1 = 7 / 12 + 0.2 * (7 / 9 - 7 / 12)
    assert _row(out, 1)["commonness_p10"] == pytest.approx(p1, rel=1e-12)
    assert _row(out, 1)["novelty"] == pytest.approx(-math.log(p1), rel=1e-12)
    assert _row(out, 1)["n_pairs"] == 3
    # P3 sorted [7/36, 7/8, 7/8].
    assert _row(out, 3)["commonness_p10"] == pytest.approx(7 / 36 + 0.2 * (7 / 8 - 7 / 36), rel=1e-12)
    # P2 has two references (novelpy needs more than two); P4 cites one journal only.
    assert pd.isna(_row(out, 2)["novelty"]) and _row(out, 2)["reason"] == "fewer than 3 references"
    assert pd.isna(_row(out, 4)["novelty"]) and _row(out, 4)["reason"] == "fewer than 2 distinct journals"
    # Scored as novelpy does (min_journals=1): 2021 holds only A-A pairs, commonness 3*3/(3*3) = 1.
    assert _row(lee_commonness(papers, refs, min_journals=1), 4)["novelty"] == 0.0


# ---------------------------------------------------------------- Uzzi, by hand with a scripted null


class _Scripted:
    """Stands in for random.Random: sample() returns scripted permutations, one per call."""

    def __init__(self, perms):
        self.perms = list(perms)

    def sample(self, population, k):
        perm = self.perms.pop(0)
        assert len(perm) == k == len(population)
        return [population[i] for i in perm]


def test_uzzi_hand_computed_with_scripted_null(monkeypatch):
    # One citing year, one cited year (one shuffle group). Positions 0..6 hold A B C | A D | C D.
    papers, refs = _frames({1: 2020, 2: 2020, 3: 2020}, {1: ["A", "B", "C"], 2: ["A", "D"], 3: ["C", "D"]})
    reverse = [6, 5, 4, 3, 2, 1, 0]  # -> D C D | A C | B A : CD 2, DD 1, AC 1, AB 1
    mix = [0, 3, 1, 2, 4, 5, 6]  # -> A A B | C D | C D : AA 1, AB 2, CD 2
    monkeypatch.setattr(
        refnovelty, "random", types.SimpleNamespace(Random=lambda seed: _Scripted([reverse, mix, reverse]))
    )
    out = uzzi_novelty(papers, refs, n_shuffles=3, min_refs=2)
    # Null counts over the three copies: AB [1,2,1], AC [1,0,1], BC [0,0,0], AD [0,0,0], CD [2,2,2].
    # sd of [1,2,1] and [1,0,1] is sqrt(2)/3, so AB z = (1 - 4/3) / (sqrt(2)/3) = -1/sqrt(2), AC z = +1/sqrt(2).
    # BC, AD and CD have zero sd and observed != mean: undefined, left out (novelpy: the paper becomes NaN).
    p1 = _row(out, 1)
    assert p1["conventionality"] == pytest.approx(0.0, abs=1e-12)
    assert p1["tail_novelty"] == pytest.approx(-1 / math.sqrt(2) + 0.1 * math.sqrt(2), rel=1e-12)
    assert (p1["n_pairs"], p1["n_pairs_excluded"]) == (2, 1)
    for pid in (2, 3):  # their only pair is undefined
        assert pd.isna(_row(out, pid)["conventionality"])
        assert _row(out, pid)["reason"].startswith("no pair with a defined z-score")
        assert _row(out, pid)["n_pairs_excluded"] == 1
    pairs = uzzi_pairs(papers, refs, n_shuffles=3, min_refs=2).set_index(["journal_a", "journal_b"])
    assert pairs.index.tolist() == [("A", "B"), ("A", "C"), ("A", "D"), ("B", "C"), ("C", "D")]
    assert pairs["observed"].tolist() == [1, 1, 1, 1, 1]
    np.testing.assert_allclose(pairs["null_mean"], [4 / 3, 2 / 3, 0, 0, 2], rtol=1e-12)
    np.testing.assert_allclose(pairs["null_sd"], [math.sqrt(2) / 3, math.sqrt(2) / 3, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(pairs["z"], [-1 / math.sqrt(2), 1 / math.sqrt(2), np.nan, np.nan, np.nan], rtol=1e-12)
    assert (pairs["year"] == 2020).all()


def test_uzzi_zero_variance_is_undefined_even_when_observed_equals_mean():
    # Every cited-year group holds a single journal, so each copy equals the data: sd 0 and observed == mean.
    # novelpy gives NaN there (0 / 0); here the pairs are left out and the papers get a null with a reason.
    papers, refs = _frames({1: 2020, 2: 2020}, {1: [("A", 1), ("B", 2), ("C", 3)], 2: [("A", 1), ("B", 2)]})
    out = uzzi_novelty(papers, refs, n_shuffles=4, min_refs=2)
    assert out["conventionality"].isna().all() and (out["n_pairs"] == 0).all()
    assert out["n_pairs_excluded"].tolist() == [3, 1]
    assert out["reason"].str.startswith("no pair with a defined z-score").all()


# ---------------------------------------------------------------- table conventions


def test_reasons_and_unknown_focal_ids():
    papers, refs = _frames(
        {1: 2020, 2: 2020, 3: 2020, 4: 2020},
        {1: ["A", "B", "C", "D"], 2: ["B", "C", "D", "A"], 3: ["A"], 4: ["C", "C", "C"]},
    )
    out = uzzi_novelty(papers, refs, focal_ids=[4, 3, 1, 99])
    assert out["id"].tolist() == [1, 3, 4, 99]
    assert out["reason"].tolist()[1:] == [
        "fewer than 3 references",
        "fewer than 2 distinct journals",
        "not in papers",
    ]
    assert list(out.columns) == [
        "id", "year", "conventionality", "tail_novelty", "n_pairs", "n_pairs_excluded", "reason",
    ]
    assert list(lee_commonness(papers, refs).columns) == [
        "id", "year", "commonness_p10", "novelty", "n_pairs", "reason",
    ]


def test_focal_subset_uses_the_whole_year_as_null():
    papers, refs = _random_data(np.random.default_rng(3), n_papers=40, n_journals=6)
    full = uzzi_novelty(papers, refs, n_shuffles=5, seed=2).set_index("id")
    some = papers["id"].iloc[::3].tolist()
    part = uzzi_novelty(papers, refs, focal_ids=some, n_shuffles=5, seed=2).set_index("id")
    pd.testing.assert_frame_equal(part, full.loc[sorted(some)])


def test_bad_input():
    papers, refs = _frames({1: 2020}, {1: ["A", "B", "C"]})
    with pytest.raises(ValueError):
        uzzi_novelty(papers, refs, n_shuffles=1)
    with pytest.raises(ValueError):
        uzzi_novelty(papers, refs.drop(columns="journal"))
    with pytest.raises(ValueError):
        lee_commonness(pd.concat([papers, papers]), refs)
    with pytest.raises(ValueError):
        uzzi_novelty(papers, refs, rng="mt")


def test_missing_values_are_handled():
    papers = pd.DataFrame({"id": [1, 2], "year": [2020, None]})
    refs = pd.DataFrame(
        {"citing": [1, 1, 1, 1, 2, 2, 2], "journal": ["A", None, "B", "C", "A", "B", "C"],
         "ref_year": [2019, 2018, None, 2019, 2019, 2019, 2019]}
    )
    out = uzzi_novelty(papers, refs, n_shuffles=3)
    assert _row(out, 2)["reason"] == "no publication year"
    assert _row(out, 1)["n_pairs"] + _row(out, 1)["n_pairs_excluded"] == 3  # the null-journal row is dropped
    lee = lee_commonness(papers, refs)
    assert np.isfinite(_row(lee, 1)["novelty"])


def test_without_ref_year_shuffles_within_the_citing_year():
    papers, refs = _random_data(np.random.default_rng(5), n_papers=30, n_journals=5)
    out = uzzi_novelty(papers, refs.drop(columns="ref_year"), n_shuffles=5)
    assert out["reason"].isna().sum() > 0


# ---------------------------------------------------------------- a plain-loop reference of novelpy's rules


def _random_data(rng, n_papers=12, n_journals=5, years=(2020, 2021), ref_years=(2018, 2019)):
    papers = {int(i): int(rng.choice(years)) for i in rng.permutation(np.arange(1, n_papers + 1))}
    refs = {
        pid: [(f"J{rng.integers(n_journals)}", int(rng.choice(ref_years))) for _ in range(rng.integers(0, 7))]
        for pid in papers
    }
    return _frames(papers, refs)


def _reference(papers, refs, seed, n_shuffles):
    """novelpy's Uzzi and Lee written as plain loops (papers of a year in id order, references in list order)."""
    uzzi, lee = {}, {}
    lists = {c: list(zip(g["journal"], g["ref_year"])) for c, g in refs.groupby("citing", sort=False)}
    for year, group in papers.groupby("year"):
        docs = [(pid, lists.get(pid, [])) for pid in sorted(group["id"])]
        pairs = {
            pid: [tuple(sorted(c)) for c in itertools.combinations([j for j, _ in items], 2)] for pid, items in docs
        }
        observed = Counter(p for ps in pairs.values() for p in ps)
        rnd = random.Random(seed)
        copies = []
        for _ in range(n_shuffles):
            slots = [(pid, j, y) for pid, items in docs for j, y in items]
            labels = [j for _, j, _ in slots]
            for y in set(s[2] for s in slots):
                idx = [k for k, s in enumerate(slots) if s[2] == y]
                for k, j in zip(idx, rnd.sample([labels[k] for k in idx], k=len(idx))):
                    labels[k] = j
            per_paper = {}
            for (pid, _, _), j in zip(slots, labels):
                per_paper.setdefault(pid, []).append(j)
            copies.append(Counter(tuple(sorted(c)) for js in per_paper.values() for c in itertools.combinations(js, 2)))
        total = sum(observed.values())
        involve = Counter()
        for (a, b), c in observed.items():
            involve[a] += c
            if a != b:
                involve[b] += c
        for pid, items in docs:
            if len(items) < 3 or len({j for j, _ in items}) < 2:
                continue
            zs = []
            for pair in pairs[pid]:
                counts = [copy[pair] for copy in copies]
                mean, sd = np.mean(counts), np.std(counts)
                z = (observed[pair] - mean) / sd if sd > 0 else math.nan
                if not math.isnan(z):
                    zs.append(z)
            uzzi[pid] = (np.median(zs), np.quantile(zs, 0.1)) if zs else (math.nan, math.nan)
            com = [observed[p] * total * (1.0 / (involve[p[0]] * involve[p[1]])) for p in pairs[pid]]
            lee[pid] = -np.log(np.quantile(com, 0.1))
    return uzzi, lee


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), data_seed=st.integers(0, 10_000), n_shuffles=st.integers(2, 6))
def test_equals_plain_loop_reference(seed, data_seed, n_shuffles):
    papers, refs = _random_data(np.random.default_rng(data_seed))
    uzzi, lee = _reference(papers, refs, seed, n_shuffles)
    got_u = uzzi_novelty(papers, refs, n_shuffles=n_shuffles, seed=seed).set_index("id")
    got_l = lee_commonness(papers, refs).set_index("id")
    scored = got_l.index[got_l["reason"].isna()]
    assert sorted(scored) == sorted(lee)
    for pid in scored:
        conv, tail = uzzi[pid]
        np.testing.assert_array_equal(got_u.loc[pid, ["conventionality", "tail_novelty"]].to_numpy(float), [conv, tail])
        assert got_l.loc[pid, "novelty"] == lee[pid]  # exact: same arithmetic


@settings(max_examples=25, deadline=None)
@given(data_seed=st.integers(0, 10_000), order_seed=st.integers(0, 10_000), rng=st.sampled_from(["novelpy", "numpy"]))
def test_row_order_changes_nothing(data_seed, order_seed, rng):
    papers, refs = _random_data(np.random.default_rng(data_seed), n_papers=15)
    shuffle = np.random.default_rng(order_seed)
    papers2 = papers.iloc[shuffle.permutation(len(papers))]
    # Any interleaving of reference rows that keeps each paper's own list order.
    refs2 = refs.assign(_k=refs.groupby("citing").cumcount(), _r=shuffle.random(len(refs)))
    refs2 = refs2.sort_values(["_k", "_r"]).drop(columns=["_k", "_r"])
    for f, kw in ((uzzi_novelty, {"n_shuffles": 4, "seed": 1, "rng": rng}), (lee_commonness, {})):
        pd.testing.assert_frame_equal(f(papers, refs, **kw), f(papers2, refs2, **kw))


def test_numpy_stream_same_model():
    # Same null model, different stream: deterministic per seed, and close to novelpy's stream on average.
    papers, refs = _random_data(np.random.default_rng(11), n_papers=300, n_journals=8, ref_years=(2019,))
    a = uzzi_novelty(papers, refs, n_shuffles=200, rng="numpy", seed=1)
    b = uzzi_novelty(papers, refs, n_shuffles=200, rng="numpy", seed=1)
    c = uzzi_novelty(papers, refs, n_shuffles=200, rng="novelpy", seed=1)
    pd.testing.assert_frame_equal(a, b)
    both = a["conventionality"].notna() & c["conventionality"].notna()
    assert np.corrcoef(a.loc[both, "conventionality"], c.loc[both, "conventionality"])[0, 1] > 0.95


def test_reference_novelty_is_uzzi_and_lee_from_one_preparation():
    papers, refs = _random_data(np.random.default_rng(5), n_papers=60, n_journals=6)
    both = refnovelty.reference_novelty(papers, refs, n_shuffles=5, seed=3, rng="numpy").set_index("id")
    u = uzzi_novelty(papers, refs, n_shuffles=5, seed=3, rng="numpy").set_index("id")
    lee = lee_commonness(papers, refs).set_index("id")
    pd.testing.assert_frame_equal(both[u.columns], u)
    np.testing.assert_array_equal(both["lee_novelty"].to_numpy(), lee["novelty"].to_numpy())
    assert both["reason"].notna().any() and both["tail_novelty"].notna().any()



@pytest.mark.parametrize("n_shuffles", [3, 129])
def test_null_mean_and_sd_from_scripted_copies(monkeypatch, n_shuffles):
    # The copies' mean and sd, on both sides of 128 copies (compiled loop below, NumPy above), against NumPy
    # over the scripted per-copy counts: the hand-computed graph with the reverse and mix copies alternating.
    papers, refs = _frames({1: 2020, 2: 2020, 3: 2020}, {1: ["A", "B", "C"], 2: ["A", "D"], 3: ["C", "D"]})
    reverse, mix = [6, 5, 4, 3, 2, 1, 0], [0, 3, 1, 2, 4, 5, 6]  # AB 1 and 2, AC 1 and 0, CD 2 and 2
    perms = [reverse if s % 2 == 0 else mix for s in range(n_shuffles)]
    monkeypatch.setattr(refnovelty, "random", types.SimpleNamespace(Random=lambda seed: _Scripted(perms)))
    pairs = uzzi_pairs(papers, refs, n_shuffles=n_shuffles, min_refs=2).set_index(["journal_a", "journal_b"])
    for pair, per_copy in ((("A", "B"), [1, 2]), (("A", "C"), [1, 0]), (("C", "D"), [2, 2])):
        counts = np.array([per_copy[s % 2] for s in range(n_shuffles)], dtype=np.int32)[None, :]
        assert pairs.loc[pair, "null_mean"] == counts.mean(axis=1)[0]
        assert pairs.loc[pair, "null_sd"] == counts.std(axis=1)[0]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_keys=st.integers(1, 50))
def test_counting_by_sort_equals_counting_densely(seed, n_keys):
    # _count_in counts densely when the key space is small and by sorting when it is large: same counts.
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, n_keys, rng.integers(0, 200))
    targets = np.unique(np.r_[rng.integers(0, n_keys, 5), keys[:3]])
    dense = refnovelty._count_in(targets, keys, n_keys)
    by_sort = refnovelty._count_in(targets, keys, 1 << 40)  # a key space too large to count densely
    expected = np.array([(keys == t).sum() for t in targets])
    np.testing.assert_array_equal(dense, expected)
    np.testing.assert_array_equal(by_sort, expected)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_sorting_within_groups_by_rank_equals_a_lexsort(seed):
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(size=rng.integers(1, 30)), 1)  # rounded: ties between codes
    n_groups = int(rng.integers(1, 8))
    code = rng.integers(0, len(values), rng.integers(0, 100))
    group = rng.integers(0, n_groups, len(code))
    v, m = refnovelty._sorted_within_groups(group, code, values, n_groups)
    order = np.lexsort((values[code], group))
    np.testing.assert_array_equal(v, values[code][order])
    np.testing.assert_array_equal(m, np.bincount(group, minlength=n_groups))


def test_threads_change_nothing(monkeypatch):
    papers, refs = _random_data(np.random.default_rng(8), n_papers=80, n_journals=7)
    runs = []
    for threads in (1, 3):
        monkeypatch.setattr(refnovelty, "UZZI_THREADS", threads)
        runs.append([uzzi_novelty(papers, refs, n_shuffles=7, seed=2, rng=rng) for rng in ("numpy", "novelpy")])
    for a, b in zip(*runs):
        pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------- novelpy itself: recorded, and live where available


@pytest.fixture(scope="module")
def recorder():
    """benchmarks/record_novelpy.py: the seeded input of the comparison, its fingerprint, and the recording."""
    spec = importlib.util.spec_from_file_location("record_novelpy", ROOT / "benchmarks" / "record_novelpy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nan(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _assert_equals_novelpy(recorder, record: dict, lee_maxulp: int) -> None:
    """Regenerate the input of a novelpy record, check it is the same data, and compare scholarlens with it.

    Uzzi (paper scores and the z of every pair) must be bitwise equal: the null copies come from Python's
    random.Random (one stream in every Python), the counts are integers, and mean, sd, median and quantile follow
    novelpy's NumPy arithmetic (bitwise the same under NumPy 1.26 and 2.x). Lee is compared within `lee_maxulp`
    units in the last place: see the tests below for why.
    """
    papers, refs = recorder.refnovelty_input()
    expected = {k: v for k, v in record["input"].items() if k != "generator"}
    assert recorder.refnovelty_fingerprint(papers, refs) == expected, (
        "the generator no longer makes the recorded input: rerun benchmarks/record_novelpy.py with novelpy")
    cfg = record["settings"]
    focal = papers.loc[papers["year"] == cfg["focal_year"], "id"]
    kw = dict(n_shuffles=cfg["nb_sample"], seed=cfg["random_seed"], min_journals=1)  # novelpy's rules
    ours_u = uzzi_novelty(papers, refs, focal, **kw).set_index("id")
    ours_l = lee_commonness(papers, refs, focal, min_journals=1).set_index("id")

    # Uzzi: novelpy scores the papers that form a pair (more than two references).
    u = record["uzzi"]
    assert sorted(u["id"]) == sorted(ours_u.index[ours_u["n_pairs"] + ours_u["n_pairs_excluded"] > 0])
    ids, conv, tail = np.array(u["id"]), _nan(u["conventionality"]), _nan(u["novelty"])
    defined = ~np.isnan(conv)
    assert defined.any() and not defined.all()
    np.testing.assert_array_equal(ours_u.loc[ids[defined], "conventionality"].to_numpy(np.float64), conv[defined])
    np.testing.assert_array_equal(ours_u.loc[ids[defined], "tail_novelty"].to_numpy(np.float64), tail[defined])
    # Where novelpy gives NaN (one pair with zero null sd spoils the paper), we give a number or a null with a reason.
    nan_there = ours_u.loc[ids[~defined]]
    assert (nan_there["conventionality"].notna() | nan_there["reason"].notna()).all()

    # Pair level: the same journal pairs as novelpy's observed matrix, the same z (NaN where novelpy's is NaN).
    p = record["pairs"]
    theirs = {(min(a, b), max(a, b)): z for a, b, z in zip(p["journal_a"], p["journal_b"], p["z"])}
    assert len(theirs) == len(p["z"])
    pairs = uzzi_pairs(papers, refs, focal, min_refs=2, **kw)  # every pair of the year
    keys = list(zip(pairs["journal_a"], pairs["journal_b"]))
    assert len(keys) == len(theirs) and set(keys) == set(theirs)
    assert np.isnan(_nan(p["z"])).any()
    np.testing.assert_array_equal(pairs["z"].to_numpy(np.float64), _nan([theirs[k] for k in keys]))

    # Lee: every paper novelpy scores has a value here.
    lee = record["lee"]
    theirs_l = _nan(lee["novelty"])
    assert not np.isnan(theirs_l).any()
    ours_nov = ours_l.loc[lee["id"], "novelty"].to_numpy(np.float64)
    if lee_maxulp == 0:
        np.testing.assert_array_equal(ours_nov, theirs_l)
    else:
        np.testing.assert_array_max_ulp(ours_nov, theirs_l, maxulp=lee_maxulp)


def test_equals_recorded_novelpy(recorder):
    record = recorder.load(PEERS / recorder.REFNOVELTY_FILE)
    assert record["input"]["papers"] == 2_000 and record["input"]["focal_papers"] == 200
    # Lee's novelty is -log(10th percentile of commonness). The commonness is novelpy's arithmetic, bitwise: when
    # recorded, -np.log of scholarlens' commonness_p10 under novelpy's NumPy 1.26 gave exactly the recorded values.
    # np.log itself is not the same function in every NumPy build (NumPy 2.x takes SIMD code paths by CPU), and
    # here NumPy 2.4 and 1.26 disagree by 1 ULP on about a quarter of the 198 values. Each log is within about
    # 1 ULP of the true value, so the two can be 2 ULP apart: the tolerance is 2 ULP (~4e-16 relative).
    _assert_equals_novelpy(recorder, record, lee_maxulp=2)




@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), large=st.booleans())
def test_unique_inverse_equals_numpy_unique(seed, large):
    # Packed into one int64 with the positions when the keys are small enough, argsort otherwise (large keys).
    rng = np.random.default_rng(seed)
    high = 2**62 if large else 50
    keys = rng.integers(0, high, rng.integers(1, 300)).astype(np.int64)
    keys = np.r_[keys, keys[: len(keys) // 3]]  # repeats
    uniq, inverse, counts = refnovelty._unique_inverse(keys)
    want_uniq, want_inverse, want_counts = np.unique(keys, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(uniq, want_uniq)
    np.testing.assert_array_equal(inverse, want_inverse.ravel())
    np.testing.assert_array_equal(counts, want_counts)


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(0, 9), max_size=25))
def test_pairs_of_runs_are_every_pair_inside_each_run_once(sizes):
    first, second, run = refnovelty._pairs_of_runs(np.array(sizes, dtype=np.int64))
    starts = np.cumsum(sizes) - np.array(sizes, dtype=np.int64)
    want = sorted((int(s) + i, int(s) + j, r) for r, (s, k) in enumerate(zip(starts, sizes))
                  for i, j in itertools.combinations(range(k), 2))
    assert sorted(zip(first.tolist(), second.tolist(), run.tolist())) == want
    # Each run's pairs lie together, so a paper's pairs stay one block.
    assert all(np.all(np.diff(np.flatnonzero(run == r)) == 1) for r in np.unique(run))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_copies=st.sampled_from([2, 3, 7, 8, 9, 16, 20, 21, 100, 127, 128]))
def test_null_mean_and_sd_equal_numpys_bit_for_bit(seed, n_copies):
    # The compiled mean and sd over the copies (one row per copy) reproduce NumPy's row-wise mean and std exactly,
    # on each side of the pairwise sum's branch at 8 values, up to the 128 it handles.
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, rng.choice([3, 50, 10_000]), (n_copies, 500)).astype(np.int32)
    mean, sd = np.empty(500), np.empty(500)
    refnovelty._null_mean_sd(counts, mean, sd)
    per_target = np.ascontiguousarray(counts.T)  # the layout the NumPy code had: a row of copies per target
    np.testing.assert_array_equal(mean, per_target.mean(axis=1))
    np.testing.assert_array_equal(sd, per_target.std(axis=1))
