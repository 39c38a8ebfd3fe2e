//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use store::{codec, GetMessageStatus, MessageStore, StoreConfig};

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/golden/java-store-4.9.8")
}

/// Copies a directory tree, making the copies writable.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
            let mut p = std::fs::metadata(&dst).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            p.set_readonly(false);
            std::fs::set_permissions(&dst, p).unwrap();
        }
    }
}

/// The golden broker.conf settings, rooted at `root`.
pub fn golden_config(root: &Path) -> StoreConfig {
    let text = std::fs::read_to_string(golden_dir().join("broker.conf")).unwrap();
    let mut props = StoreConfig::parse_properties_text(&text);
    props.insert("storePathRootDir".into(), root.display().to_string());
    props.insert(
        "storePathCommitLog".into(),
        root.join("commitlog").display().to_string(),
    );
    StoreConfig::from_properties(&props).unwrap()
}

/// A copy of the golden store in a temp dir; returns (guard, store root).
pub fn golden_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&golden_dir().join("store"), &root);
    (tmp, root)
}

#[derive(Debug, Clone)]
pub struct ManifestEntry {
    pub i: i64,
    pub topic: String,
    pub tags: String,
    pub keys: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub msg_id: String,
    pub offset_msg_id: String,
    pub delay_level: i32,
}

pub fn manifest() -> Vec<ManifestEntry> {
    let text = std::fs::read_to_string(golden_dir().join("manifest.jsonl")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            ManifestEntry {
                i: v["i"].as_i64().unwrap(),
                topic: v["topic"].as_str().unwrap().to_string(),
                tags: v["tags"].as_str().unwrap().to_string(),
                keys: v["keys"].as_str().unwrap().to_string(),
                queue_id: v["queueId"].as_i64().unwrap() as i32,
                queue_offset: v["queueOffset"].as_i64().unwrap(),
                msg_id: v["msgId"].as_str().unwrap().to_string(),
                offset_msg_id: v["offsetMsgId"].as_str().unwrap().to_string(),
                delay_level: v["delayLevel"].as_i64().unwrap_or(0) as i32,
            }
        })
        .collect()
}

/// The body the generator sent for message `i`.
pub fn expected_body(topic: &str, i: i64) -> Vec<u8> {
    let mut b = format!("golden-{topic}-{i}-").into_bytes();
    for j in 0..((i % 7) * 60) {
        b.push(b'a' + (j % 26) as u8);
    }
    b
}

pub fn check_fields(m: &codec::DecodedMessage, e: &ManifestEntry) {
    assert_eq!(
        m.body.as_ref(),
        expected_body(&e.topic, e.i).as_slice(),
        "body of {}",
        e.i
    );
    assert_eq!(m.tags(), Some(e.tags.as_str()), "tags of {}", e.i);
    assert_eq!(m.keys(), Some(e.keys.as_str()), "keys of {}", e.i);
    assert_eq!(m.property("idx"), Some(e.i.to_string().as_str()), "idx of {}", e.i);
    assert_eq!(m.unique_key(), Some(e.msg_id.as_str()), "unique key of {}", e.i);
}

/// Checks every manifest message by queue position, by offsetMsgId and by key.
pub fn verify_manifest(store: &MessageStore, entries: &[ManifestEntry]) {
    for e in entries {
        // By (topic, queue, offset); delayed messages sit in the schedule topic.
        let (topic, qid) = if e.delay_level > 0 {
            ("SCHEDULE_TOPIC_XXXX".to_string(), e.delay_level - 1)
        } else {
            (e.topic.clone(), e.queue_id)
        };
        let r = store.get_messages(&topic, qid, e.queue_offset, 1, 0, None);
        assert_eq!(
            r.status,
            GetMessageStatus::Found,
            "message {} at {}:{}:{}",
            e.i,
            topic,
            qid,
            e.queue_offset
        );
        let m = codec::decode_message(&r.messages[0].bytes).unwrap();
        check_fields(&m, e);
        assert_eq!(m.offset_msg_id(), e.offset_msg_id);

        // By offsetMsgId.
        let (_, byid) = store
            .message_by_offset_msg_id(&e.offset_msg_id)
            .expect("by offsetMsgId");
        check_fields(&byid, e);

        // By key and by unique key, through the index.
        let q = store.query_by_key(&topic, &e.keys, 32, 0, i64::MAX);
        assert!(
            q.messages
                .iter()
                .any(|s| codec::decode_message(&s.bytes).unwrap().offset_msg_id() == e.offset_msg_id),
            "key {} not found",
            e.keys
        );
        let q = store.query_by_key(&topic, &e.msg_id, 32, 0, i64::MAX);
        assert_eq!(q.messages.len(), 1, "unique key of {}", e.i);
    }
}
