//! The console's plot data: every `dashboardSampleInterval` (10 s) the broker's running
//! totals are read and turned into one point per series, and an hour of points is kept in
//! memory. Series: messages put per second by topic, messages pulled per second by topic
//! and by consumer group, and the lag (max offset - committed offset, over all queues) of
//! each group. Only topics and groups with traffic or offsets have series, and each chart
//! keeps at most [`MAX_SERIES`] of them, so the ring stays small at 10,000 topics.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use remoting::protocol::topic::now_millis;
use serde_json::{json, Value};

use crate::stats;
use crate::BrokerState;

/// Series kept per chart (the busiest win).
pub const MAX_SERIES: usize = 500;

/// The charts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chart {
    /// Messages stored per second, by topic.
    Put,
    /// Messages pulled per second, by topic (all groups).
    Get,
    /// Messages pulled per second, by group (all topics).
    Consume,
    /// Messages not yet committed, by group (all topics).
    Lag,
}

impl Chart {
    pub const ALL: [Chart; 4] = [Chart::Put, Chart::Get, Chart::Consume, Chart::Lag];

    pub fn name(self) -> &'static str {
        match self {
            Chart::Put => "put",
            Chart::Get => "get",
            Chart::Consume => "consume",
            Chart::Lag => "lag",
        }
    }

    pub fn parse(s: &str) -> Option<Chart> {
        Chart::ALL.into_iter().find(|c| c.name() == s)
    }

    pub fn title(self) -> &'static str {
        match self {
            Chart::Put => "Put rate by topic (messages/s)",
            Chart::Get => "Get rate by topic (messages/s)",
            Chart::Consume => "Consume rate by group (messages/s)",
            Chart::Lag => "Lag by consumer group (messages)",
        }
    }

    fn is_rate(self) -> bool {
        self != Chart::Lag
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One chart's series, aligned with the ring's times (NaN: no value then).
#[derive(Default)]
struct Series {
    by_key: BTreeMap<String, VecDeque<f64>>,
}

#[derive(Default)]
struct Ring {
    times: VecDeque<i64>,
    charts: [Series; 4],
    /// Running totals at the last sample: topic puts, topic@group gets.
    last_put: HashMap<String, i64>,
    last_get: HashMap<String, i64>,
    last_at: Option<i64>,
}

/// An hour of samples.
pub struct Samples {
    interval_ms: i64,
    capacity: usize,
    ring: Mutex<Ring>,
}

/// What one chart holds, ready to draw.
#[derive(Debug, Clone, Default)]
pub struct ChartData {
    pub times: Vec<i64>,
    /// (key, values aligned with `times`; NaN where absent), busiest first.
    pub series: Vec<(String, Vec<f64>)>,
}

impl ChartData {
    /// The newest value of `key`, if it has one.
    pub fn latest(&self, key: &str) -> Option<f64> {
        self.series
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.last().copied())
            .filter(|v| v.is_finite())
    }
}

impl Samples {
    pub fn new(interval_ms: u64) -> Samples {
        let interval_ms = interval_ms.max(100) as i64;
        Samples {
            interval_ms,
            capacity: (3_600_000 / interval_ms).clamp(2, 36_000) as usize,
            ring: Mutex::new(Ring::default()),
        }
    }

    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Takes one sample of `state` (the first call only records the totals).
    pub fn sample(&self, state: &BrokerState) {
        let now = now_millis();
        let puts: HashMap<String, i64> = totals(state, stats::TOPIC_PUT_NUMS);
        let gets: HashMap<String, i64> = totals(state, stats::GROUP_GET_NUMS);
        let mut lag: BTreeMap<String, f64> = BTreeMap::new();
        for (topic, group, committed) in state.offsets.all() {
            let behind: i64 = committed
                .iter()
                .map(|(q, c)| (state.store.max_offset_in_queue(&topic, *q) - c).max(0))
                .sum();
            *lag.entry(group).or_default() += behind as f64;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let Some(last_at) = ring.last_at else {
            ring.last_put = puts;
            ring.last_get = gets;
            ring.last_at = Some(now);
            return;
        };
        let seconds = ((now - last_at).max(1)) as f64 / 1000.0;
        let rate = |total: i64, before: Option<&i64>| (total - before.copied().unwrap_or(0)).max(0) as f64 / seconds;
        let mut put_rates = BTreeMap::new();
        for (topic, total) in &puts {
            put_rates.insert(topic.clone(), rate(*total, ring.last_put.get(topic)));
        }
        let mut get_rates: BTreeMap<String, f64> = BTreeMap::new();
        let mut consume_rates: BTreeMap<String, f64> = BTreeMap::new();
        for (key, total) in &gets {
            let Some((topic, group)) = key.split_once('@') else {
                continue;
            };
            let r = rate(*total, ring.last_get.get(key));
            *get_rates.entry(topic.to_string()).or_default() += r;
            *consume_rates.entry(group.to_string()).or_default() += r;
        }
        ring.last_put = puts;
        ring.last_get = gets;
        ring.last_at = Some(now);
        ring.times.push_back(now);
        let len = ring.times.len();
        let capacity = self.capacity;
        for (chart, values) in [
            (Chart::Put, put_rates),
            (Chart::Get, get_rates),
            (Chart::Consume, consume_rates),
            (Chart::Lag, lag),
        ] {
            push(&mut ring.charts[chart.index()], chart, values, len, capacity);
        }
        if ring.times.len() > capacity {
            ring.times.pop_front();
        }
    }

    /// A chart's data, its busiest `limit` series (or only `only`, when given).
    pub fn chart(&self, chart: Chart, limit: usize, only: Option<&str>) -> ChartData {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let mut series: Vec<(String, Vec<f64>)> = ring.charts[chart.index()]
            .by_key
            .iter()
            .filter(|(k, _)| only.is_none_or(|o| o == k.as_str()))
            .map(|(k, v)| (k.clone(), v.iter().copied().collect()))
            .collect();
        let peak = |v: &[f64]| v.iter().copied().filter(|x| x.is_finite()).fold(0.0, f64::max);
        series.sort_by(|a, b| peak(&b.1).total_cmp(&peak(&a.1)).then_with(|| a.0.cmp(&b.0)));
        series.truncate(limit);
        ChartData {
            times: ring.times.iter().copied().collect(),
            series,
        }
    }

    /// Every chart as JSON: `{"intervalMs", "times": [...], "charts": {"put": {"title",
    /// "series": {key: [values, null where absent]}}, ...}}`.
    pub fn to_json(&self, limit: usize, only: Option<&str>) -> Value {
        let mut charts = serde_json::Map::new();
        let mut times = Vec::new();
        for chart in Chart::ALL {
            let data = self.chart(chart, limit, only);
            let series: serde_json::Map<String, Value> = data
                .series
                .iter()
                .map(|(k, v)| {
                    let values: Vec<Value> = v
                        .iter()
                        .map(|x| {
                            if x.is_finite() {
                                json!((x * 1000.0).round() / 1000.0)
                            } else {
                                Value::Null
                            }
                        })
                        .collect();
                    (k.clone(), Value::Array(values))
                })
                .collect();
            charts.insert(
                chart.name().to_string(),
                json!({ "title": chart.title(), "series": series }),
            );
            times = data.times;
        }
        json!({ "intervalMs": self.interval_ms, "times": times, "charts": charts })
    }
}

fn totals(state: &BrokerState, set: &str) -> HashMap<String, i64> {
    state
        .stats
        .set(set)
        .map(|s| s.totals())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Appends this sample's values to a chart: keys absent now get 0 (rates) or NaN (lag),
/// new keys are padded with NaN; series with nothing left to show are dropped.
fn push(series: &mut Series, chart: Chart, mut values: BTreeMap<String, f64>, len: usize, capacity: usize) {
    for (key, v) in series.by_key.iter_mut() {
        let x = values
            .remove(key)
            .unwrap_or(if chart.is_rate() { 0.0 } else { f64::NAN });
        v.push_back(x);
    }
    for (key, x) in values {
        if series.by_key.len() >= MAX_SERIES && (x == 0.0 || !x.is_finite()) {
            continue;
        }
        let mut v: VecDeque<f64> = std::iter::repeat_n(f64::NAN, len.saturating_sub(1)).collect();
        v.push_back(x);
        series.by_key.insert(key, v);
    }
    for v in series.by_key.values_mut() {
        while v.len() > capacity.min(len) {
            v.pop_front();
        }
    }
    series
        .by_key
        .retain(|_, v| v.iter().any(|x| x.is_finite() && (!chart.is_rate() || *x != 0.0)));
    if series.by_key.len() > MAX_SERIES {
        let peak = |v: &VecDeque<f64>| v.iter().copied().filter(|x| x.is_finite()).fold(0.0, f64::max);
        let mut peaks: Vec<(f64, String)> = series.by_key.iter().map(|(k, v)| (peak(v), k.clone())).collect();
        peaks.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, key) in peaks.into_iter().skip(MAX_SERIES) {
            series.by_key.remove(&key);
        }
    }
}

/// Samples `state` every interval until the broker stops.
pub async fn run(state: Arc<BrokerState>, samples: Arc<Samples>) {
    let period = Duration::from_millis(samples.interval_ms as u64);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        samples.sample(&state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_stay_aligned_and_bounded() {
        let mut s = Series::default();
        let capacity = 3;
        for (i, len) in (1..=5).enumerate() {
            let mut values = BTreeMap::new();
            values.insert("a".to_string(), 1.0 + i as f64);
            if i >= 2 {
                values.insert("b".to_string(), 5.0);
            }
            push(&mut s, Chart::Put, values, len.min(capacity), capacity);
        }
        assert_eq!(s.by_key["a"], VecDeque::from(vec![3.0, 4.0, 5.0]));
        assert_eq!(s.by_key["b"], VecDeque::from(vec![5.0, 5.0, 5.0]));
        // A rate series that went quiet for the whole window is dropped.
        for _ in 0..3 {
            push(&mut s, Chart::Put, BTreeMap::new(), capacity, capacity);
        }
        assert!(s.by_key.is_empty());
    }
}
