//! POP_MESSAGE (200050), PEEK_MESSAGE (200052), NOTIFICATION (200054) and POLLING_INFO
//! (200055). A pop reads from the group's offset, moves the offset past what it hands out
//! and records a checkpoint in the revive topic (unordered), or locks the queue to the pop
//! until its messages are acked or their invisible time passes (ordered). See docs/pop.md.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use remoting::code::response;
use remoting::header::pop::{
    NotificationRequestHeader, NotificationResponseHeader, PeekMessageRequestHeader, PollingInfoRequestHeader,
    PollingInfoResponseHeader, PopMessageRequestHeader, PopMessageResponseHeader,
};
use remoting::protocol::route::perm;
use remoting::{Connection, HandlerResult, RemotingCommand};
use store::codec::{find_property, view_record};
use store::GetMessageStatus;
use tracing::warn;

use crate::consumer_filter::is_tag_type;
use crate::filter::{self, Expression};
use crate::pop::faq;
use crate::pop::records::PopCheckPoint;
use crate::pop::{extra_info, polling_key, revive, POP_ORDER_REVIVE_QUEUE, RETRY_GROUP_TOPIC_PREFIX};
use crate::BrokerState;
use remoting::protocol::topic::TopicConfig;

/// ConsumeInitMode.MIN: a group without an offset starts at the queue's first message.
const INIT_MODE_MIN: i32 = 0;

fn now_millis() -> i64 {
    remoting::protocol::topic::now_millis()
}

fn reply(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> HandlerResult {
    Ok(Some(RemotingCommand::response_to(req, code, Some(remark.into()))))
}

/// A number in 0..100 (which queue a pop starts at, whether it tries the retry topic first).
fn random_percent() -> i32 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = now_millis() as u64 | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    (x % 100) as i32
}

/// Which messages a pop takes: by tag hash codes (None: every tag), or by SQL92.
enum Filter {
    Tags(Option<HashSet<i64>>),
    Sql(Arc<Expression>),
}

impl Filter {
    fn build(exp_type: Option<&str>, exp: Option<&str>) -> Result<Filter, ()> {
        let Some(exp) = exp.filter(|e| !e.is_empty()) else {
            return Ok(Filter::Tags(None));
        };
        if is_tag_type(exp_type) {
            let tags: Vec<&str> = exp.split("||").map(str::trim).filter(|t| !t.is_empty()).collect();
            if tags.is_empty() || tags.contains(&"*") {
                return Ok(Filter::Tags(None));
            }
            return Ok(Filter::Tags(Some(
                tags.into_iter().map(store::tags_hash_code).collect(),
            )));
        }
        filter::compile(exp).map(|e| Filter::Sql(Arc::new(e))).map_err(|_| ())
    }

    fn get(&self, state: &BrokerState, topic: &str, queue_id: i32, offset: i64, max: usize) -> store::GetResult {
        match self {
            Filter::Tags(Some(codes)) => {
                let f = |code: i64| codes.contains(&code);
                state
                    .store
                    .get_messages_filtered(topic, queue_id, offset, max, 0, Some(&f), None)
            }
            Filter::Tags(None) => state
                .store
                .get_messages_filtered(topic, queue_id, offset, max, 0, None, None),
            Filter::Sql(expression) => {
                let f = |record: &[u8]| {
                    view_record(record).is_ok_and(|view| {
                        expression.matches(&|name| find_property(&view.properties, name).map(str::to_string))
                    })
                };
                state
                    .store
                    .get_messages_filtered(topic, queue_id, offset, max, 0, None, Some(&f))
            }
        }
    }
}

/// The group's offset on a queue, or where a group without one starts (committed when
/// `init`), as Java's getPopOffset / getInitOffset.
fn pop_offset(state: &BrokerState, topic: &str, group: &str, queue_id: i32, init_mode: i32, init: bool) -> i64 {
    let offset = state.offsets.query(group, topic, queue_id);
    if offset >= 0 {
        return offset;
    }
    let min = state.store.min_offset_in_queue(topic, queue_id);
    let offset = if init_mode == INIT_MODE_MIN || topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        min
    } else if min <= 0 && state.store.max_offset_in_queue(topic, queue_id) > 0 {
        // The queue still holds its first message (Java: initPopOffsetByCheckMsgInMem).
        0
    } else {
        (state.store.max_offset_in_queue(topic, queue_id) - 1).max(0)
    };
    if init {
        state.offsets.commit(group, topic, queue_id, offset);
    }
    offset
}

/// What one pop gathered.
struct Popped {
    messages: Vec<Bytes>,
    rest: i64,
    start_offset_info: String,
    msg_offset_info: String,
    order_count_info: String,
}

struct PopRound<'a> {
    state: &'a BrokerState,
    h: &'a PopMessageRequestHeader,
    filter: &'a Filter,
    order: bool,
    pop_time: i64,
    revive_qid: i32,
    out: Popped,
}

impl PopRound<'_> {
    async fn pop_topic(&mut self, topic: &str, is_retry: bool, random: i32) {
        let Some(config) = self.state.topics.select(topic) else {
            return;
        };
        let n = config.read_queue_nums.max(0);
        for i in 0..n {
            let queue_id = (random + i) % n;
            self.pop_queue(topic, is_retry, queue_id).await;
        }
    }

    async fn pop_queue(&mut self, topic: &str, is_retry: bool, queue_id: i32) {
        let state = self.state;
        let h = self.h;
        let group = h.consumer_group.as_str();
        let offset = pop_offset(state, topic, group, queue_id, h.init_mode, false);
        let Some(_lock) = state.pop.try_lock(topic, group, queue_id) else {
            if !self.order {
                self.out.rest += state.store.max_offset_in_queue(topic, queue_id) - offset;
            }
            return;
        };
        let mut offset = pop_offset(state, topic, group, queue_id, h.init_mode, true);
        if self.order {
            let blocked = state.pop.order_info.check_block(
                h.attempt_id.as_deref(),
                topic,
                group,
                queue_id,
                h.invisible_time,
                now_millis(),
            );
            if blocked {
                return;
            }
        }
        let want = h.max_msg_nums.max(1) as usize;
        if self.out.messages.len() >= want {
            self.out.rest += state.store.max_offset_in_queue(topic, queue_id) - offset;
            return;
        }
        let mut got = self
            .filter
            .get(state, topic, queue_id, offset, want - self.out.messages.len());
        if matches!(
            got.status,
            GetMessageStatus::OffsetTooSmall
                | GetMessageStatus::OffsetOverflowBadly
                | GetMessageStatus::OffsetFoundNull
        ) {
            // The offset is not in the queue any more (or never was): start where it is.
            state.offsets.commit(group, topic, queue_id, got.next_begin_offset);
            offset = got.next_begin_offset;
            got = self
                .filter
                .get(state, topic, queue_id, offset, want - self.out.messages.len());
        }
        if !got.messages.is_empty() {
            // Counted as gets of the group, as Java's pop does.
            state.stats.on_pull_found(
                group,
                topic,
                queue_id,
                got.messages.len(),
                got.buffer_total_size(),
                now_millis() - self.pop_time,
            );
            let offsets: Vec<i64> = got.messages.iter().map(|m| m.queue_offset).collect();
            if self.order {
                state.pop.order_info.update(
                    h.attempt_id.as_deref(),
                    topic,
                    group,
                    queue_id,
                    self.pop_time,
                    h.invisible_time,
                    &offsets,
                    &mut self.out.order_count_info,
                    now_millis(),
                );
                state.offsets.commit(group, topic, queue_id, offset);
            } else {
                let ck = PopCheckPoint {
                    bit_map: 0,
                    num: offsets.len() as i32,
                    pop_time: self.pop_time,
                    invisible_time: h.invisible_time,
                    start_offset: offset,
                    cid: group.to_string(),
                    topic: topic.to_string(),
                    queue_id,
                    broker_name: Some(state.config.broker_name.clone()),
                    queue_offset_diff: offsets.iter().map(|o| (o - offset) as i32).collect(),
                    ..Default::default()
                };
                if !revive::put_checkpoint(state, self.revive_qid, &ck).await {
                    self.out.rest += got.messages.len() as i64;
                    return;
                }
                state.offsets.commit(group, topic, queue_id, got.next_begin_offset);
            }
            extra_info::add_start_offset(&mut self.out.start_offset_info, topic, queue_id, offset);
            extra_info::add_msg_offsets(&mut self.out.msg_offset_info, topic, queue_id, &offsets);
        } else if matches!(
            got.status,
            GetMessageStatus::NoMatchedMessage
                | GetMessageStatus::OffsetFoundNull
                | GetMessageStatus::MessageWasRemoving
                | GetMessageStatus::NoMatchedLogicQueue
        ) && got.next_begin_offset > offset
        {
            // Nothing matched the filter up to next_begin_offset: skip past it.
            state.offsets.commit(group, topic, queue_id, got.next_begin_offset);
        }
        self.out.rest += got.max_offset - got.next_begin_offset;
        for stored in got.messages {
            if !is_retry {
                self.out.messages.push(stored.bytes);
                continue;
            }
            // A retry message goes out under the topic the client popped, with its
            // receipt handle (the client could not build it from the retry topic's name).
            match store::decode_message(&stored.bytes) {
                Ok(msg) => {
                    let handle = extra_info::build(
                        offset,
                        self.pop_time,
                        h.invisible_time,
                        self.revive_qid,
                        &msg.topic,
                        &state.config.broker_name,
                        msg.queue_id,
                        msg.queue_offset,
                    );
                    self.out.messages.push(reencode(msg, &h.topic, &handle));
                }
                Err(e) => warn!(topic, queue_id, "undecodable retry message: {e}"),
            }
        }
    }
}

/// A stored message re-encoded under `topic` with `POP_CK` added (if absent).
fn reencode(msg: store::DecodedMessage, topic: &str, handle: &str) -> Bytes {
    let mut properties = msg.properties.clone();
    if store::codec::get_property(&properties, crate::pop::PROPERTY_POP_CK).is_none() {
        store::codec::insert_property(&mut properties, crate::pop::PROPERTY_POP_CK, handle);
    }
    // Java decodes into a HashMap and writes it back in that map's order.
    let props = store::codec::properties_string_java_order(&properties);
    let mut out = Vec::new();
    store::codec::encode_message(
        &mut out,
        &store::codec::EncodeFields {
            body_crc: msg.body_crc,
            queue_id: msg.queue_id,
            flag: msg.flag,
            queue_offset: msg.queue_offset,
            physical_offset: msg.commit_log_offset,
            sys_flag: msg.sys_flag,
            born_timestamp: msg.born_timestamp,
            born_host: &msg.born_host,
            store_timestamp: msg.store_timestamp,
            store_host: &msg.store_host,
            reconsume_times: msg.reconsume_times,
            prepared_transaction_offset: msg.prepared_transaction_offset,
            body: &msg.body,
            topic: topic.as_bytes(),
            properties: &[props.as_bytes()],
        },
    );
    Bytes::from(out)
}

/// The checks every POP-family request makes of broker, topic, queue and group.
fn check_access(
    state: &BrokerState,
    conn: &Connection,
    topic: &str,
    queue_id: i32,
    group: &str,
    forbidden: &str,
) -> Result<TopicConfig, (i32, String)> {
    let config = state.live();
    if config.broker_permission & perm::READ == 0 {
        return Err((
            response::NO_PERMISSION,
            format!("the broker[{}] {forbidden} message is forbidden", config.broker_ip1),
        ));
    }
    let Some(topic_config) = state.topics.select(topic) else {
        return Err((
            response::TOPIC_NOT_EXIST,
            format!("topic[{topic}] not exist, apply first please! {}", faq()),
        ));
    };
    if topic_config.perm & perm::READ == 0 {
        return Err((
            response::NO_PERMISSION,
            format!("the topic[{topic}] peeking message is forbidden"),
        ));
    }
    if queue_id >= topic_config.read_queue_nums {
        return Err((
            response::INVALID_PARAMETER,
            format!(
                "queueId[{queue_id}] is illegal, topic:[{topic}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                topic_config.read_queue_nums,
                conn.peer_addr()
            ),
        ));
    }
    let Some(group_config) = state.groups.find(group) else {
        return Err((
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group [{group}] does not exist, {}", faq()),
        ));
    };
    if !group_config.consume_enable {
        return Err((
            response::NO_PERMISSION,
            format!("subscription group no permission, {group}"),
        ));
    }
    Ok(topic_config)
}

/// As Java: a request without `bornTime` (or with 0) was born now.
fn fill_born_time(req: &mut RemotingCommand) {
    if req.ext().get("bornTime").is_none_or(|t| t == "0") {
        req.ext_mut().insert("bornTime", now_millis().to_string());
    }
}

pub async fn pop_message(state: Arc<BrokerState>, conn: Connection, mut req: RemotingCommand) -> HandlerResult {
    fill_born_time(&mut req);
    let mut h: PopMessageRequestHeader = req.decode_header()?;
    if h.born_time == 0 {
        h.born_time = now_millis();
    }
    let config = state.live();
    if now_millis() - h.born_time - h.poll_time > 500 {
        return reply(
            &req,
            response::POLLING_TIMEOUT,
            format!("the broker[{}] pop message is timeout too much", config.broker_ip1),
        );
    }
    if config.broker_permission & perm::READ == 0 {
        return reply(
            &req,
            response::NO_PERMISSION,
            format!("the broker[{}] pop message is forbidden", config.broker_ip1),
        );
    }
    if h.max_msg_nums > 32 {
        return reply(
            &req,
            response::INVALID_PARAMETER,
            format!("the broker[{}] pop message's num is greater than 32", config.broker_ip1),
        );
    }
    let topic_config = match check_access(&state, &conn, &h.topic, h.queue_id, &h.consumer_group, "pop") {
        Ok(c) => c,
        Err((code, remark)) => return reply(&req, code, remark),
    };
    let Ok(filter) = Filter::build(h.exp_type.as_deref(), h.exp.as_deref()) else {
        warn!(group = %h.consumer_group, exp = ?h.exp, "the pop's expression does not compile");
        return reply(
            &req,
            response::SUBSCRIPTION_PARSE_FAILED,
            "parse the consumer's subscription failed",
        );
    };
    let order = h.order.unwrap_or(false);
    let retry_topic = state.pop.config.retry_topic(&h.topic, &h.consumer_group);
    let retry_topic_v1 = crate::pop::retry_topic_v1(&h.topic, &h.consumer_group);
    let deadline = h.born_time + h.poll_time;
    let key = polling_key(&h.topic, &h.consumer_group, h.queue_id);
    let mut ticket = None;
    loop {
        let topic_signal = state.pop.signal(&h.topic);
        let retry_signal = state.pop.signal(&retry_topic);
        let woken = topic_signal.notified();
        let woken_retry = retry_signal.notified();
        tokio::pin!(woken, woken_retry);
        woken.as_mut().enable();
        woken_retry.as_mut().enable();

        let random = random_percent();
        let revive_qid = if order {
            POP_ORDER_REVIVE_QUEUE
        } else {
            state.pop.next_revive_qid()
        };
        let mut round = PopRound {
            state: &state,
            h: &h,
            filter: &filter,
            order,
            pop_time: now_millis(),
            revive_qid,
            out: Popped {
                messages: Vec::new(),
                rest: 0,
                start_offset_info: String::new(),
                msg_offset_info: String::new(),
                order_count_info: String::new(),
            },
        };
        let need_retry = random < state.pop.config.pop_from_retry_probability;
        // With the `+` naming on, every other pop reads the old `_` retry topic instead, so
        // what was revived before the switch is still delivered.
        let config = &state.pop.config;
        let retry_topic =
            if config.enable_retry_topic_v2 && config.retrieve_message_from_pop_retry_topic_v1 && random % 2 == 0 {
                retry_topic_v1.as_str()
            } else {
                retry_topic.as_str()
            };
        if need_retry && !order {
            round.pop_topic(retry_topic, true, random).await;
        }
        if h.queue_id < 0 {
            round.pop_topic(&topic_config.topic_name, false, random).await;
        } else {
            round.pop_queue(&topic_config.topic_name, false, h.queue_id).await;
        }
        if !need_retry && !order && round.out.messages.len() < h.max_msg_nums.max(1) as usize {
            round.pop_topic(retry_topic, true, random).await;
        }
        let pop_time = round.pop_time;
        let out = round.out;
        let found = !out.messages.is_empty();
        if found && out.rest > 0 {
            // Messages are left: let the other waiting pops (which may have found this
            // pop's queue locked) look again, as Java does.
            state.pop.message_arrived(&h.topic);
        }
        let mut code = response::SUCCESS;
        if !found {
            let now = now_millis();
            if h.poll_time > 0 && now < deadline {
                if ticket.is_none() {
                    ticket = state.pop.start_polling(&key);
                }
                if ticket.is_some() {
                    let wait = Duration::from_millis((deadline - now) as u64);
                    let _ = tokio::time::timeout(wait, async {
                        tokio::select! {
                            _ = &mut woken => {},
                            _ = &mut woken_retry => {},
                        }
                    })
                    .await;
                    if conn.is_closed() {
                        // Nobody to hand messages to (Java skips a waiting pop whose
                        // channel went inactive).
                        return Ok(None);
                    }
                    continue;
                }
                code = response::POLLING_FULL;
            } else {
                code = response::POLLING_TIMEOUT;
            }
        }
        let header = PopMessageResponseHeader {
            pop_time,
            invisible_time: h.invisible_time,
            revive_qid,
            rest_num: out.rest,
            start_offset_info: Some(out.start_offset_info),
            msg_offset_info: Some(out.msg_offset_info),
            order_count_info: order.then_some(out.order_count_info),
        };
        let remark = if found { "FOUND" } else { "NO_MESSAGE_IN_QUEUE" };
        let mut res = RemotingCommand::response_to(&req, code, Some(remark.to_string())).with_header(&header);
        if found {
            let mut body = Vec::with_capacity(out.messages.iter().map(|m| m.len()).sum());
            for m in &out.messages {
                body.extend_from_slice(m);
            }
            res.body = body.into();
        }
        return Ok(Some(res));
    }
}

pub async fn peek_message(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: PeekMessageRequestHeader = req.decode_header()?;
    let topic_config = match check_access(&state, &conn, &h.topic, h.queue_id, &h.consumer_group, "peeking") {
        Ok(c) => c,
        Err((code, remark)) => return reply(&req, code, remark),
    };
    let want = h.max_msg_nums.max(1) as usize;
    let random = random_percent();
    let retry_topic = state.pop.config.retry_topic(&h.topic, &h.consumer_group);
    let mut messages: Vec<Bytes> = Vec::new();
    let mut rest = 0i64;
    let mut peek_queue = |topic: &str, queue_id: i32, messages: &mut Vec<Bytes>| {
        let mut offset = state.offsets.query(&h.consumer_group, topic, queue_id);
        if offset < 0 {
            offset = state.store.min_offset_in_queue(topic, queue_id);
        }
        rest += state.store.max_offset_in_queue(topic, queue_id) - offset;
        if messages.len() >= want {
            return;
        }
        let mut got = state
            .store
            .get_messages(topic, queue_id, offset, want - messages.len(), 0, None);
        if matches!(
            got.status,
            GetMessageStatus::OffsetTooSmall | GetMessageStatus::OffsetOverflowBadly
        ) {
            offset = got.next_begin_offset;
            got = state
                .store
                .get_messages(topic, queue_id, offset, want - messages.len(), 0, None);
        }
        messages.extend(got.messages.into_iter().map(|m| m.bytes));
    };
    let queues_of = |topic: &str| state.topics.select(topic).map(|c| c.read_queue_nums).unwrap_or(0);
    let need_retry = random % 5 == 0;
    if need_retry {
        let n = queues_of(&retry_topic);
        for i in 0..n {
            peek_queue(&retry_topic, (random + i) % n, &mut messages);
        }
    }
    if h.queue_id < 0 {
        let n = topic_config.read_queue_nums;
        for i in 0..n {
            peek_queue(&h.topic, (random + i) % n, &mut messages);
        }
    } else {
        peek_queue(&h.topic, h.queue_id, &mut messages);
    }
    if !need_retry && messages.len() < want {
        let n = queues_of(&retry_topic);
        for i in 0..n {
            peek_queue(&retry_topic, (random + i) % n, &mut messages);
        }
    }
    let found = !messages.is_empty();
    let header = PopMessageResponseHeader {
        rest_num: rest,
        ..Default::default()
    };
    let (code, remark) = if found {
        (response::SUCCESS, "FOUND")
    } else {
        (response::PULL_NOT_FOUND, "NO_MESSAGE_IN_QUEUE")
    };
    let mut res = RemotingCommand::response_to(&req, code, Some(remark.into())).with_header(&header);
    if found {
        res.body = messages.concat().into();
    }
    Ok(Some(res))
}

/// Whether a pop of `queue_id` would find something (ordered: and the queue is not held).
fn has_message(state: &BrokerState, h: &NotificationRequestHeader, topic: &str, queue_id: i32) -> bool {
    if h.order.unwrap_or(false)
        && state.pop.order_info.check_block(
            h.attempt_id.as_deref(),
            &h.topic,
            &h.consumer_group,
            queue_id,
            0,
            now_millis(),
        )
    {
        return false;
    }
    let mut offset = state.offsets.query(&h.consumer_group, topic, queue_id);
    if offset < 0 {
        offset = state.store.min_offset_in_queue(topic, queue_id);
    }
    state.store.max_offset_in_queue(topic, queue_id) - offset > 0
}

fn has_message_in_topic(state: &BrokerState, h: &NotificationRequestHeader, topic: &str, random: i32) -> bool {
    let n = state.topics.select(topic).map(|c| c.read_queue_nums).unwrap_or(0);
    (0..n).any(|i| has_message(state, h, topic, (random + i) % n))
}

pub async fn notification(state: Arc<BrokerState>, conn: Connection, mut req: RemotingCommand) -> HandlerResult {
    fill_born_time(&mut req);
    let mut h: NotificationRequestHeader = req.decode_header()?;
    if h.born_time == 0 {
        h.born_time = now_millis();
    }
    let config = state.live();
    if config.broker_permission & perm::READ == 0 {
        return reply(
            &req,
            response::NO_PERMISSION,
            format!("the broker[{}] peeking message is forbidden", config.broker_ip1),
        );
    }
    if let Err((code, remark)) = check_access(&state, &conn, &h.topic, h.queue_id, &h.consumer_group, "peeking") {
        return reply(&req, code, remark);
    }
    let retry_topic = state.pop.config.retry_topic(&h.topic, &h.consumer_group);
    let key = polling_key(&h.topic, &h.consumer_group, h.queue_id);
    let deadline = h.born_time + h.poll_time;
    let mut ticket = None;
    let mut polling_full = false;
    let has_msg = loop {
        let topic_signal = state.pop.signal(&h.topic);
        let retry_signal = state.pop.signal(&retry_topic);
        let woken = topic_signal.notified();
        let woken_retry = retry_signal.notified();
        tokio::pin!(woken, woken_retry);
        woken.as_mut().enable();
        woken_retry.as_mut().enable();

        let random = random_percent();
        let found = has_message_in_topic(&state, &h, &retry_topic, random)
            || if h.queue_id < 0 {
                has_message_in_topic(&state, &h, &h.topic, random)
            } else {
                has_message(&state, &h, &h.topic, h.queue_id)
            };
        if found {
            break true;
        }
        let now = now_millis();
        if h.poll_time <= 0 || now >= deadline {
            break false;
        }
        if ticket.is_none() {
            ticket = state.pop.start_polling(&key);
            if ticket.is_none() {
                polling_full = true;
                break false;
            }
        }
        let wait = Duration::from_millis((deadline - now) as u64);
        let _ = tokio::time::timeout(wait, async {
            tokio::select! {
                _ = &mut woken => {},
                _ = &mut woken_retry => {},
            }
        })
        .await;
    };
    drop(ticket);
    let header = NotificationResponseHeader { has_msg, polling_full };
    Ok(Some(RemotingCommand::success(&req).with_header(&header)))
}

pub async fn polling_info(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: PollingInfoRequestHeader = req.decode_header()?;
    if let Err((code, remark)) = check_access(&state, &conn, &h.topic, h.queue_id, &h.consumer_group, "peeking") {
        return reply(&req, code, remark);
    }
    let n = state
        .pop
        .polling_num(&polling_key(&h.topic, &h.consumer_group, h.queue_id));
    let header = PollingInfoResponseHeader { polling_num: n as i32 };
    Ok(Some(RemotingCommand::success(&req).with_header(&header)))
}
