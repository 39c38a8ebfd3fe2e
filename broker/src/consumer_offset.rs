//! Committed consumer offsets, `topic@group` → queue → offset, persisted to
//! `config/consumerOffset.json` periodically and at shutdown.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use store::config_files::{self, ConsumerOffsets};
use tracing::warn;

pub struct ConsumerOffsetManager {
    store_root: PathBuf,
    table: RwLock<ConsumerOffsets>,
}

fn key(topic: &str, group: &str) -> String {
    format!("{topic}@{group}")
}

impl ConsumerOffsetManager {
    pub fn load(store_root: &Path) -> std::io::Result<Self> {
        Ok(ConsumerOffsetManager {
            store_root: store_root.to_path_buf(),
            table: RwLock::new(config_files::load_consumer_offsets(store_root)?),
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
        let snapshot = self.table.read().unwrap().clone();
        if let Err(e) = config_files::save_consumer_offsets(&self.store_root, &snapshot) {
            warn!(error = %e, "persisting consumerOffset.json failed");
        }
    }
}
