//! ACL with stock clients: the C++ client (PyPI rocketmq 0.4.4) with session credentials and
//! crates.io `rocketmq-client-rust` 1.0 with its `AclClientRPCHook`, against our standalone
//! server started with `aclEnable=true` and golden 16's `plain_acl.yml`. The normal account
//! sends to and consumes from the topic it may use; a wrong secret, a denied topic and a
//! client without credentials are refused.

use std::time::Duration;

use broker::acl::{signature, signed_content};
use compat_tests::clients::{ClientRun, StockClient};
use compat_tests::golden;
use compat_tests::process::{connect, StandaloneProcess};
use remoting::code::request;
use remoting::header::broker::CreateTopicRequestHeader;
use remoting::RemotingCommand;

const LIMIT: Duration = Duration::from_secs(120);

async fn create_topic_as_admin(broker: &str, namesrv: &str, topic: &str) {
    let conn = connect(broker).await;
    let header = CreateTopicRequestHeader::read_write(topic, 4);
    let mut req = RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header);
    req.ext_mut().insert("AccessKey", "RocketMQAdmin");
    let sig = signature(&signed_content(&req), "admin12345678");
    req.ext_mut().insert("Signature", sig);
    let res = conn.request(req, Duration::from_secs(5)).await.unwrap();
    assert_eq!(res.code, 0, "{:?}", res.remark);
    let ns = connect(namesrv).await;
    for _ in 0..100 {
        let mut ask = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
        ask.ext_mut().insert("topic", topic);
        if ns.request(ask, Duration::from_secs(5)).await.unwrap().code == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{topic} never routed");
}

async fn send(ns: &str, topic: &str, credentials: Option<(&str, &str)>, count: usize) -> ClientRun {
    send_with(StockClient::Cpp, ns, topic, credentials, count).await
}

async fn send_with(
    client: StockClient,
    ns: &str,
    topic: &str,
    credentials: Option<(&str, &str)>,
    count: usize,
) -> ClientRun {
    let count = count.to_string();
    let mut args = vec![
        "send",
        "--namesrv",
        ns,
        "--topic",
        topic,
        "--group",
        "pg_acl",
        "--count",
        &count,
        "--key-prefix",
        "acl-",
        "--send-timeout-ms",
        "5000",
    ];
    if let Some((ak, sk)) = credentials {
        args.extend(["--access-key", ak, "--secret-key", sk]);
    }
    client.run(&args, LIMIT).await
}

fn sent_ok(run: &ClientRun) -> usize {
    run.records().iter().filter(|r| r["status"] == "SEND_OK").count()
}

/// A standalone server with `aclEnable=true` and golden 16's accounts; the home dir must live
/// as long as the server.
async fn acl_server() -> (StandaloneProcess, tempfile::TempDir, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("conf")).unwrap();
    std::fs::copy(
        golden::golden_dir().join("frames/16-acl-plain_acl.yml"),
        home.path().join("conf/plain_acl.yml"),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let home_setting = format!("rocketmqHome={}", home.path().display());
    let server = StandaloneProcess::start(data.path(), &["aclEnable=true", home_setting.as_str()]).await;
    (server, home, data)
}

#[tokio::test]
async fn cpp_client_with_credentials_is_served_and_refused_as_java_would() {
    let (mut server, _home, _data) = acl_server().await;
    let ns = server.namesrv_addr.clone();
    let broker = format!("127.0.0.1:{}", server.broker_port);
    create_topic_as_admin(&broker, &ns, "AclTopic").await;
    create_topic_as_admin(&broker, &ns, "AclDeniedTopic").await;

    let good = send(&ns, "AclTopic", Some(("RocketMQ", "12345678")), 5).await;
    assert_eq!(sent_ok(&good), 5, "{:?}\n{}", good.errors(), good.stderr);

    let consumed = StockClient::Cpp
        .run(
            &[
                "push-consume",
                "--namesrv",
                &ns,
                "--topic",
                "AclTopic",
                "--group",
                "cg_acl",
                "--expect",
                "5",
                "--timeout",
                "60",
                "--idle",
                "3",
                "--access-key",
                "RocketMQ",
                "--secret-key",
                "12345678",
            ],
            LIMIT,
        )
        .await;
    let keys: std::collections::BTreeSet<String> = consumed
        .records()
        .iter()
        .filter_map(|r| r["keys"].as_str().map(String::from))
        .collect();
    assert_eq!(keys.len(), 5, "{:?}\n{}", consumed.errors(), consumed.stderr);

    for (topic, credentials, why) in [
        ("AclTopic", Some(("RocketMQ", "wrong-secret")), "a wrong secret"),
        (
            "AclDeniedTopic",
            Some(("RocketMQ", "12345678")),
            "a topic the account may not use",
        ),
        ("AclTopic", None, "no credentials"),
    ] {
        let refused = send(&ns, topic, credentials, 1).await;
        assert_eq!(sent_ok(&refused), 0, "{why}: {:?}", refused.records());
        assert!(!refused.success, "{why}");
    }
    server.stop().await;
}

#[tokio::test]
async fn rust_client_with_its_acl_hook_is_served_and_a_wrong_secret_refused() {
    let (mut server, _home, _data) = acl_server().await;
    let ns = server.namesrv_addr.clone();
    let broker = format!("127.0.0.1:{}", server.broker_port);
    create_topic_as_admin(&broker, &ns, "AclTopic").await;

    let good = send_with(StockClient::Rust, &ns, "AclTopic", Some(("RocketMQ", "12345678")), 5).await;
    assert_eq!(sent_ok(&good), 5, "{:?}\n{}", good.errors(), good.stderr);

    let consumed = StockClient::Rust
        .run(
            &[
                "push-consume",
                "--namesrv",
                &ns,
                "--topic",
                "AclTopic",
                "--group",
                "cg_acl",
                "--from",
                "first",
                "--expect",
                "5",
                "--timeout",
                "60",
                "--idle",
                "3",
                "--access-key",
                "RocketMQ",
                "--secret-key",
                "12345678",
            ],
            LIMIT,
        )
        .await;
    let keys: std::collections::BTreeSet<String> = consumed
        .records()
        .iter()
        .filter_map(|r| r["keys"].as_str().map(String::from))
        .collect();
    assert_eq!(keys.len(), 5, "{:?}\n{}", consumed.errors(), consumed.stderr);

    for (credentials, why) in [
        (Some(("RocketMQ", "wrong-secret")), "a wrong secret"),
        (None, "no credentials"),
    ] {
        let refused = send_with(StockClient::Rust, &ns, "AclTopic", credentials, 1).await;
        assert_eq!(sent_ok(&refused), 0, "{why}: {:?}", refused.records());
        assert!(!refused.success, "{why}");
        // The client shows only the broker's code: 1, Java's ACL refusal.
        assert!(
            refused
                .errors()
                .iter()
                .any(|e| e["error"].as_str().is_some_and(|t| t.contains("(code 1)"))),
            "{why}: {:?}",
            refused.errors()
        );
    }
    server.stop().await;
}
