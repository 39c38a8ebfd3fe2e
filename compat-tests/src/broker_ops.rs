//! Plain broker requests over our own connection (create a topic, send, pull, query by
//! key), and raw-socket helpers, for the tests that push a broker process to its limits.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use remoting::code::{request, response};
use remoting::header::broker::{
    CreateTopicRequestHeader, PullMessageRequestHeader, QueryMessageRequestHeader, SendMessageRequestHeader,
};
use remoting::{frame, Connection, RemotingCommand};

/// A SEND_MESSAGE request for `topic`/`queue_id` with `body` and the key `key`.
pub fn send_request(topic: &str, queue_id: i32, body: impl Into<bytes::Bytes>, key: &str) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "hostile_pg".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 0,
        flag: 0,
        properties: Some(format!("TAGS\u{1}T\u{2}KEYS\u{1}{key}\u{2}")),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
    };
    RemotingCommand::request_with_header(request::SEND_MESSAGE, &header).with_body(body)
}

pub async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(15))
        .await
        .expect("the broker answers")
}

/// Sends one message; the response (its `queueOffset` when it succeeded).
pub async fn send(conn: &Connection, topic: &str, queue_id: i32, body: Vec<u8>, key: &str) -> RemotingCommand {
    ask(conn, send_request(topic, queue_id, body, key)).await
}

/// The queue offset a successful send was given.
pub fn queue_offset(answer: &RemotingCommand) -> i64 {
    answer
        .ext()
        .get("queueOffset")
        .and_then(|v| v.parse().ok())
        .expect("queueOffset in a send response")
}

pub async fn create_topic(conn: &Connection, topic: &str, queues: i32) {
    let header = CreateTopicRequestHeader::read_write(topic, queues);
    let answer = ask(
        conn,
        RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
}

pub fn pull_request(topic: &str, queue_id: i32, offset: i64, max: i32) -> RemotingCommand {
    RemotingCommand::request_with_header(request::PULL_MESSAGE, &pull_header(topic, queue_id, offset, max))
}

/// A plain pull's header: every tag (subscription carried in the request), no commit, no
/// suspension. Tests change single fields with `..pull_header(..)`.
pub fn pull_header(topic: &str, queue_id: i32, offset: i64, max: i32) -> PullMessageRequestHeader {
    PullMessageRequestHeader::tags("hostile_cg", topic, queue_id, offset, max, "*")
}

/// The queue's max offset (GET_MAX_OFFSET).
pub async fn max_offset(conn: &Connection, topic: &str, queue_id: i32) -> i64 {
    let mut q = RemotingCommand::request(request::GET_MAX_OFFSET);
    q.ext_mut().insert("topic", topic);
    q.ext_mut().insert("queueId", queue_id.to_string());
    let answer = ask(conn, q).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    answer.ext().get("offset").and_then(|v| v.parse().ok()).unwrap()
}

/// Every message of a queue from offset 0 to `until` (waiting up to 10 s for the
/// ConsumeQueue to reach it), as (queue offset, body).
pub async fn pull_all(conn: &Connection, topic: &str, queue_id: i32, until: i64) -> Vec<(i64, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < until {
        let answer = ask(conn, pull_request(topic, queue_id, offset, 32)).await;
        if answer.code != response::SUCCESS {
            assert!(
                Instant::now() < deadline,
                "{topic}/{queue_id} at {offset}: {} {:?}",
                answer.code,
                answer.remark
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        for m in store::decode_messages(&answer.body) {
            assert_eq!(m.queue_offset, offset, "{topic}/{queue_id}: queue offsets are dense");
            out.push((m.queue_offset, m.body.to_vec()));
            offset += 1;
        }
    }
    out
}

/// The bodies of the messages QUERY_MESSAGE finds under `key`.
pub async fn query_by_key(conn: &Connection, topic: &str, key: &str) -> Vec<Vec<u8>> {
    let header = QueryMessageRequestHeader {
        topic: topic.into(),
        key: key.into(),
        max_num: 32,
        begin_timestamp: 0,
        end_timestamp: i64::MAX,
    };
    let answer = ask(
        conn,
        RemotingCommand::request_with_header(request::QUERY_MESSAGE, &header),
    )
    .await;
    if answer.code != response::SUCCESS {
        return Vec::new();
    }
    store::decode_messages(&answer.body)
        .into_iter()
        .map(|m| m.body.to_vec())
        .collect()
}

/// A command as it goes on the wire.
pub fn encoded(cmd: &RemotingCommand) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    frame::encode(cmd, &mut buf);
    buf.to_vec()
}

/// Resident and virtual size of a process, in KiB.
pub fn memory_kib(pid: u32) -> (u64, u64) {
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

/// Whether the server closed `s` (EOF or reset) within `within`; reads and discards
/// whatever the server sent before.
pub fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
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

/// Reads one whole response frame from a raw socket (None on EOF, error or timeout).
pub fn read_frame(s: &mut TcpStream, within: Duration) -> Option<RemotingCommand> {
    s.set_read_timeout(Some(within)).ok()?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let n = i32::from_be_bytes(len);
    if n < 4 {
        return None;
    }
    let mut buf = bytes::BytesMut::from(&len[..]);
    buf.resize(4 + n as usize, 0);
    s.read_exact(&mut buf[4..]).ok()?;
    let size = buf.len();
    frame::parse(&mut buf, size).ok()
}

/// Closes `s` with a reset (SO_LINGER 0) instead of an orderly FIN.
pub fn reset(s: TcpStream) {
    use std::os::unix::io::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on an open socket with a valid, correctly sized option value.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setting SO_LINGER");
    drop(s);
}
