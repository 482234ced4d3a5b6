"""Independent pieces of one analytic (a chunk of name blocks, a span of years) computed in worker processes.

The store stays in the calling process (DuckDB has one writer): it reads each piece's rows, as Arrow or pandas,
and a worker runs a module-level function on them. Results come back in the order of the pieces, so the
output is the one a loop in the calling process would give. While the workers compute, the caller reads the
next piece; at most one piece waits beyond those being computed, so memory stays at workers + 1 pieces.

Workers are spawned, not forked: the caller holds DuckDB's threads, which a forked child would inherit
half-locked. A spawned worker imports scholarlens afresh (about a second), which is why a single piece, or a
single core, runs in the calling process instead.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor

__all__ = ["worker_count", "map_in_processes", "available_memory_bytes"]


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (None where there is no such file)."""
    try:
        with open("/proc/meminfo") as meminfo:
            return next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None


def worker_count(pieces: int, bytes_per_worker: int) -> int:
    """One worker per core, no more than available memory holds at ``bytes_per_worker`` each, and no more than
    there are pieces; 1 means the calling process does the work itself."""
    available = available_memory_bytes()
    by_memory = max(1, available // max(1, bytes_per_worker)) if available else 1
    return max(1, min(os.cpu_count() or 1, pieces, by_memory))


def map_in_processes(fn: Callable, jobs: Iterable[tuple], workers: int) -> Iterator:
    """``fn(*job)`` for each job, in job order; with ``workers`` > 1 in that many spawned processes (``fn`` and
    the jobs' values must pickle: a module-level function, Arrow tables, data frames, plain values)."""
    if workers <= 1:
        for job in jobs:
            yield fn(*job)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque = deque()
        for job in jobs:
            pending.append(pool.submit(fn, *job))
            while len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
