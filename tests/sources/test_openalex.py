"""OpenAlex reader on real recorded API responses (the bundled sample; see its SOURCE.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import scholarlens
from scholarlens.records import Author, Institution, Quarantined, ReportedFigure, Work
from scholarlens.sources.openalex import is_openalex, openalex_kind, records_from_openalex
from scholarlens.store import connect, table_counts, write_records

SAMPLE = Path(scholarlens.__file__).parent / "sample" / "openalex"
# The full recorded set (concepts, topics, funders, autocomplete) lives beside the project, not in the wheel.
SHARED = Path(__file__).resolve().parents[1] / "data" / "openalex_other"
AUTHOR_WORKS = SAMPLE / "works/queries/filter__3D__authorships.author.id__3A__A5017898742__26__per_page__3D__50.json"
WORKS_PAGE = SAMPLE / "works/queries/page__3D__1__26__per_page__3D__50.json"
EMPTY_PAGE = SAMPLE / "works/queries/filter__3D__cites__3A__W3209445140__26__page__3D__1__26__per_page__3D__50.json"


def load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def of_type(records, cls):
    return [r for r in records if isinstance(r, cls)]


def test_single_work_matches_its_json():
    raw = load(SAMPLE / "works/W2741809807.json")
    records = list(records_from_openalex(raw, "W2741809807.json"))
    (work,) = of_type(records, Work)

    assert work.keys == ["openalex:W2741809807", "doi:10.7717/peerj.4375"]
    assert work.title.startswith("The state of OA")
    assert work.abstract.startswith("Despite growing interest in Open Access (OA) to scholarly literature")
    assert len(work.abstract.split()) == sum(len(p) for p in raw["abstract_inverted_index"].values())
    assert work.publication_date.isoformat() == "2018-02-13" and work.year == 2018
    assert work.venue == "PeerJ"
    assert work.field == "Decision Sciences" and work.category == "STAT"
    assert work.cited_by_count == raw["cited_by_count"] == 1016
    assert work.counts_by_year == {r["year"]: r["cited_by_count"] for r in raw["counts_by_year"]}
    assert work.provenance.as_of == raw["updated_date"]

    assert len(work.authorships) == len(raw["authorships"]) == 9
    assert [a.position for a in work.authorships] == list(range(1, 10))
    first = work.authorships[0]
    assert (first.author_key, first.raw_name) == ("openalex:A5048491430", "Heather Piwowar")
    assert first.raw_affiliation == "Impactstory, Sanford, NC, USA"

    inst_ids = {i["id"].rsplit("/", 1)[1] for a in raw["authorships"] for i in a["institutions"]}
    institutions = of_type(records, Institution)
    assert {i.key for i in institutions} == {f"openalex:{i}" for i in inst_ids}
    assert len(institutions) == len(inst_ids)
    impactstory = next(i for i in institutions if i.key == "openalex:I4210166736")
    assert (impactstory.ror, impactstory.country) == ("05ppvf150", "US")

    assert len(work.references) == len(raw["referenced_works"]) == 45
    assert all(k.startswith("openalex:W") for k in work.references)


def test_arxiv_and_code_links_from_locations():
    works = {w.keys[0]: w for w in of_type(records_from_openalex(load(WORKS_PAGE), "page"), Work)}
    # ResNet: arXiv only as a location landing page; the DOI is the CVPR one.
    resnet = works["openalex:W2194775991"]
    assert "arxiv:1512.03385" in resnet.keys and "doi:10.1109/cvpr.2016.90" in resnet.keys

    veta = of_type(records_from_openalex(load(SAMPLE / "works/W3209445140.json"), "veta"), Work)[0]
    assert veta.code_urls == ["https://zenodo.org/record/2673030"]  # a GitHub release archived on Zenodo
    # An OSF preprint location is the paper itself, not code.
    assert all(not w.code_urls for k, w in works.items() if k != "openalex:W3209445140")


def test_all_works_of_an_author_carry_that_author():
    raw = load(AUTHOR_WORKS)
    works = of_type(records_from_openalex(raw, "author-works"), Work)
    assert len(works) == raw["meta"]["count"] == 9
    for w in works:
        assert "openalex:A5017898742" in [a.author_key for a in w.authorships], w.keys[0]


def test_author_summary_stats_become_reported_figures():
    raw = load(SAMPLE / "authors/A5017898742.json")
    records = list(records_from_openalex(raw, "A5017898742.json"))
    (author,) = of_type(records, Author)
    assert (author.key, author.name, author.orcid) == ("openalex:A5017898742", "Joseph Mearman", None)
    assert author.institution_keys == ["openalex:I161548249"]
    assert author.field == "Computer Science"

    figures = {f.metric: f for f in of_type(records, ReportedFigure)}
    assert figures["h_index"].value == 2 and figures["i10_index"].value == 2
    assert figures["2yr_mean_citedness"].value == 0
    assert figures["works_count"].value == 9 and figures["citations"].value == 41
    assert figures["citations_2021"].value == 7
    for f in figures.values():
        assert f.entity == "author" and f.entity_key == "openalex:A5017898742"
        assert f.provenance.as_of == "2025-09-21T07:40:09.928040" and f.provenance.kind == "reported"
    yearly = sum(v.value for k, v in figures.items() if k.startswith("citations_"))
    assert yearly == sum(r["cited_by_count"] for r in raw["counts_by_year"])


def test_institution_object():
    (inst,) = records_from_openalex(load(SAMPLE / "institutions/I161548249.json"), "I161548249.json")
    assert isinstance(inst, Institution)
    assert (inst.key, inst.name, inst.ror, inst.country) == ("openalex:I161548249", "Bangor University", "006jb1a24", "GB")


def test_author_list_page():
    raw = load(SAMPLE / "authors/queries/per_page__3D__20__26__search__3D__mearman.json")
    authors = of_type(records_from_openalex(raw, "authors"), Author)
    assert len(authors) == len(raw["results"]) == 8


@pytest.mark.parametrize("damage", ["title-is-a-number", "id-removed"])
def test_one_damaged_result_is_quarantined_and_the_rest_go_through(tmp_path, damage):
    raw = load(WORKS_PAGE)
    victim = raw["results"][7]
    if damage == "title-is-a-number":
        victim["title"] = victim["display_name"] = 12345
    else:
        del victim["id"]
    damaged = tmp_path / "page.json"
    damaged.write_text(json.dumps(raw), encoding="utf-8")

    records = list(records_from_openalex(load(damaged), str(damaged)))
    quarantined = of_type(records, Quarantined)
    assert len(quarantined) == 1
    assert quarantined[0].origin == f"{damaged}#results[7]"
    assert quarantined[0].raw and quarantined[0].reason
    works = of_type(records, Work)
    assert len(works) == len(raw["results"]) - 1 == 49


def test_work_without_title_is_kept_as_partial():
    # Real: OpenAlex serves Breiman's "Random Forests" with a null title.
    works = {w.keys[0]: w for w in of_type(records_from_openalex(load(WORKS_PAGE), "page"), Work)}
    forests = works["openalex:W2911964244"]
    assert forests.title is None and forests.authorships[0].raw_name == "Leo Breiman"


def test_empty_list_page_gives_nothing():
    raw = load(EMPTY_PAGE)
    assert is_openalex(raw) and openalex_kind(raw) == "list"
    assert list(records_from_openalex(raw, "empty")) == []


def test_kinds_of_the_sample():
    assert openalex_kind(load(SAMPLE / "works/W2741809807.json")) == "work"
    assert openalex_kind(load(SAMPLE / "authors/A5017898742.json")) == "author"
    assert openalex_kind(load(SAMPLE / "institutions/I114027177.json")) == "institution"
    assert openalex_kind(load(WORKS_PAGE)) == "list"
    s2_paper = load(SAMPLE.parent / "semanticscholar/Paper.json")
    assert not is_openalex(s2_paper) and openalex_kind(s2_paper) is None
    assert not is_openalex({"results": []}) and not is_openalex([1, 2])


@pytest.mark.parametrize("path, kind", [
    ("concepts/C41008148.json", "concept"),
    ("topics/T10232.json", "topic"),
    ("funders/F4320321597.json", "funder"),
    ("sources/S4306400194.json", "source"),
    ("autocomplete/works/q=machine+learning.json", "autocomplete"),
])
def test_other_entities_are_recognised_but_not_used(path, kind):
    raw = load(SHARED / path)
    assert is_openalex(raw) and openalex_kind(raw) == kind
    assert list(records_from_openalex(raw, path)) == []


def test_writing_twice_changes_nothing(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    sources = [AUTHOR_WORKS, SAMPLE / "authors/A5017898742.json", SAMPLE / "works/W2741809807.json"]

    def batch():
        return [r for p in sources for r in records_from_openalex(load(p), str(p))]

    write_records(con, batch())
    first = table_counts(con)
    write_records(con, batch())
    assert table_counts(con) == first
    # 10 records, two of which are one paper (its preprint and its proceedings version: see test_matching.py)
    assert first["works"] == 9 and first["quarantine"] == 0
    h = con.execute(
        "SELECT value, as_of FROM reported WHERE entity='author' AND entity_id='openalex:A5017898742' AND metric='h_index'"
    ).fetchone()
    assert h == (2.0, "2025-09-21T07:40:09.928040")
