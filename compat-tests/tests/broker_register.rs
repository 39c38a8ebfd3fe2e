//! How a broker process keeps its name servers current, counted at the name server (its
//! Prometheus endpoint counts requests by code): with `forceRegister` (the default) every
//! period sends the whole topic table (REGISTER_BROKER); with `forceRegister=false` the
//! period only asks QUERY_DATA_VERSION, and the table goes out again only when it changed
//! (a new topic) or the name server lost it.

use std::time::Duration;

use compat_tests::broker_ops::{ask, create_topic, send};
use compat_tests::process::{connect, BrokerProcess, InProcessNamesrv};
use remoting::code::{request, response};
use remoting::RemotingCommand;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Requests of `code` the name server answered with SUCCESS so far.
async fn answered(ns: &InProcessNamesrv, code: i32) -> f64 {
    let addr = ns.server.metrics_addr().expect("metrics endpoint");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("text format");
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "rocketmq_rpc_latency_count"
                && s.labels.get("request_code") == Some(code.to_string().as_str())
                && s.labels.get("response_code") == Some("0")
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .unwrap_or(0.0)
}

async fn routed(ns: &InProcessNamesrv, topic: &str) -> bool {
    let conn = connect(&ns.addr).await;
    let mut q = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
    q.ext_mut().insert("topic", topic);
    ask(&conn, q).await.code == response::SUCCESS
}

async fn namesrv() -> InProcessNamesrv {
    InProcessNamesrv::start(&[("metricsExporterType", "PROM"), ("metricsPromExporterPort", "0")]).await
}

#[tokio::test]
async fn periodic_registration_sends_the_table_only_when_forced_or_changed() {
    // The default: the whole table every period.
    let ns = namesrv().await;
    let _forced = BrokerProcess::start(&[
        ("namesrvAddr", ns.addr.as_str()),
        ("brokerName", "broker-forced"),
        ("registerNameServerPeriod", "1000"),
    ])
    .await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let registers = answered(&ns, request::REGISTER_BROKER).await;
    assert!(registers >= 4.0, "{registers} registrations in 4.5 s");
    assert_eq!(answered(&ns, request::QUERY_DATA_VERSION).await, 0.0);

    // forceRegister=false: the start's registration, then only version checks.
    let ns = namesrv().await;
    let broker = BrokerProcess::start(&[
        ("namesrvAddr", ns.addr.as_str()),
        ("brokerName", "broker-checked"),
        ("registerNameServerPeriod", "1000"),
        ("forceRegister", "false"),
    ])
    .await;
    // (The start may register twice: topics created while starting announce a change.)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at_start = answered(&ns, request::REGISTER_BROKER).await;
    assert!((1.0..=2.0).contains(&at_start), "{at_start} registrations at start");
    let checks_before = answered(&ns, request::QUERY_DATA_VERSION).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(answered(&ns, request::REGISTER_BROKER).await, at_start);
    let checks = answered(&ns, request::QUERY_DATA_VERSION).await - checks_before;
    assert!(checks >= 2.0, "{checks} version checks in 3.5 s");

    // A new topic changes the version: the table goes out at once, and the route follows.
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "RegisterChecked", 4).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !routed(&ns, "RegisterChecked").await {
        assert!(
            std::time::Instant::now() < deadline,
            "the new topic never reached the name server"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after_topic = answered(&ns, request::REGISTER_BROKER).await;
    // One for the new topic (two if a periodic check saw the new version first).
    assert!(
        (at_start + 1.0..=at_start + 2.0).contains(&after_topic),
        "{after_topic} registrations after {at_start}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        answered(&ns, request::REGISTER_BROKER).await,
        after_topic,
        "nothing changed since"
    );
}

/// A heartbeat that creates a consumer group's retry topic is answered only once a name
/// server has the topic, as Java's is (it registers before answering): the client looks the
/// topic up right after, and a lookup that misses waits 30 s for its next try.
#[tokio::test]
async fn a_new_retry_topic_is_routable_when_the_heartbeat_is_answered() {
    let ns = namesrv().await;
    let broker = BrokerProcess::start(&[("namesrvAddr", ns.addr.as_str()), ("brokerName", "broker-hb")]).await;
    let conn = connect(&broker.addr).await;
    // Asked on a connection already open, straight after the answer, as a client does.
    let ns_conn = connect(&ns.addr).await;
    for i in 0..5 {
        let group = format!("cg_hb_{i}");
        let body = format!(
            r#"{{"clientID":"hb-client@{i}","producerDataSet":[],"consumerDataSet":[{{"groupName":"{group}","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[],"unitMode":false}}]}}"#
        );
        let answer = ask(
            &conn,
            RemotingCommand::request(request::HEART_BEAT).with_body(body.into_bytes()),
        )
        .await;
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
        let mut lookup = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
        lookup.ext_mut().insert("topic", format!("%RETRY%{group}"));
        let route = ask(&ns_conn, lookup).await;
        assert_eq!(
            route.code,
            response::SUCCESS,
            "%RETRY%{group} has no route right after the heartbeat's answer"
        );
    }
}

/// Likewise a topic auto-created by a send (from TBW102): Java registers it before it
/// stores the message, so a consumer that looks the topic up once the send is answered finds
/// it rather than waiting 30 s for its next lookup.
#[tokio::test]
async fn an_auto_created_topic_is_routable_when_the_send_is_answered() {
    let ns = namesrv().await;
    let broker = BrokerProcess::start(&[
        ("namesrvAddr", ns.addr.as_str()),
        ("brokerName", "broker-auto"),
        ("autoCreateTopicEnable", "true"),
    ])
    .await;
    let conn = connect(&broker.addr).await;
    let ns_conn = connect(&ns.addr).await;
    for i in 0..5 {
        let topic = format!("AutoTopic{i}");
        let answer = send(&conn, &topic, 0, b"first".to_vec(), "k").await;
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
        let mut lookup = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
        lookup.ext_mut().insert("topic", topic.as_str());
        let route = ask(&ns_conn, lookup).await;
        assert_eq!(
            route.code,
            response::SUCCESS,
            "{topic} has no route right after the send's answer"
        );
    }
}
