//! Writing over a real socket: responses are written straight from the request's task while
//! the socket takes them, and by the writer task once it pushes back. Either way every
//! response must arrive whole and in order, and a last response must go out before a close.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use remoting::codec::RemotingCodec;
use remoting::{frame, serve, RemotingCommand, Router, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

const ECHO_BIG: i32 = 7001;
const BODY: usize = 512 * 1024;

async fn start_server() -> remoting::ServerHandle {
    let mut router = Router::new();
    // Answers with a large body whose bytes carry the request's opaque.
    router.route(ECHO_BIG, |_conn, req: RemotingCommand| async move {
        let fill = (req.opaque % 251) as u8;
        Ok(Some(
            RemotingCommand::success(&req).with_body(Bytes::from(vec![fill; BODY])),
        ))
    });
    serve(ServerConfig::new("127.0.0.1:0".parse().unwrap()), Arc::new(router))
        .await
        .unwrap()
}

/// Connects and sends requests with opaques 1..=`count` in one write, reading nothing,
/// then gives the server a moment to answer into its buffers.
async fn connect_and_send(server: &remoting::ServerHandle, count: i32) -> TcpStream {
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut out = BytesMut::new();
    for opaque in 1..=count {
        let mut req = RemotingCommand::request(ECHO_BIG);
        req.opaque = opaque;
        frame::encode(&req, &mut out);
    }
    socket.write_all(&out).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_falls_behind_gets_every_response_in_order() {
    let server = start_server().await;
    // 64 requests of 512 KiB answers (32 MiB) sent before reading anything: far more than
    // the socket buffers hold, so the server must hand over to its writer task and wait.
    let mut socket = connect_and_send(&server, 64).await;

    let mut codec = RemotingCodec::default();
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 64 {
        while let Some(resp) = codec.decode(&mut buf).unwrap() {
            assert!(resp.is_response());
            assert_eq!(resp.body.len(), BODY, "opaque {}", resp.opaque);
            let fill = (resp.opaque % 251) as u8;
            assert!(
                resp.body.iter().all(|&b| b == fill),
                "opaque {}: body damaged",
                resp.opaque
            );
            seen.push(resp.opaque);
        }
        if seen.len() == 64 {
            break;
        }
        let n = tokio::time::timeout_at(deadline, socket.read_buf(&mut buf))
            .await
            .expect("responses stopped arriving")
            .unwrap();
        assert!(n > 0, "server closed after {} responses", seen.len());
    }
    // Requests run concurrently, but each of these completes at once, so they are
    // answered in arrival order.
    assert_eq!(seen, (1..=64).collect::<Vec<_>>());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_out_what_is_queued_then_hangs_up() {
    let server = start_server().await;
    let mut socket = connect_and_send(&server, 8).await;
    let stopping = tokio::spawn(server.shutdown());

    let mut codec = RemotingCodec::default();
    let mut buf = BytesMut::new();
    let mut answered = 0;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read_buf(&mut buf))
            .await
            .expect("the server neither wrote nor hung up")
            .unwrap();
        while let Some(resp) = codec.decode(&mut buf).unwrap() {
            assert_eq!(resp.body.len(), BODY);
            answered += 1;
        }
        if n == 0 {
            break;
        }
    }
    assert_eq!(answered, 8, "responses queued before the shutdown were lost");
    stopping.await.unwrap();
}
