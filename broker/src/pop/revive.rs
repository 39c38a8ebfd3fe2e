//! The revive service: reads each queue of the revive topic in order, pairs checkpoints
//! with their acks, and once a checkpoint's invisible time (plus a second's grace for acks
//! in flight) is over puts every message of it that was not acked into the group's pop
//! retry topic. How far a revive queue was handled is the REVIVE_GROUP offset of that
//! queue: the revive-topic offset of the oldest checkpoint still waiting, so after a crash
//! the checkpoints and acks after it are read again and nothing un-acked is forgotten.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use store::codec::property;
use store::MessageToStore;
use tracing::{debug, warn};

use super::records::{AckMsg, PopCheckPoint, ACK_TAG, BATCH_ACK_TAG, CK_TAG};
use super::{ACK_TIME_INTERVAL, PROPERTY_FIRST_POP_TIME, RETRY_GROUP_TOPIC_PREFIX, RETRY_QUEUE_NUM, REVIVE_GROUP};
use crate::BrokerState;

fn now_millis() -> i64 {
    remoting::protocol::topic::now_millis()
}

/// Appends a record (checkpoint or ack) to a revive queue.
pub async fn put_record(state: &BrokerState, revive_qid: i32, tag: &str, unique_id: String, body: Vec<u8>) -> bool {
    ensure_revive_topic(state);
    let mut msg = MessageToStore::new(
        &state.pop.revive_topic,
        revive_qid,
        body,
        vec![
            (property::TAGS.to_string(), tag.to_string()),
            (property::UNIQ_KEY.to_string(), unique_id),
        ],
    );
    msg.born_timestamp = now_millis();
    msg.born_host = state.store_addr;
    msg.store_host = state.store_addr;
    let result = state.store.put_message_async(&msg).await;
    if !result.is_ok() {
        warn!(status = ?result.status, tag, "writing a POP record to the revive topic failed");
    }
    result.is_ok()
}

pub async fn put_checkpoint(state: &BrokerState, revive_qid: i32, ck: &PopCheckPoint) -> bool {
    let body = serde_json::to_vec(ck).unwrap_or_default();
    put_record(state, revive_qid, CK_TAG, ck.unique_id(), body).await
}

pub async fn put_ack(state: &BrokerState, revive_qid: i32, ack: &AckMsg) -> bool {
    let body = serde_json::to_vec(ack).unwrap_or_default();
    let tag = if ack.ack_offset_list.is_some() {
        BATCH_ACK_TAG
    } else {
        ACK_TAG
    };
    put_record(state, revive_qid, tag, ack.unique_id(), body).await
}

/// Creates a pop retry topic the first time a message goes to it, with the group's offset
/// on it at 0.
pub fn ensure_retry_topic(state: &BrokerState, retry_topic: &str, group: &str) {
    if state.topics.select(retry_topic).is_some() {
        return;
    }
    state.topics.create_if_absent(retry_topic, RETRY_QUEUE_NUM, 6, 0);
    if state.offsets.query(group, retry_topic, 0) < 0 {
        state.offsets.commit(group, retry_topic, 0, 0);
    }
}

/// The revive topic, created with the first POP record (Java creates it at start-up; here a
/// broker nobody pops from keeps the topic list of a 4.x broker).
fn ensure_revive_topic(state: &BrokerState) {
    if state.topics.select(&state.pop.revive_topic).is_none() {
        let rw = remoting::protocol::route::perm::READ | remoting::protocol::route::perm::WRITE;
        state
            .topics
            .create_if_absent(&state.pop.revive_topic, state.pop.config.revive_queue_num, rw, 0);
    }
}

struct ReviveQueue {
    qid: i32,
    read_pos: Option<i64>,
    pending: HashMap<String, PopCheckPoint>,
}

pub async fn run(state: Arc<BrokerState>) {
    let queues = state.pop.config.revive_queue_num;
    let topic = state.pop.revive_topic.clone();
    state.topics.create_if_absent(
        &topic,
        queues,
        remoting::protocol::route::perm::READ | remoting::protocol::route::perm::WRITE,
        0,
    );
    let mut revive: Vec<ReviveQueue> = (0..queues)
        .map(|qid| ReviveQueue {
            qid,
            read_pos: None,
            pending: HashMap::new(),
        })
        .collect();
    let mut ticker = tokio::time::interval(Duration::from_millis(state.pop.config.revive_interval));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for q in revive.iter_mut() {
            q.round(&state).await;
        }
        state.pop.order_info.persist_if_changed();
    }
}

impl ReviveQueue {
    async fn round(&mut self, state: &BrokerState) {
        let topic = state.pop.revive_topic.clone();
        if state.topics.select(&topic).is_none() {
            // Nobody popped yet: no revive offsets either.
            return;
        }
        let broker_name = state.config.broker_name.clone();
        let mut pos = match self.read_pos {
            Some(p) => p,
            None => {
                let committed = state.offsets.query(REVIVE_GROUP, &topic, self.qid);
                committed.max(state.store.min_offset_in_queue(&topic, self.qid))
            }
        };
        // Read everything written so far.
        loop {
            let got = state.store.get_messages(&topic, self.qid, pos, 32, 0, None);
            if got.messages.is_empty() {
                if got.next_begin_offset > pos {
                    pos = got.next_begin_offset;
                    continue;
                }
                break;
            }
            for stored in &got.messages {
                pos = stored.queue_offset + 1;
                let Ok(msg) = store::decode_message(&stored.bytes) else {
                    continue;
                };
                match msg.tags() {
                    Some(CK_TAG) => match serde_json::from_slice::<PopCheckPoint>(&msg.body) {
                        Ok(mut ck) => {
                            ck.revive_offset = stored.queue_offset;
                            self.pending.insert(ck.merge_key(&broker_name), ck);
                        }
                        Err(e) => warn!(qid = self.qid, "unreadable checkpoint: {e}"),
                    },
                    Some(ACK_TAG) | Some(BATCH_ACK_TAG) => match serde_json::from_slice::<AckMsg>(&msg.body) {
                        Ok(ack) => {
                            if let Some(ck) = self.pending.get_mut(&ack.merge_key(&broker_name)) {
                                for offset in ack.offsets() {
                                    if let Some(i) = ck.index_of_ack(offset) {
                                        ck.bit_map |= 1 << i;
                                    }
                                }
                            }
                        }
                        Err(e) => warn!(qid = self.qid, "unreadable ack: {e}"),
                    },
                    _ => {}
                }
            }
        }
        self.read_pos = Some(pos);

        // Done checkpoints go; due ones are revived.
        let now = now_millis();
        self.pending.retain(|_, ck| !ck.all_acked());
        let mut due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, ck)| now >= ck.revive_time() + ACK_TIME_INTERVAL)
            .map(|(k, _)| k.clone())
            .collect();
        due.sort_by_key(|k| self.pending[k].revive_offset);
        let mut revived_any = false;
        for key in due {
            let ck = self.pending[&key].clone();
            if revive_checkpoint(state, &ck).await {
                self.pending.remove(&key);
                revived_any = true;
            } else {
                break;
            }
        }
        let commit = self.pending.values().map(|ck| ck.revive_offset).min().unwrap_or(pos);
        let before = state.offsets.query(REVIVE_GROUP, &topic, self.qid);
        if commit != before {
            state.offsets.commit(REVIVE_GROUP, &topic, self.qid, commit);
            if revived_any {
                // What was put back must not be put back again after a crash.
                state.offsets.persist();
            }
        }
    }
}

/// Puts the un-acked messages of `ck` into the retry topic; false when the store refused
/// one (the checkpoint is tried again next round).
async fn revive_checkpoint(state: &BrokerState, ck: &PopCheckPoint) -> bool {
    // As Java: a checkpoint of a topic or group that is gone is dropped.
    let normal_topic = normal_topic(&ck.topic, &ck.cid);
    if state.topics.select(&normal_topic).is_none() || state.groups.find(&ck.cid).is_none() {
        warn!(topic = %ck.topic, group = %ck.cid, "dropping a checkpoint of a topic or group that no longer exists");
        return true;
    }
    let retry_topic = if ck.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        ck.topic.clone()
    } else {
        state.pop.config.retry_topic(&ck.topic, &ck.cid)
    };
    for i in 0..ck.num.max(0) as usize {
        if ck.is_acked(i) {
            continue;
        }
        let offset = ck.offset_at(i);
        let got = state.store.get_messages(&ck.topic, ck.queue_id, offset, 1, 0, None);
        let Some(stored) = got.messages.first().filter(|m| m.queue_offset == offset) else {
            // Gone from the store (expired or deleted): nothing to revive.
            debug!(topic = %ck.topic, queue = ck.queue_id, offset, "popped message no longer in the store");
            continue;
        };
        let Ok(msg) = store::decode_message(&stored.bytes) else {
            continue;
        };
        let mut properties = msg.properties.clone();
        if msg.reconsume_times == 0 || msg.property(PROPERTY_FIRST_POP_TIME).is_none() {
            store::codec::insert_property(&mut properties, PROPERTY_FIRST_POP_TIME, &ck.pop_time.to_string());
        }
        let mut retry = MessageToStore::new(&retry_topic, 0, msg.body.clone(), properties);
        retry.flag = msg.flag;
        retry.sys_flag = msg.sys_flag & !(store::codec::sys_flag::BORN_HOST_V6 | store::codec::sys_flag::STORE_HOST_V6);
        retry.born_timestamp = msg.born_timestamp;
        retry.born_host = state.store_addr;
        retry.store_host = state.store_addr;
        retry.reconsume_times = msg.reconsume_times + 1;
        ensure_retry_topic(state, &retry_topic, &ck.cid);
        let result = state.store.put_message_async(&retry).await;
        if !result.is_ok() {
            warn!(status = ?result.status, topic = %retry_topic, "reviving a popped message failed; trying again later");
            return false;
        }
        debug!(topic = %ck.topic, queue = ck.queue_id, offset, retry = %retry_topic, "revived");
    }
    true
}

/// The topic a pop retry topic is for (`%RETRY%<group>_<topic>` or `%RETRY%<group>+<topic>`).
pub fn normal_topic(topic: &str, group: &str) -> String {
    for sep in ['+', '_'] {
        let prefix = format!("{RETRY_GROUP_TOPIC_PREFIX}{group}{sep}");
        if let Some(rest) = topic.strip_prefix(&prefix) {
            return rest.to_string();
        }
    }
    topic.to_string()
}

#[cfg(test)]
mod tests {
    use super::normal_topic;

    #[test]
    fn retry_topics_name_their_topic() {
        assert_eq!(normal_topic("%RETRY%g_t_x", "g"), "t_x");
        assert_eq!(normal_topic("%RETRY%g+t", "g"), "t");
        assert_eq!(normal_topic("t", "g"), "t");
    }
}
