"""The connector as a Windows service: the pywin32 shell around windows_service.py, which
holds the logic (and is tested on Linux). Imported only on Windows."""

from __future__ import annotations

import sys
from typing import Any

if sys.platform != "win32":  # pragma: no cover - the logic is tested through windows_service.py
    raise ImportError("saeta.connector.service.windows runs on Windows only")

import servicemanager  # type: ignore[import-untyped]
import win32service  # type: ignore[import-untyped]
import win32serviceutil  # type: ignore[import-untyped]

from saeta.connector.service.windows_service import (
    CONFIG_OPTION,
    SERVICE_NAME,
    ServiceRunner,
    install_action,
)


class _Control:
    """windows_service.ServiceControl over pywin32."""

    def __init__(self, service: ConnectorService) -> None:
        self.service = service

    def config_path(self) -> str:
        return str(win32serviceutil.GetServiceCustomOption(SERVICE_NAME, CONFIG_OPTION))

    def report_stop_pending(self) -> None:
        self.service.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)

    def log_info(self, message: str) -> None:
        servicemanager.LogInfoMsg(message)

    def log_warning(self, message: str) -> None:
        servicemanager.LogWarningMsg(message)

    def log_error(self, message: str) -> None:
        servicemanager.LogErrorMsg(message)


class ConnectorService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
    _svc_name_ = SERVICE_NAME
    _svc_display_name_ = "saeta connector"
    _svc_description_ = "Streams this site's datasets to the saeta gateway (outbound mTLS only)."

    def __init__(self, args: Any) -> None:
        super().__init__(args)
        self.runner = ServiceRunner(_Control(self))

    def SvcStop(self) -> None:
        self.runner.stop()

    def SvcDoRun(self) -> None:
        self.runner.run()


def handle(action: str, config_path: str) -> list[str]:
    def command_line(argv: list[str]) -> int:
        return int(win32serviceutil.HandleCommandLine(ConnectorService, argv=argv) or 0)

    return install_action(action, config_path, command_line, win32serviceutil.SetServiceCustomOption)
