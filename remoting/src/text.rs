//! Text helpers shared by the hand-written JSON writers (headers, routes) and the typed
//! header fields.

/// The decimal text of `value`, written into `buf` (20 bytes hold every i64).
pub(crate) fn decimal(value: i64, buf: &mut [u8; 20]) -> &str {
    let mut n = value.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

/// Whether any byte must be escaped in a JSON string (control characters, quote,
/// backslash): checked 16 bytes at a time without an early exit inside a block, which the
/// compiler turns into vector compares.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    let special = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        if block.iter().fold(false, |found, &b| found | special(b)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&b| special(b))
}
