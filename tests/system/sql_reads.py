"""Reading a database dataset straight from its source, as the connector does: shared by
the PostgreSQL and ODBC source tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from saeta.config import DatasetConfig
from saeta.connector.sources import Source, open_source
from saeta.core.filters import parse_filter


@contextlib.contextmanager
def opened(cfg: DatasetConfig) -> Iterator[Source]:
    source = open_source(cfg, 4096)
    try:
        yield source
    finally:
        source.close()


def read_all(
    cfg: DatasetConfig,
    columns: tuple[str, ...] | None = None,
    limit: int | None = None,
    raw_filter: list[list[Any]] | None = None,
    partitions: list[int] | None = None,
) -> pa.Table:
    """Every partition (or those named), each read with ``limit``, as one table."""
    conditions = parse_filter(raw_filter or [])
    with opened(cfg) as source:
        plan = source.plan(columns, limit, conditions)
        batches = []
        for p in partitions if partitions is not None else [p.index for p in plan.partitions]:
            batches += list(source.read(p, columns, limit, conditions))
    assert all(b.schema.equals(plan.schema) for b in batches)
    return pa.Table.from_batches(batches, schema=plan.schema)
