//! The ACL admin codes: UPDATE_AND_CREATE_ACL_CONFIG (50), DELETE_ACL_CONFIG (51),
//! GET_BROKER_CLUSTER_ACL_INFO (52) and UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (53), as Java 4.9.8
//! answers them. They rewrite the ACL file and the change applies at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use remoting::code::{request, response};
use remoting::header::admin::{
    CreateAccessConfigRequestHeader, DeleteAccessConfigRequestHeader, UpdateGlobalWhiteAddrsConfigRequestHeader,
};
use remoting::{Connection, HandlerResult, RemotingCommand, Router};
use tracing::{info, warn};

use crate::acl::{AccountConfig, AclManager};
use crate::BrokerState;

pub fn routes(r: &mut Router, s: &Arc<BrokerState>) {
    r.route_with(s, request::UPDATE_AND_CREATE_ACL_CONFIG, update_account);
    r.route_with(s, request::DELETE_ACL_CONFIG, delete_account);
    r.route_with(s, request::GET_BROKER_CLUSTER_ACL_INFO, acl_versions);
    r.route_with(s, request::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, update_global_white);
}

const ACL_OFF: &str = "ACL is not enabled on this broker (aclEnable=false)";

fn answer(req: &RemotingCommand, code: i32, remark: Option<String>) -> HandlerResult {
    Ok(Some(RemotingCommand::response_to(req, code, remark)))
}

/// Java's `UtilAll.split`: comma-separated, `None` for a missing value.
fn list(text: Option<&str>) -> Option<Vec<String>> {
    text.map(|t| {
        t.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

fn acl(state: &BrokerState) -> Option<&AclManager> {
    state.acl.as_ref()
}

async fn update_account(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: CreateAccessConfigRequestHeader = req.decode_header()?;
    let failed = response::UPDATE_AND_CREATE_ACL_CONFIG_FAILED;
    let Some(acl) = acl(&state) else {
        return answer(&req, failed, Some(ACL_OFF.into()));
    };
    let update = AccountConfig {
        access_key: h.access_key.clone(),
        secret_key: h.secret_key,
        white_remote_address: h.white_remote_address,
        admin: h.admin.unwrap_or(false),
        default_topic_perm: h.default_topic_perm,
        default_group_perm: h.default_group_perm,
        topic_perms: list(h.topic_perms.as_deref()),
        group_perms: list(h.group_perms.as_deref()),
    };
    match acl.update_account(&update) {
        Ok(()) => {
            info!(by = %conn.peer_addr(), access_key = %h.access_key, "ACL account updated");
            answer(&req, response::SUCCESS, None)
        }
        Err(e) => {
            warn!(access_key = %h.access_key, error = %e, "ACL account update refused");
            answer(&req, failed, Some(e))
        }
    }
}

async fn delete_account(state: Arc<BrokerState>, conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: DeleteAccessConfigRequestHeader = req.decode_header()?;
    let failed = response::DELETE_ACL_CONFIG_FAILED;
    let Some(acl) = acl(&state) else {
        return answer(&req, failed, Some(ACL_OFF.into()));
    };
    match acl.delete_account(&h.access_key) {
        Ok(true) => {
            info!(by = %conn.peer_addr(), access_key = %h.access_key, "ACL account deleted");
            answer(&req, response::SUCCESS, None)
        }
        Ok(false) => answer(
            &req,
            failed,
            Some(format!(
                "The accesskey[{}] corresponding to accessConfig has been deleted failed.",
                h.access_key
            )),
        ),
        Err(e) => answer(&req, failed, Some(e)),
    }
}

async fn update_global_white(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: UpdateGlobalWhiteAddrsConfigRequestHeader = req.decode_header()?;
    let failed = response::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED;
    let Some(acl) = acl(&state) else {
        return answer(&req, failed, Some(ACL_OFF.into()));
    };
    let addrs = list(Some(&h.global_white_addrs)).unwrap_or_default();
    match acl.update_global_white(addrs, h.acl_file_full_path.as_deref().unwrap_or_default()) {
        Ok(true) => answer(&req, response::SUCCESS, None),
        Ok(false) => answer(
            &req,
            failed,
            Some(format!(
                "The globalWhiteAddresses[{}] has been updated failed.",
                h.global_white_addrs
            )),
        ),
        Err(e) => answer(&req, failed, Some(e)),
    }
}

/// GET_BROKER_CLUSTER_ACL_INFO (52): the data versions of the ACL files, in the header.
async fn acl_versions(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let Some(acl) = acl(&state) else {
        return answer(&req, response::SYSTEM_ERROR, Some(ACL_OFF.into()));
    };
    let (default, all) = acl.versions();
    let all: BTreeMap<String, _> = all.into_iter().map(|(p, v)| (p.display().to_string(), v)).collect();
    let mut res = RemotingCommand::success(&req);
    let ext = res.ext_mut();
    ext.insert("allAclFileVersion", serde_json::to_string(&all).unwrap_or_default());
    ext.insert("brokerAddr", state.config.broker_addr());
    ext.insert("brokerName", state.config.broker_name.clone());
    ext.insert("clusterName", state.config.broker_cluster_name.clone());
    ext.insert("version", serde_json::to_string(&default).unwrap_or_default());
    Ok(Some(res))
}
