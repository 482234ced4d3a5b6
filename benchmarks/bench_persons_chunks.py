"""Persons at scale: how a store's mentions split between name blocks settled in SQL and blocks the
disambiguation engine must score, and the engine's cost per mention on the first K chunks.

For sizes where the whole persons step would take too long to run here: the chunks are independent and alike
(whole name blocks of about analytics.persons.CHUNK_MENTIONS mentions), so the cost of the first K, times the
number of chunks, estimates the step. The estimate is labelled as one wherever it is quoted.

    python benchmarks/bench_persons_chunks.py --input /tmp/scale-bench/edges_100000000/input --store /tmp/p.duckdb --chunks 4
    ... --workers 1    # in this process, as before engine workers existed
    ... --whole        # the whole step (compute_persons, a first build) on a copy of the store: no estimate
    ... --build-memory # DuckDB held to the build's share of memory, as `scholarlens build` holds it

--input is a bench_scale Parquet input (loaded into --store when the store does not exist yet).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import threading
import time
from pathlib import Path

from scholarlens.analytics import persons
from scholarlens.analytics.build import build_memory_limit
from scholarlens.analytics.processes import map_in_processes
from scholarlens.engine.parquet_io import load_into
from scholarlens.store.db import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import _tree_rss_kb  # noqa: E402


def _rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _hold_to_build_memory(con) -> None:
    limit = build_memory_limit()
    if limit is None:
        raise SystemExit("--build-memory: this machine's memory cannot be read")
    con.execute(f"SET memory_limit = '{limit}'")


def _score_and_peak(*job):
    """persons._score_chunk, and the peak memory of the process that ran it (VmHWM: a worker's own): the number
    of mentions it clustered and that peak."""
    clustered = persons._score_chunk(*job)
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return clustered.num_rows, peak_kb // 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--chunks", type=int, default=4, help="engine chunks to time")
    parser.add_argument("--workers", type=int, default=0,
                        help="engine processes (0: persons.engine_workers, one per core as memory allows)")
    parser.add_argument("--whole", action="store_true",
                        help="run the whole persons step on a copy of --store (kept as STORE.whole) and time it")
    parser.add_argument("--build-memory", action="store_true",
                        help="hold DuckDB to the build's share of memory (build.BUILD_DUCKDB_MEMORY_SHARE) as a "
                             "build does, not DuckDB's default of 80%%: what the build's peak depends on")
    args = parser.parse_args(argv)

    new = not args.store.exists()
    con = connect(args.store)
    if args.build_memory:
        _hold_to_build_memory(con)
    if new:
        start = time.perf_counter()
        load_into(con, args.input)
        print(json.dumps({"load_s": round(time.perf_counter() - start, 1)}), flush=True)

    if args.whole:
        con.close()
        _whole_step(args.store, args.workers or None, args.build_memory)
        return

    start = time.perf_counter()
    plan = persons.plan_corrections(con, persons._MentionsOfAuthor(con))
    extra = plan.extra_mentions(con)
    chunks, settled_nodes = persons._plan_blocks(con, plan, set(), extra, persons.CHUNK_MENTIONS)
    persons._settled_table(con, settled_nodes)
    settled_mentions = con.execute("SELECT count(*) FROM _settled_mentions").fetchall()[0][0]
    split_s = time.perf_counter() - start
    total = con.execute("SELECT count(*) FROM authorships").fetchall()[0][0]
    print(json.dumps({"split_s": round(split_s, 1), "mentions": total, "settled_in_sql": settled_mentions,
                      "engine_chunks": len(chunks)}), flush=True)

    start = time.perf_counter()
    persons._prepare_chunk_reads(con, chunks)  # as compute_persons does: each chunk is then a cheap filter
    prepared_s = time.perf_counter() - start
    print(json.dumps({"chunk_reads_prepared_s": round(prepared_s, 1)}), flush=True)

    workers = args.workers or persons.engine_workers(len(chunks))
    timed, start = 0, time.perf_counter()
    jobs = ((persons._chunk_rows(con, i), [], [], []) for i in range(min(args.chunks, len(chunks))))
    worker_peak = 0
    for scored, peak_mb in map_in_processes(_score_and_peak, jobs, workers):
        timed += scored
        worker_peak = max(worker_peak, peak_mb)
        print(json.dumps({"chunk_mentions": scored, "so_far_s": round(time.perf_counter() - start, 1),
                          "peak_rss_mb": _rss_mb(), "scoring_process_peak_mb": peak_mb}), flush=True)
    wall = time.perf_counter() - start
    per_mention = wall / max(timed, 1)
    print(json.dumps({
        "workers": workers, "chunks_timed": min(args.chunks, len(chunks)), "timed_mentions": timed,
        "wall_s": round(wall, 1), "us_per_mention_wall": round(per_mention * 1e6),
        "estimate_all_chunks_s": round(per_mention * (total - settled_mentions)),
        # the step but for writing the person tables at the end (75 s at 100M when last run whole)
        "estimate_step_before_writing_s": round(split_s + prepared_s + per_mention * (total - settled_mentions)),
        "peak_rss_mb_this_process": _rss_mb(), "peak_rss_mb_scoring_process": worker_peak,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }), flush=True)


def _whole_step(store: Path, workers: int | None, build_memory: bool = False) -> None:
    """compute_persons on a fresh copy of the store (a first build, as bench_scale's), with its wall time, the
    seconds at which each chunk ended, and the peak resident set of this process and its engine workers (MiB,
    sampled every half second)."""
    copy = store.with_name(store.name + ".whole")
    shutil.copyfile(store, copy)
    con = connect(copy)
    if build_memory:
        _hold_to_build_memory(con)
    memory_limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    peak, done = {"kb": 0}, threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["kb"] = max(peak["kb"], _tree_rss_kb(os.getpid()))
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    chunk_ends: list[float] = []

    def on_chunk(finished: int, total: int) -> None:
        chunk_ends.append(round(time.perf_counter() - start, 1))
        if finished == 1 or finished % 10 == 0 or finished == total:
            print(json.dumps({"chunks_done": finished, "of": total, "so_far_s": chunk_ends[-1]}), flush=True)

    found = persons.compute_persons(con, workers=workers, on_chunk=on_chunk)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    mentions = con.execute("SELECT count(*) FROM person_mentions").fetchall()[0][0]
    # one number for the whole assignment, to compare two runs' results without keeping both stores
    assignment = con.execute("SELECT bit_xor(hash(work_id, author_id, person_id)) FROM person_mentions").fetchall()[0][0]
    print(json.dumps({
        "whole_step_s": round(wall, 1), "persons": found, "person_mentions": mentions,
        "assignment_hash": str(assignment),
        "first_chunk_done_s": chunk_ends[0] if chunk_ends else None,
        "last_chunk_done_s": chunk_ends[-1] if chunk_ends else None, "chunks": len(chunk_ends),
        "peak_tree_rss_mib": peak["kb"] // 1024, "duckdb_memory_limit": memory_limit,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }), flush=True)
    con.close()


if __name__ == "__main__":
    main()
