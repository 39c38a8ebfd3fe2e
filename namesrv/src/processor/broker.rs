//! Broker registration and broker-wide permission changes:
//! REGISTER_BROKER, UNREGISTER_BROKER, QUERY_DATA_VERSION, WIPE/ADD_WRITE_PERM_OF_BROKER,
//! and the 5.x BROKER_HEARTBEAT, GET_BROKER_MEMBER_GROUP and REGISTER_TOPIC_IN_NAMESRV.

use std::sync::Arc;
use std::time::Duration;

use remoting::header::namesrv::*;
use remoting::protocol::register::{body_crc32, RegisterBrokerBody, RegisterBrokerBodySummary};
use remoting::protocol::register_view::RegisterBrokerBodyView;
use remoting::protocol::route::{GetBrokerMemberGroupResponseBody, TopicRouteData};
use remoting::protocol::topic::{DataVersion, TopicConfigSerializeWrapper};
use remoting::{fastjson, Connection, HandlerError, HandlerResult, RemotingCommand};

use crate::kv_config::NAMESPACE_ORDER_TOPIC_CONFIG;
use crate::route_info::{RegisterBrokerResult, Registration, Topics};
use crate::NamesrvState;

/// The ext field a 5.x broker names its zone in (`MixAll.ZONE_NAME`).
const ZONE_NAME_EXT: &str = "__ZONE_NAME";

/// Brokers older than V3_0_11 send a bare TopicConfigSerializeWrapper without filter servers.
const V3_0_11: i32 = 37;

pub async fn register_broker(state: Arc<NamesrvState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let header: RegisterBrokerRequestHeader = req.decode_header()?;
    let expected_crc = header.body_crc32.unwrap_or(0);
    if expected_crc != 0 && expected_crc != body_crc32(&req.body) {
        return Err(HandlerError::system("crc32 not match"));
    }

    let timeout = header
        .heartbeat_timeout_millis
        .filter(|ms| *ms > 0)
        .unwrap_or(state.config.read().unwrap().broker_channel_expired_time as i64);
    let timeout = Duration::from_millis(timeout as u64);

    let compressed = header.compressed.unwrap_or(false);
    // First try with the data version alone: an unchanged one (the usual 30 s refresh) or a
    // slave needs no topic table, and decoding one of 10,000 topics dominates the cost.
    if req.version >= V3_0_11 && !compressed && !req.body.is_empty() {
        if let Some(summary) = RegisterBrokerBodySummary::read(&req.body) {
            let version = &summary.data_version;
            let filters = Some(summary.filter_server_list.as_slice());
            if let Some(result) = state
                .routes
                .register_broker(registration(&header, &req, &conn, timeout, version, None, filters))
            {
                return Ok(Some(register_response(&state, &req, result)));
            }
        }
        // A changed version: read the topics in place from the body. A body this reader
        // does not know (the fastjson dialect, odd values) takes the generic decode below.
        if let Some(view) = RegisterBrokerBodyView::read(&req.body) {
            let filters = Some(view.filter_server_list.as_slice());
            let result = state
                .routes
                .register_broker(registration(
                    &header,
                    &req,
                    &conn,
                    timeout,
                    &view.data_version,
                    Some(Topics::View(&view)),
                    filters,
                ))
                .expect("topics given");
            return Ok(Some(register_response(&state, &req, result)));
        }
    }

    let (wrapper, filter_servers) = if req.body.is_empty() {
        let wrapper = TopicConfigSerializeWrapper {
            data_version: DataVersion::default(),
            ..Default::default()
        };
        (wrapper, if req.version >= V3_0_11 { Some(Vec::new()) } else { None })
    } else if req.version >= V3_0_11 {
        let body = RegisterBrokerBody::decode(&req.body, compressed)
            .map_err(|e| HandlerError::system(format!("Failed to decode RegisterBrokerBody: {e}")))?;
        (body.topic_config_serialize_wrapper, Some(body.filter_server_list))
    } else {
        let wrapper = fastjson::from_slice(&req.body)
            .map_err(|e| HandlerError::system(format!("Failed to decode TopicConfigSerializeWrapper: {e}")))?;
        (wrapper, None)
    };
    let result = state
        .routes
        .register_broker(registration(
            &header,
            &req,
            &conn,
            timeout,
            &wrapper.data_version,
            Some(Topics::Wrapper(&wrapper)),
            filter_servers.as_deref(),
        ))
        .expect("topics given");
    Ok(Some(register_response(&state, &req, result)))
}

fn registration<'a>(
    header: &'a RegisterBrokerRequestHeader,
    req: &'a RemotingCommand,
    conn: &Connection,
    timeout: Duration,
    data_version: &'a DataVersion,
    topic_config: Option<Topics<'a>>,
    filter_server_list: Option<&'a [String]>,
) -> Registration<'a> {
    Registration {
        cluster_name: &header.cluster_name,
        broker_addr: &header.broker_addr,
        broker_name: &header.broker_name,
        broker_id: header.broker_id,
        ha_server_addr: &header.ha_server_addr,
        data_version,
        topic_config,
        filter_server_list,
        connection: Some(conn.clone()),
        timeout,
        enable_acting_master: header.enable_acting_master,
        zone_name: req.ext().get(ZONE_NAME_EXT),
    }
}

fn register_response(state: &NamesrvState, req: &RemotingCommand, result: RegisterBrokerResult) -> RemotingCommand {
    let mut res = RemotingCommand::success(req).with_header(&RegisterBrokerResponseHeader {
        ha_server_addr: result.ha_server_addr,
        master_addr: result.master_addr,
    });
    if let Some(order_config) = state.kv.namespace_body(NAMESPACE_ORDER_TOPIC_CONFIG) {
        res.body = order_config.into();
    }
    res
}

pub async fn unregister_broker(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: UnRegisterBrokerRequestHeader = req.decode_header()?;
    state
        .routes
        .unregister_broker(&h.cluster_name, &h.broker_addr, &h.broker_name, h.broker_id);
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn query_data_version(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: QueryDataVersionRequestHeader = req.decode_header()?;
    let version: DataVersion =
        fastjson::from_slice(&req.body).map_err(|e| HandlerError::system(format!("bad DataVersion body: {e}")))?;
    let changed = state.routes.is_broker_topic_config_changed(&h.broker_addr, &version);
    // 4.9.8 refreshed the broker only when nothing changed (a changed broker registers next,
    // which refreshes it anyway); 5.x always does: 5.x brokers in acting-master mode send
    // this every second as their heartbeat (`compatibleWithOldNameSrv`).
    state.routes.broker_heartbeat(&h.cluster_name, &h.broker_addr);
    let mut res = RemotingCommand::success(&req).with_header(&QueryDataVersionResponseHeader { changed });
    if let Some(ours) = state.routes.broker_data_version(&h.broker_addr) {
        res.body = fastjson::to_standard_vec(&ours).into();
    }
    Ok(Some(res))
}

pub async fn wipe_write_perm(state: Arc<NamesrvState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: WipeWritePermOfBrokerRequestHeader = req.decode_header()?;
    let count = state.routes.wipe_write_perm_of_broker(&h.broker_name);
    tracing::info!(broker = %h.broker_name, client = %conn.peer_addr(), topics = count, "wiped write permission");
    Ok(Some(RemotingCommand::success(&req).with_header(
        &WipeWritePermOfBrokerResponseHeader {
            wipe_topic_count: count,
        },
    )))
}

pub async fn add_write_perm(state: Arc<NamesrvState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: AddWritePermOfBrokerRequestHeader = req.decode_header()?;
    let count = state.routes.add_write_perm_of_broker(&h.broker_name);
    tracing::info!(broker = %h.broker_name, client = %conn.peer_addr(), topics = count, "restored write permission");
    Ok(Some(RemotingCommand::success(&req).with_header(
        &AddWritePermOfBrokerResponseHeader { add_topic_count: count },
    )))
}

/// BROKER_HEARTBEAT (5.x brokers with slave-acting-master on): refreshes the broker's
/// last-update time as a registration would. Always answered with success, as Java does,
/// even for a broker the name server does not know.
pub async fn broker_heartbeat(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: BrokerHeartbeatRequestHeader = req.decode_header()?;
    if !state.routes.broker_heartbeat(&h.cluster_name, &h.broker_addr) {
        tracing::debug!(broker = %h.broker_addr, cluster = %h.cluster_name, "heartbeat from a broker not registered");
    }
    Ok(Some(RemotingCommand::success(&req)))
}

/// GET_BROKER_MEMBER_GROUP (5.x): the ids and addresses under one broker name, in
/// fastjson's default form (bare integer ids).
pub async fn broker_member_group(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetBrokerMemberGroupRequestHeader = req.decode_header()?;
    let body = GetBrokerMemberGroupResponseBody {
        broker_member_group: state.routes.broker_member_group(&h.cluster_name, &h.broker_name),
    };
    Ok(Some(
        RemotingCommand::success(&req).with_body(fastjson::to_legacy_vec(&body)),
    ))
}

/// REGISTER_TOPIC_IN_NAMESRV (5.x): the body is a TopicRouteData; its queueDatas become the
/// topic's queues on the brokers they name. Success whatever was applied, as in Java.
pub async fn register_topic(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: RegisterTopicRequestHeader = req.decode_header()?;
    if !req.body.is_empty() {
        let route: TopicRouteData = fastjson::from_slice(&req.body)
            .map_err(|e| HandlerError::system(format!("bad TopicRouteData body: {e}")))?;
        state.routes.register_topic(&h.topic, &route.queue_datas);
    }
    Ok(Some(RemotingCommand::success(&req)))
}
