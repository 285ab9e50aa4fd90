"""Revocation delay with real processes: redis-server, control plane, two gateways.
- sockets: for each of N sessions a socket is open on both gateways; the clock starts just
  before the revoke call is sent to the control plane and stops when each socket receives
  its 4003 close;
- browser: N dashboards in headless Chromium, each opened with a fresh session; the clock
  stops when the page's client reports the revoked state (wall clocks of one machine).
Gateways cache control-plane answers for 60 s, so only the Redis push counts.
Usage: python benchmarks/revocation_delay.py [N]"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from saeta import certs  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from benchmarks.report import save  # noqa: E402
from tests.system.chromium import launch  # noqa: E402
from tests.system.harness import Deployment, free_port  # noqa: E402
from tests.system.redis_server import RedisServer  # noqa: E402


async def _closed(ws: object) -> float:
    try:
        while True:
            await ws.recv()  # type: ignore[attr-defined]
    except ConnectionClosed:
        pass
    assert ws.close_code == 4003, ws.close_code  # type: ignore[attr-defined]
    return time.perf_counter()


async def measure(dep: Deployment, urls: list[str], n: int) -> list[float]:
    delays: list[float] = []
    async with httpx.AsyncClient(timeout=10, headers=dep.admin_headers()) as http:
        for _ in range(n):
            answer = await http.post(f"{dep.cp_url}/api/sessions", json={"tenant": "acme", "user_id": "bench"})
            token = answer.json()["session_id"]
            sockets = [await connect(f"{url}/stream/{token}", compression=None) for url in urls]
            waits = [asyncio.create_task(_closed(ws)) for ws in sockets]
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            revoked = await http.post(f"{dep.cp_url}/api/sessions/{token}/revoke", json={})
            assert revoked.json()["pushed"], revoked.text
            closed_at = await asyncio.wait_for(asyncio.gather(*waits), 10)
            delays.extend(t - started for t in closed_at)
    return delays


WATCH = """() => window.saeta.connection.addEventListener('statechange', (e) => {
  if (e.detail === 'revoked') window.revokedAt = Date.now();
})"""


def browser_leg(dep: Deployment, n: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    delays: list[float] = []
    with sync_playwright() as p, httpx.Client(timeout=10, headers=dep.admin_headers()) as http:
        browser = launch(p)
        page = browser.new_page()
        for _ in range(n):
            answer = http.post(f"{dep.cp_url}/api/sessions", json={"tenant": "acme", "user_id": "bench"}).json()
            page.goto(answer["dashboard_url"])
            page.wait_for_function("() => window.saeta && window.saeta.state === 'open'")
            page.evaluate(WATCH)
            started = time.time()
            assert http.post(f"{dep.cp_url}/api/sessions/{answer['session_id']}/revoke", json={}).json()["pushed"]
            page.wait_for_function("() => window.revokedAt", timeout=10_000)
            delays.append(page.evaluate("() => window.revokedAt") / 1000 - started)
        browser.close()
    return delays


def summary(delays: list[float]) -> dict[str, float]:
    ms = sorted(d * 1000 for d in delays)
    return {
        "count": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
        "max_ms": round(ms[-1], 2),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    with tempfile.TemporaryDirectory() as tmp:
        dep = Deployment(Path(tmp))
        certs.init_ca(dep.certs)
        redis = RedisServer(Path(tmp) / "redis")
        redis.start()
        second = free_port()
        try:
            dep.start_control_plane(redis_url=redis.url, gateway_url=f"http://127.0.0.1:{dep.http_port}")
            dep.start_gateway(redis_url=redis.url, session_cache_seconds=60)
            dep.start_gateway(
                name="gateway2", http_port=second, grpc_port=free_port(), redis_url=redis.url, session_cache_seconds=60
            )
            sockets = summary(asyncio.run(measure(dep, [dep.ws_url, f"ws://127.0.0.1:{second}"], n)))
            browser = summary(browser_leg(dep, n))
        finally:
            dep.stop()
            redis.stop()
    result = {"revocations": n, "sockets": sockets, "browser": browser}
    print(
        f"revocation delay, revoke call sent -> 4003 received by a socket ({n} sessions x 2 gateways): "
        f"p50 {sockets['p50_ms']} ms, p95 {sockets['p95_ms']} ms, max {sockets['max_ms']} ms"
    )
    print(
        f"revocation delay, revoke call sent -> dashboard in Chromium shows revoked ({n} sessions): "
        f"p50 {browser['p50_ms']} ms, p95 {browser['p95_ms']} ms, max {browser['max_ms']} ms"
    )
    save("revocation_delay", result)


if __name__ == "__main__":
    main()
