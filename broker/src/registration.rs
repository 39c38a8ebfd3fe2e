//! Registration with every name server in `namesrvAddr`: at start, every
//! `registerNameServerPeriod` ms, at once when topics change, and an unregister at shutdown.
//! With `forceRegister=false` the periodic round first asks the name servers whether their
//! copy of the topic table is current (QUERY_DATA_VERSION, which also keeps the broker
//! alive there) and sends the table only when one says it is not, as Java's broker does.

use std::sync::Arc;
use std::time::Duration;

use remoting::code::request;
use remoting::header::namesrv::{
    QueryDataVersionRequestHeader, QueryDataVersionResponseHeader, RegisterBrokerRequestHeader,
    UnRegisterBrokerRequestHeader,
};
use remoting::protocol::register::{body_crc32, RegisterBrokerBody};
use remoting::protocol::route::perm;
use remoting::RemotingCommand;
use tracing::{debug, warn};

use crate::BrokerState;

/// The periodic re-registration. The first registration is not made here: `Broker::start`
/// awaits it, as Java's broker does, so a broker that says it started is already routable.
pub async fn run(state: Arc<BrokerState>) {
    let period = Duration::from_millis(state.config.register_name_server_period.clamp(1000, 60_000));
    loop {
        // A slave that started before its master learns the master's address from a
        // registration answer; Java waits a whole period for the next one, we ask sooner.
        let wait = if state.ha.is_slave() && state.ha.master_addr().is_none() {
            period.min(Duration::from_secs(2))
        } else {
            period
        };
        let periodic = tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = state.topics.changed.notified() => false,
        };
        // A slave still looking for its master needs a registration's answer.
        let learning_master = state.ha.is_slave() && state.ha.master_addr().is_none();
        if periodic && !state.config.force_register && !learning_master && !need_register(&state).await {
            continue;
        }
        register_all(&state).await;
    }
}

fn register_request(state: &BrokerState) -> RemotingCommand {
    let mut wrapper = state.topics.wrapper();
    // A broker without write (or read) permission advertises that on every topic.
    let permission = state.live().broker_permission;
    if permission & (perm::READ | perm::WRITE) != (perm::READ | perm::WRITE) {
        for topic in wrapper.topic_config_table.values_mut() {
            topic.perm &= permission;
        }
    }
    let body = RegisterBrokerBody {
        filter_server_list: Vec::new(),
        topic_config_serialize_wrapper: wrapper,
    }
    .encode(state.config.compressed_register);
    let header = RegisterBrokerRequestHeader {
        broker_name: state.config.broker_name.clone(),
        broker_addr: state.config.broker_addr(),
        cluster_name: state.config.broker_cluster_name.clone(),
        ha_server_addr: state.config.ha_server_addr(),
        broker_id: state.config.broker_id,
        compressed: Some(state.config.compressed_register),
        body_crc32: Some(body_crc32(&body)),
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
    };
    signed(
        state,
        RemotingCommand::request_with_header(request::REGISTER_BROKER, &header).with_body(body),
    )
}

/// Signs a request to a name server when `innerClientAuthenticationCredentials` is set
/// (RocketMQ 5's BrokerOuterAPI hook; Java 4.9.8 never signs).
fn signed(state: &BrokerState, mut req: RemotingCommand) -> RemotingCommand {
    if let Some(credentials) = &state.config.inner_client_credentials {
        credentials.sign(&mut req);
    }
    req
}

/// Whether some name server's copy of the topic table is out of date. A name server that
/// cannot be asked does not count (Java's `needRegister`); one that restarted answers
/// "changed" and gets the table.
async fn need_register(state: &BrokerState) -> bool {
    let timeout = Duration::from_millis(state.config.register_broker_timeout_mills);
    let header = QueryDataVersionRequestHeader {
        broker_name: state.config.broker_name.clone(),
        broker_addr: state.config.broker_addr(),
        cluster_name: state.config.broker_cluster_name.clone(),
        broker_id: state.config.broker_id,
    };
    let version = remoting::fastjson::to_standard_vec(&state.topics.wrapper().data_version);
    let mut changed = false;
    for addr in state.config.name_servers() {
        let req = signed(
            state,
            RemotingCommand::request_with_header(request::QUERY_DATA_VERSION, &header).with_body(version.clone()),
        );
        match state.outbound.invoke(&addr, req, timeout).await {
            Ok(res) if res.code == 0 => match res.decode_header::<QueryDataVersionResponseHeader>() {
                Ok(h) => changed |= h.changed,
                Err(e) => warn!(namesrv = %addr, error = %e, "bad QUERY_DATA_VERSION answer"),
            },
            Ok(res) => warn!(namesrv = %addr, code = res.code, remark = ?res.remark, "QUERY_DATA_VERSION refused"),
            Err(e) => warn!(namesrv = %addr, error = %e, "QUERY_DATA_VERSION failed"),
        }
    }
    changed
}

pub async fn register_all(state: &BrokerState) {
    let timeout = Duration::from_millis(state.config.register_broker_timeout_mills);
    let generation = state.topics.generation();
    for addr in state.config.name_servers() {
        match state.outbound.invoke(&addr, register_request(state), timeout).await {
            Ok(res) if res.code == 0 => {
                debug!(namesrv = %addr, "registered");
                state.topics.mark_registered(generation);
                state.ha.registered(&res);
            }
            Ok(res) => warn!(namesrv = %addr, code = res.code, remark = ?res.remark, "registration refused"),
            Err(e) => warn!(namesrv = %addr, error = %e, "registration failed"),
        }
    }
}

pub async fn unregister_all(state: &BrokerState) {
    let header = UnRegisterBrokerRequestHeader {
        broker_name: state.config.broker_name.clone(),
        broker_addr: state.config.broker_addr(),
        cluster_name: state.config.broker_cluster_name.clone(),
        broker_id: state.config.broker_id,
    };
    for addr in state.config.name_servers() {
        let req = signed(
            state,
            RemotingCommand::request_with_header(request::UNREGISTER_BROKER, &header),
        );
        if let Err(e) = state.outbound.invoke(&addr, req, Duration::from_secs(3)).await {
            warn!(namesrv = %addr, error = %e, "unregister failed");
        }
    }
}
