"""Who wrote what: the store's authorship mentions grouped into persons, with people's corrections applied.

A *mention* is one authorship row (a name on a work, under the author id the source gave it). The engine in
scholarlens.identity groups mentions into persons:
- a source's author id (OpenAlex, Semantic Scholar, ORCID) is firm evidence: its mentions are one person;
- a source's list of an author's works (an OpenAlex author's works, a profile page's cards: table
  author_claims) is firm evidence too, even when the author is known only by name;
- a bare name printed on a work ("name:..." keys) is grouped by the engine's learned pair scorer: name
  compatibility, shared co-authors, organisations, venues, years and topic;
- corrections (table corrections, scholarlens.identity.corrections) become must-link and cannot-link
  constraints, which win over everything else, and extra authorships for "this is mine".

Writes:
- person_mentions(work_id, author_id, person_id)
- persons(person_id, name, orcid, anchor_author_id, author_ids, mentions, curated, correction_ids): curated when
  an active correction is about them; correction_ids lists every correction about them, revoked ones too
- person_authorships(work_id, author_id, position, raw_name, raw_affiliation): authorships with author_id
  replaced by the person id, one row per person and work. Every author-level analytic reads this table, so a
  profile is a person's, not a source record's.

Only the name blocks that hold two or more firm groups (or a correction) go through the engine: a block whose
mentions all carry one source id (or ORCID) is one person whatever the scorer says, so it is settled here without
preparing its texts. On stores where most names are unambiguous that is most of the work saved.
A block of more than MAX_BLOCK_MENTIONS mentions is not scored either (its source ids decide; the store's meta
table says so, and which names, for their profiles to say it), and the engine's results go to Parquet files
chunk by chunk (beside the store, removed after the step), which DuckDB aggregates into the person tables: the
step's memory is bounded by a chunk in Python and by DuckDB's limit in SQL.

A person's id is the author id that anchors it (its ORCID-bearing or source id with the most mentions), so
profile addresses stay the same across rebuilds; a second person holding mentions of the same author id
(after a "not my paper" split) gets the engine's derived id instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..gcpause import cyclic_gc_paused
from ..identity.cluster import MAX_WORK_AUTHORS, Mention, _UnionFind, blocks, disambiguate
from ..identity.corrections import plan_corrections
from ..identity.names import block_key, parse_name
from ..store.db import sql_string
from .processes import map_in_processes, worker_count

log = logging.getLogger(__name__)

SEP = "\t"  # mention id = work_id TAB author_id: neither ever holds a tab
ID_SCHEMES_BY_STRENGTH = ("orcid", "openalex", "s2author", "dblp")
# Mentions the engine scores at a time (whole name blocks; document frequencies are over the chunk). Bounds the
# step's memory at ~1 GB whatever the store's size; a store below it is scored in one go.
CHUNK_MENTIONS = 250_000
# Chunks are scored in worker processes, one per core (analytics.processes). A worker scoring one chunk of
# CHUNK_MENTIONS peaked at 1.1 GB (a 100M-edge store's chunk, mostly names and
# co-authors); the margin is for chunks with abstracts and organisations.
ENGINE_WORKER_BYTES = 2 * 2**30
# A name block larger than this is not scored: its firm groups (source ids, ORCIDs) are its persons, and bare names
# stay apart. The engine's time grows faster than the mentions it gets: the first 5,000 / 10,000 / 20,000 mentions
# of one block of a generated snapshot (its author ids carry many names, which joins them all) took 4.4 / 15 /
# 76 s on an idle core; the whole block, 373,000 mentions, was OOM-killed at 24 GB. The largest AMiner name has
# 305 mentions. A block with a correction about it is still scored, since only the engine applies a "not my paper".
MAX_BLOCK_MENTIONS = 20_000


def mention_id(work_id: str, author_id: str) -> str:
    return f"{work_id}{SEP}{author_id}"


# Each mention's firm group before any scoring (its source author id, or itself: a bare name no source listed
# under an author) and what blocking reads, as a temporary table.
_MENTION_NODES_SQL = f"""
CREATE OR REPLACE TEMP TABLE _mention_nodes AS
SELECT a.work_id, a.author_id,
       coalesce(a.raw_name, au.name, substr(a.author_id, strpos(a.author_id, ':') + 1)) AS name, au.orcid,
       CASE WHEN a.author_id NOT LIKE 'name:%' OR c.work_id IS NOT NULL THEN a.author_id
            ELSE a.work_id || '{SEP}' || a.author_id END AS node,
       -- what the engine's rows need beside (see _ENGINE_ROWS_SQL)
       coalesce(a.raw_name, au.name) AS printed_name, a.raw_affiliation, c.work_id IS NOT NULL AS claimed
FROM authorships a JOIN authors au USING (author_id) JOIN works w USING (work_id)
LEFT JOIN (SELECT DISTINCT work_id, author_id FROM author_claims) c
       ON c.work_id = a.work_id AND c.author_id = a.author_id
"""


def load_mentions(con: duckdb.DuckDBPyConnection, nodes: set[str] | None = None) -> list[Mention]:
    """The store's mentions with everything the engine reads; with ``nodes``, only the mentions of those firm
    groups (see _MENTION_NODES_SQL)."""
    return mentions_from_rows(mention_rows(con, nodes))


def mention_rows(con: duckdb.DuckDBPyConnection, nodes: set[str] | None = None) -> pa.Table:
    """What ``load_mentions`` reads, as Arrow columns: cheap to send to another process. One chunk of the tables
    compute_persons reads its chunks from (``_prepare_chunk_reads``), made for these nodes alone."""
    made_nodes = not _has_temp_table(con, "_mention_nodes")  # compute_persons makes it once for every chunk
    if made_nodes:
        con.execute(_MENTION_NODES_SQL)
    try:
        _prepare_chunk_reads(con, None if nodes is None else [nodes])
        return _chunk_rows(con, 0)
    finally:
        _drop(con, _CHUNK_READ_TABLES + (("_mention_nodes",) if made_nodes else ()))


def _drop(con: duckdb.DuckDBPyConnection, tables) -> None:
    for table in tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")


# Every chunk's rows, read once into one table sorted by chunk (_prepare_chunk_reads), so that reading a chunk is a
# scan of its own row groups. A chunk read from the whole store joined 27.5M authorships on (work_id, author_id)
# and listed the co-authors of its works again, 6 s a chunk on the 100M store; read from a table of the chunks'
# mentions joined with the 9.2M works for each chunk, still 1.5-3.0 CPU s, taken from the engine workers' two cores
# 108 times; from this table, 0.1-0.4 CPU s (chunks 0, 54 and 107, whether or not DuckDB has spilled it).
# A mention's co-authors are every author name of its work in byline order; none for a work of more than
# MAX_WORK_AUTHORS authors, whose co-authors the engine does not read (cluster.prepare says why), counted here on
# the work's authorships. An organisation list is joined in name order: a DISTINCT aggregate's order is undefined.
_ENGINE_ROWS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _engine_rows AS
WITH orgs AS (
    SELECT ai.work_id, ai.author_id, string_agg(DISTINCT i.name, '; ' ORDER BY i.name) AS org
    FROM authorship_institutions ai JOIN institutions i USING (institution_id) GROUP BY ALL),
mentions AS MATERIALIZED (
    SELECT nc.chunk, m.work_id, m.author_id, m.printed_name AS name, m.orcid,
           coalesce(m.raw_affiliation, orgs.org) AS org, m.claimed
    FROM _mention_nodes m JOIN _node_chunks nc USING (node)
    LEFT JOIN orgs ON orgs.work_id = m.work_id AND orgs.author_id = m.author_id),
work_names AS (
    SELECT work_id, list(coalesce(raw_name, au.name) ORDER BY position NULLS LAST, author_id) AS names
    FROM authorships JOIN authors au USING (author_id)
    WHERE work_id IN (SELECT work_id FROM mentions) GROUP BY work_id
    HAVING count(*) <= {MAX_WORK_AUTHORS})
SELECT m.chunk, m.work_id, m.author_id, m.name, m.orcid, m.org, w.venue, w.year, w.title, w.abstract, n.names,
       m.claimed
FROM mentions m JOIN works w USING (work_id) LEFT JOIN work_names n USING (work_id)
ORDER BY m.chunk  -- a chunk's rows together: reading one skips the others' row groups
"""

_ROW_COLUMNS = "work_id, author_id, name, orcid, org, venue, year, title, abstract, names, claimed"
# The engine's rows (see mentions_from_rows) of the chunk $chunk; of every chunk with its number first: what a
# scorer elsewhere (Spark's executors) reads.
_CHUNK_ROWS_SQL = f"SELECT {_ROW_COLUMNS} FROM _engine_rows WHERE chunk = $chunk ORDER BY work_id, author_id"
ALL_CHUNK_ROWS_SQL = f"SELECT chunk, {_ROW_COLUMNS} FROM _engine_rows ORDER BY chunk, work_id, author_id"


_CHUNK_READ_TABLES = ("_node_chunks", "_engine_rows")


def _prepare_chunk_reads(con: duckdb.DuckDBPyConnection, chunks: list[set[str]] | None) -> None:
    """The temporary tables ``_chunk_rows`` reads (_CHUNK_READ_TABLES; over _mention_nodes, which _plan_blocks
    leaves): chunk i holds the mentions of the nodes chunks[i]; chunks None: one chunk of every mention."""
    if chunks is None:
        con.execute("CREATE OR REPLACE TEMP TABLE _node_chunks AS SELECT DISTINCT node, 0 AS chunk FROM _mention_nodes")
    else:
        con.register("_chunk_of_node", pd.DataFrame({
            "node": pd.Series([node for nodes in chunks for node in nodes], dtype=object),
            "chunk": pd.Series([i for i, nodes in enumerate(chunks) for _ in nodes], dtype="int64")}))
        try:
            con.execute("CREATE OR REPLACE TEMP TABLE _node_chunks AS SELECT * FROM _chunk_of_node")
        finally:
            con.unregister("_chunk_of_node")
    con.execute(_ENGINE_ROWS_SQL)


def _chunk_rows(con: duckdb.DuckDBPyConnection, chunk: int) -> pa.Table:
    """The engine's rows of one chunk (see mentions_from_rows), read from the tables _prepare_chunk_reads made."""
    return con.sql(_CHUNK_ROWS_SQL, params={"chunk": chunk}).to_arrow_table()


def mentions_from_rows(rows: pa.Table) -> list[Mention]:
    """``mention_rows`` as the engine's Mention objects."""
    mentions = []
    for work_id, author_id, name, orcid, org, venue, year, title, abstract, names, claimed in zip(
            *(column.to_pylist() for column in rows.columns)):
        scheme, _, value = author_id.partition(":")
        ids: dict[str, str] = {}
        if scheme != "name":
            ids[scheme] = value
        elif claimed:  # a source listed this work under this named author
            ids["claimed"] = author_id
        if orcid:
            ids["orcid"] = _orcid(orcid)
        coauthors = tuple([n for n in names if n and n != name]) if names else ()
        mentions.append(Mention(
            mention_id=mention_id(work_id, author_id), name=name or value, coauthors=coauthors, organisation=org,
            venue=venue, year=year, title=title, text=abstract, source_ids=ids, publication_id=work_id,
        ))
    return mentions


def _has_temp_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [name]).fetchall()
    return found[0][0] > 0


def _orcid(value: str) -> str:
    return value.rsplit("/", 1)[-1]


class _MentionsOfAuthor:
    """author id -> its mention ids, read from the store when a correction asks (corrections name few authors;
    a dict of every author's mentions would hold the whole store)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con, self.cache = con, {}

    def get(self, author_id: str, default=None):
        if author_id not in self.cache:
            works = self.con.execute("SELECT a.work_id FROM authorships a JOIN authors USING (author_id) "
                                     "JOIN works USING (work_id) WHERE a.author_id = ? ORDER BY 1",
                                     [author_id]).fetchall()
            self.cache[author_id] = [mention_id(w, author_id) for (w,) in works]
        return self.cache[author_id] or default


def _split_blocks(con: duckdb.DuckDBPyConnection, plan, claimed: set[tuple[str, str]], extra: list[Mention],
                  chunk_mentions: int, max_block: int = MAX_BLOCK_MENTIONS):
    """``_plan_blocks``, with the settled blocks read into Python: (chunks, settled: a list of blocks, each the
    list of (work_id, author_id, name, orcid) of its mentions, in (work_id, author_id) order). For tests and
    benchmarks; the build keeps the settled mentions in SQL (``_settled_table``)."""
    chunks, settled_nodes = _plan_blocks(con, plan, claimed, extra, chunk_mentions, max_block)
    settled: list[list[tuple]] = [[] for _ in range(len(set(settled_nodes.values())))]
    _settled_table(con, settled_nodes)
    for work_id, author_id, name, orcid, block in con.execute(
            "SELECT work_id, author_id, name, orcid, block FROM _settled_mentions ORDER BY work_id, author_id"
    ).fetchall():
        settled[block].append((work_id, author_id, name, orcid))
    con.execute("DROP TABLE _settled_mentions")
    return chunks, settled  # _mention_nodes stays for mention_rows; compute_persons drops it


@cyclic_gc_paused()
def _plan_blocks(con: duckdb.DuckDBPyConnection, plan, claimed: set[tuple[str, str]], extra: list[Mention],
                 chunk_mentions: int, max_block: int = MAX_BLOCK_MENTIONS) -> tuple[list[set[str]], dict[str, int]]:
    """Group the store's mentions by name block (the engine's own blocks(), with the corrections' must-links) and
    sort the blocks into those the engine need not score (one firm group, no correction about it: one person)
    and chunks of whole blocks for the engine, about ``chunk_mentions`` mentions each. A block of more than
    ``max_block`` mentions with no correction about it is not scored either: each of its firm groups is one
    person (see MAX_BLOCK_MENTIONS).

    Returns (chunks: a list of sets of firm-group nodes, settled: {firm-group node: number of its settled
    block}). Leaves the temporary table _mention_nodes. Python's cyclic collector is paused: a row, a Mention and
    a set per distinct name of the store (gcpause says why)."""
    constrained = {_node_of(mid, claimed) for pair in plan.must_link + plan.cannot_link for mid in pair}
    constrained |= {_node_of(mid, claimed) for _, mid in plan.touched}
    constrained |= {_node_of(m.mention_id, claimed) for m in extra}
    con.execute(_MENTION_NODES_SQL)
    rows = con.execute("SELECT node, name, orcid, count(*) FROM _mention_nodes GROUP BY ALL ORDER BY node, name"
                       ).fetchall()
    known = {node for node, _, _, _ in rows}
    for m in extra:  # "this is mine" for an author with no other mention here
        node = _node_of(m.mention_id, claimed)
        if node not in known:
            rows.append((node, m.name, None, 1))
            known.add(node)
    light = [Mention(mention_id=str(i), name=name) for i, (_, name, _, _) in enumerate(rows)]
    uf = _UnionFind(len(rows))
    first_of: dict[tuple[str, str], int] = {}
    for i, (node, _, orcid, _) in enumerate(rows):
        for key in (("node", node), ("orcid", _orcid(orcid)) if orcid else None):
            if key is not None:
                uf.union(first_of.setdefault(key, i), i)
    for pair in plan.must_link:  # a correction joins blocks: they must go to the engine together
        ends = [first_of.get(("node", _node_of(mid, claimed))) for mid in pair]
        if None not in ends:
            uf.union(*ends)
    chunks: list[set[str]] = []
    size = chunk_mentions  # start a new chunk at the first block
    settled_nodes: dict[str, int] = {}
    n_settled = 0
    oversized: list[tuple[list[str], int]] = []  # (the block's name keys, its mentions) of each block not scored
    for block in blocks(light, uf):
        nodes = {rows[r][0] for r in block}
        firm_groups = {uf.find(r) for r in block}
        if len(firm_groups) == 1 and not nodes & constrained:
            settled_nodes.update((node, n_settled) for node in nodes)
            n_settled += 1
            continue
        mentions = sum(rows[r][3] for r in block)
        if mentions > max_block and not nodes & constrained:
            # Too big to score (the engine's time and memory grow faster than the block): each firm group is one
            # person, as its source ids say; a bare name on its own.
            group_number = {g: n_settled + i for i, g in enumerate(sorted(firm_groups))}
            settled_nodes.update((rows[r][0], group_number[uf.find(r)]) for r in block)
            n_settled += len(group_number)
            oversized.append((sorted({block_key(parse_name(rows[r][1])) for r in block}), mentions))
            continue
        if size >= chunk_mentions:
            chunks.append(set())
            size = 0
        chunks[-1] |= nodes
        size += mentions
    _record_oversized(con, oversized, max_block)
    return chunks, settled_nodes


# How many unscored blocks meta lists by name (persons_unscored_blocks): the profile of a person in one of them
# says so. Past it, the count in persons_unscored still says how many there were.
MAX_LISTED_UNSCORED_BLOCKS = 10_000


def _record_oversized(con: duckdb.DuckDBPyConnection, oversized: list[tuple[list[str], int]], max_block: int) -> None:
    """Say in the log and the store's meta table how many name blocks were too big to score (persons_unscored,
    a sentence) and which (persons_unscored_blocks, JSON: the blocks' name keys, names.block_key, and mentions),
    so that a user, and each profile concerned, knows which persons rest on source ids alone. Both keys are gone
    after a build that scored every block."""
    # meta is a view of the input when the Spark build runs this step in a DuckDB on its driver: nothing to note
    has_meta = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'meta'").fetchall()[0][0] > 0
    if has_meta:
        con.execute("DELETE FROM meta WHERE key IN ('persons_unscored', 'persons_unscored_blocks')")
    if not oversized:
        return
    count, mentions = len(oversized), sum(n for _, n in oversized)
    value = (f"{count:,} name block{'s' if count > 1 else ''} ({mentions:,} mentions) of more than "
             f"{max_block:,} mentions {'were' if count > 1 else 'was'} not scored: each source id or ORCID there "
             "is one person, and each bare name")
    log.warning("persons: %s", value)
    if has_meta:
        listed = sorted(oversized, key=lambda block: (-block[1], block[0]))[:MAX_LISTED_UNSCORED_BLOCKS]
        which = json.dumps({"max_block": max_block, "blocks": [{"keys": keys, "mentions": n} for keys, n in listed]})
        con.execute("INSERT INTO meta VALUES ('persons_unscored', ?), ('persons_unscored_blocks', ?)", [value, which])


def _settled_table(con: duckdb.DuckDBPyConnection, settled_nodes: dict[str, int]) -> None:
    """The temporary table _settled_mentions(work_id, author_id, name, orcid, block): every mention of a
    settled block, its ORCID reduced to the bare identifier."""
    con.register("_settled", pd.DataFrame({"node": pd.Series(list(settled_nodes), dtype=object),
                                           "block": pd.Series(list(settled_nodes.values()), dtype="int64")}))
    try:
        con.execute("""CREATE OR REPLACE TEMP TABLE _settled_mentions AS
                       SELECT m.work_id, m.author_id, m.name,
                              CASE WHEN m.orcid <> '' THEN regexp_extract(m.orcid, '[^/]*$') END AS orcid, s.block
                       FROM _mention_nodes m JOIN _settled s USING (node)""")
    finally:
        con.unregister("_settled")


def _write_settled(con: duckdb.DuckDBPyConnection, settled_nodes: dict[str, int], seq: int, path: str) -> None:
    """Every mention of a settled block into the Parquet file ``path`` (CLUSTERED_SCHEMA): the block's cluster
    id is the engine's (cluster_id_for: "p" + sha1 of its smallest mention id), its mentions listed in
    (work_id, author_id) order from ``seq`` on."""
    _settled_table(con, settled_nodes)
    con.execute(f"""COPY (SELECT work_id, author_id,
                                 'p' || substr(sha1(min(work_id || chr(9) || author_id)
                                                    OVER (PARTITION BY block)), 1, 16) AS cluster,
                                 name, orcid,
                                 CAST({int(seq)} + row_number() OVER (ORDER BY work_id, author_id) AS BIGINT) AS seq
                          FROM _settled_mentions) TO {sql_string(path)} (FORMAT parquet)""")


class ChunkCorrections(NamedTuple):
    """What the corrections add to one chunk of the engine: "this is mine" mentions, must- and cannot-links."""

    extra: list[Mention]
    must_link: list[tuple[str, str]]
    cannot_link: list[tuple[str, str]]


# How the engine's chunks are scored: (connection, its lock, each chunk's corrections, workers) -> each chunk's
# clustered rows (_score_chunk's table), in chunk order. The chunks' rows are in the tables _prepare_chunk_reads
# made (_chunk_rows reads one, ALL_CHUNK_ROWS_SQL all); the lock must be held around any use of the connection.
ChunkScorer = Callable[[duckdb.DuckDBPyConnection, threading.Lock, list[ChunkCorrections], "int | None"],
                       Iterator[pa.Table]]


def score_chunks_in_processes(con: duckdb.DuckDBPyConnection, con_lock: threading.Lock,
                              corrections: list[ChunkCorrections], workers: int | None) -> Iterator[pa.Table]:
    """The default ChunkScorer: worker processes on this machine (``workers``, default ``engine_workers``), the
    next chunk's rows read while the pool scores."""

    def rows_of(chunk):
        with con_lock:
            return _chunk_rows(con, chunk)

    jobs = ((rows_of(i), *c) for i, c in enumerate(corrections))
    workers = engine_workers(len(corrections)) if workers is None else workers
    return map_in_processes(_score_chunk, jobs, workers)


def compute_persons(con: duckdb.DuckDBPyConnection, chunk_mentions: int | None = None,
                    workers: int | None = None, on_chunk: Callable[[int, int], None] | None = None,
                    max_block: int | None = None, score_chunks: ChunkScorer | None = None) -> int:
    """Write person_mentions, persons and person_authorships (see the module docstring); ``workers``: processes
    that score the engine's chunks (default ``engine_workers``); on_chunk(done, total) reports progress; blocks of
    more than ``max_block`` mentions are not scored (MAX_BLOCK_MENTIONS); ``score_chunks``: where the chunks are
    scored (default ``score_chunks_in_processes``; the Spark build passes its executors'). Returns the number of
    persons."""
    max_block = MAX_BLOCK_MENTIONS if max_block is None else max_block  # read at call time: tests lower it
    plan = plan_corrections(con, _MentionsOfAuthor(con))
    extra = plan.extra_mentions(con)
    claimed = set(con.execute("SELECT work_id, author_id FROM author_claims").fetchall())
    # Every mention's cluster goes to a Parquet file here as soon as its chunk is scored: Python never holds more
    # than a chunk's results (a 100M-edge store's 26.8M engine mentions, held as dicts, took 22 GB). Not to a
    # DuckDB table: appended to chunk by chunk inside the build's transaction, a temporary table kept its strings
    # in this process's heap until the transaction ended, dropped or not (2.3 GB at 100M citations, through every
    # later step of the build; measured).
    scratch = tempfile.mkdtemp(prefix="scholarlens-persons-", dir=_scratch_parent(con))
    try:
        _cluster_into(con, scratch, plan, claimed, extra, chunk_mentions or CHUNK_MENTIONS, max_block, workers,
                      on_chunk, score_chunks)
        con.execute(f"CREATE OR REPLACE TEMP VIEW _clustered AS SELECT {', '.join(CLUSTERED_SCHEMA.names)} "
                    f"FROM read_parquet({sql_string(scratch + '/*.parquet')})")
        return _write_persons(con, plan)
    finally:
        con.execute("DROP VIEW IF EXISTS _clustered")
        for table in ("_clusters", "_person_of_cluster"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        shutil.rmtree(scratch, ignore_errors=True)


def _cluster_into(con: duckdb.DuckDBPyConnection, scratch: str, plan, claimed: set[tuple[str, str]],
                  extra: list[Mention], chunk_mentions: int, max_block: int, workers: int | None,
                  on_chunk: Callable[[int, int], None] | None, score_chunks: ChunkScorer | None) -> None:
    """Every mention's cluster (CLUSTERED_SCHEMA) into Parquet files in ``scratch``: the engine's chunks, one file
    each as they are scored, and the settled blocks in one more."""
    try:
        chunks, settled_nodes = _plan_blocks(con, plan, claimed, extra, chunk_mentions, max_block)

        def touches(pairs, nodes):  # the corrections' pairs a chunk can use, not all of them to every worker
            return [p for p in pairs if _node_of(p[0], claimed) in nodes or _node_of(p[1], claimed) in nodes]

        # A scorer may read the next chunk's rows in another thread while this one writes results; a DuckDB
        # connection refuses a second concurrent call, so the two take turns.
        con_lock = threading.Lock()
        _prepare_chunk_reads(con, chunks)
        corrections = [ChunkCorrections([m for m in extra if _node_of(m.mention_id, claimed) in nodes],
                                        touches(plan.must_link, nodes), touches(plan.cannot_link, nodes))
                       for nodes in chunks]
        seq = 0
        scored = (score_chunks or score_chunks_in_processes)(con, con_lock, corrections, workers)
        for done, clustered in enumerate(scored, 1):
            # seq runs on across chunks: the engine's order of a cluster's mentions breaks name ties
            clustered = clustered.set_column(clustered.schema.get_field_index("seq"), "seq",
                                             pc.add(clustered.column("seq"), pa.scalar(seq, pa.int64())))
            pq.write_table(clustered.select(CLUSTERED_SCHEMA.names).cast(CLUSTERED_SCHEMA),
                           f"{scratch}/chunk-{done:06d}.parquet")
            seq += clustered.num_rows
            if on_chunk:
                on_chunk(done, len(chunks))
        # Settled blocks stay in SQL: one person each, whatever their size, at no Python cost per mention.
        with con_lock:
            _write_settled(con, settled_nodes, seq, f"{scratch}/settled.parquet")
    finally:
        _drop(con, ("_mention_nodes", "_settled_mentions") + _CHUNK_READ_TABLES)


def _scratch_parent(con: duckdb.DuckDBPyConnection) -> str | None:
    """Where the step's scratch files go: DuckDB's own temporary directory (beside the store, where it spills),
    made if need be; the system's when DuckDB has none or a relative one (an in-memory database's is ".tmp", in
    whatever the working directory is)."""
    directory = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    if not directory or not os.path.isabs(directory):
        return None
    os.makedirs(directory, exist_ok=True)
    return directory


# What every mention's person is made from: its cluster, its printed name and ORCID, and its place in the engine's
# listing of the cluster (seq).
CLUSTERED_SCHEMA = pa.schema([("work_id", pa.string()), ("author_id", pa.string()), ("cluster", pa.string()),
                              ("name", pa.string()), ("orcid", pa.string()), ("seq", pa.int64())])

_STRENGTH_SQL = "CASE split_part(author_id, ':', 1) " + " ".join(
    f"WHEN '{scheme}' THEN {i}" for i, scheme in enumerate(ID_SCHEMES_BY_STRENGTH)
) + f" ELSE {len(ID_SCHEMES_BY_STRENGTH)} END"

# One row per cluster: its size, author ids, anchor (the strongest kind of id, then the most mentions, then the
# smallest), the mentions of its anchor, the smallest ORCID, and its name: the most frequent non-empty one, ties to
# the one the engine listed first (as Counter.most_common over its mentions).
_CLUSTERS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _clusters AS
WITH authors AS (
    SELECT cluster, author_id, count(*) AS n, {_STRENGTH_SQL} AS strength FROM _clustered GROUP BY cluster, author_id),
anchors AS (
    SELECT cluster, author_id AS anchor, n AS anchor_mentions FROM authors
    QUALIFY row_number() OVER (PARTITION BY cluster ORDER BY strength, n DESC, author_id) = 1),
author_lists AS (
    SELECT cluster, list(author_id ORDER BY author_id) AS author_ids FROM authors GROUP BY cluster),
names AS (
    SELECT cluster, name FROM (
        SELECT cluster, name, count(*) AS n, min(seq) AS first FROM _clustered WHERE name <> '' GROUP BY cluster, name)
    QUALIFY row_number() OVER (PARTITION BY cluster ORDER BY n DESC, first) = 1),
sizes AS (
    SELECT cluster, count(*) AS mentions, min(nullif(orcid, '')) AS orcid FROM _clustered GROUP BY cluster)
SELECT s.cluster, s.mentions, s.orcid, n.name, a.anchor, a.anchor_mentions, l.author_ids
FROM sizes s JOIN anchors a USING (cluster) JOIN author_lists l USING (cluster) LEFT JOIN names n USING (cluster)
"""


def _write_persons(con: duckdb.DuckDBPyConnection, plan) -> int:
    """person_mentions, persons and person_authorships from every mention's cluster (temporary table _clustered);
    returns the number of persons."""
    con.execute(_CLUSTERS_SQL)
    _person_of_cluster(con)
    # Corrections name few mentions: which persons they are about, and the ORCIDs they claim, are read here.
    touched = pd.DataFrame([(cid, *mid.split(SEP, 1)) for cid, mid in plan.touched],
                           columns=["correction_id", "work_id", "author_id"], dtype=object)
    claims = pd.DataFrame([(*mid.split(SEP, 1), orcid) for mid, orcid in plan.orcid_claims()],
                          columns=["work_id", "author_id", "orcid"], dtype=object)
    con.register("_touched", touched)
    con.register("_claims", claims)
    try:
        about = con.execute("""SELECT p.person_id, list(DISTINCT t.correction_id ORDER BY t.correction_id)
                               FROM _touched t JOIN _clustered c USING (work_id, author_id)
                               JOIN _person_of_cluster p USING (cluster) GROUP BY p.person_id""").fetchall()
        # a person with several claims takes the one of its smallest mention id (orcid_claims)
        claimed = con.execute("""SELECT c.cluster, arg_min(k.orcid, k.work_id || chr(9) || k.author_id) FROM _claims k
                                 JOIN _clustered c USING (work_id, author_id) GROUP BY c.cluster""").fetchall()
    finally:
        con.unregister("_touched")
        con.unregister("_claims")
    active = {cid for cid, _, _, _, is_active in plan.corrections if is_active}
    curation = pa.table({
        "person_id": pa.array([pid for pid, _ in about], pa.string()),
        "curated": pa.array([bool(active.intersection(ids)) for _, ids in about], pa.bool_()),
        "correction_ids": pa.array([[int(i) for i in ids] for _, ids in about], pa.list_(pa.int32())),
    })
    claimed_orcids = pa.table({"cluster": pa.array([c for c, _ in claimed], pa.string()),
                               "orcid": pa.array([o for _, o in claimed], pa.string())})
    con.register("_curation", curation)
    con.register("_claimed_orcids", claimed_orcids)
    try:
        con.execute("""CREATE OR REPLACE TABLE person_mentions AS
                       SELECT c.work_id, c.author_id, p.person_id
                       FROM _clustered c JOIN _person_of_cluster p USING (cluster)""")
        con.execute("""CREATE OR REPLACE TABLE persons AS
                       SELECT p.person_id, coalesce(k.name, p.person_id) AS name, coalesce(o.orcid, k.orcid) AS orcid,
                              k.anchor AS anchor_author_id, CAST(k.author_ids AS VARCHAR[]) AS author_ids,
                              k.mentions, coalesce(u.curated, false) AS curated,
                              CAST(coalesce(u.correction_ids, []) AS INTEGER[]) AS correction_ids
                       FROM _clusters k JOIN _person_of_cluster p USING (cluster)
                       LEFT JOIN _claimed_orcids o USING (cluster) LEFT JOIN _curation u USING (person_id)
                       ORDER BY p.person_id""")
    finally:
        con.unregister("_curation")
        con.unregister("_claimed_orcids")
    con.execute(
        """CREATE OR REPLACE TABLE person_authorships AS
           SELECT pm.work_id, pm.person_id AS author_id, min(a.position) AS position,
                  arg_min(coalesce(a.raw_name, ca.raw_name), coalesce(a.position, 1000000)) AS raw_name,
                  arg_min(a.raw_affiliation, coalesce(a.position, 1000000)) AS raw_affiliation
           FROM person_mentions pm
           LEFT JOIN authorships a ON a.work_id = pm.work_id AND a.author_id = pm.author_id
           LEFT JOIN correction_authorships ca ON ca.work_id = pm.work_id AND ca.author_id = pm.author_id
           GROUP BY pm.work_id, pm.person_id"""
    )
    return con.execute("SELECT count(*) FROM persons").fetchall()[0][0]


def _person_of_cluster(con: duckdb.DuckDBPyConnection) -> None:
    """The temporary table _person_of_cluster(cluster, person_id): each cluster's person id, stable across
    rebuilds. Its claims on ids: the ids its mentions had at the last build (backed by how many of them), and its
    anchor author id (backed by the anchor's mentions). Claims are settled greedily, previous ids first, then the
    best-backed, then by id; a cluster left without an id (every id it claims was taken by a cluster with a better
    claim) gets its engine cluster id, or that id and its size if even that is taken."""
    votes = ""
    if _has_previous_build(con):
        votes = """UNION ALL
                   SELECT 2, count(*), p.person_id, c.cluster, NULL FROM _clustered c
                   JOIN person_mentions p USING (work_id, author_id) GROUP BY p.person_id, c.cluster"""
    # every cluster has exactly one anchor claim (kind 1), which carries its size for the last resort below
    claims = con.sql(f"""SELECT 1 AS kind, anchor_mentions AS n, anchor AS pid, cluster, mentions FROM _clusters
                         {votes} ORDER BY kind DESC, n DESC, pid, cluster""").to_arrow_table()
    pids, clusters = claims.column("pid").to_pylist(), claims.column("cluster").to_pylist()
    person_of: dict[str, str] = {}
    taken: set[str] = set()
    for pid, cid in zip(pids, clusters):
        if cid in person_of or pid in taken:
            continue
        person_of[cid] = pid
        taken.add(pid)
    for cid, size in zip(clusters, claims.column("mentions").to_pylist()):
        if size is not None and cid not in person_of:
            person_of[cid] = cid if cid not in taken else f"{cid}-{size}"
    del claims, pids, clusters
    table = pa.table({"cluster": pa.array(list(person_of), pa.string()),
                      "person_id": pa.array(list(person_of.values()), pa.string())})
    del person_of, taken
    con.register("_person_map", table)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _person_of_cluster AS SELECT * FROM _person_map")
    finally:
        con.unregister("_person_map")


def engine_workers(chunks: int) -> int:
    """Processes to score engine chunks in: one per core, no more than memory holds (ENGINE_WORKER_BYTES
    each) or than there are chunks; 1 means in this process."""
    return worker_count(chunks, ENGINE_WORKER_BYTES)


@cyclic_gc_paused()
def _score_chunk(rows: pa.Table, extra: list[Mention], must_link: list[tuple[str, str]],
                 cannot_link: list[tuple[str, str]]) -> pa.Table:
    """One chunk through the engine: its mentions' clusters as Arrow columns (CLUSTERED_SCHEMA), in the
    engine's order, small to send back and written to Parquet as they are. Python's cyclic collector is paused: a
    chunk makes millions of small objects (gcpause says why)."""
    mentions = mentions_from_rows(rows) + extra
    ids = {m.mention_id for m in mentions}
    must = [p for p in must_link if p[0] in ids or p[1] in ids]
    cannot = [p for p in cannot_link if p[0] in ids and p[1] in ids]
    assigned = disambiguate(mentions, must_link=must, cannot_link=cannot)
    # each mention's columns in ``mentions``' order (the rows, then the extras), then taken in the engine's order
    position = {m.mention_id: p for p, m in enumerate(mentions)}
    order = pa.array(np.fromiter((position[mid] for mid in assigned), dtype=np.int64, count=len(assigned)))
    extra_ids = [m.mention_id.split(SEP, 1) for m in extra]
    work_ids = pa.concat_arrays([rows.column("work_id").combine_chunks().cast(pa.string()),
                                 pa.array([w for w, _ in extra_ids], pa.string())])
    author_ids = pa.concat_arrays([rows.column("author_id").combine_chunks().cast(pa.string()),
                                   pa.array([a for _, a in extra_ids], pa.string())])
    return pa.table({
        "work_id": work_ids.take(order), "author_id": author_ids.take(order),
        "cluster": pa.array(list(assigned.values()), pa.string()),
        "name": pa.array([m.name for m in mentions], pa.string()).take(order),
        "orcid": pa.array([m.source_ids.get("orcid") for m in mentions], pa.string()).take(order),
        "seq": pa.array(range(len(assigned)), pa.int64()),
    })


def _node_of(mid: str, claimed: set[tuple[str, str]]) -> str:
    work_id, author_id = mid.split(SEP, 1)
    return author_id if not author_id.startswith("name:") or (work_id, author_id) in claimed else mid


def _has_previous_build(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'person_mentions'"
                       ).fetchall()[0][0] > 0
