//! The broker's settings from Java's BrokerConfig, MessageStoreConfig and NettyClientConfig
//! (4.9.8) that configure machinery we do not have: its thread pools and their queues,
//! Netty's client side, DLedger, LMQ, the ConsumeQueue extension (see `remoting::inert`;
//! the Netty server's keys are in `remoting::ServerSettings`).

use remoting::inert::{InertSettings, Kind};

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
        ("slaveTimeout", Int, "3000"),
        ("transferMsgByHeap", Bool, "true"),
        ("transientStorePoolSize", Int, "5"),
        ("useReentrantLockWhenPutMessage", Bool, "true"),
        ("waitTimeMillsInHeartbeatQueue", Long, "31000"),
        ("waitTimeMillsInPullQueue", Long, "5000"),
        ("waitTimeMillsInSendQueue", Long, "200"),
        ("waitTimeMillsInTransactionQueue", Long, "3000"),
        ("warmMapedFileEnable", Bool, "false"),
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

/// The broker's inert settings with Java's defaults.
pub fn defaults() -> InertSettings {
    InertSettings::new(table())
}
