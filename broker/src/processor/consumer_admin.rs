//! Admin views of topics, groups and offsets: topic and consume stats, connection lists,
//! offset tables, broker config, and the store maintenance codes. Bodies are written as
//! Java's fastjson writes them: maps keyed by MessageQueue have the queue object itself as
//! the key, Integer keys are bare.

use std::collections::BTreeSet;
use std::sync::Arc;

use remoting::code::{request, response};
use remoting::header::admin::{
    CloneGroupOffsetRequestHeader, GetBrokerConfigResponseHeader, GetConsumeStatsRequestHeader,
    GetConsumerConnectionListRequestHeader, GetProducerConnectionListRequestHeader, QueryConsumeQueueRequestHeader,
    QueryConsumeTimeSpanRequestHeader, QueryCorrectionOffsetHeader, TopicRequestHeader,
};
use remoting::protocol::topic::now_millis;
use remoting::{fastjson, Connection, HandlerResult, RemotingCommand, Router};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::client_manager::ClientConnectionInfo;
use crate::topic_config::SCHEDULE_TOPIC;
use crate::BrokerState;

pub fn routes(r: &mut Router, s: &Arc<BrokerState>) {
    r.route_with(s, request::GET_TOPIC_STATS_INFO, topic_stats);
    r.route_with(s, request::GET_CONSUMER_CONNECTION_LIST, consumer_connections);
    r.route_with(s, request::GET_PRODUCER_CONNECTION_LIST, producer_connections);
    r.route_with(s, request::GET_ALL_PRODUCER_INFO, all_producer_info);
    r.route_with(s, request::GET_CONSUME_STATS, consume_stats);
    r.route_with(s, request::GET_ALL_CONSUMER_OFFSET, all_consumer_offsets);
    r.route_with(s, request::GET_ALL_DELAY_OFFSET, all_delay_offsets);
    r.route_with(s, request::QUERY_TOPIC_CONSUME_BY_WHO, topic_consumed_by_who);
    r.route_with(s, request::QUERY_CONSUME_TIME_SPAN, consume_time_span);
    r.route_with(s, request::QUERY_CORRECTION_OFFSET, correction_offset);
    r.route_with(s, request::CLONE_GROUP_OFFSET, clone_group_offset);
    r.route_with(s, request::QUERY_CONSUME_QUEUE, query_consume_queue);
    r.route_with(s, request::GET_SYSTEM_TOPIC_LIST_FROM_BROKER, system_topics);
    r.route_with(s, request::GET_BROKER_CONFIG, broker_config);
    r.route_with(s, request::UPDATE_BROKER_CONFIG, update_broker_config);
    r.route_with(s, request::CLEAN_EXPIRED_CONSUMEQUEUE, clean_expired_consume_queue);
    r.route_with(s, request::DELETE_EXPIRED_COMMITLOG, delete_expired_commit_log);
    r.route_with(s, request::CLEAN_UNUSED_TOPIC, clean_unused_topic);
}

fn ok(req: &RemotingCommand, body: Vec<u8>) -> HandlerResult {
    Ok(Some(RemotingCommand::success(req).with_body(body)))
}

fn refuse(req: &RemotingCommand, code: i32, remark: String) -> HandlerResult {
    Ok(Some(RemotingCommand::response_to(req, code, Some(remark))))
}

/// A MessageQueue as fastjson writes it, for use as a map key.
fn queue_key(state: &BrokerState, topic: &str, queue_id: i32) -> String {
    json!({ "brokerName": state.config.broker_name, "queueId": queue_id, "topic": topic }).to_string()
}

/// `{key:value,...}` from already-serialized keys (fastjson's object-keyed maps).
fn object_keyed_map(entries: impl IntoIterator<Item = (String, Value)>) -> String {
    let parts: Vec<String> = entries.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("{{{}}}", parts.join(","))
}

fn connection_json(c: &ClientConnectionInfo) -> Value {
    json!({
        "clientAddr": c.client_addr,
        "clientId": c.client_id,
        "language": c.language,
        "version": c.version,
    })
}

async fn topic_stats(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: TopicRequestHeader = req.decode_header()?;
    let Some(topic) = state.topics.select(&h.topic) else {
        return refuse(&req, response::TOPIC_NOT_EXIST, format!("topic[{}] not exist", h.topic));
    };
    let store = &state.store;
    let entries = (0..topic.write_queue_nums).map(|q| {
        let min = store.min_offset_in_queue(&h.topic, q).max(0);
        let max = store.max_offset_in_queue(&h.topic, q).max(0);
        let last = if max > 0 {
            store.message_store_timestamp(&h.topic, q, max - 1)
        } else {
            0
        };
        (
            queue_key(&state, &h.topic, q),
            json!({ "lastUpdateTimestamp": last, "maxOffset": max, "minOffset": min }),
        )
    });
    ok(
        &req,
        format!("{{\"offsetTable\":{}}}", object_keyed_map(entries)).into_bytes(),
    )
}

async fn consumer_connections(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetConsumerConnectionListRequestHeader = req.decode_header()?;
    let Some(view) = state.clients.consumer_group_view(&h.consumer_group) else {
        return refuse(
            &req,
            response::CONSUMER_NOT_ONLINE,
            format!("the consumer group[{}] not online", h.consumer_group),
        );
    };
    let subscriptions: serde_json::Map<String, Value> = view
        .subscriptions
        .iter()
        .map(|(topic, sub)| (topic.clone(), sub.to_json()))
        .collect();
    let body = json!({
        "connectionSet": view.connections.iter().map(connection_json).collect::<Vec<_>>(),
        "consumeFromWhere": view.consume_from_where,
        "consumeType": view.consume_type,
        "messageModel": view.message_model,
        "subscriptionTable": subscriptions,
    });
    ok(&req, body.to_string().into_bytes())
}

async fn producer_connections(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetProducerConnectionListRequestHeader = req.decode_header()?;
    let Some(list) = state.clients.producer_connections(&h.producer_group) else {
        return refuse(
            &req,
            response::SYSTEM_ERROR,
            format!("the producer group[{}] not exist", h.producer_group),
        );
    };
    let body = json!({ "connectionSet": list.iter().map(connection_json).collect::<Vec<_>>() });
    ok(&req, body.to_string().into_bytes())
}

async fn all_producer_info(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let data: serde_json::Map<String, Value> = state
        .clients
        .producer_table()
        .into_iter()
        .map(|(group, list)| {
            let infos: Vec<Value> = list
                .iter()
                .map(|c| {
                    json!({
                        "clientId": c.client_id,
                        "language": c.language,
                        "lastUpdateTimestamp": c.last_update_timestamp,
                        // Java writes the channel's address, with its leading slash.
                        "remoteIP": format!("/{}", c.client_addr),
                        "version": c.version,
                    })
                })
                .collect();
            (group, Value::Array(infos))
        })
        .collect();
    ok(&req, json!({ "data": data }).to_string().into_bytes())
}

async fn consume_stats(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetConsumeStatsRequestHeader = req.decode_header()?;
    let group = &h.consumer_group;
    let topics = match h.topic.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(topic) => vec![topic.to_string()],
        None => state.offsets.topics_of_group(group),
    };
    let mut entries = Vec::new();
    let mut consume_tps = 0.0;
    for topic in topics {
        let Some(config) = state.topics.select(&topic) else {
            warn!(%topic, "consumeStats: the topic does not exist");
            continue;
        };
        // An online group is reported only on the topics it subscribes to.
        if state.clients.subscription_count(group) > 0 && state.clients.subscription(group, &topic).flatten().is_none()
        {
            continue;
        }
        for q in 0..config.read_queue_nums {
            let broker_offset = state.store.max_offset_in_queue(&topic, q).max(0);
            let consumer_offset = state.offsets.query(group, &topic, q).max(0);
            let last = if consumer_offset > 0 {
                state
                    .store
                    .message_store_timestamp(&topic, q, consumer_offset - 1)
                    .max(0)
            } else {
                0
            };
            entries.push((
                queue_key(&state, &topic, q),
                json!({ "brokerOffset": broker_offset, "consumerOffset": consumer_offset, "lastTimestamp": last }),
            ));
        }
        consume_tps += group_consume_tps(&state, &topic, group);
    }
    let body = format!(
        "{{\"consumeTps\":{},\"offsetTable\":{}}}",
        json!(consume_tps),
        object_keyed_map(entries)
    );
    ok(&req, body.into_bytes())
}

/// Messages per second the group pulled from the topic over the last minute.
fn group_consume_tps(state: &BrokerState, topic: &str, group: &str) -> f64 {
    state.stats.consume_tps(topic, group)
}

async fn all_consumer_offsets(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    ok(&req, state.offsets.encode())
}

async fn all_delay_offsets(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    ok(&req, state.delay_offsets.encode())
}

async fn topic_consumed_by_who(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: TopicRequestHeader = req.decode_header()?;
    let mut groups: BTreeSet<String> = state.clients.groups_subscribing(&h.topic).into_iter().collect();
    groups.extend(state.offsets.groups_of_topic(&h.topic));
    ok(&req, json!({ "groupList": groups }).to_string().into_bytes())
}

async fn consume_time_span(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: QueryConsumeTimeSpanRequestHeader = req.decode_header()?;
    let Some(config) = state.topics.select(&h.topic) else {
        return refuse(&req, response::TOPIC_NOT_EXIST, format!("topic[{}] not exist", h.topic));
    };
    let store = &state.store;
    let spans: Vec<String> = (0..config.write_queue_nums)
        .map(|q| {
            let min_time = store.earliest_message_time(&h.topic, q);
            let max = store.max_offset_in_queue(&h.topic, q);
            let max_time = store.message_store_timestamp(&h.topic, q, max - 1);
            let consumer_offset = state.offsets.query(&h.group, &h.topic, q);
            let consume_time = if consumer_offset > 0 {
                store.message_store_timestamp(&h.topic, q, consumer_offset - 1)
            } else {
                min_time
            };
            let delay = if consumer_offset < max {
                now_millis() - store.message_store_timestamp(&h.topic, q, consumer_offset)
            } else {
                0
            };
            format!(
                "{{\"consumeTimeStamp\":{consume_time},\"delayTime\":{delay},\"maxTimeStamp\":{max_time},\"messageQueue\":{},\"minTimeStamp\":{min_time}}}",
                queue_key(&state, &h.topic, q)
            )
        })
        .collect();
    ok(
        &req,
        format!("{{\"consumeTimeSpanSet\":[{}]}}", spans.join(",")).into_bytes(),
    )
}

async fn correction_offset(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: QueryCorrectionOffsetHeader = req.decode_header()?;
    let mut offsets = state
        .offsets
        .min_offsets_in_all_groups(&h.topic, h.filter_groups.as_deref());
    if let Some(compare) = state.offsets.queue_offsets(&h.compare_group, &h.topic) {
        for (queue, offset) in compare {
            // Java compares with the entry it expects to exist; a queue only the compared
            // group has is reported as Long.MAX_VALUE here rather than failing.
            let corrected = match offsets.get(&queue) {
                Some(min) if *min <= offset => *min,
                _ => i64::MAX,
            };
            offsets.insert(queue, corrected);
        }
    }
    let table: std::collections::BTreeMap<i64, i64> = offsets.into_iter().map(|(q, o)| (q as i64, o)).collect();
    #[derive(serde::Serialize)]
    struct Body {
        #[serde(rename = "correctionOffsets")]
        correction_offsets: std::collections::BTreeMap<i64, i64>,
    }
    ok(
        &req,
        fastjson::to_legacy_vec(&Body {
            correction_offsets: table,
        }),
    )
}

async fn clone_group_offset(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: CloneGroupOffsetRequestHeader = req.decode_header()?;
    let topics = match h.topic.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(topic) => vec![topic.to_string()],
        None => state.offsets.topics_of_group(&h.src_group),
    };
    for topic in topics {
        if state.topics.select(&topic).is_none() {
            warn!(%topic, "cloneGroupOffset: the topic does not exist");
            continue;
        }
        if !h.offline.unwrap_or(false)
            && state.clients.subscription_count(&h.src_group) > 0
            && state.clients.subscription(&h.src_group, &topic).flatten().is_none()
        {
            continue;
        }
        state.offsets.clone_offsets(&h.src_group, &h.dest_group, &topic);
    }
    Ok(Some(RemotingCommand::success(&req)))
}

async fn query_consume_queue(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: QueryConsumeQueueRequestHeader = req.decode_header()?;
    let topic = h.topic.clone().unwrap_or_default();
    let queue_id = h.queue_id.unwrap_or(0);
    let index = h.index.unwrap_or(0);
    let count = h.count.unwrap_or(0).max(0) as usize;
    let Some((min, max, units)) = state.store.consume_queue_entries(&topic, queue_id, index, count) else {
        return refuse(
            &req,
            response::SYSTEM_ERROR,
            format!("{queue_id}@{topic} is not exist!"),
        );
    };
    let mut body = serde_json::Map::new();
    if let Some(group) = h.consumer_group.as_deref() {
        match state.clients.subscription(group, &topic).flatten() {
            None => {
                body.insert("filterData".into(), json!(format!("{group}@{topic} is not online!")));
            }
            Some(sub) => {
                let filter = state.filters.get(&topic, group).map(|f| {
                    json!({
                        "bornTime": f.born_time, "clientVersion": f.client_version, "consumerGroup": group,
                        "deadTime": 0, "expression": f.expression, "expressionType": f.expression_type,
                        "topic": topic,
                    })
                });
                body.insert("filterData".into(), json!(filter.unwrap_or(Value::Null).to_string()));
                body.insert("subscriptionData".into(), sub.to_json());
            }
        }
    }
    body.insert("maxQueueIndex".into(), json!(max));
    body.insert("minQueueIndex".into(), json!(min));
    // Java leaves the response's default remark in place on this path.
    let mut res = RemotingCommand::response_to(&req, response::SUCCESS, Some("not set any response code".into()));
    match units {
        None => {
            res.remark = Some(format!("Index {index} of {queue_id}@{topic} is not exist!"));
        }
        Some(units) => {
            let data: Vec<Value> = units
                .iter()
                .map(|u| {
                    json!({ "eval": false, "physicOffset": u.commit_log_offset, "physicSize": u.size, "tagsCode": u.tags_code })
                })
                .collect();
            body.insert("queueData".into(), Value::Array(data));
        }
    }
    // Keys in fastjson's (alphabetical) order.
    let mut sorted: Vec<(String, Value)> = body.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let body: serde_json::Map<String, Value> = sorted.into_iter().collect();
    res.body = Value::Object(body).to_string().into_bytes().into();
    Ok(Some(res))
}

async fn system_topics(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    ok(
        &req,
        json!({ "topicList": crate::topic_config::system_topics(&state.config) })
            .to_string()
            .into_bytes(),
    )
}

async fn broker_config(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let body = state.runtime_config.shown_configs_text();
    let header = GetBrokerConfigResponseHeader {
        version: state.runtime_config.version_json(),
    };
    Ok(Some(
        RemotingCommand::success(&req)
            .with_header(&header)
            .with_body(body.into_bytes()),
    ))
}

async fn update_broker_config(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    info!(client = %conn.peer_addr(), "updateBrokerConfig called");
    if req.body.is_empty() {
        return Ok(Some(RemotingCommand::success(&req)));
    }
    let text = String::from_utf8_lossy(&req.body).into_owned();
    match state.runtime_config.update(&text) {
        Err(refused) => refuse(&req, refused.code, refused.remark),
        Ok(updated) => {
            state.stats.set_enabled(state.live().enable_broker_stats);
            if !updated.store_changes.is_empty() {
                if let Err(e) = state.store.update_settings(&updated.store_changes) {
                    warn!("UPDATE_BROKER_CONFIG: {e}; store settings not applied");
                }
            }
            if updated.permission_given {
                // The name servers learn the new permission at once, as Java re-registers.
                state.topics.bump_data_version();
                let state = state.clone();
                tokio::spawn(async move { crate::registration::register_all(&state).await });
            }
            Ok(Some(RemotingCommand::success(&req)))
        }
    }
}

async fn clean_expired_consume_queue(
    state: Arc<BrokerState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    warn!("cleanExpiredConsumeQueue invoked");
    let destroyed = state.store.clean_expired_consume_queues();
    info!(destroyed, "cleanExpiredConsumeQueue done");
    Ok(Some(RemotingCommand::success(&req)))
}

async fn delete_expired_commit_log(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    warn!("deleteExpiredCommitLog invoked");
    let deleted = state.store.delete_expired_files_now();
    info!(deleted, "deleteExpiredCommitLog done");
    Ok(Some(RemotingCommand::success(&req)))
}

async fn clean_unused_topic(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    warn!("cleanUnusedTopic invoked");
    let known: BTreeSet<String> = state.topics.topic_names().into_iter().collect();
    let unused: Vec<String> = state
        .store
        .topics()
        .into_iter()
        .filter(|t| !known.contains(t) && t != SCHEDULE_TOPIC && t != "RMQ_SYS_TRANS_OP_HALF_TOPIC")
        .collect();
    if !unused.is_empty() {
        info!(topics = ?unused, "cleanUnusedTopic: dropping the queues of topics without config");
        let names: Vec<&str> = unused.iter().map(String::as_str).collect();
        state.store.delete_topics(&names);
    }
    Ok(Some(RemotingCommand::success(&req)))
}
