//! LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42): queue locks for orderly consumers.

use std::sync::Arc;

use remoting::protocol::lock::{LockBatchRequestBody, LockBatchResponseBody, UnlockBatchRequestBody};
use remoting::{fastjson, Connection, HandlerError, HandlerResult, RemotingCommand};

use crate::BrokerState;

fn body<T: serde::de::DeserializeOwned>(req: &RemotingCommand, what: &str) -> Result<T, HandlerError> {
    fastjson::from_slice(&req.body).map_err(|e| HandlerError::system(format!("bad {what} body: {e}")))
}

pub async fn lock_batch_mq(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let ask: LockBatchRequestBody = body(&req, "LockBatchRequestBody")?;
    let locked = state
        .rebalance_locks
        .try_lock_batch(&ask.consumer_group, &ask.mq_set, &ask.client_id);
    let answer = LockBatchResponseBody { lock_ok_mq_set: locked };
    let json = serde_json::to_vec(&answer).map_err(|e| HandlerError::system(e.to_string()))?;
    Ok(Some(RemotingCommand::success(&req).with_body(json)))
}

pub async fn unlock_batch_mq(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let ask: UnlockBatchRequestBody = body(&req, "UnlockBatchRequestBody")?;
    state
        .rebalance_locks
        .unlock_batch(&ask.consumer_group, &ask.mq_set, &ask.client_id);
    Ok(Some(RemotingCommand::success(&req)))
}
