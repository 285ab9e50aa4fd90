"""Several gateway replicas for system tests (docs/scaling.md): each a real `saeta
gateway` process with its own ports and replica certificate, on one redis-server; and
HAProxy from Debian's package in front of them (TCP for tunnels, HTTP with WebSocket for
browsers), started and stopped by the tests."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from saeta import certs
from saeta.client import AsyncClient, ServerError
from saeta.demo_data import ventas

from tests.system.harness import Deployment, Proc, free_port, terminate, wait_for


@dataclass
class Replica:
    name: str
    http_port: int
    grpc_port: int
    proc: Proc

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}"

    def readyz(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz", timeout=5) as resp:
                body: dict[str, Any] = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        except OSError:
            return {}
        return body

    def connectors(self) -> int:
        n = self.readyz().get("connectors")
        return n if isinstance(n, int) else -1


def start_replica(
    dep: Deployment,
    name: str,
    redis_url: str,
    data_port: int | None = None,
    data_address: str | None = None,
    grpc_port: int | None = None,
    peer_address: str | None = None,
    presence_seconds: float = 3,
    **extra: Any,
) -> Replica:
    """A gateway replica, presence in ``redis_url``: DoGet on its tunnel port unless
    ``data_port`` (behind a load balancer the data port's address would be the
    balancer's; a connector dialling the replica itself can use it). ``data_address``:
    direct data, where connectors reach that data port ("direct": this replica's own).
    ``peer_address``: where its peers call it, if not its own tunnel port."""
    cert_dir = dep.certs / "replicas" / name
    if not (cert_dir / "replica.crt").exists():
        certs.issue_replica(dep.certs, name)
    http_port, grpc_port = free_port(), grpc_port or free_port()
    if data_address == "direct":
        assert data_port is not None
        data_address = f"127.0.0.1:{data_port}"
    proc = dep.start_gateway(
        name,
        http_port=http_port,
        grpc_port=grpc_port,
        data_port=data_port,
        redis_url=redis_url,
        replica={
            "id": name,
            "peer_address": peer_address or f"127.0.0.1:{grpc_port}",
            "cert": f"certs/replicas/{name}/replica.crt",
            "key": f"certs/replicas/{name}/replica.key",
            "presence_seconds": presence_seconds,
            **({} if data_address is None else {"data_address": data_address}),
        },
        **extra,
    )
    return Replica(name, http_port, grpc_port, proc)


def start_connector_on(
    dep: Deployment,
    tenant: str,
    datasets: dict[str, Any],
    port: int,
    perf: dict[str, Any] | None = None,
    **gateway: Any,
) -> Proc:
    """A connector dialling ``port`` (a replica's tunnel port, or the balancer's), with
    ``gateway`` keys (connections) added to its config's gateway section and ``perf`` to
    its performance section."""
    cfg_path = dep.connector_config(tenant, datasets, via_port=port, **(perf or {}))
    cfg = json.loads(cfg_path.read_text())
    cfg["gateway"].update(gateway)
    cfg_path.write_text(json.dumps(cfg, indent=1))
    return dep.spawn(f"connector-{tenant}", "connector", "run", "--config", str(cfg_path))


class HAProxy:
    """haproxy -db (foreground) with a TCP frontend for tunnels and an HTTP one for
    browsers, round robin over ``replicas``, each checked every 500 ms."""

    def __init__(self, root: Path, replicas: list[Replica]) -> None:
        binary = shutil.which("haproxy")
        if binary is None:
            raise RuntimeError("haproxy is not installed: run `make setup` (it installs Debian's haproxy)")
        self.binary, self.root, self.replicas = binary, root, replicas
        self.tunnel_port, self.http_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}"

    def config(self) -> str:
        tcp = "\n".join(f"  server {r.name} 127.0.0.1:{r.grpc_port} check inter 500ms fall 2 rise 1"
                        for r in self.replicas)  # fmt: skip
        http = "\n".join(f"  server {r.name} 127.0.0.1:{r.http_port} check inter 500ms fall 2 rise 1"
                         for r in self.replicas)  # fmt: skip
        return f"""global
  maxconn 8192
defaults
  retries 3
  option redispatch
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
frontend tunnels
  mode tcp
  bind 127.0.0.1:{self.tunnel_port}
  default_backend replica_tunnels
backend replica_tunnels
  mode tcp
  balance roundrobin
{tcp}
frontend browsers
  mode http
  bind 127.0.0.1:{self.http_port}
  default_backend replica_http
backend replica_http
  mode http
  balance roundrobin
  option httpchk GET /readyz
{http}
"""

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cfg = self.root / "haproxy.cfg"
        cfg.write_text(self.config())
        log = open(self.root / "haproxy.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen([self.binary, "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(self._answers, 20, "haproxy")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)

    def log(self) -> str:
        path = self.root / "haproxy.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


async def revoked_close_codes(dep: Deployment, session: str, replicas: list[Replica]) -> list[int | None]:
    """Opens a socket of ``session`` on each replica, revokes the session through the
    control plane, and returns each socket's close code (within 30 s)."""
    clients = [await AsyncClient.connect(r.ws_url, session) for r in replicas]
    try:
        for client in clients:
            assert await client.list()
        dep.revoke(session)
        closed = await asyncio.wait_for(asyncio.gather(*(c.wait_closed() for c in clients)), 30)
        return [c.close_code for c in closed]
    finally:
        for client in clients:
            await client.close()


async def limited_missing_and_followed(client: AsyncClient, log_csv: Path) -> None:
    """What the forwarding tests ask besides whole queries: a limited, filtered query of
    ventas; a dataset that does not exist (DATASET_NOT_FOUND); and a subscription of the
    2-row ``log_csv``: its snapshot, one row appended, the unsubscribe ending it."""
    limited = await client.query("ventas", ["id", "total"], limit=1000, filter=[["total", ">", 100]])
    assert limited.num_rows == 1000
    with pytest.raises(ServerError) as missing:
        await client.query("nothing")
    assert missing.value.code == "DATASET_NOT_FOUND"
    snapshots: list[int] = []
    snapshot_seen = asyncio.Event()

    def on_snapshot(count: int) -> None:
        snapshots.append(count)
        snapshot_seen.set()

    it = client.subscribe("log", on_snapshot=on_snapshot, query_id="s1")
    rows: list[dict[str, Any]] = []
    while len(rows) < 2:
        rows += (await asyncio.wait_for(anext(it), 30)).to_pylist()
    # The row is appended once the snapshot has ended, on any machine: a connector still
    # reading its snapshot would count the new row in it.
    following = asyncio.ensure_future(anext(it))
    await asyncio.wait_for(snapshot_seen.wait(), 30)
    with log_csv.open("a") as fh:
        fh.write("3,warn\n")
    rows += (await asyncio.wait_for(following, 30)).to_pylist()
    while len(rows) < 3:
        rows += (await asyncio.wait_for(anext(it), 30)).to_pylist()
    assert rows == [{"id": 1, "nivel": "info"}, {"id": 2, "nivel": "error"}, {"id": 3, "nivel": "warn"}]
    assert snapshots == [2]
    await client.unsubscribe("s1")
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(it), 30)


def forwarding_datasets(root: Path, rows: int, copies: int, seed: int) -> dict[str, Any]:
    """The forwarding tests' datasets under ``root``/data: ``ventas``, ``copies`` partitions
    of one ``rows``-row Parquet file, and ``log``, a followed 2-row CSV (what
    limited_missing_and_followed reads)."""
    data = root / "data"
    data.mkdir(exist_ok=True)
    pq.write_table(ventas(rows, seed=seed), data / "ventas.parquet", row_group_size=16384)
    (data / "log.csv").write_text("id,nivel\n1,info\n2,error\n")
    return {
        "ventas": {"type": "parquet", "path": ["data/ventas.parquet"] * copies},
        "log": {"type": "csv", "path": "data/log.csv", "live": {"poll_seconds": 0.1}},
    }
