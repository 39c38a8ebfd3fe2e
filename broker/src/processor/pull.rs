//! PULL_MESSAGE (11), with long polling: a pull that finds nothing waits until its queue
//! gets a message or its suspend timeout passes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use remoting::code::response;
use remoting::header::broker::{PullMessageRequestHeader, PullMessageResponseHeader};
use remoting::protocol::route::perm;
use remoting::{Connection, HandlerResult, RemotingCommand};
use store::GetMessageStatus;

use crate::{faq, BrokerState};

/// `PullSysFlag` bits.
const FLAG_COMMIT_OFFSET: i32 = 0x1;
const FLAG_SUSPEND: i32 = 0x2;
const FLAG_SUBSCRIPTION: i32 = 0x4;

fn reply(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> HandlerResult {
    Ok(Some(RemotingCommand::response_to(req, code, Some(remark.into()))))
}

/// The tag hash codes a subscription expression accepts; `None` means every tag.
fn tag_codes(expression: &str) -> Option<HashSet<i64>> {
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

pub async fn pull_message(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: PullMessageRequestHeader = req.decode_header()?;
    let config = &state.config;
    if config.broker_permission & perm::READ == 0 {
        return reply(
            &req,
            response::NO_PERMISSION,
            format!("the broker[{}] pulling message is forbidden", config.broker_ip1),
        );
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
    let Some(topic_config) = state.topics.select(&h.topic) else {
        return reply(
            &req,
            response::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please! {}", h.topic, faq()),
        );
    };
    if topic_config.perm & perm::READ == 0 {
        return reply(
            &req,
            response::NO_PERMISSION,
            format!("the topic[{}] pulling message is forbidden", h.topic),
        );
    }
    if h.queue_id < 0 || h.queue_id >= topic_config.read_queue_nums {
        return reply(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                h.queue_id,
                h.topic,
                topic_config.read_queue_nums,
                conn.peer_addr()
            ),
        );
    }

    let expression = if h.sys_flag & FLAG_SUBSCRIPTION != 0 {
        if h.expression_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("TAG"))
        {
            return reply(
                &req,
                response::SUBSCRIPTION_PARSE_FAILED,
                "The broker does not support consumer to filter message by SQL92",
            );
        }
        h.subscription.clone().unwrap_or_else(|| "*".into())
    } else {
        match state.clients.subscription(&h.consumer_group, &h.topic) {
            None => {
                return reply(
                    &req,
                    response::SUBSCRIPTION_NOT_EXIST,
                    format!("the consumer's group info not exist{}", faq()),
                )
            }
            Some(None) => {
                return reply(
                    &req,
                    response::SUBSCRIPTION_NOT_EXIST,
                    format!("the consumer's subscription not exist{}", faq()),
                )
            }
            Some(Some(sub)) => sub.sub_string,
        }
    };
    let codes = tag_codes(&expression);
    let filter = codes.as_ref().map(|set| move |code: i64| set.contains(&code));

    // Committing the offset a pull carries happens once, before any waiting.
    if h.sys_flag & FLAG_COMMIT_OFFSET != 0 {
        state
            .offsets
            .commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    }

    let mut may_suspend = h.sys_flag & FLAG_SUSPEND != 0;
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

        let got = state.store.get_messages(
            &h.topic,
            h.queue_id,
            h.queue_offset,
            max_count,
            max_bytes,
            filter.as_ref().map(|f| f as &dyn Fn(i64) -> bool),
        );
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
            continue;
        }
        return Ok(Some(answer(&req, &got, code)));
    }
}

fn answer(req: &RemotingCommand, got: &store::GetResult, code: i32) -> RemotingCommand {
    // Java puts the store's status name (FOUND, OFFSET_OVERFLOW_ONE, ...) in the remark.
    let remark = Some(get_status_name(got.status).to_string());
    let mut res = RemotingCommand::response_to(req, code, remark).with_header(&PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: got.next_begin_offset,
        min_offset: got.min_offset,
        max_offset: got.max_offset,
    });
    if code == response::SUCCESS {
        res.body = got.concat().into();
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
