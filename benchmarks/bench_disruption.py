"""CD index benchmark: scholarlens against cdindex and novelpy on the same generated graphs, in one run.

    python benchmarks/bench_disruption.py --edges 1000000

For each graph (seeded, benchmarks/graphgen.py; by default one with 4 mega-hubs and one without) the graph is
written to Parquet, then every tool runs in its own fresh process that reads those files (load) and computes
the index of every work (compute):

- scholarlens: pyarrow.parquet.read_table, then cd_index(works, citations, delta) under cdindex's rules;
- cdindex 1.0.20: the same Parquet files, then its Python add_vertex/add_edge loop (its load), then
  Graph.cdindex for every work (timed), then mcdindex and iindex for every work (untimed, for the check);
- novelpy 1.4 DI1 (on a smaller graph, --novelpy-edges): from its JSON input files (Data/docs/<coll>/<year>.json),
  its create_citation_network (load) and Disruptiveness for every year (compute). novelpy pins pandas 2.1 and
  scipy 1.13, so it runs under its own interpreter (--novelpy-python, a virtualenv with `pip install novelpy
  scipy==1.13.1`).

Before any time is reported the results are compared on every work: cd, mcd and i against cdindex (values
exactly equal, None/NaN in the same places), cd under novelpy's rules against DI1. Memory is each process's
peak resident set (VmHWM in /proc/self/status), beside its resident set right after imports. The hub cases
time one focal paper citing a hub with `--hub-citers` citers (cdindex's duplicate scan is quadratic there)
against scholarlens on every work of that graph. `--big-edges 10000000` adds a scholarlens-only run.

Results are printed and written to docs/bench/disruption.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "bench" / "disruption.md"


def _status_mb(field: str) -> float:
    """VmHWM (peak resident set) or VmRSS of this process, from /proc/self/status. ru_maxrss would not do: on
    Linux a child inherits the parent's resident set at fork as its starting maximum."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    return _status_mb("VmHWM")


def _current_rss_mb() -> float:
    return _status_mb("VmRSS")


# ----------------------------------------------------------------------------------------------------- workers
# Each runs in a fresh process and prints one JSON line: load and compute seconds, memory, where results are.

def worker_scholarlens(data: Path, delta: int, out: Path, rules: str) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    from scholarlens.analytics.disruption import CDINDEX_RULES, NOVELPY_RULES, cd_index

    base = _current_rss_mb()
    t0 = time.perf_counter()
    works = pq.read_table(data / "works.parquet", columns=["id", "time"])
    citations = pq.read_table(data / "citations.parquet")
    t1 = time.perf_counter()
    result = cd_index(works, citations, delta, **(CDINDEX_RULES if rules == "cdindex" else NOVELPY_RULES))
    t2 = time.perf_counter()
    np.savez(out, id=result["id"].to_numpy(), cd=result["cd"].to_numpy(zero_copy_only=False),
             mcd=result["mcd"].to_numpy(zero_copy_only=False), i=result["i"].to_numpy())
    return {"load_s": t1 - t0, "compute_s": t2 - t1, "rss_after_imports_mb": base, "peak_rss_mb": _rss_mb()}


def worker_cdindex(data: Path, delta: int, out: Path, focal: list | None = None) -> dict:
    import cdindex
    import numpy as np
    import pyarrow.parquet as pq

    base = _current_rss_mb()
    t0 = time.perf_counter()
    works = pq.read_table(data / "works.parquet", columns=["id", "time"])
    citations = pq.read_table(data / "citations.parquet")
    names, times = works["id"].to_pylist(), works["time"].to_pylist()
    graph = cdindex.Graph()
    for name, t in zip(names, times):
        graph.add_vertex(name, t)
    for citing, cited in zip(citations["citing"].to_pylist(), citations["cited"].to_pylist()):
        graph.add_edge(citing, cited)
    t1 = time.perf_counter()
    todo = names if focal is None else focal
    cd = [graph.cdindex(name, delta) for name in todo]
    t2 = time.perf_counter()
    mcd = [graph.mcdindex(name, delta) for name in todo]
    i = [graph.iindex(name, delta) for name in todo]
    none = lambda xs: np.array([np.nan if x is None else x for x in xs], dtype=np.float64)  # noqa: E731
    np.savez(out, id=np.array(todo), cd=none(cd), mcd=none(mcd), i=np.array(i))
    return {"load_s": t1 - t0, "compute_s": t2 - t1, "rss_after_imports_mb": base, "peak_rss_mb": _rss_mb()}


def worker_novelpy(data: Path, out: Path) -> dict:
    """Run from a directory holding Data/docs/graph/<year>.json, under an interpreter that has novelpy."""
    import contextlib
    import io

    import novelpy

    os.chdir(data)
    years = sorted(int(p.stem) for p in Path("Data/docs/graph").glob("*.json"))
    base = _current_rss_mb()
    quiet = io.StringIO()  # novelpy prints a progress bar per year
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        t0 = time.perf_counter()
        network = novelpy.utils.create_citation_network(
            collection_name="graph", id_variable="id", year_variable="year", variable="refs")
        network.id2citedby()
        network.update_db()
        t1 = time.perf_counter()
        for year in years:
            novelpy.indicators.Disruptiveness(
                collection_name="graph_cleaned", focal_year=year, id_variable="id", refs_list_variable="refs",
                cits_list_variable="cited_by", year_variable="year").get_indicators()
        t2 = time.perf_counter()
    rows = []
    for year in years:
        rows += [{"id": r["id"], "di1": r["disruptiveness"]["DI1"]}
                 for r in json.load(open(f"Result/Disruptiveness/{year}.json"))]
    json.dump(rows, open(out, "w"))
    return {"load_s": t1 - t0, "compute_s": t2 - t1, "rss_after_imports_mb": base, "peak_rss_mb": _rss_mb()}


def _run_worker(python: str, *args: str) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------------- checks

def _npz(path: Path) -> dict:
    import numpy as np

    return dict(np.load(path, allow_pickle=True))


def compare(ours: dict, theirs: dict, columns=("cd", "mcd", "i")) -> dict:
    """Row-by-row comparison on ids: exact values, NaN (None) in the same places."""
    import numpy as np

    pos = {k: n for n, k in enumerate(ours["id"].tolist())}
    rows = np.array([pos[k] for k in theirs["id"].tolist()])
    report = {"works_compared": int(rows.size)}
    for col in columns:
        a, b = np.asarray(ours[col][rows], dtype=np.float64), np.asarray(theirs[col], dtype=np.float64)
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        report[f"{col}_mismatches"] = int((~same).sum())
        report[f"{col}_max_abs_diff"] = float(np.nanmax(np.abs(a - b))) if (~np.isnan(a)).any() else 0.0
    return report


# ----------------------------------------------------------------------------------------------------- runs

def write_graph(works, citations, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    works.to_parquet(directory / "works.parquet", index=False)
    citations.to_parquet(directory / "citations.parquet", index=False)


def write_novelpy_input(works, citations, directory: Path) -> None:
    """novelpy's JSON layout: Data/docs/graph/<year>.json, records {id, year, refs: [ids]}."""
    refs = citations.groupby("citing")["cited"].agg(list)
    folder = directory / "Data" / "docs" / "graph"
    folder.mkdir(parents=True, exist_ok=True)
    for year, group in works.groupby("time"):
        records = [{"id": int(i), "year": int(year), "refs": [int(r) for r in refs.get(i, [])]} for i in group["id"]]
        json.dump(records, open(folder / f"{int(year)}.json", "w"))


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def bench_graph(label: str, works, citations, delta: int, tmp: Path, scholarlens_runs: int) -> dict:
    from graphgen import describe

    data = tmp / label
    write_graph(works, citations, data)
    stats = describe(works, citations)
    print(f"\n== {label}: {stats}", flush=True)

    runs = []
    for n in range(scholarlens_runs):
        runs.append(_run_worker(sys.executable, "scholarlens", str(data), str(delta), str(data / "ours.npz"),
                                "cdindex"))
        runs[-1]["load_avg"] = load()
    print(f"scholarlens: {runs}", flush=True)
    theirs_run = _run_worker(sys.executable, "cdindex", str(data), str(delta), str(data / "theirs.npz"))
    theirs_run["load_avg"] = load()
    print(f"cdindex: {theirs_run}", flush=True)
    check = compare(_npz(data / "ours.npz"), _npz(data / "theirs.npz"))
    print(f"check: {check}", flush=True)
    best = min(runs, key=lambda r: r["load_s"] + r["compute_s"])
    return {"label": label, "stats": stats, "scholarlens": best, "scholarlens_runs": runs, "cdindex": theirs_run,
            "check": check}


def bench_novelpy(works, citations, delta: int, tmp: Path, python: str) -> dict:
    import numpy as np

    from graphgen import describe

    data = tmp / "novelpy"
    write_graph(works, citations, data)
    write_novelpy_input(works, citations, data)
    stats = describe(works, citations)
    print(f"\n== novelpy graph: {stats}", flush=True)
    ours = _run_worker(sys.executable, "scholarlens", str(data), str(delta), str(data / "ours.npz"), "novelpy")
    ours["load_avg"] = load()
    theirs = _run_worker(python, "novelpy", str(data), str(data / "novelpy.json"))
    theirs["load_avg"] = load()
    rows = json.load(open(data / "novelpy.json"))
    check = compare(_npz(data / "ours.npz"),
                    {"id": np.array([r["id"] for r in rows]), "cd": np.array([r["di1"] for r in rows], float)},
                    columns=("cd",))
    print(f"scholarlens: {ours}\nnovelpy: {theirs}\ncheck: {check}", flush=True)
    return {"stats": stats, "scholarlens": ours, "novelpy": theirs, "check": check}


def hub_graph(n_citers: int, years: int = 10, seed: int = 0):
    """A hub (1999) cited by `n_citers` works spread over `years` years, each also citing one of 100 older
    papers; the focal work 1 (2000) cites the hub and one old paper, and every 7th citer cites it too."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    citers = np.arange(102, 102 + n_citers)
    time_ = np.concatenate([[1999, 2000], np.full(100, 1998), 2000 + np.arange(n_citers) % years])
    src = np.concatenate([[1, 1], citers, citers, citers[::7]])
    dst = np.concatenate([[0, 2], np.zeros(n_citers, np.int64), 2 + rng.integers(0, 100, n_citers),
                          np.ones(citers[::7].size, np.int64)])
    works = pd.DataFrame({"id": np.arange(102 + n_citers), "time": time_})
    return works, pd.DataFrame({"citing": src, "cited": dst})


def bench_hub(n_citers: int, delta: int, tmp: Path) -> dict:
    data = tmp / f"hub{n_citers}"
    works, citations = hub_graph(n_citers)
    write_graph(works, citations, data)
    print(f"\n== hub: focal work cites a hub with {n_citers} citers over 10 years", flush=True)
    ours = _run_worker(sys.executable, "scholarlens", str(data), str(delta), str(data / "ours.npz"), "cdindex")
    ours["load_avg"] = load()
    theirs = _run_worker(sys.executable, "cdindex", str(data), str(delta), str(data / "theirs.npz"), "--focal", "1")
    theirs["load_avg"] = load()
    check = compare(_npz(data / "ours.npz"), _npz(data / "theirs.npz"))
    ours_all = _npz(data / "ours.npz")
    print(f"scholarlens (every work): {ours}\ncdindex (focal only): {theirs}\ncheck: {check}", flush=True)
    return {"n_citers": n_citers, "works": len(works), "citations": len(citations), "scholarlens": ours,
            "cdindex": theirs, "check": check, "focal_i": int(ours_all["i"][1]), "focal_cd": float(ours_all["cd"][1])}


def bench_big(n_edges: int, delta: int, seed: int, tmp: Path) -> dict:
    from graphgen import describe, generate

    start = time.perf_counter()
    works, citations = generate(n_edges, seed=seed)
    gen_s = time.perf_counter() - start
    data = tmp / "big"
    write_graph(works, citations, data)
    stats = describe(works, citations)
    del works, citations
    print(f"\n== big graph (generated in {gen_s:.1f} s): {stats}", flush=True)
    ours = _run_worker(sys.executable, "scholarlens", str(data), str(delta), str(data / "ours.npz"), "cdindex")
    ours["load_avg"] = load()
    print(f"scholarlens: {ours}", flush=True)
    return {"stats": stats, "generate_s": gen_s, "scholarlens": ours}


# ----------------------------------------------------------------------------------------------------- report

def _total(run: dict) -> float:
    return run["load_s"] + run["compute_s"]


def _time(run: dict) -> str:
    return (f"{_total(run):.2f} s ({run['load_s']:.2f} load + {run['compute_s']:.2f} compute), "
            f"load avg {run['load_avg']}")


def _memory(run: dict) -> str:
    return f"peak {run['peak_rss_mb']:.0f} MB (after imports {run['rss_after_imports_mb']:.0f} MB)"


def _t(run: dict) -> str:
    return f"{_time(run)}; {_memory(run)}"


def _equal(check: dict) -> bool:
    return not any(v for k, v in check.items() if k.endswith("mismatches"))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _check(check: dict) -> str:
    mism = ", ".join(f"{k.split('_')[0]} {v}" for k, v in check.items() if k.endswith("mismatches"))
    return f"{check['works_compared']:,} works compared, mismatches: {mism}"


def report(command: str, args, graphs: list, novel: dict | None, hubs: list, big: dict | None) -> str:
    lines = [
        "# CD index: scholarlens vs cdindex and novelpy",
        "",
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; other engineers share it, so the "
        "1-minute load average is noted beside each timing.  ",
        "Times are wall-clock seconds in a fresh process per tool: load (read the same Parquet files; for cdindex "
        "also its add_vertex/add_edge loop) + compute (the index for every work). Memory: the process's peak "
        "resident set (VmHWM in /proc/self/status), with its resident set after imports for reference. Each timed "
        "run also writes its results, and they are compared on every work before any time is reported (the "
        "script exits 1 if any differ).",
        "",
        f"Rules: delta = {args.delta}. Against cdindex, scholarlens runs with CDINDEX_RULES (window t_f < t_c <= "
        "t_f + delta, same-year citers excluded, None when no candidate); against novelpy with NOVELPY_RULES "
        "(no upper bound, same-year citers included, 0 when no candidate, references to unknown works ignored).",
        "",
    ]
    for g in graphs:
        s = g["stats"]
        speed = _total(g["cdindex"]) / _total(g["scholarlens"])
        lines += [
            f"## {g['label']}",
            "",
            f"Graph: {s['works']:,} works, {s['citations']:,} citations, years {s['years']}, {s['journals']} journals, "
            f"mean {s['mean_references']} references, {100 * s['same_year_share']:.1f}% same-year citations, "
            f"most cited works: {', '.join(f'{v:,}' for v in s['top_indegrees'])} citers.",
            "",
            f"Equality (cd, mcd, i against cdindex's cdindex/mcdindex/iindex, every work): {_check(g['check'])}.",
            "",
            "| tool | load + compute | memory |",
            "|---|---|---|",
            f"| scholarlens cd_index (best of {len(g['scholarlens_runs'])}) | {_time(g['scholarlens'])} | "
            f"{_memory(g['scholarlens'])} |",
            f"| cdindex 1.0.20 (cdindex() for every work) | {_time(g['cdindex'])} | {_memory(g['cdindex'])} |",
            "",
            f"scholarlens is {speed:.1f}x faster end to end. All scholarlens runs: "
            + "; ".join(f"{_total(r):.2f} s (load avg {r['load_avg']})" for r in g["scholarlens_runs"]),
            "",
        ]
    if hubs:
        lines += [
            "## Hub: a focal paper citing a hub with many citers in its window",
            "",
            "A hub (1999) cited by n works spread over 2000-2009, each of which is itself a focal paper citing the "
            "hub and one of 100 older papers; the focal paper (2000) cites the hub, and every 7th citer cites it. "
            "scholarlens computes every work; cdindex only the focal paper. Every citer is a focal paper with about "
            "as many candidates, so cdindex on every work would take about n times its focal-paper time (last "
            "column, an extrapolation, not a run).",
            "",
            "| hub citers | works | focal i, CD | equality (focal) | scholarlens, every work "
            "| cdindex, focal paper only | cdindex, every work (est.) |",
            "|---|---|---|---|---|---|---|",
        ]
        for h in hubs:
            lines.append(
                f"| {h['n_citers']:,} | {h['works']:,} | {h['focal_i']:,}, {h['focal_cd']:.6f} | "
                f"{'equal' if _equal(h['check']) else 'DIFFERENT'} | "
                f"{_t(h['scholarlens'])} | {_t(h['cdindex'])} | "
                f"~{_duration(h['n_citers'] * h['cdindex']['compute_s'])} |")
        lines.append("")
    if novel:
        s = novel["stats"]
        lines += [
            "## novelpy DI1",
            "",
            f"Graph: {s['works']:,} works, {s['citations']:,} citations (same generator, --novelpy-edges). "
            f"Equality (cd under NOVELPY_RULES against DI1, every work): {_check(novel['check'])}.",
            "",
            "| tool | load + compute |",
            "|---|---|",
            f"| scholarlens cd_index | {_t(novel['scholarlens'])} |",
            f"| novelpy 1.4 Disruptiveness (JSON files; load = create_citation_network) | {_t(novel['novelpy'])} |",
            "",
        ]
    if big:
        s = big["stats"]
        lines += [
            "## Large graph (scholarlens only)",
            "",
            f"Generated in {big['generate_s']:.1f} s: {s['works']:,} works, {s['citations']:,} citations, most cited "
            f"{', '.join(f'{v:,}' for v in s['top_indegrees'])}.",
            "",
            f"scholarlens cd_index: {_t(big['scholarlens'])}.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        kind, rest = argv[1], argv[2:]
        if kind == "scholarlens":
            result = worker_scholarlens(Path(rest[0]), int(rest[1]), Path(rest[2]), rest[3])
        elif kind == "cdindex":
            focal = [int(x) for x in rest[4:]] if len(rest) > 3 and rest[3] == "--focal" else None
            result = worker_cdindex(Path(rest[0]), int(rest[1]), Path(rest[2]), focal)
        else:
            result = worker_novelpy(Path(rest[0]), Path(rest[1]).resolve())
        print(json.dumps(result))
        return 0

    parser = argparse.ArgumentParser(description="CD index: scholarlens vs cdindex and novelpy")
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--delta", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--graphs", default="hubs,nohubs", help="hubs (4 mega-hubs), nohubs, or both")
    parser.add_argument("--runs", type=int, default=3, help="scholarlens runs per graph (best is reported)")
    parser.add_argument("--novelpy-edges", type=int, default=100_000, help="0 to skip novelpy")
    parser.add_argument("--novelpy-python", default=os.environ.get("NOVELPY_PYTHON", "/tmp/venv-novelpy/bin/python"))
    parser.add_argument("--hub-citers", default="25000,50000,100000", help="hub sizes, comma-separated; 0 skips")
    parser.add_argument("--big-edges", type=int, default=0, help="also time scholarlens alone at this size")
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from graphgen import generate

    command = "python benchmarks/bench_disruption.py " + " ".join(argv)
    print(f"{command}  (load avg {load()})", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_disruption_") as tmp_name:
        tmp = Path(tmp_name)
        graphs = []
        for label in args.graphs.split(","):
            n_hubs = 4 if label == "hubs" else 0
            works, citations = generate(args.edges, seed=args.seed, n_hubs=n_hubs)
            name = f"{args.edges:,} citations, {n_hubs} mega-hubs"
            graphs.append(bench_graph(label, works, citations, args.delta, tmp, args.runs))
            graphs[-1]["label"] = name
        novel = None
        if args.novelpy_edges:
            works, citations = generate(args.novelpy_edges, seed=args.seed)
            novel = bench_novelpy(works, citations, args.delta, tmp, args.novelpy_python)
        hubs = [bench_hub(int(n), args.delta, tmp) for n in args.hub_citers.split(",") if int(n)]
        big = bench_big(args.big_edges, args.delta, args.seed, tmp) if args.big_edges else None

    text = report(command, args, graphs, novel, hubs, big)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print("\n" + text)
    bad = [g["check"] for g in graphs] + ([novel["check"]] if novel else []) + [h["check"] for h in hubs]
    return 0 if all(_equal(c) for c in bad) else 1


if __name__ == "__main__":
    sys.exit(main())
