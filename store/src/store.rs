//! `MessageStore`: the one entry point the broker uses.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::checkpoint::Checkpoint;
use crate::codec::{self, DecodedMessage};
use crate::commit_log::{AppendLimits, CommitLog};
use crate::config::{BrokerRole, FlushDiskType, StoreConfig};
use crate::consume_queue::ConsumeQueue;
use crate::deleted_topics::DeletedTopics;
use crate::fast_hash::FastMap;
use crate::index_file::IndexService;
use crate::message::*;
use crate::wake::{Signal, StopFlag};
use crate::{dispatcher, flush, recovery, retention, staging};

/// Errors opening or running the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("store directory {0} is locked by another process")]
    Locked(String),
}

/// Called by the dispatcher when a queue gets a new message:
/// (topic, queue id, queue offset just past the new message, tag hash, store timestamp).
pub type ArrivalListener = Arc<dyn Fn(&str, i32, i64, i64, i64) + Send + Sync>;

/// A put waiting for its bytes to reach disk. A blocked thread is parked
/// and woken alone once its own bytes are flushed, so a group-commit round
/// costs one wake-up per satisfied writer and none for the others.
pub(crate) enum FlushWaiter {
    Blocking {
        thread: std::thread::Thread,
        result: Arc<std::sync::atomic::AtomicU8>,
    },
    Async(tokio::sync::oneshot::Sender<bool>),
}

/// States of `FlushWaiter::Blocking::result`.
const WAITING: u8 = 0;
const FLUSHED: u8 = 1;
const FAILED: u8 = 2;

impl FlushWaiter {
    /// Whoever waited has given up (an async put that timed out).
    pub(crate) fn abandoned(&self) -> bool {
        match self {
            // A blocked put that timed out cannot be told apart; it is answered harmlessly.
            FlushWaiter::Blocking { .. } => false,
            FlushWaiter::Async(tx) => tx.is_closed(),
        }
    }

    pub(crate) fn complete(self, ok: bool) {
        match self {
            FlushWaiter::Blocking { thread, result } => {
                result.store(if ok { FLUSHED } else { FAILED }, Ordering::Release);
                thread.unpark();
            }
            FlushWaiter::Async(tx) => {
                let _ = tx.send(ok);
            }
        }
    }
}

/// What a put has to wait for from the slaves.
enum ReplicaWait {
    NotNeeded,
    Unavailable,
    Until(i64),
}

fn with_replica_status(mut result: PutResult, replica: PutMessageStatus) -> PutResult {
    if replica != PutMessageStatus::PutOk {
        result.status = replica;
    }
    result
}

pub(crate) struct Inner {
    pub config: StoreConfig,
    /// The settings Java reads from its config object at each use, so that
    /// UPDATE_BROKER_CONFIG changes them at once: retention (`fileReservedTime`,
    /// `deleteWhen`, the disk ratios) and how much one pull carries (`maxTransfer*`,
    /// `accessMessageInMemoryMaxRatio`). Everything else is read from `config`.
    pub live: RwLock<StoreConfig>,
    pub commit_log: CommitLog,
    pub queues: RwLock<FastMap<String, FastMap<i32, Arc<ConsumeQueue>>>>,
    pub index: IndexService,
    pub checkpoint: Checkpoint,
    /// Next CommitLog offset the dispatcher will read.
    pub reput_from: AtomicI64,
    /// Wakes the dispatcher after an append.
    pub new_data: Signal,
    /// Wakes the commit thread after an append (staged writes).
    pub commit_signal: Signal,
    /// Signalled by the dispatcher after it advanced.
    pub dispatched: Signal,
    /// Held by whichever thread is dispatching (see `dispatcher::dispatch_pending`).
    pub dispatching: AtomicBool,
    /// SYNC_FLUSH requests: (offset that must be flushed, who waits).
    pub flush_requests: Mutex<Vec<(i64, FlushWaiter)>>,
    /// Staged writes: puts waiting for their bytes to be written to the file (the page
    /// cache), which a killed process cannot lose: (offset that must be committed, who).
    pub commit_requests: Mutex<Vec<(i64, FlushWaiter)>>,
    pub flush_signal: Signal,
    /// CommitLog offset at which the next early flush is asked for (ASYNC_FLUSH).
    pub next_flush_nudge: AtomicI64,
    /// CommitLog bytes read since the flush thread last dropped read pages.
    pub read_since_release: std::sync::atomic::AtomicU64,
    pub stopped: StopFlag,
    /// False once the disk is nearly full: puts are refused.
    pub writable: AtomicBool,
    pub listener: RwLock<Option<ArrivalListener>>,
    pub delay_levels_ms: Vec<i64>,
    /// Deleted topics whose records must not be dispatched again.
    pub deleted_topics: DeletedTopics,
    /// The dispatcher cannot write a ConsumeQueue or index (full disk): puts are refused.
    pub logics_error: AtomicBool,
    pub logics_error_logged: Mutex<Option<Instant>>,
    /// Recovery could not index every record yet, so the next queue offsets are not
    /// known: puts are refused until the dispatcher restores them.
    pub queue_offsets_pending: AtomicBool,
    /// Put counters for the broker's statistics.
    pub put_stats: crate::stats::PutStats,
    /// Master/slave replication (see `ha`).
    pub ha: crate::ha::HaState,
}

impl Inner {
    pub(crate) fn all_queues(&self) -> Vec<Arc<ConsumeQueue>> {
        let q = self.queues.read().unwrap_or_else(|e| e.into_inner());
        q.values().flat_map(|m| m.values().cloned()).collect()
    }

    /// Runs `op` on every ConsumeQueue under the table's read lock: no copy of the table
    /// (the flush thread visits every queue each second; copying 40,000 `Arc`s was most
    /// of an idle broker's CPU). `op` must not block: it holds off new queues.
    pub(crate) fn for_each_queue(&self, mut op: impl FnMut(&Arc<ConsumeQueue>)) {
        let q = self.queues.read().unwrap_or_else(|e| e.into_inner());
        for cq in q.values().flat_map(|m| m.values()) {
            op(cq);
        }
    }

    pub(crate) fn drop_all_queues(&self) {
        self.queues.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub(crate) fn find_queue(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        let q = self.queues.read().unwrap_or_else(|e| e.into_inner());
        q.get(topic).and_then(|m| m.get(&queue_id)).cloned()
    }

    pub(crate) fn find_or_create_queue(&self, topic: &str, queue_id: i32) -> Arc<ConsumeQueue> {
        if let Some(q) = self.find_queue(topic, queue_id) {
            return q;
        }
        let mut q = self.queues.write().unwrap_or_else(|e| e.into_inner());
        q.entry(topic.to_string())
            .or_default()
            .entry(queue_id)
            .or_insert_with(|| {
                Arc::new(ConsumeQueue::new(
                    &self.config.consume_queue_dir(),
                    topic,
                    queue_id,
                    self.config.mapped_file_size_consume_queue,
                ))
            })
            .clone()
    }

    /// Loads every `consumequeue/<topic>/<queueId>/` directory.
    fn load_consume_queues(&self) -> std::io::Result<()> {
        let root = self.config.consume_queue_dir();
        let Ok(topics) = std::fs::read_dir(&root) else {
            return Ok(());
        };
        for t in topics.flatten() {
            if !t.path().is_dir() {
                continue;
            }
            let Some(topic) = t.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(qids) = std::fs::read_dir(t.path()) else {
                continue;
            };
            for q in qids.flatten() {
                let Some(qid) = q.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                let cq = self.find_or_create_queue(&topic, qid);
                cq.load()?;
            }
        }
        Ok(())
    }
}

/// The message store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct MessageStore {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    _lock_file: File,
    root: std::path::PathBuf,
}

/// Store roots open in this process. POSIX record locks don't conflict
/// within one process, so a second open here is refused through this set.
static OPEN_ROOTS: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());

fn lock_store(path: &std::path::Path) -> Result<File, StoreError> {
    use std::os::unix::io::AsRawFd;
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    // A POSIX record lock on the first byte, which is what a Java broker takes too.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = 0;
    fl.l_len = 1;
    // SAFETY: fcntl with a valid descriptor and a properly initialised struct.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &fl) };
    if rc != 0 {
        return Err(StoreError::Locked(path.display().to_string()));
    }
    f.write_all(b"lock")?;
    f.sync_all()?;
    Ok(f)
}

/// A check of a whole stored record (SQL92 filters read its properties), for
/// `get_messages_filtered`.
pub type RecordFilter<'a> = &'a dyn Fn(&[u8]) -> bool;

impl MessageStore {
    /// Opens (or creates) the store under `config.store_path_root_dir`,
    /// recovers it, rebuilds missing queue and index entries, and starts the
    /// background services (dispatcher, flush, retention).
    pub fn open(config: StoreConfig) -> Result<MessageStore, StoreError> {
        std::fs::create_dir_all(&config.store_path_root_dir)?;
        std::fs::create_dir_all(config.commit_log_dir())?;
        let root = std::fs::canonicalize(&config.store_path_root_dir)?;
        {
            let mut open = OPEN_ROOTS.lock().unwrap_or_else(|e| e.into_inner());
            if open.contains(&root) {
                return Err(StoreError::Locked(root.display().to_string()));
            }
            open.push(root.clone());
        }
        match Self::open_locked(config, root.clone()) {
            Ok(s) => Ok(s),
            Err(e) => {
                OPEN_ROOTS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|r| r != &root);
                Err(e)
            }
        }
    }

    fn open_locked(config: StoreConfig, root: std::path::PathBuf) -> Result<MessageStore, StoreError> {
        let lock_file = lock_store(&config.lock_path())?;
        let last_exit_ok = !config.abort_path().exists();
        let delay_levels_ms = config.delay_levels_ms();
        let inner = Arc::new(Inner {
            commit_log: CommitLog::new(
                config.commit_log_dir(),
                config.mapped_file_size_commit_log,
                AppendLimits {
                    max_message_size: config.max_message_size,
                    max_delay_level: delay_levels_ms.len() as i32,
                    write_through_file: config.flush_disk_type == FlushDiskType::SyncFlush,
                    stage_writes: config.stages_commit_log_writes(),
                },
            ),
            queues: RwLock::new(FastMap::default()),
            index: IndexService::new(config.index_dir(), config.max_hash_slot_num, config.max_index_num),
            checkpoint: Checkpoint::open(&config.checkpoint_path())?,
            reput_from: AtomicI64::new(0),
            new_data: Signal::default(),
            commit_signal: Signal::default(),
            dispatched: Signal::default(),
            dispatching: AtomicBool::new(false),
            flush_requests: Mutex::new(Vec::new()),
            commit_requests: Mutex::new(Vec::new()),
            flush_signal: Signal::default(),
            next_flush_nudge: AtomicI64::new(0),
            read_since_release: std::sync::atomic::AtomicU64::new(0),
            stopped: StopFlag::default(),
            writable: AtomicBool::new(true),
            listener: RwLock::new(None),
            delay_levels_ms,
            deleted_topics: DeletedTopics::load(config.config_dir()),
            logics_error: AtomicBool::new(false),
            logics_error_logged: Mutex::new(None),
            queue_offsets_pending: AtomicBool::new(false),
            put_stats: Default::default(),
            ha: Default::default(),
            live: RwLock::new(config.clone()),
            config,
        });
        inner.commit_log.queue().load()?;
        inner.load_consume_queues()?;
        inner.index.load(last_exit_ok, inner.checkpoint.index_msg_timestamp())?;
        let rec = recovery::recover(&inner, last_exit_ok)?;
        inner.reput_from.store(rec.reput_from, Ordering::Release);
        // Rebuild what is missing before serving reads, and only then take the next
        // queue offsets from the ConsumeQueues.
        dispatcher::catch_up(&inner);
        if inner.reput_from.load(Ordering::Acquire) >= inner.commit_log.max_offset() {
            recovery::restore_queue_offsets(&inner);
        } else {
            tracing::error!("recovered records could not all be indexed; puts wait until they are");
            inner.queue_offsets_pending.store(true, Ordering::Release);
        }
        // From here on an unclean exit is detectable.
        File::create(inner.config.abort_path())?;
        inner.checkpoint.flush()?;
        let store = MessageStore {
            inner: inner.clone(),
            threads: Mutex::new(Vec::new()),
            _lock_file: lock_file,
            root,
        };
        store.start_threads();
        Ok(store)
    }

    fn start_threads(&self) {
        // Nobody waits for an ASYNC_FLUSH round; under SYNC_FLUSH every put waits for the
        // group commit. The dispatcher keeps normal priority: writers skip dispatching
        // while it holds that role.
        let async_flush = self.inner.config.flush_disk_type == FlushDiskType::AsyncFlush;
        let mut threads: Vec<(&str, Priority, ThreadMain)> = vec![
            ("store-reput", Priority::Normal, dispatcher::run),
            (
                "store-flush-cl",
                if async_flush {
                    Priority::Background
                } else {
                    Priority::Normal
                },
                flush::run_commit_log,
            ),
            ("store-flush-cq", Priority::Background, flush::run_consume_queue),
            ("store-clean", Priority::Background, retention::run),
        ];
        if self.inner.commit_log.stages_writes() {
            // Messages become readable only once committed: not a background job.
            threads.push(("store-commit-cl", Priority::Normal, staging::run_committer));
        }
        let mut t = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        for (name, priority, run) in threads {
            let i = self.inner.clone();
            t.push(
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || {
                        if priority == Priority::Background {
                            lower_thread_priority();
                        }
                        run(&i)
                    })
                    .expect("spawn"),
            );
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Changes settings while running (UPDATE_BROKER_CONFIG). Those Java reads at each use
    /// (see `Inner::live`) apply at once; the rest only at the next start, from the
    /// persisted config. Nothing changes if a value does not parse.
    pub fn update_settings(
        &self,
        changes: &std::collections::HashMap<String, String>,
    ) -> Result<(), crate::config::ConfigError> {
        let mut live = self.inner.live.write().unwrap_or_else(|e| e.into_inner());
        let mut next = live.clone();
        next.apply_properties(changes)?;
        *live = next;
        Ok(())
    }

    /// Runs one append unless the store refuses writes, and stops taking writes when a
    /// CommitLog file cannot be created (most likely out of disk) until retention frees space.
    // The refusal is turned into a response straight away; boxing it would cost an
    // allocation per refused put and not shrink the result (the Ok side is as large).
    #[allow(clippy::result_large_err)]
    fn append(
        &self,
        write: impl FnOnce() -> Result<AppendResult, PutMessageStatus>,
    ) -> Result<AppendResult, PutResult> {
        let inner = &self.inner;
        if inner.config.broker_role == BrokerRole::Slave {
            // A slave's CommitLog is its master's; Java refuses such puts the same way.
            let refused = inner.ha.slave_refusals.fetch_add(1, Ordering::Relaxed);
            if refused.is_multiple_of(50_000) {
                tracing::warn!("this broker is a slave: puts are refused");
            }
            return Err(PutResult::failed(PutMessageStatus::ServiceNotAvailable));
        }
        if inner.stopped.is_set()
            || !inner.writable.load(Ordering::Acquire)
            || inner.logics_error.load(Ordering::Acquire)
            || inner.queue_offsets_pending.load(Ordering::Acquire)
        {
            return Err(PutResult::failed(PutMessageStatus::ServiceNotAvailable));
        }
        let result = write().map_err(|status| {
            if status == PutMessageStatus::CreateMappedFileFailed {
                tracing::error!("cannot create a CommitLog file; refusing writes");
                self.inner.writable.store(false, Ordering::Release);
            }
            PutResult::failed(status)
        });
        if let Ok(a) = &result {
            self.inner.put_stats.appended(a.msg_num, a.wrote_bytes);
            if self.inner.commit_log.stages_writes() {
                // The commit thread dispatches once the bytes are in the file.
                self.inner.commit_signal.notify();
            } else {
                dispatcher::dispatch_pending(&self.inner);
            }
            self.nudge_flush(a.wrote_offset + a.wrote_bytes as i64);
        }
        result
    }

    /// Under ASYNC_FLUSH, wakes the flush thread early once `RELEASE_AFTER_BYTES` were
    /// written since the last nudge. Pages written through the map stay in the broker's
    /// resident set until flushed; at a few hundred MB/s the 500 ms interval alone would
    /// let that grow past 100 MiB.
    fn nudge_flush(&self, end: i64) {
        const DIRTY_NUDGE: i64 = flush::RELEASE_AFTER_BYTES as i64;
        let next = &self.inner.next_flush_nudge;
        let at = next.load(Ordering::Relaxed);
        if end >= at
            && self.inner.config.flush_disk_type == FlushDiskType::AsyncFlush
            && next
                .compare_exchange(at, end + DIRTY_NUDGE, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.inner.flush_signal.notify();
        }
    }

    /// Whether a put is answered only after its bytes are safe: on disk under SYNC_FLUSH,
    /// and, with staged writes, in the file at all (staged bytes live only in this
    /// process, so a kill would lose an acknowledged message; Java's transient store
    /// pool has that window, we do not).
    fn needs_flush_wait(&self, wait: bool) -> bool {
        wait && (self.inner.config.flush_disk_type == FlushDiskType::SyncFlush || self.inner.commit_log.stages_writes())
    }

    fn wait_flush_blocking(&self, a: AppendResult) -> PutResult {
        let result = Arc::new(std::sync::atomic::AtomicU8::new(WAITING));
        let waiter = FlushWaiter::Blocking {
            thread: std::thread::current(),
            result: result.clone(),
        };
        self.submit_flush(a.wrote_offset + a.wrote_bytes as i64, waiter);
        let deadline = Instant::now() + Duration::from_millis(self.inner.config.sync_flush_timeout);
        while result.load(Ordering::Acquire) == WAITING {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            std::thread::park_timeout(deadline - now);
        }
        PutResult::after_flush(a, result.load(Ordering::Acquire) == FLUSHED)
    }

    async fn wait_flush_async(&self, a: AppendResult) -> PutResult {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit_flush(a.wrote_offset + a.wrote_bytes as i64, FlushWaiter::Async(tx));
        let timeout = Duration::from_millis(self.inner.config.sync_flush_timeout);
        PutResult::after_flush(a, matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(true))))
    }

    fn submit_flush(&self, next_offset: i64, w: FlushWaiter) {
        if self.inner.config.flush_disk_type != FlushDiskType::SyncFlush {
            // Staged writes under ASYNC_FLUSH: answered by the commit thread.
            self.inner
                .commit_requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((next_offset, w));
            // The commit thread may have committed these bytes already and gone to sleep.
            staging::complete_committed(&self.inner);
            self.inner.commit_signal.notify();
            return;
        }
        self.inner
            .flush_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((next_offset, w));
        self.inner.flush_signal.notify();
    }

    /// Appends a message. Under SYNC_FLUSH (and `wait_store_msg_ok`) returns
    /// only once the bytes are on disk, on a SYNC_MASTER only once a slave has them;
    /// blocks the calling thread.
    pub fn put_message(&self, msg: &MessageToStore) -> PutResult {
        let begin = Instant::now();
        let result = match self.append(|| self.inner.commit_log.put(msg)) {
            Ok(a) => self.finish_blocking(a, msg.wait_store_msg_ok),
            Err(failed) => failed,
        };
        self.put_finished(begin, result)
    }

    /// `put_message` for async callers: the append is immediate, the waits for the
    /// flush and the slave do not block a runtime thread.
    pub async fn put_message_async(&self, msg: &MessageToStore) -> PutResult {
        let begin = Instant::now();
        let result = match self.append(|| self.inner.commit_log.put(msg)) {
            Ok(a) => self.finish_async(a, msg.wait_store_msg_ok).await,
            Err(failed) => failed,
        };
        self.put_finished(begin, result)
    }

    /// Appends a client batch (SEND_BATCH_MESSAGE) to one queue.
    pub fn put_messages(&self, batch: &MessageBatchToStore) -> PutResult {
        let begin = Instant::now();
        let result = match self.append(|| self.inner.commit_log.put_batch(batch)) {
            Ok(a) => self.finish_blocking(a, batch.wait_store_msg_ok),
            Err(failed) => failed,
        };
        self.put_finished(begin, result)
    }

    /// `put_messages` for async callers.
    pub async fn put_messages_async(&self, batch: &MessageBatchToStore) -> PutResult {
        let begin = Instant::now();
        let result = match self.append(|| self.inner.commit_log.put_batch(batch)) {
            Ok(a) => self.finish_async(a, batch.wait_store_msg_ok).await,
            Err(failed) => failed,
        };
        self.put_finished(begin, result)
    }

    /// Waits for what an appended put must wait for: its flush and its slave, at the
    /// same time; a slave's failure status wins over the flush's (as in Java).
    async fn finish_async(&self, a: AppendResult, wait: bool) -> PutResult {
        let replica = self.replica_wait(&a, wait);
        let (result, replica) = if self.needs_flush_wait(wait) {
            tokio::join!(self.wait_flush_async(a), self.wait_replica_async(replica))
        } else {
            (PutResult::ok(a), self.wait_replica_async(replica).await)
        };
        with_replica_status(result, replica)
    }

    fn finish_blocking(&self, a: AppendResult, wait: bool) -> PutResult {
        let replica = self.replica_wait(&a, wait);
        let result = if self.needs_flush_wait(wait) {
            self.wait_flush_blocking(a)
        } else {
            PutResult::ok(a)
        };
        with_replica_status(result, self.wait_replica_blocking(replica))
    }

    /// Java's handleHA: on a SYNC_MASTER, a put that waits for its store waits for a
    /// slave too, unless no slave is connected or it is too far behind.
    fn replica_wait(&self, a: &AppendResult, wait: bool) -> ReplicaWait {
        if !wait || self.inner.config.broker_role != BrokerRole::SyncMaster {
            return ReplicaWait::NotNeeded;
        }
        let end = a.wrote_offset + a.wrote_bytes as i64;
        if self.inner.ha.slave_ok(end, self.inner.config.ha_slave_fallbehind_max) {
            ReplicaWait::Until(end)
        } else {
            ReplicaWait::Unavailable
        }
    }

    async fn wait_replica_async(&self, wait: ReplicaWait) -> PutMessageStatus {
        match wait {
            ReplicaWait::NotNeeded => PutMessageStatus::PutOk,
            ReplicaWait::Unavailable => PutMessageStatus::SlaveNotAvailable,
            ReplicaWait::Until(end) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                self.inner.ha.add_waiter(end, FlushWaiter::Async(tx));
                let timeout = Duration::from_millis(self.inner.config.sync_flush_timeout);
                match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(true)) => PutMessageStatus::PutOk,
                    _ => PutMessageStatus::FlushSlaveTimeout,
                }
            }
        }
    }

    fn wait_replica_blocking(&self, wait: ReplicaWait) -> PutMessageStatus {
        match wait {
            ReplicaWait::NotNeeded => PutMessageStatus::PutOk,
            ReplicaWait::Unavailable => PutMessageStatus::SlaveNotAvailable,
            ReplicaWait::Until(end) => {
                let result = Arc::new(std::sync::atomic::AtomicU8::new(WAITING));
                let waiter = FlushWaiter::Blocking {
                    thread: std::thread::current(),
                    result: result.clone(),
                };
                self.inner.ha.add_waiter(end, waiter);
                let deadline = Instant::now() + Duration::from_millis(self.inner.config.sync_flush_timeout);
                while result.load(Ordering::Acquire) == WAITING {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    std::thread::park_timeout(deadline - now);
                }
                if result.load(Ordering::Acquire) == FLUSHED {
                    PutMessageStatus::PutOk
                } else {
                    PutMessageStatus::FlushSlaveTimeout
                }
            }
        }
    }

    /// The replication links' view of this store.
    pub fn replication(&self) -> crate::ha::Replication {
        crate::ha::Replication {
            inner: self.inner.clone(),
        }
    }

    /// Times a put for the statistics. A put the store refused outright (shut down, not
    /// writable) is not timed: Java refuses those before it starts its clock.
    fn put_finished(&self, begin: Instant, result: PutResult) -> PutResult {
        if result.status != PutMessageStatus::ServiceNotAvailable {
            self.inner.put_stats.finished(begin.elapsed(), result.append.is_none());
        }
        result
    }

    /// What the store counted about its puts (Java's StoreStatsService, put side).
    pub fn put_stats(&self) -> &crate::stats::PutStats {
        &self.inner.put_stats
    }

    /// Reads up to `max_count` messages of a queue from queue offset
    /// `offset`, stopping at `max_bytes` (0: the configured transfer limits).
    /// `tag_filter` sees each entry's tag hash code and keeps the message
    /// when it returns true.
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_count: usize,
        max_bytes: usize,
        tag_filter: Option<&dyn Fn(i64) -> bool>,
    ) -> GetResult {
        self.get_messages_filtered(topic, queue_id, offset, max_count, max_bytes, tag_filter, None)
    }

    /// `get_messages` with a second filter that sees each record's bytes (SQL92 filters
    /// read the properties); a message it rejects is passed over like a tag mismatch.
    #[allow(clippy::too_many_arguments)]
    pub fn get_messages_filtered(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_count: usize,
        max_bytes: usize,
        tag_filter: Option<&dyn Fn(i64) -> bool>,
        record_filter: Option<RecordFilter<'_>>,
    ) -> GetResult {
        let inner = &self.inner;
        let mut res = GetResult {
            status: GetMessageStatus::NoMessageInQueue,
            next_begin_offset: offset,
            min_offset: 0,
            max_offset: 0,
            messages: Vec::new(),
            suggest_pulling_from_slave: false,
            body: Bytes::new(),
        };
        let Some(cq) = inner.find_queue(topic, queue_id) else {
            res.status = GetMessageStatus::NoMatchedLogicQueue;
            res.next_begin_offset = 0;
            return res;
        };
        let (min, max) = (cq.min_offset_in_queue(), cq.max_offset_in_queue());
        res.min_offset = min;
        res.max_offset = max;
        if max == 0 {
            res.status = GetMessageStatus::NoMessageInQueue;
            res.next_begin_offset = 0;
        } else if offset < min {
            res.status = GetMessageStatus::OffsetTooSmall;
            res.next_begin_offset = min;
        } else if offset == max {
            res.status = GetMessageStatus::OffsetOverflowOne;
            res.next_begin_offset = offset;
        } else if offset > max {
            res.status = GetMessageStatus::OffsetOverflowBadly;
            res.next_begin_offset = max;
        } else {
            let max_filter = (16000usize).max(max_count * 20) / 20;
            let Some(units) = cq.units_from(offset, max_filter) else {
                res.status = GetMessageStatus::OffsetFoundNull;
                res.next_begin_offset = cq.roll_next_file(offset);
                return res;
            };
            res.status = GetMessageStatus::NoMatchedMessage;
            let max_py = inner.commit_log.max_offset();
            let live = inner.live.read().unwrap_or_else(|e| e.into_inner());
            let mem_limit = physical_memory() / 100 * live.access_message_in_memory_max_ratio as u64;
            let mut next_file_start = i64::MIN;
            let mut consumed = 0usize;
            let mut max_pulling = i64::MIN;
            // The records are copied once, into the response body; each message's `bytes`
            // becomes a slice of it at the end.
            let mut body: Vec<u8> = Vec::new();
            let mut ends: Vec<usize> = Vec::new();
            for (i, u) in units.iter().enumerate() {
                max_pulling = u.commit_log_offset;
                if next_file_start != i64::MIN && u.commit_log_offset < next_file_start {
                    consumed = i + 1;
                    continue;
                }
                let in_disk = (max_py - u.commit_log_offset) as u64 > mem_limit;
                if batch_full(
                    &live,
                    u.size as usize,
                    max_count,
                    max_bytes,
                    body.len(),
                    res.messages.len(),
                    in_disk,
                ) {
                    break;
                }
                consumed = i + 1;
                if let Some(f) = tag_filter {
                    if !f(u.tags_code) {
                        continue;
                    }
                }
                let size = u.size.max(0) as usize;
                let kept = inner.commit_log.read_with(u.commit_log_offset, size, |record| {
                    let kept = record_filter.is_none_or(|f| f(record));
                    if kept {
                        if body.capacity() == 0 {
                            // Room for a full batch of records this size, within reason.
                            let batch = size.saturating_mul(units.len().min(max_count.max(1)));
                            body.reserve(batch.min(256 * 1024).max(size));
                        }
                        body.extend_from_slice(record);
                    }
                    kept
                });
                match kept {
                    Some(false) => {
                        next_file_start = i64::MIN;
                    }
                    Some(true) => {
                        ends.push(body.len());
                        res.messages.push(StoredMessage {
                            commit_log_offset: u.commit_log_offset,
                            queue_offset: offset + i as i64,
                            tags_code: u.tags_code,
                            bytes: Bytes::new(),
                        });
                        res.status = GetMessageStatus::Found;
                        next_file_start = i64::MIN;
                    }
                    None => {
                        if res.messages.is_empty() {
                            res.status = GetMessageStatus::MessageWasRemoving;
                        }
                        next_file_start = inner.commit_log.roll_next_file(u.commit_log_offset);
                    }
                }
            }
            self.note_read(body.len());
            let body = Bytes::from(body);
            let mut start = 0;
            for (m, &end) in res.messages.iter_mut().zip(&ends) {
                m.bytes = body.slice(start..end);
                start = end;
            }
            res.body = body;
            res.next_begin_offset = offset + consumed as i64;
            // Java's hint that this reader is out of memory and could read from a slave.
            res.suggest_pulling_from_slave = max_pulling != i64::MIN && (max_py - max_pulling) as u64 > mem_limit;
        }
        res
    }

    /// Reading maps CommitLog pages into the process; after `RELEASE_AFTER_BYTES` the flush
    /// thread is asked to drop them early instead of at its next one-second round.
    fn note_read(&self, bytes: usize) {
        const READ_NUDGE: u64 = flush::RELEASE_AFTER_BYTES;
        let before = self.inner.read_since_release.fetch_add(bytes as u64, Ordering::Relaxed);
        if before < READ_NUDGE && before + bytes as u64 >= READ_NUDGE {
            self.inner.flush_signal.notify();
        }
    }

    /// Queue offset one past the newest message (0 for an unknown queue).
    pub fn max_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .find_queue(topic, queue_id)
            .map(|q| q.max_offset_in_queue())
            .unwrap_or(0)
    }

    /// Queue offset of the oldest message still stored.
    pub fn min_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .find_queue(topic, queue_id)
            .map(|q| q.min_offset_in_queue())
            .unwrap_or(0)
    }

    /// The queue ids known for a topic.
    pub fn queue_ids(&self, topic: &str) -> Vec<i32> {
        let q = self.inner.queues.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<i32> = q.get(topic).map(|m| m.keys().copied().collect()).unwrap_or_default();
        v.sort();
        v
    }

    /// Every topic with a ConsumeQueue.
    pub fn topics(&self) -> Vec<String> {
        let q = self.inner.queues.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = q.keys().cloned().collect();
        v.sort();
        v
    }

    /// CommitLog offset of the message at a queue offset.
    pub fn commit_log_offset_in_queue(&self, topic: &str, queue_id: i32, queue_offset: i64) -> Option<i64> {
        self.inner
            .find_queue(topic, queue_id)?
            .unit(queue_offset)
            .map(|u| u.commit_log_offset)
    }

    fn store_time_of_unit(&self, cq: &ConsumeQueue, index: i64) -> i64 {
        match cq.unit(index) {
            Some(u) => self
                .inner
                .commit_log
                .pickup_store_timestamp(u.commit_log_offset, u.size.max(0) as usize),
            None => -1,
        }
    }

    /// The queue offset of the message stored closest to `timestamp`
    /// (an exact match, else the nearer neighbour).
    pub fn offset_by_timestamp(&self, topic: &str, queue_id: i32, timestamp: i64) -> i64 {
        let Some(cq) = self.inner.find_queue(topic, queue_id) else {
            return 0;
        };
        let min_phy = self.inner.commit_log.min_offset();
        let (mut low, mut high) = (cq.min_offset_in_queue(), cq.max_offset_in_queue() - 1);
        // Skip units whose messages are already deleted.
        while low <= high {
            match cq.unit(low) {
                Some(u) if u.commit_log_offset < min_phy => low += 1,
                _ => break,
            }
        }
        let (mut left, mut right) = (None::<(i64, i64)>, None::<(i64, i64)>);
        while low <= high {
            let mid = low + (high - low) / 2;
            let t = self.store_time_of_unit(&cq, mid);
            if t < 0 {
                return 0;
            }
            if t == timestamp {
                return mid;
            } else if t > timestamp {
                right = Some((mid, t));
                high = mid - 1;
            } else {
                left = Some((mid, t));
                low = mid + 1;
            }
        }
        match (left, right) {
            (None, Some((r, _))) => r,
            (Some((l, _)), None) => l,
            (Some((l, lt)), Some((r, rt))) => {
                if (timestamp - lt).abs() > (rt - timestamp).abs() {
                    r
                } else {
                    l
                }
            }
            (None, None) => 0,
        }
    }

    /// Store time of the oldest message in a queue (-1 when none).
    pub fn earliest_message_time(&self, topic: &str, queue_id: i32) -> i64 {
        match self.inner.find_queue(topic, queue_id) {
            Some(cq) => self.store_time_of_unit(&cq, cq.min_offset_in_queue()),
            None => -1,
        }
    }

    /// Store time of the oldest message in the CommitLog (-1 when empty).
    pub fn earliest_message_time_in_store(&self) -> i64 {
        let min = self.inner.commit_log.min_offset();
        self.inner
            .commit_log
            .read_record(min)
            .map(|b| message_store_time(&b))
            .unwrap_or(-1)
    }

    /// Store time of the message at a queue offset (-1 when unknown).
    pub fn message_store_timestamp(&self, topic: &str, queue_id: i32, queue_offset: i64) -> i64 {
        match self.inner.find_queue(topic, queue_id) {
            Some(cq) => self.store_time_of_unit(&cq, queue_offset),
            None => -1,
        }
    }

    /// The raw record at a CommitLog offset, and its decoding.
    pub fn message_by_commitlog_offset(&self, offset: i64) -> Option<(Bytes, DecodedMessage)> {
        let b = self.inner.commit_log.read_record(offset)?;
        let d = codec::decode_message(&b).ok()?;
        Some((b, d))
    }

    /// Looks a message up by its offsetMsgId (the host part is not checked:
    /// the id names this store's CommitLog offset).
    pub fn message_by_offset_msg_id(&self, id: &str) -> Option<(Bytes, DecodedMessage)> {
        let (_, offset) = codec::decode_offset_msg_id(id)?;
        self.message_by_commitlog_offset(offset)
    }

    /// Messages of `topic` whose KEYS contains `key` or whose unique key is
    /// `key`, stored within `[begin, end]` (ms), newest first, at most `max`
    /// (capped by `maxMsgsNumBatch`).
    pub fn query_by_key(&self, topic: &str, key: &str, max: usize, begin: i64, end: i64) -> QueryResult {
        let max = max.min(self.inner.config.max_msgs_num_batch);
        let (offsets, ts, phy) = self.inner.index.query(topic, key, max, begin, end);
        let mut messages = Vec::new();
        for off in offsets {
            let Some((bytes, d)) = self.message_by_commitlog_offset(off) else {
                continue;
            };
            // A hash collision can bring in other keys: keep exact matches.
            let matches = d.topic == topic
                && (d.unique_key() == Some(key)
                    || d.keys()
                        .is_some_and(|k| k.split(codec::property::KEY_SEPARATOR).any(|x| x == key)));
            if matches {
                messages.push(StoredMessage {
                    commit_log_offset: off,
                    queue_offset: d.queue_offset,
                    tags_code: 0,
                    bytes,
                });
            }
        }
        QueryResult {
            messages,
            index_last_update_timestamp: ts,
            index_last_update_phy_offset: phy,
        }
    }

    /// Calls `f` for every record stored at or after `since` (store time, ms), oldest first,
    /// starting from the newest CommitLog file that began before `since`.
    pub fn for_each_stored_since(&self, since: i64, mut f: impl FnMut(&codec::DispatchInfo<'_>)) {
        let files = self.inner.commit_log.queue().files();
        let start = files
            .iter()
            .rposition(|file| {
                let ts = recovery::first_store_timestamp(file);
                ts != 0 && ts <= since
            })
            .unwrap_or(0);
        for file in &files[start..] {
            let published = file.wrote_position();
            if let Some(buf) = file.read(0, published as usize) {
                let mut pos = 0usize;
                while pos + 8 <= buf.len() {
                    match codec::check_record(&buf[pos..], false) {
                        codec::RecordCheck::Message(d) => {
                            if d.store_timestamp >= since {
                                f(&d);
                            }
                            pos += d.size as usize;
                        }
                        _ => break,
                    }
                }
            }
            file.drop_pages();
        }
    }

    /// Java's `getEarliestMessageTime`: the store time of the record at the CommitLog's
    /// minimum offset, read through a window of twice `maxMessageSize`, so -1 until that
    /// much has been written after it (a young store answers -1, as Java's does).
    pub fn earliest_message_time_java(&self) -> i64 {
        let min = self.inner.commit_log.min_offset();
        if !self
            .inner
            .commit_log
            .is_published(min, self.inner.config.max_message_size * 2)
        {
            return -1;
        }
        self.earliest_message_time_in_store()
    }

    /// CommitLog bytes written but not yet flushed (`remainHowManyDataToFlush`).
    pub fn remain_to_flush(&self) -> i64 {
        (self.inner.commit_log.max_offset() - self.inner.commit_log.queue().flushed_offset()).max(0)
    }

    /// With staged writes, bytes appended but not yet written to their file
    /// (`remainHowManyDataToCommit`).
    pub fn remain_to_commit(&self) -> i64 {
        (self.inner.commit_log.appended_offset() - self.inner.commit_log.max_offset()).max(0)
    }

    /// Smallest CommitLog offset still stored.
    pub fn min_commit_log_offset(&self) -> i64 {
        self.inner.commit_log.min_offset()
    }
    /// CommitLog offset just past the last message.
    pub fn max_commit_log_offset(&self) -> i64 {
        self.inner.commit_log.max_offset()
    }
    /// CommitLog offset the dispatcher has reached.
    pub fn dispatched_offset(&self) -> i64 {
        self.inner.reput_from.load(Ordering::Acquire)
    }

    /// Waits until ConsumeQueues and indexes cover everything appended so far.
    pub fn wait_for_dispatch(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if let Err(e) = self.inner.commit_log.commit_staged() {
            tracing::warn!("writing staged CommitLog data failed: {e}");
        }
        let target = self.max_commit_log_offset();
        while self.dispatched_offset() < target {
            if Instant::now() >= deadline {
                return false;
            }
            self.inner.new_data.notify();
            self.inner.dispatched.wait(Duration::from_millis(5));
        }
        true
    }

    /// Registers the callback for new messages (long polling).
    pub fn set_arrival_listener(&self, l: ArrivalListener) {
        *self.inner.listener.write().unwrap_or_else(|e| e.into_inner()) = Some(l);
    }

    /// Whether puts are accepted (false when the disk is full or indexing fails).
    pub fn is_writable(&self) -> bool {
        self.inner.writable.load(Ordering::Acquire)
            && !self.inner.logics_error.load(Ordering::Acquire)
            && !self.inner.queue_offsets_pending.load(Ordering::Acquire)
    }

    /// Flushes CommitLog, ConsumeQueues, indexes and the checkpoint now.
    pub fn flush(&self) -> std::io::Result<()> {
        flush::flush_all(&self.inner)
    }

    /// Runs one retention pass now; `force` deletes regardless of age and time of day
    /// (still never the file being written).
    pub fn clean_expired_files(&self, force: bool) -> usize {
        retention::clean_once(&self.inner, force)
    }

    /// A ConsumeQueue's offsets and up to `count` entries from `index` (QUERY_CONSUME_QUEUE):
    /// `None` when the queue does not exist; entries `None` when `index` is not stored.
    pub fn consume_queue_entries(
        &self,
        topic: &str,
        queue_id: i32,
        index: i64,
        count: usize,
    ) -> Option<(i64, i64, Option<Vec<crate::consume_queue::CqUnit>>)> {
        let cq = self.inner.find_queue(topic, queue_id)?;
        let units = cq
            .units_from(index, count)
            .filter(|u| !u.is_empty())
            .map(|u| u.iter().collect());
        Some((cq.min_offset_in_queue(), cq.max_offset_in_queue(), units))
    }

    /// An operator's retention pass (DELETE_EXPIRED_COMMITLOG): CommitLog files older than
    /// `fileReservedTime` are deleted now instead of at `deleteWhen`.
    pub fn delete_expired_files_now(&self) -> usize {
        retention::clean(&self.inner, false, true)
    }

    /// Destroys the ConsumeQueues whose last entry points below the CommitLog's first
    /// offset (all their messages are gone), except the schedule topic's, as Java's
    /// `cleanExpiredConsumerQueue` does. Returns how many were destroyed.
    pub fn clean_expired_consume_queues(&self) -> usize {
        let min_phy = self.inner.commit_log.min_offset();
        let mut destroyed = 0;
        let mut q = self.inner.queues.write().unwrap_or_else(|e| e.into_inner());
        q.retain(|topic, queues| {
            if topic == "SCHEDULE_TOPIC_XXXX" {
                return true;
            }
            queues.retain(|qid, cq| {
                let max = cq.max_offset_in_queue();
                let last = if max > 0 {
                    cq.unit(max - 1).map(|u| u.commit_log_offset)
                } else {
                    None
                };
                match last {
                    Some(last) if last < min_phy => {
                        tracing::info!(topic = %topic, queue_id = qid, min_phy, last, "expired ConsumeQueue destroyed");
                        cq.destroy();
                        self.inner.commit_log.remove_queue(topic, *qid);
                        destroyed += 1;
                        false
                    }
                    _ => true,
                }
            });
            !queues.is_empty()
        });
        destroyed
    }

    /// Drops the ConsumeQueues of topics (their CommitLog data ages out normally).
    pub fn delete_topics(&self, topics: &[&str]) {
        // Before the queues go: a recovery must not rebuild them from these records.
        if let Err(e) = self.inner.commit_log.commit_staged() {
            tracing::warn!("writing staged CommitLog data failed: {e}");
        }
        self.inner
            .deleted_topics
            .add(topics, self.inner.commit_log.max_offset());
        let mut q = self.inner.queues.write().unwrap_or_else(|e| e.into_inner());
        for t in topics {
            if let Some(m) = q.remove(*t) {
                for (qid, cq) in m {
                    cq.destroy();
                    self.inner.commit_log.remove_queue(t, qid);
                }
            }
            let _ = std::fs::remove_dir_all(self.inner.config.consume_queue_dir().join(t));
        }
    }

    /// Stops the background services, flushes everything and removes the
    /// `abort` file so the next open recovers normally.
    pub fn shutdown(&self) {
        if !self.inner.stopped.set() {
            return;
        }
        self.inner.new_data.notify();
        self.inner.flush_signal.notify();
        self.inner.commit_signal.notify();
        let threads: Vec<_> = self
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for t in threads {
            let _ = t.join();
        }
        if let Err(e) = self.inner.commit_log.commit_staged() {
            tracing::error!("writing staged CommitLog data at shutdown failed: {e}");
        }
        dispatcher::catch_up(&self.inner);
        let flushed = flush::flush_all(&self.inner);
        // Anyone still waiting for a flush or a commit gets an answer.
        staging::complete_committed(&self.inner);
        for requests in [&self.inner.flush_requests, &self.inner.commit_requests] {
            for (_, w) in requests.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
                w.complete(flushed.is_ok());
            }
        }

        if flushed.is_ok() {
            let _ = std::fs::remove_file(self.inner.config.abort_path());
        }
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        self.shutdown();
        OPEN_ROOTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|r| r != &self.root);
    }
}

fn message_store_time(b: &[u8]) -> i64 {
    let flag = codec::read_i32(b, codec::SYS_FLAG_POSITION).unwrap_or(0);
    codec::read_i64(b, codec::store_timestamp_position(flag)).unwrap_or(-1)
}

fn batch_full(
    cfg: &StoreConfig,
    size: usize,
    max_count: usize,
    max_bytes: usize,
    total: usize,
    count: usize,
    in_disk: bool,
) -> bool {
    if total == 0 || count == 0 {
        return false;
    }
    if count >= max_count {
        return true;
    }
    let (limit_bytes, limit_count) = if in_disk {
        (
            cfg.max_transfer_bytes_on_message_in_disk,
            cfg.max_transfer_count_on_message_in_disk,
        )
    } else {
        (
            cfg.max_transfer_bytes_on_message_in_memory,
            cfg.max_transfer_count_on_message_in_memory,
        )
    };
    let limit_bytes = if max_bytes > 0 { max_bytes } else { limit_bytes };
    total + size > limit_bytes || (max_bytes == 0 && count > limit_count.saturating_sub(1))
}

fn physical_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        8 << 30
    }
}

/// The body of a store thread.
type ThreadMain = fn(&Inner);

/// CPU priority of a store thread.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Priority {
    Normal,
    /// Flushing and cleaning that no request waits for.
    Background,
}

/// Lowers the calling thread to nice 19. On a busy machine a request thread woken while a
/// background round runs (a flush keeps a core for a few milliseconds) would otherwise
/// wait in the run queue behind it, seen as the end-to-end latency tail. Background
/// threads still get CPU whenever a core is free.
fn lower_thread_priority() {
    // SAFETY: plain syscalls; on Linux `setpriority` with a thread id affects that thread only.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}
