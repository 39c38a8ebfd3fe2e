//! The README's first set-up command, `scripts/standalone.sh`, run as written (with free
//! ports and a temporary data directory), serves the stock C++ client.

use std::path::PathBuf;
use std::time::Duration;

use compat_tests::clients::StockClient;
use compat_tests::process::{free_port, spawn_and_wait_for_address};
use tokio::process::Command;

#[tokio::test]
async fn readme_standalone_command_serves_the_cpp_client() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = tempfile::tempdir().unwrap();
    let (namesrv_port, broker_port) = (free_port(), free_port());
    let mut cmd = Command::new("bash");
    cmd.arg(repo.join("scripts/standalone.sh"))
        .arg("--namesrv-port")
        .arg(namesrv_port.to_string())
        .arg("--broker-port")
        .arg(broker_port.to_string())
        .env("DATA_DIR", data.path());
    // The script builds the release binaries first, which takes a while on a cold cache.
    let (mut child, _) =
        spawn_and_wait_for_address(cmd, "Standalone RocketMQ boot success", Duration::from_secs(1500)).await;
    let ns = format!("127.0.0.1:{namesrv_port}");

    let limit = Duration::from_secs(120);
    let sent = StockClient::Cpp
        .run(
            &[
                "send",
                "--namesrv",
                &ns,
                "--topic",
                "ReadmeTopic",
                "--group",
                "readme_pg",
                "--count",
                "10",
                "--key-prefix",
                "r",
            ],
            limit,
        )
        .await;
    assert!(sent.success, "{:?}\n{}", sent.errors(), sent.stderr);
    let got = StockClient::Cpp
        .run(
            &[
                "push-consume",
                "--namesrv",
                &ns,
                "--topic",
                "ReadmeTopic",
                "--group",
                "readme_cg",
                "--expect",
                "10",
                "--timeout",
                "60",
            ],
            limit,
        )
        .await;
    let keys: std::collections::BTreeSet<String> = got
        .records()
        .iter()
        .filter_map(|r| r["keys"].as_str().map(String::from))
        .collect();
    assert_eq!(keys.len(), 10, "{:?}", got.errors());
    assert!(
        data.path().join("store/commitlog").is_dir(),
        "data lands under DATA_DIR"
    );
    let _ = child.start_kill();
}
