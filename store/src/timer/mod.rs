//! The files of the timer (RocketMQ 5.x arbitrary-delay messages), laid out as Java's
//! `TimerMessageStore` lays them out under the store root: `timerwheel` (see [`wheel`]),
//! `timerlog/` (see [`log`]) and `config/timercheck` (see [`checkpoint`]). The broker's
//! timer service (broker/src/timer) decides what goes in and delivers what comes due;
//! this module keeps the files and rebuilds the wheel from the log after a crash.

pub mod checkpoint;
pub mod log;
pub mod wheel;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

pub use checkpoint::{TimerCheckpoint, TimerCheckpointData};
pub use log::{TimerLog, TimerUnit, UNIT_SIZE};
pub use wheel::{Slot, TimerWheel};

/// The system topic timer messages wait in (queue 0).
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";

/// Message properties of timer messages (Java's MessageConst names).
pub mod property {
    pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
    pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
    pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
    pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
    pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
    pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
    pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
    pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
    pub const TIMER_DELAY_LEVEL: &str = "TIMER_DELAY_LEVEL";
}

/// Days the wheel spans (at 1 s precision; the slot count is fixed whatever the precision).
pub const TIMER_WHEEL_TTL_DAY: i64 = 7;
pub const DAY_SECS: i64 = 24 * 3600;
/// Slots kept clear between the read time and the wheel's far end.
pub const TIMER_BLANK_SLOTS: i64 = 60;

/// Record magic bits.
pub const MAGIC_DEFAULT: i32 = 1;
pub const MAGIC_ROLL: i32 = 1 << 1;
pub const MAGIC_DELETE: i32 = 1 << 2;

pub fn needs_roll(magic: i32) -> bool {
    magic & MAGIC_ROLL != 0
}
pub fn is_delete(magic: i32) -> bool {
    magic & MAGIC_DELETE != 0
}

/// The recall key of a message: real topic and unique key.
pub fn delete_key(real_topic: &str, uniq_key: &str) -> String {
    format!("{real_topic}+{uniq_key}")
}

/// Timer settings, with Java's MessageStoreConfig names and defaults.
#[derive(Debug, Clone)]
pub struct TimerConfig {
    /// `timerWheelEnable`
    pub wheel_enable: bool,
    /// `timerPrecisionMs`: snapped to 100, 200, 500 or 1000 as Java's setter does.
    pub precision_ms: i64,
    /// `timerMaxDelaySec`
    pub max_delay_sec: i64,
    /// `timerRollWindowSlot`
    pub roll_window_slot: i64,
    /// `timerFlushIntervalMs`
    pub flush_interval_ms: u64,
    /// `timerCongestNumEachSlot`
    pub congest_num_each_slot: i64,
    /// `mappedFileSizeTimerLog`
    pub mapped_file_size_timer_log: u64,
    /// `timerStopEnqueue`
    pub stop_enqueue: bool,
    /// `timerStopDequeue`
    pub stop_dequeue: bool,
    /// `timerEnableRetryUntilSuccess`
    pub enable_retry_until_success: bool,
    /// `timerSkipUnknownError`
    pub skip_unknown_error: bool,
    /// `timerProgressLogIntervalMs`
    pub progress_log_interval_ms: u64,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            wheel_enable: true,
            precision_ms: 1000,
            max_delay_sec: 3600 * 24 * 3,
            roll_window_slot: 3600 * 24 * 2,
            flush_interval_ms: 1000,
            congest_num_each_slot: i32::MAX as i64,
            mapped_file_size_timer_log: 100 * 1024 * 1024,
            stop_enqueue: false,
            stop_dequeue: false,
            enable_retry_until_success: false,
            skip_unknown_error: false,
            progress_log_interval_ms: 10_000,
        }
    }
}

/// Java's `setTimerPrecisionMs`: the largest of 100, 200, 500, 1000 not above the value
/// (100 below that).
pub fn snap_precision(ms: i64) -> i64 {
    let candidates = [100, 200, 500, 1000];
    for i in 1..candidates.len() {
        if ms < candidates[i] {
            return candidates[i - 1];
        }
    }
    1000
}

impl TimerConfig {
    /// The defaults overridden by whichever Java keys `props` names; an unreadable value
    /// keeps the default (and is logged).
    pub fn from_properties(props: &HashMap<String, String>) -> TimerConfig {
        let mut c = TimerConfig::default();
        fn parse<T: std::str::FromStr>(props: &HashMap<String, String>, key: &str, into: &mut T) {
            if let Some(v) = props.get(key) {
                match v.trim().parse() {
                    Ok(x) => *into = x,
                    Err(_) => tracing::warn!(key, value = %v, "unreadable timer setting, default kept"),
                }
            }
        }
        parse(props, "timerWheelEnable", &mut c.wheel_enable);
        let mut precision = c.precision_ms;
        parse(props, "timerPrecisionMs", &mut precision);
        c.precision_ms = snap_precision(precision);
        parse(props, "timerMaxDelaySec", &mut c.max_delay_sec);
        parse(props, "timerRollWindowSlot", &mut c.roll_window_slot);
        parse(props, "timerFlushIntervalMs", &mut c.flush_interval_ms);
        parse(props, "timerCongestNumEachSlot", &mut c.congest_num_each_slot);
        parse(props, "mappedFileSizeTimerLog", &mut c.mapped_file_size_timer_log);
        parse(props, "timerStopEnqueue", &mut c.stop_enqueue);
        parse(props, "timerStopDequeue", &mut c.stop_dequeue);
        parse(props, "timerEnableRetryUntilSuccess", &mut c.enable_retry_until_success);
        parse(props, "timerSkipUnknownError", &mut c.skip_unknown_error);
        parse(props, "timerProgressLogIntervalMs", &mut c.progress_log_interval_ms);
        c
    }

    /// Slots in one lap of the wheel (the file holds two laps).
    pub fn slots_total(&self) -> i64 {
        TIMER_WHEEL_TTL_DAY * DAY_SECS
    }

    /// The roll window in slots, bounded as Java bounds it.
    pub fn roll_window_slots(&self) -> i64 {
        let total = self.slots_total();
        if self.roll_window_slot > total - TIMER_BLANK_SLOTS || self.roll_window_slot < 2 {
            total - TIMER_BLANK_SLOTS
        } else {
            self.roll_window_slot
        }
    }

    pub fn format_time(&self, ms: i64) -> i64 {
        ms / self.precision_ms * self.precision_ms
    }
}

pub fn wheel_path(root: &Path) -> PathBuf {
    root.join("timerwheel")
}
pub fn log_path(root: &Path) -> PathBuf {
    root.join("timerlog")
}
pub fn checkpoint_path(root: &Path) -> PathBuf {
    root.join("config").join("timercheck")
}

/// Java's String.hashCode of the real topic (stored in each record for metrics).
pub fn topic_hash(topic: &str) -> i32 {
    crate::codec::java_string_hash(topic)
}

/// The wheel, the log and the checkpoint, opened and recovered.
pub struct TimerFiles {
    pub config: TimerConfig,
    pub wheel: TimerWheel,
    pub log: TimerLog,
    pub checkpoint: TimerCheckpoint,
}

/// What recovery found.
#[derive(Debug, Clone, Copy)]
pub struct Recovered {
    /// End of the valid timer log.
    pub log_end: i64,
    /// The last record of the log, if any (it names the last message enqueued).
    pub last_unit: Option<TimerUnit>,
}

impl TimerFiles {
    /// Opens the files under `root` and rebuilds the wheel from the log records written
    /// since the checkpoint's flushed position (less one file, as Java does), cutting the
    /// log after its last valid record.
    pub fn open(root: &Path, config: TimerConfig) -> io::Result<(TimerFiles, Recovered)> {
        let wheel = TimerWheel::open(&wheel_path(root), config.slots_total(), config.precision_ms)?;
        let log = TimerLog::new(log_path(root), config.mapped_file_size_timer_log);
        log.files.load()?;
        let checkpoint = TimerCheckpoint::open(&checkpoint_path(root))?;
        let mut files = TimerFiles {
            config,
            wheel,
            log,
            checkpoint,
        };
        let from = (files.checkpoint.data.last_timer_log_flush_pos - files.log.file_size() as i64).max(0);
        let log_end = files.recover_from(from, true)?;
        let last_unit = if log_end >= UNIT_SIZE as i64 {
            files.log.read(log_end - UNIT_SIZE as i64)
        } else {
            None
        };
        Ok((files, Recovered { log_end, last_unit }))
    }

    /// Re-reads the log from the file holding `begin`, pointing each record's slot at it;
    /// with `check`, stops at the first invalid record and cuts the log there. Returns
    /// where the valid log ends.
    pub fn recover_from(&mut self, begin: i64, check: bool) -> io::Result<i64> {
        let all = self.log.files.files();
        if all.is_empty() {
            return Ok(0);
        }
        let start = all.iter().rposition(|f| begin >= f.file_from_offset()).unwrap_or(0);
        let mut end = all[start].file_from_offset();
        let file_size = self.log.file_size() as usize;
        'files: for f in &all[start..] {
            let data = f.read_unpublished(0);
            let limit = if check { file_size } else { f.wrote_position() as usize };
            let mut pos = 0usize;
            let mut stop = false;
            while pos + UNIT_SIZE <= limit.min(data.len()) {
                let b = &data[pos..pos + UNIT_SIZE];
                let magic = i32::from_be_bytes(b[12..16].try_into().unwrap());
                if magic == log::BLANK_MAGIC_CODE {
                    pos = file_size;
                    break;
                }
                match TimerUnit::decode(b) {
                    Some(u) => self.wheel.revise_last(u.delayed_ms, f.file_from_offset() + pos as i64),
                    None if check => {
                        stop = true;
                        break;
                    }
                    None => {}
                }
                pos += UNIT_SIZE;
            }
            if pos + UNIT_SIZE > file_size && !stop {
                // Too little room for another record: the file is full.
                pos = file_size;
            }
            end = f.file_from_offset() + pos as i64;
            if stop {
                break 'files;
            }
        }
        if check {
            self.log.files.truncate_to(end)?;
        }
        Ok(end)
    }

    /// Appends a record for a timer due in slot `delayed_ms` and links it into the slot.
    /// The record's position.
    pub fn append(
        &mut self,
        write_time_ms: i64,
        delayed_ms: i64,
        magic: i32,
        offset_py: i64,
        size_py: i32,
        real_topic: &str,
    ) -> io::Result<i64> {
        let slot = self.wheel.get(delayed_ms);
        let unit = TimerUnit {
            prev_pos: slot.map_or(-1, |s| s.last_pos),
            magic,
            enqueue_ms: write_time_ms,
            delayed_ms,
            offset_py,
            size_py,
            topic_hash: topic_hash(real_topic),
        };
        let pos = self.log.append(&unit.encode())?;
        let (first, num, slot_magic) = match slot {
            Some(s) => (s.first_pos, s.num, s.magic),
            None => (pos, 0, 0),
        };
        let num = if is_delete(magic) { num - 1 } else { num + 1 };
        self.wheel.put(delayed_ms, first, pos, num, slot_magic);
        Ok(pos)
    }

    /// The positions of the records of the slot at `time_ms`, oldest first (8 bytes per
    /// timer; the records are read again from the mapped log when needed).
    pub fn slot_positions(&self, time_ms: i64) -> Vec<i64> {
        let Some(slot) = self.wheel.get(time_ms) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut pos = slot.last_pos;
        // Records chain backwards; the bounds guard against a damaged log.
        let min = self.log.files.min_offset();
        while pos >= min && pos >= 0 {
            let Some(u) = self.log.read(pos) else { break };
            out.push(pos);
            if u.prev_pos >= pos {
                break;
            }
            pos = u.prev_pos;
        }
        out.reverse();
        out
    }

    /// The records of the slot at `time_ms`, oldest first, with their positions.
    pub fn slot_units(&self, time_ms: i64) -> Vec<(i64, TimerUnit)> {
        self.slot_positions(time_ms)
            .into_iter()
            .filter_map(|p| self.log.read(p).map(|u| (p, u)))
            .collect()
    }

    /// Deletes the leading timer log files (never the last) whose last record names a
    /// CommitLog offset below `min_commit_log_offset`: their messages are gone, so are
    /// those of every earlier record. The number of files deleted.
    pub fn delete_expired(&mut self, min_commit_log_offset: i64) -> usize {
        let all = self.log.files.files();
        let size = self.log.file_size() as i64;
        let last_unit = (size - log::MIN_BLANK_LEN as i64) / UNIT_SIZE as i64 * UNIT_SIZE as i64 - UNIT_SIZE as i64;
        let mut n = 0;
        for f in all.iter().take(all.len().saturating_sub(1)) {
            match self.log.read(f.file_from_offset() + last_unit) {
                Some(u) if u.offset_py < min_commit_log_offset => n += 1,
                _ => break,
            }
        }
        if n > 0 {
            self.log.files.delete_first_n(n)
        } else {
            0
        }
    }

    /// Flushes the log and the wheel, then the checkpoint with `data` (whose flushed log
    /// position is set here).
    pub fn flush(&mut self, mut data: TimerCheckpointData) -> io::Result<()> {
        let flushed = self.log.files.flush(0)?;
        self.wheel.flush()?;
        data.last_timer_log_flush_pos = flushed;
        self.checkpoint.data = data;
        self.checkpoint.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_chain_per_slot_and_the_wheel_is_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let config = TimerConfig {
            mapped_file_size_timer_log: 52 * 4 + 20,
            ..TimerConfig::default()
        };
        let (mut files, rec) = TimerFiles::open(dir.path(), config.clone()).unwrap();
        assert_eq!(rec.log_end, 0);
        let a = 1_700_000_000_000;
        let b = a + 1000;
        let mut written = Vec::new();
        // Six records over two slots: they spill into a second and third log file.
        for i in 0..6 {
            let slot = if i % 2 == 0 { a } else { b };
            let magic = if i == 4 {
                MAGIC_DEFAULT | MAGIC_DELETE
            } else {
                MAGIC_DEFAULT
            };
            let pos = files.append(a - 5000, slot, magic, 100 + i, 200, "T").unwrap();
            written.push((slot, pos));
        }
        assert_eq!(files.log.files.files().len(), 2);
        let in_a: Vec<i64> = written.iter().filter(|(s, _)| *s == a).map(|(_, p)| *p).collect();
        assert_eq!(files.slot_positions(a), in_a);
        let units = files.slot_units(a);
        assert_eq!(
            units.iter().map(|(_, u)| u.offset_py).collect::<Vec<_>>(),
            [100, 102, 104]
        );
        assert!(is_delete(units[2].1.magic));
        assert_eq!(units[0].1.delayed_ms, a);
        assert_eq!(units[0].1.enqueue_ms, a - 5000);
        // One count per timer, less one per recall marker.
        assert_eq!(files.wheel.get(a).unwrap().num, 1);
        assert_eq!(files.wheel.get(b).unwrap().num, 3);
        assert!(files.wheel.get(a + 2000).is_none());
        files.flush(TimerCheckpointData::default()).unwrap();
        drop(files);

        // The wheel lost (as after a crash before it reached the disk): rebuilt from the log.
        std::fs::remove_file(wheel_path(dir.path())).unwrap();
        let (files, rec) = TimerFiles::open(dir.path(), config).unwrap();
        assert_eq!(rec.last_unit.unwrap().offset_py, 105);
        assert_eq!(
            files.slot_units(a).iter().map(|(_, u)| u.offset_py).collect::<Vec<_>>(),
            [100, 102, 104]
        );
        assert_eq!(
            files.slot_units(b).iter().map(|(_, u)| u.offset_py).collect::<Vec<_>>(),
            [101, 103, 105]
        );
        assert_eq!(files.checkpoint.data.last_timer_log_flush_pos, rec.log_end);

        // The first file's last record names CommitLog offset 103: it goes once the
        // CommitLog starts past that, never the last file.
        let mut files = files;
        assert_eq!(files.delete_expired(103), 0);
        assert_eq!(files.delete_expired(104), 1);
        assert_eq!(files.delete_expired(i64::MAX), 0);
        assert_eq!(files.log.files.files().len(), 1);
        assert_eq!(
            files.slot_units(a).iter().map(|(_, u)| u.offset_py).collect::<Vec<_>>(),
            [104]
        );
    }

    #[test]
    fn precision_snaps_like_javas_setter() {
        assert_eq!(snap_precision(50), 100);
        assert_eq!(snap_precision(150), 100);
        assert_eq!(snap_precision(250), 200);
        assert_eq!(snap_precision(999), 500);
        assert_eq!(snap_precision(1000), 1000);
        assert_eq!(snap_precision(5000), 1000);
        assert_eq!(log::BLANK_MAGIC_CODE, (0xBBCC_DDEE_u32 as i32) ^ 1_880_681_594);
    }
}
