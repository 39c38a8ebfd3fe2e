//! `plain_acl.yml` as a document: read (scalars taken as text where Java converts them, so
//! `secretKey: 12345678` is the string "12345678"), checked as Java checks an account, and
//! written back after an admin update.

use std::collections::HashMap;
use std::path::Path;

use remoting::protocol::topic::DataVersion;
use yaml_rust2::{Yaml, YamlLoader};

use super::{perm, retry_topic, Account, AddressPattern};

/// One account as the file writes it; `None` for a key the file leaves out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountConfig {
    pub access_key: String,
    pub secret_key: Option<String>,
    pub white_remote_address: Option<String>,
    pub admin: bool,
    pub default_topic_perm: Option<String>,
    pub default_group_perm: Option<String>,
    pub topic_perms: Option<Vec<String>>,
    pub group_perms: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AclFile {
    pub global_white_remote_addresses: Vec<String>,
    pub accounts: Vec<AccountConfig>,
    pub data_version: Option<DataVersion>,
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(y: &Yaml) -> Option<Vec<String>> {
    match y {
        Yaml::Array(items) => Some(items.iter().filter_map(scalar).collect()),
        Yaml::Null | Yaml::BadValue => None,
        other => scalar(other).map(|s| vec![s]),
    }
}

/// `Res=Perm` entries: two parts around `=`, and a permission Java knows.
pub fn check_resource_perms(perms: &[String]) -> Result<(), String> {
    for entry in perms {
        let parts: Vec<&str> = entry.split('=').filter(|p| !p.is_empty()).collect();
        if parts.len() != 2 {
            return Err(format!(
                "Parse Resource format error for {entry}.\nThe expected resource format is 'Res=Perm'. For example: topicA=SUB"
            ));
        }
        if parts[1].trim() != "DENY" && perm::parse(Some(parts[1])) == perm::DENY {
            return Err(format!(
                "Parse resource permission error for {entry}.\nThe expected permissions are 'SUB' or 'PUB' or 'SUB|PUB' or 'PUB|SUB'."
            ));
        }
    }
    Ok(())
}

impl AccountConfig {
    fn from_yaml(y: &Yaml) -> AccountConfig {
        AccountConfig {
            access_key: scalar(&y["accessKey"]).unwrap_or_default(),
            secret_key: scalar(&y["secretKey"]),
            white_remote_address: scalar(&y["whiteRemoteAddress"]),
            admin: scalar(&y["admin"]).is_some_and(|a| a.eq_ignore_ascii_case("true")),
            default_topic_perm: scalar(&y["defaultTopicPerm"]),
            default_group_perm: scalar(&y["defaultGroupPerm"]),
            topic_perms: strings(&y["topicPerms"]),
            group_perms: strings(&y["groupPerms"]),
        }
    }

    /// Java's length rule: both keys longer than 6 characters.
    pub fn check_keys(&self) -> Result<(), String> {
        let secret_ok = self.secret_key.as_ref().is_some_and(|s| s.chars().count() > 6);
        if self.access_key.chars().count() <= 6 || !secret_ok {
            return Err(format!(
                "The accessKey={} and secretKey={} cannot be null and length should longer than 6",
                self.access_key,
                self.secret_key.as_deref().unwrap_or("null")
            ));
        }
        Ok(())
    }

    pub fn build(&self) -> Result<Account, String> {
        self.check_keys()?;
        let mut resources = HashMap::new();
        for (perms, is_topic) in [(&self.group_perms, false), (&self.topic_perms, true)] {
            for entry in perms.iter().flatten() {
                let parts: Vec<&str> = entry.split('=').filter(|p| !p.is_empty()).collect();
                let [name, p] = parts[..] else {
                    return Err(format!(
                        "Parse resource permission failed for {}:{entry}",
                        if is_topic { "topic" } else { "group" }
                    ));
                };
                let resource = if is_topic {
                    name.trim().to_string()
                } else {
                    retry_topic(name.trim())
                };
                resources.insert(resource, perm::parse(Some(p)));
            }
        }
        Ok(Account {
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone().unwrap_or_default(),
            white: AddressPattern::parse(self.white_remote_address.as_deref())?,
            admin: self.admin,
            default_topic_perm: perm::parse(self.default_topic_perm.as_deref()),
            default_group_perm: perm::parse(self.default_group_perm.as_deref()),
            resources,
        })
    }

    /// An admin update of an existing account: what the update names replaces the old.
    pub fn merge(&mut self, update: &AccountConfig) {
        if update.secret_key.as_ref().is_some_and(|s| !s.is_empty()) {
            self.secret_key = update.secret_key.clone();
        }
        if update.white_remote_address.is_some() {
            self.white_remote_address = update.white_remote_address.clone();
        }
        self.admin = update.admin;
        if update.default_topic_perm.as_ref().is_some_and(|s| !s.is_empty()) {
            self.default_topic_perm = update.default_topic_perm.clone();
        }
        if update.default_group_perm.as_ref().is_some_and(|s| !s.is_empty()) {
            self.default_group_perm = update.default_group_perm.clone();
        }
        if update.topic_perms.is_some() {
            self.topic_perms = update.topic_perms.clone();
        }
        if update.group_perms.is_some() {
            self.group_perms = update.group_perms.clone();
        }
    }
}

impl AclFile {
    pub fn parse(text: &str) -> Result<AclFile, String> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
        let Some(doc) = docs.into_iter().next() else {
            return Ok(AclFile::default());
        };
        if !matches!(doc, Yaml::Hash(_) | Yaml::Null) {
            return Err("the ACL file is not a map".to_string());
        }
        let accounts = match &doc["accounts"] {
            Yaml::Array(items) => items.iter().map(AccountConfig::from_yaml).collect(),
            _ => Vec::new(),
        };
        let data_version = match &doc["dataVersion"] {
            Yaml::Array(items) => items.first().map(|v| DataVersion {
                counter: scalar(&v["counter"]).and_then(|c| c.parse().ok()).unwrap_or(0),
                state_version: None,
                timestamp: scalar(&v["timestamp"]).and_then(|t| t.parse().ok()).unwrap_or(0),
            }),
            _ => None,
        };
        Ok(AclFile {
            global_white_remote_addresses: strings(&doc["globalWhiteRemoteAddresses"]).unwrap_or_default(),
            accounts,
            data_version,
        })
    }

    pub fn read(path: &Path) -> Result<AclFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        AclFile::parse(&text)
    }

    pub fn read_or_empty(path: &Path) -> Result<AclFile, String> {
        if path.exists() {
            AclFile::read(path)
        } else {
            Ok(AclFile::default())
        }
    }

    /// The document in block YAML, keys in the order Java's dump keeps for a file it read.
    pub fn to_yaml(&self) -> String {
        fn quoted(s: &str) -> String {
            serde_json::Value::String(s.to_string()).to_string()
        }
        let mut out = String::new();
        out.push_str("globalWhiteRemoteAddresses:");
        if self.global_white_remote_addresses.is_empty() {
            out.push_str(" []\n");
        } else {
            out.push('\n');
            for a in &self.global_white_remote_addresses {
                out.push_str(&format!("- {}\n", quoted(a)));
            }
        }
        out.push_str("accounts:");
        if self.accounts.is_empty() {
            out.push_str(" []\n");
        } else {
            out.push('\n');
        }
        for a in &self.accounts {
            out.push_str(&format!("- accessKey: {}\n", quoted(&a.access_key)));
            if let Some(s) = &a.secret_key {
                out.push_str(&format!("  secretKey: {}\n", quoted(s)));
            }
            if let Some(w) = &a.white_remote_address {
                out.push_str(&format!("  whiteRemoteAddress: {}\n", quoted(w)));
            }
            out.push_str(&format!("  admin: {}\n", a.admin));
            if let Some(p) = &a.default_topic_perm {
                out.push_str(&format!("  defaultTopicPerm: {}\n", quoted(p)));
            }
            if let Some(p) = &a.default_group_perm {
                out.push_str(&format!("  defaultGroupPerm: {}\n", quoted(p)));
            }
            for (key, list) in [("topicPerms", &a.topic_perms), ("groupPerms", &a.group_perms)] {
                if let Some(list) = list {
                    if list.is_empty() {
                        out.push_str(&format!("  {key}: []\n"));
                    } else {
                        out.push_str(&format!("  {key}:\n"));
                        for entry in list {
                            out.push_str(&format!("  - {}\n", quoted(entry)));
                        }
                    }
                }
            }
        }
        if let Some(v) = &self.data_version {
            out.push_str(&format!(
                "dataVersion:\n- counter: {}\n  timestamp: {}\n",
                v.counter, v.timestamp
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_golden_file_reads_and_round_trips() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/golden/frames/16-acl-plain_acl.yml"),
        )
        .unwrap();
        let file = AclFile::parse(&text).unwrap();
        assert!(file.global_white_remote_addresses.is_empty());
        assert_eq!(file.accounts.len(), 2);
        let normal = &file.accounts[1];
        assert_eq!(normal.access_key, "RocketMQ");
        assert_eq!(normal.secret_key.as_deref(), Some("12345678"));
        assert_eq!(normal.white_remote_address, None);
        assert!(!normal.admin && file.accounts[0].admin);
        assert_eq!(
            normal.topic_perms.as_deref(),
            Some(&["AclTopic=PUB|SUB".to_string()][..])
        );
        let account = normal.build().unwrap();
        assert_eq!(account.resources.get("%RETRY%cg_acl"), Some(&perm::SUB));
        assert_eq!(account.resources.get("AclTopic"), Some(&(perm::PUB | perm::SUB)));
        assert_eq!(account.default_topic_perm, perm::DENY);
        assert_eq!(AclFile::parse(&file.to_yaml()).unwrap(), file);
    }

    #[test]
    fn unquoted_numbers_are_text_and_short_keys_are_refused() {
        let file = AclFile::parse("accounts:\n- accessKey: abcdefg\n  secretKey: 12345678\n").unwrap();
        assert_eq!(file.accounts[0].secret_key.as_deref(), Some("12345678"));
        let short = AclFile::parse("accounts:\n- accessKey: abc\n  secretKey: 12345678\n").unwrap();
        assert!(short.accounts[0].build().is_err());
        assert!(AclFile::parse("accounts: [\n- broken").is_err());
    }
}
