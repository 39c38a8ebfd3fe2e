//! Store settings, named and defaulted as Java's `MessageStoreConfig`, so a
//! broker.conf can be passed through unchanged.

use std::collections::HashMap;
use std::path::PathBuf;

/// When a put counts as durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDiskType {
    /// A background task flushes every `flushIntervalCommitLog` ms.
    AsyncFlush,
    /// A put completes only once its bytes are flushed (group commit).
    SyncFlush,
}

/// What a broker is in its master/slave group (`brokerRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRole {
    /// Answers a put once it is stored; slaves catch up in the background.
    AsyncMaster,
    /// Answers a put (that waits for its store) only once a slave has its bytes.
    SyncMaster,
    /// Takes its CommitLog from a master; refuses puts.
    Slave,
}

impl BrokerRole {
    pub fn parse(s: &str) -> Option<BrokerRole> {
        match s.trim() {
            "ASYNC_MASTER" => Some(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Some(BrokerRole::SyncMaster),
            "SLAVE" => Some(BrokerRole::Slave),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }
}

/// The store's settings. Field docs give the Java key name.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `storePathRootDir`
    pub store_path_root_dir: PathBuf,
    /// `storePathCommitLog` (defaults to `<root>/commitlog`)
    pub store_path_commit_log: Option<PathBuf>,
    /// `mappedFileSizeCommitLog`
    pub mapped_file_size_commit_log: u64,
    /// `mappedFileSizeConsumeQueue` (a multiple of 20)
    pub mapped_file_size_consume_queue: u64,
    /// `flushDiskType`
    pub flush_disk_type: FlushDiskType,
    /// `flushIntervalCommitLog` (ms)
    pub flush_interval_commit_log: u64,
    /// `flushCommitLogTimed`: in Java, sleep the interval rather than wait for a wakeup.
    /// Accepted for compatibility with Java's key; both values behave alike here: the
    /// flush thread sleeps `flushIntervalCommitLog` and is woken early only after
    /// 32 MiB written or read (to bound resident memory) or at shutdown.
    pub flush_commit_log_timed: bool,
    /// `flushCommitLogLeastPages`
    pub flush_commit_log_least_pages: u32,
    /// `transientStorePoolEnable`: under ASYNC_FLUSH, appends go to an in-memory staging
    /// buffer that a commit thread writes to the CommitLog file in large writes (Java's
    /// transient store pool). Faster appends; messages become readable once committed,
    /// and a crash of the process loses what was acknowledged but not yet committed.
    pub transient_store_pool_enable: bool,
    /// `commitIntervalCommitLog` (ms): how long the commit thread sleeps when nothing
    /// wakes it. Appends wake it, so it commits as soon as there is data.
    pub commit_interval_commit_log: u64,
    /// `flushCommitLogThoroughInterval` (ms)
    pub flush_commit_log_thorough_interval: u64,
    /// `flushIntervalConsumeQueue` (ms)
    pub flush_interval_consume_queue: u64,
    /// `flushConsumeQueueLeastPages`
    pub flush_consume_queue_least_pages: u32,
    /// `flushConsumeQueueThoroughInterval` (ms)
    pub flush_consume_queue_thorough_interval: u64,
    /// `maxMessageSize` (largest body accepted)
    pub max_message_size: usize,
    /// `fileReservedTime` (hours)
    pub file_reserved_time: u64,
    /// `deleteWhen`: hours of the day, e.g. "04" or "04;16"
    pub delete_when: String,
    /// `diskMaxUsedSpaceRatio` (percent)
    pub disk_max_used_space_ratio: u32,
    /// `cleanFileForciblyEnable`
    pub clean_file_forcibly_enable: bool,
    /// Disk use (fraction) past which files go whatever their age, if
    /// `cleanFileForciblyEnable`. Java's system property
    /// `rocketmq.broker.diskSpaceCleanForciblyRatio`, read here as a key.
    pub disk_space_clean_forcibly_ratio: f64,
    /// Disk use (fraction) past which puts are refused until space is freed. Java's system
    /// property `rocketmq.broker.diskSpaceWarningLevelRatio`, read here as a key.
    pub disk_space_warning_level_ratio: f64,
    /// `cleanResourceInterval` (ms)
    pub clean_resource_interval: u64,
    /// `deleteCommitLogFilesInterval` (ms between two file deletions)
    pub delete_commit_log_files_interval: u64,
    /// `checkCRCOnRecover`
    pub check_crc_on_recover: bool,
    /// `maxHashSlotNum`
    pub max_hash_slot_num: u32,
    /// `maxIndexNum`
    pub max_index_num: u32,
    /// `maxMsgsNumBatch` (cap on key query results)
    pub max_msgs_num_batch: usize,
    /// `messageIndexEnable`
    pub message_index_enable: bool,
    /// `messageIndexSafe`
    pub message_index_safe: bool,
    /// `maxTransferBytesOnMessageInMemory`
    pub max_transfer_bytes_on_message_in_memory: usize,
    /// `maxTransferCountOnMessageInMemory`
    pub max_transfer_count_on_message_in_memory: usize,
    /// `maxTransferBytesOnMessageInDisk`
    pub max_transfer_bytes_on_message_in_disk: usize,
    /// `maxTransferCountOnMessageInDisk`
    pub max_transfer_count_on_message_in_disk: usize,
    /// `accessMessageInMemoryMaxRatio` (percent of RAM)
    pub access_message_in_memory_max_ratio: u32,
    /// `syncFlushTimeout` (ms)
    pub sync_flush_timeout: u64,
    /// `messageDelayLevel`
    pub message_delay_level: String,
    /// `duplicationEnable` (accepted, unused)
    pub duplication_enable: bool,
    /// `brokerRole`
    pub broker_role: BrokerRole,
    /// `haListenPort` (the broker listens on `listenPort + 1`, as Java's startup sets it)
    pub ha_listen_port: u16,
    /// `haSendHeartbeatInterval` (ms): how often an idle replication link reports or
    /// sends an empty header.
    pub ha_send_heartbeat_interval: u64,
    /// `haHousekeepingInterval` (ms): a replication link silent this long is closed.
    pub ha_housekeeping_interval: u64,
    /// `haTransferBatchSize`: most CommitLog bytes in one transfer to a slave.
    pub ha_transfer_batch_size: usize,
    /// `haMasterAddress`: the master's HA address, for a slave (otherwise learnt from
    /// the name server's REGISTER_BROKER answer).
    pub ha_master_address: Option<String>,
    /// `haSlaveFallbehindMax`: a SYNC_MASTER answers SLAVE_NOT_AVAILABLE when its slave
    /// is further behind than this many bytes.
    pub ha_slave_fallbehind_max: i64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        StoreConfig {
            store_path_root_dir: home.join("store"),
            store_path_commit_log: None,
            mapped_file_size_commit_log: 1024 * 1024 * 1024,
            mapped_file_size_consume_queue: 300_000 * 20,
            flush_disk_type: FlushDiskType::AsyncFlush,
            flush_interval_commit_log: 500,
            flush_commit_log_timed: true,
            flush_commit_log_least_pages: 4,
            transient_store_pool_enable: false,
            commit_interval_commit_log: 200,
            flush_commit_log_thorough_interval: 10_000,
            flush_interval_consume_queue: 1000,
            flush_consume_queue_least_pages: 2,
            flush_consume_queue_thorough_interval: 60_000,
            max_message_size: 4 * 1024 * 1024,
            file_reserved_time: 72,
            delete_when: "04".to_string(),
            disk_max_used_space_ratio: 75,
            clean_file_forcibly_enable: true,
            disk_space_clean_forcibly_ratio: 0.85,
            disk_space_warning_level_ratio: 0.90,
            clean_resource_interval: 10_000,
            delete_commit_log_files_interval: 100,
            check_crc_on_recover: true,
            max_hash_slot_num: 5_000_000,
            max_index_num: 5_000_000 * 4,
            max_msgs_num_batch: 64,
            message_index_enable: true,
            message_index_safe: false,
            max_transfer_bytes_on_message_in_memory: 256 * 1024,
            max_transfer_count_on_message_in_memory: 32,
            max_transfer_bytes_on_message_in_disk: 64 * 1024,
            max_transfer_count_on_message_in_disk: 8,
            access_message_in_memory_max_ratio: 40,
            sync_flush_timeout: 5000,
            message_delay_level: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h".to_string(),
            duplication_enable: false,
            broker_role: BrokerRole::AsyncMaster,
            ha_listen_port: 10912,
            ha_send_heartbeat_interval: 5000,
            ha_housekeeping_interval: 20_000,
            ha_transfer_batch_size: 32 * 1024,
            ha_master_address: None,
            ha_slave_fallbehind_max: 256 * 1024 * 1024,
        }
    }
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("bad value {value:?} for {key}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
}

impl StoreConfig {
    /// A default config rooted at `root`.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        StoreConfig {
            store_path_root_dir: root.into(),
            ..Default::default()
        }
    }

    /// Builds a config from Java-style `key=value` settings (broker.conf).
    /// Unknown keys are ignored (they belong to the broker); known keys
    /// with unreadable values are an error.
    pub fn from_properties(props: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut c = StoreConfig::default();
        c.apply_properties(props)?;
        Ok(c)
    }

    /// Parses the text of a properties file (`#` comments, `key=value`).
    pub fn parse_properties_text(text: &str) -> HashMap<String, String> {
        let mut map = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            if let Some(i) = line.find(['=', ':']) {
                map.insert(line[..i].trim().to_string(), line[i + 1..].trim().to_string());
            }
        }
        map
    }

    /// Overrides the settings named in `props`.
    pub fn apply_properties(&mut self, props: &HashMap<String, String>) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, ConfigError> {
            v.trim().parse().map_err(|_| ConfigError {
                key: k.to_string(),
                value: v.to_string(),
            })
        }
        fn boolean(k: &str, v: &str) -> Result<bool, ConfigError> {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ConfigError {
                    key: k.to_string(),
                    value: v.to_string(),
                }),
            }
        }
        for (k, v) in props {
            match k.as_str() {
                "storePathRootDir" => self.store_path_root_dir = PathBuf::from(v.trim()),
                "storePathCommitLog" => self.store_path_commit_log = Some(PathBuf::from(v.trim())),
                "mappedFileSizeCommitLog" => self.mapped_file_size_commit_log = num(k, v)?,
                "mappedFileSizeConsumeQueue" => self.mapped_file_size_consume_queue = num(k, v)?,
                "flushDiskType" => {
                    self.flush_disk_type = match v.trim() {
                        "ASYNC_FLUSH" => FlushDiskType::AsyncFlush,
                        "SYNC_FLUSH" => FlushDiskType::SyncFlush,
                        _ => {
                            return Err(ConfigError {
                                key: k.clone(),
                                value: v.clone(),
                            })
                        }
                    }
                }
                "flushIntervalCommitLog" => self.flush_interval_commit_log = num(k, v)?,
                "flushCommitLogTimed" => self.flush_commit_log_timed = boolean(k, v)?,
                "flushCommitLogLeastPages" => self.flush_commit_log_least_pages = num(k, v)?,
                "transientStorePoolEnable" => self.transient_store_pool_enable = boolean(k, v)?,
                "commitIntervalCommitLog" => self.commit_interval_commit_log = num(k, v)?,
                "flushCommitLogThoroughInterval" => self.flush_commit_log_thorough_interval = num(k, v)?,
                "flushIntervalConsumeQueue" => self.flush_interval_consume_queue = num(k, v)?,
                "flushConsumeQueueLeastPages" => self.flush_consume_queue_least_pages = num(k, v)?,
                "flushConsumeQueueThoroughInterval" => self.flush_consume_queue_thorough_interval = num(k, v)?,
                "maxMessageSize" => self.max_message_size = num(k, v)?,
                "fileReservedTime" => self.file_reserved_time = num(k, v)?,
                "deleteWhen" => self.delete_when = v.trim().to_string(),
                "diskMaxUsedSpaceRatio" => self.disk_max_used_space_ratio = num(k, v)?,
                "cleanFileForciblyEnable" => self.clean_file_forcibly_enable = boolean(k, v)?,
                "rocketmq.broker.diskSpaceCleanForciblyRatio" => self.disk_space_clean_forcibly_ratio = num(k, v)?,
                "rocketmq.broker.diskSpaceWarningLevelRatio" => self.disk_space_warning_level_ratio = num(k, v)?,
                "cleanResourceInterval" => self.clean_resource_interval = num(k, v)?,
                "deleteCommitLogFilesInterval" => self.delete_commit_log_files_interval = num(k, v)?,
                "checkCRCOnRecover" => self.check_crc_on_recover = boolean(k, v)?,
                "maxHashSlotNum" => self.max_hash_slot_num = num(k, v)?,
                "maxIndexNum" => self.max_index_num = num(k, v)?,
                "maxMsgsNumBatch" => self.max_msgs_num_batch = num(k, v)?,
                "messageIndexEnable" => self.message_index_enable = boolean(k, v)?,
                "messageIndexSafe" => self.message_index_safe = boolean(k, v)?,
                "maxTransferBytesOnMessageInMemory" => self.max_transfer_bytes_on_message_in_memory = num(k, v)?,
                "maxTransferCountOnMessageInMemory" => self.max_transfer_count_on_message_in_memory = num(k, v)?,
                "maxTransferBytesOnMessageInDisk" => self.max_transfer_bytes_on_message_in_disk = num(k, v)?,
                "maxTransferCountOnMessageInDisk" => self.max_transfer_count_on_message_in_disk = num(k, v)?,
                "accessMessageInMemoryMaxRatio" => self.access_message_in_memory_max_ratio = num(k, v)?,
                "syncFlushTimeout" => self.sync_flush_timeout = num(k, v)?,
                "messageDelayLevel" => self.message_delay_level = v.trim().to_string(),
                "duplicationEnable" => self.duplication_enable = boolean(k, v)?,
                "brokerRole" => {
                    self.broker_role = BrokerRole::parse(v).ok_or_else(|| ConfigError {
                        key: k.clone(),
                        value: v.clone(),
                    })?
                }
                "haListenPort" => self.ha_listen_port = num(k, v)?,
                "haSendHeartbeatInterval" => self.ha_send_heartbeat_interval = num(k, v)?,
                "haHousekeepingInterval" => self.ha_housekeeping_interval = num(k, v)?,
                "haTransferBatchSize" => self.ha_transfer_batch_size = num(k, v)?,
                "haMasterAddress" => {
                    // Java takes it only when it looks like host:port (at least 6 characters).
                    let v = v.trim();
                    self.ha_master_address = (v.len() >= 6).then(|| v.to_string());
                }
                "haSlaveFallbehindMax" => self.ha_slave_fallbehind_max = num(k, v)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Every setting with its Java key and current value (GET_BROKER_CONFIG shows them all,
    /// as Java's shows its MessageStoreConfig).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("storePathRootDir", self.store_path_root_dir.display().to_string()),
            ("storePathCommitLog", self.commit_log_dir().display().to_string()),
            (
                "flushDiskType",
                match self.flush_disk_type {
                    FlushDiskType::AsyncFlush => "ASYNC_FLUSH",
                    FlushDiskType::SyncFlush => "SYNC_FLUSH",
                }
                .to_string(),
            ),
            ("deleteWhen", self.delete_when.clone()),
            ("messageDelayLevel", self.message_delay_level.clone()),
            ("brokerRole", self.broker_role.as_str().to_string()),
            ("haMasterAddress", self.ha_master_address.clone().unwrap_or_default()),
            ("mappedFileSizeCommitLog", self.mapped_file_size_commit_log.to_string()),
            (
                "mappedFileSizeConsumeQueue",
                self.mapped_file_size_consume_queue.to_string(),
            ),
            ("flushIntervalCommitLog", self.flush_interval_commit_log.to_string()),
            ("flushCommitLogTimed", self.flush_commit_log_timed.to_string()),
            (
                "flushCommitLogLeastPages",
                self.flush_commit_log_least_pages.to_string(),
            ),
            ("transientStorePoolEnable", self.transient_store_pool_enable.to_string()),
            ("commitIntervalCommitLog", self.commit_interval_commit_log.to_string()),
            (
                "flushCommitLogThoroughInterval",
                self.flush_commit_log_thorough_interval.to_string(),
            ),
            (
                "flushIntervalConsumeQueue",
                self.flush_interval_consume_queue.to_string(),
            ),
            (
                "flushConsumeQueueLeastPages",
                self.flush_consume_queue_least_pages.to_string(),
            ),
            (
                "flushConsumeQueueThoroughInterval",
                self.flush_consume_queue_thorough_interval.to_string(),
            ),
            ("maxMessageSize", self.max_message_size.to_string()),
            ("fileReservedTime", self.file_reserved_time.to_string()),
            ("diskMaxUsedSpaceRatio", self.disk_max_used_space_ratio.to_string()),
            ("cleanFileForciblyEnable", self.clean_file_forcibly_enable.to_string()),
            ("cleanResourceInterval", self.clean_resource_interval.to_string()),
            (
                "deleteCommitLogFilesInterval",
                self.delete_commit_log_files_interval.to_string(),
            ),
            ("checkCRCOnRecover", self.check_crc_on_recover.to_string()),
            ("maxHashSlotNum", self.max_hash_slot_num.to_string()),
            ("maxIndexNum", self.max_index_num.to_string()),
            ("maxMsgsNumBatch", self.max_msgs_num_batch.to_string()),
            ("messageIndexEnable", self.message_index_enable.to_string()),
            ("messageIndexSafe", self.message_index_safe.to_string()),
            (
                "maxTransferBytesOnMessageInMemory",
                self.max_transfer_bytes_on_message_in_memory.to_string(),
            ),
            (
                "maxTransferCountOnMessageInMemory",
                self.max_transfer_count_on_message_in_memory.to_string(),
            ),
            (
                "maxTransferBytesOnMessageInDisk",
                self.max_transfer_bytes_on_message_in_disk.to_string(),
            ),
            (
                "maxTransferCountOnMessageInDisk",
                self.max_transfer_count_on_message_in_disk.to_string(),
            ),
            (
                "accessMessageInMemoryMaxRatio",
                self.access_message_in_memory_max_ratio.to_string(),
            ),
            ("syncFlushTimeout", self.sync_flush_timeout.to_string()),
            ("duplicationEnable", self.duplication_enable.to_string()),
            ("haListenPort", self.ha_listen_port.to_string()),
            ("haSendHeartbeatInterval", self.ha_send_heartbeat_interval.to_string()),
            ("haHousekeepingInterval", self.ha_housekeeping_interval.to_string()),
            ("haTransferBatchSize", self.ha_transfer_batch_size.to_string()),
            ("haSlaveFallbehindMax", self.ha_slave_fallbehind_max.to_string()),
        ];
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        pairs
    }

    /// Whether appends are staged (Java honours the setting only under ASYNC_FLUSH).
    /// A slave writes what its master sends as it arrives: never staged (as in Java).
    pub fn stages_commit_log_writes(&self) -> bool {
        self.transient_store_pool_enable
            && self.flush_disk_type == FlushDiskType::AsyncFlush
            && self.broker_role != BrokerRole::Slave
    }

    pub fn commit_log_dir(&self) -> PathBuf {
        self.store_path_commit_log
            .clone()
            .unwrap_or_else(|| self.store_path_root_dir.join("commitlog"))
    }
    pub fn consume_queue_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("consumequeue")
    }
    pub fn index_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("index")
    }
    pub fn checkpoint_path(&self) -> PathBuf {
        self.store_path_root_dir.join("checkpoint")
    }
    pub fn abort_path(&self) -> PathBuf {
        self.store_path_root_dir.join("abort")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.store_path_root_dir.join("lock")
    }
    pub fn config_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("config")
    }

    /// The delay of each level in ms (level 1 is the first entry).
    pub fn delay_levels_ms(&self) -> Vec<i64> {
        self.message_delay_level
            .split_whitespace()
            .filter_map(|t| {
                let (n, unit) = t.split_at(t.len().checked_sub(1)?);
                let n: i64 = n.parse().ok()?;
                let mult = match unit {
                    "s" => 1000,
                    "m" => 60_000,
                    "h" => 3_600_000,
                    "d" => 86_400_000,
                    _ => return None,
                };
                Some(n * mult)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_golden_broker_conf_keys() {
        let text = "mappedFileSizeCommitLog=1048576\nmappedFileSizeConsumeQueue=2000\nmaxHashSlotNum=500\nmaxIndexNum=2000\nflushDiskType=SYNC_FLUSH\nbrokerName=broker-a\n";
        let c = StoreConfig::from_properties(&StoreConfig::parse_properties_text(text)).unwrap();
        assert_eq!(c.mapped_file_size_commit_log, 1048576);
        assert_eq!(c.mapped_file_size_consume_queue, 2000);
        assert_eq!(c.max_hash_slot_num, 500);
        assert_eq!(c.max_index_num, 2000);
        assert_eq!(c.flush_disk_type, FlushDiskType::SyncFlush);
        assert_eq!(c.delay_levels_ms().len(), 18);
        assert_eq!(c.delay_levels_ms()[0], 1000);
    }
}
