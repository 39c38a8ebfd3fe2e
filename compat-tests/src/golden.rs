//! The golden frames in `../shared/golden/frames/*.jsonl`.

use std::path::PathBuf;

use bytes::Bytes;
use remoting::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
use serde::Deserialize;
use serde_json::Value;

/// `../shared/golden`, next to the project checkout.
pub fn golden_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/golden");
    assert!(
        dir.is_dir(),
        "golden data not found at {} (shared/ must sit next to the checkout)",
        dir.display()
    );
    dir
}

/// One recorded frame (see shared/golden/README.md).
#[derive(Debug, Clone, Deserialize)]
pub struct GoldenFrame {
    pub t: f64,
    pub conn: String,
    pub dir: String,
    pub code: i32,
    pub opaque: i32,
    pub flag: i32,
    pub serialize: String,
    pub header: Value,
    pub body_len: usize,
    pub body_hex: String,
    #[serde(default)]
    pub body_text: Option<String>,
}

impl GoldenFrame {
    pub fn body(&self) -> Vec<u8> {
        hex_decode(&self.body_hex)
    }

    pub fn is_request(&self) -> bool {
        self.dir == "req"
    }

    /// The server port of the connection ("35576->9876" gives 9876).
    pub fn server_port(&self) -> u16 {
        self.conn.rsplit("->").next().unwrap().parse().unwrap()
    }

    /// The frame as a command, built from the recorded header fields.
    pub fn to_command(&self) -> RemotingCommand {
        let h = &self.header;
        let int = |k: &str| h.get(k).and_then(Value::as_i64).unwrap_or(0) as i32;
        let language = match h.get("language") {
            Some(Value::String(name)) => LanguageCode::from_name(name).unwrap_or(LanguageCode::OTHER),
            Some(Value::Number(n)) => LanguageCode(n.as_u64().unwrap_or(0) as u8),
            _ => LanguageCode::JAVA,
        };
        let ext_fields = h.get("extFields").and_then(Value::as_object).map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect::<ExtFields>()
        });
        RemotingCommand {
            code: int("code"),
            language,
            version: int("version"),
            opaque: int("opaque"),
            flag: int("flag"),
            remark: h
                .get("remark")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            ext_fields,
            serialize_type: if self.serialize == "ROCKETMQ" {
                SerializeType::RocketMq
            } else {
                SerializeType::Json
            },
            body: Bytes::from(self.body()),
        }
    }
}

/// Every golden frame file name, without extension, in order.
pub fn frame_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir().join("frames"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter_map(|n| n.strip_suffix(".jsonl").map(String::from))
        // The raw HA stream is not remoting frames (see its own loader when HA exists).
        .filter(|n| !n.ends_with("-ha-stream"))
        .collect();
    names.sort();
    names
}

/// Loads `frames/<name>.jsonl`; `name` may be a prefix such as "02".
pub fn load_frames(name: &str) -> Vec<GoldenFrame> {
    let file = frame_files()
        .into_iter()
        .find(|f| f.starts_with(name))
        .unwrap_or_else(|| panic!("no golden frame file {name}"));
    let text = std::fs::read_to_string(golden_dir().join("frames").join(format!("{file}.jsonl"))).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The response to `request` in `frames` (same connection, same opaque).
pub fn response_to<'a>(frames: &'a [GoldenFrame], request: &GoldenFrame) -> Option<&'a GoldenFrame> {
    frames
        .iter()
        .find(|f| f.dir == "resp" && f.conn == request.conn && f.opaque == request.opaque && f.t >= request.t)
}

/// The body of the first answer, in capture `name`, to a request of `code`.
pub fn first_answer_body(name: &str, code: i32) -> Vec<u8> {
    let frames = load_frames(name);
    frames
        .iter()
        .filter(|f| f.is_request() && f.code == code)
        .find_map(|req| response_to(&frames, req))
        .unwrap_or_else(|| panic!("no answer to code {code} in capture {name}"))
        .body()
}

pub fn hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
