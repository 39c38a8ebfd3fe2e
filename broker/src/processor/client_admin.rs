//! Admin calls the broker relays to its clients: reset offsets (222 -> 220 pushed to every
//! consumer of the group), consumer status (223 -> 221 asked of each consumer), running
//! info (307) and direct consumption (309) forwarded to one named consumer, whose answer
//! goes back to the admin as it came.

use std::sync::Arc;
use std::time::Duration;

use remoting::code::{request, response, version};
use remoting::header::admin::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumerRunningInfoRequestHeader, GetConsumerStatusRequestHeader,
    ResetOffsetRequestHeader,
};
use remoting::{fastjson, Connection, HandlerResult, LanguageCode, RemotingCommand, RemotingError, Router};
use serde_json::{json, Value};
use tracing::{info, warn};

use remoting::protocol::topic::TopicConfig;

use crate::java_order::{in_hash_map_order, message_queue_hash};
use crate::BrokerState;

/// How long the broker waits for a relayed call (Java's `callClient`).
const CALL_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long it waits for each consumer's status.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Java answers these calls from a response it made with `createResponseCommand(null)`,
/// whose default remark stays when the code is set to SUCCESS.
const JAVA_DEFAULT_REMARK: &str = "not set any response code";

pub fn routes(r: &mut Router, s: &Arc<BrokerState>) {
    r.route_with(s, request::INVOKE_BROKER_TO_RESET_OFFSET, reset_offset);
    r.route_with(s, request::INVOKE_BROKER_TO_GET_CONSUMER_STATUS, consumer_status);
    r.route_with(s, request::GET_CONSUMER_RUNNING_INFO, consumer_running_info);
    r.route_with(s, request::CONSUME_MESSAGE_DIRECTLY, consume_message_directly);
}

fn refuse(req: &RemotingCommand, code: i32, remark: String) -> HandlerResult {
    Ok(Some(RemotingCommand::response_to(req, code, Some(remark))))
}

fn success_with_java_remark(req: &RemotingCommand, body: String) -> HandlerResult {
    Ok(Some(
        RemotingCommand::success(req)
            .with_remark(JAVA_DEFAULT_REMARK)
            .with_body(body.into_bytes()),
    ))
}

/// A MessageQueue as fastjson writes it as a map key.
fn queue_key(broker_name: &str, topic: &str, queue_id: i32) -> String {
    json!({ "brokerName": broker_name, "queueId": queue_id, "topic": topic }).to_string()
}

/// `{"offsetTable":{mq:offset,...}}` in the order of Java's `HashMap<MessageQueue, Long>`.
fn offset_table_body(broker_name: &str, topic: &str, offsets: &[(i32, i64)]) -> String {
    let ordered = in_hash_map_order(offsets.to_vec(), 16, |(q, _)| {
        message_queue_hash(broker_name, *q, topic)
    });
    let entries: Vec<String> = ordered
        .iter()
        .map(|(q, o)| format!("{}:{o}", queue_key(broker_name, topic, *q)))
        .collect();
    format!("{{\"offsetTable\":{{{}}}}}", entries.join(","))
}

/// The same table as the C++ client reads it (`ResetOffsetBodyForC`): a list.
fn offset_list_body(broker_name: &str, topic: &str, offsets: &[(i32, i64)]) -> String {
    let ordered = in_hash_map_order(offsets.to_vec(), 16, |(q, _)| {
        message_queue_hash(broker_name, *q, topic)
    });
    let list: Vec<Value> = ordered
        .iter()
        .map(|(q, o)| json!({ "brokerName": broker_name, "offset": o, "queueId": q, "topic": topic }))
        .collect();
    json!({ "offsetTable": list }).to_string()
}

/// INVOKE_BROKER_TO_RESET_OFFSET (222). For each write queue the new offset is the one at
/// `timestamp` (-1: the queue's end), but without `isForce` an offset only moves back.
/// Refused when the topic is unknown here, when the group has no committed offset for a
/// queue, when no consumer is online, or when one is too old to understand the push.
async fn reset_offset(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: ResetOffsetRequestHeader = req.decode_header()?;
    info!(by = %conn.peer_addr(), topic = %h.topic, group = %h.group, timestamp = h.timestamp, force = h.is_force, "reset offset");
    let Some(topic) = state.topics.select(&h.topic) else {
        return refuse(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "[reset-offset] reset offset failed, no topic in this broker. topic={}",
                h.topic
            ),
        );
    };
    let offsets = match reset_targets(&state, &topic, &h.group, h.timestamp, h.is_force) {
        Ok(o) => o,
        Err(remark) => return refuse(&req, response::SYSTEM_ERROR, remark),
    };

    let consumers = state.clients.consumer_channels(&h.group);
    if consumers.is_empty() {
        return refuse(
            &req,
            response::CONSUMER_NOT_ONLINE,
            format!(
                "Consumer not online, so can not reset offset, Group: {} Topic: {} Timestamp: {}",
                h.group, h.topic, h.timestamp
            ),
        );
    }
    if let Some((_, old)) = consumers.iter().find(|(_, c)| c.version < version::V3_0_7_SNAPSHOT) {
        return refuse(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "the client does not support this feature. version={}",
                version::name(old.version)
            ),
        );
    }
    push_reset(
        &state,
        &h.topic,
        &h.group,
        h.timestamp,
        &offsets,
        req.language == LanguageCode::CPP,
    )
    .await;
    // Java leaves storing the new offsets to the consumers. We store them too, so a consumer
    // that re-reads its offset from the broker after the reset starts from the new one.
    for (queue_id, offset) in &offsets {
        state.offsets.commit(&h.group, &h.topic, *queue_id, *offset);
    }
    let broker_name = state.config.broker_name.as_str();
    success_with_java_remark(&req, offset_table_body(broker_name, &h.topic, &offsets))
}

/// The offset a reset of `group` to `timestamp` (-1: the queue's end) gives each write queue
/// of `topic`; without `force` an offset only moves back. Refused when the group has no
/// committed offset for a queue.
pub fn reset_targets(
    state: &BrokerState,
    topic: &TopicConfig,
    group: &str,
    timestamp: i64,
    force: bool,
) -> Result<Vec<(i32, i64)>, String> {
    let mut offsets = Vec::with_capacity(topic.write_queue_nums.max(0) as usize);
    for queue_id in 0..topic.write_queue_nums {
        let committed = state.offsets.query(group, &topic.topic_name, queue_id);
        if committed == -1 {
            return Err(format!("THe consumer group <{group}> not exist"));
        }
        let at_time = if timestamp == -1 {
            state.store.max_offset_in_queue(&topic.topic_name, queue_id)
        } else {
            state.store.offset_by_timestamp(&topic.topic_name, queue_id, timestamp)
        }
        .max(0);
        offsets.push((
            queue_id,
            if force || at_time < committed {
                at_time
            } else {
                committed
            },
        ));
    }
    Ok(offsets)
}

/// Tells every online consumer of `group` its new offsets of `topic`
/// (RESET_CONSUMER_CLIENT_OFFSET, oneway). `cpp` picks the C++ client's body form. Returns
/// how many consumers were told.
pub async fn push_reset(
    state: &BrokerState,
    topic: &str,
    group: &str,
    timestamp: i64,
    offsets: &[(i32, i64)],
    cpp: bool,
) -> usize {
    let broker_name = state.config.broker_name.as_str();
    // Java picks the body's form by the language of the admin that asked, not the consumer's.
    let push_body = if cpp {
        offset_list_body(broker_name, topic, offsets)
    } else {
        offset_table_body(broker_name, topic, offsets)
    };
    // The push carries the topic, group and timestamp; Java leaves isForce at false.
    let push_header = ResetOffsetRequestHeader {
        topic: topic.to_string(),
        group: group.to_string(),
        timestamp,
        is_force: false,
    };
    let mut told = 0;
    for (consumer, client) in state.clients.consumer_channels(group) {
        let push = RemotingCommand::request_with_header(request::RESET_CONSUMER_CLIENT_OFFSET, &push_header)
            .with_body(push_body.clone().into_bytes())
            .oneway();
        match consumer.oneway(push).await {
            Ok(()) => {
                told += 1;
                info!(topic, group, client = %client.client_id, "reset offset pushed")
            }
            Err(e) => warn!(topic, group, client = %client.client_id, error = %e, "reset offset push failed"),
        }
    }
    told
}

/// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223): asks each consumer of the group (or only the
/// one named by `clientAddr`) for its offsets of the topic with GET_CONSUMER_STATUS_FROM_CLIENT
/// (221) and answers `{"consumerTable":{clientId:{mq:offset}},"messageQueueTable":{}}`.
async fn consumer_status(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetConsumerStatusRequestHeader = req.decode_header()?;
    let consumers = state.clients.consumer_channels(&h.group);
    if consumers.is_empty() {
        // Java dereferences the missing group and answers its NullPointerException.
        return refuse(
            &req,
            response::SYSTEM_ERROR,
            "java.lang.NullPointerException".to_string(),
        );
    }
    let only = h.client_addr.as_deref().filter(|c| !c.trim().is_empty());
    let mut table: Vec<(String, String)> = Vec::new();
    for (consumer, client) in consumers {
        if client.version < version::V3_0_7_SNAPSHOT {
            return refuse(
                &req,
                response::SYSTEM_ERROR,
                format!(
                    "the client does not support this feature. version={}",
                    version::name(client.version)
                ),
            );
        }
        if only.is_some_and(|c| c != client.client_id) {
            continue;
        }
        let ask = RemotingCommand::request_with_header(
            request::GET_CONSUMER_STATUS_FROM_CLIENT,
            &GetConsumerStatusRequestHeader {
                topic: h.topic.clone(),
                group: h.group.clone(),
                client_addr: None,
            },
        );
        match consumer.request(ask, STATUS_TIMEOUT).await {
            Ok(answer) if answer.code == response::SUCCESS && !answer.body.is_empty() => {
                match fastjson::parse(&answer.body) {
                    Ok(body) => table.push((client.client_id.clone(), object_keyed(&body["messageQueueTable"]))),
                    Err(e) => {
                        warn!(group = %h.group, client = %client.client_id, error = %e, "undecodable consumer status")
                    }
                }
            }
            Ok(_) => {}
            Err(e) => warn!(group = %h.group, client = %client.client_id, error = %e, "consumer status call failed"),
        }
        if only.is_some() {
            break;
        }
    }
    let entries: Vec<String> = table
        .iter()
        .map(|(client, queues)| format!("{}:{queues}", Value::String(client.clone())))
        .collect();
    success_with_java_remark(
        &req,
        format!(
            "{{\"consumerTable\":{{{}}},\"messageQueueTable\":{{}}}}",
            entries.join(",")
        ),
    )
}

/// A parsed fastjson map written back with its object keys bare, as Java writes it.
fn object_keyed(map: &Value) -> String {
    let Some(map) = map.as_object() else {
        return "{}".to_string();
    };
    let entries: Vec<String> = map
        .iter()
        .map(|(k, v)| {
            if k.starts_with('{') {
                format!("{k}:{v}")
            } else {
                format!("{}:{v}", Value::String(k.clone()))
            }
        })
        .collect();
    format!("{{{}}}", entries.join(","))
}

/// GET_CONSUMER_RUNNING_INFO (307): forwarded to the named consumer.
async fn consumer_running_info(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetConsumerRunningInfoRequestHeader = req.decode_header()?;
    call_consumer(
        &state,
        request::GET_CONSUMER_RUNNING_INFO,
        &req,
        req.clone(),
        &h.consumer_group,
        &h.client_id,
    )
    .await
}

/// CONSUME_MESSAGE_DIRECTLY (309): the message named by `msgId` (an offset message id) is
/// read from the CommitLog and sent, with the broker's name added, to the named consumer,
/// which consumes it and says how that went.
async fn consume_message_directly(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: ConsumeMessageDirectlyResultRequestHeader = req.decode_header()?;
    let mut relayed = req.clone();
    relayed.ext_mut().insert("brokerName", state.config.broker_name.clone());
    let record = h
        .msg_id
        .as_deref()
        .and_then(store::decode_offset_msg_id)
        .and_then(|(_, offset)| state.store.message_by_commitlog_offset(offset));
    match record {
        Some((bytes, _)) => relayed.body = bytes,
        None => {
            return refuse(
                &req,
                response::SYSTEM_ERROR,
                format!(
                    "can not find message by the msgId, {}",
                    h.msg_id.as_deref().unwrap_or("")
                ),
            )
        }
    }
    let client_id = h.client_id.unwrap_or_default();
    call_consumer(
        &state,
        request::CONSUME_MESSAGE_DIRECTLY,
        &req,
        relayed,
        &h.consumer_group,
        &client_id,
    )
    .await
}

/// Java's `callConsumer`: a new request with the admin's ext fields (signature included)
/// and body goes to the client; its response, whatever its code, is the admin's answer.
async fn call_consumer(
    state: &BrokerState,
    code: i32,
    req: &RemotingCommand,
    relayed: RemotingCommand,
    group: &str,
    client_id: &str,
) -> HandlerResult {
    let Some((consumer, client)) = state.clients.find_consumer(group, client_id) else {
        return refuse(
            req,
            response::SYSTEM_ERROR,
            format!("The Consumer <{group}> <{client_id}> not online"),
        );
    };
    if client.version < version::V3_1_8_SNAPSHOT {
        return refuse(
            req,
            response::SYSTEM_ERROR,
            format!(
                "The Consumer <{client_id}> Version <{}> too low to finish, please upgrade it to V3_1_8_SNAPSHOT",
                version::name(client.version)
            ),
        );
    }
    let mut forward = RemotingCommand::request(code);
    forward.ext_fields = relayed.ext_fields;
    forward.body = relayed.body;
    match consumer.request(forward, CALL_CLIENT_TIMEOUT).await {
        Ok(answer) => {
            let mut back = RemotingCommand::response_to(req, answer.code, answer.remark);
            back.ext_fields = answer.ext_fields;
            back.body = answer.body;
            Ok(Some(back))
        }
        Err(RemotingError::Timeout { .. }) => refuse(
            req,
            response::CONSUME_MSG_TIMEOUT,
            format!(
                "consumer <{group}> <{client_id}> Timeout: no response within {} ms",
                CALL_CLIENT_TIMEOUT.as_millis()
            ),
        ),
        Err(e) => refuse(
            req,
            response::SYSTEM_ERROR,
            format!("invoke consumer <{group}> <{client_id}> Exception: {e}"),
        ),
    }
}
