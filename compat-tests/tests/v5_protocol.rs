//! RocketMQ 5.x calls against our `namesrv` and `broker` binaries, over TCP: the name
//! server's BROKER_HEARTBEAT (904), GET_BROKER_MEMBER_GROUP (901) and
//! REGISTER_TOPIC_IN_NAMESRV (217) and the 5.x parts of a registration and of a route; the
//! broker's heartbeat v2 (fingerprint, withoutSub), LITE_PULL_MESSAGE (361) and
//! GET_TOPIC_CONFIG (351); the stock
//! rocketmq-client-rust 1.0 consumer with `useHeartbeatV2`; and the Java 5.3.3 client's
//! recorded traffic (golden 05) replayed against a name server and a broker process.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use compat_tests::broker_ops::{ask, create_topic, pull_request, send};
use compat_tests::clients::StockClient;
use compat_tests::golden::{self, GoldenFrame};
use compat_tests::process::{connect, BrokerProcess, NamesrvProcess};
use remoting::code::{request, response};
use remoting::header::namesrv::RegisterBrokerRequestHeader;
use remoting::protocol::register::{body_crc32, RegisterBrokerBody};
use remoting::protocol::topic::{DataVersion, TopicConfig};
use remoting::{fastjson, Connection, RemotingCommand};
use serde_json::{json, Value};

/// A registration as a 5.x broker sends it: `enableActingMaster`, a zone in `__ZONE_NAME`,
/// a heartbeat timeout and, for `mapped_topic`, a static-topic mapping.
#[allow(clippy::too_many_arguments)]
fn register_5x(
    broker_name: &str,
    broker_addr: &str,
    broker_id: i64,
    topics: &[&str],
    mapped_topic: Option<&str>,
    compressed: bool,
    timeout_ms: i64,
) -> RemotingCommand {
    let mut body = RegisterBrokerBody::default();
    let wrapper = &mut body.topic_config_serialize_wrapper;
    // A new version each time (two registrations within one millisecond must still differ).
    static COUNTER: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    wrapper.data_version = DataVersion::now();
    wrapper.data_version.counter = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for topic in topics {
        wrapper
            .topic_config_table
            .insert(topic.to_string(), TopicConfig::new(*topic, 4, 4, 6));
    }
    if let Some(topic) = mapped_topic {
        wrapper.topic_queue_mapping_info_map.insert(
            topic.to_string(),
            json!({"bname": broker_name, "currIdMap": {"0": 0}, "dirty": false, "epoch": 7,
                   "scope": "__global__", "topic": topic, "totalQueues": 4}),
        );
    }
    let bytes = body.encode(compressed);
    let header = RegisterBrokerRequestHeader {
        broker_name: broker_name.into(),
        broker_addr: broker_addr.into(),
        cluster_name: "Cluster5".into(),
        ha_server_addr: String::new(),
        broker_id,
        compressed: Some(compressed),
        body_crc32: Some(body_crc32(&bytes)),
        heartbeat_timeout_millis: Some(timeout_ms),
        enable_acting_master: Some(true),
    };
    let mut req = RemotingCommand::request_with_header(request::REGISTER_BROKER, &header).with_body(bytes);
    req.ext_mut().insert("__ZONE_NAME", "zone-1");
    // V5_3_3: the compressed body's mapping section is read from 5.x brokers.
    req.version = 479;
    req
}

async fn route(conn: &Connection, topic: &str) -> RemotingCommand {
    let mut q = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
    q.ext_mut().insert("topic", topic);
    q.version = 479;
    ask(conn, q).await
}

fn body_json(cmd: &RemotingCommand) -> Value {
    fastjson::parse(&cmd.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&cmd.body)))
}

fn broker_heartbeat(cluster: &str, name: &str, addr: &str) -> RemotingCommand {
    let mut hb = RemotingCommand::request(request::BROKER_HEARTBEAT);
    hb.ext_mut().insert("clusterName", cluster);
    hb.ext_mut().insert("brokerName", name);
    hb.ext_mut().insert("brokerAddr", addr);
    hb.ext_mut().insert("brokerId", "0");
    hb.version = 479;
    hb
}

async fn cluster_brokers(conn: &Connection) -> BTreeSet<String> {
    let info = body_json(&ask(conn, RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO)).await);
    info["brokerAddrTable"]
        .as_object()
        .into_iter()
        .flat_map(|t| t.values())
        .flat_map(|bd| bd["brokerAddrs"].as_object().unwrap().values())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn namesrv_answers_5x_broker_calls() {
    let ns = NamesrvProcess::start(&[("scanNotActiveBrokerInterval", "300")]).await;
    let conn = connect(&ns.addr).await;

    // A 5.x master (JSON body) and its slave (compressed body, version V5_3_3).
    let master = "127.0.0.1:30911";
    let slave = "127.0.0.1:30921";
    let reg = register_5x(
        "broker-5x",
        master,
        0,
        &["StaticTopic", "PlainTopic"],
        Some("StaticTopic"),
        false,
        2_000,
    );
    assert_eq!(ask(&conn, reg).await.code, response::SUCCESS);
    let slave_conn = connect(&ns.addr).await;
    let reg = register_5x("broker-5x", slave, 1, &["StaticTopic"], None, true, 600_000);
    assert_eq!(ask(&slave_conn, reg).await.code, response::SUCCESS);
    // A compressed master body with a mapping section, as a 5.x broker with
    // compressedRegister=true sends it.
    let zconn = connect(&ns.addr).await;
    let reg = register_5x(
        "broker-5z",
        "127.0.0.1:31911",
        0,
        &["ZippedTopic"],
        Some("ZippedTopic"),
        true,
        600_000,
    );
    assert_eq!(ask(&zconn, reg).await.code, response::SUCCESS);

    // Routes: enableActingMaster and zoneName as registered; topicQueueMappingByBroker
    // only for the topic with a mapping.
    let answer = route(&conn, "StaticTopic").await;
    assert_eq!(answer.code, response::SUCCESS);
    let r = body_json(&answer);
    let bd = &r["brokerDatas"][0];
    assert_eq!(bd["enableActingMaster"], json!(true), "{r}");
    assert_eq!(bd["zoneName"], json!("zone-1"), "{r}");
    assert_eq!(bd["brokerAddrs"]["0"], json!(master), "{r}");
    assert_eq!(bd["brokerAddrs"]["1"], json!(slave), "{r}");
    let mapping = &r["topicQueueMappingByBroker"]["broker-5x"];
    assert_eq!(mapping["totalQueues"], json!(4), "{r}");
    assert_eq!(mapping["epoch"], json!(7), "{r}");
    let plain = body_json(&route(&conn, "PlainTopic").await);
    assert!(plain.get("topicQueueMappingByBroker").is_none(), "{plain}");
    let zipped = body_json(&route(&conn, "ZippedTopic").await);
    assert_eq!(
        zipped["topicQueueMappingByBroker"]["broker-5z"]["topic"],
        json!("ZippedTopic"),
        "{zipped}"
    );

    // GET_BROKER_MEMBER_GROUP: every id under the name, in fastjson's default form.
    let mut q = RemotingCommand::request(request::GET_BROKER_MEMBER_GROUP);
    q.ext_mut().insert("clusterName", "Cluster5");
    q.ext_mut().insert("brokerName", "broker-5x");
    let answer = ask(&conn, q).await;
    assert_eq!(answer.code, response::SUCCESS);
    let text = String::from_utf8(answer.body.to_vec()).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"brokerMemberGroup":{{"brokerAddrs":{{0:"{master}",1:"{slave}"}},"brokerName":"broker-5x","cluster":"Cluster5"}}}}"#
        )
    );
    let mut q = RemotingCommand::request(request::GET_BROKER_MEMBER_GROUP);
    q.ext_mut().insert("clusterName", "Nowhere");
    q.ext_mut().insert("brokerName", "no-such-broker");
    let answer = ask(&conn, q).await;
    assert_eq!(answer.code, response::SUCCESS);
    assert_eq!(
        body_json(&answer),
        json!({"brokerMemberGroup": {"brokerAddrs": {}, "brokerName": "no-such-broker", "cluster": "Nowhere"}})
    );
    // A missing header field is refused like any header.
    let answer = ask(&conn, RemotingCommand::request(request::GET_BROKER_MEMBER_GROUP)).await;
    assert_ne!(answer.code, response::SUCCESS);

    // REGISTER_TOPIC_IN_NAMESRV: a route for a known broker appears; one naming an unknown
    // broker is answered with success and changes nothing.
    let register_topic = |topic: &str, broker: &str| {
        let mut q = RemotingCommand::request(request::REGISTER_TOPIC_IN_NAMESRV);
        q.ext_mut().insert("topic", topic);
        q.with_body(
            json!({"brokerDatas": [], "filterServerTable": {}, "queueDatas": [
                {"brokerName": broker, "perm": 6, "readQueueNums": 2, "topicSysFlag": 0, "writeQueueNums": 3}
            ]})
            .to_string()
            .into_bytes(),
        )
    };
    assert_eq!(route(&conn, "RegisteredTopic").await.code, response::TOPIC_NOT_EXIST);
    assert_eq!(
        ask(&conn, register_topic("RegisteredTopic", "broker-5x")).await.code,
        response::SUCCESS
    );
    let answer = route(&conn, "RegisteredTopic").await;
    assert_eq!(answer.code, response::SUCCESS);
    let qd = &body_json(&answer)["queueDatas"][0];
    assert_eq!(
        (qd["readQueueNums"].clone(), qd["writeQueueNums"].clone()),
        (json!(2), json!(3))
    );
    assert_eq!(
        ask(&conn, register_topic("GhostTopic", "no-such-broker")).await.code,
        response::SUCCESS
    );
    assert_eq!(route(&conn, "GhostTopic").await.code, response::TOPIC_NOT_EXIST);

    // BROKER_HEARTBEAT keeps the master (2 s timeout) alive well past its timeout, and
    // once it stops the name server drops it.
    let unknown = ask(&conn, broker_heartbeat("Cluster5", "nobody", "127.0.0.1:1")).await;
    assert_eq!(unknown.code, response::SUCCESS);
    let hb_conn = connect(&ns.addr).await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let answer = ask(&hb_conn, broker_heartbeat("Cluster5", "broker-5x", master)).await;
        assert_eq!(answer.code, response::SUCCESS);
        assert!(answer.remark.is_none());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        cluster_brokers(&hb_conn).await.contains(master),
        "heartbeats kept the master registered 5 s past a 2 s timeout"
    );
    // QUERY_DATA_VERSION is a heartbeat too, as in 5.x even when the version changed (a
    // 5.x broker with acting master on and compatibleWithOldNameSrv sends it every second).
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let mut q = RemotingCommand::request(request::QUERY_DATA_VERSION);
        for (k, v) in [
            ("brokerName", "broker-5x"),
            ("brokerAddr", master),
            ("clusterName", "Cluster5"),
            ("brokerId", "0"),
        ] {
            q.ext_mut().insert(k, v);
        }
        let q = q.with_body(fastjson::to_standard_vec(&DataVersion::now()));
        let answer = ask(&hb_conn, q).await;
        assert_eq!(answer.code, response::SUCCESS);
        assert_eq!(answer.ext().get("changed"), Some("true"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(cluster_brokers(&hb_conn).await.contains(master));
    // A heartbeat naming another cluster does not count.
    let mut dropped_at = None;
    let stop = Instant::now();
    while stop.elapsed() < Duration::from_secs(6) {
        ask(&hb_conn, broker_heartbeat("OtherCluster", "broker-5x", master)).await;
        if !cluster_brokers(&hb_conn).await.contains(master) {
            dropped_at = Some(stop.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dropped_at = dropped_at.expect("the master expired once its heartbeats stopped");
    assert!(dropped_at >= Duration::from_millis(1_500), "{dropped_at:?}");
    assert!(cluster_brokers(&hb_conn).await.contains(slave));
}

#[tokio::test]
async fn namesrv_acting_master_routes_when_supported() {
    for support in [false, true] {
        let flag = support.to_string();
        let ns = NamesrvProcess::start(&[("supportActingMaster", flag.as_str())]).await;
        let master = connect(&ns.addr).await;
        let slave = connect(&ns.addr).await;
        let reg = register_5x("broker-am", "127.0.0.1:40911", 0, &["ActTopic"], None, false, 600_000);
        assert_eq!(ask(&master, reg).await.code, response::SUCCESS);
        let reg = register_5x("broker-am", "127.0.0.1:40921", 1, &["ActTopic"], None, false, 600_000);
        assert_eq!(ask(&slave, reg).await.code, response::SUCCESS);
        // The master leaves. The slave, now the lowest id, registers again with a newer
        // topic table version and stands in read-only.
        let mut bye = RemotingCommand::request(request::UNREGISTER_BROKER);
        for (k, v) in [
            ("brokerName", "broker-am"),
            ("brokerAddr", "127.0.0.1:40911"),
            ("clusterName", "Cluster5"),
            ("brokerId", "0"),
        ] {
            bye.ext_mut().insert(k, v);
        }
        assert_eq!(ask(&master, bye).await.code, response::SUCCESS);
        assert!(!cluster_brokers(&slave).await.contains("127.0.0.1:40911"));
        let reg = register_5x("broker-am", "127.0.0.1:40921", 1, &["ActTopic"], None, false, 600_000);
        assert_eq!(ask(&slave, reg).await.code, response::SUCCESS);
        let r = body_json(&route(&slave, "ActTopic").await);
        assert_eq!(r["queueDatas"][0]["perm"], json!(4), "{r}");
        let addrs = &r["brokerDatas"][0]["brokerAddrs"];
        if support {
            assert_eq!(addrs, &json!({"0": "127.0.0.1:40921"}), "{r}");
        } else {
            assert_eq!(addrs, &json!({"1": "127.0.0.1:40921"}), "{r}");
        }
    }
}

const HB_TOPIC: &str = "HbV2Topic";

fn heartbeat(group: &str, fingerprint: i32, without_sub: bool, sub_version: i64) -> RemotingCommand {
    let subs = if without_sub {
        json!([])
    } else {
        json!([{"classFilterMode": false, "codeSet": [], "expressionType": "TAG", "subString": "*",
                "subVersion": sub_version, "tagsSet": [], "topic": HB_TOPIC}])
    };
    let body = json!({
        "clientID": "127.0.0.1@v2#1",
        "consumerDataSet": [{"consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET", "consumeType": "CONSUME_PASSIVELY",
                             "groupName": group, "messageModel": "CLUSTERING", "subscriptionDataSet": subs,
                             "unitMode": false}],
        "heartbeatFingerprint": fingerprint,
        "producerDataSet": [],
        "withoutSub": without_sub,
    });
    let mut hb = RemotingCommand::request(request::HEART_BEAT).with_body(body.to_string().into_bytes());
    hb.version = 479;
    hb
}

fn v2_answer(cmd: &RemotingCommand) -> (Option<&str>, Option<&str>) {
    (
        cmd.ext().get("IS_SUPPORT_HEART_BEAT_V2"),
        cmd.ext().get("IS_SUB_CHANGE"),
    )
}

/// A pull that leaves the subscription to the broker (no subscription flag), as a push
/// consumer's pulls do.
fn pull_by_heartbeat(group: &str, sub_version: i64) -> RemotingCommand {
    let mut q = pull_request(HB_TOPIC, 0, 0, 32);
    q.ext_mut().insert("consumerGroup", group);
    q.ext_mut().insert("sysFlag", "0");
    q.ext_mut().remove("subscription");
    q.ext_mut().insert("subVersion", sub_version.to_string());
    q
}

async fn subscribed_topics(conn: &Connection, group: &str) -> Option<Vec<String>> {
    let mut q = RemotingCommand::request(request::GET_CONSUMER_CONNECTION_LIST);
    q.ext_mut().insert("consumerGroup", group);
    let answer = ask(conn, q).await;
    if answer.code != response::SUCCESS {
        return None;
    }
    let body = body_json(&answer);
    Some(
        body["subscriptionTable"]
            .as_object()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn broker_heartbeat_v2_keeps_subscriptions() {
    let broker = BrokerProcess::start(&[]).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, HB_TOPIC, 1).await;
    assert_eq!(
        send(&conn, HB_TOPIC, 0, b"one".to_vec(), "k1").await.code,
        response::SUCCESS
    );

    // A full v2 heartbeat: the broker says it takes v2; a group seen first is no change.
    let answer = ask(&conn, heartbeat("cg_v2", 1111, false, 5)).await;
    assert_eq!(answer.code, response::SUCCESS);
    assert_eq!(v2_answer(&answer), (Some("true"), Some("false")));

    // Fingerprint-only heartbeats (no subscriptions in them) leave the subscription alone.
    for _ in 0..3 {
        let answer = ask(&conn, heartbeat("cg_v2", 1111, true, 0)).await;
        assert_eq!(answer.code, response::SUCCESS);
        assert_eq!(v2_answer(&answer), (Some("true"), Some("false")));
    }
    assert_eq!(
        subscribed_topics(&conn, "cg_v2").await,
        Some(vec![HB_TOPIC.to_string()])
    );
    let pulled = ask(&conn, pull_by_heartbeat("cg_v2", 5)).await;
    assert_eq!(pulled.code, response::SUCCESS, "{:?}", pulled.remark);
    assert_eq!(pulled.remark.as_deref(), Some("FOUND"));

    // A new fingerprint is a change; so is every v1 heartbeat (fingerprint 0).
    let answer = ask(&conn, heartbeat("cg_v2", 2222, false, 6)).await;
    assert_eq!(v2_answer(&answer), (Some("true"), Some("true")));
    let answer = ask(&conn, heartbeat("cg_v2", 2222, true, 0)).await;
    assert_eq!(v2_answer(&answer), (Some("true"), Some("false")));
    let answer = ask(&conn, heartbeat("cg_v2", 0, false, 6)).await;
    assert_eq!(v2_answer(&answer), (Some("true"), Some("true")));
    assert_eq!(
        subscribed_topics(&conn, "cg_v2").await,
        Some(vec![HB_TOPIC.to_string()])
    );

    // `withoutSub` with fingerprint 0 is a v1 heartbeat: its empty lists replace the
    // subscriptions (Java looks at the flag only on the v2 path).
    let answer = ask(&conn, heartbeat("cg_v2", 0, true, 0)).await;
    assert_eq!(v2_answer(&answer), (Some("true"), Some("true")));
    assert_eq!(subscribed_topics(&conn, "cg_v2").await, Some(vec![]));

    // A fingerprint-only heartbeat for a group the broker never had subscriptions for (a
    // broker restarted under a 5.x client) registers the consumer without any: its pulls
    // find no subscription, as in Java, until the client sends a full heartbeat.
    let answer = ask(&conn, heartbeat("cg_fresh", 3333, true, 0)).await;
    assert_eq!(answer.code, response::SUCCESS);
    assert_eq!(subscribed_topics(&conn, "cg_fresh").await, Some(vec![]));
    let pulled = ask(&conn, pull_by_heartbeat("cg_fresh", 0)).await;
    assert_eq!(pulled.code, response::SUBSCRIPTION_NOT_EXIST, "{:?}", pulled.remark);
}

#[tokio::test]
async fn lite_pull_message_is_served_like_a_pull() {
    let broker = BrokerProcess::start(&[]).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "LiteTopic", 1).await;
    for i in 0..3 {
        let sent = send(&conn, "LiteTopic", 0, format!("lite-{i}").into_bytes(), "k").await;
        assert_eq!(sent.code, response::SUCCESS);
    }
    let lite = |offset: i64| {
        let mut q = pull_request("LiteTopic", 0, offset, 32);
        q.code = request::LITE_PULL_MESSAGE;
        // The lite-pull sys flag (0x10) with the subscription flag, as a 5.x lite pull
        // consumer sends it.
        q.ext_mut().insert("sysFlag", (0x10 | 0x4).to_string());
        q.ext_mut().insert("consumerGroup", "cg_lite");
        q
    };
    let answer = ask(&conn, lite(0)).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(answer.remark.as_deref(), Some("FOUND"));
    assert_eq!(answer.ext().get("nextBeginOffset"), Some("3"));
    for i in 0..3 {
        let needle = format!("lite-{i}");
        assert!(answer.body.windows(needle.len()).any(|w| w == needle.as_bytes()));
    }
    // Nothing past the end: no long poll (no suspend flag), an immediate "no new message".
    let answer = ask(&conn, lite(3)).await;
    assert_eq!(answer.code, response::PULL_NOT_FOUND, "{:?}", answer.remark);
    // The pull left no consumer and no subscription behind.
    assert_eq!(subscribed_topics(&conn, "cg_lite").await, None);
    drop(broker);

    // litePullMessageEnable=false refuses 361 and still serves 11.
    let broker = BrokerProcess::start(&[("litePullMessageEnable", "false")]).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "LiteTopic", 1).await;
    assert_eq!(
        send(&conn, "LiteTopic", 0, b"x".to_vec(), "k").await.code,
        response::SUCCESS
    );
    let answer = ask(&conn, lite(0)).await;
    assert_eq!(answer.code, response::NO_PERMISSION);
    assert_eq!(
        answer.remark.as_deref(),
        Some("the broker[127.0.0.1] for lite pull consumer is forbidden")
    );
    assert_eq!(answer.ext().get("forbiddenType"), Some("1"));
    let answer = ask(&conn, pull_request("LiteTopic", 0, 0, 32)).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
}

#[tokio::test]
async fn get_topic_config_answers_one_topic() {
    let broker = BrokerProcess::start(&[]).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "ConfTopic", 3).await;
    let ask_config = |topic: &str| {
        let mut q = RemotingCommand::request(request::GET_TOPIC_CONFIG);
        q.ext_mut().insert("topic", topic);
        q.ext_mut().insert("lo", "true");
        q
    };
    let answer = ask(&conn, ask_config("ConfTopic")).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(
        String::from_utf8(answer.body.to_vec()).unwrap(),
        r#"{"attributes":{},"order":false,"perm":6,"readQueueNums":3,"topicFilterType":"SINGLE_TAG","topicName":"ConfTopic","topicSysFlag":0,"writeQueueNums":3}"#
    );
    let answer = ask(&conn, ask_config("NoSuchTopic")).await;
    assert_eq!(answer.code, response::TOPIC_NOT_EXIST);
    assert_eq!(
        answer.remark.as_deref(),
        Some("No topic in this broker. topic: NoSuchTopic")
    );
    let answer = ask(&conn, RemotingCommand::request(request::GET_TOPIC_CONFIG)).await;
    assert_ne!(answer.code, response::SUCCESS);
}

#[tokio::test]
async fn lite_pull_needs_the_same_acl_permissions_as_a_pull() {
    use broker::acl::{signature, signed_content};
    // Golden 16's accounts: `RocketMQ` may subscribe to AclTopic with group cg_acl, nothing else.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("conf")).unwrap();
    let yml = std::fs::read_to_string(golden::golden_dir().join("frames/16-acl-plain_acl.yml")).unwrap();
    std::fs::write(home.path().join("conf/plain_acl.yml"), yml).unwrap();
    let home_arg = home.path().display().to_string();
    let broker = BrokerProcess::start(&[("aclEnable", "true"), ("rocketmqHome", home_arg.as_str())]).await;
    let conn = connect(&broker.addr).await;
    let sign = |mut cmd: RemotingCommand, ak: &str, sk: &str| {
        cmd.ext_mut().insert("AccessKey", ak);
        let sig = signature(&signed_content(&cmd), sk);
        cmd.ext_mut().insert("Signature", sig);
        cmd
    };
    let admin = |cmd: RemotingCommand| sign(cmd, "RocketMQAdmin", "admin12345678");
    for topic in ["AclTopic", "SecretTopic"] {
        let header = remoting::header::broker::CreateTopicRequestHeader::read_write(topic, 1);
        let created = ask(
            &conn,
            admin(RemotingCommand::request_with_header(
                request::UPDATE_AND_CREATE_TOPIC,
                &header,
            )),
        )
        .await;
        assert_eq!(created.code, response::SUCCESS, "{:?}", created.remark);
        let sent = ask(
            &conn,
            admin(compat_tests::broker_ops::send_request(topic, 0, b"x".to_vec(), "k")),
        )
        .await;
        assert_eq!(sent.code, response::SUCCESS, "{:?}", sent.remark);
    }
    for code in [request::PULL_MESSAGE, request::LITE_PULL_MESSAGE] {
        let pull = |topic: &str| {
            let mut q = pull_request(topic, 0, 0, 32);
            q.code = code;
            q.ext_mut().insert("consumerGroup", "cg_acl");
            sign(q, "RocketMQ", "12345678")
        };
        let allowed = ask(&conn, pull("AclTopic")).await;
        assert_eq!(allowed.code, response::SUCCESS, "code {code}: {:?}", allowed.remark);
        let refused = ask(&conn, pull("SecretTopic")).await;
        assert_eq!(refused.code, response::SYSTEM_ERROR, "code {code}");
        let remark = refused.remark.unwrap_or_default();
        assert!(
            remark.starts_with(
                "org.apache.rocketmq.acl.common.AclException: No default permission for topic:SecretTopic"
            ),
            "code {code}: {remark}"
        );
    }
}

/// Waits until the name server routes `topic`.
async fn wait_for_route(ns: &Connection, topic: &str) {
    for _ in 0..100 {
        if route(ns, topic).await.code == response::SUCCESS {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no route for {topic}");
}

#[tokio::test]
async fn rust_client_with_heartbeat_v2_keeps_consuming() {
    let ns = NamesrvProcess::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_in(
        &dir.path().join("store"),
        &[("namesrvAddr", ns.addr.as_str()), ("brokerName", "broker-v2")],
        "info,broker::processor::client=debug",
    )
    .await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "RustV2Topic", 2).await;
    // The broker registers a new topic with its next registration.
    let ns_conn = connect(&ns.addr).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while route(&ns_conn, "RustV2Topic").await.code != response::SUCCESS {
        assert!(Instant::now() < deadline, "RustV2Topic never routed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_route(&ns_conn, "RustV2Topic").await;

    let ns_addr = ns.addr.clone();
    let consumer = tokio::spawn(async move {
        StockClient::Rust
            .run(
                &[
                    "push-consume",
                    "--namesrv",
                    &ns_addr,
                    "--topic",
                    "RustV2Topic",
                    "--group",
                    "cg_rust_v2",
                    "--expect",
                    "10",
                    "--from",
                    "first",
                    "--timeout",
                    "90",
                    "--heartbeat-v2",
                    "--heartbeat-interval-ms",
                    // the client's lowest allowed interval
                    "10000",
                ],
                Duration::from_secs(150),
            )
            .await
    });
    // The client's first heartbeat carries its subscriptions; once told the broker takes
    // v2, the next ones with the same fingerprint come without them.
    let line = broker
        .wait_for_log_line(
            &["heartbeat", "without_sub=true", "fingerprint="],
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|| panic!("no fingerprint-only heartbeat:\n{}", broker.log()));
    assert!(!line.contains("fingerprint=0 "), "{line}");
    let log = broker.log();
    let full_before = log
        .lines()
        .take_while(|l| !l.contains("without_sub=true"))
        .any(|l| l.contains("without_sub=false") && !l.contains("fingerprint=0 "));
    assert!(full_before, "a full v2 heartbeat came first:\n{log}");
    // Another fingerprint-only round (one heartbeat interval) later, the subscription is
    // still there...
    let deadline = Instant::now() + Duration::from_secs(40);
    while broker.log().lines().filter(|l| l.contains("without_sub=true")).count() < 2 {
        assert!(
            Instant::now() < deadline,
            "one fingerprint-only heartbeat only:\n{}",
            broker.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        subscribed_topics(&conn, "cg_rust_v2").await,
        Some(vec!["%RETRY%cg_rust_v2".to_string(), "RustV2Topic".to_string()])
    );
    // ...and messages sent now reach the consumer.
    for i in 0..10 {
        let sent = send(
            &conn,
            "RustV2Topic",
            i % 2,
            format!("v2-{i}").into_bytes(),
            &format!("v2k{i}"),
        )
        .await;
        assert_eq!(sent.code, response::SUCCESS);
    }
    let run = consumer.await.unwrap();
    assert!(run.success, "{:?}\n{}", run.errors(), run.stderr);
    assert_eq!(run.records().len(), 10, "{:?}", run.lines);
}

/// Header keys of a recorded answer.
fn header_keys(frame: &GoldenFrame) -> BTreeSet<String> {
    frame
        .header
        .get("extFields")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Route bodies compared without what differs by design: our broker's address, the 5.x
/// `enableActingMaster` member, and the order of lists Java keeps in hash sets.
fn comparable_route(body: &[u8], our_broker: &str) -> Value {
    let text = String::from_utf8_lossy(body).replace(our_broker, "127.0.0.1:10911");
    let mut v = fastjson::parse(text.as_bytes()).unwrap();
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("enableActingMaster");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => {
                a.iter_mut().for_each(strip);
                a.sort_by_key(|x| x.to_string());
            }
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[tokio::test]
async fn java_5_3_3_client_golden_replay_against_processes() {
    let ns = NamesrvProcess::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_in(
        &dir.path().join("store"),
        &[
            ("namesrvAddr", ns.addr.as_str()),
            ("brokerName", "broker-a"),
            ("brokerClusterName", "DefaultCluster"),
            ("autoCreateTopicEnable", "true"),
        ],
        "info",
    )
    .await;
    let ns_conn = connect(&ns.addr).await;
    wait_for_route(&ns_conn, "TBW102").await;

    let frames = golden::load_frames("05");
    let mut requests: Vec<&GoldenFrame> = frames
        .iter()
        .filter(|f| f.is_request() && matches!(f.server_port(), 9876 | 10911))
        // The Java broker's own registrations: ours registers itself.
        .filter(|f| f.code != request::REGISTER_BROKER)
        .collect();
    requests.sort_by(|a, b| a.t.total_cmp(&b.t));
    let mut connections: HashMap<String, Connection> = HashMap::new();
    let mut compared = HashMap::<i32, usize>::new();
    for req in requests {
        let server = if req.server_port() == 9876 {
            &ns.addr
        } else {
            &broker.addr
        };
        if !connections.contains_key(&req.conn) {
            connections.insert(req.conn.clone(), connect(server).await);
        }
        let conn = &connections[&req.conn];
        let Some(expected) = golden::response_to(&frames, req) else {
            // Oneway, or a long poll the client abandoned at shutdown.
            conn.send(req.to_command()).await.unwrap();
            continue;
        };
        let what = format!("05: request code {} opaque {} on {}", req.code, req.opaque, req.conn);
        let mut ours = conn.request(req.to_command(), Duration::from_secs(20)).await.unwrap();
        if req.code == request::GET_ROUTEINFO_BY_TOPIC && expected.code == response::SUCCESS {
            // A topic the broker just auto-created reaches the name server with the
            // broker's next (oneway) registration; give it a moment, as the client would.
            let deadline = Instant::now() + Duration::from_secs(5);
            while ours.code != response::SUCCESS && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                ours = conn.request(req.to_command(), Duration::from_secs(5)).await.unwrap();
            }
        }
        assert_eq!(ours.code, expected.code, "{what}: remark {:?}", ours.remark);
        assert_eq!(ours.serialize_type.name(), expected.serialize, "{what}");
        if ours.code != response::SUCCESS {
            assert_eq!(ours.remark.as_deref(), expected.header["remark"].as_str(), "{what}");
        }
        let mut our_keys: BTreeSet<String> = ours.ext().iter().map(|(k, _)| k.to_string()).collect();
        if req.code == request::HEART_BEAT {
            // What a 5.x broker adds (the recording's 4.9.8 broker did not).
            assert_eq!(ours.ext().get("IS_SUPPORT_HEART_BEAT_V2"), Some("true"), "{what}");
            assert!(our_keys.remove("IS_SUPPORT_HEART_BEAT_V2") && our_keys.remove("IS_SUB_CHANGE"));
        }
        assert_eq!(our_keys, header_keys(expected), "{what}: header keys");
        match req.code {
            request::GET_ROUTEINFO_BY_TOPIC if ours.code == response::SUCCESS => {
                assert_eq!(
                    comparable_route(&ours.body, &broker.addr),
                    comparable_route(&expected.body(), &broker.addr),
                    "{what}"
                );
            }
            request::PULL_MESSAGE => {
                assert_eq!(ours.remark.as_deref(), expected.header["remark"].as_str(), "{what}");
                assert_eq!(
                    ours.body.len(),
                    expected.body_len,
                    "{what}: same messages, same stored size"
                );
            }
            request::GET_CONSUMER_LIST_BY_GROUP if ours.code == response::SUCCESS => {
                assert_eq!(body_json(&ours), fastjson::parse(&expected.body()).unwrap(), "{what}");
            }
            _ => {}
        }
        *compared.entry(req.code).or_default() += 1;
    }
    eprintln!("compared answers by request code: {compared:?}");
    for code in [
        request::GET_ROUTEINFO_BY_TOPIC,
        request::SEND_MESSAGE_V2,
        request::HEART_BEAT,
        request::GET_CONSUMER_LIST_BY_GROUP,
        request::QUERY_CONSUMER_OFFSET,
        request::PULL_MESSAGE,
        request::UNREGISTER_CLIENT,
    ] {
        assert!(
            compared.get(&code).copied().unwrap_or(0) > 0,
            "no {code} compared: {compared:?}"
        );
    }
}
