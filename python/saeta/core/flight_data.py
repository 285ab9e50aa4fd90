"""Arrow IPC messages as Flight's FlightData messages, sans I/O (docs/flight.md, "DoGet").

A DoGet stream is FlightData messages: the schema first, then one per record batch or
dictionary batch, each the IPC message's flatbuffer metadata (``data_header``) and its body
(``data_body``). The connector's data arrives as whole IPC messages (the relay framed
them, full validation read them); pyarrow's MessageReader finds each one's metadata and
body as views, and ``encode`` writes the protobuf bytes of a FlightData by hand around
them: one copy of the body, where building the protobuf message object costs two (its
fields take bytes, then it serialises). tests/core/test_flight_data.py checks the bytes
against protobuf's own encoding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from saeta.errors import QueryFailed

HEADER_TAG = b"\x12"  # field 2 (data_header), length-delimited
BODY_TAG = b"\xc2\x3e"  # field 1000 (data_body), length-delimited


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode(header: Any, body: Any) -> bytes:
    """The FlightData protobuf message of one IPC message's metadata and body."""
    parts: list[Any] = [HEADER_TAG, _varint(len(header)), header]
    if len(body):
        parts += [BODY_TAG, _varint(len(body)), body]
    return b"".join(parts)


def messages(payload: Any) -> Iterator[tuple[pa.Buffer, pa.Buffer]]:
    """The metadata and body of each encapsulated IPC message in ``payload``, as views."""
    reader = pa.ipc.MessageReader.open_stream(pa.py_buffer(payload))
    while True:
        try:
            message = reader.read_next_message()
        except StopIteration:
            return
        yield message.metadata, message.body


def of_payload(payload: Any) -> list[bytes]:
    """FlightData messages, one per IPC message of ``payload``."""
    return [encode(meta, body) for meta, body in messages(payload)]


def schema_message(schema_ipc: bytes, names: Sequence[str] | None = None) -> bytes:
    """The encapsulated schema message to announce: the connector's, or (SQL aliases) the
    same schema with its fields renamed, in order."""
    if names is None:
        return schema_ipc
    schema = pa.ipc.read_schema(pa.py_buffer(schema_ipc))
    if len(schema) != len(names):
        raise QueryFailed(f"the connector answered with {len(schema)} columns where the statement selects {len(names)}")
    fields = [f.with_name(name) for f, name in zip(schema, names, strict=True)]
    return bytes(pa.schema(fields, metadata=schema.metadata).serialize())


def schema_of(schema_ipc: bytes) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(schema_ipc))


def of_schema(schema_ipc: bytes, names: Sequence[str] | None = None) -> bytes:
    """The FlightData message that opens a DoGet stream: the schema."""
    meta, body = next(messages(schema_message(schema_ipc, names)))
    return encode(meta, body)
