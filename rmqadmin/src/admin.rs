//! The protocol side of rmqadmin: name server fail-over, broker requests, the errors a user
//! sees, and the lookups most commands share (routes, clusters, master addresses).

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use remoting::code::{request, response};
use remoting::header::admin::TopicRequestHeader;
use remoting::header::CommandHeader;
use remoting::protocol::route::{BrokerData, ClusterInfo, TopicRouteData, MASTER_ID};
use remoting::{fastjson, RemotingClient, RemotingCommand, RemotingError};
use serde_json::Value;

/// Java's `MixAll.RETRY_GROUP_TOPIC_PREFIX` and `DLQ_GROUP_TOPIC_PREFIX`.
pub const RETRY_PREFIX: &str = "%RETRY%";
pub const DLQ_PREFIX: &str = "%DLQ%";

/// A peer answered with a code other than SUCCESS.
#[derive(Debug)]
pub struct RemoteError {
    pub peer: String,
    pub code: i32,
    pub remark: Option<String>,
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} answered {} (code {})",
            self.peer,
            code_name(self.code),
            self.code
        )?;
        if self.code == response::REQUEST_CODE_NOT_SUPPORTED {
            write!(f, ": the request is not supported by this server")?;
        }
        if let Some(remark) = self.remark.as_deref().filter(|r| !r.is_empty()) {
            write!(f, ": {remark}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RemoteError {}

/// The name of a response code, as Java's `ResponseCode` spells it.
pub fn code_name(code: i32) -> &'static str {
    use response::*;
    match code {
        SUCCESS => "SUCCESS",
        SYSTEM_ERROR => "SYSTEM_ERROR",
        SYSTEM_BUSY => "SYSTEM_BUSY",
        REQUEST_CODE_NOT_SUPPORTED => "REQUEST_CODE_NOT_SUPPORTED",
        TRANSACTION_FAILED => "TRANSACTION_FAILED",
        FLUSH_DISK_TIMEOUT => "FLUSH_DISK_TIMEOUT",
        SLAVE_NOT_AVAILABLE => "SLAVE_NOT_AVAILABLE",
        FLUSH_SLAVE_TIMEOUT => "FLUSH_SLAVE_TIMEOUT",
        MESSAGE_ILLEGAL => "MESSAGE_ILLEGAL",
        SERVICE_NOT_AVAILABLE => "SERVICE_NOT_AVAILABLE",
        VERSION_NOT_SUPPORTED => "VERSION_NOT_SUPPORTED",
        NO_PERMISSION => "NO_PERMISSION",
        TOPIC_NOT_EXIST => "TOPIC_NOT_EXIST",
        TOPIC_EXIST_ALREADY => "TOPIC_EXIST_ALREADY",
        PULL_NOT_FOUND => "PULL_NOT_FOUND",
        PULL_RETRY_IMMEDIATELY => "PULL_RETRY_IMMEDIATELY",
        PULL_OFFSET_MOVED => "PULL_OFFSET_MOVED",
        QUERY_NOT_FOUND => "QUERY_NOT_FOUND",
        SUBSCRIPTION_PARSE_FAILED => "SUBSCRIPTION_PARSE_FAILED",
        SUBSCRIPTION_NOT_EXIST => "SUBSCRIPTION_NOT_EXIST",
        SUBSCRIPTION_NOT_LATEST => "SUBSCRIPTION_NOT_LATEST",
        SUBSCRIPTION_GROUP_NOT_EXIST => "SUBSCRIPTION_GROUP_NOT_EXIST",
        FILTER_DATA_NOT_EXIST => "FILTER_DATA_NOT_EXIST",
        FILTER_DATA_NOT_LATEST => "FILTER_DATA_NOT_LATEST",
        TRANSACTION_SHOULD_COMMIT => "TRANSACTION_SHOULD_COMMIT",
        TRANSACTION_SHOULD_ROLLBACK => "TRANSACTION_SHOULD_ROLLBACK",
        TRANSACTION_STATE_UNKNOW => "TRANSACTION_STATE_UNKNOW",
        TRANSACTION_STATE_GROUP_WRONG => "TRANSACTION_STATE_GROUP_WRONG",
        NO_BUYER_ID => "NO_BUYER_ID",
        NOT_IN_CURRENT_UNIT => "NOT_IN_CURRENT_UNIT",
        CONSUMER_NOT_ONLINE => "CONSUMER_NOT_ONLINE",
        CONSUME_MSG_TIMEOUT => "CONSUME_MSG_TIMEOUT",
        NO_MESSAGE => "NO_MESSAGE",
        FLOW_CONTROL => "FLOW_CONTROL",
        _ => "UNKNOWN",
    }
}

pub struct Admin {
    namesrvs: Vec<String>,
    client: RemotingClient,
    timeout: Duration,
}

impl Admin {
    pub fn new(namesrvs: Vec<String>, timeout: Duration) -> Admin {
        Admin {
            namesrvs,
            client: RemotingClient::default(),
            timeout,
        }
    }

    pub fn namesrvs(&self) -> &[String] {
        &self.namesrvs
    }

    fn require_namesrv(&self) -> Result<()> {
        if self.namesrvs.is_empty() {
            bail!("no name server address: pass -n/--namesrvAddr host:port[;host:port] or set NAMESRV_ADDR");
        }
        Ok(())
    }

    /// Sends to the name servers in order until one can be reached (the first reachable one
    /// answers, whatever its code).
    pub async fn namesrv(&self, req: RemotingCommand) -> Result<(String, RemotingCommand)> {
        self.require_namesrv()?;
        let mut failures = Vec::new();
        for addr in &self.namesrvs {
            match self.client.invoke(addr, req.clone(), self.timeout).await {
                Ok(res) => return Ok((addr.clone(), res)),
                Err(e @ RemotingError::ConnectFailed { .. }) | Err(e @ RemotingError::ConnectionClosed(_)) => {
                    failures.push(e.to_string())
                }
                Err(e) => return Err(anyhow!("name server {addr}: {e}")),
            }
        }
        bail!("cannot reach any name server ({})", failures.join("; "))
    }

    /// Sends to one name server.
    pub async fn namesrv_at(&self, addr: &str, req: RemotingCommand) -> Result<RemotingCommand> {
        self.client
            .invoke(addr, req, self.timeout)
            .await
            .map_err(|e| anyhow!("cannot reach name server {addr}: {e}"))
    }

    /// A name server request that must succeed.
    pub async fn namesrv_ok(&self, req: RemotingCommand) -> Result<RemotingCommand> {
        let (addr, res) = self.namesrv(req).await?;
        ok(&format!("name server {addr}"), res)
    }

    pub async fn broker(&self, addr: &str, req: RemotingCommand) -> Result<RemotingCommand> {
        self.client
            .invoke(addr, req, self.timeout)
            .await
            .map_err(|e| anyhow!("cannot reach broker {addr}: {e}"))
    }

    /// A broker request that must succeed.
    pub async fn broker_ok(&self, addr: &str, req: RemotingCommand) -> Result<RemotingCommand> {
        let res = self.broker(addr, req).await?;
        ok(&format!("broker {addr}"), res)
    }

    /// A broker request whose body is (fastjson-dialect) JSON.
    pub async fn broker_json(&self, addr: &str, req: RemotingCommand) -> Result<Value> {
        let res = self.broker_ok(addr, req).await?;
        parse_body(&res.body).with_context(|| format!("broker {addr}: bad answer body"))
    }

    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        let res = self
            .namesrv_ok(RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO))
            .await?;
        fastjson::from_slice(&res.body).map_err(|e| anyhow!("bad cluster info body: {e}"))
    }

    /// The route of `topic`; an unknown topic is an error naming it.
    pub async fn route(&self, topic: &str) -> Result<TopicRouteData> {
        let req = with_header(
            request::GET_ROUTEINFO_BY_TOPIC,
            &TopicRequestHeader { topic: topic.into() },
        );
        let (addr, res) = self.namesrv(req).await?;
        if res.code == response::TOPIC_NOT_EXIST {
            return Err(anyhow::Error::new(RemoteError {
                peer: format!("name server {addr}"),
                code: res.code,
                remark: res.remark,
            })
            .context(format!("topic {topic} does not exist")));
        }
        let res = ok(&format!("name server {addr}"), res)?;
        fastjson::from_slice(&res.body).map_err(|e| anyhow!("bad route body for {topic}: {e}"))
    }

    pub async fn topic_list(&self) -> Result<Vec<String>> {
        let res = self
            .namesrv_ok(RemotingCommand::request(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER))
            .await?;
        let v = parse_body(&res.body)?;
        Ok(strings(&v["topicList"]))
    }

    /// Master addresses of a cluster (Java's `CommandUtil.fetchMasterAddrByClusterName`).
    pub async fn cluster_masters(&self, cluster: &str) -> Result<Vec<String>> {
        let info = self.cluster_info().await?;
        let names = info.cluster_addr_table.get(cluster).ok_or_else(|| {
            anyhow!(
                "cluster {cluster} does not exist (the name server knows: {})",
                join_keys(&info)
            )
        })?;
        let set: BTreeSet<String> = names
            .iter()
            .filter_map(|n| info.broker_addr_table.get(n))
            .filter_map(|b| b.broker_addrs.get(&MASTER_ID).cloned())
            .collect();
        Ok(set.into_iter().collect())
    }

    /// Master and slave addresses of a cluster, masters first within each broker name.
    pub async fn cluster_addrs(&self, cluster: &str) -> Result<Vec<(String, i64, String)>> {
        let info = self.cluster_info().await?;
        let names = info.cluster_addr_table.get(cluster).ok_or_else(|| {
            anyhow!(
                "cluster {cluster} does not exist (the name server knows: {})",
                join_keys(&info)
            )
        })?;
        let names: BTreeSet<&String> = names.iter().collect();
        let mut out = Vec::new();
        for name in names {
            if let Some(b) = info.broker_addr_table.get(name) {
                for (id, addr) in &b.broker_addrs {
                    out.push((name.clone(), *id, addr.clone()));
                }
            }
        }
        Ok(out)
    }

    /// The broker name an address serves (Java's `CommandUtil.fetchBrokerNameByAddr`).
    pub async fn broker_name_of(&self, addr: &str) -> Result<String> {
        let info = self.cluster_info().await?;
        info.broker_addr_table
            .values()
            .find(|b| b.broker_addrs.values().any(|a| a == addr))
            .map(|b| b.broker_name.clone())
            .ok_or_else(|| anyhow!("no broker registered with the name server has address {addr}"))
    }
}

fn join_keys(info: &ClusterInfo) -> String {
    let names: Vec<&str> = info.cluster_addr_table.keys().map(String::as_str).collect();
    if names.is_empty() {
        "no cluster".into()
    } else {
        names.join(", ")
    }
}

/// The answer if it is SUCCESS, else a [`RemoteError`].
pub fn ok(peer: &str, res: RemotingCommand) -> Result<RemotingCommand> {
    if res.code == response::SUCCESS {
        Ok(res)
    } else {
        Err(RemoteError {
            peer: peer.to_string(),
            code: res.code,
            remark: res.remark,
        }
        .into())
    }
}

pub fn with_header(code: i32, header: &impl CommandHeader) -> RemotingCommand {
    RemotingCommand::request_with_header(code, header)
}

pub fn parse_body(body: &[u8]) -> Result<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    fastjson::parse(body).map_err(|e| anyhow!("{e}: {}", String::from_utf8_lossy(body)))
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Java's `BrokerData.selectBrokerAddr`: the master, else any slave.
pub fn select_broker_addr(b: &BrokerData) -> Option<String> {
    b.broker_addrs
        .get(&MASTER_ID)
        .or_else(|| b.broker_addrs.values().next())
        .cloned()
}

/// The address to reach a broker name through, from a route.
pub fn addr_of_broker_name(route: &TopicRouteData, broker_name: &str) -> Option<String> {
    route
        .broker_datas
        .iter()
        .find(|b| b.broker_name == broker_name)
        .and_then(select_broker_addr)
}

/// Splits a fastjson MessageQueue map key (`{"brokerName":..,"queueId":..,"topic":..}`).
pub fn mq_key(key: &str) -> Option<remoting::protocol::lock::MessageQueue> {
    serde_json::from_str(key).ok()
}

pub fn i64_of(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

pub fn f64_of(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

pub fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
