//! Broker settings under Java's `BrokerConfig` / `NettyServerConfig` key names. Every key of
//! a broker.conf is also handed to the store, which picks out `MessageStoreConfig` keys.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use remoting::protocol::route::perm;

#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    pub broker_cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub broker_ip1: String,
    pub broker_ip2: String,
    pub listen_port: u16,
    pub ha_listen_port: u16,
    pub namesrv_addr: Option<String>,
    pub auto_create_topic_enable: bool,
    pub auto_create_subscription_group: bool,
    pub default_topic_queue_nums: i32,
    pub broker_permission: i32,
    pub cluster_topic_enable: bool,
    pub broker_topic_enable: bool,
    pub trace_topic_enable: bool,
    pub msg_trace_topic_name: String,
    pub long_polling_enable: bool,
    pub short_polling_time_mills: u64,
    pub register_name_server_period: u64,
    pub register_broker_timeout_mills: u64,
    pub compressed_register: bool,
    /// `forceRegister`: the periodic registration sends the whole topic table every time;
    /// off, it first asks each name server whether its copy is current (QUERY_DATA_VERSION)
    /// and registers only where it is not.
    pub force_register: bool,
    pub flush_consumer_offset_interval: u64,
    pub notify_consumer_ids_changed_enable: bool,
    pub channel_expired_timeout: u64,
    /// Puts waiting for the store beyond this many get SYSTEM_BUSY.
    pub send_thread_pool_queue_capacity: usize,
    /// Transactions: how often half messages are checked, how old one must be before
    /// its producer is asked, how many checks before it is given up, and whether
    /// transactional sends are refused (Java's keys and defaults).
    pub transaction_check_interval: u64,
    pub transaction_time_out: u64,
    pub transaction_check_max: i32,
    pub reject_transaction_message: bool,
    /// Our extension: answer a retried send (same UNIQ_KEY and topic, within the window)
    /// with the first send's result instead of storing it again (see `dedup`).
    pub duplicate_send_check_enable: bool,
    pub duplicate_send_check_window_seconds: u64,
    pub duplicate_send_check_max_keys: usize,
    /// Whether consumers may subscribe with SQL92 expressions (Java's default: false).
    pub enable_property_filter: bool,
    /// Whether replies (SEND_REPLY_MESSAGE) are also stored in the reply topic.
    pub store_reply_message_enable: bool,
    /// Per-queue statistics, and pull latency keyed per queue (Java's default: true).
    pub enable_detail_stat: bool,
    /// `slaveReadEnable`: pulls may suggest the slave (`whichBrokerWhenConsumeSlowly`)
    /// to a consumer that has fallen out of memory.
    pub slave_read_enable: bool,
    /// 5.x `litePullMessageEnable` (default true): false refuses LITE_PULL_MESSAGE (361).
    /// Not listed by GET_BROKER_CONFIG, whose key set stays 4.9.8's.
    pub lite_pull_message_enable: bool,
    /// Whether deleting a topic or group also drops its statistics (Java's default: false).
    pub auto_delete_unused_stats: bool,
    /// Our key (Java has none; default true): false stops counting the broker statistics
    /// (the TOPIC_/GROUP_/QUEUE_/BROKER_/SNDBCK_ item sets behind VIEW_BROKER_STATS_DATA,
    /// statsAll and consume TPS). Applies at once through UPDATE_BROKER_CONFIG. The
    /// store's own call counters (GET_BROKER_RUNTIME_INFO's TPS figures) stay on.
    pub enable_broker_stats: bool,
    /// ACL 1.0 (`aclEnable`): requests are checked against `plain_acl.yml`.
    pub acl_enable: bool,
    /// Where `conf/plain_acl.yml` lives (`rocketmqHome`, also set by `rocketmq.home.dir`;
    /// default `ROCKETMQ_HOME`); empty means the store root.
    pub rocketmq_home: String,
    /// The ACL file, relative to the home (Java's `rocketmq.acl.plain.file`).
    pub acl_plain_file: String,
    /// What the broker signs its own requests to the name servers with
    /// (`innerClientAuthenticationCredentials`, RocketMQ 5's key: a JSON object
    /// `{"accessKey":"..","secretKey":".."}`); None signs nothing, as Java 4.9.8 does.
    pub inner_client_credentials: Option<crate::acl::SessionCredentials>,
    /// `metricsExporterType` (RocketMQ 5): `PROM` serves Prometheus metrics; anything else
    /// (default `DISABLE`) none.
    pub metrics_exporter_type: String,
    /// `metricsPromExporterHost` / `metricsPromExporterPort` (5.x default 5557).
    pub metrics_prom_exporter_host: String,
    pub metrics_prom_exporter_port: u16,
    /// The web console (`dashboardPort`; off when unset), where it binds (`dashboardHost`,
    /// default 127.0.0.1: the console shows message bodies and has no login), whether its
    /// write actions are allowed (`dashboardWriteEnable`), and how often its plots sample
    /// (`dashboardSampleInterval`, ms; an hour of samples is kept).
    pub dashboard_port: Option<u16>,
    pub dashboard_host: String,
    pub dashboard_write_enable: bool,
    pub dashboard_sample_interval: u64,
    /// Outbound TLS to the name servers (`tls.enable`, `tls.client.*`).
    pub client_tls: remoting::tls::TlsClientSettings,
    /// How long an orderly consumer's queue lock lives without renewal, in ms (Java's
    /// system property `rocketmq.broker.rebalance.lockMaxLiveTime`, read here as a key).
    pub rebalance_lock_max_live_time: u64,
    /// Keys UPDATE_BROKER_CONFIG may not change, `;`-separated (besides Java's fixed ones).
    pub config_black_list: String,
    /// The file given with `-c`, where UPDATE_BROKER_CONFIG persists (not a key).
    pub broker_config_path: Option<std::path::PathBuf>,
    /// Transport settings (`serverSocketBacklog`, `serverChannelMaxIdleTimeSeconds`, ...).
    pub server: remoting::ServerSettings,
    /// Put in every send answer (`MSG_REGION`), for the client's trace records.
    pub region_id: String,
    /// Put in every send answer (`TRACE_ON`): whether clients should record traces.
    pub trace_on: bool,
    /// Sends are refused until this time (ms since the epoch; 0: from the start).
    pub start_accept_send_request_timestamp: i64,
    /// Java's settings for machinery we do not have (see `inert_settings`).
    pub inert: remoting::inert::InertSettings,
    /// Every key given (file, -D, -n), for the store's own settings.
    pub raw: HashMap<String, String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let ip = local_ip().to_string();
        BrokerConfig {
            broker_cluster_name: "DefaultCluster".into(),
            broker_name: local_hostname(),
            broker_id: 0,
            broker_ip1: ip.clone(),
            broker_ip2: ip,
            listen_port: 10911,
            ha_listen_port: 10912,
            namesrv_addr: std::env::var("NAMESRV_ADDR").ok().filter(|s| !s.is_empty()),
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            default_topic_queue_nums: 8,
            broker_permission: perm::READ | perm::WRITE,
            cluster_topic_enable: true,
            broker_topic_enable: true,
            trace_topic_enable: false,
            msg_trace_topic_name: "RMQ_SYS_TRACE_TOPIC".into(),
            long_polling_enable: true,
            short_polling_time_mills: 1000,
            register_name_server_period: 30_000,
            register_broker_timeout_mills: 6000,
            compressed_register: false,
            force_register: true,
            flush_consumer_offset_interval: 5000,
            notify_consumer_ids_changed_enable: true,
            channel_expired_timeout: 120_000,
            send_thread_pool_queue_capacity: 10_000,
            transaction_check_interval: 60_000,
            transaction_time_out: 6_000,
            transaction_check_max: 15,
            reject_transaction_message: false,
            duplicate_send_check_enable: false,
            duplicate_send_check_window_seconds: 120,
            duplicate_send_check_max_keys: 1_000_000,
            enable_property_filter: false,
            store_reply_message_enable: true,
            enable_detail_stat: true,
            slave_read_enable: false,
            lite_pull_message_enable: true,
            auto_delete_unused_stats: false,
            enable_broker_stats: true,
            acl_enable: false,
            rocketmq_home: std::env::var("ROCKETMQ_HOME").unwrap_or_default(),
            acl_plain_file: "conf/plain_acl.yml".into(),
            inner_client_credentials: None,
            client_tls: remoting::tls::TlsClientSettings::default(),
            metrics_exporter_type: "DISABLE".into(),
            metrics_prom_exporter_host: String::new(),
            metrics_prom_exporter_port: 5557,
            dashboard_port: None,
            dashboard_host: "127.0.0.1".into(),
            dashboard_write_enable: false,
            dashboard_sample_interval: 10_000,
            rebalance_lock_max_live_time: 60_000,
            config_black_list: "configBlackList;brokerConfigPath".into(),
            broker_config_path: None,
            server: remoting::ServerSettings::default(),
            region_id: "DefaultRegion".into(),
            trace_on: true,
            start_accept_send_request_timestamp: 0,
            inert: crate::inert_settings::defaults(),
            raw: HashMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("config key {key}: cannot use {value:?}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError {
        key: key.into(),
        value: value.into(),
    })
}

impl BrokerConfig {
    /// Applies one key (unknown keys are kept for the store and otherwise ignored).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let v = value.trim();
        match key {
            "brokerClusterName" => self.broker_cluster_name = v.into(),
            "brokerName" => self.broker_name = v.into(),
            "brokerId" => self.broker_id = parse(key, v)?,
            "brokerIP1" => {
                // brokerIP2 follows brokerIP1 unless it was set on its own
                if self.broker_ip2 == self.broker_ip1 && !self.raw.contains_key("brokerIP2") {
                    self.broker_ip2 = v.into();
                }
                self.broker_ip1 = v.into();
            }
            "brokerIP2" => self.broker_ip2 = v.into(),
            "listenPort" => self.listen_port = parse(key, v)?,
            "haListenPort" => self.ha_listen_port = parse(key, v)?,
            "namesrvAddr" => self.namesrv_addr = Some(v.to_string()).filter(|s| !s.is_empty()),
            "autoCreateTopicEnable" => self.auto_create_topic_enable = parse(key, v)?,
            "autoCreateSubscriptionGroup" => self.auto_create_subscription_group = parse(key, v)?,
            "defaultTopicQueueNums" => self.default_topic_queue_nums = parse(key, v)?,
            "brokerPermission" => self.broker_permission = parse(key, v)?,
            "clusterTopicEnable" => self.cluster_topic_enable = parse(key, v)?,
            "brokerTopicEnable" => self.broker_topic_enable = parse(key, v)?,
            "traceTopicEnable" => self.trace_topic_enable = parse(key, v)?,
            "msgTraceTopicName" => self.msg_trace_topic_name = v.into(),
            "longPollingEnable" => self.long_polling_enable = parse(key, v)?,
            "shortPollingTimeMills" => self.short_polling_time_mills = parse(key, v)?,
            "registerNameServerPeriod" => self.register_name_server_period = parse(key, v)?,
            "registerBrokerTimeoutMills" => self.register_broker_timeout_mills = parse(key, v)?,
            "compressedRegister" => self.compressed_register = parse(key, v)?,
            "forceRegister" => self.force_register = parse(key, v)?,
            "flushConsumerOffsetInterval" => self.flush_consumer_offset_interval = parse(key, v)?,
            "notifyConsumerIdsChangedEnable" => self.notify_consumer_ids_changed_enable = parse(key, v)?,
            "channelExpiredTimeout" => self.channel_expired_timeout = parse(key, v)?,
            "sendThreadPoolQueueCapacity" => self.send_thread_pool_queue_capacity = parse(key, v)?,
            "transactionCheckInterval" => self.transaction_check_interval = parse(key, v)?,
            "transactionTimeOut" => self.transaction_time_out = parse(key, v)?,
            "transactionCheckMax" => self.transaction_check_max = parse(key, v)?,
            "rejectTransactionMessage" => self.reject_transaction_message = parse(key, v)?,
            "duplicateSendCheckEnable" => self.duplicate_send_check_enable = parse(key, v)?,
            "duplicateSendCheckWindowSeconds" => self.duplicate_send_check_window_seconds = parse(key, v)?,
            "duplicateSendCheckMaxKeys" => self.duplicate_send_check_max_keys = parse(key, v)?,
            "enablePropertyFilter" => self.enable_property_filter = parse(key, v)?,
            "storeReplyMessageEnable" => self.store_reply_message_enable = parse(key, v)?,
            "enableDetailStat" => self.enable_detail_stat = parse(key, v)?,
            "slaveReadEnable" => self.slave_read_enable = parse(key, v)?,
            "litePullMessageEnable" => self.lite_pull_message_enable = parse(key, v)?,
            "autoDeleteUnusedStats" => self.auto_delete_unused_stats = parse(key, v)?,
            "enableBrokerStats" => self.enable_broker_stats = parse(key, v)?,
            "aclEnable" => self.acl_enable = parse(key, v)?,
            "metricsExporterType" => self.metrics_exporter_type = v.trim().into(),
            "metricsPromExporterHost" => self.metrics_prom_exporter_host = v.trim().into(),
            "metricsPromExporterPort" => self.metrics_prom_exporter_port = parse(key, v)?,
            "dashboardPort" => self.dashboard_port = if v.is_empty() { None } else { Some(parse(key, v)?) },
            "dashboardHost" => {
                // An IP address only, so the console binds exactly where it is told.
                let host = if v == "localhost" { "127.0.0.1" } else { v };
                let ip: IpAddr = parse(key, host.trim_start_matches('[').trim_end_matches(']'))?;
                self.dashboard_host = ip.to_string();
            }
            "dashboardWriteEnable" => self.dashboard_write_enable = parse(key, v)?,
            "dashboardSampleInterval" => self.dashboard_sample_interval = parse::<u64>(key, v)?.clamp(100, 3_600_000),
            "rocketmqHome" | "rocketmq.home.dir" => self.rocketmq_home = v.into(),
            "rocketmq.acl.plain.file" => self.acl_plain_file = v.into(),
            "innerClientAuthenticationCredentials" => {
                self.inner_client_credentials = crate::acl::SessionCredentials::parse(v).map_err(|_| ConfigError {
                    key: key.into(),
                    // The value holds a secret: not repeated in the error.
                    value: "<not a JSON object>".into(),
                })?
            }
            "rocketmq.broker.rebalance.lockMaxLiveTime" => self.rebalance_lock_max_live_time = parse(key, v)?,
            "configBlackList" => self.config_black_list = v.into(),
            "regionId" => self.region_id = v.into(),
            "traceOn" => self.trace_on = parse(key, v)?,
            "startAcceptSendRequestTimeStamp" => self.start_accept_send_request_timestamp = parse(key, v)?,
            _ => {
                let bad = || ConfigError {
                    key: key.into(),
                    value: v.into(),
                };
                if self.inert.set(key, v).map_err(|_| bad())? {
                    // One of Java's settings we only keep.
                } else if !self.client_tls.set(key, v).map_err(|_| bad())? {
                    self.server.set(key, v).map_err(|_| bad())?;
                }
            }
        }
        self.raw.insert(key.to_string(), v.to_string());
        Ok(())
    }

    pub fn prometheus_enabled(&self) -> bool {
        self.metrics_exporter_type.eq_ignore_ascii_case("PROM")
    }

    /// Where the Prometheus endpoint binds: `metricsPromExporterHost`, or `brokerIP1` when
    /// that is blank (as RocketMQ 5's BrokerMetricsManager does); a host name is resolved, and
    /// one that does not resolve means all interfaces.
    pub fn metrics_addr(&self) -> SocketAddr {
        use std::net::ToSocketAddrs;
        let host = if self.metrics_prom_exporter_host.trim().is_empty() {
            self.broker_ip1.trim()
        } else {
            self.metrics_prom_exporter_host.trim()
        };
        let port = self.metrics_prom_exporter_port;
        match host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => (host, port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], port))),
        }
    }

    /// Where the web console binds, when `dashboardPort` is set.
    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        let port = self.dashboard_port?;
        let host = if self.dashboard_host.is_empty() {
            "127.0.0.1"
        } else {
            self.dashboard_host.as_str()
        };
        let ip: IpAddr = host.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Some(SocketAddr::new(ip, port))
    }

    pub fn broker_addr(&self) -> String {
        format!("{}:{}", self.broker_ip1, self.listen_port)
    }

    pub fn ha_server_addr(&self) -> String {
        format!("{}:{}", self.broker_ip2, self.ha_listen_port)
    }

    pub fn name_servers(&self) -> Vec<String> {
        self.namesrv_addr
            .as_deref()
            .unwrap_or("")
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    /// Every broker-level setting as (key, value), for `-p` and GET_BROKER_CONFIG.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("brokerClusterName", self.broker_cluster_name.clone()),
            ("brokerName", self.broker_name.clone()),
            ("brokerId", self.broker_id.to_string()),
            ("brokerIP1", self.broker_ip1.clone()),
            ("brokerIP2", self.broker_ip2.clone()),
            ("listenPort", self.listen_port.to_string()),
            ("haListenPort", self.ha_listen_port.to_string()),
            ("namesrvAddr", self.namesrv_addr.clone().unwrap_or_default()),
            ("autoCreateTopicEnable", self.auto_create_topic_enable.to_string()),
            (
                "autoCreateSubscriptionGroup",
                self.auto_create_subscription_group.to_string(),
            ),
            ("defaultTopicQueueNums", self.default_topic_queue_nums.to_string()),
            ("brokerPermission", self.broker_permission.to_string()),
            ("clusterTopicEnable", self.cluster_topic_enable.to_string()),
            ("brokerTopicEnable", self.broker_topic_enable.to_string()),
            ("traceTopicEnable", self.trace_topic_enable.to_string()),
            ("msgTraceTopicName", self.msg_trace_topic_name.clone()),
            ("longPollingEnable", self.long_polling_enable.to_string()),
            ("shortPollingTimeMills", self.short_polling_time_mills.to_string()),
            ("registerNameServerPeriod", self.register_name_server_period.to_string()),
            (
                "registerBrokerTimeoutMills",
                self.register_broker_timeout_mills.to_string(),
            ),
            ("compressedRegister", self.compressed_register.to_string()),
            ("forceRegister", self.force_register.to_string()),
            (
                "flushConsumerOffsetInterval",
                self.flush_consumer_offset_interval.to_string(),
            ),
            (
                "notifyConsumerIdsChangedEnable",
                self.notify_consumer_ids_changed_enable.to_string(),
            ),
            ("channelExpiredTimeout", self.channel_expired_timeout.to_string()),
            (
                "sendThreadPoolQueueCapacity",
                self.send_thread_pool_queue_capacity.to_string(),
            ),
            ("transactionCheckInterval", self.transaction_check_interval.to_string()),
            ("transactionTimeOut", self.transaction_time_out.to_string()),
            ("transactionCheckMax", self.transaction_check_max.to_string()),
            ("rejectTransactionMessage", self.reject_transaction_message.to_string()),
            ("duplicateSendCheckEnable", self.duplicate_send_check_enable.to_string()),
            (
                "duplicateSendCheckWindowSeconds",
                self.duplicate_send_check_window_seconds.to_string(),
            ),
            (
                "duplicateSendCheckMaxKeys",
                self.duplicate_send_check_max_keys.to_string(),
            ),
            ("enablePropertyFilter", self.enable_property_filter.to_string()),
            ("storeReplyMessageEnable", self.store_reply_message_enable.to_string()),
            ("enableDetailStat", self.enable_detail_stat.to_string()),
            ("slaveReadEnable", self.slave_read_enable.to_string()),
            ("autoDeleteUnusedStats", self.auto_delete_unused_stats.to_string()),
            ("enableBrokerStats", self.enable_broker_stats.to_string()),
            ("aclEnable", self.acl_enable.to_string()),
            ("metricsExporterType", self.metrics_exporter_type.clone()),
            ("metricsPromExporterHost", self.metrics_prom_exporter_host.clone()),
            ("metricsPromExporterPort", self.metrics_prom_exporter_port.to_string()),
            (
                "dashboardPort",
                self.dashboard_port.map(|p| p.to_string()).unwrap_or_default(),
            ),
            ("dashboardHost", self.dashboard_host.clone()),
            ("dashboardWriteEnable", self.dashboard_write_enable.to_string()),
            ("dashboardSampleInterval", self.dashboard_sample_interval.to_string()),
            ("rocketmqHome", self.rocketmq_home.clone()),
            (
                "rocketmq.broker.rebalance.lockMaxLiveTime",
                self.rebalance_lock_max_live_time.to_string(),
            ),
            ("configBlackList", self.config_black_list.clone()),
            ("regionId", self.region_id.clone()),
            ("traceOn", self.trace_on.to_string()),
            (
                "startAcceptSendRequestTimeStamp",
                self.start_accept_send_request_timestamp.to_string(),
            ),
            // Settings Java reports that we have no use for, with Java's values; mqadmin's
            // exportConfigs and exportMetrics read them.
            ("filterServerNums", "0".into()),
            ("useTLS", self.client_tls.enable.to_string()),
            (
                "clientCallbackExecutorThreads",
                std::thread::available_parallelism().map_or(1, |n| n.get()).to_string(),
            ),
        ];
        pairs.extend(self.server.to_pairs());
        pairs.extend(self.inert.pairs());
        pairs
    }
}

fn local_hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The address other hosts reach us at, picked as Java does: the first IPv4 address of an
/// interface that is up and not loopback, else 127.0.0.1.
fn local_ip() -> IpAddr {
    let mut found = None;
    // SAFETY: getifaddrs fills a linked list we only read and then free with freeifaddrs.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) == 0 {
            let mut cur = list;
            while !cur.is_null() && found.is_none() {
                let ifa = &*cur;
                let up = ifa.ifa_flags & (libc::IFF_UP as u32) != 0;
                let loopback = ifa.ifa_flags & (libc::IFF_LOOPBACK as u32) != 0;
                if up && !loopback && !ifa.ifa_addr.is_null() && (*ifa.ifa_addr).sa_family as i32 == libc::AF_INET {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    found = Some(IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes()));
                }
                cur = ifa.ifa_next;
            }
            libc::freeifaddrs(list);
        }
    }
    found.unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_bind_to_the_exporter_host_else_broker_ip1() {
        let mut c = BrokerConfig::default();
        c.set("brokerIP1", "127.0.0.5").unwrap();
        c.set("metricsPromExporterPort", "5557").unwrap();
        assert_eq!(c.metrics_addr(), "127.0.0.5:5557".parse().unwrap());
        c.set("metricsPromExporterHost", "0.0.0.0").unwrap();
        assert_eq!(c.metrics_addr(), "0.0.0.0:5557".parse().unwrap());
    }

    #[test]
    fn inner_client_credentials_are_a_json_object() {
        let mut c = BrokerConfig::default();
        assert_eq!(c.inner_client_credentials, None);
        c.set(
            "innerClientAuthenticationCredentials",
            r#"{"accessKey":"rocketmq2","secretKey":"12345678"}"#,
        )
        .unwrap();
        let credentials = c.inner_client_credentials.clone().unwrap();
        assert_eq!(credentials.access_key.as_deref(), Some("rocketmq2"));
        let err = c
            .set("innerClientAuthenticationCredentials", "secretKey=hunter22")
            .unwrap_err();
        assert!(!err.to_string().contains("hunter22"), "{err}");
        c.set("innerClientAuthenticationCredentials", "").unwrap();
        assert_eq!(c.inner_client_credentials, None);
    }
}
