"""Pure-Python twin of the Rust module ``saeta._relay``: same functions, same results,
same error codes. It is the test oracle (one suite runs against both) and the fallback
where the extension cannot be built. Keep it line for line with relay_ext/src/.

Why one file: it mirrors the one extension module saeta._relay and satisfies the same
Relay protocol; the shared suite runs against both, so it stays whole as the module is."""

from __future__ import annotations

import struct
from collections.abc import Callable

from saeta.errors import RelayError

IMPLEMENTATION = "python"

Buffer = bytes | bytearray | memoryview

_DATA_FIELD = 1
_END_FIELD, _END_RECORDS_FIELD = 2, 3
_CONTINUATION = 0xFFFFFFFF
_SCHEMA, _DICTIONARY_BATCH, _RECORD_BATCH = 1, 2, 3
_MIN_VERSION, _MAX_VERSION = 3, 4
_u8 = struct.Struct("<B")
_u16 = struct.Struct("<H")
_i16 = struct.Struct("<h")
_u32 = struct.Struct("<I")
_i32 = struct.Struct("<i")
_i64 = struct.Struct("<q")
# Bits of a scan's codecs: Arrow's CompressionType LZ4_FRAME (0) and ZSTD (1).
CODEC_LZ4, CODEC_ZSTD = 1, 2
_METHOD_BUFFER = 0
_BUFFER_STRUCT = 16  # one Buffer struct of a record batch: offset, length (two i64)
U64_MAX = 2**64 - 1


def _tunnel(msg: str) -> RelayError:
    return RelayError("TUNNEL_MESSAGE_INVALID", msg)


def _framing(msg: str) -> RelayError:
    return RelayError("IPC_FRAMING_INVALID", msg)


def _sequence(msg: str) -> RelayError:
    return RelayError("IPC_SEQUENCE_INVALID", msg)


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 64, 7):
        if pos >= len(buf):
            raise _tunnel("truncated varint")
        byte = buf[pos]
        pos += 1
        bits = byte & 0x7F
        if shift == 63 and bits > 1:
            raise _tunnel("varint overflows 64 bits")
        value |= bits << shift
        if not byte & 0x80:
            return value, pos
    raise _tunnel("varint longer than 10 bytes")


def _read_chunk(message: Buffer) -> tuple[tuple[int, int], bool, int]:
    """Walks a whole raw ArrowChunk: ((offset, length) of ``data``, ``end``,
    ``end_records``); varints, the last occurrence wins, as in protobuf."""
    buf = memoryview(message)
    pos, found = 0, None
    end, end_records = False, 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _tunnel("field number 0")
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            if field == _END_FIELD:
                end = value != 0
            elif field == _END_RECORDS_FIELD:
                end_records = value - (1 << 64) if value >= 1 << 63 else value  # int64
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if len(buf) - pos < width:
                raise _tunnel("truncated fixed-width field")
            pos += width
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            if length > len(buf) - pos:
                raise _tunnel("length-delimited field runs past the end")
            if field == _DATA_FIELD:
                if found is not None:
                    raise _tunnel("data field appears twice")
                found = (pos, length)
            pos += length
        else:
            raise _tunnel("unsupported wire type")
        if (field == _DATA_FIELD and wire != 2) or (field in (_END_FIELD, _END_RECORDS_FIELD) and wire != 0):
            raise _tunnel("a known field has the wrong wire type")
    return (found if found is not None else (len(buf), 0)), end, end_records


def locate_payload(message: Buffer) -> tuple[int, int]:
    """(offset, length) of ArrowChunk.data inside a raw tunnel message."""
    return _read_chunk(message)[0]


def _unpack(fmt: struct.Struct, buf: memoryview, pos: int) -> int:
    if pos < 0 or pos + fmt.size > len(buf):
        raise _framing("flatbuffer offset out of bounds")
    value: int = fmt.unpack_from(buf, pos)[0]
    return value


class _Table:
    __slots__ = ("buf", "pos", "table_len", "vtable", "vtable_len")

    def __init__(self, buf: memoryview, pos: int) -> None:
        vtable = pos - _unpack(_i32, buf, pos)
        if vtable < 0 or vtable > len(buf):
            raise _framing("flatbuffer vtable out of bounds")
        vtable_len = _unpack(_u16, buf, vtable)
        table_len = _unpack(_u16, buf, vtable + 2)
        if vtable_len < 4 or vtable_len % 2 or vtable + vtable_len > len(buf):
            raise _framing("flatbuffer vtable malformed")
        if table_len < 4 or pos + table_len > len(buf):
            raise _framing("flatbuffer table out of bounds")
        self.buf, self.pos, self.vtable = buf, pos, vtable
        self.vtable_len, self.table_len = vtable_len, table_len

    def field(self, index: int, width: int) -> int | None:
        slot = 4 + 2 * index
        if slot + 2 > self.vtable_len:
            return None
        off = _unpack(_u16, self.buf, self.vtable + slot)
        if off == 0:
            return None
        if off + width > self.table_len:
            raise _framing("flatbuffer field out of its table")
        return self.pos + off

    def scalar(self, index: int, fmt: struct.Struct) -> int:
        p = self.field(index, fmt.size)
        return 0 if p is None else _unpack(fmt, self.buf, p)

    def table(self, index: int) -> _Table | None:
        p = self.field(index, 4)
        if p is None:
            return None
        target = p + _unpack(_u32, self.buf, p)
        if target >= len(self.buf):
            raise _framing("flatbuffer offset out of bounds")
        return _Table(self.buf, target)


def _buffers_vector(batch: _Table) -> tuple[int, int]:
    """(first element, count) of a record batch's ``buffers`` vector, bounded."""
    p = batch.field(2, 4)
    if p is None:
        return 0, 0
    start = p + _unpack(_u32, batch.buf, p)
    if start + 4 > len(batch.buf):
        raise _framing("flatbuffer offset out of bounds")
    count = _unpack(_u32, batch.buf, start)
    if start + 4 + count * _BUFFER_STRUCT > len(batch.buf):
        raise _framing("record batch buffers run past the metadata")
    return start + 4, count


def _declared_raw_bytes(meta: memoryview, elements: int, count: int, body: memoryview) -> int:
    """What a compressed body declares it decompresses to (each buffer's i64 prefix; -1:
    stored as is); every buffer must lie in the body."""
    total = 0
    for i in range(count):
        at = elements + i * _BUFFER_STRUCT
        offset, length = _unpack(_i64, meta, at), _unpack(_i64, meta, at + 8)
        if offset < 0 or length < 0 or offset + length > len(body):
            raise _framing("a compressed buffer lies outside its body")
        if length == 0:
            continue
        if length < 8:
            raise _framing("a compressed buffer shorter than its length prefix")
        declared = _unpack(_i64, body, offset)
        if declared < -1:
            raise _framing("a compressed buffer declares a negative length")
        total += length - 8 if declared == -1 else declared
    return min(total, U64_MAX)


def _parse_metadata(meta: memoryview) -> tuple[int, int, int, tuple[int, int, int] | None]:
    message = _Table(meta, _unpack(_u32, meta, 0))
    version = message.scalar(0, _i16)
    if not _MIN_VERSION <= version <= _MAX_VERSION:
        raise _framing("unsupported Arrow metadata version")
    header_type = message.scalar(1, _u8)
    body_len = message.scalar(3, _i64)
    if body_len < 0 or body_len % 8:
        raise _framing("body length negative or not a multiple of 8")
    header = message.table(2)
    rows = 0
    compressed = None
    if header_type in (_SCHEMA, _DICTIONARY_BATCH):
        if header is None:
            raise _framing("message without header")
    elif header_type == _RECORD_BATCH:
        if header is None:
            raise _framing("message without header")
        rows = header.scalar(0, _i64)
        if rows < 0:
            raise _framing("negative record batch length")
        compression = header.table(3)
        if compression is not None:
            # Compressed buffers declare their own uncompressed length: a few bytes could
            # ask for gigabytes. The scan only sums what they declare; the caller bounds it
            # before anything is decoded.
            codec = {0: CODEC_LZ4, 1: CODEC_ZSTD}.get(compression.scalar(0, _u8))
            if codec is None:
                raise _framing("unknown body compression codec")
            if compression.scalar(1, _u8) != _METHOD_BUFFER:
                raise _framing("unknown body compression method")
            compressed = (codec, *_buffers_vector(header))
    else:
        raise _framing("message type is not schema, dictionary or record batch")
    if header_type == _SCHEMA and body_len != 0:
        raise _framing("schema message with a body")
    return header_type, body_len, rows, compressed


ScanTuple = tuple[int, int, int, int, int, int, bool]


def scan_ipc(data: Buffer) -> ScanTuple:
    """(messages, schemas, dictionary_batches, record_batches, rows, body_bytes, eos)."""
    return _scan(data)[0]


def _scan(data: Buffer) -> tuple[ScanTuple, int, int]:
    """scan_ipc's tuple, the codec bits of the record batches and their declared raw bytes."""
    buf = memoryview(data)
    messages = schemas = dictionaries = batches = rows = body_bytes = codecs = raw = 0
    eos = False
    pos = 0
    while pos < len(buf):
        if eos:
            raise _framing("bytes after the end-of-stream marker")
        if len(buf) - pos < 8:
            raise _framing("truncated message prefix")
        if _u32.unpack_from(buf, pos)[0] != _CONTINUATION:
            raise _framing("missing continuation marker")
        meta_len = _i32.unpack_from(buf, pos + 4)[0]
        pos += 8
        if meta_len == 0:
            eos = True
            continue
        if meta_len < 0 or meta_len % 8:
            raise _framing("metadata length negative or not a multiple of 8")
        if meta_len > len(buf) - pos:
            raise _framing("metadata runs past the end")
        meta = buf[pos : pos + meta_len]
        header_type, body_len, n, compressed = _parse_metadata(meta)
        pos += meta_len
        if body_len > len(buf) - pos:
            raise _framing("body runs past the end")
        body = buf[pos : pos + body_len]
        pos += body_len
        messages += 1
        body_bytes += body_len
        if compressed is None:
            raw += body_len
        else:
            codec, elements, count = compressed
            codecs |= codec
            raw += _declared_raw_bytes(meta, elements, count, body)
        if header_type == _SCHEMA:
            schemas += 1
        elif header_type == _DICTIONARY_BATCH:
            dictionaries += 1
        else:
            batches += 1
            rows += n
    return (messages, schemas, dictionaries, batches, rows, body_bytes, eos), codecs, min(raw, U64_MAX)


def _scan_partition_chunk(data: Buffer) -> ScanTuple:
    return _scan_chunk(data)[0]


def _scan_chunk(data: Buffer) -> tuple[ScanTuple, int, int]:
    found = _scan(data)
    scan = found[0]
    if scan[0] == 0:
        raise _sequence("chunk holds no Arrow message")
    if scan[1]:
        raise _sequence("schema message inside a partition chunk")
    if scan[6]:
        raise _sequence("end-of-stream marker inside a partition chunk")
    return found


def _compressed_chunk(data: Buffer) -> tuple[int, int, int]:
    """(rows, codec, declared) of a partition chunk: codec 0 (none), 1 (LZ4 frame) or 2
    (ZSTD), some batches possibly stored uncompressed beside it, and the bytes their
    bodies declare they decompress to. Two codecs in one chunk are refused."""
    scan, codecs, raw = _scan_chunk(data)
    if codecs == CODEC_LZ4 | CODEC_ZSTD:
        raise _framing("two body compression codecs in one chunk")
    return scan[4], codecs, raw


def check_schema_message(data: Buffer) -> None:
    """Checks the FlightInfo schema: exactly one schema message."""
    messages, schemas, _, _, _, _, eos = scan_ipc(data)
    if messages != 1 or schemas != 1 or eos:
        raise _sequence("expected exactly one schema message")


def classify_chunk(message: Buffer) -> tuple[bool, int, int, int, int, int]:
    """One raw ArrowChunk as both DoGet servers classify it: (True, 0, 0, records, 0, 0)
    for the end marker (``end`` set, no data: an empty ``data`` field counts as none), else
    (False, offset, length, rows, codec, declared) of its checked record batches."""
    (offset, length), end, records = _read_chunk(message)
    if end and length == 0:
        return True, 0, 0, records, 0, 0
    rows, codec, declared = _compressed_chunk(memoryview(message)[offset : offset + length])
    return False, offset, length, rows, codec, declared


def _text_column(data: Buffer, write: Callable[[bytes], str]) -> tuple[bytes, bytes]:
    """(text, offsets) buffers of a string column: ``write`` of each 16-byte value."""
    raw = bytes(data)
    if len(raw) % 16:
        raise RelayError("COLUMN_INVALID", "not whole 16-byte values, or too many")
    text = bytearray()
    ends = [0]
    for i in range(0, len(raw), 16):
        text += write(raw[i : i + 16]).encode("ascii")
        ends.append(len(text))
    if len(text) > 2**31 - 1:
        raise RelayError("COLUMN_INVALID", "not whole 16-byte values, or too many")
    return bytes(text), struct.pack(f"<{len(ends)}i", *ends)


def _uuid(value: bytes) -> str:
    h = value.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _interval(value: bytes) -> str:
    months, days, nanos = struct.unpack("<iiq", value)
    whole, frac = divmod(abs(nanos), 1_000_000_000)
    seconds = f"{whole}" if frac == 0 else f"{whole}." + f"{frac:09d}".rstrip("0")
    return f"P{months}M{days}DT{'-' if nanos < 0 else ''}{seconds}S"


def uuid_text(data: Buffer) -> tuple[bytes, bytes]:
    """Each 16-byte UUID in ``data`` as canonical text: the buffers of a string column."""
    return _text_column(data, _uuid)


def interval_text(data: Buffer) -> tuple[bytes, bytes]:
    """Each month-day-nano interval in ``data`` (months i32, days i32, nanoseconds i64) as
    ISO 8601 duration text: the buffers of a string column."""
    return _text_column(data, _interval)


_WS = b" \t\n\r"


def _json(msg: str) -> RelayError:
    return RelayError("JSON_INVALID", msg)


def _skip_ws(buf: bytes, pos: int) -> int:
    while pos < len(buf) and buf[pos] in _WS:
        pos += 1
    return pos


def _object_end(buf: bytes, start: int, max_depth: int) -> int:
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(buf)):
        b = buf[i]
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:  # backslash
                escaped = True
            elif b == 0x22:  # quote
                in_string = False
            elif b < 0x20:
                raise _json("control character inside a string")
            continue
        if b == 0x22:
            in_string = True
        elif b in b"{[":
            depth += 1
            if depth > max_depth:
                raise _json("nesting deeper than the limit")
        elif b in b"}]":
            depth -= 1
            if depth == 0:
                return i + 1
    raise _json("unterminated object")


def json_array_to_lines(data: Buffer, max_depth: int) -> bytes:
    """A top-level JSON array of objects as JSON Lines (one object per line)."""
    buf = bytes(data)
    out = bytearray()
    pos = _skip_ws(buf, 0)
    if buf[pos : pos + 1] != b"[":
        raise _json("expected a top-level array")
    pos = _skip_ws(buf, pos + 1)
    if buf[pos : pos + 1] == b"]":
        pos += 1
    else:
        while True:
            if buf[pos : pos + 1] != b"{":
                raise _json("array elements must be objects")
            end = _object_end(buf, pos, max_depth)
            # A pretty-printed element spans lines; newlines can only be whitespace here.
            out += buf[pos:end].replace(b"\n", b" ").replace(b"\r", b" ")
            out += b"\n"
            pos = _skip_ws(buf, end)
            sep = buf[pos : pos + 1]
            if sep == b",":
                pos = _skip_ws(buf, pos + 1)
            elif sep == b"]":
                pos += 1
                break
            else:
                raise _json("expected ',' or ']' after an element")
    if _skip_ws(buf, pos) != len(buf):
        raise _json("data after the top-level array")
    return bytes(out)
