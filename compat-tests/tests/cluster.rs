//! The multi-process cluster from `scripts/cluster.sh` (two name servers, two brokers):
//! producers spread over both brokers, each queue belongs to one consumer of a group, and a
//! broker killed with SIGKILL stops neither producers nor consumers, leaves the routes, and
//! comes back with its messages.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use compat_tests::clients::{ClientRun, StockClient};
use compat_tests::process::{connect, free_port, target_dir};
use remoting::code::request;
use remoting::header::broker::CreateTopicRequestHeader;
use remoting::protocol::route::TopicRouteData;
use remoting::{fastjson, RemotingCommand};

const TOPIC: &str = "ClusterTopic";
const GROUP: &str = "cluster_cg";
const LIMIT: Duration = Duration::from_secs(240);

struct Cluster {
    dir: tempfile::TempDir,
    namesrv_ports: [u16; 2],
    broker_ports: [u16; 2],
    /// broker-a's slave (broker-a-s), when the cluster has one.
    slave_port: Option<u16>,
}

impl Cluster {
    async fn script(&self, action: &str) -> String {
        let out = tokio::process::Command::new("bash")
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh"))
            .arg(action)
            .env("CLUSTER_DIR", self.dir.path())
            .env(
                "NAMESRV_PORTS",
                format!("{} {}", self.namesrv_ports[0], self.namesrv_ports[1]),
            )
            .env("BROKER_A_PORT", self.broker_ports[0].to_string())
            .env("BROKER_B_PORT", self.broker_ports[1].to_string())
            .env(
                "BROKER_A_SLAVE_PORT",
                self.slave_port.map(|p| p.to_string()).unwrap_or_default(),
            )
            .env("BIN_DIR", target_dir())
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "cluster.sh {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn namesrv(&self) -> String {
        format!(
            "127.0.0.1:{};127.0.0.1:{}",
            self.namesrv_ports[0], self.namesrv_ports[1]
        )
    }

    fn broker(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.broker_ports[i])
    }

    fn pid(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name).join("pid"))
            .unwrap()
            .trim()
            .to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Whatever happened, leave no processes behind.
        for name in ["namesrv-1", "namesrv-2", "broker-a", "broker-b", "broker-a-s"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.path().join(name).join("pid")) {
                let _ = std::process::Command::new("kill").arg("-9").arg(pid.trim()).status();
            }
        }
    }
}

async fn route_brokers(namesrv_port: u16) -> BTreeSet<String> {
    let conn = connect(&format!("127.0.0.1:{namesrv_port}")).await;
    let mut ask = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
    ask.ext_mut().insert("topic", TOPIC);
    let answer = conn.request(ask, Duration::from_secs(5)).await.unwrap();
    if answer.code != 0 {
        return BTreeSet::new();
    }
    let route: TopicRouteData = fastjson::from_slice(&answer.body).unwrap();
    route.broker_datas.into_iter().map(|b| b.broker_name).collect()
}

async fn wait_for_routes(cluster: &Cluster, expected: &[&str]) {
    let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    for _ in 0..600 {
        let mut all = true;
        for port in cluster.namesrv_ports {
            all &= route_brokers(port).await == expected;
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("routes never listed exactly {expected:?}");
}

async fn total_max_offset(broker: &str) -> i64 {
    let conn = connect(broker).await;
    let mut total = 0;
    for queue in 0..4 {
        let mut ask = RemotingCommand::request(request::GET_MAX_OFFSET);
        ask.ext_mut().insert("topic", TOPIC);
        ask.ext_mut().insert("queueId", queue.to_string());
        let answer = conn.request(ask, Duration::from_secs(5)).await.unwrap();
        total += answer.ext().get("offset").unwrap().parse::<i64>().unwrap();
    }
    total
}

/// Which broker stores a received message: the one whose CommitLog holds a message with
/// the same key at the record's CommitLog offset.
async fn broker_of(cluster: &Cluster, record: &serde_json::Value) -> usize {
    let offset = record["commit_log_offset"].as_i64().unwrap();
    for i in 0..2 {
        let conn = connect(&cluster.broker(i)).await;
        let mut ask = RemotingCommand::request(request::VIEW_MESSAGE_BY_ID);
        ask.ext_mut().insert("offset", offset.to_string());
        let answer = conn.request(ask, Duration::from_secs(5)).await.unwrap();
        if answer.code == 0 {
            let stored = store::decode_message(&answer.body).unwrap();
            if stored.keys() == record["keys"].as_str() {
                return i;
            }
        }
    }
    panic!("no broker holds {record}");
}

fn keys(run: &ClientRun) -> Vec<String> {
    run.records()
        .iter()
        .filter_map(|r| r["keys"].as_str().map(String::from))
        .collect()
}

async fn send(ns: &str, count: usize, prefix: &str) -> ClientRun {
    StockClient::Cpp
        .run(
            &[
                "send",
                "--namesrv",
                ns,
                "--topic",
                TOPIC,
                "--group",
                "cluster_pg",
                "--count",
                &count.to_string(),
                "--key-prefix",
                prefix,
            ],
            LIMIT,
        )
        .await
}

async fn consume(ns: String, expect: usize, instance: &str) -> ClientRun {
    StockClient::Cpp
        .run(
            &[
                "push-consume",
                "--namesrv",
                &ns,
                "--topic",
                TOPIC,
                "--group",
                GROUP,
                "--expect",
                &expect.to_string(),
                "--timeout",
                "180",
                "--idle",
                "15",
                "--instance-name",
                instance,
            ],
            LIMIT,
        )
        .await
}

#[tokio::test]
async fn two_namesrvs_two_brokers_and_a_broker_killed() {
    let cluster = Cluster {
        dir: tempfile::tempdir().unwrap(),
        namesrv_ports: [free_port(), free_port()],
        broker_ports: [free_port(), free_port()],
        slave_port: None,
    };
    let status = cluster.script("start").await;
    assert_eq!(status.matches(" running pid ").count(), 4, "{status}");

    // The topic on both brokers; both name servers route to both.
    for i in 0..2 {
        let header = CreateTopicRequestHeader::read_write(TOPIC, 4);
        let req = RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header);
        assert_eq!(
            connect(&cluster.broker(i))
                .await
                .request(req, Duration::from_secs(5))
                .await
                .unwrap()
                .code,
            0
        );
    }
    wait_for_routes(&cluster, &["broker-a", "broker-b"]).await;

    // Two members of one group, settled before anything is sent. Each stops 15 s after its
    // last message (neither can know its share of the 1000 in advance).
    let ns = cluster.namesrv();
    let member_a = tokio::spawn(consume(ns.clone(), 1, "member-a"));
    let member_b = tokio::spawn(consume(ns.clone(), 1, "member-b"));
    tokio::time::sleep(Duration::from_secs(8)).await;
    let sent = send(&ns, 1000, "c-").await;
    assert!(sent.success, "{:?}", sent.errors());
    let (a, b) = (member_a.await.unwrap(), member_b.await.unwrap());

    // 1000 messages over both brokers.
    let (on_a, on_b) = (
        total_max_offset(&cluster.broker(0)).await,
        total_max_offset(&cluster.broker(1)).await,
    );
    assert_eq!(on_a + on_b, 1000);
    assert!(on_a > 0 && on_b > 0, "both brokers got messages: {on_a} / {on_b}");

    // Each message exactly once across the group, and each queue with one member only.
    let all: Vec<String> = keys(&a).into_iter().chain(keys(&b)).collect();
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        (all.len(), distinct.len()),
        (1000, 1000),
        "exactly once across the two members"
    );
    assert!(!keys(&a).is_empty() && !keys(&b).is_empty(), "both members consumed");
    let mut owners: BTreeMap<(usize, i64), BTreeSet<&str>> = BTreeMap::new();
    for (member, run) in [("a", &a), ("b", &b)] {
        for record in run.records().into_iter().filter(|r| r.get("keys").is_some()) {
            let broker = broker_of(&cluster, record).await;
            owners
                .entry((broker, record["queue_id"].as_i64().unwrap()))
                .or_default()
                .insert(member);
        }
    }
    assert_eq!(owners.len(), 8, "all 8 queues were consumed: {owners:?}");
    assert!(
        owners.values().all(|m| m.len() == 1),
        "a queue had two consumers: {owners:?}"
    );

    // kill -9 broker-b: producers and consumers go on with broker-a.
    let b_before = total_max_offset(&cluster.broker(1)).await;
    std::process::Command::new("kill")
        .arg("-9")
        .arg(cluster.pid("broker-b"))
        .status()
        .unwrap();
    let after = tokio::time::timeout(Duration::from_secs(30), send(&ns, 100, "k-"))
        .await
        .expect("sends within 30 s");
    assert!(after.success, "sends after the kill: {:?}", after.errors());
    let resumed = consume(ns.clone(), 100, "member-c").await;
    let resumed_keys: BTreeSet<String> = keys(&resumed).into_iter().collect();
    assert!(
        resumed_keys.iter().filter(|k| k.starts_with("k-")).count() == 100,
        "{:?}",
        resumed.errors()
    );
    wait_for_routes(&cluster, &["broker-a"]).await;

    // Restarted, broker-b is back in the routes with its messages.
    let status = cluster.script("start").await;
    assert_eq!(status.matches(" running pid ").count(), 4, "{status}");
    wait_for_routes(&cluster, &["broker-a", "broker-b"]).await;
    assert_eq!(total_max_offset(&cluster.broker(1)).await, b_before);
    cluster.script("stop").await;
}

#[tokio::test]
async fn cluster_sh_runs_broker_a_with_a_replicating_slave() {
    let cluster = Cluster {
        dir: tempfile::tempdir().unwrap(),
        namesrv_ports: [free_port(), free_port()],
        broker_ports: [free_port(), free_port()],
        slave_port: Some(free_port()),
    };
    let status = cluster.script("start").await;
    assert!(status.contains("broker-a-s running"), "{status}");
    // Both name servers list broker-a with its master (id 0) and slave (id 1).
    for port in cluster.namesrv_ports {
        let conn = connect(&format!("127.0.0.1:{port}")).await;
        let mut listed = false;
        // Generous: on a loaded 2-core machine the slave's first registration can be slow.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let res = conn
                .request(
                    RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
            let info: remoting::protocol::route::ClusterInfo = fastjson::from_slice(&res.body).unwrap();
            if let Some(a) = info.broker_addr_table.get("broker-a") {
                if a.broker_addrs.keys().copied().collect::<Vec<_>>() == [0, 1] {
                    listed = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(listed, "name server {port} lists broker-a's master and slave");
    }
    // What broker-a stores reaches its slave.
    let master = connect(&cluster.broker(0)).await;
    let create = RemotingCommand::request_with_header(
        request::UPDATE_AND_CREATE_TOPIC,
        &CreateTopicRequestHeader::read_write(TOPIC, 4),
    );
    assert_eq!(master.request(create, Duration::from_secs(5)).await.unwrap().code, 0);
    let mut send = RemotingCommand::request(request::SEND_MESSAGE).with_body(b"to the slave".to_vec());
    for (k, v) in [
        ("producerGroup", "cluster_pg"),
        ("topic", TOPIC),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "4"),
        ("queueId", "0"),
        ("sysFlag", "0"),
        ("bornTimestamp", "0"),
        ("flag", "0"),
    ] {
        send.ext_mut().insert(k, v);
    }
    assert_eq!(master.request(send, Duration::from_secs(5)).await.unwrap().code, 0);
    let slave = format!("127.0.0.1:{}", cluster.slave_port.unwrap());
    let mut replicated = false;
    for _ in 0..600 {
        if total_max_offset(&slave).await == 1 {
            replicated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(replicated, "the slave has broker-a's message");
    cluster.script("stop").await;
}
