"""The OpenAlex client against a local server replaying real recorded OpenAlex answers (tests/data/openalex_cassettes)."""

from __future__ import annotations

import pytest
from local_server import Answer, LocalServer
from replay import AUTHOR, OpenAlexReplay, Switch, recorded_works, serving

from scholarlens.config import Config, ServiceConfig
from scholarlens.net.http import HttpError, NotFound
from scholarlens.net.openalex import OpenAlexClient


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def shared():
    switch = Switch()
    with LocalServer(switch) as server:
        yield server, switch


@pytest.fixture
def serve(shared):
    return lambda route: serving(*shared, route)


def client_for(server, tmp_path=None, **overrides) -> OpenAlexClient:
    service = ServiceConfig(base_url=server.url, api_key="secret-key", mailto="me@lab.org", requests_per_second=0)
    for k, v in overrides.pop("service", {}).items():
        setattr(service, k, v)
    return OpenAlexClient(service, cache_dir=tmp_path / "cache" if tmp_path else None, **{"sleep": Sleeps(), **overrides})


def test_search_gives_candidates_to_choose_from(serve):
    server = serve(OpenAlexReplay())
    candidates = client_for(server).search_authors("mearman")
    assert len(candidates) == 8
    joseph = next(c for c in candidates if c.id == AUTHOR)
    assert (joseph.display_name, joseph.orcid, joseph.institution, joseph.works_count, joseph.cited_by_count) == (
        "Joseph Mearman", None, "Bangor University", 9, 41)
    andrew = candidates[0]
    assert (andrew.display_name, andrew.orcid, andrew.institution) == (
        "Andrew Mearman", "0000-0003-0601-8060", "University of Leeds")
    # the key and the contact address travel as query parameters
    (seen,) = server.seen
    assert seen.path == "/authors" and seen.query["search"] == "mearman"
    assert seen.query["api_key"] == "secret-key" and seen.query["mailto"] == "me@lab.org"


def test_author_by_id_url_and_orcid(serve):
    server = serve(OpenAlexReplay())
    client = client_for(server)
    assert client.author(AUTHOR)["display_name"] == "Joseph Mearman"
    assert client.author(f"https://openalex.org/{AUTHOR}")["works_count"] == 9
    priem = client.author("https://orcid.org/0000-0001-6187-6610")
    assert priem["display_name"] == "Jason Priem"
    with pytest.raises(ValueError):
        client.author("not an id")
    assert [s.path for s in server.seen] == [f"/authors/{AUTHOR}", f"/authors/{AUTHOR}", "/authors/orcid:0000-0001-6187-6610"]


def test_all_works_of_an_author_by_cursor_pages(serve):
    server = serve(OpenAlexReplay())
    pages = list(client_for(server).works_of_author_pages(AUTHOR, per_page=4))
    assert [len(p.data["results"]) for p in pages] == [4, 4, 1]
    ids = [w["id"] for p in pages for w in p.data["results"]]
    assert ids == [w["id"] for w in recorded_works()]  # all 9, once each, in order
    assert [s.query["cursor"] for s in server.seen] == ["*", "replay-page-2", "replay-page-3"]
    for s in server.seen:
        assert s.query["filter"] == f"authorships.author.id:{AUTHOR}" and s.query["per-page"] == "4"
    # the raw answer is kept as sent, for the fetcher to save
    assert pages[0].response.text.startswith("{") and pages[0].number == 1


def test_work_by_id_and_by_doi_and_institution(serve):
    server = serve(OpenAlexReplay())
    client = client_for(server)
    assert client.work("W2741809807")["doi"] == "https://doi.org/10.7717/peerj.4375"
    assert client.work("https://doi.org/10.7717/PeerJ.4375")["id"] == "https://openalex.org/W2741809807"
    assert client.institution("I161548249")["display_name"] == "Bangor University"
    with pytest.raises(NotFound):
        client.work("W1")
    assert [s.path for s in server.seen] == [
        "/works/W2741809807", "/works/doi:10.7717/peerj.4375", "/institutions/I161548249", "/works/W1"]


def test_429_then_success_waits_what_retry_after_says(serve):
    script = {f"/authors/{AUTHOR}": [Answer(429, {"error": "Rate limit exceeded"}, {"Retry-After": "3"})]}
    sleeps = Sleeps()
    server = serve(OpenAlexReplay(script=script))
    client = client_for(server, sleep=sleeps)
    assert client.author(AUTHOR)["display_name"] == "Joseph Mearman"
    assert len(server.seen) == 2 and sleeps == [3.0]
    assert client.http.stats.by_status == {429: 1, 200: 1}


def test_500_then_success_in_the_middle_of_a_listing(serve):
    # the second works page fails twice with a 500, then the listing goes on where it was
    script = {"/works": [Answer(200, OpenAlexReplay.works_page(5, "*")), Answer(500, "boom"), Answer(500, "boom")]}
    sleeps = Sleeps()
    server = serve(OpenAlexReplay(script=script))
    works = list(client_for(server, sleep=sleeps).works_of_author(AUTHOR, per_page=5))
    assert [w["id"] for w in works] == [w["id"] for w in recorded_works()]
    assert [s.query["cursor"] for s in server.seen] == ["*", "replay-page-2", "replay-page-2", "replay-page-2"]
    assert len(sleeps) == 2 and all(s >= 0 for s in sleeps)  # jittered backoff, no Retry-After


def test_a_page_that_keeps_failing_is_an_error_with_the_url_but_not_the_key(serve):
    server = serve(OpenAlexReplay(script={"/works": [Answer(503, "down")] * 10}))
    client = client_for(server, service={"max_retries": 2})
    with pytest.raises(HttpError) as failure:
        list(client.works_of_author(AUTHOR))
    assert failure.value.status == 503 and "secret-key" not in str(failure.value)
    assert len(server.seen) == 3


def test_rate_limit_comes_from_the_config_and_a_rerun_is_free_from_the_cache(serve, tmp_path):
    config = Config()
    server = serve(OpenAlexReplay())
    config.openalex.base_url = server.url
    config.openalex.requests_per_second = 4
    config.openalex.api_key = "secret-key"
    config.cache_dir = tmp_path / "cache"
    sleeps = Sleeps()
    client = OpenAlexClient(config, sleep=sleeps)
    assert client.http.min_interval == 0.25
    first = [w["id"] for w in client.works_of_author(AUTHOR, per_page=3)]
    assert len(server.seen) == 3 and len(first) == 9
    assert len(sleeps) >= 2  # paced: the client asked to wait between requests
    again = OpenAlexClient(config, sleep=Sleeps())
    assert [w["id"] for w in again.works_of_author(AUTHOR, per_page=3)] == first
    assert len(server.seen) == 3 and again.http.stats.cache_hits == 3
    assert all(s.query["api_key"] == "secret-key" for s in server.seen)
    # the key is nowhere in the cache (the layer keys and labels entries with the redacted URL)
    assert not any("secret-key" in p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
