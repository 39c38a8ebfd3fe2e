//! Hostile and careless connections against a running `broker` process (the name server's
//! side is in hostile_connections.rs): oversized frames, a configured `frameMaxLength` at
//! its boundary, the connection cap and its log line, a client that never reads, and which
//! ends of a connection are worth a WARN. Each test checks that an ordinary producer keeps
//! being served. The broker's stderr is captured (BrokerProcess), so log lines are checked
//! as an operator would see them.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use compat_tests::broker_ops::{
    closed_by_server, create_topic, encoded, max_offset, memory_kib, pull_all, pull_request, read_frame, reset, send,
    send_request,
};
use compat_tests::process::{connect, BrokerProcess};
use remoting::code::{request, response};
use remoting::RemotingCommand;

/// A producer on its own connection sends to `topic` until told to stop; every send must
/// succeed. Returns the counter of acknowledged sends and the task.
fn producer(
    addr: &str,
    topic: &'static str,
    stop: Arc<AtomicBool>,
) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<usize>) {
    let acked = Arc::new(AtomicUsize::new(0));
    let counter = acked.clone();
    let addr = addr.to_string();
    let task = tokio::spawn(async move {
        let conn = connect(&addr).await;
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let answer = send(
                &conn,
                topic,
                (n % 4) as i32,
                format!("p{n}").into_bytes(),
                &format!("p{n}"),
            )
            .await;
            assert_eq!(answer.code, response::SUCCESS, "send {n}: {:?}", answer.remark);
            n += 1;
            counter.store(n, Ordering::Relaxed);
        }
        n
    });
    (acked, task)
}

/// Waits until `counter` has grown by `by` (the producer is still being served).
async fn grows(counter: &AtomicUsize, by: usize, within: Duration) {
    let start = counter.load(Ordering::Relaxed);
    let deadline = Instant::now() + within;
    while counter.load(Ordering::Relaxed) < start + by {
        assert!(
            Instant::now() < deadline,
            "the producer stalled at {} sends",
            counter.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sum of the max offsets of a topic's 4 queues.
async fn stored(addr: &str, topic: &str) -> i64 {
    let conn = connect(addr).await;
    let mut total = 0;
    for q in 0..4 {
        total += max_offset(&conn, topic, q).await;
    }
    total
}

/// A send on a fresh connection succeeds.
async fn still_serves(addr: &str) {
    let conn = connect(addr).await;
    let answer = send(&conn, "HostileProbe", 0, b"probe".to_vec(), "probe").await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    conn.close();
}

/// Frames announcing more than the 16 MiB limit (one byte more, and far more) close their
/// connection at once, while a producer on another connection keeps sending.
#[tokio::test]
async fn oversized_frames_are_closed_while_a_producer_keeps_sending() {
    let broker = BrokerProcess::start(&[("serverChannelMaxIdleTimeSeconds", "0")]).await;
    let setup = connect(&broker.addr).await;
    create_topic(&setup, "HostileProduce", 4).await;
    create_topic(&setup, "HostileProbe", 1).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, task) = producer(&broker.addr, "HostileProduce", stop.clone());
    grows(&acked, 20, Duration::from_secs(20)).await;

    // The limit counts the whole frame, length field included (Netty's
    // LengthFieldBasedFrameDecoder as Java configures it): 16 MiB + 1 is one byte over.
    for announced in [16 * 1024 * 1024 - 3, 64 * 1024 * 1024, i32::MAX] {
        let mut s = TcpStream::connect(&broker.addr).unwrap();
        s.write_all(&announced.to_be_bytes()).unwrap();
        s.write_all(&[0, 0, 0, 10]).unwrap();
        assert!(
            closed_by_server(&mut s, Duration::from_secs(5)),
            "a frame of {announced} + 4 bytes closes its connection"
        );
        grows(&acked, 5, Duration::from_secs(10)).await;
    }
    still_serves(&broker.addr).await;
    stop.store(true, Ordering::Relaxed);
    let sent = task.await.unwrap();
    // Every acknowledged send is in its queue.
    assert_eq!(stored(&broker.addr, "HostileProduce").await, sent as i64);
    let (rss, _) = memory_kib(broker.pid());
    eprintln!("{sent} sends acknowledged; broker rss {rss} KiB");
}

/// `frameMaxLength` set smaller is enforced at its boundary: a send whose frame is one byte
/// under the limit and one exactly at it are stored; one byte over closes the connection
/// (nothing of it is stored), and the broker keeps serving.
#[tokio::test]
async fn configured_frame_max_length_is_enforced_at_its_boundary() {
    const LIMIT: usize = 64 * 1024;
    let limit = LIMIT.to_string();
    let broker = BrokerProcess::start(&[
        ("frameMaxLength", limit.as_str()),
        ("serverChannelMaxIdleTimeSeconds", "0"),
    ])
    .await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "HostileFrame", 1).await;
    create_topic(&conn, "HostileProbe", 1).await;

    // A send request whose whole frame (length field included) is `size` bytes.
    let sized = |size: usize, fill: u8| {
        let probe = send_request("HostileFrame", 0, Vec::new(), "edge");
        let body = size - encoded(&probe).len();
        let mut req = send_request("HostileFrame", 0, vec![fill; body], "edge");
        req.opaque = probe.opaque;
        assert_eq!(encoded(&req).len(), size);
        req
    };
    for (size, fill) in [(LIMIT - 1, b'u'), (LIMIT, b'a')] {
        let answer = conn.request(sized(size, fill), Duration::from_secs(15)).await.unwrap();
        assert_eq!(
            answer.code,
            response::SUCCESS,
            "a {size}-byte frame: {:?}",
            answer.remark
        );
    }

    let mut over = TcpStream::connect(&broker.addr).unwrap();
    // The server may close before it has read everything: a failed write is fine.
    let _ = over.write_all(&encoded(&sized(LIMIT + 1, b'o')));
    assert!(
        closed_by_server(&mut over, Duration::from_secs(5)),
        "a frame one byte over frameMaxLength closes its connection"
    );
    assert!(
        broker
            .wait_for_log_line(
                &[
                    "closing connection after an undecodable frame",
                    &format!("limit of {LIMIT} bytes")
                ],
                Duration::from_secs(5)
            )
            .await
            .is_some(),
        "the refusal is logged with the limit"
    );

    // Both frames within the limit are stored whole; the one over it is not.
    let stored = pull_all(&conn, "HostileFrame", 0, 2).await;
    assert_eq!(stored.len(), 2);
    assert!(stored[0].1.iter().all(|&b| b == b'u'));
    assert!(stored[1].1.iter().all(|&b| b == b'a'));
    assert_eq!(max_offset(&conn, "HostileFrame", 0).await, 2);
    still_serves(&broker.addr).await;
}

/// With `serverMaxConnections`, one connection too many is closed on accept with a clear
/// WARN line in the broker's log, the connections already open keep working, and once
/// connections close new clients are served again.
#[tokio::test]
async fn connection_cap_logs_its_line_and_clients_are_served_once_connections_close() {
    let broker = BrokerProcess::start(&[("serverMaxConnections", "8"), ("serverChannelMaxIdleTimeSeconds", "0")]).await;
    // An ordinary client, then 7 silent connections: 8 in all. The server accepts in
    // arrival order, so by the time it takes the 9th the 8 are counted.
    let client = connect(&broker.addr).await;
    create_topic(&client, "HostileProbe", 1).await;
    let mut held: Vec<TcpStream> = (0..7).map(|_| TcpStream::connect(&broker.addr).unwrap()).collect();

    let mut over = TcpStream::connect(&broker.addr).unwrap();
    assert!(
        closed_by_server(&mut over, Duration::from_secs(5)),
        "the 9th connection is closed"
    );
    let line = broker
        .wait_for_log_line(
            &[
                "connection limit (serverMaxConnections) reached; closing new connections",
                "limit=8",
            ],
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|| panic!("no connection-limit line in the log:\n{}", broker.log()));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("refused=1"), "{line}");
    // The connections already open stay open and keep working.
    for s in &held {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let e = s.peek(&mut b).expect_err("a held connection was closed");
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    }
    let answer = send(&client, "HostileProbe", 0, b"still".to_vec(), "still").await;
    assert_eq!(answer.code, response::SUCCESS);

    // Once the silent ones go away, new clients get in again: 7 of them at once.
    held.clear();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut fresh = Vec::new();
    while fresh.len() < 7 {
        let conn = connect(&broker.addr).await;
        match conn
            .request(
                send_request("HostileProbe", 0, &b"back"[..], "back"),
                Duration::from_secs(3),
            )
            .await
        {
            Ok(a) if a.code == response::SUCCESS => fresh.push(conn),
            other => {
                assert!(
                    Instant::now() < deadline,
                    "only {} new clients served after connections closed: {other:?}",
                    fresh.len()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(
        send(&client, "HostileProbe", 0, b"end".to_vec(), "end").await.code,
        response::SUCCESS
    );
}

/// A client that pipelines pulls (each answered with about 256 KiB of messages) and never
/// reads the answers: the broker stops reading from it once 8 MiB of answers wait, its
/// resident memory grows by less than 64 MiB although the requests ask for gigabytes,
/// other clients keep sending, and after `serverWriteStallTimeoutSeconds` without progress
/// the connection is closed.
#[tokio::test]
async fn a_client_that_never_reads_cannot_grow_the_broker() {
    let broker = BrokerProcess::start(&[
        ("serverWriteStallTimeoutSeconds", "3"),
        ("serverChannelMaxIdleTimeSeconds", "0"),
    ])
    .await;
    let pid = broker.pid();
    let setup = connect(&broker.addr).await;
    create_topic(&setup, "HostileBig", 1).await;
    create_topic(&setup, "HostileProbe", 1).await;
    for i in 0..32 {
        let answer = send(
            &setup,
            "HostileBig",
            0,
            vec![b'0' + (i % 10) as u8; 60 * 1024],
            &format!("b{i}"),
        )
        .await;
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    }
    // One pull as the hostile client will make, read: how big each answer is.
    let one = pull_all(&setup, "HostileBig", 0, 32).await;
    assert_eq!(one.len(), 32);
    let answer = setup
        .request(pull_request("HostileBig", 0, 0, 32), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(answer.code, response::SUCCESS);
    let answer_bytes = answer.body.len();
    assert!(answer_bytes >= 200 * 1024, "{answer_bytes}");
    still_serves(&broker.addr).await;
    let (rss0, _) = memory_kib(pid);

    let addr = broker.addr.clone();
    const REQUESTS: i32 = 100_000;
    let writer = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let started = Instant::now();
        let mut sent = 0;
        for i in 0..REQUESTS {
            let mut req = pull_request("HostileBig", 0, 0, 32);
            req.opaque = i;
            if s.write_all(&encoded(&req)).is_err() {
                break; // pushed back (write timeout) or closed
            }
            sent += 1;
            if started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        (s, sent)
    });
    let (mut s, sent) = tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();
    let (rss1, _) = memory_kib(pid);
    eprintln!(
        "never-reading client: {sent} pulls accepted ({} MiB of answers asked for), broker rss {rss0} -> {rss1} KiB",
        (sent as usize * answer_bytes) >> 20
    );
    assert!(sent < REQUESTS, "the broker pushed back");
    assert!(
        rss1.saturating_sub(rss0) < 64 * 1024,
        "resident grew {} KiB",
        rss1.saturating_sub(rss0)
    );
    still_serves(&broker.addr).await;
    // No progress for 3 s: the broker hangs up (reading now drains what it queued, then EOF).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        closed_by_server(&mut s, Duration::from_secs(30)),
        "the stalled connection is closed"
    );
    assert!(broker
        .wait_for_log_line(
            &["peer is not reading its responses; closing the connection"],
            Duration::from_secs(5)
        )
        .await
        .is_some());
    let (rss2, _) = memory_kib(pid);
    eprintln!("after the close: rss {rss2} KiB");
    still_serves(&broker.addr).await;
}

/// A raw connection the broker has accepted and answered: sends a request and reads its
/// answer, retrying while the broker (capped at one connection) still holds the previous
/// one. Once this returns, every earlier connection has ended on the broker's side.
fn accepted(addr: &str) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut s = TcpStream::connect(addr).unwrap();
        let req = RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO);
        if s.write_all(&encoded(&req)).is_ok() {
            if let Some(answer) = read_frame(&mut s, Duration::from_secs(3)) {
                assert_eq!(answer.code, response::SUCCESS);
                return s;
            }
        }
        assert!(Instant::now() < deadline, "the broker never accepted a new connection");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn port_of(s: &TcpStream) -> String {
    format!(":{}", s.local_addr().unwrap().port())
}

/// A client's ordinary ends (EOF after a whole request, EOF in the middle of a frame, a
/// reset, a reset in the middle of a frame) are not worth a WARN; a frame that cannot be
/// decoded is, naming its peer. The broker runs at the default log level, capped at one
/// connection so that each case has ended on its side before the next begins.
#[tokio::test]
async fn ordinary_ends_of_a_connection_are_not_warned_about_but_garbage_is() {
    let broker = BrokerProcess::start(&[("serverMaxConnections", "1"), ("serverChannelMaxIdleTimeSeconds", "0")]).await;
    let addr = broker.addr.clone();
    let half_frame = {
        let bytes = encoded(&RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO));
        bytes[..bytes.len() / 2].to_vec()
    };
    let garbage = tokio::task::spawn_blocking(move || {
        // EOF after a whole request and its answer.
        let s = accepted(&addr);
        s.shutdown(std::net::Shutdown::Both).unwrap();
        // EOF in the middle of a frame.
        let mut s = accepted(&addr);
        s.write_all(&half_frame).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(closed_by_server(&mut s, Duration::from_secs(5)));
        // A reset.
        reset(accepted(&addr));
        // A reset in the middle of a frame.
        let mut s = accepted(&addr);
        s.write_all(&half_frame).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        reset(s);
        // Garbage: a frame with serialize type 0x7F. Accepting this connection proves the
        // previous one has ended on the broker's side.
        let mut s = accepted(&addr);
        let garbage = port_of(&s);
        s.write_all(&[0, 0, 0, 8, 0x7F, 0, 0, 0, 1, 2, 3, 4]).unwrap();
        assert!(
            closed_by_server(&mut s, Duration::from_secs(5)),
            "garbage closes the connection"
        );
        garbage
    })
    .await
    .unwrap();

    let line = broker
        .wait_for_log_line(
            &["closing connection after an undecodable frame"],
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|| panic!("no WARN for the garbage frame:\n{}", broker.log()));
    assert!(line.contains(" WARN "), "{line}");
    assert!(
        line.contains(&format!("peer=127.0.0.1{garbage}")),
        "the line names the peer: {line}"
    );
    assert!(line.contains("unknown serialize type 127"), "{line}");
    // Nothing else is worth a WARN, except the cap turning away the retries of `accepted`
    // while a previous connection was still closing.
    let log = broker.log();
    for l in log.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")) {
        assert!(
            l == line || l.contains("connection limit (serverMaxConnections) reached"),
            "an ordinary end of a connection was logged as: {l}"
        );
    }
    still_serves_alone(&broker.addr).await;
}

/// `still_serves` for a broker capped at one connection: retries while the last one closes.
async fn still_serves_alone(addr: &str) {
    let addr = addr.to_string();
    tokio::task::spawn_blocking(move || drop(accepted(&addr)))
        .await
        .unwrap();
}
