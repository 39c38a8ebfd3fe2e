//! The broker's dispatch table: one module per request family.

mod admin;
mod client;
mod offset;
mod pull;
mod send;

use std::future::Future;
use std::sync::Arc;

use remoting::code::request;
use remoting::{Connection, HandlerResult, RemotingCommand, Router};

use crate::BrokerState;

pub fn router(state: Arc<BrokerState>) -> Router {
    let mut r = Router::new();
    let s = &state;
    add(&mut r, s, request::SEND_MESSAGE, send::send_message);
    add(&mut r, s, request::SEND_MESSAGE_V2, send::send_message);
    add(&mut r, s, request::SEND_BATCH_MESSAGE, send::send_message);

    add(&mut r, s, request::PULL_MESSAGE, pull::pull_message);

    add(&mut r, s, request::HEART_BEAT, client::heartbeat);
    add(&mut r, s, request::UNREGISTER_CLIENT, client::unregister_client);
    add(&mut r, s, request::GET_CONSUMER_LIST_BY_GROUP, client::consumer_list);
    add(&mut r, s, request::CHECK_CLIENT_CONFIG, client::check_client_config);

    add(&mut r, s, request::QUERY_CONSUMER_OFFSET, offset::query_consumer_offset);
    add(
        &mut r,
        s,
        request::UPDATE_CONSUMER_OFFSET,
        offset::update_consumer_offset,
    );
    add(&mut r, s, request::GET_MAX_OFFSET, offset::max_offset);
    add(&mut r, s, request::GET_MIN_OFFSET, offset::min_offset);
    add(
        &mut r,
        s,
        request::SEARCH_OFFSET_BY_TIMESTAMP,
        offset::search_offset_by_timestamp,
    );
    add(
        &mut r,
        s,
        request::GET_EARLIEST_MSG_STORETIME,
        offset::earliest_msg_store_time,
    );
    add(&mut r, s, request::VIEW_MESSAGE_BY_ID, offset::view_message_by_id);
    add(&mut r, s, request::QUERY_MESSAGE, offset::query_message);

    add(
        &mut r,
        s,
        request::UPDATE_AND_CREATE_TOPIC,
        admin::update_and_create_topic,
    );
    add(&mut r, s, request::DELETE_TOPIC_IN_BROKER, admin::delete_topic);
    add(&mut r, s, request::GET_ALL_TOPIC_CONFIG, admin::all_topic_config);
    add(
        &mut r,
        s,
        request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        admin::update_subscription_group,
    );
    add(
        &mut r,
        s,
        request::DELETE_SUBSCRIPTIONGROUP,
        admin::delete_subscription_group,
    );
    add(
        &mut r,
        s,
        request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        admin::all_subscription_groups,
    );

    let state = state.clone();
    r.on_disconnected(move |conn| {
        for group in state.clients.connection_closed(conn.id()) {
            if state.config.notify_consumer_ids_changed_enable {
                state.clients.notify_consumer_ids_changed(&group);
            }
        }
    });
    r
}

fn add<F, Fut>(router: &mut Router, state: &Arc<BrokerState>, code: i32, handler: F)
where
    F: Fn(Arc<BrokerState>, Connection, RemotingCommand) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    let state = state.clone();
    router.route(code, move |conn, req| handler(state.clone(), conn, req));
}
