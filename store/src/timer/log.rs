//! `timerlog`: append-only files of fixed 52-byte records, one per timer put in the wheel
//! (or per roll of a far timer, or per recall marker). Each record points at the timer
//! topic's copy of the message in the CommitLog and at the previous record of the same
//! wheel slot. Files are named by their starting offset, like CommitLog files; a file's
//! unused tail starts with a blank header.
//!
//! Record (big-endian): size (i32, 52), previous record of the slot (i64, -1 for none),
//! magic (i32), write time when enqueued (i64), delivery time minus that write time (i32),
//! CommitLog offset (i64), record size (i32), hash of the real topic (i32), reserved (i64).

use std::io;
use std::path::PathBuf;

use crate::mapped_file::MappedFileQueue;

pub const UNIT_SIZE: usize = 52;
/// Where the CommitLog offset sits in a record.
pub const UNIT_PRE_SIZE_FOR_MSG: usize = 28;
/// Header of a file's blank tail: size, zero, magic.
pub const MIN_BLANK_LEN: usize = 16;
pub const BLANK_MAGIC_CODE: i32 = (0xBBCC_DDEE_u32 as i32) ^ (1_880_681_586 + 8);

/// One record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerUnit {
    pub prev_pos: i64,
    pub magic: i32,
    /// The wheel's write time when the record was written.
    pub enqueue_ms: i64,
    /// The slot time the record sits in.
    pub delayed_ms: i64,
    pub offset_py: i64,
    pub size_py: i32,
    pub topic_hash: i32,
}

impl TimerUnit {
    pub fn encode(&self) -> [u8; UNIT_SIZE] {
        let mut b = [0u8; UNIT_SIZE];
        b[0..4].copy_from_slice(&(UNIT_SIZE as i32).to_be_bytes());
        b[4..12].copy_from_slice(&self.prev_pos.to_be_bytes());
        b[12..16].copy_from_slice(&self.magic.to_be_bytes());
        b[16..24].copy_from_slice(&self.enqueue_ms.to_be_bytes());
        b[24..28].copy_from_slice(&((self.delayed_ms - self.enqueue_ms) as i32).to_be_bytes());
        b[28..36].copy_from_slice(&self.offset_py.to_be_bytes());
        b[36..40].copy_from_slice(&self.size_py.to_be_bytes());
        b[40..44].copy_from_slice(&self.topic_hash.to_be_bytes());
        b
    }

    /// Decodes a record; None for a blank header or anything not a record.
    pub fn decode(b: &[u8]) -> Option<TimerUnit> {
        if b.len() < UNIT_SIZE {
            return None;
        }
        let i = |p: usize| i32::from_be_bytes(b[p..p + 4].try_into().unwrap());
        let l = |p: usize| i64::from_be_bytes(b[p..p + 8].try_into().unwrap());
        let magic = i(12);
        if i(0) != UNIT_SIZE as i32 || !magic_ok(magic) {
            return None;
        }
        let enqueue_ms = l(16);
        Some(TimerUnit {
            prev_pos: l(4),
            magic,
            enqueue_ms,
            delayed_ms: enqueue_ms + i(24) as i64,
            offset_py: l(28),
            size_py: i(36),
            topic_hash: i(40),
        })
    }
}

/// Java's check: only the low four bits may be set.
pub fn magic_ok(magic: i32) -> bool {
    (magic | 0xF) == 0xF
}

pub struct TimerLog {
    pub files: MappedFileQueue,
    file_size: u64,
}

impl TimerLog {
    pub fn new(dir: PathBuf, file_size: u64) -> TimerLog {
        TimerLog {
            files: MappedFileQueue::new(dir, file_size),
            file_size,
        }
    }

    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Appends a record; its position, or None when no file could be made.
    pub fn append(&self, unit: &[u8; UNIT_SIZE]) -> io::Result<i64> {
        let mut file = self.files.last_or_create(0)?;
        if (UNIT_SIZE + MIN_BLANK_LEN) as u64 > file.remaining() {
            let mut blank = [0u8; MIN_BLANK_LEN];
            blank[0..4].copy_from_slice(&(file.remaining() as i32).to_be_bytes());
            blank[12..16].copy_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
            if !file.append(&blank) {
                return Err(io::Error::other("cannot write the timer log's blank tail"));
            }
            file.publish(file.size());
            file = self.files.last_or_create(0)?;
        }
        let pos = file.file_from_offset() + file.wrote_position() as i64;
        if !file.append(unit) {
            return Err(io::Error::other("cannot append to the timer log"));
        }
        Ok(pos)
    }

    /// The record at `pos`, if written.
    pub fn read(&self, pos: i64) -> Option<TimerUnit> {
        let f = self.files.find_by_offset(pos)?;
        let at = (pos - f.file_from_offset()) as u64;
        TimerUnit::decode(f.read(at, UNIT_SIZE)?)
    }

    /// Offset just past the last record.
    pub fn end(&self) -> i64 {
        self.files.max_offset()
    }
}
