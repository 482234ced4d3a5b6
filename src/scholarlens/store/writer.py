"""Idempotent writes: records in, rows out, one transaction per batch.

Writing the same records twice leaves the same rows: every table has a primary key and every insert is an
upsert that fills what was missing and never duplicates. Works are matched on any of their external keys (each key
names one work whichever source states it), so a work that OpenAlex and Semantic Scholar both report (same DOI
or arXiv id), or an S2AG line and a Graph API answer (same corpus id), becomes one row carrying every key.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

import duckdb
import pandas as pd

from .matching import EXCLUSIVE_SCHEMES, MATCH_SCHEME, conflicting, exclusive_ids, match_key
from ..records import (
    Author,
    Citation,
    CodeLink,
    Institution,
    Quarantined,
    Record,
    ReportedFigure,
    Work,
)

def normalize_key(key: str) -> str:
    """Canonical form of an external key, so that 'doi:10.1/ABC' and 'doi:10.1/abc' meet."""
    scheme, _, value = key.partition(":")
    scheme = scheme.strip().lower()
    value = value.strip()
    if scheme == "doi":
        value = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", value, flags=re.I).lower()
    elif scheme == "arxiv":
        value = re.sub(r"^(https?://arxiv\.org/abs/|arxiv:)", "", value, flags=re.I)
        value = re.sub(r"v\d+$", "", value)  # versions are one work
    return f"{scheme}:{value}"


@dataclass
class WriteSummary:
    counts: Counter = field(default_factory=Counter)
    quarantined: int = 0

    def add(self, other: "WriteSummary") -> None:
        self.counts.update(other.counts)
        self.quarantined += other.quarantined


def _merge_row(into: dict, new: dict) -> None:
    """First non-null value wins; numbers that only grow (cited_by_count) take the larger."""
    for k, v in new.items():
        if v is None:
            continue
        if into.get(k) is None:
            into[k] = v
        elif k == "cited_by_count":
            into[k] = max(into[k], v)


class _Rows:
    """Rows for one table, deduplicated on the primary key before they reach DuckDB
    (DuckDB refuses to upsert the same key twice in one statement)."""

    def __init__(self, pk: tuple[str, ...]):
        self.pk = pk
        self.rows: dict[tuple, dict] = {}

    def add(self, **row) -> None:
        key = tuple(row[c] for c in self.pk)
        if key in self.rows:
            _merge_row(self.rows[key], row)
        else:
            self.rows[key] = row

    def __len__(self) -> int:
        return len(self.rows)


def _column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return dict(rows)


def _upsert(con: duckdb.DuckDBPyConnection, table: str, rows: _Rows, update: dict[str, str] | None,
            *, anti_join: bool = False) -> int:
    """INSERT ... ON CONFLICT: ``update`` maps a column to its SQL on conflict (None: keep the old row).
    ``anti_join``: a table without a primary key (citations): insert only the rows whose key is not there yet."""
    if not rows:
        return 0
    types = _column_types(con, table)
    cols = list(next(iter(rows.rows.values())).keys())
    frame = pd.DataFrame([[r.get(c) for c in cols] for r in rows.rows.values()], columns=cols, dtype=object)
    con.register("_incoming", frame)
    try:
        select = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in cols)
        on_conflict = "DO NOTHING"
        if update:
            on_conflict = "DO UPDATE SET " + ", ".join(f'"{c}" = {expr}' for c, expr in update.items())
        tail = f"ON CONFLICT ({', '.join(rows.pk)}) {on_conflict}"
        if anti_join:
            same = " AND ".join(f't."{c}" = _incoming."{c}"' for c in rows.pk)
            tail = f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {same})"
        con.execute(
            f'INSERT INTO {table} ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
            f"SELECT {select} FROM _incoming {tail}"
        )
    finally:
        con.unregister("_incoming")
    return len(rows)


def _fill(table: str, *cols: str) -> dict[str, str]:
    """Keep what the store has; fill only what it lacks."""
    return {c: f'COALESCE({table}."{c}", excluded."{c}")' for c in cols}


class WorkResolver:
    """Maps external keys to work ids, merging works that turn out to share a DOI, an arXiv id or a source id,
    or (with no identifier against it) the same title, year and first author (see matching.py)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.known: dict[str, str] = {}
        self.merges: dict[str, str] = {}  # absorbed work_id -> surviving work_id
        self.exclusive: dict[str, dict[str, set[str]]] = {}  # work_id -> its DOIs and arXiv ids

    def preload(self, keys: Iterable[str]) -> None:
        wanted = list({k for k in keys if k not in self.known})
        if not wanted:
            return
        frame = pd.DataFrame({"key": wanted})
        self.con.register("_wanted", frame)
        try:
            for key, work_id in self.con.execute(
                "SELECT k.key, k.work_id FROM work_keys k JOIN _wanted w ON k.key = w.key"
            ).fetchall():
                self.known[key] = work_id
            # The identifiers of works found by title, so a match can be refused when they differ.
            for work_id, key in self.con.execute(
                f"""SELECT k2.work_id, k2.key FROM work_keys k1 JOIN _wanted w ON k1.key = w.key
                    JOIN work_keys k2 ON k2.work_id = k1.work_id
                    WHERE k1.key LIKE '{MATCH_SCHEME}:%' AND split_part(k2.key, ':', 1) IN {EXCLUSIVE_SCHEMES}"""
            ).fetchall():
                scheme, _, value = key.partition(":")
                self.exclusive.setdefault(work_id, {}).setdefault(scheme, set()).add(value)
        finally:
            self.con.unregister("_wanted")

    def _final(self, work_id: str) -> str:
        while work_id in self.merges:
            work_id = self.merges[work_id]
        return work_id

    def resolve(self, keys: list[str], match: str | None = None) -> tuple[str, bool]:
        """The work id for a record with these keys, and whether its match key was accepted."""
        found = []
        for k in keys:
            if k in self.known:
                wid = self._final(self.known[k])
                if wid not in found:
                    found.append(wid)
        ids = exclusive_ids(keys)
        for wid in found:
            _union(ids, self.exclusive.get(wid, {}))
        matched = match is not None
        if match is not None and match in self.known:
            other = self._final(self.known[match])
            if other not in found:
                if conflicting(ids, self.exclusive.get(other, {})):
                    matched = False
                else:
                    found.append(other)
                    _union(ids, self.exclusive.get(other, {}))
        work_id = found[0] if found else keys[0]
        for other in found[1:]:
            self.merges[other] = work_id
        for k in keys + ([match] if matched else []):
            self.known[k] = work_id
        self.exclusive[work_id] = ids
        return work_id, matched

    def lookup(self, key: str) -> str | None:
        wid = self.known.get(key)
        return self._final(wid) if wid else None


def _union(into: dict[str, set[str]], other: dict[str, set[str]]) -> None:
    for scheme, values in other.items():
        into.setdefault(scheme, set()).update(values)


def _apply_merges(con: duckdb.DuckDBPyConnection, merges: dict[str, str]) -> None:
    """Fold an absorbed work into the surviving one in every table that refers to works."""
    for absorbed, survivor in merges.items():
        while survivor in merges:
            survivor = merges[survivor]
        con.execute("UPDATE work_keys SET work_id = ? WHERE work_id = ?", [survivor, absorbed])
        for table, pk_rest in (
            ("work_sources", "source"),
            ("authorships", "author_id"),
            ("authorship_institutions", "author_id, institution_id"),
            ("counts_by_year", "year, source"),
            ("code_links", "url"),
            ("author_claims", "author_id"),
        ):
            con.execute(
                f"INSERT INTO {table} SELECT * REPLACE (? AS work_id) FROM {table} WHERE work_id = ? "
                f"ON CONFLICT (work_id, {pk_rest}) DO NOTHING",
                [survivor, absorbed],
            )
            con.execute(f"DELETE FROM {table} WHERE work_id = ?", [absorbed])
        con.execute(
            "INSERT INTO reported SELECT * REPLACE (? AS entity_id) FROM reported WHERE entity='work' AND entity_id = ? "
            "ON CONFLICT DO NOTHING",
            [survivor, absorbed],
        )
        con.execute("DELETE FROM reported WHERE entity='work' AND entity_id = ?", [absorbed])
        old = con.execute("SELECT * FROM works WHERE work_id = ?", [absorbed]).fetchdf()
        if len(old):
            cols = [c for c in old.columns if c != "work_id"]
            # The same rules as an upsert: fill gaps, keep the larger citation count, truncated only if both are.
            merged = {c: f'COALESCE(works."{c}", o."{c}")' for c in cols}
            merged["cited_by_count"] = "GREATEST(works.cited_by_count, o.cited_by_count)"
            merged["authors_truncated"] = "works.authors_truncated AND o.authors_truncated"
            sets = ", ".join(f'"{c}" = {expr}' for c, expr in merged.items())
            con.execute(
                f"UPDATE works SET {sets} FROM (SELECT * FROM works WHERE work_id = ?) o WHERE works.work_id = ?",
                [absorbed, survivor],
            )
            con.execute("DELETE FROM works WHERE work_id = ?", [absorbed])


def write_records(
    con: duckdb.DuckDBPyConnection,
    records: Iterable[Record],
    before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> WriteSummary:
    """Write one batch of records in one transaction: all of it lands, or none of it.

    ``before_commit`` runs inside the same transaction (the pipeline marks a file done there, so a file is
    either fully written and marked, or neither)."""
    records = list(records)
    summary = WriteSummary()
    for r in records:
        if isinstance(r, Work):
            r.keys = [normalize_key(k) for k in r.keys]
            r.references = [normalize_key(k) for k in r.references]
        elif isinstance(r, Author):
            r.work_keys = [normalize_key(k) for k in r.work_keys]
        elif isinstance(r, Citation):
            r.citing_key, r.cited_key = normalize_key(r.citing_key), normalize_key(r.cited_key)
        elif isinstance(r, CodeLink):
            r.work_key = normalize_key(r.work_key)
        elif isinstance(r, ReportedFigure) and r.entity == "work":
            r.entity_key = normalize_key(r.entity_key)

    con.execute("BEGIN TRANSACTION")
    try:
        _write(con, records, summary)
        if before_commit is not None:
            before_commit(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return summary


def _write(con: duckdb.DuckDBPyConnection, records: list[Record], summary: WriteSummary) -> None:
    resolver = WorkResolver(con)
    works = [r for r in records if isinstance(r, Work)]
    matches = [match_key(w) for w in works]
    all_keys = [k for w in works for k in w.keys] + [m for m in matches if m]
    all_keys += [k for r in records if isinstance(r, Author) for k in r.work_keys]
    all_keys += [r.work_key for r in records if isinstance(r, CodeLink)]
    all_keys += [r.entity_key for r in records if isinstance(r, ReportedFigure) and r.entity == "work"]
    resolver.preload(all_keys)

    work_rows = _Rows(("work_id",))
    key_rows = _Rows(("key",))
    source_rows = _Rows(("work_id", "source"))
    author_rows = _Rows(("author_id",))
    stub_author_rows = _Rows(("author_id",))
    authorship_rows = _Rows(("work_id", "author_id"))
    claim_rows = _Rows(("author_id", "work_id"))
    inst_rows = _Rows(("institution_id",))
    ai_rows = _Rows(("work_id", "author_id", "institution_id"))
    citation_rows = _Rows(("citing_key", "cited_key"))
    cby_rows = _Rows(("work_id", "year", "source"))
    code_rows = _Rows(("work_id", "url"))
    reported_rows = _Rows(("entity", "entity_id", "metric", "source"))
    quarantine_rows = _Rows(("origin", "reason"))

    # Resolve every work first: a later record of the batch may merge two works an earlier one named, and
    # every row written below must carry the surviving id.
    resolved = [resolver.resolve(w.keys, m) for w, m in zip(works, matches)]
    for w, m, (first_id, matched) in zip(works, matches, resolved):
        work_id = resolver.lookup(w.keys[0]) or first_id
        for k in w.keys + ([m] if matched else []):
            key_rows.add(key=k, work_id=work_id)
        work_rows.add(
            work_id=work_id,
            title=w.title,
            abstract=w.abstract,
            publication_date=w.publication_date,
            year=w.year if w.year is not None else (w.publication_date.year if w.publication_date else None),
            category=w.category,
            field=w.field,
            venue=w.venue,
            doi=w.doi,
            arxiv_id=w.arxiv_id,
            authors_truncated=w.authors_truncated,
            code_badge=w.code_badge,
            cited_by_count=w.cited_by_count,
            reported_ai_score=w.reported_ai_score,
        )
        p = w.provenance
        source_rows.add(work_id=work_id, source=p.source, source_id=p.source_id, as_of=p.as_of)
        for a in w.authorships:
            stub_author_rows.add(author_id=a.author_key, name=a.raw_name, orcid=None, field=None, source=p.source)
            authorship_rows.add(
                work_id=work_id,
                author_id=a.author_key,
                position=a.position,
                raw_name=a.raw_name,
                raw_affiliation=a.raw_affiliation,
            )
            for ik in a.institution_keys:
                ai_rows.add(work_id=work_id, author_id=a.author_key, institution_id=ik)
        citing = w.keys[0]
        for ref in w.references:
            citation_rows.add(citing_key=citing, cited_key=ref, source=p.source)
        for year, n in w.counts_by_year.items():
            cby_rows.add(work_id=work_id, year=int(year), cited_by=int(n), source=p.source)
        for url in w.code_urls:
            from ..analytics.codelinks import classify_host  # local: analytics imports records only

            code_rows.add(work_id=work_id, url=url, host=classify_host(url), found_in="source")
        if w.cited_by_count is not None:
            reported_rows.add(
                entity="work", entity_id=work_id, metric="cited_by_count", source=p.source,
                value=float(w.cited_by_count), source_id=p.source_id, as_of=p.as_of,
            )

    for r in records:
        if isinstance(r, Author):
            author_rows.add(author_id=r.key, name=r.name, orcid=r.orcid, field=r.field, source=r.provenance.source)
            for wk in r.work_keys:
                wid = resolver.lookup(wk)
                if wid is not None:
                    authorship_rows.add(work_id=wid, author_id=r.key, position=None, raw_name=r.name, raw_affiliation=None)
                    claim_rows.add(author_id=r.key, work_id=wid, source=r.provenance.source)
        elif isinstance(r, Institution):
            inst_rows.add(institution_id=r.key, name=r.name, ror=r.ror, country=r.country)
        elif isinstance(r, Citation):
            citation_rows.add(citing_key=r.citing_key, cited_key=r.cited_key, source=r.source)
        elif isinstance(r, CodeLink):
            wid = resolver.lookup(r.work_key) or r.work_key
            code_rows.add(work_id=wid, url=r.url, host=r.host, found_in=r.found_in)
        elif isinstance(r, ReportedFigure):
            entity_id = r.entity_key
            if r.entity == "work":
                entity_id = resolver.lookup(r.entity_key) or r.entity_key
            p = r.provenance
            reported_rows.add(
                entity=r.entity, entity_id=entity_id, metric=r.metric, source=p.source,
                value=float(r.value), source_id=p.source_id, as_of=p.as_of,
            )
        elif isinstance(r, Quarantined):
            quarantine_rows.add(origin=r.origin, reason=r.reason, raw=(r.raw or "")[:4000] or None)
            summary.quarantined += 1

    # Stub authors (a name on a work) must not overwrite a full author record, so they go in first with
    # DO NOTHING and full records after, filling gaps.
    work_cols = [c for c in next(iter(work_rows.rows.values())).keys() if c != "work_id"] if work_rows else []
    work_update = _fill("works", *work_cols)
    work_update["cited_by_count"] = "GREATEST(works.cited_by_count, excluded.cited_by_count)"
    work_update["authors_truncated"] = "works.authors_truncated AND excluded.authors_truncated"
    c = summary.counts
    c["works"] += _upsert(con, "works", work_rows, work_update)
    _apply_merges(con, resolver.merges)
    c["work_keys"] += _upsert(con, "work_keys", key_rows, {"work_id": "excluded.work_id"})
    c["work_sources"] += _upsert(con, "work_sources", source_rows, {"source_id": "excluded.source_id", "as_of": "excluded.as_of"})
    c["authors"] += _upsert(con, "authors", stub_author_rows, None)
    c["authors"] += _upsert(con, "authors", author_rows, {
        "name": "excluded.name",
        **_fill("authors", "orcid", "field"),
    })
    c["authorships"] += _upsert(con, "authorships", authorship_rows, _fill("authorships", "position", "raw_name", "raw_affiliation"))
    c["author_claims"] += _upsert(con, "author_claims", claim_rows, None)
    c["institutions"] += _upsert(con, "institutions", inst_rows, _fill("institutions", "ror", "country"))
    c["authorship_institutions"] += _upsert(con, "authorship_institutions", ai_rows, None)
    c["citations"] += _upsert(con, "citations", citation_rows, None, anti_join=True)
    c["counts_by_year"] += _upsert(con, "counts_by_year", cby_rows, {"cited_by": "excluded.cited_by"})
    c["code_links"] += _upsert(con, "code_links", code_rows, None)
    c["reported"] += _upsert(con, "reported", reported_rows, {"value": "excluded.value", "source_id": "excluded.source_id", "as_of": "excluded.as_of"})
    c["quarantine"] += _upsert(con, "quarantine", quarantine_rows, None)
