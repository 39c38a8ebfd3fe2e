//! The stock crates.io `rocketmq-client-rust` 1.0 push consumer in POP mode against our name
//! server and broker processes. The group is switched to POP for the topic with
//! `rmqadmin setConsumeMode` (SET_MESSAGE_REQUEST_MODE, as Java's mqadmin sends it); the
//! client, built with `client_rebalance(false)`, asks the broker for its queues
//! (QUERY_ASSIGNMENT), is told POP, and then pops (POP_MESSAGE, long polling), acks what
//! its listener consumed (BATCH_ACK_MESSAGE, which this client uses even for one message),
//! and for what the listener answers "reconsume later" changes the invisible time
//! (CHANGE_MESSAGE_INVISIBLETIME, the client's first pop delay level: 10 s).
//! The broker's revive service then hands those messages out again from the pop retry
//! topic, under the original topic, with reconsumeTimes 1.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use compat_tests::broker_ops::{ask, create_topic, send};
use compat_tests::clients::StockClient;
use compat_tests::process::{connect, BrokerProcess, NamesrvProcess};
use remoting::code::{request, response};
use remoting::RemotingCommand;
use serde_json::Value;

const TOPIC: &str = "StockPop";
const GROUP: &str = "stock_pop_cg";

#[tokio::test]
async fn stock_push_consumer_pops_acks_and_gets_reconsume_later_messages_again() {
    let ns = NamesrvProcess::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    // The ack handlers say at debug level which requests the client sent.
    let broker = BrokerProcess::start_in(
        &dir.path().join("store"),
        &[("namesrvAddr", ns.addr.as_str()), ("reviveInterval", "200")],
        "info,broker::processor::pop_ack=debug",
    )
    .await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, TOPIC, 2).await;
    // Wait until the name server routes the topic.
    let ns_conn = connect(&ns.addr).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut q = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
        q.ext_mut().insert("topic", TOPIC);
        if ask(&ns_conn, q).await.code == response::SUCCESS {
            break;
        }
        assert!(Instant::now() < deadline, "no route for {TOPIC}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The admin side: our mqadmin's setConsumeMode (SET_MESSAGE_REQUEST_MODE to every master
    // of the cluster, as Java's `mqadmin setConsumeMode -c ... -m POP`).
    let out = std::process::Command::new(compat_tests::process::binary("rmqadmin"))
        .args([
            "-n",
            &ns.addr,
            "setConsumeMode",
            "-c",
            "DefaultCluster",
            "-t",
            TOPIC,
            "-g",
            GROUP,
            "-m",
            "POP",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.ends_with(&format!(
            "topic[{TOPIC}] group[{GROUP}] consume mode[POP] popShareQueueNum[0]"
        )),
        "{stdout}"
    );

    let bodies = ["ok-0", "ok-1", "nack-0", "ok-2", "ok-3", "nack-1"];
    for (i, body) in bodies.iter().enumerate() {
        let answer = send(&conn, TOPIC, (i % 2) as i32, body.as_bytes().to_vec(), "k").await;
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    }

    let run = StockClient::Rust
        .run(
            &[
                "pop-consume",
                "--namesrv",
                &ns.addr,
                "--topic",
                TOPIC,
                "--group",
                GROUP,
                "--expect",
                "8",
                "--nack-prefix",
                "nack",
                "--invisible-ms",
                "5000",
                "--idle",
                "3",
                "--timeout",
                "60",
            ],
            Duration::from_secs(90),
        )
        .await;
    assert!(
        run.success && run.errors().is_empty(),
        "{:?}\n{}",
        run.errors(),
        run.stderr
    );
    let mut seen: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in run.records() {
        seen.entry(r["body"].as_str().unwrap().to_string()).or_default().push(r);
    }
    for body in bodies {
        let deliveries = &seen[body];
        for d in deliveries {
            assert_eq!(d["topic"], TOPIC, "{d}");
            assert!(d["properties"]["POP_CK"].is_string(), "receipt handle: {d}");
        }
        if body.starts_with("ok") {
            assert_eq!(deliveries.len(), 1, "{body}: {deliveries:?}");
            assert_eq!(deliveries[0]["status"], "success");
        } else {
            assert_eq!(deliveries.len(), 2, "{body}: {deliveries:?}");
            assert_eq!(deliveries[0]["status"], "later");
            assert_eq!(deliveries[0]["reconsume_times"], 0);
            assert_eq!(deliveries[1]["status"], "success");
            assert_eq!(deliveries[1]["reconsume_times"], 1);
            // The second delivery came from the retry topic (handle retry flag "1"), put
            // there by the revive service about 10 s after the first pop.
            let handle = deliveries[1]["properties"]["POP_CK"].as_str().unwrap();
            assert_eq!(handle.split(' ').nth(4), Some("1"), "{handle}");
            let waited =
                deliveries[1]["store_timestamp"].as_i64().unwrap() - deliveries[0]["store_timestamp"].as_i64().unwrap();
            assert!((9_000..60_000).contains(&waited), "{body} came back after {waited} ms");
            println!("{body}: redelivered {waited} ms after it was stored");
        }
    }

    // Which requests carried the client's acks and nacks.
    let log = broker.log();
    let count = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    let (batch, single, change) = (
        count("BATCH_ACK_MESSAGE"),
        count("ACK_MESSAGE topic"),
        count("CHANGE_MESSAGE_INVISIBLETIME"),
    );
    println!("client requests: {batch} BATCH_ACK_MESSAGE, {single} ACK_MESSAGE, {change} CHANGE_MESSAGE_INVISIBLETIME");
    // Six consumed deliveries (four "ok" messages, two redelivered "nack" ones), each acked
    // once; this client version acks through BATCH_ACK_MESSAGE (its bit sets are JSON byte
    // arrays, Java's are base64 strings: the broker reads both).
    assert_eq!(batch + single, 6, "acks: {batch} batch, {single} single");
    assert_eq!(change, 2, "one invisible-time change per reconsume-later");

    // Everything was acked: nothing comes back after the 5 s invisible time.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let header = remoting::header::pop::PopMessageRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: -1,
        max_msg_nums: 32,
        invisible_time: 5000,
        poll_time: 0,
        born_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
        init_mode: 0,
        exp_type: None,
        exp: None,
        order: Some(false),
        attempt_id: None,
    };
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::POP_MESSAGE, &header),
    )
    .await;
    assert_eq!(
        answer.code,
        response::POLLING_TIMEOUT,
        "left over: {:?}",
        store::decode_messages(&answer.body)
    );
}
