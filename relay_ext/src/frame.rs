//! The browser frame: an 8-byte header (stream id, flags; little-endian u32 each) and then
//! Arrow IPC bytes. Eight bytes keep the payload 8-byte aligned for zero-copy views in JS.

pub const HEADER_LEN: usize = 8;

pub fn header(stream_id: u32, flags: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&stream_id.to_le_bytes());
    h[4..].copy_from_slice(&flags.to_le_bytes());
    h
}

/// Writes header + payload into `out`, which must be exactly `HEADER_LEN + payload.len()`.
pub fn write_frame(out: &mut [u8], stream_id: u32, flags: u32, payload: &[u8]) {
    out[..HEADER_LEN].copy_from_slice(&header(stream_id, flags));
    out[HEADER_LEN..].copy_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_little_endian() {
        assert_eq!(header(0x0102_0304, 5), [4, 3, 2, 1, 5, 0, 0, 0]);
        let mut out = [0u8; 10];
        write_frame(&mut out, 1, 0, b"ab");
        assert_eq!(out, [1, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']);
    }
}
