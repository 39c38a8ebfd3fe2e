//! Headers of the name server's requests and responses (Java package
//! `org.apache.rocketmq.common.protocol.header.namesrv`).

use crate::command_header;

command_header! {
    pub struct PutKvConfigRequestHeader {
        req namespace: String = "namespace",
        req key: String = "key",
        req value: String = "value",
    }
}

command_header! {
    pub struct GetKvConfigRequestHeader {
        req namespace: String = "namespace",
        req key: String = "key",
    }
}

command_header! {
    pub struct GetKvConfigResponseHeader {
        opt value: String = "value",
    }
}

command_header! {
    pub struct DeleteKvConfigRequestHeader {
        req namespace: String = "namespace",
        req key: String = "key",
    }
}

command_header! {
    pub struct GetKvListByNamespaceRequestHeader {
        req namespace: String = "namespace",
    }
}

command_header! {
    pub struct RegisterBrokerRequestHeader {
        req broker_name: String = "brokerName",
        req broker_addr: String = "brokerAddr",
        req cluster_name: String = "clusterName",
        req ha_server_addr: String = "haServerAddr",
        req broker_id: i64 = "brokerId",
        opt compressed: bool = "compressed",
        opt body_crc32: i32 = "bodyCrc32",
        // 5.x brokers say how long the name server may wait for their next heartbeat.
        opt heartbeat_timeout_millis: i64 = "heartbeatTimeoutMillis",
        // 5.x brokers say whether a slave may act as master when theirs is gone.
        opt enable_acting_master: bool = "enableActingMaster",
    }
}

command_header! {
    /// BROKER_HEARTBEAT (5.x): a broker says it is alive. The controller-mode fields are
    /// accepted and not used.
    pub struct BrokerHeartbeatRequestHeader {
        req cluster_name: String = "clusterName",
        req broker_addr: String = "brokerAddr",
        req broker_name: String = "brokerName",
        opt broker_id: i64 = "brokerId",
        opt epoch: i32 = "epoch",
        opt max_offset: i64 = "maxOffset",
        opt confirm_offset: i64 = "confirmOffset",
        opt heartbeat_timeout_mills: i64 = "heartbeatTimeoutMills",
        opt election_priority: i32 = "electionPriority",
    }
}

command_header! {
    /// GET_BROKER_MEMBER_GROUP (5.x).
    pub struct GetBrokerMemberGroupRequestHeader {
        req cluster_name: String = "clusterName",
        req broker_name: String = "brokerName",
    }
}

command_header! {
    /// REGISTER_TOPIC_IN_NAMESRV (5.x); the body is a TopicRouteData whose queueDatas count.
    pub struct RegisterTopicRequestHeader {
        req topic: String = "topic",
    }
}

command_header! {
    pub struct RegisterBrokerResponseHeader {
        opt ha_server_addr: String = "haServerAddr",
        opt master_addr: String = "masterAddr",
    }
}

command_header! {
    pub struct UnRegisterBrokerRequestHeader {
        req broker_name: String = "brokerName",
        req broker_addr: String = "brokerAddr",
        req cluster_name: String = "clusterName",
        req broker_id: i64 = "brokerId",
    }
}

command_header! {
    pub struct QueryDataVersionRequestHeader {
        req broker_name: String = "brokerName",
        req broker_addr: String = "brokerAddr",
        req cluster_name: String = "clusterName",
        req broker_id: i64 = "brokerId",
    }
}

command_header! {
    pub struct QueryDataVersionResponseHeader {
        req changed: bool = "changed",
    }
}

command_header! {
    pub struct GetRouteInfoRequestHeader {
        req topic: String = "topic",
        opt accept_standard_json_only: bool = "acceptStandardJsonOnly",
    }
}

command_header! {
    pub struct WipeWritePermOfBrokerRequestHeader {
        req broker_name: String = "brokerName",
    }
}

command_header! {
    pub struct WipeWritePermOfBrokerResponseHeader {
        req wipe_topic_count: i32 = "wipeTopicCount",
    }
}

command_header! {
    pub struct AddWritePermOfBrokerRequestHeader {
        req broker_name: String = "brokerName",
    }
}

command_header! {
    pub struct AddWritePermOfBrokerResponseHeader {
        req add_topic_count: i32 = "addTopicCount",
    }
}

command_header! {
    pub struct DeleteTopicFromNamesrvRequestHeader {
        req topic: String = "topic",
        opt cluster_name: String = "clusterName",
    }
}

command_header! {
    pub struct GetTopicsByClusterRequestHeader {
        req cluster: String = "cluster",
    }
}
