"""The gateway's /metrics (docs/metrics.md) scraped from a real gateway after real queries
over each transport (socket, POST /query, Flight), parsed with prometheus-client's own
parser: the counts by tenant, transport and outcome, the rows relayed, the gauges; never a
session in the text."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pyarrow.flight as fl
import pytest
from prometheus_client.parser import text_string_to_metric_families
from saeta.client import Client, ServerError

from tests.system.flight import bearer, connect
from tests.system.harness import Deployment, big_dataset, free_port, wait_for
from tests.system.redis_server import RedisServer

pytestmark = pytest.mark.system
ROWS = 400_000  # big_dataset's one file


def scrape(dep: Deployment) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    resp = httpx.get(f"http://127.0.0.1:{dep.http_port}/metrics", timeout=10)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


def test_a_scrape_counts_each_transports_queries(deployment: Deployment) -> None:
    dep = deployment
    dep.start_control_plane()
    dep.start_gateway(flight={"port": dep.flight_port})
    dep.start_connector("acme", {"ventas": big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"}})
    session = dep.session("acme")
    with Client.connect(dep.ws_url, session) as client:
        assert client.query("ventas").num_rows == ROWS
        with pytest.raises(ServerError, match="no dataset"):
            client.query("nada")
    body: dict[str, Any] = {"action": "query", "id": "h", "dataset": "ventas"}
    answer = httpx.post(
        f"http://127.0.0.1:{dep.http_port}/query",
        content=json.dumps(body),
        headers={"authorization": f"Bearer {session}"},
        timeout=60,
    )
    assert answer.status_code == 200
    flight, options = connect(dep), bearer(session)
    with flight:
        info = flight.get_flight_info(fl.FlightDescriptor.for_path("ventas"), options)
        assert flight.do_get(info.endpoints[0].ticket, options).read_all().num_rows == ROWS
    text, samples = scrape(dep)
    assert session not in text

    def queries(transport: str, code: str) -> float:
        key = (("code", code), ("tenant", "acme"), ("transport", transport))
        return samples.get(("saeta_gateway_queries_total", key), 0.0)

    assert queries("socket", "OK") == 1 and queries("socket", "DATASET_NOT_FOUND") == 1
    assert queries("http", "OK") == 1 and queries("flight", "OK") == 1
    assert samples[("saeta_gateway_relayed_rows_total", (("tenant", "acme"),))] == 3 * ROWS
    assert samples[("saeta_gateway_relayed_bytes_total", (("tenant", "acme"),))] > 3 * ROWS * 8
    for transport in ("socket", "http", "flight"):
        assert samples[("saeta_gateway_query_first_batch_seconds_count", (("transport", transport),))] == 1
    assert samples[("saeta_gateway_query_duration_seconds_count", (("transport", "socket"),))] == 2
    assert samples[("saeta_gateway_tunnels", ())] == 1
    assert samples[("saeta_gateway_ready", ())] == 1
    assert samples[("saeta_gateway_flight_streams", ())] == 0
    build = [k for k in samples if k[0] == "saeta_gateway_build_info"]
    assert build and dict(build[0][1])["relay"] in ("rust", "python")


def test_metrics_access_off_refuses(deployment: Deployment) -> None:
    deployment.start_control_plane()
    deployment.start_gateway(metrics_access="off")
    resp = httpx.get(f"http://127.0.0.1:{deployment.http_port}/metrics", timeout=10)
    assert resp.status_code == 403 and "metrics_access" in resp.text


def test_redis_state_and_the_revocation_delay(deployment: Deployment, redis_server: RedisServer) -> None:
    """With Redis: the subscription's state, and a revocation's delay from the control plane
    to this gateway observed once per pushed revocation. /livez answers beside /readyz."""
    dep = deployment
    dep.start_control_plane(redis_url=redis_server.url)
    dep.start_gateway(redis_url=redis_server.url)
    assert httpx.get(f"{dep.web_url()}/livez", timeout=10).text == "ok"
    _, before = scrape(dep)
    assert before[("saeta_gateway_redis_connected", ())] == 1
    assert 0 <= before[("saeta_gateway_revocation_age_seconds", ())] < 10
    assert before[("saeta_gateway_revocation_delay_seconds_count", ())] == 0
    assert dep.revoke(dep.session("acme"))["pushed"] is True

    def delays() -> float:
        return scrape(dep)[1][("saeta_gateway_revocation_delay_seconds_count", ())]

    wait_for(lambda: delays() == 1, 20, "the revocation's delay to be observed")
    _, after = scrape(dep)
    assert after[("saeta_gateway_revocation_delay_seconds_sum", ())] < 10


def test_the_control_planes_metrics(deployment: Deployment, redis_server: RedisServer) -> None:
    """A real control plane's /metrics after real calls: sessions issued and revoked by
    tenant, the gateway's lookups by outcome, an admin call refused, a revocation pushed;
    /livez and /readyz as Kubernetes probes them."""
    dep = deployment
    dep.start_control_plane(redis_url=redis_server.url)
    dep.start_gateway(redis_url=redis_server.url)
    dep.start_connector("acme", {"ventas": big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"}})
    session = dep.session("acme")
    with Client.connect(dep.ws_url, session) as client:
        assert client.query("ventas", limit=1).num_rows == 1
    dep.revoke(session)
    assert httpx.post(f"{dep.cp_url}/api/sessions", json={}, timeout=10).status_code == 401  # no admin token
    assert httpx.get(f"{dep.cp_url}/livez", timeout=10).text == "ok"
    ready = httpx.get(f"{dep.cp_url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    resp = httpx.get(f"{dep.cp_url}/metrics", timeout=10)
    assert resp.status_code == 200 and session not in resp.text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }
    assert samples[("saeta_control_plane_sessions_issued_total", (("tenant", "acme"),))] == 1
    assert samples[("saeta_control_plane_sessions_revoked_total", (("tenant", "acme"),))] == 1
    assert samples[("saeta_control_plane_lookups_total", (("outcome", "found"),))] >= 1
    assert samples[("saeta_control_plane_admin_refused_total", (("code", "UNAUTHORIZED"),))] == 1
    assert samples[("saeta_control_plane_revocations_pushed_total", (("outcome", "pushed"),))] == 1
    assert samples[("saeta_control_plane_lookup_duration_seconds_count", ())] >= 1


def test_the_connectors_metrics_on_its_local_port(deployment: Deployment) -> None:
    """A real connector with metrics.port: its tunnel, registrations, and partitions by
    dataset and outcome, scraped and parsed after a real query."""
    dep = deployment
    dep.start_control_plane()
    dep.start_gateway()
    port = free_port()
    sections = {"metrics": {"port": port}}
    dep.start_connector(
        "acme", {"ventas": big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"}}, sections=sections
    )
    with Client.connect(dep.ws_url, dep.session("acme")) as client:
        assert client.query("ventas").num_rows == ROWS
    resp = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }
    assert samples[("saeta_connector_tunnels", ())] == 1
    assert samples[("saeta_connector_registrations_total", (("outcome", "ok"),))] >= 1
    assert samples[("saeta_connector_describes_total", (("code", "OK"), ("dataset", "ventas")))] == 1
    assert samples[("saeta_connector_partitions_total", (("code", "OK"), ("dataset", "ventas")))] == 1
    assert samples[("saeta_connector_sent_rows_total", (("dataset", "ventas"),))] == ROWS
    assert samples[("saeta_connector_sent_bytes_total", (("dataset", "ventas"),))] > ROWS * 8
    assert samples[("saeta_connector_partition_duration_seconds_count", (("dataset", "ventas"),))] == 1
