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

A person's id is the author id that anchors it (its ORCID-bearing or source id with the most mentions), so
profile addresses stay the same across rebuilds; a second person holding mentions of the same author id
(after a "not my paper" split) gets the engine's derived id instead.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import duckdb
import pandas as pd

from ..identity.cluster import Mention, disambiguate
from ..identity.corrections import plan_corrections

SEP = "\t"  # mention id = work_id TAB author_id: neither ever holds a tab
ID_SCHEMES_BY_STRENGTH = ("orcid", "openalex", "s2author", "dblp")


def mention_id(work_id: str, author_id: str) -> str:
    return f"{work_id}{SEP}{author_id}"


def load_mentions(con: duckdb.DuckDBPyConnection) -> list[Mention]:
    rows = con.execute(
        """
        WITH names AS (
            SELECT work_id, list(coalesce(raw_name, au.name) ORDER BY position NULLS LAST, author_id) AS names
            FROM authorships JOIN authors au USING (author_id) GROUP BY work_id),
        orgs AS (
            SELECT ai.work_id, ai.author_id, string_agg(DISTINCT i.name, '; ') AS org
            FROM authorship_institutions ai JOIN institutions i USING (institution_id) GROUP BY ALL)
        SELECT a.work_id, a.author_id, coalesce(a.raw_name, au.name), au.orcid,
               coalesce(a.raw_affiliation, orgs.org), w.venue, w.year, w.title, w.abstract, names.names,
               EXISTS (SELECT 1 FROM author_claims c WHERE c.author_id = a.author_id AND c.work_id = a.work_id)
        FROM authorships a JOIN authors au USING (author_id) JOIN works w USING (work_id)
        LEFT JOIN names USING (work_id) LEFT JOIN orgs ON orgs.work_id = a.work_id AND orgs.author_id = a.author_id
        ORDER BY a.work_id, a.author_id
        """
    ).fetchall()
    mentions = []
    for work_id, author_id, name, orcid, org, venue, year, title, abstract, names, claimed in rows:
        scheme, _, value = author_id.partition(":")
        ids: dict[str, str] = {}
        if scheme != "name":
            ids[scheme] = value
        elif claimed:  # a source listed this work under this named author
            ids["claimed"] = author_id
        if orcid:
            ids["orcid"] = orcid.rsplit("/", 1)[-1]
        coauthors = tuple(n for n in (names or []) if n and n != name)
        mentions.append(Mention(
            mention_id=mention_id(work_id, author_id), name=name or value, coauthors=coauthors, organisation=org,
            venue=venue, year=year, title=title, text=abstract, source_ids=ids, publication_id=work_id,
        ))
    return mentions


def compute_persons(con: duckdb.DuckDBPyConnection) -> int:
    mentions = load_mentions(con)
    by_author: dict[str, list[str]] = defaultdict(list)
    for m in mentions:
        by_author[m.mention_id.split(SEP, 1)[1]].append(m.mention_id)
    plan = plan_corrections(con, by_author)
    mentions += plan.extra_mentions(con)
    assigned = disambiguate(mentions, must_link=plan.must_link, cannot_link=plan.cannot_link)

    members: dict[str, list[str]] = defaultdict(list)
    for mid, cid in assigned.items():
        members[cid].append(mid)
    names = {m.mention_id: m.name for m in mentions}
    orcids = {m.mention_id: m.source_ids.get("orcid") for m in mentions}
    person_of_cluster = _person_ids(members, _previous_person_ids(con))
    active = {cid for cid, _, _, _, is_active in plan.corrections if is_active}
    corrections_of: dict[str, set[int]] = defaultdict(set)  # person id -> ids of corrections about them
    for correction_id, mid in plan.touched:
        if mid in assigned:
            corrections_of[person_of_cluster[assigned[mid]]].add(correction_id)

    rows = []
    for cid, mids in members.items():
        pid = person_of_cluster[cid]
        for mid in mids:
            work_id, author_id = mid.split(SEP, 1)
            rows.append((work_id, author_id, pid))
    mention_frame = pd.DataFrame(rows, columns=["work_id", "author_id", "person_id"])
    person_rows = []
    for cid, mids in members.items():
        pid = person_of_cluster[cid]
        authors = sorted({mid.split(SEP, 1)[1] for mid in mids})
        claimed = plan.claimed_orcid(mids)
        orcid = claimed or next((o for o in sorted(filter(None, (orcids[m] for m in mids)))), None)
        name = Counter(names[m] for m in mids if names[m]).most_common(1)
        about = corrections_of.get(pid, set())
        person_rows.append((pid, name[0][0] if name else pid, orcid, _anchor(mids), authors,
                            len(mids), bool(about & active), sorted(about)))
    person_frame = pd.DataFrame(person_rows, columns=["person_id", "name", "orcid", "anchor_author_id", "author_ids",
                                                      "mentions", "curated", "correction_ids"])
    con.register("_pm", mention_frame)
    con.register("_persons", person_frame)
    try:
        con.execute("CREATE OR REPLACE TABLE person_mentions AS SELECT * FROM _pm")
        con.execute("""CREATE OR REPLACE TABLE persons AS
                       SELECT person_id, name, orcid, anchor_author_id, CAST(author_ids AS VARCHAR[]) AS author_ids,
                              mentions, curated, CAST(correction_ids AS INTEGER[]) AS correction_ids FROM _persons""")
    finally:
        con.unregister("_pm")
        con.unregister("_persons")
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
    return len(person_frame)


def _anchor(mids: list[str]) -> str:
    """The author id that best names a group of mentions: the strongest kind of id, then the most mentions."""
    counts = Counter(mid.split(SEP, 1)[1] for mid in mids)
    return min(counts, key=lambda a: (_strength(a), -counts[a], a))


def _previous_person_ids(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """mention id -> the person id it had at the last build (empty on the first build)."""
    if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'person_mentions'").fetchall()[0][0]:
        return {}
    return {mention_id(w, a): p for w, a, p in con.execute("SELECT work_id, author_id, person_id FROM person_mentions").fetchall()}


def _person_ids(members: dict[str, list[str]], previous: dict[str, str]) -> dict[str, str]:
    """Each cluster's person id, stable across rebuilds: the id most of its mentions had at the last build;
    for a new person, its anchor author id; failing both (the id is taken by a cluster with a better claim to
    it), the engine's cluster id. Claims are settled greedily, strongest first."""
    claims = []  # (how many of its mentions back the id, id, cluster)
    for cid, mids in members.items():
        votes = Counter(previous[m] for m in mids if m in previous)
        for pid, n in votes.items():
            claims.append((2, n, pid, cid))
        anchor = _anchor(mids)
        claims.append((1, sum(1 for m in mids if m.endswith(SEP + anchor)), anchor, cid))
    out: dict[str, str] = {}
    taken: set[str] = set()
    for _, _, pid, cid in sorted(claims, key=lambda c: (-c[0], -c[1], c[2], c[3])):
        if cid in out or pid in taken:
            continue
        out[cid] = pid
        taken.add(pid)
    for cid in members:
        if cid not in out:
            out[cid] = cid if cid not in taken else f"{cid}-{len(members[cid])}"
    return out


def _strength(author_id: str) -> int:
    scheme = author_id.partition(":")[0]
    return ID_SCHEMES_BY_STRENGTH.index(scheme) if scheme in ID_SCHEMES_BY_STRENGTH else len(ID_SCHEMES_BY_STRENGTH)
