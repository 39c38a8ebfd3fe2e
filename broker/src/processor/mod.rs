//! The broker's dispatch table: one module per request family.

mod acl_admin;
mod admin;
mod broker_stats;
mod client;
pub(crate) mod client_admin;
mod consumer_admin;
mod lock;
mod offset;
mod pop;
mod pop_ack;
mod pop_assignment;
mod pull;
mod reply;
mod send;
mod transaction;

use std::sync::Arc;

use remoting::code::request;
use remoting::Router;

use crate::BrokerState;

pub fn router(state: Arc<BrokerState>) -> Router {
    let mut r = Router::new();
    let s = &state;
    r.route_with(s, request::SEND_MESSAGE, send::send_message);
    r.route_with(s, request::SEND_MESSAGE_V2, send::send_message);
    r.route_with(s, request::SEND_BATCH_MESSAGE, send::send_message);
    r.route_with(s, request::CONSUMER_SEND_MSG_BACK, send::consumer_send_msg_back);
    r.route_with(s, request::END_TRANSACTION, transaction::end_transaction);
    r.route_with(s, request::SEND_REPLY_MESSAGE, reply::send_reply_message);
    r.route_with(s, request::SEND_REPLY_MESSAGE_V2, reply::send_reply_message);
    r.route_with(s, request::RECALL_MESSAGE, crate::timer::recall::recall_message);
    r.route_with(s, request::GET_TIMER_CHECK_POINT, crate::timer::get_timer_check_point);
    r.route_with(s, request::GET_TIMER_METRICS, crate::timer::get_timer_metrics);

    r.route_with(s, request::PULL_MESSAGE, pull::pull_message);
    r.route_with(s, request::LITE_PULL_MESSAGE, pull::pull_message);

    // POP consumption (5.x).
    r.route_with(s, request::POP_MESSAGE, pop::pop_message);
    r.route_with(s, request::PEEK_MESSAGE, pop::peek_message);
    r.route_with(s, request::NOTIFICATION, pop::notification);
    r.route_with(s, request::POLLING_INFO, pop::polling_info);
    r.route_with(s, request::ACK_MESSAGE, pop_ack::ack_message);
    r.route_with(s, request::BATCH_ACK_MESSAGE, pop_ack::batch_ack_message);
    r.route_with(s, request::CHANGE_MESSAGE_INVISIBLETIME, pop_ack::change_invisible_time);
    r.route_with(s, request::QUERY_ASSIGNMENT, pop_assignment::query_assignment);
    r.route_with(
        s,
        request::SET_MESSAGE_REQUEST_MODE,
        pop_assignment::set_message_request_mode,
    );
    r.route_with(
        s,
        request::GET_ALL_MESSAGE_REQUEST_MODE,
        pop_assignment::all_message_request_modes,
    );

    r.route_with(s, request::HEART_BEAT, client::heartbeat);
    r.route_with(s, request::UNREGISTER_CLIENT, client::unregister_client);
    r.route_with(s, request::GET_CONSUMER_LIST_BY_GROUP, client::consumer_list);
    r.route_with(s, request::CHECK_CLIENT_CONFIG, client::check_client_config);

    r.route_with(s, request::LOCK_BATCH_MQ, lock::lock_batch_mq);
    r.route_with(s, request::UNLOCK_BATCH_MQ, lock::unlock_batch_mq);

    r.route_with(s, request::QUERY_CONSUMER_OFFSET, offset::query_consumer_offset);
    r.route_with(s, request::UPDATE_CONSUMER_OFFSET, offset::update_consumer_offset);
    r.route_with(s, request::GET_MAX_OFFSET, offset::max_offset);
    r.route_with(s, request::GET_MIN_OFFSET, offset::min_offset);
    r.route_with(
        s,
        request::SEARCH_OFFSET_BY_TIMESTAMP,
        offset::search_offset_by_timestamp,
    );
    r.route_with(s, request::GET_EARLIEST_MSG_STORETIME, offset::earliest_msg_store_time);
    r.route_with(s, request::VIEW_MESSAGE_BY_ID, offset::view_message_by_id);
    r.route_with(s, request::QUERY_MESSAGE, offset::query_message);

    r.route_with(s, request::UPDATE_AND_CREATE_TOPIC, admin::update_and_create_topic);
    r.route_with(s, request::DELETE_TOPIC_IN_BROKER, admin::delete_topic);
    r.route_with(s, request::GET_ALL_TOPIC_CONFIG, admin::all_topic_config);
    r.route_with(s, request::GET_TOPIC_CONFIG, admin::topic_config);
    r.route_with(
        s,
        request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        admin::update_subscription_group,
    );
    r.route_with(s, request::DELETE_SUBSCRIPTIONGROUP, admin::delete_subscription_group);
    r.route_with(
        s,
        request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        admin::all_subscription_groups,
    );

    // Admin: a half message checked again (Java's AdminBrokerProcessor answers it).
    r.route_with(
        s,
        request::RESUME_CHECK_HALF_MESSAGE,
        transaction::resume_check_half_message,
    );

    // Admin families that route their own codes.
    broker_stats::routes(&mut r, s);
    consumer_admin::routes(&mut r, s);
    client_admin::routes(&mut r, s);
    acl_admin::routes(&mut r, s);
    if state.acl.is_some() {
        let guarded = state.clone();
        r.guard(move |conn, req| match &guarded.acl {
            Some(acl) => acl.check(&conn.peer_addr().ip(), req),
            None => Ok(()),
        });
    }

    let state = state.clone();
    r.on_disconnected(move |conn| state.announce_membership_changes(state.clients.connection_closed(conn.id())));
    r
}
