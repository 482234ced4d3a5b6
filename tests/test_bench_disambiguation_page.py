"""bench_disambiguation must not rewrite its page without designs it cannot recover: their out-of-fold runs are
cached in benchmarks/out, which is not in git, so on a fresh checkout a run of one design would otherwise drop
every other design's figures from the page."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_disambiguation as bench  # noqa: E402


def _page(path: Path, designs: list[str]) -> Path:
    rows = "\n".join(f"| {d}{' (shipped)' if d == 'logistic-co-common' else ''} | what | [] | run |" for d in designs)
    path.write_text(f"# page\n\n{bench.QUALITY[0]}\n\n### Designs\n\n| design | what | thresholds | run |\n"
                    f"|---|---|---|---|\n{rows}\n\n### Overall\n\n| set | names |\n|---|---|\n"
                    f"| labeled_names | 60 |\n\n{bench.QUALITY[1]}\n", encoding="utf-8")
    return path


def test_designs_the_page_lists_and_those_a_run_would_drop(tmp_path, monkeypatch):
    page = _page(tmp_path / "page.md", ["previous", "logistic-co-common", "trees"])
    monkeypatch.setattr(bench, "OUT", tmp_path / "out")
    assert bench.designs_on_page(page) == ["previous", "logistic-co-common", "trees"]
    # nothing cached: running the shipped design alone would drop the other two
    assert bench.unrecoverable(["logistic-co-common"], page) == ["previous", "trees"]
    (tmp_path / "out").mkdir()
    bench.cached("trees").write_text("{}", encoding="utf-8")
    assert bench.unrecoverable(["logistic-co-common"], page) == ["previous"]
    assert bench.unrecoverable(["previous", "logistic-co-common"], page) == []
    assert bench.designs_on_page(tmp_path / "missing.md") == []


def test_the_splits_chart_draws_every_split_and_figure_against_the_goal():
    columns = [("labeled_names", "macro"), ("labeled_names", "micro"), ("dblp_names", "macro"), ("dblp_names", "micro")]
    figures = {None: (0.901, 0.892, 0.942, 0.904), 0: (0.895, 0.889, 0.938, 0.901), 1: (0.903, 0.892, 0.943, 0.901)}
    runs = [{"split_seed": seed,
             "report": {s: {"bcubed": {a: {"f1": f1[i]} for i, (s2, a) in enumerate(columns) if s2 == s}}
                        for s in ("labeled_names", "dblp_names")}} for seed, f1 in figures.items()]
    svg = bench.splits_chart(runs, columns)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count("<circle") == len(runs) * len(columns)
    assert svg.count('fill="#2563eb"') == len(columns)  # the fixed split filled, the others rings
    assert "<title>seed 1: 0.903</title>" in svg and "<title>fixed split: 0.904</title>" in svg
    assert f"goal {bench.GOAL:.2f}" in svg
