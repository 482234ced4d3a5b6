"""Disruption of a work: the CD index (Funk and Owen-Smith 2017), the mCD index and the I-index.

For a focal work f published at time t_f, take the works c that came after it (the window, below) and sort
them into three sets:

    A  works citing f,  B  works citing at least one of f's references (f itself left out)
    I = A - B   cite f but none of its references (they treat f as the new start: disruptive)
    J = A & B   cite f and its references too (f consolidates what it cites)
    K = B - A   cite f's references but not f (f was passed over)

    CD  = (|I| - |J|) / (|I| + |J| + |K|), between -1 (consolidating) and 1 (disruptive)
    i   = number of works citing f up to t_f + delta (cdindex's I-index: no lower time bound)
    mCD = CD * i

Switches, so that the numbers equal a peer's exactly when set to its rules (CDINDEX_RULES, NOVELPY_RULES):
    window     "cdindex": a work c counts if t_f < t_c <= t_f + delta, for A and B alike (cdindex 1.0.20).
               "none": no upper bound; A takes every citer of f whatever its time, B takes citers of the
               references from t_f on (novelpy 1.4 DI1 does exactly this); `delta` only bounds i, if given.
    same_year  "exclude": c must come strictly after f (t_c > t_f); "include": t_c >= t_f counts too.
    empty      what CD (and mCD) is when there is no candidate at all: None (null/NaN, like cdindex) or a
               number (0.0, like novelpy).
    unknown_cited  "keep": a citation to a work that is not in `works` still counts as a reference that
               others may share (the cited work gets no row: it has no time); "drop": ignore it (novelpy
               skips references it has no record of).

Input that cdindex refuses is cleaned and counted, never silently: duplicate citations are kept once (cdindex
raises), self-citations (a work citing itself) are dropped (cdindex would take the work as its own reference
and count every citer of it as consolidating), citations from a work with no known time are dropped (they
cannot be placed in a window), works with no time get no row, and a work listed twice is kept once (with two
different times it is an error). The counts are in the result's
`attrs["cd_index"]` (pandas) or schema metadata b"cd_index" (Arrow, JSON).

How it stays linear: the expensive part is |B| (distinct works citing any reference of f in the window),
because every path f -> r <- c has to be de-duplicated per f. Paths through ordinary references are walked in
compiled code (numba), marking each citer in a bit set cleared after each focal work, so nothing is sorted or
held per path. The few heaviest references ("hubs") are never
expanded: each work carries a bit mask of the hubs it cites, and the citers of a hub in f's window are
counted with a binary search over that hub's citers sorted by time. A citer of several of f's hubs is counted
only at the first of them (lowest bit), so the search runs over the hub's citers that cite none of f's
lower hubs; such filtered lists are built once per (hub, set of lower hubs) that occurs. A focal paper
citing a hub with 100k citers in its window costs two binary searches, not 100k steps (cdindex's
duplicate scan is quadratic there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .sorting import sorted_with_order

CDINDEX_RULES = {"window": "cdindex", "same_year": "exclude", "empty": None, "unknown_cited": "keep"}
NOVELPY_RULES = {"window": "none", "same_year": "include", "empty": 0.0, "unknown_cited": "drop"}

_MAX_HUBS = 63  # one bit each in a uint64 mask
_MIN_HUB_CITERS = 512  # below this, expanding the paths is cheaper than a filtered list per hub
_I64_MAX = np.iinfo(np.int64).max


@dataclass
class _Graph:
    """Works 0..n_timed-1 have a time; n_timed..n_nodes-1 are cited works we know only by id."""

    ids: pa.Array  # ids of the timed works, in output order
    n_timed: int
    n_nodes: int
    time: np.ndarray  # int64, per timed work
    src: np.ndarray  # int64 citing, sorted by (src, dst), de-duplicated
    dst: np.ndarray  # int64 cited
    stats: dict = field(default_factory=dict)


def cd_index(
    works: Any,
    citations: Any,
    delta: int | None = None,
    *,
    window: str = "cdindex",
    same_year: str = "exclude",
    empty: float | None = None,
    unknown_cited: str = "keep",
    time_range: tuple[int, int] | None = None,
    id_col: str = "id",
    time_col: str = "time",
    citing_col: str = "citing",
    cited_col: str = "cited",
) -> Any:
    """CD index, mCD and I-index of every work with a time.

    `works` (id, integer time) and `citations` (citing, cited) are pandas DataFrames or Arrow tables; the result
    is the same kind of table with columns id, cd, mcd, i, one row per work with a time, in input order.
    ``time_range`` (first, last): rows only for the works with a time in first..last, the others being there as
    citers and references only. Their paths are then never walked: a build's span of years lists the works of
    five years after it as citers, and walking theirs was two thirds of the work (the 2012 span at 100M edges).
    """
    if window not in ("cdindex", "none"):
        raise ValueError(f"window must be 'cdindex' or 'none', not {window!r}")
    if same_year not in ("exclude", "include"):
        raise ValueError(f"same_year must be 'exclude' or 'include', not {same_year!r}")
    if unknown_cited not in ("keep", "drop"):
        raise ValueError(f"unknown_cited must be 'keep' or 'drop', not {unknown_cited!r}")
    if window == "cdindex" and delta is None:
        raise ValueError("window='cdindex' needs delta (years after the focal work)")
    if delta is not None and not isinstance(delta, (int, np.integer)):
        raise ValueError(f"delta must be an integer, not {delta!r}")
    if time_range is not None and (len(time_range) != 2 or time_range[0] > time_range[1]):
        raise ValueError(f"time_range must be (first, last) with first <= last, not {time_range!r}")

    as_arrow = isinstance(works, pa.Table)
    graph = _build_graph(
        _column(works, id_col), _column(works, time_col),
        _column(citations, citing_col), _column(citations, cited_col), unknown_cited,
    )
    wanted = (np.ones(graph.n_timed, bool) if time_range is None
              else (graph.time >= time_range[0]) & (graph.time <= time_range[1]))
    n_a, n_b, n_j, i = _count(graph, None if delta is None else int(delta), window, same_year, wanted)

    n = n_a + n_b - n_j
    with np.errstate(invalid="ignore", divide="ignore"):
        cd = (n_a - 2 * n_j) / n  # exact: the same integer division cdindex and novelpy make
    has_cd = n > 0
    if empty is not None:
        cd[~has_cd] = float(empty)
        has_cd[:] = True
    mcd = cd * i
    stats = dict(graph.stats, window=window, same_year=same_year, delta=None if delta is None else int(delta),
                 empty=None if empty is None else float(empty),
                 unknown_cited=unknown_cited, works_without_candidates=int((n == 0).sum()))

    ids = graph.ids
    if time_range is not None:
        ids, cd, mcd, i, has_cd = ids.filter(pa.array(wanted)), cd[wanted], mcd[wanted], i[wanted], has_cd[wanted]
        stats["works_without_candidates"] = int((n[wanted] == 0).sum())
        stats["time_range"] = [int(time_range[0]), int(time_range[1])]
    if as_arrow:
        table = pa.table({
            "id": ids,
            "cd": pa.array(cd, mask=~has_cd),
            "mcd": pa.array(mcd, mask=~has_cd),
            "i": pa.array(i),
        })
        return table.replace_schema_metadata({b"cd_index": json.dumps(stats).encode()})
    frame = pd.DataFrame({"id": ids.to_pandas(), "cd": cd, "mcd": mcd, "i": i})
    frame.attrs["cd_index"] = stats
    return frame


def _column(table: Any, name: str) -> pa.Array:
    if isinstance(table, pa.Table):
        if name not in table.column_names:
            raise KeyError(f"column {name!r} not in table (columns: {table.column_names})")
        return table.column(name).combine_chunks()
    if isinstance(table, pd.DataFrame):
        if name not in table.columns:
            raise KeyError(f"column {name!r} not in table (columns: {list(table.columns)})")
        return pa.array(table[name], from_pandas=True)
    raise TypeError(f"expected a pandas DataFrame or an Arrow table, not {type(table).__name__}")


def _build_graph(ids: pa.Array, times: pa.Array, citing: pa.Array, cited: pa.Array, unknown_cited: str) -> _Graph:
    """Integer codes for works and citations, with the input's faults counted and cleaned."""
    stats: dict[str, int] = {"works_in": len(ids), "citations_in": len(citing)}
    if pa.types.is_floating(times.type):  # pandas turns an integer column with gaps into floats
        whole = pc.equal(times, pc.floor(times))
        if pc.all(whole).as_py() is False:
            raise TypeError("work times must be whole numbers (years or day numbers)")
        times = times.cast(pa.int64())
    if not pa.types.is_integer(times.type):
        raise TypeError(f"work times must be integers (years or day numbers), not {times.type}")
    if ids.null_count:
        raise ValueError(f"{ids.null_count} works have no id")

    # Works: one row per id; an id listed twice with different times is ambiguous.
    timed = times.is_valid()
    stats["works_without_time"] = len(ids) - pc.sum(timed).as_py() if len(ids) else 0
    ids, times = ids.filter(timed), times.filter(timed).cast(pa.int64())
    if pc.count_distinct(ids).as_py() != len(ids):
        pairs = pa.table({"id": ids, "t": times}).group_by(["id", "t"]).aggregate([])
        if pc.count_distinct(pairs["id"]).as_py() != pairs.num_rows:
            raise ValueError("some work ids appear more than once with different times")
        first = pa.table({"id": ids, "row": pa.array(np.arange(len(ids)))}).group_by("id").aggregate([("row", "min")])
        keep = np.sort(first["row_min"].to_numpy())
        stats["duplicate_works"] = len(ids) - keep.size
        ids, times = ids.take(keep), times.take(keep)
    n_timed = len(ids)

    # Citations: codes of known works; cited works not in `works` get codes after them.
    citing, cited = _same_type(citing, ids.type), _same_type(cited, ids.type)
    dense = _dense_codes(ids, citing, cited, unknown_cited)
    if dense is not None:
        src_np, dst_np, n_nodes, stats["citations_from_unknown_works"], stats["citations_to_unknown_works"] = dense
    else:
        src_np, dst_np = _index_in(citing, ids), _index_in(cited, ids)
        known_src = src_np >= 0
        stats["citations_from_unknown_works"] = len(citing) - int(known_src.sum())
        unknown_dst = known_src & (dst_np < 0)
        n_unknown_dst = int(unknown_dst.sum())
        stats["citations_to_unknown_works"] = n_unknown_dst
        n_nodes = n_timed
        if n_unknown_dst and unknown_cited == "keep":
            extra = pc.dictionary_encode(cited.filter(pa.array(unknown_dst)))
            dst_np[unknown_dst] = n_timed + extra.indices.to_numpy().astype(np.int64)
            n_nodes += len(extra.dictionary)
        ok = (src_np >= 0) & (dst_np >= 0)
        src_np, dst_np = src_np[ok], dst_np[ok]

    self_loop = src_np == dst_np
    stats["self_citations"] = int(self_loop.sum())
    code = _sorted_unique(src_np[~self_loop] * n_nodes + dst_np[~self_loop])
    stats["duplicate_citations"] = int((~self_loop).sum() - code.size)
    stats["citations_used"] = int(code.size)
    return _Graph(ids=ids, n_timed=n_timed, n_nodes=n_nodes, time=times.to_numpy().astype(np.int64),
                  src=code // n_nodes, dst=code % n_nodes, stats=stats)


def _dense_codes(ids: pa.Array, citing: pa.Array, cited: pa.Array, unknown_cited: str):
    """The citations as codes, for the integer ids a build passes (non-negative, in a range not much wider than
    the data, no nulls): (src, dst, n_nodes, citations from unknown works, citations to unknown works), the
    same codes as the general path (cited works outside ``ids`` numbered in order of first appearance, like
    Arrow's dictionary_encode), in one compiled pass over a dense table; None when the ids do not qualify. On
    the 2012 span of the 100M graph (21M citations), _build_graph took 4.0-5.2 s with it, 5.5-7.3 s without
    (three runs each); the whole span's time did not move beyond run-to-run noise."""
    if not (pa.types.is_signed_integer(ids.type) and len(ids) and len(citing)) or citing.null_count \
            or cited.null_count:
        return None
    id_np, citing_np, cited_np = ids.to_numpy(), citing.to_numpy(), cited.to_numpy()
    lo = min(int(id_np.min()), int(citing_np.min()), int(cited_np.min()))
    hi = max(int(id_np.max()), int(citing_np.max()), int(cited_np.max()))
    if lo < 0 or hi >= 4 * (len(ids) + len(citing)):
        return None
    return _code_citations(id_np.astype(np.int64), citing_np.astype(np.int64), cited_np.astype(np.int64), hi + 1,
                           unknown_cited == "keep")


@numba.njit(cache=True, nogil=True)
def _code_citations(id_np, citing, cited, size, keep_unknown):  # pragma: no cover (compiled)
    # code[v]: v's row when v is a work id; -2 - k when v is the k-th cited work outside the ids; -1: not seen.
    code = np.full(size, -1, np.int64)
    for k in range(id_np.size):
        code[id_np[k]] = k
    n_timed = id_np.size
    src = np.empty(citing.size, np.int64)
    dst = np.empty(citing.size, np.int64)
    n_out, n_unknown, from_unknown, to_unknown = 0, 0, 0, 0
    for e in range(citing.size):
        s = code[citing[e]]
        if s < 0:
            from_unknown += 1
            continue
        d = code[cited[e]]
        if d < 0:
            to_unknown += 1
            if not keep_unknown:
                continue
            if d == -1:
                code[cited[e]] = -2 - n_unknown
                d = n_timed + n_unknown
                n_unknown += 1
            else:
                d = n_timed - 2 - d
        src[n_out] = s
        dst[n_out] = d
        n_out += 1
    return src[:n_out], dst[:n_out], n_timed + n_unknown, from_unknown, to_unknown


def _index_in(values: pa.Array, ids: pa.Array) -> np.ndarray:
    """Position of each value among the distinct ids, -1 where it is not one of them (or null). The integer codes
    a build passes take _dense_codes instead; this hash lookup serves every other kind of id."""
    return pc.index_in(values, value_set=ids).fill_null(-1).to_numpy().astype(np.int64)


def _sorted_unique(codes: np.ndarray) -> np.ndarray:
    # Sort and drop repeats; numpy 2's hash-based np.unique is many times slower on these packed codes.
    codes = np.sort(codes)
    keep = np.empty(codes.size, bool)
    keep[:1] = True
    np.not_equal(codes[1:], codes[:-1], out=keep[1:])
    return codes[keep]


def _search(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """np.searchsorted (left) for many queries in any order: sorted queries walk the array ten times faster."""
    if queries.size < 4096:
        return np.searchsorted(sorted_keys, queries)
    sorted_queries, order = sorted_with_order(queries)
    found = np.empty(queries.size, np.int64)
    found[order] = np.searchsorted(sorted_keys, sorted_queries)
    return found


def _same_type(values: pa.Array, id_type: pa.DataType) -> pa.Array:
    if values.type == id_type:
        return values
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), id_type)
    return values.cast(id_type)


def _count(graph: _Graph, delta: int | None, window: str, same_year: str, wanted: np.ndarray):
    """|A|, |B|, |A & B| and i for every timed work (int64 arrays); |B| and |A & B| are right only where
    ``wanted`` (a mask over timed works): the paths of the others are not walked."""
    n_timed, n_nodes, src, dst = graph.n_timed, graph.n_nodes, graph.src, graph.dst
    focal = np.arange(n_timed)

    # Times as ranks 0..R-1, so that (work, time) packs into one sortable int64 key: work * R1 + rank.
    uniq_t, rank = np.unique(graph.time, return_inverse=True)
    r1 = uniq_t.size + 1
    t = graph.time

    # Windows as half-open rank ranges [lo, hi) per focal work: B (citers of references), A (citers), i.
    lower = t + 1 if same_year == "exclude" else t
    no_end = np.full_like(t, _I64_MAX)
    i_upper = t + delta if delta is not None else no_end
    if window == "cdindex":
        b_lo, b_hi = _rank_range(uniq_t, lower, i_upper)
        a_lo, a_hi = b_lo, b_hi
    else:  # novelpy: every citer of f counts, whenever it came; citers of its references from t_f on
        b_lo, b_hi = _rank_range(uniq_t, lower, no_end)
        a_lo, a_hi = np.zeros(n_timed, np.int64), np.full(n_timed, uniq_t.size, np.int64)
    i_hi = np.searchsorted(uniq_t, i_upper, side="right").astype(np.int64)

    # Citers of each work, sorted by (cited, citer's time): one int64 key per in-edge.
    in_key, order = sorted_with_order(dst * r1 + rank[src])  # the order of citers with the same key does not matter
    in_citer = src[order]

    def in_window(node, lo, hi):  # citers of `node` with time rank in [lo, hi)
        return np.searchsorted(in_key, node * r1 + hi) - np.searchsorted(in_key, node * r1 + lo)

    n_a = in_window(focal, a_lo, a_hi)
    i = in_window(focal, np.zeros(n_timed, np.int64), i_hi)

    # Hubs: the most cited works, one mask bit each; mask[c] = the hubs that work c cites.
    indeg = np.bincount(dst, minlength=n_nodes)
    hubs = np.argsort(-indeg, kind="stable")[:_MAX_HUBS]
    hubs = hubs[indeg[hubs] >= _MIN_HUB_CITERS]
    bit_of = np.full(n_nodes, -1, np.int64)
    bit_of[hubs] = np.arange(hubs.size)
    to_hub = bit_of[dst] >= 0
    mask = np.zeros(n_nodes, np.uint64)
    np.bitwise_or.at(mask, src[to_hub], np.left_shift(np.uint64(1), bit_of[dst[to_hub]].astype(np.uint64)))

    from_wanted = wanted[src]  # src < n_timed: citations come from timed works only
    hub_edges = to_hub & from_wanted
    n_b = _hub_citers(graph, in_key, in_citer, r1, mask, bit_of, src[hub_edges], dst[hub_edges], b_lo, b_hi, rank)
    n_b_light, n_j = _light_citers(graph, in_key, in_citer, r1, rank, mask, ~to_hub & from_wanted,
                                   b_lo, b_hi, a_lo, a_hi, wanted)
    n_b += n_b_light
    return n_a, n_b, n_j, i


def _rank_range(uniq_t: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    """Rank range [lo, hi) of the times in [lower, upper] (inclusive bounds)."""
    lo = np.searchsorted(uniq_t, lower, side="left")
    hi = np.searchsorted(uniq_t, upper, side="right")
    return lo.astype(np.int64), np.maximum(hi, lo).astype(np.int64)


def _hub_citers(graph, in_key, in_citer, r1, mask, bit_of, f, hub, lo_f, hi_f, rank):
    """Per focal work: works in its B window citing one of its hub references (f itself left out)."""
    n_b = np.zeros(graph.n_timed, np.int64)
    if f.size == 0:
        return n_b
    lo, hi = lo_f[f], hi_f[f]
    bit = bit_of[hub].astype(np.uint64)
    # Hubs of f with a lower bit: a citer of one of those is counted there, not here.
    lower = mask[f] & ((np.uint64(1) << bit) - np.uint64(1))

    first = lower == 0
    count = np.zeros(f.size, np.int64)
    count[first] = _search(in_key, hub[first] * r1 + hi[first]) - _search(in_key, hub[first] * r1 + lo[first])

    rest = np.flatnonzero(~first)
    if rest.size:
        keys = np.stack([hub[rest].astype(np.uint64), lower[rest]])
        uniq, group = np.unique(keys, axis=1, return_inverse=True)
        group = group.ravel()
        by_group = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[by_group], np.arange(uniq.shape[1] + 1))
        for g in range(uniq.shape[1]):  # one pass per (hub, lower hubs) pair that occurs, not per paper
            h, low = int(uniq[0, g]), uniq[1, g]
            start, stop = np.searchsorted(in_key, [h * r1, (h + 1) * r1])
            citers = in_citer[start:stop]
            ranks = (in_key[start:stop] - h * r1)[(mask[citers] & low) == 0]
            rows = rest[by_group[bounds[g]:bounds[g + 1]]]
            count[rows] = np.searchsorted(ranks, hi[rows]) - np.searchsorted(ranks, lo[rows])

    np.add.at(n_b, f, count)
    # f cites its own hubs, so it sits among their citers when its own time is inside its window.
    has_hub = mask[: graph.n_timed] != 0
    own = has_hub & (rank >= lo_f) & (rank < hi_f)
    n_b -= own
    return n_b


def _light_citers(graph, in_key, in_citer, r1, rank, mask, light, b_lo, b_hi, a_lo, a_hi, wanted):
    """Per focal work: distinct works in its B window citing one of its ordinary references and none of its
    hubs; and |J|, the citers of f (A window) that are in B."""
    f_all, r_all = graph.src[light], graph.dst[light]  # sorted by f
    # Window slice [start, start + length) of each reference's citer list.
    start = _search(in_key, r_all * r1 + b_lo[f_all])
    length = _search(in_key, r_all * r1 + b_hi[f_all]) - start
    n_j, j_f, j_c = _citers_in_b_window(graph, in_key, in_citer, r1, mask, b_lo, b_hi, a_lo, a_hi, wanted)
    n_b = np.zeros(graph.n_timed, np.int64)
    # Citers are timed works, codes below n_timed: one bit each (368 KB for a 2.9M-work span, which stays in the
    # core's cache), and the words one focal work set, to clear them after it.
    seen = np.zeros(graph.n_timed // 64 + 1, np.uint64)
    touched = np.zeros(seen.size, np.int64)
    _walk_paths(f_all, start, length, in_citer, mask, j_f, j_c, n_b, n_j, seen, touched)
    return n_b, n_j


@numba.njit(cache=True, nogil=True)
def _walk_paths(f_all, start, length, in_citer, mask, j_f, j_c, n_b, n_j, seen, touched):  # pragma: no cover
    """Walk every path f -> r <- c of the light edges (f_all sorted, each edge with its window slice of r's
    citers) and count each c once per f, marking it in the bit set ``seen``, which is cleared after each f: no
    sort and nothing held per path. Then the J candidates of f (j_f sorted) that f's paths reached add to n_j.
    On the 2012 span of the 100M graph (513M paths, every work's) this took 9-15 s, against 14-21 s for a mark
    per work in an int32 array (more cache misses) and about 30 s for the chunked NumPy sorts it replaced; with
    the span's time_range, only its own works' 157M paths are walked."""
    one = np.uint64(1)
    e, j, n_e, n_jc = 0, 0, f_all.size, j_f.size
    while e < n_e or j < n_jc:
        if j >= n_jc or (e < n_e and f_all[e] <= j_f[j]):
            f = f_all[e]
        else:
            f = j_f[j]
        hubs_of_f = mask[f]
        k = 0
        while e < n_e and f_all[e] == f:
            for p in range(start[e], start[e] + length[e]):
                c = in_citer[p]
                word, bit = c >> 6, one << np.uint64(c & 63)
                if (seen[word] & bit) == 0:
                    if seen[word] == 0:
                        touched[k] = word
                        k += 1
                    seen[word] |= bit
                    # citers of one of f's hubs were counted with the hubs
                    if c != f and (hubs_of_f == 0 or (mask[c] & hubs_of_f) == 0):
                        n_b[f] += 1
            e += 1
        while j < n_jc and j_f[j] == f:
            c = j_c[j]
            if (seen[c >> 6] >> np.uint64(c & 63)) & one:
                n_j[f] += 1
            j += 1
        for i in range(k):
            seen[touched[i]] = 0


def _citers_in_b_window(graph, in_key, in_citer, r1, mask, b_lo, b_hi, a_lo, a_hi, wanted):
    """Citers c of f inside both f's A and B windows. Those citing one of f's hubs are in B for sure: counted
    here (|J| so far). The rest are returned as (f, c), sorted by f, to be looked up among the light pairs."""
    n_timed = graph.n_timed
    cited = in_key // r1
    of_focal = cited < n_timed
    of_focal[of_focal] = wanted[cited[of_focal]]
    f, c, r = cited[of_focal], in_citer[of_focal], (in_key - cited * r1)[of_focal]
    inside = (r >= np.maximum(a_lo[f], b_lo[f])) & (r < np.minimum(a_hi[f], b_hi[f]))
    f, c = f[inside], c[inside]
    via_hub = (mask[c] & mask[f]) != 0
    n_j = np.bincount(f[via_hub], minlength=n_timed).astype(np.int64)
    return n_j, f[~via_hub], c[~via_hub]  # sorted by f, as in_key is
