"""Clustering quality: pairwise and B-cubed precision, recall and F1, and their macro / micro aggregation.

Both take two clusterings of the same items as mappings ``item -> cluster label`` (gold and predicted); items
missing from either side are an error.

- Pairwise: over unordered pairs of distinct items. precision = pairs together in both / pairs together in the
  prediction; recall = pairs together in both / pairs together in gold. With no predicted pairs precision is
  1.0 (nothing was claimed); with no gold pairs recall is 1.0.
- B-cubed (Bagga and Baldwin 1998): per item, precision = |pred cluster ∩ gold cluster| / |pred cluster| and
  recall = |pred cluster ∩ gold cluster| / |gold cluster|, averaged over items.
- F1 = 2PR / (P + R) (0 when both are 0).

Aggregation over several names (``aggregate``):
- macro: the mean over names of each name's precision, recall and F1 (F1 is the mean of the names' F1s);
- micro: the counts pooled over names, then P, R, F1 once: pairwise pools the pair counts; B-cubed pools the
  per-item precision and recall sums over every item of every name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Scores", "pairwise", "bcubed", "evaluate", "aggregate", "f1"]


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 with the counts they come from (so that they can be pooled).
    Pairwise: ``p_num`` = ``r_num`` = true pairs, ``p_den`` = predicted pairs, ``r_den`` = gold pairs.
    B-cubed: ``p_num`` / ``r_num`` = sums of per-item precision / recall, ``p_den`` = ``r_den`` = items."""

    p_num: float
    p_den: float
    r_num: float
    r_den: float

    @property
    def precision(self) -> float:
        return self.p_num / self.p_den if self.p_den else 1.0

    @property
    def recall(self) -> float:
        return self.r_num / self.r_den if self.r_den else 1.0

    @property
    def f1(self) -> float:
        return f1(self.precision, self.recall)

    def as_dict(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


def _contingency(gold: Mapping[Hashable, Hashable], pred: Mapping[Hashable, Hashable]):
    if gold.keys() != pred.keys():
        missing = set(gold) ^ set(pred)
        raise ValueError(f"gold and predicted clusterings cover different items ({len(missing)} differ)")
    cells = Counter((gold[i], pred[i]) for i in gold)
    gold_sizes = Counter(gold.values())
    pred_sizes = Counter(pred.values())
    return cells, gold_sizes, pred_sizes


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(gold: Mapping[Hashable, Hashable], pred: Mapping[Hashable, Hashable]) -> Scores:
    cells, gold_sizes, pred_sizes = _contingency(gold, pred)
    true = sum(_pairs(n) for n in cells.values())
    return Scores(true, sum(_pairs(n) for n in pred_sizes.values()), true, sum(_pairs(n) for n in gold_sizes.values()))


def bcubed(gold: Mapping[Hashable, Hashable], pred: Mapping[Hashable, Hashable]) -> Scores:
    cells, gold_sizes, pred_sizes = _contingency(gold, pred)
    # each of the n items of a cell (g, p) has precision n / |p| and recall n / |g|
    p_sum = sum(n * n / pred_sizes[p] for (g, p), n in cells.items())
    r_sum = sum(n * n / gold_sizes[g] for (g, p), n in cells.items())
    items = len(gold)
    return Scores(p_sum, items, r_sum, items)


def evaluate(gold: Mapping[Hashable, Hashable], pred: Mapping[Hashable, Hashable]) -> dict[str, Scores]:
    return {"pairwise": pairwise(gold, pred), "bcubed": bcubed(gold, pred)}


def aggregate(per_name: Iterable[Scores]) -> dict[str, dict[str, float]]:
    """``{"macro": {precision, recall, f1}, "micro": {...}}`` over the names' scores of one kind."""
    scores = list(per_name)
    if not scores:
        raise ValueError("nothing to aggregate")
    macro = {k: sum(getattr(s, k) for s in scores) / len(scores) for k in ("precision", "recall", "f1")}
    pooled = Scores(sum(s.p_num for s in scores), sum(s.p_den for s in scores),
                    sum(s.r_num for s in scores), sum(s.r_den for s in scores))
    return {"macro": macro, "micro": pooled.as_dict()}
