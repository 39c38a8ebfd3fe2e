//! The subcommands: what each one asks which server, and what it prints. The requests and
//! the order of the steps follow mqadmin 4.9.8 (`DefaultMQAdminExtImpl`, the command classes).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::{anyhow, bail, Context, Result};
use remoting::code::{request, response};
use remoting::command_header;
use remoting::header::admin::{
    GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader, GetProducerConnectionListRequestHeader,
    TopicRequestHeader,
};
use remoting::header::broker::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, GetConsumeStatsInBrokerHeader,
    UpdateConsumerOffsetRequestHeader, ViewBrokerStatsDataRequestHeader,
};
use remoting::header::namesrv::{
    AddWritePermOfBrokerRequestHeader, DeleteKvConfigRequestHeader, DeleteTopicFromNamesrvRequestHeader,
    GetKvConfigRequestHeader, PutKvConfigRequestHeader, WipeWritePermOfBrokerRequestHeader,
};
use remoting::protocol::route::TopicRouteData;
use remoting::{LanguageCode, RemotingCommand};
use serde_json::{json, Map, Value};

use crate::admin::{
    addr_of_broker_name, f64_of, i64_of, mq_key, ok, parse_body, select_broker_addr, str_of, strings, with_header,
    Admin, RemoteError, DLQ_PREFIX, RETRY_PREFIX,
};
use crate::util::{config_lines, human_millis, human_seconds, java_bool, now_millis, parse_timestamp, Output, Table};
use crate::{msgcmd, opscmd, Command};
use remoting::header::admin::{GetConsumerRunningInfoRequestHeader, ResetOffsetRequestHeader};

command_header! {
    /// DELETE_SUBSCRIPTIONGROUP (207) as mqadmin 4.9.8 sends it (`removeOffset`); 5.x
    /// names the flag `cleanOffset`, so both are sent.
    pub struct DeleteSubGroupHeader {
        req group_name: String = "groupName",
        req remove_offset: bool = "removeOffset",
        req clean_offset: bool = "cleanOffset",
    }
}

pub async fn run(admin: &Admin, command: Command, json: bool) -> Result<()> {
    use Command::*;
    let out = match command {
        ClusterList(a) => {
            if let Some(secs) = a.interval {
                loop {
                    print(cluster_list(admin, a.more_stats).await?, json);
                    tokio::time::sleep(std::time::Duration::from_secs(secs.max(1))).await;
                }
            }
            cluster_list(admin, a.more_stats).await?
        }
        TopicList(a) => topic_list(admin, a.cluster_model).await?,
        TopicRoute(a) => topic_route(admin, &a.topic, a.list).await?,
        TopicStatus(a) => topic_status(admin, &a.topic).await?,
        TopicClusterList(a) => topic_cluster_list(admin, &a.topic).await?,
        UpdateTopic(a) => update_topic(admin, a).await?,
        DeleteTopic(a) => delete_topic(admin, &a.cluster_name, &a.topic).await?,
        UpdateSubGroup(a) => update_sub_group(admin, a).await?,
        DeleteSubGroup(a) => delete_sub_group(admin, a).await?,
        SetConsumeMode(a) => set_consume_mode(admin, a).await?,
        BrokerStatus(a) => broker_status(admin, a.broker_addr, a.cluster_name).await?,
        BrokerConsumeStats(a) => broker_consume_stats(admin, a).await?,
        ConsumerProgress(a) => {
            consumer_progress(admin, a.group_name, a.show_client_ip.as_deref().is_some_and(java_bool)).await?
        }
        ConsumerConnection(a) => consumer_connection(admin, &a.consumer_group, a.broker_addr).await?,
        ProducerConnection(a) => producer_connection(admin, &a.producer_group, &a.topic).await?,
        ResetOffsetByTime(a) => reset_offset_by_time(admin, a).await?,
        CloneGroupOffset(a) => clone_group_offset(admin, a).await?,
        QueryMsgById(a) => msgcmd::query_msg_by_id(admin, a).await?,
        QueryMsgByKey(a) => msgcmd::query_msg_by_key(admin, &a.topic, &a.msg_key).await?,
        QueryMsgByUniqueKey(a) => msgcmd::query_msg_by_unique_key(admin, a).await?,
        PrintMsg(a) => msgcmd::print_msg(admin, a).await?,
        SendMessage(a) => msgcmd::send_message(admin, a).await?,
        ConsumeMessage(a) => msgcmd::consume_message(admin, a).await?,
        GetBrokerConfig(a) => get_broker_config(admin, a.broker_addr, a.cluster_name).await?,
        UpdateBrokerConfig(a) => update_broker_config(admin, a).await?,
        GetNamesrvConfig => get_namesrv_config(admin).await?,
        UpdateNamesrvConfig(a) => update_namesrv_config(admin, &a.key, &a.value).await?,
        UpdateKvConfig(a) => update_kv_config(admin, &a.namespace, &a.key, &a.value).await?,
        DeleteKvConfig(a) => delete_kv_config(admin, &a.namespace, &a.key).await?,
        WipeWritePerm(a) => write_perm(admin, &a.broker_name, false).await?,
        AddWritePerm(a) => write_perm(admin, &a.broker_name, true).await?,
        StatsAll(a) => stats_all(admin, a.active_topic, a.topic).await?,
        UpdateTopicPerm(a) => opscmd::update_topic_perm(admin, a).await?,
        UpdateOrderConf(a) => opscmd::update_order_conf(admin, a).await?,
        QueryMsgByOffset(a) => opscmd::query_msg_by_offset(admin, a).await?,
        SkipAccumulatedMessage(a) => opscmd::skip_accumulated_message(admin, a).await?,
        QueryCq(a) => opscmd::query_cq(admin, a).await?,
        CleanExpiredCq(a) => opscmd::maintenance(admin, request::CLEAN_EXPIRED_CONSUMEQUEUE, a).await?,
        DeleteExpiredCommitLog(a) => opscmd::maintenance(admin, request::DELETE_EXPIRED_COMMITLOG, a).await?,
        CleanUnusedTopic(a) => opscmd::maintenance(admin, request::CLEAN_UNUSED_TOPIC, a).await?,
        GetConsumerConfig(a) => opscmd::get_consumer_config(admin, &a.group_name).await?,
        Producer(a) => opscmd::producer(admin, &a.broker).await?,
        AllocateMq(a) => opscmd::allocate_mq(admin, &a.topic, &a.ip_list).await?,
    };
    print(out, json);
    Ok(())
}

fn print(out: Output, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(&out.json).unwrap());
    } else {
        print!("{}", out.text);
    }
}

fn need_broker_or_cluster(b: &Option<String>, c: &Option<String>) -> Result<()> {
    if b.is_none() && c.is_none() {
        bail!("one of -b/--brokerAddr or -c/--clusterName is required");
    }
    Ok(())
}

/// The addresses a -b/-c pair names: the broker, or the cluster's masters.
async fn targets(admin: &Admin, b: &Option<String>, c: &Option<String>) -> Result<Vec<String>> {
    need_broker_or_cluster(b, c)?;
    match (b, c) {
        (Some(addr), _) => Ok(vec![addr.trim().to_string()]),
        (None, Some(cluster)) => {
            let masters = admin.cluster_masters(cluster.trim()).await?;
            if masters.is_empty() {
                bail!("cluster {cluster} has no master broker");
            }
            Ok(masters)
        }
        _ => unreachable!(),
    }
}

/// A properties body (`key=value` lines) as ordered pairs.
fn properties_body(body: &[u8]) -> Vec<(String, String)> {
    let mut pairs = remoting::properties::parse(&String::from_utf8_lossy(body));
    pairs.sort();
    pairs
}

fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

async fn runtime_info(admin: &Admin, addr: &str) -> Result<BTreeMap<String, String>> {
    let v = admin
        .broker_json(addr, RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO))
        .await?;
    Ok(v["table"]
        .as_object()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), str_of(v))).collect())
        .unwrap_or_default())
}

// ---- clusterList ------------------------------------------------------------------------

async fn cluster_list(admin: &Admin, more: bool) -> Result<Output> {
    let info = admin.cluster_info().await?;
    let mut rows = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        let names: BTreeSet<&String> = names.iter().collect();
        for name in names {
            let Some(bd) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, addr) in &bd.broker_addrs {
                let kv = runtime_info(admin, addr).await;
                rows.push((cluster.clone(), name.clone(), *id, addr.clone(), kv));
            }
        }
    }
    let mut json_rows = Vec::new();
    let text = if more {
        let mut t = Table::new(&[
            "#Cluster Name",
            "#Broker Name",
            "#InTotalYest",
            "#OutTotalYest",
            "#InTotalToday",
            "#OutTotalToday",
        ])
        .right_align(&[2, 3, 4, 5]);
        for (cluster, name, id, addr, kv) in &rows {
            let kv = kv.as_ref().ok();
            let get = |k: &str| {
                kv.and_then(|m| m.get(k))
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            let in_yest = get("msgPutTotalTodayMorning") - get("msgPutTotalYesterdayMorning");
            let out_yest = get("msgGetTotalTodayMorning") - get("msgGetTotalYesterdayMorning");
            let in_today = get("msgPutTotalTodayNow") - get("msgPutTotalTodayMorning");
            let out_today = get("msgGetTotalTodayNow") - get("msgGetTotalTodayMorning");
            t.row(vec![
                cluster.clone(),
                name.clone(),
                in_yest.to_string(),
                out_yest.to_string(),
                in_today.to_string(),
                out_today.to_string(),
            ]);
            json_rows.push(json!({
                "cluster": cluster, "brokerName": name, "brokerId": id, "addr": addr,
                "inTotalYest": in_yest, "outTotalYest": out_yest,
                "inTotalToday": in_today, "outTotalToday": out_today,
            }));
        }
        t.render()
    } else {
        let mut t = Table::new(&[
            "#Cluster Name",
            "#Broker Name",
            "#BID",
            "#Addr",
            "#Version",
            "#InTPS(LOAD)",
            "#OutTPS(LOAD)",
            "#PCWait(ms)",
            "#Hour",
            "#SPACE",
        ])
        .right_align(&[5, 6, 7, 8, 9]);
        let mut errors = String::new();
        for (cluster, name, id, addr, kv) in &rows {
            let empty = BTreeMap::new();
            let m = match kv {
                Ok(m) => m,
                Err(e) => {
                    let _ = writeln!(errors, "warning: {e:#}");
                    &empty
                }
            };
            let get = |k: &str| m.get(k).cloned().unwrap_or_default();
            let tps = |k: &str| {
                get(k)
                    .split(' ')
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            let (in_tps, out_tps) = (tps("putTps"), tps("getTransferedTps"));
            let hour = get("earliestMessageTimeStamp")
                .parse::<i64>()
                .ok()
                .filter(|t| *t > 0)
                .map(|t| (now_millis() - t) as f64 / 3_600_000.0)
                .unwrap_or(0.0);
            let space = get("commitLogDiskRatio").parse::<f64>().unwrap_or(0.0);
            t.row(vec![
                cluster.clone(),
                name.clone(),
                id.to_string(),
                addr.clone(),
                get("brokerVersionDesc"),
                format!(
                    "{in_tps:.2}({},{}ms)",
                    get("sendThreadPoolQueueSize"),
                    get("sendThreadPoolQueueHeadWaitTimeMills")
                ),
                format!(
                    "{out_tps:.2}({},{}ms)",
                    get("pullThreadPoolQueueSize"),
                    get("pullThreadPoolQueueHeadWaitTimeMills")
                ),
                get("pageCacheLockTimeMills"),
                format!("{hour:.2}"),
                format!("{space:.4}"),
            ]);
            json_rows.push(json!({
                "cluster": cluster, "brokerName": name, "brokerId": id, "addr": addr,
                "version": get("brokerVersionDesc"), "inTps": in_tps, "outTps": out_tps,
                "sendThreadPoolQueueSize": get("sendThreadPoolQueueSize"),
                "pullThreadPoolQueueSize": get("pullThreadPoolQueueSize"),
                "pageCacheLockTimeMills": get("pageCacheLockTimeMills"),
                "hour": hour, "space": space,
                "error": kv.as_ref().err().map(|e| format!("{e:#}")),
            }));
        }
        eprint!("{errors}");
        t.render()
    };
    Ok(Output::new(text, json!({ "brokers": json_rows })))
}

// ---- topics -----------------------------------------------------------------------------

async fn topic_list(admin: &Admin, cluster_model: bool) -> Result<Output> {
    let topics = admin.topic_list().await?;
    if !cluster_model {
        let mut text = String::new();
        for t in &topics {
            let _ = writeln!(text, "{t}");
        }
        return Ok(Output::new(text, json!({ "topicList": topics })));
    }
    let info = admin.cluster_info().await?;
    let mut t = Table::new(&["#Cluster Name", "#Topic", "#Consumer Group"]);
    let mut rows = Vec::new();
    for topic in &topics {
        if topic.starts_with(RETRY_PREFIX) || topic.starts_with(DLQ_PREFIX) {
            continue;
        }
        let mut cluster = String::new();
        let mut groups = Vec::new();
        if let Ok(route) = admin.route(topic).await {
            if let Some(bd) = route.broker_datas.first() {
                cluster = info
                    .cluster_addr_table
                    .iter()
                    .find(|(_, names)| names.contains(&bd.broker_name))
                    .map(|(c, _)| c.clone())
                    .unwrap_or_default();
            }
            groups = consume_by_who(admin, &route, topic).await.unwrap_or_default();
        }
        if groups.is_empty() {
            t.row(vec![cluster.clone(), topic.clone(), String::new()]);
        }
        for g in &groups {
            t.row(vec![cluster.clone(), topic.clone(), g.clone()]);
        }
        rows.push(json!({ "cluster": cluster, "topic": topic, "consumerGroups": groups }));
    }
    Ok(Output::new(t.render(), json!({ "topics": rows })))
}

/// QUERY_TOPIC_CONSUME_BY_WHO (300) on the route's first broker.
async fn consume_by_who(admin: &Admin, route: &TopicRouteData, topic: &str) -> Result<Vec<String>> {
    let addr = route
        .broker_datas
        .first()
        .and_then(select_broker_addr)
        .ok_or_else(|| anyhow!("topic {topic} has no broker"))?;
    let req = with_header(
        request::QUERY_TOPIC_CONSUME_BY_WHO,
        &TopicRequestHeader { topic: topic.into() },
    );
    let v = admin.broker_json(&addr, req).await?;
    let mut groups = strings(&v["groupList"]);
    groups.sort();
    Ok(groups)
}

async fn topic_route(admin: &Admin, topic: &str, list: bool) -> Result<Output> {
    let route = admin.route(topic).await?;
    let json = serde_json::to_value(&route)?;
    if !list {
        return Ok(Output::new(format!("{}\n", serde_json::to_string_pretty(&json)?), json));
    }
    let mut t = Table::new(&[
        "#ClusterName",
        "#BrokerName",
        "#BrokerAddrs",
        "#ReadQueue",
        "#WriteQueue",
        "#Perm",
    ]);
    let (mut read, mut write) = (0, 0);
    let mut bds = route.broker_datas.clone();
    bds.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    for bd in &bds {
        let qd = route.queue_datas.iter().find(|q| q.broker_name == bd.broker_name);
        let addrs: Vec<String> = bd.broker_addrs.iter().map(|(id, a)| format!("{id}={a}")).collect();
        let (r, w, p) = qd
            .map(|q| (q.read_queue_nums, q.write_queue_nums, q.perm))
            .unwrap_or((0, 0, 0));
        read += r;
        write += w;
        t.row(vec![
            bd.cluster.clone(),
            bd.broker_name.clone(),
            format!("{{{}}}", addrs.join(", ")),
            r.to_string(),
            w.to_string(),
            p.to_string(),
        ]);
    }
    let text = format!(
        "{}\nTotal: {} brokers, {read} read queues, {write} write queues\n",
        t.render(),
        bds.len()
    );
    Ok(Output::new(text, json))
}

async fn topic_stats(admin: &Admin, topic: &str) -> Result<Vec<(String, i32, Value)>> {
    let route = admin.route(topic).await?;
    let mut rows = Vec::new();
    for bd in &route.broker_datas {
        let Some(addr) = select_broker_addr(bd) else { continue };
        let req = with_header(
            request::GET_TOPIC_STATS_INFO,
            &TopicRequestHeader { topic: topic.into() },
        );
        let v = admin.broker_json(&addr, req).await?;
        if let Some(table) = v["offsetTable"].as_object() {
            for (k, off) in table {
                if let Some(mq) = mq_key(k) {
                    rows.push((mq.broker_name, mq.queue_id, off.clone()));
                }
            }
        }
    }
    if rows.is_empty() {
        bail!("Not found the topic stats info of {topic}");
    }
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    Ok(rows)
}

async fn topic_status(admin: &Admin, topic: &str) -> Result<Output> {
    let rows = topic_stats(admin, topic).await?;
    let mut t = Table::new(&["#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"]);
    let mut queues = Vec::new();
    for (broker, qid, off) in &rows {
        let last = i64_of(&off["lastUpdateTimestamp"]);
        t.row(vec![
            broker.clone(),
            qid.to_string(),
            i64_of(&off["minOffset"]).to_string(),
            i64_of(&off["maxOffset"]).to_string(),
            if last > 0 { human_millis(last) } else { String::new() },
        ]);
        queues.push(json!({
            "brokerName": broker, "queueId": qid,
            "minOffset": i64_of(&off["minOffset"]), "maxOffset": i64_of(&off["maxOffset"]),
            "lastUpdateTimestamp": last,
        }));
    }
    Ok(Output::new(t.render(), json!({ "topic": topic, "queues": queues })))
}

async fn topic_cluster_list(admin: &Admin, topic: &str) -> Result<Output> {
    let route = admin.route(topic).await?;
    let info = admin.cluster_info().await?;
    let names: BTreeSet<&String> = route.broker_datas.iter().map(|b| &b.broker_name).collect();
    let clusters: Vec<String> = info
        .cluster_addr_table
        .iter()
        .filter(|(_, brokers)| brokers.iter().any(|b| names.contains(b)))
        .map(|(c, _)| c.clone())
        .collect();
    let text: String = clusters.iter().map(|c| format!("{c}\n")).collect();
    Ok(Output::new(text, json!({ "topic": topic, "clusters": clusters })))
}

async fn update_topic(admin: &Admin, a: crate::UpdateTopicArgs) -> Result<Output> {
    need_broker_or_cluster(&a.broker_addr, &a.cluster_name)?;
    let order = a.order.as_deref().is_some_and(java_bool);
    let unit = a.unit.as_deref().is_some_and(java_bool);
    let unit_sub = a.has_unit_sub.as_deref().is_some_and(java_bool);
    // TopicSysFlag.buildSysFlag: bit 0 unit, bit 1 unit subscription.
    let sys_flag = (unit as i32) | ((unit_sub as i32) << 1);
    let topic = a.topic.trim().to_string();
    let header = CreateTopicRequestHeader {
        topic: topic.clone(),
        default_topic: remoting::protocol::topic::AUTO_CREATE_TOPIC_KEY.into(),
        read_queue_nums: a.read_queue_nums,
        write_queue_nums: a.write_queue_nums,
        perm: a.perm,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(sys_flag),
        order,
    };
    let addrs = targets(admin, &a.broker_addr, &a.cluster_name).await?;
    let mut text = String::new();
    for addr in &addrs {
        admin
            .broker_ok(addr, with_header(request::UPDATE_AND_CREATE_TOPIC, &header))
            .await?;
        let _ = writeln!(text, "create topic to {addr} success.");
    }
    let mut order_conf = None;
    if order {
        let conf = match (&a.broker_addr, &a.cluster_name) {
            (Some(addr), _) => {
                let name = admin.broker_name_of(addr.trim()).await?;
                // Merge with the other brokers' entries of the topic's order conf.
                let get = with_header(
                    request::GET_KV_CONFIG,
                    &GetKvConfigRequestHeader {
                        namespace: ORDER_TOPIC_CONFIG.into(),
                        key: topic.clone(),
                    },
                );
                let (_, res) = admin.namesrv(get).await?;
                let mut entries: BTreeMap<String, String> = BTreeMap::new();
                if res.code == response::SUCCESS {
                    for part in res.ext().get("value").unwrap_or("").split(';') {
                        if let Some((b, n)) = part.split_once(':') {
                            entries.insert(b.to_string(), n.to_string());
                        }
                    }
                }
                entries.insert(name, a.write_queue_nums.to_string());
                entries
                    .iter()
                    .map(|(b, n)| format!("{b}:{n}"))
                    .collect::<Vec<_>>()
                    .join(";")
            }
            (None, Some(cluster)) => {
                let info = admin.cluster_info().await?;
                let names: BTreeSet<String> = info
                    .cluster_addr_table
                    .get(cluster.trim())
                    .map(|n| n.iter().cloned().collect())
                    .unwrap_or_default();
                names
                    .iter()
                    .map(|b| format!("{b}:{}", a.write_queue_nums))
                    .collect::<Vec<_>>()
                    .join(";")
            }
            _ => unreachable!(),
        };
        put_kv_all(admin, ORDER_TOPIC_CONFIG, &topic, &conf).await?;
        let _ = writeln!(text, "set orderConf. isOrder={order}, orderConf=[{conf}]");
        order_conf = Some(conf);
    }
    let config = json!({
        "topicName": topic, "readQueueNums": a.read_queue_nums, "writeQueueNums": a.write_queue_nums,
        "perm": a.perm, "topicFilterType": "SINGLE_TAG", "topicSysFlag": sys_flag, "order": order,
    });
    let _ = writeln!(
        text,
        "TopicConfig [topicName={topic}, readQueueNums={}, writeQueueNums={}, perm={}, topicFilterType=SINGLE_TAG, topicSysFlag={sys_flag}, order={order}]",
        a.read_queue_nums,
        a.write_queue_nums,
        perm_name(a.perm)
    );
    Ok(Output::new(
        text,
        json!({ "brokers": addrs, "topicConfig": config, "orderConf": order_conf }),
    ))
}

/// Java's `PermName.perm2String`: R, W and X (inherit) or '-'.
pub fn perm_name(perm: i32) -> String {
    use remoting::protocol::route::perm::*;
    let mut s = String::new();
    s.push(if perm & READ != 0 { 'R' } else { '-' });
    s.push(if perm & WRITE != 0 { 'W' } else { '-' });
    s.push(if perm & INHERIT != 0 { 'X' } else { '-' });
    s
}

pub const ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

pub async fn put_kv_all(admin: &Admin, namespace: &str, key: &str, value: &str) -> Result<Vec<String>> {
    let header = PutKvConfigRequestHeader {
        namespace: namespace.into(),
        key: key.into(),
        value: value.into(),
    };
    let mut done = Vec::new();
    for addr in admin.namesrvs() {
        let res = admin
            .namesrv_at(addr, with_header(request::PUT_KV_CONFIG, &header))
            .await?;
        ok(&format!("name server {addr}"), res)?;
        done.push(addr.clone());
    }
    Ok(done)
}

async fn delete_topic_steps(admin: &Admin, cluster: &str, topic: &str, text: &mut String) -> Result<Vec<String>> {
    let masters = admin.cluster_masters(cluster).await?;
    for addr in &masters {
        admin
            .broker_ok(
                addr,
                with_header(
                    request::DELETE_TOPIC_IN_BROKER,
                    &DeleteTopicRequestHeader { topic: topic.into() },
                ),
            )
            .await?;
    }
    let _ = writeln!(text, "delete topic [{topic}] from cluster [{cluster}] success.");
    let header = DeleteTopicFromNamesrvRequestHeader {
        topic: topic.into(),
        cluster_name: Some(cluster.into()),
    };
    for addr in admin.namesrvs() {
        let res = admin
            .namesrv_at(addr, with_header(request::DELETE_TOPIC_IN_NAMESRV, &header))
            .await?;
        ok(&format!("name server {addr}"), res)?;
    }
    let _ = writeln!(text, "delete topic [{topic}] from NameServer success.");
    Ok(masters)
}

async fn delete_topic(admin: &Admin, cluster: &str, topic: &str) -> Result<Output> {
    let mut text = String::new();
    let (cluster, topic) = (cluster.trim(), topic.trim());
    let masters = delete_topic_steps(admin, cluster, topic, &mut text).await?;
    Ok(Output::new(
        text,
        json!({ "topic": topic, "cluster": cluster, "brokers": masters, "namesrvs": admin.namesrvs() }),
    ))
}

// ---- subscription groups ----------------------------------------------------------------

async fn update_sub_group(admin: &Admin, a: crate::UpdateSubGroupArgs) -> Result<Output> {
    need_broker_or_cluster(&a.broker_addr, &a.cluster_name)?;
    let b = |v: &Option<String>, default: bool| v.as_deref().map(java_bool).unwrap_or(default);
    // SubscriptionGroupConfig's defaults, with broadcast and from-min off as mqadmin sets them.
    let config = json!({
        "brokerId": a.broker_id.unwrap_or(0),
        "consumeBroadcastEnable": b(&a.consume_broadcast_enable, false),
        "consumeEnable": b(&a.consume_enable, true),
        "consumeFromMinEnable": b(&a.consume_from_min_enable, false),
        "groupName": a.group_name.trim(),
        "notifyConsumerIdsChangedEnable": b(&a.notify_consumer_ids_changed, true),
        "retryMaxTimes": a.retry_max_times.unwrap_or(16),
        "retryQueueNums": a.retry_queue_nums.unwrap_or(1),
        "whichBrokerWhenConsumeSlowly": a.which_broker_when_consume_slowly.unwrap_or(1),
    });
    let body = serde_json::to_vec(&config)?;
    let addrs = targets(admin, &a.broker_addr, &a.cluster_name).await?;
    let mut text = String::new();
    for addr in &addrs {
        let req = RemotingCommand::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).with_body(body.clone());
        admin.broker_ok(addr, req).await?;
        let _ = writeln!(text, "create subscription group to {addr} success.");
    }
    let _ = writeln!(text, "SubscriptionGroupConfig {config}");
    Ok(Output::new(
        text,
        json!({ "brokers": addrs, "subscriptionGroupConfig": config }),
    ))
}

/// SET_MESSAGE_REQUEST_MODE (401) on a broker or every master of a cluster: whether the
/// group's 5.x clients pull or pop the topic (what QUERY_ASSIGNMENT will tell them).
async fn set_consume_mode(admin: &Admin, a: crate::SetConsumeModeArgs) -> Result<Output> {
    need_broker_or_cluster(&a.broker_addr, &a.cluster_name)?;
    let topic = a.topic_name.trim().to_string();
    let group = a.group_name.trim().to_string();
    // MessageRequestMode.valueOf: the constant's exact name.
    let mode = a.mode.trim().to_string();
    if mode != "PULL" && mode != "POP" {
        bail!("No enum constant org.apache.rocketmq.common.message.MessageRequestMode.{mode}");
    }
    let share = a.pop_share_queue_num.unwrap_or(0);
    let body = serde_json::to_vec(&json!({
        "consumerGroup": group,
        "mode": mode,
        "popShareQueueNum": share,
        "topic": topic,
    }))?;
    let addrs = targets(admin, &a.broker_addr, &a.cluster_name).await?;
    let mut text = String::new();
    for addr in &addrs {
        let req = RemotingCommand::request(request::SET_MESSAGE_REQUEST_MODE).with_body(body.clone());
        admin.broker_ok(addr, req).await?;
        let _ = writeln!(text, "set consume mode to {addr} success.");
    }
    let _ = write!(
        text,
        "topic[{topic}] group[{group}] consume mode[{mode}] popShareQueueNum[{share}]"
    );
    Ok(Output::new(
        text,
        json!({ "brokers": addrs, "topic": topic, "group": group, "mode": mode, "popShareQueueNum": share }),
    ))
}

async fn delete_sub_group(admin: &Admin, a: crate::DeleteSubGroupArgs) -> Result<Output> {
    need_broker_or_cluster(&a.broker_addr, &a.cluster_name)?;
    let group = a.group_name.trim().to_string();
    let remove = a.remove_offset.as_deref().is_some_and(java_bool);
    let header = DeleteSubGroupHeader {
        group_name: group.clone(),
        remove_offset: remove,
        clean_offset: remove,
    };
    let addrs = targets(admin, &a.broker_addr, &a.cluster_name).await?;
    let mut text = String::new();
    for addr in &addrs {
        admin
            .broker_ok(addr, with_header(request::DELETE_SUBSCRIPTIONGROUP, &header))
            .await?;
        match &a.cluster_name {
            Some(c) if a.broker_addr.is_none() => {
                let _ = writeln!(
                    text,
                    "delete subscription group [{group}] from broker [{addr}] in cluster [{c}] success."
                );
            }
            _ => {
                let _ = writeln!(
                    text,
                    "delete subscription group [{group}] from broker [{addr}] success."
                );
            }
        }
    }
    // With a cluster, mqadmin also deletes the group's retry and dead-letter topics.
    let mut deleted_topics = Vec::new();
    if let (None, Some(cluster)) = (&a.broker_addr, &a.cluster_name) {
        for topic in [format!("{RETRY_PREFIX}{group}"), format!("{DLQ_PREFIX}{group}")] {
            match delete_topic_steps(admin, cluster.trim(), &topic, &mut text).await {
                Ok(_) => deleted_topics.push(topic),
                Err(e) => eprintln!("warning: deleting {topic}: {e:#}"),
            }
        }
    }
    Ok(Output::new(
        text,
        json!({ "group": group, "brokers": addrs, "removeOffset": remove, "deletedTopics": deleted_topics }),
    ))
}

// ---- brokers ----------------------------------------------------------------------------

async fn broker_status(admin: &Admin, b: Option<String>, c: Option<String>) -> Result<Output> {
    need_broker_or_cluster(&b, &c)?;
    let addrs: Vec<String> = match (&b, &c) {
        (Some(addr), _) => vec![addr.trim().to_string()],
        (None, Some(cluster)) => admin
            .cluster_addrs(cluster.trim())
            .await?
            .into_iter()
            .map(|(_, _, a)| a)
            .collect(),
        _ => unreachable!(),
    };
    let mut text = String::new();
    let mut all = Map::new();
    for addr in &addrs {
        let kv = runtime_info(admin, addr).await?;
        for (k, v) in &kv {
            if b.is_some() {
                let _ = writeln!(text, "{k:<32}: {v}");
            } else {
                let _ = writeln!(text, "{addr:<24} {k:<32}: {v}");
            }
        }
        all.insert(addr.clone(), json!(kv));
    }
    Ok(Output::new(text, json!({ "brokers": all })))
}

async fn broker_consume_stats(admin: &Admin, a: crate::BrokerConsumeStatsArgs) -> Result<Output> {
    let addr = a.broker_addr.trim();
    let is_order = a.order.as_deref().is_some_and(java_bool);
    let req = with_header(
        request::GET_BROKER_CONSUME_STATS,
        &GetConsumeStatsInBrokerHeader { is_order },
    );
    let res = match a.timeout_millis {
        Some(ms) => {
            let custom = Admin::new(admin.namesrvs().to_vec(), std::time::Duration::from_millis(ms));
            custom.broker_json(addr, req).await?
        }
        None => admin.broker_json(addr, req).await?,
    };
    let mut t = Table::new(&[
        "#Topic",
        "#Group",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
        "#Diff",
        "#LastTime",
    ]);
    let mut rows = Vec::new();
    for map in res["consumeStatsList"].as_array().into_iter().flatten() {
        for (group, stats) in map.as_object().into_iter().flatten() {
            for cs in stats.as_array().into_iter().flatten() {
                let mut queues: Vec<_> = cs["offsetTable"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| mq_key(k).map(|mq| (mq, v)))
                    .collect();
                queues.sort_by(|x, y| x.0.cmp(&y.0));
                for (mq, w) in queues {
                    let (bo, co, last) = (
                        i64_of(&w["brokerOffset"]),
                        i64_of(&w["consumerOffset"]),
                        i64_of(&w["lastTimestamp"]),
                    );
                    let diff = bo - co;
                    if diff < a.level || last <= 0 {
                        continue;
                    }
                    t.row(vec![
                        mq.topic.clone(),
                        group.clone(),
                        mq.broker_name.clone(),
                        mq.queue_id.to_string(),
                        bo.to_string(),
                        co.to_string(),
                        diff.to_string(),
                        human_seconds(last),
                    ]);
                    rows.push(json!({
                        "topic": mq.topic, "group": group, "brokerName": mq.broker_name, "queueId": mq.queue_id,
                        "brokerOffset": bo, "consumerOffset": co, "diff": diff, "lastTimestamp": last,
                    }));
                }
            }
        }
    }
    let total = i64_of(&res["totalDiff"]);
    let text = format!("{}\nDiff Total: {total}\n", t.render());
    Ok(Output::new(
        text,
        json!({ "brokerAddr": addr, "totalDiff": total, "queues": rows }),
    ))
}

async fn get_broker_config(admin: &Admin, b: Option<String>, c: Option<String>) -> Result<Output> {
    need_broker_or_cluster(&b, &c)?;
    let mut targets: Vec<(String, String)> = Vec::new();
    match (&b, &c) {
        (Some(addr), _) => targets.push((addr.trim().into(), format!("============{}============", addr.trim()))),
        (None, Some(cluster)) => {
            let addrs = admin.cluster_addrs(cluster.trim()).await?;
            let masters: BTreeMap<&String, &String> = addrs
                .iter()
                .filter(|(_, id, _)| *id == 0)
                .map(|(n, _, a)| (n, a))
                .collect();
            for (name, id, addr) in &addrs {
                let title = if *id == 0 {
                    format!("============Master: {addr}============")
                } else {
                    match masters.get(name) {
                        Some(m) => format!("============My Master: {m}=====Slave: {addr}============"),
                        None => format!("============Slave: {addr}============"),
                    }
                };
                targets.push((addr.clone(), title));
            }
        }
        _ => unreachable!(),
    }
    let mut text = String::new();
    let mut all = Map::new();
    for (addr, title) in &targets {
        let res = admin
            .broker_ok(addr, RemotingCommand::request(request::GET_BROKER_CONFIG))
            .await?;
        let pairs = properties_body(&res.body);
        let _ = writeln!(text, "{title}");
        text.push_str(&config_lines(&pairs));
        text.push('\n');
        all.insert(addr.clone(), pairs_json(&pairs));
    }
    Ok(Output::new(text, json!({ "brokers": all })))
}

async fn update_broker_config(admin: &Admin, a: crate::UpdateConfigArgs) -> Result<Output> {
    let addrs = targets(admin, &a.broker_addr, &a.cluster_name).await?;
    let body = format!("{}={}\n", a.key.trim(), a.value.trim());
    let mut text = String::new();
    for addr in &addrs {
        let req = RemotingCommand::request(request::UPDATE_BROKER_CONFIG).with_body(body.clone().into_bytes());
        admin.broker_ok(addr, req).await?;
        let _ = writeln!(text, "update broker config success, {addr}");
    }
    Ok(Output::new(
        text,
        json!({ "brokers": addrs, "key": a.key.trim(), "value": a.value.trim() }),
    ))
}

// ---- name servers -----------------------------------------------------------------------

async fn get_namesrv_config(admin: &Admin) -> Result<Output> {
    if admin.namesrvs().is_empty() {
        admin
            .namesrv(RemotingCommand::request(request::GET_NAMESRV_CONFIG))
            .await?;
    }
    let mut text = String::new();
    let mut all = Map::new();
    for addr in admin.namesrvs() {
        let res = admin
            .namesrv_at(addr, RemotingCommand::request(request::GET_NAMESRV_CONFIG))
            .await?;
        let res = ok(&format!("name server {addr}"), res)?;
        let pairs = properties_body(&res.body);
        let _ = writeln!(text, "============{addr}============");
        text.push_str(&config_lines(&pairs));
        all.insert(addr.clone(), pairs_json(&pairs));
    }
    Ok(Output::new(text, json!({ "namesrvs": all })))
}

async fn update_namesrv_config(admin: &Admin, key: &str, value: &str) -> Result<Output> {
    if admin.namesrvs().is_empty() {
        admin
            .namesrv(RemotingCommand::request(request::UPDATE_NAMESRV_CONFIG))
            .await?;
    }
    let body = format!("{}={}\n", key.trim(), value.trim());
    for addr in admin.namesrvs() {
        let req = RemotingCommand::request(request::UPDATE_NAMESRV_CONFIG).with_body(body.clone().into_bytes());
        let res = admin.namesrv_at(addr, req).await?;
        ok(&format!("name server {addr}"), res)?;
    }
    let text = format!(
        "update name server config success!{:?}\n{} : {}\n",
        admin.namesrvs(),
        key.trim(),
        value.trim()
    );
    Ok(Output::new(
        text,
        json!({ "namesrvs": admin.namesrvs(), "key": key.trim(), "value": value.trim() }),
    ))
}

async fn update_kv_config(admin: &Admin, namespace: &str, key: &str, value: &str) -> Result<Output> {
    if admin.namesrvs().is_empty() {
        admin.namesrv(RemotingCommand::request(request::PUT_KV_CONFIG)).await?;
    }
    let done = put_kv_all(admin, namespace.trim(), key.trim(), value.trim()).await?;
    Ok(Output::new(
        "create or update kv config to namespace success.\n".into(),
        json!({ "namesrvs": done, "namespace": namespace.trim(), "key": key.trim(), "value": value.trim() }),
    ))
}

async fn delete_kv_config(admin: &Admin, namespace: &str, key: &str) -> Result<Output> {
    if admin.namesrvs().is_empty() {
        admin
            .namesrv(RemotingCommand::request(request::DELETE_KV_CONFIG))
            .await?;
    }
    let header = DeleteKvConfigRequestHeader {
        namespace: namespace.trim().into(),
        key: key.trim().into(),
    };
    for addr in admin.namesrvs() {
        let res = admin
            .namesrv_at(addr, with_header(request::DELETE_KV_CONFIG, &header))
            .await?;
        ok(&format!("name server {addr}"), res)?;
    }
    Ok(Output::new(
        "delete kv config from namespace success.\n".into(),
        json!({ "namesrvs": admin.namesrvs(), "namespace": namespace.trim(), "key": key.trim() }),
    ))
}

async fn write_perm(admin: &Admin, broker_name: &str, add: bool) -> Result<Output> {
    if admin.namesrvs().is_empty() {
        admin
            .namesrv(RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO))
            .await?;
    }
    let name = broker_name.trim();
    let mut text = String::new();
    let mut results = Vec::new();
    let mut failed = false;
    for addr in admin.namesrvs() {
        let (req, count_key, verb) = if add {
            (
                with_header(
                    request::ADD_WRITE_PERM_OF_BROKER,
                    &AddWritePermOfBrokerRequestHeader {
                        broker_name: name.into(),
                    },
                ),
                "addTopicCount",
                "add",
            )
        } else {
            (
                with_header(
                    request::WIPE_WRITE_PERM_OF_BROKER,
                    &WipeWritePermOfBrokerRequestHeader {
                        broker_name: name.into(),
                    },
                ),
                "wipeTopicCount",
                "wipe",
            )
        };
        match admin
            .namesrv_at(addr, req)
            .await
            .and_then(|r| ok(&format!("name server {addr}"), r))
        {
            Ok(res) => {
                let count: i64 = res.ext().get(count_key).and_then(|c| c.parse().ok()).unwrap_or(0);
                let _ = writeln!(
                    text,
                    "{verb} write perm of broker[{name}] in name server[{addr}] OK, {count}"
                );
                results.push(json!({ "namesrv": addr, "ok": true, "topicCount": count }));
            }
            Err(e) => {
                failed = true;
                eprintln!("{verb} write perm of broker[{name}] in name server[{addr}] Failed: {e:#}");
                results.push(json!({ "namesrv": addr, "ok": false, "error": format!("{e:#}") }));
            }
        }
    }
    if failed && results.iter().all(|r| r["ok"] == false) {
        bail!("no name server changed the write permission of {name}");
    }
    Ok(Output::new(text, json!({ "brokerName": name, "results": results })))
}

// ---- consumers and producers ------------------------------------------------------------

/// One broker's GET_CONSUME_STATS (208) answer: queue rows and its consume TPS.
async fn consume_stats_at(
    admin: &Admin,
    addr: &str,
    group: &str,
    topic: Option<&str>,
) -> Result<(Vec<(remoting::protocol::lock::MessageQueue, i64, i64, i64)>, f64)> {
    let req = with_header(
        request::GET_CONSUME_STATS,
        &GetConsumeStatsRequestHeader {
            consumer_group: group.into(),
            topic: topic.map(String::from),
        },
    );
    let v = admin.broker_json(addr, req).await?;
    let mut rows = Vec::new();
    for (k, w) in v["offsetTable"].as_object().into_iter().flatten() {
        if let Some(mq) = mq_key(k) {
            rows.push((
                mq,
                i64_of(&w["brokerOffset"]),
                i64_of(&w["consumerOffset"]),
                i64_of(&w["lastTimestamp"]),
            ));
        }
    }
    Ok((rows, f64_of(&v["consumeTps"])))
}

type QueueRow = (remoting::protocol::lock::MessageQueue, i64, i64, i64);

/// Java's `examineConsumeStats`: every broker of the group's retry topic.
async fn examine_consume_stats(admin: &Admin, group: &str, topic: Option<&str>) -> Result<(Vec<QueueRow>, f64)> {
    let route = admin
        .route(&format!("{RETRY_PREFIX}{group}"))
        .await
        .with_context(|| format!("consumer group {group} is unknown (it has no retry topic)"))?;
    let mut rows = Vec::new();
    let mut tps = 0.0;
    for bd in &route.broker_datas {
        if let Some(addr) = select_broker_addr(bd) {
            let (r, t) = consume_stats_at(admin, &addr, group, topic).await?;
            rows.extend(r);
            tps += t;
        }
    }
    if rows.is_empty() {
        return Err(anyhow::Error::new(RemoteError {
            peer: "the brokers".into(),
            code: response::CONSUMER_NOT_ONLINE,
            remark: Some(format!(
                "no consume stats for group {group}: the offset table is empty, maybe the consumer has not consumed any message"
            )),
        }));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((rows, tps))
}

/// Java's `examineConsumerConnectionInfo`: a broker of the group's retry topic.
async fn examine_consumer_connection(admin: &Admin, group: &str, broker: Option<String>) -> Result<(String, Value)> {
    let addr = match broker {
        Some(b) => b.trim().to_string(),
        None => {
            let route = admin
                .route(&format!("{RETRY_PREFIX}{group}"))
                .await
                .with_context(|| format!("consumer group {group} is unknown (it has no retry topic)"))?;
            route
                .broker_datas
                .first()
                .and_then(select_broker_addr)
                .ok_or_else(|| anyhow!("the retry topic of {group} has no broker"))?
        }
    };
    let req = with_header(
        request::GET_CONSUMER_CONNECTION_LIST,
        &GetConsumerConnectionListRequestHeader {
            consumer_group: group.into(),
        },
    );
    let v = admin.broker_json(&addr, req).await?;
    if v["connectionSet"].as_array().is_none_or(|a| a.is_empty()) {
        return Err(anyhow::Error::new(RemoteError {
            peer: format!("broker {addr}"),
            code: response::CONSUMER_NOT_ONLINE,
            remark: Some(format!("Not found the consumer group connection of {group}")),
        }));
    }
    Ok((addr, v))
}

/// `MQVersion.getVersionDesc`: the name of a version ordinal. From V4_0_0_SNAPSHOT
/// (ordinal 212) Java's enum runs in SNAPSHOT/release pairs up to V5_9_9 (611); values past
/// the end print as the last name, as Java does.
pub fn version_desc(v: i64) -> String {
    const FIRST_4X: i64 = 212;
    const LAST: i64 = 611;
    if v < FIRST_4X {
        return format!("V3.x(ordinal {v})");
    }
    let v = v.min(LAST) - FIRST_4X;
    let idx = v / 2;
    let name = format!("V{}_{}_{}", 4 + idx / 100, (idx / 10) % 10, idx % 10);
    if v % 2 == 0 {
        format!("{name}_SNAPSHOT")
    } else {
        name
    }
}

async fn consumer_connection(admin: &Admin, group: &str, broker: Option<String>) -> Result<Output> {
    let group = group.trim();
    let (addr, v) = examine_consumer_connection(admin, group, broker).await?;
    let mut t = Table::new(&["#ClientId", "#ClientAddr", "#Language", "#Version"]);
    for c in v["connectionSet"].as_array().into_iter().flatten() {
        t.row(vec![
            str_of(&c["clientId"]),
            str_of(&c["clientAddr"]),
            str_of(&c["language"]),
            version_desc(i64_of(&c["version"])),
        ]);
    }
    let mut s = Table::new(&["#Topic", "#SubExpression"]);
    let mut subs: Vec<(String, String)> = v["subscriptionTable"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, sd)| (str_of(&sd["topic"]), str_of(&sd["subString"])))
        .collect();
    subs.sort();
    for (topic, expr) in &subs {
        s.row(vec![topic.clone(), expr.clone()]);
    }
    let text = format!(
        "{}\nBelow is subscription:\n{}\nConsumeType: {}\nMessageModel: {}\nConsumeFromWhere: {}\n",
        t.render(),
        s.render(),
        str_of(&v["consumeType"]),
        str_of(&v["messageModel"]),
        str_of(&v["consumeFromWhere"])
    );
    let mut json = v.clone();
    json["brokerAddr"] = json!(addr);
    json["group"] = json!(group);
    Ok(Output::new(text, json))
}

async fn producer_connection(admin: &Admin, group: &str, topic: &str) -> Result<Output> {
    let (group, topic) = (group.trim(), topic.trim());
    let route = admin.route(topic).await?;
    let addr = route
        .broker_datas
        .first()
        .and_then(select_broker_addr)
        .ok_or_else(|| anyhow!("topic {topic} has no broker"))?;
    let req = with_header(
        request::GET_PRODUCER_CONNECTION_LIST,
        &GetProducerConnectionListRequestHeader {
            producer_group: group.into(),
        },
    );
    let v = admin.broker_json(&addr, req).await?;
    let conns: Vec<Value> = v["connectionSet"].as_array().cloned().unwrap_or_default();
    if conns.is_empty() {
        bail!("Not found the producer group connection: no producer of group {group} is connected to broker {addr}");
    }
    let mut t = Table::new(&["#No", "#ClientId", "#ClientAddr", "#Language", "#Version"]);
    for (i, c) in conns.iter().enumerate() {
        t.row(vec![
            format!("{:04}", i + 1),
            str_of(&c["clientId"]),
            str_of(&c["clientAddr"]),
            str_of(&c["language"]),
            version_desc(i64_of(&c["version"])),
        ]);
    }
    Ok(Output::new(
        t.render(),
        json!({ "group": group, "topic": topic, "brokerAddr": addr, "connectionSet": conns }),
    ))
}

async fn consumer_progress(admin: &Admin, group: Option<String>, show_ip: bool) -> Result<Output> {
    let Some(group) = group.map(|g| g.trim().to_string()) else {
        return all_groups_progress(admin).await;
    };
    let (rows, tps) = examine_consume_stats(admin, &group, None).await?;
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    if show_ip {
        owners = queue_owners(admin, &group).await;
    }
    let mut headers = vec!["#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset"];
    if show_ip {
        headers.push("#Client IP");
    }
    headers.extend(["#Diff", "#LastTime"]);
    let mut t = Table::new(&headers);
    let mut total = 0;
    let mut queues = Vec::new();
    for (mq, bo, co, last) in &rows {
        let diff = bo - co;
        total += diff;
        let last_text = if *last == 0 { "N/A".into() } else { human_seconds(*last) };
        let key = format!("{}/{}/{}", mq.topic, mq.broker_name, mq.queue_id);
        let ip = owners.get(&key).cloned();
        let mut row = vec![
            mq.topic.clone(),
            mq.broker_name.clone(),
            mq.queue_id.to_string(),
            bo.to_string(),
            co.to_string(),
        ];
        if show_ip {
            row.push(ip.clone().unwrap_or_else(|| "N/A".into()));
        }
        row.extend([diff.to_string(), last_text]);
        t.row(row);
        queues.push(json!({
            "topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id,
            "brokerOffset": bo, "consumerOffset": co, "diff": diff, "lastTimestamp": last, "clientIP": ip,
        }));
    }
    let text = format!("{}\nConsume TPS: {tps:.2}\nDiff Total: {total}\n", t.render());
    Ok(Output::new(
        text,
        json!({ "group": group, "consumeTps": tps, "diffTotal": total, "queues": queues }),
    ))
}

/// Which client holds each queue, from GET_CONSUMER_RUNNING_INFO (307) through the broker;
/// empty when the broker or the clients cannot tell.
async fn queue_owners(admin: &Admin, group: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok((addr, v)) = examine_consumer_connection(admin, group, None).await else {
        return out;
    };
    for c in v["connectionSet"].as_array().into_iter().flatten() {
        let client_id = str_of(&c["clientId"]);
        let req = with_header(
            request::GET_CONSUMER_RUNNING_INFO,
            &GetConsumerRunningInfoRequestHeader {
                consumer_group: group.into(),
                client_id: client_id.clone(),
                jstack_enable: Some(false),
            },
        );
        let Ok(info) = admin.broker_json(&addr, req).await else {
            continue;
        };
        for (k, _) in info["mqTable"].as_object().into_iter().flatten() {
            if let Some(mq) = mq_key(k) {
                let ip = client_id.split('@').next().unwrap_or("").to_string();
                out.insert(format!("{}/{}/{}", mq.topic, mq.broker_name, mq.queue_id), ip);
            }
        }
    }
    out
}

async fn all_groups_progress(admin: &Admin) -> Result<Output> {
    let topics = admin.topic_list().await?;
    let mut t = Table::new(&["#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"]);
    let mut groups = Vec::new();
    let mut names: Vec<String> = topics
        .iter()
        .filter_map(|t| t.strip_prefix(RETRY_PREFIX).map(String::from))
        .collect();
    names.sort();
    for group in names {
        let stats = examine_consume_stats(admin, &group, None).await.ok();
        let conn = examine_consumer_connection(admin, &group, None).await.ok();
        let (tps, diff) = stats
            .as_ref()
            .map(|(rows, tps)| (*tps as i64, rows.iter().map(|(_, b, c, _)| b - c).sum::<i64>()))
            .unwrap_or((0, 0));
        let (count, version, ctype, model) = match &conn {
            Some((_, v)) => {
                let set = v["connectionSet"].as_array().cloned().unwrap_or_default();
                let min_version = set.iter().map(|c| i64_of(&c["version"])).min().unwrap_or(0);
                let passive = str_of(&v["consumeType"]) == "CONSUME_PASSIVELY";
                (
                    set.len(),
                    version_desc(min_version),
                    if passive { "PUSH" } else { "PULL" }.to_string(),
                    if passive {
                        str_of(&v["messageModel"])
                    } else {
                        String::new()
                    },
                )
            }
            None => (0, "OFFLINE".into(), String::new(), String::new()),
        };
        t.row(vec![
            group.clone(),
            count.to_string(),
            version.clone(),
            ctype.clone(),
            model.clone(),
            tps.to_string(),
            diff.to_string(),
        ]);
        groups.push(json!({
            "group": group, "count": count, "version": version, "consumeType": ctype,
            "messageModel": model, "consumeTps": tps, "diffTotal": diff,
        }));
    }
    Ok(Output::new(t.render(), json!({ "groups": groups })))
}

pub async fn reset_offset_by_time(admin: &Admin, a: crate::ResetOffsetByTimeArgs) -> Result<Output> {
    let (group, topic, ts_text) = (a.group.trim(), a.topic.trim(), a.timestamp.trim());
    let timestamp = if ts_text == "now" {
        -1
    } else {
        parse_timestamp(ts_text)?
    };
    let force = a.force.as_deref().map(java_bool).unwrap_or(true);
    let route = admin.route(topic).await?;
    let header = ResetOffsetRequestHeader {
        topic: topic.into(),
        group: group.into(),
        timestamp,
        is_force: force,
    };
    let mut table: Vec<(remoting::protocol::lock::MessageQueue, i64)> = Vec::new();
    let mut offline = false;
    for bd in &route.broker_datas {
        let Some(addr) = select_broker_addr(bd) else { continue };
        let mut req = with_header(request::INVOKE_BROKER_TO_RESET_OFFSET, &header);
        if a.cplus {
            req.language = LanguageCode::CPP;
        }
        let res = admin.broker(&addr, req).await?;
        if res.code == response::CONSUMER_NOT_ONLINE {
            offline = true;
            break;
        }
        let res = ok(&format!("broker {addr}"), res)?;
        let v = parse_body(&res.body)?;
        for (k, off) in v["offsetTable"].as_object().into_iter().flatten() {
            if let Some(mq) = mq_key(k) {
                table.push((mq, i64_of(off)));
            }
        }
    }
    if offline {
        return reset_offset_old(admin, group, topic, timestamp, force, ts_text, &route).await;
    }
    table.sort();
    let mut t = Table::new(&["#brokerName", "#queueId", "#offset"]);
    let mut rows = Vec::new();
    for (mq, off) in &table {
        t.row(vec![mq.broker_name.clone(), mq.queue_id.to_string(), off.to_string()]);
        rows.push(json!({ "brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": off }));
    }
    let text = format!(
        "rollback consumer offset by specified group[{group}], topic[{topic}], force[{force}], timestamp(string)[{ts_text}], timestamp(long)[{timestamp}]\n{}",
        t.render()
    );
    Ok(Output::new(
        text,
        json!({ "group": group, "topic": topic, "force": force, "timestamp": timestamp, "online": true, "offsets": rows }),
    ))
}

/// mqadmin's fallback when no consumer is online: the broker offsets are set directly
/// (`resetOffsetByTimestampOld`).
async fn reset_offset_old(
    admin: &Admin,
    group: &str,
    topic: &str,
    timestamp: i64,
    force: bool,
    ts_text: &str,
    route: &TopicRouteData,
) -> Result<Output> {
    let mut t = Table::new(&[
        "#brokerName",
        "#queueId",
        "#brokerOffset",
        "#consumerOffset",
        "#timestampOffset",
        "#rollbackOffset",
    ]);
    let mut rows = Vec::new();
    for bd in &route.broker_datas {
        let Some(addr) = select_broker_addr(bd) else { continue };
        let (stats, _) = consume_stats_at(admin, &addr, group, None).await?;
        let mut queues: Vec<QueueRow> = stats.into_iter().filter(|(mq, ..)| mq.topic == topic).collect();
        if queues.is_empty() {
            // Never consumed here: every read queue, from the topic's stats.
            let read = addr_of_broker_name(route, &bd.broker_name)
                .and(route.queue_datas.iter().find(|q| q.broker_name == bd.broker_name))
                .map(|q| q.read_queue_nums)
                .unwrap_or(0);
            let req = with_header(
                request::GET_TOPIC_STATS_INFO,
                &TopicRequestHeader { topic: topic.into() },
            );
            let v = admin.broker_json(&addr, req).await?;
            let table = v["offsetTable"].as_object().cloned().unwrap_or_default();
            for q in 0..read {
                let mq = remoting::protocol::lock::MessageQueue {
                    broker_name: bd.broker_name.clone(),
                    queue_id: q,
                    topic: topic.into(),
                };
                let off = table
                    .iter()
                    .find(|(k, _)| mq_key(k).as_ref() == Some(&mq))
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Null);
                queues.push((mq, i64_of(&off["maxOffset"]), i64_of(&off["minOffset"]), 0));
            }
        }
        queues.sort_by(|a, b| a.0.cmp(&b.0));
        for (mq, broker_offset, consumer_offset, _) in queues {
            let ts_offset = if timestamp == -1 {
                crate::message::queue_offset(admin, &addr, request::GET_MAX_OFFSET, topic, mq.queue_id).await?
            } else {
                crate::message::search_offset(admin, &addr, topic, mq.queue_id, timestamp).await?
            };
            let mut rollback = consumer_offset;
            if force || ts_offset <= consumer_offset {
                rollback = ts_offset;
                let h = UpdateConsumerOffsetRequestHeader {
                    consumer_group: group.into(),
                    topic: topic.into(),
                    queue_id: mq.queue_id,
                    commit_offset: ts_offset,
                };
                admin
                    .broker_ok(&addr, with_header(request::UPDATE_CONSUMER_OFFSET, &h))
                    .await?;
            }
            t.row(vec![
                mq.broker_name.clone(),
                mq.queue_id.to_string(),
                broker_offset.to_string(),
                consumer_offset.to_string(),
                ts_offset.to_string(),
                rollback.to_string(),
            ]);
            rows.push(json!({
                "brokerName": mq.broker_name, "queueId": mq.queue_id, "brokerOffset": broker_offset,
                "consumerOffset": consumer_offset, "timestampOffset": ts_offset, "rollbackOffset": rollback,
            }));
        }
    }
    let text = format!(
        "rollback consumer offset by specified consumerGroup[{group}], topic[{topic}], force[{force}], timestamp(string)[{ts_text}], timestamp(long)[{timestamp}]\n{}",
        t.render()
    );
    Ok(Output::new(
        text,
        json!({ "group": group, "topic": topic, "force": force, "timestamp": timestamp, "online": false, "rollbackStats": rows }),
    ))
}

/// cloneGroupOffset as mqadmin 4.9.8 does it (it never sends CLONE_GROUP_OFFSET, 314): the
/// source group's consume stats (GET_CONSUME_STATS, 208, every topic it has offsets for,
/// its retry topic included), then a sync UPDATE_CONSUMER_OFFSET (15) for the destination
/// group per queue with an offset, at the broker of the queue's name in `-t`'s route.
/// `-o` is accepted and ignored, as in mqadmin.
async fn clone_group_offset(admin: &Admin, a: crate::CloneGroupOffsetArgs) -> Result<Output> {
    let (src, dest, topic) = (a.src_group.trim(), a.dest_group.trim(), a.topic.trim());
    let (rows, _) = examine_consume_stats(admin, src, None).await?;
    let route = admin.route(topic).await?;
    let mut cloned = Vec::new();
    for (mq, _, consumer_offset, _) in rows {
        if consumer_offset < 0 {
            continue;
        }
        let addr = addr_of_broker_name(&route, &mq.broker_name).ok_or_else(|| {
            anyhow!(
                "broker {} (of {src}'s queue {}:{}) is not in the route of {topic}",
                mq.broker_name,
                mq.topic,
                mq.queue_id
            )
        })?;
        let h = UpdateConsumerOffsetRequestHeader {
            consumer_group: dest.into(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            commit_offset: consumer_offset,
        };
        let mut req = with_header(request::UPDATE_CONSUMER_OFFSET, &h);
        req.ext_mut().insert("bname", mq.broker_name.as_str());
        admin.broker_ok(&addr, req).await?;
        cloned.push(json!({
            "topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": consumer_offset,
        }));
    }
    Ok(Output::new(
        format!("clone group offset success. srcGroup[{src}], destGroup=[{dest}], topic[{topic}]\n"),
        json!({ "srcGroup": src, "destGroup": dest, "topic": topic, "offsets": cloned }),
    ))
}

// ---- statsAll ---------------------------------------------------------------------------

/// VIEW_BROKER_STATS_DATA (315): (minute tps, 24-hour sum as mqadmin computes it).
async fn stats_item(admin: &Admin, addr: &str, name: &str, key: &str) -> Option<(f64, i64)> {
    let req = with_header(
        request::VIEW_BROKER_STATS_DATA,
        &ViewBrokerStatsDataRequestHeader {
            stats_name: name.into(),
            stats_key: key.into(),
        },
    );
    let v = admin.broker_json(addr, req).await.ok()?;
    let sum = |k: &str| i64_of(&v[k]["sum"]);
    let day = [sum("statsDay"), sum("statsHour"), sum("statsMinute")]
        .into_iter()
        .find(|s| *s != 0)
        .unwrap_or(0);
    Some((f64_of(&v["statsMinute"]["tps"]), day))
}

async fn stats_all(admin: &Admin, active: bool, only: Option<String>) -> Result<Output> {
    let topics = admin.topic_list().await?;
    let mut t = Table::new(&[
        "#Topic",
        "#Consumer Group",
        "#Accumulation",
        "#InTPS",
        "#OutTPS",
        "#InMsg24Hour",
        "#OutMsg24Hour",
    ])
    .right_align(&[2, 3, 4, 5, 6]);
    let mut rows = Vec::new();
    let only = only.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(o) = &only {
        if !topics.contains(o) {
            return Err(anyhow!("topic {o} does not exist (the name server does not list it)"));
        }
    }
    for topic in &topics {
        if topic.starts_with(RETRY_PREFIX) || topic.starts_with(DLQ_PREFIX) {
            continue;
        }
        if only.as_ref().is_some_and(|o| o != topic) {
            continue;
        }
        let Ok(route) = admin.route(topic).await else { continue };
        let groups = consume_by_who(admin, &route, topic).await.unwrap_or_default();
        let masters: Vec<String> = route
            .broker_datas
            .iter()
            .filter_map(|b| b.broker_addrs.get(&0).cloned())
            .collect();
        let (mut in_tps, mut in_day) = (0.0, 0);
        for addr in &masters {
            if let Some((tps, day)) = stats_item(admin, addr, "TOPIC_PUT_NUMS", topic).await {
                in_tps += tps;
                in_day += day;
            }
        }
        if groups.is_empty() {
            if !active || in_day > 0 {
                t.row(vec![
                    topic.clone(),
                    String::new(),
                    "0".into(),
                    format!("{in_tps:.2}"),
                    String::new(),
                    in_day.to_string(),
                    "NO_CONSUMER".into(),
                ]);
                rows.push(json!({
                    "topic": topic, "group": null, "accumulation": 0, "inTps": in_tps, "outTps": null,
                    "inMsg24Hour": in_day, "outMsg24Hour": null,
                }));
            }
            continue;
        }
        for group in &groups {
            let (mut out_tps, mut out_day) = (0.0, 0);
            for addr in &masters {
                if let Some((tps, day)) = stats_item(admin, addr, "GROUP_GET_NUMS", &format!("{topic}@{group}")).await {
                    out_tps += tps;
                    out_day += day;
                }
            }
            let accumulation = examine_consume_stats(admin, group, Some(topic))
                .await
                .map(|(rows, _)| rows.iter().map(|(_, b, c, _)| b - c).sum::<i64>().max(0))
                .unwrap_or(0);
            if !active || in_day > 0 || out_day > 0 {
                t.row(vec![
                    topic.clone(),
                    group.clone(),
                    accumulation.to_string(),
                    format!("{in_tps:.2}"),
                    format!("{out_tps:.2}"),
                    in_day.to_string(),
                    out_day.to_string(),
                ]);
                rows.push(json!({
                    "topic": topic, "group": group, "accumulation": accumulation, "inTps": in_tps,
                    "outTps": out_tps, "inMsg24Hour": in_day, "outMsg24Hour": out_day,
                }));
            }
        }
    }
    Ok(Output::new(t.render(), json!({ "stats": rows })))
}
