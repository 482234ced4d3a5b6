"""The analytics' SQL, written once in DuckDB's dialect, transpiled to Spark SQL with SQLGlot.

Nothing here is a second copy of a query: every statement is read from the analytics module that runs it on
DuckDB (the module's constant is the one definition) and turned into Spark SQL at run time:

- `CREATE OR REPLACE TABLE t AS <query>` becomes the query, and the Spark engine registers its result as t;
- DuckDB's named parameters ($min_group, $as_of_year) become literals;
- a WINDOW clause is expanded into each OVER (a pure rewrite: Spark cannot define one named window on top
  of another, `g AS (whole ORDER BY ...)`);
- the rest is SQLGlot's DuckDB -> Spark translation (explicit NULLS LAST where DuckDB's default ordering of
  nulls differs from Spark's, FILTER clauses, and so on), generated with unsupported constructs raised as errors
  rather than silently dropped.

`statements(as_of_year)` lists the bibliometrics statements, in order; other modules' constants are transpiled
where the Spark engine runs them (engine.spark). What the Spark engine cannot yet take from a constant is listed by
engine.spark.limitations().
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
import sqlglot.transforms
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from ..analytics import bibliometrics


class TranspileError(ValueError):
    """A statement that cannot be carried to Spark SQL as it is written."""


@dataclass(frozen=True)
class Statement:
    name: str  # where the one definition lives: "module.CONSTANT"
    table: str | None  # the table the DuckDB statement creates (None: a plain query)
    duckdb: str  # the statement as the DuckDB build runs it
    spark: str  # the query for Spark SQL
    reads: tuple[str, ...] = ()  # the tables it reads (CTE names left out)


# Functions the Spark translation may leave as they are written. SQLGlot keeps a function it does not know as
# an "anonymous" call; such a call is refused unless it is in this list, so a DuckDB-only function can never
# reach Spark and fail (or worse, mean something else) there.
_SPARK_NAMED_OK: frozenset[str] = frozenset()


def transpile(sql: str, params: dict | None = None, *, name: str = "") -> Statement:
    """One DuckDB statement (a query, or CREATE [OR REPLACE] TABLE t AS query) as a Spark SQL query."""
    params = params or {}
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as err:
        raise TranspileError(f"{name}: SQLGlot cannot parse it as DuckDB SQL: {err}") from err
    table = None
    if isinstance(tree, exp.Create):
        if tree.kind != "TABLE" or not isinstance(tree.expression, exp.Query):
            raise TranspileError(f"{name}: only CREATE TABLE ... AS <query> can be carried over")
        table = tree.this.name if isinstance(tree.this, exp.Table) else tree.this.this.name
        tree = tree.expression
    if not isinstance(tree, exp.Query):
        raise TranspileError(f"{name}: not a query ({type(tree).__name__})")

    missing: set[str] = set()

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            key = node.name
            if key not in params:
                missing.add(key)
                return node
            return exp.convert(params[key])
        return node

    tree = tree.transform(bind)
    if missing:
        raise TranspileError(f"{name}: no value for parameter(s) {sorted(missing)}")
    tree = sqlglot.transforms.eliminate_window_clause(tree)
    unknown = sorted({f.name for f in tree.find_all(exp.Anonymous)} - _SPARK_NAMED_OK)
    if unknown:
        raise TranspileError(f"{name}: SQLGlot has no Spark equivalent for function(s) {unknown}")
    try:
        spark = tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE, pretty=True)
    except sqlglot.errors.UnsupportedError as err:
        raise TranspileError(f"{name}: {err}") from err
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    reads = tuple(sorted({t.name for t in tree.find_all(exp.Table)} - ctes))
    return Statement(name=name, table=table, duckdb=sql, spark=spark, reads=reads)


def statements(as_of_year: int) -> list[Statement]:
    """The bibliometrics statements, in the order the DuckDB build runs them (compute_bibliometrics)."""
    return [
        transpile(bibliometrics.WORK_CITATIONS_SQL, {"min_group": bibliometrics.MIN_PERCENTILE_GROUP},
                  name="analytics.bibliometrics.WORK_CITATIONS_SQL"),
        transpile(bibliometrics.AUTHOR_METRICS_SQL, {"as_of_year": int(as_of_year)},
                  name="analytics.bibliometrics.AUTHOR_METRICS_SQL"),
        transpile(bibliometrics.AUTHOR_CITATIONS_BY_YEAR_SQL, name="analytics.bibliometrics.AUTHOR_CITATIONS_BY_YEAR_SQL"),
    ]

