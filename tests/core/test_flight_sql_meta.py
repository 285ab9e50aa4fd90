"""Flight SQL's metadata results (core/flight_sql_meta.py) and descriptors' queries
(core/flight_request.py), error statuses (core/flight_status.py)."""

from __future__ import annotations

import pytest
from saeta.core import flight_request, flight_sql_meta, flight_status
from saeta.errors import BadRequest, DatasetNotFound, SaetaError, SqlUnsupported


def test_sql_info_answers_what_it_knows_in_the_fixed_schema() -> None:
    table = flight_sql_meta.sql_info("1.2.3", "26.0.1", [0, 1, 3, 8, 504, 9999])
    assert table.schema == flight_sql_meta.SQL_INFO
    assert table.to_pylist() == [
        {"info_name": 0, "value": "saeta"},
        {"info_name": 1, "value": "1.2.3"},
        {"info_name": 3, "value": True},
        {"info_name": 8, "value": 0},
        {"info_name": 504, "value": '"'},
    ]
    assert len(flight_sql_meta.sql_info("1", "2", [])) == 15


def test_tables_follow_the_patterns() -> None:
    names = ["sales", "sales_2024", "Stock", "x"]
    assert flight_sql_meta.table_names(names, None, None, None, []) == ["Stock", "sales", "sales_2024", "x"]
    assert flight_sql_meta.table_names(names, "saeta", "datasets", "sales%", ["TABLE"]) == ["sales", "sales_2024"]
    assert flight_sql_meta.table_names(names, None, "d_tasets", "_", []) == ["x"]
    assert flight_sql_meta.table_names(names, "other", None, None, []) == []
    assert flight_sql_meta.table_names(names, None, "public", None, []) == []
    assert flight_sql_meta.table_names(names, None, None, None, ["VIEW"]) == []
    assert flight_sql_meta.table_names(["a.b"], None, None, "a_b", []) == ["a.b"]
    assert flight_sql_meta.table_names(["axb"], None, None, "a.b", []) == []  # a dot is a dot
    table = flight_sql_meta.tables(["sales"], {"sales": b"ipc"})
    assert table.schema == flight_sql_meta.TABLES_WITH_SCHEMA
    assert table.to_pylist() == [
        {
            "catalog_name": "saeta",
            "db_schema_name": "datasets",
            "table_name": "sales",
            "table_type": "TABLE",
            "table_schema": b"ipc",
        }
    ]
    assert flight_sql_meta.db_schemas(None, "%").column("db_schema_name").to_pylist() == ["datasets"]
    assert flight_sql_meta.db_schemas("nope", None).num_rows == 0


def test_descriptors() -> None:
    assert flight_request.path_query(["ventas"]).dataset == "ventas"
    for bad in ([], ["a", "b"], [""], ["x" * 300]):
        with pytest.raises(BadRequest):
            flight_request.path_query(bad)
    q = flight_request.json_query(b'{"dataset": "v", "columns": ["a"], "limit": 3, "filter": [["a", ">", 1]]}')
    assert (q.dataset, q.columns, q.limit) == ("v", ("a",), 3)
    for bad_cmd in (
        b"{",
        b"[]",
        b'{"dataset": "v", "resume": {}}',
        b'{"dataset": "v", "limit": -1}',
        b"{" + b" " * 70_000 + b"}",
    ):
        with pytest.raises(BadRequest):
            flight_request.json_query(bad_cmd)


def test_statuses_carry_the_code() -> None:
    assert flight_status.status_of(DatasetNotFound("no dataset 'x'")) == (
        "NOT_FOUND",
        "DATASET_NOT_FOUND: no dataset 'x'",
    )
    assert flight_status.status_of(SqlUnsupported("no"))[0] == "INVALID_ARGUMENT"
    assert flight_status.status_of(SaetaError("?", code="SOMETHING_NEW"))[0] == "INTERNAL"
