"""People's corrections to who wrote what, kept apart from everything an ingest writes.

Five kinds, each about a *subject* author id (a source's author id such as ``openalex:A5017898742``, or a
person id, which is turned into the author id anchoring that person when the correction is made):

- ``merge SUBJECT OTHER``: the two are one person.
- ``split SUBJECT OTHER``: the two are different people.
- ``add-work SUBJECT WORK``: "this is mine": the work (any of its keys: doi:..., arxiv:..., openalex:W...) is the
  subject's; a name on it compatible with the subject's is taken to be them, else an authorship is added.
- ``remove-work SUBJECT WORK``: "not my paper": the subject's name on that work is someone else.
- ``claim SUBJECT ORCID``: the person is the holder of that ORCID; mentions carrying that ORCID, now or in any
  later ingest, join them.

Corrections reference only stable ids (source author ids, work keys, ORCIDs), never computed person ids, so
they survive re-ingesting everything and every rebuild: analytics.persons applies them as must-link and
cannot-link constraints that win over all other evidence. Each has an audit line (who, when, why); revoking
one keeps it, marked revoked. A new correction that contradicts an earlier one (merge after split of the same
pair) revokes the earlier one, and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from ..store.writer import normalize_key
from .names import compatible

KINDS = ("merge", "split", "add-work", "remove-work", "claim")
OPPOSITE = {"merge": "split", "split": "merge", "add-work": "remove-work", "remove-work": "add-work"}
ORCID = re.compile(r"^(?:https?://orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dX])$")
SEP = "\t"


class CorrectionError(ValueError):
    """A correction that cannot be recorded: unknown ids, a bad ORCID, an unknown kind."""


def orcid_checksum_ok(orcid: str) -> bool:
    """ISO 7064 11,2, the check digit every ORCID ends with."""
    digits = orcid.replace("-", "")
    total = 0
    for ch in digits[:-1]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


def _one(con, sql, params):
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None


def resolve_subject(con: duckdb.DuckDBPyConnection, ref: str) -> str:
    """A stable reference to a person, from what a user gives: a source author id (``openalex:A5017898742``),
    a mention (``AUTHOR_ID@WORK_KEY``: that name on that work) or a person id. A person id is turned into its
    anchor author id, or, for a person known only by name, into a mention of theirs, because a name key can be
    shared by namesakes and so does not name one person."""
    ref = ref.strip()
    if "@" in ref:
        author, _, work = ref.partition("@")
        work_id = _work_id(con, normalize_key(work))
        if work_id is None or not _one(con, "SELECT 1 FROM authorships WHERE work_id = ? AND author_id = ?", [work_id, author]):
            raise CorrectionError(f"no author {author!r} on a work with key {work!r}")
        return f"{author}@{normalize_key(work)}"
    has_persons = _table_exists(con, "persons")
    if has_persons:
        row = _one(con, "SELECT anchor_author_id FROM persons WHERE person_id = ?", [ref])
        if row:
            anchor = row[0]
            shared = _one(con, "SELECT count(DISTINCT person_id) FROM person_mentions WHERE author_id = ?", [anchor])[0]
            if shared <= 1 and not anchor.startswith("name:"):
                return anchor
            (work_id,) = _one(con, "SELECT min(work_id) FROM person_mentions WHERE person_id = ? AND author_id = ?",
                              [ref, anchor])
            return f"{anchor}@{work_id}"
    if _one(con, "SELECT 1 FROM authors WHERE author_id = ?", [ref]):
        if has_persons:
            holders = [p for (p,) in con.execute(
                "SELECT DISTINCT person_id FROM person_mentions WHERE author_id = ? ORDER BY 1", [ref]).fetchall()]
            if len(holders) > 1:
                raise CorrectionError(f"{ref} is shared by {len(holders)} people ({', '.join(holders)}): name one of them")
        return ref
    raise CorrectionError(f"no author or person with id {ref!r} (see `scholarlens search NAME` for ids)")


def _work_id(con, key: str) -> str | None:
    row = _one(con, "SELECT work_id FROM work_keys WHERE key = ?", [key])
    return row[0] if row else None


def resolve_work_key(con: duckdb.DuckDBPyConnection, ref: str) -> str:
    key = normalize_key(ref)
    if not _one(con, "SELECT 1 FROM work_keys WHERE key = ?", [key]):
        raise CorrectionError(f"no work with key {ref!r} (use a doi:, arxiv:, openalex: or s2: key the store holds)")
    return key


def add_correction(con: duckdb.DuckDBPyConnection, kind: str, subject: str, target: str, *, who: str, why: str) -> int:
    if kind not in KINDS:
        raise CorrectionError(f"unknown correction {kind!r}: one of {', '.join(KINDS)}")
    if not who.strip() or not why.strip():
        raise CorrectionError("a correction needs who made it and why (--who, --why)")
    subject = resolve_subject(con, subject)
    if kind in ("merge", "split"):
        target = resolve_subject(con, target)
        if target == subject:
            raise CorrectionError(f"cannot {kind} {subject} with itself")
    elif kind in ("add-work", "remove-work"):
        target = resolve_work_key(con, target)
    else:
        m = ORCID.match(target.strip())
        if not m or not orcid_checksum_ok(m.group(1)):
            raise CorrectionError(f"{target!r} is not a valid ORCID (0000-0002-1825-0097 form, with its check digit)")
        target = m.group(1)
    con.execute("BEGIN TRANSACTION")
    try:
        if kind in OPPOSITE:
            pair_sql = "(subject = ? AND target = ?)" + (" OR (subject = ? AND target = ?)" if kind in ("merge", "split") else "")
            params = [subject, target] + ([target, subject] if kind in ("merge", "split") else [])
            con.execute(
                f"UPDATE corrections SET revoked_at = now(), revoked_by = ? WHERE revoked_at IS NULL AND kind = ? AND ({pair_sql})",
                [f"{who} (superseded)", OPPOSITE[kind], *params],
            )
        (cid,) = con.execute(
            "INSERT INTO corrections (kind, subject, target, who, why) VALUES (?, ?, ?, ?, ?) RETURNING correction_id",
            [kind, subject, target, who.strip(), why.strip()],
        ).fetchall()[0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(cid)


def revoke_correction(con: duckdb.DuckDBPyConnection, correction_id: int, *, who: str) -> None:
    row = _one(con, "SELECT revoked_at FROM corrections WHERE correction_id = ?", [correction_id])
    if row is None:
        raise CorrectionError(f"no correction #{correction_id}")
    if row[0] is not None:
        raise CorrectionError(f"correction #{correction_id} is already revoked")
    con.execute("UPDATE corrections SET revoked_at = now(), revoked_by = ? WHERE correction_id = ?", [who, correction_id])


def list_corrections(con: duckdb.DuckDBPyConnection, correction_ids: list[int] | None = None) -> list[dict]:
    """Every correction (the audit trail), or those with these ids."""
    sql = "SELECT correction_id, kind, subject, target, who, why, made_at, revoked_at, revoked_by FROM corrections"
    params: list = []
    if correction_ids is not None:
        sql += " WHERE list_contains(?, correction_id)"
        params = [correction_ids]
    cols = ["id", "kind", "subject", "target", "who", "why", "made_at", "revoked_at", "revoked_by"]
    out = []
    for row in con.execute(sql + " ORDER BY correction_id", params).fetchall():
        item = dict(zip(cols, row))
        item["made_at"] = item["made_at"].isoformat(timespec="seconds") if item["made_at"] else None
        item["revoked_at"] = item["revoked_at"].isoformat(timespec="seconds") if item["revoked_at"] else None
        out.append(item)
    return out


def _table_exists(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()[0][0])


@dataclass
class Plan:
    """Corrections turned into constraints over one build's mentions (mention id = work_id TAB author_id)."""

    corrections: list[tuple]  # (id, kind, subject, target, active), oldest first
    must_link: list[tuple[str, str]] = field(default_factory=list)
    cannot_link: list[tuple[str, str]] = field(default_factory=list)
    touched: list[tuple[int, str]] = field(default_factory=list)  # (correction id, a mention it is about)
    _added: list[tuple[str, str, str]] = field(default_factory=list)  # (work_id, author_id, name)
    _claims: dict[str, str] = field(default_factory=dict)  # mention id -> ORCID

    def build(self, con: duckdb.DuckDBPyConnection, by_author: dict[str, list[str]]) -> Plan:
        names = dict(con.execute("SELECT author_id, name FROM authors").fetchall())
        claimed = set(con.execute("SELECT work_id, author_id FROM author_claims").fetchall())
        removed = {(s.partition("@")[0], _work_id(con, t)) for _, k, s, t, active in self.corrections
                   if k == "remove-work" and active}

        def rep(ref: str) -> str | None:
            """The mention standing for a reference: the named mention, or the author's first mention that is
            not on a work they disowned."""
            author, _, work = ref.partition("@")
            if work:
                work_id = _work_id(con, work)
                return f"{work_id}{SEP}{author}" if work_id else None
            for mid in sorted(by_author.get(author, [])):
                if (author, mid.split(SEP, 1)[0]) not in removed:
                    return mid
            return None

        def on_work(work_id: str, author: str) -> list[str]:
            """Mentions on a work that could be the author: theirs, or a compatible name."""
            rows = con.execute(
                "SELECT a.author_id, coalesce(a.raw_name, au.name) FROM authorships a JOIN authors au USING (author_id) "
                "WHERE a.work_id = ?", [work_id]).fetchall()
            return [f"{work_id}{SEP}{aid}" for aid, name in rows
                    if aid == author or (names.get(author) and name and compatible(name, names[author]))]

        for cid, kind, subject, target, active in self.corrections:
            anchor = rep(subject)
            if anchor:
                self.touched.append((cid, anchor))
            if kind in ("merge", "split"):
                other = rep(target)
                if other:
                    self.touched.append((cid, other))
                if active and anchor and other:
                    (self.must_link if kind == "merge" else self.cannot_link).append((anchor, other))
            if not active:
                continue
            author = subject.partition("@")[0]
            if kind == "remove-work":
                # The disowned mention is kept apart from every other mention of the author, not just one, so
                # that no chain of source-id links can bring it back whichever link the engine drops.
                work_id = _work_id(con, target)
                keep = [m for m in by_author.get(author, []) if (author, m.split(SEP, 1)[0]) not in removed]
                if keep and anchor not in keep:  # the subject was named by the very mention disowned
                    self.touched.append((cid, sorted(keep)[0]))
                for mid in on_work(work_id, author) if work_id else []:
                    self.cannot_link += [(other, mid) for other in keep if other != mid]
                # The author's remaining firm mentions (a source id, or works a source lists under them) stay one
                # person: the engine joins mentions of one id through a single one of them, which may be the
                # disowned mention, so they are chained here explicitly.
                firm = [m for m in keep if not author.startswith("name:") or (m.split(SEP, 1)[0], author) in claimed]
                self.must_link += [(firm[0], m) for m in firm[1:]]
            elif kind == "add-work":
                work_id = _work_id(con, target)
                if not work_id:
                    continue
                found = on_work(work_id, author)
                if not found:
                    self._added.append((work_id, author, names.get(author) or author))
                    found = [f"{work_id}{SEP}{author}"]
                if anchor:
                    self.must_link += [(anchor, mid) for mid in found[:1] if mid != anchor]
            elif kind == "claim":
                if anchor:
                    self._claims[anchor] = target
                holders = [aid for (aid,) in con.execute(
                    "SELECT author_id FROM authors WHERE regexp_extract(orcid, '(\\d{4}-\\d{4}-\\d{4}-\\d{3}[\\dX])') = ?",
                    [target]).fetchall()]
                for holder in holders:
                    other = rep(holder)
                    if anchor and other and other != anchor:
                        self.must_link.append((anchor, other))
        # A later correction wins over an earlier one that says the opposite about the same pair.
        cannot = {frozenset(p) for p in self.cannot_link}
        self.must_link = [p for p in self.must_link if frozenset(p) not in cannot]
        return self

    def extra_mentions(self, con: duckdb.DuckDBPyConnection):
        """Authorships that exist only because someone said "this is mine"; also kept as a table for the reads."""
        from .cluster import Mention

        con.execute("CREATE OR REPLACE TABLE correction_authorships (work_id VARCHAR, author_id VARCHAR, raw_name VARCHAR)")
        if self._added:
            con.executemany("INSERT INTO correction_authorships VALUES (?, ?, ?)", self._added)
        out = []
        for work_id, author, name in self._added:
            scheme, _, value = author.partition(":")
            ids = {scheme: value} if scheme != "name" else {"claimed": author}
            title, year, abstract = con.execute("SELECT title, year, abstract FROM works WHERE work_id = ?", [work_id]).fetchall()[0]
            out.append(Mention(mention_id=f"{work_id}{SEP}{author}", name=name, year=year, title=title, text=abstract,
                               source_ids=ids, publication_id=work_id))
        return out

    def orcid_claims(self) -> list[tuple[str, str]]:
        """(mention id, ORCID) of every active claim; a person with several takes the one of its smallest
        mention id."""
        return sorted(self._claims.items())


def plan_corrections(con: duckdb.DuckDBPyConnection, by_author: dict[str, list[str]]) -> Plan:
    """Every correction, active or revoked (revoked ones are mapped to persons for the audit trail only)."""
    rows = con.execute(
        "SELECT correction_id, kind, subject, target, revoked_at IS NULL FROM corrections ORDER BY correction_id"
    ).fetchall()
    return Plan(rows).build(con, by_author)
