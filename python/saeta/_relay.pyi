# The Rust extension's interface (relay_ext/src/lib.rs, data_py.rs), checked against the
# built module by mypy's stubtest in `make test` (scripts/test.sh). The per-byte functions
# mirror saeta._relay_py (the Relay protocol in saeta.relay); each raises
# saeta.errors.RelayError with a stable code on bad input.

from typing import final

from typing_extensions import Buffer

__all__ = [
    "IMPLEMENTATION",
    "CallEnded",
    "DataCall",
    "DataChunk",
    "DataEnd",
    "DataResume",
    "DataServer",
    "Payload",
    "check_schema_message",
    "classify_chunk",
    "interval_text",
    "json_array_to_lines",
    "locate_payload",
    "scan_ipc",
    "uuid_text",
]

IMPLEMENTATION: str

def locate_payload(message: Buffer) -> tuple[int, int]: ...
def scan_ipc(data: Buffer) -> tuple[int, int, int, int, int, int, bool]: ...
def check_schema_message(data: Buffer) -> None: ...
def classify_chunk(message: Buffer) -> tuple[bool, int, int, int, int, int]: ...
def json_array_to_lines(data: Buffer, max_depth: int) -> bytes: ...
def uuid_text(data: Buffer) -> tuple[bytes, bytes]: ...
def interval_text(data: Buffer) -> tuple[bytes, bytes]: ...

@final
class Payload:
    """A relayed chunk's Arrow bytes: a view into the tunnel message, no copy."""

    def __len__(self) -> int: ...
    # The buffer protocol (bf_getbuffer), which stubtest cannot see at run time on 3.11:
    # scripts/relay-stubtest-allowlist.txt.
    def __buffer__(self, flags: int, /) -> memoryview: ...

@final
class DataChunk:
    """Whole record batches of a data call."""

    @property
    def payload(self) -> Payload: ...
    @property
    def rows(self) -> int: ...
    @property
    def codec(self) -> int: ...
    @property
    def declared(self) -> int: ...

@final
class DataEnd:
    """The connector's end marker."""

    @property
    def records(self) -> int: ...

@final
class DataResume:
    """A subscription's resume point: the whole ArrowChunk message (at most 2,048 bytes)."""

    @property
    def message(self) -> bytes: ...

@final
class CallEnded:
    """The call ended before its end marker (no reason: closed cleanly by the connector)."""

    @property
    def reason(self) -> str | None: ...
    @property
    def too_large(self) -> bool: ...

@final
class DataCall:
    """One DoGet call that reached the data plane, handed to Python to accept or reject."""

    @property
    def key(self) -> int: ...
    @property
    def call_id(self) -> str: ...
    @property
    def peer(self) -> str: ...
    @property
    def peer_cert(self) -> bytes: ...
    def accept(self) -> None: ...
    def reject(self, code: str, message: str) -> None: ...
    def finish(self, abort_reason: str | None = None, invalid_data: bool = False) -> None: ...
    def take(self) -> DataChunk | DataResume | DataEnd | CallEnded | None: ...

@final
class DataServer:
    """The data plane: DoGet served by tonic on its own port and threads."""

    def __new__(
        cls,
        host: str,
        port: int,
        cert_pem: bytes,
        key_pem: bytes,
        ca_pem: bytes,
        *,
        max_message_bytes: int,
        queue_depth: int = 4,
        keepalive_seconds: float = 20.0,
        keepalive_timeout_seconds: float = 10.0,
        handshake_seconds: float = 10.0,
        max_streams_per_connection: int = 256,
        threads: int = 2,
    ) -> DataServer: ...
    @property
    def port(self) -> int: ...
    def wake_fd(self) -> int: ...
    def poll(self) -> tuple[list[DataCall], list[int]]: ...
    def close(self, grace_seconds: float = 1.0) -> None: ...
