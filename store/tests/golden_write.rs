//! Writes the golden messages through our store and compares the bytes with
//! what the Java broker wrote for the same input (store timestamps masked).

mod common;

use std::path::Path;

use common::*;
use store::{codec, FlushDiskType, MessageStore, MessageToStore};

/// Every record of a CommitLog directory, with its offset.
fn golden_records(dir: &Path, file_size: u64) -> Vec<(i64, codec::DecodedMessage)> {
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let base: i64 = p.file_name().unwrap().to_str().unwrap().parse().unwrap();
        let data = std::fs::read(&p).unwrap();
        assert_eq!(data.len() as u64, file_size);
        let mut pos = 0usize;
        while pos + 8 <= data.len() {
            match codec::decode_message(&data[pos..]) {
                Ok(m) => {
                    let n = m.store_size as usize;
                    out.push((base + pos as i64, m));
                    pos += n;
                }
                Err(_) => break,
            }
        }
    }
    out
}

/// Rebuilds what the Java broker handed its store for a recorded message.
fn input_for(m: &codec::DecodedMessage) -> MessageToStore {
    let mut props = m.properties.clone();
    let (topic, queue_id, props_string) = if m.topic == "SCHEDULE_TOPIC_XXXX" {
        let real_topic = codec::get_property(&props, "REAL_TOPIC").unwrap().to_string();
        let real_qid: i32 = codec::get_property(&props, "REAL_QID").unwrap().parse().unwrap();
        props.retain(|(k, _)| k != "REAL_TOPIC" && k != "REAL_QID");
        (real_topic, real_qid, None)
    } else {
        if codec::get_property(&props, "REAL_TOPIC").is_some() {
            // Delivered by the schedule service: DELAY is gone from its map.
            props.retain(|(k, _)| k != "DELAY");
        }
        (m.topic.clone(), m.queue_id, Some(m.properties_string.clone()))
    };
    MessageToStore {
        topic,
        queue_id,
        flag: m.flag,
        body: m.body.clone(),
        properties: props,
        properties_string: props_string,
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        store_host: m.store_host,
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: m.prepared_transaction_offset,
        wait_store_msg_ok: true,
    }
}

/// Zeroes the store timestamp of every record in a CommitLog file image.
fn mask_store_timestamps(data: &mut [u8], records: &[(i64, codec::DecodedMessage)], base: i64) {
    for (off, m) in records {
        if *off < base || *off >= base + data.len() as i64 {
            continue;
        }
        let at = (*off - base) as usize + codec::store_timestamp_position(m.sys_flag);
        data[at..at + 8].fill(0);
    }
}

#[test]
fn our_bytes_equal_java_bytes() {
    write_like_java(false);
}

/// The same bytes when appends are staged and written by the commit thread
/// (`transientStorePoolEnable`), including the blank record that closes the first file.
#[test]
fn staged_writes_produce_the_same_bytes() {
    write_like_java(true);
}

fn write_like_java(staged: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let mut cfg = golden_config(&root);
    cfg.flush_disk_type = FlushDiskType::AsyncFlush;
    cfg.transient_store_pool_enable = staged;
    let golden_cl = golden_dir().join("store/commitlog");
    let records = golden_records(&golden_cl, cfg.mapped_file_size_commit_log);
    assert_eq!(records.len(), 3001);

    let store = MessageStore::open(cfg.clone()).unwrap();
    for (off, m) in &records {
        let r = store.put_message(&input_for(m));
        assert!(r.is_ok(), "{:?}", r.status);
        let a = r.append.unwrap();
        assert_eq!(a.wrote_offset, *off);
        assert_eq!(a.logics_offset, m.queue_offset);
        assert_eq!(a.msg_id(), m.offset_msg_id());
    }
    assert!(store.wait_for_dispatch(std::time::Duration::from_secs(30)));
    store.flush().unwrap();

    // CommitLog files: equal once store timestamps are masked.
    for name in ["00000000000000000000", "00000000000001048576"] {
        let mut ours = std::fs::read(root.join("commitlog").join(name)).unwrap();
        let mut theirs = std::fs::read(golden_cl.join(name)).unwrap();
        let base: i64 = name.parse().unwrap();
        mask_store_timestamps(&mut ours, &records, base);
        mask_store_timestamps(&mut theirs, &records, base);
        assert!(
            ours == theirs,
            "commitlog {name} differs at byte {:?}",
            ours.iter().zip(&theirs).position(|(a, b)| a != b)
        );
    }
    // ConsumeQueues of the user topics: identical (no timestamps in them).
    for topic in ["StoreTopicA", "StoreTopicB"] {
        for q in 0..4 {
            let dir = format!("consumequeue/{topic}/{q}");
            for e in std::fs::read_dir(golden_dir().join("store").join(&dir)).unwrap() {
                let e = e.unwrap();
                let theirs = std::fs::read(e.path()).unwrap();
                let ours = std::fs::read(root.join(&dir).join(e.file_name())).unwrap();
                assert!(ours == theirs, "{dir}/{:?} differs", e.file_name());
            }
        }
    }

    // A directory we wrote passes the same reader checks, before and after reopening.
    let entries = manifest();
    verify_manifest(&store, &entries);
    store.shutdown();
    drop(store);
    assert!(!root.join("abort").exists());
    let store = MessageStore::open(cfg).unwrap();
    verify_manifest(&store, &entries);
}

#[test]
fn batch_messages_encode_as_java_does() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = store::StoreConfig::with_root(tmp.path());
    cfg.mapped_file_size_commit_log = 64 * 1024;
    cfg.mapped_file_size_consume_queue = 20 * 100;
    cfg.max_hash_slot_num = 100;
    cfg.max_index_num = 400;
    let store = MessageStore::open(cfg).unwrap();
    let body = codec::encode_batch_body(&[
        (0, b"one", "KEYS\u{1}k1\u{2}UNIQ_KEY\u{1}U1"),
        (0, b"two", "KEYS\u{1}k2\u{2}UNIQ_KEY\u{1}U2\u{2}"),
        (7, b"three", ""),
    ]);
    let batch = store::MessageBatchToStore {
        topic: "BatchTopic".into(),
        queue_id: 1,
        body: body.into(),
        properties: vec![("CLUSTER".into(), "DefaultCluster".into())],
        sys_flag: 0,
        born_timestamp: 1,
        born_host: "10.0.0.1:5000".parse().unwrap(),
        store_host: "[::1]:10911".parse().unwrap(),
        reconsume_times: 0,
        wait_store_msg_ok: true,
    };
    let r = store.put_messages(&batch);
    assert!(r.is_ok());
    let a = r.append.unwrap();
    assert_eq!(a.msg_num, 3);
    assert_eq!(a.msg_id().split(',').count(), 3);
    assert!(store.wait_for_dispatch(std::time::Duration::from_secs(10)));
    let got = store.get_messages("BatchTopic", 1, 0, 10, 0, None);
    assert_eq!(got.messages.len(), 3);
    let ms: Vec<_> = got
        .messages
        .iter()
        .map(|m| codec::decode_message(&m.bytes).unwrap())
        .collect();
    // Item properties, one separator, then the batch's.
    assert_eq!(
        ms[0].properties_string,
        "KEYS\u{1}k1\u{2}UNIQ_KEY\u{1}U1\u{2}CLUSTER\u{1}DefaultCluster"
    );
    assert_eq!(
        ms[1].properties_string,
        "KEYS\u{1}k2\u{2}UNIQ_KEY\u{1}U2\u{2}CLUSTER\u{1}DefaultCluster"
    );
    assert_eq!(ms[2].properties_string, "CLUSTER\u{1}DefaultCluster");
    assert_eq!(ms[2].flag, 7);
    assert_eq!(ms[2].body.as_ref(), b"three");
    assert_eq!(ms[1].queue_offset, 1);
    assert!(ms[0].sys_flag & codec::sys_flag::STORE_HOST_V6 != 0);
    assert_eq!(ms[0].store_host, "[::1]:10911".parse().unwrap());
    assert_eq!(ms[0].offset_msg_id().len(), 56);
    assert_eq!(
        store.query_by_key("BatchTopic", "k2", 10, 0, i64::MAX).messages.len(),
        1
    );
    assert_eq!(
        store.query_by_key("BatchTopic", "U1", 10, 0, i64::MAX).messages.len(),
        1
    );
}
