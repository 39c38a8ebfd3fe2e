//! Name server settings, under the keys Java's `NamesrvConfig` and `NettyServerConfig` use,
//! so existing `namesrv.properties` files work unchanged.

use std::path::PathBuf;

use remoting::properties;

#[derive(Debug, Clone, PartialEq)]
pub struct NamesrvConfig {
    pub rocketmq_home: String,
    pub kv_config_path: String,
    pub config_store_path: String,
    pub product_env_name: String,
    pub cluster_test: bool,
    pub order_message_enable: bool,
    pub config_black_list: String,
    /// How often live brokers are checked for expiry, in ms (a 5.x key).
    pub scan_not_active_broker_interval: u64,
    /// How long a broker may go without registering before it is dropped, in ms
    /// (Java's fixed `BROKER_CHANNEL_EXPIRED_TIME`, made configurable).
    pub broker_channel_expired_time: u64,
    /// 5.x `supportActingMaster` (default false): a route whose broker name has lost its
    /// master, with `enableActingMaster` brokers and no write permission left, names the
    /// slave with the lowest id as id 0.
    pub support_acting_master: bool,
    pub listen_port: u16,
    pub bind_address: String,
    /// Prometheus metrics, with the keys of RocketMQ 5's controller (the name server of 5.x
    /// has none): `metricsExporterType` (`PROM` serves, default `DISABLE`),
    /// `metricsPromExporterHost` (default all interfaces), `metricsPromExporterPort` (5557).
    pub metrics_exporter_type: String,
    pub metrics_prom_exporter_host: String,
    pub metrics_prom_exporter_port: u16,
    /// Transport settings (`serverSocketBacklog`, `serverChannelMaxIdleTimeSeconds`, ...).
    pub server: remoting::ServerSettings,
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        let namesrv_dir = home_dir().join("namesrv");
        NamesrvConfig {
            rocketmq_home: std::env::var("ROCKETMQ_HOME").unwrap_or_default(),
            kv_config_path: namesrv_dir.join("kvConfig.json").to_string_lossy().into_owned(),
            config_store_path: namesrv_dir.join("namesrv.properties").to_string_lossy().into_owned(),
            product_env_name: "center".into(),
            cluster_test: false,
            order_message_enable: false,
            config_black_list: "configBlackList;configStorePath;kvConfigPath".into(),
            scan_not_active_broker_interval: 5_000,
            broker_channel_expired_time: 120_000,
            support_acting_master: false,
            listen_port: 9876,
            bind_address: "0.0.0.0".into(),
            metrics_exporter_type: "DISABLE".into(),
            metrics_prom_exporter_host: String::new(),
            metrics_prom_exporter_port: 5557,
            server: remoting::ServerSettings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("config key {key}: cannot use {value:?}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
}

fn parse_value<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError {
        key: key.to_string(),
        value: value.to_string(),
    })
}

impl NamesrvConfig {
    /// Applies one key; returns false for keys the name server does not know (Java ignores
    /// those too).
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "rocketmqHome" => self.rocketmq_home = value.to_string(),
            "kvConfigPath" => self.kv_config_path = value.to_string(),
            "configStorePath" => self.config_store_path = value.to_string(),
            "productEnvName" => self.product_env_name = value.to_string(),
            "clusterTest" => self.cluster_test = parse_value(key, value)?,
            "orderMessageEnable" => self.order_message_enable = parse_value(key, value)?,
            "configBlackList" => self.config_black_list = value.to_string(),
            "scanNotActiveBrokerInterval" => self.scan_not_active_broker_interval = parse_value(key, value)?,
            "brokerChannelExpiredTime" => self.broker_channel_expired_time = parse_value(key, value)?,
            "supportActingMaster" => self.support_acting_master = parse_value(key, value)?,
            "listenPort" => self.listen_port = parse_value(key, value)?,
            "bindAddress" => self.bind_address = value.to_string(),
            "metricsExporterType" => self.metrics_exporter_type = value.trim().to_string(),
            "metricsPromExporterHost" => self.metrics_prom_exporter_host = value.trim().to_string(),
            "metricsPromExporterPort" => self.metrics_prom_exporter_port = parse_value(key, value)?,
            _ => {
                return self.server.set(key, value).map_err(|_| ConfigError {
                    key: key.to_string(),
                    value: value.to_string(),
                })
            }
        }
        Ok(true)
    }

    pub fn prometheus_enabled(&self) -> bool {
        self.metrics_exporter_type.eq_ignore_ascii_case("PROM")
    }

    /// Where the Prometheus endpoint binds; `None` when the host does not parse.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        let host = if self.metrics_prom_exporter_host.is_empty() {
            "0.0.0.0"
        } else {
            self.metrics_prom_exporter_host
                .trim_start_matches('[')
                .trim_end_matches(']')
        };
        let ip: std::net::IpAddr = host.parse().ok()?;
        Some(std::net::SocketAddr::new(ip, self.metrics_prom_exporter_port))
    }

    pub fn apply<'a>(&mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), ConfigError> {
        for (key, value) in pairs {
            self.set(key, value)?;
        }
        Ok(())
    }

    /// Every setting as (key, value), in a stable order.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("rocketmqHome", self.rocketmq_home.clone()),
            ("kvConfigPath", self.kv_config_path.clone()),
            ("configStorePath", self.config_store_path.clone()),
            ("productEnvName", self.product_env_name.clone()),
            ("clusterTest", self.cluster_test.to_string()),
            ("orderMessageEnable", self.order_message_enable.to_string()),
            ("configBlackList", self.config_black_list.clone()),
            (
                "scanNotActiveBrokerInterval",
                self.scan_not_active_broker_interval.to_string(),
            ),
            ("brokerChannelExpiredTime", self.broker_channel_expired_time.to_string()),
            ("supportActingMaster", self.support_acting_master.to_string()),
            ("listenPort", self.listen_port.to_string()),
            ("bindAddress", self.bind_address.clone()),
        ];
        pairs.extend(self.server.to_pairs());
        pairs
    }

    pub fn to_properties(&self) -> String {
        properties::to_string(self.to_pairs())
    }

    /// Keys that UPDATE_NAMESRV_CONFIG may not change.
    pub fn black_list(&self) -> Vec<String> {
        let mut keys: Vec<String> = ["configBlackList", "configStorePath", "kvConfigPath", "rocketmqHome"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        keys.extend(
            self.config_black_list
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_keys_round_trip_through_properties() {
        let mut config = NamesrvConfig::default();
        config
            .apply([
                ("listenPort", "19876"),
                ("orderMessageEnable", "true"),
                ("unknownKey", "x"),
            ])
            .unwrap();
        assert_eq!(config.listen_port, 19876);
        assert!(config.order_message_enable);
        let text = config.to_properties();
        let mut again = NamesrvConfig::default();
        for (k, v) in properties::parse(&text) {
            again.set(&k, &v).unwrap();
        }
        assert_eq!(again, config);
        assert!(config.set("listenPort", "abc").is_err());
    }
}
