//! `broker`: the broker binary, with the flags of Java's `mqbroker`.

// The broker allocates and frees small buffers for every request; mimalloc does that
// for a fraction of glibc malloc's cost (measured in docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use broker::{Broker, BrokerConfig};
use clap::Parser;
use remoting::{launch, properties};

#[derive(Parser, Debug)]
#[command(name = "broker", version, about = "RocketMQ-compatible broker")]
struct Args {
    /// Broker config properties file (broker.conf)
    #[arg(short = 'c', long = "configFile")]
    config_file: Option<String>,

    /// Name server address list, e.g. '192.168.0.1:9876;192.168.0.2:9876'
    #[arg(short = 'n', long = "namesrvAddr")]
    namesrv_addr: Option<String>,

    /// Print all config items and exit
    #[arg(short = 'p', long = "printConfigItem")]
    print_config: bool,

    /// Set a config key, as if it were in the config file (repeatable): -D listenPort=10911
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    defines: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    launch::init_logging();
    remoting::server::raise_open_file_limit();
    let args = Args::parse();
    let mut config = BrokerConfig::default();
    for (key, value) in
        launch::collect_settings(args.config_file.as_deref(), &args.defines).map_err(anyhow::Error::msg)?
    {
        config.set(&key, &value)?;
    }
    if let Some(addr) = &args.namesrv_addr {
        config.set("namesrvAddr", addr)?;
    }
    if args.print_config {
        print!("{}", properties::to_string(config.to_pairs()));
        return Ok(());
    }

    config.broker_config_path = args.config_file.as_ref().map(std::path::PathBuf::from);
    let broker = Broker::start(config).await.context("starting the broker")?;
    tracing::info!("started: {}", broker.summary());
    let c = &broker.state().config;
    println!(
        "The broker[{}, {}] boot success. serializeType=JSON and name server is {}, listening on {}",
        c.broker_name,
        c.broker_addr(),
        c.namesrv_addr.clone().unwrap_or_default(),
        broker.local_addr()
    );
    launch::shutdown_signal().await;
    broker.shutdown().await;
    Ok(())
}
