"""Real processes for system tests: control plane, gateway and connectors started as
`python -m saeta ...` with their own configs, certificates and free ports; logs kept
for assertions and shown when a test fails."""

from __future__ import annotations

import itertools
import json
import os
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from saeta import certs
from saeta.demo_data import ventas

SECRET = "system-test-secret-0123456789abcdefghijklmnop"

# A dataset far larger than every buffer and flow-control window between a connector's
# source and a client, so that a test acting "mid-query" is mid-query on any machine, however
# fast. On the path: the data call's HTTP/2 stream window (4 MiB) and the connector's gRPC
# write buffer, the gateway's socket write buffer, kernel socket buffers at each end (a few
# MiB each, more through a proxy) and a client's receive queue (websockets: 16 frames of up
# to a 1 MiB tunnel message): well under 100 MB in all. One file is written and named
# BIG_COPIES times (a partition each): about 380 MB of Arrow to relay.
BIG_FILE_ROWS = 400_000  # about 24 MB of Arrow
BIG_COPIES = 16
BIG_ROWS = BIG_FILE_ROWS * BIG_COPIES


def big_dataset(root: Path, name: str = "big.parquet") -> dict[str, Any]:
    """Writes one BIG_FILE_ROWS-row Parquet file under ``root``/data and returns the
    connector dataset that is BIG_COPIES copies of it (BIG_ROWS rows, far beyond every
    buffer on the path)."""
    data = root / "data"
    data.mkdir(exist_ok=True)
    pq.write_table(ventas(BIG_FILE_ROWS), data / name, row_group_size=16384)
    return {"type": "parquet", "path": [f"data/{name}"] * BIG_COPIES}


def _port_pool() -> range:
    """Ports outside the kernel's ephemeral range. A port the OS hands out with
    ``bind(0)`` comes from that range, so between picking it and the server binding it
    any outgoing connection (ours, Redis', PostgreSQL's) may take it as its local port:
    CI once lost a run to exactly that (EADDRINUSE on a gateway's HTTP port). No
    connection is ever given a port below the range on its own."""
    try:
        low, high = (int(v) for v in EPHEMERAL.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low - 1 - 10000 >= 4096:
        return range(10000, low)
    return range(high + 1, 65536)


EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_POOL = _port_pool()
# Each test process starts at its own place in the pool, then walks it in order, so
# two runs side by side, or a port a stopped server left in TIME_WAIT, cost a skip.
_next_port = itertools.count(os.getpid() * 7919 % len(_POOL))


def free_port() -> int:
    """A loopback TCP port nothing holds now and that no outgoing connection can take
    before the server under test binds it (see ``_port_pool``)."""
    for _ in range(len(_POOL)):
        port = _POOL[next(_next_port) % len(_POOL)]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free loopback port outside the ephemeral range")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stats(self, timeout: float = 30) -> dict[str, int]:
        """The process's own counts (tasks, threads, fds, rss_kib), from the line it logs
        on SIGUSR1."""
        before = self.text().count("process stats ")
        self.popen.send_signal(signal.SIGUSR1)
        wait_for(lambda: self.text().count("process stats ") > before, timeout, f"{self.name}'s process stats")
        line = [ln for ln in self.text().splitlines() if "process stats " in ln][-1]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.split("process stats ", 1)[1])}

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def terminate(popen: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; reaped either way."""
    if popen.poll() is not None:
        return
    popen.terminate()
    try:
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_json(
    url: str, method: str = "GET", body: Any = None, token: str | None = None, context: ssl.SSLContext | None = None
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=10, context=context) as resp:
        return json.loads(resp.read())


@dataclass
class Deployment:
    root: Path
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    data_port: int = field(default_factory=free_port)
    cp_port: int = field(default_factory=free_port)
    flight_port: int = field(default_factory=free_port)  # the gateway's, when started with flight={"port": ...}
    procs: list[Proc] = field(default_factory=list)
    python: str = sys.executable  # the interpreter processes run under (another venv's: the install tests)
    cp_ca: Path | None = None  # set when the control plane serves https: the CA its certificate is checked with
    web_ca: Path | None = None  # set when the gateway serves https: the CA its HTTP port's certificate is checked with

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.web_ca else 'ws'}://{'localhost' if self.web_ca else '127.0.0.1'}:{self.http_port}"

    def web_url(self, port: int | None = None) -> str:
        """The gateway's HTTP base URL (https://localhost:PORT once it serves TLS)."""
        if self.web_ca is not None:
            return f"https://localhost:{port or self.http_port}"
        return f"http://127.0.0.1:{port or self.http_port}"

    def _context_for(self, url: str) -> ssl.SSLContext | None:
        if not url.startswith("https:"):
            return None
        ca = self.cp_ca if url.startswith(self.cp_url) else self.web_ca
        return ssl.create_default_context(cafile=ca)

    def web_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.web_ca) if self.web_ca is not None else None

    @property
    def cp_url(self) -> str:
        if self.cp_ca is not None:
            return f"https://localhost:{self.cp_port}"
        return f"http://127.0.0.1:{self.cp_port}"

    @property
    def admin_token_file(self) -> Path:
        """Where this deployment's control plane keeps the admin token it generated."""
        return self.root / "admin-token"

    @property
    def admin_token(self) -> str:
        return self.admin_token_file.read_text().strip()

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def spawn(self, name: str, *args: str, max_files: int | None = None) -> Proc:
        """``python -m saeta *args``; ``max_files``: its limit on open files (soft and hard)."""
        log = self.root / f"{name}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}

        def limit_files() -> None:
            if max_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))

        with open(log, "ab") as fh:  # the child keeps its own descriptor
            popen = subprocess.Popen(
                [self.python, "-m", "saeta", *args],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=limit_files if max_files is not None else None,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def write(self, name: str, obj: dict[str, Any]) -> Path:
        path = self.root / name
        path.write_text(json.dumps(obj, indent=1))
        return path

    def start_control_plane(self, **extra: Any) -> Proc:
        cfg = self.write(
            "cp.yaml",
            {
                "port": self.cp_port,
                "database": "cp.sqlite3",
                "admin_token_file": str(self.admin_token_file),
                "tableros_secret_key": SECRET,
                **extra,
            },
        )
        proc = self.spawn("control-plane", "control-plane", "--config", str(cfg))
        wait_for(lambda: self._ok(f"{self.cp_url}/healthz"), 30, "control plane")
        return proc

    def start_gateway(
        self,
        name: str = "gateway",
        http_port: int | None = None,
        grpc_port: int | None = None,
        check_ready: bool = True,
        max_files: int | None = None,
        **extra: Any,
    ) -> Proc:
        """A gateway process; the first one's ports by default. Its data plane listens on
        data_port (a fresh port for other gateways); pass data_port=None to leave DoGet on
        the tunnel channel. Waits for /readyz, or only /healthz without ``check_ready``."""
        http_port = http_port or self.http_port
        data_port = extra.pop("data_port", self.data_port if grpc_port is None else free_port())
        cfg = self.write(
            f"{name}.yaml",
            {
                "host": "127.0.0.1",
                "http_port": http_port,
                "grpc_port": grpc_port or self.grpc_port,
                **({"data_port": data_port} if data_port is not None else {}),
                "tableros_secret_key": SECRET,
                "control_plane_url": self.cp_url,
                "session_cache_seconds": 1,
                "heartbeat_seconds": 2,
                "timeouts": {"query_seconds": 20, "connect_seconds": 5},
                "tls": {"ca_cert": "certs/ca.crt", "server_cert": "certs/server.crt", "server_key": "certs/server.key"},
                **extra,
            },
        )
        proc = self.spawn(name, "gateway", "--config", str(cfg), max_files=max_files)
        probe = "readyz" if check_ready else "healthz"
        wait_for(lambda: self._ok(f"{self.web_url(http_port)}/{probe}"), 30, name)
        return proc

    def connector_config(
        self,
        tenant: str,
        datasets: dict[str, Any],
        cert_tenant: str | None = None,
        ca: Path | None = None,
        via_port: int | None = None,
        log: dict[str, Any] | None = None,
        sections: dict[str, Any] | None = None,
        via_host: str = "127.0.0.1",
        **perf: Any,
    ) -> Path:
        """A connector's config; ``via_port`` (on ``via_host``) dials that port (a proxy)
        instead of the gateway's; ``sections``: more top-level sections (``aggregation``, ...)."""
        who = cert_tenant or tenant
        if not (self.certs / "clients" / who / "client.crt").exists():
            certs.issue_client(self.certs, who)
        return self.write(
            f"connector-{tenant}.yml",
            {
                "gateway": {"grpc_uri": f"{via_host}:{via_port or self.grpc_port}", "server_name": "localhost"},
                "mtls": {
                    "ca_cert": str(ca or self.certs / "ca.crt"),
                    "client_cert": f"certs/clients/{who}/client.crt",
                    "client_key": f"certs/clients/{who}/client.key",
                },
                "tenant": {"id": tenant},
                "performance": {"max_chunk_size": 4096, "reconnect_delay": 0.2, "max_reconnect_delay": 1, **perf},
                "datasets": datasets,
                **({"logging": log} if log else {}),
                **(sections or {}),
            },
        )

    def start_connector(
        self,
        tenant: str,
        datasets: dict[str, Any],
        via_port: int | None = None,
        log: dict[str, Any] | None = None,
        sections: dict[str, Any] | None = None,
        via_host: str = "127.0.0.1",
        **perf: Any,
    ) -> Proc:
        cfg = self.connector_config(
            tenant, datasets, via_port=via_port, log=log, sections=sections, via_host=via_host, **perf
        )
        before = self.connectors()
        proc = self.spawn(f"connector-{tenant}", "connector", "run", "--config", str(cfg))
        wait_for(lambda: self.connectors() > before, 30, f"connector {tenant} to register")
        return proc

    def readyz(self, http_port: int | None = None) -> tuple[int, dict[str, Any]]:
        """The gateway's /readyz: its status (200 ready, 503 not) and body."""
        url = f"{self.web_url(http_port)}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=10, context=self.web_context()) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def connectors(self) -> int:
        try:
            n: int = self.readyz()[1]["connectors"]
            return n
        except OSError:
            return -1

    def session(self, tenant: str, user: str = "u1", datasets: Any = "*", ttl: int = 600) -> str:
        return str(self.issue(tenant, user, datasets, ttl)["session_id"])

    def issue(self, tenant: str, user: str = "u1", datasets: Any = "*", ttl: int = 600) -> dict[str, Any]:
        body = {"tenant": tenant, "user_id": user, "datasets": datasets, "ttl_seconds": ttl}
        url = f"{self.cp_url}/api/sessions"
        answer: dict[str, Any] = http_json(url, "POST", body, self.admin_token, self._context_for(url))
        return answer

    def revoke(self, token: str) -> dict[str, Any]:
        answer: dict[str, Any] = http_json(f"{self.cp_url}/api/sessions/{token}/revoke", "POST", {}, self.admin_token)
        return answer

    def _ok(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2, context=self._context_for(url)):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def logs(self) -> str:
        return "\n".join(f"===== {p.name} =====\n{p.text()[-6000:]}" for p in self.procs)
