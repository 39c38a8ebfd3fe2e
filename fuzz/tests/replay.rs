//! Replays every committed seed and regression input through its target's function, so a
//! plain `cargo test` (stable, no cargo-fuzz, no libFuzzer run) catches a regression.

use std::path::Path;

#[test]
fn seeds_and_regressions_do_not_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    for (name, target) in rocketmq_fuzz::TARGETS {
        let before = replayed;
        for dir in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if !path.is_file() || path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                    continue;
                }
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{name}: {} panics", path.display());
                replayed += 1;
            }
        }
        assert!(replayed > before, "{name}: no seeds under {}", root.join("seeds").join(name).display());
    }
    assert!(replayed > 0, "no seeds found under {}", root.display());
}
