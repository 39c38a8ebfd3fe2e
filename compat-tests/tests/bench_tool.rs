//! `rmq-bench` works against a running server: produce (single and batched), consume and
//! end to end report what they did in their JSON summaries.

use compat_tests::process::{binary, StandaloneProcess};
use serde_json::Value;

fn summary(args: &[&str]) -> Value {
    let out = std::process::Command::new(binary("rmq-bench"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().expect("a summary line")).unwrap()
}

#[tokio::test]
async fn produce_consume_and_e2e_summaries() {
    let data = tempfile::tempdir().unwrap();
    let server = StandaloneProcess::start(data.path(), &[]).await;
    let ns = server.namesrv_addr.as_str();
    let single = summary(&[
        "produce",
        "--namesrv",
        ns,
        "--topic",
        "BenchT",
        "--queues",
        "4",
        "--count",
        "400",
        "--producers",
        "4",
        "--duration",
        "60",
    ]);
    assert_eq!(single["messages"], 400);
    assert!(single["errors"].as_object().unwrap().is_empty(), "{single}");
    let batched = summary(&[
        "produce",
        "--namesrv",
        ns,
        "--topic",
        "BenchT",
        "--count",
        "640",
        "--batch",
        "32",
        "--window",
        "2",
        "--duration",
        "60",
    ]);
    assert_eq!(batched["messages"], 640);
    let consumed = summary(&["consume", "--namesrv", ns, "--topic", "BenchT", "--duration", "30"]);
    assert_eq!(
        consumed["messages"], 1040,
        "every message produced is read back: {consumed}"
    );
    let e2e = summary(&[
        "e2e",
        "--namesrv",
        ns,
        "--topic",
        "BenchE",
        "--rate",
        "500",
        "--duration",
        "2",
        // Measure from the first message, so every message sent is also counted.
        "--warmup",
        "0",
    ]);
    assert_eq!(
        e2e["messages"], e2e["params"]["sent"],
        "every message sent arrived: {e2e}"
    );
    assert!(e2e["p99_ms"].as_f64().unwrap() >= 0.0);
}
