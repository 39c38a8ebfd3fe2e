//! The broker's Prometheus metrics (`metricsExporterType=PROM`, `metricsPromExporterPort`),
//! named and labelled as RocketMQ 5's OpenTelemetry metrics. Everything but the RPC
//! latency histogram is read at scrape time from the state the admin codes report, so the
//! send and pull paths pay nothing for it:
//!
//! * `rocketmq_messages_in_total`, `rocketmq_throughput_in_total` {topic}: messages and bytes
//!   stored (the TOPIC_PUT_NUMS / TOPIC_PUT_SIZE statistics);
//! * `rocketmq_messages_out_total`, `rocketmq_throughput_out_total` {topic, consumer_group}:
//!   messages and bytes pulled (GROUP_GET_NUMS / GROUP_GET_SIZE);
//! * `rocketmq_consumer_lag_messages`, `rocketmq_consumer_inflight_messages`,
//!   `rocketmq_consumer_ready_messages` {topic, consumer_group}: max - committed,
//!   pulled - committed, max - pulled, summed over the topic's queues;
//! * `rocketmq_producer_connections`, `rocketmq_consumer_connections` {group, language, version};
//! * `rocketmq_topic_number`, `rocketmq_consumer_group_number`, `rocketmq_broker_permission`;
//! * `rocketmq_storage_size`, `rocketmq_storage_flush_behind_bytes`,
//!   `rocketmq_storage_dispatch_behind_bytes`, `rocketmq_storage_message_reserve_time` (ms);
//! * `rocketmq_rpc_latency` {request_code, response_code} (ms), fed by the router.
//!
//! Every series carries `cluster`, `node_type="broker"` and `node_id` (the broker's address).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use remoting::metrics::prometheus_client::collector::Collector;
use remoting::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use remoting::metrics::prometheus_client::metrics::counter::ConstCounter;
use remoting::metrics::prometheus_client::metrics::gauge::ConstGauge;
use remoting::metrics::prometheus_client::metrics::MetricType;
use remoting::metrics::prometheus_client::registry::Registry;
use remoting::metrics::RpcMetrics;
use remoting::protocol::topic::now_millis;

use crate::stats;
use crate::BrokerState;

type Labels = Vec<(&'static str, String)>;

/// Reads the broker's state on each scrape.
#[derive(Debug)]
struct BrokerCollector {
    state: Weak<BrokerState>,
}

/// A registry with the broker's collector and the router's RPC histogram.
pub fn registry(state: &Arc<BrokerState>, rpc: &RpcMetrics) -> Registry {
    let labels = [
        ("cluster", state.config.broker_cluster_name.clone()),
        ("node_type", "broker".to_string()),
        ("node_id", state.config.broker_addr()),
    ]
    .map(|(k, v)| (std::borrow::Cow::Borrowed(k), std::borrow::Cow::Owned(v)));
    let mut registry = Registry::with_labels(labels.into_iter());
    rpc.register(&mut registry);
    registry.register_collector(Box::new(BrokerCollector {
        state: Arc::downgrade(state),
    }));
    registry
}

fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    series: impl IntoIterator<Item = (Labels, M)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in series {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), std::fmt::Error> {
    family(
        encoder,
        name,
        help,
        MetricType::Gauge,
        [(Labels::new(), ConstGauge::new(value))],
    )
}

/// A statistic's totals as counters, its key split into labels by `split`.
fn stat_counters(
    state: &BrokerState,
    set: &str,
    split: impl Fn(&str) -> Option<Labels>,
) -> Vec<(Labels, ConstCounter<u64>)> {
    let mut rows: Vec<(Labels, ConstCounter<u64>)> = state
        .stats
        .set(set)
        .map(|s| s.totals())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, total)| Some((split(&key)?, ConstCounter::new(total.max(0) as u64))))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

fn by_topic(key: &str) -> Option<Labels> {
    Some(vec![("topic", key.to_string())])
}

fn by_topic_and_group(key: &str) -> Option<Labels> {
    let (topic, group) = key.split_once('@')?;
    Some(vec![
        ("topic", topic.to_string()),
        ("consumer_group", group.to_string()),
    ])
}

impl Collector for BrokerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(state) = self.state.upgrade() else {
            return Ok(());
        };
        let e = &mut encoder;
        family(
            e,
            "rocketmq_messages_in", // the encoder adds _total
            "Messages stored, by topic",
            MetricType::Counter,
            stat_counters(&state, stats::TOPIC_PUT_NUMS, by_topic),
        )?;
        family(
            e,
            "rocketmq_throughput_in",
            "Bytes of messages stored, by topic",
            MetricType::Counter,
            stat_counters(&state, stats::TOPIC_PUT_SIZE, by_topic),
        )?;
        family(
            e,
            "rocketmq_messages_out",
            "Messages delivered to consumers, by topic and group",
            MetricType::Counter,
            stat_counters(&state, stats::GROUP_GET_NUMS, by_topic_and_group),
        )?;
        family(
            e,
            "rocketmq_throughput_out",
            "Bytes of messages delivered to consumers, by topic and group",
            MetricType::Counter,
            stat_counters(&state, stats::GROUP_GET_SIZE, by_topic_and_group),
        )?;

        // Lag, in-flight and ready messages of every group with committed offsets.
        let mut lag = BTreeMap::new();
        for (topic, group, committed) in state.offsets.all() {
            let (mut behind, mut inflight, mut ready) = (0i64, 0i64, 0i64);
            for (queue_id, commit) in committed {
                let max = state.store.max_offset_in_queue(&topic, queue_id);
                let pulled = state
                    .offsets
                    .pulled_offset(&group, &topic, queue_id)
                    .unwrap_or(commit)
                    .max(commit);
                behind += (max - commit).max(0);
                inflight += (pulled - commit).max(0);
                ready += (max - pulled).max(0);
            }
            lag.insert((topic, group), (behind, inflight, ready));
        }
        let rows = |pick: fn(&(i64, i64, i64)) -> i64| {
            lag.iter()
                .map(|((topic, group), v)| {
                    (
                        vec![("topic", topic.clone()), ("consumer_group", group.clone())],
                        ConstGauge::new(pick(v)),
                    )
                })
                .collect::<Vec<_>>()
        };
        family(
            e,
            "rocketmq_consumer_lag_messages",
            "Messages not yet committed by the group (max offset - committed offset)",
            MetricType::Gauge,
            rows(|v| v.0),
        )?;
        family(
            e,
            "rocketmq_consumer_inflight_messages",
            "Messages pulled but not yet committed",
            MetricType::Gauge,
            rows(|v| v.1),
        )?;
        family(
            e,
            "rocketmq_consumer_ready_messages",
            "Messages not yet pulled",
            MetricType::Gauge,
            rows(|v| v.2),
        )?;

        let connection_rows = |groups: Vec<(String, Vec<crate::client_manager::ClientConnectionInfo>)>,
                               label: &'static str| {
            let mut counts: BTreeMap<(String, String, i32), i64> = BTreeMap::new();
            for (group, conns) in groups {
                for c in conns {
                    *counts
                        .entry((group.clone(), c.language.clone(), c.version))
                        .or_default() += 1;
                }
            }
            counts
                .into_iter()
                .map(|((group, language, version), n)| {
                    (
                        vec![(label, group), ("language", language), ("version", version.to_string())],
                        ConstGauge::new(n),
                    )
                })
                .collect::<Vec<_>>()
        };
        let producers: Vec<_> = state.clients.producer_table().into_iter().collect();
        family(
            e,
            "rocketmq_producer_connections",
            "Producer connections, by group, language and version",
            MetricType::Gauge,
            connection_rows(producers, "producer_group"),
        )?;
        let consumers: Vec<_> = state
            .clients
            .consumer_group_names()
            .into_iter()
            .filter_map(|g| {
                let view = state.clients.consumer_group_view(&g)?;
                Some((g, view.connections))
            })
            .collect();
        family(
            e,
            "rocketmq_consumer_connections",
            "Consumer connections, by group, language and version",
            MetricType::Gauge,
            connection_rows(consumers, "consumer_group"),
        )?;

        gauge(
            e,
            "rocketmq_topic_number",
            "Topics on this broker",
            state.topics.topic_names().len() as i64,
        )?;
        gauge(
            e,
            "rocketmq_consumer_group_number",
            "Subscription groups on this broker",
            state.groups.names().len() as i64,
        )?;
        gauge(
            e,
            "rocketmq_broker_permission",
            "The broker's permission bits (brokerPermission)",
            state.live().broker_permission as i64,
        )?;

        let store = &state.store;
        gauge(
            e,
            "rocketmq_storage_size",
            "Bytes of CommitLog kept",
            (store.max_commit_log_offset() - store.min_commit_log_offset()).max(0),
        )?;
        gauge(
            e,
            "rocketmq_storage_flush_behind_bytes",
            "CommitLog bytes written but not yet flushed",
            store.remain_to_flush(),
        )?;
        gauge(
            e,
            "rocketmq_storage_dispatch_behind_bytes",
            "CommitLog bytes not yet indexed in ConsumeQueues",
            (store.max_commit_log_offset() - store.dispatched_offset()).max(0),
        )?;
        let earliest = store.earliest_message_time_in_store();
        gauge(
            e,
            "rocketmq_storage_message_reserve_time",
            "How old the oldest stored message is (ms)",
            if earliest > 0 {
                (now_millis() - earliest).max(0)
            } else {
                0
            },
        )?;
        Ok(())
    }
}
