//! ACL 1.0 (`aclEnable=true`), as Java 4.9.8's PlainAccessValidator and
//! PlainPermissionManager do it.
//!
//! Accounts come from `<home>/conf/plain_acl.yml` (`rocketmq.acl.plain.file`, relative to the
//! home) and every `.yml`/`.yaml` under `<home>/conf/acl/`, where the home is `rocketmqHome`
//! (`rocketmq.home.dir`, else `ROCKETMQ_HOME`) or, when neither is set, the store root. The
//! files are re-read when they change; a file that does not parse leaves the last good
//! configuration in force and says why in the log.
//!
//! Every routed request passes [`AclManager::check`] (a router guard): a client on a global
//! white-listed address, or on its account's white-listed address, is let in; otherwise the
//! HMAC-SHA1 signature (base64) over the ext-field values sorted by name (without
//! `Signature` and `_UNIQUE_KEY_QUERY`) followed by the body must match the account's secret,
//! then admin-only codes and the topic and group permissions the request needs are checked.
//! Refusals are code 1 with Java's exception text, its first stack frame included.

mod address;
mod files;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use remoting::code::{request, response};
use remoting::protocol::topic::DataVersion;
use remoting::{HandlerError, RemotingCommand};
use sha1::Sha1;
use tracing::{info, warn};

pub use address::{canonical, AddressPattern};
pub use files::{AccountConfig, AclFile};

use crate::client_manager::HeartbeatData;

pub const RETRY_PREFIX: &str = "%RETRY%";
const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

/// Permission bits (Java's `Permission`).
pub mod perm {
    pub const DENY: u8 = 1;
    pub const ANY: u8 = 1 << 1;
    pub const PUB: u8 = 1 << 2;
    pub const SUB: u8 = 1 << 3;

    /// `PUB`, `SUB`, `PUB|SUB`, `SUB|PUB`; anything else (or nothing) is DENY.
    pub fn parse(text: Option<&str>) -> u8 {
        match text.map(str::trim) {
            Some("PUB") => PUB,
            Some("SUB") => SUB,
            Some("PUB|SUB") | Some("SUB|PUB") => PUB | SUB,
            _ => DENY,
        }
    }

    pub fn allows(needed: u8, owned: u8) -> bool {
        if owned & DENY != 0 {
            return false;
        }
        if needed & ANY != 0 {
            return owned & (PUB | SUB) != 0;
        }
        needed & owned != 0
    }
}

/// Request codes only admin accounts may send.
const ADMIN_CODES: [i32; 5] = [
    request::UPDATE_AND_CREATE_TOPIC,
    request::UPDATE_BROKER_CONFIG,
    request::DELETE_TOPIC_IN_BROKER,
    request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    request::DELETE_SUBSCRIPTIONGROUP,
];

/// One account as the checks use it.
#[derive(Debug, Clone)]
pub struct Account {
    pub access_key: String,
    pub secret_key: String,
    pub white: AddressPattern,
    pub admin: bool,
    pub default_topic_perm: u8,
    pub default_group_perm: u8,
    /// Topics, and groups as their retry topics, with their permission.
    pub resources: HashMap<String, u8>,
}

/// What every file said, merged.
#[derive(Debug, Default)]
struct Loaded {
    global_white: Vec<AddressPattern>,
    accounts: HashMap<String, Account>,
    /// Which file holds each access key.
    file_of: HashMap<String, PathBuf>,
    versions: BTreeMap<PathBuf, DataVersion>,
    /// The files read, with their modification times, to notice changes.
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
}

pub struct AclManager {
    home: PathBuf,
    default_file: PathBuf,
    loaded: RwLock<Loaded>,
    /// Serialises the admin updates that rewrite a file.
    writing: Mutex<()>,
}

/// Java's AclException as the remoting layer answers it.
fn refusal(message: &str, method: &str, line: u32) -> HandlerError {
    HandlerError::new(
        response::SYSTEM_ERROR,
        format!(
            "org.apache.rocketmq.acl.common.AclException: {message}, \
             org.apache.rocketmq.acl.plain.PlainPermissionManager.{method}(PlainPermissionManager.java:{line})"
        ),
    )
}

fn parse_refusal(message: &str) -> HandlerError {
    HandlerError::new(
        response::SYSTEM_ERROR,
        format!(
            "org.apache.rocketmq.acl.common.AclException: {message}, \
             org.apache.rocketmq.acl.plain.PlainAccessValidator.parse(PlainAccessValidator.java:134)"
        ),
    )
}

pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_PREFIX}{group}")
}

fn printable(resource: &str) -> String {
    match resource.strip_prefix(RETRY_PREFIX) {
        Some(group) => format!("group:{group}"),
        None => format!("topic:{resource}"),
    }
}

/// The bytes a client signs: ext-field values in key order (Java's `TreeMap<String, ..>`
/// compares UTF-16 units), `Signature` and `_UNIQUE_KEY_QUERY` left out, then the body.
pub fn signed_content(req: &RemotingCommand) -> Vec<u8> {
    let mut fields: Vec<(&str, &str)> = req
        .ext()
        .iter()
        .filter(|(k, _)| *k != "Signature" && *k != "_UNIQUE_KEY_QUERY")
        .collect();
    fields.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    let mut content = Vec::with_capacity(req.body.len() + 128);
    for (_, v) in fields {
        content.extend_from_slice(v.as_bytes());
    }
    content.extend_from_slice(&req.body);
    content
}

/// HMAC-SHA1 of `content` under `secret`, base64 (Java's `AclSigner.calSignature`).
pub fn signature(content: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(content);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An access key and secret the broker signs its own requests with: RocketMQ 5's
/// `innerClientAuthenticationCredentials`, a JSON object with Java's `SessionCredentials`
/// names (`{"accessKey":"..","secretKey":"..","securityToken":".."}`). Java 4.9.8's broker
/// never signs its own requests. The secret is left out of `Debug`.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionCredentials {
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub security_token: Option<String>,
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"***")
            .finish()
    }
}

impl SessionCredentials {
    pub fn new(access_key: &str, secret_key: &str) -> SessionCredentials {
        SessionCredentials {
            access_key: Some(access_key.into()),
            secret_key: Some(secret_key.into()),
            security_token: None,
        }
    }

    /// Reads the key's value. As Java's BrokerOuterAPI: a blank value, or one whose access or
    /// secret key is blank, means no signing (None); a value that is not a JSON object is an
    /// error (Java's broker fails to start).
    pub fn parse(text: &str) -> Result<Option<SessionCredentials>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let credentials: SessionCredentials = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|v| v.trim().is_empty());
        if blank(&credentials.access_key) || blank(&credentials.secret_key) {
            return Ok(None);
        }
        Ok(Some(credentials))
    }

    /// Signs `req` as Java's AclClientRPCHook does: `AccessKey` (and `SecurityToken`) added
    /// to the ext fields, then `Signature`, the HMAC-SHA1 of [`signed_content`] under the
    /// secret, base64 — the very bytes [`AclManager::check`] verifies.
    pub fn sign(&self, req: &mut RemotingCommand) {
        let (Some(access_key), Some(secret_key)) = (&self.access_key, &self.secret_key) else {
            return;
        };
        req.ext_mut().insert("AccessKey", access_key.as_str());
        if let Some(token) = &self.security_token {
            req.ext_mut().insert("SecurityToken", token.as_str());
        }
        let sig = signature(&signed_content(req), secret_key);
        req.ext_mut().insert("Signature", sig);
    }
}

/// The resources a request needs and with which permission (PlainAccessValidator.parse).
fn needed_resources(req: &RemotingCommand) -> Result<Vec<(String, u8)>, HandlerError> {
    let ext = req.ext();
    let mut needed = Vec::new();
    let mut add = |resource: Option<String>, p: u8| {
        if let Some(r) = resource {
            // A later entry for the same resource replaces the earlier one, as in Java's map.
            needed.retain(|(existing, _): &(String, u8)| existing != &r);
            needed.push((r, p));
        }
    };
    let get = |k: &str| ext.get(k).map(str::to_string);
    let required = |k: &str| {
        ext.get(k)
            .map(str::to_string)
            .ok_or_else(|| parse_refusal(&format!("the custom field <{k}> is null")))
    };
    match req.code {
        request::SEND_MESSAGE | request::SEND_MESSAGE_V2 => {
            let (topic_key, group_key) = if req.code == request::SEND_MESSAGE {
                ("topic", "group")
            } else {
                ("b", "a")
            };
            let topic = get(topic_key);
            if topic.as_deref().is_some_and(|t| t.starts_with(RETRY_PREFIX)) {
                add(get(group_key).map(|g| retry_topic(&g)), perm::SUB);
            } else {
                add(topic, perm::PUB);
            }
        }
        request::CONSUMER_SEND_MSG_BACK => add(get("group").map(|g| retry_topic(&g)), perm::SUB),
        // LITE_PULL_MESSAGE is a pull: the same permissions (5.3.3's ACL names only 11, which
        // would let a lite pull read a topic the account may not subscribe to).
        request::PULL_MESSAGE | request::LITE_PULL_MESSAGE => {
            add(get("topic"), perm::SUB);
            add(get("consumerGroup").map(|g| retry_topic(&g)), perm::SUB);
        }
        request::QUERY_MESSAGE => add(get("topic"), perm::SUB),
        request::HEART_BEAT => {
            let data: HeartbeatData = remoting::fastjson::from_slice(&req.body).map_err(|e| parse_refusal(&e))?;
            for consumer in &data.consumer_data_set {
                add(Some(retry_topic(&consumer.group_name)), perm::SUB);
                for sub in &consumer.subscription_data_set {
                    add(Some(sub.topic.clone()), perm::SUB);
                }
            }
        }
        request::UNREGISTER_CLIENT => add(get("consumerGroup").map(|g| retry_topic(&g)), perm::SUB),
        request::GET_CONSUMER_LIST_BY_GROUP => add(Some(retry_topic(&required("consumerGroup")?)), perm::SUB),
        request::UPDATE_CONSUMER_OFFSET => {
            add(Some(retry_topic(&required("consumerGroup")?)), perm::SUB);
            add(Some(required("topic")?), perm::SUB);
        }
        _ => {}
    }
    Ok(needed)
}

impl AclManager {
    /// Reads the configuration under `home`. `plain_file` is `rocketmq.acl.plain.file`.
    pub fn open(home: &Path, plain_file: &str) -> AclManager {
        let manager = AclManager {
            home: home.to_path_buf(),
            default_file: home.join(plain_file),
            loaded: RwLock::new(Loaded::default()),
            writing: Mutex::new(()),
        };
        match manager.load() {
            Ok(loaded) => {
                info!(
                    home = %home.display(),
                    accounts = loaded.accounts.len(),
                    files = loaded.stamps.len(),
                    "ACL enabled"
                );
                *manager.loaded.write().unwrap() = loaded;
            }
            Err(e) => {
                warn!(home = %home.display(), error = %e, "ACL enabled, but its configuration is unreadable: every signed request will be refused")
            }
        }
        manager
    }

    pub fn default_file(&self) -> &Path {
        &self.default_file
    }

    /// Every ACL file: those under `conf/acl/` (recursively, `conf/tools.yml` excepted), then
    /// the default file.
    fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            for path in entries {
                if path == skip {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, skip, out);
                } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &self.home.join("conf").join("acl"),
            &self.home.join("conf").join("tools.yml"),
            &mut files,
        );
        if self.default_file.is_file() && !files.contains(&self.default_file) {
            files.push(self.default_file.clone());
        }
        files
    }

    fn load(&self) -> Result<Loaded, String> {
        let mut loaded = Loaded::default();
        for path in self.files() {
            let stamp = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            let file = AclFile::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            loaded.stamps.push((path.clone(), stamp));
            for pattern in &file.global_white_remote_addresses {
                loaded
                    .global_white
                    .push(AddressPattern::parse(Some(pattern)).map_err(|e| format!("{}: {e}", path.display()))?);
            }
            for account in &file.accounts {
                // Java's text for short keys repeats the secret: this one goes to the log.
                account.check_keys().map_err(|_| {
                    format!(
                        "{}: accessKey={}: the accessKey and secretKey cannot be null and length should longer than 6 (secretKey not shown)",
                        path.display(),
                        account.access_key
                    )
                })?;
                let built = account.build().map_err(|e| format!("{}: {e}", path.display()))?;
                if loaded.file_of.contains_key(&built.access_key) {
                    warn!(access_key = %built.access_key, file = %path.display(), "access key defined in more than one ACL file; the first one counts");
                    continue;
                }
                loaded.file_of.insert(built.access_key.clone(), path.clone());
                loaded.accounts.insert(built.access_key.clone(), built);
            }
            loaded
                .versions
                .insert(path, file.data_version.unwrap_or_else(DataVersion::now));
        }
        Ok(loaded)
    }

    /// Re-reads the files when one changed, appeared or went away (called every second).
    pub fn reload_if_changed(&self) {
        let now: Vec<(PathBuf, Option<SystemTime>)> = self
            .files()
            .into_iter()
            .map(|p| {
                let stamp = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
                (p, stamp)
            })
            .collect();
        if now == self.loaded.read().unwrap().stamps {
            return;
        }
        self.reload();
    }

    fn reload(&self) {
        match self.load() {
            Ok(loaded) => {
                info!(accounts = loaded.accounts.len(), "ACL configuration reloaded");
                *self.loaded.write().unwrap() = loaded;
            }
            Err(e) => {
                warn!(error = %e, "ACL configuration not reloaded, the last good one stays in force");
                // Remember the stamps so the same broken file is not re-read every second.
                let stamps = self
                    .files()
                    .into_iter()
                    .map(|p| {
                        let stamp = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
                        (p, stamp)
                    })
                    .collect();
                self.loaded.write().unwrap().stamps = stamps;
            }
        }
    }

    /// The router guard: whether `req` from `peer` may pass.
    pub fn check(&self, peer: &std::net::IpAddr, req: &RemotingCommand) -> Result<(), HandlerError> {
        let needed = needed_resources(req)?;
        let addr = canonical(peer);
        let loaded = self.loaded.read().unwrap();
        if loaded.global_white.iter().any(|p| p.matches(&addr)) {
            return Ok(());
        }
        let Some(access_key) = req.ext().get("AccessKey") else {
            return Err(refusal("No accessKey is configured", "validate", 664));
        };
        let Some(account) = loaded.accounts.get(access_key) else {
            return Err(refusal(&format!("No acl config for {access_key}"), "validate", 668));
        };
        if account.white.matches(&addr) {
            return Ok(());
        }
        let expected = signature(&signed_content(req), &account.secret_key);
        if req.ext().get("Signature") != Some(expected.as_str()) {
            return Err(refusal(
                &format!("Check signature failed for accessKey={access_key}"),
                "validate",
                684,
            ));
        }
        // Message traces may always be written.
        if needed.iter().any(|(r, p)| r == TRACE_TOPIC && *p == perm::PUB) {
            return Ok(());
        }
        if ADMIN_CODES.contains(&req.code) && !account.admin {
            return Err(refusal(
                &format!(
                    "Need admin permission for request code={}, but accessKey={access_key} is not",
                    req.code
                ),
                "checkPerm",
                581,
            ));
        }
        // An admin account that lists no topic or group permissions may touch anything
        // (Java: no owned permission map at all for such an account).
        if account.admin && account.resources.is_empty() {
            return Ok(());
        }
        for (resource, needed_perm) in &needed {
            let (owned, line) = match account.resources.get(resource) {
                Some(owned) => (*owned, 611),
                None if resource.starts_with(RETRY_PREFIX) => (account.default_group_perm, 606),
                None => (account.default_topic_perm, 606),
            };
            if !perm::allows(*needed_perm, owned) {
                return Err(refusal(
                    &format!("No default permission for {}", printable(resource)),
                    "checkPerm",
                    line,
                ));
            }
        }
        Ok(())
    }

    /// The default file's data version and every file's (GET_BROKER_CLUSTER_ACL_INFO).
    pub fn versions(&self) -> (DataVersion, BTreeMap<PathBuf, DataVersion>) {
        let loaded = self.loaded.read().unwrap();
        let default = loaded
            .versions
            .get(&self.default_file)
            .cloned()
            .unwrap_or_else(DataVersion::now);
        (default, loaded.versions.clone())
    }

    fn file_of(&self, access_key: &str) -> Option<PathBuf> {
        self.loaded.read().unwrap().file_of.get(access_key).cloned()
    }

    /// Creates or updates an account (UPDATE_AND_CREATE_ACL_CONFIG): in the file that holds
    /// it, else in the default file; the file's data version moves on.
    pub fn update_account(&self, update: &AccountConfig) -> Result<(), String> {
        let _writing = self.writing.lock().unwrap();
        update.check_keys()?;
        for perms in [&update.topic_perms, &update.group_perms].into_iter().flatten() {
            files::check_resource_perms(perms)?;
        }
        let path = self
            .file_of(&update.access_key)
            .unwrap_or_else(|| self.default_file.clone());
        let mut file = AclFile::read_or_empty(&path)?;
        match file.accounts.iter_mut().find(|a| a.access_key == update.access_key) {
            Some(existing) => existing.merge(update),
            None => file.accounts.push(update.clone()),
        }
        self.write_and_reload(&path, file)
    }

    /// Removes an account (DELETE_ACL_CONFIG); false when no file holds it.
    pub fn delete_account(&self, access_key: &str) -> Result<bool, String> {
        let _writing = self.writing.lock().unwrap();
        let Some(path) = self.file_of(access_key) else {
            return Ok(false);
        };
        let mut file = AclFile::read_or_empty(&path)?;
        let before = file.accounts.len();
        file.accounts.retain(|a| a.access_key != access_key);
        if file.accounts.len() == before {
            return Ok(false);
        }
        self.write_and_reload(&path, file).map(|()| true)
    }

    /// Replaces a file's global white list (UPDATE_GLOBAL_WHITE_ADDRS_CONFIG). As in Java the
    /// file must exist under the home; an empty path means the default file.
    pub fn update_global_white(&self, addrs: Vec<String>, file: &str) -> Result<bool, String> {
        let _writing = self.writing.lock().unwrap();
        let path = if file.is_empty() {
            self.default_file.clone()
        } else {
            PathBuf::from(file)
        };
        if !path.is_file() || !path.starts_with(&self.home) {
            return Ok(false);
        }
        for a in &addrs {
            AddressPattern::parse(Some(a))?;
        }
        let mut acl = AclFile::read_or_empty(&path)?;
        acl.global_white_remote_addresses = addrs;
        self.write_and_reload(&path, acl).map(|()| true)
    }

    fn write_and_reload(&self, path: &Path, mut file: AclFile) -> Result<(), String> {
        let mut version = file.data_version.take().unwrap_or(DataVersion {
            counter: 0,
            state_version: None,
            timestamp: remoting::protocol::topic::now_millis(),
        });
        version.counter += 1;
        version.timestamp = remoting::protocol::topic::now_millis();
        file.data_version = Some(version);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let tmp = path.with_extension("yml.tmp");
        std::fs::write(&tmp, file.to_yaml()).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())?;
        self.reload();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_follow_javas_rules() {
        assert!(perm::allows(perm::PUB, perm::PUB | perm::SUB));
        assert!(!perm::allows(perm::PUB, perm::SUB));
        assert!(!perm::allows(perm::SUB, perm::DENY | perm::SUB));
        assert!(perm::allows(perm::ANY, perm::SUB));
        assert_eq!(perm::parse(Some(" SUB|PUB ")), perm::PUB | perm::SUB);
        assert_eq!(perm::parse(Some("ALL")), perm::DENY);
        assert_eq!(perm::parse(None), perm::DENY);
    }

    #[test]
    fn an_admin_without_resource_permissions_may_send_anywhere() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("conf")).unwrap();
        std::fs::write(
            home.path().join("conf/plain_acl.yml"),
            "accounts:\n  - accessKey: bareAdmin\n    secretKey: bare-admin-secret\n    admin: true\n  - accessKey: listedAdmin\n    secretKey: listed-admin-secret\n    admin: true\n    topicPerms:\n      - Other=PUB\n",
        )
        .unwrap();
        let acl = AclManager::open(home.path(), "conf/plain_acl.yml");
        let peer: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        let send = |ak: &str, sk: &str| {
            let mut req = RemotingCommand::request(request::SEND_MESSAGE).with_body(b"x".to_vec());
            for (k, v) in [("producerGroup", "pg"), ("topic", "AnyTopic"), ("queueId", "0")] {
                req.ext_mut().insert(k, v);
            }
            SessionCredentials::new(ak, sk).sign(&mut req);
            req
        };
        // Java skips the resource check for an admin with no topic or group permissions ...
        assert!(acl.check(&peer, &send("bareAdmin", "bare-admin-secret")).is_ok());
        // ... but an admin that lists some falls back to its default (DENY) for the rest.
        assert!(acl.check(&peer, &send("listedAdmin", "listed-admin-secret")).is_err());
    }

    #[test]
    fn signed_requests_pass_the_check() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("conf")).unwrap();
        std::fs::write(
            home.path().join("conf/plain_acl.yml"),
            "accounts:\n  - accessKey: brokerInner\n    secretKey: inner-secret-1\n",
        )
        .unwrap();
        let acl = AclManager::open(home.path(), "conf/plain_acl.yml");
        let peer: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        let request = || {
            let mut req = RemotingCommand::request(request::REGISTER_BROKER).with_body(b"{}".to_vec());
            req.ext_mut().insert("brokerName", "b");
            req.ext_mut().insert("brokerAddr", "10.1.2.3:10911");
            req
        };
        let credentials = SessionCredentials::parse(r#"{"accessKey":"brokerInner","secretKey":"inner-secret-1"}"#)
            .unwrap()
            .unwrap();
        assert!(!format!("{credentials:?}").contains("inner-secret-1"));
        let mut req = request();
        credentials.sign(&mut req);
        assert_eq!(req.ext().get("AccessKey"), Some("brokerInner"));
        assert!(acl.check(&peer, &req).is_ok());
        let mut wrong = request();
        SessionCredentials::new("brokerInner", "another-secret").sign(&mut wrong);
        assert!(acl.check(&peer, &wrong).is_err());

        assert_eq!(SessionCredentials::parse("").unwrap(), None);
        assert_eq!(
            SessionCredentials::parse(r#"{"accessKey":"a","secretKey":" "}"#).unwrap(),
            None
        );
        assert!(SessionCredentials::parse("accessKey=a").is_err());
    }

    #[test]
    fn a_refused_account_does_not_put_its_secret_in_the_error() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("conf")).unwrap();
        std::fs::write(
            home.path().join("conf/plain_acl.yml"),
            "accounts:\n  - accessKey: abc\n    secretKey: a-real-long-secret\n",
        )
        .unwrap();
        let acl = AclManager::open(home.path(), "conf/plain_acl.yml");
        let error = acl.load().unwrap_err();
        assert!(error.contains("accessKey=abc"), "{error}");
        assert!(!error.contains("a-real-long-secret"), "{error}");
    }

    #[test]
    fn content_is_sorted_values_then_body() {
        let mut req = RemotingCommand::request(request::SEND_MESSAGE).with_body(b"BODY".to_vec());
        req.ext_mut().insert("topic", "T");
        req.ext_mut().insert("AccessKey", "ak");
        req.ext_mut().insert("Signature", "ignored");
        req.ext_mut().insert("_UNIQUE_KEY_QUERY", "ignored");
        req.ext_mut().insert("b", "x");
        assert_eq!(signed_content(&req), b"akxTBODY".to_vec());
    }
}
