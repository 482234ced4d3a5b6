"""The lenient AMiner reader: reads what it can, counts what it cannot, never fails on a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from scholarlens.identity.aminer import read_aminer, read_aminer_files

DATA = Path(__file__).resolve().parents[2] / "data" / "aminer_name_disambiguation"

GOOD = """<?xml version="1.0" encoding="utf-8"?>
<person>
\t<FullName>Alok Gupta</FullName>
\t<publication>
\t\t<title>A predictive empirical model</title>
\t\t<year>2007</year>
\t\t<authors>Wolfgang Ketter,John Collins,Alok Gupta</authors>
\t\t<jconf>ICEC</jconf>
\t\t<id>6156</id>
\t\t<label>2</label>
\t\t<organization>University of Minnesota</organization>
\t</publication>
\t<publication>
\t\t<title>Motion estimation</title>
\t\t<year>1997</year>
\t\t<authors>Dinkar N. Bhat,A. Gupta</authors>
\t\t<jconf>CVPR</jconf>
\t\t<id>127535</id>
\t\t<label>3</label>
\t\t<organization>null</organization>
\t</publication>
</person>
"""

# a raw '&' and an HTML entity: not well-formed XML; the second publication has no closing tag
BROKEN = """<?xml version="1.0" encoding="utf-8"?>
<person>
\t<FullName>Alberto Gonz&aacute;lez</FullName>
\t<publication>
\t\t<title>Imaging & Visualization</title>
\t\t<year>2001</year>
\t\t<authors>Jos&eacute; Ruiz</authors>
\t\t<jconf>ICIP</jconf>
\t\t<label>1</label>
\t\t<keyword>image;video;</keyword>
\t\t<abstract>We study images &amp; video.</abstract>
\t</publication>
\t<publication>
\t\t<title>Cut off in the middle
\t<publication>
\t\t<title>Third</title>
\t\t<authors>Ana Perez,Alberto Gonzalez</authors>
\t\t<label>1</label>
\t</publication>
\t<publication>
\t\t<year>2003</year>
\t</publication>
</person>
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_good_file_fields(tmp_path):
    mentions, counts = read_aminer(write(tmp_path, "Alok_Gupta.xml", GOOD))
    assert counts.as_dict() == {"files": 1, "files_unreadable": 0, "files_recovered": 0, "files_empty": 0,
                                "publications": 2, "publications_unreadable": 0}
    first, second = mentions
    assert first.mention_id == "Alok_Gupta#0" and first.publication_id == "6156"
    assert first.name == "Alok Gupta"
    assert first.coauthors == ("Wolfgang Ketter", "John Collins")  # the ambiguous name itself is left out
    assert (first.venue, first.year, first.organisation, first.label) == ("ICEC", 2007, "University of Minnesota", "2")
    assert second.name == "A. Gupta" and second.coauthors == ("Dinkar N. Bhat",)
    assert second.organisation is None  # "null"


def test_broken_files_are_counted_not_fatal(tmp_path):
    write(tmp_path, "Alok_Gupta.xml", GOOD)
    write(tmp_path, "Alberto_Gonzalez.xml", BROKEN)
    write(tmp_path, "garbage.xml", b"\x00\x01 this is not xml at all \xff\xfe")
    write(tmp_path, "Empty_Person.xml", "<?xml version='1.0'?>\n<person>\n<FullName>Empty Person</FullName>\n</person>\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "Bad_Bytes.xml", b"<person><FullName>B\xe9b\xe9</FullName><publication><title>T</title>"
                                             b"<authors>X Y</authors></publication></person>")
    files, counts = read_aminer_files(tmp_path)
    assert counts.files == 5
    assert counts.files_unreadable == 1  # garbage.xml
    assert counts.files_empty == 1
    assert counts.files_recovered == 2  # the broken file; the one with bytes that are not UTF-8
    assert counts.publications == 2 + 4 + 1
    assert counts.publications_unreadable == 2  # the cut-off block, the block with neither title nor authors
    assert any("garbage.xml" in where for where, _ in counts.problems)
    by_key = {key: (full, ms) for key, full, ms in files}
    full, mentions = by_key["Alberto_Gonzalez"]
    assert full == "Alberto González"
    assert [m.mention_id for m in mentions] == ["Alberto_Gonzalez#0", "Alberto_Gonzalez#2"]  # positions kept
    assert [m.publication_id for m in mentions] == ["0", "2"]  # no <id>: the position in the file
    assert mentions[0].title == "Imaging & Visualization"
    assert mentions[0].coauthors == ("José Ruiz",)
    assert mentions[0].keywords == ("image", "video")
    assert mentions[0].text == "We study images & video."
    assert mentions[1].name == "Alberto Gonzalez" and mentions[1].coauthors == ("Ana Perez",)
    assert by_key["sub/Bad_Bytes"][1][0].mention_id == "sub/Bad_Bytes#0"


def test_a_missing_path_is_counted(tmp_path):
    mentions, counts = read_aminer(tmp_path / "nope.xml")
    assert mentions == [] and counts.files == 1 and counts.files_unreadable == 1


@pytest.mark.skipif(not DATA.exists(), reason="data/aminer_name_disambiguation not present")
def test_the_shared_data_set_reads_whole():
    _, labeled = read_aminer(DATA / "labeled_names")
    assert labeled.as_dict() == {"files": 60, "files_unreadable": 0, "files_recovered": 36, "files_empty": 0,
                                 "publications": 3960, "publications_unreadable": 0}
    _, dblp = read_aminer(DATA / "dblp_names")
    assert dblp.as_dict() == {"files": 400, "files_unreadable": 0, "files_recovered": 1, "files_empty": 7,
                              "publications": 4064, "publications_unreadable": 0}
