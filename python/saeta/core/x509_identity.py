"""What a certificate says about who presents it, for the gateway's checks: the CN and
serial of a peer's certificate, whether it may act as a client, and the serials a CRL
signed by our CA revokes. Parsing only (cryptography's x509), no files and no sockets:
certs.py issues and writes certificates."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from saeta.errors import CertificateError

MAX_CRL_BYTES = 8 * 1024 * 1024
# The organizational unit that makes a certificate a gateway replica's (docs/scaling.md):
# `saeta certs replica` sets it, `saeta certs issue` (a connector's) never does.
REPLICA_ROLE = "saeta-replica"


def load_crl_serials(pem: bytes, ca_pem: bytes) -> frozenset[int]:
    """The serials a CRL revokes, after checking that our CA signed it. Raises
    CertificateError for anything else (a CRL is input, even from our own disk)."""
    if len(pem) > MAX_CRL_BYTES:
        raise CertificateError("CRL larger than 8 MiB")
    try:
        crl = x509.load_pem_x509_crl(pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM CRL: {exc}") from None
    if crl.issuer != ca.subject:
        raise CertificateError("CRL not issued by this CA")
    public_key = ca.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) or not crl.is_signature_valid(
        public_key
    ):
        raise CertificateError("CRL signature does not verify against the CA")
    return frozenset(entry.serial_number for entry in crl)


def certificate_serial(pem: bytes) -> int | None:
    try:
        return x509.load_pem_x509_certificate(pem).serial_number
    except ValueError:
        return None


def client_cert_problem(pem: bytes) -> str | None:
    """Why a presented client certificate must not register, or None when it may: it
    must carry the clientAuth extended key usage (grpcio does not check usages), and not
    be a replica's (that role calls peers; it is no tenant)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, x509.ExtensionNotFound):
        return "client certificate has no extended key usage"
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        return "client certificate lacks the clientAuth usage"
    if is_replica_certificate(pem):
        return "a gateway replica's certificate cannot register a tunnel"
    return None


def is_replica_certificate(pem: bytes) -> bool:
    """Whether a presented certificate plays the replica role: OU saeta-replica, and the
    clientAuth usage it dials its peers with."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    units = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages and any(u.value == REPLICA_ROLE for u in units)


def der_identity(der: bytes) -> tuple[str | None, int | None]:
    """(CN, serial) of a DER certificate; CN is None unless there is exactly one."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None, None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if len(cns) == 1 else None
    return (cn if isinstance(cn, str) else None), cert.serial_number
