//! The `checkpoint` file: one 4 KiB page holding three i64 store timestamps
//! (at 0: last flushed CommitLog message, at 8: last ConsumeQueue entry, at
//! 16: last durable IndexFile entry). Abnormal recovery starts from the
//! CommitLog file whose first message is older than these.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

const CHECKPOINT_FILE_SIZE: usize = 4096;

pub struct Checkpoint {
    path: PathBuf,
    physic_msg_timestamp: AtomicI64,
    logics_msg_timestamp: AtomicI64,
    index_msg_timestamp: AtomicI64,
    write_lock: Mutex<()>,
}

impl Checkpoint {
    /// Reads the file (all zeros when missing or short).
    pub fn open(path: &Path) -> io::Result<Checkpoint> {
        let mut buf = [0u8; 24];
        if let Ok(mut f) = std::fs::File::open(path) {
            let mut all = Vec::new();
            f.read_to_end(&mut all)?;
            let n = all.len().min(24);
            buf[..n].copy_from_slice(&all[..n]);
        }
        let get = |i: usize| i64::from_be_bytes(buf[i..i + 8].try_into().unwrap_or([0; 8]));
        Ok(Checkpoint {
            path: path.to_path_buf(),
            physic_msg_timestamp: AtomicI64::new(get(0)),
            logics_msg_timestamp: AtomicI64::new(get(8)),
            index_msg_timestamp: AtomicI64::new(get(16)),
            write_lock: Mutex::new(()),
        })
    }

    pub fn physic_msg_timestamp(&self) -> i64 {
        self.physic_msg_timestamp.load(Ordering::Relaxed)
    }
    pub fn logics_msg_timestamp(&self) -> i64 {
        self.logics_msg_timestamp.load(Ordering::Relaxed)
    }
    pub fn index_msg_timestamp(&self) -> i64 {
        self.index_msg_timestamp.load(Ordering::Relaxed)
    }
    pub fn set_physic_msg_timestamp(&self, t: i64) {
        self.physic_msg_timestamp.store(t, Ordering::Relaxed)
    }
    pub fn set_logics_msg_timestamp(&self, t: i64) {
        self.logics_msg_timestamp.store(t, Ordering::Relaxed)
    }
    pub fn set_index_msg_timestamp(&self, t: i64) {
        self.index_msg_timestamp.store(t, Ordering::Relaxed)
    }

    /// The older of the CommitLog and ConsumeQueue timestamps, less 3 s of slack.
    pub fn min_timestamp(&self) -> i64 {
        (self.physic_msg_timestamp().min(self.logics_msg_timestamp()) - 3000).max(0)
    }

    /// Like `min_timestamp`, also bounded by the index timestamp.
    pub fn min_timestamp_index(&self) -> i64 {
        self.min_timestamp().min(self.index_msg_timestamp())
    }

    /// Writes the three timestamps and syncs.
    pub fn flush(&self) -> io::Result<()> {
        let _g = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)?;
        if f.metadata()?.len() < CHECKPOINT_FILE_SIZE as u64 {
            f.set_len(CHECKPOINT_FILE_SIZE as u64)?;
        }
        let mut buf = [0u8; 24];
        buf[0..8].copy_from_slice(&self.physic_msg_timestamp().to_be_bytes());
        buf[8..16].copy_from_slice(&self.logics_msg_timestamp().to_be_bytes());
        buf[16..24].copy_from_slice(&self.index_msg_timestamp().to_be_bytes());
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&buf)?;
        f.sync_data()
    }
}
