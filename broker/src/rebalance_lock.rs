//! Queue locks of orderly consumers (Java's `RebalanceLockManager`): per consumer group and
//! queue, held by one client id, renewed by every lock call of its holder, and free for
//! another client once not renewed for `rocketmq.broker.rebalance.lockMaxLiveTime`
//! (60 s). In memory only, as in Java: after a broker restart clients lock again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use remoting::protocol::lock::MessageQueue;
use tracing::{info, warn};

struct LockEntry {
    client_id: String,
    last_update: Instant,
}

pub struct RebalanceLockManager {
    max_live: Duration,
    /// group -> queue -> holder.
    table: Mutex<HashMap<String, HashMap<MessageQueue, LockEntry>>>,
}

impl RebalanceLockManager {
    pub fn new(max_live: Duration) -> Self {
        RebalanceLockManager {
            max_live,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Locks what it can of `mqs` for `client_id`; returns the queues the client holds
    /// afterwards (those free, expired or already its own), in request order.
    pub fn try_lock_batch(&self, group: &str, mqs: &[MessageQueue], client_id: &str) -> Vec<MessageQueue> {
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let locks = table.entry(group.to_string()).or_default();
        let mut locked = Vec::with_capacity(mqs.len());
        for mq in mqs {
            if locked.contains(mq) {
                continue; // a set in Java
            }
            match locks.get_mut(mq) {
                None => {
                    info!(group, client_id, ?mq, "queue lock taken");
                    locks.insert(
                        mq.clone(),
                        LockEntry {
                            client_id: client_id.to_string(),
                            last_update: now,
                        },
                    );
                    locked.push(mq.clone());
                }
                Some(entry) if entry.client_id == client_id && now - entry.last_update <= self.max_live => {
                    entry.last_update = now;
                    locked.push(mq.clone());
                }
                Some(entry) if now - entry.last_update > self.max_live => {
                    warn!(group, old = %entry.client_id, new = client_id, ?mq, "queue lock expired; taken over");
                    entry.client_id = client_id.to_string();
                    entry.last_update = now;
                    locked.push(mq.clone());
                }
                Some(entry) => {
                    warn!(group, holder = %entry.client_id, client_id, ?mq, "queue locked by another client");
                }
            }
        }
        locked
    }

    /// Releases the queues of `mqs` that `client_id` holds; others' locks stay.
    pub fn unlock_batch(&self, group: &str, mqs: &[MessageQueue], client_id: &str) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let Some(locks) = table.get_mut(group) else {
            warn!(group, client_id, "unlock for a group that holds no locks");
            return;
        };
        for mq in mqs {
            match locks.get(mq) {
                Some(entry) if entry.client_id == client_id => {
                    locks.remove(mq);
                    info!(group, client_id, ?mq, "queue lock released");
                }
                Some(entry) => {
                    warn!(group, holder = %entry.client_id, client_id, ?mq, "unlock of a queue locked by another client ignored");
                }
                None => warn!(group, client_id, ?mq, "unlock of a queue that is not locked"),
            }
        }
    }

    /// Whether `client_id` holds an unexpired lock on `mq` in `group`.
    pub fn is_locked_by(&self, group: &str, mq: &MessageQueue, client_id: &str) -> bool {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table
            .get(group)
            .and_then(|l| l.get(mq))
            .is_some_and(|e| e.client_id == client_id && e.last_update.elapsed() <= self.max_live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(q: i32) -> MessageQueue {
        MessageQueue {
            broker_name: "b".into(),
            queue_id: q,
            topic: "T".into(),
        }
    }

    #[test]
    fn locks_are_exclusive_renewed_and_expire() {
        let m = RebalanceLockManager::new(Duration::from_millis(200));
        assert_eq!(m.try_lock_batch("g", &[mq(0), mq(1)], "c1"), [mq(0), mq(1)]);
        // Another client gets only what is free.
        assert_eq!(m.try_lock_batch("g", &[mq(1), mq(2)], "c2"), [mq(2)]);
        // Another group is independent.
        assert_eq!(m.try_lock_batch("g2", &[mq(1)], "c2"), [mq(1)]);
        // c2 cannot unlock c1's queue.
        m.unlock_batch("g", &[mq(1)], "c2");
        assert!(m.is_locked_by("g", &mq(1), "c1"));
        // Renewed by its holder, taken over once expired.
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(m.try_lock_batch("g", &[mq(0)], "c1"), [mq(0)]);
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(m.try_lock_batch("g", &[mq(0), mq(1)], "c2"), [mq(1)]);
        // Released by its holder, free for others at once.
        m.unlock_batch("g", &[mq(0)], "c1");
        assert_eq!(m.try_lock_batch("g", &[mq(0)], "c2"), [mq(0)]);
    }
}
