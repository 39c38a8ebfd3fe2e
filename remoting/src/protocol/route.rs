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

impl TopicRouteData {
    /// The route as JSON: byte for byte what `fastjson::to_standard_vec` writes, or with
    /// `legacy` what `fastjson::to_legacy_vec` writes (broker ids as bare keys). Written by
    /// hand because a route lookup is the name server's hottest call and most of its cost
    /// was serde_json escaping field names byte by byte (a route of 100 brokers: about 45%
    /// of the instructions of the whole lookup). A route with static-topic mappings takes
    /// the serde path.
    pub fn to_json(&self, legacy: bool) -> Vec<u8> {
        if self.topic_queue_mapping_by_broker.is_some() {
            return if legacy {
                crate::fastjson::to_legacy_vec(self)
            } else {
                crate::fastjson::to_standard_vec(self)
            };
        }
        let mut out = Vec::with_capacity(64 + self.broker_datas.len() * 160 + self.queue_datas.len() * 112);
        out.extend_from_slice(b"{\"brokerDatas\":[");
        for (i, b) in self.broker_datas.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"brokerAddrs\":{");
            for (j, (id, addr)) in b.broker_addrs.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                if legacy {
                    push_int(&mut out, *id);
                } else {
                    out.push(b'"');
                    push_int(&mut out, *id);
                    out.push(b'"');
                }
                out.push(b':');
                push_str(&mut out, addr);
            }
            out.extend_from_slice(b"},\"brokerName\":");
            push_str(&mut out, &b.broker_name);
            out.extend_from_slice(b",\"cluster\":");
            push_str(&mut out, &b.cluster);
            out.extend_from_slice(if b.enable_acting_master {
                b",\"enableActingMaster\":true"
            } else {
                b",\"enableActingMaster\":false"
            });
            if let Some(zone) = &b.zone_name {
                out.extend_from_slice(b",\"zoneName\":");
                push_str(&mut out, zone);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"filterServerTable\":{");
        for (j, (addr, servers)) in self.filter_server_table.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            push_str(&mut out, addr);
            out.extend_from_slice(b":[");
            for (k, server) in servers.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                push_str(&mut out, server);
            }
            out.push(b']');
        }
        out.push(b'}');
        if let Some(conf) = &self.order_topic_conf {
            out.extend_from_slice(b",\"orderTopicConf\":");
            push_str(&mut out, conf);
        }
        out.extend_from_slice(b",\"queueDatas\":[");
        for (i, q) in self.queue_datas.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"brokerName\":");
            push_str(&mut out, &q.broker_name);
            out.extend_from_slice(b",\"perm\":");
            push_int(&mut out, q.perm as i64);
            out.extend_from_slice(b",\"readQueueNums\":");
            push_int(&mut out, q.read_queue_nums as i64);
            out.extend_from_slice(b",\"topicSysFlag\":");
            push_int(&mut out, q.topic_sys_flag as i64);
            out.extend_from_slice(b",\"writeQueueNums\":");
            push_int(&mut out, q.write_queue_nums as i64);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// A JSON string, quoted; escaped by serde_json when it holds anything to escape, so the
/// bytes are always serde_json's.
fn push_str(out: &mut Vec<u8>, s: &str) {
    if !crate::text::needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
    }
}

fn push_int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(crate::text::decimal(v, &mut [0; 20]).as_bytes());
}

/// `ClusterInfo`: the answer to GET_BROKER_CLUSTER_INFO.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(zone: bool, filters: bool, conf: Option<&str>) -> TopicRouteData {
        let mut r = TopicRouteData::default();
        for (i, name) in ["broker-a", "b\"r\\o\u{1}k\u{7f}é\n"].iter().enumerate() {
            r.broker_datas.push(BrokerData {
                broker_addrs: [
                    (0, format!("10.0.0.{i}:10911")),
                    (-3, "x".into()),
                    (i64::MAX, "\t".into()),
                ]
                .into(),
                broker_name: name.to_string(),
                cluster: "DefaultCluster".into(),
                enable_acting_master: i == 1,
                zone_name: zone.then(|| format!("zone{i}")),
            });
            r.queue_datas.push(QueueData {
                broker_name: name.to_string(),
                perm: 6,
                read_queue_nums: -1,
                topic_sys_flag: i32::MIN,
                write_queue_nums: i32::MAX,
            });
        }
        if filters {
            r.filter_server_table
                .insert("10.0.0.0:10911".into(), vec!["f1".into(), "f\"2".into()]);
            r.filter_server_table.insert("empty".into(), vec![]);
        }
        r.order_topic_conf = conf.map(str::to_string);
        r
    }

    #[test]
    fn hand_written_route_json_is_serde_json_byte_for_byte() {
        let cases = [
            TopicRouteData::default(),
            route(false, false, None),
            route(true, true, Some("broker-a:4;b:\"8")),
            route(false, true, Some("")),
        ];
        for r in &cases {
            assert_eq!(
                String::from_utf8(r.to_json(false)).unwrap(),
                String::from_utf8(crate::fastjson::to_standard_vec(r)).unwrap()
            );
            assert_eq!(
                String::from_utf8(r.to_json(true)).unwrap(),
                String::from_utf8(crate::fastjson::to_legacy_vec(r)).unwrap()
            );
        }
        let mut mapped = route(false, false, None);
        mapped.topic_queue_mapping_by_broker =
            Some([("broker-a".to_string(), serde_json::json!({"bname": "broker-a"}))].into());
        assert_eq!(mapped.to_json(false), crate::fastjson::to_standard_vec(&mapped));
    }
}
