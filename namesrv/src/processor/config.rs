//! Runtime configuration: UPDATE_NAMESRV_CONFIG and GET_NAMESRV_CONFIG.

use std::sync::Arc;

use remoting::code::response;
use remoting::{properties, Connection, HandlerError, HandlerResult, RemotingCommand};

use crate::kv_config::write_with_backup;
use crate::NamesrvState;

pub async fn update(state: Arc<NamesrvState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    tracing::info!(client = %conn.peer_addr(), "updateConfig called");
    if req.body.is_empty() {
        return Ok(Some(RemotingCommand::success(&req)));
    }
    let text = std::str::from_utf8(&req.body).map_err(|_| HandlerError::system("string2Properties error"))?;
    let pairs = properties::parse(text);
    let mut config = state.config.write().unwrap();
    let black_list = config.black_list();
    if pairs.iter().any(|(key, _)| black_list.contains(key)) {
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::NO_PERMISSION,
            Some("Can not update config in black list.".into()),
        )));
    }
    // As Java: a value that does not parse is dropped and the rest applied.
    for (key, value) in &pairs {
        if let Err(e) = config.set(key, value) {
            tracing::warn!("UPDATE_NAMESRV_CONFIG: {e}; ignored");
        }
    }
    let path = config.config_store_path.clone();
    let content = config.to_properties();
    drop(config);
    if let Err(e) = write_with_backup(std::path::Path::new(&path), &content) {
        tracing::error!(path, error = %e, "persisting namesrv config failed");
    }
    Ok(Some(RemotingCommand::success(&req)))
}

pub async fn get(state: Arc<NamesrvState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let content = state.config.read().unwrap().to_properties();
    Ok(Some(RemotingCommand::success(&req).with_body(content.into_bytes())))
}
