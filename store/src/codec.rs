//! The CommitLog message encoding (the same bytes go to disk and, in a pull
//! response, to the wire), message properties, tag hash codes and offsetMsgId.
//!
//! Layout of one message, all integers big-endian:
//!
//! | field | bytes |
//! |---|---|
//! | total size | 4 |
//! | magic code | 4 |
//! | body CRC (CRC32 & 0x7FFFFFFF) | 4 |
//! | queue id | 4 |
//! | flag | 4 |
//! | queue offset | 8 |
//! | physical (CommitLog) offset | 8 |
//! | sys flag | 4 |
//! | born timestamp | 8 |
//! | born host: IPv4 4 + port 4, or IPv6 16 + port 4 | 8 / 20 |
//! | store timestamp | 8 |
//! | store host (as born host) | 8 / 20 |
//! | reconsume times | 4 |
//! | prepared transaction offset | 8 |
//! | body length + body | 4 + n |
//! | topic length (1 byte; 2 bytes with the v2 magic) + topic | 1/2 + n |
//! | properties length (i16) + properties | 2 + n |

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

/// Magic code of a message written by 4.x (1-byte topic length).
pub const MESSAGE_MAGIC_CODE: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic code of 5.x messages whose topic length takes 2 bytes.
pub const MESSAGE_MAGIC_CODE_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic code of the filler record that pads the end of a CommitLog file.
pub const BLANK_MAGIC_CODE: i32 = 0xCBD4_3194_u32 as i32;

/// Byte positions of the fixed header fields.
pub const QUEUE_OFFSET_POSITION: usize = 20;
pub const PHYSICAL_OFFSET_POSITION: usize = 28;
pub const SYS_FLAG_POSITION: usize = 36;
pub const BORN_HOST_POSITION: usize = 48;

/// Separator between a property name and its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separator between two properties.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Bits of the sys flag.
pub mod sys_flag {
    pub const COMPRESSED: i32 = 0x1;
    pub const MULTI_TAGS: i32 = 0x1 << 1;
    pub const TRANSACTION_NOT_TYPE: i32 = 0;
    pub const TRANSACTION_PREPARED_TYPE: i32 = 0x1 << 2;
    pub const TRANSACTION_COMMIT_TYPE: i32 = 0x2 << 2;
    pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0x3 << 2;
    pub const BORN_HOST_V6: i32 = 0x1 << 4;
    pub const STORE_HOST_V6: i32 = 0x1 << 5;

    /// The transaction type bits of a sys flag.
    pub fn transaction_type(flag: i32) -> i32 {
        flag & TRANSACTION_ROLLBACK_TYPE
    }
}

/// Property names the store itself reads or writes.
pub mod property {
    pub const KEYS: &str = "KEYS";
    pub const TAGS: &str = "TAGS";
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    pub const WAIT: &str = "WAIT";
    pub const DELAY: &str = "DELAY";
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    pub const REAL_QUEUE_ID: &str = "REAL_QID";
    pub const TRANSACTION_PREPARED: &str = "TRAN_MSG";
    /// KEYS holds several keys separated by this.
    pub const KEY_SEPARATOR: char = ' ';
}

/// Errors of the codec: the bytes do not hold a well-formed message.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("buffer too short for a message")]
    Truncated,
    #[error("bad magic code {0:#x}")]
    BadMagic(i32),
    #[error("end-of-file blank record")]
    Blank,
    #[error("declared size {declared} does not match the fields ({computed})")]
    SizeMismatch { declared: i32, computed: i32 },
    #[error("body CRC mismatch")]
    BadCrc,
    #[error("malformed field: {0}")]
    Malformed(&'static str),
}

/// Java's `String.hashCode` (over UTF-16 code units, wrapping).
pub fn java_string_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    for unit in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    h
}

/// The tag hash code kept in a ConsumeQueue entry for a TAGS value.
pub fn tags_hash_code(tags: &str) -> i64 {
    if tags.is_empty() {
        0
    } else {
        java_string_hash(tags) as i64
    }
}

/// Body CRC as the broker stores it: CRC32 with the sign bit cleared.
pub fn body_crc(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

/// Joins properties as `name\u1value\u2name\u1value`, in the order given,
/// skipping nothing (callers pass the pairs they want stored).
pub fn properties_to_string(pairs: &[(String, String)]) -> String {
    let mut out = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(PROPERTY_SEPARATOR);
        }
        out.push_str(k);
        out.push(NAME_VALUE_SEPARATOR);
        out.push_str(v);
    }
    out
}

/// The (name, value) pairs of a properties string in order: each part between property
/// separators, split at its first name-value separator (a part without one is skipped).
/// Names and values may be empty. One pass over the bytes: the strings are short, and a
/// `split` per part cost more in setting up its searcher than in searching.
pub fn property_pairs(properties: &str) -> PropertyPairs<'_> {
    PropertyPairs {
        text: properties,
        pos: 0,
    }
}

const PROPERTY_SEPARATOR_BYTE: u8 = PROPERTY_SEPARATOR as u8;
const NAME_VALUE_SEPARATOR_BYTE: u8 = NAME_VALUE_SEPARATOR as u8;

pub struct PropertyPairs<'a> {
    text: &'a str,
    /// Where the next part starts; past the end once the last part was read.
    pos: usize,
}

impl<'a> Iterator for PropertyPairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.text.as_bytes();
        while self.pos <= bytes.len() {
            let start = self.pos;
            let mut name_end = None;
            let mut end = start;
            while end < bytes.len() {
                match bytes[end] {
                    PROPERTY_SEPARATOR_BYTE => break,
                    NAME_VALUE_SEPARATOR_BYTE if name_end.is_none() => name_end = Some(end),
                    _ => {}
                }
                end += 1;
            }
            self.pos = end + 1;
            if let Some(name_end) = name_end {
                // Both cuts are at ASCII bytes, so on char boundaries.
                return Some((&self.text[start..name_end], &self.text[name_end + 1..end]));
            }
        }
        None
    }
}

/// Parses a properties string. Pairs with an empty name or value are dropped,
/// and a repeated name keeps its first position with the last value (as a map would).
pub fn string_to_properties(s: &str) -> Vec<(String, String)> {
    // A linear scan for duplicate names is cheapest for the usual handful of
    // properties; past that an index keeps a hostile string of many distinct
    // names linear (the fuzzer found n^2/2 comparisons otherwise).
    const SCAN_LIMIT: usize = 16;
    // Room for every pair and two more (the broker adds CLUSTER), allocated once.
    let parts = s.bytes().filter(|&b| b == PROPERTY_SEPARATOR_BYTE).count() + 1;
    let mut out: Vec<(String, String)> = Vec::with_capacity((parts + 2).min(64));
    let mut index: Option<std::collections::HashMap<String, usize>> = None;
    for (k, v) in property_pairs(s) {
        if k.is_empty() || v.is_empty() {
            continue;
        }
        match index.as_mut() {
            None => {
                insert_property(&mut out, k, v);
                if out.len() > SCAN_LIMIT {
                    let map = out.iter().enumerate().map(|(i, (name, _))| (name.clone(), i)).collect();
                    index = Some(map);
                }
            }
            Some(map) => match map.get(k) {
                Some(&i) => out[i].1 = v.to_string(),
                None => {
                    map.insert(k.to_string(), out.len());
                    out.push((k.to_string(), v.to_string()));
                }
            },
        }
    }
    out
}

/// Sets `name` to `value`, keeping the position of an existing entry.
pub fn insert_property(pairs: &mut Vec<(String, String)>, name: &str, value: &str) {
    if let Some(slot) = pairs.iter_mut().find(|(k, _)| k == name) {
        slot.1 = value.to_string();
    } else {
        pairs.push((name.to_string(), value.to_string()));
    }
}

/// Looks a property up by name.
pub fn get_property<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Reorders properties the way a `java.util.HashMap` built by inserting them
/// in the given order iterates: by bucket, then by insertion within a bucket.
/// The Java broker serialises its property map in that order whenever it
/// rebuilds the string (delayed messages, batch properties), so matching it
/// is what makes our bytes equal to Java's.
pub fn java_hashmap_order(pairs: &[(String, String)]) -> Vec<(String, String)> {
    // A HashMap starts with 16 buckets and doubles when size exceeds 3/4.
    let mut capacity: usize = 16;
    while pairs.len() > capacity * 3 / 4 {
        capacity *= 2;
    }
    let mut keyed: Vec<(usize, usize, &(String, String))> = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let h = java_string_hash(&p.0) as u32;
            let spread = h ^ (h >> 16);
            ((spread as usize) & (capacity - 1), i, p)
        })
        .collect();
    keyed.sort_by_key(|(bucket, i, _)| (*bucket, *i));
    keyed.into_iter().map(|(_, _, p)| p.clone()).collect()
}

/// `properties_to_string(&java_hashmap_order(pairs))` without the copies.
pub fn properties_string_java_order(pairs: &[(String, String)]) -> String {
    properties_string_java_order_without(pairs, None)
}

/// `properties_string_java_order` of `pairs` less the property named `left_out`, as if it
/// had never been inserted (the map's size, and so its bucket count, does not count it).
pub fn properties_string_java_order_without(pairs: &[(String, String)], left_out: Option<&str>) -> String {
    let kept = |p: &&(String, String)| Some(p.0.as_str()) != left_out;
    let len = pairs.iter().filter(kept).count();
    let mut capacity: usize = 16;
    while len > capacity * 3 / 4 {
        capacity *= 2;
    }
    // (bucket, insertion index); on the stack for the usual handful of properties.
    let mut small = [(0usize, 0usize); 16];
    let mut large = Vec::new();
    let order: &mut [(usize, usize)] = if len <= small.len() {
        &mut small[..len]
    } else {
        large.resize(len, (0, 0));
        &mut large
    };
    let mut text_len = 0;
    for (slot, (i, p)) in order.iter_mut().zip(pairs.iter().enumerate().filter(|(_, p)| kept(p))) {
        let h = java_string_hash(&p.0) as u32;
        *slot = (((h ^ (h >> 16)) as usize) & (capacity - 1), i);
        text_len += p.0.len() + p.1.len() + 2;
    }
    order.sort_unstable();
    let mut out = String::with_capacity(text_len);
    for (n, (_, i)) in order.iter().enumerate() {
        if n > 0 {
            out.push(PROPERTY_SEPARATOR);
        }
        out.push_str(&pairs[*i].0);
        out.push(NAME_VALUE_SEPARATOR);
        out.push_str(&pairs[*i].1);
    }
    out
}

/// Length of an encoded message with the 1-byte topic length.
pub fn encoded_length(sys_flag: i32, body_len: usize, topic_len: usize, properties_len: usize) -> usize {
    encoded_length_with(sys_flag, body_len, topic_len, properties_len, 1)
}

fn encoded_length_with(
    sys_flag: i32,
    body_len: usize,
    topic_len: usize,
    properties_len: usize,
    topic_len_size: usize,
) -> usize {
    let born = if sys_flag & sys_flag::BORN_HOST_V6 == 0 { 8 } else { 20 };
    let store = if sys_flag & sys_flag::STORE_HOST_V6 == 0 { 8 } else { 20 };
    4 + 4
        + 4
        + 4
        + 4
        + 8
        + 8
        + 4
        + 8
        + born
        + 8
        + store
        + 4
        + 8
        + 4
        + body_len
        + topic_len_size
        + topic_len
        + 2
        + properties_len
}

/// Byte position of the store timestamp for a given sys flag.
pub fn store_timestamp_position(sys_flag: i32) -> usize {
    let born = if sys_flag & sys_flag::BORN_HOST_V6 == 0 { 8 } else { 20 };
    BORN_HOST_POSITION + born
}

/// Appends the address as stored: IP bytes then the port as an i32.
pub fn put_socket_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&(addr.port() as i32).to_be_bytes());
}

/// The sys flag bits that say which hosts are IPv6.
pub fn host_v6_flags(born: &SocketAddr, store: &SocketAddr) -> i32 {
    let mut f = 0;
    if born.is_ipv6() {
        f |= sys_flag::BORN_HOST_V6;
    }
    if store.is_ipv6() {
        f |= sys_flag::STORE_HOST_V6;
    }
    f
}

/// The fields of one message to encode; offsets and store time are patched in later.
pub struct EncodeFields<'a> {
    pub body_crc: i32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: &'a SocketAddr,
    pub store_timestamp: i64,
    pub store_host: &'a SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a [u8],
    /// Properties bytes; a batch item may pass its own and the batch's parts.
    pub properties: &'a [&'a [u8]],
}

/// Encodes one message (4.x layout, 1-byte topic length) onto `out`.
/// The sys flag must already carry the IPv6 bits matching the hosts.
pub fn encode_message(out: &mut Vec<u8>, f: &EncodeFields<'_>) {
    let props_len: usize = f.properties.iter().map(|p| p.len()).sum();
    let total = encoded_length(f.sys_flag, f.body.len(), f.topic.len(), props_len);
    out.reserve(total);
    out.extend_from_slice(&(total as i32).to_be_bytes());
    out.extend_from_slice(&MESSAGE_MAGIC_CODE.to_be_bytes());
    out.extend_from_slice(&f.body_crc.to_be_bytes());
    out.extend_from_slice(&f.queue_id.to_be_bytes());
    out.extend_from_slice(&f.flag.to_be_bytes());
    out.extend_from_slice(&f.queue_offset.to_be_bytes());
    out.extend_from_slice(&f.physical_offset.to_be_bytes());
    out.extend_from_slice(&f.sys_flag.to_be_bytes());
    out.extend_from_slice(&f.born_timestamp.to_be_bytes());
    put_socket_addr(out, f.born_host);
    out.extend_from_slice(&f.store_timestamp.to_be_bytes());
    put_socket_addr(out, f.store_host);
    out.extend_from_slice(&f.reconsume_times.to_be_bytes());
    out.extend_from_slice(&f.prepared_transaction_offset.to_be_bytes());
    out.extend_from_slice(&(f.body.len() as i32).to_be_bytes());
    out.extend_from_slice(f.body);
    out.push(f.topic.len() as u8);
    out.extend_from_slice(f.topic);
    out.extend_from_slice(&(props_len as i16).to_be_bytes());
    for p in f.properties {
        out.extend_from_slice(p);
    }
}

/// A little big-endian reader that reports truncation instead of panicking.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(CodecError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn i8(&mut self) -> Result<i8, CodecError> {
        Ok(self.take(1)?[0] as i8)
    }
    fn i16(&mut self) -> Result<i16, CodecError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().unwrap_or([0; 2])))
    }
    fn i32(&mut self) -> Result<i32, CodecError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().unwrap_or([0; 4])))
    }
    fn i64(&mut self) -> Result<i64, CodecError> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().unwrap_or([0; 8])))
    }
    fn addr(&mut self, v6: bool) -> Result<SocketAddr, CodecError> {
        let ip = if v6 {
            let b: [u8; 16] = self.take(16)?.try_into().map_err(|_| CodecError::Truncated)?;
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| CodecError::Truncated)?;
            IpAddr::V4(Ipv4Addr::from(b))
        };
        let port = self.i32()?;
        Ok(SocketAddr::new(ip, port as u16))
    }
}

/// Reads a big-endian i32 at `pos`, if the buffer is long enough.
pub fn read_i32(buf: &[u8], pos: usize) -> Option<i32> {
    buf.get(pos..pos + 4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a big-endian i64 at `pos`, if the buffer is long enough.
pub fn read_i64(buf: &[u8], pos: usize) -> Option<i64> {
    buf.get(pos..pos + 8).map(|b| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        i64::from_be_bytes(a)
    })
}

/// A message decoded from its CommitLog encoding (Java's MessageExt).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedMessage {
    pub store_size: i32,
    pub magic_code: i32,
    pub body_crc: i32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    /// The body as stored (still compressed when the COMPRESSED flag is set).
    pub body: Bytes,
    pub topic: String,
    /// The raw properties string.
    pub properties_string: String,
    /// The properties parsed, in stored order.
    pub properties: Vec<(String, String)>,
}

impl DecodedMessage {
    pub fn property(&self, name: &str) -> Option<&str> {
        get_property(&self.properties, name)
    }
    pub fn tags(&self) -> Option<&str> {
        self.property(property::TAGS)
    }
    pub fn keys(&self) -> Option<&str> {
        self.property(property::KEYS)
    }
    /// The client's unique key (what clients call msgId).
    pub fn unique_key(&self) -> Option<&str> {
        self.property(property::UNIQ_KEY)
    }
    /// The offsetMsgId: store host + CommitLog offset.
    pub fn offset_msg_id(&self) -> String {
        encode_offset_msg_id(&self.store_host, self.commit_log_offset)
    }
}

/// Decodes one message at the start of `buf` (which may hold more after it).
pub fn decode_message(buf: &[u8]) -> Result<DecodedMessage, CodecError> {
    let v = view_record(buf)?;
    let properties_string = v.properties.into_owned();
    Ok(DecodedMessage {
        store_size: v.size,
        magic_code: v.magic_code,
        body_crc: v.body_crc,
        queue_id: v.queue_id,
        flag: v.flag,
        queue_offset: v.queue_offset,
        commit_log_offset: v.commit_log_offset,
        sys_flag: v.sys_flag,
        born_timestamp: v.born_timestamp,
        born_host: v.born_host,
        store_timestamp: v.store_timestamp,
        store_host: v.store_host,
        reconsume_times: v.reconsume_times,
        prepared_transaction_offset: v.prepared_transaction_offset,
        body: Bytes::copy_from_slice(v.body),
        topic: v.topic.into_owned(),
        properties: string_to_properties(&properties_string),
        properties_string,
    })
}

/// Decodes back-to-back messages (e.g. a pull response body); stops at the
/// first record that does not decode.
pub fn decode_messages(mut buf: &[u8]) -> Vec<DecodedMessage> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        match decode_message(buf) {
            Ok(m) => {
                let n = m.store_size as usize;
                out.push(m);
                buf = &buf[n..];
            }
            Err(_) => break,
        }
    }
    out
}

/// A borrowed view of one CommitLog record: no copies, no allocation in
/// the common case (valid UTF-8). Used on the dispatch and recovery paths, and
/// by `decode_message`, which copies it out.
#[derive(Debug, Clone)]
pub struct RecordView<'a> {
    pub size: i32,
    pub magic_code: i32,
    pub body_crc: i32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: Cow<'a, str>,
    pub properties: Cow<'a, str>,
}

/// Borrows valid UTF-8 (the fast, usual case), else replaces bad sequences.
fn utf8(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Parses the record at the start of `buf` without copying it.
pub fn view_record(buf: &[u8]) -> Result<RecordView<'_>, CodecError> {
    let mut r = Reader { buf, pos: 0 };
    let size = r.i32()?;
    let magic_code = r.i32()?;
    let topic_len_size = match magic_code {
        MESSAGE_MAGIC_CODE => 1,
        MESSAGE_MAGIC_CODE_V2 => 2,
        BLANK_MAGIC_CODE => return Err(CodecError::Blank),
        other => return Err(CodecError::BadMagic(other)),
    };
    if size < 0 || size as usize > buf.len() {
        return Err(CodecError::Truncated);
    }
    let body_crc = r.i32()?;
    let queue_id = r.i32()?;
    let flag = r.i32()?;
    let queue_offset = r.i64()?;
    let commit_log_offset = r.i64()?;
    let sys_flag = r.i32()?;
    let born_timestamp = r.i64()?;
    let born_host = r.addr(sys_flag & sys_flag::BORN_HOST_V6 != 0)?;
    let store_timestamp = r.i64()?;
    let store_host = r.addr(sys_flag & sys_flag::STORE_HOST_V6 != 0)?;
    let reconsume_times = r.i32()?;
    let prepared_transaction_offset = r.i64()?;
    let body_len = r.i32()?;
    if body_len < 0 {
        return Err(CodecError::Malformed("negative body length"));
    }
    let body = r.take(body_len as usize)?;
    let topic_len = if topic_len_size == 1 {
        r.i8()? as u8 as usize
    } else {
        r.i16()? as u16 as usize
    };
    let topic = utf8(r.take(topic_len)?);
    let props_len = r.i16()?;
    if props_len < 0 {
        return Err(CodecError::Malformed("negative properties length"));
    }
    let properties = utf8(r.take(props_len as usize)?);
    let computed = encoded_length_with(
        sys_flag,
        body_len as usize,
        topic_len,
        props_len as usize,
        topic_len_size,
    );
    if computed != size as usize {
        return Err(CodecError::SizeMismatch {
            declared: size,
            computed: computed as i32,
        });
    }
    Ok(RecordView {
        size,
        magic_code,
        body_crc,
        queue_id,
        flag,
        queue_offset,
        commit_log_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body,
        topic,
        properties,
    })
}

/// Finds a property in an encoded properties string without parsing it all
/// (the last occurrence wins, as when building a map).
pub fn find_property<'a>(properties: &'a str, name: &str) -> Option<&'a str> {
    let mut found = None;
    for (k, v) in property_pairs(properties) {
        if k == name && !v.is_empty() {
            found = Some(v);
        }
    }
    found
}

/// What the dispatcher and recovery need from one CommitLog record.
#[derive(Debug, Clone)]
pub struct DispatchInfo<'a> {
    pub topic: Cow<'a, str>,
    pub queue_id: i32,
    pub commit_log_offset: i64,
    pub size: i32,
    pub tags_code: i64,
    pub store_timestamp: i64,
    pub queue_offset: i64,
    pub keys: Option<&'a str>,
    pub unique_key: Option<&'a str>,
    pub sys_flag: i32,
    pub prepared_transaction_offset: i64,
    pub delay_level: Option<i32>,
}

/// The result of checking the record at some CommitLog position.
#[derive(Debug, Clone)]
pub enum RecordCheck<'a> {
    /// A valid message.
    Message(DispatchInfo<'a>),
    /// The blank record: the rest of this file is padding.
    EndOfFile,
    /// Not a valid message: the end of valid data (why, for the log).
    Invalid(CodecError),
}

/// Checks the record at the start of `buf` as recovery and the dispatcher do:
/// magic, declared size against the fields, and optionally the body CRC.
pub fn check_record(buf: &[u8], check_crc: bool) -> RecordCheck<'_> {
    let v = match view_record(buf) {
        Ok(v) => v,
        Err(CodecError::Blank) => return RecordCheck::EndOfFile,
        Err(e) => return RecordCheck::Invalid(e),
    };
    if check_crc && !v.body.is_empty() && body_crc(v.body) != v.body_crc {
        return RecordCheck::Invalid(CodecError::BadCrc);
    }
    let (tags_code, keys, unique_key, delay_level) = match &v.properties {
        Cow::Borrowed(p) => {
            // One pass over the properties for the four the store needs.
            let (mut tags, mut keys, mut uniq, mut delay) = (None, None, None, None);
            for (k, val) in property_pairs(p) {
                if val.is_empty() {
                    continue;
                }
                match k {
                    property::TAGS => tags = Some(val),
                    property::KEYS => keys = Some(val),
                    property::UNIQ_KEY => uniq = Some(val),
                    property::DELAY => delay = Some(val),
                    _ => {}
                }
            }
            (
                tags.map(tags_hash_code).unwrap_or(0),
                keys,
                uniq,
                delay.and_then(|d| d.parse::<i32>().ok()),
            )
        }
        // Not valid UTF-8: only what does not need borrowing.
        Cow::Owned(p) => (
            find_property(p, property::TAGS).map(tags_hash_code).unwrap_or(0),
            None,
            None,
            None,
        ),
    };
    RecordCheck::Message(DispatchInfo {
        topic: v.topic,
        queue_id: v.queue_id,
        commit_log_offset: v.commit_log_offset,
        size: v.size,
        tags_code,
        store_timestamp: v.store_timestamp,
        queue_offset: v.queue_offset,
        keys,
        unique_key,
        sys_flag: v.sys_flag,
        prepared_transaction_offset: v.prepared_transaction_offset,
        delay_level,
    })
}

/// Builds an offsetMsgId: hex of store IP, port (4 bytes) and CommitLog offset.
pub fn encode_offset_msg_id(store_host: &SocketAddr, offset: i64) -> String {
    let mut raw = Vec::with_capacity(28);
    put_socket_addr(&mut raw, store_host);
    raw.extend_from_slice(&offset.to_be_bytes());
    bytes_to_hex(&raw)
}

/// Splits an offsetMsgId (32 hex chars for IPv4, 56 for IPv6) into the store
/// host and the CommitLog offset.
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddr, i64)> {
    let raw = hex_to_bytes(id)?;
    let v6 = match raw.len() {
        16 => false,
        28 => true,
        _ => return None,
    };
    let mut r = Reader { buf: &raw, pos: 0 };
    let addr = r.addr(v6).ok()?;
    let offset = r.i64().ok()?;
    Some((addr, offset))
}

/// Upper-case hex, as Java's `UtilAll.bytes2string`.
pub fn bytes_to_hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 0xF) as usize] as char);
    }
    s
}

/// Parses hex (either case); None on odd length or a bad digit.
pub fn hex_to_bytes(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.len() & 1 == 1 {
        return None;
    }
    let digit = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    s.chunks(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

/// One message inside a client batch body (`SEND_BATCH_MESSAGE`): each is
/// total size, magic (unused), body CRC (unused), flag, body, properties.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem<'a> {
    pub flag: i32,
    pub body: &'a [u8],
    pub properties: &'a [u8],
}

/// Splits a client batch body into its messages.
pub fn decode_batch_body(buf: &[u8]) -> Result<Vec<BatchItem<'_>>, CodecError> {
    let mut r = Reader { buf, pos: 0 };
    let mut out = Vec::new();
    while r.pos < buf.len() {
        let start = r.pos;
        let total = r.i32()?;
        let _magic = r.i32()?;
        let _crc = r.i32()?;
        let flag = r.i32()?;
        let body_len = r.i32()?;
        if body_len < 0 {
            return Err(CodecError::Malformed("negative body length in batch"));
        }
        let body = r.take(body_len as usize)?;
        let props_len = r.i16()?;
        if props_len < 0 {
            return Err(CodecError::Malformed("negative properties length in batch"));
        }
        let properties = r.take(props_len as usize)?;
        if total as i64 != (r.pos - start) as i64 {
            return Err(CodecError::Malformed("batch item size"));
        }
        out.push(BatchItem { flag, body, properties });
    }
    Ok(out)
}

/// Encodes messages into the client batch format (the inverse of [`decode_batch_body`]).
pub fn encode_batch_body(items: &[(i32, &[u8], &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (flag, body, props) in items {
        let total = 4 + 4 + 4 + 4 + 4 + body.len() + 2 + props.len();
        out.extend_from_slice(&(total as i32).to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&flag.to_be_bytes());
        out.extend_from_slice(&(body.len() as i32).to_be_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&(props.len() as i16).to_be_bytes());
        out.extend_from_slice(props.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("T0"), 2652);
        assert_eq!(java_string_hash("hello"), 99162322);
    }

    #[test]
    fn many_properties_keep_order_and_last_value() {
        // Past the linear-scan limit the parse switches to an index; duplicates
        // before and after the switch must still keep the first position and
        // the last value, as the scan does.
        let mut s = String::new();
        for i in 0..40 {
            s.push_str(&format!("k{i}\u{1}v{i}\u{2}"));
        }
        s.push_str("k3\u{1}late3\u{2}k30\u{1}late30\u{2}");
        let pairs = string_to_properties(&s);
        assert_eq!(pairs.len(), 40);
        assert_eq!(pairs[3], ("k3".to_string(), "late3".to_string()));
        assert_eq!(pairs[30], ("k30".to_string(), "late30".to_string()));
        assert_eq!(pairs[39].0, "k39");
    }

    #[test]
    fn properties_round_trip() {
        let pairs = vec![
            ("KEYS".to_string(), "a b".to_string()),
            ("TAGS".to_string(), "t".to_string()),
        ];
        let s = properties_to_string(&pairs);
        assert_eq!(s, "KEYS\u{1}a b\u{2}TAGS\u{1}t");
        assert_eq!(string_to_properties(&s), pairs);
        assert!(string_to_properties("\u{1}x\u{2}y\u{1}").is_empty());
    }

    #[test]
    fn offset_msg_id_round_trip_v4_v6() {
        let v4: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        let id = encode_offset_msg_id(&v4, 0x122826);
        assert_eq!(id, "7F00000100002A9F0000000000122826");
        assert_eq!(decode_offset_msg_id(&id), Some((v4, 0x122826)));
        let v6: SocketAddr = "[::1]:10911".parse().unwrap();
        let id6 = encode_offset_msg_id(&v6, 42);
        assert_eq!(id6.len(), 56);
        assert_eq!(decode_offset_msg_id(&id6), Some((v6, 42)));
        assert_eq!(decode_offset_msg_id("zz"), None);
    }

    #[test]
    fn garbage_never_panics() {
        for n in 0..200usize {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            let _ = decode_message(&junk);
            let _ = check_record(&junk, true);
            let _ = decode_batch_body(&junk);
        }
    }
}
