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
    /// 5.x: the zone a broker registered with (its `__ZONE_NAME` ext field); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
}

/// `BrokerMemberGroup` (5.x): the addresses registered under one broker name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerMemberGroup {
    /// Integer keys: written bare, as fastjson does.
    pub broker_addrs: BTreeMap<i64, String>,
    pub broker_name: String,
    pub cluster: String,
}

/// `GetBrokerMemberGroupResponseBody`: the answer to GET_BROKER_MEMBER_GROUP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetBrokerMemberGroupResponseBody {
    pub broker_member_group: BrokerMemberGroup,
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
    /// 5.x static topics: broker name -> that broker's `TopicQueueMappingInfo` for the
    /// topic. Written only when some 5.x broker registered a mapping for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_by_broker: Option<BTreeMap<String, serde_json::Value>>,
}

/// `ClusterInfo`: the answer to GET_BROKER_CLUSTER_INFO.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}
