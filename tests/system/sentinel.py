"""Redis with Redis Sentinel for system tests (Debian's redis-server and redis-sentinel,
installed by `make setup`): a master, one replica of it, and one sentinel watching the
master under the name ``saeta`` (quorum 1, down after 1 s), on free loopback ports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis
from saeta.redis_bus import local_server_args

from tests.system.harness import free_port, wait_for

MASTER_NAME = "saeta"


class SentinelSet:
    def __init__(self, root: Path) -> None:
        server, sentinel = shutil.which("redis-server"), shutil.which("redis-sentinel")
        if server is None or sentinel is None:
            raise RuntimeError("redis-server and redis-sentinel are needed: run `make setup`")
        self.server, self.sentinel = server, sentinel
        self.root = root
        self.ports = [free_port(), free_port()]  # master, replica
        self.sentinel_port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{MASTER_NAME}"

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def start(self) -> None:
        for name in ("master", "replica"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        master, replica = self.ports
        self._spawn("master", local_server_args(self.server, master, self.root / "master"))
        self._spawn(
            "replica",
            [*local_server_args(self.server, replica, self.root / "replica"), "--replicaof", "127.0.0.1", str(master)],
        )
        wait_for(lambda: self._role(replica) == "slave" and self._linked(replica), 30, "the replica to sync")
        config = self.root / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {self.root}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 10000\n"
        )
        self._spawn("sentinel", [self.sentinel, str(config)])
        wait_for(lambda: self.master_port() == master, 30, "the sentinel to watch the master")

    def _role(self, port: int) -> str | None:
        try:
            info = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).info("replication")
        except redis.RedisError:
            return None
        role = info.get("role")
        return role if isinstance(role, str) else None

    def _linked(self, port: int) -> bool:
        info = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).info("replication")
        return info.get("master_link_status") == "up"

    def master_port(self) -> int | None:
        try:
            answer = redis.Redis(host="127.0.0.1", port=self.sentinel_port, socket_timeout=2).execute_command(
                "SENTINEL", "get-master-addr-by-name", MASTER_NAME
            )
        except redis.RedisError:
            return None
        return int(answer[1]) if answer else None

    def kill_master(self) -> int:
        """SIGKILLs the current master; returns the port it had."""
        port = self.master_port()
        name = "master" if port == self.ports[0] else "replica"
        self.procs[name].kill()
        self.procs[name].wait(10)
        assert port is not None
        return port

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def log(self) -> str:
        return "\n".join(
            f"===== {name} =====\n{(self.root / f'{name}.log').read_text(errors='replace')[-2000:]}"
            for name in self.procs
        )
