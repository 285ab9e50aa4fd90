"""Debian's Chromium for the browser tests and benchmarks, driven by Playwright (which
never downloads a browser of its own here). The flags keep a root, headless, offline
Chromium from reaching out to Google's services on start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Any, *extra_args: str) -> Any:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *extra_args])
