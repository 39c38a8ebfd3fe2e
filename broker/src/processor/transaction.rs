//! END_TRANSACTION (37): a producer commits or rolls back a half message, on its own or
//! answering the broker's CHECK_TRANSACTION_STATE (`fromTransactionCheck`). Oneway: Java's
//! answer is built and never sent, so refusals are only logged.
//!
//! RESUME_CHECK_HALF_MESSAGE (323), an admin code (Java's AdminBrokerProcessor): a half
//! message is put back in the half queue with its check count reset, to be checked again.

use std::sync::Arc;

use remoting::code::response;
use remoting::header::admin::ResumeCheckHalfMessageRequestHeader;
use remoting::header::broker::EndTransactionRequestHeader;
use remoting::{Connection, HandlerResult, RemotingCommand};
use store::codec::sys_flag;
use tracing::{debug, warn};

use crate::transaction;
use crate::BrokerState;

pub async fn end_transaction(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: EndTransactionRequestHeader = req.decode_header()?;
    let commit = match h.commit_or_rollback {
        sys_flag::TRANSACTION_COMMIT_TYPE => true,
        sys_flag::TRANSACTION_ROLLBACK_TYPE => false,
        // UNKNOW (0) and anything else: nothing to do; the check service will ask.
        other => {
            debug!(group = %h.producer_group, msg_id = %h.msg_id, state = other, "transaction left pending");
            return Ok(None);
        }
    };
    let outcome = transaction::end(
        &state,
        &h.producer_group,
        h.tran_state_table_offset,
        h.commit_log_offset,
        commit,
    )
    .await;
    match outcome {
        Ok(()) => Ok(Some(RemotingCommand::success(&req))),
        Err(e) => {
            warn!(
                group = %h.producer_group,
                msg_id = %h.msg_id,
                commit_log_offset = h.commit_log_offset,
                from_check = h.from_transaction_check.unwrap_or(false),
                "END_TRANSACTION not applied: {}",
                e.remark()
            );
            Ok(Some(RemotingCommand::response_to(
                &req,
                response::SYSTEM_ERROR,
                Some(e.remark()),
            )))
        }
    }
}

pub async fn resume_check_half_message(
    state: Arc<BrokerState>,
    _conn: Connection,
    req: RemotingCommand,
) -> HandlerResult {
    let h: ResumeCheckHalfMessageRequestHeader = req.decode_header()?;
    match transaction::resume_check(&state, h.msg_id.as_deref()).await {
        // Java answers SUCCESS with a null remark.
        Ok(_) => Ok(Some(RemotingCommand::success(&req))),
        Err(e) => {
            warn!(msg_id = ?h.msg_id, error = ?e, "RESUME_CHECK_HALF_MESSAGE failed: {}", e.remark());
            Ok(Some(RemotingCommand::response_to(
                &req,
                response::SYSTEM_ERROR,
                Some(e.remark().to_string()),
            )))
        }
    }
}
