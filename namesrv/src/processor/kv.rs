//! KV configuration: PUT_KV_CONFIG, GET_KV_CONFIG, DELETE_KV_CONFIG, GET_KVLIST_BY_NAMESPACE.

use std::sync::Arc;

use remoting::code::response;
use remoting::header::namesrv::*;
use remoting::{Connection, HandlerResult, RemotingCommand};

use crate::NamesrvState;

pub async fn put(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: PutKvConfigRequestHeader = req.decode_header()?;
    state.kv.put(&h.namespace, &h.key, &h.value);
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn get(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetKvConfigRequestHeader = req.decode_header()?;
    Ok(Some(match state.kv.get(&h.namespace, &h.key) {
        Some(value) => RemotingCommand::success(&req).with_header(&GetKvConfigResponseHeader { value: Some(value) }),
        None => RemotingCommand::response_to(
            &req,
            response::QUERY_NOT_FOUND,
            Some(format!("No config item, Namespace: {} Key: {}", h.namespace, h.key)),
        ),
    }))
}

pub async fn delete(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: DeleteKvConfigRequestHeader = req.decode_header()?;
    state.kv.delete(&h.namespace, &h.key);
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn list_namespace(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetKvListByNamespaceRequestHeader = req.decode_header()?;
    Ok(Some(match state.kv.namespace_body(&h.namespace) {
        Some(body) => RemotingCommand::success(&req).with_body(body),
        None => RemotingCommand::response_to(
            &req,
            response::QUERY_NOT_FOUND,
            Some(format!("No config item, Namespace: {}", h.namespace)),
        ),
    }))
}
