"""The web app over real HTTP: a `scholarlens serve` process, httpx for the API, headless Chromium for pages."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import quote

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root in a container, and with a closed network: no sandbox, no background calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    # Output to a file, not a pipe: a full pipe would block the server.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "scholarlens", *args, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    proc.log = log
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`scholarlens demo`, as a newcomer runs it: builds the bundled sample into a fresh store and serves it."""
    store = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    proc, base = _start(["--store", str(store), "demo", "--no-open"])
    yield from _wait_and_stop(proc, base)


def _wait_and_stop(proc: subprocess.Popen, base: str):
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        proc.log.seek(0)
        raise RuntimeError("server did not start: " + proc.log.read().decode(errors="replace"))
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_serve_answers_over_an_existing_store(sample_store):
    proc, base = _start(["--store", str(sample_store), "serve"])
    stopper = _wait_and_stop(proc, base)
    next(stopper)
    try:
        stats = httpx.get(base + "/api/stats").json()
        assert stats["works"] > 1000 and stats["quarantine"] > 0
    finally:
        next(stopper, None)


def test_api_profile_and_schema(server):
    r = httpx.get(server + "/api/profile", params={"name": "A. Turing", "per_page": 5})
    assert r.status_code == 200
    prof = r.json()
    # S2 lists 60 papers (h 23); "On Computable Numbers" sits under a second S2 id of his, which the
    # disambiguation joins: 61 works and h 24, with S2's own figures flagged beside ours.
    assert prof["name"] == "A. Turing" and prof["h_index"] == 24
    assert prof["works_total"] == 61 and len(prof["works"]) == 5
    assert {r["metric"]: r["value"] for r in prof["reported"] if r["agrees"] is False} == {
        "h_index": 23, "works_count": 60, "citations": 12415}
    assert sorted(prof["source_ids"]) == ["s2author:2079681794", "s2author:2262347"]
    schema = httpx.get(server + "/openapi.json").json()
    assert "/api/authors/{author_id}" in schema["paths"] and "/api/profile" in schema["paths"]


def test_api_bad_parameters_are_4xx_with_a_message(server):
    r = httpx.get(server + "/api/authors/" + quote("s2author:2262347", safe=""), params={"page": 0})
    assert r.status_code == 422 and "greater than or equal to 1" in r.text
    r = httpx.get(server + "/api/authors/openalex:A0000000")
    assert r.status_code == 404 and "no author" in r.json()["detail"]
    r = httpx.get(server + "/api/authors", params={"q": ""})
    assert r.status_code == 422
    r = httpx.get(server + "/api/profile", params={"name": "x" * 500})
    assert r.status_code == 422


def test_profile_page_over_http(server):
    r = httpx.get(server + "/authors/" + quote("name:lewei lu", safe=""))
    assert r.status_code == 200
    html = r.text
    cards = html.split('id="cards"', 1)[1]
    assert "Lewei Lu" in html and "InternImage" not in cards  # page 1 holds the 20 newest; InternImage is from 2022
    assert "page 1 of 3" in html
    # the page reports 79 papers, the store holds 50 of them: both shown, the difference said
    assert "works count: profile-page reports 79 (as of 2026); computed from the store: 50" in html
    r = httpx.get(server + "/authors/" + quote("name:lewei lu", safe=""), params={"page": 3})
    assert "InternImage" in r.text.split('id="cards"', 1)[1]
    r = httpx.get(server + "/authors/" + quote("name:lewei lu", safe=""), params={"page": 9})
    assert r.status_code == 404


def test_headless_chromium_renders_the_profile(server, artifacts):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1700})
        page.goto(server + "/")
        page.fill("input[name=q]", "lewei")
        page.click("button[type=submit]")
        page.click("#results a")
        page.wait_for_selector("#profile-header")
        assert page.inner_text("#author-name") == "Lewei Lu"
        header = page.inner_text("#profile-header")
        prof = httpx.get(server + "/api/profile", params={"name": "Lewei Lu"}).json()
        ours = prof["figures"]["ai_score"]
        assert ours["kind"] == "computed" and "mean AI Score of the 50" in ours["basis"]
        for figure in ("h-index67", "22,636", f"AI Score{ours['value']:.0f}", "papers", "citations", "Novelty"):
            assert figure in header
        # the page's own AI Score (69) stays visible in the provenance table, as its own measure
        page.click("#figure-details summary")
        row = page.locator("#reported tr", has_text="ai_score").inner_text()
        assert "69" in row and "not compared" in row
        # our Novelty is computed from the sample; the page's own 56% is shown beside it, as its own measure
        row = page.locator("#reported tr", has_text="novelty").inner_text()
        assert "56" in row and "profile-page" in row and "not compared" in row
        assert page.locator("#cards article.paper").count() == 20
        first = page.locator("#cards article.paper").first
        # the card shows our score and, marked, the page's own 58.7 beside it
        card = prof["works"][0]
        assert card["ai_score_kind"] == "computed" and card["ai_score_reported"] == 58.7
        assert f"{card['ai_score']:.1f}" in first.inner_text() and "58.7*" in first.inner_text()
        assert "Code" in first.inner_text()
        tip = page.locator(".figure").first.get_attribute("title")
        assert "reported" in tip and "profile-page" in tip
        # one dot per scored paper in the novelty chart, the author's median drawn as a line
        scored = httpx.get(server + "/api/profile", params={"name": "Lewei Lu"}).json()["novelty_by_date"]
        assert len(scored) >= 40 and page.locator("#novelty-chart circle").count() == len(scored)
        assert page.locator("#novelty-chart line.median").count() == 1
        page.screenshot(path=str(artifacts / "profile-lewei-lu.png"), full_page=False)

        page.goto(server + "/authors/" + quote("s2author:2262347", safe=""))
        assert "h-index24" in page.inner_text("#profile-header").replace("\n", "")  # see test_api_profile_and_schema
        years = httpx.get(server + "/api/authors/" + quote("s2author:2262347", safe="")).json()["citations_by_year"]
        assert page.locator("#citations-chart rect").count() == len(years) >= 3  # S2 citers of 2022-2024 at least
        assert page.locator("#cards article.paper").count() == 20
        page.screenshot(path=str(artifacts / "profile-turing.png"))
        browser.close()
    assert (artifacts / "profile-lewei-lu.png").stat().st_size > 10_000


def test_a_profile_whose_name_block_was_not_scored_says_so(tmp_path, monkeypatch):
    """A build that leaves a name block unscored (over persons.MAX_BLOCK_MENTIONS, lowered here to 2) says so
    on the home page and on the profile of each person of that block, and only there: Wei Wang's two OpenAlex
    records (three authorships) stay two persons, each profile saying why; Ann Lee's block was scored."""
    from scholarlens.analytics import persons
    from scholarlens.analytics.build import analyse
    from scholarlens.records import Authorship, Provenance, Work
    from scholarlens.store import connect, write_records

    monkeypatch.setattr(persons, "MAX_BLOCK_MENTIONS", 2)
    store = tmp_path / "s.duckdb"
    con = connect(store)
    works = [("a", [("openalex:A1", "Wei Wang")]), ("b", [("openalex:A1", "Wei Wang"), ("openalex:A3", "Ann Lee")]),
             ("c", [("openalex:A2", "Wei Wang")])]
    write_records(con, [Work(keys=[f"doi:10.1/{key}"], title=key, provenance=Provenance("test", None), year=2020,
                             authorships=[Authorship(a, i, n) for i, (a, n) in enumerate(authors, 1)])
                        for key, authors in works])
    analyse(con, as_of_year=2024)
    con.close()
    proc, base = _start(["--store", str(store), "serve"])
    stopper = _wait_and_stop(proc, base)
    next(stopper)
    try:
        blocks = {a: httpx.get(base + "/api/authors/" + quote(a, safe="")).json()["unscored_name_block"]
                  for a in ("openalex:A1", "openalex:A2", "openalex:A3")}
        page = httpx.get(base + "/authors/" + quote("openalex:A2", safe="")).text
        scored_page = httpx.get(base + "/authors/" + quote("openalex:A3", safe="")).text
        home = httpx.get(base + "/").text
    finally:
        next(stopper, None)
    assert blocks["openalex:A1"] == blocks["openalex:A2"] == {"key": "wang|w", "mentions": 3, "max_block": 2}
    assert blocks["openalex:A3"] is None
    assert 'id="unscored-name-block"' in page and "holds 3 authorships, more than the 2" in page
    assert 'id="unscored-name-block"' not in scored_page
    assert "1 name block (3 mentions) of more than 2 mentions was not scored" in home
