//! Bodies of LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42), which orderly consumers use to
//! own the queues they consume, and the `MessageQueue` they name.

use serde::{Deserialize, Serialize};

/// A queue of a topic on one broker. Fields in fastjson's (alphabetical) order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    pub broker_name: String,
    pub queue_id: i32,
    pub topic: String,
}

/// `LockBatchRequestBody`. `onlyThisBroker` is sent by 5.x clients only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    pub client_id: String,
    pub consumer_group: String,
    pub mq_set: Vec<MessageQueue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_this_broker: Option<bool>,
}

/// `LockBatchResponseBody`: the queues the client holds after the call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet")]
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

/// `UnlockBatchRequestBody`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnlockBatchRequestBody {
    pub client_id: String,
    pub consumer_group: String,
    pub mq_set: Vec<MessageQueue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_this_broker: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_read_and_write_what_java_does() {
        // From the golden capture 09-ordered.
        let req = br#"{"clientId":"192.0.2.2@25731#2931157554266","consumerGroup":"cg_order","mqSet":[{"brokerName":"broker-a","queueId":1,"topic":"OrderTopic"}]}"#;
        let body: LockBatchRequestBody = crate::fastjson::from_slice(req).unwrap();
        assert_eq!(body.consumer_group, "cg_order");
        assert_eq!(body.mq_set[0].queue_id, 1);
        let resp = LockBatchResponseBody {
            lock_ok_mq_set: body.mq_set.clone(),
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"lockOKMQSet":[{"brokerName":"broker-a","queueId":1,"topic":"OrderTopic"}]}"#
        );
    }
}
