//! `standalone`: a name server and a broker in one process, with defaults that work out of
//! the box: data under ./data, name server on 127.0.0.1:9876, broker on :10911, topics and
//! groups created on first use.

// The broker allocates and frees small buffers for every request; mimalloc does that
// for a fraction of glibc malloc's cost (measured in docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use broker::{Broker, BrokerConfig};
use clap::Parser;
use namesrv::{NameServer, NamesrvConfig};
use remoting::launch;

#[derive(Parser, Debug)]
#[command(name = "standalone", version, about = "Name server and broker in one process")]
struct Args {
    /// Directory for the store and the name server's files
    #[arg(long, default_value = "./data")]
    data: std::path::PathBuf,

    /// Name server port
    #[arg(long, default_value_t = 9876)]
    namesrv_port: u16,

    /// Broker port
    #[arg(long, default_value_t = 10911)]
    broker_port: u16,

    /// Address clients should use to reach the broker
    #[arg(long, default_value = "127.0.0.1")]
    broker_ip: String,

    /// Serve Prometheus metrics on this port (metricsExporterType=PROM)
    #[arg(long)]
    metrics_port: Option<u16>,

    /// Serve the web console on this port (dashboardPort; bound to dashboardHost, default
    /// 127.0.0.1)
    #[arg(long)]
    dashboard_port: Option<u16>,

    /// Serve the name server's Prometheus metrics on this port
    #[arg(long)]
    namesrv_metrics_port: Option<u16>,

    /// Extra broker.conf file
    #[arg(short = 'c', long = "configFile")]
    config_file: Option<String>,

    /// Set a broker config key (repeatable): -D flushDiskType=SYNC_FLUSH
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    defines: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    launch::init_logging();
    remoting::server::raise_open_file_limit();
    let args = Args::parse();
    std::fs::create_dir_all(&args.data).with_context(|| format!("creating {}", args.data.display()))?;
    let data = args.data.canonicalize()?;

    let mut ns_config = NamesrvConfig::default();
    let kv = data.join("namesrv/kvConfig.json").display().to_string();
    let props = data.join("namesrv/namesrv.properties").display().to_string();
    let port = args.namesrv_port.to_string();
    ns_config.apply([
        ("listenPort", port.as_str()),
        ("kvConfigPath", kv.as_str()),
        ("configStorePath", props.as_str()),
    ])?;
    if let Some(port) = args.namesrv_metrics_port {
        let port = port.to_string();
        ns_config.apply([
            ("metricsExporterType", "PROM"),
            ("metricsPromExporterPort", port.as_str()),
        ])?;
    }
    let namesrv = NameServer::start(ns_config).await.context("starting the name server")?;
    let namesrv_addr = format!("127.0.0.1:{}", namesrv.local_addr().port());

    let mut config = BrokerConfig::default();
    let store = data.join("store").display().to_string();
    for (key, value) in [
        ("brokerName", "broker-a".to_string()),
        ("brokerIP1", args.broker_ip.clone()),
        ("listenPort", args.broker_port.to_string()),
        ("namesrvAddr", namesrv_addr.clone()),
        ("storePathRootDir", store),
        ("autoCreateTopicEnable", "true".into()),
        ("autoCreateSubscriptionGroup", "true".into()),
    ] {
        config.set(key, &value)?;
    }
    if let Some(port) = args.metrics_port {
        config.set("metricsExporterType", "PROM")?;
        config.set("metricsPromExporterPort", &port.to_string())?;
    }
    if let Some(port) = args.dashboard_port {
        config.set("dashboardPort", &port.to_string())?;
    }
    for (key, value) in
        launch::collect_settings(args.config_file.as_deref(), &args.defines).map_err(anyhow::Error::msg)?
    {
        config.set(&key, &value)?;
    }
    config.broker_config_path = args.config_file.as_ref().map(std::path::PathBuf::from);
    let broker = Broker::start(config).await.context("starting the broker")?;
    tracing::info!(
        "standalone started: name server {namesrv_addr} (metrics {}), data {}, {}",
        namesrv
            .metrics_addr()
            .map_or_else(|| "off".to_string(), |a| format!("http://{a}/metrics")),
        data.display(),
        broker.summary()
    );
    println!(
        "Standalone RocketMQ boot success: name server {namesrv_addr}, broker {}, data {}, listening on {}",
        broker.state().config.broker_addr(),
        data.display(),
        namesrv.local_addr()
    );

    launch::shutdown_signal().await;
    broker.shutdown().await;
    namesrv.shutdown().await;
    Ok(())
}
