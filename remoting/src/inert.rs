//! Java settings for machinery this implementation does not have (Netty's selectors and
//! buffers, the broker's thread pools, ...), kept with Java's defaults so that the config
//! commands (GET_BROKER_CONFIG, GET_NAMESRV_CONFIG) list what Java lists, config files
//! written for Java load without noise, and an update keeps a new value. A value that does
//! not parse as the Java field's type is refused, as Java drops it. None of them changes
//! what the server does.

use std::collections::BTreeMap;

/// The Java field's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Long,
    Text,
}

/// A value that does not parse as the Java field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable;

/// Current values, by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InertSettings {
    values: BTreeMap<&'static str, (Kind, String)>,
}

impl InertSettings {
    /// From (key, type, Java's default) rows.
    pub fn new(table: impl IntoIterator<Item = (&'static str, Kind, String)>) -> Self {
        InertSettings {
            values: table.into_iter().map(|(k, t, v)| (k, (t, v))).collect(),
        }
    }

    /// Takes `value` for `key` if the key is one of these. `Ok(false)`: not one of ours;
    /// `Err`: ours, but the value is not of the Java field's type (nothing changes).
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, Unreadable> {
        let Some((kind, current)) = self.values.get_mut(key) else {
            return Ok(false);
        };
        let v = value.trim();
        let readable = match kind {
            // Java's Boolean.parseBoolean takes anything (not "true" is false); the value
            // shown afterwards is what Java would show.
            Kind::Bool => {
                *current = v.eq_ignore_ascii_case("true").to_string();
                return Ok(true);
            }
            Kind::Int => v.parse::<i32>().is_ok(),
            Kind::Long => v.parse::<i64>().is_ok(),
            Kind::Text => true,
        };
        if !readable {
            return Err(Unreadable);
        }
        *current = v.to_string();
        Ok(true)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        self.values.iter().map(|(k, (_, v))| (*k, v.clone()))
    }
}

/// Java's NettyServerConfig keys we have no use for (4.9.8 defaults; socket buffer sizes 0
/// mean the system's), for both servers.
pub(crate) fn netty_server() -> InertSettings {
    use Kind::*;
    let rows: [(&'static str, Kind, &str); 11] = [
        ("serverWorkerThreads", Int, "8"),
        ("serverCallbackExecutorThreads", Int, "0"),
        ("serverSelectorThreads", Int, "3"),
        ("serverOnewaySemaphoreValue", Int, "256"),
        ("serverAsyncSemaphoreValue", Int, "64"),
        ("serverSocketSndBufSize", Int, "0"),
        ("serverSocketRcvBufSize", Int, "0"),
        ("writeBufferHighWaterMark", Int, "0"),
        ("writeBufferLowWaterMark", Int, "0"),
        ("serverPooledByteBufAllocatorEnable", Bool, "true"),
        ("useEpollNativeSelector", Bool, "false"),
    ];
    InertSettings::new(rows.map(|(k, t, v)| (k, t, v.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_the_java_fields_types() {
        let mut s = netty_server();
        assert_eq!(s.get("serverWorkerThreads"), Some("8"));
        assert_eq!(s.set("serverWorkerThreads", " 16 "), Ok(true));
        assert_eq!(s.get("serverWorkerThreads"), Some("16"));
        assert_eq!(s.set("serverWorkerThreads", "many"), Err(Unreadable));
        assert_eq!(
            s.set("serverWorkerThreads", "3000000000"),
            Err(Unreadable),
            "an int, not a long"
        );
        assert_eq!(s.get("serverWorkerThreads"), Some("16"));
        assert_eq!(s.set("useEpollNativeSelector", "yes"), Ok(true));
        assert_eq!(s.get("useEpollNativeSelector"), Some("false"));
        assert_eq!(s.set("listenPort", "1"), Ok(false));
    }
}
