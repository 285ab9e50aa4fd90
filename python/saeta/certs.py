"""The private CA of a saeta deployment: one CA, the gateway's server certificate, and one
client certificate per tenant (CN = tenant id, clientAuth usage). Files follow the seed's
layout (docs/certificates.md); private keys are written 0600, atomically.

Keys are ECDSA P-256: fast handshakes, supported by grpcio's BoringSSL and every browser.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from saeta.core.names import is_tenant_id
from saeta.errors import CertificateError

CA_DAYS = 3650
LEAF_DAYS = 825
DEFAULT_SERVER_NAMES = ("localhost",)
DEFAULT_SERVER_IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class IssuedFiles:
    cert: Path
    key: Path


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600 if private else 0o644)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    except FileNotFoundError as exc:
        raise CertificateError(
            f"no CA in {directory}: run 'saeta certs init --dir {directory}' ({exc.filename})"
        ) from None
    except ValueError as exc:
        raise CertificateError(f"CA files in {directory} are not valid PEM: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{directory / 'ca.key'} is not an EC private key")
    return cert, key


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, days: int, *, ca: bool
) -> x509.CertificateBuilder:
    """The parts every certificate of ours shares; CA and leaf differ in constraints and
    key usage only (a CA signs certificates, a leaf signs handshakes)."""
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=not ca, key_cert_sign=ca,
                crl_sign=ca, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    days: int,
    san: x509.SubjectAlternativeName | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(subject, ca_cert.subject, key, days, ca=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _save(files: IssuedFiles, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> IssuedFiles:
    _write(files.key, _key_pem(key), private=True)
    _write(files.cert, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return files


def init_ca(
    directory: Path, server_names: tuple[str, ...] = (), *, force: bool = False, days: int = LEAF_DAYS
) -> IssuedFiles:
    """Creates DIR/ca.crt and ca.key unless they exist (or ``force``), then always writes a
    fresh DIR/server.crt and server.key whose SANs are localhost, 127.0.0.1, ::1 and each
    of ``server_names`` (DNS names or IP addresses). Returns the server files."""
    directory.mkdir(parents=True, exist_ok=True)
    if force or not (directory / "ca.crt").exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "saeta private CA")])
        cert = _builder(name, name, key, CA_DAYS, ca=True).sign(key, hashes.SHA256())
        _save(IssuedFiles(directory / "ca.crt", directory / "ca.key"), cert, key)
    ca_cert, ca_key = _load_ca(directory)
    entries: list[x509.GeneralName] = []
    for value in (*DEFAULT_SERVER_NAMES, *DEFAULT_SERVER_IPS, *server_names):
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            entry = x509.DNSName(value)
        if entry not in entries:
            entries.append(entry)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (server_names or ("localhost",))[0])])
    cert, key = _leaf(
        ca_cert, ca_key, subject, ExtendedKeyUsageOID.SERVER_AUTH, days,
        x509.SubjectAlternativeName(entries),
    )
    return _save(IssuedFiles(directory / "server.crt", directory / "server.key"), cert, key)


def issue_client(directory: Path, tenant_id: str, *, days: int = LEAF_DAYS) -> IssuedFiles:
    """Writes DIR/clients/TENANT/client.crt and client.key: CN = tenant id, clientAuth
    usage, a fresh random serial. Raises CertificateError for an invalid tenant id."""
    if not is_tenant_id(tenant_id):
        raise CertificateError(
            f"invalid tenant id {tenant_id!r}: 1-64 of A-Z a-z 0-9 . _ - (not starting with . _ -)"
        )
    ca_cert, ca_key = _load_ca(directory)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, tenant_id)])
    cert, key = _leaf(ca_cert, ca_key, subject, ExtendedKeyUsageOID.CLIENT_AUTH, days)
    out = directory / "clients" / tenant_id
    return _save(IssuedFiles(out / "client.crt", out / "client.key"), cert, key)


def client_cert_problem(pem: bytes) -> str | None:
    """Why a presented client certificate must not register, or None when it may: it
    must carry the clientAuth extended key usage (grpcio does not check usages)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, x509.ExtensionNotFound):
        return "client certificate has no extended key usage"
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        return "client certificate lacks the clientAuth usage"
    return None
