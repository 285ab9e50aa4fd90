//! Turning a top-level JSON array of objects into JSON Lines, byte by byte, so that
//! pyarrow's JSON reader (which reads JSON Lines only) can parse it in C++ with no
//! per-row Python. Only the structure is checked here; pyarrow parses the values.

use crate::error::RelayError;

fn bad(msg: &str) -> RelayError {
    RelayError::Json(msg.to_string())
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(buf: &[u8], mut pos: usize) -> usize {
    while pos < buf.len() && is_ws(buf[pos]) {
        pos += 1;
    }
    pos
}

/// End (exclusive) of the JSON object starting at `start` (which holds `{`).
fn object_end(buf: &[u8], start: usize, max_depth: usize) -> Result<usize, RelayError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in buf.iter().enumerate().skip(start) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            } else if b < 0x20 {
                return Err(bad("control character inside a string"));
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(bad("nesting deeper than the limit"));
                }
            }
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
    }
    Err(bad("unterminated object"))
}

/// Each element of the top-level array `[ {...}, {...} ]`, one per line.
pub fn to_lines(buf: &[u8], max_depth: usize) -> Result<Vec<u8>, RelayError> {
    let mut out = Vec::with_capacity(buf.len());
    let mut pos = skip_ws(buf, 0);
    if buf.get(pos) != Some(&b'[') {
        return Err(bad("expected a top-level array"));
    }
    pos = skip_ws(buf, pos + 1);
    if buf.get(pos) == Some(&b']') {
        pos += 1;
    } else {
        loop {
            if buf.get(pos) != Some(&b'{') {
                return Err(bad("array elements must be objects"));
            }
            let end = object_end(buf, pos, max_depth)?;
            // A pretty-printed element spans lines; newlines can only be whitespace here
            // (raw control characters inside strings were refused), so fold them.
            out.extend(buf[pos..end].iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
            out.push(b'\n');
            pos = skip_ws(buf, end);
            match buf.get(pos) {
                Some(b',') => pos = skip_ws(buf, pos + 1),
                Some(b']') => {
                    pos += 1;
                    break;
                }
                _ => return Err(bad("expected ',' or ']' after an element")),
            }
        }
    }
    if skip_ws(buf, pos) != buf.len() {
        return Err(bad("data after the top-level array"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_arrays() {
        assert_eq!(to_lines(b" [ {\"a\":1} ,{\"b\":\"]}\\\"\"} ] ", 64).unwrap(), b"{\"a\":1}\n{\"b\":\"]}\\\"\"}\n");
        assert_eq!(to_lines(b"[]", 64).unwrap(), b"");
    }

    #[test]
    fn rejects_bad_structure() {
        for bad in [&b"{}"[..], b"[1]", b"[{}", b"[{},]", b"[{}] x", b"[{\"a\":[[[]]]}]"] {
            assert!(to_lines(bad, 3).is_err(), "{:?}", std::str::from_utf8(bad));
        }
    }
}
