//! Hostile and careless connections against a real server process (the name server: it
//! runs the same accept loop and connection code as the broker). Each test checks that
//! the server keeps serving an ordinary client and that its memory stays within a bound.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use compat_tests::process::{connect, register_broker, NamesrvProcess};
use remoting::code::{request, response};
use remoting::{frame, RemotingCommand};

/// Resident and virtual size of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmSize:"))
}

/// An ordinary client is still served.
async fn still_serves(addr: &str) {
    let conn = connect(addr).await;
    let answer = conn
        .request(
            RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO),
            Duration::from_secs(10),
        )
        .await
        .expect("an ordinary request is answered");
    assert_eq!(answer.code, response::SUCCESS);
}

fn encoded(cmd: &RemotingCommand) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    frame::encode(cmd, &mut buf);
    buf.to_vec()
}

/// Raises the test process's own open-file limit (the server raises its own).
fn raise_fd_limit() -> u64 {
    // SAFETY: plain getrlimit/setrlimit on an initialised struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        lim.rlim_cur
    }
}

/// Whether the server closed `s` (EOF or reset) within `within`.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

#[tokio::test]
async fn listen_backlog_is_javas_1024() {
    let ns = NamesrvProcess::start(&[]).await;
    let port = ns.addr.rsplit(':').next().unwrap().to_string();
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // For a listening socket, ss shows the backlog in the Send-Q column.
    let send_q: u32 = text.split_whitespace().nth(2).and_then(|v| v.parse().ok()).unwrap_or(0);
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4096);
    assert_eq!(send_q, 1024.min(somaxconn), "ss said: {text}");

    // And it is configurable under Java's key.
    let ns = NamesrvProcess::start(&[("serverSocketBacklog", "300")]).await;
    let port = ns.addr.rsplit(':').next().unwrap().to_string();
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.split_whitespace().nth(2), Some("300"), "ss said: {text}");
}

#[tokio::test]
async fn idle_connections_are_closed_after_server_channel_max_idle_time() {
    let ns = NamesrvProcess::start(&[("serverChannelMaxIdleTimeSeconds", "2")]).await;
    let mut idle = TcpStream::connect(&ns.addr).unwrap();
    // A connection that talks every 500 ms is not idle.
    let busy = connect(&ns.addr).await;
    let started = Instant::now();
    let mut idle_closed_after = None;
    while started.elapsed() < Duration::from_secs(6) {
        let answer = busy
            .request(
                RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO),
                Duration::from_secs(5),
            )
            .await
            .expect("the busy connection stays open");
        assert_eq!(answer.code, response::SUCCESS);
        if idle_closed_after.is_none() && closed_by_server(&mut idle, Duration::from_millis(300)) {
            idle_closed_after = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = idle_closed_after.expect("the idle connection was closed");
    assert!(after >= Duration::from_millis(1500), "closed too early: {after:?}");
    assert!(!busy.is_closed());
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_and_the_rest_keep_working() {
    let ns = NamesrvProcess::start(&[("serverMaxConnections", "20"), ("serverChannelMaxIdleTimeSeconds", "0")]).await;
    let mut held = Vec::new();
    for _ in 0..19 {
        held.push(TcpStream::connect(&ns.addr).unwrap());
    }
    // The 20th is ours, served normally.
    let conn = connect(&ns.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut over = TcpStream::connect(&ns.addr).unwrap();
    assert!(
        closed_by_server(&mut over, Duration::from_secs(3)),
        "connection 21 is closed"
    );
    let answer = conn
        .request(
            RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(answer.code, response::SUCCESS);
    // Once some go away, new connections are accepted again.
    held.truncate(5);
    tokio::time::sleep(Duration::from_millis(500)).await;
    still_serves(&ns.addr).await;
}

/// Oversized frames close the connection before anything is allocated for them, and
/// peers that announce a large frame and then trickle bytes (slowloris) cost the server
/// only what they actually sent.
#[tokio::test]
async fn announced_frames_cost_only_what_arrived() {
    let ns = NamesrvProcess::start(&[("serverChannelMaxIdleTimeSeconds", "0")]).await;
    let pid = ns.pid();
    still_serves(&ns.addr).await;

    // Over the 16 MiB limit: closed at once.
    let mut huge = TcpStream::connect(&ns.addr).unwrap();
    huge.write_all(&(64 * 1024 * 1024i32).to_be_bytes()).unwrap();
    huge.write_all(&[0, 0, 0, 10]).unwrap();
    assert!(
        closed_by_server(&mut huge, Duration::from_secs(3)),
        "oversized frame closes the connection"
    );

    let (rss0, vm0) = memory_kib(pid);
    // 300 peers each announce a 15 MiB frame and send 1 KiB of it.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(&ns.addr).unwrap();
        s.write_all(&(15 * 1024 * 1024i32).to_be_bytes()).unwrap();
        s.write_all(&[0, 0, 0, 10]).unwrap();
        s.write_all(&[b'{'; 1024]).unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    still_serves(&ns.addr).await;
    let (rss1, vm1) = memory_kib(pid);
    eprintln!("slow peers: rss {rss0} -> {rss1} KiB, virtual {vm0} -> {vm1} KiB");
    // Reserving the announced size would be 300 x 15 MiB = 4.4 GiB of address space.
    assert!(vm1.saturating_sub(vm0) < 512 * 1024, "virtual grew {} KiB", vm1 - vm0);
    assert!(
        rss1.saturating_sub(rss0) < 64 * 1024,
        "resident grew {} KiB",
        rss1 - rss0
    );
}

/// 10,000 idle connections cost a small, stated amount of memory (docs/robustness.md)
/// and do not get in the way of an ordinary client.
#[tokio::test]
async fn ten_thousand_idle_connections_stay_cheap() {
    let limit = raise_fd_limit();
    let n = 10_000usize.min(limit.saturating_sub(200) as usize);
    assert!(n >= 5_000, "need at least 5,000 descriptors, have {limit}");
    let ns = NamesrvProcess::start(&[("serverChannelMaxIdleTimeSeconds", "0")]).await;
    let pid = ns.pid();
    still_serves(&ns.addr).await;
    let (rss0, _) = memory_kib(pid);
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        match TcpStream::connect(&ns.addr) {
            Ok(s) => held.push(s),
            Err(e) => panic!("connect {i} failed: {e}"),
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    still_serves(&ns.addr).await;
    let (rss1, _) = memory_kib(pid);
    let per_conn = (rss1.saturating_sub(rss0) * 1024) / n as u64;
    eprintln!("{n} idle connections: rss {rss0} -> {rss1} KiB, {per_conn} bytes each");
    assert!(per_conn < 8 * 1024, "{per_conn} bytes per idle connection");
}

/// A client that sends requests but never reads the answers: the server stops reading
/// from it once 8 MiB of answers wait, keeps its memory bounded, and after
/// `serverWriteStallTimeoutSeconds` without progress closes the connection.
#[tokio::test]
async fn a_client_that_never_reads_cannot_grow_the_server() {
    let ns = NamesrvProcess::start(&[
        ("serverWriteStallTimeoutSeconds", "3"),
        ("serverChannelMaxIdleTimeSeconds", "0"),
    ])
    .await;
    let pid = ns.pid();
    // Make the answers big: a topic list of 3,000 names (~100 KiB a response).
    let setup = connect(&ns.addr).await;
    let names: Vec<String> = (0..3000)
        .map(|i| format!("HostileTopicWithALongishName_{i:05}"))
        .collect();
    let topics: Vec<(&str, i32, i32)> = names.iter().map(|n| (n.as_str(), 4, 6)).collect();
    assert_eq!(
        register_broker(&setup, "C", "b", "127.0.0.1:10911", &topics).await,
        response::SUCCESS
    );
    let (rss0, _) = memory_kib(pid);

    let addr = ns.addr.clone();
    let writer = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut sent = 0usize;
        let started = Instant::now();
        // 500,000 requests would be about 50 GB of answers; the server must push back.
        for i in 0..500_000 {
            let mut req = RemotingCommand::request(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER);
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
    eprintln!("never-reading client: {sent} requests accepted, rss {rss0} -> {rss1} KiB");
    assert!(sent < 500_000, "the server pushed back");
    assert!(
        rss1.saturating_sub(rss0) < 96 * 1024,
        "resident grew {} KiB",
        rss1 - rss0
    );
    still_serves(&ns.addr).await;
    // No progress for 3 s: the server hangs up (reading now drains what it sent, then EOF).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        closed_by_server(&mut s, Duration::from_secs(20)),
        "the stalled connection is closed"
    );
    still_serves(&ns.addr).await;
}
