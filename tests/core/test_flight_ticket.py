"""Flight tickets and prepared statement handles (core/flight_ticket.py): what is signed
comes back whole; anything forged, tampered, of another session, expired or of the other
kind is TICKET_REFUSED."""

from __future__ import annotations

import base64
import json

import pytest
from saeta.core import flight_ticket as ft
from saeta.core.aggregation import parse_aggregate
from saeta.core.filters import parse_filter
from saeta.core.paging import Page

SECRET = "a-secret-of-at-least-32-characters-long"
NOW = 1_800_000_000


def ticket(**changes: object) -> ft.FlightTicket:
    fields: dict[str, object] = {
        "session": "s" * 32,
        "expires_at": NOW + 60,
        "dataset": "ventas",
        "columns": ("id", "total"),
        "conditions": parse_filter([["total", ">", 5], ["region", "in", ["Norte", "Sur"]], ["id", "not_null"]]),
        "limit": 10,
        "schema": "ab" * 16,
        "parts": ('{"v":1,"d":"ventas","p":0,"c":null}', '{"v":1,"d":"ventas","p":1,"c":null}'),
    }
    fields.update(changes)
    return ft.FlightTicket(**fields)  # type: ignore[arg-type]


def test_a_signed_ticket_comes_back_whole() -> None:
    agg = parse_aggregate({"group_by": ["region"], "measures": [{"op": "sum", "column": "total", "as": "t"}]})
    for t in (ticket(), ticket(limit=None, columns=None, conditions=()), ticket(aggregate=agg, names=("r", "t"))):
        assert ft.verify(SECRET, ft.sign(SECRET, t), t.session, NOW) == t
    paged = ticket(page=Page(offset=20))
    assert ft.verify(SECRET, ft.sign(SECRET, paged), paged.session, NOW).page == Page(offset=20)


def _refused(raw: object, session: str = "s" * 32, now: float = NOW, kind: bytes = ft.TICKET) -> str:
    with pytest.raises(ft.TicketRefused) as err:
        if kind == ft.TICKET:
            ft.verify(SECRET, raw, session, now)
        else:
            ft.unseal(SECRET, kind, raw, session, now)
    assert err.value.code == "TICKET_REFUSED"
    return err.value.message


def test_another_sessions_ticket_is_refused() -> None:
    assert "another session" in _refused(ft.sign(SECRET, ticket()), session="t" * 32)


def test_an_expired_ticket_is_refused() -> None:
    assert "expired" in _refused(ft.sign(SECRET, ticket()), now=NOW + 61)


def test_a_ticket_signed_with_another_secret_is_refused() -> None:
    other = ft.sign("another-secret-of-at-least-32-characters", ticket())
    assert "signature" in _refused(other)


def test_a_tampered_ticket_is_refused() -> None:
    raw = ft.sign(SECRET, ticket())
    body_text, mac = raw[len(ft.TICKET) :].split(b".")
    fields = json.loads(base64.urlsafe_b64decode(body_text + b"=" * (-len(body_text) % 4)))
    fields["d"] = "someone-elses"
    forged = ft.TICKET + base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=") + b"." + mac
    assert "signature" in _refused(forged)
    flipped = bytearray(raw)
    flipped[-3] ^= 1
    _refused(bytes(flipped))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"saeta-ft1.",
        b"saeta-ft1.xx",
        b"saeta-ft1.!!.!!",
        b"nonsense",
        "a str",
        None,
        b"x" * (ft.MAX_TICKET_BYTES + 1),
    ],
)
def test_malformed_tickets_are_refused(raw: object) -> None:
    _refused(raw)


def test_a_statement_handle_is_not_a_ticket_nor_the_reverse() -> None:
    handle = ft.seal(SECRET, ft.STATEMENT, {"s": "s" * 32, "e": NOW + 60, "q": "SELECT 1"})
    assert ft.unseal(SECRET, ft.STATEMENT, handle, "s" * 32, NOW)["q"] == "SELECT 1"
    _refused(handle)
    _refused(ft.sign(SECRET, ticket()), kind=ft.STATEMENT)


def test_a_signed_ticket_with_bad_fields_is_refused() -> None:
    """Signed by this gateway but not of its shape (a bug, or a key that leaked): refused."""
    for bad in ({"p": []}, {"p": "x"}, {"l": -1}, {"l": True}, {"d": 5}, {"f": "x"}, {"a": {"measures": []}}):
        fields = {"s": "s" * 32, "e": NOW + 60, "d": "v", "c": None, "f": [], "l": None, "h": "x", "p": ["t"]}
        _refused(ft.seal(SECRET, ft.TICKET, {**fields, **bad}))


def test_endpoint_groups() -> None:
    assert ft.endpoint_groups(0, 4, False) == []
    assert ft.endpoint_groups(10, 4, False) == [range(0, 3), range(3, 6), range(6, 8), range(8, 10)]
    assert ft.endpoint_groups(2, 4, False) == [range(0, 1), range(1, 2)]
    assert ft.endpoint_groups(10, 4, True) == [range(0, 10)]
