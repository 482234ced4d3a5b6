"""Pieces of an analytic computed in worker processes come back in order, equal to a loop in this process."""

import os
import time

import pyarrow as pa
import pyarrow.compute as pc

from scholarlens.analytics.processes import map_in_processes, release_workers, worker_count


def _sum_after(table: pa.Table, delay: float) -> tuple[int, int]:
    time.sleep(delay)  # early jobs finish last: the order must still be the jobs'
    return int(pc.sum(table["x"]).as_py() or 0), os.getpid()


def _jobs():
    return [(pa.table({"x": list(range(k))}), 0.3 if k < 3 else 0.0) for k in range(6)]


def test_results_come_back_in_job_order_from_other_processes():
    here = list(map_in_processes(_sum_after, _jobs(), workers=1))
    pooled = list(map_in_processes(_sum_after, _jobs(), workers=2))
    assert [s for s, _ in pooled] == [s for s, _ in here] == [k * (k - 1) // 2 for k in range(6)]
    assert {pid for _, pid in here} == {os.getpid()}
    assert os.getpid() not in {pid for _, pid in pooled}


def test_a_failing_piece_raises_in_the_caller():
    jobs = [(pa.table({"x": [1]}), 0.0), (pa.table({"y": [1]}), 0.0)]  # no column x: KeyError in the worker
    try:
        list(map_in_processes(_sum_after, jobs, workers=2))
    except KeyError:
        pass
    else:
        raise AssertionError("the worker's error was lost")


def _pid_after(delay: float) -> int:
    time.sleep(delay)  # long enough for both workers to take a piece
    return os.getpid()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_released_workers_end_and_the_next_map_starts_new_ones():
    """An idle worker keeps the memory its pieces grew it to; released, it is gone (a build releases them after
    every step)."""
    pids = set(map_in_processes(_pid_after, [(0.3,)] * 4, workers=2))
    assert len(pids) == 2 and all(_running(pid) for pid in pids)  # reused by later maps until released
    release_workers()
    assert not any(_running(pid) for pid in pids)
    again = set(map_in_processes(_pid_after, [(0.3,)] * 4, workers=2))
    assert len(again) == 2 and again.isdisjoint(pids)
    release_workers()
    release_workers()  # with no workers running: nothing to do, no error


def test_a_build_ends_the_workers_a_step_left(sample_store, tmp_path):
    """analyse() releases the workers after each step: workers started before it are gone when it returns."""
    import shutil

    from scholarlens.analytics.build import analyse
    from scholarlens.store.db import connect

    pids = set(map_in_processes(_pid_after, [(0.3,)] * 4, workers=2))
    assert all(_running(pid) for pid in pids)
    shutil.copy(sample_store, tmp_path / "store.duckdb")
    con = connect(tmp_path / "store.duckdb")
    try:
        analyse(con)
    finally:
        con.close()
    assert not any(_running(pid) for pid in pids)


def _rss_mib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS:"))


def test_between_steps_this_process_gives_back_what_a_step_freed():
    """release_step_memory (after every step of a build): memory DuckDB's queries freed goes back to the system,
    not kept by its allocator for the next step's workers to start beside; Python's cyclic garbage is collected
    even while the collector is paused; the memory limit is the build's as before, exactly."""
    import gc
    import weakref

    import duckdb

    from scholarlens.analytics.build import release_step_memory

    con = duckdb.connect()
    con.execute("SET memory_limit = '3GB'")
    limit_before = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.execute("CREATE TEMP TABLE t AS SELECT range AS a, range * 7 % 1000003 AS b, md5(range::VARCHAR) AS c "
                "FROM range(5000000)")
    con.execute("SELECT b, count(*), max(c) FROM t GROUP BY b").fetchall()
    con.execute("DROP TABLE t")
    freed_but_kept = _rss_mib()

    class Node:
        pass

    gc.disable()  # as the persons step runs (gcpause)
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the cyclic collector frees it
        gone = weakref.ref(a)
        del a, b
        assert gone() is not None
        release_step_memory(con, "3GB")
        assert gone() is None
    finally:
        gc.enable()
    assert _rss_mib() < freed_but_kept - 200, (freed_but_kept, _rss_mib())  # about 450 MiB here
    assert con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == limit_before


def test_worker_count_is_bounded_by_pieces_cores_and_memory():
    assert worker_count(1, 1) == 1
    assert worker_count(10**6, 1) == (os.cpu_count() or 1)
    assert worker_count(10**6, 2**60) == 1  # no machine holds an exabyte per worker


def test_a_script_without_a_main_guard_runs_once_from_stdin():
    """Workers never re-run the caller's script: a script read from stdin, with no ``__main__`` guard, works."""
    import subprocess
    import sys

    script = (
        "import math\n"
        "from scholarlens.analytics.processes import map_in_processes\n"
        "print('top level', flush=True)\n"
        "print(list(map_in_processes(math.comb, [(5, k) for k in range(6)], workers=2)))\n"
    )
    done = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["top level", "[1, 5, 10, 10, 5, 1]"]
