//! The web console (`dashboardPort`, `standalone --dashboard-port`): HTML pages served from
//! the binary over the shared HTTP server ([`remoting::http`]), reading the same state the
//! admin request codes report.
//!
//! Pages: `/` cluster and brokers, `/topics` and `/topic?name=`, `/groups` and
//! `/group?name=`, `/messages` (lookup by msgId, key or queue offset), `/plots` (the last
//! hour, redrawn by `console.js` from `/api/series` every few seconds). Write actions
//! (`POST /topics/create`, `POST /groups/reset`) answer 403 unless
//! `dashboardWriteEnable=true`. Unknown paths get 404, other methods 405, bad parameters 400.

pub mod html;
pub mod lookup;
pub mod plot;
pub mod samples;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use remoting::code::{request, response};
use remoting::http::{percent_encode, HttpRequest, HttpResponse};
use remoting::protocol::route::{perm, ClusterInfo};
use remoting::protocol::topic::{now_millis, TopicConfig};
use remoting::{fastjson, RemotingCommand};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::topic_config::{validate_topic_name, DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX};
use crate::BrokerState;
use html::{esc, facts, link, page, rate, table, time};
use samples::{Chart, Samples};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// A queue of a group: id, broker max offset, committed offset (-1: none), lag.
type QueueLag = (i32, i64, i64, i64);

/// Series the plots page draws per chart.
const PLOT_SERIES: usize = 10;

struct Console {
    state: Arc<BrokerState>,
    samples: Arc<Samples>,
    metrics_url: Option<String>,
}

/// Starts the console on `state.config.dashboard_addr()` and its sampler. Returns where it
/// listens and the sampler task.
pub async fn start(
    state: &Arc<BrokerState>,
    metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
) -> std::io::Result<Option<(SocketAddr, JoinHandle<()>)>> {
    let Some(addr) = state.config.dashboard_addr() else {
        return Ok(None);
    };
    let samples = Arc::new(Samples::new(state.config.dashboard_sample_interval));
    let console = Arc::new(Console {
        state: state.clone(),
        samples: samples.clone(),
        metrics_url: metrics_addr.map(|a| format!("http://{a}/metrics")),
    });
    let handler: remoting::http::Handler = Arc::new(move |req: HttpRequest| {
        let console = console.clone();
        Box::pin(async move { console.answer(req).await })
    });
    let local = remoting::http::serve(addr, handler, shutdown).await?;
    info!(url = %format!("http://{local}/"), write = state.config.dashboard_write_enable, "web console listening");
    let sampler = tokio::spawn(samples::run(state.clone(), samples));
    Ok(Some((local, sampler)))
}

fn error_page(status: u16, title: &str, detail: &str) -> HttpResponse {
    HttpResponse::html(
        status,
        page(
            title,
            "",
            "",
            &format!(
                r#"<p class="error">{}</p><p><a href="/">Back to the cluster page</a></p>"#,
                esc(detail)
            ),
        ),
    )
}

/// Topics the broker makes itself or derives from groups (hidden unless asked for).
fn is_system_topic(state: &BrokerState, topic: &str) -> bool {
    topic.starts_with(RETRY_GROUP_TOPIC_PREFIX)
        || topic.starts_with(DLQ_GROUP_TOPIC_PREFIX)
        || topic.starts_with("rmq_sys_")
        || topic.starts_with("RMQ_SYS_")
        || topic.ends_with("_REPLY_TOPIC")
        || matches!(
            topic,
            "TBW102" | "SELF_TEST_TOPIC" | "BenchmarkTest" | "OFFSET_MOVED_EVENT" | "SCHEDULE_TOPIC_XXXX"
        )
        || topic == state.config.broker_cluster_name
        || topic == state.config.broker_name
}

fn is_system_group(group: &str) -> bool {
    group.starts_with("CID_RMQ_SYS_")
        || matches!(
            group,
            "TOOLS_CONSUMER"
                | "FILTERSRV_CONSUMER"
                | "SELF_TEST_C_GROUP"
                | "CID_ONS-HTTP-PROXY"
                | "CID_ONSAPI_PERMISSION"
                | "CID_ONSAPI_OWNER"
                | "CID_ONSAPI_PULL"
                | "SCHEDULE_CONSUMER"
                | "CID_SYS_RMQ_TRANS"
        )
}

fn perm_string(p: i32) -> String {
    format!(
        "{}{}",
        if p & perm::READ != 0 { "R" } else { "-" },
        if p & perm::WRITE != 0 { "W" } else { "-" }
    )
}

impl Console {
    fn subtitle(&self) -> String {
        let c = &self.state.config;
        esc(&format!(
            "{} / {} ({}) at {}",
            c.broker_cluster_name,
            c.broker_name,
            self.state.ha.role.as_str(),
            c.broker_addr()
        ))
    }

    fn page(&self, title: &str, active: &str, body: &str) -> HttpResponse {
        HttpResponse::html(200, page(title, active, &self.subtitle(), body))
    }

    fn write_enabled(&self) -> bool {
        self.state.config.dashboard_write_enable
    }

    async fn answer(&self, req: HttpRequest) -> HttpResponse {
        let path = req.path.as_str();
        let post_paths = ["/topics/create", "/groups/reset"];
        if post_paths.contains(&path) {
            if req.method != "POST" {
                return error_page(405, "Method not allowed", "this action takes a POST from its form");
            }
            if !self.write_enabled() {
                return error_page(
                    403,
                    "Forbidden",
                    "the console is read-only: start the broker with dashboardWriteEnable=true to allow writes",
                );
            }
            // Refuse forms posted from other sites' pages.
            if let (Some(origin), Some(host)) = (req.header("origin"), req.header("host")) {
                if origin != "null" && origin.split("://").nth(1) != Some(host) {
                    return error_page(403, "Forbidden", "cross-site form refused");
                }
            }
            return match path {
                "/topics/create" => self.create_topic(&req).await,
                _ => self.reset_offset(&req).await,
            };
        }
        if req.method != "GET" && req.method != "HEAD" {
            return error_page(405, "Method not allowed", "only GET here");
        }
        match path {
            "/" | "/cluster" => self.cluster().await,
            "/topics" => self.topics(&req),
            "/topic" => self.topic(&req),
            "/groups" => self.groups(&req),
            "/group" => self.group(&req),
            "/messages" => self.messages(&req),
            "/plots" => self.plots(),
            "/api/series" => self.series(&req),
            "/static/console.css" => HttpResponse::new(200, "text/css; charset=utf-8", CSS)
                .with_header("cache-control", "max-age=300".into()),
            "/static/console.js" => HttpResponse::new(200, "text/javascript; charset=utf-8", JS)
                .with_header("cache-control", "max-age=300".into()),
            _ => error_page(404, "Not found", &format!("no page at {path}")),
        }
    }

    // ---- cluster ----

    async fn cluster(&self) -> HttpResponse {
        let state = &self.state;
        let c = &state.config;
        let store = &state.store;
        let live = state.live();
        let boot = state.stats.boot_timestamp();
        let tps = state.stats.store_tps(10);
        let mut rows = vec![
            ("Cluster", esc(&c.broker_cluster_name)),
            ("Broker name", esc(&c.broker_name)),
            ("Broker id", c.broker_id.to_string()),
            ("Role", esc(state.ha.role.as_str())),
            ("Address", esc(&c.broker_addr())),
            ("HA address", esc(&c.ha_server_addr())),
        ];
        if let Some(master) = state.ha.master_addr() {
            rows.push(("Master", esc(&master)));
        }
        rows.extend([
            (
                "Name servers",
                esc(&c.namesrv_addr.clone().unwrap_or_else(|| "none".into())),
            ),
            (
                "Store path",
                esc(&store.config().store_path_root_dir.display().to_string()),
            ),
            (
                "Started",
                format!("{} ({} s ago)", time(boot), (now_millis() - boot).max(0) / 1000),
            ),
            ("Permission", perm_string(live.broker_permission)),
            (
                "Health",
                if store.is_writable() {
                    r#"<span class="ok">OK</span>"#.to_string()
                } else {
                    r#"<span class="bad">store not writable</span>"#.to_string()
                },
            ),
            (
                "CommitLog",
                format!(
                    "{} bytes kept",
                    (store.max_commit_log_offset() - store.min_commit_log_offset()).max(0)
                ),
            ),
            ("Flush behind", format!("{} bytes", store.remain_to_flush())),
            (
                "Dispatch behind",
                format!(
                    "{} bytes",
                    (store.max_commit_log_offset() - store.dispatched_offset()).max(0)
                ),
            ),
            ("Put TPS (10 s)", rate(tps.put)),
            ("Get TPS (10 s)", rate(tps.transferred)),
            (
                "Topics / groups",
                format!("{} / {}", state.topics.topic_names().len(), state.groups.names().len()),
            ),
            (
                "Metrics",
                self.metrics_url
                    .as_ref()
                    .map(|u| format!(r#"<a href="{0}">{0}</a>"#, esc(u)))
                    .unwrap_or_else(|| "off (metricsExporterType=PROM to serve)".into()),
            ),
            (
                "Console writes",
                if self.write_enabled() {
                    "enabled"
                } else {
                    "disabled (dashboardWriteEnable)"
                }
                .into(),
            ),
        ]);
        let mut body = String::from("<h2>This broker</h2>");
        body.push_str(&facts(&rows));
        body.push_str("<h2>Cluster, as the name servers see it</h2>");
        body.push_str(&self.cluster_table().await);
        self.page("Cluster", "/", &body)
    }

    /// Every broker the name servers list, with a health probe (GET_BROKER_RUNTIME_INFO).
    async fn cluster_table(&self) -> String {
        let state = &self.state;
        let name_servers = state.config.name_servers();
        if name_servers.is_empty() {
            return r#"<p class="note">No name server configured (namesrvAddr): only this broker is shown.</p>"#.into();
        }
        let mut info: Option<ClusterInfo> = None;
        let mut errors = Vec::new();
        for ns in &name_servers {
            let req = RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO);
            match state.outbound.invoke(ns, req, Duration::from_secs(3)).await {
                Ok(res) if res.code == response::SUCCESS => match fastjson::from_slice::<ClusterInfo>(&res.body) {
                    Ok(ci) => {
                        info = Some(ci);
                        break;
                    }
                    Err(e) => errors.push(format!("{ns}: bad answer ({e})")),
                },
                Ok(res) => errors.push(format!("{ns}: code {} {}", res.code, res.remark.unwrap_or_default())),
                Err(e) => errors.push(format!("{ns}: {e}")),
            }
        }
        let mut out = String::new();
        for e in &errors {
            let _ = write!(out, r#"<p class="bad">Name server {}</p>"#, esc(e));
        }
        let Some(info) = info else {
            return out;
        };
        // (cluster, broker name, id, address)
        let mut brokers = Vec::new();
        for (cluster, names) in &info.cluster_addr_table {
            for name in names {
                if let Some(data) = info.broker_addr_table.get(name) {
                    for (id, addr) in &data.broker_addrs {
                        brokers.push((cluster.clone(), name.clone(), *id, addr.clone()));
                    }
                }
            }
        }
        let mut probes = tokio::task::JoinSet::new();
        for (i, (_, _, _, addr)) in brokers.iter().enumerate() {
            let state = state.clone();
            let addr = addr.clone();
            probes.spawn(async move {
                let started = Instant::now();
                let req = RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO);
                let res = state.outbound.invoke(&addr, req, Duration::from_millis(1500)).await;
                let ms = started.elapsed().as_millis();
                let health = match res {
                    Ok(r) if r.code == response::SUCCESS => {
                        let table = fastjson::parse(&r.body).ok();
                        let version = table
                            .as_ref()
                            .and_then(|t| t["table"]["brokerVersionDesc"].as_str().map(String::from))
                            .unwrap_or_default();
                        format!(
                            r#"<span class="ok">up</span> ({ms} ms{}{})"#,
                            if version.is_empty() { "" } else { ", " },
                            esc(&version)
                        )
                    }
                    Ok(r) => format!(r#"<span class="bad">answered code {}</span>"#, r.code),
                    Err(e) => format!(r#"<span class="bad">unreachable</span> ({})"#, esc(&e.to_string())),
                };
                (i, health)
            });
        }
        let mut health = BTreeMap::new();
        while let Some(Ok((i, h))) = probes.join_next().await {
            health.insert(i, h);
        }
        let rows: Vec<Vec<String>> = brokers
            .iter()
            .enumerate()
            .map(|(i, (cluster, name, id, addr))| {
                vec![
                    esc(cluster),
                    esc(name),
                    id.to_string(),
                    if *id == 0 { "master" } else { "slave" }.to_string(),
                    esc(addr),
                    health.remove(&i).unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&table(
            "brokers",
            &["Cluster", "Broker", "Id", "Role", "Address", "Health"],
            &rows,
        ));
        out
    }

    // ---- topics ----

    fn topic_rows(&self, show_system: bool) -> Vec<Vec<String>> {
        let state = &self.state;
        let puts = self.samples.chart(Chart::Put, usize::MAX, None);
        let totals: BTreeMap<String, i64> = state
            .stats
            .set(crate::stats::TOPIC_PUT_NUMS)
            .map(|s| s.totals())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut names = state.topics.topic_names();
        names.sort();
        names
            .into_iter()
            .filter(|t| show_system || !is_system_topic(state, t))
            .filter_map(|t| state.topics.select(&t))
            .map(|tc| {
                let (mut min, mut max) = (0i64, 0i64);
                for q in 0..tc.read_queue_nums.max(tc.write_queue_nums) {
                    min += state.store.min_offset_in_queue(&tc.topic_name, q).max(0);
                    max += state.store.max_offset_in_queue(&tc.topic_name, q).max(0);
                }
                vec![
                    link("/topic", &tc.topic_name),
                    format!("{} / {}", tc.read_queue_nums, tc.write_queue_nums),
                    perm_string(tc.perm),
                    min.to_string(),
                    max.to_string(),
                    (max - min).to_string(),
                    totals.get(&tc.topic_name).copied().unwrap_or(0).to_string(),
                    rate(puts.latest(&tc.topic_name).or(Some(0.0))),
                ]
            })
            .collect()
    }

    fn topics(&self, req: &HttpRequest) -> HttpResponse {
        let show_system = req.param("system").is_some_and(|v| v == "1" || v == "true");
        let mut body = String::new();
        let _ = write!(
            body,
            r#"<p class="note">Offsets are summed over the queues. {}</p>"#,
            if show_system {
                r#"<a href="/topics">Hide system topics</a>"#
            } else {
                r#"<a href="/topics?system=1">Show system topics</a>"#
            }
        );
        body.push_str(&table(
            "topics",
            &[
                "Topic",
                "Queues (r/w)",
                "Perm",
                "Min offset",
                "Max offset",
                "Messages",
                "Put total",
                "Put rate (msg/s)",
            ],
            &self.topic_rows(show_system),
        ));
        body.push_str("<h2>Create a topic</h2>");
        if self.write_enabled() {
            body.push_str(
                r#"<form method="post" action="/topics/create" class="inline">
<label>Topic <input name="topic" required maxlength="127"></label>
<label>Queues <input name="queues" type="number" min="1" max="1024" value="8"></label>
<label>Perm <select name="perm"><option value="6">RW</option><option value="4">R</option><option value="2">W</option></select></label>
<button type="submit">Create</button></form>"#,
            );
        } else {
            body.push_str(r#"<p class="note">Read-only console: start the broker with <code>dashboardWriteEnable=true</code> to create topics here.</p>"#);
        }
        self.page("Topics", "/topics", &body)
    }

    fn topic(&self, req: &HttpRequest) -> HttpResponse {
        let Some(name) = req.param("name").filter(|n| !n.is_empty()) else {
            return error_page(400, "Bad request", "which topic? /topic?name=TOPIC");
        };
        let state = &self.state;
        let Some(tc) = state.topics.select(&name) else {
            return error_page(404, "Not found", &format!("no topic {name} on this broker"));
        };
        let puts = self.samples.chart(Chart::Put, 1, Some(&name));
        let gets = self.samples.chart(Chart::Get, 1, Some(&name));
        let mut body = facts(&[
            ("Topic", esc(&tc.topic_name)),
            (
                "Queues (read / write)",
                format!("{} / {}", tc.read_queue_nums, tc.write_queue_nums),
            ),
            ("Perm", perm_string(tc.perm)),
            ("Order", tc.order.to_string()),
            ("Put rate (msg/s)", rate(puts.latest(&name).or(Some(0.0)))),
            ("Get rate (msg/s)", rate(gets.latest(&name).or(Some(0.0)))),
        ]);
        body.push_str("<h2>Queues</h2>");
        let rows: Vec<Vec<String>> = (0..tc.read_queue_nums.max(tc.write_queue_nums))
            .map(|q| {
                let min = state.store.min_offset_in_queue(&name, q);
                let max = state.store.max_offset_in_queue(&name, q);
                let last = if max > 0 {
                    time(state.store.message_store_timestamp(&name, q, max - 1))
                } else {
                    "-".into()
                };
                let lookup = if max > min {
                    format!(
                        r#"<a href="/messages?topic={}&amp;queue={q}&amp;offset={}">newest</a>"#,
                        percent_encode(&name),
                        max - 1
                    )
                } else {
                    String::new()
                };
                vec![q.to_string(), min.to_string(), max.to_string(), last, lookup]
            })
            .collect();
        body.push_str(&table(
            "queues",
            &["Queue", "Min offset", "Max offset", "Last stored", "Message"],
            &rows,
        ));
        body.push_str("<h2>Consumer groups</h2>");
        let mut groups: BTreeSet<String> = state.offsets.groups_of_topic(&name).into_iter().collect();
        groups.extend(state.clients.groups_subscribing(&name));
        let rows: Vec<Vec<String>> = groups
            .iter()
            .map(|g| {
                let lag: i64 = state
                    .offsets
                    .queue_offsets(g, &name)
                    .unwrap_or_default()
                    .iter()
                    .map(|(q, c)| (state.store.max_offset_in_queue(&name, *q) - c).max(0))
                    .sum();
                vec![
                    link("/group", g),
                    lag.to_string(),
                    rate(Some(state.stats.consume_tps(&name, g))),
                ]
            })
            .collect();
        body.push_str(&table("groups", &["Group", "Lag", "Consume TPS (1 min)"], &rows));
        let _ = write!(
            body,
            r#"<h2>Last hour</h2><h3>{3}</h3><div class="chart" data-chart="put" data-key="{0}">{1}</div><h3>{4}</h3><div class="chart" data-chart="get" data-key="{0}">{2}</div>"#,
            esc(&name),
            plot::render(Chart::Put, &puts, now_millis()),
            plot::render(Chart::Get, &gets, now_millis()),
            esc(Chart::Put.title()),
            esc(Chart::Get.title()),
        );
        self.page(&format!("Topic {name}"), "/topics", &body)
    }

    // ---- groups ----

    /// Every group known: subscription groups, groups with offsets, groups online.
    fn group_names(&self, show_system: bool) -> Vec<String> {
        let state = &self.state;
        let mut names: BTreeSet<String> = state.groups.names().into_iter().collect();
        names.extend(state.offsets.all().into_iter().map(|(_, g, _)| g));
        names.extend(state.clients.consumer_group_names());
        names
            .into_iter()
            .filter(|g| show_system || !is_system_group(g))
            .collect()
    }

    /// Per topic of `group`: (topic, [(queue, broker max, committed, lag)]).
    fn group_offsets(&self, group: &str) -> Vec<(String, Vec<QueueLag>)> {
        let state = &self.state;
        let mut topics: BTreeSet<String> = state.offsets.topics_of_group(group).into_iter().collect();
        if let Some(view) = state.clients.consumer_group_view(group) {
            topics.extend(view.subscriptions.keys().cloned());
        }
        topics
            .into_iter()
            .map(|topic| {
                let committed = state.offsets.queue_offsets(group, &topic).unwrap_or_default();
                let queues = state
                    .topics
                    .select(&topic)
                    .map(|tc| tc.read_queue_nums.max(tc.write_queue_nums))
                    .unwrap_or(0);
                let mut ids: BTreeSet<i32> = (0..queues).collect();
                ids.extend(committed.keys().copied());
                let rows = ids
                    .into_iter()
                    .map(|q| {
                        let max = state.store.max_offset_in_queue(&topic, q).max(0);
                        let c = committed.get(&q).copied().unwrap_or(-1);
                        let lag = if c >= 0 { (max - c).max(0) } else { max };
                        (q, max, c, lag)
                    })
                    .collect();
                (topic, rows)
            })
            .collect()
    }

    fn groups(&self, req: &HttpRequest) -> HttpResponse {
        let show_system = req.param("system").is_some_and(|v| v == "1" || v == "true");
        let consume = self.samples.chart(Chart::Consume, usize::MAX, None);
        let rows: Vec<Vec<String>> = self
            .group_names(show_system)
            .into_iter()
            .map(|g| {
                let clients = self
                    .state
                    .clients
                    .consumer_group_view(&g)
                    .map(|v| v.connections.len())
                    .unwrap_or(0);
                let offsets = self.group_offsets(&g);
                let topics: Vec<String> = offsets.iter().map(|(t, _)| link("/topic", t)).collect();
                let lag: i64 = offsets.iter().flat_map(|(_, r)| r.iter().map(|x| x.3)).sum();
                vec![
                    link("/group", &g),
                    clients.to_string(),
                    topics.join(" "),
                    format!(r#"<span class="lag">{lag}</span>"#),
                    rate(consume.latest(&g).or(Some(0.0))),
                ]
            })
            .collect();
        let mut body = String::new();
        let _ = write!(
            body,
            r#"<p class="note">Lag: messages past each queue's committed offset, summed. {}</p>"#,
            if show_system {
                r#"<a href="/groups">Hide system groups</a>"#
            } else {
                r#"<a href="/groups?system=1">Show system groups</a>"#
            }
        );
        body.push_str(&table(
            "groups",
            &["Group", "Online clients", "Topics", "Lag", "Consume rate (msg/s)"],
            &rows,
        ));
        self.page("Consumer groups", "/groups", &body)
    }

    fn group(&self, req: &HttpRequest) -> HttpResponse {
        let Some(name) = req.param("name").filter(|n| !n.is_empty()) else {
            return error_page(400, "Bad request", "which group? /group?name=GROUP");
        };
        let state = &self.state;
        if !self.group_names(true).contains(&name) {
            return error_page(404, "Not found", &format!("no consumer group {name} on this broker"));
        }
        let view = state.clients.consumer_group_view(&name);
        let consume = self.samples.chart(Chart::Consume, 1, Some(&name));
        let lag_chart = self.samples.chart(Chart::Lag, 1, Some(&name));
        let mut body = facts(&[
            ("Group", esc(&name)),
            (
                "Consume type / model",
                view.as_ref()
                    .map(|v| {
                        esc(&format!(
                            "{} / {}",
                            v.consume_type.as_str().unwrap_or("-"),
                            v.message_model.as_str().unwrap_or("-")
                        ))
                    })
                    .unwrap_or_else(|| "offline".into()),
            ),
            ("Consume rate (msg/s)", rate(consume.latest(&name).or(Some(0.0)))),
        ]);
        body.push_str("<h2>Online clients</h2>");
        let rows: Vec<Vec<String>> = view
            .as_ref()
            .map(|v| {
                v.connections
                    .iter()
                    .map(|c| {
                        vec![
                            esc(&c.client_id),
                            esc(&c.client_addr),
                            esc(&c.language),
                            remoting::code::version::name(c.version).to_string(),
                            time(c.last_update_timestamp),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        body.push_str(&table(
            "clients",
            &["Client id", "Address", "Language", "Version", "Last heartbeat"],
            &rows,
        ));
        if let Some(v) = &view {
            let subs: Vec<Vec<String>> = v
                .subscriptions
                .iter()
                .map(|(t, s)| vec![link("/topic", t), esc(s.to_json()["subString"].as_str().unwrap_or("*"))])
                .collect();
            body.push_str("<h2>Subscriptions</h2>");
            body.push_str(&table("subscriptions", &["Topic", "Expression"], &subs));
        }
        body.push_str("<h2>Offsets and lag</h2>");
        for (topic, queues) in self.group_offsets(&name) {
            let total: i64 = queues.iter().map(|q| q.3).sum();
            let _ = write!(
                body,
                r#"<h3>{} <span class="note">lag {total}</span></h3>"#,
                link("/topic", &topic)
            );
            let rows: Vec<Vec<String>> = queues
                .iter()
                .map(|(q, max, c, lag)| {
                    vec![
                        q.to_string(),
                        max.to_string(),
                        if *c >= 0 { c.to_string() } else { "-".into() },
                        format!(r#"<span class="lag">{lag}</span>"#),
                    ]
                })
                .collect();
            body.push_str(&table(
                "offsets",
                &["Queue", "Broker offset", "Consumer offset", "Lag"],
                &rows,
            ));
            if self.write_enabled() {
                let _ = write!(
                    body,
                    r#"<form method="post" action="/groups/reset" class="inline"><input type="hidden" name="group" value="{}"><input type="hidden" name="topic" value="{}">
<label>Reset to <input name="timestamp" value="latest" title="latest, earliest, or ms since the epoch"></label><button type="submit">Reset offset</button></form>"#,
                    esc(&name),
                    esc(&topic)
                );
            }
        }
        if !self.write_enabled() {
            body.push_str(r#"<p class="note">Read-only console: start the broker with <code>dashboardWriteEnable=true</code> to reset offsets here.</p>"#);
        }
        let _ = write!(
            body,
            r#"<h2>Last hour</h2><h3>{3}</h3><div class="chart" data-chart="lag" data-key="{0}">{1}</div><h3>{4}</h3><div class="chart" data-chart="consume" data-key="{0}">{2}</div>"#,
            esc(&name),
            plot::render(Chart::Lag, &lag_chart, now_millis()),
            plot::render(Chart::Consume, &consume, now_millis()),
            esc(Chart::Lag.title()),
            esc(Chart::Consume.title()),
        );
        self.page(&format!("Consumer group {name}"), "/groups", &body)
    }

    // ---- messages ----

    fn messages(&self, req: &HttpRequest) -> HttpResponse {
        let p = |k: &str| req.param(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let (msg_id, topic, key, queue, offset) = (p("msgId"), p("topic"), p("key"), p("queue"), p("offset"));
        let v = |x: &Option<String>| esc(x.as_deref().unwrap_or(""));
        let mut body = format!(
            r#"<div class="forms">
<form method="get" action="/messages"><h2>By msgId</h2><label>msgId <input name="msgId" size="36" value="{}"></label><label>Topic (optional) <input name="topic" value="{}"></label><button type="submit">Find</button></form>
<form method="get" action="/messages"><h2>By key</h2><label>Topic <input name="topic" required value="{}"></label><label>Key <input name="key" required value="{}"></label><button type="submit">Find</button></form>
<form method="get" action="/messages"><h2>By offset</h2><label>Topic <input name="topic" required value="{}"></label><label>Queue <input name="queue" type="number" min="0" required value="{}"></label><label>Offset <input name="offset" type="number" min="0" required value="{}"></label><button type="submit">Find</button></form>
</div>"#,
            v(&msg_id),
            if msg_id.is_some() { v(&topic) } else { String::new() },
            if key.is_some() { v(&topic) } else { String::new() },
            v(&key),
            if queue.is_some() || offset.is_some() {
                v(&topic)
            } else {
                String::new()
            },
            v(&queue),
            v(&offset),
        );
        let state = &self.state;
        let outcome = if let Some(id) = &msg_id {
            Some(lookup::by_msg_id(state, id, topic.as_deref()))
        } else if let Some(k) = &key {
            Some(lookup::by_key(state, topic.as_deref().unwrap_or(""), k))
        } else if queue.is_some() || offset.is_some() {
            Some(lookup::by_offset(
                state,
                topic.as_deref().unwrap_or(""),
                queue.as_deref().unwrap_or(""),
                offset.as_deref().unwrap_or(""),
            ))
        } else {
            None
        };
        let mut status = 200;
        match outcome {
            None => {}
            Some(Err(why)) => {
                status = 400;
                let _ = write!(body, r#"<p class="error">{}</p>"#, esc(&why));
            }
            Some(Ok(found)) if found.is_empty() => {
                status = 404;
                body.push_str(r#"<p class="error">No message found.</p>"#);
            }
            Some(Ok(found)) => {
                let _ = write!(body, r#"<p class="note">{} message(s) found.</p>"#, found.len());
                for m in &found {
                    body.push_str(&lookup::render(m));
                }
            }
        }
        let mut res = self.page("Messages", "/messages", &body);
        res.status = status;
        res
    }

    // ---- plots ----

    fn plots(&self) -> HttpResponse {
        let now = now_millis();
        let mut body = format!(
            r#"<p class="note">One sample every {} s, the last hour kept in memory; the page redraws every few seconds. The {PLOT_SERIES} busiest series of each chart are drawn.</p>"#,
            self.samples.interval_ms() as f64 / 1000.0
        );
        for chart in [Chart::Put, Chart::Get, Chart::Lag, Chart::Consume] {
            let data = self.samples.chart(chart, PLOT_SERIES, None);
            let _ = write!(
                body,
                r#"<h2>{}</h2><div class="chart" data-chart="{}">{}</div>"#,
                esc(chart.title()),
                chart.name(),
                plot::render(chart, &data, now)
            );
        }
        self.page("Live plots", "/plots", &body)
    }

    fn series(&self, req: &HttpRequest) -> HttpResponse {
        let limit = match req.param("limit") {
            None => PLOT_SERIES,
            Some(l) => match l.parse::<usize>() {
                Ok(n) if (1..=samples::MAX_SERIES).contains(&n) => n,
                _ => return HttpResponse::json(400, r#"{"error":"limit must be 1 to 500"}"#),
            },
        };
        let key = req.param("key").filter(|k| !k.is_empty());
        let mut json = self.samples.to_json(limit, key.as_deref());
        json["now"] = now_millis().into();
        HttpResponse::json(200, json.to_string()).with_header("cache-control", "no-store".into())
    }

    // ---- write actions ----

    async fn create_topic(&self, req: &HttpRequest) -> HttpResponse {
        let form: BTreeMap<String, String> = req.form().into_iter().collect();
        let topic = form.get("topic").map(|t| t.trim().to_string()).unwrap_or_default();
        if let Err(why) = validate_topic_name(&topic) {
            return error_page(400, "Bad request", &why);
        }
        if topic == self.state.config.broker_cluster_name || topic == self.state.config.broker_name {
            return error_page(400, "Bad request", "that name is reserved");
        }
        let queues: i32 = match form.get("queues").map(|q| q.trim()).filter(|q| !q.is_empty()) {
            None => self.state.config.default_topic_queue_nums,
            Some(q) => match q.parse() {
                Ok(n) if (1..=1024).contains(&n) => n,
                _ => return error_page(400, "Bad request", "queues must be 1 to 1024"),
            },
        };
        let perm_bits: i32 = match form.get("perm").map(|p| p.trim()).filter(|p| !p.is_empty()) {
            None => perm::READ | perm::WRITE,
            Some(p) => match p.parse() {
                Ok(n) if (0..=7).contains(&n) => n,
                _ => return error_page(400, "Bad request", "perm must be 0 to 7"),
            },
        };
        info!(topic = %topic, queues, perm = perm_bits, "console: create topic");
        self.state
            .topics
            .update(TopicConfig::new(topic.clone(), queues, queues, perm_bits));
        crate::registration::register_all(&self.state).await;
        HttpResponse::see_other(&format!("/topic?name={}", percent_encode(&topic)))
    }

    async fn reset_offset(&self, req: &HttpRequest) -> HttpResponse {
        let form: BTreeMap<String, String> = req.form().into_iter().collect();
        let field = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        let (group, topic, when) = (field("group"), field("topic"), field("timestamp"));
        if group.is_empty() || topic.is_empty() {
            return error_page(400, "Bad request", "a reset needs a group and a topic");
        }
        let timestamp: i64 = match when.as_str() {
            "" | "latest" => -1,
            "earliest" => 0,
            t => match t.parse::<i64>() {
                Ok(ms) if ms >= -1 => ms,
                _ => {
                    return error_page(
                        400,
                        "Bad request",
                        "timestamp must be latest, earliest or ms since the epoch",
                    )
                }
            },
        };
        let state = &self.state;
        let Some(tc) = state.topics.select(&topic) else {
            return error_page(404, "Not found", &format!("no topic {topic} on this broker"));
        };
        let offsets = match crate::processor::client_admin::reset_targets(state, &tc, &group, timestamp, true) {
            Ok(o) => o,
            Err(why) => return error_page(404, "Not found", &why),
        };
        info!(group = %group, topic = %topic, timestamp, "console: reset offset");
        // Online consumers are told (as INVOKE_BROKER_TO_RESET_OFFSET does); the offsets are
        // committed here either way, so an offline group starts from them.
        crate::processor::client_admin::push_reset(state, &topic, &group, timestamp, &offsets, false).await;
        for (q, o) in &offsets {
            state.offsets.commit(&group, &topic, *q, *o);
        }
        HttpResponse::see_other(&format!("/group?name={}", percent_encode(&group)))
    }
}
