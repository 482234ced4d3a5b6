"""`scholarlens score`: one output line per input line, in order; bad lines get their reason and the run goes on."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from scholarlens.serve.cli import app

runner = CliRunner()

GOOD = [
    {"id": "a", "title": "Deep residual learning for image recognition",
     "abstract": "We present a residual learning framework to ease the training of networks that are substantially "
                 "deeper than those used previously. We evaluate on ImageNet and release code on GitHub.",
     "has_code": True, "n_authors": 4, "n_references": 40},
    {"id": 7, "title": "", "abstract": "A study of attention mechanisms for machine translation with experiments."},
]


def _run(tmp_path, lines, *extra):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["score", "--input", str(src), "--output", str(out), *extra])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else None
    return result, rows


def test_scores_every_good_line_and_explains_every_bad_one(tmp_path):
    lines = [json.dumps(GOOD[0]), "{not json", json.dumps({"id": "c", "title": "No abstract"}), "[1, 2]",
             json.dumps(GOOD[1])]
    result, rows = _run(tmp_path, lines)
    assert result.exit_code == 2  # some lines failed: the exit status says so
    assert "3 line(s) not scored" in result.output
    assert [r.get("line") for r in rows] == [1, 2, 3, 4, 5]
    assert [r["id"] for r in rows] == ["a", None, "c", None, 7]
    assert rows[1]["error"].startswith("not JSON") and "no abstract" in rows[2]["error"]
    assert "not a JSON object" in rows[3]["error"]
    for r in (rows[0], rows[4]):
        assert 0 <= r["ai_score"] <= 100 and round(r["ai_score"], 1) == r["ai_score"]
        assert 0 <= r["p_accept"] <= 1 and 1 <= r["expected_rating"] <= 10
        assert r["backend"] == "offline" and r["model_version"] and r["reasons"]
        assert "drivers" not in r
    assert any("code" in reason for reason in rows[0]["reasons"])  # the has_code field reached the model


def test_all_good_exits_zero_and_is_deterministic(tmp_path):
    lines = [json.dumps(p) for p in GOOD]
    first, rows = _run(tmp_path, lines)
    second, again = _run(tmp_path, lines)
    assert first.exit_code == second.exit_code == 0
    assert rows == again


def test_llm_backend_without_an_endpoint_says_what_is_missing(tmp_path, monkeypatch):
    for var in ("SCHOLARLENS_LLM_BASE_URL", "OPENAI_BASE_URL", "SCHOLARLENS_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SCHOLARLENS_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    result, _ = _run(tmp_path, [json.dumps(GOOD[0])], "--backend", "llm")
    assert result.exit_code == 1 and "needs an endpoint" in result.output


def test_unknown_backend_and_missing_input(tmp_path):
    result = runner.invoke(app, ["score", "--input", str(tmp_path / "x.jsonl"), "--output", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "no such file" in result.output
    result, _ = _run(tmp_path, [json.dumps(GOOD[0])], "--backend", "gpt")
    assert result.exit_code == 1 and "unknown backend" in result.output
