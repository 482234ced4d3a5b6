"""The offline AI Score model: a linear score over a paper's words and hand features, calibrated on ICLR 2017.

    from scholarlens.aiscore.model import load_model
    results = load_model().score([{"title": "...", "abstract": "...", "has_code": True}])
    results[0].ai_score, results[0].p_accept, results[0].expected_rating, results[0].reasons

How a score is made (train.py fits every number; the assets hold them, see aiscore_assets/SOURCE.md):

    raw = intercept + sum over terms t of tfidf_t * term_weight_t + sum over hand features j of z_j * hand_weight_j
    p_accept = 1 / (1 + exp(-(platt_a * raw + platt_b)))          Platt scaling fitted on held-out raw scores
    ai_score = 100 * p_accept, one decimal                          the calibrated chance of acceptance, in percent
    expected_rating = rating_intercept + rating_slope * raw          (clipped to ICLR's 1-10 scale)

``raw`` is a ridge regression on the mean reviewer rating over the LSA projection of the TF-IDF terms and the
standardised hand features; since every step is linear, the LSA projection and the ridge collapse into one
weight per term, which is what ships. ``z_j`` is feature j standardised with the ICLR 2017 mean and deviation.

Reasons: each term and hand feature adds ``c`` to ``raw``; its effect in AI Score points is
``100 * (p(raw) - p(raw - c))``, the score with the contribution minus the score without it (terms: against not
using the word; hand features: against the ICLR 2017 average paper). The largest effects by size are listed,
with their signs. Needs numpy and scipy only: no torch, no download.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import features as F

ASSETS = Path(__file__).resolve().parents[1] / "aiscore_assets"
FORMAT_VERSION = 1
BACKEND = "offline"
MIN_POINTS = 0.05  # reasons smaller than this round to +0.0 / -0.0 and are not listed
N_REASONS = 5


@dataclass
class Driver:
    """One feature's effect on one paper's score."""

    feature: str  # "term:<term>" or "hand:<name>"
    text: str  # the reason as shown, without the points
    contribution: float  # added to the raw score
    points: float  # effect in AI Score points: score with it minus score without it
    parts: list[str] = field(default_factory=list)  # the features summed (a phrase and its words)

    def reason(self) -> str:
        return f"{self.text} ({self.points:+.1f})"


@dataclass
class AiScoreResult:
    ai_score: float | None
    p_accept: float | None
    expected_rating: float | None
    reasons: list[str]
    model_version: str
    backend: str = BACKEND
    drivers: list[Driver] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class AiScoreModel:
    """A fitted model: vocabulary, per-term idf and weight, hand-feature scaling and weights, calibration."""

    def __init__(self, vocabulary: list[str], idf: np.ndarray, term_weight: np.ndarray, hand_mean: np.ndarray,
                 hand_scale: np.ndarray, hand_weight: np.ndarray, intercept: float, platt: tuple[float, float],
                 rating: tuple[float, float], meta: dict):
        if not (len(vocabulary) == len(idf) == len(term_weight)):
            raise ValueError("vocabulary, idf and term weights differ in length")
        if not (len(hand_mean) == len(hand_scale) == len(hand_weight) == len(F.HAND_NAMES)):
            raise ValueError(f"the model has hand features other than {F.HAND_NAMES}")
        self.vocabulary = list(vocabulary)
        self.term_id = {t: i for i, t in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, np.float32)
        self.term_weight = np.asarray(term_weight, np.float32).astype(np.float64)  # as saved: a reload is exact
        self.hand_mean = np.asarray(hand_mean, np.float64)
        self.hand_scale = np.asarray(hand_scale, np.float64)
        self.hand_weight = np.asarray(hand_weight, np.float64)
        self.intercept = float(intercept)
        self.platt = (float(platt[0]), float(platt[1]))
        self.rating = (float(rating[0]), float(rating[1]))  # intercept, slope
        self.meta = dict(meta)
        self.model_version = str(meta.get("model_version", "unversioned"))

    # -- scoring ---------------------------------------------------------------------------------------------------

    def p_accept(self, raw: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * np.asarray(raw, np.float64) + b)))

    def expected_rating(self, raw: np.ndarray) -> np.ndarray:
        return np.clip(self.rating[0] + self.rating[1] * np.asarray(raw, np.float64), 1.0, 10.0)

    def _parts(self, texts: list[F.PaperText]):
        """raw scores, the TF-IDF matrix, and the standardised hand features of prepared papers."""
        matrix = F.tfidf(F.term_lists(texts), self.term_id, self.idf)
        hand = F.hand_features(texts)
        z = (hand - self.hand_mean) / self.hand_scale
        raw = self.intercept + matrix @ self.term_weight + z @ self.hand_weight
        return np.asarray(raw, np.float64), matrix, hand, z

    def raw_scores(self, papers: list[dict]) -> np.ndarray:
        """The uncalibrated linear score of valid papers (raises ValueError on an invalid one)."""
        return self._parts([F.prepare(p) for p in papers])[0]

    def score(self, papers: list[dict], n_reasons: int = N_REASONS) -> list[AiScoreResult]:
        """One result per paper, in order. An invalid paper (no abstract, bad field) gets ``error`` and no score."""
        prepared: list[F.PaperText | None] = []
        errors: list[str | None] = []
        for paper in papers:
            try:
                prepared.append(F.prepare(paper))
                errors.append(None)
            except ValueError as err:
                prepared.append(None)
                errors.append(str(err))
        ok = [i for i, t in enumerate(prepared) if t is not None]
        texts = [prepared[i] for i in ok]
        results: list[AiScoreResult] = [
            AiScoreResult(None, None, None, [], self.model_version, error=err) for err in errors
        ]
        if not texts:
            return results
        raw, matrix, hand, z = self._parts(texts)
        p = self.p_accept(raw)
        rating = self.expected_rating(raw)
        hand_contrib = z * self.hand_weight
        for row, i in enumerate(ok):
            text = texts[row]
            drivers = self._drivers(text, raw[row], matrix, row, hand[row], hand_contrib[row], papers[i], n_reasons)
            notes = []
            if F.injection_removed(text):
                notes.append("text addressed to a reviewer or a model was ignored")
            unused = [f for f in F.UNUSED_METADATA if isinstance(papers[i], dict) and papers[i].get(f) is not None]
            if unused:
                notes.append(f"not used by this model (no training data for them): {', '.join(unused)}")
            results[i] = AiScoreResult(
                ai_score=round(100.0 * float(p[row]), 1),
                p_accept=round(float(p[row]), 4),
                expected_rating=round(float(rating[row]), 2),
                reasons=[d.reason() for d in drivers],
                model_version=self.model_version,
                drivers=drivers,
                notes=notes,
            )
        return results

    def _drivers(self, text: F.PaperText, raw: float, matrix, row: int, hand: np.ndarray, hand_contrib: np.ndarray,
                 paper: dict, n_reasons: int) -> list[Driver]:
        """The n_reasons largest effects. A phrase (word pair) carries its two words with it ("et al" rather than
        "et", "al" and "et al" as three reasons): candidates are phrases with their words, single words and hand
        features, taken greedily by size, each item counted once."""
        start, stop = matrix.indptr[row], matrix.indptr[row + 1]
        cols = matrix.indices[start:stop]
        terms = [self.vocabulary[c] for c in cols]
        contrib = np.concatenate([matrix.data[start:stop].astype(np.float64) * self.term_weight[cols], hand_contrib])
        n_terms, n_items = len(cols), len(contrib)
        position = {t: k for k, t in enumerate(terms)}
        members = [list(dict.fromkeys([k] + [position[w] for w in t.split(" ") if w in position])) if " " in t
                   else [k] for k, t in enumerate(terms)] + [[n_terms + j] for j in range(len(hand_contrib))]
        # members as a padded index table; index n_items is a slot that always holds 0
        table = np.full((n_items, 3), n_items)
        for head, items in enumerate(members):
            table[head, : len(items)] = items
        free = np.ones(n_items + 1, bool)
        full_text = f"{text.title}\n{text.abstract}"
        p_now = float(self.p_accept(raw))
        out = []
        for _ in range(n_reasons):
            group_contrib = np.append(np.where(free[:-1], contrib, 0.0), 0.0)[table].sum(axis=1)
            points = 100.0 * (p_now - self.p_accept(raw - group_contrib))
            points[~free[:-1]] = 0.0  # a consumed item heads no other group
            head = int(np.argmax(np.abs(points)))
            if abs(points[head]) < MIN_POINTS:
                break
            taken = [k for k in members[head] if free[k]]
            free[taken] = False
            if head < n_terms:
                term = terms[head]
                kind = "phrase" if " " in term else "word"
                label = f"{kind} '{F.surface_form(term, full_text)}'"
                feature = f"term:{term}"
                parts = [f"term:{terms[k]}" for k in taken]
            else:
                j = head - n_terms
                label = self._hand_label(j, hand[j], paper)
                feature = f"hand:{F.HAND_NAMES[j]}"
                parts = [feature]
            out.append(Driver(feature, label, float(group_contrib[head]), round(float(points[head]), 1), parts))
        # taking a group can enlarge a later one (its opposite-signed words went first): order by size at the end
        return sorted(out, key=lambda d: -abs(d.points))

    def _hand_label(self, j: int, value: float, paper: dict) -> str:
        name, label, kind = F.HAND_FEATURES[j]
        mean = self.hand_mean[j]
        if kind == "flag":
            if value:
                if name == "mentions_code" and isinstance(paper, dict) and paper.get("has_code") is True:
                    return "has a code link"
                return label
            return f"not: {label}"
        shown = {
            "title_words": lambda v: f"{v:.0f} word{'s' if round(v) != 1 else ''}",
            "abstract_words_log": lambda v: f"{math.expm1(v):.0f} words",
            "mean_word_length": lambda v: f"{v:.1f} letters",
            "numbers_log": lambda v: f"{math.expm1(v):.0f}",
            "math_density": lambda v: f"{v:.1f} per 100 characters",
            "datasets_log": lambda v: f"{math.expm1(v):.0f}",
        }[name]
        average = {
            "abstract_words_log": f"{math.expm1(mean):.0f}",
            "numbers_log": f"{math.expm1(mean):.1f}",
            "datasets_log": f"{math.expm1(mean):.1f}",
        }.get(name, f"{mean:.1f}")
        return f"{label}: {shown(value)} (ICLR 2017 average {average})"

    # -- persistence -----------------------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        """Write model.npz (arrays), vocabulary.txt (one term a line) and model.json (everything else)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            directory / "model.npz",
            idf=self.idf.astype(np.float32),
            term_weight=self.term_weight.astype(np.float32),
            hand_mean=self.hand_mean,
            hand_scale=self.hand_scale,
            hand_weight=self.hand_weight,
        )
        (directory / "vocabulary.txt").write_text("\n".join(self.vocabulary) + "\n", encoding="utf-8")
        meta = dict(self.meta, format=FORMAT_VERSION, hand_features=list(F.HAND_NAMES), intercept=self.intercept,
                    platt={"a": self.platt[0], "b": self.platt[1]},
                    rating={"intercept": self.rating[0], "slope": self.rating[1]})
        (directory / "model.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path = ASSETS) -> AiScoreModel:
        directory = Path(directory)
        meta = json.loads((directory / "model.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{directory}: AI Score model format {meta.get('format')}, this version reads "
                             f"{FORMAT_VERSION}; rebuild it with scholarlens.aiscore.train")
        if tuple(meta.get("hand_features", ())) != F.HAND_NAMES:
            raise ValueError(f"{directory}: the model's hand features differ from this code's; rebuild it")
        with np.load(directory / "model.npz", allow_pickle=False) as arrays:
            parts = {k: arrays[k] for k in arrays.files}
        vocabulary = (directory / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
        return cls(vocabulary, parts["idf"], parts["term_weight"], parts["hand_mean"], parts["hand_scale"],
                   parts["hand_weight"], meta["intercept"], (meta["platt"]["a"], meta["platt"]["b"]),
                   (meta["rating"]["intercept"], meta["rating"]["slope"]), meta)


@lru_cache(maxsize=4)
def _cached(directory: str) -> AiScoreModel:
    return AiScoreModel.load(directory)


def load_model(directory: str | Path | None = None) -> AiScoreModel:
    """The shipped model (aiscore_assets/), or one saved elsewhere by train.main; loaded once per directory."""
    return _cached(str(Path(directory or ASSETS).resolve()))
