//! The API as the broker uses it: async puts with group commit, arrival
//! notification, delayed messages, IPv6 hosts, 5.x records.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use store::{codec, FlushDiskType, GetMessageStatus, MessageStore, MessageToStore, StoreConfig};

fn config(root: &std::path::Path, flush: FlushDiskType) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 128 * 1024;
    c.mapped_file_size_consume_queue = 100 * 20;
    c.max_hash_slot_num = 100;
    c.max_index_num = 1000;
    c.flush_disk_type = flush;
    c
}

#[test]
fn async_sync_flush_puts_complete_and_notify_listeners() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(MessageStore::open(config(tmp.path(), FlushDiskType::SyncFlush)).unwrap());
    let seen = Arc::new(AtomicI64::new(0));
    let s2 = seen.clone();
    store.set_arrival_listener(Arc::new(move |topic: &str, _q, next_offset, _tags, _ts| {
        if topic == "AsyncTopic" {
            s2.fetch_max(next_offset, Ordering::SeqCst);
        }
    }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let m = MessageToStore::new(
                    "AsyncTopic",
                    0,
                    format!("m{i}").into_bytes(),
                    vec![("TAGS".into(), "A".into())],
                );
                store.put_message_async(&m).await
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
    });
    assert!(store.wait_for_dispatch(Duration::from_secs(10)));
    assert_eq!(store.max_offset_in_queue("AsyncTopic", 0), 64);
    assert_eq!(seen.load(Ordering::SeqCst), 64);
    let r = store.get_messages("AsyncTopic", 0, 0, 100, 0, None);
    assert_eq!(r.status, GetMessageStatus::Found);
    assert_eq!(r.messages[0].tags_code, codec::tags_hash_code("A"));
}

/// `transientStorePoolEnable`: puts are staged in memory and become readable once the
/// commit thread has written them. Across many small files (each one closes a chunk,
/// so appenders also meet the back-pressure limit), every message arrives, in order,
/// without anyone nudging the store, and survives a reopen.
#[test]
fn staged_writes_are_committed_dispatched_and_recovered() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path(), FlushDiskType::AsyncFlush);
    cfg.transient_store_pool_enable = true;
    cfg.mapped_file_size_consume_queue = 3000 * 20;
    let store = Arc::new(MessageStore::open(cfg.clone()).unwrap());
    let seen = Arc::new(AtomicI64::new(0));
    let s2 = seen.clone();
    store.set_arrival_listener(Arc::new(move |topic: &str, _q, next_offset, _tags, _ts| {
        if topic == "StagedTopic" {
            s2.fetch_max(next_offset, Ordering::SeqCst);
        }
    }));
    const N: i64 = 2000;
    let body = |i: i64| format!("staged-{i:05}-{}", "x".repeat(1000)).into_bytes();
    let mut last_end = 0;
    for i in 0..N {
        let m = MessageToStore::new("StagedTopic", 0, body(i), vec![("KEYS".into(), format!("sk{i}"))]);
        let a = store.put_message(&m).append.expect("put");
        assert_eq!(a.logics_offset, i);
        last_end = a.wrote_offset + a.wrote_bytes as i64;
    }
    assert!(last_end > 10 * 128 * 1024, "the test should span many CommitLog files");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen.load(Ordering::SeqCst) < N {
        assert!(
            std::time::Instant::now() < deadline,
            "commit thread did not dispatch everything"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(store.max_commit_log_offset(), last_end);
    let check = |store: &MessageStore| {
        let mut next = 0;
        while next < N {
            let r = store.get_messages("StagedTopic", 0, next, 32, 0, None);
            assert_eq!(r.status, GetMessageStatus::Found, "at {next}");
            for m in &r.messages {
                let d = codec::decode_message(&m.bytes).unwrap();
                assert_eq!(d.queue_offset, next);
                assert_eq!(d.body.as_ref(), body(next).as_slice());
                next += 1;
            }
        }
        assert_eq!(
            store
                .query_by_key("StagedTopic", "sk1999", 10, 0, i64::MAX)
                .messages
                .len(),
            1
        );
    };
    check(&store);
    store.shutdown();
    drop(store);
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!(store.max_offset_in_queue("StagedTopic", 0), N);
    assert_eq!(store.max_commit_log_offset(), last_end);
    check(&store);
}

#[test]
fn delayed_messages_wait_in_the_schedule_topic() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(tmp.path(), FlushDiskType::AsyncFlush)).unwrap();
    let props = vec![
        ("DELAY".to_string(), "3".to_string()),
        ("KEYS".to_string(), "dk".to_string()),
    ];
    let r = store.put_message(&MessageToStore::new("RealTopic", 2, b"later".to_vec(), props));
    let a = r.append.unwrap();
    assert_eq!(a.topic, "SCHEDULE_TOPIC_XXXX");
    assert_eq!(a.queue_id, 2);
    assert!(store.wait_for_dispatch(Duration::from_secs(10)));
    let got = store.get_messages("SCHEDULE_TOPIC_XXXX", 2, 0, 1, 0, None);
    assert_eq!(got.status, GetMessageStatus::Found);
    // Level 3 is 10 s: the ConsumeQueue tag code is the delivery time.
    assert_eq!(got.messages[0].tags_code, a.store_timestamp + 10_000);
    let m = codec::decode_message(&got.messages[0].bytes).unwrap();
    assert_eq!(m.property("REAL_TOPIC"), Some("RealTopic"));
    assert_eq!(m.property("REAL_QID"), Some("2"));
    assert_eq!(store.max_offset_in_queue("RealTopic", 2), 0);
}

#[test]
fn ipv6_hosts_and_v2_records_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(tmp.path(), FlushDiskType::AsyncFlush)).unwrap();
    let mut m = MessageToStore::new("V6Topic", 0, b"six".to_vec(), vec![]);
    m.born_host = "[2001:db8::1]:4000".parse().unwrap();
    m.store_host = "[2001:db8::2]:10911".parse().unwrap();
    let a = store.put_message(&m).append.unwrap();
    assert_eq!(a.msg_id().len(), 56);
    let (bytes, d) = store.message_by_offset_msg_id(&a.msg_id()).unwrap();
    assert_eq!(
        d.sys_flag & (codec::sys_flag::BORN_HOST_V6 | codec::sys_flag::STORE_HOST_V6),
        0x30
    );
    assert_eq!(d.born_host, "[2001:db8::1]:4000".parse().unwrap());
    assert_eq!(d.body.as_ref(), b"six");

    // The same record rewritten with 5.x's second magic code and a 2-byte topic length.
    let topic_at = bytes.len() - 2 - 1 - "V6Topic".len();
    let mut v2 = bytes[..topic_at].to_vec();
    v2[4..8].copy_from_slice(&codec::MESSAGE_MAGIC_CODE_V2.to_be_bytes());
    v2.extend_from_slice(&("V6Topic".len() as u16).to_be_bytes());
    v2.extend_from_slice(b"V6Topic");
    v2.extend_from_slice(&0i16.to_be_bytes());
    let total = v2.len() as i32;
    v2[0..4].copy_from_slice(&total.to_be_bytes());
    let d2 = codec::decode_message(&v2).unwrap();
    assert_eq!(d2.topic, "V6Topic");
    assert_eq!(d2.body.as_ref(), b"six");
    assert!(matches!(codec::check_record(&v2, true), codec::RecordCheck::Message(_)));
}

#[test]
fn property_helpers_follow_java() {
    let s = codec::properties_to_string(&[("a".into(), "1".into()), ("b".into(), "2".into())]);
    assert_eq!(s, "a\u{1}1\u{2}b\u{1}2");
    assert_eq!(codec::find_property(&s, "b"), Some("2"));
    assert_eq!(codec::tags_hash_code("TagA"), codec::java_string_hash("TagA") as i64);
    // Java's HashMap iteration order for a typical property set.
    let pairs: Vec<(String, String)> = ["KEYS", "idx", "UNIQ_KEY", "CLUSTER", "TAGS"]
        .iter()
        .map(|k| (k.to_string(), "v".to_string()))
        .collect();
    let order: Vec<String> = codec::java_hashmap_order(&pairs).into_iter().map(|p| p.0).collect();
    assert_eq!(order, ["KEYS", "idx", "UNIQ_KEY", "CLUSTER", "TAGS"]);
}

#[test]
fn a_property_left_out_is_as_if_never_inserted() {
    // 11 to 14 properties: leaving one out crosses the 12-entry point where Java's map
    // grows from 16 to 32 buckets, which changes the order.
    for n in 11..15 {
        let pairs: Vec<(String, String)> = (0..n)
            .map(|i| (format!("P{i}"), format!("v{i}")))
            .chain([("WAIT".to_string(), "true".to_string())])
            .collect();
        for left_out in ["WAIT", "P0", "P7", "absent"] {
            let kept: Vec<(String, String)> = pairs.iter().filter(|p| p.0 != left_out).cloned().collect();
            assert_eq!(
                codec::properties_string_java_order_without(&pairs, Some(left_out)),
                codec::properties_string_java_order(&kept),
                "{n} properties, {left_out} left out"
            );
        }
        assert_eq!(
            codec::properties_string_java_order_without(&pairs, None),
            codec::properties_to_string(&codec::java_hashmap_order(&pairs))
        );
    }
}

#[test]
fn property_pairs_split_like_the_separators_say() {
    // Every string of up to 7 bytes over {a, b, name-value separator, property separator},
    // against the plain reading: split on the property separator, then at the first
    // name-value separator.
    let alphabet = ['a', 'b', codec::NAME_VALUE_SEPARATOR, codec::PROPERTY_SEPARATOR];
    let mut strings = vec![String::new()];
    for _ in 0..7 {
        let longer: Vec<String> = strings
            .iter()
            .filter(|s| s.len() == strings.last().unwrap().len())
            .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
            .collect();
        strings.extend(longer);
    }
    assert_eq!(strings.len(), (0..=7).map(|n| 4usize.pow(n)).sum::<usize>());
    for s in &strings {
        let expected: Vec<(&str, &str)> = s
            .split(codec::PROPERTY_SEPARATOR)
            .filter_map(|part| part.split_once(codec::NAME_VALUE_SEPARATOR))
            .collect();
        assert_eq!(codec::property_pairs(s).collect::<Vec<_>>(), expected, "{s:?}");
    }
}

#[test]
fn a_pull_body_is_the_kept_records_back_to_back() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(tmp.path(), FlushDiskType::AsyncFlush)).unwrap();
    for i in 0..40 {
        // Sizes vary, so that a wrong cut shows.
        let m = MessageToStore::new("BodyTopic", 0, "x".repeat(i * 7).into_bytes(), vec![]);
        assert!(store.put_message(&m).is_ok());
    }
    assert!(store.wait_for_dispatch(Duration::from_secs(10)));
    // Every third record is passed over by the record filter.
    let odd_size = |record: &[u8]| !codec::decode_message(record).unwrap().body.len().is_multiple_of(3);
    let mut r = store.get_messages_filtered("BodyTopic", 0, 0, 32, 0, None, Some(&odd_size));
    assert_eq!(r.status, GetMessageStatus::Found);
    let joined: Vec<u8> = r.messages.iter().flat_map(|m| m.bytes.to_vec()).collect();
    assert_eq!(r.concat().as_ref(), joined.as_slice());
    let bodies: Vec<usize> = codec::decode_messages(&r.concat())
        .iter()
        .map(|m| m.body.len())
        .collect();
    let expected: Vec<usize> = (0..40)
        .map(|i| i * 7)
        .filter(|n: &usize| !n.is_multiple_of(3))
        .take(r.messages.len())
        .collect();
    assert_eq!(bodies, expected);
    // A caller that drops a message gets a body without it.
    let gone = r.messages.remove(1);
    let body = r.concat();
    assert_eq!(body.len(), joined.len() - gone.bytes.len());
    assert_eq!(codec::decode_messages(&body).len(), r.messages.len());
}
