//! POP consumption (RocketMQ 5.x): the broker hands out messages with an invisible time,
//! records a checkpoint for each popped batch in the revive topic, and puts every message
//! that is not acked in time into the group's pop retry topic. See docs/pop.md.

pub mod extra_info;
pub mod order_info;
pub mod records;
pub mod request_mode;
pub mod revive;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use tokio::sync::Notify;

/// Revive queue id of ordered pops: they write no checkpoint.
pub const POP_ORDER_REVIVE_QUEUE: i32 = 999;
/// The group whose offsets on the revive topic say how far each revive queue was processed.
pub const REVIVE_GROUP: &str = "CID_RMQ_SYS_REVIVE_GROUP";
/// A checkpoint is revived this long after its invisible time ends, so acks sent just
/// before then still count (Java's PopAckConstants.ackTimeInterval).
pub const ACK_TIME_INTERVAL: i64 = 1000;
/// Queues of a pop retry topic (PopAckConstants.retryQueueNum).
pub const RETRY_QUEUE_NUM: i32 = 1;
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";

pub const PROPERTY_POP_CK: &str = "POP_CK";
pub const PROPERTY_FIRST_POP_TIME: &str = "1ST_POP_TIME";

/// The FAQ pointer of 5.x remarks (4.x's `faq()` names an older page).
pub fn faq() -> &'static str {
    "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details."
}

pub fn revive_topic(cluster: &str) -> String {
    format!("rmq_sys_REVIVE_LOG_{cluster}")
}

pub fn retry_topic_v1(topic: &str, group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}_{topic}")
}

pub fn retry_topic_v2(topic: &str, group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}+{topic}")
}

pub fn is_retry_topic_v2(topic: &str) -> bool {
    topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) && topic.contains('+')
}

/// "0" for a normal topic, "1" for a retry topic, "2" for a `+` retry topic.
pub fn retry_flag(topic: &str) -> &'static str {
    if is_retry_topic_v2(topic) {
        "2"
    } else if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        "1"
    } else {
        "0"
    }
}

/// The broker settings of POP, read by Java's key names.
#[derive(Debug, Clone)]
pub struct PopConfig {
    pub revive_queue_num: i32,
    pub revive_interval: u64,
    pub pop_polling_size: usize,
    pub max_pop_polling_size: usize,
    pub pop_from_retry_probability: i32,
    pub enable_retry_topic_v2: bool,
    pub retrieve_message_from_pop_retry_topic_v1: bool,
    pub default_message_request_mode: String,
    pub default_pop_share_queue_num: i32,
    pub server_load_balancer_enable: bool,
}

impl PopConfig {
    pub fn from_raw(raw: &std::collections::HashMap<String, String>) -> PopConfig {
        fn get<T: std::str::FromStr>(raw: &std::collections::HashMap<String, String>, key: &str, default: T) -> T {
            match raw.get(key).map(|v| v.trim().parse()) {
                Some(Ok(v)) => v,
                Some(Err(_)) => {
                    tracing::warn!(key, "unreadable value; the default is used");
                    default
                }
                None => default,
            }
        }
        PopConfig {
            revive_queue_num: get::<i32>(raw, "reviveQueueNum", 8).max(1),
            revive_interval: get(raw, "reviveInterval", 1000u64).max(10),
            pop_polling_size: get(raw, "popPollingSize", 1024),
            max_pop_polling_size: get(raw, "maxPopPollingSize", 100_000),
            pop_from_retry_probability: get(raw, "popFromRetryProbability", 20),
            enable_retry_topic_v2: get(raw, "enableRetryTopicV2", false),
            retrieve_message_from_pop_retry_topic_v1: get(raw, "retrieveMessageFromPopRetryTopicV1", true),
            default_message_request_mode: get(raw, "defaultMessageRequestMode", "PULL".to_string()),
            default_pop_share_queue_num: get(raw, "defaultPopShareQueueNum", -1),
            server_load_balancer_enable: get(raw, "serverLoadBalancerEnable", true),
        }
    }

    pub fn retry_topic(&self, topic: &str, group: &str) -> String {
        if self.enable_retry_topic_v2 {
            retry_topic_v2(topic, group)
        } else {
            retry_topic_v1(topic, group)
        }
    }
}

/// What the POP processors share.
pub struct PopState {
    pub config: PopConfig,
    pub revive_topic: String,
    ck_counter: AtomicU64,
    queue_locks: Mutex<HashSet<String>>,
    pub order_info: order_info::ConsumerOrderInfoManager,
    pub request_modes: request_mode::MessageRequestModeManager,
    /// Waiting pops and notifications by `topic@group@queueId`.
    polling: Mutex<HashMap<String, usize>>,
    polling_total: AtomicU64,
    /// Wake-ups by topic: a message landing in any queue of a topic wakes its waiting pops.
    arrivals: DashMap<String, Arc<Notify>>,
}

/// Held while one pop reads a queue for a group (Java's QueueLockManager); dropped, it frees
/// the queue.
pub struct QueueLock<'a> {
    pop: &'a PopState,
    key: String,
}

impl Drop for QueueLock<'_> {
    fn drop(&mut self) {
        self.pop.queue_locks.lock().unwrap().remove(&self.key);
    }
}

/// A waiting pop, counted while it lives.
pub struct PollingTicket<'a> {
    pop: &'a PopState,
    key: String,
}

impl Drop for PollingTicket<'_> {
    fn drop(&mut self) {
        let mut polling = self.pop.polling.lock().unwrap();
        if let Some(n) = polling.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                polling.remove(&self.key);
            }
        }
        self.pop.polling_total.fetch_sub(1, Ordering::Relaxed);
    }
}

pub fn polling_key(topic: &str, group: &str, queue_id: i32) -> String {
    format!("{topic}@{group}@{queue_id}")
}

impl PopState {
    pub fn load(store_root: &std::path::Path, config: PopConfig, cluster: &str) -> std::io::Result<PopState> {
        Ok(PopState {
            config,
            revive_topic: revive_topic(cluster),
            ck_counter: AtomicU64::new(0),
            queue_locks: Mutex::new(HashSet::new()),
            order_info: order_info::ConsumerOrderInfoManager::load(store_root)?,
            request_modes: request_mode::MessageRequestModeManager::load(store_root)?,
            polling: Mutex::new(HashMap::new()),
            polling_total: AtomicU64::new(0),
            arrivals: DashMap::new(),
        })
    }

    /// The revive queue of the next unordered pop (round robin).
    pub fn next_revive_qid(&self) -> i32 {
        (self.ck_counter.fetch_add(1, Ordering::Relaxed) % self.config.revive_queue_num as u64) as i32
    }

    pub fn try_lock(&self, topic: &str, group: &str, queue_id: i32) -> Option<QueueLock<'_>> {
        let key = format!("{topic}@{group}@{queue_id}");
        let taken = self.queue_locks.lock().unwrap().insert(key.clone());
        // Built only when taken: dropping one releases the queue.
        taken.then(|| QueueLock { pop: self, key })
    }

    /// Waits for the queue lock (acks and invisible-time changes of ordered pops).
    pub async fn lock(&self, topic: &str, group: &str, queue_id: i32) -> QueueLock<'_> {
        loop {
            if let Some(l) = self.try_lock(topic, group, queue_id) {
                return l;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Registers a waiting pop; None when the queue or the broker has too many waiting.
    pub fn start_polling(&self, key: &str) -> Option<PollingTicket<'_>> {
        if self.polling_total.load(Ordering::Relaxed) as usize >= self.config.max_pop_polling_size {
            return None;
        }
        let mut polling = self.polling.lock().unwrap();
        let n = polling.entry(key.to_string()).or_insert(0);
        if *n > self.config.pop_polling_size {
            return None;
        }
        *n += 1;
        self.polling_total.fetch_add(1, Ordering::Relaxed);
        Some(PollingTicket {
            pop: self,
            key: key.to_string(),
        })
    }

    pub fn polling_num(&self, key: &str) -> usize {
        self.polling.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    pub fn signal(&self, topic: &str) -> Arc<Notify> {
        if let Some(n) = self.arrivals.get(topic) {
            return n.clone();
        }
        self.arrivals.entry(topic.to_string()).or_default().clone()
    }

    /// A message landed in `topic` (or a queue of it was freed): wake the pops waiting on it.
    pub fn message_arrived(&self, topic: &str) {
        if let Some(n) = self.arrivals.get(topic) {
            n.notify_waiters();
        }
    }
}
