//! UUIDs (16 bytes each, as PostgreSQL and Arrow's `arrow.uuid` store them) to their
//! canonical text, for a whole column at once: the connector sends them as strings.

pub const TEXT_LEN: usize = 36;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// (text bytes, little-endian i32 offsets) of a string column holding each 16-byte UUID of
/// `data` as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. `None` if `data` is not whole UUIDs or
/// the column would not fit 32-bit offsets.
pub fn to_text(data: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if data.len() % 16 != 0 {
        return None;
    }
    let n = data.len() / 16;
    i32::try_from(n.checked_mul(TEXT_LEN)?).ok()?;
    let mut text = Vec::with_capacity(n * TEXT_LEN);
    let mut offsets = Vec::with_capacity((n + 1) * 4);
    offsets.extend_from_slice(&0i32.to_le_bytes());
    for (i, uuid) in data.chunks_exact(16).enumerate() {
        for (j, byte) in uuid.iter().enumerate() {
            if matches!(j, 4 | 6 | 8 | 10) {
                text.push(b'-');
            }
            text.push(HEX[usize::from(byte >> 4)]);
            text.push(HEX[usize::from(byte & 15)]);
        }
        // n * TEXT_LEN fits i32 (checked above), so every offset does.
        let end = i32::try_from((i + 1) * TEXT_LEN).unwrap_or(i32::MAX);
        offsets.extend_from_slice(&end.to_le_bytes());
    }
    Some((text, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_and_offsets() {
        let mut data = (0u8..16).collect::<Vec<_>>();
        data.extend([0xffu8; 16]);
        let (text, offsets) = to_text(&data).unwrap();
        assert_eq!(&text[..36], b"00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!(&text[36..], b"ffffffff-ffff-ffff-ffff-ffffffffffff");
        assert_eq!(offsets, [0, 0, 0, 0, 36, 0, 0, 0, 72, 0, 0, 0]);
        assert!(to_text(&[0u8; 15]).is_none());
        assert_eq!(to_text(&[]).unwrap(), (vec![], vec![0, 0, 0, 0]));
    }
}
