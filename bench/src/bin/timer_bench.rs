//! `timer-bench`: how fast the broker takes and delivers timer messages, and what a
//! pending timer costs in memory. Starts the `broker` binary on a scratch store, sends
//! `--count` messages with `TIMER_DELIVER_MS` all due within `--spread-secs` after
//! `--delay-secs`, and measures over TCP:
//!
//! - send rate (acknowledged timer sends per second),
//! - filing rate (the timer checkpoint's queue offset, GET_TIMER_CHECK_POINT, reaching the
//!   count: messages put in the wheel per second),
//! - the broker's memory (VmRSS, RssAnon, RssFile from /proc) before the sends and once
//!   every timer is filed and none is due yet, per million pending timers,
//! - delivery rate (the topic's max offsets growing from the first delivery to the last)
//!   and how late the last one came.
//!
//! Prints one JSON object.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use remoting::code::{request, response};
use remoting::header::broker::{CreateTopicRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2};
use remoting::{Connection, RemotingCommand};

#[derive(Parser)]
#[command(name = "timer-bench")]
struct Cli {
    /// The broker binary to start
    #[arg(long)]
    broker: std::path::PathBuf,
    /// Timer messages to send
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// First messages due this long after the sends start
    #[arg(long, default_value_t = 90)]
    delay_secs: u64,
    /// Due times spread over this many seconds
    #[arg(long, default_value_t = 10)]
    spread_secs: u64,
    /// Connections to send over
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Sends in flight per connection
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Body size in bytes
    #[arg(long, default_value_t = 64)]
    body: usize,
    #[arg(long, default_value = "TimerBench")]
    topic: String,
    #[arg(long, default_value_t = 8)]
    queues: i32,
    /// Send as many plain messages before measuring the baseline memory
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    warmup: bool,
}

fn now_ms() -> i64 {
    remoting::protocol::topic::now_millis()
}

/// (VmRSS, RssAnon, RssFile) in KiB.
fn memory(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("RssAnon:"), field("RssFile:"))
}

async fn connect(addr: &str) -> anyhow::Result<Connection> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    Ok(Connection::spawn(
        stream,
        Arc::new(remoting::connection::IgnoreRequests),
        remoting::frame::DEFAULT_MAX_FRAME_LENGTH,
        tokio_util::sync::CancellationToken::new(),
    )?)
}

async fn ask(conn: &Connection, req: RemotingCommand) -> anyhow::Result<RemotingCommand> {
    Ok(conn.request(req, Duration::from_secs(30)).await?)
}

async fn max_offsets(conn: &Connection, topic: &str, queues: i32) -> anyhow::Result<i64> {
    let mut total = 0;
    for q in 0..queues {
        let mut req = RemotingCommand::request(request::GET_MAX_OFFSET);
        req.ext_mut().insert("topic", topic);
        req.ext_mut().insert("queueId", q.to_string());
        let a = ask(conn, req).await?;
        total += a.ext().get("offset").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    }
    Ok(total)
}

/// The timer checkpoint's queue offset (messages filed so far).
async fn filed(conn: &Connection) -> anyhow::Result<i64> {
    let a = ask(conn, RemotingCommand::request(request::GET_TIMER_CHECK_POINT)).await?;
    if a.code != response::SUCCESS || a.body.len() < 24 {
        bail!("GET_TIMER_CHECK_POINT: {} {:?}", a.code, a.remark);
    }
    Ok(i64::from_be_bytes(a.body[16..24].try_into().unwrap()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let dir = std::env::temp_dir().join(format!("timer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let port = loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let p = l.local_addr()?.port();
        if p > 1024 && p < 65000 {
            break p;
        }
    };
    let log = std::fs::File::create(dir.join("broker.log"))?;
    let mut child = tokio::process::Command::new(&cli.broker)
        .env("RUST_LOG", "warn")
        .env_remove("NAMESRV_ADDR")
        .args(["-D", "brokerName=timer-bench", "-D", "brokerIP1=127.0.0.1"])
        .arg("-D")
        .arg(format!("listenPort={port}"))
        .arg("-D")
        .arg(format!("storePathRootDir={}", dir.join("store").display()))
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("starting the broker")?;
    let pid = child.id().unwrap_or(0);
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let admin = loop {
        if let Ok(c) = connect(&addr).await {
            break c;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the broker did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let create = CreateTopicRequestHeader::read_write(cli.topic.clone(), cli.queues);
    let a = ask(
        &admin,
        RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &create),
    )
    .await?;
    if a.code != response::SUCCESS {
        bail!("creating the topic: {:?}", a.remark);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Warm-up: as many plain messages first, so the baseline already holds whatever the
    // broker keeps for a load of sends (connections, buffers, allocator caches) and the
    // difference below is what the pending timers cost.
    if cli.warmup {
        send_all(&cli, &addr, &format!("{}Warmup", cli.topic), None).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let base = memory(pid);

    // Send.
    let t0 = now_ms();
    let first_due = t0 + cli.delay_secs as i64 * 1000;
    let spread = (cli.spread_secs * 1000).max(1) as i64;
    let send_start = Instant::now();
    let failed = send_all(&cli, &addr, &cli.topic, Some((first_due, spread))).await?;
    let send_secs = send_start.elapsed().as_secs_f64();
    let sent = cli.count - failed;

    // Filed in the wheel.
    let filed_at = loop {
        if filed(&admin).await? >= sent as i64 {
            break send_start.elapsed().as_secs_f64();
        }
        if now_ms() >= first_due {
            bail!("not every timer was filed before the first came due; use a longer --delay-secs");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pending = memory(pid);
    let store = dir.join("store");
    let dir_size = |p: std::path::PathBuf| -> u64 {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| {
                        use std::os::unix::fs::MetadataExt;
                        m.blocks() * 512
                    })
                    .sum()
            })
            .unwrap_or(0)
    };
    let timerlog_bytes = dir_size(store.join("timerlog"));
    let timerlog_written = sent * store::timer::UNIT_SIZE as u64;
    let before_due_ms = first_due - now_ms();

    // Deliveries.
    let mut first_delivery = None;
    let last_due = first_due + spread;
    let deadline = Instant::now() + Duration::from_secs(cli.delay_secs + cli.spread_secs + 600);
    let (delivered_secs, last_ms) = loop {
        let n = max_offsets(&admin, &cli.topic, cli.queues).await?;
        if n > 0 && first_delivery.is_none() {
            first_delivery = Some((Instant::now(), now_ms()));
        }
        if n >= sent as i64 {
            let (at, _) = first_delivery.unwrap();
            break (at.elapsed().as_secs_f64(), now_ms());
        }
        if Instant::now() > deadline {
            bail!("only {n} of {sent} delivered");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let first_ms = first_delivery.map(|(_, ms)| ms).unwrap_or(0);
    let after = memory(pid);
    let per_million = |a: u64, b: u64| (a as f64 - b as f64) / 1024.0 * 1_000_000.0 / sent as f64;
    let summary = serde_json::json!({
        "count": sent,
        "failedSends": failed,
        "bodyBytes": cli.body,
        "sendSeconds": send_secs,
        "sendsPerSecond": sent as f64 / send_secs,
        "filedSeconds": filed_at,
        "filedPerSecond": sent as f64 / filed_at,
        "msBeforeFirstDueWhenAllFiled": before_due_ms,
        "rssKiB": {"base": base.0, "pending": pending.0, "afterDelivery": after.0},
        "rssAnonKiB": {"base": base.1, "pending": pending.1, "afterDelivery": after.1},
        "rssFileKiB": {"base": base.2, "pending": pending.2, "afterDelivery": after.2},
        "pendingMiBPerMillion": {
            "rss": per_million(pending.0, base.0),
            "anon": per_million(pending.1, base.1),
            "file": per_million(pending.2, base.2),
        },
        "timerlogFileBytes": timerlog_bytes,
        "timerlogRecordBytes": timerlog_written,
        "firstDeliveryMsAfterFirstDue": first_ms - first_due,
        "deliverySeconds": delivered_secs,
        "deliveredPerSecond": sent as f64 / delivered_secs.max(0.001),
        "lastDeliveryMsAfterLastDue": last_ms - last_due,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Sends `--count` messages to `topic` over `--connections` x `--window` concurrent
/// requests; with `timer = (first_due, spread)` each carries a TIMER_DELIVER_MS in that
/// range. The number of failed sends.
async fn send_all(cli: &Cli, addr: &str, topic: &str, timer: Option<(i64, i64)>) -> anyhow::Result<u64> {
    let body = bytes::Bytes::from(vec![b'x'; cli.body]);
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..cli.connections {
        let conn = Arc::new(connect(addr).await?);
        for w in 0..cli.window {
            let (conn, next, failed, body, topic) = (
                conn.clone(),
                next.clone(),
                failed.clone(),
                body.clone(),
                topic.to_string(),
            );
            let (count, queues) = (cli.count, cli.queues);
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return;
                    }
                    let timer_prop = match timer {
                        Some((first_due, spread)) => {
                            format!("TIMER_DELIVER_MS\u{1}{}\u{2}", first_due + (i as i64 * 7919) % spread)
                        }
                        None => String::new(),
                    };
                    let header = SendMessageRequestHeader {
                        producer_group: "timer_bench".into(),
                        topic: topic.clone(),
                        default_topic: "TBW102".into(),
                        default_topic_queue_nums: 4,
                        queue_id: ((i as usize + c + w) % queues as usize) as i32,
                        sys_flag: 0,
                        born_timestamp: now_ms(),
                        flag: 0,
                        properties: Some(format!("{timer_prop}UNIQ_KEY\u{1}B{i:031X}\u{2}WAIT\u{1}false\u{2}")),
                        reconsume_times: Some(0),
                        unit_mode: Some(false),
                        batch: Some(false),
                        max_reconsume_times: None,
                    };
                    let req = RemotingCommand::request_with_header(
                        request::SEND_MESSAGE_V2,
                        &SendMessageRequestHeaderV2::from(&header),
                    )
                    .with_body(body.clone());
                    match conn.request(req, Duration::from_secs(30)).await {
                        Ok(a) if a.code == response::SUCCESS => {}
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await?;
    }
    Ok(failed.load(Ordering::Relaxed))
}
