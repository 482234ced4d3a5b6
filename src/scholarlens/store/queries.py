"""The read queries that serve uses: author search, profiles and works, each number with its provenance.

A profile shows our computed figure where the store can compute it and otherwise the source's reported one,
and always says which (``figures[metric].kind``); ``reported`` lists every figure a source states beside ours,
with ``agrees`` false when they differ. Unknown values are None, never invented.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import duckdb
import pandas as pd

from .writer import normalize_key

# Reported metrics that mean the same as ours, so that a difference is worth a flag. A source's "Novelty %" or
# "AI Score" is its own measure (a profile page does not say how it is made): shown beside ours, never compared.
COMPARABLE = ("h_index", "i10_index", "works_count", "citations")


class NotFound(LookupError):
    pass


def _one(con: duckdb.DuckDBPyConnection, sql: str, params=None):
    """The first row (or None), with the result read to its end: DuckDB refuses to register a frame on a
    connection whose last result is still open."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return _one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])[0] > 0


class NotAnalysed(RuntimeError):
    """The store holds records but its analytics tables were never built."""


def require_analysed(con: duckdb.DuckDBPyConnection) -> None:
    if not _has_table(con, "author_metrics"):
        raise NotAnalysed("the store has not been analysed yet: run `scholarlens --store PATH build`")


def display_date(d: dt.date | None, today: dt.date | None = None) -> str | None:
    """"Nov 10, 2022"; "May 27" in the current year, as the seed page writes dates."""
    if d is None:
        return None
    today = today or dt.date.today()
    text = f"{d.strftime('%b')} {d.day}"
    return text if d.year == today.year else f"{text}, {d.year}"


@dataclass
class AuthorHit:
    id: str
    name: str
    works_count: int
    h_index: int | None
    field: str | None


def search_authors(con: duckdb.DuckDBPyConnection, query: str, limit: int = 20) -> list[AuthorHit]:
    """Persons whose name contains the query (case and accents ignored), or who hold the id (a person id or
    any source author id of theirs)."""
    q = query.strip()
    if not q:
        return []
    rows = con.execute(
        """
        SELECT p.person_id, p.name, coalesce(m.works_count, 0) AS n, m.h_index, a.field
        FROM persons p LEFT JOIN author_metrics m ON m.author_id = p.person_id
        LEFT JOIN authors a ON a.author_id = p.anchor_author_id
        WHERE p.person_id = $q OR list_contains(p.author_ids, $q)
           OR contains(strip_accents(lower(p.name)), strip_accents(lower($q)))  -- literal: % and _ are not wildcards
        ORDER BY (p.person_id = $q OR list_contains(p.author_ids, $q)) DESC,
                 (strip_accents(lower(p.name)) = strip_accents(lower($q))) DESC, n DESC, p.name, p.person_id
        LIMIT $limit
        """,
        {"q": q, "limit": limit},
    ).fetchall()
    return [AuthorHit(*r) for r in rows]


def person_of(con: duckdb.DuckDBPyConnection, ref: str) -> str | None:
    """The person an id names: a person id, or the person holding most mentions of a source author id."""
    if _one(con, "SELECT 1 FROM persons WHERE person_id = ?", [ref]):
        return ref
    row = _one(con, "SELECT person_id FROM person_mentions WHERE author_id = ? GROUP BY person_id "
                    "ORDER BY count(*) DESC, person_id LIMIT 1", [ref])
    return row[0] if row else None


def resolve_author(con: duckdb.DuckDBPyConnection, name_or_id: str) -> str:
    """The one person meant: an id, else the best name match (exact names first, then most works)."""
    found = person_of(con, name_or_id.strip())
    if found:
        return found
    hits = search_authors(con, name_or_id, limit=1)
    if not hits:
        raise NotFound(f"no author matches {name_or_id!r}")
    return hits[0].id


def candidates(con: duckdb.DuckDBPyConnection, name: str, limit: int = 20) -> list[dict]:
    """The persons a name could mean, with what tells them apart: institution, years, top co-authors, works."""
    out = []
    for hit in search_authors(con, name, limit=limit):
        pid = hit.id
        years = _one(con, "SELECT min(w.year), max(w.year) FROM person_authorships a JOIN works w USING (work_id) "
                          "WHERE a.author_id = ?", [pid])
        inst = _one(con, """SELECT i.name FROM person_mentions pm
                            JOIN authorship_institutions ai ON ai.work_id = pm.work_id AND ai.author_id = pm.author_id
                            JOIN institutions i USING (institution_id) JOIN works w ON w.work_id = pm.work_id
                            WHERE pm.person_id = ? GROUP BY i.name ORDER BY max(w.year) DESC NULLS LAST, count(*) DESC
                            LIMIT 1""", [pid])
        coauthors = [n for (n,) in con.execute(
            """SELECT p2.name FROM person_authorships a1 JOIN person_authorships a2 USING (work_id)
               JOIN persons p2 ON p2.person_id = a2.author_id
               WHERE a1.author_id = ? AND a2.author_id <> a1.author_id
               GROUP BY p2.name ORDER BY count(*) DESC, p2.name LIMIT 3""", [pid]).fetchall()]
        out.append({"id": pid, "name": hit.name, "institution": inst[0] if inst else None,
                    "years": [years[0], years[1]] if years and years[0] is not None else None,
                    "top_coauthors": coauthors, "works_count": hit.works_count, "h_index": hit.h_index})
    return out


def ambiguous(con: duckdb.DuckDBPyConnection, name: str) -> list[dict]:
    """More than one person with exactly this name (case and accents aside): the candidates, else []."""
    if person_of(con, name.strip()):
        return []
    same = [c for c in candidates(con, name, limit=50) if _fold(c["name"]) == _fold(name)]
    return same if len(same) > 1 else []


def _fold(name: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", name)
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).lower().split())


def _reported_figures(con, entity: str, entity_id: str) -> list[dict]:
    rows = con.execute(
        "SELECT metric, value, source, source_id, as_of FROM reported WHERE entity = ? AND entity_id = ? ORDER BY metric, source",
        [entity, entity_id],
    ).fetchall()
    return [dict(metric=m, value=v, source=s, source_id=sid, as_of=a) for m, v, s, sid, a in rows]


def _num(v):
    """Integers stay integers in JSON (67, not 67.0)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def author_profile(
    con: duckdb.DuckDBPyConnection,
    author_id: str,
    *,
    page: int = 1,
    per_page: int | None = None,
    today: dt.date | None = None,
) -> dict:
    person_id = person_of(con, author_id)
    row = person_id and _one(
        con, """SELECT p.person_id, p.name, p.orcid, a.field, p.author_ids, p.curated
                FROM persons p LEFT JOIN authors a ON a.author_id = p.anchor_author_id WHERE p.person_id = ?""",
        [person_id])
    if not row:
        raise NotFound(f"no author with id {author_id!r}")
    author_id, name, orcid, field, source_ids, curated = row
    m = _one(
        con,
        "SELECT works_count, citations, h_index, g_index, i10_index, m_quotient, first_year, works_with_citations "
        "FROM author_metrics WHERE author_id = ?",
        [author_id],
    )
    computed = dict(zip(
        ["works_count", "citations", "h_index", "g_index", "i10_index", "m_quotient", "first_year", "works_with_citations"],
        m if m else [0, None, None, None, None, None, None, 0],
    ))
    works = author_works(con, author_id, today=today)
    novelty = _author_novelty(con, author_id)  # (value, papers scored) or None
    if novelty is not None:
        computed["novelty"] = novelty[0]
    ai = _author_ai_score(con, author_id)  # (value, papers scored, papers in all) or None
    if ai is not None:
        computed["ai_score"] = ai[0]

    reported = [r for sid in source_ids for r in _reported_figures(con, "author", sid)]
    for r in reported:
        mine = computed.get(r["metric"])
        r["value"] = _num(r["value"])
        r["computed"] = _num(mine)
        if r["metric"] in COMPARABLE:
            r["agrees"] = None if mine is None else abs(float(mine) - float(r["value"])) < 0.5
        else:
            r["agrees"] = None
            r["note"] = "the source's own measure; not compared with ours"

    analysed_at = (_one(con, "SELECT value FROM meta WHERE key = 'analysed_at'") or [None])[0]
    counted = f"computed from {computed['works_count']} works in the store ({computed['works_with_citations']} with citation counts)"
    bases = {
        "m_quotient": f"h-index / years since the first work in the store ({computed['first_year']})",
        "novelty": f"median novelty percentile of the author's {novelty[1] if novelty else 0} scored papers",
        "ai_score": (f"mean AI Score of the {ai[1]} of the author's {ai[2]} papers that have an abstract to score"
                     if ai else "no paper with an abstract"),
    }
    figures: dict[str, dict] = {}
    for metric in ("h_index", "works_count", "citations", "novelty", "ai_score", "g_index", "i10_index", "m_quotient"):
        mine = computed.get(metric)
        if mine is not None and not (metric == "works_count" and mine == 0):
            figures[metric] = {"value": _num(mine), "kind": "computed", "source": "scholarlens", "as_of": analysed_at,
                               "basis": bases.get(metric, counted)}
            continue
        theirs = [r for r in reported if r["metric"] == metric]
        if theirs:
            best = max(theirs, key=lambda r: r["as_of"] or "")
            figures[metric] = {"value": best["value"], "kind": "reported", "source": best["source"], "as_of": best["as_of"],
                               "basis": f"reported by {best['source']}; not computable from the store"}
        else:
            figures[metric] = {"value": None, "kind": None, "source": None, "as_of": None, "basis": "unknown"}

    total = len(works)
    if per_page:
        last = max(1, -(-total // per_page))
        if page > last:
            raise NotFound(f"page {page} is past the last page ({last})")
        start = (page - 1) * per_page
        shown = works[start:start + per_page]
    else:
        shown = works
    return {
        "id": author_id,
        "name": name,
        "orcid": orcid,
        "source_ids": list(source_ids),  # the source records this person was found under
        "curated": bool(curated),  # a person corrected by someone: see "corrections"
        # set when the person's name block was too big for the engine to compare (analytics.persons)
        "unscored_name_block": _unscored_name_block(con, name),
        "corrections": _corrections_of(con, author_id),
        "field": field or _main_category(works),
        "h_index": figures["h_index"]["value"],
        "g_index": figures["g_index"]["value"],
        "i10_index": figures["i10_index"]["value"],
        "m_quotient": figures["m_quotient"]["value"],
        "works_count": figures["works_count"]["value"],
        "citations": figures["citations"]["value"],
        "novelty": figures["novelty"]["value"],
        "ai_score": figures["ai_score"]["value"],
        "figures": figures,
        "reported": reported,
        "citations_by_year": [
            {"year": y, "citations": int(c)}
            for y, c in con.execute(
                "SELECT year, citations FROM author_citations_by_year WHERE author_id = ? ORDER BY year", [author_id]
            ).fetchall()
        ],
        # Every scored paper's novelty by date (not only this page's), for the profile's chart.
        "novelty_by_date": [
            {"id": w["id"], "date": w["date"] or (f"{w['year']}-01-01" if w["year"] else None), "novelty": w["novelty"], "title": w["title"]}
            for w in works if w["novelty"] is not None and (w["date"] or w["year"])
        ],
        "works_total": total,
        "page": page,
        "per_page": per_page,
        "works": shown,
    }


def _unscored_name_block(con, name: str | None) -> dict | None:
    """The name block this person's name belongs to when the build did not score it (meta
    persons_unscored_blocks): its key, its mentions and the engine's limit; None when it was scored."""
    from ..identity.names import block_key, parse_name

    row = _one(con, "SELECT value FROM meta WHERE key = 'persons_unscored_blocks'")
    if not row or not name:
        return None
    listed = json.loads(row[0])
    key = block_key(parse_name(name))
    for block in listed["blocks"]:
        if key in block["keys"]:
            return {"key": key, "mentions": block["mentions"], "max_block": listed["max_block"]}
    return None


def _corrections_of(con, person_id: str) -> list[dict]:
    from ..identity.corrections import list_corrections

    row = _one(con, "SELECT correction_ids FROM persons WHERE person_id = ?", [person_id])
    return list_corrections(con, list(row[0])) if row and row[0] else []


def _main_category(works: list[dict]) -> str | None:
    counts: dict[str, int] = {}
    for w in works:
        if w["category"]:
            counts[w["category"]] = counts.get(w["category"], 0) + 1
    return max(counts, key=counts.get) if counts else None


def _author_ai_score(con, author_id: str) -> tuple[float, int, int] | None:
    if not _has_table(con, "author_ai_score"):
        return None
    row = _one(con, "SELECT ai_score, papers_scored, papers_total FROM author_ai_score WHERE author_id = ?", [author_id])
    return (float(row[0]), int(row[1]), int(row[2])) if row else None


def _author_novelty(con, author_id: str) -> tuple[float, int] | None:
    if not _has_table(con, "author_novelty"):
        return None
    row = _one(con, "SELECT novelty, papers_scored FROM author_novelty WHERE author_id = ?", [author_id])
    if row is None or row[0] is None or row[0] != row[0]:  # NaN: no paper scored
        return None
    return round(float(row[0]), 1), int(row[1])


def author_works(con: duckdb.DuckDBPyConnection, author_id: str, *, today: dt.date | None = None) -> list[dict]:
    """The author's works, newest first, as paper cards."""
    ids = [r[0] for r in con.execute(
        """SELECT w.work_id FROM person_authorships a JOIN works w USING (work_id)
           WHERE a.author_id = ? ORDER BY w.publication_date DESC NULLS LAST, w.year DESC NULLS LAST, w.title""",
        [author_id],
    ).fetchall()]
    return works_by_id(con, ids, owner=author_id, today=today)


def work_detail(con: duckdb.DuckDBPyConnection, work_id: str, *, today: dt.date | None = None) -> dict:
    found = works_by_id(con, [work_id], today=today)
    if not found:
        # Any key of the work finds it, in any spelling the store normalises ("DOI:10.1/X", "arxiv:2101.1v2").
        row = _one(con, "SELECT work_id FROM work_keys WHERE key = ?", [normalize_key(work_id)])
        if row:
            found = works_by_id(con, [row[0]], today=today)
    if not found:
        raise NotFound(f"no work with id {work_id!r}")
    work = found[0]
    work["keys"] = [k for (k,) in con.execute("SELECT key FROM work_keys WHERE work_id = ? AND NOT starts_with(key, 'match:') ORDER BY key", [work["id"]]).fetchall()]
    work["sources"] = [
        dict(source=s, source_id=i, as_of=a)
        for s, i, a in con.execute("SELECT source, source_id, as_of FROM work_sources WHERE work_id = ? ORDER BY source", [work["id"]]).fetchall()
    ]
    work["reported"] = _reported_figures(con, "work", work["id"])
    return work


def works_by_id(con: duckdb.DuckDBPyConnection, ids: list[str], *, owner: str | None = None, today: dt.date | None = None) -> list[dict]:
    if not ids:
        return []
    con.register("_ids", pd.DataFrame({"work_id": ids, "ord": range(len(ids))}))
    try:
        # Analytics tables exist once `build` has run; a store that was only ingested still reads.
        extra_cols, extra_joins = [], []
        for table, alias, cols, nulls in (
            ("work_novelty", "n", "n.novelty, n.neighbours AS novelty_neighbours, n.cohort_size AS novelty_cohort, n.reason AS novelty_reason",
             "NULL::DOUBLE AS novelty, NULL AS novelty_neighbours, NULL AS novelty_cohort, NULL AS novelty_reason"),
            ("work_disruption", "d",
             "CASE WHEN d.window_closed THEN struct_pack(cd := d.cd, mcd := d.mcd, i := d.i, delta := d.delta) END AS disruption",
             "NULL AS disruption"),
            ("work_refnovelty", "r",
             "CASE WHEN r.work_id IS NOT NULL THEN struct_pack(conventionality := r.conventionality, tail_novelty := r.tail_novelty, "
             "lee_novelty := r.lee_novelty, n_pairs := r.n_pairs, reason := r.reason) END AS reference_novelty",
             "NULL AS reference_novelty"),
            ("work_ai_score", "s",
             "s.ai_score AS computed_ai_score, s.p_accept, s.expected_rating, s.reasons AS ai_reasons, s.model_version AS ai_model",
             "NULL::DOUBLE AS computed_ai_score, NULL::DOUBLE AS p_accept, NULL::DOUBLE AS expected_rating, "
             "NULL::VARCHAR[] AS ai_reasons, NULL AS ai_model"),
        ):
            if _has_table(con, table):
                extra_cols.append(cols)
                extra_joins.append(f"LEFT JOIN {table} {alias} ON {alias}.work_id = w.work_id")
            else:
                extra_cols.append(nulls)
        novelty_cols = ", ".join(extra_cols)
        novelty_join = "\n".join(extra_joins)
        rows = con.execute(
            f"""
            SELECT w.work_id, w.title, w.abstract, w.publication_date, w.year, w.category, w.field, w.venue,
                   w.doi, w.arxiv_id, w.authors_truncated, w.code_badge, w.reported_ai_score,
                   wc.citations, wc.cited_by_reported, wc.cited_by_counted, wc.citation_percentile,
                   {novelty_cols},
                   (SELECT list(url ORDER BY found_in DESC, url) FROM code_links cl WHERE cl.work_id = w.work_id) AS code_urls,
                   (SELECT list(coalesce(a.raw_name, p.name) ORDER BY a.position NULLS LAST, a.author_id)
                      FROM person_authorships a JOIN persons p ON p.person_id = a.author_id
                      WHERE a.work_id = w.work_id AND a.position IS NOT NULL) AS authors,
                   (SELECT list(DISTINCT i.name) FROM authorship_institutions ai JOIN institutions i USING (institution_id)
                      JOIN person_mentions pm ON pm.work_id = ai.work_id AND pm.author_id = ai.author_id
                      WHERE ai.work_id = w.work_id AND pm.person_id = $owner) AS owner_affiliations,
                   (SELECT string_agg(DISTINCT source, ', ') FROM work_sources s WHERE s.work_id = w.work_id) AS sources,
                   (SELECT max(as_of) FROM work_sources s WHERE s.work_id = w.work_id) AS as_of
            FROM _ids JOIN works w USING (work_id)
            LEFT JOIN work_citations wc ON wc.work_id = w.work_id
            {novelty_join}
            ORDER BY _ids.ord
            """,
            {"owner": owner or ""},
        ).fetchall()
    finally:
        con.unregister("_ids")
    cols = ["id", "title", "abstract", "date", "year", "category", "field", "venue", "doi", "arxiv_id",
            "authors_truncated", "code_badge", "reported_ai_score", "citations", "cited_by_reported",
            "cited_by_counted", "citation_percentile", "novelty", "novelty_neighbours", "novelty_cohort", "novelty_reason", "disruption",
            "reference_novelty", "computed_ai_score", "p_accept", "expected_rating", "ai_reasons", "ai_model",
            "code_urls", "authors", "affiliations", "sources", "as_of"]
    out = []
    for r in rows:
        w = dict(zip(cols, r))
        code_urls = w.pop("code_urls") or []
        badge = w.pop("code_badge")
        reported_score = w.pop("reported_ai_score")
        out.append({
            "id": w["id"],
            "title": w["title"],
            "date": w["date"].isoformat() if w["date"] else None,
            "date_display": display_date(w["date"], today) or (str(w["year"]) if w["year"] else None),
            "year": w["year"],
            "category": w["category"],
            "field": w["field"],
            "venue": w["venue"] or None,
            "doi": w["doi"],
            "arxiv_id": w["arxiv_id"],
            "code": bool(code_urls) or bool(badge),
            "code_url": code_urls[0] if code_urls else None,
            "code_urls": code_urls,
            "code_basis": "link found" if code_urls else ("badge shown by the source" if badge else None),
            # Ours when the build scored the work; a source's own score only stands in when ours is missing,
            # and is always kept beside it (ai_score_reported) for comparison.
            "ai_score": w["computed_ai_score"] if w["computed_ai_score"] is not None else reported_score,
            "ai_score_kind": "computed" if w["computed_ai_score"] is not None else ("reported" if reported_score is not None else None),
            "ai_score_reported": reported_score,
            "ai": None if w["computed_ai_score"] is None else {
                "ai_score": w["computed_ai_score"], "p_accept": w["p_accept"], "expected_rating": w["expected_rating"],
                "reasons": w["ai_reasons"] or [], "model_version": w["ai_model"],
            },
            "novelty": None if w["novelty"] is None else round(float(w["novelty"]), 1),
            "novelty_neighbours": w["novelty_neighbours"],
            "novelty_cohort": w["novelty_cohort"],  # works of the same category and year it is ranked among
            "novelty_reason": w["novelty_reason"],  # why there is no novelty, when there is none
            "disruption": w["disruption"],
            "reference_novelty": w["reference_novelty"],
            "citations": w["citations"],
            "cited_by_reported": w["cited_by_reported"],
            "cited_by_counted": w["cited_by_counted"],
            "citation_percentile": None if w["citation_percentile"] is None else round(float(w["citation_percentile"]), 1),
            "authors": w["authors"] or [],
            "authors_truncated": bool(w["authors_truncated"]),
            "affiliation": ", ".join(sorted(w["affiliations"])) if w["affiliations"] else None,
            "abstract": w["abstract"],
            "sources": w["sources"],
            "as_of": w["as_of"],
        })
    return out
