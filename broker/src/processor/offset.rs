//! Offsets and lookups: QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15),
//! SEARCH_OFFSET_BY_TIMESTAMP (29), GET_MAX_OFFSET (30), GET_MIN_OFFSET (31),
//! GET_EARLIEST_MSG_STORETIME (32), VIEW_MESSAGE_BY_ID (33), QUERY_MESSAGE (12).

use std::sync::Arc;

use remoting::code::response;
use remoting::header::broker::*;
use remoting::{Connection, HandlerResult, RemotingCommand};

use crate::BrokerState;

pub async fn query_consumer_offset(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: QueryConsumerOffsetRequestHeader = req.decode_header()?;
    let committed = state.offsets.query(&h.consumer_group, &h.topic, h.queue_id);
    if committed >= 0 {
        return Ok(Some(
            RemotingCommand::success(&req).with_header(&QueryConsumerOffsetResponseHeader { offset: committed }),
        ));
    }
    // A group that never committed starts at 0 while the queue still holds its first
    // messages, as Java does for queues whose head is in memory.
    if state.store.min_offset_in_queue(&h.topic, h.queue_id) <= 0 {
        return Ok(Some(
            RemotingCommand::success(&req).with_header(&QueryConsumerOffsetResponseHeader { offset: 0 }),
        ));
    }
    Ok(Some(RemotingCommand::response_to(
        &req,
        response::QUERY_NOT_FOUND,
        Some("Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first".into()),
    )))
}

pub async fn update_consumer_offset(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: UpdateConsumerOffsetRequestHeader = req.decode_header()?;
    state
        .offsets
        .commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn max_offset(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: QueueRequestHeader = req.decode_header()?;
    let offset = state.store.max_offset_in_queue(&h.topic, h.queue_id);
    Ok(Some(
        RemotingCommand::success(&req).with_header(&OffsetResponseHeader { offset }),
    ))
}

pub async fn min_offset(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: QueueRequestHeader = req.decode_header()?;
    let offset = state.store.min_offset_in_queue(&h.topic, h.queue_id);
    Ok(Some(
        RemotingCommand::success(&req).with_header(&OffsetResponseHeader { offset }),
    ))
}

pub async fn search_offset_by_timestamp(
    state: Arc<BrokerState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    let h: SearchOffsetRequestHeader = req.decode_header()?;
    let offset = state.store.offset_by_timestamp(&h.topic, h.queue_id, h.timestamp);
    Ok(Some(
        RemotingCommand::success(&req).with_header(&OffsetResponseHeader { offset }),
    ))
}

pub async fn earliest_msg_store_time(
    state: Arc<BrokerState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    let h: QueueRequestHeader = req.decode_header()?;
    let timestamp = state.store.earliest_message_time(&h.topic, h.queue_id);
    Ok(Some(
        RemotingCommand::success(&req).with_header(&GetEarliestMsgStoretimeResponseHeader { timestamp }),
    ))
}

pub async fn view_message_by_id(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: ViewMessageRequestHeader = req.decode_header()?;
    Ok(Some(match state.store.message_by_commitlog_offset(h.offset) {
        Some((bytes, _)) => RemotingCommand::success(&req).with_body(bytes),
        None => RemotingCommand::response_to(
            &req,
            response::SYSTEM_ERROR,
            Some(format!("can not find message by the offset, {}", h.offset)),
        ),
    }))
}

pub async fn query_message(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: QueryMessageRequestHeader = req.decode_header()?;
    // A unique-key query (by the client's msgId) wants at most the few copies of one message.
    let unique = req.ext().get("_UNIQUE_KEY_QUERY") == Some("true");
    let max = if unique { 32 } else { h.max_num.max(1) as usize };
    let found = state
        .store
        .query_by_key(&h.topic, &h.key, max, h.begin_timestamp, h.end_timestamp);
    let header = QueryMessageResponseHeader {
        index_last_update_timestamp: found.index_last_update_timestamp,
        index_last_update_phyoffset: found.index_last_update_phy_offset,
    };
    if found.messages.is_empty() {
        return Ok(Some(
            RemotingCommand::response_to(
                &req,
                response::QUERY_NOT_FOUND,
                Some("can not find message, maybe time range not correct".into()),
            )
            .with_header(&header),
        ));
    }
    let mut body = Vec::new();
    for m in &found.messages {
        body.extend_from_slice(&m.bytes);
    }
    Ok(Some(
        RemotingCommand::success(&req).with_header(&header).with_body(body),
    ))
}
