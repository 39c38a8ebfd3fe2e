//! The admin calls the broker relays to its consumers, over TCP: INVOKE_BROKER_TO_RESET_OFFSET
//! (222, pushing RESET_CONSUMER_CLIENT_OFFSET 220), INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223,
//! asking GET_CONSUMER_STATUS_FROM_CLIENT 221), GET_CONSUMER_RUNNING_INFO (307) and
//! CONSUME_MESSAGE_DIRECTLY (309). The consumer is a connection of our own that sends the
//! heartbeat a Java 4.9.8 consumer sends and answers the broker's calls the way golden 12's
//! Java consumer did; what the broker forwards and answers is checked against golden 12.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use compat_tests::golden;
use compat_tests::process::InProcessBroker;
use remoting::code::{request, response};
use remoting::connection::{BoxFuture, RequestHandler};
use remoting::header::broker::{CreateTopicRequestHeader, SendMessageRequestHeader, UpdateConsumerOffsetRequestHeader};
use remoting::{fastjson, Connection, ConnectionLimits, RemotingCommand};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "ResetTopic";
const GROUP: &str = "cg_reset";
const CLIENT_ID: &str = "127.0.0.1@4242#77";

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(15)).await.unwrap()
}

fn with_ext(code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(code);
    for (k, v) in fields {
        cmd.ext_mut().insert(*k, *v);
    }
    cmd
}

/// What the test consumer was asked by the broker.
#[derive(Default)]
struct Seen {
    requests: Vec<RemotingCommand>,
}

/// Answers the broker's calls as golden 12's Java consumer did; never answers 307 when told
/// to stay silent.
struct TestConsumer {
    seen: Arc<Mutex<Seen>>,
}

const RUNNING_INFO: &str =
    r#"{"jstack":"","mqTable":{},"properties":{"PROP_CLIENT_VERSION":"V4_9_8"},"statusTable":{},"subscriptionSet":[]}"#;
const DIRECT_RESULT: &str = r#"{"autoCommit":true,"consumeResult":"CR_SUCCESS","order":false,"spentTimeMills":3}"#;

impl RequestHandler for TestConsumer {
    fn handle(&self, _conn: Connection, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        self.seen.lock().unwrap().requests.push(request.clone());
        let answer = match request.code {
            request::GET_CONSUMER_STATUS_FROM_CLIENT => Some(
                format!(
                    r#"{{"consumerTable":{{}},"messageQueueTable":{{{{"brokerName":"broker-a","queueId":1,"topic":"{TOPIC}"}}:4,{{"brokerName":"broker-a","queueId":0,"topic":"{TOPIC}"}}:5}}}}"#
                )
                .into_bytes(),
            ),
            request::GET_CONSUMER_RUNNING_INFO => Some(RUNNING_INFO.as_bytes().to_vec()),
            request::CONSUME_MESSAGE_DIRECTLY => Some(DIRECT_RESULT.as_bytes().to_vec()),
            _ => None,
        };
        Box::pin(async move {
            let body = answer?;
            Some(
                RemotingCommand::success(&request)
                    .with_remark("not set any response code")
                    .with_body(body),
            )
        })
    }
}

async fn consumer_connection(addr: &str, seen: Arc<Mutex<Seen>>) -> Connection {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    Connection::spawn_with(
        stream,
        Arc::new(TestConsumer { seen }),
        ConnectionLimits::default(),
        CancellationToken::new(),
    )
    .unwrap()
}

async fn admin_connection(addr: &str) -> Connection {
    compat_tests::process::connect(addr).await
}

async fn heartbeat(conn: &Connection, version: i32) {
    let body = format!(
        r#"{{"clientID":"{CLIENT_ID}","consumerDataSet":[{{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"{GROUP}","messageModel":"CLUSTERING","subscriptionDataSet":[{{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,"tagsSet":[],"topic":"{TOPIC}"}}],"unitMode":false}}],"producerDataSet":[]}}"#
    );
    let mut hb = RemotingCommand::request(request::HEART_BEAT).with_body(body.into_bytes());
    hb.version = version;
    assert_eq!(ask(conn, hb).await.code, response::SUCCESS);
}

async fn send(conn: &Connection, queue_id: i32, body: &str) -> String {
    let header = SendMessageRequestHeader {
        producer_group: "pg_reset".into(),
        topic: TOPIC.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 0,
        flag: 0,
        properties: Some("TAGS\u{1}T".into()),
        reconsume_times: Some(0),
        unit_mode: None,
        batch: None,
        max_reconsume_times: None,
    };
    let req = RemotingCommand::request_with_header(request::SEND_MESSAGE, &header).with_body(body.as_bytes().to_vec());
    let res = ask(conn, req).await;
    assert_eq!(res.code, response::SUCCESS);
    res.ext().get("msgId").unwrap().to_string()
}

async fn commit(conn: &Connection, queue_id: i32, offset: i64) {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id,
        commit_offset: offset,
    };
    let res = ask(
        conn,
        RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &header),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
}

async fn stored_offset(conn: &Connection, queue_id: i32) -> i64 {
    let q = queue_id.to_string();
    let res = ask(
        conn,
        with_ext(
            request::QUERY_CONSUMER_OFFSET,
            &[("consumerGroup", GROUP), ("topic", TOPIC), ("queueId", q.as_str())],
        ),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS, "{:?}", res.remark);
    res.ext().get("offset").unwrap().parse().unwrap()
}

/// A MessageQueue-keyed offset table (`{"offsetTable":{{mq}:n}}`) by queue id.
fn offsets_by_queue(table: &Value) -> BTreeMap<i64, i64> {
    table
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let mq: Value = serde_json::from_str(k).unwrap();
            assert_eq!(mq["topic"], TOPIC);
            assert_eq!(mq["brokerName"], "broker-a");
            (mq["queueId"].as_i64().unwrap(), v.as_i64().unwrap())
        })
        .collect()
}

fn ext_keys(cmd: &RemotingCommand) -> Vec<String> {
    let mut keys: Vec<String> = cmd.ext().iter().map(|(k, _)| k.to_string()).collect();
    keys.sort();
    keys
}

/// Ext keys of golden 12's first frame with `code` in direction `dir`, signature fields left out.
fn golden_ext_keys(code: i32, dir: &str) -> Vec<String> {
    let frame = golden::load_frames("12-reset-offset")
        .into_iter()
        .find(|f| f.code == code && f.dir == dir)
        .unwrap_or_else(|| panic!("golden 12 has a {dir} {code}"));
    let mut keys: Vec<String> = frame
        .header
        .get("extFields")
        .and_then(|e| e.as_object())
        .map(|e| {
            e.keys()
                .filter(|k| *k != "AccessKey" && *k != "Signature")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

async fn create_topic(conn: &Connection) {
    let header = CreateTopicRequestHeader::read_write(TOPIC, 2);
    let res = ask(
        conn,
        RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
}

async fn wait_for<F: Fn(&Seen) -> bool>(seen: &Arc<Mutex<Seen>>, done: F) {
    for _ in 0..200 {
        if done(&seen.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the consumer was not called");
}

#[tokio::test]
async fn reset_offset_by_time_pushes_to_the_consumer_and_moves_stored_offsets() {
    let broker = InProcessBroker::start(&[]).await;
    let admin = admin_connection(&broker.addr).await;
    create_topic(&admin).await;
    // Five messages per queue, then a pause, the reset time, and five more per queue.
    for i in 0..10 {
        send(&admin, i % 2, &format!("before-{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let reset_to = remoting::protocol::topic::now_millis();
    for i in 0..10 {
        send(&admin, i % 2, &format!("after-{i}")).await;
    }

    let reset = |timestamp: i64, force: bool| {
        let ts = timestamp.to_string();
        with_ext(
            request::INVOKE_BROKER_TO_RESET_OFFSET,
            &[
                ("topic", TOPIC),
                ("group", GROUP),
                ("timestamp", ts.as_str()),
                ("isForce", if force { "true" } else { "false" }),
            ],
        )
    };

    // The group has no committed offsets yet.
    let res = ask(&admin, reset(reset_to, true)).await;
    assert_eq!(res.code, response::SYSTEM_ERROR);
    assert_eq!(res.remark.as_deref(), Some("THe consumer group <cg_reset> not exist"));
    // Unknown topic.
    let res = ask(
        &admin,
        with_ext(
            request::INVOKE_BROKER_TO_RESET_OFFSET,
            &[
                ("topic", "NoSuchTopic"),
                ("group", GROUP),
                ("timestamp", "-1"),
                ("isForce", "true"),
            ],
        ),
    )
    .await;
    assert_eq!(res.code, response::SYSTEM_ERROR);
    assert_eq!(
        res.remark.as_deref(),
        Some("[reset-offset] reset offset failed, no topic in this broker. topic=NoSuchTopic")
    );

    // Consumed everything, but no consumer online: Java's CONSUMER_NOT_ONLINE.
    commit(&admin, 0, 10).await;
    commit(&admin, 1, 10).await;
    let res = ask(&admin, reset(reset_to, true)).await;
    assert_eq!(res.code, response::CONSUMER_NOT_ONLINE);
    assert_eq!(
        res.remark.unwrap(),
        format!("Consumer not online, so can not reset offset, Group: {GROUP} Topic: {TOPIC} Timestamp: {reset_to}")
    );

    let seen = Arc::new(Mutex::new(Seen::default()));
    let consumer = consumer_connection(&broker.addr, seen.clone()).await;
    heartbeat(&consumer, 409).await;

    // Back to the reset time: each queue to its first message stored after it (offset 5).
    let res = ask(&admin, reset(reset_to, true)).await;
    assert_eq!(res.code, response::SUCCESS, "{:?}", res.remark);
    let body = fastjson::parse(&res.body).unwrap();
    assert_eq!(offsets_by_queue(&body["offsetTable"]), BTreeMap::from([(0, 5), (1, 5)]));
    wait_for(&seen, |s| {
        s.requests
            .iter()
            .any(|r| r.code == request::RESET_CONSUMER_CLIENT_OFFSET)
    })
    .await;
    let push = seen
        .lock()
        .unwrap()
        .requests
        .iter()
        .find(|r| r.code == request::RESET_CONSUMER_CLIENT_OFFSET)
        .cloned()
        .unwrap();
    assert!(push.is_oneway());
    assert_eq!(
        ext_keys(&push),
        golden_ext_keys(request::RESET_CONSUMER_CLIENT_OFFSET, "push")
    );
    // As in golden 12, the push says isForce=false whatever the admin asked.
    assert_eq!(push.ext().get("isForce"), Some("false"));
    assert_eq!(push.ext().get("timestamp"), Some(reset_to.to_string().as_str()));
    let pushed = fastjson::parse(&push.body).unwrap();
    assert_eq!(
        offsets_by_queue(&pushed["offsetTable"]),
        BTreeMap::from([(0, 5), (1, 5)])
    );
    assert_eq!(stored_offset(&admin, 0).await, 5);
    assert_eq!(stored_offset(&admin, 1).await, 5);

    // Without isForce an offset only moves back: the end (-1) is ahead of 5, so 5 stays.
    let res = ask(&admin, reset(-1, false)).await;
    assert_eq!(res.code, response::SUCCESS);
    let body = fastjson::parse(&res.body).unwrap();
    assert_eq!(offsets_by_queue(&body["offsetTable"]), BTreeMap::from([(0, 5), (1, 5)]));
    // With it, -1 skips to the end (mqadmin skipAccumulatedMessage).
    let res = ask(&admin, reset(-1, true)).await;
    let body = fastjson::parse(&res.body).unwrap();
    assert_eq!(
        offsets_by_queue(&body["offsetTable"]),
        BTreeMap::from([(0, 10), (1, 10)])
    );
    assert_eq!(stored_offset(&admin, 1).await, 10);

    // A client older than V3_0_7_SNAPSHOT cannot take the push.
    heartbeat(&consumer, 20).await;
    let res = ask(&admin, reset(-1, true)).await;
    assert_eq!(res.code, response::SYSTEM_ERROR);
    assert_eq!(
        res.remark.as_deref(),
        Some("the client does not support this feature. version=V3_0_3_SNAPSHOT")
    );
}

#[tokio::test]
async fn status_running_info_and_direct_consume_are_relayed_to_the_named_consumer() {
    let broker = InProcessBroker::start(&[]).await;
    let admin = admin_connection(&broker.addr).await;
    create_topic(&admin).await;
    let msg_id = send(&admin, 0, "consume me directly").await;

    // Nobody online yet.
    let res = ask(
        &admin,
        with_ext(
            request::GET_CONSUMER_RUNNING_INFO,
            &[
                ("consumerGroup", GROUP),
                ("clientId", CLIENT_ID),
                ("jstackEnable", "false"),
            ],
        ),
    )
    .await;
    assert_eq!(res.code, response::SYSTEM_ERROR);
    assert_eq!(
        res.remark.unwrap(),
        format!("The Consumer <{GROUP}> <{CLIENT_ID}> not online")
    );

    let seen = Arc::new(Mutex::new(Seen::default()));
    let consumer = consumer_connection(&broker.addr, seen.clone()).await;
    heartbeat(&consumer, 409).await;

    // 223 -> 221: the consumer's table comes back under its client id.
    let res = ask(
        &admin,
        with_ext(
            request::INVOKE_BROKER_TO_GET_CONSUMER_STATUS,
            &[("topic", TOPIC), ("group", GROUP), ("clientAddr", "")],
        ),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS, "{:?}", res.remark);
    let body = fastjson::parse(&res.body).unwrap();
    assert_eq!(body["messageQueueTable"], serde_json::json!({}));
    assert_eq!(
        offsets_by_queue(&body["consumerTable"][CLIENT_ID]),
        BTreeMap::from([(0, 5), (1, 4)])
    );
    {
        let s = seen.lock().unwrap();
        let ask_status = s
            .requests
            .iter()
            .find(|r| r.code == request::GET_CONSUMER_STATUS_FROM_CLIENT)
            .unwrap();
        assert_eq!(
            ext_keys(ask_status),
            golden_ext_keys(request::GET_CONSUMER_STATUS_FROM_CLIENT, "push")
        );
    }

    // 307: the admin's ext fields (signature included) go to the client, its answer comes back.
    let res = ask(
        &admin,
        with_ext(
            request::GET_CONSUMER_RUNNING_INFO,
            &[
                ("consumerGroup", GROUP),
                ("clientId", CLIENT_ID),
                ("jstackEnable", "false"),
                ("AccessKey", "rocketmq2"),
                ("Signature", "c2lnbmF0dXJl"),
            ],
        ),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    assert_eq!(res.remark.as_deref(), Some("not set any response code"));
    assert_eq!(&res.body[..], RUNNING_INFO.as_bytes());
    {
        let s = seen.lock().unwrap();
        let relayed = s
            .requests
            .iter()
            .find(|r| r.code == request::GET_CONSUMER_RUNNING_INFO)
            .unwrap();
        assert_eq!(relayed.ext().get("Signature"), Some("c2lnbmF0dXJl"));
        assert_eq!(relayed.ext().get("clientId"), Some(CLIENT_ID));
    }

    // 309: the stored message goes to the client with the broker's name.
    let res = ask(
        &admin,
        with_ext(
            request::CONSUME_MESSAGE_DIRECTLY,
            &[
                ("consumerGroup", GROUP),
                ("clientId", CLIENT_ID),
                ("msgId", msg_id.as_str()),
            ],
        ),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS, "{:?}", res.remark);
    assert_eq!(&res.body[..], DIRECT_RESULT.as_bytes());
    {
        let s = seen.lock().unwrap();
        let relayed = s
            .requests
            .iter()
            .find(|r| r.code == request::CONSUME_MESSAGE_DIRECTLY)
            .unwrap();
        let mut expected = golden_ext_keys(request::CONSUME_MESSAGE_DIRECTLY, "push");
        expected.retain(|k| k != "AccessKey" && k != "Signature");
        assert_eq!(ext_keys(relayed), expected);
        assert_eq!(relayed.ext().get("brokerName"), Some("broker-a"));
        let msg = store::codec::decode_message(&relayed.body).unwrap();
        assert_eq!(&msg.body[..], b"consume me directly");
        assert_eq!(msg.topic, TOPIC);
    }

    // A message id that names nothing.
    let res = ask(
        &admin,
        with_ext(
            request::CONSUME_MESSAGE_DIRECTLY,
            &[
                ("consumerGroup", GROUP),
                ("clientId", CLIENT_ID),
                ("msgId", "7F00000100002A9F00000000FFFFFFFF"),
            ],
        ),
    )
    .await;
    assert_eq!(res.code, response::SYSTEM_ERROR);

    // A client older than V3_1_8_SNAPSHOT is not called.
    heartbeat(&consumer, 61).await;
    let res = ask(
        &admin,
        with_ext(
            request::GET_CONSUMER_RUNNING_INFO,
            &[("consumerGroup", GROUP), ("clientId", CLIENT_ID)],
        ),
    )
    .await;
    assert_eq!(res.code, response::SYSTEM_ERROR);
    assert_eq!(
        res.remark.unwrap(),
        format!("The Consumer <{CLIENT_ID}> Version <V3_1_7> too low to finish, please upgrade it to V3_1_8_SNAPSHOT")
    );
}
