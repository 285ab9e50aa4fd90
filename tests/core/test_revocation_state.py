from hypothesis import given
from hypothesis import strategies as st
from saeta.core import revocation_state as rs


def test_messages_round_trip() -> None:
    for msg in (rs.SessionRevokedMessage("abc", 1_900_000_000), rs.CrlChangedMessage()):
        assert rs.decode(rs.encode(msg)) == msg


@given(
    st.binary(max_size=300)
    | st.text(max_size=300)
    | st.builds(
        lambda sid, exp: f'{{"kind":"session","sid":{sid},"expires_at":{exp}}}',
        st.sampled_from(['""', '"a"', '"\\n"', "1", "null", '"' + "x" * 200 + '"']),
        st.sampled_from(["0", "-5", "1.5", "true", '"9"', "4102444800", str(2**50)]),
    )
)
def test_any_input_is_refused_or_decodes_to_valid_fields(data: bytes | str) -> None:
    msg = rs.decode(data)  # never raises, whatever arrives on the channel
    if isinstance(msg, rs.SessionRevokedMessage):
        assert 0 < len(msg.sid) <= rs.MAX_SID_CHARS and msg.sid.isprintable()
        assert isinstance(msg.expires_at, int) and not isinstance(msg.expires_at, bool)
        assert 0 < msg.expires_at < 2**42


def test_the_revocation_time_is_optional_and_checked() -> None:
    timed = rs.SessionRevokedMessage("abc", 1_900_000_000, 1_800_000_000.25)
    assert rs.decode(rs.encode(timed)) == timed
    old = '{"kind":"session","sid":"a","expires_at":5}'  # a control plane from before the field
    assert rs.decode(old) == rs.SessionRevokedMessage("a", 5)
    for at in ("true", '"1"', "-1", "1e300", "null"):
        message = rs.decode(f'{{"kind":"session","sid":"a","expires_at":5,"revoked_at":{at}}}')
        assert message == rs.SessionRevokedMessage("a", 5, None), at  # ignored, the revocation kept


def test_invalid_fields_are_refused() -> None:
    for bad in (
        '{"kind":"session","sid":"","expires_at":1}',
        '{"kind":"session","sid":"a","expires_at":true}',
        '{"kind":"session","sid":"a\\n","expires_at":5}',
        '{"kind":"other"}',
        "[]",
        "x" * 70000,
    ):
        assert rs.decode(bad) is None


def test_key_entries() -> None:
    assert rs.decode_key_entry(b"saeta:revoked:abc", b"1900000000") == rs.SessionRevokedMessage("abc", 1_900_000_000)
    assert rs.decode_key_entry(b"saeta:other:abc", b"1") is None
    assert rs.decode_key_entry(b"saeta:revoked:abc", b"soon") is None
    assert rs.decode_key_entry(b"saeta:revoked:abc", None) is None


def test_revoke_is_news_once_and_expires() -> None:
    state = rs.RevocationState(stale_seconds=None)
    assert state.revoke("a", 100, now=50)
    assert not state.revoke("a", 100, now=50)
    assert state.is_revoked("a", now=99)
    assert not state.is_revoked("a", now=101)
    assert not state.is_revoked("b", now=0)


def test_resync_reports_only_news_and_never_unrevokes() -> None:
    state = rs.RevocationState(stale_seconds=None)
    state.revoke("pushed", 200, now=0)
    news = state.replace([rs.SessionRevokedMessage("missed", 300), rs.SessionRevokedMessage("old", 5)], now=10)
    assert news == ["missed"]
    assert state.is_revoked("pushed", now=10)  # learnt by message, not yet in the snapshot
    assert state.is_revoked("missed", now=10)
    assert not state.is_revoked("old", now=10)


def test_staleness_fails_closed() -> None:
    state = rs.RevocationState(stale_seconds=5)
    assert state.is_stale(100.0)  # never synced
    state.mark_fresh(100.0)
    assert not state.is_stale(104.0)
    assert state.is_stale(105.5)
    assert not rs.RevocationState(stale_seconds=None).is_stale(1e9)
