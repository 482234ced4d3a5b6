"""Opening the store: one DuckDB file, created with its schema on first use."""

from __future__ import annotations

from pathlib import Path

import duckdb
import platformdirs

from .schema import DDL, SCHEMA_VERSION


class StoreError(Exception):
    """The store cannot be opened or is not a scholarlens store."""


def default_store_path() -> Path:
    return Path(platformdirs.user_data_dir("scholarlens")) / "scholarlens.duckdb"


def connect(path: str | Path | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and on first use create) the store at ``path``; ``None`` means the user's data dir."""
    store_path = Path(path) if path is not None else default_store_path()
    if read_only and not store_path.exists():
        raise StoreError(f"no store at {store_path}: run `scholarlens --store {store_path} ingest PATH` first")
    if not read_only:
        store_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(store_path), read_only=read_only)
    except duckdb.Error as exc:
        raise StoreError(f"cannot open store {store_path}: {exc}") from exc
    if not read_only:
        con.execute(DDL)
        con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [str(SCHEMA_VERSION)],
        )
    return con


def sql_string(value: str | Path) -> str:
    """``value`` as an SQL string literal, quoted, for SQL text where a prepared parameter cannot go: a file path
    in a view's ``read_parquet`` or a ``COPY ... TO``, a pattern in a statement built once as text."""
    return "'" + str(value).replace("'", "''") + "'"


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every table in the store, for summaries and idempotence checks."""
    names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema='main' ORDER BY 1").fetchall()]
    return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
