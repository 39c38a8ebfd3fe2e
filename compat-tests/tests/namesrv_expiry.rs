//! Brokers leave the routes when they stop registering (with the expiry shortened by
//! config) and at once when their connection closes.

use std::time::{Duration, Instant};

use compat_tests::process::{connect, register_broker, InProcessNamesrv};
use remoting::code::{request, response};
use remoting::protocol::route::ClusterInfo;
use remoting::{fastjson, Connection, RemotingCommand};

async fn route_code(conn: &Connection, topic: &str) -> i32 {
    let mut ask = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
    ask.ext_mut().insert("topic", topic);
    conn.request(ask, Duration::from_secs(5)).await.unwrap().code
}

async fn cluster_info(conn: &Connection) -> ClusterInfo {
    let answer = conn
        .request(
            RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    fastjson::from_slice(&answer.body).unwrap()
}

/// Polls `check` every 50 ms until it holds or `limit` passes; returns whether it held.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn silent_broker_expires_and_closed_connection_removes_at_once() {
    let ns = InProcessNamesrv::start(&[
        ("brokerChannelExpiredTime", "1000"),
        ("scanNotActiveBrokerInterval", "100"),
    ])
    .await;
    let client = connect(&ns.addr).await;

    // broker-a keeps its connection open but never registers again: it expires.
    let broker_a = connect(&ns.addr).await;
    assert_eq!(
        register_broker(&broker_a, "C", "broker-a", "127.0.0.1:20911", &[("TopicA", 4, 6)]).await,
        0
    );
    // broker-b re-registers every 300 ms and must stay.
    let broker_b = connect(&ns.addr).await;
    assert_eq!(
        register_broker(&broker_b, "C", "broker-b", "127.0.0.1:21911", &[("TopicB", 4, 6)]).await,
        0
    );
    assert_eq!(route_code(&client, "TopicA").await, response::SUCCESS);
    let keep_alive = {
        let broker_b = broker_b.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                register_broker(&broker_b, "C", "broker-b", "127.0.0.1:21911", &[("TopicB", 4, 6)]).await;
            }
        })
    };

    assert!(
        eventually(Duration::from_secs(10), || async {
            route_code(&client, "TopicA").await == response::TOPIC_NOT_EXIST
        })
        .await
    );
    let info = cluster_info(&client).await;
    assert!(!info.broker_addr_table.contains_key("broker-a"), "{info:?}");
    assert_eq!(info.cluster_addr_table["C"], vec!["broker-b".to_string()]);
    assert!(
        broker_a.is_closed() || eventually(Duration::from_secs(2), || async { broker_a.is_closed() }).await,
        "the expired broker's connection is closed, as Java does"
    );
    assert_eq!(route_code(&client, "TopicB").await, response::SUCCESS);

    // broker-b's connection closes: gone immediately, well before any expiry.
    keep_alive.abort();
    broker_b.close();
    assert!(
        eventually(Duration::from_millis(500), || async {
            route_code(&client, "TopicB").await == response::TOPIC_NOT_EXIST
        })
        .await
    );
    assert!(cluster_info(&client).await.broker_addr_table.is_empty());
    ns.server.shutdown().await;
}
