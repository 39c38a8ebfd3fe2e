//! `rmq-bench namesrv-scale`: a name server at cluster scale. Many brokers, each serving the
//! same topics, register (each over its own connection, as brokers do); then rounds of
//! re-registration, all brokers at once, with the data version changed and unchanged (the
//! 30 s refresh of a broker with `forceRegister`, Java's default); then route lookups from
//! several connections. With `--pid`, the name server's CPU time (from /proc) is read
//! around each phase and its resident memory after registration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use remoting::code::{request, response};
use remoting::header::namesrv::RegisterBrokerRequestHeader;
use remoting::protocol::register::{body_crc32, RegisterBrokerBody};
use remoting::protocol::topic::{DataVersion, TopicConfig};
use remoting::{Connection, RemotingCommand};

use crate::target::open;

const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Options {
    pub namesrv: String,
    pub brokers: usize,
    pub topics: usize,
    pub queues: i32,
    pub rounds: usize,
    pub lookups: u64,
    pub lookup_connections: usize,
    pub pid: Option<u32>,
}

/// CPU seconds (user + system) of process `pid` so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / CLOCK_TICKS_PER_SECOND)
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Resident set of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

struct Broker {
    conn: Connection,
    header: RegisterBrokerRequestHeader,
    body: RegisterBrokerBody,
}

impl Broker {
    fn request(&self) -> RemotingCommand {
        let bytes = self.body.encode(false);
        let mut header = self.header.clone();
        header.body_crc32 = Some(body_crc32(&bytes));
        RemotingCommand::request_with_header(request::REGISTER_BROKER, &header).with_body(bytes)
    }
}

/// One registration of every broker at once; the wall time from the first request to the
/// last answer.
async fn round(brokers: &[Arc<Broker>]) -> anyhow::Result<Duration> {
    // Bodies are encoded before the clock starts: only the name server's part is timed.
    let requests: Vec<RemotingCommand> = brokers.iter().map(|b| b.request()).collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (b, req) in brokers.iter().zip(requests) {
        let b = b.clone();
        tasks.push(tokio::spawn(async move { b.conn.request(req, TIMEOUT).await }));
    }
    for t in tasks {
        let answer = t.await??;
        if answer.code != response::SUCCESS {
            bail!("registration refused: {} {:?}", answer.code, answer.remark);
        }
    }
    Ok(start.elapsed())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    let version = DataVersion::now();
    let mut brokers = Vec::new();
    for i in 0..o.brokers {
        let mut body = RegisterBrokerBody::default();
        body.topic_config_serialize_wrapper.data_version = version.clone();
        for t in 0..o.topics {
            let name = format!("ScaleTopic{t:06}");
            body.topic_config_serialize_wrapper
                .topic_config_table
                .insert(name.clone(), TopicConfig::new(&name, o.queues, o.queues, 6));
        }
        let header = RegisterBrokerRequestHeader {
            broker_name: format!("scale-broker-{i:03}"),
            broker_addr: format!("10.{}.{}.{}:10911", i / 65536, (i / 256) % 256, i % 256),
            cluster_name: "ScaleCluster".into(),
            ha_server_addr: String::new(),
            broker_id: 0,
            compressed: Some(false),
            body_crc32: None,
            heartbeat_timeout_millis: Some(600_000),
            enable_acting_master: None,
        };
        let conn = open(&o.namesrv).await.context("connecting to the name server")?;
        brokers.push(Arc::new(Broker { conn, header, body }));
    }
    let body_bytes = brokers[0].body.encode(false).len();
    let cpu = || o.pid.and_then(cpu_seconds);

    let cpu0 = cpu();
    let first = round(&brokers).await?;
    let cpu1 = cpu();
    let rss = o.pid.and_then(rss_kib);
    println!(
        "first registration: {} brokers x {} topics ({} KiB body each) in {:.3} s",
        o.brokers,
        o.topics,
        body_bytes / 1024,
        first.as_secs_f64()
    );

    let mut changed_s = Vec::new();
    let mut changed_cpu = Vec::new();
    let mut unchanged_s = Vec::new();
    let mut unchanged_cpu = Vec::new();
    for _ in 0..o.rounds {
        for b in &mut brokers {
            let b = Arc::get_mut(b).expect("no round in flight");
            b.body.topic_config_serialize_wrapper.data_version.counter += 1;
        }
        let c0 = cpu();
        changed_s.push(round(&brokers).await?.as_secs_f64());
        if let (Some(a), Some(b)) = (c0, cpu()) {
            changed_cpu.push(b - a);
        }
        let c0 = cpu();
        unchanged_s.push(round(&brokers).await?.as_secs_f64());
        if let (Some(a), Some(b)) = (c0, cpu()) {
            unchanged_cpu.push(b - a);
        }
    }

    // Lookups of random topics (a fixed LCG, so every run asks the same sequence).
    let per_conn = o.lookups / o.lookup_connections as u64;
    let mut conns = Vec::new();
    for _ in 0..o.lookup_connections {
        conns.push(open(&o.namesrv).await?);
    }
    let c0 = cpu();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (n, conn) in conns.into_iter().enumerate() {
        let topics = o.topics as u64;
        tasks.push(tokio::spawn(async move {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ n as u64;
            for _ in 0..per_conn {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let mut ask = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
                ask.ext_mut()
                    .insert("topic", format!("ScaleTopic{:06}", (x >> 33) % topics));
                let answer = conn.request(ask, TIMEOUT).await?;
                if answer.code != response::SUCCESS {
                    bail!("lookup failed: {} {:?}", answer.code, answer.remark);
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let lookup_secs = start.elapsed().as_secs_f64();
    let lookup_cpu = c0.zip(cpu()).map(|(a, b)| b - a);
    let lookups = per_conn * o.lookup_connections as u64;
    let rss_end = o.pid.and_then(rss_kib);

    let changed = median(changed_s);
    let unchanged = median(unchanged_s);
    println!(
        "re-registration round, data version changed: {changed:.3} s (median of {})",
        o.rounds
    );
    println!("re-registration round, data version unchanged: {unchanged:.3} s");
    println!(
        "route lookups: {:.0}/s over {} connections{}",
        lookups as f64 / lookup_secs,
        o.lookup_connections,
        lookup_cpu.map_or(String::new(), |c| format!(", {:.0} per CPU second", lookups as f64 / c))
    );
    if let Some(kib) = rss {
        println!(
            "resident after the first registration: {} MiB, {:.0} bytes per topic-and-broker entry",
            kib / 1024,
            kib as f64 * 1024.0 / (o.brokers * o.topics) as f64
        );
    }
    if let Some(kib) = rss_end {
        println!("resident at the end: {} MiB", kib / 1024);
    }
    let summary = serde_json::json!({
        "brokers": o.brokers,
        "topics": o.topics,
        "body_bytes": body_bytes,
        "first_round_s": first.as_secs_f64(),
        "first_round_cpu_s": cpu0.zip(cpu1).map(|(a, b)| b - a),
        "changed_round_s": changed,
        "changed_round_cpu_s": (!changed_cpu.is_empty()).then(|| median(changed_cpu)),
        "unchanged_round_s": unchanged,
        "unchanged_round_cpu_s": (!unchanged_cpu.is_empty()).then(|| median(unchanged_cpu)),
        "lookups_per_s": lookups as f64 / lookup_secs,
        "lookups_per_cpu_s": lookup_cpu.map(|c| lookups as f64 / c),
        "rss_kib_after_registration": rss,
        "rss_kib_at_end": rss_end,
    });
    println!("{summary}");
    Ok(())
}
