//! Our `namesrv` binary, started as a process, answers the stock C++ client (PyPI
//! `rocketmq` 0.4.4) and ali-ons: TOPIC_NOT_EXIST for an unknown topic, and after a broker
//! registered (from this test, through our remoting client) a route good enough for the
//! clients to send to that broker. The broker end is a small recorder in this test that
//! answers sends; what is under test is the name server and the clients' use of its routes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use compat_tests::clients::StockClient;
use compat_tests::process::{connect, register_broker, NamesrvProcess};
use remoting::code::request;
use remoting::connection::BoxFuture;
use remoting::{Connection, RemotingCommand, RequestHandler, ServerConfig};

/// Records (topic, queueId) of every send and answers it like a broker would.
#[derive(Default)]
struct SendRecorder {
    sends: Mutex<Vec<(String, i32)>>,
}

impl RequestHandler for SendRecorder {
    fn handle(&self, _conn: Connection, req: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let mut res = RemotingCommand::success(&req);
        if matches!(req.code, request::SEND_MESSAGE | request::SEND_MESSAGE_V2) {
            // SEND_MESSAGE_V2 carries the same fields under one-letter keys.
            let (topic_key, queue_key) = if req.code == request::SEND_MESSAGE_V2 {
                ("b", "e")
            } else {
                ("topic", "queueId")
            };
            let topic = req.ext().get(topic_key).unwrap_or_default().to_string();
            let queue_id: i32 = req.ext().get(queue_key).and_then(|q| q.parse().ok()).unwrap_or(-1);
            let mut sends = self.sends.lock().unwrap();
            let offset = sends.len();
            sends.push((topic, queue_id));
            let ext = res.ext_mut();
            ext.insert("msgId", format!("7F00000100002A9F{offset:016X}"));
            ext.insert("queueId", queue_id.to_string());
            ext.insert("queueOffset", offset.to_string());
        }
        Box::pin(async move { Some(res) })
    }
}

async fn check_client(client: StockClient, namesrv: &str, recorder: &SendRecorder, group: &str) {
    let limit = Duration::from_secs(120);
    let unknown = client
        .run(
            &[
                "send",
                "--namesrv",
                namesrv,
                "--topic",
                "NoSuchTopic",
                "--group",
                group,
                "--count",
                "1",
            ],
            limit,
        )
        .await;
    assert!(
        !unknown.success,
        "{client:?}: a send to an unknown topic must fail: {unknown:?}"
    );
    let error = unknown.errors().first().map(|e| e.to_string()).unwrap_or_default();
    let no_route = match client {
        StockClient::Cpp => error.contains("No route info"),
        // ali-ons passes the name server's code and remark through.
        StockClient::AliOns => error.contains("No topic route info in name server for the topic: NoSuchTopic"),
        StockClient::Rust => unreachable!("this test drives the C++ client and ali-ons only"),
    };
    assert!(no_route, "{client:?}: unexpected error {error} / {}", unknown.stderr);

    let before = recorder.sends.lock().unwrap().len();
    let sent = client
        .run(
            &[
                "send",
                "--namesrv",
                namesrv,
                "--topic",
                "CompatTopic",
                "--group",
                group,
                "--count",
                "6",
                "--key-prefix",
                "k",
            ],
            limit,
        )
        .await;
    assert!(sent.success, "{client:?}: sends through the registered route: {sent:?}");
    assert_eq!(sent.records().len(), 6, "{client:?}: {sent:?}");
    let sends = recorder.sends.lock().unwrap()[before..].to_vec();
    assert_eq!(sends.len(), 6, "{client:?}: the broker from the route got every send");
    for (topic, queue_id) in sends {
        assert_eq!(topic, "CompatTopic");
        assert!(
            (0..4).contains(&queue_id),
            "{client:?}: queue id {queue_id} outside the route's 4 queues"
        );
    }
}

#[tokio::test]
async fn stock_clients_use_our_routes() {
    let namesrv = NamesrvProcess::start(&[]).await;

    let recorder = Arc::new(SendRecorder::default());
    let broker = remoting::serve(ServerConfig::new("127.0.0.1:0".parse().unwrap()), recorder.clone())
        .await
        .unwrap();
    let broker_addr = broker.local_addr().to_string();
    let registration = connect(&namesrv.addr).await;
    let code = register_broker(
        &registration,
        "DefaultCluster",
        "broker-compat",
        &broker_addr,
        &[("CompatTopic", 4, 6)],
    )
    .await;
    assert_eq!(code, 0);

    check_client(StockClient::Cpp, &namesrv.addr, &recorder, "compat_cpp_pg").await;
    check_client(StockClient::AliOns, &namesrv.addr, &recorder, "compat_node_pg").await;

    // Both clients' registrations and route lookups left the name server running.
    let mut namesrv = namesrv;
    assert!(namesrv.is_running());
    broker.shutdown().await;
}
