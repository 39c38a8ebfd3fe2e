//! The name server's dispatch table: one module per request family.

mod broker;
mod config;
mod kv;
mod route;

use std::sync::Arc;

use remoting::code::request;
use remoting::Router;

use crate::NamesrvState;

/// Builds the dispatch table for every request code the name server answers.
pub fn router(state: Arc<NamesrvState>) -> Router {
    let mut r = Router::new();
    let s = &state;
    r.route_with(s, request::REGISTER_BROKER, broker::register_broker);
    r.route_with(s, request::UNREGISTER_BROKER, broker::unregister_broker);
    r.route_with(s, request::QUERY_DATA_VERSION, broker::query_data_version);
    r.route_with(s, request::WIPE_WRITE_PERM_OF_BROKER, broker::wipe_write_perm);
    r.route_with(s, request::ADD_WRITE_PERM_OF_BROKER, broker::add_write_perm);
    r.route_with(s, request::BROKER_HEARTBEAT, broker::broker_heartbeat);
    r.route_with(s, request::GET_BROKER_MEMBER_GROUP, broker::broker_member_group);
    r.route_with(s, request::REGISTER_TOPIC_IN_NAMESRV, broker::register_topic);

    r.route_with(s, request::GET_ROUTEINFO_BY_TOPIC, route::get_route_info);
    r.route_with(s, request::GET_BROKER_CLUSTER_INFO, route::get_cluster_info);
    r.route_with(s, request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, route::get_all_topics);
    r.route_with(s, request::DELETE_TOPIC_IN_NAMESRV, route::delete_topic);
    r.route_with(s, request::GET_TOPICS_BY_CLUSTER, route::get_topics_by_cluster);
    r.route_with(s, request::GET_SYSTEM_TOPIC_LIST_FROM_NS, route::get_system_topics);
    r.route_with(s, request::GET_UNIT_TOPIC_LIST, route::get_unit_topics);
    r.route_with(s, request::GET_HAS_UNIT_SUB_TOPIC_LIST, route::get_has_unit_sub_topics);
    r.route_with(
        s,
        request::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST,
        route::get_has_unit_sub_ununit_topics,
    );

    r.route_with(s, request::PUT_KV_CONFIG, kv::put);
    r.route_with(s, request::GET_KV_CONFIG, kv::get);
    r.route_with(s, request::DELETE_KV_CONFIG, kv::delete);
    r.route_with(s, request::GET_KVLIST_BY_NAMESPACE, kv::list_namespace);

    r.route_with(s, request::UPDATE_NAMESRV_CONFIG, config::update);
    r.route_with(s, request::GET_NAMESRV_CONFIG, config::get);

    let state = state.clone();
    r.on_disconnected(move |conn| state.routes.on_connection_closed(conn.id()));
    r
}
