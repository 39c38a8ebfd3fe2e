//! A full disk under a running `broker` process, over TCP: its store on a small tmpfs this
//! test mounts (root only; elsewhere it prints SKIPPED, as store/tests/disk_full.rs does).
//! Sends that cannot be stored get Java's SERVICE_NOT_AVAILABLE (14) with Java's remark,
//! every acknowledged message can be pulled back, the broker stays up and answering, and
//! once space is freed sends succeed again. Two ways to fill it: the CommitLog running out,
//! and an IndexFile that cannot be created while the CommitLog still has room.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use compat_tests::broker_ops::{create_topic, max_offset, pull_all, query_by_key, queue_offset, send};
use compat_tests::process::{connect, BrokerProcess};
use remoting::code::response;
use remoting::{Connection, RemotingCommand};

/// A tmpfs of `mib` MiB mounted on a fresh directory; unmounted when dropped.
struct SmallDisk {
    _dir: tempfile::TempDir,
    mount: PathBuf,
}

impl SmallDisk {
    /// None (after printing SKIPPED) when this process may not mount a tmpfs.
    fn mount(mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&mount)
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(SmallDisk { _dir: dir, mount }),
            other => {
                eprintln!("SKIPPED: cannot mount a tmpfs here ({other:?}); this test needs root");
                None
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// Fills what is left of the disk with a file; returns it.
fn fill(disk: &Path, name: &str) -> PathBuf {
    let path = disk.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![1u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

const REMARK_HEAD: &str =
    "service not available now. It may be caused by one of the following reasons: the broker's disk is full [CL: ";
const REMARK_TAIL: &str = "], messages are put to the slave, message store has been shut down, etc.";

/// A refused send: code 14 and Java's remark, with the disk use of the CommitLog,
/// ConsumeQueue and index paths (`SendMessageProcessor.diskUtil`). Returns the CL ratio.
fn assert_service_not_available(answer: &RemotingCommand) -> f64 {
    assert_eq!(answer.code, response::SERVICE_NOT_AVAILABLE, "{:?}", answer.remark);
    let remark = answer.remark.as_deref().unwrap_or_default();
    assert!(
        remark.starts_with(REMARK_HEAD) && remark.ends_with(REMARK_TAIL),
        "{remark}"
    );
    // "CL:  0.91 CQ:  0.91 INDEX:  0.91"
    let util = &remark[REMARK_HEAD.len() - "CL: ".len()..remark.len() - REMARK_TAIL.len()];
    let parts: Vec<&str> = util.split_whitespace().collect();
    assert_eq!(parts.len(), 6, "{util}");
    assert_eq!((parts[0], parts[2], parts[4]), ("CL:", "CQ:", "INDEX:"), "{util}");
    for p in [parts[1], parts[3], parts[5]] {
        let v: f64 = p.parse().unwrap_or_else(|_| panic!("{util}"));
        assert!((0.0..=1.0).contains(&v), "{util}");
        assert_eq!(p.split('.').nth(1).map(str::len), Some(2), "two decimals: {util}");
    }
    parts[1].parse().unwrap()
}

/// An acknowledged message: where it went and what it said.
struct Ack {
    qid: i32,
    offset: i64,
    key: String,
    body: Vec<u8>,
}

fn body(n: usize, len: usize) -> Vec<u8> {
    let mut b = format!("m{n}-").into_bytes();
    b.resize(len, b'a' + (n % 26) as u8);
    b
}

/// Every acknowledged message is in its queue, at the offset its send was given.
async fn check_pullable(conn: &Connection, topic: &str, queues: i32, acks: &[Ack]) {
    for qid in 0..queues {
        let mine: Vec<&Ack> = acks.iter().filter(|a| a.qid == qid).collect();
        let until = mine.iter().map(|a| a.offset + 1).max().unwrap_or(0);
        let got = pull_all(conn, topic, qid, until).await;
        for a in mine {
            let (offset, b) = &got[a.offset as usize];
            assert_eq!(*offset, a.offset);
            assert!(b == &a.body, "{topic}/{qid} at {}: another body", a.offset);
        }
    }
}

/// The broker is alive and answering requests that do not write.
async fn answers(broker: &mut BrokerProcess, conn: &Connection, topic: &str) {
    assert!(broker.is_running(), "the broker died:\n{}", broker.log());
    max_offset(conn, topic, 0).await;
    let fresh = connect(&broker.addr).await;
    max_offset(&fresh, topic, 0).await;
    fresh.close();
}

/// Sends until one succeeds (the broker noticed the space), then `more` after it.
async fn sends_succeed_again(
    conn: &Connection,
    topic: &str,
    queues: i32,
    acks: &mut Vec<Ack>,
    mut n: usize,
    more: usize,
    len: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ok = 0;
    while ok <= more {
        let qid = (n % queues as usize) as i32;
        let key = format!("k{n}");
        let b = body(n, len);
        let answer = send(conn, topic, qid, b.clone(), &key).await;
        if answer.code == response::SUCCESS {
            acks.push(Ack {
                qid,
                offset: queue_offset(&answer),
                key,
                body: b,
            });
            ok += 1;
        } else {
            assert_eq!(ok, 0, "a send failed after sends succeeded again: {:?}", answer.remark);
            assert_service_not_available(&answer);
            assert!(Instant::now() < deadline, "sends still refused after space was freed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        n += 1;
    }
}

/// The CommitLog fills the disk: sends are refused with 14 and Java's remark (the one that
/// hits a CommitLog file that cannot be created may get Java's SYSTEM_ERROR "create mapped
/// file failed" instead), everything acknowledged is pulled back, the broker answers, and
/// once the ballast file is deleted sends succeed again.
#[tokio::test]
async fn full_disk_refuses_sends_with_service_not_available_and_recovers() {
    let Some(disk) = SmallDisk::mount(24) else { return };
    // Ballast the test deletes later to give the broker room again.
    let ballast = disk.mount.join("ballast");
    std::fs::write(&ballast, vec![1u8; 6 << 20]).unwrap();
    let mut broker = BrokerProcess::start_in(
        &disk.mount.join("store"),
        &[
            ("mappedFileSizeCommitLog", "1048576"),
            ("mappedFileSizeConsumeQueue", "20000"),
            ("maxHashSlotNum", "1000"),
            ("maxIndexNum", "4000"),
            // Disk use is checked every 100 ms (Java: cleanResourceInterval), and nothing
            // may be deleted to make room: every acknowledged message is checked.
            ("cleanResourceInterval", "100"),
            ("cleanFileForciblyEnable", "false"),
            ("diskMaxUsedSpaceRatio", "95"),
            ("serverChannelMaxIdleTimeSeconds", "0"),
        ],
        "info",
    )
    .await;
    let conn = connect(&broker.addr).await;
    const TOPIC: &str = "DiskFullTopic";
    const QUEUES: i32 = 4;
    const LEN: usize = 8 * 1024;
    create_topic(&conn, TOPIC, QUEUES).await;

    let mut acks = Vec::new();
    let mut refused = None;
    let started = Instant::now();
    for n in 0..20_000 {
        let qid = n as i32 % QUEUES;
        let key = format!("k{n}");
        let b = body(n, LEN);
        let answer = send(&conn, TOPIC, qid, b.clone(), &key).await;
        if answer.code == response::SUCCESS {
            acks.push(Ack {
                qid,
                offset: queue_offset(&answer),
                key,
                body: b,
            });
        } else {
            refused = Some((n, answer));
            break;
        }
    }
    let (n, first) = refused.expect("the disk filled up");
    eprintln!(
        "{} sends acknowledged in {:.1} s before the first refusal: {} {:?}",
        acks.len(),
        started.elapsed().as_secs_f64(),
        first.code,
        first.remark
    );
    assert!(acks.len() > 1000, "only {} acknowledged", acks.len());
    if first.code == response::SYSTEM_ERROR {
        assert_eq!(
            first.remark.as_deref(),
            Some("create mapped file failed, server is busy or broken.")
        );
    } else {
        assert_service_not_available(&first);
    }
    // Every later send is refused the same way, and the CommitLog's disk is nearly full.
    for i in 1..=20 {
        let answer = send(&conn, TOPIC, 0, body(n + i, LEN), "refused").await;
        let cl = assert_service_not_available(&answer);
        assert!(cl >= 0.9, "CL disk use {cl}");
    }
    answers(&mut broker, &conn, TOPIC).await;
    check_pullable(&conn, TOPIC, QUEUES, &acks).await;

    // Space comes back: sends succeed again, and everything is still there.
    std::fs::remove_file(&ballast).unwrap();
    sends_succeed_again(&conn, TOPIC, QUEUES, &mut acks, n + 100, 50, LEN).await;
    check_pullable(&conn, TOPIC, QUEUES, &acks).await;
    answers(&mut broker, &conn, TOPIC).await;
    for a in acks.iter().rev().take(5) {
        assert_eq!(query_by_key(&conn, TOPIC, &a.key).await, vec![a.body.clone()]);
    }
}

/// The disk fills while the CommitLog file still has room, and the IndexFile in use fills
/// up: the next one cannot be created. The send whose keys could not be indexed was stored
/// (acknowledged, pullable at once); later sends are refused with 14 and Java's remark
/// until the index can be written; the broker stays up; once the filler is deleted the
/// index catches up by itself, sends succeed again, and every key is found.
#[tokio::test]
async fn index_file_that_cannot_be_created_refuses_sends_until_space_returns() {
    let Some(disk) = SmallDisk::mount(16) else { return };
    let mut broker = BrokerProcess::start_in(
        &disk.mount.join("store"),
        &[
            ("mappedFileSizeCommitLog", "4194304"),
            // Room for the whole test in the queue's first ConsumeQueue file.
            ("mappedFileSizeConsumeQueue", "40000"),
            // An index file holds 100 keys (2.4 KB).
            ("maxHashSlotNum", "100"),
            ("maxIndexNum", "100"),
            // No disk-use check during the test (it would refuse sends past 90% before the
            // index fills): the index file that cannot be created is what refuses them.
            ("cleanResourceInterval", "3600000"),
            ("serverChannelMaxIdleTimeSeconds", "0"),
        ],
        "info",
    )
    .await;
    let conn = connect(&broker.addr).await;
    const TOPIC: &str = "IndexFullTopic";
    const LEN: usize = 100;
    create_topic(&conn, TOPIC, 1).await;
    let mut acks = Vec::new();
    // The first message creates the CommitLog, ConsumeQueue and index files.
    let answer = send(&conn, TOPIC, 0, body(0, LEN), "k0").await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    acks.push(Ack {
        qid: 0,
        offset: queue_offset(&answer),
        key: "k0".into(),
        body: body(0, LEN),
    });
    let filler = fill(&disk.mount, "filler");

    let mut refused = None;
    for n in 1..300 {
        let key = format!("k{n}");
        let answer = send(&conn, TOPIC, 0, body(n, LEN), &key).await;
        if answer.code == response::SUCCESS {
            acks.push(Ack {
                qid: 0,
                offset: queue_offset(&answer),
                key,
                body: body(n, LEN),
            });
        } else {
            refused = Some((n, answer));
            break;
        }
    }
    let (n, first) = refused.expect("sends are refused once the index cannot grow");
    eprintln!("{} sends acknowledged before the first refusal", acks.len());
    // Each message has one key; the index file took 100 (its first slot unused, as Java's).
    assert!((99..=101).contains(&acks.len()), "{} acknowledged", acks.len());
    assert_service_not_available(&first);
    for i in 1..=10 {
        assert_service_not_available(&send(&conn, TOPIC, 0, body(n + i, LEN), "refused").await);
    }
    let line = broker
        .wait_for_log_line(&["cannot write ConsumeQueue or index"], Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("the index failure is not logged:\n{}", broker.log()));
    assert!(line.contains("ERROR"), "{line}");
    answers(&mut broker, &conn, TOPIC).await;
    // Every acknowledged message is pullable now, the last one included.
    check_pullable(&conn, TOPIC, 1, &acks).await;
    assert_eq!(max_offset(&conn, TOPIC, 0).await, acks.len() as i64);

    std::fs::remove_file(&filler).unwrap();
    sends_succeed_again(&conn, TOPIC, 1, &mut acks, n + 100, 150, LEN).await;
    answers(&mut broker, &conn, TOPIC).await;
    check_pullable(&conn, TOPIC, 1, &acks).await;
    assert!(broker
        .wait_for_log_line(&["ConsumeQueue and index writes work again"], Duration::from_secs(5))
        .await
        .is_some());
    // Every key is found, those indexed only after the space came back included.
    for a in &acks {
        assert_eq!(
            query_by_key(&conn, TOPIC, &a.key).await,
            vec![a.body.clone()],
            "key {}",
            a.key
        );
    }
}
