"""Disruption and reference novelty computed over the store's own citation graph."""

from __future__ import annotations

import pandas as pd

from scholarlens.analytics.build import analyse
from scholarlens.analytics.citation_measures import compute_refnovelty
from scholarlens.records import Provenance, Work
from scholarlens.store import connect, write_records

P = Provenance("test", None)


def _work(key, year, refs=(), venue=None):
    return Work(keys=[key], title=key, provenance=P, year=year, references=list(refs), venue=venue)


def test_cd_of_a_disruptive_and_a_consolidating_work(tmp_path):
    """F (2000) cites R; X and Y (2002) cite F only: F is disruptive, CD = 1. G (2000) cites S; Z (2002) cites
    G and S: G consolidates, CD = -1. A work from last year has an open window and is not shown."""
    con = connect(tmp_path / "s.duckdb")
    write_records(con, [
        _work("doi:r", 1990), _work("doi:s", 1990),
        _work("doi:f", 2000, ["doi:r"]), _work("doi:g", 2000, ["doi:s"]),
        _work("doi:x", 2002, ["doi:f"]), _work("doi:y", 2002, ["doi:f"]), _work("doi:z", 2002, ["doi:g", "doi:s"]),
        _work("doi:new", 2023, ["doi:f"]),
    ])
    analyse(con, as_of_year=2024)
    got = dict(con.execute("SELECT work_id, cd FROM work_disruption WHERE cd IS NOT NULL").fetchall())
    assert got["doi:f"] == 1.0
    assert got["doi:g"] == -1.0
    closed = dict(con.execute("SELECT work_id, window_closed FROM work_disruption").fetchall())
    assert closed["doi:f"] and not closed["doi:new"]


def test_refnovelty_null_with_reason_for_short_reference_lists(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    write_records(con, [_work("doi:a", 2000, venue="J1"), _work("doi:b", 2000, venue="J2"),
                        _work("doi:p", 2001, ["doi:a", "doi:b"])])
    analyse(con, as_of_year=2024)
    (reason, tail) = con.execute("SELECT reason, tail_novelty FROM work_refnovelty WHERE work_id = 'doi:p'").fetchone()
    assert tail is None and reason.startswith("fewer than 3 references")


def test_an_empty_store_analyses_cleanly(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    analyse(con)
    assert con.execute("SELECT count(*) FROM work_disruption").fetchone()[0] == 0


def test_refnovelty_per_year_with_codes_equals_the_whole_graph_with_names(tmp_path):
    """The build reads one citing year at a time with integer codes for works and venues: its scores are those of
    reference_novelty over every work and reference at once, by id and venue name. Venue names here sort
    differently from their insertion order, and one citing work has no year."""
    import numpy as np

    from scholarlens.analytics.citation_graph import RESOLVED_EDGES_SQL
    from scholarlens.analytics.citation_measures import UZZI_SEED, UZZI_SHUFFLES
    from scholarlens.analytics.refnovelty import reference_novelty

    rng = np.random.default_rng(4)
    venues = ["zeta", "Alpha", "beta", "Gamma", "delta", "\u00e9psilon"]
    old = [_work(f"doi:old{i}", int(rng.choice([1998, 1999])), venue=venues[i % len(venues)]) for i in range(30)]
    citing = [_work(f"doi:c{i:03d}", None if i == 7 else int(rng.choice([2001, 2002, 2003])),
                    [f"doi:old{j}" for j in rng.choice(30, size=int(rng.integers(2, 9)), replace=False)])
              for i in range(120)]
    con = connect(tmp_path / "s.duckdb")
    write_records(con, old + citing)
    progress = []
    analyse(con, as_of_year=2024, on_progress=lambda step, done, total: progress.append((step, done, total)))
    got = con.execute("SELECT * FROM work_refnovelty ORDER BY work_id").fetchdf()
    # the build reports each citing year as it is scored: 2001, 2002, 2003 and the work without a year
    assert [p[1:] for p in progress if p[0] == "reference novelty"] == [(k, 4) for k in range(1, 5)]
    assert [p[1:] for p in progress if p[0] == "disruption"] == [(1, 1)]

    papers = con.execute("SELECT work_id AS id, year FROM works WHERE year IS NOT NULL").fetchdf()
    refs = con.execute(f"""SELECT e.citing, w.venue AS journal, w.year AS ref_year
                           FROM ({RESOLVED_EDGES_SQL}) e JOIN works w ON w.work_id = e.cited
                           WHERE w.venue IS NOT NULL AND w.venue <> '' ORDER BY e.citing, e.cited""").fetchdf()
    want = reference_novelty(papers, refs, focal_ids=refs["citing"].unique(), n_shuffles=UZZI_SHUFFLES,
                             seed=UZZI_SEED, rng="numpy").rename(columns={"id": "work_id"})
    want = want[list(got.columns)].sort_values("work_id").reset_index(drop=True)
    assert len(got) == 120 and got["tail_novelty"].notna().sum() > 50
    assert got.loc[got["work_id"] == "doi:c007", "reason"].item() == "not in papers"
    for column in got.columns:
        a, b = got[column].to_numpy(dtype=object), want[column].to_numpy(dtype=object)
        same = [(x == y) or (pd.isna(x) and pd.isna(y)) for x, y in zip(a, b)]
        assert all(same), column
    # the years scored in two worker processes: the same table
    compute_refnovelty(con, workers=2)
    pooled = con.execute("SELECT * FROM work_refnovelty ORDER BY work_id").fetchdf()
    pd.testing.assert_frame_equal(pooled, got)


def test_cd_index_by_spans_of_years_equals_one_span(tmp_path, monkeypatch):
    """The build cuts the graph into spans of focal years under an edge budget: a budget that puts every year in
    its own span gives the CD of every work exactly as one span over the whole graph."""
    import numpy as np

    from scholarlens.analytics import citation_measures

    rng = np.random.default_rng(1)
    works = []
    for i in range(400):
        year = 1990 + i // 20
        earlier = [f"doi:w{j}" for j in rng.choice(i, size=min(i, int(rng.integers(0, 6))), replace=False)] if i else []
        works.append(_work(f"doi:w{i}", year, earlier + (["doi:outside"] if i % 7 == 0 else [])))
    con = connect(tmp_path / "s.duckdb")
    write_records(con, works)

    def run(budget, workers=1):
        monkeypatch.setattr(citation_measures, "DISRUPTION_EDGE_BUDGET", budget)
        citation_measures.compute_disruption(con, as_of_year=2024, workers=workers)
        return con.execute("SELECT * FROM work_disruption ORDER BY work_id").fetchall()

    spans = []
    original = citation_measures._year_spans
    monkeypatch.setattr(citation_measures, "_year_spans", lambda c, b: spans.append(original(c, b)) or spans[-1])
    whole, per_year = run(10**9), run(1)
    assert len(spans[0]) == 1 and len(spans[1]) == 20
    assert whole == per_year
    assert run(1, workers=2) == whole  # the spans computed in two worker processes
    # a graph within one span's budget is cut into a span per core once it is large enough
    monkeypatch.setattr(citation_measures, "DISRUPTION_PARALLEL_MIN_EDGES", 1)
    assert run(10**9, workers=2) == whole and len(spans[-1]) >= 2
    monkeypatch.setattr(citation_measures, "DISRUPTION_PARALLEL_MIN_EDGES", 10**9)
    assert run(10**9, workers=2) == whole and len(spans[-1]) == 1
    assert sum(1 for row in whole if row[1] is not None) > 300


def test_workers_phase_lowers_duckdb_memory_and_restores_it(tmp_path, monkeypatch):
    """While the workers compute, DuckDB's limit is lowered so its buffer pool gives memory back; never raised,
    and restored after, also when the block fails."""
    import duckdb
    import pytest

    from scholarlens.analytics import citation_measures

    def limit(c):
        return c.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

    con = duckdb.connect()
    con.execute("SET memory_limit = '3GB'")
    before = limit(con)
    for _ in range(3):  # restored each time, without drifting
        with citation_measures.duckdb_memory_at_most(con, 2**30):
            assert limit(con) == "1.0 GiB"
        assert limit(con) == before
    with citation_measures.duckdb_memory_at_most(con, 8 * 2**30):  # higher than the limit: left alone
        assert limit(con) == before
    with pytest.raises(RuntimeError), citation_measures.duckdb_memory_at_most(con, 2**30):
        raise RuntimeError("a worker failed")
    assert limit(con) == before

    # The steps read their slices under the lowered limit and give the same results.
    store = connect(tmp_path / "s.duckdb")
    write_records(store, [_work("doi:a", 2000, []), _work("doi:b", 2001, ["doi:a"]), _work("doi:c", 2002, ["doi:a", "doi:b"])])
    seen = []
    original = citation_measures._span_part
    monkeypatch.setattr(citation_measures, "_span_part", lambda c, a, b: seen.append(limit(c)) or original(c, a, b))
    monkeypatch.setattr(citation_measures, "READING_DUCKDB_MEMORY_BYTES", 2**30)
    store.execute("SET memory_limit = '3GB'")
    citation_measures.compute_disruption(store, as_of_year=2024, workers=1)
    assert seen and set(seen) == {"1.0 GiB"}
    assert limit(store) == before
    assert store.execute("SELECT count(cd) FROM work_disruption").fetchall()[0][0] >= 1


def test_coded_citations_decode_to_the_resolved_edges(tmp_path):
    """The build's integer coding of the graph (coded_citations) is RESOLVED_EDGES_SQL, row for row, once decoded:
    on a store with two keys of one work (the duplicate edge collapses), cited keys no work has, a citing key no
    work has (dropped, even though it is also cited), a key of a work that is not in the store (a key no work has), an unknown key that is a work's id but not among its keys (it
    is that work when cited, and cites nothing), a self-citation and works without a year. Work codes follow the ids' order, and every edge
    carries its two works' years."""
    from scholarlens.analytics.citation_graph import RESOLVED_EDGES_SQL, coded_citations

    con = connect(tmp_path / "s.duckdb")
    con.execute("""INSERT INTO works (work_id, title, year, venue) VALUES
                   ('w3', 't', 2001, 'J'), ('w1', 't', 1999, NULL), ('w2', 't', NULL, 'K'), ('w9', 't', 2003, 'J')""")
    con.execute("""INSERT INTO work_keys VALUES ('doi:a', 'w1'), ('w1', 'w1'), ('w2', 'w2'), ('w3', 'w3'),
                   ('doi:c', 'w3'), ('doi:gone', 'w-gone')""")  # w9's own id is not among the keys; w-gone no work
    con.execute("""INSERT INTO citations (citing_key, cited_key) VALUES
                   ('w3', 'w1'), ('doi:c', 'doi:a'), ('w3', 'x:unknown'), ('w2', 'x:unknown'), ('w2', 'w3'),
                   ('w3', 'w3'), ('x:ghost', 'w1'), ('w1', 'x:ghost'), ('w3', 'w9'), ('w2', 'x:other'),
                   ('w9', 'w1'), ('doi:gone', 'w2'), ('w2', 'doi:gone')""")
    # w9 and doi:gone cite as keys no work has: dropped, as a citing 'x:ghost'; cited, doi:gone is its own id
    want = sorted(con.execute(RESOLVED_EDGES_SQL).fetchall())
    with coded_citations(con):
        with coded_citations(con):  # nested: the inner block reuses the outer's tables
            pass
        codes = con.execute("SELECT work_id, code FROM _work_codes ORDER BY code").fetchall()
        edges = con.execute(
            """SELECT e.citing, e.cited, e.t_citing IS NOT DISTINCT FROM a.year, e.t_cited IS NOT DISTINCT FROM b.year
               FROM _edge_codes e JOIN works a ON a.work_id = $ids[e.citing + 1]
               LEFT JOIN works b ON b.work_id = $ids[e.cited + 1]""", {"ids": ["w1", "w2", "w3", "w9"]}).fetchall()
    assert codes == [("w1", 0), ("w2", 1), ("w3", 2), ("w9", 3)]
    assert all(citing_year and cited_year for _, _, citing_year, cited_year in edges)
    # Cited keys no work has are coded after the works, in key order ('w9' is a work's id: that work's code).
    unknown = sorted({b for _, b in con.execute("SELECT citing_key, cited_key FROM citations").fetchall()}
                     - {k for (k,) in con.execute("SELECT key FROM work_keys WHERE work_id <> 'w-gone'").fetchall()})
    decode = dict(enumerate(["w1", "w2", "w3", "w9"])) | {4 + i: key for i, key in enumerate(unknown) if key != "w9"}
    assert sorted((decode[a], decode[b]) for a, b, *_ in edges) == want
    assert len(edges) == len(want) == 9  # thirteen citations: one duplicate, three from keys no work has
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    assert not tables & {"_work_codes", "_key_codes", "_edge_codes"}


def test_a_build_codes_the_graph_once_for_its_three_graph_steps(tmp_path, monkeypatch):
    """analyse() makes the coded graph once, for bibliometrics, the CD index and reference novelty together (each
    step alone would make its own), and drops it after them."""
    from scholarlens.analytics import citation_graph

    made = []

    class Counted(list):
        def __iter__(self):
            made.append(1)
            return super().__iter__()

    monkeypatch.setattr(citation_graph, "CODED_CITATIONS_SQL", Counted(citation_graph.CODED_CITATIONS_SQL))
    con = connect(tmp_path / "s.duckdb")
    write_records(con, [_work("doi:r", 1990, venue="J1"), _work("doi:f", 2000, ["doi:r"], venue="J2"),
                        _work("doi:x", 2002, ["doi:f", "doi:r"], venue="J1")])
    analyse(con, as_of_year=2024)
    assert len(made) == 1
    assert con.execute("SELECT cited_by_counted FROM work_citations WHERE work_id = 'doi:r'").fetchall()[0][0] == 2
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    assert not tables & set(citation_graph.CODED_CITATION_TABLES)
