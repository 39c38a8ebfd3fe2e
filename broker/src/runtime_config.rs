//! The broker's settings as UPDATE_BROKER_CONFIG (25) and GET_BROKER_CONFIG (26) see them
//! (Java's `Configuration`): the current values behind a lock, a data version bumped on
//! every update, and the whole set written back to the broker's config file.
//!
//! Handlers that read a setting Java re-reads on every use (permissions, polling, filters,
//! transaction timing, ...) take `BrokerState::live()`, so an update applies at once.
//! Settings read only at start (names, ports, addresses) change in the file and in
//! GET_BROKER_CONFIG but take effect at the next start, as in Java.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use remoting::protocol::topic::DataVersion;
use remoting::{code::response, properties};
use tracing::{info, warn};

use crate::config::BrokerConfig;

/// Keys UPDATE_BROKER_CONFIG never changes (Java's fixed list plus `configBlackList`).
const ALWAYS_BLACK_LISTED: [&str; 3] = ["brokerConfigPath", "rocketmqHome", "configBlackList"];

/// Keys whose values are secrets: persisted, never shown.
const SECRET_KEYS: [&str; 1] = ["innerClientAuthenticationCredentials"];

pub struct RuntimeConfig {
    current: RwLock<Arc<BrokerConfig>>,
    version: Mutex<DataVersion>,
    /// Where updates are persisted: the `-c` file, else `<storePathRootDir>/config/broker.properties`.
    path: PathBuf,
    /// Store settings: as started with, then as updated (see `MessageStore::update_settings`
    /// for which of them apply at once).
    store_pairs: RwLock<Vec<(String, String)>>,
    /// The keys `StoreConfig` reads.
    store_keys: HashSet<&'static str>,
}

/// What an accepted update changed.
pub struct Updated {
    /// `brokerPermission` was among the keys.
    pub permission_given: bool,
    /// Store settings that were given with a readable value.
    pub store_changes: HashMap<String, String>,
}

/// Why an update was refused: the response code and remark Java gives.
pub struct UpdateRefused {
    pub code: i32,
    pub remark: String,
}

impl RuntimeConfig {
    pub fn new(config: BrokerConfig, path: PathBuf, store_pairs: Vec<(String, String)>) -> Self {
        RuntimeConfig {
            current: RwLock::new(Arc::new(config)),
            version: Mutex::new(DataVersion::now()),
            path,
            store_pairs: RwLock::new(store_pairs),
            store_keys: store::StoreConfig::default()
                .to_pairs()
                .into_iter()
                .map(|(k, _)| k)
                .collect(),
        }
    }

    pub fn current(&self) -> Arc<BrokerConfig> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn version_json(&self) -> String {
        let v = self.version.lock().unwrap_or_else(|e| e.into_inner());
        format!("{{\"counter\":{},\"timestamp\":{}}}", v.counter, v.timestamp)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Every setting as `key=value` lines (the persisted file).
    pub fn all_configs_text(&self) -> String {
        properties::to_string(self.all_pairs())
    }

    /// GET_BROKER_CONFIG's body: every setting but those holding secrets (Java keeps the
    /// credentials in its AuthConfig, which GET_BROKER_CONFIG does not show either).
    pub fn shown_configs_text(&self) -> String {
        let mut pairs = self.all_pairs();
        pairs.retain(|(k, _)| !SECRET_KEYS.contains(&k.as_str()));
        properties::to_string(pairs)
    }

    fn all_pairs(&self) -> Vec<(String, String)> {
        let config = self.current();
        let mut pairs: Vec<(String, String)> = config.to_pairs().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let known: HashSet<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
        let store_pairs = self.store_pairs.read().unwrap_or_else(|e| e.into_inner());
        pairs.extend(store_pairs.iter().filter(|(k, _)| !known.contains(k)).cloned());
        pairs
    }

    /// Applies a properties text. Keys Java does not know are ignored, as are values that
    /// do not parse (Java drops both silently); returns whether `brokerPermission` was given.
    pub fn update(&self, text: &str) -> Result<Updated, UpdateRefused> {
        let given = properties::parse(text);
        let black_list = self.black_list();
        if given.iter().any(|(k, _)| black_list.contains(k.as_str())) {
            return Err(UpdateRefused {
                code: response::NO_PERMISSION,
                remark: "Can not update config in black list.".into(),
            });
        }
        let known: HashSet<String> = self.all_pairs().into_iter().map(|(k, _)| k).collect();
        let permission_given = given.iter().any(|(k, _)| k == "brokerPermission");
        let mut store_changes = HashMap::new();
        {
            let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
            let mut next = BrokerConfig::clone(&current);
            for (key, value) in &given {
                // Credentials are read at start only, and not through the protocol.
                if !known.contains(key) || SECRET_KEYS.contains(&key.as_str()) {
                    continue;
                }
                if self.store_keys.contains(key.as_str()) {
                    // A value the store cannot read is dropped, as Java drops it.
                    let one = HashMap::from([(key.clone(), value.trim().to_string())]);
                    match store::StoreConfig::default().apply_properties(&one) {
                        Ok(()) => store_changes.extend(one),
                        Err(e) => warn!("UPDATE_BROKER_CONFIG: {e}; ignored"),
                    }
                    continue;
                }
                if let Err(e) = next.set(key, value) {
                    warn!("UPDATE_BROKER_CONFIG: {e}; ignored");
                }
            }
            *current = Arc::new(next);
            let mut store_pairs = self.store_pairs.write().unwrap_or_else(|e| e.into_inner());
            for (key, value) in &store_changes {
                if let Some(pair) = store_pairs.iter_mut().find(|(k, _)| k == key) {
                    pair.1 = value.clone();
                }
            }
            self.version.lock().unwrap_or_else(|e| e.into_inner()).next_version();
        }
        info!(keys = ?given.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), "broker config updated");
        self.persist();
        Ok(Updated {
            permission_given,
            store_changes,
        })
    }

    fn black_list(&self) -> HashSet<String> {
        let mut set: HashSet<String> = ALWAYS_BLACK_LISTED.iter().map(|s| s.to_string()).collect();
        set.extend(
            self.current()
                .config_black_list
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
        set
    }

    pub fn persist(&self) {
        let text = self.all_configs_text();
        if let Err(e) = store::config_files::persist(&self.path, &text) {
            warn!(path = %self.path.display(), error = %e, "persisting the broker config failed");
        }
    }
}
