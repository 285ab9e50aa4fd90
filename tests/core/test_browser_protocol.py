from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from saeta.core import browser_protocol as bp


def test_parses_valid_actions() -> None:
    assert bp.parse_client_message('{"action":"list"}') == bp.ListDatasets()
    assert bp.parse_client_message('{"action":"cancel","id":"a"}') == bp.CancelQuery("a")
    q = bp.parse_client_message('{"action":"query","id":"a","dataset":"v","columns":["x","y"],"limit":5}')
    assert q == bp.RunQuery("a", "v", ("x", "y"), 5)


@pytest.mark.parametrize(
    ("text", "rid"),
    [
        ("nope", None),
        ('"str"', None),
        ('{"action":"query"}', None),
        ('{"action":"query","id":"a"}', "a"),
        ('{"action":"query","id":"a","dataset":"v","limit":true}', "a"),
        ('{"action":"query","id":"a","dataset":"v","limit":1.5}', "a"),
        ('{"action":"query","id":"a","dataset":"v","columns":["x","x"]}', "a"),
        ('{"action":"query","id":"a","dataset":"v","columns":"x"}', "a"),
        ('{"action":"fly","id":"a"}', "a"),
        ("[" * 5000 + "]" * 5000, None),
        ('{"action":"list","pad":"' + "x" * bp.MAX_TEXT_FRAME_BYTES + '"}', None),
    ],
)
def test_refuses_bad_messages_with_bad_request(text: str, rid: str | None) -> None:
    with pytest.raises(bp.RequestError) as err:
        bp.parse_client_message(text)
    assert (err.value.code, err.value.request_id) == ("BAD_REQUEST", rid)


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_input_is_an_action_or_bad_request(text: str | bytes) -> None:
    try:
        bp.parse_client_message(text)
    except bp.RequestError:
        pass


def test_frames_are_json_of_the_protocol() -> None:
    assert json.loads(bp.end_frame("a", 3, 10)) == {"type": "end", "id": "a", "rows": 3, "bytes": 10}
    assert json.loads(bp.error_frame(None, "X", "m")) == {"type": "error", "id": None, "code": "X", "message": "m"}
