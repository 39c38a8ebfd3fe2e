//! Subscription (consumer) group configuration: `config/subscriptionGroup.json`, created on
//! first use when `autoCreateSubscriptionGroup` is on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use remoting::protocol::topic::DataVersion;
use serde::{Deserialize, Serialize};
use store::config_files;
use tracing::warn;

/// `SubscriptionGroupConfig`, with Java's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    pub broker_id: i64,
    pub consume_broadcast_enable: bool,
    pub consume_enable: bool,
    pub consume_from_min_enable: bool,
    pub group_name: String,
    pub notify_consumer_ids_changed_enable: bool,
    pub retry_max_times: i32,
    pub retry_queue_nums: i32,
    pub which_broker_when_consume_slowly: i64,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig {
            broker_id: 0,
            consume_broadcast_enable: true,
            consume_enable: true,
            consume_from_min_enable: true,
            group_name: String::new(),
            notify_consumer_ids_changed_enable: true,
            retry_max_times: 16,
            retry_queue_nums: 1,
            which_broker_when_consume_slowly: 1,
        }
    }
}

impl SubscriptionGroupConfig {
    pub fn named(group: &str) -> Self {
        SubscriptionGroupConfig {
            group_name: group.to_string(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    pub data_version: DataVersion,
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

/// The groups Java's broker creates at start.
const SYSTEM_GROUPS: [&str; 7] = [
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
];

pub struct SubscriptionGroupManager {
    path: PathBuf,
    auto_create: bool,
    table: RwLock<SubscriptionGroupWrapper>,
}

impl SubscriptionGroupManager {
    pub fn load(store_root: &Path, auto_create: bool) -> std::io::Result<Self> {
        let path = config_files::config_path(store_root, "subscriptionGroup.json");
        let mut wrapper = SubscriptionGroupWrapper {
            data_version: DataVersion::now(),
            ..Default::default()
        };
        for group in SYSTEM_GROUPS {
            wrapper
                .subscription_group_table
                .insert(group.to_string(), SubscriptionGroupConfig::named(group));
        }
        if let Some(saved) = config_files::read_config(&path)? {
            match serde_json::from_value::<SubscriptionGroupWrapper>(saved) {
                Ok(saved) => {
                    wrapper.subscription_group_table.extend(saved.subscription_group_table);
                    wrapper.data_version = saved.data_version;
                }
                Err(e) => warn!(error = %e, "subscriptionGroup.json is unreadable"),
            }
        }
        Ok(SubscriptionGroupManager {
            path,
            auto_create,
            table: RwLock::new(wrapper),
        })
    }

    /// The group's config, creating it when auto-creation is on.
    pub fn find(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        if let Some(found) = self.table.read().unwrap().subscription_group_table.get(group) {
            return Some(found.clone());
        }
        if !self.auto_create {
            return None;
        }
        let created = SubscriptionGroupConfig::named(group);
        self.update(created.clone());
        Some(created)
    }

    pub fn update(&self, config: SubscriptionGroupConfig) {
        {
            let mut t = self.table.write().unwrap();
            t.subscription_group_table.insert(config.group_name.clone(), config);
            t.data_version.next_version();
        }
        self.persist();
    }

    pub fn delete(&self, group: &str) {
        {
            let mut t = self.table.write().unwrap();
            t.subscription_group_table.remove(group);
            t.data_version.next_version();
        }
        self.persist();
    }

    /// Every group's name: the ones Java creates at start first, in the order it creates
    /// them, then the rest.
    pub fn names(&self) -> Vec<String> {
        let t = self.table.read().unwrap();
        let mut names: Vec<String> = SYSTEM_GROUPS
            .iter()
            .filter(|g| t.subscription_group_table.contains_key(**g))
            .map(|g| g.to_string())
            .collect();
        names.extend(
            t.subscription_group_table
                .keys()
                .filter(|g| !SYSTEM_GROUPS.contains(&g.as_str()))
                .cloned(),
        );
        names
    }

    /// A slave takes its master's groups when their data version differs from its own
    /// (Java's SlaveSynchronize.syncSubscriptionGroupConfig).
    pub fn replace_from_master(&self, wrapper: SubscriptionGroupWrapper) -> bool {
        {
            let mut t = self.table.write().unwrap();
            if t.data_version == wrapper.data_version {
                return false;
            }
            *t = wrapper;
        }
        self.persist();
        true
    }

    pub fn body(&self) -> Vec<u8> {
        remoting::fastjson::to_standard_vec(&*self.table.read().unwrap())
    }

    fn persist(&self) {
        let result = config_files::persist_with(&self.path, || {
            let value = serde_json::to_value(&*self.table.read().unwrap()).expect("groups serialize");
            config_files::to_fastjson(&value)
        });
        if let Err(e) = result {
            warn!(error = %e, "persisting subscriptionGroup.json failed");
        }
    }
}
