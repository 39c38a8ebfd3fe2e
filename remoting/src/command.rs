//! `RemotingCommand`: the one message type of the remoting protocol, used for requests,
//! responses and oneway notifications alike.

use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

use bytes::Bytes;

use crate::code::{response, version};
use crate::header::{CommandHeader, HeaderError};

/// Bit 0 of `flag`: set on responses.
pub const FLAG_RESPONSE: i32 = 1;
/// Bit 1 of `flag`: set on requests that want no response.
pub const FLAG_ONEWAY: i32 = 1 << 1;

static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(0);

/// A fresh request id for a command this process originates.
pub fn next_opaque() -> i32 {
    NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed)
}

/// How a command's header is serialized: the high byte of the frame's header-length word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    #[default]
    Json,
    /// RocketMQ's compact binary header form.
    RocketMq,
}

impl SerializeType {
    pub fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SerializeType::Json => "JSON",
            SerializeType::RocketMq => "ROCKETMQ",
        }
    }
}

/// The language a peer says it is written in. Kept as the raw byte so that values this
/// implementation does not know survive a decode/encode round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LanguageCode(pub u8);

const LANGUAGE_NAMES: [&str; 13] = [
    "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST",
];

impl LanguageCode {
    pub const JAVA: LanguageCode = LanguageCode(0);
    pub const CPP: LanguageCode = LanguageCode(1);
    pub const OTHER: LanguageCode = LanguageCode(7);
    pub const GO: LanguageCode = LanguageCode(9);
    pub const RUST: LanguageCode = LanguageCode(12);

    /// The enum name Java writes in JSON headers, if this code has one.
    pub fn name(self) -> Option<&'static str> {
        LANGUAGE_NAMES.get(self.0 as usize).copied()
    }

    pub fn from_name(name: &str) -> Option<Self> {
        LANGUAGE_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| LanguageCode(i as u8))
    }
}

impl Default for LanguageCode {
    fn default() -> Self {
        LanguageCode::JAVA
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The `extFields` map of a header. Insertion order is kept so that a decoded binary
/// header encodes back to the same bytes; keys are unique (a later insert replaces).
///
/// Keys and values live back to back in one string: decoding a header of twenty fields
/// costs one allocation for their text instead of forty.
#[derive(Clone, Default)]
pub struct ExtFields {
    text: String,
    entries: Vec<Entry>,
    /// One bit per key hash (`key_bit`): a key whose bit is clear is not here, so the
    /// distinct keys of a decoded header go in without a comparison with each earlier one.
    /// Removal leaves bits set, which only costs a search.
    present: u64,
}

/// Where one key and its value are in `ExtFields::text`.
#[derive(Clone, Copy)]
struct Entry {
    key_at: u32,
    key_len: u32,
    value_at: u32,
    value_len: u32,
}

/// A bit chosen by a key's length and end bytes, which differ among the keys of the
/// common request headers (the one-letter SEND_MESSAGE_V2 keys, the pull header's).
#[inline]
fn key_bit(key: &[u8]) -> u64 {
    let (first, last) = match key {
        [] => (0, 0),
        [first, .., last] => (*first, *last),
        [only] => (*only, *only),
    };
    let hash = (key.len() as u32).wrapping_mul(13) ^ (first as u32 * 6) ^ last as u32;
    1 << (hash & 63)
}

/// Header keys are short: comparing them in place beats a call to `memcmp`.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

impl ExtFields {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `fields` entries (their text grows as needed).
    pub fn with_capacity(fields: usize) -> Self {
        ExtFields {
            text: String::with_capacity(fields * 24),
            entries: Vec::with_capacity(fields),
            present: 0,
        }
    }

    fn key(&self, e: &Entry) -> &str {
        &self.text[e.key_at as usize..(e.key_at + e.key_len) as usize]
    }

    fn value(&self, e: &Entry) -> &str {
        &self.text[e.value_at as usize..(e.value_at + e.value_len) as usize]
    }

    fn position(&self, key: &str) -> Option<usize> {
        let (key, text) = (key.as_bytes(), self.text.as_bytes());
        if self.present & key_bit(key) == 0 {
            return None;
        }
        self.entries.iter().position(|e| {
            e.key_len as usize == key.len()
                && text
                    .get(e.key_at as usize..e.key_at as usize + key.len())
                    .is_some_and(|k| same_bytes(k, key))
        })
    }

    /// Appends `piece` to the text: (offset, length).
    fn push_text(&mut self, piece: &str) -> (u32, u32) {
        // A header is at most one frame (under 2 GiB), so its text fits a u32.
        let at = u32::try_from(self.text.len()).expect("ext fields over 4 GiB");
        if self.text.capacity() == 0 {
            // A typed header written into fresh fields: room for a few, not a regrowth
            // at 8, 16, 32 and 64 bytes.
            self.text.reserve(piece.len().max(96));
            self.entries.reserve(6);
        }
        self.text.push_str(piece);
        (at, piece.len() as u32)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| self.value(&self.entries[i]))
    }

    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        // A replaced value's old text stays behind unused; replacing is rare.
        let (value_at, value_len) = self.push_text(value);
        match self.position(key) {
            Some(i) => {
                let e = &mut self.entries[i];
                (e.value_at, e.value_len) = (value_at, value_len);
            }
            None => {
                self.present |= key_bit(key.as_bytes());
                let (key_at, key_len) = self.push_text(key);
                self.entries.push(Entry {
                    key_at,
                    key_len,
                    value_at,
                    value_len,
                });
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.position(key)?;
        let value = self.value(&self.entries[i]).to_string();
        self.entries.remove(i);
        Some(value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|e| (self.key(e), self.value(e)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut fields = ExtFields::new();
        for (k, v) in iter {
            fields.insert(k, v);
        }
        fields
    }
}

/// One remoting command: a request, a response, or a oneway notification.
#[derive(Debug, Clone, PartialEq)]
pub struct RemotingCommand {
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    /// `None` when the header had no `extFields` member at all (JSON), which Java
    /// distinguishes from an empty map when it writes JSON headers.
    pub ext_fields: Option<ExtFields>,
    pub serialize_type: SerializeType,
    pub body: Bytes,
}

impl Default for RemotingCommand {
    fn default() -> Self {
        RemotingCommand {
            code: 0,
            language: LanguageCode::JAVA,
            version: version::CURRENT,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: None,
            serialize_type: SerializeType::Json,
            body: Bytes::new(),
        }
    }
}

impl RemotingCommand {
    /// A request originated by this process: language JAVA, version 4.9.8, a fresh opaque.
    pub fn request(code: i32) -> Self {
        RemotingCommand {
            code,
            opaque: next_opaque(),
            ..Default::default()
        }
    }

    /// A request whose ext fields come from a typed header.
    pub fn request_with_header(code: i32, header: &impl CommandHeader) -> Self {
        let mut cmd = Self::request(code);
        cmd.set_header(header);
        cmd
    }

    /// A response to `request`: same opaque and serialize type, response flag set.
    pub fn response_to(request: &RemotingCommand, code: i32, remark: Option<String>) -> Self {
        RemotingCommand {
            code,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            remark,
            serialize_type: request.serialize_type,
            ..Default::default()
        }
    }

    /// A SUCCESS response to `request`.
    pub fn success(request: &RemotingCommand) -> Self {
        Self::response_to(request, response::SUCCESS, None)
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_header(mut self, header: &impl CommandHeader) -> Self {
        self.set_header(header);
        self
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    pub fn oneway(mut self) -> Self {
        self.flag |= FLAG_ONEWAY;
        self
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// The ext fields, empty when the header had none.
    pub fn ext(&self) -> &ExtFields {
        static EMPTY: ExtFields = ExtFields {
            text: String::new(),
            entries: Vec::new(),
            present: 0,
        };
        self.ext_fields.as_ref().unwrap_or(&EMPTY)
    }

    pub fn ext_mut(&mut self) -> &mut ExtFields {
        self.ext_fields.get_or_insert_with(ExtFields::new)
    }

    /// Reads a typed header from the ext fields.
    pub fn decode_header<H: CommandHeader>(&self) -> Result<H, HeaderError> {
        H::from_ext(self.ext())
    }

    /// Writes a typed header into the ext fields (creating them if absent).
    pub fn set_header(&mut self, header: &impl CommandHeader) {
        header.write_ext(self.ext_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_fields_with_more_keys_than_filter_bits_keep_one_value_each() {
        // 300 keys share the 64 bits of the presence filter, so many collide.
        let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
        let mut ext = ExtFields::new();
        for (i, key) in keys.iter().enumerate() {
            ext.insert(key, i.to_string());
        }
        for (i, key) in keys.iter().enumerate().step_by(3) {
            ext.insert(key, format!("again {i}"));
        }
        assert_eq!(ext.len(), 300);
        for (i, key) in keys.iter().enumerate() {
            let expected = if i % 3 == 0 {
                format!("again {i}")
            } else {
                i.to_string()
            };
            assert_eq!(ext.get(key), Some(expected.as_str()), "{key}");
        }
        assert_eq!(ext.remove("k7").as_deref(), Some("7"));
        assert_eq!(ext.get("k7"), None);
        ext.insert("k7", "back");
        assert_eq!(ext.get("k7"), Some("back"));
        assert_eq!(ext.len(), 300);
        assert_eq!(ext.get("k300"), None);
    }

    #[test]
    fn ext_fields_keep_order_and_one_value_per_key() {
        let mut ext = ExtFields::with_capacity(2);
        ext.insert("topic", "T");
        ext.insert("queueId", "3");
        ext.insert("a", "");
        ext.insert("topic", "a much longer topic name than before");
        ext.insert("queueId", "4");
        assert_eq!(ext.len(), 3);
        let pairs: Vec<_> = ext.iter().collect();
        assert_eq!(
            pairs,
            [
                ("topic", "a much longer topic name than before"),
                ("queueId", "4"),
                ("a", "")
            ]
        );
        assert_eq!(ext.get("a"), Some(""));
        assert_eq!(ext.get("b"), None);
        assert_eq!(ext.get("topi"), None);
        // Same length, first and last byte as "topic".
        assert_eq!(ext.get("txxxc"), None);
        ext.insert("txxxc", "x");
        assert_eq!(ext.get("txxxc"), Some("x"));
        assert_eq!(ext.remove("txxxc").as_deref(), Some("x"));
        assert_eq!(ext.remove("queueId").as_deref(), Some("4"));
        assert_eq!(ext.remove("queueId"), None);
        assert_eq!(ext.get("a"), Some(""));

        // Equal by content, whatever text a replaced value left behind.
        let fresh: ExtFields = [("topic", "a much longer topic name than before"), ("a", "")]
            .into_iter()
            .collect();
        assert_eq!(ext, fresh);
        let reordered: ExtFields = [("a", ""), ("topic", "a much longer topic name than before")]
            .into_iter()
            .collect();
        assert_ne!(ext, reordered);
        assert_eq!(
            format!("{fresh:?}"),
            r#"{"topic": "a much longer topic name than before", "a": ""}"#
        );
    }
}
