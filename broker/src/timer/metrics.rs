//! Java 5's TimerMetrics: per real topic, how many of its timer messages wait in the wheel
//! (filed +1, a recall marker -1, delivered or rolled -1), with the time of the last change.
//! Kept in `config/timermetrics` and answered to GET_TIMER_METRICS (61).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use remoting::protocol::topic::{now_millis, DataVersion};
use serde::Deserialize;
use serde_json::{json, Value};
use store::config_files;
use tracing::warn;

pub const TIMER_METRICS_FILE: &str = "timermetrics";

pub struct TimerMetrics {
    path: PathBuf,
    table: Mutex<Table>,
}

struct Table {
    /// Real topic -> (count, time of the last change).
    timing_count: BTreeMap<String, (i64, i64)>,
    version: DataVersion,
    /// The version last written to the file.
    persisted_counter: i64,
}

impl TimerMetrics {
    /// Reads `config/timermetrics` (or its `.bak`); an absent or unreadable file starts empty.
    pub fn load(store_root: &Path) -> std::io::Result<Self> {
        let path = config_files::config_path(store_root, TIMER_METRICS_FILE);
        let mut timing_count = BTreeMap::new();
        let mut version = fresh_version();
        if let Some(saved) = config_files::read_config(&path)? {
            if let Some(counts) = saved.get("timingCount").and_then(Value::as_object) {
                for (topic, metric) in counts {
                    let count = metric.get("count").and_then(Value::as_i64).unwrap_or(0);
                    let at = metric.get("timeStamp").and_then(Value::as_i64).unwrap_or(0);
                    timing_count.insert(topic.clone(), (count, at));
                }
            }
            if let Some(saved) = saved.get("dataVersion").and_then(|v| DataVersion::deserialize(v).ok()) {
                version = saved;
                version.state_version.get_or_insert(0);
            }
        }
        let persisted_counter = version.counter;
        Ok(TimerMetrics {
            path,
            table: Mutex::new(Table {
                timing_count,
                version,
                persisted_counter,
            }),
        })
    }

    /// Java's addAndGet: the topic's count moves by `delta` and the data version by one.
    pub fn add(&self, real_topic: &str, delta: i64) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_millis();
        let entry = t.timing_count.entry(real_topic.to_string()).or_insert((0, now));
        entry.0 += delta;
        entry.1 = now;
        t.version.next_version();
    }

    /// Forgets a deleted topic (Java's removeTimingCount).
    pub fn remove_topic(&self, topic: &str) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if t.timing_count.remove(topic).is_some() {
            t.version.next_version();
        }
    }

    pub fn count(&self, topic: &str) -> i64 {
        let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.timing_count.get(topic).map_or(0, |(c, _)| *c)
    }

    /// The JSON GET_TIMER_METRICS answers and the file holds (fastjson's compact form, keys
    /// in order).
    pub fn encode(&self) -> String {
        let value = self.to_value();
        serde_json::to_string(&value).expect("timer metrics serialize")
    }

    fn to_value(&self) -> Value {
        let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let counts: serde_json::Map<String, Value> = t
            .timing_count
            .iter()
            .map(|(topic, (count, at))| (topic.clone(), json!({ "count": count, "timeStamp": at })))
            .collect();
        // The version always carries 5.x's stateVersion (see `load` and `fresh_version`).
        json!({ "dataVersion": t.version, "timingCount": counts })
    }

    /// Writes the file if anything changed since the last write (Java writes it every flush
    /// round; an idle broker need not).
    pub fn persist(&self) {
        let counter = {
            let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            if t.version.counter == t.persisted_counter {
                return;
            }
            t.version.counter
        };
        let result = config_files::persist_with(&self.path, || config_files::to_fastjson(&self.to_value()));
        match result {
            Ok(()) => self.table.lock().unwrap_or_else(|e| e.into_inner()).persisted_counter = counter,
            Err(e) => warn!(error = %e, "persisting timermetrics failed"),
        }
    }
}

fn fresh_version() -> DataVersion {
    DataVersion {
        counter: 0,
        state_version: Some(0),
        timestamp: now_millis(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let m = TimerMetrics::load(dir.path()).unwrap();
        m.add("A", 1);
        m.add("A", 1);
        m.add("B", 1);
        m.add("A", -1);
        m.persist();
        let again = TimerMetrics::load(dir.path()).unwrap();
        assert_eq!((again.count("A"), again.count("B")), (1, 1));
        let encoded: Value = serde_json::from_str(&again.encode()).unwrap();
        assert_eq!(encoded["dataVersion"]["counter"], 4);
        assert_eq!(encoded["timingCount"]["B"]["count"], 1);
        again.remove_topic("B");
        assert_eq!(again.count("B"), 0);
    }
}
