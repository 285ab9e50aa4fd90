//! Checking that bytes are a sequence of whole encapsulated Arrow IPC messages
//! (continuation marker, metadata length, flatbuffer `Message` table, body length), with
//! every offset bounds-checked against the buffer we already hold, so no length in the
//! input can make anyone allocate. See docs/tunnel.md, "Arrow framing".

use crate::error::RelayError;

pub const CONTINUATION: u32 = 0xFFFF_FFFF;
/// Arrow `MessageHeader` union tags.
pub const HEADER_SCHEMA: u8 = 1;
pub const HEADER_DICTIONARY_BATCH: u8 = 2;
pub const HEADER_RECORD_BATCH: u8 = 3;
/// Bits of `Scan::codecs`: Arrow's `CompressionType` LZ4_FRAME (0) and ZSTD (1).
pub const CODEC_LZ4: u8 = 1;
pub const CODEC_ZSTD: u8 = 2;
/// Arrow `MetadataVersion::V4`; older versions are not accepted.
const MIN_METADATA_VERSION: i16 = 3;
const MAX_METADATA_VERSION: i16 = 4;

/// What a scan found, for metrics and for the caller's sequence rules.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    pub messages: u64,
    pub schemas: u64,
    pub dictionary_batches: u64,
    pub record_batches: u64,
    /// Sum of `RecordBatch.length` over the record batches.
    pub rows: u64,
    /// Sum of the message bodies.
    pub body_bytes: u64,
    /// The body codecs the record batches use: `CODEC_LZ4` | `CODEC_ZSTD` bits, 0 if none
    /// is compressed.
    pub codecs: u8,
    /// Sum of the bodies once decompressed, as their buffers' length prefixes declare
    /// (saturating): what decoding them would allocate, known before anything is.
    pub raw_body_bytes: u64,
    /// The buffer ends with the end-of-stream marker (nothing may follow it).
    pub eos: bool,
}

fn bad(msg: &str) -> RelayError {
    RelayError::IpcFraming(msg.to_string())
}

fn u16_at(b: &[u8], pos: usize) -> Result<u16, RelayError> {
    let s = b.get(pos..pos.checked_add(2).ok_or_else(|| bad("offset overflow"))?);
    s.map(|s| u16::from_le_bytes([s[0], s[1]])).ok_or_else(|| bad("flatbuffer offset out of bounds"))
}

fn u32_at(b: &[u8], pos: usize) -> Result<u32, RelayError> {
    let s = b.get(pos..pos.checked_add(4).ok_or_else(|| bad("offset overflow"))?);
    s.map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok_or_else(|| bad("flatbuffer offset out of bounds"))
}

fn i64_at(b: &[u8], pos: usize) -> Result<i64, RelayError> {
    let s = b.get(pos..pos.checked_add(8).ok_or_else(|| bad("offset overflow"))?);
    s.map(|s| i64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
        .ok_or_else(|| bad("flatbuffer offset out of bounds"))
}

/// A flatbuffer table inside `buf`: its position and its vtable.
struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
    table_len: usize,
}

impl<'a> Table<'a> {
    fn at(buf: &'a [u8], pos: usize) -> Result<Self, RelayError> {
        let soffset = u32_at(buf, pos)? as i32;
        let vtable = pos as i64 - i64::from(soffset);
        if vtable < 0 || vtable as u64 > buf.len() as u64 {
            return Err(bad("flatbuffer vtable out of bounds"));
        }
        let vtable = vtable as usize;
        let vtable_len = usize::from(u16_at(buf, vtable)?);
        let table_len = usize::from(u16_at(buf, vtable + 2)?);
        if vtable_len < 4 || vtable_len % 2 != 0 || vtable + vtable_len > buf.len() {
            return Err(bad("flatbuffer vtable malformed"));
        }
        if table_len < 4 || pos + table_len > buf.len() {
            return Err(bad("flatbuffer table out of bounds"));
        }
        Ok(Table { buf, pos, vtable, vtable_len, table_len })
    }

    /// Position of field `index`, or None when absent; checks `width` bytes fit the table.
    fn field(&self, index: usize, width: usize) -> Result<Option<usize>, RelayError> {
        let slot = 4 + 2 * index;
        if slot + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = usize::from(u16_at(self.buf, self.vtable + slot)?);
        if off == 0 {
            return Ok(None);
        }
        if off + width > self.table_len {
            return Err(bad("flatbuffer field out of its table"));
        }
        Ok(Some(self.pos + off))
    }

    fn field_u8(&self, index: usize) -> Result<u8, RelayError> {
        Ok(match self.field(index, 1)? {
            Some(p) => self.buf[p],
            None => 0,
        })
    }

    fn field_i16(&self, index: usize) -> Result<i16, RelayError> {
        Ok(match self.field(index, 2)? {
            Some(p) => u16_at(self.buf, p)? as i16,
            None => 0,
        })
    }

    fn field_i64(&self, index: usize) -> Result<i64, RelayError> {
        match self.field(index, 8)? {
            Some(p) => i64_at(self.buf, p),
            None => Ok(0),
        }
    }

    fn field_table(&self, index: usize) -> Result<Option<Table<'a>>, RelayError> {
        match self.field(index, 4)? {
            Some(p) => {
                let target = p as u64 + u64::from(u32_at(self.buf, p)?);
                if target >= self.buf.len() as u64 {
                    return Err(bad("flatbuffer offset out of bounds"));
                }
                Table::at(self.buf, target as usize).map(Some)
            }
            None => Ok(None),
        }
    }
}

/// One message's metadata as the scan needs it.
struct Meta {
    header_type: u8,
    body_len: u64,
    rows: u64,
    /// A compressed record batch: its codec bit and where its `buffers` vector's
    /// elements start in the metadata, with their count.
    compressed: Option<(u8, usize, usize)>,
}

/// Arrow `BodyCompressionMethod::BUFFER`, the only method Arrow defines.
const METHOD_BUFFER: u8 = 0;
/// One `Buffer` struct of a record batch: offset and length, two little-endian i64.
const BUFFER_STRUCT_BYTES: usize = 16;

/// The `buffers` vector (field 2) of a record batch: (first element, count), bounded.
fn buffers_vector(batch: &Table<'_>) -> Result<(usize, usize), RelayError> {
    let Some(p) = batch.field(2, 4)? else {
        return Ok((0, 0));
    };
    let start = p as u64 + u64::from(u32_at(batch.buf, p)?);
    if start + 4 > batch.buf.len() as u64 {
        return Err(bad("flatbuffer offset out of bounds"));
    }
    let start = start as usize;
    let count = u32_at(batch.buf, start)? as usize;
    let elements = start + 4;
    if count
        .checked_mul(BUFFER_STRUCT_BYTES)
        .and_then(|n| n.checked_add(elements))
        .map_or(true, |end| end > batch.buf.len())
    {
        return Err(bad("record batch buffers run past the metadata"));
    }
    Ok((elements, count))
}

/// One message's metadata: header type, body length, row count and compression.
fn parse_metadata(meta: &[u8]) -> Result<Meta, RelayError> {
    let root = u32_at(meta, 0)? as usize;
    let message = Table::at(meta, root)?;
    let version = message.field_i16(0)?;
    if !(MIN_METADATA_VERSION..=MAX_METADATA_VERSION).contains(&version) {
        return Err(bad("unsupported Arrow metadata version"));
    }
    let header_type = message.field_u8(1)?;
    let body_len = message.field_i64(3)?;
    if body_len < 0 || body_len % 8 != 0 {
        return Err(bad("body length negative or not a multiple of 8"));
    }
    let header = message.field_table(2)?;
    let mut compressed = None;
    let rows = match header_type {
        HEADER_SCHEMA | HEADER_DICTIONARY_BATCH => {
            header.ok_or_else(|| bad("message without header"))?;
            0
        }
        HEADER_RECORD_BATCH => {
            let batch = header.ok_or_else(|| bad("message without header"))?;
            let length = batch.field_i64(0)?;
            if length < 0 {
                return Err(bad("negative record batch length"));
            }
            // Compressed buffers declare their own uncompressed length: a few bytes could
            // ask for gigabytes. The scan only sums what they declare (`raw_body_bytes`);
            // the caller bounds it before anything is decoded.
            if let Some(compression) = batch.field_table(3)? {
                let codec = match compression.field_u8(0)? {
                    0 => CODEC_LZ4,
                    1 => CODEC_ZSTD,
                    _ => return Err(bad("unknown body compression codec")),
                };
                if compression.field_u8(1)? != METHOD_BUFFER {
                    return Err(bad("unknown body compression method"));
                }
                let (elements, count) = buffers_vector(&batch)?;
                compressed = Some((codec, elements, count));
            }
            length as u64
        }
        _ => return Err(bad("message type is not schema, dictionary or record batch")),
    };
    if header_type == HEADER_SCHEMA && body_len != 0 {
        return Err(bad("schema message with a body"));
    }
    Ok(Meta { header_type, body_len: body_len as u64, rows, compressed })
}

/// What a compressed body declares it decompresses to: each buffer starts with its
/// uncompressed length as an i64 (-1: stored as is); every buffer must lie in the body.
fn declared_raw_bytes(meta: &[u8], elements: usize, count: usize, body: &[u8]) -> Result<u64, RelayError> {
    let mut total = 0u64;
    for i in 0..count {
        let at = elements + i * BUFFER_STRUCT_BYTES;
        let (offset, length) = (i64_at(meta, at)?, i64_at(meta, at + 8)?);
        if offset < 0 || length < 0 || offset as u64 + length as u64 > body.len() as u64 {
            return Err(bad("a compressed buffer lies outside its body"));
        }
        if length == 0 {
            continue;
        }
        if length < 8 {
            return Err(bad("a compressed buffer shorter than its length prefix"));
        }
        let declared = i64_at(body, offset as usize)?;
        let raw = match declared {
            -1 => length as u64 - 8,
            n if n < 0 => return Err(bad("a compressed buffer declares a negative length")),
            n => n as u64,
        };
        total = total.saturating_add(raw);
    }
    Ok(total)
}

/// Scans `buf` as whole encapsulated IPC messages, optionally ending with end-of-stream.
pub fn scan(buf: &[u8]) -> Result<Scan, RelayError> {
    let mut out = Scan::default();
    let mut pos = 0usize;
    while pos < buf.len() {
        if out.eos {
            return Err(bad("bytes after the end-of-stream marker"));
        }
        if buf.len() - pos < 8 {
            return Err(bad("truncated message prefix"));
        }
        if u32_at(buf, pos)? != CONTINUATION {
            return Err(bad("missing continuation marker"));
        }
        let meta_len = u32_at(buf, pos + 4)? as i32;
        pos += 8;
        if meta_len == 0 {
            out.eos = true;
            continue;
        }
        if meta_len < 0 || meta_len % 8 != 0 {
            return Err(bad("metadata length negative or not a multiple of 8"));
        }
        let meta_len = meta_len as usize;
        if meta_len > buf.len() - pos {
            return Err(bad("metadata runs past the end"));
        }
        let meta = &buf[pos..pos + meta_len];
        let Meta { header_type, body_len, rows, compressed } = parse_metadata(meta)?;
        pos += meta_len;
        if body_len > (buf.len() - pos) as u64 {
            return Err(bad("body runs past the end"));
        }
        let body = &buf[pos..pos + body_len as usize];
        pos += body_len as usize;
        out.messages += 1;
        out.body_bytes += body_len;
        out.raw_body_bytes = out.raw_body_bytes.saturating_add(match compressed {
            Some((codec, elements, count)) => {
                out.codecs |= codec;
                declared_raw_bytes(meta, elements, count, body)?
            }
            None => body_len,
        });
        match header_type {
            HEADER_SCHEMA => out.schemas += 1,
            HEADER_DICTIONARY_BATCH => out.dictionary_batches += 1,
            _ => {
                out.record_batches += 1;
                out.rows += rows;
            }
        }
    }
    Ok(out)
}

fn sequence(msg: &str) -> RelayError {
    RelayError::IpcSequence(msg.to_string())
}

/// A partition chunk from DoGet: one or more record batches (or dictionary batches), no
/// schema and no end-of-stream, since the gateway writes those for the whole query.
pub fn scan_partition_chunk(buf: &[u8]) -> Result<Scan, RelayError> {
    let s = scan(buf)?;
    if s.messages == 0 {
        return Err(sequence("chunk holds no Arrow message"));
    }
    if s.schemas != 0 {
        return Err(sequence("schema message inside a partition chunk"));
    }
    if s.eos {
        return Err(sequence("end-of-stream marker inside a partition chunk"));
    }
    Ok(s)
}

/// A partition chunk's (rows, codec, declared): `scan_partition_chunk`'s rows; the one
/// body codec of its compressed record batches (0 none, else `CODEC_LZ4` or `CODEC_ZSTD`;
/// some batches may be stored uncompressed beside it); and what the bodies declare they
/// decompress to. Two codecs in one chunk are refused.
pub fn scan_compressed_chunk(buf: &[u8]) -> Result<(u64, u8, u64), RelayError> {
    let s = scan_partition_chunk(buf)?;
    if s.codecs == CODEC_LZ4 | CODEC_ZSTD {
        return Err(bad("two body compression codecs in one chunk"));
    }
    Ok((s.rows, s.codecs, s.raw_body_bytes))
}

/// The schema of a FlightInfo answer: exactly one schema message and nothing else.
pub fn check_schema_message(buf: &[u8]) -> Result<(), RelayError> {
    let s = scan(buf)?;
    if s.messages != 1 || s.schemas != 1 || s.eos {
        return Err(sequence("expected exactly one schema message"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The untrusted-input parser on its own. The vectors are pyarrow's encoding of
    //! `schema([("id", int64())])` and a 3-row batch of it (`serialize()`).
    use super::*;

    const SCHEMA: &str = "ffffffff780000001000000000000a000c000600050008000a000000000104000c000000080008000000040008000000040000000100000014000000100014000800060007000c00000010001000000000000102100000001c0000000400000000000000020000006964000008000c0008000700080000000000000140000000";
    const BATCH: &str = "ffffffff8800000014000000000000000c0016000600050008000c000c0000000003040018000000180000000000000000000a0018000c00040008000a0000003c00000010000000030000000000000000000000020000000000000000000000000000000000000000000000000000001800000000000000000000000100000003000000000000000000000000000000010000000000000002000000000000000300000000000000";
    const EOS: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    /// The same 3-row batch written with `IpcWriteOptions(compression="lz4")` and "zstd";
    /// its data buffer, at body offset 0, declares 24 bytes uncompressed.
    const BATCH_LZ4: &str = "ffffffff9800000014000000000000000c0018000600050008000c000c000000000304001c0000003000000000000000000000000c001c001000040008000c000c000000480000001c000000140000000300000000000000000000000400040004000000020000000000000000000000000000000000000000000000000000002a00000000000000000000000100000003000000000000000000000000000000180000000000000004224d18604082130000002201000100120207009000030000000000000000000000000000000000";
    const BATCH_ZSTD: &str = "ffffffffa000000014000000000000000c0018000600050008000c000c000000000304001c0000002800000000000000000000000c001e001000040008000c000c00000050000000240000001800000003000000000000000000000000000600080007000600000000000001020000000000000000000000000000000000000000000000000000002500000000000000000000000100000003000000000000000000000000000000180000000000000028b52ffd2018a5000060010002000300000000000000020060e0016001000000";
    /// Where BATCH_LZ4's data buffer (and its length prefix) begins: after the 8-byte
    /// prefix and 0x98 bytes of metadata.
    const LZ4_BODY: usize = 8 + 0x98;

    fn body_compression(buf: &[u8]) -> Result<(u8, u64), RelayError> {
        scan_compressed_chunk(buf).map(|(_, codec, declared)| (codec, declared))
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn stream() -> Vec<u8> {
        [hex(SCHEMA), hex(BATCH), hex(BATCH), EOS.to_vec()].concat()
    }

    #[test]
    fn counts_messages_rows_and_the_end() {
        let s = scan(&stream()).unwrap();
        assert_eq!((s.messages, s.schemas, s.record_batches, s.rows, s.body_bytes, s.eos), (3, 1, 2, 6, 48, true));
        assert_eq!(scan(&[]).unwrap(), Scan::default());
    }

    #[test]
    fn every_truncation_is_refused_and_nothing_panics() {
        let whole = stream();
        let ends = [hex(SCHEMA).len(), hex(SCHEMA).len() + hex(BATCH).len()];
        for cut in 1..whole.len() - EOS.len() {
            if ends.contains(&cut) {
                continue; // a cut between messages leaves whole messages
            }
            assert!(scan(&whole[..cut]).is_err(), "a cut at {cut} passed");
        }
    }

    #[test]
    fn lengths_past_the_end_are_refused_before_any_allocation() {
        let mut batch = hex(BATCH);
        batch[4..8].copy_from_slice(&0x7fff_fff8u32.to_le_bytes()); // metadata of 2 GiB
        assert_eq!(scan(&batch), Err(bad("metadata runs past the end")));
        let mut negative = hex(BATCH);
        negative[4..8].copy_from_slice(&(-8i32).to_le_bytes());
        assert!(scan(&negative).is_err());
        let mut no_marker = hex(BATCH);
        no_marker[0] = 0;
        assert_eq!(scan(&no_marker), Err(bad("missing continuation marker")));
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let whole = stream();
        for pos in 0..whole.len() {
            for value in [0u8, 0x7f, 0xff] {
                let mut bytes = whole.clone();
                bytes[pos] = value;
                let _ = scan(&bytes); // an error or a scan; never a panic or a huge allocation
            }
        }
    }

    #[test]
    fn a_partition_chunk_is_record_batches_only() {
        assert_eq!(scan_partition_chunk(&hex(BATCH)).unwrap().rows, 3);
        assert!(matches!(scan_partition_chunk(&[]), Err(RelayError::IpcSequence(_))));
        assert!(matches!(scan_partition_chunk(&hex(SCHEMA)), Err(RelayError::IpcSequence(_))));
        assert!(matches!(scan_partition_chunk(&[hex(BATCH), EOS.to_vec()].concat()), Err(RelayError::IpcSequence(_))));
        assert!(matches!(scan(&[EOS.to_vec(), hex(BATCH)].concat()), Err(RelayError::IpcFraming(_))));
    }

    #[test]
    fn compressed_batches_report_their_codec_and_declared_size() {
        assert_eq!(body_compression(&hex(BATCH)), Ok((0, 24)));
        assert_eq!(body_compression(&hex(BATCH_LZ4)), Ok((CODEC_LZ4, 24)));
        assert_eq!(body_compression(&hex(BATCH_ZSTD)), Ok((CODEC_ZSTD, 24)));
        // Uncompressed beside compressed with one codec: allowed; two codecs: refused.
        assert_eq!(body_compression(&[hex(BATCH), hex(BATCH_LZ4)].concat()), Ok((CODEC_LZ4, 48)));
        assert!(body_compression(&[hex(BATCH_LZ4), hex(BATCH_ZSTD)].concat()).is_err());
        assert_eq!(scan(&hex(BATCH_LZ4)).unwrap().rows, 3);
    }

    #[test]
    fn a_declared_length_is_summed_unread_and_a_negative_one_refused() {
        let mut bomb = hex(BATCH_LZ4);
        bomb[LZ4_BODY..LZ4_BODY + 8].copy_from_slice(&i64::MAX.to_le_bytes());
        let thrice = [bomb.clone(), bomb.clone(), bomb.clone()].concat();
        // What it declares is reported, saturating, for the caller to refuse: never allocated here.
        assert_eq!(body_compression(&bomb), Ok((CODEC_LZ4, i64::MAX as u64)));
        assert_eq!(body_compression(&thrice), Ok((CODEC_LZ4, u64::MAX)));
        let mut negative = hex(BATCH_LZ4);
        negative[LZ4_BODY..LZ4_BODY + 8].copy_from_slice(&(-5i64).to_le_bytes());
        assert_eq!(body_compression(&negative), Err(bad("a compressed buffer declares a negative length")));
        let mut stored = hex(BATCH_LZ4);
        stored[LZ4_BODY..LZ4_BODY + 8].copy_from_slice(&(-1i64).to_le_bytes());
        assert_eq!(body_compression(&stored), Ok((CODEC_LZ4, 42 - 8)));
    }

    #[test]
    fn corrupted_compressed_bytes_never_panic() {
        let whole = [hex(BATCH_LZ4), hex(BATCH_ZSTD)].concat();
        for pos in 0..whole.len() {
            for value in [0u8, 0x7f, 0xff] {
                let mut bytes = whole.clone();
                bytes[pos] = value;
                let _ = body_compression(&bytes);
            }
        }
    }

    #[test]
    fn the_schema_answer_is_one_schema_message() {
        assert_eq!(check_schema_message(&hex(SCHEMA)), Ok(()));
        assert!(check_schema_message(&hex(BATCH)).is_err());
        assert!(check_schema_message(&[hex(SCHEMA), hex(SCHEMA)].concat()).is_err());
        assert!(check_schema_message(&[hex(SCHEMA), EOS.to_vec()].concat()).is_err());
    }
}
