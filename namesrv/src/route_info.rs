//! The route tables: which brokers exist, which topics they serve, and which of them are
//! alive. Behaviour follows Java's `RouteInfoManager` in 4.9.8.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use remoting::protocol::register_view::RegisterBrokerBodyView;
use remoting::protocol::route::{
    perm, BrokerData, BrokerMemberGroup, ClusterInfo, QueueData, TopicRouteData, MASTER_ID,
};
use remoting::protocol::topic::{DataVersion, TopicConfigSerializeWrapper};
use remoting::protocol::TopicList;
use remoting::Connection;
use tracing::{info, warn};

/// Topics a 5.x broker uses to sync its member group: never rewritten for acting masters.
const SYNC_BROKER_MEMBER_GROUP_PREFIX: &str = "rmq_sys_SYNC_BROKER_MEMBER_";

/// Topic system flag bits (`TopicSysFlag`).
const FLAG_UNIT: i32 = 0x1;
const FLAG_UNIT_SUB: i32 = 0x2;

#[derive(Debug, Clone)]
struct BrokerLiveInfo {
    last_update: Instant,
    /// How long this broker may stay silent before it is dropped.
    timeout: Duration,
    data_version: DataVersion,
    /// The connection it registered over: when that closes, the broker is gone.
    connection: Option<Connection>,
    ha_server_addr: String,
}

/// One topic's queues on one broker. The broker's name is shared by every topic it serves
/// (interned in [`Tables::broker_names`]): 32 bytes per topic and broker.
#[derive(Debug, Clone)]
struct QueueSlot {
    broker_name: Arc<str>,
    perm: i32,
    read_queue_nums: i32,
    write_queue_nums: i32,
    topic_sys_flag: i32,
}

impl QueueSlot {
    fn to_queue_data(&self) -> QueueData {
        QueueData {
            broker_name: self.broker_name.to_string(),
            perm: self.perm,
            read_queue_nums: self.read_queue_nums,
            write_queue_nums: self.write_queue_nums,
            topic_sys_flag: self.topic_sys_flag,
        }
    }
}

/// One topic's queues on each broker, sorted by broker name (the order routes list them
/// in). A vector rather than a map: with 10,000 topics on 100 brokers the table holds a
/// million of these, and a map node per entry with its own copy of the broker name cost
/// several times the entry itself.
#[derive(Debug, Clone, Default)]
struct BrokerQueues(Vec<QueueSlot>);

impl BrokerQueues {
    fn position(&self, broker_name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|slot| {
            // Names are interned: the same one is usually the same allocation.
            if std::ptr::eq(slot.broker_name.as_ptr(), broker_name.as_ptr()) {
                std::cmp::Ordering::Equal
            } else {
                (*slot.broker_name).cmp(broker_name)
            }
        })
    }

    fn get_mut(&mut self, broker_name: &str) -> Option<&mut QueueSlot> {
        let at = self.position(broker_name).ok()?;
        Some(&mut self.0[at])
    }

    /// Sets the broker's entry, replacing the one it had; returns its index.
    fn put(&mut self, slot: QueueSlot) -> usize {
        match self.position(&slot.broker_name) {
            Ok(at) => {
                self.0[at] = slot;
                at
            }
            Err(at) => {
                self.0.insert(at, slot);
                at
            }
        }
    }

    /// [`BrokerQueues::put`] that first tries index `hint` and leaves there the index it
    /// used. A registration puts one broker into every topic, and topics served by the same
    /// brokers hold it at the same index: one slot touched instead of a binary search whose
    /// every probe is a cache miss in a table of a million slots.
    fn put_at_hint(&mut self, slot: QueueSlot, hint: &mut usize) {
        if let Some(there) = self.0.get_mut(*hint) {
            if Arc::ptr_eq(&there.broker_name, &slot.broker_name) {
                *there = slot;
                return;
            }
        }
        *hint = self.put(slot);
    }

    fn remove(&mut self, broker_name: &str) {
        if let Ok(at) = self.position(broker_name) {
            self.0.remove(at);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn broker_names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|slot| &*slot.broker_name)
    }

    fn slots(&self) -> impl Iterator<Item = &QueueSlot> {
        self.0.iter()
    }
}

/// The topic table's hasher: foldhash (randomly seeded) rather than SipHash, whose cost was
/// about 190 instructions per topic name of a registration.
type TopicHasher = foldhash::fast::RandomState;

#[derive(Default)]
struct Tables {
    topic_queue: HashMap<String, BrokerQueues, TopicHasher>,
    /// Every broker name the topic table refers to, stored once.
    broker_names: HashSet<Arc<str>>,
    broker_addr: BTreeMap<String, BrokerData>,
    cluster_addr: BTreeMap<String, BTreeSet<String>>,
    broker_live: HashMap<String, BrokerLiveInfo>,
    filter_server: HashMap<String, Vec<String>>,
    /// 5.x static topics: topic -> broker name -> the mapping that broker registered.
    topic_queue_mapping: HashMap<String, BTreeMap<String, serde_json::Value>>,
}

impl Tables {
    /// The shared copy of a broker name.
    fn intern(&mut self, broker_name: &str) -> Arc<str> {
        if let Some(name) = self.broker_names.get(broker_name) {
            return name.clone();
        }
        let name: Arc<str> = Arc::from(broker_name);
        self.broker_names.insert(name.clone());
        name
    }
}

/// What a registration tells the broker: for a slave, where its master is.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RegisterBrokerResult {
    pub ha_server_addr: Option<String>,
    pub master_addr: Option<String>,
}

/// One broker's registration, as carried by REGISTER_BROKER.
#[derive(Debug, Clone)]
pub struct Registration<'a> {
    pub cluster_name: &'a str,
    pub broker_addr: &'a str,
    pub broker_name: &'a str,
    pub broker_id: i64,
    pub ha_server_addr: &'a str,
    pub data_version: &'a DataVersion,
    /// The broker's topics; `None` when the body was read only for its data version (see
    /// [`RouteInfoManager::register_broker`]).
    pub topic_config: Option<Topics<'a>>,
    /// `None` when the request did not carry a filter server list at all.
    pub filter_server_list: Option<&'a [String]>,
    pub connection: Option<Connection>,
    pub timeout: Duration,
    /// The 5.x `enableActingMaster` header field; `None` from older brokers.
    pub enable_acting_master: Option<bool>,
    /// The 5.x `__ZONE_NAME` ext field.
    pub zone_name: Option<&'a str>,
}

/// A registration's topics: decoded into owned configs, or read in place from the body.
#[derive(Debug, Clone, Copy)]
pub enum Topics<'a> {
    Wrapper(&'a TopicConfigSerializeWrapper),
    View(&'a RegisterBrokerBodyView<'a>),
}

impl<'a> From<&'a TopicConfigSerializeWrapper> for Topics<'a> {
    fn from(wrapper: &'a TopicConfigSerializeWrapper) -> Self {
        Topics::Wrapper(wrapper)
    }
}

impl<'a> Topics<'a> {
    /// Each topic's name and queues, in key order.
    fn for_each_queue(self, mut f: impl FnMut(&str, i32, i32, i32, i32)) {
        match self {
            Topics::Wrapper(w) => {
                for c in w.topic_config_table.values() {
                    f(
                        &c.topic_name,
                        c.perm,
                        c.read_queue_nums,
                        c.write_queue_nums,
                        c.topic_sys_flag,
                    );
                }
            }
            Topics::View(v) => {
                for (_, c) in &v.topics {
                    f(
                        &c.topic_name,
                        c.perm,
                        c.read_queue_nums,
                        c.write_queue_nums,
                        c.topic_sys_flag,
                    );
                }
            }
        }
    }

    fn mappings(self) -> &'a BTreeMap<String, serde_json::Value> {
        match self {
            Topics::Wrapper(w) => &w.topic_queue_mapping_info_map,
            Topics::View(v) => &v.topic_queue_mapping_info_map,
        }
    }
}

#[derive(Default)]
pub struct RouteInfoManager {
    tables: RwLock<Tables>,
}

/// The sizes of the route tables (for the metrics endpoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteCounts {
    pub clusters: usize,
    pub broker_names: usize,
    /// Live broker addresses (masters and slaves).
    pub brokers: usize,
    pub topics: usize,
}

impl RouteInfoManager {
    pub fn counts(&self) -> RouteCounts {
        let t = self.tables.read().unwrap_or_else(|e| e.into_inner());
        RouteCounts {
            clusters: t.cluster_addr.len(),
            broker_names: t.broker_addr.len(),
            brokers: t.broker_live.len(),
            topics: t.topic_queue.len(),
        }
    }

    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or refreshes) a broker. Its topics are read only when they matter: for a
    /// master (or a 5.x slave that may stand in for one) whose data version changed or that
    /// registers for the first time. When that is the case and `reg.topic_config` is
    /// `None`, nothing is changed and `None` is returned: decode the topics and call again.
    pub fn register_broker(&self, reg: Registration<'_>) -> Option<RegisterBrokerResult> {
        let mut t = self.tables.write().unwrap();
        if reg.topic_config.is_none() && (reg.broker_id == MASTER_ID || reg.enable_acting_master.is_some()) {
            let known = t
                .broker_addr
                .get(reg.broker_name)
                .is_some_and(|bd| bd.broker_addrs.get(&reg.broker_id).map(String::as_str) == Some(reg.broker_addr));
            let same_version = t
                .broker_live
                .get(reg.broker_addr)
                .is_some_and(|live| live.data_version == *reg.data_version);
            if !(known && same_version) {
                return None;
            }
        }
        t.cluster_addr
            .entry(reg.cluster_name.to_string())
            .or_default()
            .insert(reg.broker_name.to_string());

        let mut first_registration = !t.broker_addr.contains_key(reg.broker_name);
        let broker_data = t
            .broker_addr
            .entry(reg.broker_name.to_string())
            .or_insert_with(|| BrokerData {
                cluster: reg.cluster_name.to_string(),
                broker_name: reg.broker_name.to_string(),
                ..Default::default()
            });
        // Every registration restates these (a broker of 4.x says nothing: not acting master).
        broker_data.enable_acting_master = reg.enable_acting_master.unwrap_or(false);
        broker_data.zone_name = reg.zone_name.map(str::to_string);
        // One address holds one id: a slave promoted to master re-registers with id 0.
        broker_data
            .broker_addrs
            .retain(|id, addr| !(addr == reg.broker_addr && *id != reg.broker_id));
        let old_addr = broker_data
            .broker_addrs
            .insert(reg.broker_id, reg.broker_addr.to_string());
        first_registration |= old_addr.is_none();

        // A 5.x slave with the lowest id registered under its name stands in for a missing
        // master: its topics count too (read-only when its broker name acts as master).
        let is_prime_slave = reg.enable_acting_master.is_some()
            && reg.broker_id != MASTER_ID
            && broker_data.broker_addrs.keys().next() == Some(&reg.broker_id);
        let wipe_write = is_prime_slave && broker_data.enable_acting_master;
        if reg.broker_id == MASTER_ID || is_prime_slave {
            let changed = t
                .broker_live
                .get(reg.broker_addr)
                .is_none_or(|live| live.data_version != *reg.data_version);
            let topics = reg.topic_config.filter(|_| changed || first_registration);
            let broker_name = t.intern(reg.broker_name);
            if let Some(topics) = topics {
                let topic_queue = &mut t.topic_queue;
                let mut hint = 0;
                topics.for_each_queue(|topic_name, perm, read_queue_nums, write_queue_nums, topic_sys_flag| {
                    let slot = QueueSlot {
                        broker_name: broker_name.clone(),
                        perm: if wipe_write { perm & !perm::WRITE } else { perm },
                        read_queue_nums,
                        write_queue_nums,
                        topic_sys_flag,
                    };
                    // Look up before inserting: a re-registration finds every topic already
                    // there and need not allocate its name again.
                    match topic_queue.get_mut(topic_name) {
                        Some(queues) => queues.put_at_hint(slot, &mut hint),
                        None => {
                            topic_queue.insert(topic_name.to_string(), BrokerQueues(vec![slot]));
                        }
                    }
                });
            }
            // A mapping is filed under the broker name it carries (`bname`).
            for (topic, info) in topics.into_iter().flat_map(Topics::mappings) {
                let bname = info
                    .get("bname")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or(reg.broker_name)
                    .to_string();
                t.topic_queue_mapping
                    .entry(topic.clone())
                    .or_default()
                    .insert(bname, info.clone());
            }
        }

        let previous = t.broker_live.insert(
            reg.broker_addr.to_string(),
            BrokerLiveInfo {
                last_update: Instant::now(),
                timeout: reg.timeout,
                data_version: reg.data_version.clone(),
                connection: reg.connection.clone(),
                ha_server_addr: reg.ha_server_addr.to_string(),
            },
        );
        if previous.is_none() {
            info!(
                broker = reg.broker_addr,
                name = reg.broker_name,
                id = reg.broker_id,
                "new broker registered"
            );
        }

        if let Some(list) = reg.filter_server_list {
            if list.is_empty() {
                t.filter_server.remove(reg.broker_addr);
            } else {
                t.filter_server.insert(reg.broker_addr.to_string(), list.to_vec());
            }
        }

        let mut result = RegisterBrokerResult::default();
        if reg.broker_id != MASTER_ID {
            let master = t
                .broker_addr
                .get(reg.broker_name)
                .and_then(|bd| bd.broker_addrs.get(&MASTER_ID))
                .cloned();
            if let Some(master_addr) = master {
                if let Some(live) = t.broker_live.get(&master_addr) {
                    result.ha_server_addr = Some(live.ha_server_addr.clone());
                    result.master_addr = Some(master_addr);
                }
            }
        }
        Some(result)
    }

    pub fn is_broker_topic_config_changed(&self, broker_addr: &str, version: &DataVersion) -> bool {
        let t = self.tables.read().unwrap();
        t.broker_live
            .get(broker_addr)
            .is_none_or(|live| live.data_version != *version)
    }

    pub fn broker_data_version(&self, broker_addr: &str) -> Option<DataVersion> {
        let t = self.tables.read().unwrap();
        t.broker_live.get(broker_addr).map(|live| live.data_version.clone())
    }

    pub fn unregister_broker(&self, cluster_name: &str, broker_addr: &str, broker_name: &str, broker_id: i64) {
        let mut t = self.tables.write().unwrap();
        t.broker_live.remove(broker_addr);
        t.filter_server.remove(broker_addr);
        let mut broker_name_gone = false;
        if let Some(bd) = t.broker_addr.get_mut(broker_name) {
            bd.broker_addrs.remove(&broker_id);
            if bd.broker_addrs.is_empty() {
                t.broker_addr.remove(broker_name);
                broker_name_gone = true;
            }
        }
        if broker_name_gone {
            if let Some(names) = t.cluster_addr.get_mut(cluster_name) {
                names.remove(broker_name);
                if names.is_empty() {
                    t.cluster_addr.remove(cluster_name);
                }
            }
            remove_topics_of_broker(&mut t, broker_name);
        }
        info!(broker = broker_addr, name = broker_name, "broker unregistered");
    }

    /// Drops a broker whose connection closed or who stopped registering.
    fn remove_broker_addr(t: &mut Tables, broker_addr: &str) {
        t.broker_live.remove(broker_addr);
        t.filter_server.remove(broker_addr);
        let mut found: Option<String> = None;
        let mut broker_name_gone = false;
        for (name, bd) in t.broker_addr.iter_mut() {
            let before = bd.broker_addrs.len();
            bd.broker_addrs.retain(|_, addr| addr != broker_addr);
            if bd.broker_addrs.len() != before {
                found = Some(name.clone());
                broker_name_gone = bd.broker_addrs.is_empty();
                break;
            }
        }
        let Some(name) = found else { return };
        if broker_name_gone {
            t.broker_addr.remove(&name);
            t.cluster_addr.retain(|_, names| {
                names.remove(&name);
                !names.is_empty()
            });
            remove_topics_of_broker(t, &name);
        }
    }

    /// Called when a connection closes: forgets the brokers that registered over it.
    pub fn on_connection_closed(&self, connection_id: u64) {
        let mut t = self.tables.write().unwrap();
        let gone: Vec<String> = t
            .broker_live
            .iter()
            .filter(|(_, live)| live.connection.as_ref().map(Connection::id) == Some(connection_id))
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in gone {
            warn!(broker = %addr, "broker connection closed, removing it from routes");
            Self::remove_broker_addr(&mut t, &addr);
        }
    }

    /// Drops brokers that have not registered within their timeout. Returns how many.
    pub fn scan_not_active_brokers(&self) -> usize {
        let mut t = self.tables.write().unwrap();
        let now = Instant::now();
        let expired: Vec<String> = t
            .broker_live
            .iter()
            .filter(|(_, live)| now.duration_since(live.last_update) > live.timeout)
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in &expired {
            warn!(broker = %addr, "broker expired, removing it from routes");
            if let Some(conn) = t.broker_live.get(addr).and_then(|live| live.connection.as_ref()) {
                conn.close();
            }
            Self::remove_broker_addr(&mut t, addr);
        }
        expired.len()
    }

    /// The route of `topic`; with `support_acting_master`, a broker name without a master
    /// whose brokers enable acting master and whose queues for the topic are read-only is
    /// shown with its lowest-id slave as id 0 (Java's `supportActingMaster`).
    pub fn pickup_topic_route_data_acting(&self, topic: &str, support_acting_master: bool) -> Option<TopicRouteData> {
        let mut route = self.pickup_topic_route_data(topic)?;
        if !support_acting_master || topic.starts_with(SYNC_BROKER_MEMBER_GROUP_PREFIX) {
            return Some(route);
        }
        let masterless = route
            .broker_datas
            .iter()
            .any(|bd| !bd.broker_addrs.is_empty() && !bd.broker_addrs.contains_key(&MASTER_ID));
        if !masterless {
            return Some(route);
        }
        for bd in &mut route.broker_datas {
            if bd.broker_addrs.is_empty() || bd.broker_addrs.contains_key(&MASTER_ID) || !bd.enable_acting_master {
                continue;
            }
            let read_only = route
                .queue_datas
                .iter()
                .find(|qd| qd.broker_name == bd.broker_name)
                .is_some_and(|qd| qd.perm & perm::WRITE == 0);
            if read_only {
                if let Some((_, addr)) = bd.broker_addrs.pop_first() {
                    bd.broker_addrs.insert(MASTER_ID, addr);
                }
            }
        }
        Some(route)
    }

    pub fn pickup_topic_route_data(&self, topic: &str) -> Option<TopicRouteData> {
        let t = self.tables.read().unwrap();
        let queues = t.topic_queue.get(topic)?;
        let mut route = TopicRouteData {
            queue_datas: queues.slots().map(QueueSlot::to_queue_data).collect(),
            ..Default::default()
        };
        for broker_name in queues.broker_names() {
            let Some(bd) = t.broker_addr.get(broker_name) else {
                continue;
            };
            for addr in bd.broker_addrs.values() {
                if let Some(filters) = t.filter_server.get(addr) {
                    route.filter_server_table.insert(addr.clone(), filters.clone());
                }
            }
            route.broker_datas.push(bd.clone());
        }
        route.topic_queue_mapping_by_broker = t.topic_queue_mapping.get(topic).cloned();
        (!route.broker_datas.is_empty()).then_some(route)
    }

    /// BROKER_HEARTBEAT and QUERY_DATA_VERSION: a live broker of this cluster at this address is kept alive;
    /// an unknown one stays unknown (it must register first). Returns whether it was known.
    pub fn broker_heartbeat(&self, cluster_name: &str, broker_addr: &str) -> bool {
        let mut t = self.tables.write().unwrap();
        let in_cluster = t
            .broker_addr
            .values()
            .any(|bd| bd.cluster == cluster_name && bd.broker_addrs.values().any(|addr| addr == broker_addr));
        match t.broker_live.get_mut(broker_addr) {
            Some(live) if in_cluster => {
                live.last_update = Instant::now();
                true
            }
            _ => false,
        }
    }

    /// GET_BROKER_MEMBER_GROUP: every address registered under `broker_name` (the cluster
    /// name is echoed, not checked).
    pub fn broker_member_group(&self, cluster_name: &str, broker_name: &str) -> BrokerMemberGroup {
        let t = self.tables.read().unwrap();
        BrokerMemberGroup {
            broker_addrs: t
                .broker_addr
                .get(broker_name)
                .map(|bd| bd.broker_addrs.clone())
                .unwrap_or_default(),
            broker_name: broker_name.to_string(),
            cluster: cluster_name.to_string(),
        }
    }

    /// REGISTER_TOPIC_IN_NAMESRV: sets the queues of `topic` on each named broker. Every
    /// broker must be registered: for a new topic one unknown broker voids the whole call;
    /// for a known topic the entries before it stay applied (Java's order of checks).
    pub fn register_topic(&self, topic: &str, queue_datas: &[QueueData]) -> bool {
        if queue_datas.is_empty() {
            return false;
        }
        let mut t = self.tables.write().unwrap();
        let known = |t: &Tables, qd: &QueueData| t.broker_addr.contains_key(&qd.broker_name);
        let slot = |t: &mut Tables, qd: &QueueData| QueueSlot {
            broker_name: t.intern(&qd.broker_name),
            perm: qd.perm,
            read_queue_nums: qd.read_queue_nums,
            write_queue_nums: qd.write_queue_nums,
            topic_sys_flag: qd.topic_sys_flag,
        };
        if t.topic_queue.contains_key(topic) {
            for qd in queue_datas {
                if !known(&t, qd) {
                    warn!(topic, broker = %qd.broker_name, "topic registration names an unknown broker");
                    return false;
                }
                let slot = slot(&mut t, qd);
                if let Some(existing) = t.topic_queue.get_mut(topic) {
                    existing.put(slot);
                }
            }
        } else {
            if let Some(unknown) = queue_datas.iter().find(|qd| !known(&t, qd)) {
                warn!(topic, broker = %unknown.broker_name, "topic registration names an unknown broker");
                return false;
            }
            let mut queues = BrokerQueues::default();
            for qd in queue_datas {
                queues.put(slot(&mut t, qd));
            }
            t.topic_queue.insert(topic.to_string(), queues);
        }
        info!(topic, "topic route registered");
        true
    }

    pub fn cluster_info(&self) -> ClusterInfo {
        let t = self.tables.read().unwrap();
        ClusterInfo {
            broker_addr_table: t.broker_addr.clone(),
            cluster_addr_table: t
                .cluster_addr
                .iter()
                .map(|(cluster, names)| (cluster.clone(), names.iter().cloned().collect()))
                .collect(),
        }
    }

    pub fn delete_topic(&self, topic: &str) {
        self.tables.write().unwrap().topic_queue.remove(topic);
    }

    /// Removes the topic from the brokers of one cluster only.
    pub fn delete_topic_in_cluster(&self, topic: &str, cluster_name: &str) {
        let mut t = self.tables.write().unwrap();
        let Some(names) = t.cluster_addr.get(cluster_name).cloned() else {
            return;
        };
        if let Some(queues) = t.topic_queue.get_mut(topic) {
            for name in &names {
                queues.remove(name);
            }
            if queues.is_empty() {
                t.topic_queue.remove(topic);
            }
        }
    }

    pub fn all_topics(&self) -> TopicList {
        let t = self.tables.read().unwrap();
        TopicList {
            topic_list: sorted(t.topic_queue.keys().cloned()),
            broker_addr: None,
        }
    }

    pub fn topics_by_cluster(&self, cluster: &str) -> TopicList {
        let t = self.tables.read().unwrap();
        let names = t.cluster_addr.get(cluster).cloned().unwrap_or_default();
        let topics = t
            .topic_queue
            .iter()
            .filter(|(_, queues)| queues.broker_names().any(|name| names.contains(name)))
            .map(|(topic, _)| topic.clone());
        TopicList {
            topic_list: sorted(topics),
            broker_addr: None,
        }
    }

    /// Cluster names and broker names (each is also a topic), plus one broker address to
    /// ask for the rest.
    pub fn system_topics(&self) -> TopicList {
        let t = self.tables.read().unwrap();
        let mut topics = BTreeSet::new();
        for (cluster, names) in &t.cluster_addr {
            topics.insert(cluster.clone());
            topics.extend(names.iter().cloned());
        }
        let broker_addr = t
            .broker_addr
            .values()
            .find_map(|bd| bd.broker_addrs.values().next().cloned());
        TopicList {
            topic_list: topics.into_iter().collect(),
            broker_addr,
        }
    }

    /// Topics whose (first) queue data's system flag passes `pick`.
    fn topics_by_flag(&self, pick: impl Fn(i32) -> bool) -> TopicList {
        let t = self.tables.read().unwrap();
        let topics = t
            .topic_queue
            .iter()
            .filter(|(_, queues)| queues.slots().next().is_some_and(|slot| pick(slot.topic_sys_flag)))
            .map(|(topic, _)| topic.clone());
        TopicList {
            topic_list: sorted(topics),
            broker_addr: None,
        }
    }

    pub fn unit_topics(&self) -> TopicList {
        self.topics_by_flag(|flag| flag & FLAG_UNIT != 0)
    }

    pub fn has_unit_sub_topics(&self) -> TopicList {
        self.topics_by_flag(|flag| flag & FLAG_UNIT_SUB != 0)
    }

    pub fn has_unit_sub_ununit_topics(&self) -> TopicList {
        self.topics_by_flag(|flag| flag & FLAG_UNIT == 0 && flag & FLAG_UNIT_SUB != 0)
    }

    /// Takes write permission away from every topic of a broker (before maintenance).
    pub fn wipe_write_perm_of_broker(&self, broker_name: &str) -> i32 {
        self.update_perm_of_broker(broker_name, |perm| perm & !perm::WRITE)
    }

    /// Gives every topic of a broker read and write permission back.
    pub fn add_write_perm_of_broker(&self, broker_name: &str) -> i32 {
        self.update_perm_of_broker(broker_name, |_| perm::READ | perm::WRITE)
    }

    fn update_perm_of_broker(&self, broker_name: &str, update: impl Fn(i32) -> i32) -> i32 {
        let mut t = self.tables.write().unwrap();
        let mut count = 0;
        for queues in t.topic_queue.values_mut() {
            if let Some(qd) = queues.get_mut(broker_name) {
                qd.perm = update(qd.perm);
                count += 1;
            }
        }
        count
    }
}

fn remove_topics_of_broker(t: &mut Tables, broker_name: &str) {
    t.topic_queue.retain(|_, queues| {
        queues.remove(broker_name);
        !queues.is_empty()
    });
}

fn sorted(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use remoting::protocol::topic::TopicConfig;

    fn wrapper(topics: &[(&str, i32)], counter: i64) -> TopicConfigSerializeWrapper {
        let mut w = TopicConfigSerializeWrapper::default();
        w.data_version.counter = counter;
        for (name, queues) in topics {
            w.topic_config_table
                .insert(name.to_string(), TopicConfig::new(*name, *queues, *queues, 6));
        }
        w
    }

    fn register(
        m: &RouteInfoManager,
        name: &str,
        addr: &str,
        id: i64,
        w: &TopicConfigSerializeWrapper,
        timeout_ms: u64,
    ) -> RegisterBrokerResult {
        m.register_broker(Registration {
            cluster_name: "C",
            broker_addr: addr,
            broker_name: name,
            broker_id: id,
            ha_server_addr: "ha:1",
            data_version: &w.data_version,
            topic_config: Some(w.into()),
            filter_server_list: None,
            connection: None,
            timeout: Duration::from_millis(timeout_ms),
            enable_acting_master: None,
            zone_name: None,
        })
        .expect("topics given")
    }

    #[test]
    fn a_put_at_a_wrong_or_stale_hint_still_lands_in_name_order() {
        let slot = |name: &Arc<str>, perm: i32| QueueSlot {
            broker_name: name.clone(),
            perm,
            read_queue_nums: 1,
            write_queue_nums: 1,
            topic_sys_flag: 0,
        };
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        let mut queues = BrokerQueues::default();
        let mut hint = 7; // past the end
        queues.put_at_hint(slot(&b, 1), &mut hint);
        assert_eq!(hint, 0);
        queues.put_at_hint(slot(&c, 1), &mut hint);
        assert_eq!(hint, 1);
        queues.put_at_hint(slot(&a, 1), &mut hint); // hint points at c
        assert_eq!(hint, 0);
        queues.put_at_hint(slot(&a, 2), &mut hint); // hint right

        // The same name in another allocation (not interned) replaces too.
        let mut hint = 0;
        queues.put_at_hint(slot(&Arc::from("c"), 3), &mut hint);
        assert_eq!(hint, 2);
        let got: Vec<(&str, i32)> = queues.0.iter().map(|s| (&*s.broker_name, s.perm)).collect();
        assert_eq!(got, [("a", 2), ("b", 1), ("c", 3)]);
    }

    /// A registration given only its data version: accepted when nothing needs the topics
    /// (same version, known master; or a 4.x slave), refused untouched otherwise.
    #[test]
    fn registration_without_topics_only_when_they_are_not_needed() {
        let m = RouteInfoManager::new();
        let summary = |name: &'static str, addr: &'static str, id: i64, version: &DataVersion, v5: bool| {
            m.register_broker(Registration {
                cluster_name: "C",
                broker_addr: addr,
                broker_name: name,
                broker_id: id,
                data_version: version,
                ha_server_addr: "ha:1",
                topic_config: None,
                filter_server_list: Some(&[]),
                connection: None,
                timeout: Duration::from_secs(60),
                enable_acting_master: v5.then_some(false),
                zone_name: None,
            })
        };
        let w = wrapper(&[("T", 4), ("U", 2)], 7);
        // First registration: the topics are needed.
        assert!(summary("a", "1.1.1.1:1", 0, &w.data_version, false).is_none());
        assert_eq!(m.counts().broker_names, 0, "a refused registration changes nothing");
        register(&m, "a", "1.1.1.1:1", 0, &w, 60_000);
        // Same version: accepted, the topics stay.
        assert!(summary("a", "1.1.1.1:1", 0, &w.data_version, false).is_some());
        assert_eq!(
            m.pickup_topic_route_data("U").unwrap().queue_datas[0].read_queue_nums,
            2
        );
        // Changed version: refused, then registered in full.
        let w2 = wrapper(&[("T", 4), ("U", 3)], 8);
        assert!(summary("a", "1.1.1.1:1", 0, &w2.data_version, false).is_none());
        assert_eq!(m.broker_data_version("1.1.1.1:1").unwrap().counter, 7);
        register(&m, "a", "1.1.1.1:1", 0, &w2, 60_000);
        assert_eq!(
            m.pickup_topic_route_data("U").unwrap().queue_datas[0].read_queue_nums,
            3
        );
        // A 4.x slave's topics are never read: accepted on its first registration.
        let r = summary("a", "1.1.1.2:1", 1, &DataVersion::default(), false).unwrap();
        assert_eq!(r.master_addr.as_deref(), Some("1.1.1.1:1"));
        // A 5.x slave may stand in for its master: its topics are needed when new.
        assert!(summary("a", "1.1.1.3:1", 2, &DataVersion::default(), true).is_none());
    }

    #[test]
    fn register_route_and_expiry() {
        let m = RouteInfoManager::new();
        let long = 600_000;
        register(&m, "a", "1.1.1.1:1", 0, &wrapper(&[("T", 4)], 0), 0);
        register(&m, "b", "2.2.2.2:2", 0, &wrapper(&[("T", 8)], 0), 0);
        let slave = register(&m, "a", "1.1.1.2:1", 1, &wrapper(&[], 0), long);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(slave.master_addr.as_deref(), Some("1.1.1.1:1"));
        let route = m.pickup_topic_route_data("T").unwrap();
        assert_eq!(route.queue_datas.len(), 2);
        assert_eq!(route.broker_datas.len(), 2);
        assert!(m.pickup_topic_route_data("missing").is_none());

        // both masters expire; broker b disappears, broker a keeps its slave and its topic
        assert_eq!(m.scan_not_active_brokers(), 2);
        let route = m.pickup_topic_route_data("T").unwrap();
        assert_eq!(route.broker_datas.len(), 1);
        assert_eq!(
            route.broker_datas[0].broker_addrs.values().collect::<Vec<_>>(),
            ["1.1.1.2:1"]
        );
        assert_eq!(m.cluster_info().cluster_addr_table["C"], vec!["a".to_string()]);
        m.unregister_broker("C", "1.1.1.2:1", "a", 1);
        assert!(m.pickup_topic_route_data("T").is_none());
        assert!(m.cluster_info().broker_addr_table.is_empty());
        assert!(m.cluster_info().cluster_addr_table.is_empty());
    }

    #[test]
    fn topic_queues_update_only_when_the_version_changes() {
        let m = RouteInfoManager::new();
        register(&m, "a", "1.1.1.1:1", 0, &wrapper(&[("T", 4)], 1), 1000);
        register(&m, "a", "1.1.1.1:1", 0, &wrapper(&[("T", 16)], 1), 1000);
        assert_eq!(
            m.pickup_topic_route_data("T").unwrap().queue_datas[0].write_queue_nums,
            4
        );
        register(&m, "a", "1.1.1.1:1", 0, &wrapper(&[("T", 16)], 2), 1000);
        assert_eq!(
            m.pickup_topic_route_data("T").unwrap().queue_datas[0].write_queue_nums,
            16
        );
    }

    #[test]
    fn write_permission_can_be_wiped_and_restored() {
        let m = RouteInfoManager::new();
        register(&m, "a", "1.1.1.1:1", 0, &wrapper(&[("T", 4), ("U", 4)], 0), 1000);
        assert_eq!(m.wipe_write_perm_of_broker("a"), 2);
        assert_eq!(m.pickup_topic_route_data("T").unwrap().queue_datas[0].perm, perm::READ);
        assert_eq!(m.add_write_perm_of_broker("a"), 2);
        assert_eq!(m.pickup_topic_route_data("T").unwrap().queue_datas[0].perm, 6);
    }

    fn register_5x(m: &RouteInfoManager, addr: &str, id: i64, w: &TopicConfigSerializeWrapper) {
        m.register_broker(Registration {
            cluster_name: "C",
            broker_addr: addr,
            broker_name: "a",
            broker_id: id,
            ha_server_addr: "",
            data_version: &w.data_version,
            topic_config: Some(w.into()),
            filter_server_list: None,
            connection: None,
            timeout: Duration::from_secs(600),
            enable_acting_master: Some(true),
            zone_name: None,
        })
        .expect("topics given");
    }

    #[test]
    fn a_prime_slave_acts_as_master_only_where_that_is_supported() {
        let m = RouteInfoManager::new();
        register_5x(&m, "1.1.1.1:0", 0, &wrapper(&[("T", 4)], 1));
        register_5x(&m, "1.1.1.1:2", 2, &wrapper(&[("T", 4)], 1));
        register_5x(&m, "1.1.1.1:1", 1, &wrapper(&[("T", 4)], 1));
        // With the master there, nothing changes and the master's permission stands.
        let route = m.pickup_topic_route_data_acting("T", true).unwrap();
        assert_eq!(route.broker_datas[0].broker_addrs[&MASTER_ID], "1.1.1.1:0");
        assert_eq!(route.queue_datas[0].perm, 6);
        // The master goes; the lowest slave registers again (a new version) and its
        // queues become read-only.
        m.unregister_broker("C", "1.1.1.1:0", "a", 0);
        register_5x(&m, "1.1.1.1:1", 1, &wrapper(&[("T", 4)], 2));
        let plain = m.pickup_topic_route_data_acting("T", false).unwrap();
        assert_eq!(plain.queue_datas[0].perm, perm::READ);
        assert!(!plain.broker_datas[0].broker_addrs.contains_key(&MASTER_ID));
        let acting = m.pickup_topic_route_data_acting("T", true).unwrap();
        let addrs = &acting.broker_datas[0].broker_addrs;
        assert_eq!(addrs.get(&MASTER_ID).map(String::as_str), Some("1.1.1.1:1"));
        assert_eq!(addrs.get(&2).map(String::as_str), Some("1.1.1.1:2"));
        assert_eq!(addrs.len(), 2);
        // The member-group sync topics are never rewritten.
        register_5x(&m, "1.1.1.1:1", 1, &wrapper(&[("rmq_sys_SYNC_BROKER_MEMBER_a", 1)], 3));
        let sync = m
            .pickup_topic_route_data_acting("rmq_sys_SYNC_BROKER_MEMBER_a", true)
            .unwrap();
        assert!(!sync.broker_datas[0].broker_addrs.contains_key(&MASTER_ID));
    }
}
