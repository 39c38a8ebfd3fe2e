//! What the server binaries share at start-up: logging, settings from a properties file
//! and `-D key=value` flags, and waiting for a shutdown signal.

/// Logs to stderr through `tracing`, at INFO unless `RUST_LOG` says otherwise; colours only
/// when stderr is a terminal (not in log files).
pub fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
}

/// The (key, value) settings of `config_file` (Java properties), followed by those of the
/// `-D KEY=VALUE` flags, so that flags win.
pub fn collect_settings(config_file: Option<&str>, defines: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut settings = Vec::new();
    if let Some(path) = config_file {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading config file {path}: {e}"))?;
        settings.extend(crate::properties::parse(&text));
        println!("load config properties file OK, {path}");
    }
    for define in defines {
        let (key, value) = define
            .split_once('=')
            .ok_or_else(|| format!("-D expects KEY=VALUE, got {define:?}"))?;
        settings.push((key.trim().to_string(), value.trim().to_string()));
    }
    Ok(settings)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
