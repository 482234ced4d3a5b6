"""OpenAlex snapshot ingest: works/s, peak memory and store size at 10k, 100k and 1M works.

Data: generated snapshot folders (benchmarks/snapshotgen.py: the 156 real OpenAlex work objects of
benchmarks/data/openalex_works with every identifier varied), in two mixes: "heavy" (the real works as they are)
and "typical" (trimmed to OpenAlex averages, snapshotgen.TYPICAL), cached under --data (they are big: about 3 GB
of .gz for 1M heavy works).

For each size, `scholarlens.snapshot.ingest_snapshot` runs in a fresh child process on a fresh store; the child
reports its peak resident memory (VmHWM from /proc/self/status), its CPU seconds and the time per step. On the
10k set of each mix the per-record pipeline (`pipeline.ingest`, sources/openalex.py + store/writer.py) runs too,
and the two stores must hold equal tables (every row of every table ingest writes) **before** any figure is reported; the
script exits non-zero otherwise.

Run:  python benchmarks/bench_snapshot.py                      # 10k, 100k and 1M; writes docs/bench/snapshot.md
      python benchmarks/bench_snapshot.py --sizes 10000 --no-write   # quick
      python benchmarks/bench_snapshot.py --mixes typical             # one mix
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import snapshotgen

DOC = ROOT / "docs" / "bench" / "snapshot.md"
START, END = "<!-- bench_snapshot:start -->", "<!-- bench_snapshot:end -->"
GOAL_RATE, GOAL_RSS_MB = 20_000, 2048

TABLES = ["works", "work_keys", "work_sources", "authors", "authorships", "institutions", "authorship_institutions",
          "citations", "counts_by_year", "code_links", "reported", "quarantine", "author_claims"]

_CHILD = r"""
import json, os, resource, sys, time
store, src, mode = sys.argv[1], sys.argv[2], sys.argv[3]
from scholarlens.store import connect
con = connect(store)
t0, c0 = time.perf_counter(), time.process_time()
if mode == "snapshot":
    from scholarlens.snapshot import ingest_snapshot
    s = ingest_snapshot(con, src)
    out = {"works": s.works, "via_python": s.via_python, "quarantined": s.quarantined, "json_bytes": s.json_bytes,
           "gz_bytes": s.bytes_read, "timings": dict(s.timings)}
else:
    from scholarlens.pipeline import ingest
    s = ingest(con, [src])
    out = {"works": con.execute("SELECT count(*) FROM works").fetchall()[0][0], "quarantined": s.quarantined}
out["seconds"] = time.perf_counter() - t0
con.close()
out["seconds_with_close"] = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
out["cpu_user"], out["cpu_sys"] = ru.ru_utime, ru.ru_stime
with open("/proc/self/status") as f:
    out["vmhwm_mb"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
print("RESULT " + json.dumps(out), flush=True)
"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def dataset(data: Path, n: int, seed: int, jobs: int, mix: str = "heavy") -> Path:
    folder = data / (f"works_{n}_seed{seed}" if mix == "heavy" else f"works_{mix}_{n}_seed{seed}")
    marker = folder / "generated.json"
    if marker.exists():
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    info = snapshotgen.generate(n, folder, seed=seed, dates=4, per_part=50_000, jobs=jobs, mix=mix)
    info["generate_seconds"] = round(time.perf_counter() - t0, 1)
    marker.write_text(json.dumps(info))
    print(f"generated {n:,} works: {info}", file=sys.stderr)
    return folder


def child_result(script: str, args: list[str], store: Path, what: str) -> dict:
    """Run ``script`` in a fresh Python process on a fresh ``store`` (deleted first); the JSON of its RESULT line,
    with the load averages before and after."""
    for f in (store, Path(str(store) + ".wal")):
        f.unlink(missing_ok=True)
    before = load()
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    result["load_before"], result["load_after"] = before, load()
    return result


def run_child(store: Path, src: Path, mode: str) -> dict:
    result = child_result(_CHILD, [str(store), str(src), mode], store, f"{mode} ingest of {src}")
    result["store_mb"] = sum(f.stat().st_size for f in (store, Path(str(store) + ".wal")) if f.exists()) / 2**20
    return result


def compare(a_path: Path, b_path: Path) -> list[str]:
    import duckdb

    a, b = duckdb.connect(str(a_path), read_only=True), duckdb.connect(str(b_path), read_only=True)
    problems = []
    for t in TABLES:
        cols = [c for (c,) in a.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND column_name <> 'first_seen' "
            "ORDER BY ordinal_position", [t]).fetchall()]
        if not cols:
            continue
        q = f"SELECT {', '.join(cols)} FROM {t}"
        ra, rb = sorted(a.execute(q).fetchall(), key=repr), sorted(b.execute(q).fetchall(), key=repr)
        if ra != rb:
            problems.append(f"{t}: {len(ra)} rows per record, {len(rb)} by snapshot")
    return problems


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--mixes", default="heavy,typical", help="snapshotgen mixes to run, in order")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "scholarlens_snapshot_bench")
    p.add_argument("--jobs", type=int, default=2, help="processes generating the data (not the ingest)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--render-only", action="store_true",
                   help="measure nothing: write the page from the results saved under --data by earlier runs")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    mixes = [] if args.render_only else [m for m in args.mixes.split(",") if m]
    args.data.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bench_snapshot.py" + ("" if args.sizes == "10000,100000,1000000" else f" --sizes {args.sizes}") \
        + ("" if args.mixes == "heavy,typical" else f" --mixes {args.mixes}")
    results = {}
    for mix in mixes:
        started = dt.datetime.now(dt.UTC)
        # Equality first, on the smallest set: the per-record pipeline and the snapshot ingest.
        n_eq = min(sizes)
        small = dataset(args.data, n_eq, args.seed, args.jobs, mix)
        per_record_src = args.data / f"per_record_{mix}_{n_eq}"  # the same parts without the manifest
        if not per_record_src.exists():
            shutil.copytree(small / "data", per_record_src / "data", ignore=shutil.ignore_patterns("manifest"))
        print(f"{mix}: per-record pipeline on {n_eq:,} works, load {load()}", file=sys.stderr)
        pr = run_child(args.data / "per_record.duckdb", per_record_src, "per-record")
        eq_store = args.data / "snapshot_equality.duckdb"
        snap_eq = run_child(eq_store, per_record_src, "snapshot")
        problems = compare(args.data / "per_record.duckdb", eq_store)
        if problems:
            raise SystemExit(f"{mix}: the snapshot ingest and the per-record path differ: " + "; ".join(problems))
        print(f"{mix}: equal tables on {n_eq:,} works; per-record {pr['works'] / pr['seconds']:.0f} works/s", file=sys.stderr)
        runs = []
        for n in sizes:
            src = dataset(args.data, n, args.seed, args.jobs, mix)
            print(f"{mix}: snapshot ingest of {n:,} works, load {load()}", file=sys.stderr)
            r = run_child(args.data / f"snapshot_{n}.duckdb", src, "snapshot")
            r["n"] = n
            r["data"] = json.loads((src / "generated.json").read_text())
            runs.append(r)
            print(json.dumps(r), file=sys.stderr)
            (args.data / f"snapshot_{n}.duckdb").unlink()  # the 1M stores are big; the next size needs the room
        finished = dt.datetime.now(dt.UTC)
        results[mix] = {"runs": runs, "per_record": pr, "n_eq": n_eq, "command": command,
                        "started": started.isoformat(), "finished": finished.isoformat()}
        (args.data / f"results_{mix}.json").write_text(json.dumps(results[mix], indent=1))
    # The page shows every mix: the one(s) just run, and the last saved run of the others (each with its own
    # command, time and load).
    for mix in snapshotgen.MIXES:
        saved = args.data / f"results_{mix}.json"
        if mix not in results and saved.exists():
            results[mix] = json.loads(saved.read_text())
    results = {m: results[m] for m in snapshotgen.MIXES if m in results}
    section = render(results)
    print(section)
    if not args.no_write:
        import bench_embed

        if not DOC.exists():
            DOC.parent.mkdir(parents=True, exist_ok=True)
            DOC.write_text(HEADER, encoding="utf-8")
        bench_embed.write_section(START, END, section, doc=DOC)


HEADER = """# OpenAlex snapshot ingest

Code: `src/scholarlens/snapshot.py`, `benchmarks/snapshotgen.py`, `benchmarks/bench_snapshot.py`.
Goal (issue 5): `scholarlens ingest snapshot PATH` at >= 20,000 works/s on this 2-core machine, memory under 2 GB
at any size, on generated snapshot files with the real record shape.
"""

MIX_TEXT = {
    "heavy": ("every work one of the 156 real highly cited OpenAlex works as it is (identifiers varied): about 24 KB "
              "of JSON, 10 authorships and 65 references per work"),
    "typical": ("the same real works trimmed per work to OpenAlex averages as we assume them (snapshotgen.TYPICAL: "
                "{references_per_work:g} references, {authorships_per_work:g} authorships, an abstract in "
                "{share_with_abstract:.0%} of works; see the method above)"),
}


def _goal_line(mix: str, big: dict, peak: float) -> str:
    rate = big["works"] / big["seconds"]
    mbs = big["json_bytes"] / 2**20 / big["seconds"]
    speed = (f"speed **met** ({rate:,.0f} works/s, {mbs:.0f} MB/s of JSON, at {big['n']:,} works)" if rate >= GOAL_RATE
             else f"speed **not met**: {rate:,.0f} works/s ({mbs:.0f} MB/s of JSON) at {big['n']:,} works against 20,000")
    memory = (f"memory **met** (peak {peak:,.0f} MB)" if peak < GOAL_RSS_MB
              else f"memory **not met**: peak {peak:,.0f} MB against 2,048")
    return f"- **{mix}** mix: {speed}; {memory}."


def render(results: dict) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [START, "", (f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}. Each mix "
                         "below says the command and the time of its run; load average (1, 5, 15 min) before and "
                         "after each ingest in the tables. The figures of a mix are all from its one run."), ""]
    outcome = ["Outcome against the goal (at the largest size of each mix):", ""]
    for mix, res in results.items():
        runs, pr, n_eq = res["runs"], res["per_record"], res["n_eq"]
        started, finished = dt.datetime.fromisoformat(res["started"]), dt.datetime.fromisoformat(res["finished"])
        kb = runs[-1]["json_bytes"] / runs[-1]["works"] / 1024
        lines += [f"### {mix} mix", "", f"Run `{res['command']}` on {started:%Y-%m-%d} {started:%H:%M}-"
                  f"{finished:%H:%M} UTC.", "",
                  f"{MIX_TEXT[mix].format(**snapshotgen.TYPICAL)}; measured here: {kb:.1f} KB of JSON per work.", "",
                  (f"Equality: on the {n_eq:,}-work set the per-record pipeline and the snapshot ingest wrote equal "
                   f"tables ({', '.join(TABLES)}; every row, every column but quarantine.first_seen)."), "",
                  "| works | JSON (inflated) | wall s | works/s | JSON MB/s | CPU s (user+sys) | works per CPU s | peak RSS | store on disk | via per-record path | load before / after |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in runs:
            cpu_s = r["cpu_user"] + r["cpu_sys"]
            lines.append(
                f"| {r['n']:,} | {r['json_bytes'] / 2**30:.2f} GiB | {r['seconds']:.1f} | **{r['works'] / r['seconds']:,.0f}** | "
                f"{r['json_bytes'] / 2**20 / r['seconds']:.0f} | {cpu_s:.1f} | {r['works'] / cpu_s:,.0f} | {r['vmhwm_mb']:,.0f} MB | {r['store_mb']:,.0f} MB | "
                f"{r['via_python']} | {r['load_before']} / {r['load_after']} |")
        cpu_pr = pr["cpu_user"] + pr["cpu_sys"]
        lines.append(
            f"| {n_eq:,}, per-record pipeline | - | {pr['seconds']:.1f} | {pr['works'] / pr['seconds']:,.0f} | - | {cpu_pr:.1f} | "
            f"{pr['works'] / cpu_pr:,.0f} | {pr['vmhwm_mb']:,.0f} MB | {pr['store_mb']:,.0f} MB | all | "
            f"{pr['load_before']} / {pr['load_after']} |")
        big = runs[-1]
        peak = max(r["vmhwm_mb"] for r in runs)
        outcome.append(_goal_line(mix, big, peak))
        lines += ["", (f"Where the time goes at {big['n']:,} works (seconds summed over batches, wall clock of the "
                       "main thread; hashing and inflating run in a reader thread beside it and show only as the "
                       "wait for it):"), "", "| step | s | share |", "|---|---|---|"]
        total = sum(big["timings"].values()) or 1
        for step, sec in sorted(big["timings"].items(), key=lambda kv: -kv[1]):
            lines.append(f"| {step} | {sec:.1f} | {100 * sec / total:.0f}% |")
        lines.append("")
    lines += outcome + ["", END]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
