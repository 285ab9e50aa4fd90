from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from saeta import certs

from tests.system.harness import Deployment
from tests.system.redis_server import RedisServer


@pytest.fixture
def deployment(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    dep = Deployment(tmp_path)
    certs.init_ca(dep.certs)
    try:
        yield dep
    finally:
        dep.stop()
        if _call_failed(request):
            print(dep.logs())


@pytest.fixture
def redis_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if _call_failed(request):
            print("===== redis-server =====\n" + server.log())


def _call_failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is not None and bool(report.failed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
