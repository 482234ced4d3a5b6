"""`build(engine, input_dir, output_dir)`: the analytics on DuckDB or on Spark, Parquet in and Parquet out.

- engine="duckdb": the Parquet tables are loaded into a fresh DuckDB store in a working directory and
  analytics.build.analyse runs there, exactly as it runs on a store; its result tables are written out.
- engine="spark": engine.spark runs the same definitions on Spark (local[2] on this machine, or the cluster at
  spark_master, or the cluster spark-submit started this under).

Both write the same tables (engine.parquet_io.RESULT_TABLES that the build computes, plus code_links) and the
same manifest; `import_results` brings either into a store. `build_store` does export, build and import for a
store in one call (what `scholarlens build --engine spark` does without --input/--output).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from . import parquet_io
from ..store.db import sql_string

ENGINES = ("duckdb", "spark")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def build_duckdb(input_dir, output_dir, *, as_of_year: int | None = None, on_step: Callable[[str], None] | None = None,
                 work_dir: str | Path | None = None) -> dict:
    """analytics.build.analyse on a DuckDB store loaded from input_dir; result tables to output_dir."""
    from ..analytics.build import analyse
    from ..embed import WorkIndex
    from ..store import connect

    input_dir, output_dir = Path(input_dir), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    own_tmp = work_dir is None
    work = Path(work_dir or tempfile.mkdtemp(prefix="scholarlens-duckdb-", dir=output_dir))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "build.duckdb"
    timings: dict[str, float] = {}
    try:
        given = input_dir / parquet_io.EMBEDDER_DIR
        if (given / "embedder.json").exists():  # the store's frozen embedder, as the store has it beside itself
            shutil.copytree(given, WorkIndex.directory_for(path) / "embedder")
        con = connect(path)
        try:
            if on_step:
                on_step("load")
            start = time.perf_counter()
            parquet_io.load_into(con, input_dir)
            timings["load"] = round(time.perf_counter() - start, 3)
            before = set(parquet_io.store_tables(con))
            marks: list[tuple[str, float]] = []

            def step(name: str) -> None:
                marks.append((name, time.perf_counter()))
                if on_step:
                    on_step(name)

            start = time.perf_counter()
            analyse(con, as_of_year=as_of_year, on_step=step)
            end = time.perf_counter()
            for (name, t0), (_, t1) in zip(marks, marks[1:] + [("", end)]):
                timings[name] = round(t1 - t0, 3)
            produced = [t for t in parquet_io.store_tables(con) if t not in before]
            tables = sorted(set(produced) | {t for t in parquet_io.EXTENDED_TABLES if t in before})
            if on_step:
                on_step("write")
            start = time.perf_counter()
            rows = parquet_io.write_tables(
                con, output_dir, tables, engine="duckdb", analysed_at=_now(), as_of_year=as_of_year or dt.date.today().year,
                steps=[m[0] for m in marks], duckdb_version=duckdb.__version__, notes=parquet_io.build_notes(con),
            )
            timings["write"] = round(time.perf_counter() - start, 3)
        finally:
            con.close()
        model = WorkIndex.directory_for(path) / "embedder"
        if (model / "embedder.json").exists():
            target = output_dir / parquet_io.EMBEDDER_DIR
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(model, target)
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
    return {"engine": "duckdb", "rows": rows, "timings": timings, "steps": [m[0] for m in marks]}


def build_spark(input_dir, output_dir, *, spark_master: str | None = None, spark=None, as_of_year: int | None = None,
                on_step: Callable[[str], None] | None = None, work_dir: str | Path | None = None,
                disruption_split: int = 1, **session) -> dict:
    """engine.spark.SparkBuild on a session (started here unless given). input_dir and output_dir may be URIs;
    disruption_split cuts each span of publication years of the CD index into that many partitions (for big inputs)."""
    from .spark import SparkBuild, spark_session

    own = spark is None
    spark = spark or spark_session(spark_master, **session)
    try:
        year = as_of_year or dt.date.today().year
        job = SparkBuild(spark, input_dir, output_dir, as_of_year=year, on_step=on_step, work_dir=work_dir,
                         disruption_split=disruption_split)
        result = job.run()
        job.write_manifest(tables=result["rows"], engine="spark", analysed_at=_now(), as_of_year=year,
                           steps=result["steps"], spark_version=spark.version, spark_master=spark.sparkContext.master,
                           notes=job.notes)
    finally:
        if own:
            spark.stop()
    return {"engine": "spark", "rows": result["rows"], "timings": result["timings"], "steps": result["steps"]}


def build(engine: str = "duckdb", input_dir: str | Path = ".", output_dir: str | Path = "out", spark_master: str | None = None,
          *, as_of_year: int | None = None, on_step: Callable[[str], None] | None = None, **options) -> dict:
    """`scholarlens build --engine duckdb|spark --input DIR --output DIR [--spark-master URL]`.

    Returns {"engine", "rows": {table: rows}, "timings": {step: seconds}, "steps": [...]}. options go to the
    engine (spark: spark=an existing SparkSession, shuffle_partitions, driver_memory, conf, disruption_split,
    work_dir; duckdb: work_dir).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "duckdb":
        if spark_master:
            raise ValueError("--spark-master goes with --engine spark")
        return build_duckdb(input_dir, output_dir, as_of_year=as_of_year, on_step=on_step, **options)
    return build_spark(input_dir, output_dir, spark_master=spark_master, as_of_year=as_of_year, on_step=on_step, **options)


def build_store(con: duckdb.DuckDBPyConnection, engine: str = "spark", spark_master: str | None = None, *,
                work_dir: str | Path | None = None, as_of_year: int | None = None,
                on_step: Callable[[str], None] | None = None, **options) -> dict:
    """Export the store to Parquet, build on `engine`, import the results back, in a scratch directory.

    This is `scholarlens build --engine spark` with neither --input nor --output. The store's own embedder is
    exported and used; if it had none, the one the build fitted is installed beside the store.
    """
    from ..embed import WorkIndex

    own = work_dir is None
    work = Path(work_dir or tempfile.mkdtemp(prefix="scholarlens-build-"))
    try:
        parquet_io.export_store(con, work / "input")
        report = build(engine, work / "input", work / "output", spark_master, as_of_year=as_of_year, on_step=on_step, **options)
        report["imported"] = parquet_io.import_results(con, work / "output")
        store = parquet_io.store_file(con)
        fitted = work / "output" / parquet_io.EMBEDDER_DIR
        if store is not None and (fitted / "embedder.json").exists():
            target = WorkIndex.directory_for(store) / "embedder"
            if not (target / "embedder.json").exists():
                shutil.copytree(fitted, target)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    return report


# ------------------------------------------------------------------------------------------------- comparison

# The key of each result table: one row per key in either engine's output.
RESULT_KEYS = {
    "code_links": ("work_id", "url"),
    "person_mentions": ("work_id", "author_id"),
    "persons": ("person_id",),
    "person_authorships": ("work_id", "author_id"),
    "correction_authorships": ("work_id", "author_id"),
    "work_citations": ("work_id",),
    "author_metrics": ("author_id",),
    "author_citations_by_year": ("author_id", "year"),
    "work_disruption": ("work_id",),
    "work_refnovelty": ("work_id",),
    "work_novelty": ("work_id",),
    "author_novelty": ("author_id",),
    "work_ai_score": ("work_id",),
    "author_ai_score": ("author_id",),
}


def _columns_equal(name: str, a, b, tol: float) -> str | None:
    """None when two Arrow columns (same row order) are equal: integers, strings, booleans exactly, floats within
    tol (NaN and null each in the same places), lists element by element. Else what differs, with an example."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    a, b = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a, b.combine_chunks() if isinstance(b, pa.ChunkedArray) else b
    if not a.is_null().equals(b.is_null()):
        where = int(np.flatnonzero(a.is_null().to_numpy(zero_copy_only=False) != b.is_null().to_numpy(zero_copy_only=False))[0])
        return f"{name}: null in one engine only (row {where}: {a[where]} vs {b[where]})"
    ta, tb = a.type, b.type
    if pa.types.is_floating(ta) or pa.types.is_floating(tb) or pa.types.is_decimal(ta) or pa.types.is_decimal(tb):
        x = a.cast(pa.float64()).to_numpy(zero_copy_only=False)
        y = b.cast(pa.float64()).to_numpy(zero_copy_only=False)
        nan_x, nan_y = np.isnan(x), np.isnan(y)
        bad = (nan_x != nan_y) | (~nan_x & ~nan_y & ~(np.abs(x - y) <= tol))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            return f"{name}: {int(bad.sum())} values differ by more than {tol} (e.g. row {i}: {x[i]!r} vs {y[i]!r})"
        return None
    if pa.types.is_list(ta) or pa.types.is_large_list(ta):
        if not (pa.types.is_list(tb) or pa.types.is_large_list(tb)):
            return f"{name}: a list in one engine only ({ta} vs {tb})"
        if not pc.list_value_length(a).equals(pc.list_value_length(b)):
            return f"{name}: lists of different lengths"
        return _columns_equal(f"{name}[]", pc.list_flatten(a), pc.list_flatten(b), tol)
    if pa.types.is_struct(ta):
        if not pa.types.is_struct(tb):
            return f"{name}: a struct in one engine only"
        fields_a = [ta.field(i).name for i in range(ta.num_fields)]
        fields_b = [tb.field(i).name for i in range(tb.num_fields)]
        if fields_a != fields_b:
            return f"{name}: struct fields {fields_a} vs {fields_b}"
        for field in fields_a:
            problem = _columns_equal(f"{name}.{field}", pc.struct_field(a, field), pc.struct_field(b, field), tol)
            if problem:
                return problem
        return None
    if pa.types.is_integer(ta) and pa.types.is_integer(tb):
        a, b = a.cast(pa.int64()), b.cast(pa.int64())
    elif ta != tb:
        a, b = a.cast(pa.string()), b.cast(pa.string())
    if not a.equals(b):
        diff = pc.invert(pc.fill_null(pc.equal(a, b), True)).to_numpy(zero_copy_only=False)
        i = int(np.flatnonzero(diff)[0])
        return f"{name}: {int(diff.sum())} values differ (e.g. row {i}: {a[i]} vs {b[i]})"
    return None


def compare_builds(a_dir, b_dir, *, tol: float = 1e-9, sample_mod: int | None = None,
                   tables: list[str] | None = None) -> dict[str, dict]:
    """Compare two build outputs table by table (the tables both wrote, or `tables`).

    Rows are matched on RESULT_KEYS; counts, integer indices, strings and flags must be identical, floats within
    tol, lists (nearest earlier works) element by element. sample_mod=N compares only rows whose key hashes to 0
    modulo N (for outputs too big to compare whole). Returns {table: {"rows": (a, b), "problems": [...],
    "types": [column type differences, informational]}}; equal tables have no problems.
    """
    import pyarrow as pa

    files_a, files_b = parquet_io.table_dirs(a_dir), parquet_io.table_dirs(b_dir)
    names = tables or sorted(set(files_a) & set(files_b))
    con = duckdb.connect()
    out: dict[str, dict] = {}
    try:
        for table in names:
            keys = list(RESULT_KEYS.get(table, ()))
            problems: list[str] = []
            if table not in files_a or table not in files_b:
                out[table] = {"rows": (None, None), "problems": ["written by one build only"], "types": []}
                continue
            order = ", ".join(f'"{k}"' for k in keys)
            where = f"WHERE hash({order}) % {int(sample_mod)} = 0" if sample_mod and keys else ""

            suffix = f"{where} ORDER BY {order}" if keys else ""
            ta, tb = (con.sql(f"SELECT * FROM read_parquet({sql_string(files[table])}) {suffix}").to_arrow_table()
                      for files in (files_a, files_b))
            if not keys:
                problems.append("no key known for this table: compared in file order")
            if set(ta.column_names) != set(tb.column_names):
                problems.append(f"columns {sorted(ta.column_names)} vs {sorted(tb.column_names)}")
            types = [f"{c}: {ta.schema.field(c).type} vs {tb.schema.field(c).type}" for c in ta.column_names
                     if c in tb.column_names and ta.schema.field(c).type != tb.schema.field(c).type]
            if ta.num_rows != tb.num_rows:
                problems.append(f"{ta.num_rows} rows vs {tb.num_rows}")
            else:
                for key in keys:
                    ka, kb = ta.column(key), tb.column(key)
                    if ka.type != kb.type:
                        ka, kb = ka.cast(pa.string()), kb.cast(pa.string())
                    if not ka.equals(kb):
                        problems.append(f"different keys ({key})")
                        break
                else:
                    for column in ta.column_names:
                        if column in tb.column_names and column not in keys:
                            problem = _columns_equal(column, ta.column(column), tb.column(column), tol)
                            if problem:
                                problems.append(problem)
            out[table] = {"rows": (ta.num_rows, tb.num_rows), "problems": problems, "types": types}
    finally:
        con.close()
    return out
