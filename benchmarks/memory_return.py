"""Memory given back once a burst is over: the one-user attack of benchmarks/one_user.py
(limits lifted, so that the gateway holds a lot: 256 stuck data calls), then the attacker
gone; the gateway's and the connector's RSS over their baseline while held and after,
for each way of giving memory back:

- ``glibc``: glibc's malloc as it is, nothing given back (``memory_trim_seconds: 0``);
- ``glibc+trim``: after data calls end the gateway and connector ask Arrow's pool to
  release what it does not use and call glibc's malloc_trim(0) (``memory_trim_seconds``,
  here 2 s): saeta's default;
- ``arena-max-2+trim``: the same with ``MALLOC_ARENA_MAX=2`` (fewer glibc arenas);
- ``jemalloc+trim``: Debian's libjemalloc2 through ``LD_PRELOAD`` instead of glibc's malloc,
  Arrow's pool still released (glibc's trim then has nothing to do).

    python -m benchmarks.memory_return [--variants glibc,glibc+trim,...]

All variants run one after the other in the same run, on the same data."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from saeta import certs  # noqa: E402

from benchmarks.one_user import UNLIMITED, MiB, attack, other_user, start  # noqa: E402
from benchmarks.procstat import rss_bytes, settled_rss  # noqa: E402
from tests.system.harness import Deployment  # noqa: E402

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
VARIANTS: dict[str, tuple[dict[str, str], float]] = {  # environment, memory_trim_seconds
    "glibc": ({}, 0),
    "glibc+trim": ({}, 2),
    "arena-max-2+trim": ({"MALLOC_ARENA_MAX": "2"}, 2),
    "jemalloc+trim": ({"LD_PRELOAD": JEMALLOC}, 2),
}
AFTER_SECONDS = 15  # the attacker gone, how long before "after" is read (trims every 2 s)


async def _run(dep: Deployment, pids: dict[str, int]) -> dict[str, Any]:
    attacker = f"{dep.ws_url}/stream/{dep.session('acme', user='attacker', ttl=3600)}"
    victim = f"{dep.ws_url}/stream/{dep.session('acme', user='victim', ttl=3600)}"
    await other_user(victim)
    base = {n: rss_bytes(p) for n, p in pids.items()}
    async with AsyncExitStack() as stack:
        await attack(stack, attacker, 4, 16)
        held = await settled_rss(pids)
    await asyncio.sleep(AFTER_SECONDS)
    after = await settled_rss(pids)
    return {
        "held_mib": {n: (held[n] - base[n]) / MiB for n in pids},
        "after_mib": {n: (after[n] - base[n]) / MiB for n in pids},
        "base_mib": {n: base[n] / MiB for n in pids},
    }


def measure(root: Path, env: dict[str, str], trim_seconds: float) -> dict[str, Any]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the processes the harness spawns inherit it
    dep = Deployment(root)
    certs.init_ca(dep.certs)
    try:
        gateway, connector = start(dep, UNLIMITED, memory_trim_seconds=trim_seconds)
        pids = {"gateway": gateway.popen.pid, "connector": connector.popen.pid}
        return asyncio.run(_run(dep, pids))
    finally:
        dep.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    points = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants.split(","):
            env, trim = VARIANTS[name]
            point = points[name] = measure(Path(tmp) / name, env, trim)
            print(
                f"{name:>16}: held gateway +{point['held_mib']['gateway']:.0f} MiB, connector "
                f"+{point['held_mib']['connector']:.0f} MiB; after: gateway +{point['after_mib']['gateway']:.0f} MiB, "
                f"connector +{point['after_mib']['connector']:.0f} MiB (baselines {point['base_mib']['gateway']:.0f}"
                f" / {point['base_mib']['connector']:.0f} MiB)",
                flush=True,
            )
    out = RESULTS / f"memory-return-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(points, indent=1))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
