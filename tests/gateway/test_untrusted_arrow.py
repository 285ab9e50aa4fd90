"""Arrow from a connector is untrusted: a schema whose field asks for a pickled Python
extension type is read as its storage type, and the pickle never runs (pyarrow >= 14.0.1
no longer loads PyExtensionType from IPC; we pin above it and prove it here)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pyarrow as pa
from saeta.gateway.arrow_check import read_schema
from saeta.gateway.query import schema_fields


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_pickled_extension_types_are_never_loaded(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    metadata = {
        b"ARROW:extension:name": b"arrow.py_extension_type",
        b"ARROW:extension:metadata": pickle.dumps(_Payload(marker)),
    }
    schema = pa.schema([pa.field("x", pa.int64(), metadata=metadata)])
    # The gateway reads the schema message to describe the query to the browser.
    assert schema_fields(read_schema(schema.serialize().to_pybytes())) == [{"name": "x", "type": "int64"}]
    # A client reading the whole stream (pyarrow, as the Python client does) is safe too.
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.record_batch([pa.array([1, 2])], schema=schema))
    table = pa.ipc.open_stream(sink.getvalue()).read_all()
    assert table.schema.field("x").type == pa.int64()
    assert not marker.exists()


def test_pyarrow_is_at_least_the_fixed_version() -> None:
    major, minor, patch = (int(p) for p in pa.__version__.split(".")[:3])
    assert (major, minor, patch) >= (14, 0, 1)
