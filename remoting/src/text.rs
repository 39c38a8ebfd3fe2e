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

/// An integer field's value: plain decimal digits (the usual case) are read directly;
/// anything else goes through `trim` and `str::parse`, which decide what it means.
pub(crate) fn parse_int<T: TryFrom<i64> + std::str::FromStr>(text: &str) -> Option<T> {
    let bytes = text.as_bytes();
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return text.trim().parse().ok();
    }
    let magnitude = digits.iter().fold(0i64, |n, &d| n * 10 + (d - b'0') as i64);
    let value = if digits.len() < bytes.len() {
        -magnitude
    } else {
        magnitude
    };
    T::try_from(value).ok()
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is zero (exact for the lowest such byte, which
/// is all the callers use or ask about).
#[inline]
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// The high bit of each byte that is a quote or a backslash.
#[inline]
fn quotes_or_backslashes(word: u64) -> u64 {
    zero_bytes(word ^ (ONES * b'"' as u64)) | zero_bytes(word ^ (ONES * b'\\' as u64))
}

/// Whether any byte of `word` is a control character, a quote or a backslash.
#[inline]
fn has_special(word: u64) -> bool {
    let controls = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    (controls | quotes_or_backslashes(word)) != 0
}

#[inline]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// Whether any byte must be escaped in a JSON string (control characters, quote,
/// backslash). Header strings are mostly a few bytes long, so this looks at eight bytes
/// per step in a plain register rather than paying for a vector loop's set-up.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    let special = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    if bytes.len() < 8 {
        return bytes.iter().any(|&b| special(b));
    }
    let mut at = 0;
    while at + 8 <= bytes.len() {
        if has_special(word_at(bytes, at)) {
            return true;
        }
        at += 8;
    }
    // The last word overlaps bytes already checked, which changes nothing.
    at != bytes.len() && has_special(word_at(bytes, bytes.len() - 8))
}

/// Where the first quote or backslash of `bytes` is. Eight bytes per step for the short
/// strings of a header; past 32 bytes `memchr`'s vector loop is worth its set-up.
pub(crate) fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const HEAD: usize = 32;
    let head = &bytes[..bytes.len().min(HEAD)];
    let mut words = head.chunks_exact(8);
    for (i, word) in (&mut words).enumerate() {
        let hits = quotes_or_backslashes(u64::from_le_bytes(word.try_into().expect("eight bytes")));
        if hits != 0 {
            return Some(i * 8 + (hits.trailing_zeros() / 8) as usize);
        }
    }
    let at = head.len() - words.remainder().len();
    if at == HEAD {
        return memchr::memchr2(b'"', b'\\', &bytes[HEAD..]).map(|i| HEAD + i);
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_as_str_parse_reads_them() {
        for text in [
            "0",
            "-0",
            "7",
            "-7",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "999999999999999999",
            "-999999999999999999",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "",
            "-",
            " 12 ",
            "+12",
            "1_0",
            "1.0",
            "0012",
            "--1",
            "\u{3000}5",
        ] {
            assert_eq!(parse_int::<i32>(text), text.trim().parse::<i32>().ok(), "{text:?}");
            assert_eq!(parse_int::<i64>(text), text.trim().parse::<i64>().ok(), "{text:?}");
        }
    }

    #[test]
    fn quote_or_backslash_found_first_at_every_position() {
        for len in 0..80usize {
            for at in 0..=len {
                for first in [b'"', b'\\'] {
                    let mut text = vec![b'x'; len];
                    if at < len {
                        text[at] = first;
                        // A later hit and a byte just above the quote must not confuse it.
                        if at + 1 < len {
                            text[at + 1] = b'"' + 1;
                        }
                        if at + 3 < len {
                            text[at + 3] = b'\\';
                        }
                    }
                    let expected = text.iter().position(|&b| b == b'"' || b == b'\\');
                    assert_eq!(find_quote_or_backslash(&text), expected, "len {len} at {at}");
                }
            }
        }
    }

    #[test]
    fn escape_needed_for_every_special_byte_at_every_position() {
        assert!(!needs_escape("é€😀 ~\u{7f}é€😀 ~".as_bytes()));
        for len in 0..40usize {
            assert!(!needs_escape(&vec![b'a'; len]));
            for at in 0..len {
                for special in (0u8..0x20).chain([b'"', b'\\']) {
                    let mut text = vec![0x7fu8; len];
                    text[at] = special;
                    assert!(needs_escape(&text), "len {len} at {at} byte {special}");
                }
            }
        }
    }
}
