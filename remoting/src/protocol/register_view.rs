//! A JSON `RegisterBrokerBody` read in place: the name server's decode of a registration
//! whose data version changed.
//!
//! The generic decode ([`RegisterBrokerBody::decode`]) gives every topic an owned
//! [`TopicConfig`] in a `BTreeMap`: for a body of 1,000 topics that is two or three
//! allocations, a UTF-8 check and a map insertion per topic, and most of a changed
//! registration's cost. This reader scans the body once (after one UTF-8 check of the
//! whole of it), matches the fields of each topic by their exact key bytes, borrows the
//! strings without escapes from the body, and keeps the topics in a vector sorted by key
//! (what the map would have iterated).
//!
//! It reads only the shape it knows and declines (returns `None`) on anything else: a
//! non-standard (fastjson dialect) body, a key with escapes where a field name is
//! expected, a field given twice, a number that is not a plain integer, nesting deeper than
//! [`MAX_DEPTH`], and so on. The caller then takes the generic decode, which gives the
//! answer (or the error) it always gave. What this reader accepts, it reads exactly as the
//! generic decode does: [`RegisterBrokerBodyView::to_owned`] of a view equals the generic
//! decode of the same body (the tests below check this over many bodies).

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::register::RegisterBrokerBody;
use super::topic::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};

/// Deeper nesting than this anywhere in the body: decline (serde_json gives up at 128).
const MAX_DEPTH: usize = 100;

/// One topic's configuration, its strings borrowed from the body where they have no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfigView<'a> {
    pub attributes: Option<BTreeMap<String, String>>,
    pub order: bool,
    pub perm: i32,
    pub read_queue_nums: i32,
    pub topic_filter_type: Cow<'a, str>,
    pub topic_name: Cow<'a, str>,
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

/// [`TopicConfig::default`], without its allocation (a test checks they agree).
impl Default for TopicConfigView<'_> {
    fn default() -> Self {
        TopicConfigView {
            attributes: None,
            order: false,
            perm: super::route::perm::READ | super::route::perm::WRITE,
            read_queue_nums: 16,
            topic_filter_type: Cow::Borrowed("SINGLE_TAG"),
            topic_name: Cow::Borrowed(""),
            topic_sys_flag: 0,
            write_queue_nums: 16,
        }
    }
}

impl TopicConfigView<'_> {
    pub fn to_owned(&self) -> TopicConfig {
        TopicConfig {
            attributes: self.attributes.clone(),
            order: self.order,
            perm: self.perm,
            read_queue_nums: self.read_queue_nums,
            topic_filter_type: self.topic_filter_type.to_string(),
            topic_name: self.topic_name.to_string(),
            topic_sys_flag: self.topic_sys_flag,
            write_queue_nums: self.write_queue_nums,
        }
    }
}

/// A JSON `RegisterBrokerBody`, read by [`RegisterBrokerBodyView::read`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterBrokerBodyView<'a> {
    pub filter_server_list: Vec<String>,
    pub data_version: DataVersion,
    /// `topicConfigTable`: sorted by key, one entry per key (the last one given, as a map
    /// would keep).
    pub topics: Vec<(Cow<'a, str>, TopicConfigView<'a>)>,
    /// `topicQueueMappingInfoMap` (5.x static topics), as the generic decode reads it.
    pub topic_queue_mapping_info_map: BTreeMap<String, serde_json::Value>,
}

impl<'a> RegisterBrokerBodyView<'a> {
    /// The body read in place, or `None` when it is not in the shape this reader knows (the
    /// generic decode must then decide).
    pub fn read(body: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(body).ok()?;
        let mut scan = Scan {
            text,
            b: body,
            pos: 0,
            depth: 0,
        };
        let mut view = RegisterBrokerBodyView {
            // About 150 bytes of JSON per topic: one allocation for most bodies.
            topics: Vec::with_capacity(body.len() / 128),
            ..Default::default()
        };
        let mut seen = 0u8;
        scan.object(|s, key| {
            match key {
                b"filterServerList" => {
                    once(&mut seen, 1)?;
                    view.filter_server_list = s.delegated()?;
                }
                b"topicConfigSerializeWrapper" => {
                    once(&mut seen, 2)?;
                    s.wrapper(&mut view)?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })?;
        scan.ws();
        if scan.pos != body.len() {
            return None;
        }
        sort_and_dedup(&mut view.topics);
        Some(view)
    }

    /// What the generic decode gives for the same body.
    pub fn to_owned(&self) -> RegisterBrokerBody {
        RegisterBrokerBody {
            filter_server_list: self.filter_server_list.clone(),
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                data_version: self.data_version.clone(),
                topic_config_table: self
                    .topics
                    .iter()
                    .map(|(key, config)| (key.to_string(), config.to_owned()))
                    .collect(),
                topic_queue_mapping_info_map: self.topic_queue_mapping_info_map.clone(),
            },
        }
    }
}

/// Marks a struct field as seen; `None` when it was seen before (serde refuses a duplicate
/// field, so the generic decode must answer).
fn once(seen: &mut u8, bit: u8) -> Option<()> {
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

/// A map keeps the last value of a key given twice and iterates in key order. Bodies from
/// our broker (a BTreeMap) come sorted; Java's (a hash map) do not.
fn sort_and_dedup<T>(topics: &mut Vec<(Cow<'_, str>, T)>) {
    if topics.windows(2).all(|w| w[0].0 < w[1].0) {
        return;
    }
    // Stable: of equal keys, the last given stays last...
    topics.sort_by(|a, b| a.0.cmp(&b.0));
    // ...and is the one kept.
    topics.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            std::mem::swap(later, kept);
            true
        } else {
            false
        }
    });
}

struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

/// Bytes that end the plain run of a string: the quote, the backslash, control characters.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The position of the first byte at or after `i` that ends a string's plain run (see
/// [`STRING_STOP`]), eight bytes at a time; `None` at the end of the text.
fn plain_run_end(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // High bit set in the lowest byte below `n` (exact for the lowest such byte; bytes of
    // 0x80 and above never count).
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap());
        let hits = below(w ^ (ONES * u64::from(b'"')), 1) | below(w ^ (ONES * u64::from(b'\\')), 1) | below(w, 0x20);
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while !STRING_STOP[usize::from(*b.get(i)?)] {
        i += 1;
    }
    Some(i)
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Reads `{ "key": value, ... }`; `member` is called with each key (which must have no
    /// escapes) and the position at its value, and must read the value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.enter(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            self.ws();
            let (key, escaped) = self.string_raw()?;
            if escaped {
                return None;
            }
            self.colon()?;
            member(self, key)?;
            if self.next_member(b'}')? {
                return Some(());
            }
        }
    }

    /// After a member or element: true at the closing byte (consumed), false at a comma.
    fn next_member(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        self.pos += 1;
        if c == b',' {
            Some(false)
        } else if c == close {
            self.depth -= 1;
            Some(true)
        } else {
            None
        }
    }

    fn enter(&mut self, open: u8) -> Option<()> {
        self.ws();
        if self.peek() != Some(open) || self.depth >= MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.depth += 1;
        Some(())
    }

    fn colon(&mut self) -> Option<()> {
        self.ws();
        if self.peek() != Some(b':') {
            return None;
        }
        self.pos += 1;
        self.ws();
        Some(())
    }

    /// The string at `pos` (which must be its opening quote): its raw bytes between the
    /// quotes and whether they hold escapes (each a valid JSON escape).
    fn string_raw(&mut self) -> Option<(&'a [u8], bool)> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = plain_run_end(self.b, i)?;
            match self.b[i] {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i += 1;
                    match *self.b.get(i)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 1,
                        b'u' => {
                            let hex = self.b.get(i + 1..i + 5)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            i += 5;
                        }
                        _ => return None,
                    }
                }
                _ => return None, // a control character
            }
        }
        self.pos = i + 1;
        Some((&self.b[start..i], escaped))
    }

    /// The string at `pos`, unescaped by serde_json when it has escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let open = self.pos;
        let (raw, escaped) = self.string_raw()?;
        if escaped {
            serde_json::from_str::<String>(&self.text[open..self.pos])
                .ok()
                .map(Cow::Owned)
        } else {
            // The whole body is UTF-8 and the quotes are ASCII: so is this.
            Some(Cow::Borrowed(&self.text[open + 1..open + 1 + raw.len()]))
        }
    }

    /// A JSON integer that fits an i32 (no fraction, no exponent, no leading zero, not -0).
    fn i32(&mut self) -> Option<i32> {
        let negative = self.peek() == Some(b'-');
        let mut i = self.pos + usize::from(negative);
        let first = i;
        let mut value: i64 = 0;
        while let Some(d @ b'0'..=b'9') = self.b.get(i).copied() {
            value = value * 10 + i64::from(d - b'0');
            if value > 1 << 31 {
                return None;
            }
            i += 1;
        }
        let digits = i - first;
        // serde_json reads `-0` as a float, which an i32 field refuses.
        if digits == 0 || (digits > 1 && self.b[first] == b'0') || (negative && value == 0) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.b.get(i) {
            return None;
        }
        self.pos = i;
        i32::try_from(if negative { -value } else { value }).ok()
    }

    fn bool(&mut self) -> Option<bool> {
        let rest = &self.b[self.pos..];
        if rest.starts_with(b"true") {
            self.pos += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Some(false)
        } else {
            None
        }
    }

    /// Skips one value, checking it is standard JSON.
    fn skip_value(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'{' => {
                self.enter(b'{')?;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    self.depth -= 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.string_raw()?;
                    self.colon()?;
                    self.skip_value()?;
                    if self.next_member(b'}')? {
                        return Some(());
                    }
                }
            }
            b'[' => {
                self.enter(b'[')?;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    self.depth -= 1;
                    return Some(());
                }
                loop {
                    self.skip_value()?;
                    if self.next_member(b']')? {
                        return Some(());
                    }
                }
            }
            b'"' => self.string_raw().map(|_| ()),
            b't' | b'f' => self.bool().map(|_| ()),
            b'n' => self.null(),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn null(&mut self) -> Option<()> {
        if self.b[self.pos..].starts_with(b"null") {
            self.pos += 4;
            Some(())
        } else {
            None
        }
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let digits = |s: &mut Self| {
            let from = s.pos;
            while let Some(b'0'..=b'9') = s.peek() {
                s.pos += 1;
            }
            s.pos - from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let first = self.pos;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[first] == b'0') {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        Some(())
    }

    /// The value at `pos`, found by [`Scan::skip_value`] and read by serde_json (for the
    /// small members read rarely or once: data version, filter servers, mappings, attributes).
    fn delegated<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        let start = self.pos;
        self.skip_value()?;
        serde_json::from_str(&self.text[start..self.pos]).ok()
    }

    /// `topicConfigSerializeWrapper`.
    fn wrapper(&mut self, view: &mut RegisterBrokerBodyView<'a>) -> Option<()> {
        let mut seen = 0u8;
        self.object(|s, key| {
            match key {
                b"dataVersion" => {
                    once(&mut seen, 1)?;
                    view.data_version = s.delegated()?;
                }
                b"topicConfigTable" => {
                    once(&mut seen, 2)?;
                    s.topic_table(&mut view.topics)?;
                }
                b"topicQueueMappingInfoMap" => {
                    once(&mut seen, 4)?;
                    // `null` reads as empty, as in the generic decode.
                    view.topic_queue_mapping_info_map = s
                        .delegated::<Option<BTreeMap<String, serde_json::Value>>>()?
                        .unwrap_or_default();
                }
                _ => s.skip_value()?,
            }
            Some(())
        })
    }

    /// `topicConfigTable`: `{ "<topic>": { <TopicConfig> }, ... }` (not null: a map field
    /// without a default for null).
    fn topic_table(&mut self, topics: &mut Vec<(Cow<'a, str>, TopicConfigView<'a>)>) -> Option<()> {
        self.enter(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.colon()?;
            let config = match self.topic_config_compact() {
                Some(config) => config,
                None => self.topic_config()?,
            };
            topics.push((key, config));
            if self.next_member(b'}')? {
                return Some(());
            }
        }
    }

    /// One `TopicConfig` in the form both our broker and Java's fastjson write: every field,
    /// in this order, no whitespace (5.x brokers lead with `attributes`). `None`, with the
    /// position unchanged, for anything else: [`Scan::topic_config`] reads it then.
    fn topic_config_compact(&mut self) -> Option<TopicConfigView<'a>> {
        let start = (self.pos, self.depth);
        let config = self.topic_config_fields();
        if config.is_none() {
            (self.pos, self.depth) = start;
        }
        config
    }

    fn topic_config_fields(&mut self) -> Option<TopicConfigView<'a>> {
        let mut c = TopicConfigView::default();
        if self.literal(b"{\"attributes\":") {
            self.depth += 1;
            c.attributes = self.delegated()?;
            self.depth -= 1;
            if !self.literal(b",\"order\":") {
                return None;
            }
        } else if !self.literal(b"{\"order\":") {
            return None;
        }
        c.order = self.bool()?;
        self.literal(b",\"perm\":").then_some(())?;
        c.perm = self.i32()?;
        self.literal(b",\"readQueueNums\":").then_some(())?;
        c.read_queue_nums = self.i32()?;
        self.literal(b",\"topicFilterType\":").then_some(())?;
        c.topic_filter_type = self.string()?;
        self.literal(b",\"topicName\":").then_some(())?;
        c.topic_name = self.string()?;
        self.literal(b",\"topicSysFlag\":").then_some(())?;
        c.topic_sys_flag = self.i32()?;
        self.literal(b",\"writeQueueNums\":").then_some(())?;
        c.write_queue_nums = self.i32()?;
        self.literal(b"}").then_some(c)
    }

    /// Consumes `lit` when the text at `pos` starts with it.
    #[inline(always)]
    fn literal(&mut self, lit: &[u8]) -> bool {
        let hit = self.b.get(self.pos..self.pos + lit.len()) == Some(lit);
        if hit {
            self.pos += lit.len();
        }
        hit
    }

    /// One `TopicConfig`. Its field names are matched by their bytes, quotes included.
    fn topic_config(&mut self) -> Option<TopicConfigView<'a>> {
        let mut c = TopicConfigView::default();
        let mut seen = 0u16;
        let mut once16 = |bit: u16| {
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            Some(())
        };
        self.enter(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Some(c);
        }
        loop {
            self.ws();
            let rest = &self.b[self.pos..];
            let known: Option<(u16, usize)> = match rest.get(1) {
                Some(b'o') if rest.starts_with(b"\"order\"") => Some((1, 7)),
                Some(b'p') if rest.starts_with(b"\"perm\"") => Some((2, 6)),
                Some(b'r') if rest.starts_with(b"\"readQueueNums\"") => Some((4, 15)),
                Some(b't') if rest.starts_with(b"\"topicFilterType\"") => Some((8, 17)),
                Some(b't') if rest.starts_with(b"\"topicName\"") => Some((16, 11)),
                Some(b't') if rest.starts_with(b"\"topicSysFlag\"") => Some((32, 14)),
                Some(b'w') if rest.starts_with(b"\"writeQueueNums\"") => Some((64, 16)),
                Some(b'a') if rest.starts_with(b"\"attributes\"") => Some((128, 12)),
                _ => None,
            };
            match known {
                Some((bit, len)) => {
                    once16(bit)?;
                    self.pos += len;
                    self.colon()?;
                    match bit {
                        1 => c.order = self.bool()?,
                        2 => c.perm = self.i32()?,
                        4 => c.read_queue_nums = self.i32()?,
                        8 => c.topic_filter_type = self.string()?,
                        16 => c.topic_name = self.string()?,
                        32 => c.topic_sys_flag = self.i32()?,
                        64 => c.write_queue_nums = self.i32()?,
                        _ => c.attributes = self.delegated()?,
                    }
                }
                None => {
                    // Another field (ignored, as serde does), unless its key has escapes:
                    // unescaped, it might name one of the above.
                    let (_, escaped) = self.string_raw()?;
                    if escaped {
                        return None;
                    }
                    self.colon()?;
                    self.skip_value()?;
                }
            }
            if self.next_member(b'}')? {
                return Some(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fastjson;

    /// The view of `body` equals the generic decode, or the view declines.
    fn same_as_generic(body: &[u8]) -> Option<RegisterBrokerBody> {
        let generic = RegisterBrokerBody::decode(body, false);
        let view = RegisterBrokerBodyView::read(body);
        match (&generic, &view) {
            (Ok(g), Some(v)) => assert_eq!(&v.to_owned(), g, "{}", String::from_utf8_lossy(body)),
            (Err(e), Some(v)) => panic!(
                "view accepted what the generic decode refuses ({e}): {v:?}\n{}",
                String::from_utf8_lossy(body)
            ),
            _ => {}
        }
        view.map(|v| v.to_owned())
    }

    fn accepted(body: &str) -> RegisterBrokerBody {
        same_as_generic(body.as_bytes()).unwrap_or_else(|| panic!("declined: {body}"))
    }

    fn declined(body: &str) {
        assert!(same_as_generic(body.as_bytes()).is_none(), "accepted: {body}");
    }

    #[test]
    fn plain_runs_end_at_quotes_backslashes_and_control_characters() {
        for len in 0..20 {
            for stop in [b'"', b'\\', 0u8, 0x1f] {
                for filler in [b'a', 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xc3, 0xff] {
                    let mut text = vec![filler; len];
                    text.push(stop);
                    text.extend_from_slice(b"\"\\\x01xyz");
                    for start in 0..=len {
                        assert_eq!(plain_run_end(&text, start), Some(len), "{text:?} from {start}");
                    }
                    assert_eq!(plain_run_end(&text[..len], 0), None);
                }
            }
        }
    }

    #[test]
    fn reads_what_our_broker_writes() {
        let mut body = RegisterBrokerBody::default();
        body.topic_config_serialize_wrapper.data_version = DataVersion {
            counter: 3,
            state_version: Some(2),
            timestamp: 1_700_000_000_000,
        };
        for (i, name) in [
            "A",
            "B",
            "%RETRY%g",
            "rmq_sys_X",
            "tëst",
            "quo\"te",
            "back\\slash",
            "tab\t",
        ]
        .iter()
        .enumerate()
        {
            let mut config = TopicConfig::new(*name, i as i32, 8, 6);
            config.order = i % 2 == 0;
            config.topic_sys_flag = i as i32;
            if i == 3 {
                config.attributes = Some([("+message.type".to_string(), "NORMAL".to_string())].into());
            }
            body.topic_config_serialize_wrapper
                .topic_config_table
                .insert(name.to_string(), config);
        }
        body.filter_server_list = vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()];
        let bytes = body.encode(false);
        assert_eq!(same_as_generic(&bytes).unwrap(), body);
        let view = RegisterBrokerBodyView::read(&bytes).unwrap();
        let borrowed = view
            .topics
            .iter()
            .filter(|(k, c)| matches!((k, &c.topic_name), (Cow::Borrowed(_), Cow::Borrowed(_))))
            .count();
        assert_eq!(borrowed, 5, "names without escapes are borrowed");
        // Pretty-printed, too.
        let pretty = serde_json::to_vec_pretty(&body).unwrap();
        assert_eq!(same_as_generic(&pretty).unwrap(), body);
        // Empty.
        let empty = RegisterBrokerBody::default().encode(false);
        assert_eq!(same_as_generic(&empty).unwrap(), RegisterBrokerBody::default());
        accepted("{}");
        accepted(r#"{"topicConfigSerializeWrapper":{}}"#);
        accepted(r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{}}}"#);
    }

    #[test]
    fn reads_what_java_brokers_write() {
        // 4.9.x: fastjson, keys sorted, topics in hash order.
        let b = accepted(
            r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":2,"timestamp":5},"topicConfigTable":{"U":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"U","topicSysFlag":0,"writeQueueNums":4},"T":{"order":true,"perm":4,"readQueueNums":2,"topicFilterType":"MULTI_TAG","topicName":"T","topicSysFlag":1,"writeQueueNums":3}}}}"#,
        );
        let table = &b.topic_config_serialize_wrapper.topic_config_table;
        assert_eq!(table.keys().collect::<Vec<_>>(), ["T", "U"]);
        assert_eq!(table["T"].write_queue_nums, 3);
        // 5.x: attributes, mappings, a nested data version with a state version, more
        // members the name server does not read.
        let b = accepted(
            r#"{"filterServerList":["1.1.1.1:1"],"topicConfigSerializeWrapper":{"dataVersion":{"counter":7,"stateVersion":3,"timestamp":9},"mappingDataVersion":{"counter":0,"stateVersion":0,"timestamp":1},"topicConfigTable":{"S":{"attributes":{"+message.type":"FIFO"},"order":false,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"S","topicSysFlag":0,"writeQueueNums":8,"extra":[1,2.5e3,{"x":null}]}},"topicQueueMappingDetailMap":{},"topicQueueMappingInfoMap":{"S":{"bname":"b","epoch":1,"topic":"S","totalQueues":8,"currIdMap":{0:1}}}}}"#
                .replace("{0:1}", r#"{"0":1}"#)
                .as_str(),
        );
        let w = &b.topic_config_serialize_wrapper;
        assert_eq!(w.data_version.state_version, Some(3));
        assert_eq!(w.topic_queue_mapping_info_map["S"]["bname"], "b");
        assert_eq!(
            w.topic_config_table["S"].attributes.as_ref().unwrap()["+message.type"],
            "FIFO"
        );
        accepted(r#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":null}}"#);
        accepted(r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"attributes":null}}}}"#);
        // Fields missing: defaults.
        assert_eq!(TopicConfigView::default().to_owned(), TopicConfig::default());
        let b = accepted(r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{}}}}"#);
        assert_eq!(
            b.topic_config_serialize_wrapper.topic_config_table["T"],
            TopicConfig::default()
        );
    }

    #[test]
    fn keys_given_twice_keep_the_last_and_fields_given_twice_decline() {
        let b = accepted(
            r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"B":{"perm":2},"A":{"perm":4},"B":{"perm":6},"A":{"perm":7}}}}"#,
        );
        let table = &b.topic_config_serialize_wrapper.topic_config_table;
        assert_eq!((table["A"].perm, table["B"].perm), (7, 6));
        accepted(r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"A":{"perm":2},"A":{"perm":6}}}}"#);
        declined(r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"A":{"perm":2,"perm":6}}}}"#);
        declined(r#"{"filterServerList":[],"filterServerList":[]}"#);
        declined(r#"{"topicConfigSerializeWrapper":{"dataVersion":{},"dataVersion":{}}}"#);
    }

    #[test]
    fn escaped_names_are_unescaped_and_escaped_field_names_decline() {
        let b = accepted(
            r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"T\u0041\n\"":{"topicName":"T\u0041\/","topicFilterType":"\u00e9"}}}}"#,
        );
        let (key, config) = b
            .topic_config_serialize_wrapper
            .topic_config_table
            .iter()
            .next()
            .unwrap();
        assert_eq!(key, "TA\n\"");
        assert_eq!(
            (config.topic_name.as_str(), config.topic_filter_type.as_str()),
            ("TA/", "é")
        );
        // An escaped field name may be one the generic decode matches: leave it to that.
        declined(r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"p\u0065rm":4}}}}"#);
        declined(r#"{"topicConfigSerializ\u0065Wrapper":{}}"#);
        // Lone surrogates, bad escapes, raw control characters.
        same_as_generic(br#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"\ud800":{}}}}"#);
        declined(r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"\x":{}}}}"#);
        declined("{\"topicConfigSerializeWrapper\":{\"topicConfigTable\":{\"a\u{1}\":{}}}}");
    }

    #[test]
    fn the_fastjson_dialect_and_odd_values_decline_to_the_generic_decode() {
        // Bare keys (fastjson's integer-keyed maps) and single quotes: only the generic
        // parser reads them.
        let bare = r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"perm":6}},"topicQueueMappingInfoMap":{"T":{"currIdMap":{0:1}}}}}"#;
        declined(bare);
        let generic = RegisterBrokerBody::decode(bare.as_bytes(), false).unwrap();
        assert!(generic
            .topic_config_serialize_wrapper
            .topic_queue_mapping_info_map
            .contains_key("T"));
        declined(r#"{'topicConfigSerializeWrapper':{}}"#);
        for odd in [
            r#"{"perm":6.0}"#,
            r#"{"perm":1e2}"#,
            r#"{"perm":06}"#,
            r#"{"perm":-0}"#,
            r#"{"perm":2147483648}"#,
            r#"{"perm":-2147483648}"#,
            r#"{"perm":-2147483649}"#,
            r#"{"perm":"6"}"#,
            r#"{"perm":null}"#,
            r#"{"order":null}"#,
            r#"{"order":1}"#,
            r#"{"topicName":null}"#,
            r#"{"topicName":5}"#,
            r#"{"attributes":{"a":1}}"#,
            r#"{"attributes":[]}"#,
            r#"{"extra":01}"#,
            r#"{"extra":1.}"#,
            r#"{"extra":tru}"#,
            r#"{"extra":[1,]}"#,
            r#"{"extra":{"a":1,}}"#,
            r#"{,}"#,
        ] {
            same_as_generic(
                format!(r#"{{"topicConfigSerializeWrapper":{{"topicConfigTable":{{"T":{odd}}}}}}}"#).as_bytes(),
            );
        }
        for odd in [
            r#"{"topicConfigSerializeWrapper":null}"#,
            r#"{"topicConfigSerializeWrapper":{"topicConfigTable":null}}"#,
            r#"{"topicConfigSerializeWrapper":{"topicConfigTable":[]}}"#,
            r#"{"topicConfigSerializeWrapper":{"dataVersion":{"counter":1.5}}}"#,
            r#"{"topicConfigSerializeWrapper":{"dataVersion":null}}"#,
            r#"{"filterServerList":null}"#,
            r#"{"filterServerList":[1]}"#,
            r#"{} x"#,
            r#"{}}"#,
            r#"[]"#,
            r#""#,
            r#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{}}}"#,
        ] {
            same_as_generic(odd.as_bytes());
        }
        // Deep nesting in a member nobody reads.
        let deep = format!(
            r#"{{"x":{}1{}}}"#,
            "[".repeat(MAX_DEPTH + 10),
            "]".repeat(MAX_DEPTH + 10)
        );
        declined(&deep);
        // Not UTF-8.
        assert!(RegisterBrokerBodyView::read(b"{\"x\":\"\xff\"}").is_none());
        let _ = fastjson::parse(b"{}");
    }

    /// Bodies built from varied pieces: the view equals the generic decode whenever it
    /// accepts, and accepts every body our broker writes.
    #[test]
    fn differential_over_generated_bodies() {
        use proptest::prelude::*;
        let name = prop_oneof![
            "[A-Za-z0-9_%-]{0,12}",
            "\\PC{0,6}",
            Just("dataVersion".to_string()),
            Just("a\"b\\c".to_string()),
        ];
        let config = (
            name.clone(),
            any::<bool>(),
            any::<i32>(),
            -1i32..1000,
            proptest::option::of(proptest::collection::btree_map(name.clone(), name.clone(), 0..3)),
        )
            .prop_map(|(n, order, perm, q, attributes)| TopicConfig {
                attributes,
                order,
                perm,
                read_queue_nums: q,
                write_queue_nums: q / 2,
                topic_filter_type: if order { "MULTI_TAG".into() } else { "SINGLE_TAG".into() },
                topic_sys_flag: perm & 3,
                topic_name: n,
            });
        let body = (
            proptest::collection::vec(name.clone(), 0..3),
            proptest::collection::btree_map(name, config, 0..20),
            any::<i64>(),
            proptest::option::of(any::<i64>()),
            any::<bool>(),
        )
            .prop_map(|(filters, table, counter, state_version, pretty)| {
                let mut b = RegisterBrokerBody {
                    filter_server_list: filters,
                    ..Default::default()
                };
                b.topic_config_serialize_wrapper.topic_config_table = table;
                b.topic_config_serialize_wrapper.data_version = DataVersion {
                    counter,
                    state_version,
                    timestamp: counter ^ 5,
                };
                (b, pretty)
            });
        proptest!(ProptestConfig::with_cases(100), |((b, pretty) in body)| {
            let bytes = if pretty { serde_json::to_vec_pretty(&b).unwrap() } else { b.encode(false) };
            prop_assert_eq!(same_as_generic(&bytes), Some(b.clone()));
            // Each prefix of the body: declined or the same as the generic decode.
            for cut in (0..bytes.len()).step_by(7) {
                same_as_generic(&bytes[..cut]);
            }
            // A byte changed: the same.
            for at in (0..bytes.len()).step_by(13) {
                for x in [b'"', b'\\', b'{', b'}', b'1', b',', b':', b'n', b' '] {
                    let mut m = bytes.clone();
                    m[at] = x;
                    same_as_generic(&m);
                }
            }
        });
    }
}
