"""SIGTERM and SIGINT set a stop event, on every platform. asyncio's loops on Windows have
no ``add_signal_handler`` (it raises NotImplementedError): there, ``signal.signal``
handles Ctrl-C (SIGINT; SIGTERM is never delivered there) and hands the stop to the loop
from whichever thread the handler runs on."""

from __future__ import annotations

import asyncio
import signal


def install(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> str:
    """Returns how the signals are caught: ``loop`` or ``signal``."""
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    except (NotImplementedError, RuntimeError):
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda _signum, _frame: loop.call_soon_threadsafe(stop.set))
        return "signal"
    return "loop"
