//! A RocketMQ-compatible broker: topic and group configuration, the message store, client
//! management, and the request processors of Java's broker, served over remoting.

pub mod acl;
pub mod client_manager;
pub mod config;
pub mod console;
pub mod consumer_filter;
pub mod consumer_offset;
pub mod dedup;
pub mod filter;
pub mod ha;
pub mod inert_settings;
pub mod java_order;
pub mod long_polling;
pub mod metrics;
pub mod pop;
pub mod processor;
pub mod rebalance_lock;
pub mod registration;
pub mod runtime_config;
pub mod schedule;
pub mod stats;
pub mod subscription_group;
pub mod timer;
pub mod topic_config;
pub mod transaction;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use remoting::{RemotingClient, ServerConfig, ServerHandle};
use store::{BrokerRole, MessageStore, StoreConfig};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use client_manager::ClientManager;
pub use config::BrokerConfig;
use consumer_offset::ConsumerOffsetManager;
use long_polling::PullRequestHold;
use subscription_group::SubscriptionGroupManager;
use topic_config::TopicConfigManager;

/// Java's pointer to its FAQ, appended to several error remarks.
pub fn faq() -> &'static str {
    "\nSee http://rocketmq.apache.org/docs/faq/ for further details."
}

/// Everything the processors share.
pub struct BrokerState {
    /// The settings the broker started with; settings Java applies hot are read through
    /// `live()` instead.
    pub config: BrokerConfig,
    /// Current settings, changed by UPDATE_BROKER_CONFIG.
    pub runtime_config: runtime_config::RuntimeConfig,
    pub store: MessageStore,
    pub topics: TopicConfigManager,
    pub groups: SubscriptionGroupManager,
    pub offsets: ConsumerOffsetManager,
    pub delay_offsets: schedule::DelayOffsets,
    /// Woken when a message is parked in a schedule queue (see `schedule::run`).
    pub scheduled: tokio::sync::Notify,
    pub clients: ClientManager,
    pub hold: PullRequestHold,
    /// Held while a transaction is decided or a check round runs (see `transaction`); it
    /// guards the op records read so far.
    pub transaction_lock: tokio::sync::Mutex<transaction::OpIndex>,
    /// Retried sends already stored (`duplicateSendCheckEnable`; None when off).
    pub dedup: Option<dedup::DuplicateSendCheck>,
    /// Compiled SQL92 subscriptions, by topic and group.
    pub filters: consumer_filter::ConsumerFilterManager,
    /// Queue locks of orderly consumers.
    pub rebalance_locks: rebalance_lock::RebalanceLockManager,
    /// POP consumption: checkpoints, ordered-queue holds, request modes, waiting pops.
    pub pop: pop::PopState,
    /// Statistics as Java's BrokerStatsManager and StoreStatsService keep them.
    pub stats: stats::BrokerStats,
    /// ACL 1.0, when `aclEnable` is on.
    pub acl: Option<acl::AclManager>,
    /// Master or slave, and a slave's master (see `ha`).
    pub ha: ha::HaRole,
    /// Bounds the puts waiting for the store; beyond it senders get SYSTEM_BUSY.
    pub send_permits: Semaphore,
    pub store_addr: SocketAddr,
    pub outbound: RemotingClient,
    /// Timer messages (5.x arbitrary delays); None when `timerWheelEnable=false`.
    pub timer: Option<Arc<timer::TimerService>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(String),
    #[error("config: {0}")]
    Config(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Fills the duplicate-send table from the CommitLog records of the last window, so retries
/// of sends acknowledged before a restart are still caught.
fn rebuild_dedup(state: &BrokerState, dedup: &dedup::DuplicateSendCheck) {
    let window_ms = (state.config.duplicate_send_check_window_seconds * 1000) as i64;
    let since = remoting::protocol::topic::now_millis() - window_ms;
    state.store.for_each_stored_since(since, |d| {
        if let Some(uniq) = d.unique_key {
            let first = dedup::FirstSend {
                msg_id: store::encode_offset_msg_id(&state.store_addr, d.commit_log_offset),
                queue_id: d.queue_id,
                queue_offset: d.queue_offset,
            };
            dedup.remember(&d.topic, uniq, first, d.store_timestamp);
        }
    });
    info!(keys = dedup.len(), "duplicate-send table rebuilt from the CommitLog");
}

/// See `BrokerState::wait_new_topics_registered`.
const NEW_TOPIC_REGISTRATION_WAIT: std::time::Duration = std::time::Duration::from_millis(1000);

impl BrokerState {
    /// The current settings (see `runtime_config`).
    pub fn live(&self) -> Arc<BrokerConfig> {
        self.runtime_config.current()
    }

    /// Waits until a name server has taken the topics created so far, as Java registers a
    /// topic it creates for a client (a retry topic in a heartbeat, a topic auto-created by
    /// a send) before it answers: the client looks the topic up right after, and a lookup
    /// that misses waits 30 s for the next. Java sends that registration oneway, so a name
    /// server that is down holds the client for at most `NEW_TOPIC_REGISTRATION_WAIT`.
    pub async fn wait_new_topics_registered(&self) {
        if self.config.name_servers().is_empty() {
            return;
        }
        let generation = self.topics.generation();
        self.topics
            .wait_registered(generation, NEW_TOPIC_REGISTRATION_WAIT)
            .await;
    }

    /// Tells the consumers of each group whose membership changed (code 40), so they
    /// rebalance; unless the broker or the group has that turned off.
    pub fn announce_membership_changes(&self, groups: Vec<String>) {
        if !self.live().notify_consumer_ids_changed_enable {
            return;
        }
        for group in groups {
            if self
                .groups
                .find(&group)
                .is_none_or(|g| g.notify_consumer_ids_changed_enable)
            {
                self.clients.notify_consumer_ids_changed(&group);
            }
        }
    }
}

/// A running broker.
pub struct Broker {
    server: ServerHandle,
    /// Java's "fast" (VIP) remoting port, `listenPort - 2`: Java slaves take topic configs
    /// from it, and clients with `vipChannelEnabled` send to it.
    vip_server: Option<ServerHandle>,
    state: Arc<BrokerState>,
    tasks: Vec<JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
    dashboard_addr: Option<SocketAddr>,
}

impl Broker {
    pub async fn start(config: BrokerConfig) -> Result<Broker, StartError> {
        let mut store_config = StoreConfig::with_root(default_store_root());
        store_config
            .apply_properties(&config.raw)
            .map_err(|e| StartError::Config(e.to_string()))?;
        let root = store_config.store_path_root_dir.clone();
        let config_path = config
            .broker_config_path
            .clone()
            .unwrap_or_else(|| root.join("config").join("broker.properties"));
        // Every store setting with its value (GET_BROKER_CONFIG shows them, as Java's), plus
        // whatever else the configuration named.
        let mut store_pairs: Vec<(String, String)> = store_config
            .to_pairs()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        for (k, v) in &config.raw {
            if !store_pairs.iter().any(|(known, _)| known == k) {
                store_pairs.push((k.clone(), v.clone()));
            }
        }
        store_pairs.sort();
        let role = store_config.broker_role;
        let mut config = config;
        match role {
            // Java's startup makes every master broker id 0.
            BrokerRole::AsyncMaster | BrokerRole::SyncMaster => config.broker_id = 0,
            BrokerRole::Slave if config.broker_id <= 0 => {
                return Err(StartError::Config("Slave's brokerId must be > 0".into()));
            }
            BrokerRole::Slave => {}
        }
        let ha_role = ha::HaRole::new(role, store_config.ha_master_address.as_deref());
        let store = MessageStore::open(store_config).map_err(|e| StartError::Store(e.to_string()))?;
        let timer = if store::timer::TimerConfig::from_properties(&config.raw).wheel_enable {
            Some(Arc::new(timer::TimerService::open(&root, &config.raw, &store)?))
        } else {
            None
        };
        // Bind before building the state: with listenPort=0 the address we advertise and
        // stamp into messages needs the port the OS picked.
        let listener = remoting::server::bind(local_listen_addr(config.listen_port), config.server.socket_backlog)?;
        // Java's startup puts the HA port at listenPort + 1 whatever haListenPort says.
        let ha_port = if config.listen_port == 0 {
            0
        } else {
            config.listen_port.saturating_add(1)
        };
        if config.raw.contains_key("haListenPort") && config.ha_listen_port != ha_port && ha_port != 0 {
            warn!(
                configured = config.ha_listen_port,
                used = ha_port,
                "haListenPort is listenPort + 1, as in Java; the configured value is not used"
            );
        }
        let ha_listener = match tokio::net::TcpListener::bind(local_listen_addr(ha_port)).await {
            Ok(l) => Some(l),
            Err(e) => {
                error!(
                    port = ha_port,
                    "cannot listen on the HA port ({e}); no slave can replicate from this broker"
                );
                None
            }
        };
        config.listen_port = listener.local_addr()?.port();
        // With listenPort=0 (tests) the OS picks the port, and the one below it may be
        // anyone's: no VIP port then.
        let vip_listener = if ha_port == 0 {
            None
        } else {
            bind_vip(config.listen_port, config.server.socket_backlog)
        };
        if let Some(l) = &ha_listener {
            config.ha_listen_port = l.local_addr()?.port();
        }
        let port = config.listen_port;

        let store_addr: SocketAddr = config
            .broker_addr()
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], port)));
        let state = Arc::new(BrokerState {
            topics: TopicConfigManager::load(&root, &config)?,
            groups: SubscriptionGroupManager::load(&root, config.auto_create_subscription_group)?,
            offsets: ConsumerOffsetManager::load(&root)?,
            delay_offsets: schedule::DelayOffsets::load(&root)?,
            scheduled: tokio::sync::Notify::new(),
            filters: consumer_filter::ConsumerFilterManager::load(&root)?,
            clients: ClientManager::default(),
            hold: PullRequestHold::default(),
            transaction_lock: tokio::sync::Mutex::new(transaction::OpIndex::default()),
            dedup: config.duplicate_send_check_enable.then(|| {
                dedup::DuplicateSendCheck::new(
                    Duration::from_secs(config.duplicate_send_check_window_seconds),
                    config.duplicate_send_check_max_keys,
                )
            }),
            rebalance_locks: rebalance_lock::RebalanceLockManager::new(Duration::from_millis(
                config.rebalance_lock_max_live_time,
            )),
            pop: pop::PopState::load(
                &root,
                pop::PopConfig::from_raw(&config.raw),
                &config.broker_cluster_name,
            )?,
            stats: {
                let stats = stats::BrokerStats::new(&config.broker_cluster_name, config.enable_detail_stat);
                stats.set_enabled(config.enable_broker_stats);
                stats
            },
            acl: config.acl_enable.then(|| {
                let home = if config.rocketmq_home.is_empty() {
                    root.clone()
                } else {
                    std::path::PathBuf::from(&config.rocketmq_home)
                };
                acl::AclManager::open(&home, &config.acl_plain_file)
            }),
            ha: ha_role,
            send_permits: Semaphore::new(config.send_thread_pool_queue_capacity.max(1)),
            store_addr,
            outbound: RemotingClient::new(
                remoting::ClientConfig {
                    tls: config.client_tls.clone(),
                    ..Default::default()
                },
                Arc::new(remoting::connection::IgnoreRequests),
            ),
            store,
            timer,
            runtime_config: runtime_config::RuntimeConfig::new(config.clone(), config_path, store_pairs),
            config,
        });
        state.topics.persist()?;
        if let Some(dedup) = state.dedup.as_ref() {
            rebuild_dedup(&state, dedup);
        }

        let hold_state = Arc::downgrade(&state);
        state
            .store
            .set_arrival_listener(Arc::new(move |topic: &str, queue_id: i32, _: i64, _: i64, _: i64| {
                if let Some(state) = hold_state.upgrade() {
                    state.hold.message_arrived(topic, queue_id);
                    state.pop.message_arrived(topic);
                    if topic == topic_config::SCHEDULE_TOPIC {
                        state.scheduled.notify_one();
                    } else if topic == store::timer::TIMER_TOPIC {
                        if let Some(timer) = &state.timer {
                            timer.message_arrived();
                        }
                    }
                }
            }));

        let mut router = processor::router(state.clone());
        let rpc_metrics = state
            .config
            .prometheus_enabled()
            .then(remoting::metrics::RpcMetrics::default);
        if let Some(rpc) = &rpc_metrics {
            router.record_rpc(rpc.clone());
        }
        let router = Arc::new(router);
        let server = remoting::serve_listener(
            listener,
            ServerConfig::new(local_listen_addr(port)).with_settings(state.config.server.clone()),
            router.clone(),
        )?;
        let vip_server = match vip_listener {
            Some(l) => {
                let vip_port = l.local_addr()?.port();
                Some(remoting::serve_listener(
                    l,
                    ServerConfig::new(local_listen_addr(vip_port)).with_settings(state.config.server.clone()),
                    router,
                )?)
            }
            None => None,
        };
        let metrics_addr = match &rpc_metrics {
            Some(rpc) => {
                let registry = Arc::new(metrics::registry(&state, rpc));
                Some(remoting::metrics::serve(state.config.metrics_addr(), registry, server.shutdown_token()).await?)
            }
            None => None,
        };

        let mut tasks = Vec::new();
        let dashboard_addr = match console::start(&state, metrics_addr, server.shutdown_token()).await? {
            Some((addr, sampler)) => {
                tasks.push(sampler);
                Some(addr)
            }
            None => None,
        };

        registration::register_all(&state).await;
        tasks.push(tokio::spawn(registration::run(state.clone())));
        tasks.push(tokio::spawn(housekeeping(state.clone())));
        if let Some(l) = ha_listener {
            tasks.push(tokio::spawn(store::ha::master::serve(state.store.replication(), l)));
        }
        if state.ha.is_slave() {
            // A slave delivers nothing itself: its master's schedule and checks do.
            tasks.push(tokio::spawn(store::ha::slave::run(
                state.store.replication(),
                state.ha.master_ha.clone(),
            )));
            tasks.push(tokio::spawn(ha::sync_from_master(state.clone())));
        } else {
            tasks.push(tokio::spawn(schedule::run(state.clone())));
            timer::TimerService::start(&state);
            tasks.push(tokio::spawn(transaction::run(state.clone())));
            tasks.push(tokio::spawn(pop::revive::run(state.clone())));
        }
        tasks.push(tokio::spawn(stats::run(state.clone())));
        if state.acl.is_some() {
            tasks.push(tokio::spawn(watch_acl_files(state.clone())));
        }
        Ok(Broker {
            server,
            vip_server,
            state,
            tasks,
            metrics_addr,
            dashboard_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Where the Prometheus endpoint listens, when `metricsExporterType=PROM`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Where the web console listens, when `dashboardPort` is set.
    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard_addr
    }

    /// The start-up summary: cluster, name, role, addresses, store path, name servers, and
    /// the metrics and console URLs (`off` when not served).
    pub fn summary(&self) -> String {
        let c = &self.state.config;
        let url =
            |a: Option<SocketAddr>, path: &str| a.map_or_else(|| "off".to_string(), |a| format!("http://{a}{path}"));
        format!(
            "broker {}/{} id {} role {} at {} (listening on {}, HA port {}), store {}, name servers {}, metrics {}, console {}",
            c.broker_cluster_name,
            c.broker_name,
            c.broker_id,
            self.state.ha.role.as_str(),
            c.broker_addr(),
            self.local_addr(),
            c.ha_listen_port,
            self.state.store.config().store_path_root_dir.display(),
            c.namesrv_addr.as_deref().unwrap_or("none"),
            url(self.metrics_addr, "/metrics"),
            url(self.dashboard_addr, "/"),
        )
    }

    pub fn state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    /// Unregisters from the name servers, stops serving, persists offsets and closes the store.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        registration::unregister_all(&self.state).await;
        self.server.shutdown().await;
        if let Some(vip) = self.vip_server {
            vip.shutdown().await;
        }
        self.state.offsets.persist();
        self.state.delay_offsets.persist();
        self.state.pop.order_info.persist_if_changed();
        if let Some(timer) = &self.state.timer {
            timer.shutdown();
        }
        self.state.store.shutdown();
        info!("broker stopped");
    }
}

/// Java's broker always opens its fast remoting port at `listenPort - 2`. A port that
/// cannot be bound is logged and skipped: the main port serves the same requests.
fn bind_vip(listen_port: u16, backlog: u32) -> Option<tokio::net::TcpListener> {
    let port = listen_port.checked_sub(2).filter(|p| *p > 0)?;
    match remoting::server::bind(local_listen_addr(port), backlog) {
        Ok(l) => Some(l),
        Err(e) => {
            warn!(port, "cannot listen on the VIP port (listenPort - 2): {e}");
            None
        }
    }
}

fn local_listen_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], port))
}

fn default_store_root() -> std::path::PathBuf {
    std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| ".".into())
        .join("store")
}

/// Periodic chores: persist consumer offsets, expire silent clients.
/// Re-reads the ACL files when they change (Java's AclFileWatchService).
async fn watch_acl_files(state: Arc<BrokerState>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Some(acl) = &state.acl {
            acl.reload_if_changed();
        }
    }
}

async fn housekeeping(state: Arc<BrokerState>) {
    let interval = Duration::from_millis(state.config.flush_consumer_offset_interval.max(100));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        state.offsets.persist();
        state.delay_offsets.persist();
        state
            .clients
            .expire_silent(Duration::from_millis(state.config.channel_expired_timeout));
    }
}
