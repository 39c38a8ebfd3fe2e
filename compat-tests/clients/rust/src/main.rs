//! Compatibility-test driver for the stock crates.io `rocketmq-client-rust` 1.0 client
//! (mxsm/rocketmq-rust; remoting over TCP, JSON headers).
//!
//! ```text
//! rmq_client send         --namesrv H:P --topic T --group G --count N [--tags A,B] [--key-prefix k]
//!                         [--prop name=value ...] [--body-prefix s] [--send-timeout-ms MS] [--delay-level N]
//!                         [--prop-list name=v0,v1,... ...]   (message i gets v[i % len]; echoed as "props")
//!                         [--delay-sec S | --deliver-after-ms MS]   (5.x timer messages; the answer's
//!                         recall handle is echoed as "recall_handle")
//! rmq_client recall       --namesrv H:P --topic T --group G --handle H   (RECALL_MESSAGE)
//! rmq_client push-consume --namesrv H:P --topic T --group G --expect N [--expr 'A || B']
//!                         [--timeout SEC] [--idle SEC] [--from last|first] [--broadcast] [--threads N]
//!                         [--show-prop NAME ...] [--sql 'a BETWEEN 2 AND 5'] [--orderly [--hold-ms MS]]
//!                         [--batch-max N]
//! rmq_client send-orderly --namesrv H:P --topic T --group G --sequences N --per-seq M [--key-prefix k]
//! rmq_client send-transactional --namesrv H:P --topic T --group G --count N
//!                         [--plan commit,rollback,unknown-then-commit,unknown-then-rollback,unknown]
//!                         [--check-wait SEC] [--linger SEC]
//! rmq_client request      --namesrv H:P --topic T --group G --count N [--request-timeout-ms MS]
//! rmq_client reply-consumer --namesrv H:P --topic T --group G --expect N [--reply-prefix s]
//!                         [--timeout SEC] [--idle SEC]
//! rmq_client pull-consume --namesrv H:P --topic T --group G [--expr ..] [--expect N] [--timeout SEC]
//!                         [--batch N] [--show-prop NAME ...]
//! rmq_client pop-consume  --namesrv H:P --topic T --group G --expect N [--nack-prefix P]
//!                         [--invisible-ms MS] [--timeout SEC] [--idle SEC]
//! ```
//!
//! `send`, `push-consume` and `pull-consume` also take `--access-key AK --secret-key SK`: the
//! client's own ACL 1.0 hook (`AclClientRPCHook` with `SessionCredentials`) signs every request,
//! and `--heartbeat-v2` (the client's `useHeartbeatV2`: fingerprint-only heartbeats once the
//! broker says it supports them) with `--heartbeat-interval-ms MS` (default 30000).
//!
//! stdout carries only JSON lines (one object per message or error, flushed at once). Summaries,
//! warnings and the client's own `tracing` logs go to stderr (or to a file under `--log-dir`).
//! Exit: 0 ok, 1 not everything sent/received, 2 usage or start error.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(deprecated)]
use rocketmq_client_rust::{
    AclClientRPCHook, ClientConfig, ClientOptions, ClientResult, ClientRuntime, ClientRuntimeConfig,
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultMQProducer, DefaultMQPullConsumer,
    DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently, MessageSelector, PullStatus,
    SessionCredentials,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;
use serde_json::{json, Map, Value};

mod messaging;
mod pop;

// ------------------------------------------------------------------ output

static OUT_LOCK: Mutex<()> = Mutex::new(());

/// One JSON line on stdout, flushed.
fn emit(v: Value) {
    let _g = OUT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// Diagnostics (summaries, warnings) as JSON on stderr.
fn note(v: Value) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{v}");
    let _ = err.flush();
}

static STOP: AtomicBool = AtomicBool::new(false);

// --------------------------------------------------------------- arguments

const USAGE: &str = "usage: rmq_client {send|push-consume|pull-consume|send-orderly|send-transactional|request|reply-consumer|pop-consume|recall} --namesrv HOST:PORT --topic T --group G ...";
const MULTI: &[&str] = &["prop", "show-prop", "prop-list"];
const FLAGS: &[&str] = &["broadcast", "help", "orderly", "heartbeat-v2"];
const KNOWN: &[&str] = &[
    "namesrv",
    "topic",
    "group",
    "log-level",
    "log-dir",
    "instance-name",
    "count",
    "tags",
    "key-prefix",
    "prop",
    "prop-list",
    "body-prefix",
    "send-timeout-ms",
    "delay-level",
    "delay-sec",
    "deliver-after-ms",
    "handle",
    "expr",
    "expect",
    "timeout",
    "idle",
    "show-prop",
    "threads",
    "broadcast",
    "from",
    "batch",
    "help",
    "orderly",
    "sql",
    "hold-ms",
    "heartbeat-v2",
    "heartbeat-interval-ms",
    "batch-max",
    "sequences",
    "per-seq",
    "plan",
    "check-wait",
    "linger",
    "request-timeout-ms",
    "reply-prefix",
    "access-key",
    "secret-key",
    "nack-prefix",
    "invisible-ms",
];

struct Args {
    cmd: String,
    single: HashMap<String, String>,
    multi: HashMap<String, Vec<String>>,
    flags: Vec<String>,
}

impl Args {
    fn parse(argv: &[String]) -> Result<Args, String> {
        let cmd = argv.first().cloned().unwrap_or_default();
        let mut a = Args {
            cmd,
            single: HashMap::new(),
            multi: HashMap::new(),
            flags: vec![],
        };
        let mut i = 1;
        while i < argv.len() {
            let arg = &argv[i];
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg}"));
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) if !MULTI.contains(&n) && !FLAGS.contains(&n) => (n.to_string(), Some(v.to_string())),
                _ => (name.to_string(), None),
            };
            if !KNOWN.contains(&name.as_str()) {
                return Err(format!("unknown option --{name}"));
            }
            if FLAGS.contains(&name.as_str()) {
                a.flags.push(name);
                i += 1;
                continue;
            }
            let val = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    argv.get(i)
                        .cloned()
                        .ok_or_else(|| format!("missing value for --{name}"))?
                }
            };
            if MULTI.contains(&name.as_str()) {
                a.multi.entry(name).or_default().push(val);
            } else {
                a.single.insert(name, val);
            }
            i += 1;
        }
        Ok(a)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.single.get(k).map(String::as_str)
    }
    fn req(&self, k: &str) -> Result<&str, String> {
        self.get(k)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("--{k} is required"))
    }
    fn list(&self, k: &str) -> Vec<String> {
        self.multi.get(k).cloned().unwrap_or_default()
    }
    fn flag(&self, k: &str) -> bool {
        self.flags.iter().any(|f| f == k)
    }
    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T, String> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("bad --{k} {v:?}")),
        }
    }
    fn opt_num<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, String> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| format!("bad --{k} {v:?}")),
        }
    }
}

// ---------------------------------------------------------------- logging

fn init_logging(args: &Args) {
    use tracing_subscriber::EnvFilter;
    // --log-level (default warn, env RMQ_CLIENT_LOG_LEVEL); RUST_LOG, if set, wins.
    let level = args
        .get("log-level")
        .map(str::to_string)
        .or_else(|| std::env::var("RMQ_CLIENT_LOG_LEVEL").ok())
        .unwrap_or_else(|| "warn".into());
    let level = if level == "none" { "off".to_string() } else { level };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(true);
    let dir = args
        .get("log-dir")
        .map(str::to_string)
        .or_else(|| std::env::var("RMQ_CLIENT_LOG_DIR").ok());
    if let Some(dir) = dir {
        let path = std::path::Path::new(&dir).join(format!("rmq_client_rust_{}.log", std::process::id()));
        let file = std::fs::create_dir_all(&dir).and_then(|_| std::fs::File::create(&path));
        match file {
            Ok(f) => {
                let _ = builder.with_writer(Mutex::new(f)).try_init();
                return;
            }
            Err(e) => note(json!({"warning": format!("cannot open log file {}: {e}", path.display())})),
        }
    }
    let _ = builder.with_writer(std::io::stderr).try_init();
}

// ---------------------------------------------------------------- helpers

fn client_config(args: &Args) -> ClientConfig {
    let mut cfg = ClientConfig::default();
    if let Some(name) = args.get("instance-name") {
        cfg.set_instance_name(name.into());
    }
    cfg.set_namesrv_addr(args.get("namesrv").unwrap_or_default().into());
    // 5.x heartbeat v2: after a broker says it takes them, heartbeats whose fingerprint is
    // unchanged go without subscriptions.
    if args.flag("heartbeat-v2") {
        cfg.set_use_heartbeat_v2(true);
    }
    if let Some(ms) = args.get("heartbeat-interval-ms").and_then(|v| v.parse().ok()) {
        cfg.set_heartbeat_broker_interval(ms);
    }
    cfg
}

/// `--access-key` / `--secret-key`: the client's ACL hook, or None without them.
fn acl_hook(args: &Args) -> Result<Option<AclClientRPCHook>, String> {
    match (args.get("access-key"), args.get("secret-key")) {
        (None, None) => Ok(None),
        (Some(ak), Some(sk)) => Ok(Some(AclClientRPCHook::new(SessionCredentials::with_keys(ak, sk)))),
        _ => Err("--access-key and --secret-key go together".into()),
    }
}

fn msg_to_json(m: &MessageExt, show: &[String]) -> Value {
    let props = m.properties();
    let get = |k: &str| props.get(k).map(|v| v.to_string()).filter(|v| !v.is_empty());
    let mut properties = Map::new();
    if show.is_empty() {
        let mut keys: Vec<_> = props.keys().collect();
        keys.sort();
        for k in keys {
            properties.insert(k.to_string(), Value::String(props[k].to_string()));
        }
    } else {
        for k in std::iter::once(&"UNIQ_KEY".to_string()).chain(show.iter()) {
            if let Some(v) = get(k) {
                properties.insert(k.clone(), Value::String(v));
            }
        }
    }
    let offset_msg_id = m.msg_id().to_string();
    let body = m
        .body()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    json!({
        "topic": m.topic().to_string(),
        "tags": get("TAGS"),
        "keys": get("KEYS"),
        "body": body,
        // like the python driver (and Java's MessageClientExt.getMsgId): the UNIQ_KEY if there is one
        "msg_id": get("UNIQ_KEY").unwrap_or_else(|| offset_msg_id.clone()),
        "offset_msg_id": offset_msg_id,
        "queue_id": m.queue_id(),
        "queue_offset": m.queue_offset(),
        "reconsume_times": m.reconsume_times(),
        "born_timestamp": m.born_timestamp(),
        "store_timestamp": m.store_timestamp(),
        "commit_log_offset": m.commit_log_offset(),
        "store_size": m.store_size(),
        "properties": properties,
    })
}

/// The client's errors print only a catalog code and a generic text ("broker.operation.failed:
/// Broker operation failed"); add the broker response code and whatever the source chain says.
fn err_text(e: &rocketmq_client_rust::ClientError) -> String {
    let mut s = e.to_string();
    if let Some(code) = e.broker_response_code() {
        s.push_str(&format!(" (code {code})"));
    }
    let mut seen = vec![s.clone()];
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        let text = cause.to_string();
        if !text.is_empty() && !seen.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
            seen.push(text);
        }
        src = cause.source();
    }
    s
}

// -------------------------------------------------------------------- send

async fn cmd_send(args: &Args, rt: Arc<ClientRuntime>) -> Result<i32, String> {
    let count: u64 = args.num("count", 1)?;
    let tags: Vec<String> = args
        .get("tags")
        .map(|t| t.split(',').filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let body_prefix = args.get("body-prefix").unwrap_or("msg-").to_string();
    let timeout_ms: u64 = args.num("send-timeout-ms", 3000)?;
    let delay_level: i32 = args.num("delay-level", 0)?;
    let delay_sec: u64 = args.num("delay-sec", 0)?;
    let deliver_after_ms: u64 = args.num("deliver-after-ms", 0)?;
    let mut props = vec![];
    for kv in args.list("prop") {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => props.push((k.to_string(), v.to_string())),
            _ => return Err(format!("bad --prop {kv:?}, expected NAME=VALUE")),
        }
    }
    let mut prop_lists: Vec<(String, Vec<String>)> = vec![];
    for kv in args.list("prop-list") {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                prop_lists.push((k.to_string(), v.split(',').map(String::from).collect()))
            }
            _ => return Err(format!("bad --prop-list {kv:?}, expected NAME=V0,V1,...")),
        }
    }
    let topic = args.req("topic")?.to_string();

    let mut builder = DefaultMQProducer::builder(rt)
        .client_config(client_config(args))
        .name_server_addr(args.req("namesrv")?)
        .producer_group(args.req("group")?)
        .send_msg_timeout(timeout_ms as u32);
    if let Some(hook) = acl_hook(args)? {
        builder = builder.rpc_hook(Arc::new(hook));
    }
    let mut producer = builder.build();
    if let Err(e) = producer.start().await {
        emit(json!({"error": err_text(&e), "phase": "start"}));
        producer.shutdown().await;
        return Ok(2);
    }

    let mut ok = 0u64;
    for i in 0..count {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let mut b = Message::builder()
            .topic(topic.as_str())
            .body_slice(format!("{body_prefix}{i}").as_bytes());
        if !tags.is_empty() {
            b = b.tags(tags[(i as usize) % tags.len()].as_str());
        }
        if let Some(kp) = args.get("key-prefix") {
            b = b.key(format!("{kp}{i}"));
        }
        if delay_level > 0 {
            b = b.delay_level(delay_level);
        }
        if delay_sec > 0 {
            b = b.delay_secs(delay_sec);
        }
        if deliver_after_ms > 0 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            b = b.deliver_time_ms(now + deliver_after_ms);
        }
        let mut per_msg = Map::new();
        for (k, vals) in &prop_lists {
            let v = &vals[(i as usize) % vals.len()];
            per_msg.insert(k.clone(), Value::String(v.clone()));
        }
        let per_msg_props: Vec<(String, String)> = per_msg
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        for (k, v) in props.iter().chain(per_msg_props.iter()) {
            b = match b.raw_property(k.as_str(), v.as_str()) {
                Ok(b) => b,
                Err(e) => {
                    emit(json!({"error": format!("bad --prop {k}: {e}"), "phase": "args"}));
                    producer.shutdown().await;
                    return Ok(2);
                }
            };
        }
        let msg = match b.build() {
            Ok(m) => m,
            Err(e) => {
                emit(json!({"i": i, "error": format!("building message: {e}")}));
                continue;
            }
        };
        match producer.send_with_timeout(msg, timeout_ms).await {
            Ok(Some(r)) => {
                let status = serde_json::to_value(r.send_status).unwrap_or(Value::Null);
                if status == "SEND_OK" {
                    ok += 1;
                }
                let mut line = json!({
                    "i": i,
                    "status": status,
                    "msg_id": r.msg_id.as_ref().map(|s| s.to_string()),
                    "offset": r.queue_offset,
                    "queue_id": r.message_queue.as_ref().map(|q| q.queue_id()),
                    "offset_msg_id": r.offset_msg_id,
                    "recall_handle": r.recall_handle,
                });
                if !per_msg.is_empty() {
                    line["props"] = Value::Object(per_msg);
                }
                emit(line);
            }
            Ok(None) => emit(json!({"i": i, "error": "send returned no SendResult"})),
            Err(e) => emit(json!({"i": i, "error": err_text(&e)})),
        }
    }
    producer.shutdown().await;
    note(json!({"summary": "send", "sent_ok": ok, "requested": count}));
    Ok(if ok == count { 0 } else { 1 })
}

// ------------------------------------------------------------ push-consume

struct State {
    count: AtomicUsize,
    last: Mutex<Instant>,
}

struct Listener {
    state: Arc<State>,
    show: Vec<String>,
}

impl MessageListenerConcurrently for Listener {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        for m in msgs {
            emit(msg_to_json(m, &self.show));
            self.state.count.fetch_add(1, Ordering::SeqCst);
            *self.state.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

/// Waits until `progress` (messages received, time of the last one) reaches `expect` (and,
/// with `idle`, nothing more arrived for that many seconds), `timeout` seconds pass, or a
/// signal comes; says which.
pub(crate) async fn wait_for_messages(
    expect: usize,
    idle: Option<f64>,
    timeout: f64,
    progress: impl Fn() -> (usize, Instant),
) -> &'static str {
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        if STOP.load(Ordering::Relaxed) {
            return "signal";
        }
        let (n, last) = progress();
        if n >= expect {
            match idle {
                None => return "expected",
                Some(idle) if last.elapsed().as_secs_f64() >= idle => return "idle",
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            return "timeout";
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn cmd_push_consume(args: &Args, rt: Arc<ClientRuntime>) -> Result<i32, String> {
    let expect: usize = args.req("expect")?.parse().map_err(|_| "bad --expect".to_string())?;
    let timeout: f64 = args.num("timeout", 60.0)?;
    let idle: Option<f64> = args.opt_num("idle")?;
    let threads: Option<u32> = args.opt_num("threads")?;
    let expr = args.get("expr").unwrap_or("*").to_string();
    let sql = args.get("sql").map(str::to_string);
    let orderly = args.flag("orderly");
    let hold_ms: u64 = args.num("hold-ms", 0)?;
    let batch_max: Option<u32> = args.opt_num("batch-max")?;
    let from = match args.get("from").unwrap_or("last") {
        "last" => ConsumeFromWhere::ConsumeFromLastOffset,
        "first" => ConsumeFromWhere::ConsumeFromFirstOffset,
        other => return Err(format!("bad --from {other}, expected last|first")),
    };
    let model = if args.flag("broadcast") {
        MessageModel::Broadcasting
    } else {
        MessageModel::Clustering
    };
    let topic = args.req("topic")?.to_string();

    let state = Arc::new(State {
        count: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
    });
    // the orderly listener keeps its own counters
    let orderly_count = Arc::new(AtomicUsize::new(0));
    let orderly_last = Arc::new(Mutex::new(Instant::now()));
    let orderly_stats = Arc::new(messaging::OrderlyStats::default());
    let mut builder = DefaultMQPushConsumer::builder(rt)
        .client_config(client_config(args))
        .name_server_addr(args.req("namesrv")?)
        .consumer_group(args.req("group")?)
        .consume_from_where(from)
        .message_model(model);
    if let Some(hook) = acl_hook(args)? {
        builder = builder.rpc_hook(Some(Arc::new(hook)));
    }
    if let Some(n) = threads {
        builder = builder.consume_thread_min(n).consume_thread_max(n);
    }
    if let Some(n) = batch_max {
        builder = builder.consume_message_batch_max_size(n);
    }
    let mut consumer = builder.build();
    let started: ClientResult<()> = async {
        match &sql {
            Some(sql) => {
                consumer
                    .subscribe_with_selector(topic.as_str(), Some(MessageSelector::by_sql(sql.as_str())))
                    .await?
            }
            None => consumer.subscribe(topic.as_str(), expr.as_str()).await?,
        }
        if orderly {
            consumer.register_message_listener_orderly(messaging::OrderlyListener {
                stats: orderly_stats.clone(),
                count: orderly_count.clone(),
                last: orderly_last.clone(),
                show: args.list("show-prop"),
                hold: Duration::from_millis(hold_ms),
            });
        } else {
            consumer.register_message_listener_concurrently(Listener {
                state: state.clone(),
                show: args.list("show-prop"),
            });
        }
        consumer.start().await
    }
    .await;
    if let Err(e) = started {
        emit(json!({"error": err_text(&e), "phase": "start"}));
        consumer.shutdown().await;
        return Ok(2);
    }

    let reason = wait_for_messages(expect, idle, timeout, || {
        if orderly {
            (
                orderly_count.load(Ordering::SeqCst),
                *orderly_last.lock().unwrap_or_else(|e| e.into_inner()),
            )
        } else {
            (
                state.count.load(Ordering::SeqCst),
                *state.last.lock().unwrap_or_else(|e| e.into_inner()),
            )
        }
    })
    .await;

    let t0 = Instant::now();
    // persists the offsets (UPDATE_CONSUMER_OFFSET) and unregisters (UNREGISTER_CLIENT)
    if tokio::time::timeout(Duration::from_secs(20), consumer.shutdown())
        .await
        .is_err()
    {
        note(json!({"warning": "consumer shutdown timed out after 20s"}));
    }
    let n = if orderly {
        emit(orderly_stats.summary());
        orderly_count.load(Ordering::SeqCst)
    } else {
        state.count.load(Ordering::SeqCst)
    };
    note(
        json!({"summary": "push-consume", "received": n, "expected": expect, "stop_reason": reason,
                "shutdown_secs": (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0}),
    );
    Ok(if n >= expect { 0 } else { 1 })
}

// ------------------------------------------------------------ pull-consume

#[allow(deprecated)]
async fn cmd_pull_consume(args: &Args, rt: Arc<ClientRuntime>) -> Result<i32, String> {
    let expect: Option<usize> = args.opt_num("expect")?;
    let timeout: f64 = args.num("timeout", 60.0)?;
    let batch: i32 = args.num("batch", 32)?;
    let expr = args.get("expr").unwrap_or("*").to_string();
    let topic = args.req("topic")?.to_string();
    let show = args.list("show-prop");

    let mut cfg = client_config(args);
    cfg.set_namesrv_addr(args.req("namesrv")?.into());
    let mut builder = DefaultMQPullConsumer::builder(rt)
        .client_options(ClientOptions::legacy(cfg))
        .consumer_group(args.req("group")?);
    if let Some(hook) = acl_hook(args)? {
        builder = builder.rpc_hook(Arc::new(hook));
    }
    let consumer = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            emit(json!({"error": err_text(&e), "phase": "start"}));
            return Ok(2);
        }
    };
    if let Err(e) = consumer.start().await {
        emit(json!({"error": err_text(&e), "phase": "start"}));
        let _ = consumer.shutdown().await;
        return Ok(2);
    }

    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let mut total = 0usize;
    let mut rc = 0;
    let run = async {
        let mut queues = match consumer.fetch_subscribe_message_queues(&topic).await {
            Ok(q) => q,
            Err(e) => {
                emit(json!({"error": err_text(&e), "phase": "fetch-queues"}));
                return 1;
            }
        };
        queues.sort_by(|a, b| (a.broker_name().as_str(), a.queue_id()).cmp(&(b.broker_name().as_str(), b.queue_id())));
        if queues.is_empty() {
            emit(
                json!({"error": format!("no message queues for topic {topic} (no route info)"), "phase": "fetch-queues"}),
            );
            return 1;
        }
        note(
            json!({"queues": queues.iter().map(|q| json!({"broker": q.broker_name().to_string(), "queue_id": q.queue_id()})).collect::<Vec<_>>()}),
        );
        let mut rc = 0;
        for mq in &queues {
            let mut offset: i64 = 0;
            while !STOP.load(Ordering::Relaxed) {
                if Instant::now() >= deadline {
                    emit(json!({"error": "timeout while pulling", "queue_id": mq.queue_id(), "offset": offset}));
                    rc = 1;
                    break;
                }
                let res = match consumer.pull(mq, &expr, offset, batch).await {
                    Ok(r) => r,
                    Err(e) => {
                        emit(json!({"error": err_text(&e), "queue_id": mq.queue_id(), "offset": offset}));
                        rc = 1;
                        break;
                    }
                };
                let next = res.next_begin_offset() as i64;
                match res.pull_status() {
                    PullStatus::Found => {
                        for m in res.msg_found_list().unwrap_or_default() {
                            emit(msg_to_json(m, &show));
                            total += 1;
                        }
                        if next == offset {
                            break;
                        }
                        offset = next;
                    }
                    PullStatus::NoMatchedMsg => {
                        if next == offset {
                            break;
                        }
                        offset = next;
                    }
                    PullStatus::OffsetIllegal => {
                        note(
                            json!({"info": "OFFSET_ILLEGAL", "queue_id": mq.queue_id(), "offset": offset, "next": next,
                                    "min": res.min_offset(), "max": res.max_offset()}),
                        );
                        if next == offset {
                            break;
                        }
                        offset = next;
                    }
                    PullStatus::NoNewMsg => break,
                }
            }
        }
        rc
    };
    rc = rc.max(run.await);
    if let Err(e) = consumer.shutdown().await {
        note(json!({"warning": format!("pull consumer shutdown failed: {e}")}));
    }
    note(json!({"summary": "pull-consume", "received": total, "expected": expect}));
    if let Some(n) = expect {
        if total < n {
            rc = 1;
        }
    }
    Ok(rc)
}

// ------------------------------------------------------------------ recall

/// RECALL_MESSAGE through the producer: one line with the recalled message id or the error.
async fn cmd_recall(args: &Args, rt: Arc<ClientRuntime>) -> Result<i32, String> {
    let topic = args.req("topic")?.to_string();
    let handle = args.req("handle")?.to_string();
    let mut producer = DefaultMQProducer::builder(rt)
        .client_config(client_config(args))
        .name_server_addr(args.req("namesrv")?)
        .producer_group(args.req("group")?)
        .build();
    if let Err(e) = producer.start().await {
        emit(json!({"error": err_text(&e), "phase": "start"}));
        producer.shutdown().await;
        return Ok(2);
    }
    let rc = match producer.recall_message(topic.as_str(), handle.as_str()).await {
        Ok(id) => {
            emit(json!({"recalled": id}));
            0
        }
        Err(e) => {
            emit(json!({"error": err_text(&e)}));
            1
        }
    };
    producer.shutdown().await;
    Ok(rc)
}

// -------------------------------------------------------------------- main

async fn run(args: &Args, rt: Arc<ClientRuntime>) -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        for kind in [SignalKind::terminate(), SignalKind::interrupt()] {
            if let Ok(mut s) = signal(kind) {
                tokio::spawn(async move {
                    if s.recv().await.is_some() {
                        STOP.store(true, Ordering::SeqCst);
                    }
                });
            }
        }
    }
    let res = match args.cmd.as_str() {
        "send" => cmd_send(args, rt).await,
        "push-consume" => cmd_push_consume(args, rt).await,
        "pull-consume" => cmd_pull_consume(args, rt).await,
        "send-orderly" => messaging::cmd_send_orderly(args, rt).await,
        "send-transactional" => messaging::cmd_send_transactional(args, rt).await,
        "request" => messaging::cmd_request(args, rt).await,
        "reply-consumer" => messaging::cmd_reply_consumer(args, rt).await,
        "pop-consume" => pop::cmd_pop_consume(args, rt).await,
        "recall" => cmd_recall(args, rt).await,
        _ => unreachable!(),
    };
    match res {
        Ok(rc) => rc,
        Err(usage) => {
            emit(json!({"error": format!("usage: {usage}"), "phase": "args"}));
            2
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match Args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            emit(json!({"error": format!("usage: {e}"), "phase": "args"}));
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if args.cmd.is_empty() || args.flag("help") || args.cmd == "--help" || args.cmd == "-h" {
        eprintln!("{USAGE}");
        std::process::exit(if args.cmd.is_empty() { 2 } else { 0 });
    }
    if !matches!(
        args.cmd.as_str(),
        "send"
            | "push-consume"
            | "pull-consume"
            | "send-orderly"
            | "send-transactional"
            | "request"
            | "reply-consumer"
            | "pop-consume"
            | "recall"
    ) {
        emit(json!({"error": format!("unknown subcommand {}", args.cmd), "phase": "args"}));
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
    for req in ["namesrv", "topic", "group"] {
        if args.get(req).is_none_or(str::is_empty) {
            emit(json!({"error": format!("usage: --{req} is required"), "phase": "args"}));
            std::process::exit(2);
        }
    }
    init_logging(&args);

    let owner = match rocketmq_runtime::RuntimeOwner::new() {
        Ok(o) => o,
        Err(e) => {
            emit(json!({"error": format!("cannot create runtime: {e}"), "phase": "start"}));
            std::process::exit(2);
        }
    };
    let telemetry = rocketmq_observability::TelemetryRuntimeGuard::noop();
    let client_runtime = match ClientRuntime::try_new(
        owner.root_context().component("rmq-client-driver"),
        ClientRuntimeConfig::default(),
        telemetry.handle(),
    ) {
        Ok(r) => r,
        Err(e) => {
            emit(json!({"error": format!("cannot create client runtime: {e}"), "phase": "start"}));
            std::process::exit(2);
        }
    };
    let rc = owner.block_on(async {
        let rc = run(&args, client_runtime.clone()).await;
        let report = tokio::time::timeout(Duration::from_secs(10), client_runtime.shutdown()).await;
        match report {
            Ok(r) if !r.is_healthy() => {
                note(json!({"warning": "client runtime shutdown not clean", "report": r.to_json()}))
            }
            Err(_) => note(json!({"warning": "client runtime shutdown timed out"})),
            _ => {}
        }
        rc
    });
    let _ = owner.shutdown_runtime_blocking_with_timeout(Duration::from_secs(5));
    let _ = std::io::stdout().flush();
    // Exit hard, like the python driver: a finished run must never hang the test on a
    // lingering background task.
    std::process::exit(rc);
}
