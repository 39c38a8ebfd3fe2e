//! Topic configuration as brokers keep it and report it to name servers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::route::perm;

/// `DataVersion`: a broker's topic-config version; any change bumps the counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    pub counter: i64,
    /// A 5.x field, kept so that a 5.x broker's version compares equal to itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_version: Option<i64>,
    pub timestamp: i64,
}

impl DataVersion {
    pub fn now() -> Self {
        DataVersion {
            counter: 0,
            state_version: None,
            timestamp: now_millis(),
        }
    }

    /// Marks a change, as Java's `nextVersion`.
    pub fn next_version(&mut self) {
        self.timestamp = now_millis();
        self.counter += 1;
    }
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The topic whose route clients use when they send to a topic not created yet (Java's
/// `TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC`).
pub const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";

/// `TopicConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// 5.x topic attributes (message type and so on), kept as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    pub order: bool,
    pub perm: i32,
    pub read_queue_nums: i32,
    pub topic_filter_type: String,
    pub topic_name: String,
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            attributes: None,
            order: false,
            perm: perm::READ | perm::WRITE,
            read_queue_nums: 16,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_name: String::new(),
            topic_sys_flag: 0,
            write_queue_nums: 16,
        }
    }
}

impl TopicConfig {
    pub fn new(name: impl Into<String>, read: i32, write: i32, perm: i32) -> Self {
        TopicConfig {
            topic_name: name.into(),
            read_queue_nums: read,
            write_queue_nums: write,
            perm,
            ..Default::default()
        }
    }

    /// The space-separated form used inside the compressed RegisterBrokerBody:
    /// `name readQueueNums writeQueueNums perm topicFilterType`.
    pub fn encode_compact(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.topic_name, self.read_queue_nums, self.write_queue_nums, self.perm, self.topic_filter_type
        )
    }

    pub fn decode_compact(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split(' ').collect();
        let [name, read, write, perm, filter] = parts.as_slice() else {
            return None;
        };
        Some(TopicConfig {
            topic_name: name.to_string(),
            read_queue_nums: read.parse().ok()?,
            write_queue_nums: write.parse().ok()?,
            perm: perm.parse().ok()?,
            topic_filter_type: filter.to_string(),
            ..Default::default()
        })
    }
}

/// `TopicConfigSerializeWrapper`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    pub data_version: DataVersion,
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// 5.x static topics: per topic, the broker's `TopicQueueMappingInfo` (kept as the JSON
    /// object the broker sent). Only 5.x brokers send it; never written when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_empty")]
    pub topic_queue_mapping_info_map: BTreeMap<String, serde_json::Value>,
}

/// A map member sent as `null` reads as empty.
fn null_as_empty<'de, D>(d: D) -> Result<BTreeMap<String, serde_json::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod mapping_tests {
    use super::*;

    #[test]
    fn a_5x_wrapper_keeps_its_mappings_and_a_null_map_reads_as_none() {
        let text = br#"{"dataVersion":{"counter":1,"timestamp":2},"topicConfigTable":{},"topicQueueMappingInfoMap":{"T":{"bname":"b","topic":"T"}},"topicQueueMappingDetailMap":{},"mappingDataVersion":{"counter":0,"timestamp":0}}"#;
        let w: TopicConfigSerializeWrapper = crate::fastjson::from_slice(text).unwrap();
        assert_eq!(w.topic_queue_mapping_info_map["T"]["bname"], "b");
        let text =
            br#"{"dataVersion":{"counter":1,"timestamp":2},"topicConfigTable":{},"topicQueueMappingInfoMap":null}"#;
        let w: TopicConfigSerializeWrapper = crate::fastjson::from_slice(text).unwrap();
        assert!(w.topic_queue_mapping_info_map.is_empty());
        // What a 4.9.8 broker sends, and what ours writes: no such member.
        let plain = crate::fastjson::to_standard_vec(&TopicConfigSerializeWrapper::default());
        assert!(!String::from_utf8(plain).unwrap().contains("topicQueueMapping"));
    }
}
