"""The Windows service's logic (connector/service/windows_service.py) run on Linux, with
pywin32 behind its seam (a recording ServiceControl: the Service Control Manager's calls
are the only part replaced); and the runner's signals on an event loop that, like
Windows' loops, has no add_signal_handler."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path

import pytest
from saeta import certs, stop_signals
from saeta.connector.service.windows_service import ServiceRunner, install_action
from saeta.errors import SaetaError

from tests.system.harness import free_port, wait_for


class RecordingControl:
    """What the SCM and the Event Log are told."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.events: list[tuple[str, str]] = []
        self.stop_pending = 0

    def config_path(self) -> str:
        return str(self.config)

    def report_stop_pending(self) -> None:
        self.stop_pending += 1

    def log_info(self, message: str) -> None:
        self.events.append(("info", message))

    def log_warning(self, message: str) -> None:
        self.events.append(("warning", message))

    def log_error(self, message: str) -> None:
        self.events.append(("error", message))


@pytest.fixture(autouse=True)
def _logging(restore_root_logging: None) -> None:
    """The code under test configures the process's logging (tests/conftest.py puts it back)."""


def connector_config(tmp_path: Path) -> Path:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "acme")
    (tmp_path / "data.csv").write_text("a\n1\n")
    cfg = tmp_path / "connector.yml"
    cfg.write_text(
        f"""
gateway: {{grpc_uri: "127.0.0.1:{free_port()}", server_name: localhost}}
mtls: {{ca_cert: certs/ca.crt, client_cert: certs/clients/acme/client.crt, client_key: certs/clients/acme/client.key}}
tenant: {{id: acme}}
performance: {{reconnect_delay: 0.2, max_reconnect_delay: 0.5}}
datasets: {{v: {{type: csv, path: data.csv}}}}
"""
    )
    return cfg


def test_the_service_runs_the_runner_logs_to_a_file_and_stops_on_request(tmp_path: Path) -> None:
    control = RecordingControl(connector_config(tmp_path))
    runner = ServiceRunner(control)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()))
    thread.start()
    try:
        log = tmp_path / "logs" / "connector.log"  # no stderr in a service: a file next to the config
        wait_for(lambda: log.exists() and "connector starting" in log.read_text(), 20, "the service's log file")
        # The gateway is not there: the warning reaches the Event Log too.
        wait_for(lambda: any(kind == "warning" and "tunnel down" in m for kind, m in control.events), 20, "a warning")
    finally:
        runner.stop()  # what SvcStop does, from the SCM's thread
        thread.join(20)
    assert not thread.is_alive() and result == [0]
    assert control.stop_pending == 1
    assert ("info", "saeta connector stopped") in control.events
    assert "connector stopped" in (tmp_path / "logs" / "connector.log").read_text()


def test_a_failed_start_goes_to_the_event_log_and_a_stop_does_not_wait(tmp_path: Path) -> None:
    bad = tmp_path / "connector.yml"
    bad.write_text("gateway: {}\n")
    control = RecordingControl(bad)
    runner = ServiceRunner(control)
    assert runner.run() == 1
    assert any(kind == "error" and "cannot start" in m and "grpc_uri" in m for kind, m in control.events)
    started = time.monotonic()
    runner.stop()
    assert time.monotonic() - started < 10  # it waited the whole 30 s before the fix


def test_install_checks_pywin32s_answer(tmp_path: Path) -> None:
    options: list[tuple[str, str, str]] = []
    with pytest.raises(SaetaError) as failed:
        install_action("install", "C:\\saeta\\connector.yml", lambda argv: 1, lambda *o: options.append(o))
    assert failed.value.code == "SERVICE_FAILED" and not options  # nothing recorded for a failed install
    argv_seen: list[list[str]] = []
    lines = install_action(
        "install", "C:\\saeta\\connector.yml", lambda argv: argv_seen.append(argv) or 0, lambda *o: options.append(o)
    )
    assert argv_seen == [["saeta", "--startup", "auto", "install"]]
    assert options == [("saeta-connector", "config", "C:\\saeta\\connector.yml")] and lines == [
        "install: saeta-connector"
    ]


class NoSignalsLoop(asyncio.SelectorEventLoop):
    """A loop without add_signal_handler, as asyncio's loops on Windows are."""

    def add_signal_handler(self, sig: int, callback: object, *args: object) -> None:
        raise NotImplementedError


def test_stop_signals_work_on_a_loop_without_signal_handlers() -> None:
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    loop = NoSignalsLoop()
    try:

        async def main() -> str:
            stop = asyncio.Event()
            how = stop_signals.install(asyncio.get_running_loop(), stop)
            signal.raise_signal(signal.SIGINT)  # Ctrl-C
            await asyncio.wait_for(stop.wait(), 10)
            return how

        assert loop.run_until_complete(main()) == "signal"
    finally:
        loop.close()
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
