//! `config/timercheck`: the timer's progress, in a 4 KiB file whose first 56 bytes are
//! seven big-endian i64s: last fully delivered wheel time, timer log flushed position,
//! timer topic queue offset enqueued so far, the same offset as the master knows it, and
//! a data version (state version, timestamp, counter).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

const FILE_SIZE: u64 = 4096;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerCheckpointData {
    pub last_read_time_ms: i64,
    pub last_timer_log_flush_pos: i64,
    pub last_timer_queue_offset: i64,
    pub master_timer_queue_offset: i64,
    pub state_version: i64,
    pub timestamp: i64,
    pub counter: i64,
}

impl TimerCheckpointData {
    pub fn encode(&self) -> [u8; 56] {
        let mut b = [0u8; 56];
        for (i, v) in [
            self.last_read_time_ms,
            self.last_timer_log_flush_pos,
            self.last_timer_queue_offset,
            self.master_timer_queue_offset,
            self.state_version,
            self.timestamp,
            self.counter,
        ]
        .iter()
        .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
        }
        b
    }

    pub fn decode(b: &[u8]) -> TimerCheckpointData {
        let l = |i: usize| {
            b.get(i * 8..i * 8 + 8)
                .map(|s| i64::from_be_bytes(s.try_into().unwrap()))
                .unwrap_or(0)
        };
        TimerCheckpointData {
            last_read_time_ms: l(0),
            last_timer_log_flush_pos: l(1),
            last_timer_queue_offset: l(2),
            master_timer_queue_offset: l(3),
            state_version: l(4),
            timestamp: l(5),
            counter: l(6),
        }
    }
}

pub struct TimerCheckpoint {
    file: File,
    pub data: TimerCheckpointData,
    /// Whether the file existed before.
    pub existed: bool,
}

impl TimerCheckpoint {
    pub fn open(path: &Path) -> io::Result<TimerCheckpoint> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if file.metadata()?.len() < FILE_SIZE {
            file.set_len(FILE_SIZE)?;
        }
        let mut b = [0u8; 56];
        file.read_exact_at(&mut b, 0)?;
        Ok(TimerCheckpoint {
            file,
            data: TimerCheckpointData::decode(&b),
            existed,
        })
    }

    /// Writes the values to the file (the page cache: safe from a killed process).
    pub fn write(&self) -> io::Result<()> {
        self.file.write_all_at(&self.data.encode(), 0)
    }

    /// Writes and syncs.
    pub fn flush(&self) -> io::Result<()> {
        self.write()?;
        self.file.sync_data()
    }
}
