"""Persons in the store: the engine's groups, people's corrections, and corrections that outlive every rebuild."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from scholarlens import pipeline
from scholarlens.analytics.build import analyse
from scholarlens.identity.corrections import (
    CorrectionError,
    add_correction,
    orcid_checksum_ok,
    resolve_subject,
    revoke_correction,
)
from scholarlens.records import Author, Authorship, Provenance, Work
from scholarlens.serve.cli import app
from scholarlens.serve.web import create_app
from scholarlens.store import connect, queries, write_records

LU = "name:lewei lu"
ORCID = "0000-0002-1825-0097"  # ORCID's own documented example id (valid check digit)


def _work(key, title, year, authors, abstract, venue=None, ids=None):
    ids = ids or {}
    return Work(
        keys=[key], title=title, abstract=abstract, venue=venue, year=year, publication_date=dt.date(year, 6, 1),
        provenance=Provenance("openalex", key),
        authorships=[Authorship(author_key=ids.get(n, "name:" + n.lower()), position=i, raw_name=n)
                     for i, n in enumerate(authors, 1)],
    )


def _profile_keys(con, ref):
    prof = queries.author_profile(con, queries.resolve_author(con, ref))
    return prof, {w["id"] for w in prof["works"]}


@pytest.fixture()
def sample_copy(tmp_path, sample_store):
    path = tmp_path / "s.duckdb"
    shutil.copy(sample_store, path)
    vectors = sample_store.parent / (sample_store.name + ".vectors")
    if vectors.exists():
        shutil.copytree(vectors, tmp_path / (path.name + ".vectors"))
    return path


def test_the_seed_owner_is_one_person_with_all_50_cards(sample_store):
    con = connect(sample_store, read_only=True)
    prof, works = _profile_keys(con, "Lewei Lu")
    assert prof["id"] == LU and len(works) == 50
    assert prof["curated"] is False and prof["corrections"] == []


def test_a_correction_survives_a_full_reingest_and_rebuild(sample_copy, sample_dir):
    con = connect(sample_copy)
    _, before = _profile_keys(con, LU)
    disowned = sorted(before)[0]
    cid = add_correction(con, "remove-work", LU, disowned, who="lewei", why="a namesake's paper")
    analyse(con)
    prof, after = _profile_keys(con, LU)
    assert after == before - {disowned}
    assert prof["curated"] is True and [c["id"] for c in prof["corrections"]] == [cid]
    # everything again, as if the sources changed under us: the correction is still applied
    pipeline.ingest(con, [sample_dir], force=True)
    analyse(con)
    prof, again = _profile_keys(con, LU)
    assert again == after and prof["curated"] is True
    # the disowned mention became a person of its own, not lost
    (owner,) = con.execute("SELECT person_id FROM person_mentions WHERE work_id = ? AND author_id = ?", [disowned, LU]).fetchall()[0]
    assert owner != LU
    # and revoking gives the paper back
    revoke_correction(con, cid, who="lewei")
    analyse(con)
    prof, restored = _profile_keys(con, LU)
    assert restored == before and prof["curated"] is False
    assert prof["corrections"][0]["revoked_by"] == "lewei"  # kept for the audit trail


@pytest.fixture()
def namesakes(tmp_path):
    """Two people called Wei Zhang: one in vision with the Li lab, one in ecology with the Okafor lab."""
    con = connect(tmp_path / "n.duckdb")
    vision = "We propose a convolutional network for object detection in images with deformable attention."
    ecology = "We survey soil microbial diversity across grassland plots under nitrogen fertilisation."
    works = [
        _work("openalex:W1", "Deformable attention for object detection", 2019, ["Wei Zhang", "Hao Li", "Jun Xu"], vision, "CVPR"),
        _work("openalex:W2", "Attention-based detectors at scale", 2020, ["Hao Li", "Wei Zhang", "Jun Xu"], vision, "CVPR"),
        _work("openalex:W3", "Video object detection with attention", 2021, ["Jun Xu", "Wei Zhang", "Hao Li"], vision, "ICCV"),
        _work("openalex:W4", "Soil microbes under nitrogen", 2019, ["Wei Zhang", "Ada Okafor", "Lena Berg"], ecology, "Ecology"),
        _work("openalex:W5", "Grassland diversity and fertilisation", 2020, ["Ada Okafor", "Wei Zhang", "Lena Berg"], ecology, "Ecology"),
        _work("openalex:W6", "Nitrogen and soil fungi", 2022, ["Lena Berg", "Ada Okafor", "Wei Zhang"], ecology, "Oikos"),
    ]
    write_records(con, works)
    analyse(con)
    yield con
    con.close()


def _persons_named(con, name):
    return con.execute(
        """SELECT p.person_id, list(pa.work_id ORDER BY pa.work_id) FROM persons p
           JOIN person_authorships pa ON pa.author_id = p.person_id WHERE p.name = ? GROUP BY p.person_id ORDER BY 2""",
        [name]).fetchall()


def test_two_namesakes_with_disjoint_coauthors_and_fields_stay_apart(namesakes):
    groups = [set(w) for _, w in _persons_named(namesakes, "Wei Zhang")]
    assert sorted(map(sorted, groups)) == [["openalex:W1", "openalex:W2", "openalex:W3"],
                                           ["openalex:W4", "openalex:W5", "openalex:W6"]]


def test_an_ambiguous_name_lists_the_candidates(namesakes, tmp_path):
    cands = queries.ambiguous(namesakes, "wei zhang")
    assert len(cands) == 2
    assert {frozenset(c["top_coauthors"][:2]) for c in cands} == {frozenset({"Hao Li", "Jun Xu"}), frozenset({"Ada Okafor", "Lena Berg"})}
    assert all(c["works_count"] == 3 and c["years"] for c in cands)
    path = namesakes.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[0][0]
    namesakes.close()
    result = CliRunner().invoke(app, ["--store", path, "profile", "Wei Zhang"])
    assert result.exit_code == 2
    assert "2 people named" in result.output and "Okafor" in result.output and "pass one of the ids" in result.output
    # an id settles it
    result = CliRunner().invoke(app, ["--store", path, "profile", cands[0]["id"], "--json"])
    assert result.exit_code == 0, result.output


def test_merge_then_split_of_the_namesakes(namesakes):
    (a, _), (b, _) = _persons_named(namesakes, "Wei Zhang")
    # Both are known only by the name key "name:wei zhang", so each is referred to by a mention of theirs
    # (that name on one of their works), which stays true whatever the clustering does next.
    subject, other = resolve_subject(namesakes, a), resolve_subject(namesakes, b)
    assert subject.startswith("name:wei zhang@") and other.startswith("name:wei zhang@") and subject != other
    add_correction(namesakes, "merge", a, b, who="t", why="same person, moved fields")
    analyse(namesakes)
    assert len(_persons_named(namesakes, "Wei Zhang")) == 1
    add_correction(namesakes, "split", subject, other, who="t", why="no, two people after all")
    analyse(namesakes)
    assert len(_persons_named(namesakes, "Wei Zhang")) == 2
    kinds = [(c["kind"], c["revoked_at"] is not None) for c in queries.author_profile(namesakes, a)["corrections"]]
    assert kinds == [("merge", True), ("split", False)]  # the split superseded the merge, which stays on record


def test_corrections_reach_chunks_scored_in_worker_processes(namesakes):
    """The must-link and cannot-link pairs travel with each chunk to the engine's worker processes."""
    from scholarlens.analytics.persons import compute_persons

    (a, _), (b, _) = _persons_named(namesakes, "Wei Zhang")
    add_correction(namesakes, "merge", a, b, who="t", why="same person")
    compute_persons(namesakes, chunk_mentions=1, workers=2)  # a chunk per name block, two processes
    assert len(_persons_named(namesakes, "Wei Zhang")) == 1


def test_a_claimed_profile_receives_newly_ingested_works(namesakes):
    (vision, _), _ = _persons_named(namesakes, "Wei Zhang")
    add_correction(namesakes, "claim", vision, f"https://orcid.org/{ORCID}", who="wei", why="my ORCID")
    analyse(namesakes)
    assert queries.author_profile(namesakes, vision)["orcid"] == ORCID
    # A new source record of her: another source id, a name printed differently, her ORCID.
    write_records(namesakes, [
        Author(key="openalex:A77", name="W. Zhang", orcid=f"https://orcid.org/{ORCID}",
               provenance=Provenance("openalex", "A77"), work_keys=["openalex:W9"]),
        _work("openalex:W9", "Sparse transformers for 3D detection", 2024, ["W. Zhang", "Mia Roth"],
              "Point clouds and sparse attention.", ids={"W. Zhang": "openalex:A77"}),
    ])
    analyse(namesakes)
    works = {w["id"] for w in queries.author_profile(namesakes, vision)["works"]}
    assert works == {"openalex:W1", "openalex:W2", "openalex:W3", "openalex:W9"}


def test_add_work_with_no_name_on_it(namesakes):
    (vision, _), _ = _persons_named(namesakes, "Wei Zhang")
    write_records(namesakes, [_work("openalex:W8", "A paper whose author list was cut short", 2023, ["Kai Sun"], "Text.")])
    add_correction(namesakes, "add-work", vision, "openalex:W8", who="wei", why="author list truncated at the source")
    analyse(namesakes)
    works = {w["id"] for w in queries.author_profile(namesakes, vision)["works"]}
    assert "openalex:W8" in works


def test_bad_corrections_are_refused_with_a_reason(namesakes):
    with pytest.raises(CorrectionError, match="no author or person"):
        add_correction(namesakes, "merge", "openalex:A404", "name:wei zhang", who="t", why="x")
    with pytest.raises(CorrectionError, match="not a valid ORCID"):
        add_correction(namesakes, "claim", "name:wei zhang", "0000-0002-1825-0098", who="t", why="x")
    with pytest.raises(CorrectionError, match="no work with key"):
        add_correction(namesakes, "remove-work", "name:wei zhang", "doi:10.1/none", who="t", why="x")
    with pytest.raises(CorrectionError, match="who made it and why"):
        add_correction(namesakes, "remove-work", "name:wei zhang", "openalex:W1", who="t", why=" ")
    assert orcid_checksum_ok("0000-0001-5109-3700") and not orcid_checksum_ok("0000-0001-5109-3701")


def test_web_corrections_need_the_token(namesakes, tmp_path):
    path = namesakes.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[0][0]
    (vision, _), _ = _persons_named(namesakes, "Wei Zhang")
    namesakes.close()
    body = {"kind": "remove-work", "subject": vision, "target": "openalex:W3", "who": "wei", "why": "not mine"}
    # DuckDB opens a file one way per process, so the read-only server gets a copy of the store
    copy = tmp_path / "read-only.duckdb"
    shutil.copy(path, copy)
    read_only = TestClient(create_app(copy))
    assert read_only.post("/api/corrections", json=body).status_code == 403
    assert "read-only" in read_only.get(f"/corrections/{vision}").text
    admin = TestClient(create_app(path, admin_token="s3cret"))
    assert admin.post("/api/corrections", json=body).status_code == 401
    assert admin.post("/api/corrections", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    bad = admin.post("/api/corrections", json={**body, "target": "doi:10.1/none"}, headers={"Authorization": "Bearer s3cret"})
    assert bad.status_code == 422 and "no work with key" in bad.json()["detail"]
    assert admin.post("/api/corrections", json={**body, "kind": "delete"}, headers={"Authorization": "Bearer s3cret"}).status_code == 422
    ok = admin.post("/api/corrections", json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 201
    prof = admin.get(f"/api/authors/{vision}").json()
    assert prof["curated"] is True and {w["id"] for w in prof["works"]} == {"openalex:W1", "openalex:W2"}
    assert prof["corrections"][0]["why"] == "not mine"
    page = admin.get(f"/authors/{vision}").text
    assert "Curated profile" in page
