//! Writes messages into a store until killed, printing one line per
//! acknowledged put: `ACK <i> <topic> <queueId> <queueOffset> <offsetMsgId>`.
//! The crash tests kill it with SIGKILL and then check the directory.
//!
//! Usage: store-crash-writer <root> <sync|async|staged> <threads> <max_messages>
//! (`staged`: ASYNC_FLUSH with `transientStorePoolEnable`)

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use store::{FlushDiskType, MessageStore, MessageToStore, StoreConfig};

/// The config the crash tests use (small files so rolling happens).
pub fn crash_config(root: &str, mode: &str) -> StoreConfig {
    let sync = mode == "sync";
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 256 * 1024;
    c.mapped_file_size_consume_queue = 100 * 20;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    c.flush_disk_type = if sync {
        FlushDiskType::SyncFlush
    } else {
        FlushDiskType::AsyncFlush
    };
    c.transient_store_pool_enable = mode == "staged";
    c
}

/// `rss` mode: open the store, report queues and resident memory, exit.
fn report_rss(args: &[String]) -> anyhow::Result<()> {
    let mut c = StoreConfig::with_root(&args[1]);
    c.mapped_file_size_commit_log = args[3].parse()?;
    c.mapped_file_size_consume_queue = args[4].parse()?;
    c.max_hash_slot_num = args[5].parse()?;
    c.max_index_num = args[6].parse()?;
    let store = MessageStore::open(c)?;
    let queues: usize = store.topics().iter().map(|t| store.queue_ids(t).len()).sum();
    let status = std::fs::read_to_string("/proc/self/status")?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("0")
        .to_string();
    println!("QUEUES {queues} RSS_KB {rss}");
    store.shutdown();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 7 && args[2] == "rss" {
        return report_rss(&args);
    }
    if args.len() < 5 {
        anyhow::bail!("usage: store-crash-writer <root> <sync|async|staged> <threads> <max_messages>");
    }
    let store = Arc::new(MessageStore::open(crash_config(&args[1], &args[2]))?);
    let threads: usize = args[3].parse()?;
    let max: u64 = args[4].parse()?;
    let next = Arc::new(AtomicU64::new(0));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (store, next, out) = (store.clone(), next.clone(), out.clone());
        handles.push(std::thread::spawn(move || loop {
            let i = next.fetch_add(1, Ordering::SeqCst);
            if i >= max {
                break;
            }
            let topic = if i % 2 == 0 { "CrashA" } else { "CrashB" };
            let qid = (i / 2 % 4) as i32;
            let body = format!("crash-{i}-{}", "x".repeat((i % 13) as usize * 40));
            let props = vec![
                ("KEYS".to_string(), format!("key-{i}")),
                ("TAGS".to_string(), format!("T{}", i % 3)),
                ("UNIQ_KEY".to_string(), format!("UNIQ{i:08}")),
            ];
            let r = store.put_message(&MessageToStore::new(topic, qid, body.into_bytes(), props));
            if !r.is_ok() {
                eprintln!("put {i} failed: {:?}", r.status);
                continue;
            }
            let a = r.append.expect("append result");
            let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(o, "ACK {i} {topic} {qid} {} {}", a.logics_offset, a.msg_id());
            let _ = o.flush();
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    store.shutdown();
    println!("DONE");
    Ok(())
}
