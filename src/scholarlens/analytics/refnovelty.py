"""Reference-combination novelty: Uzzi et al. (2013) and Lee, Walsh and Wang (2015).

Both measures look at the journals a paper cites, two at a time, and ask how usual each journal pair is among
the papers published in the same year. The definitions follow novelpy 1.4 (the only packaged implementation), so
that on data where novelpy gives a number, these functions give the same number:

- The universe of a citing year Y is every paper of ``papers`` published in Y. A paper with references
  r_1..r_n contributes every unordered pair of reference positions (i < j), with multiplicity and including
  pairs of two references to the same journal (a "self pair"): n(n-1)/2 pairs. Only year Y counts; earlier
  years play no part (novelpy reads the focal year's co-occurrence matrix alone).
- Uzzi: the observed count of a journal pair is compared with ``n_shuffles`` randomised copies of year Y. A
  copy permutes journal labels among all reference positions of year Y that have the same cited year
  (``ref_year``), so every paper keeps its number of references per cited year and every journal keeps its
  citations per cited year. z = (observed - mean) / sd, with the population sd (ddof 0) over the copies.
  A paper's conventionality is the median z of its pairs, its tail novelty the 10th percentile (NumPy's
  linear interpolation). Low tail novelty means atypical combinations.
- The random stream is Python's ``random.Random(seed)``, fresh for each citing year, and each copy walks the
  cited years in the order of a Python ``set`` built from the cited years in reference order, drawing one
  ``Random.sample`` per cited year: this is novelpy's shuffle, so ``seed=s`` equals novelpy run after
  ``random.seed(s)`` when novelpy reads the papers of the year sorted by id with references in list order.
- Lee: commonness of pair (i, j) = N_ij * N_t / (N_i * N_j), with N_ij the pair count in year Y, N_t the number
  of pairs in year Y and N_i the pairs that involve journal i (a self pair counted once). A paper's score is
  novelty = -ln(10th percentile of its pairs' commonness).

Where novelpy gives NaN these functions give a number or a null with a reason:

- A pair whose z is undefined (zero sd over the copies: typically a pair that no copy formed, or one that every
  copy formed equally often) is left out of the paper's distribution and counted in ``n_pairs_excluded``;
  novelpy lets one such pair turn the whole paper into NaN.
- A paper with fewer than ``min_refs`` references (novelpy: more than two, so 3) or fewer than ``min_journals``
  distinct journals (default 2: a paper whose pairs are all self pairs says nothing about combining journals;
  novelpy scores it, set ``min_journals=1`` for that) gets null scores and a ``reason``.

Differences from novelpy by design: ``focal_ids`` only chooses which papers are reported, the null always uses
every paper of their years (novelpy's ``list_ids`` shrinks the shuffled network but not the observed counts).
Not provided: an analytic null (exact mean and variance of pair counts under the within-cited-year
permutation); the exact variance needs fourth-order moments across papers and is left for later.

Everything runs as whole-array NumPy per citing year, except small compiled loops (numba) where NumPy needed
several passes or a sort of everything: in the null copies, the bulk of the work (applying a copy's
permutations, making its pair keys, counting them against the target pairs, the copies' mean and sd), and in
sorting each paper's pair values. The only Python-level loop is the per-cited-year ``Random.sample`` that
reproduces novelpy's random stream.
"""

from __future__ import annotations

import os
import random
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from .sorting import sorted_with_order

__all__ = ["uzzi_novelty", "uzzi_pairs", "lee_commonness", "reference_novelty"]

_NO_REF_YEAR = -(2**62)  # cited-year group for references without a year


@dataclass
class _Year:
    """Reference positions and their pairs for the papers of one citing year."""

    journal: np.ndarray  # journal code of each reference position
    ref_year: np.ndarray  # cited year of each position (group of the shuffle)
    first: np.ndarray  # position of the first reference of each pair
    second: np.ndarray  # position of the second reference of each pair
    pair_paper: np.ndarray  # paper (row in the papers table) of each pair, int32


@dataclass
class _Prepared:
    ids: np.ndarray  # paper ids as given
    years: np.ndarray  # publication year (float, NaN when missing)
    n_journals_total: int
    journals: np.ndarray  # journal of each code
    scored: np.ndarray  # bool per paper: focal and eligible
    out_rows: np.ndarray  # papers reported, in id order
    reason: np.ndarray  # object per paper: why it has no score (None when scored)
    per_year: list[_Year]
    unknown: np.ndarray  # focal ids that are not in papers


def _check(papers: pd.DataFrame, refs: pd.DataFrame) -> None:
    for name, frame, cols in (("papers", papers, ("id", "year")), ("refs", refs, ("citing", "journal"))):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks column(s) {missing}")
    if papers["id"].duplicated().any():
        raise ValueError("papers has duplicate ids")


def _pairs_of_runs(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All position pairs (i < j) inside each run of consecutive positions: (first, second, run of the pair),
    int32 (a year's positions fit). Runs of one size are paired together, as an outer sum of their starts and
    that size's pair template: a few sequential passes instead of per-pair offsets, whose cumsum and repeats
    dominated (1.8 s against 3.8 s for the 31.8M pairs of the 100M graph's largest year). Each run's pairs are
    contiguous; the runs are ordered by size, which no score depends on."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.sum() >= 2**31:
        raise ValueError("a citing year with 2**31 or more references")
    starts = (np.cumsum(sizes) - sizes).astype(np.int32)
    firsts, seconds, runs = [], [], []
    by_size = np.argsort(sizes, kind="stable")
    bounds = np.flatnonzero(np.diff(sizes[by_size])) + 1
    for run in np.split(by_size, bounds):
        if len(run) == 0 or sizes[run[0]] < 2:
            continue
        ti, tj = np.triu_indices(int(sizes[run[0]]), 1)
        base = starts[run][:, None]
        firsts.append((base + ti.astype(np.int32)).ravel())
        seconds.append((base + tj.astype(np.int32)).ravel())
        runs.append(np.repeat(run.astype(np.int32), len(ti)))
    if not firsts:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty.copy(), empty.copy()
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(runs)


def _prepare(papers, refs, focal_ids, min_refs, min_journals) -> _Prepared:
    _check(papers, refs)
    ids = papers["id"].to_numpy()
    years = pd.to_numeric(papers["year"], errors="coerce").to_numpy(dtype=float)
    n = len(ids)
    index = pd.Index(ids)

    focal = np.ones(n, dtype=bool) if focal_ids is None else index.isin(pd.Index(focal_ids).unique())
    unknown = (
        np.array([], dtype=ids.dtype)
        if focal_ids is None
        else pd.Index(focal_ids).unique().difference(index).to_numpy()
    )

    # Reference positions of papers in the citing years we need, in (year, id, list position) order.
    need_years = np.unique(years[focal & ~np.isnan(years)])
    row = index.get_indexer(refs["citing"])
    journal_raw = refs["journal"]
    keep = (row >= 0) & journal_raw.notna().to_numpy()
    keep[keep] = np.isin(years[row[keep]], need_years)
    pos = np.flatnonzero(keep)
    row = row[pos]
    if "ref_year" in refs.columns:
        ry = pd.to_numeric(refs["ref_year"], errors="coerce").to_numpy(dtype=float)[pos]
        ref_year = np.where(np.isnan(ry), _NO_REF_YEAR, np.nan_to_num(ry)).astype(np.int64)
    else:
        ref_year = np.zeros(len(pos), dtype=np.int64)  # one group: shuffle within the citing year
    order = np.lexsort((pos, _sort_key(ids)[row], years[row]))
    row, ref_year = row[order], ref_year[order]
    # Sorted codes, so that a pair's lower code is also its alphabetically first journal.
    journal, uniques = pd.factorize(journal_raw.iloc[pos[order]], sort=True)
    journal = journal.astype(np.int64)
    n_j = len(uniques)

    n_refs = np.bincount(row, minlength=n)
    # np.sort, not np.unique: NumPy 2.3+ counts unsorted uniques with a hash table (6.8 s against 0.26 s for a
    # sort of the largest year's 5.8M paper-journal keys).
    paper_journal = np.sort(row * max(n_j, 1) + journal)
    distinct = paper_journal[_runs(paper_journal)[0]] // max(n_j, 1)
    n_distinct = np.bincount(distinct, minlength=n)

    # The first reason that applies is the one reported.
    reason = np.full(n, None, dtype=object)
    for bad, why in (
        (n_distinct < min_journals, f"fewer than {min_journals} distinct journals"),
        (n_refs < min_refs, f"fewer than {min_refs} references"),
        (np.isnan(years), "no publication year"),
    ):
        reason[bad] = why
    scored = focal & pd.isna(reason)

    per_year = []
    bounds = np.flatnonzero(np.diff(years[row])) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(row)]):
        if hi <= lo:
            continue
        r = row[lo:hi]
        run_starts = np.r_[0, np.flatnonzero(np.diff(r)) + 1]
        sizes = np.diff(np.r_[run_starts, len(r)])
        first, second, pair_run = _pairs_of_runs(sizes)
        per_year.append(_Year(journal[lo:hi].astype(np.int32), ref_year[lo:hi], first, second,
                              r[run_starts].astype(np.int32)[pair_run]))

    out_rows = np.flatnonzero(focal)
    out_rows = out_rows[np.argsort(_sort_key(ids)[out_rows], kind="stable")]
    return _Prepared(ids, years, n_j, np.asarray(uniques, dtype=object), scored, out_rows, reason, per_year, unknown)


def _sort_key(ids: np.ndarray) -> np.ndarray:
    """Rank of each id in sorted order (ids may be ints or strings)."""
    return pd.Index(ids).argsort(kind="stable").argsort(kind="stable")


def _key_dtype(n_j: int):
    """int32 pair keys while every key fits (under 46,341 journals): half the memory traffic of int64 in the
    gathers and sorts that are most of the work."""
    return np.int32 if n_j * n_j < 2**31 else np.int64


def _pair_keys(journal: np.ndarray, first: np.ndarray, second: np.ndarray, n_j: int) -> np.ndarray:
    """The key lo * n_j + hi of each pair's two journals (lo <= hi)."""
    keys = np.empty(len(first), dtype=_key_dtype(n_j))
    _pair_keys_into(journal, first, second, n_j, keys)
    return keys


@numba.njit(cache=True, nogil=True)
def _pair_keys_into(journal, first, second, n_j, out):  # pragma: no cover (compiled)
    """One pass per pair, where NumPy's two gathers, min, max, multiply and add were six passes with
    temporaries: 0.16 s against 0.62 s on 31M pairs (a synthetic year shaped like the 100M graph's largest)."""
    for p in range(first.size):
        a = journal[first[p]]
        b = journal[second[p]]
        if a > b:
            a, b = b, a
        out[p] = a * n_j + b


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start of each run of equal values in a sorted array, and a flag per element: does it start a run."""
    new = np.empty(len(sorted_keys), dtype=bool)
    new[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    return np.flatnonzero(new), new


def _unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.unique(keys, return_inverse=True, return_counts=True) for non-negative integer keys, by a packed sort
    rather than an argsort (sorting.sorted_with_order): 3.1-3.4 s against 8.5 s on 31.8M keys."""
    n = len(keys)
    sorted_keys, order = sorted_with_order(keys)
    starts, new = _runs(sorted_keys)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    counts = np.diff(np.r_[starts, n])
    return sorted_keys[starts], inverse, counts


def _count_in(targets: np.ndarray, keys: np.ndarray, n_keys: int) -> np.ndarray:
    """How often each of the sorted unique targets occurs in keys (all in range(n_keys)). keys may be sorted in
    place: a null copy's keys are made for this call alone, and sorting a copy of them (31M keys per null copy on
    the 100M graph's largest year) was wasted work."""
    if n_keys <= max(1 << 22, 2 * len(keys)):
        # A dense count is one pass over the keys; worth it while the key space is not much larger than them.
        return np.bincount(keys, minlength=n_keys)[targets]
    # Else sort the keys (NumPy's SIMD sort) and walk them beside the sorted targets: one merge. Sorting and a
    # binary search per target (np.searchsorted) took 2.69 s of a copy's 3.9 s on a synthetic year shaped like
    # the 100M graph's largest (the sort alone 0.33 s); the merge takes 0.24 s on the real one.
    keys.sort()
    counts = np.empty(len(targets), dtype=np.int64)
    _count_sorted(keys, targets, counts)
    return counts


@numba.njit(cache=True, nogil=True)
def _count_sorted(sorted_keys, targets, out):  # pragma: no cover (compiled)
    """out[t] = occurrences of targets[t] in sorted_keys; both ascending, targets distinct."""
    i, n = 0, sorted_keys.size
    for t in range(targets.size):
        key = targets[t]
        while i < n and sorted_keys[i] < key:
            i += 1
        c = 0
        while i < n and sorted_keys[i] == key:
            c += 1
            i += 1
        out[t] = c


def _permutations_novelpy(rnd: random.Random, groups: list[np.ndarray]) -> list[np.ndarray]:
    """One null copy's permutation of each cited-year group, novelpy's stream: one Random.sample per group."""
    return [np.asarray(rnd.sample(range(len(idx)), len(idx)), dtype=np.int64) for idx in groups]


def _permutations_numpy(gen: np.random.Generator, groups: list[np.ndarray]) -> list[np.ndarray]:
    """The same model, NumPy's stream: Generator.permutation per group (groups in increasing cited year), which
    gives the same copy on every platform for a seed."""
    return [gen.permutation(len(idx)) for idx in groups]


def _cited_year_groups(ref_year: np.ndarray) -> list[np.ndarray]:
    """Positions of each cited year, in increasing cited year, each in position order."""
    by_group = np.argsort(ref_year, kind="stable")
    bounds = np.flatnonzero(np.diff(ref_year[by_group])) + 1
    return np.split(by_group, bounds)


def _shuffled(journal: np.ndarray, groups: list[np.ndarray], perms: list[np.ndarray]) -> np.ndarray:
    """One null copy: the journal labels of each group's positions permuted by its permutation."""
    out = journal.copy()
    for idx, perm in zip(groups, perms):
        _permute_group(journal, idx, perm, out)
    return out


@numba.njit(cache=True, nogil=True)
def _permute_group(journal, idx, perm, out):  # pragma: no cover (compiled)
    """out[idx] = journal[idx][perm] in one pass, without NumPy's two temporaries."""
    for k in range(idx.size):
        out[idx[k]] = journal[idx[perm[k]]]


def _group_order(ref_year: np.ndarray) -> list[np.ndarray]:
    """Positions of each cited year, in the iteration order of a Python set built in reference order."""
    order = list(set(ref_year.tolist()))
    sort = np.argsort(ref_year, kind="stable")
    uniq, starts = np.unique(ref_year[sort], return_index=True)
    ends = np.r_[starts[1:], len(sort)]
    where = dict(zip(uniq.tolist(), zip(starts.tolist(), ends.tolist())))
    return [sort[where[y][0] : where[y][1]] for y in order]


def _sorted_within_groups(group: np.ndarray, code: np.ndarray, value_of_code: np.ndarray, n_groups: int):
    """Each group's values (value_of_code[code]) in ascending order, groups in order, and each group's size.

    A counting sort by group, then a sort of each group's few values, compiled: a paper's pairs (about 60 on the
    100M graph's largest year) sort in cache. This replaced one integer sort of (group, rank of the value) over all pairs plus a ranking of
    every distinct value: 16.4 s → 6.5 s for both measures on a synthetic year shaped like the 100M graph's
    largest (31M pairs), profiled while another job ran."""
    sizes = np.bincount(group, minlength=n_groups)
    values = np.empty(len(group), dtype=np.float64)
    _sort_in_groups(group, code, np.asarray(value_of_code, dtype=np.float64), np.cumsum(sizes) - sizes, values)
    return values, sizes


@numba.njit(cache=True, nogil=True)
def _sort_in_groups(group, code, value_of_code, start, out):  # pragma: no cover (compiled)
    fill = start.copy()
    for i in range(group.size):
        g = group[i]
        out[fill[g]] = value_of_code[code[i]]
        fill[g] += 1
    for g in range(start.size):
        if fill[g] - start[g] > 1:
            out[start[g] : fill[g]].sort()


def _median_and_quantile(v: np.ndarray, m: np.ndarray, n_groups: int, q: float):
    """Per group (values sorted within groups, m the group sizes): NumPy's median and linear-interpolated
    q-quantile, reproduced exactly, without a loop."""
    start = np.cumsum(m) - m
    med = np.full(n_groups, np.nan)
    qv = np.full(n_groups, np.nan)
    ok = m > 0
    s, mm = start[ok], m[ok]
    mid = s + mm // 2
    even = mm % 2 == 0
    med_ok = v[mid].copy()
    med_ok[even] = (v[mid[even] - 1] + v[mid[even]]) / 2
    med[ok] = med_ok
    virtual = (mm - 1) * q
    prev = np.floor(virtual)
    gamma = virtual - prev
    prev = prev.astype(np.int64)
    nxt = prev + 1
    top = virtual >= mm - 1
    prev[top] = mm[top] - 1
    nxt[top] = mm[top] - 1
    a, b = v[s + prev], v[s + nxt.clip(max=mm - 1)]
    diff = b - a
    lerp = a + diff * gamma
    hi = gamma >= 0.5
    lerp[hi] = b[hi] - diff[hi] * (1 - gamma[hi])
    qv[ok] = lerp
    return med, qv, m


def _table(prep: _Prepared, columns: dict[str, np.ndarray], counts: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = prep.out_rows
    years = prep.years[rows]
    data = {"id": prep.ids[rows], "year": pd.array(years, dtype="Int64")}
    for name, values in columns.items():
        data[name] = values[rows]
    for name, values in counts.items():
        data[name] = values[rows].astype(np.int64)
    data["reason"] = prep.reason[rows]
    out = pd.DataFrame(data)
    if len(prep.unknown):
        extra = pd.DataFrame({"id": prep.unknown, "reason": "not in papers"})
        for name in counts:
            extra[name] = 0
        out = pd.concat([out, extra], ignore_index=True)
    return out


@dataclass
class _PairZ:
    """Null-model statistics of the journal pairs that focal papers form in one citing year."""

    year: float
    pairs: np.ndarray  # sorted unique pair keys (lo * n_journals + hi)
    observed: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    z: np.ndarray  # NaN where undefined (zero sd)
    which: np.ndarray  # for each focal pair position: index into pairs
    mine: np.ndarray  # mask of the year's pairs that belong to scored papers


UZZI_THREADS = max(1, min(4, os.cpu_count() or 1))


def _map_ahead(fn, items, threads: int):
    """fn over items in order, up to `threads` at once; items are drawn one at a time on the calling thread."""
    if threads <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@numba.njit(cache=True, nogil=True)
def _null_mean_sd(null, mean, sd):  # pragma: no cover (compiled)
    """Per target (column of null, one row per copy): NumPy's mean and population sd of its counts, bit for bit:
    the integer sum is exact, and the squared deviations are summed in the order of NumPy's pairwise sum
    (_pairwise_sum, up to 128 copies). 1.0 s against 3.2 s for NumPy's row-wise mean and std on 10.2M targets x
    20 copies of synthetic counts."""
    n, n_targets = null.shape
    squares = np.empty(n)
    for t in range(n_targets):
        total = 0
        for s in range(n):
            total += null[s, t]
        m = np.float64(total) / n
        for s in range(n):
            d = np.float64(null[s, t]) - m
            squares[s] = d * d
        mean[t] = m
        sd[t] = np.sqrt(_pairwise_sum(squares, 0, n) / n)


@numba.njit(cache=True, nogil=True)
def _pairwise_sum(a, lo, n):  # pragma: no cover (compiled)
    """NumPy's pairwise summation of a[lo:lo + n] for n <= 128 (numpy/_core/src/umath/loops_utils.h.src,
    re-written here): a plain loop under 8 values, else eight running sums. (Above 128 NumPy recurses on halves;
    a recursive compiled function crashed when loaded from numba's cache, so _null_mean_sd leaves those to
    NumPy.)"""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = 8
        while i < n - (n % 8):
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    return np.nan  # not reached: callers pass n <= 128


def _check_uzzi_args(n_shuffles: int, rng: str) -> None:
    if rng not in ("novelpy", "numpy"):
        raise ValueError('rng must be "novelpy" or "numpy"')
    if n_shuffles < 2:
        raise ValueError("n_shuffles must be at least 2 (a single copy has zero variance everywhere)")


@dataclass
class _YearPairs:
    """The journal pairs of one citing year, counted once for Lee and Uzzi alike."""

    uniq: np.ndarray  # sorted distinct pair keys (lo * n_journals + hi)
    inverse: np.ndarray  # for each pair: index into uniq
    counts: np.ndarray  # how often each distinct key occurs in the year


def _years_with_pairs(prep: _Prepared):
    """Yield (year, its pairs counted, mask of the pairs that scored papers form) for each citing year with
    scored papers."""
    n_j = max(prep.n_journals_total, 1)
    for yr in prep.per_year:
        mine = prep.scored[yr.pair_paper]
        if mine.any():
            yield yr, _YearPairs(*_unique_inverse(_pair_keys(yr.journal, yr.first, yr.second, n_j))), mine


def _uzzi_year(prep: _Prepared, yr: _Year, pairs: _YearPairs, mine: np.ndarray, n_shuffles: int, seed: int,
               rng: str) -> _PairZ:
    """The z-scores of the pairs that scored papers of one citing year form."""
    n_j = max(prep.n_journals_total, 1)
    mine_codes = pairs.inverse[mine]
    is_target = np.zeros(len(pairs.uniq), dtype=bool)
    is_target[mine_codes] = True
    targets, observed = pairs.uniq[is_target], pairs.counts[is_target]
    which = (np.cumsum(is_target) - 1)[mine_codes]

    # A fresh stream per citing year, so a year's scores do not depend on which other years are scored.
    if rng == "novelpy":
        rnd, groups = random.Random(seed), _group_order(yr.ref_year)
    else:
        gen, groups = np.random.default_rng(seed), _cited_year_groups(yr.ref_year)

    def permutations():
        for _ in range(n_shuffles):
            yield _permutations_novelpy(rnd, groups) if rng == "novelpy" else _permutations_numpy(gen, groups)

    def count(perms):
        keys = _pair_keys(_shuffled(yr.journal, groups, perms), yr.first, yr.second, n_j)
        return _count_in(targets, keys, n_j * n_j)

    # Counts as int32 (a year has fewer than 2**31 pairs): half the memory of float64 for the largest year's
    # 10M pairs x 20 copies; one contiguous row per copy, where a column per copy touched every cache line of the
    # whole matrix at each copy.
    null = np.empty((n_shuffles, len(targets)), dtype=np.int32)
    # The permutations are drawn in order on this thread (the stream stays the same); applying them and counting
    # the copy's pairs, the bulk of the work, runs on UZZI_THREADS threads (the compiled loops and NumPy's sort
    # and bincount release the GIL).
    for s, counts in enumerate(_map_ahead(count, permutations(), UZZI_THREADS)):
        null[s] = counts
    mean, sd = np.empty(len(targets)), np.empty(len(targets))
    if n_shuffles <= 128:
        _null_mean_sd(null, mean, sd)
    else:  # NumPy's own row-wise figures, a chunk of targets at a time
        for lo in range(0, len(targets), 1 << 16):
            rows = np.ascontiguousarray(null[:, lo : lo + (1 << 16)].T)
            mean[lo : lo + len(rows)], sd[lo : lo + len(rows)] = rows.mean(axis=1), rows.std(axis=1)
    del null

    # Zero sd leaves z undefined (novelpy: NaN, even when observed == mean).
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (observed - mean) / sd
    z[sd == 0] = np.nan
    year = prep.years[yr.pair_paper[0]]
    return _PairZ(year, targets.astype(np.int64), observed, mean, sd, z, which, mine)


def _uzzi_years(prep: _Prepared, n_shuffles: int, seed: int, rng: str):
    """Yield, for each citing year with scored papers, the z-scores of the pairs those papers form."""
    for yr, pairs, mine in _years_with_pairs(prep):
        yield _uzzi_year(prep, yr, pairs, mine, n_shuffles, seed, rng), yr


class _UzziColumns:
    """Conventionality and tail novelty per paper row, filled one citing year at a time."""

    def __init__(self, n: int):
        self.conv, self.tail = np.full(n, np.nan), np.full(n, np.nan)
        self.used, self.excluded = np.zeros(n, np.int64), np.zeros(n, np.int64)

    def add(self, pz: _PairZ, yr: _Year) -> None:
        n = len(self.conv)
        z_pair = pz.z[pz.which]
        valid = ~np.isnan(z_pair)
        paper = yr.pair_paper[pz.mine]
        self.excluded += np.bincount(paper[~valid], minlength=n)
        v, m = _sorted_within_groups(paper[valid], pz.which[valid], pz.z, n)
        med, q10, m = _median_and_quantile(v, m, n, 0.1)
        has = m > 0
        self.conv[has], self.tail[has], self.used[has] = med[has], q10[has], m[has]

    def finish(self, prep: _Prepared):
        """The columns; notes in prep.reason the scored papers left without a score."""
        no_pairs = prep.scored & (self.used == 0)
        prep.reason[no_pairs] = "no pair with a defined z-score (zero variance under the null)"
        return ({"conventionality": self.conv, "tail_novelty": self.tail},
                {"n_pairs": self.used, "n_pairs_excluded": self.excluded})


class _LeeColumns:
    """Lee's 10th-percentile commonness and novelty per paper row, filled one citing year at a time."""

    def __init__(self, n: int, n_j: int):
        self.p10, self.used, self.n_j = np.full(n, np.nan), np.zeros(n, np.int64), n_j

    def add(self, yr: _Year, pairs: _YearPairs, mine: np.ndarray) -> None:
        n, n_j = len(self.p10), self.n_j
        uniq, count = pairs.uniq, pairs.counts
        lo, hi = uniq // n_j, uniq % n_j
        # Pairs that involve each journal; a self pair involves its journal once.
        involve = np.bincount(lo, weights=count, minlength=n_j) + np.bincount(
            hi[lo != hi], weights=count[lo != hi], minlength=n_j
        )
        involve = involve.astype(np.uint64)
        total = float(len(pairs.inverse))
        # Times the reciprocal rather than divided: the same rounding as novelpy (sparse / dense in SciPy).
        commonness = (count.astype(np.float64) * total) * (1.0 / (involve[lo] * involve[hi]).astype(np.float64))
        v, m = _sorted_within_groups(yr.pair_paper[mine], pairs.inverse[mine], commonness, n)
        _, q10, m = _median_and_quantile(v, m, n, 0.1)
        has = m > 0
        self.p10[has], self.used[has] = q10[has], m[has]

    def finish(self):
        with np.errstate(divide="ignore"):
            novelty = -np.log(self.p10)
        return {"commonness_p10": self.p10, "novelty": novelty}, {"n_pairs": self.used}


def uzzi_novelty(
    papers: pd.DataFrame,
    refs: pd.DataFrame,
    focal_ids=None,
    *,
    n_shuffles: int = 20,
    seed: int = 0,
    min_refs: int = 3,
    min_journals: int = 2,
    rng: str = "novelpy",
) -> pd.DataFrame:
    """Uzzi et al. (2013) conventionality and tail novelty of journal-pair combinations.

    papers: DataFrame[id, year]; refs: DataFrame[citing, journal, ref_year (optional: without it the null
    shuffles within the whole citing year)], rows in reference-list order. focal_ids: the papers to score
    (default all); the null always uses every paper of the focal papers' years.

    Returns DataFrame[id, year, conventionality (median z), tail_novelty (10th percentile z), n_pairs (pairs
    used), n_pairs_excluded (pairs with undefined z), reason (null, or why the scores are null)], one row per
    focal paper, sorted by id; focal ids missing from papers come last with reason "not in papers".
    rng: "novelpy" draws the copies with Python's random.Random(seed) exactly as novelpy does (equal results);
    "numpy" draws them with numpy.random.default_rng(seed): the same null model, a different stream, and
    faster on large years (Random.sample is a Python loop inside the standard library).
    See the module docstring for the exact definitions and how they match novelpy.
    """
    _check_uzzi_args(n_shuffles, rng)
    prep = _prepare(papers, refs, focal_ids, min_refs, min_journals)
    columns, counts = _uzzi_columns(prep, n_shuffles, seed, rng)
    return _table(prep, columns, counts)


def _uzzi_columns(prep: _Prepared, n_shuffles: int, seed: int, rng: str):
    """Conventionality and tail novelty per paper row; notes in prep.reason the scored papers left without."""
    columns = _UzziColumns(len(prep.ids))
    for pz, yr in _uzzi_years(prep, n_shuffles, seed, rng):
        columns.add(pz, yr)
    return columns.finish(prep)


def uzzi_pairs(
    papers: pd.DataFrame,
    refs: pd.DataFrame,
    focal_ids=None,
    *,
    n_shuffles: int = 20,
    seed: int = 0,
    min_refs: int = 3,
    min_journals: int = 2,
    rng: str = "novelpy",
) -> pd.DataFrame:
    """The journal pairs behind ``uzzi_novelty``: what makes a paper conventional or atypical.

    Same arguments (and the same random copies, so the same z) as ``uzzi_novelty``. Returns one row per citing
    year and journal pair formed by a scored focal paper: DataFrame[year, journal_a, journal_b (journal_a <=
    journal_b), observed (pair count in the year), null_mean, null_sd, z (NaN where undefined: zero sd)],
    sorted by year, journal_a, journal_b.
    """
    _check_uzzi_args(n_shuffles, rng)
    prep = _prepare(papers, refs, focal_ids, min_refs, min_journals)
    n_j = max(prep.n_journals_total, 1)
    parts = []
    for pz, _ in _uzzi_years(prep, n_shuffles, seed, rng):
        parts.append(
            pd.DataFrame(
                {
                    "year": np.full(len(pz.pairs), pz.year),
                    "journal_a": prep.journals[pz.pairs // n_j],
                    "journal_b": prep.journals[pz.pairs % n_j],
                    "observed": pz.observed.astype(np.int64),
                    "null_mean": pz.mean,
                    "null_sd": pz.sd,
                    "z": pz.z,
                }
            )
        )
    cols = ["year", "journal_a", "journal_b", "observed", "null_mean", "null_sd", "z"]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    out["year"] = out["year"].astype("int64")
    return out


def lee_commonness(
    papers: pd.DataFrame,
    refs: pd.DataFrame,
    focal_ids=None,
    *,
    min_refs: int = 3,
    min_journals: int = 2,
) -> pd.DataFrame:
    """Lee, Walsh and Wang (2015) commonness of journal-pair combinations.

    Same inputs and table conventions as ``uzzi_novelty``. Returns DataFrame[id, year, commonness_p10 (10th
    percentile of the paper's pair commonness), novelty (-ln commonness_p10, novelpy's score), n_pairs,
    reason]. Commonness is always finite and positive for a paper's own pairs, so no pair is ever excluded.
    """
    prep = _prepare(papers, refs, focal_ids, min_refs, min_journals)
    columns, counts = _lee_columns(prep)
    return _table(prep, columns, counts)


def _lee_columns(prep: _Prepared):
    columns = _LeeColumns(len(prep.ids), max(prep.n_journals_total, 1))
    for yr, pairs, mine in _years_with_pairs(prep):
        columns.add(yr, pairs, mine)
    return columns.finish()


def reference_novelty(
    papers: pd.DataFrame,
    refs: pd.DataFrame,
    focal_ids=None,
    *,
    n_shuffles: int = 20,
    seed: int = 0,
    min_refs: int = 3,
    min_journals: int = 2,
    rng: str = "novelpy",
) -> pd.DataFrame:
    """Uzzi and Lee together, from one preparation of the inputs (what a build needs): the columns of
    ``uzzi_novelty`` (its reason included) and Lee's as ``lee_novelty`` and ``lee_commonness_p10``."""
    _check_uzzi_args(n_shuffles, rng)
    prep = _prepare(papers, refs, focal_ids, min_refs, min_journals)
    # Each year's pairs are counted once for both measures.
    lee_acc, uzzi_acc = _LeeColumns(len(prep.ids), max(prep.n_journals_total, 1)), _UzziColumns(len(prep.ids))
    for yr, pairs, mine in _years_with_pairs(prep):
        lee_acc.add(yr, pairs, mine)
        uzzi_acc.add(_uzzi_year(prep, yr, pairs, mine, n_shuffles, seed, rng), yr)
    lee, _ = lee_acc.finish()
    columns, counts = uzzi_acc.finish(prep)
    columns.update({"lee_novelty": lee["novelty"], "lee_commonness_p10": lee["commonness_p10"]})
    return _table(prep, columns, counts)
