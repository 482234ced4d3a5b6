"""One work across sources: identifiers first, then title + year + first author, never against an identifier."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from scholarlens import pipeline
from scholarlens.records import Authorship, Provenance, Work
from scholarlens.store import connect, write_records
from scholarlens.store.matching import conflicting, exclusive_ids, match_key, normalise_title, surname

TESTS_DATA = Path(__file__).resolve().parents[1] / "data"


def _work(keys, title, year, authors, source="arxiv", inferred=False):
    return Work(
        keys=keys, title=title, provenance=Provenance(source, keys[0]), year=year,
        publication_date=dt.date(year, 3, 1) if year else None, year_inferred=inferred,
        authorships=[Authorship(author_key=f"name:{n.lower()}", position=i, raw_name=n) for i, n in enumerate(authors, 1)],
    )


def _groups(con) -> set[frozenset[str]]:
    rows = con.execute(
        "SELECT list(key ORDER BY key) FROM work_keys WHERE NOT starts_with(key, 'match:') GROUP BY work_id"
    ).fetchall()
    return {frozenset(r[0]) for r in rows}


@pytest.fixture(scope="module")
def everything(tmp_path_factory, sample_dir):
    con = connect(tmp_path_factory.mktemp("m") / "all.duckdb")
    pipeline.ingest(con, [sample_dir, TESTS_DATA])
    yield con
    con.close()


def _keys_of(con, key):
    return set(r[0] for r in con.execute(
        "SELECT key FROM work_keys WHERE work_id = (SELECT work_id FROM work_keys WHERE key = ?)", [key]).fetchall())


def test_a_preprint_meets_its_proceedings_version_by_title(everything):
    # Two real OpenAlex records of one paper: the EG proceedings DOI and the arXiv preprint, no shared id.
    keys = _keys_of(everything, "openalex:W3187234764")
    assert {"openalex:W3188841554", "arxiv:2108.04680", "doi:10.2312/cgvc.20211309"} <= keys


def test_same_title_with_different_dois_stays_apart(everything):
    # PRISMA 2020 was printed in several journals: same title, year and first author, different DOIs.
    assert "openalex:W3144543375" not in _keys_of(everything, "openalex:W3118615836")
    # Bradford 1976 under two DOIs: we would rather keep a duplicate than join two papers.
    assert "openalex:W2128635872" not in _keys_of(everything, "openalex:W4293247451")
    # Granville's 2023 and 2024 records differ in year.
    assert "s2:7ce0067a715c27421a72dbfba3a6423b1e40d8c0" not in _keys_of(
        everything, "s2:af02f2c6b315f8a3db555a6386fbd37165e6ecdb")


def test_no_seed_card_is_merged_with_anything(everything):
    # None of the 50 seed papers occurs in the fixtures (checked by title over every shared dataset), so each
    # card must stay a work of its own, with the page as its only source.
    rows = everything.execute("""
        SELECT s.work_id, (SELECT list(DISTINCT source) FROM work_sources x WHERE x.work_id = s.work_id)
        FROM work_sources s WHERE s.source = 'profile-page'""").fetchall()
    assert len(rows) == 50
    assert all(sources == ["profile-page"] for _, sources in rows)


def test_a_card_and_an_arxiv_record_of_it_become_one_work(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    card = _work(["page:internvl3"], "InternVL3: Exploring Advanced Training and Test-Time Recipes", 2025,
                 ["Jinguo Zhu", "Weiyun Wang"], source="profile-page")
    preprint = _work(["arxiv:2504.10479"], "InternVL3 — exploring advanced training and test-time recipes.", 2025,
                     ["Zhu, Jinguo", "Weiyun Wang"])
    write_records(con, [card])
    write_records(con, [preprint])
    assert _groups(con) == {frozenset({"page:internvl3", "arxiv:2504.10479"})}
    sources = con.execute("SELECT list(source ORDER BY source) FROM work_sources").fetchall()
    assert sources == [(["arxiv", "profile-page"],)]  # both provenances kept


@pytest.mark.parametrize(
    "other, why",
    [
        (_work(["arxiv:2504.1"], "InternVL3: Exploring Advanced Training and Test-Time Recipes", 2024, ["Jinguo Zhu"]),
         "another year"),
        (_work(["arxiv:2504.1"], "InternVL3: Exploring Advanced Training and Test-Time Recipes", 2025, ["Wenhai Wang"]),
         "another first author"),
        (_work(["arxiv:2504.1"], "InternVL3: Exploring Advanced Training", 2025, ["Jinguo Zhu"]), "another title"),
    ],
)
def test_near_misses_stay_apart(tmp_path, other, why):
    con = connect(tmp_path / "s.duckdb")
    card = _work(["page:internvl3"], "InternVL3: Exploring Advanced Training and Test-Time Recipes", 2025,
                 ["Jinguo Zhu"], source="profile-page")
    write_records(con, [card, other])
    assert len(_groups(con)) == 2, why


def test_an_inferred_year_or_a_generic_title_never_matches(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    write_records(con, [
        _work(["page:a"], "InternVL3: Exploring Advanced Training and Test-Time Recipes", 2025, ["Jinguo Zhu"],
              source="profile-page", inferred=True),
        _work(["arxiv:2504.10479"], "InternVL3: Exploring Advanced Training and Test-Time Recipes", 2025, ["Jinguo Zhu"]),
        _work(["doi:10.1/e1"], "Editorial: Advances in Vision and Language", 2025, ["Jinguo Zhu"]),
        _work(["openalex:W2"], "Editorial: Advances in Vision and Language", 2025, ["Jinguo Zhu"]),
    ])
    assert len(_groups(con)) == 4


def test_matching_does_not_depend_on_order_or_batches(tmp_path):
    a = _work(["page:x"], "Deformable DETR: Deformable Transformers for End-to-End Object Detection", 2020,
              ["Xizhou Zhu", "Weijie Su", "Lewei Lu"], source="profile-page")
    b = _work(["openalex:W3"], "Deformable DETR: deformable transformers for end-to-end object detection", 2020,
              ["Xizhou Zhu"], source="openalex")
    c = _work(["doi:10.48550/arxiv.2010.04159", "arxiv:2010.04159"], "Deformable DETR: Deformable Transformers for "
              "End-to-End Object Detection", 2020, ["Zhu, Xizhou"], source="semanticscholar")
    results = []
    for n, batches in enumerate([[[a, b, c]], [[c], [b], [a]], [[b], [a, c]]]):
        con = connect(tmp_path / f"{n}.duckdb")
        for batch in batches:
            write_records(con, [Work(**{**w.__dict__, "keys": list(w.keys)}) for w in batch])
        results.append(_groups(con))
    assert results[0] == results[1] == results[2]
    assert results[0] == {frozenset({"page:x", "openalex:W3", "doi:10.48550/arxiv.2010.04159", "arxiv:2010.04159"})}


def test_the_key_parts():
    assert normalise_title("Café: A  Study—of Things!") == "cafe a study of things"
    assert normalise_title("深度学习的研究") == "深度学习的研究"  # other scripts are kept, not emptied
    assert surname("Lu, Lewei") == surname("Lewei Lu") == "lu"
    assert match_key(_work(["x:1"], "Short", 2020, ["A B"])) is None
    assert conflicting(exclusive_ids(["doi:10.1/a"]), exclusive_ids(["doi:10.2/b"]))
    # arXiv's DataCite DOI is the preprint, not a second publication
    assert not conflicting(exclusive_ids(["doi:10.48550/arxiv.2108.04680"]), exclusive_ids(["doi:10.2312/cgvc"]))
    assert conflicting(exclusive_ids(["doi:10.48550/arxiv.1"]), exclusive_ids(["arxiv:2"]))
