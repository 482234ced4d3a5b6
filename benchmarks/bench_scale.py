"""Growth of a full build on one machine: the DuckDB engine and Spark local at 1M, 10M and 100M citation edges.

    python benchmarks/bench_scale.py --edges 1000000 10000000 100000000

For each size a seeded citation graph (benchmarks/graphgen.py) is turned into a store-shaped Parquet input
(`graph_store`: works with years, dates, journals as venues and categories, a second DOI key for one work in
ten that half of its citations use, authors and authorships, reported citation counts for half the works, yearly
counts for one in five; no abstracts unless --text), and each engine runs the whole build in its own fresh process
(`python -m scholarlens... build` equivalent: engine.run.build):

- duckdb: the Parquet loaded into a fresh DuckDB store, analytics.build.analyse, results written as Parquet;
- spark: the same input on Spark local[2] (driver bound to 127.0.0.1), results written as Parquet.

Reported per engine: wall time (and per step), peak memory of the whole process tree (the Python process, and for
Spark its JVM and Python workers: resident sets summed over /proc every 0.5 s, peak of the sum), disk (input
Parquet, output Parquet, and the engine's scratch: DuckDB's store file, Spark's shuffle and spill directory, peak
while running). Then the two outputs are compared table by table (engine.run.compare_builds: counts and integer
indices exact, floats within 1e-9, nearest-earlier lists element by element): on every row, or at --sample-mod N on
the rows whose key hashes to 0 mod N. Results go to docs/bench/scale.md (its section per run).

Memory: --spark-driver-memory sets the JVM heap of Spark local (executors live in it in local mode).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
DOC = ROOT / "docs" / "bench" / "scale.md"
START, END = "<!-- bench_scale:start -->", "<!-- bench_scale:end -->"
CATEGORIES = ("CV", "LG", "CL", "AI", "SE", "RO", "IR", "CR", "DS", "NI")


# --------------------------------------------------------------------------------------- the store from a graph

def _words(rng: np.random.Generator, vocab: np.ndarray, topic: np.ndarray, n: int, own: float) -> list[str]:
    """n words per row: a share `own` from the row's topic words, the rest from the whole vocabulary."""
    rows = len(topic)
    pick_topic = rng.random((rows, n)) < own
    general = rng.integers(0, len(vocab), (rows, n))
    local = (topic[:, None] * 40 + rng.integers(0, 40, (rows, n))) % len(vocab)
    idx = np.where(pick_topic, local, general)
    return [" ".join(vocab[r]) for r in idx]


_GIVEN = ("Ada", "Bram", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kai", "Lena", "Mario",
          "Nadia", "Omar", "Pia", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wei", "Xena", "Yuki", "Zora")
_SYLLABLES = ("ka", "lo", "mi", "ren", "ta", "vos", "bel", "dor", "fin", "gar", "hal", "jur", "kem", "lin", "mar",
              "nor", "pel", "quin", "ros", "sal", "tor", "ul", "val", "wen", "yar", "zel", "bran", "cor", "dun", "ell")


def _person_names(n: int) -> np.ndarray:
    """n distinct-looking "Given Surname" names (surnames of three syllables), the same for the same index."""
    k = np.arange(n)
    s = len(_SYLLABLES)
    surname = [(_SYLLABLES[a] + _SYLLABLES[b] + _SYLLABLES[c]).capitalize()
               for a, b, c in zip(k % s, (k // s) % s, (k // (s * s)) % s)]
    given = np.array(_GIVEN, dtype=object)[(k // (s * s * s) + k * 7) % len(_GIVEN)]
    return np.array([f"{g} {f}" for g, f in zip(given, surname)], dtype=object)


def graph_store(n_edges: int, out_dir: str | Path, *, seed: int = 0, text: bool = False, as_of_year: int = 2026) -> dict:
    """Write a store-shaped Parquet input (engine.parquet_io layout) for a generated graph of n_edges citations.

    Every table of the store's schema is written (empty where the generator has nothing for it), with the
    store's own column types. Returns a description (works, edges, authors, ...).
    """
    import duckdb
    import pyarrow as pa
    from graphgen import generate

    from scholarlens.engine.parquet_io import _write_manifest
    from scholarlens.store.schema import DDL

    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed + 1)
    start = time.perf_counter()
    works, cites = generate(n_edges, seed=seed)
    n = len(works)
    ids = works["id"].to_numpy()
    year = works["time"].to_numpy().astype(np.int32)
    journal = works["journal"].to_numpy()
    work_id = np.char.add("gen:W", ids.astype(str)).astype(object)
    indeg = np.bincount(cites["cited"].to_numpy(), minlength=n)

    # Dates inside the year; categories from journals; venues are the journals.
    day = rng.integers(0, 365, n)
    date = (np.array(year - 1970, dtype="datetime64[Y]").astype("datetime64[D]") + day)
    category = np.array(CATEGORIES, dtype=object)[journal % len(CATEGORIES)]
    reported = np.where(ids % 2 == 0, indeg + rng.poisson(1.0, n), -1)
    title = abstract = None
    if text:
        vocab = np.array([f"w{i}" for i in range(4000)], dtype=object)
        topic = journal.astype(np.int64)
        title = np.array(_words(rng, vocab, topic, 6, 0.6), dtype=object)
        abstract = np.array(_words(rng, vocab, topic, 25, 0.5), dtype=object)
        with_code = rng.random(n) < 0.05
        abstract[with_code] = abstract[with_code] + np.char.add(" code at https://github.com/gen/r", ids[with_code].astype(str)).astype(object)
    tables: dict[str, pa.Table] = {}
    tables["works"] = pa.table({
        "work_id": work_id,
        "title": pa.array(title if text else np.full(n, None), type=pa.string()),
        "abstract": pa.array(abstract if text else np.full(n, None), type=pa.string()),
        "publication_date": pa.array(date),
        "year": year,
        "category": category,
        "field": np.full(n, "Computer Science", dtype=object),
        "venue": np.char.add("J", journal.astype(str)).astype(object),
        "cited_by_count": pa.array(reported, mask=reported < 0, type=pa.int32()),
    })
    # One work in ten also has a DOI key; half the citations to it use that key.
    doi = ids % 10 == 3
    doi_key = np.char.add("doi:10.5555/gen.", ids[doi].astype(str)).astype(object)
    tables["work_keys"] = pa.table({"key": np.concatenate([work_id, doi_key]), "work_id": np.concatenate([work_id, work_id[doi]])})
    citing, cited = cites["citing"].to_numpy(), cites["cited"].to_numpy()
    cited_key = work_id[cited].copy()
    use_doi = (cited % 10 == 3) & (rng.random(len(cited)) < 0.5)
    cited_key[use_doi] = np.char.add("doi:10.5555/gen.", cited[use_doi].astype(str)).astype(object)
    tables["citations"] = pa.table({"citing_key": work_id[citing], "cited_key": cited_key,
                                    "source": pa.array(np.full(len(citing), "gen", dtype=object))})
    del cites, citing, cited, cited_key
    # Authors: 1-5 per work from a pool of n/2, popular authors more often (a Zipf-like draw).
    n_auth = rng.integers(1, 6, n)
    pool = max(n // 2, 10)
    draws = (rng.pareto(1.2, n_auth.sum()) * pool / 50).astype(np.int64) % pool
    a_work = np.repeat(np.arange(n), n_auth)
    pairs = np.unique(a_work * pool + draws)  # an author once per work
    a_work, a_id = pairs // pool, pairs % pool
    pos = np.arange(len(a_work)) - np.searchsorted(a_work, a_work)
    author_id = np.char.add("gen:A", a_id.astype(str)).astype(object)
    names = _person_names(pool)
    tables["authorships"] = pa.table({"work_id": work_id[a_work], "author_id": author_id, "position": pos.astype(np.int32),
                                      "raw_name": names[a_id]})
    used = np.unique(a_id)
    tables["authors"] = pa.table({"author_id": np.char.add("gen:A", used.astype(str)).astype(object),
                                  "name": names[used], "source": np.full(len(used), "gen", dtype=object)})
    # Yearly counts from the source for one work in five: two years each.
    cby = np.flatnonzero(ids % 5 == 1)
    tables["counts_by_year"] = pa.table({
        "work_id": np.repeat(work_id[cby], 2),
        "year": (np.repeat(year[cby], 2) + np.tile([1, 2], len(cby))).astype(np.int32),
        "cited_by": rng.integers(0, 20, 2 * len(cby)).astype(np.int32),
        "source": np.full(2 * len(cby), "gen", dtype=object),
    })
    gen_seconds = time.perf_counter() - start

    con = duckdb.connect()
    con.execute(DDL)
    names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_type='BASE TABLE'").fetchall()]
    rows = {}
    for name in names:
        columns = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                              "ORDER BY ordinal_position", [name]).fetchall()
        target = out_dir / name
        target.mkdir(parents=True, exist_ok=True)
        given = tables.get(name)
        if given is not None:
            con.register("_given", given)
        select = ", ".join(
            f'CAST(_given."{c}" AS {t}) AS "{c}"' if given is not None and c in given.column_names else f'CAST(NULL AS {t}) AS "{c}"'
            for c, t in columns
        )
        source = "_given" if given is not None else f'"{name}"'
        con.execute(f"COPY (SELECT {select} FROM {source}) TO '{target / 'part-0.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
        rows[name] = given.num_rows if given is not None else 0
        if given is not None:
            con.unregister("_given")
    con.close()
    description = {"edges": int(n_edges), "works": int(n), "years": f"{year.min()}-{year.max()}",
                   "journals": len(np.unique(journal)), "authors": len(used),
                   "authorships": len(a_work), "doi_keys": int(doi.sum()), "text": bool(text),
                   "generated_s": round(gen_seconds, 1)}
    _write_manifest(out_dir, kind="generated store", tables=rows, graph=description)
    return description


# ----------------------------------------------------------------------------------------------- measurement

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # /proc/PID/stat's CPU times are in these


def _tree_usage(root: int) -> tuple[int, float]:
    """Resident set (kB) and CPU seconds so far of a process and all its descendants, from /proc. A process's CPU
    counts its own threads' user and system time and that of its children it has reaped (cutime, cstime), so a
    worker that has ended still counts, once, in its parent."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            parent = int(fields[1])
            ticks[pid] = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(pid)
        rss[pid] = _rss_kb(pid)
    total_kb, total_ticks, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        total_kb += rss.get(pid, 0)
        total_ticks += ticks.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total_kb, total_ticks / _CLOCK_TICKS


def _tree_rss_kb(root: int) -> int:
    """Resident set of a process and all its descendants (kB), from /proc."""
    return _tree_usage(root)[0]


def _rss_kb(pid: int) -> int:
    """Resident set of one process (kB), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    except OSError:
        return 0


def _du(path: Path) -> int:
    total = 0
    for base, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


def _loadavg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def run_measured(argv: list[str], scratch: Path | None = None, interval: float = 0.5,
                 address_space_gb: float | None = None, timeout_s: float | None = None) -> dict:
    """Run a worker; sample its process tree's memory and the scratch directory's size until it ends.

    The worker prints one line per step to stderr ("step NAME") and its report as the last stdout line. A worker
    that fails, is killed by its memory cap (address_space_gb: RLIMIT_AS, so an out-of-memory build fails alone
    instead of pressing on other people's processes) or runs past timeout_s leaves a report with "failed" and the
    steps it had finished, with their times.
    """
    import resource

    peak = {"rss": 0, "disk": 0, "step_rss": 0}  # step_rss: the tree's peak since the current step started
    steps: list[tuple[str, float]] = []
    # (seconds since start, tree's resident MiB, tree's CPU seconds so far), one per sample: where cores sat idle
    timeline: list[tuple[float, int, float]] = []
    # per step: the tree's and the main process's resident memory as it started, and the tree's peak during it
    step_memory: dict[str, dict[str, int]] = {}
    start = time.perf_counter()
    load_start = _loadavg()

    def limit() -> None:
        if address_space_gb:
            cap = int(address_space_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit)
    done = threading.Event()
    tail: list[str] = []

    def sample() -> None:
        ticks = 0
        while not done.is_set():
            now, cpu = _tree_usage(proc.pid)
            if now:  # 0 once the worker has ended
                timeline.append((round(time.perf_counter() - start, 2), round(now / 1024), round(cpu, 2)))
            peak["rss"], peak["step_rss"] = max(peak["rss"], now), max(peak["step_rss"], now)
            if scratch is not None and ticks % 10 == 0 and scratch.exists():
                peak["disk"] = max(peak["disk"], _du(scratch))
            ticks += 1
            done.wait(interval)

    log = open(scratch.parent / f"{scratch.name}.stderr.log", "w") if scratch is not None else None  # noqa: SIM115

    def read_steps() -> None:
        for line in proc.stderr:
            if log:
                log.write(line)
            if line.startswith("step "):
                (tree_kb, cpu), main_kb = _tree_usage(proc.pid), _rss_kb(proc.pid)
                if steps:
                    step_memory[steps[-1][0]]["peak_mb"] = round(max(peak["step_rss"], tree_kb) / 1024)
                    step_memory[steps[-1][0]]["cpu_s"] = round(cpu - step_memory[steps[-1][0]]["start_cpu_s"], 1)
                peak["step_rss"] = tree_kb
                steps.append((line[5:].strip(), time.perf_counter() - start))
                step_memory[steps[-1][0]] = {"start_tree_mb": round(tree_kb / 1024),
                                             "start_main_mb": round(main_kb / 1024), "start_cpu_s": round(cpu, 2)}
                print(f"    {line.strip()} at {steps[-1][1]:.0f} s, {peak['rss'] / 1024:,.0f} MB so far "
                      f"(now {tree_kb / 1024:,.0f} MB, main process {main_kb / 1024:,.0f} MB)", file=sys.stderr)
            elif "Warning" not in line and "WARN" not in line and line.strip():
                tail.append(line.rstrip())
                del tail[:-400]

    threads = [threading.Thread(target=sample, daemon=True), threading.Thread(target=read_steps, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        out = proc.stdout.read()
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        out = ""
    done.set()
    for thread in threads:
        thread.join(timeout=5)
    if log:
        log.close()
    wall = time.perf_counter() - start
    common = dict(wall_s=round(wall, 1), peak_rss_mb=round(peak["rss"] / 1024), scratch_peak_mb=round(peak["disk"] / 2**20),
                  load_start=load_start, load_end=_loadavg(), step_memory=step_memory, timeline=timeline,
                  step_starts=[(name, round(at, 2)) for name, at in steps])
    if proc.returncode:
        finished = {name: round(b - a, 1) for (name, a), (_, b) in zip(steps, steps[1:])}
        error = next((line for line in reversed(tail) if ("Error" in line or "Exception" in line) and not line.startswith("\t")),
                     tail[-1] if tail else "")
        return dict(common, failed=f"exit code {proc.returncode} during step {steps[-1][0] if steps else '?'}: {error[:300]}",
                    timings=finished, steps=[n for n, _ in steps])
    report = json.loads(out.strip().splitlines()[-1])
    report.update(common)
    return report


def _persons_from_source_ids(con, **_options) -> int:
    """Bench-only stand-in for analytics.persons.compute_persons (--persons source-ids): every source author id
    is one person. Writes the same three tables, so the steps after it run as they do in a real build. Takes
    (and ignores) compute_persons' keyword options, which the build passes (progress, workers)."""
    con.execute("CREATE OR REPLACE TABLE person_mentions AS SELECT work_id, author_id, author_id AS person_id FROM authorships")
    con.execute("CREATE OR REPLACE TABLE persons AS SELECT author_id AS person_id, name, orcid, author_id AS anchor_author_id, "
                "[author_id] AS author_ids, 0 AS mentions, false AS curated, CAST([] AS INTEGER[]) AS correction_ids "
                "FROM authors")
    con.execute("CREATE OR REPLACE TABLE person_authorships AS SELECT work_id, author_id, position, raw_name, raw_affiliation "
                "FROM authorships")
    return 0


def worker(engine: str, input_dir: str, output_dir: str, scratch: str, driver_memory: str, partitions: int,
           persons: str, split: int) -> None:
    """One build in this process; prints each step to stderr and its report as the last line (JSON)."""
    code = _code_state()  # before anything is imported: the sources this worker loads
    if persons == "source-ids":
        import scholarlens.analytics.build as build_module
        import scholarlens.analytics.persons as persons_module

        build_module.compute_persons = persons_module.compute_persons = _persons_from_source_ids
    from scholarlens.engine import build

    def step(name: str) -> None:
        print(f"step {name}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    if engine == "duckdb":
        report = build("duckdb", input_dir, output_dir, as_of_year=2026, work_dir=scratch, on_step=step)
    else:
        report = build("spark", input_dir, output_dir, as_of_year=2026, driver_memory=driver_memory, on_step=step,
                       shuffle_partitions=partitions, conf={"spark.local.dir": scratch}, disruption_split=split,
                       work_dir=Path(scratch) / "driver")
    step("done")
    report["inside_s"] = round(time.perf_counter() - start, 1)
    report["code"] = code
    print(json.dumps(report, default=str))


def _code_state() -> dict:
    """Which code a worker runs: the checkout's commit, the src files that differ from it (others may be editing
    them while a run goes on), and a hash of every scholarlens source file as the worker started."""
    import hashlib

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "scholarlens").rglob("*.py")):
        try:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
        except OSError:
            pass
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "dirty_src": [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines() if line[3:]],
            "src_sha": digest.hexdigest()[:12]}


def sql_check(data: Path, persons: str, sample_mod: int | None) -> dict:
    """When the DuckDB build cannot run at a size: the bibliometrics SQL alone on DuckDB (persons as in the run),
    compared with the Spark build's tables. Runs in this process; returns the comparison and its cost."""
    from scholarlens.analytics.bibliometrics import compute_bibliometrics
    from scholarlens.engine.parquet_io import load_into, write_tables
    from scholarlens.engine.run import compare_builds
    from scholarlens.store import connect

    tables = ["work_citations", "author_metrics", "author_citations_by_year"]
    start = time.perf_counter()
    scratch = data / "scratch_sqlcheck"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    con = connect(scratch / "check.duckdb")
    try:
        load_into(con, data / "input")
        if persons == "source-ids":
            _persons_from_source_ids(con)
        else:
            from scholarlens.analytics.persons import compute_persons

            compute_persons(con)
        compute_bibliometrics(con, as_of_year=2026)
        write_tables(con, data / "out_duckdb_sql", tables)
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - start
    comparison = compare_builds(data / "out_duckdb_sql", data / "out_spark", sample_mod=sample_mod, tables=tables)
    return {"seconds": round(seconds, 1), "sample_mod": sample_mod,
            "comparison": {t: r["problems"] for t, r in comparison.items()},
            "compared_rows": {t: r["rows"][0] for t, r in comparison.items()}}


def _mb(path: Path) -> int:
    return round(_du(path) / 2**20)


def measure_size(n_edges: int, root: Path, engines: list[str], args) -> dict:
    from scholarlens.engine.run import compare_builds

    data = root / f"edges_{n_edges}"
    inp = data / "input"
    if not (inp / "_manifest.json").exists():
        shutil.rmtree(inp, ignore_errors=True)
        description = graph_store(n_edges, inp, seed=args.seed, text=args.text)
    else:
        description = json.loads((inp / "_manifest.json").read_text())["graph"]
    print(f"{n_edges:,} edges: {description}", file=sys.stderr)
    result = {"graph": description, "input_mb": _mb(inp), "engines": {}}
    for engine in engines:
        out, scratch = data / f"out_{engine}", data / f"scratch_{engine}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        argv = [sys.executable, __file__, "--worker", engine, str(inp), str(out), str(scratch),
                args.spark_driver_memory, str(args.spark_partitions), args.persons, str(args.disruption_split)]
        report = run_measured(argv, scratch, address_space_gb=args.duckdb_cap_gb if engine == "duckdb" else None,
                              timeout_s=args.timeout_min * 60 if args.timeout_min else None)
        report["output_mb"] = _mb(out) if out.exists() else 0
        if engine == "duckdb":
            report["store_mb"] = _mb(scratch)
        result["engines"][engine] = report
        print(f"  {engine}: {report['wall_s']} s, peak {report['peak_rss_mb']} MB, steps {report['timings']}"
              + (f", FAILED {report['failed']}" if "failed" in report else ""), file=sys.stderr)
        shutil.rmtree(scratch, ignore_errors=True)
    both = all((data / f"out_{engine}" / "_manifest.json").exists() for engine in ("duckdb", "spark"))
    if both and not any("failed" in e for e in result["engines"].values()):
        # the other engine's output may come from an earlier run on the same input (--keep, --root)
        start = time.perf_counter()
        sample = args.sample_mod if n_edges >= args.sample_above else None
        comparison = compare_builds(data / "out_duckdb", data / "out_spark", sample_mod=sample)
        result["comparison"] = {t: r["problems"] for t, r in comparison.items()}
        result["compared_rows"] = {t: r["rows"][0] for t, r in comparison.items()}
        result["sample_mod"] = sample
        result["compare_s"] = round(time.perf_counter() - start, 1)
        result["tables_one_engine_only"] = sorted(
            set(p.name for p in (data / "out_duckdb").iterdir() if p.is_dir() and not p.name.startswith("_"))
            ^ set(p.name for p in (data / "out_spark").iterdir() if p.is_dir() and not p.name.startswith("_")))
        bad = {t: p for t, p in result["comparison"].items() if p}
        print(f"  equality: {'all tables equal' if not bad else bad}", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    return result


# ------------------------------------------------------------------------------------------------------ report

def _fmt_s(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds >= 100 else f"{seconds:.1f} s"


def step_walls(step_starts: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """(step, wall seconds) from the steps' start times as the worker announced them; the last announced step
    ("done") ends the one before it."""
    return [(name, b - a) for (name, a), (_, b) in zip(step_starts, step_starts[1:])]


def render(results: list[dict], argv: list[str], started: str) -> str:
    results = sorted(results, key=lambda r: r["graph"]["edges"])  # merged runs of any size, read from small to large
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB, Python {platform.python_version()}")
    commands = []
    for r in results:
        o = r.get("options", {})
        line = f"`python benchmarks/bench_scale.py {o.get('command', ' '.join(argv))}` ({o.get('started', started)} UTC)"
        if line not in commands:
            commands.append(line)
    lines = [START, "", "Runs: " + "; ".join(commands) + f", on {machine}, shared with other engineers (the load "
             "average at the start and end of each run is in the table).", ""]
    codes: dict[tuple, list[str]] = {}
    for r in results:
        for engine, e in r["engines"].items():
            c = e.get("code")
            if c:
                codes.setdefault((c["commit"], tuple(c["dirty_src"]), c["src_sha"]), []).append(f"{r['graph']['edges']:,} {engine}")
    if codes:
        lines += ["Code (the checkout is shared and other engineers edit src/ while runs go on; the hash is of every "
                  "src/scholarlens/*.py as each worker started): " + "; ".join(
                      f"{', '.join(runs)}: commit {commit}" + (f" with uncommitted changes to {', '.join(dirty)}" if dirty else "")
                      + f", sources {sha}" for (commit, dirty, sha), runs in codes.items()) + ".", ""]
    lines += ["| edges | works | engine | persons step | wall | peak memory | scratch disk (peak) | input / output Parquet | "
              "load avg (start → end) | result |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        g = r["graph"]
        persons = r.get("options", {}).get("persons", "build")
        for engine, e in r["engines"].items():
            scratch = f"{e.get('store_mb', e['scratch_peak_mb']):,} MB" + (" (store file)" if engine == "duckdb" else " (shuffle, spill, driver)")
            outcome = "failed: " + e["failed"] if "failed" in e else "ok"
            lines.append(f"| {g['edges']:,} | {g['works']:,} | {engine} | {persons} | {_fmt_s(e['wall_s'])} | "
                         f"{e['peak_rss_mb']:,} MB | {scratch} | {r['input_mb']:,} / {e.get('output_mb', 0):,} MB | "
                         f"{e['load_start']} → {e['load_end']} | {outcome} |")
    lines += ["", "Seconds per step (DuckDB: load is the Parquet import into a fresh store, write the result export; a "
              "failed run lists the steps it finished):", ""]
    steps = ["load", "code links", "persons", "bibliometrics", "disruption", "reference novelty", "semantic novelty",
             "AI scores", "write"]
    lines += ["| edges | engine | persons step | " + " | ".join(steps) + " |", "|---|---|---|" + "---|" * len(steps)]
    for r in results:
        persons = r.get("options", {}).get("persons", "build")
        for engine, e in r["engines"].items():
            t = e["timings"]
            lines.append(f"| {r['graph']['edges']:,} | {engine} | {persons} | " + " | ".join(
                f"{t[s]:.1f}" if s in t else "-" for s in steps) + " |")
    measured = [(r, engine, e) for r in results for engine, e in r["engines"].items() if e.get("step_memory")]
    if measured:
        lines += ["", "Memory by step (MiB; /proc's kB are KiB): the process tree's resident set as the step started, "
                  "the main process's part of it, and the tree's peak during the step:", "",
                  "| edges | engine | persons step | " + " | ".join(steps[1:-1]) + " |", "|---|---|---|" + "---|" * (len(steps) - 2)]
        for r, engine, e in measured:
            persons = r.get("options", {}).get("persons", "build")
            cells = []
            for s in steps[1:-1]:
                m = e["step_memory"].get(s)
                cells.append(f"{m['start_tree_mb']:,} / {m['start_main_mb']:,} → {m['peak_mb']:,}" if m and "peak_mb" in m else "-")
            lines.append(f"| {r['graph']['edges']:,} | {engine} | {persons} | " + " | ".join(cells) + " |")
    timed = [(r, engine, e) for r, engine, e in measured if e.get("step_starts")]
    if timed:
        cores = os.cpu_count() or 1
        lines += ["", f"CPU by step: the process tree's CPU seconds, and how many of the machine's {cores} cores that "
                  "kept busy on average (CPU seconds over the step's wall seconds; a step under 10 s is too short for "
                  "the 0.5 s samples and shows its CPU only):", "",
                  "| edges | engine | persons step | " + " | ".join(steps) + " | whole run |",
                  "|---|---|---|" + "---|" * (len(steps) + 1)]
        for r, engine, e in timed:
            persons = r.get("options", {}).get("persons", "build")
            wall = dict(step_walls(e["step_starts"]))
            cells = []
            for s in steps:
                m, w = e["step_memory"].get(s, {}), wall.get(s)
                cells.append("-" if "cpu_s" not in m else f"{m['cpu_s']:,.0f} s ({m['cpu_s'] / w:.2f})" if w >= 10
                             else f"{m['cpu_s']:,.1f} s")
            total = e["timeline"][-1][2] if e.get("timeline") else None
            cells.append(f"{total:,.0f} s ({total / e['wall_s']:.2f})" if total else "-")
            lines.append(f"| {r['graph']['edges']:,} | {engine} | {persons} | " + " | ".join(cells) + " |")
    lines += ["", "Equality of the two engines' outputs:", ""]
    for r in results:
        if "comparison" not in r:
            continue
        bad = {t: p for t, p in r["comparison"].items() if p}
        scope = "every row" if not r["sample_mod"] else f"the rows whose key hashes to 0 mod {r['sample_mod']}"
        tables = ", ".join(f"{t} ({r['compared_rows'][t]:,})" for t in sorted(r["comparison"]))
        verdict = "all equal" if not bad else "DIFFERENCES: " + "; ".join(f"{t}: {p}" for t, p in bad.items())
        only = f" Written by one engine only: {', '.join(r['tables_one_engine_only'])}." if r["tables_one_engine_only"] else ""
        lines.append(f"- {r['graph']['edges']:,} edges, {scope}: {verdict}. Tables (rows compared): {tables}.{only}")
    for r in results:
        check = r.get("sql_check")
        if not check:
            continue
        bad = {t: p for t, p in check["comparison"].items() if p}
        scope = "every row" if not check["sample_mod"] else f"the rows whose key hashes to 0 mod {check['sample_mod']}"
        tables = ", ".join(f"{t} ({check['compared_rows'][t]:,})" for t in sorted(check["comparison"]))
        verdict = "all equal" if not bad else "DIFFERENCES: " + "; ".join(f"{t}: {p}" for t, p in bad.items())
        lines.append(f"- {r['graph']['edges']:,} edges, the bibliometrics SQL alone on DuckDB ({check['seconds']:.0f} s, the "
                     f"whole DuckDB build having failed) against the Spark build, {scope}: {verdict}. Tables (rows "
                     f"compared): {tables}.")
    growth = []
    for engine in ("duckdb", "spark"):
        done = [r for r in results if engine in r["engines"] and "failed" not in r["engines"][engine]]
        parts = []
        for a, b in zip(done, done[1:]):
            ea, eb = a["engines"][engine], b["engines"][engine]
            ratio = b["graph"]["edges"] / a["graph"]["edges"]
            if a.get("options", {}).get("persons") == b.get("options", {}).get("persons"):
                parts.append(f"{a['graph']['edges']:,} → {b['graph']['edges']:,} edges (x{ratio:.0f}): time "
                             f"x{eb['wall_s'] / ea['wall_s']:.1f}, peak memory x{eb['peak_rss_mb'] / max(ea['peak_rss_mb'], 1):.1f}")
            else:  # the persons step differs: compare the time of the other steps
                rest_a = ea["wall_s"] - ea["timings"].get("persons", 0)
                rest_b = eb["wall_s"] - eb["timings"].get("persons", 0)
                parts.append(f"{a['graph']['edges']:,} → {b['graph']['edges']:,} edges (x{ratio:.0f}): time without the "
                             f"persons step x{rest_b / rest_a:.1f} (peak memory not comparable: persons differs)")
        if parts:
            growth.append(f"- {engine}: " + "; ".join(parts))
    if growth:
        lines += ["", "Growth:", "", *growth]
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        worker(argv[1], argv[2], argv[3], argv[4], argv[5], int(argv[6]), argv[7], int(argv[8]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edges", type=int, nargs="+", default=[1_000_000, 10_000_000, 100_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"], choices=["duckdb", "spark"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text", action="store_true", help="give works synthetic titles and abstracts")
    parser.add_argument("--root", type=Path, default=None, help="working directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep inputs and outputs")
    parser.add_argument("--spark-driver-memory", default="8g")
    parser.add_argument("--spark-partitions", type=int, default=16)
    parser.add_argument("--sample-mod", type=int, default=100, help="compare 1 row in N above --sample-above")
    parser.add_argument("--sample-above", type=int, default=50_000_000)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/bench/scale.md")
    parser.add_argument("--persons", choices=["build", "source-ids"], default="build",
                        help="source-ids: replace the persons step (identity disambiguation) by one person per source "
                             "author id, in both engines (bench only: to measure the other steps where it cannot run)")
    parser.add_argument("--disruption-split", type=int, default=1, help="Spark: partitions per span of years for the CD index")
    parser.add_argument("--duckdb-cap-gb", type=float, default=22.0,
                        help="address-space cap of the DuckDB worker (it fails alone instead of exhausting the machine)")
    parser.add_argument("--timeout-min", type=float, default=None, help="stop a worker after this many minutes")
    parser.add_argument("--merge", type=Path, default=None, help="results.json of earlier runs to report beside these")
    parser.add_argument("--sql-check", action="store_true",
                        help="no builds: compare the kept Spark output of each --edges size with the bibliometrics SQL "
                             "run alone on DuckDB (for sizes where the whole DuckDB build fails), updating results.json")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    root = args.root or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    if args.sql_check:
        results = json.loads((root / "results.json").read_text())
        for r in results:
            if r["graph"]["edges"] in args.edges:
                sample = args.sample_mod if r["graph"]["edges"] >= args.sample_above else None
                r["sql_check"] = sql_check(root / f"edges_{r['graph']['edges']}", args.persons, sample)
                print(f"  SQL check: {r['sql_check']}", file=sys.stderr)
        (root / "results.json").write_text(json.dumps(results, indent=1, default=str))
        if args.merge:
            results = json.loads(args.merge.read_text()) + results
        section = render(results, argv, started)
        print(section)
        if not args.no_write:
            from bench_embed import write_section

            write_section(START, END, section, doc=DOC, title="Scale: DuckDB and Spark local from 1M to 100M citations")
        return
    results = []
    for n in args.edges:
        results.append(measure_size(n, root, args.engines, args))
        results[-1]["options"] = {"persons": args.persons, "disruption_split": args.disruption_split,
                                  "spark_partitions": args.spark_partitions, "spark_driver_memory": args.spark_driver_memory,
                                  "command": " ".join(argv), "started": started}
        (root / "results.json").write_text(json.dumps(results, indent=1, default=str))
    if args.merge:
        results = json.loads(args.merge.read_text()) + results
    section = render(results, argv, started)
    print(section)
    if not args.no_write:
        from bench_embed import write_section

        write_section(START, END, section, doc=DOC, title="Scale: DuckDB and Spark local from 1M to 100M citations")


if __name__ == "__main__":
    main()
