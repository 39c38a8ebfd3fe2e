//! Delayed delivery (Java's ScheduleMessageService). The store parks a message with a DELAY
//! level in SCHEDULE_TOPIC_XXXX, queue `level - 1`, with its delivery time as the
//! ConsumeQueue tag code; this service moves each one to its real topic and queue when that
//! time comes, and keeps how far it got per level in `config/delayOffset.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use store::codec::property;
use store::config_files;
use store::MessageToStore;
use tracing::warn;

use crate::topic_config::SCHEDULE_TOPIC;
use crate::BrokerState;

/// How soon a delivery the store refused is tried again.
const RETRY: Duration = Duration::from_millis(100);
/// The longest the service sleeps without being woken. Arrivals wake it and it knows when
/// the next parked message is due, so this is only a safety net.
const IDLE: Duration = Duration::from_secs(1);

/// Level -> next offset to deliver in that level's schedule queue.
pub struct DelayOffsets {
    path: PathBuf,
    table: Mutex<BTreeMap<i32, i64>>,
}

impl DelayOffsets {
    pub fn load(store_root: &std::path::Path) -> std::io::Result<Self> {
        let path = config_files::config_path(store_root, config_files::DELAY_OFFSET_JSON);
        let mut table = BTreeMap::new();
        if let Some(saved) = config_files::read_config(&path)? {
            if let Some(offsets) = saved.get("offsetTable").and_then(Value::as_object) {
                for (level, offset) in offsets {
                    if let (Ok(level), Some(offset)) = (level.parse(), offset.as_i64()) {
                        table.insert(level, offset);
                    }
                }
            }
        }
        Ok(DelayOffsets {
            path,
            table: Mutex::new(table),
        })
    }

    fn get(&self, level: i32) -> i64 {
        self.table.lock().unwrap().get(&level).copied().unwrap_or(0)
    }

    fn set(&self, level: i32, offset: i64) {
        self.table.lock().unwrap().insert(level, offset);
    }

    /// A slave takes its master's delay offsets (Java's SlaveSynchronize.syncDelayOffset).
    pub fn replace_from_master(&self, table: BTreeMap<i32, i64>) {
        *self.table.lock().unwrap() = table;
        self.persist();
    }

    /// Level -> next offset, for the levels that have progress (runtime info).
    pub fn snapshot(&self) -> BTreeMap<i32, i64> {
        self.table.lock().unwrap().clone()
    }

    /// The table as GET_ALL_DELAY_OFFSET sends it: `{"offsetTable":{1:5,...}}`.
    pub fn encode(&self) -> Vec<u8> {
        let offset_table: BTreeMap<i64, i64> = self
            .table
            .lock()
            .unwrap()
            .iter()
            .map(|(l, o)| (*l as i64, *o))
            .collect();
        remoting::fastjson::to_legacy_vec(&DelayOffsetBody { offset_table })
    }

    pub fn persist(&self) {
        let result = config_files::persist_with(&self.path, || {
            let offsets: serde_json::Map<String, Value> = self
                .table
                .lock()
                .unwrap()
                .iter()
                .map(|(l, o)| (l.to_string(), Value::from(*o)))
                .collect();
            config_files::to_fastjson(&serde_json::json!({ "offsetTable": offsets }))
        });
        if let Err(e) = result {
            warn!(error = %e, "persisting delayOffset.json failed");
        }
    }
}

/// What a level's queue holds after its due messages were delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    /// The store refused a delivery: try again soon.
    Retry,
    /// The next parked message is due at this time (ms).
    DueAt(i64),
    /// Nothing parked.
    Empty,
}

/// Java looks at every level every 100 ms. This service sleeps until the first parked
/// message is due, or until a message is parked (`BrokerState::scheduled`, from the store's
/// arrival listener, after the ConsumeQueue entry exists): an idle broker stays asleep.
pub async fn run(state: Arc<BrokerState>) {
    let levels = state.store.config().delay_levels_ms().len() as i32;
    loop {
        let mut next = Next::Empty;
        for level in 1..=levels {
            next = next.min(deliver_due(&state, level).await);
        }
        let sleep = match next {
            Next::Retry => RETRY,
            Next::DueAt(at) => {
                let wait = at.saturating_sub(remoting::protocol::topic::now_millis()).max(0);
                Duration::from_millis(wait as u64).min(IDLE)
            }
            Next::Empty => IDLE,
        };
        if !sleep.is_zero() {
            tokio::select! {
                _ = state.scheduled.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }
}

/// Moves every message of `level` whose delivery time has come to its real topic.
async fn deliver_due(state: &BrokerState, level: i32) -> Next {
    let queue_id = level - 1;
    loop {
        let offset = state.delay_offsets.get(level);
        let found = state.store.get_messages(SCHEDULE_TOPIC, queue_id, offset, 32, 0, None);
        if found.messages.is_empty() {
            if found.next_begin_offset > offset {
                // Skip entries whose CommitLog data is gone (retention).
                state.delay_offsets.set(level, found.next_begin_offset);
                continue;
            }
            return Next::Empty;
        }
        let now = remoting::protocol::topic::now_millis();
        for stored in &found.messages {
            // The ConsumeQueue tag code of a scheduled message is its delivery time.
            if stored.tags_code > now {
                return Next::DueAt(stored.tags_code);
            }
            match store::decode_message(&stored.bytes) {
                Ok(msg) => {
                    if let Some(real) = restore(msg) {
                        let result = state.store.put_message_async(&real).await;
                        if !result.is_ok() {
                            warn!(level, status = ?result.status, "delayed delivery failed, retrying later");
                            return Next::Retry;
                        }
                        if let Some(append) = &result.append {
                            state.stats.on_scheduled_delivery(level, append);
                        }
                    }
                }
                Err(e) => warn!(level, error = %e, "skipping an undecodable scheduled message"),
            }
            state.delay_offsets.set(level, stored.queue_offset + 1);
        }
    }
}

/// The message as it goes to its real topic and queue when due. As in Java, the stored
/// properties keep everything, `DELAY`, `REAL_TOPIC` and `REAL_QID` included (Java writes
/// the properties text before it clears `DELAY` from the map, and consumers read
/// `getDelayTimeLevel()` on delivery); only the map the store acts on loses `DELAY`, so
/// the message is not parked again.
fn restore(msg: store::DecodedMessage) -> Option<MessageToStore> {
    let topic = msg.property(property::REAL_TOPIC)?.to_string();
    let queue_id = msg.property(property::REAL_QUEUE_ID)?.parse().ok()?;
    let stored = store::codec::properties_string_java_order(&msg.properties);
    let properties: Vec<(String, String)> = msg
        .properties
        .into_iter()
        .filter(|(name, _)| name != property::DELAY)
        .collect();
    let mut real = MessageToStore::new(&topic, queue_id, msg.body, properties);
    real.properties_string = Some(stored);
    real.flag = msg.flag;
    real.sys_flag = msg.sys_flag & !(store::codec::sys_flag::BORN_HOST_V6 | store::codec::sys_flag::STORE_HOST_V6);
    real.born_timestamp = msg.born_timestamp;
    real.born_host = msg.born_host;
    real.store_host = msg.store_host;
    real.reconsume_times = msg.reconsume_times;
    real.wait_store_msg_ok = false;
    Some(real)
}

#[derive(serde::Serialize)]
struct DelayOffsetBody {
    #[serde(rename = "offsetTable")]
    offset_table: BTreeMap<i64, i64>,
}
