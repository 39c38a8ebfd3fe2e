//! A RocketMQ-compatible name server: route tables, KV config and the request handlers of
//! Java's `DefaultRequestProcessor`, served over the remoting protocol.

pub mod config;
pub mod kv_config;
pub mod metrics;
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
    /// Route lookups answered (for the metrics endpoint).
    pub lookups: metrics::LookupCounts,
}

/// A running name server.
pub struct NameServer {
    server: ServerHandle,
    state: Arc<NamesrvState>,
    scanner: JoinHandle<()>,
    metrics_addr: Option<SocketAddr>,
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
        let metrics_bind =
            if config.prometheus_enabled() {
                Some(config.metrics_addr().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad metricsPromExporterHost")
                })?)
            } else {
                None
            };
        let state = Arc::new(NamesrvState {
            config: RwLock::new(config),
            routes: RouteInfoManager::new(),
            kv,
            lookups: metrics::LookupCounts::default(),
        });
        let mut router = processor::router(state.clone());
        let rpc = metrics_bind.map(|_| remoting::metrics::RpcMetrics::default());
        if let Some(rpc) = &rpc {
            router.record_rpc(rpc.clone());
        }
        let server = remoting::serve(ServerConfig::new(addr).with_settings(settings), Arc::new(router)).await?;
        let metrics_addr = match (metrics_bind, rpc) {
            (Some(bind), Some(rpc)) => {
                let registry = Arc::new(metrics::registry(&state, &rpc, server.local_addr().to_string()));
                Some(remoting::metrics::serve(bind, registry, server.shutdown_token()).await?)
            }
            _ => None,
        };

        let scan_state = state.clone();
        let scanner = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(scan_interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                scan_state.routes.scan_not_active_brokers();
            }
        });
        Ok(NameServer {
            server,
            state,
            scanner,
            metrics_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Where the Prometheus endpoint listens, when `metricsExporterType=PROM`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn state(&self) -> &Arc<NamesrvState> {
        &self.state
    }

    pub async fn shutdown(self) {
        self.scanner.abort();
        self.server.shutdown().await;
    }
}
