//! Messaging semantics with the stock crates.io `rocketmq-client-rust` 1.0 client against our
//! `standalone` binary (name server + broker): an orderly consumer gets every sharded
//! sequence strictly in order with never two deliveries from one queue at a time;
//! transactions with COMMIT, ROLLBACK and UNKNOW-then-check-back deliver exactly the
//! committed messages; request-reply round-trips; SQL92 subscriptions receive exactly the
//! matching messages.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use compat_tests::clients::{ClientRun, StockClient};
use compat_tests::process::{connect, StandaloneProcess};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);
const RUST: StockClient = StockClient::Rust;

/// UPDATE_AND_CREATE_TOPIC (4 queues) on the broker, then waits until the name server routes it.
async fn create_topic(server: &StandaloneProcess, topic: &str) {
    use remoting::code::request;
    use remoting::header::broker::CreateTopicRequestHeader;
    let conn = connect(&format!("127.0.0.1:{}", server.broker_port)).await;
    let header = CreateTopicRequestHeader::read_write(topic, 4);
    let req = remoting::RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header);
    assert_eq!(conn.request(req, Duration::from_secs(5)).await.unwrap().code, 0);
    let ns = connect(&server.namesrv_addr).await;
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

async fn run(args: &[&str]) -> ClientRun {
    RUST.run(args, LIMIT).await
}

fn assert_ok(what: &str, run: &ClientRun) {
    assert!(
        run.success && run.errors().is_empty(),
        "{what} failed: {:?}\nall lines: {:?}\nstderr:\n{}",
        run.errors(),
        run.lines,
        run.stderr
    );
}

/// Received messages (lines with a topic), without summaries and callback markers.
fn messages(run: &ClientRun) -> Vec<&Value> {
    run.records()
        .into_iter()
        .filter(|r| r.get("topic").is_some() && r.get("summary").is_none())
        .collect()
}

fn prop<'a>(r: &'a Value, name: &str) -> &'a str {
    r["properties"][name].as_str().unwrap_or_default()
}

fn num_prop(r: &Value, name: &str) -> u64 {
    prop(r, name)
        .parse()
        .unwrap_or_else(|_| panic!("property {name} of {r}"))
}

// ------------------------------------------------------------------ orderly

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderly_consumer_gets_each_sequence_in_order_one_delivery_per_queue_at_a_time() {
    const SEQUENCES: u64 = 8;
    const PER_SEQ: u64 = 10;
    let data = tempfile::tempdir().unwrap();
    let mut server = StandaloneProcess::start(data.path(), &[]).await;
    let ns = server.namesrv_addr.clone();
    create_topic(&server, "StockOrderly").await;

    let sent = run(&[
        "send-orderly",
        "--namesrv",
        &ns,
        "--topic",
        "StockOrderly",
        "--group",
        "stock_orderly_pg",
        "--sequences",
        &SEQUENCES.to_string(),
        "--per-seq",
        &PER_SEQ.to_string(),
    ])
    .await;
    assert_ok("send-orderly", &sent);
    // The selector shards by sequence: every message of a sequence on one queue, 2 per queue.
    let mut queue_of_seq: BTreeMap<u64, BTreeSet<i64>> = BTreeMap::new();
    for r in sent.records() {
        assert_eq!(r["status"], "SEND_OK", "{r}");
        queue_of_seq
            .entry(r["seq"].as_u64().unwrap())
            .or_default()
            .insert(r["queue_id"].as_i64().unwrap());
    }
    assert_eq!(queue_of_seq.len() as u64, SEQUENCES);
    assert!(queue_of_seq.values().all(|q| q.len() == 1), "{queue_of_seq:?}");
    let queues: BTreeSet<i64> = queue_of_seq.values().flatten().copied().collect();
    assert_eq!(
        queues.len(),
        4,
        "8 sequences spread over the 4 queues: {queue_of_seq:?}"
    );

    // The consumer holds each callback 20 ms, so that a second delivery from a queue the
    // client had not serialized would overlap it and be counted; one message per callback.
    let got = run(&[
        "push-consume",
        "--orderly",
        "--namesrv",
        &ns,
        "--topic",
        "StockOrderly",
        "--group",
        "stock_orderly_cg",
        "--from",
        "first",
        "--expect",
        "80",
        "--idle",
        "3",
        "--timeout",
        "60",
        "--hold-ms",
        "20",
        "--batch-max",
        "1",
        "--threads",
        "8",
    ])
    .await;
    assert_ok("orderly push-consume", &got);
    let msgs = messages(&got);
    assert_eq!(
        msgs.len() as u64,
        SEQUENCES * PER_SEQ,
        "each message once: {:?}",
        got.errors()
    );

    // Per sequence, in the order of delivery: 0, 1, ..., 9, all from the queue it was sent to.
    let mut by_seq: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for m in &msgs {
        let seq = num_prop(m, "seq");
        assert_eq!(m["keys"], Value::from(format!("seq-{seq}")));
        assert_eq!(
            BTreeSet::from([m["queue_id"].as_i64().unwrap()]),
            queue_of_seq[&seq],
            "sequence {seq} read from the queue it was sent to"
        );
        by_seq
            .entry(seq)
            .or_default()
            .push((m["recv_seq"].as_u64().unwrap(), num_prop(m, "idx")));
    }
    for (seq, mut recv) in by_seq {
        recv.sort();
        let order: Vec<u64> = recv.iter().map(|&(_, idx)| idx).collect();
        assert_eq!(
            order,
            (0..PER_SEQ).collect::<Vec<_>>(),
            "sequence {seq} strictly in order"
        );
    }

    // Never two callbacks in flight for one queue: the count at entry, and the intervals.
    assert!(
        msgs.iter().all(|m| m["in_flight_queue_at_entry"] == 1),
        "a callback started while another one of its queue was running"
    );
    let summary = got
        .records()
        .into_iter()
        .find(|r| r["summary"] == "orderly")
        .expect("the orderly summary line");
    let per_queue = summary["max_in_flight_per_queue"].as_object().unwrap();
    assert_eq!(per_queue.len(), 4, "{summary}");
    assert!(
        per_queue.values().all(|v| v == 1),
        "max concurrent deliveries per queue: {summary}"
    );
    let mut intervals: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for r in got.records().into_iter().filter(|r| r.get("callback_done").is_some()) {
        intervals
            .entry(r["context_queue"].as_str().unwrap().to_string())
            .or_default()
            .push((r["enter_us"].as_u64().unwrap(), r["exit_us"].as_u64().unwrap()));
    }
    for (queue, mut iv) in intervals {
        iv.sort();
        for w in iv.windows(2) {
            assert!(w[1].0 >= w[0].1, "queue {queue}: callbacks {w:?} overlap");
        }
    }
    server.stop().await;
}

// ------------------------------------------------------------- transactions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_deliver_exactly_the_committed_messages() {
    let data = tempfile::tempdir().unwrap();
    // Check half messages every second, once they are a second old.
    let mut server = StandaloneProcess::start(
        data.path(),
        &["transactionCheckInterval=1000", "transactionTimeOut=1000"],
    )
    .await;
    let ns = server.namesrv_addr.clone();
    create_topic(&server, "StockTx").await;

    let sent = run(&[
        "send-transactional",
        "--namesrv",
        &ns,
        "--topic",
        "StockTx",
        "--group",
        "stock_tx_pg",
        "--count",
        "12",
        "--plan",
        "commit,rollback,unknown-then-commit,unknown-then-rollback",
        "--check-wait",
        "40",
        "--linger",
        "2",
    ])
    .await;
    assert_ok("send-transactional", &sent);
    let mut plan_of: BTreeMap<String, String> = BTreeMap::new();
    for r in sent.records().into_iter().filter(|r| r.get("i").is_some()) {
        assert_eq!(r["status"], "SEND_OK", "half message stored: {r}");
        let plan = r["plan"].as_str().unwrap().to_string();
        let expected_local = match plan.as_str() {
            "commit" => "CommitMessage",
            "rollback" => "RollbackMessage",
            _ => "Unknown",
        };
        assert_eq!(r["local_state"], expected_local, "{r}");
        plan_of.insert(r["key"].as_str().unwrap().to_string(), plan);
    }
    assert_eq!(plan_of.len(), 12);

    // The broker checked back exactly the UNKNOW ones (each at least once); the producer
    // answered COMMIT or ROLLBACK from the plan.
    let checked: BTreeSet<String> = sent
        .records()
        .into_iter()
        .filter(|r| r["check"] == true)
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    let unknown: BTreeSet<String> = plan_of
        .iter()
        .filter(|(_, p)| p.starts_with("unknown-then-"))
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(checked, unknown, "check-backs: {}", sent.stderr);
    assert!(sent
        .records()
        .into_iter()
        .filter(|r| r["check"] == true)
        .all(|r| r["topic"] == "StockTx"));

    let committed: BTreeSet<String> = plan_of
        .iter()
        .filter(|(_, p)| *p == "commit" || *p == "unknown-then-commit")
        .map(|(k, _)| k.clone())
        .collect();
    let got = run(&[
        "push-consume",
        "--namesrv",
        &ns,
        "--topic",
        "StockTx",
        "--group",
        "stock_tx_cg",
        "--from",
        "first",
        "--expect",
        &committed.len().to_string(),
        "--idle",
        "4",
        "--timeout",
        "60",
    ])
    .await;
    assert_ok("push-consume of the transactional topic", &got);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in messages(&got) {
        assert_eq!(m["topic"], "StockTx");
        assert_eq!(prop(m, "TRAN_MSG"), "true", "a transactional message: {m}");
        *seen.entry(m["keys"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(
        seen.keys().cloned().collect::<BTreeSet<_>>(),
        committed,
        "exactly the COMMIT and UNKNOW-then-COMMIT messages"
    );
    assert!(seen.values().all(|&n| n == 1), "each once: {seen:?}");
    server.stop().await;
}

// ------------------------------------------------------------ request-reply

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_round_trips() {
    let data = tempfile::tempdir().unwrap();
    let mut server = StandaloneProcess::start(data.path(), &[]).await;
    let ns = server.namesrv_addr.clone();
    create_topic(&server, "StockRequest").await;

    let replier_ns = ns.clone();
    let replier = tokio::spawn(async move {
        run(&[
            "reply-consumer",
            "--namesrv",
            &replier_ns,
            "--topic",
            "StockRequest",
            "--group",
            "stock_reply_cg",
            "--from",
            "first",
            "--expect",
            "5",
            "--idle",
            "1",
            "--timeout",
            "90",
        ])
        .await
    });
    // Each request waits up to 30 s: the first one also waits for the replier to start.
    let requests = run(&[
        "request",
        "--namesrv",
        &ns,
        "--topic",
        "StockRequest",
        "--group",
        "stock_request_pg",
        "--count",
        "5",
        "--request-timeout-ms",
        "30000",
    ])
    .await;
    let replier = replier.await.unwrap();
    let ok = |r: &ClientRun| r.success && r.errors().is_empty();
    assert!(
        ok(&requests) && ok(&replier),
        "requester: {:?}\n{}\nreplier: {:?}\n{}",
        requests.lines,
        requests.stderr,
        replier.lines,
        replier.stderr
    );

    let replies = requests.records();
    assert_eq!(replies.len(), 5, "{replies:?}");
    let mut correlation = BTreeSet::new();
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r["i"], i as u64);
        assert_eq!(r["reply_body"], Value::from(format!("reply-to-request-{i}")), "{r}");
        assert_eq!(r["reply_topic"], "DefaultCluster_REPLY_TOPIC", "{r}");
        assert_eq!(r["msg_type"], "reply", "{r}");
        correlation.insert(r["correlation_id"].as_str().unwrap().to_string());
    }
    assert_eq!(correlation.len(), 5, "one correlation id per request");

    // The replier saw each request once, with the requester's reply properties.
    let handled: Vec<&Value> = replier
        .records()
        .into_iter()
        .filter(|r| r.get("reply_body").is_some())
        .collect();
    assert_eq!(handled.len(), 5, "{handled:?}");
    for h in &handled {
        assert_eq!(h["reply_status"], "SEND_OK", "{h}");
        assert!(!prop(h, "REPLY_TO_CLIENT").is_empty(), "{h}");
        assert!(correlation.contains(prop(h, "CORRELATION_ID")), "{h}");
    }
    server.stop().await;
}

// -------------------------------------------------------------------- SQL92

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql92_subscriptions_receive_exactly_the_matching_messages() {
    let data = tempfile::tempdir().unwrap();
    let mut server = StandaloneProcess::start(data.path(), &["enablePropertyFilter=true"]).await;
    let ns = server.namesrv_addr.clone();
    create_topic(&server, "StockSql").await;

    // 24 messages: a = i % 8 (an integer), b = x|y|z (a string): every combination once.
    let sent = run(&[
        "send",
        "--namesrv",
        &ns,
        "--topic",
        "StockSql",
        "--group",
        "stock_sql_pg",
        "--count",
        "24",
        "--key-prefix",
        "sql-",
        "--tags",
        "TagA,TagB",
        "--prop-list",
        "a=0,1,2,3,4,5,6,7",
        "--prop-list",
        "b=x,y,z",
    ])
    .await;
    assert_ok("send", &sent);
    let sent: Vec<(String, i64, String, String)> = sent
        .records()
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "SEND_OK");
            let i = r["i"].as_u64().unwrap();
            (
                format!("sql-{i}"),
                r["props"]["a"].as_str().unwrap().parse().unwrap(),
                r["props"]["b"].as_str().unwrap().to_string(),
                ["TagA", "TagB"][i as usize % 2].to_string(),
            )
        })
        .collect();
    assert_eq!(sent.len(), 24);

    type Pred = fn(i64, &str, &str) -> bool;
    let cases: [(&str, &str, Pred); 3] = [
        ("stock_sql_cg1", "a BETWEEN 2 AND 5 AND b = 'x'", |a, b, _| {
            (2..=5).contains(&a) && b == "x"
        }),
        ("stock_sql_cg2", "(a > 5 OR b IN ('y')) AND TAGS = 'TagA'", |a, b, t| {
            (a > 5 || b == "y") && t == "TagA"
        }),
        (
            "stock_sql_cg3",
            "b <> 'z' AND NOT (a < 3) AND a IS NOT NULL",
            |a, b, _| b != "z" && a >= 3,
        ),
    ];
    let runs = cases.into_iter().map(|(group, sql, pred)| {
        let expected: BTreeSet<String> = sent
            .iter()
            .filter(|(_, a, b, t)| pred(*a, b, t))
            .map(|(k, ..)| k.clone())
            .collect();
        let ns = ns.clone();
        async move {
            let expect = expected.len().to_string();
            let got = run(&[
                "push-consume",
                "--namesrv",
                &ns,
                "--topic",
                "StockSql",
                "--group",
                group,
                "--sql",
                sql,
                "--from",
                "first",
                "--expect",
                &expect,
                "--idle",
                "4",
                "--timeout",
                "60",
            ])
            .await;
            (sql, expected, got)
        }
    });
    for (sql, expected, got) in futures_join(runs).await {
        assert_ok(&format!("push-consume --sql {sql:?}"), &got);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for m in messages(&got) {
            *seen.entry(m["keys"].as_str().unwrap().to_string()).or_default() += 1;
        }
        assert!(!expected.is_empty());
        assert_eq!(
            seen.keys().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{sql}: exactly the matching messages"
        );
        assert!(seen.values().all(|&n| n == 1), "{sql}: each once: {seen:?}");
    }
    server.stop().await;

    // Without enablePropertyFilter the broker refuses SQL92 subscriptions (Java's
    // CHECK_CLIENT_CONFIG answer), so the filtering above was the broker's.
    let data = tempfile::tempdir().unwrap();
    let mut plain = StandaloneProcess::start(data.path(), &[]).await;
    create_topic(&plain, "StockSql").await;
    let refused = run(&[
        "push-consume",
        "--namesrv",
        &plain.namesrv_addr,
        "--topic",
        "StockSql",
        "--group",
        "stock_sql_cg0",
        "--sql",
        "a = 1",
        "--expect",
        "1",
        "--timeout",
        "10",
    ])
    .await;
    let error = refused
        .errors()
        .first()
        .map(|e| e["error"].to_string())
        .unwrap_or_default();
    assert!(
        !refused.success && error.contains("does not support consumer to filter message by SQL92"),
        "{error}\n{}",
        refused.stderr
    );
    plain.stop().await;
}

/// Runs the futures concurrently (as tasks) and returns their outputs in order.
async fn futures_join<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = vec![];
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
