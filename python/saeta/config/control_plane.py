"""The control plane's config file (docs/configuration.md, "Control plane")."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from saeta.config._base import (
    LoggingConfig,
    _hosts,
    _logging,
    _origins,
    _redis_url,
    load_yaml,
    resolve,
)
from saeta.config.https import LOOPBACK_PROXIES, HttpsConfig, forwarded_allow_ips, https_section


@dataclass(frozen=True)
class ControlPlaneConfig:
    file: Path
    host: str
    port: int
    database: Path
    secret_key: str
    admin_token: str | None
    admin_token_file: Path
    allowed_hosts: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    redis_url: str | None
    gateway_url: str | None
    max_session_seconds: int
    logging: LoggingConfig
    https: HttpsConfig = field(default_factory=HttpsConfig)
    forwarded_allow_ips: tuple[str, ...] = LOOPBACK_PROXIES
    metrics_access: Literal["loopback", "everyone", "off"] = "loopback"


def default_admin_token_file() -> Path:
    """Where the control plane keeps its generated admin token unless told otherwise, and
    where the CLI looks for it: the user's state folder (as Jupyter keeps its tokens in its
    runtime folder), so that on one host the CLI finds it by itself."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "saeta" / "admin-token"


def load_control_plane_config(path: str | os.PathLike[str]) -> ControlPlaneConfig:
    file, root = load_yaml(path)
    host = root.string("host", "127.0.0.1")
    port = root.integer("port", 8090, 0, 65535)
    database = resolve(file, root.string("database", "control-plane.sqlite3"))
    if not database.parent.is_dir():
        raise root.fail("database", f"folder does not exist: {database.parent}")
    secret = root.secret("tableros_secret_key")
    # admin_token_file is where a generated token is kept (and read): not a secret's source.
    admin_token = root.string("admin_token", None)
    token_env = root.string("admin_token_env", None)
    if admin_token is not None and token_env is not None:
        raise root.fail("admin_token_env", "give only one of admin_token, admin_token_env")
    if token_env is not None:
        admin_token = os.environ.get(token_env) or None
        if admin_token is None:
            raise root.fail("admin_token_env", f"the environment variable {token_env} is not set")
    if admin_token is not None and len(admin_token) < 16:
        raise root.fail("admin_token_env" if token_env else "admin_token", "must be at least 16 characters")
    token_file = root.string("admin_token_file", None)
    admin_token_file = resolve(file, token_file) if token_file is not None else default_admin_token_file()
    allowed_hosts = _hosts(root)
    allowed_origins = _origins(root)
    redis_url = _redis_url(root)
    gateway_url = root.string("gateway_url", None)
    if gateway_url is not None and not gateway_url.startswith(("http://", "https://")):
        raise root.fail("gateway_url", "expected the gateway's http:// or https:// base URL")
    max_session_seconds = root.integer("max_session_seconds", 7 * 86400, 1, 366 * 86400)
    https = https_section(root)
    proxies = forwarded_allow_ips(root)
    metrics_access = root.string("metrics_access", "loopback", ("loopback", "everyone", "off"))
    logging_cfg = _logging(root)
    root.check_unknown()
    return ControlPlaneConfig(
        file=file,
        host=host,
        port=port,
        database=database,
        secret_key=secret,
        admin_token=admin_token,
        admin_token_file=admin_token_file,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        redis_url=redis_url,
        gateway_url=gateway_url.rstrip("/") if gateway_url else None,
        max_session_seconds=max_session_seconds,
        logging=logging_cfg,
        https=https,
        forwarded_allow_ips=proxies,
        metrics_access=metrics_access,
    )
