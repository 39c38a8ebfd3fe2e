//! Counting and reporting: messages, bytes, latencies (HDR histogram, microseconds) and
//! errors by response code; a JSON line every second and a JSON summary at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

pub struct Stats {
    started: Instant,
    message_size: u64,
    messages: AtomicU64,
    bytes: AtomicU64,
    /// Latencies since the start, and since the last per-second line.
    total: Mutex<Histogram<u64>>,
    interval: Mutex<Histogram<u64>>,
    errors: Mutex<BTreeMap<i32, u64>>,
}

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Records a latency in microseconds, clamped to the histogram's bounds.
pub(crate) fn record(h: &mut Histogram<u64>, latency: Duration) {
    let _ = h.record((latency.as_micros() as u64).clamp(1, 60_000_000));
}

pub(crate) fn percentiles(h: &Histogram<u64>) -> Value {
    let ms = |us: u64| us as f64 / 1000.0;
    json!({
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "p999_ms": ms(h.value_at_quantile(0.999)),
        "max_ms": ms(h.max()),
    })
}

impl Stats {
    /// `message_size` is used for MB/s when callers count messages only.
    pub fn new(message_size: usize) -> Stats {
        Stats {
            started: Instant::now(),
            message_size: message_size as u64,
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            total: Mutex::new(histogram()),
            interval: Mutex::new(histogram()),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    /// Latency percentiles since the start.
    pub fn latency_json(&self) -> Value {
        percentiles(&self.total.lock().unwrap())
    }

    pub fn ok(&self, messages: u64, latency: Duration) {
        self.ok_bytes(messages, messages * self.message_size, latency);
    }

    pub fn ok_bytes(&self, messages: u64, bytes: u64, latency: Duration) {
        self.messages.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        record(&mut self.total.lock().unwrap(), latency);
        record(&mut self.interval.lock().unwrap(), latency);
    }

    pub fn error(&self, code: i32) {
        *self.errors.lock().unwrap().entry(code).or_default() += 1;
    }

    pub fn errors_json(&self) -> Value {
        json!(self
            .errors
            .lock()
            .unwrap()
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect::<BTreeMap<_, _>>())
    }
}

/// Prints one JSON line a second to stderr.
pub fn start(stats: Arc<Stats>, mode: &'static str) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        let (mut last_messages, mut last_bytes) = (0, 0);
        loop {
            ticker.tick().await;
            let (messages, bytes) = (
                stats.messages.load(Ordering::Relaxed),
                stats.bytes.load(Ordering::Relaxed),
            );
            let mut interval = stats.interval.lock().unwrap();
            let mut line = json!({
                "mode": mode,
                "t": stats.started.elapsed().as_secs(),
                "tps": messages - last_messages,
                "mb_s": (bytes - last_bytes) as f64 / 1e6,
                "errors": stats.errors_json(),
            });
            line.as_object_mut()
                .unwrap()
                .extend(percentiles(&interval).as_object().unwrap().clone());
            interval.reset();
            eprintln!("{line}");
            (last_messages, last_bytes) = (messages, bytes);
        }
    })
}

/// Stops the per-second lines and prints the summary as the last line of stdout.
pub fn finish(reporter: JoinHandle<()>, stats: &Stats, mode: &str, params: Value) {
    let secs = stats.started.elapsed().as_secs_f64();
    finish_over(reporter, stats, mode, params, secs)
}

/// Like `finish`, with rates over `secs` (the measured window, when a run has a warm-up
/// or a drain its counts leave out).
pub fn finish_over(reporter: JoinHandle<()>, stats: &Stats, mode: &str, params: Value, secs: f64) {
    reporter.abort();
    let messages = stats.messages.load(Ordering::Relaxed);
    let bytes = stats.bytes.load(Ordering::Relaxed);
    let mut summary = json!({
        "summary": mode,
        "params": params,
        "seconds": secs,
        "messages": messages,
        "tps": messages as f64 / secs,
        "mb_s": bytes as f64 / 1e6 / secs,
        "errors": stats.errors_json(),
    });
    summary
        .as_object_mut()
        .unwrap()
        .extend(percentiles(&stats.total.lock().unwrap()).as_object().unwrap().clone());
    println!("{summary}");
}
