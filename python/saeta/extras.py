"""saeta's optional parts (pyproject's extras) and the message naming the one a config
needs when it is not installed: the core installs on any host, and a connector host adds
only the drivers of its own sources (docs/install.md)."""

from __future__ import annotations

import importlib.util

# extra -> (the module it brings, what needs it)
EXTRAS = {
    "redis": ("redis", "Redis (redis_url: revocations across gateways, replicas)"),
    "postgresql": ("adbc_driver_postgresql", "PostgreSQL sources (type: postgresql)"),
    "odbc": ("arrow_odbc", "ODBC sources (type: sqlserver, type: odbc)"),
    "windows": ("win32serviceutil", "the Windows service (saeta connector service on Windows)"),
}


def installed(extra: str) -> bool:
    module = EXTRAS[extra][0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_message(extra: str) -> str | None:
    """None when ``extra`` is installed, else what to install."""
    if installed(extra):
        return None
    return f"{EXTRAS[extra][1]} need the {extra} extra, which is not installed: pip install 'saeta[{extra}]'"
