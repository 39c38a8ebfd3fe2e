//! Retry and dead-letter paths over TCP, checked against Java 4.9.8's SendMessageProcessor:
//! an orderly consumer's exhausted message (a plain send to `%RETRY%<group>` whose
//! reconsumeTimes reached the limit) lands in `%DLQ%<group>`, and the properties of
//! messages delivered from a retry topic, the DLQ and a delay level are exactly Java's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use compat_tests::broker_ops::pull_header;
use compat_tests::process::{connect, InProcessBroker};
use remoting::code::{request, response};
use remoting::header::broker::{ConsumerSendMsgBackRequestHeader, CreateTopicRequestHeader, PullMessageRequestHeader};
use remoting::{Connection, RemotingCommand};

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(10)).await.unwrap()
}

fn props(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}\u{1}{v}"))
        .collect::<Vec<_>>()
        .join("\u{2}")
}

fn map(text: &str) -> BTreeMap<String, String> {
    text.split('\u{2}')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('\u{1}'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A SEND_MESSAGE_V2 as DefaultMQProducerImpl builds it; for a `%RETRY%` topic the client
/// moves RECONSUME_TIME / MAX_RECONSUME_TIMES into the header (`j`, `l`) but leaves them
/// in the properties text, which it wrote first.
struct Send<'a> {
    topic: &'a str,
    queue_id: i32,
    properties: String,
    reconsume_times: i32,
    max_reconsume_times: Option<i32>,
    version: i32,
}

async fn send(conn: &Connection, s: Send<'_>) -> RemotingCommand {
    let mut req = RemotingCommand::request(request::SEND_MESSAGE_V2).with_body(&b"orderly-body"[..]);
    req.version = s.version;
    let queue = s.queue_id.to_string();
    let reconsume = s.reconsume_times.to_string();
    for (k, v) in [
        ("a", "pg_retry"),
        ("b", s.topic),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", &queue),
        ("f", "0"),
        ("g", "1795967439013"),
        ("h", "0"),
        ("i", &s.properties),
        ("j", &reconsume),
        ("k", "false"),
        ("m", "false"),
    ] {
        req.ext_mut().insert(k, v);
    }
    if let Some(max) = s.max_reconsume_times {
        req.ext_mut().insert("l", max.to_string());
    }
    ask(conn, req).await
}

fn pull_request(topic: &str, queue_id: i32, offset: i64) -> RemotingCommand {
    RemotingCommand::request_with_header(
        request::PULL_MESSAGE,
        &PullMessageRequestHeader {
            consumer_group: "cg_prop_check".into(),
            ..pull_header(topic, queue_id, offset, 1)
        },
    )
}

/// The message at (topic, queue, offset), waiting up to `limit` for it to exist, with the
/// pull answer it came in.
async fn message_at(
    conn: &Connection,
    topic: &str,
    queue_id: i32,
    offset: i64,
    limit: Duration,
) -> Option<(store::DecodedMessage, RemotingCommand)> {
    let deadline = Instant::now() + limit;
    loop {
        let answer = ask(conn, pull_request(topic, queue_id, offset)).await;
        if answer.code == response::SUCCESS {
            let m = store::decode_messages(&answer.body).into_iter().next()?;
            return Some((m, answer));
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn max_offset(conn: &Connection, topic: &str, queue_id: i32) -> i64 {
    let mut q = RemotingCommand::request(request::GET_MAX_OFFSET);
    q.ext_mut().insert("topic", topic);
    q.ext_mut().insert("queueId", queue_id.to_string());
    let answer = ask(conn, q).await;
    answer.ext().get("offset").and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// A topic's config from GET_ALL_TOPIC_CONFIG: (read queues, write queues, perm).
async fn topic_config(conn: &Connection, topic: &str) -> Option<(i64, i64, i64)> {
    let answer = ask(conn, RemotingCommand::request(request::GET_ALL_TOPIC_CONFIG)).await;
    assert_eq!(answer.code, response::SUCCESS);
    let all: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    let tc = all["topicConfigTable"].get(topic)?;
    Some((
        tc["readQueueNums"].as_i64().unwrap(),
        tc["writeQueueNums"].as_i64().unwrap(),
        tc["perm"].as_i64().unwrap(),
    ))
}

/// What ConsumeMessageOrderlyService.sendMessageBack puts on the message it re-sends.
fn orderly_resend(reconsume: i32, max: i32, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p = vec![
        ("KEYS", "order-7"),
        ("TAGS", "TagO"),
        ("UNIQ_KEY", "C0000202ABCD30946E0993B3D9D00007"),
        ("ORIGIN_MESSAGE_ID", "C0000202ABCD30946E0993B3D9D00007"),
        ("RETRY_TOPIC", "OrderTopic"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect::<Vec<_>>();
    p.push(("RECONSUME_TIME".into(), reconsume.to_string()));
    p.push(("MAX_RECONSUME_TIMES".into(), max.to_string()));
    p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    p
}

fn text(pairs: &[(String, String)]) -> String {
    props(&pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>())
}

#[tokio::test]
async fn an_orderly_resend_past_the_reconsume_limit_goes_to_the_dlq() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    let retry = "%RETRY%cg_ord";
    let dlq = "%DLQ%cg_ord";

    // Below the limit (2 < 3): an ordinary retry message.
    let below = orderly_resend(2, 3, &[]);
    let answer = send(
        &conn,
        Send {
            topic: retry,
            queue_id: 0,
            properties: text(&below),
            reconsume_times: 2,
            max_reconsume_times: Some(3),
            version: 409,
        },
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    let (kept, _) = message_at(&conn, retry, 0, 0, Duration::from_secs(2))
        .await
        .expect("in the retry topic");
    assert_eq!(kept.reconsume_times, 2);
    assert_eq!(topic_config(&conn, dlq).await, None, "no DLQ yet");
    // Java's msgCheck makes a missing retry topic from the client's default topic first
    // (TBW102: min(4, 8) queues, perm 6), like any new topic.
    assert_eq!(topic_config(&conn, retry).await, Some((4, 4, 6)));

    // At the limit (3 >= 3): the DLQ, queue 0, made with one read-write queue.
    let at = orderly_resend(3, 3, &[]);
    let answer = send(
        &conn,
        Send {
            topic: retry,
            queue_id: 2,
            properties: text(&at),
            reconsume_times: 3,
            max_reconsume_times: Some(3),
            version: 409,
        },
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    // Java answers with the queue the request named, and the DLQ message's own offsets.
    assert_eq!(answer.ext().get("queueId"), Some("2"));
    assert_eq!(answer.ext().get("queueOffset"), Some("0"));
    let (dead, _) = message_at(&conn, dlq, 0, 0, Duration::from_secs(2))
        .await
        .expect("dead-lettered");
    let (_, offset) = store::decode_offset_msg_id(answer.ext().get("msgId").unwrap()).unwrap();
    assert_eq!(dead.commit_log_offset, offset);
    assert_eq!(dead.reconsume_times, 3);
    assert_eq!(dead.topic, dlq);
    let mut expected: BTreeMap<String, String> = at.iter().cloned().collect();
    expected.insert("CLUSTER".into(), "DefaultCluster".into());
    assert_eq!(
        map(&dead.properties_string),
        expected,
        "the properties as sent, plus CLUSTER"
    );
    assert_eq!(topic_config(&conn, dlq).await, Some((1, 1, 6)));
    assert_eq!(max_offset(&conn, retry, 2).await, 0, "nothing went to the retry queue");

    // Over the limit and sent with a delay level (the orderly client always sets 3 + n;
    // level 1 keeps the test short): Java 4.9.8 keeps the DELAY the client sent, so the
    // message is parked in SCHEDULE_TOPIC_XXXX and reaches the DLQ when due.
    let delayed = orderly_resend(4, 3, &[("DELAY", "1"), ("WAIT", "true")]);
    let sent_at = Instant::now();
    let answer = send(
        &conn,
        Send {
            topic: retry,
            queue_id: 1,
            properties: text(&delayed),
            reconsume_times: 4,
            max_reconsume_times: Some(3),
            version: 409,
        },
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(max_offset(&conn, dlq, 0).await, 1, "not in the DLQ before its delay");
    let (dead, _) = message_at(&conn, dlq, 0, 1, Duration::from_secs(10))
        .await
        .expect("dead-lettered when due");
    assert!(
        sent_at.elapsed() >= Duration::from_millis(900),
        "delivered after level 1"
    );
    let mut expected: BTreeMap<String, String> = delayed.iter().cloned().collect();
    for (k, v) in [("CLUSTER", "DefaultCluster"), ("REAL_TOPIC", dlq), ("REAL_QID", "0")] {
        expected.insert(k.into(), v.into());
    }
    assert_eq!(map(&dead.properties_string), expected);
    assert_eq!(dead.reconsume_times, 4);

    // The header's maxReconsumeTimes counts only from V3_4_9 (121) on; an older client
    // gets the group's retryMaxTimes (16), so 5 retries are not too many.
    let old = orderly_resend(5, 3, &[]);
    let answer = send(
        &conn,
        Send {
            topic: retry,
            queue_id: 3,
            properties: text(&old),
            reconsume_times: 5,
            max_reconsume_times: Some(3),
            version: 120,
        },
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS);
    assert!(message_at(&conn, retry, 3, 0, Duration::from_secs(2)).await.is_some());
    assert_eq!(max_offset(&conn, dlq, 0).await, 2);
    // Without maxReconsumeTimes the group's limit (16) applies as well.
    let answer = send(
        &conn,
        Send {
            topic: retry,
            queue_id: 3,
            properties: text(&orderly_resend(16, 16, &[])),
            reconsume_times: 16,
            max_reconsume_times: None,
            version: 409,
        },
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS);
    assert_eq!(max_offset(&conn, dlq, 0).await, 3);
    broker.broker.shutdown().await;
}

#[tokio::test]
async fn a_retry_send_for_an_unknown_group_is_refused_without_auto_created_groups() {
    let broker = InProcessBroker::start(&[
        ("autoCreateSubscriptionGroup", "false"),
        ("autoCreateTopicEnable", "false"),
    ])
    .await;
    let conn = connect(&broker.addr).await;
    let answer = send(
        &conn,
        Send {
            topic: "%RETRY%cg_nobody",
            queue_id: 0,
            properties: text(&orderly_resend(3, 3, &[])),
            reconsume_times: 3,
            max_reconsume_times: Some(3),
            version: 409,
        },
    )
    .await;
    assert_eq!(answer.code, response::SUBSCRIPTION_GROUP_NOT_EXIST);
    assert_eq!(
        answer.remark.as_deref(),
        Some("subscription group not exist, cg_nobody \nSee http://rocketmq.apache.org/docs/faq/ for further details.")
    );
    assert_eq!(topic_config(&conn, "%DLQ%cg_nobody").await, None);
    // msgCheck ran first: without TBW102 the retry topic is made with one read-write queue.
    assert_eq!(topic_config(&conn, "%RETRY%cg_nobody").await, Some((1, 1, 6)));
    // A plain topic is not made without autoCreateTopicEnable.
    let answer = send(
        &conn,
        Send {
            topic: "NoSuchTopic",
            queue_id: 0,
            properties: props(&[("TAGS", "a")]),
            reconsume_times: 0,
            max_reconsume_times: None,
            version: 409,
        },
    )
    .await;
    assert_eq!(answer.code, response::TOPIC_NOT_EXIST);
    broker.broker.shutdown().await;
}

async fn send_back(conn: &Connection, offset: i64, group: &str, delay_level: i32) -> RemotingCommand {
    ask(
        conn,
        RemotingCommand::request_with_header(
            request::CONSUMER_SEND_MSG_BACK,
            &ConsumerSendMsgBackRequestHeader {
                offset,
                group: group.into(),
                delay_level,
                // Java ignores this for the stored property (it only feeds consume hooks).
                origin_msg_id: Some("C0000202FFFF30946E0993B3D9D0FFFF".into()),
                origin_topic: Some("PropTopic".into()),
                unit_mode: None,
                max_reconsume_times: None,
            },
        ),
    )
    .await
}

/// The properties of a message handed back (CONSUMER_SEND_MSG_BACK), delivered from the
/// retry topic after its delay, then handed back again into the DLQ, key for key as Java's
/// asyncConsumerSendMsgBack and ScheduleMessageService leave them; and what a pull answer
/// gives the consumer to make MIN_OFFSET / MAX_OFFSET from.
#[tokio::test]
async fn retried_and_dead_lettered_messages_carry_javas_properties() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    let sent = props(&[
        ("KEYS", "pk1"),
        ("TAGS", "TagP"),
        ("UNIQ_KEY", "C0000202ABCD30946E0993B3D9D00001"),
        ("WAIT", "true"),
        ("color", "red"),
    ]);
    let answer = send(
        &conn,
        Send {
            topic: "PropTopic",
            queue_id: 0,
            properties: sent,
            reconsume_times: 0,
            max_reconsume_times: None,
            version: 409,
        },
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS);
    let (original, pulled) = message_at(&conn, "PropTopic", 0, 0, Duration::from_secs(2))
        .await
        .unwrap();
    let original_props = owned(&[
        ("KEYS", "pk1"),
        ("TAGS", "TagP"),
        ("UNIQ_KEY", "C0000202ABCD30946E0993B3D9D00001"),
        ("color", "red"),
        ("CLUSTER", "DefaultCluster"),
    ]);
    assert_eq!(map(&original.properties_string), original_props, "WAIT is not stored");
    // The pull answer carries what the client turns into MIN_OFFSET / MAX_OFFSET; the broker
    // adds neither to the message.
    assert_eq!(pulled.ext().get("minOffset"), Some("0"));
    assert_eq!(pulled.ext().get("maxOffset"), Some("1"));
    assert_eq!(pulled.ext().get("nextBeginOffset"), Some("1"));

    // Handed back with level 1: parked, then delivered to %RETRY%cg_prop.
    assert_eq!(
        send_back(&conn, original.commit_log_offset, "cg_prop", 1).await.code,
        response::SUCCESS
    );
    let (retried, _) = message_at(&conn, "%RETRY%cg_prop", 0, 0, Duration::from_secs(10))
        .await
        .expect("retried");
    let mut expected = original_props.clone();
    for (k, v) in [
        ("RETRY_TOPIC", "PropTopic".to_string()),
        ("ORIGIN_MESSAGE_ID", original.offset_msg_id()),
        ("WAIT", "false".to_string()),
        ("DELAY", "1".to_string()),
        ("REAL_TOPIC", "%RETRY%cg_prop".to_string()),
        ("REAL_QID", "0".to_string()),
    ] {
        expected.insert(k.into(), v);
    }
    assert_eq!(map(&retried.properties_string), expected);
    assert_eq!(retried.reconsume_times, 1);
    assert_eq!(
        retried.born_host, original.born_host,
        "Java keeps the original's born host"
    );
    assert_eq!(retried.born_timestamp, original.born_timestamp);

    // Handed back from the retry topic straight to the DLQ: RETRY_TOPIC and
    // ORIGIN_MESSAGE_ID are kept, DELAY becomes 0 (stored, not acted on).
    assert_eq!(
        send_back(&conn, retried.commit_log_offset, "cg_prop", -1).await.code,
        response::SUCCESS
    );
    let (dead, _) = message_at(&conn, "%DLQ%cg_prop", 0, 0, Duration::from_secs(2))
        .await
        .expect("dead-lettered");
    expected.insert("DELAY".into(), "0".into());
    assert_eq!(map(&dead.properties_string), expected);
    assert_eq!(dead.reconsume_times, 2);
    broker.broker.shutdown().await;
}

/// The last message of the golden Java store was sent with delay level 1; Java delivered it
/// to StoreTopicB with this properties text (REAL_TOPIC, REAL_QID, DELAY and WAIT kept, in
/// Java's HashMap order). The same send to our broker is delivered with the same text.
#[tokio::test]
async fn a_delayed_message_is_delivered_with_the_text_java_wrote() {
    let java = "REAL_TOPIC\u{1}StoreTopicB\u{2}KEYS\u{1}k2999\u{2}idx\u{1}2999\u{2}UNIQ_KEY\u{1}C000020243A830946E0969C0ECDB0BB7\u{2}CLUSTER\u{1}DefaultCluster\u{2}DELAY\u{1}1\u{2}WAIT\u{1}true\u{2}TAGS\u{1}T2\u{2}REAL_QID\u{1}1";
    // Check the expectation against the golden store itself.
    let golden = compat_tests::golden::golden_dir().join("java-store-4.9.8/store/commitlog");
    let mut commit_log = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&golden).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        commit_log.extend(std::fs::read(f).unwrap());
    }
    let delivered = store::decode_message(&commit_log[1190722..]).unwrap();
    assert_eq!((delivered.topic.as_str(), delivered.queue_id), ("StoreTopicB", 1));
    assert_eq!(delivered.properties_string, java);

    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    // What the Java client sent (DefaultMQProducer, delay level 1).
    let sent = props(&[
        ("KEYS", "k2999"),
        ("idx", "2999"),
        ("UNIQ_KEY", "C000020243A830946E0969C0ECDB0BB7"),
        ("WAIT", "true"),
        ("TAGS", "T2"),
        ("DELAY", "1"),
    ]);
    let create = RemotingCommand::request_with_header(
        request::UPDATE_AND_CREATE_TOPIC,
        &CreateTopicRequestHeader::read_write("StoreTopicB", 4),
    );
    assert_eq!(ask(&conn, create).await.code, response::SUCCESS);
    let answer = send(
        &conn,
        Send {
            topic: "StoreTopicB",
            queue_id: 1,
            properties: sent,
            reconsume_times: 0,
            max_reconsume_times: None,
            version: 409,
        },
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS);
    let (ours, _) = message_at(&conn, "StoreTopicB", 1, 0, Duration::from_secs(10))
        .await
        .expect("delivered");
    assert_eq!(ours.properties_string, java);
    broker.broker.shutdown().await;
}

/// The schedule service sleeps until a parked message is due (or one is parked), instead
/// of looking every 100 ms: each level-1 message must still come out one second after it
/// was stored, not up to a second later, including on a broker that was idle before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_messages_come_out_when_due_on_an_idle_broker() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    let create = RemotingCommand::request_with_header(
        request::UPDATE_AND_CREATE_TOPIC,
        &CreateTopicRequestHeader::read_write("DelayDueTopic", 1),
    );
    assert_eq!(ask(&conn, create).await.code, response::SUCCESS);
    let mut sent_at = Vec::new();
    for i in 0..3 {
        // Sent at different points of whatever the service is sleeping through.
        tokio::time::sleep(Duration::from_millis(350 + 200 * i)).await;
        let wall = remoting::protocol::topic::now_millis();
        let answer = send(
            &conn,
            Send {
                topic: "DelayDueTopic",
                queue_id: 0,
                properties: props(&[("UNIQ_KEY", &format!("DUE{i}")), ("WAIT", "true"), ("DELAY", "1")]),
                reconsume_times: 0,
                max_reconsume_times: None,
                version: 409,
            },
        )
        .await;
        assert_eq!(answer.code, response::SUCCESS);
        sent_at.push(wall);
    }
    for (offset, wall) in sent_at.iter().enumerate() {
        let (delivered, _) = message_at(&conn, "DelayDueTopic", 0, offset as i64, Duration::from_secs(10))
            .await
            .expect("delivered");
        // The delivered copy's store time is when the service moved it (broker clock, the
        // same machine's): at least 1 s after the send, and not much more.
        let late = delivered.store_timestamp - wall - 1000;
        assert!(
            (-5..600).contains(&late),
            "message {offset} moved {late} ms after it was due"
        );
    }
    broker.broker.shutdown().await;
}
