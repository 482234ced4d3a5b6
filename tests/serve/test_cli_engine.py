"""`export` and `build --engine ... --input --output`: the store's tables out as Parquet, the results back as Parquet."""

from __future__ import annotations

import duckdb
from typer.testing import CliRunner

from scholarlens.serve.cli import app

runner = CliRunner()


def test_export_then_build_elsewhere_gives_the_stores_own_figures(sample_store, tmp_path):
    exported, results = tmp_path / "export", tmp_path / "results"
    result = runner.invoke(app, ["--store", str(sample_store), "export", "--format", "parquet", "--output", str(exported)])
    assert result.exit_code == 0, result.output
    assert (exported / "works").exists() and not (exported / "author_metrics").exists()  # inputs only
    result = runner.invoke(app, ["build", "--engine", "duckdb", "--input", str(exported), "--output", str(results)])
    assert result.exit_code == 0, result.output
    con = duckdb.connect()
    theirs = con.execute(
        f"SELECT author_id, works_count, h_index FROM read_parquet('{results}/author_metrics/*.parquet') ORDER BY 1").fetchall()
    store = duckdb.connect(str(sample_store), read_only=True)
    ours = store.execute("SELECT author_id, works_count, h_index FROM author_metrics ORDER BY 1").fetchall()
    assert theirs == ours and len(ours) > 100


def test_engine_options_are_checked(sample_store, tmp_path):
    bad = [["build", "--engine", "flink"], ["build", "--input", str(tmp_path)],
           ["build", "--spark-master", "spark://x:7077"], ["export", "--format", "csv", "--output", str(tmp_path)]]
    for args in bad:
        result = runner.invoke(app, ["--store", str(sample_store), *args])
        assert result.exit_code == 2, (args, result.output)


def test_import_results_brings_a_build_made_elsewhere_into_the_store(sample_store, tmp_path):
    import shutil

    store = tmp_path / "copy.duckdb"
    shutil.copy(sample_store, store)
    exported, results = tmp_path / "export", tmp_path / "results"
    assert runner.invoke(app, ["--store", str(store), "export", "--output", str(exported)]).exit_code == 0
    assert runner.invoke(app, ["build", "--input", str(exported), "--output", str(results)]).exit_code == 0
    con = duckdb.connect(str(store))
    before = con.execute("SELECT count(*) FROM author_metrics").fetchone()[0]
    con.execute("DELETE FROM author_metrics")  # the store has lost its figures: the import must bring them back
    con.close()
    result = runner.invoke(app, ["--store", str(store), "import-results", str(results)])
    assert result.exit_code == 0, result.output
    assert "result tables" in result.output
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute("SELECT count(*) FROM author_metrics").fetchone()[0] == before > 100
    con.close()


def test_import_results_refuses_a_folder_that_is_not_a_build(sample_store, tmp_path):
    exported = tmp_path / "export"
    assert runner.invoke(app, ["--store", str(sample_store), "export", "--output", str(exported)]).exit_code == 0
    for folder in (exported, tmp_path / "missing"):  # an export holds inputs, not results
        result = runner.invoke(app, ["--store", str(sample_store), "import-results", str(folder)])
        assert result.exit_code == 2, result.output
