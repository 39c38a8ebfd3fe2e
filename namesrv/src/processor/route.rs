//! Route queries and topic lists: GET_ROUTEINFO_BY_TOPIC, GET_BROKER_CLUSTER_INFO,
//! GET_ALL_TOPIC_LIST_FROM_NAMESERVER, DELETE_TOPIC_IN_NAMESRV, GET_TOPICS_BY_CLUSTER and
//! the system/unit topic lists.

use std::sync::Arc;

use remoting::code::{response, version};
use remoting::header::namesrv::*;
use remoting::protocol::TopicList;
use remoting::{fastjson, Connection, HandlerResult, RemotingCommand};

use crate::kv_config::NAMESPACE_ORDER_TOPIC_CONFIG;
use crate::NamesrvState;

pub async fn get_route_info(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetRouteInfoRequestHeader = req.decode_header()?;
    let support_acting_master = state.config.read().unwrap().support_acting_master;
    let Some(mut route) = state
        .routes
        .pickup_topic_route_data_acting(&h.topic, support_acting_master)
    else {
        state.lookups.miss.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let remark = format!(
            "No topic route info in name server for the topic: {}\nSee http://rocketmq.apache.org/docs/faq/ for further details.",
            h.topic
        );
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::TOPIC_NOT_EXIST,
            Some(remark),
        )));
    };
    state.lookups.found.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if state.config.read().unwrap().order_message_enable {
        route.order_topic_conf = state.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, &h.topic);
    }
    // Clients before 4.9.4 parse the legacy fastjson form (bare integer keys) and may not
    // cope with standard JSON; newer ones, or ones that ask, get standard JSON.
    let standard = req.version >= version::V4_9_4 || h.accept_standard_json_only == Some(true);
    Ok(Some(RemotingCommand::success(&req).with_body(route.to_json(!standard))))
}

pub async fn get_cluster_info(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    // Java writes ClusterInfo in fastjson's default form, whatever the client's version.
    let body = fastjson::to_legacy_vec(&state.routes.cluster_info());
    Ok(Some(RemotingCommand::success(&req).with_body(body)))
}

fn topic_list(req: &RemotingCommand, list: TopicList) -> HandlerResult {
    Ok(Some(
        RemotingCommand::success(req).with_body(fastjson::to_standard_vec(&list)),
    ))
}

pub async fn get_all_topics(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    topic_list(&req, state.routes.all_topics())
}

pub async fn delete_topic(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: DeleteTopicFromNamesrvRequestHeader = req.decode_header()?;
    match h.cluster_name.as_deref() {
        Some(cluster) if !cluster.is_empty() => state.routes.delete_topic_in_cluster(&h.topic, cluster),
        _ => state.routes.delete_topic(&h.topic),
    }
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn get_topics_by_cluster(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetTopicsByClusterRequestHeader = req.decode_header()?;
    topic_list(&req, state.routes.topics_by_cluster(&h.cluster))
}

pub async fn get_system_topics(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    topic_list(&req, state.routes.system_topics())
}

pub async fn get_unit_topics(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    topic_list(&req, state.routes.unit_topics())
}

pub async fn get_has_unit_sub_topics(
    state: Arc<NamesrvState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    topic_list(&req, state.routes.has_unit_sub_topics())
}

pub async fn get_has_unit_sub_ununit_topics(
    state: Arc<NamesrvState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    topic_list(&req, state.routes.has_unit_sub_ununit_topics())
}
