//! QUERY_ASSIGNMENT (400) and SET_MESSAGE_REQUEST_MODE (401): the broker assigns a 5.x
//! client its queues, and says for each whether to PULL or POP it.

use std::sync::Arc;

use std::time::Duration;

use remoting::code::response;
use remoting::protocol::route::{perm, TopicRouteData};
use remoting::{Connection, HandlerResult, RemotingCommand};
use serde::{Deserialize, Serialize};

use crate::pop::request_mode::RequestMode;
use crate::pop::RETRY_GROUP_TOPIC_PREFIX;
use crate::BrokerState;

#[derive(Deserialize)]
struct QueryAssignmentRequestBody {
    #[serde(default)]
    topic: String,
    #[serde(rename = "consumerGroup", default)]
    consumer_group: String,
    #[serde(rename = "clientId", default)]
    client_id: String,
    #[serde(rename = "strategyName", default)]
    strategy_name: String,
    #[serde(rename = "messageModel", default)]
    message_model: Option<String>,
}

#[derive(Serialize, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct MessageQueue {
    topic: String,
    #[serde(rename = "brokerName")]
    broker_name: String,
    #[serde(rename = "queueId")]
    queue_id: i32,
}

#[derive(Serialize)]
struct Assignment {
    #[serde(rename = "messageQueue")]
    message_queue: MessageQueue,
    mode: String,
}

#[derive(Serialize)]
struct QueryAssignmentResponseBody {
    #[serde(rename = "messageQueueAssignments", skip_serializing_if = "Option::is_none")]
    message_queue_assignments: Option<Vec<Assignment>>,
}

/// AllocateMessageQueueAveragely ("AVG").
fn allocate_avg(client: &str, mq_all: &[MessageQueue], cid_all: &[String]) -> Vec<MessageQueue> {
    let Some(index) = cid_all.iter().position(|c| c == client) else {
        return Vec::new();
    };
    let (m, c) = (mq_all.len(), cid_all.len());
    if m == 0 {
        return Vec::new();
    }
    let rem = m % c;
    let average = if m <= c {
        1
    } else if rem > 0 && index < rem {
        m / c + 1
    } else {
        m / c
    };
    let start = if rem > 0 && index < rem {
        index * average
    } else {
        index * average + rem
    };
    let range = average.min(m.saturating_sub(start));
    (0..range).map(|i| mq_all[(start + i) % m].clone()).collect()
}

/// AllocateMessageQueueAveragelyByCircle ("AVG_BY_CIRCLE").
fn allocate_circle(client: &str, mq_all: &[MessageQueue], cid_all: &[String]) -> Vec<MessageQueue> {
    let Some(index) = cid_all.iter().position(|c| c == client) else {
        return Vec::new();
    };
    mq_all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % cid_all.len() == index)
        .map(|(_, q)| q.clone())
        .collect()
}

fn allocate(strategy: &str, client: &str, mq_all: &[MessageQueue], cid_all: &[String]) -> Option<Vec<MessageQueue>> {
    match strategy {
        "AVG" => Some(allocate_avg(client, mq_all, cid_all)),
        "AVG_BY_CIRCLE" => Some(allocate_circle(client, mq_all, cid_all)),
        _ => None,
    }
}

/// POP mode: with no share count every client pops every queue (queue id -1 per broker);
/// otherwise a client also takes the queues of the next `share` clients.
fn allocate_for_pop(
    strategy: &str,
    client: &str,
    mq_all: &[MessageQueue],
    cid_all: &[String],
    share: i32,
) -> Option<Vec<MessageQueue>> {
    if share <= 0 || share as usize >= cid_all.len().saturating_sub(1) {
        let mut out: Vec<MessageQueue> = mq_all
            .iter()
            .map(|q| MessageQueue {
                queue_id: -1,
                ..q.clone()
            })
            .collect();
        out.dedup();
        return Some(out);
    }
    if cid_all.len() <= mq_all.len() {
        let mut out = allocate(strategy, client, mq_all, cid_all)?;
        if let Some(mut index) = cid_all.iter().position(|c| c == client) {
            for _ in 0..share {
                index = (index + 1) % cid_all.len();
                out.extend(allocate(strategy, &cid_all[index], mq_all, cid_all)?);
            }
        }
        return Some(out);
    }
    Some(match cid_all.iter().position(|c| c == client) {
        Some(index) => vec![mq_all[index % mq_all.len()].clone()],
        None => Vec::new(),
    })
}

/// Every readable queue of the topic on every broker, from the name servers' route (Java's
/// TopicRouteInfoManager); without a name server that answers, this broker's own queues.
async fn subscribe_queues(state: &BrokerState, topic: &str) -> Option<Vec<MessageQueue>> {
    for addr in state.config.name_servers() {
        let mut ask = RemotingCommand::request(remoting::code::request::GET_ROUTEINFO_BY_TOPIC);
        ask.ext_mut().insert("topic", topic);
        match state.outbound.invoke(&addr, ask, Duration::from_secs(3)).await {
            Ok(answer) if answer.code == response::SUCCESS => {
                let Ok(route) = remoting::fastjson::from_slice::<TopicRouteData>(&answer.body) else {
                    continue;
                };
                let mut queues = Vec::new();
                for qd in route.queue_datas.iter().filter(|q| q.perm & perm::READ != 0) {
                    for queue_id in 0..qd.read_queue_nums {
                        queues.push(MessageQueue {
                            topic: topic.to_string(),
                            broker_name: qd.broker_name.clone(),
                            queue_id,
                        });
                    }
                }
                return Some(queues);
            }
            Ok(answer) if answer.code == response::TOPIC_NOT_EXIST => return None,
            Ok(_) | Err(_) => continue,
        }
    }
    state.topics.select(topic).map(|t| {
        (0..t.read_queue_nums)
            .map(|queue_id| MessageQueue {
                topic: topic.to_string(),
                broker_name: state.config.broker_name.clone(),
                queue_id,
            })
            .collect()
    })
}

pub async fn query_assignment(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let body: QueryAssignmentRequestBody = match remoting::fastjson::from_slice(&req.body) {
        Ok(b) => b,
        Err(e) => {
            return Ok(Some(RemotingCommand::response_to(
                &req,
                response::SYSTEM_ERROR,
                Some(format!("unreadable QueryAssignmentRequestBody: {e}")),
            )))
        }
    };
    let config = &state.pop.config;
    let mode = state
        .pop
        .request_modes
        .get(&body.topic, &body.consumer_group)
        .unwrap_or_else(|| {
            let mode = if body.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                "PULL".to_string()
            } else {
                config.default_message_request_mode.clone()
            };
            RequestMode {
                pop_share_queue_num: if mode == "POP" {
                    config.default_pop_share_queue_num
                } else {
                    0
                },
                consumer_group: body.consumer_group.clone(),
                topic: body.topic.clone(),
                mode,
            }
        });
    let mq_set = subscribe_queues(&state, &body.topic).await;
    let assigned: Option<Vec<MessageQueue>> = match body.message_model.as_deref() {
        Some("BROADCASTING") => mq_set,
        _ => match mq_set {
            None => None,
            Some(mq_set) if !config.server_load_balancer_enable => Some(mq_set),
            Some(mut mq_all) => {
                let mut cid_all = state.clients.consumer_ids(&body.consumer_group);
                if cid_all.is_empty() {
                    None
                } else {
                    mq_all.sort();
                    cid_all.sort();
                    if mode.mode == "POP" {
                        allocate_for_pop(
                            &body.strategy_name,
                            &body.client_id,
                            &mq_all,
                            &cid_all,
                            mode.pop_share_queue_num,
                        )
                    } else {
                        allocate(&body.strategy_name, &body.client_id, &mq_all, &cid_all)
                    }
                }
            }
        },
    };
    let answer = QueryAssignmentResponseBody {
        message_queue_assignments: assigned.map(|queues| {
            queues
                .into_iter()
                .map(|message_queue| Assignment {
                    message_queue,
                    mode: mode.mode.clone(),
                })
                .collect()
        }),
    };
    let body = serde_json::to_vec(&answer).unwrap_or_default();
    Ok(Some(RemotingCommand::success(&req).with_body(body)))
}

pub async fn set_message_request_mode(
    state: Arc<BrokerState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    let body: RequestMode = match remoting::fastjson::from_slice(&req.body) {
        Ok(b) => b,
        Err(e) => {
            return Ok(Some(RemotingCommand::response_to(
                &req,
                response::SYSTEM_ERROR,
                Some(format!("unreadable SetMessageRequestModeRequestBody: {e}")),
            )))
        }
    };
    if body.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::NO_PERMISSION,
            Some("retry topic is not allowed to set mode".into()),
        )));
    }
    if state.topics.select(&body.topic).is_none() {
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::TOPIC_NOT_EXIST,
            Some(format!("topic[{}] not exist", body.topic)),
        )));
    }
    if state.groups.find(&body.consumer_group).is_none() {
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            Some("subscription group does not exist".into()),
        )));
    }
    if let Err(e) = state.pop.request_modes.set(body) {
        tracing::warn!(error = %e, "persisting messageRequestMode.json failed");
    }
    Ok(Some(RemotingCommand::success(&req)))
}

/// GET_ALL_MESSAGE_REQUEST_MODE (402): every stored mode (what a slave copies from its master).
pub async fn all_message_request_modes(
    state: Arc<BrokerState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    Ok(Some(
        RemotingCommand::success(&req).with_body(state.pop.request_modes.encode()),
    ))
}
