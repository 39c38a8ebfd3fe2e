//! ACK_MESSAGE (200051), BATCH_ACK_MESSAGE (200151) and CHANGE_MESSAGE_INVISIBLETIME
//! (200053). An unordered ack is a record in the revive topic that the revive service pairs
//! with the pop's checkpoint; an ordered ack moves the group's offset on once every earlier
//! message of the pop is acked. Changing the invisible time writes a new checkpoint for
//! the message and acks it in the old one.

use std::sync::Arc;

use remoting::code::response;
use remoting::header::pop::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
};
use remoting::{Connection, HandlerResult, RemotingCommand};
use tracing::debug;

use crate::pop::extra_info;
use crate::pop::faq;
use crate::pop::records::{AckMsg, BatchAckMessageRequestBody, PopCheckPoint};
use crate::pop::{revive, POP_ORDER_REVIVE_QUEUE};
use crate::BrokerState;

fn now_millis() -> i64 {
    remoting::protocol::topic::now_millis()
}

fn reply(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> HandlerResult {
    Ok(Some(RemotingCommand::response_to(req, code, Some(remark.into()))))
}

/// Java's answer when the acked or changed message's topic or queue does not exist here
/// (ACK_MESSAGE and CHANGE_MESSAGE_INVISIBLETIME check alike); None when both do.
fn refuse_unknown_queue(
    state: &BrokerState,
    conn: &Connection,
    req: &RemotingCommand,
    topic: &str,
    queue_id: i32,
) -> Option<HandlerResult> {
    let Some(topic_config) = state.topics.select(topic) else {
        return Some(reply(
            req,
            response::TOPIC_NOT_EXIST,
            format!("topic[{topic}] not exist, apply first please! {}", faq()),
        ));
    };
    if queue_id >= topic_config.read_queue_nums || queue_id < 0 {
        return Some(reply(
            req,
            response::MESSAGE_ILLEGAL,
            format!(
                "queueId[{queue_id}] is illegal, topic:[{topic}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                topic_config.read_queue_nums,
                conn.peer_addr()
            ),
        ));
    }
    None
}

/// Acks one message of an ordered pop; Err carries the refusal.
#[allow(clippy::too_many_arguments)]
async fn ack_orderly(
    state: &BrokerState,
    conn: &Connection,
    topic: &str,
    group: &str,
    queue_id: i32,
    ack_offset: i64,
    pop_time: i64,
    invisible_time: i64,
) -> Result<(), String> {
    if ack_offset < state.offsets.query(group, topic, queue_id) {
        return Ok(());
    }
    let _lock = state.pop.lock(topic, group, queue_id).await;
    let old = state.offsets.query(group, topic, queue_id);
    if ack_offset < old {
        return Ok(());
    }
    let next = state
        .pop
        .order_info
        .commit_and_next(topic, group, queue_id, ack_offset, pop_time);
    if next > -1 {
        state.offsets.commit(group, topic, queue_id, next);
        let blocked = state
            .pop
            .order_info
            .check_block(None, topic, group, queue_id, invisible_time, now_millis());
        if !blocked {
            state.pop.message_arrived(topic);
        }
    } else if next == -1 {
        return Err(format!(
            "offset is illegal, key:{topic}@{group}@{queue_id}, old:{old}, commit:{ack_offset}, next:{next}, {}",
            conn.peer_addr()
        ));
    }
    Ok(())
}

pub async fn ack_message(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: AckMessageRequestHeader = req.decode_header()?;
    if let Some(refusal) = refuse_unknown_queue(&state, &conn, &req, &h.topic, h.queue_id) {
        return refusal;
    }
    let min = state.store.min_offset_in_queue(&h.topic, h.queue_id);
    let max = state.store.max_offset_in_queue(&h.topic, h.queue_id);
    if h.offset < min || h.offset > max {
        return reply(
            &req,
            response::NO_MESSAGE,
            format!(
                "offset is illegal, key:{}@{}, commit:{}, store:{}~{}",
                h.topic, h.queue_id, h.offset, min, max
            ),
        );
    }
    let extra = match extra_info::parse(&h.extra_info) {
        Ok(e) => e,
        Err(e) => return reply(&req, response::SYSTEM_ERROR, e),
    };
    debug!(topic = %h.topic, queue = h.queue_id, offset = h.offset, "ACK_MESSAGE");
    if extra.revive_qid == POP_ORDER_REVIVE_QUEUE {
        if let Err(remark) = ack_orderly(
            &state,
            &conn,
            &h.topic,
            &h.consumer_group,
            h.queue_id,
            h.offset,
            extra.pop_time,
            extra.invisible_time,
        )
        .await
        {
            return reply(&req, response::MESSAGE_ILLEGAL, remark);
        }
        return Ok(Some(RemotingCommand::success(&req)));
    }
    let ack = AckMsg {
        ack_offset: h.offset,
        ack_offset_list: None,
        broker_name: Some(extra.broker_name.clone()),
        consumer_group: h.consumer_group.clone(),
        pop_time: extra.pop_time,
        queue_id: h.queue_id,
        start_offset: extra.ck_queue_offset,
        topic: h.topic.clone(),
    };
    // As Java, the answer is SUCCESS whether or not the record could be written.
    revive::put_ack(&state, extra.revive_qid, &ack).await;
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn batch_ack_message(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let body: Option<BatchAckMessageRequestBody> = if req.body.is_empty() {
        None
    } else {
        remoting::fastjson::from_slice(&req.body).ok()
    };
    let Some(acks) = body.as_ref().and_then(|b| b.acks.as_ref()).filter(|a| !a.is_empty()) else {
        return Ok(Some(RemotingCommand::response_to(&req, response::NO_MESSAGE, None)));
    };
    let broker_name = body.as_ref().and_then(|b| b.broker_name.clone());
    let mut res = RemotingCommand::success(&req);
    debug!(entries = acks.len(), "BATCH_ACK_MESSAGE");
    for b in acks {
        let Ok(topic) = extra_info::real_topic(&b.topic, &b.consumer_group, &b.retry) else {
            continue;
        };
        let min = state.store.min_offset_in_queue(&topic, b.queue_id);
        let max = state.store.max_offset_in_queue(&topic, b.queue_id);
        let mut offsets = Vec::new();
        for bit in b.bits() {
            let offset = b.start_offset + bit as i64;
            if offset < min || offset > max {
                continue;
            }
            if b.revive_queue_id == POP_ORDER_REVIVE_QUEUE {
                if let Err(remark) = ack_orderly(
                    &state,
                    &conn,
                    &topic,
                    &b.consumer_group,
                    b.queue_id,
                    offset,
                    b.pop_time,
                    b.invisible_time,
                )
                .await
                {
                    res = RemotingCommand::response_to(&req, response::MESSAGE_ILLEGAL, Some(remark));
                }
            } else {
                offsets.push(offset);
            }
        }
        if b.revive_queue_id == POP_ORDER_REVIVE_QUEUE || offsets.is_empty() {
            continue;
        }
        let ack = AckMsg {
            ack_offset: -1,
            ack_offset_list: Some(offsets),
            broker_name: broker_name.clone(),
            consumer_group: b.consumer_group.clone(),
            pop_time: b.pop_time,
            queue_id: b.queue_id,
            start_offset: b.start_offset,
            topic,
        };
        revive::put_ack(&state, b.revive_queue_id, &ack).await;
    }
    Ok(Some(res))
}

pub async fn change_invisible_time(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: ChangeInvisibleTimeRequestHeader = req.decode_header()?;
    if let Some(refusal) = refuse_unknown_queue(&state, &conn, &req, &h.topic, h.queue_id) {
        return refusal;
    }
    let min = state.store.min_offset_in_queue(&h.topic, h.queue_id);
    let max = state.store.max_offset_in_queue(&h.topic, h.queue_id);
    if h.offset < min || h.offset >= max {
        return Ok(Some(RemotingCommand::response_to(&req, response::NO_MESSAGE, None)));
    }
    let extra = match extra_info::parse(&h.extra_info) {
        Ok(e) => e,
        Err(e) => return reply(&req, response::SYSTEM_ERROR, e),
    };
    debug!(topic = %h.topic, queue = h.queue_id, offset = h.offset, invisible = h.invisible_time, "CHANGE_MESSAGE_INVISIBLETIME");
    let mut header = ChangeInvisibleTimeResponseHeader::default();
    if extra.revive_qid == POP_ORDER_REVIVE_QUEUE {
        let group = &h.consumer_group;
        if h.offset >= state.offsets.query(group, &h.topic, h.queue_id) {
            let _lock = state.pop.lock(&h.topic, group, h.queue_id).await;
            if h.offset >= state.offsets.query(group, &h.topic, h.queue_id) {
                let next_visible = now_millis() + h.invisible_time;
                state.pop.order_info.update_next_visible_time(
                    &h.topic,
                    group,
                    h.queue_id,
                    h.offset,
                    extra.pop_time,
                    next_visible,
                );
                header = ChangeInvisibleTimeResponseHeader {
                    pop_time: extra.pop_time,
                    invisible_time: next_visible - extra.pop_time,
                    revive_qid: extra.revive_qid,
                };
            }
        }
        return Ok(Some(RemotingCommand::success(&req).with_header(&header)));
    }
    // The new checkpoint must not share the old one's pop time: checkpoints and acks are
    // paired by topic, group, queue, start offset and pop time, and the ack of the old one
    // would otherwise count for the new one (a change within the pop's millisecond).
    let now = now_millis().max(extra.pop_time + 1);
    let ck = PopCheckPoint {
        bit_map: 0,
        num: 1,
        pop_time: now,
        invisible_time: h.invisible_time,
        start_offset: h.offset,
        cid: h.consumer_group.clone(),
        topic: h.topic.clone(),
        queue_id: h.queue_id,
        queue_offset_diff: vec![0],
        broker_name: Some(extra.broker_name.clone()),
        ..Default::default()
    };
    if !revive::put_checkpoint(&state, extra.revive_qid, &ck).await {
        return Ok(Some(RemotingCommand::response_to(&req, response::SYSTEM_ERROR, None)));
    }
    let ack = AckMsg {
        ack_offset: h.offset,
        ack_offset_list: None,
        broker_name: Some(extra.broker_name.clone()),
        consumer_group: h.consumer_group.clone(),
        pop_time: extra.pop_time,
        queue_id: h.queue_id,
        start_offset: extra.ck_queue_offset,
        topic: h.topic.clone(),
    };
    revive::put_ack(&state, extra.revive_qid, &ack).await;
    header = ChangeInvisibleTimeResponseHeader {
        pop_time: now,
        invisible_time: h.invisible_time,
        revive_qid: extra.revive_qid,
    };
    Ok(Some(RemotingCommand::success(&req).with_header(&header)))
}
