"""The admin token: required for every admin call, loopback included (a page in the
operator's own browser can reach loopback too). Configured as ``admin_token``, or kept in
``admin_token_file``: generated at first start and written readable by its owner only, as
Jupyter does with its server token; the CLI reads the same file."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from saeta.errors import ConfigError

log = logging.getLogger("saeta.control_plane")
MIN_TOKEN_CHARS = 16


def load_or_create(path: Path) -> str:
    """The token in ``path``, or a new one written there (mode 0600, its folder 0700 when
    created). Raises ConfigError when the file cannot be read or written, or holds a token
    too short to be one."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: theirs is the token
        return _read(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the admin token: {exc.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    log.info("admin token generated in %s (readable by its owner only)", path)
    return token


def _read(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        token = path.read_text().strip()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the admin token: {exc.strerror}") from None
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"{path}: the admin token must be at least {MIN_TOKEN_CHARS} characters")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("code=ADMIN_TOKEN_EXPOSED %s is readable by others than its owner: chmod 600 it", path)
    return token
