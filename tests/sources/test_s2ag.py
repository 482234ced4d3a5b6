"""S2AG bulk-dataset reader on the official sample files (bundled; see sample/s2ag/SOURCE.md)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import scholarlens
from scholarlens.records import Author, Citation, Quarantined, ReportedFigure, Work
from scholarlens.sources.s2ag import records_from_s2ag, s2ag_kind
from scholarlens.store import connect, write_records

SAMPLE = Path(scholarlens.__file__).parent / "sample" / "s2ag"
EXTRA = Path(__file__).resolve().parents[1] / "data" / "s2ag_extra"  # the embeddings and s2orc samples
PRODUCES = {"papers": Work, "authors": Author, "abstracts": Work}


def lines(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def of_type(records, cls):
    return [r for r in records if isinstance(r, cls)]


def sample_files():
    files = sorted(SAMPLE.glob("*/*.jsonl.gz"))
    return files + sorted(EXTRA.glob("*/*.jsonl.gz"))


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.parent.name)
def test_every_line_of_every_sample_file_is_read(path):
    dataset = path.parent.name
    rows = lines(path)
    assert rows
    for n, row in enumerate(rows, start=1):
        assert s2ag_kind(row) == dataset, n
        records = list(records_from_s2ag(row, f"{path}:{n}"))
        if dataset in PRODUCES:
            assert of_type(records, PRODUCES[dataset]), n
        if dataset not in ("citations",):
            assert not of_type(records, Quarantined), (n, records)
        if dataset in ("tldrs", "paper-ids", "publication-venues", "embeddings", "s2orc"):
            assert records == []


def test_citations_with_a_null_end_are_quarantined():
    path = SAMPLE / "citations/citations-sample.jsonl.gz"
    rows = lines(path)
    records = [r for n, row in enumerate(rows, start=1) for r in records_from_s2ag(row, f"{path}:{n}")]
    open_ended = sum(1 for row in rows if row["citingcorpusid"] is None or row["citedcorpusid"] is None)
    assert open_ended == 17  # as SOURCE.md says: 83 of 100 have both ends
    quarantined = of_type(records, Quarantined)
    assert len(quarantined) == open_ended
    assert {q.reason for q in quarantined} == {"citation edge without citing/cited id"}
    assert len({q.origin for q in quarantined}) == open_ended  # one per line, each findable
    edges = of_type(records, Citation)
    assert len(edges) == len(rows) - open_ended
    first = next(row for row in rows if row["citingcorpusid"] and row["citedcorpusid"])
    assert f"s2corpus:{first['citingcorpusid']}" == edges[0].citing_key
    assert f"s2corpus:{first['citedcorpusid']}" == edges[0].cited_key


def test_paper_line():
    rows = lines(SAMPLE / "papers/papers-sample.jsonl.gz")
    (work,) = records_from_s2ag(rows[0], "papers:1")
    assert work.keys == [
        "s2corpus:223588394",
        "s2:061be346f7c4bcfe3d0123d0783e965ebccd5540",  # from its url: joins with Graph API answers
        "doi:10.3760/cma.j.issn.2095-1485.2006.01.019",
    ]
    assert work.title == "Attaching Importance to Mental Quality Education in Clinical Practice"
    assert [a.author_key for a in work.authorships] == ["s2author:101039255", "s2author:2096896523"]
    assert work.publication_date.isoformat() == "2006-02-28" and work.year == 2006
    # s2fieldsofstudy: Education by S2's model, Psychology from the publisher; the publisher's wins.
    assert (work.field, work.category) == ("Psychology", "PSY")
    assert work.provenance.as_of == "2022-01-27T03:01:26.115Z" and work.provenance.source == "s2ag"


def test_author_line_reports_figures_as_of_updated():
    rows = lines(SAMPLE / "authors/authors-sample.jsonl.gz")
    records = list(records_from_s2ag(rows[0], "authors:1"))
    (author,) = of_type(records, Author)
    assert (author.key, author.name) == ("s2author:119387837", "Christina Cottiero")
    figures = {f.metric: f.value for f in of_type(records, ReportedFigure)}
    assert figures == {"h_index": 2, "works_count": 3, "citations": 41}
    assert {f.provenance.as_of for f in of_type(records, ReportedFigure)} == {"2022-09-16T12:51:29.671Z"}


def test_damaged_line_is_quarantined():
    row = lines(SAMPLE / "papers/papers-sample.jsonl.gz")[1]
    row["title"] = 7
    (q,) = records_from_s2ag(row, "papers:2")
    assert isinstance(q, Quarantined) and q.origin == "papers:2" and "title" in q.reason


@pytest.mark.parametrize("abstract_first", [True, False])
def test_abstract_merges_into_its_paper(tmp_path, abstract_first):
    # The sample files are separate random samples that share no ids, so give a real abstract line the
    # corpus id of a real paper line, as a full dump would pair them.
    paper = lines(SAMPLE / "papers/papers-sample.jsonl.gz")[1]
    abstract = lines(SAMPLE / "abstracts/abstracts-sample.jsonl.gz")[0]
    abstract["corpusid"] = paper["corpusid"]

    (partial,) = records_from_s2ag(abstract, "abstracts:1")
    assert partial.title is None and partial.keys == [f"s2corpus:{paper['corpusid']}"]
    full = list(records_from_s2ag(paper, "papers:2"))
    batches = [[partial], full] if abstract_first else [full, [partial]]

    con = connect(tmp_path / "s.duckdb")
    for batch in batches:
        write_records(con, batch)
    rows = con.execute("SELECT title, abstract FROM works").fetchall()
    assert rows == [(paper["title"], abstract["abstract"])]


def test_not_s2ag():
    assert s2ag_kind({"paperId": "x", "title": "a Graph API paper"}) is None
    assert s2ag_kind([1]) is None
    assert list(records_from_s2ag({"foo": 1}, "x")) == []
