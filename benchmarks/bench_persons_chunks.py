"""Persons at scale: how a store's mentions split between name blocks settled in SQL and blocks the
disambiguation engine must score, and the engine's cost per mention on the first K chunks.

For sizes where the whole persons step would take too long to run here: the chunks are independent and alike
(whole name blocks of about analytics.persons.CHUNK_MENTIONS mentions), so the cost of the first K, times the
number of chunks, estimates the step. The estimate is labelled as one wherever it is quoted.

    python benchmarks/bench_persons_chunks.py --input /tmp/scale-bench/edges_100000000/input --store /tmp/p.duckdb --chunks 4

--input is a bench_scale Parquet input (loaded into --store when the store does not exist yet).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from scholarlens.analytics import persons
from scholarlens.engine.parquet_io import load_into
from scholarlens.identity.cluster import disambiguate
from scholarlens.store.db import connect


def _rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--chunks", type=int, default=4, help="engine chunks to time")
    args = parser.parse_args(argv)

    new = not args.store.exists()
    con = connect(args.store)
    if new:
        start = time.perf_counter()
        load_into(con, args.input)
        print(json.dumps({"load_s": round(time.perf_counter() - start, 1)}), flush=True)

    start = time.perf_counter()
    plan = persons.plan_corrections(con, persons._MentionsOfAuthor(con))
    extra = plan.extra_mentions(con)
    chunks, settled = persons._split_blocks(con, plan, set(), extra, persons.CHUNK_MENTIONS)
    split_s = time.perf_counter() - start
    settled_mentions = sum(len(block) for block in settled)
    del settled
    total = con.execute("SELECT count(*) FROM authorships").fetchone()[0]
    print(json.dumps({"split_s": round(split_s, 1), "mentions": total, "settled_in_sql": settled_mentions,
                      "engine_chunks": len(chunks)}), flush=True)

    timed, engine_s, start = 0, 0.0, time.perf_counter()
    for nodes in chunks[: args.chunks]:
        mentions = persons.load_mentions(con, nodes)
        t = time.perf_counter()
        disambiguate(mentions)
        engine_s += time.perf_counter() - t
        timed += len(mentions)
        print(json.dumps({"chunk_mentions": len(mentions), "engine_s": round(time.perf_counter() - t, 1),
                          "so_far_s": round(time.perf_counter() - start, 1), "peak_rss_mb": _rss_mb()}), flush=True)
    per_mention = (time.perf_counter() - start) / max(timed, 1)
    print(json.dumps({
        "timed_mentions": timed, "us_per_mention_read_and_scored": round(per_mention * 1e6),
        "us_per_mention_engine_only": round(engine_s / max(timed, 1) * 1e6),
        "estimate_all_chunks_one_core_s": round(per_mention * (total - settled_mentions)),
        "peak_rss_mb": _rss_mb(),
    }), flush=True)


if __name__ == "__main__":
    main()
