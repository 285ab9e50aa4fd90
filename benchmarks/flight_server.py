"""The baseline: a pyarrow.flight server over mutual TLS serving one Parquet file, read
per request in batches of the same size as saeta's. Run as its own process so that its
CPU can be measured: python benchmarks/flight_server.py PORT CERT_DIR FILE"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.flight as flight
import pyarrow.parquet as pq

BATCH_ROWS = 16_384


class ParquetFlightServer(flight.FlightServerBase):  # type: ignore[misc]
    def __init__(self, port: int, certs: Path, file: Path) -> None:
        super().__init__(
            f"grpc+tls://127.0.0.1:{port}",
            tls_certificates=[((certs / "server.crt").read_bytes(), (certs / "server.key").read_bytes())],
            verify_client=True,
            root_certificates=(certs / "ca.crt").read_bytes(),
        )
        self.file = file

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        reader = pq.ParquetFile(self.file)
        return flight.GeneratorStream(reader.schema_arrow, reader.iter_batches(batch_size=BATCH_ROWS))


def client(port: int, certs: Path, tenant: str) -> flight.FlightClient:
    return flight.FlightClient(
        f"grpc+tls://127.0.0.1:{port}",
        tls_root_certs=(certs / "ca.crt").read_bytes(),
        cert_chain=(certs / "clients" / tenant / "client.crt").read_bytes(),
        private_key=(certs / "clients" / tenant / "client.key").read_bytes(),
        override_hostname="localhost",
    )


if __name__ == "__main__":
    server = ParquetFlightServer(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
    print("flight server ready", flush=True)
    server.serve()
