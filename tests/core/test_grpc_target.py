from __future__ import annotations

import pytest
from saeta.core.grpc_target import MAX_ADDRESS_CHARS, host_of, is_host_port, with_port


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("localhost:50051", "localhost:9000"),
        ("10.0.0.5:443", "10.0.0.5:9000"),
        ("[::1]:50051", "[::1]:9000"),
        ("dns:///gw.example.com:443", "dns:///gw.example.com:9000"),
        ("gw.example.com", "gw.example.com:9000"),
        ("dns:///gw.example.com", "dns:///gw.example.com:9000"),
    ],
)
def test_with_port(target: str, expected: str) -> None:
    assert with_port(target, 9000) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("localhost:50051", "localhost"),
        ("10.0.0.5:443", "10.0.0.5"),
        ("[::1]:50051", "::1"),
        ("dns:///gw.example.com:443", "gw.example.com"),
        ("gw.example.com", "gw.example.com"),
        ("dns:///gw.example.com", "gw.example.com"),
    ],
)
def test_host_of(target: str, expected: str) -> None:
    assert host_of(target) == expected


@pytest.mark.parametrize("address", ["lb.example.com:9101", "127.0.0.1:1", "[::1]:65535", "r-1.internal:443"])
def test_addresses_a_connector_may_be_sent_to(address: str) -> None:
    assert is_host_port(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "host",
        "host:",
        ":9101",
        "host:0",
        "host:65536",
        "host:000009101",
        "dns:///host:9101",
        "host/path:9101",
        "http://host:9101",
        "user@host:9101",
        "-host:9101",
        "[]:9101",
        "[::1%eth0]:9101",
        "ho st:9101",
        "h" * MAX_ADDRESS_CHARS + ":1",
    ],
)
def test_anything_else_is_refused(address: str) -> None:
    assert not is_host_port(address)
