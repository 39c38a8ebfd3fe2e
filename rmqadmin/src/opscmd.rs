//! More of mqadmin 4.9.8's commands: topic permission and order conf, queries by queue
//! offset and of the consume queue, skipping the accumulated messages, the store
//! maintenance codes, a group's subscription config on every broker, a broker's producers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{anyhow, bail, Result};
use remoting::code::{request, response};
use remoting::header::admin::QueryConsumeQueueRequestHeader;
use remoting::header::broker::CreateTopicRequestHeader;
use remoting::header::namesrv::{DeleteKvConfigRequestHeader, GetKvConfigRequestHeader};
use remoting::protocol::route::MASTER_ID;
use remoting::RemotingCommand;
use serde_json::{json, Value};

use crate::admin::{addr_of_broker_name, i64_of, ok, parse_body, select_broker_addr, str_of, with_header, Admin};
use crate::commands::{perm_name, put_kv_all, ORDER_TOPIC_CONFIG};
use crate::message::{message_detail, message_json, pull, read_queues, PullStatus, TOOLS_CONSUMER_GROUP};
use crate::util::Output;

/// updateTopicPerm: the topic's config as the route shows it (first queue data) with the
/// new permission, UPDATE_AND_CREATE_TOPIC (17) on the master `-b` or every master of `-c`.
pub async fn update_topic_perm(admin: &Admin, a: crate::UpdateTopicPermArgs) -> Result<Output> {
    let topic = a.topic.trim();
    let route = admin.route(topic).await?;
    let qd = route
        .queue_datas
        .first()
        .ok_or_else(|| anyhow!("topic {topic} has no queue data in its route"))?;
    let header = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: remoting::protocol::topic::AUTO_CREATE_TOPIC_KEY.into(),
        read_queue_nums: qd.read_queue_nums,
        write_queue_nums: qd.write_queue_nums,
        perm: a.perm,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(qd.topic_sys_flag),
        order: false,
    };
    let config_text = format!(
        "TopicConfig [topicName={topic}, readQueueNums={}, writeQueueNums={}, perm={}, topicFilterType=SINGLE_TAG, topicSysFlag={}, order=false]",
        qd.read_queue_nums,
        qd.write_queue_nums,
        perm_name(a.perm),
        qd.topic_sys_flag
    );
    let mut text = String::new();
    let mut updated = Vec::new();
    match (&a.broker_addr, &a.cluster_name) {
        (Some(addr), _) => {
            let addr = addr.trim();
            // The broker name whose master is -b.
            let name = route
                .broker_datas
                .iter()
                .find(|b| b.broker_addrs.get(&MASTER_ID).map(String::as_str) == Some(addr))
                .map(|b| b.broker_name.clone());
            let Some(name) = name else {
                bail!("updateTopicPerm error broker not exit or broker is not master!");
            };
            let old = route
                .queue_datas
                .iter()
                .find(|q| q.broker_name == name)
                .map(|q| q.perm)
                .unwrap_or(0);
            if old == a.perm {
                return Ok(Output::new(
                    "new perm equals to the old one!\n".into(),
                    json!({ "topic": topic, "oldPerm": old, "perm": a.perm, "brokers": [] }),
                ));
            }
            admin
                .broker_ok(addr, with_header(request::UPDATE_AND_CREATE_TOPIC, &header))
                .await?;
            let _ = writeln!(text, "update topic perm from {old} to {} in {addr} success.", a.perm);
            let _ = writeln!(text, "{config_text}.");
            updated.push(json!({ "brokerAddr": addr, "oldPerm": old }));
        }
        (None, Some(cluster)) => {
            let masters = admin.cluster_masters(cluster.trim()).await?;
            for addr in &masters {
                admin
                    .broker_ok(addr, with_header(request::UPDATE_AND_CREATE_TOPIC, &header))
                    .await?;
                let _ = writeln!(
                    text,
                    "update topic perm from {} to {} in {addr} success.",
                    qd.perm, a.perm
                );
                updated.push(json!({ "brokerAddr": addr, "oldPerm": qd.perm }));
            }
        }
        _ => bail!("one of -b/--brokerAddr or -c/--clusterName is required"),
    }
    Ok(Output::new(
        text,
        json!({ "topic": topic, "perm": a.perm, "brokers": updated }),
    ))
}

/// updateOrderConf: the topic's entry in the name servers' ORDER_TOPIC_CONFIG namespace
/// (`-m get`: GET_KV_CONFIG 101 from one name server; `put`: PUT_KV_CONFIG 100 and
/// `delete`: DELETE_KV_CONFIG 102 on every name server).
pub async fn update_order_conf(admin: &Admin, a: crate::UpdateOrderConfArgs) -> Result<Output> {
    let topic = a.topic.trim();
    match a.method.trim() {
        "get" => {
            let req = with_header(
                request::GET_KV_CONFIG,
                &GetKvConfigRequestHeader {
                    namespace: ORDER_TOPIC_CONFIG.into(),
                    key: topic.into(),
                },
            );
            let (addr, res) = admin.namesrv(req).await?;
            let res = ok(&format!("name server {addr}"), res)?;
            let conf = res.ext().get("value").unwrap_or("").to_string();
            Ok(Output::new(
                format!("get orderConf success. topic=[{topic}], orderConf=[{conf}] \n"),
                json!({ "topic": topic, "orderConf": conf }),
            ))
        }
        "put" => {
            let conf = a.order_conf.as_deref().map(str::trim).unwrap_or("");
            if conf.is_empty() {
                bail!("please set orderConf with option -v.");
            }
            let done = put_kv_all(admin, ORDER_TOPIC_CONFIG, topic, conf).await?;
            Ok(Output::new(
                format!("update orderConf success. topic=[{topic}], orderConf=[{conf}]\n"),
                json!({ "topic": topic, "orderConf": conf, "namesrvs": done }),
            ))
        }
        "delete" => {
            if admin.namesrvs().is_empty() {
                admin
                    .namesrv(RemotingCommand::request(request::DELETE_KV_CONFIG))
                    .await?;
            }
            let header = DeleteKvConfigRequestHeader {
                namespace: ORDER_TOPIC_CONFIG.into(),
                key: topic.into(),
            };
            for addr in admin.namesrvs() {
                let res = admin
                    .namesrv_at(addr, with_header(request::DELETE_KV_CONFIG, &header))
                    .await?;
                ok(&format!("name server {addr}"), res)?;
            }
            Ok(Output::new(
                format!("delete orderConf success. topic=[{topic}]\n"),
                json!({ "topic": topic, "namesrvs": admin.namesrvs() }),
            ))
        }
        other => bail!("-m/--method must be put, get or delete (got {other:?})"),
    }
}

/// queryMsgByOffset: one pull of one message at the offset (as TOOLS_CONSUMER, nothing
/// committed), printed as queryMsgById prints it. Nothing is printed when the queue has
/// no message there, as mqadmin.
pub async fn query_msg_by_offset(admin: &Admin, a: crate::QueryMsgByOffsetArgs) -> Result<Output> {
    let (topic, broker) = (a.topic.trim(), a.broker_name.trim());
    let route = admin.route(topic).await?;
    let addr = addr_of_broker_name(&route, broker)
        .ok_or_else(|| anyhow!("broker {broker} is not in the route of topic {topic}"))?;
    let (status, _) = pull(admin, &addr, TOOLS_CONSUMER_GROUP, topic, a.queue_id, a.offset, 1, "*").await?;
    match status {
        PullStatus::Found(msgs) => {
            let m = &msgs[0];
            Ok(Output::new(
                format!("{}\n", message_detail(m, true)),
                json!({ "status": "FOUND", "message": message_json(m, Some(broker)) }),
            ))
        }
        other => Ok(Output::new(
            String::new(),
            json!({ "status": other.name(), "message": Value::Null }),
        )),
    }
}

/// skipAccumulatedMessage: resetOffsetByTime to "now" (timestamp -1), with the same
/// fallback when no consumer is online; prints only the table, as mqadmin.
pub async fn skip_accumulated_message(admin: &Admin, a: crate::SkipAccumulatedMessageArgs) -> Result<Output> {
    let out = crate::commands::reset_offset_by_time(
        admin,
        crate::ResetOffsetByTimeArgs {
            group: a.group,
            topic: a.topic,
            timestamp: "now".into(),
            force: a.force,
            cplus: false,
        },
    )
    .await?;
    let text = out
        .text
        .split_once('\n')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_default();
    Ok(Output::new(text, out.json))
}

/// queryCq: QUERY_CONSUME_QUEUE (321) at `-b` or the master of the topic's first broker.
pub async fn query_cq(admin: &Admin, a: crate::QueryCqArgs) -> Result<Output> {
    let topic = a.topic.trim();
    let addr = match a.broker.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        Some(b) => b.to_string(),
        None => {
            let route = admin.route(topic).await?;
            route
                .broker_datas
                .first()
                .and_then(|b| b.broker_addrs.get(&MASTER_ID).cloned())
                .ok_or_else(|| anyhow!("No topic route data!"))?
        }
    };
    let header = QueryConsumeQueueRequestHeader {
        topic: Some(topic.into()),
        queue_id: Some(a.queue),
        index: Some(a.index),
        count: Some(a.count),
        consumer_group: a.consumer.as_deref().map(|g| g.trim().to_string()),
    };
    let v = admin
        .broker_json(&addr, with_header(request::QUERY_CONSUME_QUEUE, &header))
        .await?;
    let mut text = String::new();
    if !v["subscriptionData"].is_null() {
        let _ = writeln!(
            text,
            "Subscription data: \n{}",
            serde_json::to_string_pretty(&v["subscriptionData"]).unwrap_or_default()
        );
        text.push_str("======================================\n");
    }
    if !v["filterData"].is_null() {
        let _ = writeln!(text, "Filter data: \n{}", str_of(&v["filterData"]));
        text.push_str("======================================\n");
    }
    let _ = writeln!(
        text,
        "Queue data: \nmax: {}, min: {}",
        i64_of(&v["maxQueueIndex"]),
        i64_of(&v["minQueueIndex"])
    );
    text.push_str("======================================\n");
    let mut rows = Vec::new();
    for (i, q) in v["queueData"].as_array().into_iter().flatten().enumerate() {
        let nullable = |k: &str| match &q[k] {
            Value::Null => "null".to_string(),
            other => str_of(other),
        };
        let _ = writeln!(text, "idx: {}", a.index + i as i64);
        let _ = writeln!(
            text,
            "ConsumeQueueData{{physicOffset={}, physicSize={}, tagsCode={}, extendDataJson='{}', bitMap='{}', eval={}, msg='{}'}}",
            i64_of(&q["physicOffset"]),
            i64_of(&q["physicSize"]),
            i64_of(&q["tagsCode"]),
            nullable("extendDataJson"),
            nullable("bitMap"),
            q["eval"].as_bool().unwrap_or(false),
            nullable("msg")
        );
        text.push_str("======================================\n");
        let mut row = q.clone();
        row["idx"] = json!(a.index + i as i64);
        rows.push(row);
    }
    Ok(Output::new(
        text,
        json!({
            "brokerAddr": addr, "topic": topic, "queueId": a.queue,
            "maxQueueIndex": i64_of(&v["maxQueueIndex"]), "minQueueIndex": i64_of(&v["minQueueIndex"]),
            "subscriptionData": v["subscriptionData"], "filterData": v["filterData"], "queueData": rows,
        }),
    ))
}

/// cleanExpiredCQ (306), deleteExpiredCommitLog (329), cleanUnusedTopic (316): on `-b`, or
/// on every broker (masters and slaves) of `-c`, or of every cluster. Prints `success`
/// (mqadmin prints the last broker's result; any refusal is an error here).
pub async fn maintenance(admin: &Admin, code: i32, a: crate::BrokerOrClusterMaintenanceArgs) -> Result<Output> {
    let addrs: Vec<String> = match (&a.broker_addr, &a.cluster) {
        (Some(b), _) => vec![b.trim().to_string()],
        (None, cluster) => {
            let info = admin.cluster_info().await?;
            let clusters: Vec<String> = match cluster.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                Some(c) => vec![c.to_string()],
                None => info.cluster_addr_table.keys().cloned().collect(),
            };
            let mut addrs = Vec::new();
            for c in &clusters {
                let names = info
                    .cluster_addr_table
                    .get(c)
                    .ok_or_else(|| anyhow!("cluster {c} does not exist"))?;
                for name in names {
                    if let Some(b) = info.broker_addr_table.get(name) {
                        addrs.extend(b.broker_addrs.values().cloned());
                    }
                }
            }
            addrs
        }
    };
    if addrs.is_empty() {
        return Ok(Output::new("false".into(), json!({ "result": false, "brokers": [] })));
    }
    for addr in &addrs {
        admin.broker_ok(addr, RemotingCommand::request(code)).await?;
    }
    Ok(Output::new(
        "success".into(),
        json!({ "result": true, "brokers": addrs }),
    ))
}

/// getConsumerConfig: the group's SubscriptionGroupConfig from every broker name's master
/// (GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 201), with its fields in Java's declaration order.
pub async fn get_consumer_config(admin: &Admin, group: &str) -> Result<Output> {
    const FIELDS: [&str; 9] = [
        "groupName",
        "consumeEnable",
        "consumeFromMinEnable",
        "consumeBroadcastEnable",
        "retryQueueNums",
        "retryMaxTimes",
        "brokerId",
        "whichBrokerWhenConsumeSlowly",
        "notifyConsumerIdsChangedEnable",
    ];
    let group = group.trim();
    let info = admin.cluster_info().await?;
    let mut text = String::new();
    let mut found = Vec::new();
    let names: BTreeMap<&String, _> = info.broker_addr_table.iter().collect();
    for (name, bd) in names {
        let cluster = info
            .cluster_addr_table
            .iter()
            .find(|(_, n)| n.contains(name))
            .map(|(c, _)| c.clone())
            .unwrap_or_else(|| "null".into());
        let Some(addr) = select_broker_addr(bd) else { continue };
        let v = admin
            .broker_json(
                &addr,
                RemotingCommand::request(request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
            )
            .await?;
        let config = &v["subscriptionGroupTable"][group];
        if config.is_null() {
            continue;
        }
        let _ = writeln!(
            text,
            "============================={cluster}:{name}============================="
        );
        for f in FIELDS {
            let _ = writeln!(text, "{f:<40}=  {}", str_of(&config[f]));
        }
        found.push(json!({ "clusterName": cluster, "brokerName": name, "brokerAddr": addr, "config": config }));
    }
    Ok(Output::new(text, json!({ "group": group, "configs": found })))
}

/// producer: GET_ALL_PRODUCER_INFO (328), one line per producer instance.
pub async fn producer(admin: &Admin, broker: &str) -> Result<Output> {
    let addr = broker.trim();
    let res = admin
        .broker(addr, RemotingCommand::request(request::GET_ALL_PRODUCER_INFO))
        .await?;
    if res.code != response::SUCCESS {
        ok(&format!("broker {addr}"), res)?;
        unreachable!();
    }
    let v = parse_body(&res.body)?;
    let mut text = String::new();
    for (group, list) in v["data"].as_object().into_iter().flatten() {
        let list = list.as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            let _ = writeln!(text, "producer group ({group}) instances are empty");
            continue;
        }
        for p in list {
            let _ = writeln!(
                text,
                "producer group ({group}) instance : clientId={},remoteIP={}, language={}, version={}, lastUpdateTimestamp={}",
                str_of(&p["clientId"]),
                str_of(&p["remoteIP"]),
                str_of(&p["language"]),
                i64_of(&p["version"]),
                i64_of(&p["lastUpdateTimestamp"])
            );
        }
    }
    Ok(Output::new(text, json!({ "brokerAddr": addr, "data": v["data"] })))
}

/// allocateMQ: how `AllocateMessageQueueAveragely` shares the topic's readable queues among
/// the clients of `-i` (no server is asked but the name server for the route), printed as
/// mqadmin's one-line `{"result":{client:[queue...]}}`. Deviation: the queues are taken in
/// (broker name, queue id) order, as a consumer's rebalance sorts them; mqadmin takes them in
/// the order of a Java HashSet.
pub async fn allocate_mq(admin: &Admin, topic: &str, ip_list: &str) -> Result<Output> {
    let topic = topic.trim();
    let ips: Vec<&str> = ip_list.trim().split(',').collect();
    let route = admin.route(topic).await?;
    let all = read_queues(&route);
    let mut result = serde_json::Map::new();
    for (index, ip) in ips.iter().enumerate() {
        let mut mine = Vec::new();
        if !all.is_empty() {
            let (n, k) = (all.len(), ips.len());
            let m = n % k;
            let average = if n <= k {
                1
            } else if m > 0 && index < m {
                n / k + 1
            } else {
                n / k
            };
            let start = if m > 0 && index < m {
                index * average
            } else {
                index * average + m
            };
            for i in 0..average.min(n.saturating_sub(start)) {
                let (broker, queue_id) = &all[(start + i) % n];
                mine.push(json!({ "brokerName": broker, "queueId": queue_id, "topic": topic }));
            }
        }
        result.insert(ip.to_string(), Value::Array(mine));
    }
    let v = json!({ "result": result });
    Ok(Output::new(format!("{v}\n"), v))
}
