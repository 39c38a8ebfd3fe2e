//! Runs the stock-client driver scripts in `compat-tests/clients/` and collects their JSON
//! lines.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// What one run of a driver printed.
#[derive(Debug)]
pub struct ClientRun {
    pub success: bool,
    pub lines: Vec<Value>,
    pub stderr: String,
}

impl ClientRun {
    /// Lines with an "error" member.
    pub fn errors(&self) -> Vec<&Value> {
        self.lines.iter().filter(|l| l.get("error").is_some()).collect()
    }

    /// Lines without one.
    pub fn records(&self) -> Vec<&Value> {
        self.lines.iter().filter(|l| l.get("error").is_none()).collect()
    }
}

/// The stock client a driver script runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockClient {
    /// PyPI `rocketmq` 0.4.4 (Apache's C++ client).
    Cpp,
    /// npm `ali-ons`.
    AliOns,
    /// crates.io `rocketmq-client-rust` 1.0 (the driver is its own Cargo project).
    Rust,
}

impl StockClient {
    fn command(self) -> Command {
        match self {
            StockClient::Cpp => {
                let python = std::env::var("RMQ_PYTHON").unwrap_or_else(|_| "python3".into());
                let mut cmd = Command::new(python);
                cmd.arg(clients_dir().join("python/rmq_client.py"));
                cmd
            }
            StockClient::Rust => {
                let driver = clients_dir().join("rust/target/debug/rmq_client");
                assert!(
                    driver.exists(),
                    "the rocketmq-client-rust driver is not built: cargo build --locked in {}",
                    clients_dir().join("rust").display()
                );
                Command::new(driver)
            }
            StockClient::AliOns => {
                let node_dir = clients_dir().join("node");
                assert!(
                    node_dir.join("node_modules/ali-ons").is_dir(),
                    "ali-ons is not installed: run `npm ci` in {}",
                    node_dir.display()
                );
                let mut cmd = Command::new("node");
                cmd.arg(node_dir.join("rmq_client.js"));
                cmd
            }
        }
    }

    /// Runs the driver with `args` (a subcommand and its options) and a time limit.
    pub async fn run(self, args: &[&str], limit: Duration) -> ClientRun {
        let mut cmd = self.command();
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {self:?} client driver: {e}"));
        let output = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{self:?} client driver ran past {limit:?}: {args:?}"))
            .expect("waiting for the client driver");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines = stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l.trim()).ok())
            .collect();
        ClientRun {
            success: output.status.success(),
            lines,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}
