//! The broker's side of master/slave replication. The CommitLog stream itself is the
//! store's (`store::ha`); here: the broker's role, the HA listener, the slave's master
//! address (configured, or learnt from the name server's REGISTER_BROKER answer), and
//! the slave's metadata sync (Java's SlaveSynchronize): every 10 s the slave takes its
//! master's topics, consumer offsets, delay offsets and subscription groups.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use remoting::code::request;
use remoting::header::namesrv::RegisterBrokerResponseHeader;
use remoting::protocol::topic::TopicConfigSerializeWrapper;
use remoting::RemotingCommand;
use store::ha::slave::MasterAddress;
use store::BrokerRole;
use tracing::{debug, info, warn};

use crate::subscription_group::SubscriptionGroupWrapper;
use crate::BrokerState;

/// First metadata sync this long after start, then every `SYNC_PERIOD` (Java's values).
const SYNC_DELAY: Duration = Duration::from_secs(3);
const SYNC_PERIOD: Duration = Duration::from_secs(10);

/// The broker's place in its master/slave group.
pub struct HaRole {
    pub role: BrokerRole,
    /// Where the slave's replication link connects (the master's HA port).
    pub master_ha: Arc<MasterAddress>,
    /// False when `haMasterAddress` is configured: the name server's answer is ignored.
    learn_master_ha: bool,
    /// The master's remoting address, for the metadata sync (slave only).
    master_addr: Mutex<Option<String>>,
}

impl HaRole {
    pub fn new(role: BrokerRole, configured_master_ha: Option<&str>) -> HaRole {
        let master_ha = Arc::new(MasterAddress::default());
        if let Some(addr) = configured_master_ha {
            master_ha.set(addr);
        }
        HaRole {
            role,
            master_ha,
            learn_master_ha: configured_master_ha.is_none(),
            master_addr: Mutex::new(None),
        }
    }

    pub fn is_slave(&self) -> bool {
        self.role == BrokerRole::Slave
    }

    pub fn master_addr(&self) -> Option<String> {
        self.master_addr.lock().unwrap().clone()
    }

    /// What REGISTER_BROKER answered: a slave learns its master from it.
    pub fn registered(&self, response: &RemotingCommand) {
        if !self.is_slave() {
            return;
        }
        let Ok(header) = response.decode_header::<RegisterBrokerResponseHeader>() else {
            return;
        };
        if self.learn_master_ha {
            if let Some(ha) = header.ha_server_addr.as_deref().filter(|a| !a.is_empty()) {
                self.master_ha.set(ha);
            }
        }
        let master = header.master_addr.filter(|a| !a.is_empty());
        let mut current = self.master_addr.lock().unwrap();
        if master.is_some() && *current != master {
            info!(master = ?master, "master address learnt from the name server");
        }
        if master.is_some() {
            *current = master;
        }
    }
}

/// The slave's periodic metadata sync.
pub async fn sync_from_master(state: Arc<BrokerState>) {
    tokio::time::sleep(SYNC_DELAY).await;
    let mut ticker = tokio::time::interval(SYNC_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Some(master) = state.ha.master_addr() {
            sync_all(&state, &master).await;
        }
    }
}

async fn fetch(state: &BrokerState, master: &str, code: i32) -> Option<bytes::Bytes> {
    match state
        .outbound
        .invoke(master, RemotingCommand::request(code), Duration::from_secs(3))
        .await
    {
        Ok(res) if res.code == 0 => Some(res.body),
        Ok(res) => {
            warn!(%master, code, answer = res.code, remark = ?res.remark, "slave sync: master refused");
            None
        }
        Err(e) => {
            warn!(%master, code, "slave sync failed: {e}");
            None
        }
    }
}

/// One round: topics, consumer offsets, delay offsets, subscription groups.
pub async fn sync_all(state: &BrokerState, master: &str) {
    // Java asks for the topics on the master's VIP port; ours has one too, but a master
    // that could not bind it still answers on its main port.
    let topics = match vip_channel(master) {
        Some(vip) => match fetch(state, &vip, request::GET_ALL_TOPIC_CONFIG).await {
            Some(body) => Some(body),
            None => fetch(state, master, request::GET_ALL_TOPIC_CONFIG).await,
        },
        None => fetch(state, master, request::GET_ALL_TOPIC_CONFIG).await,
    };
    if let Some(body) = topics {
        match remoting::fastjson::from_slice::<TopicConfigSerializeWrapper>(&body) {
            Ok(wrapper) => {
                if state.topics.replace_from_master(wrapper) {
                    info!(%master, "slave sync: took the master's topic configs");
                }
            }
            Err(e) => warn!(%master, "slave sync: unreadable topic configs: {e}"),
        }
    }
    if let Some(body) = fetch(state, master, request::GET_ALL_CONSUMER_OFFSET).await {
        match remoting::fastjson::parse(&body) {
            Ok(v) => {
                state.offsets.put_all_from_master(offset_table(&v));
                debug!(%master, "slave sync: took the master's consumer offsets");
            }
            Err(e) => warn!(%master, "slave sync: unreadable consumer offsets: {e}"),
        }
    }
    if let Some(body) = fetch(state, master, request::GET_ALL_DELAY_OFFSET).await {
        match remoting::fastjson::parse(&body) {
            Ok(v) => {
                let table = v
                    .get("offsetTable")
                    .and_then(|t| t.as_object())
                    .map(|t| {
                        t.iter()
                            .filter_map(|(level, off)| Some((level.parse().ok()?, off.as_i64()?)))
                            .collect()
                    })
                    .unwrap_or_default();
                state.delay_offsets.replace_from_master(table);
            }
            Err(e) => warn!(%master, "slave sync: unreadable delay offsets: {e}"),
        }
    }
    if let Some(body) = fetch(state, master, request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await {
        match remoting::fastjson::from_slice::<SubscriptionGroupWrapper>(&body) {
            Ok(wrapper) => {
                if state.groups.replace_from_master(wrapper) {
                    info!(%master, "slave sync: took the master's subscription groups");
                }
            }
            Err(e) => warn!(%master, "slave sync: unreadable subscription groups: {e}"),
        }
    }
}

/// `host:port` -> `host:(port - 2)`, Java's `MixAll.brokerVIPChannel`.
fn vip_channel(addr: &str) -> Option<String> {
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    Some(format!("{host}:{}", port.checked_sub(2)?))
}

/// `{"offsetTable":{"topic@group":{queueId:offset}}}` as a table.
fn offset_table(v: &serde_json::Value) -> store::config_files::ConsumerOffsets {
    let mut out = store::config_files::ConsumerOffsets::new();
    let Some(table) = v.get("offsetTable").and_then(|t| t.as_object()) else {
        return out;
    };
    for (key, queues) in table {
        let Some(queues) = queues.as_object() else { continue };
        let parsed = queues
            .iter()
            .filter_map(|(q, o)| Some((q.parse::<i32>().ok()?, o.as_i64()?)))
            .collect();
        out.insert(key.clone(), parsed);
    }
    out
}
