//! Our extension, `duplicateSendCheckEnable`: a send retried with the same UNIQ_KEY within
//! the window gets the first send's result and is stored once; outside the window or with
//! the option off (the default, as in Java) it is stored twice. Over TCP, including a
//! broker restart in between.

use std::time::Duration;

use compat_tests::broker_ops::pull_header;
use compat_tests::process::{connect, StandaloneProcess};
use remoting::code::{request, response};
use remoting::header::broker::{PullMessageRequestHeader, SendMessageRequestHeader};
use remoting::{Connection, RemotingCommand};

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(10)).await.unwrap()
}

fn send(topic: &str, uniq: &str, body: &str) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "pg_dedup".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 1,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 0,
        flag: 0,
        properties: Some(format!("UNIQ_KEY\u{1}{uniq}\u{2}KEYS\u{1}{body}")),
        reconsume_times: Some(0),
        unit_mode: None,
        batch: None,
        max_reconsume_times: None,
    };
    RemotingCommand::request_with_header(request::SEND_MESSAGE, &header).with_body(body.as_bytes().to_vec())
}

/// (msgId, queueOffset) of a successful send.
async fn sent(conn: &Connection, req: RemotingCommand) -> (String, String) {
    let answer = ask(conn, req).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    (
        answer.ext().get("msgId").unwrap().to_string(),
        answer.ext().get("queueOffset").unwrap().to_string(),
    )
}

async fn stored_count(conn: &Connection, topic: &str) -> usize {
    let header = PullMessageRequestHeader {
        consumer_group: "cg_dedup".into(),
        ..pull_header(topic, 0, 0, 64)
    };
    let answer = ask(
        conn,
        RemotingCommand::request_with_header(request::PULL_MESSAGE, &header),
    )
    .await;
    if answer.code != response::SUCCESS {
        return 0;
    }
    store::decode_messages(&answer.body).len()
}

#[tokio::test]
async fn retried_sends_are_stored_once_within_the_window() {
    let data = tempfile::tempdir().unwrap();
    let mut server = StandaloneProcess::start(
        data.path(),
        &[
            "duplicateSendCheckEnable=true",
            "duplicateSendCheckWindowSeconds=4",
            "defaultTopicQueueNums=1",
        ],
    )
    .await;
    let addr = format!("127.0.0.1:{}", server.broker_port);
    let conn = connect(&addr).await;
    let first = sent(&conn, send("DedupTopic", "UNIQ-A", "a")).await;
    let retry = sent(&conn, send("DedupTopic", "UNIQ-A", "a")).await;
    assert_eq!(retry, first, "the retry gets the first send's msgId and offset");
    let other = sent(&conn, send("DedupTopic", "UNIQ-B", "b")).await;
    assert_ne!(other, first);
    assert_eq!(stored_count(&conn, "DedupTopic").await, 2);

    // After a restart the table is rebuilt from the CommitLog.
    drop(conn);
    server.restart().await;
    let conn = connect(&addr).await;
    assert_eq!(sent(&conn, send("DedupTopic", "UNIQ-A", "a")).await, first);
    assert_eq!(stored_count(&conn, "DedupTopic").await, 2);

    // Outside the window it is a new message, as in Java.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let late = sent(&conn, send("DedupTopic", "UNIQ-A", "a")).await;
    assert_ne!(late, first);
    assert_eq!(stored_count(&conn, "DedupTopic").await, 3);
}

#[tokio::test]
async fn without_the_option_a_retry_is_stored_twice_as_in_java() {
    let data = tempfile::tempdir().unwrap();
    let server = StandaloneProcess::start(data.path(), &["defaultTopicQueueNums=1"]).await;
    let conn = connect(&format!("127.0.0.1:{}", server.broker_port)).await;
    let first = sent(&conn, send("PlainTopic", "UNIQ-A", "a")).await;
    let retry = sent(&conn, send("PlainTopic", "UNIQ-A", "a")).await;
    assert_ne!(retry, first);
    assert_eq!(stored_count(&conn, "PlainTopic").await, 2);
}

fn batch(topic: &str, keys: &[&str]) -> RemotingCommand {
    let props: Vec<String> = keys
        .iter()
        .map(|k| format!("UNIQ_KEY\u{1}{k}\u{2}KEYS\u{1}{k}"))
        .collect();
    let items: Vec<(i32, &[u8], &str)> = keys
        .iter()
        .zip(&props)
        .map(|(k, p)| (0, k.as_bytes(), p.as_str()))
        .collect();
    let body = store::codec::encode_batch_body(&items);
    // SEND_BATCH_MESSAGE carries the one-letter header.
    let mut req = RemotingCommand::request(request::SEND_BATCH_MESSAGE).with_body(body);
    for (k, v) in [
        ("a", "pg_dedup"),
        ("b", topic),
        ("c", "TBW102"),
        ("d", "1"),
        ("e", "0"),
        ("f", "0"),
        ("g", "0"),
        ("h", "0"),
        ("i", ""),
        ("j", "0"),
        ("k", "false"),
        ("m", "true"),
    ] {
        req.ext_mut().insert(k, v);
    }
    req
}

#[tokio::test]
async fn batches_are_checked_message_by_message() {
    let data = tempfile::tempdir().unwrap();
    let server = StandaloneProcess::start(
        data.path(),
        &["duplicateSendCheckEnable=true", "defaultTopicQueueNums=1"],
    )
    .await;
    let conn = connect(&format!("127.0.0.1:{}", server.broker_port)).await;
    let first = sent(&conn, batch("DedupBatch", &["K1", "K2"])).await;
    assert_eq!(stored_count(&conn, "DedupBatch").await, 2);
    // The same batch again: the first batch's answer, nothing stored.
    assert_eq!(sent(&conn, batch("DedupBatch", &["K1", "K2"])).await, first);
    assert_eq!(stored_count(&conn, "DedupBatch").await, 2);
    // A batch with one old and one new message stores only the new one.
    let (_, offset) = sent(&conn, batch("DedupBatch", &["K2", "K3"])).await;
    assert_eq!(offset, "2");
    assert_eq!(stored_count(&conn, "DedupBatch").await, 3);
}
