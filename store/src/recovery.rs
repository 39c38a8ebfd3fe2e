//! Startup recovery: find where valid CommitLog data ends, cut everything
//! after it, and make the ConsumeQueues and IndexFiles agree with it.
//!
//! Normal recovery (no `abort` file) scans the last three CommitLog files;
//! abnormal recovery scans from the newest file whose first message is older
//! than the checkpoint. Either way a record that fails the magic, size or
//! (with `checkCRCOnRecover`) CRC check ends the valid data: a torn tail is
//! truncated there. Missing ConsumeQueue and IndexFile entries are rebuilt
//! afterwards by the dispatcher, which starts from the returned offset; only
//! then are the next queue offsets taken from the ConsumeQueues
//! (`restore_queue_offsets`).

use std::sync::Arc;

use crate::codec::{self, RecordCheck};
use crate::mapped_file::MappedFile;
use crate::store::Inner;

/// Outcome of recovery: where the dispatcher must start.
pub(crate) struct Recovered {
    pub reput_from: i64,
}

/// How a scan of one CommitLog file ended.
enum ScanEnd {
    /// The blank record, or exactly at the file's end: the next file continues.
    FileEnd,
    /// Zeros where the next record would start: the end of written data.
    Clean,
    /// Bytes that are not a record of ours: the valid data ends here.
    Damaged(String),
}

/// Scans one file from its start, showing each valid record to `seen`, and returns the
/// end of valid data in it and why the scan stopped there.
fn scan_file(f: &MappedFile, check_crc: bool, seen: &mut Unindexed) -> (u64, ScanEnd) {
    let buf = f.read_unpublished(0);
    let mut pos = 0usize;
    let end = loop {
        if pos == buf.len() {
            break ScanEnd::FileEnd;
        }
        if pos + 8 > buf.len() {
            break ScanEnd::Damaged(format!(
                "{} bytes at the file's end are too short for a record",
                buf.len() - pos
            ));
        }
        if buf[pos..pos + 8].iter().all(|&b| b == 0) {
            break ScanEnd::Clean;
        }
        match codec::check_record(&buf[pos..], check_crc) {
            RecordCheck::Message(d) => {
                let here = f.file_from_offset() + pos as i64;
                if d.commit_log_offset != here {
                    break ScanEnd::Damaged(format!(
                        "record claims CommitLog offset {}, stored at {here}",
                        d.commit_log_offset
                    ));
                }
                seen.record(&d);
                pos += d.size as usize;
            }
            RecordCheck::EndOfFile => break ScanEnd::FileEnd,
            RecordCheck::Invalid(why) => break ScanEnd::Damaged(why.to_string()),
        }
    };
    f.drop_pages();
    (pos as u64, end)
}

/// Finds, while recovery scans the CommitLog, the records their ConsumeQueue does not
/// cover. After a crash that is the tail the dispatcher had not reached; after a clean
/// exit it means a damaged or deleted ConsumeQueue. Either way those records still own
/// their queue offsets, so the dispatcher must start at or before the first of them.
struct Unindexed<'a> {
    inner: &'a Inner,
    /// Per queue seen: the ConsumeQueue's end, and whether the first record seen
    /// already lay past it (the missing units are older than the scan).
    queues: std::collections::HashMap<(String, i32), i64>,
    /// CommitLog offset of the first record whose unit is missing.
    first: Option<i64>,
    /// Some queue misses units from before the scanned files.
    before_scan: bool,
}

impl<'a> Unindexed<'a> {
    fn new(inner: &'a Inner) -> Self {
        Unindexed {
            inner,
            queues: Default::default(),
            first: None,
            before_scan: false,
        }
    }

    fn record(&mut self, d: &codec::DispatchInfo<'_>) {
        let tran = codec::sys_flag::transaction_type(d.sys_flag);
        if tran != codec::sys_flag::TRANSACTION_NOT_TYPE && tran != codec::sys_flag::TRANSACTION_COMMIT_TYPE {
            return; // half and rolled-back messages take no queue offset
        }
        if self.inner.deleted_topics.covers(&d.topic, d.commit_log_offset) {
            return;
        }
        let key = (d.topic.to_string(), d.queue_id);
        let cq_end = match self.queues.get(&key) {
            Some(end) => *end,
            None => {
                let end = self
                    .inner
                    .find_queue(&d.topic, d.queue_id)
                    .map(|cq| cq.max_offset_in_queue())
                    .unwrap_or(0);
                if d.queue_offset > end {
                    self.before_scan = true;
                }
                self.queues.insert(key, end);
                end
            }
        };
        if d.queue_offset >= cq_end && self.first.is_none() {
            self.first = Some(d.commit_log_offset);
        }
    }
}

/// Bytes from `from` to the last non-zero byte of a file: what a cut there throws away.
fn written_bytes_after(f: &MappedFile, from: u64) -> u64 {
    let buf = f.read_unpublished(0);
    let from = (from as usize).min(buf.len());
    let last = buf[from..].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    f.drop_pages();
    last as u64
}

/// First message's store timestamp in a file (0 when none).
pub(crate) fn first_store_timestamp(f: &MappedFile) -> i64 {
    let buf = f.read_unpublished(0);
    if codec::read_i32(buf, 4) != Some(codec::MESSAGE_MAGIC_CODE)
        && codec::read_i32(buf, 4) != Some(codec::MESSAGE_MAGIC_CODE_V2)
    {
        return 0;
    }
    let flag = codec::read_i32(buf, codec::SYS_FLAG_POSITION).unwrap_or(0);
    codec::read_i64(buf, codec::store_timestamp_position(flag)).unwrap_or(0)
}

pub(crate) fn recover(inner: &Inner, last_exit_ok: bool) -> std::io::Result<Recovered> {
    let cfg = &inner.config;
    // 1. Each ConsumeQueue cut after its last well-formed unit.
    for cq in inner.all_queues() {
        cq.recover()?;
    }

    // 2. The CommitLog.
    let cl = &inner.commit_log;
    let files: Vec<Arc<MappedFile>> = cl.queue().files();
    if files.is_empty() {
        // No CommitLog at all: nothing the queues point at exists.
        for cq in inner.all_queues() {
            cq.destroy();
        }
        inner.drop_all_queues();
        inner.index.destroy();
        return Ok(Recovered { reput_from: 0 });
    }
    let start_index = if last_exit_ok {
        files.len().saturating_sub(3)
    } else {
        let limit = if cfg.message_index_enable && cfg.message_index_safe {
            inner.checkpoint.min_timestamp_index()
        } else {
            inner.checkpoint.min_timestamp()
        };
        let mut idx = 0;
        for (i, f) in files.iter().enumerate().rev() {
            let ts = first_store_timestamp(f);
            if ts != 0 && ts <= limit {
                idx = i;
                break;
            }
        }
        idx
    };
    let mut unindexed = Unindexed::new(inner);
    let mut valid_end = files[start_index].file_from_offset();
    for (i, f) in files[start_index..].iter().enumerate() {
        if f.file_from_offset() != valid_end {
            tracing::error!(
                expected = valid_end,
                found = f.file_from_offset(),
                file = %f.path().display(),
                "CommitLog recovery: gap between files; dropping this file and every later one"
            );
            break;
        }
        let (end, how) = scan_file(f, cfg.check_crc_on_recover, &mut unindexed);
        valid_end = f.file_from_offset() + end as i64;
        match how {
            ScanEnd::FileEnd => {
                valid_end = f.file_from_offset() + f.size() as i64;
                continue;
            }
            ScanEnd::Clean if !last_exit_ok => {
                // After a crash, zeros followed by data mean pages that never reached
                // the disk; the records after them cannot be trusted, but say so.
                let after = written_bytes_after(f, end);
                if after > 0 {
                    tracing::error!(
                        file = %f.path().display(),
                        offset = valid_end,
                        position = end,
                        dropped_bytes = after,
                        "CommitLog recovery: zeros where a record should start, with data after them; that data is dropped"
                    );
                }
            }
            ScanEnd::Clean => {}
            ScanEnd::Damaged(why) => {
                let later: Vec<_> = files[start_index + i + 1..]
                    .iter()
                    .map(|f| f.path().display().to_string())
                    .collect();
                tracing::error!(
                    file = %f.path().display(),
                    offset = valid_end,
                    position = end,
                    dropped_bytes = written_bytes_after(f, end),
                    dropped_files = ?later,
                    "CommitLog recovery: invalid record ({why}); everything from here on is dropped"
                );
            }
        }
        break;
    }
    // When the last file ended exactly on a blank record the next write
    // starts a new file; keep the offset at that boundary.
    cl.queue().truncate_to(valid_end)?;
    let valid_end = cl.max_offset();

    // 3. Queues and indexes must not point past valid data.
    for cq in inner.all_queues() {
        if cq.max_physic_offset() >= valid_end {
            cq.truncate_dirty(valid_end)?;
        }
    }
    inner.index.truncate_beyond(valid_end);

    // 4. Where the dispatcher starts: after the newest indexed message (as
    // Java), earlier when the index is behind or after an abnormal exit.
    let min_phy = cl.min_offset();
    let max_cq_phys = inner
        .all_queues()
        .iter()
        .map(|cq| cq.max_physic_offset())
        .fold(min_phy, i64::max);
    let mut reput_from = max_cq_phys;
    if cfg.message_index_enable {
        let idx_end = inner.index.end_phy_offset();
        let idx_files = inner.index.files();
        let idx_from = if idx_files.is_empty() { min_phy } else { idx_end };
        reput_from = reput_from.min(idx_from);
    }
    if !last_exit_ok {
        reput_from = reput_from.min(files[start_index].file_from_offset());
    }
    if unindexed.before_scan {
        tracing::error!(
            "ConsumeQueue units missing for records older than the recovery scan (a damaged or \
             deleted ConsumeQueue); rebuilding every ConsumeQueue from the start of the CommitLog"
        );
        reput_from = min_phy;
    } else if let Some(first) = unindexed.first.filter(|&f| f < reput_from) {
        if last_exit_ok {
            tracing::error!(
                from = first,
                "ConsumeQueue behind the CommitLog after a clean shutdown (damaged or deleted); rebuilding from here"
            );
        }
        reput_from = first;
    }
    let reput_from = reput_from.clamp(min_phy, valid_end);
    Ok(Recovered { reput_from })
}

/// Sets each queue's next offset and minimum from its ConsumeQueue. Must run only after
/// the dispatcher has caught up with the recovered CommitLog: a record that reached the
/// CommitLog but not its ConsumeQueue before a crash still owns its queue offset, and
/// taking the next offset from the ConsumeQueue's end before that record is dispatched
/// would hand the same offset to the next put (one of the two is then never consumed).
pub(crate) fn restore_queue_offsets(inner: &Inner) {
    let cl = &inner.commit_log;
    let min_phy = cl.min_offset();
    inner.deleted_topics.prune(min_phy);
    let mut table = std::collections::HashMap::new();
    for cq in inner.all_queues() {
        table.insert((cq.topic().to_string(), cq.queue_id()), cq.max_offset_in_queue());
        cq.correct_min_offset(min_phy);
    }
    cl.set_topic_queue_table(table);
}
