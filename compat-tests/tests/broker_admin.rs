//! The broker's admin views over TCP: topic and consume stats, connection lists, offset
//! tables, the consume queue, broker config read and update, and the maintenance codes.
//! Every body is checked against what the test did and its keys against the Java broker's
//! answers in golden 12 and 13.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use compat_tests::golden;
use compat_tests::process::{connect, InProcessBroker};
use remoting::code::{request, response};
use remoting::fastjson;
use remoting::header::broker::{CreateTopicRequestHeader, SendMessageRequestHeader, UpdateConsumerOffsetRequestHeader};
use remoting::{Connection, RemotingCommand};
use serde_json::Value;

const TOPIC: &str = "AdminTopic";
const GROUP: &str = "cg_admin";

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(5)).await.unwrap()
}

fn with_ext(code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
    let mut req = RemotingCommand::request(code);
    for (k, v) in fields {
        req.ext_mut().insert(k, v);
    }
    req
}

fn body_json(res: &RemotingCommand) -> Value {
    fastjson::parse(&res.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&res.body)))
}

/// The key set of the Java broker's answer to the first `code` request in a golden file.
fn golden_keys(file: &str, code: i32) -> BTreeSet<String> {
    let frames = golden::load_frames(file);
    let req = frames.iter().find(|f| f.is_request() && f.code == code).unwrap();
    let res = golden::response_to(&frames, req).unwrap();
    let v = fastjson::parse(&res.body()).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// A 4-queue topic with 30 messages (8, 8, 7, 7), a consumer of GROUP and a producer
/// online on `conn`, and the group's offsets committed at 5 per queue: 20 consumed.
async fn setup(conn: &Connection) {
    let header = CreateTopicRequestHeader::read_write(TOPIC, 4);
    let answer = ask(
        conn,
        RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS);
    for i in 0..30 {
        let header = SendMessageRequestHeader {
            producer_group: "pg_admin".into(),
            topic: TOPIC.into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: i % 4,
            sys_flag: 0,
            born_timestamp: 0,
            flag: 0,
            properties: Some("TAGS\u{1}TagA".into()),
            reconsume_times: Some(0),
            unit_mode: None,
            batch: None,
            max_reconsume_times: None,
        };
        let sent = ask(
            conn,
            RemotingCommand::request_with_header(request::SEND_MESSAGE, &header)
                .with_body(format!("m{i}").into_bytes()),
        )
        .await;
        assert_eq!(sent.code, response::SUCCESS);
    }
    let heartbeat = format!(
        r#"{{"clientID":"127.0.0.1@admin#1","consumerDataSet":[{{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"{GROUP}","messageModel":"CLUSTERING","subscriptionDataSet":[{{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":7,"tagsSet":[],"topic":"{TOPIC}"}}],"unitMode":false}}],"producerDataSet":[{{"groupName":"pg_admin"}}]}}"#
    );
    let mut hb = RemotingCommand::request(request::HEART_BEAT).with_body(heartbeat.into_bytes());
    hb.version = 409;
    assert_eq!(ask(conn, hb).await.code, response::SUCCESS);
    for queue_id in 0..4 {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: GROUP.into(),
            topic: TOPIC.into(),
            queue_id,
            commit_offset: 5,
        };
        let answer = ask(
            conn,
            RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &header),
        )
        .await;
        assert_eq!(answer.code, response::SUCCESS);
    }
}

/// Sums a MessageQueue-keyed table's `field`, checking each key names our topic.
fn sum_by_queue(table: &Value, field: &str) -> (i64, usize) {
    let table = table.as_object().unwrap();
    let mut sum = 0;
    for (key, value) in table {
        let mq: Value = serde_json::from_str(key).unwrap();
        assert_eq!(keys(&mq), ["brokerName", "queueId", "topic"].map(String::from).into());
        assert_eq!(mq["brokerName"], "broker-a");
        sum += value[field].as_i64().unwrap();
    }
    (sum, table.len())
}

#[tokio::test]
async fn stats_connections_and_offsets_add_up() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    setup(&conn).await;

    // GET_TOPIC_STATS_INFO: four queues whose max offsets add up to 30.
    let res = ask(&conn, with_ext(request::GET_TOPIC_STATS_INFO, &[("topic", TOPIC)])).await;
    assert_eq!(res.code, response::SUCCESS);
    let v = body_json(&res);
    assert_eq!(keys(&v), golden_keys("13", request::GET_TOPIC_STATS_INFO));
    assert_eq!(sum_by_queue(&v["offsetTable"], "maxOffset"), (30, 4));
    assert_eq!(sum_by_queue(&v["offsetTable"], "minOffset"), (0, 4));
    for entry in v["offsetTable"].as_object().unwrap().values() {
        assert_eq!(
            keys(entry),
            ["lastUpdateTimestamp", "maxOffset", "minOffset"]
                .map(String::from)
                .into()
        );
        assert!(entry["lastUpdateTimestamp"].as_i64().unwrap() > 1_600_000_000_000);
    }
    let res = ask(
        &conn,
        with_ext(request::GET_TOPIC_STATS_INFO, &[("topic", "NoSuchTopic")]),
    )
    .await;
    assert_eq!(res.code, response::TOPIC_NOT_EXIST);
    assert_eq!(res.remark.as_deref(), Some("topic[NoSuchTopic] not exist"));

    // GET_CONSUME_STATS: consumed 20 of 30, so the lag is 10.
    for topic in [Some(TOPIC), None] {
        let mut fields = vec![("consumerGroup", GROUP)];
        if let Some(t) = topic {
            fields.push(("topic", t));
        }
        let res = ask(&conn, with_ext(request::GET_CONSUME_STATS, &fields)).await;
        assert_eq!(res.code, response::SUCCESS);
        let v = body_json(&res);
        assert_eq!(keys(&v), golden_keys("13", request::GET_CONSUME_STATS));
        assert!(v["consumeTps"].is_number());
        let (broker_total, queues) = sum_by_queue(&v["offsetTable"], "brokerOffset");
        let (consumer_total, _) = sum_by_queue(&v["offsetTable"], "consumerOffset");
        assert_eq!((broker_total, consumer_total, queues), (30, 20, 4));
        for entry in v["offsetTable"].as_object().unwrap().values() {
            assert!(
                entry["lastTimestamp"].as_i64().unwrap() > 0,
                "the 5th message's store time"
            );
        }
    }

    // GET_CONSUMER_CONNECTION_LIST: our connection, with the heartbeat's header and body.
    let res = ask(
        &conn,
        with_ext(request::GET_CONSUMER_CONNECTION_LIST, &[("consumerGroup", GROUP)]),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    let v = body_json(&res);
    assert_eq!(keys(&v), golden_keys("13", request::GET_CONSUMER_CONNECTION_LIST));
    let connections = v["connectionSet"].as_array().unwrap();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0]["clientId"], "127.0.0.1@admin#1");
    assert_eq!(connections[0]["version"], 409);
    assert!(connections[0]["clientAddr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(v["consumeFromWhere"], "CONSUME_FROM_FIRST_OFFSET");
    assert_eq!(v["subscriptionTable"][TOPIC]["subVersion"], 7);
    assert_eq!(v["subscriptionTable"][TOPIC]["expressionType"], "TAG");
    let res = ask(
        &conn,
        with_ext(request::GET_CONSUMER_CONNECTION_LIST, &[("consumerGroup", "nobody")]),
    )
    .await;
    assert_eq!(res.code, response::CONSUMER_NOT_ONLINE);
    assert_eq!(res.remark.as_deref(), Some("the consumer group[nobody] not online"));

    // GET_PRODUCER_CONNECTION_LIST and GET_ALL_PRODUCER_INFO.
    let res = ask(
        &conn,
        with_ext(request::GET_PRODUCER_CONNECTION_LIST, &[("producerGroup", "pg_admin")]),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    let v = body_json(&res);
    assert_eq!(keys(&v), golden_keys("12", request::GET_PRODUCER_CONNECTION_LIST));
    assert_eq!(v["connectionSet"][0]["clientId"], "127.0.0.1@admin#1");
    let res = ask(
        &conn,
        with_ext(request::GET_PRODUCER_CONNECTION_LIST, &[("producerGroup", "nobody")]),
    )
    .await;
    assert_eq!(res.code, response::SYSTEM_ERROR);
    assert_eq!(res.remark.as_deref(), Some("the producer group[nobody] not exist"));
    let res = ask(&conn, with_ext(request::GET_ALL_PRODUCER_INFO, &[])).await;
    let v = body_json(&res);
    assert_eq!(keys(&v), golden_keys("13", request::GET_ALL_PRODUCER_INFO));
    let info = &v["data"]["pg_admin"][0];
    assert_eq!(
        keys(info),
        ["clientId", "language", "lastUpdateTimestamp", "remoteIP", "version"]
            .map(String::from)
            .into()
    );
    assert!(info["remoteIP"].as_str().unwrap().starts_with("/127.0.0.1:"));

    // GET_ALL_CONSUMER_OFFSET: fastjson with bare queue ids, as slaves read it.
    let res = ask(&conn, with_ext(request::GET_ALL_CONSUMER_OFFSET, &[])).await;
    let text = String::from_utf8(res.body.to_vec()).unwrap();
    assert!(
        text.contains(&format!("\"{TOPIC}@{GROUP}\":{{0:5,1:5,2:5,3:5}}")),
        "{text}"
    );
    let res = ask(&conn, with_ext(request::GET_ALL_DELAY_OFFSET, &[])).await;
    assert_eq!(res.code, response::SUCCESS);
    assert!(body_json(&res)["offsetTable"].is_object());

    // QUERY_TOPIC_CONSUME_BY_WHO, then CLONE_GROUP_OFFSET adds a group with the same offsets.
    let by_who = |conn: &Connection| {
        let conn = conn.clone();
        async move {
            let res = ask(
                &conn,
                with_ext(request::QUERY_TOPIC_CONSUME_BY_WHO, &[("topic", TOPIC)]),
            )
            .await;
            let v = body_json(&res);
            assert_eq!(keys(&v), golden_keys("13", request::QUERY_TOPIC_CONSUME_BY_WHO));
            v["groupList"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(by_who(&conn).await, [GROUP]);
    let res = ask(
        &conn,
        with_ext(
            request::CLONE_GROUP_OFFSET,
            &[
                ("srcGroup", GROUP),
                ("destGroup", "cg_clone"),
                ("topic", TOPIC),
                ("offline", "false"),
            ],
        ),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    assert_eq!(by_who(&conn).await, ["cg_admin", "cg_clone"]);
    let res = ask(
        &conn,
        with_ext(
            request::QUERY_CONSUMER_OFFSET,
            &[("consumerGroup", "cg_clone"), ("topic", TOPIC), ("queueId", "2")],
        ),
    )
    .await;
    assert_eq!(res.ext().get("offset"), Some("5"));

    // QUERY_CONSUME_TIME_SPAN: one span per queue, consumed up to the 5th message's time.
    let res = ask(
        &conn,
        with_ext(request::QUERY_CONSUME_TIME_SPAN, &[("topic", TOPIC), ("group", GROUP)]),
    )
    .await;
    let v = body_json(&res);
    let spans = v["consumeTimeSpanSet"].as_array().unwrap();
    assert_eq!(spans.len(), 4);
    for span in spans {
        assert_eq!(
            keys(span),
            [
                "consumeTimeStamp",
                "delayTime",
                "maxTimeStamp",
                "messageQueue",
                "minTimeStamp"
            ]
            .map(String::from)
            .into()
        );
        let (min, consumed, max) = (
            span["minTimeStamp"].as_i64().unwrap(),
            span["consumeTimeStamp"].as_i64().unwrap(),
            span["maxTimeStamp"].as_i64().unwrap(),
        );
        assert!(min > 0 && min <= consumed && consumed <= max, "{span}");
        assert!(span["delayTime"].as_i64().unwrap() >= 0);
    }

    // QUERY_CORRECTION_OFFSET: the smallest offset of the other groups per queue.
    let res = ask(
        &conn,
        with_ext(
            request::QUERY_CORRECTION_OFFSET,
            &[
                ("topic", TOPIC),
                ("compareGroup", "cg_clone"),
                ("filterGroups", "cg_clone"),
            ],
        ),
    )
    .await;
    let text = String::from_utf8(res.body.to_vec()).unwrap();
    assert_eq!(text, "{\"correctionOffsets\":{0:5,1:5,2:5,3:5}}");
}

#[tokio::test]
async fn consume_queue_and_system_topics_as_java_reports_them() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    setup(&conn).await;

    let res = ask(
        &conn,
        with_ext(
            request::QUERY_CONSUME_QUEUE,
            &[
                ("topic", TOPIC),
                ("queueId", "0"),
                ("index", "0"),
                ("count", "5"),
                ("consumerGroup", GROUP),
            ],
        ),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    assert_eq!(res.remark.as_deref(), Some("not set any response code"));
    let v = body_json(&res);
    assert_eq!(keys(&v), golden_keys("13", request::QUERY_CONSUME_QUEUE));
    assert_eq!(v["filterData"], "null");
    assert_eq!(
        (v["minQueueIndex"].as_i64(), v["maxQueueIndex"].as_i64()),
        (Some(0), Some(8))
    );
    let units = v["queueData"].as_array().unwrap();
    assert_eq!(units.len(), 5);
    let tags_code = store::tags_hash_code("TagA");
    let mut last = -1;
    for unit in units {
        assert_eq!(
            keys(unit),
            ["eval", "physicOffset", "physicSize", "tagsCode"]
                .map(String::from)
                .into()
        );
        assert_eq!(unit["tagsCode"].as_i64(), Some(tags_code));
        let offset = unit["physicOffset"].as_i64().unwrap();
        assert!(offset > last);
        last = offset;
    }
    let res = ask(
        &conn,
        with_ext(
            request::QUERY_CONSUME_QUEUE,
            &[("topic", TOPIC), ("queueId", "0"), ("index", "50"), ("count", "5")],
        ),
    )
    .await;
    assert_eq!(res.remark.as_deref(), Some("Index 50 of 0@AdminTopic is not exist!"));
    let res = ask(
        &conn,
        with_ext(
            request::QUERY_CONSUME_QUEUE,
            &[("topic", "Nope"), ("queueId", "0"), ("index", "0"), ("count", "5")],
        ),
    )
    .await;
    assert_eq!(res.code, response::SYSTEM_ERROR);
    assert_eq!(res.remark.as_deref(), Some("0@Nope is not exist!"));

    let res = ask(&conn, with_ext(request::GET_SYSTEM_TOPIC_LIST_FROM_BROKER, &[])).await;
    let v = body_json(&res);
    let ours: BTreeSet<String> = v["topicList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let frames = golden::load_frames("13");
    let req = frames
        .iter()
        .find(|f| f.is_request() && f.code == request::GET_SYSTEM_TOPIC_LIST_FROM_BROKER)
        .unwrap();
    let java = fastjson::parse(&golden::response_to(&frames, req).unwrap().body()).unwrap();
    let java: BTreeSet<String> = java["topicList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ours, java, "same broker and cluster names as the golden broker");

    for code in [
        request::CLEAN_EXPIRED_CONSUMEQUEUE,
        request::DELETE_EXPIRED_COMMITLOG,
        request::CLEAN_UNUSED_TOPIC,
    ] {
        assert_eq!(ask(&conn, with_ext(code, &[])).await.code, response::SUCCESS);
    }
    // Nothing was expired or unused: every message is still there.
    let res = ask(&conn, with_ext(request::GET_TOPIC_STATS_INFO, &[("topic", TOPIC)])).await;
    assert_eq!(sum_by_queue(&body_json(&res)["offsetTable"], "maxOffset"), (30, 4));
}

fn config_lines(res: &RemotingCommand) -> BTreeMap<String, String> {
    String::from_utf8(res.body.to_vec())
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn broker_config_updates_apply_at_once_and_are_persisted() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    setup(&conn).await;

    let res = ask(&conn, with_ext(request::GET_BROKER_CONFIG, &[])).await;
    assert_eq!(res.code, response::SUCCESS);
    let version: Value = serde_json::from_str(res.ext().get("version").unwrap()).unwrap();
    assert_eq!(keys(&version), ["counter", "timestamp"].map(String::from).into());
    assert_eq!(version["counter"], 0);
    let before = config_lines(&res);
    assert_eq!(before.get("brokerName").map(String::as_str), Some("broker-a"));
    assert_eq!(before.get("brokerPermission").map(String::as_str), Some("6"));
    assert!(before.contains_key("storePathRootDir"));
    // Store settings are shown with their values even when not configured, as Java's are;
    // mqadmin exportConfigs reads these and fails on a missing one.
    for (key, value) in [
        ("brokerRole", "ASYNC_MASTER"),
        ("flushDiskType", "ASYNC_FLUSH"),
        ("fileReservedTime", "72"),
        ("maxMessageSize", "4194304"),
        (
            "messageDelayLevel",
            "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
        ),
        ("filterServerNums", "0"),
        ("traceOn", "true"),
        ("useTLS", "false"),
        ("slaveReadEnable", "false"),
        ("haSlaveFallbehindMax", "268435456"),
    ] {
        assert_eq!(before.get(key).map(String::as_str), Some(value), "{key}");
    }

    // The black list is refused as a whole.
    let res = ask(
        &conn,
        RemotingCommand::request(request::UPDATE_BROKER_CONFIG)
            .with_body(b"brokerConfigPath=/tmp/x\nshortPollingTimeMills=7\n".to_vec()),
    )
    .await;
    assert_eq!(res.code, response::NO_PERMISSION);
    assert_eq!(res.remark.as_deref(), Some("Can not update config in black list."));

    // brokerPermission=2 (write only) applies at once: pulls are refused.
    let res = ask(
        &conn,
        RemotingCommand::request(request::UPDATE_BROKER_CONFIG)
            .with_body(b"brokerPermission=2\nshortPollingTimeMills=700\nnoSuchKey=1\n".to_vec()),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    let pull = || {
        with_ext(
            request::PULL_MESSAGE,
            &[
                ("consumerGroup", GROUP),
                ("topic", TOPIC),
                ("queueId", "0"),
                ("queueOffset", "0"),
                ("maxMsgNums", "4"),
                ("sysFlag", "4"),
                ("commitOffset", "0"),
                ("suspendTimeoutMillis", "0"),
                ("subscription", "*"),
                ("subVersion", "0"),
                ("expressionType", "TAG"),
            ],
        )
    };
    let res = ask(&conn, pull()).await;
    assert_eq!(res.code, response::NO_PERMISSION, "{:?}", res.remark);
    assert_eq!(
        res.remark.as_deref(),
        Some("the broker[127.0.0.1] pulling message is forbidden")
    );

    let res = ask(&conn, with_ext(request::GET_BROKER_CONFIG, &[])).await;
    let after = config_lines(&res);
    assert_eq!(after.get("brokerPermission").map(String::as_str), Some("2"));
    assert_eq!(after.get("shortPollingTimeMills").map(String::as_str), Some("700"));
    assert!(!after.contains_key("noSuchKey"), "keys Java does not know are ignored");
    let version: Value = serde_json::from_str(res.ext().get("version").unwrap()).unwrap();
    assert_eq!(version["counter"], 1);

    // Persisted where Java keeps it when no -c file was given.
    let file = broker.dir.path().join("store/config/broker.properties");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.lines().any(|l| l == "brokerPermission=2"), "{saved}");
    assert!(saved.lines().any(|l| l == "shortPollingTimeMills=700"));

    let res = ask(
        &conn,
        RemotingCommand::request(request::UPDATE_BROKER_CONFIG).with_body(b"brokerPermission=6\n".to_vec()),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    let res = ask(&conn, pull()).await;
    assert_eq!(res.code, response::SUCCESS);
    assert_eq!(store::decode_messages(&res.body).len(), 4);

    // Message-store settings too: shown, persisted, and those Java reads at each use
    // applied at once (a pull carries at most maxTransferCountOnMessageInMemory). A value
    // that does not parse is dropped, as Java drops it.
    let res = ask(
        &conn,
        RemotingCommand::request(request::UPDATE_BROKER_CONFIG).with_body(
            b"fileReservedTime=24\ndeleteWhen=03\nmaxTransferCountOnMessageInMemory=2\nmaxMessageSize=abc\n".to_vec(),
        ),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    let res = ask(&conn, pull()).await;
    assert_eq!(res.code, response::SUCCESS);
    assert_eq!(
        store::decode_messages(&res.body).len(),
        2,
        "the new transfer limit applies"
    );
    let after = config_lines(&ask(&conn, with_ext(request::GET_BROKER_CONFIG, &[])).await);
    for (key, value) in [
        ("fileReservedTime", "24"),
        ("deleteWhen", "03"),
        ("maxTransferCountOnMessageInMemory", "2"),
        ("maxMessageSize", "4194304"),
    ] {
        assert_eq!(after.get(key).map(String::as_str), Some(value), "{key}");
    }
    let saved = std::fs::read_to_string(&file).unwrap();
    for line in [
        "fileReservedTime=24",
        "deleteWhen=03",
        "maxTransferCountOnMessageInMemory=2",
    ] {
        assert!(saved.lines().any(|l| l == line), "{line} in {saved}");
    }
    assert!(!saved.contains("maxMessageSize=abc"));
}

fn send_one(queue_id: i32) -> RemotingCommand {
    compat_tests::broker_ops::send_request(TOPIC, queue_id, &b"m"[..], "k")
}

/// GET_BROKER_CONFIG lists every key the Java 4.9.8 broker listed in the golden capture
/// (mqadmin getBrokerConfig), its thread-pool and Netty settings included; they take new
/// values of their Java type. regionId, traceOn and startAcceptSendRequestTimeStamp act on
/// sends as in Java: the first two are echoed in every send answer, refusals included.
#[tokio::test]
async fn broker_config_lists_javas_keys_and_send_answers_follow_them() {
    let java_body = golden::first_answer_body("13", request::GET_BROKER_CONFIG);
    let java_text = String::from_utf8(java_body).unwrap();
    // The capture ends part-way through a line: keep whole lines only.
    let whole = &java_text[..java_text.rfind('\n').unwrap()];
    let java_keys: BTreeSet<&str> = whole
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .collect();
    assert!(java_keys.len() > 100, "{} keys in the capture", java_keys.len());

    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    setup(&conn).await;
    let ours = config_lines(&ask(&conn, with_ext(request::GET_BROKER_CONFIG, &[])).await);
    let missing: Vec<&&str> = java_keys.iter().filter(|k| !ours.contains_key(**k)).collect();
    assert!(missing.is_empty(), "keys Java lists and we do not: {missing:?}");
    assert_eq!(ours.get("waitTimeMillsInSendQueue").map(String::as_str), Some("200"));
    assert_eq!(ours.get("regionId").map(String::as_str), Some("DefaultRegion"));

    let update =
        |body: &str| RemotingCommand::request(request::UPDATE_BROKER_CONFIG).with_body(body.as_bytes().to_vec());
    let res = ask(
        &conn,
        update("regionId=EastRegion\ntraceOn=false\nwaitTimeMillsInSendQueue=300\nserverWorkerThreads=many\n"),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    let ours = config_lines(&ask(&conn, with_ext(request::GET_BROKER_CONFIG, &[])).await);
    assert_eq!(ours.get("waitTimeMillsInSendQueue").map(String::as_str), Some("300"));
    assert_eq!(
        ours.get("serverWorkerThreads").map(String::as_str),
        Some("8"),
        "a value that is not an int is dropped"
    );
    let sent = ask(&conn, send_one(0)).await;
    assert_eq!(sent.code, response::SUCCESS);
    assert_eq!(sent.ext().get("MSG_REGION"), Some("EastRegion"));
    assert_eq!(sent.ext().get("TRACE_ON"), Some("false"));

    // Sends are refused until startAcceptSendRequestTimeStamp.
    let later = remoting::protocol::topic::now_millis() + 3_600_000;
    let res = ask(&conn, update(&format!("startAcceptSendRequestTimeStamp={later}\n"))).await;
    assert_eq!(res.code, response::SUCCESS);
    let refused = ask(&conn, send_one(1)).await;
    assert_eq!(refused.code, response::SYSTEM_ERROR);
    let until = store::local_time::LocalTime::at(later).human_string2();
    assert_eq!(
        refused.remark.as_deref(),
        Some(format!("broker unable to service, until {until}").as_str())
    );
    assert_eq!(refused.ext().get("MSG_REGION"), Some("EastRegion"));
    // A refusal from the topic check carries them as well.
    let mut unknown = send_one(0);
    unknown.ext_mut().insert("topic", "NoSuchTopicHere");
    unknown.ext_mut().insert("defaultTopic", "NoSuchDefault");
    let res = ask(&conn, update("startAcceptSendRequestTimeStamp=0\n")).await;
    assert_eq!(res.code, response::SUCCESS);
    let refused = ask(&conn, unknown).await;
    assert_eq!(refused.code, response::TOPIC_NOT_EXIST, "{:?}", refused.remark);
    assert_eq!(refused.ext().get("TRACE_ON"), Some("false"));
    assert_eq!(ask(&conn, send_one(1)).await.code, response::SUCCESS);
}

/// DELETE_SUBSCRIPTIONGROUP (207) drops the group's offsets when asked, by 4.9.8's
/// `removeOffset` (what its mqadmin sends) or 5.x's `cleanOffset`, and keeps them otherwise.
#[tokio::test]
async fn deleting_a_group_removes_its_offsets_only_when_asked() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    let header = CreateTopicRequestHeader::read_write(TOPIC, 4);
    let res = ask(
        &conn,
        RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    let offset_of = |group: &'static str| {
        let conn = &conn;
        async move {
            let res = ask(
                conn,
                with_ext(
                    request::QUERY_CONSUMER_OFFSET,
                    &[("consumerGroup", group), ("topic", TOPIC), ("queueId", "0")],
                ),
            )
            .await;
            (res.code == response::SUCCESS).then(|| res.ext().get("offset").unwrap().to_string())
        }
    };
    for (group, flag) in [
        ("g_keep", None),
        ("g_remove", Some("removeOffset")),
        ("g_clean", Some("cleanOffset")),
    ] {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.into(),
            topic: TOPIC.into(),
            queue_id: 0,
            commit_offset: 3,
        };
        let res = ask(
            &conn,
            RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &header),
        )
        .await;
        assert_eq!(res.code, response::SUCCESS);
        assert_eq!(offset_of(group).await.as_deref(), Some("3"));
        let mut fields = vec![("groupName", group)];
        if let Some(flag) = flag {
            fields.push((flag, "true"));
        }
        let res = ask(&conn, with_ext(request::DELETE_SUBSCRIPTIONGROUP, &fields)).await;
        assert_eq!(res.code, response::SUCCESS);
        // Without a stored offset Java answers 0 for a queue that still starts at 0.
        let expected = if flag.is_some() { Some("0") } else { Some("3") };
        assert_eq!(offset_of(group).await.as_deref(), expected, "{group}");
    }
}

#[tokio::test]
async fn system_topics_cannot_be_created_or_deleted_by_admins() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    for topic in [
        "SCHEDULE_TOPIC_XXXX",
        "RMQ_SYS_TRANS_HALF_TOPIC",
        "TBW102",
        "rmq_sys_anything",
        "broker-a",
    ] {
        let create = ask(
            &conn,
            RemotingCommand::request_with_header(
                request::UPDATE_AND_CREATE_TOPIC,
                &CreateTopicRequestHeader::read_write(topic, 4),
            ),
        )
        .await;
        assert_eq!(create.code, response::SYSTEM_ERROR, "create {topic}");
        assert_eq!(
            create.remark.as_deref(),
            Some(format!("The topic[{topic}] is conflict with system topic.").as_str())
        );
        let delete = ask(&conn, with_ext(request::DELETE_TOPIC_IN_BROKER, &[("topic", topic)])).await;
        assert_eq!(delete.code, response::SYSTEM_ERROR, "delete {topic}");
        assert_eq!(
            delete.remark.as_deref(),
            Some(format!("The topic[{topic}] is conflict with system topic.").as_str())
        );
    }
    // The half topic is still there after the refused delete.
    let all = ask(&conn, RemotingCommand::request(request::GET_ALL_TOPIC_CONFIG)).await;
    let v = body_json(&all);
    assert!(v["topicConfigTable"].get("SCHEDULE_TOPIC_XXXX").is_some());
    // An ordinary topic is created and deleted as before.
    let create = ask(
        &conn,
        RemotingCommand::request_with_header(
            request::UPDATE_AND_CREATE_TOPIC,
            &CreateTopicRequestHeader::read_write("PlainTopic", 4),
        ),
    )
    .await;
    assert_eq!(create.code, response::SUCCESS);
    let delete = ask(
        &conn,
        with_ext(request::DELETE_TOPIC_IN_BROKER, &[("topic", "PlainTopic")]),
    )
    .await;
    assert_eq!(delete.code, response::SUCCESS);
}

/// Codes Java 4.9.8 no longer handles: GET_BROKER_CLUSTER_ACL_CONFIG (54, gone from 4.9.8's
/// RequestCode), REGISTER_FILTER_SERVER (301) and REGISTER_MESSAGE_FILTER_CLASS (302)
/// (defined, but no 4.9.8 processor answers them). Its AdminBrokerProcessor, the default
/// processor, answers them REQUEST_CODE_NOT_SUPPORTED with " request type N not supported";
/// so does ours.
#[tokio::test]
async fn codes_java_4_9_8_does_not_handle_are_not_supported() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    for code in [54, request::REGISTER_FILTER_SERVER, 302] {
        let answer = ask(&conn, RemotingCommand::request(code)).await;
        assert_eq!(answer.code, response::REQUEST_CODE_NOT_SUPPORTED, "{code}");
        assert_eq!(
            answer.remark.as_deref(),
            Some(format!(" request type {code} not supported").as_str())
        );
    }
}
