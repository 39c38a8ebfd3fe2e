//! Message lookup for the console: by msgId (the offsetMsgId the broker hands out, or the
//! client's unique key), by topic and key (the index), or by topic, queue and queue offset.

use std::fmt::Write;

use store::codec::{decode_offset_msg_id, hex_to_bytes, sys_flag};
use store::DecodedMessage;

use super::html::{esc, facts, link, table, time};
use crate::BrokerState;

/// How much of a body the page shows.
pub const PREVIEW_BYTES: usize = 4096;
/// Most messages one lookup lists.
const MAX_RESULTS: usize = 32;
/// Topics searched for a unique key when no topic is given.
const MAX_TOPICS_SCANNED: usize = 2000;

/// A lookup's outcome: messages (possibly none), or input that makes no sense (HTTP 400).
pub type Outcome = Result<Vec<DecodedMessage>, String>;

fn by_commit_log_offset(state: &BrokerState, offset: i64) -> Option<DecodedMessage> {
    let store = &state.store;
    if offset < store.min_commit_log_offset() || offset >= store.max_commit_log_offset() {
        return None;
    }
    store.message_by_commitlog_offset(offset).map(|(_, m)| m)
}

/// A msgId: 32 or 56 hex digits. Tried as an offsetMsgId of this broker first, then as a
/// client's unique key (UNIQ_KEY) in `topic`, or in every topic when none is given.
pub fn by_msg_id(state: &BrokerState, id: &str, topic: Option<&str>) -> Outcome {
    let id = id.trim();
    let bytes = hex_to_bytes(id).ok_or_else(|| format!("msgId must be hex digits, not {id:?}"))?;
    if bytes.len() != 16 && bytes.len() != 28 {
        return Err(format!("msgId must be 32 or 56 hex digits, got {}", id.len()));
    }
    let mut found = Vec::new();
    if let Some((_, offset)) = decode_offset_msg_id(id) {
        if let Some(m) = by_commit_log_offset(state, offset) {
            if m.offset_msg_id().eq_ignore_ascii_case(id) && topic.is_none_or(|t| t == m.topic) {
                found.push(m);
            }
        }
    }
    if found.is_empty() {
        let topics = match topic {
            Some(t) => vec![t.to_string()],
            None => {
                let mut all = state.topics.topic_names();
                all.truncate(MAX_TOPICS_SCANNED);
                all
            }
        };
        for t in topics {
            for m in state.store.query_by_key(&t, id, MAX_RESULTS, 0, i64::MAX).messages {
                if let Some((_, d)) = state.store.message_by_commitlog_offset(m.commit_log_offset) {
                    if d.unique_key() == Some(id) {
                        found.push(d);
                    }
                }
            }
            if !found.is_empty() {
                break;
            }
        }
    }
    Ok(found)
}

/// Messages of `topic` whose KEYS contain `key` (or whose unique key is `key`), newest first.
pub fn by_key(state: &BrokerState, topic: &str, key: &str) -> Outcome {
    if topic.is_empty() || key.is_empty() {
        return Err("a key lookup needs a topic and a key".into());
    }
    Ok(state
        .store
        .query_by_key(topic, key, MAX_RESULTS, 0, i64::MAX)
        .messages
        .into_iter()
        .filter_map(|m| {
            state
                .store
                .message_by_commitlog_offset(m.commit_log_offset)
                .map(|(_, d)| d)
        })
        .collect())
}

/// The message at `offset` of `topic`'s queue `queue_id`.
pub fn by_offset(state: &BrokerState, topic: &str, queue: &str, offset: &str) -> Outcome {
    if topic.is_empty() {
        return Err("an offset lookup needs a topic".into());
    }
    let queue_id: i32 = queue
        .trim()
        .parse()
        .map_err(|_| format!("queue must be a number, not {queue:?}"))?;
    let offset: i64 = offset
        .trim()
        .parse()
        .map_err(|_| format!("offset must be a number, not {offset:?}"))?;
    if queue_id < 0 || offset < 0 {
        return Err("queue and offset must not be negative".into());
    }
    Ok(state
        .store
        .commit_log_offset_in_queue(topic, queue_id, offset)
        .and_then(|phy| by_commit_log_offset(state, phy))
        .into_iter()
        .collect())
}

/// A body preview: text when it is mostly printable UTF-8, else hex; at most `PREVIEW_BYTES`.
pub fn preview(body: &[u8]) -> (String, &'static str) {
    let head = &body[..body.len().min(PREVIEW_BYTES)];
    let text = String::from_utf8_lossy(head);
    let bad = text
        .chars()
        .filter(|c| *c == '\u{fffd}' || (c.is_control() && !c.is_whitespace()))
        .count();
    // A cut through the last character is not binary.
    if bad <= 1 {
        (text.into_owned(), "text")
    } else {
        let mut hex = String::with_capacity(head.len() * 3);
        for (i, b) in head.iter().enumerate() {
            let _ = write!(hex, "{b:02x}{}", if i % 32 == 31 { "\n" } else { " " });
        }
        (hex, "hex")
    }
}

/// One message: its facts, properties and body preview.
pub fn render(m: &DecodedMessage) -> String {
    let mut out = String::from(r#"<section class="message">"#);
    let _ = write!(out, "<h2>{}</h2>", esc(m.unique_key().unwrap_or(&m.offset_msg_id())));
    out.push_str(&facts(&[
        ("Topic", link("/topic", &m.topic)),
        ("Queue", format!("{} at offset {}", m.queue_id, m.queue_offset)),
        ("msgId (UNIQ_KEY)", esc(m.unique_key().unwrap_or("-"))),
        ("offsetMsgId", esc(&m.offset_msg_id())),
        ("Tags", esc(m.tags().unwrap_or("-"))),
        ("Keys", esc(m.keys().unwrap_or("-"))),
        ("Born", format!("{} from {}", time(m.born_timestamp), m.born_host)),
        ("Stored", format!("{} on {}", time(m.store_timestamp), m.store_host)),
        ("CommitLog offset", m.commit_log_offset.to_string()),
        (
            "Size",
            format!("{} bytes stored, body {} bytes", m.store_size, m.body.len()),
        ),
        ("Reconsume times", m.reconsume_times.to_string()),
        ("Flag / sysFlag", format!("{} / {}", m.flag, m.sys_flag)),
    ]));
    let rows: Vec<Vec<String>> = m.properties.iter().map(|(k, v)| vec![esc(k), esc(v)]).collect();
    out.push_str("<h3>Properties</h3>");
    out.push_str(&table("props", &["Name", "Value"], &rows));
    let (text, kind) = preview(&m.body);
    let compressed = if m.sys_flag & sys_flag::COMPRESSED != 0 {
        " (compressed as stored)"
    } else {
        ""
    };
    let _ = write!(
        out,
        r#"<h3>Body ({kind}{compressed}{})</h3><pre class="body">{}</pre></section>"#,
        if m.body.len() > PREVIEW_BYTES {
            format!(", first {PREVIEW_BYTES} of {} bytes", m.body.len())
        } else {
            String::new()
        },
        esc(&text)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews() {
        assert_eq!(preview(b"hello <b>"), ("hello <b>".to_string(), "text"));
        let (hex, kind) = preview(&[0, 1, 2, 255, 254]);
        assert_eq!(kind, "hex");
        assert!(hex.starts_with("00 01 02 ff fe"));
        assert_eq!(preview(&vec![b'a'; 10_000]).0.len(), PREVIEW_BYTES);
    }
}
