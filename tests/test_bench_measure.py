"""The scale benchmark's measurement (benchmarks/bench_scale.run_measured): its CPU figures count the work of a
worker's child processes, also once they have ended, since the build's heavy steps run in child processes."""

import sys
import textwrap
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

from bench_scale import run_measured, step_walls  # noqa: E402

# A worker in bench_scale's protocol: steps announced on stderr, a JSON report as the last line of stdout. Step
# "spin" burns about 0.6 CPU s in a child process that ends before the step does; step "wait" sleeps.
WORKER = textwrap.dedent("""
    import json, multiprocessing, sys, time

    def spin(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    if __name__ == "__main__":
        print("step spin", file=sys.stderr, flush=True)
        child = multiprocessing.get_context("spawn").Process(target=spin, args=(0.6,))
        child.start()
        child.join()
        print("step wait", file=sys.stderr, flush=True)
        time.sleep(0.6)
        print("step done", file=sys.stderr, flush=True)
        print(json.dumps({"timings": {}}))
""")


def test_step_cpu_counts_a_child_that_has_ended(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    report = run_measured([sys.executable, str(script)], interval=0.05)
    assert "failed" not in report
    spin, wait = report["step_memory"]["spin"], report["step_memory"]["wait"]
    # the child ended inside "spin": only its parent's reaped-children time can still hold its 0.6 s
    assert spin["cpu_s"] >= 0.5
    assert wait["cpu_s"] < 0.3  # sleeping costs next to nothing: the CPU is the step's, not the run's so far
    walls = dict(step_walls(report["step_starts"]))
    assert set(walls) == {"spin", "wait"} and walls["wait"] >= 0.55
    # the timeline's CPU never goes down, and ends at least at the steps' total
    cpus = [cpu for _, _, cpu in report["timeline"]]
    assert cpus == sorted(cpus) and cpus[-1] >= spin["cpu_s"] - 0.1
