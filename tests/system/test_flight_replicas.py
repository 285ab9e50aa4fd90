"""The Flight endpoint on several replicas (docs/scaling.md, docs/flight.md): a ticket
signed on one replica reads on another, the tunnel being on either; a replica that did not
describe the query asks the connector again and refuses SCHEMA_CHANGED when the dataset's
columns changed in between; a replica that stops ends its streams GATEWAY_DRAINING."""

from __future__ import annotations

import json
import signal

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest

from tests.system.flight import bearer, connect
from tests.system.harness import BIG_ROWS, Deployment, big_dataset, free_port, wait_for
from tests.system.redis_server import RedisServer
from tests.system.replicas import Replica, start_connector_on, start_replica

pytestmark = pytest.mark.system


def test_a_ticket_of_one_replica_reads_on_another(deployment: Deployment, redis_server: RedisServer) -> None:
    dep = deployment
    dep.start_control_plane()
    ports = {"a": free_port(), "b": free_port()}
    a: Replica = start_replica(dep, "a", redis_server.url, flight={"port": ports["a"]})
    start_replica(dep, "b", redis_server.url, flight={"port": ports["b"]})
    data = dep.root / "data"
    data.mkdir()
    file = data / "v.parquet"
    table = pa.table({"id": list(range(50_000)), "x": [i * 0.5 for i in range(50_000)]})
    pq.write_table(table, file, row_group_size=4096)

    def restart_connector() -> None:  # a file source reads its schema once, at start
        for proc in [p for p in dep.procs if p.name == "connector-acme"]:
            proc.stop()
            dep.procs.remove(proc)
        wait_for(lambda: a.connectors() == 0, 30, "the connector to leave replica a")
        start_connector_on(dep, "acme", {"v": {"type": "parquet", "path": str(file)}}, a.grpc_port)
        wait_for(lambda: a.connectors() == 1, 30, "the connector on replica a")

    restart_connector()
    options = bearer(dep.session("acme"))
    on_a, on_b = connect(dep, ports["a"]), connect(dep, ports["b"])
    # Described on b (forwarded to a's tunnel), read on b and on a.
    info = on_b.get_flight_info(fl.FlightDescriptor.for_path("v"), options)
    ticket = info.endpoints[0].ticket
    assert on_b.do_get(ticket, options).read_all().equals(table)
    pq.write_table(pa.table({"id": [1], "y": ["other"]}), file)  # the columns change
    restart_connector()
    with pytest.raises(pa.ArrowInvalid, match="FAILED_PRECONDITION:SCHEMA_CHANGED"):
        on_a.do_get(ticket, options).read_all()  # a never saw the schema: it asks again
    pq.write_table(table, file, row_group_size=4096)
    restart_connector()
    assert on_a.do_get(ticket, options).read_all().equals(table)  # the same columns again: read
    info = on_a.get_flight_info(fl.FlightDescriptor.for_path("v"), options)
    assert on_b.do_get(info.endpoints[0].ticket, options).read_all().equals(table)


def test_a_gateway_that_stops_ends_its_doget_with_gateway_draining(deployment: Deployment) -> None:
    """SIGTERM mid-DoGet (an endpoint of 380 MB, far beyond every buffer): the stream ends
    UNAVAILABLE GATEWAY_DRAINING, which a client retries on another replica."""
    dep = deployment
    dep.start_control_plane()
    gateway = dep.start_gateway(flight={"port": dep.flight_port})
    dep.start_connector("acme", {"big": big_dataset(dep.root)})
    options = bearer(dep.session("acme"))
    c = connect(dep, dep.flight_port)
    command = fl.FlightDescriptor.for_command(json.dumps({"dataset": "big", "ordered": True}))
    reader = c.do_get(c.get_flight_info(command, options).endpoints[0].ticket, options)
    rows = reader.read_chunk().data.num_rows
    gateway.popen.send_signal(signal.SIGTERM)
    with pytest.raises(fl.FlightUnavailableError, match="GATEWAY_DRAINING"):
        while True:
            rows += reader.read_chunk().data.num_rows
    assert rows < BIG_ROWS
    assert gateway.popen.wait(30) == 0
