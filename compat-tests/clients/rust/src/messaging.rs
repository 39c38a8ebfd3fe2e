//! Subcommands for messaging semantics: orderly sends (a queue selector by sharding key),
//! transactional sends (COMMIT / ROLLBACK / UNKNOW with check-back), request-reply (a
//! requester and a replying consumer), and the orderly push listener used by
//! `push-consume --orderly`.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketmq_client_rust::{
    ClientResult, ClientRuntime, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, ConsumeOrderlyContext,
    ConsumeOrderlyStatus, DefaultMQProducer, DefaultMQPushConsumer, LocalTransactionState, MQPushConsumer,
    MessageListenerConcurrently, MessageListenerOrderly, MessageUtil, TransactionListener, TransactionMQProducer,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_queue::MessageQueue;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;
use serde_json::{json, Map, Value};

use crate::{client_config, emit, err_text, msg_to_json, note, Args, STOP};

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn user_props(args: &Args) -> Result<Vec<(String, String)>, String> {
    let mut props = vec![];
    for kv in args.list("prop") {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => props.push((k.to_string(), v.to_string())),
            _ => return Err(format!("bad --prop {kv:?}, expected NAME=VALUE")),
        }
    }
    Ok(props)
}

fn send_result_json(r: &rocketmq_client_rust::SendResult) -> Value {
    json!({
        "status": serde_json::to_value(r.send_status).unwrap_or(Value::Null),
        "msg_id": r.msg_id.as_ref().map(|s| s.to_string()),
        "offset": r.queue_offset,
        "queue_id": r.message_queue.as_ref().map(|q| q.queue_id()),
        "offset_msg_id": r.offset_msg_id,
        "transaction_id": r.transaction_id,
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
    a
}

// ------------------------------------------------------------ send-orderly

/// `send-orderly --sequences N --per-seq M`: message `idx` of sequence `seq` carries the
/// properties `seq` and `idx`, the key `{key-prefix}{seq}` and the body `{body-prefix}{seq}:{idx}`;
/// a selector puts every message of one sequence on queue `seq % queues`. Messages are sent
/// round-robin over the sequences (idx 0 of every sequence, then idx 1, ...).
pub async fn cmd_send_orderly(args: &Args, rt: Arc<ClientRuntime>) -> Result<i32, String> {
    let sequences: u32 = args.num("sequences", 8)?;
    let per_seq: u32 = args.num("per-seq", 10)?;
    let timeout_ms: u64 = args.num("send-timeout-ms", 3000)?;
    let key_prefix = args.get("key-prefix").unwrap_or("seq-").to_string();
    let body_prefix = args.get("body-prefix").unwrap_or("").to_string();
    let tags = args.get("tags").map(str::to_string);
    let props = user_props(args)?;
    let topic = args.req("topic")?.to_string();

    let mut producer = DefaultMQProducer::builder(rt)
        .client_config(client_config(args))
        .name_server_addr(args.req("namesrv")?)
        .producer_group(args.req("group")?)
        .send_msg_timeout(timeout_ms as u32)
        .build();
    if let Err(e) = producer.start().await {
        emit(json!({"error": err_text(&e), "phase": "start"}));
        producer.shutdown().await;
        return Ok(2);
    }
    let mut ok = 0u64;
    let total = sequences as u64 * per_seq as u64;
    'outer: for idx in 0..per_seq {
        for seq in 0..sequences {
            if STOP.load(Ordering::Relaxed) {
                break 'outer;
            }
            let mut b = Message::builder()
                .topic(topic.as_str())
                .key(format!("{key_prefix}{seq}"))
                .body_slice(format!("{body_prefix}{seq}:{idx}").as_bytes());
            if let Some(t) = &tags {
                b = b.tags(t.as_str());
            }
            let mut all = vec![
                ("seq".to_string(), seq.to_string()),
                ("idx".to_string(), idx.to_string()),
            ];
            all.extend(props.iter().cloned());
            for (k, v) in &all {
                b = b
                    .raw_property(k.as_str(), v.as_str())
                    .map_err(|e| format!("bad property {k}: {e}"))?;
            }
            let msg = match b.build() {
                Ok(m) => m,
                Err(e) => {
                    emit(json!({"seq": seq, "idx": idx, "error": format!("building message: {e}")}));
                    continue;
                }
            };
            let res = producer
                .send_with_selector_timeout(
                    msg,
                    |mqs: &[MessageQueue], _m: &Message, seq: &u32| {
                        if mqs.is_empty() {
                            None
                        } else {
                            Some(mqs[*seq as usize % mqs.len()].clone())
                        }
                    },
                    seq,
                    timeout_ms,
                )
                .await;
            match res {
                Ok(Some(r)) => {
                    let line = merge(json!({"seq": seq, "idx": idx}), send_result_json(&r));
                    if line["status"] == "SEND_OK" {
                        ok += 1;
                    }
                    emit(line);
                }
                Ok(None) => emit(json!({"seq": seq, "idx": idx, "error": "send returned no SendResult"})),
                Err(e) => emit(json!({"seq": seq, "idx": idx, "error": err_text(&e)})),
            }
        }
    }
    producer.shutdown().await;
    note(json!({"summary": "send-orderly", "sent_ok": ok, "requested": total}));
    Ok(if ok == total { 0 } else { 1 })
}

// ------------------------------------------------------- orderly listener

/// Per-queue bookkeeping for the orderly listener: callbacks in flight right now, the most
/// ever seen at one callback's entry, and each callback's interval.
#[derive(Default)]
pub struct OrderlyStats {
    in_flight: Mutex<HashMap<String, usize>>,
    max_in_flight: Mutex<HashMap<String, usize>>,
    total_in_flight: AtomicUsize,
    max_total_in_flight: AtomicUsize,
    callbacks: AtomicU64,
    recv_seq: AtomicU64,
}

impl OrderlyStats {
    pub fn summary(&self) -> Value {
        let max = self.max_in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let mut per_queue = Map::new();
        let mut keys: Vec<_> = max.keys().cloned().collect();
        keys.sort();
        for k in keys {
            per_queue.insert(k.clone(), Value::from(max[&k]));
        }
        json!({
            "summary": "orderly",
            "callbacks": self.callbacks.load(Ordering::SeqCst),
            "max_in_flight_per_queue": per_queue,
            "max_in_flight_overall": max.values().copied().max().unwrap_or(0),
            "max_concurrent_callbacks_all_queues": self.max_total_in_flight.load(Ordering::SeqCst),
        })
    }
}

pub struct OrderlyListener {
    pub stats: Arc<OrderlyStats>,
    pub count: Arc<AtomicUsize>,
    pub last: Arc<Mutex<Instant>>,
    pub show: Vec<String>,
    /// Time spent inside each callback, so that a second delivery from the same queue, if
    /// the client made one, would overlap this one and be counted.
    pub hold: Duration,
}

impl MessageListenerOrderly for OrderlyListener {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        context: &mut ConsumeOrderlyContext,
    ) -> ClientResult<ConsumeOrderlyStatus> {
        let mq = context.get_message_queue();
        let qkey = format!("{}:{}", mq.broker_name(), mq.queue_id());
        let enter_us = now_us();
        let callback = self.stats.callbacks.fetch_add(1, Ordering::SeqCst);
        let at_entry = {
            let mut inf = self.stats.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            let n = inf.entry(qkey.clone()).or_insert(0);
            *n += 1;
            let n = *n;
            let mut max = self.stats.max_in_flight.lock().unwrap_or_else(|e| e.into_inner());
            let m = max.entry(qkey.clone()).or_insert(0);
            *m = (*m).max(n);
            n
        };
        let total = self.stats.total_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.stats.max_total_in_flight.fetch_max(total, Ordering::SeqCst);

        for m in msgs {
            let recv_seq = self.stats.recv_seq.fetch_add(1, Ordering::SeqCst);
            let extra = json!({
                "context_queue": qkey,
                "callback": callback,
                "batch_size": msgs.len(),
                "recv_seq": recv_seq,
                "recv_us": now_us(),
                "in_flight_queue_at_entry": at_entry,
            });
            emit(merge(msg_to_json(m, &self.show), extra));
            self.count.fetch_add(1, Ordering::SeqCst);
        }
        if !self.hold.is_zero() {
            std::thread::sleep(self.hold);
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        {
            let mut inf = self.stats.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = inf.get_mut(&qkey) {
                *n -= 1;
            }
        }
        self.stats.total_in_flight.fetch_sub(1, Ordering::SeqCst);
        emit(json!({"callback_done": callback, "context_queue": qkey, "enter_us": enter_us, "exit_us": now_us()}));
        context.set_auto_commit(true);
        Ok(ConsumeOrderlyStatus::Success)
    }
}

// ------------------------------------------------------ send-transactional

const PLANS: &[&str] = &[
    "commit",
    "rollback",
    "unknown-then-commit",
    "unknown-then-rollback",
    "unknown",
];

fn plan_of_props(
    props: &HashMap<impl std::borrow::Borrow<str> + std::hash::Hash + Eq, impl ToString>,
) -> Option<String> {
    props.get("txplan").map(|v| v.to_string())
}

struct TxListener {
    /// keys whose check-back has been answered, with the number of checks
    checked: Arc<Mutex<HashMap<String, usize>>>,
}

impl TransactionListener for TxListener {
    fn execute_local_transaction(
        &self,
        msg: &dyn MessageTrait,
        arg: Option<&(dyn Any + Send + Sync)>,
    ) -> LocalTransactionState {
        // The plan comes as the send's argument; the property is the fallback.
        let plan = arg
            .and_then(|a| a.downcast_ref::<String>().cloned())
            .or_else(|| plan_of_props(msg.get_properties()))
            .unwrap_or_default();
        let state = match plan.as_str() {
            "commit" => LocalTransactionState::CommitMessage,
            "rollback" => LocalTransactionState::RollbackMessage,
            _ => LocalTransactionState::Unknown,
        };
        emit(json!({
            "local_transaction": true,
            "plan": plan,
            "key": msg.get_keys().map(|k| k.to_string()),
            "transaction_id": msg.transaction_id().map(|t| t.to_string()),
            "answer": format!("{state:?}"),
        }));
        state
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let props = msg.properties();
        let plan = plan_of_props(props).unwrap_or_default();
        let state = match plan.as_str() {
            "unknown-then-commit" | "commit" => LocalTransactionState::CommitMessage,
            "unknown-then-rollback" | "rollback" => LocalTransactionState::RollbackMessage,
            _ => LocalTransactionState::Unknown,
        };
        let key = props.get("KEYS").map(|k| k.to_string()).unwrap_or_default();
        let n = {
            let mut c = self.checked.lock().unwrap_or_else(|e| e.into_inner());
            let n = c.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        emit(json!({
            "check": true,
            "plan": plan,
            "key": key,
            "msg_id": props.get("UNIQ_KEY").map(|v| v.to_string()),
            "transaction_id": msg.get_transaction_id().map(|t| t.to_string()),
            "topic": msg.topic().to_string(),
            "queue_id": msg.queue_id(),
            "check_times": props.get("TRANSACTION_CHECK_TIMES").map(|v| v.to_string()),
            "nth_check": n,
            "answer": format!("{state:?}"),
        }));
        state
    }
}

/// `send-transactional --count N --plan commit,rollback,unknown-then-commit,...`: message i
/// (key `{key-prefix}{i}`, body `{body-prefix}{i}`, property `txplan`) gets plan i % len.
/// The local transaction answers COMMIT / ROLLBACK / UNKNOW from the plan; the check-back
/// answers COMMIT for `unknown-then-commit`, ROLLBACK for `unknown-then-rollback` and UNKNOW
/// for `unknown`. The producer stays up until every `unknown-then-*` message was checked
/// (or `--check-wait` seconds), then `--linger` seconds more for the END_TRANSACTION to go out.
pub async fn cmd_send_transactional(args: &Args, rt: Arc<ClientRuntime>) -> Result<i32, String> {
    let count: u64 = args.num("count", 4)?;
    let plans: Vec<String> = args
        .get("plan")
        .unwrap_or("commit,rollback,unknown-then-commit,unknown-then-rollback")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if let Some(bad) = plans.iter().find(|p| !PLANS.contains(&p.as_str())) {
        return Err(format!("bad --plan entry {bad:?}, expected one of {PLANS:?}"));
    }
    if plans.is_empty() {
        return Err("--plan is empty".into());
    }
    let check_wait: f64 = args.num("check-wait", 30.0)?;
    let linger: f64 = args.num("linger", 1.0)?;
    let key_prefix = args.get("key-prefix").unwrap_or("tx-").to_string();
    let body_prefix = args.get("body-prefix").unwrap_or("tx-body-").to_string();
    let props = user_props(args)?;
    let topic = args.req("topic")?.to_string();

    let checked = Arc::new(Mutex::new(HashMap::new()));
    let mut cfg = client_config(args);
    // the smallest interval the client accepts: the broker can only check back on a
    // producer whose heartbeat it has seen
    cfg.set_heartbeat_broker_interval(10_000);
    let mut producer = TransactionMQProducer::builder(rt)
        .client_config(cfg)
        .name_server_addr(args.req("namesrv")?)
        .producer_group(args.req("group")?)
        // routes fetched at start, so the first heartbeat (1 s after start) reaches the broker
        .topics(vec![topic.clone()])
        .transaction_listener(TxListener {
            checked: checked.clone(),
        })
        .build();
    if let Err(e) = producer.start().await {
        emit(json!({"error": err_text(&e), "phase": "start"}));
        producer.shutdown().await;
        return Ok(2);
    }

    let mut ok = 0u64;
    let mut awaiting: HashSet<String> = HashSet::new();
    for i in 0..count {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let plan = plans[(i as usize) % plans.len()].clone();
        let key = format!("{key_prefix}{i}");
        let mut b = Message::builder()
            .topic(topic.as_str())
            .key(key.as_str())
            .body_slice(format!("{body_prefix}{i}").as_bytes());
        let mut all = vec![("txplan".to_string(), plan.clone()), ("i".to_string(), i.to_string())];
        all.extend(props.iter().cloned());
        for (k, v) in &all {
            b = b
                .raw_property(k.as_str(), v.as_str())
                .map_err(|e| format!("bad property {k}: {e}"))?;
        }
        let msg = match b.build() {
            Ok(m) => m,
            Err(e) => {
                emit(json!({"i": i, "error": format!("building message: {e}")}));
                continue;
            }
        };
        match producer.send_message_in_transaction(msg, Some(plan.clone())).await {
            Ok(r) => {
                let mut line = json!({
                    "i": i,
                    "plan": plan,
                    "key": key,
                    "local_state": r.local_transaction_state.map(|s| format!("{s:?}")),
                });
                if let Some(sr) = &r.send_result {
                    line = merge(line, send_result_json(sr));
                }
                if line["status"] == "SEND_OK" {
                    ok += 1;
                    if plan.starts_with("unknown-then-") {
                        awaiting.insert(key.clone());
                    }
                }
                emit(line);
            }
            Err(e) => emit(json!({"i": i, "plan": plan, "key": key, "error": err_text(&e)})),
        }
    }

    let deadline = Instant::now() + Duration::from_secs_f64(check_wait);
    let mut all_checked = awaiting.is_empty();
    while !all_checked && !STOP.load(Ordering::Relaxed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let c = checked.lock().unwrap_or_else(|e| e.into_inner());
        all_checked = awaiting.iter().all(|k| c.contains_key(k));
    }
    tokio::time::sleep(Duration::from_secs_f64(linger)).await;
    producer.shutdown().await;
    let checks = checked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    note(
        json!({"summary": "send-transactional", "sent_ok": ok, "requested": count,
                "awaiting_check": awaiting.len(), "all_checked": all_checked, "checks": checks}),
    );
    if !all_checked {
        emit(json!({"error": "not every unknown-then-* message was checked back",
                    "unchecked": awaiting.iter().filter(|k| !checks.contains_key(*k)).collect::<Vec<_>>()}));
    }
    Ok(if ok == count && all_checked { 0 } else { 1 })
}

// ----------------------------------------------------------------- request

/// `request --count N [--request-timeout-ms MS]`: producer.request for each message (body
/// `{body-prefix}{i}`, key `{key-prefix}{i}`), one after another; prints the reply.
pub async fn cmd_request(args: &Args, rt: Arc<ClientRuntime>) -> Result<i32, String> {
    let count: u64 = args.num("count", 1)?;
    let timeout_ms: u64 = args.num("request-timeout-ms", 5000)?;
    let body_prefix = args.get("body-prefix").unwrap_or("request-").to_string();
    let key_prefix = args.get("key-prefix").unwrap_or("rq-").to_string();
    let props = user_props(args)?;
    let topic = args.req("topic")?.to_string();

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
    let mut ok = 0u64;
    for i in 0..count {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let body = format!("{body_prefix}{i}");
        let mut b = Message::builder()
            .topic(topic.as_str())
            .key(format!("{key_prefix}{i}"))
            .body_slice(body.as_bytes());
        for (k, v) in &props {
            b = b
                .raw_property(k.as_str(), v.as_str())
                .map_err(|e| format!("bad property {k}: {e}"))?;
        }
        let msg = b.build().map_err(|e| format!("building message: {e}"))?;
        let t0 = Instant::now();
        match producer.request(msg, timeout_ms).await {
            Ok(reply) => {
                ok += 1;
                let props = reply.get_properties();
                let get = |k: &str| props.get(k).map(|v| v.to_string());
                emit(json!({
                    "i": i,
                    "request_body": body,
                    "reply_topic": reply.topic().to_string(),
                    "reply_body": reply.get_body().map(|b| String::from_utf8_lossy(b).into_owned()),
                    "correlation_id": get("CORRELATION_ID"),
                    "reply_to_client": get("REPLY_TO_CLIENT"),
                    "msg_type": get("MSG_TYPE"),
                    "elapsed_ms": t0.elapsed().as_millis() as u64,
                }));
            }
            Err(e) => emit(json!({"i": i, "request_body": body, "error": err_text(&e)})),
        }
    }
    producer.shutdown().await;
    note(json!({"summary": "request", "replied": ok, "requested": count}));
    Ok(if ok == count { 0 } else { 1 })
}

// ---------------------------------------------------------- reply-consumer

struct ReplyListener {
    tx: tokio::sync::mpsc::UnboundedSender<(MessageExt, Instant)>,
}

impl MessageListenerConcurrently for ReplyListener {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        for m in msgs {
            let _ = self.tx.send(((*m).clone(), Instant::now()));
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

/// `reply-consumer --expect N [--reply-prefix s]`: a push consumer on the request topic that
/// answers each request with MessageUtil::create_reply_message (body `{reply-prefix}{request
/// body}`) sent by its own producer (SEND_REPLY_MESSAGE_V2), until it has replied N times
/// (and `--idle` seconds passed without a request) or `--timeout`.
pub async fn cmd_reply_consumer(args: &Args, rt: Arc<ClientRuntime>) -> Result<i32, String> {
    let expect: usize = args.num("expect", 1)?;
    let timeout: f64 = args.num("timeout", 60.0)?;
    let idle: f64 = args.num("idle", 0.0)?;
    let reply_prefix = args.get("reply-prefix").unwrap_or("reply-to-").to_string();
    let topic = args.req("topic")?.to_string();
    let group = args.req("group")?.to_string();
    let from = match args.get("from").unwrap_or("last") {
        "last" => ConsumeFromWhere::ConsumeFromLastOffset,
        "first" => ConsumeFromWhere::ConsumeFromFirstOffset,
        other => return Err(format!("bad --from {other}, expected last|first")),
    };

    let mut producer = DefaultMQProducer::builder(rt.clone())
        .client_config(client_config(args))
        .name_server_addr(args.req("namesrv")?)
        .producer_group(format!("{group}_replier"))
        .build();
    if let Err(e) = producer.start().await {
        emit(json!({"error": err_text(&e), "phase": "start"}));
        producer.shutdown().await;
        return Ok(2);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut consumer = DefaultMQPushConsumer::builder(rt)
        .client_config(client_config(args))
        .name_server_addr(args.req("namesrv")?)
        .consumer_group(group.as_str())
        .consume_from_where(from)
        .build();
    let started: ClientResult<()> = async {
        consumer
            .subscribe(topic.as_str(), args.get("expr").unwrap_or("*"))
            .await?;
        consumer.register_message_listener_concurrently(ReplyListener { tx });
        consumer.start().await
    }
    .await;
    if let Err(e) = started {
        emit(json!({"error": err_text(&e), "phase": "start"}));
        consumer.shutdown().await;
        producer.shutdown().await;
        return Ok(2);
    }
    // ready: the test may start requesting now
    emit(json!({"ready": true}));

    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let mut replied = 0usize;
    let mut last = Instant::now();
    let mut reason = "timeout";
    loop {
        if STOP.load(Ordering::Relaxed) {
            reason = "signal";
            break;
        }
        if replied >= expect && last.elapsed().as_secs_f64() >= idle {
            reason = "expected";
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let wait = (deadline - now).min(Duration::from_millis(100));
        let Ok(Some((m, received))) = tokio::time::timeout(wait, rx.recv()).await else {
            continue;
        };
        last = Instant::now();
        let body = m
            .body()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let mut line = msg_to_json(&m, &[]);
        let reply_body = format!("{reply_prefix}{body}");
        match MessageUtil::create_reply_message(m.message_inner(), reply_body.as_bytes()) {
            Ok(reply) => {
                let reply_topic = reply.topic().to_string();
                match producer.send(reply).await {
                    Ok(Some(r)) => {
                        replied += 1;
                        line = merge(
                            line,
                            json!({"reply_topic": reply_topic, "reply_body": reply_body,
                                   "reply_status": serde_json::to_value(r.send_status).unwrap_or(Value::Null),
                                   "reply_ms": received.elapsed().as_millis() as u64}),
                        );
                        emit(line);
                    }
                    Ok(None) => emit(merge(line, json!({"error": "reply send returned no SendResult"}))),
                    Err(e) => emit(merge(
                        line,
                        json!({"error": format!("sending reply: {}", err_text(&e))}),
                    )),
                }
            }
            Err(e) => emit(merge(
                line,
                json!({"error": format!("creating reply: {}", err_text(&e))}),
            )),
        }
    }
    if tokio::time::timeout(Duration::from_secs(20), consumer.shutdown())
        .await
        .is_err()
    {
        note(json!({"warning": "consumer shutdown timed out after 20s"}));
    }
    producer.shutdown().await;
    note(json!({"summary": "reply-consumer", "replied": replied, "expected": expect, "stop_reason": reason}));
    Ok(if replied >= expect { 0 } else { 1 })
}
