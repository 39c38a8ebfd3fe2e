//! RocketMQ's JSON dialect. The Java side serializes with fastjson, which writes map keys
//! of integer type without quotes (`{"brokerAddrs":{0:"127.0.0.1:10911"}}`) and, for maps
//! keyed by objects, writes the key object itself (`{{"topic":"T","queueId":0}:5}`).
//! Neither is JSON, so we read it with our own parser and write it with a serde_json
//! formatter that leaves integer keys bare.
//!
//! Reading yields a `serde_json::Value`: a bare number key becomes its decimal text, and an
//! object or array key becomes its compact standard-JSON text, so typed structs can be
//! deserialized from the value with serde as usual.

use std::io;

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid JSON at byte {offset}: {reason}")]
pub struct ParseError {
    pub offset: usize,
    pub reason: &'static str,
}

/// How deep objects and arrays may nest before the parser gives up (bounds recursion on
/// hostile input).
const MAX_DEPTH: usize = 128;

/// Parses standard JSON or fastjson's dialect.
pub fn parse(text: &[u8]) -> Result<Value, ParseError> {
    // Standard JSON is the common case and serde_json is fast at it.
    if let Ok(value) = serde_json::from_slice(text) {
        return Ok(value);
    }
    let mut parser = Parser { text, pos: 0, depth: 0 };
    parser.skip_ws();
    let value = parser.value()?;
    parser.skip_ws();
    if parser.pos != text.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

/// Reads the string whose opening quote is at `text[at]`, unescaping as [`parse`] does.
/// Returns the string and the position just past its closing quote.
pub(crate) fn read_string(text: &[u8], at: usize) -> Result<(String, usize), ParseError> {
    let mut parser = Parser {
        text,
        pos: at,
        depth: 0,
    };
    let quote = text.get(at).copied().unwrap_or(b'"');
    let s = parser.string(quote)?;
    Ok((s, parser.pos))
}

/// Parses fastjson-dialect text and deserializes it into `T`.
pub fn from_slice<T: serde::de::DeserializeOwned>(text: &[u8]) -> Result<T, String> {
    // Most bodies are standard JSON: read them straight into the type, with no value tree
    // in between (a 1.5 MB registration body of 10,000 topics: 7-11 ms instead of 36 ms,
    // release build). Anything serde_json refuses (fastjson's bare keys, single quotes,
    // ...) takes the dialect parser, as before.
    if let Ok(typed) = serde_json::from_slice(text) {
        return Ok(typed);
    }
    let value = parse(text).map_err(|e| e.to_string())?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> ParseError {
        ParseError {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), ParseError> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(reason))
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(q @ (b'"' | b'\'')) => self.string(q).map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn nested(&mut self, inner: fn(&mut Self) -> Result<Value, ParseError>) -> Result<Value, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.depth += 1;
        let result = inner(self);
        self.depth -= 1;
        result
    }

    fn literal(&mut self, word: &'static str, value: Value) -> Result<Value, ParseError> {
        if self.text[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn number_text(&mut self) -> Result<&str, ParseError> {
        let start = self.pos;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        // fastjson may suffix longs and floats with a type letter.
        let end = self.pos;
        if let Some(b'L' | b'l' | b'F' | b'f' | b'D' | b'd' | b'S' | b'B') = self.peek() {
            self.pos += 1;
        }
        std::str::from_utf8(&self.text[start..end]).map_err(|_| self.error("invalid number"))
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let text = self.number_text()?;
        let parsed: Option<Value> = if let Ok(i) = text.parse::<i64>() {
            Some(Value::from(i))
        } else if let Ok(u) = text.parse::<u64>() {
            Some(Value::from(u))
        } else {
            text.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
        };
        parsed.ok_or(ParseError {
            offset: start,
            reason: "invalid number",
        })
    }

    fn string(&mut self, quote: u8) -> Result<String, ParseError> {
        // Past the opening quote. Escapes only shorten the text, so up to the next quote is
        // room enough for most strings.
        self.pos += 1;
        let room = memchr::memchr(quote, &self.text[self.pos..]).unwrap_or(0);
        let mut out: Vec<u8> = Vec::with_capacity(room);
        loop {
            // Runs without escapes are copied whole.
            let rest = &self.text[self.pos..];
            let Some(run) = memchr::memchr2(quote, b'\\', rest) else {
                self.pos = self.text.len();
                return Err(self.error("unterminated string"));
            };
            out.extend_from_slice(&rest[..run]);
            self.pos += run + 1;
            if rest[run] == quote {
                break;
            }
            let Some(esc) = self.peek() else {
                return Err(self.error("unterminated escape"));
            };
            self.pos += 1;
            match esc {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'u' => {
                    let c = self.unicode_escape()?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                other => out.push(other),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("string is not UTF-8"))
    }

    /// Four hex digits, read as `u32::from_str_radix` would (which also takes a leading
    /// `+`), without going through a `str`.
    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("short unicode escape"))?;
        let digits = digits.strip_prefix(b"+").unwrap_or(digits);
        if digits.is_empty() {
            return Err(self.error("bad unicode escape"));
        }
        let mut value = 0;
        for &d in digits {
            let nibble = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("bad unicode escape"))?;
            value = value << 4 | nibble;
        }
        self.pos += 4;
        Ok(value)
    }

    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.text[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            self.pos = save;
        }
        Ok(char::from_u32(first).unwrap_or('\u{FFFD}'))
    }

    fn key(&mut self) -> Result<String, ParseError> {
        self.skip_ws();
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => self.string(q),
            Some(b'-' | b'0'..=b'9') => Ok(self.number_text()?.to_string()),
            Some(b'{' | b'[') => {
                let key = self.value()?;
                Ok(key.to_string())
            }
            Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'$' => {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                Ok(String::from_utf8_lossy(&self.text[start..self.pos]).into_owned())
            }
            _ => Err(self.error("expected an object key")),
        }
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        self.pos += 1; // '{'
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            let key = self.key()?;
            self.expect(b':', "expected ':' after an object key")?;
            let value = self.value()?;
            map.insert(key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                    // fastjson tolerates a trailing comma.
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        return Ok(Value::Object(map));
                    }
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        return Ok(Value::Array(items));
                    }
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }
}

/// Serializes `value` as standard JSON (integer map keys quoted).
pub fn to_standard_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("serializing an in-memory value cannot fail")
}

/// Serializes `value` the way fastjson's default settings do: map keys of integer type are
/// written without quotes. Which keys are integers comes from the Rust types (a
/// `BTreeMap<i64, String>` key is bare, a `String` key that happens to be numeric is quoted).
pub fn to_legacy_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, LegacyFormatter::default());
    value
        .serialize(&mut ser)
        .expect("serializing an in-memory value cannot fail");
    out
}

/// A serde_json formatter that drops the quotes serde_json puts around integer map keys.
///
/// serde_json writes an integer key as `begin_string`, `write_iN`, `end_string`, and a
/// string key as `begin_string`, fragments, `end_string`. Inside a key we hold back the
/// opening quote until we see which of the two follows.
#[derive(Default)]
struct LegacyFormatter {
    in_key: bool,
    quote_pending: bool,
    bare_key: bool,
}

impl LegacyFormatter {
    fn flush_quote<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<()> {
        if self.quote_pending {
            self.quote_pending = false;
            writer.write_all(b"\"")?;
        }
        Ok(())
    }

    fn integer_key(&mut self) {
        if self.quote_pending {
            self.quote_pending = false;
            self.bare_key = true;
        }
    }
}

macro_rules! legacy_int_writers {
    ($($method:ident: $t:ty),*) => {$(
        fn $method<W: io::Write + ?Sized>(&mut self, writer: &mut W, value: $t) -> io::Result<()> {
            self.integer_key();
            write!(writer, "{}", value)
        }
    )*};
}

impl serde_json::ser::Formatter for LegacyFormatter {
    legacy_int_writers!(write_i8: i8, write_i16: i16, write_i32: i32, write_i64: i64,
        write_u8: u8, write_u16: u16, write_u32: u32, write_u64: u64);

    fn begin_object_key<W: io::Write + ?Sized>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.in_key = true;
        if first {
            Ok(())
        } else {
            writer.write_all(b",")
        }
    }

    fn end_object_key<W: io::Write + ?Sized>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.in_key = false;
        Ok(())
    }

    fn begin_string<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<()> {
        if self.in_key {
            self.quote_pending = true;
            Ok(())
        } else {
            writer.write_all(b"\"")
        }
    }

    fn end_string<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<()> {
        if self.bare_key {
            self.bare_key = false;
            return Ok(());
        }
        self.flush_quote(writer)?;
        writer.write_all(b"\"")
    }

    fn write_string_fragment<W: io::Write + ?Sized>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        self.flush_quote(writer)?;
        writer.write_all(fragment.as_bytes())
    }

    fn write_char_escape<W: io::Write + ?Sized>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        self.flush_quote(writer)?;
        serde_json::ser::CompactFormatter.write_char_escape(writer, char_escape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Broker {
        broker_addrs: BTreeMap<i64, String>,
        names: BTreeMap<String, i32>,
    }

    fn sample() -> Broker {
        Broker {
            broker_addrs: [(0, "127.0.0.1:10911".to_string()), (1, "a\"b".to_string())].into(),
            names: [("7".to_string(), 1), ("".to_string(), 2)].into(),
        }
    }

    #[test]
    fn legacy_form_leaves_integer_keys_bare_and_string_keys_quoted() {
        let text = String::from_utf8(to_legacy_vec(&sample())).unwrap();
        assert_eq!(
            text,
            r#"{"brokerAddrs":{0:"127.0.0.1:10911",1:"a\"b"},"names":{"":2,"7":1}}"#
        );
        let standard = String::from_utf8(to_standard_vec(&sample())).unwrap();
        assert_eq!(
            standard,
            r#"{"brokerAddrs":{"0":"127.0.0.1:10911","1":"a\"b"},"names":{"":2,"7":1}}"#
        );
    }

    #[test]
    fn legacy_form_round_trips_through_the_parser() {
        let text = to_legacy_vec(&sample());
        let back: Broker = from_slice(&text).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn parses_object_keys_and_fastjson_oddities() {
        let text = br#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:12,{"brokerName":"b","queueId":1,"topic":"T"}:3L},'x':[1,2,],k:true,}"#;
        let v = parse(text).unwrap();
        let table = v["offsetTable"].as_object().unwrap();
        let (key, value) = table.iter().next().unwrap();
        let key: Value = serde_json::from_str(key).unwrap();
        assert_eq!(key["queueId"], 0);
        assert_eq!(value, 12);
        assert_eq!(v["x"], serde_json::json!([1, 2]));
        assert_eq!(v["k"], true);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [&b"{"[..], b"{0:}", b"[1,", b"{\"a\":\"\\u12\"}", b"}", b"", b"{{{{"] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(10_000);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
