"""The default embedder, embed_jsonl, and the "nearest before D" index."""

from __future__ import annotations

import gzip
import json
import re
from importlib import resources

import numpy as np
import pytest

from scholarlens.embed import (
    HybridEmbedder,
    WorkIndex,
    embed_jsonl,
    index_works,
    load_embedder,
    nearest_earlier,
    to_days,
    words,
)

SAMPLE = resources.files("scholarlens") / "sample"


def _real_abstracts() -> list[str]:
    """The 100 real abstracts of the bundled S2AG sample (random papers from all fields)."""
    raw = (SAMPLE / "s2ag" / "abstracts" / "abstracts-sample.jsonl.gz").read_bytes()
    lines = gzip.decompress(raw).decode("utf-8").splitlines()
    return [json.loads(line)["abstract"] for line in lines if json.loads(line).get("abstract")]


def _profile_cards() -> list[tuple[str, str]]:
    """(title, abstract) of the seed profile page's cards: 50 real computer-vision papers."""
    text = (SAMPLE / "profile_pages" / "lewei-lu.txt").read_text(encoding="utf-8")
    blocks = [b.strip().split("\n") for b in text.split("\n\n")]
    cards = []
    for i, block in enumerate(blocks):
        # A card: a header line "CVNov 10, 2022Code", then the title, then authors, then the abstract.
        if len(block) == 2 and re.match(r"^[A-Z]{2}[A-Z][a-z]{2} ", block[0]) and i + 2 < len(blocks):
            cards.append((block[1], blocks[i + 2][0]))
    return cards


@pytest.fixture(scope="module")
def abstracts() -> list[str]:
    return _real_abstracts()


@pytest.fixture(scope="module")
def embedder(abstracts) -> HybridEmbedder:
    return HybridEmbedder.fit(abstracts)


# ---- the embedder


def test_words_fold_accents_and_case_and_keep_other_scripts():
    assert words("Gödel's Théorème, 2nd ed.") == ["godel", "s", "theoreme", "2nd", "ed"]
    assert words("Привет, мир! 翻转课堂") == ["привет", "мир", "翻", "转", "课", "堂"]


def test_abstracts_in_other_scripts_get_a_vector(embedder, abstracts):
    chinese = [a for a in abstracts if not words(a)[0].isascii()]  # Chinese, Russian, ...
    assert len(chinese) >= 3
    vectors = embedder.embed(chinese)
    assert (np.linalg.norm(vectors, axis=1) > 0.99).all()


def test_embeddings_are_unit_float32_rows_of_fixed_width(embedder, abstracts):
    vectors = embedder.embed(abstracts[:7] + ["", None])
    assert vectors.dtype == np.float32
    assert vectors.shape == (9, embedder.dim) == (9, 256)
    np.testing.assert_allclose(np.linalg.norm(vectors[:7], axis=1), 1.0, atol=1e-5)
    assert not vectors[7:].any()  # no text, no vector


def test_fitting_is_deterministic_and_a_saved_embedder_embeds_the_same(abstracts, embedder, tmp_path):
    again = HybridEmbedder.fit(abstracts)
    np.testing.assert_array_equal(again.embed(abstracts), embedder.embed(abstracts))
    embedder.save(tmp_path / "model")
    loaded = load_embedder(tmp_path / "model")
    np.testing.assert_array_equal(loaded.embed(abstracts), embedder.embed(abstracts))


def test_a_text_embeds_the_same_alone_or_in_a_batch(embedder, abstracts):
    batch = embedder.embed(abstracts[:20])
    alone = np.vstack([embedder.embed([t]) for t in abstracts[:20]])
    np.testing.assert_allclose(batch, alone, atol=1e-6)


def test_titles_count_and_must_match_texts(embedder, abstracts):
    plain = embedder.embed(abstracts[:3])
    titled = embedder.embed(abstracts[:3], ["Partisan ticket splitting", None, "Soil"])
    assert not np.allclose(plain[0], titled[0])
    np.testing.assert_array_equal(plain[1], titled[1])
    with pytest.raises(ValueError):
        embedder.embed(abstracts[:3], ["only one title"])


def test_a_tiny_corpus_still_embeds_through_the_static_half():
    tiny = HybridEmbedder.fit(["graph neural networks", "protein folding"])
    v = tiny.embed(["graph neural networks for molecules", "protein structure", "neural network graphs"])
    sims = v @ v.T
    assert sims[0, 2] > sims[0, 1]


def test_real_text_retrieval_first_half_finds_its_second_half(abstracts):
    halves = []
    for text in abstracts:
        sentences = re.split(r"(?<=[.!?])\s+", text)
        if len(sentences) >= 4:
            mid = len(sentences) // 2
            halves.append((" ".join(sentences[:mid]), " ".join(sentences[mid:])))
    firsts, seconds = zip(*halves)
    model = HybridEmbedder.fit(list(firsts) + list(seconds))
    sims = model.embed(list(firsts)) @ model.embed(list(seconds)).T
    hit = np.mean(sims.argmax(axis=1) == np.arange(len(halves)))
    assert len(halves) >= 50
    assert hit >= 0.8, hit  # random would be ~2%


def test_real_text_retrieval_a_title_finds_its_abstract_among_one_field():
    cards = _profile_cards()
    titles, texts = zip(*cards)
    model = HybridEmbedder.fit(list(texts))
    sims = model.embed(list(titles)) @ model.embed(list(texts)).T
    hit = np.mean(sims.argmax(axis=1) == np.arange(len(cards)))
    assert len(cards) >= 40
    assert hit >= 0.6, hit  # all 50 are computer vision; random would be ~2%


# ---- embed_jsonl


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_embed_jsonl_writes_rows_in_input_order(abstracts, tmp_path):
    records = [{"id": f"p{i}", "text": t} for i, t in enumerate(abstracts[:30])]
    records[4]["text"] = ""
    _write_jsonl(tmp_path / "in.jsonl", records)
    seen = []
    n = embed_jsonl(tmp_path / "in.jsonl", tmp_path / "out.npy", progress=lambda d, t: seen.append((d, t)),
                    model_dir=tmp_path / "model", batch_size=8)
    assert n == 30
    assert seen[-1] == (30, 30) and len(seen) == 4
    vectors = np.load(tmp_path / "out.npy")
    assert vectors.dtype == np.float32 and vectors.shape == (30, 256)
    assert not vectors[4].any()
    np.testing.assert_allclose(vectors, load_embedder(tmp_path / "model").embed([r["text"] for r in records]),
                               atol=1e-6)
    # Reversed input through the saved model: the same rows, reversed.
    _write_jsonl(tmp_path / "rev.jsonl", records[::-1])
    embed_jsonl(tmp_path / "rev.jsonl", tmp_path / "rev.npy", model_dir=tmp_path / "model")
    np.testing.assert_allclose(np.load(tmp_path / "rev.npy"), vectors[::-1], atol=1e-6)


def test_embed_jsonl_names_the_bad_line(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "text": "fine"}\n{"id": 2, "text": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        embed_jsonl(tmp_path / "bad.jsonl", tmp_path / "out.npy")
    (tmp_path / "noid.jsonl").write_text('{"text": "no id"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"noid.jsonl:1"):
        embed_jsonl(tmp_path / "noid.jsonl", tmp_path / "out.npy")


def test_embed_jsonl_refuses_an_unknown_backend(tmp_path):
    _write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x"}])
    with pytest.raises(ValueError, match="unknown backend"):
        embed_jsonl(tmp_path / "in.jsonl", tmp_path / "out.npy", backend="nope")


# ---- nearest earlier works and the index


def _brute_before(vectors, days, query, day, k):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    q = query / np.linalg.norm(query)
    allowed = np.flatnonzero(days < day)
    sims = unit[allowed] @ q
    order = np.argsort(-sims, kind="stable")[:k]
    return list(allowed[order]), sims[order]


def _literature(n, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, dim))
    vectors = centres[rng.integers(0, 8, n)] + 0.5 * rng.standard_normal((n, dim))
    dates = np.datetime64("2000-01-01") + rng.integers(0, 3000, n).astype("timedelta64[D]")
    return [f"w{i}" for i in range(n)], vectors.astype(np.float32), dates


@pytest.mark.parametrize("exact_limit", [50_000, 0])  # exact, and the HNSW path on the same data
def test_nearest_earlier_returns_only_strictly_earlier_works(exact_limit):
    ids, vectors, dates = _literature(400)
    days = to_days(dates)
    rows, _ = nearest_earlier(vectors, days, k=5, keys=ids, exact_limit=exact_limit)
    agree = 0
    for i in range(len(ids)):
        found = [r for r in rows[i] if r >= 0]
        assert all(days[r] < days[i] for r in found)
        expected, _ = _brute_before(vectors, days, vectors[i], days[i], 5)
        assert len(found) == len(expected)
        agree += len(set(found) & set(expected))
    assert agree / max(1, sum(len(_brute_before(vectors, days, vectors[i], days[i], 5)[0]) for i in range(400))) > 0.95


@pytest.mark.parametrize("exact_below", [20_000, 0])
def test_index_answers_nearest_before_a_date(exact_below):
    ids, vectors, dates = _literature(500, seed=1)
    index = WorkIndex(16, exact_below=exact_below, ef_search=200)
    assert len(index) == 0
    assert index.add(ids, vectors, dates) == 500
    days = to_days(dates)
    queries = vectors[:40] + 0.1
    before = dates[40:80]
    answers = index.nearest_before(queries, before, k=6)
    limit = to_days(before)
    for q, answer in enumerate(answers):
        assert all(days[int(i[1:])] < limit[q] for i, _ in answer)
        expected, sims = _brute_before(vectors, days, queries[q], limit[q], 6)
        assert [i for i, _ in answer] == [ids[e] for e in expected]
        np.testing.assert_allclose([s for _, s in answer], sims, atol=1e-5)
    assert index.exact_fallbacks == 0  # the graph itself found them, no fallback hid a failing graph search


def test_index_before_the_first_work_is_empty():
    ids, vectors, dates = _literature(50)
    index = WorkIndex(16)
    index.add(ids, vectors, dates)
    assert index.nearest_before(vectors[:2], ["1999-01-01", "1999-01-01"]) == [[], []]


def test_index_persists_and_incremental_adds_match_a_rebuild(tmp_path):
    ids, vectors, dates = _literature(600, seed=2)
    order = np.argsort(dates, kind="stable")
    first, second = order[:400], order[400:]  # a build, then newer works
    grown = WorkIndex(16, exact_below=0, ef_search=300)
    grown.add([ids[i] for i in first], vectors[first], dates[first])
    grown.save(tmp_path / "idx")
    reopened = WorkIndex.open(tmp_path / "idx")
    assert len(reopened) == 400 and reopened.ids == [ids[i] for i in first[np.argsort(dates[first], kind="stable")]]
    assert reopened.add([ids[i] for i in second], vectors[second], dates[second]) == 200
    assert reopened.add([ids[i] for i in second[:5]], vectors[second[:5]], dates[second[:5]]) == 0  # idempotent
    reopened.save(tmp_path / "idx")
    reopened = WorkIndex.open(tmp_path / "idx")

    rebuilt = WorkIndex(16, exact_below=0, ef_search=300)
    rebuilt.add(ids, vectors, dates)
    queries, before = vectors[::20], dates[::-20]
    got, want = reopened.nearest_before(queries, before, k=8), rebuilt.nearest_before(queries, before, k=8)
    assert [[i for i, _ in a] for a in got] == [[i for i, _ in a] for a in want]
    np.testing.assert_allclose([s for a in got for _, s in a], [s for a in want for _, s in a], atol=1e-6)
    row = reopened.ids.index("w7")
    np.testing.assert_allclose(reopened.vectors()[row], vectors[7] / np.linalg.norm(vectors[7]), atol=1e-6)


def test_index_with_rows_out_of_date_order_filters_by_bitmap():
    ids, vectors, dates = _literature(300, seed=3)
    index = WorkIndex(16, exact_below=0, ef_search=300)
    index.add(ids[150:], vectors[150:], dates[150:])
    index.add(ids[:150], vectors[:150], dates[:150])  # older works arriving late
    assert not index._date_ordered
    days = to_days(dates)
    limit = np.sort(days)[200]
    answer = index.nearest_before(vectors[:10], [np.datetime64(int(limit), "D")] * 10, k=5)
    for q in range(10):
        expected, _ = _brute_before(vectors, days, vectors[q], limit, 5)
        assert [i for i, _ in answer[q]] == [ids[e] for e in expected]


def test_index_skips_works_without_text_or_date_and_checks_shapes():
    index = WorkIndex(4)
    added = index.add(["a", "b", "c", "a"], np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]]),
                      ["2020-01-01", "2020-01-02", None, "2020-01-01"])
    assert added == 1 and index.ids == ["a"]
    with pytest.raises(ValueError):
        index.add(["x"], np.ones((1, 3)), ["2020-01-01"])


def test_index_works_keeps_store_vectors_beside_the_store(abstracts, tmp_path):
    store = tmp_path / "scholar.duckdb"
    ids = [f"s2:{i}" for i in range(len(abstracts))]
    dates = [f"{2000 + i % 20}-06-01" for i in range(len(abstracts))]
    index_works(store, ids[:60], abstracts[:60], dates[:60])
    index = index_works(store, ids, abstracts, dates)  # the rest, embedded by the saved embedder
    assert (tmp_path / "scholar.duckdb.vectors" / "embedder" / "embedder.json").exists()
    assert len(WorkIndex.open(tmp_path / "scholar.duckdb.vectors")) == len(index) == len(abstracts)
    assert index_works(store, ids, abstracts, dates).ids == index.ids  # nothing new: nothing added
    model = load_embedder(tmp_path / "scholar.duckdb.vectors" / "embedder")
    query = model.embed([abstracts[70]])
    found = index.nearest_before(query, ["2100-01-01"], k=1)[0]
    assert found[0][0] == ids[70]
