//! The client side: one connection per address, opened on first use and reopened after it
//! closes; requests matched to responses by opaque.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::command::RemotingCommand;
use crate::connection::{Connection, IgnoreRequests, RemotingError, RequestHandler};
use crate::frame::DEFAULT_MAX_FRAME_LENGTH;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub max_frame_length: usize,
    /// Outbound TLS (`tls.enable`, `tls.client.*`).
    pub tls: crate::tls::TlsClientSettings,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(3),
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            tls: crate::tls::TlsClientSettings::default(),
        }
    }
}

pub struct RemotingClient {
    config: ClientConfig,
    /// Answers requests the server sends us (a broker pushes to its clients).
    handler: Arc<dyn RequestHandler>,
    connections: Mutex<HashMap<String, Connection>>,
    shutdown: CancellationToken,
    /// Built once from `config.tls`; `Err` keeps the reason a TLS client cannot connect.
    tls: Result<Option<tokio_rustls::TlsConnector>, String>,
}

impl Default for RemotingClient {
    fn default() -> Self {
        Self::new(ClientConfig::default(), Arc::new(IgnoreRequests))
    }
}

impl RemotingClient {
    pub fn new(config: ClientConfig, handler: Arc<dyn RequestHandler>) -> Self {
        RemotingClient {
            tls: config.tls.connector(),
            config,
            handler,
            connections: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
        }
    }

    /// The open connection to `addr` ("host:port"), connecting if there is none.
    pub async fn connection(&self, addr: &str) -> Result<Connection, RemotingError> {
        let mut connections = self.connections.lock().await;
        if let Some(conn) = connections.get(addr) {
            if !conn.is_closed() {
                return Ok(conn.clone());
            }
        }
        let connect_failed = |reason: String| RemotingError::ConnectFailed {
            addr: addr.to_string(),
            reason,
        };
        let connector = self.tls.as_ref().map_err(|e| connect_failed(e.clone()))?;
        let conn = match connector {
            None => {
                let stream = tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(addr))
                    .await
                    .map_err(|_| connect_failed("timed out".into()))?
                    .map_err(|e| connect_failed(e.to_string()))?;
                Connection::spawn(
                    stream,
                    self.handler.clone(),
                    self.config.max_frame_length,
                    self.shutdown.child_token(),
                )
                .map_err(|e| connect_failed(e.to_string()))?
            }
            Some(connector) => {
                let session = tokio::time::timeout(self.config.connect_timeout, crate::tls::connect(connector, addr))
                    .await
                    .map_err(|_| connect_failed("timed out".into()))?
                    .map_err(|e| connect_failed(format!("TLS: {e}")))?;
                let peer = session
                    .get_ref()
                    .0
                    .peer_addr()
                    .map_err(|e| connect_failed(e.to_string()))?;
                let limits = crate::connection::ConnectionLimits {
                    max_frame_length: self.config.max_frame_length,
                    ..Default::default()
                };
                Connection::spawn_stream(session, peer, self.handler.clone(), limits, self.shutdown.child_token())
            }
        };
        connections.insert(addr.to_string(), conn.clone());
        Ok(conn)
    }

    pub async fn invoke(
        &self,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        let conn = self.connection(addr).await?;
        conn.request(request, timeout).await
    }

    pub async fn invoke_oneway(&self, addr: &str, request: RemotingCommand) -> Result<(), RemotingError> {
        let conn = self.connection(addr).await?;
        conn.oneway(request).await
    }

    /// Closes the connection to `addr`, if any.
    pub async fn close(&self, addr: &str) {
        if let Some(conn) = self.connections.lock().await.remove(addr) {
            conn.close();
        }
    }

    /// Closes every connection.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for RemotingClient {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
