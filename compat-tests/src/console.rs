//! Support for the web console tests: a known run of traffic (sends, pulls, commits and a
//! consumer heartbeat over our own remoting connection) and raw HTTP/1.1 exchanges.

use std::net::SocketAddr;
use std::time::Duration;

use remoting::code::{request, response};
use remoting::header::broker::{
    pull_sys_flag, CreateTopicRequestHeader, PullMessageRequestHeader, SendMessageRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use remoting::{Connection, RemotingCommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TOPIC: &str = "ConsoleTopic";
pub const GROUP: &str = "cg_console";
/// Messages sent: 30 over 4 queues (8, 8, 7, 7).
pub const SENT: i32 = 30;
/// Committed per queue: 5, so the lag is 3 + 3 + 2 + 2.
pub const LAG: i64 = 10;
/// The first message's body: markup that must come out escaped.
pub const HOSTILE_BODY: &str = r#"<script>alert("console")</script> & <b>bold</b>"#;

/// What the run left behind.
pub struct Traffic {
    /// Kept open: the consumer's heartbeat makes it an online client of the group.
    pub conn: Connection,
    /// offsetMsgIds of the sends, in order.
    pub offset_msg_ids: Vec<String>,
    /// The unique keys (client msgIds) the sends carried.
    pub unique_keys: Vec<String>,
}

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(10)).await.unwrap()
}

pub fn unique_key(i: i32) -> String {
    format!("7F00000100002A9F0000{:012X}", 0xC0DE00 + i)
}

/// Creates `TOPIC` with 4 queues, sends `SENT` messages (keys `key-<i>`, tag TagA), heartbeats
/// a consumer of `GROUP` subscribed to it, pulls and commits 5 messages of each queue.
pub async fn run(broker_addr: &str) -> Traffic {
    let conn = crate::process::connect(broker_addr).await;
    let header = CreateTopicRequestHeader::read_write(TOPIC, 4);
    assert_eq!(
        ask(
            &conn,
            RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header)
        )
        .await
        .code,
        response::SUCCESS
    );
    let mut offset_msg_ids = Vec::new();
    let mut unique_keys = Vec::new();
    for i in 0..SENT {
        let uniq = unique_key(i);
        let send = SendMessageRequestHeader {
            producer_group: "pg_console".into(),
            topic: TOPIC.into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: i % 4,
            sys_flag: 0,
            born_timestamp: remoting::protocol::topic::now_millis(),
            flag: 0,
            properties: Some(format!(
                "KEYS\u{1}key-{i}\u{2}TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}{uniq}\u{2}"
            )),
            reconsume_times: None,
            unit_mode: None,
            batch: None,
            max_reconsume_times: None,
        };
        let body = if i == 0 {
            HOSTILE_BODY.to_string()
        } else {
            format!("console-body-{i}")
        };
        let res = ask(
            &conn,
            RemotingCommand::request_with_header(request::SEND_MESSAGE, &send).with_body(body.into_bytes()),
        )
        .await;
        assert_eq!(res.code, response::SUCCESS, "{:?}", res.remark);
        offset_msg_ids.push(res.ext().get("msgId").expect("msgId in the send answer").to_string());
        unique_keys.push(uniq);
    }
    heartbeat(&conn).await;
    for queue_id in 0..4 {
        let pull = PullMessageRequestHeader {
            consumer_group: GROUP.into(),
            topic: TOPIC.into(),
            queue_id,
            queue_offset: 0,
            max_msg_nums: 5,
            sys_flag: pull_sys_flag::SUBSCRIPTION,
            commit_offset: 0,
            suspend_timeout_millis: 0,
            subscription: Some("*".into()),
            sub_version: 0,
            expression_type: None,
            max_msg_bytes: None,
        };
        assert_eq!(
            ask(
                &conn,
                RemotingCommand::request_with_header(request::PULL_MESSAGE, &pull)
            )
            .await
            .code,
            response::SUCCESS
        );
        let commit = UpdateConsumerOffsetRequestHeader {
            consumer_group: GROUP.into(),
            topic: TOPIC.into(),
            queue_id,
            commit_offset: 5,
        };
        assert_eq!(
            ask(
                &conn,
                RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &commit)
            )
            .await
            .code,
            response::SUCCESS
        );
    }
    Traffic {
        conn,
        offset_msg_ids,
        unique_keys,
    }
}

/// One raw HTTP/1.1 exchange: the status code, the head and the body (0 and empty when
/// the server closed without an answer).
pub async fn http(addr: SocketAddr, raw_request: &[u8]) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(raw_request).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_string(), body.to_string())
}

/// `GET path`: status and body.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (status, _, body) = http(addr, req.as_bytes()).await;
    (status, body)
}

/// `POST path` with a form body and extra header lines: status, head and body.
pub async fn post(addr: SocketAddr, path: &str, form: &str, extra_headers: &str) -> (u16, String, String) {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n{form}",
        form.len()
    );
    http(addr, req.as_bytes()).await
}

/// The consumer heartbeat of `GROUP` (client `127.0.0.1@console#1`, subscribed to `TOPIC`);
/// the broker drops a client that goes quiet for `channelExpiredTimeout` (2 min).
pub async fn heartbeat(conn: &Connection) {
    let heartbeat = format!(
        r#"{{"clientID":"127.0.0.1@console#1","consumerDataSet":[{{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"{GROUP}","messageModel":"CLUSTERING","subscriptionDataSet":[{{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":7,"tagsSet":[],"topic":"{TOPIC}"}}],"unitMode":false}}],"producerDataSet":[{{"groupName":"pg_console"}}]}}"#
    );
    let mut hb = RemotingCommand::request(request::HEART_BEAT).with_body(heartbeat.into_bytes());
    hb.version = 409;
    assert_eq!(ask(conn, hb).await.code, response::SUCCESS);
}

/// Sends one message to `topic`'s queue `queue_id` (keys `key`); returns its offsetMsgId.
pub async fn send(conn: &Connection, topic: &str, queue_id: i32, key: &str, body: &str) -> String {
    let send = SendMessageRequestHeader {
        producer_group: "pg_console".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: remoting::protocol::topic::now_millis(),
        flag: 0,
        properties: Some(format!("KEYS\u{1}{key}\u{2}TAGS\u{1}TagA\u{2}")),
        reconsume_times: None,
        unit_mode: None,
        batch: None,
        max_reconsume_times: None,
    };
    let res = ask(
        conn,
        RemotingCommand::request_with_header(request::SEND_MESSAGE, &send).with_body(body.as_bytes().to_vec()),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS, "{:?}", res.remark);
    res.ext().get("msgId").unwrap_or_default().to_string()
}

/// Pulls up to `max` messages of a queue from `from` for `group` and commits `from + max`
/// capped at `end` (the queue's message count); returns the new committed offset.
pub async fn consume(conn: &Connection, group: &str, topic: &str, queue_id: i32, from: i64, max: i64, end: i64) -> i64 {
    let pull = PullMessageRequestHeader {
        consumer_group: group.into(),
        ..crate::broker_ops::pull_header(topic, queue_id, from, max.max(1) as i32)
    };
    ask(conn, RemotingCommand::request_with_header(request::PULL_MESSAGE, &pull)).await;
    let next = (from + max).min(end);
    let commit = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        commit_offset: next,
    };
    ask(
        conn,
        RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &commit),
    )
    .await;
    next
}

/// Creates `topic` with `queues` read/write queues.
pub async fn create_topic(conn: &Connection, topic: &str, queues: i32) {
    let header = CreateTopicRequestHeader::read_write(topic, queues);
    assert_eq!(
        ask(
            conn,
            RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header)
        )
        .await
        .code,
        response::SUCCESS
    );
}

/// Waits (at most 30 s) until the console at `web` has plot data for the run: at least two
/// put-rate points for `TOPIC` and a lag point for `GROUP`.
pub async fn wait_for_plot_data(web: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, json) = get(web, "/api/series").await;
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let points = |chart: &str, key: &str| {
            v["charts"][chart]["series"][key]
                .as_array()
                .map_or(0, |a| a.iter().filter(|x| x.is_number()).count())
        };
        if points("put", TOPIC) >= 2 && points("lag", GROUP) >= 2 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no plot data after 30 s: {json}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
