"""Fetching from the live sources into the store, on real recorded answers replayed over a local socket
(OpenAlex, arXiv) or from vcrpy cassettes (Semantic Scholar): saved files, quarantine, reruns, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from local_server import Answer, LocalServer
from replay import ARXIV_DATA, AUTHOR, DATA, OpenAlexReplay, Switch, arxiv_replay, serving
from typer.testing import CliRunner

from scholarlens.config import Config, ServiceConfig
from scholarlens.fetch import (
    AmbiguousAuthor,
    fetch_arxiv,
    fetch_dir,
    fetch_openalex_author,
    fetch_openalex_works,
    fetch_s2_author,
    request_path,
)
from scholarlens.net.arxiv import ArxivClient
from scholarlens.net.openalex import OpenAlexClient
from scholarlens.net.semanticscholar import S2Client
from scholarlens.serve.cli import app
from scholarlens.store import connect

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


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


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(ROOT / "tests" / "data" / "s2_cassettes")


@pytest.fixture(scope="module")
def vcr_config() -> dict:
    return {"record_mode": "none"}


def openalex(server, **service) -> OpenAlexClient:
    return OpenAlexClient(ServiceConfig(base_url=server.url, **service), sleep=Sleeps())


def rows(con, table: str) -> list[tuple]:
    """Every row of a table, sorted, without the columns that say when (not what)."""
    cols = [c for c, t in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table]).fetchall() if not t.startswith("TIMESTAMP") and c not in ("path", "origin", "first_seen")]
    return sorted(con.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}"').fetchall(), key=repr)


def tables(con) -> dict[str, list[tuple]]:
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]
    out = {n: rows(con, n) for n in names}
    out["meta"] = [r for r in out.get("meta", []) if not str(r[0]).endswith("_at")]  # analysed_at: when, not what
    return out


# --- OpenAlex --------------------------------------------------------------------------------------------------

def test_an_author_and_every_page_of_their_works_are_saved_named_by_request_and_ingested(serve, tmp_path):
    server = serve(OpenAlexReplay())
    store = tmp_path / "s.duckdb"
    events = []
    summary = fetch_openalex_author(store, AUTHOR, openalex(server), per_page=4, progress=lambda *e: events.append(e))
    out = fetch_dir(store) / "openalex"
    listing = "works/filter=authorships.author.id_A5017898742&per-page=4"
    assert [p.relative_to(out).as_posix() for p in summary.files] == [
        "authors/A5017898742.json", f"{listing}/page-0001.json", f"{listing}/page-0002.json", f"{listing}/page-0003.json"]
    # saved as sent
    assert summary.files[0].read_bytes() == (DATA / "authors" / "A5017898742.json").read_bytes()
    assert (summary.author_id, summary.author_name, summary.pages, summary.received, summary.listed) == (
        AUTHOR, "Joseph Mearman", 3, 9, 9)
    assert summary.complete and summary.problems == [] and summary.requests == 4
    assert events[-1] == ("works", 9, 9)
    con = connect(store)
    assert con.execute("SELECT count(*) FROM work_sources WHERE source = 'openalex'").fetchone()[0] == 9
    assert con.execute("SELECT name FROM authors WHERE author_id = 'openalex:A5017898742'").fetchone()[0] == "Joseph Mearman"
    assert con.execute("SELECT value FROM reported WHERE entity = 'author' AND metric = 'h_index'").fetchone()[0] == 2
    before = tables(con)
    con.close()

    # a rerun overwrites the same files, adds no row and skips what it already read
    files_before = sorted(p for p in out.rglob("*") if p.is_file())
    again = fetch_openalex_author(store, f"https://openalex.org/{AUTHOR}", openalex(server), per_page=4)
    assert again.files == summary.files and sorted(p for p in out.rglob("*") if p.is_file()) == files_before
    assert again.ingest.files_already_done == 4 and again.ingest.files == 0
    con = connect(store)
    assert tables(con) == before


def test_a_shorter_listing_on_a_rerun_drops_the_pages_it_no_longer_has(serve, tmp_path):
    server = serve(OpenAlexReplay())
    store = tmp_path / "s.duckdb"
    out = fetch_dir(store) / "openalex"
    stale = out / request_path("/works", {"filter": f"authorships.author.id:{AUTHOR}", "per-page": 4}, 7)
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    fetch_openalex_author(store, AUTHOR, openalex(server), per_page=4)
    assert sorted(p.name for p in stale.parent.iterdir()) == ["page-0001.json", "page-0002.json", "page-0003.json"]


def test_an_ambiguous_name_carries_its_candidates_and_pick_chooses(serve, tmp_path):
    server = serve(OpenAlexReplay())
    store = tmp_path / "s.duckdb"
    with pytest.raises(AmbiguousAuthor) as failure:
        fetch_openalex_author(store, "mearman", openalex(server))
    assert len(failure.value.candidates) == 8
    assert [c.display_name for c in failure.value.candidates][:2] == ["Andrew Mearman", "Joseph Mearman"]
    assert not store.exists() and not fetch_dir(store).exists()  # nothing written before the choice
    by_position = fetch_openalex_author(store, "mearman", openalex(server), pick=2)
    by_id = fetch_openalex_author(store, "mearman", openalex(server), pick=AUTHOR)
    assert by_position.author_id == by_id.author_id == AUTHOR


def test_a_work_that_is_404_goes_to_quarantine_and_the_rest_goes_on(serve, tmp_path):
    server = serve(OpenAlexReplay(missing=("/works/W4000000001",)))
    store = tmp_path / "s.duckdb"
    wanted = ["W2741809807", "W4000000001", "doi:10.7717/peerj.4375"]
    summary = fetch_openalex_works(store, wanted, openalex(server))
    problem = (f"{server.url}/works/W4000000001 (openalex, work 2 of 3)", "HTTP 404: OpenAlex has no work W4000000001")
    assert summary.problems == [problem] and summary.received == 2
    # the work and the same work by its DOI land in one file, one row
    assert {p.name for p in summary.files} == {"W2741809807.json"}
    con = connect(store)
    assert con.execute("SELECT origin, reason FROM quarantine").fetchall() == [problem]
    assert con.execute("SELECT count(*) FROM work_sources").fetchone()[0] == 1
    con.close()
    fetch_openalex_works(store, wanted, openalex(server))  # a rerun records the 404 once, not twice
    con = connect(store)
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1


def test_a_page_that_fails_after_retries_is_quarantined_and_what_came_before_stays(serve, tmp_path):
    failing = {"/works": [Answer(200, OpenAlexReplay.works_page(4, "*"))] + [Answer(503, "over capacity")] * 2}
    server = serve(OpenAlexReplay(script=failing))
    store = tmp_path / "s.duckdb"
    summary = fetch_openalex_author(store, AUTHOR, openalex(server, max_retries=1), per_page=4)
    assert not summary.complete and summary.pages == 1
    ((origin, reason),) = summary.problems
    assert origin.endswith(f"(openalex, works of {AUTHOR}, page 2)") and "cursor=replay-page-2" in origin
    assert reason.startswith("page 2 could not be fetched (503)")
    con = connect(store)
    assert con.execute("SELECT count(*) FROM work_sources").fetchone()[0] == 4  # page 1 is in, and stays
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1
    con.close()
    # the service is back: the rerun finishes the listing
    serve(OpenAlexReplay())
    assert fetch_openalex_author(store, AUTHOR, openalex(server), per_page=4).complete
    con = connect(store)
    assert con.execute("SELECT count(*) FROM work_sources").fetchone()[0] == 9


# --- Semantic Scholar (recorded cassettes) ---------------------------------------------------------------------

@pytest.mark.vcr("test_get_author_papers.yaml")
def test_s2_author_papers_every_page(tmp_path):
    store = tmp_path / "s.duckdb"
    summary = fetch_s2_author(store, "1723755", S2Client(Config(), sleep=Sleeps()), author_fields=None, paper_fields="title")
    assert (summary.pages, summary.received, summary.complete) == (9, 875, True)
    assert summary.files[0].relative_to(fetch_dir(store)).as_posix() == (
        "semanticscholar/author/1723755/papers/fields=title&limit=100/page-0001.json")
    con = connect(store)
    assert con.execute("SELECT count(*) FROM work_sources WHERE source = 'semanticscholar'").fetchone()[0] == 875


@pytest.mark.vcr("test_get_author.yaml")
def test_s2_author_object(tmp_path):
    store = tmp_path / "s.duckdb"
    summary = fetch_s2_author(store, "2262347", S2Client(Config(), sleep=Sleeps()), author_fields="name", paper_fields=None)
    assert summary.author_name == "A. Turing"
    con = connect(store)
    assert con.execute("SELECT name FROM authors WHERE author_id = 's2author:2262347'").fetchone()[0] == "A. Turing"


# --- arXiv -----------------------------------------------------------------------------------------------------

def arxiv(server) -> ArxivClient:
    config = Config()
    config.arxiv.base_url = server.url + "/api"
    return ArxivClient(config, sleep=Sleeps())


def test_arxiv_ids_it_does_not_have_are_quarantined_by_id(serve, tmp_path):
    server = serve(arxiv_replay)
    store = tmp_path / "s.duckdb"
    ids = ["2201.13455", "2201.13452", "2201.13453", "2201.13454"]
    summary = fetch_arxiv(store, ids=ids, client=arxiv(server))
    assert summary.received == 1
    assert [reason for _, reason in summary.problems] == [
        "arXiv has no paper 2201.13455", "arXiv has no paper 2201.13453", "arXiv has no paper 2201.13454"]
    assert [origin.rsplit(" (", 1)[1] for origin, _ in summary.problems] == [
        "arxiv, id 1 of 4)", "arxiv, id 3 of 4)", "arxiv, id 4 of 4)"]
    con = connect(store)
    assert con.execute("SELECT arxiv_id FROM works").fetchall() == [("2201.13452",)]
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 3


def test_arxiv_search_is_saved_as_atom_and_read(serve, tmp_path):
    server = serve(arxiv_replay)
    store = tmp_path / "s.duckdb"
    summary = fetch_arxiv(store, query="all:electron AND all:proton", client=arxiv(server), max_results=10, page_size=10)
    assert (summary.pages, summary.received, summary.listed) == (1, 10, 10)
    assert summary.files[0].read_bytes() == (ARXIV_DATA / "search_electron_and_proton.xml").read_bytes()
    assert summary.files[0].suffix == ".xml" and summary.ingest.formats == {"arxiv": 1}
    con = connect(store)
    assert con.execute("SELECT count(*) FROM work_sources WHERE source = 'arxiv'").fetchone()[0] == 10
    assert con.execute("SELECT source_id FROM work_sources WHERE work_id = 'arxiv:1706.01836'").fetchone()[0] == "1706.01836v2"


# --- the command line ------------------------------------------------------------------------------------------

@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    """The CLI reads no config file of the machine's user, and keeps its cache in the test's folder."""
    empty = tmp_path / "config.toml"
    empty.write_text("")
    monkeypatch.setenv("SCHOLARLENS_CONFIG", str(empty))
    for name in ("OPENALEX_API_KEY", "SCHOLARLENS_OPENALEX_API_KEY", "SCHOLARLENS_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_cli_ingest_openalex_then_the_profile_shows_the_author(serve, cli_env, tmp_path):
    server = serve(OpenAlexReplay())
    cli_env.setenv("SCHOLARLENS_OPENALEX_BASE_URL", server.url)
    store = tmp_path / "s.duckdb"
    result = runner.invoke(app, ["--store", str(store), "ingest", "openalex", "--id", AUTHOR, "--per-page", "5"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "Joseph Mearman (A5017898742): 3 answer(s) saved, 9 record(s) received of 9 listed" in said
    assert (fetch_dir(store) / "http-cache").is_dir()
    # the same command again is answered from the cache; --refresh asks OpenAlex again
    rerun = runner.invoke(app, ["--store", str(store), "ingest", "openalex", "--id", AUTHOR, "--per-page", "5"])
    assert "3 request(s)" not in rerun.output and "0 request(s), 3 from the cache" in " ".join(rerun.output.split())
    fresh = runner.invoke(app, ["--store", str(store), "ingest", "openalex", "--id", AUTHOR, "--per-page", "5", "--refresh"])
    assert "3 request(s), 0 from the cache" in " ".join(fresh.output.split())
    result = runner.invoke(app, ["--store", str(store), "profile", "Joseph Mearman", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("Joseph Mearman") and "9 Papers" in result.output


def test_cli_ambiguous_name_prints_the_candidates_and_exits_nonzero(serve, cli_env, tmp_path):
    server = serve(OpenAlexReplay())
    cli_env.setenv("SCHOLARLENS_OPENALEX_BASE_URL", server.url)
    result = runner.invoke(app, ["--store", str(tmp_path / "s.duckdb"), "ingest", "openalex", "--author", "mearman"])
    assert result.exit_code == 2
    for text in ("Joseph Mearman", AUTHOR, "Bangor", "Andrew Mearman", "--id"):
        assert text in result.output
    assert "Traceback" not in result.output


def test_cli_first_argument_is_a_source_or_a_path(cli_env, tmp_path):
    store = str(tmp_path / "s.duckdb")
    # a folder that happens to be called "openalex" is still a folder
    folder = tmp_path / "openalex"
    folder.mkdir()
    (folder / "W2741809807.json").write_bytes((DATA / "works" / "W2741809807.json").read_bytes())
    cli_env.chdir(tmp_path)
    result = runner.invoke(app, ["--store", store, "ingest", "openalex"])
    assert result.exit_code == 0, result.output
    assert "files read" in result.output
    # source options without a source, or the wrong ones, are usage errors
    assert runner.invoke(app, ["--store", store, "ingest", str(folder), "--author", "x"]).exit_code == 2
    assert runner.invoke(app, ["--store", store, "ingest", "s2", "--query", "x"]).exit_code == 2
    assert runner.invoke(app, ["--store", store, "ingest", "arxiv"]).exit_code == 2


def test_cli_snapshot_branch(cli_env, tmp_path):
    import gzip
    import importlib.util

    store = str(tmp_path / "s.duckdb")
    if importlib.util.find_spec("scholarlens.snapshot") is None:
        result = runner.invoke(app, ["--store", store, "ingest", "snapshot", str(tmp_path)])
        assert result.exit_code == 1 and "not available" in result.output
        return
    # one part in the snapshot layout, holding one real recorded work as its one line
    part = tmp_path / "snap" / "works" / "updated_date=2025-10-01" / "part_000.gz"
    part.parent.mkdir(parents=True)
    work = json.loads((DATA / "works" / "W2741809807.json").read_text(encoding="utf-8"))
    part.write_bytes(gzip.compress((json.dumps(work) + "\n").encode()))
    result = runner.invoke(app, ["--store", store, "ingest", "snapshot", str(tmp_path / "snap")])
    assert result.exit_code == 0, result.output
    con = connect(store)
    assert con.execute("SELECT count(*) FROM work_keys WHERE key = 'openalex:W2741809807'").fetchone()[0] == 1
    assert runner.invoke(app, ["--store", store, "ingest", "snapshot"]).exit_code == 2


# --- kill -9 ---------------------------------------------------------------------------------------------------

def test_kill_9_at_several_points_then_a_rerun_equals_an_uninterrupted_run(serve, cli_env, tmp_path):
    """A real `scholarlens ingest openalex` subprocess, killed with SIGKILL while a request is in flight (after
    the author, after page 1, after page 2) and once more after the last answer (while it ingests or analyses),
    then run to the end: its tables equal those of a run that was never interrupted."""
    server = serve(OpenAlexReplay(delay=0.15))  # every answer held open a moment, to kill the client mid-request
    cli_env.setenv("SCHOLARLENS_OPENALEX_BASE_URL", server.url)
    args = ["ingest", "openalex", "--id", AUTHOR, "--per-page", "3"]  # 4 requests: the author, 3 pages

    reference = tmp_path / "reference.duckdb"
    result = runner.invoke(app, ["--store", str(reference), *args])
    assert result.exit_code == 0, result.output

    store = tmp_path / "killed.duckdb"
    command = [sys.executable, "-m", "scholarlens", "--store", str(store), *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    kills = 0
    for new_requests in (2, 2, 2, None):  # None: after every answer was sent
        before = len(server.seen)
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            sent = len(server.seen) - before
            if new_requests is not None and sent >= new_requests:
                break
            if new_requests is None and sent >= 1:
                time.sleep(0.15 + 0.25)  # the last answer is out; now it ingests and analyses
                break
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3  # killed mid-request at least at the three points that do not depend on timing

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    ref, got = connect(reference), connect(store)
    expected, actual = tables(ref), tables(got)
    assert actual == expected
    assert len(actual["work_sources"]) == 9 and len(actual["ingested_files"]) == 4
    assert not list((fetch_dir(store) / "openalex").rglob(".*.tmp*"))  # no half-written file left behind
    for table in ("works", "work_keys", "authorships", "citations", "reported"):
        assert len(actual[table]) == len(set(actual[table])), f"duplicate rows in {table}"
