//! Headers of the broker's requests and responses (Java package
//! `org.apache.rocketmq.common.protocol.header`).

use crate::command_header;

command_header! {
    /// SEND_MESSAGE (10) and SEND_BATCH_MESSAGE (320), full field names.
    pub struct SendMessageRequestHeader {
        req producer_group: String = "producerGroup",
        req topic: String = "topic",
        req default_topic: String = "defaultTopic",
        req default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        req queue_id: i32 = "queueId",
        req sys_flag: i32 = "sysFlag",
        req born_timestamp: i64 = "bornTimestamp",
        req flag: i32 = "flag",
        opt properties: String = "properties",
        opt reconsume_times: i32 = "reconsumeTimes",
        opt unit_mode: bool = "unitMode",
        opt batch: bool = "batch",
        opt max_reconsume_times: i32 = "maxReconsumeTimes",
    }
}

command_header! {
    /// SEND_MESSAGE_V2 (310): the same fields under one-letter keys, to save bytes.
    pub struct SendMessageRequestHeaderV2 {
        req a: String = "a",
        req b: String = "b",
        req c: String = "c",
        req d: i32 = "d",
        req e: i32 = "e",
        req f: i32 = "f",
        req g: i64 = "g",
        req h: i32 = "h",
        opt i: String = "i",
        opt j: i32 = "j",
        opt k: bool = "k",
        opt l: i32 = "l",
        opt m: bool = "m",
        opt n: String = "n",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v2.a,
            topic: v2.b,
            default_topic: v2.c,
            default_topic_queue_nums: v2.d,
            queue_id: v2.e,
            sys_flag: v2.f,
            born_timestamp: v2.g,
            flag: v2.h,
            properties: v2.i,
            reconsume_times: v2.j,
            unit_mode: v2.k,
            max_reconsume_times: v2.l,
            batch: v2.m,
        }
    }
}

impl From<&SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(h: &SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: h.producer_group.clone(),
            b: h.topic.clone(),
            c: h.default_topic.clone(),
            d: h.default_topic_queue_nums,
            e: h.queue_id,
            f: h.sys_flag,
            g: h.born_timestamp,
            h: h.flag,
            i: h.properties.clone(),
            j: h.reconsume_times,
            k: h.unit_mode,
            l: h.max_reconsume_times,
            m: h.batch,
            n: None,
        }
    }
}

command_header! {
    pub struct SendMessageResponseHeader {
        req msg_id: String = "msgId",
        req queue_id: i32 = "queueId",
        req queue_offset: i64 = "queueOffset",
        opt transaction_id: String = "transactionId",
        opt recall_handle: String = "recallHandle",
    }
}

command_header! {
    /// PUSH_REPLY_MESSAGE_TO_CLIENT (326): a reply the broker hands to the requester, with
    /// the long field names (unlike the one-letter SEND_REPLY_MESSAGE_V2 it came in).
    pub struct ReplyMessageRequestHeader {
        req producer_group: String = "producerGroup",
        req topic: String = "topic",
        req default_topic: String = "defaultTopic",
        req default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        req queue_id: i32 = "queueId",
        req sys_flag: i32 = "sysFlag",
        req born_timestamp: i64 = "bornTimestamp",
        req flag: i32 = "flag",
        opt properties: String = "properties",
        opt reconsume_times: i32 = "reconsumeTimes",
        opt unit_mode: bool = "unitMode",
        req born_host: String = "bornHost",
        req store_host: String = "storeHost",
        req store_timestamp: i64 = "storeTimestamp",
    }
}

command_header! {
    /// END_TRANSACTION (37, oneway): the producer's decision on a half message.
    pub struct EndTransactionRequestHeader {
        req producer_group: String = "producerGroup",
        req tran_state_table_offset: i64 = "tranStateTableOffset",
        req commit_log_offset: i64 = "commitLogOffset",
        req commit_or_rollback: i32 = "commitOrRollback",
        opt from_transaction_check: bool = "fromTransactionCheck",
        req msg_id: String = "msgId",
        opt transaction_id: String = "transactionId",
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE (39, oneway push): the broker asks a producer to decide.
    pub struct CheckTransactionStateRequestHeader {
        req tran_state_table_offset: i64 = "tranStateTableOffset",
        req commit_log_offset: i64 = "commitLogOffset",
        opt msg_id: String = "msgId",
        opt transaction_id: String = "transactionId",
        opt offset_msg_id: String = "offsetMsgId",
    }
}

command_header! {
    pub struct PullMessageRequestHeader {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req queue_offset: i64 = "queueOffset",
        req max_msg_nums: i32 = "maxMsgNums",
        req sys_flag: i32 = "sysFlag",
        req commit_offset: i64 = "commitOffset",
        req suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        opt subscription: String = "subscription",
        req sub_version: i64 = "subVersion",
        opt expression_type: String = "expressionType",
        opt max_msg_bytes: i32 = "maxMsgBytes",
    }
}

/// `PullSysFlag` bits of a pull request's `sysFlag`.
pub mod pull_sys_flag {
    /// The request carries `commitOffset` for the broker to store.
    pub const COMMIT_OFFSET: i32 = 0x1;
    /// The broker may hold the request (long poll) when nothing is new.
    pub const SUSPEND: i32 = 0x2;
    /// The request carries its own subscription expression.
    pub const SUBSCRIPTION: i32 = 0x4;
}

impl PullMessageRequestHeader {
    /// A plain pull of up to `max` messages from `offset`: the subscription `expression` (a tag
    /// expression) carried in the request, no offset to commit, not held. Callers change single
    /// fields with `..PullMessageRequestHeader::tags(..)`.
    pub fn tags(
        group: impl Into<String>,
        topic: impl Into<String>,
        queue_id: i32,
        offset: i64,
        max: i32,
        expression: impl Into<String>,
    ) -> Self {
        PullMessageRequestHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id,
            queue_offset: offset,
            max_msg_nums: max,
            sys_flag: pull_sys_flag::SUBSCRIPTION,
            commit_offset: 0,
            suspend_timeout_millis: 0,
            subscription: Some(expression.into()),
            sub_version: 0,
            expression_type: Some("TAG".into()),
            max_msg_bytes: None,
        }
    }
}

command_header! {
    pub struct PullMessageResponseHeader {
        req suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        req next_begin_offset: i64 = "nextBeginOffset",
        req min_offset: i64 = "minOffset",
        req max_offset: i64 = "maxOffset",
    }
}

command_header! {
    pub struct UnregisterClientRequestHeader {
        req client_id: String = "clientID",
        opt producer_group: String = "producerGroup",
        opt consumer_group: String = "consumerGroup",
    }
}

command_header! {
    pub struct GetConsumerListByGroupRequestHeader {
        req consumer_group: String = "consumerGroup",
    }
}

command_header! {
    pub struct NotifyConsumerIdsChangedRequestHeader {
        req consumer_group: String = "consumerGroup",
    }
}

command_header! {
    pub struct QueryConsumerOffsetRequestHeader {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
    }
}

command_header! {
    pub struct QueryConsumerOffsetResponseHeader {
        req offset: i64 = "offset",
    }
}

command_header! {
    pub struct UpdateConsumerOffsetRequestHeader {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req commit_offset: i64 = "commitOffset",
    }
}

command_header! {
    /// GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32).
    pub struct QueueRequestHeader {
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
    }
}

command_header! {
    pub struct OffsetResponseHeader {
        req offset: i64 = "offset",
    }
}

command_header! {
    pub struct SearchOffsetRequestHeader {
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req timestamp: i64 = "timestamp",
    }
}

command_header! {
    pub struct GetEarliestMsgStoretimeResponseHeader {
        req timestamp: i64 = "timestamp",
    }
}

command_header! {
    pub struct ViewMessageRequestHeader {
        req offset: i64 = "offset",
    }
}

command_header! {
    pub struct QueryMessageRequestHeader {
        req topic: String = "topic",
        req key: String = "key",
        req max_num: i32 = "maxNum",
        req begin_timestamp: i64 = "beginTimestamp",
        req end_timestamp: i64 = "endTimestamp",
    }
}

command_header! {
    pub struct QueryMessageResponseHeader {
        req index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        req index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}

command_header! {
    pub struct CreateTopicRequestHeader {
        req topic: String = "topic",
        req default_topic: String = "defaultTopic",
        req read_queue_nums: i32 = "readQueueNums",
        req write_queue_nums: i32 = "writeQueueNums",
        req perm: i32 = "perm",
        req topic_filter_type: String = "topicFilterType",
        opt topic_sys_flag: i32 = "topicSysFlag",
        req order: bool = "order",
    }
}

impl CreateTopicRequestHeader {
    /// A plain read-write topic with `queues` read and write queues, the rest as Java's
    /// `TopicConfig` defaults (what the admin tool's `updateTopic` sends by default).
    pub fn read_write(topic: impl Into<String>, queues: i32) -> Self {
        let defaults = crate::protocol::topic::TopicConfig::default();
        CreateTopicRequestHeader {
            topic: topic.into(),
            default_topic: crate::protocol::topic::AUTO_CREATE_TOPIC_KEY.into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: defaults.perm,
            topic_filter_type: defaults.topic_filter_type,
            topic_sys_flag: Some(defaults.topic_sys_flag),
            order: defaults.order,
        }
    }
}

command_header! {
    pub struct DeleteTopicRequestHeader {
        req topic: String = "topic",
    }
}

command_header! {
    pub struct DeleteSubscriptionGroupRequestHeader {
        req group_name: String = "groupName",
        opt clean_offset: bool = "cleanOffset",
        opt remove_offset: bool = "removeOffset",
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK (36): a consumer hands back a message it failed to consume.
    pub struct ConsumerSendMsgBackRequestHeader {
        req offset: i64 = "offset",
        req group: String = "group",
        req delay_level: i32 = "delayLevel",
        opt origin_msg_id: String = "originMsgId",
        opt origin_topic: String = "originTopic",
        opt unit_mode: bool = "unitMode",
        opt max_reconsume_times: i32 = "maxReconsumeTimes",
    }
}

command_header! {
    /// VIEW_BROKER_STATS_DATA (315): one statistic's item, by set name and key.
    pub struct ViewBrokerStatsDataRequestHeader {
        req stats_name: String = "statsName",
        req stats_key: String = "statsKey",
    }
}

command_header! {
    /// GET_BROKER_CONSUME_STATS (317): consume stats of every group; `isOrder` keeps only
    /// order topics.
    pub struct GetConsumeStatsInBrokerHeader {
        req is_order: bool = "isOrder",
    }
}

command_header! {
    /// GET_TOPIC_CONFIG (5.x): `lo` asks for the static-topic mapping too.
    pub struct GetTopicConfigRequestHeader {
        req topic: String = "topic",
        opt lo: bool = "lo",
    }
}

command_header! {
    /// RECALL_MESSAGE (370, RocketMQ 5.3): the topic and the handle a timer message's send
    /// response carried.
    pub struct RecallMessageRequestHeader {
        opt producer_group: String = "producerGroup",
        req topic: String = "topic",
        req recall_handle: String = "recallHandle",
    }
}

command_header! {
    /// RECALL_MESSAGE's answer: the recalled message's unique key.
    pub struct RecallMessageResponseHeader {
        req msg_id: String = "msgId",
    }
}
