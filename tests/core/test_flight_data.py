"""FlightData messages written by hand (core/flight_data.py) are protobuf's own bytes, and
a stream of them reads back as the table they were made of."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc as ipc
from saeta.core import flight_data
from saeta.flight import flight_pb2 as fpb


def _table() -> pa.Table:
    return pa.table({"a": list(range(1000)), "s": [str(i) * (i % 7) for i in range(1000)]})


def test_encode_is_protobufs_encoding() -> None:
    for header, body in ((b"h" * 3, b"b" * 5), (b"h" * 200, b"b" * 70_000), (b"h", b"")):
        want = fpb.FlightData(data_header=header, data_body=body).SerializeToString()
        assert flight_data.encode(header, body) == want


def test_a_payload_becomes_one_flight_data_per_message() -> None:
    table = _table()
    batches = table.to_batches(max_chunksize=300)
    payload = b"".join(bytes(b.serialize()) for b in batches)
    messages = [fpb.FlightData.FromString(m) for m in flight_data.of_payload(payload)]
    assert len(messages) == len(batches)
    schema_msg = fpb.FlightData.FromString(flight_data.of_schema(bytes(table.schema.serialize())))
    # Reassembled as an IPC stream (prefix, metadata, body per message), it is the table.
    stream = b"".join(
        b"\xff\xff\xff\xff" + len(m.data_header).to_bytes(4, "little") + m.data_header + m.data_body
        for m in [schema_msg, *messages]
    )
    assert ipc.open_stream(stream + b"\xff\xff\xff\xff\x00\x00\x00\x00").read_all().equals(table)


def test_dictionary_batches_are_messages_too() -> None:
    table = pa.table({"d": pa.array(["x", "y", "x"]).dictionary_encode()})
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue()
    # The stream less its schema message and end marker: a dictionary batch, then the batch.
    schema_len = len(table.schema.serialize())
    payload = bytes(data)[schema_len:-8]
    assert len(flight_data.of_payload(payload)) == 2


def test_aliases_rename_only_the_schema() -> None:
    schema = pa.schema([("a", pa.int64()), ("b", pa.utf8())])
    renamed = flight_data.schema_message(bytes(schema.serialize()), ("x", "y"))
    assert flight_data.schema_of(renamed) == pa.schema([("x", pa.int64()), ("y", pa.utf8())])
    assert flight_data.schema_message(b"same", None) == b"same"
