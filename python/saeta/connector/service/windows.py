"""The connector as a Windows service (pywin32), imported only on Windows. A thin shell:
the service runs the same runner as `saeta connector run` on its own event loop, and the
Service Control Manager's stop request sets the runner's stop event."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

if sys.platform != "win32":  # pragma: no cover - reviewed by eye, see docs/connector.md
    raise ImportError("saeta.connector.service.windows runs on Windows only")

import servicemanager  # type: ignore[import-untyped]
import win32service  # type: ignore[import-untyped]
import win32serviceutil  # type: ignore[import-untyped]

from saeta import logs
from saeta.config import load_connector_config
from saeta.connector.runner import serve

CONFIG_OPTION = "config"


class ConnectorService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
    _svc_name_ = "saeta-connector"
    _svc_display_name_ = "saeta connector"
    _svc_description_ = "Streams this site's datasets to the saeta gateway (outbound mTLS only)."

    def __init__(self, args: Any) -> None:
        super().__init__(args)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def SvcStop(self) -> None:
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
        self._ready.wait(30)
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def SvcDoRun(self) -> None:
        config_path = win32serviceutil.GetServiceCustomOption(self._svc_name_, CONFIG_OPTION)
        servicemanager.LogInfoMsg(f"saeta connector starting with {config_path}")
        cfg = load_connector_config(config_path)
        logs.configure(cfg.logging, "connector")

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await serve(cfg, self._stop)

        asyncio.run(main())
        servicemanager.LogInfoMsg("saeta connector stopped")


def handle(action: str, config_path: str) -> list[str]:
    """install (auto start, the config path kept in the service's registry options),
    start, stop or remove, through pywin32's command line."""
    name = ConnectorService._svc_name_
    argv = ["saeta", "--startup", "auto", action] if action == "install" else ["saeta", action]
    win32serviceutil.HandleCommandLine(ConnectorService, argv=argv)
    if action == "install":
        win32serviceutil.SetServiceCustomOption(name, CONFIG_OPTION, config_path)
    return [f"{action}: {name}"]
