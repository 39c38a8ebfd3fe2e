//! Broker statistics over TCP: 30 messages sent to a 4-queue topic and 20 pulled by a
//! group, then GET_BROKER_RUNTIME_INFO (28), VIEW_BROKER_STATS_DATA (315) and
//! GET_BROKER_CONSUME_STATS (317) checked against what the test did and against the
//! answers of the Java 4.9.8 broker in golden 13 (same key sets, shapes and orders).
//!
//! The minute windows and the once-a-second TPS ring are sampled by hand through
//! `BrokerState::stats` instead of waiting for the broker's 10 s / 1 s samplers.

use std::collections::BTreeSet;
use std::time::Duration;

use compat_tests::golden::{self, GoldenFrame};
use compat_tests::process::{connect, InProcessBroker};
use remoting::code::{request, response};
use remoting::header::broker::{
    CreateTopicRequestHeader, PullMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
    UpdateConsumerOffsetRequestHeader,
};
use remoting::{Connection, RemotingCommand};
use serde_json::Value;

const TOPIC: &str = "StatsTopic";
const GROUP: &str = "cg_stats";

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(5)).await.unwrap()
}

fn send_header(topic: &str, queue_id: i32, batch: bool) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "pg_stats".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 0,
        flag: 0,
        properties: Some("TAGS\u{1}T".into()),
        reconsume_times: Some(0),
        unit_mode: None,
        batch: batch.then_some(true),
        max_reconsume_times: None,
    }
}

async fn create_topic(conn: &Connection, topic: &str) {
    let header = CreateTopicRequestHeader::read_write(topic, 4);
    let answer = ask(
        conn,
        RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS);
}

/// StatsTopic with 30 messages (queue i % 4), 20 of them pulled by cg_stats (5 per queue)
/// and committed; BatchTopic with one batch of 5.
async fn setup(conn: &Connection) {
    create_topic(conn, TOPIC).await;
    for i in 0..30 {
        let req = RemotingCommand::request_with_header(request::SEND_MESSAGE, &send_header(TOPIC, i % 4, false))
            .with_body(format!("stats-{i}").into_bytes());
        assert_eq!(ask(conn, req).await.code, response::SUCCESS);
    }
    create_topic(conn, "BatchTopic").await;
    let items: Vec<(i32, &[u8], &str)> = (0..5).map(|_| (0, &b"batched"[..], "")).collect();
    let v2 = SendMessageRequestHeaderV2::from(&send_header("BatchTopic", 0, true));
    let req = RemotingCommand::request_with_header(request::SEND_BATCH_MESSAGE, &v2)
        .with_body(store::codec::encode_batch_body(&items));
    let answer = ask(conn, req).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);

    for queue_id in 0..4 {
        let h = PullMessageRequestHeader {
            consumer_group: GROUP.into(),
            ..compat_tests::broker_ops::pull_header(TOPIC, queue_id, 0, 5)
        };
        let answer = ask(conn, RemotingCommand::request_with_header(request::PULL_MESSAGE, &h)).await;
        assert_eq!(answer.code, response::SUCCESS);
        assert_eq!(store::decode_messages(&answer.body).len(), 5);
        let commit = UpdateConsumerOffsetRequestHeader {
            consumer_group: GROUP.into(),
            topic: TOPIC.into(),
            queue_id,
            commit_offset: 5,
        };
        let answer = ask(
            conn,
            RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &commit),
        )
        .await;
        assert_eq!(answer.code, response::SUCCESS);
    }
}

fn with_ext(code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
    let mut req = RemotingCommand::request(code);
    for (k, v) in fields {
        req.ext_mut().insert(k, v);
    }
    req
}

fn golden_frames() -> Vec<GoldenFrame> {
    golden::load_frames("13")
}

/// The first recorded request with `code` (and, if given, ext field `statsKey`) and the
/// Java broker's answer to it.
fn golden_exchange<'a>(
    frames: &'a [GoldenFrame],
    code: i32,
    stats_key: Option<&str>,
) -> (&'a GoldenFrame, &'a GoldenFrame) {
    let req = frames
        .iter()
        .find(|f| {
            f.is_request()
                && f.code == code
                && stats_key.is_none_or(|k| f.header["extFields"]["statsKey"].as_str() == Some(k))
        })
        .unwrap();
    (req, golden::response_to(frames, req).unwrap())
}

fn body_json(bytes: &[u8]) -> Value {
    remoting::fastjson::parse(bytes).unwrap()
}

/// Keys of an object in the order they were written.
fn ordered_keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn runtime_info_stats_data_and_consume_stats_read_as_javas() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    setup(&conn).await;
    let state = broker.broker.state();
    // What the 10 s and 1 s samplers would do.
    state.stats.sample_minute_windows();
    state.stats.sample_store(&state.store);
    let frames = golden_frames();

    // ---- GET_BROKER_RUNTIME_INFO (28), sent as mqadmin brokerStatus sent it ----
    let (req, java) = golden_exchange(&frames, request::GET_BROKER_RUNTIME_INFO, None);
    let answer = ask(&conn, req.to_command()).await;
    assert_eq!(answer.code, response::SUCCESS);
    let ours = body_json(&answer.body)["table"].clone();
    let theirs = body_json(&java.body())["table"].clone();
    // The per-path disk ratio key names the store's directory; every other key is Java's,
    // plus RocketMQ 5's five timer fields (our broker has the wheel). The table is a Java
    // HashMap in the order its hashes give, so the extra keys reorder the rest, as they do
    // in 5.x.
    let path_key = |k: &String| k.starts_with("commitLogDiskRatio_");
    let timer_5x = [
        "timerReadBehind",
        "timerOffsetBehind",
        "timerCongestNum",
        "timerEnqueueTps",
        "timerDequeueTps",
    ];
    let strip = |keys: Vec<String>| {
        keys.into_iter()
            .filter(|k| !path_key(k) && !timer_5x.contains(&k.as_str()))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(strip(ordered_keys(&ours)), strip(ordered_keys(&theirs)));
    for key in timer_5x {
        assert!(ours.get(key).is_some(), "{key} missing");
    }
    let commit_log = broker.dir.path().join("store").join("commitlog");
    let our_path_key = format!("commitLogDiskRatio_{}", commit_log.display());
    assert_eq!(
        ordered_keys(&ours).iter().filter(|k| path_key(k)).collect::<Vec<_>>(),
        [&our_path_key]
    );

    let text = |k: &str| ours[k].as_str().unwrap_or_else(|| panic!("{k} missing")).to_string();
    let num = |k: &str| text(k).parse::<i64>().unwrap_or_else(|_| panic!("{k}: {}", text(k)));
    assert_eq!(num("msgPutTotalTodayNow"), 35, "30 sends and a batch of 5");
    assert_eq!(num("putMessageTimesTotal"), 35);
    assert_eq!(num("msgGetTotalTodayNow"), 20);
    assert_eq!(num("msgPutTotalTodayMorning"), 0);
    assert_eq!(num("msgGetTotalYesterdayMorning"), 0);
    assert_eq!(num("putMessageFailedTimes"), 0);
    // A fresh store holds exactly what was put.
    assert_eq!(num("commitLogMaxOffset"), num("putMessageSizeTotal"));
    assert_eq!(num("commitLogMinOffset"), 0);
    let average: f64 = text("putMessageAverageSize").parse().unwrap();
    assert_eq!(average, num("putMessageSizeTotal") as f64 / 35.0);
    assert_eq!(num("dispatchBehindBytes"), 0);
    // Java reads 2 x maxMessageSize at the first record: -1 while the store is smaller.
    assert_eq!(num("earliestMessageTimeStamp"), -1);
    assert_eq!(text("brokerVersion"), "409");
    assert_eq!(text("brokerVersionDesc"), "V4_9_8");
    assert_eq!(num("remainTransientStoreBufferNumbs"), i32::MAX as i64);
    assert_eq!(num("sendThreadPoolQueueCapacity"), 10_000);
    assert_eq!(num("sendThreadPoolQueueSize"), 0);
    assert!(num("bootTimestamp") <= remoting::protocol::topic::now_millis());
    assert!(
        text("runtime").starts_with("[ 0 days, 0 hours, "),
        "{}",
        text("runtime")
    );
    assert!(
        text("commitLogDirCapacity").starts_with("Total : "),
        "{}",
        text("commitLogDirCapacity")
    );
    let ratio: f64 = text("commitLogDiskRatio").parse().unwrap();
    assert!((0.0..=1.0).contains(&ratio), "{ratio}");
    assert_eq!(text(&our_path_key), text("commitLogDiskRatio"));
    // No minute has closed yet: as Java's first minute.
    assert_eq!(text("putMessageDistributeTime"), "null");
    assert_eq!(text("putLatency99"), "0.00");
    // One sample in the TPS ring: no window is covered yet.
    assert_eq!(text("putTps"), "  ");
    assert_eq!(text("getTotalTps"), "0.0 0.0 0.0");
    assert!(text("remainHowManyDataToFlush").ends_with('B'));

    // ---- VIEW_BROKER_STATS_DATA (315), the requests statsAll sent ----
    let (req, java) = golden_exchange(&frames, request::VIEW_BROKER_STATS_DATA, Some(TOPIC));
    let answer = ask(&conn, req.to_command()).await;
    assert_eq!(answer.code, response::SUCCESS);
    let ours = body_json(&answer.body);
    let theirs = body_json(&java.body());
    assert_eq!(ordered_keys(&ours), ordered_keys(&theirs));
    for window in ["statsDay", "statsHour", "statsMinute"] {
        assert_eq!(ordered_keys(&ours[window]), ordered_keys(&theirs[window]));
    }
    assert_eq!(ours["statsMinute"]["sum"], 30);
    assert_eq!(ours["statsMinute"]["avgpt"], 1.0, "one message per send");
    assert!(ours["statsMinute"]["tps"].as_f64().unwrap() > 0.0);
    // Hour and day rings were not sampled since the topic got messages, as in golden 13.
    let empty = r#"{"avgpt":0.0,"sum":0,"tps":0.0}"#;
    let raw = String::from_utf8(answer.body.to_vec()).unwrap();
    assert!(
        raw.starts_with(&format!(r#"{{"statsDay":{empty},"statsHour":{empty},"statsMinute":"#)),
        "{raw}"
    );

    let (req, _) = golden_exchange(&frames, request::VIEW_BROKER_STATS_DATA, Some("StatsTopic@cg_stats"));
    let answer = ask(&conn, req.to_command()).await;
    assert_eq!(answer.code, response::SUCCESS);
    let ours = body_json(&answer.body);
    assert_eq!(ours["statsMinute"]["sum"], 20);
    assert_eq!(ours["statsMinute"]["avgpt"], 5.0, "five messages per pull");

    let view = |name: &str, key: &str| {
        with_ext(
            request::VIEW_BROKER_STATS_DATA,
            &[("statsName", name), ("statsKey", key)],
        )
    };
    let answer = ask(&conn, view("TOPIC_PUT_NUMS", "BatchTopic")).await;
    let batch = body_json(&answer.body);
    assert_eq!(
        (
            batch["statsMinute"]["sum"].clone(),
            batch["statsMinute"]["avgpt"].clone()
        ),
        (5.into(), 5.0.into())
    );
    let answer = ask(&conn, view("BROKER_PUT_NUMS", "DefaultCluster")).await;
    let broker_puts = body_json(&answer.body);
    assert_eq!(broker_puts["statsMinute"]["sum"], 35);
    assert_eq!(broker_puts["statsMinute"]["avgpt"], 0.0, "counted without call times");
    let answer = ask(&conn, view("GROUP_GET_LATENCY", "0@StatsTopic@cg_stats")).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);

    // Unknown key or unknown set: Java's answer (golden 13 has the first).
    let (req, java) = golden_exchange(
        &frames,
        request::VIEW_BROKER_STATS_DATA,
        Some("RMQ_SYS_TRANS_HALF_TOPIC"),
    );
    let answer = ask(&conn, req.to_command()).await;
    assert_eq!(answer.code, java.code);
    assert_eq!(answer.remark.as_deref(), java.header["remark"].as_str());
    let answer = ask(&conn, view("NO_SUCH_STATS", TOPIC)).await;
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert_eq!(
        answer.remark.as_deref(),
        Some("The stats <NO_SUCH_STATS> <StatsTopic> not exist")
    );

    // ---- GET_BROKER_CONSUME_STATS (317), as mqadmin brokerConsumeStats sent it ----
    let (req, java) = golden_exchange(&frames, request::GET_BROKER_CONSUME_STATS, None);
    let answer = ask(&conn, req.to_command()).await;
    assert_eq!(answer.code, response::SUCCESS);
    let ours = body_json(&answer.body);
    let theirs = body_json(&java.body());
    assert_eq!(ordered_keys(&ours), ordered_keys(&theirs));
    assert_eq!(ours["brokerAddr"], broker.addr.as_str());
    assert_eq!(ours["totalDiff"], 10, "30 stored, 20 consumed");
    // The same groups in the same order (Java's ConcurrentHashMap order).
    let groups = |v: &Value| -> Vec<String> {
        v["consumeStatsList"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(ordered_keys)
            .collect()
    };
    assert_eq!(groups(&ours), groups(&theirs));
    let stats_of = |v: &Value| -> Vec<Value> {
        v["consumeStatsList"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|m| m.get(GROUP).cloned())
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let java_topic = stats_of(&theirs)
        .into_iter()
        .find(|s| {
            s["offsetTable"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.contains(TOPIC) && !k.contains("%RETRY%"))
        })
        .unwrap();
    let our_stats = stats_of(&ours);
    assert_eq!(our_stats.len(), 1, "offsets only on StatsTopic");
    let ours_topic = &our_stats[0];
    assert_eq!(ordered_keys(ours_topic), ordered_keys(&java_topic));
    assert_eq!(
        ours_topic["consumeTps"], 2.0,
        "20 pulled over the 10 s of the first window"
    );
    // Queues in Java's HashMap order, entries with Java's fields.
    let queue_ids = |s: &Value| -> Vec<i64> {
        ordered_keys(&s["offsetTable"])
            .iter()
            .map(|k| serde_json::from_str::<Value>(k).unwrap()["queueId"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(queue_ids(ours_topic), queue_ids(&java_topic));
    let mut lag = 0;
    for (key, offsets) in ours_topic["offsetTable"].as_object().unwrap() {
        let mq: Value = serde_json::from_str(key).unwrap();
        assert_eq!(ordered_keys(&mq), ["brokerName", "queueId", "topic"]);
        assert_eq!(mq["brokerName"], "broker-a");
        assert_eq!(
            ordered_keys(offsets),
            ["brokerOffset", "consumerOffset", "lastTimestamp"]
        );
        assert_eq!(offsets["consumerOffset"], 5);
        assert!(offsets["lastTimestamp"].as_i64().unwrap() > 0);
        lag += offsets["brokerOffset"].as_i64().unwrap() - 5;
    }
    assert_eq!(lag, 10);
    // The other groups have no offsets: empty lists, as in golden 13.
    for m in ours["consumeStatsList"].as_array().unwrap() {
        let (group, list) = m.as_object().unwrap().iter().next().unwrap();
        if group != GROUP {
            assert_eq!(list, &Value::Array(vec![]), "{group}");
        }
    }

    // isOrder=true keeps order topics only.
    let answer = ask(
        &conn,
        with_ext(request::GET_BROKER_CONSUME_STATS, &[("isOrder", "true")]),
    )
    .await;
    let ordered = body_json(&answer.body);
    assert!(stats_of(&ordered).is_empty());
    assert_eq!(ordered["totalDiff"], 0);
    // isOrder is required, as Java's @CFNotNull makes it.
    let answer = ask(&conn, RemotingCommand::request(request::GET_BROKER_CONSUME_STATS)).await;
    assert_ne!(answer.code, response::SUCCESS);
}

#[tokio::test]
async fn tps_windows_fill_as_the_ring_does() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    let state = broker.broker.state();
    // Eleven samples cover the 10-second window.
    for _ in 0..11 {
        state.stats.sample_store(&state.store);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let answer = ask(&conn, RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO)).await;
    let table = body_json(&answer.body)["table"].clone();
    let put_tps = table["putTps"].as_str().unwrap();
    let parts: Vec<&str> = put_tps.split(' ').collect();
    assert_eq!(parts, ["0.0", "", ""], "{put_tps}");
    let total: Vec<&str> = table["getTotalTps"].as_str().unwrap().split(' ').collect();
    assert_eq!(total, ["0.0", "0.0", "0.0"]);
}

#[tokio::test]
async fn send_backs_count_under_the_original_topic() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, TOPIC).await;
    let req = RemotingCommand::request_with_header(request::SEND_MESSAGE, &send_header(TOPIC, 0, false))
        .with_body(b"retry me".to_vec());
    let sent = ask(&conn, req).await;
    assert_eq!(sent.code, response::SUCCESS);
    let (_, offset) = store::decode_offset_msg_id(sent.ext().get("msgId").unwrap()).unwrap();
    let back = remoting::header::broker::ConsumerSendMsgBackRequestHeader {
        offset,
        group: GROUP.into(),
        delay_level: 0,
        origin_msg_id: None,
        origin_topic: Some(TOPIC.into()),
        unit_mode: None,
        max_reconsume_times: None,
    };
    let answer = ask(
        &conn,
        RemotingCommand::request_with_header(request::CONSUMER_SEND_MSG_BACK, &back),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    broker.broker.state().stats.sample_minute_windows();

    let minute_sum = |name: &'static str, key: &'static str| {
        let conn = &conn;
        async move {
            let answer = ask(
                conn,
                with_ext(
                    request::VIEW_BROKER_STATS_DATA,
                    &[("statsName", name), ("statsKey", key)],
                ),
            )
            .await;
            assert_eq!(answer.code, response::SUCCESS, "{name} {key}: {:?}", answer.remark);
            body_json(&answer.body)["statsMinute"]["sum"].as_i64().unwrap()
        }
    };
    assert_eq!(minute_sum("SNDBCK_PUT_NUMS", "StatsTopic@cg_stats").await, 1);
    // The retry is parked for its delay level: Java counts it as a put to the schedule topic.
    assert_eq!(minute_sum("TOPIC_PUT_NUMS", "SCHEDULE_TOPIC_XXXX").await, 1);
    assert_eq!(minute_sum("QUEUE_PUT_NUMS", "SCHEDULE_TOPIC_XXXX@2").await, 1);
    // Send-backs are not producer sends.
    assert_eq!(minute_sum("BROKER_PUT_NUMS", "DefaultCluster").await, 1);
}

/// `enableBrokerStats` (our key): off at start, sends and pulls count nothing and
/// VIEW_BROKER_STATS_DATA answers as Java does for stats that do not exist; switched on
/// through UPDATE_BROKER_CONFIG, counting starts at once; GET_BROKER_CONFIG shows the key.
#[tokio::test]
async fn broker_statistics_can_be_turned_off_and_on() {
    let broker = InProcessBroker::start(&[("enableBrokerStats", "false")]).await;
    let conn = connect(&broker.addr).await;
    setup(&conn).await;
    let state = broker.broker.state();
    state.stats.sample_minute_windows();
    let view = |name: &str, key: &str| {
        with_ext(
            request::VIEW_BROKER_STATS_DATA,
            &[("statsName", name), ("statsKey", key)],
        )
    };
    let answer = ask(&conn, view("TOPIC_PUT_NUMS", TOPIC)).await;
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert_eq!(
        answer.remark.as_deref(),
        Some(format!("The stats <TOPIC_PUT_NUMS> <{TOPIC}> not exist").as_str())
    );
    let answer = ask(&conn, view("GROUP_GET_NUMS", &format!("{TOPIC}@{GROUP}"))).await;
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    // The store's own counters are not ours to switch off: runtime info still counts puts.
    let answer = ask(&conn, RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO)).await;
    let table = body_json(&answer.body)["table"].clone();
    assert_eq!(table["putMessageTimesTotal"], "35");

    let config = ask(&conn, RemotingCommand::request(request::GET_BROKER_CONFIG)).await;
    assert!(String::from_utf8_lossy(&config.body).contains("enableBrokerStats=false"));
    let update = RemotingCommand::request(request::UPDATE_BROKER_CONFIG).with_body(&b"enableBrokerStats=true\n"[..]);
    assert_eq!(ask(&conn, update).await.code, response::SUCCESS);
    for i in 0..3 {
        let req = RemotingCommand::request_with_header(request::SEND_MESSAGE, &send_header(TOPIC, i, false))
            .with_body(format!("on-{i}").into_bytes());
        assert_eq!(ask(&conn, req).await.code, response::SUCCESS);
    }
    state.stats.sample_minute_windows();
    let answer = ask(&conn, view("TOPIC_PUT_NUMS", TOPIC)).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(body_json(&answer.body)["statsMinute"]["sum"], 3);
}
