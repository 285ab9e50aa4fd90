from __future__ import annotations

import ipaddress
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from saeta import certs
from saeta.core import x509_identity
from saeta.errors import CertificateError

ROOT = Path(__file__).resolve().parent.parent


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_init_and_issue(tmp_path: Path) -> None:
    server = certs.init_ca(tmp_path, ("gw.example.com", "10.0.0.5"))
    client = certs.issue_client(tmp_path, "acme")
    ca = load(tmp_path / "ca.crt")
    for key in (tmp_path / "ca.key", server.key, client.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    srv = load(server.cert)
    san = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "gw.example.com"}
    ips = {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.0.0.5")}
    assert set(san.get_values_for_type(x509.IPAddress)) == ips
    assert ExtendedKeyUsageOID.SERVER_AUTH in srv.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    cli = load(client.cert)
    assert cli.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "acme"
    assert x509_identity.client_cert_problem(client.cert.read_bytes()) is None
    assert (
        x509_identity.client_cert_problem(server.cert.read_bytes()) == "client certificate lacks the clientAuth usage"
    )
    for leaf in (srv, cli):
        leaf.verify_directly_issued_by(ca)
    assert cli.serial_number != load(certs.issue_client(tmp_path, "acme").cert).serial_number


def test_init_keeps_an_existing_ca_unless_forced(tmp_path: Path) -> None:
    certs.init_ca(tmp_path)
    first = (tmp_path / "ca.crt").read_bytes()
    certs.init_ca(tmp_path)
    assert (tmp_path / "ca.crt").read_bytes() == first
    certs.init_ca(tmp_path, force=True)
    assert (tmp_path / "ca.crt").read_bytes() != first


@pytest.mark.parametrize("tenant", ["", "../etc", "a/b", "-x", "x" * 65, "ácme"])
def test_invalid_tenant_ids_are_refused(tmp_path: Path, tenant: str) -> None:
    certs.init_ca(tmp_path)
    with pytest.raises(CertificateError):
        certs.issue_client(tmp_path, tenant)


def test_issue_without_ca_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="saeta certs init"):
        certs.issue_client(tmp_path, "acme")


def test_seed_script_still_works(tmp_path: Path) -> None:
    subprocess.run(
        [str(ROOT / "certs/generate_certs.sh"), "all", "acme"],
        check=True,
        capture_output=True,
        env={"CERTS_DIR": str(tmp_path), "SAETA": str(ROOT / ".venv/bin/saeta"), "PATH": "/usr/bin:/bin"},
    )
    assert (tmp_path / "clients/acme/client.crt").is_file()
    assert (tmp_path / "server.key").is_file()


def test_revoking_a_tenant_revokes_every_certificate_it_was_issued(tmp_path: Path) -> None:
    certs.init_ca(tmp_path)
    first = x509_identity.certificate_serial(certs.issue_client(tmp_path, "acme").cert.read_bytes())
    second = x509_identity.certificate_serial(
        certs.issue_client(tmp_path, "acme").cert.read_bytes()
    )  # replaces the files
    other = x509_identity.certificate_serial(certs.issue_client(tmp_path, "globex").cert.read_bytes())
    new, pem = certs.revoke(tmp_path, "acme")
    assert new == {first, second}
    ca = (tmp_path / "ca.crt").read_bytes()
    assert x509_identity.load_crl_serials(pem, ca) == {first, second}
    assert other is not None
    new, pem = certs.revoke(tmp_path, format(other, "X"))  # a serial, as openssl prints it
    assert new == {other}
    assert x509_identity.load_crl_serials((tmp_path / "crl.pem").read_bytes(), ca) == {first, second, other}
    assert certs.revoke(tmp_path, "acme")[0] == set()  # already revoked: nothing new


def test_serials_parse_as_openssl_prints_them() -> None:
    assert certs.parse_serial("0x1f") == 31
    assert certs.parse_serial("1F") == 31
    assert certs.parse_serial("01:1f") == 0x11F
    assert certs.parse_serial("nope") is None
    assert certs.parse_serial("1" * 41) is None


def test_unknown_target_and_foreign_crl_are_refused(tmp_path: Path) -> None:
    certs.init_ca(tmp_path / "ours")
    certs.init_ca(tmp_path / "theirs")
    certs.issue_client(tmp_path / "theirs", "acme")
    with pytest.raises(CertificateError, match="not a serial"):
        certs.revoke(tmp_path / "ours", "nobody")
    _, foreign = certs.revoke(tmp_path / "theirs", "acme")
    with pytest.raises(CertificateError, match=r"not issued by this CA|does not verify"):
        x509_identity.load_crl_serials(foreign, (tmp_path / "ours" / "ca.crt").read_bytes())
    with pytest.raises(CertificateError, match="not a PEM CRL"):
        x509_identity.load_crl_serials(b"garbage", (tmp_path / "ours" / "ca.crt").read_bytes())
