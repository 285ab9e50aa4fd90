"""The benchmark's table: 2,000,000 rows x 8 columns (int64, timestamp, 3 x float64, a
50-value string, a free string, int32), generated deterministically with pyarrow.compute
and written as Parquet once per run, in one of two shapes (``SHAPES``):

- ``mixed``: pyarrow's defaults (Snappy, dictionary encoding): the reader's decoding costs
  about as much as moving the bytes, as with most files customers have;
- ``plain``: the same table uncompressed and PLAIN-encoded, cheap to decode (about half
  the scan's time), so the transport's own cost dominates."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

BATCH_ROWS = 16_384  # the seed's performance.max_chunk_size, used by saeta and Flight alike


def table(rows: int, seed: int = 11) -> pa.Table:
    ids = pa.array(range(rows), pa.int64())
    r = [pc.random(rows, initializer=seed + i) for i in range(4)]
    ts = pc.cast(pc.add(pc.multiply(ids, 1000), 1_704_067_200_000), pa.timestamp("ms"))
    labels = pa.array([f"categoria-{i:02d}" for i in range(50)])
    category = pc.take(labels, pc.cast(pc.floor(pc.multiply(r[0], 50)), pa.int32()))
    digits = pc.cast(pc.floor(pc.multiply(r[1], 1e9)), pa.int64()).cast(pa.string())
    note = pc.binary_join_element_wise("nota ", digits, "")
    return pa.table(
        {
            "id": ids,
            "ts": ts,
            "a": pc.multiply(r[1], 1000.0),
            "b": pc.multiply(r[2], 1e6),
            "c": pc.subtract(r[3], 0.5),
            "category": category,
            "note": note,
            "qty": pc.cast(pc.floor(pc.multiply(r[2], 100)), pa.int32()),
        }
    )


# Parquet writer options of each shape.
SHAPES: dict[str, dict[str, object]] = {
    "mixed": {},
    "plain": {"compression": "none", "use_dictionary": False},
}


def write(path: Path, rows: int, shape: str = "mixed") -> pa.Table:
    """Writes the table of ``rows`` rows as Parquet in ``shape``; returns it."""
    t = table(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, path, row_group_size=8 * BATCH_ROWS, **SHAPES[shape])  # type: ignore[arg-type]
    return t


def ipc_bytes(t: pa.Table, batch_rows: int = BATCH_ROWS) -> int:
    """Size of the table as an Arrow IPC stream in batches of ``batch_rows``."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as writer:
        for batch in t.to_batches(max_chunksize=batch_rows):
            writer.write_batch(batch)
    return int(sink.getvalue().size)
