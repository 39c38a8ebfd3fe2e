//! Retention, with Java's thresholds: CommitLog files older than `fileReservedTime` hours
//! go at the hours listed in `deleteWhen`, or at any hour once the disk is fuller than
//! `diskMaxUsedSpaceRatio` (75%). Files younger than that go only when the disk is fuller
//! than `rocketmq.broker.diskSpaceCleanForciblyRatio` (85%) and `cleanFileForciblyEnable`
//! is on. Then ConsumeQueue and IndexFile data below the new minimum is dropped. The file
//! being written is never deleted. Past `rocketmq.broker.diskSpaceWarningLevelRatio` (90%)
//! the store refuses writes until space is freed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::message::now_millis;
use crate::store::Inner;

/// At most this many CommitLog files go per pass.
const DELETE_FILES_BATCH_MAX: usize = 10;

/// Fraction of the file system holding `path` that is used, as Java's
/// `UtilAll.getDiskPartitionSpaceUsedPercent` measures it (see [`used_ratio`]).
pub fn disk_used_ratio(path: &std::path::Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let size = |blocks: u64| blocks as u128 * st.f_frsize as u128;
    used_ratio(
        size(st.f_blocks as u64),
        size(st.f_bfree as u64),
        size(st.f_bavail as u64),
    )
}

/// Java's formula: used = total - free (File.getFreeSpace, blocks not allocated), over
/// used + usable (File.getUsableSpace, what this user may still allocate), rounded up to a
/// whole percent. Blocks reserved for root or hidden by quotas count on neither side; a
/// file system with much of its space reserved that way is not "full" (total - usable over
/// total would say it is).
pub fn used_ratio(total: u128, free: u128, usable: u128) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let used = total.saturating_sub(free);
    let entire = used + usable;
    if entire == 0 {
        return None;
    }
    let round = u128::from(!(used * 100).is_multiple_of(entire));
    Some((used * 100 / entire + round) as f64 / 100.0)
}

fn current_local_hour() -> i32 {
    crate::local_time::LocalTime::at(now_millis()).hour as i32
}

fn is_time_to_delete(delete_when: &str) -> bool {
    let hour = current_local_hour();
    delete_when
        .split(';')
        .filter_map(|h| h.trim().parse::<i32>().ok())
        .any(|h| h == hour)
}

/// One pass; returns the number of CommitLog files deleted.
pub(crate) fn clean_once(inner: &Inner, force: bool) -> usize {
    clean(inner, force, false)
}

/// One retention pass; `manual` is an operator's request (DELETE_EXPIRED_COMMITLOG): files
/// past `fileReservedTime` go now, whatever `deleteWhen` says.
pub(crate) fn clean(inner: &Inner, force: bool, manual: bool) -> usize {
    // Read once per pass, so that an update takes effect at the next one.
    let cfg = &inner.live.read().unwrap_or_else(|e| e.into_inner()).clone();
    let ratio = disk_used_ratio(&cfg.commit_log_dir()).unwrap_or(0.0);
    if ratio > cfg.disk_space_warning_level_ratio {
        if inner.writable.swap(false, Ordering::AcqRel) {
            tracing::error!(ratio, "disk almost full; refusing writes");
        }
    } else if !inner.writable.load(Ordering::Acquire) {
        inner.writable.store(true, Ordering::Release);
        tracing::info!(ratio, "disk space available again; accepting writes");
    }
    // Java clamps diskMaxUsedSpaceRatio to 10..=95.
    let over_limit = ratio > cfg.disk_max_used_space_ratio.clamp(10, 95) as f64 / 100.0;
    let clean_at_once = force || (ratio > cfg.disk_space_clean_forcibly_ratio && cfg.clean_file_forcibly_enable);
    let mut deleted = 0;
    if force || manual || over_limit || is_time_to_delete(&cfg.delete_when) {
        let reserved_ms = cfg.file_reserved_time as i64 * 3600 * 1000;
        let files = inner.commit_log.queue().files();
        let now = now_millis();
        let mut n = 0;
        for f in files.iter().take(files.len().saturating_sub(1)) {
            if n >= DELETE_FILES_BATCH_MAX {
                break;
            }
            if clean_at_once || now >= f.last_modified_millis() + reserved_ms {
                n += 1;
            } else {
                break;
            }
        }
        deleted = inner.commit_log.queue().delete_first_n(n);
    }
    if deleted > 0 || force {
        let min_phy = inner.commit_log.min_offset();
        for cq in inner.all_queues() {
            cq.delete_expired(min_phy);
        }
        inner.index.delete_expired(min_phy);
    }
    deleted
}

pub(crate) fn run(inner: &Inner) {
    let interval = Duration::from_millis(inner.config.clean_resource_interval.max(100));
    while !inner.stopped.sleep(interval) {
        clean_once(inner, false);
    }
}

#[cfg(test)]
mod tests {
    use super::used_ratio;

    const G: u128 = 1 << 30;

    #[test]
    fn used_ratio_is_javas() {
        // A file system where most free blocks are not usable by this user (as on a shared
        // build machine: 252 G, 182.5 G free, 25 G usable): 74 % used, as df and Java say,
        // not the 90 % (disk full, writes refused) of (total - usable) / total.
        assert_eq!(used_ratio(252 * G, 182 * G + G / 2, 25 * G), Some(0.74));
        assert_eq!(used_ratio(100, 50, 50), Some(0.5));
        // rounded up to the next whole percent
        assert_eq!(used_ratio(1000, 494, 494), Some(0.51));
        assert_eq!(used_ratio(100, 0, 0), Some(1.0));
        assert_eq!(used_ratio(0, 0, 0), None);
    }
}
