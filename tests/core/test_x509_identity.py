"""A peer certificate's identity, read without files or sockets."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from saeta import certs
from saeta.core.x509_identity import certificate_serial, client_cert_problem, der_identity, is_replica_certificate


def test_the_cn_and_serial_of_a_client_certificate(tmp_path: Path) -> None:
    certs.init_ca(tmp_path)
    pem = certs.issue_client(tmp_path, "acme").cert.read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert der_identity(der) == ("acme", certificate_serial(pem))


def test_garbage_names_nobody() -> None:
    assert der_identity(b"") == (None, None)
    assert der_identity(b"\x30\x03\x02\x01\x01") == (None, None)
    assert certificate_serial(b"not a pem") is None


def test_replica_role(tmp_path: Path) -> None:
    """Only `saeta certs replica`'s certificates play the replica role; they cannot
    register a tunnel, and a connector's or the server's certificate is no replica."""
    certs.init_ca(tmp_path)
    replica = certs.issue_replica(tmp_path, "gw-1").cert.read_bytes()
    connector = certs.issue_client(tmp_path, "acme").cert.read_bytes()
    server = (tmp_path / "server.crt").read_bytes()
    assert is_replica_certificate(replica)
    assert not is_replica_certificate(connector) and not is_replica_certificate(server)
    assert not is_replica_certificate(b"garbage")
    assert client_cert_problem(replica) == "a gateway replica's certificate cannot register a tunnel"
    assert client_cert_problem(connector) is None
    cert = x509.load_pem_x509_certificate(replica)
    assert {u.dotted_string for u in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value} == {
        "1.3.6.1.5.5.7.3.1",
        "1.3.6.1.5.5.7.3.2",
    }
