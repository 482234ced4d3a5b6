"""The store: one DuckDB file, its schema, idempotent writes and the read queries serve uses."""

from .db import StoreError, connect, default_store_path, table_counts
from .writer import WriteSummary, normalize_key, write_records

__all__ = ["StoreError", "connect", "default_store_path", "table_counts", "WriteSummary", "normalize_key", "write_records"]
