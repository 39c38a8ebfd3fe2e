//! Transactional messages over TCP against a running broker: prepared sends are invisible,
//! END_TRANSACTION commits or rolls back, UNKNOW is resolved by the broker's check-back,
//! bad or repeated decisions change nothing, and a store the Java broker left with pending
//! half messages is resolved by ours.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use compat_tests::process::InProcessBroker;
use remoting::code::{request, response};
use remoting::header::broker::{CreateTopicRequestHeader, EndTransactionRequestHeader, PullMessageRequestHeader};
use remoting::{BoxFuture, Connection, RemotingCommand, RequestHandler};

/// A transactional producer's connection: keeps the broker's CHECK_TRANSACTION_STATE pushes.
#[derive(Default)]
struct Producer {
    checks: Mutex<Vec<RemotingCommand>>,
}

impl RequestHandler for Producer {
    fn handle(&self, _conn: Connection, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        self.checks.lock().unwrap().push(request);
        Box::pin(async { None })
    }
}

async fn producer(addr: &str, group: &str) -> (Connection, Arc<Producer>) {
    let handler = Arc::new(Producer::default());
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let conn = Connection::spawn(
        stream,
        handler.clone(),
        remoting::frame::DEFAULT_MAX_FRAME_LENGTH,
        tokio_util::sync::CancellationToken::new(),
    )
    .unwrap();
    let heartbeat =
        format!(r#"{{"clientID":"tx-client@1#1","consumerDataSet":[],"producerDataSet":[{{"groupName":"{group}"}}]}}"#);
    let answer = conn
        .request(
            RemotingCommand::request(request::HEART_BEAT).with_body(heartbeat.into_bytes()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(answer.code, response::SUCCESS);
    (conn, handler)
}

async fn create_topic(conn: &Connection, topic: &str) {
    let header = CreateTopicRequestHeader::read_write(topic, 4);
    let answer = conn
        .request(
            RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(answer.code, response::SUCCESS);
}

/// A prepared send as TransactionMQProducer makes it: sys flag 4, TRAN_MSG and PGROUP.
async fn send_prepared(conn: &Connection, topic: &str, queue: i32, i: usize) -> (i64, i64, String) {
    let props = format!("TRAN_MSG\u{1}true\u{2}PGROUP\u{1}pg_tx\u{2}KEYS\u{1}tx{i}\u{2}UNIQ_KEY\u{1}UNIQ{i:04}\u{2}WAIT\u{1}true\u{2}TAGS\u{1}T");
    let mut req = RemotingCommand::request(request::SEND_MESSAGE_V2).with_body(format!("tx-body-{i}").into_bytes());
    for (k, v) in [
        ("a", "pg_tx"),
        ("b", topic),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", &queue.to_string()),
        ("f", "4"),
        ("g", "1795967439013"),
        ("h", "0"),
        ("i", &props),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
    ] {
        req.ext_mut().insert(k, v);
    }
    let answer = conn.request(req, Duration::from_secs(5)).await.unwrap();
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(answer.ext().get("queueId"), Some(queue.to_string().as_str()));
    let msg_id = answer.ext().get("msgId").unwrap().to_string();
    let queue_offset: i64 = answer.ext().get("queueOffset").unwrap().parse().unwrap();
    let (_, commit_log_offset) = store::decode_offset_msg_id(&msg_id).unwrap();
    (queue_offset, commit_log_offset, format!("UNIQ{i:04}"))
}

fn end_request(
    group: &str,
    queue_offset: i64,
    commit_log_offset: i64,
    decision: i32,
    from_check: bool,
) -> RemotingCommand {
    RemotingCommand::request_with_header(
        request::END_TRANSACTION,
        &EndTransactionRequestHeader {
            producer_group: group.into(),
            tran_state_table_offset: queue_offset,
            commit_log_offset,
            commit_or_rollback: decision,
            from_transaction_check: Some(from_check),
            msg_id: "m".into(),
            transaction_id: None,
        },
    )
}

/// Every message of a topic's four queues, decoded.
async fn all_messages(conn: &Connection, topic: &str) -> Vec<store::DecodedMessage> {
    let mut out = Vec::new();
    for queue_id in 0..4 {
        let mut offset = 0;
        loop {
            let header = PullMessageRequestHeader {
                consumer_group: "cg_tx_check".into(),
                topic: topic.into(),
                queue_id,
                queue_offset: offset,
                max_msg_nums: 32,
                // The subscription travels in the header (no consumer heartbeat here).
                sys_flag: 0x4,
                commit_offset: 0,
                suspend_timeout_millis: 0,
                subscription: Some("*".into()),
                sub_version: 0,
                expression_type: None,
                max_msg_bytes: None,
            };
            let answer = conn
                .request(
                    RemotingCommand::request_with_header(request::PULL_MESSAGE, &header),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
            if answer.code != response::SUCCESS {
                break;
            }
            let msgs = store::decode_messages(&answer.body);
            if msgs.is_empty() {
                break;
            }
            offset += msgs.len() as i64;
            out.extend(msgs);
        }
    }
    out
}

async fn wait_for_count(conn: &Connection, topic: &str, n: usize, limit: Duration) -> Vec<store::DecodedMessage> {
    let deadline = Instant::now() + limit;
    loop {
        let msgs = all_messages(conn, topic).await;
        if msgs.len() >= n || Instant::now() > deadline {
            return msgs;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn commit_rollback_and_check_back() {
    let broker = InProcessBroker::start(&[("transactionCheckInterval", "500"), ("transactionTimeOut", "1500")]).await;
    let (conn, producer) = producer(&broker.addr, "pg_tx").await;
    create_topic(&conn, "TxTopic").await;
    let commit = send_prepared(&conn, "TxTopic", 1, 0).await;
    let rollback = send_prepared(&conn, "TxTopic", 2, 1).await;
    let unknown = send_prepared(&conn, "TxTopic", 3, 2).await;
    assert!(
        all_messages(&conn, "TxTopic").await.is_empty(),
        "half messages are invisible"
    );

    conn.oneway(end_request("pg_tx", commit.0, commit.1, 8, false))
        .await
        .unwrap();
    conn.oneway(end_request("pg_tx", rollback.0, rollback.1, 12, false))
        .await
        .unwrap();
    conn.oneway(end_request("pg_tx", unknown.0, unknown.1, 0, false))
        .await
        .unwrap();
    let visible = wait_for_count(&conn, "TxTopic", 1, Duration::from_secs(5)).await;
    assert_eq!(visible.len(), 1);
    let m = &visible[0];
    assert_eq!(&m.body[..], b"tx-body-0");
    assert_eq!(m.queue_id, 1);
    assert_eq!(m.sys_flag & 0xC, 8, "COMMIT sys flag");
    assert_eq!(m.prepared_transaction_offset, commit.1);
    assert_eq!(m.property("REAL_TOPIC"), Some("TxTopic"));
    assert_eq!(m.property("TRAN_MSG"), Some("true"));
    assert_eq!(m.property("UNIQ_KEY"), Some("UNIQ0000"));

    // The UNKNOW one is checked once it is older than transactionTimeOut.
    let deadline = Instant::now() + Duration::from_secs(10);
    let check = loop {
        if let Some(c) = producer.checks.lock().unwrap().first().cloned() {
            break c;
        }
        assert!(Instant::now() < deadline, "no check-back arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(check.code, request::CHECK_TRANSACTION_STATE);
    assert!(check.is_oneway());
    assert_eq!(check.ext().get("msgId"), Some("UNIQ0002"));
    assert_eq!(check.ext().get("transactionId"), Some("UNIQ0002"));
    let checked = store::decode_message(&check.body).unwrap();
    assert_eq!(checked.topic, "TxTopic", "the check carries the real topic");
    assert_eq!(checked.queue_id, 3);
    assert_eq!(checked.property("TRANSACTION_CHECK_TIMES"), Some("1"));
    let table_offset: i64 = check.ext().get("tranStateTableOffset").unwrap().parse().unwrap();
    let cl_offset: i64 = check.ext().get("commitLogOffset").unwrap().parse().unwrap();
    assert!(table_offset > unknown.0, "checked from the half message put back");
    // Only the undecided one was asked about.
    assert!(producer
        .checks
        .lock()
        .unwrap()
        .iter()
        .all(|c| c.ext().get("msgId") == Some("UNIQ0002")));
    conn.oneway(end_request("pg_tx", table_offset, cl_offset, 8, true))
        .await
        .unwrap();
    let visible = wait_for_count(&conn, "TxTopic", 2, Duration::from_secs(5)).await;
    let mut bodies: Vec<Vec<u8>> = visible.iter().map(|m| m.body.to_vec()).collect();
    bodies.sort();
    assert_eq!(bodies, [b"tx-body-0".to_vec(), b"tx-body-2".to_vec()]);

    // Bad and repeated decisions: answered (when not oneway) and nothing changes.
    let again = conn
        .request(
            end_request("pg_tx", commit.0, commit.1, 8, false),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(again.code, response::SYSTEM_ERROR);
    let unknown_offset = conn
        .request(end_request("pg_tx", 0, 1 << 40, 8, false), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(unknown_offset.code, response::SYSTEM_ERROR);
    assert_eq!(
        unknown_offset.remark.as_deref(),
        Some("Find prepared transaction message failed")
    );
    let wrong_group = conn
        .request(
            end_request("pg_other", rollback.0, rollback.1, 8, false),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(wrong_group.remark.as_deref(), Some("The producer group wrong"));
    let rolled_back_again = conn
        .request(
            end_request("pg_tx", rollback.0, rollback.1, 8, false),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(rolled_back_again.code, response::SYSTEM_ERROR);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        all_messages(&conn, "TxTopic").await.len(),
        2,
        "no duplicate, no resurrected rollback"
    );
}

#[tokio::test]
async fn transactional_sends_are_refused_when_reject_transaction_message() {
    let broker = InProcessBroker::start(&[("rejectTransactionMessage", "true")]).await;
    let (conn, _) = producer(&broker.addr, "pg_tx").await;
    create_topic(&conn, "TxTopic").await;
    let props = "TRAN_MSG\u{1}true\u{2}PGROUP\u{1}pg_tx";
    let mut req = RemotingCommand::request(request::SEND_MESSAGE_V2).with_body(&b"x"[..]);
    for (k, v) in [
        ("a", "pg_tx"),
        ("b", "TxTopic"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "0"),
        ("f", "4"),
        ("g", "0"),
        ("h", "0"),
        ("i", props),
    ] {
        req.ext_mut().insert(k, v);
    }
    let answer = conn.request(req, Duration::from_secs(5)).await.unwrap();
    assert_eq!(answer.code, response::NO_PERMISSION);
    assert_eq!(
        answer.remark.as_deref(),
        Some("the broker[127.0.0.1] sending transaction message is forbidden")
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
            let mut p = std::fs::metadata(&dst).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            p.set_readonly(false);
            std::fs::set_permissions(&dst, p).unwrap();
        }
    }
}

/// The Java broker shut down with eight transactions undecided (their producer answered
/// UNKNOW to every check). Ours opens the store, checks them from where Java's check
/// service stopped, and commits them when the producer says so; the 21 messages Java
/// had made visible stay as they were, none twice.
#[tokio::test]
async fn a_java_store_with_pending_half_messages_is_resolved() {
    let golden = compat_tests::golden::golden_dir().join("java-store-4.9.8-tx");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&golden.join("store"), &root);
    let root_s = root.display().to_string();
    let cl = root.join("commitlog").display().to_string();
    let broker = InProcessBroker::start(&[
        ("storePathRootDir", root_s.as_str()),
        ("storePathCommitLog", cl.as_str()),
        ("mappedFileSizeCommitLog", "1048576"),
        ("mappedFileSizeConsumeQueue", "2000"),
        ("maxHashSlotNum", "500"),
        ("maxIndexNum", "2000"),
        ("transactionCheckInterval", "500"),
    ])
    .await;
    let (conn, producer) = producer(&broker.addr, "pg_txstore").await;
    let before = all_messages(&conn, "TxStoreTopic").await;
    assert_eq!(before.len(), 21, "Java's committed and plain messages");

    let manifest = std::fs::read_to_string(golden.join("manifest.jsonl")).unwrap();
    let pending: Vec<String> = manifest
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|m| m["consumed"] == false && m["decision"] == "UNKNOW" && m["checkAnswer"] == "UNKNOW")
        .map(|m| m["msgId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(pending.len(), 8);

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut answered = std::collections::BTreeSet::new();
    while answered.len() < pending.len() {
        assert!(Instant::now() < deadline, "checked only {answered:?}");
        let checks: Vec<RemotingCommand> = producer.checks.lock().unwrap().drain(..).collect();
        for c in checks {
            let id = c.ext().get("msgId").unwrap().to_string();
            assert!(
                pending.contains(&id),
                "check for a transaction that was not pending: {id}"
            );
            let body = store::decode_message(&c.body).unwrap();
            assert_eq!(body.topic, "TxStoreTopic");
            let table: i64 = c.ext().get("tranStateTableOffset").unwrap().parse().unwrap();
            let offset: i64 = c.ext().get("commitLogOffset").unwrap().parse().unwrap();
            conn.oneway(end_request("pg_txstore", table, offset, 8, true))
                .await
                .unwrap();
            answered.insert(id);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = wait_for_count(&conn, "TxStoreTopic", 29, Duration::from_secs(5)).await;
    assert_eq!(after.len(), 29);
    let mut ids: Vec<String> = after.iter().filter_map(|m| m.unique_key().map(String::from)).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "no message twice");
    for id in &pending {
        assert!(ids.contains(id), "{id} committed");
    }
}

fn resume_request(msg_id: Option<&str>) -> RemotingCommand {
    let mut req = RemotingCommand::request(request::RESUME_CHECK_HALF_MESSAGE);
    if let Some(id) = msg_id {
        req.ext_mut().insert("msgId", id);
    }
    req
}

/// Waits until `n` checks have arrived, then `quiet` more without another one.
async fn checks_settle(producer: &Producer, n: usize, limit: Duration, quiet: Duration) -> Vec<RemotingCommand> {
    let deadline = Instant::now() + limit;
    while producer.checks.lock().unwrap().len() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} checks arrived",
            producer.checks.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(quiet).await;
    producer.checks.lock().unwrap().clone()
}

/// RESUME_CHECK_HALF_MESSAGE (323), as Java 4.9.8's AdminBrokerProcessor answers it: a
/// half message that used up its `transactionCheckMax` checks (and so is no longer asked
/// about) is put back with its check count at 0: the producer is asked again, and its
/// commit makes the message visible. Unknown ids get Java's SYSTEM_ERROR remark.
#[tokio::test]
async fn resume_check_half_message_after_the_check_limit() {
    let broker = InProcessBroker::start(&[
        ("transactionCheckInterval", "300"),
        ("transactionTimeOut", "500"),
        ("transactionCheckMax", "2"),
    ])
    .await;
    let (conn, producer) = producer(&broker.addr, "pg_tx").await;
    create_topic(&conn, "TxResume").await;
    let (_, half_offset, _) = send_prepared(&conn, "TxResume", 2, 7).await;
    let (_, half) = broker
        .broker
        .state()
        .store
        .message_by_commitlog_offset(half_offset)
        .unwrap();
    let half_id = store::codec::encode_offset_msg_id(&half.store_host, half_offset);

    // Left UNKNOW: checked twice (TRANSACTION_CHECK_TIMES 1 and 2), then no more.
    let checks = checks_settle(&producer, 2, Duration::from_secs(10), Duration::from_millis(1500)).await;
    assert_eq!(checks.len(), 2, "transactionCheckMax=2 stops the checks");
    let times: Vec<String> = checks
        .iter()
        .map(|c| {
            store::decode_message(&c.body)
                .unwrap()
                .property("TRANSACTION_CHECK_TIMES")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(times, ["1", "2"]);
    assert!(all_messages(&conn, "TxResume").await.is_empty());

    // Resumed: answered SUCCESS with no remark, and checked again from a count of 0.
    let answer = conn
        .request(resume_request(Some(&half_id)), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(answer.remark, None);
    let checks = checks_settle(&producer, 3, Duration::from_secs(10), Duration::ZERO).await;
    let again = &checks[2];
    assert_eq!(again.ext().get("msgId"), Some("UNIQ0007"));
    let checked = store::decode_message(&again.body).unwrap();
    assert_eq!(checked.property("TRANSACTION_CHECK_TIMES"), Some("1"));
    assert_eq!(checked.topic, "TxResume");
    assert_eq!(checked.queue_id, 2);
    assert_eq!(&checked.body[..], b"tx-body-7");
    assert_eq!(checked.born_timestamp, half.born_timestamp, "born timestamp kept");
    // The copy the broker checks is in half queue 0 with the producer's properties.
    let cl_offset: i64 = again.ext().get("commitLogOffset").unwrap().parse().unwrap();
    let table_offset: i64 = again.ext().get("tranStateTableOffset").unwrap().parse().unwrap();
    let (_, copy) = broker
        .broker
        .state()
        .store
        .message_by_commitlog_offset(cl_offset)
        .unwrap();
    assert_eq!(copy.topic, "RMQ_SYS_TRANS_HALF_TOPIC");
    assert_eq!(copy.queue_id, 0);
    assert_eq!(copy.property("PGROUP"), Some("pg_tx"));
    assert_eq!(copy.property("REAL_TOPIC"), Some("TxResume"));
    assert_eq!(copy.property("REAL_QID"), Some("2"));

    // The producer commits from the check: the message is delivered, once.
    conn.oneway(end_request("pg_tx", table_offset, cl_offset, 8, true))
        .await
        .unwrap();
    let visible = wait_for_count(&conn, "TxResume", 1, Duration::from_secs(5)).await;
    assert_eq!(visible.len(), 1);
    assert_eq!(&visible[0].body[..], b"tx-body-7");
    assert_eq!(visible[0].queue_id, 2);

    // Ids that name no message: Java's remark for the exception it catches.
    let remark = Some("Exception was thrown when putting message back to RMQ_SYS_TRANS_HALF_TOPIC.");
    let far = store::codec::encode_offset_msg_id(&half.store_host, 1 << 40);
    for id in [Some(far.as_str()), Some("not-an-id"), None] {
        let answer = conn.request(resume_request(id), Duration::from_secs(5)).await.unwrap();
        assert_eq!(answer.code, response::SYSTEM_ERROR, "{id:?}");
        assert_eq!(answer.remark.as_deref(), remark, "{id:?}");
    }
}

/// A half message still pending (never checked yet) can be resumed too: a second entry
/// with a check count of 0 goes to the half queue; both entries are checked.
#[tokio::test]
async fn resume_check_half_message_of_a_pending_one() {
    let broker = InProcessBroker::start(&[("transactionCheckInterval", "300"), ("transactionTimeOut", "60000")]).await;
    let (conn, _producer) = producer(&broker.addr, "pg_tx").await;
    create_topic(&conn, "TxPending").await;
    let (queue_offset, half_offset, _) = send_prepared(&conn, "TxPending", 1, 3).await;
    let (_, half) = broker
        .broker
        .state()
        .store
        .message_by_commitlog_offset(half_offset)
        .unwrap();
    let half_id = store::codec::encode_offset_msg_id(&half.store_host, half_offset);
    let before = broker
        .broker
        .state()
        .store
        .max_offset_in_queue("RMQ_SYS_TRANS_HALF_TOPIC", 0);
    let answer = conn
        .request(resume_request(Some(&half_id)), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(
        broker
            .broker
            .state()
            .store
            .max_offset_in_queue("RMQ_SYS_TRANS_HALF_TOPIC", 0),
        before + 1
    );
    let found = broker
        .broker
        .state()
        .store
        .get_messages("RMQ_SYS_TRANS_HALF_TOPIC", 0, before, 1, 0, None);
    let copy = store::decode_message(&found.messages[0].bytes).unwrap();
    assert_eq!(copy.property("TRANSACTION_CHECK_TIMES"), Some("0"));
    assert_eq!(copy.property("UNIQ_KEY"), Some("UNIQ0003"));
    assert_ne!(copy.queue_offset, queue_offset);
}
