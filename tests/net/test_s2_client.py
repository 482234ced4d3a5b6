"""The Semantic Scholar client replaying real recorded HTTP (vcrpy cassettes in tests/data/s2_cassettes, via
pytest-recording). ``record_mode: none``: a request that is not in the cassette fails the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from local_server import Answer, LocalServer

from scholarlens.config import Config, ServiceConfig
from scholarlens.net.http import NotFound
from scholarlens.net.semanticscholar import S2Client

CASSETTES = Path(__file__).resolve().parents[1] / "data" / "s2_cassettes"


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture(scope="module")
def vcr_config() -> dict:
    # The cassettes are recordings, never to be extended: an unrecorded request is an error.
    return {"record_mode": "none", "match_on": ["method", "scheme", "host", "port", "path", "query"]}


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def s2(**options) -> S2Client:
    config = Config()  # the defaults: the real base URL, 1 request per second, one at a time
    config.semanticscholar.api_key = "test-key"
    return S2Client(config, **{"sleep": Sleeps(), **options})


def recorded_body(cassette: str, index: int = 0) -> str:
    response = yaml.safe_load((CASSETTES / cassette).read_text())["interactions"][index]["response"]
    return response.get("content") or response["body"]["string"]


@pytest.mark.vcr("test_get_author.yaml")
def test_author():
    assert s2().author("2262347", fields="name") == {"authorId": "2262347", "name": "A. Turing"}


@pytest.mark.vcr("test_get_author_papers.yaml")
def test_author_papers_follow_next_and_keep_to_one_request_a_second():
    sleeps = Sleeps()
    client = s2(sleep=sleeps)
    pages = list(client.author_papers_pages("1723755", fields="title", limit=100))
    assert [p.data["offset"] for p in pages] == list(range(0, 900, 100))
    assert "next" not in pages[-1].data
    papers = [paper for p in pages for paper in p.data["data"]]
    assert len(papers) == 875 and len({p["paperId"] for p in papers}) == 875
    # the pacing asked for a wait before every request but the first, one second apart (S2's limit)
    assert len(sleeps) == 8 and sleeps[0] == pytest.approx(1.0, abs=0.3)
    assert client.http.min_interval == 1.0 and client.http.stats.requests == 9


@pytest.mark.vcr("test_get_paper.yaml")
def test_paper_by_doi():
    paper = s2().paper("10.1093/mind/lix.236.433", fields="title")
    assert paper["title"] == "Computing Machinery and Intelligence"


@pytest.mark.vcr("test_get_paper_citations.yaml")
def test_all_citations_of_a_paper():
    edges = list(s2().paper_citations("CorpusID:14514057", fields="title"))
    assert len(edges) == 1881 and all("citingPaper" in e for e in edges)


@pytest.mark.vcr("test_get_paper_references.yaml")
def test_all_references_of_a_paper():
    edges = list(s2().paper_references("10.2139/ssrn.2250500", fields="title", limit=50))
    assert len(edges) == 67 and all("citedPaper" in e for e in edges)


@pytest.mark.vcr("test_search_author.yaml")
def test_author_search():
    found = list(s2().search_authors("turing", fields="name"))
    assert len(found) == 59 and found[0] == {"authorId": "2262347", "name": "A. Turing"}


@pytest.mark.vcr("test_not_found.yaml")
def test_unknown_paper_and_author_are_not_found():
    client = s2()
    with pytest.raises(NotFound) as failure:
        client.paper("0", fields="t,i,t,l,e")
    assert "Paper with id 0 not found" in str(failure.value)
    with pytest.raises(NotFound):
        client.author("0", fields="n,a,m,e")


def test_key_header_and_429_then_success_over_a_socket():
    # the 200 is the recorded answer of test_get_author.yaml; the 429 before it is scripted here
    answers = [Answer(429, {"message": "Too Many Requests"}, {"Retry-After": "2"}),
               Answer(200, json.loads(recorded_body("test_get_author.yaml")))]
    sleeps = Sleeps()
    with LocalServer(lambda seen: answers.pop(0)) as server:
        client = S2Client(ServiceConfig(base_url=server.url + "/graph/v1", api_key="test-key"), sleep=sleeps)
        assert client.author("2262347", fields="name")["name"] == "A. Turing"
    assert [s.path for s in server.seen] == ["/graph/v1/author/2262347"] * 2
    assert all(s.headers["x-api-key"] == "test-key" for s in server.seen)
    assert sleeps == [2.0]
