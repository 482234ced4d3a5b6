"""Rebuild the offline AI Score model from data/iclr_openreview, and cross-validate it against the baselines.

    python -m scholarlens.aiscore.train [report.json]     # rewrites aiscore_assets/, prints the report
    from scholarlens.aiscore.train import main; report = main()

Data (see data/iclr_openreview/SOURCE.md): the 490 ICLR 2017 submissions (489 with text; one has neither title
nor abstract) with their decisions (oral or poster = accepted; rejected or invited to the workshop = not) and the
mean rating of their reviews (1,511 reviews, every paper has 2-5). The 911 ICLR 2018 submissions have no
decision in the data and none is sought: their texts are used *unlabelled*, only to fit the TF-IDF vocabulary,
idf and LSA directions (as a store fits its embedder on its own texts). Reviews serve as the training target
(mean rating) and nothing else; at scoring time only title, abstract and metadata exist.

Recipe (RECIPE; docs/bench/aiscore.md lists what else was tried and how this one was picked):
1. LSA (embed.Lsa: TF-IDF over words and word pairs, randomized SVD, seed 0) fitted on the training papers' and
   the 2018 texts, 128 directions.
2. Hand features (features.HAND_FEATURES) standardised with the training papers' mean and deviation.
3. One ridge regression of the mean reviewer rating per point of GRID: the first ``dim`` LSA directions beside
   the hand features times ``hand_weight`` (how much they count against the text in the shared penalty),
   penalty ``alpha``. The score is the mean of the 60 ridges' z-scored predictions: no hyperparameter is
   *selected*, because selecting one by inner cross-validation on 390 papers was noisier than the differences
   between them (nested selection scored 0.566 against 0.581 for the average; docs/bench/aiscore.md).
4. Calibration on held-out scores (INNER: 5 folds x 2 repeats inside the training papers): Platt scaling (a
   logistic fit of accepted on the ensemble score, Platt's smoothed targets) gives p_accept, and a least-squares
   line gives the expected mean rating. Then the ridges are refitted on all training papers.
5. Everything is linear in the TF-IDF row and the hand features, so the model collapses to one weight per term
   and per hand feature (to_model): that is what ships.
Evaluation (OUTER): 5-fold stratified cross-validation repeated 5 times (seed 0) on the 2017 papers; per fold,
AUROC (accepted vs not) of the raw score and Spearman correlation with the mean rating; mean and sd over the 25
folds. The baselines run on the same folds. Everything is seeded: two runs give the same numbers and model.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..embed import Lsa, _one_blas_thread
from . import features as F
from .model import ASSETS, AiScoreModel

DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "iclr_openreview"
FILES = ("ICLR17_submissions.csv", "ICLR17_reviews.csv", "ICLR18_submissions_nodecision.csv")
RECIPE = "lsa-ridge-1"  # change when the recipe changes: it is part of model_version
LSA_DIM = 128
LSA_SEED = 0
GRID = {"dim": (32, 64, 128), "alpha": (0.1, 0.3, 1.0, 3.0, 10.0), "hand_weight": (0.0, 0.05, 0.1, 0.2)}
OUTER = {"n_splits": 5, "n_repeats": 5, "random_state": 0}
INNER = {"n_splits": 5, "n_repeats": 2, "random_state": 1}


# ----------------------------------------------------------------------------------------------------------------
# Data


@dataclass
class Iclr:
    """The labelled 2017 papers (those with text) and the unlabelled 2018 texts, prepared once."""

    pids: list[str]
    texts: list[F.PaperText]
    accepted: np.ndarray  # bool
    mean_rating: np.ndarray
    n_reviews: np.ndarray
    keywords: list[list[str]]
    texts18: list[F.PaperText]
    fingerprint: str
    n_without_text: int
    tokens: list[list[str]] = field(init=False)
    terms: list[list[str]] = field(init=False)
    tokens18: list[list[str]] = field(init=False)
    hand: np.ndarray = field(init=False)

    def __post_init__(self):
        self.tokens = F.token_lists(self.texts)
        self.terms = F.term_lists(self.texts)
        self.tokens18 = F.token_lists(self.texts18)
        self.hand = F.hand_features(self.texts)

    def __len__(self) -> int:
        return len(self.texts)


def fingerprint(folder: Path = DATA_DIR) -> str:
    """sha256 over the three CSV files' names and bytes: which data a model was trained on."""
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(name.encode())
        digest.update((Path(folder) / name).read_bytes())
    return digest.hexdigest()


def _rows(path: Path) -> list[dict]:
    csv.field_size_limit(sys.maxsize)  # abstracts and reviews hold newlines and run long
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def load_iclr(folder: Path | None = None) -> Iclr:
    folder = Path(folder or DATA_DIR)
    if not (folder / FILES[0]).exists():
        raise FileNotFoundError(f"{folder}: no {FILES[0]}; training needs the repository's data/iclr_openreview "
                                "(it is not shipped in the package): pass its folder")
    ratings: dict[str, list[float]] = {}
    for review in _rows(folder / FILES[1]):
        ratings.setdefault(review["PID"], []).append(float(review["Rating"]))
    pids, texts, accepted, mean_rating, n_reviews, keywords, dropped = [], [], [], [], [], [], 0
    for row in _rows(folder / FILES[0]):
        try:
            text = F.prepare({"title": row["Title"], "abstract": row["Abstract"]})
        except ValueError:
            dropped += 1
            continue
        if row["PID"] not in ratings:
            raise ValueError(f"{row['PID']}: a 2017 submission without reviews")
        pids.append(row["PID"])
        texts.append(text)
        accepted.append(int(row["Decision"]) in (1, 2))  # 1 oral, 2 poster; 0 rejected, -1 workshop
        mean_rating.append(float(np.mean(ratings[row["PID"]])))
        n_reviews.append(len(ratings[row["PID"]]))
        keywords.append([k.strip().lower() for k in ast.literal_eval(row["Keyword"] or "[]") if k.strip()])
    texts18 = []
    for row in _rows(folder / FILES[2]):
        try:
            texts18.append(F.prepare({"title": row["Title"], "abstract": row["Abstract"]}))
        except ValueError:
            continue
    return Iclr(pids, texts, np.array(accepted), np.array(mean_rating), np.array(n_reviews), keywords, texts18,
                fingerprint(folder), dropped)


# ----------------------------------------------------------------------------------------------------------------
# Pieces


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept, in closed form: (weights, intercept)."""
    x_mean, y_mean = x.mean(axis=0), y.mean()
    xc = x - x_mean
    if xc.shape[1] <= xc.shape[0]:
        w = np.linalg.solve(xc.T @ xc + alpha * np.eye(xc.shape[1]), xc.T @ (y - y_mean))
    else:  # wide (e.g. TF-IDF): the same solution through the papers x papers system
        w = xc.T @ np.linalg.solve(xc @ xc.T + alpha * np.eye(xc.shape[0]), y - y_mean)
    return w, float(y_mean - x_mean @ w)


def platt(scores: np.ndarray, accepted: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """(a, b) of p = 1 / (1 + exp(-(a s + b))) by Newton's method on Platt's smoothed targets."""
    positives = int(accepted.sum())
    negatives = len(accepted) - positives
    target = np.where(accepted, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
    design = np.column_stack([scores, np.ones_like(scores)])
    params = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ params)))
        gradient = design.T @ (p - target)
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        params -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(params[0]), float(params[1])


def splits(labels: np.ndarray, n_splits: int, n_repeats: int, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import RepeatedStratifiedKFold

    folds = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=random_state)
    return list(folds.split(np.zeros(len(labels)), labels))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half): equals sklearn's roc_auc_score."""
    from scipy.stats import rankdata

    positive = np.asarray(labels, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])


def fit_lsa(data: Iclr, idx: np.ndarray, dim: int = LSA_DIM) -> tuple[Lsa, np.ndarray]:
    """LSA fitted on the papers idx and the 2018 texts; and the LSA features of every 2017 paper."""
    lsa = Lsa.fit([data.tokens[i] for i in idx] + data.tokens18, dim, LSA_SEED)
    matrix = F.tfidf(data.terms, lsa.term_id, lsa.idf)
    return lsa, np.asarray(matrix @ lsa.projection, np.float64)


# ----------------------------------------------------------------------------------------------------------------
# The shipped recipe


@dataclass
class Member:
    """One ridge of the ensemble: its LSA width, hand-feature weight and penalty, weights and score scale."""

    dim: int
    hand_weight: float
    alpha: float
    weights: np.ndarray  # over [first dim LSA directions, hand_weight * standardised hand features]
    mean: float  # of the member's score over its training papers
    scale: float  # and its standard deviation: members are averaged as z-scores


@dataclass
class Fitted:
    lsa: Lsa
    lsa_features: np.ndarray  # every 2017 paper x LSA_DIM, in this fit's LSA
    hand_mean: np.ndarray
    hand_scale: np.ndarray
    hand: np.ndarray  # every 2017 paper's raw hand features
    members: list[Member]
    platt: tuple[float, float]
    rating: tuple[float, float]  # intercept, slope

    def raw(self, rows: np.ndarray) -> np.ndarray:
        return _ensemble_score(self.members, self.lsa_features, (self.hand - self.hand_mean) / self.hand_scale, rows)


def _design(lsa_x: np.ndarray, z: np.ndarray, rows: np.ndarray, dim: int, hand_weight: float) -> np.ndarray:
    return np.hstack([lsa_x[rows, :dim], hand_weight * z[rows]])


def _fit_members(lsa_x: np.ndarray, z: np.ndarray, rows: np.ndarray, rating: np.ndarray, grid: dict) -> list[Member]:
    """One ridge per grid point on the papers rows; one eigendecomposition serves every alpha of a design."""
    members = []
    y = rating[rows] - rating[rows].mean()
    for dim in grid["dim"]:
        for hand_weight in grid["hand_weight"]:
            x = _design(lsa_x, z, rows, dim, hand_weight)
            xc = x - x.mean(axis=0)
            values, vectors = np.linalg.eigh(xc.T @ xc)
            projected = vectors.T @ (xc.T @ y)
            for alpha in grid["alpha"]:
                w = vectors @ (projected / (values + alpha))
                score = x @ w
                members.append(Member(dim, hand_weight, alpha, w, float(score.mean()), float(score.std()) or 1.0))
    return members


def _ensemble_score(members: list[Member], lsa_x: np.ndarray, z: np.ndarray, rows: np.ndarray) -> np.ndarray:
    total = np.zeros(len(rows))
    designs: dict[tuple[int, float], np.ndarray] = {}
    for m in members:
        key = (m.dim, m.hand_weight)
        if key not in designs:
            designs[key] = _design(lsa_x, z, rows, m.dim, m.hand_weight)
        total += (designs[key] @ m.weights - m.mean) / m.scale
    return total / len(members)


def fit(data: Iclr, idx: np.ndarray, grid: dict = GRID, lsa_dim: int = LSA_DIM) -> Fitted:
    """The recipe on the training papers idx: LSA; one ridge per grid point, averaged as z-scores (no
    hyperparameter is selected); Platt and rating calibration on inner out-of-fold scores."""
    idx = np.asarray(idx)
    lsa, lsa_x = fit_lsa(data, idx, lsa_dim)
    hand_mean = data.hand[idx].mean(axis=0)
    hand_scale = data.hand[idx].std(axis=0)
    hand_scale[hand_scale == 0] = 1.0
    z = (data.hand - hand_mean) / hand_scale
    held_out, held_rows = [], []
    with _one_blas_thread():  # small dense steps: one BLAS thread is faster, and steady on a busy machine
        for train, test in splits(data.accepted[idx], **INNER):
            members = _fit_members(lsa_x, z, idx[train], data.mean_rating, grid)
            held_out.append(_ensemble_score(members, lsa_x, z, idx[test]))
            held_rows.append(idx[test])
        held_out, held_rows = np.concatenate(held_out), np.concatenate(held_rows)
        a, b = platt(held_out, data.accepted[held_rows])
        slope, line_intercept = np.polyfit(held_out, data.mean_rating[held_rows], 1)
        members = _fit_members(lsa_x, z, idx, data.mean_rating, grid)
    return Fitted(lsa, lsa_x, hand_mean, hand_scale, data.hand, members, (a, b),
                  (float(line_intercept), float(slope)))


def to_model(fitted: Fitted, meta: dict) -> AiScoreModel:
    """Collapse LSA projection, ridges and ensemble average into one weight per term (all of it is linear)."""
    projection = fitted.lsa.projection.astype(np.float64)
    term_weight = np.zeros(len(projection))
    hand_weight = np.zeros(len(fitted.hand_mean))
    intercept = 0.0
    k = len(fitted.members)
    for m in fitted.members:
        term_weight += projection[:, : m.dim] @ m.weights[: m.dim] / (m.scale * k)
        hand_weight += m.hand_weight * m.weights[m.dim :] / (m.scale * k)
        intercept -= m.mean / (m.scale * k)
    return AiScoreModel(fitted.lsa.vocabulary, fitted.lsa.idf, term_weight, fitted.hand_mean, fitted.hand_scale,
                        hand_weight, intercept, fitted.platt, fitted.rating, meta)


def model_version(data_fingerprint: str) -> str:
    return f"{RECIPE}+{data_fingerprint[:12]}"


def build(data: Iclr) -> tuple[AiScoreModel, Fitted]:
    """The shipped model: the recipe on every 2017 paper with text."""
    fitted = fit(data, np.arange(len(data)))
    meta = {
        "model_version": model_version(data.fingerprint),
        "recipe": RECIPE,
        "data_fingerprint": data.fingerprint,
        "data": "ICLR 2017 submissions with decisions and review ratings (data/iclr_openreview); "
                "ICLR 2018 texts unlabelled, for the vocabulary and LSA only",
        "n_train": len(data),
        "n_accepted": int(data.accepted.sum()),
        "n_unlabelled_2018": len(data.texts18),
        "hyperparameters": {"ensemble": "mean of z-scored ridges, one per grid point (none selected)",
                            "grid": GRID, "members": len(fitted.members), "lsa_dim": LSA_DIM, "lsa_seed": LSA_SEED,
                            "calibration_cv": INNER},
        "metadata_fields": {"has_code": "bool (used: same feature as an abstract stating released code)",
                            "n_authors": "int (accepted, not used: no training data)",
                            "n_references": "int (accepted, not used: no training data)"},
    }
    return to_model(fitted, meta), fitted


# ----------------------------------------------------------------------------------------------------------------
# Designs and cross-validation

# A design: (data, train rows, test rows) -> {"score": test scores[, "p_accept": ..., "rating": ...]}
Design = Callable[[Iclr, np.ndarray, np.ndarray], dict]


def shipped_design(data: Iclr, train: np.ndarray, test: np.ndarray) -> dict:
    fitted = fit(data, train)
    raw = fitted.raw(test)
    a, b = fitted.platt
    return {"score": raw, "p_accept": 1.0 / (1.0 + np.exp(-(a * raw + b))),
            "rating": np.clip(fitted.rating[0] + fitted.rating[1] * raw, 1.0, 10.0)}


def _full_texts(data: Iclr, rows) -> list[str]:
    return [f"{data.texts[i].title}. {data.texts[i].abstract}" for i in rows]


def tfidf_lr_design(data: Iclr, train: np.ndarray, test: np.ndarray) -> dict:
    """Baseline (a): scikit-learn TfidfVectorizer and LogisticRegression, both with their defaults."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer().fit(_full_texts(data, train))
    model = LogisticRegression(max_iter=5000).fit(vectorizer.transform(_full_texts(data, train)),
                                                  data.accepted[train])
    return {"score": model.decision_function(vectorizer.transform(_full_texts(data, test)))}


def tfidf_lr_conventional_design(data: Iclr, train: np.ndarray, test: np.ndarray) -> dict:
    """Baseline (a'): TF-IDF with the usual text-classification settings (1-2 grams, sublinear tf, min_df 2,
    English stop words), logistic regression C=1. Fixed up front, not tuned."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, stop_words="english")
    vectorizer.fit(_full_texts(data, train))
    model = LogisticRegression(max_iter=5000).fit(vectorizer.transform(_full_texts(data, train)),
                                                  data.accepted[train])
    return {"score": model.decision_function(vectorizer.transform(_full_texts(data, test)))}


def embed_lr_design(data: Iclr, train: np.ndarray, test: np.ndarray) -> dict:
    """Baseline (b): the project's default embedder (HybridEmbedder: LSA 128 fitted on the training and 2018
    texts + the shipped static table), logistic regression C=1 on the 256-d vectors."""
    from sklearn.linear_model import LogisticRegression

    from ..embed import HybridEmbedder

    rows = list(train)
    embedder = HybridEmbedder.fit([data.texts[i].abstract for i in rows] + [t.abstract for t in data.texts18],
                                  [data.texts[i].title for i in rows] + [t.title for t in data.texts18])
    vectors = embedder.embed([t.abstract for t in data.texts], [t.title for t in data.texts])
    model = LogisticRegression(max_iter=5000).fit(vectors[train], data.accepted[train])
    return {"score": model.decision_function(vectors[test])}


DESIGNS: dict[str, tuple[str, Design]] = {
    "tfidf_lr": ("(a) TF-IDF + logistic regression, scikit-learn defaults", tfidf_lr_design),
    "tfidf_lr_conventional": ("(a') TF-IDF 1-2 grams, sublinear, min_df 2, stop words + LR", tfidf_lr_conventional_design),
    "embed_lr": ("(b) default embedder (HybridEmbedder 256-d) + LR", embed_lr_design),
    "shipped": ("(d) shipped: LSA + hand features, ridges on mean rating averaged over a fixed grid, Platt",
                shipped_design),
}


def cross_validate(design: Design, data: Iclr, outer: dict = OUTER) -> dict:
    """Outer repeated stratified CV: per-fold AUROC and Spearman, their mean and sd; pooled held-out predictions."""
    aurocs, rhos = [], []
    pooled = {"row": [], "score": [], "p_accept": [], "rating": []}
    started = time.perf_counter()
    for train, test in splits(data.accepted, **outer):
        out = design(data, train, test)
        score = np.asarray(out["score"], np.float64)
        aurocs.append(auroc(data.accepted[test], score))
        rhos.append(spearman(data.mean_rating[test], score))
        pooled["row"].append(test)
        pooled["score"].append(score)
        for key in ("p_accept", "rating"):
            if key in out:
                pooled[key].append(np.asarray(out[key], np.float64))
    result = {
        "auroc_mean": float(np.mean(aurocs)), "auroc_sd": float(np.std(aurocs, ddof=1)),
        "spearman_mean": float(np.mean(rhos)), "spearman_sd": float(np.std(rhos, ddof=1)),
        "folds": len(aurocs), "seconds": round(time.perf_counter() - started, 2),
        "fold_auroc": [round(a, 4) for a in aurocs], "fold_spearman": [round(r, 4) for r in rhos],
    }
    if pooled["p_accept"]:
        result["calibration"] = calibration_table(data, np.concatenate(pooled["row"]),
                                                  np.concatenate(pooled["p_accept"]), np.concatenate(pooled["rating"]))
    return result


def calibration_table(data: Iclr, rows: np.ndarray, p: np.ndarray, rating: np.ndarray, n_bins: int = 5) -> dict:
    """Held-out p_accept in quantile bins against the observed acceptance rate; Brier and rating errors."""
    y = data.accepted[rows].astype(float)
    edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    bins = []
    for k in range(n_bins):
        inside = which == k
        if inside.any():
            bins.append({"p_from": round(float(edges[k]), 3), "p_to": round(float(edges[k + 1]), 3),
                         "n": int(inside.sum()), "mean_p": round(float(p[inside].mean()), 3),
                         "observed": round(float(y[inside].mean()), 3)})
    base = y.mean()
    truth = data.mean_rating[rows]
    return {
        "bins": bins,
        "ece": round(float(sum(b["n"] * abs(b["mean_p"] - b["observed"]) for b in bins) / len(p)), 4),
        "brier": round(float(np.mean((p - y) ** 2)), 4),
        "brier_base_rate": round(float(np.mean((base - y) ** 2)), 4),
        "rating_rmse": round(float(np.sqrt(np.mean((rating - truth) ** 2))), 4),
        "rating_rmse_constant": round(float(np.std(truth)), 4),
        "p_accept_range": [round(float(p.min()), 3), round(float(p.max()), 3)],
    }


# ----------------------------------------------------------------------------------------------------------------
# Entry point


def main(report_path: str | Path | None = None, *, data_dir: str | Path | None = None,
         out_dir: str | Path | None = None, designs: tuple[str, ...] = tuple(DESIGNS)) -> dict:
    """Rebuild the model into out_dir (default: the package's aiscore_assets/), cross-validate the designs, and
    return the report (also written as JSON to report_path when given)."""
    started = time.perf_counter()
    data = load_iclr(Path(data_dir) if data_dir else None)
    model, _ = build(data)
    report = {
        "model_version": model.model_version,
        "data_fingerprint": data.fingerprint,
        "n_papers": len(data), "n_accepted": int(data.accepted.sum()), "n_without_text": data.n_without_text,
        "n_unlabelled_2018": len(data.texts18),
        "hyperparameters": model.meta["hyperparameters"],
        "protocol": f"RepeatedStratifiedKFold {OUTER}; every step of a design (vocabulary, LSA, scaling, "
                    f"weights, calibration on inner folds {INNER}) is fitted on the outer training papers only",
        "cv": {},
    }
    for name in designs:
        label, design = DESIGNS[name]
        report["cv"][name] = {"label": label, **cross_validate(design, data)}
    if "shipped" in report["cv"]:
        shipped = report["cv"]["shipped"]
        model.meta["cv"] = {k: shipped[k] for k in ("auroc_mean", "auroc_sd", "spearman_mean", "spearman_sd", "folds")}
    model.save(Path(out_dir) if out_dir else ASSETS)
    report["seconds"] = round(time.perf_counter() - started, 1)
    if report_path:
        Path(report_path).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    out = main(sys.argv[1] if len(sys.argv) > 1 else None)
    for row in out["cv"].values():
        print(f"{row['label']}: AUROC {row['auroc_mean']:.3f} ± {row['auroc_sd']:.3f}, "
              f"Spearman {row['spearman_mean']:.3f} ± {row['spearman_sd']:.3f} ({row['seconds']} s)")
    print(f"model {out['model_version']} ({out['seconds']} s)")
