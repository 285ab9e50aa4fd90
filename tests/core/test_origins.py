from saeta.core.origins import origin_allowed, own_origin


def test_no_origin_is_not_a_browser_and_is_allowed() -> None:
    assert origin_allowed(None, (), "gw:8081", False)


def test_default_is_the_gateways_own_origin_only() -> None:
    assert origin_allowed("http://gw:8081", (), "gw:8081", False)
    assert origin_allowed("HTTP://GW:8081", (), "gw:8081", False)
    assert not origin_allowed("https://gw:8081", (), "gw:8081", False)
    assert not origin_allowed("http://gw:8082", (), "gw:8081", False)
    assert not origin_allowed("http://evil.example", (), "gw:8081", False)
    assert not origin_allowed("http://gw:8081.evil.example", (), "gw:8081", False)
    assert origin_allowed("https://gw", (), "gw", True)


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
