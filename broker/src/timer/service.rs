//! The timer service: one thread that moves timer messages from the timer topic into the
//! wheel (enqueue) and out of it into their real topics once due (dequeue).
//!
//! Enqueue reads queue 0 of `rmq_sys_wheel_timer` from where it left off; each message is
//! filed under its `TIMER_OUT_MS` slot (a 52-byte timer log record plus the slot's wheel
//! entry), or, if further away than the roll window, under a slot inside the window from
//! where it is put back in the timer topic to be filed again. A message whose slot is
//! already behind the write time is delivered at once.
//!
//! Dequeue reads the slot at the read time once the write time (the current time rounded
//! down to the precision) is past it, so nothing is delivered before its time: recall
//! markers first, then the slot's messages in the order they were filed, each put in its
//! real topic and queue with `TIMER_ENQUEUE_MS` / `TIMER_DEQUEUE_MS` added. Only then does
//! the read time move on, and the checkpoint with it: after a crash the slot is read again
//! (a message may be delivered twice, none is lost).

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::wake::{Signal, StopFlag};

use store::codec::{self, property as prop, sys_flag};
use store::timer::{
    delete_key, is_delete, needs_roll, property as tprop, TimerCheckpointData, TimerConfig, TimerFiles, MAGIC_DEFAULT,
    MAGIC_DELETE, MAGIC_ROLL, TIMER_BLANK_SLOTS, TIMER_TOPIC,
};
use store::{DecodedMessage, MessageToStore, PutMessageStatus};
use tracing::{error, info, warn};

use crate::BrokerState;

/// Messages read from the timer topic per enqueue round.
const ENQUEUE_BATCH: usize = 4096;

pub struct TimerService {
    pub config: TimerConfig,
    files: Mutex<TimerFiles>,
    /// Next slot to deliver.
    read_ms: AtomicI64,
    /// The current time rounded down to the precision, as the service last saw it.
    write_ms: AtomicI64,
    /// Next timer topic queue offset to enqueue.
    queue_offset: AtomicI64,
    stopped: StopFlag,
    /// Notified when a message lands in the timer topic (the enqueue side has work).
    arrived: Signal,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Waiting timer messages per real topic (GET_TIMER_METRICS).
    pub metrics: super::metrics::TimerMetrics,
    /// Messages filed and delivered per second over the last second or so, as f32 bits
    /// (brokerStatus' timerEnqueueTps / timerDequeueTps).
    enqueue_tps: std::sync::atomic::AtomicU32,
    dequeue_tps: std::sync::atomic::AtomicU32,
    /// Counters (since start).
    pub enqueued: AtomicU64,
    pub delivered: AtomicU64,
    pub rolled: AtomicU64,
    pub recalled: AtomicU64,
}

fn now_ms() -> i64 {
    remoting::protocol::topic::now_millis()
}

pub(crate) fn raw_bool(raw: &std::collections::HashMap<String, String>, key: &str, default: bool) -> bool {
    raw.get(key)
        .map(|v| v.trim().eq_ignore_ascii_case("true"))
        .unwrap_or(default)
}

impl TimerService {
    /// Opens the timer files under the store root and recovers the service's positions.
    pub fn open(
        root: &std::path::Path,
        raw: &std::collections::HashMap<String, String>,
        store: &store::MessageStore,
    ) -> std::io::Result<TimerService> {
        let config = TimerConfig::from_properties(raw);
        let (mut files, recovered) = TimerFiles::open(root, config.clone())?;
        let cp = files.checkpoint.data;
        // Where enqueue resumes: after the message of the last record in the log, or the
        // checkpoint's offset if further (messages delivered at once leave no record).
        let from_log = recovered
            .last_unit
            .and_then(|u| revise_queue_offset(store, u.offset_py))
            .map(|o| o + 1);
        let mut queue_offset = from_log.unwrap_or(0).max(cp.last_timer_queue_offset);
        // Not cut back to the queue's current end (Java does): our recovery may still be
        // rebuilding the timer topic's queue, and filing waits for it rather than filing
        // messages a second time.
        let min = store.min_offset_in_queue(TIMER_TOPIC, 0);
        if queue_offset < min {
            queue_offset = min;
        }
        let now = config.format_time(now_ms());
        let oldest = now - config.slots_total() * config.precision_ms + TIMER_BLANK_SLOTS * config.precision_ms;
        // With an empty log the wheel is empty: start at the current slot rather than walk
        // (and page in) a week of empty slots as Java does.
        let read_ms = if recovered.log_end == 0 {
            now
        } else {
            cp.last_read_time_ms.max(oldest)
        };
        // A wheel ahead of a damaged log: re-read the log from the first record it names.
        // (Nothing to check with an empty log; skipping it also leaves the wheel's pages
        // untouched on a broker that never saw a timer.)
        let min_first = if recovered.log_end > 0 {
            files.wheel.check_phy_pos(read_ms, recovered.log_end)
        } else {
            i64::MAX
        };
        if min_first < recovered.log_end {
            warn!(
                min_first,
                log_end = recovered.log_end,
                "timer wheel ahead of its log; re-reading the log"
            );
            files.recover_from(min_first, false)?;
        }
        info!(
            read_ms,
            queue_offset,
            log_end = recovered.log_end,
            precision_ms = config.precision_ms,
            "timer recovered"
        );
        Ok(TimerService {
            config,
            files: Mutex::new(files),
            read_ms: AtomicI64::new(read_ms),
            write_ms: AtomicI64::new(now),
            queue_offset: AtomicI64::new(queue_offset),
            stopped: StopFlag::default(),
            arrived: Signal::default(),
            metrics: super::metrics::TimerMetrics::load(root)?,
            enqueue_tps: Default::default(),
            dequeue_tps: Default::default(),
            thread: Mutex::new(None),
            enqueued: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            rolled: AtomicU64::new(0),
            recalled: AtomicU64::new(0),
        })
    }

    /// Java's flow control: refused when the slot already holds twice
    /// `timerCongestNumEachSlot`, at random between once and twice that.
    pub fn is_reject(&self, slot_ms: i64) -> bool {
        let limit = self.config.congest_num_each_slot;
        if limit >= i32::MAX as i64 {
            return false;
        }
        let num = self
            .files
            .lock()
            .unwrap()
            .wheel
            .get(slot_ms)
            .map_or(0, |s| s.num as i64);
        if num <= limit {
            return false;
        }
        if num >= limit * 2 {
            return true;
        }
        let r = (now_ms().wrapping_mul(2_654_435_761) as u64 % 1000) as f64;
        r > 1000.0 * (num - limit) as f64 / (limit as f64 + 0.1)
    }

    /// Filed and delivered messages per second, as last measured.
    pub fn tps(&self) -> (f32, f32) {
        (
            f32::from_bits(self.enqueue_tps.load(Ordering::Relaxed)),
            f32::from_bits(self.dequeue_tps.load(Ordering::Relaxed)),
        )
    }

    /// How far the wheel's reading is behind the clock, in whole seconds (Java's
    /// getDequeueBehind).
    pub fn read_behind_secs(&self) -> i64 {
        (now_ms() - self.read_ms.load(Ordering::Relaxed)) / 1000
    }

    /// Timers filed and not yet delivered, from the wheel's counts.
    pub fn pending(&self) -> i64 {
        self.files
            .lock()
            .unwrap()
            .wheel
            .all_num(self.read_ms.load(Ordering::Relaxed))
    }

    pub fn read_ms(&self) -> i64 {
        self.read_ms.load(Ordering::Relaxed)
    }

    pub fn queue_offset(&self) -> i64 {
        self.queue_offset.load(Ordering::Relaxed)
    }

    /// Starts the service thread (masters only: a slave delivers nothing).
    pub fn start(state: &Arc<BrokerState>) {
        let Some(timer) = state.timer.clone() else { return };
        // A weak reference: the thread ends with the broker even when it is dropped without
        // a shutdown (brokers inside tests).
        let st = Arc::downgrade(state);
        let t = timer.clone();
        let handle = std::thread::Builder::new()
            .name("timer".into())
            .spawn(move || timer_loop(st, t))
            .expect("spawn the timer thread");
        *timer.thread.lock().unwrap() = Some(handle);
    }

    /// A message landed in the timer topic (called by the store's arrival listener).
    pub fn message_arrived(&self) {
        self.arrived.notify();
    }

    /// Stops the thread and flushes the files.
    pub fn shutdown(&self) {
        self.stopped.set();
        self.arrived.notify();
        if let Some(h) = self.thread.lock().unwrap().take() {
            let _ = h.join();
        }
        let data = self.checkpoint_data();
        if let Err(e) = self.files.lock().unwrap().flush(data) {
            warn!("flushing the timer files failed: {e}");
        }
        self.metrics.persist();
    }

    /// The progress as the checkpoint file records it.
    pub fn checkpoint_data(&self) -> TimerCheckpointData {
        let files = self.files.lock().unwrap();
        let offset = self.queue_offset.load(Ordering::Relaxed);
        TimerCheckpointData {
            last_read_time_ms: self.read_ms.load(Ordering::Relaxed),
            last_timer_log_flush_pos: files.checkpoint.data.last_timer_log_flush_pos,
            last_timer_queue_offset: offset,
            master_timer_queue_offset: offset,
            state_version: files.checkpoint.data.state_version,
            timestamp: now_ms(),
            counter: files.checkpoint.data.counter + 1,
        }
    }

    /// Writes the progress to the checkpoint file (page cache, no sync).
    fn note_progress(&self) {
        let data = self.checkpoint_data();
        let mut files = self.files.lock().unwrap();
        files.checkpoint.data = data;
        if let Err(e) = files.checkpoint.write() {
            warn!("writing the timer checkpoint failed: {e}");
        }
    }
}

/// The timer topic queue offset of the message at `offset_py`, checked against the queue.
fn revise_queue_offset(store: &store::MessageStore, offset_py: i64) -> Option<i64> {
    let (_, m) = store.message_by_commitlog_offset(offset_py)?;
    let mut at = m.queue_offset;
    for _ in 0..20_000 {
        if at < 0 {
            break;
        }
        if store.commit_log_offset_in_queue(TIMER_TOPIC, 0, at) == Some(offset_py) {
            return Some(at);
        }
        at -= 1;
    }
    Some(m.queue_offset)
}

fn timer_loop(weak: std::sync::Weak<BrokerState>, timer: Arc<TimerService>) {
    let flush_every = Duration::from_millis(timer.config.flush_interval_ms.max(10));
    let mut last_flush = Instant::now();
    let mut last_tps = Instant::now();
    let mut tps_base = (0u64, 0u64);
    let mut last_progress_log = Instant::now();
    let mut last_clean = Instant::now();
    while !timer.stopped.is_set() {
        let Some(state) = weak.upgrade() else { break };
        let mut busy = false;
        if !timer.config.stop_enqueue {
            busy |= enqueue(&state, &timer);
        }
        // The write time moves only here, between enqueue rounds: a record filed for a
        // slot at or after the write time is always filed before that slot is read.
        timer
            .write_ms
            .store(timer.config.format_time(now_ms()), Ordering::Release);
        if !timer.config.stop_dequeue {
            busy |= dequeue(&state, &timer);
        }
        if last_flush.elapsed() >= flush_every {
            last_flush = Instant::now();
            let data = timer.checkpoint_data();
            if let Err(e) = timer.files.lock().unwrap().flush(data) {
                warn!("flushing the timer files failed: {e}");
            }
            timer.metrics.persist();
        }
        let since = last_tps.elapsed();
        if since >= Duration::from_secs(1) {
            let (enqueued, delivered) = (
                timer.enqueued.load(Ordering::Relaxed),
                timer.delivered.load(Ordering::Relaxed) + timer.rolled.load(Ordering::Relaxed),
            );
            let rate = |now: u64, before: u64| (now.saturating_sub(before) as f64 / since.as_secs_f64()) as f32;
            timer
                .enqueue_tps
                .store(rate(enqueued, tps_base.0).to_bits(), Ordering::Relaxed);
            timer
                .dequeue_tps
                .store(rate(delivered, tps_base.1).to_bits(), Ordering::Relaxed);
            tps_base = (enqueued, delivered);
            last_tps = Instant::now();
        }
        // Every 30 s, as Java: timer log files whose messages the CommitLog no longer has.
        if last_clean.elapsed() >= Duration::from_secs(30) {
            last_clean = Instant::now();
            let min_py = state.store.min_commit_log_offset();
            let deleted = timer.files.lock().unwrap().delete_expired(min_py);
            if deleted > 0 {
                info!(deleted, "expired timer log files deleted");
            }
        }
        if last_progress_log.elapsed() >= Duration::from_millis(timer.config.progress_log_interval_ms.max(1000)) {
            last_progress_log = Instant::now();
            let behind = now_ms() - timer.read_ms();
            if behind > 10 * timer.config.precision_ms.max(1000) {
                info!(
                    read_behind_ms = behind,
                    queue_offset = timer.queue_offset(),
                    "timer catching up"
                );
            }
        }
        drop(state);
        if !busy {
            // Nothing to file and no slot due: sleep until the next slot's time comes (the
            // earliest a slot can be read), the next flush, or an arrival in the timer
            // topic. Java's services look every 100 ms (at the default precision).
            let p = timer.config.precision_ms.max(1);
            let next_slot = timer.write_ms.load(Ordering::Acquire) + p - now_ms();
            let next_flush = flush_every.saturating_sub(last_flush.elapsed());
            let wait = Duration::from_millis(next_slot.clamp(1, p) as u64).min(next_flush);
            timer.arrived.wait(wait.max(Duration::from_millis(1)));
        }
    }
}

/// Files the next messages of the timer topic. True if any was read.
fn enqueue(state: &BrokerState, timer: &TimerService) -> bool {
    let mut offset = timer.queue_offset.load(Ordering::Relaxed);
    let Some((min, _max, units)) = state
        .store
        .consume_queue_entries(TIMER_TOPIC, 0, offset.max(0), ENQUEUE_BATCH)
    else {
        return false;
    };
    if offset < min {
        warn!(offset, min, "timer queue offset below the timer topic's first entry");
        timer.queue_offset.store(min, Ordering::Relaxed);
        return true;
    }
    let Some(units) = units else { return false };
    if units.is_empty() {
        return false;
    }
    let write_ms = timer.write_ms.load(Ordering::Acquire);
    let p = timer.config.precision_ms;
    let window = timer.config.roll_window_slots() * p;
    for unit in units {
        match state.store.message_by_commitlog_offset(unit.commit_log_offset) {
            None => warn!(offset, "timer message unreadable (CommitLog gone?), skipped"),
            Some((_, msg)) => {
                let out: Option<i64> = msg.property(tprop::TIMER_OUT_MS).and_then(|v| v.parse().ok());
                let real_topic = msg.property(prop::REAL_TOPIC).map(String::from);
                match (out, real_topic) {
                    (Some(delayed), Some(_)) if delayed < write_ms => {
                        // Its slot has passed already: deliver now, marked as never filed
                        // (a recall marker that late has nothing left to do).
                        if msg.property(tprop::TIMER_DEL_UNIQKEY).is_none() {
                            deliver(state, timer, msg, i64::MAX, false);
                        }
                    }
                    (Some(mut delayed), Some(real_topic)) => {
                        let mut magic = MAGIC_DEFAULT;
                        if delayed - write_ms >= window {
                            magic |= MAGIC_ROLL;
                            delayed = if delayed - write_ms - window < window / p / 3 * p {
                                write_ms + window / p / 2 * p
                            } else {
                                write_ms + window
                            };
                        }
                        if msg.property(tprop::TIMER_DEL_UNIQKEY).is_some() {
                            magic |= MAGIC_DELETE;
                        }
                        let appended = timer.files.lock().unwrap().append(
                            write_ms,
                            delayed,
                            magic,
                            unit.commit_log_offset,
                            unit.size,
                            &real_topic,
                        );
                        if let Err(e) = appended {
                            // Try again next round from this message.
                            error!("cannot append to the timer log: {e}");
                            timer.queue_offset.store(offset, Ordering::Relaxed);
                            timer.note_progress();
                            return false;
                        }
                        timer.enqueued.fetch_add(1, Ordering::Relaxed);
                        let delta = if magic & MAGIC_DELETE != 0 { -1 } else { 1 };
                        timer.metrics.add(&real_topic, delta);
                    }
                    _ => warn!(offset, "timer topic message without TIMER_OUT_MS / REAL_TOPIC, skipped"),
                }
            }
        }
        offset += 1;
        timer.queue_offset.store(offset, Ordering::Relaxed);
    }
    timer.note_progress();
    true
}

/// Delivers every slot whose time has passed. True if a slot held anything.
fn dequeue(state: &BrokerState, timer: &TimerService) -> bool {
    let p = timer.config.precision_ms;
    let mut busy = false;
    let mut empty_slots = 0;
    loop {
        if timer.stopped.is_set() {
            return busy;
        }
        let read_ms = timer.read_ms.load(Ordering::Relaxed);
        if read_ms >= timer.write_ms.load(Ordering::Acquire) {
            return busy;
        }
        let units = timer.files.lock().unwrap().slot_positions(read_ms);
        if units.is_empty() {
            timer.read_ms.store(read_ms + p, Ordering::Relaxed);
            empty_slots += 1;
            if empty_slots % 100_000 == 0 {
                timer.note_progress();
            }
            continue;
        }
        if !deliver_slot(state, timer, &units) {
            // Stopped part-way: the slot is read again after the restart (at-least-once).
            return busy;
        }
        timer.read_ms.store(read_ms + p, Ordering::Relaxed);
        timer.note_progress();
        busy = true;
        // Let enqueue run between busy slots.
        return busy;
    }
}

/// False if the service was stopped before the slot was through.
fn deliver_slot(state: &BrokerState, timer: &TimerService, positions: &[i64]) -> bool {
    let unit = |pos: i64| timer.files.lock().unwrap().log.read(pos);
    let is_marker = |u: &store::timer::TimerUnit| is_delete(u.magic) && !needs_roll(u.magic);
    // Recall markers first: the keys of the messages they take back.
    let mut recalled: HashSet<String> = HashSet::new();
    for u in positions.iter().filter_map(|p| unit(*p)).filter(|u| is_marker(u)) {
        if let Some((_, m)) = state.store.message_by_commitlog_offset(u.offset_py) {
            if let Some(key) = m.property(tprop::TIMER_DEL_UNIQKEY) {
                recalled.insert(key.to_string());
            }
        }
    }
    for u in positions.iter().filter_map(|p| unit(*p)).filter(|u| !is_marker(u)) {
        if timer.stopped.is_set() {
            return false;
        }
        let Some((_, m)) = state.store.message_by_commitlog_offset(u.offset_py) else {
            warn!(
                offset = u.offset_py,
                "timer message unreadable (CommitLog gone?), skipped"
            );
            continue;
        };
        if !recalled.is_empty() {
            if let (Some(topic), Some(uniq)) = (m.property(prop::REAL_TOPIC), m.property(prop::UNIQ_KEY)) {
                if recalled.contains(&delete_key(topic, uniq)) {
                    timer.recalled.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
        }
        deliver(state, timer, m, u.enqueue_ms, needs_roll(u.magic));
    }
    true
}

/// Puts a due message in its real topic and queue (or, rolling, back in the timer topic),
/// retrying as Java does: three tries unless `timerEnableRetryUntilSuccess`.
fn deliver(state: &BrokerState, timer: &TimerService, msg: DecodedMessage, enqueue_ms: i64, roll: bool) {
    // It leaves the wheel (a roll files it again, +1 then). One delivered at once, never
    // filed, was never counted.
    if enqueue_ms != i64::MAX {
        if let Some(real_topic) = msg.property(prop::REAL_TOPIC) {
            timer.metrics.add(real_topic, -1);
        }
    }
    let Some(out) = convert(msg, enqueue_ms, roll) else {
        warn!("timer message without REAL_TOPIC / REAL_QID, skipped");
        return;
    };
    let mut tries = 0;
    loop {
        let result = state.store.put_message(&out);
        match result.status {
            PutMessageStatus::PutOk => {
                if let Some(append) = &result.append {
                    state.stats.on_put(append);
                }
                if roll {
                    timer.rolled.fetch_add(1, Ordering::Relaxed);
                } else {
                    timer.delivered.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            PutMessageStatus::MessageIllegal | PutMessageStatus::PropertiesSizeExceeded => {
                warn!(topic = %out.topic, status = ?result.status, "timer message cannot be stored, skipped");
                return;
            }
            status => {
                tries += 1;
                if !timer.config.enable_retry_until_success && tries >= 3 {
                    error!(topic = %out.topic, ?status, "timer message not delivered after {tries} tries, dropped");
                    return;
                }
                if timer.stopped.is_set() {
                    return;
                }
                timer
                    .stopped
                    .sleep(Duration::from_millis((500 * timer.config.precision_ms / 1000) as u64));
            }
        }
    }
}

/// Java's convert: the message as it leaves the wheel. The stored properties text keeps
/// everything (REAL_TOPIC and REAL_QID included, plus the enqueue and dequeue times);
/// only the map the store acts on loses REAL_TOPIC / REAL_QID.
fn convert(msg: DecodedMessage, enqueue_ms: i64, roll: bool) -> Option<MessageToStore> {
    let mut props = msg.properties;
    if enqueue_ms != -1 {
        codec::insert_property(&mut props, tprop::TIMER_ENQUEUE_MS, &enqueue_ms.to_string());
    }
    if roll {
        let times = codec::get_property(&props, tprop::TIMER_ROLL_TIMES)
            .and_then(|v| v.parse::<i32>().ok())
            .map_or(1, |t| t + 1);
        codec::insert_property(&mut props, tprop::TIMER_ROLL_TIMES, &times.to_string());
    }
    codec::insert_property(&mut props, tprop::TIMER_DEQUEUE_MS, &now_ms().to_string());
    let text = codec::properties_string_java_order(&props);
    let (topic, queue_id) = if roll {
        (msg.topic.clone(), msg.queue_id)
    } else {
        let topic = codec::get_property(&props, prop::REAL_TOPIC)?.to_string();
        let queue_id: i32 = codec::get_property(&props, prop::REAL_QUEUE_ID)?.parse().ok()?;
        props.retain(|(k, _)| k != prop::REAL_TOPIC && k != prop::REAL_QUEUE_ID);
        (topic, queue_id)
    };
    let mut out = MessageToStore::new(&topic, queue_id, msg.body, props);
    out.properties_string = Some(text);
    out.flag = msg.flag;
    out.sys_flag = msg.sys_flag & !(sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6);
    out.born_timestamp = msg.born_timestamp;
    out.born_host = msg.born_host;
    out.store_host = msg.store_host;
    out.reconsume_times = msg.reconsume_times;
    out.wait_store_msg_ok = false;
    Some(out)
}
