//! Ordered POP: which messages of a queue a group has out, since when, and which of them
//! came back acked (Java's ConsumerOrderInfoManager). While any of them is neither acked nor
//! past its invisible time the queue is blocked for every other pop of the group.
//! Persisted to `config/consumerOrderInfo.json` in Java's shape.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use store::config_files;
use tracing::warn;

use super::extra_info;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrderInfo {
    #[serde(rename = "popTime", default)]
    pub pop_time: i64,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub invisible_time: Option<i64>,
    /// The first queue offset, then each later message's distance from it.
    #[serde(rename = "o", default)]
    pub offset_list: Vec<i64>,
    #[serde(rename = "ot", default, skip_serializing_if = "Option::is_none")]
    pub offset_next_visible_time: Option<BTreeMap<i64, i64>>,
    #[serde(rename = "oc", default, skip_serializing_if = "Option::is_none")]
    pub offset_consumed_count: Option<BTreeMap<i64, i32>>,
    #[serde(rename = "l", default)]
    pub last_consume_timestamp: i64,
    #[serde(rename = "cm", default)]
    pub commit_offset_bit: i64,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
}

fn compact(offsets: &[i64]) -> Vec<i64> {
    match offsets.first() {
        None => Vec::new(),
        Some(first) if offsets.len() == 1 => vec![*first],
        Some(first) => std::iter::once(*first)
            .chain(offsets[1..].iter().map(|o| o - first))
            .collect(),
    }
}

fn offset_at(list: &[i64], index: usize) -> i64 {
    if index == 0 {
        list[0]
    } else {
        list[0] + list[index]
    }
}

impl OrderInfo {
    fn queue_offset(&self, index: usize) -> i64 {
        offset_at(&self.offset_list, index)
    }

    fn is_not_acked(&self, index: usize) -> bool {
        self.commit_offset_bit & (1 << index) == 0
    }

    fn need_block(&mut self, attempt_id: Option<&str>, invisible_time: i64, now: i64) -> bool {
        if self.offset_list.is_empty() {
            return false;
        }
        if self.attempt_id.is_some() && self.attempt_id.as_deref() == attempt_id {
            return false;
        }
        if self.invisible_time.is_none_or(|t| t <= 0) {
            self.invisible_time = Some(invisible_time);
        }
        let base = self.pop_time + self.invisible_time.unwrap_or(0);
        (0..self.offset_list.len()).any(|i| {
            self.is_not_acked(i) && {
                let visible_at = self
                    .offset_next_visible_time
                    .as_ref()
                    .and_then(|m| m.get(&self.queue_offset(i)).copied())
                    .unwrap_or(base);
                now < visible_at
            }
        })
    }

    fn next_offset(&self) -> i64 {
        if self.offset_list.is_empty() {
            return -2;
        }
        let n = self.offset_list.len();
        match (0..n).find(|i| self.is_not_acked(*i)) {
            Some(i) => self.queue_offset(i),
            None => self.queue_offset(n - 1) + 1,
        }
    }

    /// Counts, for each message handed out again, how often it was handed out before.
    fn merge_consumed_count(&mut self, previous: &OrderInfo) {
        if previous.attempt_id.is_some() && previous.attempt_id == self.attempt_id {
            self.offset_consumed_count = previous.offset_consumed_count.clone();
            return;
        }
        let before: std::collections::HashSet<i64> = (0..previous.offset_list.len())
            .map(|i| previous.queue_offset(i))
            .collect();
        let mut counts = BTreeMap::new();
        for i in 0..self.offset_list.len() {
            let offset = self.queue_offset(i);
            if before.contains(&offset) {
                let prior = previous
                    .offset_consumed_count
                    .as_ref()
                    .and_then(|m| m.get(&offset).copied())
                    .unwrap_or(0);
                counts.insert(offset, prior + 1);
            }
        }
        self.offset_consumed_count = Some(counts);
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Table {
    #[serde(default)]
    table: BTreeMap<String, BTreeMap<i32, OrderInfo>>,
}

pub struct ConsumerOrderInfoManager {
    path: PathBuf,
    table: Mutex<Table>,
    /// Changed since last written (written by the revive task's ticks and at shutdown).
    dirty: AtomicBool,
}

fn key(topic: &str, group: &str) -> String {
    format!("{topic}@{group}")
}

impl ConsumerOrderInfoManager {
    pub fn load(store_root: &std::path::Path) -> std::io::Result<Self> {
        let path = config_files::config_path(store_root, "consumerOrderInfo.json");
        let table = config_files::read_config(&path)?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Ok(ConsumerOrderInfoManager {
            path,
            table: Mutex::new(table),
            dirty: AtomicBool::new(false),
        })
    }

    /// Writes the file if something changed since it was last written.
    pub fn persist_if_changed(&self) {
        if self.dirty.swap(false, Ordering::AcqRel) {
            self.persist();
        }
    }

    pub fn persist(&self) {
        let result = config_files::persist_with(&self.path, || {
            let table = self.table.lock().unwrap();
            serde_json::to_value(&*table)
                .map(|v| config_files::to_fastjson(&v))
                .unwrap_or_default()
        });
        if let Err(e) = result {
            warn!(error = %e, "persisting consumerOrderInfo.json failed");
        }
    }

    /// Records an ordered pop of `offsets`; appends the consumed counts to `order_count_info`.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &self,
        attempt_id: Option<&str>,
        topic: &str,
        group: &str,
        queue_id: i32,
        pop_time: i64,
        invisible_time: i64,
        offsets: &[i64],
        order_count_info: &mut String,
        now: i64,
    ) {
        let mut table = self.table.lock().unwrap();
        let queues = table.table.entry(key(topic, group)).or_default();
        let mut info = OrderInfo {
            pop_time,
            invisible_time: Some(invisible_time),
            offset_list: compact(offsets),
            last_consume_timestamp: now,
            attempt_id: attempt_id.map(str::to_string),
            ..Default::default()
        };
        if let Some(previous) = queues.get(&queue_id) {
            info.merge_consumed_count(previous);
        }
        let mut min_count = i32::MAX;
        match &info.offset_consumed_count {
            Some(counts) => {
                for (offset, count) in counts {
                    extra_info::add_offset_order_count(order_count_info, topic, queue_id, *offset, *count);
                    min_count = min_count.min(*count);
                }
                if counts.len() != info.offset_list.len() {
                    min_count = 0;
                }
            }
            None => min_count = 0,
        }
        extra_info::add_queue_order_count(order_count_info, topic, queue_id, min_count);
        queues.insert(queue_id, info);
        drop(table);
        self.dirty.store(true, Ordering::Release);
    }

    /// Whether the queue is held by an earlier ordered pop of the group.
    pub fn check_block(
        &self,
        attempt_id: Option<&str>,
        topic: &str,
        group: &str,
        queue_id: i32,
        invisible_time: i64,
        now: i64,
    ) -> bool {
        let mut table = self.table.lock().unwrap();
        table
            .table
            .get_mut(&key(topic, group))
            .and_then(|q| q.get_mut(&queue_id))
            .is_some_and(|info| info.need_block(attempt_id, invisible_time, now))
    }

    /// Marks `offset` acked; the offset the group may commit next, or -1 (not one of the
    /// popped messages) / -2 (a different pop).
    pub fn commit_and_next(&self, topic: &str, group: &str, queue_id: i32, offset: i64, pop_time: i64) -> i64 {
        let mut table = self.table.lock().unwrap();
        let Some(info) = table
            .table
            .get_mut(&key(topic, group))
            .and_then(|q| q.get_mut(&queue_id))
        else {
            return offset + 1;
        };
        if info.offset_list.is_empty() {
            return -1;
        }
        if info.pop_time != pop_time {
            return -2;
        }
        let Some(index) = (0..info.offset_list.len()).find(|i| info.queue_offset(*i) == offset) else {
            return -1;
        };
        info.commit_offset_bit |= 1 << index;
        let next = info.next_offset();
        drop(table);
        self.dirty.store(true, Ordering::Release);
        next
    }

    pub fn update_next_visible_time(
        &self,
        topic: &str,
        group: &str,
        queue_id: i32,
        offset: i64,
        pop_time: i64,
        next_visible: i64,
    ) {
        let mut table = self.table.lock().unwrap();
        if let Some(info) = table
            .table
            .get_mut(&key(topic, group))
            .and_then(|q| q.get_mut(&queue_id))
        {
            if info.pop_time == pop_time {
                info.offset_next_visible_time
                    .get_or_insert_with(BTreeMap::new)
                    .insert(offset, next_visible);
            }
        }
        drop(table);
        self.dirty.store(true, Ordering::Release);
    }
}
