"""A real toxiproxy server (installed by scripts/setup.sh) driven through its HTTP API: TCP
proxies on loopback whose links get a bandwidth cap and a latency, in both directions, as
a customer's internet link would have. Used by benchmarks/wan.py and the tests of what a
long round trip changes; nothing here shapes traffic itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.system.harness import free_port, terminate, wait_for

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / ".venv" / "bin" / "toxiproxy-server"


@dataclass(frozen=True)
class Link:
    """A link's shape, the same both ways: ``mb_per_s`` (10^6 bytes per second; 0: no cap)
    and ``latency_ms`` added to each direction (a round trip gains twice that)."""

    mb_per_s: float
    latency_ms: int

    @property
    def rtt_ms(self) -> int:
        return 2 * self.latency_ms

    @property
    def label(self) -> str:
        cap = f"{self.mb_per_s:g} MB/s" if self.mb_per_s else "no cap"
        return f"{cap}, {self.latency_ms} ms each way"


def binary() -> Path:
    found = BINARY if BINARY.exists() else shutil.which("toxiproxy-server")
    if not found:
        raise RuntimeError("toxiproxy-server is not installed: run `bash scripts/setup.sh`")
    return Path(found)


class Toxiproxy:
    """One toxiproxy server on loopback, stopped by ``stop`` (or as a context manager);
    every proxy it makes starts with the link ``link`` (none: a plain proxy)."""

    def __init__(self, log: Path, link: Link | None = None) -> None:
        self.link = link
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(
                [str(binary()), "-host", "127.0.0.1", "-port", str(self.port)], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for(self._up, 20, "toxiproxy")
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Toxiproxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _up(self) -> bool:
        try:
            self._call("GET", "/version")
            return True
        except OSError:
            return False

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"toxiproxy {method} {path}: {e.code} {e.read().decode(errors='replace')}") from e
        return json.loads(text) if text.strip().startswith(("{", "[")) else text

    def proxy(self, name: str, upstream_port: int, listen: str = "127.0.0.1", listen_port: int = 0) -> int:
        """A proxy from ``listen``:``listen_port`` (a free one by default) to 127.0.0.1:
        ``upstream_port``, shaped as this server's ``link``; returns the port it listens on."""
        port = listen_port or free_port()
        self._call(
            "POST",
            "/proxies",
            {"name": name, "listen": f"{listen}:{port}", "upstream": f"127.0.0.1:{upstream_port}", "enabled": True},
        )
        if self.link:
            self.shape(name, self.link)
        return port

    def names(self) -> list[str]:
        return sorted(self._call("GET", "/proxies"))

    def shape_all(self, link: Link) -> None:
        """Every proxy, and every one made from now on, gets ``link``."""
        self.link = link
        for name in self.names():
            self.shape(name, link)

    def shape(self, name: str, link: Link) -> None:
        """Gives proxy ``name`` the link ``link``, in both directions, replacing what it had.
        Bandwidth first, then latency: the cap queues bytes as a bottleneck would, and
        latency (which buffers up to 1024 chunks) delays what leaves it."""
        for toxic in self._call("GET", f"/proxies/{name}/toxics"):
            self._call("DELETE", f"/proxies/{name}/toxics/{toxic['name']}")
        for stream in ("upstream", "downstream"):
            if link.mb_per_s:
                rate_kb = max(1, round(link.mb_per_s * 1000))  # toxiproxy's rate: KB (1000 bytes) per second
                self._add(name, f"bw-{stream}", "bandwidth", stream, {"rate": rate_kb})
            if link.latency_ms:
                self._add(name, f"lat-{stream}", "latency", stream, {"latency": link.latency_ms, "jitter": 0})

    def _add(self, proxy: str, toxic: str, kind: str, stream: str, attributes: dict[str, int]) -> None:
        body = {"name": toxic, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes}
        self._call("POST", f"/proxies/{proxy}/toxics", body)

    def stop(self) -> None:
        terminate(self.popen)
