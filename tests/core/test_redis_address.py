"""core/redis_address.py: plain Redis URLs pass as they are; Sentinel URLs name their
sentinels, master, database and password, and malformed ones say what is wrong."""

from __future__ import annotations

import pytest
from saeta.core.redis_address import SentinelAddress, parse_sentinel_url, url_problem


def test_sentinel_urls() -> None:
    assert parse_sentinel_url("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/saeta") == SentinelAddress(
        (("10.0.0.1", 26379), ("10.0.0.2", 26379)), "saeta", 0, None
    )
    assert parse_sentinel_url("redis+sentinel://:p%40ss@h:1/m/3") == SentinelAddress((("h", 1),), "m", 3, "p@ss")
    assert parse_sentinel_url("redis+sentinel://[::1]:26379/m").sentinels == (("::1", 26379),)


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h/m",
        "redis+sentinel://h:0/m",
        "redis+sentinel://h:1",
        "redis+sentinel://h:1/",
        "redis+sentinel://h:1/m/x",
        "redis+sentinel://h:1/m/1/2",
        "redis+sentinel://" + ",".join(["h:1"] * 17) + "/m",
        "http://h:1",
        "h:6379",
    ],
)
def test_malformed_urls_say_why(url: str) -> None:
    assert url_problem(url)


def test_plain_urls_pass() -> None:
    for url in ("redis://h:6379/0", "rediss://h:6380", "unix:///run/redis.sock", "redis+sentinel://h:1/m"):
        assert url_problem(url) is None
