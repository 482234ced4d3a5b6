"""The store keeps one row per fact however often it is written, and merges works across sources."""

from __future__ import annotations

import datetime as dt

import pytest

from scholarlens import pipeline
from scholarlens.analytics.build import analyse
from scholarlens.records import Authorship, Provenance, ReportedFigure, Work
from scholarlens.store import connect, normalize_key, table_counts, write_records


def test_ingesting_the_whole_sample_twice_leaves_identical_rows(tmp_path, sample_dir):
    con = connect(tmp_path / "s.duckdb")
    first = pipeline.ingest(con, [sample_dir])
    analyse(con)
    after_first = table_counts(con)
    contents = _contents(con)
    # force=True rewrites every file instead of skipping the ones marked done: the upserts must add nothing
    # and change nothing.
    pipeline.ingest(con, [sample_dir], force=True)
    analyse(con)
    assert table_counts(con) == after_first
    assert _contents(con) == contents
    assert after_first["works"] > 1000  # the sample is not trivially small
    assert first.files > 0 and first.objects > first.files
    # and a plain rerun skips every file, having marked them done
    again = pipeline.ingest(con, [sample_dir])
    assert again.files == 0 and again.files_already_done == first.files


def _contents(con) -> dict[str, list]:
    """Every row of the record tables, in a stable order (timestamps left out)."""
    tables = {"works": "work_id", "work_keys": "key", "work_sources": "work_id, source", "authors": "author_id",
              "authorships": "work_id, author_id", "citations": "citing_key, cited_key", "code_links": "work_id, url",
              "reported": "entity, entity_id, metric, source", "quarantine": "origin, reason"}
    columns = {"quarantine": "* EXCLUDE (first_seen)"}
    return {t: con.execute(f"SELECT {columns.get(t, '*')} FROM {t} ORDER BY {order}").fetchall() for t, order in tables.items()}


def test_same_doi_from_two_sources_is_one_work_with_both_keys(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    write_records(con, [Work(keys=["openalex:W1", "doi:10.1000/ABC"], title="A title", provenance=Provenance("openalex", "W1"), cited_by_count=3)])
    write_records(con, [Work(keys=["s2:xyz", "doi:https://doi.org/10.1000/abc"], title="A title", abstract="Text.", provenance=Provenance("semanticscholar", "xyz"), cited_by_count=5)])
    rows = con.execute("SELECT work_id, abstract, cited_by_count FROM works").fetchall()
    assert rows == [("openalex:W1", "Text.", 5)]
    keys = {k for (k,) in con.execute("SELECT key FROM work_keys").fetchall()}
    assert keys == {"openalex:W1", "doi:10.1000/abc", "s2:xyz"}
    sources = {s for (s,) in con.execute("SELECT source FROM work_sources").fetchall()}
    assert sources == {"openalex", "semanticscholar"}


def test_a_record_that_joins_two_existing_works_merges_them(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    p = Provenance("x", None)
    write_records(con, [Work(keys=["doi:10.1/a"], title="T", provenance=p, authorships=[Authorship("name:ann", 1, "Ann")])])
    write_records(con, [Work(keys=["arxiv:2101.00001v2"], title="T", provenance=p, publication_date=dt.date(2021, 1, 1),
                             authorships=[Authorship("name:bob", 2, "Bob")])])
    assert con.execute("SELECT count(*) FROM works").fetchone()[0] == 2
    write_records(con, [Work(keys=["s2:1", "doi:10.1/a", "arxiv:2101.00001"], title="T", provenance=p)])
    assert con.execute("SELECT count(*) FROM works").fetchone()[0] == 1
    (work_id,) = con.execute("SELECT work_id FROM works").fetchone()
    assert {a for (a,) in con.execute("SELECT author_id FROM authorships WHERE work_id = ?", [work_id]).fetchall()} == {"name:ann", "name:bob"}
    assert con.execute("SELECT publication_date FROM works").fetchone()[0] == dt.date(2021, 1, 1)
    assert con.execute("SELECT count(DISTINCT work_id) FROM work_keys").fetchone()[0] == 1


def test_key_normalisation():
    assert normalize_key("doi:https://doi.org/10.1/ABC") == "doi:10.1/abc"
    assert normalize_key("arxiv:2211.05778v3") == "arxiv:2211.05778"
    assert normalize_key("openalex:W123") == "openalex:W123"


def test_a_killed_ingest_resumes_without_duplicates(tmp_path, sample_dir, monkeypatch):
    """Kill the build in the middle of a file (after some batches committed); the rerun must finish the job
    with exactly the rows of an uninterrupted build."""
    target = sample_dir / "semanticscholar" / "Paper.json"

    clean = connect(tmp_path / "clean.duckdb")
    pipeline.ingest(clean, [target])
    expected = table_counts(clean)
    expected.pop("ingested_files")

    con = connect(tmp_path / "killed.duckdb")
    monkeypatch.setattr(pipeline, "BATCH_RECORDS", 500)
    calls = {"n": 0}
    real = pipeline.write_records

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "write_records", dying)
    with pytest.raises(KeyboardInterrupt):
        pipeline.ingest(con, [target])
    partial = table_counts(con)
    assert 0 < partial["works"] < expected["works"]  # some batches landed, the file is not marked done
    assert partial["ingested_files"] == 0

    monkeypatch.setattr(pipeline, "write_records", real)
    summary = pipeline.ingest(con, [target])
    assert summary.files == 1
    resumed = table_counts(con)
    assert resumed.pop("ingested_files") == 1
    assert resumed == expected


def test_reported_figures_keep_their_provenance(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    prov = Provenance("openalex", "A1", "reported", "2025-10-01")
    write_records(con, [ReportedFigure("author", "openalex:A1", "h_index", 12, prov)])
    write_records(con, [ReportedFigure("author", "openalex:A1", "h_index", 13, Provenance("openalex", "A1", "reported", "2025-11-01"))])
    assert con.execute("SELECT value, source, as_of FROM reported").fetchall() == [(13.0, "openalex", "2025-11-01")]


def test_a_merge_inside_one_batch_leaves_no_row_on_the_absorbed_work(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    write_records(con, [
        Work(keys=["doi:10.1/a"], title="T", provenance=Provenance("openalex", "A"), cited_by_count=3,
             authorships=[Authorship("name:ann", 1, "Ann")]),
        Work(keys=["s2:b", "arxiv:2101.00001"], title="T", provenance=Provenance("semanticscholar", "B"), cited_by_count=5,
             authorships=[Authorship("name:bob", 1, "Bob")]),
        Work(keys=["s2ag:c", "doi:10.1/a", "arxiv:2101.00001"], title="T", provenance=Provenance("s2ag", "C")),
    ])
    (work_id,) = con.execute("SELECT work_id FROM works").fetchone()
    for table in ("work_keys", "work_sources", "authorships", "counts_by_year", "code_links"):
        ids = {w for (w,) in con.execute(f"SELECT DISTINCT work_id FROM {table}").fetchall()}
        assert ids <= {work_id}, table
    assert {a for (a,) in con.execute("SELECT author_id FROM authorships").fetchall()} == {"name:ann", "name:bob"}
    assert con.execute("SELECT cited_by_count FROM works").fetchone()[0] == 5
    assert {e for (e,) in con.execute("SELECT DISTINCT entity_id FROM reported WHERE entity = 'work'").fetchall()} == {work_id}


def test_a_merge_across_batches_keeps_the_larger_citation_count(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    write_records(con, [Work(keys=["doi:10.1/a"], title="T", provenance=Provenance("x", None), cited_by_count=3)])
    write_records(con, [Work(keys=["arxiv:2101.00001"], title="T", provenance=Provenance("y", None), cited_by_count=5)])
    write_records(con, [Work(keys=["doi:10.1/a", "arxiv:2101.00001"], title="T", provenance=Provenance("z", None))])
    assert con.execute("SELECT count(*), max(cited_by_count) FROM works").fetchone() == (1, 5)
