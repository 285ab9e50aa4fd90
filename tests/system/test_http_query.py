"""`POST /query` (docs/protocol.md, "HTTP streaming") with real processes: the socket's
frames, prefixed, whose Arrow stream equals the file; the refusals before any frame; a
revocation and a stalled reader ending a stream that is far larger than every buffer on
the path."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.system.harness import BIG_ROWS, Deployment, big_dataset

pytestmark = pytest.mark.system


@pytest.fixture
def site(deployment: Deployment) -> Deployment:
    deployment.start_control_plane()
    deployment.start_gateway(websocket={"stalled_seconds": 3})
    deployment.start_connector(
        "acme",
        {
            "big": big_dataset(deployment.root),
            "ventas": big_dataset(deployment.root, "v.parquet") | {"path": "data/v.parquet"},
        },
    )
    return deployment


def frames(chunks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    """(kind, frame) of a POST /query body: u32 LE length, u32 LE kind, the frame."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 8:
            size, kind = struct.unpack_from("<II", buffer)
            if len(buffer) < 8 + size:
                break
            yield kind, buffer[8 : 8 + size]
            buffer = buffer[8 + size :]
    assert buffer == b"", "a frame was cut short"


def post(dep: Deployment, body: Any, session: str | None, **headers: str) -> httpx.Response:
    if session is not None:
        headers["authorization"] = f"Bearer {session}"
    return httpx.post(f"http://127.0.0.1:{dep.http_port}/query", content=json.dumps(body), headers=headers, timeout=60)


def test_a_query_streams_the_sockets_frames_over_http(site: Deployment) -> None:
    session = site.session("acme")
    body = {"action": "query", "id": "h1", "dataset": "ventas", "columns": ["id", "total"]}
    with httpx.stream(
        "POST",
        f"http://127.0.0.1:{site.http_port}/query",
        content=json.dumps(body),
        headers={"authorization": f"Bearer {session}"},
        timeout=60,
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/vnd.saeta.frames"
        got = list(frames(resp.iter_bytes()))
    texts = [json.loads(f) for k, f in got if k == 1]
    assert [t["type"] for t in texts] == ["info", "end"]
    stream = b"".join(f[8:] for k, f in got if k == 2)  # each binary frame: 8-byte header, then Arrow IPC
    table = pa.ipc.open_stream(stream).read_all()
    want = pq.read_table(site.root / "data" / "v.parquet", columns=["id", "total"])
    assert table.equals(want)
    assert texts[1]["rows"] == want.num_rows and texts[1]["bytes"] == len(stream)


def test_refusals_come_before_any_frame_with_their_status(site: Deployment) -> None:
    session = site.session("acme")
    query = {"action": "query", "id": "h", "dataset": "ventas"}
    assert post(site, query, None).status_code == 401  # the session goes in a header
    url = f"http://127.0.0.1:{site.http_port}/query?session={session}"
    assert httpx.post(url, content=json.dumps(query), timeout=30).status_code == 401  # never in the URL
    assert post(site, query, "s-forged").json()["code"] == "UNAUTHORIZED"
    other = post(site, query, session, origin="https://evil.example")
    assert other.status_code == 403 and other.json()["code"] == "ORIGIN_REFUSED"
    live = post(site, {"action": "subscribe", "id": "s", "dataset": "ventas"}, session)
    assert live.status_code == 400 and "WebSocket" in live.json()["message"]
    bad = post(site, {"action": "query", "id": "h", "dataset": "ventas", "limit": -1}, session)
    assert bad.status_code == 400 and bad.json()["code"] == "BAD_REQUEST"
    huge = httpx.post(
        f"http://127.0.0.1:{site.http_port}/query",
        content=b"x" * 70_000,
        headers={"authorization": f"Bearer {session}"},
        timeout=30,
    )
    assert huge.status_code == 413
    missing = post(site, {"action": "query", "id": "h", "dataset": "nada"}, session)
    assert missing.status_code == 200  # the query's own errors are frames, as on the socket
    assert [json.loads(f)["code"] for k, f in frames(iter([missing.content])) if k == 1] == ["DATASET_NOT_FOUND"]


def _raw_post(dep: Deployment, session: str, body: dict[str, Any]) -> socket.socket:
    """A POST /query on a plain socket, read only when and as fast as the test says."""
    sock = socket.create_connection(("127.0.0.1", dep.http_port))
    data = json.dumps(body).encode()
    sock.sendall(
        b"POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + session.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(data)).encode()
        + b"\r\n\r\n"
        + data
    )
    return sock


def _read_all(sock: socket.socket, seconds: float = 60, slowly_for: float = 0.0) -> bytes:
    """Every byte until the response ends; for the first ``slowly_for`` seconds, 64 KiB at
    a time with pauses (a slow reader, never a stalled one)."""
    sock.settimeout(seconds)
    out = bytearray()
    slow_until = time.monotonic() + slowly_for
    while chunk := sock.recv(65536 if time.monotonic() < slow_until else 1 << 20):
        if time.monotonic() < slow_until:
            time.sleep(0.05)
        out += chunk
        if out.endswith(b"0\r\n\r\n"):
            break
    return bytes(out)


def _chunked_body(raw: bytes) -> bytes:
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0]
    body = bytearray()
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body += rest[:size]
        rest = rest[size + 2 :]
    return bytes(body)


def test_a_revocation_ends_a_stream_mid_way_with_its_code(site: Deployment) -> None:
    token = site.session("acme")
    sock = _raw_post(site, token, {"action": "query", "id": "big", "dataset": "big"})
    try:
        sock.settimeout(60)
        first = sock.recv(65536)  # the answer has begun: the session was good
        assert b" 200 " in first.split(b"\r\n")[0]
        site.revoke(token)  # no Redis here: the stream's own session checks find it
        # The stream goes on, held back by a slow reader, until the revocation ends it.
        got = list(frames(iter([_chunked_body(first + _read_all(sock, slowly_for=6.0))])))
    finally:
        sock.close()
    texts = [json.loads(f) for k, f in got if k == 1]
    assert texts[0]["type"] == "info" and texts[-1]["code"] == "SESSION_REVOKED", texts[-1]
    rows = pa.ipc.open_stream(b"".join(f[8:] for k, f in got if k == 2) + b"\xff\xff\xff\xff\x00\x00\x00\x00")
    assert sum(b.num_rows for b in rows) < BIG_ROWS  # the premise: cut mid-stream


def test_a_reader_that_takes_nothing_loses_its_query(site: Deployment) -> None:
    sock = _raw_post(site, site.session("acme"), {"action": "query", "id": "big", "dataset": "big"})
    try:
        gateway = next(p for p in site.procs if p.name == "gateway")
        deadline = time.monotonic() + 60
        while "http query stalled code=CLIENT_TOO_SLOW" not in gateway.text():
            assert time.monotonic() < deadline, "the stalled query was never given up"
            time.sleep(0.5)
        got = list(frames(iter([_chunked_body(_read_all(sock))])))
    finally:
        sock.close()
    texts = [json.loads(f) for k, f in got if k == 1]
    assert texts[-1]["type"] != "end"  # it did not finish: it was given up on


def test_the_js_client_reads_a_table_over_http_in_chromium(site: Deployment) -> None:
    """conn.fetchTable in a real Chromium: the same rows as the file, and a refusal as
    the SaetaError with the gateway's code; conn.query sends a large raw query over HTTP
    by itself (the gateway logs it), a page and an aggregate over the socket."""
    from playwright.sync_api import sync_playwright

    from tests.system.chromium import launch

    script = """async ([session]) => {
      const { connect } = await import('/static/saeta-client.js');
      const conn = await connect(`ws://${location.host}`, session);
      const table = await conn.fetchTable({ dataset: 'ventas', columns: ['id', 'total'] });
      let sum = 0;
      for (const v of table.getChild('total').toArray()) sum += v;
      let code = null;
      try { await conn.fetchTable({ dataset: 'nada' }); } catch (e) { code = e.code; }
      // A large raw query goes over HTTP by itself; a page, an aggregate stay on the socket.
      const raw = conn.query({ dataset: 'ventas', columns: ['id', 'total'] });
      const streamed = await raw.table();
      const small = conn.query({ dataset: 'ventas', limit: 10 });
      const counted = conn.query({ dataset: 'ventas', aggregate: { measures: [{ op: 'count' }] } });
      const [page, count] = [await small.table(), await counted.table()];
      conn.close();
      return {
        rows: table.numRows, sum, code, last: Number(table.getChild('id').get(table.numRows - 1)),
        streamed: streamed.numRows, streamedLast: Number(streamed.getChild('id').get(streamed.numRows - 1)),
        transports: [raw.transport, small.transport, counted.transport],
        page: page.numRows, count: Number(count.getChild('count').get(0)),
      };
    }"""
    want = pq.read_table(site.root / "data" / "v.parquet", columns=["id", "total"])
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{site.http_port}/")
        got = page.evaluate(script, [site.session("acme")])
        browser.close()
    assert got["rows"] == want.num_rows and got["last"] == want["id"][-1].as_py()
    assert got["sum"] == pytest.approx(sum(want["total"].to_pylist()), rel=1e-12)
    assert got["code"] == "DATASET_NOT_FOUND"
    assert got["transports"] == ["http", "socket", "socket"]
    assert got["streamed"] == want.num_rows and got["streamedLast"] == want["id"][-1].as_py()
    assert got["page"] == 10 and got["count"] == want.num_rows
    opened = sum(p.text().count("http query open tenant=acme") for p in site.procs if p.name == "gateway")
    assert opened == 3  # the two fetchTable calls and the raw query: not the page, not the count


def test_clients_gone_before_the_first_byte_give_their_socket_back(site: Deployment) -> None:
    """More such clients than the session may hold sockets (8): every one's count is
    released, so the session can still query afterwards."""
    session = site.session("acme")
    for _ in range(12):
        sock = _raw_post(site, session, {"action": "query", "id": "big", "dataset": "big"})
        sock.close()  # gone before the answer begins
    deadline = time.monotonic() + 30
    while True:  # the gateway notices each departure on its own time
        answer = post(site, {"action": "query", "id": "h", "dataset": "ventas", "limit": 1}, session)
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answer.status_code == 200, answer.text
