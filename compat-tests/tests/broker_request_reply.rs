//! Request-reply over TCP against a running broker: a responder's SEND_REPLY_MESSAGE_V2
//! (325) is pushed to the requesting producer as PUSH_REPLY_MESSAGE_TO_CLIENT (326) and
//! stored in the reply topic; a requester that is gone, or a reply without REPLY_TO_CLIENT,
//! gets Java's answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use compat_tests::golden;
use compat_tests::process::{connect, InProcessBroker};
use remoting::code::{request, response};
use remoting::{BoxFuture, Connection, RemotingCommand, RequestHandler};

/// A requester: answers the broker's reply pushes and keeps them.
#[derive(Default)]
struct Requester {
    pushes: Mutex<Vec<RemotingCommand>>,
}

impl RequestHandler for Requester {
    fn handle(&self, _conn: Connection, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let answer = RemotingCommand::success(&request);
        self.pushes.lock().unwrap().push(request);
        Box::pin(async move { Some(answer) })
    }
}

async fn requester(addr: &str, client_id: &str) -> (Connection, Arc<Requester>) {
    let handler = Arc::new(Requester::default());
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let conn = Connection::spawn(
        stream,
        handler.clone(),
        remoting::frame::DEFAULT_MAX_FRAME_LENGTH,
        tokio_util::sync::CancellationToken::new(),
    )
    .unwrap();
    let heartbeat = format!(
        r#"{{"clientID":"{client_id}","consumerDataSet":[],"producerDataSet":[{{"groupName":"pg_requester"}}]}}"#
    );
    let answer = conn
        .request(
            RemotingCommand::request(request::HEART_BEAT).with_body(heartbeat.into_bytes()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(answer.code, response::SUCCESS);
    (conn, handler)
}

fn reply_request(properties: &str, body: &str) -> RemotingCommand {
    let mut req = RemotingCommand::request(request::SEND_REPLY_MESSAGE_V2).with_body(body.as_bytes().to_vec());
    for (k, v) in [
        ("a", "pg_reply"),
        ("b", "DefaultCluster_REPLY_TOPIC"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "0"),
        ("f", "0"),
        ("g", "1795967510430"),
        ("h", "0"),
        ("i", properties),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
        ("n", "broker-a"),
    ] {
        req.ext_mut().insert(k, v);
    }
    req
}

#[tokio::test]
async fn a_reply_reaches_the_requester_and_is_stored() {
    let broker = InProcessBroker::start(&[("brokerClusterName", "DefaultCluster")]).await;
    let (_req_conn, pushes) = requester(&broker.addr, "192.0.2.2@662#3081524161698").await;
    let responder = connect(&broker.addr).await;
    let props = "MSG_TYPE\u{1}reply\u{2}REPLY_TO_CLIENT\u{1}192.0.2.2@662#3081524161698\u{2}UNIQ_KEY\u{1}C0000202029630946E0993997F9E0001\u{2}TTL\u{1}15000\u{2}CORRELATION_ID\u{1}93647463-e5e9-4cf9-a59f-dd6c423ef4b5";
    let answer = responder
        .request(reply_request(props, "reply-to-request-0"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    // The same answer keys as Java's (golden 11).
    let frames = golden::load_frames("11");
    let java_req = frames
        .iter()
        .find(|f| f.code == request::SEND_REPLY_MESSAGE_V2)
        .unwrap();
    let java = golden::response_to(&frames, java_req).unwrap();
    let mut java_keys: Vec<&str> = java.header["extFields"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let mut our_keys: Vec<&str> = answer.ext().iter().map(|(k, _)| k).collect();
    java_keys.sort();
    our_keys.sort();
    assert_eq!(our_keys, java_keys);
    assert_eq!(answer.ext().get("queueOffset"), Some("0"));
    let msg_id = answer.ext().get("msgId").unwrap().to_string();
    assert_ne!(msg_id, "0", "stored: a real offset message id");

    let pushed = pushes.pushes.lock().unwrap().clone();
    assert_eq!(pushed.len(), 1);
    let push = &pushed[0];
    assert_eq!(push.code, request::PUSH_REPLY_MESSAGE_TO_CLIENT);
    assert_eq!(&push.body[..], b"reply-to-request-0");
    let java_push = frames
        .iter()
        .find(|f| f.code == request::PUSH_REPLY_MESSAGE_TO_CLIENT)
        .unwrap();
    let mut java_push_keys: Vec<&str> = java_push.header["extFields"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let mut our_push_keys: Vec<&str> = push.ext().iter().map(|(k, _)| k).collect();
    java_push_keys.sort();
    our_push_keys.sort();
    assert_eq!(our_push_keys, java_push_keys);
    let properties = push.ext().get("properties").unwrap();
    assert!(properties.starts_with("PUSH_REPLY_TIME\u{1}"), "{properties:?}");
    assert!(properties.contains("CORRELATION_ID\u{1}93647463-e5e9-4cf9-a59f-dd6c423ef4b5"));
    assert_eq!(push.ext().get("producerGroup"), Some("pg_reply"));

    // The stored copy keeps the properties as sent (no push time).
    let (_, offset) = store::decode_offset_msg_id(&msg_id).unwrap();
    let mut view = RemotingCommand::request(request::VIEW_MESSAGE_BY_ID);
    view.ext_mut().insert("offset", offset.to_string());
    let viewed = responder.request(view, Duration::from_secs(5)).await.unwrap();
    assert_eq!(viewed.code, response::SUCCESS);
    let stored = store::decode_message(&viewed.body).unwrap();
    assert_eq!(stored.topic, "DefaultCluster_REPLY_TOPIC");
    assert_eq!(
        stored.property("CORRELATION_ID"),
        Some("93647463-e5e9-4cf9-a59f-dd6c423ef4b5")
    );
    assert_eq!(stored.property("PUSH_REPLY_TIME"), None);
}

#[tokio::test]
async fn a_reply_whose_requester_is_gone_is_stored_and_refused() {
    let broker = InProcessBroker::start(&[("brokerClusterName", "DefaultCluster")]).await;
    let (req_conn, _) = requester(&broker.addr, "gone@1#1").await;
    req_conn.close();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let responder = connect(&broker.addr).await;
    let answer = responder
        .request(
            reply_request("REPLY_TO_CLIENT\u{1}gone@1#1\u{2}CORRELATION_ID\u{1}c1", "late"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert_eq!(
        answer.remark.as_deref(),
        Some("push reply message fail, channel of <gone@1#1> not found.")
    );
    // Stored all the same, and the answer says where.
    assert!(answer.ext().get("msgId").is_some_and(|id| id != "0"));

    // No REPLY_TO_CLIENT at all.
    let answer = responder
        .request(reply_request("CORRELATION_ID\u{1}c2", "orphan"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert_eq!(
        answer.remark.as_deref(),
        Some("reply message properties[REPLY_TO_CLIENT] is null")
    );
}

#[tokio::test]
async fn replies_are_not_stored_when_store_reply_message_enable_is_false() {
    let broker = InProcessBroker::start(&[
        ("brokerClusterName", "DefaultCluster"),
        ("storeReplyMessageEnable", "false"),
    ])
    .await;
    let (_c, pushes) = requester(&broker.addr, "r@2#2").await;
    let responder = connect(&broker.addr).await;
    let answer = responder
        .request(reply_request("REPLY_TO_CLIENT\u{1}r@2#2", "x"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer.code, response::SUCCESS);
    assert_eq!(answer.ext().get("msgId"), Some("0"));
    assert_eq!(pushes.pushes.lock().unwrap().len(), 1);
}
