//! Store benchmark: puts/s and MB/s for 128 B and 1 KiB messages under
//! ASYNC_FLUSH (appends through the mapping, and staged with
//! `transientStorePoolEnable`) and SYNC_FLUSH (1 and 64 writers), next to the
//! raw sequential write speed of the same disk measured in the same run.
//!
//! Usage: store-bench [--dir DIR] [--async-mib N] [--sync-secs S] [--async-threads T]
//!                    [--sizes 128,1024] [--only-async] [--repeat N]
//! Each ASYNC case runs N times (default 3), each right after its own raw
//! measurement; the table shows the run with the median ratio.
//! Prints a Markdown table.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{FlushDiskType, MessageStore, MessageToStore, StoreConfig};

struct Args {
    dir: PathBuf,
    async_mib: u64,
    sync_secs: u64,
    async_threads: usize,
    only_async: bool,
    sizes: Vec<usize>,
    repeat: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        dir: std::env::temp_dir().join(format!("store-bench-{}", std::process::id())),
        async_mib: 1024,
        sync_secs: 5,
        async_threads: 1,
        only_async: false,
        sizes: vec![128, 1024],
        repeat: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| anyhow::anyhow!("{k} needs a value"));
        match k.as_str() {
            "--dir" => a.dir = PathBuf::from(v()?),
            "--async-mib" => a.async_mib = v()?.parse()?,
            "--sync-secs" => a.sync_secs = v()?.parse()?,
            "--async-threads" => a.async_threads = v()?.parse()?,
            "--only-async" => a.only_async = true,
            "--repeat" => a.repeat = v()?.parse::<usize>()?.max(1),
            "--sizes" => a.sizes = v()?.split(',').map(|x| x.parse()).collect::<Result<_, _>>()?,
            _ => anyhow::bail!("unknown argument {k}"),
        }
    }
    Ok(a)
}

const MIB: f64 = 1024.0 * 1024.0;

/// Sequential write() in 1 MiB chunks, then fsync: the disk's raw rate.
fn raw_sequential(dir: &Path, bytes: u64) -> anyhow::Result<f64> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("raw-seq");
    let chunk = vec![0x5Au8; 1 << 20];
    let start = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    let secs = start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(bytes as f64 / MIB / secs)
}

fn config(dir: &Path, flush: FlushDiskType) -> StoreConfig {
    let mut c = StoreConfig::with_root(dir);
    c.flush_disk_type = flush;
    c.transient_store_pool_enable = false;
    c.max_hash_slot_num = 500_000;
    c.max_index_num = 2_000_000;
    c
}

/// Messages as a broker would hand them over (built once: decoding the
/// request is the broker's cost, not the store's): 8 queues, a KEYS and a
/// TAGS property.
fn messages(body: &[u8]) -> Vec<MessageToStore> {
    (0..64u64)
        .map(|i| {
            MessageToStore::new(
                "BenchTopic",
                (i % 8) as i32,
                body.to_vec(),
                vec![("KEYS".into(), format!("k{i}")), ("TAGS".into(), "TagA".into())],
            )
        })
        .collect()
}

struct Outcome {
    puts: u64,
    bytes: u64,
    secs: f64,
}

/// ASYNC_FLUSH: `threads` writers put until `target_bytes` of CommitLog are
/// written; the clock stops after the final flush (everything durable).
fn run_async(dir: &Path, body_len: usize, target_bytes: u64, threads: usize, staged: bool) -> anyhow::Result<Outcome> {
    let mut cfg = config(dir, FlushDiskType::AsyncFlush);
    cfg.transient_store_pool_enable = staged;
    let store = Arc::new(MessageStore::open(cfg)?);
    let body = vec![b'b'; body_len];
    let written = Arc::new(AtomicU64::new(0));
    let puts = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, body, written, puts) = (store.clone(), body.clone(), written.clone(), puts.clone());
            std::thread::Builder::new().name("bench-writer".into()).spawn(move || {
                let mut i = t as u64;
                let msgs = messages(&body);
                while written.load(Ordering::Relaxed) < target_bytes {
                    let r = store.put_message(&msgs[(i % 64) as usize]);
                    let a = r.append.expect("put failed");
                    written.fetch_add(a.wrote_bytes as u64, Ordering::Relaxed);
                    puts.fetch_add(1, Ordering::Relaxed);
                    i += threads as u64;
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("writer panicked"))?;
    }
    store.flush()?;
    let secs = start.elapsed().as_secs_f64();
    store.shutdown();
    Ok(Outcome {
        puts: puts.load(Ordering::Relaxed),
        bytes: written.load(Ordering::Relaxed),
        secs,
    })
}

/// SYNC_FLUSH: `writers` threads each put and wait for the flush, for `secs`.
fn run_sync(dir: &Path, body_len: usize, writers: usize, secs: u64) -> anyhow::Result<Outcome> {
    let store = Arc::new(MessageStore::open(config(dir, FlushDiskType::SyncFlush))?);
    let body = vec![b's'; body_len];
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let puts = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|t| {
            let (store, body, stop, written, puts) =
                (store.clone(), body.clone(), stop.clone(), written.clone(), puts.clone());
            std::thread::spawn(move || {
                let mut i = t as u64;
                let msgs = messages(&body);
                while !stop.load(Ordering::Relaxed) {
                    let r = store.put_message(&msgs[(i % 64) as usize]);
                    assert!(r.is_ok(), "put failed: {:?}", r.status);
                    written.fetch_add(r.append.map(|a| a.wrote_bytes as u64).unwrap_or(0), Ordering::Relaxed);
                    puts.fetch_add(1, Ordering::Relaxed);
                    i += writers as u64;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("writer panicked"))?;
    }
    let secs = start.elapsed().as_secs_f64();
    store.shutdown();
    Ok(Outcome {
        puts: puts.load(Ordering::Relaxed),
        bytes: written.load(Ordering::Relaxed),
        secs,
    })
}

/// SYNC_FLUSH with `writers` concurrent tokio tasks (what a broker's
/// request handlers look like) using `put_message_async`, for `secs`.
fn run_sync_tasks(dir: &Path, body_len: usize, writers: usize, secs: u64) -> anyhow::Result<Outcome> {
    let store = Arc::new(MessageStore::open(config(dir, FlushDiskType::SyncFlush))?);
    let body = vec![b't'; body_len];
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let puts = Arc::new(AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let start = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|t| {
                let (store, stop, written, puts) = (store.clone(), stop.clone(), written.clone(), puts.clone());
                let msgs = messages(&body);
                tokio::spawn(async move {
                    let mut i = t as u64;
                    while !stop.load(Ordering::Relaxed) {
                        let r = store.put_message_async(&msgs[(i % 64) as usize]).await;
                        assert!(r.is_ok(), "put failed: {:?}", r.status);
                        written.fetch_add(r.append.map(|a| a.wrote_bytes as u64).unwrap_or(0), Ordering::Relaxed);
                        puts.fetch_add(1, Ordering::Relaxed);
                        i += writers as u64;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
    });
    let secs = start.elapsed().as_secs_f64();
    store.shutdown();
    Ok(Outcome {
        puts: puts.load(Ordering::Relaxed),
        bytes: written.load(Ordering::Relaxed),
        secs,
    })
}

/// One ASYNC_FLUSH case, `args.repeat` times, each run paired with a raw measurement
/// taken just before it: on a VM the cost of fresh page-cache pages drifts during a run.
/// Prints the run with the median ratio, and the same run against the fastest raw run
/// of the session so far (`fastest_raw`, updated).
fn async_case(args: &Args, fastest_raw: &mut f64, body_len: usize, staged: bool) -> anyhow::Result<()> {
    let target = args.async_mib << 20;
    let mode = if staged {
        "staged (transientStorePoolEnable=true)"
    } else {
        "through the mapping"
    };
    let mut runs = Vec::new();
    for _ in 0..args.repeat {
        let raw_here = raw_sequential(&args.dir, target)?;
        let d = args.dir.join(format!("async-{body_len}"));
        let o = run_async(&d, body_len, target, args.async_threads, staged)?;
        let _ = std::fs::remove_dir_all(&d);
        let mbs = o.bytes as f64 / MIB / o.secs;
        eprintln!(
            "  ASYNC {body_len} B {mode} run: raw {raw_here:.1} MB/s, store {mbs:.1} MB/s ({:.0}%)",
            mbs / raw_here * 100.0
        );
        runs.push((mbs / raw_here, raw_here, mbs, o.puts as f64 / o.secs));
    }
    // The raw rate itself moves by up to 4x between minutes on a shared VM (fresh
    // page-cache pages and the disk both vary), so also compare with the fastest raw
    // run seen: the conservative figure.
    *fastest_raw = runs.iter().map(|r| r.1).fold(*fastest_raw, f64::max);
    let fastest_raw = *fastest_raw;
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (ratio, raw_here, mbs, rate) = runs[runs.len() / 2];
    println!("| raw sequential write + fsync, paired run | - | {raw_here:.1} | 100% |");
    println!(
        "| ASYNC_FLUSH {body_len} B {mode}, {} writers (median of {}) | {rate:.0} | {mbs:.1} | {:.0}% |",
        args.async_threads,
        runs.len(),
        ratio * 100.0
    );
    println!(
        "| ASYNC_FLUSH {body_len} B {mode}, same run against the fastest raw run ({fastest_raw:.1} MB/s) | {rate:.0} | {mbs:.1} | {:.0}% |",
        mbs / fastest_raw * 100.0
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    std::fs::create_dir_all(&args.dir)?;
    let target = args.async_mib << 20;
    println!(
        "store-bench: dir {}, ASYNC volume {} MiB per size, SYNC {} s per run",
        args.dir.display(),
        args.async_mib,
        args.sync_secs
    );
    let raw = raw_sequential(&args.dir, target)?;
    println!();
    println!("| case | puts/s | MB/s (CommitLog bytes) | vs raw sequential |");
    println!("|---|---:|---:|---:|");
    println!(
        "| raw sequential write + fsync ({} MiB) | - | {:.1} | 100% |",
        args.async_mib, raw
    );
    let mut sync_rates = Vec::new();
    let mut fastest_raw = raw;
    for &body_len in &args.sizes {
        for staged in [false, true] {
            async_case(&args, &mut fastest_raw, body_len, staged)?;
        }
        for writers in if args.only_async { vec![] } else { vec![1usize, 64] } {
            let d = args.dir.join(format!("sync-{body_len}-{writers}"));
            let o = run_sync(&d, body_len, writers, args.sync_secs)?;
            let _ = std::fs::remove_dir_all(&d);
            let rate = o.puts as f64 / o.secs;
            sync_rates.push((body_len, writers, rate));
            let mbs = o.bytes as f64 / MIB / o.secs;
            println!(
                "| SYNC_FLUSH {body_len} B, {writers} writer threads | {:.0} | {:.1} | {:.0}% |",
                rate,
                mbs,
                mbs / raw * 100.0
            );
        }
        if !args.only_async {
            let d = args.dir.join(format!("sync-tasks-{body_len}"));
            let o = run_sync_tasks(&d, body_len, 64, args.sync_secs)?;
            let _ = std::fs::remove_dir_all(&d);
            let rate = o.puts as f64 / o.secs;
            sync_rates.push((body_len, 6464, rate));
            let mbs = o.bytes as f64 / MIB / o.secs;
            println!(
                "| SYNC_FLUSH {body_len} B, 64 async tasks on 2 runtime threads | {:.0} | {:.1} | {:.0}% |",
                rate,
                mbs,
                mbs / raw * 100.0
            );
        }
    }
    println!();
    for &body_len in &args.sizes {
        let one = sync_rates
            .iter()
            .find(|r| r.0 == body_len && r.1 == 1)
            .map(|r| r.2)
            .unwrap_or(1.0);
        let many = sync_rates
            .iter()
            .find(|r| r.0 == body_len && r.1 == 64)
            .map(|r| r.2)
            .unwrap_or(0.0);
        let tasks = sync_rates
            .iter()
            .find(|r| r.0 == body_len && r.1 == 6464)
            .map(|r| r.2)
            .unwrap_or(0.0);
        println!(
            "SYNC_FLUSH {body_len} B: 64 writer threads / 1 writer = {:.1}x; 64 async tasks / 1 writer = {:.1}x",
            many / one.max(1e-9),
            tasks / one.max(1e-9)
        );
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    Ok(())
}
