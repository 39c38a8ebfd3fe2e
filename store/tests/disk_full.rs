//! A full disk: on a small tmpfs this test mounts, the store fills the disk. It must not
//! die (a write into a mapped page the disk cannot back is SIGBUS), puts must fail with a
//! clean status, everything acknowledged must stay readable, and puts must succeed again
//! once space is freed, also after a reopen.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use store::{codec, FlushDiskType, GetMessageStatus, MessageStore, MessageToStore, PutMessageStatus, StoreConfig};

/// A tmpfs of `mib` MiB mounted on a fresh directory; unmounted when dropped.
struct SmallDisk {
    _dir: tempfile::TempDir,
    mount: PathBuf,
}

impl SmallDisk {
    /// None when this process may not mount (not root); a root that cannot mount fails.
    fn mount(mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&mount)
            .status();
        let root = unsafe { libc::geteuid() } == 0;
        match status {
            Ok(s) if s.success() => Some(SmallDisk { _dir: dir, mount }),
            _ if !root => {
                eprintln!("SKIPPED: mounting a tmpfs needs root");
                None
            }
            other => panic!("running as root but cannot mount a tmpfs: {other:?}"),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 1024 * 1024;
    c.mapped_file_size_consume_queue = 1000 * 20;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    c.flush_disk_type = FlushDiskType::SyncFlush;
    c.clean_resource_interval = 100;
    // Nothing may be deleted to make room: this test checks what was acknowledged.
    c.disk_max_used_space_ratio = 100;
    c.clean_file_forcibly_enable = false;
    c
}

struct Ack {
    topic: String,
    qid: i32,
    queue_offset: i64,
    body: Vec<u8>,
}

fn put(store: &MessageStore, topic: &str, qid: i32, n: usize) -> Result<Ack, PutMessageStatus> {
    let body = format!("{topic}-{qid}-{n}-{}", "x".repeat(1500)).into_bytes();
    let r = store.put_message(&MessageToStore::new(
        topic,
        qid,
        body.clone(),
        vec![("KEYS".into(), format!("k{n}"))],
    ));
    match r.append {
        Some(a) if r.status == PutMessageStatus::PutOk => Ok(Ack {
            topic: topic.into(),
            qid,
            queue_offset: a.logics_offset,
            body,
        }),
        _ => Err(r.status),
    }
}

fn check_all(store: &MessageStore, acks: &[Ack]) {
    assert!(store.wait_for_dispatch(Duration::from_secs(10)), "dispatch caught up");
    for a in acks {
        let r = store.get_messages(&a.topic, a.qid, a.queue_offset, 1, 0, None);
        assert_eq!(
            r.status,
            GetMessageStatus::Found,
            "{}/{} at {}",
            a.topic,
            a.qid,
            a.queue_offset
        );
        let d = codec::decode_message(&r.messages[0].bytes).unwrap();
        assert_eq!(&d.body[..], &a.body[..]);
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

fn wait_until_writable(store: &MessageStore, topic: &str) -> Ack {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match put(store, topic, 0, 999_999) {
            Ok(a) => return a,
            Err(s) if Instant::now() < deadline => {
                assert!(matches!(
                    s,
                    PutMessageStatus::ServiceNotAvailable | PutMessageStatus::CreateMappedFileFailed
                ));
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(s) => panic!("still refused after space was freed: {s:?}"),
        }
    }
}

#[test]
fn full_disk_refuses_puts_cleanly_and_recovers() {
    let Some(disk) = SmallDisk::mount(24) else { return };
    let root = disk.mount.join("store");
    // Ballast the test frees later to give the store room again.
    let ballast = disk.mount.join("ballast");
    std::fs::write(&ballast, vec![1u8; 6 << 20]).unwrap();
    let store = MessageStore::open(config(&root)).unwrap();
    let mut acks = Vec::new();

    // Phase 1: the CommitLog runs out. Spread over queues so ConsumeQueue files roll too.
    let mut refused = None;
    'fill: for n in 0..100_000 {
        for (t, topic) in ["FullA", "FullB", "FullC"].iter().enumerate() {
            match put(&store, topic, (n % 4) as i32, n * 3 + t) {
                Ok(a) => acks.push(a),
                Err(s) => {
                    refused = Some(s);
                    break 'fill;
                }
            }
        }
    }
    let status = refused.expect("the disk filled up");
    assert!(
        matches!(
            status,
            PutMessageStatus::ServiceNotAvailable | PutMessageStatus::CreateMappedFileFailed
        ),
        "{status:?}"
    );
    assert!(
        acks.len() > 1000,
        "only {} acknowledged before the disk was full",
        acks.len()
    );
    // Further puts keep failing cleanly.
    for n in 0..20 {
        assert!(put(&store, "FullA", 0, 1_000_000 + n).is_err());
    }
    check_all(&store, &acks);

    // Phase 2: space comes back; puts succeed again, and everything survives a reopen.
    std::fs::remove_file(&ballast).unwrap();
    acks.push(wait_until_writable(&store, "FullA"));
    for n in 0..50 {
        acks.push(put(&store, "FullB", 1, 2_000_000 + n).unwrap());
    }
    check_all(&store, &acks);
    store.shutdown();
    drop(store);
    let store = MessageStore::open(config(&root)).unwrap();
    check_all(&store, &acks);
    drop(store);

    // Phase 3: a disk that fills while the CommitLog still has room in its current file:
    // a new queue then needs a ConsumeQueue file the disk cannot hold.
    let disk2 = SmallDisk::mount(24).unwrap();
    let root2 = disk2.mount.join("store");
    let store = MessageStore::open(config(&root2)).unwrap();
    let mut acks = vec![put(&store, "Early", 0, 0).unwrap()];
    let filler = fill(&disk2.mount, "filler");
    // The record fits in the CommitLog file; its ConsumeQueue file cannot be created.
    let stalled = put(&store, "Late", 1, 1);
    if let Ok(a) = stalled {
        // Acknowledged: it is in the CommitLog and must become readable later.
        acks.push(a);
    }
    // Now puts are refused until the queue can be written.
    let refused = put(&store, "Early", 0, 2);
    assert_eq!(refused.err(), Some(PutMessageStatus::ServiceNotAvailable));
    std::fs::remove_file(&filler).unwrap();
    acks.push(wait_until_writable(&store, "Early"));
    check_all(&store, &acks);
    store.shutdown();
    drop(store);
    let store = MessageStore::open(config(&root2)).unwrap();
    check_all(&store, &acks);
    assert_eq!(put(&store, "Late", 1, 3).unwrap().queue_offset, 1);
}
