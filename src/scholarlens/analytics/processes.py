"""Independent pieces of one analytic (a chunk of name blocks, a span of years, a citing year) computed in
worker processes.

The store stays in the calling process (DuckDB has one writer): it reads each piece's rows, as Arrow or pandas,
and a worker runs a module-level function on them. Results come back in the order of the pieces, so the
output is the one a loop in the calling process would give. While the workers compute, the caller reads the
next piece; at most one piece waits beyond those being computed, so memory stays at workers + 1 pieces.

joblib's loky workers, not multiprocessing's: they never re-run the caller's script (a user's script without a
``__main__`` guard, a notebook, ``python -`` all work), they are started once and reused by every piece of a
step, and they cap each worker's BLAS threads so that workers x threads fit the cores. A single piece, or a
single core, runs in the calling process instead. A build ends the workers after each step
(``release_workers``): a worker keeps the memory its last piece grew it to, and the next step's pieces would
start on top of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from joblib import Parallel, delayed
from joblib.externals.loky import get_reusable_executor

__all__ = ["worker_count", "map_in_processes", "release_workers", "available_memory_bytes"]


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
    """``fn(*job)`` for each job, in job order; with ``workers`` > 1 in that many worker processes (``fn`` and
    the jobs' values must pickle: a module-level function, Arrow tables, data frames, plain values). A worker's
    exception is raised here."""
    if workers <= 1:
        for job in jobs:
            yield fn(*job)
        return
    # One piece per task, at most one queued beyond the running ones; max_nbytes=None: arrays travel pickled,
    # not as read-only memory maps that the functions could not write to.
    parallel = Parallel(n_jobs=workers, backend="loky", return_as="generator", batch_size=1,
                        pre_dispatch=workers + 1, max_nbytes=None)
    yield from parallel(delayed(fn)(*job) for job in jobs)


def release_workers() -> None:
    """End the worker processes map_in_processes started, returning their memory to the machine; the next map
    starts new ones (0.6 s for two here). Python seldom gives a process's freed memory back to the system, so
    an idle worker stays as large as its largest piece: at 1M citations the CD index's idle workers still held
    ~550 MiB during semantic novelty, and releasing them after each step took the 100M build's peak from
    16,459 to 14,923 MiB (docs/bench/scale.md)."""
    # With no workers running this makes an executor without starting any process, and shuts it down at once.
    get_reusable_executor().shutdown(wait=True)
