"""Partition tickets: what the connector encodes it decodes back, and anything else that
comes back is BAD_REQUEST, never a crash or a different ticket."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from saeta.core.ticket import MAX_TICKET_CHARS, Ticket
from saeta.errors import BadRequest

_tickets = st.builds(
    Ticket,
    st.text(max_size=40),
    st.integers(0, 10_000),
    st.none() | st.lists(st.text(max_size=10), max_size=5).map(tuple),
    st.booleans(),
    st.booleans(),
)


@given(_tickets)
def test_what_is_encoded_decodes_back(ticket: Ticket) -> None:
    assert Ticket.decode(ticket.encode()) == ticket


@pytest.mark.parametrize(
    "text",
    [
        "",
        "null",
        "[]",
        '{"v":2,"d":"x","p":0,"c":null}',  # another version
        '{"v":1,"d":3,"p":0,"c":null}',
        '{"v":1,"d":"x","p":"0","c":null}',
        '{"v":1,"d":"x","p":true,"c":null}',
        '{"v":1,"d":"x","p":-1,"c":null}',
        '{"v":1,"d":"x","p":0,"c":"id"}',
        '{"v":1,"d":"x","p":0,"c":[1]}',
        '{"v":1,"d":"x","p":0,"c":null,"live":"yes"}',
        '{"v":1,"d":"x","p":0,"c":null,"o":1}',
        '{"v":1,"d":"x","p":0}',
    ],
)
def test_anything_else_is_a_bad_request(text: str) -> None:
    with pytest.raises(BadRequest):
        Ticket.decode(text)


def test_a_ticket_over_the_bound_is_refused_before_it_is_parsed() -> None:
    huge = json.dumps({"v": 1, "d": "x" * MAX_TICKET_CHARS, "p": 0, "c": None})
    with pytest.raises(BadRequest, match="too long"):
        Ticket.decode(huge)
