//! `rmq-bench`: produce, consume and end-to-end load against any RocketMQ name server, over
//! our remoting client. Prints a line a second and a final JSON summary.

// The load generator shares the machine with the server: keep its own per-request
// allocations cheap (same allocator as the broker binaries).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod hiccup;
mod namesrv_scale;
mod report;
mod target;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use remoting::code::{request, response};
use remoting::header::broker::{
    pull_sys_flag, PullMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
};
use remoting::RemotingCommand;
use tokio::sync::Semaphore;

use report::Stats;
use target::{MessageQueue, Target};

#[derive(Parser)]
#[command(name = "rmq-bench", about = "Benchmark any RocketMQ-compatible broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Name server address
    #[arg(long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(long, default_value = "BenchTopic")]
    topic: String,
    /// Queues per broker when the topic has to be created
    #[arg(long, default_value_t = 8)]
    queues: i32,
    /// Stop after this many seconds
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Or after this many messages (0: no limit)
    #[arg(long, default_value_t = 0)]
    count: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Send as fast as the window allows
    Produce {
        #[command(flatten)]
        common: Common,
        /// Concurrent producers (tasks)
        #[arg(long, default_value_t = 1)]
        producers: usize,
        /// Message body size in bytes
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Requests each producer keeps in flight (1 = sync send)
        #[arg(long, default_value_t = 1)]
        window: usize,
        /// Messages per request (SEND_BATCH_MESSAGE when > 1)
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Spread the sends over this many topics, named <topic>-0 .. <topic>-(N-1), created
        /// when missing (1: the topic itself)
        #[arg(long, default_value_t = 1)]
        topics: usize,
    },
    /// Pull every queue from its start until all are caught up
    Consume {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "bench_cg")]
        group: String,
    },
    /// Produce at a fixed rate and measure send-to-receive latency
    E2e {
        #[command(flatten)]
        common: Common,
        /// Messages per second
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Seconds at the start whose messages are sent but not measured (connections,
        /// routes and queue files being set up)
        #[arg(long, default_value_t = 1)]
        warmup: u64,
        #[arg(long, default_value = "bench_e2e_cg")]
        group: String,
        /// Only the paced sends, no consumers: the broker's cost of a plain send at the
        /// same rate, to set the end-to-end cost against
        #[arg(long)]
        send_only: bool,
    },
    /// A name server at cluster scale: registration rounds and route lookups
    NamesrvScale {
        /// Name server address
        #[arg(long, default_value = "127.0.0.1:9876")]
        namesrv: String,
        #[arg(long, default_value_t = 100)]
        brokers: usize,
        /// Topics on every broker
        #[arg(long, default_value_t = 10_000)]
        topics: usize,
        #[arg(long, default_value_t = 8)]
        queues: i32,
        /// Re-registration rounds of each kind (changed and unchanged data version)
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        #[arg(long, default_value_t = 100_000)]
        lookups: u64,
        #[arg(long, default_value_t = 4)]
        lookup_connections: usize,
        /// The name server's pid, for its CPU time and resident memory
        #[arg(long)]
        pid: Option<u32>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Produce {
            common,
            producers,
            size,
            window,
            batch,
            topics,
        } => produce(common, producers, size, window, batch, topics).await,
        Command::Consume { common, group } => consume(common, group).await,
        Command::E2e {
            common,
            rate,
            size,
            warmup,
            group,
            send_only,
        } => e2e(common, rate, size, warmup, group, send_only).await,
        Command::NamesrvScale {
            namesrv,
            brokers,
            topics,
            queues,
            rounds,
            lookups,
            lookup_connections,
            pid,
        } => {
            namesrv_scale::run(namesrv_scale::Options {
                namesrv,
                brokers,
                topics,
                queues,
                rounds,
                lookups,
                lookup_connections,
                pid,
            })
            .await
        }
    }
}

fn send_request(mq: &MessageQueue, topic: &str, body: Bytes, batch: usize) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "bench_pg".into(),
        topic: topic.into(),
        default_topic: remoting::protocol::topic::AUTO_CREATE_TOPIC_KEY.into(),
        default_topic_queue_nums: 8,
        queue_id: mq.queue_id,
        sys_flag: 0,
        born_timestamp: remoting::protocol::topic::now_millis(),
        flag: 0,
        properties: (batch == 1).then(|| "WAIT\u{1}true".to_string()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(batch > 1),
        max_reconsume_times: None,
    };
    let code = if batch > 1 {
        request::SEND_BATCH_MESSAGE
    } else {
        request::SEND_MESSAGE_V2
    };
    RemotingCommand::request_with_header(code, &SendMessageRequestHeaderV2::from(&header)).with_body(body)
}

/// A batch body: `batch` entries in the client batch encoding.
fn batch_body(body: &[u8], batch: usize) -> Bytes {
    let mut out = Vec::with_capacity(batch * (body.len() + 22));
    for _ in 0..batch {
        let total = 4 + 4 + 4 + 4 + 4 + body.len() + 2;
        out.extend_from_slice(&(total as i32).to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes()); // magic, filled by the broker
        out.extend_from_slice(&0i32.to_be_bytes()); // body CRC, filled by the broker
        out.extend_from_slice(&0i32.to_be_bytes()); // flag
        out.extend_from_slice(&(body.len() as i32).to_be_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&0i16.to_be_bytes()); // no properties
    }
    out.into()
}

async fn produce(
    common: Common,
    producers: usize,
    size: usize,
    window: usize,
    batch: usize,
    topics: usize,
) -> anyhow::Result<()> {
    let names: Vec<String> = if topics <= 1 {
        vec![common.topic.clone()]
    } else {
        (0..topics).map(|i| format!("{}-{i}", common.topic)).collect()
    };
    let target = Arc::new(Target::connect_topics(&common.namesrv, &names, common.queues).await?);
    let stats = Arc::new(Stats::new(size));
    let body = Bytes::from(vec![b'x'; size]);
    let payload = if batch > 1 { batch_body(&body, batch) } else { body };
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let reporter = report::start(stats.clone(), "produce");
    let mut tasks = Vec::new();
    for p in 0..producers {
        let (target, stats, payload, stop, sent) = (
            target.clone(),
            stats.clone(),
            payload.clone(),
            stop.clone(),
            sent.clone(),
        );
        let limit = common.count;
        tasks.push(tokio::spawn(async move {
            let in_flight = Arc::new(Semaphore::new(window.max(1)));
            let mut i = p;
            while !stop.load(Ordering::Relaxed) {
                if limit > 0 && sent.fetch_add(batch as u64, Ordering::Relaxed) >= limit {
                    break;
                }
                let permit = in_flight.clone().acquire_owned().await.unwrap();
                let mq = target.queue(i).clone();
                i += producers;
                let req = send_request(&mq, &mq.topic, payload.clone(), batch);
                let (target, stats) = (target.clone(), stats.clone());
                tokio::spawn(async move {
                    timed_send(&target, &mq.broker_addr, req, &stats, batch as u64).await;
                    drop(permit);
                });
            }
            // Wait for this producer's requests in flight.
            let _ = in_flight.acquire_many(window.max(1) as u32).await;
        }));
    }
    // Until the duration passes or every producer has sent its share of --count.
    let all_done = futures_join(tasks);
    tokio::pin!(all_done);
    let finished = tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(common.duration)) => false,
        _ = &mut all_done => true,
    };
    stop.store(true, Ordering::Relaxed);
    if !finished {
        let _ = tokio::time::timeout(Duration::from_secs(10), all_done).await;
    }
    report::finish(
        reporter,
        &stats,
        "produce",
        serde_json::json!({"producers": producers, "size": size, "window": window, "batch": batch, "topics": topics}),
    );
    Ok(())
}

/// Sends one request and records its latency, or its error code (-1: no answer).
async fn timed_send(target: &Target, addr: &str, req: RemotingCommand, stats: &Stats, messages: u64) {
    let started = Instant::now();
    match target.invoke(addr, req).await {
        Ok(res) if res.code == response::SUCCESS => stats.ok(messages, started.elapsed()),
        Ok(res) => stats.error(res.code),
        Err(_) => stats.error(-1),
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

fn pull_request(group: &str, topic: &str, mq: &MessageQueue, offset: i64, suspend_ms: i64) -> RemotingCommand {
    let header = PullMessageRequestHeader {
        sys_flag: if suspend_ms > 0 {
            pull_sys_flag::SUSPEND | pull_sys_flag::SUBSCRIPTION
        } else {
            pull_sys_flag::SUBSCRIPTION
        },
        suspend_timeout_millis: suspend_ms,
        ..PullMessageRequestHeader::tags(group, topic, mq.queue_id, offset, 32, "*")
    };
    RemotingCommand::request_with_header(request::PULL_MESSAGE, &header)
}

async fn consume(common: Common, group: String) -> anyhow::Result<()> {
    let target = Arc::new(Target::connect(&common.namesrv, &common.topic, common.queues).await?);
    let stats = Arc::new(Stats::new(0));
    let reporter = report::start(stats.clone(), "consume");
    let deadline = Instant::now() + Duration::from_secs(common.duration.max(1) * 10);
    let mut tasks = Vec::new();
    for mq in target.queues().to_vec() {
        let (target, stats, group, topic) = (target.clone(), stats.clone(), group.clone(), common.topic.clone());
        tasks.push(tokio::spawn(async move {
            let end = target.max_offset(&mq, &topic).await.unwrap_or(0);
            let mut offset = 0;
            while offset < end && Instant::now() < deadline {
                let started = Instant::now();
                let Ok(res) = target
                    .invoke(&mq.broker_addr, pull_request(&group, &topic, &mq, offset, 0))
                    .await
                else {
                    stats.error(-1);
                    continue;
                };
                let next: i64 = res
                    .ext()
                    .get("nextBeginOffset")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(offset);
                if res.code == response::SUCCESS {
                    let n = store::decode_messages(&res.body).len() as u64;
                    stats.ok_bytes(n, res.body.len() as u64, started.elapsed());
                } else if res.code != response::PULL_NOT_FOUND {
                    stats.error(res.code);
                }
                if next <= offset {
                    break;
                }
                offset = next;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    report::finish(
        reporter,
        &stats,
        "consume",
        serde_json::json!({"queues": target.queues().len()}),
    );
    Ok(())
}

async fn e2e(
    common: Common,
    rate: u64,
    size: usize,
    warmup: u64,
    group: String,
    send_only: bool,
) -> anyhow::Result<()> {
    let target = Arc::new(Target::connect(&common.namesrv, &common.topic, common.queues).await?);
    // Latency is measured from a send time this process writes into the first 8 bytes of
    // each body (nanoseconds since `base`): the born timestamp has only millisecond
    // resolution, too coarse for a millisecond-scale p99.
    let base = Instant::now();
    // The consumers start 300 ms before the first send.
    let measure_from = (Duration::from_millis(300) + Duration::from_secs(warmup)).as_nanos() as u64;
    let stats = Arc::new(Stats::new(size));
    let send_stats = Arc::new(Stats::new(size));
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = report::start(stats.clone(), "e2e");

    let mut consumers = Vec::new();
    let consumed_queues = if send_only {
        Vec::new()
    } else {
        target.queues().to_vec()
    };
    for mq in consumed_queues {
        let (target, stats, group, topic, stop) = (
            target.clone(),
            stats.clone(),
            group.clone(),
            common.topic.clone(),
            stop.clone(),
        );
        consumers.push(tokio::spawn(async move {
            let mut offset = target.max_offset(&mq, &topic).await.unwrap_or(0);
            while !stop.load(Ordering::Relaxed) {
                let Ok(res) = target
                    .invoke(&mq.broker_addr, pull_request(&group, &topic, &mq, offset, 1000))
                    .await
                else {
                    continue;
                };
                if res.code == response::SUCCESS {
                    let now = base.elapsed().as_nanos() as u64;
                    for msg in store::decode_messages(&res.body) {
                        let sent_at = msg
                            .body
                            .get(..8)
                            .map_or(now, |b| u64::from_be_bytes(b.try_into().unwrap()));
                        if sent_at >= measure_from {
                            stats.ok(1, Duration::from_nanos(now.saturating_sub(sent_at)));
                        }
                    }
                }
                if let Some(next) = res.ext().get("nextBeginOffset").and_then(|v| v.parse().ok()) {
                    offset = next;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Paced sending: one tick per millisecond, each sending its share of the rate.
    let body = Bytes::from(vec![b'x'; size]);
    let started = Instant::now();
    let mut sent = 0u64;
    // How late a bare 1 ms sleep wakes up on this machine while the measured messages
    // are sent: the floor under the latencies measured over the same seconds.
    let mut pauses = None;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    while started.elapsed() < Duration::from_secs(common.duration) && (common.count == 0 || sent < common.count) {
        ticker.tick().await;
        if pauses.is_none() && base.elapsed().as_nanos() as u64 >= measure_from {
            pauses = Some(hiccup::PauseMeter::start());
        }
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let mq = target.queue(sent as usize).clone();
            let mut stamped = body.to_vec();
            let at = (base.elapsed().as_nanos() as u64).to_be_bytes();
            let n = stamped.len().min(8);
            stamped[..n].copy_from_slice(&at[..n]);
            let req = send_request(&mq, &common.topic, Bytes::from(stamped), 1);
            // Send-only: the measured sends are the row's messages, counted over the
            // same window as delivered messages otherwise.
            let measured = send_only && u64::from_be_bytes(at) >= measure_from;
            let (target, send_stats) = (
                target.clone(),
                if measured { stats.clone() } else { send_stats.clone() },
            );
            tokio::spawn(async move { timed_send(&target, &mq.broker_addr, req, &send_stats, 1).await });
            sent += 1;
        }
    }
    let pauses = pauses.map(hiccup::PauseMeter::finish);
    // The measured messages were sent after the warm-up; rates are over that window (which
    // --count may end early).
    let window = started
        .elapsed()
        .saturating_sub(Duration::from_secs(warmup))
        .as_secs_f64()
        .max(1e-3);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for c in consumers {
        let _ = tokio::time::timeout(Duration::from_secs(3), c).await;
    }
    report::finish_over(
        reporter,
        &stats,
        "e2e",
        serde_json::json!({"rate": rate, "size": size, "send_only": send_only, "sent": sent, "send_errors": send_stats.errors_json(),
            "send_latency": send_stats.latency_json(), "warmup_s": warmup, "pauses": pauses}),
        window,
    );
    Ok(())
}
