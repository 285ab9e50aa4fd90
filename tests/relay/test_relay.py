"""One suite, two implementations: written against the pure-Python twin, then run again
against the Rust extension by subclassing; hypothesis checks both agree on any input."""

from __future__ import annotations

import struct
import uuid
from types import ModuleType

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from saeta import _relay_py, relay
from saeta.core.tunnel_codec import encode_arrow_chunk
from saeta.errors import RelayError
from saeta.v1 import tunnel_pb2

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("x", pa.float64())])


def batch(n: int, start: int = 0) -> pa.RecordBatch:
    return pa.record_batch(
        [
            pa.array(range(start, start + n), pa.int64()),
            pa.array([f"n{i}" if i % 3 else None for i in range(n)]),
            pa.array([i / 2 for i in range(n)]),
        ],
        schema=SCHEMA,
    )


def ipc(*parts: pa.RecordBatch | pa.Schema) -> bytes:
    return b"".join(p.serialize().to_pybytes() for p in parts)


class RelaySuite:
    impl: ModuleType = _relay_py

    def code_of(self, fn, *args) -> str | None:  # type: ignore[no-untyped-def]
        try:
            fn(*args)
        except RelayError as exc:
            return exc.code
        return None

    # --- locate_payload

    def test_locates_payload_of_generated_message(self) -> None:
        data = ipc(batch(5))
        raw = tunnel_pb2.ArrowChunk(data=data).SerializeToString()
        off, length = self.impl.locate_payload(raw)
        assert raw[off : off + length] == data

    def test_hand_encoding_matches_protobuf(self) -> None:
        parts = [ipc(batch(3)), ipc(batch(200, 3))]
        assert encode_arrow_chunk(parts) == tunnel_pb2.ArrowChunk(data=b"".join(parts)).SerializeToString()

    @given(st.binary(max_size=300), st.lists(st.tuples(st.integers(4, 15), st.binary(max_size=20)), max_size=4))
    def test_locate_with_unknown_fields(self, data: bytes, extra: list[tuple[int, bytes]]) -> None:
        raw = tunnel_pb2.ArrowChunk(data=data).SerializeToString()
        for field, value in extra:
            raw += bytes([(field << 3) | 2, len(value)]) + value
        off, length = self.impl.locate_payload(raw)
        assert raw[off : off + length] == data

    @given(st.binary(max_size=64))
    def test_locate_agrees_with_twin_on_garbage(self, raw: bytes) -> None:
        assert self._outcome(self.impl.locate_payload, raw) == self._outcome(_relay_py.locate_payload, raw)

    def test_locate_rejects_truncated(self) -> None:
        raw = tunnel_pb2.ArrowChunk(data=b"x" * 300).SerializeToString()
        assert self.code_of(self.impl.locate_payload, raw[:-1]) == "TUNNEL_MESSAGE_INVALID"

    # --- scan_ipc

    def test_scan_counts_messages_and_rows(self) -> None:
        data = ipc(SCHEMA, batch(10), batch(7)) + relay.EOS
        assert relay.IpcScan(*self.impl.scan_ipc(data)) == relay.IpcScan(
            messages=3,
            schemas=1,
            dictionary_batches=0,
            record_batches=2,
            rows=17,
            body_bytes=relay.scan(ipc(batch(10), batch(7))).body_bytes,
            eos=True,
        )

    def test_scan_dictionary_stream(self) -> None:
        table = pa.table({"d": pa.array(["a", "b", "a"]).dictionary_encode()})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        s = relay.IpcScan(*self.impl.scan_ipc(sink.getvalue().to_pybytes()))
        assert (s.schemas, s.dictionary_batches, s.record_batches, s.rows, s.eos) == (1, 1, 1, 3, True)

    def test_scan_accepts_empty(self) -> None:
        assert self.impl.scan_ipc(b"") == (0, 0, 0, 0, 0, 0, False)

    @pytest.mark.parametrize(
        ("mutate", "code"),
        [
            (lambda b: b[:-1], "IPC_FRAMING_INVALID"),
            (lambda b: b[:5], "IPC_FRAMING_INVALID"),
            (lambda b: b"\x00\x00\x00\x00" + b[4:], "IPC_FRAMING_INVALID"),
            (lambda b: b[:4] + struct.pack("<i", 2**31 - 8) + b[8:], "IPC_FRAMING_INVALID"),
            (lambda b: b[:4] + struct.pack("<i", -8) + b[8:], "IPC_FRAMING_INVALID"),
            (lambda b: b[:4] + struct.pack("<i", 12) + b[8:], "IPC_FRAMING_INVALID"),
            (lambda b: b + relay.EOS + b"\xff", "IPC_FRAMING_INVALID"),
            (lambda b: b[:8] + b"\xff" * (len(b) - 8), "IPC_FRAMING_INVALID"),
        ],
    )
    def test_scan_rejects(self, mutate, code: str) -> None:  # type: ignore[no-untyped-def]
        assert self.code_of(self.impl.scan_ipc, mutate(ipc(batch(4)))) == code

    def test_huge_body_length_refused_without_allocation(self) -> None:
        data = bytearray(ipc(batch(2)))
        # bodyLength is the only i64 of the Message table; find it by its known value.
        body = relay.scan(bytes(data)).body_bytes
        pos = bytes(data).find(struct.pack("<q", body))
        data[pos : pos + 8] = struct.pack("<q", 2**62)
        assert self.code_of(self.impl.scan_ipc, bytes(data)) == "IPC_FRAMING_INVALID"

    @given(st.binary(max_size=512))
    def test_scan_agrees_with_twin_on_garbage(self, data: bytes) -> None:
        assert self._outcome(self.impl.scan_ipc, data) == self._outcome(_relay_py.scan_ipc, data)

    @given(st.data())
    def test_scan_agrees_on_corrupted_real_messages(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(0, 50))
        raw = bytearray(ipc(SCHEMA, batch(n)))
        for _ in range(data.draw(st.integers(1, 4))):
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(raw)))
        sample = bytes(raw[:cut])
        assert self._outcome(self.impl.scan_ipc, sample) == self._outcome(_relay_py.scan_ipc, sample)

    @given(st.data())
    def test_body_compression_agrees_on_corrupted_compressed_messages(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(1, 50))
        codec = data.draw(st.sampled_from(["lz4", "zstd"]))
        raw = bytearray(compressed(batch(n), codec))
        for _ in range(data.draw(st.integers(1, 4))):
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] = data.draw(st.integers(0, 255))
        sample = bytes(raw[: data.draw(st.integers(0, len(raw)))])
        assert self._outcome(lambda p: body_compression(self.impl, p), sample) == self._outcome(
            py_body_compression, sample
        )

    def _outcome(self, fn, arg):  # type: ignore[no-untyped-def]
        try:
            return ("ok", fn(arg))
        except RelayError as exc:
            return ("error", exc.code)

    # --- check_schema_message; where classify_chunk finds the payload

    def test_schema_message_checks(self) -> None:
        self.impl.check_schema_message(SCHEMA.serialize().to_pybytes())
        for bad in (ipc(batch(1)), ipc(SCHEMA, SCHEMA), ipc(SCHEMA) + relay.EOS, b""):
            assert self.code_of(self.impl.check_schema_message, bad) == "IPC_SEQUENCE_INVALID"

    def test_classify_chunk_locates_payload(self) -> None:
        data = ipc(batch(10), batch(5, 10))
        message = encode_arrow_chunk([data])
        is_end, offset, length, rows, _, _ = self.impl.classify_chunk(message)
        assert not is_end
        assert message[offset : offset + length] == data
        assert (rows, length) == (15, len(data))

    def test_relayed_frames_concatenate_to_valid_stream(self) -> None:
        batches = [batch(i * 3 + 1, i * 100) for i in range(4)]
        stream = bytearray(SCHEMA.serialize().to_pybytes())
        for b in batches:
            message = encode_arrow_chunk([ipc(b)])
            _, offset, length, _, _, _ = self.impl.classify_chunk(message)
            stream += message[offset : offset + length]
        stream += relay.EOS
        table = pa.ipc.open_stream(bytes(stream)).read_all()
        assert table.equals(pa.Table.from_batches(batches))

    # --- classify_chunk: the one classification of both DoGet servers

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (bytes.fromhex("0a0010011805"), (True, 0, 0, 5, 0, 0)),  # an empty data field + end: the end marker
            (bytes.fromhex("10011805"), (True, 0, 0, 5, 0, 0)),
            (tunnel_pb2.ArrowChunk(end=True, end_records=-1).SerializeToString(), (True, 0, 0, -1, 0, 0)),
            (tunnel_pb2.ArrowChunk(end=True).SerializeToString(), (True, 0, 0, 0, 0, 0)),
        ],
    )
    def test_end_markers(self, raw: bytes, expected: tuple[bool, int, int, int, int, int]) -> None:
        assert self.impl.classify_chunk(raw) == expected

    def test_data_with_end_set_is_data(self) -> None:
        data = ipc(batch(4))
        raw = tunnel_pb2.ArrowChunk(data=data, end=True, end_records=4).SerializeToString()
        is_end, offset, length, rows, _, _ = self.impl.classify_chunk(raw)
        assert (is_end, raw[offset : offset + length], rows) == (False, data, 4)

    def test_neither_data_nor_end_is_refused(self) -> None:
        assert self.code_of(self.impl.classify_chunk, bytes.fromhex("0a00")) == "IPC_SEQUENCE_INVALID"

    @given(st.data())
    def test_classify_agrees_with_twin_on_random_and_corrupted_messages(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(0, 20))
        raw = bytearray(
            tunnel_pb2.ArrowChunk(
                data=ipc(batch(n)) if n else b"",
                end=data.draw(st.booleans()),
                end_records=data.draw(st.integers(-(2**63), 2**63 - 1)),
            ).SerializeToString()
        )
        for _ in range(data.draw(st.integers(0, 3))):
            if raw:
                raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        sample = bytes(raw[: data.draw(st.integers(0, len(raw)))])
        assert self._outcome(self.impl.classify_chunk, sample) == self._outcome(_relay_py.classify_chunk, sample)

    @pytest.mark.parametrize("payload", [ipc(SCHEMA, batch(1)), ipc(batch(1)) + relay.EOS, b"", b"\x01\x02"])
    def test_classify_chunk_refuses_out_of_place_messages(self, payload: bytes) -> None:
        code = self.code_of(self.impl.classify_chunk, encode_arrow_chunk([payload]))
        assert code in ("IPC_SEQUENCE_INVALID", "IPC_FRAMING_INVALID")


class TestPythonRelay(RelaySuite):
    impl = _relay_py


@pytest.mark.skipif("rust" not in relay.available(), reason="the Rust extension is not built")
class TestRustRelay(RelaySuite):
    impl = relay.load("rust")


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_frame_header(stream: int, flags: int) -> None:
    assert relay.frame_header(stream, flags) == struct.pack("<II", stream, flags)


def test_rust_extension_is_built_here() -> None:
    # setup.sh always builds it; a silent fallback to the twin would hide a broken build.
    assert relay.IMPLEMENTATION == "rust"


class JsonArraySuite:
    impl: ModuleType = _relay_py

    @given(
        st.lists(
            st.dictionaries(
                st.text(max_size=5),
                st.recursive(
                    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=6,
                ),
                max_size=4,
            ),
            max_size=6,
        ),
        st.sampled_from([None, 2]),
    )
    def test_round_trip(self, rows: list[dict[str, object]], indent: int | None) -> None:
        import json

        text = json.dumps(rows, indent=indent).encode()
        lines = self.impl.json_array_to_lines(text, 64)
        assert [json.loads(line) for line in lines.splitlines()] == rows

    @given(st.binary(max_size=200))
    def test_agrees_with_twin(self, data: bytes) -> None:
        def outcome(fn):  # type: ignore[no-untyped-def]
            try:
                return fn(data, 8)
            except RelayError as exc:
                return exc.code

        assert outcome(self.impl.json_array_to_lines) == outcome(_relay_py.json_array_to_lines)

    def test_depth_limit(self) -> None:
        with pytest.raises(RelayError) as err:
            self.impl.json_array_to_lines(b'[{"a":' + b"[" * 100 + b"]" * 100 + b"}]", 64)
        assert err.value.code == "JSON_INVALID"


class TestPythonJsonArray(JsonArraySuite):
    impl = _relay_py


@pytest.mark.skipif("rust" not in relay.available(), reason="the Rust extension is not built")
class TestRustJsonArray(JsonArraySuite):
    impl = relay.load("rust")


class TextColumnSuite:
    impl: ModuleType = _relay_py

    @given(st.lists(st.uuids(), max_size=40))
    def test_canonical_uuid_text(self, uuids: list[uuid.UUID]) -> None:
        text, offsets = self.impl.uuid_text(b"".join(u.bytes for u in uuids))
        got = pa.StringArray.from_buffers(len(uuids), pa.py_buffer(offsets), pa.py_buffer(text))
        assert got.to_pylist() == [str(u) for u in uuids]

    @pytest.mark.parametrize("fn", ["uuid_text", "interval_text"])
    def test_refuses_partial_values(self, fn: str) -> None:
        with pytest.raises(RelayError, match="16-byte") as err:
            getattr(self.impl, fn)(b"\0" * 17)
        assert err.value.code == "COLUMN_INVALID"

    @given(st.lists(st.tuples(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1),
                              st.integers(-(2**63), 2**63 - 1)), max_size=30))  # fmt: skip
    def test_intervals_agree_with_twin_and_read_back(self, values: list[tuple[int, int, int]]) -> None:
        data = b"".join(struct.pack("<iiq", *v) for v in values)
        text, offsets = self.impl.interval_text(data)
        assert (text, offsets) == _relay_py.interval_text(data)
        got = pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(text)).to_pylist()
        for (months, days, nanos), iso in zip(values, got, strict=True):
            m, rest = iso.removeprefix("P").split("M", 1)
            d, secs = rest.split("DT", 1)
            assert (int(m), int(d)) == (months, days)
            whole, _, frac = secs.removesuffix("S").lstrip("-").partition(".")
            assert (int(whole) * 10**9 + int(frac.ljust(9, "0") or 0)) * (-1 if nanos < 0 else 1) == nanos

    def test_interval_examples(self) -> None:
        data = struct.pack("<iiq", 0, 1, 7_200 * 10**9) + struct.pack("<iiq", 14, -3, -1_500_000_000)
        text, _ = self.impl.interval_text(data)
        assert text == b"P0M1DT7200SP14M-3DT-1.5S"


class TestPythonTextColumn(TextColumnSuite):
    impl = _relay_py


@pytest.mark.skipif("rust" not in relay.available(), reason="the Rust extension is not built")
class TestRustTextColumn(TextColumnSuite):
    impl = relay.load("rust")


def compressed(batch: pa.RecordBatch, codec: str) -> bytes:
    """``batch`` as one encapsulated IPC message with its body compressed by ``codec``."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=pa.ipc.IpcWriteOptions(compression=codec)) as writer:
        writer.write_batch(batch)
    return bytes(list(pa.ipc.MessageReader.open_stream(sink.getvalue()))[1].serialize().to_pybytes())


def body_start(message: bytes) -> int:
    """Where the body of one encapsulated IPC message starts: for one int64 column without
    nulls (an empty validity buffer), its data buffer's i64 length prefix is there."""
    return len(message) - pa.ipc.read_message(pa.py_buffer(message)).body.size


CODES = {"lz4": 1, "zstd": 2}


def body_compression(impl: ModuleType, payload: bytes) -> tuple[int, int]:
    """(codec, declared) of ``payload`` (whole record batch messages) as classify_chunk
    reports them."""
    _, _, _, _, codec, declared = impl.classify_chunk(encode_arrow_chunk([payload]))
    return codec, declared


def py_body_compression(payload: bytes) -> tuple[int, int]:
    return body_compression(_relay_py, payload)


@pytest.mark.parametrize("impl", [_relay_py, relay.load()], ids=["python", "loaded"])
@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_a_compressed_payload_declares_its_codec_and_size_before_anything_decompresses(
    impl: ModuleType, codec: str
) -> None:
    batch = pa.record_batch([pa.array(range(100_000), pa.int64())], names=["x"])
    message = compressed(batch, codec)
    assert len(message) < 800_000 * 0.6  # compressed indeed
    is_end, _, _, rows, codec_code, declared = impl.classify_chunk(encode_arrow_chunk([message]))
    assert (is_end, rows, codec_code, declared) == (False, 100_000, CODES[codec], 800_000)
    # Uncompressed batches may go beside compressed ones; two codecs may not.
    plain = batch.serialize().to_pybytes()
    assert body_compression(impl, plain + message) == (CODES[codec], 1_600_000)
    assert body_compression(impl, plain) == (0, len(plain) - body_start(plain))
    other = compressed(batch, "zstd" if codec == "lz4" else "lz4")
    with pytest.raises(RelayError):
        body_compression(impl, message + other)


@pytest.mark.parametrize("impl", [_relay_py, relay.load()], ids=["python", "loaded"])
def test_a_bomb_declares_its_size_and_a_negative_length_is_refused(impl: ModuleType) -> None:
    batch = pa.record_batch([pa.array(range(1000), pa.int64())], names=["x"])
    message = bytearray(compressed(batch, "lz4"))
    at = body_start(bytes(message))
    assert struct.unpack_from("<q", message, at)[0] == 8000
    struct.pack_into("<q", message, at, 2**62)  # a few bytes asking for 4 EiB
    assert body_compression(impl, bytes(message)) == (1, 2**62)
    struct.pack_into("<q", message, at, -7)
    with pytest.raises(RelayError) as info:
        body_compression(impl, bytes(message))
    assert info.value.code == "IPC_FRAMING_INVALID"
