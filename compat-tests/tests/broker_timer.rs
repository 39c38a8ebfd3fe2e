//! Timer messages (RocketMQ 5.x `TIMER_DELAY_SEC` / `TIMER_DELAY_MS` / `TIMER_DELIVER_MS`)
//! and RECALL_MESSAGE, against the broker binary over TCP with its files on disk: each
//! message reaches its topic at its time (never before, within the precision), survives a
//! SIGKILL of the broker, and a recalled one never arrives.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use compat_tests::broker_ops::{ask, create_topic, pull_request};
use compat_tests::process::{connect, BrokerProcess};
use remoting::code::{request, response};
use remoting::header::broker::SendMessageRequestHeader;
use remoting::{Connection, RemotingCommand};
use store::DecodedMessage;

const PRECISION_MS: i64 = 1000;
/// These tests are about time, not disk space: the broker keeps taking writes on a shared
/// machine whose disk is past the default 90% refusal level.
const DISK: (&str, &str) = ("rocketmq.broker.diskSpaceWarningLevelRatio", "0.99");
/// Delivery may trail its slot by the precision plus scheduling and the test's own polling;
/// anything later is a failure.
const LATE_SLACK_MS: i64 = PRECISION_MS + 800;

fn now_ms() -> i64 {
    remoting::protocol::topic::now_millis()
}

fn send_with(topic: &str, code: i32, properties: &str, body: &str) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "pg_timer".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: now_ms(),
        flag: 0,
        properties: Some(properties.to_string()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
    };
    let req = if code == request::SEND_MESSAGE_V2 {
        let v2 = remoting::header::broker::SendMessageRequestHeaderV2::from(&header);
        RemotingCommand::request_with_header(code, &v2)
    } else {
        RemotingCommand::request_with_header(code, &header)
    };
    req.with_body(body.as_bytes().to_vec())
}

fn props(pairs: &[(&str, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}\u{1}{v}\u{2}")).collect()
}

/// Sends a timer message; the response.
async fn send_timer(conn: &Connection, topic: &str, timer: (&str, String), uniq: &str) -> RemotingCommand {
    let p = props(&[
        timer.clone(),
        ("UNIQ_KEY", uniq.to_string()),
        ("KEYS", uniq.to_string()),
        ("WAIT", "true".into()),
    ]);
    ask(conn, send_with(topic, request::SEND_MESSAGE_V2, &p, uniq)).await
}

/// Pulls everything of queue 0 of `topic` from `offset` on.
async fn pull_new(conn: &Connection, topic: &str, offset: &mut i64) -> Vec<DecodedMessage> {
    let answer = ask(conn, pull_request(topic, 0, *offset, 32)).await;
    if answer.code != response::SUCCESS {
        return Vec::new();
    }
    let msgs = store::decode_messages(&answer.body);
    if let Some(last) = msgs.last() {
        *offset = last.queue_offset + 1;
    }
    msgs
}

/// Polls `topic` until `want` distinct unique keys arrived or `limit` passed; every
/// message seen (duplicates included) with the time the test saw it.
async fn collect(conn: &Connection, topic: &str, want: usize, limit: Duration) -> Vec<(DecodedMessage, i64)> {
    let deadline = Instant::now() + limit;
    let mut offset = 0;
    let mut seen = Vec::new();
    let mut keys = std::collections::HashSet::new();
    loop {
        loop {
            let batch = pull_new(conn, topic, &mut offset).await;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                keys.insert(m.property("UNIQ_KEY").unwrap_or_default().to_string());
                seen.push((m, now_ms()));
            }
        }
        if keys.len() >= want || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

fn check_on_time(m: &DecodedMessage, deliver_ms: i64) {
    let key = m.property("UNIQ_KEY").unwrap_or_default();
    assert!(
        m.store_timestamp >= deliver_ms,
        "{key} delivered {} ms early",
        deliver_ms - m.store_timestamp
    );
    assert!(
        m.store_timestamp <= deliver_ms + LATE_SLACK_MS,
        "{key} delivered {} ms late",
        m.store_timestamp - deliver_ms
    );
}

#[tokio::test]
async fn timer_messages_arrive_at_their_time_and_not_before() {
    let broker = BrokerProcess::start(&[DISK]).await;
    let conn = connect(&broker.addr).await;
    let topic = "TimerTopic";
    create_topic(&conn, topic, 1).await;

    // Refusals first, with Java's codes and remarks.
    let too_far = send_timer(&conn, topic, ("TIMER_DELAY_SEC", (3 * 86400 + 5).to_string()), "far").await;
    assert_eq!(too_far.code, response::MESSAGE_ILLEGAL);
    assert_eq!(
        too_far.remark.as_deref(),
        Some("timer message illegal, the delay time should not be bigger than the max delay 259200000ms; or if set del msg, the delay time should be bigger than the current time")
    );
    let unreadable = send_timer(&conn, topic, ("TIMER_DELIVER_MS", "tomorrow".into()), "bad").await;
    assert_eq!(unreadable.code, response::MESSAGE_ILLEGAL);

    // A deliver time in the past: stored at once, as a plain message.
    let sent = now_ms();
    let past = send_timer(&conn, topic, ("TIMER_DELIVER_MS", (sent - 5000).to_string()), "past").await;
    assert_eq!(past.code, response::SUCCESS, "{:?}", past.remark);
    assert!(past.ext().get("recallHandle").is_none());
    let first = collect(&conn, topic, 1, Duration::from_secs(5)).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0.property("UNIQ_KEY"), Some("past"));
    assert!(first[0].0.property("TIMER_OUT_MS").is_none());

    // A delay level with a timer property: the level wins and the timer properties go.
    let p = props(&[
        ("DELAY", "1".into()),
        ("TIMER_DELAY_SEC", "30".into()),
        ("UNIQ_KEY", "level".into()),
    ]);
    let level = ask(&conn, send_with("TimerLevelTopic", request::SEND_MESSAGE, &p, "level")).await;
    assert_eq!(level.code, response::SUCCESS, "{:?}", level.remark);

    // 1 s, 10 s and 70 s, each way of asking, through both send codes.
    let t0 = now_ms();
    let mut due: HashMap<String, i64> = HashMap::new();
    for (uniq, timer, deliver_ms) in [
        ("d1s", ("TIMER_DELAY_SEC", "1".to_string()), t0 + 1000),
        ("d10s", ("TIMER_DELIVER_MS", (t0 + 10_000).to_string()), t0 + 10_000),
        ("d70s", ("TIMER_DELAY_MS", "70000".to_string()), t0 + 70_000),
    ] {
        let answer = send_timer(&conn, topic, timer, uniq).await;
        assert_eq!(answer.code, response::SUCCESS, "{uniq}: {:?}", answer.remark);
        // The answer names the requested queue; the copy waits in the timer topic.
        assert_eq!(answer.ext().get("queueId"), Some("0"));
        let handle = answer.ext().get("recallHandle").expect("a recall handle");
        let raw = base64::engine::general_purpose::URL_SAFE.decode(handle).unwrap();
        let raw = String::from_utf8(raw).unwrap();
        let items: Vec<&str> = raw.split(' ').collect();
        assert_eq!(items[0..3], ["v1", topic, "broker-hostile"], "{raw}");
        assert_eq!(items[4], uniq);
        due.insert(uniq.to_string(), deliver_ms);
    }
    // Nothing yet in the topic but the past message.
    let mut offset = 1;
    assert!(pull_new(&conn, topic, &mut offset).await.is_empty());

    let seen = collect(&conn, topic, 4, Duration::from_secs(80)).await;
    let timed: Vec<&(DecodedMessage, i64)> = seen.iter().skip(1).collect();
    let keys: Vec<&str> = timed.iter().map(|(m, _)| m.property("UNIQ_KEY").unwrap()).collect();
    assert_eq!(keys, ["d1s", "d10s", "d70s"], "each once, in time order");
    for (m, _) in &timed {
        let key = m.property("UNIQ_KEY").unwrap();
        check_on_time(m, due[key]);
        assert_eq!(m.topic, topic);
        assert_eq!(m.queue_id, 0);
        assert_eq!(m.body.as_ref(), key.as_bytes());
        // Java's properties on delivery.
        let out: i64 = m.property("TIMER_OUT_MS").unwrap().parse().unwrap();
        assert!((due[key] - out).abs() <= PRECISION_MS, "{key}: slot {out}");
        assert_eq!(m.property("REAL_TOPIC"), Some(topic));
        assert_eq!(m.property("REAL_QID"), Some("0"));
        let enq: i64 = m.property("TIMER_ENQUEUE_MS").unwrap().parse().unwrap();
        let deq: i64 = m.property("TIMER_DEQUEUE_MS").unwrap().parse().unwrap();
        assert!(enq <= deq && deq <= m.store_timestamp, "{key}: {enq} {deq}");
    }

    // The delay-level message went through level 1 (1 s), without its timer property.
    let level_msgs = collect(&conn, "TimerLevelTopic", 1, Duration::from_secs(5)).await;
    assert_eq!(level_msgs.len(), 1);
    let m = &level_msgs[0].0;
    assert!(m.property("TIMER_DELAY_SEC").is_none());
    assert!(m.property("TIMER_OUT_MS").is_none());
    assert_eq!(m.property("DELAY"), Some("1"));

    // Recall is off by default (recallMessageEnable=false, as in Java).
    let handle = base64::engine::general_purpose::URL_SAFE.encode(format!("v1 {topic} broker-hostile 1 x"));
    let refused = ask(&conn, recall(topic, &handle)).await;
    assert_eq!(refused.code, response::NO_PERMISSION);
    assert_eq!(refused.remark.as_deref(), Some("recall failed, operation is forbidden"));
}

fn recall(topic: &str, handle: &str) -> RemotingCommand {
    let mut req = RemotingCommand::request(request::RECALL_MESSAGE);
    req.ext_mut().insert("producerGroup", "pg_timer");
    req.ext_mut().insert("topic", topic);
    req.ext_mut().insert("recallHandle", handle);
    req
}

#[tokio::test]
async fn recalled_timer_messages_are_never_delivered() {
    let broker = BrokerProcess::start(&[DISK, ("recallMessageEnable", "true")]).await;
    let conn = connect(&broker.addr).await;
    let topic = "RecallTopic";
    create_topic(&conn, topic, 1).await;
    create_topic(&conn, "OtherTopic", 1).await;

    let kept = send_timer(&conn, topic, ("TIMER_DELAY_SEC", "4".into()), "kept").await;
    let gone = send_timer(&conn, topic, ("TIMER_DELAY_SEC", "4".into()), "gone").await;
    let soon = send_timer(&conn, topic, ("TIMER_DELAY_SEC", "1".into()), "soon").await;
    for a in [&kept, &gone, &soon] {
        assert_eq!(a.code, response::SUCCESS, "{:?}", a.remark);
    }
    let handle = gone.ext().get("recallHandle").unwrap().to_string();

    // Bad handles and mismatches, with Java's codes and remarks.
    let bad = ask(&conn, recall(topic, "v1 not base64")).await;
    assert_eq!(bad.code, response::ILLEGAL_OPERATION);
    assert_eq!(bad.remark.as_deref(), Some("recall handle is invalid"));
    let short = base64::engine::general_purpose::URL_SAFE.encode("v1 a b c");
    let bad = ask(&conn, recall(topic, &short)).await;
    assert_eq!(bad.remark.as_deref(), Some("recall handle is invalid"));
    let other = ask(&conn, recall("OtherTopic", &handle)).await;
    assert_eq!(other.code, response::ILLEGAL_OPERATION);
    assert_eq!(other.remark.as_deref(), Some("recall failed, topic not match"));
    let missing = ask(&conn, recall("NoSuchTopic", &handle)).await;
    assert_eq!(missing.code, response::TOPIC_NOT_EXIST);
    assert_eq!(
        missing.remark.as_deref(),
        Some("recall failed, the topic[NoSuchTopic] not exist")
    );
    let far = now_ms() + 60_000;
    let wrong_broker = base64::engine::general_purpose::URL_SAFE.encode(format!("v1 {topic} someone-else {far} gone"));
    let answer = ask(&conn, recall(topic, &wrong_broker)).await;
    assert_eq!(answer.code, response::ILLEGAL_OPERATION);
    assert_eq!(
        answer.remark.as_deref(),
        Some("recall failed, broker service not available")
    );

    // The recall itself.
    let answer = ask(&conn, recall(topic, &handle)).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(answer.ext().get("msgId"), Some("gone"));

    // "soon" is delivered; recalling it afterwards is too late.
    let seen = collect(&conn, topic, 1, Duration::from_secs(5)).await;
    assert_eq!(seen[0].0.property("UNIQ_KEY"), Some("soon"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = ask(&conn, recall(topic, soon.ext().get("recallHandle").unwrap())).await;
    assert_eq!(late.code, response::ILLEGAL_OPERATION);
    assert_eq!(late.remark.as_deref(), Some("recall failed, timestamp invalid"));

    // After the 4 s slot (and some), only "kept" arrived.
    let seen = collect(&conn, topic, 3, Duration::from_secs(8)).await;
    let keys: Vec<&str> = seen.iter().map(|(m, _)| m.property("UNIQ_KEY").unwrap()).collect();
    assert_eq!(keys, ["soon", "kept"]);
}

#[tokio::test]
async fn pending_timers_survive_sigkill_and_none_arrives_early() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let topic = "TimerCrashTopic";
    let mut due: HashMap<String, i64> = HashMap::new();
    let before_kill;
    {
        let broker = BrokerProcess::start_in(&store, &[DISK], "info").await;
        let conn = connect(&broker.addr).await;
        create_topic(&conn, topic, 1).await;
        let t0 = now_ms();
        // 300 timers from 1 s to 16 s: some due before the kill, some while the broker is
        // down, most after the restart.
        for i in 0..300i64 {
            let deliver = t0 + 1000 + i * 50 + (i * 7919 % 37);
            let uniq = format!("k{i:03}");
            let answer = send_timer(&conn, topic, ("TIMER_DELIVER_MS", deliver.to_string()), &uniq).await;
            assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
            due.insert(uniq, deliver);
        }
        tokio::time::sleep(Duration::from_millis(3000).saturating_sub(Duration::from_millis((now_ms() - t0) as u64)))
            .await;
        before_kill = collect(&conn, topic, 300, Duration::from_millis(10)).await.len();
        broker.kill().await;
    }
    assert!(before_kill > 0, "some timers were due before the kill");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let broker = BrokerProcess::start_in(&store, &[DISK], "info").await;
    let conn = connect(&broker.addr).await;
    let seen = collect(&conn, topic, 300, Duration::from_secs(30)).await;
    let mut count: HashMap<String, usize> = HashMap::new();
    for (m, _) in &seen {
        let key = m.property("UNIQ_KEY").unwrap().to_string();
        let deliver = due[&key];
        // Never early; late only for what came due while the broker was down.
        assert!(m.store_timestamp >= deliver, "{key} delivered early");
        *count.entry(key).or_default() += 1;
    }
    let lost: Vec<&String> = due.keys().filter(|k| !count.contains_key(*k)).collect();
    assert!(lost.is_empty(), "lost after SIGKILL: {lost:?}");
    let duplicates: usize = count.values().map(|c| c - 1).sum();
    eprintln!(
        "timers: 300 sent, {before_kill} delivered before the kill, {} deliveries after the restart, {duplicates} duplicates",
        seen.len()
    );
    assert!(
        duplicates <= before_kill,
        "duplicates only from the slots around the kill"
    );
    // Anything later than the precision allows came due while the broker was down.
    for (m, _) in &seen {
        let key = m.property("UNIQ_KEY").unwrap();
        if due[key] > m.store_timestamp - LATE_SLACK_MS {
            continue;
        }
        // Late by more than the slack: must have come due before the broker was back.
        assert!(
            m.store_timestamp - due[key] < 8000,
            "{key} late by {} ms",
            m.store_timestamp - due[key]
        );
    }
}

fn batch(topic: &str, header_props: &str, items: &[(&str, &str)]) -> RemotingCommand {
    let encoded: Vec<(i32, &[u8], &str)> = items.iter().map(|(b, p)| (0, b.as_bytes(), *p)).collect();
    let header = SendMessageRequestHeader {
        producer_group: "pg_timer".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: now_ms(),
        flag: 0,
        properties: Some(header_props.to_string()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(true),
        max_reconsume_times: None,
    };
    let v2 = remoting::header::broker::SendMessageRequestHeaderV2::from(&header);
    RemotingCommand::request_with_header(request::SEND_BATCH_MESSAGE, &v2)
        .with_body(store::codec::encode_batch_body(&encoded))
}

/// SEND_BATCH_MESSAGE: as in Java, the batch's own properties decide (a timer there delays
/// every message of the batch, without a recall handle); timer properties of the items
/// alone are not looked at, so those messages arrive at once.
#[tokio::test]
async fn batches_are_timed_by_their_own_properties() {
    let broker = BrokerProcess::start(&[DISK]).await;
    let conn = connect(&broker.addr).await;
    let topic = "TimerBatchTopic";
    create_topic(&conn, topic, 1).await;
    let t0 = now_ms();
    let p = |k: &str| props(&[("UNIQ_KEY", k.to_string())]);
    let (p0, p1) = (p("b0"), p("b1"));
    let timed = ask(
        &conn,
        batch(
            topic,
            &props(&[("TIMER_DELIVER_MS", (t0 + 3000).to_string())]),
            &[("b0", &p0), ("b1", &p1)],
        ),
    )
    .await;
    assert_eq!(timed.code, response::SUCCESS, "{:?}", timed.remark);
    assert!(timed.ext().get("recallHandle").is_none());
    let item_timer = props(&[("UNIQ_KEY", "i0".into()), ("TIMER_DELAY_SEC", "60".into())]);
    let untimed = ask(&conn, batch(topic, "", &[("i0", &item_timer)])).await;
    assert_eq!(untimed.code, response::SUCCESS, "{:?}", untimed.remark);

    let seen = collect(&conn, topic, 3, Duration::from_secs(8)).await;
    let keys: Vec<&str> = seen.iter().map(|(m, _)| m.property("UNIQ_KEY").unwrap()).collect();
    assert_eq!(keys, ["i0", "b0", "b1"]);
    assert!(seen[0].0.store_timestamp < t0 + 3000, "the item timer is not looked at");
    for (m, _) in &seen[1..] {
        check_on_time(m, t0 + 3000);
        assert_eq!(m.property("REAL_TOPIC"), Some(topic));
        assert!(m.property("TIMER_OUT_MS").is_some());
    }
}

/// `timerWheelEnable=false`: timer messages are refused with Java's remark, and so is a
/// recall (it goes through the same put hook).
#[tokio::test]
async fn a_disabled_wheel_refuses_timer_messages() {
    let broker = BrokerProcess::start(&[DISK, ("timerWheelEnable", "false"), ("recallMessageEnable", "true")]).await;
    let conn = connect(&broker.addr).await;
    let topic = "NoWheelTopic";
    create_topic(&conn, topic, 1).await;
    let answer = send_timer(&conn, topic, ("TIMER_DELAY_SEC", "5".into()), "x").await;
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert_eq!(
        answer.remark.as_deref(),
        Some("accurate timer message is not enabled, timerWheelEnable is false")
    );
    // Plain messages and delay levels are unaffected.
    let plain = send_timer(&conn, topic, ("TAGS", "t".into()), "plain").await;
    assert_eq!(plain.code, response::SUCCESS, "{:?}", plain.remark);
    let far = now_ms() + 60_000;
    let handle = base64::engine::general_purpose::URL_SAFE.encode(format!("v1 {topic} broker-hostile {far} x"));
    let recalled = ask(&conn, recall(topic, &handle)).await;
    assert_eq!(recalled.code, response::SYSTEM_ERROR);
    assert_eq!(recalled.remark.as_deref(), Some("recall failed, execute error"));
}

/// Timers further away than the roll window (`timerRollWindowSlot`, here 3 slots of 1 s)
/// go round the wheel: put back in the timer topic at the window's edge until their slot
/// is inside it, then delivered on time with `TIMER_ROLL_TIMES`; a recall of a rolling
/// timer still catches it.
#[tokio::test]
async fn timers_beyond_the_roll_window_roll_and_still_arrive_on_time() {
    let broker = BrokerProcess::start(&[DISK, ("timerRollWindowSlot", "3"), ("recallMessageEnable", "true")]).await;
    let conn = connect(&broker.addr).await;
    let topic = "RollTopic";
    create_topic(&conn, topic, 1).await;
    let t0 = now_ms();
    let kept = send_timer(&conn, topic, ("TIMER_DELIVER_MS", (t0 + 9000).to_string()), "rolled").await;
    let gone = send_timer(&conn, topic, ("TIMER_DELIVER_MS", (t0 + 9000).to_string()), "recalled").await;
    assert_eq!(kept.code, response::SUCCESS, "{:?}", kept.remark);
    let answer = ask(&conn, recall(topic, gone.ext().get("recallHandle").unwrap())).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    let seen = collect(&conn, topic, 2, Duration::from_secs(14)).await;
    let keys: Vec<&str> = seen.iter().map(|(m, _)| m.property("UNIQ_KEY").unwrap()).collect();
    assert_eq!(keys, ["rolled"]);
    let m = &seen[0].0;
    check_on_time(m, t0 + 9000);
    let rolls: i32 = m
        .property("TIMER_ROLL_TIMES")
        .expect("rolled at least once")
        .parse()
        .unwrap();
    assert!(rolls >= 1, "{rolls}");
    // Each roll went through the timer topic again.
    let mut q = RemotingCommand::request(request::GET_MAX_OFFSET);
    q.ext_mut().insert("topic", store::timer::TIMER_TOPIC);
    q.ext_mut().insert("queueId", "0");
    let max: i64 = ask(&conn, q).await.ext().get("offset").unwrap().parse().unwrap();
    assert!(
        max >= 3 + rolls as i64,
        "timer topic holds {max} entries for {rolls} rolls"
    );
}

/// The stock crates.io `rocketmq-client-rust` 1.0 client: `delay_secs` / `deliver_time_ms`
/// on its messages, the recall handle in its send result, and its RECALL_MESSAGE call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_rust_client_sends_recalls_and_receives_timer_messages() {
    use compat_tests::clients::StockClient;
    use compat_tests::process::StandaloneProcess;
    let limit = Duration::from_secs(120);
    let data = tempfile::tempdir().unwrap();
    let server = StandaloneProcess::start(
        data.path(),
        &[
            "recallMessageEnable=true",
            "rocketmq.broker.diskSpaceWarningLevelRatio=0.99",
        ],
    )
    .await;
    let topic = "StockTimerTopic";
    {
        let conn = connect(&format!("127.0.0.1:{}", server.broker_port)).await;
        create_topic(&conn, topic, 4).await;
        let ns = connect(&server.namesrv_addr).await;
        let mut routed = false;
        for _ in 0..100 {
            let mut q = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
            q.ext_mut().insert("topic", topic);
            if ask(&ns, q).await.code == response::SUCCESS {
                routed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(routed, "the topic is routed");
    }
    let ns = server.namesrv_addr.clone();
    let base = ["--namesrv", ns.as_str(), "--topic", topic];
    let send = |extra: &'static [&'static str]| {
        let mut args = vec!["send", "--group", "pg_stock_timer"];
        args.extend_from_slice(&base);
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let by_sec = send(&["--count", "3", "--delay-sec", "3", "--body-prefix", "sec-"]);
    let by_sec: Vec<&str> = by_sec.iter().map(String::as_str).collect();
    let run = StockClient::Rust.run(&by_sec, limit).await;
    assert!(
        run.success && run.errors().is_empty(),
        "{:?}\n{}",
        run.lines,
        run.stderr
    );
    let handles: Vec<String> = run
        .records()
        .iter()
        .map(|r| r["recall_handle"].as_str().expect("a recall handle").to_string())
        .collect();
    assert_eq!(handles.len(), 3);
    let at = send(&["--count", "1", "--deliver-after-ms", "2000", "--body-prefix", "at-"]);
    let at: Vec<&str> = at.iter().map(String::as_str).collect();
    let run = StockClient::Rust.run(&at, limit).await;
    assert!(
        run.success && run.errors().is_empty(),
        "{:?}\n{}",
        run.lines,
        run.stderr
    );

    // Recall "sec-1" through the client.
    let mut recall_args = vec!["recall", "--group", "pg_stock_timer"];
    recall_args.extend_from_slice(&base);
    recall_args.extend_from_slice(&["--handle", handles[1].as_str()]);
    let run = StockClient::Rust.run(&recall_args, limit).await;
    assert!(
        run.success && run.errors().is_empty(),
        "{:?}\n{}",
        run.lines,
        run.stderr
    );
    assert!(run.records()[0]["recalled"].is_string(), "{:?}", run.lines);

    // Three arrive (sec-0, sec-2, at-0), none before its time; sec-1 never does.
    let mut consume = vec!["push-consume", "--group", "cg_stock_timer"];
    consume.extend_from_slice(&base);
    consume.extend_from_slice(&["--from", "first", "--expect", "4", "--timeout", "12", "--idle", "12"]);
    let run = StockClient::Rust.run(&consume, limit).await;
    let got: Vec<&serde_json::Value> = run.records().into_iter().filter(|r| r.get("body").is_some()).collect();
    let mut bodies: Vec<&str> = got.iter().map(|r| r["body"].as_str().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["at-0", "sec-0", "sec-2"], "{}", run.stderr);
    for r in &got {
        let born = r["born_timestamp"].as_i64().unwrap();
        let stored = r["store_timestamp"].as_i64().unwrap();
        let delay = if r["body"].as_str().unwrap().starts_with("sec-") {
            3000
        } else {
            2000
        };
        assert!(stored >= born + delay, "{r}: early");
        assert!(stored <= born + delay + LATE_SLACK_MS + 500, "{r}: late");
        assert!(r["properties"]["TIMER_OUT_MS"].is_string(), "{r}");
    }
}

/// Timer metrics as RocketMQ 5 keeps them: GET_TIMER_METRICS (61) counts the messages of
/// each real topic waiting in the wheel, and brokerStatus carries the wheel's
/// timer* fields; the counts go back to zero once delivered, and reach `config/timermetrics`.
#[tokio::test]
async fn timer_metrics_count_what_waits_in_the_wheel() {
    let broker = BrokerProcess::start(&[DISK]).await;
    let conn = connect(&broker.addr).await;
    let topic = "TimerMetricsTopic";
    create_topic(&conn, topic, 1).await;
    let metrics = || async {
        let res = ask(&conn, RemotingCommand::request(request::GET_TIMER_METRICS)).await;
        assert_eq!(res.code, response::SUCCESS, "{:?}", res.remark);
        let v: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
        assert!(v["dataVersion"]["counter"].is_i64(), "{v}");
        v["timingCount"][topic]["count"].as_i64().unwrap_or(0)
    };
    assert_eq!(metrics().await, 0);
    for i in 0..3 {
        let sent = send_timer(&conn, topic, ("TIMER_DELAY_SEC", "4".into()), &format!("tm{i}")).await;
        assert_eq!(sent.code, response::SUCCESS, "{:?}", sent.remark);
    }
    // Filed by the timer thread shortly after the sends.
    let deadline = Instant::now() + Duration::from_secs(3);
    while metrics().await != 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metrics().await, 3);
    let status = ask(&conn, RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO)).await;
    let table: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    let field = |k: &str| table["table"][k].as_str().unwrap_or_default().to_string();
    assert_eq!(field("timerCongestNum"), "3", "{table}");
    assert_eq!(field("timerOffsetBehind"), "0");
    assert!(field("timerEnqueueTps").contains('.'), "{table}");
    assert!(field("timerReadBehind").parse::<i64>().is_ok());

    let delivered = collect(&conn, topic, 3, Duration::from_secs(10)).await;
    assert_eq!(delivered.len(), 3);
    let deadline = Instant::now() + Duration::from_secs(3);
    while metrics().await != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metrics().await, 0, "delivered messages leave the count");
    // Written at the timer's next flush (every second by default).
    let file = broker.store.join("config/timermetrics");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let saved = std::fs::read_to_string(&file).unwrap_or_default();
        let parsed: Option<serde_json::Value> = serde_json::from_str(&saved).ok();
        if let Some(v) = parsed.filter(|v| v["timingCount"][topic]["count"] == 0) {
            assert!(v["dataVersion"]["counter"].as_i64().unwrap() >= 6, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "timermetrics: {saved}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
