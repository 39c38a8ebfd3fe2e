//! A message store byte-compatible with Apache RocketMQ 4.9.8's: the same
//! directory layout (`commitlog/`, `consumequeue/`, `index/`, `checkpoint`,
//! `abort`, `lock`, `config/`), the same CommitLog message encoding, and the
//! same recovery rules, so a broker can open a store a Java broker wrote and
//! the other way round. See `docs/store.md`.
//!
//! The broker uses [`MessageStore`]; the codec helpers in [`codec`] are
//! public because pull responses carry the CommitLog encoding as is.

pub mod checkpoint;
pub mod codec;
pub mod commit_log;
pub mod config;
pub mod config_files;
pub mod consume_queue;
mod deleted_topics;
mod dispatcher;
mod fast_hash;
mod flush;
pub mod ha;
pub mod index_file;
pub mod local_time;
pub mod mapped_file;
pub mod message;
mod recovery;
pub mod retention;
mod staging;
pub mod stats;
mod store;
pub mod timer;
pub mod wake;

pub use codec::{
    decode_message, decode_messages, decode_offset_msg_id, encode_offset_msg_id, properties_to_string,
    string_to_properties, tags_hash_code, DecodedMessage,
};
pub use config::{BrokerRole, FlushDiskType, StoreConfig};
pub use message::{
    AppendResult, GetMessageStatus, GetResult, MessageBatchToStore, MessageToStore, PutMessageStatus, PutResult,
    QueryResult, StoredMessage,
};
pub use store::{ArrivalListener, MessageStore, StoreError};
