from __future__ import annotations

import pytest
from saeta.core.grpc_target import with_port


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
