//! The web console over HTTP. `standalone --dashboard-port` after a known run (30 messages
//! into a 4-queue topic, 5 per queue pulled and committed by a group with one consumer
//! online): each page shows the topic, the group, its lag of 10 and drawn plots; message
//! lookups find messages by msgId, unique key, key and offset with the body escaped; bad
//! input gets 4xx; write actions are refused (403) unless `dashboardWriteEnable=true`, and
//! then create a topic and reset a group's offsets.

use std::net::SocketAddr;

use compat_tests::console::{self, get, http, post, GROUP, LAG, TOPIC};
use compat_tests::process::{free_port, InProcessBroker, StandaloneProcess};

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test]
async fn standalone_console_pages_show_the_run() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = StandaloneProcess::start_with_flags(
        data.path(),
        &["--dashboard-port", &port.to_string()],
        &["dashboardSampleInterval=300"],
    )
    .await;
    let web: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let traffic = console::run(&format!("127.0.0.1:{}", server.broker_port)).await;
    // Enough samples for a line: the sends fall in one interval, zeros follow.
    console::wait_for_plot_data(web).await;

    // Cluster: this broker, its role, and the name server's view with a health probe.
    let (status, page) = get(web, "/").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("broker-a") && page.contains("ASYNC_MASTER"), "{page}");
    assert!(page.contains(&format!("127.0.0.1:{}", server.broker_port)), "{page}");
    assert!(
        page.contains(r#"<table class="brokers">"#),
        "the name server's cluster table: {page}"
    );
    assert!(
        page.contains(r#"<span class="ok">up</span>"#),
        "the broker answers the probe: {page}"
    );

    // Topics: the topic with 4 queues, 30 messages, and a put rate column.
    let (status, page) = get(web, "/topics").await;
    assert_eq!(status, 200);
    let row = page
        .split("<tr>")
        .find(|r| r.contains(&format!(">{TOPIC}</a>")))
        .expect("topic row");
    assert!(row.contains("<td>4 / 4</td>") && row.contains("<td>30</td>"), "{row}");
    let (status, page) = get(web, &format!("/topic?name={TOPIC}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!(">{GROUP}</a></td><td>{LAG}</td>")),
        "group lag on the topic page: {page}"
    );
    assert!(
        page.contains("<td>0</td><td>0</td><td>8</td>"),
        "queue 0: min 0, max 8: {page}"
    );

    // Groups: online client, lag 10, per-queue lags 3, 3, 2, 2.
    let (status, page) = get(web, "/groups").await;
    assert_eq!(status, 200);
    let row = page
        .split("<tr>")
        .find(|r| r.contains(&format!(">{GROUP}</a>")))
        .expect("group row");
    assert!(row.contains("<td>1</td>"), "one client online: {row}");
    assert!(row.contains(&format!(r#"<span class="lag">{LAG}</span>"#)), "{row}");
    let (status, page) = get(web, &format!("/group?name={GROUP}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("127.0.0.1@console#1"), "{page}");
    assert_eq!(count(&page, r#"<span class="lag">3</span>"#), 2, "{page}");
    assert_eq!(count(&page, r#"<span class="lag">2</span>"#), 2, "{page}");
    assert!(page.contains("Read-only console"), "no write forms: {page}");

    // Message lookups, with the hostile body escaped.
    let (status, page) = get(web, &format!("/messages?msgId={}", traffic.offset_msg_ids[0])).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(&quot;console&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "the body is never markup");
    assert!(
        page.contains("key-0") && page.contains("TagA") && page.contains(&traffic.unique_keys[0]),
        "{page}"
    );
    let (status, page) = get(
        web,
        &format!("/messages?msgId={}&topic={TOPIC}", traffic.unique_keys[7]),
    )
    .await;
    assert_eq!(status, 200, "by unique key: {page}");
    assert!(page.contains("console-body-7"), "{page}");
    let (status, page) = get(web, &format!("/messages?msgId={}", traffic.unique_keys[9])).await;
    assert_eq!(status, 200, "by unique key without a topic: {page}");
    assert!(page.contains("console-body-9"));
    let (status, page) = get(web, &format!("/messages?topic={TOPIC}&key=key-5")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("console-body-5") && page.contains("1 message(s) found"),
        "{page}"
    );
    let (status, page) = get(web, &format!("/messages?topic={TOPIC}&queue=1&offset=2")).await;
    assert_eq!(status, 200);
    assert!(page.contains("console-body-9"), "queue 1 offset 2 is message 9: {page}");

    // Plots: drawn server-side, and the JSON the script redraws from.
    let (status, page) = get(web, "/plots").await;
    assert_eq!(status, 200);
    assert_eq!(count(&page, r#"<svg class="plot""#), 4, "{page}");
    let put_path = page
        .split(&format!(r#"<path class="series" data-key="{TOPIC}""#))
        .nth(1)
        .expect("a put-rate line for the topic");
    assert!(
        put_path.split("</path>").next().unwrap().contains(" L"),
        "a drawn line: {put_path}"
    );
    assert!(
        page.contains(&format!(r#"<path class="series" data-key="{GROUP}""#)),
        "a lag line"
    );
    let (status, json) = get(web, "/api/series").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let puts = v["charts"]["put"]["series"][TOPIC].as_array().expect("put series");
    let sent: f64 = puts.iter().filter_map(|x| x.as_f64()).sum::<f64>() * 0.3;
    assert!(sent > 0.0, "{json}");
    let lag = v["charts"]["lag"]["series"][GROUP].as_array().expect("lag series");
    assert_eq!(lag.last().and_then(|x| x.as_f64()), Some(LAG as f64), "{json}");
    assert_eq!(v["times"].as_array().unwrap().len(), puts.len());
    let (status, css) = get(web, "/static/console.css").await;
    assert!(status == 200 && css.contains("svg.plot"));

    // Bad input: 4xx, and the console keeps serving.
    for (path, want) in [
        ("/nope", 404),
        ("/messages?msgId=zz", 400),
        ("/messages?msgId=0123", 400),
        ("/messages?msgId=00000000000000000000000000000000", 404),
        ("/messages?topic=&queue=x&offset=1", 400),
        (&format!("/messages?topic={TOPIC}&queue=x&offset=1"), 400),
        (&format!("/messages?topic={TOPIC}&queue=0&offset=99999"), 404),
        ("/topic", 400),
        ("/topic?name=NoSuchTopic", 404),
        ("/group?name=%3Cscript%3E", 404),
        ("/api/series?limit=abc", 400),
        ("/topics/create", 405),
    ] {
        let (status, body) = get(web, path).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(
            !body.contains("<script>alert") && !body.contains("<script>\""),
            "{path} echoes escaped"
        );
    }
    let (status, body) = get(web, "/group?name=%3Cscript%3E").await;
    assert!(status == 404 && body.contains("&lt;script&gt;"), "{body}");
    let huge = format!(
        "GET /messages?msgId={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "A".repeat(100_000)
    );
    let (status, _, _) = http(web, huge.as_bytes()).await;
    assert!((400..500).contains(&status) || status == 0, "{status}");
    let long = format!(
        "GET /messages?msgId={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "A".repeat(9000)
    );
    let (status, _, _) = http(web, long.as_bytes()).await;
    assert_eq!(status, 414);
    let (status, _, _) = http(web, b"garbage\r\n\r\n").await;
    assert!((400..500).contains(&status) || status == 0, "{status}");
    let (status, _, _) = http(web, b"GET /%ZZ%%\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!((400..500).contains(&status) || status == 0, "{status}");
    let (status, _, _) = post(web, "/plots", "", "").await;
    assert_eq!(status, 405);

    // Writes are refused without dashboardWriteEnable.
    let (status, _, body) = post(web, "/topics/create", "topic=Refused", "").await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = post(
        web,
        "/groups/reset",
        &format!("group={GROUP}&topic={TOPIC}&timestamp=earliest"),
        "",
    )
    .await;
    assert_eq!(status, 403);
    let (_, page) = get(web, "/topics").await;
    assert!(!page.contains("Refused"));
    let (_, page) = get(web, &format!("/group?name={GROUP}")).await;
    assert_eq!(count(&page, r#"<span class="lag">3</span>"#), 2, "offsets unchanged");

    let (status, _) = get(web, "/").await;
    assert_eq!(status, 200, "still serving");
    drop(traffic);
}

#[tokio::test]
async fn write_actions_work_with_dashboard_write_enable() {
    let broker = InProcessBroker::start(&[
        ("dashboardPort", "0"),
        ("dashboardWriteEnable", "true"),
        ("dashboardSampleInterval", "200"),
    ])
    .await;
    let web = broker.broker.dashboard_addr().expect("console address");
    assert!(web.ip().is_loopback(), "dashboardHost defaults to 127.0.0.1: {web}");
    let traffic = console::run(&broker.addr).await;
    let state = broker.broker.state();

    // Create a topic.
    let (status, head, body) = post(web, "/topics/create", "topic=Created%2DTopic&queues=3&perm=6", "").await;
    assert_eq!(status, 303, "{head}{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("location: /topic?name=created-topic")
            || head.contains("Created-Topic"),
        "{head}"
    );
    let created = state.topics.select("Created-Topic").expect("created");
    assert_eq!(
        (created.read_queue_nums, created.write_queue_nums, created.perm),
        (3, 3, 6)
    );
    let (status, page) = get(web, "/topic?name=Created-Topic").await;
    assert_eq!(status, 200, "{page}");
    for (form, want) in [
        ("topic=bad%20name", 400),
        ("topic=X&queues=0", 400),
        ("topic=X&queues=abc", 400),
        ("topic=X&perm=99", 400),
        ("", 400),
    ] {
        let (status, _, body) = post(web, "/topics/create", form, "").await;
        assert_eq!(status, want, "{form}: {body}");
    }
    let (status, _, _) = post(
        web,
        "/topics/create",
        "topic=CrossSite",
        "Origin: http://evil.example\r\n",
    )
    .await;
    assert_eq!(status, 403, "a form posted from another site");
    assert!(state.topics.select("CrossSite").is_none());

    // Reset the group to the earliest offsets: its lag becomes all 30 messages.
    let (status, _, body) = post(
        web,
        "/groups/reset",
        &format!("group={GROUP}&topic={TOPIC}&timestamp=earliest"),
        "",
    )
    .await;
    assert_eq!(status, 303, "{body}");
    for q in 0..4 {
        assert_eq!(state.offsets.query(GROUP, TOPIC, q), 0, "queue {q}");
    }
    let (_, page) = get(web, "/groups").await;
    assert!(page.contains(r#"<span class="lag">30</span>"#), "{page}");
    // ... and to the latest: no lag.
    let (status, _, _) = post(
        web,
        "/groups/reset",
        &format!("group={GROUP}&topic={TOPIC}&timestamp=latest"),
        "",
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(state.offsets.query(GROUP, TOPIC, 0), 8);
    for (form, want) in [
        (format!("group={GROUP}&topic={TOPIC}&timestamp=yesterday"), 400),
        (format!("group={GROUP}&topic=NoSuchTopic"), 404),
        (format!("group=nobody&topic={TOPIC}"), 404),
        ("topic=x".to_string(), 400),
    ] {
        let (status, _, body) = post(web, "/groups/reset", &form, "").await;
        assert_eq!(status, want, "{form}: {body}");
    }
    let huge = "topic=".to_string() + &"x".repeat(70_000);
    let (status, _, _) = post(web, "/topics/create", &huge, "").await;
    assert_eq!(status, 413);
    drop(traffic);
}

#[tokio::test]
async fn the_console_is_off_unless_configured() {
    let broker = InProcessBroker::start(&[]).await;
    assert!(broker.broker.dashboard_addr().is_none());
    let mut config = broker::BrokerConfig::default();
    assert!(
        config.set("dashboardHost", "not-an-ip").is_err(),
        "binds only where configured"
    );
    config.set("dashboardHost", "::1").unwrap();
    config.set("dashboardPort", "8080").unwrap();
    assert_eq!(config.dashboard_addr().unwrap().to_string(), "[::1]:8080");
}

/// What the console costs with 10,000 topics (1,000 of them with traffic) and 100 groups
/// with offsets (run by hand: `cargo test -p compat-tests --test console -- --ignored
/// --nocapture`; the figures are in docs/observability.md).
#[tokio::test]
#[ignore]
async fn console_cost_at_10000_topics() {
    use remoting::protocol::topic::{TopicConfig, TopicConfigSerializeWrapper};
    use std::time::Instant;
    // The topics are written to topics.json before the start (creating them one by one
    // persists the whole table each time), and ConsumeQueue files are small.
    let dir = tempfile::tempdir().unwrap();
    let mut wrapper = TopicConfigSerializeWrapper::default();
    for i in 0..10_000 {
        let name = format!("T{i:05}");
        wrapper
            .topic_config_table
            .insert(name.clone(), TopicConfig::new(name, 4, 4, 6));
    }
    std::fs::create_dir_all(dir.path().join("store/config")).unwrap();
    std::fs::write(
        dir.path().join("store/config/topics.json"),
        serde_json::to_vec(&wrapper).unwrap(),
    )
    .unwrap();
    let mut config = broker::BrokerConfig::default();
    let store = dir.path().join("store").display().to_string();
    for (k, v) in [
        ("brokerName", "broker-a"),
        ("brokerIP1", "127.0.0.1"),
        ("listenPort", "0"),
        ("storePathRootDir", store.as_str()),
        ("dashboardPort", "0"),
        ("dashboardSampleInterval", "3600000"),
        ("mappedFileSizeConsumeQueue", "6000"),
    ] {
        config.set(k, v).unwrap();
    }
    config.namesrv_addr = None;
    let broker = broker::Broker::start(config).await.unwrap();
    let web = broker.dashboard_addr().unwrap();
    let state = broker.state();
    assert!(state.topics.topic_names().len() >= 10_000);
    let conn = compat_tests::process::connect(&format!("127.0.0.1:{}", broker.local_addr().port())).await;
    let samples = broker::console::samples::Samples::new(10_000);
    samples.sample(state);
    for i in 0..1_000 {
        let topic = format!("T{:05}", i * 10);
        console::send(&conn, &topic, i % 4, "k", "x").await;
        if i % 10 == 0 {
            state.offsets.commit(&format!("g{}", i / 10), &topic, 0, 0);
        }
    }
    let t = Instant::now();
    samples.sample(state);
    println!("one sample: {:?}", t.elapsed());
    for path in ["/topics", "/groups", "/api/series", "/plots", "/"] {
        let t = Instant::now();
        let (status, body) = get(web, path).await;
        assert_eq!(status, 200);
        println!("{path}: {} bytes in {:?}", body.len(), t.elapsed());
    }
    broker.shutdown().await;
}
