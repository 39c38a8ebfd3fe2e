//! Startup recovery: find where valid CommitLog data ends, cut everything
//! after it, and make the ConsumeQueues and IndexFiles agree with it.
//!
//! Normal recovery (no `abort` file) scans the last three CommitLog files;
//! abnormal recovery scans from the newest file whose first message is older
//! than the checkpoint. Either way a record that fails the magic, size or
//! (with `checkCRCOnRecover`) CRC check ends the valid data: a torn tail is
//! truncated there. Missing ConsumeQueue and IndexFile entries are rebuilt
//! afterwards by the dispatcher, which starts from the returned offset.

use std::sync::Arc;

use crate::codec::{self, RecordCheck};
use crate::mapped_file::MappedFile;
use crate::store::Inner;

/// Outcome of recovery: where the dispatcher must start.
pub(crate) struct Recovered {
    pub reput_from: i64,
}

/// Scans one file from `start`, returning the end of valid data in it and
/// whether the scan reached a blank record (file end) rather than bad data.
fn scan_file(f: &MappedFile, check_crc: bool) -> (u64, bool) {
    let buf = f.read_unpublished(0);
    let mut pos = 0usize;
    let reached_end = loop {
        if pos + 8 > buf.len() {
            break pos == buf.len();
        }
        match codec::check_record(&buf[pos..], check_crc) {
            RecordCheck::Message(d) => {
                if d.commit_log_offset != f.file_from_offset() + pos as i64 {
                    // A record copied from elsewhere: not ours.
                    break false;
                }
                pos += d.size as usize;
            }
            RecordCheck::EndOfFile => break true,
            RecordCheck::Invalid => break false,
        }
    };
    f.drop_pages();
    (pos as u64, reached_end)
}

/// First message's store timestamp in a file (0 when none).
fn first_store_timestamp(f: &MappedFile) -> i64 {
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
    let mut valid_end = files[start_index].file_from_offset();
    for f in &files[start_index..] {
        if f.file_from_offset() != valid_end {
            break; // a gap between files: data after it can't be trusted
        }
        let (end, reached_file_end) = scan_file(f, cfg.check_crc_on_recover);
        if reached_file_end {
            valid_end = f.file_from_offset() + f.size() as i64;
            continue;
        }
        valid_end = f.file_from_offset() + end as i64;
        break;
    }
    // When the last file ended exactly on a blank record the next write
    // starts a new file; keep the offset at that boundary.
    cl.queue().truncate_to(valid_end)?;
    if valid_end != cl.max_offset() {
        tracing::warn!(valid_end, max = cl.max_offset(), "commitlog truncated");
    }
    let valid_end = cl.max_offset();

    // 3. Queues and indexes must not point past valid data.
    for cq in inner.all_queues() {
        if cq.max_physic_offset() >= valid_end {
            cq.truncate_dirty(valid_end)?;
        }
    }
    inner.index.truncate_beyond(valid_end);

    // 4. Next queue offsets and queue minimums.
    let min_phy = cl.min_offset();
    let mut table = std::collections::HashMap::new();
    let mut max_cq_phys = min_phy;
    for cq in inner.all_queues() {
        table.insert((cq.topic().to_string(), cq.queue_id()), cq.max_offset_in_queue());
        cq.correct_min_offset(min_phy);
        max_cq_phys = max_cq_phys.max(cq.max_physic_offset());
    }
    cl.set_topic_queue_table(table);

    // 5. Where the dispatcher starts: after the newest indexed message (as
    // Java), earlier when the index is behind or after an abnormal exit.
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
    let reput_from = reput_from.clamp(min_phy, valid_end);
    Ok(Recovered { reput_from })
}
