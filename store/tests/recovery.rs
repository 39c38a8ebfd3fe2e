//! Recovery of damaged stores, built deterministically (no process kill needed): each
//! test writes a store, damages it the way a crash or a bad disk would, reopens it and
//! checks exactly which records survive and that new puts never reuse a queue offset.

use std::path::Path;
use std::time::Duration;

use store::consume_queue::{ConsumeQueue, CqUnit, CQ_STORE_UNIT_SIZE};
use store::{codec, FlushDiskType, GetMessageStatus, MessageStore, MessageToStore, StoreConfig};

const CL_FILE: u64 = 64 * 1024;

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = CL_FILE;
    c.mapped_file_size_consume_queue = 100 * CQ_STORE_UNIT_SIZE;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    c.flush_disk_type = FlushDiskType::SyncFlush;
    c
}

/// What a put returned: (queue offset, CommitLog offset, record size).
type Put = (i64, i64, i32);

fn put(store: &MessageStore, topic: &str, qid: i32, body: &str) -> Put {
    let msg = MessageToStore::new(topic, qid, body.as_bytes().to_vec(), vec![("KEYS".into(), body.into())]);
    let r = store.put_message(&msg);
    let a = r
        .append
        .unwrap_or_else(|| panic!("put of {body} failed: {:?}", r.status));
    (a.logics_offset, a.wrote_offset, a.wrote_bytes)
}

/// Reads every message of a queue from offset 0: the bodies, in queue order.
fn bodies(store: &MessageStore, topic: &str, qid: i32) -> Vec<String> {
    assert!(store.wait_for_dispatch(Duration::from_secs(10)));
    let mut out = Vec::new();
    let mut offset = store.min_offset_in_queue(topic, qid);
    let max = store.max_offset_in_queue(topic, qid);
    while offset < max {
        let r = store.get_messages(topic, qid, offset, 32, 0, None);
        assert_eq!(r.status, GetMessageStatus::Found, "{topic}/{qid} at {offset}");
        for m in &r.messages {
            assert_eq!(m.queue_offset, offset, "{topic}/{qid}: queue offsets are dense");
            let d = codec::decode_message(&m.bytes).unwrap();
            assert_eq!(d.queue_offset, offset, "the record's own queue offset matches its slot");
            out.push(String::from_utf8(d.body.to_vec()).unwrap());
            offset += 1;
        }
        offset = r.next_begin_offset.max(offset);
    }
    out
}

fn cq_file(root: &Path, topic: &str, qid: i32) -> std::path::PathBuf {
    root.join("consumequeue")
        .join(topic)
        .join(qid.to_string())
        .join(format!("{:020}", 0))
}

/// Zeroes the last `n` units of a queue's first file, as if the crash came between the
/// CommitLog append and the ConsumeQueue write.
fn drop_last_units(root: &Path, topic: &str, qid: i32, units: usize, n: usize) {
    let f = cq_file(root, topic, qid);
    let mut data = std::fs::read(&f).unwrap();
    let unit = CQ_STORE_UNIT_SIZE as usize;
    for b in &mut data[(units - n) * unit..units * unit] {
        *b = 0;
    }
    std::fs::write(&f, &data).unwrap();
}

fn mark_crashed(root: &Path) {
    std::fs::write(root.join("abort"), b"").unwrap();
}

/// Runs `f` with what it logs on this thread (at INFO and above) captured, formatted as
/// the server binaries print it to stderr; returns `f`'s result and the captured lines.
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let sink = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || sink.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    eprintln!("{text}");
    (out, text)
}

/// The one line of `log` that contains every one of `needles`.
fn line_with<'a>(log: &'a str, needles: &[&str]) -> &'a str {
    let lines: Vec<&str> = log.lines().filter(|l| needles.iter().all(|n| l.contains(n))).collect();
    assert_eq!(lines.len(), 1, "expected one line with {needles:?} in:\n{log}");
    lines[0]
}

/// The recovery line that says what was dropped: ERROR, naming the file, the CommitLog
/// offset where valid data ends, how many written bytes were dropped, and why.
fn assert_dropped_line(log: &str, file: &Path, offset: i64, dropped: usize, why: &str) {
    let line = line_with(log, &["CommitLog recovery: invalid record"]);
    assert!(line.contains(" ERROR "), "{line}");
    for field in [
        format!("file={}", file.display()),
        format!("offset={offset}"),
        format!("dropped_bytes={dropped}"),
        format!("invalid record ({why}"),
    ] {
        assert!(line.contains(&field), "{field:?} missing in: {line}");
    }
}

/// Bytes from `from` to the last non-zero byte before `to`: what a cut at `from` drops.
fn written_between(data: &[u8], from: usize, to: usize) -> usize {
    data[from..to].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

/// The offset-reuse bug: a record in the CommitLog whose ConsumeQueue unit is missing
/// when the store opens still owns its queue offset. The next put to that queue must
/// get the offset after it, and both messages must be consumable.
fn missing_units_then_new_puts(crashed: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    {
        let store = MessageStore::open(config(root)).unwrap();
        for i in 0..5 {
            put(&store, "Reuse", 0, &format!("m{i}"));
        }
        // Another queue, written last, so the dispatcher's restart point is not this one.
        put(&store, "Other", 1, "o0");
        store.shutdown();
    }
    drop_last_units(root, "Reuse", 0, 5, 2);
    if crashed {
        mark_crashed(root);
    }
    let store = MessageStore::open(config(root)).unwrap();
    assert_eq!(
        store.max_offset_in_queue("Reuse", 0),
        5,
        "missing units rebuilt from the CommitLog"
    );
    let (q, _, _) = put(&store, "Reuse", 0, "after");
    assert_eq!(q, 5, "the new message takes the next free queue offset");
    assert_eq!(bodies(&store, "Reuse", 0), ["m0", "m1", "m2", "m3", "m4", "after"]);
    assert_eq!(put(&store, "Other", 1, "o1").0, 1);
    assert_eq!(bodies(&store, "Other", 1), ["o0", "o1"]);
    store.shutdown();
    drop(store);
    // And once more after a clean restart.
    let store = MessageStore::open(config(root)).unwrap();
    assert_eq!(put(&store, "Reuse", 0, "later").0, 6);
    assert_eq!(bodies(&store, "Reuse", 0).len(), 7);
}

#[test]
fn missing_consume_queue_units_do_not_lose_offsets_after_a_crash() {
    missing_units_then_new_puts(true);
}

#[test]
fn missing_consume_queue_units_do_not_lose_offsets_after_a_clean_exit() {
    missing_units_then_new_puts(false);
}

#[test]
fn deleted_consume_queue_is_rebuilt_and_offsets_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    {
        let store = MessageStore::open(config(root)).unwrap();
        for i in 0..4 {
            put(&store, "Gone", 2, &format!("g{i}"));
        }
        store.shutdown();
    }
    std::fs::remove_dir_all(root.join("consumequeue")).unwrap();
    std::fs::remove_file(root.join("checkpoint")).unwrap();
    let store = MessageStore::open(config(root)).unwrap();
    assert_eq!(put(&store, "Gone", 2, "g4").0, 4);
    assert_eq!(bodies(&store, "Gone", 2), ["g0", "g1", "g2", "g3", "g4"]);
    let q = store.query_by_key("Gone", "g1", 32, 0, i64::MAX);
    assert_eq!(q.messages.len(), 1, "the index still finds old keys");
}

/// A CommitLog cut in the middle of its last record (a torn write): every whole record
/// before it survives, the torn one is gone, and the next put goes where it started.
#[test]
fn torn_commit_log_tail_keeps_every_whole_record() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let last = {
        let store = MessageStore::open(config(root)).unwrap();
        let mut last = (0, 0, 0);
        for i in 0..10 {
            last = put(&store, "Torn", 0, &format!("t{i}"));
        }
        store.shutdown();
        last
    };
    let (_, last_offset, last_size) = last;
    let cl = root.join("commitlog").join(format!("{:020}", 0));
    let mut data = std::fs::read(&cl).unwrap();
    // Keep the first half of the last record, zero the rest of it.
    let from = (last_offset + last_size as i64 / 2) as usize;
    for b in &mut data[from..(last_offset + last_size as i64) as usize] {
        *b = 0;
    }
    std::fs::write(&cl, &data).unwrap();
    mark_crashed(root);
    let (store, log) = logged(|| MessageStore::open(config(root)).unwrap());
    let dropped = written_between(&data, last_offset as usize, data.len());
    assert!(dropped > 0 && dropped <= last_size as usize / 2);
    assert_dropped_line(&log, &cl, last_offset, dropped, "declared size");
    assert_eq!(store.max_commit_log_offset(), last_offset);
    let expect: Vec<String> = (0..9).map(|i| format!("t{i}")).collect();
    assert_eq!(bodies(&store, "Torn", 0), expect);
    let (q, at, _) = put(&store, "Torn", 0, "t9-again");
    assert_eq!((q, at), (9, last_offset));
}

/// A flipped byte in a body: with `checkCRCOnRecover` (the default) the damaged record
/// and everything after it are dropped; the records before it survive.
#[test]
fn flipped_byte_ends_valid_data_at_the_damaged_record() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let puts: Vec<Put> = {
        let store = MessageStore::open(config(root)).unwrap();
        let p = (0..10)
            .map(|i| put(&store, "Flip", 0, &format!("body-{i:04}")))
            .collect();
        store.shutdown();
        p
    };
    let (_, bad_at, _) = puts[6];
    let cl = root.join("commitlog").join(format!("{:020}", 0));
    let mut data = std::fs::read(&cl).unwrap();
    // Find the body of record 6 and flip one byte of it.
    let rec = &data[bad_at as usize..];
    let body_pos = rec.windows(9).position(|w| w == b"body-0006").unwrap();
    data[bad_at as usize + body_pos + 8] ^= 0x01;
    std::fs::write(&cl, &data).unwrap();
    mark_crashed(root);
    let (store, log) = logged(|| MessageStore::open(config(root)).unwrap());
    // Records 6 to 9 are dropped: every byte from the damaged one to the end of the last.
    let (_, last_at, last_size) = puts[9];
    let dropped = (last_at + last_size as i64 - bad_at) as usize;
    assert_eq!(dropped, written_between(&data, bad_at as usize, data.len()));
    assert_dropped_line(&log, &cl, bad_at, dropped, "body CRC mismatch");
    assert_eq!(store.max_commit_log_offset(), bad_at);
    let expect: Vec<String> = (0..6).map(|i| format!("body-{i:04}")).collect();
    assert_eq!(bodies(&store, "Flip", 0), expect);
    assert_eq!(put(&store, "Flip", 0, "next").0, 6);
}

/// Recovery with the checkpoint file missing, and with a stale one (older than the data),
/// after a crash: nothing is lost either way.
#[test]
fn missing_or_stale_checkpoint_loses_nothing() {
    for stale in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let old_checkpoint = {
            let store = MessageStore::open(config(root)).unwrap();
            put(&store, "Ckpt", 0, "c0");
            store.flush().unwrap();
            let old = std::fs::read(root.join("checkpoint")).unwrap();
            for i in 1..30 {
                put(&store, "Ckpt", 0, &format!("c{i}"));
            }
            store.shutdown();
            old
        };
        if stale {
            std::fs::write(root.join("checkpoint"), old_checkpoint).unwrap();
        } else {
            std::fs::remove_file(root.join("checkpoint")).unwrap();
        }
        drop_last_units(root, "Ckpt", 0, 30, 10);
        mark_crashed(root);
        let store = MessageStore::open(config(root)).unwrap();
        let expect: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        assert_eq!(bodies(&store, "Ckpt", 0), expect, "stale checkpoint: {stale}");
        assert_eq!(put(&store, "Ckpt", 0, "c30").0, 30);
    }
}

/// The abort file present after a clean shutdown (say, a copied store): recovery takes the
/// slow path and still keeps everything; absent after a crash is covered above.
#[test]
fn abort_file_after_clean_shutdown_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    {
        let store = MessageStore::open(config(root)).unwrap();
        for i in 0..20 {
            put(&store, "Abort", i % 2, &format!("a{i}"));
        }
        store.shutdown();
    }
    mark_crashed(root);
    let store = MessageStore::open(config(root)).unwrap();
    assert_eq!(bodies(&store, "Abort", 0).len(), 10);
    assert_eq!(bodies(&store, "Abort", 1).len(), 10);
    assert_eq!(put(&store, "Abort", 1, "a20").0, 10);
}

/// Two records claiming one queue offset are never silently merged: the ConsumeQueue
/// refuses the second and says which records collide.
#[test]
fn consume_queue_refuses_a_second_record_for_a_taken_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let cq = ConsumeQueue::new(tmp.path(), "Slot", 0, 100 * CQ_STORE_UNIT_SIZE);
    let unit = |off| CqUnit {
        commit_log_offset: off,
        size: 100,
        tags_code: 0,
    };
    cq.put(unit(0), 0).unwrap();
    cq.put(unit(100), 1).unwrap();
    // The same record again (a re-dispatch) is fine.
    cq.put(unit(100), 1).unwrap();
    // Another record for slot 1 is not.
    let err = cq.put(unit(200), 1).unwrap_err();
    assert!(
        err.to_string()
            .contains("already holds the record at CommitLog offset 100"),
        "{err}"
    );
    assert_eq!(cq.max_offset_in_queue(), 2);
    assert_eq!(cq.unit(1).unwrap().commit_log_offset, 100);
    // An old record whose slot holds something else is refused too.
    let err = cq.put(unit(50), 0).unwrap_err();
    assert!(err.to_string().contains("already holds"), "{err}");
    cq.put(unit(200), 2).unwrap();
}

/// One queue's ConsumeQueue directory deleted while others are intact, after a clean
/// shutdown: the normal (fast) recovery notices the missing units and rebuilds them.
#[test]
fn one_deleted_consume_queue_is_rebuilt_after_a_clean_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    {
        let store = MessageStore::open(config(root)).unwrap();
        for i in 0..6 {
            put(&store, "Lost", 0, &format!("l{i}"));
            put(&store, "Kept", 0, &format!("k{i}"));
        }
        store.shutdown();
    }
    std::fs::remove_dir_all(root.join("consumequeue").join("Lost")).unwrap();
    let store = MessageStore::open(config(root)).unwrap();
    assert_eq!(bodies(&store, "Lost", 0), ["l0", "l1", "l2", "l3", "l4", "l5"]);
    assert_eq!(put(&store, "Lost", 0, "l6").0, 6);
    assert_eq!(put(&store, "Kept", 0, "k6").0, 6);
    assert_eq!(bodies(&store, "Kept", 0).len(), 7);
}

/// A topic deleted on purpose stays deleted across restarts, clean or not, and a topic
/// recreated under the same name starts again at offset 0 with only its new messages.
#[test]
fn deleted_topic_is_not_resurrected_by_recovery() {
    for crashed in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        {
            let store = MessageStore::open(config(root)).unwrap();
            for i in 0..5 {
                put(&store, "Doomed", 0, &format!("d{i}"));
            }
            put(&store, "Stays", 0, "s0");
            store.delete_topics(&["Doomed"]);
            assert_eq!(store.max_offset_in_queue("Doomed", 0), 0);
            assert_eq!(put(&store, "Doomed", 0, "new0").0, 0);
            store.shutdown();
        }
        if crashed {
            mark_crashed(root);
        }
        let store = MessageStore::open(config(root)).unwrap();
        assert_eq!(bodies(&store, "Doomed", 0), ["new0"], "crashed: {crashed}");
        assert_eq!(put(&store, "Doomed", 0, "new1").0, 1);
        assert_eq!(bodies(&store, "Stays", 0), ["s0"]);
    }
}

/// A CommitLog file actually cut shorter (its length, not zeroed bytes), as a copy or a
/// disk that lost its tail leaves it: in the middle of a record and exactly at a record's
/// start, after a crash and after a clean exit. The records wholly before the cut survive,
/// the log names the file and its length, new puts continue where the cut is, and all of
/// it survives another restart.
#[test]
fn commit_log_file_cut_short_keeps_the_records_before_the_cut() {
    for (mid_record, crashed) in [(true, true), (true, false), (false, true), (false, false)] {
        let case = format!("mid-record {mid_record}, crashed {crashed}");
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let puts: Vec<Put> = {
            let store = MessageStore::open(config(root)).unwrap();
            let p = (0..10).map(|i| put(&store, "Cut", 0, &format!("cut-{i}"))).collect();
            store.shutdown();
            p
        };
        let (_, at7, size7) = puts[7];
        let cut = if mid_record { at7 + size7 as i64 / 2 } else { at7 } as usize;
        let cl = root.join("commitlog").join(format!("{:020}", 0));
        let data = std::fs::read(&cl).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&cl)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        if crashed {
            mark_crashed(root);
        }
        let (store, log) = logged(|| MessageStore::open(config(root)).unwrap());
        let line = line_with(&log, &["shorter than configured"]);
        assert!(line.contains(" ERROR "), "{case}: {line}");
        for field in [
            format!("file={}", cl.display()),
            format!("length={cut}"),
            format!("configured={CL_FILE}"),
        ] {
            assert!(line.contains(&field), "{case}: {field:?} missing in: {line}");
        }
        if mid_record {
            // What is left of record 7 is reported as dropped, with why.
            assert_dropped_line(
                &log,
                &cl,
                at7,
                written_between(&data, at7 as usize, cut),
                "declared size",
            );
        } else {
            assert!(
                !log.contains("invalid record"),
                "{case}: nothing invalid is left: {log}"
            );
        }
        assert_eq!(
            std::fs::metadata(&cl).unwrap().len(),
            CL_FILE,
            "{case}: the file has its size again"
        );
        assert_eq!(store.max_commit_log_offset(), at7, "{case}");
        let expect: Vec<String> = (0..7).map(|i| format!("cut-{i}")).collect();
        assert_eq!(bodies(&store, "Cut", 0), expect, "{case}");
        let (q, wrote_at, _) = put(&store, "Cut", 0, "cut-7-again");
        assert_eq!((q, wrote_at), (7, at7), "{case}: the next put goes where the cut is");
        store.shutdown();
        drop(store);

        let store = MessageStore::open(config(root)).unwrap();
        assert_eq!(put(&store, "Cut", 0, "cut-8-again").0, 8, "{case}");
        let mut expect = expect;
        expect.extend(["cut-7-again".to_string(), "cut-8-again".to_string()]);
        assert_eq!(bodies(&store, "Cut", 0), expect, "{case}");
        let q = store.query_by_key("Cut", "cut-7-again", 32, 0, i64::MAX);
        assert_eq!(q.messages.len(), 1, "{case}: the index finds the new message");
        let q = store.query_by_key("Cut", "cut-8", 32, 0, i64::MAX);
        assert!(
            q.messages.is_empty(),
            "{case}: the index does not find a dropped message"
        );
    }
}
