//! Queue locks for orderly consumers, LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42), over TCP
//! against a running broker: the Java client's recorded requests get Java's answers, a
//! queue held by one client is refused to another until released or expired, and an
//! unlock by someone else changes nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use compat_tests::golden;
use compat_tests::process::{connect, InProcessBroker};
use remoting::code::{request, response};
use remoting::protocol::lock::{LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody};
use remoting::{fastjson, Connection, RemotingCommand};
use serde_json::Value;

fn mq(q: i32) -> MessageQueue {
    MessageQueue {
        broker_name: "broker-a".into(),
        queue_id: q,
        topic: "OrderTopic".into(),
    }
}

async fn lock(conn: &Connection, client: &str, queues: &[i32]) -> BTreeSet<i32> {
    let body = LockBatchRequestBody {
        client_id: client.into(),
        consumer_group: "cg_order".into(),
        mq_set: queues.iter().map(|&q| mq(q)).collect(),
        only_this_broker: None,
    };
    let req = RemotingCommand::request(request::LOCK_BATCH_MQ).with_body(serde_json::to_vec(&body).unwrap());
    let answer = conn.request(req, Duration::from_secs(5)).await.unwrap();
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    let locked: LockBatchResponseBody = fastjson::from_slice(&answer.body).unwrap();
    locked.lock_ok_mq_set.iter().map(|m| m.queue_id).collect()
}

async fn unlock(conn: &Connection, client: &str, queues: &[i32]) {
    let body = UnlockBatchRequestBody {
        client_id: client.into(),
        consumer_group: "cg_order".into(),
        mq_set: queues.iter().map(|&q| mq(q)).collect(),
        only_this_broker: None,
    };
    let req = RemotingCommand::request(request::UNLOCK_BATCH_MQ).with_body(serde_json::to_vec(&body).unwrap());
    let answer = conn.request(req, Duration::from_secs(5)).await.unwrap();
    assert_eq!(answer.code, response::SUCCESS);
    assert!(answer.body.is_empty());
}

/// The lock set of a body, as a set (Java writes a HashSet, so order carries nothing).
fn queue_set(body: &[u8]) -> BTreeSet<(String, i32, String)> {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["lockOKMQSet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["brokerName"].as_str().unwrap().to_string(),
                m["queueId"].as_i64().unwrap() as i32,
                m["topic"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn recorded_lock_requests_get_java_answers() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    let frames = golden::load_frames("09");
    let mut compared = 0;
    for req in frames.iter().filter(|f| f.is_request() && matches!(f.code, 41 | 42)) {
        let java = golden::response_to(&frames, req).expect("Java answered");
        let ours = conn.request(req.to_command(), Duration::from_secs(5)).await.unwrap();
        assert_eq!(ours.code, java.code);
        assert_eq!(ours.remark, None);
        if req.code == request::LOCK_BATCH_MQ {
            assert_eq!(queue_set(&ours.body), queue_set(&java.body()), "opaque {}", req.opaque);
        } else {
            assert!(ours.body.is_empty());
        }
        compared += 1;
    }
    assert!(compared >= 7, "only {compared} lock frames");
}

#[tokio::test]
async fn a_locked_queue_is_refused_to_others_until_released() {
    let broker = InProcessBroker::start(&[]).await;
    let a = connect(&broker.addr).await;
    let b = connect(&broker.addr).await;
    assert_eq!(lock(&a, "client-a", &[0, 1]).await, BTreeSet::from([0, 1]));
    // b asks for all four and gets the two that are free.
    assert_eq!(lock(&b, "client-b", &[0, 1, 2, 3]).await, BTreeSet::from([2, 3]));
    // Renewing is fine, and does not take b's.
    assert_eq!(lock(&a, "client-a", &[0, 1, 2]).await, BTreeSet::from([0, 1]));
    // b may not unlock a's queues: nothing changes.
    unlock(&b, "client-b", &[0, 1]).await;
    assert_eq!(lock(&b, "client-b", &[0, 1]).await, BTreeSet::new());
    // Once a releases queue 1, b can take it.
    unlock(&a, "client-a", &[1]).await;
    assert_eq!(lock(&b, "client-b", &[1]).await, BTreeSet::from([1]));
    assert_eq!(lock(&a, "client-a", &[0, 1]).await, BTreeSet::from([0]));
}

#[tokio::test]
async fn a_lock_not_renewed_expires() {
    let broker = InProcessBroker::start(&[("rocketmq.broker.rebalance.lockMaxLiveTime", "600")]).await;
    let a = connect(&broker.addr).await;
    let b = connect(&broker.addr).await;
    assert_eq!(lock(&a, "client-a", &[0]).await, BTreeSet::from([0]));
    assert_eq!(lock(&b, "client-b", &[0]).await, BTreeSet::new());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(lock(&b, "client-b", &[0]).await, BTreeSet::from([0]));
    assert_eq!(lock(&a, "client-a", &[0]).await, BTreeSet::new());
}

#[tokio::test]
async fn a_malformed_lock_body_gets_an_error_and_the_connection_lives_on() {
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    let req = RemotingCommand::request(request::LOCK_BATCH_MQ).with_body(&b"{not json"[..]);
    let answer = conn.request(req, Duration::from_secs(5)).await.unwrap();
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert_eq!(lock(&conn, "client-a", &[3]).await, BTreeSet::from([3]));
}
