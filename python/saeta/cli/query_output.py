"""`saeta query --output`: the result written as it streams, in the format its file name's
extension gives (or ``--format``): CSV, Parquet, or Arrow IPC (stream, or file for
``.feather``); ``-`` writes to stdout (CSV unless ``--format`` says otherwise)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

BY_EXTENSION = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".arrows": "arrow",
    ".ipc": "arrow",
    ".feather": "feather",
}


def format_of(output: str, given: str | None) -> str:
    """``--format`` when given; else by extension; ``-`` is CSV; any other name is an
    Arrow IPC stream (what --output wrote before it knew formats)."""
    if given is not None:
        return given
    if output == "-":
        return "csv"
    return BY_EXTENSION.get(Path(output).suffix.lower(), "arrow")


class Output:
    """A writer opened at the first batch (its schema), closed at the end."""

    def __init__(self, output: str, fmt: str) -> None:
        self.output, self.fmt = output, fmt
        self._sink: BinaryIO | pa.NativeFile | None = None
        self._writer: Any = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self._open(batch.schema)
        self._writer.write_batch(batch)

    def _open(self, schema: pa.Schema) -> None:
        sink: BinaryIO | pa.NativeFile = sys.stdout.buffer if self.output == "-" else pa.OSFile(self.output, "wb")
        self._sink = sink
        if self.fmt == "csv":
            self._writer = pacsv.CSVWriter(sink, schema)
        elif self.fmt == "parquet":
            self._writer = pq.ParquetWriter(sink, schema)
        elif self.fmt == "feather":
            self._writer = pa.ipc.new_file(sink, schema)
        else:
            self._writer = pa.ipc.new_stream(sink, schema)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._sink is not None:
            if self.output == "-":
                sys.stdout.buffer.flush()
            else:
                self._sink.close()
