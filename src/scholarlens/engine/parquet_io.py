"""The store's tables as a directory of Parquet, and result tables back into the store.

Layout of a Parquet directory (the input of `build`, and the output too):

    DIR/<table>/*.parquet     one directory per table (Spark writes several part files, DuckDB one)
    DIR/_embedder/            the store's frozen text embedder, when it has one (embed.store_embedder)
    DIR/_manifest.json        what wrote it: tables with their row counts, engine, dates, the build's as-of year

An input directory holds the store's own tables (works, work_keys, citations, authorships, ...), as
`export_store` writes them or as a converter from a snapshot writes them. An output directory holds the tables
the analytics computed (RESULT_TABLES) plus code_links, which the build extends with links found in abstracts.
Everything goes through DuckDB's COPY ... TO / read_parquet, so the types are the store's own; the only
conversion is HUGEINT (DuckDB's type for a sum of BIGINTs), which Parquet cannot hold and which is written as
BIGINT instead of the DOUBLE DuckDB would pick.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb

from ..store.db import sql_string

MANIFEST = "_manifest.json"
EMBEDDER_DIR = "_embedder"

# Tables that `analytics.build.analyse` (re)computes: a build writes them, an import replaces them, an export
# leaves them out. code_links is both: an input (links a source gave) that the build extends.
RESULT_TABLES = (
    "person_mentions",
    "persons",
    "person_authorships",
    "correction_authorships",
    "work_citations",
    "author_metrics",
    "author_citations_by_year",
    "work_disruption",
    "work_refnovelty",
    "work_novelty",
    "author_novelty",
    "work_ai_score",
    "author_ai_score",
)
EXTENDED_TABLES = ("code_links",)
# Tables an import into a fresh DuckDB keeps with their constraints (the build writes them with ON CONFLICT, or
# they fill a column from a sequence); every other table is created from its Parquet without primary keys,
# which loads 100M rows four times faster than inserting them under a primary-key index.
_KEEP_DDL = ("code_links", "meta", "corrections")


# Keys of the store's meta table that a build writes about its own results (analytics.persons._record_oversized:
# name blocks too big to score, how many and which). Either engine's manifest carries them as "notes", and
# import_results sets them in the store, or removes them when the build had none, so the store says what its
# current results rest on.
BUILD_NOTES = ("persons_unscored", "persons_unscored_blocks")
_BUILD_NOTES_IN = "key IN (" + ", ".join(f"'{k}'" for k in BUILD_NOTES) + ")"


def build_notes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The BUILD_NOTES a build left in a store's meta table."""
    return dict(con.execute(f"SELECT key, value FROM meta WHERE {_BUILD_NOTES_IN} ORDER BY key").fetchall())


def table_dirs(directory: str | Path) -> dict[str, Path]:
    """The tables of a Parquet directory: name -> glob of its files (a directory of parts, or one file)."""
    directory = Path(directory)
    found: dict[str, Path] = {}
    if not directory.is_dir():
        raise FileNotFoundError(f"no Parquet directory at {directory}")
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        if entry.is_dir() and any(entry.glob("*.parquet")):
            found[entry.name] = entry / "*.parquet"
        elif entry.is_file() and entry.suffix == ".parquet":
            found[entry.stem] = entry
    return found


def read_sql(directory: str | Path, table: str) -> str:
    """A DuckDB table expression reading one table of a Parquet directory."""
    return f"read_parquet({sql_string(table_dirs(directory)[table])})"


def store_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return Path(rows[0][0]) if rows and rows[0][0] else None


def _embedder_dir_of_store(con: duckdb.DuckDBPyConnection) -> Path | None:
    path = store_file(con)
    if path is None:
        return None
    from ..embed import WorkIndex

    model = WorkIndex.directory_for(path) / "embedder"
    return model if (model / "embedder.json").exists() else None


def _copy_table(con: duckdb.DuckDBPyConnection, table: str, directory: Path) -> int:
    """COPY one table to directory/<table>/part-0.parquet (HUGEINT written as BIGINT); returns its rows."""
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "AND table_schema = current_schema() ORDER BY ordinal_position", [table]
    ).fetchall()
    select = ", ".join(
        f'CAST("{name}" AS BIGINT) AS "{name}"' if kind == "HUGEINT" else f'"{name}"' for name, kind in columns
    )
    target = directory / table
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    con.execute(f'COPY (SELECT {select} FROM "{table}") TO {sql_string(target / "part-0.parquet")} '
                "(FORMAT parquet, COMPRESSION zstd)")
    return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def _write_manifest(directory: Path, **fields) -> None:
    fields.setdefault("written_at", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    (directory / MANIFEST).write_text(json.dumps(fields, indent=1, default=str) + "\n", encoding="utf-8")


def read_manifest(directory: str | Path) -> dict:
    path = Path(directory) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def store_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]


def export_store(con: duckdb.DuckDBPyConnection, output_dir: str | Path) -> dict[str, int]:
    """`scholarlens export --format parquet --output DIR`: every input table of the store to DIR as Parquet.

    Leaves out the tables a build computes (RESULT_TABLES); copies the store's frozen embedder to DIR/_embedder
    when it has one, so that a build elsewhere embeds texts in the same space. Returns rows per table.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = {t: _copy_table(con, t, output_dir) for t in store_tables(con) if t not in RESULT_TABLES}
    model = _embedder_dir_of_store(con)
    if model is not None:
        shutil.copytree(model, output_dir / EMBEDDER_DIR, dirs_exist_ok=True)
    _write_manifest(output_dir, kind="store export", tables=rows, embedder=model is not None,
                    store=str(store_file(con) or ""))
    return rows


def write_tables(con: duckdb.DuckDBPyConnection, output_dir: str | Path, tables: list[str], **manifest) -> dict[str, int]:
    """Write tables of a DuckDB connection to a Parquet directory (a DuckDB build's results)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = {t: _copy_table(con, t, output_dir) for t in tables}
    _write_manifest(output_dir, tables=rows, **manifest)
    return rows


def load_into(con: duckdb.DuckDBPyConnection, input_dir: str | Path, *, views: bool = False) -> dict[str, int]:
    """Make the tables of a Parquet directory the tables of a DuckDB store created by `store.connect`.

    Tables with constraints the build relies on (_KEEP_DDL) are filled by INSERT ... BY NAME; the rest are
    replaced by a table created from the Parquet (views=False) or by a view over it (views=True: nothing is
    copied, for a step that reads a few columns once). Returns rows per table loaded (-1 for a view).
    """
    loaded: dict[str, int] = {}
    existing = set(store_tables(con))
    for table, files in table_dirs(input_dir).items():
        source = f"read_parquet({sql_string(files)})"
        if table in _KEEP_DDL and table in existing:
            con.execute(f'DELETE FROM "{table}"')
            con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM {source}')
        else:
            con.execute(f'DROP TABLE IF EXISTS "{table}"')
            con.execute(f'DROP VIEW IF EXISTS "{table}"')
            kind = "VIEW" if views else "TABLE"
            con.execute(f'CREATE {kind} "{table}" AS SELECT * FROM {source}')
        loaded[table] = -1 if views and table not in _KEEP_DDL else con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    return loaded


def import_results(con: duckdb.DuckDBPyConnection, output_dir: str | Path) -> dict[str, int]:
    """Bring a build's result tables (either engine) into the store, in one transaction.

    Each result table replaces the store's; code_links gains the links found in abstracts (a link the store
    already has keeps its row); meta.analysed_at and the BUILD_NOTES are the build's. Returns rows per table
    imported.
    """
    output_dir = Path(output_dir)
    files = table_dirs(output_dir)
    manifest = read_manifest(output_dir)
    imported: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for table in RESULT_TABLES:
            if table in files:
                con.execute(f'CREATE OR REPLACE TABLE "{table}" AS '
                            f'SELECT * FROM read_parquet({sql_string(files[table])})')
                imported[table] = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        if "code_links" in files:
            before = con.execute("SELECT count(*) FROM code_links").fetchone()[0]
            con.execute(f"INSERT INTO code_links BY NAME SELECT * FROM read_parquet({sql_string(files['code_links'])}) "
                        "ON CONFLICT (work_id, url) DO NOTHING")
            imported["code_links"] = con.execute("SELECT count(*) FROM code_links").fetchone()[0] - before
        if "notes" in manifest:  # a manifest from before notes were carried leaves the store's as they are
            notes = manifest["notes"]
            con.execute(f"DELETE FROM meta WHERE {_BUILD_NOTES_IN}")
            for key in BUILD_NOTES:
                if key in notes:
                    con.execute("INSERT INTO meta VALUES (?, ?)", [key, notes[key]])
        if manifest.get("analysed_at"):
            con.execute("INSERT INTO meta VALUES ('analysed_at', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        [manifest["analysed_at"]])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return imported
