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
use crate::connection::{BoxFuture, Connection, ConnectionLimits, RequestHandler};
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
type RequestGuard = Box<dyn Fn(&Connection, &RemotingCommand) -> Result<(), HandlerError> + Send + Sync>;

/// A dispatch table keyed by request code. Unknown codes get REQUEST_CODE_NOT_SUPPORTED,
/// handler errors become error responses carrying the error text.
#[derive(Default)]
pub struct Router {
    routes: HashMap<i32, Route>,
    guards: Vec<RequestGuard>,
    /// Where each handled request's code, response code and time go (metrics).
    rpc_metrics: Option<crate::metrics::RpcMetrics>,
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

    /// Adds a check every request with a route passes before its handler runs (Java's
    /// `RPCHook.doBeforeRequest`, where ACL lives); a refusal is the request's answer.
    /// Unsupported codes are answered without it, as in Java.
    pub fn guard(
        &mut self,
        check: impl Fn(&Connection, &RemotingCommand) -> Result<(), HandlerError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.guards.push(Box::new(check));
        self
    }

    /// Records every routed request in `metrics` (rocketmq_rpc_latency).
    pub fn record_rpc(&mut self, metrics: crate::metrics::RpcMetrics) -> &mut Self {
        self.rpc_metrics = Some(metrics);
        self
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
        if let Some(refusal) = self.guards.iter().find_map(|check| check(&conn, &request).err()) {
            debug!(peer = %conn.peer_addr(), code, error = %refusal.remark, "request refused");
            let mut response = opaque_holder;
            response.code = refusal.code;
            response.remark = Some(refusal.remark);
            return Box::pin(async move { Some(response) });
        }
        let fut = route(conn, request);
        let metrics = self.rpc_metrics.clone();
        let started = metrics.as_ref().map(|_| std::time::Instant::now());
        Box::pin(async move {
            let response = match fut.await {
                Ok(response) => response,
                Err(e) => {
                    debug!(code, error = %e.remark, "request failed");
                    let mut response = opaque_holder;
                    response.code = e.code;
                    response.remark = Some(e.remark);
                    Some(response)
                }
            };
            if let (Some(metrics), Some(started)) = (metrics, started) {
                metrics.observe(code, response.as_ref().map(|r| r.code), started.elapsed());
            }
            response
        })
    }

    fn on_connected(&self, conn: &Connection) {
        self.on_connected.iter().for_each(|hook| hook(conn));
    }

    fn on_disconnected(&self, conn: &Connection) {
        self.on_disconnected.iter().for_each(|hook| hook(conn));
    }
}

/// The transport settings of a server, under the keys Java's `NettyServerConfig` and
/// `NettySystemConfig` use (plus `serverMaxConnections`, ours). Name server and broker
/// keep one each and hand it the keys they do not know themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// `serverSocketBacklog`: the listen queue (Java's default 1024). A short queue drops
    /// SYNs in a connection storm and the client waits a second to retry.
    pub socket_backlog: u32,
    /// `serverChannelMaxIdleTimeSeconds`: a connection with no traffic either way for this
    /// long is closed, as Java's idle handler does (0 disables).
    pub channel_max_idle_seconds: u64,
    /// `serverMaxConnections`: connections beyond this many are closed on accept.
    pub max_connections: usize,
    /// `com.rocketmq.remoting.frameMaxLength`: larger frames close the connection before
    /// anything is allocated for them.
    pub max_frame_length: usize,
    /// `serverWriteStallTimeoutSeconds` (ours): a peer that leaves its responses unread
    /// (past the 8 MiB queue) this long is disconnected.
    pub write_stall_timeout_seconds: u64,
    /// `tls.server.*`: TLS on the port (see [`crate::tls`]).
    pub tls: crate::tls::TlsSettings,
    /// NettyServerConfig's thread, selector and buffer settings: listed and kept only.
    pub netty: crate::inert::InertSettings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            socket_backlog: 1024,
            channel_max_idle_seconds: 120,
            max_connections: 65_536,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            write_stall_timeout_seconds: 30,
            tls: crate::tls::TlsSettings::default(),
            netty: crate::inert::netty_server(),
        }
    }
}

impl ServerSettings {
    /// Applies one key; Ok(false) for keys that are not transport settings.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        fn cannot_use(key: &str, value: &str) -> String {
            format!("config key {key}: cannot use {value:?}")
        }
        fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
            value.trim().parse().map_err(|_| cannot_use(key, value))
        }
        match key {
            "serverSocketBacklog" | "com.rocketmq.remoting.socket.backlog" => self.socket_backlog = num(key, value)?,
            "serverChannelMaxIdleTimeSeconds" => self.channel_max_idle_seconds = num(key, value)?,
            "serverMaxConnections" => self.max_connections = num(key, value)?,
            "frameMaxLength" | "com.rocketmq.remoting.frameMaxLength" => self.max_frame_length = num(key, value)?,
            "serverWriteStallTimeoutSeconds" => self.write_stall_timeout_seconds = num(key, value)?,
            _ => {
                let kept = self.netty.set(key, value).map_err(|_| cannot_use(key, value))?;
                if !kept {
                    return self.tls.set(key, value);
                }
            }
        }
        Ok(true)
    }

    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("serverSocketBacklog", self.socket_backlog.to_string()),
            (
                "serverChannelMaxIdleTimeSeconds",
                self.channel_max_idle_seconds.to_string(),
            ),
            ("serverMaxConnections", self.max_connections.to_string()),
            ("frameMaxLength", self.max_frame_length.to_string()),
            (
                "serverWriteStallTimeoutSeconds",
                self.write_stall_timeout_seconds.to_string(),
            ),
        ];
        pairs.extend(self.netty.pairs());
        pairs
    }

    /// What each accepted connection is held to.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_frame_length: self.max_frame_length,
            idle_timeout: (self.channel_max_idle_seconds > 0)
                .then(|| std::time::Duration::from_secs(self.channel_max_idle_seconds)),
            write_stall_timeout: std::time::Duration::from_secs(self.write_stall_timeout_seconds.max(1)),
            ..ConnectionLimits::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen_addr: SocketAddr,
    pub settings: ServerSettings,
}

impl ServerConfig {
    pub fn new(listen_addr: SocketAddr) -> Self {
        ServerConfig {
            listen_addr,
            settings: ServerSettings::default(),
        }
    }

    pub fn with_settings(mut self, settings: ServerSettings) -> Self {
        self.settings = settings;
        self
    }
}

/// Binds a listening socket with SO_REUSEADDR and the given backlog (tokio's own `bind`
/// always asks for 128).
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Raises this process's open-file limit to its hard limit: every connection is a file
/// descriptor, and the usual soft limit (1024) is far below what a broker serves.
pub fn raise_open_file_limit() {
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
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
    let listener = bind(config.listen_addr, config.settings.socket_backlog)?;
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
    let tls = match config.settings.tls.acceptor() {
        Ok(tls) => tls,
        // Enforcing TLS without a usable certificate must not quietly serve plain TCP.
        Err(e) if config.settings.tls.mode == crate::tls::TlsMode::Enforcing => {
            return Err(std::io::Error::other(format!("tls.server.mode=enforcing: {e}")));
        }
        Err(e) => {
            warn!(error = %e, "TLS is not available on this port; serving plain TCP only");
            None
        }
    };
    let shutdown = CancellationToken::new();
    let tls_mode = tls.as_ref().map_or("disabled", |t| match t.mode {
        crate::tls::TlsMode::Disabled => "disabled",
        crate::tls::TlsMode::Permissive => "permissive",
        crate::tls::TlsMode::Enforcing => "enforcing",
    });
    let task = tokio::spawn(accept_loop(listener, config, tls, handler, shutdown.clone()));
    info!(%local_addr, tls = tls_mode, "remoting server listening");
    Ok(ServerHandle {
        local_addr,
        shutdown,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    config: ServerConfig,
    tls: Option<crate::tls::TlsServer>,
    handler: Arc<dyn RequestHandler>,
    shutdown: CancellationToken,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let limits = config.settings.connection_limits();
    let max_connections = config.settings.max_connections;
    // Refusals are counted and logged at most every 10 s, so a storm does not flood the log.
    let mut refused = 0u64;
    let mut refused_logged = std::time::Instant::now() - std::time::Duration::from_secs(10);
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
        if open.load(Ordering::Relaxed) >= max_connections {
            refused += 1;
            if refused_logged.elapsed() >= std::time::Duration::from_secs(10) {
                warn!(%peer, limit = max_connections, refused, "connection limit (serverMaxConnections) reached; closing new connections");
                refused_logged = std::time::Instant::now();
                refused = 0;
            }
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (handler, limits, shutdown, open) = (handler.clone(), limits.clone(), shutdown.clone(), open.clone());
        match &tls {
            // Plain TCP only: set the connection up here, no task in between.
            None => match Connection::spawn_with(stream, handler, limits, shutdown) {
                Ok(conn) => {
                    tokio::spawn(async move {
                        conn.closed().await;
                        open.fetch_sub(1, Ordering::Relaxed);
                    });
                }
                Err(e) => {
                    open.fetch_sub(1, Ordering::Relaxed);
                    debug!(%peer, error = %e, "connection vanished before it was set up");
                }
            },
            Some(tls) => {
                let tls = tls.clone();
                tokio::spawn(async move {
                    if let Some(conn) = accept_maybe_tls(stream, peer, &tls, handler, limits, shutdown).await {
                        conn.closed().await;
                    }
                    open.fetch_sub(1, Ordering::Relaxed);
                });
            }
        }
    }
}

/// Sets up an accepted connection on a port with TLS: a connection whose first byte starts
/// a TLS handshake is TLS, any other plain, as the mode allows (Java's HandshakeHandler).
/// `None` when the connection was refused or its handshake failed.
async fn accept_maybe_tls(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: &crate::tls::TlsServer,
    handler: Arc<dyn RequestHandler>,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) -> Option<Connection> {
    use crate::tls::TlsMode;
    // Clients speak first; one that stays silent is held no longer than an idle one.
    let wait = limits.idle_timeout.unwrap_or(std::time::Duration::from_secs(120));
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        r = tokio::time::timeout(wait, stream.peek(&mut first)) => r,
        _ = shutdown.cancelled() => return None,
    };
    match peeked {
        Ok(Ok(1)) => {}
        _ => return None,
    }
    let is_tls = first[0] == crate::tls::HANDSHAKE_RECORD;
    match (is_tls, tls.mode) {
        (false, TlsMode::Enforcing) => {
            debug!(%peer, "plain connection refused: tls.server.mode=enforcing");
            None
        }
        (false, _) => Connection::spawn_with(stream, handler, limits, shutdown).ok(),
        (true, TlsMode::Disabled) => None,
        (true, _) => {
            let _ = stream.set_nodelay(true);
            match tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(stream)).await {
                Ok(Ok(session)) => Some(Connection::spawn_stream(session, peer, handler, limits, shutdown)),
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    debug!(%peer, timeout_ms = tls.handshake_timeout.as_millis() as u64, "TLS handshake timed out");
                    None
                }
            }
        }
    }
}
