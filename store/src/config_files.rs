//! The JSON files under `<root>/config/` (topics.json, consumerOffset.json,
//! delayOffset.json, subscriptionGroup.json, consumerFilter.json) in the
//! dialect Java's fastjson writes: tab-indented, and maps keyed by integers
//! written with bare numeric keys (`{0:375,1:375`). Saving follows Java's
//! order: new content to `<file>.tmp`, previous content to `<file>.bak`,
//! then the temp file renamed over the original. Loading falls back to the
//! `.bak` copy when the main file is missing or unreadable.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub const TOPICS_JSON: &str = "topics.json";
pub const CONSUMER_OFFSET_JSON: &str = "consumerOffset.json";
pub const DELAY_OFFSET_JSON: &str = "delayOffset.json";
pub const SUBSCRIPTION_GROUP_JSON: &str = "subscriptionGroup.json";
pub const CONSUMER_FILTER_JSON: &str = "consumerFilter.json";

/// Path of a config file under the store root.
pub fn config_path(store_root: &Path, name: &str) -> PathBuf {
    store_root.join("config").join(name)
}

/// Turns fastjson's bare numeric object keys into quoted ones so standard
/// JSON parsers accept the text.
pub fn fastjson_to_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut stack: Vec<char> = Vec::new();
    let mut expecting_key = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some(d) = chars.next() {
                    out.push(d);
                    if d == '\\' {
                        if let Some(e) = chars.next() {
                            out.push(e);
                        }
                    } else if d == '"' {
                        break;
                    }
                }
                expecting_key = false;
            }
            '{' => {
                stack.push('{');
                expecting_key = true;
                out.push(c);
            }
            '[' => {
                stack.push('[');
                expecting_key = false;
                out.push(c);
            }
            '}' | ']' => {
                stack.pop();
                expecting_key = false;
                out.push(c);
            }
            ',' => {
                expecting_key = stack.last() == Some(&'{');
                out.push(c);
            }
            c if expecting_key && (c.is_ascii_digit() || c == '-') => {
                out.push('"');
                out.push(c);
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() || d == '.' {
                        out.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push('"');
                expecting_key = false;
            }
            c => {
                if !c.is_whitespace() {
                    expecting_key = false;
                }
                out.push(c);
            }
        }
    }
    out
}

fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(&fastjson_to_json(text)).ok()
}

/// Reads a config file, falling back to its `.bak`. `Ok(None)` when neither exists or parses.
pub fn read_config(path: &Path) -> io::Result<Option<Value>> {
    for p in [path.to_path_buf(), bak_path(path)] {
        match std::fs::read_to_string(&p) {
            Ok(t) if !t.trim().is_empty() => {
                if let Some(v) = parse(&t) {
                    return Ok(Some(v));
                }
                tracing::warn!(path = %p.display(), "unreadable config file");
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

fn bak_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".bak");
    PathBuf::from(s)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Serialises config writes: two writers of one file would share its `.tmp` (and the later
/// snapshot could land first). Java's `ConfigManager.persist` is synchronized likewise.
static PERSISTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Writes what `content` makes, made and written under the persist lock, so the file always
/// ends with the latest state.
pub fn persist_with(path: &Path, content: impl FnOnce() -> String) -> io::Result<()> {
    let _one_at_a_time = PERSISTING.lock().unwrap_or_else(|e| e.into_inner());
    write_config(path, &content())
}

/// Writes `content` the way Java's config managers do (tmp, .bak, rename).
pub fn persist(path: &Path, content: &str) -> io::Result<()> {
    let _one_at_a_time = PERSISTING.lock().unwrap_or_else(|e| e.into_inner());
    write_config(path, content)
}

fn write_config(path: &Path, content: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = tmp_path(path);
    std::fs::write(&tmp, content)?;
    if let Ok(prev) = std::fs::read_to_string(path) {
        std::fs::write(bak_path(path), prev)?;
    }
    let _ = std::fs::remove_file(path);
    std::fs::rename(&tmp, path)
}

/// Serialises `v` in fastjson's pretty format.
pub fn to_fastjson(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0);
    out
}

fn is_int_key(k: &str) -> bool {
    !k.is_empty() && k.parse::<i64>().is_ok()
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push('\t');
    }
}

fn write_value(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Object(m) if !m.is_empty() && m.keys().all(|k| is_int_key(k)) => {
            // fastjson puts integer-keyed entries on one line.
            out.push('{');
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push(':');
                write_value(out, val, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
        Value::Object(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{\n");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(out, depth + 1);
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                write_value(out, val, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
        Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (i, val) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(out, depth + 1);
                write_value(out, val, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Committed consumer offsets: `topic@group` -> queue id -> offset.
pub type ConsumerOffsets = HashMap<String, HashMap<i32, i64>>;

/// Reads `config/consumerOffset.json` (or its .bak).
pub fn load_consumer_offsets(store_root: &Path) -> io::Result<ConsumerOffsets> {
    let mut out = ConsumerOffsets::new();
    let Some(v) = read_config(&config_path(store_root, CONSUMER_OFFSET_JSON))? else {
        return Ok(out);
    };
    if let Some(table) = v.get("offsetTable").and_then(Value::as_object) {
        for (key, queues) in table {
            let mut m = HashMap::new();
            if let Some(q) = queues.as_object() {
                for (qid, off) in q {
                    if let (Ok(qid), Some(off)) = (qid.parse::<i32>(), off.as_i64()) {
                        m.insert(qid, off);
                    }
                }
            }
            out.insert(key.clone(), m);
        }
    }
    Ok(out)
}

/// Writes `config/consumerOffset.json` in Java's format.
pub fn save_consumer_offsets(store_root: &Path, offsets: &ConsumerOffsets) -> io::Result<()> {
    let mut table = serde_json::Map::new();
    let mut keys: Vec<&String> = offsets.keys().collect();
    keys.sort();
    for k in keys {
        let mut q = serde_json::Map::new();
        let mut ids: Vec<&i32> = offsets[k].keys().collect();
        ids.sort();
        for id in ids {
            q.insert(id.to_string(), Value::from(offsets[k][id]));
        }
        table.insert(k.clone(), Value::Object(q));
    }
    let mut root = serde_json::Map::new();
    root.insert("offsetTable".into(), Value::Object(table));
    persist(
        &config_path(store_root, CONSUMER_OFFSET_JSON),
        &to_fastjson(&Value::Object(root)),
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn concurrent_persists_all_succeed_and_the_latest_state_wins() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config").join("topics.json");
        let state = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        persist_with(&path, || state.fetch_add(1, Ordering::SeqCst).to_string()).unwrap();
                    }
                });
            }
        });
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "399");
    }

    use super::*;

    #[test]
    fn bare_numeric_keys_round_trip() {
        let text = "{\n\t\"offsetTable\":{\n\t\t\"A@g\":{0:375,1:375\n\t\t},\n\t\t\"B@g\":{0:0\n\t\t}\n\t}\n}";
        let v = parse(text).unwrap();
        assert_eq!(v["offsetTable"]["A@g"]["1"], 375);
        assert_eq!(to_fastjson(&v), text);
        let d = parse("{\n\t\"offsetTable\":{1:1\n\t}\n}").unwrap();
        assert_eq!(d["offsetTable"]["1"], 1);
    }
}
