//! Pulls that found nothing wait here (Java's PullRequestHoldService) until their queue gets
//! a message or their suspend timeout passes.

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::Notify;

/// Keyed by topic, then a short list by queue id: every stored message looks its queue up
/// here, and a topic name borrowed from the message finds it without building a key.
#[derive(Default)]
pub struct PullRequestHold {
    topics: DashMap<String, Vec<(i32, Arc<Notify>)>>,
}

impl PullRequestHold {
    /// The wake-up signal of one queue.
    pub fn signal(&self, topic: &str, queue_id: i32) -> Arc<Notify> {
        if let Some(found) = self.topics.get(topic).and_then(|queues| find(&queues, queue_id)) {
            return found;
        }
        let mut queues = self.topics.entry(topic.to_string()).or_default();
        if let Some(found) = find(&queues, queue_id) {
            return found;
        }
        let signal = Arc::new(Notify::new());
        queues.push((queue_id, signal.clone()));
        signal
    }

    /// Called by the store when a message lands in a queue.
    pub fn message_arrived(&self, topic: &str, queue_id: i32) {
        if let Some(signal) = self.topics.get(topic).and_then(|queues| find(&queues, queue_id)) {
            signal.notify_waiters();
        }
    }
}

fn find(queues: &[(i32, Arc<Notify>)], queue_id: i32) -> Option<Arc<Notify>> {
    queues
        .iter()
        .find(|(id, _)| *id == queue_id)
        .map(|(_, signal)| signal.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_arrival_wakes_only_the_pulls_of_its_queue() {
        let hold = PullRequestHold::default();
        let q0 = hold.signal("T", 0);
        let q1 = hold.signal("T", 1);
        assert!(Arc::ptr_eq(&q0, &hold.signal("T", 0)));
        assert!(!Arc::ptr_eq(&q0, &q1));
        let (w0, w1) = (q0.notified(), q1.notified());
        tokio::pin!(w0, w1);
        w0.as_mut().enable();
        w1.as_mut().enable();
        hold.message_arrived("T", 1);
        hold.message_arrived("Other", 0);
        let woke = |w: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>| {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            std::future::Future::poll(w, &mut cx).is_ready()
        };
        assert!(woke(w1.as_mut()));
        assert!(!woke(w0.as_mut()));
    }
}
