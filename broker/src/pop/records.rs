//! What the revive topic holds: checkpoints (one per popped batch of one queue, tag `ck`),
//! acks (tag `ack`) and batch acks (tag `bAck`), as JSON with the short keys Java's
//! PopCheckPoint, AckMsg and BatchAckMsg use.

use serde::{Deserialize, Serialize};

pub const CK_TAG: &str = "ck";
pub const ACK_TAG: &str = "ack";
pub const BATCH_ACK_TAG: &str = "bAck";

/// One popped batch of one queue: which messages were handed out, when, for how long, and
/// (bit i of `bm`) which of them have been acked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PopCheckPoint {
    #[serde(rename = "bm", default)]
    pub bit_map: i32,
    #[serde(rename = "bn", default, skip_serializing_if = "Option::is_none")]
    pub broker_name: Option<String>,
    #[serde(rename = "c")]
    pub cid: String,
    #[serde(rename = "d", default, skip_serializing_if = "Vec::is_empty")]
    pub queue_offset_diff: Vec<i32>,
    #[serde(rename = "it")]
    pub invisible_time: i64,
    #[serde(rename = "n")]
    pub num: i32,
    #[serde(rename = "pt")]
    pub pop_time: i64,
    #[serde(rename = "q")]
    pub queue_id: i32,
    #[serde(rename = "ro", default)]
    pub revive_offset: i64,
    #[serde(rename = "rp", default, skip_serializing_if = "Option::is_none")]
    pub re_put_times: Option<String>,
    #[serde(rename = "so")]
    pub start_offset: i64,
    #[serde(rename = "t")]
    pub topic: String,
}

impl PopCheckPoint {
    pub fn revive_time(&self) -> i64 {
        self.pop_time + self.invisible_time
    }

    /// The bit of `ack_offset` in this checkpoint, if it is one of its messages.
    pub fn index_of_ack(&self, ack_offset: i64) -> Option<usize> {
        if ack_offset < self.start_offset {
            return None;
        }
        let diff = ack_offset - self.start_offset;
        if self.queue_offset_diff.is_empty() {
            return (diff < self.num as i64).then_some(diff as usize);
        }
        self.queue_offset_diff.iter().position(|d| *d as i64 == diff)
    }

    pub fn offset_at(&self, index: usize) -> i64 {
        match self.queue_offset_diff.get(index) {
            Some(d) => self.start_offset + *d as i64,
            None => self.start_offset + index as i64,
        }
    }

    pub fn is_acked(&self, index: usize) -> bool {
        self.bit_map & (1 << index) != 0
    }

    pub fn all_acked(&self) -> bool {
        (0..self.num.max(0) as usize).all(|i| self.is_acked(i))
    }

    /// What pairs this checkpoint with its acks.
    pub fn merge_key(&self, default_broker: &str) -> String {
        merge_key(
            &self.topic,
            &self.cid,
            self.queue_id,
            self.start_offset,
            self.pop_time,
            self.broker_name.as_deref().unwrap_or(default_broker),
        )
    }

    /// The `UNIQ_KEY` of the checkpoint record.
    pub fn unique_id(&self) -> String {
        format!(
            "{}@{}@{}@{}@{}@{}@{CK_TAG}",
            self.topic,
            self.queue_id,
            self.start_offset,
            self.cid,
            self.pop_time,
            self.broker_name.as_deref().unwrap_or("null")
        )
    }
}

pub fn merge_key(topic: &str, group: &str, queue_id: i32, start_offset: i64, pop_time: i64, broker: &str) -> String {
    format!("{topic}{group}{queue_id}{start_offset}{pop_time}{broker}")
}

/// One ack (`ao` set) or, with `aol`, a batch of acks of one checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AckMsg {
    #[serde(rename = "ao", alias = "ackOffset", default)]
    pub ack_offset: i64,
    #[serde(
        rename = "aol",
        alias = "ackOffsetList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ack_offset_list: Option<Vec<i64>>,
    #[serde(
        rename = "bn",
        alias = "brokerName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub broker_name: Option<String>,
    #[serde(rename = "c", alias = "consumerGroup")]
    pub consumer_group: String,
    #[serde(rename = "pt", alias = "popTime")]
    pub pop_time: i64,
    #[serde(rename = "q", alias = "queueId")]
    pub queue_id: i32,
    #[serde(rename = "so", alias = "startOffset")]
    pub start_offset: i64,
    #[serde(rename = "t", alias = "topic")]
    pub topic: String,
}

impl AckMsg {
    pub fn merge_key(&self, default_broker: &str) -> String {
        merge_key(
            &self.topic,
            &self.consumer_group,
            self.queue_id,
            self.start_offset,
            self.pop_time,
            self.broker_name
                .as_deref()
                .filter(|b| !b.is_empty())
                .unwrap_or(default_broker),
        )
    }

    pub fn offsets(&self) -> Vec<i64> {
        match &self.ack_offset_list {
            Some(list) => list.clone(),
            None => vec![self.ack_offset],
        }
    }

    /// The `UNIQ_KEY` of the ack record.
    pub fn unique_id(&self) -> String {
        match &self.ack_offset_list {
            None => format!(
                "{}@{}@{}@{}@{}@{}@{ACK_TAG}",
                self.topic,
                self.queue_id,
                self.ack_offset,
                self.consumer_group,
                self.pop_time,
                self.broker_name.as_deref().unwrap_or("null")
            ),
            Some(list) => {
                let list: Vec<String> = list.iter().map(i64::to_string).collect();
                format!(
                    "{}@{}@[{}]@{}@{}@{BATCH_ACK_TAG}",
                    self.topic,
                    self.queue_id,
                    list.join(", "),
                    self.consumer_group,
                    self.pop_time
                )
            }
        }
    }
}

/// One entry of a BATCH_ACK_MESSAGE body: the set bits of `b` (Java's BitSet bytes, base64)
/// are offsets relative to `so`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BatchAck {
    #[serde(rename = "c", alias = "consumerGroup")]
    pub consumer_group: String,
    #[serde(rename = "t", alias = "topic")]
    pub topic: String,
    #[serde(rename = "r", alias = "retry")]
    pub retry: String,
    #[serde(rename = "so", alias = "startOffset")]
    pub start_offset: i64,
    #[serde(rename = "q", alias = "queueId")]
    pub queue_id: i32,
    #[serde(rename = "rq", alias = "reviveQueueId")]
    pub revive_queue_id: i32,
    #[serde(rename = "pt", alias = "popTime")]
    pub pop_time: i64,
    #[serde(rename = "it", alias = "invisibleTime")]
    pub invisible_time: i64,
    #[serde(rename = "b", alias = "bitSet", default)]
    pub bit_set: Option<serde_json::Value>,
}

impl BatchAck {
    /// The set bit positions (a base64 string of little-endian bytes, or a byte array).
    pub fn bits(&self) -> Vec<usize> {
        let bytes: Vec<u8> = match &self.bit_set {
            Some(serde_json::Value::String(s)) => base64_decode(s).unwrap_or_default(),
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_i64()).map(|v| v as u8).collect(),
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for (i, byte) in bytes.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    out.push(i * 8 + bit);
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BatchAckMessageRequestBody {
    #[serde(rename = "brokerName", default)]
    pub broker_name: Option<String>,
    #[serde(default)]
    pub acks: Option<Vec<BatchAck>>,
}

/// Standard base64 (what fastjson writes for a byte array).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' => continue,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

pub fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_json_uses_short_keys() {
        let ck = PopCheckPoint {
            cid: "g".into(),
            topic: "t".into(),
            num: 2,
            queue_offset_diff: vec![0, 2],
            start_offset: 10,
            ..Default::default()
        };
        let text = serde_json::to_string(&ck).unwrap();
        assert!(text.contains("\"so\":10") && text.contains("\"d\":[0,2]"), "{text}");
        assert_eq!(ck.index_of_ack(12), Some(1));
        assert_eq!(ck.index_of_ack(11), None);
        let back: PopCheckPoint = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ck);
    }

    #[test]
    fn batch_ack_bits_come_from_base64_bitset_bytes() {
        // bits 0, 2 and 9: bytes [0b101, 0b10]
        let encoded = base64_encode(&[0b101, 0b10]);
        let ack: BatchAck = serde_json::from_str(&format!(
            r#"{{"c":"g","t":"t","r":"0","so":5,"q":0,"rq":1,"pt":1,"it":2,"b":"{encoded}"}}"#
        ))
        .unwrap();
        assert_eq!(ack.bits(), vec![0, 2, 9]);
    }
}
