//! The dispatcher (Java's "reput"): follows the CommitLog and, for each new
//! message, appends its ConsumeQueue unit and IndexFile entries, then tells
//! the long-polling listener. Because it only reads the CommitLog, every
//! derived structure can be rebuilt by starting it from an earlier offset.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{self, sys_flag, DispatchInfo, RecordCheck};
use crate::commit_log::SCHEDULE_TOPIC;
use crate::consume_queue::CqUnit;
use crate::mapped_file::MappedFile;
use crate::store::Inner;

/// What happened at one position.
enum Step {
    /// Dispatched (or skipped) a record; continue at this offset.
    Next(i64),
    /// Nothing more to read yet.
    Idle,
    /// The record at this offset could not be indexed (an I/O error, most likely a full
    /// disk): stay here and retry later; puts are refused meanwhile.
    Stalled,
}

fn step(inner: &Inner, offset: i64, cached: &mut Option<Arc<MappedFile>>) -> Step {
    let cl = &inner.commit_log;
    // The file being read is kept between steps; look it up only on a change.
    let hit = cached.as_ref().is_some_and(|f| {
        !f.is_removed() && offset >= f.file_from_offset() && offset < f.file_from_offset() + f.size() as i64
    });
    if !hit {
        if offset >= cl.max_offset() {
            return Step::Idle;
        }
        *cached = cl.queue().find_by_offset(offset);
    }
    let Some(file) = cached.as_deref() else {
        // The file is gone (retention) or offset is below the minimum.
        let min = cl.min_offset();
        return if offset < min {
            Step::Next(min)
        } else {
            Step::Next(cl.roll_next_file(offset))
        };
    };
    let pos = (offset - file.file_from_offset()) as u64;
    let published = file.wrote_position();
    if pos >= published {
        if published >= file.size() {
            return Step::Next(cl.roll_next_file(offset));
        }
        return Step::Idle;
    }
    let Some(buf) = file.read(pos, (published - pos) as usize) else {
        return Step::Idle;
    };
    match codec::check_record(buf, false) {
        RecordCheck::Message(d) => {
            let size = d.size as i64;
            match dispatch(inner, &d) {
                Ok(()) => {
                    logics_recovered(inner);
                    Step::Next(offset + size)
                }
                Err(e) => {
                    logics_failed(inner, offset, &e);
                    Step::Stalled
                }
            }
        }
        RecordCheck::EndOfFile => Step::Next(cl.roll_next_file(offset)),
        RecordCheck::Invalid(why) => {
            // Published bytes are always whole records; this means damage
            // written by someone else. Skip to the next file rather than spin.
            tracing::error!(
                offset,
                file = %file.path().display(),
                "unreadable CommitLog record during dispatch ({why}); skipping to next file"
            );
            Step::Next(cl.roll_next_file(offset))
        }
    }
}

/// Tag code stored in the ConsumeQueue: for delayed messages parked in the
/// schedule topic, the delivery time; otherwise the tag hash.
fn tags_code_for(inner: &Inner, d: &DispatchInfo<'_>) -> i64 {
    if d.topic == SCHEDULE_TOPIC {
        if let Some(level) = d.delay_level {
            let max = inner.delay_levels_ms.len() as i32;
            let level = level.min(max);
            if level > 0 {
                let delay = inner.delay_levels_ms.get((level - 1) as usize).copied().unwrap_or(1000);
                return d.store_timestamp + delay;
            }
        }
    }
    d.tags_code
}

/// Indexes one record. Err for a failure worth retrying (the files could not be written);
/// a record whose queue slot another record holds is logged and passed over, since
/// retrying cannot change that.
fn dispatch(inner: &Inner, d: &DispatchInfo<'_>) -> std::io::Result<()> {
    if inner.deleted_topics.covers(&d.topic, d.commit_log_offset) {
        return Ok(());
    }
    let tran = sys_flag::transaction_type(d.sys_flag);
    let mut arrived = None;
    if tran == sys_flag::TRANSACTION_NOT_TYPE || tran == sys_flag::TRANSACTION_COMMIT_TYPE {
        let cq = inner.find_or_create_queue(&d.topic, d.queue_id);
        let tags_code = tags_code_for(inner, d);
        let unit = CqUnit {
            commit_log_offset: d.commit_log_offset,
            size: d.size,
            tags_code,
        };
        match cq.put(unit, d.queue_offset) {
            Ok(()) => {
                inner.checkpoint.set_logics_msg_timestamp(d.store_timestamp);
                arrived = Some(tags_code);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                tracing::error!(topic = %d.topic, queue = d.queue_id, "consume queue write refused: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    if inner.config.message_index_enable {
        inner.index.build_index(d)?;
    }
    if let Some(tags_code) = arrived {
        let listener = inner.listener.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(l) = listener {
            l(&d.topic, d.queue_id, d.queue_offset + 1, tags_code, d.store_timestamp);
        }
    }
    Ok(())
}

/// How often a lasting indexing failure is logged again.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

fn logics_failed(inner: &Inner, offset: i64, e: &std::io::Error) {
    let first = !inner.logics_error.swap(true, Ordering::AcqRel);
    let mut last = inner.logics_error_logged.lock().unwrap_or_else(|e| e.into_inner());
    if first || last.is_none_or(|t| t.elapsed() >= FAILURE_LOG_EVERY) {
        tracing::error!(
            offset,
            "cannot write ConsumeQueue or index for the record at this CommitLog offset ({e}); \
             refusing puts and retrying"
        );
        *last = Some(std::time::Instant::now());
    }
}

fn logics_recovered(inner: &Inner) {
    if inner.logics_error.load(Ordering::Relaxed) && inner.logics_error.swap(false, Ordering::AcqRel) {
        tracing::info!("ConsumeQueue and index writes work again; accepting puts");
    }
}

/// Dispatches everything currently in the CommitLog, waiting for any other thread that
/// is dispatching to finish first.
pub(crate) fn catch_up(inner: &Inner) {
    while !try_hold(inner) {
        std::thread::yield_now();
    }
    catch_up_locked(inner);
    inner.dispatching.store(false, Ordering::SeqCst);
}

/// Takes the dispatcher role if nobody holds it.
fn try_hold(inner: &Inner) -> bool {
    inner
        .dispatching
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
        .is_ok()
}

fn catch_up_locked(inner: &Inner) {
    let mut cached = None;
    loop {
        let from = inner.reput_from.load(Ordering::Acquire);
        match step(inner, from, &mut cached) {
            Step::Next(n) => inner.reput_from.store(n, Ordering::Release),
            Step::Idle => {
                if inner.queue_offsets_pending.load(Ordering::Acquire) {
                    // Opened while indexing failed: the next queue offsets could only be
                    // taken now that every recovered record is indexed.
                    crate::recovery::restore_queue_offsets(inner);
                    inner.queue_offsets_pending.store(false, Ordering::Release);
                    tracing::info!("recovered records indexed; next queue offsets restored, accepting puts");
                }
                break;
            }
            Step::Stalled => break,
        }
    }
    inner.dispatched.notify();
    inner.ha.wake_transfers();
}

/// Dispatches what has been appended, on the calling thread, unless another thread is
/// already dispatching (it will see these messages too). Writers call this right after
/// they append, so a message reaches its ConsumeQueue, and a waiting consumer, without
/// waking another thread; that wake-up per message cost more than the dispatch itself.
pub(crate) fn dispatch_pending(inner: &Inner) {
    if !dispatch_until_stalled(inner) {
        // Something could not be dispatched (a ConsumeQueue write failed): the background
        // thread retries it.
        inner.new_data.notify();
    }
}

/// `dispatch_pending`'s loop: false when it stopped with records left that it could not
/// dispatch, true when it caught up or another thread is dispatching.
fn dispatch_until_stalled(inner: &Inner) -> bool {
    loop {
        // Pairs with the fence below: either this thread sees the dispatcher gone, or the
        // dispatcher, after letting go, sees what this thread appended.
        std::sync::atomic::fence(Ordering::SeqCst);
        let from = inner.reput_from.load(Ordering::Acquire);
        if from >= inner.commit_log.max_offset() {
            return true;
        }
        if !try_hold(inner) {
            return true;
        }
        catch_up_locked(inner);
        inner.dispatching.store(false, Ordering::SeqCst);
        if inner.reput_from.load(Ordering::Acquire) == from {
            return false;
        }
    }
}

/// How soon the background dispatcher tries again after a record it could not dispatch.
const RETRY: Duration = Duration::from_millis(10);
/// How long it sleeps when caught up, unless woken: writers dispatch their own appends and
/// wake it when they cannot, so this is only a safety net.
const IDLE: Duration = Duration::from_secs(1);

/// The background dispatcher: retries what writers could not dispatch (and what
/// `wait_for_dispatch` nudges). It sleeps while caught up, so an idle broker stays idle.
pub(crate) fn run(inner: &Inner) {
    while !inner.stopped.is_set() {
        let caught_up =
            dispatch_until_stalled(inner) && inner.reput_from.load(Ordering::Acquire) >= inner.commit_log.max_offset();
        inner.new_data.wait(if caught_up { IDLE } else { RETRY });
    }
}
