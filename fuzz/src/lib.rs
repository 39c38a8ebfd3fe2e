//! The bodies of the fuzz targets. Each `fuzz_targets/<name>.rs` calls the function of the
//! same name here; keeping them in a library lets `cargo test` replay the seed corpora and
//! the regression inputs without libFuzzer (tests/replay.rs).
//!
//! A target fails only by panicking: on any input the code under test must return (an
//! error is fine), and where it is cheap a decoded value must survive encode + decode.
//! Every function calls the same public entry points the servers call on bytes from the
//! network or from disk.

use bytes::BytesMut;
use remoting::codec::RemotingCodec;
use remoting::command::{RemotingCommand, SerializeType};
use remoting::fastjson;
use remoting::frame as frame_layer;
use remoting::header::broker::*;
use remoting::header::namesrv::*;
use remoting::header::CommandHeader;
use remoting::properties as config_properties;
use remoting::protocol::lock::{LockBatchRequestBody, LockBatchResponseBody, UnlockBatchRequestBody};
use remoting::protocol::register::RegisterBrokerBody;
use remoting::protocol::register_view::RegisterBrokerBodyView;
use remoting::protocol::route::{ClusterInfo, TopicRouteData};
use remoting::protocol::topic::{DataVersion, TopicConfigSerializeWrapper};
use remoting::protocol::{KvTable, TopicList};
use serde_json::Value;
use store::codec::{self as store_codec, DecodedMessage, EncodeFields, RecordCheck};
use tokio_util::codec::Decoder;

/// Every target, by name (the names of the `fuzz_targets/*.rs` files and of
/// `seeds/<name>/`, `regressions/<name>/`).
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("frame", frame),
    ("json_header", json_header),
    ("binary_header", binary_header),
    ("commitlog_message", commitlog_message),
    ("batch_body", batch_body),
    ("properties", properties),
    ("fastjson", fastjson),
    ("request_body", request_body),
    ("sql92", sql92),
];

// ---- frames ---------------------------------------------------------------------------

/// Whole frames (`frame::decode`, as tools and tests call it) and the same bytes as a TCP
/// stream through `RemotingCodec`, the decoder `FramedRead` drives on every connection:
/// once in a single read and once in 7-byte reads. How bytes arrive must not change what
/// is decoded.
pub fn frame(data: &[u8]) {
    if let Ok(cmd) = frame_layer::decode(data) {
        let mut out = BytesMut::new();
        frame_layer::encode(&cmd, &mut out);
        let back = frame_layer::decode(&out).expect("a frame we encoded must decode");
        assert_eq!(back, cmd, "frame encode/decode round trip");
        typed_headers(&cmd);
    }
    let whole = decode_stream(data, data.len().max(1));
    let pieces = decode_stream(data, 7);
    assert_eq!(whole, pieces, "the codec's output depends on how the bytes arrive");
}

/// What a connection reads from `data`: the commands, and whether it ended in an error.
fn decode_stream(data: &[u8], read_size: usize) -> (Vec<RemotingCommand>, bool) {
    let mut codec = RemotingCodec::default();
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    for read in data.chunks(read_size) {
        buf.extend_from_slice(read);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(cmd)) => commands.push(cmd),
                Ok(None) => break,
                Err(_) => return (commands, true),
            }
        }
    }
    // End of stream, as FramedRead ends it.
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(cmd)) => commands.push(cmd),
            Ok(None) => return (commands, false),
            Err(_) => return (commands, true),
        }
    }
}

// ---- headers ------------------------------------------------------------------------------

/// A JSON header (`frame::decode_json_header`: the flat fast reader with its fallback to
/// the general fastjson-dialect reader), and the general reader alone.
pub fn json_header(data: &[u8]) {
    let _ = frame_layer::decode_json_header_general(data);
    if let Ok(cmd) = frame_layer::decode_json_header(data) {
        let text = frame_layer::encode_header(&cmd);
        let back = frame_layer::decode_json_header(&text).expect("a JSON header we encoded must decode");
        assert_eq!(back, cmd, "JSON header round trip");
        typed_headers(&cmd);
    }
}

/// A ROCKETMQ (binary) header, `frame::decode_binary_header`.
pub fn binary_header(data: &[u8]) {
    if let Ok(cmd) = frame_layer::decode_binary_header(data) {
        let bytes = frame_layer::encode_header(&cmd);
        let back = frame_layer::decode_binary_header(&bytes).expect("a binary header we encoded must decode");
        assert_eq!(back, cmd, "binary header round trip");
        let mut as_json = cmd.clone();
        as_json.serialize_type = SerializeType::Json;
        let text = frame_layer::encode_header(&as_json);
        let json = frame_layer::decode_json_header(&text).expect("any header re-encoded as JSON must decode");
        assert_eq!(json.ext(), cmd.ext(), "ext fields survive a binary -> JSON switch");
        typed_headers(&cmd);
    }
}

/// Reads the ext fields as the typed headers the processors decode (`decode_header`), and
/// writes back what parsed.
fn typed_headers(cmd: &RemotingCommand) {
    fn one<H: CommandHeader + std::fmt::Debug>(cmd: &RemotingCommand) {
        if let Ok(h) = cmd.decode_header::<H>() {
            let mut again = RemotingCommand::request(cmd.code);
            again.set_header(&h);
            let back: H = again.decode_header().expect("a header we wrote must read back");
            assert_eq!(format!("{back:?}"), format!("{h:?}"), "typed header round trip");
        }
    }
    one::<SendMessageRequestHeader>(cmd);
    if let Ok(v2) = cmd.decode_header::<SendMessageRequestHeaderV2>() {
        let _ = SendMessageRequestHeader::from(v2);
    }
    one::<PullMessageRequestHeader>(cmd);
    one::<UnregisterClientRequestHeader>(cmd);
    one::<GetConsumerListByGroupRequestHeader>(cmd);
    one::<QueryConsumerOffsetRequestHeader>(cmd);
    one::<UpdateConsumerOffsetRequestHeader>(cmd);
    one::<QueueRequestHeader>(cmd);
    one::<SearchOffsetRequestHeader>(cmd);
    one::<ViewMessageRequestHeader>(cmd);
    one::<QueryMessageRequestHeader>(cmd);
    one::<CreateTopicRequestHeader>(cmd);
    one::<DeleteTopicRequestHeader>(cmd);
    one::<DeleteSubscriptionGroupRequestHeader>(cmd);
    one::<ConsumerSendMsgBackRequestHeader>(cmd);
    one::<PutKvConfigRequestHeader>(cmd);
    one::<GetKvConfigRequestHeader>(cmd);
    one::<DeleteKvConfigRequestHeader>(cmd);
    one::<GetKvListByNamespaceRequestHeader>(cmd);
    one::<RegisterBrokerRequestHeader>(cmd);
    one::<UnRegisterBrokerRequestHeader>(cmd);
    one::<QueryDataVersionRequestHeader>(cmd);
    one::<GetRouteInfoRequestHeader>(cmd);
    one::<WipeWritePermOfBrokerRequestHeader>(cmd);
    one::<AddWritePermOfBrokerRequestHeader>(cmd);
    one::<DeleteTopicFromNamesrvRequestHeader>(cmd);
    one::<GetTopicsByClusterRequestHeader>(cmd);
}

// ---- CommitLog records ------------------------------------------------------------------

/// The CommitLog message codec on untrusted bytes, three ways:
/// * `decode_messages` on a pull response body (back-to-back messages), and
///   `decode_message` as the schedule service and message queries read one record;
/// * recovery's scan of a CommitLog file (`check_record` with and without the CRC check,
///   stop at zeros, a blank record or the first invalid record; each record must claim
///   the offset it is stored at), and the dispatcher's walk (`check_record` without CRC);
/// * every decoded message re-encoded with `encode_message` must decode to itself.
pub fn commitlog_message(data: &[u8]) {
    for m in store_codec::decode_messages(data) {
        reencode(&m);
    }
    if let Ok(m) = store_codec::decode_message(data) {
        let _ = (m.tags(), m.keys(), m.unique_key(), m.offset_msg_id());
        reencode(&m);
    }
    recovery_scan(data, true);
    recovery_scan(data, false);
    dispatch_walk(data);
}

/// `recovery::scan_file` on a file holding `data` at CommitLog offset 0.
fn recovery_scan(buf: &[u8], check_crc: bool) -> usize {
    let mut pos = 0usize;
    loop {
        if pos == buf.len() || pos + 8 > buf.len() || buf[pos..pos + 8].iter().all(|&b| b == 0) {
            return pos;
        }
        match store_codec::check_record(&buf[pos..], check_crc) {
            RecordCheck::Message(d) => {
                if d.commit_log_offset != pos as i64 {
                    return pos;
                }
                assert!(d.size > 0, "a valid record has a positive size");
                let _ = d.topic.len();
                pos += d.size as usize;
                assert!(pos <= buf.len(), "a valid record ends inside the buffer");
            }
            RecordCheck::EndOfFile | RecordCheck::Invalid(_) => return pos,
        }
    }
}

/// The dispatcher's loop over published bytes (`dispatcher::step`).
fn dispatch_walk(buf: &[u8]) {
    let mut pos = 0usize;
    while pos < buf.len() {
        match store_codec::check_record(&buf[pos..], false) {
            RecordCheck::Message(d) => {
                let _ = (d.tags_code, d.keys, d.unique_key, d.delay_level);
                pos += d.size as usize;
            }
            RecordCheck::EndOfFile | RecordCheck::Invalid(_) => return,
        }
    }
}

/// Encodes a decoded message again (4.x layout) and checks that it decodes to the same
/// message. Fields the 4.x layout cannot hold are left out of the comparison: the magic
/// code and the size of a 5.x record, and topics longer than 255 bytes.
fn reencode(m: &DecodedMessage) {
    if m.topic.len() > u8::MAX as usize || m.properties_string.len() > i16::MAX as usize {
        return;
    }
    let props = [m.properties_string.as_bytes()];
    let mut out = Vec::new();
    store_codec::encode_message(
        &mut out,
        &EncodeFields {
            body_crc: m.body_crc,
            queue_id: m.queue_id,
            flag: m.flag,
            queue_offset: m.queue_offset,
            physical_offset: m.commit_log_offset,
            sys_flag: m.sys_flag,
            born_timestamp: m.born_timestamp,
            born_host: &m.born_host,
            store_timestamp: m.store_timestamp,
            store_host: &m.store_host,
            reconsume_times: m.reconsume_times,
            prepared_transaction_offset: m.prepared_transaction_offset,
            body: &m.body,
            topic: m.topic.as_bytes(),
            properties: &props,
        },
    );
    let mut back = store_codec::decode_message(&out).expect("a message we encoded must decode");
    back.magic_code = m.magic_code;
    back.store_size = m.store_size;
    assert_eq!(&back, m, "CommitLog message round trip");
    assert!(matches!(
        store_codec::check_record(&out, false),
        RecordCheck::Message(_)
    ));
}

// ---- batch bodies -------------------------------------------------------------------------

/// A SEND_BATCH_MESSAGE body: `decode_batch_body`, then what `CommitLog::put_batch` does
/// with each item (join its properties with the batch's, encode it as a CommitLog record),
/// which must give records that recovery accepts. Items re-encoded with
/// `encode_batch_body` must decode to themselves.
pub fn batch_body(data: &[u8]) {
    let Ok(items) = store_codec::decode_batch_body(data) else {
        return;
    };
    let as_text: Option<Vec<(i32, &[u8], &str)>> = items
        .iter()
        .map(|it| std::str::from_utf8(it.properties).ok().map(|p| (it.flag, it.body, p)))
        .collect();
    if let Some(triples) = as_text {
        let again = store_codec::encode_batch_body(&triples);
        let back = store_codec::decode_batch_body(&again).expect("a batch we encoded must decode");
        assert_eq!(back, items, "batch body round trip");
    }

    // CommitLog::put_batch, minus the file: the broker's batch properties are
    // CLUSTER (added by the send processor) plus whatever the header carried.
    let batch_props = store_codec::properties_string_java_order(&[
        ("CLUSTER".to_string(), "DefaultCluster".to_string()),
        ("UNIQ_KEY".to_string(), "7F0000010000000000000000000000".to_string()),
    ]);
    let born: std::net::SocketAddr = "192.0.2.2:50000".parse().unwrap();
    let store_host: std::net::SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let flag = store_codec::host_v6_flags(&born, &store_host);
    let mut all = Vec::new();
    let mut offsets = Vec::new();
    for it in &items {
        let sep = [store_codec::PROPERTY_SEPARATOR as u8];
        let need_sep = !it.properties.is_empty()
            && !batch_props.is_empty()
            && it.properties.last() != Some(&(store_codec::PROPERTY_SEPARATOR as u8));
        let parts: Vec<&[u8]> = if need_sep {
            vec![it.properties, &sep, batch_props.as_bytes()]
        } else {
            vec![it.properties, batch_props.as_bytes()]
        };
        if parts.iter().map(|p| p.len()).sum::<usize>() > i16::MAX as usize {
            return; // PropertiesSizeExceeded
        }
        let at = all.len();
        offsets.push(at);
        store_codec::encode_message(
            &mut all,
            &EncodeFields {
                body_crc: store_codec::body_crc(it.body),
                queue_id: 0,
                flag: it.flag,
                queue_offset: 0,
                physical_offset: at as i64,
                sys_flag: flag,
                born_timestamp: 1_700_000_000_000,
                born_host: &born,
                store_timestamp: 1_700_000_000_001,
                store_host: &store_host,
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: it.body,
                topic: b"BatchTopic",
                properties: &parts,
            },
        );
    }
    for (&at, it) in offsets.iter().zip(&items) {
        match store_codec::check_record(&all[at..], true) {
            RecordCheck::Message(d) => assert_eq!(d.commit_log_offset, at as i64),
            other => panic!("a batch item encoded as {other:?}"),
        }
        let m = store_codec::decode_message(&all[at..]).expect("a batch item must decode");
        assert_eq!(&m.body[..], it.body);
    }
    assert_eq!(
        recovery_scan(&all, true),
        all.len(),
        "recovery must accept a stored batch"
    );
}

// ---- properties ---------------------------------------------------------------------------

/// Message properties (`name\u1value\u2...`, `string_to_properties` as the send processor
/// reads the header's properties) and Java `.properties` text (`remoting::properties::parse`,
/// UPDATE_NAMESRV_CONFIG / UPDATE_BROKER_CONFIG bodies and config files).
pub fn properties(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let pairs = store_codec::string_to_properties(&text);
    let joined = store_codec::properties_to_string(&pairs);
    assert_eq!(
        store_codec::string_to_properties(&joined),
        pairs,
        "message properties round trip"
    );
    assert_eq!(
        store_codec::properties_string_java_order(&pairs),
        store_codec::properties_to_string(&store_codec::java_hashmap_order(&pairs)),
        "the two Java HashMap orderings disagree"
    );
    for name in ["TAGS", "KEYS", "UNIQ_KEY", "DELAY", "WAIT"] {
        assert_eq!(
            store_codec::find_property(&text, name),
            store_codec::get_property(&pairs, name),
            "find_property and string_to_properties disagree on {name}"
        );
    }
    let _ = store_codec::tags_hash_code(&text);

    let config = config_properties::parse(&text);
    for (key, _) in &config {
        assert!(!key.is_empty(), "a .properties key is never empty");
    }
    let _ = config_properties::to_string(config.iter().map(|(k, v)| (k, v)));
}

// ---- fastjson -----------------------------------------------------------------------------

/// The JSON / fastjson-dialect reader every body goes through (`fastjson::parse`). A tree
/// without floats must survive being written (standard and legacy forms) and read again.
pub fn fastjson(data: &[u8]) {
    let Ok(value) = fastjson::parse(data) else {
        return;
    };
    if has_float(&value, 0) {
        return; // serde_json does not promise exact float round trips
    }
    let standard = fastjson::to_standard_vec(&value);
    let back = fastjson::parse(&standard).expect("standard JSON we wrote must parse");
    assert_eq!(back, value, "fastjson standard round trip");
    let legacy = fastjson::to_legacy_vec(&value);
    let back = fastjson::parse(&legacy).expect("legacy JSON we wrote must parse");
    assert_eq!(back, value, "fastjson legacy round trip");
}

fn has_float(v: &Value, depth: usize) -> bool {
    // The reader bounds nesting, so this recursion is bounded too.
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(|i| has_float(i, depth + 1)),
        Value::Object(map) => map.values().any(|i| has_float(i, depth + 1)),
        _ => false,
    }
}

// ---- request bodies ---------------------------------------------------------------------

/// Typed request bodies. The first byte picks the decoder, the rest is the body:
/// 0 RegisterBrokerBody JSON, 1 RegisterBrokerBody compressed (the name server's
/// REGISTER_BROKER), 2 TopicConfigSerializeWrapper (REGISTER_BROKER from brokers older than
/// 3.0.11), 3 DataVersion (QUERY_DATA_VERSION), 4 HeartbeatData (the broker's HEART_BEAT),
/// 5 SubscriptionGroupConfig (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP), 6 TopicRouteData,
/// 7 ClusterInfo, 8 TopicList, 9 KvTable (bodies our clients read), 10 LockBatchRequestBody
/// (LOCK_BATCH_MQ, then the broker's rebalance lock manager locks, checks and unlocks what
/// it names), 11 UnlockBatchRequestBody (UNLOCK_BATCH_MQ), 12 LockBatchResponseBody.
pub fn request_body(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 13 {
        0 | 1 => {
            let compressed = which % 13 == 1;
            // The name server's in-place reader of a changed registration: it declines, or
            // reads exactly what the generic decode reads.
            if !compressed {
                if let Some(view) = RegisterBrokerBodyView::read(body) {
                    let generic = RegisterBrokerBody::decode(body, false)
                        .expect("RegisterBrokerBodyView accepted a body the generic decode refuses");
                    assert_eq!(
                        view.to_owned(),
                        generic,
                        "RegisterBrokerBodyView differs from the generic decode"
                    );
                }
            }
            if let Ok(decoded) = RegisterBrokerBody::decode(body, compressed) {
                let again = decoded.encode(compressed);
                let back = RegisterBrokerBody::decode(&again, compressed).expect("a body we encoded must decode");
                assert_eq!(back, decoded, "RegisterBrokerBody round trip (compressed={compressed})");
            }
        }
        2 => typed_round_trip::<TopicConfigSerializeWrapper>(body),
        3 => typed_round_trip::<DataVersion>(body),
        6 => typed_round_trip::<TopicRouteData>(body),
        7 => typed_round_trip::<ClusterInfo>(body),
        8 => typed_round_trip::<TopicList>(body),
        9 => typed_round_trip::<KvTable>(body),
        10 => {
            typed_round_trip::<LockBatchRequestBody>(body);
            #[cfg(feature = "broker")]
            if let Ok(ask) = fastjson::from_slice::<LockBatchRequestBody>(body) {
                let locks = broker::rebalance_lock::RebalanceLockManager::new(std::time::Duration::from_secs(60));
                let held = locks.try_lock_batch(&ask.consumer_group, &ask.mq_set, &ask.client_id);
                for mq in &held {
                    assert!(locks.is_locked_by(&ask.consumer_group, mq, &ask.client_id));
                }
                if ask.client_id != "another-client" {
                    let again = locks.try_lock_batch(&ask.consumer_group, &ask.mq_set, "another-client");
                    assert!(again.is_empty(), "another client got a held lock");
                }
                locks.unlock_batch(&ask.consumer_group, &ask.mq_set, &ask.client_id);
            }
        }
        11 => typed_round_trip::<UnlockBatchRequestBody>(body),
        12 => typed_round_trip::<LockBatchResponseBody>(body),
        #[cfg(feature = "broker")]
        4 => {
            let _ = fastjson::from_slice::<broker::client_manager::HeartbeatData>(body);
        }
        #[cfg(feature = "broker")]
        5 => typed_round_trip::<broker::subscription_group::SubscriptionGroupConfig>(body),
        _ => {}
    }
}

fn typed_round_trip<T>(body: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(decoded) = fastjson::from_slice::<T>(body) {
        let standard = fastjson::to_standard_vec(&decoded);
        let back: T = fastjson::from_slice(&standard).expect("standard JSON we wrote must decode");
        assert_eq!(back, decoded, "standard JSON round trip");
        let legacy = fastjson::to_legacy_vec(&decoded);
        let back: T = fastjson::from_slice(&legacy).expect("legacy JSON we wrote must decode");
        assert_eq!(back, decoded, "legacy JSON round trip");
    }
}

// ---- SQL92 selectors ----------------------------------------------------------------------

/// A consumer's SQL92 selector (`broker::filter::compile`, as the broker calls it on the
/// `subString` of a heartbeat's or CHECK_CLIENT_CONFIG's subscription and on a pull's
/// `subscription` header) and, when it compiles, its evaluation (`Expression::evaluate` /
/// `matches`, as a filtered pull runs it on every message).
///
/// Input: the selector text, optionally followed by a NUL and a message properties string
/// (`name\u{1}value\u{2}...`, looked up with `find_property` as the pull path does). The
/// selector is evaluated against up to four property sets: none at all (every property
/// NULL), that properties string, and two made from the selector's own words (each
/// identifier given the selector's literals in turn, or its words when it has none), so
/// that comparisons meet values of the right shape without the fuzzer spelling them twice.
///
/// Checked: compiling twice gives the same tree or the same error; an evaluation gives the
/// same result twice; its value is a boolean or NULL (the parser admits only conditions at
/// the top); `matches` is true exactly when the value is TRUE; and every property looked
/// up is named in the selector text.
pub fn sql92(data: &[u8]) {
    #[cfg(feature = "broker")]
    sql92_with_broker(data);
    #[cfg(not(feature = "broker"))]
    let _ = data;
}

#[cfg(feature = "broker")]
fn sql92_with_broker(data: &[u8]) {
    use broker::filter::{self, Value as FilterValue};
    use std::cell::RefCell;
    use std::collections::HashMap;

    let text = String::from_utf8_lossy(data);
    let (selector, properties) = match text.split_once('\0') {
        Some((selector, properties)) => (selector, Some(properties)),
        None => (text.as_ref(), None),
    };
    let compiled = filter::compile(selector);
    let again = filter::compile(selector);
    match (&compiled, &again) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "compile is not deterministic"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "compile errors differ"),
        _ => panic!("compile succeeded once and failed once"),
    }
    let Ok(expression) = compiled else {
        return;
    };

    // Property sets made from the selector's words.
    let words: Vec<String> = selector
        .split(|c: char| c.is_whitespace() || "(),=<>".contains(c))
        .filter(|w| !w.is_empty())
        .take(64)
        .map(|w| match w.strip_prefix('\'') {
            Some(quoted) => quoted.strip_suffix('\'').unwrap_or(quoted).replace("''", "'"),
            None => w.to_string(),
        })
        .collect();
    let is_name = |w: &String| w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$');
    let identifiers: Vec<&String> = words.iter().filter(|w| is_name(w)).collect();
    let literals: Vec<&String> = words.iter().filter(|w| !is_name(w)).collect();
    let values = if literals.is_empty() { identifiers.clone() } else { literals };
    let mut derived: Vec<HashMap<String, String>> = Vec::new();
    if !values.is_empty() {
        for shift in [0, 1] {
            let map = identifiers
                .iter()
                .enumerate()
                .map(|(i, name)| ((*name).clone(), values[(i + shift) % values.len()].clone()))
                .collect();
            derived.push(map);
        }
    }

    let looked_up = RefCell::new(Vec::<String>::new());
    let mut lookups: Vec<Box<dyn Fn(&str) -> Option<String> + '_>> = vec![Box::new(|_: &str| None)];
    if let Some(properties) = properties {
        lookups.push(Box::new(move |name: &str| store_codec::find_property(properties, name).map(str::to_string)));
    }
    for map in &derived {
        lookups.push(Box::new(move |name: &str| map.get(name).cloned()));
    }
    for lookup in &lookups {
        let recording = |name: &str| {
            looked_up.borrow_mut().push(name.to_string());
            lookup(name)
        };
        let first = expression.evaluate(&recording);
        let second = expression.evaluate(&recording);
        assert_eq!(format!("{first:?}"), format!("{second:?}"), "evaluation is not deterministic");
        assert!(
            matches!(first, Ok(None) | Ok(Some(FilterValue::Bool(_))) | Err(_)),
            "a selector evaluated to a non-boolean value: {first:?}"
        );
        assert_eq!(
            expression.matches(&recording),
            matches!(first, Ok(Some(FilterValue::Bool(true)))),
            "matches disagrees with evaluate"
        );
    }
    for name in looked_up.borrow().iter() {
        assert!(selector.contains(name.as_str()), "looked up {name:?}, which the selector does not name");
    }
}
