//! POP consumption over TCP against a broker process (RocketMQ 5.3.3's PopMessageProcessor,
//! AckMessageProcessor, ChangeInvisibleTimeProcessor, NotificationProcessor,
//! PeekMessageProcessor and QueryAssignmentProcessor): pop and ack, redelivery of what is
//! not acked after its invisible time, changed invisible times, batch acks, peeks,
//! notifications, ordered pops that hold their queue, un-acked messages coming back after a
//! kill -9 of the broker, and request modes surviving a restart.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use compat_tests::broker_ops::{ask, create_topic, send};
use compat_tests::process::{connect, BrokerProcess};
use remoting::code::{request, response};
use remoting::header::pop::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, NotificationRequestHeader, PeekMessageRequestHeader,
    PopMessageRequestHeader,
};
use remoting::{Connection, RemotingCommand};

const BROKER: &str = "broker-hostile";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Fast revive rounds so redelivery shows within seconds.
async fn start_broker(store: Option<&std::path::Path>) -> BrokerProcess {
    let settings = [("reviveInterval", "200"), ("flushConsumerOffsetInterval", "500")];
    match store {
        Some(dir) => BrokerProcess::start_in(dir, &settings, "info").await,
        None => BrokerProcess::start(&settings).await,
    }
}

/// A popped message: body, its queue offset, and the receipt handle a client would build.
#[derive(Debug, Clone)]
struct Popped {
    body: String,
    topic: String,
    queue_id: i32,
    offset: i64,
    handle: String,
    reconsume_times: i32,
}

struct PopAnswer {
    code: i32,
    header: std::collections::BTreeMap<String, String>,
    messages: Vec<Popped>,
}

#[allow(clippy::too_many_arguments)]
async fn pop_raw(
    conn: &Connection,
    topic: &str,
    group: &str,
    queue_id: i32,
    max: i32,
    invisible: i64,
    poll: i64,
    order: bool,
) -> PopAnswer {
    let header = PopMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        max_msg_nums: max,
        invisible_time: invisible,
        poll_time: poll,
        born_time: now(),
        init_mode: 0,
        exp_type: Some("TAG".into()),
        exp: Some("*".into()),
        order: Some(order),
        attempt_id: None,
    };
    let answer = conn
        .request(
            RemotingCommand::request_with_header(request::POP_MESSAGE, &header),
            Duration::from_millis(poll as u64 + 10_000),
        )
        .await
        .expect("the broker answers");
    let header: std::collections::BTreeMap<String, String> = answer
        .ext()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut messages = Vec::new();
    if answer.code == response::SUCCESS {
        let field = |k: &str| header.get(k).cloned().unwrap_or_default();
        // What a 5.x client does: start offsets by "<retry flag> <queueId>".
        let starts: std::collections::HashMap<String, i64> = field("startOffsetInfo")
            .split(';')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let p: Vec<&str> = s.split(' ').collect();
                (format!("{} {}", p[0], p[1]), p[2].parse().unwrap())
            })
            .collect();
        for m in store::decode_messages(&answer.body) {
            let handle = match m.property("POP_CK") {
                Some(ck) => ck.to_string(),
                None => {
                    let start = starts[&format!("0 {}", m.queue_id)];
                    format!(
                        "{start} {} {} {} 0 {BROKER} {} {}",
                        field("popTime"),
                        field("invisibleTime"),
                        field("reviveQid"),
                        m.queue_id,
                        m.queue_offset
                    )
                }
            };
            messages.push(Popped {
                body: String::from_utf8_lossy(&m.body).into_owned(),
                topic: m.topic.clone(),
                queue_id: m.queue_id,
                offset: m.queue_offset,
                handle,
                reconsume_times: m.reconsume_times,
            });
        }
    }
    PopAnswer {
        code: answer.code,
        header,
        messages,
    }
}

async fn pop(conn: &Connection, topic: &str, group: &str, max: i32, invisible: i64) -> Vec<Popped> {
    pop_raw(conn, topic, group, -1, max, invisible, 0, false).await.messages
}

/// The topic an ack names: the retry topic when the handle says the message came from it.
fn ack_topic(m: &Popped, group: &str) -> String {
    match m.handle.split(' ').nth(4) {
        Some("1") => format!("%RETRY%{group}_{}", m.topic),
        _ => m.topic.clone(),
    }
}

async fn ack(conn: &Connection, group: &str, m: &Popped) -> RemotingCommand {
    let header = AckMessageRequestHeader {
        consumer_group: group.into(),
        topic: ack_topic(m, group),
        queue_id: m.queue_id,
        extra_info: m.handle.clone(),
        offset: m.offset,
    };
    ask(
        conn,
        RemotingCommand::request_with_header(request::ACK_MESSAGE, &header),
    )
    .await
}

async fn send_n(conn: &Connection, topic: &str, queue_id: i32, prefix: &str, n: usize) {
    for i in 0..n {
        let answer = send(conn, topic, queue_id, format!("{prefix}-{i}").into_bytes(), "k").await;
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    }
}

/// Pops until `want` bodies came back or `within` passed; acks what it pops when `ack_them`.
async fn pop_until(
    conn: &Connection,
    topic: &str,
    group: &str,
    want: usize,
    within: Duration,
    ack_them: bool,
) -> Vec<Popped> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        let batch = pop(conn, topic, group, 32, 60_000).await;
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for m in batch {
            if ack_them {
                assert_eq!(ack(conn, group, &m).await.code, response::SUCCESS);
            }
            got.push(m);
        }
    }
    got
}

fn bodies(ms: &[Popped]) -> BTreeSet<String> {
    ms.iter().map(|m| m.body.clone()).collect()
}

#[tokio::test]
async fn pop_ack_and_redelivery_after_the_invisible_time() {
    let broker = start_broker(None).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopT", 2).await;
    send_n(&conn, "PopT", 0, "a", 3).await;
    send_n(&conn, "PopT", 1, "b", 3).await;

    // First pop: 2 s invisible. Ack the "a" messages only.
    let first = pop_raw(&conn, "PopT", "g1", -1, 32, 2000, 0, false).await;
    assert_eq!(first.code, response::SUCCESS);
    assert_eq!(first.messages.len(), 6, "{:?}", first.header);
    for key in [
        "popTime",
        "invisibleTime",
        "reviveQid",
        "restNum",
        "startOffsetInfo",
        "msgOffsetInfo",
    ] {
        assert!(first.header.contains_key(key), "{key} missing: {:?}", first.header);
    }
    assert_eq!(first.header["invisibleTime"], "2000");
    assert!(!first.header.contains_key("orderCountInfo"));
    let msg_offsets: BTreeSet<&str> = first.header["msgOffsetInfo"].split(';').collect();
    assert_eq!(msg_offsets, BTreeSet::from(["0 0 0,1,2", "0 1 0,1,2"]));
    for m in first.messages.iter().filter(|m| m.body.starts_with('a')) {
        assert_eq!(ack(&conn, "g1", m).await.code, response::SUCCESS);
    }
    // Nothing else to pop meanwhile.
    let empty = pop_raw(&conn, "PopT", "g1", -1, 32, 2000, 0, false).await;
    assert_eq!(empty.code, response::POLLING_TIMEOUT);
    assert!(empty.messages.is_empty());

    // After 2 s (+1 s grace) the un-acked "b" messages come back, from the retry topic,
    // under the original topic, with reconsumeTimes 1 and a POP_CK handle.
    let started = Instant::now();
    let again = pop_until(&conn, "PopT", "g1", 3, Duration::from_secs(15), true).await;
    let waited = started.elapsed();
    assert_eq!(
        bodies(&again),
        BTreeSet::from(["b-0".into(), "b-1".into(), "b-2".into()])
    );
    assert!(waited >= Duration::from_millis(1500), "came back too early: {waited:?}");
    for m in &again {
        assert_eq!(m.topic, "PopT");
        assert_eq!(m.reconsume_times, 1);
        assert!(m.handle.split(' ').nth(4) == Some("1"), "{}", m.handle);
    }
    println!("redelivered {} un-acked messages after {waited:?}", again.len());
    // They were acked this time: nothing comes back.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(pop(&conn, "PopT", "g1", 32, 2000).await.is_empty());
}

#[tokio::test]
async fn change_invisible_time_and_batch_ack() {
    let broker = start_broker(None).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopNack", 1).await;
    send_n(&conn, "PopNack", 0, "n", 4).await;

    let got = pop(&conn, "PopNack", "g2", 32, 60_000).await;
    assert_eq!(got.len(), 4);
    // Nack n-0: visible again in 1 s instead of 60 s.
    let m = &got[0];
    let header = ChangeInvisibleTimeRequestHeader {
        consumer_group: "g2".into(),
        topic: "PopNack".into(),
        queue_id: m.queue_id,
        extra_info: m.handle.clone(),
        offset: m.offset,
        invisible_time: 1000,
    };
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::CHANGE_MESSAGE_INVISIBLETIME, &header),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(answer.ext().get("invisibleTime"), Some("1000"));
    assert!(answer.ext().get("popTime").is_some() && answer.ext().get("reviveQid").is_some());

    // Batch-ack n-1..n-3: one BatchAck with bits 1, 2, 3 relative to the start offset.
    let parts: Vec<&str> = got[1].handle.split(' ').collect();
    let start: i64 = parts[0].parse().unwrap();
    let mut bits = 0u8;
    for m in &got[1..] {
        bits |= 1 << (m.offset - start);
    }
    let b64 = base64(&[bits]);
    let body = format!(
        r#"{{"acks":[{{"b":"{b64}","c":"g2","it":{},"pt":{},"q":0,"r":"0","rq":{},"so":{start},"t":"PopNack"}}],"brokerName":"{BROKER}"}}"#,
        parts[2], parts[1], parts[3]
    );
    let answer = ask(
        &conn,
        RemotingCommand::request(request::BATCH_ACK_MESSAGE).with_body(body.into_bytes()),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    // An empty batch ack is NO_MESSAGE, as Java.
    let answer = ask(
        &conn,
        RemotingCommand::request(request::BATCH_ACK_MESSAGE).with_body(&b"{\"acks\":[]}"[..]),
    )
    .await;
    assert_eq!(answer.code, response::NO_MESSAGE);

    // Only n-0 comes back, after about 1 s (+1 s grace), well before 60 s.
    let started = Instant::now();
    let again = pop_until(&conn, "PopNack", "g2", 1, Duration::from_secs(15), true).await;
    assert_eq!(
        bodies(&again),
        BTreeSet::from(["n-0".to_string()]),
        "after {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(pop(&conn, "PopNack", "g2", 32, 60_000).await.is_empty());
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

#[tokio::test]
async fn peek_notification_and_long_polling() {
    let broker = start_broker(None).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopPeek", 1).await;

    // Notification with nothing there: waits its poll time, then hasMsg=false.
    let notify = |poll: i64| NotificationRequestHeader {
        consumer_group: "g3".into(),
        topic: "PopPeek".into(),
        queue_id: -1,
        poll_time: poll,
        born_time: now(),
        order: Some(false),
        attempt_id: None,
    };
    let started = Instant::now();
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::NOTIFICATION, &notify(500)),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS);
    assert_eq!(answer.ext().get("hasMsg"), Some("false"));
    assert!(started.elapsed() >= Duration::from_millis(400));

    // A long-polling pop wakes when a message arrives.
    let conn2 = connect(&broker.addr).await;
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let a = pop_raw(&conn2, "PopPeek", "g3", -1, 32, 30_000, 5_000, false).await;
        (a.code, a.messages.len(), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // POLLING_INFO counts the waiting pop (its key names queue -1: every queue).
    let info = remoting::header::pop::PollingInfoRequestHeader {
        consumer_group: "g3".into(),
        topic: "PopPeek".into(),
        queue_id: -1,
    };
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::POLLING_INFO, &info),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(answer.ext().get("pollingNum"), Some("1"));
    send_n(&conn, "PopPeek", 0, "p", 2).await;
    let (code, n, waited) = waiter.await.unwrap();
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::POLLING_INFO, &info),
    )
    .await;
    assert_eq!(answer.ext().get("pollingNum"), Some("0"));
    assert_eq!(code, response::SUCCESS);
    assert!(n >= 1);
    assert!(waited < Duration::from_millis(4_000), "woke after {waited:?}");

    // Peek shows messages without taking them; a notification says there are some.
    send_n(&conn, "PopPeek", 0, "q", 2).await;
    let peek = PeekMessageRequestHeader {
        topic: "PopPeek".into(),
        queue_id: 0,
        max_msg_nums: 32,
        consumer_group: "g3".into(),
    };
    for _ in 0..2 {
        let answer = ask(
            &conn,
            RemotingCommand::request_with_header(request::PEEK_MESSAGE, &peek),
        )
        .await;
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
        let peeked: Vec<String> = store::decode_messages(&answer.body)
            .iter()
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
            .collect();
        assert!(
            peeked.contains(&"q-0".to_string()) && peeked.contains(&"q-1".to_string()),
            "{peeked:?}"
        );
    }
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::NOTIFICATION, &notify(0)),
    )
    .await;
    assert_eq!(answer.ext().get("hasMsg"), Some("true"));
    let got = pop(&conn, "PopPeek", "g3", 32, 30_000).await;
    assert!(bodies(&got).contains("q-1"), "{got:?}");
}

#[tokio::test]
async fn ordered_pop_holds_the_queue_until_acked() {
    let broker = start_broker(None).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopOrder", 1).await;
    send_n(&conn, "PopOrder", 0, "o", 4).await;

    let first = pop_raw(&conn, "PopOrder", "g4", 0, 2, 3000, 0, true).await;
    assert_eq!(first.code, response::SUCCESS);
    assert_eq!(first.header["reviveQid"], "999");
    assert!(first.header.contains_key("orderCountInfo"), "{:?}", first.header);
    let got: Vec<String> = first.messages.iter().map(|m| m.body.clone()).collect();
    assert_eq!(got, ["o-0", "o-1"]);

    // The queue is held: a second ordered pop gets nothing.
    let second = pop_raw(&conn, "PopOrder", "g4", 0, 2, 3000, 0, true).await;
    assert_eq!(second.code, response::POLLING_TIMEOUT);
    assert!(second.messages.is_empty());

    // Ack the first only: still held. Ack the second: the next two come.
    assert_eq!(ack(&conn, "g4", &first.messages[0]).await.code, response::SUCCESS);
    assert!(pop_raw(&conn, "PopOrder", "g4", 0, 2, 3000, 0, true)
        .await
        .messages
        .is_empty());
    assert_eq!(ack(&conn, "g4", &first.messages[1]).await.code, response::SUCCESS);
    let third = pop_raw(&conn, "PopOrder", "g4", 0, 2, 3000, 0, true).await;
    let got: Vec<String> = third.messages.iter().map(|m| m.body.clone()).collect();
    assert_eq!(got, ["o-2", "o-3"]);

    // Not acked: after the 3 s invisible time the same two come again, counted.
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let again = pop_raw(&conn, "PopOrder", "g4", 0, 2, 3000, 0, true).await;
    let got: Vec<String> = again.messages.iter().map(|m| m.body.clone()).collect();
    assert_eq!(got, ["o-2", "o-3"]);
    assert_eq!(again.messages[0].reconsume_times, 0, "the body is as stored");
    assert!(again.header["orderCountInfo"].contains("qo0%2 1"), "{:?}", again.header);
}

#[tokio::test]
async fn unacked_messages_come_back_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let broker = start_broker(Some(&store)).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopCrash", 1).await;
    send_n(&conn, "PopCrash", 0, "c", 6).await;
    let got = pop(&conn, "PopCrash", "g5", 32, 4000).await;
    assert_eq!(got.len(), 6);
    for m in got.iter().filter(|m| m.offset % 2 == 0) {
        assert_eq!(ack(&conn, "g5", m).await.code, response::SUCCESS);
    }
    // Let the consumer offset reach the disk, then SIGKILL.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    drop(conn);
    broker.kill().await;

    let broker = start_broker(Some(&store)).await;
    let conn = connect(&broker.addr).await;
    let again = pop_until(&conn, "PopCrash", "g5", 3, Duration::from_secs(20), true).await;
    assert_eq!(
        bodies(&again),
        BTreeSet::from(["c-1".into(), "c-3".into(), "c-5".into()]),
        "only the un-acked come back"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(pop(&conn, "PopCrash", "g5", 32, 4000).await.is_empty());
}

#[tokio::test]
async fn request_mode_survives_a_restart_and_shapes_assignments() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let broker = start_broker(Some(&store)).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopMode", 4).await;
    let set = |topic: &str| {
        RemotingCommand::request(request::SET_MESSAGE_REQUEST_MODE).with_body(
            format!(r#"{{"consumerGroup":"g6","mode":"POP","popShareQueueNum":0,"topic":"{topic}"}}"#).into_bytes(),
        )
    };
    assert_eq!(ask(&conn, set("PopMode")).await.code, response::SUCCESS);
    let refused = ask(&conn, set("%RETRY%g6")).await;
    assert_eq!(refused.code, response::NO_PERMISSION);
    assert_eq!(
        refused.remark.as_deref(),
        Some("retry topic is not allowed to set mode")
    );
    assert_eq!(ask(&conn, set("NoSuchTopic")).await.code, response::TOPIC_NOT_EXIST);
    drop(conn);
    broker.kill().await;

    let saved = std::fs::read_to_string(store.join("config/messageRequestMode.json")).unwrap();
    assert!(
        saved.contains("messageRequestModeMap") && saved.contains("\"POP\""),
        "{saved}"
    );

    let broker = start_broker(Some(&store)).await;
    let conn = connect(&broker.addr).await;
    let all = ask(&conn, RemotingCommand::request(request::GET_ALL_MESSAGE_REQUEST_MODE)).await;
    assert_eq!(all.code, response::SUCCESS);
    let all: serde_json::Value = serde_json::from_slice(&all.body).unwrap();
    assert_eq!(all["messageRequestModeMap"]["PopMode"]["g6"]["mode"], "POP", "{all}");
    // A consumer of g6 must be known for a clustering assignment: heartbeat as one.
    let hb = r#"{"clientID":"c1@1","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"g6","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,"tagsSet":[],"topic":"PopMode"}],"unitMode":false}],"producerDataSet":[]}"#;
    let answer = ask(
        &conn,
        RemotingCommand::request(request::HEART_BEAT).with_body(hb.as_bytes().to_vec()),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    let query = |group: &str| {
        RemotingCommand::request(request::QUERY_ASSIGNMENT).with_body(
            format!(
                r#"{{"clientId":"c1@1","consumerGroup":"{group}","messageModel":"CLUSTERING","strategyName":"AVG","topic":"PopMode"}}"#
            )
            .into_bytes(),
        )
    };
    let answer = ask(&conn, query("g6")).await;
    assert_eq!(answer.code, response::SUCCESS);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    let assignments = body["messageQueueAssignments"].as_array().unwrap();
    // POP with no share count: one assignment per broker, queue -1 (pop every queue).
    assert_eq!(assignments.len(), 1, "{body}");
    assert_eq!(assignments[0]["mode"], "POP");
    assert_eq!(assignments[0]["messageQueue"]["queueId"], -1);
    assert_eq!(assignments[0]["messageQueue"]["brokerName"], BROKER);

    // A group with no mode set gets PULL and its share of real queues; one with no
    // consumers gets no assignment at all.
    let hb2 = hb.replace("\"g6\"", "\"g7\"");
    ask(
        &conn,
        RemotingCommand::request(request::HEART_BEAT).with_body(hb2.into_bytes()),
    )
    .await;
    let answer = ask(&conn, query("g7")).await;
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    let assignments = body["messageQueueAssignments"].as_array().unwrap();
    assert_eq!(assignments.len(), 4, "{body}");
    assert!(assignments.iter().all(|a| a["mode"] == "PULL"));
    let answer = ask(&conn, query("nobody")).await;
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(body.get("messageQueueAssignments").is_none(), "{body}");
}

/// A send with its own tag and user properties.
async fn send_tagged(conn: &Connection, topic: &str, body: &str, tag: &str, props: &[(&str, &str)]) {
    let mut properties = format!("TAGS\u{1}{tag}\u{2}");
    for (k, v) in props {
        properties.push_str(&format!("{k}\u{1}{v}\u{2}"));
    }
    let header = remoting::header::broker::SendMessageRequestHeader {
        producer_group: "pop_pg".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: now(),
        flag: 0,
        properties: Some(properties),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
    };
    let answer = ask(
        conn,
        RemotingCommand::request_with_header(request::SEND_MESSAGE, &header).with_body(body.as_bytes().to_vec()),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
}

#[tokio::test]
async fn pops_filter_by_tag_and_by_sql92() {
    let broker = start_broker(None).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopFilter", 1).await;
    for i in 0..6 {
        let tag = if i % 2 == 0 { "A" } else { "B" };
        send_tagged(&conn, "PopFilter", &format!("f-{i}"), tag, &[("a", &i.to_string())]).await;
    }
    let pop_with = |group: &'static str, exp_type: &'static str, exp: &'static str| {
        let conn = &conn;
        async move {
            let header = PopMessageRequestHeader {
                consumer_group: group.into(),
                topic: "PopFilter".into(),
                queue_id: 0,
                max_msg_nums: 32,
                invisible_time: 60_000,
                poll_time: 0,
                born_time: now(),
                init_mode: 0,
                exp_type: Some(exp_type.into()),
                exp: Some(exp.into()),
                order: Some(false),
                attempt_id: None,
            };
            let answer = ask(
                conn,
                RemotingCommand::request_with_header(request::POP_MESSAGE, &header),
            )
            .await;
            let got: Vec<String> = store::decode_messages(&answer.body)
                .iter()
                .map(|m| String::from_utf8_lossy(&m.body).into_owned())
                .collect();
            (answer.code, got, answer.remark)
        }
    };
    let (code, got, _) = pop_with("gf1", "TAG", "A").await;
    assert_eq!(code, response::SUCCESS);
    assert_eq!(got, ["f-0", "f-2", "f-4"]);
    let (code, got, _) = pop_with("gf2", "SQL92", "a BETWEEN 2 AND 4").await;
    assert_eq!(code, response::SUCCESS);
    assert_eq!(got, ["f-2", "f-3", "f-4"]);
    // The filtered-out messages are passed over: nothing left for either group.
    assert_eq!(pop_with("gf1", "TAG", "A").await.0, response::POLLING_TIMEOUT);
    assert_eq!(
        pop_with("gf2", "SQL92", "a BETWEEN 2 AND 4").await.0,
        response::POLLING_TIMEOUT
    );
    let (code, _, remark) = pop_with("gf3", "SQL92", "a >>> 2").await;
    assert_eq!(code, response::SUBSCRIPTION_PARSE_FAILED);
    assert_eq!(remark.as_deref(), Some("parse the consumer's subscription failed"));
}

#[tokio::test]
async fn query_assignment_spans_every_broker_of_the_route() {
    let ns = compat_tests::process::NamesrvProcess::start(&[]).await;
    let a = BrokerProcess::start(&[("namesrvAddr", ns.addr.as_str()), ("brokerName", "pop-a")]).await;
    let b = BrokerProcess::start(&[("namesrvAddr", ns.addr.as_str()), ("brokerName", "pop-b")]).await;
    let conn_a = connect(&a.addr).await;
    let conn_b = connect(&b.addr).await;
    create_topic(&conn_a, "PopRoute", 2).await;
    create_topic(&conn_b, "PopRoute", 3).await;
    let hb = r#"{"clientID":"c1@1","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"g8","messageModel":"CLUSTERING","subscriptionDataSet":[],"unitMode":false}],"producerDataSet":[]}"#;
    ask(
        &conn_a,
        RemotingCommand::request(request::HEART_BEAT).with_body(hb.as_bytes().to_vec()),
    )
    .await;
    let query = RemotingCommand::request(request::QUERY_ASSIGNMENT).with_body(
        &br#"{"clientId":"c1@1","consumerGroup":"g8","messageModel":"CLUSTERING","strategyName":"AVG","topic":"PopRoute"}"#[..],
    );
    // The route reaches the name server with the brokers' next registrations.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = ask(&conn_a, query.clone()).await;
        assert_eq!(answer.code, response::SUCCESS);
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        let queues: BTreeSet<(String, i64)> = body["messageQueueAssignments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|q| {
                        (
                            q["messageQueue"]["brokerName"].as_str().unwrap().to_string(),
                            q["messageQueue"]["queueId"].as_i64().unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if queues.len() == 5 {
            let want: BTreeSet<(String, i64)> = [("pop-a", 0), ("pop-a", 1), ("pop-b", 0), ("pop-b", 1), ("pop-b", 2)]
                .iter()
                .map(|(b, q)| (b.to_string(), *q))
                .collect();
            assert_eq!(queues, want);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "assignment never covered both brokers: {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn ordered_change_invisible_time_moves_the_hold() {
    let broker = start_broker(None).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopOrderNack", 1).await;
    send_n(&conn, "PopOrderNack", 0, "x", 2).await;
    let first = pop_raw(&conn, "PopOrderNack", "g9", 0, 2, 60_000, 0, true).await;
    assert_eq!(first.messages.len(), 2);
    // Ack x-1, and make x-0 visible again in 1 s instead of 60 s.
    assert_eq!(ack(&conn, "g9", &first.messages[1]).await.code, response::SUCCESS);
    let m = &first.messages[0];
    let header = ChangeInvisibleTimeRequestHeader {
        consumer_group: "g9".into(),
        topic: "PopOrderNack".into(),
        queue_id: 0,
        extra_info: m.handle.clone(),
        offset: m.offset,
        invisible_time: 1000,
    };
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::CHANGE_MESSAGE_INVISIBLETIME, &header),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS);
    assert_eq!(answer.ext().get("reviveQid"), Some("999"));
    // Still held for now...
    assert!(pop_raw(&conn, "PopOrderNack", "g9", 0, 2, 60_000, 0, true)
        .await
        .messages
        .is_empty());
    // ...then after 1 s x-0 comes again, and x-1 with it: the group's offset stays at the
    // first message not acked (Java's commitAndNext).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = pop_raw(&conn, "PopOrderNack", "g9", 0, 2, 60_000, 0, true).await;
    let got: Vec<String> = again.messages.iter().map(|m| m.body.clone()).collect();
    assert_eq!(got, ["x-0", "x-1"]);
    assert!(again.header["orderCountInfo"].contains("qo0%0 1"), "{:?}", again.header);
}

#[tokio::test]
async fn refusals_carry_javas_codes_and_remarks() {
    let broker = start_broker(None).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopNo", 2).await;
    let faq = "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.";

    let missing = pop_raw(&conn, "NoSuchTopic", "gr", -1, 1, 1000, 0, false).await;
    assert_eq!(missing.code, response::TOPIC_NOT_EXIST);
    let ask_pop = |topic: &str, queue_id: i32, max: i32, born: i64, poll: i64| {
        RemotingCommand::request_with_header(
            request::POP_MESSAGE,
            &PopMessageRequestHeader {
                consumer_group: "gr".into(),
                topic: topic.into(),
                queue_id,
                max_msg_nums: max,
                invisible_time: 1000,
                poll_time: poll,
                born_time: born,
                init_mode: 0,
                exp_type: None,
                exp: None,
                order: Some(false),
                attempt_id: None,
            },
        )
    };
    let answer = ask(&conn, ask_pop("NoSuchTopic", -1, 1, now(), 0)).await;
    assert_eq!(
        answer.remark.as_deref(),
        Some(format!("topic[NoSuchTopic] not exist, apply first please! {faq}").as_str())
    );
    let answer = ask(&conn, ask_pop("PopNo", -1, 33, now(), 0)).await;
    assert_eq!(answer.code, response::INVALID_PARAMETER);
    assert_eq!(
        answer.remark.as_deref(),
        Some("the broker[127.0.0.1] pop message's num is greater than 32")
    );
    let answer = ask(&conn, ask_pop("PopNo", 2, 1, now(), 0)).await;
    assert_eq!(answer.code, response::INVALID_PARAMETER);
    assert!(
        answer
            .remark
            .as_deref()
            .unwrap()
            .starts_with("queueId[2] is illegal, topic:[PopNo] topicConfig.readQueueNums:[2] consumer:["),
        "{:?}",
        answer.remark
    );
    // Born 10 s ago with a 1 s poll: too late to serve.
    let answer = ask(&conn, ask_pop("PopNo", -1, 1, now() - 10_000, 1000)).await;
    assert_eq!(answer.code, response::POLLING_TIMEOUT);
    assert_eq!(
        answer.remark.as_deref(),
        Some("the broker[127.0.0.1] pop message is timeout too much")
    );
    // Nothing there: POLLING_TIMEOUT with the store's status and the full header.
    let answer = ask(&conn, ask_pop("PopNo", -1, 1, now(), 0)).await;
    assert_eq!(answer.code, response::POLLING_TIMEOUT);
    assert_eq!(answer.remark.as_deref(), Some("NO_MESSAGE_IN_QUEUE"));
    for key in [
        "popTime",
        "invisibleTime",
        "reviveQid",
        "restNum",
        "startOffsetInfo",
        "msgOffsetInfo",
    ] {
        assert!(answer.ext().get(key).is_some(), "{key}");
    }

    // Acks: an offset beyond the queue is NO_MESSAGE with Java's remark; a queue id beyond
    // the topic is MESSAGE_ILLEGAL.
    let header = AckMessageRequestHeader {
        consumer_group: "gr".into(),
        topic: "PopNo".into(),
        queue_id: 0,
        extra_info: format!("0 {} 1000 0 0 {BROKER} 0 5", now()),
        offset: 5,
    };
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::ACK_MESSAGE, &header),
    )
    .await;
    assert_eq!(answer.code, response::NO_MESSAGE);
    assert_eq!(
        answer.remark.as_deref(),
        Some("offset is illegal, key:PopNo@0, commit:5, store:0~0")
    );
    let header = AckMessageRequestHeader { queue_id: 7, ..header };
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::ACK_MESSAGE, &header),
    )
    .await;
    assert_eq!(answer.code, response::MESSAGE_ILLEGAL);
    let change = ChangeInvisibleTimeRequestHeader {
        consumer_group: "gr".into(),
        topic: "PopNo".into(),
        queue_id: 0,
        extra_info: format!("0 {} 1000 0 0 {BROKER} 0 0", now()),
        offset: 0,
        invisible_time: 1000,
    };
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::CHANGE_MESSAGE_INVISIBLETIME, &change),
    )
    .await;
    assert_eq!(answer.code, response::NO_MESSAGE, "offset 0 of an empty queue");

    // A pop without bornTime is taken as born now (Java fills the field in).
    let mut req = ask_pop("PopNo", -1, 1, now(), 0);
    req.ext_mut().remove("bornTime");
    let answer = ask(&conn, req).await;
    assert_eq!(answer.code, response::POLLING_TIMEOUT, "{:?}", answer.remark);
}

#[tokio::test]
async fn an_ordered_hold_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let broker = start_broker(Some(&store)).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopOrderCrash", 1).await;
    send_n(&conn, "PopOrderCrash", 0, "k", 3).await;
    let first = pop_raw(&conn, "PopOrderCrash", "g10", 0, 1, 30_000, 0, true).await;
    assert_eq!(first.messages.len(), 1);
    // consumerOrderInfo.json and the offsets reach the disk within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(conn);
    broker.kill().await;
    let saved = std::fs::read_to_string(store.join("config/consumerOrderInfo.json")).unwrap();
    assert!(saved.contains("PopOrderCrash@g10"), "{saved}");

    let broker = start_broker(Some(&store)).await;
    let conn = connect(&broker.addr).await;
    // Still held by the pop from before the crash; its receipt handle still acks.
    assert!(pop_raw(&conn, "PopOrderCrash", "g10", 0, 1, 30_000, 0, true)
        .await
        .messages
        .is_empty());
    assert_eq!(ack(&conn, "g10", &first.messages[0]).await.code, response::SUCCESS);
    let next = pop_raw(&conn, "PopOrderCrash", "g10", 0, 1, 30_000, 0, true).await;
    let got: Vec<String> = next.messages.iter().map(|m| m.body.clone()).collect();
    assert_eq!(got, ["k-1"]);
}

#[tokio::test]
async fn concurrent_pops_of_one_group_never_share_a_message() {
    let broker = start_broker(None).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopRace", 2).await;
    send_n(&conn, "PopRace", 0, "r0", 60).await;
    send_n(&conn, "PopRace", 1, "r1", 60).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let addr = broker.addr.clone();
        tasks.push(tokio::spawn(async move {
            let conn = connect(&addr).await;
            let mut got = Vec::new();
            let mut empty = 0;
            while empty < 3 {
                let batch = pop_raw(&conn, "PopRace", "g11", -1, 8, 60_000, 0, false).await.messages;
                if batch.is_empty() {
                    empty += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                for m in batch {
                    assert_eq!(ack(&conn, "g11", &m).await.code, response::SUCCESS);
                    got.push(m.body);
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        match t.await {
            Ok(got) => all.extend(got),
            Err(e) => panic!("{e}\n{}", broker.log()),
        }
    }
    let distinct: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(all.len(), 120, "every message once: {} deliveries", all.len());
    assert_eq!(distinct.len(), 120);
}

#[tokio::test]
async fn waiting_pops_all_wake_and_share_what_arrives() {
    let broker = start_broker(None).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "PopWake", 1).await;
    let mut waiters = Vec::new();
    for _ in 0..3 {
        let addr = broker.addr.clone();
        waiters.push(tokio::spawn(async move {
            let conn = connect(&addr).await;
            let started = Instant::now();
            let a = pop_raw(&conn, "PopWake", "g12", -1, 2, 60_000, 8_000, false).await;
            (
                a.messages.into_iter().map(|m| m.body).collect::<Vec<_>>(),
                started.elapsed(),
            )
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    send_n(&conn, "PopWake", 0, "w", 6).await;
    let mut all = Vec::new();
    for w in waiters {
        let (got, waited) = w.await.unwrap();
        assert!(
            !got.is_empty() && waited < Duration::from_secs(4),
            "{got:?} after {waited:?}"
        );
        all.extend(got);
    }
    // Whatever the three did not take is still there for the next pops (the last sends
    // may still be on their way into the ConsumeQueue on a loaded machine).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while all.len() < 6 && std::time::Instant::now() < deadline {
        let got = pop(&conn, "PopWake", "g12", 32, 60_000).await;
        if got.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        all.extend(got.into_iter().map(|m| m.body));
    }
    let distinct: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!((all.len(), distinct.len()), (6, 6), "{all:?}");
}
