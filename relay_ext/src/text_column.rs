//! Columns of 16-byte values the browser cannot use as they are (PostgreSQL `uuid`, Arrow
//! month-day-nano `interval`) turned into text a whole column at a time: the buffers of an
//! Arrow string column (the text, then little-endian i32 offsets).

use crate::error::RelayError;

/// Bytes per value of both kinds.
pub const WIDTH: usize = 16;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Canonical UUID text, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn write_uuid(value: &[u8], out: &mut Vec<u8>) {
    for (j, byte) in value.iter().enumerate() {
        if matches!(j, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 15)]);
    }
}

/// ISO 8601 duration `P{months}M{days}DT{seconds}S` of months (i32), days (i32) and
/// nanoseconds (i64), little-endian; the seconds with up to nine decimals and no trailing
/// zeros, each part with its own sign, as PostgreSQL keeps them.
pub fn write_interval(value: &[u8], out: &mut Vec<u8>) {
    let months = i32::from_le_bytes(bytes_at(value, 0));
    let days = i32::from_le_bytes(bytes_at(value, 4));
    let nanos = i64::from_le_bytes(bytes_at(value, 8));
    let sign = if nanos < 0 { "-" } else { "" };
    let (whole, frac) = (nanos.unsigned_abs() / 1_000_000_000, nanos.unsigned_abs() % 1_000_000_000);
    let seconds = if frac == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{}", format!("{frac:09}").trim_end_matches('0'))
    };
    out.extend_from_slice(format!("P{months}M{days}DT{seconds}S").as_bytes());
}

/// The `N` bytes of `value` from `at` (the caller passes whole 16-byte values).
fn bytes_at<const N: usize>(value: &[u8], at: usize) -> [u8; N] {
    let mut field = [0u8; N];
    field.copy_from_slice(&value[at..at + N]);
    field
}

/// (text, offsets) with `write` applied to each 16-byte value of `data`; an error if
/// `data` is not whole values or the text would not fit 32-bit offsets.
pub fn to_text(data: &[u8], write: fn(&[u8], &mut Vec<u8>)) -> Result<(Vec<u8>, Vec<u8>), RelayError> {
    let refused = || RelayError::Column("not whole 16-byte values, or too many".to_string());
    if data.len() % WIDTH != 0 {
        return Err(refused());
    }
    let mut text = Vec::with_capacity(data.len() * 9 / 4);
    let mut offsets = Vec::with_capacity((data.len() / WIDTH + 1) * 4);
    offsets.extend_from_slice(&0i32.to_le_bytes());
    for value in data.chunks_exact(WIDTH) {
        write(value, &mut text);
        offsets.extend_from_slice(&i32::try_from(text.len()).map_err(|_| refused())?.to_le_bytes());
    }
    Ok((text, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(months: i32, days: i32, nanos: i64) -> Vec<u8> {
        [months.to_le_bytes().as_slice(), &days.to_le_bytes(), &nanos.to_le_bytes()].concat()
    }

    #[test]
    fn canonical_uuid_text_and_offsets() {
        let mut data = (0u8..16).collect::<Vec<_>>();
        data.extend([0xffu8; 16]);
        let (text, offsets) = to_text(&data, write_uuid).unwrap();
        assert_eq!(&text[..36], b"00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!(&text[36..], b"ffffffff-ffff-ffff-ffff-ffffffffffff");
        assert_eq!(offsets, [0, 0, 0, 0, 36, 0, 0, 0, 72, 0, 0, 0]);
        assert!(to_text(&[0u8; 15], write_uuid).is_err());
        assert_eq!(to_text(&[], write_uuid).unwrap(), (vec![], vec![0, 0, 0, 0]));
    }

    #[test]
    fn iso_durations() {
        let data = [interval(0, 1, 7_200_000_000_000), interval(14, -3, -1_500_000_000), interval(0, 0, 1)].concat();
        let (text, offsets) = to_text(&data, write_interval).unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "P0M1DT7200SP14M-3DT-1.5SP0M0DT0.000000001S");
        assert_eq!(offsets.len(), 16);
        assert!(to_text(&[0u8; 15], write_interval).is_err());
    }
}
