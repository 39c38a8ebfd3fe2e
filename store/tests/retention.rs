//! Retention and "can't write" behaviour.

use std::time::Duration;

use store::{codec, GetMessageStatus, MessageStore, MessageToStore, PutMessageStatus, StoreConfig};

fn config(root: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 64 * 1024;
    c.mapped_file_size_consume_queue = 50 * 20;
    c.max_hash_slot_num = 64;
    c.max_index_num = 200;
    // Keep the machine's own disk usage out of these tests: past diskMaxUsedSpaceRatio
    // (default 75%) expired files go at any hour, past diskSpaceCleanForciblyRatio (85%)
    // young ones too. 95 is the highest ratio Java accepts.
    c.disk_max_used_space_ratio = 95;
    c.disk_space_clean_forcibly_ratio = 1.0;
    c
}

/// Java's two thresholds: a disk fuller than `diskMaxUsedSpaceRatio` makes the store delete
/// *expired* files at any hour; only past `diskSpaceCleanForciblyRatio` do young files go.
/// The thresholds are set around this machine's real disk use, measured first.
#[test]
fn a_full_disk_deletes_young_files_only_past_the_forcible_ratio() {
    let tmp = tempfile::tempdir().unwrap();
    let used = store::retention::disk_used_ratio(tmp.path()).unwrap();
    if used <= 0.11 {
        eprintln!("disk only {used} used: below the lowest diskMaxUsedSpaceRatio Java accepts");
        return;
    }
    let mut cfg = config(tmp.path());
    cfg.file_reserved_time = 72;
    cfg.delete_when = "99".to_string(); // never the hour to delete
    cfg.disk_max_used_space_ratio = 10; // the disk is "full"
    cfg.disk_space_warning_level_ratio = 1.0; // keep taking writes
    let store = MessageStore::open(cfg.clone()).unwrap();
    fill(&store, 400);
    // Over diskMaxUsedSpaceRatio but under the forcible ratio: nothing is 72 hours old.
    assert_eq!(store.clean_expired_files(false), 0);
    assert_eq!(store.min_commit_log_offset(), 0);
    drop(store);

    // Over the forcible ratio too, but cleanFileForciblyEnable off: still nothing.
    cfg.disk_space_clean_forcibly_ratio = used - 0.01;
    cfg.clean_file_forcibly_enable = false;
    let store = MessageStore::open(cfg.clone()).unwrap();
    assert_eq!(store.clean_expired_files(false), 0);
    drop(store);

    // Both: young files go, all but the one being written.
    cfg.clean_file_forcibly_enable = true;
    let store = MessageStore::open(cfg).unwrap();
    assert!(store.clean_expired_files(false) >= 5);
    assert!(store.min_commit_log_offset() > 0);
    store.shutdown();
}

fn fill(store: &MessageStore, n: usize) {
    for i in 0..n {
        let props = vec![
            ("KEYS".to_string(), format!("k{i}")),
            ("TAGS".to_string(), "T".to_string()),
        ];
        let r = store.put_message(&MessageToStore::new("RetTopic", (i % 2) as i32, vec![b'x'; 900], props));
        assert!(r.is_ok());
    }
    assert!(store.wait_for_dispatch(Duration::from_secs(30)));
}

#[test]
fn expired_files_are_deleted_at_delete_when_but_never_the_last() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.file_reserved_time = 72;
    cfg.delete_when = (0..24).map(|h| format!("{h:02}")).collect::<Vec<_>>().join(";");
    let store = MessageStore::open(cfg.clone()).unwrap();
    fill(&store, 400); // ~6 CommitLog files
                       // Nothing is 72 hours old yet.
    assert_eq!(store.clean_expired_files(false), 0);
    assert_eq!(store.min_commit_log_offset(), 0);
    drop(store);

    // With a zero reservation every file but the one being written expires.
    cfg.file_reserved_time = 0;
    let store = MessageStore::open(cfg).unwrap();
    let max_before = store.max_commit_log_offset();
    let deleted = store.clean_expired_files(false);
    assert!(deleted >= 5, "deleted {deleted}");
    let min = store.min_commit_log_offset();
    assert!(min > 0 && min <= max_before);
    assert_eq!(store.max_commit_log_offset(), max_before);
    let files = std::fs::read_dir(tmp.path().join("commitlog")).unwrap().count();
    assert_eq!(files, 1);

    // Queues moved their minimum past the deleted data; old reads say so.
    for q in 0..2 {
        let min_q = store.min_offset_in_queue("RetTopic", q);
        assert!(min_q > 0);
        let r = store.get_messages("RetTopic", q, 0, 1, 0, None);
        assert_eq!(r.status, GetMessageStatus::OffsetTooSmall);
        assert_eq!(r.next_begin_offset, min_q);
        let r = store.get_messages("RetTopic", q, min_q, 1, 0, None);
        assert_eq!(r.status, GetMessageStatus::Found);
        assert!(r.messages[0].commit_log_offset >= min);
    }
    // Old keys are gone, recent ones still found.
    assert!(store
        .query_by_key("RetTopic", "k0", 10, 0, i64::MAX)
        .messages
        .is_empty());
    assert_eq!(
        store.query_by_key("RetTopic", "k399", 10, 0, i64::MAX).messages.len(),
        1
    );
    // Writing continues where it was.
    assert!(store
        .put_message(&MessageToStore::new("RetTopic", 0, b"more".to_vec(), vec![]))
        .is_ok());
    store.shutdown();
    drop(store);

    // And the trimmed store reopens cleanly.
    let store = MessageStore::open(config(tmp.path())).unwrap();
    assert_eq!(store.min_commit_log_offset(), min);
    let q0_min = store.min_offset_in_queue("RetTopic", 0);
    let r = store.get_messages("RetTopic", 0, q0_min, 1, 0, None);
    assert_eq!(r.status, GetMessageStatus::Found);
}

#[test]
fn forced_clean_keeps_the_file_being_written() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(tmp.path())).unwrap();
    fill(&store, 200);
    store.clean_expired_files(true);
    assert_eq!(std::fs::read_dir(tmp.path().join("commitlog")).unwrap().count(), 1);
    let max = store.max_offset_in_queue("RetTopic", 1);
    let r = store.get_messages("RetTopic", 1, max - 1, 1, 0, None);
    assert_eq!(r.status, GetMessageStatus::Found);
}

#[test]
fn a_file_that_cannot_be_created_fails_puts_without_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(tmp.path())).unwrap();
    // Block the next CommitLog file name, as a full disk would block its creation.
    std::fs::create_dir_all(tmp.path().join("commitlog").join(format!("{:020}", 64 * 1024))).unwrap();
    let mut ok = 0;
    let mut failed = None;
    for i in 0..200 {
        let r = store.put_message(&MessageToStore::new(
            "FullTopic",
            0,
            vec![b'y'; 1000],
            vec![("KEYS".into(), format!("f{i}"))],
        ));
        if r.is_ok() {
            ok += 1;
        } else {
            failed = Some(r.status);
            break;
        }
    }
    assert_eq!(failed, Some(PutMessageStatus::CreateMappedFileFailed));
    assert!(!store.is_writable());
    // Further puts are refused clearly.
    let r = store.put_message(&MessageToStore::new("FullTopic", 0, b"z".to_vec(), vec![]));
    assert_eq!(r.status, PutMessageStatus::ServiceNotAvailable);
    // Everything written before is intact.
    assert!(store.wait_for_dispatch(Duration::from_secs(10)));
    assert_eq!(store.max_offset_in_queue("FullTopic", 0), ok);
    let mut offset = 0;
    let mut read = 0;
    while offset < ok {
        // One read stops at the end of a ConsumeQueue file, as in Java.
        let r = store.get_messages("FullTopic", 0, offset, 1000, 10 << 20, None);
        assert_eq!(r.status, GetMessageStatus::Found);
        for m in &r.messages {
            let d = codec::decode_message(&m.bytes).unwrap();
            assert_eq!(d.body_crc, codec::body_crc(&d.body));
            read += 1;
        }
        offset = r.next_begin_offset;
    }
    assert_eq!(read, ok);
    // Once space is back (obstacle gone) a retention pass re-enables writes.
    std::fs::remove_dir(tmp.path().join("commitlog").join(format!("{:020}", 64 * 1024))).unwrap();
    store.clean_expired_files(false);
    assert!(store.is_writable());
    assert!(store
        .put_message(&MessageToStore::new("FullTopic", 0, vec![b'y'; 1000], vec![]))
        .is_ok());
    store.shutdown();
    drop(store);
    let store = MessageStore::open(config(tmp.path())).unwrap();
    assert_eq!(store.max_offset_in_queue("FullTopic", 0), ok + 1);
}
