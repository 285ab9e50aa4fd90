"""No frame the gateway sends is larger than websocket.max_frame_bytes (1 MiB by default,
the default max_size of Python websockets), whatever batches the source or the connector
makes: a client written from docs/protocol.md with its library's defaults reads any
answer. Before the limit, frames reached 2.4 MB and such a client was closed 1009."""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from saeta.client import AsyncClient, ServerError
from saeta.core.tunnel_codec import encode_arrow_chunk
from saeta.demo_data import ventas
from saeta.v1 import tunnel_pb2 as pb

from tests.system.harness import Deployment
from tests.system.test_data_calls import doget, query_with

pytestmark = pytest.mark.system
MiB = 1024 * 1024
ROWS = 200_000  # one row group and one source batch of about 12 MB (under the 16 MiB tunnel message)


async def _read(dep: Deployment, max_size: int, **query: Any) -> tuple[pa.Table, list[int]]:
    """A query by a client that accepts frames up to ``max_size``, and the sizes of the
    binary frames it received."""
    sizes: list[int] = []
    async with await AsyncClient.connect(dep.ws_url, dep.session("acme"), max_size=max_size) as client:
        on_binary = client._on_binary

        def sizing(frame: bytes) -> None:
            sizes.append(len(frame))
            on_binary(frame)

        client._on_binary = sizing  # type: ignore[method-assign]
        table = await asyncio.wait_for(client.query("big", **query), 120)
    return table, sizes


@pytest.mark.parametrize("max_frame_bytes", [None, 256 * 1024])
def test_every_frame_fits_the_limit_whatever_the_sources_batches(
    deployment: Deployment, max_frame_bytes: int | None
) -> None:
    data = deployment.root / "data"
    data.mkdir()
    expected = ventas(ROWS)
    pq.write_table(expected, data / "big.parquet", row_group_size=ROWS)
    deployment.start_control_plane()
    websocket = {"websocket": {"max_frame_bytes": max_frame_bytes}} if max_frame_bytes else {}
    deployment.start_gateway(**websocket)
    deployment.start_connector("acme", {"big": {"type": "parquet", "path": "data/big.parquet"}}, max_chunk_size=ROWS)
    limit = max_frame_bytes or MiB
    table, sizes = asyncio.run(_read(deployment, limit))
    assert table.num_rows == ROWS
    assert table.equals(expected.select(table.column_names))
    assert max(sizes) <= limit
    assert len(sizes) > expected.nbytes // limit  # the 24 MB went in many frames


def test_the_gateway_cuts_what_a_connector_sends_over_the_limit(deployment: Deployment) -> None:
    """A connector that ignores DoGetRequest.max_chunk_bytes (one of an older version, or
    any other) sends a 6 MB message: the browser still gets frames of at most the limit, and
    a row that cannot fit in any frame fails the query with a message naming the key."""
    deployment.start_control_plane()
    deployment.start_gateway(data_port=None)
    schema = pa.schema([("s", pa.string())])
    big = pa.record_batch([pa.array([f"{i:08d}" * 2000 for i in range(400)])], schema=schema)  # 6.4 MB

    def serving(batches: list[pa.RecordBatch], asked: list[int]) -> Any:
        async def serve(port: int, request: pb.DoGetRequest) -> Any:
            asked.append(request.max_chunk_bytes)
            rows = sum(b.num_rows for b in batches)
            end = pb.ArrowChunk(end=True, end_records=rows).SerializeToString()
            return await doget(
                deployment, port, "acme", request.call_id, [encode_arrow_chunk([b.serialize() for b in batches]), end]
            )

        return serve

    async def run(batches: list[pa.RecordBatch], asked: list[int]) -> Any:
        # query_with's client accepts any size: count what the gateway sent.
        sizes: list[int] = []
        original = AsyncClient._on_binary

        def sizing(self: AsyncClient, frame: bytes) -> None:
            sizes.append(len(frame))
            original(self, frame)

        AsyncClient._on_binary = sizing  # type: ignore[method-assign]
        try:
            outcome, _ = await query_with(deployment, serving(batches, asked), schema)
        finally:
            AsyncClient._on_binary = original  # type: ignore[method-assign]
        return outcome, sizes

    asked: list[int] = []
    table, sizes = asyncio.run(run([big, big.slice(0, 3)], asked))
    assert asked == [MiB - 8]  # the gateway tells the connector what fits
    assert isinstance(table, pa.Table)
    assert table.column("s").to_pylist() == big.column(0).to_pylist() + big.column(0).to_pylist()[:3]
    assert max(sizes) <= MiB and len(sizes) >= 8

    huge_row = pa.record_batch([pa.array(["x" * (2 * MiB)])], schema=schema)
    err, _ = asyncio.run(run([huge_row], []))
    assert isinstance(err, ServerError) and err.code == "QUERY_FAILED"
    assert "websocket.max_frame_bytes" in err.message
