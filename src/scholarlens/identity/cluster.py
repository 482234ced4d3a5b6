"""The disambiguation engine: group authorship mentions of ambiguous names into persons.

``disambiguate(mentions, must_link=(), cannot_link=()) -> {mention_id: cluster_id}``

1. Hard evidence and corrections. Mentions that share a source author id (same kind and value: ORCID,
   OpenAlex, Semantic Scholar, ...) are one person (must-link), and so are the caller's ``must_link`` pairs;
   two mentions with different ORCIDs, and the caller's ``cannot_link`` pairs, are never in one person. The
   caller's constraints win over the source ids: a source-id link that would join a cannot-link pair, or two
   different ORCIDs, is dropped. A contradiction within the caller's own constraints (a must-link chain that
   joins a cannot-link pair or two different ORCIDs) is a ValueError; an unknown mention id a KeyError.
2. Blocking. Only mentions in the same block are compared. A mention's block key is ``surname|first initial``
   of its name (``names.block_key``) within its ``group`` (mentions of different groups, e.g. two AMiner files,
   never meet). Two keys share a block when a must-link joins them, or when a name and its exact swapped form
   both occur (``Wei Zhang`` / ``Zhang Wei``). A block of up to ``DENSE_MAX`` mentions compares every pair; a
   larger block compares *candidate pairs* only: mentions sharing a co-author (of at most ``MAX_POSTING``
   mentions in the block), sharing an organisation string (same limit), and each mention's ``KNN`` nearest
   mentions by text. Blocks are independent and are scored in batches of at most 2M pairs, so the
   pair features never hold more than one batch; the per-mention vectors are held for the whole input.
3. Pair scores. For each compared pair of nodes (a node is a mention, a must-link group, or a cluster of an
   earlier round, its evidence pooled: co-authors, organisations and venues as sets, texts as centroids, years as
   a range), features (``FEATURES``): name compatibility, shared co-authors (full names; initials apart; how
   many of them carry a very common surname, ``co_common``, since a shared "Wei Wang" says less than a shared
   "Maria Gini"), co-authors of co-authors (``co_hop``: other mentions of the block that share a co-author with
   each node; ``co_hop_rare`` through rare-surname co-authors only), the closest two papers of the two nodes
   (``text_max``, ``emb_max``: computed only for a scorer that reads them),
   organisation and venue similarity, the gap between the year ranges, similarity of titles, keywords and
   abstracts (TF-IDF cosine with document frequencies over the mentions given, and the cosine of the static
   word-piece embedding shipped with ``scholarlens.embed``), flags for what is missing, the nodes' sizes, and
   six features of the whole block that say how ambiguous the name looks (its size, how often its mentions
   share co-authors or venues, how alike their texts are, how many separate groups "shares a co-author or an
   organisation" leaves, whether the surname is one of the most common East Asian ones). A scorer turns them
   into the probability that the two nodes are one person: a logistic regression (``PairScorer``) in the
   shipped model, or gradient-boosted trees with monotone constraints (``TreeScorer``, plain arrays, numpy only).
   Scorers and thresholds ship in ``pair_scorer.json`` (fitted by ``train.py`` with cross-validation over
   names; nothing trains at run time).
4. Clustering, in rounds. Round 0 scores mention pairs; average-linkage agglomerative clustering merges the two
   nodes with the highest mean pair probability while that mean is at least the round's threshold. Each later
   round pools the evidence of the clusters it starts from, scores cluster pairs with the second scorer and
   merges the same way; a block stops when a round merges nothing (at most ``Model.max_rounds``). Pooling is
   what links the papers of one person that share nothing pairwise (a co-author on one, an organisation on
   another). Pairs never compared count as probability 0. A merge is refused when it would put a cannot-link
   pair, two different ORCIDs or two incompatible names (``names.compatibility`` 0) in one person.
5. Ids. A person's ``cluster_id`` is derived from the smallest mention id in it (``"p" + sha1[:16]``), so a
   rerun on the same mentions gives the same ids whatever their order.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..gcpause import cyclic_gc_paused
from .names import (
    COMMON_SURNAMES, ParsedName, block_key, coauthor_keys, common_surname, compatibility, fold_surname, normalise,
    parse_name, swapped_key,
)

__all__ = [
    "Mention", "FEATURES", "PairScorer", "TreeScorer", "Model", "load_model", "disambiguate", "cluster_id_for",
    "blocks", "prepare", "profiles", "pair_features", "cluster_blocks", "block_stats", "simple_union",
    "write_clusters_jsonl", "disambiguate_path", "ClusterRows",
]

WEIGHTS = Path(__file__).with_name("pair_scorer.json")
DENSE_MAX = 400  # blocks up to this size compare every pair (the largest AMiner name has 305 mentions)
MAX_POSTING = 100  # in larger blocks, a co-author or organisation shared by more mentions proposes no pairs
KNN = 10  # in larger blocks, each mention's nearest mentions by text become candidates
NEGLIGIBLE = 0.02  # pair probabilities below this count as 0 in the linkage
SIZE_PIVOT = 20  # blocks larger than this may merge down to a lower threshold (a scorer's size_slope)


def block_threshold(threshold: float, size_slope: float, n: int) -> float:
    """The merge threshold of a block of n mentions: lower in large blocks when size_slope > 0 (their persons'
    papers are spread over more nodes, so the mean pair probability between two parts of a person runs lower)."""
    return threshold - size_slope * max(0.0, math.log(max(n, 1) / SIZE_PIVOT)) if size_slope else threshold


@dataclass(eq=False)
class Mention:
    """One author's appearance on one work: the thing to attribute to a person."""

    mention_id: str
    name: str
    coauthors: tuple[str, ...] = ()  # the work's other authors
    organisation: str | None = None  # the affiliation printed with this author on this work
    venue: str | None = None
    year: int | None = None
    title: str | None = None
    text: str | None = None  # abstract
    keywords: tuple[str, ...] = ()
    source_ids: Mapping[str, str] = field(default_factory=dict)  # {"orcid": ..., "openalex": ..., "s2": ...}
    publication_id: str | None = None
    group: str | None = None  # mentions of different groups are never one person (e.g. two AMiner files)
    label: str | None = None  # a gold person label, for evaluation only: the engine never reads it


def cluster_id_for(mention_ids: Iterable[str]) -> str:
    return "p" + hashlib.sha1(min(mention_ids).encode("utf-8")).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------------------------
# Preparing mentions: per-mention vectors over the whole input

_WORD = re.compile(r"[a-z][a-z0-9]+")
_STOP = frozenset(
    """a about above after again against all also an and any are as at be because been before being below
    between both but by can could did do does doing done during each for from further had has have having here
    how however if in into is it its itself just may more most much must no nor not now of off on once only or
    other our out over own per same should so some such than that the their them then there these they this
    those through thus to too under until up upon using use used via was we were what when where which while
    who whom why will with within without would yet new based paper approach study""".split()
)
_ORG_STOP = frozenset(
    """a an and at de der des di du for in la le of the und univ university dept department school college
    institute inst lab laboratory laboratories center centre research science sciences engineering faculty
    division group national state key""".split()
)
_VENUE_NOISE = re.compile(r"\(.*?\)|\d+")


def _tokens(text: str | None, stop=_STOP) -> list[str]:
    if not text:
        return []
    return [w for w in _WORD.findall(normalise(text)) if w not in stop]


@lru_cache(maxsize=1 << 16)
def _venue_norm(venue: str) -> str:
    return " ".join(_VENUE_NOISE.sub(" ", normalise(venue.replace("(", " (")) if venue else "").split())


@dataclass
class Prepared:
    """Everything the features need, one row per mention (rows follow the sorted mention ids)."""

    mentions: list[Mention]
    parsed: list[ParsedName]
    coauthors: sp.csr_matrix  # binary, full co-author keys ("maria gini")
    coauthors_init: sp.csr_matrix  # binary, initial co-author keys ("m gini")
    coauthors_rare: sp.csr_matrix  # binary, the full co-author keys whose surname is not a very common one
    org: sp.csr_matrix  # TF-IDF of organisation words, unit rows
    org_ids: sp.csr_matrix  # one-hot normalised organisation string
    venue_ids: sp.csr_matrix  # one-hot normalised venue
    venue: sp.csr_matrix  # TF-IDF of venue words, unit rows
    year: np.ndarray  # float, nan when unknown
    title: sp.csr_matrix  # TF-IDF of title words, unit rows
    text: sp.csr_matrix  # TF-IDF of title + keywords + abstract words, unit rows
    has_abstract: np.ndarray
    keywords: sp.csr_matrix  # binary, normalised keywords, unit rows
    embedding: np.ndarray  # static word-piece embedding of title + keywords + abstract, unit rows (float32)
    embedded: np.ndarray  # the mentions with a text: the only rows of ``embedding`` that can be non-zero


def _pooled_rows(member: sp.csr_matrix, vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``member @ vectors`` (dense) where only ``rows`` of ``vectors`` can be non-zero: the others would add exact
    zeros, and at scale most mentions have no text, so they are left out of the product."""
    if len(rows) == vectors.shape[0]:
        return np.asarray(member @ vectors)
    if not len(rows):
        return np.zeros((member.shape[0], vectors.shape[1]), dtype=vectors.dtype)
    return np.asarray(member[:, rows] @ vectors[rows])


def _unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    return sp.csr_matrix(sp.diags((1 / norms).astype(np.float32)) @ matrix)


def _vocab_matrix(rows: list[list[str]], binary: bool = False, idf: bool = True, unit: bool = True) -> sp.csr_matrix:
    """Documents x terms; sublinear tf times smoothed idf (over these documents), rows of unit length. Term
    columns are numbered in order of first appearance, and a row lists its terms in that order too."""
    return _vocab_matrix_and_terms(rows, binary, idf, unit)[0]


def _vocab_matrix_and_terms(rows: list[list[str]], binary: bool = False, idf: bool = True, unit: bool = True
                            ) -> tuple[sp.csr_matrix, Sequence[str]]:
    """``_vocab_matrix``, and the term of each column."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = list(chain.from_iterable(rows))
    # pandas' hash table numbers the terms in order of first appearance, in C: a dict loop costs 10x more here
    codes, vocab = pd.factorize(pd.Series(flat, dtype=object), sort=False) if flat else (np.zeros(0, np.int64), ())
    n_terms = max(1, len(vocab))
    keys = np.repeat(np.arange(len(rows), dtype=np.int64), lengths) * n_terms + codes
    unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")  # rows are contiguous in ``flat``: this keeps rows in order
    unique, counts = unique[order], counts[order]
    data = np.ones(len(unique), np.float32) if binary else (1.0 + np.log(counts)).astype(np.float32)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(np.bincount(unique // n_terms, minlength=len(rows)), out=indptr[1:])
    matrix = sp.csr_matrix((data, unique % n_terms, indptr), shape=(len(rows), n_terms))
    if idf and matrix.nnz:
        df = np.bincount(matrix.indices, minlength=matrix.shape[1])
        weights = (np.log((1 + len(rows)) / (1 + df)) + 1).astype(np.float32)
        matrix = sp.csr_matrix(matrix @ sp.diags(weights))
    return (_unit_rows(matrix) if unit else matrix), vocab


def _keep_columns(matrix: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """A ``_vocab_matrix`` of binary terms with only the terms ``keep`` (a boolean per column) left: the matrix
    ``_vocab_matrix`` gives for the rows filtered to those terms (columns keep their order of first appearance,
    renumbered; a matrix without terms has one empty column)."""
    if not keep.any():
        return sp.csr_matrix((matrix.shape[0], 1), dtype=matrix.dtype)
    return sp.csr_matrix(matrix[:, np.flatnonzero(keep)])


def _common_key(key: str) -> bool:
    """Whether a co-author key's surname (its last word) is one of names.COMMON_SURNAMES: sharing such a
    co-author ("wei wang") says less, since many people carry the name."""
    return fold_surname(key.rsplit(" ", 1)[-1]) in COMMON_SURNAMES


def _common_keys(keys: Sequence[str]) -> np.ndarray:
    """``_common_key`` of each key, each distinct surname tested once."""
    surname_of, surnames = pd.factorize(pd.Series([k.rsplit(" ", 1)[-1] for k in keys], dtype=object), sort=False)
    return np.array([_common_key(s) for s in surnames], dtype=bool)[surname_of]


# A work with more authors than this gives its mentions no co-author evidence. Its names are shared by everyone in
# a large collaboration (two different "J. Smith" of one experiment share thousands of co-authors, which would
# read as the strongest evidence there is), and a chunk holding a few such works would hold millions of
# co-author entries. The AMiner sets' largest work has 88 authors; OpenAlex holds works with thousands.
MAX_WORK_AUTHORS = 100


def _coauthor_matrices(mentions: Sequence[Mention]) -> tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix, np.ndarray]:
    """The binary mentions x co-author keys matrices (names.coauthor_keys), each with the term of each column:
    full keys, then initial keys. A full key is left out when it or its initial key is the mention's own (the work's
    authors are its co-authors and this one: all the work a mention knows of); an initial key when it is the
    mention's own. A work of more than MAX_WORK_AUTHORS authors gives none. Each distinct name is keyed once
    and the rest is done on integer codes: a 250,000-mention chunk of the 100M-edge store lists 667,000
    co-authors (284,000 distinct names), and the loop over them was ~3 s of a 20 s chunk under cProfile. Columns
    are numbered as the keys were first met; being binary, the matrices give the same products in any column
    order."""
    n = len(mentions)
    lengths = np.fromiter((len(m.coauthors) if len(m.coauthors) + 1 <= MAX_WORK_AUTHORS else 0 for m in mentions),
                          dtype=np.int64, count=n)
    flat = [a for m, k in zip(mentions, lengths.tolist()) if k for a in m.coauthors]
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    name_of, names = pd.factorize(pd.Series(flat, dtype=object), sort=False) if flat else (np.zeros(0, np.int64), [])
    keyed = [coauthor_keys(name) for name in names]
    # the mentions' own keys, once per distinct own name (a chunk's mentions share a few thousand names)
    own_of, own_names = pd.factorize(pd.Series([m.name or "" for m in mentions], dtype=object), sort=False)
    own_parsed = [parse_name(name) for name in own_names]
    own_full = [f"{p.given[0] if p.is_full else p.first_initial} {p.surname}".strip() for p in own_parsed]
    own_init = [f"{p.first_initial} {p.surname}".strip() for p in own_parsed]
    # the names' keys and the mentions' own keys numbered together, so that comparing them compares integers
    full_code, full_vocab = pd.factorize(pd.Series([f for f, _ in keyed] + own_full, dtype=object), sort=False)
    init_code, init_vocab = pd.factorize(pd.Series([i for _, i in keyed] + own_init, dtype=object), sort=False)
    full_vocab, init_vocab = np.asarray(full_vocab, dtype=object), np.asarray(init_vocab, dtype=object)
    full, init = full_code[:len(names)][name_of], init_code[:len(names)][name_of]
    own_row = own_of[rows]
    not_own_init = init != init_code[len(names):][own_row]
    keep_init = (init_vocab != "")[init] & not_own_init
    keep_full = (full_vocab != "")[full] & not_own_init & (full != full_code[len(names):][own_row])
    coauthors, full_used = _binary_row_matrix(rows[keep_full], full[keep_full], n)
    coauthors_init, init_used = _binary_row_matrix(rows[keep_init], init[keep_init], n)
    return coauthors, full_vocab[full_used], coauthors_init, init_vocab[init_used]


def _binary_row_matrix(rows: np.ndarray, codes: np.ndarray, n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """A binary n x terms matrix from (row, term code) pairs, repeats counted once, and the code of each column
    (in order of first appearance). Without pairs it has one empty column, as ``_vocab_matrix`` gives."""
    if not len(codes):
        return sp.csr_matrix((n, 1), dtype=np.float32), np.zeros(0, dtype=np.int64)
    used = pd.unique(codes)  # in order of first appearance
    column = np.empty(int(codes.max()) + 1, dtype=np.int64)
    column[used] = np.arange(len(used))
    keys = np.sort(rows * len(used) + column[codes])  # sorting is faster than np.unique's hash here
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // len(used), minlength=n), out=indptr[1:])
    matrix = sp.csr_matrix((np.ones(len(keys), np.float32), keys % len(used), indptr), shape=(n, len(used)))
    return matrix, used


def _per_distinct(values: list, normal, *fns) -> list[list]:
    """For each of ``fns``, ``[fn(normal(v)) for v in values]``, with ``normal`` and each ``fn`` called once per
    distinct value (and once for None): rows of one value share one result, so an ``fn`` must return something no
    caller changes."""
    if not values:
        return [[] for _ in fns]
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=False)
    normals = [normal(u) for u in uniques] + [normal(None)]  # code -1: None, pandas' missing value
    codes = codes.tolist()
    out = []
    for fn in fns:
        results = [fn(v) for v in normals]
        out.append([results[c] for c in codes])
    return out


def _listed(value: str) -> list[str]:
    return [value] if value else []


def _org_of(raw: str | None) -> str:
    return normalise(raw) if raw else ""


def _venue_of(raw: str | None) -> str:
    return _venue_norm(raw) if raw else ""


def _org_words(org: str) -> list[str]:
    return _tokens(org, _ORG_STOP)


def prepare(mentions: Sequence[Mention]) -> Prepared:
    """Vectors for every mention (sorted by mention id). Document frequencies are over these mentions."""
    from scholarlens.embed import _normalise_rows, static_table, words

    mentions = sorted(mentions, key=lambda m: m.mention_id)
    parsed = [parse_name(m.name) for m in mentions]
    coauthors, co_terms, coauthors_init, _ = _coauthor_matrices(mentions)
    # organisations and venues repeat (a journal's every paper): each distinct one is normalised and split once
    org_words, org_ids = _per_distinct([m.organisation for m in mentions], _org_of, _org_words, _listed)
    venue_words, venue_ids = _per_distinct([m.venue for m in mentions], _venue_of, str.split, _listed)
    kw_lists = [sorted({normalise(k) for k in m.keywords if normalise(k)}) if m.keywords else [] for m in mentions]
    texts = [" ".join(filter(None, [m.title, " ".join(m.keywords), m.text])) if m.title or m.keywords or m.text
             else "" for m in mentions]
    # Only texts are embedded: a mention without one has the zero row an empty text gets (most of a snapshot's
    # mentions have no abstract, and many no title)
    table = static_table()
    embedding = np.zeros((len(mentions), table.vectors.shape[1]), dtype=np.float32)
    with_text = [r for r, t in enumerate(texts) if t]
    if with_text:
        embedding[with_text] = _normalise_rows(
            table.embed_tokens([words(texts[r]) for r in with_text]).astype(np.float32))
    # the rare co-authors' matrix: the same terms, the common ones dropped (each distinct term tested once)
    rare = ~_common_keys(co_terms)
    return Prepared(
        mentions=mentions,
        parsed=parsed,
        coauthors=coauthors,
        coauthors_init=coauthors_init,
        coauthors_rare=_keep_columns(coauthors, rare),
        org=_vocab_matrix(org_words),
        org_ids=_vocab_matrix(org_ids, binary=True, idf=False, unit=False),
        venue_ids=_vocab_matrix(venue_ids, binary=True, idf=False, unit=False),
        venue=_vocab_matrix(venue_words),
        year=np.array([m.year if m.year else np.nan for m in mentions], dtype=np.float32),
        title=_vocab_matrix([_tokens(m.title) if m.title else [] for m in mentions]),
        text=_vocab_matrix([_tokens(t) if t else [] for t in texts]),
        has_abstract=np.array([bool(m.text) for m in mentions]),
        keywords=_vocab_matrix(kw_lists, binary=True, idf=False),
        embedding=embedding,
        embedded=np.asarray(with_text, dtype=np.int64),
    )


@dataclass
class Profiles:
    """Nodes to compare: each a group of mentions (one mention, a must-link group, or a cluster of an earlier
    round), with its evidence pooled: co-authors, organisations and venues as sets, texts as centroids, years
    as a range."""

    groups: list[list[int]]
    names: list[frozenset]
    size: np.ndarray
    coauthors: sp.csr_matrix  # binary
    n_coauthors: np.ndarray
    coauthors_init: sp.csr_matrix  # binary
    coauthors_rare: sp.csr_matrix  # binary
    org: sp.csr_matrix  # unit centroid
    org_ids: sp.csr_matrix  # binary
    venue_ids: sp.csr_matrix  # binary
    venue: sp.csr_matrix  # unit centroid
    year_min: np.ndarray
    year_max: np.ndarray
    title: sp.csr_matrix
    text: sp.csr_matrix
    has_abstract: np.ndarray
    keywords: sp.csr_matrix
    embedding: np.ndarray
    hop: sp.csr_matrix | None = None  # binary: node x mention of its block outside it sharing a co-author with it
    hop_rare: sp.csr_matrix | None = None  # the same through co-authors without a very common surname
    mention_text: sp.csr_matrix | None = None  # Prepared.text, one row per mention: for text_max
    mention_embedding: np.ndarray | None = None  # Prepared.embedding: for emb_max


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix)
    matrix.data[:] = 1.0
    return matrix


def hop_links(member: sp.csr_matrix, block_coauthors: sp.csr_matrix) -> sp.csr_matrix:
    """Node x mention, 1 where the mention (of the node's block, outside the node) shares a co-author with the
    node. ``member`` is node x mention membership; ``block_coauthors`` the co-authors split by block
    (``block_coauthors``)."""
    pooled = _binary(member @ block_coauthors)
    reach = _binary(pooled @ block_coauthors.T)
    inside = reach.multiply(member)
    out = sp.csr_matrix(reach - inside)
    out.eliminate_zeros()
    return out


def block_coauthors(prep: Prepared, block_rows: Sequence[Sequence[int]], rare: bool = True
                    ) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """The co-author matrices with one column per (block, co-author), co-authors of more than MAX_POSTING
    mentions of a block left out: what ``co_hop`` walks on (every co-author), and, with ``rare``, what
    ``co_hop_rare`` walks on (co-authors without a very common surname; else None)."""
    return (_block_columns(prep, block_rows, prep.coauthors, MAX_POSTING),
            _block_columns(prep, block_rows, prep.coauthors_rare, MAX_POSTING) if rare else None)


def profiles(prep: Prepared, groups: list[list[int]],
             block_coauthors: tuple[sp.csr_matrix, sp.csr_matrix | None] | None = None) -> Profiles:
    """The nodes' pooled evidence; with ``block_coauthors`` (see ``block_coauthors``) also their ``hop``
    links, which the ``co_hop`` features need (without it, they are 0)."""
    k = len(groups)
    lengths = np.array([len(g) for g in groups])
    flat = np.concatenate(groups).astype(np.int64)
    member = sp.csr_matrix((np.ones(int(lengths.sum()), dtype=np.float32), (np.repeat(np.arange(k), lengths), flat)),
                           shape=(k, len(prep.mentions)))
    singletons = bool((lengths == 1).all())

    def pooled(matrix, unit=True):
        out = sp.csr_matrix(member @ matrix)
        return out if singletons or not unit else _unit_rows(out)

    coauthors = _binary(member @ prep.coauthors)
    embedding = _pooled_rows(member, prep.embedding, prep.embedded).astype(np.float32, copy=False)
    if not singletons:
        norms = np.linalg.norm(embedding, axis=1, keepdims=True)
        embedding = np.divide(embedding, norms, out=np.zeros_like(embedding), where=norms > 0)
    # each group's first and last year, NaN when none of its mentions has one (fmin and fmax skip NaN); groups
    # are never empty
    starts, years = np.concatenate(([0], np.cumsum(lengths)[:-1])), prep.year[flat]
    year_min, year_max = np.fmin.reduceat(years, starts), np.fmax.reduceat(years, starts)
    return Profiles(
        groups=groups,
        names=[frozenset(prep.parsed[r] for r in g) for g in groups],
        size=lengths.astype(np.float32),
        coauthors=coauthors,
        n_coauthors=np.diff(coauthors.indptr).astype(np.float32),
        coauthors_init=_binary(member @ prep.coauthors_init),
        coauthors_rare=_binary(member @ prep.coauthors_rare),
        org=pooled(prep.org),
        org_ids=_binary(member @ prep.org_ids),
        venue_ids=_binary(member @ prep.venue_ids),
        venue=pooled(prep.venue),
        year_min=year_min,
        year_max=year_max,
        title=pooled(prep.title),
        text=pooled(prep.text),
        has_abstract=np.asarray(member @ prep.has_abstract.astype(np.float32)).ravel() > 0,
        keywords=pooled(prep.keywords),
        embedding=embedding,
        hop=hop_links(member, block_coauthors[0]) if block_coauthors is not None else None,
        hop_rare=hop_links(member, block_coauthors[1]) if block_coauthors and block_coauthors[1] is not None else None,
        mention_text=prep.text,
        mention_embedding=prep.embedding,
    )


# ----------------------------------------------------------------------------------------------------------------
# Pair features

FEATURES = (
    "name",  # the lowest names.compatibility between the two nodes' names
    "co_any",  # share at least one co-author
    "co_log",  # log(1 + shared co-authors)
    "co_jaccard",
    "co_none",  # one of the two has no co-author
    "co_init",  # log(1 + co-authors shared only by initial and surname)
    "co_common",  # log(1 + shared co-authors whose surname is a very common one: weaker evidence than co_log's)
    "org_both", "org_same", "org_cos",
    "venue_both", "venue_same", "venue_cos",
    "year_both", "year_gap",  # years between the two nodes' year ranges / 10, capped at 3
    "title_cos",
    "text_cos",
    "abstract_both",
    "kw_cos",
    "emb_cos",
    # the closest two papers, one of each node (their first MAX_MEMBERS mentions): a centroid of many papers is
    # far from all of them, so a person's small cluster can look unlike its large one on the centroids alone
    "text_max", "emb_max",
    "size_min", "size_max",  # log of the smaller and of the larger node's size
    # co-author of co-author: log(1 + mentions of the block outside both nodes that share a co-author with each)
    "co_hop",
    "co_hop_rare",  # the same through co-authors without a very common surname only
    # both nodes have co-authors and share none: log(1 + the smaller node's distinct co-authors). Two large
    # clusters, each with its own circle of co-authors and none in common, are rarely one person; a paper with
    # one co-author not found elsewhere says little
    "co_disjoint",
    "org_disjoint",  # the same for organisations: both have some, none shared
    # the block (all mentions of the name), the same for all its pairs: how ambiguous the name looks
    "block_log_n",  # log(mentions)
    "block_co",  # log(1 + mean shared co-authors per pair of mentions)
    "block_venue",  # share of mention pairs at the same venue
    "block_emb",  # mean text-embedding cosine over mention pairs
    "block_parts",  # connected components of "shares a co-author or an organisation string" / mentions
    "block_common",  # the surname is one of the most common East Asian surnames (names.common_surname)
)
BLOCK_FEATURES = ("block_log_n", "block_co", "block_venue", "block_emb", "block_parts", "block_common")
# the features of the logistic engine before co_hop, block_parts and block_common (the "previous engine" design)
FEATURES_V1 = tuple(f for f in FEATURES
                    if f not in ("co_hop", "block_parts", "block_common", "co_common", "co_hop_rare", "text_max",
                                 "emb_max", "co_disjoint", "org_disjoint"))
# the features of the shipped logistic engine of issue 6's first round (the "logistic-new-features" design)
FEATURES_V2 = tuple(f for f in FEATURES if f not in ("co_common", "co_hop_rare", "text_max", "emb_max", "co_disjoint",
                                                     "org_disjoint"))


def _block_columns(prep: Prepared, block_rows: Sequence[Sequence[int]], matrix: sp.csr_matrix,
                   max_posting: int | None = None) -> sp.csr_matrix:
    """``matrix`` (mentions x terms, binary) with each term split by block: a column per (block, term), so that
    products never reach across blocks. Rows outside the given blocks are empty; with ``max_posting``, a
    (block, term) held by more mentions is dropped."""
    block_of = np.full(len(prep.mentions), -1, dtype=np.int64)
    for b, rows in enumerate(block_rows):
        block_of[np.asarray(rows, dtype=np.int64)] = b
    coo = sp.coo_matrix(matrix)
    keep = block_of[coo.row] >= 0
    rows, cols = coo.row[keep], block_of[coo.row[keep]] * matrix.shape[1] + coo.col[keep]
    uniq, inverse = np.unique(cols, return_inverse=True)
    out = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, inverse)),
                        shape=(matrix.shape[0], max(1, len(uniq))))
    if max_posting is not None and out.nnz:
        df = np.bincount(out.indices, minlength=out.shape[1])
        out = sp.csr_matrix(out @ sp.diags((df <= max_posting).astype(np.float32)))
        out.eliminate_zeros()
    return out


def block_stats(prep: Prepared, block_rows: Sequence[Sequence[int]]) -> np.ndarray:
    """BLOCK_FEATURES of each block of mentions (one row per block), from column counts: no pair is listed."""
    lengths = np.array([len(r) for r in block_rows], dtype=np.int64)
    member = sp.csr_matrix((np.ones(int(lengths.sum()), dtype=np.float64),
                            (np.repeat(np.arange(len(block_rows)), lengths),
                             np.concatenate([np.asarray(r, dtype=np.int64) for r in block_rows]))),
                           shape=(len(block_rows), len(prep.mentions)))
    pairs = np.maximum(1.0, lengths * (lengths - 1) / 2)

    def pair_share(matrix) -> np.ndarray:
        df = sp.csr_matrix(member @ matrix)
        df.data = df.data * (df.data - 1) / 2
        return np.asarray(df.sum(axis=1)).ravel() / pairs

    # over the mentions with a text only: the others' zero rows add exact zeros
    embedding, member_embedded = prep.embedding[prep.embedded].astype(np.float64), member[:, prep.embedded]
    total = np.asarray(member_embedded @ embedding).reshape(len(block_rows), embedding.shape[1])
    own = np.asarray(member_embedded @ (embedding ** 2).sum(axis=1)).ravel()
    emb_mean = ((total * total).sum(axis=1) - own) / np.maximum(1, lengths * (lengths - 1))
    # components of the bipartite graph mentions - (block, co-author or organisation), per block
    links = _block_columns(prep, block_rows, sp.hstack([prep.coauthors, prep.org_ids]).tocsr())
    graph = sp.bmat([[None, links], [links.T, None]]).tocsr()
    _, component = connected_components(graph, directed=False)
    parts = np.array([len(np.unique(component[np.asarray(r, dtype=np.int64)])) for r in block_rows], dtype=np.float64)
    common = np.array([float(common_surname(prep.parsed[r[0]])) if len(r) else 0.0 for r in block_rows])
    return np.column_stack([np.log(np.maximum(lengths, 1)), np.log1p(pair_share(prep.coauthors)),
                            pair_share(prep.venue_ids), emb_mean, parts / np.maximum(lengths, 1),
                            common]).astype(np.float32)


def _rowwise_dot(matrix: sp.csr_matrix, i: np.ndarray, j: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    out = np.empty(len(i), dtype=np.float32)
    for s in range(0, len(i), chunk):
        a, b = matrix[i[s:s + chunk]], matrix[j[s:s + chunk]]
        out[s:s + chunk] = np.asarray(a.multiply(b).sum(axis=1)).ravel()
    return out


@lru_cache(maxsize=1 << 16)
def _names_grade(a: frozenset, b: frozenset) -> float:
    return min((1.0 if x == y else compatibility(x, y)) for x in a for y in b)


def _names_column(names: list[frozenset], i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """_names_grade of each pair; nodes with the same single name (the usual case) need no call."""
    ids: dict[frozenset, int] = {}
    node_id = np.array([ids.setdefault(n, len(ids)) if len(n) == 1 else -1 for n in names], dtype=np.int64)
    out = np.ones(len(i), dtype=np.float32)
    differ = np.flatnonzero((node_id[i] != node_id[j]) | (node_id[i] < 0))
    out[differ] = [_names_grade(names[a], names[b]) for a, b in zip(i[differ].tolist(), j[differ].tolist())]
    return out


MAX_MEMBERS = 64  # text_max / emb_max compare at most this many mentions of each node (its first ones)


def _closest_members(rows, groups: list[list[int]], i: np.ndarray, j: np.ndarray, single: np.ndarray) -> np.ndarray:
    """For each node pair, the highest cosine between a mention of one node and a mention of the other (``rows``:
    unit mention vectors, sparse or dense). ``single``: the nodes' own cosine, which is the answer when both
    nodes are single mentions."""
    out = np.asarray(single, dtype=np.float32).copy()
    if rows is None:
        return out
    sizes = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    multi = np.flatnonzero((sizes[i] > 1) | (sizes[j] > 1))
    if not len(multi):
        return out
    order = multi[np.argsort(i[multi], kind="stable")]
    firsts = np.flatnonzero(np.r_[True, i[order][1:] != i[order][:-1]])
    for lo, hi in zip(firsts, np.r_[firsts[1:], len(order)]):
        pairs = order[lo:hi]
        mine = groups[int(i[pairs[0]])][:MAX_MEMBERS]
        theirs = [groups[int(n)][:MAX_MEMBERS] for n in j[pairs]]
        lengths = np.fromiter((len(t) for t in theirs), dtype=np.int64, count=len(theirs))
        sims = rows[mine] @ rows[np.concatenate(theirs)].T
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        best = sims.max(axis=0)
        out[pairs] = np.maximum.reduceat(best, np.r_[0, np.cumsum(lengths)[:-1]])
    return out


# features that cost a walk or a loop per node: computed only when a scorer reads them (else 0)
COSTLY_FEATURES = frozenset({"text_max", "emb_max"})


def pair_features(prof: Profiles, i: np.ndarray, j: np.ndarray, block: np.ndarray,
                  needed: Iterable[str] | None = None) -> np.ndarray:
    """Rows of FEATURES for the node pairs (i[k], j[k]); ``block``: the BLOCK_FEATURES of each pair's block
    (one row per pair), or one row for all. ``needed``: the features the caller reads (all when None); the
    COSTLY_FEATURES it does not read are left 0."""
    needed = FEATURES if needed is None else frozenset(needed)
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    if not len(i):
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    cols: dict[str, np.ndarray] = {}
    cols["name"] = _names_column(prof.names, i, j)
    shared = _rowwise_dot(prof.coauthors, i, j)
    ni, nj = prof.n_coauthors[i], prof.n_coauthors[j]
    cols["co_any"] = (shared > 0).astype(np.float32)
    cols["co_log"] = np.log1p(shared)
    union = ni + nj - shared
    cols["co_jaccard"] = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
    cols["co_none"] = ((ni == 0) | (nj == 0)).astype(np.float32)
    cols["co_disjoint"] = np.where(shared > 0, 0, np.log1p(np.minimum(ni, nj)))
    cols["co_init"] = np.log1p(np.maximum(_rowwise_dot(prof.coauthors_init, i, j) - shared, 0))
    cols["co_common"] = np.log1p(np.maximum(shared - _rowwise_dot(prof.coauthors_rare, i, j), 0))
    has_org = np.diff(prof.org_ids.indptr) > 0
    cols["org_both"] = (has_org[i] & has_org[j]).astype(np.float32)
    cols["org_same"] = (_rowwise_dot(prof.org_ids, i, j) > 0).astype(np.float32)
    cols["org_cos"] = _rowwise_dot(prof.org, i, j)
    n_org = np.diff(prof.org_ids.indptr).astype(np.float32)
    cols["org_disjoint"] = np.where(cols["org_same"] > 0, 0, np.log1p(np.minimum(n_org[i], n_org[j])))
    has_venue = np.diff(prof.venue_ids.indptr) > 0
    cols["venue_both"] = (has_venue[i] & has_venue[j]).astype(np.float32)
    cols["venue_same"] = (_rowwise_dot(prof.venue_ids, i, j) > 0).astype(np.float32)
    cols["venue_cos"] = _rowwise_dot(prof.venue, i, j)
    lo_i, hi_i, lo_j, hi_j = prof.year_min[i], prof.year_max[i], prof.year_min[j], prof.year_max[j]
    year_both = ~(np.isnan(lo_i) | np.isnan(lo_j))
    gap = np.maximum(np.maximum(lo_i - hi_j, lo_j - hi_i), 0)
    cols["year_both"] = year_both.astype(np.float32)
    cols["year_gap"] = np.where(year_both, np.minimum(np.nan_to_num(gap) / 10, 3), 0)
    cols["title_cos"] = _rowwise_dot(prof.title, i, j)
    cols["text_cos"] = _rowwise_dot(prof.text, i, j)
    cols["abstract_both"] = (prof.has_abstract[i] & prof.has_abstract[j]).astype(np.float32)
    cols["kw_cos"] = _rowwise_dot(prof.keywords, i, j)
    cols["emb_cos"] = np.concatenate([np.einsum("ij,ij->i", prof.embedding[i[s:s + 65536]],
                                                prof.embedding[j[s:s + 65536]])
                                      for s in range(0, len(i), 65536)])
    for name, rows, single in (("text_max", prof.mention_text, cols["text_cos"]),
                               ("emb_max", prof.mention_embedding, cols["emb_cos"])):
        cols[name] = _closest_members(rows, prof.groups, i, j, single) if name in needed else np.zeros_like(single)
    cols["size_min"] = np.log(np.minimum(prof.size[i], prof.size[j]))
    cols["size_max"] = np.log(np.maximum(prof.size[i], prof.size[j]))
    cols["co_hop"] = np.log1p(_rowwise_dot(prof.hop, i, j)) if prof.hop is not None else np.zeros(len(i), np.float32)
    cols["co_hop_rare"] = (np.log1p(_rowwise_dot(prof.hop_rare, i, j)) if prof.hop_rare is not None
                           else np.zeros(len(i), np.float32))
    block = np.broadcast_to(np.asarray(block, dtype=np.float32).reshape(-1, len(BLOCK_FEATURES)),
                            (len(i), len(BLOCK_FEATURES)))
    for k, name in enumerate(BLOCK_FEATURES):
        cols[name] = block[:, k]
    return np.column_stack([cols[f].astype(np.float32) for f in FEATURES])


# ----------------------------------------------------------------------------------------------------------------
# The scorer


def _columns(features: Sequence[str]) -> np.ndarray:
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"the scorer was fitted on features this engine does not compute ({', '.join(unknown)}): "
                         "rerun python -m scholarlens.identity.train")
    return np.array([FEATURES.index(f) for f in features], dtype=np.int64)


@dataclass
class PairScorer:
    """Logistic regression over standardised features (any subset of FEATURES, in its own order), and the
    average-linkage merge threshold. ``probability`` takes rows of all FEATURES."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    size_slope: float = 0.0  # a block of n mentions merges down to threshold - size_slope * log(n / SIZE_PIVOT)

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = ((x[:, _columns(self.features)] - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_json(self) -> dict:
        return {"kind": "logistic", "features": list(self.features), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist(), "intercept": self.intercept,
                "threshold": self.threshold, "size_slope": self.size_slope}

    @classmethod
    def from_json(cls, obj: dict) -> PairScorer:
        _columns(obj["features"])
        return cls(tuple(obj["features"]), np.array(obj["mean"]), np.array(obj["scale"]), np.array(obj["coef"]),
                   float(obj["intercept"]), float(obj["threshold"]), float(obj.get("size_slope", 0.0)))


@dataclass
class TreeScorer:
    """Gradient-boosted trees (fitted by scikit-learn's HistGradientBoostingClassifier in ``train.py``, stored as
    plain arrays; scoring needs only numpy): the probability is the logistic of ``base`` plus one leaf value per
    tree. Each tree is a complete binary tree of ``depth`` levels in heap order (node s has children 2s + 1 and
    2s + 2; a shallower leaf is padded with splits that send everything left): ``feature[t, s]`` and
    ``split[t, s]`` for its 2^depth - 1 inner nodes (a pair goes right when its value is above the split),
    ``value[t, leaf]`` for its 2^depth leaves. Splits are float32, rounded down from the fitted float64 ones, so
    on float32 features they decide exactly as the fitted trees; features are never NaN."""

    features: tuple[str, ...]
    feature: np.ndarray  # (trees, 2^depth - 1) int, indices into ``features``
    split: np.ndarray  # (trees, 2^depth - 1) float32
    value: np.ndarray  # (trees, 2^depth) float64
    base: float
    threshold: float
    size_slope: float = 0.0  # as PairScorer's

    @property
    def depth(self) -> int:
        return int(round(math.log2(self.value.shape[1])))

    def raw(self, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32)[:, _columns(self.features)])
        trees, inner = self.feature.shape
        depth, n_features = self.depth, x.shape[1]
        feature = self.feature.astype(np.int64).ravel()
        split = self.split.ravel()
        value = self.value.ravel()
        inner_offset = np.arange(trees, dtype=np.int64) * inner
        leaf_offset = np.arange(trees, dtype=np.int64) * (inner + 1) - inner
        out = np.empty(len(x), dtype=np.float64)
        for s in range(0, len(x), chunk):
            part = x[s:s + chunk].ravel()
            row = (np.arange(len(part) // n_features, dtype=np.int64) * n_features)[:, None]
            node = np.zeros((len(row), trees), dtype=np.int64)
            for _ in range(depth):
                at = node + inner_offset
                node = 2 * node + 1 + (part[row + feature[at]] > split[at])
            out[s:s + chunk] = self.base + value[node + leaf_offset].sum(axis=1)
        return out

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.raw(x), -30, 30)))

    def to_json(self) -> dict:
        return {"kind": "trees", "features": list(self.features), "base": self.base, "threshold": self.threshold,
                "size_slope": self.size_slope, "feature": self.feature.tolist(),
                "split": [[float(v) if np.isfinite(v) else None for v in row] for row in self.split.tolist()],
                "value": self.value.tolist()}

    @classmethod
    def from_json(cls, obj: dict) -> TreeScorer:
        _columns(obj["features"])
        split = np.array([[np.inf if v is None else v for v in row] for row in obj["split"]], dtype=np.float32)
        return cls(tuple(obj["features"]), np.array(obj["feature"], dtype=np.int64), split,
                   np.array(obj["value"], dtype=np.float64), float(obj["base"]), float(obj["threshold"]),
                   float(obj.get("size_slope", 0.0)))


@dataclass
class BlendScorer:
    """The mean of its parts' probabilities (a logistic regression and gradient-boosted trees fitted on the same
    pairs), with its own threshold."""

    parts: list
    threshold: float
    size_slope: float = 0.0

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for part in self.parts for f in part.features))

    def probability(self, x: np.ndarray) -> np.ndarray:
        return np.mean([part.probability(x) for part in self.parts], axis=0)

    def to_json(self) -> dict:
        return {"kind": "blend", "threshold": self.threshold, "size_slope": self.size_slope,
                "parts": [part.to_json() for part in self.parts]}

    @classmethod
    def from_json(cls, obj: dict) -> BlendScorer:
        return cls([scorer_from_json(part) for part in obj["parts"]], float(obj["threshold"]),
                   float(obj.get("size_slope", 0.0)))


def scorer_from_json(obj: dict):
    kind = obj.get("kind")
    if kind == "blend":
        return BlendScorer.from_json(obj)
    return TreeScorer.from_json(obj) if kind == "trees" else PairScorer.from_json(obj)


@dataclass
class Model:
    """One scorer per round: round r uses ``rounds[min(r, len(rounds) - 1)]``; at most ``max_rounds`` rounds."""

    rounds: list
    max_rounds: int = 6
    meta: dict = field(default_factory=dict)
    description: str = "logistic per round, average linkage"

    def scorer(self, round_: int):
        return self.rounds[min(round_, len(self.rounds) - 1)]

    def to_json(self) -> dict:
        return {"model": self.description, "max_rounds": self.max_rounds,
                "rounds": [r.to_json() for r in self.rounds], **self.meta}

    @classmethod
    def from_json(cls, obj: dict) -> Model:
        meta = {k: v for k, v in obj.items() if k not in ("model", "max_rounds", "rounds")}
        return cls([scorer_from_json(r) for r in obj["rounds"]], int(obj["max_rounds"]), meta,
                   obj.get("model", "logistic per round, average linkage"))


@lru_cache(maxsize=4)
def load_model(path: str | Path = WEIGHTS) -> Model:
    return Model.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------------------------------------------
# Constraints and blocks


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    @classmethod
    def from_roots(cls, roots: list[int]) -> _UnionFind:
        """Groups already joined: each element's root (a root is its own)."""
        uf = cls(0)
        uf.parent = roots
        return uf

    def find(self, a: int) -> int:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        return ra


def _constraints(mentions: list[Mention], must_link, cannot_link):
    """(union-find of must-link groups over rows, set of cannot-link row pairs): mentions joined by must-links
    and by equal source ids, unless a cannot-link or two different ORCIDs refuse the join."""
    row = {m.mention_id: r for r, m in enumerate(mentions)}
    if not cannot_link:
        # Without cannot-links only two different ORCIDs can refuse a join, so when no group of the plain
        # connected components holds two, every join of the general path succeeds and its groups are those
        # components. A store's chunk is nearly always this case, and the general path's per-mention Python was
        # 2.2 s of a 20 s chunk under cProfile.
        uf = _components_without_refusals(mentions, row, must_link)
        if uf is not None:
            return uf, set()
    return _constraints_joined_one_by_one(mentions, row, must_link, cannot_link)


def _constraints_joined_one_by_one(mentions: list[Mention], row: Mapping[str, int], must_link, cannot_link):
    """``_constraints``' general path: each join tried in turn, refused by a cannot-link or two ORCIDs."""

    def rows(pairs, what):
        out = []
        for a, b in pairs:
            if a not in row or b not in row:
                raise KeyError(f"{what} names an unknown mention: {a if a not in row else b}")
            out.append((row[a], row[b]))
        return out

    must = rows(must_link, "must_link")
    cannot = {(min(a, b), max(a, b)) for a, b in rows(cannot_link, "cannot_link")}
    if any(a == b for a, b in cannot):
        raise ValueError("cannot_link pairs a mention with itself")
    uf = _UnionFind(len(mentions))
    for a, b in must:
        uf.union(a, b)
    # cannot-link partners per group root, kept up to date as groups join
    against: dict[int, set[int]] = defaultdict(set)
    for a, b in cannot:
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            raise ValueError(f"must_link and cannot_link contradict each other on "
                             f"{mentions[a].mention_id} / {mentions[b].mention_id}")
        against[ra].add(rb)
        against[rb].add(ra)
    orcid_of: dict[int, str] = {}
    for r, m in enumerate(mentions):
        orcid = m.source_ids.get("orcid") if m.source_ids else None
        if orcid:
            root = uf.find(r)
            if orcid_of.setdefault(root, orcid) != orcid:
                raise ValueError(f"must_link joins two different ORCIDs ({orcid_of[root]}, {orcid})")

    def try_union(a: int, b: int) -> None:
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb or rb in against.get(ra, ()):
            return
        oa, ob = orcid_of.get(ra), orcid_of.get(rb)
        if oa and ob and oa != ob:
            return
        root = uf.union(ra, rb)
        other = rb if root == ra else ra
        merged = against.pop(ra, set()) | against.pop(rb, set())
        for x in merged:
            against[x].discard(other)
            against[x].add(root)
        if merged:
            against[root] = merged
        if oa or ob:
            orcid_of[root] = oa or ob
            orcid_of.pop(other, None)

    # equal source ids: one person, unless a correction or two ORCIDs say otherwise (ORCIDs first)
    by_id: dict[tuple[str, str], int] = {}
    ids_of = [(r, sorted(m.source_ids.items())) for r, m in enumerate(mentions) if m.source_ids]
    for kind_first in (True, False):
        for r, items in ids_of:
            for kind, value in items:
                if not value or (kind == "orcid") != kind_first:
                    continue
                first = by_id.setdefault((kind, str(value)), r)
                if first != r:
                    try_union(first, r)
    return uf, cannot


def _components_without_refusals(mentions: list[Mention], row: Mapping[str, int], must_link) -> _UnionFind | None:
    """The union-find ``_constraints`` makes when no join is refused: must-links and equal source ids joined, as
    connected components, each rooted (as _UnionFind roots them) at its smallest row; None when a component
    holds two different ORCIDs (the general path must refuse, or raise on, some join)."""
    first, second = [], []
    for a, b in must_link:
        if a not in row or b not in row:
            raise KeyError(f"must_link names an unknown mention: {a if a not in row else b}")
        first.append(row[a])
        second.append(row[b])
    id_rows, id_keys = [], []
    for r, m in enumerate(mentions):
        if m.source_ids:
            for kind, value in m.source_ids.items():
                if value:
                    id_rows.append(r)
                    id_keys.append(f"{kind}\t{value}")
    if id_rows:  # each mention joined to the first mention of each of its ids
        codes, _ = pd.factorize(pd.Series(id_keys, dtype=object), sort=False)
        id_rows = np.asarray(id_rows, dtype=np.int64)
        first_of_code = np.full(codes.max() + 1, len(mentions), dtype=np.int64)
        np.minimum.at(first_of_code, codes, id_rows)
        first.extend(first_of_code[codes].tolist())
        second.extend(id_rows.tolist())
    n = len(mentions)
    graph = sp.csr_matrix((np.ones(len(first), dtype=np.int8), (first, second)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    root_of_label = np.full(label.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(root_of_label, label, np.arange(n))
    roots = root_of_label[label]
    orcid_rows = [(r, m.source_ids["orcid"]) for r, m in enumerate(mentions)
                  if m.source_ids and m.source_ids.get("orcid")]
    if orcid_rows:
        orcid_of: dict[int, str] = {}
        for r, orcid in orcid_rows:
            if orcid_of.setdefault(int(roots[r]), orcid) != orcid:
                return None
    return _UnionFind.from_roots(roots.tolist())


def blocks(mentions: list[Mention], uf: _UnionFind | None = None) -> list[list[int]]:
    """Rows grouped into blocks (each sorted; blocks ordered by their first row). See the module docstring."""
    # names repeat (a person's every mention): each distinct (group, name) is parsed and keyed once
    key_of: dict[tuple[str, str], tuple[str, str]] = {}
    full: dict[tuple[str, str, str], tuple[str, str]] = {}  # exact swapped full names join their keys
    keys = []
    for m in mentions:
        named = (m.group or "", m.name)
        k = key_of.get(named)
        if k is None:
            p = parse_name(m.name)
            k = key_of[named] = (named[0], block_key(p))
            if swapped_key(p):
                full.setdefault((k[0], p.surname, p.given[0]), k)
        keys.append(k)
    key_id: dict[tuple[str, str], int] = {}
    for k in key_of.values():
        key_id.setdefault(k, len(key_id))
    kuf = _UnionFind(len(key_id))
    for (group, surname, given), k in full.items():
        other = full.get((group, given, surname))
        if other is not None:
            kuf.union(key_id[k], key_id[other])
    if uf is not None:
        root_key: dict[int, int] = {}
        for r, k in enumerate(keys):
            root = uf.find(r)
            kid = key_id[k]
            if root in root_key:
                kuf.union(root_key[root], kid)
            else:
                root_key[root] = kid
    root_of = {k: kuf.find(i) for k, i in key_id.items()}
    grouped: dict[int, list[int]] = defaultdict(list)
    for r, k in enumerate(keys):
        grouped[root_of[k]].append(r)
    return sorted(grouped.values(), key=lambda rows: rows[0])


def _candidate_pairs(prep: Prepared, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (local positions within ``rows``) to compare in a block: all of them up to DENSE_MAX mentions,
    else the candidates of the module docstring."""
    n = len(rows)
    if n <= DENSE_MAX:
        a, b = np.triu_indices(n, k=1)
        return a, b
    pairs = set()
    for matrix in (prep.coauthors[rows], prep.org_ids[rows]):
        by_column = sp.csc_matrix(matrix)
        for c in range(by_column.shape[1]):
            members = by_column.indices[by_column.indptr[c]:by_column.indptr[c + 1]]
            if 1 < len(members) <= MAX_POSTING:
                members = np.sort(members).tolist()
                for x in range(len(members)):
                    for y in range(x + 1, len(members)):
                        pairs.add((members[x], members[y]))
    emb = prep.embedding[rows]
    k = min(KNN, n - 1)
    for s in range(0, n, 2048):
        sims = emb[s:s + 2048] @ emb.T
        sims[np.arange(sims.shape[0]), s + np.arange(sims.shape[0])] = -np.inf
        nearest = np.argpartition(-sims, k, axis=1)[:, :k]
        for r, cols in enumerate(nearest.tolist()):
            for c in cols:
                a = s + r
                pairs.add((a, c) if a < c else (c, a))
    found = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    return found[:, 0], found[:, 1]


# ----------------------------------------------------------------------------------------------------------------
# Average-linkage clustering with constraints


LINKAGE_MATRIX_MAX = 3000  # up to this many nodes, scipy's average linkage on a full distance matrix (72 MB)
LINKAGE_MATRIX_MIN = 16  # below, the heap is faster (measured: 27 µs against 132 µs at 5 nodes, equal near 12)
_NEVER = 1e9  # the distance of a cannot pair: any mean that includes it stays far above 1


def _average_linkage(
    names: list[frozenset],
    orcids: list[frozenset],
    a: np.ndarray,
    b: np.ndarray,
    prob: np.ndarray,
    threshold: float,
    cannot: Iterable[tuple[int, int]] = (),
) -> list[tuple[float, int, int]]:
    """Merges ``(mean probability, node, node)`` of average-linkage clustering over nodes 0..len(names)-1, in
    the order made, down to ``threshold``; pairs not given count as probability 0 and ``cannot`` pairs as minus
    infinity. Merges are made in non-increasing order of their mean (average linkage is reducible), so the
    clustering at any higher threshold is a prefix of the list. Probabilities below NEGLIGIBLE count as 0
    (they move a mean by less than that). A merge that would join two ORCIDs or two incompatible names is
    refused and the pair counts as a cannot pair from then on.

    From LINKAGE_MATRIX_MIN to LINKAGE_MATRIX_MAX nodes, scipy's average linkage (in C) clusters first; its merges
    stand when none of them above the threshold is refused, which is the usual case. Otherwise, and for more nodes,
    the heap below does it in Python, refusing merges as they come."""
    cannot = list(cannot)
    if LINKAGE_MATRIX_MIN <= len(names) <= LINKAGE_MATRIX_MAX:
        merges = _scipy_linkage(len(names), a, b, prob, threshold, cannot)
        if _merges_allowed(names, orcids, merges):
            return merges
    return _heap_linkage(names, orcids, a, b, prob, threshold, cannot)


def _scipy_linkage(k: int, a: np.ndarray, b: np.ndarray, prob: np.ndarray, threshold: float,
                   cannot: list[tuple[int, int]]) -> list[tuple[float, int, int]]:
    """The merges of scipy's average linkage down to threshold, each named by one node of either side."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    keep = (prob >= NEGLIGIBLE) & (a != b)
    total = np.zeros((k, k), dtype=np.float64)
    np.add.at(total, (a[keep], b[keep]), prob[keep])
    total = total + total.T  # (x, y) and (y, x) are one pair, their probabilities summed as the heap sums them
    distance = 1.0 - total
    for x, y in cannot:
        distance[x, y] = distance[y, x] = _NEVER
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    node = list(range(k)) + [0] * (k - 1)
    merges = []
    for r, (p, q, d, _) in enumerate(tree.tolist()):
        node[k + r] = node[int(p)]
        mean = 1.0 - d
        if mean < threshold:
            break
        merges.append((mean, node[int(p)], node[int(q)]))
    return merges


def _merge_refused(names_x: frozenset, names_y: frozenset, orcids_x: frozenset, orcids_y: frozenset) -> bool:
    """A merge average linkage refuses: it would join two ORCIDs or two incompatible names."""
    return bool(orcids_x and orcids_y and orcids_x != orcids_y) or _names_grade(names_x, names_y) == 0.0


def _merges_allowed(names: list[frozenset], orcids: list[frozenset], merges: list[tuple[float, int, int]]) -> bool:
    """Whether no merge of the list joins two ORCIDs or two incompatible names (replayed in order)."""
    if not merges:
        return True
    uf = _UnionFind(len(names))
    name_of = dict(enumerate(names))
    orcid_of = dict(enumerate(orcids))
    for _, x, y in merges:
        rx, ry = uf.find(x), uf.find(y)
        if _merge_refused(name_of[rx], name_of[ry], orcid_of[rx], orcid_of[ry]):
            return False
        uf.union(rx, ry)
        root = uf.find(rx)
        name_of[root] = name_of[rx] | name_of[ry]
        orcid_of[root] = orcid_of[rx] | orcid_of[ry]
    return True


def _heap_linkage(
    names: list[frozenset],
    orcids: list[frozenset],
    a: np.ndarray,
    b: np.ndarray,
    prob: np.ndarray,
    threshold: float,
    cannot: Iterable[tuple[int, int]] = (),
) -> list[tuple[float, int, int]]:
    """_average_linkage in Python, with a heap of each node's best partner; ties break on the smaller node
    numbers."""
    k = len(names)
    nbr: list[dict[int, float]] = [{} for _ in range(k)]
    keep = prob >= NEGLIGIBLE
    a, b, prob = a[keep], b[keep], prob[keep]
    for x, y, p in zip(a.tolist(), b.tolist(), prob.tolist()):
        if x != y:
            nbr[x][y] = nbr[x].get(y, 0.0) + p
            nbr[y][x] = nbr[x][y]
    for x, y in cannot:
        nbr[x][y] = nbr[y][x] = -math.inf
    size = [1] * k
    names = list(names)
    orcids = list(orcids)
    version = [0] * k
    alive = [True] * k
    heap: list = []

    def refresh(x: int) -> None:
        """Push x's best partner (highest mean, then smallest node numbers) if it reaches the threshold: the
        heap holds one live entry per node, not one per pair."""
        best_avg, best_y = threshold, -1
        sx = size[x]
        for y, total in nbr[x].items():
            avg = total / (sx * size[y])
            if avg > best_avg or (avg == best_avg and (best_y < 0 or y < best_y)):
                best_avg, best_y = avg, y
        if best_y >= 0:
            y = best_y
            heapq.heappush(heap, (-best_avg, min(x, y), max(x, y), x, version[x], y, version[y]))

    for x in range(k):
        refresh(x)
    merges = []
    while heap:
        neg, _, _, x, vx, y, vy = heapq.heappop(heap)
        if not alive[x] or version[x] != vx:
            continue  # x changed since: a fresher entry of x is in the heap
        if not alive[y] or version[y] != vy or y not in nbr[x]:
            refresh(x)
            continue
        if _merge_refused(names[x], names[y], orcids[x], orcids[y]):
            nbr[x][y] = nbr[y][x] = -math.inf
            version[x] += 1
            version[y] += 1
            refresh(x)
            refresh(y)
            continue
        merges.append((-neg, x, y))
        keep, gone = (x, y) if len(nbr[x]) >= len(nbr[y]) else (y, x)
        for e, total in nbr[gone].items():
            if e == keep:
                continue
            nbr[keep][e] = nbr[keep].get(e, 0.0) + total
            del nbr[e][gone]
            nbr[e][keep] = nbr[keep][e]
        nbr[gone] = {}
        nbr[keep].pop(gone, None)
        alive[gone] = False
        size[keep] += size[gone]
        names[keep] = names[keep] | names[gone]
        orcids[keep] = orcids[keep] | orcids[gone]
        version[keep] += 1
        refresh(keep)
        # A node whose best partner was keep or gone holds an entry with that partner's old version: it looks
        # again when the entry comes up. Entries are never too low: a merged cluster's mean with any node lies
        # between its parts' means, so no pair gains beyond the best entry its node already holds.
    return merges


def _apply(k: int, merges: list[tuple[float, int, int]], threshold: float) -> list[list[int]]:
    """Groups of nodes after the merges at or above threshold (sorted, ordered by smallest node)."""
    uf = _UnionFind(k)
    for avg, x, y in merges:
        if avg < threshold:
            break
        uf.union(x, y)
    groups: dict[int, list[int]] = defaultdict(list)
    for x in range(k):
        groups[uf.find(x)].append(x)
    return sorted(groups.values(), key=lambda g: g[0])


def cluster_blocks(
    prep: Prepared,
    block_nodes: list[list[list[int]]],
    model: Model,
    cannot: set[tuple[int, int]] = frozenset(),
    thresholds: Sequence[float] | None = None,
    max_pairs: int = 2_000_000,
    trace: list | None = None,
) -> list[list[list[int]]]:
    """The clusters (sorted rows) of each block, starting from its nodes (its must-link groups, each sorted).
    Each round pools every current cluster's evidence, scores the pairs of clusters with that round's scorer
    and merges by average linkage; a block stops when a round merges nothing in it. All blocks move through
    the rounds together, in batches of at most ``max_pairs`` pairs, so that many small blocks cost a few
    vectorised calls rather than one each. ``thresholds`` (one per round, the last repeating) overrides the
    model's. ``trace``, when given, receives (round, block, nodes) for every block entering a round."""
    nodes_of = [list(nodes) for nodes in block_nodes]
    all_rows = [sorted(r for g in nodes for r in g) for nodes in nodes_of]
    stats = block_stats(prep, all_rows) if all_rows else np.zeros((0, len(BLOCK_FEATURES)), np.float32)
    # co_hop's walk is only prepared when a scorer of the model reads it
    hop = (block_coauthors(prep, all_rows, rare=any("co_hop_rare" in r.features for r in model.rounds))
           if all_rows and any({"co_hop", "co_hop_rare"} & set(r.features) for r in model.rounds) else None)
    candidates = {b: _candidate_pairs(prep, np.asarray(rows, dtype=np.int64))
                  for b, rows in enumerate(all_rows) if len(rows) > DENSE_MAX}
    # only the rows that carry an ORCID: a store's mentions nearly all carry some source id, rarely an ORCID
    orcid_of = {r: orcid for r, m in enumerate(prep.mentions) if m.source_ids and (orcid := m.source_ids.get("orcid"))}
    cannot_by_row: dict[int, list[int]] = defaultdict(list)
    for x, y in cannot:
        cannot_by_row[x].append(y)
    active = [b for b, nodes in enumerate(nodes_of) if len(nodes) > 1]
    for round_ in range(model.max_rounds):
        if not active:
            break
        scorer = model.scorer(round_)
        threshold = scorer.threshold if thresholds is None else thresholds[min(round_, len(thresholds) - 1)]
        still = []
        if trace is not None:
            trace.extend((round_, b, list(nodes_of[b])) for b in active)
        for batch in _batches(active, nodes_of, all_rows, max_pairs):
            still.extend(_round(prep, batch, nodes_of, all_rows, stats, candidates, scorer, threshold,
                                orcid_of, cannot_by_row, hop))
        active = still
    return nodes_of


def _batches(active, nodes_of, all_rows, max_pairs):
    batch, size = [], 0
    for b in active:
        k = len(nodes_of[b])
        pairs = k * (k - 1) // 2 if len(all_rows[b]) <= DENSE_MAX else KNN * k * 4
        if batch and size + pairs > max_pairs:
            yield batch
            batch, size = [], 0
        batch.append(b)
        size += pairs
    if batch:
        yield batch


def _round(prep, batch, nodes_of, all_rows, stats, candidates, scorer, threshold, orcid_of, cannot_by_row, hop=None):
    """One round over a batch of blocks; updates nodes_of in place; returns the blocks that merged."""
    groups, offsets, pair_a, pair_b, pair_block = [], [], [], [], []
    for b in batch:
        offset = len(groups)
        offsets.append(offset)
        nodes = nodes_of[b]
        groups.extend(nodes)
        k = len(nodes)
        if b not in candidates:
            a_, b_ = _triu(k)
        else:
            node_of = {r: n for n, g in enumerate(nodes) for r in g}
            rows = all_rows[b]
            ca, cb = candidates[b]
            na = np.array([node_of[rows[x]] for x in ca.tolist()], dtype=np.int64)
            nb = np.array([node_of[rows[x]] for x in cb.tolist()], dtype=np.int64)
            keep = na != nb
            found = np.unique(np.stack([np.minimum(na[keep], nb[keep]), np.maximum(na[keep], nb[keep])], 1), axis=0) \
                if keep.any() else np.zeros((0, 2), dtype=np.int64)
            a_, b_ = found[:, 0], found[:, 1]
        pair_a.append(a_ + offset)
        pair_b.append(b_ + offset)
        pair_block.append(np.full(len(a_), b, dtype=np.int64))
    prof = profiles(prep, groups, hop)
    pa, pb, pblock = np.concatenate(pair_a), np.concatenate(pair_b), np.concatenate(pair_block)
    prob = scorer.probability(pair_features(prof, pa, pb, stats[pblock], scorer.features)) if len(pa) else np.zeros(0)
    merged = []
    start = 0
    for b, offset, a_ in zip(batch, offsets, pair_a):
        stop = start + len(a_)
        p = prob[start:stop]
        la, lb = pa[start:stop] - offset, pb[start:stop] - offset
        start = stop
        t = block_threshold(threshold, getattr(scorer, "size_slope", 0.0), len(all_rows[b]))
        if not len(p) or p.max() < t:
            continue
        nodes = nodes_of[b]
        node_cannot = set()
        if cannot_by_row:
            node_of = {r: n for n, g in enumerate(nodes) for r in g}
            for r, others in cannot_by_row.items():
                if r in node_of:
                    for o in others:
                        if o in node_of and node_of[o] != node_of[r]:
                            node_cannot.add((min(node_of[r], node_of[o]), max(node_of[r], node_of[o])))
        orcids = [frozenset(filter(None, (orcid_of.get(r) for r in g))) for g in nodes] if orcid_of else \
            [frozenset()] * len(nodes)
        merges = _average_linkage(prof.names[offset:offset + len(nodes)], orcids, la, lb, p, t, node_cannot)
        if merges:
            nodes_of[b] = [sorted(r for n in group for r in nodes[n]) for group in _apply(len(nodes), merges, t)]
            if len(nodes_of[b]) > 1:
                merged.append(b)
    return merged


@lru_cache(maxsize=4096)
def _triu_cached(k: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.triu_indices(k, k=1)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def _triu(k: int) -> tuple[np.ndarray, np.ndarray]:
    return _triu_cached(k) if k <= 2000 else np.triu_indices(k, k=1)


# ----------------------------------------------------------------------------------------------------------------
# Entry points


@cyclic_gc_paused()
def disambiguate(
    mentions: Sequence[Mention],
    must_link: Iterable[tuple[str, str]] = (),
    cannot_link: Iterable[tuple[str, str]] = (),
    *,
    model: Model | None = None,
    prepared: Prepared | None = None,
) -> dict[str, str]:
    """``{mention_id: cluster_id}`` for every mention. See the module docstring. Python's cyclic collector is
    paused: most of the time here is spent making small objects (gcpause says why)."""
    if not mentions:
        return {}
    ids = [m.mention_id for m in mentions]
    if len(set(ids)) != len(ids):
        raise ValueError("mention ids must be unique")
    model = model or load_model()
    prep = prepared or prepare(mentions)
    uf, cannot = _constraints(prep.mentions, list(must_link), list(cannot_link))
    block_nodes = []
    for block_rows in blocks(prep.mentions, uf):
        groups: dict[int, list[int]] = defaultdict(list)
        for r in block_rows:
            groups[uf.find(r)].append(r)
        block_nodes.append(sorted(groups.values(), key=lambda g: g[0]))
    result: dict[str, str] = {}
    ids = [m.mention_id for m in prep.mentions]
    for clusters in cluster_blocks(prep, block_nodes, model, cannot):
        for rows in clusters:
            cid = cluster_id_for((ids[min(rows)],))  # prepare sorted the mentions by id: the first row's is least
            for r in rows:
                result[ids[r]] = cid
    return result


def simple_union(mentions: Sequence[Mention]) -> dict[str, str]:
    """The baseline: within a name block, papers sharing a co-author, an organisation or a venue are one person
    (connected components)."""
    prep = prepare(mentions)
    uf = _UnionFind(len(prep.mentions))
    evidence = sp.hstack([prep.coauthors, prep.org_ids, prep.venue_ids]).tocsr()
    for block_rows in blocks(prep.mentions):
        first: dict[int, int] = {}
        for r in block_rows:
            for c in evidence.indices[evidence.indptr[r]:evidence.indptr[r + 1]].tolist():
                uf.union(first.setdefault(c, r), r)
    groups: dict[int, list[str]] = defaultdict(list)
    for r, m in enumerate(prep.mentions):
        groups[uf.find(r)].append(m.mention_id)
    return {mid: cluster_id_for(g) for g in groups.values() for mid in g}


class ClusterRows(list):
    """The rows of ``disambiguate_path``, with ``counts``: what the reader read and could not read."""

    counts: object = None


def disambiguate_path(input_path: str | Path) -> ClusterRows:
    """Rows ``{"name", "publication_id", "cluster_id"}`` for an AMiner XML file or a folder of them (in file
    order). Each file is one ambiguous name: its mentions are never put with another file's (``Mention.group``);
    document frequencies are over everything read. ``rows.counts`` is the reader's ``ReadCounts``."""
    from .aminer import read_aminer_files

    files, counts = read_aminer_files(input_path)
    assigned = disambiguate([m for _, _, mentions in files for m in mentions])
    rows = ClusterRows()
    rows.counts = counts
    for _key, full_name, mentions in files:
        for m in mentions:
            rows.append({"name": full_name, "publication_id": m.publication_id, "cluster_id": assigned[m.mention_id]})
    return rows


def write_clusters_jsonl(path: str | Path, rows: Iterable[Mapping]) -> int:
    """One JSON object per line (``name``, ``publication_id``, ``cluster_id``); returns the number written."""
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps({"name": row["name"], "publication_id": row["publication_id"],
                                  "cluster_id": row["cluster_id"]}, ensure_ascii=False) + "\n")
            n += 1
    return n
