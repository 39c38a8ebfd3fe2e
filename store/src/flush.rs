//! Flush services. ASYNC_FLUSH: a thread flushes the CommitLog every
//! `flushIntervalCommitLog` ms (at least `flushCommitLogLeastPages` dirty
//! pages, everything every `flushCommitLogThoroughInterval`). SYNC_FLUSH: a
//! group-commit thread takes all waiting puts at once, flushes once, and
//! answers them all, so concurrent writers share one disk sync.
//! A third thread flushes ConsumeQueues, IndexFiles and the checkpoint.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::config::FlushDiskType;
use crate::store::Inner;

fn note_flushed(inner: &Inner) {
    if let Some(last) = inner.commit_log.queue().last() {
        let ts = last.last_store_timestamp();
        if ts > 0 {
            inner.checkpoint.set_physic_msg_timestamp(ts);
        }
    }
}

pub(crate) fn run_commit_log(inner: &Inner) {
    match inner.config.flush_disk_type {
        FlushDiskType::AsyncFlush => run_async(inner),
        FlushDiskType::SyncFlush => run_group_commit(inner),
    }
}

/// How often the CommitLog's read pages are dropped from the resident set.
const RELEASE_READ_PAGES_EVERY: Duration = Duration::from_secs(1);
/// Bytes read, or (ASYNC_FLUSH) written, after which the flush thread is woken early to
/// drop mapped CommitLog pages instead of waiting for its next round.
pub(crate) const RELEASE_AFTER_BYTES: u64 = 32 << 20;

fn release_read_pages(inner: &Inner, last: &mut Instant) {
    let read = inner.read_since_release.load(Ordering::Relaxed);
    if last.elapsed() >= RELEASE_READ_PAGES_EVERY || read >= RELEASE_AFTER_BYTES {
        *last = Instant::now();
        inner.read_since_release.store(0, Ordering::Relaxed);
        for file in inner.commit_log.queue().files() {
            file.release_flushed_pages();
        }
    }
}

fn run_async(inner: &Inner) {
    let mut last_release = Instant::now();
    let cfg = &inner.config;
    let interval = Duration::from_millis(cfg.flush_interval_commit_log.max(1));
    let thorough = Duration::from_millis(cfg.flush_commit_log_thorough_interval);
    let mut last_thorough = Instant::now();
    while !inner.stopped.is_set() {
        // Timed or not, the wait ends early only when writers have dirtied a lot of pages
        // (see `MessageStore::nudge_flush`) or at shutdown.
        inner.flush_signal.wait(interval);
        let mut least = cfg.flush_commit_log_least_pages;
        if last_thorough.elapsed() >= thorough {
            last_thorough = Instant::now();
            least = 0;
        }
        match inner.commit_log.queue().flush(least) {
            Ok(_) => note_flushed(inner),
            Err(e) => tracing::error!("commitlog flush failed: {e}"),
        }
        release_read_pages(inner, &mut last_release);
    }
}

fn run_group_commit(inner: &Inner) {
    let (mut rounds, mut served, mut flush_ns) = (0u64, 0u64, 0u128);
    let debug = std::env::var_os("STORE_DEBUG_GROUP_COMMIT").is_some();
    let mut last_release = Instant::now();
    while !inner.stopped.is_set() {
        release_read_pages(inner, &mut last_release);
        // Whoever queued up while the previous sync ran goes in this one.
        // (Waiting to gather more writers was tried: bigger batches, but
        // fewer syncs per second and lower throughput overall.)
        let batch: Vec<_> = std::mem::take(&mut *inner.flush_requests.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            // Every put queued here notifies the signal (a notification is never lost),
            // so the timeout only paces dropping read pages on an idle store.
            inner.flush_signal.wait(Duration::from_secs(1));
            continue;
        }
        let target = batch.iter().map(|(o, _)| *o).max().unwrap_or(0);
        rounds += 1;
        served += batch.len() as u64;
        let t = Instant::now();
        let mut flushed = inner.commit_log.queue().flush(0);
        flush_ns += t.elapsed().as_nanos();
        // A request may name bytes published just after our flush began.
        if matches!(flushed, Ok(f) if f < target) {
            flushed = inner.commit_log.queue().flush(0);
        }
        match flushed {
            Ok(f) => {
                note_flushed(inner);
                for (o, w) in batch {
                    w.complete(o <= f);
                }
            }
            Err(e) => {
                tracing::error!("commitlog flush failed: {e}");
                for (_, w) in batch {
                    w.complete(false);
                }
                inner.flush_signal.wait(Duration::from_millis(10));
            }
        }
    }
    if debug && rounds > 0 {
        eprintln!(
            "group commit: {rounds} rounds, {:.1} puts/round, {:.0} us/flush",
            served as f64 / rounds as f64,
            flush_ns as f64 / rounds as f64 / 1000.0
        );
    }
}

fn flush_logics(inner: &Inner, least_pages: u32) -> std::io::Result<()> {
    let logics_ts = inner.checkpoint.logics_msg_timestamp();
    // Only the queues with unflushed units are copied out, and synced unlocked.
    let mut dirty = Vec::new();
    inner.for_each_queue(|cq| {
        if cq.has_unflushed() {
            dirty.push(cq.clone());
        }
    });
    for cq in dirty {
        cq.flush(least_pages)?;
    }
    if inner.config.message_index_enable {
        let ts = inner.index.flush()?;
        if ts > 0 {
            inner.checkpoint.set_index_msg_timestamp(ts);
        }
    }
    // Only claim ConsumeQueue progress that is now on disk.
    let now_ts = inner.checkpoint.logics_msg_timestamp();
    inner.checkpoint.set_logics_msg_timestamp(logics_ts.min(now_ts).max(0));
    let r = inner.checkpoint.flush();
    inner.checkpoint.set_logics_msg_timestamp(now_ts);
    r
}

pub(crate) fn run_consume_queue(inner: &Inner) {
    let cfg = &inner.config;
    let interval = Duration::from_millis(cfg.flush_interval_consume_queue.max(1));
    let thorough = Duration::from_millis(cfg.flush_consume_queue_thorough_interval);
    let mut last_thorough = Instant::now();
    // Java's FlushConsumeQueueService wakes once per interval too (1 s by default).
    while !inner.stopped.sleep(interval) {
        let mut least = cfg.flush_consume_queue_least_pages;
        let thorough_round = last_thorough.elapsed() >= thorough;
        if thorough_round {
            last_thorough = Instant::now();
            least = 0;
        }
        if let Err(e) = flush_logics(inner, least) {
            tracing::error!("consume queue flush failed: {e}");
        }
        // Dirty pages are kept (shared mapping): this only shrinks the resident set,
        // which otherwise grows with every queue and index page ever touched. Each round
        // drops the pages written since the last one; the thorough round (every
        // flushConsumeQueueThoroughInterval) also those consumers read back in. Dropping
        // every page of every queue each second cost a system call and TLB flushes per
        // queue (8,000 queues: 10% of the broker's CPU) and a page fault per write after.
        if thorough_round {
            // A system call per file: not under the queue table's lock.
            for cq in inner.all_queues() {
                cq.release_pages(true);
            }
        } else {
            // Calls the kernel only for files that grew by a page since the last round.
            inner.for_each_queue(|cq| cq.release_pages(false));
        }
        if inner.config.message_index_enable {
            inner.index.release_pages();
        }
    }
}

/// Flushes everything (shutdown, explicit flush). With many queues one
/// file-system-wide sync is far cheaper than one sync per ConsumeQueue file.
pub(crate) fn flush_all(inner: &Inner) -> std::io::Result<()> {
    inner.commit_log.commit_staged()?;
    inner.commit_log.queue().flush(0)?;
    note_flushed(inner);
    let queues = inner.all_queues();
    if queues.len() > 16 && sync_file_system(&inner.config.store_path_root_dir).is_ok() {
        for cq in &queues {
            cq.mark_flushed();
        }
    }
    flush_logics(inner, 0)
}

fn sync_file_system(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let dir = std::fs::File::open(path)?;
    // SAFETY: plain syscall on an open descriptor.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
