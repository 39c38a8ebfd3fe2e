//! How the store's background threads (and the broker's timer thread) sleep: until there
//! is work, or until they are stopped, rather than waking on a short tick to look.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Wakes one background thread when there is work for it. `notify` is a couple of atomic
/// operations unless the thread is actually asleep, so a put path can call it freely. A
/// notification given while the thread is awake is kept for its next `wait`.
#[derive(Default)]
pub struct Signal {
    pending: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Signal {
    pub fn notify(&self) {
        self.pending.store(true, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.cv.notify_all();
        }
    }

    /// Waits until notified or `timeout`; consumes the notification.
    pub fn wait(&self, timeout: Duration) {
        if self.pending.swap(false, Ordering::SeqCst) {
            return;
        }
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if !self.pending.load(Ordering::SeqCst) {
            let _ = self.cv.wait_timeout(g, timeout);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        self.pending.store(false, Ordering::SeqCst);
    }
}

/// Set once, at shutdown, and seen by every thread: those sleeping in `sleep` wake at once,
/// so periodic jobs can sleep their whole interval (a second, ten) and still stop promptly.
#[derive(Default)]
pub struct StopFlag {
    stopped: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl StopFlag {
    pub fn is_set(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Sets the flag; true if this call set it (false if it was set already).
    pub fn set(&self) -> bool {
        let first = !self.stopped.swap(true, Ordering::AcqRel);
        // Taking the lock orders this with a sleeper between its check and its wait.
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.cv.notify_all();
        first
    }

    /// Sleeps for `d` unless the flag is set or gets set meanwhile; true if it is set.
    pub fn sleep(&self, d: Duration) -> bool {
        let g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let (_g, _) = self
            .cv
            .wait_timeout_while(g, d, |_| !self.stopped.load(Ordering::Acquire))
            .unwrap_or_else(|e| e.into_inner());
        self.is_set()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn setting_the_flag_ends_a_long_sleep_at_once() {
        let stop = Arc::new(StopFlag::default());
        let s = stop.clone();
        let sleeper = std::thread::spawn(move || {
            let t = Instant::now();
            let stopped = s.sleep(Duration::from_secs(60));
            (stopped, t.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(stop.set());
        assert!(!stop.set(), "only the first set reports it set the flag");
        let (stopped, slept) = sleeper.join().unwrap();
        assert!(stopped);
        assert!(slept < Duration::from_secs(30), "slept {slept:?}");
        // Once set, a sleep returns without waiting.
        assert!(stop.sleep(Duration::from_secs(60)));
    }

    #[test]
    fn a_notification_given_while_awake_ends_the_next_wait() {
        let signal = Signal::default();
        signal.notify();
        let t = Instant::now();
        signal.wait(Duration::from_secs(60));
        assert!(t.elapsed() < Duration::from_secs(30));
    }
}
