//! A router's guards run before every routed request, over a real socket: a refusal is the
//! answer (with the request's opaque), an accepted request reaches its handler, and an
//! unsupported code is answered REQUEST_CODE_NOT_SUPPORTED without consulting the guards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use remoting::code::response;
use remoting::connection::IgnoreRequests;
use remoting::{serve, Connection, HandlerError, RemotingCommand, Router, ServerConfig};
use tokio_util::sync::CancellationToken;

const GUARDED: i32 = 7101;

#[tokio::test]
async fn guards_refuse_before_the_handler_runs() {
    let consulted = Arc::new(AtomicUsize::new(0));
    let mut router = Router::new();
    router.route(GUARDED, |_conn, req: RemotingCommand| async move {
        Ok(Some(RemotingCommand::success(&req).with_body(b"handled".to_vec())))
    });
    let seen = consulted.clone();
    router.guard(move |_conn, req| {
        seen.fetch_add(1, Ordering::SeqCst);
        match req.ext().get("let-in") {
            Some("yes") => Ok(()),
            _ => Err(HandlerError::new(response::SYSTEM_ERROR, "refused by the guard")),
        }
    });
    let server = serve(ServerConfig::new("127.0.0.1:0".parse().unwrap()), Arc::new(router))
        .await
        .unwrap();
    let stream = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    let conn = Connection::spawn(
        stream,
        Arc::new(IgnoreRequests),
        remoting::frame::DEFAULT_MAX_FRAME_LENGTH,
        CancellationToken::new(),
    )
    .unwrap();
    let limit = Duration::from_secs(5);

    let refused = conn.request(RemotingCommand::request(GUARDED), limit).await.unwrap();
    assert_eq!(refused.code, response::SYSTEM_ERROR);
    assert_eq!(refused.remark.as_deref(), Some("refused by the guard"));
    assert!(refused.body.is_empty());

    let mut allowed = RemotingCommand::request(GUARDED);
    allowed.ext_mut().insert("let-in", "yes");
    let answered = conn.request(allowed, limit).await.unwrap();
    assert_eq!(answered.code, response::SUCCESS);
    assert_eq!(&answered.body[..], b"handled");
    assert_eq!(consulted.load(Ordering::SeqCst), 2);

    let unknown = conn.request(RemotingCommand::request(7199), limit).await.unwrap();
    assert_eq!(unknown.code, response::REQUEST_CODE_NOT_SUPPORTED);
    assert_eq!(consulted.load(Ordering::SeqCst), 2, "unsupported codes skip the guards");
}
