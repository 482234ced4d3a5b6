"""The web app's answers to awkward requests and awkward data (in-process client; test_web.py covers real HTTP)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from scholarlens.analytics.build import analyse
from scholarlens.records import Authorship, Provenance, Work
from scholarlens.serve.cli import app
from scholarlens.serve.web import create_app
from scholarlens.store import connect, write_records
from scholarlens.store.queries import NotAnalysed


@pytest.fixture(scope="module")
def client(sample_store):
    return TestClient(create_app(sample_store))


def test_a_work_is_found_by_any_of_its_keys_in_any_spelling(client):
    turing = client.get("/api/works/" + quote("doi:10.1093/MIND/LIX.236.433", safe=""))
    assert turing.status_code == 200, turing.text
    assert turing.json()["title"] == "Computing Machinery and Intelligence"
    assert "doi:10.1093/mind/lix.236.433" in turing.json()["keys"]
    page = client.get("/works/" + quote("DOI:10.1093/mind/lix.236.433", safe=""))
    assert page.status_code == 200 and "Computing Machinery and Intelligence" in page.text


def test_pages_past_the_end_are_404_in_html_and_json(client):
    # Turing: 60 papers under his Semantic Scholar author id, plus "On Computable Numbers" under a second id
    # S2 gave him, which the disambiguation joins: 61 works, so 3 pages of 30.
    author = quote("s2author:2262347", safe="")
    assert client.get(f"/api/authors/{author}", params={"page": 4, "per_page": 30}).status_code == 404
    assert len(client.get(f"/api/authors/{author}", params={"page": 3, "per_page": 30}).json()["works"]) == 1
    assert client.get(f"/authors/{author}", params={"page": 4, "per_page": 30}).status_code == 404


def test_search_takes_the_query_literally(client):
    assert client.get("/api/authors", params={"q": "%"}).json() == []
    assert client.get("/api/authors", params={"q": "tur_ng"}).json() == []
    assert [h["name"] for h in client.get("/api/authors", params={"q": "TURING"}).json()][:1] == ["A. Turing"]


def test_text_from_a_source_is_escaped(tmp_path):
    store = tmp_path / "hostile.duckdb"
    con = connect(store)
    write_records(con, [Work(keys=["doi:10.1/x"], title="<script>alert('t')</script>", abstract="<img src=x onerror=alert(1)>",
                             year=2020, provenance=Provenance("test", None),
                             authorships=[Authorship("name:eve", 1, "<b>Eve</b>")])])
    analyse(con)
    con.close()
    client = TestClient(create_app(store))
    html = client.get("/authors/" + quote("name:eve", safe="")).text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>Eve</b>" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html


def test_a_store_never_analysed_is_a_clear_error(tmp_path):
    store = tmp_path / "raw.duckdb"
    con = connect(store)
    write_records(con, [Work(keys=["doi:10.1/x"], title="x", provenance=Provenance("test", None))])
    con.close()
    with pytest.raises(NotAnalysed, match="scholarlens --store PATH build"):
        create_app(store)
    result = CliRunner().invoke(app, ["--store", str(store), "search", "x"])
    assert result.exit_code != 0 and "not been analysed" in result.output and "Traceback" not in result.output


def test_nearest_earlier_works_from_the_index_beside_the_store(client):
    work = "page:" + "internimage-exploring-large-scale-vision-foundation-models-with-deformable-convolutions"
    r = client.get(f"/api/works/{quote(work, safe='')}/nearest-earlier", params={"k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["before"] == "2022-11-10" and len(body["nearest"]) == 3
    assert all(n["date"] < "2022-11-10" for n in body["nearest"])
    sims = [n["similarity"] for n in body["nearest"]]
    assert sims == sorted(sims, reverse=True)
    earlier = client.get(f"/api/works/{quote(work, safe='')}/nearest-earlier", params={"k": 3, "before": "2015-01-01"}).json()
    assert all(n["date"] < "2015-01-01" for n in earlier["nearest"]) and earlier["nearest"]
    assert client.get(f"/api/works/{quote(work, safe='')}/nearest-earlier", params={"k": 0}).status_code == 422
    assert client.get(f"/api/works/{quote(work, safe='')}/nearest-earlier", params={"before": "soon"}).status_code == 422
