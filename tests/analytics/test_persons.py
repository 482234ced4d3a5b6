"""The persons step: name blocks of one firm group are settled without the engine, exactly as the engine would
settle them; the rest is scored in chunks of whole blocks, so memory is bounded by the chunk."""

import json
import os
import shutil
from collections import Counter, defaultdict
from types import SimpleNamespace

from scholarlens.analytics import persons
from scholarlens.identity.cluster import disambiguate
from scholarlens.identity.names import block_key, parse_name
from scholarlens.store import connect

NO_CORRECTIONS = SimpleNamespace(must_link=[], cannot_link=[], touched=[])


def _copy(sample_store, tmp_path, name="s.duckdb"):
    store = tmp_path / name
    shutil.copy(sample_store, store)
    return store


def test_settled_blocks_are_what_the_engine_makes_of_them(sample_store, tmp_path):
    con = connect(_copy(sample_store, tmp_path))
    try:
        chunks, settled = persons._split_blocks(con, NO_CORRECTIONS, set(), [], chunk_mentions=10**9)
        everything = persons.load_mentions(con)
        engine_part = persons.load_mentions(con, set().union(*chunks))
    finally:
        con.close()
    assert len(chunks) == 1  # a store below the chunk size is scored in one go
    settled_mids = [persons.mention_id(w, a) for block in settled for w, a, _, _ in block]
    # every mention is in exactly one of the two parts
    assert len(settled) > 100 and len(engine_part) > 100
    assert sorted(settled_mids + [m.mention_id for m in engine_part]) == sorted(m.mention_id for m in everything)

    assigned = disambiguate(everything)  # the engine over the whole store, as before the shortcut
    sizes = Counter(assigned.values())
    for block in settled:
        clusters = {assigned[persons.mention_id(w, a)] for w, a, _, _ in block}
        assert len(clusters) == 1, block[:3]
        assert sizes[clusters.pop()] == len(block)  # and nobody else's mention is in that person


def test_a_correction_sends_its_block_to_the_engine(sample_store, tmp_path):
    con = connect(_copy(sample_store, tmp_path))
    try:
        _, settled = persons._split_blocks(con, NO_CORRECTIONS, set(), [], chunk_mentions=10**9)
        work, author = settled[0][0][:2]
        about = SimpleNamespace(must_link=[], cannot_link=[], touched=[(1, persons.mention_id(work, author))])
        chunks, settled_after = persons._split_blocks(con, about, set(), [], chunk_mentions=10**9)
    finally:
        con.close()
    assert author in set().union(*chunks)
    assert len(settled_after) == len(settled) - 1


def _persons_of(store, chunk_mentions):
    con = connect(store)
    try:
        persons.compute_persons(con, chunk_mentions)
        rows = con.execute("SELECT work_id, author_id, person_id FROM person_mentions").fetchall()
    finally:
        con.close()
    groups = defaultdict(set)
    for work, author, person in rows:
        groups[person].add((work, author))
    return rows, {frozenset(g) for g in groups.values()}


def test_small_chunks_keep_every_firm_link_and_nearly_every_person(sample_store, tmp_path):
    """Chunks hold whole name blocks, so nothing the engine could join is split apart; only the document
    frequencies differ per chunk, which moves a borderline decision at most."""
    _, whole = _persons_of(_copy(sample_store, tmp_path, "a.duckdb"), 10**9)
    rows, chunked = _persons_of(_copy(sample_store, tmp_path, "b.duckdb"), 50)
    assert len(rows) == sum(len(g) for g in chunked) == sum(len(g) for g in whole)  # each mention once
    person_of_author = defaultdict(set)
    for _, author, person in rows:
        if not author.startswith("name:"):
            person_of_author[author].add(person)
    assert all(len(p) == 1 for p in person_of_author.values())  # a source id is one person
    assert len(whole & chunked) >= 0.995 * len(whole)


def _engine_rows_by_hand(con) -> dict[tuple[str, str], dict]:
    """What the engine reads of each mention, from the store's tables in Python: the oracle for the SQL."""
    authors = {a: (name, orcid)
               for a, name, orcid in con.execute("SELECT author_id, name, orcid FROM authors").fetchall()}
    works = {w[0]: w[1:] for w in con.execute("SELECT work_id, venue, year, title, abstract FROM works").fetchall()}
    claims = set(con.execute("SELECT work_id, author_id FROM author_claims").fetchall())
    orgs = defaultdict(set)
    for work, author, org in con.execute("SELECT ai.work_id, ai.author_id, i.name FROM authorship_institutions ai "
                                         "JOIN institutions i USING (institution_id)").fetchall():
        orgs[work, author].add(org)
    authorships = [a for a in con.execute("SELECT work_id, author_id, position, raw_name, raw_affiliation "
                                          "FROM authorships").fetchall() if a[1] in authors and a[0] in works]
    byline = defaultdict(list)
    for work, author, position, raw, _ in authorships:
        byline[work].append((position is None, position or 0, author, raw if raw is not None else authors[author][0]))
    rows = {}
    for work, author, _, raw, affiliation in authorships:
        venue, year, title, abstract = works[work]
        org = affiliation if affiliation is not None else ("; ".join(sorted(orgs[work, author])) or None)
        rows[work, author] = dict(
            work_id=work, author_id=author, name=raw if raw is not None else authors[author][0],
            orcid=authors[author][1], org=org, venue=venue, year=year, title=title, abstract=abstract,
            names=[n for *_, n in sorted(byline[work])], claimed=(work, author) in claims)
    return rows


def test_chunk_rows_are_what_the_store_holds_for_each_mention(sample_store, tmp_path):
    """compute_persons reads each chunk from tables made once (_prepare_chunk_reads): every chunk's rows are the
    store's, worked out by hand in Python, in (work, author) order, on a store with raw names, organisations,
    ORCIDs and a source's claimed works; and mention_rows for a chunk's nodes reads the same."""
    con = connect(_copy(sample_store, tmp_path))
    try:
        claimed = set(con.execute("SELECT work_id, author_id FROM author_claims").fetchall())
        chunks, _ = persons._plan_blocks(con, NO_CORRECTIONS, claimed, [], 40)
        persons._prepare_chunk_reads(con, chunks)
        read = [persons._chunk_rows(con, i).to_pylist() for i in range(len(chunks))]
        persons._drop(con, persons._CHUNK_READ_TABLES)
        alone = persons.mention_rows(con, chunks[2]).to_pylist()
        expected = _engine_rows_by_hand(con)
    finally:
        con.close()
    assert len(chunks) >= 5
    for nodes, rows in zip(chunks, read):
        keys = sorted(k for k in expected if persons._node_of(persons.mention_id(*k), claimed) in nodes)
        assert rows == [expected[k] for k in keys] and rows
    assert alone == read[2]
    everything = [r for rows in read for r in rows]
    assert any(r["org"] for r in everything) and any(r["orcid"] for r in everything)
    assert any(r["claimed"] for r in everything) and any(len(r["names"]) > 1 for r in everything)


def _tables(store, chunk_mentions, workers):
    con = connect(store)
    try:
        chunks, _ = persons._split_blocks(con, NO_CORRECTIONS, set(), [], chunk_mentions)
        progress = []
        persons.compute_persons(con, chunk_mentions, workers=workers, on_chunk=lambda *p: progress.append(p))
        assert progress == [(k, len(chunks)) for k in range(1, len(chunks) + 1)]  # each chunk reported, in order
        return len(chunks), {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                             for t in ("person_mentions", "persons", "person_authorships")}
    finally:
        con.execute("DROP TABLE IF EXISTS _mention_nodes")
        con.close()


def test_chunks_scored_in_worker_processes_give_the_same_tables(sample_store, tmp_path):
    """Two worker processes score the chunks (their rows sent as Arrow) exactly as this process does."""
    n_chunks, here = _tables(_copy(sample_store, tmp_path, "a.duckdb"), 50, workers=1)
    _, pooled = _tables(_copy(sample_store, tmp_path, "b.duckdb"), 50, workers=2)
    assert n_chunks >= 3  # more chunks than workers: the pool queues and keeps them in order
    assert pooled == here
    assert len(here["person_mentions"]) > 0


def test_the_steps_scratch_files_are_beside_the_store_and_gone_after_it_even_when_it_fails(sample_store, tmp_path):
    """Each chunk's clusters go to a Parquet file in DuckDB's temporary directory (beside the store), read back
    when the persons are written; the files are removed when the step ends, also when a chunk fails, and the
    tables are what they were."""
    import pytest

    con = connect(_copy(sample_store, tmp_path))
    scratch_parent = tmp_path / "s.duckdb.tmp"
    seen = []

    def failing_after_two(con_, lock, corrections, workers):
        for done, table in enumerate(persons.score_chunks_in_processes(con_, lock, corrections, 1), 1):
            seen.extend(str(p) for p in scratch_parent.glob("scholarlens-persons-*/*.parquet"))
            if done == 3:
                raise RuntimeError("a chunk failed")
            yield table

    try:
        persons.compute_persons(con, chunk_mentions=50)
        before = con.execute("SELECT count(*), count(DISTINCT person_id) FROM person_mentions").fetchall()
        assert before[0][0] > 0
        assert not list(scratch_parent.glob("scholarlens-persons-*"))
        with pytest.raises(RuntimeError, match="a chunk failed"):
            persons.compute_persons(con, chunk_mentions=50, score_chunks=failing_after_two)
        assert len(seen) >= 3 and all(s.endswith(".parquet") for s in seen)  # the first two chunks' files
        assert not list(scratch_parent.glob("scholarlens-persons-*"))
        assert con.execute("SELECT count(*), count(DISTINCT person_id) FROM person_mentions").fetchall() == before
        assert not con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = '_clustered'").fetchall()[0][0]
    finally:
        con.close()


def test_a_store_in_a_folder_with_a_quote_in_its_name_gets_the_same_persons(sample_store, tmp_path):
    """The scratch files' paths are written into SQL text (a view's read_parquet, a COPY's target): a quote in
    the store's folder name is quoted there, and the persons are those of a store anywhere else."""
    plain = _tables(_copy(sample_store, tmp_path, "a.duckdb"), 50, workers=1)
    quoted_dir = tmp_path / "o'brien"
    quoted_dir.mkdir()
    assert _tables(_copy(sample_store, quoted_dir, "b.duckdb"), 50, workers=1) == plain


def test_blocks_too_big_to_score_keep_their_source_ids_and_say_so(sample_store, tmp_path):
    """Above max_block mentions a name block is not scored: each source id (or ORCID) is one person, nothing is
    lost, the store says how many blocks, and a block a correction is about still goes to the engine."""
    con = connect(_copy(sample_store, tmp_path))
    try:
        scored_chunks, _ = persons._split_blocks(con, NO_CORRECTIONS, set(), [], 10**9)
        engine_rows = persons.mention_rows(con, scored_chunks[0])
        engine_mentions = engine_rows.num_rows
        engine_keys = {block_key(parse_name(m.name)) for m in persons.mentions_from_rows(engine_rows)}
        con.execute("DROP TABLE IF EXISTS _mention_nodes")
        persons.compute_persons(con, max_block=1)
        rows = con.execute("SELECT work_id, author_id, person_id FROM person_mentions").fetchall()
        note = con.execute("SELECT value FROM meta WHERE key = 'persons_unscored'").fetchall()
        listed = json.loads(
            con.execute("SELECT value FROM meta WHERE key = 'persons_unscored_blocks'").fetchall()[0][0])
        mentions = con.execute("SELECT count(*) FROM authorships").fetchall()[0][0]
        orcid_of = dict(con.execute("SELECT author_id, orcid FROM authors WHERE orcid <> ''").fetchall())
        claimed = set(con.execute("SELECT work_id, author_id FROM author_claims").fetchall())
        chunks, _ = persons._split_blocks(con, NO_CORRECTIONS, set(), [], 10**9, max_block=1)
        con.execute("DROP TABLE IF EXISTS _mention_nodes")
        corrected_work, corrected_author = next((w, a) for w, a, _ in rows if a in set().union(*scored_chunks))
        about = SimpleNamespace(must_link=[], cannot_link=[],
                                touched=[(1, persons.mention_id(corrected_work, corrected_author))])
        corrected, _ = persons._split_blocks(con, about, set(), [], 10**9, max_block=1)
        con.execute("DROP TABLE IF EXISTS _mention_nodes")
        persons.compute_persons(con)  # with the default limit every block is scored again
        note_after = con.execute("SELECT value FROM meta WHERE key LIKE 'persons_unscored%'").fetchall()
    finally:
        con.close()
    assert len(scored_chunks) == 1 and chunks == []  # what the engine scored before is now settled
    assert len(rows) == mentions  # every mention kept, once
    firm_of_person = defaultdict(set)
    for work, author, person in rows:
        firm = not author.startswith("name:") or (work, author) in claimed  # a bare name a source listed is firm
        firm_of_person[person].add(orcid_of.get(author) or (author if firm else (work, author)))
    assert all(len(firm) == 1 for firm in firm_of_person.values())  # nobody joins two source ids
    assert len(firm_of_person) == len(set().union(*firm_of_person.values()))  # nor is one source id split
    (text,), = note
    assert f"({engine_mentions:,} mentions)" in text and "not scored" in text
    # which blocks, for their profiles: every name the engine would have scored, each block's mentions
    assert listed["max_block"] == 1 and set().union(*(b["keys"] for b in listed["blocks"])) == engine_keys
    assert sum(b["mentions"] for b in listed["blocks"]) == engine_mentions
    assert note_after == []
    assert corrected_author in set().union(*corrected)  # a correction's block is still scored


def test_engine_workers_never_exceed_chunks_or_cores():
    assert persons.engine_workers(1) == 1
    assert 1 <= persons.engine_workers(10**6) <= (os.cpu_count() or 1)


def test_a_settled_person_is_named_by_its_most_frequent_name_ties_to_the_first_work(tmp_path):
    """Blocks settled in SQL name their person as the engine path would (Counter.most_common over the mentions
    in (work, author) order): two names twice each, the one on the first work wins, not the alphabetically
    first; the id is the engine's cluster id rule and stays across a rebuild."""
    import datetime as dt

    from scholarlens.identity.cluster import cluster_id_for
    from scholarlens.records import Authorship, Provenance, Work
    from scholarlens.store import write_records

    printed = {"doi:10.1/w1": "Alice Smith", "doi:10.1/w2": "A. Smith", "doi:10.1/w3": "A. Smith",
               "doi:10.1/w4": "Alice Smith"}
    works = [Work(keys=[key], title=f"Paper {key}", year=2020, publication_date=dt.date(2020, 1, 1),
                  provenance=Provenance("openalex", key),
                  authorships=[Authorship(author_key="openalex:A1", position=1, raw_name=name)])
             for key, name in printed.items()]
    con = connect(tmp_path / "s.duckdb")
    try:
        write_records(con, works)
        chunks, settled = persons._split_blocks(con, NO_CORRECTIONS, set(), [], chunk_mentions=10**9)
        con.execute("DROP TABLE IF EXISTS _mention_nodes")
        assert chunks == [] and len(settled) == 1  # one source id: settled without the engine
        for _ in range(2):  # a first build, then a rebuild voting with the previous ids
            persons.compute_persons(con)
            (person_id, name, mentions), = con.execute("SELECT person_id, name, mentions FROM persons").fetchall()
            assert (person_id, name, mentions) == ("openalex:A1", "Alice Smith", 4)
        # the settled block's cluster id, made in SQL, is the engine's cluster_id_for of its mentions
        mids = [persons.mention_id(w, a)
                for w, a in con.execute("SELECT work_id, author_id FROM person_mentions").fetchall()]
        _, settled_nodes = persons._plan_blocks(con, NO_CORRECTIONS, set(), [], 10**9)
        settled_file = str(tmp_path / "settled.parquet")
        persons._write_settled(con, settled_nodes, 0, settled_file)
        assert con.execute("SELECT DISTINCT cluster FROM read_parquet(?)", [settled_file]).fetchall() == [
            (cluster_id_for(mids),)]
    finally:
        con.close()


def test_the_co_authors_of_a_work_above_the_engines_limit_are_not_read(sample_store, tmp_path):
    """A work of more than MAX_WORK_AUTHORS authors reaches the engine without its author list (the engine would
    not read it: cluster.prepare); a work at the limit keeps all of it, in byline order."""
    from scholarlens.identity.cluster import MAX_WORK_AUTHORS

    con = connect(_copy(sample_store, tmp_path))
    try:
        for work, size in (("test:at-limit", MAX_WORK_AUTHORS), ("test:above-limit", MAX_WORK_AUTHORS + 1)):
            con.execute("INSERT INTO works (work_id, title, year) VALUES (?, 'A large collaboration', 2020)", [work])
            for k in range(size):
                author = f"name:{work} member {k}"
                con.execute("INSERT INTO authors (author_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
                            [author, f"Member{k} Collab"])
                con.execute("INSERT INTO authorships (work_id, author_id, position) VALUES (?, ?, ?)",
                            [work, author, k])
        rows = persons.mention_rows(con).to_pylist()
    finally:
        con.close()
    names = {(r["work_id"], r["author_id"]): r["names"] for r in rows if r["work_id"].startswith("test:")}
    assert len(names) == 2 * MAX_WORK_AUTHORS + 1  # every mention of both works is read
    at_limit = {tuple(n) for (work, _), n in names.items() if work == "test:at-limit"}
    assert at_limit == {tuple(f"Member{k} Collab" for k in range(MAX_WORK_AUTHORS))}
    assert all(n is None for (work, _), n in names.items() if work == "test:above-limit")
