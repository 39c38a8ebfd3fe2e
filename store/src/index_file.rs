//! IndexFile: a hash index from `topic#key` to CommitLog offsets.
//!
//! Layout: a 40-byte header (begin/end store timestamp i64, begin/end
//! CommitLog offset i64, used slot count i32, entry count i32), then
//! `maxHashSlotNum` 4-byte slots holding the newest entry number for the
//! slot, then `maxIndexNum` 20-byte entries (key hash i32, CommitLog offset
//! i64, seconds since the begin timestamp i32, previous entry number i32).
//! Entry number 0 is never used, so a zero slot means empty. Files are named
//! by their creation time (yyyyMMddHHmmssSSS, local time).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::codec;
use crate::mapped_file::MappedFile;

pub const INDEX_HEADER_SIZE: u64 = 40;
const HASH_SLOT_SIZE: u64 = 4;
const INDEX_SIZE: u64 = 20;

/// The key hash: Java's String.hashCode made non-negative.
pub fn index_key_hash(key: &str) -> i32 {
    let h = codec::java_string_hash(key);
    if h == i32::MIN {
        0
    } else {
        h.abs()
    }
}

/// Header values, mirrored in memory and written back to the file.
#[derive(Debug, Clone, Copy, Default)]
struct Header {
    begin_timestamp: i64,
    end_timestamp: i64,
    begin_phy_offset: i64,
    end_phy_offset: i64,
    hash_slot_count: i32,
    index_count: i32,
}

/// A file name for an index created at `millis` (local time, like Java).
pub fn index_file_name(millis: i64) -> String {
    crate::local_time::LocalTime::at(millis).compact_string()
}

pub struct IndexFile {
    file: MappedFile,
    hash_slot_num: u32,
    index_num: u32,
    header: Mutex<Header>,
}

impl IndexFile {
    /// Opens or creates an index file; a new file starts where the previous ended.
    pub fn open(
        path: &Path,
        hash_slot_num: u32,
        index_num: u32,
        end_phy_offset: i64,
        end_timestamp: i64,
    ) -> std::io::Result<IndexFile> {
        let size = INDEX_HEADER_SIZE + hash_slot_num as u64 * HASH_SLOT_SIZE + index_num as u64 * INDEX_SIZE;
        let file = MappedFile::open_named(path, size)?;
        file.set_positions(size);
        let buf = file.read_unpublished(0);
        let mut h = Header {
            begin_timestamp: codec::read_i64(buf, 0).unwrap_or(0),
            end_timestamp: codec::read_i64(buf, 8).unwrap_or(0),
            begin_phy_offset: codec::read_i64(buf, 16).unwrap_or(0),
            end_phy_offset: codec::read_i64(buf, 24).unwrap_or(0),
            hash_slot_count: codec::read_i32(buf, 32).unwrap_or(0),
            index_count: codec::read_i32(buf, 36).unwrap_or(0),
        };
        if h.index_count <= 0 {
            h.index_count = 1;
        }
        if end_phy_offset > 0 && h.end_phy_offset == 0 {
            h.begin_phy_offset = end_phy_offset;
            h.end_phy_offset = end_phy_offset;
        }
        if end_timestamp > 0 && h.end_timestamp == 0 {
            h.begin_timestamp = end_timestamp;
            h.end_timestamp = end_timestamp;
        }
        let f = IndexFile {
            file,
            hash_slot_num,
            index_num,
            header: Mutex::new(h),
        };
        f.write_header(&h);
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    fn write_header(&self, h: &Header) {
        let mut b = [0u8; 40];
        b[0..8].copy_from_slice(&h.begin_timestamp.to_be_bytes());
        b[8..16].copy_from_slice(&h.end_timestamp.to_be_bytes());
        b[16..24].copy_from_slice(&h.begin_phy_offset.to_be_bytes());
        b[24..32].copy_from_slice(&h.end_phy_offset.to_be_bytes());
        b[32..36].copy_from_slice(&h.hash_slot_count.to_be_bytes());
        b[36..40].copy_from_slice(&h.index_count.to_be_bytes());
        self.file.write_at(0, &b);
    }

    fn header(&self) -> Header {
        *self.header.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn is_write_full(&self) -> bool {
        self.header().index_count >= self.index_num as i32
    }
    pub fn begin_timestamp(&self) -> i64 {
        self.header().begin_timestamp
    }
    pub fn end_timestamp(&self) -> i64 {
        self.header().end_timestamp
    }
    pub fn end_phy_offset(&self) -> i64 {
        self.header().end_phy_offset
    }
    pub fn index_count(&self) -> i32 {
        self.header().index_count
    }

    fn read_i32(&self, pos: u64) -> i32 {
        self.file.read(pos, 4).and_then(|b| codec::read_i32(b, 0)).unwrap_or(0)
    }

    /// Adds `key` -> `phy_offset`; false when the file is full.
    pub fn put_key(&self, key: &str, phy_offset: i64, store_timestamp: i64) -> bool {
        let mut h = self.header.lock().unwrap_or_else(|e| e.into_inner());
        if h.index_count >= self.index_num as i32 {
            return false;
        }
        let hash = index_key_hash(key);
        let slot = hash as u64 % self.hash_slot_num as u64;
        let slot_pos = INDEX_HEADER_SIZE + slot * HASH_SLOT_SIZE;
        let mut prev = self.read_i32(slot_pos);
        if prev <= 0 || prev > h.index_count {
            prev = 0;
        }
        let diff = if h.begin_timestamp <= 0 {
            0
        } else {
            ((store_timestamp - h.begin_timestamp) / 1000).clamp(0, i32::MAX as i64)
        };
        let entry_pos =
            INDEX_HEADER_SIZE + self.hash_slot_num as u64 * HASH_SLOT_SIZE + h.index_count as u64 * INDEX_SIZE;
        let mut e = [0u8; 20];
        e[0..4].copy_from_slice(&hash.to_be_bytes());
        e[4..12].copy_from_slice(&phy_offset.to_be_bytes());
        e[12..16].copy_from_slice(&(diff as i32).to_be_bytes());
        e[16..20].copy_from_slice(&prev.to_be_bytes());
        self.file.write_at(entry_pos, &e);
        self.file.write_at(slot_pos, &h.index_count.to_be_bytes());
        if h.index_count <= 1 {
            h.begin_phy_offset = phy_offset;
            h.begin_timestamp = store_timestamp;
        }
        if prev == 0 {
            h.hash_slot_count += 1;
        }
        h.index_count += 1;
        h.end_phy_offset = phy_offset;
        h.end_timestamp = store_timestamp;
        self.write_header(&h);
        true
    }

    /// Whether the file's time span meets `[begin, end]`.
    pub fn is_time_matched(&self, begin: i64, end: i64) -> bool {
        let h = self.header();
        (begin < h.begin_timestamp && end > h.end_timestamp)
            || (begin >= h.begin_timestamp && begin <= h.end_timestamp)
            || (end >= h.begin_timestamp && end <= h.end_timestamp)
    }

    /// Collects CommitLog offsets for `key` stored within `[begin, end]`,
    /// newest first, until `out` holds `max`.
    pub fn select(&self, out: &mut Vec<i64>, key: &str, max: usize, begin: i64, end: i64) {
        // Holding the header lock keeps `put_key` from writing slots and
        // entries while we follow a chain.
        let guard = self.header.lock().unwrap_or_else(|e| e.into_inner());
        let h = *guard;
        let hash = index_key_hash(key);
        let slot = hash as u64 % self.hash_slot_num as u64;
        let mut next = self.read_i32(INDEX_HEADER_SIZE + slot * HASH_SLOT_SIZE);
        if next <= 0 || next > h.index_count || h.index_count <= 1 {
            return;
        }
        let mut steps = 0;
        while out.len() < max && steps <= self.index_num {
            steps += 1;
            let pos = INDEX_HEADER_SIZE + self.hash_slot_num as u64 * HASH_SLOT_SIZE + next as u64 * INDEX_SIZE;
            let Some(e) = self.file.read(pos, 20) else { return };
            let read_hash = codec::read_i32(e, 0).unwrap_or(0);
            let phy = codec::read_i64(e, 4).unwrap_or(-1);
            let diff = codec::read_i32(e, 12).unwrap_or(-1) as i64;
            let prev = codec::read_i32(e, 16).unwrap_or(0);
            if diff < 0 {
                return;
            }
            let time = h.begin_timestamp + diff * 1000;
            if read_hash == hash && time >= begin && time <= end {
                out.push(phy);
            }
            if prev <= 0 || prev > h.index_count || prev == next || time < begin {
                return;
            }
            next = prev;
        }
    }

    pub fn flush(&self) -> std::io::Result<()> {
        let h = self.header();
        self.write_header(&h);
        self.file.flush_whole()
    }

    pub fn destroy(&self) {
        self.file.mark_removed();
        let _ = std::fs::remove_file(self.file.path());
    }
}

/// All index files, oldest first; builds entries for dispatched messages.
pub struct IndexService {
    dir: PathBuf,
    hash_slot_num: u32,
    index_num: u32,
    files: RwLock<Vec<Arc<IndexFile>>>,
}

impl IndexService {
    pub fn new(dir: PathBuf, hash_slot_num: u32, index_num: u32) -> IndexService {
        IndexService {
            dir,
            hash_slot_num,
            index_num,
            files: RwLock::new(Vec::new()),
        }
    }

    /// Opens existing files; after an abnormal exit, drops files holding
    /// entries newer than the checkpoint says were flushed.
    pub fn load(&self, last_exit_ok: bool, index_msg_timestamp: i64) -> std::io::Result<()> {
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        names.retain(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 17 && n.bytes().all(|b| b.is_ascii_digit()))
        });
        names.sort();
        let mut files = Vec::new();
        for p in names {
            let f = IndexFile::open(&p, self.hash_slot_num, self.index_num, 0, 0)?;
            if !last_exit_ok && f.end_timestamp() > index_msg_timestamp {
                f.destroy();
                continue;
            }
            files.push(Arc::new(f));
        }
        // Java writes index files sparse; the last one is written to again.
        if let Some(last) = files.last() {
            if let Err(e) = last.file.reserve_blocks() {
                tracing::warn!(file = %last.file.path().display(), "cannot reserve the index file's blocks: {e}");
            }
        }
        *self.files.write().unwrap_or_else(|e| e.into_inner()) = files;
        Ok(())
    }

    pub fn files(&self) -> Vec<Arc<IndexFile>> {
        self.files.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Drops index files whose last entry points at or past `max_phy`
    /// (beyond the valid CommitLog); they are rebuilt by the dispatcher.
    pub fn truncate_beyond(&self, max_phy: i64) {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        while let Some(last) = files.last() {
            if last.end_phy_offset() >= max_phy && last.index_count() > 1 {
                last.destroy();
                files.pop();
            } else {
                break;
            }
        }
    }

    /// CommitLog offset up to which messages are indexed.
    pub fn end_phy_offset(&self) -> i64 {
        self.files().last().map(|f| f.end_phy_offset()).unwrap_or(0)
    }

    fn last_writable(&self) -> std::io::Result<Arc<IndexFile>> {
        let (prev_end_phy, prev_end_ts) = {
            let files = self.files.read().unwrap_or_else(|e| e.into_inner());
            match files.last() {
                Some(f) if !f.is_write_full() => return Ok(f.clone()),
                Some(f) => (f.end_phy_offset(), f.end_timestamp()),
                None => (0, 0),
            }
        };
        std::fs::create_dir_all(&self.dir)?;
        let mut now = crate::message::now_millis();
        let mut path = self.dir.join(index_file_name(now));
        while path.exists() {
            now += 1;
            path = self.dir.join(index_file_name(now));
        }
        let f = Arc::new(IndexFile::open(
            &path,
            self.hash_slot_num,
            self.index_num,
            prev_end_phy,
            prev_end_ts,
        )?);
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        if let Some(prev) = files.last() {
            let _ = prev.flush();
        }
        files.push(f.clone());
        Ok(f)
    }

    /// Indexes a dispatched message by its unique key and each of its keys.
    pub fn build_index(&self, d: &codec::DispatchInfo<'_>) -> std::io::Result<()> {
        if codec::sys_flag::transaction_type(d.sys_flag) == codec::sys_flag::TRANSACTION_ROLLBACK_TYPE {
            return Ok(());
        }
        let mut file = self.last_writable()?;
        let end = file.end_phy_offset();
        if d.commit_log_offset < end || (d.commit_log_offset == end && file.index_count() > 1) {
            return Ok(()); // already indexed
        }
        let mut full = String::with_capacity(d.topic.len() + 48);
        let keys = d
            .keys
            .into_iter()
            .flat_map(|k| k.split(codec::property::KEY_SEPARATOR))
            .filter(|k| !k.is_empty());
        for key in d.unique_key.into_iter().chain(keys) {
            full.clear();
            full.push_str(&d.topic);
            full.push('#');
            full.push_str(key);
            while !file.put_key(&full, d.commit_log_offset, d.store_timestamp) {
                file = self.last_writable()?;
            }
        }
        Ok(())
    }

    /// CommitLog offsets of messages with `key` in `topic` stored in `[begin, end]`.
    pub fn query(&self, topic: &str, key: &str, max: usize, begin: i64, end: i64) -> (Vec<i64>, i64, i64) {
        let files = self.files();
        let mut out = Vec::new();
        let (mut last_ts, mut last_phy) = (0, 0);
        let full_key = format!("{topic}#{key}");
        for (i, f) in files.iter().enumerate().rev() {
            if i + 1 == files.len() {
                last_ts = f.end_timestamp();
                last_phy = f.end_phy_offset();
            }
            if f.is_time_matched(begin, end) {
                f.select(&mut out, &full_key, max, begin, end);
            }
            if f.begin_timestamp() < begin || out.len() >= max {
                break;
            }
        }
        (out, last_ts, last_phy)
    }

    /// Deletes leading files whose entries all point below `phy_min`; keeps the last.
    pub fn delete_expired(&self, phy_min: i64) {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        while files.len() > 1 && files[0].end_phy_offset() < phy_min {
            files.remove(0).destroy();
        }
    }

    /// Flushes every file; returns the newest end timestamp now durable.
    pub fn flush(&self) -> std::io::Result<i64> {
        let files = self.files();
        for f in &files {
            f.flush()?;
        }
        Ok(files.last().map(|f| f.end_timestamp()).unwrap_or(0))
    }

    /// Unmaps the index files' pages from the process, as `ConsumeQueue::release_pages`.
    pub fn release_pages(&self) {
        for f in self.files() {
            f.file.drop_pages();
        }
    }

    pub fn destroy(&self) {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        for f in files.drain(..) {
            f.destroy();
        }
    }
}
