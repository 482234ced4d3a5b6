"""Bibliometric indices over the store, checked against the sources' own figures and hand cases."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from scholarlens.analytics.bibliometrics import compute_bibliometrics, g_index, h_index
from scholarlens.analytics.persons import compute_persons
from scholarlens.pipeline import ingest
from scholarlens.records import Authorship, Provenance, Work
from scholarlens.store import connect, write_records


def bibliometrics(con, **options):
    """Persons first: every author-level figure is a person's (analytics/persons.py)."""
    compute_persons(con)
    compute_bibliometrics(con, **options)


def _author_store(tmp_path, citations: list[int], years: list[int] | None = None, name="s.duckdb"):
    con = connect(tmp_path / name)
    years = years or [2020] * len(citations)
    write_records(con, [
        Work(keys=[f"doi:10.1/{i}"], title=f"w{i}", provenance=Provenance("test", None), cited_by_count=c, year=y,
             category="CV", authorships=[Authorship("openalex:A1", 1, "Ann")])
        for i, (c, y) in enumerate(zip(citations, years))
    ])
    bibliometrics(con, as_of_year=2024)
    return con


def _metrics(con, author="openalex:A1"):
    row = con.execute("SELECT h_index, g_index, i10_index, citations, works_count, m_quotient FROM author_metrics WHERE author_id = ?", [author]).fetchone()
    return dict(zip(["h", "g", "i10", "citations", "works", "m"], row))


def test_turing_h_index_from_his_60_papers_is_the_apis_23(tmp_path, sample_dir):
    con = connect(tmp_path / "s.duckdb")
    ingest(con, [sample_dir / "semanticscholar" / "Author.json"])
    bibliometrics(con)
    m = _metrics(con, "s2author:2262347")
    assert m["works"] == 60
    assert m["h"] == 23
    (reported,) = con.execute("SELECT value FROM reported WHERE entity='author' AND entity_id='s2author:2262347' AND metric='h_index'").fetchone()
    assert reported == 23


def test_openalex_author_from_its_9_records_has_8_works_and_h_2_like_summary_stats(tmp_path, sample_dir):
    con = connect(tmp_path / "s.duckdb")
    works = sample_dir / "openalex" / "works" / "queries" / "filter__3D__authorships.author.id__3A__A5017898742__26__per_page__3D__50.json"
    ingest(con, [works, sample_dir / "openalex" / "authors" / "A5017898742.json"])
    bibliometrics(con)
    m = _metrics(con, "openalex:A5017898742")
    # OpenAlex lists 9 records, two of them one paper ("3D visualisations should not be displayed alone": the
    # proceedings DOI and the arXiv preprint), which the store holds as one work.
    assert m["works"] == 8
    (records,) = con.execute("SELECT count(*) FROM work_keys WHERE key LIKE 'openalex:W%'").fetchone()
    assert records == 9
    assert m["h"] == 2
    (reported,) = con.execute("SELECT value FROM reported WHERE entity='author' AND entity_id='openalex:A5017898742' AND metric='h_index'").fetchone()
    assert reported == m["h"]


def test_h_and_g_on_the_textbook_case(tmp_path):
    con = _author_store(tmp_path, [10, 1, 1, 1, 1], years=[2015, 2018, 2019, 2020, 2021])
    m = _metrics(con)
    assert (m["h"], m["g"], m["i10"], m["citations"], m["works"]) == (1, 3, 1, 14, 5)
    assert m["m"] == round(1 / (2024 - 2015 + 1), 3)


def test_unknown_citations_give_unknown_indices_not_zero(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    write_records(con, [Work(keys=["page:x"], title="x", provenance=Provenance("profile-page", None),
                             authorships=[Authorship("openalex:A1", 1, "Ann")])])
    bibliometrics(con)
    m = _metrics(con)
    assert m["works"] == 1 and m["h"] is None and m["citations"] is None


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=30))
def test_sql_indices_equal_the_reference_definitions(tmp_path_factory, citations):
    con = _author_store(tmp_path_factory.mktemp("h"), citations)
    m = _metrics(con)
    assert m["h"] == h_index(citations)
    assert m["g"] == g_index(citations)
    assert m["i10"] == sum(c >= 10 for c in citations)


def test_citation_percentile_within_category_and_year_matches_pandas_rank(tmp_path):
    cites = [0, 5, 5, 9, 100, 3]
    con = _author_store(tmp_path, cites)
    got = [r[0] for r in con.execute("SELECT citation_percentile FROM work_citations ORDER BY work_id").fetchall()]
    ids = sorted(f"doi:10.1/{i}" for i in range(len(cites)))
    expected = pd.Series(cites, index=[f"doi:10.1/{i}" for i in range(len(cites))]).rank(pct=True) * 100
    assert got == pytest_approx([expected[i] for i in ids])


def test_no_percentile_in_a_group_too_small_to_rank(tmp_path):
    con = _author_store(tmp_path, [0, 7, 3])
    assert [r[0] for r in con.execute("SELECT citation_percentile FROM work_citations").fetchall()] == [None] * 3


def pytest_approx(values):
    import pytest

    return pytest.approx(values, abs=1e-9)


def test_citations_counted_from_edges_inside_the_store(tmp_path, sample_dir):
    """The Turing paper: S2 reports 10,059 citations; the store holds 1,000 of the citing papers."""
    con = connect(tmp_path / "s.duckdb")
    ingest(con, [sample_dir / "semanticscholar" / "Paper.json"])
    bibliometrics(con)
    row = con.execute(
        "SELECT cited_by_reported, cited_by_counted, citations FROM work_citations wc JOIN works w USING (work_id) "
        "WHERE w.title = 'Computing Machinery and Intelligence'"
    ).fetchone()
    assert row[0] == 10059
    assert row[1] == 1000
    assert row[2] == 10059


def test_a_work_citing_itself_counts_neither_in_its_citations_nor_in_its_authors_years(tmp_path):
    """Both counts read the same edges with the same rule: A (2019) is cited by B (2020) and C (2021) and cites
    itself; no source gives a count, so both figures come from the edges alone."""
    con = connect(tmp_path / "s.duckdb")
    ann = [Authorship("openalex:A1", 1, "Ann")]
    write_records(con, [
        Work(keys=["doi:10.1/a"], title="a", provenance=Provenance("test", None), year=2019, authorships=ann,
             references=["doi:10.1/a"]),
        Work(keys=["doi:10.1/b"], title="b", provenance=Provenance("test", None), year=2020,
             authorships=[Authorship("openalex:B1", 1, "Bo")], references=["doi:10.1/a"]),
        Work(keys=["doi:10.1/c"], title="c", provenance=Provenance("test", None), year=2021,
             authorships=[Authorship("openalex:B1", 1, "Bo")], references=["doi:10.1/a", "doi:10.1/c"]),
    ])
    bibliometrics(con, as_of_year=2024)
    counted = dict(con.execute("SELECT w.title, wc.cited_by_counted FROM work_citations wc JOIN works w USING (work_id)"
                               ).fetchall())
    assert counted == {"a": 2, "b": 0, "c": 0}
    person_of_ann = con.execute("SELECT person_id FROM person_mentions WHERE author_id = 'openalex:A1'").fetchall()[0][0]
    by_year = dict(con.execute("SELECT year, citations FROM author_citations_by_year WHERE author_id = ?",
                               [person_of_ann]).fetchall())
    assert by_year == {2020: 1, 2021: 1}
    assert sum(by_year.values()) == counted["a"]
    assert con.execute("SELECT count(*) FROM author_citations_by_year WHERE citations > 0 AND author_id <> ?",
                       [person_of_ann]).fetchall()[0][0] == 0  # c citing itself gives Bo nothing
