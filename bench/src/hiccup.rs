//! A pause meter in the style of jHiccup: a plain OS thread asks to sleep 1 ms, over and
//! over, and records how late it wakes up. Nothing else runs on it, so a late wake-up is
//! time the machine (scheduler, hypervisor, interrupts) did not give this process. On a
//! shared VM that sets a floor under any millisecond-scale latency a benchmark reports.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::Value;

const TICK: Duration = Duration::from_millis(1);

pub struct PauseMeter {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Histogram<u64>>,
}

impl PauseMeter {
    pub fn start() -> PauseMeter {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pause-meter".into())
            .spawn(move || {
                let mut late = crate::report::histogram();
                while !flag.load(Ordering::Relaxed) {
                    let asked = Instant::now();
                    std::thread::sleep(TICK);
                    crate::report::record(&mut late, asked.elapsed().saturating_sub(TICK));
                }
                late
            })
            .expect("spawn pause meter thread");
        PauseMeter { stop, thread }
    }

    /// Stops the thread; percentiles of how late its 1 ms sleeps ended.
    pub fn finish(self) -> Value {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.join() {
            Ok(h) => crate::report::percentiles(&h),
            Err(_) => Value::Null,
        }
    }
}
