//! The crash harness, short: the broker is killed with SIGKILL three times in each of the
//! sync, async, batch and transaction modes while producers send, and every acknowledged
//! message must be readable afterwards at the queue offset its acknowledgement named (a
//! committed transactional message: in its queue; a rolled-back one: nowhere)
//! (docs/crash-harness.md; scripts/crash-harness.sh runs the long version).

use std::time::Instant;

use compat_tests::process::binary;
use serde_json::Value;

fn run(mode: &str) -> Value {
    let started = Instant::now();
    let out = std::process::Command::new(binary("crash-harness"))
        .args(["--mode", mode, "--kills", "3", "--view-sample", "200"])
        .output()
        .expect("running crash-harness");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{mode}: no JSON summary (status {}):\n{stdout}\n{stderr}", out.status));
    assert!(
        out.status.success(),
        "{mode}: crash-harness failed (status {}): {summary}\n{stderr}",
        out.status
    );
    eprintln!("{mode}: {summary} ({:.1} s)", started.elapsed().as_secs_f64());
    summary
}

#[test]
fn no_acknowledged_message_is_lost_when_the_broker_is_killed() {
    for mode in ["sync", "async", "batch", "transaction"] {
        let s = run(mode);
        assert_eq!(s["mode"], mode, "{s}");
        assert_eq!(s["kills"], 3, "{s}");
        assert!(
            s["acked"].as_u64().unwrap() > 0,
            "{mode}: nothing was acknowledged: {s}"
        );
        assert!(
            s["acked_delayed"].as_u64().unwrap() > 0,
            "{mode}: no delayed message was acknowledged: {s}"
        );
        assert_eq!(s["missing"], 0, "{mode}: acknowledged messages lost: {s}");
        assert_eq!(
            s["shared_offsets"], 0,
            "{mode}: a queue offset given to two messages: {s}"
        );
        assert_eq!(s["misplaced"], 0, "{mode}: {s}");
        assert_eq!(s["offset_mismatch"], 0, "{mode}: {s}");
        assert_eq!(s["view_mismatch"], 0, "{mode}: {s}");
        if mode == "transaction" {
            assert!(
                s["acked_tx_commit"].as_u64().unwrap() > 0 && s["acked_tx_rollback"].as_u64().unwrap() > 0,
                "transaction: no half message committed or none rolled back: {s}"
            );
            assert!(
                s["tx_checks"].as_u64().unwrap() > 0,
                "transaction: the broker never checked a transaction back: {s}"
            );
            assert_eq!(s["missing_tx"], 0, "transaction: committed messages lost: {s}");
            assert_eq!(
                s["rolled_back_visible"], 0,
                "transaction: a rolled-back message was delivered: {s}"
            );
        }
    }
}
