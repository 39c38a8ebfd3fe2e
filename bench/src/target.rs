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
    pub topic: Arc<str>,
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
        Self::connect_topics(namesrv, &[topic.to_string()], queues).await
    }

    /// One target over the queues of every topic (creating those that have no route), in
    /// queue-major order so that consecutive sends go to different topics.
    pub async fn connect_topics(namesrv: &str, topics: &[String], queues: i32) -> anyhow::Result<Target> {
        let ns = open(namesrv).await?;
        let mut routes = Vec::with_capacity(topics.len());
        let mut missing = Vec::new();
        for topic in topics {
            match route(&ns, topic).await? {
                Some(found) => routes.push((topic.clone(), found)),
                None => missing.push(topic.clone()),
            }
        }
        if !missing.is_empty() {
            create_topics(&ns, &missing, queues).await?;
            for topic in missing {
                let mut found = None;
                for _ in 0..100 {
                    if let Some(r) = route(&ns, &topic).await? {
                        found = Some(r);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let found = found.with_context(|| format!("the created topic {topic} never appeared in the routes"))?;
                routes.push((topic, found));
            }
        }
        let mut per_topic = Vec::new();
        let mut connections = BTreeMap::new();
        for (topic, route) in &routes {
            let topic: Arc<str> = Arc::from(topic.as_str());
            let mut mqs = Vec::new();
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
                        topic: topic.clone(),
                        broker_addr: addr.clone(),
                        queue_id,
                    });
                }
                if !connections.contains_key(addr) {
                    let mut pool = Vec::new();
                    for _ in 0..CONNECTIONS_PER_BROKER {
                        pool.push(open(addr).await?);
                    }
                    connections.insert(addr.clone(), pool);
                }
            }
            if mqs.is_empty() {
                bail!("topic {topic} has no writable queue on a master broker");
            }
            per_topic.push(mqs);
        }
        let longest = per_topic.iter().map(Vec::len).max().unwrap_or(0);
        let mut mqs = Vec::new();
        for i in 0..longest {
            for topic_queues in &per_topic {
                if let Some(mq) = topic_queues.get(i) {
                    mqs.push(mq.clone());
                }
            }
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

/// Creates the topics on every master broker the name server knows, over one connection
/// per broker.
async fn create_topics(ns: &Connection, topics: &[String], queues: i32) -> anyhow::Result<()> {
    let answer = ns
        .request(RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO), TIMEOUT)
        .await?;
    let info: ClusterInfo = fastjson::from_slice(&answer.body).map_err(anyhow::Error::msg)?;
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
        for topic in topics {
            let header = CreateTopicRequestHeader::read_write(topic, queues);
            let req = RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header);
            let answer = conn.request(req, TIMEOUT).await?;
            if answer.code != response::SUCCESS {
                bail!("creating {topic} on {addr}: code {} {:?}", answer.code, answer.remark);
            }
        }
    }
    Ok(())
}
