//! `pop-consume`: the stock push consumer in POP mode. With `client_rebalance(false)` the
//! client asks the broker for its queues (QUERY_ASSIGNMENT); when the broker says POP for
//! the topic and group it pops (POP_MESSAGE), acks what the listener consumed
//! (BATCH_ACK_MESSAGE, falling back to ACK_MESSAGE) and, for what the listener answers "reconsume later", changes the
//! message's invisible time (CHANGE_MESSAGE_INVISIBLETIME) so the broker hands it out again.
//!
//! ```text
//! rmq_client pop-consume --namesrv H:P --topic T --group G --expect N [--nack-prefix P]
//!                        [--invisible-ms MS] [--timeout SEC] [--idle SEC]
//! ```
//! Each delivery is a JSON line (the message, plus `"status"`: `success` or `later`). A
//! message whose body starts with `--nack-prefix` is answered "reconsume later" the first
//! time it is seen; every other delivery is consumed.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_client_rust::{
    ClientResult, ClientRuntime, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultMQPushConsumer,
    MQPushConsumer, MessageListenerConcurrently,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use serde_json::json;

use crate::{client_config, emit, err_text, msg_to_json, note, wait_for_messages, Args};

struct PopListener {
    count: Arc<AtomicUsize>,
    last: Arc<Mutex<Instant>>,
    nack_prefix: Option<String>,
    nacked: Arc<Mutex<HashSet<String>>>,
}

impl MessageListenerConcurrently for PopListener {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        let mut later = false;
        for m in msgs {
            let body = m
                .body()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let first_nack = self.nack_prefix.as_deref().is_some_and(|p| body.starts_with(p))
                && self
                    .nacked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(body.clone());
            later |= first_nack;
            let mut line = msg_to_json(m, &["POP_CK".to_string()]);
            line["status"] = json!(if first_nack { "later" } else { "success" });
            emit(line);
            self.count.fetch_add(1, Ordering::SeqCst);
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
        Ok(if later {
            ConsumeConcurrentlyStatus::ReconsumeLater
        } else {
            ConsumeConcurrentlyStatus::ConsumeSuccess
        })
    }
}

pub async fn cmd_pop_consume(args: &Args, rt: Arc<ClientRuntime>) -> Result<i32, String> {
    let expect: usize = args.req("expect")?.parse().map_err(|_| "bad --expect".to_string())?;
    let timeout: f64 = args.num("timeout", 60.0)?;
    let idle: Option<f64> = args.opt_num("idle")?;
    let invisible_ms: u64 = args.num("invisible-ms", 60_000)?;
    let topic = args.req("topic")?.to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(Mutex::new(Instant::now()));
    let mut consumer = DefaultMQPushConsumer::builder(rt)
        .client_config(client_config(args))
        .name_server_addr(args.req("namesrv")?)
        .consumer_group(args.req("group")?)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        // ask the broker for the assignment (and so for the POP mode)
        .client_rebalance(false)
        .pop_invisible_time(invisible_ms)
        .consume_message_batch_max_size(1)
        .build();
    let started: ClientResult<()> = async {
        consumer.subscribe(topic.as_str(), "*").await?;
        consumer.register_message_listener_concurrently(PopListener {
            count: count.clone(),
            last: last.clone(),
            nack_prefix: args.get("nack-prefix").map(str::to_string),
            nacked: Arc::new(Mutex::new(HashSet::new())),
        });
        consumer.start().await
    }
    .await;
    if let Err(e) = started {
        emit(json!({"error": err_text(&e), "phase": "start"}));
        consumer.shutdown().await;
        return Ok(2);
    }
    let reason = wait_for_messages(expect, idle, timeout, || {
        (
            count.load(Ordering::SeqCst),
            *last.lock().unwrap_or_else(|e| e.into_inner()),
        )
    })
    .await;
    // give the last acks a moment to leave before the client goes
    tokio::time::sleep(Duration::from_millis(500)).await;
    if tokio::time::timeout(Duration::from_secs(20), consumer.shutdown())
        .await
        .is_err()
    {
        note(json!({"warning": "consumer shutdown timed out after 20s"}));
    }
    let n = count.load(Ordering::SeqCst);
    note(json!({"summary": "pop-consume", "received": n, "expected": expect, "stop_reason": reason}));
    Ok(if n >= expect { 0 } else { 1 })
}
