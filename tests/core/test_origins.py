import pytest
from saeta.core.origins import host_allowed, host_name, is_loopback_peer, origin_allowed, own_origin


def test_no_origin_is_not_a_browser_and_is_allowed() -> None:
    assert origin_allowed(None, (), "gw:8081", False)


def test_default_is_the_gateways_own_origin_only() -> None:
    gw = ("gw",)
    assert origin_allowed("http://gw:8081", (), "gw:8081", False, gw)
    assert origin_allowed("HTTP://GW:8081", (), "gw:8081", False, gw)
    assert not origin_allowed("https://gw:8081", (), "gw:8081", False, gw)
    assert not origin_allowed("http://gw:8082", (), "gw:8081", False, gw)
    assert not origin_allowed("http://evil.example", (), "gw:8081", False, gw)
    assert not origin_allowed("http://gw:8081.evil.example", (), "gw:8081", False, gw)
    assert origin_allowed("https://gw", (), "gw", True, gw)
    assert origin_allowed("http://localhost:8081", (), "localhost:8081", False)


def test_own_origin_needs_a_host_that_names_the_gateway() -> None:
    """A DNS-rebinding page sends an Origin that matches its Host, both under its own name."""
    assert not origin_allowed("http://evil.example:8081", (), "evil.example:8081", False)
    assert not origin_allowed("http://evil.example:8081", (), "evil.example:8081", False, ("gw",))
    assert origin_allowed("http://evil.example:8081", (), "evil.example:8081", False, ("evil.example",))
    assert not origin_allowed("http://gw:8081", (), "gw:8081", False)  # a name not configured


def test_configured_list_is_exact() -> None:
    allowed = ("https://app.example.com",)
    assert origin_allowed("https://app.example.com", allowed, "gw:8081", False)
    assert not origin_allowed("https://app.example.com:443", allowed, "gw:8081", False)
    assert not origin_allowed("https://evil.app.example.com", allowed, "gw:8081", False)
    assert not origin_allowed("http://gw:8081", allowed, "gw:8081", False)  # the list replaces the default


def test_null_and_oversized_origins_are_refused() -> None:
    assert not origin_allowed("null", ("null",), "gw", False)
    assert not origin_allowed("http://" + "a" * 600, (), "a" * 600, False)
    assert own_origin(None, False) is None


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8090", "127.0.0.1"),
        ("LocalHost", "localhost"),
        ("[::1]:8090", "::1"),
        ("[::1]", "::1"),
        ("cp.internal:80", "cp.internal"),
        ("cp.internal:80x", None),
        ("[::1]x", None),
        ("", None),
        (None, None),
        ("h" * 600, None),
    ],
)
def test_host_names(header: str | None, name: str | None) -> None:
    assert host_name(header) == name


def test_only_loopback_names_and_listed_hosts_are_this_service() -> None:
    assert host_allowed("127.0.0.1:8090", ()) and host_allowed("localhost", ()) and host_allowed("[::1]:1", ())
    assert not host_allowed("evil.example:8090", ())  # the DNS-rebinding shape
    assert not host_allowed("127.0.0.1.evil.example", ())
    assert host_allowed("cp.internal:8090", ("cp.internal",))
    assert not host_allowed(None, ("cp.internal",))


def test_loopback_peers() -> None:
    assert is_loopback_peer("127.0.0.1") and is_loopback_peer("127.3.2.1") and is_loopback_peer("::1")
    assert not is_loopback_peer("10.0.0.7") and not is_loopback_peer(None) and not is_loopback_peer("::ffff:10.0.0.7")
