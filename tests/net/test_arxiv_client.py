"""The arXiv client and the Atom reader, on real recorded export-API answers (tests/data/arxiv_responses)
served over a local socket."""

from __future__ import annotations

import datetime as dt

import pytest
from local_server import LocalServer
from replay import ARXIV_DATA, arxiv_replay

from scholarlens import pipeline
from scholarlens.config import Config
from scholarlens.net.arxiv import ArxivClient
from scholarlens.net.http import HttpError
from scholarlens.records import Institution, Quarantined, Work
from scholarlens.sources.arxiv import feed_info, looks_like_arxiv_atom, records_from_atom
from scholarlens.sources.reader import FileReport, read_file
from scholarlens.store import connect

DATA = ARXIV_DATA


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def arxiv_client(server, sleeps=None) -> ArxivClient:
    config = Config()  # arXiv's defaults: one request every three seconds, one at a time
    config.arxiv.base_url = server.url + "/api"
    return ArxivClient(config, sleep=sleeps if sleeps is not None else Sleeps())


@pytest.fixture(scope="module")
def server():
    with LocalServer(arxiv_replay) as s:
        yield s


def test_by_ids_asks_for_every_id_and_keeps_three_seconds_between_requests(server):
    server.seen.clear()
    sleeps = Sleeps()
    client = arxiv_client(server, sleeps)
    assert client.http.min_interval == pytest.approx(3.0)
    pages = list(client.by_ids_pages(["2206.06921"])) + list(
        client.by_ids_pages(["2201.13455", "2201.13452", "2201.13453", "2201.13454"]))
    (batch1, one), (batch2, four) = pages
    assert one.data.entry_ids == ["2206.06921"] and one.data.total == 1
    assert four.data.entry_ids == ["", "2201.13452", "", ""]  # arXiv's empty entries for ids it does not have
    # max_results is the batch size, never arXiv's default of 10
    assert [s.query["max_results"] for s in server.seen] == ["1", "4"]
    assert sleeps[0] == pytest.approx(3.0, abs=0.3)


def test_search_pages_stop_at_the_limit(server):
    server.seen.clear()
    pages = list(arxiv_client(server).search_pages("all:electron AND all:proton", page_size=10, limit=10))
    assert len(pages) == 1 and pages[0].data.total == 7370 and len(pages[0].data.entry_ids) == 10
    (seen,) = server.seen
    assert (seen.query["search_query"], seen.query["start"], seen.query["max_results"]) == (
        "all:electron AND all:proton", "0", "10")


def test_an_answer_that_is_not_atom_is_an_http_error(server):
    with pytest.raises(HttpError, match="not an Atom feed"):
        list(arxiv_client(server).by_ids_pages(["maintenance"]))


def test_reader_turns_an_entry_into_a_work_with_version_category_doi_and_journal_ref():
    data = (DATA / "id_list_2206.06921.xml").read_bytes()
    assert looks_like_arxiv_atom(data)
    (work,) = list(records_from_atom(data, "x.xml"))
    assert work.keys == ["arxiv:2206.06921", "doi:10.1512/iumj.2024.73.9928"]
    assert work.title == "Attainable forms of Assouad spectra"
    assert work.abstract.startswith("Let $d\\in\\mathbb{N}$ and let") and "\n" not in work.abstract
    assert work.publication_date == dt.date(2022, 6, 14) and work.year == 2022  # the first version's date
    assert work.provenance.source == "arxiv" and work.provenance.source_id == "2206.06921v3"
    assert work.provenance.as_of == "2025-08-21"
    assert work.category == "MATH" and work.arxiv_id == "2206.06921"
    assert [a.raw_name for a in work.authorships] == ["Alex Rutar"]
    assert work.code_urls == []  # a journal-ref and a comment without links


def test_reader_on_a_real_search_page_old_and_new_ids_affiliations_and_categories():
    records = list(records_from_atom((DATA / "search_electron_and_proton.xml").read_bytes(), "s.xml"))
    works = [r for r in records if isinstance(r, Work)]
    assert len(works) == 10 and not [r for r in records if isinstance(r, Quarantined)]
    by_id = {w.arxiv_id: w for w in works}
    assert by_id["astro-ph/9904306"].category == "ASTRO"
    assert by_id["1706.01836"].category == "PHYS" and by_id["1706.01836"].doi == "10.1063/1.4996038"
    assert by_id["1706.01836"].provenance.source_id == "1706.01836v2"
    prelc = by_id["hep-ph/9411242"]
    assert prelc.title == ("Proton-ring and Electron-linac Collider (PRELC) as a (first) "
                           "TeV-rangeelectron-proton or photon-proton collider")
    (authorship,) = prelc.authorships
    assert authorship.raw_name == "Raimo Vuopionperä" and authorship.raw_affiliation == "SEFT, Univ. Helsinki"
    assert authorship.institution_keys == ["name:seft, univ. helsinki"]
    institutions = [r for r in records if isinstance(r, Institution)]
    assert institutions == [Institution("name:seft, univ. helsinki", "SEFT, Univ. Helsinki")]


def test_a_code_link_in_the_comment_becomes_a_code_url():
    # HAND-MADE, not recorded: no real recorded entry we have carries a link in its comment. The shape is
    # that of the real entries above; the comment text is invented.
    feed = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>http://arxiv.org/api/handmade</id>
  <updated>2025-01-01T00:00:00-05:00</updated>
  <entry>
    <id>http://arxiv.org/abs/2401.00001v2</id>
    <published>2024-01-01T00:00:00Z</published>
    <title>A hand-made entry</title>
    <summary>No link in the abstract.</summary>
    <author><name>A. Author</name></author>
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">12 pages. Code is available at https://github.com/example/repo.</arxiv:comment>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.CV" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
</feed>"""
    (work,) = list(records_from_atom(feed, "hand.xml"))
    assert work.code_urls == ["https://github.com/example/repo"] and work.category == "CV"
    assert work.abstract == "No link in the abstract."


def test_reader_detects_atom_from_content_and_skips_arxivs_empty_entries(tmp_path):
    # a real answer saved under a name that says nothing
    path = tmp_path / "answer.bin"
    path.write_bytes((DATA / "id_list_missing_ids.xml").read_bytes())
    report = FileReport(path)
    records = list(read_file(path, report))
    assert report.format == "arxiv" and report.objects == 4 and report.skipped == 3
    assert [r.arxiv_id for r in records if isinstance(r, Work)] == ["2201.13452"]
    assert feed_info((DATA / "id_list_unknown_id.xml").read_bytes()).entry_ids == []


def test_malformed_xml_and_api_errors_are_quarantined(tmp_path):
    (tmp_path / "cut.xml").write_bytes((DATA / "id_list_2206.06921.xml").read_bytes()[:1500])
    con = connect(tmp_path / "s.duckdb")
    summary = pipeline.ingest(con, [tmp_path / "cut.xml"])
    assert summary.quarantined == 1
    (reason,) = con.execute("SELECT reason FROM quarantine").fetchone()
    assert reason.startswith("malformed XML")
    # arXiv reports a bad id as an entry in an error namespace (the shape its manual documents; hand-made here)
    error_feed = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>http://arxiv.org/api/x</id>
  <entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345</id><title>Error</title>
  <summary>incorrect id format for 1234.12345</summary></entry></feed>"""
    (problem,) = list(records_from_atom(error_feed, "e.xml"))
    assert isinstance(problem, Quarantined) and problem.reason == "arXiv API error: incorrect id format for 1234.12345"
