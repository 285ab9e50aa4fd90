from __future__ import annotations

import dataclasses
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
    agg = bp.parse_client_message(
        '{"action":"query","id":"a","dataset":"v","limit":5,'
        '"aggregate":{"group_by":["r"],"measures":[{"op":"sum","column":"t"}],"offset":10}}'
    )
    assert isinstance(agg, bp.RunQuery) and agg.aggregate is not None
    assert (agg.aggregate.group_by, agg.aggregate.offset, agg.limit) == (("r",), 10, 5)
    page = bp.parse_client_message(
        '{"action":"query","id":"a","dataset":"v","sort":[{"column":"t","desc":true}],"offset":4}'
    )
    assert isinstance(page, bp.RunQuery) and page.page is not None
    assert (page.page.sort[0].column, page.page.sort[0].desc, page.page.offset) == ("t", True, 4)


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
        ('{"action":"query","id":"a","dataset":"v","aggregate":{"measures":[]}}', "a"),
        ('{"action":"query","id":"a","dataset":"v","aggregate":[]}', "a"),
        ('{"action":"query","id":"a","dataset":"v","columns":["x"],"aggregate":{"measures":[{"op":"count"}]}}', "a"),
        ('{"action":"subscribe","id":"a","dataset":"v","aggregate":{"measures":[{"op":"count"}],"offset":2}}', "a"),
        (
            '{"action":"subscribe","id":"a","dataset":"v",'
            '"aggregate":{"bucket":{"column":"t","count":9},"measures":[{"op":"count"}]}}',
            "a",
        ),
        ('{"action":"query","id":"a","dataset":"v","sort":[]}', "a"),
        ('{"action":"query","id":"a","dataset":"v","sort":[{"column":"x","up":true}]}', "a"),
        ('{"action":"query","id":"a","dataset":"v","offset":-1}', "a"),
        ('{"action":"subscribe","id":"a","dataset":"v","offset":3}', "a"),
        ('{"action":"query","id":"a","dataset":"v","offset":3,"aggregate":{"measures":[{"op":"count"}]}}', "a"),
        ('{"action":"query","id":"a","dataset":"v","compression":"zstd"}', "a"),
        ('{"action":"query","id":"a","dataset":"v","compression":[1]}', "a"),
        ('{"action":"query","id":"a","dataset":"v","compression":[""]}', "a"),
        ('{"action":"subscribe","id":"a","dataset":"v","compression":["' + "z" * 17 + '"]}', "a"),
        ('{"action":"query","id":"a","dataset":"v","compression":' + json.dumps(["lz4"] * 9) + "}", "a"),
        ("[" * 5000 + "]" * 5000, None),
        ('{"action":"list","pad":"' + "x" * bp.MAX_TEXT_FRAME_BYTES + '"}', None),
    ],
)
def test_refuses_bad_messages_with_bad_request(text: str, rid: str | None) -> None:
    with pytest.raises(bp.RequestError) as err:
        bp.parse_client_message(text)
    assert (err.value.code, err.value.request_id) == ("BAD_REQUEST", rid)


@pytest.mark.parametrize(
    ("text", "rid"),
    [
        ('{"action":"nope","id":"\\ud800"}', None),
        ('{"action":"query","id":"\\udfff","dataset":"v"}', None),
        ('{"action":"query","id":"a","dataset":"v\\ud800"}', "a"),
        ('{"action":"query","id":"a","dataset":"v","columns":["\\ud800"]}', "a"),
        ('{"action":"query","id":"a","dataset":"v","filter":[["x","=","\\udbff"]]}', "a"),
        ('{"action":"query","id":"a","dataset":"v","filter":[["\\ud800","=",1]]}', "a"),
        ('{"action":"list","\\ud800":1}', None),
    ],
)
def test_lone_surrogates_are_bad_requests_whose_answer_encodes(text: str, rid: str | None) -> None:
    with pytest.raises(bp.RequestError) as err:
        bp.parse_client_message(text)
    assert (err.value.code, err.value.request_id) == ("BAD_REQUEST", rid)
    bp.error_frame(err.value.request_id, err.value.code, err.value.message).encode("utf-8")


def test_surrogate_pairs_are_text() -> None:
    q = bp.parse_client_message('{"action":"query","id":"\\ud83d\\ude00","dataset":"v"}')
    assert isinstance(q, bp.RunQuery) and q.id == "\U0001f600"


def _strings(action: bp.ClientAction) -> list[str]:
    values = [getattr(action, f.name) for f in dataclasses.fields(action)]
    return [str(v) for value in values for v in (value if isinstance(value, tuple) else (value,))]


def _agrees(action: bp.ClientAction, obj: dict[str, object]) -> None:
    """An accepted message means what it says: its action, and its fields as sent."""
    kinds = {
        "list": bp.ListDatasets,
        "query": bp.RunQuery,
        "subscribe": bp.Subscribe,
        "cancel": bp.CancelQuery,
        "unsubscribe": bp.Unsubscribe,
    }
    assert isinstance(action, kinds[str(obj["action"])])
    if isinstance(action, bp.ListDatasets):
        return
    assert action.id == obj["id"]
    if isinstance(action, bp.RunQuery | bp.Subscribe):
        assert action.dataset == obj["dataset"]
        columns = obj.get("columns")
        assert action.columns == (None if columns is None else tuple(columns))  # type: ignore[arg-type]
        assert len(action.filter) == len(obj.get("filter") or [])  # type: ignore[arg-type]
    if isinstance(action, bp.RunQuery):
        assert action.limit == obj.get("limit")


def _check(text: str | bytes) -> None:
    """Every input is an action or a BAD_REQUEST; whichever it is, what the gateway
    would write back (the action's strings echoed in frames and logs, or the error frame)
    encodes as UTF-8, and an error names the request only by an id the message really had."""
    try:
        action = bp.parse_client_message(text)
    except bp.RequestError as exc:
        err = exc
    else:
        for s in _strings(action):
            s.encode("utf-8")
        _agrees(action, json.loads(text))
        return
    assert err.code == "BAD_REQUEST"
    bp.error_frame(err.request_id, err.code, err.message).encode("utf-8")
    if err.request_id is not None:
        assert isinstance(text, str) and json.loads(text)["id"] == err.request_id


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_input_is_an_action_or_bad_request(text: str | bytes) -> None:
    _check(text)


# Any text, lone surrogates included (st.text leaves them out): JSON carries them as
# \\uXXXX escapes, and a client may send those.
_any_text = st.lists(st.characters(codec=None) | st.characters(categories=["Cs"]), max_size=8).map("".join)
_value = st.recursive(
    st.none() | st.booleans() | st.integers() | _any_text, lambda c: st.lists(c, max_size=3), max_leaves=6
)


_fields = st.fixed_dictionaries(
    {"action": st.sampled_from(["list", "query", "subscribe", "cancel", "unsubscribe", "nope"])},
    optional={
        "id": _any_text,
        "dataset": _any_text,
        "columns": st.lists(_any_text, max_size=3),
        "filter": st.lists(st.tuples(_any_text, st.sampled_from(["=", "in", ">"]), _value), max_size=2),
        "limit": st.integers(-2, 5),
    },
)


@given(st.tuples(_fields, st.dictionaries(_any_text, _value, max_size=2)).map(lambda t: {**t[1], **t[0]}))
def test_any_message_shaped_like_a_request_is_an_action_or_bad_request(message: dict[str, object]) -> None:
    _check(json.dumps(message))  # ensure_ascii: lone surrogates travel as \\uXXXX escapes


def test_frames_are_json_of_the_protocol() -> None:
    assert json.loads(bp.end_frame("a", 3, 10)) == {"type": "end", "id": "a", "rows": 3, "bytes": 10}
    assert json.loads(bp.error_frame(None, "X", "m")) == {"type": "error", "id": None, "code": "X", "message": "m"}


def test_resume_is_parsed_and_needs_resumable() -> None:
    base = {"action": "query", "id": "q1", "dataset": "ventas"}
    plain = bp.parse_client_message(json.dumps(base))
    assert isinstance(plain, bp.RunQuery) and not plain.resumable and plain.resume is None
    asked = bp.parse_client_message(json.dumps({**base, "resumable": True, "resume": {"token": "t.m", "rows": 5}}))
    assert isinstance(asked, bp.RunQuery) and asked.resumable and asked.resume == bp.Resume("t.m", 5)
    for bad in (
        {**base, "resume": {"token": "t.m", "rows": 5}},
        {**base, "resumable": 1},
        {**base, "resumable": True, "resume": {"token": "t.m"}},
        {**base, "resumable": True, "resume": {"token": "", "rows": 5}},
        {**base, "resumable": True, "resume": {"token": "x" * 5000, "rows": 5}},
        {**base, "resumable": True, "resume": {"token": "t.m", "rows": -1}},
        {**base, "resumable": True, "resume": {"token": "t.m", "rows": True}},
        {**base, "resumable": True, "resume": {"token": "t.m", "rows": 1, "more": 1}},
    ):
        with pytest.raises(bp.RequestError) as refused:
            bp.parse_client_message(json.dumps(bad))
        assert refused.value.request_id == "q1"


def test_a_subscription_may_be_resumable_too() -> None:
    base = {"action": "subscribe", "id": "s1", "dataset": "log"}
    asked = bp.parse_client_message(json.dumps({**base, "resumable": True, "resume": {"token": "t.m", "rows": 5}}))
    assert isinstance(asked, bp.Subscribe) and asked.resumable and asked.resume == bp.Resume("t.m", 5)
    plain = bp.parse_client_message(json.dumps(base))
    assert isinstance(plain, bp.Subscribe) and not plain.resumable
    with pytest.raises(bp.RequestError, match="needs 'resumable'"):
        bp.parse_client_message(json.dumps({**base, "resume": {"token": "t.m", "rows": 5}}))
    assert json.loads(bp.checkpoint_frame("s1", 3, 1, None))["token"] is None


def test_checkpoint_and_resumable_info_frames() -> None:
    assert json.loads(bp.checkpoint_frame("q1", 10, 2, "t.m")) == {
        "type": "checkpoint",
        "id": "q1",
        "rows": 10,
        "frames": 2,
        "token": "t.m",
    }
    plain = json.loads(bp.info_frame("q1", 1, [], 2, None))
    assert "resumable" not in plain and "resumed_rows" not in plain
    resumed = json.loads(bp.info_frame("q1", 1, [], 2, None, True, 40))
    assert resumed["resumable"] is True and resumed["resumed_rows"] == 40


def test_a_query_names_the_codecs_its_client_decodes() -> None:
    q = bp.parse_client_message('{"action":"query","id":"a","dataset":"v","compression":["zstd","brotli-9"]}')
    assert isinstance(q, bp.RunQuery) and q.compression == ("zstd", "brotli-9")  # unknown names kept, never match
    s = bp.parse_client_message('{"action":"subscribe","id":"a","dataset":"v","compression":["lz4"]}')
    assert isinstance(s, bp.Subscribe) and s.compression == ("lz4",)
    plain = bp.parse_client_message('{"action":"query","id":"a","dataset":"v"}')
    assert isinstance(plain, bp.RunQuery) and plain.compression == ()
