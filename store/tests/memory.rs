//! Opening a store with 1,000 queues and several CommitLog files stays
//! under 100 MiB resident. Measured in a separate process (the writer
//! binary's `rss` mode) so this test's own allocations don't count.

use std::process::Command;

use store::{MessageStore, MessageToStore, StoreConfig};

#[test]
fn open_with_1000_queues_stays_small() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::with_root(tmp.path());
    cfg.mapped_file_size_commit_log = 1024 * 1024;
    // Default ConsumeQueue file size (300,000 units, sparse files).
    cfg.max_hash_slot_num = 10_000;
    cfg.max_index_num = 40_000;
    let t0 = std::time::Instant::now();
    {
        let store = MessageStore::open(cfg.clone()).unwrap();
        for i in 0..6000 {
            let topic = format!("MemTopic{}", i % 250);
            let r = store.put_message(&MessageToStore::new(
                &topic,
                i / 250 % 4,
                vec![b'm'; 900],
                vec![("KEYS".into(), format!("k{i}"))],
            ));
            assert!(r.is_ok());
        }
        eprintln!("puts done {:?}", t0.elapsed());
        store.wait_for_dispatch(std::time::Duration::from_secs(60));
        eprintln!("dispatch done {:?}", t0.elapsed());
        store.shutdown();
    }
    eprintln!("write phase {:?}", t0.elapsed());
    let cl_files = std::fs::read_dir(tmp.path().join("commitlog")).unwrap().count();
    assert!(cl_files >= 5, "{cl_files} CommitLog files");
    let out = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
        .args([
            tmp.path().to_str().unwrap(),
            "rss",
            "1048576",
            "6000000",
            "10000",
            "40000",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    let queues: usize = text
        .split_whitespace()
        .skip_while(|w| *w != "QUEUES")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let rss_kb: u64 = text
        .split_whitespace()
        .skip_while(|w| *w != "RSS_KB")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(queues, 1000);
    assert!(rss_kb < 100 * 1024, "resident {rss_kb} KiB");
    eprintln!("open with {queues} queues and {cl_files} CommitLog files: {rss_kb} KiB resident");
}
