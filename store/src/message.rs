//! The types that cross the store's public API: what the broker puts, and
//! what comes back.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::codec;

/// A message as the broker hands it to the store (Java's MessageExtBrokerInner).
#[derive(Debug, Clone)]
pub struct MessageToStore {
    pub topic: String,
    pub queue_id: i32,
    pub flag: i32,
    pub body: Bytes,
    /// The message's property map, in insertion order. The store reads
    /// DELAY, TAGS, KEYS and UNIQ_KEY from it.
    pub properties: Vec<(String, String)>,
    /// The properties exactly as they should be stored. When `None` the map
    /// is serialised in Java HashMap order, as the Java broker would.
    pub properties_string: Option<String>,
    /// Sys flag from the producer; the IPv6 host bits are set by the store.
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    /// Under SYNC_FLUSH, whether the put waits for the flush (WAIT property).
    pub wait_store_msg_ok: bool,
}

impl MessageToStore {
    /// A message with defaults for everything but topic, queue, body and properties.
    pub fn new(topic: &str, queue_id: i32, body: impl Into<Bytes>, properties: Vec<(String, String)>) -> Self {
        let local = SocketAddr::from(([127, 0, 0, 1], 10911));
        MessageToStore {
            topic: topic.to_string(),
            queue_id,
            flag: 0,
            body: body.into(),
            properties,
            properties_string: None,
            sys_flag: 0,
            born_timestamp: now_millis(),
            born_host: SocketAddr::from(([127, 0, 0, 1], 0)),
            store_host: local,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            wait_store_msg_ok: true,
        }
    }

    /// The delay level from the DELAY property (0 when absent or unreadable).
    pub fn delay_level(&self) -> i32 {
        codec::get_property(&self.properties, codec::property::DELAY)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// A batch as sent with SEND_BATCH_MESSAGE: the client's batch encoding plus
/// the batch-level fields (Java's MessageExtBatch).
#[derive(Debug, Clone)]
pub struct MessageBatchToStore {
    pub topic: String,
    pub queue_id: i32,
    /// The client's concatenated batch encoding (see `codec::decode_batch_body`).
    pub body: Bytes,
    /// Properties the broker adds to every message of the batch.
    pub properties: Vec<(String, String)>,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub wait_store_msg_ok: bool,
}

/// Outcome of a put (Java's PutMessageStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMessageStatus {
    PutOk,
    FlushDiskTimeout,
    FlushSlaveTimeout,
    SlaveNotAvailable,
    ServiceNotAvailable,
    CreateMappedFileFailed,
    MessageIllegal,
    PropertiesSizeExceeded,
    OsPageCacheBusy,
    UnknownError,
}

/// Where and how a message (or batch) was appended (Java's AppendMessageResult).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// CommitLog offset of the first message.
    pub wrote_offset: i64,
    /// Bytes appended.
    pub wrote_bytes: i32,
    /// The store host the offsetMsgId is made from.
    pub store_host: SocketAddr,
    /// For a batch, the CommitLog offset of every message (empty otherwise).
    pub batch_offsets: Vec<i64>,
    pub store_timestamp: i64,
    /// Queue offset of the first message.
    pub logics_offset: i64,
    /// Messages appended (1 unless a batch).
    pub msg_num: i32,
    /// Topic and queue actually written (differ from the input for delayed messages).
    pub topic: String,
    pub queue_id: i32,
}

impl AppendResult {
    /// The offsetMsgId (Java's msgId of the append result); for a batch,
    /// the ids joined with ','. Built on demand: most callers need it once.
    pub fn msg_id(&self) -> String {
        if self.batch_offsets.is_empty() {
            return codec::encode_offset_msg_id(&self.store_host, self.wrote_offset);
        }
        let ids: Vec<String> = self
            .batch_offsets
            .iter()
            .map(|o| codec::encode_offset_msg_id(&self.store_host, *o))
            .collect();
        ids.join(",")
    }
}

/// The result of a put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    pub status: PutMessageStatus,
    pub append: Option<AppendResult>,
}

impl PutResult {
    pub fn is_ok(&self) -> bool {
        self.status == PutMessageStatus::PutOk
    }
    pub(crate) fn ok(append: AppendResult) -> PutResult {
        PutResult {
            status: PutMessageStatus::PutOk,
            append: Some(append),
        }
    }
    /// A put that waited for its flush: FLUSH_DISK_TIMEOUT when the flush did not come in time.
    pub(crate) fn after_flush(append: AppendResult, flushed: bool) -> PutResult {
        let status = if flushed {
            PutMessageStatus::PutOk
        } else {
            PutMessageStatus::FlushDiskTimeout
        };
        PutResult {
            status,
            append: Some(append),
        }
    }
    pub(crate) fn failed(status: PutMessageStatus) -> PutResult {
        PutResult { status, append: None }
    }
}

/// Outcome of a read by queue offset (Java's GetMessageStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMessageStatus {
    Found,
    NoMatchedMessage,
    MessageWasRemoving,
    OffsetFoundNull,
    OffsetOverflowBadly,
    OffsetOverflowOne,
    OffsetTooSmall,
    NoMatchedLogicQueue,
    NoMessageInQueue,
}

/// One message as stored, with where it sits.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub commit_log_offset: i64,
    pub queue_offset: i64,
    pub tags_code: i64,
    /// The CommitLog encoding, byte for byte (what a pull response carries).
    pub bytes: Bytes,
}

/// The result of `get_messages`.
#[derive(Debug, Clone)]
pub struct GetResult {
    pub status: GetMessageStatus,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    pub messages: Vec<StoredMessage>,
    /// The messages read lie further behind the CommitLog's end than
    /// `accessMessageInMemoryMaxRatio` of memory (Java's `suggestPullingFromSlave`).
    pub suggest_pulling_from_slave: bool,
    /// All of `messages`' bytes in one buffer, as read: each message's `bytes` is a slice
    /// of it, so `concat` need not copy them again.
    pub(crate) body: Bytes,
}

impl GetResult {
    /// Total bytes of the messages found.
    pub fn buffer_total_size(&self) -> usize {
        self.messages.iter().map(|m| m.bytes.len()).sum()
    }
    /// The messages concatenated: a pull response body. The buffer they were read into,
    /// unless `messages` no longer lie in it back to back (a caller changed them).
    pub fn concat(&self) -> Bytes {
        let mut at = self.body.as_ptr();
        let mut total = 0;
        let in_place = self.messages.iter().all(|m| {
            let here = m.bytes.as_ptr() == at;
            at = at.wrapping_add(m.bytes.len());
            total += m.bytes.len();
            here
        });
        if in_place && total == self.body.len() {
            return self.body.clone();
        }
        let mut v = Vec::with_capacity(self.buffer_total_size());
        for m in &self.messages {
            v.extend_from_slice(&m.bytes);
        }
        v.into()
    }
}

/// Result of a key query: the messages found, newest index file first.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub messages: Vec<StoredMessage>,
    pub index_last_update_timestamp: i64,
    pub index_last_update_phy_offset: i64,
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
