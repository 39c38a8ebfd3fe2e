//! A master/slave pair of our `broker` processes (SYNC_MASTER and SLAVE) with a name
//! server: the slave learns its master from REGISTER_BROKER, every acknowledged message is
//! on the slave with the same bytes at the same offsets and the same consume queues, the
//! slave takes the master's topics and offsets, refuses sends, is routed under broker id 1,
//! serves reads when the master is killed with SIGKILL, and the pair resumes when the
//! master comes back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use compat_tests::broker_ops::{self, ask};
use compat_tests::clients::StockClient;
use compat_tests::process::{binary, connect, spawn_and_wait_for_address, NamesrvProcess};
use remoting::code::{request, response};
use remoting::header::broker::{
    CreateTopicRequestHeader, QueryConsumerOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use remoting::header::namesrv::GetRouteInfoRequestHeader;
use remoting::protocol::route::TopicRouteData;
use remoting::{fastjson, RemotingCommand};
use tokio::process::{Child, Command};

const TOPIC: &str = "HaTopic";
const GROUP: &str = "cg_ha";
const QUEUES: i32 = 4;

/// A port p with p - 2 (VIP) and p + 1 (HA) free too.
fn free_port_triple() -> u16 {
    for _ in 0..200 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if !(1000..=65000).contains(&p) {
            continue;
        }
        let ok = [p - 2, p + 1]
            .iter()
            .all(|q| std::net::TcpListener::bind(("0.0.0.0", *q)).is_ok());
        if ok {
            return p;
        }
    }
    panic!("no free port triple");
}

struct BrokerProc {
    child: Child,
    port: u16,
    store: PathBuf,
    args: Vec<String>,
}

impl BrokerProc {
    async fn start(namesrv: &str, store: &Path, port: u16, extra: &[&str]) -> BrokerProc {
        let mut args = vec![
            "-n".to_string(),
            namesrv.to_string(),
            "-D".into(),
            format!("listenPort={port}"),
            "-D".into(),
            format!("storePathRootDir={}", store.display()),
        ];
        for kv in [
            "brokerName=broker-ha",
            "brokerIP1=127.0.0.1",
            "brokerIP2=127.0.0.1",
            "mappedFileSizeCommitLog=262144",
            "mappedFileSizeConsumeQueue=6000",
            "flushDiskType=ASYNC_FLUSH",
            "syncFlushTimeout=3000",
            "haSendHeartbeatInterval=1000",
            // The machine's own disk use must not delete young CommitLog files mid-test
            // (Java does past 85% used; CI machines share their disks).
            "cleanFileForciblyEnable=false",
        ]
        .iter()
        .chain(extra)
        {
            args.push("-D".into());
            args.push(kv.to_string());
        }
        let child = Self::spawn(&args).await;
        BrokerProc {
            child,
            port,
            store: store.to_path_buf(),
            args,
        }
    }

    async fn spawn(args: &[String]) -> Child {
        let mut cmd = Command::new(binary("broker"));
        cmd.args(args);
        spawn_and_wait_for_address(cmd, "boot success", Duration::from_secs(30))
            .await
            .0
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        let _ = self.child.wait().await;
    }

    async fn restart(&mut self) {
        self.child = Self::spawn(&self.args).await;
    }
}

/// Sync send `i` (WAIT is the default): body `ha-<i>;` plus up to 500 bytes, key `k<i>`.
fn send_request(i: usize) -> RemotingCommand {
    let body = format!("ha-{i};{}", "r".repeat(i % 500));
    broker_ops::send_request(TOPIC, (i % QUEUES as usize) as i32, body.into_bytes(), &format!("k{i}"))
}

/// Every body's `ha-<i>` in the topic, read from `addr` up to each queue's max offset.
async fn read_all(addr: &str) -> Vec<String> {
    let conn = connect(addr).await;
    let mut bodies = Vec::new();
    for q in 0..QUEUES {
        let max = broker_ops::max_offset(&conn, TOPIC, q).await;
        for (_, body) in broker_ops::pull_all(&conn, TOPIC, q, max).await {
            bodies.push(String::from_utf8_lossy(&body).split(';').next().unwrap().to_string());
        }
    }
    bodies
}

/// Every file under `dir`, relative path -> bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Waits until the slave's CommitLog and consume queues equal the master's, file by file.
async fn wait_identical(master: &BrokerProc, slave: &BrokerProc, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cl = files(&master.store.join("commitlog")) == files(&slave.store.join("commitlog"));
        let cq = files(&master.store.join("consumequeue").join(TOPIC))
            == files(&slave.store.join("consumequeue").join(TOPIC));
        if cl && cq {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: slave store differs (commitlog same: {cl}, consume queues same: {cq})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn route(namesrv: &str) -> TopicRouteData {
    let conn = connect(namesrv).await;
    let res = ask(
        &conn,
        RemotingCommand::request_with_header(
            request::GET_ROUTEINFO_BY_TOPIC,
            &GetRouteInfoRequestHeader {
                topic: TOPIC.into(),
                accept_standard_json_only: None,
            },
        ),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS, "{:?}", res.remark);
    fastjson::from_slice(&res.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_and_slave_replicate_fail_over_and_resume() {
    let namesrv = NamesrvProcess::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let (mp, sp) = (free_port_triple(), free_port_triple());
    let mut master = BrokerProc::start(
        &namesrv.addr,
        &dir.path().join("master"),
        mp,
        &["brokerRole=SYNC_MASTER"],
    )
    .await;
    let conn = connect(&master.addr()).await;
    let created = ask(
        &conn,
        RemotingCommand::request_with_header(
            request::UPDATE_AND_CREATE_TOPIC,
            &CreateTopicRequestHeader::read_write(TOPIC, QUEUES),
        ),
    )
    .await;
    assert_eq!(created.code, response::SUCCESS);

    // No slave yet: stored, answered SLAVE_NOT_AVAILABLE with the whole send header (golden 15).
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut n = 0;
    for _ in 0..3 {
        let res = ask(&conn, send_request(n)).await;
        assert_eq!(res.code, response::SLAVE_NOT_AVAILABLE);
        assert!(res.ext().get("msgId").is_some() && res.ext().get("queueOffset").is_some());
        n += 1;
    }

    let slave = BrokerProc::start(
        &namesrv.addr,
        &dir.path().join("slave"),
        sp,
        &["brokerRole=SLAVE", "brokerId=1"],
    )
    .await;
    // Once the slave has connected, sync sends are acknowledged after it has the bytes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = ask(&conn, send_request(n)).await;
        n += 1;
        if res.code == response::SUCCESS {
            acked.insert(format!("ha-{}", n - 1));
            break;
        }
        assert_eq!(res.code, response::SLAVE_NOT_AVAILABLE);
        assert!(Instant::now() < deadline, "the slave never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..2000 {
        let res = ask(&conn, send_request(n)).await;
        assert_eq!(res.code, response::SUCCESS, "send {n}: {:?}", res.remark);
        acked.insert(format!("ha-{n}"));
        n += 1;
    }
    wait_identical(&master, &slave, "after 2000 sync sends").await;

    // The route lists both under their ids; the slave refuses sends as Java's does.
    let r = route(&namesrv.addr).await;
    let bd = r.broker_datas.iter().find(|b| b.broker_name == "broker-ha").unwrap();
    assert_eq!(
        bd.broker_addrs.get(&0).map(String::as_str),
        Some(master.addr().as_str())
    );
    assert_eq!(bd.broker_addrs.get(&1).map(String::as_str), Some(slave.addr().as_str()));
    let slave_conn = connect(&slave.addr()).await;
    let refused = ask(&slave_conn, send_request(999_999)).await;
    assert_eq!(refused.code, response::SERVICE_NOT_AVAILABLE);
    assert!(refused
        .remark
        .unwrap_or_default()
        .contains("messages are put to the slave"));
    // Topics and groups are changed on the master only (Java's validateSlave).
    let on_slave = ask(
        &slave_conn,
        RemotingCommand::request_with_header(
            request::UPDATE_AND_CREATE_TOPIC,
            &CreateTopicRequestHeader::read_write("SlaveTopic", QUEUES),
        ),
    )
    .await;
    assert_eq!(on_slave.code, response::SYSTEM_ERROR);
    assert_eq!(
        on_slave.remark.as_deref(),
        Some("Can't modify topic or subscription group from slave broker, please execute it from master broker.")
    );

    // Metadata sync: the slave takes the master's topics and consumer offsets.
    let commit = UpdateConsumerOffsetRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: 1,
        commit_offset: 7,
    };
    let res = ask(
        &conn,
        RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &commit),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let q = QueryConsumerOffsetRequestHeader {
            consumer_group: GROUP.into(),
            topic: TOPIC.into(),
            queue_id: 1,
        };
        let res = ask(
            &slave_conn,
            RemotingCommand::request_with_header(request::QUERY_CONSUMER_OFFSET, &q),
        )
        .await;
        let topics = std::fs::read_to_string(slave.store.join("config").join("topics.json")).unwrap_or_default();
        if res.code == response::SUCCESS && res.ext().get("offset") == Some("7") && topics.contains(TOPIC) {
            break;
        }
        assert!(Instant::now() < deadline, "slave did not take the master's metadata");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // SIGKILL the master under load: everything acknowledged is readable on the slave.
    let writer = {
        let addr = master.addr();
        tokio::spawn(async move {
            let conn = connect(&addr).await;
            let mut acked = Vec::new();
            for i in 100_000.. {
                match conn.request(send_request(i), Duration::from_secs(5)).await {
                    Ok(res) if res.code == response::SUCCESS => acked.push(format!("ha-{i}")),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    master.kill().await;
    let under_load = writer.await.unwrap();
    assert!(under_load.len() > 10, "only {} sends under load", under_load.len());
    acked.extend(under_load);
    let on_slave: BTreeSet<String> = read_all(&slave.addr()).await.into_iter().collect();
    let missing: Vec<&String> = acked.iter().filter(|k| !on_slave.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages not on the slave: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );

    // A stock consumer, started with the master gone, reads the whole topic from the slave.
    let total = read_all(&slave.addr()).await.len();
    let expect = total.to_string();
    let run = StockClient::Rust
        .run(
            &[
                "push-consume",
                "--namesrv",
                &namesrv.addr,
                "--topic",
                TOPIC,
                "--group",
                "cg_ha_stock",
                "--from",
                "first",
                "--expect",
                &expect,
                "--timeout",
                "120",
                "--idle",
                "20",
            ],
            Duration::from_secs(180),
        )
        .await;
    let consumed: BTreeSet<String> = run
        .records()
        .iter()
        .filter_map(|r| r["body"].as_str())
        .map(|b| b.split(';').next().unwrap().to_string())
        .collect();
    let not_consumed = acked.iter().filter(|k| !consumed.contains(*k)).count();
    assert_eq!(
        not_consumed,
        0,
        "acknowledged messages the stock consumer did not get from the slave (of {total}); errors: {:?}",
        run.errors()
    );

    // The master comes back on its store; the pair resumes without a gap.
    master.restart().await;
    let conn = connect(&master.addr()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut resumed = 0;
    while resumed < 200 {
        let res = ask(&conn, send_request(n)).await;
        n += 1;
        if res.code == response::SUCCESS {
            acked.insert(format!("ha-{}", n - 1));
            resumed += 1;
        } else {
            assert_eq!(res.code, response::SLAVE_NOT_AVAILABLE, "{:?}", res.remark);
            assert!(Instant::now() < deadline, "the slave did not reconnect");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    wait_identical(&master, &slave, "after the master's restart").await;
    let on_slave: BTreeSet<String> = read_all(&slave.addr()).await.into_iter().collect();
    let missing: Vec<&String> = acked.iter().filter(|k| !on_slave.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "after the restart {} acknowledged messages are not on the slave ({} read): {:?}",
        missing.len(),
        on_slave.len(),
        &missing[..missing.len().min(10)]
    );
}
