//! Topics deleted while their records are still in the CommitLog.
//!
//! Deleting a topic drops its ConsumeQueues, but its records stay in the CommitLog
//! until they age out. Recovery rebuilds missing ConsumeQueues from the CommitLog, so
//! without a record of the deletion a restart would bring the deleted messages back
//! (and mix them into a topic recreated under the same name). Each deletion is kept
//! as (topic, CommitLog offset at deletion) in `config/deletedTopics.json`, our own
//! file beside Java's (a Java broker ignores it); records of the topic below that
//! offset are never dispatched again. Entries go once retention passes their offset.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use crate::config_files;
use crate::fast_hash::FastMap;

pub const DELETED_TOPICS_JSON: &str = "deletedTopics.json";

pub(crate) struct DeletedTopics {
    path: PathBuf,
    /// Topic -> CommitLog offset at the time it was deleted.
    topics: RwLock<FastMap<String, i64>>,
    /// Whether `topics` is non-empty: the dispatcher's check costs one load otherwise.
    any: AtomicBool,
}

impl DeletedTopics {
    pub(crate) fn load(config_dir: PathBuf) -> DeletedTopics {
        let path = config_dir.join(DELETED_TOPICS_JSON);
        let mut topics = FastMap::default();
        match config_files::read_config(&path) {
            Ok(Some(serde_json::Value::Object(m))) => {
                for (t, v) in m {
                    if let Some(o) = v.as_i64() {
                        topics.insert(t, o);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(path = %path.display(), "cannot read deleted topics: {e}"),
        }
        DeletedTopics {
            path,
            any: AtomicBool::new(!topics.is_empty()),
            topics: RwLock::new(topics),
        }
    }

    /// Whether the record of `topic` at `commit_log_offset` belongs to a deleted topic.
    pub(crate) fn covers(&self, topic: &str, commit_log_offset: i64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let t = self.topics.read().unwrap_or_else(|e| e.into_inner());
        t.get(topic).is_some_and(|&upto| commit_log_offset < upto)
    }

    /// Records that `topics` were deleted when the CommitLog ended at `offset`.
    pub(crate) fn add(&self, topics: &[&str], offset: i64) {
        let mut t = self.topics.write().unwrap_or_else(|e| e.into_inner());
        for topic in topics {
            t.insert(topic.to_string(), offset);
        }
        self.any.store(!t.is_empty(), Ordering::Release);
        self.persist(&t);
    }

    /// Forgets deletions whose records are all gone from the CommitLog.
    pub(crate) fn prune(&self, min_commit_log_offset: i64) {
        let mut t = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let before = t.len();
        t.retain(|_, upto| *upto > min_commit_log_offset);
        if t.len() != before {
            self.any.store(!t.is_empty(), Ordering::Release);
            self.persist(&t);
        }
    }

    fn persist(&self, t: &FastMap<String, i64>) {
        let map: serde_json::Map<String, serde_json::Value> = t
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(*v)))
            .collect();
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(map)).unwrap_or_default();
        if let Err(e) = config_files::persist(&self.path, &text) {
            tracing::error!(path = %self.path.display(), "cannot save deleted topics: {e}");
        }
    }
}
