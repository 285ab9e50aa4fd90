"""One data call's accounting without a call: rows against the limit and the end marker,
the frames each piece becomes, and how the call ends for the connector."""

from __future__ import annotations

import pyarrow as pa
import pytest
from saeta.core.partition_relay import PartitionRelay
from saeta.core.tunnel_codec import Abort
from saeta.errors import QueryFailed

SCHEMA = pa.schema([("n", pa.int64())])


def _payload(rows: int) -> bytes:
    return pa.record_batch([pa.array(range(rows), pa.int64())], schema=SCHEMA).serialize().to_pybytes()


def test_a_partition_answered_whole_ends_ok() -> None:
    relay = PartitionRelay(SCHEMA, 1 << 20, limit=10)
    assert relay.abort == Abort("query stopped")  # until it ends well
    sent = list(relay.chunk(4, _payload(4))) + list(relay.chunk(6, _payload(6)))
    assert relay.rows == 10 and relay.nbytes == sum(len(p) for p in sent)
    relay.end(10)
    assert relay.abort is None and relay.ended


def test_an_end_marker_with_other_rows_fails_the_query_and_cancels() -> None:
    relay = PartitionRelay(SCHEMA, 1 << 20)
    list(relay.chunk(3, _payload(3)))
    with pytest.raises(QueryFailed, match="announced 4 rows but sent 3"):
        relay.end(4)
    assert relay.abort == Abort("query stopped")


def test_more_rows_than_asked_is_invalid_data() -> None:
    relay = PartitionRelay(SCHEMA, 1 << 20, limit=5)
    with pytest.raises(QueryFailed, match="more rows than the limit"):
        list(relay.chunk(6, _payload(6)))
    assert relay.abort == Abort("more rows than asked", invalid_data=True)
    assert relay.nbytes == 0  # nothing of it was sent


def test_pieces_become_frames_that_fit() -> None:
    relay = PartitionRelay(SCHEMA, 4096)
    parts = list(relay.chunk(5000, _payload(5000)))
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert relay.nbytes == sum(len(p) for p in parts)


def test_refused_data_and_unsubscribe_say_how_the_call_ends() -> None:
    refused = PartitionRelay(SCHEMA, 1 << 20)
    refused.invalid_data()
    assert refused.abort == Abort("invalid Arrow data", invalid_data=True)
    follow = PartitionRelay(SCHEMA, 1 << 20, what="subscription")
    assert follow.abort == Abort("subscription stopped")
    follow.unsubscribed()
    assert follow.abort == Abort("unsubscribed")


def test_the_snapshot_is_announced_once_its_rows_are_relayed() -> None:
    relay = PartitionRelay(SCHEMA, 1 << 20, what="subscription")
    assert not relay.snapshot_due(None)  # the connector has not said yet
    list(relay.chunk(2, _payload(2)))
    assert not relay.snapshot_due(3)
    list(relay.chunk(1, _payload(1)))
    assert relay.snapshot_due(3)
    assert relay.snapshot_told and not relay.snapshot_due(3)  # once
    assert PartitionRelay(SCHEMA, 1 << 20).snapshot_due(0)  # an empty snapshot, at once
