//! Headers of the RocketMQ 5.x POP family (POP_MESSAGE, PEEK_MESSAGE, ACK_MESSAGE,
//! CHANGE_MESSAGE_INVISIBLETIME, NOTIFICATION, POLLING_INFO), keyed as the Java headers name
//! their fields.

use crate::command_header;

command_header! {
    /// POP_MESSAGE (200050). `queueId` -1 asks for every queue of the topic.
    pub struct PopMessageRequestHeader {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req max_msg_nums: i32 = "maxMsgNums",
        req invisible_time: i64 = "invisibleTime",
        req poll_time: i64 = "pollTime",
        req born_time: i64 = "bornTime",
        req init_mode: i32 = "initMode",
        opt exp_type: String = "expType",
        opt exp: String = "exp",
        opt order: bool = "order",
        opt attempt_id: String = "attemptId",
    }
}

command_header! {
    /// The answer to POP_MESSAGE and PEEK_MESSAGE.
    pub struct PopMessageResponseHeader {
        req pop_time: i64 = "popTime",
        req invisible_time: i64 = "invisibleTime",
        req revive_qid: i32 = "reviveQid",
        req rest_num: i64 = "restNum",
        opt start_offset_info: String = "startOffsetInfo",
        opt msg_offset_info: String = "msgOffsetInfo",
        opt order_count_info: String = "orderCountInfo",
    }
}

command_header! {
    /// PEEK_MESSAGE (200052).
    pub struct PeekMessageRequestHeader {
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req max_msg_nums: i32 = "maxMsgNums",
        req consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// ACK_MESSAGE (200051): `extraInfo` is the receipt handle (`POP_CK`) of the message.
    pub struct AckMessageRequestHeader {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req extra_info: String = "extraInfo",
        req offset: i64 = "offset",
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME (200053).
    pub struct ChangeInvisibleTimeRequestHeader {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req extra_info: String = "extraInfo",
        req offset: i64 = "offset",
        req invisible_time: i64 = "invisibleTime",
    }
}

command_header! {
    pub struct ChangeInvisibleTimeResponseHeader {
        req pop_time: i64 = "popTime",
        req invisible_time: i64 = "invisibleTime",
        req revive_qid: i32 = "reviveQid",
    }
}

command_header! {
    /// NOTIFICATION (200054): is there anything to pop?
    pub struct NotificationRequestHeader {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req poll_time: i64 = "pollTime",
        req born_time: i64 = "bornTime",
        opt order: bool = "order",
        opt attempt_id: String = "attemptId",
    }
}

command_header! {
    pub struct NotificationResponseHeader {
        req has_msg: bool = "hasMsg",
        req polling_full: bool = "pollingFull",
    }
}

command_header! {
    /// POLLING_INFO (200055): how many pops wait on a queue.
    pub struct PollingInfoRequestHeader {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
    }
}

command_header! {
    pub struct PollingInfoResponseHeader {
        req polling_num: i32 = "pollingNum",
    }
}
