"""Pairwise and B-cubed scores on hand-made clusterings, with every expected value worked out by hand."""

from __future__ import annotations

import pytest

from scholarlens.identity import metrics


def test_pairwise_and_bcubed_on_a_split_and_a_merge():
    # gold: {a b c} {d e}; predicted: {a b} {c d e}
    gold = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}
    pred = {"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Y"}
    pw = metrics.pairwise(gold, pred)
    # gold pairs ab ac bc de = 4; predicted pairs ab cd ce de = 4; in both: ab de = 2
    assert (pw.p_num, pw.p_den, pw.r_den) == (2, 4, 4)
    assert pw.precision == pytest.approx(0.5) and pw.recall == pytest.approx(0.5) and pw.f1 == pytest.approx(0.5)
    b3 = metrics.bcubed(gold, pred)
    # precision per item: a 2/2, b 2/2, c 1/3, d 2/3, e 2/3 -> 11/3 / 5
    assert b3.precision == pytest.approx(11 / 15)
    # recall per item: a 2/3, b 2/3, c 1/3, d 2/2, e 2/2 -> 11/3 / 5
    assert b3.recall == pytest.approx(11 / 15)
    assert b3.f1 == pytest.approx(11 / 15)


def test_all_singletons_against_one_person():
    gold = dict.fromkeys("abcd", "p")
    pred = {k: k for k in "abcd"}
    b3 = metrics.bcubed(gold, pred)
    assert b3.precision == 1.0
    assert b3.recall == pytest.approx(0.25)
    assert b3.f1 == pytest.approx(2 * 0.25 / 1.25)  # 0.4
    pw = metrics.pairwise(gold, pred)
    assert pw.precision == 1.0  # no pair claimed: nothing wrong
    assert pw.recall == 0.0 and pw.f1 == 0.0


def test_everything_in_one_cluster():
    gold = {"a": 1, "b": 1, "c": 2, "d": 3}
    pred = dict.fromkeys("abcd", 0)
    b3 = metrics.bcubed(gold, pred)
    assert b3.precision == pytest.approx((2 / 4 + 2 / 4 + 1 / 4 + 1 / 4) / 4)  # 0.375
    assert b3.recall == 1.0
    assert b3.f1 == pytest.approx(2 * 0.375 / 1.375)
    pw = metrics.pairwise(gold, pred)
    assert pw.precision == pytest.approx(1 / 6) and pw.recall == 1.0
    assert pw.f1 == pytest.approx(2 / 7)


def test_perfect_and_label_names_do_not_matter():
    gold = {"a": 1, "b": 1, "c": 2}
    pred = {"a": "z", "b": "z", "c": "y"}
    for s in metrics.evaluate(gold, pred).values():
        assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)


def test_macro_and_micro_aggregation():
    # name 1: the split/merge case above; name 2: all singletons against one person of 4
    s1 = metrics.bcubed({"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}, {"a": 0, "b": 0, "c": 1, "d": 1, "e": 1})
    s2 = metrics.bcubed(dict.fromkeys("wxyz", 1), {k: k for k in "wxyz"})
    agg = metrics.aggregate([s1, s2])
    assert agg["macro"]["precision"] == pytest.approx((11 / 15 + 1) / 2)
    assert agg["macro"]["recall"] == pytest.approx((11 / 15 + 0.25) / 2)
    assert agg["macro"]["f1"] == pytest.approx((11 / 15 + 0.4) / 2)  # mean of the F1s, not F1 of the means
    # micro: per-item sums pooled over the 9 items
    p = (11 / 3 + 4) / 9
    r = (11 / 3 + 1) / 9
    assert agg["micro"]["precision"] == pytest.approx(p)
    assert agg["micro"]["recall"] == pytest.approx(r)
    assert agg["micro"]["f1"] == pytest.approx(2 * p * r / (p + r))

    pw1 = metrics.pairwise({"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}, {"a": 0, "b": 0, "c": 1, "d": 1, "e": 1})
    pw2 = metrics.pairwise(dict.fromkeys("wxyz", 1), {k: k for k in "wxyz"})
    micro = metrics.aggregate([pw1, pw2])["micro"]
    assert micro["precision"] == pytest.approx(2 / 4)  # 2 true of 4 predicted pairs, 0 of 0
    assert micro["recall"] == pytest.approx(2 / 10)  # 2 true of 4 + 6 gold pairs


def test_mismatched_items_are_an_error():
    with pytest.raises(ValueError):
        metrics.bcubed({"a": 1}, {"b": 1})
