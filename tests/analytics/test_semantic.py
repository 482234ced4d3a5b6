"""Semantic novelty as the store computes it: persisted with its evidence, stable as later works arrive."""

from __future__ import annotations

import datetime as dt

import pytest

from scholarlens.analytics.build import analyse
from scholarlens.pipeline import ingest
from scholarlens.records import Authorship, Provenance, Work
from scholarlens.store import connect, write_records
from scholarlens.store.queries import author_profile

P = Provenance("test", None)


def test_a_near_copy_of_the_seed_papers_ranks_low_and_names_its_source(tmp_path, sample_dir):
    con = connect(tmp_path / "s.duckdb")
    ingest(con, [sample_dir / "profile_pages"])
    original = con.execute("SELECT title, abstract FROM works WHERE title LIKE 'InternImage%'").fetchone()
    write_records(con, [Work(keys=["doi:10.1/copy"], title=original[0] + " (extended)", abstract=original[1],
                             publication_date=dt.date(2026, 6, 1), category="CV", provenance=P,
                             authorships=[Authorship("name:copier", 1, "Copier")])])
    analyse(con)
    novelty, neighbours = con.execute("SELECT novelty, neighbours FROM work_novelty WHERE work_id = 'doi:10.1/copy'").fetchone()
    assert neighbours[0]["title"] == original[0] and neighbours[0]["similarity"] > 0.9
    cohort = [n for (n,) in con.execute(
        "SELECT novelty FROM work_novelty JOIN works USING (work_id) WHERE category = 'CV' AND year = 2026 AND novelty IS NOT NULL"
    ).fetchall()]
    assert novelty == min(cohort)
    assert (tmp_path / "s.duckdb.vectors" / "meta.json").exists()


def test_later_works_leave_earlier_distances_alone(tmp_path, sample_dir):
    con = connect(tmp_path / "s.duckdb")
    ingest(con, [sample_dir / "profile_pages"])
    analyse(con)
    before = dict(con.execute("SELECT work_id, distance FROM work_novelty").fetchall())
    write_records(con, [Work(keys=["doi:10.1/later"], title="A later work on deformable convolution backbones",
                             abstract="We revisit deformable convolutions for large vision backbones.",
                             publication_date=dt.date(2026, 11, 1), category="CV", provenance=P)])
    analyse(con)
    after = dict(con.execute("SELECT work_id, distance FROM work_novelty").fetchall())
    # equal up to float32 rounding (the matrix products see a different batch shape)
    assert {k: after[k] for k in before} == pytest.approx(before, abs=1e-6)
    assert 0 < after["doi:10.1/later"] < 1  # a real distance to an earlier work


def test_the_profile_shows_the_authors_novelty_beside_the_pages(sample_store):
    con = connect(sample_store, read_only=True)
    prof = author_profile(con, "name:lewei lu")
    assert prof["figures"]["novelty"]["kind"] == "computed"
    scored = [w for w in prof["works"] if w["novelty"] is not None]
    assert len(scored) >= 40
    # the author's figure is the median of the papers' (unrounded) novelty
    exact = con.execute(
        "SELECT median(n.novelty) FROM work_novelty n JOIN authorships a USING (work_id) WHERE a.author_id = 'name:lewei lu'"
    ).fetchone()[0]
    assert prof["novelty"] == round(exact, 1)
    assert all(w["novelty_neighbours"] and w["novelty_neighbours"][0]["year"] <= w["year"] for w in scored)
    page = next(r for r in prof["reported"] if r["metric"] == "novelty")
    assert page["value"] == 56 and page["computed"] == prof["novelty"]


def test_no_novelty_in_a_cohort_too_small_to_rank(sample_store):
    con = connect(sample_store, read_only=True)
    rows = con.execute("SELECT novelty, cohort_size, reason FROM work_novelty").fetchall()
    assert all(size >= 5 for novelty, size, _ in rows if novelty is not None)
    small = [reason for novelty, size, reason in rows if novelty is None and size is not None and size < 5]
    assert small and all("to rank among (fewer than 5)" in reason or reason == "no category or field to rank within"
                         for reason in small)
    assert any("to rank among" in reason for reason in small)


def test_an_abstract_that_arrives_later_counts_at_the_next_build(tmp_path, sample_dir):
    con = connect(tmp_path / "s.duckdb")
    ingest(con, [sample_dir / "profile_pages"])
    write_records(con, [Work(keys=["s2corpus:1"], title="Occupancy", publication_date=dt.date(2026, 7, 1),
                             category="CV", provenance=P)])
    analyse(con)
    before = con.execute("SELECT distance FROM work_novelty WHERE work_id = 's2corpus:1'").fetchone()[0]
    abstract = con.execute("SELECT abstract FROM works WHERE title = 'Scene as Occupancy'").fetchone()[0]
    write_records(con, [Work(keys=["s2corpus:1"], title=None, abstract=abstract, provenance=Provenance("s2ag", None))])
    analyse(con)
    after, neighbours = con.execute("SELECT distance, neighbours FROM work_novelty WHERE work_id = 's2corpus:1'").fetchone()
    assert after < before
    assert neighbours[0]["title"] == "Scene as Occupancy"
