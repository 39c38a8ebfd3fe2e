//! The core loop with stock clients against our `standalone` binary (name server + broker):
//! a producer sends, a push consumer receives each message exactly once with its keys, tags
//! and properties, offsets survive, a pull consumer reads by offset, tag subscriptions
//! filter, and a broker restart loses nothing acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use compat_tests::clients::{ClientRun, StockClient};
use compat_tests::process::{connect, StandaloneProcess};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(180);

/// UPDATE_AND_CREATE_TOPIC on the broker, then waits until the name server routes the topic.
async fn create_topic(broker: &str, namesrv: &str, topic: &str) {
    use remoting::code::request;
    use remoting::header::broker::CreateTopicRequestHeader;
    let conn = connect(broker).await;
    let header = CreateTopicRequestHeader::read_write(topic, 4);
    let req = remoting::RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header);
    assert_eq!(conn.request(req, Duration::from_secs(5)).await.unwrap().code, 0);
    let ns = connect(namesrv).await;
    for _ in 0..100 {
        let mut ask = remoting::RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
        ask.ext_mut().insert("topic", topic);
        if ns.request(ask, Duration::from_secs(5)).await.unwrap().code == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("topic {topic} never appeared in the routes");
}

async fn send(client: StockClient, ns: &str, topic: &str, count: usize, key_prefix: &str) -> ClientRun {
    let count = count.to_string();
    let run = client
        .run(
            &[
                "send",
                "--namesrv",
                ns,
                "--topic",
                topic,
                "--group",
                "compat_pg",
                "--count",
                &count,
                "--tags",
                "TagA,TagB,TagC",
                "--key-prefix",
                key_prefix,
                "--prop",
                "origin=compat",
                "--body-prefix",
                "body-",
            ],
            LIMIT,
        )
        .await;
    assert!(
        run.success,
        "{client:?} send failed: {:?}\n{}",
        run.errors(),
        run.stderr
    );
    run
}

/// Push-consumes until `expect` messages arrived and then `idle` seconds passed without more
/// (with `expect` 0, `idle` seconds from the start: long enough for a rebalance and a pull).
async fn push_idle(
    client: StockClient,
    ns: &str,
    topic: &str,
    group: &str,
    expect: usize,
    expr: Option<&str>,
    idle: &str,
) -> ClientRun {
    let expect_s = expect.to_string();
    let mut args = vec![
        "push-consume",
        "--namesrv",
        ns,
        "--topic",
        topic,
        "--group",
        group,
        "--expect",
        &expect_s,
        "--timeout",
        "60",
        "--idle",
        idle,
    ];
    if let Some(e) = expr {
        args.extend(["--expr", e]);
    }
    if client == StockClient::Cpp {
        args.extend(["--show-prop", "origin"]);
    }
    client.run(&args, LIMIT).await
}

async fn push(client: StockClient, ns: &str, topic: &str, group: &str, expect: usize, expr: Option<&str>) -> ClientRun {
    push_idle(client, ns, topic, group, expect, expr, "6").await
}

/// key -> how many times received, checking each record's tags, body and property.
fn received_keys(client: StockClient, run: &ClientRun) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for r in run.records().into_iter().filter(|r| r.get("summary").is_none()) {
        let key = r["keys"].as_str().unwrap_or_default().to_string();
        let i: usize = key
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap_or(usize::MAX);
        let expected_tag = ["TagA", "TagB", "TagC"][i % 3];
        assert_eq!(r["tags"], expected_tag, "{client:?}: tag of {key}");
        assert_eq!(r["body"], Value::from(format!("body-{i}")), "{client:?}: body of {key}");
        assert_eq!(
            r["properties"]["origin"], "compat",
            "{client:?}: user property of {key}: {r}"
        );
        *seen.entry(key).or_default() += 1;
    }
    seen
}

async fn core_loop(client: StockClient, tag: &str) {
    let data = tempfile::tempdir().unwrap();
    let mut server = StandaloneProcess::start(data.path(), &[]).await;
    let ns = server.namesrv_addr.clone();
    let topic = format!("Core{tag}");
    let group = format!("core_{tag}_cg");
    let prefix = format!("{tag}-");
    // Topics are created up front, as users do with mqadmin (ali-ons does not fall back to
    // auto-creation through TBW102).
    create_topic(&format!("127.0.0.1:{}", server.broker_port), &ns, &topic).await;

    send(client, &ns, &topic, 100, &prefix).await;
    let first = push(client, &ns, &topic, &group, 100, None).await;
    let seen = received_keys(client, &first);
    assert_eq!(
        seen.len(),
        100,
        "{client:?}: every message received: {:?}",
        first.errors()
    );
    assert!(
        seen.values().all(|&n| n == 1),
        "{client:?}: each exactly once: {seen:?}"
    );

    // Same group again: offsets were committed, nothing old comes back in 20 s (the first run
    // had all 100 well within that).
    let again = push_idle(client, &ns, &topic, &group, 0, None, "20").await;
    assert_eq!(
        received_keys(client, &again).len(),
        0,
        "{client:?}: a second run of the group gets nothing old"
    );

    // A pull consumer reads every message by offset.
    let pulled = client
        .run(
            &[
                "pull-consume",
                "--namesrv",
                &ns,
                "--topic",
                &topic,
                "--group",
                &format!("{group}_pull"),
                "--expect",
                "100",
                "--timeout",
                "60",
            ],
            LIMIT,
        )
        .await;
    let pulled_keys: BTreeSet<String> = pulled
        .records()
        .iter()
        .filter_map(|r| r["keys"].as_str().map(String::from))
        .collect();
    assert_eq!(
        pulled_keys.len(),
        100,
        "{client:?}: pull consumer: {:?}",
        pulled.errors()
    );

    // Only TagA and TagB for a `TagA || TagB` subscription.
    let filtered = push(client, &ns, &topic, &format!("{group}_tags"), 67, Some("TagA || TagB")).await;
    let tags: BTreeSet<String> = filtered
        .records()
        .iter()
        .filter_map(|r| r["tags"].as_str().map(String::from))
        .collect();
    assert_eq!(
        tags,
        BTreeSet::from(["TagA".to_string(), "TagB".to_string()]),
        "{client:?}"
    );
    assert_eq!(
        received_keys(client, &filtered).len(),
        67,
        "{client:?}: 34 TagA + 33 TagB"
    );

    // Restart: everything acknowledged is still there and the group resumes where it was.
    send(client, &ns, &topic, 10, &format!("{tag}r-")).await;
    server.restart().await;
    let resumed = push(client, &ns, &topic, &group, 10, None).await;
    let seen = received_keys(client, &resumed);
    assert_eq!(
        seen.len(),
        10,
        "{client:?}: after a restart the group gets exactly the 10 new messages: {seen:?}"
    );
    assert!(seen.keys().all(|k| k.starts_with(&format!("{tag}r-"))));
    server.stop().await;
}

#[tokio::test]
async fn cpp_client_core_loop() {
    core_loop(StockClient::Cpp, "cpp").await;
}

#[tokio::test]
async fn ali_ons_core_loop() {
    core_loop(StockClient::AliOns, "node").await;
}

#[tokio::test]
async fn rust_client_core_loop() {
    core_loop(StockClient::Rust, "rust").await;
}
