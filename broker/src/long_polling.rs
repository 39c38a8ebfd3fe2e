//! Pulls that found nothing wait here (Java's PullRequestHoldService) until their queue gets
//! a message or their suspend timeout passes.

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::Notify;

#[derive(Default)]
pub struct PullRequestHold {
    queues: DashMap<(String, i32), Arc<Notify>>,
}

impl PullRequestHold {
    /// The wake-up signal of one queue.
    pub fn signal(&self, topic: &str, queue_id: i32) -> Arc<Notify> {
        if let Some(n) = self.queues.get(&(topic.to_string(), queue_id)) {
            return n.clone();
        }
        self.queues.entry((topic.to_string(), queue_id)).or_default().clone()
    }

    /// Called by the store when a message lands in a queue.
    pub fn message_arrived(&self, topic: &str, queue_id: i32) {
        if let Some(n) = self.queues.get(&(topic.to_string(), queue_id)) {
            n.notify_waiters();
        }
    }
}
