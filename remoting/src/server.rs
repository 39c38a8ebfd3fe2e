//! The server side: an accept loop with a connection limit, and a dispatch table from
//! request code to handler.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::code::response;
use crate::command::RemotingCommand;
use crate::connection::{BoxFuture, Connection, RequestHandler};
use crate::frame::DEFAULT_MAX_FRAME_LENGTH;
use crate::header::HeaderError;

/// A failed request, turned into an error response: SYSTEM_ERROR unless a handler says
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{remark}")]
pub struct HandlerError {
    pub code: i32,
    pub remark: String,
}

impl HandlerError {
    pub fn new(code: i32, remark: impl Into<String>) -> Self {
        HandlerError {
            code,
            remark: remark.into(),
        }
    }

    pub fn system(remark: impl Into<String>) -> Self {
        Self::new(response::SYSTEM_ERROR, remark)
    }
}

impl From<HeaderError> for HandlerError {
    fn from(e: HeaderError) -> Self {
        HandlerError::system(e.to_string())
    }
}

pub type HandlerResult = Result<Option<RemotingCommand>, HandlerError>;
type Route = Box<dyn Fn(Connection, RemotingCommand) -> BoxFuture<HandlerResult> + Send + Sync>;
type ConnectionHook = Box<dyn Fn(&Connection) + Send + Sync>;

/// A dispatch table keyed by request code. Unknown codes get REQUEST_CODE_NOT_SUPPORTED,
/// handler errors become error responses carrying the error text.
#[derive(Default)]
pub struct Router {
    routes: HashMap<i32, Route>,
    on_connected: Vec<ConnectionHook>,
    on_disconnected: Vec<ConnectionHook>,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for request `code`.
    pub fn route<F, Fut>(&mut self, code: i32, handler: F) -> &mut Self
    where
        F: Fn(Connection, RemotingCommand) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.routes
            .insert(code, Box::new(move |conn, req| Box::pin(handler(conn, req))));
        self
    }

    /// Registers `handler` for request `code`, handing it a clone of `state` on every call:
    /// handlers are plain `async fn(Arc<State>, Connection, RemotingCommand)`.
    pub fn route_with<S, F, Fut>(&mut self, state: &Arc<S>, code: i32, handler: F) -> &mut Self
    where
        S: Send + Sync + 'static,
        F: Fn(Arc<S>, Connection, RemotingCommand) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let state = state.clone();
        self.route(code, move |conn, req| handler(state.clone(), conn, req))
    }

    pub fn handles(&self, code: i32) -> bool {
        self.routes.contains_key(&code)
    }

    pub fn on_connected(&mut self, hook: impl Fn(&Connection) + Send + Sync + 'static) -> &mut Self {
        self.on_connected.push(Box::new(hook));
        self
    }

    pub fn on_disconnected(&mut self, hook: impl Fn(&Connection) + Send + Sync + 'static) -> &mut Self {
        self.on_disconnected.push(Box::new(hook));
        self
    }
}

impl RequestHandler for Router {
    fn handle(&self, conn: Connection, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let Some(route) = self.routes.get(&request.code) else {
            let remark = format!(" request type {} not supported", request.code);
            debug!(peer = %conn.peer_addr(), code = request.code, "request code not supported");
            let response = RemotingCommand::response_to(&request, response::REQUEST_CODE_NOT_SUPPORTED, Some(remark));
            return Box::pin(async move { Some(response) });
        };
        let (opaque_holder, code) = (RemotingCommand::success(&request), request.code);
        let fut = route(conn, request);
        Box::pin(async move {
            match fut.await {
                Ok(response) => response,
                Err(e) => {
                    debug!(code, error = %e.remark, "request failed");
                    let mut response = opaque_holder;
                    response.code = e.code;
                    response.remark = Some(e.remark);
                    Some(response)
                }
            }
        })
    }

    fn on_connected(&self, conn: &Connection) {
        self.on_connected.iter().for_each(|hook| hook(conn));
    }

    fn on_disconnected(&self, conn: &Connection) {
        self.on_disconnected.iter().for_each(|hook| hook(conn));
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen_addr: SocketAddr,
    /// Connections beyond this many are closed as soon as they are accepted.
    pub max_connections: usize,
    pub max_frame_length: usize,
}

impl ServerConfig {
    pub fn new(listen_addr: SocketAddr) -> Self {
        ServerConfig {
            listen_addr,
            max_connections: 65_536,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
        }
    }
}

/// A running server. Dropping the handle does not stop it; call [`ServerHandle::shutdown`].
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every connection (after writing what is already queued on
    /// it) and waits for the accept loop to end.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }

    /// A token that is cancelled when the server shuts down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Binds `config.listen_addr` and serves `handler` until shut down.
pub async fn serve(config: ServerConfig, handler: Arc<dyn RequestHandler>) -> std::io::Result<ServerHandle> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    serve_listener(listener, config, handler)
}

/// Serves `handler` on an already bound listener (for servers that must know their port
/// before they can build their handler); `config.listen_addr` is not used.
pub fn serve_listener(
    listener: TcpListener,
    config: ServerConfig,
    handler: Arc<dyn RequestHandler>,
) -> std::io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(accept_loop(listener, config, handler, shutdown.clone()));
    info!(%local_addr, "remoting server listening");
    Ok(ServerHandle {
        local_addr,
        shutdown,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    config: ServerConfig,
    handler: Arc<dyn RequestHandler>,
    shutdown: CancellationToken,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= config.max_connections {
            warn!(%peer, limit = config.max_connections, "connection limit reached, closing new connection");
            drop(stream);
            continue;
        }
        match Connection::spawn(stream, handler.clone(), config.max_frame_length, shutdown.clone()) {
            Ok(conn) => {
                open.fetch_add(1, Ordering::Relaxed);
                let open = open.clone();
                tokio::spawn(async move {
                    conn.closed().await;
                    open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(e) => debug!(%peer, error = %e, "connection vanished before it was set up"),
        }
    }
}
