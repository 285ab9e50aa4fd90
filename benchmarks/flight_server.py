"""The baseline: a pyarrow.flight server over mutual TLS serving one Parquet file, read
per request in batches of the same size as saeta's. Run as its own process so that its
CPU can be measured: python benchmarks/flight_server.py PORT CERT_DIR FILE [READER [COMPRESSION]]

READER is how the server reads the file (``READERS``):

- ``scan`` (the default, its best): a pyarrow.dataset scan, row groups decoded in
  parallel on Arrow's thread pool, handed to Flight as a C++ RecordBatchReader (no Python
  per batch);
- ``iter_batches``: ``ParquetFile.iter_batches`` through a Python generator, one thread
  (the suite's baseline before issue 19; kept to show what the reader alone changes).

COMPRESSION (``lz4`` or ``zstd``; empty, Flight's default, for none) compresses the IPC
bodies it sends, as a Flight server can for a slow link; the client decompresses."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.flight as flight
import pyarrow.parquet as pq

BATCH_ROWS = 16_384
READERS = ("scan", "iter_batches")


class ParquetFlightServer(flight.FlightServerBase):  # type: ignore[misc]
    def __init__(self, port: int, certs: Path, file: Path, reader: str = "scan", compression: str = "") -> None:
        if reader not in READERS:
            raise ValueError(f"reader must be one of {READERS}, not {reader!r}")
        super().__init__(
            f"grpc+tls://127.0.0.1:{port}",
            tls_certificates=[((certs / "server.crt").read_bytes(), (certs / "server.key").read_bytes())],
            verify_client=True,
            root_certificates=(certs / "ca.crt").read_bytes(),
        )
        self.file = file
        self.reader = reader
        self.options = pa.ipc.IpcWriteOptions(compression=compression or None)

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        if self.reader == "scan":
            scanner = ds.dataset(self.file, format="parquet").scanner(batch_size=BATCH_ROWS)
            batches: pa.RecordBatchReader = scanner.to_reader()
            return flight.RecordBatchStream(batches, options=self.options)
        parquet = pq.ParquetFile(self.file)
        return flight.GeneratorStream(
            parquet.schema_arrow, parquet.iter_batches(batch_size=BATCH_ROWS), options=self.options
        )


def client(port: int, certs: Path, tenant: str) -> flight.FlightClient:
    return flight.FlightClient(
        f"grpc+tls://127.0.0.1:{port}",
        tls_root_certs=(certs / "ca.crt").read_bytes(),
        cert_chain=(certs / "clients" / tenant / "client.crt").read_bytes(),
        private_key=(certs / "clients" / tenant / "client.key").read_bytes(),
        override_hostname="localhost",
    )


if __name__ == "__main__":
    server = ParquetFlightServer(
        int(sys.argv[1]),
        Path(sys.argv[2]),
        Path(sys.argv[3]),
        sys.argv[4] if len(sys.argv) > 4 else "scan",
        sys.argv[5] if len(sys.argv) > 5 else "",
    )
    print("flight server ready", flush=True)
    server.serve()
