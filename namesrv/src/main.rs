//! `namesrv`: the name server binary, with the flags of Java's `mqnamesrv`.

// Same allocator as the broker binaries (see broker/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::Parser;
use namesrv::{NameServer, NamesrvConfig};
use remoting::launch;

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
    launch::init_logging();
    remoting::server::raise_open_file_limit();
    let args = Args::parse();
    let mut config = NamesrvConfig::default();
    for (key, value) in
        launch::collect_settings(args.config_file.as_deref(), &args.defines).map_err(anyhow::Error::msg)?
    {
        config.set(&key, &value)?;
    }
    if args.print_config {
        print!("{}", config.to_properties());
        return Ok(());
    }

    let server = NameServer::start(config).await.context("starting the name server")?;
    tracing::info!(
        "started: name server listening on {}, metrics {}",
        server.local_addr(),
        server
            .metrics_addr()
            .map_or_else(|| "off".to_string(), |a| format!("http://{a}/metrics"))
    );
    println!(
        "The Name Server boot success. serializeType=JSON, listening on {}",
        server.local_addr()
    );
    launch::shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
