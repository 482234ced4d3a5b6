"""The command line: profiles in the terminal and as JSON, and one-line errors without tracebacks."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from scholarlens.serve.cli import app

runner = CliRunner()

PROFILE_KEYS = {"name", "field", "h_index", "works_count", "citations", "novelty", "ai_score", "reported", "works"}
WORK_KEYS = {"id", "title", "date", "category", "code", "code_url", "ai_score", "novelty", "citations", "authors", "affiliation", "abstract"}


def test_profile_json_of_the_seed_researcher(sample_store):
    result = runner.invoke(app, ["--store", str(sample_store), "profile", "Lewei Lu", "--json"])
    assert result.exit_code == 0, result.output
    prof = json.loads(result.output)
    assert PROFILE_KEYS <= prof.keys()
    assert prof["name"] == "Lewei Lu" and prof["field"] == "CV"
    reported = {r["metric"]: r for r in prof["reported"]}
    assert {m: reported[m]["value"] for m in ("h_index", "works_count", "citations", "novelty", "ai_score")} == {
        "h_index": 67, "works_count": 79, "citations": 22636, "novelty": 56, "ai_score": 69}
    assert all(r["source"] == "profile-page" and r["as_of"] == "2026" for r in reported.values())
    assert len(prof["works"]) == 50
    for w in prof["works"]:
        assert WORK_KEYS <= w.keys()
    # the page gives no per-paper citations: unknown, not zero
    assert all(w["citations"] is None for w in prof["works"])
    # newest first
    dates = [w["date"] for w in prof["works"]]
    assert dates == sorted(dates, reverse=True)
    internimage = next(w for w in prof["works"] if w["title"].startswith("InternImage"))
    assert internimage["code"] and internimage["code_url"] == "https://github.com/OpenGVLab/InternImage"
    assert internimage["authors"][:3] == ["Wenhai Wang", "Jifeng Dai", "Zhe Chen"]


def test_profile_in_the_terminal_looks_like_the_seed(sample_store):
    result = runner.invoke(app, ["--store", str(sample_store), "profile", "A. Turing", "--limit", "2"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.splitlines()[0] == "A. Turing"
    assert "h-index24" in out  # his 60 S2 papers and one more under a second S2 id (see test_web)
    assert "h_index: semanticscholar reports 23" in out
    assert "Papers" in out


def test_missing_file_is_one_line_and_nonzero(tmp_path):
    result = runner.invoke(app, ["--store", str(tmp_path / "s.duckdb"), "ingest", str(tmp_path / "missing.json")])
    assert result.exit_code != 0
    assert "no such file" in result.output
    assert "Traceback" not in result.output


def test_unknown_author_and_missing_store(tmp_path, sample_store):
    result = runner.invoke(app, ["--store", str(sample_store), "profile", "Nobody Atall"])
    assert result.exit_code != 0 and "no author matches" in result.output
    result = runner.invoke(app, ["--store", str(tmp_path / "none.duckdb"), "profile", "x"])
    assert result.exit_code != 0 and "no store" in result.output and "Traceback" not in result.output


def test_bad_option_is_rejected(sample_store):
    result = runner.invoke(app, ["--store", str(sample_store), "profile", "x", "--limit", "-3"])
    assert result.exit_code == 2


def test_ingest_reports_quarantine(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    result = runner.invoke(app, ["--store", str(tmp_path / "s.duckdb"), "ingest", str(bad)])
    assert result.exit_code == 0, result.output
    assert "records quarantined" in result.output and "1 record(s) quarantined" in result.output
    result = runner.invoke(app, ["--store", str(tmp_path / "s.duckdb"), "quarantine"])
    assert "malformed JSON" in result.output


def test_code_audit_lists_the_badges_without_links(sample_store):
    result = runner.invoke(app, ["--store", str(sample_store), "code-audit"])
    assert result.exit_code == 0, result.output
    assert "6 work(s) with a Code badge and no link" in result.output
    assert "InternVL3" in result.output


def test_demo_refuses_to_overwrite_an_existing_store(sample_store):
    result = runner.invoke(app, ["--store", str(sample_store), "demo", "--no-open"])
    assert result.exit_code != 0 and "exists" in result.output


def test_embed_command_writes_float32_rows_in_input_order(tmp_path, sample_dir):
    import numpy as np

    page = (sample_dir / "profile_pages" / "lewei-lu.txt").read_text(encoding="utf-8")
    abstracts = [line for line in page.splitlines() if len(line) > 400][:6]
    lines = [{"id": f"a{i}", "text": t} for i, t in enumerate(abstracts)]
    lines.append({"id": "again", "text": abstracts[2]})  # a repeat must give the same row
    src = tmp_path / "texts.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "vectors.npy"
    result = runner.invoke(app, ["embed", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    vectors = np.load(out)
    assert vectors.dtype == np.float32 and vectors.shape[0] == 7
    assert np.allclose(vectors[6], vectors[2])
    assert not np.allclose(vectors[0], vectors[1])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_embed_command_reports_a_bad_line(tmp_path):
    src = tmp_path / "texts.jsonl"
    src.write_text('{"id": "a", "text": "fine"}\n{"text": "no id"}\n')
    result = runner.invoke(app, ["embed", "--input", str(src), "--output", str(tmp_path / "v.npy")])
    assert result.exit_code != 0 and ":2:" in result.output and "Traceback" not in result.output
