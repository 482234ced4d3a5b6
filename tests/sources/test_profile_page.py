"""The profile-page parser on the real seed page (Lewei Lu, 50 cards), and on damaged copies of it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

import scholarlens
from scholarlens.analytics.build import analyse
from scholarlens.records import Author, Authorship, Institution, Quarantined, ReportedFigure, Work
from scholarlens.sources.profile_page import (
    ProfilePageError,
    cards_with_badge_but_no_link,
    cards_with_link_but_no_badge,
    looks_like_profile_page,
    parse_profile_page,
    records_from_profile_page,
)
from scholarlens.store import connect, table_counts, write_records

SEED = Path(scholarlens.__file__).parent / "sample" / "profile_pages" / "lewei-lu.txt"
OWNER = "name:lewei lu"


@pytest.fixture(scope="module")
def text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(text):
    return parse_profile_page(text, "lewei-lu.txt")


def _d(y, m, d):
    return date(y, m, d)


# Read off the page by hand: (category, date, year printed on the card, Code badge), in page order.
# Cards without a year are in 2026, the year after the newest dated card (Dec 30, 2025).
GOLDEN = [
    ("CV", _d(2022, 11, 10), True, True),
    ("CV", _d(2022, 9, 12), True, True),
    ("CV", _d(2023, 6, 5), True, False),
    ("CV", _d(2022, 11, 18), True, False),
    ("CV", _d(2023, 10, 26), True, True),
    ("CV", _d(2022, 11, 17), True, True),
    ("CV", _d(2022, 12, 20), True, False),
    ("CV", _d(2024, 7, 22), True, True),
    ("CV", _d(2023, 6, 8), True, True),
    ("CV", _d(2022, 11, 10), True, False),
    ("CV", _d(2023, 3, 18), True, False),
    ("CV", _d(2026, 5, 27), False, True),
    ("AI", _d(2026, 4, 16), False, True),
    ("CV", _d(2023, 3, 14), True, False),
    ("CV", _d(2023, 12, 21), True, True),
    ("CV", _d(2024, 12, 6), True, True),
    ("CV", _d(2024, 4, 25), True, True),
    ("CV", _d(2025, 12, 30), True, True),
    ("CV", _d(2025, 4, 14), True, True),
    ("CV", _d(2026, 5, 26), False, False),
    ("CV", _d(2023, 12, 14), True, True),
    ("CL", _d(2024, 11, 15), True, True),
    ("CV", _d(2024, 3, 4), True, True),
    ("CV", _d(2026, 5, 10), False, True),
    ("CV", _d(2024, 2, 29), True, True),
    ("CV", _d(2024, 10, 21), True, True),
    ("CV", _d(2025, 11, 13), True, False),
    ("CV", _d(2026, 2, 24), False, False),
    ("CV", _d(2024, 12, 12), True, True),
    ("CV", _d(2025, 1, 14), True, True),
    ("CV", _d(2025, 12, 11), True, True),
    ("LG", _d(2026, 2, 11), False, True),
    ("CV", _d(2025, 7, 19), True, True),
    ("CV", _d(2024, 12, 20), True, True),
    ("SE", _d(2026, 3, 18), False, False),
    ("CV", _d(2026, 3, 24), False, True),
    ("CV", _d(2025, 10, 15), True, True),
    ("CV", _d(2026, 5, 12), False, False),
    ("CV", _d(2024, 1, 11), True, False),
    ("CV", _d(2025, 10, 16), True, True),
    ("CV", _d(2025, 10, 16), True, True),
    ("CV", _d(2025, 8, 18), True, True),
    ("CV", _d(2025, 5, 21), True, True),
    ("CV", _d(2024, 6, 12), True, True),
    ("CV", _d(2024, 6, 11), True, True),
    ("CV", _d(2024, 6, 11), True, True),
    ("CV", _d(2024, 6, 6), True, True),
    ("CV", _d(2024, 6, 6), True, True),
    ("CV", _d(2024, 1, 18), True, True),
    ("AI", _d(2023, 5, 25), True, True),
]

SCORED = [
    (58.7, "From Pixels to Words -- Towards Native One-Vision Models at Scale"),
    (67.9, "OpenMobile: Building Open Mobile Agents with Task and Trajectory Synthesis"),
    (48.6, "InterSketch: An Interleaved Reasoning Model with Self-correcting Visual Sketch and Stepwise Reward"),
    (34.6, "GeoSym127K: Scalable Symbolically-verifiable Synthesis for Multimodal Geometric Reasoning"),
    (18.9, "FailureMem: A Failure-Aware Multimodal Framework for Autonomous Software Repair"),
    (21.4, "EVA: Efficient Reinforcement Learning for End-to-End Video Agent"),
    (75.8, "SenseNova-U1: Unifying Multimodal Understanding and Generation with NEO-unify Architecture"),
]

BADGE_WITHOUT_LINK = [
    "SenseNova-MARS: Empowering Multimodal Agentic Reasoning and Search via Reinforcement Learning",
    "InternVL3: Exploring Advanced Training and Test-Time Recipes for Open-Source Multimodal Models",
    "Enhancing the Reasoning Ability of Multimodal Large Language Models via Mixed Preference Optimization",
    "SynerGen-VL: Towards Synergistic Image Understanding and Generation with Vision Experts and Token Folding",
    "InteractiveOmni: A Unified Omni-modal Model for Audio-Visual Multi-turn Dialogue",
    "Holistic Evaluation of Multimodal LLMs on Spatial Intelligence",
]


# --- the seed page ------------------------------------------------------------------------------------------


def test_header(page):
    h = page.header
    assert (h.name, h.field, h.h_index, h.works_count, h.citations, h.novelty, h.ai_score) == (
        "Lewei Lu", "CV", 67, 79, 22636, 56.0, 69.0,
    )
    assert page.page_year == 2026


def test_all_fifty_cards_parse_in_order(page):
    assert len(page.cards) == 50
    assert page.unreadable == []
    assert [c.index for c in page.cards] == list(range(1, 51))
    assert all(c.title and c.authors and c.abstract for c in page.cards)


def test_golden_categories_dates_and_badges(page):
    got = [(c.category, c.date, c.year_given, c.code_badge) for c in page.cards]
    assert got == GOLDEN
    assert page.cards[11].date_text == "May 27"
    assert page.cards[0].date_text == "Nov 10, 2022"


def test_titles_that_start_with_capitals_or_digits(page):
    titles = [c.title for c in page.cards]
    assert "3D Data Augmentation for Driving Scenes on Camera" in titles
    assert titles[8].startswith("ADDP: Learning General Representations")
    assert titles[0] == "InternImage: Exploring Large-Scale Vision Foundation Models with Deformable Convolutions"


def test_card_scores_on_the_right_titles(page):
    scored = [(c.ai_score, c.title) for c in page.cards if c.ai_score is not None]
    assert scored == SCORED


def test_affiliation_tags(page):
    tagged = [(c.index, c.affiliation, c.title) for c in page.cards if c.affiliation]
    assert tagged == [
        (3, "pku", "Scene as Occupancy"),
        (4, "pku", "BEVFormer v2: Adapting Modern Image Backbones to Bird's-Eye-View Recognition via Perspective Supervision"),
        (10, "tencent-ai", "Demystify Transformers & Convolutions in Modern Image Deep Networks"),
        (11, "pku", "3D Data Augmentation for Driving Scenes on Camera"),
    ]
    # The tag is not part of the last author's name.
    assert page.cards[2].authors == ["Chonghao Sima", "Wenwen Tong", "Tai Wang"]


def test_et_al_sets_authors_truncated(page):
    untruncated = [c for c in page.cards if not c.authors_truncated]
    assert [c.title[:32] for c in untruncated] == ["Streamline Without Sacrifice -- "]
    assert untruncated[0].authors == ["Penghao Wu", "Lewei Lu", "Ziwei Liu"]
    assert page.cards[0].authors == ["Wenhai Wang", "Jifeng Dai", "Zhe Chen"] and page.cards[0].authors_truncated


def test_badges_and_links_agree_except_six_cards(page):
    assert cards_with_link_but_no_badge(page) == []
    assert all(c.code_badge for c in page.cards if c.code_links)
    assert [c.title for c in cards_with_badge_but_no_link(page)] == BADGE_WITHOUT_LINK
    assert sum(1 for c in page.cards if c.code_links) == 32  # GeoSym127K gives two links: 33 in all
    # Links in LaTeX and arXiv-escape shapes are found too.
    by_title = {c.title[:12]: c for c in page.cards}
    assert by_title["ADDP: Learni"].code_links == ["https://github.com/ChangyaoTian/ADDP"]
    assert by_title["Streamline W"].code_links == ["https://github.com/penghao-wu/ProxyV"]


def test_explicit_page_year_wins(text):
    page = parse_profile_page(text, "p", page_year=2025)
    assert page.page_year == 2025
    assert page.cards[11].date == date(2025, 5, 27)
    assert page.cards[0].date == date(2022, 11, 10)
    work = next(r for r in records_from_profile_page(page) if isinstance(r, Work))
    assert work.provenance.as_of == "2025"


# --- records --------------------------------------------------------------------------------------------


@pytest.fixture()
def records(page):
    return list(records_from_profile_page(page))


def test_one_work_per_card_with_stable_keys(page, records):
    works = [r for r in records if isinstance(r, Work)]
    assert len(works) == 50
    assert len({w.keys[0] for w in works}) == 50
    first = works[0]
    assert first.keys == ["page:internimage-exploring-large-scale-vision-foundation-models-with-deformable-convolutions"]
    assert (first.publication_date, first.year, first.category, first.code_badge) == (date(2022, 11, 10), 2022, "CV", True)
    assert first.code_urls == []
    assert first.authors_truncated is True
    assert [(a.position, a.raw_name, a.author_key) for a in first.authorships] == [
        (1, "Wenhai Wang", "name:wenhai wang"),
        (2, "Jifeng Dai", "name:jifeng dai"),
        (3, "Zhe Chen", "name:zhe chen"),
    ]
    assert first.provenance.source == "profile-page" and first.provenance.as_of == "2026"
    assert first.provenance.kind == "reported" and first.provenance.source_id == "lewei-lu.txt"
    again = [r.keys for r in records_from_profile_page(page) if isinstance(r, Work)]
    assert again == [w.keys for w in works]
    scores = {w.title: w.reported_ai_score for w in works if w.reported_ai_score is not None}
    assert scores == {t: s for s, t in SCORED}


def test_owner_and_affiliations(records):
    authors = [r for r in records if isinstance(r, Author)]
    assert len(authors) == 1
    owner = authors[0]
    assert (owner.key, owner.name, owner.field) == (OWNER, "Lewei Lu", "CV")
    works = [r for r in records if isinstance(r, Work)]
    assert owner.work_keys == [w.keys[0] for w in works]

    assert sorted(r.key for r in records if isinstance(r, Institution)) == ["name:pku", "name:tencent-ai"]
    by_title = {w.title: w for w in works}
    occupancy = by_title["Scene as Occupancy"]
    owner_ship = [a for a in occupancy.authorships if a.author_key == OWNER]
    assert owner_ship == [Authorship(OWNER, None, "Lewei Lu", ["name:pku"], "pku")]
    demystify = by_title["Demystify Transformers & Convolutions in Modern Image Deep Networks"]
    assert [a.institution_keys for a in demystify.authorships if a.author_key == OWNER] == [["name:tencent-ai"]]
    # Listed on the card but without a tag: the owner keeps its printed position and no institution.
    streamline = next(w for w in works if w.title.startswith("Streamline"))
    assert [(a.position, a.institution_keys) for a in streamline.authorships if a.author_key == OWNER] == [(2, [])]


def test_reported_figures(records):
    figures = [r for r in records if isinstance(r, ReportedFigure)]
    author_figs = {f.metric: f.value for f in figures if f.entity == "author" and f.entity_key == OWNER}
    assert author_figs == {"h_index": 67, "works_count": 79, "citations": 22636, "novelty": 56, "ai_score": 69}
    work_figs = [f for f in figures if f.entity == "work"]
    assert [f.value for f in work_figs] == [s for s, _ in SCORED]
    assert all(f.metric == "ai_score" and f.entity_key.startswith("page:") for f in work_figs)
    assert all(f.provenance.source == "profile-page" for f in figures)


def test_code_links_from_abstracts_land_in_the_store(page, tmp_path):
    """Links in abstracts are found for every source alike by analyse(), not by the page reader."""
    con = connect(tmp_path / "s.duckdb")
    write_records(con, records_from_profile_page(page))
    analyse(con)
    links = con.execute("SELECT url, host, found_in FROM code_links").fetchall()
    assert len(links) == 33
    assert {found_in for _, _, found_in in links} == {"abstract"}
    hosts = {url: host for url, host, _ in links}
    assert hosts["https://njucckevin.github.io/openmobile/"] == "github-pages"
    assert hosts["https://huggingface.co/OpenGVLab/HoVLE"] == "huggingface"
    assert hosts["https://github.com/OpenGVLab/InternImage"] == "github"


def test_writing_twice_is_idempotent(page, tmp_path):
    con = connect(tmp_path / "s.duckdb")
    write_records(con, records_from_profile_page(page))
    first = table_counts(con)
    write_records(con, records_from_profile_page(page))
    assert table_counts(con) == first
    assert first["works"] == 50
    assert first["authorship_institutions"] == 4
    assert con.execute("SELECT count(*) FROM authorships WHERE author_id = ?", [OWNER]).fetchone()[0] == 50
    assert con.execute(
        "SELECT value FROM reported WHERE entity='author' AND entity_id=? AND metric='citations'", [OWNER]
    ).fetchone()[0] == 22636


# --- damaged and foreign input ------------------------------------------------------------------------------


def test_crlf_and_trailing_whitespace(text, page):
    messy = "\ufeff" + "\r\n".join(line + "  \t" for line in text.split("\n"))
    again = parse_profile_page(messy, "lewei-lu.txt")
    assert again.header == page.header
    assert again.cards == page.cards


def test_mangled_card_is_quarantined_and_the_rest_kept(text, page):
    broken = text.replace("CVSep 12, 2022Code\n", "CVSep 12 2022Code\n", 1)
    assert broken != text
    damaged = parse_profile_page(broken, "p.txt")
    assert len(damaged.cards) == 49
    # The broken card did not leak into card 1's abstract, and the next card is still card 3.
    assert damaged.cards[0].abstract == page.cards[0].abstract
    assert damaged.cards[1].index == 3 and damaged.cards[1].title == "Scene as Occupancy"
    records = list(records_from_profile_page(damaged))
    quarantined = [r for r in records if isinstance(r, Quarantined)]
    assert len(quarantined) == 1
    assert quarantined[0].origin == "p.txt#card 2"
    assert "Delving into the Devils" in quarantined[0].raw
    assert "no card header" in quarantined[0].reason
    assert sum(isinstance(r, Work) for r in records) == 49


def test_mangled_card_after_a_cut_card_is_not_taken_for_its_abstract():
    page = parse_profile_page(
        "Jane Roe\n\nLG\nh-index3\n5papers\n\n5 Papers\n\n"
        "LGJan 2, 2024\nFirst Paper\n\nJane Roe, John Doe\n\n"  # cut: no abstract
        "LGJan 3 2024Code\nSecond Paper\n\nJohn Doe\n\nAn abstract.\n\n"  # mangled date
        "AIFeb 4, 2024\nThird Paper\n\nJane Roe\n\nThird abstract.",
        "t.txt",
    )
    assert [c.title for c in page.cards] == ["First Paper", "Third Paper"]
    assert page.cards[0].abstract is None and page.cards[0].authors == ["Jane Roe", "John Doe"]
    assert [q.origin for q in page.unreadable] == ["t.txt#card 2"]
    assert page.unreadable[0].raw.startswith("LGJan 3 2024Code\nSecond Paper")


def test_cut_cards_keep_what_is_there():
    page = parse_profile_page(
        "Jane Roe\nh-index3\n\n"
        "12.5CVMar 1, 2021Code\nOnly A Title\n\n"
        "CVMar 2, 2021\nNo Authors Here\n\nWe study things, and find that they are so. Code is at https://github.com/x/y.\n\n"
        "CVMar 3\nCut After Authors\n\nJane Roe et al. · mit",
        "t.txt",
    )
    a, b, c = page.cards
    assert (a.title, a.authors, a.abstract, a.ai_score, a.code_badge) == ("Only A Title", [], None, 12.5, True)
    assert b.authors == [] and b.abstract.startswith("We study things") and b.code_links == ["https://github.com/x/y"]
    assert cards_with_link_but_no_badge(page) == [b]
    assert cards_with_badge_but_no_link(page) == [a]
    assert (c.authors, c.authors_truncated, c.affiliation, c.abstract) == (["Jane Roe"], True, "mit", None)
    assert c.date == date(2022, 3, 3)  # the year after the newest dated card
    assert page.header.works_count is None and page.header.field is None


def test_title_that_looks_like_a_card_header():
    page = parse_profile_page(
        "Jane Roe\nh-index3\n79papers\n\nCVMay 5, 2020\nAIMay 6Code\n\nJane Roe\n\nAbstract.",
        "t.txt",
    )
    assert len(page.cards) == 1
    assert page.cards[0].title == "AIMay 6Code"
    assert page.cards[0].abstract == "Abstract."


def test_sniff(text):
    assert looks_like_profile_page(text)
    assert not looks_like_profile_page(json.dumps({"id": "W1", "title": "h-index67", "cited_by_count": 3}))
    assert not looks_like_profile_page('{"a": 1}\n{"a": 2}\n')
    prose = (
        "Lewei Lu works on computer vision.\n\nThe h-index of a researcher is the largest h such that h papers "
        "have at least h citations each.\nCVPR 2023 was held in Vancouver in June.\n"
    )
    assert not looks_like_profile_page(prose)
    assert not looks_like_profile_page("")


def test_unreadable_header_raises():
    with pytest.raises(ProfilePageError, match="no profile header"):
        parse_profile_page("Lewei Lu works on vision.\n\nSome more prose here.\n", "x.txt")
    with pytest.raises(ProfilePageError, match="name"):
        parse_profile_page('{"id": "W1"}', "x.json")
    with pytest.raises(ProfilePageError, match="empty"):
        parse_profile_page("\n  \n", "x.txt")
