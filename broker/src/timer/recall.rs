//! RECALL_MESSAGE (370): takes back a timer message before it is due, by the handle its
//! send response carried. The handle is URL-safe base64 (with padding) of
//! `v1 <topic> <brokerName> <deliver time + 1> <unique key>`; the recall is stored as a
//! marker message with `TIMER_DEL_UNIQKEY = <topic>+<unique key>` for the same time, which
//! the timer service files in the same slot and uses to skip the message.

use std::sync::Arc;

use base64::Engine;
use remoting::code::response;
use remoting::header::broker::{RecallMessageRequestHeader, RecallMessageResponseHeader};
use remoting::protocol::route::perm;
use remoting::{Connection, HandlerResult, RemotingCommand};
use store::codec::{self, property as prop};
use store::timer::{delete_key, property as tprop};
use store::{MessageToStore, PutMessageStatus};

use crate::BrokerState;

/// The tag of recall markers.
pub const RECALL_MESSAGE_TAG: &str = "_RECALL_TAG_";

/// A decoded version 1 handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleV1 {
    pub topic: String,
    pub broker_name: String,
    pub timestamp: String,
    pub message_id: String,
}

pub fn encode_handle(topic: &str, broker_name: &str, timestamp: &str, message_id: &str) -> String {
    let raw = ["v1", topic, broker_name, timestamp, message_id].join(" ");
    base64::engine::general_purpose::URL_SAFE.encode(raw.as_bytes())
}

const INVALID: &str = "recall handle is invalid";

/// Decodes a handle as Java does: URL-safe base64 (padding optional), split on spaces,
/// first item `v1`, at least five items.
pub fn decode_handle(handle: &str) -> Result<HandleV1, &'static str> {
    if handle.is_empty() {
        return Err(INVALID);
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let raw = engine.decode(handle.as_bytes()).map_err(|_| INVALID)?;
    let raw = String::from_utf8_lossy(&raw);
    // Java's String.split: empty items kept in the middle, dropped at the end.
    let mut items: Vec<&str> = raw.split(' ').collect();
    while items.last() == Some(&"") {
        items.pop();
    }
    if items.first() != Some(&"v1") || items.len() < 5 {
        return Err(INVALID);
    }
    Ok(HandleV1 {
        topic: items[1].to_string(),
        broker_name: items[2].to_string(),
        timestamp: items[3].to_string(),
        message_id: items[4].to_string(),
    })
}

fn answer(req: &RemotingCommand, code: i32, remark: &str) -> HandlerResult {
    Ok(Some(RemotingCommand::response_to(req, code, Some(remark.to_string()))))
}

/// Every answer carries the broker's region, as Java's does.
pub async fn recall_message(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let answer = recall(state.clone(), conn, req).await?;
    Ok(answer.map(|mut res| {
        res.ext_mut().insert("MSG_REGION", state.live().region_id.as_str());
        res
    }))
}

async fn recall(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: RecallMessageRequestHeader = req.decode_header()?;
    let raw = &state.config.raw;
    let timer_config = match state.timer.as_ref() {
        Some(timer) => timer.config.clone(),
        None => store::timer::TimerConfig::from_properties(raw),
    };
    if !super::service::raw_bool(raw, "recallMessageEnable", false) {
        return answer(&req, response::NO_PERMISSION, "recall failed, operation is forbidden");
    }
    if state.ha.is_slave() {
        return answer(
            &req,
            response::SLAVE_NOT_AVAILABLE,
            "recall failed, broker service not available",
        );
    }
    let config = state.live();
    if config.broker_permission & perm::WRITE == 0
        && !super::service::raw_bool(raw, "allowRecallWhenBrokerNotWriteable", true)
    {
        return answer(
            &req,
            response::SERVICE_NOT_AVAILABLE,
            "recall failed, broker service not available",
        );
    }
    if state.topics.select(&h.topic).is_none() {
        return answer(
            &req,
            response::TOPIC_NOT_EXIST,
            &format!("recall failed, the topic[{}] not exist", h.topic),
        );
    }
    let handle = match decode_handle(&h.recall_handle) {
        Ok(handle) => handle,
        Err(remark) => return answer(&req, response::ILLEGAL_OPERATION, remark),
    };
    if handle.topic != h.topic {
        return answer(&req, response::ILLEGAL_OPERATION, "recall failed, topic not match");
    }
    if handle.broker_name != config.broker_name {
        return answer(
            &req,
            response::ILLEGAL_OPERATION,
            "recall failed, broker service not available",
        );
    }
    let timestamp: i64 = handle.timestamp.parse().unwrap_or(-1);
    let now = remoting::protocol::topic::now_millis();
    let left = timestamp - now;
    if left <= 0 || left >= timer_config.max_delay_sec * 1000 {
        return answer(&req, response::ILLEGAL_OPERATION, "recall failed, timestamp invalid");
    }

    // The marker: body "0", tag _RECALL_TAG_, for the handle's time.
    let mut properties = Vec::new();
    codec::insert_property(&mut properties, prop::TAGS, RECALL_MESSAGE_TAG);
    codec::insert_property(
        &mut properties,
        tprop::TIMER_DEL_UNIQKEY,
        &delete_key(&handle.topic, &handle.message_id),
    );
    codec::insert_property(&mut properties, prop::UNIQ_KEY, &handle.message_id);
    codec::insert_property(&mut properties, tprop::TIMER_DELIVER_MS, &handle.timestamp);
    codec::insert_property(&mut properties, "BORN_TIMESTAMP", &now.to_string());
    codec::insert_property(&mut properties, "TRACE_CONTEXT", "");
    if let Some(group) = &h.producer_group {
        codec::insert_property(&mut properties, "PGROUP", group);
    }
    let mut topic = handle.topic.clone();
    let mut queue_id = 0;
    // Through the put hook, as Java's recall goes: a disabled wheel refuses it there.
    let transformed = super::on_put(&state, &mut topic, &mut queue_id, &mut properties, 0);
    if !matches!(transformed, Ok(true)) {
        return answer(&req, response::SYSTEM_ERROR, "recall failed, execute error");
    }
    let mut msg = MessageToStore::new(&topic, queue_id, &b"0"[..], properties);
    msg.born_timestamp = now;
    msg.born_host = conn.peer_addr();
    msg.store_host = state.store_addr;
    let result = state.store.put_message_async(&msg).await;
    match (result.status, result.append) {
        (
            PutMessageStatus::PutOk
            | PutMessageStatus::FlushDiskTimeout
            | PutMessageStatus::FlushSlaveTimeout
            | PutMessageStatus::SlaveNotAvailable,
            Some(append),
        ) => {
            state.stats.on_put(&append);
            Ok(Some(RemotingCommand::success(&req).with_header(
                &RecallMessageResponseHeader {
                    msg_id: handle.message_id,
                },
            )))
        }
        _ => answer(&req, response::SYSTEM_ERROR, "recall failed, execute error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_bad_ones_are_refused() {
        let h = encode_handle("topic", "broker-0", "1700000000001", "7F0000010001ABCD");
        let d = decode_handle(&h).unwrap();
        assert_eq!(d.topic, "topic");
        assert_eq!(d.broker_name, "broker-0");
        assert_eq!(d.timestamp, "1700000000001");
        assert_eq!(d.message_id, "7F0000010001ABCD");
        // Without padding too.
        assert_eq!(decode_handle(h.trim_end_matches('=')).unwrap(), d);
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE.encode(s);
        assert_eq!(decode_handle(""), Err(INVALID));
        assert_eq!(decode_handle(&b64("v1 a b c")), Err(INVALID));
        assert_eq!(decode_handle(&b64("v2 a b c d")), Err(INVALID));
        assert_eq!(decode_handle("v1 a b c d"), Err(INVALID));
        assert!(decode_handle(&b64("v1 a b c d")).is_ok());
    }
}
