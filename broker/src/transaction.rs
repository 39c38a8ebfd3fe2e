//! Transactional messages, stored as Java 4.9.8 stores them so either broker can resolve
//! what the other left pending.
//!
//! - A prepared send (`TRAN_MSG=true`) is stored as a plain message in
//!   `RMQ_SYS_TRANS_HALF_TOPIC` queue 0, its real topic and queue in `REAL_TOPIC` /
//!   `REAL_QID`: consumers never see it.
//! - END_TRANSACTION commits (the message goes to its real topic with the COMMIT sys flag,
//!   its properties as in the half message, `preparedTransactionOffset` pointing back at
//!   it) or rolls back; either way an op record goes to `RMQ_SYS_TRANS_OP_HALF_TOPIC`
//!   (same queue id, tag `d`, body = the half message's queue offset).
//! - The check service walks the half queue from its own progress (consumer offsets of
//!   group `CID_RMQ_SYS_TRANS`, as Java keeps them): a half message with an op record is
//!   done; one older than `transactionTimeOut` (or its `CHECK_IMMUNITY_TIME_IN_SECONDS`) is
//!   put back at the end of the half queue with `TRANSACTION_CHECK_TIMES` raised and its
//!   producer group is asked with CHECK_TRANSACTION_STATE; past `transactionCheckMax`
//!   checks it goes to `TRANS_CHECK_MAX_TIME_TOPIC` instead.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use remoting::code::request;
use remoting::header::broker::CheckTransactionStateRequestHeader;
use remoting::protocol::route::perm;
use remoting::RemotingCommand;
use store::codec::{self, property, sys_flag, DecodedMessage, EncodeFields};
use store::{MessageToStore, PutMessageStatus};
use tracing::{debug, info, warn};

use crate::BrokerState;

pub const HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const OP_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// The group under which the check service keeps its progress.
pub const CHECK_GROUP: &str = "CID_RMQ_SYS_TRANS";
/// Tag of op records.
const REMOVE_TAG: &str = "d";
const PRODUCER_GROUP: &str = "PGROUP";
const CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
const CHECK_IMMUNITY_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// On a copy the check service made of a half message still inside its immunity time: the
/// half queue offset of the message it stands for.
const PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// Half messages read per step of a check round.
const BATCH: usize = 32;

/// Whether a send is the prepared half of a transaction (`Boolean.parseBoolean` of TRAN_MSG).
pub fn is_prepared(properties: &[(String, String)]) -> bool {
    codec::get_property(properties, property::TRANSACTION_PREPARED).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Turns a prepared send into its half message. `properties` are the message's as sent
/// plus CLUSTER, WAIT still in them (Java keeps it in a half message's text).
pub fn to_half(msg: &mut MessageToStore) {
    codec::insert_property(&mut msg.properties, property::REAL_TOPIC, &msg.topic);
    codec::insert_property(&mut msg.properties, property::REAL_QUEUE_ID, &msg.queue_id.to_string());
    msg.properties_string = Some(codec::properties_string_java_order(&msg.properties));
    // The store acts on its map only: a half message is never delayed.
    msg.properties.retain(|(k, _)| k != property::DELAY);
    msg.sys_flag &= !sys_flag::TRANSACTION_ROLLBACK_TYPE;
    msg.topic = HALF_TOPIC.to_string();
    msg.queue_id = 0;
}

/// The op records read so far, per half queue: the op queue offset read up to and the half
/// queue offsets they name. Kept under `BrokerState::transaction_lock`, so a decision reads
/// only the op records written since the previous one, not every op record past the check
/// service's progress (which made each END_TRANSACTION cost grow with the op records of
/// the last check interval: at ~1,000 decisions a second decisions fell seconds behind).
#[derive(Default)]
pub struct OpIndex {
    queues: HashMap<i32, OpQueueIndex>,
}

#[derive(Default)]
struct OpQueueIndex {
    /// The next op queue offset to read.
    next: i64,
    /// Half queue offsets named by the op records read (those below the check service's
    /// half progress are dropped after each round; they are decided either way).
    resolved: HashSet<i64>,
}

/// Why an END_TRANSACTION cannot be applied (Java's remarks).
#[derive(Debug, PartialEq, Eq)]
pub enum EndError {
    NotFound,
    WrongGroup,
    WrongQueueOffset,
    WrongCommitLogOffset,
    AlreadyResolved,
    Store(PutMessageStatus),
}

impl EndError {
    pub fn remark(&self) -> String {
        match self {
            EndError::NotFound => "Find prepared transaction message failed".into(),
            EndError::WrongGroup => "The producer group wrong".into(),
            EndError::WrongQueueOffset => "The transaction state table offset wrong".into(),
            EndError::WrongCommitLogOffset => "The commit log offset wrong".into(),
            EndError::AlreadyResolved => "The transaction was already committed or rolled back".into(),
            EndError::Store(status) => format!("storing the transaction's outcome failed: {status:?}"),
        }
    }
}

/// The half message at `commit_log_offset`, checked against what the producer says of it.
fn half_message(
    state: &BrokerState,
    producer_group: &str,
    tran_state_table_offset: i64,
    commit_log_offset: i64,
) -> Result<DecodedMessage, EndError> {
    let (_, half) = state
        .store
        .message_by_commitlog_offset(commit_log_offset)
        .filter(|(_, m)| m.topic == HALF_TOPIC)
        .ok_or(EndError::NotFound)?;
    if half.property(PRODUCER_GROUP) != Some(producer_group) {
        return Err(EndError::WrongGroup);
    }
    if half.queue_offset != tran_state_table_offset {
        return Err(EndError::WrongQueueOffset);
    }
    if half.commit_log_offset != commit_log_offset {
        return Err(EndError::WrongCommitLogOffset);
    }
    Ok(half)
}

/// Commits (`commit`) or rolls back the half message the producer names.
pub async fn end(
    state: &BrokerState,
    producer_group: &str,
    tran_state_table_offset: i64,
    commit_log_offset: i64,
    commit: bool,
) -> Result<(), EndError> {
    let half = half_message(state, producer_group, tran_state_table_offset, commit_log_offset)?;
    // One decision at a time, and not while a check round runs: a round that had read the
    // op records before this decision's would put the half message back and ask again.
    let mut index = state.transaction_lock.lock().await;
    // Below the check service's progress a half message was either decided or put back
    // (by a check, or as an immunity copy); then its undecided copies, if any, are the
    // transaction's live state, and they are closed with it so no check asks again.
    let half_progress = progress(state, HALF_TOPIC, half.queue_id);
    let copies = {
        let done = resolved_offsets(state, &mut index, half.queue_id);
        if is_done(&half, done) {
            // Java would store the commit a second time (and answer SUCCESS); we change nothing.
            return Err(EndError::AlreadyResolved);
        }
        if half.queue_offset < half_progress {
            let copies = undecided_copies(state, &half, half_progress, done);
            if copies.is_empty() {
                return Err(EndError::AlreadyResolved);
            }
            copies
        } else {
            Vec::new()
        }
    };
    if commit {
        let mut real = committed(&half).ok_or(EndError::NotFound)?;
        // A committed timer message goes to the wheel (Java's put hook).
        if crate::timer::has_timer_property(&real.properties) {
            match crate::timer::on_put(
                state,
                &mut real.topic,
                &mut real.queue_id,
                &mut real.properties,
                real.sys_flag,
            ) {
                Ok(true) => real.properties_string = Some(codec::properties_string_java_order(&real.properties)),
                Ok(false) => {}
                Err(_) => return Err(EndError::Store(PutMessageStatus::MessageIllegal)),
            }
        }
        let result = state.store.put_message_async(&real).await;
        if !result.is_ok() {
            return Err(EndError::Store(result.status));
        }
    }
    for offset in std::iter::once(half.queue_offset).chain(copies) {
        if write_op(state, half.queue_id, offset).await {
            // Resolved from now on, even before the op record reaches its ConsumeQueue.
            index.queues.entry(half.queue_id).or_default().resolved.insert(offset);
        }
    }
    Ok(())
}

/// Whether the op records in `done` close this half message: one names its offset, or (for
/// an immunity copy) the offset of the message it stands for.
fn is_done(m: &DecodedMessage, done: &HashSet<i64>) -> bool {
    done.contains(&m.queue_offset) || prepared_queue_offset(m).is_some_and(|o| done.contains(&o))
}

fn prepared_queue_offset(m: &DecodedMessage) -> Option<i64> {
    m.property(PREPARED_QUEUE_OFFSET).and_then(|v| v.parse().ok())
}

/// Offsets at or after `from` in the half queue holding copies of `half` (same unique key,
/// born time and body) that no op record closes yet.
fn undecided_copies(state: &BrokerState, half: &DecodedMessage, from: i64, done: &HashSet<i64>) -> Vec<i64> {
    let same = |m: &DecodedMessage| {
        m.unique_key() == half.unique_key() && m.born_timestamp == half.born_timestamp && m.body_crc == half.body_crc
    };
    let mut out = Vec::new();
    scan_queue(state, HALF_TOPIC, half.queue_id, from, |stored| {
        if let Ok(m) = store::decode_message(&stored.bytes) {
            if same(&m) && !is_done(&m, done) {
                out.push(m.queue_offset);
            }
        }
    });
    out
}

/// Calls `f` with every message of a queue from `from` to its end, passing over entries
/// whose CommitLog data is gone; returns the offset after the last one.
fn scan_queue(
    state: &BrokerState,
    topic: &str,
    queue_id: i32,
    from: i64,
    mut f: impl FnMut(&store::StoredMessage),
) -> i64 {
    let mut offset = from;
    loop {
        let found = state.store.get_messages(topic, queue_id, offset, BATCH, 0, None);
        if found.messages.is_empty() {
            if found.next_begin_offset > offset {
                offset = found.next_begin_offset;
                continue;
            }
            return offset;
        }
        for stored in &found.messages {
            f(stored);
            offset = stored.queue_offset + 1;
        }
    }
}

/// The real message a commit stores: the half message's body and properties (their text
/// as stored, REAL_TOPIC and TRAN_MSG included, as Java writes it), in its real topic and
/// queue, with the COMMIT sys flag and a pointer back at the half message.
fn committed(half: &DecodedMessage) -> Option<MessageToStore> {
    let topic = half.property(property::REAL_TOPIC)?.to_string();
    let queue_id: i32 = half.property(property::REAL_QUEUE_ID)?.parse().ok()?;
    let mut map = half.properties.clone();
    map.retain(|(k, _)| k != property::DELAY);
    let mut msg = MessageToStore::new(&topic, queue_id, half.body.clone(), map);
    msg.properties_string = Some(half.properties_string.clone());
    msg.flag = half.flag;
    msg.sys_flag = (half.sys_flag
        & !(sys_flag::TRANSACTION_ROLLBACK_TYPE | sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6))
        | sys_flag::TRANSACTION_COMMIT_TYPE;
    msg.born_timestamp = half.born_timestamp;
    msg.born_host = half.born_host;
    msg.store_host = half.store_host;
    msg.reconsume_times = half.reconsume_times;
    msg.prepared_transaction_offset = half.commit_log_offset;
    msg.wait_store_msg_ok = false;
    Some(msg)
}

/// The op record that marks the half message at `half_offset` done; false if it could not
/// be stored.
async fn write_op(state: &BrokerState, queue_id: i32, half_offset: i64) -> bool {
    // Java puts op records straight into the store: the op topic gets no topic config.
    let props = vec![
        (property::TAGS.to_string(), REMOVE_TAG.to_string()),
        (property::WAIT.to_string(), "true".to_string()),
    ];
    let text = codec::properties_string_java_order(&props);
    let mut op = MessageToStore::new(OP_TOPIC, queue_id, half_offset.to_string().into_bytes(), props);
    op.properties_string = Some(text);
    op.born_host = state.store_addr;
    op.store_host = state.store_addr;
    op.wait_store_msg_ok = false;
    let result = state.store.put_message_async(&op).await;
    if !result.is_ok() {
        warn!(half_offset, status = ?result.status, "writing a transaction op record failed");
    }
    result.is_ok()
}

/// Half queue offsets that have an op record, among the op records the check service has
/// not moved past yet (the only ones that can name offsets at or after its progress): those
/// `index` holds, after reading the op records written since it was last brought up to date.
fn resolved_offsets<'a>(state: &BrokerState, index: &'a mut OpIndex, queue_id: i32) -> &'a HashSet<i64> {
    let op_progress = progress(state, OP_TOPIC, queue_id);
    let q = index.queues.entry(queue_id).or_insert_with(|| OpQueueIndex {
        next: op_progress,
        resolved: HashSet::new(),
    });
    let done = &mut q.resolved;
    // Op records below the op progress name half offsets below the half progress.
    q.next = scan_queue(state, OP_TOPIC, queue_id, q.next.max(op_progress), |m| {
        if let Some(half) = op_target(&m.bytes) {
            done.insert(half);
        }
    });
    &q.resolved
}

/// The half queue offset an op record names.
fn op_target(bytes: &[u8]) -> Option<i64> {
    let m = store::decode_message(bytes).ok()?;
    if m.tags() != Some(REMOVE_TAG) {
        return None;
    }
    std::str::from_utf8(&m.body).ok()?.trim().parse().ok()
}

/// The check service's progress in a queue of the half or op topic.
fn progress(state: &BrokerState, topic: &str, queue_id: i32) -> i64 {
    let committed = state.offsets.query(CHECK_GROUP, topic, queue_id);
    if committed >= 0 {
        committed
    } else {
        state.store.min_offset_in_queue(topic, queue_id)
    }
}

pub async fn run(state: Arc<BrokerState>) {
    let interval = Duration::from_millis(state.config.transaction_check_interval.max(100));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; Java waits a whole interval
    loop {
        ticker.tick().await;
        for queue_id in state.store.queue_ids(HALF_TOPIC) {
            let mut index = state.transaction_lock.lock().await;
            check_queue(&state, &mut index, queue_id).await;
        }
    }
}

/// One check round over one half queue.
async fn check_queue(state: &BrokerState, index: &mut OpIndex, queue_id: i32) {
    let start = progress(state, HALF_TOPIC, queue_id);
    let max = state.store.max_offset_in_queue(HALF_TOPIC, queue_id);
    if start >= max {
        return;
    }
    let done = resolved_offsets(state, index, queue_id).clone();
    let now = remoting::protocol::topic::now_millis();
    let mut next = start;
    'scan: while next < max {
        let found = state.store.get_messages(HALF_TOPIC, queue_id, next, BATCH, 0, None);
        if found.messages.is_empty() {
            if found.next_begin_offset > next {
                next = found.next_begin_offset; // CommitLog data gone (retention)
                continue;
            }
            break;
        }
        for stored in &found.messages {
            if stored.queue_offset < next {
                continue;
            }
            if stored.queue_offset >= max {
                // Put there since the round began (among them the copies this round put
                // back): the next round's (Java stops at messages stored after its start).
                break 'scan;
            }
            if done.contains(&stored.queue_offset) {
                next = stored.queue_offset + 1;
                continue;
            }
            let Ok(half) = store::decode_message(&stored.bytes) else {
                warn!(offset = stored.queue_offset, "skipping an undecodable half message");
                next = stored.queue_offset + 1;
                continue;
            };
            if is_done(&half, &done) {
                next = stored.queue_offset + 1;
                continue;
            }
            let checks: i32 = half.property(CHECK_TIMES).and_then(|v| v.parse().ok()).unwrap_or(0);
            if checks >= state.live().transaction_check_max {
                discard(state, &half).await;
                next = stored.queue_offset + 1;
                continue;
            }
            let timeout = state.live().transaction_time_out as i64;
            let age = now - half.born_timestamp;
            match half.property(CHECK_IMMUNITY_SECONDS) {
                // Java's getImmunityTime: seconds, -1 (or unreadable) meaning transactionTimeOut.
                Some(text) => {
                    let immunity = match text.trim().parse::<i64>() {
                        Ok(-1) | Err(_) => timeout,
                        Ok(seconds) => seconds * 1000,
                    };
                    if age < immunity {
                        // Still immune: not checked, but not in the way of the messages
                        // after it either. Java puts a copy at the end of the queue that
                        // names this offset, and moves on.
                        if !put_back_immune(state, &half).await {
                            break 'scan;
                        }
                        next = stored.queue_offset + 1;
                        continue;
                    }
                }
                None => {
                    if (0..timeout).contains(&age) {
                        break 'scan; // this one and all after it are too young
                    }
                }
            }
            if !check(state, half, checks + 1).await {
                break 'scan; // could not put it back: try again next round
            }
            next = stored.queue_offset + 1;
        }
    }
    if next > start {
        state.offsets.commit(CHECK_GROUP, HALF_TOPIC, queue_id, next);
        advance_op_progress(state, queue_id, next);
        if let Some(q) = index.queues.get_mut(&queue_id) {
            q.resolved.retain(|&half| half >= next);
        }
    }
}

/// Moves the op progress past op records that name half offsets below `half_progress`.
fn advance_op_progress(state: &BrokerState, queue_id: i32, half_progress: i64) {
    let mut offset = progress(state, OP_TOPIC, queue_id);
    let start = offset;
    'scan: loop {
        let found = state.store.get_messages(OP_TOPIC, queue_id, offset, BATCH, 0, None);
        if found.messages.is_empty() {
            break;
        }
        for m in &found.messages {
            match op_target(&m.bytes) {
                Some(target) if target >= half_progress => break 'scan,
                _ => offset = m.queue_offset + 1,
            }
        }
    }
    if offset > start {
        state.offsets.commit(CHECK_GROUP, OP_TOPIC, queue_id, offset);
    }
}

/// Java's putImmunityMsgBackToHalfQueue: a copy at the end of the half queue naming the
/// offset it stands for (`TRAN_PREPARED_QUEUE_OFFSET`, kept from an earlier copy). Java
/// writes the copy's properties text from the map after setting WAIT=false, so the copy
/// says `WAIT=false`. False when it could not be stored.
async fn put_back_immune(state: &BrokerState, half: &DecodedMessage) -> bool {
    let mut props = half.properties.clone();
    codec::insert_property(&mut props, property::WAIT, "false");
    if half.property(PREPARED_QUEUE_OFFSET).is_none() {
        codec::insert_property(&mut props, PREPARED_QUEUE_OFFSET, &half.queue_offset.to_string());
    }
    let copy = half_copy(half, half.queue_id, props);
    let result = state.store.put_message_async(&copy).await;
    if !result.is_ok() {
        warn!(status = ?result.status, "putting an immune half message back failed");
    }
    result.is_ok()
}

/// Puts the half message back at the end of its queue with one more check counted, then
/// asks a producer of its group. False when it could not be put back.
async fn check(state: &BrokerState, half: DecodedMessage, checks: i32) -> bool {
    let renewed = copy_to_half_queue(&half, half.queue_id, checks);
    let result = state.store.put_message_async(&renewed).await;
    let ok = result.is_ok();
    let Some(append) = result.append.filter(|_| ok) else {
        warn!(status = ?result.status, "putting a half message back for its check failed");
        return false;
    };
    let group = half.property(PRODUCER_GROUP).unwrap_or_default().to_string();
    let Some(producer) = state.clients.producer_of_group(&group) else {
        warn!(group, "Check transaction failed, channel is null");
        return true;
    };
    let uniq = half.unique_key().map(str::to_string);
    let header = CheckTransactionStateRequestHeader {
        tran_state_table_offset: append.logics_offset,
        commit_log_offset: append.wrote_offset,
        msg_id: uniq.clone(),
        transaction_id: uniq,
        offset_msg_id: Some(append.msg_id()),
    };
    // Java sends the message it read, moved to the copy's offsets, its properties text
    // written again from the map, where the copy's WAIT=false has landed.
    let mut props = half.properties.clone();
    codec::insert_property(&mut props, CHECK_TIMES, &checks.to_string());
    codec::insert_property(&mut props, property::WAIT, "false");
    let body = check_body(
        &half,
        append.logics_offset,
        append.wrote_offset,
        &codec::properties_string_java_order(&props),
    );
    let ask = RemotingCommand::request_with_header(request::CHECK_TRANSACTION_STATE, &header).with_body(body);
    debug!(
        group,
        offset = append.logics_offset,
        checks,
        "asking a producer for a transaction's state"
    );
    if let Err(e) = producer.oneway(ask).await {
        warn!(group, error = %e, "sending a transaction check failed");
    }
    true
}

/// A stored message as a new entry of the half queue `queue_id`: body, flag, sys flag,
/// born and store hosts, born timestamp and reconsume times kept, its properties with
/// TRANSACTION_CHECK_TIMES set to `checks` (their text rebuilt in Java's map order).
fn copy_to_half_queue(m: &DecodedMessage, queue_id: i32, checks: i32) -> MessageToStore {
    let mut props = m.properties.clone();
    codec::insert_property(&mut props, CHECK_TIMES, &checks.to_string());
    half_copy(m, queue_id, props)
}

/// A stored message with the properties `props` as a new half queue entry (their text
/// written in Java's map order); body, flag, sys flag, hosts, born time and reconsume
/// times kept.
fn half_copy(m: &DecodedMessage, queue_id: i32, props: Vec<(String, String)>) -> MessageToStore {
    let mut copy = MessageToStore::new(HALF_TOPIC, queue_id, m.body.clone(), props.clone());
    copy.properties_string = Some(codec::properties_string_java_order(&props));
    copy.properties.retain(|(k, _)| k != property::DELAY);
    copy.flag = m.flag;
    copy.sys_flag = m.sys_flag & !(sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6);
    copy.born_timestamp = m.born_timestamp;
    copy.born_host = m.born_host;
    copy.store_host = m.store_host;
    copy.reconsume_times = m.reconsume_times;
    copy.wait_store_msg_ok = false;
    copy
}

/// Why RESUME_CHECK_HALF_MESSAGE failed, with Java 4.9.8's remarks.
#[derive(Debug, PartialEq, Eq)]
pub enum ResumeError {
    /// No msgId, one that is not an offset id, or no message at its offset (Java: an
    /// exception while decoding or reading).
    NotFound,
    /// The store refused the put.
    Store(PutMessageStatus),
}

impl ResumeError {
    pub fn remark(&self) -> &'static str {
        match self {
            ResumeError::NotFound => "Exception was thrown when putting message back to RMQ_SYS_TRANS_HALF_TOPIC.",
            ResumeError::Store(_) => "Put message back to RMQ_SYS_TRANS_HALF_TOPIC failed.",
        }
    }
}

/// RESUME_CHECK_HALF_MESSAGE (323), as Java 4.9.8's AdminBrokerProcessor does it: the
/// message an offset msgId names (whatever its topic: the half message itself, a copy the
/// check service put back, or the one parked in TRANS_CHECK_MAX_TIME_TOPIC) is put at the
/// end of half queue 0 with TRANSACTION_CHECK_TIMES 0, so the check service asks its
/// producer group again, up to `transactionCheckMax` more times. Its born timestamp is
/// kept, so a message older than the transaction timeout is checked in the next round.
pub async fn resume_check(state: &BrokerState, msg_id: Option<&str>) -> Result<i64, ResumeError> {
    let (_, offset) = msg_id
        .and_then(codec::decode_offset_msg_id)
        .ok_or(ResumeError::NotFound)?;
    let (_, m) = state
        .store
        .message_by_commitlog_offset(offset)
        .ok_or(ResumeError::NotFound)?;
    let copy = copy_to_half_queue(&m, 0, 0);
    let result = state.store.put_message_async(&copy).await;
    let stored = result.is_ok();
    match result.append.filter(|_| stored) {
        Some(append) => {
            info!(
                real_topic = m.property(property::REAL_TOPIC).unwrap_or_default(),
                half_offset = append.logics_offset,
                "Put message back to {HALF_TOPIC} for its transaction to be checked again"
            );
            Ok(append.logics_offset)
        }
        None => Err(ResumeError::Store(result.status)),
    }
}

/// The message a check carries: the half message encoded as stored, but in its real
/// topic and queue (as Java's `sendCheckMessage` sends it).
fn check_body(m: &DecodedMessage, queue_offset: i64, commit_log_offset: i64, properties: &str) -> Vec<u8> {
    let topic = m.property(property::REAL_TOPIC).unwrap_or(&m.topic).to_string();
    let queue_id = m
        .property(property::REAL_QUEUE_ID)
        .and_then(|v| v.parse().ok())
        .unwrap_or(m.queue_id);
    let mut out = Vec::new();
    let born: SocketAddr = m.born_host;
    let stored: SocketAddr = m.store_host;
    codec::encode_message(
        &mut out,
        &EncodeFields {
            body_crc: m.body_crc,
            queue_id,
            flag: m.flag,
            queue_offset,
            physical_offset: commit_log_offset,
            sys_flag: m.sys_flag,
            born_timestamp: m.born_timestamp,
            born_host: &born,
            store_timestamp: m.store_timestamp,
            store_host: &stored,
            reconsume_times: m.reconsume_times,
            prepared_transaction_offset: m.prepared_transaction_offset,
            body: &m.body,
            topic: topic.as_bytes(),
            properties: &[properties.as_bytes()],
        },
    );
    out
}

/// A half message checked too often: kept in TRANS_CHECK_MAX_TIME_TOPIC, no longer checked.
async fn discard(state: &BrokerState, half: &DecodedMessage) {
    state
        .topics
        .create_if_absent(CHECK_MAX_TIME_TOPIC, 1, perm::READ | perm::WRITE, 0);
    let mut msg = MessageToStore::new(CHECK_MAX_TIME_TOPIC, 0, half.body.clone(), half.properties.clone());
    msg.properties_string = Some(half.properties_string.clone());
    msg.properties.retain(|(k, _)| k != property::DELAY);
    msg.flag = half.flag;
    msg.sys_flag = half.sys_flag & !(sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6);
    msg.born_timestamp = half.born_timestamp;
    msg.born_host = half.born_host;
    msg.store_host = half.store_host;
    msg.reconsume_times = half.reconsume_times;
    msg.wait_store_msg_ok = false;
    let result = state.store.put_message_async(&msg).await;
    info!(
        offset = half.queue_offset,
        ok = result.is_ok(),
        "half message checked transactionCheckMax times; moved to {CHECK_MAX_TIME_TOPIC}"
    );
}
