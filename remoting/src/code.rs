//! Request and response codes, with the names and numbers of the Java implementation
//! (`RequestCode`, `ResponseCode` and `RemotingSysResponseCode` in RocketMQ 4.9.8).

/// Request codes (the `code` of a request command).
pub mod request {
    pub const SEND_MESSAGE: i32 = 10;
    pub const PULL_MESSAGE: i32 = 11;
    pub const QUERY_MESSAGE: i32 = 12;
    pub const QUERY_BROKER_OFFSET: i32 = 13;
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
    pub const GET_ALL_TOPIC_CONFIG: i32 = 21;
    pub const GET_TOPIC_CONFIG_LIST: i32 = 22;
    pub const GET_TOPIC_NAME_LIST: i32 = 23;
    pub const UPDATE_BROKER_CONFIG: i32 = 25;
    pub const GET_BROKER_CONFIG: i32 = 26;
    pub const TRIGGER_DELETE_FILES: i32 = 27;
    pub const GET_BROKER_RUNTIME_INFO: i32 = 28;
    pub const SEARCH_OFFSET_BY_TIMESTAMP: i32 = 29;
    pub const GET_MAX_OFFSET: i32 = 30;
    pub const GET_MIN_OFFSET: i32 = 31;
    pub const GET_EARLIEST_MSG_STORETIME: i32 = 32;
    pub const VIEW_MESSAGE_BY_ID: i32 = 33;
    pub const HEART_BEAT: i32 = 34;
    pub const UNREGISTER_CLIENT: i32 = 35;
    pub const CONSUMER_SEND_MSG_BACK: i32 = 36;
    pub const END_TRANSACTION: i32 = 37;
    pub const GET_CONSUMER_LIST_BY_GROUP: i32 = 38;
    pub const CHECK_TRANSACTION_STATE: i32 = 39;
    pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
    pub const LOCK_BATCH_MQ: i32 = 41;
    pub const UNLOCK_BATCH_MQ: i32 = 42;
    pub const GET_ALL_CONSUMER_OFFSET: i32 = 43;
    pub const GET_ALL_DELAY_OFFSET: i32 = 45;
    pub const CHECK_CLIENT_CONFIG: i32 = 46;
    pub const PUT_KV_CONFIG: i32 = 100;
    pub const GET_KV_CONFIG: i32 = 101;
    pub const DELETE_KV_CONFIG: i32 = 102;
    pub const REGISTER_BROKER: i32 = 103;
    pub const UNREGISTER_BROKER: i32 = 104;
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
    pub const GET_ALL_SUBSCRIPTIONGROUP_CONFIG: i32 = 201;
    pub const GET_TOPIC_STATS_INFO: i32 = 202;
    pub const GET_CONSUMER_CONNECTION_LIST: i32 = 203;
    pub const GET_PRODUCER_CONNECTION_LIST: i32 = 204;
    pub const WIPE_WRITE_PERM_OF_BROKER: i32 = 205;
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    pub const DELETE_SUBSCRIPTIONGROUP: i32 = 207;
    pub const GET_CONSUME_STATS: i32 = 208;
    pub const DELETE_TOPIC_IN_BROKER: i32 = 215;
    pub const DELETE_TOPIC_IN_NAMESRV: i32 = 216;
    pub const GET_KVLIST_BY_NAMESPACE: i32 = 219;
    pub const RESET_CONSUMER_CLIENT_OFFSET: i32 = 220;
    pub const GET_CONSUMER_STATUS_FROM_CLIENT: i32 = 221;
    pub const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;
    pub const INVOKE_BROKER_TO_GET_CONSUMER_STATUS: i32 = 223;
    pub const GET_TOPICS_BY_CLUSTER: i32 = 224;
    pub const QUERY_TOPIC_CONSUME_BY_WHO: i32 = 300;
    pub const REGISTER_FILTER_SERVER: i32 = 301;
    pub const QUERY_CONSUME_TIME_SPAN: i32 = 303;
    pub const GET_SYSTEM_TOPIC_LIST_FROM_NS: i32 = 304;
    pub const GET_SYSTEM_TOPIC_LIST_FROM_BROKER: i32 = 305;
    pub const CLEAN_EXPIRED_CONSUMEQUEUE: i32 = 306;
    pub const GET_CONSUMER_RUNNING_INFO: i32 = 307;
    pub const QUERY_CORRECTION_OFFSET: i32 = 308;
    pub const CONSUME_MESSAGE_DIRECTLY: i32 = 309;
    pub const SEND_MESSAGE_V2: i32 = 310;
    pub const GET_UNIT_TOPIC_LIST: i32 = 311;
    pub const GET_HAS_UNIT_SUB_TOPIC_LIST: i32 = 312;
    pub const GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: i32 = 313;
    pub const CLONE_GROUP_OFFSET: i32 = 314;
    pub const VIEW_BROKER_STATS_DATA: i32 = 315;
    pub const CLEAN_UNUSED_TOPIC: i32 = 316;
    pub const GET_BROKER_CONSUME_STATS: i32 = 317;
    pub const UPDATE_NAMESRV_CONFIG: i32 = 318;
    pub const GET_NAMESRV_CONFIG: i32 = 319;
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    pub const QUERY_CONSUME_QUEUE: i32 = 321;
    pub const QUERY_DATA_VERSION: i32 = 322;
    pub const RESUME_CHECK_HALF_MESSAGE: i32 = 323;
    pub const SEND_REPLY_MESSAGE: i32 = 324;
    pub const SEND_REPLY_MESSAGE_V2: i32 = 325;
    pub const PUSH_REPLY_MESSAGE_TO_CLIENT: i32 = 326;
    pub const ADD_WRITE_PERM_OF_BROKER: i32 = 327;
    pub const GET_ALL_PRODUCER_INFO: i32 = 328;
    pub const DELETE_EXPIRED_COMMITLOG: i32 = 329;
    pub const UPDATE_AND_CREATE_ACL_CONFIG: i32 = 50;
    pub const DELETE_ACL_CONFIG: i32 = 51;
    pub const GET_BROKER_CLUSTER_ACL_INFO: i32 = 52;
    pub const UPDATE_GLOBAL_WHITE_ADDRS_CONFIG: i32 = 53;

    // Codes that first appear in RocketMQ 5.x (numbers as in 5.3.3's RequestCode).
    /// Registers one topic's queues on the name server (a 5.x broker, or an admin tool).
    pub const REGISTER_TOPIC_IN_NAMESRV: i32 = 217;
    /// One topic's config from a broker (an admin call).
    pub const GET_TOPIC_CONFIG: i32 = 351;
    /// A pull from a lite pull consumer: a PULL_MESSAGE under a code of its own.
    pub const LITE_PULL_MESSAGE: i32 = 361;
    /// The addresses registered under one broker name, for a 5.x broker's peers.
    pub const GET_BROKER_MEMBER_GROUP: i32 = 901;
    /// A 5.x broker's liveness heartbeat to the name server.
    pub const BROKER_HEARTBEAT: i32 = 904;

    // POP consumption and server-side assignment (RocketMQ 5.x).
    pub const POP_MESSAGE: i32 = 200050;
    pub const ACK_MESSAGE: i32 = 200051;
    pub const PEEK_MESSAGE: i32 = 200052;
    pub const CHANGE_MESSAGE_INVISIBLETIME: i32 = 200053;
    pub const NOTIFICATION: i32 = 200054;
    pub const POLLING_INFO: i32 = 200055;
    pub const BATCH_ACK_MESSAGE: i32 = 200151;
    pub const QUERY_ASSIGNMENT: i32 = 400;
    pub const SET_MESSAGE_REQUEST_MODE: i32 = 401;
    pub const GET_ALL_MESSAGE_REQUEST_MODE: i32 = 402;
    /// RocketMQ 5.x: the timer's checkpoint (56 bytes).
    pub const GET_TIMER_CHECK_POINT: i32 = 60;
    pub const GET_TIMER_METRICS: i32 = 61;
    /// RocketMQ 5.3: takes back a timer message before it is due.
    pub const RECALL_MESSAGE: i32 = 370;
}

/// Response codes (the `code` of a response command).
pub mod response {
    pub const SUCCESS: i32 = 0;
    pub const SYSTEM_ERROR: i32 = 1;
    pub const SYSTEM_BUSY: i32 = 2;
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    pub const TRANSACTION_FAILED: i32 = 4;
    pub const FLUSH_DISK_TIMEOUT: i32 = 10;
    pub const SLAVE_NOT_AVAILABLE: i32 = 11;
    pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
    pub const MESSAGE_ILLEGAL: i32 = 13;
    pub const SERVICE_NOT_AVAILABLE: i32 = 14;
    pub const VERSION_NOT_SUPPORTED: i32 = 15;
    pub const NO_PERMISSION: i32 = 16;
    pub const TOPIC_NOT_EXIST: i32 = 17;
    pub const TOPIC_EXIST_ALREADY: i32 = 18;
    pub const PULL_NOT_FOUND: i32 = 19;
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    pub const PULL_OFFSET_MOVED: i32 = 21;
    pub const QUERY_NOT_FOUND: i32 = 22;
    pub const SUBSCRIPTION_PARSE_FAILED: i32 = 23;
    pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
    pub const SUBSCRIPTION_NOT_LATEST: i32 = 25;
    pub const SUBSCRIPTION_GROUP_NOT_EXIST: i32 = 26;
    pub const FILTER_DATA_NOT_EXIST: i32 = 27;
    pub const FILTER_DATA_NOT_LATEST: i32 = 28;
    pub const TRANSACTION_SHOULD_COMMIT: i32 = 200;
    pub const TRANSACTION_SHOULD_ROLLBACK: i32 = 201;
    pub const TRANSACTION_STATE_UNKNOW: i32 = 202;
    pub const TRANSACTION_STATE_GROUP_WRONG: i32 = 203;
    pub const NO_BUYER_ID: i32 = 204;
    pub const NOT_IN_CURRENT_UNIT: i32 = 205;
    pub const CONSUMER_NOT_ONLINE: i32 = 206;
    pub const CONSUME_MSG_TIMEOUT: i32 = 207;
    pub const NO_MESSAGE: i32 = 208;
    pub const FLOW_CONTROL: i32 = 215;
    pub const UPDATE_AND_CREATE_ACL_CONFIG_FAILED: i32 = 209;
    pub const DELETE_ACL_CONFIG_FAILED: i32 = 210;
    pub const UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED: i32 = 211;

    // RocketMQ 5.x POP answers (209 and 210 mean these in 5.x, the ACL failures in 4.x).
    pub const INVALID_PARAMETER: i32 = 29;
    pub const POLLING_FULL: i32 = 209;
    pub const POLLING_TIMEOUT: i32 = 210;
    /// RocketMQ 5.x.
    pub const ILLEGAL_OPERATION: i32 = 604;
}

/// Version numbers as Java's `MQVersion.Version` ordinals.
pub mod version {
    /// V4_9_4: from this version on, clients parse standard JSON route bodies.
    pub const V4_9_4: i32 = 401;
    /// V4_9_8: the version we announce in our own requests and responses.
    pub const V4_9_8: i32 = 409;
    /// What this implementation announces.
    pub const CURRENT: i32 = V4_9_8;
    /// The oldest client the broker pushes offset resets and status queries to.
    pub const V3_0_7_SNAPSHOT: i32 = 28;
    /// The oldest client the broker relays running-info and direct-consume calls to.
    pub const V3_1_8_SNAPSHOT: i32 = 62;

    /// The enum constant's name for the old versions the broker's refusals name
    /// (below V3_1_8_SNAPSHOT); newer ones are given as their number.
    pub fn name(version: i32) -> String {
        const FIRST: [&str; 16] = [
            "V3_0_0_SNAPSHOT",
            "V3_0_0_ALPHA1",
            "V3_0_0_BETA1",
            "V3_0_0_BETA2",
            "V3_0_0_BETA3",
            "V3_0_0_BETA4",
            "V3_0_0_BETA5",
            "V3_0_0_BETA6_SNAPSHOT",
            "V3_0_0_BETA6",
            "V3_0_0_BETA7_SNAPSHOT",
            "V3_0_0_BETA7",
            "V3_0_0_BETA8_SNAPSHOT",
            "V3_0_0_BETA8",
            "V3_0_0_BETA9_SNAPSHOT",
            "V3_0_0_BETA9",
            "V3_0_0_FINAL",
        ];
        match version {
            0..=15 => FIRST[version as usize].to_string(),
            // From V3_0_1 on each release follows its snapshot: 3.0.1-3.0.15, then 3.1.0-.
            16..=V3_1_8_SNAPSHOT => {
                let step = (version - 16) / 2;
                let (minor, patch) = if step < 15 { (0, step + 1) } else { (1, step - 15) };
                let snapshot = if (version - 16) % 2 == 0 { "_SNAPSHOT" } else { "" };
                format!("V3_{minor}_{patch}{snapshot}")
            }
            _ => version.to_string(),
        }
    }
}

#[cfg(test)]
mod version_tests {
    use super::version;

    #[test]
    fn old_version_names_follow_javas_enum() {
        assert_eq!(version::name(0), "V3_0_0_SNAPSHOT");
        assert_eq!(version::name(15), "V3_0_0_FINAL");
        assert_eq!(version::name(16), "V3_0_1_SNAPSHOT");
        assert_eq!(version::name(28), "V3_0_7_SNAPSHOT");
        assert_eq!(version::name(45), "V3_0_15");
        assert_eq!(version::name(46), "V3_1_0_SNAPSHOT");
        assert_eq!(version::name(61), "V3_1_7");
        assert_eq!(version::name(62), "V3_1_8_SNAPSHOT");
    }
}
