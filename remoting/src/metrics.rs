//! Prometheus metrics, shared by both servers: the RPC latency histogram every router
//! feeds (RocketMQ 5's `rocketmq_rpc_latency`, by request and response code) and the HTTP
//! endpoint that serves a registry in the text format (`GET /metrics`; any other path is
//! 404, any other method 405; hyper refuses oversized requests with a 4xx).

/// The metrics crate, re-exported so both servers build their collectors on one version.
pub use prometheus_client;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::http::{HttpRequest, HttpResponse};

/// Request code, response code ("oneway" when nothing was answered) and protocol.
pub type RpcLabels = Vec<(&'static str, String)>;

type HistogramMaker = fn() -> Histogram;

fn rpc_histogram() -> Histogram {
    // Milliseconds, the bounds RocketMQ 5 uses for its RPC latency.
    Histogram::new([1.0, 3.0, 5.0, 7.0, 10.0, 100.0, 1000.0, 2000.0, 3000.0])
}

/// `rocketmq_rpc_latency` in ms.
#[derive(Clone)]
pub struct RpcMetrics {
    latency: Family<RpcLabels, Histogram, HistogramMaker>,
}

impl Default for RpcMetrics {
    fn default() -> Self {
        RpcMetrics {
            latency: Family::new_with_constructor(rpc_histogram as HistogramMaker),
        }
    }
}

impl RpcMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "rocketmq_rpc_latency",
            "Time to handle a request, by request and response code (ms)",
            self.latency.clone(),
        );
    }

    pub fn observe(&self, request_code: i32, response_code: Option<i32>, elapsed: Duration) {
        let labels = vec![
            ("protocol_type", "remoting".to_string()),
            ("request_code", request_code.to_string()),
            (
                "response_code",
                response_code.map_or_else(|| "oneway".to_string(), |c| c.to_string()),
            ),
        ];
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64() * 1000.0);
    }
}

/// The text exposition of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

/// Serves `registry` on `addr` until `shutdown` (through [`crate::http::serve`]). Returns
/// the bound address.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let handler: crate::http::Handler = Arc::new(move |req: HttpRequest| {
        let registry = registry.clone();
        Box::pin(async move { answer(&req, &registry) })
    });
    let local = crate::http::serve(addr, handler, shutdown).await?;
    info!(addr = %local, "metrics endpoint listening (GET /metrics)");
    Ok(local)
}

fn answer(req: &HttpRequest, registry: &Registry) -> HttpResponse {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/metrics") => HttpResponse::new(
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(registry),
        ),
        ("GET", _) => HttpResponse::text(404, "not found: try /metrics\n"),
        _ => HttpResponse::text(405, "only GET /metrics\n"),
    }
}
