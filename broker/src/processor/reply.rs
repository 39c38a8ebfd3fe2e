//! SEND_REPLY_MESSAGE (324) and SEND_REPLY_MESSAGE_V2 (325): request-reply. A responder sends
//! its reply here; the broker pushes it straight to the requesting producer's connection
//! (PUSH_REPLY_MESSAGE_TO_CLIENT, 326, found by the `REPLY_TO_CLIENT` client id) and, with
//! `storeReplyMessageEnable` (the default), also stores it in the reply topic.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use remoting::code::{request, response};
use remoting::header::broker::{
    ReplyMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use remoting::{Connection, HandlerResult, RemotingCommand};
use store::codec;
use store::{MessageToStore, PutMessageStatus};
use tracing::warn;

use super::send::{msg_check, refused_until_start_time, with_region_and_trace};
use crate::BrokerState;

/// The requester's client id, set by `MessageUtil.createReplyMessage`.
const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// When the broker pushed the reply (added to the pushed copy only).
const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// Java's `Broker2Client.callClient` timeout.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub async fn send_reply_message(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: SendMessageRequestHeader = if req.code == request::SEND_REPLY_MESSAGE_V2 {
        req.decode_header::<SendMessageRequestHeaderV2>()?.into()
    } else {
        req.decode_header()?
    };
    let config = state.live();
    if let Some(refused) = refused_until_start_time(&config, &req) {
        return Ok(Some(with_region_and_trace(&config, refused)));
    }
    let queue_id = match msg_check(&state, &config, &conn, &req, &h) {
        Ok(checked) => checked.registered(&state).await,
        Err(refused) => return Ok(Some(with_region_and_trace(&config, refused))),
    };

    let properties_text = h.properties.clone().unwrap_or_default();
    let properties = codec::string_to_properties(&properties_text);
    let (code, remark) = match push_reply(&state, &conn, &h, &properties, &req).await {
        Ok(()) => (response::SUCCESS, None),
        Err(remark) => (response::SYSTEM_ERROR, Some(remark)),
    };
    // Java's answer when the push worked and nothing is stored: placeholders the client
    // can decode.
    let mut header = SendMessageResponseHeader {
        msg_id: "0".into(),
        queue_id,
        queue_offset: 0,
        transaction_id: None,
        recall_handle: None,
    };
    let mut stored = false;
    if state.live().store_reply_message_enable {
        // Stored as it arrived: the properties text unchanged (no CLUSTER, no push time).
        let mut msg = MessageToStore::new(&h.topic, queue_id, req.body.clone(), properties);
        msg.properties_string = Some(properties_text);
        msg.flag = h.flag;
        msg.sys_flag = h.sys_flag;
        msg.born_timestamp = h.born_timestamp;
        msg.born_host = conn.peer_addr();
        msg.store_host = state.store_addr;
        msg.reconsume_times = h.reconsume_times.unwrap_or(0);
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
                header.msg_id = append.msg_id();
                header.queue_offset = append.logics_offset;
                stored = true;
            }
            (status, _) => warn!(topic = %h.topic, ?status, "storing a reply message failed"),
        }
    }
    // As Java: a failed push still reports where the stored copy went.
    let mut res = RemotingCommand::response_to(&req, code, remark);
    if code == response::SUCCESS || stored {
        res = res.with_header(&header);
    }
    Ok(Some(with_region_and_trace(&config, res)))
}

/// Pushes the reply to the requester; Err carries Java's remark.
async fn push_reply(
    state: &BrokerState,
    conn: &Connection,
    h: &SendMessageRequestHeader,
    properties: &[(String, String)],
    req: &RemotingCommand,
) -> Result<(), String> {
    let Some(sender) = codec::get_property(properties, REPLY_TO_CLIENT) else {
        warn!("{REPLY_TO_CLIENT} is null, can not reply message");
        return Err(format!("reply message properties[{REPLY_TO_CLIENT}] is null"));
    };
    let Some(requester) = state.clients.find_producer(sender) else {
        let remark = format!("push reply message fail, channel of <{sender}> not found.");
        warn!("{remark}");
        return Err(remark);
    };
    let mut pushed = properties.to_vec();
    codec::insert_property(&mut pushed, PUSH_REPLY_TIME, &now_millis().to_string());
    let header = ReplyMessageRequestHeader {
        producer_group: h.producer_group.clone(),
        topic: h.topic.clone(),
        default_topic: h.default_topic.clone(),
        default_topic_queue_nums: h.default_topic_queue_nums,
        queue_id: h.queue_id,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        flag: h.flag,
        properties: Some(codec::properties_string_java_order(&pushed)),
        reconsume_times: h.reconsume_times,
        unit_mode: h.unit_mode,
        born_host: conn.peer_addr().to_string(),
        store_host: state.store_addr.to_string(),
        store_timestamp: now_millis(),
    };
    let push = RemotingCommand::request_with_header(request::PUSH_REPLY_MESSAGE_TO_CLIENT, &header)
        .with_body(req.body.clone());
    let failed = format!("push reply message to {sender}fail.");
    match requester.request(push, PUSH_TIMEOUT).await {
        Ok(answer) if answer.code == response::SUCCESS => Ok(()),
        Ok(answer) => {
            warn!(sender, remark = ?answer.remark, "push reply message returned failure");
            Err(failed)
        }
        Err(e) => {
            warn!(sender, error = %e, "push reply message failed");
            Err(failed)
        }
    }
}
