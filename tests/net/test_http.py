"""The HTTP layer over a real local socket: retries, Retry-After, errors, pacing, concurrency and the cache."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from local_server import Answer, LocalServer

from scholarlens.net.http import HttpClient, HttpError, NotFound, redact, retry_after_seconds


def scripted(*answers: Answer):
    """Answers given in order, then the last one forever."""
    queue = list(answers)
    lock = threading.Lock()

    def route(seen):
        with lock:
            return queue.pop(0) if len(queue) > 1 else queue[0]

    return route


class Sleeps(list):
    """Records the sleeps asked for instead of waiting them out."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_429_then_success_waits_what_retry_after_says():
    sleeps = Sleeps()
    with LocalServer(scripted(Answer(429, "slow down", {"Retry-After": "7"}), Answer(200, {"ok": 1}))) as server:
        client = HttpClient(server.url, sleep=sleeps)
        assert client.get_json("/works") == {"ok": 1}
    assert len(server.seen) == 2
    assert sleeps == [7.0]
    assert client.stats.retries == 1 and client.stats.by_status == {429: 1, 200: 1}


def test_500s_back_off_exponentially_with_jitter_then_succeed():
    sleeps = Sleeps()
    answers = [Answer(500, "boom")] * 4 + [Answer(200, {"ok": 2})]
    with LocalServer(scripted(*answers)) as server:
        client = HttpClient(server.url, sleep=sleeps, backoff_base=1.0, backoff_cap=100.0)
        assert client.get_json("/x") == {"ok": 2}
    assert len(sleeps) == 4
    # full jitter: each wait lies in [0, base * 2**attempt]
    for attempt, waited in enumerate(sleeps):
        assert 0 <= waited <= 2**attempt
    assert len(set(sleeps)) == 4  # jittered, not a fixed schedule


def test_gives_up_after_max_retries_with_a_clear_error():
    with LocalServer(scripted(Answer(503, "down for maintenance"))) as server:
        client = HttpClient(server.url, sleep=Sleeps(), max_retries=2)
        with pytest.raises(HttpError) as failure:
            client.get("/x")
    assert failure.value.status == 503
    assert "3 attempts" in str(failure.value) and "down for maintenance" in str(failure.value)
    assert len(server.seen) == 3


def test_client_errors_are_not_retried_and_404_is_its_own_kind():
    with LocalServer(scripted(Answer(404, {"error": "no such work"}))) as server:
        client = HttpClient(server.url, sleep=Sleeps())
        with pytest.raises(NotFound):
            client.get("/works/W1")
    assert len(server.seen) == 1
    with LocalServer(scripted(Answer(400, {"error": "bad filter"}))) as server:
        with pytest.raises(HttpError) as failure:
            HttpClient(server.url, sleep=Sleeps()).get("/works")
    assert failure.value.status == 400 and "bad filter" in str(failure.value)
    assert len(server.seen) == 1


def test_refused_connection_is_retried_then_reported():
    sleeps = Sleeps()
    with LocalServer(scripted(Answer())) as server:
        url = server.url
    client = HttpClient(url, sleep=sleeps, max_retries=1, timeout=2)
    with pytest.raises(HttpError) as failure:
        client.get("/x")
    assert failure.value.status is None and "ConnectError" in str(failure.value)
    assert len(sleeps) == 1


def test_cache_makes_a_rerun_free_and_keeps_secrets_out(tmp_path):
    with LocalServer(scripted(Answer(200, {"n": 1}))) as server:
        first = HttpClient(server.url, cache_dir=tmp_path, params={"api_key": "s3cret"})
        assert first.get_json("/authors", {"search": "Lu"}) == {"n": 1}
        rerun = HttpClient(server.url, cache_dir=tmp_path, params={"api_key": "other"})
        assert rerun.get_json("/authors", {"search": "Lu"}) == {"n": 1}
        assert rerun.get_json("/authors", {"search": "Li"}) == {"n": 1}
    assert len(server.seen) == 2  # the repeated query came from disk
    assert server.seen[0].query["api_key"] == "s3cret"
    assert rerun.stats.cache_hits == 1
    stored = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert "s3cret" not in stored and "REDACTED" in stored


def test_errors_are_not_cached(tmp_path):
    with LocalServer(scripted(Answer(404, "gone"))) as server:
        for _ in range(2):
            with pytest.raises(NotFound):
                HttpClient(server.url, cache_dir=tmp_path).get("/w")
    assert len(server.seen) == 2


def test_a_200_that_is_not_json_is_not_replayed_from_the_cache(tmp_path):
    """A service that answers 200 with a broken body (a proxy's HTML page, a cut-off transfer): the caller gets
    an error, and the rerun asks again instead of replaying the broken answer from disk forever."""
    with LocalServer(scripted(Answer(200, "<html>gateway</html>"), Answer(200, {"n": 1}))) as server:
        with pytest.raises(HttpError, match="not JSON"):
            HttpClient(server.url, cache_dir=tmp_path).get_json("/w")
        rerun = HttpClient(server.url, cache_dir=tmp_path)
        assert rerun.get_json("/w") == {"n": 1}
        assert HttpClient(server.url, cache_dir=tmp_path).get_json("/w") == {"n": 1}  # the good answer is kept
    assert len(server.seen) == 2


def test_concurrency_limit_holds_across_threads():
    with LocalServer(scripted(Answer(200, {"ok": 1}, delay=0.15))) as server:
        client = HttpClient(server.url, max_concurrency=2)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: client.get_json(f"/w/{i}"), range(8)))
    assert server.max_in_flight == 2


def test_pacing_spaces_request_starts():
    with LocalServer(scripted(Answer(200, {"ok": 1}))) as server:
        client = HttpClient(server.url, requests_per_second=20, max_concurrency=4)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: client.get_json(f"/w/{i}"), range(6)))
    starts = sorted(s.at for s in server.seen)
    # The server sees arrivals, not the client's paced sends: a request delayed by the scheduler shortens the gap
    # to the next one by as much (a CI run under load measured a 39 ms gap). Over the five gaps the delays cannot
    # add up: 6 requests at 20/s span 0.25 s, less at most one delay at each end. Unpaced, 4 workers send 4
    # requests within a few milliseconds.
    assert starts[-1] - starts[0] >= 0.2
    assert starts[3] - starts[0] >= 0.1  # the first four (one per worker) are spread, not sent at once


def test_redact_and_retry_after_forms():
    assert redact("https://api.openalex.org/works?api_key=abc&search=x") == (
        "https://api.openalex.org/works?api_key=REDACTED&search=x"
    )
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None
