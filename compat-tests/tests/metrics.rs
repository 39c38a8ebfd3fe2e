//! The broker's Prometheus endpoint (`metricsExporterType=PROM`) after a known run: 30
//! messages into a 4-queue topic, 20 pulled and committed by a group. The scrape is parsed
//! with a Prometheus text-format parser and must show exactly those counts, a lag of 10 and
//! RPC latencies for the codes used; bad requests to the endpoint get 4xx answers.

use std::time::Duration;

use compat_tests::broker_ops::pull_header;
use compat_tests::process::{connect, InProcessBroker};
use remoting::code::{request, response};
use remoting::header::broker::{
    CreateTopicRequestHeader, PullMessageRequestHeader, SendMessageRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use remoting::{Connection, RemotingCommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOPIC: &str = "MetricsTopic";
const GROUP: &str = "cg_metrics";

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(5)).await.unwrap()
}

/// One raw HTTP/1.1 exchange: the status code and the body.
async fn http(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[tokio::test]
async fn a_scrape_shows_what_was_sent_pulled_and_committed() {
    let broker = InProcessBroker::start(&[("metricsExporterType", "PROM"), ("metricsPromExporterPort", "0")]).await;
    let metrics = broker.broker.metrics_addr().expect("metrics endpoint");
    let conn = connect(&broker.addr).await;
    let header = CreateTopicRequestHeader::read_write(TOPIC, 4);
    assert_eq!(
        ask(
            &conn,
            RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header)
        )
        .await
        .code,
        response::SUCCESS
    );
    let mut bytes_in = 0usize;
    for i in 0..30 {
        let send = SendMessageRequestHeader {
            producer_group: "pg_metrics".into(),
            topic: TOPIC.into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: i % 4,
            sys_flag: 0,
            born_timestamp: 0,
            flag: 0,
            properties: None,
            reconsume_times: None,
            unit_mode: None,
            batch: None,
            max_reconsume_times: None,
        };
        let body = format!("metrics-{i}");
        bytes_in += body.len();
        let res = ask(
            &conn,
            RemotingCommand::request_with_header(request::SEND_MESSAGE, &send).with_body(body.into_bytes()),
        )
        .await;
        assert_eq!(res.code, response::SUCCESS);
    }
    // 5 pulled and committed from each queue.
    for queue_id in 0..4 {
        // The subscription travels with the pull (PullSysFlag SUBSCRIPTION).
        let pull = PullMessageRequestHeader {
            consumer_group: GROUP.into(),
            ..pull_header(TOPIC, queue_id, 0, 5)
        };
        let res = ask(
            &conn,
            RemotingCommand::request_with_header(request::PULL_MESSAGE, &pull),
        )
        .await;
        assert_eq!(res.code, response::SUCCESS);
        let commit = UpdateConsumerOffsetRequestHeader {
            consumer_group: GROUP.into(),
            topic: TOPIC.into(),
            queue_id,
            commit_offset: 5,
        };
        let res = ask(
            &conn,
            RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &commit),
        )
        .await;
        assert_eq!(res.code, response::SUCCESS);
    }

    let (status, body) = http(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let topic = [("topic", TOPIC)];
    let topic_group = [("topic", TOPIC), ("consumer_group", GROUP)];
    assert_eq!(value(&scrape, "rocketmq_messages_in_total", &topic), Some(30.0));
    let stored_bytes = value(&scrape, "rocketmq_throughput_in_total", &topic).unwrap();
    assert!(
        stored_bytes >= bytes_in as f64,
        "{stored_bytes} bytes for {bytes_in} of bodies"
    );
    assert_eq!(value(&scrape, "rocketmq_messages_out_total", &topic_group), Some(20.0));
    assert_eq!(
        value(&scrape, "rocketmq_consumer_lag_messages", &topic_group),
        Some(10.0)
    );
    assert_eq!(
        value(&scrape, "rocketmq_consumer_inflight_messages", &topic_group),
        Some(0.0)
    );
    assert_eq!(
        value(&scrape, "rocketmq_consumer_ready_messages", &topic_group),
        Some(10.0)
    );
    assert!(value(&scrape, "rocketmq_storage_size", &[]).unwrap() > 0.0);
    assert_eq!(
        value(
            &scrape,
            "rocketmq_rpc_latency_count",
            &[("request_code", "10"), ("response_code", "0")]
        ),
        Some(30.0),
        "30 sends answered SUCCESS"
    );
    assert!(scrape
        .samples
        .iter()
        .all(|s| s.labels.get("node_type") == Some("broker") && s.labels.get("cluster") == Some("DefaultCluster")));

    // Bad input: 4xx, and the endpoint keeps serving.
    let (status, _) = http(metrics, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 404);
    let (status, _) = http(
        metrics,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405);
    let huge = format!(
        "GET /metrics?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "q".repeat(200_000)
    );
    let (status, _) = http(metrics, &huge).await;
    assert!((400..500).contains(&status) || status == 0, "{status}");
    let (status, _) = http(metrics, "garbage\r\n\r\n").await;
    assert!((400..500).contains(&status) || status == 0, "{status}");
    let (status, _) = http(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 200);
}

/// The name server's endpoint: with two brokers registered (3 topics between them) and
/// route lookups for a known and an unknown topic, the scrape counts brokers, topics and
/// lookups, and the RPC histogram counts each request code.
#[tokio::test]
async fn a_namesrv_scrape_counts_brokers_topics_and_lookups() {
    use compat_tests::process::{register_broker, InProcessNamesrv};
    use remoting::header::namesrv::GetRouteInfoRequestHeader;

    let ns = InProcessNamesrv::start(&[("metricsExporterType", "PROM"), ("metricsPromExporterPort", "0")]).await;
    let metrics = ns.server.metrics_addr().expect("metrics endpoint");
    let conn = connect(&ns.addr).await;
    assert_eq!(
        register_broker(
            &conn,
            "c1",
            "broker-a",
            "127.0.0.1:10911",
            &[("T1", 4, 6), ("T2", 4, 6)]
        )
        .await,
        response::SUCCESS
    );
    assert_eq!(
        register_broker(
            &conn,
            "c1",
            "broker-b",
            "127.0.0.1:10921",
            &[("T1", 4, 6), ("T3", 2, 6)]
        )
        .await,
        response::SUCCESS
    );
    for topic in ["T1", "T1", "T3", "Missing"] {
        let header = GetRouteInfoRequestHeader {
            topic: topic.into(),
            accept_standard_json_only: None,
        };
        ask(
            &conn,
            RemotingCommand::request_with_header(request::GET_ROUTEINFO_BY_TOPIC, &header),
        )
        .await;
    }

    let (status, body) = http(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 200, "{body}");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("text format");
    assert_eq!(value(&scrape, "rocketmq_namesrv_brokers", &[]), Some(2.0));
    assert_eq!(value(&scrape, "rocketmq_namesrv_broker_names", &[]), Some(2.0));
    assert_eq!(value(&scrape, "rocketmq_namesrv_clusters", &[]), Some(1.0));
    assert_eq!(value(&scrape, "rocketmq_namesrv_topics", &[]), Some(3.0));
    assert_eq!(
        value(&scrape, "rocketmq_namesrv_route_lookups_total", &[("result", "found")]),
        Some(3.0)
    );
    assert_eq!(
        value(
            &scrape,
            "rocketmq_namesrv_route_lookups_total",
            &[("result", "not_found")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scrape,
            "rocketmq_rpc_latency_count",
            &[("request_code", "105"), ("response_code", "0")]
        ),
        Some(3.0),
        "GET_ROUTEINFO_BY_TOPIC answered SUCCESS"
    );
    assert_eq!(
        value(
            &scrape,
            "rocketmq_rpc_latency_count",
            &[("request_code", "103"), ("response_code", "0")]
        ),
        Some(2.0),
        "REGISTER_BROKER"
    );
    assert!(scrape
        .samples
        .iter()
        .all(|s| s.labels.get("node_type") == Some("namesrv")));
    let (status, _) = http(metrics, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 404);

    // Off unless configured.
    let quiet = InProcessNamesrv::start(&[]).await;
    assert!(quiet.server.metrics_addr().is_none());
}
