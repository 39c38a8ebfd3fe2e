//! Settings of Java's broker (BrokerConfig, MessageStoreConfig, Netty's server and client
//! configs, 4.9.8) that configure machinery we do not have: its thread pools and their
//! queues, Netty's buffers and selectors, DLedger, LMQ, the ConsumeQueue extension. We
//! keep them with Java's defaults so that GET_BROKER_CONFIG lists what Java lists, a config
//! file written for Java loads without noise, and UPDATE_BROKER_CONFIG keeps a new value (a
//! value that does not parse as the Java field's type is dropped, as Java drops it). None
//! of them changes what this broker does.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Long,
    Text,
}

/// Key, type and Java's default; thread counts Java derives from the processor count are
/// derived the same way.
fn table() -> Vec<(&'static str, Kind, String)> {
    use Kind::*;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    let send_threads = cores.min(4);
    let fixed: &[(&str, Kind, &str)] = &[
        ("adminBrokerThreadPoolNums", Int, "16"),
        ("bitMapLengthConsumeQueueExt", Int, "112"),
        ("brokerFastFailureEnable", Bool, "true"),
        ("channelNotActiveInterval", Long, "60000"),
        ("clientAsyncSemaphoreValue", Int, "65535"),
        ("clientChannelMaxIdleTimeSeconds", Int, "120"),
        ("clientCloseSocketIfTimeout", Bool, "true"),
        ("clientManageThreadPoolNums", Int, "32"),
        ("clientManagerThreadPoolQueueCapacity", Int, "1000000"),
        ("clientOnewaySemaphoreValue", Int, "65535"),
        ("clientPooledByteBufAllocatorEnable", Bool, "false"),
        ("clientSocketRcvBufSize", Int, "0"),
        ("clientSocketSndBufSize", Int, "0"),
        ("clientWorkerThreads", Int, "4"),
        ("commercialBaseCount", Int, "1"),
        ("commercialBigCount", Int, "1"),
        ("commercialEnable", Bool, "true"),
        ("commercialTimerCount", Int, "1"),
        ("commercialTransCount", Int, "1"),
        ("commitCommitLogLeastPages", Int, "4"),
        ("commitCommitLogThoroughInterval", Int, "200"),
        ("connectTimeoutMillis", Int, "3000"),
        ("consumerFallbehindThreshold", Long, "17179869184"),
        ("consumerManageThreadPoolNums", Int, "32"),
        ("consumerManagerThreadPoolQueueCapacity", Int, "1000000"),
        ("debugLockEnable", Bool, "false"),
        ("defaultQueryMaxNum", Int, "32"),
        ("deleteConsumeQueueFilesInterval", Int, "100"),
        ("destroyMapedFileIntervalForcibly", Int, "120000"),
        ("disableConsumeIfConsumerReadSlowly", Bool, "false"),
        ("diskFallRecorded", Bool, "true"),
        ("enableCalcFilterBitMap", Bool, "false"),
        ("enableConsumeQueueExt", Bool, "false"),
        ("enableDLegerCommitLog", Bool, "false"),
        ("enableLmq", Bool, "false"),
        ("enableMultiDispatch", Bool, "false"),
        ("enableScheduleAsyncDeliver", Bool, "false"),
        ("enableScheduleMessageStats", Bool, "true"),
        ("endTransactionPoolQueueCapacity", Int, "100000"),
        ("expectConsumerNumUseFilter", Int, "32"),
        ("fastFailIfNoBufferInStorePool", Bool, "false"),
        ("fetchNamesrvAddrByAddressServer", Bool, "false"),
        ("filterDataCleanTimeSpan", Long, "86400000"),
        ("filterSupportRetry", Bool, "false"),
        ("flushConsumerOffsetHistoryInterval", Int, "60000"),
        ("flushDelayOffsetInterval", Long, "10000"),
        ("flushLeastPagesWhenWarmMapedFile", Int, "4096"),
        ("heartbeatThreadPoolQueueCapacity", Int, "50000"),
        ("highSpeedMode", Bool, "false"),
        ("isEnableBatchPush", Bool, "false"),
        ("isolateLogEnable", Bool, "false"),
        ("mappedFileSizeConsumeQueueExt", Int, "50331648"),
        ("maxDelayTime", Int, "40"),
        ("maxErrorRateOfBloomFilter", Int, "20"),
        ("maxLmqConsumeQueueNum", Long, "20000"),
        ("messageStorePlugIn", Text, ""),
        ("offsetCheckInSlave", Bool, "false"),
        ("osPageCacheBusyTimeOutMills", Long, "1000"),
        ("pullThreadPoolQueueCapacity", Int, "100000"),
        ("putMsgIndexHightWater", Int, "600000"),
        ("putThreadPoolQueueCapacity", Int, "10000"),
        ("queryThreadPoolQueueCapacity", Int, "20000"),
        ("redeleteHangedFileInterval", Int, "120000"),
        ("replyThreadPoolQueueCapacity", Int, "10000"),
        ("scheduleAsyncDeliverMaxPendingLimit", Int, "2000"),
        ("scheduleAsyncDeliverMaxResendNum2Blocked", Int, "3"),
        ("serverAsyncSemaphoreValue", Int, "64"),
        ("serverCallbackExecutorThreads", Int, "0"),
        ("serverOnewaySemaphoreValue", Int, "256"),
        ("serverPooledByteBufAllocatorEnable", Bool, "true"),
        ("serverSelectorThreads", Int, "3"),
        ("serverSocketRcvBufSize", Int, "0"),
        ("serverSocketSndBufSize", Int, "0"),
        ("serverWorkerThreads", Int, "8"),
        ("slaveTimeout", Int, "3000"),
        ("transferMsgByHeap", Bool, "true"),
        ("transientStorePoolSize", Int, "5"),
        ("useEpollNativeSelector", Bool, "false"),
        ("useReentrantLockWhenPutMessage", Bool, "true"),
        ("waitTimeMillsInHeartbeatQueue", Long, "31000"),
        ("waitTimeMillsInPullQueue", Long, "5000"),
        ("waitTimeMillsInSendQueue", Long, "200"),
        ("waitTimeMillsInTransactionQueue", Long, "3000"),
        ("warmMapedFileEnable", Bool, "false"),
        ("writeBufferHighWaterMark", Int, "0"),
        ("writeBufferLowWaterMark", Int, "0"),
    ];
    let mut all: Vec<(&'static str, Kind, String)> = fixed.iter().map(|(k, t, v)| (*k, *t, v.to_string())).collect();
    all.extend([
        ("sendMessageThreadPoolNums", Int, send_threads.to_string()),
        ("putMessageFutureThreadPoolNums", Int, cores.min(4).to_string()),
        ("pullMessageThreadPoolNums", Int, (16 + cores * 2).to_string()),
        ("processReplyMessageThreadPoolNums", Int, (16 + cores * 2).to_string()),
        ("queryMessageThreadPoolNums", Int, (8 + cores).to_string()),
        ("heartbeatThreadPoolNums", Int, cores.min(32).to_string()),
        (
            "endTransactionThreadPoolNums",
            Int,
            (8 + cores * 2).max(send_threads * 4).to_string(),
        ),
    ]);
    all
}

/// A value that does not parse as the Java field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable;

/// The inert settings' current values, by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InertSettings {
    values: BTreeMap<&'static str, (Kind, String)>,
}

impl Default for InertSettings {
    fn default() -> Self {
        InertSettings {
            values: table().into_iter().map(|(k, t, v)| (k, (t, v))).collect(),
        }
    }
}

impl InertSettings {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_the_java_fields_types() {
        let mut s = InertSettings::default();
        assert_eq!(s.get("waitTimeMillsInSendQueue"), Some("200"));
        assert_eq!(s.set("waitTimeMillsInSendQueue", " 300 "), Ok(true));
        assert_eq!(s.get("waitTimeMillsInSendQueue"), Some("300"));
        assert_eq!(s.set("serverWorkerThreads", "many"), Err(Unreadable));
        assert_eq!(s.get("serverWorkerThreads"), Some("8"));
        assert_eq!(
            s.set("serverWorkerThreads", "3000000000"),
            Err(Unreadable),
            "an int, not a long"
        );
        assert_eq!(s.set("enableLmq", "yes"), Ok(true));
        assert_eq!(s.get("enableLmq"), Some("false"));
        assert_eq!(s.set("brokerName", "x"), Ok(false));
    }
}
