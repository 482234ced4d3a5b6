"""The store's tables. One DuckDB file holds them all; analytics add their own tables beside these."""

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR
);

-- One row per work. work_id is the first external key the work was seen with ("doi:...", "openalex:W...").
CREATE TABLE IF NOT EXISTS works (
    work_id VARCHAR PRIMARY KEY,
    title VARCHAR,  -- NULL while only a partial record (an S2AG abstract line) has been seen
    abstract VARCHAR,
    publication_date DATE,
    year INTEGER,
    category VARCHAR,
    field VARCHAR,
    venue VARCHAR,
    doi VARCHAR,
    arxiv_id VARCHAR,
    authors_truncated BOOLEAN DEFAULT FALSE,
    code_badge BOOLEAN,
    cited_by_count INTEGER,
    reported_ai_score DOUBLE
);

-- Every external key of a work points to its one work_id: this is how two sources meet.
CREATE TABLE IF NOT EXISTS work_keys (
    key VARCHAR PRIMARY KEY,
    work_id VARCHAR NOT NULL
);

-- Where each work record came from (a work read by two sources has two rows).
CREATE TABLE IF NOT EXISTS work_sources (
    work_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR,
    as_of VARCHAR,
    PRIMARY KEY (work_id, source)
);

CREATE TABLE IF NOT EXISTS authors (
    author_id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    orcid VARCHAR,
    field VARCHAR,
    source VARCHAR
);

CREATE TABLE IF NOT EXISTS authorships (
    work_id VARCHAR NOT NULL,
    author_id VARCHAR NOT NULL,
    position INTEGER,
    raw_name VARCHAR,
    raw_affiliation VARCHAR,
    PRIMARY KEY (work_id, author_id)
);

CREATE TABLE IF NOT EXISTS institutions (
    institution_id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    ror VARCHAR,
    country VARCHAR
);

CREATE TABLE IF NOT EXISTS authorship_institutions (
    work_id VARCHAR NOT NULL,
    author_id VARCHAR NOT NULL,
    institution_id VARCHAR NOT NULL,
    PRIMARY KEY (work_id, author_id, institution_id)
);

-- Citation edges between external keys; either end may be a work the store does not hold.
-- (citing_key, cited_key) is unique, kept so by the writers (an anti-join before each insert), not by a primary
-- key: this is the store's largest table (about ten rows per work) and an index on two text keys was most of the
-- cost of a bulk load (docs/bench/snapshot.md). Stores made before keep their key; the writers work on both.
CREATE TABLE IF NOT EXISTS citations (
    citing_key VARCHAR NOT NULL,
    cited_key VARCHAR NOT NULL,
    source VARCHAR
);

-- Citations a work received per year, as the source counts them (OpenAlex counts_by_year).
CREATE TABLE IF NOT EXISTS counts_by_year (
    work_id VARCHAR NOT NULL,
    year INTEGER NOT NULL,
    cited_by INTEGER NOT NULL,
    source VARCHAR NOT NULL,
    PRIMARY KEY (work_id, year, source)
);

CREATE TABLE IF NOT EXISTS code_links (
    work_id VARCHAR NOT NULL,
    url VARCHAR NOT NULL,
    host VARCHAR,
    found_in VARCHAR,
    PRIMARY KEY (work_id, url)
);

-- Figures a source states about an author or a work, kept as stated, with provenance.
CREATE TABLE IF NOT EXISTS reported (
    entity VARCHAR NOT NULL,
    entity_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    value DOUBLE,
    source_id VARCHAR,
    as_of VARCHAR,
    PRIMARY KEY (entity, entity_id, metric, source)
);

CREATE TABLE IF NOT EXISTS quarantine (
    origin VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    raw VARCHAR,
    first_seen TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (origin, reason)
);

-- A source saying "these works are this author's" (an author's works list, a profile page's cards): evidence
-- the disambiguation treats as firm, unlike a bare name printed on a work.
CREATE TABLE IF NOT EXISTS author_claims (
    author_id VARCHAR NOT NULL,
    work_id VARCHAR NOT NULL,
    source VARCHAR,
    PRIMARY KEY (author_id, work_id)
);

-- People's corrections to who wrote what. Never touched by ingest: applied after every ingest and build.
-- subject and target are stable ids (source author ids, work keys, ORCIDs), never computed person ids.
CREATE SEQUENCE IF NOT EXISTS correction_ids START 1;
CREATE TABLE IF NOT EXISTS corrections (
    correction_id INTEGER PRIMARY KEY DEFAULT nextval('correction_ids'),
    kind VARCHAR NOT NULL,      -- merge | split | add-work | remove-work | claim
    subject VARCHAR NOT NULL,   -- the author id the correction is about
    target VARCHAR NOT NULL,    -- another author id (merge, split), a work key (add-work, remove-work), an ORCID (claim)
    who VARCHAR NOT NULL,
    why VARCHAR NOT NULL,
    made_at TIMESTAMP NOT NULL DEFAULT now(),
    revoked_at TIMESTAMP,       -- a revoked correction stays, for the audit trail
    revoked_by VARCHAR
);

-- A file whose records were all committed; a rerun skips it, so a killed build resumes cleanly.
CREATE TABLE IF NOT EXISTS ingested_files (
    sha256 VARCHAR PRIMARY KEY,
    path VARCHAR,
    format VARCHAR,
    records INTEGER,
    quarantined INTEGER,
    finished_at TIMESTAMP DEFAULT current_timestamp
);
"""
