//! Topic configuration: the system topics Java creates at start, `config/topics.json`, and
//! auto-creation from TBW102 on first send.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use remoting::protocol::route::perm;
use remoting::protocol::topic::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};
use serde_json::Value;
use store::config_files;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::config::BrokerConfig;

/// The topic whose settings auto-created topics inherit.
pub use remoting::protocol::topic::AUTO_CREATE_TOPIC_KEY;
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";

/// Topics clients may not send to directly (TBW102 and the cluster/broker-name topics are
/// sendable, as in Java).
pub fn is_send_forbidden(topic: &str) -> bool {
    matches!(
        topic,
        SCHEDULE_TOPIC
            | TRANS_HALF_TOPIC
            | "RMQ_SYS_TRANS_OP_HALF_TOPIC"
            | "TRANS_CHECK_MAX_TIME_TOPIC"
            | SELF_TEST_TOPIC
            | OFFSET_MOVED_EVENT
    )
}

/// Java's system topic set (TopicValidator): the fixed names, the `rmq_sys_` prefix, and
/// the topics the broker adds when it starts (cluster and broker name topics, the reply
/// topic, the trace topic when enabled).
pub fn system_topics(config: &BrokerConfig) -> std::collections::BTreeSet<String> {
    let mut topics: std::collections::BTreeSet<String> = [
        SCHEDULE_TOPIC,
        TRANS_HALF_TOPIC,
        "RMQ_SYS_TRACE_TOPIC",
        "RMQ_SYS_TRANS_OP_HALF_TOPIC",
        BENCHMARK_TOPIC,
        "TRANS_CHECK_MAX_TIME_TOPIC",
        OFFSET_MOVED_EVENT,
        remoting::protocol::topic::AUTO_CREATE_TOPIC_KEY,
        SELF_TEST_TOPIC,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    topics.insert(config.broker_cluster_name.clone());
    topics.insert(config.broker_name.clone());
    topics.insert(format!("{}_REPLY_TOPIC", config.broker_cluster_name));
    if config.trace_topic_enable {
        topics.insert(config.msg_trace_topic_name.clone());
    }
    topics
}

pub fn is_system_topic(config: &BrokerConfig, topic: &str) -> bool {
    topic.starts_with("rmq_sys_") || system_topics(config).contains(topic)
}

/// Java's topic name rule: letters, digits, `%`, `|`, `-`, `_`, at most 127 characters.
pub fn validate_topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("The specified topic is blank.".into());
    }
    if topic.len() > 127 {
        return Err("The specified topic is longer than topic max length.".into());
    }
    if !topic
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '-' | '_'))
    {
        return Err("The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$".into());
    }
    Ok(())
}

/// Hashed, not ordered: every send and pull looks its topic up, and with thousands of
/// topics a tree walk compared a dozen names on cold cache lines each time. Sorted only
/// where it is written out.
type TopicTable = HashMap<String, TopicConfig, foldhash::fast::RandomState>;

struct Tables {
    data_version: DataVersion,
    topics: TopicTable,
}

pub struct TopicConfigManager {
    path: PathBuf,
    tables: RwLock<Tables>,
    /// Signalled whenever the topic set changes, so the broker re-registers at once.
    pub changed: Notify,
    /// Counts those changes (`changed` is only a wake-up).
    generation: std::sync::atomic::AtomicU64,
    /// The `generation` a name server last accepted a registration of.
    registered: tokio::sync::watch::Sender<u64>,
}

impl TopicConfigManager {
    /// The system topics, then whatever `config/topics.json` holds.
    pub fn load(store_root: &Path, config: &BrokerConfig) -> std::io::Result<Self> {
        let mut topics = TopicTable::default();
        let mut add = |name: &str, queues: i32, perm: i32| {
            topics.insert(name.to_string(), TopicConfig::new(name, queues, queues, perm));
        };
        let rw = perm::READ | perm::WRITE;
        add(SELF_TEST_TOPIC, 1, rw);
        if config.auto_create_topic_enable {
            add(
                AUTO_CREATE_TOPIC_KEY,
                config.default_topic_queue_nums,
                perm::INHERIT | rw,
            );
        }
        add(BENCHMARK_TOPIC, 1024, rw);
        let cluster_perm = if config.cluster_topic_enable {
            perm::INHERIT | rw
        } else {
            perm::INHERIT
        };
        add(&config.broker_cluster_name, 16, cluster_perm);
        let broker_perm = if config.broker_topic_enable {
            perm::INHERIT | rw
        } else {
            perm::INHERIT
        };
        add(&config.broker_name, 1, broker_perm);
        add(OFFSET_MOVED_EVENT, 1, rw);
        add(SCHEDULE_TOPIC, 18, rw);
        if config.trace_topic_enable {
            add(&config.msg_trace_topic_name, 1, rw);
        }
        add(&format!("{}_REPLY_TOPIC", config.broker_cluster_name), 1, rw);
        add(TRANS_HALF_TOPIC, 1, rw);

        let path = config_files::config_path(store_root, "topics.json");
        let mut data_version = DataVersion::now();
        if let Some(saved) = config_files::read_config(&path)? {
            match serde_json::from_value::<TopicConfigSerializeWrapper>(saved) {
                Ok(wrapper) => {
                    info!(topics = wrapper.topic_config_table.len(), "loaded topics.json");
                    topics.extend(wrapper.topic_config_table);
                    data_version = wrapper.data_version;
                }
                Err(e) => warn!(error = %e, "topics.json is unreadable, starting from the system topics"),
            }
        }
        Ok(TopicConfigManager {
            path,
            tables: RwLock::new(Tables { data_version, topics }),
            changed: Notify::new(),
            generation: Default::default(),
            registered: tokio::sync::watch::Sender::new(0),
        })
    }

    pub fn select(&self, topic: &str) -> Option<TopicConfig> {
        self.tables.read().unwrap().topics.get(topic).cloned()
    }

    /// What `read` takes from a topic's config, without copying the config (every send and
    /// pull asks).
    pub fn read<R>(&self, topic: &str, read: impl FnOnce(&TopicConfig) -> R) -> Option<R> {
        self.tables.read().unwrap().topics.get(topic).map(read)
    }

    pub fn data_version(&self) -> DataVersion {
        self.tables.read().unwrap().data_version.clone()
    }

    /// Everything, as sent to name servers and GET_ALL_TOPIC_CONFIG.
    pub fn wrapper(&self) -> TopicConfigSerializeWrapper {
        let t = self.tables.read().unwrap();
        TopicConfigSerializeWrapper {
            data_version: t.data_version.clone(),
            topic_config_table: t
                .topics
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
            ..Default::default()
        }
    }

    pub fn topic_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tables.read().unwrap().topics.keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Marks the table changed without changing a topic (the broker's permission changed,
    /// which every registration applies to all topics).
    pub fn bump_data_version(&self) {
        self.tables.write().unwrap().data_version.next_version();
    }

    /// Creates or replaces a topic (UPDATE_AND_CREATE_TOPIC).
    pub fn update(&self, config: TopicConfig) {
        {
            let mut t = self.tables.write().unwrap();
            t.topics.insert(config.topic_name.clone(), config);
            t.data_version.next_version();
        }
        self.persist_and_announce();
    }

    pub fn delete(&self, topic: &str) -> bool {
        let removed = {
            let mut t = self.tables.write().unwrap();
            let removed = t.topics.remove(topic).is_some();
            if removed {
                t.data_version.next_version();
            }
            removed
        };
        if removed {
            self.persist_and_announce();
        }
        removed
    }

    /// Auto-creates `topic` on first send from the settings of `default_topic` (TBW102),
    /// which must exist and carry the inherit bit.
    pub fn create_in_send(
        &self,
        topic: &str,
        default_topic: &str,
        client_queue_nums: i32,
        sys_flag: i32,
        auto_create_topic_enable: bool,
    ) -> Option<TopicConfig> {
        if let Some(existing) = self.select(topic) {
            return Some(existing);
        }
        let template = self.select(default_topic)?;
        // As Java: only a default topic with the INHERIT permission is a template, and
        // TBW102 never is while autoCreateTopicEnable is off.
        let inheritable =
            template.perm & perm::INHERIT != 0 && (default_topic != AUTO_CREATE_TOPIC_KEY || auto_create_topic_enable);
        if !inheritable {
            warn!(topic, default_topic, "the default topic cannot be inherited from");
            return None;
        }
        let queues = client_queue_nums.min(template.write_queue_nums).max(1);
        let mut created = TopicConfig::new(topic, queues, queues, template.perm & !perm::INHERIT);
        created.topic_sys_flag = sys_flag;
        created.topic_filter_type = template.topic_filter_type.clone();
        info!(topic, queues, "auto-created topic from {default_topic}");
        Some(self.insert_if_absent(created))
    }

    /// Creates a topic the broker itself needs (retry topics), if absent.
    pub fn create_if_absent(&self, topic: &str, queues: i32, perm: i32, sys_flag: i32) -> TopicConfig {
        if let Some(existing) = self.select(topic) {
            return existing;
        }
        let mut created = TopicConfig::new(topic, queues, queues, perm);
        created.topic_sys_flag = sys_flag;
        self.insert_if_absent(created)
    }

    fn insert_if_absent(&self, config: TopicConfig) -> TopicConfig {
        let (stored, inserted) = {
            let mut t = self.tables.write().unwrap();
            if let Some(existing) = t.topics.get(&config.topic_name) {
                (existing.clone(), false)
            } else {
                t.topics.insert(config.topic_name.clone(), config.clone());
                t.data_version.next_version();
                (config, true)
            }
        };
        if inserted {
            self.persist_and_announce();
        }
        stored
    }

    /// A slave takes its master's topics when their data version differs from its own
    /// (Java's SlaveSynchronize.syncTopicConfig). True when something was taken.
    pub fn replace_from_master(&self, wrapper: TopicConfigSerializeWrapper) -> bool {
        {
            let mut t = self.tables.write().unwrap();
            if t.data_version == wrapper.data_version {
                return false;
            }
            t.topics = wrapper.topic_config_table.into_iter().collect();
            t.data_version = wrapper.data_version;
        }
        self.persist_and_announce();
        true
    }

    fn persist_and_announce(&self) {
        if let Err(e) = self.persist() {
            warn!(error = %e, "persisting topics.json failed");
        }
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.changed.notify_one();
    }

    /// Which changes a registration built now includes (see `mark_registered`).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A name server accepted a registration built at `generation`.
    pub fn mark_registered(&self, generation: u64) {
        self.registered.send_if_modified(|seen| {
            let newer = generation > *seen;
            if newer {
                *seen = generation;
            }
            newer
        });
    }

    /// Waits (at most `limit`) until a name server has accepted a registration that
    /// includes the changes up to `generation`; false if none did in time.
    pub async fn wait_registered(&self, generation: u64, limit: std::time::Duration) -> bool {
        let mut seen = self.registered.subscribe();
        let reached = tokio::time::timeout(limit, seen.wait_for(|g| *g >= generation)).await;
        matches!(reached, Ok(Ok(_)))
    }

    pub fn persist(&self) -> std::io::Result<()> {
        config_files::persist_with(&self.path, || {
            let value: Value = serde_json::to_value(self.wrapper()).expect("topic configs serialize");
            config_files::to_fastjson(&value)
        })
    }
}
