//! Master/slave replication (Java 4.9.8's HAService), wire-compatible with the Java
//! broker. On the HA port (`listenPort + 1`) a slave connects to its master and both
//! sides exchange raw big-endian frames, no remoting header:
//!
//! * slave -> master: 8 bytes, the slave's CommitLog max offset: its first report says
//!   where to start (0: the start of the master's last file), later ones acknowledge.
//! * master -> slave: `[8-byte offset][4-byte length]` then that many CommitLog bytes,
//!   at most `haTransferBatchSize` and never across a file; length 0 is a heartbeat.
//!
//! The slave writes the bytes at the same offsets (`CommitLog::append_replicated`), so
//! its store is the master's byte for byte, and dispatches them to its ConsumeQueues and
//! index as any append. A SYNC_MASTER answers a put only once a slave acknowledged an
//! offset past it (`Replication::wait_for_slave`).
//!
//! The network side runs on the caller's tokio runtime (`master::serve`, `slave::run`);
//! the state shared with the put path is `HaState`.

pub mod master;
pub mod slave;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::commit_log::ReplicaAppendError;
use crate::store::{FlushWaiter, Inner};

/// Size of the master's transfer header: offset + length.
pub const TRANSFER_HEADER_SIZE: usize = 12;

/// Replication state the put path reads (Java's HAService fields).
#[derive(Default)]
pub(crate) struct HaState {
    /// Slave connections on the HA port.
    connections: AtomicUsize,
    /// The highest offset any slave acknowledged (`push2SlaveMaxOffset`).
    acked: AtomicI64,
    /// SYNC_MASTER puts waiting for a slave: (offset that must be acknowledged, who).
    waiters: Mutex<Vec<(i64, FlushWaiter)>>,
    /// Woken after appends are dispatched, so transfers to slaves start at once.
    pub(crate) new_data: tokio::sync::Notify,
    /// Puts refused because this store is a slave's (logged now and then).
    pub(crate) slave_refusals: std::sync::atomic::AtomicU64,
}

impl HaState {
    /// Wakes the links waiting to send new data (nothing to do without a slave).
    pub(crate) fn wake_transfers(&self) {
        if self.connections.load(Ordering::Relaxed) > 0 {
            self.new_data.notify_waiters();
        }
    }

    /// Java's `isSlaveOK`: a slave is connected and not too far behind.
    pub(crate) fn slave_ok(&self, master_put_where: i64, fallbehind_max: i64) -> bool {
        self.connections.load(Ordering::Acquire) > 0
            && master_put_where - self.acked.load(Ordering::Acquire) < fallbehind_max
    }

    /// A slave acknowledged `offset`: raise the mark and answer the puts it covers.
    fn acknowledged(&self, offset: i64) {
        let before = self.acked.fetch_max(offset, Ordering::AcqRel);
        if offset > before {
            self.complete_covered();
        }
    }

    fn complete_covered(&self) {
        let acked = self.acked.load(Ordering::Acquire);
        let done: Vec<FlushWaiter> = {
            let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if w.is_empty() {
                return;
            }
            let mut done = Vec::new();
            let mut i = 0;
            while i < w.len() {
                if w[i].0 <= acked {
                    done.push(w.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
            done
        };
        for waiter in done {
            waiter.complete(true);
        }
    }

    pub(crate) fn add_waiter(&self, offset: i64, waiter: FlushWaiter) {
        {
            let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            // Puts that gave up waiting leave closed senders behind.
            w.retain(|(_, x)| !x.abandoned());
            w.push((offset, waiter));
        }
        // The acknowledgement may have come in meanwhile.
        self.complete_covered();
    }
}

/// What the replication links need from the store. Cheap to clone.
#[derive(Clone)]
pub struct Replication {
    pub(crate) inner: Arc<Inner>,
}

impl Replication {
    /// The offset just past the last whole record stored.
    pub fn max_offset(&self) -> i64 {
        self.inner.commit_log.max_offset()
    }
    pub fn file_size(&self) -> i64 {
        self.inner.commit_log.file_size() as i64
    }
    pub fn transfer_batch_size(&self) -> usize {
        self.inner.config.ha_transfer_batch_size.max(1)
    }
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.inner.config.ha_send_heartbeat_interval.max(1))
    }
    pub fn housekeeping_interval(&self) -> Duration {
        Duration::from_millis(self.inner.config.ha_housekeeping_interval.max(1))
    }
    pub fn stopped(&self) -> bool {
        self.inner.stopped.is_set()
    }

    // ---- master side

    /// Up to one batch of CommitLog bytes from `offset` (never across a file).
    pub fn data_from(&self, offset: i64) -> Option<Bytes> {
        self.inner.commit_log.data_from(offset, self.transfer_batch_size())
    }
    /// Resolves once new data may be there (or at once if it came since `enable`).
    pub fn new_data(&self) -> &tokio::sync::Notify {
        &self.inner.ha.new_data
    }
    pub fn slave_connected(&self) {
        self.inner.ha.connections.fetch_add(1, Ordering::AcqRel);
    }
    pub fn slave_disconnected(&self) {
        self.inner.ha.connections.fetch_sub(1, Ordering::AcqRel);
    }
    pub fn slave_acknowledged(&self, offset: i64) {
        self.inner.ha.acknowledged(offset);
    }
    /// Slaves connected now.
    pub fn slave_connections(&self) -> usize {
        self.inner.ha.connections.load(Ordering::Acquire)
    }
    /// The highest offset a slave acknowledged.
    pub fn slave_acked_offset(&self) -> i64 {
        self.inner.ha.acked.load(Ordering::Acquire)
    }

    // ---- slave side

    /// Where the next byte from the master goes (partial records included).
    pub fn received_offset(&self) -> i64 {
        self.inner.commit_log.replica_received_offset()
    }
    /// Forgets received bytes past the last whole record, so a new link resumes from
    /// the offset the slave reports.
    pub fn reset_partial(&self) {
        self.inner.commit_log.drop_unpublished_tail();
    }
    /// Writes what the master sent and dispatches the whole records it completes.
    pub fn append(&self, offset: i64, data: &[u8]) -> Result<i64, ReplicaAppendError> {
        let published = self.inner.commit_log.append_replicated(offset, data)?;
        crate::dispatcher::dispatch_pending(&self.inner);
        Ok(published)
    }
}
