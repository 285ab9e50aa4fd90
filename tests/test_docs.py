"""The docs stay true to the code: every config key a loader reads is documented in
docs/configuration.md, and every error code the gateway can send is in docs/protocol.md
and known to the JS client."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from saeta import certs, errors
from saeta.config import _base as config
from saeta.config import load_connector_config, load_control_plane_config, load_gateway_config

ROOT = Path(__file__).resolve().parents[1]


def documented_keys(section_title: str) -> set[str]:
    """Keys in the first column of the table under ``## {section_title}``: "a.b / c" means
    a.b and a.c; "x, y" likewise."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    body = text.split(f"## {section_title}", 1)[1].split("\n## ", 1)[0]
    keys: set[str] = set()
    for line in body.splitlines():
        if not line.startswith("| ") or line.startswith(("| key", "| ---")):
            continue
        cell = line.split("|")[1].strip()
        parts = [p.strip() for p in re.split(r" / |, ", cell)]
        prefix = parts[0].rsplit(".", 1)[0] + "." if "." in parts[0] else ""
        keys.update(p if "." in p or not prefix else prefix + p for p in parts)
    return keys


def read_keys(load: Callable[[Path], Any], path: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    seen: set[str] = set()
    original = config._Section.raw

    def spy(self: config._Section, name: str, default: Any = config._REQUIRED) -> Any:
        if not self.prefix.startswith("datasets.") and not name.startswith("datasets."):
            seen.add(self.key(name))
        return original(self, name, default)

    monkeypatch.setattr(config._Section, "raw", spy)
    load(path)
    return {k for k in seen if not any(other.startswith(k + ".") for other in seen)}  # leaves, not sections


@pytest.mark.parametrize(
    ("title", "loader", "body"),
    [
        ("Gateway", load_gateway_config, {"tableros_secret_key": "s" * 40, "control_plane_url": "http://cp"}),
        ("Control plane", load_control_plane_config, {"tableros_secret_key": "s" * 40}),
        (
            "Connector",
            load_connector_config,
            {
                "gateway": {"grpc_uri": "gw:1"},
                "tenant": {"id": "t1"},
                "mtls": {
                    "ca_cert": "certs/ca.crt",
                    "client_cert": "certs/clients/t1/client.crt",
                    "client_key": "certs/clients/t1/client.key",
                },
            },
        ),
    ],
)
def test_every_config_key_is_documented(
    title: str, loader: Callable[[Path], Any], body: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(body))
    keys = read_keys(loader, path, monkeypatch) - {"datasets", "transport_mode", "gateway.transport_mode"}
    documented = documented_keys(title)
    assert keys - documented == set(), f"undocumented keys in docs/configuration.md ({title})"


def test_error_codes_are_documented_and_known_to_the_js_client() -> None:
    protocol = (ROOT / "docs" / "protocol.md").read_text()
    client = (ROOT / "web" / "src" / "protocol.js").read_text()
    browser_codes = {
        cls.code
        for cls in (
            errors.BadRequest,
            errors.DatasetNotFound,
            errors.ConnectorOffline,
            errors.QueryFailed,
            errors.QueryTimeout,
            errors.QueryCancelled,
            errors.TooManyQueries,
            errors.ResultTooLarge,
        )
    } | {"INTERNAL"}
    for code in browser_codes:
        assert f"| {code} |" in protocol, code
        assert f"  {code}: " in client, code


def test_the_protocols_example_messages_are_what_the_gateway_accepts() -> None:
    """Every ```json block of docs/protocol.md is a client message the gateway parses (its
    shape checks: core/browser_protocol.py, aggregation.py, paging.py)."""
    from saeta.core import browser_protocol as bp

    text = (ROOT / "docs" / "protocol.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 3
    for block in blocks:
        action = bp.parse_client_message(block)
        assert isinstance(action, bp.RunQuery | bp.Subscribe), block
        assert action.aggregate is not None or (isinstance(action, bp.RunQuery) and action.page is not None)


def test_flights_error_table_is_the_status_map() -> None:
    """docs/flight.md's table of statuses lists each code under the status it is sent with."""
    from saeta.core.flight_status import STATUS

    text = (ROOT / "docs" / "flight.md").read_text()
    table = text.split("## Errors", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, str] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 2 and cells[0].isupper():
            for code in re.findall(r"\b[A-Z][A-Z_]+[A-Z]\b", cells[1]):
                documented.setdefault(code, cells[0])
    for code, status in STATUS.items():
        assert documented.get(code) == status, code


def test_flights_examples_are_what_the_endpoint_accepts() -> None:
    """The query JSON and every SQL statement in docs/flight.md parse into a query."""
    from saeta.core.flight_request import json_query
    from saeta.core.flight_sql_parse import parse_sql

    text = (ROOT / "docs" / "flight.md").read_text()
    command = re.search(r"(\{\"dataset\": \"ventas\", \"filter\".*?\}\]\}\})", text, flags=re.S)
    assert command is not None
    assert json_query(command.group(1).encode()).aggregate is not None
    statements = re.findall(r'"(SELECT [^"]+)"', text)
    assert len(statements) >= 2
    for sql in statements:
        assert parse_sql(sql).query.dataset == "ventas", sql
