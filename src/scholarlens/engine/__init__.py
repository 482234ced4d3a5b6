"""Engines: the analytics on DuckDB (one machine) or on Spark (a laptop or a cluster), Parquet in and out.

    from scholarlens.engine import export_store, build, import_results
    export_store(con, "snap/")                              # scholarlens export --format parquet --output snap/
    build("spark", "snap/", "out/", spark_master=None)      # scholarlens build --engine spark --input snap/ --output out/
    import_results(con, "out/")                             # the results into the store, for serve

Every analytic is defined once (analytics/): SQL in DuckDB's dialect, transpiled to Spark SQL by engine.sql, and
vectorised Python that engine.spark runs in pandas UDFs. pyspark is needed only for engine="spark"
(pip install 'scholarlens[spark]').
"""

from .parquet_io import RESULT_TABLES, export_store, import_results
from .run import ENGINES, build, build_store

__all__ = ["ENGINES", "RESULT_TABLES", "build", "build_store", "export_store", "import_results"]
