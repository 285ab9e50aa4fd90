"""`saeta session`: issue and revoke browser sessions through the control plane's admin
API, with the admin token from the flag, the environment or its file."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from saeta.errors import SaetaError


def admin_request(url: str, token: str, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (operator-given URL)
            result: dict[str, Any] = json.loads(resp.read())
            return result
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read())
            raise SaetaError(detail.get("message", str(exc)), code=detail.get("code", "HTTP_ERROR")) from None
        except ValueError:
            raise SaetaError(f"control plane answered {exc.code}", code="HTTP_ERROR") from None
    except urllib.error.URLError as exc:
        raise SaetaError(f"cannot reach {url}: {exc.reason}", code="CONTROL_PLANE_UNAVAILABLE") from None


def admin_token(args: argparse.Namespace) -> str:
    """--token, else $SAETA_ADMIN_TOKEN, else the file named by --token-file or
    $SAETA_ADMIN_TOKEN_FILE, else the file the control plane writes by default."""
    from saeta.config import default_admin_token_file

    token: str | None = args.token or os.environ.get("SAETA_ADMIN_TOKEN")
    if token:
        return token
    named = args.token_file or os.environ.get("SAETA_ADMIN_TOKEN_FILE")
    path = Path(named) if named else default_admin_token_file()
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SaetaError(
            f"no admin token: pass --token or --token-file, or set SAETA_ADMIN_TOKEN ({path}: {exc.strerror})",
            code="ADMIN_TOKEN_MISSING",
        ) from None


def session_issue(args: argparse.Namespace) -> int:
    datasets: Any = "*" if args.datasets in (None, "*") else [d for d in args.datasets.split(",") if d]
    body = {
        "tenant": args.tenant,
        "user_id": args.user,
        "cuenta_id": args.cuenta or "",
        "datasets": datasets,
        "ttl_seconds": args.ttl,
    }
    result = admin_request(f"{args.control_plane.rstrip('/')}/api/sessions", admin_token(args), "POST", body)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result["expires_at"]))
    print(f"session for {args.user} on tenant {args.tenant}, expires {expires}:", file=sys.stderr)
    if result.get("dashboard_url"):
        print(f"dashboard: {result['dashboard_url']}", file=sys.stderr)
    print(result["session_id"])
    return 0


def session_revoke(args: argparse.Namespace) -> int:
    url = f"{args.control_plane.rstrip('/')}/api/sessions/{args.session_id}/revoke"
    answer = admin_request(url, admin_token(args), "POST", {})
    pushed = isinstance(answer, dict) and answer.get("pushed")
    late = " (not pushed through Redis: gateways apply it when their cached check expires)"
    print("revoked" + ("" if pushed else late))
    return 0


def token_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("--token", help="admin token (default: $SAETA_ADMIN_TOKEN)")
    c.add_argument(
        "--token-file",
        help="file holding the admin token (default: $SAETA_ADMIN_TOKEN_FILE, else the control plane's "
        "default admin_token_file, ~/.local/state/saeta/admin-token)",
    )


def add_to(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sess = sub.add_parser("session", help="issue or revoke browser sessions").add_subparsers(dest="sub", required=True)
    c = sess.add_parser("issue", help="print a new session id (last line of stdout)")
    c.add_argument(
        "--control-plane", required=True, metavar="URL", help="the control plane's base URL, e.g. http://127.0.0.1:8090"
    )
    c.add_argument("--tenant", required=True, help="the tenant whose datasets the session reads")
    c.add_argument("--user", required=True, help="the user id (audit log, per-user quotas)")
    c.add_argument("--cuenta", help="the account id, kept with the session (cuenta_id)")
    c.add_argument("--datasets", help='comma-separated dataset names, or "*" (default)')
    c.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    token_arguments(c)
    c.set_defaults(fn=session_issue)
    c = sess.add_parser("revoke", help="revoke a session")
    c.add_argument("session_id", help="the session id to revoke (the token, or its sid)")
    c.add_argument(
        "--control-plane", required=True, metavar="URL", help="the control plane's base URL, e.g. http://127.0.0.1:8090"
    )
    token_arguments(c)
    c.set_defaults(fn=session_revoke)
