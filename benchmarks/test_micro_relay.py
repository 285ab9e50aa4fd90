"""Micro-benchmarks of the relay's per-byte functions, the Rust extension against its
pure-Python twin, on tunnel messages of 16 KiB to 4 MiB (pytest-benchmark):
  python -m pytest benchmarks/test_micro_relay.py --benchmark-only"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pyarrow as pa
import pytest
from saeta import _relay_py, relay
from saeta.core.tunnel_codec import encode_arrow_chunk

SIZES = {"16KiB": 16 * 1024, "256KiB": 256 * 1024, "1MiB": 1024 * 1024, "4MiB": 4 * 1024 * 1024}
IMPLS: dict[str, ModuleType] = {"python": _relay_py}
if "rust" in relay.available():
    IMPLS["rust"] = relay.load("rust")


def tunnel_message(target: int) -> bytes:
    """An ArrowChunk holding whole record batch messages, about ``target`` bytes."""
    rows = max(1, target // 40)
    batch = pa.record_batch(
        {"a": pa.array(range(rows), pa.int64()), "b": pa.array([0.5] * rows), "c": pa.array(range(rows), pa.int32())}
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    stream = sink.getvalue().to_pybytes()
    schema_len = len(batch.schema.serialize().to_pybytes())
    payload = stream[schema_len:-8]  # the record batch message alone
    return encode_arrow_chunk([payload])


@pytest.fixture(params=list(SIZES), scope="module")
def message(request: pytest.FixtureRequest) -> bytes:
    return tunnel_message(SIZES[request.param])


@pytest.mark.parametrize("impl", list(IMPLS))
def test_locate_payload(benchmark: Any, impl: str, message: bytes) -> None:
    benchmark(IMPLS[impl].locate_payload, message)


@pytest.mark.parametrize("impl", list(IMPLS))
def test_scan_ipc(benchmark: Any, impl: str, message: bytes) -> None:
    start, length = IMPLS[impl].locate_payload(message)
    payload = message[start : start + length]
    benchmark(IMPLS[impl].scan_ipc, payload)


@pytest.mark.parametrize("impl", list(IMPLS))
def test_classify_chunk(benchmark: Any, impl: str, message: bytes) -> None:
    _, _, length, rows = benchmark(IMPLS[impl].classify_chunk, message)
    assert rows > 0
    assert length > 0
