//! Our extension, off by default: de-duplicated producer retries
//! (`duplicateSendCheckEnable=true`).
//!
//! A producer whose send timed out sends the same message again with the same unique key
//! (`UNIQ_KEY`), and a RocketMQ broker stores it twice. With this on, a send whose unique
//! key was stored on this broker for the same topic within
//! `duplicateSendCheckWindowSeconds` (120) is answered with the first send's result (same
//! offsetMsgId, queue and queue offset) and not stored again. A batch is checked message
//! by message: the duplicates are dropped from it, and a batch made only of duplicates is
//! answered with the first batch's result.
//!
//! Memory: one entry per key seen in the window, about 80 bytes (a 128-bit hash of topic and
//! key, CommitLog offset, queue id, queue offset, time, plus the map's own overhead), at
//! most `duplicateSendCheckMaxKeys` (1,000,000, so about 80 MiB) of them; past that the
//! oldest go first, which shortens the window under extreme rates. The table is rebuilt on
//! start from the CommitLog records of the last window.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a send's answer needs to repeat it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstSend {
    /// The offsetMsgId text (for a batch, the ids joined with ',').
    pub msg_id: String,
    pub queue_id: i32,
    pub queue_offset: i64,
}

struct Entry {
    first: FirstSend,
    stored_at: i64,
}

#[derive(Default)]
struct Table {
    entries: HashMap<u128, Entry>,
    /// Keys in the order they were stored, for expiry.
    order: VecDeque<(i64, u128)>,
    /// Keys whose first send is being stored right now.
    pending: HashSet<u128>,
}

pub struct DuplicateSendCheck {
    window_ms: i64,
    max_keys: usize,
    table: Mutex<Table>,
}

/// Two independent 64-bit hashes of topic and key: collisions are out of reach.
fn key_hash(topic: &str, uniq: &str) -> u128 {
    let mut a = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().build_hasher();
    a.write(topic.as_bytes());
    a.write_u8(0xff);
    a.write(uniq.as_bytes());
    // FNV-1a, independent of SipHash.
    let mut b: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in topic.bytes().chain(std::iter::once(0xff)).chain(uniq.bytes()) {
        b ^= byte as u64;
        b = b.wrapping_mul(0x0100_0000_01b3);
    }
    ((a.finish() as u128) << 64) | b as u128
}

/// What `begin` found.
pub enum Seen {
    /// Stored before within the window: answer with this.
    Duplicate(FirstSend),
    /// New: store it, then call `stored` (or `abandon` if storing failed).
    New(u128),
}

impl DuplicateSendCheck {
    pub fn new(window: Duration, max_keys: usize) -> Self {
        DuplicateSendCheck {
            window_ms: window.as_millis() as i64,
            max_keys: max_keys.max(1),
            table: Mutex::new(Table::default()),
        }
    }

    /// Looks a key up; a key whose first send is still being stored is waited for (up to
    /// `wait`), so a retry racing its original is still caught.
    pub async fn begin(&self, topic: &str, uniq: &str, now: i64, wait: Duration) -> Seen {
        let key = key_hash(topic, uniq);
        let deadline = Instant::now() + wait;
        loop {
            {
                let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
                self.expire(&mut t, now);
                if let Some(e) = t.entries.get(&key) {
                    return Seen::Duplicate(e.first.clone());
                }
                if !t.pending.contains(&key) || Instant::now() >= deadline {
                    t.pending.insert(key);
                    return Seen::New(key);
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Records the result of a new send.
    pub fn stored(&self, key: u128, first: FirstSend, now: i64) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.pending.remove(&key);
        Self::insert(&mut t, key, first, now, self.max_keys);
    }

    /// Forgets a pending key whose send failed (a retry may store it).
    pub fn abandon(&self, key: u128) {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .remove(&key);
    }

    /// Adds an entry found in the CommitLog at start-up.
    pub fn remember(&self, topic: &str, uniq: &str, first: FirstSend, stored_at: i64) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let key = key_hash(topic, uniq);
        if !t.entries.contains_key(&key) {
            Self::insert(&mut t, key, first, stored_at, self.max_keys);
        }
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(t: &mut Table, key: u128, first: FirstSend, now: i64, max_keys: usize) {
        t.entries.insert(key, Entry { first, stored_at: now });
        t.order.push_back((now, key));
        while t.entries.len() > max_keys {
            let Some((_, old)) = t.order.pop_front() else { break };
            t.entries.remove(&old);
        }
    }

    fn expire(&self, t: &mut Table, now: i64) {
        while let Some(&(at, key)) = t.order.front() {
            if now - at <= self.window_ms {
                break;
            }
            t.order.pop_front();
            // A key stored again later has a newer entry: keep that one.
            if t.entries.get(&key).is_some_and(|e| e.stored_at == at) {
                t.entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(o: i64) -> FirstSend {
        FirstSend {
            msg_id: format!("id{o}"),
            queue_id: 1,
            queue_offset: o,
        }
    }

    #[tokio::test]
    async fn a_key_is_a_duplicate_within_the_window_only() {
        let d = DuplicateSendCheck::new(Duration::from_secs(10), 100);
        let Seen::New(k) = d.begin("T", "U1", 1_000, Duration::ZERO).await else {
            panic!()
        };
        d.stored(k, first(5), 1_000);
        assert!(matches!(d.begin("T", "U1", 5_000, Duration::ZERO).await, Seen::Duplicate(f) if f == first(5)));
        // Another topic is another message.
        assert!(matches!(d.begin("T2", "U1", 5_000, Duration::ZERO).await, Seen::New(_)));
        // Past the window it is new again.
        assert!(matches!(d.begin("T", "U1", 12_000, Duration::ZERO).await, Seen::New(_)));
    }

    #[tokio::test]
    async fn the_table_is_bounded() {
        let d = DuplicateSendCheck::new(Duration::from_secs(100), 3);
        for i in 0..5 {
            let Seen::New(k) = d.begin("T", &format!("U{i}"), 1_000, Duration::ZERO).await else {
                panic!()
            };
            d.stored(k, first(i), 1_000);
        }
        assert_eq!(d.len(), 3);
        assert!(matches!(d.begin("T", "U0", 1_000, Duration::ZERO).await, Seen::New(_)));
        assert!(matches!(
            d.begin("T", "U4", 1_000, Duration::ZERO).await,
            Seen::Duplicate(_)
        ));
    }
}
