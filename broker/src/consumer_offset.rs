//! Committed consumer offsets, `topic@group` → queue → offset, persisted to
//! `config/consumerOffset.json` periodically and at shutdown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use store::config_files::{self, ConsumerOffsets};
use tracing::warn;

use crate::stats::{with_key, Part};

pub struct ConsumerOffsetManager {
    store_root: PathBuf,
    table: RwLock<ConsumerOffsets>,
    /// `topic@group` -> queue -> the next offset the group's last pull asked for (Java 5's
    /// pull offsets; in-flight = pulled - committed). Not persisted.
    pulled: std::sync::Mutex<std::collections::HashMap<String, std::collections::HashMap<i32, i64>>>,
    persisting: std::sync::Mutex<()>,
}

fn key(topic: &str, group: &str) -> String {
    format!("{topic}@{group}")
}

impl ConsumerOffsetManager {
    pub fn load(store_root: &Path) -> std::io::Result<Self> {
        Ok(ConsumerOffsetManager {
            store_root: store_root.to_path_buf(),
            table: RwLock::new(config_files::load_consumer_offsets(store_root)?),
            pulled: Default::default(),
            persisting: Default::default(),
        })
    }

    pub fn commit(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        self.table
            .write()
            .unwrap()
            .entry(key(topic, group))
            .or_default()
            .insert(queue_id, offset);
    }

    /// Remembers where a pull of `group` on a queue got to.
    pub fn record_pull(&self, group: &str, topic: &str, queue_id: i32, next_offset: i64) {
        let mut pulled = self.pulled.lock().unwrap();
        // Every answered pull lands here: the key is built in a reused buffer, and a
        // String is allocated only for a new (topic, group).
        with_key(&[Part::S(topic), Part::S(group)], |k| match pulled.get_mut(k) {
            Some(queues) => {
                queues.insert(queue_id, next_offset);
            }
            None => {
                pulled.entry(k.to_string()).or_default().insert(queue_id, next_offset);
            }
        });
    }

    /// Where the group's pulls on a queue got to, if it pulled since start.
    pub fn pulled_offset(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.pulled
            .lock()
            .unwrap()
            .get(&key(topic, group))?
            .get(&queue_id)
            .copied()
    }

    /// Every `(topic, group)` with its committed offsets by queue.
    pub fn all(&self) -> Vec<(String, String, BTreeMap<i32, i64>)> {
        self.table
            .read()
            .unwrap()
            .iter()
            .filter_map(|(k, queues)| {
                let (topic, group) = k.split_once('@')?;
                Some((
                    topic.to_string(),
                    group.to_string(),
                    queues.iter().map(|(q, o)| (*q, *o)).collect(),
                ))
            })
            .collect()
    }

    /// The committed offset, or -1 when the group never committed one for this queue.
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> i64 {
        self.table
            .read()
            .unwrap()
            .get(&key(topic, group))
            .and_then(|queues| queues.get(&queue_id).copied())
            .unwrap_or(-1)
    }

    /// Every (group, topic) pair with offsets.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        self.table
            .read()
            .unwrap()
            .keys()
            .filter_map(|k| k.split_once('@'))
            .filter(|(t, _)| *t == topic)
            .map(|(_, g)| g.to_string())
            .collect()
    }

    /// Topics a group has offsets for (Java's `whichTopicByConsumer`).
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        let mut topics: Vec<String> = self
            .table
            .read()
            .unwrap()
            .keys()
            .filter_map(|k| k.split_once('@'))
            .filter(|(_, g)| *g == group)
            .map(|(t, _)| t.to_string())
            .collect();
        topics.sort();
        topics
    }

    /// Queue id -> offset of one group on one topic; `None` when it has none.
    pub fn queue_offsets(&self, group: &str, topic: &str) -> Option<BTreeMap<i32, i64>> {
        self.table
            .read()
            .unwrap()
            .get(&key(topic, group))
            .map(|queues| queues.iter().map(|(q, o)| (*q, *o)).collect())
    }

    /// Per queue, the smallest offset any group other than `filter_groups` (comma-separated)
    /// has on `topic` (Java's `queryMinOffsetInAllGroup`).
    pub fn min_offsets_in_all_groups(&self, topic: &str, filter_groups: Option<&str>) -> BTreeMap<i32, i64> {
        let excluded: Vec<&str> = filter_groups
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .collect();
        let mut min: BTreeMap<i32, i64> = BTreeMap::new();
        for (k, queues) in self.table.read().unwrap().iter() {
            let Some((t, g)) = k.split_once('@') else { continue };
            if t != topic || excluded.contains(&g) {
                continue;
            }
            for (q, o) in queues {
                min.entry(*q).and_modify(|m| *m = (*m).min(*o)).or_insert(*o);
            }
        }
        min
    }

    /// Copies `src`'s offsets on `topic` to `dest` (Java's `cloneOffset`).
    pub fn clone_offsets(&self, src: &str, dest: &str, topic: &str) {
        let mut table = self.table.write().unwrap();
        if let Some(queues) = table.get(&key(topic, src)).cloned() {
            table.insert(key(topic, dest), queues);
        }
    }

    /// The whole table as GET_ALL_CONSUMER_OFFSET sends it: `{"offsetTable":{...}}` with
    /// bare queue-id keys, as fastjson writes Integer keys.
    pub fn encode(&self) -> Vec<u8> {
        let table = self.table.read().unwrap();
        let sorted: BTreeMap<&String, BTreeMap<i64, i64>> = table
            .iter()
            .map(|(k, queues)| (k, queues.iter().map(|(q, o)| (*q as i64, *o)).collect()))
            .collect();
        remoting::fastjson::to_legacy_vec(&OffsetTableBody { offset_table: sorted })
    }

    /// A slave takes its master's offsets over its own, entry by entry (Java's putAll).
    pub fn put_all_from_master(&self, offsets: config_files::ConsumerOffsets) {
        self.table.write().unwrap().extend(offsets);
        self.persist();
    }

    pub fn remove_topic(&self, topic: &str) {
        self.table
            .write()
            .unwrap()
            .retain(|k, _| k.split_once('@').map(|(t, _)| t) != Some(topic));
    }

    pub fn remove_group(&self, group: &str) {
        self.table
            .write()
            .unwrap()
            .retain(|k, _| k.split_once('@').map(|(_, g)| g) != Some(group));
    }

    pub fn persist(&self) {
        // Snapshot and write under one lock, so a later snapshot is never overwritten by an
        // earlier one.
        let _one_at_a_time = self.persisting.lock().unwrap_or_else(|e| e.into_inner());
        let snapshot = self.table.read().unwrap().clone();
        if let Err(e) = config_files::save_consumer_offsets(&self.store_root, &snapshot) {
            warn!(error = %e, "persisting consumerOffset.json failed");
        }
    }
}

#[derive(serde::Serialize)]
struct OffsetTableBody<'a> {
    #[serde(rename = "offsetTable")]
    offset_table: BTreeMap<&'a String, BTreeMap<i64, i64>>,
}
