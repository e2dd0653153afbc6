//! RESP2 replies, appended to an output buffer.

/// `+OK`.
pub const OK: &[u8] = b"+OK\r\n";

/// The null bulk string, Redis's nil.
pub const NIL: &[u8] = b"$-1\r\n";

/// A simple string: `+text`. `text` must hold no `\r` or `\n`.
pub fn simple(out: &mut Vec<u8>, text: &str) {
    out.push(b'+');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// An error: `-message`, with any `\r` or `\n` in it turned into a space, as Redis does,
/// so that the reply stays one line.
pub fn error(out: &mut Vec<u8>, message: &[u8]) {
    out.push(b'-');
    out.extend(
        message
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// An integer: `:n`.
pub fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    push_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// A bulk string: `$len`, the bytes, `\r\n`.
pub fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 16);
    out.push(b'$');
    push_decimal(out, bytes.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// A bulk string, or nil for `None`.
pub fn bulk_or_nil(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => bulk(out, b),
        None => out.extend_from_slice(NIL),
    }
}

/// The header of an array of `len` elements: `*len`.
pub fn array(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    push_decimal(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_resp2() {
        let mut out = Vec::new();
        simple(&mut out, "PONG");
        error(&mut out, b"ERR bad\r\nthing");
        integer(&mut out, -42);
        integer(&mut out, i64::MIN);
        bulk(&mut out, b"a\r\nb");
        bulk_or_nil(&mut out, None);
        array(&mut out, 2);
        assert_eq!(
            out,
            b"+PONG\r\n-ERR bad  thing\r\n:-42\r\n:-9223372036854775808\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n"
        );
    }
}
