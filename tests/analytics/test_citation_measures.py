"""Disruption and reference novelty computed over the store's own citation graph."""

from __future__ import annotations

from scholarlens.analytics.build import analyse
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
