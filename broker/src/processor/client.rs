//! Client management: HEART_BEAT (34, with 5.x's heartbeat v2), UNREGISTER_CLIENT (35), GET_CONSUMER_LIST_BY_GROUP
//! (38), CHECK_CLIENT_CONFIG (46).

use std::sync::Arc;

use remoting::code::response;
use remoting::header::broker::{GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader};
use remoting::protocol::route::perm;
use remoting::{fastjson, Connection, HandlerError, HandlerResult, RemotingCommand};
use serde_json::json;

use tracing::warn;

use crate::client_manager::HeartbeatData;
use crate::consumer_filter::is_tag_type;
use crate::filter;
use crate::topic_config::RETRY_GROUP_TOPIC_PREFIX;
use crate::BrokerState;

pub async fn heartbeat(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let data: HeartbeatData =
        fastjson::from_slice(&req.body).map_err(|e| HandlerError::system(format!("bad HeartbeatData body: {e}")))?;
    let mut created = false;
    for consumer in &data.consumer_data_set {
        // Each consumer group gets its retry topic, sized by the group's config.
        if let Some(group) = state.groups.find(&consumer.group_name) {
            let retry_topic = format!("{RETRY_GROUP_TOPIC_PREFIX}{}", consumer.group_name);
            if state.topics.select(&retry_topic).is_none() {
                state
                    .topics
                    .create_if_absent(&retry_topic, group.retry_queue_nums.max(1), perm::READ | perm::WRITE, 0);
                created = true;
            }
        }
    }
    if created {
        // The client's rebalance looks the retry topic up right after this answer.
        state.wait_new_topics_registered().await;
    }
    let sub_change = state.clients.record_fingerprints(&data);
    tracing::debug!(
        client = %data.client_id,
        fingerprint = data.heartbeat_fingerprint,
        without_sub = data.without_sub,
        sub_change,
        "heartbeat"
    );
    if !data.keeps_subscriptions() {
        for consumer in &data.consumer_data_set {
            state
                .filters
                .register(&consumer.group_name, &consumer.subscription_data_set);
        }
    }
    state.announce_membership_changes(
        state
            .clients
            .heartbeat(&conn, &data, &req.language.to_string(), req.version),
    );
    // A 5.x client switches to fingerprint-only heartbeats once a broker says it takes them,
    // and sends its subscriptions again when told they may have changed.
    let mut res = RemotingCommand::success(&req);
    res.ext_mut().insert(IS_SUPPORT_HEART_BEAT_V2, "true");
    res.ext_mut().insert(IS_SUB_CHANGE, sub_change.to_string());
    Ok(Some(res))
}

/// Ext fields of a heartbeat's answer that 5.x clients read (`MixAll` in 5.x).
const IS_SUPPORT_HEART_BEAT_V2: &str = "IS_SUPPORT_HEART_BEAT_V2";
const IS_SUB_CHANGE: &str = "IS_SUB_CHANGE";

pub async fn unregister_client(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: UnregisterClientRequestHeader = req.decode_header()?;
    let changed = state
        .clients
        .unregister(&conn, h.producer_group.as_deref(), h.consumer_group.as_deref());
    state.announce_membership_changes(changed);
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn consumer_list(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetConsumerListByGroupRequestHeader = req.decode_header()?;
    let ids = state.clients.consumer_ids(&h.consumer_group);
    if ids.is_empty() {
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::SYSTEM_ERROR,
            Some(format!("no consumer for this group, {}", h.consumer_group)),
        )));
    }
    let body = serde_json::to_vec(&json!({ "consumerIdList": ids })).expect("a list of strings serializes");
    Ok(Some(RemotingCommand::success(&req).with_body(body)))
}

pub async fn check_client_config(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let body: serde_json::Value = fastjson::parse(&req.body).unwrap_or_default();
    let Some(sub) = body.get("subscriptionData").filter(|s| s.is_object()) else {
        return Ok(Some(RemotingCommand::success(&req)));
    };
    let expression_type = sub.get("expressionType").and_then(|v| v.as_str());
    if is_tag_type(expression_type) {
        return Ok(Some(RemotingCommand::success(&req)));
    }
    let expression_type = expression_type.unwrap_or_default();
    if !state.live().enable_property_filter {
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::SYSTEM_ERROR,
            Some(format!(
                "The broker does not support consumer to filter message by {expression_type}"
            )),
        )));
    }
    // SQL92 is the only filter type; Java fails any other one while looking up its filter.
    // (a NullPointerException, whose message, the remark, is null).
    let compiled = if expression_type == "SQL92" {
        filter::compile(sub.get("subString").and_then(|v| v.as_str()).unwrap_or_default())
            .map_err(|e| Some(e.to_string()))
    } else {
        Err(None)
    };
    if let Err(text) = compiled {
        warn!(group = ?body.get("group"), client = ?body.get("clientId"), expression_type,
            "a consumer's filter does not compile: {}", text.as_deref().unwrap_or("no such filter type"));
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::SUBSCRIPTION_PARSE_FAILED,
            text,
        )));
    }
    Ok(Some(RemotingCommand::success(&req)))
}
