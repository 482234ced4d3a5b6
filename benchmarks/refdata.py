"""Seeded generator of papers with references to journals, for the reference-novelty benchmark and tests.

What it makes (all from one ``numpy.random.Generator(PCG64(seed))``, so the same arguments give the same data):

- ``papers``: DataFrame[id (int64), year (int64)]. Years run from ``first_year`` to ``last_year``; the number of
  papers per year grows linearly, and the last year holds exactly ``n_focal`` papers (the benchmark's focal set:
  novelpy scores one citing year at a time, so a whole year is the fair unit to compare).
- ``refs``: DataFrame[citing (int64), journal (str "J00042"), ref_year (int64)], in reference-list order.
  Journals belong to ``n_fields`` fields; a paper picks one field and cites journals of it with probability
  ``p_in_field`` (else any journal). Popularity within a field is Zipf-like (weight 1/rank), so common and rare
  journal pairs both occur. Reference-list lengths are 1 + Poisson(``mean_refs`` - 1); a reference's year is the
  citing year minus a geometric lag (>= 0), clipped at ``first_year - 30``.
- Edge cases on purpose: a share of papers (``p_edge``) has 0, 1, 2 references, or several references all to one
  journal, so "too few references" and "fewer than two distinct journals" both occur.

``write_novelpy_json`` lays the same data out the way novelpy reads it without MongoDB:
``<root>/Data/docs/<collection>/<year>.json``, one list of ``{"PMID", "year", "c04_referencelist": [{"item",
"year"}]}`` per citing year, papers sorted by id and references in list order (the order novelpy's shuffle walks).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd


def generate(
    n_papers: int = 32_000,
    n_focal: int = 2_000,
    *,
    n_journals: int = 3_000,
    n_fields: int = 30,
    first_year: int = 2000,
    last_year: int = 2015,
    mean_refs: float = 9.5,
    p_in_field: float = 0.8,
    p_edge: float = 0.03,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (papers, refs); see the module docstring for what they hold."""
    if n_focal > n_papers:
        raise ValueError("n_focal must not exceed n_papers")
    rng = np.random.Generator(np.random.PCG64(seed))

    # Papers per year: the earlier years share n_papers - n_focal with linearly growing weights.
    early_years = np.arange(first_year, last_year)
    weights = np.arange(1, len(early_years) + 1, dtype=float)
    counts = np.floor(weights / weights.sum() * (n_papers - n_focal)).astype(np.int64)
    counts[-1] += (n_papers - n_focal) - counts.sum()  # rounding remainder
    years = np.concatenate([np.repeat(early_years, counts), np.full(n_focal, last_year)])
    # Shuffled ids so that id order is not year order.
    ids = rng.permutation(n_papers).astype(np.int64) + 1
    papers = pd.DataFrame({"id": ids, "year": years.astype(np.int64)})

    # Journals: field of each journal, and Zipf-like popularity inside its field.
    journal_field = rng.integers(0, n_fields, n_journals)
    rank_in_field = np.zeros(n_journals)
    for f in range(n_fields):  # setup only, n_fields iterations
        members = np.flatnonzero(journal_field == f)
        rank_in_field[members] = rng.permutation(len(members)) + 1
    pop = 1.0 / rank_in_field
    global_p = pop / pop.sum()

    # Reference-list lengths, with a few deliberate edge cases.
    n_refs = 1 + rng.poisson(mean_refs - 1, n_papers)
    edge = rng.random(n_papers) < p_edge
    n_refs[edge] = rng.choice([0, 1, 2, 3, 4], edge.sum())
    single_journal = edge & (rng.random(n_papers) < 0.5)

    citing = np.repeat(ids, n_refs)
    citing_year = np.repeat(years, n_refs)
    paper_field = np.repeat(rng.integers(0, n_fields, n_papers), n_refs)
    total = int(n_refs.sum())

    # Journal of each reference: in-field with probability p_in_field, else from the global popularity.
    journal = rng.choice(n_journals, total, p=global_p)
    in_field = rng.random(total) < p_in_field
    field_cdfs = {}
    for f in range(n_fields):
        members = np.flatnonzero(journal_field == f)
        field_cdfs[f] = (members, np.cumsum(pop[members]) / pop[members].sum())
    for f in range(n_fields):
        rows = np.flatnonzero(in_field & (paper_field == f))
        members, cdf = field_cdfs[f]
        journal[rows] = members[np.minimum(np.searchsorted(cdf, rng.random(len(rows))), len(members) - 1)]
    # Single-journal papers: every reference goes to the paper's first reference's journal.
    starts = np.concatenate([[0], np.cumsum(n_refs)[:-1]])
    first_journal = np.repeat(journal[np.minimum(starts, max(total - 1, 0))], n_refs)
    sj = np.repeat(single_journal, n_refs)
    journal[sj] = first_journal[sj]

    lag = rng.geometric(0.25, total) - 1
    ref_year = np.maximum(citing_year - lag, first_year - 30)

    refs = pd.DataFrame(
        {
            "citing": citing.astype(np.int64),
            "journal": np.char.add("J", np.char.zfill(journal.astype(str), 5)).astype(object),
            "ref_year": ref_year.astype(np.int64),
        }
    )
    return papers, refs


def write_novelpy_json(papers: pd.DataFrame, refs: pd.DataFrame, root: Path, collection: str = "refs") -> None:
    """Write novelpy's JSON-file layout under root (papers sorted by id, references in list order)."""
    out = Path(root) / "Data" / "docs" / collection
    out.mkdir(parents=True, exist_ok=True)
    by_paper: dict[int, list] = {}
    for c, j, y in zip(refs["citing"].tolist(), refs["journal"].tolist(), refs["ref_year"].tolist()):
        by_paper.setdefault(c, []).append({"item": j, "year": int(y)})
    for year, group in papers.sort_values("id").groupby("year", sort=True):
        docs = [
            {"PMID": int(pid), "year": int(year), "c04_referencelist": by_paper.get(int(pid), [])}
            for pid in group["id"].tolist()
        ]
        (out / f"{int(year)}.json").write_text(json.dumps(docs))


if __name__ == "__main__":
    p, r = generate()
    print(p.groupby("year").size().to_string())
    print(len(p), "papers,", len(r), "references,", r["journal"].nunique(), "journals")
