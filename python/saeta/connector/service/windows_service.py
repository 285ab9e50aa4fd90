"""The Windows service's logic, on every platform (docs/connector.md, "Windows"): what the
service does when the Service Control Manager starts and stops it, and what install does
with pywin32's answer. pywin32 itself stays behind ``ServiceControl`` (windows.py, the
thin shell that only Windows imports), so this runs under test on Linux.

- Start: the config is loaded and logs go to a file (``logging.file``, else
  ``logs\\connector.log`` next to the config: a service has no stderr), with warnings and
  errors also in the Windows Event Log; then the same runner as `saeta connector run`.
  A config that does not load is written to the Event Log and the service stops.
- Stop: the runner's stop event is set from the SCM's thread. A stop that comes while the
  service is still starting waits for it (at most 30 s); one that comes after a failed start
  returns at once.
- Install: pywin32's HandleCommandLine answers with a code; anything but 0 is a failure
  (SERVICE_FAILED), and the config path is only recorded after a successful install."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from saeta import logs
from saeta.config import ConnectorConfig, load_connector_config
from saeta.connector.runner import serve
from saeta.errors import SaetaError

SERVICE_NAME = "saeta-connector"
CONFIG_OPTION = "config"
STARTING_WAIT_SECONDS = 30.0


class ServiceControl(Protocol):
    """What of pywin32 the service uses."""

    def config_path(self) -> str: ...
    def report_stop_pending(self) -> None: ...
    def log_info(self, message: str) -> None: ...
    def log_warning(self, message: str) -> None: ...
    def log_error(self, message: str) -> None: ...


class EventLogHandler(logging.Handler):
    """Warnings and errors also to the Windows Event Log (where operators look first)."""

    def __init__(self, control: ServiceControl) -> None:
        super().__init__(logging.WARNING)
        self.control = control
        self.setFormatter(logs.TextFormatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            (self.control.log_error if record.levelno >= logging.ERROR else self.control.log_warning)(text)
        except Exception:  # a logging handler never raises into the code that logs
            self.handleError(record)


def service_logging(cfg: ConnectorConfig) -> ConnectorConfig:
    """The config with a log file: its own ``logging.file``, else logs/connector.log next
    to the config (the folder made if missing)."""
    if cfg.logging.file is not None:
        return cfg
    folder = cfg.file.parent / "logs"
    folder.mkdir(exist_ok=True)
    return dataclasses.replace(cfg, logging=dataclasses.replace(cfg.logging, file=folder / "connector.log"))


class ServiceRunner:
    def __init__(self, control: ServiceControl) -> None:
        self.control = control
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.settled = threading.Event()  # running, or failed to start: a stop need not wait longer

    def run(self) -> int:
        """SvcDoRun: 0 after a stop, 1 when the service could not start."""
        try:
            config_path = self.control.config_path()
            self.control.log_info(f"saeta connector starting with {config_path}")
            cfg = service_logging(load_connector_config(config_path))
            logs.configure(cfg.logging, "connector", extra=[EventLogHandler(self.control)])
        except (SaetaError, OSError) as exc:
            self.control.log_error(f"saeta connector cannot start: {exc}")
            self.settled.set()
            return 1

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            self.settled.set()
            await serve(cfg, self.stop_event)

        try:
            asyncio.run(main())
        except Exception as exc:
            logging.getLogger("saeta.connector").exception("the connector stopped on an error")
            self.control.log_error(f"saeta connector stopped on an error: {exc}")
            return 1
        finally:
            self.settled.set()
        self.control.log_info("saeta connector stopped")
        return 0

    def stop(self) -> None:
        """SvcStop, on the SCM's thread."""
        self.control.report_stop_pending()
        self.settled.wait(STARTING_WAIT_SECONDS)
        loop, event = self.loop, self.stop_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed between the check and the call: already stopped
                loop.call_soon_threadsafe(event.set)


def install_action(
    action: str,
    config_path: str,
    handle_command_line: Callable[[list[str]], int],
    set_option: Callable[[str, str, str], None],
) -> list[str]:
    """install (auto start, the config path kept in the service's options), start, stop
    or remove, through pywin32's command line, whose code is checked."""
    argv = ["saeta", "--startup", "auto", action] if action == "install" else ["saeta", action]
    code = handle_command_line(argv)
    if code:
        raise SaetaError(f"{action} of the Windows service {SERVICE_NAME} failed (code {code})", code="SERVICE_FAILED")
    if action == "install":
        set_option(SERVICE_NAME, CONFIG_OPTION, config_path)
    return [f"{action}: {SERVICE_NAME}"]
