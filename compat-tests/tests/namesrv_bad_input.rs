//! Bad input against a running name server: each bad connection is closed or answered with
//! an error, and the server keeps serving everyone else.

use std::time::Duration;

use bytes::BytesMut;
use compat_tests::process::{connect, InProcessNamesrv};
use remoting::code::{request, response};
use remoting::{frame, RemotingCommand, SerializeType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `bytes` on a fresh connection and returns what came back before the server
/// closed it (or before a quiet second passed).
async fn send_raw(addr: &str, bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

/// A well-formed request still gets its answer.
async fn assert_still_serving(addr: &str) {
    let conn = connect(addr).await;
    let mut ask = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
    ask.ext_mut().insert("topic", "NoSuchTopic");
    let answer = conn.request(ask, Duration::from_secs(5)).await.unwrap();
    assert_eq!(answer.code, response::TOPIC_NOT_EXIST);
}

fn frame_with_header(serialize: u8, header: &[u8], claimed_header_len: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + header.len()) as u32).to_be_bytes());
    out.extend_from_slice(&(((serialize as u32) << 24) | claimed_header_len).to_be_bytes());
    out.extend_from_slice(header);
    out
}

#[tokio::test]
async fn hostile_frames_close_only_their_connection() {
    let ns = InProcessNamesrv::start(&[]).await;
    let json = br#"{"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA","opaque":1,"version":409}"#;

    let mut lying_binary = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
    lying_binary.serialize_type = SerializeType::RocketMq;
    lying_binary.ext_mut().insert("topic", "T");
    let mut lying_header = frame::encode_header(&lying_binary);
    let ext_len_at = 13 + 4; // fixed part, then an empty remark's length
    lying_header[ext_len_at..ext_len_at + 4].copy_from_slice(&5000i32.to_be_bytes());
    let mut inner_key_lies = frame::encode_header(&lying_binary);
    inner_key_lies[ext_len_at + 4..ext_len_at + 6].copy_from_slice(&(-3i16).to_be_bytes());

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "random bytes",
            (0..300u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(),
        ),
        ("negative length", (-20i32).to_be_bytes().to_vec()),
        (
            "2 GiB length",
            0x7fff_ffffi32.to_be_bytes().iter().chain(&[0u8; 64]).copied().collect(),
        ),
        ("header longer than frame", frame_with_header(0, json, 4096)),
        (
            "malformed JSON",
            frame_with_header(0, b"{\"code\":105,\"extFields\":{", 25),
        ),
        ("JSON that is not an object", frame_with_header(0, b"[1,2,3]", 7)),
        (
            "ROCKETMQ ext length lies",
            frame_with_header(1, &lying_header, lying_header.len() as u32),
        ),
        (
            "ROCKETMQ key length negative",
            frame_with_header(1, &inner_key_lies, inner_key_lies.len() as u32),
        ),
        ("unknown serialize type", frame_with_header(7, json, json.len() as u32)),
    ];
    for (what, bytes) in cases {
        let (answer, closed) = send_raw(&ns.addr, &bytes).await;
        assert!(closed, "{what}: the connection should be closed");
        assert!(
            answer.is_empty(),
            "{what}: no answer expected, got {} bytes",
            answer.len()
        );
        assert_still_serving(&ns.addr).await;
    }
    ns.server.shutdown().await;
}

/// A REGISTER_BROKER request with the usual identity fields plus `extra`.
fn registration(extra: &[(&str, &str)]) -> RemotingCommand {
    let mut register = RemotingCommand::request(request::REGISTER_BROKER);
    let identity = [
        ("brokerName", "b"),
        ("brokerAddr", "127.0.0.1:1"),
        ("clusterName", "C"),
        ("haServerAddr", ""),
    ];
    for (k, v) in identity.iter().chain(extra) {
        register.ext_mut().insert(*k, *v);
    }
    register
}

#[tokio::test]
async fn unknown_codes_and_bad_headers_get_error_responses() {
    let ns = InProcessNamesrv::start(&[]).await;
    let conn = connect(&ns.addr).await;
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let mut unknown = RemotingCommand::request(9999);
        unknown.serialize_type = serialize_type;
        let answer = conn.request(unknown, Duration::from_secs(5)).await.unwrap();
        assert_eq!(answer.code, response::REQUEST_CODE_NOT_SUPPORTED);
        assert!(answer.remark.unwrap().contains("9999"));
        assert_eq!(
            answer.serialize_type, serialize_type,
            "the answer copies the serialize type"
        );

        // GET_ROUTEINFO_BY_TOPIC without its required `topic`
        let mut missing = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
        missing.serialize_type = serialize_type;
        let answer = conn.request(missing, Duration::from_secs(5)).await.unwrap();
        assert_eq!(answer.code, response::SYSTEM_ERROR);
        assert!(answer.remark.unwrap().contains("<topic>"));
    }
    // A non-numeric brokerId in a registration is a clear error, and the connection lives on.
    let register = registration(&[("brokerId", "zero")]);
    let answer = conn.request(register, Duration::from_secs(5)).await.unwrap();
    assert_eq!(answer.code, response::SYSTEM_ERROR);
    assert!(answer.remark.unwrap().contains("brokerId"));
    // A registration whose body does not match its bodyCrc32.
    let mut register = registration(&[("brokerId", "0"), ("bodyCrc32", "12345")]);
    register.body = bytes::Bytes::from_static(b"{}");
    let answer = conn.request(register, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (answer.code, answer.remark.as_deref()),
        (response::SYSTEM_ERROR, Some("crc32 not match"))
    );
    assert_still_serving(&ns.addr).await;

    // A oneway request with an unknown code gets no answer at all.
    let (answer, _) = send_raw(&ns.addr, &{
        let mut buf = BytesMut::new();
        frame::encode(&RemotingCommand::request(9999).oneway(), &mut buf);
        buf.to_vec()
    })
    .await;
    assert!(answer.is_empty());
    ns.server.shutdown().await;
}
