//! Messages as the admin tool sees them: decoded from query, view and pull answers, shown
//! as text or JSON; and the plain producer and pull consumer the message commands use.

use std::fmt::Write as _;
use std::io::Read;
use std::sync::atomic::{AtomicU16, Ordering};

use anyhow::{anyhow, bail, Result};
use remoting::code::{request, response};
use remoting::header::broker::{
    PullMessageRequestHeader, PullMessageResponseHeader, QueueRequestHeader, SearchOffsetRequestHeader,
    SendMessageRequestHeader, SendMessageResponseHeader,
};
use remoting::protocol::route::{perm, TopicRouteData};
use remoting::RemotingCommand;
use serde_json::{json, Value};
use store::codec::{self, sys_flag, DecodedMessage};

use crate::admin::{ok, with_header, Admin};
use crate::util::human_millis;

/// Java's `MixAll.TOOLS_CONSUMER_GROUP`: the group mqadmin's pull commands use.
pub const TOOLS_CONSUMER_GROUP: &str = "TOOLS_CONSUMER";

/// What clients call the message id: the UNIQ_KEY if the producer set one, else the
/// offset id (Java's `MessageClientExt.getMsgId`).
pub fn msg_id(m: &DecodedMessage) -> String {
    m.unique_key().map(String::from).unwrap_or_else(|| m.offset_msg_id())
}

/// The body as stored, inflated when the producer compressed it.
pub fn body_bytes(m: &DecodedMessage) -> Vec<u8> {
    if m.sys_flag & sys_flag::COMPRESSED != 0 {
        let mut out = Vec::new();
        if flate2::read::ZlibDecoder::new(&m.body[..])
            .read_to_end(&mut out)
            .is_ok()
        {
            return out;
        }
    }
    m.body.to_vec()
}

pub fn body_text(m: &DecodedMessage) -> String {
    String::from_utf8_lossy(&body_bytes(m)).into_owned()
}

fn properties_json(m: &DecodedMessage) -> Value {
    Value::Object(
        m.properties
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// `{k=v, k=v}`, as Java prints a properties map.
fn properties_text(m: &DecodedMessage) -> String {
    let parts: Vec<String> = m.properties.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

pub fn message_json(m: &DecodedMessage, broker_name: Option<&str>) -> Value {
    json!({
        "msgId": msg_id(m),
        "offsetMsgId": m.offset_msg_id(),
        "topic": m.topic,
        "brokerName": broker_name,
        "tags": m.tags(),
        "keys": m.keys(),
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "commitLogOffset": m.commit_log_offset,
        "reconsumeTimes": m.reconsume_times,
        "bornTimestamp": m.born_timestamp,
        "storeTimestamp": m.store_timestamp,
        "bornHost": m.born_host.to_string(),
        "storeHost": m.store_host.to_string(),
        "sysFlag": m.sys_flag,
        "flag": m.flag,
        "storeSize": m.store_size,
        "bodyCRC": m.body_crc,
        "properties": properties_json(m),
        "body": body_text(m),
    })
}

/// The detail block of queryMsgById and queryMsgByUniqueKey (`%-20s %s` lines).
pub fn message_detail(m: &DecodedMessage, with_offset_id: bool) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<20} {v}");
    };
    if with_offset_id {
        line("OffsetID:", m.offset_msg_id());
    }
    line("Topic:", m.topic.clone());
    line("Tags:", format!("[{}]", m.tags().unwrap_or("null")));
    line("Keys:", format!("[{}]", m.keys().unwrap_or("null")));
    line("Queue ID:", m.queue_id.to_string());
    line("Queue Offset:", m.queue_offset.to_string());
    line("CommitLog Offset:", m.commit_log_offset.to_string());
    line("Reconsume Times:", m.reconsume_times.to_string());
    line("Born Timestamp:", human_millis(m.born_timestamp));
    line("Store Timestamp:", human_millis(m.store_timestamp));
    line("Born Host:", m.born_host.to_string());
    line("Store Host:", m.store_host.to_string());
    line("System Flag:", m.sys_flag.to_string());
    line("Properties:", properties_text(m));
    line("Message Body:", body_text(m));
    out
}

/// One line per message, as printMsg and consumeMessage print them.
pub fn message_line(m: &DecodedMessage, broker_name: &str, print_body: bool) -> String {
    format!(
        "MSGID: {} MessageExt [brokerName={}, queueId={}, storeSize={}, queueOffset={}, sysFlag={}, \
         bornTimestamp={}, bornHost={}, storeTimestamp={}, storeHost={}, msgId={}, commitLogOffset={}, \
         bodyCRC={}, reconsumeTimes={}, topic={}, flag={}, properties={}] BODY: {}\n",
        msg_id(m),
        broker_name,
        m.queue_id,
        m.store_size,
        m.queue_offset,
        m.sys_flag,
        m.born_timestamp,
        m.born_host,
        m.store_timestamp,
        m.store_host,
        m.offset_msg_id(),
        m.commit_log_offset,
        m.body_crc,
        m.reconsume_times,
        m.topic,
        m.flag,
        properties_text(m),
        if print_body {
            body_text(m)
        } else {
            "NOT PRINT BODY".into()
        }
    )
}

/// The queues of a topic that can be read, per broker (Java's
/// `topicRouteData2TopicSubscribeInfo`), sorted by broker name and queue id.
pub fn read_queues(route: &TopicRouteData) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for qd in &route.queue_datas {
        if qd.perm & perm::READ != 0 {
            for q in 0..qd.read_queue_nums {
                out.push((qd.broker_name.clone(), q));
            }
        }
    }
    out.sort();
    out
}

/// The queues a producer may write to, per broker with a master.
pub fn write_queues(route: &TopicRouteData) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for qd in &route.queue_datas {
        let has_master = route
            .broker_datas
            .iter()
            .any(|b| b.broker_name == qd.broker_name && b.broker_addrs.contains_key(&0));
        if qd.perm & perm::WRITE != 0 && has_master {
            for q in 0..qd.write_queue_nums {
                out.push((qd.broker_name.clone(), q));
            }
        }
    }
    out.sort();
    out
}

pub async fn queue_offset(admin: &Admin, addr: &str, code: i32, topic: &str, queue_id: i32) -> Result<i64> {
    let req = with_header(
        code,
        &QueueRequestHeader {
            topic: topic.into(),
            queue_id,
        },
    );
    let res = admin.broker_ok(addr, req).await?;
    offset_header(&res)
}

pub async fn search_offset(admin: &Admin, addr: &str, topic: &str, queue_id: i32, timestamp: i64) -> Result<i64> {
    let req = with_header(
        request::SEARCH_OFFSET_BY_TIMESTAMP,
        &SearchOffsetRequestHeader {
            topic: topic.into(),
            queue_id,
            timestamp,
        },
    );
    let res = admin.broker_ok(addr, req).await?;
    offset_header(&res)
}

fn offset_header(res: &RemotingCommand) -> Result<i64> {
    res.ext()
        .get("offset")
        .and_then(|o| o.trim().parse().ok())
        .ok_or_else(|| anyhow!("the broker's answer has no offset"))
}

pub enum PullStatus {
    Found(Vec<DecodedMessage>),
    NoNewMsg,
    NoMatchedMsg,
    OffsetIllegal,
}

impl PullStatus {
    pub fn name(&self) -> &'static str {
        match self {
            PullStatus::Found(_) => "FOUND",
            PullStatus::NoNewMsg => "NO_NEW_MSG",
            PullStatus::NoMatchedMsg => "NO_MATCHED_MSG",
            PullStatus::OffsetIllegal => "OFFSET_ILLEGAL",
        }
    }
}

/// A tag expression as the pull consumer keeps it: `None` for everything.
pub fn tag_set(expression: &str) -> Option<Vec<String>> {
    let e = expression.trim();
    if e.is_empty() || e == "*" {
        return None;
    }
    Some(
        e.split("||")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

/// One non-blocking pull that commits nothing (Java's `DefaultMQPullConsumer.pull`);
/// returns the status and the next offset. Messages whose tag is not in the expression
/// are dropped here, as the Java client does.
#[allow(clippy::too_many_arguments)]
pub async fn pull(
    admin: &Admin,
    addr: &str,
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    max: i32,
    expression: &str,
) -> Result<(PullStatus, i64)> {
    let header = PullMessageRequestHeader::tags(group, topic, queue_id, offset, max.max(1), expression);
    let res = admin.broker(addr, with_header(request::PULL_MESSAGE, &header)).await?;
    let next = |res: &RemotingCommand| {
        res.decode_header::<PullMessageResponseHeader>()
            .map(|h| h.next_begin_offset)
            .unwrap_or(offset)
    };
    let status = match res.code {
        response::SUCCESS => {
            let mut msgs = codec::decode_messages(&res.body);
            if let Some(tags) = tag_set(expression) {
                msgs.retain(|m| m.tags().is_some_and(|t| tags.iter().any(|x| x == t)));
            }
            if msgs.is_empty() {
                PullStatus::NoMatchedMsg
            } else {
                PullStatus::Found(msgs)
            }
        }
        response::PULL_NOT_FOUND => PullStatus::NoNewMsg,
        response::PULL_RETRY_IMMEDIATELY => PullStatus::NoMatchedMsg,
        response::PULL_OFFSET_MOVED => PullStatus::OffsetIllegal,
        _ => {
            ok(&format!("broker {addr}"), res)?;
            unreachable!()
        }
    };
    Ok((status, next(&res)))
}

static UNIQ_COUNTER: AtomicU16 = AtomicU16::new(0);

/// A client message id in the layout of Java's `MessageClientIDSetter`: IP, pid, a per-run
/// number, milliseconds since the start of the month (approximated by the time modulo 31
/// days), counter; as 32 upper-case hex digits.
pub fn unique_id(ip: [u8; 4]) -> String {
    let now = crate::util::now_millis();
    let mut raw = Vec::with_capacity(16);
    raw.extend_from_slice(&ip);
    raw.extend_from_slice(&(std::process::id() as u16).to_be_bytes());
    raw.extend_from_slice(&((now as u32) ^ 0x5A5A_5A5A).to_be_bytes());
    raw.extend_from_slice(&((now % (31 * 86_400_000)) as u32).to_be_bytes());
    raw.extend_from_slice(&UNIQ_COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    codec::bytes_to_hex(&raw)
}

pub struct SendResult {
    pub broker_name: String,
    pub queue_id: i32,
    pub status: &'static str,
    pub msg_id: String,
    pub offset_msg_id: String,
    pub queue_offset: i64,
}

/// Sends one message to `broker_name`/`queue_id` at `addr` (SEND_MESSAGE, 10).
#[allow(clippy::too_many_arguments)]
pub async fn send(
    admin: &Admin,
    addr: &str,
    broker_name: &str,
    queue_id: i32,
    topic: &str,
    body: &[u8],
    properties: &[(String, String)],
    producer_group: &str,
) -> Result<SendResult> {
    let mut props = properties.to_vec();
    let uniq = unique_id([127, 0, 0, 1]);
    codec::insert_property(&mut props, codec::property::UNIQ_KEY, &uniq);
    codec::insert_property(&mut props, codec::property::WAIT, "true");
    let header = SendMessageRequestHeader {
        producer_group: producer_group.into(),
        topic: topic.into(),
        default_topic: remoting::protocol::topic::AUTO_CREATE_TOPIC_KEY.into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: crate::util::now_millis(),
        flag: 0,
        properties: Some(codec::properties_to_string(&props)),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
    };
    let req = with_header(request::SEND_MESSAGE, &header).with_body(body.to_vec());
    let res = admin.broker(addr, req).await?;
    let status = match res.code {
        response::SUCCESS => "SEND_OK",
        response::FLUSH_DISK_TIMEOUT => "FLUSH_DISK_TIMEOUT",
        response::FLUSH_SLAVE_TIMEOUT => "FLUSH_SLAVE_TIMEOUT",
        response::SLAVE_NOT_AVAILABLE => "SLAVE_NOT_AVAILABLE",
        _ => {
            ok(&format!("broker {addr}"), res)?;
            bail!("unreachable")
        }
    };
    let h: SendMessageResponseHeader = res
        .decode_header()
        .map_err(|e| anyhow!("broker {addr}: bad send answer: {e}"))?;
    Ok(SendResult {
        broker_name: broker_name.into(),
        queue_id: h.queue_id,
        status,
        msg_id: uniq,
        offset_msg_id: h.msg_id,
        queue_offset: h.queue_offset,
    })
}
