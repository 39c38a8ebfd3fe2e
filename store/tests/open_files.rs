//! ConsumeQueue files keep no open descriptor: a broker's open-file limit bounds its
//! connections, not its queues. (Its own test binary, so no other test opens files
//! while the descriptors are counted.)

use std::time::Duration;

use store::consume_queue::CQ_STORE_UNIT_SIZE;
use store::{codec, FlushDiskType, GetMessageStatus, MessageStore, MessageToStore, StoreConfig};

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn put(store: &MessageStore, topic: &str, qid: i32, body: &str) -> i64 {
    let r = store.put_message(&MessageToStore::new(topic, qid, body.as_bytes().to_vec(), vec![]));
    r.append
        .unwrap_or_else(|| panic!("put of {body} failed: {:?}", r.status))
        .logics_offset
}

fn bodies(store: &MessageStore, topic: &str, qid: i32) -> Vec<String> {
    assert!(store.wait_for_dispatch(Duration::from_secs(10)));
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < store.max_offset_in_queue(topic, qid) {
        let r = store.get_messages(topic, qid, offset, 32, 0, None);
        assert_eq!(r.status, GetMessageStatus::Found, "{topic}/{qid} at {offset}");
        for m in &r.messages {
            let d = codec::decode_message(&m.bytes).unwrap();
            out.push(String::from_utf8(d.body.to_vec()).unwrap());
        }
        offset = r.next_begin_offset;
    }
    out
}

#[test]
fn consume_queue_files_hold_no_descriptor() {
    const QUEUES: i32 = 300;
    // Units for more than two of the 16 KiB block reservations, in one queue file.
    const LONG: usize = 2 * 16 * 1024 / CQ_STORE_UNIT_SIZE as usize + 10;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::with_root(tmp.path());
    config.mapped_file_size_consume_queue = 4000 * CQ_STORE_UNIT_SIZE;
    config.flush_disk_type = FlushDiskType::AsyncFlush;
    {
        let store = MessageStore::open(config.clone()).unwrap();
        put(&store, "Warm", 0, "first");
        assert!(store.wait_for_dispatch(Duration::from_secs(10)));
        let before = open_descriptors();
        for q in 0..QUEUES {
            assert_eq!(put(&store, "Many", q, &format!("m{q}")), 0);
        }
        for i in 0..LONG {
            assert_eq!(put(&store, "Long", 0, &format!("l{i}")), i as i64);
        }
        assert!(store.wait_for_dispatch(Duration::from_secs(10)));
        let grew = open_descriptors().saturating_sub(before);
        assert!(
            grew < 20,
            "{} new ConsumeQueue files opened {grew} descriptors",
            QUEUES + 1
        );
        assert_eq!(bodies(&store, "Many", 7), ["m7"]);
        store.shutdown();
    }
    // Loaded queue files keep no descriptor either: a broker with more queues than its
    // open-file limit must start again. Written through their mappings, reserved by
    // path: all units are there after the reopen.
    let before = open_descriptors();
    let store = MessageStore::open(config).unwrap();
    assert!(store.wait_for_dispatch(Duration::from_secs(10)));
    let grew = open_descriptors().saturating_sub(before);
    assert!(
        grew < 40,
        "opening a store of {} queues opened {grew} descriptors",
        QUEUES + 2
    );
    let long = bodies(&store, "Long", 0);
    assert_eq!(long.len(), LONG);
    assert_eq!(long[LONG - 1], format!("l{}", LONG - 1));
    assert_eq!(bodies(&store, "Many", QUEUES - 1), [format!("m{}", QUEUES - 1)]);
    assert_eq!(put(&store, "Long", 0, "after"), LONG as i64);
}
