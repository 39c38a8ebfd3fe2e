//! Two stock orderly consumers (crates.io `rocketmq-client-rust` 1.0) in one group against
//! our `standalone` binary: when the second joins, the queues the rebalance moves to it are
//! consumed by it only after the first has finished with them and released their locks
//! (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ), never both at once, and every sequence is delivered
//! in order across the two.
//!
//! Its own test binary: it sets the client's timer variables (rebalance every 2 s, unlock
//! delay 2 s instead of 20 s) in the process environment, which the drivers inherit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use compat_tests::clients::{ClientRun, StockClient};
use compat_tests::process::{connect, StandaloneProcess};
use serde_json::Value;

const TOPIC: &str = "StockHandoff";
const SEQUENCES: u64 = 8;
const PER_BATCH: u64 = 3;
const BATCHES: u64 = 14;
/// The batch after which the second consumer starts.
const SECOND_JOINS_AFTER: u64 = 3;

async fn create_topic(server: &StandaloneProcess) {
    use remoting::code::request;
    use remoting::header::broker::CreateTopicRequestHeader;
    let conn = connect(&format!("127.0.0.1:{}", server.broker_port)).await;
    let header = CreateTopicRequestHeader::read_write(TOPIC, 4);
    let req = remoting::RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header);
    assert_eq!(conn.request(req, Duration::from_secs(5)).await.unwrap().code, 0);
    let ns = connect(&server.namesrv_addr).await;
    for _ in 0..100 {
        let mut ask = remoting::RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
        ask.ext_mut().insert("topic", TOPIC);
        if ns.request(ask, Duration::from_secs(5)).await.unwrap().code == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("topic {TOPIC} never appeared in the routes");
}

/// One batch: SEQUENCES sequences of PER_BATCH messages, sharded by sequence over the 4
/// queues, each with user property `batch`.
async fn send_batch(ns: &str, batch: u64) {
    let prop = format!("batch={batch}");
    let run = StockClient::Rust
        .run(
            &[
                "send-orderly",
                "--namesrv",
                ns,
                "--topic",
                TOPIC,
                "--group",
                "stock_handoff_pg",
                "--sequences",
                &SEQUENCES.to_string(),
                "--per-seq",
                &PER_BATCH.to_string(),
                "--prop",
                &prop,
            ],
            Duration::from_secs(60),
        )
        .await;
    assert!(
        run.success && run.errors().is_empty(),
        "batch {batch}: {:?}\n{}",
        run.errors(),
        run.stderr
    );
}

async fn consumer(ns: String, name: &'static str) -> ClientRun {
    StockClient::Rust
        .run(
            &[
                "push-consume",
                "--orderly",
                "--namesrv",
                &ns,
                "--topic",
                TOPIC,
                "--group",
                "stock_handoff_cg",
                "--instance-name",
                name,
                "--from",
                "first",
                // each consumer stops once it has had nothing for --idle seconds
                "--expect",
                "1",
                "--idle",
                "10",
                "--timeout",
                "150",
                "--hold-ms",
                "200",
                "--batch-max",
                "1",
                "--threads",
                "8",
            ],
            Duration::from_secs(180),
        )
        .await
}

fn num(r: &Value, name: &str) -> u64 {
    r["properties"][name]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("property {name} of {r}"))
}

/// (enter, exit) of every callback, per queue key.
fn callbacks(run: &ClientRun) -> BTreeMap<String, Vec<(u64, u64)>> {
    let mut out: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for r in run.records().into_iter().filter(|r| r.get("callback_done").is_some()) {
        out.entry(r["context_queue"].as_str().unwrap().to_string())
            .or_default()
            .push((r["enter_us"].as_u64().unwrap(), r["exit_us"].as_u64().unwrap()));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_orderly_consumer_takes_queues_only_after_the_first_releases_them() {
    std::env::set_var("rocketmq.client.rebalance.waitInterval", "2000");
    std::env::set_var("rocketmq.client.unlockDelayTimeMills", "2000");
    let data = tempfile::tempdir().unwrap();
    let mut server = StandaloneProcess::start(data.path(), &[]).await;
    let ns = server.namesrv_addr.clone();
    create_topic(&server).await;
    send_batch(&ns, 0).await;

    let first = tokio::spawn(consumer(ns.clone(), "handoff_a"));
    // A batch about every second while a queue takes 1.2 s to consume one (6 messages,
    // 200 ms each): every queue stays busy, before and while the second joins and the
    // rebalance moves queues to it.
    let mut second = None;
    for batch in 1..BATCHES {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        send_batch(&ns, batch).await;
        if batch == SECOND_JOINS_AFTER {
            second = Some(tokio::spawn(consumer(ns.clone(), "handoff_b")));
        }
    }
    let second = second.unwrap();
    let (a, b) = (first.await.unwrap(), second.await.unwrap());
    assert!(
        a.errors().is_empty() && b.errors().is_empty(),
        "{:?} {:?}",
        a.errors(),
        b.errors()
    );

    // Every message delivered; each consumer sees a message at most once.
    let msgs: Vec<(&str, &Value)> = a
        .records()
        .into_iter()
        .map(|r| ("a", r))
        .chain(b.records().into_iter().map(|r| ("b", r)))
        .filter(|(_, r)| r.get("topic").is_some() && r.get("summary").is_none())
        .collect();
    let id = |m: &Value| (num(m, "batch"), num(m, "seq"), num(m, "idx"));
    let mut per_consumer = BTreeSet::new();
    for (who, m) in &msgs {
        assert!(
            per_consumer.insert((*who, id(m))),
            "{:?} delivered twice to {who}",
            id(m)
        );
    }
    let all: BTreeSet<(u64, u64, u64)> = msgs.iter().map(|(_, m)| id(m)).collect();
    assert_eq!(
        all.len() as u64,
        BATCHES * SEQUENCES * PER_BATCH,
        "every message delivered"
    );

    // The rebalance moved queues: the first read all four before the second joined, the
    // second got some of them.
    let (ca, cb) = (callbacks(&a), callbacks(&b));
    for (who, c) in [("first", &ca), ("second", &cb)] {
        for (q, iv) in c.iter() {
            eprintln!(
                "handoff: {who} {q}: {} callbacks, {} .. {}",
                iv.len(),
                iv[0].0,
                iv.iter().map(|x| x.1).max().unwrap()
            );
        }
    }
    assert_eq!(
        ca.len(),
        4,
        "the first consumer started with every queue: {:?}",
        ca.keys()
    );
    assert!(!cb.is_empty(), "the second consumer never got a queue");
    assert!(cb.len() < 4, "the second consumer took every queue: {:?}", cb.keys());
    // A moved queue is consumed by the second only after the first's last callback on it
    // ended (the first unlocks it after its last consumption; the broker refuses the
    // second's lock until then), and never by both at once.
    for (queue, bs) in &cb {
        let Some(as_) = ca.get(queue) else { continue };
        let first_b = bs[0].0;
        let last_a = as_.iter().map(|iv| iv.1).max().unwrap();
        assert!(
            first_b >= last_a,
            "{queue}: the second consumer started at {first_b} while the first consumed until {last_a}"
        );
    }
    // The one message both may see: the stock client (like Java's 4.9.8 client) writes the
    // queue's offset before its callback in flight ends, so the new owner may start again
    // at that message. With one message per callback that is at most one per moved queue:
    // the first's last and the second's first on that queue.
    let on_queue = |run: &ClientRun, q: i64| -> Vec<(u64, u64, u64)> {
        let mut v: Vec<(u64, (u64, u64, u64))> = run
            .records()
            .into_iter()
            .filter(|r| r.get("topic").is_some() && r["queue_id"].as_i64() == Some(q))
            .map(|r| (r["recv_us"].as_u64().unwrap(), id(r)))
            .collect();
        v.sort();
        v.into_iter().map(|(_, i)| i).collect()
    };
    let mut twice = 0;
    for q in 0..4 {
        let (qa, qb) = (on_queue(&a, q), on_queue(&b, q));
        let both: Vec<_> = qa.iter().filter(|i| qb.contains(i)).collect();
        assert!(both.len() <= 1, "queue {q}: {both:?} delivered to both");
        if let Some(dup) = both.first() {
            let (first_owner, second_owner) = if qa.first() == Some(dup) {
                (&qb, &qa)
            } else {
                (&qa, &qb)
            };
            assert_eq!(
                first_owner.last(),
                Some(*dup),
                "queue {q}: only the last message is seen again"
            );
            assert_eq!(second_owner.first(), Some(*dup), "queue {q}: and only first");
            twice += 1;
        }
    }
    eprintln!("handoff: {twice} message(s) delivered to both consumers at the hand-over");

    // Per sequence, across both consumers in delivery order, the hand-over repeat aside:
    // (batch, idx) strictly rising.
    let mut by_seq: BTreeMap<u64, Vec<(u64, u64, u64)>> = BTreeMap::new();
    for (_, m) in &msgs {
        by_seq
            .entry(num(m, "seq"))
            .or_default()
            .push((m["recv_us"].as_u64().unwrap(), num(m, "batch"), num(m, "idx")));
    }
    for (seq, mut got) in by_seq {
        got.sort();
        let mut seen = BTreeSet::new();
        let order: Vec<(u64, u64)> = got
            .iter()
            .map(|&(_, b, i)| (b, i))
            .filter(|bi| seen.insert(*bi))
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "sequence {seq} out of order: {order:?}"
        );
    }
    server.stop().await;
}
