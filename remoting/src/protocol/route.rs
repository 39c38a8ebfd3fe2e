//! Route data as the name server hands it out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Permission bits (`PermName`).
pub mod perm {
    pub const PRIORITY: i32 = 1 << 3;
    pub const READ: i32 = 1 << 2;
    pub const WRITE: i32 = 1 << 1;
    pub const INHERIT: i32 = 1;
}

/// The id of a master broker within its broker name (`MixAll.MASTER_ID`).
pub const MASTER_ID: i64 = 0;

/// `QueueData`: how many queues one broker serves for a topic, and with what permission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueData {
    pub broker_name: String,
    pub perm: i32,
    pub read_queue_nums: i32,
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

/// `BrokerData`: the addresses of one broker name (master id 0, slaves 1..).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    /// Integer keys: written bare in the legacy JSON form.
    pub broker_addrs: BTreeMap<i64, String>,
    pub broker_name: String,
    pub cluster: String,
    /// A 5.x field; some clients (rocketmq-client-rust) refuse route entries without it.
    pub enable_acting_master: bool,
}

/// `TopicRouteData`: the answer to GET_ROUTEINFO_BY_TOPIC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    pub broker_datas: Vec<BrokerData>,
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    pub queue_datas: Vec<QueueData>,
}

/// `ClusterInfo`: the answer to GET_BROKER_CLUSTER_INFO.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}
