//! Broker statistics, kept the way Java's broker keeps them, so VIEW_BROKER_STATS_DATA,
//! GET_BROKER_RUNTIME_INFO and the consume-TPS figures read the same.
//!
//! * Named item sets (Java's BrokerStatsManager / StatsItemSet / StatsItem): each item
//!   holds two running totals, `value` and `times`, under a key such as `topic` or
//!   `topic@group`. A sampler copies the totals into three rings: every 10 s (7 kept: the
//!   last minute), every 10 min (7: the last hour), every hour (25: the last day). A
//!   snapshot of a ring is the difference between its newest and oldest samples.
//! * The store's call counters (Java's StoreStatsService): puts are counted by the store
//!   itself (`store::stats`), gets by the pull path here. They are sampled every second
//!   into a ring of 601 samples for the 10 s / 1 min / 10 min TPS figures.
//! * Daily totals (Java's BrokerStats): at local midnight the put and get totals are
//!   remembered as "today morning", the previous ones as "yesterday morning".
//!
//! On the hot path a counter update is a shard read lock of a `DashMap`, found by a key
//! built in a reused per-thread buffer, and two relaxed atomic adds; nothing is allocated
//! once the key exists.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use remoting::protocol::topic::now_millis;
use store::{AppendResult, MessageStore};
use tracing::{debug, info};

use crate::topic_config::SCHEDULE_TOPIC;
use crate::BrokerState;

pub const QUEUE_PUT_NUMS: &str = "QUEUE_PUT_NUMS";
pub const QUEUE_PUT_SIZE: &str = "QUEUE_PUT_SIZE";
pub const QUEUE_GET_NUMS: &str = "QUEUE_GET_NUMS";
pub const QUEUE_GET_SIZE: &str = "QUEUE_GET_SIZE";
pub const TOPIC_PUT_NUMS: &str = "TOPIC_PUT_NUMS";
pub const TOPIC_PUT_SIZE: &str = "TOPIC_PUT_SIZE";
pub const GROUP_GET_NUMS: &str = "GROUP_GET_NUMS";
pub const GROUP_GET_SIZE: &str = "GROUP_GET_SIZE";
pub const GROUP_GET_LATENCY: &str = "GROUP_GET_LATENCY";
pub const SNDBCK_PUT_NUMS: &str = "SNDBCK_PUT_NUMS";
pub const BROKER_PUT_NUMS: &str = "BROKER_PUT_NUMS";
pub const BROKER_GET_NUMS: &str = "BROKER_GET_NUMS";
pub const GROUP_GET_FROM_DISK_NUMS: &str = "GROUP_GET_FROM_DISK_NUMS";
pub const GROUP_GET_FROM_DISK_SIZE: &str = "GROUP_GET_FROM_DISK_SIZE";
pub const BROKER_GET_FROM_DISK_NUMS: &str = "BROKER_GET_FROM_DISK_NUMS";
pub const BROKER_GET_FROM_DISK_SIZE: &str = "BROKER_GET_FROM_DISK_SIZE";

/// The group Java's schedule service counts its deliveries under.
pub const SCHEDULE_CONSUMER_GROUP: &str = "SCHEDULE_CONSUMER";

/// One window's figures (Java's StatsSnapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Growth of `value` across the window.
    pub sum: i64,
    /// `sum` per second over the time the window's samples span.
    pub tps: f64,
    /// `sum` per call (`times`); 0 when nothing was called.
    pub avgpt: f64,
    /// Growth of `times` across the window.
    pub times: i64,
}

/// How a ring is fed: the sampling period (also how far back the first, zero sample is
/// dated) and how many samples it keeps.
#[derive(Clone, Copy)]
pub struct WindowSpec {
    pub period_ms: i64,
    pub keep: usize,
}

pub const MINUTE: WindowSpec = WindowSpec {
    period_ms: 10_000,
    keep: 7,
};
pub const HOUR: WindowSpec = WindowSpec {
    period_ms: 600_000,
    keep: 7,
};
pub const DAY: WindowSpec = WindowSpec {
    period_ms: 3_600_000,
    keep: 25,
};

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: i64,
    times: i64,
    value: i64,
}

/// A ring of samples of one item.
#[derive(Default)]
pub struct Window {
    samples: VecDeque<Sample>,
}

impl Window {
    /// Adds a sample taken at `now`. The very first one comes with a zero sample one period
    /// earlier, so an item's first window already shows everything since it was created.
    pub fn sample(&mut self, spec: WindowSpec, now: i64, times: i64, value: i64) {
        if self.samples.is_empty() {
            self.samples.push_back(Sample {
                at: now - spec.period_ms,
                times: 0,
                value: 0,
            });
        }
        self.samples.push_back(Sample { at: now, times, value });
        if self.samples.len() > spec.keep {
            self.samples.pop_front();
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return StatsSnapshot::default();
        };
        let sum = last.value - first.value;
        let times = last.times - first.times;
        StatsSnapshot {
            sum,
            // Java divides as doubles, so equal timestamps give NaN or infinity, not a panic.
            tps: (sum as f64 * 1000.0) / (last.at - first.at) as f64,
            avgpt: if times > 0 { sum as f64 / times as f64 } else { 0.0 },
            times,
        }
    }
}

/// One counter and its three windows.
#[derive(Default)]
pub struct StatsItem {
    value: AtomicI64,
    times: AtomicI64,
    windows: Mutex<[Window; 3]>,
}

impl StatsItem {
    pub fn add(&self, value: i64, times: i64) {
        self.value.fetch_add(value, Ordering::Relaxed);
        if times != 0 {
            self.times.fetch_add(times, Ordering::Relaxed);
        }
    }

    pub fn value(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    pub fn times(&self) -> i64 {
        self.times.load(Ordering::Relaxed)
    }

    fn sample(&self, which: usize, spec: WindowSpec, now: i64) {
        let (times, value) = (self.times(), self.value());
        self.windows.lock().unwrap_or_else(|e| e.into_inner())[which].sample(spec, now, times, value);
    }

    fn snapshot(&self, which: usize) -> StatsSnapshot {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())[which].snapshot()
    }

    pub fn minute(&self) -> StatsSnapshot {
        self.snapshot(0)
    }
    pub fn hour(&self) -> StatsSnapshot {
        self.snapshot(1)
    }
    pub fn day(&self) -> StatsSnapshot {
        self.snapshot(2)
    }
}

/// The items of one statistic, by key. Keys are hashed with foldhash (seeded per process):
/// SipHash made up half the cost of a counter update.
pub struct StatsItemSet {
    name: &'static str,
    items: DashMap<String, StatsItem, foldhash::fast::RandomState>,
}

impl StatsItemSet {
    fn new(name: &'static str) -> Self {
        StatsItemSet {
            name,
            items: DashMap::with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Adds to the item under `key`, creating it on first use (the only allocation).
    pub fn add(&self, key: &str, value: i64, times: i64) {
        if let Some(item) = self.items.get(key) {
            item.add(value, times);
            return;
        }
        self.items.entry(key.to_string()).or_default().add(value, times);
    }

    /// The item's three windows (minute, hour, day), if the item exists.
    pub fn windows(&self, key: &str) -> Option<[StatsSnapshot; 3]> {
        self.items.get(key).map(|i| [i.minute(), i.hour(), i.day()])
    }

    /// The item's last-minute window; an empty one when the item does not exist.
    pub fn minute(&self, key: &str) -> StatsSnapshot {
        self.items.get(key).map(|i| i.minute()).unwrap_or_default()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.items.contains_key(key)
    }

    /// Every item's key and running total (for the metrics endpoint).
    pub fn totals(&self) -> Vec<(String, i64)> {
        self.items
            .iter()
            .map(|i| (i.key().clone(), i.value().value()))
            .collect()
    }

    fn sample(&self, which: usize, spec: WindowSpec, now: i64) {
        for item in self.items.iter() {
            item.sample(which, spec, now);
        }
    }

    fn remove_where(&self, drop: impl Fn(&str) -> bool) {
        self.items.retain(|k, _| !drop(k));
    }
}

thread_local! {
    /// Where composite keys (`topic@group`, ...) are built without allocating.
    static KEY: RefCell<String> = RefCell::new(String::with_capacity(128));
}

/// A piece of a composite key.
pub(crate) enum Part<'a> {
    S(&'a str),
    N(i32),
}

/// Runs `f` on the key made of `parts` joined with '@' (`f` must not build another key).
pub(crate) fn with_key<R>(parts: &[Part<'_>], f: impl FnOnce(&str) -> R) -> R {
    KEY.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                buf.push('@');
            }
            match part {
                Part::S(s) => buf.push_str(s),
                Part::N(n) => {
                    let _ = write!(buf, "{n}");
                }
            }
        }
        f(&buf)
    })
}

/// The store's call counters sampled once a second.
#[derive(Clone, Copy, Debug, Default)]
struct StoreSample {
    at: i64,
    put: i64,
    get_found: i64,
    get_miss: i64,
    transferred: i64,
}

/// Samples kept: ten minutes and one.
const STORE_SAMPLES: usize = 601;

/// The last complete minute of put latencies (Java rolls them with its TPS log line).
struct MinuteRoll {
    last_roll: i64,
    distribute_base: [u64; 13],
    latency_base: [u64; 76],
    last_distribute: Option<[u64; 13]>,
    last_latency: Option<[u64; 76]>,
}

/// Put and get totals at the last two local midnights.
#[derive(Default, Clone, Copy, Debug, PartialEq)]
pub struct DailyTotals {
    pub put_yesterday_morning: i64,
    pub put_today_morning: i64,
    pub get_yesterday_morning: i64,
    pub get_today_morning: i64,
}

/// Everything the broker counts. Lives in `BrokerState::stats`.
pub struct BrokerStats {
    /// The key of the BROKER_* items.
    cluster: String,
    /// `enableDetailStat`: keeps the per-queue sets and keys latency per queue.
    detail: bool,
    /// `enableBrokerStats` (ours): whether the item sets count at all.
    enabled: AtomicBool,
    sets: Vec<StatsItemSet>,
    get_found: AtomicI64,
    get_miss: AtomicI64,
    transferred: AtomicI64,
    get_time_max: AtomicI64,
    store_samples: Mutex<VecDeque<StoreSample>>,
    minute_roll: Mutex<MinuteRoll>,
    daily: Mutex<DailyTotals>,
    boot_timestamp: i64,
}

/// Index of each set in `BrokerStats::sets`. The FROM_DISK sets exist in Java 4.9.8 but
/// nothing there counts into them: they are kept so VIEW_BROKER_STATS_DATA finds the names.
#[derive(Clone, Copy)]
#[repr(usize)]
#[allow(dead_code)]
enum Set {
    TopicPutNums,
    TopicPutSize,
    GroupGetNums,
    GroupGetSize,
    GroupGetLatency,
    SndbckPutNums,
    BrokerPutNums,
    BrokerGetNums,
    GroupGetFromDiskNums,
    GroupGetFromDiskSize,
    BrokerGetFromDiskNums,
    BrokerGetFromDiskSize,
    // Only with `enableDetailStat`.
    QueuePutNums,
    QueuePutSize,
    QueueGetNums,
    QueueGetSize,
}

const SET_NAMES: [&str; 16] = [
    TOPIC_PUT_NUMS,
    TOPIC_PUT_SIZE,
    GROUP_GET_NUMS,
    GROUP_GET_SIZE,
    GROUP_GET_LATENCY,
    SNDBCK_PUT_NUMS,
    BROKER_PUT_NUMS,
    BROKER_GET_NUMS,
    GROUP_GET_FROM_DISK_NUMS,
    GROUP_GET_FROM_DISK_SIZE,
    BROKER_GET_FROM_DISK_NUMS,
    BROKER_GET_FROM_DISK_SIZE,
    QUEUE_PUT_NUMS,
    QUEUE_PUT_SIZE,
    QUEUE_GET_NUMS,
    QUEUE_GET_SIZE,
];

impl BrokerStats {
    pub fn new(cluster: &str, detail: bool) -> Self {
        BrokerStats {
            cluster: cluster.to_string(),
            detail,
            enabled: AtomicBool::new(true),
            sets: SET_NAMES.iter().map(|&n| StatsItemSet::new(n)).collect(),
            get_found: AtomicI64::new(0),
            get_miss: AtomicI64::new(0),
            transferred: AtomicI64::new(0),
            get_time_max: AtomicI64::new(0),
            store_samples: Mutex::new(VecDeque::with_capacity(STORE_SAMPLES + 1)),
            minute_roll: Mutex::new(MinuteRoll {
                last_roll: now_millis(),
                distribute_base: [0; 13],
                latency_base: [0; 76],
                last_distribute: None,
                last_latency: None,
            }),
            daily: Mutex::new(DailyTotals::default()),
            boot_timestamp: now_millis(),
        }
    }

    fn set_of(&self, s: Set) -> &StatsItemSet {
        &self.sets[s as usize]
    }

    /// The set VIEW_BROKER_STATS_DATA names; None for a name Java does not keep (or a
    /// per-queue set with `enableDetailStat` off).
    pub fn set(&self, name: &str) -> Option<&StatsItemSet> {
        let i = SET_NAMES.iter().position(|n| *n == name)?;
        (self.detail || i < Set::QueuePutNums as usize).then(|| &self.sets[i])
    }

    /// `enableBrokerStats`: turns the counting of the item sets on or off (what was
    /// counted is kept, and the windows keep sampling it).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// When the broker (Java: its store statistics) started, in ms.
    pub fn boot_timestamp(&self) -> i64 {
        self.boot_timestamp
    }

    // ---- counting (hot path) ----

    /// A message or batch stored for a producer (send or reply): TOPIC_PUT_NUMS and
    /// TOPIC_PUT_SIZE under the topic written (SCHEDULE_TOPIC_XXXX for a delayed message,
    /// the half topic for a prepared one), BROKER_PUT_NUMS; per queue for scheduled ones.
    pub fn on_put(&self, append: &AppendResult) {
        if !self.enabled() {
            return;
        }
        let (num, bytes) = (append.msg_num as i64, append.wrote_bytes as i64);
        if self.detail && append.topic == SCHEDULE_TOPIC {
            with_key(&[Part::S(&append.topic), Part::N(append.queue_id)], |k| {
                self.set_of(Set::QueuePutNums).add(k, num, 1);
                self.set_of(Set::QueuePutSize).add(k, bytes, 1);
            });
        }
        self.set_of(Set::TopicPutNums).add(&append.topic, num, 1);
        self.set_of(Set::TopicPutSize).add(&append.topic, bytes, 1);
        self.set_of(Set::BrokerPutNums).add(&self.cluster, num, 0);
    }

    /// A message sent back for a retry: SNDBCK_PUT_NUMS under `original_topic@group`, and,
    /// when the store parked it for a delay, the schedule topic's put counters.
    pub fn on_send_back(&self, group: &str, original_topic: &str, append: &AppendResult) {
        if !self.enabled() {
            return;
        }
        if append.topic == SCHEDULE_TOPIC {
            self.set_of(Set::TopicPutNums).add(&append.topic, 1, 1);
            self.set_of(Set::TopicPutSize)
                .add(&append.topic, append.wrote_bytes as i64, 1);
            if self.detail {
                with_key(&[Part::S(&append.topic), Part::N(append.queue_id)], |k| {
                    self.set_of(Set::QueuePutNums).add(k, 1, 1);
                    self.set_of(Set::QueuePutSize).add(k, append.wrote_bytes as i64, 1);
                });
            }
        }
        with_key(&[Part::S(original_topic), Part::S(group)], |k| {
            self.set_of(Set::SndbckPutNums).add(k, 1, 1)
        });
    }

    /// A delayed message moved to its real topic (`level` 1-based): counted as a get by
    /// the schedule group and a put to the real topic.
    pub fn on_scheduled_delivery(&self, level: i32, append: &AppendResult) {
        if !self.enabled() {
            return;
        }
        let (num, bytes) = (append.msg_num as i64, append.wrote_bytes as i64);
        if self.detail {
            with_key(
                &[
                    Part::S(SCHEDULE_TOPIC),
                    Part::N(level - 1),
                    Part::S(SCHEDULE_CONSUMER_GROUP),
                ],
                |k| {
                    self.set_of(Set::QueueGetNums).add(k, num, 1);
                    self.set_of(Set::QueueGetSize).add(k, bytes, 1);
                },
            );
        }
        with_key(&[Part::S(SCHEDULE_TOPIC), Part::S(SCHEDULE_CONSUMER_GROUP)], |k| {
            self.set_of(Set::GroupGetNums).add(k, num, 1);
            self.set_of(Set::GroupGetSize).add(k, bytes, 1);
        });
        self.set_of(Set::TopicPutNums).add(&append.topic, num, 1);
        self.set_of(Set::TopicPutSize).add(&append.topic, bytes, 1);
        self.set_of(Set::BrokerPutNums).add(&self.cluster, num, 0);
    }

    /// A pull answered with messages: GROUP_GET_NUMS / GROUP_GET_SIZE under `topic@group`,
    /// BROKER_GET_NUMS, and the pull's latency in ms (per queue with `enableDetailStat`).
    pub fn on_pull_found(&self, group: &str, topic: &str, queue_id: i32, count: usize, bytes: usize, latency_ms: i64) {
        if !self.enabled() {
            return;
        }
        with_key(&[Part::S(topic), Part::S(group)], |k| {
            self.set_of(Set::GroupGetNums).add(k, count as i64, 1);
            self.set_of(Set::GroupGetSize).add(k, bytes as i64, 1);
            if !self.detail {
                self.set_of(Set::GroupGetLatency).add(k, latency_ms, 1);
            }
        });
        if self.detail {
            with_key(&[Part::N(queue_id), Part::S(topic), Part::S(group)], |k| {
                self.set_of(Set::GroupGetLatency).add(k, latency_ms, 1)
            });
        }
        self.set_of(Set::BrokerGetNums).add(&self.cluster, count as i64, 0);
    }

    /// One store lookup (Java counts every `getMessage` call: a held pull that looks again
    /// counts again).
    pub fn on_store_get(&self, found: usize, elapsed: Duration) {
        if found > 0 {
            self.get_found.fetch_add(1, Ordering::Relaxed);
            self.transferred.fetch_add(found as i64, Ordering::Relaxed);
        } else {
            self.get_miss.fetch_add(1, Ordering::Relaxed);
        }
        let ms = elapsed.as_millis() as i64;
        if ms > self.get_time_max.load(Ordering::Relaxed) {
            self.get_time_max.fetch_max(ms, Ordering::Relaxed);
        }
    }

    /// Messages handed to consumers since start (`msgGetTotalTodayNow`).
    pub fn transferred_total(&self) -> i64 {
        self.transferred.load(Ordering::Relaxed)
    }

    /// The slowest store lookup, in ms (`getMessageEntireTimeMax`).
    pub fn get_time_max(&self) -> i64 {
        self.get_time_max.load(Ordering::Relaxed)
    }

    /// Java's consumeTps for GET_CONSUME_STATS and GET_BROKER_CONSUME_STATS: messages per
    /// second `group` pulled from `topic` over the last minute (GROUP_GET_NUMS).
    pub fn consume_tps(&self, topic: &str, group: &str) -> f64 {
        with_key(&[Part::S(topic), Part::S(group)], |k| {
            self.set_of(Set::GroupGetNums).minute(k).tps
        })
    }

    // ---- deletions ----

    /// Drops a deleted topic's items, as Java's `onTopicDeleted` does.
    pub fn on_topic_deleted(&self, topic: &str) {
        let prefix = format!("{topic}@");
        let infix = format!("@{topic}@");
        self.set_of(Set::TopicPutNums).remove_where(|k| k == topic);
        self.set_of(Set::TopicPutSize).remove_where(|k| k == topic);
        for s in [
            Set::QueuePutNums,
            Set::QueuePutSize,
            Set::GroupGetNums,
            Set::GroupGetSize,
            Set::QueueGetNums,
            Set::QueueGetSize,
            Set::SndbckPutNums,
        ] {
            self.set_of(s).remove_where(|k| k.starts_with(&prefix));
        }
        self.set_of(Set::GroupGetLatency).remove_where(|k| k.contains(&infix));
    }

    /// Drops a deleted group's items, as Java's `onGroupDeleted` does.
    pub fn on_group_deleted(&self, group: &str) {
        let suffix = format!("@{group}");
        for s in [
            Set::GroupGetNums,
            Set::GroupGetSize,
            Set::QueueGetNums,
            Set::QueueGetSize,
            Set::SndbckPutNums,
            Set::GroupGetLatency,
        ] {
            self.set_of(s).remove_where(|k| k.ends_with(&suffix));
        }
    }

    // ---- sampling ----

    /// The 10-second sampling of every item (feeds the minute windows).
    pub fn sample_minute_windows(&self) {
        self.sample_items(0, MINUTE);
    }
    /// The 10-minute sampling (hour windows).
    pub fn sample_hour_windows(&self) {
        self.sample_items(1, HOUR);
    }
    /// The hourly sampling (day windows).
    pub fn sample_day_windows(&self) {
        self.sample_items(2, DAY);
    }

    fn sample_items(&self, which: usize, spec: WindowSpec) {
        let now = now_millis();
        for set in &self.sets {
            set.sample(which, spec, now);
        }
    }

    /// The once-a-second sampling of the store's call counters; once a minute it also
    /// closes the minute of put latencies.
    pub fn sample_store(&self, store: &MessageStore) {
        let now = now_millis();
        let sample = StoreSample {
            at: now,
            put: store.put_stats().times_total(),
            get_found: self.get_found.load(Ordering::Relaxed),
            get_miss: self.get_miss.load(Ordering::Relaxed),
            transferred: self.transferred_total(),
        };
        {
            let mut ring = self.store_samples.lock().unwrap_or_else(|e| e.into_inner());
            ring.push_back(sample);
            if ring.len() > STORE_SAMPLES {
                ring.pop_front();
            }
        }
        let mut roll = self.minute_roll.lock().unwrap_or_else(|e| e.into_inner());
        if now > roll.last_roll + 60_000 {
            roll.last_roll = now;
            let distribute = store.put_stats().distribute();
            let latency = store.put_stats().latency();
            roll.last_distribute = Some(std::array::from_fn(|i| distribute[i] - roll.distribute_base[i]));
            roll.last_latency = Some(std::array::from_fn(|i| latency[i] - roll.latency_base[i]));
            roll.distribute_base = distribute;
            roll.latency_base = latency;
            let tps = self.store_tps(60);
            debug!(put = ?tps.put, found = ?tps.get_found, miss = ?tps.get_miss, transferred = ?tps.transferred, "store tps");
        }
    }

    /// The store's TPS over the last `seconds` samples; a figure is `None` until that many
    /// samples exist.
    pub fn store_tps(&self, seconds: usize) -> StoreTps {
        let ring = self.store_samples.lock().unwrap_or_else(|e| e.into_inner());
        let pick = |f: fn(&StoreSample) -> i64| -> Option<f64> {
            if ring.len() <= seconds {
                return None;
            }
            let last = ring[ring.len() - 1];
            let before = ring[ring.len() - 1 - seconds];
            Some((f(&last) - f(&before)) as f64 / (last.at - before.at) as f64 * 1000.0)
        };
        StoreTps {
            put: pick(|s| s.put),
            get_found: pick(|s| s.get_found),
            get_miss: pick(|s| s.get_miss),
            transferred: pick(|s| s.transferred),
        }
    }

    /// Whether the once-a-second ring has any sample yet.
    pub fn has_store_samples(&self) -> bool {
        !self.store_samples.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Puts per latency range in the last closed minute (`putMessageDistributeTime`);
    /// None before the first minute closed.
    pub fn last_minute_distribution(&self) -> Option<[u64; 13]> {
        self.minute_roll
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_distribute
    }

    /// The `px` quantile (0.99, 0.999) of put latency in the last closed minute, in ms,
    /// interpolated within its bucket as Java does; 0 before the first minute closed.
    pub fn put_latency_quantile(&self, px: f64) -> f64 {
        match self.minute_roll.lock().unwrap_or_else(|e| e.into_inner()).last_latency {
            Some(counts) => latency_quantile(&counts, px),
            None => 0.0,
        }
    }

    /// Remembers today's totals as the morning ones (run at local midnight).
    pub fn record_daily(&self, store: &MessageStore) {
        let mut d = self.daily.lock().unwrap_or_else(|e| e.into_inner());
        d.put_yesterday_morning = d.put_today_morning;
        d.get_yesterday_morning = d.get_today_morning;
        d.put_today_morning = store.put_stats().times_total();
        d.get_today_morning = self.transferred_total();
        info!(
            put = d.put_today_morning - d.put_yesterday_morning,
            get = d.get_today_morning - d.get_yesterday_morning,
            "messages put and got yesterday"
        );
    }

    pub fn daily(&self) -> DailyTotals {
        *self.daily.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// TPS figures of the store ring.
#[derive(Clone, Copy, Debug, Default)]
pub struct StoreTps {
    pub put: Option<f64>,
    pub get_found: Option<f64>,
    pub get_miss: Option<f64>,
    pub transferred: Option<f64>,
}

/// Java's `findPutMessageEntireTimePX` over one minute's bucket counts.
pub fn latency_quantile(counts: &[u64; 76], px: f64) -> f64 {
    let bounds = &store::stats::LATENCY_BUCKETS;
    let total: u64 = counts.iter().sum();
    let px_index = (total as f64 * px) as i64;
    let mut passed = 0i64;
    for (i, &count) in counts.iter().enumerate() {
        let count = count as i64;
        if px_index <= passed + count {
            let relative = px_index - passed;
            // Java multiplies as longs (wrapping in the open last bucket) before dividing.
            let step = |width: i64| {
                if count == 0 {
                    0.0
                } else {
                    width.wrapping_mul(relative) as f64 / count as f64
                }
            };
            return if i == 0 {
                step(bounds[0])
            } else {
                bounds[i - 1] as f64 + step(bounds[i].wrapping_sub(bounds[i - 1]))
            };
        }
        passed += count;
    }
    0.0
}

/// Java's `Double.toString`: plain between 10^-3 and 10^7, else `d.dddE±n`; the shortest
/// digits that read back as the same double.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let magnitude = x.abs();
    if x == 0.0 || (1e-3..1e7).contains(&magnitude) {
        // Debug prints the shortest round-trip digits, with ".0" when integral, and stays
        // plain in this range.
        return format!("{x:?}");
    }
    let sci = format!("{x:e}"); // e.g. 1.5e7, 1e-5
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

/// Java's `String.format("%.<places>f", x)`: rounds the shortest decimal form half up.
pub fn java_fixed(x: f64, places: usize) -> String {
    if !x.is_finite() {
        return java_double(x);
    }
    // `{}` gives the shortest round-trip digits, never in exponent form.
    let text = format!("{}", x.abs());
    let (int_part, frac_part) = text.split_once('.').unwrap_or((&text, ""));
    let mut digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes().chain(std::iter::repeat(b'0')).take(places))
        .collect();
    if frac_part.as_bytes().get(places).is_some_and(|d| *d >= b'5') {
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let split = digits.len() - places;
    let sign = if x.is_sign_negative() && digits.iter().any(|d| *d != b'0') {
        "-"
    } else {
        ""
    };
    let (whole, frac) = digits.split_at(split);
    let whole = String::from_utf8_lossy(whole);
    if places == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{}", String::from_utf8_lossy(frac))
    }
}

/// `String.format("%.2f", x)`.
pub fn java_fixed2(x: f64) -> String {
    java_fixed(x, 2)
}

/// Milliseconds from `now_ms` to the next local midnight.
fn until_next_midnight(now_ms: i64) -> Duration {
    let secs = (now_ms / 1000) as libc::time_t;
    // SAFETY: localtime_r and mktime only read and write the struct we pass.
    let midnight = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return Duration::from_secs(86_400);
        }
        tm.tm_mday += 1;
        tm.tm_hour = 0;
        tm.tm_min = 0;
        tm.tm_sec = 0;
        tm.tm_isdst = -1;
        libc::mktime(&mut tm) as i64 * 1000
    };
    Duration::from_millis((midnight - now_ms).max(1000) as u64)
}

/// The samplers, as Java schedules them: store counters every second, item windows every
/// 10 s / 10 min / 1 h, daily totals at local midnight. Java also samples the items once
/// at start, when none exist yet; skipping that no-op keeps a send that races this task's
/// first poll out of the hour and day windows, as it is in Java.
pub async fn run(state: Arc<BrokerState>) {
    use tokio::time::{interval_at, Instant, MissedTickBehavior};
    let stats = &state.stats;
    let every = |ms: i64| {
        let period = Duration::from_millis(ms as u64);
        interval_at(Instant::now() + period, period)
    };
    let mut second = every(1000);
    let mut minute_windows = every(MINUTE.period_ms);
    let mut hour_windows = every(HOUR.period_ms);
    let mut day_windows = every(DAY.period_ms);
    for t in [&mut second, &mut minute_windows, &mut hour_windows, &mut day_windows] {
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    }
    let midnight = tokio::time::sleep(until_next_midnight(now_millis()));
    tokio::pin!(midnight);
    loop {
        tokio::select! {
            _ = second.tick() => stats.sample_store(&state.store),
            _ = minute_windows.tick() => stats.sample_minute_windows(),
            _ = hour_windows.tick() => stats.sample_hour_windows(),
            _ = day_windows.tick() => stats.sample_day_windows(),
            _ = &mut midnight => {
                stats.record_daily(&state.store);
                midnight.as_mut().reset(Instant::now() + until_next_midnight(now_millis()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_the_growth_between_its_oldest_and_newest_samples() {
        let mut w = Window::default();
        assert_eq!(w.snapshot(), StatsSnapshot::default());
        // First sampling: a zero sample one period back, then the totals.
        w.sample(MINUTE, 100_000, 4, 36);
        let s = w.snapshot();
        assert_eq!((s.sum, s.times), (36, 4));
        assert_eq!(s.tps, 3.6);
        assert_eq!(s.avgpt, 9.0);
        // Golden 13: 36 messages over 19 999 ms -> 1.800090004500225.
        let mut w = Window::default();
        w.sample(MINUTE, 90_001, 0, 0);
        w.sample(MINUTE, 100_000, 35, 36);
        let s = w.snapshot();
        assert_eq!(s.sum, 36);
        assert_eq!(java_double(s.tps), "1.800090004500225");
        assert_eq!(java_double(s.avgpt), "1.0285714285714285");
    }

    #[test]
    fn windows_keep_seven_or_twenty_five_samples() {
        let mut w = Window::default();
        for i in 0..20i64 {
            w.sample(MINUTE, 10_000 * (i + 1), i, i * 10);
        }
        assert_eq!(w.samples.len(), 7);
        // Newest 190 at t=200 s, oldest kept 130 at t=140 s: 60 over 60 s.
        let s = w.snapshot();
        assert_eq!((s.sum, s.tps), (60, 1.0));

        let mut d = Window::default();
        for i in 0..40i64 {
            d.sample(DAY, DAY.period_ms * (i + 1), 0, i);
        }
        assert_eq!(d.samples.len(), 25);
        assert_eq!(d.snapshot().sum, 24);
    }

    #[test]
    fn nothing_called_means_no_average() {
        let mut w = Window::default();
        w.sample(HOUR, 600_000, 0, 5); // BROKER_PUT_NUMS counts values only
        let s = w.snapshot();
        assert_eq!((s.sum, s.avgpt), (5, 0.0));
        assert_eq!(s.tps, 5.0 * 1000.0 / 600_000.0);
    }

    #[test]
    fn counters_are_keyed_as_java_keys_them() {
        let stats = BrokerStats::new("DefaultCluster", true);
        stats.on_pull_found("cg", "T", 2, 20, 4000, 3);
        stats.on_pull_found("cg", "T", 1, 10, 2000, 1);
        let get = stats.set(GROUP_GET_NUMS).unwrap();
        assert!(get.contains("T@cg"));
        assert!(stats.set(GROUP_GET_LATENCY).unwrap().contains("2@T@cg"));
        assert!(stats.set(BROKER_GET_NUMS).unwrap().contains("DefaultCluster"));
        stats.sample_minute_windows();
        let [minute, hour, day] = get.windows("T@cg").unwrap();
        assert_eq!((minute.sum, minute.times), (30, 2));
        assert_eq!(minute.avgpt, 15.0);
        assert_eq!((hour.sum, day.sum), (0, 0), "only the minute ring was sampled");
        assert_eq!(stats.consume_tps("T", "cg"), 3.0);
        assert_eq!(stats.consume_tps("T", "other"), 0.0);
        assert!(stats.set("NO_SUCH_STATS").is_none());

        let plain = BrokerStats::new("DefaultCluster", false);
        plain.on_pull_found("cg", "T", 2, 1, 1, 0);
        assert!(plain.set(GROUP_GET_LATENCY).unwrap().contains("T@cg"));
        assert!(plain.set(QUEUE_GET_NUMS).is_none());

        stats.on_group_deleted("cg");
        assert!(!get.contains("T@cg"));
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket() {
        let mut counts = [0u64; 76];
        assert_eq!(latency_quantile(&counts, 0.99), 0.0);
        counts[0] = 100; // 100 puts in the <=1 ms bucket
        assert_eq!(java_fixed2(latency_quantile(&counts, 0.5)), "0.50");
        counts[0] = 0;
        counts[20] = 10; // (20, 22] ms
        assert_eq!(latency_quantile(&counts, 0.5), 20.0 + 2.0 * 5.0 / 10.0);
    }

    #[test]
    fn doubles_print_as_java_prints_them() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(0.49985004498650404), "0.49985004498650404");
        assert_eq!(java_double(214.95238095238096), "214.95238095238096");
        assert_eq!(java_double(1.0e7), "1.0E7");
        assert_eq!(java_double(1.5e-4), "1.5E-4");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_fixed2(0.0), "0.00");
        assert_eq!(java_fixed2(0.125), "0.13");
        assert_eq!(java_fixed2(9.999), "10.00");
        assert_eq!(java_fixed2(12.3), "12.30");
        assert_eq!(java_fixed(252.04, 1), "252.0");
        assert_eq!(java_fixed(64.96, 1), "65.0");
    }

    /// What the counters cost per call; see docs/benchmarks.md ("Statistics cost").
    #[test]
    #[ignore = "timing: cargo test --release -p rocketmq-broker --lib hot_path_cost -- --ignored --nocapture"]
    fn hot_path_cost() {
        use std::time::Instant;
        let append = AppendResult {
            wrote_offset: 0,
            wrote_bytes: 1200,
            store_host: "127.0.0.1:10911".parse().unwrap(),
            batch_offsets: Vec::new(),
            store_timestamp: 0,
            logics_offset: 0,
            msg_num: 1,
            topic: "BenchTopic".into(),
            queue_id: 3,
        };
        let stats = Arc::new(BrokerStats::new("DefaultCluster", true));
        const N: u32 = 2_000_000;
        let time = |label: &str, f: &dyn Fn()| {
            f(); // the key exists from here on
            let start = Instant::now();
            for _ in 0..N {
                f();
            }
            println!("{label}: {:.1} ns/call", start.elapsed().as_nanos() as f64 / N as f64);
        };
        time("on_put (send)", &|| stats.on_put(&append));
        let off = BrokerStats::new("DefaultCluster", true);
        off.set_enabled(false);
        time("on_put (send), enableBrokerStats=false", &|| off.on_put(&append));
        time("on_pull_found (pull)", &|| {
            stats.on_pull_found("cg_bench", "BenchTopic", 3, 32, 38_400, 0)
        });
        time("on_store_get (pull lookup)", &|| {
            stats.on_store_get(32, Duration::from_micros(20))
        });
        time("consume_tps (admin)", &|| {
            std::hint::black_box(stats.consume_tps("BenchTopic", "cg_bench"));
        });
        // Two threads on the same keys: the atomics' cache line moves between cores.
        let start = Instant::now();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (stats, append) = (stats.clone(), append.clone());
                std::thread::spawn(move || {
                    for _ in 0..N {
                        stats.on_put(&append);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        println!(
            "on_put, 2 threads, same topic: {:.1} ns/call",
            start.elapsed().as_nanos() as f64 / (2 * N) as f64
        );
    }

    #[test]
    fn midnight_is_ahead_and_within_a_day() {
        let d = until_next_midnight(now_millis());
        assert!(d > Duration::ZERO && d <= Duration::from_secs(25 * 3600));
    }
}
