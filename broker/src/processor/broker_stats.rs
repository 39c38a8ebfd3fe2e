//! Broker statistics and runtime info: GET_BROKER_RUNTIME_INFO (28), VIEW_BROKER_STATS_DATA
//! (315), GET_BROKER_CONSUME_STATS (317). The figures come from `crate::stats`; bodies are
//! written as Java writes them, maps in the order Java's hash maps iterate.

use std::path::Path;
use std::sync::Arc;

use remoting::code::{request, response, version};
use remoting::header::broker::{GetConsumeStatsInBrokerHeader, ViewBrokerStatsDataRequestHeader};
use remoting::{Connection, HandlerResult, RemotingCommand, Router};
use tracing::debug;

use crate::java_order::{in_concurrent_hash_map_order, in_hash_map_order, message_queue_hash, string_hash};
use crate::stats::{java_double, java_fixed, java_fixed2, StatsSnapshot};
use crate::topic_config::SCHEDULE_TOPIC;
use crate::BrokerState;

pub fn routes(r: &mut Router, s: &Arc<BrokerState>) {
    r.route_with(s, request::GET_BROKER_RUNTIME_INFO, runtime_info);
    r.route_with(s, request::VIEW_BROKER_STATS_DATA, view_stats);
    r.route_with(s, request::GET_BROKER_CONSUME_STATS, consume_stats_in_broker);
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A double as fastjson writes it (null for NaN and infinities).
fn json_double(x: f64) -> String {
    if x.is_finite() {
        java_double(x)
    } else {
        "null".into()
    }
}

/// `MixAll.humanReadableByteCount(bytes, false)`.
fn human_bytes(bytes: i64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exp = ((bytes as f64).ln() / 1024f64.ln()) as i32;
    let unit = "KMGTPE".as_bytes()[(exp - 1) as usize] as char;
    format!("{} {unit}iB", java_fixed(bytes as f64 / 1024f64.powi(exp), 1))
}

/// Total, free and usable bytes of the file system holding `path` (Java's
/// `File.getTotalSpace` / `getFreeSpace` / `getUsableSpace`).
fn disk_space(path: &Path) -> Option<(i64, i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct we pass for a NUL-terminated path.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        st
    };
    let frsize = st.f_frsize as i64;
    Some((
        st.f_blocks as i64 * frsize,
        st.f_bfree as i64 * frsize,
        st.f_bavail as i64 * frsize,
    ))
}

/// `UtilAll.getDiskPartitionSpaceUsedPercent`: used over used + usable, rounded up to
/// whole percent, as a fraction; -1 when the path cannot be measured.
fn disk_used_ratio(path: &Path) -> f64 {
    if !path.exists() {
        return -1.0;
    }
    match disk_space(path) {
        Some((total, free, usable)) if total > 0 => {
            let used = total - free;
            let entire = used + usable;
            if entire <= 0 {
                return -1.0;
            }
            let round = if used * 100 % entire != 0 { 1 } else { 0 };
            (used * 100 / entire + round) as f64 / 100.0
        }
        _ => -1.0,
    }
}

/// `SendMessageProcessor.diskUtil`: how full the disks of the CommitLog (the least full of
/// its paths), the ConsumeQueues and the index are, as the remark of a refused send shows it.
pub(crate) fn disk_util(config: &store::StoreConfig) -> String {
    let commit_log = config.commit_log_dir().display().to_string();
    let physic = commit_log
        .trim()
        .split(';')
        .filter(|p| !p.is_empty())
        .map(|p| disk_used_ratio(Path::new(p)))
        .fold(100.0, f64::min);
    format!(
        "CL: {:5.2} CQ: {:5.2} INDEX: {:5.2}",
        physic,
        disk_used_ratio(&config.consume_queue_dir()),
        disk_used_ratio(&config.index_dir())
    )
}

/// A whole number as `MessageFormat` prints it (grouped by thousands).
fn grouped(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// `[ d days, h hours, m minutes, s seconds ]` since `boot`.
fn format_runtime(ms: i64) -> String {
    let (day, hour, minute, second) = (86_400_000, 3_600_000, 60_000, 1000);
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        grouped(ms / day),
        grouped(ms % day / hour),
        grouped(ms % hour / minute),
        grouped(ms % minute / second)
    )
}

/// Every key Java 4.9.8 reports, in the order Java puts them into its map (which decides
/// where each lands in the HashMap it iterates when writing the body).
fn runtime_table(state: &BrokerState) -> Vec<(String, String)> {
    let stats = &state.stats;
    let store = &state.store;
    let puts = store.put_stats();
    let mut t: Vec<(String, String)> = Vec::with_capacity(64);
    let mut put = |k: &str, v: String| t.push((k.to_string(), v));

    // The store's statistics (StoreStatsService.getRuntimeInfo).
    let put_total = puts.times_total();
    // Java reports no puts as one, and divides by it.
    let put_times = if put_total == 0 { 1 } else { put_total };
    let now = remoting::protocol::topic::now_millis();
    put("bootTimestamp", stats.boot_timestamp().to_string());
    put("runtime", format_runtime(now - stats.boot_timestamp()));
    put("putMessageEntireTimeMax", puts.entire_time_max().to_string());
    put("putMessageTimesTotal", put_times.to_string());
    put("putMessageFailedTimes", puts.failed_times().to_string());
    put("putMessageSizeTotal", puts.size_total().to_string());
    put(
        "putMessageDistributeTime",
        match stats.last_minute_distribution() {
            Some(counts) => store::stats::DISTRIBUTE_LABELS
                .iter()
                .zip(counts)
                .map(|(label, n)| format!("{label}:{n} "))
                .collect(),
            None => "null".into(),
        },
    );
    put(
        "putMessageAverageSize",
        java_double(puts.size_total() as f64 / put_times as f64),
    );
    put("dispatchMaxBuffer", "0".into());
    put("getMessageEntireTimeMax", stats.get_time_max().to_string());
    let windows = [stats.store_tps(10), stats.store_tps(60), stats.store_tps(600)];
    // "a b c" with a blank for a window not yet covered by samples.
    let tps_text = |pick: fn(&crate::stats::StoreTps) -> Option<f64>| {
        windows
            .iter()
            .map(|w| pick(w).map(java_double).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ")
    };
    put("putTps", tps_text(|w| w.put));
    put("getFoundTps", tps_text(|w| w.get_found));
    put("getMissTps", tps_text(|w| w.get_miss));
    put(
        "getTotalTps",
        windows
            .iter()
            .map(|w| java_double(w.get_found.unwrap_or(0.0) + w.get_miss.unwrap_or(0.0)))
            .collect::<Vec<_>>()
            .join(" "),
    );
    put("getTransferedTps", tps_text(|w| w.transferred));
    put("putLatency99", java_fixed2(stats.put_latency_quantile(0.99)));
    put("putLatency999", java_fixed2(stats.put_latency_quantile(0.999)));

    // DefaultMessageStore.getRuntimeInfo.
    let config = store.config();
    let commit_log_dir = config.commit_log_dir();
    let commit_log_path = commit_log_dir.display().to_string();
    let mut min_ratio = f64::MAX;
    for path in commit_log_path.trim().split(';').filter(|p| !p.is_empty()) {
        let ratio = disk_used_ratio(Path::new(path));
        put(&format!("commitLogDiskRatio_{path}"), java_double(ratio));
        min_ratio = min_ratio.min(ratio);
    }
    put("commitLogDiskRatio", java_double(min_ratio));
    put(
        "consumeQueueDiskRatio",
        java_double(disk_used_ratio(&config.consume_queue_dir())),
    );
    for (level, offset) in state.delay_offsets.snapshot() {
        let max = store.max_offset_in_queue(SCHEDULE_TOPIC, level - 1);
        put(&format!("scheduleMessageOffset_{level}"), format!("{offset},{max}"));
    }
    put("commitLogMinOffset", store.min_commit_log_offset().to_string());
    put("commitLogMaxOffset", store.max_commit_log_offset().to_string());

    // AdminBrokerProcessor.prepareRuntimeInfo.
    put("brokerVersionDesc", "V4_9_8".into());
    put("brokerVersion", version::CURRENT.to_string());
    let daily = stats.daily();
    put("msgPutTotalYesterdayMorning", daily.put_yesterday_morning.to_string());
    put("msgPutTotalTodayMorning", daily.put_today_morning.to_string());
    put("msgPutTotalTodayNow", put_total.to_string());
    put("msgGetTotalYesterdayMorning", daily.get_yesterday_morning.to_string());
    put("msgGetTotalTodayMorning", daily.get_today_morning.to_string());
    put("msgGetTotalTodayNow", stats.transferred_total().to_string());
    // Our sends do not queue for a thread: what Java's queue holds is closest to the puts
    // waiting on the store right now.
    let send_capacity = state.config.send_thread_pool_queue_capacity.max(1);
    let sends_waiting = send_capacity.saturating_sub(state.send_permits.available_permits());
    put("sendThreadPoolQueueSize", sends_waiting.to_string());
    put(
        "sendThreadPoolQueueCapacity",
        state.config.send_thread_pool_queue_capacity.to_string(),
    );
    put("pullThreadPoolQueueSize", "0".into());
    // Queue capacities of the thread pools Java has and we do not: the settings' values.
    let live = state.live();
    let inert = |key: &str| live.inert.get(key).unwrap_or("0").to_string();
    put("pullThreadPoolQueueCapacity", inert("pullThreadPoolQueueCapacity"));
    put("queryThreadPoolQueueSize", "0".into());
    put("queryThreadPoolQueueCapacity", inert("queryThreadPoolQueueCapacity"));
    put("EndTransactionQueueSize", "0".into());
    put(
        "EndTransactionThreadPoolQueueCapacity",
        inert("endTransactionPoolQueueCapacity"),
    );
    let behind = (store.max_commit_log_offset() - store.dispatched_offset()).max(0);
    put("dispatchBehindBytes", behind.to_string());
    // Java: how long the put holding the CommitLog lock right now has held it.
    put("pageCacheLockTimeMills", "0".into());
    put("sendThreadPoolQueueHeadWaitTimeMills", "0".into());
    put("pullThreadPoolQueueHeadWaitTimeMills", "0".into());
    put("queryThreadPoolQueueHeadWaitTimeMills", "0".into());
    put(
        "earliestMessageTimeStamp",
        store.earliest_message_time_java().to_string(),
    );
    put(
        "startAcceptSendRequestTimeStamp",
        live.start_accept_send_request_timestamp.to_string(),
    );
    // RocketMQ 5's timer fields (zeros when the wheel is off, as Java writes them).
    let (read_behind, offset_behind, congest, enqueue_tps, dequeue_tps) = match &state.timer {
        Some(timer) => {
            let max = store.max_offset_in_queue(store::timer::TIMER_TOPIC, 0);
            let (enq, deq) = timer.tps();
            (
                timer.read_behind_secs(),
                (max - timer.queue_offset()).max(0),
                timer.pending(),
                enq,
                deq,
            )
        }
        None => (0, 0, 0, 0.0, 0.0),
    };
    put("timerReadBehind", read_behind.to_string());
    put("timerOffsetBehind", offset_behind.to_string());
    put("timerCongestNum", congest.to_string());
    put("timerEnqueueTps", java_float(enqueue_tps));
    put("timerDequeueTps", java_float(dequeue_tps));
    let staged = config.stages_commit_log_writes();
    // With staged writes Java counts its free pool buffers; ours are never all in use
    // between puts, so the pool reads as full (`transientStorePoolSize`).
    put(
        "remainTransientStoreBufferNumbs",
        if staged {
            inert("transientStorePoolSize")
        } else {
            i32::MAX.to_string()
        },
    );
    if staged {
        put("remainHowManyDataToCommit", human_bytes(store.remain_to_commit()));
    }
    put("remainHowManyDataToFlush", human_bytes(store.remain_to_flush()));
    let root = &config.store_path_root_dir;
    if root.exists() {
        if let Some((total, _, usable)) = disk_space(root) {
            put(
                "commitLogDirCapacity",
                format!("Total : {}, Free : {}.", human_bytes(total), human_bytes(usable)),
            );
        }
    }
    t
}

/// The runtime info body, `{"table":{...}}`, keys in Java's HashMap order.
pub fn runtime_info_body(state: &BrokerState) -> String {
    let table = in_hash_map_order(runtime_table(state), 64, |(k, _)| string_hash(k));
    let entries: Vec<String> = table
        .iter()
        .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
        .collect();
    format!("{{\"table\":{{{}}}}}", entries.join(","))
}

async fn runtime_info(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    Ok(Some(
        RemotingCommand::success(&req).with_body(runtime_info_body(&state).into_bytes()),
    ))
}

fn stats_item_json(s: &StatsSnapshot) -> String {
    format!(
        "{{\"avgpt\":{},\"sum\":{},\"tps\":{}}}",
        json_double(s.avgpt),
        s.sum,
        json_double(s.tps)
    )
}

async fn view_stats(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: ViewBrokerStatsDataRequestHeader = req.decode_header()?;
    // An unknown set and an unknown key get the same answer in Java.
    let Some([minute, hour, day]) = state.stats.set(&h.stats_name).and_then(|s| s.windows(&h.stats_key)) else {
        return Ok(Some(RemotingCommand::response_to(
            &req,
            response::SYSTEM_ERROR,
            Some(format!("The stats <{}> <{}> not exist", h.stats_name, h.stats_key)),
        )));
    };
    let body = format!(
        "{{\"statsDay\":{},\"statsHour\":{},\"statsMinute\":{}}}",
        stats_item_json(&day),
        stats_item_json(&hour),
        stats_item_json(&minute)
    );
    Ok(Some(RemotingCommand::success(&req).with_body(body.into_bytes())))
}

/// One group's ConsumeStats per topic (Java's `fetchAllConsumeStatsInBroker` loop body),
/// and the lag they add up to.
fn group_consume_stats(state: &BrokerState, group: &str, is_order: bool) -> (Vec<String>, i64) {
    let mut list = Vec::new();
    let mut diff = 0i64;
    // Java iterates a HashSet of topics.
    let topics = in_hash_map_order(state.offsets.topics_of_group(group), 16, |t| string_hash(t));
    for topic in topics {
        let Some(config) = state.topics.select(&topic) else {
            debug!(%topic, group, "consume stats: the topic does not exist");
            continue;
        };
        if is_order && !config.order {
            continue;
        }
        // An online group is reported only on the topics it subscribes to.
        if state.clients.subscription_count(group) > 0 && state.clients.subscription(group, &topic).flatten().is_none()
        {
            continue;
        }
        let broker_name = &state.config.broker_name;
        let queues = in_hash_map_order((0..config.write_queue_nums).collect(), 16, |q| {
            message_queue_hash(broker_name, *q, &topic)
        });
        let mut entries = Vec::with_capacity(queues.len());
        for q in queues {
            let broker_offset = state.store.max_offset_in_queue(&topic, q).max(0);
            let consumer_offset = state.offsets.query(group, &topic, q).max(0);
            let last = if consumer_offset > 0 {
                state
                    .store
                    .message_store_timestamp(&topic, q, consumer_offset - 1)
                    .max(0)
            } else {
                0
            };
            diff += broker_offset - consumer_offset;
            entries.push(format!(
                "{{\"brokerName\":{},\"queueId\":{q},\"topic\":{}}}:{{\"brokerOffset\":{broker_offset},\"consumerOffset\":{consumer_offset},\"lastTimestamp\":{last}}}",
                quote(broker_name),
                quote(&topic)
            ));
        }
        list.push(format!(
            "{{\"consumeTps\":{},\"offsetTable\":{{{}}}}}",
            json_double(state.stats.consume_tps(&topic, group)),
            entries.join(",")
        ));
    }
    (list, diff)
}

async fn consume_stats_in_broker(state: Arc<BrokerState>, _conn: Connection, req: RemotingCommand) -> HandlerResult {
    let h: GetConsumeStatsInBrokerHeader = req.decode_header()?;
    // Java walks its ConcurrentHashMap of subscription groups (made with capacity 1024).
    let groups = in_concurrent_hash_map_order(state.groups.names(), 1024, |g| string_hash(g));
    let mut total_diff = 0i64;
    let mut per_group = Vec::with_capacity(groups.len());
    for group in &groups {
        let (list, diff) = group_consume_stats(&state, group, h.is_order);
        total_diff += diff;
        per_group.push(format!("{{{}:[{}]}}", quote(group), list.join(",")));
    }
    let body = format!(
        "{{\"brokerAddr\":{},\"consumeStatsList\":[{}],\"totalDiff\":{total_diff}}}",
        quote(&state.config.broker_addr()),
        per_group.join(",")
    );
    Ok(Some(RemotingCommand::success(&req).with_body(body.into_bytes())))
}

/// `String.valueOf(float)` for the values a rate takes: `0.0`, `12.5`, `3.3333333`.
fn java_float(x: f32) -> String {
    // Rust's shortest round-trip form matches Java's for the magnitudes a rate has (Java
    // switches to exponents only below 1e-3 or from 1e7).
    format!("{x:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_as_javas() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(252 * 1024 * 1024 * 1024), "252.0 GiB");
    }

    #[test]
    fn runtime_reads_as_javas() {
        assert_eq!(format_runtime(30_500), "[ 0 days, 0 hours, 0 minutes, 30 seconds ]");
        assert_eq!(format_runtime(173_000), "[ 0 days, 0 hours, 2 minutes, 53 seconds ]");
        assert_eq!(grouped(1234567), "1,234,567");
    }
}
