//! PULL_MESSAGE (11), with long polling: a pull that finds nothing waits until its queue
//! gets a message or its suspend timeout passes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use remoting::code::{request, response};
use remoting::header::broker::{pull_sys_flag, PullMessageRequestHeader, PullMessageResponseHeader};
use remoting::protocol::route::perm;
use remoting::{Connection, HandlerResult, RemotingCommand};
use store::codec::{find_property, view_record};
use store::GetMessageStatus;
use tracing::warn;

use crate::consumer_filter::is_tag_type;
use crate::filter::{self, Expression};
use crate::subscription_group::SubscriptionGroupConfig;
use crate::{faq, BrokerState};

fn reply(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> HandlerResult {
    Ok(Some(RemotingCommand::response_to(req, code, Some(remark.into()))))
}

/// The tag hash codes a subscription expression accepts; `None` means every tag.
fn tag_codes(expression: &str) -> Option<HashSet<i64>> {
    // Most consumers subscribe to every tag: no need to split anything.
    if expression.trim() == "*" {
        return None;
    }
    let tags: Vec<&str> = expression
        .split("||")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if tags.is_empty() || tags.contains(&"*") {
        return None;
    }
    Some(tags.into_iter().map(store::tags_hash_code).collect())
}

/// How a pull picks its messages: by tag hash codes (`None`: every tag), or by a compiled
/// SQL92 expression over each record's properties.
enum Selector {
    Tags(Option<HashSet<i64>>),
    Sql(Arc<Expression>),
}

impl Selector {
    fn tag_filter(&self) -> Option<impl Fn(i64) -> bool + '_> {
        match self {
            Selector::Tags(Some(codes)) => Some(move |code: i64| codes.contains(&code)),
            _ => None,
        }
    }

    fn record_filter(&self) -> Option<impl Fn(&[u8]) -> bool + '_> {
        match self {
            Selector::Sql(expression) => Some(move |record: &[u8]| {
                // A record that cannot be read is not handed to this consumer.
                view_record(record).is_ok_and(|view| {
                    expression.matches(&|name| find_property(&view.properties, name).map(str::to_string))
                })
            }),
            _ => None,
        }
    }
}

/// The subscription a pull filters by: the one in its header (sysFlag SUBSCRIPTION) or the
/// one its group's heartbeat registered, checked as Java's PullMessageProcessor checks it.
fn select_messages(state: &BrokerState, h: &PullMessageRequestHeader) -> Result<Selector, (i32, String)> {
    let (expression_type, selector) = if h.sys_flag & pull_sys_flag::SUBSCRIPTION != 0 {
        let expression = h.subscription.as_deref().unwrap_or("*");
        if is_tag_type(h.expression_type.as_deref()) {
            (None, Selector::Tags(tag_codes(expression)))
        } else {
            // Java would build no filter for an expression that does not compile and then
            // let every message through; a consumer asking for a filter must not get
            // everything, so this pull is refused with the remark Java uses for a
            // subscription it cannot parse.
            let compiled = match filter::compile(expression) {
                Ok(compiled) => Arc::new(compiled),
                Err(e) => {
                    warn!(group = %h.consumer_group, topic = %h.topic, %expression, "the pull's expression does not compile: {e}");
                    return Err((
                        response::SUBSCRIPTION_PARSE_FAILED,
                        "parse the consumer's subscription failed".into(),
                    ));
                }
            };
            (h.expression_type.clone(), Selector::Sql(compiled))
        }
    } else {
        let sub = match state.clients.subscription(&h.consumer_group, &h.topic) {
            None => {
                return Err((
                    response::SUBSCRIPTION_NOT_EXIST,
                    format!("the consumer's group info not exist{}", faq()),
                ))
            }
            Some(None) => {
                return Err((
                    response::SUBSCRIPTION_NOT_EXIST,
                    format!("the consumer's subscription not exist{}", faq()),
                ))
            }
            Some(Some(sub)) => sub,
        };
        // Java answers SUBSCRIPTION_NOT_LATEST when the pull's subVersion is newer than the
        // heartbeat's; whether it does depends on which of the two its thread pools run
        // first (golden 04 has such a pull answered SUCCESS). We serve it with the
        // subscription we have: for tags the next heartbeat corrects it, and a newer SQL
        // filter is still insisted on below.
        if is_tag_type(sub.expression_type.as_deref()) {
            (None, Selector::Tags(tag_codes(&sub.sub_string)))
        } else {
            let Some(filter) = state.filters.get(&h.topic, &h.consumer_group) else {
                return Err((
                    response::FILTER_DATA_NOT_EXIST,
                    "The broker's consumer filter data is not exist!Your expression may be wrong!".into(),
                ));
            };
            if filter.client_version < h.sub_version {
                return Err((
                    response::FILTER_DATA_NOT_LATEST,
                    "the consumer's consumer filter data not latest".into(),
                ));
            }
            (sub.expression_type.clone(), Selector::Sql(filter.compiled))
        }
    };
    if let Some(kind) = expression_type {
        if !state.live().enable_property_filter {
            return Err((
                response::SYSTEM_ERROR,
                format!("The broker does not support consumer to filter message by {kind}"),
            ));
        }
    }
    Ok(selector)
}

/// 5.x `ForbiddenType.BROKER_FORBIDDEN`, set in a refused lite pull's header.
const FORBIDDEN_BY_BROKER: i32 = 1;

pub async fn pull_message(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: PullMessageRequestHeader = req.decode_header()?;
    // Java times a pull's latency from when its processing (or a woken re-run) began.
    let mut round_start = Instant::now();
    let config = state.live();
    if config.broker_permission & perm::READ == 0 {
        return reply(
            &req,
            response::NO_PERMISSION,
            format!("the broker[{}] pulling message is forbidden", config.broker_ip1),
        );
    }
    // LITE_PULL_MESSAGE (5.x) is a pull like any other unless the broker turned lite pulls off.
    if req.code == request::LITE_PULL_MESSAGE && !config.lite_pull_message_enable {
        let mut res = RemotingCommand::response_to(
            &req,
            response::NO_PERMISSION,
            Some(format!(
                "the broker[{}] for lite pull consumer is forbidden",
                config.broker_ip1
            )),
        );
        res.ext_mut().insert("forbiddenType", FORBIDDEN_BY_BROKER.to_string());
        return Ok(Some(res));
    }
    let Some(group) = state.groups.find(&h.consumer_group) else {
        return reply(
            &req,
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group [{}] does not exist, {}", h.consumer_group, faq()),
        );
    };
    if !group.consume_enable {
        return reply(
            &req,
            response::NO_PERMISSION,
            format!("subscription group no permission, {}", h.consumer_group),
        );
    }
    let Some((perm, read_queue_nums)) = state.topics.read(&h.topic, |t| (t.perm, t.read_queue_nums)) else {
        return reply(
            &req,
            response::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please! {}", h.topic, faq()),
        );
    };
    if perm & perm::READ == 0 {
        return reply(
            &req,
            response::NO_PERMISSION,
            format!("the topic[{}] pulling message is forbidden", h.topic),
        );
    }
    if h.queue_id < 0 || h.queue_id >= read_queue_nums {
        return reply(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                h.queue_id,
                h.topic,
                read_queue_nums,
                conn.peer_addr()
            ),
        );
    }

    let selector = match select_messages(&state, &h) {
        Ok(selector) => selector,
        Err((code, remark)) => return reply(&req, code, remark),
    };
    let tag_filter = selector.tag_filter();
    let record_filter = selector.record_filter();

    // Committing the offset a pull carries happens once, before any waiting.
    if h.sys_flag & pull_sys_flag::COMMIT_OFFSET != 0 {
        state
            .offsets
            .commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    }

    let mut may_suspend = h.sys_flag & pull_sys_flag::SUSPEND != 0;
    let hold = if config.long_polling_enable {
        Duration::from_millis(h.suspend_timeout_millis.max(0) as u64)
    } else {
        Duration::from_millis(config.short_polling_time_mills)
    };
    let deadline = Instant::now() + hold;
    let max_count = h.max_msg_nums.clamp(1, 1024) as usize;
    let max_bytes = h.max_msg_bytes.unwrap_or(0).max(0) as usize;
    let signal = state.hold.signal(&h.topic, h.queue_id);
    loop {
        // Register for wake-ups before looking, so a message landing in between is not missed.
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();

        let lookup_start = Instant::now();
        let got = state.store.get_messages_filtered(
            &h.topic,
            h.queue_id,
            h.queue_offset,
            max_count,
            max_bytes,
            tag_filter.as_ref().map(|f| f as &dyn Fn(i64) -> bool),
            record_filter.as_ref().map(|f| f as &dyn Fn(&[u8]) -> bool),
        );
        let found = if got.status == GetMessageStatus::Found {
            got.messages.len()
        } else {
            0
        };
        state.stats.on_store_get(found, lookup_start.elapsed());
        let code = match got.status {
            GetMessageStatus::Found => response::SUCCESS,
            GetMessageStatus::MessageWasRemoving | GetMessageStatus::NoMatchedMessage => {
                response::PULL_RETRY_IMMEDIATELY
            }
            GetMessageStatus::NoMatchedLogicQueue | GetMessageStatus::NoMessageInQueue => {
                if h.queue_offset != 0 {
                    response::PULL_OFFSET_MOVED
                } else {
                    response::PULL_NOT_FOUND
                }
            }
            GetMessageStatus::OffsetFoundNull | GetMessageStatus::OffsetOverflowOne => response::PULL_NOT_FOUND,
            GetMessageStatus::OffsetOverflowBadly | GetMessageStatus::OffsetTooSmall => response::PULL_OFFSET_MOVED,
        };
        let now = Instant::now();
        if code == response::PULL_NOT_FOUND && may_suspend && now < deadline {
            if tokio::time::timeout(deadline - now, notified).await.is_err() {
                // The hold expired: look once more without suspending, then answer.
                may_suspend = false;
            }
            round_start = Instant::now();
            continue;
        }
        let suggest = suggested_broker(state.live().slave_read_enable, &group, &got);
        let res = answer(&req, &got, code, suggest);
        if code == response::SUCCESS || code == response::PULL_NOT_FOUND || code == response::PULL_RETRY_IMMEDIATELY {
            state
                .offsets
                .record_pull(&h.consumer_group, &h.topic, h.queue_id, got.next_begin_offset);
        }
        if code == response::SUCCESS {
            state.stats.on_pull_found(
                &h.consumer_group,
                &h.topic,
                h.queue_id,
                got.messages.len(),
                got.buffer_total_size(),
                round_start.elapsed().as_millis() as i64,
            );
        }
        return Ok(Some(res));
    }
}

/// Which broker of the group the consumer should pull from next (Java's rule): only with
/// `slaveReadEnable`, the group's slow-consumer broker when the read is out of memory,
/// else the group's own broker id; the master (0) otherwise.
fn suggested_broker(slave_read_enable: bool, group: &SubscriptionGroupConfig, got: &store::GetResult) -> i64 {
    if !slave_read_enable {
        0
    } else if got.suggest_pulling_from_slave {
        group.which_broker_when_consume_slowly
    } else {
        group.broker_id
    }
}

fn answer(req: &RemotingCommand, got: &store::GetResult, code: i32, suggest: i64) -> RemotingCommand {
    // Java puts the store's status name (FOUND, OFFSET_OVERFLOW_ONE, ...) in the remark.
    let remark = Some(get_status_name(got.status).to_string());
    let mut res = RemotingCommand::response_to(req, code, remark).with_header(&PullMessageResponseHeader {
        suggest_which_broker_id: suggest,
        next_begin_offset: got.next_begin_offset,
        min_offset: got.min_offset,
        max_offset: got.max_offset,
    });
    if code == response::SUCCESS {
        res.body = got.concat();
    }
    res
}

fn get_status_name(status: GetMessageStatus) -> &'static str {
    match status {
        GetMessageStatus::Found => "FOUND",
        GetMessageStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
        GetMessageStatus::MessageWasRemoving => "MESSAGE_WAS_REMOVING",
        GetMessageStatus::OffsetFoundNull => "OFFSET_FOUND_NULL",
        GetMessageStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
        GetMessageStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
        GetMessageStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
        GetMessageStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
        GetMessageStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
    }
}
