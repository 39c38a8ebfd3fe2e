//! Opens a copy of the store the Java 4.9.8 broker wrote and reads every
//! message of its manifest.

mod common;

use common::*;
use store::{codec, config_files, GetMessageStatus, MessageStore};

#[test]
fn reads_every_golden_message() {
    let (_tmp, root) = golden_copy();
    let store = MessageStore::open(golden_config(&root)).unwrap();
    let entries = manifest();
    assert_eq!(entries.len(), 3000);
    verify_manifest(&store, &entries);

    // Queue bounds: 375 messages per StoreTopicA queue.
    for q in 0..4 {
        assert_eq!(store.min_offset_in_queue("StoreTopicA", q), 0);
        assert_eq!(store.max_offset_in_queue("StoreTopicA", q), 375);
    }
    // The delayed message was delivered back to its real topic later.
    let last = entries.last().unwrap();
    let q = store.query_by_key("StoreTopicB", &last.keys, 32, 0, i64::MAX);
    assert_eq!(q.messages.len(), 1);
    let delivered = codec::decode_message(&q.messages[0].bytes).unwrap();
    assert_eq!(delivered.topic, "StoreTopicB");
    assert_eq!(delivered.property("REAL_TOPIC"), Some("StoreTopicB"));

    // A batch read stops at the in-memory transfer limit (32 messages).
    let r = store.get_messages("StoreTopicA", 0, 0, 64, 0, None);
    assert_eq!(r.status, GetMessageStatus::Found);
    assert_eq!(r.messages.len(), 32);
    assert_eq!(r.next_begin_offset, 32);
    let decoded = codec::decode_messages(&r.concat());
    assert_eq!(decoded.len(), 32);

    // Tag filtering on the ConsumeQueue hash.
    let t0 = codec::tags_hash_code("T0");
    let filter = move |code: i64| code == t0;
    let r = store.get_messages("StoreTopicA", 0, 0, 32, 0, Some(&filter));
    assert!(r
        .messages
        .iter()
        .all(|m| codec::decode_message(&m.bytes).unwrap().tags() == Some("T0")));
    assert!(!r.messages.is_empty());

    // Offsets past the end and unknown queues.
    assert_eq!(
        store.get_messages("StoreTopicA", 0, 375, 1, 0, None).status,
        GetMessageStatus::OffsetOverflowOne
    );
    assert_eq!(
        store.get_messages("StoreTopicA", 0, 999, 1, 0, None).status,
        GetMessageStatus::OffsetOverflowBadly
    );
    assert_eq!(
        store.get_messages("NoSuchTopic", 0, 0, 1, 0, None).status,
        GetMessageStatus::NoMatchedLogicQueue
    );

    // Offset by time and earliest time.
    let first = store.earliest_message_time("StoreTopicA", 0);
    assert!(first > 0);
    assert_eq!(store.offset_by_timestamp("StoreTopicA", 0, first), 0);
    assert_eq!(store.offset_by_timestamp("StoreTopicA", 0, i64::MAX / 2), 374);
    let mid = store.message_store_timestamp("StoreTopicA", 0, 200);
    let found = store.offset_by_timestamp("StoreTopicA", 0, mid);
    assert_eq!(store.message_store_timestamp("StoreTopicA", 0, found), mid);
    store.shutdown();
}

#[test]
fn reads_golden_consumer_offsets() {
    let (_tmp, root) = golden_copy();
    let offsets = config_files::load_consumer_offsets(&root).unwrap();
    let a = &offsets["StoreTopicA@storegen_cg"];
    for q in 0..4 {
        assert_eq!(a[&q], 375);
    }
    assert_eq!(offsets["%RETRY%storegen_cg@storegen_cg"][&0], 0);
    // Writing them back gives Java's text, and keeps the old file as .bak.
    let before = std::fs::read_to_string(root.join("config/consumerOffset.json")).unwrap();
    config_files::save_consumer_offsets(&root, &offsets).unwrap();
    let again = config_files::load_consumer_offsets(&root).unwrap();
    assert_eq!(again, offsets);
    assert_eq!(
        std::fs::read_to_string(root.join("config/consumerOffset.json.bak")).unwrap(),
        before
    );
    let topics = config_files::read_config(&root.join("config/topics.json"))
        .unwrap()
        .unwrap();
    assert!(topics["topicConfigTable"]["StoreTopicA"].is_object());
}
