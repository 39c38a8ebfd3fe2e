//! Bad requests to a running broker get Java's error codes, and the connection stays usable.

use std::time::Duration;

use compat_tests::process::{connect, InProcessBroker};
use remoting::code::{request, response};
use remoting::header::broker::{CreateTopicRequestHeader, PullMessageRequestHeader, SendMessageRequestHeader};
use remoting::{Connection, RemotingCommand};

fn send_header(topic: &str, queue_id: i32) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "bad_input_pg".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 0,
        flag: 0,
        properties: Some("TAGS\u{1}T\u{2}KEYS\u{1}k".into()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
    }
}

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(10)).await.unwrap()
}

async fn create_topic(conn: &Connection, topic: &str, queues: i32) {
    let header = CreateTopicRequestHeader::read_write(topic, queues);
    let answer = ask(
        conn,
        RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header),
    )
    .await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
}

#[tokio::test]
async fn bad_sends_and_pulls_get_java_error_codes() {
    let broker = InProcessBroker::start(&[("autoCreateTopicEnable", "false"), ("maxMessageSize", "1024")]).await;
    let conn = connect(&broker.addr).await;

    // A topic that does not exist, with auto-creation off.
    let send = RemotingCommand::request_with_header(request::SEND_MESSAGE, &send_header("NoSuchTopic", 0))
        .with_body(&b"x"[..]);
    let answer = ask(&conn, send).await;
    assert_eq!(answer.code, response::TOPIC_NOT_EXIST);
    assert!(answer
        .remark
        .unwrap()
        .starts_with("topic[NoSuchTopic] not exist, apply first please!"));

    create_topic(&conn, "BadInputTopic", 2).await;

    // A body over maxMessageSize.
    let big = RemotingCommand::request_with_header(request::SEND_MESSAGE, &send_header("BadInputTopic", 0))
        .with_body(vec![b'x'; 2048]);
    assert_eq!(ask(&conn, big).await.code, response::MESSAGE_ILLEGAL);

    // A queue id beyond the topic's queues.
    let wrong_queue = RemotingCommand::request_with_header(request::SEND_MESSAGE, &send_header("BadInputTopic", 7))
        .with_body(&b"x"[..]);
    let answer = ask(&conn, wrong_queue).await;
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert!(answer.remark.unwrap().contains("request queueId[7] is illegal"));

    // A non-numeric queueId: a clear error naming the field, and the connection lives on.
    let mut garbled = RemotingCommand::request_with_header(request::SEND_MESSAGE, &send_header("BadInputTopic", 0))
        .with_body(&b"x"[..]);
    garbled.ext_mut().insert("queueId", "one");
    let answer = ask(&conn, garbled).await;
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert!(answer.remark.unwrap().contains("queueId"));

    // Three good messages in queue 0 (the connection is still usable).
    for _ in 0..3 {
        let send = RemotingCommand::request_with_header(request::SEND_MESSAGE, &send_header("BadInputTopic", 0))
            .with_body(&b"payload"[..]);
        let answer = ask(&conn, send).await;
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    }

    // The ConsumeQueue follows the CommitLog asynchronously (as Java's reput does): wait
    // until GET_MAX_OFFSET sees all three.
    let mut max = String::new();
    for _ in 0..200 {
        let mut q = RemotingCommand::request(request::GET_MAX_OFFSET);
        q.ext_mut().insert("topic", "BadInputTopic");
        q.ext_mut().insert("queueId", "0");
        max = ask(&conn, q).await.ext().get("offset").unwrap_or_default().to_string();
        if max == "3" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(max, "3");

    // A pull far beyond the max offset: PULL_OFFSET_MOVED, told to start again at 3.
    let pull = |offset: i64| {
        RemotingCommand::request_with_header(
            request::PULL_MESSAGE,
            &PullMessageRequestHeader {
                consumer_group: "bad_input_cg".into(),
                ..compat_tests::broker_ops::pull_header("BadInputTopic", 0, offset, 32)
            },
        )
    };
    let moved = ask(&conn, pull(100)).await;
    assert_eq!(moved.code, response::PULL_OFFSET_MOVED);
    assert_eq!(moved.ext().get("nextBeginOffset"), Some("3"));
    assert_eq!(moved.ext().get("maxOffset"), Some("3"));
    assert_eq!(moved.ext().get("minOffset"), Some("0"));

    // At the max offset exactly: nothing yet (PULL_NOT_FOUND), not moved.
    let at_end = ask(&conn, pull(3)).await;
    assert_eq!(at_end.code, response::PULL_NOT_FOUND);
    assert_eq!(at_end.ext().get("nextBeginOffset"), Some("3"));

    // From the start: all three, in the stored encoding.
    let found = ask(&conn, pull(0)).await;
    assert_eq!(found.code, response::SUCCESS);
    assert_eq!(store::decode_messages(&found.body).len(), 3);

    // A queue the topic does not have.
    let mut bad_queue = pull(0);
    bad_queue.ext_mut().insert("queueId", "9");
    let answer = ask(&conn, bad_queue).await;
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert!(answer.remark.unwrap().contains("queueId[9] is illegal"));

    // System topics cannot be sent to.
    let forbidden = RemotingCommand::request_with_header(request::SEND_MESSAGE, &send_header("SCHEDULE_TOPIC_XXXX", 0))
        .with_body(&b"x"[..]);
    assert_eq!(ask(&conn, forbidden).await.code, response::NO_PERMISSION);

    broker.broker.shutdown().await;
}

#[tokio::test]
async fn batch_send_uses_the_one_letter_header_and_stores_each_message() {
    use remoting::header::broker::SendMessageRequestHeaderV2;
    let broker = InProcessBroker::start(&[]).await;
    let conn = connect(&broker.addr).await;
    create_topic(&conn, "BatchTopic", 1).await;
    let mut header = send_header("BatchTopic", 0);
    header.properties = None;
    header.batch = Some(true);
    let body = store::codec::encode_batch_body(&[
        (0, b"one", "KEYS\u{1}b1"),
        (0, b"two", "KEYS\u{1}b2"),
        (0, b"three", ""),
    ]);
    let req =
        RemotingCommand::request_with_header(request::SEND_BATCH_MESSAGE, &SendMessageRequestHeaderV2::from(&header))
            .with_body(body);
    let answer = ask(&conn, req).await;
    assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
    assert_eq!(
        answer.ext().get("msgId").unwrap().split(',').count(),
        3,
        "one offset id per message"
    );
    assert_eq!(answer.ext().get("queueOffset"), Some("0"));
    broker.broker.shutdown().await;
}
