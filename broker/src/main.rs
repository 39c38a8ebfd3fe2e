//! `broker`: the broker binary, with the flags of Java's `mqbroker`.

use anyhow::Context;
use broker::{Broker, BrokerConfig};
use clap::Parser;
use remoting::properties;

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
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {path}"))?;
        for (key, value) in properties::parse(&text) {
            config.set(&key, &value)?;
        }
        println!("load config properties file OK, {path}");
    }
    for define in &args.defines {
        let (key, value) = define
            .split_once('=')
            .with_context(|| format!("-D expects KEY=VALUE, got {define:?}"))?;
        config.set(key.trim(), value.trim())?;
    }
    if let Some(addr) = &args.namesrv_addr {
        config.set("namesrvAddr", addr)?;
    }
    if args.print_config {
        print!("{}", properties::to_string(config.to_pairs()));
        return Ok(());
    }
    run(config).await
}

async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    let broker = Broker::start(config).await.context("starting the broker")?;
    let c = &broker.state().config;
    println!(
        "The broker[{}, {}] boot success. serializeType=JSON and name server is {}, listening on {}",
        c.broker_name,
        c.broker_addr(),
        c.namesrv_addr.clone().unwrap_or_default(),
        broker.local_addr()
    );
    shutdown_signal().await;
    broker.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
