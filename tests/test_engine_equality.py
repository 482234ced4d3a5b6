"""Both engines, the same tables: the DuckDB build and the Spark build (local mode, driver on 127.0.0.1).

Runs every analytic of analytics.build.analyse on DuckDB and on Spark, on the bundled sample (real records) and
on a generated 100k-edge citation graph with synthetic texts (benchmarks/graphgen.py via bench_scale.graph_store),
then compares the output tables row by row (engine.run.compare_builds): counts, integer indices, strings and flags
identical, floats within 1e-9, nearest-earlier-work lists element by element.

Select with `-m spark`; it runs in the normal suite too. pyspark is required in CI (CI=1): there a missing
pyspark fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

try:
    import pyspark  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI"):
        raise
    pytest.skip("pyspark is not installed (pip install 'scholarlens[spark]')", allow_module_level=True)

from scholarlens.engine import build, export_store, import_results
from scholarlens.engine import spark as spark_module
from scholarlens.engine.parquet_io import read_manifest, table_dirs
from scholarlens.engine.run import compare_builds
from scholarlens.engine.spark import coded_graph_views, limitations, spark_session
from scholarlens.engine.sql import statements
from scholarlens.store import connect

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
AS_OF = 2026

# What each analytic of the issue writes, and that must be equal on both engines.
ANALYTIC_TABLES = {
    "bibliometrics (h, g, i10, m)": "author_metrics",
    "citations per author and year": "author_citations_by_year",
    "citation percentiles": "work_citations",
    "CD index": "work_disruption",
    "reference-combination novelty (Uzzi, Lee)": "work_refnovelty",
    "semantic novelty with nearest earlier works": "work_novelty",
    "author novelty": "author_novelty",
    "code links": "code_links",
}


@pytest.fixture(scope="module")
def spark():
    # Adaptive execution re-plans every stage; on inputs this small that costs more than it saves (~30%).
    session = spark_session("local[2]", shuffle_partitions=2, driver_memory="1g",
                            conf={"spark.sql.adaptive.enabled": "false"})
    conf = session.sparkContext.getConf()
    assert conf.get("spark.driver.host") == "127.0.0.1" and conf.get("spark.driver.bindAddress") == "127.0.0.1"
    yield session
    session.stop()


def _both(input_dir: Path, out: Path, spark, **options) -> tuple[dict, dict]:
    duck = build("duckdb", input_dir, out / "duckdb", as_of_year=AS_OF)
    on_spark = build("spark", input_dir, out / "spark", as_of_year=AS_OF, spark=spark, **options)
    return duck, on_spark


def _assert_equal(out: Path, duck: dict, on_spark: dict) -> dict:
    # The same steps, in the same order: a step added to analyse() and not to the Spark build fails here.
    assert duck["steps"] == on_spark["steps"]
    missing = set(duck["rows"]) - set(on_spark["rows"])
    assert not missing, f"tables the DuckDB build writes and the Spark build does not: {sorted(missing)}"
    result = compare_builds(out / "duckdb", out / "spark")
    problems = {table: r["problems"] for table, r in result.items() if r["problems"]}
    assert not problems, problems
    for analytic, table in ANALYTIC_TABLES.items():
        assert table in result, f"{analytic}: {table} not written by both engines"
    return result


def _non_trivial(out: Path) -> dict:
    """Counts that show the compared tables hold real numbers, not just nulls."""
    import duckdb

    files = table_dirs(out / "spark")
    con = duckdb.connect()
    q = lambda sql: con.execute(sql.format(**{t: f"read_parquet('{p}')" for t, p in files.items()})).fetchone()[0]
    return {
        "percentiles": q("SELECT count(citation_percentile) FROM {work_citations}"),
        "h_index > 1": q("SELECT count(*) FROM {author_metrics} WHERE h_index > 1"),
        "cd": q("SELECT count(cd) FROM {work_disruption}"),
        "uzzi": q("SELECT count(tail_novelty) FROM {work_refnovelty}"),
        "lee": q("SELECT count(lee_novelty) FROM {work_refnovelty}"),
        "novelty": q("SELECT count(novelty) FROM {work_novelty}"),
        "neighbours": q("SELECT sum(len(neighbours)) FROM {work_novelty}"),
        "author novelty": q("SELECT count(novelty) FROM {author_novelty}"),
    }


@pytest.fixture(scope="module")
def sample_builds(sample_store, spark, tmp_path_factory):
    """The bundled sample, exported and built by both engines (once for the tests below)."""
    out = tmp_path_factory.mktemp("engines-sample")
    con = connect(sample_store, read_only=True)
    try:
        export_store(con, out / "input")
    finally:
        con.close()
    duck, on_spark = _both(out / "input", out, spark)
    return out, duck, on_spark


def test_sample_store_equal(sample_builds):
    out, duck, on_spark = sample_builds
    _assert_equal(out, duck, on_spark)
    counts = _non_trivial(out)
    assert all(v > 0 for v in counts.values()), counts
    assert read_manifest(out / "spark")["engine"] == "spark"


def test_generated_graph_equal(spark, tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from bench_scale import graph_store
    finally:
        sys.path.remove(str(BENCHMARKS))
    graph = graph_store(100_000, tmp_path / "input", seed=3, text=True)
    assert graph["edges"] == 100_000
    # Each publication year of the CD index cut into 3 partitions (the option a full snapshot needs)
    duck, on_spark = _both(tmp_path / "input", tmp_path, spark, disruption_split=3)
    result = _assert_equal(tmp_path, duck, on_spark)
    assert result["work_disruption"]["rows"][0] == graph["works"]
    counts = _non_trivial(tmp_path)
    assert all(v > 0 for v in counts.values()), counts


def test_the_cd_index_over_several_spans_and_parts_equals_duckdbs(spark, tmp_path, monkeypatch):
    """The Spark CD index cuts the graph into the DuckDB build's spans of years (a small edge budget makes many
    here), each into K parts by a hash of the focal work: every cut gives DuckDB's work_disruption, row for row."""
    import duckdb

    from scholarlens.analytics import citation_measures
    from scholarlens.engine.spark import SparkBuild

    sys.path.insert(0, str(BENCHMARKS))
    try:
        from bench_scale import graph_store
    finally:
        sys.path.remove(str(BENCHMARKS))
    graph = graph_store(30_000, tmp_path / "input", seed=5)
    monkeypatch.setattr(citation_measures, "DISRUPTION_EDGE_BUDGET", 4_000)
    build("duckdb", tmp_path / "input", tmp_path / "duckdb", as_of_year=AS_OF)
    planned = []
    plan = citation_measures.plan_year_spans
    monkeypatch.setattr(citation_measures, "plan_year_spans", lambda *a: planned.append(plan(*a)) or planned[-1])
    con = duckdb.connect()
    expected = con.sql(f"SELECT * FROM read_parquet('{tmp_path}/duckdb/work_disruption/*.parquet')").fetchall()
    assert len(expected) == graph["works"] and sum(1 for row in expected if row[1] is not None) > graph["works"] // 2
    for split in (1, 2):
        on_spark = SparkBuild(spark, tmp_path / "input", tmp_path / f"spark{split}", as_of_year=AS_OF,
                              disruption_split=split)
        for table, path in on_spark.input.tables().items():
            if table in ("works", "citations", "work_keys"):
                on_spark._view(table, spark.read.parquet(path))
        (tmp_path / f"spark{split}").mkdir()
        try:
            on_spark.disruption()
        finally:
            on_spark._drop_views()
        got = con.sql(f"SELECT * FROM read_parquet('{tmp_path}/spark{split}/work_disruption/*.parquet')").fetchall()
        assert sorted(got, key=str) == sorted(expected, key=str), f"disruption_split={split}"
    # several spans, some of more than one year (the window's citations inside a span cross the parts)
    spans = planned[-1]
    assert len(spans) >= 5 and any(b > a for a, b in spans), spans


def test_the_cd_index_plans_its_spans_for_the_cores_not_the_shuffle_partitions(spark):
    """Spans are planned for about one per running task (citation_measures.span_budget): in local mode that is
    local[N]'s N. Local mode sets default parallelism to the shuffle partitions (16 in the scale bench), and
    planning for 16 cut the 10M graph into many small spans, each re-reading its window (100.7 s against 234.9 s)."""
    from types import SimpleNamespace

    from scholarlens.engine.spark import task_slots

    assert task_slots(spark) == 2  # the fixture's local[2], with 2 shuffle partitions
    slots = {m: task_slots(SimpleNamespace(sparkContext=SimpleNamespace(master=m, defaultParallelism=64)))
             for m in ("local", "local[3]", "local[4,2]", "local[*]", "spark://host:7077")}
    assert slots == {"local": 1, "local[3]": 3, "local[4,2]": 4, "local[*]": os.cpu_count(),
                     "spark://host:7077": 64}


def test_what_is_not_distributed_is_said():
    """Where the Spark build is not yet what the issue asks (a step not distributed, a glue query mirrored rather
    than transpiled), engine.spark.limitations() says so, with what would change it. Equal tables all the same."""
    said = {step: how for step, how, _ in limitations()}
    for step, how in said.items():
        print(f"Spark build, {step}: {how}")
    from scholarlens.analytics import semantic

    assert ("semantic novelty" in said) == (getattr(semantic, "NEIGHBOURS_WITHIN", None) != "group")
    assert "disruption, reference novelty, code links" in said
    assert "the coded citation graph" in said


def test_author_ai_score_rounding(sample_builds):
    out, _, _ = sample_builds
    result = compare_builds(out / "duckdb", out / "spark", tables=["author_ai_score"])
    assert not result["author_ai_score"]["problems"], result["author_ai_score"]["problems"]


def test_m_quotient_ties_round_alike(spark, tmp_path):
    """An author with h = 3 whose first paper is 80 years old: m = 3/80 = 0.0375, a tie at the third decimal."""
    import duckdb

    from scholarlens.analytics.bibliometrics import compute_bibliometrics

    con = duckdb.connect()
    con.execute("CREATE TABLE works AS SELECT 'w' || i AS work_id, CAST(NULL AS VARCHAR) AS category, 'CS' AS field, "
                f"{AS_OF - 79} + i AS year, 3 AS cited_by_count, CAST(NULL AS VARCHAR) AS venue FROM range(3) t(i)")
    con.execute("CREATE TABLE work_keys AS SELECT work_id AS key, work_id FROM works")
    con.execute("CREATE TABLE citations AS SELECT 'x' AS citing_key, 'y' AS cited_key, 'test' AS source WHERE false")
    con.execute("CREATE TABLE counts_by_year (work_id VARCHAR, year INTEGER, cited_by INTEGER, source VARCHAR)")
    for name in ("authorships", "person_authorships"):
        con.execute(f"CREATE TABLE {name} AS SELECT work_id, 'a1' AS author_id, 0 AS position, "
                    "CAST(NULL AS VARCHAR) AS raw_name, CAST(NULL AS VARCHAR) AS raw_affiliation FROM works")
    tables = ["works", "work_keys", "citations", "counts_by_year", "authorships", "person_authorships"]
    frames = {t: con.execute(f"SELECT * FROM {t}").to_arrow_table() for t in tables}
    compute_bibliometrics(con, as_of_year=AS_OF)
    on_duckdb = con.execute("SELECT m_quotient FROM author_metrics").fetchone()[0]
    for table, frame in frames.items():
        spark.createDataFrame(frame.to_pandas(), schema=None if frame.num_rows else
                              ", ".join(f"{f.name} string" for f in frame.schema)).createOrReplaceTempView(table)
    coded_graph_views(spark, str(tmp_path / "graph"))
    for statement in statements(AS_OF):
        spark.sql(statement.spark).createOrReplaceTempView(statement.table)
    on_spark = spark.table("author_metrics").collect()[0]["m_quotient"]
    # The graph is resolved once for all its readers (coded_graph_views): no statement resolves the citations'
    # keys again. (When it was a persisted view, every statement with a WITH clause did.)
    for statement in statements(AS_OF):
        plan = spark.table(statement.table)._jdf.queryExecution().executedPlan().toString()
        assert "citing_key" not in plan, (statement.table, plan)
    # ... with its works' years: the timed edges are read from Parquet, not joined with the works by every reader
    plan = spark.table("_edge_codes")._jdf.queryExecution().executedPlan().toString()
    assert "Join" not in plan and "FileScan parquet" in plan, plan
    assert (tmp_path / "graph").is_dir()
    for table in tables + ["work_citations", "author_metrics", "author_citations_by_year",
                           "_work_codes", "_edge_codes"]:
        spark.catalog.dropTempView(table)
    assert on_duckdb == on_spark == 0.038, (on_duckdb, on_spark)  # half up, as a person would round 0.0375


def test_sparks_coded_graph_is_the_resolved_graph_with_codes_in_id_order(spark, tmp_path):
    """Spark's integer coding (SPARK_CODING_SQL) decodes to RESOLVED_EDGES_SQL's graph on DuckDB, edge for edge,
    each with its works' years: a work's own id and its DOI key resolve; a cited key no work has is a node of its
    own, and one that is a work's id but none of its keys is that work; a citing key that is no work's key drops
    its edge; one pair cited through two keys is one edge. The works' codes sort as their ids do, over several
    partitions (reference novelty's null depends on that order)."""
    import duckdb
    import numpy as np

    from scholarlens.analytics.citation_graph import RESOLVED_EDGES_SQL

    rng = np.random.default_rng(7)
    ids = [f"W{n}" for n in rng.choice(10_000, 60, replace=False)]  # "W10" < "W9": string order, not numeric
    con = duckdb.connect()
    con.execute("CREATE TABLE works (work_id VARCHAR, year BIGINT, venue VARCHAR)")
    con.executemany("INSERT INTO works VALUES (?, ?, ?)",
                    [(w, None if k == 3 else 1990 + k % 20, f"J{k % 4}") for k, w in enumerate(ids)])
    keyless = ids[5]  # a work whose id is not among its keys
    con.execute("CREATE TABLE work_keys (key VARCHAR, work_id VARCHAR)")
    con.executemany("INSERT INTO work_keys VALUES (?, ?)", [(w, w) for w in ids if w != keyless] + [("doi:a", ids[0])])
    cites = [(ids[k], ids[(k * 7 + 1) % 60]) for k in range(60)] + [
        (ids[1], "doi:a"), (ids[1], ids[0]),  # one pair through two keys
        (ids[2], "doi:a"), (ids[2], "ext:x"), (ids[4], "ext:x"), (ids[6], "ext:y"),  # outside the store
        (ids[7], keyless),  # a work's id that is none of its keys
        ("ext:z", ids[8]), (keyless, ids[9]),  # citing ends no key resolves
    ]
    con.execute("CREATE TABLE citations (citing_key VARCHAR, cited_key VARCHAR)")
    con.executemany("INSERT INTO citations VALUES (?, ?)", cites)
    expected = set(con.execute(f"""SELECT e.citing, e.cited, a.year, b.year FROM ({RESOLVED_EDGES_SQL}) e
                                   JOIN works a ON a.work_id = e.citing LEFT JOIN works b ON b.work_id = e.cited
                                """).fetchall())
    assert {"ext:x", "ext:y"} <= {c for _, c, _, _ in expected}
    assert any(c == keyless for _, c, _, _ in expected) and not any(c == "ext:z" for c, _, _, _ in expected)
    for table in ("works", "work_keys", "citations"):
        spark.createDataFrame(con.table(table).df()).repartition(3).createOrReplaceTempView(table)
    try:
        coded_graph_views(spark, str(tmp_path / "graph"))
        names = spark.read.parquet(str(tmp_path / "graph" / "name_codes"))
        names.filter("NOT own").createOrReplaceTempView("_outside")
        got = spark.sql("""
            SELECT a.work_id, coalesce(b.work_id, o.name), e.t_citing, e.t_cited FROM _edge_codes e
            JOIN _work_codes a ON a.code = e.citing LEFT JOIN _work_codes b ON b.code = e.cited
            LEFT JOIN (SELECT DISTINCT name, code FROM _outside WHERE name NOT IN (SELECT work_id FROM works)) o
                   ON o.code = e.cited""").collect()
        assert len(got) == len(expected) and set(map(tuple, got)) == expected
        codes = spark.table("_work_codes").toPandas().sort_values("code")
        assert list(codes["work_id"]) == sorted(ids)
        assert codes["code"].is_unique and codes["code"].max() > len(ids)  # numbered in several partitions
        outside = [r.code for r in spark.sql("SELECT code FROM _outside WHERE year IS NULL").collect()]
        assert len(outside) == 2 and min(outside) > codes["code"].max()  # ext:x and ext:y, after every work
    finally:
        for table in ("works", "work_keys", "citations", "_outside", "_work_codes", "_edge_codes"):
            spark.catalog.dropTempView(table)


def test_spark_sql_is_transpiled_from_the_one_definition():
    from scholarlens.analytics import bibliometrics

    made = statements(AS_OF)
    assert [s.table for s in made] == ["work_citations", "author_metrics", "author_citations_by_year"]
    assert made[0].duckdb is bibliometrics.WORK_CITATIONS_SQL
    assert "WINDOW" not in made[0].spark and ":min_group" not in made[0].spark and str(bibliometrics.MIN_PERCENTILE_GROUP) in made[0].spark
    assert f"{AS_OF} - c.first_year" in made[1].spark.replace("\n", " ")


def test_results_import_into_a_store(sample_store, sample_builds, tmp_path):
    """What a build writes goes back into a store: result tables replaced, meta.analysed_at the build's."""
    import shutil

    out, duck, on_spark = sample_builds
    copy = tmp_path / "store.duckdb"
    shutil.copy(sample_store, copy)
    con = connect(copy)
    try:
        con.execute("DROP TABLE IF EXISTS work_disruption")
        imported = import_results(con, out / "spark")
        assert imported["work_disruption"] == on_spark["rows"]["work_disruption"] == duck["rows"]["work_disruption"]
        assert con.execute("SELECT count(*) FROM work_disruption").fetchone()[0] == on_spark["rows"]["work_disruption"]
        assert con.execute("SELECT value FROM meta WHERE key = 'analysed_at'").fetchone()[0] == read_manifest(out / "spark")["analysed_at"]
        # the Spark build's neighbour lists read back as the store's own type
        kind = con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'work_novelty' "
                           "AND column_name = 'neighbours'").fetchone()[0]
        assert kind.startswith("STRUCT(id VARCHAR, title VARCHAR") and kind.endswith("[]"), kind
    finally:
        con.close()


def test_a_builds_notes_reach_the_manifest_and_the_store(sample_store, sample_builds, spark, tmp_path, monkeypatch):
    """Name blocks too big to score (persons_unscored in meta) are said by both engines' manifests, alike, and
    import_results sets the note in the store; a build that scored every block removes it again."""
    import shutil

    from scholarlens.analytics import persons

    out, _, _ = sample_builds
    assert read_manifest(out / "duckdb")["notes"] == read_manifest(out / "spark")["notes"] == {}
    monkeypatch.setattr(persons, "MAX_BLOCK_MENTIONS", 1)
    duck, on_spark = _both(out / "input", tmp_path, spark)
    notes = read_manifest(tmp_path / "duckdb")["notes"]
    assert set(notes) == {"persons_unscored", "persons_unscored_blocks"} and "not scored" in notes["persons_unscored"]
    listed = json.loads(notes["persons_unscored_blocks"])
    assert listed["max_block"] == 1 and all(b["mentions"] > 1 and b["keys"] for b in listed["blocks"])
    assert read_manifest(tmp_path / "spark")["notes"] == notes
    copy = tmp_path / "store.duckdb"
    shutil.copy(sample_store, copy)
    con = connect(copy)
    try:
        import_results(con, tmp_path / "spark")
        noted = con.execute("SELECT key, value FROM meta WHERE key LIKE 'persons_unscored%' ORDER BY key").fetchall()
        import_results(con, out / "duckdb")
        cleared = con.execute("SELECT value FROM meta WHERE key LIKE 'persons_unscored%'").fetchall()
    finally:
        con.close()
    assert noted == sorted(notes.items()) and cleared == []


def _refuse_scoring_on_the_driver(monkeypatch) -> None:
    """From here on, the driver's worker processes scoring persons' chunks fail the test."""
    from scholarlens.analytics import persons

    def refused(*args, **kwargs):
        raise AssertionError("the Spark build scored persons' chunks on the driver")

    monkeypatch.setattr(persons, "score_chunks_in_processes", refused)


def test_persons_chunks_scored_on_the_executors_equal_the_drivers(sample_store, spark, tmp_path, monkeypatch):
    """The Spark build scores the persons engine's chunks in an applyInArrow on the executors, never in the
    driver's worker processes, and its person tables equal the DuckDB build's: with the sample cut into several
    chunks and a "not my paper" correction (a cannot-link that must reach its chunk on an executor)."""
    import shutil

    from scholarlens.analytics import persons
    from scholarlens.identity.corrections import add_correction

    copy = tmp_path / "store.duckdb"
    shutil.copy(sample_store, copy)
    con = connect(copy)
    try:
        lu = "name:lewei lu"
        disowned = con.execute("SELECT min(work_id) FROM person_authorships WHERE author_id = ?", [lu]).fetchall()[0][0]
        add_correction(con, "remove-work", lu, disowned, who="test", why="a namesake's paper")
        export_store(con, tmp_path / "input")
    finally:
        con.close()
    monkeypatch.setattr(persons, "CHUNK_MENTIONS", 200)
    chunk_counts = []
    real_plan = persons._plan_blocks

    def counting_plan(*args, **kwargs):
        planned = real_plan(*args, **kwargs)
        chunk_counts.append(len(planned[0]))
        return planned

    monkeypatch.setattr(persons, "_plan_blocks", counting_plan)
    duck = build("duckdb", tmp_path / "input", tmp_path / "duckdb", as_of_year=AS_OF)

    _refuse_scoring_on_the_driver(monkeypatch)
    on_spark = build("spark", tmp_path / "input", tmp_path / "spark", as_of_year=AS_OF, spark=spark)
    assert chunk_counts[0] == chunk_counts[-1] and chunk_counts[0] >= 4
    result = compare_builds(tmp_path / "duckdb", tmp_path / "spark")
    for table in ("persons", "person_mentions", "person_authorships"):
        assert table in result and not result[table]["problems"], result.get(table)
    assert duck["rows"]["person_mentions"] == on_spark["rows"]["person_mentions"] > 0
    import duckdb

    files = table_dirs(tmp_path / "spark")
    kept = duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{files['person_authorships']}') WHERE author_id = 'name:lewei lu' "
        "AND work_id = ?", [disowned]).fetchall()[0][0]
    assert kept == 0  # the correction took effect on the executors' chunk


def test_a_build_on_a_remote_file_system_equals_the_local_one(sample_builds, spark, tmp_path, monkeypatch):
    """Input and output on a Hadoop file system other than the driver's disk (viewfs://, which a cluster's s3a://
    or hdfs:// stand for here: every read and write goes through Hadoop's FileSystem, none through a local
    path), with the persons engine's chunks passing through the output directory to the executors: the tables
    equal the DuckDB build's, and nothing of the passage (_persons/) is left in the output."""
    import shutil

    from scholarlens.analytics import persons

    out, _, _ = sample_builds
    shutil.copytree(out / "input", tmp_path / "input")
    (tmp_path / "output").mkdir()
    conf = spark._jsc.hadoopConfiguration()
    for mount in ("input", "output"):
        conf.set(f"fs.viewfs.mounttable.remote-test.link./{mount}", (tmp_path / mount).resolve().as_uri())
    monkeypatch.setattr(persons, "CHUNK_MENTIONS", 200)

    _refuse_scoring_on_the_driver(monkeypatch)
    passed: list[str] = []
    real_put = spark_module._Files.put

    def recording_put(self, source, name):
        passed.append(name)
        return real_put(self, source, name)

    monkeypatch.setattr(spark_module._Files, "put", recording_put)
    on_spark = build("spark", "viewfs://remote-test/input", "viewfs://remote-test/output", as_of_year=AS_OF,
                     spark=spark)
    assert "_persons/chunks.parquet" in passed  # the persons' rows went to the executors through the output
    result = compare_builds(out / "duckdb", tmp_path / "output")
    problems = {table: r["problems"] for table, r in result.items() if r["problems"]}
    assert not problems, problems
    for analytic, table in ANALYTIC_TABLES.items():
        assert table in result, f"{analytic}: {table} not written through the remote file system"
    assert on_spark["rows"]["person_mentions"] > 0
    assert not [p.name for p in (tmp_path / "output").iterdir() if p.name.startswith("_persons")]
    assert read_manifest(tmp_path / "output")["engine"] == "spark"


def test_a_chunk_of_this_is_mine_alone_is_scored_on_the_driver_alike(sample_store, spark, tmp_path, monkeypatch):
    """An author whose records are gone from the store (a re-ingest after the source renamed them) keeps the work
    someone said was theirs: its "this is mine" mention is the only one of its name block, so its chunk has no
    rows for the executors and the Spark build scores it on the driver. Both engines give it the same person."""
    import shutil

    import duckdb

    from scholarlens.analytics import persons
    from scholarlens.identity.corrections import add_correction

    copy = tmp_path / "store.duckdb"
    shutil.copy(sample_store, copy)
    con = connect(copy)
    try:
        (author,) = con.execute("SELECT author_id FROM authorships WHERE author_id LIKE 'openalex:%' "
                                "GROUP BY author_id ORDER BY count(*), author_id LIMIT 1").fetchone()
        (work,) = con.execute("SELECT min(work_id) FROM works WHERE work_id NOT IN "
                              "(SELECT work_id FROM authorships WHERE author_id = ?)", [author]).fetchone()
        add_correction(con, "add-work", author, work, who="test", why="the author list was cut short")
        export_store(con, tmp_path / "input")
    finally:
        con.close()
    files = table_dirs(tmp_path / "input")
    for table in ("authorships", "authorship_institutions"):  # the author's records gone, the correction kept
        rewrite = duckdb.connect()
        rewrite.register("kept", rewrite.sql(f"SELECT * FROM read_parquet('{files[table]}') WHERE author_id <> $author",
                                             params={"author": author}).to_arrow_table())
        target = files[table].parent if files[table].name == "*.parquet" else files[table]
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        rewrite.execute(f"COPY kept TO '{tmp_path / 'input' / table}.parquet' (FORMAT parquet)")
    monkeypatch.setattr(persons, "CHUNK_MENTIONS", 1)  # a chunk per name block: the added work's is its own
    read_on_driver: list[int] = []
    real_chunk_rows = persons._chunk_rows

    def recording_chunk_rows(con, chunk):
        read_on_driver.append(chunk)
        return real_chunk_rows(con, chunk)

    duck = build("duckdb", tmp_path / "input", tmp_path / "duckdb", as_of_year=AS_OF)
    monkeypatch.setattr(persons, "_chunk_rows", recording_chunk_rows)
    build("spark", tmp_path / "input", tmp_path / "spark", as_of_year=AS_OF, spark=spark)
    assert read_on_driver, "no chunk was scored on the driver"
    result = compare_builds(tmp_path / "duckdb", tmp_path / "spark")
    for table in ("persons", "person_mentions", "person_authorships"):
        assert table in result and not result[table]["problems"], result.get(table)
    for out in ("duckdb", "spark"):
        found = duckdb.connect().execute(
            f"SELECT person_id FROM read_parquet('{table_dirs(tmp_path / out)['person_mentions']}') "
            "WHERE work_id = ? AND author_id = ?", [work, author]).fetchall()
        assert found == [(author,)], (out, found)  # the work is the author's, under the author's own id
    assert duck["rows"]["person_mentions"] > 0
