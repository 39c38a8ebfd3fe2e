//! The broker side of a benchmark: the topic's route from the name server (creating the
//! topic on every broker of the cluster if it has none), and a few connections per broker.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use remoting::code::{request, response};
use remoting::connection::IgnoreRequests;
use remoting::header::broker::CreateTopicRequestHeader;
use remoting::protocol::route::{ClusterInfo, TopicRouteData};
use remoting::{fastjson, Connection, RemotingCommand};

/// Connections per broker: requests are multiplexed, a few sockets spread the work.
const CONNECTIONS_PER_BROKER: usize = 4;
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct MessageQueue {
    pub broker_addr: String,
    pub queue_id: i32,
}

pub struct Target {
    queues: Vec<MessageQueue>,
    connections: BTreeMap<String, Vec<Connection>>,
    next: AtomicUsize,
}

pub(crate) async fn open(addr: &str) -> anyhow::Result<Connection> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    Ok(Connection::spawn(
        stream,
        Arc::new(IgnoreRequests),
        remoting::frame::DEFAULT_MAX_FRAME_LENGTH,
        tokio_util::sync::CancellationToken::new(),
    )?)
}

async fn route(ns: &Connection, topic: &str) -> anyhow::Result<Option<TopicRouteData>> {
    let mut ask = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
    ask.ext_mut().insert("topic", topic);
    let answer = ns.request(ask, TIMEOUT).await?;
    if answer.code == response::TOPIC_NOT_EXIST {
        return Ok(None);
    }
    if answer.code != response::SUCCESS {
        bail!("route for {topic}: code {} {:?}", answer.code, answer.remark);
    }
    Ok(Some(fastjson::from_slice(&answer.body).map_err(anyhow::Error::msg)?))
}

impl Target {
    pub async fn connect(namesrv: &str, topic: &str, queues: i32) -> anyhow::Result<Target> {
        let ns = open(namesrv).await?;
        let route = match route(&ns, topic).await? {
            Some(route) => route,
            None => {
                create_topic(&ns, topic, queues).await?;
                let mut found = None;
                for _ in 0..100 {
                    if let Some(route) = route(&ns, topic).await? {
                        found = Some(route);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                found.context("the created topic never appeared in the routes")?
            }
        };
        let mut mqs = Vec::new();
        let mut connections = BTreeMap::new();
        for qd in &route.queue_datas {
            let Some(addr) = route
                .broker_datas
                .iter()
                .find(|b| b.broker_name == qd.broker_name)
                .and_then(|b| b.broker_addrs.get(&0))
            else {
                continue;
            };
            for queue_id in 0..qd.write_queue_nums {
                mqs.push(MessageQueue {
                    broker_addr: addr.clone(),
                    queue_id,
                });
            }
            let mut pool = Vec::new();
            for _ in 0..CONNECTIONS_PER_BROKER {
                pool.push(open(addr).await?);
            }
            connections.insert(addr.clone(), pool);
        }
        if mqs.is_empty() {
            bail!("topic {topic} has no writable queue on a master broker");
        }
        Ok(Target {
            queues: mqs,
            connections,
            next: AtomicUsize::new(0),
        })
    }

    pub fn queues(&self) -> &[MessageQueue] {
        &self.queues
    }

    pub fn queue(&self, i: usize) -> &MessageQueue {
        &self.queues[i % self.queues.len()]
    }

    pub async fn invoke(&self, addr: &str, req: RemotingCommand) -> anyhow::Result<RemotingCommand> {
        let pool = self.connections.get(addr).context("unknown broker")?;
        let conn = &pool[self.next.fetch_add(1, Ordering::Relaxed) % pool.len()];
        Ok(conn.request(req, TIMEOUT).await?)
    }

    pub async fn max_offset(&self, mq: &MessageQueue, topic: &str) -> anyhow::Result<i64> {
        let mut ask = RemotingCommand::request(request::GET_MAX_OFFSET);
        ask.ext_mut().insert("topic", topic);
        ask.ext_mut().insert("queueId", mq.queue_id.to_string());
        let answer = self.invoke(&mq.broker_addr, ask).await?;
        Ok(answer.ext().get("offset").and_then(|o| o.parse().ok()).unwrap_or(0))
    }
}

/// Creates the topic on every master broker the name server knows.
async fn create_topic(ns: &Connection, topic: &str, queues: i32) -> anyhow::Result<()> {
    let answer = ns
        .request(RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO), TIMEOUT)
        .await?;
    let info: ClusterInfo = fastjson::from_slice(&answer.body).map_err(anyhow::Error::msg)?;
    let header = CreateTopicRequestHeader::read_write(topic, queues);
    let masters: Vec<String> = info
        .broker_addr_table
        .values()
        .filter_map(|b| b.broker_addrs.get(&0).cloned())
        .collect();
    if masters.is_empty() {
        bail!("no broker is registered with the name server");
    }
    for addr in masters {
        let conn = open(&addr).await?;
        let req = RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header);
        let answer = conn.request(req, TIMEOUT).await?;
        if answer.code != response::SUCCESS {
            bail!("creating {topic} on {addr}: code {} {:?}", answer.code, answer.remark);
        }
    }
    Ok(())
}
