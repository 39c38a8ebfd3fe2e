//! Routes of ordered topics: with `orderMessageEnable=true` the name server puts the
//! topic's ORDER_TOPIC_CONFIG value (`broker-a:4;broker-b:4`) in `orderTopicConf`, as Java
//! 4.9.8's getRouteInfoByTopic does, in both route JSON forms; other topics, and every
//! topic while the switch is off, have none.

use std::time::Duration;

use compat_tests::process::{connect, register_broker, InProcessNamesrv};
use remoting::code::{request, response};
use remoting::{Connection, RemotingCommand};
use serde_json::Value;

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(5)).await.unwrap()
}

async fn put_kv(conn: &Connection, namespace: &str, key: &str, value: &str) {
    let mut req = RemotingCommand::request(request::PUT_KV_CONFIG);
    req.ext_mut().insert("namespace", namespace);
    req.ext_mut().insert("key", key);
    req.ext_mut().insert("value", value);
    assert_eq!(ask(conn, req).await.code, response::SUCCESS);
}

/// The route body as text, asked with `version` (below 401: the legacy form).
async fn route(conn: &Connection, topic: &str, version: i32) -> String {
    let mut req = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
    req.version = version;
    req.ext_mut().insert("topic", topic);
    let answer = ask(conn, req).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    String::from_utf8(answer.body.to_vec()).unwrap()
}

/// `orderTopicConf` of a route body in either form (the legacy one has bare integer keys in
/// the broker address maps, so it is read with the key quoted first).
fn order_conf(body: &str) -> Option<String> {
    let json: Value = serde_json::from_str(body)
        .or_else(|_| serde_json::from_str(&body.replace("{0:", "{\"0\":")))
        .unwrap_or_else(|e| panic!("{e}: {body}"));
    json.get("orderTopicConf").and_then(Value::as_str).map(String::from)
}

#[tokio::test]
async fn ordered_topic_routes_carry_order_topic_conf_when_enabled() {
    let namesrv = InProcessNamesrv::start(&[("orderMessageEnable", "true")]).await;
    let conn = connect(&namesrv.addr).await;
    assert_eq!(
        register_broker(
            &conn,
            "DefaultCluster",
            "broker-a",
            "127.0.0.1:10911",
            &[("OrderTopic", 4, 6), ("PlainTopic", 4, 6)]
        )
        .await,
        response::SUCCESS
    );
    put_kv(&conn, "ORDER_TOPIC_CONFIG", "OrderTopic", "broker-a:4").await;

    for version in [409, 120] {
        let body = route(&conn, "OrderTopic", version).await;
        assert_eq!(
            order_conf(&body).as_deref(),
            Some("broker-a:4"),
            "version {version}: {body}"
        );
        let plain = route(&conn, "PlainTopic", version).await;
        assert_eq!(order_conf(&plain), None, "version {version}: {plain}");
    }
    // fastjson writes the fields in name order: orderTopicConf between filterServerTable
    // and queueDatas.
    let body = route(&conn, "OrderTopic", 409).await;
    let (f, o, q) = (
        body.find("\"filterServerTable\"").unwrap(),
        body.find("\"orderTopicConf\"").unwrap(),
        body.find("\"queueDatas\"").unwrap(),
    );
    assert!(f < o && o < q, "{body}");

    // The switch is read on every request (Java's updateNamesrvConfig changes it live).
    let off = RemotingCommand::request(request::UPDATE_NAMESRV_CONFIG).with_body(&b"orderMessageEnable=false"[..]);
    assert_eq!(ask(&conn, off).await.code, response::SUCCESS);
    assert_eq!(order_conf(&route(&conn, "OrderTopic", 409).await), None);
}

#[tokio::test]
async fn order_topic_conf_is_absent_by_default() {
    // Java's default is orderMessageEnable=false: the KV value is kept but not routed.
    let namesrv = InProcessNamesrv::start(&[]).await;
    let conn = connect(&namesrv.addr).await;
    register_broker(
        &conn,
        "DefaultCluster",
        "broker-a",
        "127.0.0.1:10911",
        &[("OrderTopic", 4, 6)],
    )
    .await;
    put_kv(&conn, "ORDER_TOPIC_CONFIG", "OrderTopic", "broker-a:4").await;
    assert_eq!(order_conf(&route(&conn, "OrderTopic", 409).await), None);
    assert_eq!(order_conf(&route(&conn, "OrderTopic", 120).await), None);
}
