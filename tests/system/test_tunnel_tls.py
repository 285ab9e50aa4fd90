"""Connector certificates the gateway must refuse, each through `saeta connector test`
against a real gateway: expired, not yet valid, without the clientAuth usage, and CNs that
differ from the tenant id only by case, whitespace or a look-alike letter."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.system.harness import Deployment, wait_for

pytestmark = pytest.mark.system
NOW = dt.datetime.now(dt.UTC)


def forge(
    certs_dir: Path,
    out: Path,
    cn: str,
    not_before: dt.datetime = NOW - dt.timedelta(hours=1),
    not_after: dt.datetime = NOW + dt.timedelta(days=30),
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH,
) -> tuple[Path, Path]:
    """A client certificate signed by the deployment's own CA, with what the test asks."""
    ca_cert = x509.load_pem_x509_certificate((certs_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((certs_dir / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "client.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (out / "client.key").write_bytes(key_pem)
    return out / "client.crt", out / "client.key"


def connector_test(deployment: Deployment, cert: Path, key: Path) -> subprocess.CompletedProcess[str]:
    cfg = deployment.connector_config("acme", {})
    text = cfg.read_text()
    text = text.replace("certs/clients/acme/client.crt", str(cert)).replace("certs/clients/acme/client.key", str(key))
    cfg.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "saeta", "connector", "test", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def gateway(deployment: Deployment) -> Deployment:
    deployment.start_control_plane()
    deployment.start_gateway()
    return deployment


@pytest.mark.parametrize(
    "case",
    ["expired", "not_yet_valid", "server_auth_only"],
)
def test_certificates_the_handshake_or_registration_refuses(gateway: Deployment, tmp_path: Path, case: str) -> None:
    kwargs = {
        "expired": {"not_before": NOW - dt.timedelta(days=30), "not_after": NOW - dt.timedelta(days=1)},
        "not_yet_valid": {"not_before": NOW + dt.timedelta(days=1), "not_after": NOW + dt.timedelta(days=30)},
        "server_auth_only": {"usage": ExtendedKeyUsageOID.SERVER_AUTH},
    }[case]
    cert, key = forge(gateway.certs, tmp_path / case, "acme", **kwargs)  # type: ignore[arg-type]
    done = connector_test(gateway, cert, key)
    assert done.returncode != 0, done.stdout
    assert "FAIL gateway" in done.stdout, done.stdout
    assert gateway.connectors() == 0


@pytest.mark.parametrize("cn", ["ACME", "Acme", " acme", "acme ", "acme\t", "\u0430cme", "acme\u200b"])
def test_a_cn_that_differs_in_any_way_is_refused_and_logged(gateway: Deployment, tmp_path: Path, cn: str) -> None:
    cert, key = forge(gateway.certs, tmp_path / "forged", cn)
    done = connector_test(gateway, cert, key)
    assert done.returncode != 0, done.stdout
    assert "tenant_id does not match the client certificate's CN" in done.stdout, done.stdout
    gateway_log = next(p for p in gateway.procs if p.name == "gateway")
    wait_for(lambda: "code=TENANT_MISMATCH" in gateway_log.text(), 10, "the audit log line")
    assert gateway.connectors() == 0
