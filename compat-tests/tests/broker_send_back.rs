//! CONSUMER_SEND_MSG_BACK: a handed-back message reaches the group's retry topic after its
//! delay (through SCHEDULE_TOPIC_XXXX), and goes to the dead-letter topic when asked to.

use std::time::Duration;

use compat_tests::process::{connect, InProcessBroker};
use remoting::code::{request, response};
use remoting::header::broker::{ConsumerSendMsgBackRequestHeader, SendMessageRequestHeader};
use remoting::{Connection, RemotingCommand};

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(10)).await.unwrap()
}

/// Polls the first message of (topic, queue 0) until it exists, for up to `limit`.
async fn first_message(conn: &Connection, topic: &str, limit: Duration) -> Option<store::DecodedMessage> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        let mut q = RemotingCommand::request(request::GET_MAX_OFFSET);
        q.ext_mut().insert("topic", topic);
        q.ext_mut().insert("queueId", "0");
        if ask(conn, q).await.ext().get("offset") == Some("1") {
            let mut pull = RemotingCommand::request(request::PULL_MESSAGE);
            for (k, v) in [
                ("consumerGroup", "sb_cg"),
                ("topic", topic),
                ("queueId", "0"),
                ("queueOffset", "0"),
                ("maxMsgNums", "1"),
                ("sysFlag", "4"),
                ("commitOffset", "0"),
                ("suspendTimeoutMillis", "0"),
                ("subscription", "*"),
                ("subVersion", "0"),
            ] {
                pull.ext_mut().insert(k, v);
            }
            let found = ask(conn, pull).await;
            assert_eq!(found.code, response::SUCCESS, "{:?}", found.remark);
            return store::decode_messages(&found.body).into_iter().next();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn handed_back_messages_are_retried_later_or_dead_lettered() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    let mut commit_log_offsets = Vec::new();
    for i in 0..2 {
        let header = SendMessageRequestHeader {
            producer_group: "sb_pg".into(),
            topic: "SendBackTopic".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 1,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 0,
            flag: 0,
            properties: Some(format!("TAGS\u{1}T\u{2}KEYS\u{1}key{i}")),
            reconsume_times: Some(0),
            unit_mode: None,
            batch: None,
            max_reconsume_times: None,
        };
        let sent = ask(
            &conn,
            RemotingCommand::request_with_header(request::SEND_MESSAGE, &header).with_body(&b"body"[..]),
        )
        .await;
        assert_eq!(sent.code, response::SUCCESS);
        let (_, offset) = store::decode_offset_msg_id(sent.ext().get("msgId").unwrap()).unwrap();
        commit_log_offsets.push(offset);
    }

    let back = |offset: i64, delay_level: i32| {
        RemotingCommand::request_with_header(
            request::CONSUMER_SEND_MSG_BACK,
            &ConsumerSendMsgBackRequestHeader {
                offset,
                group: "sb_cg".into(),
                delay_level,
                origin_msg_id: None,
                origin_topic: Some("SendBackTopic".into()),
                unit_mode: None,
                max_reconsume_times: None,
            },
        )
    };
    // Level 1 is one second: first parked, then delivered to %RETRY%sb_cg.
    assert_eq!(ask(&conn, back(commit_log_offsets[0], 1)).await.code, response::SUCCESS);
    let retried = first_message(&conn, "%RETRY%sb_cg", Duration::from_secs(15))
        .await
        .expect("retried after its delay");
    assert_eq!(retried.keys(), Some("key0"));
    assert_eq!(retried.reconsume_times, 1);
    assert_eq!(retried.property("RETRY_TOPIC"), Some("SendBackTopic"));
    // As Java's ScheduleMessageService delivers it: the scheduling properties stay.
    assert_eq!(retried.property("DELAY"), Some("1"));
    assert_eq!(retried.property("REAL_TOPIC"), Some("%RETRY%sb_cg"));
    assert_eq!(retried.property("REAL_QID"), Some("0"));

    // A negative level sends it straight to the dead-letter topic.
    assert_eq!(
        ask(&conn, back(commit_log_offsets[1], -1)).await.code,
        response::SUCCESS
    );
    let dead = first_message(&conn, "%DLQ%sb_cg", Duration::from_secs(5))
        .await
        .expect("dead-lettered");
    assert_eq!(dead.keys(), Some("key1"));

    // An offset with no message behind it.
    let answer = ask(&conn, back(1 << 40, 0)).await;
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert!(answer.remark.unwrap().starts_with("look message by offset failed"));
    broker.broker.shutdown().await;
}
