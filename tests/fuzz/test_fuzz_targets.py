"""Fuzz targets: every parser that takes bytes or JSON from outside, fed hypothesis's inputs
(300 per target under the ci profile, tests/conftest.py) and then every file of the
regression corpus (tests/fuzz/corpus/). Targets: the gateway's Control parser, the browser
protocol, filters (JSON and their tunnel encoding), DoGet tickets, the relay's chunk check,
session ids, and the three config loaders. Property: never an unhandled exception, always one
of the target's documented outcomes. The relay's framing check (Rust and its twin) and the
browser's JSON are fuzzed in tests/core/ too, against each other."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st
from saeta import _relay_py, relay
from saeta.config import ConfigError, load_connector_config, load_control_plane_config, load_gateway_config
from saeta.core import browser_protocol as bp
from saeta.core import filter_codec
from saeta.core.filters import Condition, Kind, bind, parse_filter
from saeta.core.session_token import verify_session
from saeta.core.ticket import Ticket
from saeta.errors import BadRequest, RelayError, SaetaError
from saeta.gateway.tunnel_server import BadControlMessage, _parsed
from saeta.v1 import tunnel_pb2 as pb

CORPUS = Path(__file__).parent / "corpus"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
KINDS = {"i": Kind.INTEGER, "f": Kind.FLOAT, "d": Kind.DECIMAL, "s": Kind.STRING, "b": Kind.BOOLEAN,
         "day": Kind.DATE, "t": Kind.TIMESTAMP, "tz": Kind.TIMESTAMP_TZ, "u": Kind.UUID, "n": Kind.NONE}  # fmt: skip


def control(data: bytes) -> None:
    """The gateway's Control parser: a ConnectorMessage, or BadControlMessage."""
    import asyncio

    async def one() -> None:
        async def raw() -> Any:
            yield data

        async for msg in _parsed(raw()):
            assert isinstance(msg, pb.ConnectorMessage)

    try:
        asyncio.run(one())
    except BadControlMessage:
        pass


def browser(data: bytes) -> None:
    """The browser's text frames: an action, or RequestError (BAD_REQUEST)."""
    try:
        action: object = bp.parse_client_message(data)
    except bp.RequestError as err:
        action = err.code
    assert action == "BAD_REQUEST" or isinstance(
        action, bp.ListDatasets | bp.RunQuery | bp.Subscribe | bp.CancelQuery | bp.Unsubscribe
    )


def filters(data: bytes) -> None:
    """A filter's JSON: conditions (then bound or refused against every kind), or BAD_REQUEST."""
    try:
        raw = json.loads(data)
        conditions = parse_filter(raw)
    except (ValueError, RecursionError, BadRequest):
        return
    assert all(isinstance(c, Condition) for c in conditions)
    for c in conditions:
        for column in KINDS:
            try:
                bind([Condition(column, c.op, c.values)], KINDS, "d")
            except BadRequest:
                pass
    assert filter_codec.from_proto(filter_codec.to_proto(conditions)) == conditions


def tunnel_filter(data: bytes) -> None:
    """Conditions as they arrive on the tunnel: conditions, DecodeError or BAD_REQUEST."""
    try:
        query = pb.Query.FromString(data)
        filter_codec.from_proto(query.filter)
    except (DecodeError, BadRequest):
        return


def ticket(data: bytes) -> None:
    """A ticket handed back by the gateway: a Ticket, or BAD_REQUEST."""
    try:
        text = data.decode()
        t = Ticket.decode(text)
    except (UnicodeDecodeError, BadRequest):
        return
    assert Ticket.decode(t.encode()) == t


def chunk(data: bytes) -> None:
    """A DoGet message: both relay implementations agree, on the answer or on the code."""
    outcomes = []
    for impl in (_relay_py, relay.load()):
        try:
            outcomes.append(impl.classify_chunk(data))
        except RelayError as err:
            outcomes.append(err.code)
    assert outcomes[0] == outcomes[1]


def config(data: bytes) -> None:
    """A config file of each process: its config, or ConfigError naming the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(data)
        for load in (load_connector_config, load_gateway_config, load_control_plane_config):
            named = True
            try:
                load(path)
            except ConfigError as err:
                named = str(path.resolve()) in str(err) or str(path) in str(err)
            assert named, "a config error that does not name its file"


def session(data: bytes) -> None:
    """A session id from a URL: session info, or a typed refusal."""
    try:
        verify_session("k" * 48, data.decode("utf-8", "replace"), now=1_700_000_000)
    except SaetaError:
        return


TARGETS: dict[str, Callable[[bytes], None]] = {
    "control": control,
    "browser": browser,
    "filter": filters,
    "tunnelfilter": tunnel_filter,
    "ticket": ticket,
    "chunk": chunk,
    "session": session,
    "config": config,
}


@pytest.mark.parametrize("name", sorted(TARGETS))
@given(data=st.binary(max_size=512))
def test_random_bytes(name: str, data: bytes) -> None:
    TARGETS[name](data)


@pytest.mark.parametrize("name", ["browser", "filter"])
@given(value=JSON)
def test_random_json(name: str, value: Any) -> None:
    wrapped = value if name == "filter" else {"action": "query", "id": "q", "dataset": "d", "filter": value}
    TARGETS[name](json.dumps(wrapped).encode())


# Keys each process reads, so that random values land where a loader looks.
CONFIG_KEYS = ["gateway", "mtls", "tenant", "datasets", "performance", "logging", "host", "http_port", "grpc_port",
               "data_port", "timeouts", "tableros_secret_key", "tls", "control_plane_url", "allowed_origins",
               "redis_url", "revocation", "websocket", "limits", "relay", "arrow_validation", "port"]  # fmt: skip


@given(st.dictionaries(st.sampled_from(CONFIG_KEYS), JSON, max_size=8))
def test_random_configs(doc: dict[str, Any]) -> None:
    """Mappings of real keys with values of every JSON type (JSON is YAML)."""
    config(json.dumps(doc).encode())


OPS = ["=", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null", "like"]


@given(st.lists(st.tuples(st.sampled_from(sorted(KINDS)), st.sampled_from(OPS), JSON), max_size=6))
def test_random_conditions(conditions: list[tuple[str, str, Any]]) -> None:
    """Well-shaped conditions with values of every JSON type, bound to every kind."""
    raw = [[c, op, v] if op not in ("is_null", "not_null") else [c, op] for c, op, v in conditions]
    filters(json.dumps(raw).encode())


CORPUS_FILES = sorted(CORPUS.glob("*.bin"))


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_regression_corpus(path: Path) -> None:
    target = path.stem.split("-", 1)[0]
    assert target in TARGETS, f"{path.name}: name it <target>-<what>.bin, target one of {sorted(TARGETS)}"
    TARGETS[target](path.read_bytes())
