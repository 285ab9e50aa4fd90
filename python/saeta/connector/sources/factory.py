"""The one place that knows every source type: a dataset's config to its Source."""

from __future__ import annotations

from saeta.config import DatasetConfig
from saeta.connector.sources.base import Source
from saeta.connector.sources.files import FileSource


def open_source(cfg: DatasetConfig, batch_rows: int) -> Source:
    """The source for one dataset of the connector's config. The SQL drivers are imported
    only for the datasets that use them (psycopg and pyodbc are optional on a host)."""
    if cfg.sql is not None:
        from saeta.connector.sources.sql_source import SqlSource

        if cfg.sql.driver == "odbc":
            from saeta.connector.sources.odbc import OdbcDriver

            return SqlSource(cfg, batch_rows, OdbcDriver(cfg.sql))
        from saeta.connector.sources.postgres import PostgresDriver

        return SqlSource(cfg, batch_rows, PostgresDriver())
    return FileSource(cfg, batch_rows)
