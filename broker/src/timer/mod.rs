//! Timer messages (RocketMQ 5.x arbitrary delays) and their recall.
//!
//! A message sent with `TIMER_DELIVER_MS`, `TIMER_DELAY_SEC` or `TIMER_DELAY_MS` is
//! rewritten at send time ([`transform`]) into the system topic `rmq_sys_wheel_timer`
//! (queue 0), with its due slot in `TIMER_OUT_MS` and its destination in `REAL_TOPIC` /
//! `REAL_QID`. The timer service ([`service`]) reads that queue, files each message in the
//! time wheel (`store::timer`), and puts it back in its real topic and queue once its slot
//! has passed. A recall ([`recall`]) is a marker message filed in the same slot; the
//! service skips the message the marker names. See docs/timer.md.

pub mod metrics;
pub mod recall;
pub mod service;

use store::codec::{self, property as prop, sys_flag};
use store::timer::{property as tprop, TimerConfig, TIMER_TOPIC};

pub use service::TimerService;

/// Why a timer message is refused (Java's WHEEL_TIMER_* put statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// WHEEL_TIMER_MSG_ILLEGAL: unreadable time, too far away, or a recall for the past.
    Illegal,
    /// WHEEL_TIMER_FLOW_CONTROL: the slot is congested.
    FlowControl,
    /// WHEEL_TIMER_NOT_ENABLE: `timerWheelEnable=false`.
    NotEnabled,
}

impl Refusal {
    /// The send response's code and remark, as Java's SendMessageProcessor words them.
    pub fn response(&self, config: &TimerConfig) -> (i32, String) {
        use remoting::code::response;
        match self {
            Refusal::Illegal => (
                response::MESSAGE_ILLEGAL,
                format!(
                    "timer message illegal, the delay time should not be bigger than the max delay {}ms; or if set del msg, the delay time should be bigger than the current time",
                    config.max_delay_sec * 1000
                ),
            ),
            Refusal::FlowControl => (
                response::SYSTEM_ERROR,
                format!(
                    "timer message is under flow control, max num limit is {} or the current value is greater than {} and less than {}, trigger random flow control",
                    config.congest_num_each_slot * 2,
                    config.congest_num_each_slot,
                    config.congest_num_each_slot * 2
                ),
            ),
            Refusal::NotEnabled => (
                response::SYSTEM_ERROR,
                format!(
                    "accurate timer message is not enabled, timerWheelEnable is {}",
                    config.wheel_enable
                ),
            ),
        }
    }
}

/// Where a message goes and with which properties; what [`transform`] works on.
pub struct Target<'a> {
    pub topic: &'a mut String,
    pub queue_id: &'a mut i32,
    pub properties: &'a mut Vec<(String, String)>,
    pub sys_flag: i32,
}

/// Whether the properties ask for a timer (any of the three timer properties).
pub fn has_timer_property(properties: &[(String, String)]) -> bool {
    [tprop::TIMER_DELIVER_MS, tprop::TIMER_DELAY_SEC, tprop::TIMER_DELAY_MS]
        .iter()
        .any(|p| codec::get_property(properties, p).is_some())
}

fn remove_property(properties: &mut Vec<(String, String)>, name: &str) {
    properties.retain(|(k, _)| k != name);
}

/// Java's put hook for timer messages (checkIfTimerMessage + transformTimerMessage), for a
/// message about to be stored: `Ok(true)` when it was moved to the timer topic (its
/// properties then carry `TIMER_OUT_MS`, `REAL_TOPIC`, `REAL_QID`), `Ok(false)` when it is
/// stored as it is. A message with a DELAY level loses its timer properties (the level
/// wins); a deliver time not in the future means "now"; one further away than
/// `timerMaxDelaySec` is refused.
pub fn transform(timer: Option<&TimerService>, config: &TimerConfig, t: Target<'_>, now: i64) -> Result<bool, Refusal> {
    let tran = sys_flag::transaction_type(t.sys_flag);
    if tran != sys_flag::TRANSACTION_NOT_TYPE && tran != sys_flag::TRANSACTION_COMMIT_TYPE {
        return Ok(false);
    }
    // A rolled timer message going back into the wheel.
    if t.topic == TIMER_TOPIC {
        return Ok(false);
    }
    let level = codec::get_property(t.properties, prop::DELAY)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0);
    if level > 0 {
        for p in [tprop::TIMER_DELIVER_MS, tprop::TIMER_DELAY_SEC, tprop::TIMER_DELAY_MS] {
            remove_property(t.properties, p);
        }
        return Ok(false);
    }
    // Already through the wheel once (a delivered timer message sent again).
    if codec::get_property(t.properties, tprop::TIMER_OUT_MS).is_some() || !has_timer_property(t.properties) {
        return Ok(false);
    }
    if !config.wheel_enable {
        return Err(Refusal::NotEnabled);
    }
    let parse = |name: &str| codec::get_property(t.properties, name).map(|v| v.parse::<i64>());
    let deliver_ms = match (
        parse(tprop::TIMER_DELAY_SEC),
        parse(tprop::TIMER_DELAY_MS),
        parse(tprop::TIMER_DELIVER_MS),
    ) {
        (Some(Ok(sec)), _, _) => now.wrapping_add(sec.wrapping_mul(1000)),
        (Some(Err(_)), _, _) => return Err(Refusal::Illegal),
        (None, Some(Ok(ms)), _) => now.wrapping_add(ms),
        (None, Some(Err(_)), _) => return Err(Refusal::Illegal),
        (None, None, Some(Ok(at))) => at,
        _ => return Err(Refusal::Illegal),
    };
    if deliver_ms <= now {
        // Due already: stored as it is (delivered at once), unless it is a recall marker.
        if codec::get_property(t.properties, tprop::TIMER_DEL_UNIQKEY).is_some() {
            return Err(Refusal::Illegal);
        }
        return Ok(false);
    }
    if deliver_ms - now > config.max_delay_sec * 1000 {
        return Err(Refusal::Illegal);
    }
    // The slot: the interval that ends at or after the deliver time, named by its start.
    let p = config.precision_ms;
    let slot_ms = if deliver_ms % p == 0 {
        deliver_ms - p
    } else {
        deliver_ms / p * p
    };
    if timer.is_some_and(|s| s.is_reject(slot_ms)) {
        return Err(Refusal::FlowControl);
    }
    codec::insert_property(t.properties, tprop::TIMER_OUT_MS, &slot_ms.to_string());
    let real_topic = t.topic.clone();
    codec::insert_property(t.properties, prop::REAL_TOPIC, &real_topic);
    codec::insert_property(t.properties, prop::REAL_QUEUE_ID, &t.queue_id.to_string());
    *t.topic = TIMER_TOPIC.to_string();
    *t.queue_id = 0;
    Ok(true)
}

/// [`transform`] with the broker's timer (or a disabled one), for a message about to be
/// stored; a refusal comes as the response code and remark to answer with.
pub fn on_put(
    state: &crate::BrokerState,
    topic: &mut String,
    queue_id: &mut i32,
    properties: &mut Vec<(String, String)>,
    sys_flag: i32,
) -> Result<bool, (i32, String)> {
    let disabled;
    let (service, config) = match state.timer.as_deref() {
        Some(t) => (Some(t), &t.config),
        None => {
            disabled = TimerConfig {
                wheel_enable: false,
                ..TimerConfig::default()
            };
            (None, &disabled)
        }
    };
    let target = Target {
        topic,
        queue_id,
        properties,
        sys_flag,
    };
    transform(service, config, target, remoting::protocol::topic::now_millis()).map_err(|r| r.response(config))
}

/// GET_TIMER_CHECK_POINT (60): the timer's checkpoint, encoded as the `timercheck` file
/// holds it (read time, timer log flush position, queue offsets, data version).
pub async fn get_timer_check_point(
    state: std::sync::Arc<crate::BrokerState>,
    _conn: remoting::Connection,
    req: remoting::RemotingCommand,
) -> remoting::HandlerResult {
    timer_answer(&state, &req, "The checkpoint is null", |timer| {
        timer.checkpoint_data().encode().to_vec()
    })
}

/// GET_TIMER_METRICS (61): waiting timer messages per real topic, as the `timermetrics`
/// file holds them.
pub async fn get_timer_metrics(
    state: std::sync::Arc<crate::BrokerState>,
    _conn: remoting::Connection,
    req: remoting::RemotingCommand,
) -> remoting::HandlerResult {
    timer_answer(&state, &req, "The timer message store is null", |timer| {
        timer.metrics.encode().into_bytes()
    })
}

/// A body read from the timer service, or SYSTEM_ERROR with Java's `missing` remark when
/// the wheel is off.
fn timer_answer(
    state: &crate::BrokerState,
    req: &remoting::RemotingCommand,
    missing: &str,
    body: impl FnOnce(&service::TimerService) -> Vec<u8>,
) -> remoting::HandlerResult {
    use remoting::RemotingCommand;
    Ok(Some(match &state.timer {
        Some(timer) => RemotingCommand::success(req).with_body(body(timer)),
        None => RemotingCommand::response_to(req, remoting::code::response::SYSTEM_ERROR, Some(missing.to_string())),
    }))
}

/// The recall handle a send response carries for a timer message (Java's
/// attachRecallHandle): none for retry topics.
pub fn recall_handle_for(properties: &[(String, String)], broker_name: &str) -> Option<String> {
    let out_ms: i64 = codec::get_property(properties, tprop::TIMER_OUT_MS)?.parse().ok()?;
    let real_topic = codec::get_property(properties, prop::REAL_TOPIC)?;
    if real_topic.starts_with(crate::topic_config::RETRY_GROUP_TOPIC_PREFIX) {
        return None;
    }
    let uniq = codec::get_property(properties, prop::UNIQ_KEY).unwrap_or("null");
    // One past the slot time, so the recall lands in the same slot.
    Some(recall::encode_handle(
        real_topic,
        broker_name,
        &(out_ms + 1).to_string(),
        uniq,
    ))
}

/// A message id in the format of Java's MessageClientIDSetter (32 hex digits: address,
/// process id, a per-process random, time and a counter), for timer messages sent without
/// a UNIQ_KEY (recalls name messages by it).
pub fn new_uniq_id(store_addr: &std::net::SocketAddr) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    static SALT: OnceLock<u32> = OnceLock::new();
    let salt = *SALT.get_or_init(|| {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        n.wrapping_mul(2_654_435_761)
    });
    let ip = match store_addr.ip() {
        std::net::IpAddr::V4(v4) => v4.octets(),
        std::net::IpAddr::V6(_) => [127, 0, 0, 1],
    };
    let now = remoting::protocol::topic::now_millis();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u16;
    format!(
        "{}{:04X}{:08X}{:08X}{:04X}",
        codec::bytes_to_hex(&ip),
        std::process::id() as u16,
        salt,
        (now % (31 * 24 * 3600 * 1000)) as u32,
        n
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn run(p: &mut Vec<(String, String)>, now: i64) -> (Result<bool, Refusal>, String, i32) {
        let mut topic = "T".to_string();
        let mut q = 3;
        let r = transform(
            None,
            &TimerConfig::default(),
            Target {
                topic: &mut topic,
                queue_id: &mut q,
                properties: p,
                sys_flag: 0,
            },
            now,
        );
        (r, topic, q)
    }

    #[test]
    fn rounds_to_the_slot_before_the_deliver_time() {
        let mut p = props(&[("TIMER_DELIVER_MS", "10500")]);
        let (r, topic, q) = run(&mut p, 1000);
        assert_eq!(r, Ok(true));
        assert_eq!((topic.as_str(), q), (TIMER_TOPIC, 0));
        assert_eq!(codec::get_property(&p, "TIMER_OUT_MS"), Some("10000"));
        assert_eq!(codec::get_property(&p, "REAL_TOPIC"), Some("T"));
        assert_eq!(codec::get_property(&p, "REAL_QID"), Some("3"));
        let mut p = props(&[("TIMER_DELIVER_MS", "10000")]);
        assert_eq!(run(&mut p, 1000).0, Ok(true));
        assert_eq!(codec::get_property(&p, "TIMER_OUT_MS"), Some("9000"));
    }

    #[test]
    fn delay_sec_wins_and_past_times_are_immediate() {
        let mut p = props(&[("TIMER_DELAY_SEC", "5"), ("TIMER_DELIVER_MS", "1")]);
        assert_eq!(run(&mut p, 100_000).0, Ok(true));
        assert_eq!(codec::get_property(&p, "TIMER_OUT_MS"), Some("104000"));
        let mut p = props(&[("TIMER_DELIVER_MS", "5")]);
        assert_eq!(run(&mut p, 100_000).0, Ok(false));
        let mut p = props(&[("TIMER_DELIVER_MS", "5"), ("TIMER_DEL_UNIQKEY", "x")]);
        assert_eq!(run(&mut p, 100_000).0, Err(Refusal::Illegal));
    }

    #[test]
    fn too_far_unreadable_and_delay_levels() {
        let mut p = props(&[("TIMER_DELAY_SEC", &(3 * 86400 + 1).to_string())]);
        assert_eq!(run(&mut p, 0).0, Err(Refusal::Illegal));
        let mut p = props(&[("TIMER_DELAY_MS", "soon")]);
        assert_eq!(run(&mut p, 0).0, Err(Refusal::Illegal));
        let mut p = props(&[("TIMER_DELAY_SEC", "5"), ("DELAY", "2")]);
        assert_eq!(run(&mut p, 0).0, Ok(false));
        assert!(!has_timer_property(&p));
    }
}
