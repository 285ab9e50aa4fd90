"""`saeta demo`: a whole deployment on this machine, from nothing: certificates, sample
data, redis-server (when installed), control plane, gateway and two connectors of two
tenants, and a ready session with its dashboard URL.

Why one file: the demo is one script read top to bottom, from certificates to the
summary it prints."""

from __future__ import annotations

import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from saeta import certs, demo_data, extras, redis_bus
from saeta.config import default_admin_token_file

TENANTS = ("acme", "globex")


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "saeta" / "demo"


def _write(path: Path, text: str, private: bool = False) -> None:
    path.write_text(text)
    if private:
        path.chmod(0o600)


@dataclass(frozen=True)
class Ports:
    http: int
    grpc: int
    data: int  # 0: DoGet on the tunnel port
    control_plane: int
    flight: int = 0  # the Arrow Flight / Flight SQL endpoint; 0: off


def prepare(state: Path, ports: Ports, ventas_rows: int, redis_url: str | None = None) -> dict[str, Path]:
    """Creates (once) certs, data and config files under ``state``; returns the configs."""
    state.mkdir(parents=True, exist_ok=True)
    cert_dir = state / "certs"
    if not (cert_dir / "ca.crt").exists():
        certs.init_ca(cert_dir)
    for tenant in TENANTS:
        if not (cert_dir / "clients" / tenant / "client.crt").exists():
            certs.issue_client(cert_dir, tenant)
    data = state / "data"
    if not (data / "ventas").exists():
        print(f"demo: writing {ventas_rows:,} rows of sample sales data ...", flush=True)
        demo_data.write_ventas(data / "ventas", files=4, rows_per_file=ventas_rows // 4)
    if not (data / "globex").exists():
        demo_data.write_globex(data / "globex")
    if not (data / "lecturas").exists():
        (data / "lecturas").mkdir(parents=True)
        start = int(time.time()) - 3600
        rows = "".join(_readings(t) for t in range(start, start + 3600, 5))
        (data / "lecturas" / "lecturas.csv").write_text("momento,sensor,temperatura\n" + rows)
    secret_file = state / "secret"
    if not secret_file.exists():
        _write(secret_file, secrets.token_urlsafe(48), private=True)
    secret = secret_file.read_text().strip()
    cfg = {
        "control-plane": state / "control-plane.yaml",
        "gateway": state / "gateway.yaml",
        "acme": state / "connector-acme.yml",
        "globex": state / "connector-globex.yml",
    }
    with_redis = {"redis_url": redis_url} if redis_url else {}
    _write(
        cfg["control-plane"],
        json.dumps(
            {
                "host": "127.0.0.1",
                "port": ports.control_plane,
                "database": "control-plane.sqlite3",
                "tableros_secret_key": secret,
                "gateway_url": f"http://127.0.0.1:{ports.http}",
                **with_redis,
            },
            indent=2,
        ),
        private=True,
    )
    _write(
        cfg["gateway"],
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": ports.http,
                "grpc_port": ports.grpc,
                **({"data_port": ports.data} if ports.data else {}),
                **({"flight": {"port": ports.flight}} if ports.flight else {}),
                "tableros_secret_key": secret,
                "control_plane_url": f"http://127.0.0.1:{ports.control_plane}",
                "tls": {"ca_cert": "certs/ca.crt", "server_cert": "certs/server.crt", "server_key": "certs/server.key"},
                **with_redis,
            },
            indent=2,
        ),
        private=True,
    )
    datasets = {
        "acme": {
            "ventas": {"type": "parquet", "path": "data/ventas/*.parquet"},
            "lecturas": {
                "type": "csv",
                "path": "data/lecturas/*.csv",
                "options": {"column_types": {"momento": "timestamp[s]", "temperatura": "float64"}},
                "live": {"poll_seconds": 0.5},
            },
        },
        "globex": {
            "inventario": {
                "type": "csv",
                "path": "data/globex/inventario.csv",
                "options": {"column_types": {"actualizado": "date32"}},
            },
            "clientes": {"type": "json", "path": "data/globex/clientes.json"},
        },
    }
    for tenant in TENANTS:
        _write(
            cfg[tenant],
            json.dumps(
                {
                    "gateway": {"grpc_uri": f"127.0.0.1:{ports.grpc}", "server_name": "localhost"},
                    "mtls": {
                        "ca_cert": "certs/ca.crt",
                        "client_cert": f"certs/clients/{tenant}/client.crt",
                        "client_key": f"certs/clients/{tenant}/client.key",
                    },
                    "tenant": {"id": tenant},
                    "performance": {"max_chunk_size": 16384, "reconnect_delay": 1},
                    "datasets": datasets[tenant],
                },
                indent=2,
            ),
        )
    return cfg


SENSORS = ("horno-1", "horno-2", "camara-fria", "linea-a", "linea-b")


def _readings(at: int) -> str:
    """CSV lines of every sensor's reading at unix time ``at`` (a slow wave, some noise)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))
    base = {"horno-1": 180.0, "horno-2": 175.0, "camara-fria": -18.0, "linea-a": 22.0, "linea-b": 24.0}
    lines = []
    for i, sensor in enumerate(SENSORS):
        value = base[sensor] + 3 * math.sin(at / 300 + i) + random.uniform(-0.5, 0.5)
        lines.append(f"{stamp},{sensor},{value:.2f}\n")
    return "".join(lines)


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (our own loopback URL)
        body: bytes = resp.read()
        return body


def wait_ready(http_port: int, connectors: int, procs: list[subprocess.Popen[bytes]], deadline: float) -> None:
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"a demo process exited early (pid {p.pid}, code {p.returncode}); see the logs")
        try:
            ready = json.loads(_get(f"http://127.0.0.1:{http_port}/readyz"))
            if ready.get("connectors", 0) >= connectors:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the demo did not become ready in time; see the logs")


def wait_redis(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited early (code {proc.returncode}); is port {port} taken?")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("redis-server did not answer in time")


def issue_session(cp_port: int, tenant: str, user: str, ttl: int) -> dict[str, str]:
    """A session from the demo's control plane, with the admin token it keeps in the default
    place (where `saeta session` finds it too)."""
    token = default_admin_token_file().read_text().strip()
    req = urllib.request.Request(
        f"http://127.0.0.1:{cp_port}/api/sessions",
        data=json.dumps({"tenant": tenant, "user_id": user, "datasets": "*", "ttl_seconds": ttl}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (our own loopback URL)
        answer: dict[str, str] = json.loads(resp.read())
        return answer


def run(state: Path, ports: Ports, ventas_rows: int, redis_port: int | None) -> int:
    redis_server = shutil.which("redis-server") if redis_port else None
    if redis_port and redis_server is None:
        print("demo: redis-server is not installed (make setup installs it); revocations stay in one process")
    missing = extras.missing_message("redis") if redis_server else None
    if missing is not None:
        print(f"demo: {missing}; revocations stay in one process")
        redis_server = None
    redis_url = f"redis://127.0.0.1:{redis_port}/0" if redis_server else None
    cfg = prepare(state, ports, ventas_rows, redis_url)
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "saeta"]
    specs: list[tuple[str, list[str]]] = []
    if redis_server and redis_port:
        (state / "redis").mkdir(exist_ok=True)
        specs.append(("redis", redis_bus.local_server_args(redis_server, redis_port, state / "redis")))
    specs += [
        ("control-plane", [*cmd, "control-plane", "--config", str(cfg["control-plane"])]),
        ("gateway", [*cmd, "gateway", "--config", str(cfg["gateway"])]),
        ("connector-acme", [*cmd, "connector", "run", "--config", str(cfg["acme"])]),
        ("connector-globex", [*cmd, "connector", "run", "--config", str(cfg["globex"])]),
    ]
    procs: list[subprocess.Popen[bytes]] = []

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    # Set both explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for name, args in specs:
            log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
            procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            if name == "redis" and redis_port:
                wait_redis(redis_port, procs[-1], time.monotonic() + 20)
        wait_ready(ports.http, 2, procs, time.monotonic() + 60)
        answer = issue_session(ports.control_plane, "acme", "demo-user", 8 * 3600)
        session = answer["session_id"]
        revocation = (
            f"Redis on :{redis_port}: revocations reach every socket at once"
            if redis_url
            else "in process (no redis-server)"
        )
        redis_flag = f" --redis-url {redis_url}" if redis_url else ""
        data_ports = f", query data on :{ports.data}" if ports.data else ""
        flight = (
            f"""
Or read it from pyarrow, ADBC, Polars or a JDBC tool over Arrow Flight SQL (docs/flight.md):
  grpc+tls://127.0.0.1:{ports.flight} (trust {state / "certs" / "ca.crt"}, server name localhost),
  header authorization: Bearer {session}
  SQL such as: SELECT region, SUM(total) AS total FROM ventas GROUP BY region ORDER BY total DESC
"""  # noqa: S608 (printed for the user, never run)
            if ports.flight
            else ""
        )
        print(
            f"""
saeta demo is running (state: {state}, logs: {logs}/)

  control plane  http://127.0.0.1:{ports.control_plane}
  gateway        http://127.0.0.1:{ports.http}/ (dashboard)   tunnels on :{ports.grpc}{data_ports} (mTLS)
  connectors     acme (ventas: {ventas_rows:,} rows, parquet; lecturas: live csv)  globex (inventario, clientes)
  revocation     {revocation}

Open the dashboard (tenant acme, session valid 8 hours): the ventas chart fills in.
  {answer["dashboard_url"]}&dataset=ventas

Follow live sensor readings (a CSV file the demo appends to every second):
  {answer["dashboard_url"]}&dataset=lecturas&follow=1&chart=scatter&x=momento&y=temperatura

Or stream ventas to this terminal:
  saeta query ventas --gateway ws://127.0.0.1:{ports.http} --session {session}
{flight}
Revoke the session (the open dashboard shows it at once):
  saeta session revoke {session} --control-plane http://127.0.0.1:{ports.control_plane}
Revoke a connector's certificate (its tunnel is cut at once):
  saeta certs revoke globex --dir {state / "certs"}{redis_flag}

More sessions:  saeta session issue --control-plane http://127.0.0.1:{ports.control_plane} --tenant globex --user ana
Ctrl-C stops everything.
""",
            flush=True,
        )
        readings = state / "data" / "lecturas" / "lecturas.csv"
        while True:
            for p in procs:
                if p.poll() is not None:
                    print(f"demo: process {p.pid} exited with {p.returncode}; stopping (see {logs}/)", flush=True)
                    return 1
            with readings.open("a") as fh:  # the live dataset grows: one reading per sensor a second
                fh.write(_readings(int(time.time())))
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        print("demo: stopped", flush=True)
