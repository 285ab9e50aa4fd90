"""`saeta certs`: the private CA, connectors' certificates, revocation (pushed through
Redis when one is named)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path


def certs_init(args: argparse.Namespace) -> int:
    from saeta import certs

    files = certs.init_ca(Path(args.dir), tuple(args.server_name or ()), force=args.force)
    print(f"CA: {Path(args.dir) / 'ca.crt'}\nserver: {files.cert} {files.key}")
    return 0


def certs_issue(args: argparse.Namespace) -> int:
    from saeta import certs

    files = certs.issue_client(Path(args.dir), args.tenant)
    print(f"client certificate for {args.tenant}: {files.cert} {files.key}")
    return 0


def certs_replica(args: argparse.Namespace) -> int:
    from saeta import certs

    files = certs.issue_replica(Path(args.dir), args.name, tuple(args.server_name or ()))
    print(f"replica certificate for {args.name}: {files.cert} {files.key}")
    return 0


def certs_revoke(args: argparse.Namespace) -> int:
    from saeta import certs

    directory = Path(args.dir)
    new, pem = certs.revoke(directory, args.target)
    for serial in sorted(new):
        print(f"revoked serial {serial:x}")
    if not new:
        print("already revoked")
    print(f"CRL: {directory / certs.CRL_FILE}")
    redis_url = args.redis_url or os.environ.get("SAETA_REDIS_URL")
    if redis_url:
        from saeta.redis_bus import connect, publish_crl

        async def push() -> None:
            client = connect(redis_url)
            try:
                await publish_crl(client, pem)
            finally:
                await client.aclose()

        try:
            asyncio.run(push())
        except Exception as exc:
            print(f"REDIS_UNAVAILABLE: the CRL is written but was not pushed to {redis_url}: {exc}", file=sys.stderr)
            return 1
        print("pushed to every gateway through Redis")
    return 0


def add_to(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    certs_cmd = sub.add_parser("certs", help="the private CA and its certificates")
    certs = certs_cmd.add_subparsers(dest="sub", required=True)
    c = certs.add_parser("init", help="create the CA (if missing) and a fresh server certificate")
    c.add_argument("--dir", required=True, help="the CA's folder (ca.crt, ca.key, crl.pem, issued.jsonl)")
    c.add_argument("--server-name", action="append", help="extra DNS name or IP for the server certificate")
    c.add_argument("--force", action="store_true", help="replace an existing CA (invalidates every client certificate)")
    c.set_defaults(fn=certs_init)
    c = certs.add_parser("issue", help="issue a connector's client certificate (CN = tenant)")
    c.add_argument("tenant", help="the tenant id: the certificate's CN, which the gateway routes by")
    c.add_argument("--dir", required=True, help="the CA's folder (ca.crt, ca.key, crl.pem, issued.jsonl)")
    c.set_defaults(fn=certs_issue)
    c = certs.add_parser("replica", help="issue a gateway replica's certificate for peer calls (docs/scaling.md)")
    c.add_argument("name", help="the replica's name (its CN; 1-64 of A-Z a-z 0-9 . _ -)")
    c.add_argument("--dir", required=True, help="the CA's folder (ca.crt, ca.key, crl.pem, issued.jsonl)")
    c.add_argument("--server-name", action="append", help="extra DNS name or IP its peers dial it by")
    c.set_defaults(fn=certs_replica)
    c = certs.add_parser("revoke", help="revoke a tenant's certificates or one serial (rewrites DIR/crl.pem)")
    c.add_argument("target", metavar="TENANT|SERIAL", help="every certificate of TENANT, or one serial in hex")
    c.add_argument("--dir", required=True, help="the CA's folder (ca.crt, ca.key, crl.pem, issued.jsonl)")
    c.add_argument("--redis-url", help="also push the CRL to the gateways (default: $SAETA_REDIS_URL)")
    c.set_defaults(fn=certs_revoke)
