//! `namesrv`: the name server binary, with the flags of Java's `mqnamesrv`.

use anyhow::Context;
use clap::Parser;
use namesrv::{NameServer, NamesrvConfig};
use remoting::properties;

#[derive(Parser, Debug)]
#[command(name = "namesrv", version, about = "RocketMQ-compatible name server")]
struct Args {
    /// Name server config properties file
    #[arg(short = 'c', long = "configFile")]
    config_file: Option<String>,

    /// Print all config items and exit
    #[arg(short = 'p', long = "printConfigItem")]
    print_config: bool,

    /// Accepted for compatibility with mqnamesrv; a name server does not use it
    #[arg(short = 'n', long = "namesrvAddr")]
    namesrv_addr: Option<String>,

    /// Set a config key, as if it were in the config file (repeatable): -D listenPort=9876
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
    let mut config = NamesrvConfig::default();
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
    if args.print_config {
        print!("{}", config.to_properties());
        return Ok(());
    }

    let server = NameServer::start(config).await.context("starting the name server")?;
    println!(
        "The Name Server boot success. serializeType=JSON, listening on {}",
        server.local_addr()
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
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
