"""The whole path with real processes: control plane, gateway, connectors, and a
WebSocket client. No part of saeta is mocked."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from saeta import certs
from saeta.client import AsyncClient, Client, ServerError, SocketClosed
from saeta.core.session_token import issue_session
from saeta.demo_data import ventas
from saeta.relay import EOS
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.system.harness import BIG_ROWS, SECRET, Deployment, Proc, big_dataset, wait_for

pytestmark = pytest.mark.system


def make_files(root: Path) -> dict[str, Any]:
    data = root / "data"
    data.mkdir()
    for i in range(3):
        pq.write_table(ventas(20_000, seed=i, start=i * 20_000), data / f"ventas-{i}.parquet", row_group_size=5000)
    pacsv.write_csv(ventas(7_000, seed=9).drop_columns(["fecha"]), data / "ventas.csv")
    rows = ventas(3_000, seed=11).drop_columns(["fecha"]).to_pylist()
    (data / "lines.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (data / "array.json").write_text(json.dumps(rows[:500], indent=2))
    return {
        "ventas": {"type": "parquet", "path": "data/ventas-*.parquet"},
        "csv": {"type": "csv", "path": "data/ventas.csv"},
        "lines": {"type": "json", "path": "data/lines.jsonl"},
        "array": {"type": "json", "path": "data/array.json"},
    }


@pytest.fixture
def running(deployment: Deployment) -> Deployment:
    deployment.start_control_plane()
    deployment.start_gateway()
    deployment.start_connector("acme", make_files(deployment.root))
    deployment.start_connector("globex", {"secreto": {"type": "csv", "path": "data/ventas.csv"}})
    return deployment


def test_every_source_type_arrives_complete_and_equal(running: Deployment) -> None:
    data = running.root / "data"
    expected = {
        "ventas": ds.dataset(sorted(str(p) for p in data.glob("ventas-*.parquet"))).to_table(),
        "csv": pacsv.read_csv(data / "ventas.csv"),
        "lines": pajson.read_json(data / "lines.jsonl"),
        "array": pajson.read_json(data / "lines.jsonl").slice(0, 500),
    }
    with Client.connect(running.ws_url, running.session("acme")) as client:
        assert sorted(d["name"] for d in client.list()) == sorted(expected)
        for name, want in expected.items():
            got = client.query(name)
            assert got.num_rows == want.num_rows, name
            # Partitions (files) arrive concurrently, so rows come in no set order.
            assert got.sort_by("id").equals(want.cast(got.schema).sort_by("id")), name
            ordered = client.query(name, ordered=True)
            assert ordered.equals(want.cast(got.schema)), name


def test_raw_stream_concatenates_to_one_valid_ipc_stream(running: Deployment) -> None:
    async def main() -> None:
        async with connect(f"{running.ws_url}/stream/{running.session('acme')}", compression=None, max_size=None) as ws:
            await ws.send(json.dumps({"action": "query", "id": "a", "dataset": "ventas", "columns": ["id", "total"]}))
            info = json.loads(await ws.recv())
            assert info["type"] == "info" and info["partitions"] == 3 and info["total_records"] == 60_000
            assert info["schema"]["fields"] == [{"name": "id", "type": "int64"}, {"name": "total", "type": "double"}]
            stream = bytearray()
            while True:
                msg = await ws.recv()
                if isinstance(msg, str):
                    end = json.loads(msg)
                    break
                assert int.from_bytes(msg[:4], "little") == info["stream"] and msg[4:8] == b"\0\0\0\0"
                stream += msg[8:]
            assert end == {"type": "end", "id": "a", "rows": 60_000, "bytes": len(stream)}
            table = pa.ipc.open_stream(bytes(stream)).read_all()
            assert sorted(table.column("id").to_pylist()) == list(range(60_000))

    asyncio.run(main())


def test_projection_and_limit(running: Deployment) -> None:
    with Client.connect(running.ws_url, running.session("acme")) as client:
        got = client.query("ventas", columns=["producto", "id"], limit=25_001)
        assert got.column_names == ["producto", "id"]
        assert got.column("id").to_pylist() == list(range(25_001))
        assert client.query("csv", limit=0).num_rows == 0


def test_the_first_partition_is_asked_for_with_the_plan(running: Deployment) -> None:
    """docs/tunnel.md, "The first data call": the connector opens partition 0's call as
    soon as it has planned, and the gateway asks for it no second time."""
    data = running.root / "data"
    expected = ds.dataset(sorted(str(p) for p in data.glob("ventas-*.parquet"))).to_table()
    with Client.connect(running.ws_url, running.session("acme")) as client:
        whole = client.query("ventas")
        limited = client.query("ventas", limit=25_001)
    assert whole.sort_by("id").equals(expected.sort_by("id"))
    assert limited.column("id").to_pylist() == list(range(25_001))
    log = next(p for p in running.procs if p.name == "connector-acme").text()
    started = re.findall(r"query (\w+) partition 0 started with its plan", log)
    assert len(started) == 2, log
    for request_id in started:  # read once: no DoGetRequest came for it as well
        assert len(re.findall(rf"query {request_id} partition 0: ", log)) == 1, log
    # The limited query's second partition was asked for the rows still wanted, as before.
    assert re.search(rf"query {started[1]} partition 1: 5001 rows", log), log


def test_two_queries_at_once_on_one_socket(running: Deployment) -> None:
    async def main() -> None:
        async with await AsyncClient.connect(running.ws_url, running.session("acme")) as client:
            a, b = await asyncio.gather(client.query("ventas"), client.query("csv"))
            assert (a.num_rows, b.num_rows) == (60_000, 7_000)

    asyncio.run(main())


@pytest.fixture(params=["data-plane", "grpcio"])
def big(deployment: Deployment, request: pytest.FixtureRequest) -> tuple[Deployment, Proc]:
    """One connector serving a dataset large enough to be mid-stream when we act, sent in
    small tunnel messages; DoGet on the data plane or on grpcio."""
    deployment.start_control_plane()
    if request.param == "grpcio":
        deployment.start_gateway(data_port=None)
    else:
        deployment.start_gateway()
    connector = deployment.start_connector("acme", {"big": big_dataset(deployment.root)}, chunk_bytes=64 * 1024)
    return deployment, connector


def test_cancel_right_behind_its_query_is_answered(running: Deployment) -> None:
    """A cancel sent in the same breath as its query (read by the gateway before the
    query's task has run at all) still ends it with CANCELLED, and frees its id."""

    async def main() -> list[str]:
        ends = []
        async with connect(f"{running.ws_url}/stream/{running.session('acme')}", compression=None) as ws:
            for _ in range(20):
                await ws.send(json.dumps({"action": "query", "id": "x", "dataset": "ventas"}))
                await ws.send(json.dumps({"action": "cancel", "id": "x"}))
                while True:
                    frame = await asyncio.wait_for(ws.recv(), 30)
                    if isinstance(frame, str) and json.loads(frame)["type"] in ("end", "error"):
                        ends.append(json.loads(frame).get("code", "end"))
                        break
        return ends

    ends = asyncio.run(main())
    # Each one answered, and the id free again for the next (never "a query with this id is running").
    assert len(ends) == 20 and set(ends) <= {"CANCELLED", "end"} and "CANCELLED" in ends, ends


def test_cancel_stops_the_query_down_to_the_connector(big: tuple[Deployment, Proc]) -> None:
    deployment, connector = big

    async def main() -> None:
        async with connect(
            f"{deployment.ws_url}/stream/{deployment.session('acme')}", compression=None, max_size=None
        ) as ws:
            await ws.send(json.dumps({"action": "query", "id": "c", "dataset": "big"}))
            info = json.loads(await ws.recv())
            assert info["type"] == "info"
            await ws.send(json.dumps({"action": "cancel", "id": "c"}))
            stream = bytearray()
            while isinstance(msg := await ws.recv(), bytes):
                stream += msg[8:]
            assert json.loads(msg) == {"type": "error", "id": "c", "code": "CANCELLED", "message": "query cancelled"}
            # What did arrive is whole messages of the stream, and not all of it.
            rows = sum(b.num_rows for b in pa.ipc.open_stream(bytes(stream) + EOS))
            assert rows < BIG_ROWS
            # The socket is still usable afterwards.
            await ws.send(json.dumps({"action": "query", "id": "d", "dataset": "big", "limit": 5}))
            await ws.recv()
            while isinstance(msg := await ws.recv(), bytes):
                pass
            assert json.loads(msg)["rows"] == 5

    asyncio.run(main())
    # The connector stopped reading its source (it learned of the cancel one way or the other).
    wait_for(
        lambda: "cancelled; source closed" in connector.text() or "ended the data call" in connector.text(),
        10,
        "the connector to stop the cancelled transfer",
    )


def test_cross_tenant_and_permissions_look_like_missing_datasets(running: Deployment) -> None:
    with Client.connect(running.ws_url, running.session("acme", datasets=["csv"])) as client:
        assert [d["name"] for d in client.list()] == ["csv"]
        errors = []
        for name in ("secreto", "no-such-dataset", "ventas"):
            with pytest.raises(ServerError) as err:
                client.query(name)
            errors.append((err.value.code, err.value.message.replace(name, "X")))
        assert errors == [("DATASET_NOT_FOUND", "no dataset 'X'")] * 3
    with Client.connect(running.ws_url, running.session("globex")) as client:
        assert client.query("secreto").num_rows == 7_000


def _close_code(url: str) -> tuple[int | None, list[Any]]:
    async def main() -> tuple[int | None, list[Any]]:
        received: list[Any] = []
        async with connect(url, compression=None) as ws:
            try:
                await ws.send(json.dumps({"action": "list"}))
                async for msg in ws:
                    received.append(msg)
            except ConnectionClosed:
                pass
            return ws.close_code, received

    return asyncio.run(main())


def test_forged_expired_and_unknown_sessions_are_closed_4001(running: Deployment) -> None:
    now = int(time.time())
    forged = issue_session("another-secret-another-secret-0123456789", "sid", "u", now, 600)
    expired = issue_session(SECRET, "sid", "u", now - 1000, 60)
    unknown = issue_session(SECRET, "never-issued", "u", now, 600)
    padded = running.session("acme") + "="  # a valid id, spelt non-canonically
    for token in (forged, expired, unknown, padded, "garbage", "a" * 5000):
        code, received = _close_code(f"{running.ws_url}/stream/{token}")
        assert (code, received) == (4001, []), token[:20]


def test_revoked_session_is_closed(running: Deployment) -> None:
    token = running.session("acme")
    subprocess.run(
        [
            *(sys.executable, "-m", "saeta", "session", "revoke", token, "--control-plane", running.cp_url),
            *("--token-file", str(running.admin_token_file)),
        ],
        check=True,
    )
    code, received = _close_code(f"{running.ws_url}/stream/{token}")
    assert (code, received) == (4003, [])


def test_bad_browser_messages(running: Deployment) -> None:
    async def main() -> None:
        async with connect(f"{running.ws_url}/stream/{running.session('acme')}", compression=None) as ws:
            for bad, rid in [
                ("{nope", None),
                ('{"action":"drop"}', None),
                ("[]", None),
                ('{"action":"query","id":"x","dataset":"csv","limit":-1}', "x"),
                ('{"action":"query","id":"y","dataset":"csv","columns":["nope"]}', "y"),
                ("[" * 10000 + "]" * 10000, None),
            ]:
                await ws.send(bad)
                reply = json.loads(await ws.recv())
                assert (reply["type"], reply["code"], reply["id"]) == ("error", "BAD_REQUEST", rid), bad[:40]
            await ws.send("x" * (70 * 1024))
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1009

    asyncio.run(main())
    with Client.connect(running.ws_url, running.session("acme")) as client:  # the gateway is unaffected
        assert client.query("csv", limit=3).num_rows == 3


async def _stream_big_until(deployment: Deployment, act: Callable[[], None]) -> tuple[BaseException, int, float]:
    """Streams "big" and calls ``act`` once, 4,096 rows in; returns what ended the stream,
    the rows received, and the seconds from ``act`` to that end."""
    rows, acted_at = 0, 0.0
    async with await AsyncClient.connect(deployment.ws_url, deployment.session("acme")) as client:
        try:
            async for batch in client.stream("big"):
                rows += batch.num_rows
                if rows >= 4096 and not acted_at:
                    act()
                    acted_at = time.monotonic()
        except (ServerError, SocketClosed) as exc:
            return exc, rows, time.monotonic() - acted_at
    raise AssertionError(f"the query ended normally after {rows} rows")


def test_connector_killed_mid_query_gives_connector_offline(big: tuple[Deployment, Proc]) -> None:
    deployment, connector = big
    err, rows, seconds = asyncio.run(_stream_big_until(deployment, lambda: connector.popen.send_signal(signal.SIGKILL)))
    print(f"\nkilled connector: CONNECTOR_OFFLINE {seconds:.3f} s after SIGKILL")
    assert isinstance(err, ServerError) and err.code == "CONNECTOR_OFFLINE"
    assert rows < BIG_ROWS
    wait_for(lambda: deployment.connectors() == 0, 30, "the gateway to drop the connector")
    # A killed process's connections close with it: the gateway learns at once, well
    # within the heartbeat bound, whose watchdog never had to act (nor the query timeout).
    gateway_log = deployment.procs[1].text()
    assert "reason=no heartbeat" not in gateway_log and "code=TIMEOUT" not in gateway_log


def _probe_until_exit(deployment: Deployment, gateway: Proc, outcomes: list[str]) -> None:
    """Opens new sockets and asks for the dataset list until ``gateway`` exits, noting
    how each attempt ended."""
    session = deployment.session("acme")
    while gateway.popen.poll() is None:
        try:
            with Client.connect(deployment.ws_url, session) as client:
                client.list()
                outcomes.append("answered")
        except ServerError as exc:  # answered too, with an error frame
            outcomes.append(f"answered {exc.code}")
        except SocketClosed as exc:
            outcomes.append(f"closed {exc.close_code}")
        except (OSError, InvalidHandshake):  # no listener, or the connection closed before any answer
            outcomes.append("refused")
            time.sleep(0.01)


def test_connector_reconnects_after_gateway_restart(deployment: Deployment) -> None:
    deployment.start_control_plane()
    gateway = deployment.start_gateway()
    (deployment.root / "data").mkdir()
    pacsv.write_csv(ventas(100).drop_columns(["fecha"]), deployment.root / "data" / "v.csv")
    deployment.start_connector("acme", {"v": {"type": "csv", "path": "data/v.csv"}})
    gateway.stop()
    deployment.procs.remove(gateway)
    deployment.start_gateway()
    wait_for(lambda: deployment.connectors() == 1, 30, "the connector to come back")
    with Client.connect(deployment.ws_url, deployment.session("acme")) as client:
        assert client.query("v").num_rows == 100


def _connector_test(deployment: Deployment, cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saeta", "connector", "test", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_connector_refused_for_wrong_cn_or_ca(deployment: Deployment, tmp_path: Path) -> None:
    deployment.start_control_plane()
    gateway = deployment.start_gateway()
    ok = _connector_test(deployment, deployment.connector_config("acme", {}))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "connector test: passed" in ok.stdout
    assert f"ok   data port: port {deployment.data_port} answers" in ok.stdout
    wait_for(lambda: "data call probe tenant=acme" in gateway.text(), 10, "the probe in the gateway's log")

    mismatch = _connector_test(deployment, deployment.connector_config("acme", {}, cert_tenant="globex"))
    assert mismatch.returncode != 0
    assert "tenant_id does not match the client certificate's CN" in mismatch.stdout
    wait_for(lambda: "code=TENANT_MISMATCH tenant=globex" in gateway.text(), 10, "the refusal log line")

    other = tmp_path / "other-ca"
    certs.init_ca(other)
    certs.issue_client(other, "acme")
    cfg = deployment.connector_config("acme", {})
    text = cfg.read_text().replace(str(deployment.certs / "ca.crt"), str(other / "ca.crt"))
    text = text.replace("certs/clients/acme", str(other / "clients" / "acme"))
    cfg.write_text(text)
    foreign = _connector_test(deployment, cfg)
    assert foreign.returncode != 0
    assert "FAIL gateway" in foreign.stdout and "UNAVAILABLE" in foreign.stdout
    assert deployment.connectors() == 0


def test_client_without_certificate_is_refused(deployment: Deployment) -> None:
    import grpc

    deployment.start_control_plane()
    deployment.start_gateway()
    creds = grpc.ssl_channel_credentials(root_certificates=(deployment.certs / "ca.crt").read_bytes())
    with grpc.secure_channel(
        f"127.0.0.1:{deployment.grpc_port}", creds, options=[("grpc.ssl_target_name_override", "localhost")]
    ) as channel:
        with pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(channel).result(timeout=3)
    assert deployment.connectors() == 0


@pytest.mark.parametrize(
    ("which", "patch", "key"),
    [
        ("gateway", {"http_port": "eighty"}, "http_port"),
        ("gateway", {"tableros_secret_key": "short"}, "tableros_secret_key"),
        ("gateway", {"timeouts": {"query_seconds": -1}}, "timeouts.query_seconds"),
        ("connector", {"mtls": {"ca_cert": "missing.crt"}}, "mtls.ca_cert"),
        ("connector", {"datasets": {"x": {"type": "xls", "path": "a"}}}, "datasets.x.type"),
        ("connector", {"tenant": {}}, "tenant.id"),
    ],
)
def test_bad_config_refuses_to_start_naming_key_and_file(
    deployment: Deployment, which: str, patch: dict[str, Any], key: str
) -> None:
    base: dict[str, Any]
    if which == "gateway":
        base = {"tableros_secret_key": SECRET, "control_plane_url": "http://127.0.0.1:1"}
        cmd = ["gateway", "--config"]
    else:
        base = json.loads(deployment.connector_config("acme", {}).read_text())
        cmd = ["connector", "run", "--config"]
    for k, v in patch.items():
        base[k] = {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) and v else v
    cfg = deployment.write("bad.yaml", base)
    proc = subprocess.run([sys.executable, "-m", "saeta", *cmd, str(cfg)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert str(cfg) in proc.stderr and key in proc.stderr, proc.stderr


def test_filters_through_the_gateway(running: Deployment) -> None:
    data = running.root / "data"
    whole = ds.dataset(sorted(str(p) for p in data.glob("ventas-*.parquet"))).to_table()
    with Client.connect(running.ws_url, running.session("acme")) as client:
        got = client.query("ventas", ["id", "total"], filter=[["total", ">", 500], ["id", "not_in", [1, 2, 3]]])
        want = whole.filter((pc.field("total") > 500) & ~pc.field("id").isin([1, 2, 3])).select(["id", "total"])
        assert got.num_rows == want.num_rows > 0
        assert got.sort_by("id").equals(want.sort_by("id"))
        limited = client.query("ventas", ["id"], 7, filter=[["id", ">=", 39_995]])
        assert limited.column("id").to_pylist() == [39_995, 39_996, 39_997, 39_998, 39_999, 40_000, 40_001]
        # The same filter on every file format.
        for name in ("csv", "lines", "array"):
            t = client.query(name, ["id"], filter=[["id", "<", 10], ["id", "!=", 4]])
            assert sorted(t.column("id").to_pylist()) == [0, 1, 2, 3, 5, 6, 7, 8, 9], name
        # Refused by the connector against the dataset's columns: nothing is read.
        refused: list[tuple[list[list[Any]], str]] = [
            ([["nope", "=", 1]], "no column 'nope'"),
            ([["id", "=", "1"]], "expected an integer"),
            ([["producto", "<", 3]], "expected a string"),
        ]
        for bad, problem in refused:
            with pytest.raises(ServerError) as info:
                client.query("ventas", filter=bad)
            assert info.value.code == "BAD_REQUEST" and problem in info.value.message
    # Refused by the gateway on shape: the connector never hears of it.
    connector = next(p for p in running.procs if p.name == "connector-acme")
    refusals = connector.text().count("refused")

    async def main() -> None:
        async with connect(f"{running.ws_url}/stream/{running.session('acme')}", compression=None) as ws:
            for bad in (
                [["id", "like", "1%"]],
                [["id", "in", []]],
                [["id", "=", None]],
                [["id", "=", 1, 2]],
                "id > 1",
            ):
                await ws.send(json.dumps({"action": "query", "id": "f", "dataset": "csv", "filter": bad}))
                reply = json.loads(await ws.recv())
                assert (reply["type"], reply["code"], reply["id"]) == ("error", "BAD_REQUEST", "f"), bad

    asyncio.run(main())
    assert connector.text().count("refused") == refusals


def test_a_failing_partition_stops_the_others(deployment: Deployment) -> None:
    data = deployment.root / "data"
    data.mkdir()
    for i in range(6):
        pq.write_table(ventas(20_000, seed=i, start=i * 20_000), data / f"part-{i}.parquet", row_group_size=2000)
    deployment.start_control_plane()
    deployment.start_gateway()
    deployment.start_connector("acme", {"parts": {"type": "parquet", "path": "data/part-*.parquet"}})
    with Client.connect(deployment.ws_url, deployment.session("acme")) as client:
        assert client.query("parts").num_rows == 120_000
        (data / "part-3.parquet").write_bytes(b"PAR1 broken")
        with pytest.raises(ServerError) as info:
            client.query("parts")
        assert (
            info.value.code in ("QUERY_FAILED", "SOURCE_ERROR")
            and "partition 3 could not be read" in info.value.message
        )
        (data / "part-3.parquet").unlink()
        assert client.query("parts").num_rows == 100_000  # the socket and the tunnel carry on


def test_source_errors_tell_the_browser_no_path_and_no_hidden_value(deployment: Deployment) -> None:
    """A malformed CSV row: the browser learns the dataset and partition, and a reference
    into the connector's log, where the path and the row are; not the connector host's
    path, nor the value of a column the dataset does not expose."""
    data = deployment.root / "data"
    data.mkdir()
    rows = "".join(f'{i},"item-{i}",1.0,"HIDDEN-SECRET-VALUE"\n' for i in range(2000))
    (data / "small.csv").write_text(
        "id,name,price,secret\n" + rows + '2001,"item-2001",1.0,"HIDDEN-SECRET-VALUE",extra\n'
    )
    deployment.start_control_plane()
    deployment.start_gateway()
    connector = deployment.start_connector("acme", {"s": {"type": "csv", "path": "data/small.csv", "columns": ["id"]}})
    with Client.connect(deployment.ws_url, deployment.session("acme")) as client, pytest.raises(ServerError) as info:
        client.query("s", columns=["id"])
    message = info.value.message
    assert info.value.code in ("QUERY_FAILED", "SOURCE_ERROR") and message.startswith("dataset s: ")
    for secret in (str(data), "small.csv", "HIDDEN-SECRET-VALUE", "extra"):
        assert secret not in message, (secret, message)
    ref = message.rsplit("ref ", 1)[1].rstrip(")")
    line = next(ln for ln in connector.text().splitlines() if f"(ref {ref})" in ln)
    assert str(data / "small.csv") in line  # the operator finds it all in the connector's log


def test_dataset_names_shaped_like_paths_are_unknown_names(running: Deployment) -> None:
    with Client.connect(running.ws_url, running.session("acme")) as client:
        for name in ("../data/ventas.csv", "/etc/passwd", "data/ventas-0.parquet", "ventas/../csv", "ventas\x00"):
            with pytest.raises(ServerError) as info:
                client.query(name)
            assert info.value.code == "DATASET_NOT_FOUND", name
        assert client.query("csv", limit=1).num_rows == 1


def test_permessage_deflate_is_never_negotiated(running: Deployment) -> None:
    async def main() -> None:
        url = f"{running.ws_url}/stream/{running.session('acme')}"
        async with connect(url, compression="deflate") as ws:
            assert ws.response is not None
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            await ws.send(json.dumps({"action": "list"}))
            assert json.loads(await ws.recv())["type"] == "datasets"

    asyncio.run(main())


def test_gateway_sigterm_closes_sockets_with_going_away_and_exits_within_30s(big: tuple[Deployment, Proc]) -> None:
    deployment, connector = big
    gateway = next(p for p in deployment.procs if p.name == "gateway")
    signalled: list[float] = []
    probes: list[str] = []
    prober = threading.Thread(target=_probe_until_exit, args=(deployment, gateway, probes), daemon=True)

    def sigterm() -> None:
        signalled.append(time.monotonic())
        gateway.popen.send_signal(signal.SIGTERM)
        prober.start()

    err, rows, _ = asyncio.run(_stream_big_until(deployment, sigterm))
    assert isinstance(err, SocketClosed) and err.close_code == 1001  # the gateway is shutting down; reconnect
    assert rows < BIG_ROWS
    assert gateway.popen.wait(timeout=60) == 0
    assert time.monotonic() - signalled[0] < 30, "the gateway took over 30 s to stop after SIGTERM"
    prober.join(timeout=30)
    # From the signal on, no new socket is served: each attempt is refused (close 1001, or
    # no listener any more), never answered.
    assert probes and all(p in ("closed 1001", "refused") for p in probes), probes
    assert "gateway stopped" in gateway.text()
    # The connector's read ends too (stopped, or finished into buffers the gateway never
    # read), and the connector keeps trying to reconnect.
    ended = ("cancelled; source closed", "ended the data call", " rows, ")
    wait_for(lambda: any(e in connector.text() for e in ended), 30, "the connector's read to end")
    wait_for(lambda: "reconnecting in" in connector.text(), 60, "the connector to try again")
    assert connector.popen.poll() is None
