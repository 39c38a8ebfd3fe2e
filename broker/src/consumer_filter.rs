//! Compiled SQL92 subscriptions of consumer groups (Java's `ConsumerFilterManager`): what
//! heartbeats subscribe with, compiled once, looked up by pulls, and persisted to
//! `config/consumerFilter.json` in Java's shape (`filterDataByTopic` → topic →
//! `groupFilterData` → group → ConsumerFilterData, without the bloom filter, which we do
//! not compute).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use store::config_files;
use tracing::{info, warn};

use crate::client_manager::SubscriptionData;
use crate::filter::{self, Expression};

pub const CONSUMER_FILTER_JSON: &str = config_files::CONSUMER_FILTER_JSON;

/// Whether an expression type is the tag kind (`TAG`, or none given); Java compares the
/// name exactly, so `tag` is no tag type (and no filter type either).
pub fn is_tag_type(expression_type: Option<&str>) -> bool {
    expression_type.is_none_or(|t| t.is_empty() || t == "TAG")
}

/// A subscription's `subVersion`, which clients send as a number or a string.
pub fn sub_version(sub: &SubscriptionData) -> i64 {
    match &sub.sub_version {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

#[derive(Clone)]
pub struct FilterData {
    pub expression: String,
    pub expression_type: String,
    pub born_time: i64,
    pub client_version: i64,
    pub compiled: Arc<Expression>,
}

pub struct ConsumerFilterManager {
    path: PathBuf,
    /// topic -> group -> filter.
    table: Mutex<BTreeMap<String, BTreeMap<String, FilterData>>>,
}

impl ConsumerFilterManager {
    /// Loads `consumerFilter.json` (entries whose expression no longer compiles are dropped).
    pub fn load(store_root: &Path) -> std::io::Result<Self> {
        let path = config_files::config_path(store_root, CONSUMER_FILTER_JSON);
        let mut table: BTreeMap<String, BTreeMap<String, FilterData>> = BTreeMap::new();
        if let Some(doc) = config_files::read_config(&path)? {
            let topics = doc
                .get("filterDataByTopic")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for (topic, by_topic) in topics {
                let groups = by_topic
                    .get("groupFilterData")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for (group, data) in groups {
                    let expression = data.get("expression").and_then(Value::as_str).unwrap_or_default();
                    let expression_type = data.get("expressionType").and_then(Value::as_str).unwrap_or("SQL92");
                    match filter::compile(expression) {
                        Ok(compiled) => {
                            table.entry(topic.clone()).or_default().insert(
                                group,
                                FilterData {
                                    expression: expression.to_string(),
                                    expression_type: expression_type.to_string(),
                                    born_time: data.get("bornTime").and_then(Value::as_i64).unwrap_or(0),
                                    client_version: data.get("clientVersion").and_then(Value::as_i64).unwrap_or(0),
                                    compiled: Arc::new(compiled),
                                },
                            );
                        }
                        Err(e) => warn!(topic, group, "dropping a stored filter that does not compile: {e}"),
                    }
                }
            }
        }
        Ok(ConsumerFilterManager {
            path,
            table: Mutex::new(table),
        })
    }

    /// Registers the non-tag subscriptions of a heartbeat. A newer client version (or a
    /// new expression) replaces the old filter; one that does not compile is logged and
    /// not registered, so pulls then get FILTER_DATA_NOT_EXIST, as in Java.
    pub fn register(&self, group: &str, subscriptions: &[SubscriptionData]) {
        let mut changed = false;
        {
            let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
            for sub in subscriptions {
                if is_tag_type(sub.expression_type.as_deref()) {
                    continue;
                }
                let version = sub_version(sub);
                let groups = table.entry(sub.topic.clone()).or_default();
                if let Some(old) = groups.get(group) {
                    if old.expression == sub.sub_string && version <= old.client_version {
                        continue;
                    }
                    if version < old.client_version {
                        continue;
                    }
                }
                match filter::compile(&sub.sub_string) {
                    Ok(compiled) => {
                        info!(group, topic = %sub.topic, expression = %sub.sub_string, "consumer filter registered");
                        groups.insert(
                            group.to_string(),
                            FilterData {
                                expression: sub.sub_string.clone(),
                                expression_type: sub.expression_type.clone().unwrap_or_else(|| "SQL92".into()),
                                born_time: remoting::protocol::topic::now_millis(),
                                client_version: version,
                                compiled: Arc::new(compiled),
                            },
                        );
                        changed = true;
                    }
                    Err(e) => {
                        warn!(group, topic = %sub.topic, expression = %sub.sub_string, "consumer filter does not compile: {e}")
                    }
                }
            }
        }
        if changed {
            self.persist();
        }
    }

    pub fn get(&self, topic: &str, group: &str) -> Option<FilterData> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.get(topic)?.get(group).cloned()
    }

    pub fn persist(&self) {
        let result = config_files::persist_with(&self.path, || {
            let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
            let mut topics = serde_json::Map::new();
            for (topic, groups) in table.iter() {
                let mut by_group = serde_json::Map::new();
                for (group, f) in groups {
                    by_group.insert(
                        group.clone(),
                        json!({
                            "bornTime": f.born_time,
                            "clientVersion": f.client_version,
                            "consumerGroup": group,
                            "deadTime": 0,
                            "expression": f.expression,
                            "expressionType": f.expression_type,
                            "topic": topic,
                        }),
                    );
                }
                topics.insert(
                    topic.clone(),
                    json!({ "groupFilterData": Value::Object(by_group), "topic": topic }),
                );
            }
            config_files::to_fastjson(&json!({ "filterDataByTopic": Value::Object(topics) }))
        });
        if let Err(e) = result {
            warn!(error = %e, "persisting consumerFilter.json failed");
        }
    }
}
