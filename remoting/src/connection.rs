//! One TCP connection carrying remoting commands in both directions. Servers and clients
//! share it: either side may send requests, and each side answers the other's requests
//! through a [`RequestHandler`].

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::codec::RemotingCodec;
use crate::command::{RemotingCommand, FLAG_RESPONSE};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Answers requests that arrive on a connection, and hears about connections coming and going.
pub trait RequestHandler: Send + Sync + 'static {
    /// Handles one request. `None` means no response is sent.
    fn handle(&self, conn: Connection, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>>;

    fn on_connected(&self, _conn: &Connection) {}

    fn on_disconnected(&self, _conn: &Connection) {}
}

/// A handler that answers nothing (for clients that expect no server-initiated requests).
pub struct IgnoreRequests;

impl RequestHandler for IgnoreRequests {
    fn handle(&self, _conn: Connection, _request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        Box::pin(async { None })
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RemotingError {
    #[error("connection to {0} is closed")]
    ConnectionClosed(String),
    #[error("connect to {addr} failed: {reason}")]
    ConnectFailed { addr: String, reason: String },
    #[error("request to {addr} timed out after {millis} ms")]
    Timeout { addr: String, millis: u64 },
}

/// How many outbound commands may wait for the writer before senders are made to wait.
const OUTBOUND_QUEUE: usize = 4096;

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// A cheap, cloneable handle on a live connection.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    peer: SocketAddr,
    outbound: mpsc::Sender<RemotingCommand>,
    pending: Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>,
    closed: CancellationToken,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .finish()
    }
}

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        self.inner.id == other.inner.id
    }
}
impl Eq for Connection {}

impl Connection {
    /// Starts the reader and writer tasks for `stream` and returns a handle on it.
    /// The connection ends when the peer closes it, a frame cannot be decoded, `close` is
    /// called, or `shutdown` is cancelled.
    pub fn spawn(
        stream: TcpStream,
        handler: Arc<dyn RequestHandler>,
        max_frame_length: usize,
        shutdown: CancellationToken,
    ) -> std::io::Result<Connection> {
        let peer = stream.peer_addr()?;
        let _ = stream.set_nodelay(true);
        let (read_half, write_half) = stream.into_split();
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let conn = Connection {
            inner: Arc::new(Inner {
                id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
                peer,
                outbound: tx,
                pending: Mutex::new(HashMap::new()),
                closed: shutdown.child_token(),
            }),
        };
        let codec = RemotingCodec::new(max_frame_length);
        tokio::spawn(write_loop(
            conn.clone(),
            FramedWrite::new(write_half, codec.clone()),
            rx,
        ));
        handler.on_connected(&conn);
        tokio::spawn(read_loop(conn.clone(), FramedRead::new(read_half, codec), handler));
        Ok(conn)
    }

    pub fn id(&self) -> u64 {
        self.inner.id
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    pub fn close(&self) {
        self.inner.closed.cancel();
    }

    /// Resolves when the connection has closed.
    pub async fn closed(&self) {
        self.inner.closed.cancelled().await
    }

    /// Queues a command (a response or a oneway request) for writing.
    pub async fn send(&self, cmd: RemotingCommand) -> Result<(), RemotingError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        self.inner.outbound.send(cmd).await.map_err(|_| self.closed_error())
    }

    /// Sends a request and waits for the response with the same opaque.
    pub async fn request(&self, request: RemotingCommand, timeout: Duration) -> Result<RemotingCommand, RemotingError> {
        let opaque = request.opaque;
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().unwrap().insert(opaque, tx);
        if let Err(e) = self.send(request).await {
            self.inner.pending.lock().unwrap().remove(&opaque);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                self.inner.pending.lock().unwrap().remove(&opaque);
                Err(RemotingError::Timeout {
                    addr: self.inner.peer.to_string(),
                    millis: timeout.as_millis() as u64,
                })
            }
        }
    }

    /// Sends a request marked oneway; no response is expected.
    pub async fn oneway(&self, request: RemotingCommand) -> Result<(), RemotingError> {
        self.send(request.oneway()).await
    }

    fn closed_error(&self) -> RemotingError {
        RemotingError::ConnectionClosed(self.inner.peer.to_string())
    }

    fn complete(&self, response: RemotingCommand) {
        let waiter = self.inner.pending.lock().unwrap().remove(&response.opaque);
        match waiter {
            Some(tx) => {
                let _ = tx.send(response);
            }
            None => debug!(peer = %self.inner.peer, opaque = response.opaque, "response nobody waits for"),
        }
    }
}

async fn write_loop(
    conn: Connection,
    mut sink: FramedWrite<tokio::net::tcp::OwnedWriteHalf, RemotingCodec>,
    mut rx: mpsc::Receiver<RemotingCommand>,
) {
    loop {
        let cmd = tokio::select! {
            cmd = rx.recv() => cmd,
            _ = conn.inner.closed.cancelled() => None,
        };
        let Some(cmd) = cmd else { break };
        if sink.feed(cmd).await.is_err() {
            break;
        }
        // Batch whatever else is already queued into the same flush.
        while let Ok(cmd) = rx.try_recv() {
            if sink.feed(cmd).await.is_err() {
                conn.close();
                return;
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    // Write out anything queued before the close (e.g. a last response), then hang up.
    while let Ok(cmd) = rx.try_recv() {
        if sink.feed(cmd).await.is_err() {
            break;
        }
    }
    let _ = sink.flush().await;
    conn.close();
}

/// What a response must copy from its request.
struct Reply {
    oneway: bool,
    opaque: i32,
    serialize_type: crate::command::SerializeType,
}

impl Reply {
    async fn send(self, conn: &Connection, response: Option<RemotingCommand>) {
        if let (false, Some(mut response)) = (self.oneway, response) {
            response.opaque = self.opaque;
            response.flag |= FLAG_RESPONSE;
            response.serialize_type = self.serialize_type;
            let _ = conn.send(response).await;
        }
    }
}

async fn read_loop(
    conn: Connection,
    mut stream: FramedRead<tokio::net::tcp::OwnedReadHalf, RemotingCodec>,
    handler: Arc<dyn RequestHandler>,
) {
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = conn.inner.closed.cancelled() => break,
        };
        match next {
            Some(Ok(cmd)) if cmd.is_response() => conn.complete(cmd),
            Some(Ok(request)) => {
                let reply = Reply {
                    oneway: request.is_oneway(),
                    opaque: request.opaque,
                    serialize_type: request.serialize_type,
                };
                let mut handling = handler.handle(conn.clone(), request);
                // Most requests (a send under ASYNC_FLUSH, a heartbeat) complete on their
                // first poll: answer those here, saving a task and a wake-up per request.
                // The rest run as their own tasks, so a held long poll does not stall a
                // heartbeat that arrives behind it on the same connection.
                match futures::poll!(handling.as_mut()) {
                    std::task::Poll::Ready(response) => reply.send(&conn, response).await,
                    std::task::Poll::Pending => {
                        let conn = conn.clone();
                        tokio::spawn(async move {
                            let response = handling.await;
                            reply.send(&conn, response).await;
                        });
                    }
                }
            }
            Some(Err(e)) => {
                warn!(peer = %conn.inner.peer, error = %e, "closing connection after an undecodable frame");
                break;
            }
            None => break,
        }
    }
    conn.close();
    // Fail every request still waiting for an answer on this connection.
    conn.inner.pending.lock().unwrap().clear();
    handler.on_disconnected(&conn);
}
