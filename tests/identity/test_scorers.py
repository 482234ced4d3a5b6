"""The engine's scorers and the trainer's pieces: gradient-boosted trees exported to plain arrays score exactly as
scikit-learn does, models round-trip through JSON, the shipped model loads, the new features mean what they say,
the objective pools what it says, large-block thresholds move only large blocks, and the trainer's shortcut
(round 0 read off cached merges) clusters exactly as the engine does."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from scholarlens.identity import cluster, train
from scholarlens.identity.cluster import (
    FEATURES, FEATURES_V1, Mention, Model, PairScorer, TreeScorer, block_stats, blocks, load_model, pair_features,
    prepare, profiles,
)
from scholarlens.identity.names import common_surname


def _xy(n: int = 4000, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, len(FEATURES))).astype(np.float32)
    x[:, FEATURES.index("co_any")] = rng.integers(0, 2, n)
    x[:, FEATURES.index("year_gap")] = np.round(rng.random(n) * 3, 1)
    logit = 4 * x[:, FEATURES.index("co_any")] + 3 * x[:, FEATURES.index("emb_cos")] \
        - 2 * x[:, FEATURES.index("year_gap")] - 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y


def test_exported_trees_score_exactly_as_scikit_learn():
    sklearn = pytest.importorskip("sklearn.ensemble")
    x, y = _xy()
    design = dataclasses.replace(train.DESIGNS["trees"], trees=30, min_leaf=20)
    model = sklearn.HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=16, max_depth=4, min_samples_leaf=20,
                                                   early_stopping=False, random_state=0).fit(x, y.astype(int))
    scorer = train.export_trees(model, FEATURES, 0.5)
    fresh, _ = _xy(3000, seed=1)
    assert np.abs(scorer.probability(fresh) - model.predict_proba(fresh)[:, 1]).max() < 1e-9
    # through JSON and back, the same numbers
    again = TreeScorer.from_json(json.loads(json.dumps(scorer.to_json())))
    assert np.array_equal(again.probability(fresh), scorer.probability(fresh))
    # and the trainer's own fit honours the monotone constraints: more shared co-authors never lowers the score
    fitted = train.fit_scorer(x, y, np.ones(len(y)), design)
    lo, hi = fresh.copy(), fresh.copy()
    lo[:, FEATURES.index("co_any")], hi[:, FEATURES.index("co_any")] = 0, 1
    assert (fitted.probability(hi) >= fitted.probability(lo) - 1e-12).all()
    lo, hi = fresh.copy(), fresh.copy()
    lo[:, FEATURES.index("year_gap")], hi[:, FEATURES.index("year_gap")] = 0, 2.5
    assert (fitted.probability(hi) <= fitted.probability(lo) + 1e-12).all()


def test_scorers_read_their_own_features_only():
    x, y = _xy()
    scorer = train.fit_scorer(x, y, np.ones(len(y)), train.DESIGNS["previous"])
    assert scorer.features == FEATURES_V1 and len(scorer.coef) == len(FEATURES_V1)
    changed = x.copy()
    changed[:, FEATURES.index("co_hop")] += 5  # not a feature of the previous design
    assert np.array_equal(scorer.probability(changed), scorer.probability(x))
    with pytest.raises(ValueError, match="rerun"):
        PairScorer.from_json({**scorer.to_json(), "features": ["no_such_feature"], "coef": [1.0], "mean": [0.0],
                              "scale": [1.0]})


def test_shipped_model_loads_and_round_trips():
    model = load_model()
    design = train.DESIGNS[train.SHIPPED]
    assert model.meta["design"] == train.SHIPPED
    for scorer in model.rounds:
        assert isinstance(scorer, TreeScorer if design.kind == "trees" else PairScorer)
        assert scorer.features == design.features
    # the figures it ships with are the out-of-fold ones, and they beat the previous engine's on the dblp names
    oof = model.meta["cv_out_of_fold"]
    assert oof["dblp_names"]["bcubed_f1_micro"] > 0.879 and oof["labeled_names"]["bcubed_f1_micro"] > 0.877
    again = Model.from_json(json.loads(train.dump_model(model)))
    x, _ = _xy(500)
    for a, b in zip(model.rounds, again.rounds):
        assert a.threshold == b.threshold
        assert np.array_equal(a.probability(x), b.probability(x))


def _mentions():
    # a: shares co-author P with b; c shares Q with b; a and c share nothing directly: one hop apart through b
    return [Mention("a", "Wei Wang", coauthors=("Pat Smith", "Ann Lee")),
            Mention("b", "Wei Wang", coauthors=("Pat Smith", "Quinn Roe")),
            Mention("c", "Wei Wang", coauthors=("Quinn Roe",)),
            Mention("d", "Wei Wang", coauthors=("Zed Zulu",)),
            Mention("e", "Bo Lee", coauthors=("Pat Smith",))]  # another block: never a hop


def test_co_hop_counts_third_mentions_of_the_block():
    prep = prepare(_mentions())
    rows = blocks(prep.mentions)
    hop = cluster.block_coauthors(prep, rows)
    prof = profiles(prep, [[r] for r in range(len(prep.mentions))], hop)
    row = {m.mention_id: r for r, m in enumerate(prep.mentions)}
    pairs = [("a", "c"), ("a", "b"), ("a", "d"), ("a", "e")]
    stats = block_stats(prep, rows)
    x = pair_features(prof, [row[p] for p, _ in pairs], [row[q] for _, q in pairs], stats[0])
    col = x[:, FEATURES.index("co_hop")]
    assert col[0] == pytest.approx(np.log(2))  # a - c through b
    assert col[1] == 0  # a - b share directly; no third mention shares with both
    assert col[2] == 0 and col[3] == 0
    # a node of a and b: c is outside it and shares Quinn Roe with it, d shares nothing
    prof2 = profiles(prep, [[row["a"], row["b"]], [row["c"]], [row["d"]]], hop)
    assert prof2.hop[0].toarray().ravel()[row["c"]] == 1 and prof2.hop[0].toarray().ravel()[row["d"]] == 0
    assert prof2.hop[0].toarray().ravel()[row["a"]] == 0  # never its own mentions


def test_co_common_and_co_hop_rare_discount_very_common_co_author_names():
    # a and b share "Li Zhang" (a very common surname) and "Pat Smith"; b and c share only "Li Zhang";
    # a and c are one hop apart through b by both co-authors' names... but through "Li Zhang" only for c
    mentions = [Mention("a", "Wei Wang", coauthors=("Li Zhang", "Pat Smith")),
                Mention("b", "Wei Wang", coauthors=("Li Zhang", "Pat Smith", "Quinn Roe")),
                Mention("c", "Wei Wang", coauthors=("Li Zhang",)),
                Mention("d", "Wei Wang", coauthors=("Quinn Roe",))]
    prep = prepare(mentions)
    rows = blocks(prep.mentions)
    prof = profiles(prep, [[r] for r in range(len(prep.mentions))], cluster.block_coauthors(prep, rows))
    row = {m.mention_id: r for r, m in enumerate(prep.mentions)}
    pairs = [("a", "b"), ("b", "c"), ("a", "d"), ("c", "d")]
    x = pair_features(prof, [row[p] for p, _ in pairs], [row[q] for _, q in pairs], block_stats(prep, rows)[0])
    co_log, co_common = x[:, FEATURES.index("co_log")], x[:, FEATURES.index("co_common")]
    assert co_log[0] == pytest.approx(np.log(3)) and co_common[0] == pytest.approx(np.log(2))  # 2 shared, 1 common
    assert co_log[1] == pytest.approx(np.log(2)) and co_common[1] == pytest.approx(np.log(2))  # only "Li Zhang"
    hop, rare = x[:, FEATURES.index("co_hop")], x[:, FEATURES.index("co_hop_rare")]
    # a - d: b shares Pat Smith (rare) with a and Quinn Roe (rare) with d: a hop either way
    assert hop[2] == pytest.approx(np.log(2)) and rare[2] == pytest.approx(np.log(2))
    # c - d: b shares Li Zhang with c (common) and Quinn Roe with d: a hop, but not through rare names only
    assert hop[3] == pytest.approx(np.log(2)) and rare[3] == 0
    # pooled nodes keep the split: a node {a, c} against b shares Li Zhang and Pat Smith, one of them common
    prof2 = profiles(prep, [[row["a"], row["c"]], [row["b"]], [row["d"]]])
    y = pair_features(prof2, [0], [1], block_stats(prep, rows)[0])
    assert y[0, FEATURES.index("co_common")] == pytest.approx(np.log(2))
    assert y[0, FEATURES.index("co_log")] == pytest.approx(np.log(3))


def test_co_disjoint_and_org_disjoint_count_the_smaller_side_only_when_nothing_is_shared():
    mentions = [Mention("a", "Lei Wang", coauthors=("Ann Lee", "Bo Chen", "Cy Diaz"), organisation="Univ A"),
                Mention("b", "Lei Wang", coauthors=("Dan Eck", "Eve Fox"), organisation="Univ B"),
                Mention("c", "Lei Wang", coauthors=("Ann Lee",), organisation="Univ A"),
                Mention("d", "Lei Wang")]
    prep = prepare(mentions)
    rows = blocks(prep.mentions)
    row = {m.mention_id: r for r, m in enumerate(prep.mentions)}
    prof = profiles(prep, [[r] for r in range(len(prep.mentions))])
    pairs = [("a", "b"), ("a", "c"), ("b", "d")]
    x = pair_features(prof, [row[p] for p, _ in pairs], [row[q] for _, q in pairs], block_stats(prep, rows)[0])
    co, org = x[:, FEATURES.index("co_disjoint")], x[:, FEATURES.index("org_disjoint")]
    assert co[0] == pytest.approx(np.log(3)) and org[0] == pytest.approx(np.log(2))  # 3 vs 2 co-authors, none shared
    assert co[1] == 0 and org[1] == 0  # share Ann Lee and Univ A
    assert co[2] == 0 and org[2] == 0  # d has neither: no evidence either way
    # pooled: {a, b} against c still shares Ann Lee; {b} against {a, c} shares nothing, the smaller side has 2
    prof2 = profiles(prep, [[row["b"]], [row["a"], row["c"]], [row["d"]]])
    y = pair_features(prof2, [0], [1], block_stats(prep, rows)[0])
    assert y[0, FEATURES.index("co_disjoint")] == pytest.approx(np.log(3))


def test_closest_members_is_the_best_pair_and_costs_nothing_unread():
    rng = np.random.default_rng(3)
    words = ["graph", "kernel", "ada", "runtime", "cache", "mpi", "fault", "thread", "query", "index"]
    mentions = [Mention(f"m{k:02d}", "Frank Mueller", title=" ".join(rng.choice(words, 3)), year=2000 + k)
                for k in range(12)]
    prep = prepare(mentions)
    groups = [[0, 1, 2, 3, 4], [5], [6, 7], [8], [9, 10, 11]]
    prof = profiles(prep, groups)
    i, j = np.array([0, 0, 1, 2, 3, 1]), np.array([1, 2, 3, 4, 4, 2])
    stats = block_stats(prep, blocks(prep.mentions))[0]
    x = pair_features(prof, i, j, stats)
    dense_text = prep.text.toarray()
    for k, (a, b) in enumerate(zip(i, j)):
        want_text = (dense_text[groups[a]] @ dense_text[groups[b]].T).max()
        want_emb = (prep.embedding[groups[a]] @ prep.embedding[groups[b]].T).max()
        assert x[k, FEATURES.index("text_max")] == pytest.approx(want_text, abs=1e-6)
        assert x[k, FEATURES.index("emb_max")] == pytest.approx(want_emb, abs=1e-6)
    # a scorer that does not read them does not pay for them: the columns are 0, every other column the same
    lean = pair_features(prof, i, j, stats, needed=FEATURES_V1)
    costly = [FEATURES.index(f) for f in cluster.COSTLY_FEATURES]
    assert (lean[:, costly] == 0).all()
    rest = [c for c in range(len(FEATURES)) if c not in costly]
    assert np.array_equal(lean[:, rest], x[:, rest])


def test_block_parts_and_common_surname():
    prep = prepare(_mentions())
    rows = blocks(prep.mentions)
    stats = block_stats(prep, rows)
    parts = cluster.BLOCK_FEATURES.index("block_parts")
    common = cluster.BLOCK_FEATURES.index("block_common")
    by_first = {prep.mentions[r[0]].name: k for k, r in enumerate(rows)}
    assert stats[by_first["Wei Wang"], parts] == pytest.approx(2 / 4)  # {a, b, c} and {d}
    assert stats[by_first["Bo Lee"], parts] == 1.0
    assert stats[by_first["Wei Wang"], common] == 1.0
    assert common_surname("Jiawei Han") and common_surname("Minsoo Kim") and not common_surname("Thomas Ludwig")


def test_objective_macro_micro_and_worst():
    sets = [train.SetData("s", None, None, [], [], {})]
    big = train.NameData("s", "big", "Big", list(range(8)), [])
    small = train.NameData("s", "small", "Small", [8, 9], [])
    gold = {**{f"b{k}": "x" if k < 4 else "y" for k in range(8)}, "s0": "z", "s1": "z"}
    pred = {"s/big": {f"b{k}": "one" for k in range(8)}, "s/small": {"s0": "u", "s1": "v"}}

    class Fake:
        set_name = "s"

        @staticmethod
        def gold(nd):
            return {k: v for k, v in gold.items() if k[0] == nd.key[0]}

    selection = [(Fake, [big, small])]
    # big: B-cubed P 0.5, R 1 -> F1 2/3; small: P 1, R 0.5 -> F1 2/3; micro pools 10 items: P 0.5*8+2=6/10, R 8+1=9/10
    assert train.objective(selection, pred, "macro") == pytest.approx(2 / 3)
    micro = 2 * 0.6 * 0.9 / 1.5
    assert train.objective(selection, pred, "macro+micro") == pytest.approx((2 / 3 + micro) / 2)
    assert train.objective(selection, pred, "worst") == pytest.approx(min(2 / 3, micro)) and micro > 2 / 3
    del sets


def test_smoothed_judges_a_threshold_with_its_neighbours():
    scores = [0.80, 0.90, 0.70, 0.85, 0.86, 0.85, 0.70]  # a lucky spike at the second point, a plateau after
    assert train.smoothed(scores, 0) == scores
    s = train.smoothed(scores, 1)
    assert s[0] == pytest.approx(0.85) and s[1] == pytest.approx(0.80) and s[-1] == pytest.approx(0.775)  # ends: 2
    assert max(range(len(s)), key=s.__getitem__) == 4  # the plateau's middle, where the raw scores' argmax is 1


DB = ["query optimization for relational databases", "indexing large tables with learned models",
      "transaction processing in distributed databases", "join ordering with cost models"]
BIO = ["protein folding pathways in yeast", "gene expression of the zebrafish heart",
       "a mouse model of cardiac development", "rna splicing in human cells"]


def _aminer_folder(root, set_name="toy"):
    folder = root / set_name
    folder.mkdir()
    for f, name in enumerate(["Wei Wang", "Jun Li", "Anna Berg"]):
        xml = ["<?xml version='1.0'?>", f"<person><FullName>{name}</FullName>"]
        for k in range(8):
            person = k % (2 if f < 2 else 1)
            titles = DB if person == 0 else BIO
            co = [f"Co{person} Alpha{f}", f"Co{person} Beta{k % 3}"] if k % 4 else [f"Lone{k} Gamma{f}"]
            xml.append(f"<publication><title>{titles[k % 4]}</title><year>{2000 + k}</year>"
                       f"<authors>{','.join(co + [name])}</authors><jconf>{'VLDB' if person == 0 else 'Cell'}</jconf>"
                       f"<label>{person}</label><organization>Org {person}</organization></publication>")
        xml.append("</person>")
        (folder / f"{name.replace(' ', '_')}.xml").write_text("\n".join(xml), encoding="utf-8")
    return root


def test_trainer_shortcut_clusters_as_the_engine(tmp_path):
    """fit_model scores the threshold grid from cached round-0 merges (predict_later); that must be exactly
    what the engine (predict, through cluster_blocks) gives with the same model and thresholds."""
    sets = train.load_sets(_aminer_folder(tmp_path), sets=("toy",))
    selection = [(sd, sd.names) for sd in sets]
    design = dataclasses.replace(train.DESIGNS["previous"], t0_grid=(0.5,), t1_grid=(0.5,), later_states=False)
    model = train.fit_model(selection, design, log=lambda *a: None)
    scorer0, scorer1 = model.rounds
    sd = sets[0]
    merged = {}
    for nd in sd.names:
        for b in nd.blocks:
            blk = sd.blocks[b]
            merged[(sd.set_name, b)] = cluster._average_linkage(
                [frozenset([sd.prep.parsed[r]]) for r in blk.rows], [frozenset()] * len(blk.rows), blk.i, blk.j,
                scorer0.probability(blk.x), 0.05)
    for t0, t1 in [(0.5, 0.5), (0.3, 0.2), (0.9, 0.05), (0.05, 0.95)]:
        full = train.predict(selection, Model([dataclasses.replace(scorer0, threshold=t0), scorer1]), (t0, t1))
        assert train.predict_later(selection, merged, t0, scorer1, t1, Model([scorer0]).max_rounds) == full
    # and the toy names come out right: two persons in each of the first two names, one in the third
    pred = train.predict(selection, model)
    for nd in sd.names:
        assert len(set(pred[nd.id].values())) == (1 if "Anna" in nd.key else 2)


def test_block_threshold_lowers_only_large_blocks():
    assert cluster.block_threshold(0.7, 0.0, 5000) == 0.7
    assert cluster.block_threshold(0.7, 0.1, cluster.SIZE_PIVOT) == 0.7
    assert cluster.block_threshold(0.7, 0.1, 3) == 0.7
    assert cluster.block_threshold(0.7, 0.1, cluster.SIZE_PIVOT * 10) == pytest.approx(0.7 - 0.1 * np.log(10))
    # a scorer's size_slope reaches the clustering: every pair scores 0.5; at threshold 0.6 nothing merges,
    # unless the block is large enough for the slope to bring its threshold under 0.5
    @dataclasses.dataclass
    class Flat:
        threshold: float
        size_slope: float
        features: tuple = ()

        def probability(self, x):
            return np.full(len(x), 0.5)

    def persons(n, slope):
        mentions = [Mention(f"m{k:03d}", "Wei Wang", title=f"paper {k}") for k in range(n)]
        model = Model([Flat(0.6, slope)], max_rounds=2)
        return len(set(cluster.disambiguate(mentions, model=model).values()))

    assert persons(30, 0.0) == 30
    assert persons(30, 0.1) == 30  # 0.6 - 0.1 * log(30 / 20) = 0.56: still above 0.5
    assert persons(60, 0.1) == 1  # 0.6 - 0.1 * log(3) = 0.49
    assert PairScorer.from_json({**train.fit_scorer(*_xy()[:2], np.ones(4000), train.DESIGNS["previous"]).to_json(),
                                 "size_slope": 0.25}).size_slope == 0.25


def test_group_folds_with_a_seed_is_another_balanced_split_of_whole_names():
    sizes = [40, 31, 25, 20, 17, 12, 9, 8, 6, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1]
    names, start = [], 0
    for i, n in enumerate(sizes):
        names.append(train.NameData("s", f"n{i:02d}", f"Name {i}", list(range(start, start + n)), []))
        start += n
    sd = train.SetData("s", None, None, [], names, {})
    fixed = train.group_folds([sd], 4)
    seeded = [train.group_folds([sd], 4, seed) for seed in (0, 1)]
    assert train.group_folds([sd], 4, 0) == seeded[0]  # a seed names one split
    for split in [fixed] + seeded:
        assert set(split) == {nd.id for nd in names} and set(split.values()) == {0, 1, 2, 3}
        load = [sum(len(nd.rows) for nd in names if split[nd.id] == f) for f in range(4)]
        # each name goes to the lightest fold: no fold ends more than the largest name above another
        assert max(load) - min(load) <= max(sizes)
    assert seeded[0] != fixed and seeded[1] != fixed and seeded[0] != seeded[1]
