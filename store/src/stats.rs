//! What the store counts about its puts, as Java's StoreStatsService counts them: messages
//! and bytes appended, failed puts, the slowest put, and two latency histograms (the
//! 13-range `putMessageDistributeTime` and the finer buckets behind `putLatency99`).
//!
//! Everything here only grows (plain atomic adds on the put path); the broker samples it
//! and works out per-second and per-minute figures from the differences.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Labels of the `putMessageDistributeTime` ranges.
pub const DISTRIBUTE_LABELS: [&str; 13] = [
    "[<=0ms]",
    "[0~10ms]",
    "[10~50ms]",
    "[50~100ms]",
    "[100~200ms]",
    "[200~500ms]",
    "[500ms~1s]",
    "[1~2s]",
    "[2~3s]",
    "[3~4s]",
    "[4~5s]",
    "[5~10s]",
    "[10s~]",
];

/// Upper bounds (ms, inclusive) of the latency buckets: 1 ms steps to 20, 2 to 50, 5 to
/// 100, 10 to 200, 50 to 500, 100 to 1000, 1 s to 10 s, then one open bucket.
pub const LATENCY_BUCKETS: [i64; 76] = latency_buckets();

const fn latency_buckets() -> [i64; 76] {
    const STEPS: [(i64, usize); 7] = [(1, 20), (2, 15), (5, 10), (10, 10), (50, 6), (100, 5), (1000, 9)];
    let mut out = [i64::MAX; 76];
    let mut at = 0;
    let mut bound = 0;
    let mut s = 0;
    while s < STEPS.len() {
        let mut i = 0;
        while i < STEPS[s].1 {
            bound += STEPS[s].0;
            out[at] = bound;
            at += 1;
            i += 1;
        }
        s += 1;
    }
    out
}

/// The `putMessageDistributeTime` range of a put that took `ms`.
fn distribute_index(ms: i64) -> usize {
    match ms {
        i64::MIN..=0 => 0,
        1..=9 => 1,
        10..=49 => 2,
        50..=99 => 3,
        100..=199 => 4,
        200..=499 => 5,
        500..=999 => 6,
        1000..=1999 => 7,
        2000..=2999 => 8,
        3000..=3999 => 9,
        4000..=4999 => 10,
        5000..=9999 => 11,
        _ => 12,
    }
}

/// The first latency bucket whose bound is at least `ms`.
fn latency_index(ms: i64) -> usize {
    LATENCY_BUCKETS.partition_point(|&bound| bound < ms)
}

pub struct PutStats {
    times_total: AtomicI64,
    size_total: AtomicI64,
    failed_times: AtomicI64,
    entire_time_max: AtomicI64,
    distribute: [AtomicU64; 13],
    latency: [AtomicU64; 76],
}

impl Default for PutStats {
    fn default() -> Self {
        PutStats {
            times_total: AtomicI64::new(0),
            size_total: AtomicI64::new(0),
            failed_times: AtomicI64::new(0),
            entire_time_max: AtomicI64::new(0),
            distribute: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl PutStats {
    /// One put that appended `msg_num` messages in `wrote_bytes` bytes (Java counts them
    /// when the CommitLog append succeeds, before any flush wait).
    pub(crate) fn appended(&self, msg_num: i32, wrote_bytes: i32) {
        self.times_total.fetch_add(msg_num as i64, Ordering::Relaxed);
        self.size_total.fetch_add(wrote_bytes as i64, Ordering::Relaxed);
    }

    /// A put's whole time, flush wait included, and whether it failed.
    pub(crate) fn finished(&self, elapsed: Duration, failed: bool) {
        let ms = elapsed.as_millis() as i64;
        if failed {
            self.failed_times.fetch_add(1, Ordering::Relaxed);
        }
        self.distribute[distribute_index(ms)].fetch_add(1, Ordering::Relaxed);
        self.latency[latency_index(ms)].fetch_add(1, Ordering::Relaxed);
        if ms > self.entire_time_max.load(Ordering::Relaxed) {
            self.entire_time_max.fetch_max(ms, Ordering::Relaxed);
        }
    }

    /// Messages appended since the store opened (`putMessageTimesTotal`).
    pub fn times_total(&self) -> i64 {
        self.times_total.load(Ordering::Relaxed)
    }
    /// Bytes appended since the store opened.
    pub fn size_total(&self) -> i64 {
        self.size_total.load(Ordering::Relaxed)
    }
    pub fn failed_times(&self) -> i64 {
        self.failed_times.load(Ordering::Relaxed)
    }
    /// The slowest put so far, in ms.
    pub fn entire_time_max(&self) -> i64 {
        self.entire_time_max.load(Ordering::Relaxed)
    }
    /// Puts per `putMessageDistributeTime` range so far.
    pub fn distribute(&self) -> [u64; 13] {
        std::array::from_fn(|i| self.distribute[i].load(Ordering::Relaxed))
    }
    /// Puts per latency bucket (`LATENCY_BUCKETS`) so far.
    pub fn latency(&self) -> [u64; 76] {
        std::array::from_fn(|i| self.latency[i].load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_javas_steps() {
        assert_eq!(&LATENCY_BUCKETS[..3], &[1, 2, 3]);
        assert_eq!(LATENCY_BUCKETS[19], 20);
        assert_eq!(LATENCY_BUCKETS[20], 22);
        assert_eq!(LATENCY_BUCKETS[34], 50);
        assert_eq!(LATENCY_BUCKETS[44], 100);
        assert_eq!(LATENCY_BUCKETS[54], 200);
        assert_eq!(LATENCY_BUCKETS[60], 500);
        assert_eq!(LATENCY_BUCKETS[65], 1000);
        assert_eq!(LATENCY_BUCKETS[74], 10_000);
        assert_eq!(LATENCY_BUCKETS[75], i64::MAX);
        assert_eq!(latency_index(0), 0);
        assert_eq!(latency_index(1), 0);
        assert_eq!(latency_index(21), 20);
        assert_eq!(latency_index(22), 20);
        assert_eq!(latency_index(20_000), 75);
    }

    /// What the store's put counting costs, clock reads included.
    #[test]
    #[ignore = "timing: cargo test --release -p rocketmq-store --lib put_stats_cost -- --ignored --nocapture"]
    fn put_stats_cost() {
        let s = PutStats::default();
        const N: u32 = 2_000_000;
        let start = std::time::Instant::now();
        for _ in 0..N {
            let begin = std::time::Instant::now();
            s.appended(1, 1200);
            s.finished(std::hint::black_box(begin).elapsed(), false);
        }
        println!("put stats: {:.1} ns/put", start.elapsed().as_nanos() as f64 / N as f64);
    }

    #[test]
    fn puts_land_in_their_ranges() {
        let s = PutStats::default();
        s.appended(3, 600);
        for ms in [0, 5, 10, 120, 12_000] {
            s.finished(Duration::from_millis(ms), ms == 10);
        }
        assert_eq!(s.times_total(), 3);
        assert_eq!(s.size_total(), 600);
        assert_eq!(s.failed_times(), 1);
        assert_eq!(s.entire_time_max(), 12_000);
        assert_eq!(s.distribute(), [1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
