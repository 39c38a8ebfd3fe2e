//! SQL92 subscriptions over TCP against a running broker: the Java client's recorded
//! heartbeat and CHECK_CLIENT_CONFIG, pulls that return exactly the matching messages while
//! the offset moves over the rest, bad expressions, and `enablePropertyFilter=false`.

use std::time::Duration;

use compat_tests::golden;
use compat_tests::process::{connect, InProcessBroker};
use remoting::code::{request, response};
use remoting::header::broker::{CreateTopicRequestHeader, PullMessageRequestHeader, SendMessageRequestHeader};
use remoting::{Connection, RemotingCommand};

const EXPR: &str = "a between 0 and 3 and b = 'x'";

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(5)).await.unwrap()
}

/// FilterTopic with one queue and the 12 messages of golden 14: a = i % 6, b = x for even
/// i, tags TagA / TagB.
async fn setup(conn: &Connection) {
    let header = CreateTopicRequestHeader::read_write("FilterTopic", 1);
    let answer = ask(
        conn,
        RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS);
    for i in 0..12 {
        let b = if i % 2 == 0 { "x" } else { "y" };
        let tag = if i % 3 == 0 { "TagA" } else { "TagB" };
        let header = SendMessageRequestHeader {
            producer_group: "pg_filter".into(),
            topic: "FilterTopic".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 0,
            flag: 0,
            properties: Some(format!("a\u{1}{}\u{2}b\u{1}{b}\u{2}TAGS\u{1}{tag}", i % 6)),
            reconsume_times: Some(0),
            unit_mode: None,
            batch: None,
            max_reconsume_times: None,
        };
        let sent = ask(
            conn,
            RemotingCommand::request_with_header(request::SEND_MESSAGE, &header)
                .with_body(format!("f{i}").into_bytes()),
        )
        .await;
        assert_eq!(sent.code, response::SUCCESS);
    }
}

fn pull_header(group: &str, offset: i64, subscription: Option<(&str, &str)>) -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        consumer_group: group.into(),
        sys_flag: if subscription.is_some() { 0x4 } else { 0 },
        subscription: subscription.map(|(s, _)| s.to_string()),
        expression_type: subscription.map(|(_, t)| t.to_string()),
        ..compat_tests::broker_ops::pull_header("FilterTopic", 0, offset, 32)
    }
}

/// Pulls from 0 to the end: the bodies delivered and the offset reached.
async fn pull_all(conn: &Connection, group: &str, subscription: Option<(&str, &str)>) -> (Vec<String>, Vec<i32>) {
    let mut bodies = Vec::new();
    let mut codes = Vec::new();
    let mut offset = 0;
    while offset < 12 {
        let h = pull_header(group, offset, subscription);
        let answer = ask(conn, RemotingCommand::request_with_header(request::PULL_MESSAGE, &h)).await;
        codes.push(answer.code);
        let next: i64 = answer.ext().get("nextBeginOffset").unwrap().parse().unwrap();
        if answer.code == response::SUCCESS {
            for m in store::decode_messages(&answer.body) {
                bodies.push(String::from_utf8(m.body.to_vec()).unwrap());
            }
        } else {
            assert_eq!(answer.code, response::PULL_RETRY_IMMEDIATELY, "{:?}", answer.remark);
            assert_eq!(answer.remark.as_deref(), Some("NO_MATCHED_MESSAGE"));
        }
        assert!(next > offset, "the offset moves over filtered messages");
        offset = next;
    }
    (bodies, codes)
}

#[tokio::test]
async fn sql92_pulls_return_exactly_the_matching_messages() {
    let broker = InProcessBroker::start(&[("enablePropertyFilter", "true")]).await;
    let conn = connect(&broker.addr).await;
    setup(&conn).await;

    // The subscription in the pull header.
    let (bodies, _) = pull_all(&conn, "cg_sql_header", Some((EXPR, "SQL92"))).await;
    assert_eq!(bodies, ["f0", "f2", "f6", "f8"]);

    // Nothing matches: PULL_RETRY_IMMEDIATELY with NO_MATCHED_MESSAGE, offset moved.
    let h = pull_header("cg_sql_header", 0, Some(("a > 100", "SQL92")));
    let answer = ask(&conn, RemotingCommand::request_with_header(request::PULL_MESSAGE, &h)).await;
    assert_eq!(answer.code, response::PULL_RETRY_IMMEDIATELY);
    assert_eq!(answer.ext().get("nextBeginOffset"), Some("12"));

    // TAGS is a property like any other.
    let (bodies, _) = pull_all(&conn, "cg_sql_header", Some(("TAGS = 'TagA' AND a >= 3", "SQL92"))).await;
    assert_eq!(bodies, ["f3", "f9"]);

    // The subscription from the Java client's recorded heartbeat (golden 14).
    let frames = golden::load_frames("14");
    let heartbeat = frames
        .iter()
        .find(|f| f.code == request::HEART_BEAT && f.body_text.as_deref().is_some_and(|t| t.contains("SQL92")))
        .unwrap();
    let answer = ask(&conn, heartbeat.to_command()).await;
    assert_eq!(answer.code, response::SUCCESS);
    let (bodies, _) = pull_all(&conn, "cg_sql", None).await;
    assert_eq!(bodies, ["f0", "f2", "f6", "f8"]);
    // Persisted as Java's ConsumerFilterManager writes it.
    broker.broker.state().filters.persist();
    let stored = std::fs::read_to_string(broker.dir.path().join("store/config/consumerFilter.json")).unwrap();
    assert!(stored.contains("\"filterDataByTopic\""), "{stored}");
    assert!(stored.contains("a between 0 and 3 and b = 'x'"), "{stored}");
    assert!(stored.contains("\"clientVersion\":1795968329794"), "{stored}");

    // The recorded CHECK_CLIENT_CONFIG is accepted.
    let check = frames.iter().find(|f| f.code == request::CHECK_CLIENT_CONFIG).unwrap();
    assert_eq!(ask(&conn, check.to_command()).await.code, response::SUCCESS);
}

fn check_client_config(expression: &str) -> RemotingCommand {
    let body = serde_json::json!({
        "clientId": "c@1#1",
        "group": "cg_bad",
        "subscriptionData": {
            "classFilterMode": false, "codeSet": [], "expressionType": "SQL92",
            "subString": expression, "subVersion": 1, "tagsSet": [], "topic": "FilterTopic"
        }
    });
    RemotingCommand::request(request::CHECK_CLIENT_CONFIG).with_body(serde_json::to_vec(&body).unwrap())
}

#[tokio::test]
async fn bad_expressions_are_refused_without_hurting_other_consumers() {
    let broker = InProcessBroker::start(&[("enablePropertyFilter", "true")]).await;
    let conn = connect(&broker.addr).await;
    setup(&conn).await;

    let answer = ask(&conn, check_client_config("a between and")).await;
    assert_eq!(answer.code, response::SUBSCRIPTION_PARSE_FAILED);
    assert!(answer.remark.is_some_and(|r| !r.is_empty()));

    // A pull whose header expression does not compile is refused (Java would deliver
    // everything unfiltered; see docs/protocol.md).
    let h = pull_header("cg_bad", 0, Some(("a = = 1", "SQL92")));
    let answer = ask(&conn, RemotingCommand::request_with_header(request::PULL_MESSAGE, &h)).await;
    assert_eq!(answer.code, response::SUBSCRIPTION_PARSE_FAILED);
    assert_eq!(
        answer.remark.as_deref(),
        Some("parse the consumer's subscription failed")
    );

    // A heartbeat with a bad expression registers no filter: its pulls say so.
    let heartbeat = r#"{"clientID":"c@1#1","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg_bad","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"SQL92","subString":"a in (","subVersion":5,"tagsSet":[],"topic":"FilterTopic"}],"unitMode":false}],"producerDataSet":[]}"#;
    let answer = ask(
        &conn,
        RemotingCommand::request(request::HEART_BEAT).with_body(heartbeat.as_bytes().to_vec()),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS);
    let h = pull_header("cg_bad", 0, None);
    let answer = ask(&conn, RemotingCommand::request_with_header(request::PULL_MESSAGE, &h)).await;
    assert_eq!(answer.code, response::FILTER_DATA_NOT_EXIST);
    assert_eq!(
        answer.remark.as_deref(),
        Some("The broker's consumer filter data is not exist!Your expression may be wrong!")
    );

    // Another consumer on the same topic is unaffected.
    let (bodies, _) = pull_all(&conn, "cg_good", Some(("b = 'y'", "SQL92"))).await;
    assert_eq!(bodies, ["f1", "f3", "f5", "f7", "f9", "f11"]);
    let (bodies, _) = pull_all(&conn, "cg_tag", Some(("TagA", "TAG"))).await;
    assert_eq!(bodies, ["f0", "f3", "f6", "f9"]);
}

#[tokio::test]
async fn sql92_is_refused_unless_enable_property_filter() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    setup(&conn).await;
    let remark = Some("The broker does not support consumer to filter message by SQL92");
    let answer = ask(&conn, check_client_config(EXPR)).await;
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert_eq!(answer.remark.as_deref(), remark);
    let h = pull_header("cg_sql", 0, Some((EXPR, "SQL92")));
    let answer = ask(&conn, RemotingCommand::request_with_header(request::PULL_MESSAGE, &h)).await;
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert_eq!(answer.remark.as_deref(), remark);
    // Tag subscriptions work as before.
    let (bodies, _) = pull_all(&conn, "cg_tag", Some(("TagB", "TAG"))).await;
    assert_eq!(bodies.len(), 8);
}
