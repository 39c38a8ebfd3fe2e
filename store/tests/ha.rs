//! Master/slave replication on the HA port, byte for byte: our slave fed the stream a
//! Java 4.9.8 master sent (golden capture 15), and our master read by a raw slave that
//! speaks the same framing. Real sockets, real store files.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use store::ha::slave::MasterAddress;
use store::{BrokerRole, FlushDiskType, MessageStore, MessageToStore, PutMessageStatus, StoreConfig};

fn golden_stream_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/golden/frames/15-ha-replication-ha-stream.jsonl")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The recorded TCP segments in capture order: (master_to_slave, payload).
fn golden_segments() -> Vec<(bool, Vec<u8>)> {
    let text = std::fs::read_to_string(golden_stream_file()).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let dir = v["dir"].as_str().unwrap();
            (dir == "master->slave", unhex(v["hex"].as_str().unwrap()))
        })
        .collect()
}

/// Splits a master -> slave byte stream into (offset, data) transfers.
fn transfers(stream: &[u8]) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= stream.len() {
        let offset = i64::from_be_bytes(stream[at..at + 8].try_into().unwrap());
        let len = i32::from_be_bytes(stream[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((offset, stream[at + 12..at + 12 + len].to_vec()));
        at += 12 + len;
    }
    assert_eq!(at, stream.len(), "the stream ends with a whole transfer");
    out
}

fn config(root: &Path, role: BrokerRole) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 64 * 1024;
    c.mapped_file_size_consume_queue = 100 * 20;
    c.max_hash_slot_num = 100;
    c.max_index_num = 1000;
    c.flush_disk_type = FlushDiskType::AsyncFlush;
    c.broker_role = role;
    // Only the reports that follow data: no periodic ones during a test.
    c.ha_send_heartbeat_interval = 60_000;
    c.ha_housekeeping_interval = 60_000;
    c.sync_flush_timeout = 1000;
    c
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn read_report(conn: &mut TcpStream) -> i64 {
    let mut b = [0u8; 8];
    conn.read_exact(&mut b).unwrap();
    i64::from_be_bytes(b)
}

fn commit_log_bytes(store: &MessageStore, from: i64, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = from;
    while out.len() < len {
        let (bytes, _) = store.message_by_commitlog_offset(at).expect("a record at each offset");
        at += bytes.len() as i64;
        out.extend_from_slice(&bytes);
    }
    out
}

#[test]
fn our_slave_replays_the_java_masters_recorded_stream() {
    let segments = golden_segments();
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(MessageStore::open(config(tmp.path(), BrokerRole::Slave)).unwrap());
    let master = TcpListener::bind("127.0.0.1:0").unwrap();
    let rt = runtime();
    let address = Arc::new(MasterAddress::default());
    address.set(&master.local_addr().unwrap().to_string());
    let link = rt.spawn(store::ha::slave::run(store.replication(), address));

    let (mut conn, _) = master.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut sent = Vec::new();
    let mut last_report: Option<i64> = None;
    let mut reports_checked = 0;
    for (to_slave, payload) in &segments {
        if *to_slave {
            conn.write_all(payload).unwrap();
            sent.extend_from_slice(payload);
            continue;
        }
        for chunk in payload.chunks(8) {
            let expected = i64::from_be_bytes(chunk.try_into().unwrap());
            if Some(expected) == last_report {
                // The Java slave's periodic report: ours is not due in this test.
                continue;
            }
            let got = read_report(&mut conn);
            assert_eq!(got, expected, "report {reports_checked} of the slave");
            last_report = Some(got);
            reports_checked += 1;
        }
    }
    // 0 on connect, then one report per transfer the Java slave acknowledged.
    assert!(reports_checked >= 20, "checked {reports_checked} reports");

    let data: Vec<(i64, Vec<u8>)> = transfers(&sent).into_iter().filter(|(_, d)| !d.is_empty()).collect();
    let total: usize = data.iter().map(|(_, d)| d.len()).sum();
    assert_eq!(data[0].0, 0);
    assert!(store.wait_for_dispatch(Duration::from_secs(10)));
    assert_eq!(store.max_commit_log_offset(), total as i64);
    let expected: Vec<u8> = data.iter().flat_map(|(_, d)| d.iter().copied()).collect();
    assert_eq!(
        commit_log_bytes(&store, 0, total),
        expected,
        "same bytes at the same offsets"
    );

    // Dispatched as any append: the 25 messages of HaTopic are in its consume queues.
    let mut messages = 0;
    for q in store.queue_ids("HaTopic") {
        let got = store.get_messages("HaTopic", q, 0, 64, 1 << 20, None);
        messages += got.messages.len();
        assert_eq!(got.messages.len() as i64, store.max_offset_in_queue("HaTopic", q));
    }
    assert_eq!(messages, 25);
    // A slave refuses puts (Java: SERVICE_NOT_AVAILABLE).
    let refused = store.put_message(&MessageToStore::new("HaTopic", 0, b"x".to_vec(), vec![]));
    assert_eq!(refused.status, PutMessageStatus::ServiceNotAvailable);

    link.abort();
    drop(conn);
    store.shutdown();
    drop(store);

    // Reopened, the slave reports where it stopped and takes the rest from there.
    let store = Arc::new(MessageStore::open(config(tmp.path(), BrokerRole::Slave)).unwrap());
    assert_eq!(store.max_commit_log_offset(), total as i64);
    let address = Arc::new(MasterAddress::default());
    address.set(&master.local_addr().unwrap().to_string());
    let link = rt.spawn(store::ha::slave::run(store.replication(), address));
    let (mut conn, _) = master.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(read_report(&mut conn), total as i64);
    link.abort();
}

fn put(store: &MessageStore, i: usize) -> store::PutResult {
    let mut m = MessageToStore::new(
        "HaTopic",
        (i % 4) as i32,
        format!("ha-{i}-{}", "x".repeat(i % 300)).into_bytes(),
        vec![("KEYS".into(), format!("k{i}"))],
    );
    m.wait_store_msg_ok = true;
    store.put_message(&m)
}

/// Reads one transfer: (offset, data).
fn read_transfer(conn: &mut TcpStream) -> (i64, Vec<u8>) {
    let mut h = [0u8; 12];
    conn.read_exact(&mut h).unwrap();
    let offset = i64::from_be_bytes(h[..8].try_into().unwrap());
    let len = i32::from_be_bytes(h[8..].try_into().unwrap());
    assert!(len >= 0);
    let mut data = vec![0u8; len as usize];
    conn.read_exact(&mut data).unwrap();
    (offset, data)
}

#[test]
fn our_master_streams_javas_framing_and_sync_puts_wait_for_the_slave() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(MessageStore::open(config(tmp.path(), BrokerRole::SyncMaster)).unwrap());
    let rt = runtime();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let ha_addr = listener.local_addr().unwrap();
    rt.spawn(store::ha::master::serve(store.replication(), listener));

    // No slave: stored, but answered SLAVE_NOT_AVAILABLE (golden 15's first five sends).
    for i in 0..5 {
        let r = put(&store, i);
        assert_eq!(r.status, PutMessageStatus::SlaveNotAvailable);
        assert!(r.append.is_some(), "the message is stored all the same");
    }
    let stored = store.max_commit_log_offset();

    // A new slave reports 0 and gets the master's last file from its start.
    let mut slave = TcpStream::connect(ha_addr).unwrap();
    slave.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    slave.write_all(&0i64.to_be_bytes()).unwrap();
    let mut received = Vec::new();
    while (received.len() as i64) < stored {
        let (offset, data) = read_transfer(&mut slave);
        if data.is_empty() {
            continue; // heartbeat
        }
        assert_eq!(offset, received.len() as i64, "transfers follow each other");
        received.extend_from_slice(&data);
    }
    assert_eq!(received, commit_log_bytes(&store, 0, stored as usize));
    slave.write_all(&stored.to_be_bytes()).unwrap();

    // With the slave connected, a sync put is answered only after the slave has it.
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = store.clone();
    std::thread::spawn(move || tx.send(put(&s2, 5)).unwrap());
    let (offset, data) = loop {
        let (offset, data) = read_transfer(&mut slave);
        if !data.is_empty() {
            break (offset, data);
        }
    };
    assert_eq!(offset, stored);
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "answered before the slave acknowledged"
    );
    slave.write_all(&(offset + data.len() as i64).to_be_bytes()).unwrap();
    let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk);
    assert_eq!(data, commit_log_bytes(&store, offset, data.len()));

    // A slave that stops acknowledging: FLUSH_SLAVE_TIMEOUT after syncFlushTimeout.
    let begin = Instant::now();
    let r = put(&store, 6);
    assert_eq!(r.status, PutMessageStatus::FlushSlaveTimeout);
    assert!(begin.elapsed() >= Duration::from_millis(900));

    // Gone: back to SLAVE_NOT_AVAILABLE once the master noticed.
    drop(slave);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = put(&store, 7);
        if r.status == PutMessageStatus::SlaveNotAvailable {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still waiting for a closed slave: {:?}",
            r.status
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_slave_follows_a_master_across_files_reconnects_and_restarts() {
    let tmp_m = tempfile::tempdir().unwrap();
    let tmp_s = tempfile::tempdir().unwrap();
    let master = Arc::new(MessageStore::open(config(tmp_m.path(), BrokerRole::SyncMaster)).unwrap());
    let rt = runtime();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let ha_addr = listener.local_addr().unwrap().to_string();
    let serving = rt.spawn(store::ha::master::serve(master.replication(), listener));

    let open_slave = || {
        let s = Arc::new(MessageStore::open(config(tmp_s.path(), BrokerRole::Slave)).unwrap());
        let a = Arc::new(MasterAddress::default());
        a.set(&ha_addr);
        let link = rt.spawn(store::ha::slave::run(s.replication(), a));
        (s, link)
    };
    let wait_caught_up = |slave: &MessageStore| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while slave.max_commit_log_offset() != master.max_commit_log_offset() {
            assert!(Instant::now() < deadline, "slave did not catch up");
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    let (slave, link) = open_slave();
    let deadline = Instant::now() + Duration::from_secs(10);
    while master.replication().slave_connections() == 0 {
        assert!(Instant::now() < deadline, "the slave did not connect");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Every sync put is acknowledged only once the slave has it: 64 KiB files roll many times.
    let mut n = 0;
    for _ in 0..600 {
        assert_eq!(put(&master, n).status, PutMessageStatus::PutOk, "put {n}");
        n += 1;
    }
    wait_caught_up(&slave);
    // The slave goes away; the master goes on alone (SLAVE_NOT_AVAILABLE, still stored).
    link.abort();
    slave.shutdown();
    drop(slave);
    let deadline = Instant::now() + Duration::from_secs(10);
    while put(&master, n).status != PutMessageStatus::SlaveNotAvailable {
        n += 1;
        assert!(Instant::now() < deadline);
    }
    n += 1;
    for _ in 0..400 {
        put(&master, n);
        n += 1;
    }
    // Restarted, it resumes from its own end, across the files it missed.
    let (slave, _link) = open_slave();
    wait_caught_up(&slave);
    assert!(master.max_commit_log_offset() > 3 * 64 * 1024);
    assert!(slave.wait_for_dispatch(Duration::from_secs(10)));
    assert!(master.wait_for_dispatch(Duration::from_secs(10)));
    let end = master.max_commit_log_offset();
    let mut at = 0;
    while at < end {
        let (m, _) = master.message_by_commitlog_offset(at).unwrap();
        let (s, _) = slave.message_by_commitlog_offset(at).unwrap();
        assert_eq!(m, s, "record at {at}");
        at += m.len() as i64;
        // Skip the blank filler at a file's end, as readers do.
        if at % (64 * 1024) != 0 && master.message_by_commitlog_offset(at).is_none() && at < end {
            at = (at / (64 * 1024) + 1) * (64 * 1024);
        }
    }
    for q in 0..4 {
        assert_eq!(
            master.max_offset_in_queue("HaTopic", q),
            slave.max_offset_in_queue("HaTopic", q)
        );
        let mut off = 0;
        while off < master.max_offset_in_queue("HaTopic", q) {
            assert_eq!(
                master.commit_log_offset_in_queue("HaTopic", q, off),
                slave.commit_log_offset_in_queue("HaTopic", q, off)
            );
            off += 1;
        }
    }
    assert_eq!(
        n as i64,
        (0..4).map(|q| slave.max_offset_in_queue("HaTopic", q)).sum::<i64>()
    );
    serving.abort();
}

#[test]
fn a_new_slave_starts_at_the_masters_last_file_and_serves_from_there() {
    let tmp_m = tempfile::tempdir().unwrap();
    let tmp_s = tempfile::tempdir().unwrap();
    let mut mc = config(tmp_m.path(), BrokerRole::AsyncMaster);
    mc.flush_disk_type = FlushDiskType::AsyncFlush;
    let master = Arc::new(MessageStore::open(mc).unwrap());
    // History over several 64 KiB files before any slave exists.
    let mut n = 0;
    while master.max_commit_log_offset() < 3 * 64 * 1024 + 1000 {
        assert!(put(&master, n).is_ok());
        n += 1;
    }
    let rt = runtime();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let ha_addr = listener.local_addr().unwrap().to_string();
    rt.spawn(store::ha::master::serve(master.replication(), listener));
    let slave = Arc::new(MessageStore::open(config(tmp_s.path(), BrokerRole::Slave)).unwrap());
    let a = Arc::new(MasterAddress::default());
    a.set(&ha_addr);
    rt.spawn(store::ha::slave::run(slave.replication(), a));
    // More while it catches up.
    for _ in 0..50 {
        assert!(put(&master, n).is_ok());
        n += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while slave.max_commit_log_offset() != master.max_commit_log_offset() {
        assert!(Instant::now() < deadline, "slave did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(slave.wait_for_dispatch(Duration::from_secs(10)));
    let last_file_start = 3 * 64 * 1024;
    assert_eq!(slave.min_commit_log_offset(), last_file_start);
    // Every message of the last file is readable from the slave by queue offset, at the
    // same queue offsets as on the master.
    for q in 0..4 {
        let max = master.max_offset_in_queue("HaTopic", q);
        assert_eq!(slave.max_offset_in_queue("HaTopic", q), max, "queue {q}");
        let mut off = max - 1;
        while off >= 0 {
            let Some(at) = master.commit_log_offset_in_queue("HaTopic", q, off) else {
                break;
            };
            if at < last_file_start {
                break;
            }
            assert_eq!(
                slave.commit_log_offset_in_queue("HaTopic", q, off),
                Some(at),
                "queue {q} offset {off}"
            );
            off -= 1;
        }
        assert!(off < max - 1, "queue {q} has messages in the last file");
    }
}
