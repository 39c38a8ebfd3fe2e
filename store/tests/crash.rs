//! Crash tests with a real process: start the writer, SIGKILL it mid-write,
//! then reopen the directory and check what survived.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use store::{codec, FlushDiskType, GetMessageStatus, MessageStore, MessageToStore, StoreConfig};

struct Ack {
    i: u64,
    topic: String,
    qid: i32,
    queue_offset: i64,
    msg_id: String,
}

fn config(root: &Path, sync: bool) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 256 * 1024;
    c.mapped_file_size_consume_queue = 100 * 20;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    c.flush_disk_type = if sync {
        FlushDiskType::SyncFlush
    } else {
        FlushDiskType::AsyncFlush
    };
    c
}

/// Runs the writer until it has acknowledged `kill_after` puts, then kills it.
fn write_and_kill(root: &Path, mode: &str, threads: usize, kill_after: usize) -> Vec<Ack> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
        .args([root.to_str().unwrap(), mode, &threads.to_string(), "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acks = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let p: Vec<&str> = line.split_whitespace().collect();
        if p.first() == Some(&"ACK") {
            acks.push(Ack {
                i: p[1].parse().unwrap(),
                topic: p[2].to_string(),
                qid: p[3].parse().unwrap(),
                queue_offset: p[4].parse().unwrap(),
                msg_id: p[5].to_string(),
            });
        }
        if acks.len() >= kill_after {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(root.join("abort").exists(), "a killed store leaves its abort file");
    acks
}

fn check_acked(store: &MessageStore, acks: &[Ack]) {
    assert!(store.wait_for_dispatch(Duration::from_secs(30)));
    for a in acks {
        let r = store.get_messages(&a.topic, a.qid, a.queue_offset, 1, 0, None);
        assert_eq!(r.status, GetMessageStatus::Found, "ack {} lost", a.i);
        let m = codec::decode_message(&r.messages[0].bytes).unwrap();
        assert!(m.body.starts_with(format!("crash-{}-", a.i).as_bytes()));
        assert_eq!(m.offset_msg_id(), a.msg_id);
        let byid = store.message_by_offset_msg_id(&a.msg_id).unwrap().1;
        assert_eq!(byid.keys(), Some(format!("key-{}", a.i).as_str()));
    }
}

fn check_keys(store: &MessageStore, acks: &[Ack]) {
    for a in acks {
        let q = store.query_by_key(&a.topic, &format!("key-{}", a.i), 32, 0, i64::MAX);
        assert_eq!(q.messages.len(), 1, "key-{} not indexed", a.i);
        let q = store.query_by_key(&a.topic, &format!("UNIQ{:08}", a.i), 32, 0, i64::MAX);
        assert_eq!(q.messages.len(), 1, "unique key of {} not indexed", a.i);
    }
}

#[test]
fn sync_flush_keeps_every_acknowledged_message() {
    let tmp = tempfile::tempdir().unwrap();
    let acks = write_and_kill(tmp.path(), "sync", 4, 1500);
    let store = MessageStore::open(config(tmp.path(), true)).unwrap();
    check_acked(&store, &acks);
    check_keys(&store, &acks);
    // The store keeps working after recovery.
    let r = store.put_message(&MessageToStore::new("CrashA", 0, b"after".to_vec(), vec![]));
    assert!(r.is_ok());
}

#[test]
fn torn_tail_is_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let acks = write_and_kill(tmp.path(), "async", 1, 400);
    // Simulate a write torn by the crash: half of a valid record at the end.
    let (end, last_file) = {
        let store = MessageStore::open(config(tmp.path(), false)).unwrap();
        check_acked(&store, &acks);
        let end = store.max_commit_log_offset();
        let (bytes, _) = store.message_by_offset_msg_id(&acks[0].msg_id).unwrap();
        store.shutdown();
        let size = 256 * 1024;
        let file = tmp.path().join("commitlog").join(format!("{:020}", end / size * size));
        let mut data = std::fs::read(&file).unwrap();
        let at = (end % size) as usize;
        let n = (bytes.len() / 2).min(data.len() - at);
        data[at..at + n].copy_from_slice(&bytes[..n]);
        std::fs::write(&file, &data).unwrap();
        std::fs::write(tmp.path().join("abort"), b"").unwrap();
        (end, file)
    };
    let store = MessageStore::open(config(tmp.path(), false)).unwrap();
    assert_eq!(store.max_commit_log_offset(), end, "torn record cut off");
    check_acked(&store, &acks);
    // A corrupted body (bad CRC) also ends valid data.
    let r = store.put_message(&MessageToStore::new("CrashA", 0, b"next".to_vec(), vec![]));
    let a = r.append.unwrap();
    assert_eq!(a.wrote_offset, end);
    store.shutdown();
    drop(store);
    let mut data = std::fs::read(&last_file).unwrap();
    // Last byte of the 4-byte body: before properties length (2), topic (6) and its length (1).
    let body_at = (end % (256 * 1024)) as usize + a.wrote_bytes as usize - 2 - 6 - 1 - 1;
    data[body_at] ^= 0xFF;
    std::fs::write(&last_file, &data).unwrap();
    let store = MessageStore::open(config(tmp.path(), false)).unwrap();
    assert_eq!(store.max_commit_log_offset(), end, "bad CRC cut off");
    assert_eq!(store.max_offset_in_queue("CrashA", 0), a.logics_offset);
}

#[test]
fn deleted_consume_queue_and_index_are_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let acks = write_and_kill(tmp.path(), "async", 2, 1200);
    std::fs::remove_dir_all(tmp.path().join("consumequeue")).unwrap();
    std::fs::remove_dir_all(tmp.path().join("index")).unwrap();
    {
        let store = MessageStore::open(config(tmp.path(), false)).unwrap();
        check_acked(&store, &acks);
        check_keys(&store, &acks);
        store.shutdown();
    }
    // Also after a clean shutdown (normal recovery) with only index/ removed.
    std::fs::remove_dir_all(tmp.path().join("index")).unwrap();
    let store = MessageStore::open(config(tmp.path(), false)).unwrap();
    check_keys(&store, &acks);
}

/// Staged writes (`transientStorePoolEnable`): a put is answered only once its bytes are in
/// the file, so a killed process loses nothing it acknowledged, even with bytes staged.
#[test]
fn staged_writes_keep_every_acknowledged_message() {
    for round in 0..3 {
        let tmp = tempfile::tempdir().unwrap();
        let acks = write_and_kill(tmp.path(), "staged", 4, 800 + round * 300);
        let mut c = config(tmp.path(), false);
        c.transient_store_pool_enable = true;
        let store = MessageStore::open(c).unwrap();
        check_acked(&store, &acks);
        check_keys(&store, &acks);
    }
}
