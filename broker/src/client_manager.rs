//! Producers and consumers known from heartbeats: which connections belong to which group,
//! and what each consumer group subscribes to. Consumers of a group are told (request 40)
//! whenever the group's membership changes, so they rebalance.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use remoting::code::request;
use remoting::header::broker::NotifyConsumerIdsChangedRequestHeader;
use remoting::{Connection, RemotingCommand};
use serde::Deserialize;
use serde_json::Value;
use tracing::info;

impl HeartbeatData {
    /// Whether this heartbeat leaves the consumers' subscriptions as they are: a v2
    /// heartbeat (non-zero fingerprint) sent `withoutSub`. With fingerprint 0 the flag is
    /// not looked at and the (possibly empty) subscription lists replace the old ones, as
    /// in Java.
    pub fn keeps_subscriptions(&self) -> bool {
        self.without_sub && self.heartbeat_fingerprint != 0
    }
}

/// `SubscriptionData` from a heartbeat. Enums and numbers arrive as strings or numbers
/// depending on the client, so loosely typed fields stay `Value`s.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    pub topic: String,
    pub sub_string: String,
    pub tags_set: Vec<String>,
    pub code_set: Vec<Value>,
    pub sub_version: Value,
    pub expression_type: Option<String>,
    pub class_filter_mode: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    pub group_name: String,
    pub consume_type: Value,
    pub message_model: Value,
    pub consume_from_where: Value,
    pub subscription_data_set: Vec<SubscriptionData>,
    pub unit_mode: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    pub group_name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HeartbeatData {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(rename = "producerDataSet")]
    pub producer_data_set: Vec<ProducerData>,
    #[serde(rename = "consumerDataSet")]
    pub consumer_data_set: Vec<ConsumerData>,
    /// 5.x heartbeat v2: a hash of the client's whole heartbeat; 0 from older clients (and
    /// from 5.x clients without `useHeartbeatV2`).
    #[serde(rename = "heartbeatFingerprint")]
    pub heartbeat_fingerprint: i32,
    /// 5.x heartbeat v2: the consumers come without their subscriptions, which stay as the
    /// last full heartbeat left them.
    #[serde(rename = "withoutSub", alias = "isWithoutSub")]
    pub without_sub: bool,
}

#[derive(Debug, Clone)]
struct ClientChannel {
    conn: Connection,
    client_id: String,
    last_update: Instant,
    /// What the heartbeat's request header said (Java's ClientChannelInfo).
    language: String,
    version: i32,
    last_update_millis: i64,
}

#[derive(Default)]
struct ConsumerGroup {
    channels: HashMap<u64, ClientChannel>,
    subscriptions: BTreeMap<String, SubscriptionData>,
    consume_type: Value,
    message_model: Value,
    consume_from_where: Value,
}

/// One client connection as the admin codes report it (Java's `Connection` and
/// `ProducerInfo`).
#[derive(Debug, Clone)]
pub struct ClientConnectionInfo {
    pub client_id: String,
    pub client_addr: String,
    pub language: String,
    pub version: i32,
    pub last_update_timestamp: i64,
}

/// What GET_CONSUMER_CONNECTION_LIST reports of a consumer group.
#[derive(Debug, Clone)]
pub struct ConsumerGroupView {
    pub connections: Vec<ClientConnectionInfo>,
    pub subscriptions: BTreeMap<String, SubscriptionData>,
    pub consume_type: Value,
    pub message_model: Value,
    pub consume_from_where: Value,
}

impl ClientChannel {
    fn info(&self) -> ClientConnectionInfo {
        ClientConnectionInfo {
            client_id: self.client_id.clone(),
            client_addr: self.conn.peer_addr().to_string(),
            language: self.language.clone(),
            version: self.version,
            last_update_timestamp: self.last_update_millis,
        }
    }
}

impl SubscriptionData {
    /// The subscription as Java serializes SubscriptionData (fields in fastjson's order).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "classFilterMode": self.class_filter_mode.as_bool().unwrap_or(false),
            "codeSet": self.code_set,
            "expressionType": self.expression_type.as_deref().unwrap_or("TAG"),
            "subString": self.sub_string,
            "subVersion": crate::consumer_filter::sub_version(self),
            "tagsSet": self.tags_set,
            "topic": self.topic,
        })
    }
}

#[derive(Default)]
struct Groups {
    consumers: HashMap<String, ConsumerGroup>,
    /// The last heartbeat fingerprint seen per consumer group (0 for v1 heartbeats).
    fingerprints: HashMap<String, i32>,
    producers: HashMap<String, HashMap<u64, ClientChannel>>,
}

#[derive(Default)]
pub struct ClientManager {
    groups: Mutex<Groups>,
}

impl ClientManager {
    /// Registers what a heartbeat says. Returns the consumer groups whose membership
    /// changed (their consumers must be notified).
    /// `language` and `version` are the heartbeat request's header fields.
    pub fn heartbeat(&self, conn: &Connection, data: &HeartbeatData, language: &str, version: i32) -> Vec<String> {
        let mut g = self.groups.lock().unwrap();
        let channel = ClientChannel {
            conn: conn.clone(),
            client_id: data.client_id.clone(),
            last_update: Instant::now(),
            language: language.to_string(),
            version,
            last_update_millis: remoting::protocol::topic::now_millis(),
        };
        let mut changed = Vec::new();
        for consumer in &data.consumer_data_set {
            let group = g.consumers.entry(consumer.group_name.clone()).or_default();
            let is_new = group.channels.insert(conn.id(), channel.clone()).is_none();
            if !data.keeps_subscriptions() {
                group.subscriptions = consumer
                    .subscription_data_set
                    .iter()
                    .map(|s| (s.topic.clone(), s.clone()))
                    .collect();
            }
            group.consume_type = consumer.consume_type.clone();
            group.message_model = consumer.message_model.clone();
            group.consume_from_where = consumer.consume_from_where.clone();
            if is_new {
                info!(group = %consumer.group_name, client = %data.client_id, "new consumer connected");
                changed.push(consumer.group_name.clone());
            }
        }
        for producer in &data.producer_data_set {
            g.producers
                .entry(producer.group_name.clone())
                .or_default()
                .insert(conn.id(), channel.clone());
        }
        changed
    }

    /// Records the heartbeat fingerprint of each of its consumer groups and says whether a
    /// group's subscriptions may have changed since: always for a v1 heartbeat (fingerprint
    /// 0); for v2, when some group had a different fingerprint before (Java's
    /// `IS_SUB_CHANGE`; a group seen for the first time does not count).
    pub fn record_fingerprints(&self, data: &HeartbeatData) -> bool {
        let mut g = self.groups.lock().unwrap();
        let mut changed = data.heartbeat_fingerprint == 0;
        for consumer in &data.consumer_data_set {
            let previous = g
                .fingerprints
                .insert(consumer.group_name.clone(), data.heartbeat_fingerprint);
            if data.heartbeat_fingerprint != 0 && previous.is_some_and(|p| p != data.heartbeat_fingerprint) {
                changed = true;
            }
        }
        changed
    }

    /// The connection of a producer by its client id (Java's `ProducerManager.findChannel`):
    /// where request-reply sends a reply.
    pub fn find_producer(&self, client_id: &str) -> Option<Connection> {
        let g = self.groups.lock().unwrap();
        g.producers
            .values()
            .flat_map(|channels| channels.values())
            .find(|c| c.client_id == client_id && !c.conn.is_closed())
            .map(|c| c.conn.clone())
    }

    /// A live connection of a producer of `group` (Java's `getAvailableChannel`): where
    /// transaction checks go.
    pub fn producer_of_group(&self, group: &str) -> Option<Connection> {
        let g = self.groups.lock().unwrap();
        g.producers
            .get(group)?
            .values()
            .filter(|c| !c.conn.is_closed())
            .max_by_key(|c| c.last_update)
            .map(|c| c.conn.clone())
    }

    /// Removes a client from the named groups; returns consumer groups that changed.
    pub fn unregister(
        &self,
        conn: &Connection,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) -> Vec<String> {
        let mut g = self.groups.lock().unwrap();
        if let Some(group) = producer_group {
            if let Some(channels) = g.producers.get_mut(group) {
                channels.remove(&conn.id());
            }
        }
        let mut changed = Vec::new();
        if let Some(name) = consumer_group {
            if remove_consumer_channel(&mut g, name, conn.id()) {
                changed.push(name.to_string());
            }
        }
        changed
    }

    /// Forgets a closed connection everywhere; returns consumer groups that changed.
    pub fn connection_closed(&self, conn_id: u64) -> Vec<String> {
        let mut g = self.groups.lock().unwrap();
        for channels in g.producers.values_mut() {
            channels.remove(&conn_id);
        }
        let names: Vec<String> = g.consumers.keys().cloned().collect();
        names
            .into_iter()
            .filter(|name| remove_consumer_channel(&mut g, name, conn_id))
            .collect()
    }

    /// Closes connections that have not sent a heartbeat within `timeout`.
    pub fn expire_silent(&self, timeout: Duration) {
        let g = self.groups.lock().unwrap();
        let all = g
            .consumers
            .values()
            .flat_map(|c| c.channels.values())
            .chain(g.producers.values().flat_map(|p| p.values()));
        for channel in all {
            if channel.last_update.elapsed() > timeout {
                info!(client = %channel.client_id, "closing a client that stopped sending heartbeats");
                channel.conn.close();
            }
        }
    }

    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        let g = self.groups.lock().unwrap();
        let mut ids: Vec<String> = g
            .consumers
            .get(group)
            .map(|c| c.channels.values().map(|ch| ch.client_id.clone()).collect())
            .unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids
    }

    /// `None` when the group has no consumers; else its subscription to `topic`, if any.
    pub fn subscription(&self, group: &str, topic: &str) -> Option<Option<SubscriptionData>> {
        let g = self.groups.lock().unwrap();
        let group = g.consumers.get(group).filter(|c| !c.channels.is_empty())?;
        Some(group.subscriptions.get(topic).cloned())
    }

    /// A consumer group's connections and subscriptions; `None` when it has no consumers.
    pub fn consumer_group_view(&self, group: &str) -> Option<ConsumerGroupView> {
        let g = self.groups.lock().unwrap();
        let c = g.consumers.get(group).filter(|c| !c.channels.is_empty())?;
        let mut connections: Vec<ClientConnectionInfo> = c.channels.values().map(ClientChannel::info).collect();
        connections.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Some(ConsumerGroupView {
            connections,
            subscriptions: c.subscriptions.clone(),
            consume_type: c.consume_type.clone(),
            message_model: c.message_model.clone(),
            consume_from_where: c.consume_from_where.clone(),
        })
    }

    /// The connections of a producer group; `None` when the group is unknown.
    pub fn producer_connections(&self, group: &str) -> Option<Vec<ClientConnectionInfo>> {
        let g = self.groups.lock().unwrap();
        let channels = g.producers.get(group)?;
        let mut list: Vec<ClientConnectionInfo> = channels.values().map(ClientChannel::info).collect();
        list.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Some(list)
    }

    /// Every producer group with its connections (GET_ALL_PRODUCER_INFO).
    pub fn producer_table(&self) -> BTreeMap<String, Vec<ClientConnectionInfo>> {
        let g = self.groups.lock().unwrap();
        g.producers
            .iter()
            .filter(|(_, channels)| !channels.is_empty())
            .map(|(group, channels)| {
                let mut list: Vec<ClientConnectionInfo> = channels.values().map(ClientChannel::info).collect();
                list.sort_by(|a, b| a.client_id.cmp(&b.client_id));
                (group.clone(), list)
            })
            .collect()
    }

    /// Consumer groups online that subscribe to `topic`.
    pub fn groups_subscribing(&self, topic: &str) -> Vec<String> {
        let g = self.groups.lock().unwrap();
        let mut groups: Vec<String> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.channels.is_empty() && c.subscriptions.contains_key(topic))
            .map(|(name, _)| name.clone())
            .collect();
        groups.sort();
        groups
    }

    /// How many topics an online group subscribes to (0 when it is not online).
    pub fn subscription_count(&self, group: &str) -> usize {
        let g = self.groups.lock().unwrap();
        g.consumers
            .get(group)
            .filter(|c| !c.channels.is_empty())
            .map_or(0, |c| c.subscriptions.len())
    }

    /// The consumer groups with a consumer online.
    pub fn consumer_group_names(&self) -> Vec<String> {
        let g = self.groups.lock().unwrap();
        let mut names: Vec<String> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.channels.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Every connection of a consumer group with what its heartbeat said; empty when the
    /// group has no consumer online.
    pub fn consumer_channels(&self, group: &str) -> Vec<(Connection, ClientConnectionInfo)> {
        let g = self.groups.lock().unwrap();
        g.consumers
            .get(group)
            .map(|c| c.channels.values().map(|ch| (ch.conn.clone(), ch.info())).collect())
            .unwrap_or_default()
    }

    /// The connection of the consumer `client_id` of `group` (Java's `findChannel`).
    pub fn find_consumer(&self, group: &str, client_id: &str) -> Option<(Connection, ClientConnectionInfo)> {
        self.consumer_channels(group)
            .into_iter()
            .find(|(conn, info)| info.client_id == client_id && !conn.is_closed())
    }

    /// Sends NOTIFY_CONSUMER_IDS_CHANGED to every consumer of `group`.
    pub fn notify_consumer_ids_changed(&self, group: &str) {
        let conns: Vec<Connection> = {
            let g = self.groups.lock().unwrap();
            g.consumers
                .get(group)
                .map(|c| c.channels.values().map(|ch| ch.conn.clone()).collect())
                .unwrap_or_default()
        };
        for conn in conns {
            let notice = RemotingCommand::request_with_header(
                request::NOTIFY_CONSUMER_IDS_CHANGED,
                &NotifyConsumerIdsChangedRequestHeader {
                    consumer_group: group.to_string(),
                },
            );
            tokio::spawn(async move {
                let _ = conn.oneway(notice).await;
            });
        }
    }
}

fn remove_consumer_channel(g: &mut Groups, group: &str, conn_id: u64) -> bool {
    let Some(consumers) = g.consumers.get_mut(group) else {
        return false;
    };
    let removed = consumers.channels.remove(&conn_id).is_some();
    if consumers.channels.is_empty() {
        g.consumers.remove(group);
    }
    removed
}
