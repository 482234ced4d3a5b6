"""The work index at scale: build, "k nearest published before D" queries, recall against exact search, memory.

Vectors: there are not a million real abstracts on this machine, so the benchmark makes them from real ones. The
ICLR check's 1,218 abstracts are embedded with the default embedder; each synthetic work is a real vector plus a
random share of a second real vector plus Gaussian noise, normalised. That keeps the clustered, anisotropic shape of
real text vectors (pure Gaussian noise would be an unrealistically hard and structureless case). Dates run from
1990 to 2025 with exponential growth (half the works in the last eight years).

Measured:
- build: WorkIndex.add of all works in date order (FAISS HNSW, M=32, efConstruction=80, 2 threads);
- queries: each query is a work of the corpus asking for its 10 nearest works published before its own date, as
  novelty does; "prefix" is the date-ordered index (range selector), "bitmap" the same graph told that its rows
  are out of date order (bitmap selector), both including the exact fallbacks;
- recall@10 of both against exact brute force over the works before D, on a sample of the queries;
- incremental add of 1% newer works, save and reopen time, files' size, peak resident memory;
- novelty's bulk path, nearest_earlier() over a random subset of the works (--novelty-n), with its recall.
Run: python benchmarks/bench_ann.py --n 1000000   (writes its section of docs/bench/embeddings.md unless --no-write)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_embed import load_iclr, write_section  # the same check texts and page

from scholarlens.embed import HybridEmbedder, WorkIndex, nearest_earlier, to_days

START, END = "<!-- bench_ann:start -->", "<!-- bench_ann:end -->"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux reports KiB


def synthetic(n: int, datasets: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rows = load_iclr(datasets / "iclr_openreview")
    titles, abstracts = [r[0] for r in rows], [r[1] for r in rows]
    base = HybridEmbedder.fit(abstracts, titles).embed(abstracts, titles)
    rng = np.random.default_rng(seed)
    vectors = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        mix = base[rng.integers(0, len(base), m)] + rng.uniform(0, 0.7, (m, 1)) * base[rng.integers(0, len(base), m)]
        mix += rng.standard_normal((m, base.shape[1])).astype(np.float32) * (0.6 / np.sqrt(base.shape[1]))
        vectors[start : start + m] = mix / np.linalg.norm(mix, axis=1, keepdims=True)
    # Exponential growth: day = 1990 + 35 years * log-uniform share, more works recently.
    share = np.log1p(rng.random(n) * (np.e**3 - 1)) / 3
    days = (to_days(["1990-01-01"])[0] + share * 35 * 365.25).astype(np.int64)
    return vectors, days


def exact_before(vectors: np.ndarray, days: np.ndarray, queries: np.ndarray, limits: np.ndarray, k: int):
    """Brute force: every similarity, works on or after the limit masked out, best k kept."""
    out = []
    for start in range(0, len(queries), 32):
        sims = vectors @ queries[start : start + 32].T
        sims[days[:, None] >= limits[None, start : start + 32]] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=0)[:k]
        for col in range(sims.shape[1]):
            out.append({int(r) for r in top[:, col] if np.isfinite(sims[r, col])})
    return out


def recall(found_rows: np.ndarray, truth: list[set[int]]) -> float:
    hits = sum(len(set(r[r >= 0].tolist()) & t) for r, t in zip(found_rows, truth))
    return hits / max(1, sum(len(t) for t in truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--recall-sample", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--novelty-n", type=int, default=200_000, help="works for the nearest_earlier run")
    parser.add_argument("--datasets", type=Path, default=Path("/work/shared/datasets"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 2)
    log = lambda *a: print(*a, f"| load {os.getloadavg()[0]:.2f} | peak {peak_rss_gb():.2f} GB", file=sys.stderr)

    vectors, days = synthetic(args.n, args.datasets)
    n_new = max(1, args.n // 100)
    order = np.argsort(days, kind="stable")
    base_rows, new_rows = order[:-n_new], order[-n_new:]  # the newest 1% arrive later
    ids = np.array([f"W{i}" for i in range(args.n)])
    dates = days.astype("datetime64[D]")
    log("vectors ready", vectors.shape)

    index = WorkIndex(vectors.shape[1])
    start = time.perf_counter()
    index.add(ids[base_rows].tolist(), vectors[base_rows], dates[base_rows])
    build_s = time.perf_counter() - start
    log(f"build {build_s:.1f}s")

    start = time.perf_counter()
    index.add(ids[new_rows].tolist(), vectors[new_rows], dates[new_rows])
    add_s = time.perf_counter() - start
    log(f"add {n_new} in {add_s:.1f}s")

    rng = np.random.default_rng(1)
    picks = rng.choice(args.n, args.queries, replace=False)
    queries, limits = vectors[picks], dates[picks]

    start = time.perf_counter()
    rows_prefix, _ = index.search_before(queries, limits, args.k)
    prefix_qps = args.queries / (time.perf_counter() - start)
    fallbacks_prefix = index.exact_fallbacks
    log(f"prefix {prefix_qps:.0f} q/s")

    index._date_ordered = False  # same graph, filtered by bitmap as if rows had come out of date order
    start = time.perf_counter()
    rows_bitmap, _ = index.search_before(queries, limits, args.k)
    bitmap_qps = args.queries / (time.perf_counter() - start)
    fallbacks_bitmap = index.exact_fallbacks - fallbacks_prefix
    index._date_ordered = True
    log(f"bitmap {bitmap_qps:.0f} q/s")

    # Row numbers in the index follow insertion order; map them back to synthetic rows through the ids.
    row_of_id = {w: int(w[1:]) for w in index.ids}
    to_source = np.array([row_of_id[w] for w in index.ids])
    sample = np.arange(min(args.recall_sample, args.queries))
    start = time.perf_counter()
    truth = exact_before(vectors, days, queries[sample], to_days(limits[sample]), args.k)
    exact_qps = len(sample) / (time.perf_counter() - start)
    map_rows = lambda r: np.where(r >= 0, to_source[np.maximum(r, 0)], -1)
    recall_prefix = recall(map_rows(rows_prefix[sample]), truth)
    recall_bitmap = recall(map_rows(rows_bitmap[sample]), truth)
    log(f"recall prefix {recall_prefix:.4f} bitmap {recall_bitmap:.4f}; numpy brute force {exact_qps:.1f} q/s")

    folder = Path(tempfile.mkdtemp(prefix="bench_ann_"))
    try:
        start = time.perf_counter()
        index.save(folder)
        save_s = time.perf_counter() - start
        size_gb = sum(f.stat().st_size for f in folder.iterdir()) / 1024**3
        del index
        start = time.perf_counter()
        reopened = WorkIndex.open(folder)
        open_s = time.perf_counter() - start
        assert len(reopened) == args.n
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    log(f"save {save_s:.1f}s open {open_s:.1f}s size {size_gb:.2f} GB")

    # Novelty's bulk path: every work's nearest earlier works, on a random subset of the works.
    sub = np.sort(rng.choice(args.n, min(args.novelty_n, args.n), replace=False))
    start = time.perf_counter()
    bulk_rows, _ = nearest_earlier(vectors[sub], days[sub], args.k)
    bulk_s = time.perf_counter() - start
    probe = rng.choice(len(sub), min(args.recall_sample, len(sub)), replace=False)
    truth = exact_before(vectors[sub], days[sub], vectors[sub][probe], days[sub][probe], args.k)
    bulk_recall = recall(bulk_rows[probe], truth)
    log(f"nearest_earlier on {len(sub)}: {bulk_s:.1f}s recall {bulk_recall:.4f}")

    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    lines = [
        START, "",
        f"Command: `python benchmarks/bench_ann.py --n {args.n} --novelty-n {args.novelty_n}`", "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores; `uptime` at the end: {uptime}.",
        (f"{args.n:,} works of {vectors.shape[1]} dims; FAISS {faiss.__version__} IndexHNSWFlat M=32, "
         f"efConstruction=80, efSearch=96 raised by the excluded share; exact below 20,000 allowed works."),
        "",
        "| measure | value |", "|---|---|",
        (f"| build ({len(base_rows):,} works, date order) | "
         f"{build_s:,.0f} s ({len(base_rows) / build_s:,.0f} works/s) |"),
        f"| incremental add of {n_new:,} newer works | {add_s:,.1f} s |",
        f"| queries/s, k={args.k} nearest before the query's own date, prefix (range) filter | {prefix_qps:,.0f} |",
        f"| queries/s, same, bitmap filter (rows out of date order) | {bitmap_qps:,.0f} |",
        (f"| recall@{args.k} vs exact, prefix / bitmap ({len(sample)} queries) | "
         f"{recall_prefix:.3f} / {recall_bitmap:.3f} |"),
        (f"| queries redone exactly because the graph found fewer than k, prefix / bitmap | "
         f"{fallbacks_prefix} / {fallbacks_bitmap} of {args.queries} |"),
        f"| exact brute force in numpy, for scale | {exact_qps:,.1f} queries/s |",
        f"| save / reopen | {save_s:.1f} s / {open_s:.1f} s |",
        f"| files on disk | {size_gb:.2f} GB |",
        (f"| novelty's bulk path: nearest_earlier for all of {len(sub):,} works (graph built in date order, then "
         f"each work's prefix) | {bulk_s:,.0f} s ({len(sub) / bulk_s:,.0f} works/s), "
         f"recall@{args.k} {bulk_recall:.3f} |"),
        f"| peak resident memory of the whole run | {peak_rss_gb():.2f} GB |",
        "", END,
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section(START, END, section)


if __name__ == "__main__":
    main()
