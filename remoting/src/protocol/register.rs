//! `RegisterBrokerBody`, in its JSON form and in the zlib-compressed binary form a broker
//! sends when `compressedRegister` is on.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::topic::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};
use crate::fastjson;

/// The `bodyCrc32` header value for a body, as Java's `UtilAll.crc32` computes it: CRC32
/// masked to a non-negative int. 0 also means "no checksum sent".
pub fn body_crc32(body: &[u8]) -> i32 {
    if body.is_empty() {
        return 0;
    }
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    pub filter_server_list: Vec<String>,
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

/// What a JSON `RegisterBrokerBody` says besides its topics: its data version and filter
/// servers, found by their keys and read without parsing the topic table. A broker
/// re-registers every 30 s, usually with an unchanged version, and then the name server
/// needs no more than this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterBrokerBodySummary {
    pub data_version: DataVersion,
    pub filter_server_list: Vec<String>,
}

impl RegisterBrokerBodySummary {
    /// None when the body does not have exactly one `"dataVersion"` key and at most one
    /// `"filterServerList"` key, each followed by a value of the right type (or is
    /// compressed, or not standard JSON): decode it whole then. Topic names cannot contain
    /// quotes, and no topic field is called either, so each key occurs once in a body from
    /// a Java or a Rust broker.
    pub fn read(body: &[u8]) -> Option<Self> {
        let data_version = value_of_unique_key(body, b"\"dataVersion\"")??;
        let filter_server_list = value_of_unique_key(body, b"\"filterServerList\"")?.unwrap_or_default();
        Some(RegisterBrokerBodySummary {
            data_version,
            filter_server_list,
        })
    }
}

/// The JSON value after `key` and its colon: `Some(None)` when `key` does not occur in
/// `body`, `None` when it occurs more than once or is not followed by a value of type `T`.
fn value_of_unique_key<T: serde::de::DeserializeOwned>(body: &[u8], key: &[u8]) -> Option<Option<T>> {
    let mut hits = memchr::memmem::find_iter(body, key);
    let Some(at) = hits.next() else {
        return Some(None);
    };
    if hits.next().is_some() {
        return None;
    }
    let rest = &body[at + key.len()..];
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[colon] != b':' {
        return None;
    }
    // Read one value and stop there: the rest of the body is not looked at.
    let mut de = serde_json::Deserializer::from_slice(&rest[colon + 1..]);
    T::deserialize(&mut de).ok().map(Some)
}

#[derive(Debug, thiserror::Error)]
#[error("bad RegisterBrokerBody: {0}")]
pub struct RegisterBodyError(String);

impl RegisterBrokerBody {
    pub fn decode(body: &[u8], compressed: bool) -> Result<Self, RegisterBodyError> {
        if compressed {
            Self::decode_compressed(body)
        } else {
            fastjson::from_slice(body).map_err(RegisterBodyError)
        }
    }

    pub fn encode(&self, compressed: bool) -> Vec<u8> {
        if compressed {
            self.encode_compressed()
        } else {
            fastjson::to_standard_vec(self)
        }
    }

    /// zlib stream of: data version JSON, topic count, each topic in its compact text
    /// form, filter server list JSON; every piece preceded by its i32 BE length.
    fn encode_compressed(&self) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let wrapper = &self.topic_config_serialize_wrapper;
        write_piece(&mut z, &fastjson::to_standard_vec(&wrapper.data_version));
        z.write_all(&(wrapper.topic_config_table.len() as i32).to_be_bytes())
            .expect("writing to a Vec cannot fail");
        for config in wrapper.topic_config_table.values() {
            write_piece(&mut z, config.encode_compact().as_bytes());
        }
        write_piece(&mut z, &fastjson::to_standard_vec(&self.filter_server_list));
        // The 5.x section, written only when there are mappings (our broker has none, so
        // what it sends stays 4.9.8's bytes).
        let mappings = &wrapper.topic_queue_mapping_info_map;
        if !mappings.is_empty() {
            z.write_all(&(mappings.len() as i32).to_be_bytes())
                .expect("writing to a Vec cannot fail");
            for info in mappings.values() {
                write_piece(&mut z, &fastjson::to_standard_vec(info));
            }
        }
        z.finish().expect("writing to a Vec cannot fail")
    }

    fn decode_compressed(body: &[u8]) -> Result<Self, RegisterBodyError> {
        // Bound what a small hostile body can inflate to.
        const MAX_INFLATED: u64 = 256 * 1024 * 1024;
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(body)
            .take(MAX_INFLATED)
            .read_to_end(&mut inflated)
            .map_err(|e| RegisterBodyError(format!("inflate: {e}")))?;
        let mut rest = inflated.as_slice();
        let data_version: DataVersion = fastjson::from_slice(take_piece(&mut rest)?).map_err(RegisterBodyError)?;
        let count = take_i32(&mut rest)?;
        let mut wrapper = TopicConfigSerializeWrapper {
            data_version,
            ..Default::default()
        };
        for _ in 0..count.max(0) {
            let text = std::str::from_utf8(take_piece(&mut rest)?)
                .map_err(|_| RegisterBodyError("topic config is not UTF-8".into()))?;
            let config = TopicConfig::decode_compact(text)
                .ok_or_else(|| RegisterBodyError(format!("bad topic config {text:?}")))?;
            wrapper.topic_config_table.insert(config.topic_name.clone(), config);
        }
        // Java tolerates a filter server list it cannot parse; so do we.
        let filter_server_list = take_piece(&mut rest)
            .ok()
            .and_then(|bytes| fastjson::from_slice(bytes).ok())
            .unwrap_or_default();
        // 5.x brokers (version V5_0_0 and later) append their static-topic mappings: a count,
        // then one JSON TopicQueueMappingInfo per topic, each with its length. Older brokers
        // end here; a section that does not parse is skipped, like a bad filter server list.
        wrapper.topic_queue_mapping_info_map = take_mappings(&mut rest).unwrap_or_default();
        Ok(RegisterBrokerBody {
            filter_server_list,
            topic_config_serialize_wrapper: wrapper,
        })
    }
}

/// The compressed body's trailing 5.x section, keyed by each mapping's `topic`.
fn take_mappings(rest: &mut &[u8]) -> Option<std::collections::BTreeMap<String, serde_json::Value>> {
    let mut map = std::collections::BTreeMap::new();
    if rest.is_empty() {
        return Some(map);
    }
    let count = take_i32(rest).ok()?;
    for _ in 0..count.max(0) {
        let info: serde_json::Value = fastjson::parse(take_piece(rest).ok()?).ok()?;
        let topic = info.get("topic")?.as_str()?.to_string();
        map.insert(topic, info);
    }
    Some(map)
}

fn write_piece(z: &mut impl Write, bytes: &[u8]) {
    z.write_all(&(bytes.len() as i32).to_be_bytes())
        .and_then(|_| z.write_all(bytes))
        .expect("writing to a Vec cannot fail");
}

fn take_i32(rest: &mut &[u8]) -> Result<i32, RegisterBodyError> {
    if rest.len() < 4 {
        return Err(RegisterBodyError("truncated length".into()));
    }
    let (head, tail) = rest.split_at(4);
    *rest = tail;
    Ok(i32::from_be_bytes(head.try_into().unwrap()))
}

fn take_piece<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], RegisterBodyError> {
    let len = take_i32(rest)?;
    let len = usize::try_from(len).map_err(|_| RegisterBodyError("negative length".into()))?;
    if rest.len() < len {
        return Err(RegisterBodyError("truncated piece".into()));
    }
    let (head, tail) = rest.split_at(len);
    *rest = tail;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_form_round_trips() {
        let mut body = RegisterBrokerBody::default();
        body.topic_config_serialize_wrapper.data_version = DataVersion {
            counter: 3,
            state_version: None,
            timestamp: 1_700_000_000_000,
        };
        for (name, q) in [("TopicA", 4), ("TopicB", 8)] {
            body.topic_config_serialize_wrapper
                .topic_config_table
                .insert(name.into(), TopicConfig::new(name, q, q, 6));
        }
        body.filter_server_list = vec!["127.0.0.1:1".into()];
        let bytes = body.encode(true);
        assert_eq!(RegisterBrokerBody::decode(&bytes, true).unwrap(), body);
        // With a 5.x static-topic mapping section.
        let mut with_mapping = body.clone();
        with_mapping
            .topic_config_serialize_wrapper
            .topic_queue_mapping_info_map
            .insert(
                "TopicA".into(),
                serde_json::json!({"bname": "b", "epoch": 1, "topic": "TopicA", "totalQueues": 4}),
            );
        let longer = with_mapping.encode(true);
        assert_eq!(RegisterBrokerBody::decode(&longer, true).unwrap(), with_mapping);
        assert!(RegisterBrokerBody::decode(&bytes[..bytes.len() / 2], true).is_err());
        assert!(RegisterBrokerBody::decode(b"not zlib", true).is_err());
    }

    #[test]
    fn summary_reads_the_version_and_filter_servers_or_declines() {
        let mut body = RegisterBrokerBody::default();
        body.topic_config_serialize_wrapper.data_version = DataVersion {
            counter: 9,
            state_version: None,
            timestamp: 1_700_000_000_123,
        };
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert("TopicA".into(), TopicConfig::new("TopicA", 4, 4, 6));
        body.filter_server_list = vec!["127.0.0.1:1".into()];
        let summary = RegisterBrokerBodySummary::read(&body.encode(false)).unwrap();
        assert_eq!(summary.data_version, body.topic_config_serialize_wrapper.data_version);
        assert_eq!(summary.filter_server_list, body.filter_server_list);

        // As a Java broker writes it (fastjson, keys sorted, spaces allowed).
        let java = br#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion" : {"counter":2,"timestamp":5},"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":4}}}}"#;
        let summary = RegisterBrokerBodySummary::read(java).unwrap();
        assert_eq!((summary.data_version.counter, summary.data_version.timestamp), (2, 5));
        assert!(summary.filter_server_list.is_empty());

        // A topic named like a key makes the key ambiguous: decline.
        let mut tricky = body.clone();
        for name in ["dataVersion", "filterServerList"] {
            tricky
                .topic_config_serialize_wrapper
                .topic_config_table
                .insert(name.into(), TopicConfig::new(name, 1, 1, 6));
            assert!(
                RegisterBrokerBodySummary::read(&tricky.encode(false)).is_none(),
                "{name}"
            );
        }
        assert!(RegisterBrokerBodySummary::read(&body.encode(true)).is_none());
        assert!(RegisterBrokerBodySummary::read(b"{}").is_none());
    }
}
