"""Semantic Scholar Graph API reader on real recorded responses (bundled sample and recorded cassettes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import scholarlens
from scholarlens.records import Author, Citation, Provenance, Quarantined, ReportedFigure, Work
from scholarlens.sources.semanticscholar import (
    is_semanticscholar,
    records_from_semanticscholar,
    semanticscholar_kind,
)
from scholarlens.store import connect, table_counts, write_records

SAMPLE = Path(scholarlens.__file__).parent / "sample" / "semanticscholar"
CASSETTES = Path(__file__).resolve().parents[1] / "data" / "s2_cassettes"
TURING = "s2:2d5673caa9e6af3a7b82a43f19ee920992db07ad"


def load(name: str):
    return json.loads((SAMPLE / name).read_text(encoding="utf-8"))


def of_type(records, cls):
    return [r for r in records if isinstance(r, cls)]


def cassette_bodies(name: str):
    """(request uri, parsed JSON body) of each recorded interaction."""
    path = CASSETTES / name
    for it in yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]:
        body = it["response"].get("content") or (it["response"].get("body") or {}).get("string")
        yield it["request"]["uri"], json.loads(body)


def test_paper_with_its_citations_and_references():
    raw = load("Paper.json")
    records = list(records_from_semanticscholar(raw, "Paper.json"))
    works = of_type(records, Work)
    focal = works[0]
    assert focal.keys == [TURING, "doi:10.1093/mind/lix.236.433", "s2corpus:14636783"]
    assert focal.title == "Computing Machinery and Intelligence"
    assert focal.abstract.startswith("I propose to consider the question")
    assert focal.publication_date.isoformat() == "1950-10-01" and focal.year == 1950
    assert focal.cited_by_count == 10059
    assert (focal.category, focal.field) == ("CS", "Computer Science")
    assert [a.author_key for a in focal.authorships] == ["s2author:2262347"]
    assert focal.provenance == Provenance("semanticscholar", TURING[3:], "reported", None)

    citations = of_type(records, Citation)
    into_focal = [c for c in citations if c.cited_key == TURING]
    assert len(into_focal) == len(raw["citations"]) == 1000
    citing_works = {w.keys[0] for w in works[1:]}
    assert {c.citing_key for c in into_focal} <= citing_works
    assert len({c.citing_key for c in into_focal}) == 1000

    # 14 references: 8 that S2 resolved become edges (and works, all titled), 6 unresolved lines are set aside.
    out_of_focal = [c for c in citations if c.citing_key == TURING]
    unresolved = [q for q in of_type(records, Quarantined) if "#references[" in q.origin]
    assert len(raw["references"]) == raw["referenceCount"] == 14
    assert len(out_of_focal) == sum(1 for r in raw["references"] if r["paperId"]) == 8
    assert len(out_of_focal) + len(unresolved) == 14
    assert focal.references == [c.cited_key for c in out_of_focal]
    assert all("without any id" in q.reason for q in unresolved)
    assert len(works) == 1 + 1000 + 8


def test_citing_papers_are_full_works():
    raw = load("Paper.json")
    works = of_type(records_from_semanticscholar(raw, "Paper.json"), Work)[1:1001]
    assert sum(1 for w in works if w.abstract) == sum(1 for c in raw["citations"] if c["abstract"]) == 774
    assert all(w.publication_date is not None for w in works)
    arxiv = [w for w in works if w.arxiv_id]
    assert arxiv and all(f"arxiv:{w.arxiv_id}" in w.keys for w in arxiv)


def test_author_with_papers():
    raw = load("Author.json")
    records = list(records_from_semanticscholar(raw, "Author.json"))
    (author,) = of_type(records, Author)
    works = of_type(records, Work)
    assert author.key == "s2author:2262347" and author.name == "A. Turing"
    assert len(works) == len(author.work_keys) == raw["paperCount"] == 60
    assert author.work_keys == [w.keys[0] for w in works]
    assert all(w.cited_by_count is not None for w in works)
    figures = {f.metric: f for f in of_type(records, ReportedFigure)}
    assert figures["h_index"].value == 23
    assert figures["citations"].value == 12415 and figures["works_count"].value == 60
    assert all(f.provenance.as_of is None for f in figures.values())
    # The h-index the author's own papers give is the one S2 reports.
    counts = sorted((w.cited_by_count for w in works), reverse=True)
    assert sum(1 for rank, n in enumerate(counts, start=1) if n >= rank) == 23


def test_as_of_is_passed_through():
    records = list(records_from_semanticscholar(load("Author.json"), "Author.json", as_of="2024-06-01"))
    assert {r.provenance.as_of for r in records if isinstance(r, (Work, Author, ReportedFigure))} == {"2024-06-01"}


def test_writing_twice_gives_the_same_store(tmp_path):
    con = connect(tmp_path / "s.duckdb")

    def batch():
        return [r for name in ("Paper.json", "Author.json") for r in records_from_semanticscholar(load(name), name)]

    write_records(con, batch())
    first = table_counts(con)
    write_records(con, batch())
    assert table_counts(con) == first
    # Turing's paper is in both answers: one row.
    assert first["works"] == 1009 + 60 - 1
    assert first["quarantine"] == 6
    assert con.execute("SELECT count(*) FROM citations WHERE cited_key = ?", [TURING]).fetchone()[0] == 1000


def test_doi_merges_with_another_source(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    write_records(con, records_from_semanticscholar(load("Paper.json"), "Paper.json"))
    # The same paper as another source names it: the DOI as the recorded request URL spells it (lowercase,
    # test_get_paper.yaml), the source's own id, and no S2 key at all.
    other = Work(keys=["openalex:W2145482038", "doi:10.1093/mind/lix.236.433"], title="Computing machinery and intelligence",
                 provenance=Provenance("openalex", "W2145482038", "reported", "2025-10-01"))
    write_records(con, [other])
    work_id = con.execute("SELECT work_id FROM work_keys WHERE key = ?", [TURING]).fetchone()[0]
    keys = {k for (k,) in con.execute("SELECT key FROM work_keys WHERE work_id = ?", [work_id]).fetchall()}
    assert {"openalex:W2145482038", "doi:10.1093/mind/lix.236.433", TURING, "s2corpus:14636783"} <= keys
    assert con.execute("SELECT count(DISTINCT work_id) FROM work_keys WHERE key IN (?, ?)",
                       ["openalex:W2145482038", TURING]).fetchone()[0] == 1
    sources = {s for (s,) in con.execute("SELECT source FROM work_sources WHERE work_id = ?", [work_id]).fetchall()}
    assert sources == {"semanticscholar", "openalex"}


def test_single_edges_without_the_other_end():
    # Citation.json holds one edge; the cited paper is named only by the request, which is not recorded.
    records = list(records_from_semanticscholar(load("Citation.json"), "Citation.json"))
    assert semanticscholar_kind(load("Citation.json")) == "citation"
    (work,) = of_type(records, Work)
    (q,) = of_type(records, Quarantined)
    assert work.keys[0] == "s2:bdcbc589c8d1e4dd0c6572630f8511557406ad2f" and "of_paper" in q.reason
    assert not of_type(records, Citation)

    ref = load("Reference.json")
    records = list(records_from_semanticscholar(ref, "Reference.json", of_paper="ARXIV:1234.5678"))
    (edge,) = of_type(records, Citation)
    assert (edge.citing_key, edge.cited_key) == ("arxiv:1234.5678", "s2:331f0fb3b6176c6e463e0401025b04f6ace9ccd3")
    assert "arxiv:1402.0030" in of_type(records, Work)[0].keys


def test_citation_pages_with_the_paper_named_by_the_request():
    total = 0
    for uri, body in cassette_bodies("test_get_paper_citations.yaml"):
        assert semanticscholar_kind(body) == "list"
        paper = uri.split("/paper/")[1].split("/")[0]  # "CorpusID:14514057"
        records = list(records_from_semanticscholar(body, "citations", of_paper=paper))
        edges = of_type(records, Citation)
        unresolved = of_type(records, Quarantined)
        assert len(edges) + len(unresolved) == len(body["data"])
        assert {e.cited_key for e in edges} == {"s2corpus:14514057"}
        assert {e.citing_key for e in edges} == {w.keys[0] for w in of_type(records, Work)}
        total += len(edges)
    assert total > 1000


def test_every_recorded_data_answer_is_read():
    """Every 200 answer of the recorded Graph API calls is recognised, and nothing but edges is set aside."""
    seen = set()
    for path in sorted(CASSETTES.glob("test_*.yaml")):
        for uri, body in cassette_bodies(path.name):
            kind = semanticscholar_kind(body)
            if "/graph/" not in uri and "recommendations" not in uri:
                continue  # Datasets API
            if isinstance(body, dict) and ("error" in body or "message" in body):
                assert kind is None
                continue
            assert kind is not None, uri
            seen.add(kind)
            quarantined = of_type(records_from_semanticscholar(body, uri), Quarantined)
            assert all("edge" in q.reason for q in quarantined), uri
    assert {"paper", "author", "list", "batch", "recommendations", "snippets"} <= seen


def test_paper_with_null_values_is_a_partial_work():
    (work,) = records_from_semanticscholar(load("PaperWithNullValues.json"), "x")
    assert work.keys == [TURING] and work.title is None and work.authorships == []


def test_damaged_citing_paper_is_quarantined_alone():
    raw = load("Paper.json")
    raw["citations"][3]["title"] = 42
    records = list(records_from_semanticscholar(raw, "Paper.json"))
    bad = [q for q in of_type(records, Quarantined) if q.origin == "Paper.json#citations[3]"]
    assert len(bad) == 1 and "title" in bad[0].reason
    assert len([c for c in of_type(records, Citation) if c.cited_key == TURING]) == 999


def test_not_semanticscholar():
    assert not is_semanticscholar({"error": "Paper not found"})
    assert not is_semanticscholar(json.loads((SAMPLE.parent / "openalex/works/W2741809807.json").read_text()))
    assert not is_semanticscholar({"corpusid": 1, "title": "an S2AG line"})
    assert list(records_from_semanticscholar({"error": "x"}, "x")) == []


@pytest.mark.parametrize("name", ["Dataset.json", "DatasetDiff.json", "Release.json"])
def test_datasets_api_objects_are_recognised_but_not_used(name):
    raw = json.loads((CASSETTES / name).read_text(encoding="utf-8"))
    assert semanticscholar_kind(raw) == "dataset"
    assert list(records_from_semanticscholar(raw, name)) == []


def test_empty_page_gives_nothing():
    (uri, body), = cassette_bodies("test_empty_paginated_results.yaml")
    assert semanticscholar_kind(body) == "list"
    assert list(records_from_semanticscholar(body, uri)) == []


def test_bad_of_paper_is_refused_at_once():
    with pytest.raises(ValueError):
        list(records_from_semanticscholar(load("Reference.json"), "x", of_paper="no idea"))
