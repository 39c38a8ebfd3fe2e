//! Our server binaries started as real processes, each on a port the OS picked and with its
//! files in a temporary directory.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The directory cargo put this test's sibling binaries in (`target/<profile>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .to_path_buf()
}

/// The path of one of the workspace's binaries, which must have been built
/// (`cargo build --workspace --bins`, as scripts/test.sh does).
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins, or scripts/test.sh)",
        path.display()
    );
    path
}

/// A running `namesrv` process. Killed when dropped.
pub struct NamesrvProcess {
    child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl NamesrvProcess {
    /// Starts `namesrv` with `listenPort=0`, its KV and config files in a temp dir, plus
    /// any extra `key=value` settings; waits until it says where it listens.
    pub async fn start(extra: &[(&str, &str)]) -> NamesrvProcess {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(binary("namesrv"));
        cmd.arg("-D").arg("listenPort=0").arg("-D").arg("bindAddress=127.0.0.1");
        cmd.arg("-D")
            .arg(format!("kvConfigPath={}", dir.path().join("kvConfig.json").display()));
        cmd.arg("-D").arg(format!(
            "configStorePath={}",
            dir.path().join("namesrv.properties").display()
        ));
        for (k, v) in extra {
            cmd.arg("-D").arg(format!("{k}={v}"));
        }
        let (child, addr) =
            spawn_and_wait_for_address(cmd, "The Name Server boot success", Duration::from_secs(30)).await;
        NamesrvProcess { child, addr, dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for NamesrvProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Spawns `cmd` and reads its stdout until a line containing `ready` and
/// "listening on ADDR" appears; returns the child and ADDR.
pub async fn spawn_and_wait_for_address(mut cmd: Command, ready: &str, limit: Duration) -> (Child, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawning server binary");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(ready) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    return Some(addr.trim().to_string());
                }
            }
        }
        None
    };
    let addr = tokio::time::timeout(limit, wait)
        .await
        .unwrap_or_else(|_| panic!("server did not report its address within {limit:?}"))
        .expect("server exited before it was ready");
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// A running `broker` binary whose stderr (its log) is captured for the test to read.
/// Killed when dropped.
pub struct BrokerProcess {
    child: Child,
    pub addr: String,
    /// `storePathRootDir`.
    pub store: PathBuf,
    _dir: Option<tempfile::TempDir>,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl BrokerProcess {
    /// Starts `broker` on a port the OS picks, registered with no name server, its store
    /// in a temporary directory, with small store files (16 MiB CommitLog files) and the
    /// given extra `key=value` settings.
    pub async fn start(extra: &[(&str, &str)]) -> BrokerProcess {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let mut p = Self::start_in(&store, extra, "info").await;
        p._dir = Some(dir);
        p
    }

    /// SIGKILLs the broker and waits until it is gone, so that a broker started next on
    /// the same store finds the store's lock free (dropping only sends the signal).
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Starts `broker` with its store under `store` and `RUST_LOG=rust_log`.
    pub async fn start_in(store: &std::path::Path, extra: &[(&str, &str)], rust_log: &str) -> BrokerProcess {
        let mut cmd = Command::new(binary("broker"));
        cmd.env_remove("NAMESRV_ADDR").env("RUST_LOG", rust_log);
        let store_arg = format!("storePathRootDir={}", store.display());
        let defaults = [
            "brokerName=broker-hostile",
            "brokerIP1=127.0.0.1",
            "listenPort=0",
            store_arg.as_str(),
            "mappedFileSizeCommitLog=16777216",
            "mappedFileSizeConsumeQueue=200000",
        ];
        for kv in defaults {
            cmd.arg("-D").arg(kv);
        }
        for (k, v) in extra {
            cmd.arg("-D").arg(format!("{k}={v}"));
        }
        let (child, addr, log) = spawn_capturing_stderr(cmd, "boot success", Duration::from_secs(30)).await;
        // The broker listens on every address; connect over loopback.
        let port = addr.rsplit(':').next().unwrap_or_default();
        let addr = format!("127.0.0.1:{port}");
        BrokerProcess {
            child,
            addr,
            store: store.to_path_buf(),
            _dir: None,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the broker wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a line of the broker's stderr contains every one of `needles`; returns
    /// that line.
    pub async fn wait_for_log_line(&self, needles: &[&str], within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(line) = self.log().lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return Some(line.to_string());
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Like [`spawn_and_wait_for_address`], but with stderr captured: every line goes into the
/// returned buffer (and to this process's stderr, which the test harness shows on failure).
pub async fn spawn_capturing_stderr(
    mut cmd: Command,
    ready: &str,
    limit: Duration,
) -> (Child, String, std::sync::Arc<std::sync::Mutex<String>>) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawning server binary");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[server] {line}");
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(ready) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    return Some(addr.trim().to_string());
                }
            }
        }
        None
    };
    let addr = match tokio::time::timeout(limit, wait).await {
        Ok(Some(addr)) => addr,
        Ok(None) => panic!("server exited before it was ready:\n{}", log.lock().unwrap()),
        Err(_) => panic!(
            "server did not report its address within {limit:?}:\n{}",
            log.lock().unwrap()
        ),
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr, log)
}

/// A name server running inside the test process, on a free port, with its files in a
/// temporary directory.
pub struct InProcessNamesrv {
    pub server: namesrv::NameServer,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl InProcessNamesrv {
    pub async fn start(extra: &[(&str, &str)]) -> InProcessNamesrv {
        let dir = tempfile::tempdir().unwrap();
        let mut config = namesrv::NamesrvConfig::default();
        let kv = dir.path().join("kvConfig.json").display().to_string();
        let props = dir.path().join("namesrv.properties").display().to_string();
        config
            .apply([
                ("listenPort", "0"),
                ("bindAddress", "127.0.0.1"),
                ("kvConfigPath", kv.as_str()),
                ("configStorePath", props.as_str()),
            ])
            .unwrap();
        config.apply(extra.iter().copied()).unwrap();
        let server = namesrv::NameServer::start(config).await.unwrap();
        let addr = server.local_addr().to_string();
        InProcessNamesrv { server, addr, dir }
    }
}

/// A fresh connection of our own to `addr` (no pooling: tests often need several).
pub async fn connect(addr: &str) -> remoting::Connection {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connecting");
    remoting::Connection::spawn(
        stream,
        std::sync::Arc::new(remoting::connection::IgnoreRequests),
        remoting::frame::DEFAULT_MAX_FRAME_LENGTH,
        tokio_util::sync::CancellationToken::new(),
    )
    .unwrap()
}

/// Like [`connect`], from the local address `from` (any 127.x.y.z works on Linux: the whole
/// 127/8 is loopback), so a server sees the connection come from that address.
pub async fn connect_from(addr: &str, from: std::net::IpAddr) -> remoting::Connection {
    let target: std::net::SocketAddr = addr.parse().expect("a socket address");
    let socket = match from {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .unwrap();
    socket
        .bind(std::net::SocketAddr::new(from, 0))
        .expect("binding the client socket");
    let stream = socket.connect(target).await.expect("connecting");
    remoting::Connection::spawn(
        stream,
        std::sync::Arc::new(remoting::connection::IgnoreRequests),
        remoting::frame::DEFAULT_MAX_FRAME_LENGTH,
        tokio_util::sync::CancellationToken::new(),
    )
    .unwrap()
}

/// Registers a master broker named `broker_name` serving `topics` (name, queue count,
/// perm) with the name server at `namesrv`, over `conn`. Returns the response code.
pub async fn register_broker(
    conn: &remoting::Connection,
    cluster: &str,
    broker_name: &str,
    broker_addr: &str,
    topics: &[(&str, i32, i32)],
) -> i32 {
    use remoting::protocol::register::{body_crc32, RegisterBrokerBody};
    use remoting::protocol::topic::{DataVersion, TopicConfig};
    let mut body = RegisterBrokerBody::default();
    body.topic_config_serialize_wrapper.data_version = DataVersion::now();
    for (name, queues, perm) in topics {
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert(name.to_string(), TopicConfig::new(*name, *queues, *queues, *perm));
    }
    let bytes = body.encode(false);
    let header = remoting::header::namesrv::RegisterBrokerRequestHeader {
        broker_name: broker_name.into(),
        broker_addr: broker_addr.into(),
        cluster_name: cluster.into(),
        ha_server_addr: String::new(),
        broker_id: 0,
        compressed: Some(false),
        body_crc32: Some(body_crc32(&bytes)),
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
    };
    let request = remoting::RemotingCommand::request_with_header(remoting::code::request::REGISTER_BROKER, &header)
        .with_body(bytes);
    conn.request(request, std::time::Duration::from_secs(5))
        .await
        .unwrap()
        .code
}

/// A free TCP port on loopback (bound and released; fine for tests that restart a server on
/// the same port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `standalone` binary (name server + broker in one process) on fixed ports, with its
/// data in a directory that survives restarts.
pub struct StandaloneProcess {
    child: Option<Child>,
    pub namesrv_addr: String,
    pub namesrv_port: u16,
    pub broker_port: u16,
    pub data: PathBuf,
    extra: Vec<String>,
    flags: Vec<String>,
}

impl StandaloneProcess {
    pub async fn start(data: &std::path::Path, extra: &[&str]) -> StandaloneProcess {
        Self::start_with_flags(data, &[], extra).await
    }

    /// Starts with extra command-line `flags` (`--dashboard-port 1234`, ...) besides the
    /// `-D key=value` settings in `extra`.
    pub async fn start_with_flags(data: &std::path::Path, flags: &[&str], extra: &[&str]) -> StandaloneProcess {
        let mut p = StandaloneProcess {
            child: None,
            namesrv_addr: String::new(),
            namesrv_port: free_port(),
            broker_port: free_port(),
            data: data.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
        };
        p.launch().await;
        p
    }

    async fn launch(&mut self) {
        let mut cmd = Command::new(binary("standalone"));
        cmd.arg("--data")
            .arg(&self.data)
            .arg("--namesrv-port")
            .arg(self.namesrv_port.to_string())
            .arg("--broker-port")
            .arg(self.broker_port.to_string())
            .args(&self.flags);
        for e in &self.extra {
            cmd.arg("-D").arg(e);
        }
        let (child, _) =
            spawn_and_wait_for_address(cmd, "Standalone RocketMQ boot success", Duration::from_secs(30)).await;
        self.child = Some(child);
        self.namesrv_addr = format!("127.0.0.1:{}", self.namesrv_port);
    }

    /// Stops with SIGTERM (a clean shutdown) and waits for the process to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
            let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
            let _ = child.start_kill();
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }
}

impl Drop for StandaloneProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// A broker running inside the test process on a free port, its store in a temporary
/// directory, registered with no name server unless `extra` says `namesrvAddr`.
pub struct InProcessBroker {
    pub broker: broker::Broker,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl InProcessBroker {
    pub async fn start(extra: &[(&str, &str)]) -> InProcessBroker {
        let dir = tempfile::tempdir().unwrap();
        let mut config = broker::BrokerConfig::default();
        let store = dir.path().join("store").display().to_string();
        for (k, v) in [
            ("brokerName", "broker-a"),
            ("brokerIP1", "127.0.0.1"),
            ("listenPort", "0"),
            ("storePathRootDir", store.as_str()),
        ] {
            config.set(k, v).unwrap();
        }
        config.namesrv_addr = None;
        for (k, v) in extra {
            config.set(k, v).unwrap();
        }
        let broker = broker::Broker::start(config).await.unwrap();
        let addr = format!("127.0.0.1:{}", broker.local_addr().port());
        InProcessBroker { broker, addr, dir }
    }
}
