"""The private CA of a saeta deployment: one CA, the gateway's server certificate, and one
client certificate per tenant (CN = tenant id, clientAuth usage). Files follow the seed's
layout (docs/certificates.md); private keys are written 0600, atomically.

Keys are ECDSA P-256: fast handshakes, supported by grpcio's BoringSSL and every browser.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from saeta.core.names import is_tenant_id
from saeta.core.x509_identity import REPLICA_ROLE
from saeta.errors import CertificateError

CA_DAYS = 3650
LEAF_DAYS = 825
CRL_DAYS = 3650  # gateways keep applying a CRL past next_update: revocations only grow
CRL_FILE = "crl.pem"
ISSUED_LOG = "issued.jsonl"
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
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=not ca,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier | tuple[x509.ObjectIdentifier, ...],
    days: int,
    san: x509.SubjectAlternativeName | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    usages = list(usage) if isinstance(usage, tuple) else [usage]
    builder = (
        _builder(subject, ca_cert.subject, key, days, ca=False)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
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
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (server_names or ("localhost",))[0])])
    cert, key = _leaf(ca_cert, ca_key, subject, ExtendedKeyUsageOID.SERVER_AUTH, days, _server_names(server_names))
    return _save(IssuedFiles(directory / "server.crt", directory / "server.key"), cert, key)


def _server_names(server_names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    """localhost, 127.0.0.1, ::1 and each of ``server_names`` (DNS names or IP addresses)."""
    entries: list[x509.GeneralName] = []
    for value in (*DEFAULT_SERVER_NAMES, *DEFAULT_SERVER_IPS, *server_names):
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            entry = x509.DNSName(value)
        if entry not in entries:
            entries.append(entry)
    return x509.SubjectAlternativeName(entries)


def issue_replica(
    directory: Path, name: str, server_names: tuple[str, ...] = (), *, days: int = LEAF_DAYS
) -> IssuedFiles:
    """Writes DIR/replicas/NAME/replica.crt and replica.key: a gateway replica's
    certificate for peer calls (docs/scaling.md). CN = NAME, OU = saeta-replica (the role
    a connector's certificate never has), both serverAuth and clientAuth usages, the SANs
    of a server certificate, so that one file serves a replica's tunnel port and its calls
    to the others."""
    if not is_tenant_id(name):
        raise CertificateError(f"invalid replica name {name!r}: 1-64 of A-Z a-z 0-9 . _ - (not starting with . _ -)")
    ca_cert, ca_key = _load_ca(directory)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, REPLICA_ROLE),
        ]
    )
    usages = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
    cert, key = _leaf(ca_cert, ca_key, subject, usages, days, _server_names(server_names))
    out = directory / "replicas" / name
    return _save(IssuedFiles(out / "replica.crt", out / "replica.key"), cert, key)


def issue_client(directory: Path, tenant_id: str, *, days: int = LEAF_DAYS) -> IssuedFiles:
    """Writes DIR/clients/TENANT/client.crt and client.key: CN = tenant id, clientAuth
    usage, a fresh random serial. Raises CertificateError for an invalid tenant id."""
    if not is_tenant_id(tenant_id):
        raise CertificateError(f"invalid tenant id {tenant_id!r}: 1-64 of A-Z a-z 0-9 . _ - (not starting with . _ -)")
    ca_cert, ca_key = _load_ca(directory)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, tenant_id)])
    cert, key = _leaf(ca_cert, ca_key, subject, ExtendedKeyUsageOID.CLIENT_AUTH, days)
    out = directory / "clients" / tenant_id
    files = _save(IssuedFiles(out / "client.crt", out / "client.key"), cert, key)
    _log_issued(directory, tenant_id, cert)
    return files


def _log_issued(directory: Path, tenant_id: str, cert: x509.Certificate) -> None:
    """Appends to DIR/issued.jsonl, so that revoking a tenant revokes every certificate it
    was ever issued, not only the one in clients/TENANT/ now."""
    line = json.dumps(
        {
            "serial": format(cert.serial_number, "x"),
            "tenant": tenant_id,
            "not_after": cert.not_valid_after_utc.isoformat(),
        }
    )
    with open(directory / ISSUED_LOG, "a", encoding="utf-8") as log_file:
        log_file.write(line + "\n")


def _issued_serials(directory: Path, tenant_id: str) -> set[int]:
    serials: set[int] = set()
    log_path = directory / ISSUED_LOG
    if log_path.is_file():
        for line in log_path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                if entry.get("tenant") == tenant_id:
                    serials.add(int(entry["serial"], 16))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
    current = directory / "clients" / tenant_id / "client.crt"
    if current.is_file():
        serials.add(x509.load_pem_x509_certificate(current.read_bytes()).serial_number)
    return serials


_SERIAL = re.compile(r"^(0x)?[0-9a-fA-F]{1,40}$|^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){0,19}$")


def parse_serial(text: str) -> int | None:
    """A certificate serial as openssl prints it: hex, optionally 0x-prefixed or with colons."""
    if not _SERIAL.match(text):
        return None
    return int(text.replace(":", "").removeprefix("0x"), 16)


def revoked_serials(directory: Path) -> set[int]:
    path = directory / CRL_FILE
    if not path.is_file():
        return set()
    crl = x509.load_pem_x509_crl(path.read_bytes())
    return {entry.serial_number for entry in crl}


def revoke(directory: Path, target: str) -> tuple[set[int], bytes]:
    """Revokes TENANT (every certificate issued to it) or one SERIAL: rewrites DIR/crl.pem,
    signed by the CA, with every serial revoked so far. Returns (newly listed serials, the
    CRL's PEM). Raises CertificateError when the target names nothing."""
    serials = _issued_serials(directory, target) if is_tenant_id(target) else set()
    if not serials:
        serial = parse_serial(target)
        if serial is None:
            raise CertificateError(f"no certificate was issued to tenant {target!r}, and it is not a serial number")
        serials = {serial}
    ca_cert, ca_key = _load_ca(directory)
    already = revoked_serials(directory)
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=CRL_DAYS))
    )
    for serial in sorted(already | serials):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
        )
    pem = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    _write(directory / CRL_FILE, pem, private=False)
    return serials - already, pem
