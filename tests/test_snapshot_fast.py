"""The snapshot ingest's fast path: citations kept unique without a primary key, the Python helpers it uses in
place of the per-record reader's (match key, abstract) equal to those, and the generator's two mixes.

Real works: benchmarks/data/openalex_works (see its SOURCE.md); generated snapshots: benchmarks/snapshotgen.py.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scholarlens import pipeline
from scholarlens.records import Authorship, Citation, Provenance, Work
from scholarlens.snapshot import _UNREADABLE, _match_one, _udf_abstract, ingest_snapshot
from scholarlens.sources.openalex import Unreadable, abstract_from_inverted_index
from scholarlens.store import connect, write_records
from scholarlens.store.matching import match_key

from test_snapshot import _CHILD, TABLES, _snapshotgen, real_works, rows, write_part


def _no_duplicate_citations(con) -> None:
    total, distinct = con.execute(
        "SELECT count(*), count(DISTINCT (citing_key, cited_key)) FROM citations").fetchall()[0]
    assert total == distinct, f"{total - distinct} duplicate citation rows"


@pytest.fixture(scope="module")
def typical(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("typical") / "snap"
    _snapshotgen().generate(400, root, seed=3, dates=2, per_part=100, mix="typical")
    (root / "data" / "works" / "manifest").unlink()
    return root


# --- the generator -------------------------------------------------------------------------------------------

def _generated(root: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(root.rglob("part_*.gz")) for line in gzip.open(f, "rt")]


def test_the_typical_mix_has_the_assumed_averages_and_every_field_of_a_real_work(tmp_path):
    gen = _snapshotgen()
    info = gen.generate(3000, tmp_path / "t", seed=11, dates=1, per_part=1500, mix="typical")
    works = _generated(tmp_path / "t")
    assert info["mix"] == "typical" and len(works) == 3000
    T = gen.TYPICAL
    refs = statistics.mean(len(w["referenced_works"]) for w in works)
    authors = statistics.mean(len(w["authorships"]) for w in works)
    with_abstract = sum(1 for w in works if w["abstract_inverted_index"]) / len(works)
    assert abs(refs - T["references_per_work"]) < 1.5
    assert abs(authors - T["authorships_per_work"]) < 0.6
    assert abs(with_abstract - T["share_with_abstract"]) < 0.06
    assert sum(1 for w in works if not w["referenced_works"]) > 0.1 * len(works)  # many works cite nothing
    # the real record shape: every work has every field its real template has
    fields = {frozenset(w) for w in real_works()}
    assert all(frozenset(w) in fields for w in works)
    assert all(w["referenced_works_count"] == len(w["referenced_works"]) for w in works)
    # about 9 KB per work: lighter than the heavy mix's 24 KB
    assert 5_000 < info["json_bytes"] / len(works) < 14_000
    # no work cites itself, every reference is a generated work, no two works share an id
    ids = {w["id"] for w in works}
    assert len(ids) == len(works)
    assert all(r in ids and r != w["id"] for w in works for r in w["referenced_works"])


def test_the_generator_is_seeded_and_heavy_stays_the_default(tmp_path):
    gen = _snapshotgen()
    a = gen.generate(50, tmp_path / "a", seed=2, dates=1, per_part=50, mix="typical")
    b = gen.generate(50, tmp_path / "b", seed=2, dates=1, per_part=50, mix="typical")
    part = Path("data/works/updated_date=2025-09-01/part_000.gz")
    assert (tmp_path / "a" / part).read_bytes() == (tmp_path / "b" / part).read_bytes()
    heavy = gen.generate(50, tmp_path / "h", seed=2, dates=1, per_part=50)
    assert heavy["mix"] == "heavy" and heavy["json_bytes"] > 2 * a["json_bytes"]
    with pytest.raises(ValueError):
        gen.generate(5, tmp_path / "x", mix="light")


# --- citations without a primary key ---------------------------------------------------------------------------

def test_the_typical_mix_gives_the_same_rows_as_the_per_record_path_and_reruns_add_nothing(tmp_path, typical):
    a, b = connect(tmp_path / "per_record.duckdb"), connect(tmp_path / "snapshot.duckdb")
    pipeline.ingest(a, [typical])
    summary = ingest_snapshot(b, typical, batch_bytes=256 << 10)
    assert summary.works == 400 and summary.via_python == 0
    for t in TABLES:
        assert rows(a, t) == rows(b, t), t
    before = {t: rows(b, t) for t in TABLES}
    ingest_snapshot(b, typical, force=True)  # every work is already stored: the anti-join path
    pipeline.ingest(b, [typical], force=True)  # and the per-record writer over the same works
    assert {t: rows(b, t) for t in TABLES} == before
    _no_duplicate_citations(b)


def test_a_newer_copy_of_a_stored_work_adds_its_new_references_once(tmp_path):
    work = next(w for w in real_works() if len(set(w["referenced_works"])) >= 6)
    old, new = dict(work), dict(work)
    old["referenced_works"] = work["referenced_works"][:3]
    new["referenced_works"] = work["referenced_works"][1:6] + work["referenced_works"][1:2]  # overlap, a repeat
    first = write_part(tmp_path / "a" / "part_000.gz", [json.dumps(old)])
    second = write_part(tmp_path / "b" / "part_000.gz", [json.dumps(new)])
    per_record, snap = connect(tmp_path / "p.duckdb"), connect(tmp_path / "s.duckdb")
    for src in (first, second):
        pipeline.ingest(per_record, [src])
        ingest_snapshot(snap, src)
    assert rows(per_record, "citations") == rows(snap, "citations")
    assert len(rows(snap, "citations")) == 6
    _no_duplicate_citations(snap)


def test_a_store_made_before_keeps_its_citations_key_and_ingests_the_same(tmp_path, typical):
    old_store = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old_store))
    con.execute("CREATE TABLE citations (citing_key VARCHAR NOT NULL, cited_key VARCHAR NOT NULL, source VARCHAR, "
                "PRIMARY KEY (citing_key, cited_key))")
    con.close()
    old, new = connect(old_store), connect(tmp_path / "new.duckdb")
    for con in (old, new):
        ingest_snapshot(con, typical)
        ingest_snapshot(con, typical, force=True)
        write_records(con, [Work(keys=["openalex:W1"], title="A work", provenance=Provenance("openalex", "W1"),
                                 references=["openalex:W9000000001", "openalex:W9000000001"])])
        write_records(con, [Citation("openalex:W1", "openalex:W9000000001", "openalex")])
    for t in TABLES:
        assert rows(old, t) == rows(new, t), t
    _no_duplicate_citations(new)


def test_every_openalex_citing_key_is_a_work_key_after_every_source(sample_store):
    """What the snapshot relies on to append a new work's citations without a lookup: a citation whose citing
    key is an OpenAlex work id exists only where that id is in work_keys (written in the same transaction)."""
    con = connect(sample_store, read_only=True)
    orphans = con.execute("""
        SELECT count(*) FROM citations c WHERE starts_with(c.citing_key, 'openalex:')
        AND NOT EXISTS (SELECT 1 FROM work_keys k WHERE k.key = c.citing_key)""").fetchall()[0][0]
    assert orphans == 0
    assert con.execute("SELECT count(*) FROM citations WHERE starts_with(citing_key, 'openalex:')").fetchall()[0][0] > 0


def test_kill_9_inside_a_part_then_rerun_gives_the_tables_of_an_uninterrupted_run(tmp_path, typical):
    whole = connect(tmp_path / "whole.duckdb")
    ingest_snapshot(whole, typical)
    expected = {t: rows(whole, t) for t in TABLES}
    store = tmp_path / "killed.duckdb"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(store), str(typical), str(64 << 10)],
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = 0
    for line in child.stdout:  # killed at the third batch of the second part: two batches of it committed
        seen += line.split()[0] == "1"
        if seen == 3:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the ingest ended before it could be killed"
    con = connect(store)
    assert con.execute("SELECT count(*) FROM ingested_files").fetchall()[0][0] == 1
    assert 0 < con.execute("SELECT count(*) FROM works").fetchall()[0][0] < 400
    summary = ingest_snapshot(con, typical)
    assert summary.parts_already_done == 1 and summary.parts == 3
    for t in TABLES:
        assert rows(con, t) == expected[t], t
    _no_duplicate_citations(con)


# --- the Python helpers equal the per-record reader's ------------------------------------------------------------

_piece = st.sampled_from(list("abcXYZ019_ ,.'-\t\x1c:é") + ["Editorial ", "reply ", "index", "a long title of words "])
_text = st.lists(_piece, max_size=12).map("".join)


@settings(max_examples=2000, deadline=None)
@given(_text, st.one_of(st.none(), st.integers(-3000, 3000)), _text)
def test_the_match_key_shortcut_equals_match_key(title, year, name):
    authors = [Authorship(author_key="", position=1, raw_name=name)] if name else []
    want = match_key(Work(keys=[], title=title, provenance=Provenance("openalex", None), year=year, authorships=authors))
    assert _match_one(title, year, name) == want


def test_the_abstract_reader_equals_the_per_record_reader():
    texts = [json.dumps(w["abstract_inverted_index"]) if w.get("abstract_inverted_index") is not None else None
             for w in real_works()]
    texts += ['{"b": [1], "a": [0, 2]}', '{"a": [0], "b": [0]}', '{}', '{"a": [0], "a": [1]}', '{"a": [-1], "b": []}',
              '{"a": [1.5]}', '{"a": ["1"]}', '{"a": [true]}', '{"a": 1}', '[1]', 'null', '{"a": [[1]]}',
              '{"x": [99999999999999999999]}']
    got = _udf_abstract(pa.array(texts, type=pa.string())).to_pylist()
    assert sum(1 for t in texts if t) > 90
    for text, g in zip(texts, got):
        try:
            want = None if text is None else abstract_from_inverted_index(json.loads(text))
        except Unreadable:
            want = _UNREADABLE
        # orjson refuses integers past 64 bits, which Python reads: that line goes to the per-record path
        assert g == want or (g == _UNREADABLE and "99999999999999999999" in text), text
