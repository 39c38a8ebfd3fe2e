//! The message commands: queries by id and key, printMsg and consumeMessage (pull without
//! committing), sendMessage.

use std::fmt::Write as _;

use anyhow::{anyhow, bail, Result};
use remoting::code::{request, response};
use remoting::header::broker::{QueryMessageRequestHeader, ViewMessageRequestHeader};
use serde_json::{json, Value};
use store::codec::{self, DecodedMessage};

use crate::admin::{addr_of_broker_name, ok, select_broker_addr, with_header, Admin};
use crate::message::{
    message_detail, message_json, message_line, msg_id, pull, queue_offset, read_queues, search_offset, send,
    write_queues, PullStatus, TOOLS_CONSUMER_GROUP,
};
use crate::util::{java_bool, now_millis, parse_timestamp, Output, Table};

/// VIEW_MESSAGE_BY_ID (33) at the broker an offset id names.
async fn view_message(admin: &Admin, id: &str) -> Result<DecodedMessage> {
    let (addr, offset) = codec::decode_offset_msg_id(id).ok_or_else(|| {
        anyhow!("{id} is not an offset message id (32 or 56 hex digits: store host and commit log offset)")
    })?;
    let addr = addr.to_string();
    let req = with_header(request::VIEW_MESSAGE_BY_ID, &ViewMessageRequestHeader { offset });
    let res = admin.broker_ok(&addr, req).await?;
    codec::decode_message(&res.body)
        .map_err(|e| anyhow!("broker {addr}: the message at {offset} does not decode: {e:?}"))
}

pub async fn query_msg_by_id(admin: &Admin, a: crate::QueryMsgByIdArgs) -> Result<Output> {
    if a.consumer_group.is_some() && a.client_id.is_some() {
        bail!("consuming a message directly (-g with -d, CONSUME_MESSAGE_DIRECTLY) is not supported by rmqadmin");
    }
    let resend = a.send_message.as_deref().is_some_and(java_bool);
    let mut text = String::new();
    let mut messages = Vec::new();
    for id in a.msg_id.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let m = view_message(admin, id).await?;
        if resend {
            let result = resend_message(admin, &m).await?;
            let _ = writeln!(
                text,
                "prepare resend msg. originalMsgId={id} SendResult [sendStatus={}, msgId={}, offsetMsgId={}, brokerName={}, queueId={}, queueOffset={}]",
                result["sendStatus"].as_str().unwrap_or(""),
                result["msgId"].as_str().unwrap_or(""),
                result["offsetMsgId"].as_str().unwrap_or(""),
                result["brokerName"].as_str().unwrap_or(""),
                result["queueId"],
                result["queueOffset"]
            );
            messages.push(json!({ "originalMsgId": id, "sendResult": result }));
        } else {
            text.push_str(&message_detail(&m, true));
            text.push('\n');
            messages.push(message_json(&m, None));
        }
    }
    Ok(Output::new(text, json!({ "messages": messages })))
}

/// Sends a stored message again to its topic (queryMsgById -s true).
async fn resend_message(admin: &Admin, m: &DecodedMessage) -> Result<Value> {
    let route = admin.route(&m.topic).await?;
    let queues = write_queues(&route);
    let (broker, qid) = queues
        .get((now_millis() as usize) % queues.len().max(1))
        .cloned()
        .ok_or_else(|| anyhow!("topic {} has no writable queue", m.topic))?;
    let addr = addr_of_broker_name(&route, &broker).ok_or_else(|| anyhow!("broker {broker} has no address"))?;
    let props: Vec<(String, String)> = m
        .properties
        .iter()
        .filter(|(k, _)| k != codec::property::UNIQ_KEY)
        .cloned()
        .collect();
    let body = crate::message::body_bytes(m);
    let r = send(admin, &addr, &broker, qid, &m.topic, &body, &props, "ReSendMsgById").await?;
    Ok(json!({
        "sendStatus": r.status, "msgId": r.msg_id, "offsetMsgId": r.offset_msg_id,
        "brokerName": r.broker_name, "queueId": r.queue_id, "queueOffset": r.queue_offset,
    }))
}

/// QUERY_MESSAGE (12) on every broker of the topic, as `MQAdminImpl.queryMessage`; the
/// index may return more than asked (hash collisions), so the answers are filtered here.
async fn query_messages(
    admin: &Admin,
    topic: &str,
    key: &str,
    max: i32,
    unique: bool,
) -> Result<Vec<(String, DecodedMessage)>> {
    let route = admin.route(topic).await?;
    let header = QueryMessageRequestHeader {
        topic: topic.into(),
        key: key.into(),
        max_num: max,
        begin_timestamp: 0,
        end_timestamp: i64::MAX,
    };
    let mut out = Vec::new();
    for bd in &route.broker_datas {
        let Some(addr) = select_broker_addr(bd) else { continue };
        let mut req = with_header(request::QUERY_MESSAGE, &header);
        if unique {
            req.ext_mut().insert("_UNIQUE_KEY_QUERY", "true");
        }
        let res = admin.broker(&addr, req).await?;
        if res.code == response::QUERY_NOT_FOUND {
            continue;
        }
        let res = ok(&format!("broker {addr}"), res)?;
        for m in codec::decode_messages(&res.body) {
            let matches = if unique {
                m.unique_key() == Some(key)
            } else {
                m.keys()
                    .is_some_and(|k| k.split(codec::property::KEY_SEPARATOR).any(|x| x == key))
            };
            if matches && m.topic == topic {
                out.push((bd.broker_name.clone(), m));
            }
        }
    }
    Ok(out)
}

pub async fn query_msg_by_key(admin: &Admin, topic: &str, key: &str) -> Result<Output> {
    let (topic, key) = (topic.trim(), key.trim());
    let found = query_messages(admin, topic, key, 64, false).await?;
    let mut t = Table::new(&["#Message ID", "#QID", "#Offset"]).right_align(&[1, 2]);
    let mut msgs = Vec::new();
    for (broker, m) in &found {
        t.row(vec![msg_id(m), m.queue_id.to_string(), m.queue_offset.to_string()]);
        msgs.push(message_json(m, Some(broker)));
    }
    Ok(Output::new(
        t.render(),
        json!({ "topic": topic, "key": key, "messages": msgs }),
    ))
}

pub async fn query_msg_by_unique_key(admin: &Admin, a: crate::QueryMsgByUniqueKeyArgs) -> Result<Output> {
    if a.consumer_group.is_some() && a.client_id.is_some() {
        bail!("consuming a message directly (-g with -d, CONSUME_MESSAGE_DIRECTLY) is not supported by rmqadmin");
    }
    let (topic, id) = (a.topic.trim(), a.msg_id.trim());
    let mut found = query_messages(admin, topic, id, 32, true).await?;
    if found.is_empty() {
        bail!("no message with unique key {id} in topic {topic}");
    }
    found.sort_by_key(|(_, m)| m.store_timestamp);
    if !a.show_all {
        found.truncate(1);
    }
    let mut text = String::new();
    let mut msgs = Vec::new();
    for (broker, m) in &found {
        text.push_str(&message_detail(m, false));
        text.push('\n');
        msgs.push(message_json(m, Some(broker)));
    }
    Ok(Output::new(
        text,
        json!({ "topic": topic, "msgId": id, "messages": msgs }),
    ))
}

pub async fn print_msg(admin: &Admin, a: crate::PrintMsgArgs) -> Result<Output> {
    let topic = a.topic.trim();
    if let Some(cs) = &a.charset_name {
        let c = cs.trim().to_ascii_uppercase().replace('_', "-");
        if c != "UTF-8" && c != "UTF8" {
            bail!("charset {cs} is not supported: rmqadmin prints bodies as UTF-8");
        }
    }
    let expression = a.sub_expression.as_deref().map(str::trim).unwrap_or("*").to_string();
    let print_body = a.print_body.as_deref().map(java_bool).unwrap_or(true);
    let begin = a.begin_timestamp.as_deref().map(parse_timestamp).transpose()?;
    let end = a.end_timestamp.as_deref().map(parse_timestamp).transpose()?;
    let route = admin.route(topic).await?;
    let mut text = String::new();
    let mut queues_json = Vec::new();
    for (broker, qid) in read_queues(&route) {
        let addr = addr_of_broker_name(&route, &broker).ok_or_else(|| anyhow!("broker {broker} has no address"))?;
        let mut min = queue_offset(admin, &addr, request::GET_MIN_OFFSET, topic, qid).await?;
        let mut max = queue_offset(admin, &addr, request::GET_MAX_OFFSET, topic, qid).await?;
        if let Some(b) = begin {
            min = search_offset(admin, &addr, topic, qid, b).await?;
        }
        if let Some(e) = end {
            max = search_offset(admin, &addr, topic, qid, e).await?;
        }
        let mq = format!("MessageQueue [topic={topic}, brokerName={broker}, queueId={qid}]");
        let _ = writeln!(text, "minOffset={min}, maxOffset={max}, {mq}");
        let mut msgs = Vec::new();
        let mut offset = min;
        let mut status = String::new();
        while offset < max {
            let (st, next) = pull(admin, &addr, TOOLS_CONSUMER_GROUP, topic, qid, offset, 32, &expression).await?;
            status = st.name().to_string();
            match st {
                PullStatus::Found(found) => {
                    for m in &found {
                        if m.queue_offset >= max {
                            continue;
                        }
                        text.push_str(&message_line(m, &broker, print_body));
                        let mut j = message_json(m, Some(&broker));
                        if !print_body {
                            j["body"] = Value::Null;
                        }
                        msgs.push(j);
                    }
                }
                PullStatus::NoMatchedMsg => {
                    let _ = writeln!(text, "{mq} no matched msg. status={status}, offset={next}");
                }
                PullStatus::NoNewMsg | PullStatus::OffsetIllegal => {
                    let _ = writeln!(text, "{mq} print msg finished. status={status}, offset={next}");
                    break;
                }
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        text.push_str("--------------------------------------------------------\n");
        queues_json.push(json!({
            "brokerName": broker, "queueId": qid, "minOffset": min, "maxOffset": max,
            "lastStatus": status, "messages": msgs,
        }));
    }
    Ok(Output::new(text, json!({ "topic": topic, "queues": queues_json })))
}

pub async fn consume_message(admin: &Admin, a: crate::ConsumeMessageArgs) -> Result<Output> {
    let topic = a.topic.trim();
    if a.message_number <= 0 {
        bail!("Please input a positive messageNumber (-c)");
    }
    if a.queue_id.is_some() && a.broker_name.is_none() {
        bail!("Please set the brokerName (-b) before queueId (-i)");
    }
    if a.offset.is_some() && a.queue_id.is_none() {
        bail!("Please set queueId (-i) before offset (-o)");
    }
    let now = now_millis();
    let begin = a
        .begin_timestamp
        .as_deref()
        .map(parse_timestamp)
        .transpose()?
        .unwrap_or(0);
    let end = a
        .end_timestamp
        .as_deref()
        .map(parse_timestamp)
        .transpose()?
        .unwrap_or(0);
    if begin > now {
        bail!("Please set the beginTimestamp before now");
    }
    if end > now {
        bail!("Please set the endTimestamp before now");
    }
    if end > 0 && begin > end {
        bail!("Please make sure that the beginTimestamp is less than or equal to the endTimestamp");
    }
    let group = a
        .consumer_group
        .as_deref()
        .map(str::trim)
        .unwrap_or(TOOLS_CONSUMER_GROUP)
        .to_string();
    let route = admin.route(topic).await?;
    let queues: Vec<(String, i32)> = match (&a.broker_name, a.queue_id) {
        (Some(b), Some(q)) => vec![(b.trim().to_string(), q)],
        (Some(b), None) => read_queues(&route).into_iter().filter(|(n, _)| n == b.trim()).collect(),
        _ => read_queues(&route),
    };
    if queues.is_empty() {
        bail!("topic {topic} has no readable queue there");
    }
    let by_queue = a.queue_id.is_some();
    let mut left = a.message_number;
    let mut text = String::new();
    let mut msgs = Vec::new();
    for (broker, qid) in queues {
        if left <= 0 {
            break;
        }
        let addr = addr_of_broker_name(&route, &broker)
            .ok_or_else(|| anyhow!("broker {broker} is not in the route of {topic}"))?;
        let mut min = queue_offset(admin, &addr, request::GET_MIN_OFFSET, topic, qid).await?;
        // Exclusive end, unlike mqadmin, which asks for one past the last message.
        let mut max = queue_offset(admin, &addr, request::GET_MAX_OFFSET, topic, qid).await?;
        if begin > 0 {
            min = search_offset(admin, &addr, topic, qid, begin).await?;
        }
        if end > 0 {
            max = search_offset(admin, &addr, topic, qid, end).await?;
        }
        let mq = format!("MessageQueue [topic={topic}, brokerName={broker}, queueId={qid}]");
        if let Some(o) = a.offset {
            if o > max {
                let _ = writeln!(text, "{mq} no matched msg, offset={o}");
                continue;
            }
            min = min.max(o);
        }
        if max - min > left {
            let _ = writeln!(
                text,
                "The older {left} message{} of queue {qid} will be provided",
                if left == 1 { "" } else { "s" }
            );
            max = min + left;
        }
        let mut offset = min;
        while offset < max {
            let want = (max - offset).min(32) as i32;
            let (st, next) = pull(admin, &addr, &group, topic, qid, offset, want, "*").await?;
            match st {
                PullStatus::Found(found) => {
                    text.push_str("Consume ok\n");
                    for m in found.iter().filter(|m| m.queue_offset < max) {
                        text.push_str(&message_line(m, &broker, true));
                        msgs.push(message_json(m, Some(&broker)));
                        left -= 1;
                    }
                }
                PullStatus::NoMatchedMsg => {
                    let _ = writeln!(text, "{mq} no matched msg. status=NO_MATCHED_MSG, offset={next}");
                }
                other => {
                    let _ = writeln!(text, "{mq} print msg finished. status={}, offset={next}", other.name());
                    break;
                }
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        if by_queue {
            break;
        }
    }
    let count = msgs.len();
    Ok(Output::new(
        text,
        json!({ "topic": topic, "group": group, "count": count, "messages": msgs }),
    ))
}

pub async fn send_message(admin: &Admin, a: crate::SendMessageArgs) -> Result<Output> {
    let topic = a.topic.trim().to_string();
    if a.qid.is_some() && a.broker.is_none() {
        bail!("Broker name (-b) must be set if the queue (-i) is chosen");
    }
    if a.msg_trace_enable.as_deref().is_some_and(java_bool) {
        bail!("message trace (-m true) is not supported by rmqadmin");
    }
    let route = match admin.route(&topic).await {
        Ok(r) => r,
        Err(e) => {
            // As a Java producer: a topic with no route is sent through TBW102's brokers,
            // which create it if they allow auto-creation.
            match admin.route(remoting::protocol::topic::AUTO_CREATE_TOPIC_KEY).await {
                Ok(r) => {
                    let mut r = r;
                    for q in &mut r.queue_datas {
                        q.write_queue_nums = q.write_queue_nums.min(4);
                        q.read_queue_nums = q.write_queue_nums;
                    }
                    r
                }
                Err(_) => return Err(e),
            }
        }
    };
    let mut queues = write_queues(&route);
    if let Some(b) = &a.broker {
        queues.retain(|(n, _)| n == b.trim());
        if let Some(q) = a.qid {
            queues.retain(|(_, id)| *id == q);
        }
        if queues.is_empty() {
            bail!(
                "topic {topic} has no writable queue {} on broker {}",
                a.qid.map(|q| q.to_string()).unwrap_or_default(),
                b.trim()
            );
        }
    }
    if queues.is_empty() {
        bail!("topic {topic} has no writable queue on a master broker");
    }
    let (broker, qid) = queues[(now_millis() as usize / 7) % queues.len()].clone();
    let addr = addr_of_broker_name(&route, &broker).ok_or_else(|| anyhow!("broker {broker} has no address"))?;
    let mut props = Vec::new();
    if let Some(k) = a.key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        props.push((codec::property::KEYS.to_string(), k.to_string()));
    }
    if let Some(t) = a.tags.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        props.push((codec::property::TAGS.to_string(), t.to_string()));
    }
    let group = now_millis().to_string();
    let r = send(
        admin,
        &addr,
        &broker,
        qid,
        &topic,
        a.body.trim().as_bytes(),
        &props,
        &group,
    )
    .await?;
    let mut t = Table::new(&["#Broker Name", "#QID", "#Send Result", "#MsgId"]);
    t.row(vec![
        r.broker_name.clone(),
        r.queue_id.to_string(),
        r.status.to_string(),
        r.msg_id.clone(),
    ]);
    Ok(Output::new(
        t.render(),
        json!({
            "topic": topic, "brokerName": r.broker_name, "queueId": r.queue_id, "sendStatus": r.status,
            "msgId": r.msg_id, "offsetMsgId": r.offset_msg_id, "queueOffset": r.queue_offset,
        }),
    ))
}
