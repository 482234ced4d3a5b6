"""Seeded synthetic citation graphs for tests and benchmarks (10k to 10M edges).

The graph grows year by year. Each year publishes more papers than the one before, every paper belongs to a
journal and draws a number of references; each reference picks its target among the papers already published:

- preferential attachment with ageing: an earlier paper j is picked with weight
  (citations_j + pa_offset) ** pa_exponent * fitness_j * ageing(age_j), where ageing rises to its peak
  `ageing_peak` years after publication and then halves every `ageing_half_life` years (citations are
  counted at the end of each year, a batch update; a sublinear exponent keeps the oldest papers from
  running away with the whole graph);
- journals: a share `p_same_journal` of references is drawn only among earlier papers of the citing paper's
  journal (same weights), the rest among all earlier papers; journal sizes follow a Zipf law;
- same-year citations: a share `p_same_year` of references goes to a paper of the same year published before
  the citing one (so the same-year switch of the CD index has something to act on);
- mega-hubs: `n_hubs` early papers (from the first third of the years) each catch a share `p_hub / n_hubs` of
  all later references, on top of what preferential attachment gives them, and do not age.

A paper never cites itself or a later paper, and duplicate references are dropped, so the result is a simple
DAG in time order. The generator draws references for a little more than `n_edges` (drawing again with more
papers if duplicates ate too many) and keeps a random `n_edges` of them, so the edge count is exact.

Parameters (keyword arguments of `generate`, flags of the command line):
  n_edges          number of citations wanted (10_000 .. 10_000_000)
  seed             seed of the random generator: same seed and parameters, same graph
  first_year       year of the first papers (1980)
  years            number of publication years (40)
  growth           yearly growth rate of the number of papers (0.05: 5% more papers each year)
  mean_refs        mean number of references drawn per paper before de-duplication (12)
  n_journals       number of journals (default: one per 400 papers, at least 5)
  p_same_journal   share of references drawn inside the citing paper's journal (0.3)
  p_same_year      share of references to an earlier paper of the same year (0.03)
  ageing_peak      age in years at which a paper is most likely to be cited (2.0)
  ageing_half_life years over which a paper's attractiveness halves after its peak (6.0)
  pa_exponent      exponent of preferential attachment on citations received (0.8)
  fitness_sigma    sigma of the log-normal fitness of each paper (0.6)
  pa_offset        attractiveness of a paper with no citations yet (1.0)
  n_hubs           number of mega-hubs (4)
  p_hub            share of all references that go to the mega-hubs (0.04: at 1M edges each of 4 hubs gets
                   about 10k citers, at 10M about 100k)
  id_prefix        if set, ids are strings like "W12" instead of integers

Returns two pandas DataFrames: works (id, time, journal) and citations (citing, cited).

Command line: `python benchmarks/graphgen.py --edges 1000000 --seed 1 --out DIR` writes DIR/works.parquet and
DIR/citations.parquet and prints the graph's statistics.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _papers_per_year(n_papers: int, years: int, growth: float) -> np.ndarray:
    shape = np.exp(growth * np.arange(years))
    counts = np.floor(shape / shape.sum() * n_papers).astype(np.int64)
    counts[-1] += n_papers - counts.sum()
    return np.maximum(counts, 1)


def _ageing(age: np.ndarray, peak: float, half_life: float) -> np.ndarray:
    # Rises to 1 at `peak` years, then halves every `half_life` years.
    rise = np.minimum((age + 1.0) / (peak + 1.0), 1.0)
    return rise * np.exp2(-np.maximum(age - peak, 0.0) / half_life)


def _draw(cum: np.ndarray, lo: np.ndarray, hi: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn from the cumulative weights `cum` between cum[lo-1] and cum[hi-1] (one draw per u)."""
    base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    top = cum[hi - 1]
    idx = np.searchsorted(cum, base + u * (top - base), side="right")
    return np.minimum(idx, hi - 1)


def generate(
    n_edges: int,
    *,
    seed: int = 0,
    first_year: int = 1980,
    years: int = 40,
    growth: float = 0.05,
    mean_refs: float = 12.0,
    n_journals: int | None = None,
    p_same_journal: float = 0.3,
    p_same_year: float = 0.03,
    ageing_peak: float = 2.0,
    ageing_half_life: float = 6.0,
    pa_exponent: float = 0.8,
    fitness_sigma: float = 0.6,
    pa_offset: float = 1.0,
    n_hubs: int = 4,
    p_hub: float = 0.04,
    id_prefix: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    params = dict(
        years=years, growth=growth, mean_refs=mean_refs, n_journals=n_journals, p_same_journal=p_same_journal,
        p_same_year=p_same_year, ageing_peak=ageing_peak, ageing_half_life=ageing_half_life,
        pa_exponent=pa_exponent, fitness_sigma=fitness_sigma, pa_offset=pa_offset, n_hubs=n_hubs, p_hub=p_hub,
    )
    # Duplicates and first-year papers (nothing to cite yet) lose some draws: start with 10% more papers than
    # the edge count asks for, and grow the graph again (same seed) if that was not enough.
    slack = 1.10
    while True:
        rng = np.random.default_rng(seed)
        n_papers = max(int(np.ceil(n_edges * slack / mean_refs)), 20)
        year_of, journal, citing, cited = _grow(n_papers, rng, **params)
        n_papers = year_of.size
        if citing.size >= n_edges or slack > 4:
            break
        slack *= 1.02 * n_edges / max(citing.size, 1)
    if citing.size > n_edges:
        keep = np.sort(rng.choice(citing.size, size=n_edges, replace=False))
        citing, cited = citing[keep], cited[keep]

    ids: np.ndarray = np.arange(n_papers, dtype=np.int64)
    if id_prefix is not None:
        ids = np.char.add(id_prefix, ids.astype(str)).astype(object)
    works = pd.DataFrame({"id": ids, "time": (first_year + year_of).astype(np.int64), "journal": journal})
    citations = pd.DataFrame({"citing": ids[citing], "cited": ids[cited]})
    return works, citations


def _grow(n_papers, rng, *, years, growth, mean_refs, n_journals, p_same_journal, p_same_year, ageing_peak,
          ageing_half_life, pa_exponent, fitness_sigma, pa_offset, n_hubs, p_hub):
    """One growth run: year and journal of each paper, and the de-duplicated (citing, cited) pairs."""
    per_year = _papers_per_year(n_papers, years, growth)
    n_papers = int(per_year.sum())
    year_of = np.repeat(np.arange(years), per_year)  # papers are numbered in publication order
    year_start = np.concatenate([[0], np.cumsum(per_year)])

    n_journals = n_journals or max(5, n_papers // 400)
    journal_p = 1.0 / np.arange(1, n_journals + 1) ** 0.8
    journal = rng.choice(n_journals, size=n_papers, p=journal_p / journal_p.sum()).astype(np.int32)
    # Papers laid out by journal (then by number): one journal's papers are one run of the cumulative weights.
    by_journal = np.lexsort((np.arange(n_papers), journal))
    journal_size = np.bincount(journal, minlength=n_journals)
    journal_end = np.cumsum(journal_size)
    journal_start = journal_end - journal_size

    fitness = rng.lognormal(0.0, fitness_sigma, size=n_papers)
    early = year_start[max(1, years // 3)]
    hubs = np.sort(rng.choice(early, size=min(n_hubs, early), replace=False)) if n_hubs else np.empty(0, np.int64)
    n_refs = rng.poisson(mean_refs - 1, size=n_papers) + 1
    indegree = np.zeros(n_papers, dtype=np.float64)

    citing_parts, cited_parts = [], []
    for y in range(years):
        lo, hi = year_start[y], year_start[y + 1]
        citers = np.repeat(np.arange(lo, hi), n_refs[lo:hi])
        n = citers.size
        kind = rng.random(n)
        target = np.full(n, -1, dtype=np.int64)

        if y > 0:  # preferential attachment with ageing among earlier papers
            weight = np.zeros(n_papers)
            age = y - year_of[:lo]
            ageing = _ageing(age, ageing_peak, ageing_half_life)
            weight[:lo] = (indegree[:lo] + pa_offset) ** pa_exponent * fitness[:lo] * ageing
            weight[hubs] = 0.0  # hubs get exactly their share below
            cum = np.cumsum(weight[by_journal])
            u = rng.random(n)
            same_journal = kind < p_same_journal
            j = journal[citers]
            seg_lo = np.where(same_journal, journal_start[j], 0)
            seg_hi = np.where(same_journal, journal_end[j], n_papers)
            # A journal with no earlier paper falls back to the whole literature.
            empty = cum[seg_hi - 1] - np.where(seg_lo > 0, cum[np.maximum(seg_lo - 1, 0)], 0.0) <= 0
            seg_lo[empty], seg_hi[empty] = 0, n_papers
            target = by_journal[_draw(cum, seg_lo, seg_hi, u)]

        # Same-year references: a paper of this year published before the citing one.
        same_year = (kind >= 1 - p_same_year) & (citers > lo)
        target[same_year] = lo + (rng.random(same_year.sum()) * (citers[same_year] - lo)).astype(np.int64)

        # Mega-hubs: a fixed share of references, spread over the hubs already published.
        live_hubs = hubs[hubs < lo]
        if live_hubs.size:
            to_hub = (kind >= p_same_journal) & (kind < p_same_journal + p_hub)
            target[to_hub] = live_hubs[rng.integers(0, live_hubs.size, size=to_hub.sum())]

        keep = target >= 0
        citing_parts.append(citers[keep])
        cited_parts.append(target[keep])
        indegree += np.bincount(target[keep], minlength=n_papers)

    code = np.unique(np.concatenate(citing_parts) * n_papers + np.concatenate(cited_parts))  # drop duplicates
    return year_of, journal, code // n_papers, code % n_papers


def describe(works: pd.DataFrame, citations: pd.DataFrame) -> dict:
    """Statistics worth printing beside a benchmark: sizes, degrees, same-year share, the biggest hubs."""
    indeg = citations["cited"].value_counts()
    outdeg = citations["citing"].value_counts()
    time_of = pd.Series(works["time"].to_numpy(), index=works["id"].to_numpy())
    t_citing = time_of.reindex(citations["citing"].to_numpy()).to_numpy()
    t_cited = time_of.reindex(citations["cited"].to_numpy()).to_numpy()
    return {
        "works": len(works),
        "citations": len(citations),
        "years": f"{works['time'].min()}-{works['time'].max()}",
        "journals": int(works["journal"].nunique()) if "journal" in works else None,
        "mean_references": round(len(citations) / max(outdeg.size, 1), 2),
        "max_references": int(outdeg.max()) if outdeg.size else 0,
        "same_year_share": round(float(np.mean(t_citing == t_cited)), 4) if len(citations) else 0.0,
        "uncited_share": round(1 - indeg.size / max(len(works), 1), 4),
        "top_indegrees": [int(v) for v in indeg.head(5)],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hubs", type=int, default=4)
    parser.add_argument("--p-hub", type=float, default=0.04)
    parser.add_argument("--out", type=Path, help="directory for works.parquet and citations.parquet")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    works, citations = generate(args.edges, seed=args.seed, n_hubs=args.hubs, p_hub=args.p_hub)
    print(f"generated in {time.perf_counter() - start:.1f} s")
    for key, value in describe(works, citations).items():
        print(f"{key:>16}: {value}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        works.to_parquet(args.out / "works.parquet", index=False)
        citations.to_parquet(args.out / "citations.parquet", index=False)


if __name__ == "__main__":
    main()
