"""The store's citation graph resolved to works, as the analytics read it.

- RESOLVED_EDGES_SQL defines it on work ids.
- coded_citations() makes it, for a DuckDB build, once as integer codes (CODED_CITATIONS_SQL) that bibliometrics,
  the CD index and reference novelty read. The Spark engine makes the same tables with its own numbering
  (engine.spark.SPARK_CODING_SQL: a row_number() over every work would run in one Spark partition).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

# The citation graph on work ids: a key resolves to the work it names when that work is in the store; a cited key
# that resolves to none is its own id (a reference outside the store), a citing one drops the edge.
RESOLVED_EDGES_SQL = """
WITH resolvable AS (SELECT k.key, k.work_id FROM work_keys k JOIN works w ON w.work_id = k.work_id)
SELECT DISTINCT citing.work_id AS citing, coalesce(cited.work_id, c.cited_key) AS cited
FROM citations c
JOIN resolvable citing ON citing.key = c.citing_key
LEFT JOIN resolvable cited ON cited.key = c.cited_key
"""


# RESOLVED_EDGES_SQL as integer codes, made once per build for the steps that read the whole graph (bibliometrics,
# the CD index and reference novelty each resolved the 100M string edges again before). Works are coded in id
# order, so codes sort as the ids do (reference novelty's null depends on that order); a cited key no work has is
# its own id, coded after the works. Each edge carries its two works' years, sorted by citing year so that a year's
# slice is read from few row groups. _work_key marks the works' own keys: only those resolve a citing end.
CODED_CITATIONS_SQL = [
    """CREATE OR REPLACE TEMP TABLE _work_codes AS
       SELECT work_id, row_number() OVER (ORDER BY work_id) - 1 AS code, year, venue FROM works""",
    """CREATE OR REPLACE TEMP TABLE _key_codes AS
       SELECT k.key, w.code, true AS _work_key FROM work_keys k JOIN _work_codes w USING (work_id)""",
    # An unknown key that is some work's id (a work whose id is not among its keys) is that work, as in
    # RESOLVED_EDGES_SQL, where ids are compared as strings.
    """INSERT INTO _key_codes
       WITH unknown AS (SELECT DISTINCT c.cited_key AS key FROM citations c ANTI JOIN _key_codes k ON k.key = c.cited_key)
       SELECT u.key, coalesce(w.code, (SELECT count(*) FROM works) + row_number() OVER (ORDER BY u.key) - 1), false
       FROM unknown u LEFT JOIN _work_codes w ON w.work_id = u.key""",
    """CREATE OR REPLACE TEMP TABLE _edge_codes AS
       SELECT e.citing, e.cited, a.year AS t_citing, b.year AS t_cited
       FROM (SELECT DISTINCT a.code AS citing, b.code AS cited
             FROM citations c JOIN _key_codes a ON a.key = c.citing_key AND a._work_key
             JOIN _key_codes b ON b.key = c.cited_key) e
       JOIN _work_codes a ON a.code = e.citing LEFT JOIN _work_codes b ON b.code = e.cited
       ORDER BY t_citing NULLS LAST, e.citing""",
    "DROP TABLE _key_codes",
]
CODED_CITATION_TABLES = ("_work_codes", "_key_codes", "_edge_codes")


@contextmanager
def coded_citations(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Inside the block, the temporary tables _work_codes(work_id, code, year, venue) and
    _edge_codes(citing, cited, t_citing, t_cited) (CODED_CITATIONS_SQL). Blocks nest: the outermost makes the
    tables and drops them at its end, so a build makes them once for every step inside it."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = '_edge_codes'"
                         ).fetchall()[0][0]
    if exists:
        yield
        return
    try:
        for sql in CODED_CITATIONS_SQL:
            con.execute(sql)
        yield
    finally:
        for table in CODED_CITATION_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
