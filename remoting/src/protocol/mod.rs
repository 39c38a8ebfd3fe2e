//! Typed request and response bodies shared by the name server and the broker. Field names
//! and their (alphabetical) order follow what Java's fastjson writes.

pub mod lock;
pub mod register;
pub mod register_view;
pub mod route;
pub mod topic;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `TopicList`: a set of topic names, optionally with the address of a broker that has them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
    pub topic_list: Vec<String>,
}

/// `KVTable`: one namespace of the name server's KV config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvTable {
    pub table: BTreeMap<String, String>,
}
