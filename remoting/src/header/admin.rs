//! Headers of the broker's admin requests (mqadmin, dashboards, the admin API).

use crate::command_header;

command_header! {
    /// GET_TOPIC_STATS_INFO (202) and QUERY_TOPIC_CONSUME_BY_WHO (300).
    pub struct TopicRequestHeader {
        req topic: String = "topic",
    }
}

command_header! {
    /// GET_CONSUMER_CONNECTION_LIST (203).
    pub struct GetConsumerConnectionListRequestHeader {
        req consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// GET_PRODUCER_CONNECTION_LIST (204).
    pub struct GetProducerConnectionListRequestHeader {
        req producer_group: String = "producerGroup",
    }
}

command_header! {
    /// GET_CONSUME_STATS (208); no topic means every topic the group has offsets for.
    pub struct GetConsumeStatsRequestHeader {
        req consumer_group: String = "consumerGroup",
        opt topic: String = "topic",
    }
}

command_header! {
    /// QUERY_CONSUME_TIME_SPAN (303).
    pub struct QueryConsumeTimeSpanRequestHeader {
        req topic: String = "topic",
        req group: String = "group",
    }
}

command_header! {
    /// QUERY_CORRECTION_OFFSET (308).
    pub struct QueryCorrectionOffsetHeader {
        opt filter_groups: String = "filterGroups",
        req compare_group: String = "compareGroup",
        req topic: String = "topic",
    }
}

command_header! {
    /// CLONE_GROUP_OFFSET (314).
    pub struct CloneGroupOffsetRequestHeader {
        req src_group: String = "srcGroup",
        req dest_group: String = "destGroup",
        opt topic: String = "topic",
        opt offline: bool = "offline",
    }
}

command_header! {
    /// QUERY_CONSUME_QUEUE (321); Java declares no field required (numbers default to 0).
    pub struct QueryConsumeQueueRequestHeader {
        opt topic: String = "topic",
        opt queue_id: i32 = "queueId",
        opt index: i64 = "index",
        opt count: i32 = "count",
        opt consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// GET_BROKER_CONFIG (26) response: the config's data version as JSON text.
    pub struct GetBrokerConfigResponseHeader {
        req version: String = "version",
    }
}

command_header! {
    /// INVOKE_BROKER_TO_RESET_OFFSET (222) and the RESET_CONSUMER_CLIENT_OFFSET (220) push.
    /// `timestamp` -1 means "to the end of each queue".
    pub struct ResetOffsetRequestHeader {
        req topic: String = "topic",
        req group: String = "group",
        req timestamp: i64 = "timestamp",
        req is_force: bool = "isForce",
    }
}

command_header! {
    /// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) and the GET_CONSUMER_STATUS_FROM_CLIENT
    /// (221) push; `clientAddr` (a client id, despite the name) narrows it to one client.
    pub struct GetConsumerStatusRequestHeader {
        req topic: String = "topic",
        req group: String = "group",
        opt client_addr: String = "clientAddr",
    }
}

command_header! {
    /// GET_CONSUMER_RUNNING_INFO (307), relayed to the named client.
    pub struct GetConsumerRunningInfoRequestHeader {
        req consumer_group: String = "consumerGroup",
        req client_id: String = "clientId",
        opt jstack_enable: bool = "jstackEnable",
    }
}

command_header! {
    /// CONSUME_MESSAGE_DIRECTLY (309), relayed to the named client with the message.
    pub struct ConsumeMessageDirectlyResultRequestHeader {
        req consumer_group: String = "consumerGroup",
        opt client_id: String = "clientId",
        opt msg_id: String = "msgId",
        opt broker_name: String = "brokerName",
    }
}

command_header! {
    /// UPDATE_AND_CREATE_ACL_CONFIG (50); the perms lists are comma-separated `Res=Perm`.
    pub struct CreateAccessConfigRequestHeader {
        req access_key: String = "accessKey",
        opt secret_key: String = "secretKey",
        opt white_remote_address: String = "whiteRemoteAddress",
        opt admin: bool = "admin",
        opt default_topic_perm: String = "defaultTopicPerm",
        opt default_group_perm: String = "defaultGroupPerm",
        opt topic_perms: String = "topicPerms",
        opt group_perms: String = "groupPerms",
    }
}

command_header! {
    /// DELETE_ACL_CONFIG (51).
    pub struct DeleteAccessConfigRequestHeader {
        req access_key: String = "accessKey",
    }
}

command_header! {
    /// UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (53).
    pub struct UpdateGlobalWhiteAddrsConfigRequestHeader {
        req global_white_addrs: String = "globalWhiteAddrs",
        opt acl_file_full_path: String = "aclFileFullPath",
    }
}

command_header! {
    /// RESUME_CHECK_HALF_MESSAGE (323): the offset msgId of the message to check again.
    pub struct ResumeCheckHalfMessageRequestHeader {
        opt msg_id: String = "msgId",
    }
}
