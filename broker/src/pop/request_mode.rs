//! How each group consumes each topic, PULL or POP, as SET_MESSAGE_REQUEST_MODE set it
//! (Java's MessageRequestModeManager), persisted to `config/messageRequestMode.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use store::config_files;

/// SetMessageRequestModeRequestBody.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestMode {
    #[serde(rename = "consumerGroup", default)]
    pub consumer_group: String,
    #[serde(default = "pull")]
    pub mode: String,
    #[serde(rename = "popShareQueueNum", default)]
    pub pop_share_queue_num: i32,
    #[serde(default)]
    pub topic: String,
}

fn pull() -> String {
    "PULL".into()
}

#[derive(Default, Serialize, Deserialize)]
struct Table {
    #[serde(rename = "messageRequestModeMap", default)]
    map: BTreeMap<String, BTreeMap<String, RequestMode>>,
}

pub struct MessageRequestModeManager {
    path: PathBuf,
    table: Mutex<Table>,
}

impl MessageRequestModeManager {
    pub fn load(store_root: &std::path::Path) -> std::io::Result<Self> {
        let path = config_files::config_path(store_root, "messageRequestMode.json");
        let table = config_files::read_config(&path)?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Ok(MessageRequestModeManager {
            path,
            table: Mutex::new(table),
        })
    }

    pub fn get(&self, topic: &str, group: &str) -> Option<RequestMode> {
        self.table.lock().unwrap().map.get(topic)?.get(group).cloned()
    }

    /// Every stored mode, as the config file holds them (compact JSON).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.table.lock().unwrap()).unwrap_or_default()
    }

    pub fn set(&self, mode: RequestMode) -> std::io::Result<()> {
        self.table
            .lock()
            .unwrap()
            .map
            .entry(mode.topic.clone())
            .or_default()
            .insert(mode.consumer_group.clone(), mode);
        config_files::persist_with(&self.path, || {
            let table = self.table.lock().unwrap();
            serde_json::to_value(&*table)
                .map(|v| config_files::to_fastjson(&v))
                .unwrap_or_default()
        })
    }
}
