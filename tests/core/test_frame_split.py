"""Payloads cut to the browser's frame limit: every piece fits, holds whole messages that
decode on their own, and the pieces together are the same rows in the same order."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from saeta.connector.chunks import chunk_messages
from saeta.core.frame_split import FrameTooLarge, fitting_batches, split_payload
from saeta.relay import EOS
from saeta.v1 import tunnel_pb2 as pb

SCHEMA = pa.schema([("n", pa.int64()), ("s", pa.string())])


def _batch(lengths: list[int], start: int = 0) -> pa.RecordBatch:
    n = pa.array(range(start, start + len(lengths)), pa.int64())
    s = pa.array(["x" * k for k in lengths])
    return pa.record_batch([n, s], schema=SCHEMA)


def _decode(pieces: list[bytes]) -> pa.Table:
    """Each piece on its own after the schema (as a client decoding frame by frame does)."""
    batches: list[pa.RecordBatch] = []
    for piece in pieces:
        stream = SCHEMA.serialize().to_pybytes() + bytes(piece) + EOS
        batches.extend(pa.ipc.open_stream(stream))
    return pa.Table.from_batches(batches, SCHEMA)


def _payload(batches: list[pa.RecordBatch]) -> bytes:
    return b"".join(b.serialize().to_pybytes() for b in batches)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 3000), min_size=1, max_size=60), min_size=1, max_size=5),
    st.integers(4096, 64 * 1024),
)
def test_pieces_fit_hold_whole_messages_and_keep_the_rows(batch_lengths: list[list[int]], limit: int) -> None:
    batches = [_batch(lengths, 1000 * i) for i, lengths in enumerate(batch_lengths)]
    whole = pa.Table.from_batches(batches, SCHEMA)
    pieces = list(split_payload(_payload(batches), SCHEMA, limit))
    assert all(len(p) <= limit for p in pieces)
    assert all(len(p) % 8 == 0 for p in pieces)  # the client's column buffers stay aligned
    assert _decode(pieces).equals(whole)


def test_a_payload_that_fits_is_passed_on_as_it_came() -> None:
    payload = _payload([_batch([10] * 100)])
    assert list(split_payload(payload, SCHEMA, len(payload))) == [payload]


def test_a_row_larger_than_the_limit_is_refused_naming_the_key() -> None:
    payload = _payload([_batch([10, 70_000, 10])])
    with pytest.raises(FrameTooLarge, match=r"websocket\.max_frame_bytes") as err:
        list(split_payload(payload, SCHEMA, 64 * 1024))
    assert err.value.code == "QUERY_FAILED"


def test_fitting_batches_leaves_a_row_too_large_alone() -> None:
    pieces = list(fitting_batches(_batch([10] * 50 + [9000] + [10] * 50), 4096))
    assert sum(b.num_rows for b, _ in pieces) == 101
    over = [b for b, encoded in pieces if encoded.size > 4096]
    assert [b.num_rows for b in over] == [1]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 2000), min_size=1, max_size=80), min_size=1, max_size=6),
    st.integers(4096, 32 * 1024),
)
def test_a_connector_told_the_limit_sends_no_larger_message(batch_lengths: list[list[int]], limit: int) -> None:
    batches = [_batch(lengths, 1000 * i) for i, lengths in enumerate(batch_lengths)]
    chunks = list(chunk_messages(batches, 1024 * 1024, limit))
    datas = [pb.ArrowChunk.FromString(c).data for c, _ in chunks]
    assert all(len(d) <= limit for d in datas)
    assert sum(r for _, r in chunks) == sum(b.num_rows for b in batches)
    assert _decode(datas).equals(pa.Table.from_batches(batches, SCHEMA))


def test_a_connector_not_told_keeps_coalescing_to_its_target() -> None:
    batches = [_batch([100] * 200) for _ in range(10)]
    chunks = list(chunk_messages(batches, 50_000))
    assert len(chunks) < len(batches) and all(r % 200 == 0 for _, r in chunks)


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_a_compressing_connector_slices_large_batches_by_what_the_slices_hold(codec: str) -> None:
    # A slice's buffers are its parent's: sized by get_total_buffer_size, every slice looked
    # as large as the whole batch and the batch went out one row per message.
    batch = _batch([40] * 20_000)
    limit = 64 * 1024
    chunks = list(chunk_messages([batch], 1024 * 1024, limit, codec))
    datas = [pb.ArrowChunk.FromString(c).data for c, _ in chunks]
    assert _decode(datas).equals(pa.Table.from_batches([batch], SCHEMA))
    assert sum(r for _, r in chunks) == batch.num_rows
    assert len(chunks) <= 3 * (batch.nbytes // limit + 1), len(chunks)
    # What the gateway decompresses stays within the limit, as an uncompressed message would.
    assert all(
        pa.Table.from_batches(list(pa.ipc.open_stream(SCHEMA.serialize().to_pybytes() + bytes(d) + EOS))).nbytes
        <= limit
        for d in datas
    )
