//! The web console in a real browser: headless Chromium (Debian's `chromium`, which
//! scripts/test.sh installs) loads each page of `standalone --dashboard-port` after a known
//! run, and the DOM it rendered, after the page's script fetched `/api/series` and redrew
//! the plots, must show the topic, the group, its lags and drawn lines. A screenshot of each
//! page lands in `<target>/tmp/console-screenshots/`. Prints SKIPPED when no Chromium is
//! installed (set CHROMIUM to pick a binary).

use std::path::{Path, PathBuf};
use std::time::Duration;

use compat_tests::console::{self, GROUP, LAG, TOPIC};
use compat_tests::process::{free_port, StandaloneProcess};
use tokio::process::Command;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM").map(PathBuf::from).filter(|p| p.exists()) {
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or `--screenshot=FILE`);
/// returns its stdout.
async fn run_chromium(binary: &Path, profile: &Path, mode: &str, url: &str) -> String {
    run_chromium_sized(binary, profile, mode, url, "1280,1100").await
}

async fn run_chromium_sized(binary: &Path, profile: &Path, mode: &str, url: &str, size: &str) -> String {
    let mut cmd = Command::new(binary);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        // Lets the page's script fetch /api/series and redraw before the DOM is taken.
        "--virtual-time-budget=4000",
    ])
    .arg(format!("--window-size={size}"))
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(mode)
    .arg(url)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("chromium {mode} {url} timed out"))
        .expect("running chromium");
    assert!(
        out.status.success(),
        "chromium {mode} {url}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn chromium_renders_every_console_page() {
    let Some(binary) = chromium() else {
        println!("SKIPPED: no chromium binary found (scripts/test.sh installs Debian's chromium)");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = StandaloneProcess::start_with_flags(
        data.path(),
        &["--dashboard-port", &port.to_string()],
        &["dashboardSampleInterval=300"],
    )
    .await;
    let traffic = console::run(&format!("127.0.0.1:{}", server.broker_port)).await;
    let web: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    console::wait_for_plot_data(web).await;

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let lag_cell = format!(r#"<span class="lag">{LAG}</span>"#);
    let topic_line = format!(r#"<path class="series" data-key="{TOPIC}""#);
    let group_line = format!(r#"<path class="series" data-key="{GROUP}""#);
    let msg_id = traffic.offset_msg_ids[0].clone();
    let pages: Vec<(&str, String, Vec<String>)> = vec![
        (
            "cluster",
            "/".into(),
            vec![
                "broker-a".into(),
                "ASYNC_MASTER".into(),
                r#"<span class="ok">up</span>"#.into(),
            ],
        ),
        (
            "topics",
            "/topics".into(),
            vec![format!(">{TOPIC}</a>"), "<td>4 / 4</td>".into()],
        ),
        (
            "topic",
            format!("/topic?name={TOPIC}"),
            vec![format!(">{GROUP}</a></td><td>{LAG}</td>"), topic_line.clone()],
        ),
        (
            "groups",
            "/groups".into(),
            vec![format!(">{GROUP}</a>"), lag_cell.clone()],
        ),
        (
            "group",
            format!("/group?name={GROUP}"),
            vec![
                "127.0.0.1@console#1".into(),
                r#"<span class="lag">3</span>"#.into(),
                group_line.clone(),
            ],
        ),
        (
            "messages",
            format!("/messages?msgId={msg_id}"),
            vec!["&lt;script&gt;alert(".into(), "key-0".into(), "TagA".into()],
        ),
        ("plots", "/plots".into(), vec![topic_line.clone(), group_line.clone()]),
    ];
    for (name, path, wants) in &pages {
        let url = format!("{base}{path}");
        let dom = run_chromium(&binary, profile.path(), "--dump-dom", &url).await;
        for want in wants {
            assert!(
                dom.contains(want.as_str()),
                "{name}: {want} missing from the rendered DOM:\n{dom}"
            );
        }
        assert!(!dom.contains("<script>alert"), "{name}: a message body became markup");
        if dom.contains(r#"<div class="chart""#) {
            // The script fetched /api/series and redrew: the mark it leaves, and a drawn line.
            assert!(
                dom.contains("data-refreshed="),
                "{name}: the plots were not redrawn by the script"
            );
            let line = dom.split(r#"<path class="series""#).nth(1).expect("a series path");
            let d = line.split(" d=\"").nth(1).unwrap_or("").split('"').next().unwrap_or("");
            assert!(d.contains(" L"), "{name}: the redrawn line has points: {line}");
        }
        let file = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        run_chromium(
            &binary,
            profile.path(),
            &format!("--screenshot={}", file.display()),
            &url,
        )
        .await;
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{name}: screenshot {} has {size} bytes", file.display());
    }
    println!("screenshots in {}", shots.display());
    drop(traffic);
}

/// Makes the screenshots under docs/console/ (run by hand: `cargo test -p compat-tests --test
/// console_browser -- --ignored`): two and a half minutes of varying traffic on two topics,
/// one group falling behind, catching up and falling behind again, another keeping up,
/// sampled every 2 s; the traffic goes on while the pages are taken.
#[tokio::test]
#[ignore]
async fn docs_screenshots() {
    let Some(binary) = chromium() else {
        println!("SKIPPED: no chromium binary found");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = StandaloneProcess::start_with_flags(
        data.path(),
        &["--dashboard-port", &port.to_string()],
        &["dashboardSampleInterval=2000"],
    )
    .await;
    let traffic = console::run(&format!("127.0.0.1:{}", server.broker_port)).await;
    let msg_id = traffic.offset_msg_ids[0].clone();
    let conn = traffic.conn.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let load = tokio::spawn(async move {
        const ORDERS: &str = "OrdersTopic";
        console::create_topic(&conn, ORDERS, 4).await;
        // Queue message counts and committed offsets, per topic.
        let mut sent: std::collections::BTreeMap<(&str, i32), i64> = Default::default();
        let mut committed: std::collections::BTreeMap<(&str, &str, i32), i64> = Default::default();
        for q in 0..4 {
            sent.insert((TOPIC, q), [8, 8, 7, 7][q as usize]);
            sent.insert((ORDERS, q), 0);
            committed.insert((GROUP, TOPIC, q), 5);
            committed.insert(("cg_orders", ORDERS, q), 0);
        }
        let started = std::time::Instant::now();
        let mut tick = 0u64;
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            let t = started.elapsed().as_secs_f64();
            let n_console = (6.0 + 5.0 * (t / 25.0).sin()).round().max(0.0) as i64;
            let n_orders = (4.0 + 3.0 * (t / 17.0).cos()).round().max(0.0) as i64;
            for (topic, n) in [(TOPIC, n_console), (ORDERS, n_orders)] {
                for i in 0..n {
                    let q = ((tick as i64 + i) % 4) as i32;
                    let body = format!("{{\"order\":{tick},\"item\":{i}}}");
                    console::send(&conn, topic, q, &format!("{topic}-{tick}-{i}"), &body).await;
                    *sent.get_mut(&(topic, q)).unwrap() += 1;
                }
            }
            // cg_console falls behind, catches up between 70 s and 110 s, falls behind again.
            let per_queue = if (70.0..110.0).contains(&t) { 4 } else { 1 };
            for (group, topic, max) in [(GROUP, TOPIC, per_queue), ("cg_orders", ORDERS, 100)] {
                for q in 0..4 {
                    let from = committed[&(group, topic, q)];
                    let end = sent[&(topic, q)];
                    if from < end {
                        let next = console::consume(&conn, group, topic, q, from, max, end).await;
                        committed.insert((group, topic, q), next);
                    }
                }
            }
            tick += 1;
            if tick.is_multiple_of(40) {
                console::heartbeat(&conn).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    tokio::time::sleep(Duration::from_secs(150)).await;
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
    std::fs::create_dir_all(&docs).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for (name, path) in [
        ("cluster", "/".to_string()),
        ("topics", "/topics".into()),
        ("topic", format!("/topic?name={TOPIC}")),
        ("groups", "/groups".into()),
        ("group", format!("/group?name={GROUP}")),
        ("messages", format!("/messages?msgId={msg_id}")),
        ("plots", "/plots".into()),
    ] {
        let file = docs.join(format!("{name}.png"));
        let size = if name == "messages" || name == "plots" {
            "1280,1500"
        } else {
            "1280,1000"
        };
        let url = format!("{base}{path}");
        run_chromium_sized(
            &binary,
            profile.path(),
            &format!("--screenshot={}", file.display()),
            &url,
            size,
        )
        .await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.unwrap();
    println!("screenshots in {}", docs.display());
}
