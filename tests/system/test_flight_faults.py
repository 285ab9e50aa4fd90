"""The Flight endpoint's refusals and faults with real processes (docs/flight.md, "Errors";
docs/security.md): sessions missing, forged and revoked; tickets of another session,
another tenant or tampered; a session revoked or expiring mid-DoGet; a client that stops
reading; a client that cancels; calls the endpoint does not serve. Each is a gRPC status
whose message begins with saeta's code, and no row of another tenant's data is ever sent.

The stream the mid-DoGet tests act on is all of ``big`` as one ordered endpoint (380 MB
of Arrow), far beyond every buffer and window on the path, so "mid-stream" holds on any
machine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest
from saeta import certs

from benchmarks.procstat import rss_bytes
from tests.system.flight import bearer, connect
from tests.system.harness import BIG_ROWS, Deployment, big_dataset, wait_for

pytestmark = pytest.mark.system
STALLED_SECONDS = 3


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    dep = Deployment(tmp_path_factory.mktemp("flight-faults"))
    certs.init_ca(dep.certs)
    try:
        dep.start_control_plane()
        dep.start_gateway(flight={"port": dep.flight_port}, websocket={"stalled_seconds": STALLED_SECONDS})
        dep.start_connector(
            "acme",
            {"big": big_dataset(dep.root), "ventas": big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"}},
        )
        # Another tenant with a dataset of the same name and other rows.
        other = dep.root / "data" / "g.parquet"
        pq.write_table(pa.table({"id": [-1, -2], "secreto": ["globex", "globex"]}), other)
        dep.start_connector("globex", {"ventas": {"type": "parquet", "path": str(other)}})
        yield dep
    except BaseException:
        print(dep.logs())
        raise
    finally:
        dep.stop()


def whole_big(c: fl.FlightClient, options: fl.FlightCallOptions) -> fl.FlightEndpoint:
    """All of ``big`` as one endpoint (ordered: its sixteen partitions one after the other)."""
    info = c.get_flight_info(fl.FlightDescriptor.for_command(json.dumps({"dataset": "big", "ordered": True})), options)
    assert len(info.endpoints) == 1
    return info.endpoints[0]


def read_until_error(reader: fl.FlightStreamReader, pause: float = 0.0, seconds: float = 60) -> tuple[int, Exception]:
    """Rows read before the stream failed (it must fail, within ``seconds``)."""
    rows, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            raise AssertionError(f"the stream ended cleanly after {rows} rows") from None
        except pa.ArrowException as err:
            return rows, err
        rows += chunk.data.num_rows
        time.sleep(pause)
    raise AssertionError(f"the stream neither failed nor ended within {seconds}s")


def test_a_call_without_a_valid_session_is_unauthenticated(site: Deployment) -> None:
    c = connect(site)
    path = fl.FlightDescriptor.for_path("ventas")
    with pytest.raises(fl.FlightUnauthenticatedError, match="UNAUTHORIZED: the session token goes in an authorization"):
        c.get_flight_info(path)
    with pytest.raises(fl.FlightUnauthenticatedError, match="UNAUTHORIZED"):
        c.get_flight_info(path, bearer("not-a-session"))
    revoked = site.session("acme")
    site.revoke(revoked)
    with pytest.raises(fl.FlightUnauthenticatedError, match="SESSION_REVOKED"):
        list(c.list_flights(options=bearer(revoked)))


def test_a_ticket_reads_only_for_the_session_it_was_signed_for(site: Deployment) -> None:
    c = connect(site)
    mine, theirs = bearer(site.session("acme")), bearer(site.session("acme", user="u2"))
    ticket = c.get_flight_info(fl.FlightDescriptor.for_path("ventas"), mine).endpoints[0].ticket
    globex = bearer(site.session("globex"))
    for other in (theirs, globex):
        with pytest.raises(fl.FlightUnauthorizedError, match="TICKET_REFUSED: the ticket belongs to another session"):
            c.do_get(ticket, other).read_all()
    forged = bytearray(ticket.ticket)
    forged[len(b"saeta-ft1.") + 5] ^= 1
    with pytest.raises(fl.FlightUnauthorizedError, match="TICKET_REFUSED"):
        c.do_get(fl.Ticket(bytes(forged)), mine).read_all()
    with pytest.raises(fl.FlightUnauthorizedError, match="TICKET_REFUSED"):
        c.do_get(fl.Ticket(b'{"v":1,"d":"ventas","p":0,"c":null}'), mine).read_all()  # a connector's own ticket
    assert c.do_get(ticket, mine).read_all().num_rows == 400_000


def test_a_tenant_reads_its_own_dataset_of_the_same_name(site: Deployment) -> None:
    c, options = connect(site), bearer(site.session("globex"))
    assert [f.descriptor.path[0].decode() for f in c.list_flights(options=options)] == ["ventas"]
    info = c.get_flight_info(fl.FlightDescriptor.for_path("ventas"), options)
    table = c.do_get(info.endpoints[0].ticket, options).read_all()
    assert table.column("secreto").to_pylist() == ["globex", "globex"]
    with pytest.raises(KeyError, match="DATASET_NOT_FOUND"):
        c.get_flight_info(fl.FlightDescriptor.for_path("big"), options)


def test_a_revocation_ends_a_doget_mid_stream(site: Deployment) -> None:
    token = site.session("acme")
    c, options = connect(site), bearer(token)
    reader = c.do_get(whole_big(c, options).ticket, options)
    first = reader.read_chunk().data.num_rows
    site.revoke(token)
    rows, err = read_until_error(reader, pause=0.05)
    assert isinstance(err, fl.FlightUnauthenticatedError) and "SESSION_REVOKED" in str(err)
    assert first + rows < BIG_ROWS


def test_an_expiring_session_ends_a_doget_mid_stream(site: Deployment) -> None:
    c, options = connect(site), bearer(site.session("acme", ttl=6))
    reader = c.do_get(whole_big(c, options).ticket, options)
    # Read on, a little at a time, until the session lapses.
    rows, err = read_until_error(reader, pause=0.02)
    assert isinstance(err, fl.FlightUnauthenticatedError) and "UNAUTHORIZED: the session expired" in str(err)
    assert rows < BIG_ROWS


def test_a_client_that_stops_reading_loses_the_stream_and_holds_nothing(site: Deployment) -> None:
    c, options = connect(site), bearer(site.session("acme"))
    reader = c.do_get(whole_big(c, options).ticket, options)
    reader.read_chunk()
    gateway = next(p for p in site.procs if p.name == "gateway")
    before = rss_bytes(gateway.popen.pid)
    time.sleep(STALLED_SECONDS + 3)
    grown = rss_bytes(gateway.popen.pid) - before
    rows, err = read_until_error(reader)
    assert "CLIENT_TOO_SLOW" in str(err), err
    assert rows < BIG_ROWS
    # The connector was held back, not the stream buffered: the gateway grew by less than
    # a tenth of what it would hold.
    assert grown < 38 * 1024 * 1024, grown
    assert "flight stalled code=CLIENT_TOO_SLOW" in gateway.text()


def test_a_cancelled_doget_stops_the_connector(site: Deployment) -> None:
    c, options = connect(site), bearer(site.session("acme"))
    reader = c.do_get(whole_big(c, options).ticket, options)
    reader.read_chunk()
    connector = next(p for p in site.procs if p.name == "connector-acme")
    before = connector.text().count("cancelled; source closed")
    reader.cancel()
    wait_for(lambda: connector.text().count("cancelled; source closed") > before, 30, "the connector to stop")
    gateway = next(p for p in site.procs if p.name == "gateway")
    wait_for(lambda: "flight doget cancelled by the client tenant=acme" in gateway.text(), 30, "the gateway's log line")


def test_calls_that_write_are_unimplemented(site: Deployment) -> None:
    c, options = connect(site), bearer(site.session("acme"))
    schema = pa.schema([("a", pa.int64())])
    with pytest.raises(NotImplementedError, match="FLIGHT_UNSUPPORTED"):  # at the open or a write, by timing
        writer, _ = c.do_put(fl.FlightDescriptor.for_path("ventas"), schema, options)
        writer.write_table(pa.table({"a": [1]}, schema=schema))
        writer.close()
    with pytest.raises(NotImplementedError, match="FLIGHT_UNSUPPORTED"):
        list(c.do_action(fl.Action("DropEverything", b""), options))
    with pytest.raises(pa.ArrowInvalid, match="BAD_REQUEST: the command has an unknown key 'sql'"):
        c.get_flight_info(fl.FlightDescriptor.for_command(b'{"dataset": "ventas", "sql": "x"}'), options)
