"""Fit the pair scorers of the disambiguation engine, with cross-validation over names.

    python -m scholarlens.identity.train [--data data/aminer_name_disambiguation] [--folds 5] [--no-write]

Data: the AMiner labeled names (organisations, no abstracts) and dblp names (keywords and abstracts, no
organisations), read with the lenient reader; each file is one ambiguous name. Each set is prepared as the
engine prepares one input (``disambiguate_path`` on the set's folder): document frequencies over the set,
mentions of different files never compared.

What is fitted (``fit_model``), on a list of training names only:
1. round 0: a logistic regression on every pair of mentions within a block (same gold person or not), each
   name's pairs weighing 1 / (its mentions - 1) so that every mention weighs about the same, as in B-cubed;
2. for each round-0 threshold t0 in ``T0_GRID``: the round-0 clusters of the training names at t0, and a second
   logistic regression on every pair of those clusters (positive when their majority gold persons agree,
   weighing |a| |b| / (mentions - 1)); it scores every later round;
3. (t0, t1) with t1 in ``T1_GRID``: the pair whose full clustering (all rounds) of the training names has the
   best ``objective``: the mean over the two sets of the mean B-cubed F1 of their names.

Cross-validation (``cross_validate``): GroupKFold by name over both sets at once (a name's mentions all in one
fold; each fold holds labeled and dblp names). Each fold's model is fitted on the other folds' names as above,
then clusters its held-out names: every reported figure is out of fold, from a model and thresholds that never
saw the name. Nothing is tuned per name. Finally the same ``fit_model`` runs on every name and its scorers and
thresholds are written to ``pair_scorer.json`` with the out-of-fold summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics
from .aminer import read_aminer
from .cluster import (
    FEATURES, WEIGHTS, Model, PairScorer, Prepared, _apply, _average_linkage, _triu, block_stats, blocks,
    cluster_blocks, cluster_id_for, pair_features, prepare, profiles, simple_union,
)

DATA = Path(__file__).resolve().parents[3] / "data" / "aminer_name_disambiguation"
SETS = ("labeled_names", "dblp_names")
T0_GRID = (0.6, 0.7, 0.8)
T1_GRID = tuple(round(float(t), 3) for t in np.arange(0.45, 0.851, 0.05))


@dataclass
class Block:
    """One block: its rows in the set's Prepared, and every pair of them (local positions) with features."""

    rows: list[int]
    i: np.ndarray
    j: np.ndarray
    x: np.ndarray
    stats: np.ndarray
    y: np.ndarray


@dataclass
class NameData:
    """One ambiguous name (one file) of a set."""

    set_name: str
    key: str
    full_name: str
    rows: list[int]
    blocks: list[int]  # indices into its SetData.blocks

    @property
    def id(self) -> str:
        return f"{self.set_name}/{self.key}"


@dataclass
class SetData:
    set_name: str
    prep: Prepared
    labels: np.ndarray
    blocks: list[Block]
    names: list[NameData]
    read: dict

    def gold(self, nd: NameData) -> dict[str, str]:
        return {self.prep.mentions[r].mention_id: str(self.labels[r]) for r in nd.rows}


def load_sets(data: Path = DATA, sets=SETS) -> list[SetData]:
    out = []
    for set_name in sets:
        mentions, read = read_aminer(data / set_name)
        prep = prepare(mentions)
        labels = np.array([f"{m.group}:{m.label}" for m in prep.mentions])
        block_rows = blocks(prep.mentions)
        stats = block_stats(prep, block_rows)
        prof = profiles(prep, [[r] for r in range(len(prep.mentions))])
        block_list = []
        by_group: dict[str, NameData] = {}
        for b, rows in enumerate(block_rows):
            i, j = _triu(len(rows))
            r = np.asarray(rows)
            x = pair_features(prof, r[i], r[j], stats[b])
            block_list.append(Block(rows, i, j, x, stats[b], (labels[r[i]] == labels[r[j]]).astype(np.float64)))
            group = prep.mentions[rows[0]].group
            nd = by_group.get(group)
            if nd is None:
                full = group.rsplit("/", 1)[-1].replace("_", " ")
                nd = by_group[group] = NameData(set_name, group, full, [], [])
            nd.rows.extend(rows)
            nd.blocks.append(b)
        names = sorted(by_group.values(), key=lambda nd: nd.key)
        out.append(SetData(set_name, prep, labels, block_list, names, read.as_dict()))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Logistic regression (Newton's method, L2), standardised features


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1.0, iterations: int = 50):
    mean = np.average(x, axis=0, weights=w)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    scale[scale < 1e-6] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = w / w.sum() * len(w)
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (p - y)) + penalty * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, beta[:-1], float(beta[-1])


def fit_scorer(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1.0, threshold: float = 0.5) -> PairScorer:
    mean, scale, coef, intercept = fit_logistic(x, y, w, l2)
    return PairScorer(FEATURES, mean, scale, coef, intercept, threshold)


# ----------------------------------------------------------------------------------------------------------------
# Training on a selection of names

Selection = list[tuple[SetData, list[NameData]]]


def _blocks_of(selection: Selection):
    for sd, names in selection:
        for nd in names:
            for b in nd.blocks:
                yield sd, nd, sd.blocks[b]


def state_data(states) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and weights of every pair of clusters within each given state (sd, nd, block, clusters).
    A pair is positive when the two clusters' majority gold persons agree; it weighs |a| |b| / (mentions - 1)."""
    xs, ys, ws = [], [], []
    by_set = defaultdict(list)
    for sd, nd, block, clusters in states:
        if len(clusters) > 1:
            by_set[id(sd)].append((sd, nd, block, clusters))
    for items in by_set.values():
        sd = items[0][0]
        groups, pairs_a, pairs_b, stats, weights, majority = [], [], [], [], [], []
        for _, nd, block, clusters in items:
            offset = len(groups)
            groups.extend(clusters)
            for c in clusters:
                values, counts = np.unique(sd.labels[c], return_counts=True)
                majority.append(values[np.argmax(counts)])
            a, c = _triu(len(clusters))
            pairs_a.append(a + offset)
            pairs_b.append(c + offset)
            stats.append(np.repeat(block.stats[None, :], len(a), axis=0))
            sizes = np.array([len(g) for g in clusters], dtype=np.float64)
            weights.append(sizes[a] * sizes[c] / max(1, len(nd.rows) - 1))
        prof = profiles(sd.prep, groups)
        a, c = np.concatenate(pairs_a), np.concatenate(pairs_b)
        majority = np.array(majority)
        xs.append(pair_features(prof, a, c, np.vstack(stats)))
        ys.append((majority[a] == majority[c]).astype(np.float64))
        ws.append(np.concatenate(weights))
    if not xs:
        return np.zeros((0, len(FEATURES))), np.zeros(0), np.zeros(0)
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws)


def round0_states(selection: Selection, merged: dict, threshold: float):
    """(sd, nd, block, clusters) of every block after round 0 at threshold."""
    for sd, names in selection:
        for nd in names:
            for b in nd.blocks:
                block = sd.blocks[b]
                clusters = [sorted(block.rows[k] for k in g)
                            for g in _apply(len(block.rows), merged[(sd.set_name, b)], threshold)]
                yield sd, nd, block, clusters


def predict(selection: Selection, model: Model, thresholds=None, states: list | None = None
            ) -> dict[str, dict[str, str]]:
    """{name id: {mention id: cluster id}} by the engine (no constraints) on the selected names. ``states``, when
    given, receives (sd, nd, block, clusters) for every block entering a round after the first."""
    out: dict[str, dict[str, str]] = {}
    for sd, names in selection:
        block_ids = [b for nd in names for b in nd.blocks]
        owner = {b: nd for nd in names for b in nd.blocks}
        trace = [] if states is not None else None
        clustered = cluster_blocks(sd.prep, [[[r] for r in sd.blocks[b].rows] for b in block_ids], model,
                                   thresholds=thresholds, trace=trace)
        if states is not None:
            states.extend((sd, owner[block_ids[k]], sd.blocks[block_ids[k]], nodes)
                          for round_, k, nodes in trace if round_ >= 2)
        for b, clusters in zip(block_ids, clustered):
            pred = out.setdefault(owner[b].id, {})
            for rows in clusters:
                cid = cluster_id_for(sd.prep.mentions[r].mention_id for r in rows)
                for r in rows:
                    pred[sd.prep.mentions[r].mention_id] = cid
    return out


def scores(selection: Selection, pred: dict[str, dict[str, str]]) -> dict[str, dict[str, metrics.Scores]]:
    return {nd.id: metrics.evaluate(sd.gold(nd), pred[nd.id]) for sd, names in selection for nd in names}


def objective(selection: Selection, pred) -> float:
    """The mean over the sets of the mean B-cubed F1 of their names (the 393 dblp names do not outvote the 60
    labeled ones)."""
    per = scores(selection, pred)
    return float(np.mean([np.mean([per[nd.id]["bcubed"].f1 for nd in names]) for _, names in selection if names]))


def fit_model(selection: Selection, l2: float = 1.0, log=print, t0_grid=T0_GRID, t1_grid=T1_GRID,
              later_states: bool = True) -> Model:
    """Both rounds' scorers and their thresholds, from the selected names only. With ``later_states`` the
    later-round scorer is refitted once on the states of rounds 2 and later as well (the clusters the engine
    actually compares there), and its threshold chosen again."""
    parts = list(_blocks_of(selection))
    x = np.vstack([blk.x for _, _, blk in parts])
    y = np.concatenate([blk.y for _, _, blk in parts])
    w = np.concatenate([np.full(len(blk.y), 1.0 / max(1, len(nd.rows) - 1)) for _, nd, blk in parts])
    scorer0 = fit_scorer(x, y, w, l2)
    merged = {}
    for sd, names in selection:
        for nd in names:
            for b in nd.blocks:
                blk = sd.blocks[b]
                merged[(sd.set_name, b)] = _average_linkage(
                    [frozenset([sd.prep.parsed[r]]) for r in blk.rows], [frozenset()] * len(blk.rows),
                    blk.i, blk.j, scorer0.probability(blk.x), min(t0_grid))

    def sweep(t0, scorer1, best):
        model = Model([PairScorer(**{**scorer0.__dict__, "threshold": t0}), scorer1])
        for t1 in t1_grid:
            score = objective(selection, predict(selection, model, (t0, t1)))
            if best is None or score > best[0] + 1e-12:
                best = (score, t0, t1, scorer1)
        return best

    best = None
    for t0 in t0_grid:
        data1 = state_data(round0_states(selection, merged, t0))
        scorer1 = fit_scorer(*data1, l2)
        best = sweep(t0, scorer1, best)
        log(f"    t0 {t0}: best so far {best[0]:.4f} at t0 {best[1]} t1 {best[2]}")
    if later_states:
        _, t0, t1, scorer1 = best
        states: list = []
        predict(selection, Model([PairScorer(**{**scorer0.__dict__, "threshold": t0}), scorer1]), (t0, t1), states)
        data1 = state_data(round0_states(selection, merged, t0))
        later = state_data(states)
        scorer1 = fit_scorer(*(np.concatenate([u, v]) for u, v in zip(data1, later)), l2)
        before = best[0]
        best = sweep(t0, scorer1, best)
        log(f"    refitted on {len(later[1]):,} later-round pairs: {before:.4f} -> {best[0]:.4f} at t1 {best[2]}")
    _, t0, t1, scorer1 = best
    scorer0.threshold, scorer1.threshold = t0, t1
    return Model([scorer0, scorer1])


# ----------------------------------------------------------------------------------------------------------------
# Cross-validation and reports


def group_folds(sets: list[SetData], k: int) -> dict[str, int]:
    """GroupKFold by name: per set, largest names first, each to the fold with the fewest mentions so far."""
    fold_of = {}
    for sd in sets:
        load = [0] * k
        for nd in sorted(sd.names, key=lambda nd: (-len(nd.rows), nd.key)):
            f = min(range(k), key=lambda f: (load[f], f))
            fold_of[nd.id] = f
            load[f] += len(nd.rows)
    return fold_of


def cross_validate(sets: list[SetData], k: int = 5, l2: float = 1.0, log=print) -> dict:
    """{"pred": {name id: out-of-fold clustering}, "thresholds": [(t0, t1) per fold], "fold": {name id: fold}}."""
    fold_of = group_folds(sets, k)
    pred: dict[str, dict] = {}
    thresholds = []
    for f in range(k):
        train = [(sd, [nd for nd in sd.names if fold_of[nd.id] != f]) for sd in sets]
        test = [(sd, [nd for nd in sd.names if fold_of[nd.id] == f]) for sd in sets]
        model = fit_model(train, l2, log)
        thresholds.append(tuple(s.threshold for s in model.rounds))
        pred.update(predict(test, model))
        log(f"fold {f}: fitted on {sum(len(n) for _, n in train)} names, held out {sum(len(n) for _, n in test)},"
            f" thresholds {thresholds[-1]}")
    return {"pred": pred, "thresholds": thresholds, "fold": fold_of}


def baseline(sets: list[SetData]) -> dict[str, dict[str, str]]:
    """The simple union on each name (each file on its own, as disambiguate_path runs)."""
    out = {}
    for sd in sets:
        by_group = defaultdict(list)
        for m in sd.prep.mentions:
            by_group[m.group].append(m)
        for nd in sd.names:
            out[nd.id] = simple_union(by_group[nd.key])
    return out


def report(sets: list[SetData], pred: dict[str, dict]) -> dict:
    """Per-name and aggregated (macro, micro) scores, per set."""
    out = {}
    for sd in sets:
        rows, pw, bc = [], [], []
        for nd in sd.names:
            gold = sd.gold(nd)
            s = metrics.evaluate(gold, pred[nd.id])
            pw.append(s["pairwise"])
            bc.append(s["bcubed"])
            rows.append({"name": nd.full_name, "key": nd.key, "mentions": len(nd.rows),
                         "persons": len(set(gold.values())), "predicted": len(set(pred[nd.id].values())),
                         "pairwise": s["pairwise"].as_dict(), "bcubed": s["bcubed"].as_dict()})
        out[sd.set_name] = {"names": rows, "pairwise": metrics.aggregate(pw), "bcubed": metrics.aggregate(bc)}
    return out


def summary_line(rep: dict) -> str:
    parts = []
    for set_name, r in rep.items():
        b, p = r["bcubed"], r["pairwise"]
        parts.append(f"{set_name}: B3 macro {b['macro']['f1']:.4f} (P {b['macro']['precision']:.3f} R "
                     f"{b['macro']['recall']:.3f}) micro {b['micro']['f1']:.4f} | pairwise macro "
                     f"{p['macro']['f1']:.4f} micro {p['micro']['f1']:.4f}")
    return "\n".join(parts)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    sets = load_sets(args.data)
    log(f"{sum(len(sd.names) for sd in sets)} names, {sum(len(b.y) for sd in sets for b in sd.blocks):,} pairs")
    cv = cross_validate(sets, args.folds, args.l2, log)
    rep = report(sets, cv["pred"])
    log("out of fold:\n" + summary_line(rep))
    model = fit_model([(sd, sd.names) for sd in sets], args.l2, log)
    model.meta = {
        "trained_on": "AMiner labeled names + dblp names (data/aminer_name_disambiguation), every pair within a name",
        "fitted_by": "python -m scholarlens.identity.train",
        "l2": args.l2,
        "cv_folds": args.folds,
        "cv_thresholds": [list(t) for t in cv["thresholds"]],
        "cv_out_of_fold": {s: {"bcubed_f1_macro": round(r["bcubed"]["macro"]["f1"], 4),
                               "bcubed_f1_micro": round(r["bcubed"]["micro"]["f1"], 4),
                               "pairwise_f1_macro": round(r["pairwise"]["macro"]["f1"], 4),
                               "pairwise_f1_micro": round(r["pairwise"]["micro"]["f1"], 4)} for s, r in rep.items()},
    }
    log(f"final thresholds {[s.threshold for s in model.rounds]}; {time.perf_counter() - start:.1f} s")
    for f, a, b in zip(FEATURES, model.rounds[0].coef, model.rounds[1].coef):
        log(f"  {f:14s} {a:+.3f} {b:+.3f}")
    if not args.no_write:
        WEIGHTS.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
        log(f"wrote {WEIGHTS}")


if __name__ == "__main__":
    main()
