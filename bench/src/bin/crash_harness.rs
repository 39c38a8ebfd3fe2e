//! `crash-harness`: proves that no acknowledged message is lost when the broker is killed
//! with SIGKILL, over real TCP.
//!
//! One run is one mode (`sync`, `async`, `staged`, `batch`, `transaction`). It starts a `namesrv` and a
//! `broker` process (binaries next to this one unless `--bin-dir`), creates a topic with
//! `--queues` queues, and runs `--producers` tasks that send synchronously, each message
//! carrying a unique sequence number in its body and its KEYS property (one in
//! `--delay-every` also gets `DELAY=1`). Every SUCCESS response is recorded with the
//! offsetMsgId, queue id and queue offset it names. At uniform random moments between
//! `--min-kill-ms` and `--max-kill-ms` after the broker is ready, the broker is killed with
//! SIGKILL and restarted on the same store and port; the producers reconnect.
//!
//! In `transaction` mode some producers send prepared (half) messages instead, then commit
//! most and roll back some with END_TRANSACTION; they are registered as producers of their
//! group and answer the broker's CHECK_TRANSACTION_STATE with the same decision, so a
//! decision lost in a kill is made again. Every acknowledged half message the harness
//! decided to commit must reach its real topic; no rolled-back one may.
//!
//! At the end every queue is read from offset 0 with PULL_MESSAGE and checked against the
//! acknowledgements; a sample is also looked up in the CommitLog by offsetMsgId with
//! VIEW_MESSAGE_BY_ID. The last stdout line is a JSON summary; the exit code is 0 only if
//! every check passed (no acknowledged message missing, no queue offset given to two
//! messages, ...).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use remoting::code::{request, response};
use remoting::connection::IgnoreRequests;
use remoting::header::broker::{
    CheckTransactionStateRequestHeader, CreateTopicRequestHeader, EndTransactionRequestHeader,
    PullMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2, ViewMessageRequestHeader,
};
use remoting::{BoxFuture, Connection, RemotingCommand, RequestHandler};
use serde_json::{json, Value};
use store::codec::{self, property, sys_flag, DecodedMessage};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Where the broker keeps half (prepared, undecided) messages, queue 0.
const HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// Where the broker moves a half message checked `transactionCheckMax` times.
const CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// The property naming a transactional message's producer group (whom the broker checks).
const PRODUCER_GROUP_PROPERTY: &str = "PGROUP";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const GROUP: &str = "crash_harness_cg";
const PRODUCER_GROUP: &str = "crash_harness_pg";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// SYNC_FLUSH, single sends
    Sync,
    /// ASYNC_FLUSH, single sends
    Async,
    /// ASYNC_FLUSH with transientStorePoolEnable=true (staged writes)
    Staged,
    /// SYNC_FLUSH, SEND_BATCH_MESSAGE batches (delayed messages still go singly)
    Batch,
    /// SYNC_FLUSH; some producers send transactional messages (half message, then
    /// END_TRANSACTION; they answer the broker's check-backs)
    Transaction,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
            Mode::Staged => "staged",
            Mode::Batch => "batch",
            Mode::Transaction => "transaction",
        }
    }
    fn flush_disk_type(self) -> &'static str {
        match self {
            Mode::Sync | Mode::Batch | Mode::Transaction => "SYNC_FLUSH",
            Mode::Async | Mode::Staged => "ASYNC_FLUSH",
        }
    }
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "crash-harness",
    about = "Kill the broker with SIGKILL over and over while producers send; check no acknowledged message is lost"
)]
struct Opts {
    /// Store settings and send path to test
    #[arg(long, value_enum, default_value = "sync")]
    mode: Mode,
    /// How many times the broker is killed
    #[arg(long, default_value_t = 20)]
    kills: u32,
    /// Concurrent producer tasks, each with its own connection and one request in flight
    #[arg(long, default_value_t = 8)]
    producers: usize,
    /// Queues of the test topic
    #[arg(long, default_value_t = 4)]
    queues: i32,
    /// Messages per SEND_BATCH_MESSAGE request in batch mode
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// In transaction mode, how many of the producers send transactional messages
    /// (default: half of them, at least one)
    #[arg(long)]
    tx_producers: Option<usize>,
    /// transactionCheckInterval and transactionTimeOut of the broker in transaction mode (ms)
    #[arg(long, default_value_t = 1000)]
    tx_check_ms: u64,
    /// In transaction mode, how long the final read waits for committed messages that are
    /// still missing (check-backs resolving decisions lost in a kill), in seconds
    #[arg(long, default_value_t = 60)]
    tx_wait_s: u64,
    /// One send in this many is a delayed message (DELAY=1); 0: none
    #[arg(long, default_value_t = 25)]
    delay_every: u64,
    /// Shortest time between the broker being ready and the kill (ms)
    #[arg(long, default_value_t = 300)]
    min_kill_ms: u64,
    /// Longest time between the broker being ready and the kill (ms)
    #[arg(long, default_value_t = 3000)]
    max_kill_ms: u64,
    /// Producers keep sending this long after the last restart (ms)
    #[arg(long, default_value_t = 1000)]
    tail_ms: u64,
    /// Message bodies are between 32 bytes and this size
    #[arg(long, default_value_t = 1024)]
    max_body: usize,
    /// CommitLog file size (small, so files roll over during the run)
    #[arg(long, default_value_t = 1024 * 1024)]
    commit_log_file_size: u64,
    /// ConsumeQueue file size in bytes (a multiple of 20)
    #[arg(long, default_value_t = 20 * 1000)]
    consume_queue_file_size: u64,
    /// Acknowledged messages looked up by offsetMsgId with VIEW_MESSAGE_BY_ID
    #[arg(long, default_value_t = 500)]
    view_sample: usize,
    /// Directory with the namesrv and broker binaries (default: this binary's directory)
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Working directory for the store and logs (default: a new one under the temp dir)
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the working directory even when every check passed
    #[arg(long)]
    keep: bool,
    /// Random seed (default: from the clock); printed in the summary
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, default_value = "CrashHarnessTopic")]
    topic: String,
}

/// xorshift64*: enough randomness for kill times, body sizes and samples, no dependency.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[crash-harness] {}", msg.as_ref());
}

// ---------------------------------------------------------------------------------------
// Processes

fn default_bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Spawns `cmd` with stdout piped and stderr appended to `log_path`; waits for a stdout line
/// containing `ready`, then keeps draining stdout.
async fn spawn_ready(
    mut cmd: Command,
    ready: &str,
    log_path: &Path,
    limit: Duration,
) -> anyhow::Result<(Child, String)> {
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log_path)?;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let wait = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(ready) {
                return Some(line);
            }
        }
        None
    };
    let line = match tokio::time::timeout(limit, wait).await {
        Ok(Some(line)) => line,
        Ok(None) => {
            let status = child.wait().await.ok();
            bail!(
                "process exited before it was ready ({status:?}); see {}",
                log_path.display()
            )
        }
        Err(_) => {
            let _ = child.start_kill();
            bail!("not ready within {limit:?}; see {}", log_path.display())
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, line))
}

struct Servers {
    bin_dir: PathBuf,
    work: PathBuf,
    mode: Mode,
    opts: Opts,
    _namesrv: Child,
    namesrv_addr: String,
    broker: Option<Child>,
    broker_port: u16,
    starts: u32,
}

impl Servers {
    async fn start(opts: &Opts, work: &Path) -> anyhow::Result<Servers> {
        let bin_dir = opts.bin_dir.clone().unwrap_or_else(default_bin_dir);
        for name in ["namesrv", "broker"] {
            if !bin_dir.join(name).exists() {
                bail!(
                    "{} is missing: build with cargo build --release -p rocketmq-broker -p rocketmq-namesrv",
                    bin_dir.join(name).display()
                );
            }
        }
        let ns_dir = work.join("namesrv");
        std::fs::create_dir_all(&ns_dir)?;
        let mut cmd = Command::new(bin_dir.join("namesrv"));
        for kv in [
            "listenPort=0".to_string(),
            "bindAddress=127.0.0.1".to_string(),
            format!("kvConfigPath={}", ns_dir.join("kvConfig.json").display()),
            format!("configStorePath={}", ns_dir.join("namesrv.properties").display()),
        ] {
            cmd.arg("-D").arg(kv);
        }
        let (namesrv, line) = spawn_ready(
            cmd,
            "The Name Server boot success",
            &work.join("namesrv.log"),
            Duration::from_secs(30),
        )
        .await?;
        let namesrv_addr = line
            .split("listening on ")
            .nth(1)
            .map(|s| s.trim().to_string())
            .context("the name server did not say where it listens")?;
        let mut servers = Servers {
            bin_dir,
            work: work.to_path_buf(),
            mode: opts.mode,
            opts: opts.clone(),
            _namesrv: namesrv,
            namesrv_addr,
            broker: None,
            broker_port: free_port()?,
            starts: 0,
        };
        servers.start_broker().await?;
        Ok(servers)
    }

    fn broker_addr(&self) -> String {
        format!("127.0.0.1:{}", self.broker_port)
    }

    fn broker_log(&self) -> PathBuf {
        self.work.join("broker.log")
    }

    /// Starts the broker on the store and port of every previous start; returns how long it
    /// took to be ready.
    async fn start_broker(&mut self) -> anyhow::Result<Duration> {
        self.starts += 1;
        {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.broker_log())?;
            writeln!(f, "===== crash-harness: broker start #{} =====", self.starts)?;
        }
        let store = self.work.join("store");
        let o = &self.opts;
        let mut cmd = Command::new(self.bin_dir.join("broker"));
        cmd.arg("-n").arg(&self.namesrv_addr);
        let defines = [
            "brokerClusterName=CrashCluster".to_string(),
            "brokerName=broker-crash".to_string(),
            "brokerIP1=127.0.0.1".to_string(),
            format!("listenPort={}", self.broker_port),
            format!("storePathRootDir={}", store.display()),
            format!("flushDiskType={}", self.mode.flush_disk_type()),
            format!("transientStorePoolEnable={}", self.mode == Mode::Staged),
            format!("mappedFileSizeCommitLog={}", o.commit_log_file_size),
            format!("mappedFileSizeConsumeQueue={}", o.consume_queue_file_size),
            // Small index files, so they roll over too.
            "maxHashSlotNum=20000".to_string(),
            "maxIndexNum=80000".to_string(),
            // Big pulls for the final read.
            "maxTransferCountOnMessageInDisk=256".to_string(),
            "maxTransferBytesOnMessageInDisk=1048576".to_string(),
            "maxTransferCountOnMessageInMemory=256".to_string(),
            "maxTransferBytesOnMessageInMemory=1048576".to_string(),
            // The schedule service's progress (delayOffset.json) is saved with the consumer
            // offsets, every 5 s by default; the broker rarely lives that long here, and
            // every restart would deliver every delayed message again from the start.
            "flushConsumerOffsetInterval=1000".to_string(),
            // Runs write gigabytes in minutes: retention must not delete any of it (a
            // crowded disk would otherwise trigger forced deletion past 75% use).
            "diskMaxUsedSpaceRatio=95".to_string(),
            "cleanFileForciblyEnable=false".to_string(),
            "autoCreateTopicEnable=true".to_string(),
            "autoCreateSubscriptionGroup=true".to_string(),
        ];
        for d in defines {
            cmd.arg("-D").arg(d);
        }
        if self.mode == Mode::Transaction {
            // Check-backs within a second or two, not after 60 s + 6 s: a decision lost in a
            // kill is asked for again in the next broker life that lasts a second.
            for d in [
                format!("transactionCheckInterval={}", o.tx_check_ms),
                format!("transactionTimeOut={}", o.tx_check_ms),
            ] {
                cmd.arg("-D").arg(d);
            }
        }
        let started = Instant::now();
        let (child, _) = spawn_ready(cmd, "boot success", &self.broker_log(), Duration::from_secs(120)).await?;
        self.broker = Some(child);
        Ok(started.elapsed())
    }

    /// SIGKILL (tokio's `start_kill` on Unix), then reaps the process.
    async fn kill_broker(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.broker.take() {
            if let Ok(Some(status)) = child.try_wait() {
                bail!("the broker had already exited: {status}");
            }
            child.start_kill()?;
            let status = child.wait().await?;
            {
                let mut f = std::fs::OpenOptions::new().append(true).open(self.broker_log())?;
                writeln!(f, "===== crash-harness: broker killed: {status} =====")?;
            }
        }
        Ok(())
    }

    fn broker_alive(&mut self) -> bool {
        matches!(self.broker.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

async fn open(addr: &str) -> anyhow::Result<Connection> {
    open_with(addr, Arc::new(IgnoreRequests)).await
}

async fn open_with(addr: &str, handler: Arc<dyn RequestHandler>) -> anyhow::Result<Connection> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true).ok();
    Ok(Connection::spawn(
        stream,
        handler,
        remoting::frame::DEFAULT_MAX_FRAME_LENGTH,
        tokio_util::sync::CancellationToken::new(),
    )?)
}

/// Creates the topic on the broker and waits until the name server routes it there (the
/// way `rmq-bench` finds its brokers).
async fn create_topic(servers: &Servers, topic: &str, queues: i32) -> anyhow::Result<()> {
    let broker = open(&servers.broker_addr()).await?;
    let header = CreateTopicRequestHeader::read_write(topic, queues);
    let res = broker
        .request(
            RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header),
            REQUEST_TIMEOUT,
        )
        .await?;
    if res.code != response::SUCCESS {
        bail!("creating {topic}: code {} {:?}", res.code, res.remark);
    }
    let ns = open(&servers.namesrv_addr).await?;
    for _ in 0..200 {
        let mut ask = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
        ask.ext_mut().insert("topic", topic);
        let res = ns.request(ask, REQUEST_TIMEOUT).await?;
        if res.code == response::SUCCESS {
            let route: remoting::protocol::route::TopicRouteData =
                remoting::fastjson::from_slice(&res.body).map_err(anyhow::Error::msg)?;
            let addr_ok = route
                .broker_datas
                .iter()
                .any(|b| b.broker_addrs.get(&0) == Some(&servers.broker_addr()));
            let queues_ok = route.queue_datas.iter().any(|q| q.write_queue_nums == queues);
            if addr_ok && queues_ok {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the name server never routed {topic} to {}", servers.broker_addr())
}

// ---------------------------------------------------------------------------------------
// Producing

/// One acknowledged message.
#[derive(Debug, Clone)]
struct Ack {
    seq: u64,
    /// The queue the message was sent to (for a delayed message, its real queue).
    queue: i32,
    /// The queue offset the response named (for a delayed message, in the schedule queue).
    queue_offset: i64,
    /// CommitLog offset from the offsetMsgId in the response.
    commit_offset: i64,
    delayed: bool,
    /// A transactional message: the ack is its half message's (queue_offset in the half
    /// queue, commit_offset of the half record; queue = its real queue), and the decision.
    tx: Option<Decision>,
    /// Which kill period (0 = before the first kill) the ack arrived in.
    epoch: u32,
    at: Instant,
}

/// What the harness decides for a transactional message. A function of the sequence
/// number alone, so the answer to a check-back is the decision made at send time, whenever
/// and on whichever connection the check arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// END_TRANSACTION COMMIT right after the half send was acknowledged.
    Commit,
    /// END_TRANSACTION ROLLBACK right after the ack.
    Rollback,
    /// END_TRANSACTION UNKNOW; committed when the broker checks.
    CommitOnCheck,
    /// END_TRANSACTION UNKNOW; rolled back when the broker checks.
    RollbackOnCheck,
}

impl Decision {
    /// 80 % commit, 10 % rollback, 5 % each left to the check-back.
    fn of(seq: u64) -> Decision {
        let mut x = seq.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        match (x ^ (x >> 31)) % 20 {
            0 | 1 => Decision::Rollback,
            2 => Decision::RollbackOnCheck,
            3 => Decision::CommitOnCheck,
            _ => Decision::Commit,
        }
    }
    fn commits(self) -> bool {
        matches!(self, Decision::Commit | Decision::CommitOnCheck)
    }
    /// commitOrRollback of the END_TRANSACTION sent after the ack.
    fn first_answer(self) -> i32 {
        match self {
            Decision::Commit => sys_flag::TRANSACTION_COMMIT_TYPE,
            Decision::Rollback => sys_flag::TRANSACTION_ROLLBACK_TYPE,
            Decision::CommitOnCheck | Decision::RollbackOnCheck => sys_flag::TRANSACTION_NOT_TYPE,
        }
    }
    /// commitOrRollback of the answer to a check-back.
    fn check_answer(self) -> i32 {
        if self.commits() {
            sys_flag::TRANSACTION_COMMIT_TYPE
        } else {
            sys_flag::TRANSACTION_ROLLBACK_TYPE
        }
    }
}

#[derive(Default)]
struct Shared {
    next_seq: AtomicU64,
    stop: AtomicBool,
    epoch: AtomicU64,
    acks: Mutex<Vec<Ack>>,
    errors: Mutex<BTreeMap<i32, u64>>,
    requests: AtomicU64,
    last_delayed_ack: Mutex<Option<Instant>>,
    /// Sequence numbers sent as delayed messages (acknowledged or not).
    delayed: Mutex<std::collections::HashSet<u64>>,
    /// Sequence numbers sent as transactional messages (acknowledged or not).
    tx: Mutex<std::collections::HashSet<u64>>,
    /// END_TRANSACTION requests sent after an ack, and those that could not be written.
    tx_ends: AtomicU64,
    tx_ends_failed: AtomicU64,
    /// CHECK_TRANSACTION_STATE requests received; answered with commit / rollback; about a
    /// message that is not one of our transactional ones (not answered); answers that could
    /// not be written.
    tx_checks: AtomicU64,
    tx_check_commits: AtomicU64,
    tx_check_rollbacks: AtomicU64,
    tx_check_foreign: AtomicU64,
    tx_check_answer_failed: AtomicU64,
    heartbeats: AtomicU64,
    heartbeat_failures: AtomicU64,
    /// Stops the check-back listener (after the final read).
    listener_stop: AtomicBool,
}

/// The request handler of a transactional producer's connections: answers the broker's
/// CHECK_TRANSACTION_STATE with the harness's decision, by END_TRANSACTION
/// (fromTransactionCheck=true) naming the half message the check named.
struct TxHandler {
    shared: Arc<Shared>,
}

impl RequestHandler for TxHandler {
    fn handle(&self, conn: Connection, req: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            if req.code != request::CHECK_TRANSACTION_STATE {
                return None;
            }
            shared.tx_checks.fetch_add(1, Ordering::Relaxed);
            let Ok(h) = req.decode_header::<CheckTransactionStateRequestHeader>() else {
                shared.tx_check_foreign.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            let seq = codec::decode_message(&req.body).ok().as_ref().and_then(seq_of);
            let Some(seq) = seq.filter(|s| shared.tx.lock().unwrap().contains(s)) else {
                shared.tx_check_foreign.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            let decision = Decision::of(seq);
            if decision.commits() {
                shared.tx_check_commits.fetch_add(1, Ordering::Relaxed);
            } else {
                shared.tx_check_rollbacks.fetch_add(1, Ordering::Relaxed);
            }
            let msg_id = h.msg_id.clone().unwrap_or_default();
            let end = end_request(
                h.tran_state_table_offset,
                h.commit_log_offset,
                decision.check_answer(),
                true,
                msg_id,
                h.transaction_id.clone(),
            );
            if conn.oneway(end).await.is_err() {
                shared.tx_check_answer_failed.fetch_add(1, Ordering::Relaxed);
            }
            None
        })
    }
}

fn end_request(
    tran_state_table_offset: i64,
    commit_log_offset: i64,
    commit_or_rollback: i32,
    from_check: bool,
    msg_id: String,
    transaction_id: Option<String>,
) -> RemotingCommand {
    RemotingCommand::request_with_header(
        request::END_TRANSACTION,
        &EndTransactionRequestHeader {
            producer_group: PRODUCER_GROUP.into(),
            tran_state_table_offset,
            commit_log_offset,
            commit_or_rollback,
            from_transaction_check: Some(from_check),
            msg_id,
            transaction_id,
        },
    )
}

/// HEART_BEAT registering the connection as a producer of PRODUCER_GROUP, where the
/// broker's transaction checks go.
async fn heartbeat(conn: &Connection, client_id: &str, shared: &Shared) -> anyhow::Result<()> {
    let body = json!({
        "clientID": client_id,
        "consumerDataSet": [],
        "producerDataSet": [{"groupName": PRODUCER_GROUP}],
    })
    .to_string();
    shared.heartbeats.fetch_add(1, Ordering::Relaxed);
    let res = conn
        .request(
            RemotingCommand::request(request::HEART_BEAT).with_body(body.into_bytes()),
            REQUEST_TIMEOUT,
        )
        .await;
    match res {
        Ok(r) if r.code == response::SUCCESS => Ok(()),
        Ok(r) => {
            shared.heartbeat_failures.fetch_add(1, Ordering::Relaxed);
            bail!("HEART_BEAT answered {} {:?}", r.code, r.remark)
        }
        Err(e) => {
            shared.heartbeat_failures.fetch_add(1, Ordering::Relaxed);
            Err(e.into())
        }
    }
}

/// Connects with the check-back handler and registers as a producer of the group.
async fn open_tx(addr: &str, client_id: &str, shared: &Arc<Shared>) -> anyhow::Result<Connection> {
    let conn = open_with(addr, Arc::new(TxHandler { shared: shared.clone() })).await?;
    heartbeat(&conn, client_id, shared).await?;
    Ok(conn)
}

/// In transaction mode: one more producer connection that sends nothing but heartbeats
/// (every 500 ms, so it is the group's freshest) and answers check-backs, until the final
/// read is done; the sending producers stop before the harness waits for the last
/// decisions to be made again.
async fn check_listener(addr: String, run: u64, shared: Arc<Shared>) {
    let client_id = format!("127.0.0.1@crash-harness-{run:x}#listener");
    let mut conn: Option<Connection> = None;
    while !shared.listener_stop.load(Ordering::Relaxed) {
        match &conn {
            Some(c) if !c.is_closed() => {
                if heartbeat(c, &client_id, &shared).await.is_err() {
                    conn = None;
                }
            }
            _ => match open_tx(&addr, &client_id, &shared).await {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn key_of(seq: u64) -> String {
    format!("CH{seq}")
}

fn parse_key(keys: &str) -> Option<u64> {
    keys.strip_prefix("CH")?.parse().ok()
}

fn body_of(seq: u64, len: usize) -> Vec<u8> {
    let mut b = format!("seq={seq};").into_bytes();
    let mut fill = seq;
    while b.len() < len {
        fill = fill.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        b.push(b'a' + (fill >> 59) as u8 % 26);
    }
    b
}

fn body_seq(body: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(body.get(4..body.len().min(30))?).ok()?;
    if !body.starts_with(b"seq=") {
        return None;
    }
    s.split(';').next()?.parse().ok()
}

fn unique_key(run: u64, seq: u64) -> String {
    format!("7F000001{:016X}{:016X}", run, seq)
}

fn properties_for(run: u64, seq: u64, delayed: bool) -> Vec<(String, String)> {
    let mut p = vec![
        (property::KEYS.to_string(), key_of(seq)),
        (property::UNIQ_KEY.to_string(), unique_key(run, seq)),
    ];
    if delayed {
        p.push((property::DELAY.to_string(), "1".to_string()));
    }
    p
}

/// Whether producer `id` sends transactional messages (transaction mode only): of each
/// four producers the last two, so both send request codes are covered.
fn is_tx_producer(opts: &Opts, id: usize) -> bool {
    if opts.mode != Mode::Transaction {
        return false;
    }
    match opts.tx_producers {
        Some(n) => id >= opts.producers.saturating_sub(n),
        None => id % 4 >= 2 || opts.producers == 1,
    }
}

fn send_header(topic: &str, queue_id: i32, properties: Option<String>, batch: bool) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: PRODUCER_GROUP.into(),
        topic: topic.into(),
        default_topic: remoting::protocol::topic::AUTO_CREATE_TOPIC_KEY.into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: remoting::protocol::topic::now_millis(),
        flag: 0,
        properties,
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(batch),
        max_reconsume_times: None,
    }
}

struct Sent {
    req: RemotingCommand,
    first_seq: u64,
    count: u64,
    delayed: bool,
    tx: Option<Decision>,
}

/// A prepared send as a transactional producer makes it: sys flag PREPARED, TRAN_MSG and
/// PGROUP in the properties, never delayed (Java's client clears DELAY there).
fn build_tx_send(opts: &Opts, run: u64, producer: usize, queue_id: i32, rng: &mut Rng, shared: &Shared) -> Sent {
    let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
    shared.tx.lock().unwrap().insert(seq);
    let mut props = properties_for(run, seq, false);
    props.push((property::TRANSACTION_PREPARED.to_string(), "true".to_string()));
    props.push((PRODUCER_GROUP_PROPERTY.to_string(), PRODUCER_GROUP.to_string()));
    props.push((property::WAIT.to_string(), "true".to_string()));
    let mut header = send_header(&opts.topic, queue_id, Some(codec::properties_to_string(&props)), false);
    header.sys_flag = sys_flag::TRANSACTION_PREPARED_TYPE;
    let body = Bytes::from(body_of(seq, rng.range(32, opts.max_body.max(32) as u64) as usize));
    let req = if producer.is_multiple_of(2) {
        RemotingCommand::request_with_header(request::SEND_MESSAGE_V2, &SendMessageRequestHeaderV2::from(&header))
    } else {
        RemotingCommand::request_with_header(request::SEND_MESSAGE, &header)
    }
    .with_body(body);
    Sent {
        req,
        first_seq: seq,
        count: 1,
        delayed: false,
        tx: Some(Decision::of(seq)),
    }
}

fn build_send(opts: &Opts, run: u64, producer: usize, queue_id: i32, rng: &mut Rng, shared: &Shared) -> Sent {
    let delayed = opts.delay_every > 0 && rng.below(opts.delay_every) == 0;
    let batched = opts.mode == Mode::Batch && !delayed && opts.batch > 1;
    let count = if batched { opts.batch as u64 } else { 1 };
    let first_seq = shared.next_seq.fetch_add(count, Ordering::Relaxed);
    if delayed {
        shared.delayed.lock().unwrap().insert(first_seq);
    }
    let mut body_len = || rng.range(32, opts.max_body.max(32) as u64) as usize;
    if batched {
        let bodies: Vec<(Vec<u8>, String)> = (first_seq..first_seq + count)
            .map(|seq| {
                (
                    body_of(seq, body_len()),
                    codec::properties_to_string(&properties_for(run, seq, false)),
                )
            })
            .collect();
        let items: Vec<(i32, &[u8], &str)> = bodies.iter().map(|(b, p)| (0, b.as_slice(), p.as_str())).collect();
        let body = codec::encode_batch_body(&items);
        let header = send_header(&opts.topic, queue_id, None, true);
        let req = RemotingCommand::request_with_header(
            request::SEND_BATCH_MESSAGE,
            &SendMessageRequestHeaderV2::from(&header),
        )
        .with_body(Bytes::from(body));
        return Sent {
            req,
            first_seq,
            count,
            delayed,
            tx: None,
        };
    }
    let mut props = properties_for(run, first_seq, delayed);
    props.push((property::WAIT.to_string(), "true".to_string()));
    let header = send_header(&opts.topic, queue_id, Some(codec::properties_to_string(&props)), false);
    let body = Bytes::from(body_of(first_seq, body_len()));
    // Half the producers use SEND_MESSAGE (full header names), half SEND_MESSAGE_V2.
    let req = if producer.is_multiple_of(2) {
        RemotingCommand::request_with_header(request::SEND_MESSAGE_V2, &SendMessageRequestHeaderV2::from(&header))
    } else {
        RemotingCommand::request_with_header(request::SEND_MESSAGE, &header)
    }
    .with_body(body);
    Sent {
        req,
        first_seq,
        count,
        delayed,
        tx: None,
    }
}

/// Reads a SUCCESS send response into acks; None if the header does not hold what a
/// success must (counted as an error, not as an ack).
fn acks_from(res: &RemotingCommand, sent: &Sent, queue_id: i32, epoch: u32) -> Option<Vec<Ack>> {
    let at = Instant::now();
    let ext = res.ext();
    let queue: i32 = ext.get("queueId")?.parse().ok()?;
    let queue_offset: i64 = ext.get("queueOffset")?.parse().ok()?;
    let ids: Vec<i64> = ext
        .get("msgId")?
        .split(',')
        .map(|id| codec::decode_offset_msg_id(id.trim()).map(|(_, off)| off))
        .collect::<Option<Vec<_>>>()?;
    if ids.len() as u64 != sent.count || queue != queue_id {
        return None;
    }
    Some(
        (0..sent.count)
            .map(|i| Ack {
                seq: sent.first_seq + i,
                queue,
                queue_offset: queue_offset + i as i64,
                commit_offset: ids[i as usize],
                delayed: sent.delayed,
                tx: sent.tx,
                epoch,
                at,
            })
            .collect(),
    )
}

async fn producer(id: usize, opts: Arc<Opts>, run: u64, seed: u64, addr: String, shared: Arc<Shared>) {
    let mut rng = Rng::new(seed ^ (id as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut conn: Option<Connection> = None;
    let mut queue = (id as i32) % opts.queues;
    let tx = is_tx_producer(&opts, id);
    let client_id = format!("127.0.0.1@crash-harness-{run:x}#{id}");
    while !shared.stop.load(Ordering::Relaxed) {
        let c = match &conn {
            Some(c) if !c.is_closed() => c.clone(),
            _ => match if tx {
                open_tx(&addr, &client_id, &shared).await
            } else {
                open(&addr).await
            } {
                Ok(c) => {
                    conn = Some(c.clone());
                    c
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let sent = if tx {
            build_tx_send(&opts, run, id, queue, &mut rng, &shared)
        } else {
            build_send(&opts, run, id, queue, &mut rng, &shared)
        };
        let epoch = shared.epoch.load(Ordering::Relaxed) as u32;
        shared.requests.fetch_add(1, Ordering::Relaxed);
        match c.request(sent.req.clone(), REQUEST_TIMEOUT).await {
            Ok(res) if res.code == response::SUCCESS => match acks_from(&res, &sent, queue, epoch) {
                Some(acks) => {
                    if sent.delayed {
                        *shared.last_delayed_ack.lock().unwrap() = Some(Instant::now());
                    }
                    let end = sent.tx.map(|d| {
                        let a = &acks[0];
                        end_request(
                            a.queue_offset,
                            a.commit_offset,
                            d.first_answer(),
                            false,
                            unique_key(run, a.seq),
                            Some(unique_key(run, a.seq)),
                        )
                    });
                    // Recorded before the decision goes out: from here on the harness has
                    // decided, and a check-back gets the same answer.
                    shared.acks.lock().unwrap().extend(acks);
                    if let Some(end) = end {
                        shared.tx_ends.fetch_add(1, Ordering::Relaxed);
                        if c.oneway(end).await.is_err() {
                            shared.tx_ends_failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                None => *shared.errors.lock().unwrap().entry(-2).or_default() += 1,
            },
            Ok(res) => {
                *shared.errors.lock().unwrap().entry(res.code).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(_) => {
                *shared.errors.lock().unwrap().entry(-1).or_default() += 1;
                conn = None;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        queue = (queue + 1) % opts.queues;
    }
}

// ---------------------------------------------------------------------------------------
// Reading back and checking

/// A record read from a queue with PULL_MESSAGE.
#[derive(Debug, Clone)]
struct Found {
    seq: Option<u64>,
    commit_offset: i64,
    stored_queue_offset: i64,
}

#[derive(Default)]
struct QueueRead {
    next: i64,
    /// Position -> record.
    slots: BTreeMap<i64, Found>,
    /// CQ positions the pull skipped (nextBeginOffset moved past entries it did not return).
    gaps: u64,
    /// Records whose stored queue id, queue offset or topic disagree with where they were read.
    offset_mismatch: u64,
    body_mismatch: u64,
    max_offset: i64,
    /// Where the queue starts when offset 0 is gone (retention deleted data): Some(min).
    starts_at: Option<i64>,
}

fn pull_request(topic: &str, queue_id: i32, offset: i64) -> RemotingCommand {
    let header = PullMessageRequestHeader::tags(GROUP, topic, queue_id, offset, 256, "*");
    RemotingCommand::request_with_header(request::PULL_MESSAGE, &header)
}

fn seq_of(m: &DecodedMessage) -> Option<u64> {
    m.keys().and_then(parse_key)
}

/// Pulls `queue_id` from `read.next` until the pull finds nothing more.
async fn read_queue(conn: &Connection, topic: &str, queue_id: i32, read: &mut QueueRead) -> anyhow::Result<()> {
    let mut retries = 0;
    loop {
        let offset = read.next;
        let res = conn
            .request(pull_request(topic, queue_id, offset), REQUEST_TIMEOUT)
            .await?;
        let ext = res.ext();
        let next: i64 = ext
            .get("nextBeginOffset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(offset);
        if let Some(max) = ext.get("maxOffset").and_then(|v| v.parse().ok()) {
            read.max_offset = max;
        }
        match res.code {
            response::SUCCESS => {
                let msgs = codec::decode_messages(&res.body);
                for (i, m) in msgs.iter().enumerate() {
                    let pos = offset + i as i64;
                    let seq = seq_of(m);
                    if m.queue_offset != pos || m.queue_id != queue_id || m.topic != topic {
                        read.offset_mismatch += 1;
                        log(format!(
                            "offset mismatch: read at {topic}/{queue_id}@{pos}, record says {}/{}@{} (CommitLog {}, key {:?})",
                            m.topic,
                            m.queue_id,
                            m.queue_offset,
                            m.commit_log_offset,
                            m.keys()
                        ));
                    }
                    if seq.is_some() && body_seq(&m.body) != seq {
                        read.body_mismatch += 1;
                    }
                    read.slots.insert(
                        pos,
                        Found {
                            seq,
                            commit_offset: m.commit_log_offset,
                            stored_queue_offset: m.queue_offset,
                        },
                    );
                }
                let end = offset + msgs.len() as i64;
                if msgs.is_empty() {
                    bail!("{topic}/{queue_id}@{offset}: SUCCESS with a body that does not decode");
                }
                if next > end {
                    read.gaps += (next - end) as u64;
                    log(format!(
                        "{topic}/{queue_id}: pull at {offset} returned {} messages but moved to {next}",
                        msgs.len()
                    ));
                }
                read.next = next.max(end);
                retries = 0;
            }
            response::PULL_NOT_FOUND => return Ok(()),
            response::PULL_RETRY_IMMEDIATELY | response::PULL_OFFSET_MOVED => {
                if offset == 0 && res.code == response::PULL_OFFSET_MOVED && next > 0 {
                    read.starts_at = Some(next);
                }
                if next > offset {
                    read.gaps += (next - offset) as u64;
                    log(format!(
                        "{topic}/{queue_id}: pull at {offset}: code {} {:?}, moved to {next}",
                        res.code, res.remark
                    ));
                    read.next = next;
                } else {
                    retries += 1;
                    if retries > 20 {
                        bail!(
                            "{topic}/{queue_id}@{offset}: code {} {:?} again and again",
                            res.code,
                            res.remark
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            code => bail!(
                "{topic}/{queue_id}@{offset}: pull answered code {code} {:?}",
                res.remark
            ),
        }
    }
}

/// VIEW_MESSAGE_BY_ID: the record at a CommitLog offset, or the remark of the error.
async fn view(conn: &Connection, commit_offset: i64) -> anyhow::Result<Result<DecodedMessage, String>> {
    let req = RemotingCommand::request_with_header(
        request::VIEW_MESSAGE_BY_ID,
        &ViewMessageRequestHeader { offset: commit_offset },
    );
    let res = conn.request(req, REQUEST_TIMEOUT).await?;
    if res.code != response::SUCCESS {
        return Ok(Err(format!("code {} {:?}", res.code, res.remark)));
    }
    Ok(codec::decode_message(&res.body).map_err(|e| e.to_string()))
}

#[derive(Default, Debug)]
struct Verdict {
    acked: u64,
    acked_delayed: u64,
    missing: u64,
    missing_delayed: u64,
    shared_offsets: u64,
    duplicates: u64,
    duplicates_delayed: u64,
    unacked_but_stored: u64,
    misplaced: u64,
    foreign: u64,
    stored: u64,
    missing_seqs: Vec<u64>,
    shared_detail: Vec<Value>,
    /// Transaction mode: acknowledged half messages, by decision; committed ones missing
    /// from the real topic; extra copies of committed ones; copies of rolled-back ones in
    /// the real topic (an error).
    acked_tx: u64,
    acked_tx_commit: u64,
    acked_tx_rollback: u64,
    missing_tx: u64,
    duplicates_tx: u64,
    rolled_back_visible: u64,
    rolled_back_seqs: Vec<u64>,
}

/// Where a queue offset lives: the topic, the schedule queue, the transaction half queue.
const SPACE_TOPIC: u8 = 0;
const SPACE_SCHEDULE: u8 = 1;
const SPACE_HALF: u8 = 2;

fn check(
    opts: &Opts,
    acks: &[Ack],
    reads: &[QueueRead],
    next_seq: u64,
    delayed: &std::collections::HashSet<u64>,
    tx: &std::collections::HashSet<u64>,
    half: Option<&QueueRead>,
) -> Verdict {
    let mut v = Verdict::default();
    // seq -> positions (queue, pos) where it was read.
    let mut found: HashMap<u64, Vec<(i32, i64)>> = HashMap::new();
    for (q, read) in reads.iter().enumerate() {
        for (pos, f) in &read.slots {
            v.stored += 1;
            match f.seq {
                Some(seq) if seq < next_seq => found.entry(seq).or_default().push((q as i32, *pos)),
                _ => v.foreign += 1,
            }
        }
    }
    // (space, queue, offset) -> the seq that claims it.
    let mut claims: HashMap<(u8, i32, i64), u64> = HashMap::new();
    let mut shared_keys: HashMap<(u8, i32, i64), Vec<u64>> = HashMap::new();
    let mut claim = |key: (u8, i32, i64), seq: u64| match claims.get(&key) {
        Some(&other) if other != seq => {
            let e = shared_keys.entry(key).or_insert_with(|| vec![other]);
            if !e.contains(&seq) {
                e.push(seq);
            }
        }
        Some(_) => {}
        None => {
            claims.insert(key, seq);
        }
    };
    let mut acked_seqs = std::collections::HashSet::with_capacity(acks.len());
    for a in acks {
        acked_seqs.insert(a.seq);
        // A transactional message's ack names its half message's offset (queue 0 of the
        // half topic); its offset in the real queue is given at commit time.
        let (space, queue) = if a.tx.is_some() {
            (SPACE_HALF, 0)
        } else if a.delayed {
            (SPACE_SCHEDULE, 0)
        } else {
            (SPACE_TOPIC, a.queue)
        };
        claim((space, queue, a.queue_offset), a.seq);
    }
    for (q, read) in reads.iter().enumerate() {
        for f in read.slots.values() {
            if let Some(seq) = f.seq {
                claim((SPACE_TOPIC, q as i32, f.stored_queue_offset), seq);
            }
        }
    }
    if let Some(half) = half {
        for f in half.slots.values() {
            if let Some(seq) = f.seq {
                claim((SPACE_HALF, 0, f.stored_queue_offset), seq);
            }
        }
    }
    v.shared_offsets = shared_keys.len() as u64;
    for (key, seqs) in shared_keys.iter().take(20) {
        let space = match key.0 {
            SPACE_TOPIC => opts.topic.as_str(),
            SPACE_SCHEDULE => SCHEDULE_TOPIC,
            _ => HALF_TOPIC,
        };
        v.shared_detail
            .push(json!({"space": space, "queue": key.1, "queue_offset": key.2, "seqs": seqs}));
    }
    for a in acks {
        v.acked += 1;
        if a.delayed {
            v.acked_delayed += 1;
        }
        if let Some(d) = a.tx {
            v.acked_tx += 1;
            if d.commits() {
                v.acked_tx_commit += 1;
            } else {
                // Rolled back: must not be in the topic at all (counted below).
                v.acked_tx_rollback += 1;
                continue;
            }
        }
        match found.get(&a.seq) {
            None => {
                v.missing += 1;
                if a.delayed {
                    v.missing_delayed += 1;
                }
                if a.tx.is_some() {
                    v.missing_tx += 1;
                }
                v.missing_seqs.push(a.seq);
            }
            Some(places) => {
                // A committed message must be in the queue it was sent to; its offset
                // there is not the one its (half) ack named.
                let misplaced = if a.tx.is_some() {
                    !places.iter().any(|p| p.0 == a.queue)
                } else {
                    !a.delayed && !places.contains(&(a.queue, a.queue_offset))
                };
                if misplaced {
                    v.misplaced += 1;
                    if v.misplaced <= 20 {
                        log(format!(
                            "misplaced: seq {} acked at {}@{}{} but read at {:?}",
                            a.seq,
                            a.queue,
                            a.queue_offset,
                            if a.tx.is_some() { " (half queue offset)" } else { "" },
                            places
                        ));
                    }
                }
            }
        }
    }
    for (seq, places) in &found {
        let is_tx = tx.contains(seq);
        if is_tx && !Decision::of(*seq).commits() {
            v.rolled_back_visible += places.len() as u64;
            if v.rolled_back_seqs.len() < 20 {
                v.rolled_back_seqs.push(*seq);
            }
            continue;
        }
        if places.len() > 1 {
            v.duplicates += places.len() as u64 - 1;
            if delayed.contains(seq) {
                v.duplicates_delayed += places.len() as u64 - 1;
            }
            if is_tx {
                v.duplicates_tx += places.len() as u64 - 1;
            }
        }
        if !acked_seqs.contains(seq) {
            v.unacked_but_stored += 1;
        }
    }
    v
}

async fn run(opts: Opts) -> anyhow::Result<(Value, bool)> {
    let began = Instant::now();
    let seed = opts.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ std::process::id() as u64
    });
    let mut rng = Rng::new(seed);
    let work = match &opts.work_dir {
        Some(w) => w.clone(),
        None => std::env::temp_dir().join(format!(
            "crash-harness-{}-{}-{:x}",
            opts.mode.name(),
            std::process::id(),
            seed & 0xffff_ffff
        )),
    };
    std::fs::create_dir_all(&work)?;
    log(format!(
        "mode {} kills {} seed {seed} work dir {}",
        opts.mode.name(),
        opts.kills,
        work.display()
    ));
    let mut servers = Servers::start(&opts, &work).await?;
    create_topic(&servers, &opts.topic, opts.queues).await?;

    let shared = Arc::new(Shared::default());
    shared.next_seq.store(1, Ordering::Relaxed);
    let opts_arc = Arc::new(opts.clone());
    let run_id = seed;
    let mut producers = Vec::new();
    for id in 0..opts.producers {
        producers.push(tokio::spawn(producer(
            id,
            opts_arc.clone(),
            run_id,
            seed,
            servers.broker_addr(),
            shared.clone(),
        )));
    }
    let listener = (opts.mode == Mode::Transaction)
        .then(|| tokio::spawn(check_listener(servers.broker_addr(), run_id, shared.clone())));

    let mut restart_ms_max = 0u128;
    let mut restart_ms_total = 0u128;
    let mut kills_done = 0u32;
    let mut failure: Option<String> = None;
    let mut kill_times: Vec<Instant> = Vec::new();
    for k in 1..=opts.kills {
        let wait = rng.range(opts.min_kill_ms, opts.max_kill_ms.max(opts.min_kill_ms));
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if !servers.broker_alive() {
            failure = Some(format!("the broker exited on its own before kill {k}"));
            break;
        }
        let acked_before = shared.acks.lock().unwrap().len();
        kill_times.push(Instant::now());
        servers.kill_broker().await?;
        kills_done += 1;
        shared.epoch.store(k as u64, Ordering::Relaxed);
        match servers.start_broker().await {
            Ok(took) => {
                restart_ms_max = restart_ms_max.max(took.as_millis());
                restart_ms_total += took.as_millis();
                log(format!(
                    "kill {k}/{} after {wait} ms ({acked_before} acked so far), restarted in {} ms",
                    opts.kills,
                    took.as_millis()
                ));
            }
            Err(e) => {
                failure = Some(format!("the broker did not restart after kill {k}: {e:#}"));
                break;
            }
        }
    }
    if failure.is_none() {
        tokio::time::sleep(Duration::from_millis(opts.tail_ms)).await;
    }
    shared.stop.store(true, Ordering::Relaxed);
    for p in producers {
        let _ = tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(2), p).await;
    }
    let next_seq = shared.next_seq.load(Ordering::Relaxed);
    let acks = shared.acks.lock().unwrap().clone();
    let delayed_seqs = shared.delayed.lock().unwrap().clone();
    let tx_seqs = shared.tx.lock().unwrap().clone();
    let errors: BTreeMap<String, u64> = shared
        .errors
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let name = match *k {
                -1 => "no_answer".to_string(),
                -2 => "bad_success_header".to_string(),
                c => c.to_string(),
            };
            (name, *v)
        })
        .collect();
    if let Some(f) = failure {
        log(&f);
        log(format!("tail of {}:", servers.broker_log().display()));
        if let Ok(text) = std::fs::read_to_string(servers.broker_log()) {
            let lines: Vec<&str> = text.lines().collect();
            for l in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("    {l}");
            }
        }
        let summary = json!({
            "mode": opts.mode.name(), "kills": kills_done, "acked": acks.len(), "error": f,
            "seed": seed, "work_dir": work.display().to_string(), "elapsed": began.elapsed().as_secs_f64(),
        });
        return Ok((summary, false));
    }

    // Delayed messages: level 1 is 1 s after their store time; the schedule service looks
    // every 100 ms. Give them that plus a few seconds, then keep reading while some are
    // still missing (up to 30 s more).
    let due = shared
        .last_delayed_ack
        .lock()
        .unwrap()
        .map(|t| t + Duration::from_secs(3))
        .unwrap_or_else(Instant::now);
    tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;

    let conn = open(&servers.broker_addr()).await?;
    let mut reads: Vec<QueueRead> = (0..opts.queues).map(|_| QueueRead::default()).collect();
    // Committed transactional messages whose decision a kill lost come with the broker's
    // check-backs (every tx_check_ms): wait longer for those.
    let read_began = Instant::now();
    let read_deadline = read_began
        + Duration::from_secs(if opts.mode == Mode::Transaction {
            opts.tx_wait_s.max(30)
        } else {
            30
        });
    let verdict = loop {
        for (q, read) in reads.iter_mut().enumerate() {
            read_queue(&conn, &opts.topic, q as i32, read).await?;
        }
        let v = check(&opts, &acks, &reads, next_seq, &delayed_seqs, &tx_seqs, None);
        let waiting = v.missing_delayed + v.missing_tx;
        if waiting > 0 && waiting == v.missing && Instant::now() < read_deadline {
            log(format!(
                "{} delayed and {} committed transactional messages not delivered yet, reading again",
                v.missing_delayed, v.missing_tx
            ));
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        break v;
    };
    let read_wait_s = read_began.elapsed().as_secs_f64();
    // Transaction mode: the half queue (for its offsets and the offsetMsgId lookups of
    // half acks), and the topic where half messages checked too often end up.
    let mut half_read: Option<QueueRead> = None;
    let mut tx_discarded: Vec<u64> = Vec::new();
    let verdict = if opts.mode == Mode::Transaction {
        let mut half = QueueRead::default();
        read_queue(&conn, HALF_TOPIC, 0, &mut half).await?;
        let mut discarded = QueueRead::default();
        match read_queue(&conn, CHECK_MAX_TIME_TOPIC, 0, &mut discarded).await {
            Ok(()) => tx_discarded = discarded.slots.values().filter_map(|f| f.seq).collect(),
            Err(e) => log(format!("{CHECK_MAX_TIME_TOPIC} not read ({e:#}); counted as empty")),
        }
        let v = check(&opts, &acks, &reads, next_seq, &delayed_seqs, &tx_seqs, Some(&half));
        half_read = Some(half);
        v
    } else {
        verdict
    };
    if let Some(l) = listener {
        shared.listener_stop.store(true, Ordering::Relaxed);
        let _ = tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(2), l).await;
    }

    // The ConsumeQueue against the CommitLog: look acknowledged messages up by offsetMsgId.
    let mut sample: Vec<&Ack> = Vec::new();
    if !acks.is_empty() {
        for _ in 0..opts.view_sample.min(acks.len()) {
            sample.push(&acks[rng.below(acks.len() as u64) as usize]);
        }
    }
    let slot = |q: i32, off: i64| reads.get(q as usize).and_then(|r| r.slots.get(&off));
    let mut view_mismatch = 0u64;
    for a in &sample {
        let problem = match view(&conn, a.commit_offset).await? {
            Err(e) => Some(format!("not found: {e}")),
            Ok(m) => {
                let want_topic = if a.tx.is_some() {
                    HALF_TOPIC
                } else if a.delayed {
                    SCHEDULE_TOPIC
                } else {
                    opts.topic.as_str()
                };
                if seq_of(&m) != Some(a.seq) || m.commit_log_offset != a.commit_offset || m.topic != want_topic {
                    Some(format!(
                        "CommitLog has key {:?} topic {} at {}",
                        m.keys(),
                        m.topic,
                        m.commit_log_offset
                    ))
                } else if a.tx.is_some() {
                    // The half record: its real queue in REAL_QID, its half queue offset as
                    // acknowledged, and the half queue's ConsumeQueue slot pointing at it.
                    let half_slot = half_read.as_ref().and_then(|h| h.slots.get(&a.queue_offset));
                    if m.property(property::REAL_TOPIC) != Some(opts.topic.as_str())
                        || m.property(property::REAL_QUEUE_ID) != Some(a.queue.to_string().as_str())
                        || m.queue_offset != a.queue_offset
                    {
                        Some(format!(
                            "half record {:?}/{:?}@{}",
                            m.property(property::REAL_TOPIC),
                            m.property(property::REAL_QUEUE_ID),
                            m.queue_offset
                        ))
                    } else {
                        match half_slot {
                            Some(f) if f.commit_offset == a.commit_offset => None,
                            Some(f) => Some(format!(
                                "half queue slot points to CommitLog {} ({:?})",
                                f.commit_offset, f.seq
                            )),
                            None => Some("half queue has no such slot".to_string()),
                        }
                    }
                } else if a.delayed {
                    (m.property(property::REAL_TOPIC) != Some(opts.topic.as_str()) || m.queue_offset != a.queue_offset)
                        .then(|| {
                            format!(
                                "schedule record {:?}@{}",
                                m.property(property::REAL_TOPIC),
                                m.queue_offset
                            )
                        })
                } else if m.queue_id != a.queue || m.queue_offset != a.queue_offset {
                    Some(format!("CommitLog record says {}@{}", m.queue_id, m.queue_offset))
                } else {
                    match slot(a.queue, a.queue_offset) {
                        Some(f) if f.commit_offset == a.commit_offset => None,
                        Some(f) => Some(format!(
                            "ConsumeQueue slot points to CommitLog {} ({:?})",
                            f.commit_offset, f.seq
                        )),
                        None => Some("ConsumeQueue has no such slot".to_string()),
                    }
                }
            }
        };
        if let Some(p) = problem {
            view_mismatch += 1;
            log(format!(
                "view mismatch: seq {} acked at {}@{} CommitLog {}: {p}",
                a.seq, a.queue, a.queue_offset, a.commit_offset
            ));
        }
    }

    // Details of every missing acknowledged message (the first 50): what the CommitLog
    // holds at its offset, and what its ConsumeQueue slot holds.
    let by_seq: HashMap<u64, &Ack> = acks.iter().map(|a| (a.seq, a)).collect();
    let mut missing_detail = Vec::new();
    // How long before the next kill each missing message was acknowledged.
    let before_kill = |a: &Ack| {
        kill_times
            .get(a.epoch as usize)
            .map(|k| k.saturating_duration_since(a.at).as_millis() as i64)
    };
    let mut missing_by_kill: BTreeMap<u32, u64> = BTreeMap::new();
    let mut missing_max_ms_before_kill: Option<i64> = None;
    for seq in &verdict.missing_seqs {
        let a = by_seq[seq];
        *missing_by_kill.entry(a.epoch + 1).or_default() += 1;
        let ms = before_kill(a).unwrap_or(-1);
        missing_max_ms_before_kill = Some(missing_max_ms_before_kill.map_or(ms, |m| m.max(ms)));
    }
    for seq in verdict.missing_seqs.iter().take(50) {
        let a = by_seq[seq];
        let in_commit_log = match view(&conn, a.commit_offset).await? {
            Ok(m) => json!({"key": m.keys(), "topic": m.topic, "queue": m.queue_id, "queue_offset": m.queue_offset}),
            Err(e) => json!(e),
        };
        let cq = if a.tx.is_some() {
            match half_read.as_ref().and_then(|h| h.slots.get(&a.queue_offset)) {
                Some(f) => json!({"half_queue_slot_seq": f.seq, "commit_offset": f.commit_offset}),
                None => json!("half queue slot empty"),
            }
        } else if a.delayed {
            Value::Null
        } else {
            match slot(a.queue, a.queue_offset) {
                Some(f) => json!({"seq": f.seq, "commit_offset": f.commit_offset}),
                None => json!(format!(
                    "empty (queue max offset {})",
                    reads.get(a.queue as usize).map_or(-1, |r| r.max_offset)
                )),
            }
        };
        let copies_in_half_queue = half_read
            .as_ref()
            .map(|h| h.slots.values().filter(|f| f.seq == Some(a.seq)).count());
        let d = json!({"seq": a.seq, "delayed": a.delayed, "tx": a.tx.map(|d| format!("{d:?}")),
            "half_copies": copies_in_half_queue, "discarded": tx_discarded.contains(&a.seq),
            "queue": a.queue, "queue_offset": a.queue_offset,
            "commit_offset": a.commit_offset, "acked_after_kill": a.epoch,
            "ms_before_next_kill": before_kill(a),
            "commit_log_holds": in_commit_log, "consume_queue_slot_holds": cq});
        log(format!("missing: {d}"));
        if missing_detail.len() < 10 {
            missing_detail.push(d);
        }
    }

    // The half queue (transaction mode) is held to the same stored-offset and body checks.
    let gaps: u64 = reads.iter().chain(half_read.iter()).map(|r| r.gaps).sum();
    let offset_mismatch: u64 = reads.iter().chain(half_read.iter()).map(|r| r.offset_mismatch).sum();
    let body_mismatch: u64 = reads.iter().chain(half_read.iter()).map(|r| r.body_mismatch).sum();
    let deleted: Vec<(usize, i64)> = reads
        .iter()
        .enumerate()
        .filter_map(|(q, r)| r.starts_at.map(|s| (q, s)))
        .collect();
    let ok = deleted.is_empty()
        && verdict.acked > 0
        && verdict.missing == 0
        && verdict.shared_offsets == 0
        && verdict.misplaced == 0
        && verdict.rolled_back_visible == 0
        && offset_mismatch == 0
        && body_mismatch == 0
        && view_mismatch == 0;
    let mut summary = json!({
        "mode": opts.mode.name(),
        "kills": kills_done,
        "acked": verdict.acked,
        "missing": verdict.missing,
        "shared_offsets": verdict.shared_offsets,
        "duplicates": verdict.duplicates,
        "unacked_but_stored": verdict.unacked_but_stored,
        "duplicates_delayed": verdict.duplicates_delayed,
        "elapsed": (began.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "acked_delayed": verdict.acked_delayed,
        "missing_delayed": verdict.missing_delayed,
        "misplaced": verdict.misplaced,
        "offset_mismatch": offset_mismatch,
        "gaps": gaps,
        "body_mismatch": body_mismatch,
        "foreign": verdict.foreign,
        "stored": verdict.stored,
        "sequence_numbers": next_seq - 1,
        "requests": shared.requests.load(Ordering::Relaxed),
        "send_errors": errors,
        "viewed": sample.len(),
        "view_mismatch": view_mismatch,
        "restart_ms_max": restart_ms_max,
        "restart_ms_avg": if kills_done > 0 { restart_ms_total / kills_done as u128 } else { 0 },
        "commit_log_files": std::fs::read_dir(work.join("store/commitlog")).map(|d| d.count()).unwrap_or(0),
        "seed": seed,
        "ok": ok,
    });
    if opts.mode == Mode::Transaction {
        let half = half_read.as_ref();
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (k, val) in [
            ("acked_tx", json!(verdict.acked_tx)),
            ("acked_tx_commit", json!(verdict.acked_tx_commit)),
            ("acked_tx_rollback", json!(verdict.acked_tx_rollback)),
            ("missing_tx", json!(verdict.missing_tx)),
            ("duplicates_tx", json!(verdict.duplicates_tx)),
            ("rolled_back_visible", json!(verdict.rolled_back_visible)),
            ("tx_sent", json!(tx_seqs.len())),
            ("tx_ends", json!(n(&shared.tx_ends))),
            ("tx_ends_failed", json!(n(&shared.tx_ends_failed))),
            ("tx_checks", json!(n(&shared.tx_checks))),
            ("tx_check_commits", json!(n(&shared.tx_check_commits))),
            ("tx_check_rollbacks", json!(n(&shared.tx_check_rollbacks))),
            ("tx_check_foreign", json!(n(&shared.tx_check_foreign))),
            ("tx_check_answer_failed", json!(n(&shared.tx_check_answer_failed))),
            ("tx_discarded", json!(tx_discarded.len())),
            ("half_stored", json!(half.map_or(0, |h| h.slots.len()))),
            ("half_gaps", json!(half.map_or(0, |h| h.gaps))),
            ("half_offset_mismatch", json!(half.map_or(0, |h| h.offset_mismatch))),
            ("heartbeats", json!(n(&shared.heartbeats))),
            ("heartbeat_failures", json!(n(&shared.heartbeat_failures))),
            ("final_read_s", json!((read_wait_s * 10.0).round() / 10.0)),
        ] {
            summary[k] = val;
        }
        if !verdict.rolled_back_seqs.is_empty() {
            summary["rolled_back_detail"] = json!(verdict.rolled_back_seqs);
        }
    }
    if !deleted.is_empty() {
        summary["error"] = json!(format!(
            "the store deleted data (retention): queues start at {deleted:?} (queue, offset), so this run proves nothing"
        ));
    }
    if !verdict.shared_detail.is_empty() {
        summary["shared_detail"] = Value::from(verdict.shared_detail.clone());
    }
    if !missing_detail.is_empty() {
        // Kill number -> acknowledged messages lost in it (acknowledged after the previous
        // kill, gone after this one); a number past the last kill means after it.
        summary["missing_by_kill"] = json!(missing_by_kill);
        summary["missing_max_ms_before_kill"] = json!(missing_max_ms_before_kill);
        summary["missing_detail"] = Value::from(missing_detail);
    }
    drop(conn);
    drop(servers);
    if ok && !opts.keep {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        summary["work_dir"] = Value::from(work.display().to_string());
    }
    Ok((summary, ok))
}

#[tokio::main]
async fn main() {
    let opts = Opts::parse();
    match run(opts).await {
        Ok((summary, ok)) => {
            println!("{summary}");
            std::process::exit(if ok { 0 } else { 1 });
        }
        Err(e) => {
            log(format!("error: {e:#}"));
            println!("{}", json!({"error": format!("{e:#}"), "ok": false}));
            std::process::exit(2);
        }
    }
}
