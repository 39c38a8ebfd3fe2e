//! Reset by timestamp with a stock consumer online (crates.io rocketmq-client-rust 1.0): the
//! push consumer has consumed and committed 20 messages, INVOKE_BROKER_TO_RESET_OFFSET moves
//! the group back to a time between the first 10 and the last 10, and the consumer, still
//! running, receives exactly those last 10 again (seed Q3: replay with consumers online).

use std::collections::BTreeMap;
use std::time::Duration;

use compat_tests::clients::StockClient;
use compat_tests::process::{connect, StandaloneProcess};
use remoting::code::{request, response};
use remoting::header::broker::{CreateTopicRequestHeader, SendMessageRequestHeader};
use remoting::{Connection, RemotingCommand};

const TOPIC: &str = "ReplayTopic";
const GROUP: &str = "replay_cg";
const QUEUES: i32 = 4;

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(15)).await.unwrap()
}

async fn send(conn: &Connection, i: usize, key: &str) {
    let header = SendMessageRequestHeader {
        producer_group: "replay_pg".into(),
        topic: TOPIC.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: (i % QUEUES as usize) as i32,
        sys_flag: 0,
        born_timestamp: remoting::protocol::topic::now_millis(),
        flag: 0,
        properties: Some(format!("KEYS\u{1}{key}\u{2}TAGS\u{1}T")),
        reconsume_times: Some(0),
        unit_mode: None,
        batch: None,
        max_reconsume_times: None,
    };
    let req = RemotingCommand::request_with_header(request::SEND_MESSAGE, &header).with_body(key.as_bytes().to_vec());
    assert_eq!(ask(conn, req).await.code, response::SUCCESS);
}

async fn committed_total(broker: &Connection) -> i64 {
    let mut total = 0;
    for q in 0..QUEUES {
        let mut req = RemotingCommand::request(request::QUERY_CONSUMER_OFFSET);
        req.ext_mut().insert("consumerGroup", GROUP);
        req.ext_mut().insert("topic", TOPIC);
        req.ext_mut().insert("queueId", q.to_string());
        let res = ask(broker, req).await;
        if res.code == response::SUCCESS {
            total += res.ext().get("offset").and_then(|o| o.parse::<i64>().ok()).unwrap_or(0);
        }
    }
    total
}

#[tokio::test]
async fn a_running_stock_consumer_replays_from_the_reset_time() {
    let data = tempfile::tempdir().unwrap();
    let mut server = StandaloneProcess::start(data.path(), &[]).await;
    let ns = server.namesrv_addr.clone();
    let broker = connect(&format!("127.0.0.1:{}", server.broker_port)).await;
    let header = CreateTopicRequestHeader::read_write(TOPIC, QUEUES);
    let res = ask(
        &broker,
        RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);

    for i in 0..10 {
        send(&broker, i, &format!("old-{i}")).await;
    }
    // The reset time sits a second after the old messages and just before the new ones, so
    // in every queue the message stored nearest to it is the first new one.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let reset_to = remoting::protocol::topic::now_millis();
    for i in 0..10 {
        send(&broker, i, &format!("new-{i}")).await;
    }

    let args = [
        "push-consume",
        "--namesrv",
        &ns,
        "--topic",
        TOPIC,
        "--group",
        GROUP,
        "--from",
        "first",
        "--expect",
        "30",
        "--timeout",
        "120",
        "--idle",
        "5",
    ];
    let consumer = StockClient::Rust.run(&args, Duration::from_secs(180));
    let admin = async {
        // Wait until the consumer has committed all 20, then reset the group while it runs.
        for _ in 0..600 {
            if committed_total(&broker).await == 20 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            committed_total(&broker).await,
            20,
            "the consumer committed what it consumed"
        );
        let mut reset = RemotingCommand::request(request::INVOKE_BROKER_TO_RESET_OFFSET);
        reset.ext_mut().insert("topic", TOPIC);
        reset.ext_mut().insert("group", GROUP);
        reset.ext_mut().insert("timestamp", reset_to.to_string());
        reset.ext_mut().insert("isForce", "true");
        let res = ask(&broker, reset).await;
        assert_eq!(res.code, response::SUCCESS, "{:?}", res.remark);
    };
    let (run, ()) = tokio::join!(consumer, admin);

    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    for r in run.records().into_iter().filter(|r| r.get("summary").is_none()) {
        if let Some(key) = r["keys"].as_str() {
            *received.entry(key.to_string()).or_default() += 1;
        }
    }
    for i in 0..10 {
        assert_eq!(
            received.get(&format!("old-{i}")),
            Some(&1),
            "old-{i} once: {received:?}\n{}",
            run.stderr
        );
        assert_eq!(
            received.get(&format!("new-{i}")),
            Some(&2),
            "new-{i} twice: {received:?}\n{}",
            run.stderr
        );
    }
    assert_eq!(received.len(), 20, "nothing else: {received:?}");
    server.stop().await;
}
