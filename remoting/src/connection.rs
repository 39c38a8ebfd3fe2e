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

use bytes::{Buf, BytesMut};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::codec::{CodecError, RemotingCodec};
use crate::command::{RemotingCommand, FLAG_RESPONSE};
use crate::frame;

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

/// How many encoded bytes may wait for the socket before senders are made to wait.
const OUTBOUND_HIGH_WATER: usize = 8 << 20;

/// Initial read buffer of a connection.
const READ_BUFFER_START: usize = 1024;

/// What one connection may hold of the process: the frame size it may send, how long it
/// may stay silent, how long it may leave its responses unread, and how many of its
/// requests may be in progress at once.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_frame_length: usize,
    /// No traffic either way for this long closes the connection (Java's idle handler).
    pub idle_timeout: Option<Duration>,
    /// A peer whose queued responses (past the high-water mark) see no progress for this
    /// long is not reading them: the connection is closed instead of holding them.
    pub write_stall_timeout: Duration,
    /// Requests still being handled (long polls, sync flushes) beyond this many make the
    /// reader wait before it reads the next one, so a flood is held back by TCP.
    pub max_in_flight: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_frame_length: frame::DEFAULT_MAX_FRAME_LENGTH,
            idle_timeout: None,
            write_stall_timeout: Duration::from_secs(30),
            max_in_flight: 4096,
        }
    }
}

/// Milliseconds on a process-wide monotonic clock (for cheap activity stamps).
fn now_millis() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// A cheap, cloneable handle on a live connection.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    peer: SocketAddr,
    outbox: Mutex<Outbox>,
    /// Taken (and so shut down) by the writer task when the connection ends.
    socket: Mutex<Option<Arc<Socket>>>,
    /// Hands the socket to the writer task when it cannot take more bytes right now.
    wake_writer: Notify,
    /// Tells senders waiting at the high-water mark that the buffer was emptied.
    room: Notify,
    pending: Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>,
    closed: CancellationToken,
    /// `now_millis` of the last frame read or bytes written (idle detection).
    last_activity: AtomicU64,
    limits: ConnectionLimits,
}

/// Frames waiting to be written. Whoever sets `draining` (a sender, or the writer task
/// once the socket pushed back) is the only one writing, so frames keep their order;
/// everyone else just appends to `buf`.
#[derive(Default)]
struct Outbox {
    buf: BytesMut,
    /// Bytes of an earlier frame the socket did not take; they go before `buf`.
    carry: BytesMut,
    draining: bool,
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
        let limits = ConnectionLimits {
            max_frame_length,
            ..ConnectionLimits::default()
        };
        Self::spawn_with(stream, handler, limits, shutdown)
    }

    /// `spawn` with every limit given (servers use this for accepted connections).
    pub fn spawn_with(
        stream: TcpStream,
        handler: Arc<dyn RequestHandler>,
        limits: ConnectionLimits,
        shutdown: CancellationToken,
    ) -> std::io::Result<Connection> {
        let peer = stream.peer_addr()?;
        let _ = stream.set_nodelay(true);
        let (read_half, write_half) = stream.into_split();
        Ok(Self::start(
            read_half,
            Socket::Plain(write_half),
            peer,
            handler,
            limits,
            shutdown,
        ))
    }

    /// A connection over any byte stream (a TLS session): reads as `spawn_with` does, and
    /// writes through a task that owns the stream's write side.
    pub fn spawn_stream<S>(
        stream: S,
        peer: SocketAddr,
        handler: Arc<dyn RequestHandler>,
        limits: ConnectionLimits,
        shutdown: CancellationToken,
    ) -> Connection
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (read_half, write_half) = tokio::io::split(stream);
        let pipe = Arc::new(Pipe::default());
        tokio::spawn(pump(pipe.clone(), write_half));
        Self::start(
            read_half,
            Socket::Piped(PipeWriter(pipe)),
            peer,
            handler,
            limits,
            shutdown,
        )
    }

    fn start<R>(
        read_half: R,
        socket: Socket,
        peer: SocketAddr,
        handler: Arc<dyn RequestHandler>,
        limits: ConnectionLimits,
        shutdown: CancellationToken,
    ) -> Connection
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let conn = Connection {
            inner: Arc::new(Inner {
                id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
                peer,
                outbox: Mutex::new(Outbox::default()),
                socket: Mutex::new(Some(Arc::new(socket))),
                wake_writer: Notify::new(),
                room: Notify::new(),
                pending: Mutex::new(HashMap::new()),
                closed: shutdown.child_token(),
                last_activity: AtomicU64::new(now_millis()),
                limits,
            }),
        };
        let codec = RemotingCodec::new(conn.inner.limits.max_frame_length);
        tokio::spawn(write_loop(conn.clone()));
        if let Some(idle) = conn.inner.limits.idle_timeout {
            tokio::spawn(idle_watch(conn.clone(), idle));
        }
        handler.on_connected(&conn);
        // A small first buffer: idle connections are the common case (10,000 of them would
        // hold 80 MiB with FramedRead's default 8 KiB); the codec reserves ahead for frames.
        let reader = FramedRead::with_capacity(read_half, codec, READ_BUFFER_START);
        tokio::spawn(read_loop(conn.clone(), reader, handler));
        conn
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

    /// Writes a command (a response or a oneway request): straight to the socket when it
    /// takes the bytes, else queued for the writer task. Waits only when the queue is full.
    pub async fn send(&self, cmd: RemotingCommand) -> Result<(), RemotingError> {
        self.send_or_queue(cmd, true).await
    }

    /// Like `send`, but with `write_now` false leaves the bytes queued for a later
    /// [`Connection::write_queued`], so responses to pipelined requests go out in one write.
    async fn send_or_queue(&self, cmd: RemotingCommand, write_now: bool) -> Result<(), RemotingError> {
        let inner = &self.inner;
        loop {
            if self.is_closed() {
                return Err(self.closed_error());
            }
            let room = inner.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut out = inner.outbox.lock().unwrap();
                if out.buf.len() + out.carry.len() < OUTBOUND_HIGH_WATER {
                    frame::encode(&cmd, &mut out.buf);
                    if out.draining || !write_now {
                        return Ok(());
                    }
                    out.draining = true;
                    break;
                }
            }
            // Full: make sure someone is writing (queued bytes may be waiting for us).
            self.write_queued();
            if !self.wait_for(room).await {
                return Err(self.closed_error());
            }
        }
        self.write_as_drainer();
        Ok(())
    }

    /// Waits for `room` (the queue drained some): false if the connection closed first, or
    /// if nothing drained for `write_stall_timeout`, in which case it closes the connection:
    /// a peer that does not read its responses must not pin them in memory.
    async fn wait_for(&self, room: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>) -> bool {
        let inner = &self.inner;
        tokio::select! {
            _ = room => !self.is_closed(),
            _ = inner.closed.cancelled() => false,
            _ = tokio::time::sleep(inner.limits.write_stall_timeout) => {
                let queued = { let out = inner.outbox.lock().unwrap(); out.buf.len() + out.carry.len() };
                warn!(
                    peer = %inner.peer,
                    queued,
                    stalled_secs = inner.limits.write_stall_timeout.as_secs(),
                    "peer is not reading its responses; closing the connection"
                );
                self.close();
                false
            }
        }
    }

    /// Waits while the queue is above the high-water mark (the reader does, before taking
    /// another request). False when the connection closed meanwhile.
    async fn wait_below_high_water(&self) -> bool {
        loop {
            let room = self.inner.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let out = self.inner.outbox.lock().unwrap();
                if out.buf.len() + out.carry.len() < OUTBOUND_HIGH_WATER {
                    return !self.is_closed();
                }
            }
            self.write_queued();
            if !self.wait_for(room).await {
                return false;
            }
        }
    }

    /// Writes what `send_or_queue` left queued, unless someone is already writing.
    fn write_queued(&self) {
        {
            let mut out = self.inner.outbox.lock().unwrap();
            if out.draining || out.buf.is_empty() {
                return;
            }
            out.draining = true;
        }
        self.write_as_drainer();
    }

    /// Writes as the holder of the drainer role: hands the role to the writer task if the
    /// socket pushes back, and closes the connection if writing fails.
    fn write_as_drainer(&self) {
        match self.drain() {
            Ok(true) => {}
            Ok(false) => self.inner.wake_writer.notify_one(),
            Err(_) => self.close(),
        }
    }

    /// Writes queued bytes until they are all out (true) or the socket is full (false; the
    /// caller still holds the drainer role). Only the holder of the role may call this.
    fn drain(&self) -> std::io::Result<bool> {
        let inner = &self.inner;
        loop {
            let mut chunk = {
                let mut out = inner.outbox.lock().unwrap();
                if !out.carry.is_empty() {
                    std::mem::take(&mut out.carry)
                } else if !out.buf.is_empty() {
                    out.buf.split()
                } else {
                    out.draining = false;
                    return Ok(true);
                }
            };
            inner.room.notify_waiters();
            let socket = inner.socket.lock().unwrap();
            let Some(socket) = socket.as_ref() else {
                return Err(std::io::ErrorKind::NotConnected.into());
            };
            while !chunk.is_empty() {
                match socket.try_write(&chunk) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        chunk.advance(n);
                        inner.last_activity.store(now_millis(), Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        inner.outbox.lock().unwrap().carry = chunk;
                        return Ok(false);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Waits until the socket can take more bytes.
    async fn writable(&self) -> std::io::Result<()> {
        // The guard must not be held across the await.
        let socket = self.inner.socket.lock().unwrap().clone();
        match socket {
            Some(s) => s.writable().await,
            None => Err(std::io::ErrorKind::NotConnected.into()),
        }
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

/// Closes the connection once it has seen no traffic either way for `idle`, as Java's
/// `IdleStateHandler(0, 0, serverChannelMaxIdleTimeSeconds)` does. Wakes once per period.
async fn idle_watch(conn: Connection, idle: Duration) {
    let idle_ms = idle.as_millis() as u64;
    loop {
        let last = conn.inner.last_activity.load(Ordering::Relaxed);
        let quiet = now_millis().saturating_sub(last);
        if quiet >= idle_ms {
            debug!(peer = %conn.inner.peer, idle_secs = idle.as_secs(), "closing idle connection");
            conn.close();
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(idle_ms - quiet)) => {}
            _ = conn.closed() => return,
        }
    }
}

/// Where a connection's bytes go: the TCP socket itself (written without a task switch
/// while it takes them), or a pipe to a task that owns a stream's write side (TLS).
enum Socket {
    Plain(OwnedWriteHalf),
    Piped(PipeWriter),
}

impl Socket {
    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Socket::Plain(s) => s.try_write(buf),
            Socket::Piped(p) => p.try_write(buf),
        }
    }

    async fn writable(&self) -> std::io::Result<()> {
        match self {
            Socket::Plain(s) => s.writable().await,
            Socket::Piped(p) => p.writable().await,
        }
    }
}

/// How many bytes the pipe takes before it pushes back (the writer task then waits).
const PIPE_LIMIT: usize = 256 << 10;

#[derive(Default)]
struct Pipe {
    state: Mutex<PipeState>,
    /// Bytes arrived, or the writer side closed.
    data: Notify,
    /// The pump took bytes (or failed).
    room: Notify,
}

#[derive(Default)]
struct PipeState {
    buf: BytesMut,
    closed: bool,
    failed: bool,
}

/// The connection's end of a pipe; dropping it lets the pump finish and close the stream.
struct PipeWriter(Arc<Pipe>);

impl PipeWriter {
    fn try_write(&self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut st = self.0.state.lock().unwrap();
        if st.failed {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        if st.buf.len() >= PIPE_LIMIT {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        st.buf.extend_from_slice(bytes);
        drop(st);
        self.0.data.notify_one();
        Ok(bytes.len())
    }

    async fn writable(&self) -> std::io::Result<()> {
        loop {
            let room = self.0.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let st = self.0.state.lock().unwrap();
                if st.failed {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                if st.buf.len() < PIPE_LIMIT {
                    return Ok(());
                }
            }
            room.await;
        }
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().closed = true;
        self.0.data.notify_one();
    }
}

/// Moves piped bytes to the stream; at the end shuts the stream down (TLS close_notify).
async fn pump<W: AsyncWrite + Unpin>(pipe: Arc<Pipe>, mut out: W) {
    loop {
        let data = pipe.data.notified();
        tokio::pin!(data);
        data.as_mut().enable();
        let (chunk, closed) = {
            let mut st = pipe.state.lock().unwrap();
            (st.buf.split(), st.closed)
        };
        if chunk.is_empty() {
            if closed {
                let _ = out.shutdown().await;
                return;
            }
            data.await;
            continue;
        }
        pipe.room.notify_waiters();
        if out.write_all(&chunk).await.is_err() || out.flush().await.is_err() {
            pipe.state.lock().unwrap().failed = true;
            pipe.room.notify_waiters();
            return;
        }
    }
}

/// Takes over writing when a sender found the socket full, and hangs up at the end.
async fn write_loop(conn: Connection) {
    let inner = &conn.inner;
    // Whether this task holds the drainer role (see `Outbox`).
    let mut holding = false;
    'serve: loop {
        tokio::select! {
            _ = inner.wake_writer.notified() => holding = true,
            _ = inner.closed.cancelled() => break,
        }
        loop {
            match conn.drain() {
                Ok(true) => {
                    holding = false;
                    break;
                }
                Ok(false) => {
                    tokio::select! {
                        ready = conn.writable() => if ready.is_err() { break 'serve },
                        _ = inner.closed.cancelled() => break 'serve,
                    }
                }
                Err(_) => break 'serve,
            }
        }
    }
    conn.close();
    // Write out what was queued before the close (e.g. a last response), then hang up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while !holding && tokio::time::Instant::now() < deadline {
        {
            let mut out = inner.outbox.lock().unwrap();
            if !out.draining {
                out.draining = true;
                holding = true;
                break;
            }
        }
        // A sender is writing; it finishes, or hands the role over through `wake_writer`.
        tokio::select! {
            biased;
            _ = inner.wake_writer.notified() => holding = true,
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
    while holding && tokio::time::Instant::now() < deadline {
        match conn.drain() {
            Ok(false) => {
                if tokio::time::timeout_at(deadline, conn.writable()).await.is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    // Nobody writes after this; dropping the write half sends FIN.
    inner.outbox.lock().unwrap().draining = true;
    drop(inner.socket.lock().unwrap().take());
}

/// What a response must copy from its request.
struct Reply {
    oneway: bool,
    opaque: i32,
    serialize_type: crate::command::SerializeType,
}

impl Reply {
    /// `write_now` false: the reader writes it with whatever else it answers from the
    /// bytes it already has (see `read_loop`).
    async fn send(self, conn: &Connection, response: Option<RemotingCommand>, write_now: bool) {
        if let (false, Some(mut response)) = (self.oneway, response) {
            response.opaque = self.opaque;
            response.flag |= FLAG_RESPONSE;
            response.serialize_type = self.serialize_type;
            let _ = conn.send_or_queue(response, write_now).await;
        }
    }
}

/// The most requests a reader handles before it writes their answers, however fast more
/// arrive.
const WRITE_AFTER: usize = 32;

async fn read_loop<R: AsyncRead + Unpin>(
    conn: Connection,
    mut stream: FramedRead<R, RemotingCodec>,
    handler: Arc<dyn RequestHandler>,
) {
    // Requests that did not complete on their first poll (a held long poll, a send waiting
    // for its flush) stay in this task rather than each becoming a task of its own: a
    // spawned task woke an idle worker thread to steal it, a futex wake-up and two context
    // switches per held pull. They are polled here when woken, beside the reading.
    let mut in_flight: FuturesUnordered<BoxFuture<()>> = FuturesUnordered::new();
    let max_in_flight = conn.inner.limits.max_in_flight.max(1);
    // Requests handled since the last write.
    let mut unwritten = 0;
    loop {
        // A peer that sends requests but does not read the answers is held back here.
        if !conn.wait_below_high_water().await {
            break;
        }
        // Answers leave once the socket has nothing more to read right now: requests that
        // arrived while the last ones were handled are answered in the same write. The
        // read that finds nothing is the one the wait below would make anyway, so a lone
        // request costs no extra system call; a busy connection still writes every
        // WRITE_AFTER requests.
        let ready = if unwritten < WRITE_AFTER {
            stream.next().now_or_never()
        } else {
            None
        };
        let next = match ready {
            Some(next) => next,
            None => {
                conn.write_queued();
                unwritten = 0;
                tokio::select! {
                    Some(()) = in_flight.next(), if !in_flight.is_empty() => {
                        // Others that finished meanwhile go out in the same write.
                        while let Some(Some(())) = in_flight.next().now_or_never() {}
                        continue;
                    }
                    next = stream.next() => next,
                    _ = conn.inner.closed.cancelled() => break,
                }
            }
        };
        unwritten += 1;
        if next.is_some() {
            conn.inner.last_activity.store(now_millis(), Ordering::Relaxed);
        }
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
                // first poll: answer those here. The rest wait in `in_flight`, so a held
                // long poll does not stall a heartbeat that arrives behind it on the same
                // connection; at most `max_in_flight` of them at once.
                match futures::poll!(handling.as_mut()) {
                    std::task::Poll::Ready(response) => reply.send(&conn, response, false).await,
                    std::task::Poll::Pending => {
                        if in_flight.len() >= max_in_flight {
                            tokio::select! {
                                _ = in_flight.next() => {}
                                _ = conn.inner.closed.cancelled() => break,
                            }
                        }
                        let conn = conn.clone();
                        in_flight.push(Box::pin(async move {
                            let response = handling.await;
                            reply.send(&conn, response, false).await;
                        }));
                    }
                }
            }
            Some(Err(CodecError::Frame(e))) => {
                warn!(peer = %conn.inner.peer, error = %e, "closing connection after an undecodable frame");
                break;
            }
            // A reset, or the peer gone in the middle of a frame: ordinary ends of a client.
            Some(Err(CodecError::Io(e))) => {
                debug!(peer = %conn.inner.peer, error = %e, "connection read ended");
                break;
            }
            None => break,
        }
    }
    // Requests still in progress finish, as they would have as tasks of their own: their
    // handlers may have more to do than answer (the answer itself goes nowhere now).
    if !in_flight.is_empty() {
        tokio::spawn(async move { while in_flight.next().await.is_some() {} });
    }
    conn.close();
    // Fail every request still waiting for an answer on this connection.
    conn.inner.pending.lock().unwrap().clear();
    handler.on_disconnected(&conn);
}
