//! Locating the Arrow payload inside a raw `saeta.v1.ArrowChunk` protobuf message without
//! parsing it into objects or copying it: the gateway receives the message as bytes and
//! forwards a slice of them.

use crate::error::RelayError;

/// Field number of `ArrowChunk.data`.
pub const DATA_FIELD: u64 = 1;

const WIRE_VARINT: u64 = 0;
const WIRE_I64: u64 = 1;
const WIRE_LEN: u64 = 2;
const WIRE_I32: u64 = 5;

fn bad(msg: &str) -> RelayError {
    RelayError::TunnelMessage(msg.to_string())
}

/// Reads a base-128 varint at `pos`; returns (value, next position).
pub fn read_varint(buf: &[u8], mut pos: usize) -> Result<(u64, usize), RelayError> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(pos).ok_or_else(|| bad("truncated varint"))?;
        pos += 1;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(bad("varint overflows 64 bits"));
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok((value, pos));
        }
    }
    Err(bad("varint longer than 10 bytes"))
}

/// Field numbers of `ArrowChunk.end` and `ArrowChunk.end_records`.
pub const END_FIELD: u64 = 2;
pub const END_RECORDS_FIELD: u64 = 3;

/// The fields of one ArrowChunk the gateway acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkFields {
    /// `(offset, length)` of `data`; a message without it has an empty payload at its end.
    pub data: (usize, usize),
    pub end: bool,
    pub end_records: i64,
}

impl ChunkFields {
    /// The end marker (`end` set, no data) and the row count it announces.
    pub fn end_marker(&self) -> Option<i64> {
        (self.end && self.data.1 == 0).then_some(self.end_records)
    }
}

/// Walks the whole message and returns `(offset, length)` of the `data` field.
///
/// The message must be well-formed to its last byte; unknown fields are skipped (a newer
/// connector may add some), `data` may appear at most once, and a message without it has
/// an empty payload at its end.
pub fn locate_payload(msg: &[u8]) -> Result<(usize, usize), RelayError> {
    read_chunk(msg).map(|c| c.data)
}

/// Walks the whole message like `locate_payload`, also reading `end` and `end_records`
/// (varints; the last occurrence wins, as in protobuf).
pub fn read_chunk(msg: &[u8]) -> Result<ChunkFields, RelayError> {
    let mut pos = 0usize;
    let mut found: Option<(usize, usize)> = None;
    let (mut end, mut end_records) = (false, 0i64);
    while pos < msg.len() {
        let (key, next) = read_varint(msg, pos)?;
        pos = next;
        let field = key >> 3;
        let wire = key & 7;
        if field == 0 {
            return Err(bad("field number 0"));
        }
        match wire {
            WIRE_VARINT => {
                let (value, next) = read_varint(msg, pos)?;
                pos = next;
                if field == END_FIELD {
                    end = value != 0;
                } else if field == END_RECORDS_FIELD {
                    end_records = value as i64; // protobuf int64: two's complement
                }
            }
            WIRE_I64 | WIRE_I32 => {
                let width = if wire == WIRE_I64 { 8 } else { 4 };
                if msg.len() - pos < width {
                    return Err(bad("truncated fixed-width field"));
                }
                pos += width;
            }
            WIRE_LEN => {
                let (len, next) = read_varint(msg, pos)?;
                pos = next;
                let avail = (msg.len() - pos) as u64;
                if len > avail {
                    return Err(bad("length-delimited field runs past the end"));
                }
                let len = len as usize;
                if field == DATA_FIELD {
                    if found.is_some() {
                        return Err(bad("data field appears twice"));
                    }
                    found = Some((pos, len));
                }
                pos += len;
            }
            _ => return Err(bad("unsupported wire type")),
        }
        if (field == DATA_FIELD && wire != WIRE_LEN)
            || ((field == END_FIELD || field == END_RECORDS_FIELD) && wire != WIRE_VARINT)
        {
            return Err(bad("a known field has the wrong wire type"));
        }
    }
    Ok(ChunkFields { data: found.unwrap_or((msg.len(), 0)), end, end_records })
}

/// What one raw ArrowChunk is, checked: whole record batches (`offset`, `len` of the
/// payload in the message, and their rows), or the end marker with the rows it announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// `codec`: the one body codec of its compressed batches (0: none compressed;
    /// `ipc::CODEC_LZ4`, `ipc::CODEC_ZSTD`); `declared`: their bodies' size decompressed.
    Data {
        offset: usize,
        len: usize,
        rows: u64,
        codec: u8,
        declared: u64,
    },
    End {
        records: i64,
    },
}

/// The one classification both DoGet servers use: the end marker is `end` set with no
/// data (an empty `data` field present counts as none), anything else must be whole
/// record batches of the stream.
pub fn classify_chunk(msg: &[u8]) -> Result<ChunkKind, RelayError> {
    let fields = read_chunk(msg)?;
    if let Some(records) = fields.end_marker() {
        return Ok(ChunkKind::End { records });
    }
    let (offset, len) = fields.data;
    let (rows, codec, declared) = crate::ipc::scan_compressed_chunk(&msg[offset..offset + len])?;
    Ok(ChunkKind::Data { offset, len, rows, codec, declared })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_data_field_with_end_is_the_end_marker() {
        // 0a 00: data of length 0; 10 01: end; 18 05: end_records 5.
        assert_eq!(classify_chunk(&[0x0a, 0x00, 0x10, 0x01, 0x18, 0x05]), Ok(ChunkKind::End { records: 5 }));
        assert_eq!(classify_chunk(&[0x10, 0x01, 0x18, 0x05]), Ok(ChunkKind::End { records: 5 }));
        assert!(classify_chunk(&[0x0a, 0x00]).is_err()); // no data and no end: not a chunk
    }

    #[test]
    fn finds_data_field() {
        let msg = [0x0a, 0x03, b'a', b'b', b'c'];
        assert_eq!(locate_payload(&msg), Ok((2, 3)));
    }

    #[test]
    fn skips_unknown_fields() {
        // field 4 varint 150, then data "x", then field 5 fixed32
        let msg = [0x20, 0x96, 0x01, 0x0a, 0x01, b'x', 0x2d, 1, 2, 3, 4];
        assert_eq!(locate_payload(&msg), Ok((5, 1)));
    }

    #[test]
    fn empty_message_has_empty_payload() {
        assert_eq!(locate_payload(&[]), Ok((0, 0)));
    }

    #[test]
    fn rejects_truncation_and_duplicates() {
        assert!(locate_payload(&[0x0a, 0x05, 1]).is_err());
        assert!(locate_payload(&[0x0a, 0x00, 0x0a, 0x00]).is_err());
        assert!(locate_payload(&[0x08, 0x01]).is_err());
        assert!(locate_payload(&[0x0b]).is_err());
        assert!(locate_payload(&[0x80]).is_err());
    }

    #[test]
    fn reads_the_end_marker() {
        // end = true, end_records = 300
        let marker = [0x10, 0x01, 0x18, 0xac, 0x02];
        let fields = read_chunk(&marker).unwrap();
        assert_eq!(fields.end_marker(), Some(300));
        assert_eq!(read_chunk(&[0x0a, 0x01, b'x', 0x10, 0x01]).unwrap().end_marker(), None);
        assert_eq!(read_chunk(&[0x0a, 0x01, b'x']).unwrap().end_marker(), None);
        // end_records = -1 (ten-byte varint)
        let neg = [0x10, 0x01, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_chunk(&neg).unwrap().end_marker(), Some(-1));
        assert!(read_chunk(&[0x12, 0x00]).is_err());
    }

    #[test]
    fn rejects_overlong_varint() {
        let msg = [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(locate_payload(&msg).is_err());
    }
}
