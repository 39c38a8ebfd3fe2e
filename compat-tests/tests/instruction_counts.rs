//! Instructions per operation, counted by callgrind in the release servers: a cost measure
//! that does not move with the machine's load (unlike time). Each server runs under
//! `valgrind --tool=callgrind`; the counters are zeroed just before a phase of identical
//! requests and dumped right after it, so start-up and the other phases are not counted.
//! The per-operation figures are printed (docs/benchmarks.md records them) and each must
//! stay under a bound about twice what it was when the bound was set: a change that doubles
//! a hot path fails here, noise does not.
//!
//! `INSTRUCTION_COUNTS_DIR=/some/dir` keeps the dumps (`namesrv.callgrind.1` is the first
//! phase, and so on) for `callgrind_annotate`.
//!
//! Needs valgrind (scripts/test.sh installs it) and builds the release binaries
//! (`cargo build --release --bins`, the same build scripts/standalone.sh does).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use compat_tests::broker_ops::{ask, pull_header, pull_request, send_request};
use compat_tests::process::{connect, spawn_and_wait_for_address, target_dir};
use remoting::code::{request, response};
use remoting::protocol::register::{body_crc32, RegisterBrokerBody};
use remoting::protocol::topic::{DataVersion, TopicConfig};
use remoting::{Connection, RemotingCommand};
use tokio::process::{Child, Command};

/// Bounds, in instructions per operation: about twice the figures measured when they were
/// set (release build, x86_64; see docs/benchmarks.md, "Instructions per operation").
const MAX_PER_ROUTE_LOOKUP: u64 = 50_000;
const MAX_PER_REGISTRATION_CHANGED: u64 = 3_600_000;
const MAX_PER_REGISTRATION_UNCHANGED: u64 = 800_000;
const MAX_PER_SYNC_SEND: u64 = 100_000;
const MAX_PER_PULLED_MESSAGE: u64 = 10_000;
const MAX_PER_LONG_POLLED_SEND: u64 = 200_000;

/// Topics in each registration body (about 160 KiB of JSON).
const TOPICS_PER_BROKER: usize = 1000;

fn release_binary(name: &str) -> PathBuf {
    target_dir().parent().unwrap().join("release").join(name)
}

/// The release binaries, built once per test run (a no-op when they are current).
fn build_release() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--bins"])
        .current_dir(workspace)
        .status()
        .expect("running cargo");
    assert!(status.success(), "cargo build --release --bins failed");
}

fn valgrind_present() -> bool {
    std::process::Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A server process running under callgrind.
struct Counted {
    child: Child,
    pid: u32,
    out: PathBuf,
    dumps: usize,
    addr: String,
}

impl Counted {
    async fn start(binary: &str, args: &[String], dir: &Path) -> Counted {
        let out = dir.join(format!("{binary}.callgrind"));
        let mut cmd = Command::new("valgrind");
        cmd.arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(release_binary(binary))
            .args(args)
            .env("RUST_LOG", "warn");
        let (child, addr) = spawn_and_wait_for_address(cmd, "boot success", Duration::from_secs(120)).await;
        let port = addr.rsplit(':').next().unwrap().to_string();
        let pid = child.id().unwrap();
        Counted {
            child,
            pid,
            out,
            dumps: 0,
            addr: format!("127.0.0.1:{port}"),
        }
    }

    fn control(&self, flag: &str) {
        let status = std::process::Command::new("callgrind_control")
            .arg(flag)
            .arg(self.pid.to_string())
            .stdout(Stdio::null())
            .status()
            .expect("callgrind_control");
        assert!(status.success(), "callgrind_control {flag} failed");
    }

    /// Zeroes the counters, runs `phase`, dumps: the instructions the server executed in
    /// between, divided by `ops`.
    async fn per_op<F: std::future::Future<Output = ()>>(&mut self, ops: u64, phase: F) -> u64 {
        self.control("-z");
        phase.await;
        self.control("-d");
        self.dumps += 1;
        let file = PathBuf::from(format!("{}.{}", self.out.display(), self.dumps));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if let Some(total) = text
                .lines()
                .find_map(|l| l.strip_prefix("totals:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            {
                return total / ops;
            }
            assert!(Instant::now() < deadline, "no callgrind dump in {}", file.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn registration(broker: usize, version: &DataVersion) -> RemotingCommand {
    let mut body = RegisterBrokerBody::default();
    body.topic_config_serialize_wrapper.data_version = version.clone();
    for t in 0..TOPICS_PER_BROKER {
        let name = format!("Topic{t:05}");
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert(name.clone(), TopicConfig::new(&name, 8, 8, 6));
    }
    let bytes = body.encode(false);
    let header = remoting::header::namesrv::RegisterBrokerRequestHeader {
        broker_name: format!("broker-{broker}"),
        broker_addr: format!("127.0.0.{}:10911", broker + 1),
        cluster_name: "CountCluster".into(),
        ha_server_addr: String::new(),
        broker_id: 0,
        compressed: Some(false),
        body_crc32: Some(body_crc32(&bytes)),
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
    };
    RemotingCommand::request_with_header(request::REGISTER_BROKER, &header).with_body(bytes)
}

async fn register_round(conn: &Connection, brokers: usize, versions: &[DataVersion]) {
    for (b, version) in versions.iter().enumerate().take(brokers) {
        let answer = conn
            .request(registration(b, version), Duration::from_secs(120))
            .await
            .unwrap();
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    }
}

fn route_request(topic: &str) -> RemotingCommand {
    let mut q = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
    q.ext_mut().insert("topic", topic);
    q
}

fn check(what: &str, measured: u64, bound: u64) {
    println!("instructions per {what}: {measured} (bound {bound})");
    assert!(
        measured <= bound,
        "{what}: {measured} instructions per operation, over the bound of {bound} (twice the figure when it \
         was set): a hot path got much more expensive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instructions_per_operation_stay_within_twice_the_recorded_figures() {
    if !valgrind_present() {
        assert!(
            std::env::var_os("CI").is_none(),
            "valgrind is missing (scripts/test.sh installs it)"
        );
        println!("SKIPPED: valgrind is not installed");
        return;
    }
    build_release();
    let tmp = tempfile::tempdir().unwrap();
    // INSTRUCTION_COUNTS_DIR keeps the callgrind dumps there, for callgrind_annotate.
    let kept = std::env::var_os("INSTRUCTION_COUNTS_DIR").map(PathBuf::from);
    let dir = kept.as_deref().unwrap_or(tmp.path());
    std::fs::create_dir_all(dir).unwrap();

    // Name server: registration rounds of 4 brokers x 1,000 topics, then route lookups.
    let namesrv_args: Vec<String> = [
        "listenPort=0".to_string(),
        "bindAddress=127.0.0.1".to_string(),
        format!("kvConfigPath={}", dir.join("kv.json").display()),
        format!("configStorePath={}", dir.join("namesrv.properties").display()),
    ]
    .into_iter()
    .flat_map(|kv| ["-D".to_string(), kv])
    .collect();
    let mut namesrv = Counted::start("namesrv", &namesrv_args, dir).await;
    let conn = connect(&namesrv.addr).await;
    const BROKERS: usize = 4;
    let first: Vec<DataVersion> = (0..BROKERS).map(|_| DataVersion::now()).collect();
    register_round(&conn, BROKERS, &first).await; // warm-up: tables built
    let mut changed: Vec<DataVersion> = first.clone();
    for v in &mut changed {
        v.counter += 1;
    }
    let per_changed = namesrv
        .per_op(BROKERS as u64, register_round(&conn, BROKERS, &changed))
        .await;
    let per_unchanged = namesrv
        .per_op(BROKERS as u64, register_round(&conn, BROKERS, &changed))
        .await;
    const LOOKUPS: u64 = 2000;
    let per_lookup = namesrv
        .per_op(LOOKUPS, async {
            for i in 0..LOOKUPS {
                let answer = ask(
                    &conn,
                    route_request(&format!("Topic{:05}", i as usize % TOPICS_PER_BROKER)),
                )
                .await;
                assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
            }
        })
        .await;

    // Broker: sequential sync sends of 1 KiB, then pulls of 32 messages.
    let store = dir.join("store");
    let broker_args: Vec<String> = [
        "brokerName=broker-count".to_string(),
        "brokerIP1=127.0.0.1".to_string(),
        "listenPort=0".to_string(),
        format!("storePathRootDir={}", store.display()),
        "mappedFileSizeCommitLog=67108864".to_string(),
        "autoCreateTopicEnable=true".to_string(),
    ]
    .into_iter()
    .flat_map(|kv| ["-D".to_string(), kv])
    .collect();
    let mut broker = Counted::start("broker", &broker_args, dir).await;
    let conn = connect(&broker.addr).await;
    const TOPIC: &str = "CountTopic";
    compat_tests::broker_ops::create_topic(&conn, TOPIC, 1).await;
    let body = vec![b'c'; 1024];
    for i in 0..200 {
        let answer = ask(&conn, send_request(TOPIC, 0, body.clone(), &format!("w{i}"))).await;
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    }
    const SENDS: u64 = 2000;
    let per_send = broker
        .per_op(SENDS, async {
            for i in 0..SENDS {
                let answer = ask(&conn, send_request(TOPIC, 0, body.clone(), &format!("k{i}"))).await;
                assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
            }
        })
        .await;
    // Let the dispatcher index everything before the pulls are counted.
    let max = compat_tests::broker_ops::max_offset(&conn, TOPIC, 0).await;
    assert_eq!(max, 200 + SENDS as i64);
    let per_pulled = broker
        .per_op(SENDS, async {
            let mut offset = 200;
            while offset < max {
                let answer = ask(&conn, pull_request(TOPIC, 0, offset, 32)).await;
                assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
                offset += store::decode_messages(&answer.body).len() as i64;
            }
        })
        .await;
    // A consumer keeping up with a slow producer: a pull held by the broker (long polling),
    // then one send that wakes it; the pull answers with that one message. Counted per
    // message: the send, the pull's first look, its suspension and wake-up, and the answer.
    let consumer = connect(&broker.addr).await;
    const POLLED: u64 = 300;
    let per_polled = broker
        .per_op(POLLED, async {
            for i in 0..POLLED {
                let offset = max + i as i64;
                let consumer = consumer.clone();
                let pull = tokio::spawn(async move {
                    consumer
                        .request(long_poll_request(TOPIC, offset), Duration::from_secs(30))
                        .await
                });
                // Under callgrind the pull takes a few milliseconds to reach the hold.
                tokio::time::sleep(Duration::from_millis(40)).await;
                let answer = ask(&conn, send_request(TOPIC, 0, body.clone(), &format!("p{i}"))).await;
                assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
                let answer = pull.await.unwrap().expect("the held pull is answered");
                assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
                let got = store::decode_messages(&answer.body);
                assert_eq!(got.len(), 1);
                assert_eq!(got[0].queue_offset, offset);
            }
        })
        .await;

    check(
        "route lookup (GET_ROUTEINFO_BY_TOPIC)",
        per_lookup,
        MAX_PER_ROUTE_LOOKUP,
    );
    check(
        "registration of 1,000 topics, data version changed",
        per_changed,
        MAX_PER_REGISTRATION_CHANGED,
    );
    check(
        "registration of 1,000 topics, data version unchanged",
        per_unchanged,
        MAX_PER_REGISTRATION_UNCHANGED,
    );
    check("sync send of 1 KiB", per_send, MAX_PER_SYNC_SEND);
    check("pulled message (batches of 32)", per_pulled, MAX_PER_PULLED_MESSAGE);
    check(
        "sync send of 1 KiB delivered to a held long poll",
        per_polled,
        MAX_PER_LONG_POLLED_SEND,
    );
}

/// A pull that the broker may hold until a message arrives (suspend flag, 15 s).
fn long_poll_request(topic: &str, offset: i64) -> RemotingCommand {
    use remoting::header::broker::{pull_sys_flag, PullMessageRequestHeader};
    RemotingCommand::request_with_header(
        request::PULL_MESSAGE,
        &PullMessageRequestHeader {
            sys_flag: pull_sys_flag::SUSPEND | pull_sys_flag::SUBSCRIPTION,
            suspend_timeout_millis: 15_000,
            ..pull_header(topic, 0, offset, 32)
        },
    )
}
