//! The JSON form of a command header, read and written without building a JSON tree.
//!
//! Every request and response carries one of these headers, so they dominated the
//! broker's profile when they went through `serde_json::Value`. Headers always have the
//! same flat shape (a few scalar members and `extFields`, a map of scalars), which a
//! single pass can read. Anything this reader does not expect (a nested value, a number
//! in exponent form, a key in single quotes, fastjson's oddities) makes it give up, and
//! the caller falls back to the general parser, so odd input keeps its old meaning.

use std::borrow::Cow;

use bytes::BufMut;

use crate::command::{ExtFields, LanguageCode, RemotingCommand, SerializeType};

/// Reads a header in the common flat form, or `None` when the general parser must decide.
pub(crate) fn decode(text: &[u8]) -> Option<RemotingCommand> {
    // One UTF-8 check of the whole header; the strings cut from it below start and end
    // at ASCII quotes, so they are valid too.
    let text = std::str::from_utf8(text).ok()?;
    let mut s = Scanner { text, pos: 0 };
    // A member left out reads as Java's field default: 0, also for the version.
    let mut cmd = RemotingCommand {
        version: 0,
        serialize_type: SerializeType::Json,
        ..RemotingCommand::default()
    };
    s.expect(b'{')?;
    if !s.eat(b'}') {
        loop {
            let key = s.string()?;
            s.expect(b':')?;
            match key.as_ref() {
                "extFields" => cmd.ext_fields = s.ext_fields()?,
                "code" => cmd.code = s.scalar()?.int()? as i32,
                "version" => cmd.version = s.scalar()?.int()? as i32,
                "opaque" => cmd.opaque = s.scalar()?.int()? as i32,
                "flag" => cmd.flag = s.scalar()?.int()? as i32,
                "language" => {
                    cmd.language = match s.scalar()? {
                        Scalar::Str(name) => LanguageCode::from_name(&name).unwrap_or(LanguageCode::OTHER),
                        Scalar::Int(text) => LanguageCode(text.parse::<u64>().unwrap_or(7) as u8),
                        _ => LanguageCode::JAVA,
                    }
                }
                "remark" => cmd.remark = s.scalar()?.into_text(),
                _ => {
                    s.scalar()?;
                }
            }
            if s.eat(b',') {
                continue;
            }
            s.expect(b'}')?;
            break;
        }
    }
    s.skip_ws();
    (s.pos == text.len()).then_some(cmd)
}

enum Scalar<'a> {
    Str(Cow<'a, str>),
    /// An integer literal, as written.
    Int(&'a str),
    Bool(bool),
    Null,
}

impl Scalar<'_> {
    /// Numbers may also arrive as strings; null means 0 (the Java field's default).
    fn int(self) -> Option<i64> {
        match self {
            Scalar::Int(text) => crate::text::parse_int(text),
            Scalar::Str(text) => crate::text::parse_int(&text),
            Scalar::Null => Some(0),
            Scalar::Bool(_) => None,
        }
    }

    /// Ext-field values and remarks keep their text whatever their JSON type.
    fn text(&self) -> Option<&str> {
        match self {
            Scalar::Str(text) => Some(text),
            Scalar::Int(text) => Some(text),
            Scalar::Bool(b) => Some(if *b { "true" } else { "false" }),
            Scalar::Null => None,
        }
    }

    fn into_text(self) -> Option<String> {
        self.text().map(str::to_string)
    }
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_ws();
        if self.bytes().get(self.pos) == Some(&byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn ext_fields(&mut self) -> Option<Option<ExtFields>> {
        self.skip_ws();
        if self.bytes()[self.pos..].starts_with(b"null") {
            self.pos += 4;
            return Some(None);
        }
        self.expect(b'{')?;
        let mut fields = ExtFields::with_capacity(16);
        if self.eat(b'}') {
            return Some(Some(fields));
        }
        loop {
            let key = self.string()?;
            self.expect(b':')?;
            if let Some(value) = self.scalar()?.text() {
                fields.insert(&*key, value);
            }
            if self.eat(b',') {
                continue;
            }
            self.expect(b'}')?;
            return Some(Some(fields));
        }
    }

    fn scalar(&mut self) -> Option<Scalar<'a>> {
        self.skip_ws();
        match *self.bytes().get(self.pos)? {
            b'"' => self.string().map(Scalar::Str),
            b'-' | b'0'..=b'9' => self.integer().map(Scalar::Int),
            b't' => self.literal(b"true", Scalar::Bool(true)),
            b'f' => self.literal(b"false", Scalar::Bool(false)),
            b'n' => self.literal(b"null", Scalar::Null),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], value: Scalar<'a>) -> Option<Scalar<'a>> {
        self.bytes()[self.pos..].starts_with(word).then(|| {
            self.pos += word.len();
            value
        })
    }

    /// A canonical JSON integer that fits an i64; fractions and exponents are left to the
    /// general parser, which also decides what their text is.
    fn integer(&mut self) -> Option<&'a str> {
        let bytes = self.bytes();
        let start = self.pos;
        if bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        let digits = self.pos;
        while let Some(b'0'..=b'9') = bytes.get(self.pos) {
            self.pos += 1;
        }
        let n = self.pos - digits;
        let leading_zero = n > 1 && bytes[digits] == b'0';
        if n == 0 || n > 18 || leading_zero || matches!(bytes.get(self.pos), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.text.get(start..self.pos)
    }

    /// A double-quoted string; borrowed unless it has escapes, which the general parser's
    /// string reader decodes (so escapes mean the same on both paths).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.skip_ws();
        let bytes = self.bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            return None;
        }
        let open = self.pos;
        let close = open + 1 + crate::text::find_quote_or_backslash(&bytes[open + 1..])?;
        if bytes[close] == b'"' {
            self.pos = close + 1;
            return self.text.get(open + 1..close).map(Cow::Borrowed);
        }
        let (text, end) = crate::fastjson::read_string(bytes, open).ok()?;
        self.pos = end;
        Some(Cow::Owned(text))
    }
}

/// Writes the header as Java's fastjson does: members in alphabetical order, absent
/// (null) members left out, ext fields in their own order.
pub(crate) fn encode(cmd: &RemotingCommand, out: &mut impl BufMut) {
    out.put_slice(b"{\"code\":");
    put_int(out, cmd.code as i64);
    if let Some(ext) = &cmd.ext_fields {
        out.put_slice(b",\"extFields\":{");
        for (i, (k, v)) in ext.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            put_str(out, k);
            out.put_u8(b':');
            put_str(out, v);
        }
        out.put_u8(b'}');
    }
    out.put_slice(b",\"flag\":");
    put_int(out, cmd.flag as i64);
    out.put_slice(b",\"language\":");
    match cmd.language.name() {
        Some(name) => put_plain_str(out, name),
        None => put_int(out, cmd.language.0 as i64),
    }
    out.put_slice(b",\"opaque\":");
    put_int(out, cmd.opaque as i64);
    if let Some(remark) = &cmd.remark {
        out.put_slice(b",\"remark\":");
        put_str(out, remark);
    }
    out.put_slice(b",\"serializeTypeCurrentRPC\":");
    put_plain_str(out, cmd.serialize_type.name());
    out.put_slice(b",\"version\":");
    put_int(out, cmd.version as i64);
    out.put_u8(b'}');
}

fn put_int(out: &mut impl BufMut, value: i64) {
    out.put_slice(crate::text::decimal(value, &mut [0; 20]).as_bytes());
}

/// A string known to need no escapes (the names of enum values).
fn put_plain_str(out: &mut impl BufMut, text: &'static str) {
    out.put_u8(b'"');
    out.put_slice(text.as_bytes());
    out.put_u8(b'"');
}

/// A JSON string, escaped the way serde_json escapes (control characters, quote and
/// backslash; everything else as is).
fn put_str(out: &mut impl BufMut, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_u8(b'"');
    let bytes = text.as_bytes();
    if !crate::text::needs_escape(bytes) {
        out.put_slice(bytes);
        out.put_u8(b'"');
        return;
    }
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.put_slice(&bytes[run..i]);
        run = i + 1;
        if escape.is_empty() {
            out.put_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        } else {
            out.put_slice(escape);
        }
    }
    out.put_slice(&bytes[run..]);
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn general(text: &str) -> RemotingCommand {
        crate::frame::decode_json_header_general(text.as_bytes()).unwrap()
    }

    /// The fast reader either agrees with the general one or leaves the text to it.
    fn agrees(text: &str) -> bool {
        match decode(text.as_bytes()) {
            Some(fast) => {
                assert_eq!(fast, general(text), "{text}");
                true
            }
            None => false,
        }
    }

    /// Strings of every length around the 16-byte blocks of `needs_escape`, with a byte
    /// that must be escaped at every position (or none), written and read back.
    #[test]
    fn written_strings_read_back_for_every_length_and_escape_position() {
        for len in 0..40usize {
            for special in [None, Some('"'), Some('\\'), Some('\n'), Some('\u{1}'), Some('\u{1f}')] {
                for at in 0..len.max(1) {
                    let mut text: Vec<char> = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                    if let (Some(c), true) = (special, at < len) {
                        text[at] = c;
                    }
                    let text: String = text.into_iter().collect();
                    let mut cmd = RemotingCommand {
                        remark: Some(text.clone()),
                        ..Default::default()
                    };
                    cmd.ext_mut().insert(text.clone(), text.clone());
                    let mut out = Vec::new();
                    encode(&cmd, &mut out);
                    let back = decode(&out).expect("our own header reads back");
                    assert_eq!(back.remark.as_deref(), Some(text.as_str()));
                    assert_eq!(back.ext().get(&text), Some(text.as_str()));
                    assert_eq!(back, general(std::str::from_utf8(&out).unwrap()));
                }
            }
        }
    }

    #[test]
    fn flat_headers_read_the_same_as_the_general_parser() {
        for text in [
            r#"{"code":310,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":"4","e":"1","f":"0","g":"1700000000000","h":"0","i":"KEYS\u0001k1\u0002","j":"0","k":"false","m":"false"},"flag":0,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":453}"#,
            r#"{"code":10,"extFields":{"queueId":3,"flag":0,"unitMode":false,"batch":true,"nothing":null},"flag":0,"language":"CPP","opaque":-2,"version":0}"#,
            r#" { "code" : "34" , "language" : 9 , "remark" : null , "extFields" : null , "opaque" : 1 } "#,
            r#"{"code":0,"remark":"tab\there \"quoted\" \\ \u00e9 \ud83d\ude00","language":"RUST","extFields":{}}"#,
            r#"{"code":1,"language":"NOSUCH","someNewMember":"x","flag":1}"#,
            r#"{}"#,
            // Odd escapes: a lone surrogate, an escaped letter.
            r#"{"remark":"\ud800","extFields":{"k":"a\qb"}}"#,
        ] {
            assert!(agrees(text), "fast reader gave up on {text}");
        }
    }

    #[test]
    fn unusual_input_is_left_to_the_general_parser() {
        for text in [
            r#"{"code":1.5}"#,
            r#"{"code":1e3}"#,
            r#"{"code":007}"#,
            r#"{code:1}"#,
            r#"{'code':1}"#,
            r#"{"code":1,"extFields":{"a":{"nested":1}}}"#,
            r#"{"code":1,"extFields":{"a":"b",}}"#,
            r#"{"code":99999999999999999999}"#,
            r#"{"code":1} trailing"#,
        ] {
            assert!(decode(text.as_bytes()).is_none(), "{text}");
        }
    }

    #[test]
    fn encoding_matches_serde_json_escaping() {
        let mut cmd = RemotingCommand::request(105);
        cmd.opaque = -5;
        cmd.remark = Some("a\"b\\c\n\u{1}\u{7f}é".into());
        cmd.ext_mut().insert("topic", "T\t1");
        cmd.language = LanguageCode(42);
        let mut out = Vec::new();
        encode(&cmd, &mut out);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["remark"], "a\"b\\c\n\u{1}\u{7f}é");
        assert_eq!(value["extFields"]["topic"], "T\t1");
        assert_eq!(value["language"], 42);
        assert_eq!(value["opaque"], -5);
        assert!(std::str::from_utf8(&out).unwrap().contains(r#""a\"b\\c\n\u0001"#));
        assert_eq!(general(std::str::from_utf8(&out).unwrap()), {
            let mut expected = cmd.clone();
            expected.serialize_type = SerializeType::Json;
            expected
        });
    }
}
