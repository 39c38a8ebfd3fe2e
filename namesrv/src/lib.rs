//! A RocketMQ-compatible name server: route tables, KV config and the request handlers of
//! Java's `DefaultRequestProcessor`, served over the remoting protocol.

pub mod config;
pub mod kv_config;
pub mod processor;
pub mod route_info;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use remoting::{ServerConfig, ServerHandle};
use tokio::task::JoinHandle;

pub use config::NamesrvConfig;
use kv_config::KvConfigManager;
use route_info::RouteInfoManager;

/// Everything the handlers share.
pub struct NamesrvState {
    pub config: RwLock<NamesrvConfig>,
    pub routes: RouteInfoManager,
    pub kv: KvConfigManager,
}

/// A running name server.
pub struct NameServer {
    server: ServerHandle,
    state: Arc<NamesrvState>,
    scanner: JoinHandle<()>,
}

impl NameServer {
    /// Loads the KV config, binds `bindAddress:listenPort` and starts serving.
    pub async fn start(config: NamesrvConfig) -> std::io::Result<NameServer> {
        let kv = KvConfigManager::load(&config.kv_config_path)?;
        let addr: SocketAddr = format!("{}:{}", config.bind_address, config.listen_port)
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad listen address: {e}")))?;
        let scan_interval = Duration::from_millis(config.scan_not_active_broker_interval.max(10));
        let settings = config.server.clone();
        let state = Arc::new(NamesrvState {
            config: RwLock::new(config),
            routes: RouteInfoManager::new(),
            kv,
        });
        let router = processor::router(state.clone());
        let server = remoting::serve(ServerConfig::new(addr).with_settings(settings), Arc::new(router)).await?;

        let scan_state = state.clone();
        let scanner = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(scan_interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                scan_state.routes.scan_not_active_brokers();
            }
        });
        Ok(NameServer { server, state, scanner })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn state(&self) -> &Arc<NamesrvState> {
        &self.state
    }

    pub async fn shutdown(self) {
        self.scanner.abort();
        self.server.shutdown().await;
    }
}
