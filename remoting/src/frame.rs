//! The frame layer, free of I/O: finding complete frames in a byte buffer and turning them
//! into `RemotingCommand`s and back.
//!
//! ```text
//! | total length: i32 BE | serialize type: u8 | header length: u24 BE | header | body |
//!   `total length` counts everything after itself.
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::command::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
use crate::fastjson;
use crate::json_header;

/// Java's default `com.rocketmq.remoting.frameMaxLength`.
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame length {0} is negative or shorter than the header-length word")]
    BadLength(i32),
    #[error("frame length {length} exceeds the limit of {limit} bytes")]
    TooLarge { length: usize, limit: usize },
    #[error("header length {header} does not fit in a frame of {frame} bytes")]
    HeaderTooLong { header: usize, frame: usize },
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    #[error("bad {kind} header: {reason}")]
    BadHeader { kind: &'static str, reason: String },
}

/// Checks whether `buf` starts with a complete frame. Returns the frame's size in bytes
/// (length prefix included), `None` if more bytes are needed, or an error if the frame can
/// never be valid and the connection should be closed.
pub fn check(buf: &[u8], max_frame_length: usize) -> Result<Option<usize>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let length = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if length < 4 {
        return Err(FrameError::BadLength(length));
    }
    let total = length as usize + 4;
    if total > max_frame_length {
        return Err(FrameError::TooLarge {
            length: total,
            limit: max_frame_length,
        });
    }
    if buf.len() < 8 {
        return Ok(None);
    }
    let word = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let serialize = (word >> 24) as u8;
    if SerializeType::from_code(serialize).is_none() {
        return Err(FrameError::UnknownSerializeType(serialize));
    }
    let header = (word & 0x00FF_FFFF) as usize;
    if header > length as usize - 4 {
        return Err(FrameError::HeaderTooLong {
            header,
            frame: length as usize,
        });
    }
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some(total))
}

/// Takes one complete frame (as reported by [`check`]) off the front of `buf` and decodes it.
pub fn parse(buf: &mut BytesMut, frame_size: usize) -> Result<RemotingCommand, FrameError> {
    let mut frame = buf.split_to(frame_size).freeze();
    frame.advance(4);
    let word = frame.get_u32();
    let serialize =
        SerializeType::from_code((word >> 24) as u8).ok_or(FrameError::UnknownSerializeType((word >> 24) as u8))?;
    let header_len = (word & 0x00FF_FFFF) as usize;
    let header = frame.split_to(header_len);
    let mut cmd = match serialize {
        SerializeType::Json => decode_json_header(&header)?,
        SerializeType::RocketMq => decode_binary_header(&header)?,
    };
    cmd.serialize_type = serialize;
    cmd.body = frame;
    Ok(cmd)
}

/// Decodes one whole frame held in `bytes` (tests and tools).
pub fn decode(bytes: &[u8]) -> Result<RemotingCommand, FrameError> {
    let mut buf = BytesMut::from(bytes);
    match check(&buf, usize::MAX)? {
        Some(n) if n == bytes.len() => parse(&mut buf, n),
        _ => Err(FrameError::BadLength(bytes.len() as i32)),
    }
}

thread_local! {
    static JSON_SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(512));
}

/// Appends `cmd` as one frame to `dst`. The two length words are filled in once the
/// header's size is known.
pub fn encode(cmd: &RemotingCommand, dst: &mut BytesMut) {
    let start = dst.len();
    dst.reserve(8 + 256 + cmd.body.len());
    dst.put_u64(0);
    match cmd.serialize_type {
        // A JSON header is some eighty small writes: into a reused Vec they inline, into
        // `BytesMut` each is a call with its own capacity check; one copy joins them.
        SerializeType::Json => JSON_SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            json_header::encode(cmd, scratch);
            dst.put_slice(scratch);
            if scratch.capacity() > 1 << 16 {
                // An unusually long remark: do not keep its buffer for the thread's life.
                *scratch = Vec::with_capacity(512);
            }
        }),
        SerializeType::RocketMq => encode_binary_header(cmd, dst),
    }
    let header_len = dst.len() - start - 8;
    dst.put_slice(&cmd.body);
    let length = (dst.len() - start - 4) as u32;
    dst[start..start + 4].copy_from_slice(&length.to_be_bytes());
    let word = ((cmd.serialize_type.code() as u32) << 24) | (header_len as u32 & 0x00FF_FFFF);
    dst[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
}

/// The header bytes of `cmd` in its serialize type.
pub fn encode_header(cmd: &RemotingCommand) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_header(cmd, &mut out);
    out
}

fn write_header(cmd: &RemotingCommand, out: &mut impl BufMut) {
    match cmd.serialize_type {
        SerializeType::Json => json_header::encode(cmd, out),
        SerializeType::RocketMq => encode_binary_header(cmd, out),
    }
}

// ---- JSON headers -------------------------------------------------------------------

fn json_error(reason: impl Into<String>) -> FrameError {
    FrameError::BadHeader {
        kind: "JSON",
        reason: reason.into(),
    }
}

/// Ext-field values arrive as strings from Java but as numbers or booleans from the C++
/// client and ali-ons; all of them become their text.
fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn json_int(value: Option<&serde_json::Value>, field: &str) -> Result<i64, FrameError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(0),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| json_error(format!("{field} is not an integer"))),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| json_error(format!("{field} is not an integer"))),
        Some(_) => Err(json_error(format!("{field} is not an integer"))),
    }
}

pub fn decode_json_header(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    match json_header::decode(header) {
        Some(cmd) => Ok(cmd),
        None => decode_json_header_general(header),
    }
}

/// Decodes any header text, standard JSON or fastjson's dialect, through a JSON tree.
pub fn decode_json_header_general(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    let value = fastjson::parse(header).map_err(|e| json_error(e.to_string()))?;
    let serde_json::Value::Object(obj) = value else {
        return Err(json_error("the header is not a JSON object"));
    };
    let language = match obj.get("language") {
        Some(serde_json::Value::String(name)) => LanguageCode::from_name(name).unwrap_or(LanguageCode::OTHER),
        Some(serde_json::Value::Number(n)) => LanguageCode(n.as_u64().unwrap_or(7) as u8),
        _ => LanguageCode::JAVA,
    };
    let remark = match obj.get("remark") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => scalar_text(v),
    };
    let ext_fields = match obj.get("extFields") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(map)) => Some(
            map.iter()
                .filter_map(|(k, v)| scalar_text(v).map(|v| (k.clone(), v)))
                .collect::<ExtFields>(),
        ),
        Some(_) => return Err(json_error("extFields is not an object")),
    };
    Ok(RemotingCommand {
        code: json_int(obj.get("code"), "code")? as i32,
        language,
        version: json_int(obj.get("version"), "version")? as i32,
        opaque: json_int(obj.get("opaque"), "opaque")? as i32,
        flag: json_int(obj.get("flag"), "flag")? as i32,
        remark,
        ext_fields,
        serialize_type: SerializeType::Json,
        body: Bytes::new(),
    })
}

// ---- ROCKETMQ binary headers -----------------------------------------------------------
//
// | code: i16 | language: u8 | version: i16 | opaque: i32 | flag: i32 |
// | remark length: i32 | remark | ext length: i32 | (key length: i16 | key | value length: i32 | value)* |

fn binary_error(reason: impl Into<String>) -> FrameError {
    FrameError::BadHeader {
        kind: "ROCKETMQ",
        reason: reason.into(),
    }
}

fn take<'a>(buf: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], FrameError> {
    if buf.len() < n {
        return Err(binary_error(format!(
            "{what} needs {n} bytes but only {} remain",
            buf.len()
        )));
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

fn take_len(buf: &mut &[u8], short: bool, what: &str) -> Result<usize, FrameError> {
    let len = if short {
        i16::from_be_bytes(take(buf, 2, what)?.try_into().unwrap()) as i32
    } else {
        i32::from_be_bytes(take(buf, 4, what)?.try_into().unwrap())
    };
    usize::try_from(len).map_err(|_| binary_error(format!("{what} is negative ({len})")))
}

fn take_str<'a>(buf: &mut &'a [u8], short: bool, what: &str) -> Result<&'a str, FrameError> {
    let len = take_len(buf, short, what)?;
    let bytes = take(buf, len, what)?;
    std::str::from_utf8(bytes).map_err(|_| binary_error(format!("{what} is not UTF-8")))
}

pub fn decode_binary_header(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    let mut buf = header;
    let fixed = take(&mut buf, 13, "fixed header part")?;
    let code = i16::from_be_bytes([fixed[0], fixed[1]]) as i32;
    let language = LanguageCode(fixed[2]);
    let version = i16::from_be_bytes([fixed[3], fixed[4]]) as i32;
    let opaque = i32::from_be_bytes(fixed[5..9].try_into().unwrap());
    let flag = i32::from_be_bytes(fixed[9..13].try_into().unwrap());
    let remark = take_str(&mut buf, false, "remark")?;
    let ext_len = take_len(&mut buf, false, "ext fields length")?;
    let mut ext_bytes = take(&mut buf, ext_len, "ext fields")?;
    let ext_fields = if ext_len == 0 {
        None
    } else {
        let mut ext = ExtFields::new();
        while !ext_bytes.is_empty() {
            let key = take_str(&mut ext_bytes, true, "ext field key")?;
            let value = take_str(&mut ext_bytes, false, "ext field value")?;
            ext.insert(key, value);
        }
        Some(ext)
    };
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark: (!remark.is_empty()).then(|| remark.to_string()),
        ext_fields,
        serialize_type: SerializeType::RocketMq,
        body: Bytes::new(),
    })
}

fn encode_binary_header(cmd: &RemotingCommand, out: &mut impl BufMut) {
    out.put_i16(cmd.code as i16);
    out.put_u8(cmd.language.0);
    out.put_i16(cmd.version as i16);
    out.put_i32(cmd.opaque);
    out.put_i32(cmd.flag);
    match cmd.remark.as_deref() {
        Some(remark) if !remark.is_empty() => {
            out.put_i32(remark.len() as i32);
            out.put_slice(remark.as_bytes());
        }
        _ => out.put_i32(0),
    }
    let ext_len: usize = cmd.ext().iter().map(|(k, v)| 2 + k.len() + 4 + v.len()).sum();
    out.put_i32(ext_len as i32);
    for (k, v) in cmd.ext().iter() {
        out.put_i16(k.len() as i16);
        out.put_slice(k.as_bytes());
        out.put_i32(v.len() as i32);
        out.put_slice(v.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(serialize_type: SerializeType) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(105);
        cmd.serialize_type = serialize_type;
        cmd.opaque = 7;
        cmd.remark = Some("héllo".into());
        cmd.ext_mut().insert("topic", "TopicTest");
        cmd.ext_mut().insert("empty", "");
        cmd.body = Bytes::from_static(b"body bytes");
        cmd
    }

    #[test]
    fn both_serialize_types_round_trip() {
        for st in [SerializeType::Json, SerializeType::RocketMq] {
            let cmd = sample(st);
            let mut buf = BytesMut::new();
            encode(&cmd, &mut buf);
            let back = decode(&buf).unwrap();
            assert_eq!(back, cmd, "{st:?}");
        }
    }

    #[test]
    fn check_waits_for_whole_frames() {
        let mut buf = BytesMut::new();
        encode(&sample(SerializeType::Json), &mut buf);
        for cut in 0..buf.len() {
            assert_eq!(check(&buf[..cut], DEFAULT_MAX_FRAME_LENGTH), Ok(None), "cut {cut}");
        }
        assert_eq!(check(&buf, DEFAULT_MAX_FRAME_LENGTH), Ok(Some(buf.len())));
    }

    #[test]
    fn check_rejects_impossible_frames() {
        let neg = (-1i32).to_be_bytes();
        assert!(matches!(check(&neg, 1 << 24), Err(FrameError::BadLength(-1))));
        let huge = (i32::MAX).to_be_bytes();
        assert!(matches!(check(&huge, 1 << 24), Err(FrameError::TooLarge { .. })));
        let mut bad_header = 8i32.to_be_bytes().to_vec();
        bad_header.extend_from_slice(&100u32.to_be_bytes());
        assert!(matches!(
            check(&bad_header, 1 << 24),
            Err(FrameError::HeaderTooLong { .. })
        ));
        let mut bad_type = 8i32.to_be_bytes().to_vec();
        bad_type.extend_from_slice(&(9u32 << 24).to_be_bytes());
        assert!(matches!(
            check(&bad_type, 1 << 24),
            Err(FrameError::UnknownSerializeType(9))
        ));
    }

    #[test]
    fn lying_binary_lengths_are_errors() {
        let mut header = encode_header(&sample(SerializeType::RocketMq));
        // remark length claims far more than the header holds
        header[13..17].copy_from_slice(&1000i32.to_be_bytes());
        assert!(decode_binary_header(&header).is_err());
        let mut header = encode_header(&sample(SerializeType::RocketMq));
        header[13..17].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_binary_header(&header).is_err());
    }

    #[test]
    fn scalar_ext_values_become_text() {
        let header = br#"{"code":10,"language":"CPP","version":63,"opaque":4,"flag":0,"extFields":{"queueId":3,"batch":false,"topic":"T","x":null}}"#;
        let cmd = decode_json_header(header).unwrap();
        assert_eq!(cmd.ext().get("queueId"), Some("3"));
        assert_eq!(cmd.ext().get("batch"), Some("false"));
        assert_eq!(cmd.ext().get("x"), None);
        assert_eq!(cmd.language, LanguageCode::CPP);
    }
}
