//! Arrow month-day-nano intervals (PostgreSQL `interval`) to ISO 8601 duration text, a
//! whole column at once: `P{months}M{days}DT{seconds}S`, the seconds with up to nine
//! decimals and no trailing zeros, each part with its own sign, as PostgreSQL keeps them.

/// Bytes per value: months (i32), days (i32), nanoseconds (i64), little-endian.
pub const WIDTH: usize = 16;

fn seconds(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    let (whole, frac) = (abs / 1_000_000_000, abs % 1_000_000_000);
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{frac:09}");
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

/// (text bytes, little-endian i32 offsets) of a string column, or `None` if `data` is not
/// whole values or the text would not fit 32-bit offsets.
pub fn to_text(data: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if data.len() % WIDTH != 0 {
        return None;
    }
    let mut text = Vec::with_capacity(data.len() * 2);
    let mut offsets = Vec::with_capacity((data.len() / WIDTH + 1) * 4);
    offsets.extend_from_slice(&0i32.to_le_bytes());
    for value in data.chunks_exact(WIDTH) {
        let months = i32::from_le_bytes(value[0..4].try_into().ok()?);
        let days = i32::from_le_bytes(value[4..8].try_into().ok()?);
        let nanos = i64::from_le_bytes(value[8..16].try_into().ok()?);
        text.extend_from_slice(format!("P{months}M{days}DT{}S", seconds(nanos)).as_bytes());
        offsets.extend_from_slice(&i32::try_from(text.len()).ok()?.to_le_bytes());
    }
    Some((text, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(months: i32, days: i32, nanos: i64) -> Vec<u8> {
        [months.to_le_bytes().as_slice(), &days.to_le_bytes(), &nanos.to_le_bytes()].concat()
    }

    #[test]
    fn iso_durations() {
        let data = [value(0, 1, 7_200_000_000_000), value(14, -3, -1_500_000_000), value(0, 0, 1)].concat();
        let (text, offsets) = to_text(&data).unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "P0M1DT7200SP14M-3DT-1.5SP0M0DT0.000000001S");
        assert_eq!(offsets.len(), 16);
        assert!(to_text(&[0u8; 15]).is_none());
    }
}
