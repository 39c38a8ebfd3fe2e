//! Topic and subscription-group administration: UPDATE_AND_CREATE_TOPIC (17),
//! DELETE_TOPIC_IN_BROKER (215), GET_ALL_TOPIC_CONFIG (21),
//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200), DELETE_SUBSCRIPTIONGROUP (207),
//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), and 5.x's GET_TOPIC_CONFIG (351).

use std::sync::Arc;

use remoting::code::response;
use remoting::header::broker::{
    CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader, DeleteTopicRequestHeader,
    GetTopicConfigRequestHeader,
};
use remoting::protocol::topic::TopicConfig;
use remoting::{fastjson, Connection, HandlerError, HandlerResult, RemotingCommand};

use crate::subscription_group::SubscriptionGroupConfig;
use crate::topic_config::{is_system_topic, validate_topic_name};
use crate::BrokerState;

/// Java's validateSlave: topics and groups are changed on the master only (a slave takes
/// them from its master every 10 s).
fn refused_on_slave(state: &BrokerState, req: &RemotingCommand) -> Option<RemotingCommand> {
    state.ha.is_slave().then(|| {
        RemotingCommand::response_to(
            req,
            response::SYSTEM_ERROR,
            Some(
                "Can't modify topic or subscription group from slave broker, please execute it from master broker."
                    .into(),
            ),
        )
    })
}

/// Java's TopicValidator checks of a topic an admin creates or deletes.
fn invalid_admin_topic(state: &BrokerState, req: &RemotingCommand, topic: &str) -> Option<RemotingCommand> {
    let remark = match validate_topic_name(topic) {
        Err(remark) => remark,
        Ok(()) if is_system_topic(&state.config, topic) => format!("The topic[{topic}] is conflict with system topic."),
        Ok(()) => return None,
    };
    Some(RemotingCommand::response_to(req, response::SYSTEM_ERROR, Some(remark)))
}

pub async fn update_and_create_topic(
    state: Arc<BrokerState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    if let Some(refused) = refused_on_slave(&state, &req) {
        return Ok(Some(refused));
    }
    let h: CreateTopicRequestHeader = req.decode_header()?;
    if h.topic == state.config.broker_cluster_name {
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::SYSTEM_ERROR,
            Some(format!(
                "the topic[{}] is conflict with system reserved words.",
                h.topic
            )),
        )));
    }
    if let Some(invalid) = invalid_admin_topic(&state, &req, &h.topic) {
        return Ok(Some(invalid));
    }
    state.topics.update(TopicConfig {
        attributes: None,
        order: h.order,
        perm: h.perm,
        read_queue_nums: h.read_queue_nums,
        topic_filter_type: h.topic_filter_type,
        topic_name: h.topic,
        topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
        write_queue_nums: h.write_queue_nums,
    });
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn delete_topic(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    if let Some(refused) = refused_on_slave(&state, &req) {
        return Ok(Some(refused));
    }
    let h: DeleteTopicRequestHeader = req.decode_header()?;
    if let Some(invalid) = invalid_admin_topic(&state, &req, &h.topic) {
        return Ok(Some(invalid));
    }
    state.topics.delete(&h.topic);
    state.offsets.remove_topic(&h.topic);
    state.store.delete_topics(&[h.topic.as_str()]);
    if let Some(timer) = &state.timer {
        timer.metrics.remove_topic(&h.topic);
    }
    if state.live().auto_delete_unused_stats {
        state.stats.on_topic_deleted(&h.topic);
    }
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn all_topic_config(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let body = fastjson::to_standard_vec(&state.topics.wrapper());
    Ok(Some(RemotingCommand::success(&req).with_body(body)))
}

/// GET_TOPIC_CONFIG (5.x, 351): one topic's config, as 5.x writes TopicConfigAndQueueMapping
/// (a TopicConfig with `attributes`, always present there, and a `mappingDetail` that only
/// static topics have; ours never do). A topic the broker does not have is TOPIC_NOT_EXIST.
pub async fn topic_config(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetTopicConfigRequestHeader = req.decode_header()?;
    let topic = h.topic;
    let Some(mut config) = state.topics.select(&topic) else {
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::TOPIC_NOT_EXIST,
            Some(format!("No topic in this broker. topic: {topic}")),
        )));
    };
    config.attributes.get_or_insert_with(Default::default);
    Ok(Some(
        RemotingCommand::success(&req).with_body(fastjson::to_standard_vec(&config)),
    ))
}

pub async fn update_subscription_group(
    state: Arc<BrokerState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    if let Some(refused) = refused_on_slave(&state, &req) {
        return Ok(Some(refused));
    }
    let config: SubscriptionGroupConfig = fastjson::from_slice(&req.body)
        .map_err(|e| HandlerError::system(format!("bad SubscriptionGroupConfig body: {e}")))?;
    state.groups.update(config);
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn delete_subscription_group(
    state: Arc<BrokerState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    if let Some(refused) = refused_on_slave(&state, &req) {
        return Ok(Some(refused));
    }
    let h: DeleteSubscriptionGroupRequestHeader = req.decode_header()?;
    state.groups.delete(&h.group_name);
    if state.live().auto_delete_unused_stats {
        state.stats.on_group_deleted(&h.group_name);
    }
    // 4.9.8's mqadmin says removeOffset, 5.x's cleanOffset.
    if h.clean_offset == Some(true) || h.remove_offset == Some(true) {
        state.offsets.remove_group(&h.group_name);
    }
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn all_subscription_groups(
    state: Arc<BrokerState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    Ok(Some(RemotingCommand::success(&req).with_body(state.groups.body())))
}
