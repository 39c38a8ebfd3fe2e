//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320).

use std::sync::Arc;

use remoting::code::{request, response};
use remoting::header::broker::{
    ConsumerSendMsgBackRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use remoting::protocol::route::perm;
use remoting::{Connection, HandlerResult, RemotingCommand};
use store::codec::{self, property};
use store::{MessageBatchToStore, MessageToStore, PutMessageStatus};

use crate::dedup::{FirstSend, Seen};
use crate::topic_config::{is_send_forbidden, validate_topic_name, DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX};
use crate::{faq, transaction, BrokerConfig, BrokerState};

fn reply(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> HandlerResult {
    Ok(Some(refuse(req, code, remark)))
}

pub async fn send_message(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    // One read of the settings serves the whole send.
    let config = state.live();
    let answer = store_sent(state, &config, conn, req).await?;
    Ok(answer.map(|res| with_region_and_trace(&config, res)))
}

/// Java puts the broker's region and trace switch on every answer to a send it got as far as
/// handling (refusals included), for the client's trace records.
pub(crate) fn with_region_and_trace(config: &BrokerConfig, mut res: RemotingCommand) -> RemotingCommand {
    res.ext_mut().insert("MSG_REGION", config.region_id.as_str());
    res.ext_mut()
        .insert("TRACE_ON", if config.trace_on { "true" } else { "false" });
    res
}

/// Java's refusal of every send before `startAcceptSendRequestTimeStamp`.
pub(crate) fn refused_until_start_time(config: &BrokerConfig, req: &RemotingCommand) -> Option<RemotingCommand> {
    let start = config.start_accept_send_request_timestamp;
    // Not set (the default): no clock read on the send path.
    (start > 0 && remoting::protocol::topic::now_millis() < start).then(|| {
        refuse(
            req,
            response::SYSTEM_ERROR,
            format!(
                "broker unable to service, until {}",
                store::local_time::LocalTime::at(start).human_string2()
            ),
        )
    })
}

async fn store_sent(
    state: Arc<BrokerState>,
    config: &BrokerConfig,
    conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    // SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE both carry the one-letter header.
    let h: SendMessageRequestHeader = if req.code == request::SEND_MESSAGE_V2 || req.code == request::SEND_BATCH_MESSAGE
    {
        req.decode_header::<SendMessageRequestHeaderV2>()?.into()
    } else {
        req.decode_header()?
    };
    if let Some(refused) = refused_until_start_time(config, &req) {
        return Ok(Some(refused));
    }
    let queue_id = match msg_check(&state, config, &conn, &req, &h) {
        Ok(checked) => checked.registered(&state).await,
        Err(refused) => return Ok(Some(refused)),
    };
    // Where the message is stored: a single message to a retry topic past its group's
    // reconsume limit goes to the DLQ (Java's handleRetryAndDLQ; batches skip it, as in
    // Java). The answer still names the queue the request asked for, as Java's does.
    let (store_topic, store_queue_id) = if is_batch_header(&h) {
        (h.topic.clone(), queue_id)
    } else {
        match retry_or_dlq(&state, &req, &h, queue_id) {
            Ok(target) => target,
            Err(refused) => return Ok(Some(refused)),
        }
    };
    let sys_flag = with_topic_sys_flag(&state, &store_topic, h.sys_flag);

    // Backpressure: a bounded number of puts may wait on the store at once.
    let Ok(_permit) = state.send_permits.try_acquire() else {
        return reply(
            &req,
            response::SYSTEM_BUSY,
            "[OVERLOAD]system busy, start flow control for a while",
        );
    };

    let mut properties = codec::string_to_properties(h.properties.as_deref().unwrap_or(""));
    codec::insert_property(&mut properties, "CLUSTER", &config.broker_cluster_name);
    // WAIT only tells the broker whether to wait for the flush; Java does not store it
    // (except in a half message, whose text it writes again from the whole map).
    let wait = codec::get_property(&properties, property::WAIT) != Some("false");
    let prepared = !is_batch_header(&h) && transaction::is_prepared(&properties);
    if prepared && config.reject_transaction_message {
        return reply(
            &req,
            response::NO_PERMISSION,
            format!(
                "the broker[{}] sending transaction message is forbidden",
                config.broker_ip1
            ),
        );
    }
    // Java writes the stored properties text without WAIT but puts WAIT back in the map, and
    // the store writes a delayed message's text again from the map: a delayed message keeps
    // WAIT (and so does its delivered copy), others do not. Batches lose it here.
    let text_without_wait = (!prepared && codec::get_property(&properties, property::WAIT).is_some())
        .then(|| codec::properties_string_java_order_without(&properties, Some(property::WAIT)));
    let is_batch_send = h.batch == Some(true);
    if !prepared && is_batch_send {
        properties.retain(|(name, _)| name != property::WAIT);
    } else if let Some(at) = properties.iter().position(|(name, _)| name == property::WAIT) {
        // Java removes WAIT from the map and puts it back: it is now the last inserted,
        // which decides its place among properties sharing its HashMap bucket.
        let wait = properties.remove(at);
        properties.push(wait);
    }
    // As in Java, the header's batch flag (not the request code) picks the batch path.
    let is_batch = h.batch == Some(true);
    // Timer messages (5.x): moved to the timer topic when due later, or refused. A batch
    // is moved as a whole when its own properties ask for a timer.
    let (mut store_topic, mut store_queue_id) = (store_topic, store_queue_id);
    // Only a batch is stored under these (a single message uses store_topic).
    let mut batch_topic = if is_batch { h.topic.clone() } else { String::new() };
    let mut batch_queue_id = queue_id;
    let mut text_without_wait = text_without_wait;
    let mut recall_handle = None;
    if !prepared && crate::timer::has_timer_property(&properties) {
        let (topic, qid) = if is_batch {
            (&mut batch_topic, &mut batch_queue_id)
        } else {
            (&mut store_topic, &mut store_queue_id)
        };
        match crate::timer::on_put(&state, topic, qid, &mut properties, sys_flag) {
            Ok(true) => {
                if !is_batch {
                    if codec::get_property(&properties, property::UNIQ_KEY).is_none() {
                        let id = crate::timer::new_uniq_id(&state.store_addr);
                        codec::insert_property(&mut properties, property::UNIQ_KEY, &id);
                    }
                    // Java writes the text again from the map (WAIT included).
                    text_without_wait = Some(codec::properties_string_java_order(&properties));
                }
                if req.code != request::SEND_BATCH_MESSAGE {
                    recall_handle = crate::timer::recall_handle_for(&properties, &config.broker_name);
                }
            }
            Ok(false) => {}
            Err((code, remark)) => return reply(&req, code, remark),
        }
    }
    let born_host = conn.peer_addr();
    // Our extension: a retried send already stored is answered with its first result.
    let mut batch_body = req.body.clone();
    let mut new_keys = Vec::new();
    if let Some(dedup) = state.dedup.as_ref().filter(|_| !prepared) {
        let now = remoting::protocol::topic::now_millis();
        let keys: Vec<String> = if is_batch {
            match codec::decode_batch_body(&req.body) {
                Ok(items) => items
                    .iter()
                    .map(|item| {
                        let props = String::from_utf8_lossy(item.properties);
                        codec::find_property(&props, property::UNIQ_KEY)
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect(),
                Err(_) => Vec::new(), // the store refuses it below
            }
        } else {
            vec![codec::get_property(&properties, property::UNIQ_KEY)
                .unwrap_or_default()
                .to_string()]
        };
        let mut duplicates = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if key.is_empty() {
                continue;
            }
            match dedup.begin(&h.topic, key, now, DEDUP_WAIT).await {
                Seen::Duplicate(first) => duplicates.push((i, first)),
                Seen::New(k) => new_keys.push(k),
            }
        }
        if !duplicates.is_empty() && duplicates.len() == keys.len() {
            for k in new_keys {
                dedup.abandon(k);
            }
            return Ok(Some(send_ok(&req, &duplicates[0].1)));
        }
        if !duplicates.is_empty() {
            // A batch with some messages stored before: store only the others.
            let items = codec::decode_batch_body(&req.body).unwrap_or_default();
            let kept: Vec<(i32, &[u8], String)> = items
                .iter()
                .enumerate()
                .filter(|(i, _)| !duplicates.iter().any(|(d, _)| d == i))
                .map(|(_, it)| (it.flag, it.body, String::from_utf8_lossy(it.properties).into_owned()))
                .collect();
            let refs: Vec<(i32, &[u8], &str)> = kept.iter().map(|(f, b, p)| (*f, *b, p.as_str())).collect();
            batch_body = codec::encode_batch_body(&refs).into();
        }
    }
    let result = if is_batch {
        let batch = MessageBatchToStore {
            topic: batch_topic,
            queue_id: batch_queue_id,
            body: batch_body,
            properties,
            sys_flag,
            born_timestamp: h.born_timestamp,
            born_host,
            store_host: state.store_addr,
            reconsume_times: h.reconsume_times.unwrap_or(0),
            wait_store_msg_ok: wait,
        };
        state.store.put_messages_async(&batch).await
    } else {
        let mut msg = MessageToStore::new(&store_topic, store_queue_id, req.body.clone(), properties);
        msg.properties_string = text_without_wait;
        msg.flag = h.flag;
        msg.sys_flag = sys_flag;
        msg.born_timestamp = h.born_timestamp;
        msg.born_host = born_host;
        msg.store_host = state.store_addr;
        msg.reconsume_times = h.reconsume_times.unwrap_or(0);
        msg.wait_store_msg_ok = wait;
        if prepared {
            transaction::to_half(&mut msg);
        }
        state.store.put_message_async(&msg).await
    };

    let (code, remark) = match result.status {
        PutMessageStatus::PutOk => (response::SUCCESS, None),
        PutMessageStatus::FlushDiskTimeout => (response::FLUSH_DISK_TIMEOUT, None),
        PutMessageStatus::FlushSlaveTimeout => (response::FLUSH_SLAVE_TIMEOUT, None),
        PutMessageStatus::SlaveNotAvailable => (response::SLAVE_NOT_AVAILABLE, None),
        PutMessageStatus::CreateMappedFileFailed => {
            (response::SYSTEM_ERROR, Some("create mapped file failed, server is busy or broken.".to_string()))
        }
        PutMessageStatus::MessageIllegal | PutMessageStatus::PropertiesSizeExceeded => (
            response::MESSAGE_ILLEGAL,
            Some("the message is illegal, maybe msg body or properties length not matched. msg body length limit 128k, msg properties length limit 32k.".to_string()),
        ),
        PutMessageStatus::ServiceNotAvailable => (
            response::SERVICE_NOT_AVAILABLE,
            Some(format!(
                "service not available now. It may be caused by one of the following reasons: the broker's disk is full [{}], messages are put to the slave, message store has been shut down, etc.",
                super::broker_stats::disk_util(state.store.config())
            )),
        ),
        PutMessageStatus::OsPageCacheBusy => {
            (response::SYSTEM_ERROR, Some("[PC_SYNCHRONIZED]broker busy, start flow control for a while".to_string()))
        }
        PutMessageStatus::UnknownError => (response::SYSTEM_ERROR, Some("UNKNOWN_ERROR".to_string())),
    };
    // Java counts a send once the store kept it, even if the flush or the slave timed out.
    if let Some(append) = result.append.as_ref().filter(|_| {
        matches!(
            result.status,
            PutMessageStatus::PutOk
                | PutMessageStatus::FlushDiskTimeout
                | PutMessageStatus::FlushSlaveTimeout
                | PutMessageStatus::SlaveNotAvailable
        )
    }) {
        state.stats.on_put(append);
    }
    // Java's sendOK cases: the message is stored, so the answer carries its send header.
    let stored = matches!(
        code,
        response::SUCCESS
            | response::FLUSH_DISK_TIMEOUT
            | response::FLUSH_SLAVE_TIMEOUT
            | response::SLAVE_NOT_AVAILABLE
    );
    let Some(append) = result.append.filter(|_| stored) else {
        if let Some(dedup) = state.dedup.as_ref() {
            for k in new_keys {
                dedup.abandon(k);
            }
        }
        return Ok(Some(RemotingCommand::response_to(&req, code, remark)));
    };
    if let Some(dedup) = state.dedup.as_ref() {
        let first = FirstSend {
            msg_id: append.msg_id(),
            queue_id,
            queue_offset: append.logics_offset,
        };
        let now = remoting::protocol::topic::now_millis();
        for k in new_keys {
            dedup.stored(k, first.clone(), now);
        }
    }
    let res = RemotingCommand::response_to(&req, code, remark).with_header(&SendMessageResponseHeader {
        msg_id: append.msg_id(),
        queue_id,
        queue_offset: append.logics_offset,
        transaction_id: None,
        recall_handle,
    });
    Ok(Some(res))
}

/// A send that passed `msg_check`.
pub(crate) struct CheckedSend {
    queue_id: i32,
    /// The check created the topic (auto-created from the default topic, or a retry topic).
    created_topic: bool,
}

impl CheckedSend {
    /// The queue to write to, once a topic the check created is registered (Java registers
    /// it before storing the message).
    pub(crate) async fn registered(self, state: &BrokerState) -> i32 {
        if self.created_topic {
            state.wait_new_topics_registered().await;
        }
        self.queue_id
    }
}

/// Java's `msgCheck`, shared by sends and replies: write permission, the topic's name,
/// existence (auto-created from the default topic when allowed, retry topics always),
/// queue id and body size. The queue to write to, or the refusal to send back.
// The refusal is the response itself, sent as it is: boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
pub(crate) fn msg_check(
    state: &BrokerState,
    config: &BrokerConfig,
    conn: &Connection,
    req: &RemotingCommand,
    h: &SendMessageRequestHeader,
) -> Result<CheckedSend, RemotingCommand> {
    // A broker without write permission refuses order topics here; for the rest the name
    // server already advertises the reduced permission (as Java does).
    if config.broker_permission & perm::WRITE == 0 && state.topics.select(&h.topic).is_some_and(|t| t.order) {
        return Err(refuse(
            req,
            response::NO_PERMISSION,
            format!("the broker[{}] sending message is forbidden", config.broker_ip1),
        ));
    }
    if let Err(remark) = validate_topic_name(&h.topic) {
        return Err(refuse(req, response::SYSTEM_ERROR, remark));
    }
    if is_send_forbidden(&h.topic) {
        return Err(refuse(
            req,
            response::NO_PERMISSION,
            format!("Sending message to topic[{}] is forbidden.", h.topic),
        ));
    }

    let queue_nums = |t: &remoting::protocol::topic::TopicConfig| (t.write_queue_nums, t.read_queue_nums);
    let mut created_topic = false;
    let queues = match state.topics.read(&h.topic, queue_nums) {
        Some(nums) => Some(nums),
        None => {
            created_topic = true;
            // Java: a unit-mode client's new topic is a unit topic, its retry topic a
            // unit-subscription one.
            let is_retry = h.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX);
            let topic_sys_flag = match (h.unit_mode == Some(true), is_retry) {
                (false, _) => 0,
                (true, true) => TOPIC_FLAG_UNIT_SUB,
                (true, false) => TOPIC_FLAG_UNIT,
            };
            // First from the client's default topic (TBW102), as any new topic; a retry
            // topic that cannot be made that way gets one read-write queue.
            state
                .topics
                .create_in_send(
                    &h.topic,
                    &h.default_topic,
                    h.default_topic_queue_nums,
                    topic_sys_flag,
                    config.auto_create_topic_enable,
                )
                .or_else(|| {
                    is_retry.then(|| {
                        state
                            .topics
                            .create_if_absent(&h.topic, 1, perm::READ | perm::WRITE, topic_sys_flag)
                    })
                })
                .map(|t| queue_nums(&t))
        }
    };
    let Some((write_queue_nums, read_queue_nums)) = queues else {
        return Err(refuse(
            req,
            response::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!{}", h.topic, faq()),
        ));
    };
    let queue_count = write_queue_nums.max(read_queue_nums);
    if h.queue_id >= queue_count {
        let topic_config = state
            .topics
            .select(&h.topic)
            .map(|t| format!("{t:?}"))
            .unwrap_or_default();
        return Err(refuse(
            req,
            response::SYSTEM_ERROR,
            format!(
                "request queueId[{}] is illegal, {topic_config} Producer: {}",
                h.queue_id,
                conn.peer_addr()
            ),
        ));
    }
    let queue_id = if h.queue_id < 0 {
        random_queue(write_queue_nums)
    } else {
        h.queue_id
    };
    if req.body.len() > state.store.config().max_message_size {
        return Err(refuse(
            req,
            response::MESSAGE_ILLEGAL,
            format!(
                "the message body size over max value, MAX: {}",
                state.store.config().max_message_size
            ),
        ));
    }

    Ok(CheckedSend {
        queue_id,
        created_topic,
    })
}

/// Java's TopicSysFlag bits.
const TOPIC_FLAG_UNIT: i32 = 0x1;
const TOPIC_FLAG_UNIT_SUB: i32 = 0x1 << 1;
/// Java's DLQ_NUMS_PER_GROUP: a dead-letter topic has one queue.
const DLQ_NUMS_PER_GROUP: i32 = 1;
/// MQVersion.Version.V3_4_9.ordinal(): from this client version on, a send to a retry topic
/// (and a send-back) may carry its own maxReconsumeTimes.
const V3_4_9: i32 = 121;

/// Java's `handleRetryAndDLQ` for a single send: a message sent to `%RETRY%<group>` (the
/// orderly consumer's way of giving a message back) whose `reconsumeTimes` has reached the
/// group's limit (or the header's `maxReconsumeTimes`, from V3_4_9 on) goes to
/// `%DLQ%<group>` queue 0 instead, the DLQ topic made read-write with one queue if needed.
/// The group must exist (it is made when autoCreateSubscriptionGroup allows).
///
/// Java 4.9.8 sets the message's delay level to 0 there, but then replaces the message's
/// properties with the ones sent, so a `DELAY` the client sent survives: the store parks
/// the message in SCHEDULE_TOPIC_XXXX (REAL_TOPIC = the DLQ) and it reaches the DLQ when
/// due. We do the same (5.x drops the delay; 4.9.8 does not).
#[allow(clippy::result_large_err)] // as msg_check: the refusal is the response
fn retry_or_dlq(
    state: &BrokerState,
    req: &RemotingCommand,
    h: &SendMessageRequestHeader,
    queue_id: i32,
) -> Result<(String, i32), RemotingCommand> {
    let Some(group) = h.topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) else {
        return Ok((h.topic.clone(), queue_id));
    };
    let Some(group_config) = state.groups.find(group) else {
        return Err(refuse(
            req,
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group not exist, {group} {}", faq()),
        ));
    };
    let max_reconsume = match h.max_reconsume_times {
        Some(max) if req.version >= V3_4_9 => max,
        _ => group_config.retry_max_times,
    };
    if h.reconsume_times.unwrap_or(0) < max_reconsume {
        return Ok((h.topic.clone(), queue_id));
    }
    let dlq = format!("{DLQ_GROUP_TOPIC_PREFIX}{group}");
    state
        .topics
        .create_if_absent(&dlq, DLQ_NUMS_PER_GROUP, perm::READ | perm::WRITE, 0);
    Ok((dlq, random_queue(DLQ_NUMS_PER_GROUP)))
}

/// Java adds the MULTI_TAGS sys flag to messages stored in a MULTI_TAG topic.
fn with_topic_sys_flag(state: &BrokerState, topic: &str, sys_flag: i32) -> i32 {
    match state.topics.read(topic, |t| t.topic_filter_type == "MULTI_TAG") {
        Some(true) => sys_flag | codec::sys_flag::MULTI_TAGS,
        _ => sys_flag,
    }
}

fn refuse(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response_to(req, code, Some(remark.into()))
}

/// How long a retry waits for its original's put to finish.
const DEDUP_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// A send's answer repeated for a retry.
fn send_ok(req: &RemotingCommand, first: &FirstSend) -> RemotingCommand {
    RemotingCommand::success(req).with_header(&SendMessageResponseHeader {
        msg_id: first.msg_id.clone(),
        queue_id: first.queue_id,
        queue_offset: first.queue_offset,
        transaction_id: None,
        recall_handle: None,
    })
}

fn is_batch_header(h: &SendMessageRequestHeader) -> bool {
    h.batch == Some(true)
}

fn random_queue(write_queues: i32) -> i32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos % write_queues.max(1) as u32) as i32
}

/// CONSUMER_SEND_MSG_BACK (36): a message the consumer could not process goes to the group's
/// retry topic, delayed by level `3 + reconsumeTimes` unless the consumer names a level, or
/// to the group's dead-letter topic once it has been retried too often (Java 4.9.8's
/// `asyncConsumerSendMsgBack`, check for check).
///
/// The stored copy is the original with its properties as Java leaves them: `RETRY_TOPIC`
/// (the first topic, kept from an earlier retry), `ORIGIN_MESSAGE_ID` (kept, else the
/// original's offset msgId), `WAIT=false`, and `DELAY` = the level (`0` for the DLQ: Java
/// sets level 0 there, which the store ignores but the text keeps); a delayed copy also
/// gets `REAL_TOPIC` / `REAL_QID` from the store. Born and store host are the original's.
pub async fn consumer_send_msg_back(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: ConsumerSendMsgBackRequestHeader = req.decode_header()?;
    let config = state.live();
    let Some(group) = state.groups.find(&h.group) else {
        return reply(
            &req,
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group not exist, {} {}", h.group, faq()),
        );
    };
    if config.broker_permission & perm::WRITE == 0 {
        return reply(
            &req,
            response::NO_PERMISSION,
            format!("the broker[{}] sending message is forbidden", config.broker_ip1),
        );
    }
    if group.retry_queue_nums <= 0 {
        return Ok(Some(RemotingCommand::success(&req)));
    }

    let retry = format!("{RETRY_GROUP_TOPIC_PREFIX}{}", h.group);
    let topic_sys_flag = if h.unit_mode == Some(true) {
        TOPIC_FLAG_UNIT_SUB
    } else {
        0
    };
    let retry_config =
        state
            .topics
            .create_if_absent(&retry, group.retry_queue_nums, perm::READ | perm::WRITE, topic_sys_flag);
    if retry_config.perm & perm::WRITE == 0 {
        return reply(
            &req,
            response::NO_PERMISSION,
            format!("the topic[{retry}] sending message is forbidden"),
        );
    }
    let Some((_, original)) = state.store.message_by_commitlog_offset(h.offset) else {
        return reply(
            &req,
            response::SYSTEM_ERROR,
            format!("look message by offset failed, {}", h.offset),
        );
    };

    let mut properties = original.properties.clone();
    if codec::get_property(&properties, "RETRY_TOPIC").is_none() {
        codec::insert_property(&mut properties, "RETRY_TOPIC", &original.topic);
    }
    codec::insert_property(&mut properties, property::WAIT, "false");
    let max_reconsume = match h.max_reconsume_times {
        // Clients from V3_4_9 (121) on may set their own limit.
        Some(max) if req.version >= V3_4_9 => max,
        _ => group.retry_max_times,
    };
    let (topic, queue_id) = if original.reconsume_times >= max_reconsume || h.delay_level < 0 {
        let dlq = format!("{DLQ_GROUP_TOPIC_PREFIX}{}", h.group);
        state
            .topics
            .create_if_absent(&dlq, DLQ_NUMS_PER_GROUP, perm::READ | perm::WRITE, 0);
        codec::insert_property(&mut properties, property::DELAY, "0");
        (dlq, random_queue(DLQ_NUMS_PER_GROUP))
    } else {
        let level = if h.delay_level == 0 {
            3 + original.reconsume_times
        } else {
            h.delay_level
        };
        codec::insert_property(&mut properties, property::DELAY, &level.to_string());
        (retry, random_queue(group.retry_queue_nums))
    };
    // Java takes the ORIGIN_MESSAGE_ID property, else the looked-up message's msgId, which
    // is its offset msgId (the header's originMsgId only feeds the consume hooks).
    let origin_id = codec::get_property(&properties, "ORIGIN_MESSAGE_ID")
        .filter(|v| !v.trim().is_empty())
        .map(String::from)
        .unwrap_or_else(|| original.offset_msg_id());
    codec::insert_property(&mut properties, "ORIGIN_MESSAGE_ID", &origin_id);

    // Send-backs are counted under the topic the message first came from.
    let back_topic = codec::get_property(&properties, "RETRY_TOPIC")
        .unwrap_or(&original.topic)
        .to_string();
    // Java's put hook: a delay level drops the timer properties; a DLQ copy of a message
    // that asks for a timer (and never went through the wheel) waits in it.
    let (mut topic, mut queue_id) = (topic, queue_id);
    if crate::timer::has_timer_property(&properties) {
        if let Err((code, remark)) =
            crate::timer::on_put(&state, &mut topic, &mut queue_id, &mut properties, original.sys_flag)
        {
            return reply(&req, code, remark);
        }
    }
    let mut msg = MessageToStore::new(&topic, queue_id, original.body.clone(), properties);
    msg.flag = original.flag;
    msg.sys_flag = original.sys_flag & !(codec::sys_flag::BORN_HOST_V6 | codec::sys_flag::STORE_HOST_V6);
    msg.born_timestamp = original.born_timestamp;
    msg.born_host = original.born_host;
    msg.store_host = original.store_host;
    msg.reconsume_times = original.reconsume_times + 1;
    msg.wait_store_msg_ok = false;
    let result = state.store.put_message_async(&msg).await;
    if result.is_ok() {
        if let Some(append) = &result.append {
            state.stats.on_send_back(&h.group, &back_topic, append);
        }
        Ok(Some(RemotingCommand::success(&req)))
    } else {
        reply(&req, response::SYSTEM_ERROR, java_status_name(&result.status))
    }
}

/// The name of Java's PutMessageStatus constant (a failed send-back's remark).
fn java_status_name(status: &PutMessageStatus) -> &'static str {
    match status {
        PutMessageStatus::PutOk => "PUT_OK",
        PutMessageStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
        PutMessageStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
        PutMessageStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        PutMessageStatus::ServiceNotAvailable => "SERVICE_NOT_AVAILABLE",
        PutMessageStatus::CreateMappedFileFailed => "CREATE_MAPEDFILE_FAILED",
        PutMessageStatus::MessageIllegal => "MESSAGE_ILLEGAL",
        PutMessageStatus::PropertiesSizeExceeded => "PROPERTIES_SIZE_EXCEEDED",
        PutMessageStatus::OsPageCacheBusy => "OS_PAGECACHE_BUSY",
        PutMessageStatus::UnknownError => "UNKNOWN_ERROR",
    }
}
