"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
control plane, gateway, redis-server and connector. Screenshots go to test-artifacts/.

No asyncio in this module: Playwright's sync API keeps its own event loop on this thread."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from saeta.core.session_token import issue_session
from saeta.demo_data import ventas, write_globex

from tests.system.chromium import launch
from tests.system.harness import Deployment, wait_for
from tests.system.other_site import serving
from tests.system.redis_server import RedisServer

pytestmark = pytest.mark.system

playwright_sync = pytest.importorskip("playwright.sync_api")  # a dev dependency: always there in CI

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BIG_ROWS = 1_000_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_sync.sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors  # no uncaught exception in the page, ever


def _write_data(root: Path) -> tuple[dict[str, Any], pa.Table]:
    data = root / "data"
    data.mkdir()
    parts = [ventas(4_000, seed=20 + i, start=i * 4_000) for i in range(3)]
    for i, part in enumerate(parts):
        pq.write_table(part, data / f"ventas-{i}.parquet")
    for i in range(4):
        rows = BIG_ROWS // 4
        pq.write_table(ventas(rows, seed=40 + i, start=i * rows), data / f"grande-{i}.parquet", row_group_size=65536)
    write_globex(data)
    datasets = {
        "ventas": {"type": "parquet", "path": "data/ventas-*.parquet"},
        "grande": {"type": "parquet", "path": "data/grande-*.parquet"},
        "inventario": {"type": "csv", "path": "data/inventario.csv"},
        "lecturas": {"type": "csv", "path": "data/lecturas.csv", "live": {"poll_seconds": 0.1}},
    }
    (data / "lecturas.csv").write_text("t,valor\n" + "".join(f"{i},{i * 0.5}\n" for i in range(100)))
    return datasets, pa.concat_tables(parts)


@pytest.fixture
def site(deployment: Deployment, redis_server: RedisServer) -> tuple[Deployment, pa.Table]:
    datasets, expected = _write_data(deployment.root)
    deployment.start_control_plane(redis_url=redis_server.url, gateway_url=f"http://127.0.0.1:{deployment.http_port}")
    # Cached checks last a minute: only the Redis push can revoke within the tests' bounds.
    deployment.start_gateway(redis_url=redis_server.url, session_cache_seconds=60)
    deployment.start_connector("acme", datasets)
    return deployment, expected


def _open(page: Any, dep: Deployment, token: str | None = None) -> None:
    if token is None:
        token = dep.issue("acme")["dashboard_url"].split("?session=")[1]
    page.goto(f"http://127.0.0.1:{dep.http_port}/?session={token}")


def _ready(page: Any) -> None:
    page.wait_for_function("() => window.saeta && window.saeta.state === 'open' && window.saeta.datasets.length === 4")


def _panel(page: Any, index: int) -> Any:
    return page.locator("[data-testid=panel]").nth(index)


def _run(page: Any, index: int, dataset: str, limit: int | None = None, click: bool = True) -> Any:
    panel = _panel(page, index)
    panel.locator("[data-testid=dataset]").select_option(dataset)
    playwright_sync.expect(panel).to_have_attribute("data-state", "ready")
    if limit is not None:
        panel.locator("[data-testid=limit]").fill(str(limit))
    if click:
        panel.locator("[data-testid=run]").click()
    return panel


def _done(panel: Any) -> None:
    playwright_sync.expect(panel).to_have_attribute("data-state", "done", timeout=120_000)


def _chart_ys(page: Any, index: int) -> list[float]:
    ys: list[float] = page.evaluate(
        f"window.saeta.panels[{index}].chartView.chart.data.datasets[0].data.map((p) => p.y)"
    )
    return ys


def test_dashboard_shows_exactly_the_connectors_rows(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, expected = site
    _open(page, dep)
    _ready(page)
    assert "session=" not in page.url  # taken out of the address bar at once
    panel = _run(page, 0, "ventas")
    _done(panel)
    assert panel.get_attribute("data-rows") == str(expected.num_rows)
    assert panel.locator("[data-testid=rows]").inner_text() == f"{expected.num_rows:,}"
    # The table's first page is the first rows, value for value.
    cells = panel.locator("[data-testid=table] tbody tr").first.locator("td").all_inner_texts()
    first = expected.slice(0, 1).to_pylist()[0]
    assert cells[0] == str(first["id"])
    assert cells[1] == first["fecha"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert cells[2:4] == [first["region"], first["producto"]]
    assert int(cells[4]) == first["cantidad"] and float(cells[6]) == first["total"]
    assert panel.locator("[data-testid=table] tbody tr").count() == 25
    assert panel.locator("[data-testid=page]").inner_text() == f"rows 1\u201325 of {expected.num_rows:,}"
    # The table is a page the connector serves: the next one is the next rows.
    panel.locator(".pager button", has_text="Next").click()
    playwright_sync.expect(panel.locator("[data-testid=page]")).to_have_text(
        f"rows 26\u201350 of {expected.num_rows:,}"
    )
    cells = panel.locator("[data-testid=table] tbody tr").first.locator("td").all_inner_texts()
    assert cells[0] == str(expected["id"][25].as_py())
    # The chart (x = fecha, y = the first number column) is M4 the source computed for the
    # chart's width, and keeps every extreme of the data.
    assert page.evaluate("window.saeta.panels[0].rows.x") == "fecha"
    width = page.evaluate("window.saeta.panels[0].canvas.parentElement.clientWidth")
    assert page.evaluate("window.saeta.panels[0].rows.aggregate.bucket.count") == width  # the chart box's pixels
    assert 0 < int(panel.get_attribute("data-points")) <= 4 * width
    y_column = page.evaluate("window.saeta.panels[0].rows.y")
    ys = _chart_ys(page, 0)
    assert max(ys) == pc.max(expected[y_column]).as_py()
    assert min(ys) == pc.min(expected[y_column]).as_py()
    page.screenshot(path=str(ARTIFACTS / "dashboard-ventas.png"), full_page=True)

    # With a row limit small enough to draw whole, the chart is the rows themselves.
    panel.locator("[data-testid=limit]").fill("100")
    panel.locator("[data-testid=run]").click()
    _done(panel)
    assert panel.get_attribute("data-rows") == "100"
    assert _chart_ys(page, 0) == expected[y_column].slice(0, 100).to_pylist()


def test_two_charts_at_once_from_two_datasets(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, expected = site
    _open(page, dep)
    _ready(page)
    page.locator("#add-panel").click()
    first = _run(page, 0, "ventas", click=False)
    second = _run(page, 1, "inventario", click=False)
    second.locator("[data-testid=chart-type]").select_option("bar")
    first.locator("[data-testid=run]").click()
    second.locator("[data-testid=run]").click()
    _done(first)
    _done(second)
    assert first.get_attribute("data-rows") == str(expected.num_rows)
    assert second.get_attribute("data-rows") == "5000"
    assert int(first.get_attribute("data-points")) > 0 and int(second.get_attribute("data-points")) > 0
    assert page.evaluate("window.saeta.panels[1].rows.x") == "actualizado"  # a date: a time axis
    assert page.evaluate("window.saeta.panels[1].chartView.chart.config.type") == "bar"
    page.screenshot(path=str(ARTIFACTS / "dashboard-two-charts.png"), full_page=True)


def test_a_million_rows_arrive_whole_with_a_down_sampled_chart(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, _ = site
    _open(page, dep)
    _ready(page)
    panel = _run(page, 0, "grande")
    _done(panel)
    assert panel.get_attribute("data-rows") == str(BIG_ROWS)
    width = page.evaluate("window.saeta.panels[0].canvas.clientWidth")
    assert 0 < int(panel.get_attribute("data-points")) <= 4 * width  # M4: at most 4 points per pixel column
    assert panel.locator("[data-testid=table] tbody tr").count() == 25
    page.screenshot(path=str(ARTIFACTS / "dashboard-million.png"), full_page=True)


def test_revoked_mid_stream_shows_revoked_and_stops(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, _ = site
    answer = dep.issue("acme")
    token = answer["dashboard_url"].split("?session=")[1]
    _open(page, dep, token)
    _ready(page)
    panel = _run(page, 0, "grande", limit=BIG_ROWS)  # the rows themselves: a long stream
    page.wait_for_function("() => Number(document.querySelector('[data-testid=panel]').dataset.batches) >= 2")
    revoked = dep.revoke(token)
    assert revoked["pushed"] is True
    started = time.monotonic()
    page.wait_for_function("() => document.body.dataset.state === 'revoked'", timeout=30_000)
    seen_after = time.monotonic() - started
    # The panel learns of it from its query's rejection, a few ticks after the page's state.
    page.wait_for_function(
        "() => document.querySelector('[data-testid=panel]').dataset.state !== 'running'", timeout=10_000
    )
    assert panel.get_attribute("data-state") == "error"
    assert panel.get_attribute("data-error") == "SESSION_REVOKED"
    assert int(panel.get_attribute("data-rows")) < BIG_ROWS
    assert "revoked" in page.locator("[data-testid=banner]").inner_text().lower()
    batches = panel.get_attribute("data-batches")
    page.wait_for_timeout(1500)
    assert panel.get_attribute("data-batches") == batches  # nothing more arrives
    page.screenshot(path=str(ARTIFACTS / "dashboard-revoked.png"), full_page=True)
    print(f"revoked state shown {seen_after:.3f} s after the revoke call returned")
    # Session ids never reach a log, not even from the dashboard's URL (every process's whole log).
    assert all(token not in proc.text() for proc in dep.procs)


def test_forged_session_shows_invalid_and_gets_no_data(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, _ = site
    forged = issue_session("not-the-secret-not-the-secret-0123456789", "sid", "mallory", int(time.time()), 600)
    binary_frames: list[int] = []

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", lambda payload: binary_frames.append(1) if isinstance(payload, bytes) else None)

    page.on("websocket", on_socket)
    _open(page, dep, forged)
    page.wait_for_function("() => document.body.dataset.state === 'invalid'")
    assert "SESSION_INVALID" in page.locator("[data-testid=banner]").inner_text()
    assert page.locator("#add-panel").is_disabled()
    assert binary_frames == []


EVIL_PAGE = """<!doctype html><meta charset="utf-8"><title>elsewhere</title><script>
window.result = 'pending';
const ws = new WebSocket('ws://127.0.0.1:%(port)d/stream/%(token)s');
ws.binaryType = 'arraybuffer';
ws.onopen = () => { window.result = 'opened'; ws.send('{"action":"list"}'); };
ws.onmessage = (e) => { window.result = 'data'; };
ws.onclose = (e) => { if (window.result === 'pending') window.result = 'closed ' + e.code; };
</script>"""


def test_page_from_another_origin_cannot_open_the_socket(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, _ = site
    with serving(EVIL_PAGE % {"port": dep.http_port, "token": dep.session("acme")}) as url:
        page.goto(url)
        page.wait_for_function("() => window.result !== 'pending'")
        assert page.evaluate("window.result") == "closed 1006"
    assert "socket refused code=ORIGIN_REFUSED" in dep.procs[1].text()


def test_connector_offline_is_shown_and_clears_when_it_returns(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, _ = site
    _open(page, dep)
    _ready(page)
    panel = _run(page, 0, "ventas", click=False)
    playwright_sync.expect(page.locator("body")).to_have_attribute("data-connector", "online")
    dep.procs[2].stop(signal.SIGKILL)
    wait_for(lambda: dep.connectors() == 0, 30, "the gateway to see the connector gone")
    panel.locator("[data-testid=run]").click()
    playwright_sync.expect(panel).to_have_attribute("data-error", "CONNECTOR_OFFLINE")
    playwright_sync.expect(page.locator("body")).to_have_attribute("data-connector", "offline")
    assert "CONNECTOR_OFFLINE" in page.locator("[data-testid=banner]").inner_text()
    dep.spawn("connector-acme", "connector", "run", "--config", str(dep.root / "connector-acme.yml"))
    playwright_sync.expect(page.locator("body")).to_have_attribute("data-connector", "online", timeout=60_000)
    assert page.locator("[data-testid=banner]").is_hidden()
    panel.locator("[data-testid=run]").click()
    _done(panel)


def test_view_in_the_url_runs_at_once(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, _ = site
    url = dep.issue("acme")["dashboard_url"]
    page.goto(f"{url}&dataset=inventario&chart=bar&y=stock&limit=1000")
    panel = _panel(page, 0)
    _done(panel)
    assert panel.get_attribute("data-rows") == "1000"
    assert page.evaluate("window.saeta.panels[0].chartView.chart.config.type") == "bar"
    assert page.evaluate("window.saeta.panels[0].rows.y") == "stock"
    assert "session=" not in page.url and "dataset=inventario" in page.url


def test_gateway_restart_reconnects_the_page(
    site: tuple[Deployment, pa.Table], page: Any, redis_server: RedisServer
) -> None:
    dep, expected = site
    _open(page, dep)
    _ready(page)
    states: list[str] = []

    def record(state: str) -> None:
        states.append(state)

    page.expose_function("recordState", record)
    page.evaluate("() => window.saeta.connection.addEventListener('statechange', (e) => recordState(e.detail))")
    dep.procs[1].stop()  # SIGTERM: sockets close with 1001, "reconnect"
    dep.start_gateway(redis_url=redis_server.url, session_cache_seconds=60)
    page.wait_for_function(
        "() => window.saeta.connection.state === 'open' && document.body.dataset.state === 'open'", timeout=60_000
    )
    assert states[0] == "reconnecting" and states[-1] == "open", states
    wait_for(lambda: dep.connectors() == 1, 60, "the connector back on the new gateway")
    panel = _run(page, 0, "ventas")
    _done(panel)
    assert panel.get_attribute("data-rows") == str(expected.num_rows)


def test_a_query_cut_by_a_gateway_restart_carries_on_after_the_reconnect(
    site: tuple[Deployment, pa.Table], page: Any, redis_server: RedisServer
) -> None:
    """The page's query is resumable: the gateway is restarted mid-stream (the page's
    socket closed with 1001; the query, a large raw one, goes over HTTP streaming and its
    body ends with GATEWAY_DRAINING), the page shows "reconnecting", then the same query
    carries on from its last checkpoint on the new gateway, and the panel ends with each
    of the rows exactly once, in order."""
    dep, _ = site
    _open(page, dep)
    _ready(page)
    # Recorded in the page and read back once the socket is open again: the query runs
    # over HTTP streaming and resumes on its own, so it can end while the socket is still
    # in its reconnect backoff (seen in CI: three "reconnecting", the panel already done);
    # and a binding to Python (expose_function) is delivered asynchronously.
    page.evaluate(
        "() => { window.statesSeen = []; window.saeta.connection.addEventListener('statechange', (e) => "
        "window.statesSeen.push([e.detail, "
        "Number(document.querySelector('[data-testid=panel]').dataset.rows || 0)])); }"
    )
    panel = _run(page, 0, "grande", limit=BIG_ROWS)  # the rows themselves: a long stream
    page.wait_for_function("() => Number(document.querySelector('[data-testid=panel]').dataset.batches) >= 2")
    dep.procs[1].stop()  # SIGTERM: the socket closes with 1001 mid-query
    dep.start_gateway(redis_url=redis_server.url, session_cache_seconds=60)
    _done(panel)
    page.wait_for_function("() => window.saeta.connection.state === 'open'", timeout=60_000)
    states = [(state, rows) for state, rows in page.evaluate("() => window.statesSeen")]
    assert states[0][0] == "reconnecting" and states[-1][0] == "open", states
    assert states[0][1] < BIG_ROWS  # the premise: the stream was cut mid-query
    assert panel.get_attribute("data-transport") == "http"
    assert panel.get_attribute("data-rows") == str(BIG_ROWS)
    sample = [0, 1, 99_999, 250_000, 500_001, 777_777, BIG_ROWS - 1]
    ids = page.evaluate(f"{sample}.map((i) => Number(window.saeta.panels[0].rows.rowAt(i).id))")
    assert ids == sample  # in order, none lost or repeated
    assert sum(p.text().count("query resumed tenant=acme") for p in dep.procs if p.name == "gateway") >= 1


def test_a_followed_dataset_carries_on_after_a_gateway_restart(
    site: tuple[Deployment, pa.Table], page: Any, redis_server: RedisServer
) -> None:
    """The page's subscription is resumable too: the gateway is restarted while the page
    follows a file (its socket closed with 1001), rows are appended meanwhile, the page
    shows "reconnecting", then the chart carries on from its last checkpoint: each row
    once, the ones appended while it was away among them."""
    dep, _ = site
    _open(page, dep)
    _ready(page)
    states: list[str] = []
    page.expose_function("recordState", lambda state: states.append(state))
    page.evaluate("() => window.saeta.connection.addEventListener('statechange', (e) => recordState(e.detail))")
    panel = _run(page, 0, "lecturas", click=False)
    panel.locator("[data-testid=follow]").check()
    panel.locator("[data-testid=run]").click()
    playwright_sync.expect(panel).to_have_attribute("data-state", "following", timeout=60_000)
    playwright_sync.expect(panel).to_have_attribute("data-rows", "100")
    dep.procs[1].stop()  # SIGTERM: the socket closes with 1001 while following
    with (dep.root / "data" / "lecturas.csv").open("a") as fh:
        fh.write("".join(f"{i},{i * 0.5}\n" for i in range(100, 140)))
    dep.start_gateway(redis_url=redis_server.url, session_cache_seconds=60)
    playwright_sync.expect(panel).to_have_attribute("data-rows", "140", timeout=60_000)
    assert states[0] == "reconnecting" and states[-1] == "open", states
    with (dep.root / "data" / "lecturas.csv").open("a") as fh:
        fh.write("".join(f"{i},{i * 0.5}\n" for i in range(140, 150)))
    playwright_sync.expect(panel).to_have_attribute("data-rows", "150", timeout=60_000)
    ts = page.evaluate("Array.from({length: 150}, (_, i) => Number(window.saeta.panels[0].rows.rowAt(i).t))")
    assert ts == list(range(150))  # none lost, none twice, in order
    assert panel.get_attribute("data-state") == "following"
    assert sum(p.text().count("subscription resumed tenant=acme") for p in dep.procs if p.name == "gateway") >= 1


def test_a_followed_file_replaced_while_the_page_was_away_is_followed_again_from_its_start(
    site: tuple[Deployment, pa.Table], page: Any, redis_server: RedisServer
) -> None:
    """A subscription that cannot carry on where it was cut (the file it followed was
    replaced meanwhile: RESUME_UNAVAILABLE) runs again from the start by itself: the panel
    draws the new file's rows, not a mix of both."""
    dep, _ = site
    _open(page, dep)
    _ready(page)
    panel = _run(page, 0, "lecturas", click=False)
    panel.locator("[data-testid=follow]").check()
    panel.locator("[data-testid=run]").click()
    playwright_sync.expect(panel).to_have_attribute("data-rows", "100", timeout=60_000)
    dep.procs[1].stop()  # SIGTERM: the socket closes with 1001 while following
    fresh = dep.root / "data" / "lecturas.new"
    fresh.write_text("t,valor\n" + "".join(f"{i},{i * 0.5}\n" for i in range(1000, 1030)))
    fresh.replace(dep.root / "data" / "lecturas.csv")  # a rotation: another file under the name
    dep.start_gateway(redis_url=redis_server.url, session_cache_seconds=60)
    playwright_sync.expect(panel).to_have_attribute("data-restarts", "1", timeout=60_000)
    playwright_sync.expect(panel).to_have_attribute("data-state", "following", timeout=60_000)
    playwright_sync.expect(panel).to_have_attribute("data-rows", "30", timeout=60_000)
    ts = page.evaluate("Array.from({length: 30}, (_, i) => Number(window.saeta.panels[0].rows.rowAt(i).t))")
    assert ts == list(range(1000, 1030))


def test_changing_axes_redraws_from_the_rows_already_received(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, expected = site
    _open(page, dep)
    _ready(page)
    panel = _run(page, 0, "ventas", limit=100)
    _done(panel)
    panel.locator("[data-testid=y]").select_option("cantidad")
    assert _chart_ys(page, 0) == expected["cantidad"].slice(0, 100).to_pylist()
    panel.locator("[data-testid=x]").select_option("region")  # a category axis: a bar per label
    assert page.evaluate("window.saeta.panels[0].chartView.chart.config.type") == "bar"
    labels = page.evaluate("window.saeta.panels[0].chartView.chart.data.labels")
    assert set(labels) == set(expected["region"].slice(0, 100).to_pylist())


def test_cancel_stops_a_running_query(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, _ = site
    _open(page, dep)
    _ready(page)
    panel = _run(page, 0, "grande", limit=BIG_ROWS)  # the rows themselves: a long stream
    page.wait_for_function("() => Number(document.querySelector('[data-testid=panel]').dataset.batches) >= 2")
    panel.locator("[data-testid=cancel]").click()
    playwright_sync.expect(panel).to_have_attribute("data-state", "cancelled")
    assert panel.get_attribute("data-error") == "CANCELLED"
    assert int(panel.get_attribute("data-rows")) < BIG_ROWS
    assert page.evaluate("window.saeta.state") == "open"  # the socket stays usable
    panel.locator("[data-testid=limit]").fill("10")
    panel.locator("[data-testid=run]").click()
    _done(panel)
    assert panel.get_attribute("data-rows") == "10"


def test_a_followed_dataset_keeps_the_chart_moving(site: tuple[Deployment, pa.Table], page: Any) -> None:
    dep, _ = site
    _open(page, dep)
    _ready(page)
    panel = _run(page, 0, "lecturas", click=False)
    panel.locator("[data-testid=follow]").check()
    playwright_sync.expect(panel.locator("[data-testid=limit]")).to_be_disabled()
    panel.locator("[data-testid=run]").click()
    playwright_sync.expect(panel).to_have_attribute("data-state", "following", timeout=60_000)
    playwright_sync.expect(panel).to_have_attribute("data-rows", "100")
    assert panel.get_attribute("data-snapshot-rows") == "100"
    playwright_sync.expect(panel.locator("[data-testid=cancel]")).to_have_text("Stop")
    with (dep.root / "data" / "lecturas.csv").open("a") as fh:
        fh.write("".join(f"{i},{i * 0.5}\n" for i in range(100, 150)))
    playwright_sync.expect(panel).to_have_attribute("data-rows", "150", timeout=60_000)
    # The chart redraws from the new rows on its own (no Run): the newest row is drawn.
    page.wait_for_function(
        "() => Math.max(...window.saeta.panels[0].chartView.chart.data.datasets[0].data.map((p) => p.y)) === 74.5"
    )
    panel.locator("[data-testid=cancel]").click()
    _done(panel)
    assert panel.get_attribute("data-rows") == "150"  # what came stays
    page.screenshot(path=str(ARTIFACTS / "dashboard-follow.png"))


def test_a_summarised_chart_asks_the_source_again_for_a_zoomed_range(
    site: tuple[Deployment, pa.Table], page: Any
) -> None:
    """A drag across the chart picks a range of x: the panel asks the source for that
    range's M4 at the chart's width, and data-rows is then the rows in the range."""
    dep, expected = site
    _open(page, dep)
    _ready(page)
    panel = _run(page, 0, "ventas")
    _done(panel)
    box = panel.locator("[data-testid=chart]").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    page.wait_for_function("() => window.saeta.panels[0].zoom !== null")
    _done(panel)
    playwright_sync.expect(panel).not_to_have_attribute("data-rows", str(expected.num_rows))
    lo, hi = page.evaluate("window.saeta.panels[0].zoom")
    ms = pc.cast(expected["fecha"], pa.int64())
    inside = pc.and_(pc.greater_equal(ms, math.floor(lo)), pc.less_equal(ms, math.ceil(hi)))
    assert int(panel.get_attribute("data-rows")) == pc.sum(inside).as_py() > 0
    xs = page.evaluate("window.saeta.panels[0].chartView.chart.data.datasets[0].data.map((p) => p.x)")
    assert math.floor(lo) <= min(xs) and max(xs) <= math.ceil(hi)
    panel.locator("[data-testid=chart]").dblclick()  # the whole range again
    page.wait_for_function("() => window.saeta.panels[0].zoom === null")
    _done(panel)
    playwright_sync.expect(panel).to_have_attribute("data-rows", str(expected.num_rows))
