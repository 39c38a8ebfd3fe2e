//! Staged CommitLog writes (Java's `transientStorePoolEnable`, ASYNC_FLUSH only).
//!
//! The appender copies each record into an in-memory chunk instead of the mapped file;
//! a commit thread writes whole chunks to the file with `pwrite` and only then publishes
//! them to readers and the dispatcher. A fresh page-cache page then costs one copy, as
//! in a plain sequential `write`, instead of a zero-fill, a page fault and a copy
//! through the mapping.
//!
//! Unlike Java, which commits at least `commitCommitLogLeastPages` pages at a time (or
//! every 200 ms), every append wakes the commit thread, so a message is readable as
//! soon as its chunk is written; under load, chunks fill up while the previous write
//! runs, which is what makes the writes large.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::dispatcher;
use crate::mapped_file::MappedFile;
use crate::store::Inner;

/// Chunks are closed at this size (a larger record gets a chunk of its own).
const CHUNK_BYTES: usize = 1 << 20;
/// Appenders wait (or write chunks themselves) once this many closed chunks wait.
const MAX_WAITING_CHUNKS: usize = 4;

/// Bytes for one file, not yet written to it.
pub(crate) struct Chunk {
    file: Arc<MappedFile>,
    start: u64,
    buf: Vec<u8>,
    /// The file's published position once `buf` is written: the end of `buf`, or the
    /// end of the file when `buf` ends with the blank record that closes it.
    publish_to: u64,
}

/// The appender's staged bytes, guarded by the append lock.
#[derive(Default)]
pub(crate) struct Staging {
    open: Option<Chunk>,
    closed: VecDeque<Chunk>,
    spare: Vec<Vec<u8>>,
}

impl Staging {
    /// Adds a record that belongs at `pos` of `file`.
    pub(crate) fn stage(&mut self, file: &Arc<MappedFile>, pos: u64, data: &[u8]) {
        let continues = self.open.as_ref().is_some_and(|c| {
            Arc::ptr_eq(&c.file, file) && c.publish_to == pos && c.buf.len() + data.len() <= CHUNK_BYTES
        });
        if !continues {
            self.close_open();
            let mut buf = self.spare.pop().unwrap_or_default();
            buf.clear();
            self.open = Some(Chunk {
                file: file.clone(),
                start: pos,
                buf,
                publish_to: pos,
            });
        }
        if let Some(c) = self.open.as_mut() {
            c.buf.extend_from_slice(data);
            c.publish_to += data.len() as u64;
        }
    }

    /// Stages the blank record at `pos` that pads the rest of `file`.
    pub(crate) fn close_file(&mut self, file: &Arc<MappedFile>, pos: u64, blank: &[u8]) {
        self.stage(file, pos, blank);
        if let Some(c) = self.open.as_mut() {
            c.publish_to = file.size();
        }
        self.close_open();
    }

    fn close_open(&mut self) {
        if let Some(c) = self.open.take() {
            if c.publish_to > c.start {
                self.closed.push_back(c);
            }
        }
    }

    /// Whether appenders should let the commit thread catch up first.
    pub(crate) fn is_backed_up(&self) -> bool {
        self.closed.len() >= MAX_WAITING_CHUNKS
    }

    /// Everything staged, oldest first.
    pub(crate) fn take_all(&mut self) -> VecDeque<Chunk> {
        self.close_open();
        std::mem::take(&mut self.closed)
    }

    /// Takes back what `write_out` did not write (ahead of anything staged since) and
    /// the buffers of what it did.
    pub(crate) fn give_back(&mut self, unwritten: VecDeque<Chunk>, buffers: Vec<Vec<u8>>) {
        for c in unwritten.into_iter().rev() {
            self.closed.push_front(c);
        }
        for mut b in buffers {
            if self.spare.len() > MAX_WAITING_CHUNKS {
                break;
            }
            // A chunk that held one huge record should not pin its memory.
            b.shrink_to(CHUNK_BYTES);
            self.spare.push(b);
        }
    }
}

/// Writes chunks in order and publishes each; stops at the first failure, leaving it and
/// the rest in `chunks`. The buffers of written chunks go to `buffers`.
pub(crate) fn write_out(chunks: &mut VecDeque<Chunk>, buffers: &mut Vec<Vec<u8>>) -> io::Result<()> {
    while let Some(c) = chunks.front() {
        c.file.write_staged(c.start, &c.buf)?;
        c.file.publish(c.publish_to);
        if let Some(c) = chunks.pop_front() {
            buffers.push(c.buf);
        }
    }
    Ok(())
}

/// The commit thread: writes staged chunks as appends wake it, then dispatches them.
/// Answers the puts whose bytes are now in the file (published up to the log's end).
pub(crate) fn complete_committed(inner: &Inner) {
    let committed = inner.commit_log.max_offset();
    let done: Vec<_> = {
        let mut waiting = inner.commit_requests.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.is_empty() {
            return;
        }
        let (done, rest) = std::mem::take(&mut *waiting)
            .into_iter()
            .partition(|(end, _)| *end <= committed);
        *waiting = rest;
        done
    };
    for (_, w) in done {
        w.complete(true);
    }
}

pub(crate) fn run_committer(inner: &Inner) {
    let idle = Duration::from_millis(inner.config.commit_interval_commit_log.max(1));
    while !inner.stopped.is_set() {
        inner.commit_signal.wait(idle);
        match inner.commit_log.commit_staged() {
            // Also after an idle round: an appender may have written chunks itself.
            Ok(()) => {
                complete_committed(inner);
                dispatcher::dispatch_pending(inner);
            }
            Err(e) => {
                tracing::error!("writing staged CommitLog data failed (will retry): {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
