//! The name server's Prometheus metrics (`metricsExporterType=PROM`,
//! `metricsPromExporterPort`), served by the same endpoint code as the broker's
//! ([`remoting::metrics::serve`]). Read at scrape time from the route tables:
//!
//! * `rocketmq_namesrv_clusters`, `rocketmq_namesrv_broker_names`, `rocketmq_namesrv_brokers`
//!   (live broker addresses, masters and slaves), `rocketmq_namesrv_topics`;
//! * `rocketmq_namesrv_route_lookups_total` {result="found"|"not_found"}: GET_ROUTEINFO_BY_TOPIC
//!   answers;
//! * `rocketmq_rpc_latency` {request_code, response_code} (ms): every request, fed by the router
//!   (its `_count` is the number of requests per code).
//!
//! Every series carries `node_type="namesrv"` and `node_id` (the listening address).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use remoting::metrics::prometheus_client::collector::Collector;
use remoting::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use remoting::metrics::prometheus_client::metrics::counter::ConstCounter;
use remoting::metrics::prometheus_client::metrics::gauge::ConstGauge;
use remoting::metrics::prometheus_client::metrics::MetricType;
use remoting::metrics::prometheus_client::registry::Registry;
use remoting::metrics::RpcMetrics;

use crate::NamesrvState;

/// Route lookups answered, found or not.
#[derive(Debug, Default)]
pub struct LookupCounts {
    pub found: AtomicU64,
    pub miss: AtomicU64,
}

#[derive(Debug)]
struct NamesrvCollector {
    state: Weak<NamesrvState>,
}

/// A registry with the route-table collector and the router's RPC histogram.
pub fn registry(state: &Arc<NamesrvState>, rpc: &RpcMetrics, node_id: String) -> Registry {
    let labels = [("node_type", "namesrv".to_string()), ("node_id", node_id)]
        .map(|(k, v)| (std::borrow::Cow::Borrowed(k), std::borrow::Cow::Owned(v)));
    let mut registry = Registry::with_labels(labels.into_iter());
    rpc.register(&mut registry);
    registry.register_collector(Box::new(NamesrvCollector {
        state: Arc::downgrade(state),
    }));
    registry
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: usize) -> Result<(), std::fmt::Error> {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value as i64).encode(metric.encode_family(&Vec::<(&str, String)>::new())?)
}

impl Collector for NamesrvCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(state) = self.state.upgrade() else {
            return Ok(());
        };
        let e = &mut encoder;
        let c = state.routes.counts();
        gauge(
            e,
            "rocketmq_namesrv_clusters",
            "Clusters with registered brokers",
            c.clusters,
        )?;
        gauge(
            e,
            "rocketmq_namesrv_broker_names",
            "Broker names (master/slave groups) registered",
            c.broker_names,
        )?;
        gauge(
            e,
            "rocketmq_namesrv_brokers",
            "Live broker addresses (masters and slaves)",
            c.brokers,
        )?;
        gauge(e, "rocketmq_namesrv_topics", "Topics with routes", c.topics)?;
        // The encoder adds _total.
        let mut metric = e.encode_descriptor(
            "rocketmq_namesrv_route_lookups",
            "GET_ROUTEINFO_BY_TOPIC requests answered, by result",
            None,
            MetricType::Counter,
        )?;
        for (result, n) in [
            ("found", state.lookups.found.load(Ordering::Relaxed)),
            ("not_found", state.lookups.miss.load(Ordering::Relaxed)),
        ] {
            ConstCounter::new(n).encode(metric.encode_family(&vec![("result", result.to_string())])?)?;
        }
        Ok(())
    }
}
