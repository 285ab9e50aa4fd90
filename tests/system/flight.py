"""Clients of a deployment's Flight endpoint (docs/flight.md) for system tests: pyarrow's,
over TLS trusting the deployment's CA, with the session as a bearer header."""

from __future__ import annotations

import pyarrow.flight as fl

from tests.system.harness import Deployment


def connect(dep: Deployment, port: int | None = None) -> fl.FlightClient:
    """pyarrow.flight's client of the gateway's endpoint (``port``: another replica's)."""
    ca = (dep.certs / "ca.crt").read_bytes()
    where = f"grpc+tls://127.0.0.1:{port or dep.flight_port}"
    return fl.connect(where, tls_root_certs=ca, override_hostname="localhost")


def bearer(token: str) -> fl.FlightCallOptions:
    return fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
