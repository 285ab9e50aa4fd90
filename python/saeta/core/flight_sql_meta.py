"""Flight SQL's metadata results, sans I/O (docs/flight.md, "Schema browsers"): the
schemas Flight SQL fixes for GetSqlInfo, GetCatalogs, GetDbSchemas, GetTables,
GetTableTypes and the key commands, and their rows as Arrow tables built from the
datasets a session may read. The datasets are tables of type TABLE in one catalog and
one schema (core/flight_sql_parse.py's CATALOG and SCHEMA); there are no keys."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import pyarrow as pa

from saeta.core.flight_sql_parse import CATALOG, SCHEMA

TABLE_TYPE = "TABLE"
SERVER_NAME = "saeta"

CATALOGS = pa.schema([pa.field("catalog_name", pa.utf8(), False)])
DB_SCHEMAS = pa.schema([pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8(), False)])
TABLES = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8()),
        pa.field("table_name", pa.utf8(), False),
        pa.field("table_type", pa.utf8(), False),
    ]
)
TABLES_WITH_SCHEMA = TABLES.append(pa.field("table_schema", pa.binary(), False))
TABLE_TYPES = pa.schema([pa.field("table_type", pa.utf8(), False)])
PRIMARY_KEYS = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8()),
        pa.field("table_name", pa.utf8(), False),
        pa.field("column_name", pa.utf8(), False),
        pa.field("key_name", pa.utf8()),
        pa.field("key_sequence", pa.int32(), False),
    ]
)
FOREIGN_KEYS = pa.schema(
    [
        pa.field("pk_catalog_name", pa.utf8()),
        pa.field("pk_db_schema_name", pa.utf8()),
        pa.field("pk_table_name", pa.utf8(), False),
        pa.field("pk_column_name", pa.utf8(), False),
        pa.field("fk_catalog_name", pa.utf8()),
        pa.field("fk_db_schema_name", pa.utf8()),
        pa.field("fk_table_name", pa.utf8(), False),
        pa.field("fk_column_name", pa.utf8(), False),
        pa.field("key_sequence", pa.int32(), False),
        pa.field("fk_key_name", pa.utf8()),
        pa.field("pk_key_name", pa.utf8()),
        pa.field("update_rule", pa.uint8(), False),
        pa.field("delete_rule", pa.uint8(), False),
    ]
)
_VALUE_FIELDS = [
    pa.field("string_value", pa.utf8()),
    pa.field("bool_value", pa.bool_()),
    pa.field("bigint_value", pa.int64()),
    pa.field("int32_bitmask", pa.int32()),
    pa.field("string_list", pa.list_(pa.field("item", pa.utf8()))),
    pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.field("item", pa.int32())))),
]
SQL_INFO = pa.schema(
    [
        pa.field("info_name", pa.uint32(), False),
        pa.field("value", pa.dense_union(_VALUE_FIELDS), False),
    ]
)
STRING, BOOL, INT32 = 0, 1, 3


def like(pattern: str | None) -> re.Pattern[str] | None:
    """A Flight SQL filter pattern (``%`` any run, ``_`` any one character) as a regex."""
    if pattern is None:
        return None
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def _matches(pattern: re.Pattern[str] | None, name: str) -> bool:
    return pattern is None or pattern.fullmatch(name) is not None


def _in_catalog(catalog: str | None) -> bool:
    return catalog is None or catalog == CATALOG


def catalogs() -> pa.Table:
    return pa.table({"catalog_name": [CATALOG]}, schema=CATALOGS)


def db_schemas(catalog: str | None, pattern: str | None) -> pa.Table:
    rows = [SCHEMA] if _in_catalog(catalog) and _matches(like(pattern), SCHEMA) else []
    return pa.table({"catalog_name": [CATALOG] * len(rows), "db_schema_name": rows}, schema=DB_SCHEMAS)


def table_names(
    datasets: Iterable[str],
    catalog: str | None,
    schema_pattern: str | None,
    table_pattern: str | None,
    table_types: Sequence[str],
) -> list[str]:
    """The datasets GetTables lists, sorted."""
    if not _in_catalog(catalog) or not _matches(like(schema_pattern), SCHEMA):
        return []
    if table_types and TABLE_TYPE not in table_types:
        return []
    pattern = like(table_pattern)
    return sorted(name for name in datasets if _matches(pattern, name))


def tables(names: Sequence[str], schemas: Mapping[str, bytes] | None) -> pa.Table:
    """GetTables' rows for ``names``; with ``schemas`` (include_schema), each table's
    encapsulated IPC schema message."""
    n = len(names)
    columns: dict[str, list[object]] = {
        "catalog_name": [CATALOG] * n,
        "db_schema_name": [SCHEMA] * n,
        "table_name": list(names),
        "table_type": [TABLE_TYPE] * n,
    }
    if schemas is None:
        return pa.table(columns, schema=TABLES)
    columns["table_schema"] = [schemas[name] for name in names]
    return pa.table(columns, schema=TABLES_WITH_SCHEMA)


def table_types() -> pa.Table:
    return pa.table({"table_type": [TABLE_TYPE]}, schema=TABLE_TYPES)


def no_keys(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def sql_info(version: str, arrow_version: str, asked: Sequence[int]) -> pa.Table:
    """GetSqlInfo's rows: those of ``asked`` the gateway knows (all of them when empty)."""
    known: dict[int, tuple[int, object]] = {
        0: (STRING, SERVER_NAME),  # FLIGHT_SQL_SERVER_NAME
        1: (STRING, version),  # FLIGHT_SQL_SERVER_VERSION
        2: (STRING, arrow_version),  # FLIGHT_SQL_SERVER_ARROW_VERSION
        3: (BOOL, True),  # FLIGHT_SQL_SERVER_READ_ONLY
        4: (BOOL, True),  # FLIGHT_SQL_SERVER_SQL
        5: (BOOL, False),  # FLIGHT_SQL_SERVER_SUBSTRAIT
        8: (INT32, 0),  # FLIGHT_SQL_SERVER_TRANSACTION: SQL_SUPPORTED_TRANSACTION_NONE
        9: (BOOL, False),  # FLIGHT_SQL_SERVER_CANCEL
        500: (BOOL, False),  # SQL_DDL_CATALOG
        501: (BOOL, False),  # SQL_DDL_SCHEMA
        502: (BOOL, False),  # SQL_DDL_TABLE
        504: (STRING, '"'),  # SQL_IDENTIFIER_QUOTE_CHAR
        506: (BOOL, True),  # SQL_ALL_TABLES_ARE_SELECTABLE
        515: (BOOL, True),  # SQL_SUPPORTS_COLUMN_ALIASING
        563: (BOOL, False),  # SQL_TRANSACTIONS_SUPPORTED
    }
    ids = [i for i in (asked or sorted(known)) if i in known]
    children: list[list[object]] = [[] for _ in _VALUE_FIELDS]
    types, offsets = [], []
    for i in ids:
        kind, value = known[i]
        types.append(kind)
        offsets.append(len(children[kind]))
        children[kind].append(value)
    arrays = [pa.array(values, type=f.type) for values, f in zip(children, _VALUE_FIELDS, strict=True)]
    union = pa.UnionArray.from_dense(
        pa.array(types, pa.int8()),
        pa.array(offsets, pa.int32()),
        arrays,
        [f.name for f in _VALUE_FIELDS],
    )
    return pa.Table.from_arrays([pa.array(ids, pa.uint32()), union], schema=SQL_INFO)
