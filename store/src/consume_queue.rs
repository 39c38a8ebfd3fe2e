//! A ConsumeQueue: the per-(topic, queue) index into the CommitLog, one
//! 20-byte unit per message (CommitLog offset i64, size i32, tag hash i64),
//! so queue offset N lives at byte N * 20.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use crate::codec;
use crate::mapped_file::MappedFileQueue;

pub const CQ_STORE_UNIT_SIZE: u64 = 20;

/// One ConsumeQueue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqUnit {
    pub commit_log_offset: i64,
    pub size: i32,
    pub tags_code: i64,
}

/// Consecutive published units of one file, decoded as they are iterated: a pull reads
/// up to 800 of them ahead (Java's 16,000-byte window) and usually stops after 32.
pub struct CqUnits {
    file: std::sync::Arc<crate::mapped_file::MappedFile>,
    pos: u64,
    n: usize,
}

impl CqUnits {
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = CqUnit> + '_ {
        // Checked readable when these units were taken; published bytes stay readable.
        let buf = self
            .file
            .read(self.pos, self.n * CQ_STORE_UNIT_SIZE as usize)
            .unwrap_or_default();
        buf.chunks_exact(CQ_STORE_UNIT_SIZE as usize)
            .map(|unit| unit_at(unit, 0))
    }
}

fn unit_at(buf: &[u8], at: usize) -> CqUnit {
    CqUnit {
        commit_log_offset: codec::read_i64(buf, at).unwrap_or(-1),
        size: codec::read_i32(buf, at + 8).unwrap_or(0),
        tags_code: codec::read_i64(buf, at + 12).unwrap_or(0),
    }
}

fn encode_unit(u: &CqUnit) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&u.commit_log_offset.to_be_bytes());
    b[8..12].copy_from_slice(&u.size.to_be_bytes());
    b[12..].copy_from_slice(&u.tags_code.to_be_bytes());
    b
}

pub struct ConsumeQueue {
    topic: String,
    queue_id: i32,
    queue: MappedFileQueue,
    /// End (offset + size) of the last CommitLog message indexed here.
    max_physic_offset: AtomicI64,
    /// Byte offset of the first live unit.
    min_logic_offset: AtomicI64,
    write_lock: Mutex<()>,
}

impl ConsumeQueue {
    pub fn new(root: &std::path::Path, topic: &str, queue_id: i32, file_size: u64) -> ConsumeQueue {
        let dir: PathBuf = root.join(topic).join(queue_id.to_string());
        ConsumeQueue {
            topic: topic.to_string(),
            queue_id,
            queue: MappedFileQueue::new_reserving_ahead(dir, file_size),
            max_physic_offset: AtomicI64::new(-1),
            min_logic_offset: AtomicI64::new(0),
            write_lock: Mutex::new(()),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }
    pub fn files(&self) -> &MappedFileQueue {
        &self.queue
    }
    pub fn max_physic_offset(&self) -> i64 {
        self.max_physic_offset.load(Ordering::Acquire)
    }
    pub fn load(&self) -> std::io::Result<()> {
        self.queue.load()
    }

    /// Finds the last valid unit (scanning the last three files) and cuts
    /// the queue there.
    pub fn recover(&self) -> std::io::Result<()> {
        let files = self.queue.files();
        if files.is_empty() {
            return Ok(());
        }
        let size = self.queue.file_size();
        let mut index = files.len().saturating_sub(3);
        let mut process = files[index].file_from_offset();
        let mut file_pos: u64;
        loop {
            let f = &files[index];
            let buf = f.read_unpublished(0);
            file_pos = 0;
            let mut at = 0u64;
            while at + CQ_STORE_UNIT_SIZE <= size {
                let u = unit_at(buf, at as usize);
                if u.commit_log_offset >= 0 && u.size > 0 {
                    file_pos = at + CQ_STORE_UNIT_SIZE;
                    self.max_physic_offset
                        .store(u.commit_log_offset + u.size as i64, Ordering::Release);
                } else {
                    break;
                }
                at += CQ_STORE_UNIT_SIZE;
            }
            f.drop_pages();
            if file_pos == size && index + 1 < files.len() {
                index += 1;
                process = files[index].file_from_offset();
                continue;
            }
            break;
        }
        self.queue.truncate_to(process + file_pos as i64)
    }

    /// Drops units pointing at or past `phys` (the end of valid CommitLog).
    pub fn truncate_dirty(&self, phys: i64) -> std::io::Result<()> {
        let _g = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let Some(last) = self.queue.last() else { break };
            let wrote = last.wrote_position();
            let buf = last.read_unpublished(0);
            let mut keep = 0u64;
            let mut at = 0u64;
            while at + CQ_STORE_UNIT_SIZE <= wrote {
                let u = unit_at(buf, at as usize);
                if u.commit_log_offset >= 0 && u.size > 0 && u.commit_log_offset < phys {
                    keep = at + CQ_STORE_UNIT_SIZE;
                } else {
                    break;
                }
                at += CQ_STORE_UNIT_SIZE;
            }
            if keep == 0 && wrote > 0 {
                self.queue.delete_last();
                continue;
            }
            if keep < wrote {
                self.queue.truncate_to(last.file_from_offset() + keep as i64)?;
            }
            break;
        }
        // Recompute the last indexed CommitLog end.
        let mut max_phys = -1;
        if let Some(last) = self.queue.last() {
            let wrote = last.wrote_position();
            if wrote >= CQ_STORE_UNIT_SIZE {
                if let Some(b) = last.read(wrote - CQ_STORE_UNIT_SIZE, CQ_STORE_UNIT_SIZE as usize) {
                    let u = unit_at(b, 0);
                    max_phys = u.commit_log_offset + u.size as i64;
                }
            }
        }
        self.max_physic_offset.store(max_phys, Ordering::Release);
        Ok(())
    }

    /// Appends the unit for queue offset `cq_offset`. A unit already present (the
    /// CommitLog re-dispatched after recovery) is skipped, which makes catching up
    /// harmless; but a slot that already holds a *different* CommitLog position means
    /// two records were given one queue offset, and is an error, never a silent skip.
    pub fn put(&self, unit: CqUnit, cq_offset: i64) -> std::io::Result<()> {
        let _g = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let expect = cq_offset * CQ_STORE_UNIT_SIZE as i64;
        if unit.commit_log_offset + unit.size as i64 <= self.max_physic_offset() {
            return self.check_already_indexed(unit, cq_offset);
        }
        // One look at the file list (the write lock keeps it from growing meanwhile).
        let last = self.queue.last();
        let was_empty = last.is_none();
        let f = self.queue.last_or_create_from(last, expect)?;
        if was_empty && cq_offset != 0 && f.wrote_position() == 0 {
            // The queue starts mid-way (older CommitLog files are gone):
            // fill the units before it with placeholders, as Java does.
            self.min_logic_offset.store(expect, Ordering::Release);
            let filler = encode_unit(&CqUnit {
                commit_log_offset: 0,
                size: i32::MAX,
                tags_code: 0,
            });
            let until = (expect - f.file_from_offset()) as u64;
            f.ensure_reserved(until)?;
            while f.wrote_position() < until {
                f.append(&filler);
            }
        }
        if cq_offset != 0 {
            let current = f.file_from_offset() + f.wrote_position() as i64;
            if expect < current {
                return self.check_already_indexed(unit, cq_offset);
            }
            if expect != current {
                tracing::warn!(topic = %self.topic, queue = self.queue_id, expect, current, "consume queue gap");
            }
        }
        f.ensure_reserved(f.wrote_position() + CQ_STORE_UNIT_SIZE)?;
        if !f.append(&encode_unit(&unit)) {
            return Err(std::io::Error::other("consume queue file full"));
        }
        self.max_physic_offset
            .store(unit.commit_log_offset + unit.size as i64, Ordering::Release);
        Ok(())
    }

    /// For a unit that is not new: Ok when its slot holds this very record, an error
    /// naming both records when the slot holds another one (or is missing).
    fn check_already_indexed(&self, unit: CqUnit, cq_offset: i64) -> std::io::Result<()> {
        match self.unit(cq_offset) {
            Some(u) if u.commit_log_offset == unit.commit_log_offset => Ok(()),
            // Placeholder units before a queue's first live message (see above).
            Some(u) if u.size == i32::MAX && u.commit_log_offset == 0 => Ok(()),
            found => {
                let msg = match found {
                    Some(u) => format!(
                        "queue offset {cq_offset} of {}/{} already holds the record at CommitLog offset {}; \
                         the record at {} claims it too and cannot be indexed",
                        self.topic, self.queue_id, u.commit_log_offset, unit.commit_log_offset
                    ),
                    None => format!(
                        "the record at CommitLog offset {} (queue offset {cq_offset} of {}/{}) lies before \
                         what this queue has indexed, but its slot is missing",
                        unit.commit_log_offset, self.topic, self.queue_id
                    ),
                };
                Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, msg))
            }
        }
    }

    /// Queue offset one past the last unit.
    pub fn max_offset_in_queue(&self) -> i64 {
        self.queue.max_offset() / CQ_STORE_UNIT_SIZE as i64
    }

    /// Queue offset of the first live unit.
    pub fn min_offset_in_queue(&self) -> i64 {
        self.min_logic_offset.load(Ordering::Acquire) / CQ_STORE_UNIT_SIZE as i64
    }

    /// Moves the minimum to the first unit that points at or past `phy_min`.
    pub fn correct_min_offset(&self, phy_min: i64) {
        let Some(first) = self.queue.first() else { return };
        let wrote = first.wrote_position();
        let Some(buf) = first.read(0, wrote as usize) else {
            return;
        };
        let mut at = 0u64;
        while at + CQ_STORE_UNIT_SIZE <= wrote {
            let u = unit_at(buf, at as usize);
            if u.commit_log_offset >= phy_min {
                self.min_logic_offset
                    .store(first.file_from_offset() + at as i64, Ordering::Release);
                return;
            }
            at += CQ_STORE_UNIT_SIZE;
        }
        // Nothing live in the first file: the minimum is past it.
        if wrote > 0 {
            self.min_logic_offset
                .store(first.file_from_offset() + wrote as i64, Ordering::Release);
        }
    }

    /// Units from queue offset `start` to the end of the file holding it
    /// (at most `max` units). None when `start` is below the minimum or its
    /// file is gone.
    pub fn units_from(&self, start: i64, max: usize) -> Option<CqUnits> {
        let offset = start * CQ_STORE_UNIT_SIZE as i64;
        if offset < self.min_logic_offset.load(Ordering::Acquire) {
            return None;
        }
        let file = self.queue.find_by_offset(offset)?;
        let pos = (offset - file.file_from_offset()) as u64;
        let wrote = file.wrote_position();
        let n = if pos >= wrote {
            0
        } else {
            (((wrote - pos) / CQ_STORE_UNIT_SIZE) as usize).min(max)
        };
        file.read(pos, n * CQ_STORE_UNIT_SIZE as usize)?;
        Some(CqUnits { file, pos, n })
    }

    /// The unit at queue offset `index`.
    pub fn unit(&self, index: i64) -> Option<CqUnit> {
        self.units_from(index, 1)?.iter().next()
    }

    /// First queue offset of the file after the one holding `index`.
    pub fn roll_next_file(&self, index: i64) -> i64 {
        let per_file = (self.queue.file_size() / CQ_STORE_UNIT_SIZE) as i64;
        index + per_file - index.rem_euclid(per_file)
    }

    /// Deletes leading files whose last unit points below `phy_min`, then
    /// corrects the minimum. Never deletes the last file.
    pub fn delete_expired(&self, phy_min: i64) -> usize {
        let files = self.queue.files();
        let mut n = 0;
        for f in files.iter().take(files.len().saturating_sub(1)) {
            let wrote = f.wrote_position();
            if wrote < CQ_STORE_UNIT_SIZE {
                break;
            }
            match f.read(wrote - CQ_STORE_UNIT_SIZE, CQ_STORE_UNIT_SIZE as usize) {
                Some(b) if unit_at(b, 0).commit_log_offset < phy_min => n += 1,
                _ => break,
            }
        }
        let deleted = self.queue.delete_first_n(n);
        self.correct_min_offset(phy_min);
        deleted
    }

    /// Whether some unit is written but not yet flushed.
    pub fn has_unflushed(&self) -> bool {
        self.queue.has_unflushed()
    }

    pub fn flush(&self, least_pages: u32) -> std::io::Result<()> {
        self.queue.flush(least_pages).map(|_| ())
    }

    /// Unmaps this queue's pages from the process (they stay in the page cache); the
    /// next write or read maps its page again. Keeps the resident set to recent activity.
    /// `all`: every page, also those consumers read back in (a system call per file);
    /// otherwise only the whole pages written since the last call (none for a queue that
    /// did not grow by a page).
    pub fn release_pages(&self, all: bool) {
        self.queue.for_each_file(|f| {
            if all {
                f.drop_pages();
            } else {
                f.release_written_pages();
            }
        });
    }

    /// Records that all units are on disk (after a file-system-wide sync).
    pub fn mark_flushed(&self) {
        self.queue.mark_flushed();
    }

    /// Removes all files of this queue.
    pub fn destroy(&self) {
        self.queue.destroy();
        self.max_physic_offset.store(-1, Ordering::Release);
        self.min_logic_offset.store(0, Ordering::Release);
        let _ = std::fs::remove_dir(self.queue.dir());
    }
}
