//! Fixed-size memory-mapped files named by their 20-digit start offset, and
//! the ordered queue of them that makes one logical log (CommitLog or one
//! ConsumeQueue).
//!
//! Concurrency contract: a single appender writes at or beyond the published
//! write position and then publishes it; readers only touch bytes below the
//! published position. That is why the mapping is accessed through a raw
//! pointer rather than `&mut` slices.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use memmap2::MmapMut;

/// Formats a start offset as a file name.
pub fn offset_to_file_name(offset: i64) -> String {
    format!("{:020}", offset)
}

/// One mapped file.
pub struct MappedFile {
    path: PathBuf,
    /// Kept open for the files written through it or synced with it (CommitLog, index,
    /// timer). A ConsumeQueue file is only written through its mapping, which outlives
    /// the descriptor: it keeps none, so queue files do not count against the process's
    /// open-file limit (a broker with 20,000 queues would hit a 20,000 limit, as Java's
    /// does); the rare block reservation opens it by path.
    file: Option<File>,
    mmap: MmapMut,
    ptr: *mut u8,
    size: u64,
    file_from_offset: i64,
    wrote: AtomicU64,
    flushed: AtomicU64,
    /// Store timestamp of the last message appended (CommitLog only).
    last_store_timestamp: AtomicI64,
    /// Set once the file is scheduled for deletion.
    removed: AtomicBool,
    /// Set when data was written with `pwrite` (SYNC_FLUSH CommitLog): such
    /// pages are synced with `fdatasync`, no mapping work needed.
    written_via_file: AtomicBool,
    /// Bytes from the start whose disk blocks are allocated: writes through the map stay
    /// below it, so a full disk is an error from `ensure_reserved`, never a SIGBUS.
    reserved: AtomicU64,
    /// Pages below this offset were dropped from the page tables by the last
    /// `release_written_pages` (or `drop_pages`).
    released_upto: AtomicU64,
}

/// How a new file gets its disk blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// All at creation (the CommitLog, index and timer files: filled front to back).
    Whole,
    /// A few pages ahead of the writer (ConsumeQueue files: thousands of queues, most of
    /// them nearly empty; Java leaves these files sparse, and a broker with 8,000 queues
    /// would otherwise hold 46 GB of zeros).
    Ahead,
}

const PAGE_SIZE: u64 = 4096;

/// Blocks allocated at a time ahead of a `Reserve::Ahead` file's writer.
const RESERVE_AHEAD_CHUNK: u64 = 16 * 1024;

// The raw pointer aliases `mmap`, which lives as long as the struct; writes
// and reads follow the contract in the module doc.
unsafe impl Send for MappedFile {}
unsafe impl Sync for MappedFile {}

impl MappedFile {
    /// Opens (creating and sizing when missing) the file at `path`.
    pub fn open(path: &Path, size: u64) -> io::Result<MappedFile> {
        Self::open_with(path, size, false)
    }

    /// Like `open`; `sequential` (the CommitLog) keeps the kernel's read-ahead, which
    /// scattered small writes (ConsumeQueue, index) are better off without.
    pub fn open_with(path: &Path, size: u64, sequential: bool) -> io::Result<MappedFile> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let file_from_offset: i64 = name
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("not an offset file name: {name}")))?;
        Self::open_at(path, size, file_from_offset, sequential, Reserve::Whole)
    }

    /// Opens a file whose name is not an offset (index files).
    pub fn open_named(path: &Path, size: u64) -> io::Result<MappedFile> {
        Self::open_at(path, size, 0, false, Reserve::Whole)
    }

    /// Reserves the blocks of an existing file (one another program wrote sparse, as
    /// Java's ConsumeQueue and index files are), so writes through the map cannot fault
    /// on a full disk. Existing data is kept.
    pub fn reserve_blocks(&self) -> io::Result<()> {
        self.ensure_reserved(self.size)
    }

    fn open_at(
        path: &Path,
        size: u64,
        file_from_offset: i64,
        sequential: bool,
        reserve: Reserve,
    ) -> io::Result<MappedFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        // An existing file's blocks are unknown (Java writes these files sparse): the
        // first write reserves from where it writes.
        let mut reserved = 0;
        if len != size {
            if len == 0 {
                // Reserve blocks now (all of them, or the first pages): a full disk then
                // fails here, with an error, instead of as SIGBUS on a later write to the
                // map (which kills the process).
                reserved = match reserve {
                    Reserve::Whole => size,
                    Reserve::Ahead => RESERVE_AHEAD_CHUNK.min(size),
                };
                if let Err(e) = preallocate(&file, size, reserved) {
                    drop(file);
                    let _ = std::fs::remove_file(path);
                    return Err(e);
                }
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is {} bytes, configured size is {}", path.display(), len, size),
                ));
            }
        }
        // SAFETY: the store owns its directory; other processes must not
        // truncate these files while we run (guarded by the `lock` file).
        let mut mmap = unsafe { MmapMut::map_mut(&file) }.map_err(|e| map_failed(path, e))?;
        if !sequential {
            // Small scattered writes (ConsumeQueue, index): without this the
            // first write fault reads ahead and zero-fills megabytes of the
            // file, and those pages count as resident.
            let _ = mmap.advise(memmap2::Advice::Random);
        }
        let ptr = mmap.as_mut_ptr();
        Ok(MappedFile {
            path: path.to_path_buf(),
            file: (reserve == Reserve::Whole).then_some(file),
            mmap,
            ptr,
            size,
            file_from_offset,
            wrote: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            last_store_timestamp: AtomicI64::new(0),
            removed: AtomicBool::new(false),
            written_via_file: AtomicBool::new(false),
            reserved: AtomicU64::new(reserved),
            released_upto: AtomicU64::new(0),
        })
    }

    /// Makes sure the disk blocks under `[0, end)` are allocated before the map is written
    /// there (only the single appender calls this). Allocates in chunks ahead of `end`.
    pub fn ensure_reserved(&self, end: u64) -> io::Result<()> {
        let from = self.reserved.load(Ordering::Acquire);
        if end <= from {
            return Ok(());
        }
        let to = end
            .div_ceil(RESERVE_AHEAD_CHUNK)
            .saturating_mul(RESERVE_AHEAD_CHUNK)
            .min(self.size);
        // A file system that cannot allocate ahead: writes go to the sparse file.
        let reserved = if self.with_file(|f| allocate_blocks(f, from, to - from))? {
            to
        } else {
            self.size
        };
        self.reserved.store(reserved, Ordering::Release);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn file_from_offset(&self) -> i64 {
        self.file_from_offset
    }
    pub fn wrote_position(&self) -> u64 {
        self.wrote.load(Ordering::Acquire)
    }
    pub fn flushed_position(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
    }
    pub fn is_full(&self) -> bool {
        self.wrote_position() >= self.size
    }
    /// Whether bytes are written here that are not flushed yet.
    pub fn has_unflushed(&self) -> bool {
        self.flushed_position() < self.wrote_position()
    }
    pub fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.wrote_position())
    }
    pub fn last_store_timestamp(&self) -> i64 {
        self.last_store_timestamp.load(Ordering::Relaxed)
    }
    pub fn set_last_store_timestamp(&self, ts: i64) {
        self.last_store_timestamp.store(ts, Ordering::Relaxed)
    }
    pub fn last_modified_millis(&self) -> i64 {
        std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    /// Sets the write and flush positions (used by recovery and truncation).
    pub fn set_positions(&self, pos: u64) {
        let pos = pos.min(self.size);
        self.wrote.store(pos, Ordering::Release);
        self.flushed.store(pos, Ordering::Release);
    }

    /// Copies `data` in at `pos` without publishing it. Only the single
    /// appender may call this, and only at or beyond the write position.
    pub fn write_at(&self, pos: u64, data: &[u8]) -> bool {
        let end = match pos.checked_add(data.len() as u64) {
            Some(e) if e <= self.size => e,
            _ => return false,
        };
        if let Err(e) = self.ensure_reserved(end) {
            // Callers that can fail reserve first (ConsumeQueue::put); this is the guard
            // against a write through the map faulting on a full disk.
            tracing::error!(file = %self.path.display(), "cannot allocate disk blocks for a write: {e}");
            return false;
        }
        // SAFETY: in bounds (checked above); no reader looks at unpublished bytes.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(pos as usize), data.len()) };
        true
    }

    /// Like `write_at`, through the file descriptor (`pwrite`); the mapping
    /// shares the page cache, so readers see the same bytes.
    pub fn write_via_file(&self, pos: u64, data: &[u8]) -> bool {
        self.write_staged(pos, data).is_ok()
    }

    /// `write_via_file` reporting the error (the commit thread logs and retries it).
    pub fn write_staged(&self, pos: u64, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        match pos.checked_add(data.len() as u64) {
            Some(e) if e <= self.size => {
                self.written_via_file.store(true, Ordering::Relaxed);
                self.with_file(|f| f.write_all_at(data, pos))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "staged write past the end of the file",
            )),
        }
    }

    /// Publishes bytes up to `pos` to readers.
    pub fn publish(&self, pos: u64) {
        self.wrote.store(pos.min(self.size), Ordering::Release);
    }

    /// Appends at the write position and publishes; false if it doesn't fit.
    pub fn append(&self, data: &[u8]) -> bool {
        let pos = self.wrote_position();
        if !self.write_at(pos, data) {
            return false;
        }
        self.publish(pos + data.len() as u64);
        true
    }

    /// Bytes `[pos, pos+len)` if they are published.
    pub fn read(&self, pos: u64, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len as u64)?;
        if end > self.wrote_position() {
            return None;
        }
        // SAFETY: in bounds and published; the appender never rewrites published bytes.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.add(pos as usize), len) })
    }

    /// Bytes `[pos, size)` regardless of the write position, for recovery
    /// scans before any appender runs.
    pub fn read_unpublished(&self, pos: u64) -> &[u8] {
        let pos = pos.min(self.size);
        // SAFETY: in bounds; only called while no appender is active.
        unsafe { std::slice::from_raw_parts(self.ptr.add(pos as usize), (self.size - pos) as usize) }
    }

    /// Flushes published bytes to disk when at least `least_pages` pages are
    /// pending (0 = whatever is pending). Returns the new flushed position.
    pub fn flush(&self, least_pages: u32) -> io::Result<u64> {
        let wrote = self.wrote_position();
        let flushed = self.flushed_position();
        if wrote <= flushed {
            return Ok(flushed);
        }
        const PAGE: u64 = 4096;
        let full = wrote >= self.size;
        if least_pages > 0 && !full && (wrote / PAGE).saturating_sub(flushed / PAGE) < least_pages as u64 {
            return Ok(flushed);
        }
        if self.written_via_file.load(Ordering::Relaxed) {
            // Nothing was dirtied through the mapping: a plain data sync of
            // the file (only this file's new pages are dirty).
            self.with_file(File::sync_data)?;
            self.flushed.fetch_max(wrote, Ordering::AcqRel);
            return Ok(wrote);
        }
        // Unmap the whole pages being flushed first (one batched TLB flush).
        // Otherwise writeback write-protects each still-mapped dirty page
        // separately, with a cross-CPU TLB shootdown per 4 KiB page, which
        // cost more than the disk write itself. The data stays in the page
        // cache (shared mapping) and readers simply fault pages back in.
        let zap_from = flushed & !(PAGE - 1);
        let zap_to = wrote & !(PAGE - 1);
        if zap_to > zap_from {
            self.unmap(zap_from, zap_to - zap_from);
        }
        self.mmap.flush_range(flushed as usize, (wrote - flushed) as usize)?;
        self.flushed.fetch_max(wrote, Ordering::AcqRel);
        Ok(wrote)
    }

    /// Writes zeros over `[from, from+len)` with ordinary file writes, which
    /// puts the pages into the page cache far more cheaply than first-touch
    /// page faults through the mapping do. Only the appender may call this,
    /// and only beyond the write position.
    pub fn prepare_pages(&self, from: u64, len: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let end = from.saturating_add(len).min(self.size);
        let mut at = from;
        while at < end {
            let n = (end - at).min(ZEROS.len() as u64) as usize;
            self.with_file(|f| f.write_all_at(&ZEROS[..n], at))?;
            at += n as u64;
        }
        Ok(())
    }

    /// Records that everything published is on disk (after a file-system-wide sync).
    pub fn mark_flushed(&self) {
        self.flushed.fetch_max(self.wrote_position(), Ordering::AcqRel);
    }

    /// Flushes the whole mapping.
    pub fn flush_whole(&self) -> io::Result<()> {
        self.mmap.flush()
    }

    /// Zeroes a few bytes at `pos` so a later scan stops there.
    pub fn clear_from(&self, pos: u64) {
        if pos >= self.size {
            return;
        }
        let n = (self.size - pos).min(4096) as usize;
        let zeros = vec![0u8; n];
        self.write_at(pos, &zeros);
        let _ = self.mmap.flush_range(pos as usize, n);
    }

    /// Unmaps the pages below the flushed position from this process. Readers map them
    /// again as they copy messages out, so without this every page ever read (a consumer
    /// catching up, say) would stay in the broker's resident set. The data stays in the
    /// page cache, and a later read simply faults the page back in.
    pub fn release_flushed_pages(&self) {
        let upto = self.flushed_position() & !(PAGE_SIZE - 1);
        if upto > 0 {
            self.unmap(0, upto);
        }
    }

    /// Tells the kernel we won't read `[0, upto)` again soon, so scanned
    /// pages leave our resident set.
    pub fn drop_pages(&self) {
        self.unmap(0, self.size);
        self.released_upto
            .store(self.wrote_position() & !(PAGE_SIZE - 1), Ordering::Relaxed);
    }

    /// Drops the whole pages written since the last call (the page being written stays):
    /// no system call for a file that did not grow by a page, so thousands of quiet
    /// queues cost nothing, and a busy queue does not fault its current page back in.
    pub fn release_written_pages(&self) {
        let upto = self.wrote_position() & !(PAGE_SIZE - 1);
        let from = self.released_upto.load(Ordering::Relaxed);
        if upto > from {
            self.unmap(from, upto - from);
            self.released_upto.store(upto, Ordering::Relaxed);
        }
    }

    /// Drops `[from, from+len)` from this process's page tables (`MADV_DONTNEED`).
    fn unmap(&self, from: u64, len: u64) {
        // SAFETY: a shared file mapping. The kernel keeps the data, dirty pages included,
        // in the page cache, and any later access through the map faults the same page
        // back in, so dropping the mapping loses nothing.
        let _ = unsafe {
            self.mmap
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from as usize, len as usize)
        };
    }

    pub fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
    }
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Runs `op` on the file: the kept descriptor, or one opened for the call.
    fn with_file<R>(&self, op: impl FnOnce(&File) -> io::Result<R>) -> io::Result<R> {
        match &self.file {
            Some(f) => op(f),
            None => op(&OpenOptions::new().read(true).write(true).open(&self.path)?),
        }
    }
}

/// An ordered list of equally sized mapped files forming one log.
pub struct MappedFileQueue {
    dir: PathBuf,
    file_size: u64,
    /// Written and read front to back (the CommitLog): keeps read-ahead.
    sequential: bool,
    reserve: Reserve,
    files: RwLock<Vec<Arc<MappedFile>>>,
}

impl MappedFileQueue {
    pub fn new(dir: impl Into<PathBuf>, file_size: u64) -> MappedFileQueue {
        MappedFileQueue {
            dir: dir.into(),
            file_size,
            sequential: false,
            reserve: Reserve::Whole,
            files: RwLock::new(Vec::new()),
        }
    }

    /// A queue whose files get their disk blocks as they fill (ConsumeQueues).
    pub fn new_reserving_ahead(dir: impl Into<PathBuf>, file_size: u64) -> MappedFileQueue {
        MappedFileQueue {
            reserve: Reserve::Ahead,
            ..Self::new(dir, file_size)
        }
    }

    /// A queue of files written and read front to back (the CommitLog).
    pub fn new_sequential(dir: impl Into<PathBuf>, file_size: u64) -> MappedFileQueue {
        MappedFileQueue {
            sequential: true,
            ..Self::new(dir, file_size)
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Maps every offset-named file in the directory (all start as full;
    /// recovery sets the real positions). A size mismatch is an error.
    pub fn load(&self) -> io::Result<()> {
        let mut names: Vec<(i64, PathBuf)> = Vec::new();
        match std::fs::read_dir(&self.dir) {
            Ok(rd) => {
                for e in rd {
                    let e = e?;
                    let name = e.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if name.len() != 20 {
                        continue;
                    }
                    if let Ok(off) = name.parse::<i64>() {
                        names.push((off, e.path()));
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        names.sort();
        // The last file cut short (a copy or a disk that lost its tail): give it back its
        // length, zero-filled, so recovery finds the valid data ending where the cut is and
        // says what it dropped there. Any other file of the wrong size is refused, as Java
        // refuses to load it.
        if let Some((_, path)) = names.last() {
            let file = OpenOptions::new().read(true).write(true).open(path)?;
            let len = file.metadata()?.len();
            if len > 0 && len < self.file_size {
                tracing::error!(
                    file = %path.display(),
                    length = len,
                    configured = self.file_size,
                    "file is shorter than configured (cut off); extending it with zeros, the data after byte {len} is lost"
                );
                preallocate(&file, self.file_size, self.file_size)?;
            }
        }
        let mut files = Vec::with_capacity(names.len());
        for (from, path) in names {
            // As the queue's own files are made: the CommitLog's keep the kernel's
            // read-ahead, a ConsumeQueue's keep no descriptor.
            let f = MappedFile::open_at(&path, self.file_size, from, self.sequential, self.reserve)?;
            f.set_positions(self.file_size);
            files.push(Arc::new(f));
        }
        // Only the last file is written to again (a reserving-ahead one reserves as it is
        // written).
        if let Some(last) = files.last().filter(|_| self.reserve == Reserve::Whole) {
            if let Err(e) = last.reserve_blocks() {
                tracing::warn!(file = %last.path().display(), "cannot reserve the file's blocks: {e}");
            }
        }
        *self.files.write().unwrap_or_else(|e| e.into_inner()) = files;
        Ok(())
    }

    pub fn files(&self) -> Vec<Arc<MappedFile>> {
        self.files.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn is_empty(&self) -> bool {
        self.files.read().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
    pub fn first(&self) -> Option<Arc<MappedFile>> {
        self.files.read().unwrap_or_else(|e| e.into_inner()).first().cloned()
    }
    pub fn last(&self) -> Option<Arc<MappedFile>> {
        self.files.read().unwrap_or_else(|e| e.into_inner()).last().cloned()
    }

    /// The last file, creating the file that holds `start_offset` (rounded
    /// down to a file boundary) when there is none or the last is full.
    pub fn last_or_create(&self, start_offset: i64) -> io::Result<Arc<MappedFile>> {
        self.last_or_create_from(self.last(), start_offset)
    }

    /// `last_or_create` for a writer that has just read `last()` itself (and is the only
    /// one adding files).
    pub fn last_or_create_from(&self, last: Option<Arc<MappedFile>>, start_offset: i64) -> io::Result<Arc<MappedFile>> {
        let from = match last {
            Some(last) if !last.is_full() => return Ok(last),
            Some(last) => last.file_from_offset() + self.file_size as i64,
            None => start_offset - start_offset.rem_euclid(self.file_size as i64),
        };
        self.create(from)
    }

    /// The file after `prev`, created when `prev` is the last one. Unlike
    /// `last_or_create` this does not look at `prev`'s published position, which
    /// lags the appender's when writes are staged.
    pub fn next_after(&self, prev: &MappedFile) -> io::Result<Arc<MappedFile>> {
        if let Some(last) = self.last() {
            if last.file_from_offset() > prev.file_from_offset() {
                return Ok(last);
            }
        }
        self.create(prev.file_from_offset() + self.file_size as i64)
    }

    fn create(&self, from: i64) -> io::Result<Arc<MappedFile>> {
        std::fs::create_dir_all(&self.dir)?;
        let f = Arc::new(MappedFile::open_at(
            &self.dir.join(offset_to_file_name(from)),
            self.file_size,
            from,
            self.sequential,
            self.reserve,
        )?);
        self.files.write().unwrap_or_else(|e| e.into_inner()).push(f.clone());
        Ok(f)
    }

    /// The file holding `offset`, if any.
    pub fn find_by_offset(&self, offset: i64) -> Option<Arc<MappedFile>> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        let first = files.first()?;
        if offset < first.file_from_offset() {
            return None;
        }
        let idx = ((offset - first.file_from_offset()) / self.file_size as i64) as usize;
        let f = files.get(idx)?;
        if offset >= f.file_from_offset() && offset < f.file_from_offset() + self.file_size as i64 {
            return Some(f.clone());
        }
        // Files may be missing in the middle (manual deletion): search.
        files
            .iter()
            .find(|f| offset >= f.file_from_offset() && offset < f.file_from_offset() + self.file_size as i64)
            .cloned()
    }

    pub fn min_offset(&self) -> i64 {
        self.first().map(|f| f.file_from_offset()).unwrap_or(0)
    }

    /// Offset just past the last published byte.
    pub fn max_offset(&self) -> i64 {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        let end_of = |f: &MappedFile| f.file_from_offset() + f.wrote_position() as i64;
        let Some(last) = files.last() else { return 0 };
        let mut end = end_of(last);
        // With staged writes the appender can open the next file before the end of the
        // previous one is published; the log then still ends in the previous file.
        for pair in files.windows(2).rev() {
            let (prev, next) = (&pair[0], &pair[1]);
            if next.wrote_position() > 0 || prev.is_full() {
                break;
            }
            end = end_of(prev);
        }
        end
    }

    /// Offset up to which everything is flushed.
    pub fn flushed_offset(&self) -> i64 {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        for f in files.iter() {
            if f.flushed_position() < f.size() {
                return f.file_from_offset() + f.flushed_position() as i64;
            }
        }
        files
            .last()
            .map(|f| f.file_from_offset() + f.size() as i64)
            .unwrap_or(0)
    }

    /// Flushes all files with unflushed data; returns the flushed offset.
    pub fn flush(&self, least_pages: u32) -> io::Result<i64> {
        // Copies only the files with something to flush (none, for a quiet queue: the
        // flush thread visits every ConsumeQueue each second), and syncs them unlocked.
        let unflushed: Vec<Arc<MappedFile>> = self
            .files
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|f| f.has_unflushed())
            .cloned()
            .collect();
        for f in unflushed {
            f.flush(least_pages)?;
        }
        Ok(self.flushed_offset())
    }

    /// Whether any file has unflushed bytes (no copy of the list).
    pub fn has_unflushed(&self) -> bool {
        self.files
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|f| f.has_unflushed())
    }

    /// Runs `op` on every file, under the list's read lock (no copy of the list).
    pub fn for_each_file(&self, mut op: impl FnMut(&MappedFile)) {
        for f in self.files.read().unwrap_or_else(|e| e.into_inner()).iter() {
            op(f);
        }
    }

    /// Records that every file is flushed (after a file-system-wide sync).
    pub fn mark_flushed(&self) {
        for f in self.files() {
            f.mark_flushed();
        }
    }

    /// Sets positions so the log ends at `offset`: files before are full,
    /// the file holding it is cut there, files after are deleted.
    pub fn truncate_to(&self, offset: i64) -> io::Result<()> {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        let mut keep = Vec::with_capacity(files.len());
        for f in files.drain(..) {
            let from = f.file_from_offset();
            let end = from + self.file_size as i64;
            if end <= offset {
                f.set_positions(self.file_size);
                keep.push(f);
            } else if from <= offset {
                let pos = (offset - from) as u64;
                f.clear_from(pos);
                f.set_positions(pos);
                keep.push(f);
            } else {
                f.mark_removed();
                let _ = std::fs::remove_file(f.path());
            }
        }
        *files = keep;
        Ok(())
    }

    /// Removes and deletes the last file.
    pub fn delete_last(&self) {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = files.pop() {
            f.mark_removed();
            let _ = std::fs::remove_file(f.path());
        }
    }

    /// Removes and deletes the given leading files (never the last one).
    pub fn delete_first_n(&self, n: usize) -> usize {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        let n = n.min(files.len().saturating_sub(1));
        for f in files.drain(..n) {
            f.mark_removed();
            let _ = std::fs::remove_file(f.path());
        }
        n
    }

    /// Deletes every file and the directory's contents.
    pub fn destroy(&self) {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        for f in files.drain(..) {
            f.mark_removed();
            let _ = std::fs::remove_file(f.path());
        }
    }
}

/// A failed `mmap`, with its most likely cause when the kernel said ENOMEM: every queue
/// file is one mapping, and Linux caps a process at `vm.max_map_count` of them (65,530 by
/// default), which a broker with tens of thousands of active queues reaches.
fn map_failed(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() != Some(libc::ENOMEM) {
        return e;
    }
    let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap_or_default();
    let mappings = std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());
    io::Error::new(
        e.kind(),
        format!(
            "cannot map {}: {e}; this process has {mappings} mappings and vm.max_map_count is {} \
             (raise it, e.g. sysctl -w vm.max_map_count=262144)",
            path.display(),
            limit.trim()
        ),
    )
}

/// Sizes the file and allocates the blocks of its first `reserve` bytes.
fn preallocate(file: &File, size: u64, reserve: u64) -> io::Result<()> {
    file.set_len(size)?;
    if reserve > 0 {
        allocate_blocks(file, 0, reserve)?;
    }
    Ok(())
}

/// Allocates the disk blocks of `[from, from+len)`: false when the file system cannot
/// (the file stays sparse there), an error when the disk is full.
fn allocate_blocks(file: &File, from: u64, len: u64) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: plain syscall on an open descriptor.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), from as libc::off_t, len as libc::off_t) } {
        0 => Ok(true),
        libc::EINVAL | libc::EOPNOTSUPP => Ok(false),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn allocated_bytes(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().blocks() * 512
    }

    /// A ConsumeQueue-style file holds disk blocks for what is written plus a chunk, not
    /// for its whole 6 MB, and a CommitLog-style file holds all of its blocks from the
    /// start (so a full disk shows up when it is created).
    #[test]
    fn reserving_ahead_allocates_blocks_as_the_file_fills() {
        let dir = tempfile::tempdir().unwrap();
        let queue = MappedFileQueue::new_reserving_ahead(dir.path().join("cq"), 6_000_000);
        let f = queue.last_or_create(0).unwrap();
        assert_eq!(std::fs::metadata(f.path()).unwrap().len(), 6_000_000);
        let first = allocated_bytes(f.path());
        assert!(
            first <= 2 * RESERVE_AHEAD_CHUNK,
            "a new file holds {first} bytes of blocks"
        );
        let unit = [7u8; 20];
        for _ in 0..10_000 {
            f.ensure_reserved(f.wrote_position() + 20).unwrap();
            assert!(f.append(&unit));
        }
        let written = f.wrote_position();
        let held = allocated_bytes(f.path());
        assert!(held >= written, "{held} bytes of blocks under {written} written");
        assert!(
            held <= written + 2 * RESERVE_AHEAD_CHUNK,
            "{held} bytes of blocks for {written} written"
        );
        // Written bytes read back; the rest of the file reads as zeros.
        assert_eq!(f.read(written - 20, 20).unwrap(), &unit);

        let whole = MappedFileQueue::new(dir.path().join("log"), 1 << 20);
        let g = whole.last_or_create(0).unwrap();
        assert!(allocated_bytes(g.path()) >= 1 << 20);
    }

    /// While staged writes roll over, the next file exists before the end of the previous
    /// one is published: the log's end stays in the previous file until then.
    #[test]
    fn max_offset_stays_in_a_file_not_yet_published_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let queue = MappedFileQueue::new(dir.path(), 4096);
        let first = queue.last_or_create(0).unwrap();
        first.publish(100);
        let second = queue.next_after(&first).unwrap();
        assert_eq!(second.file_from_offset(), 4096);
        assert_eq!(
            queue.next_after(&first).unwrap().file_from_offset(),
            4096,
            "no third file"
        );
        assert_eq!(queue.max_offset(), 100);
        first.publish(4096);
        assert_eq!(queue.max_offset(), 4096);
        second.publish(10);
        assert_eq!(queue.max_offset(), 4106);
    }
}
