//! The name server's namespaced key-value configuration, persisted as Java does in
//! `kvConfig.json` (`{"configTable":{namespace:{key:value}}}`) with a `.bak` of the
//! previous content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use remoting::fastjson;
use remoting::protocol::KvTable;
use serde::{Deserialize, Serialize};
use tracing::{error, info};

/// The namespace holding per-topic order configuration.
pub const NAMESPACE_ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

type ConfigTable = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct KvConfigSerializeWrapper {
    config_table: ConfigTable,
}

pub struct KvConfigManager {
    path: PathBuf,
    table: RwLock<ConfigTable>,
}

impl KvConfigManager {
    /// Loads `path` if it exists; a missing file is an empty table.
    pub fn load(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        let table = match std::fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() => {
                let wrapper: KvConfigSerializeWrapper = fastjson::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
                })?;
                info!(path = %path.display(), namespaces = wrapper.config_table.len(), "loaded KV config");
                wrapper.config_table
            }
            Ok(_) => ConfigTable::new(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigTable::new(),
            Err(e) => return Err(e),
        };
        Ok(KvConfigManager {
            path,
            table: RwLock::new(table),
        })
    }

    pub fn put(&self, namespace: &str, key: &str, value: &str) {
        self.table
            .write()
            .unwrap()
            .entry(namespace.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
        self.persist();
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<String> {
        self.table.read().unwrap().get(namespace)?.get(key).cloned()
    }

    pub fn delete(&self, namespace: &str, key: &str) {
        if let Some(ns) = self.table.write().unwrap().get_mut(namespace) {
            ns.remove(key);
        }
        self.persist();
    }

    /// The namespace as a KVTable JSON body, or `None` if the namespace does not exist.
    pub fn namespace_body(&self, namespace: &str) -> Option<Vec<u8>> {
        let table = self.table.read().unwrap();
        let ns = table.get(namespace)?;
        Some(fastjson::to_standard_vec(&KvTable { table: ns.clone() }))
    }

    fn persist(&self) {
        let content = {
            let table = self.table.read().unwrap();
            serde_json::to_string_pretty(&KvConfigSerializeWrapper {
                config_table: table.clone(),
            })
            .expect("a string map always serializes")
        };
        if let Err(e) = write_with_backup(&self.path, &content) {
            error!(path = %self.path.display(), error = %e, "persisting KV config failed");
        }
    }
}

/// Writes `content` to `path` the way Java's `MixAll.string2File` does: via a `.tmp` file,
/// keeping the previous content in `.bak`.
pub fn write_with_backup(path: &Path, content: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let with_suffix = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let tmp = with_suffix(".tmp");
    std::fs::write(&tmp, content)?;
    if let Ok(previous) = std::fs::read(path) {
        std::fs::write(with_suffix(".bak"), previous)?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_reloads_like_java() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("namesrv/kvConfig.json");
        let kv = KvConfigManager::load(&path).unwrap();
        kv.put(NAMESPACE_ORDER_TOPIC_CONFIG, "TopicOrder", "broker-a:4");
        kv.put("ns", "k", "v1");
        kv.put("ns", "k", "v2");
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["configTable"]["ns"]["k"], "v2");
        assert!(dir.path().join("namesrv/kvConfig.json.bak").exists());

        let again = KvConfigManager::load(&path).unwrap();
        assert_eq!(again.get("ns", "k").as_deref(), Some("v2"));
        let body: serde_json::Value =
            serde_json::from_slice(&again.namespace_body(NAMESPACE_ORDER_TOPIC_CONFIG).unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"table": {"TopicOrder": "broker-a:4"}}));
        again.delete("ns", "k");
        assert_eq!(again.get("ns", "k"), None);
        assert!(again.namespace_body("none").is_none());
    }
}
