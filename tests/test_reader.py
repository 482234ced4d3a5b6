"""Bad input: whatever cannot be read is quarantined with its reason, and the rest still goes in."""

from __future__ import annotations

import gzip
import json

import pytest

from scholarlens import pipeline
from scholarlens.records import Quarantined, Work
from scholarlens.sources.reader import InputError, expand_paths, read_file
from scholarlens.store import connect


def _quarantined(records):
    return [r for r in records if isinstance(r, Quarantined)]


def test_malformed_json_file_is_quarantined_with_its_reason(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "https://openalex.org/W1", "title": ')
    con = connect(tmp_path / "s.duckdb")
    summary = pipeline.ingest(con, [bad])
    assert summary.quarantined == 1
    (origin, reason) = con.execute("SELECT origin, reason FROM quarantine").fetchone()
    assert origin == str(bad)
    assert reason.startswith("malformed JSON")
    assert con.execute("SELECT count(*) FROM works").fetchone()[0] == 0


def test_jsonl_with_one_bad_line_keeps_the_good_lines(tmp_path, sample_dir):
    page = json.loads((sample_dir / "openalex" / "works" / "W2741809807.json").read_text())
    other = json.loads((sample_dir / "openalex" / "works" / "W2250748100.json").read_text())
    path = tmp_path / "part.jsonl"
    path.write_text(json.dumps(page) + "\n{not json}\n" + json.dumps(other) + "\n")
    records = list(read_file(path))
    assert len([r for r in records if isinstance(r, Work)]) >= 2
    (q,) = _quarantined(records)
    assert q.origin == f"{path}:2" and "malformed JSON line" in q.reason


def test_truncated_gzip_keeps_whole_lines_and_says_so(tmp_path, sample_dir):
    lines = [json.dumps(json.loads((sample_dir / "openalex" / "works" / name).read_text()))
             for name in ("W2741809807.json", "W2250748100.json", "W2612755892.json")]
    blob = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "part_000.jsonl.gz"
    path.write_bytes(blob[: int(len(blob) * 0.8)])
    records = list(read_file(path))
    qs = _quarantined(records)
    assert any("truncated gzip" in q.reason for q in qs)
    works = [r for r in records if isinstance(r, Work)]
    assert 1 <= len(works) < 3  # the intact prefix went in, the cut line did not


def test_unknown_format_and_unrecognised_json(tmp_path):
    (tmp_path / "notes.csv").write_text("a,b,c\n1,2,3\n")
    (tmp_path / "thing.json").write_text('{"hello": "world"}')
    reasons = sorted(q.reason for f in sorted(tmp_path.iterdir()) for q in _quarantined(read_file(f)))
    assert reasons[0].startswith("unknown format")
    assert reasons[1].startswith("unrecognised record")


def test_missing_path_is_an_error_before_anything_is_written(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        expand_paths([tmp_path / "nope.json"])


def test_folders_skip_their_documentation(sample_dir):
    files = expand_paths([sample_dir / "semanticscholar"])
    names = {f.name for f in files}
    assert "SOURCE.md" not in names and "Paper.json" in names


def test_jsonl_whose_first_line_is_broken_still_reads_the_rest(tmp_path, sample_dir):
    good = json.dumps(json.loads((sample_dir / "openalex" / "works" / "W2741809807.json").read_text()))
    path = tmp_path / "part.jsonl"
    path.write_text('{"id": "https://openalex.org/W1", "title": \n' + good + "\n" + good + "\n")
    records = list(read_file(path))
    (q,) = _quarantined(records)
    assert q.origin == f"{path}:1" and "malformed JSON line" in q.reason
    assert len([r for r in records if isinstance(r, Work)]) >= 2


def test_json_lines_are_streamed_not_read_whole(tmp_path, sample_dir):
    """A snapshot part must not sit whole in memory: a line appended after reading began is still seen,
    which a reader that had read the whole file first could not do."""
    line = json.dumps(json.loads((sample_dir / "openalex" / "works" / "W2741809807.json").read_text()))
    assert len(line) > 16_000  # each line is longer than a read buffer
    path = tmp_path / "part_001.jsonl"
    path.write_text((line + "\n") * 3)
    records = read_file(path)
    assert not isinstance(next(records), Quarantined)
    with path.open("a") as f:
        f.write("{broken\n")
    (q,) = _quarantined(list(records))
    assert q.origin == f"{path}:4" and "malformed JSON line" in q.reason
