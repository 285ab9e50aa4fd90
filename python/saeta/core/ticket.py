"""A FlightInfo partition's ticket: what the connector made it name, encoded as compact
JSON (opaque to the gateway, handed back in DoGetRequest) and checked again when it comes
back, since the gateway, or anyone who reaches the connector, could hand back anything.
Sans-I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from saeta.core import paging
from saeta.core.aggregation import Aggregate, parse_aggregate, to_json
from saeta.core.paging import Page
from saeta.errors import BadRequest

MAX_TICKET_CHARS = 64 * 1024


@dataclass(frozen=True)
class Ticket:
    """What a FlightInfo partition's ticket names: the connector made it, and checks it
    again when it comes back (the filter comes with the DoGetRequest, not in here)."""

    dataset: str
    partition: int
    columns: tuple[str, ...] | None
    follow: bool = False  # a subscription's one partition
    ordered: bool = False  # read in the dataset's key order, so it can be read again from a row (resumption)
    aggregate: Aggregate | None = None  # the partition is this aggregate's result (one partition)
    page: Page | None = None  # the partition is this page of the query's rows (one partition)

    def encode(self) -> str:
        obj: dict[str, Any] = {"v": 1, "d": self.dataset, "p": self.partition, "c": self.columns}
        if self.follow:
            obj["live"] = True
        if self.ordered:
            obj["o"] = True
        if self.aggregate is not None:
            obj["a"] = to_json(self.aggregate)
        if self.page is not None:
            obj["pg"] = paging.to_json(self.page)
        return json.dumps(obj, separators=(",", ":"))

    @classmethod
    def decode(cls, ticket: str) -> Ticket:
        if len(ticket) > MAX_TICKET_CHARS:
            raise BadRequest("ticket too long")
        try:
            obj = json.loads(ticket)
            dataset, partition, columns = obj["d"], obj["p"], obj["c"]
        except (ValueError, KeyError, TypeError):
            raise BadRequest("malformed ticket") from None
        if (
            obj.get("v") != 1
            or not isinstance(dataset, str)
            or not isinstance(partition, int)
            or isinstance(partition, bool)
            or partition < 0
        ):
            raise BadRequest("malformed ticket")
        if columns is not None and not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
            raise BadRequest("malformed ticket")
        follow, ordered = obj.get("live", False), obj.get("o", False)
        if not isinstance(follow, bool) or not isinstance(ordered, bool):
            raise BadRequest("malformed ticket")
        aggregate = None if obj.get("a") is None else parse_aggregate(obj["a"])
        page = None if obj.get("pg") is None else paging.from_json(obj["pg"])
        named = tuple(columns) if columns is not None else None
        return cls(dataset, partition, named, follow, ordered, aggregate, page)
