"""Bibliometric indices as SQL over the store: per-work citations and percentiles, per-author h, g, i10, m.

Definitions (standard):
- citations of a work: the larger of what a source reports and what the store counts from citation edges whose
  citing work is in the store; unknown (NULL) when no source reports a count and no citing work is in the store.
- citation percentile: 100 * (average rank of its citations, lowest first) / n among the n works of the same group
  (category, else field) and year with known citations, as pandas' rank(pct=True); NULL in a group of fewer than
  MIN_PERCENTILE_GROUP works with known citations, where a rank says nothing.
- h-index: the largest h such that h works have at least h citations each.
- g-index: the largest g such that the g most cited works have together at least g^2 citations (g <= works).
- i10-index: works with at least 10 citations.
- m-quotient: h divided by the years since the first publication, counting that year (h / (Y - first + 1)),
  to three decimals rounded half up, computed in integers so that every engine rounds a tie (3/80) alike.
Indices are NULL for an author none of whose works has a known citation count: unknown, never zero.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from .citation_graph import coded_citations

MIN_PERCENTILE_GROUP = 5

WORK_CITATIONS_SQL = """
CREATE OR REPLACE TABLE work_citations AS
WITH counted AS (
    -- Citations from works in the store, one per citing work, a work citing itself left out: the resolved graph
    -- with its ids coded once per build (_edge_codes over _work_codes, citation_graph.coded_citations).
    SELECT cited AS code, count(*) AS n FROM _edge_codes WHERE citing <> cited GROUP BY cited
),
base AS (
    SELECT
        w.work_id,
        coalesce(w.category, w.field) AS grp,
        w.year,
        w.cited_by_count AS cited_by_reported,
        coalesce(c.n, 0) AS cited_by_counted,
        CASE
            WHEN w.cited_by_count IS NOT NULL THEN greatest(w.cited_by_count, coalesce(c.n, 0))
            WHEN c.n IS NOT NULL THEN c.n
        END AS citations
    FROM works w JOIN _work_codes k ON k.work_id = w.work_id LEFT JOIN counted c ON c.code = k.code
)
SELECT
    *,
    CASE WHEN citations IS NOT NULL AND grp IS NOT NULL AND year IS NOT NULL
              AND count(*) OVER whole >= $min_group THEN
        -- average rank of the ties: (first rank + last rank) / 2, over the group size
        100.0 * (rank() OVER g + cume_dist() OVER g * count(*) OVER whole) / 2 / count(*) OVER whole
    END AS citation_percentile,
    count(*) OVER whole AS percentile_group_size
FROM base
WINDOW whole AS (PARTITION BY grp, year, citations IS NOT NULL),
       g AS (whole ORDER BY citations)
"""

AUTHOR_METRICS_SQL = """
CREATE OR REPLACE TABLE author_metrics AS
WITH author_works AS (
    SELECT DISTINCT a.author_id, a.work_id, wc.citations, w.year
    FROM person_authorships a  -- persons, not source records: see analytics/persons.py
    JOIN works w USING (work_id)
    JOIN work_citations wc USING (work_id)
),
ranked AS (
    SELECT
        author_id, citations,
        row_number() OVER (PARTITION BY author_id ORDER BY citations DESC, work_id) AS rn,
        sum(citations) OVER (PARTITION BY author_id ORDER BY citations DESC, work_id
                             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
    FROM author_works WHERE citations IS NOT NULL
),
indices AS (
    SELECT
        author_id,
        coalesce(max(rn) FILTER (WHERE citations >= rn), 0) AS h_index,
        coalesce(max(rn) FILTER (WHERE running >= rn * rn), 0) AS g_index,
        count(*) FILTER (WHERE citations >= 10) AS i10_index,
        sum(citations) AS citations,
        count(*) AS works_with_citations
    FROM ranked GROUP BY author_id
),
counts AS (
    SELECT author_id, count(*) AS works_count, min(year) AS first_year
    FROM author_works GROUP BY author_id
)
SELECT
    c.author_id, c.works_count, c.first_year,
    i.citations, i.h_index, i.g_index, i.i10_index, coalesce(i.works_with_citations, 0) AS works_with_citations,
    CASE WHEN i.h_index IS NOT NULL AND c.first_year IS NOT NULL
         THEN CAST((2000 * i.h_index + greatest(1, $as_of_year - c.first_year + 1))
                   // (2 * greatest(1, $as_of_year - c.first_year + 1)) AS DOUBLE) / 1000 END AS m_quotient
FROM counts c LEFT JOIN indices i USING (author_id)
"""

AUTHOR_CITATIONS_BY_YEAR_SQL = """
CREATE OR REPLACE TABLE author_citations_by_year AS
WITH per_work AS (
    -- A source's own yearly counts where it gives them (one source per work-year: the largest) ...
    SELECT work_id, year, max(cited_by) AS n FROM counts_by_year GROUP BY work_id, year
),
from_edges AS (
    -- ... otherwise citing works in the store, counted in the year they appeared (the resolved edges are
    -- distinct, so each citing work once), a work citing itself left out as in work_citations.
    SELECT k.work_id, x.year, x.n
    FROM (SELECT cited AS code, t_citing AS year, count(*) AS n FROM _edge_codes
          WHERE t_citing IS NOT NULL AND citing <> cited GROUP BY cited, t_citing) x
    JOIN _work_codes k ON k.code = x.code
    WHERE k.work_id NOT IN (SELECT work_id FROM per_work)
),
yearly AS (SELECT * FROM per_work UNION ALL SELECT * FROM from_edges)
SELECT a.author_id, y.year, sum(y.n) AS citations
FROM (SELECT DISTINCT author_id, work_id FROM person_authorships) a
JOIN yearly y USING (work_id)
GROUP BY a.author_id, y.year
"""


def compute_bibliometrics(con: duckdb.DuckDBPyConnection, as_of_year: int | None = None) -> None:
    """(Re)build work_citations, author_metrics and author_citations_by_year from the store."""
    year = as_of_year or dt.date.today().year
    with coded_citations(con):
        con.execute(WORK_CITATIONS_SQL, {"min_group": MIN_PERCENTILE_GROUP})
        con.execute(AUTHOR_METRICS_SQL, {"as_of_year": year})
        con.execute(AUTHOR_CITATIONS_BY_YEAR_SQL)


def h_index(citations: list[int]) -> int:
    """Reference implementation for checks: the largest h with h values >= h."""
    ranked = sorted(citations, reverse=True)
    return sum(1 for i, c in enumerate(ranked, start=1) if c >= i)


def g_index(citations: list[int]) -> int:
    """Reference implementation for checks: the largest g whose top g sum to at least g^2 (g <= len)."""
    ranked = sorted(citations, reverse=True)
    total, g = 0, 0
    for i, c in enumerate(ranked, start=1):
        total += c
        if total >= i * i:
            g = i
    return g
