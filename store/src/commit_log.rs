//! The CommitLog: every message of every topic appended to one sequence of
//! mapped files. A single appender (under a mutex) assigns queue offsets,
//! physical offsets and the store timestamp, and pads the end of a file with
//! a blank record when the next message does not fit. With staged writes
//! (`transientStorePoolEnable`) the appender fills memory chunks and the commit
//! thread writes and publishes them (see `staging`).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use crate::codec::{self, property, sys_flag, EncodeFields};
use crate::fast_hash::FastMap;
use crate::mapped_file::{MappedFile, MappedFileQueue};
use crate::message::{now_millis, AppendResult, MessageBatchToStore, MessageToStore, PutMessageStatus};
use crate::staging::{self, Staging};

/// The topic delayed messages wait in (queue = level - 1).
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// The smallest blank record: total size + magic.
const END_FILE_MIN_BLANK_LENGTH: usize = 8;

/// Limits the appender checks.
#[derive(Debug, Clone)]
pub struct AppendLimits {
    pub max_message_size: usize,
    pub max_delay_level: i32,
    /// Copy records in with `pwrite` instead of through the mapping. Used
    /// under SYNC_FLUSH: pages dirtied through a mapping took about 2.5x
    /// longer to sync than pages written with `pwrite` (measured 500 us vs
    /// 200 us per sync on our CI disk), and every put waits for a sync.
    pub write_through_file: bool,
    /// Stage appends in memory for the commit thread (`transientStorePoolEnable`).
    pub stage_writes: bool,
}

/// The appender's state, guarded by one lock.
struct AppendState {
    /// Next queue offset per topic and queue id.
    topic_queue_table: FastMap<String, FastMap<i32, i64>>,
    /// The file being written (saves finding it on every put).
    current: Option<Arc<MappedFile>>,
    /// Where the next record goes in `current`. Ahead of the file's published
    /// position while staged bytes wait for the commit thread.
    append_pos: u64,
    /// Appended bytes not yet written to their file (staged writes only).
    staging: Option<Staging>,
    /// How far the current file's pages have been prepared (see `prepare_ahead`).
    prepared_upto: u64,
}

impl AppendState {
    fn next_queue_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.topic_queue_table
            .get(topic)
            .and_then(|m| m.get(&queue_id))
            .copied()
            .unwrap_or(0)
    }
    /// Makes `file` the one being appended to, from its published position.
    fn switch_to(&mut self, file: &Arc<MappedFile>) {
        self.current = Some(file.clone());
        self.append_pos = file.wrote_position();
        // Staged writes put whole chunks into the page cache: nothing to prepare.
        self.prepared_upto = if self.staging.is_some() {
            file.size()
        } else {
            self.append_pos
        };
    }
    fn set_next_queue_offset(&mut self, topic: &str, queue_id: i32, next: i64) {
        match self.topic_queue_table.get_mut(topic) {
            Some(m) => {
                m.insert(queue_id, next);
            }
            None => {
                self.topic_queue_table
                    .entry(topic.to_string())
                    .or_default()
                    .insert(queue_id, next);
            }
        }
    }
}

/// Why a slave could not take what its master sent (the link is then reset).
#[derive(Debug, thiserror::Error)]
pub enum ReplicaAppendError {
    #[error("master sent offset {got}, slave expects {expected}")]
    Mismatch { expected: i64, got: i64 },
    #[error("{len} bytes at {offset} do not fit in their CommitLog file")]
    Overflow { offset: i64, len: usize },
    #[error("no CommitLog record starts at {offset} in what the master sent")]
    Corrupt { offset: i64 },
    #[error("cannot create a CommitLog file: {0}")]
    Io(#[from] io::Error),
}

pub struct CommitLog {
    queue: MappedFileQueue,
    append: Mutex<AppendState>,
    limits: AppendLimits,
    /// Held while staged chunks are written, so they are published in order.
    commit: Mutex<()>,
    /// Signalled after staged chunks were written (appenders waiting for room).
    committed: Condvar,
}

/// A message ready to append: encoded with placeholders for the fields only
/// known under the lock.
struct Encoded<'a> {
    bytes: Vec<u8>,
    topic: std::borrow::Cow<'a, str>,
    queue_id: i32,
    sys_flag: i32,
    /// Prepared/rollback transaction messages don't take a queue offset.
    takes_queue_offset: bool,
    store_host: SocketAddr,
}

impl CommitLog {
    pub fn new(dir: std::path::PathBuf, file_size: u64, limits: AppendLimits) -> CommitLog {
        CommitLog {
            queue: MappedFileQueue::new_sequential(dir, file_size),
            append: Mutex::new(AppendState {
                topic_queue_table: FastMap::default(),
                current: None,
                append_pos: 0,
                staging: limits.stage_writes.then(Staging::default),
                prepared_upto: 0,
            }),
            limits,
            commit: Mutex::new(()),
            committed: Condvar::new(),
        }
    }

    /// Whether appends are staged for the commit thread.
    pub fn stages_writes(&self) -> bool {
        self.limits.stage_writes
    }

    /// Takes the append lock. With staged writes, first makes sure the staged bytes
    /// stay bounded: when the commit thread is behind, wait for it, or write the
    /// waiting chunks here if it is not writing right now.
    fn lock_for_append(&self) -> MutexGuard<'_, AppendState> {
        let mut state = self.append.lock().unwrap_or_else(|e| e.into_inner());
        while state.staging.as_ref().is_some_and(Staging::is_backed_up) {
            if let Ok(_writing) = self.commit.try_lock() {
                let Some(st) = state.staging.as_mut() else { break };
                let mut chunks = st.take_all();
                let mut buffers = Vec::new();
                let written = staging::write_out(&mut chunks, &mut buffers);
                st.give_back(chunks, buffers);
                self.committed.notify_all();
                if let Err(e) = written {
                    // Let the put go ahead; the commit thread reports and retries.
                    tracing::warn!("writing staged CommitLog data failed: {e}");
                    break;
                }
            } else {
                state = self
                    .committed
                    .wait_timeout(state, Duration::from_millis(10))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        state
    }

    /// Writes every staged chunk to its file and publishes it.
    pub fn commit_staged(&self) -> io::Result<()> {
        let _writing = self.commit.lock().unwrap_or_else(|e| e.into_inner());
        let mut chunks = match self.append.lock().unwrap_or_else(|e| e.into_inner()).staging.as_mut() {
            Some(st) => st.take_all(),
            None => return Ok(()),
        };
        if chunks.is_empty() {
            return Ok(());
        }
        let mut buffers = Vec::with_capacity(chunks.len());
        let written = staging::write_out(&mut chunks, &mut buffers);
        if let Some(st) = self.append.lock().unwrap_or_else(|e| e.into_inner()).staging.as_mut() {
            st.give_back(chunks, buffers);
        }
        self.committed.notify_all();
        written
    }

    pub fn queue(&self) -> &MappedFileQueue {
        &self.queue
    }
    pub fn file_size(&self) -> u64 {
        self.queue.file_size()
    }
    pub fn min_offset(&self) -> i64 {
        self.queue.min_offset()
    }
    pub fn max_offset(&self) -> i64 {
        self.queue.max_offset()
    }
    /// Whether `len` bytes from `offset` are all written in the file holding `offset`.
    pub fn is_published(&self, offset: i64, len: usize) -> bool {
        self.queue.find_by_offset(offset).is_some_and(|f| {
            let pos = (offset - f.file_from_offset()) as u64;
            pos + len as u64 <= f.wrote_position()
        })
    }
    /// Offset just past the last appended byte, staged bytes included.
    pub fn appended_offset(&self) -> i64 {
        let state = self.append.lock().unwrap_or_else(|e| e.into_inner());
        match &state.current {
            Some(file) => file.file_from_offset() + state.append_pos as i64,
            None => self.max_offset(),
        }
    }

    /// Sets the next queue offset of every queue (after recovery).
    pub fn set_topic_queue_table(&self, table: HashMap<(String, i32), i64>) {
        let mut nested: FastMap<String, FastMap<i32, i64>> = FastMap::default();
        for ((t, q), o) in table {
            nested.entry(t).or_default().insert(q, o);
        }
        let mut state = self.append.lock().unwrap_or_else(|e| e.into_inner());
        state.topic_queue_table = nested;
        state.current = None;
    }

    /// Forgets a queue's next offset (topic deleted).
    pub fn remove_queue(&self, topic: &str, queue_id: i32) {
        if let Some(m) = self
            .append
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .topic_queue_table
            .get_mut(topic)
        {
            m.remove(&queue_id);
        }
    }

    /// Start of the file after the one holding `offset`.
    pub fn roll_next_file(&self, offset: i64) -> i64 {
        let size = self.file_size() as i64;
        offset + size - offset.rem_euclid(size)
    }

    /// The record bytes at `offset` of length `size`, copied out.
    pub fn read(&self, offset: i64, size: usize) -> Option<Bytes> {
        self.read_with(offset, size, Bytes::copy_from_slice)
    }

    /// What `read` makes of the record bytes at `offset` of length `size`, seen in place
    /// (so a reader that copies them somewhere copies them once).
    pub fn read_with<R>(&self, offset: i64, size: usize, read: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let f = self.queue.find_by_offset(offset)?;
        let pos = (offset - f.file_from_offset()) as u64;
        f.read(pos, size).map(read)
    }

    /// The whole record starting at `offset`, using its own size field.
    pub fn read_record(&self, offset: i64) -> Option<Bytes> {
        let f = self.queue.find_by_offset(offset)?;
        let pos = (offset - f.file_from_offset()) as u64;
        let head = f.read(pos, 8)?;
        let size = codec::read_i32(head, 0)?;
        if size <= 0 || codec::read_i32(head, 4)? == codec::BLANK_MAGIC_CODE {
            return None;
        }
        f.read(pos, size as usize).map(Bytes::copy_from_slice)
    }

    /// Store timestamp of the message at `offset` (-1 when unreadable).
    pub fn pickup_store_timestamp(&self, offset: i64, size: usize) -> i64 {
        if offset < self.min_offset() {
            return -1;
        }
        match self.read(offset, size.max(codec::BORN_HOST_POSITION + 28)) {
            Some(b) => {
                let flag = codec::read_i32(&b, codec::SYS_FLAG_POSITION).unwrap_or(0);
                codec::read_i64(&b, codec::store_timestamp_position(flag)).unwrap_or(-1)
            }
            None => -1,
        }
    }

    fn encode_single<'a>(
        &self,
        msg: &'a MessageToStore,
        scratch: &mut Vec<u8>,
    ) -> Result<Encoded<'a>, PutMessageStatus> {
        let tran = sys_flag::transaction_type(msg.sys_flag);
        let mut topic = std::borrow::Cow::Borrowed(msg.topic.as_str());
        let mut queue_id = msg.queue_id;
        let properties: String;
        let delay = msg.delay_level();
        if (tran == sys_flag::TRANSACTION_NOT_TYPE || tran == sys_flag::TRANSACTION_COMMIT_TYPE) && delay > 0 {
            // Delayed: park it in the schedule topic, remembering where it goes.
            let level = delay.min(self.limits.max_delay_level.max(1));
            let mut map = msg.properties.clone();
            if level != delay {
                codec::insert_property(&mut map, property::DELAY, &level.to_string());
            }
            codec::insert_property(&mut map, property::REAL_TOPIC, &msg.topic);
            codec::insert_property(&mut map, property::REAL_QUEUE_ID, &msg.queue_id.to_string());
            properties = codec::properties_string_java_order(&map);
            topic = std::borrow::Cow::Borrowed(SCHEDULE_TOPIC);
            queue_id = level - 1;
        } else {
            properties = match &msg.properties_string {
                Some(s) => s.clone(),
                None => codec::properties_string_java_order(&msg.properties),
            };
        }
        if properties.len() > i16::MAX as usize {
            return Err(PutMessageStatus::PropertiesSizeExceeded);
        }
        if msg.body.len() > self.limits.max_message_size || topic.len() > i8::MAX as usize {
            return Err(PutMessageStatus::MessageIllegal);
        }
        let flag = (msg.sys_flag & !(sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6))
            | codec::host_v6_flags(&msg.born_host, &msg.store_host);
        scratch.clear();
        codec::encode_message(
            scratch,
            &EncodeFields {
                body_crc: codec::body_crc(&msg.body),
                queue_id,
                flag: msg.flag,
                queue_offset: 0,
                physical_offset: 0,
                sys_flag: flag,
                born_timestamp: msg.born_timestamp,
                born_host: &msg.born_host,
                store_timestamp: 0,
                store_host: &msg.store_host,
                reconsume_times: msg.reconsume_times,
                prepared_transaction_offset: msg.prepared_transaction_offset,
                body: &msg.body,
                topic: topic.as_bytes(),
                properties: &[properties.as_bytes()],
            },
        );
        if scratch.len() > self.limits.max_message_size + 64 * 1024 {
            return Err(PutMessageStatus::MessageIllegal);
        }
        Ok(Encoded {
            bytes: std::mem::take(scratch),
            topic,
            queue_id,
            sys_flag: flag,
            takes_queue_offset: tran == sys_flag::TRANSACTION_NOT_TYPE || tran == sys_flag::TRANSACTION_COMMIT_TYPE,
            store_host: msg.store_host,
        })
    }

    /// Appends one message. Returns where it went.
    pub fn put(&self, msg: &MessageToStore) -> Result<AppendResult, PutMessageStatus> {
        let mut scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let enc = self.encode_single(msg, &mut scratch)?;
        let mut state = self.lock_for_append();
        let queue_offset = if enc.takes_queue_offset {
            state.next_queue_offset(&enc.topic, enc.queue_id)
        } else {
            0
        };
        let store_timestamp = now_millis();
        let mut bytes = enc.bytes;
        let (file, pos) = self
            .reserve(&mut state, bytes.len())
            .map_err(|_| PutMessageStatus::CreateMappedFileFailed)?;
        let wrote_offset = file.file_from_offset() + pos as i64;
        patch(&mut bytes, 0, queue_offset, wrote_offset, store_timestamp, enc.sys_flag);
        if !self.copy_in(&mut state, &file, pos, &bytes) {
            return Err(PutMessageStatus::UnknownError);
        }
        file.set_last_store_timestamp(store_timestamp);
        if enc.takes_queue_offset {
            state.set_next_queue_offset(&enc.topic, enc.queue_id, queue_offset + 1);
        }
        drop(state);
        let wrote_bytes = bytes.len() as i32;
        bytes.clear();
        SCRATCH.with(|s| *s.borrow_mut() = bytes);
        Ok(AppendResult {
            wrote_offset,
            wrote_bytes,
            store_host: enc.store_host,
            batch_offsets: Vec::new(),
            store_timestamp,
            logics_offset: queue_offset,
            msg_num: 1,
            topic: enc.topic.into_owned(),
            queue_id: enc.queue_id,
        })
    }

    /// Appends a batch as consecutive messages of one queue.
    pub fn put_batch(&self, batch: &MessageBatchToStore) -> Result<AppendResult, PutMessageStatus> {
        if sys_flag::transaction_type(batch.sys_flag) != sys_flag::TRANSACTION_NOT_TYPE {
            return Err(PutMessageStatus::MessageIllegal);
        }
        if codec::get_property(&batch.properties, property::DELAY)
            .and_then(|d| d.parse::<i32>().ok())
            .unwrap_or(0)
            > 0
        {
            return Err(PutMessageStatus::MessageIllegal);
        }
        if batch.body.len() > self.limits.max_message_size || batch.topic.len() > i8::MAX as usize {
            return Err(PutMessageStatus::MessageIllegal);
        }
        let items = codec::decode_batch_body(&batch.body).map_err(|_| PutMessageStatus::MessageIllegal)?;
        if items.is_empty() {
            return Err(PutMessageStatus::MessageIllegal);
        }
        let batch_props = codec::properties_string_java_order(&batch.properties);
        if batch_props.len() > i16::MAX as usize {
            return Err(PutMessageStatus::PropertiesSizeExceeded);
        }
        let flag = (batch.sys_flag & !(sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6))
            | codec::host_v6_flags(&batch.born_host, &batch.store_host);
        let mut all = Vec::new();
        let mut lens = Vec::with_capacity(items.len());
        for it in &items {
            // Join the item's properties and the batch's with one separator.
            let sep = [codec::PROPERTY_SEPARATOR as u8];
            let need_sep = !it.properties.is_empty()
                && !batch_props.is_empty()
                && it.properties.last() != Some(&(codec::PROPERTY_SEPARATOR as u8));
            let parts: Vec<&[u8]> = if need_sep {
                vec![it.properties, &sep, batch_props.as_bytes()]
            } else {
                vec![it.properties, batch_props.as_bytes()]
            };
            if parts.iter().map(|p| p.len()).sum::<usize>() > i16::MAX as usize {
                return Err(PutMessageStatus::PropertiesSizeExceeded);
            }
            let before = all.len();
            codec::encode_message(
                &mut all,
                &EncodeFields {
                    body_crc: codec::body_crc(it.body),
                    queue_id: batch.queue_id,
                    flag: it.flag,
                    queue_offset: 0,
                    physical_offset: 0,
                    sys_flag: flag,
                    born_timestamp: batch.born_timestamp,
                    born_host: &batch.born_host,
                    store_timestamp: 0,
                    store_host: &batch.store_host,
                    reconsume_times: batch.reconsume_times,
                    prepared_transaction_offset: 0,
                    body: it.body,
                    topic: batch.topic.as_bytes(),
                    properties: &parts,
                },
            );
            lens.push(all.len() - before);
        }
        let mut state = self.lock_for_append();
        let first_queue_offset = state.next_queue_offset(&batch.topic, batch.queue_id);
        let store_timestamp = now_millis();
        let (file, pos) = self
            .reserve(&mut state, all.len())
            .map_err(|_| PutMessageStatus::CreateMappedFileFailed)?;
        let wrote_offset = file.file_from_offset() + pos as i64;
        let mut at = 0usize;
        let mut ids = Vec::with_capacity(lens.len());
        for (i, len) in lens.iter().enumerate() {
            let phys = wrote_offset + at as i64;
            patch(&mut all, at, first_queue_offset + i as i64, phys, store_timestamp, flag);
            ids.push(phys);
            at += len;
        }
        if !self.copy_in(&mut state, &file, pos, &all) {
            return Err(PutMessageStatus::UnknownError);
        }
        file.set_last_store_timestamp(store_timestamp);
        state.set_next_queue_offset(&batch.topic, batch.queue_id, first_queue_offset + lens.len() as i64);
        drop(state);
        Ok(AppendResult {
            wrote_offset,
            wrote_bytes: all.len() as i32,
            store_host: batch.store_host,
            batch_offsets: ids,
            store_timestamp,
            logics_offset: first_queue_offset,
            msg_num: lens.len() as i32,
            topic: batch.topic.clone(),
            queue_id: batch.queue_id,
        })
    }

    /// Bytes from `offset` to the published end of the file holding it, at most `max`:
    /// what a master sends its slave next. None when nothing is published there yet.
    pub fn data_from(&self, offset: i64, max: usize) -> Option<Bytes> {
        let f = self.queue.find_by_offset(offset)?;
        let pos = (offset - f.file_from_offset()) as u64;
        let published = f.wrote_position();
        if pos >= published {
            return None;
        }
        let len = ((published - pos) as usize).min(max);
        f.read(pos, len).map(Bytes::copy_from_slice)
    }

    /// Where the next replicated byte goes: past everything received from the master,
    /// whole records or not (published bytes end at the last whole record).
    pub fn replica_received_offset(&self) -> i64 {
        self.appended_offset()
    }

    /// Forgets bytes written past the last whole record (a slave's partial record).
    pub fn drop_unpublished_tail(&self) {
        let mut state = self.append.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = state.current.clone() {
            state.switch_to(&f);
        }
    }

    /// A slave's append: `data` is the master's CommitLog from `offset`, in the file
    /// holding `offset`, cut anywhere (mid-record included). The bytes go to the same
    /// physical offsets; the file is published up to the last whole record, so readers
    /// and the dispatcher only ever see whole records. Returns the published end.
    pub fn append_replicated(&self, offset: i64, data: &[u8]) -> Result<i64, ReplicaAppendError> {
        let mut state = self.append.lock().unwrap_or_else(|e| e.into_inner());
        let file_size = self.file_size() as i64;
        let file = match state.current.clone() {
            Some(f) if !f.is_removed() => f,
            _ => {
                let f = if self.queue.is_empty() {
                    // A new slave starts where the master starts sending: a file boundary.
                    if offset.rem_euclid(file_size) != 0 {
                        return Err(ReplicaAppendError::Mismatch {
                            expected: 0,
                            got: offset,
                        });
                    }
                    self.queue.last_or_create(offset)?
                } else {
                    self.queue.last_or_create(self.max_offset())?
                };
                state.switch_to(&f);
                f
            }
        };
        let mut file = file;
        let mut received = file.file_from_offset() + state.append_pos as i64;
        if state.append_pos >= file.size() && offset == received {
            file = self.queue.next_after(&file)?;
            state.switch_to(&file);
            received = file.file_from_offset();
        }
        if offset != received {
            return Err(ReplicaAppendError::Mismatch {
                expected: received,
                got: offset,
            });
        }
        let pos = state.append_pos;
        if data.is_empty() {
            return Ok(file.file_from_offset() + file.wrote_position() as i64);
        }
        if !file.write_at(pos, data) {
            return Err(ReplicaAppendError::Overflow {
                offset,
                len: data.len(),
            });
        }
        let end = pos + data.len() as u64;
        state.append_pos = end;
        // Publish every whole record now present.
        let mut at = file.wrote_position();
        while at + 8 <= end {
            let head = &file.read_unpublished(at)[..8];
            let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            let magic = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            if magic == codec::BLANK_MAGIC_CODE {
                // The end-of-file filler: the master sends the rest of the file after it.
                if end == file.size() {
                    at = end;
                }
                break;
            }
            let known = magic == codec::MESSAGE_MAGIC_CODE || magic == codec::MESSAGE_MAGIC_CODE_V2;
            if !known || size <= 0 || at + size as u64 > file.size() {
                state.append_pos = at;
                return Err(ReplicaAppendError::Corrupt {
                    offset: file.file_from_offset() + at as i64,
                });
            }
            if at + size as u64 > end {
                break;
            }
            at += size as u64;
        }
        if at > file.wrote_position() {
            file.publish(at);
        }
        Ok(file.file_from_offset() + file.wrote_position() as i64)
    }

    /// Copies a record in at `pos` (the append position) and advances past it:
    /// published at once, or staged for the commit thread.
    fn copy_in(&self, state: &mut AppendState, file: &Arc<MappedFile>, pos: u64, data: &[u8]) -> bool {
        let end = pos + data.len() as u64;
        if let Some(st) = state.staging.as_mut() {
            st.stage(file, pos, data);
        } else {
            let copied = if self.limits.write_through_file {
                file.write_via_file(pos, data)
            } else {
                file.write_at(pos, data)
            };
            if !copied {
                return false;
            }
            file.publish(end);
        }
        state.append_pos = end;
        true
    }

    /// Finds room for `len` bytes, padding the current file with a blank
    /// record and moving to a new file when they don't fit. Must be called
    /// with the append lock held.
    fn reserve(&self, state: &mut AppendState, len: usize) -> io::Result<(Arc<MappedFile>, u64)> {
        let file = match state.current.clone() {
            Some(f) if state.append_pos < f.size() && !f.is_removed() => f,
            // Its successor could not be created last time (out of disk, say).
            Some(f) if !f.is_removed() => {
                let next = self.queue.next_after(&f)?;
                state.switch_to(&next);
                next
            }
            _ => {
                let f = self.queue.last_or_create(self.queue.max_offset())?;
                state.switch_to(&f);
                f
            }
        };
        let pos = state.append_pos;
        let remaining = (file.size() - pos) as usize;
        if len + END_FILE_MIN_BLANK_LENGTH <= remaining {
            prepare_ahead(state, &file, pos + len as u64);
            return Ok((file, pos));
        }
        if len + END_FILE_MIN_BLANK_LENGTH > self.file_size() as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "message larger than a CommitLog file",
            ));
        }
        // The blank record claims the whole remainder but only 8 bytes are written.
        let mut blank = [0u8; 8];
        blank[..4].copy_from_slice(&(remaining as i32).to_be_bytes());
        blank[4..].copy_from_slice(&codec::BLANK_MAGIC_CODE.to_be_bytes());
        let blank = &blank[..if remaining >= 8 { 8 } else { 0 }];
        if let Some(st) = state.staging.as_mut() {
            st.close_file(&file, pos, blank);
        } else {
            file.write_at(pos, blank);
            file.publish(file.size());
        }
        state.append_pos = file.size();
        let next = self.queue.next_after(&file)?;
        state.switch_to(&next);
        let pos = state.append_pos;
        prepare_ahead(state, &next, pos + len as u64);
        Ok((next, pos))
    }
}

/// How far ahead of the write position pages are prepared, and in what steps.
const PREPARE_AHEAD: u64 = 4 << 20;
const PREPARE_STEP: u64 = 1 << 20;

/// Keeps the pages ahead of the write position in the page cache, written
/// with zeros through `pwrite`. Writing into the mapping then hits present
/// pages; without this every new page costs a fault that allocates and
/// zero-fills it, which made appends several times slower than sequential
/// `write` on the same disk. Runs under the append lock, beyond the write
/// position, so nothing published is ever touched. It helps the `pwrite` path
/// (SYNC_FLUSH) too: syncs of prepared pages measured about a third faster.
fn prepare_ahead(state: &mut AppendState, file: &MappedFile, need_upto: u64) {
    // Extend in steps once less than half the window is left.
    if state.prepared_upto >= (need_upto + PREPARE_AHEAD / 2).min(file.size()) {
        return;
    }
    let target = (need_upto + PREPARE_AHEAD).min(file.size());
    while state.prepared_upto < target {
        let step = PREPARE_STEP.min(target - state.prepared_upto);
        if file.prepare_pages(state.prepared_upto, step).is_err() {
            // Not fatal: the mapping still works, only slower.
            state.prepared_upto = file.size();
            return;
        }
        state.prepared_upto += step;
    }
}

thread_local! {
    /// Per-thread encoding buffer, reused across puts.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Fills in the fields only known at append time.
fn patch(buf: &mut [u8], at: usize, queue_offset: i64, phys: i64, store_ts: i64, flag: i32) {
    buf[at + codec::QUEUE_OFFSET_POSITION..at + codec::QUEUE_OFFSET_POSITION + 8]
        .copy_from_slice(&queue_offset.to_be_bytes());
    buf[at + codec::PHYSICAL_OFFSET_POSITION..at + codec::PHYSICAL_OFFSET_POSITION + 8]
        .copy_from_slice(&phys.to_be_bytes());
    let ts = at + codec::store_timestamp_position(flag);
    buf[ts..ts + 8].copy_from_slice(&store_ts.to_be_bytes());
}
