"""OpenAlex snapshot ingest: the same rows as the per-record path, merging, resume after kill -9, bad input.

The real works are the 156 distinct OpenAlex work objects of benchmarks/data/openalex_works (see its SOURCE.md);
generated snapshots come from benchmarks/snapshotgen.py (the same works with every identifier varied).
"""

from __future__ import annotations

import copy
import gzip
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scholarlens import pipeline
from scholarlens.records import Provenance, Work
from scholarlens.snapshot import find_parts, ingest_snapshot
from scholarlens.sources.reader import InputError
from scholarlens.store import connect, write_records

ROOT = Path(__file__).resolve().parents[1]
REAL_WORKS = ROOT / "benchmarks" / "data" / "openalex_works" / "works.jsonl.gz"
SAMPLE_S2 = ROOT / "src" / "scholarlens" / "sample" / "semanticscholar"

# Every table ingest writes (ingested_files differs on purpose: format and counts; quarantine keeps no time).
TABLES = ["works", "work_keys", "work_sources", "authors", "authorships", "institutions", "authorship_institutions",
          "citations", "counts_by_year", "code_links", "reported", "quarantine", "author_claims"]


def _snapshotgen():
    spec = importlib.util.spec_from_file_location("snapshotgen", ROOT / "benchmarks" / "snapshotgen.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def real_works() -> list[dict]:
    with gzip.open(REAL_WORKS, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_part(path: Path, lines: list[str | bytes], *, truncate: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
    blob = gzip.compress(data, mtime=0)
    path.write_bytes(blob[: len(blob) * 2 // 3] if truncate else blob)
    return path


def rows(con, table: str) -> list[tuple]:
    cols = [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND column_name <> 'first_seen' "
        "ORDER BY ordinal_position", [table]).fetchall()]
    return sorted(con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)


def assert_same_tables(a, b) -> None:
    for t in TABLES:
        ra, rb = rows(a, t), rows(b, t)
        assert ra == rb, f"{t}: {len(ra)} rows per record, {len(rb)} by snapshot; first differences: " \
                         f"{sorted(set(ra) - set(rb), key=repr)[:2]} / {sorted(set(rb) - set(ra), key=repr)[:2]}"


def both_paths(tmp_path: Path, src: Path, *, before=None, **kw):
    """(per-record store, snapshot store, summary) for the same input, after the same ``before`` step."""
    a, b = connect(tmp_path / "per_record.duckdb"), connect(tmp_path / "snapshot.duckdb")
    if before:
        before(a)
        before(b)
    pipeline.ingest(a, [src])
    summary = ingest_snapshot(b, src, **kw)
    return a, b, summary


@pytest.fixture(scope="module")
def real_snapshot(tmp_path_factory) -> Path:
    """The real works over two dates, the second part repeating five works of the first (a newer copy)."""
    root = tmp_path_factory.mktemp("real") / "snap"
    works = real_works()
    half = len(works) // 2
    works_dir = root / "data" / "works"
    write_part(works_dir / "updated_date=2025-10-01" / "part_000.gz", [json.dumps(w) for w in works[:half]])
    write_part(works_dir / "updated_date=2025-10-08" / "part_000.gz",
               [json.dumps(w) for w in works[half:] + works[:5]])
    return root


def test_real_works_give_the_same_rows_as_the_per_record_path(tmp_path, real_snapshot):
    a, b, summary = both_paths(tmp_path, real_snapshot, batch_bytes=1 << 20)  # several batches per part
    assert_same_tables(a, b)
    assert summary.parts == 2 and summary.lines == 161 and summary.quarantined == 0
    assert summary.via_sql > 140  # the repeats (and works they meet) go through the per-record path
    abstract = b.execute("SELECT abstract FROM works WHERE work_id = 'openalex:W2741809807'").fetchall()[0][0]
    assert abstract.startswith("Despite growing interest in Open Access (OA) to scholarly literature")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """300 generated works over two dates in four parts (no manifest: the per-record path would quarantine it)."""
    root = tmp_path_factory.mktemp("gen") / "snap"
    _snapshotgen().generate(300, root, seed=5, dates=2, per_part=100)
    (root / "data" / "works" / "manifest").unlink()
    return root


def test_generated_snapshot_gives_the_same_rows_across_batches_and_parts(tmp_path, generated):
    a, b, summary = both_paths(tmp_path, generated, batch_bytes=1 << 20)
    assert_same_tables(a, b)
    assert summary.parts == 4 and summary.works == 300 and summary.via_python == 0
    # every generated work is its own work: nothing merged by accident
    assert b.execute("SELECT count(*) FROM works").fetchall()[0][0] == 300


def test_a_work_already_stored_from_semantic_scholar_keeps_its_id(tmp_path, real_snapshot):
    a, b, _ = both_paths(tmp_path, real_snapshot, before=lambda con: pipeline.ingest(con, [SAMPLE_S2]))
    assert_same_tables(a, b)
    # LLaMA: Semantic Scholar's record has the arXiv DOI that OpenAlex's W4322718191 carries
    wid = b.execute("SELECT work_id FROM work_keys WHERE key = 'openalex:W4322718191'").fetchall()[0][0]
    assert not wid.startswith("openalex:")
    sources = {s for (s,) in b.execute("SELECT source FROM work_sources WHERE work_id = ?", [wid]).fetchall()}
    assert sources == {"openalex", "semanticscholar"}


def test_a_line_that_joins_two_stored_works_merges_them_as_the_writer_does(tmp_path):
    work = copy.deepcopy(next(w for w in real_works() if w["id"].endswith("W2741809807")))
    work["locations"].append({"landing_page_url": "https://arxiv.org/abs/1111.22222v2", "pdf_url": None})
    src = write_part(tmp_path / "snap" / "part_000.gz", [json.dumps(work)])

    def two_works(con):
        write_records(con, [Work(keys=["s2:a", "doi:10.7717/peerj.4375"], title="A", provenance=Provenance("semanticscholar", "a"))])
        write_records(con, [Work(keys=["s2:b", "arxiv:1111.22222"], title="B", provenance=Provenance("semanticscholar", "b"))])

    a, b, summary = both_paths(tmp_path, src, before=two_works)
    assert_same_tables(a, b)
    assert summary.via_python == 1
    assert b.execute("SELECT count(*) FROM works").fetchall()[0][0] == 1


def test_bad_lines_and_a_truncated_gzip_are_quarantined_with_their_line(tmp_path):
    works = real_works()[:40]
    lines = [json.dumps(w) for w in works]
    lines.insert(2, '{"id": "https://openalex.org/W1", "title": ')  # line 3: cut short
    lines.insert(5, "")  # a blank line is skipped, as by the per-record path
    lines.insert(7, b"\xff\xfe not utf-8")  # line 8
    odd = copy.deepcopy(works[3])
    odd["publication_year"] = "2018"  # text where a number belongs: the per-record reader refuses the work
    lines.append(json.dumps(odd))
    folder = tmp_path / "snap" / "data" / "works" / "updated_date=2025-10-01"
    write_part(folder / "part_000.gz", lines)
    write_part(folder / "part_001.gz", [json.dumps(w) for w in real_works()[40:140]], truncate=True)
    write_part(folder / "part_002.gz", [])

    a, b, summary = both_paths(tmp_path, tmp_path / "snap")
    assert_same_tables(a, b)
    reasons = dict(b.execute("SELECT origin, reason FROM quarantine").fetchall())
    part0, part1 = str(folder / "part_000.gz"), str(folder / "part_001.gz")
    assert reasons[f"{part0}:3"].startswith("malformed JSON line")
    assert reasons[f"{part0}:8"].startswith("malformed JSON line")
    assert reasons[f"{part0}:{len(lines)}"].startswith("unreadable OpenAlex work: publication_year is not a whole number")
    assert reasons[part1].startswith("truncated gzip")
    assert reasons[str(folder / "part_002.gz")] == "empty file"
    assert summary.quarantined == 5
    loaded = b.execute("SELECT count(*) FROM work_sources WHERE source_id IN (SELECT unnest(?::VARCHAR[]))",
                       [[w["id"].rsplit("/", 1)[1] for w in real_works()[40:140]]]).fetchall()[0][0]
    assert 0 < loaded < 100  # the intact lines before the break are in


def test_unusual_but_readable_lines_go_through_the_per_record_path(tmp_path):
    base = real_works()
    odd = []
    w = copy.deepcopy(base[0]); w["display_name"] = 12345; odd.append(json.dumps(w))  # refused: title not text
    w = copy.deepcopy(base[1]); w["authorships"][0]["raw_affiliation_strings"] = [7, "Somewhere"]; odd.append(json.dumps(w))
    w = copy.deepcopy(base[2]); w["locations"].insert(0, {"landing_page_url": "https://arxiv.org/abs/2101.00001v3", "pdf_url": "https://ex.org/é"})
    odd.append(json.dumps(w, ensure_ascii=False))
    w = copy.deepcopy(base[3]); w["abstract_inverted_index"] = {"a": [0], "b": [1.5]}; odd.append(json.dumps(w))
    w = copy.deepcopy(base[4]); w["counts_by_year"] = [{"year": 2020.0, "cited_by_count": 3}, {"year": 2020, "cited_by_count": 4}]
    odd.append(json.dumps(w))
    w = copy.deepcopy(base[5]); w["primary_topic"] = None; odd.append(json.dumps(w))  # category from the concepts
    w = copy.deepcopy(base[6]); w["is_authors_truncated"] = "yes"; odd.append(json.dumps(w))
    w = copy.deepcopy(base[7]); odd.append(json.dumps(w)[:-1] + ', }')  # a trailing comma Python refuses
    w = copy.deepcopy(base[8]); w["paperId"] = None; odd.append(json.dumps(w))  # a Semantic Scholar key
    odd.append(json.dumps({"id": "https://openalex.org/A5017898742", "display_name": "An author in the works"}))
    odd += [json.dumps(x) for x in base[9:30]]
    src = write_part(tmp_path / "snap" / "part_000.gz", odd)
    a, b, summary = both_paths(tmp_path, src)
    assert_same_tables(a, b)
    assert summary.via_python >= 7 and summary.via_sql >= 21  # concepts and non-ASCII URLs stay in SQL (UDFs)


def test_layouts_are_found_and_other_files_skipped(tmp_path, real_snapshot):
    works_dir = real_snapshot / "data" / "works"
    (works_dir / "manifest").write_text("{}")
    every = [works_dir / "updated_date=2025-10-01" / "part_000.gz", works_dir / "updated_date=2025-10-08" / "part_000.gz"]
    for path in (real_snapshot, real_snapshot / "data", works_dir):
        parts, skipped = find_parts(path)
        assert parts == every and skipped == [works_dir / "manifest"]
    assert find_parts(every[1].parent) == ([every[1]], [])
    assert find_parts(every[0]) == ([every[0]], [])
    with pytest.raises(InputError):
        find_parts(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        find_parts(tmp_path / "empty")
    (works_dir / "manifest").unlink()


def test_rerun_skips_done_parts_and_force_changes_nothing(tmp_path, real_snapshot):
    con = connect(tmp_path / "s.duckdb")
    calls = []
    first = ingest_snapshot(con, real_snapshot, progress=lambda done, total, path, info: calls.append(info))
    before = {t: rows(con, t) for t in TABLES}
    again = ingest_snapshot(con, real_snapshot)
    assert again.parts == 0 and again.parts_already_done == 2
    ingest_snapshot(con, real_snapshot, force=True)
    assert {t: rows(con, t) for t in TABLES} == before
    assert first.works == 161 and calls[-1].parts_done == 2 and calls[-1].works_done == 161
    assert calls[-1].bytes_done == calls[-1].bytes_total and "works/s" in str(calls[-1])


_CHILD = textwrap.dedent("""
    import sys
    from scholarlens.snapshot import ingest_snapshot
    from scholarlens.store import connect
    con = connect(sys.argv[1])
    def progress(done, total, path, info):
        print(info.parts_done, info.works_done, flush=True)
    ingest_snapshot(con, sys.argv[2], progress=progress, batch_bytes=int(sys.argv[3]))
    print("finished", flush=True)
""")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, generated) -> dict[str, list]:
    con = connect(tmp_path_factory.mktemp("whole") / "whole.duckdb")
    ingest_snapshot(con, generated)
    return {t: rows(con, t) for t in TABLES}


@pytest.mark.parametrize("parts_done, reports", [(1, 3), (3, 2)])
def test_kill_9_then_rerun_gives_the_tables_of_an_uninterrupted_run(tmp_path, generated, uninterrupted, parts_done, reports):

    # The child reports each part it starts and each batch it loads (batches of 256 KB: several per part), and
    # is killed at its ``reports``-th report after ``parts_done`` parts: inside the second part's transaction,
    # or inside the last one's.
    store = tmp_path / "killed.duckdb"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(store), str(generated), str(256 << 10)],
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = 0
    for line in child.stdout:
        seen += line.split()[0] == str(parts_done)
        if seen == reports:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the ingest ended before it could be killed"

    con = connect(store)
    done = con.execute("SELECT count(*) FROM ingested_files").fetchall()[0][0]
    assert done == parts_done
    summary = ingest_snapshot(con, generated)
    assert summary.parts_already_done == done and summary.parts == 4 - done
    for t in TABLES:
        assert rows(con, t) == uninterrupted[t], t


def test_a_failure_while_staging_ahead_leaves_whole_batches_and_a_usable_connection(tmp_path, generated, uninterrupted,
                                                                                    monkeypatch):
    """The next batch is staged in a thread on a second connection while this one writes: a failure there (here
    the fourth batch staged, ahead of the writes) ends the ingest with that error, after the thread has stopped;
    only whole batches were committed, the in-memory stage is gone, and a rerun gives the uninterrupted tables."""
    from scholarlens import snapshot

    real_stage = snapshot._stage_batch
    staged = []

    def failing_stage(con, batch, categories, slot):
        staged.append(slot)
        if len(staged) == 4:
            raise RuntimeError("stage failed")
        return real_stage(con, batch, categories, slot)

    monkeypatch.setattr(snapshot, "_stage_batch", failing_stage)
    con = connect(tmp_path / "s.duckdb")
    with pytest.raises(RuntimeError, match="stage failed"):
        ingest_snapshot(con, generated, batch_bytes=1 << 18)
    assert staged[:4] == [1, 0, 1, 0]  # two slots, taken in turn
    committed = con.execute("SELECT count(*) FROM works").fetchall()[0][0]
    assert 0 < committed < 300  # the batches before the failure, and no part of the failed one's
    assert not con.execute("SELECT 1 FROM duckdb_databases() WHERE database_name = '_sl_stage'").fetchall()
    monkeypatch.setattr(snapshot, "_stage_batch", real_stage)
    ingest_snapshot(con, generated, batch_bytes=1 << 18)
    assert {t: rows(con, t) for t in TABLES} == uninterrupted
