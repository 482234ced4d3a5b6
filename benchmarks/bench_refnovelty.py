"""Benchmark: scholarlens Uzzi 2013 / Lee 2015 against novelpy 1.4 on the same generated data.

    python benchmarks/bench_refnovelty.py --papers 32000 --focal 2000 [--novelpy-python PATH]

novelpy pins pandas 2.1.4 and spaCy 3.7.2 (which pins typer < 0.10), so it usually lives in its own
environment: ``python -m venv V && V/bin/pip install novelpy scipy==1.13.1`` (newer SciPy breaks its Lee2015),
then pass ``--novelpy-python V/bin/python``. For the same-NumPy equality check, scholarlens must be importable
there too: ``V/bin/pip install --no-deps -e .``.

What it does:
1. Generates the data (benchmarks/refdata.py, seeded) and writes it as CSV and in novelpy's JSON layout.
2. Runs each measurement in a fresh process: scholarlens Uzzi and Lee on the focal papers (the last year, as
   novelpy scores one year at a time), scholarlens Uzzi on every paper, novelpy's co-occurrence build, Uzzi
   (after ``random.seed(seed)``) and Lee. Each process reports wall time of the measured call and its memory
   peak: the kernel's peak resident set (VmHWM), reset through /proc/self/clear_refs just before the call, so the
   peak belongs to the call, plus what the process already held (imports and data).
3. Checks equality before reporting any time: scholarlens is run with novelpy's rules (``min_journals=1``, same
   seed and shuffles) and compared paper by paper, both in scholarlens' own environment and, when given, in
   novelpy's (same NumPy, where Lee must match bitwise).
4. Writes docs/bench/refnovelty.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DENSE = {"papers": 4_000, "focal": 500, "journals": 60, "fields": 3}  # the equality-only second data set


# ---------------------------------------------------------------- measurement helpers (run inside workers)


def _status(field: str) -> int:
    """A /proc/self/status field in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> bool:
    """Reset the peak resident set to the current one (Linux: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _measure(fn, repeat: int) -> tuple[object, dict]:
    """Run fn repeat times; the memory peak is that of the first run, measured from a reset peak."""
    base = _status("VmRSS")
    reset = _reset_peak()
    times, result = [], None
    for i in range(repeat):
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        if i == 0:
            peak = _status("VmHWM")
    return result, {
        "times": times,
        "load_1min": load,
        "rss_before": base,
        "peak_rss": peak,
        "peak_reset": reset,
    }


def _floats(values) -> list:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]


def worker(kind: str, data: Path, focal_year: int, shuffles: int, seed: int, repeat: int) -> dict:
    if kind.startswith("sl-"):
        import pandas as pd

        from scholarlens.analytics.refnovelty import lee_commonness, uzzi_novelty

        papers = pd.read_csv(data / "papers.csv")
        refs = pd.read_csv(data / "refs.csv", dtype={"journal": str})
        focal = papers.loc[papers["year"] == focal_year, "id"]
        if kind == "sl-uzzi":
            fn = lambda: uzzi_novelty(papers, refs, focal, n_shuffles=shuffles, seed=seed, min_journals=1)  # noqa: E731
        elif kind == "sl-uzzi-default":
            fn = lambda: uzzi_novelty(papers, refs, focal, n_shuffles=shuffles, seed=seed)  # noqa: E731
        elif kind == "sl-uzzi-all":
            fn = lambda: uzzi_novelty(papers, refs, n_shuffles=shuffles, seed=seed)  # noqa: E731
        elif kind == "sl-uzzi-all-numpy":
            fn = lambda: uzzi_novelty(papers, refs, n_shuffles=shuffles, seed=seed, rng="numpy")  # noqa: E731
        elif kind == "sl-lee":
            fn = lambda: lee_commonness(papers, refs, focal, min_journals=1)  # noqa: E731
        else:
            raise ValueError(kind)
        table, stats = _measure(fn, repeat)
        cols = [c for c in ("conventionality", "tail_novelty", "novelty", "commonness_p10") if c in table]
        stats["result"] = {
            "id": table["id"].astype(int).tolist(),
            "reason": [None if pd.isna(r) else r for r in table["reason"]],
            **{c: _floats(table[c].tolist()) for c in cols},
        }
        if kind == "sl-uzzi":  # untimed: z of every pair of the year, for the pair-level check
            from scholarlens.analytics.refnovelty import uzzi_pairs

            pairs = uzzi_pairs(papers, refs, focal, n_shuffles=shuffles, seed=seed, min_refs=2, min_journals=1)
            stats["pairs"] = [pairs["journal_a"].tolist(), pairs["journal_b"].tolist(), _floats(pairs["z"].tolist())]
        import numpy

        stats["versions"] = {"numpy": numpy.__version__, "pandas": pd.__version__}
        return stats

    # novelpy: it reads and writes Data/ and Result/ under the working directory.
    os.chdir(data)
    import novelpy
    import numpy
    import pandas
    import scipy

    var = dict(variable="c04_referencelist", sub_variable="item")
    common = dict(collection_name="refs", id_variable="PMID", year_variable="year", focal_year=focal_year, **var)
    if kind == "np-cooc":
        shutil.rmtree("Data/cooc", ignore_errors=True)
        cooc = novelpy.utils.create_cooc(
            collection_name="refs", year_var="year", var="c04_referencelist", sub_var="item",
            time_window=[focal_year], weighted_network=True, self_loop=True,
        )
        _, stats = _measure(cooc.main, 1)
    elif kind == "np-uzzi":
        # Cached null copies and partial scores would be reused silently: start clean.
        shutil.rmtree("Data/cooc_sample", ignore_errors=True)
        shutil.rmtree("Data/score/uzzi", ignore_errors=True)
        random.seed(seed)
        ind = novelpy.indicators.Uzzi2013(nb_sample=shuffles, **common)
        _, stats = _measure(ind.get_indicator, 1)
    elif kind == "np-lee":
        ind = novelpy.indicators.Lee2015(**common)
        _, stats = _measure(ind.get_indicator, 1)
    else:
        raise ValueError(kind)
    if kind != "np-cooc":
        name = kind[3:]
        docs = json.loads(Path(f"Result/{name}/c04_referencelist/{focal_year}.json").read_text())
        scores = [d[f"c04_referencelist_{name}"]["score"] for d in docs]
        stats["result"] = {"id": [d["PMID"] for d in docs], **{k: _floats(s[k] for s in scores) for k in scores[0]}}
    if kind == "np-uzzi":  # the z of every pair formed in the focal year, from novelpy's own matrices
        import pickle

        cooc = Path("Data/cooc/c04_referencelist/weighted_network_self_loop")
        names = pickle.loads((cooc / "index2name.p").read_bytes())
        observed = pickle.loads((cooc / f"{focal_year}.p").read_bytes()).tocoo()
        z = pickle.loads(Path(f"Data/score/uzzi/c04_referencelist/{focal_year}.p").read_bytes())
        stats["pairs"] = [
            [names[i] for i in observed.row.tolist()],
            [names[j] for j in observed.col.tolist()],
            _floats(float(z[i, j]) for i, j in zip(observed.row.tolist(), observed.col.tolist())),
        ]
    stats["versions"] = {
        "novelpy": "1.4", "numpy": numpy.__version__, "pandas": pandas.__version__, "scipy": scipy.__version__,
    }
    return stats


# ---------------------------------------------------------------- orchestration


def run_worker(python: str, kind: str, args, data: Path, focal_year: int, repeat: int, log) -> dict:
    out = data / f"{kind}.{abs(hash(python))}.json"
    cmd = [
        python, str(Path(__file__).resolve()), "--worker", kind, "--data", str(data),
        "--focal-year", str(focal_year), "--shuffles", str(args.shuffles), "--seed", str(args.seed),
        "--repeat", str(repeat), "--result", str(out),
    ]
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(cmd, stdout=log, stderr=log, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"worker {kind} under {python} failed; see {log.name}")
    stats = json.loads(out.read_text())
    stats["process_seconds"] = time.perf_counter() - t0
    print(f"  {kind:20s} {min(stats['times']):9.3f} s  peak {stats['peak_rss'] / 2**20:7.0f} MiB", flush=True)
    return stats


def _by_id(result: dict, key: str) -> dict:
    return dict(zip(result["id"], result[key]))


def compare_uzzi(ours: dict, theirs: dict) -> dict:
    conv, tail = _by_id(ours, "conventionality"), _by_id(ours, "tail_novelty")
    t_conv, t_tail = _by_id(theirs, "conventionality"), _by_id(theirs, "novelty")
    defined = [i for i in t_conv if t_conv[i] is not None and t_tail[i] is not None]
    nan_there = [i for i in t_conv if i not in set(defined)]
    equal = sum(conv.get(i) == t_conv[i] and tail.get(i) == t_tail[i] for i in defined)
    diff = max((abs(conv[i] - t_conv[i]) for i in defined if conv.get(i) is not None), default=0.0)
    ours_ids = {i for i, r in zip(ours["id"], ours["reason"]) if r is None or r.startswith("no pair")}
    return {
        "novelpy_papers": len(t_conv),
        "same_paper_set": ours_ids == set(t_conv),
        "defined": len(defined),
        "equal_bitwise": equal,
        "max_abs_diff": diff,
        "nan_in_novelpy": len(nan_there),
        "nan_there_number_here": sum(conv.get(i) is not None for i in nan_there),
    }


def compare_pairs(ours: list, theirs: list) -> dict:
    mine = {(a, b): z for a, b, z in zip(*ours)}
    other = {(min(a, b), max(a, b)): z for a, b, z in zip(*theirs)}
    common = set(mine) & set(other)
    defined = [k for k in common if other[k] is not None]
    return {
        "pairs_novelpy": len(other),
        "pairs_here": len(mine),
        "same_pairs": set(mine) == set(other),
        "defined": len(defined),
        "equal_bitwise": sum(mine[k] == other[k] for k in defined),
        "undefined_both": sum(mine[k] is None and other[k] is None for k in common),
        "undefined_novelpy": sum(other[k] is None for k in common),
    }


def compare_lee(ours: dict, theirs: dict) -> dict:
    nov, t_nov = _by_id(ours, "novelty"), _by_id(theirs, "novelty")
    defined = [i for i in t_nov if t_nov[i] is not None]
    diffs = [abs(nov[i] - t_nov[i]) for i in defined if nov.get(i) is not None]
    return {
        "novelpy_papers": len(t_nov),
        "defined": len(defined),
        "equal_bitwise": sum(nov.get(i) == t_nov[i] for i in defined),
        "max_abs_diff": max(diffs, default=0.0),
        "missing_here": sum(nov.get(i) is None for i in defined),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=32_000)
    ap.add_argument("--focal", type=int, default=2_000)
    ap.add_argument("--shuffles", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each scholarlens call (min reported)")
    ap.add_argument("--novelpy-python", default=sys.executable, help="a python where novelpy is installed")
    ap.add_argument("--out", default=str(ROOT / "docs" / "bench" / "refnovelty.md"))
    ap.add_argument("--workdir", default=None, help="where to keep data and logs (default: a temp dir)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--focal-year", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        stats = worker(args.worker, Path(args.data), args.focal_year, args.shuffles, args.seed, args.repeat)
        Path(args.result).write_text(json.dumps(stats))
        return

    sys.path.insert(0, str(HERE))
    import refdata

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_refnovelty_"))
    work.mkdir(parents=True, exist_ok=True)
    log = open(work / "workers.log", "w")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = os.getloadavg()
    papers, refs = refdata.generate(args.papers, args.focal, seed=args.seed)
    focal_year = int(papers["year"].max())
    papers.to_csv(work / "papers.csv", index=False)
    refs.to_csv(work / "refs.csv", index=False)
    refdata.write_novelpy_json(papers, refs, work)
    print(f"data: {len(papers)} papers, {len(refs)} references, focal year {focal_year}; work dir {work}")

    me, npy = sys.executable, args.novelpy_python
    runs = {}
    print("scholarlens (this environment):")
    for kind in ("sl-uzzi", "sl-uzzi-default", "sl-lee", "sl-uzzi-all", "sl-uzzi-all-numpy"):
        runs[kind] = run_worker(me, kind, args, work, focal_year, args.repeat, log)
    same_env = {}
    if os.path.abspath(npy) != os.path.abspath(me):
        print("scholarlens (novelpy's environment, for the same-NumPy equality check):")
        for kind in ("sl-uzzi", "sl-lee"):
            same_env[kind] = run_worker(npy, kind, args, work, focal_year, 1, log)
    print("novelpy:")
    for kind in ("np-cooc", "np-uzzi", "np-lee"):
        runs[kind] = run_worker(npy, kind, args, work, focal_year, 1, log)

    # A second, denser data set (few journals) on which novelpy's Uzzi is defined for most papers, so that the
    # paper-level comparison covers many papers and not only the few that the main data leaves defined.
    dense = work / "dense"
    dense.mkdir(exist_ok=True)
    d_papers, d_refs = refdata.generate(
        DENSE["papers"], DENSE["focal"], n_journals=DENSE["journals"], n_fields=DENSE["fields"], seed=args.seed
    )
    d_papers.to_csv(dense / "papers.csv", index=False)
    d_refs.to_csv(dense / "refs.csv", index=False)
    refdata.write_novelpy_json(d_papers, d_refs, dense)
    print(f"dense data: {len(d_papers)} papers, {len(d_refs)} references, {DENSE['journals']} journals")
    d_runs = {k: run_worker(npy, k, args, dense, focal_year, 1, log) for k in ("np-cooc", "np-uzzi", "np-lee")}
    d_runs.update({k: run_worker(me, k, args, dense, focal_year, 1, log) for k in ("sl-uzzi", "sl-lee")})
    load_end = os.getloadavg()

    eq = {
        "dense_uzzi": compare_uzzi(d_runs["sl-uzzi"]["result"], d_runs["np-uzzi"]["result"]),
        "dense_lee": compare_lee(d_runs["sl-lee"]["result"], d_runs["np-lee"]["result"]),
        "dense_pairs": compare_pairs(d_runs["sl-uzzi"]["pairs"], d_runs["np-uzzi"]["pairs"]),
        "uzzi": compare_uzzi(runs["sl-uzzi"]["result"], runs["np-uzzi"]["result"]),
        "lee": compare_lee(runs["sl-lee"]["result"], runs["np-lee"]["result"]),
        "pairs": compare_pairs(runs["sl-uzzi"]["pairs"], runs["np-uzzi"]["pairs"]),
    }
    if same_env:
        eq["uzzi_same_numpy"] = compare_uzzi(same_env["sl-uzzi"]["result"], runs["np-uzzi"]["result"])
        eq["lee_same_numpy"] = compare_lee(same_env["sl-lee"]["result"], runs["np-lee"]["result"])
    default_reasons: dict[str, int] = {}
    for r in runs["sl-uzzi-default"]["result"]["reason"]:
        default_reasons[r or "scored"] = default_reasons.get(r or "scored", 0) + 1

    report = render(args, runs, same_env, eq, default_reasons, started, load_start, load_end, len(refs), focal_year)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    (work / "equality.json").write_text(json.dumps(eq, indent=1))
    print(json.dumps(eq, indent=1))
    print(f"wrote {args.out}")


def render(args, runs, same_env, eq, default_reasons, started, load_start, load_end, n_refs, focal_year) -> str:
    def t(kind):
        return min(runs[kind]["times"])

    def mib(kind, key="peak_rss"):
        return runs[kind][key] / 2**20

    def row(label, kind, note=""):
        times = runs[kind]["times"]
        spread = f"{min(times):.3f} / {statistics.median(times):.3f}" if len(times) > 1 else f"{times[0]:.2f}"
        return (
            f"| {label} | {spread} | {len(times)} | {runs[kind]['load_1min']:.2f} | {mib(kind):.0f} | "
            f"{mib(kind, 'rss_before'):.0f} | {note} |"
        )

    u, le = eq["uzzi"], eq["lee"]
    cmd = f"python benchmarks/bench_refnovelty.py --papers {args.papers} --focal {args.focal}"
    if args.shuffles != 20 or args.seed != 0:
        cmd += f" --shuffles {args.shuffles} --seed {args.seed}"
    if os.path.abspath(args.novelpy_python) != os.path.abspath(sys.executable):
        cmd += " --novelpy-python <venv>/bin/python"
    v_sl, v_np = runs["sl-uzzi"]["versions"], runs["np-uzzi"]["versions"]
    np_uzzi_total = t("np-uzzi") + t("np-cooc")
    lines = [
        "# Reference-combination novelty: scholarlens vs novelpy",
        "",
        f"Command: `{cmd}` (started {started}; 1-minute load average {load_start[0]:.2f} at start, "
        f"{load_end[0]:.2f} at end; {os.cpu_count()} cores; Python {platform.python_version()}).",
        "",
        f"scholarlens ran with NumPy {v_sl['numpy']}, pandas {v_sl['pandas']}; novelpy {v_np['novelpy']} with NumPy "
        f"{v_np['numpy']}, pandas {v_np['pandas']}, SciPy {v_np['scipy']} (its pins, in its own environment).",
        "",
        "novelpy's environment (its pins clash with scholarlens'): `python -m venv V && V/bin/pip install novelpy "
        "scipy==1.13.1 && V/bin/pip install --no-deps -e .`, then `--novelpy-python V/bin/python`. This page is "
        "written by the benchmark script; rerun it rather than editing.",
        "",
        "## Data",
        "",
        f"`benchmarks/refdata.py` (seed {args.seed}): {args.papers:,} papers, {n_refs:,} references to 3,000 "
        f"journals in 30 fields (Zipf-like popularity), citing years 2000-{focal_year}; the focal set is the "
        f"{args.focal:,} papers of {focal_year} (novelpy scores one citing year at a time, and its null model is "
        "that year alone). 3% of papers have 0-4 references, half of those all to one journal.",
        "",
        "## Equality (checked before any time is reported)",
        "",
        f"scholarlens with novelpy's rules (`min_journals=1`, {args.shuffles} shuffles, seed {args.seed}; novelpy run "
        f"after `random.seed({args.seed})`), compared paper by paper on the {u['novelpy_papers']:,} focal papers "
        "novelpy scores (those with more than two references):",
        "",
        "| measure | where novelpy is defined | bitwise equal | max abs diff | novelpy NaN | of those, a number here |",
        "|---|---|---|---|---|---|",
        f"| Uzzi conventionality and tail novelty | {u['defined']:,} | {u['equal_bitwise']:,} | "
        f"{u['max_abs_diff']:.3g} "
        f"| {u['nan_in_novelpy']:,} | {u['nan_there_number_here']:,} |",
        f"| Lee novelty (-ln 10th pct commonness) | {le['defined']:,} | {le['equal_bitwise']:,} | "
        f"{le['max_abs_diff']:.3g} | 0 | - |",
    ]
    pz = eq["pairs"]
    lines += [
        f"| Uzzi z of every journal pair of {focal_year} | {pz['defined']:,} | {pz['equal_bitwise']:,} | - | "
        f"{pz['undefined_novelpy']:,} | left out, as NaN here: {pz['undefined_both']:,} |",
    ]
    if "uzzi_same_numpy" in eq:
        us, ls = eq["uzzi_same_numpy"], eq["lee_same_numpy"]
        lines += [
            f"| same, scholarlens run under novelpy's NumPy {v_np['numpy']}: Uzzi | {us['defined']:,} | "
            f"{us['equal_bitwise']:,} | {us['max_abs_diff']:.3g} | {us['nan_in_novelpy']:,} | "
            f"{us['nan_there_number_here']:,} |",
            f"| same, under NumPy {v_np['numpy']}: Lee | {ls['defined']:,} | {ls['equal_bitwise']:,} | "
            f"{ls['max_abs_diff']:.3g} | 0 | - |",
        ]
    du, dl, dp = eq["dense_uzzi"], eq["dense_lee"], eq["dense_pairs"]
    lines += [
        f"| dense data: Uzzi, papers | {du['defined']:,} | {du['equal_bitwise']:,} | {du['max_abs_diff']:.3g} | "
        f"{du['nan_in_novelpy']:,} | {du['nan_there_number_here']:,} |",
        f"| dense data: Uzzi z, pairs | {dp['defined']:,} | {dp['equal_bitwise']:,} | - | "
        f"{dp['undefined_novelpy']:,} | left out, as NaN here: {dp['undefined_both']:,} |",
        f"| dense data: Lee | {dl['defined']:,} | {dl['equal_bitwise']:,} | {dl['max_abs_diff']:.3g} | 0 | - |",
        "",
        f"Dense data: the same generator with {DENSE['papers']:,} papers, {DENSE['focal']:,} focal, "
        f"{DENSE['journals']} journals in {DENSE['fields']} fields (equality only, not timed): with few journals "
        "most pairs recur in the shuffled copies, so novelpy's Uzzi is defined for most papers.",
    ]
    lines += [
        "",
        f"Same set of scored papers: {'yes' if u['same_paper_set'] else 'NO'}; same set of journal pairs: "
        f"{'yes' if pz['same_pairs'] else 'NO'} ({pz['pairs_novelpy']:,} in novelpy's matrix, {pz['pairs_here']:,} "
        "here; the pair check uses `uzzi_pairs` with `min_refs=2`, so that pairs of two-reference papers are "
        "listed too, as in novelpy's matrix). Uzzi: novelpy gives NaN for a whole "
        "paper when one of its pairs has zero variance under the null (mostly a pair that no shuffled copy "
        "formed: (observed - 0) / 0); scholarlens leaves such pairs out (NaN in `uzzi_pairs`, counted in "
        "`n_pairs_excluded`) and scores the rest, so every paper novelpy leaves NaN gets a number here unless "
        "all its pairs are undefined. Lee: the commonness "
        "values are computed with novelpy's exact arithmetic; across NumPy versions `np.log` itself can differ "
        "in the last bit (NumPy 2.x vs 1.26), hence differences of about 4e-16 in the Lee rows where scholarlens "
        "ran under its own NumPy; run under novelpy's NumPy, every Lee value is bitwise equal.",
        "",
        "With scholarlens' default `min_journals=2` (a paper whose pairs are all same-journal pairs gets a null "
        "with a reason), the focal papers come out as: "
        + ", ".join(f"{k}: {v:,}" for k, v in sorted(default_reasons.items(), key=lambda kv: -kv[1]))
        + ".",
        "",
        "## Time and memory",
        "",
        "Each row is a fresh process. Time: wall seconds of the measured call alone (min / median of the runs "
        "for scholarlens). Peak: the process's peak resident set (VmHWM) during the call, after resetting it "
        "through /proc/self/clear_refs just before; 'held before' is the resident set the process already had "
        "(interpreter, imports, the data frames), so the call's own extra memory is about peak minus held.",
        "",
        "| run | seconds (min / median) | runs | load | peak MiB | held before MiB | note |",
        "|---|---|---|---|---|---|---|",
        row(f"scholarlens Uzzi, {args.focal:,} focal", "sl-uzzi", "novelpy's rules; from DataFrames, no cache"),
        row(f"scholarlens Lee, {args.focal:,} focal", "sl-lee", "novelpy's rules"),
        row(f"scholarlens Uzzi, all {args.papers:,} papers", "sl-uzzi-all", "every citing year, novelpy stream"),
        row(f"scholarlens Uzzi, all {args.papers:,} papers, rng=numpy", "sl-uzzi-all-numpy", "same null, NumPy stream"),
        row("novelpy create_cooc (focal year)", "np-cooc", "prerequisite of Uzzi and Lee"),
        row(f"novelpy Uzzi2013, {args.focal:,} focal", "np-uzzi", f"{args.shuffles} shuffles"),
        row(f"novelpy Lee2015, {args.focal:,} focal", "np-lee", ""),
        "",
        f"Speed-up on the focal papers: Uzzi {t('np-uzzi') / t('sl-uzzi'):,.0f}x "
        f"({np_uzzi_total / t('sl-uzzi'):,.0f}x counting novelpy's co-occurrence build); "
        f"Lee {t('np-lee') / t('sl-lee'):,.0f}x ({(t('np-lee') + t('np-cooc')) / t('sl-lee'):,.0f}x with the build). "
        "Goal: at least 50x on Uzzi.",
        "",
        "## What novelpy computes (read from its source, 1.4)",
        "",
        "- Co-occurrence: one matrix per citing year (not cumulative), every pair of reference positions of a "
        "paper with multiplicity, same-journal pairs kept (`weighted_network=True, self_loop=True`).",
        "- Uzzi null: per copy, journal labels are permuted among all references of the focal year with the same "
        "cited year (`random.sample`, Python's global generator, never seeded by novelpy); mean and population sd "
        "per cell over the copies; z = (observed - mean) / sd, NaN wherever sd = 0 (even when observed = mean); "
        "a paper's conventionality "
        "is `np.median` of its pairs' z, its novelty `np.quantile(z, 0.1)`, both NaN if any pair is NaN.",
        "- Lee: commonness = N_ij N_t / (N_i N_j) on the focal year's matrix (N_i counts a self pair once); a "
        "paper's novelty is -ln of the 10th percentile of its pairs' commonness.",
        "- Papers with two references or fewer are skipped; `list_ids` restricts the null's papers but not the "
        "observed counts (scholarlens always uses the whole year for both).",
        "",
        f"Worker output and novelpy's logs: `{Path(args.workdir or '<temp dir>') / 'workers.log'}`.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
