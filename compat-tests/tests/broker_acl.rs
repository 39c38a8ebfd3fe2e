//! ACL 1.0 over TCP (`aclEnable=true`), against golden 16: the Java 4.9.8 broker with
//! `frames/16-acl-plain_acl.yml`, mqadmin signed as the admin and as a normal account, a
//! client with AclClientRPCHook, a producer with a wrong secret.
//!
//! * Every signed request of the capture: our signature of its fields and body equals the
//!   recorded one exactly when Java did not answer "Check signature failed".
//! * The capture replayed against our broker with the same file: each request Java refused
//!   is refused with Java's code and remark, each one it served is not refused.
//! * Missing AccessKey, unknown account, bad signature, white-listed addresses, admin codes
//!   50-53, a changed file picked up, a broken file leaving the last good one in force.
//! * Clients on distinct loopback addresses (127.0.0.2-4): the global and the account white
//!   lists let theirs in, any other address is checked and refused as Java refuses.
//! * A `plain_acl.yml` that stops parsing: the broker binary says so on stderr, naming the
//!   file, and keeps the last good accounts.
//! * The broker's own REGISTER_BROKER / UNREGISTER_BROKER, read off the wire by a stand-in name
//!   server: signed with `innerClientAuthenticationCredentials` so that our own check accepts
//!   them, unsigned without it (as Java 4.9.8's, golden 16).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use broker::acl::{signature, signed_content, AclManager};
use compat_tests::golden::{self, GoldenFrame};
use compat_tests::process::{binary, connect, connect_from, InProcessBroker};
use remoting::code::{request, response};
use remoting::{Connection, RemotingCommand};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

const ACL_FILE: &str = "16-acl-plain_acl.yml";

fn secrets() -> HashMap<&'static str, &'static str> {
    HashMap::from([("RocketMQAdmin", "admin12345678"), ("RocketMQ", "12345678")])
}

fn broker_requests(frames: &[GoldenFrame]) -> Vec<&GoldenFrame> {
    frames
        .iter()
        .filter(|f| f.is_request() && f.server_port() == 10911)
        .collect()
}

fn is_acl_refusal(res: &RemotingCommand) -> bool {
    res.code == response::SYSTEM_ERROR
        && res
            .remark
            .as_deref()
            .is_some_and(|r| r.starts_with("org.apache.rocketmq.acl.common.AclException"))
}

/// A broker home with `conf/plain_acl.yml` = `yml`.
fn home_with(yml: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("conf")).unwrap();
    std::fs::write(home.path().join("conf/plain_acl.yml"), yml).unwrap();
    home
}

fn golden_yml() -> String {
    std::fs::read_to_string(golden::golden_dir().join("frames").join(ACL_FILE)).unwrap()
}

async fn acl_broker(home: &Path) -> InProcessBroker {
    let home = home.display().to_string();
    InProcessBroker::start(&[("aclEnable", "true"), ("rocketmqHome", home.as_str())]).await
}

fn signed(mut cmd: RemotingCommand, access_key: &str, secret: &str) -> RemotingCommand {
    cmd.ext_mut().insert("AccessKey", access_key);
    let sig = signature(&signed_content(&cmd), secret);
    cmd.ext_mut().insert("Signature", sig);
    cmd
}

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(5)).await.unwrap()
}

fn create_topic(name: &str) -> RemotingCommand {
    let header = remoting::header::broker::CreateTopicRequestHeader::read_write(name, 4);
    RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header)
}

#[test]
fn signatures_agree_with_javas_verdicts() {
    let frames = golden::load_frames("16-acl");
    let secrets = secrets();
    let (mut agreed, mut refused_for_signature) = (0, 0);
    for req in broker_requests(&frames) {
        let cmd = req.to_command();
        let (Some(ak), Some(recorded)) = (cmd.ext().get("AccessKey"), cmd.ext().get("Signature")) else {
            continue;
        };
        let ours = signature(&signed_content(&cmd), secrets[ak]);
        let java_said_bad_signature = golden::response_to(&frames, req).is_some_and(|res| {
            res.header["remark"]
                .as_str()
                .is_some_and(|r| r.contains("Check signature failed"))
        });
        if java_said_bad_signature {
            refused_for_signature += 1;
            assert_ne!(ours, recorded, "code {}: Java refused this signature", cmd.code);
        } else if cmd.is_oneway() && cmd.ext().get("producerGroup") == Some("pg_acl_bad") {
            // Oneway frames of the wrong-secret producer have no answer to say so.
            assert_ne!(ours, recorded);
        } else {
            agreed += 1;
            assert_eq!(ours, recorded, "code {} signed by {ak}", cmd.code);
        }
    }
    assert!(agreed >= 30, "signed requests checked: {agreed}");
    assert_eq!(refused_for_signature, 3);
}

#[tokio::test]
async fn the_capture_replayed_gets_javas_verdicts() {
    let home = home_with(&golden_yml());
    let broker = acl_broker(home.path()).await;
    let frames = golden::load_frames("16-acl");
    let mut conns: HashMap<String, Connection> = HashMap::new();
    let (mut refusals, mut served) = (0, 0);
    for req in broker_requests(&frames) {
        if !conns.contains_key(&req.conn) {
            conns.insert(req.conn.clone(), connect(&broker.addr).await);
        }
        let conn = &conns[&req.conn];
        let mut cmd = req.to_command();
        if cmd.is_oneway() {
            conn.oneway(cmd).await.unwrap();
            continue;
        }
        cmd.opaque = remoting::command::next_opaque();
        // A refusal is immediate; a pull may be held, which is not a refusal.
        let ours = conn.request(cmd, Duration::from_millis(1500)).await.ok();
        // A pull still held when the capture ended has no answer to compare with.
        let Some(java) = golden::response_to(&frames, req).map(GoldenFrame::to_command) else {
            continue;
        };
        if is_acl_refusal(&java) {
            let ours = ours.expect("a refusal is answered at once");
            assert_eq!(
                (ours.code, ours.remark.as_deref()),
                (java.code, java.remark.as_deref()),
                "code {}",
                req.code
            );
            refusals += 1;
        } else {
            if let Some(ours) = &ours {
                assert!(!is_acl_refusal(ours), "code {} refused: {:?}", req.code, ours.remark);
            }
            served += 1;
        }
    }
    assert_eq!(refusals, 5, "admin-only, denied topic, three bad signatures");
    assert!(served > 30);
    // The capture's admin created GoldenUser (50) and then deleted it (51).
    let file = std::fs::read_to_string(home.path().join("conf/plain_acl.yml")).unwrap();
    assert!(!file.contains("GoldenUser"), "{file}");
    assert!(file.contains("dataVersion"), "{file}");
}

#[tokio::test]
async fn refusals_white_lists_and_admin_codes() {
    let yml = format!(
        "{}\n  - accessKey: WhiteListed\n    secretKey: whitesecret\n    whiteRemoteAddress: 127.0.0.*\n    defaultTopicPerm: DENY\n",
        golden_yml().trim_end()
    );
    let home = home_with(&yml);
    let broker = acl_broker(home.path()).await;
    let conn = connect(&broker.addr).await;
    let remark = |res: &RemotingCommand| res.remark.clone().unwrap_or_default();

    let res = ask(&conn, create_topic("Unsigned")).await;
    assert_eq!(res.code, response::SYSTEM_ERROR);
    assert_eq!(
        remark(&res),
        "org.apache.rocketmq.acl.common.AclException: No accessKey is configured, \
         org.apache.rocketmq.acl.plain.PlainPermissionManager.validate(PlainPermissionManager.java:664)"
    );
    let res = ask(&conn, signed(create_topic("T1"), "Nobody", "whatever1")).await;
    assert!(remark(&res).contains("No acl config for Nobody"), "{}", remark(&res));
    let mut forged = signed(create_topic("T1"), "RocketMQAdmin", "admin12345678");
    forged.ext_mut().insert("Signature", "not base64 at all");
    let res = ask(&conn, forged).await;
    assert!(remark(&res).contains("Check signature failed for accessKey=RocketMQAdmin"));
    // Every field is signed: one changed after signing breaks the signature.
    let mut changed = signed(create_topic("T1"), "RocketMQAdmin", "admin12345678");
    changed.ext_mut().insert("topic", "T2");
    assert!(is_acl_refusal(&ask(&conn, changed).await));

    let res = ask(
        &conn,
        signed(create_topic("AclTopic"), "RocketMQAdmin", "admin12345678"),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS, "{}", remark(&res));
    let res = ask(&conn, signed(create_topic("AclTopic"), "RocketMQ", "12345678")).await;
    assert!(remark(&res).contains("Need admin permission for request code=17, but accessKey=RocketMQ is not"));
    // An account on its white-listed address needs neither signature nor permissions.
    let mut unsigned = create_topic("WhiteTopic");
    unsigned.ext_mut().insert("AccessKey", "WhiteListed");
    assert_eq!(ask(&conn, unsigned).await.code, response::SUCCESS);

    // 52: the data versions, in the header keys Java's answer has.
    let res = ask(
        &conn,
        signed(
            RemotingCommand::request(request::GET_BROKER_CLUSTER_ACL_INFO),
            "RocketMQAdmin",
            "admin12345678",
        ),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    let java_keys: Vec<String> = {
        let frames = golden::load_frames("16-acl");
        let req = frames
            .iter()
            .find(|f| f.is_request() && f.code == request::GET_BROKER_CLUSTER_ACL_INFO)
            .unwrap();
        let mut keys: Vec<String> = golden::response_to(&frames, req).unwrap().header["extFields"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let mut ours: Vec<String> = res.ext().iter().map(|(k, _)| k.to_string()).collect();
    ours.sort();
    assert_eq!(ours, java_keys);
    let version: serde_json::Value = serde_json::from_str(res.ext().get("version").unwrap()).unwrap();
    assert_eq!(version["counter"], 0);

    // 50 creates an account that works at once; 51 removes it.
    let mut create = RemotingCommand::request(request::UPDATE_AND_CREATE_ACL_CONFIG);
    for (k, v) in [
        ("accessKey", "NewUser1"),
        ("secretKey", "newsecret1"),
        ("admin", "false"),
        ("defaultTopicPerm", "DENY"),
        ("topicPerms", "NewTopic=PUB,Other=SUB"),
    ] {
        create.ext_mut().insert(k, v);
    }
    let res = ask(&conn, signed(create, "RocketMQAdmin", "admin12345678")).await;
    assert_eq!(res.code, response::SUCCESS, "{}", remark(&res));
    let file = std::fs::read_to_string(home.path().join("conf/plain_acl.yml")).unwrap();
    assert!(file.contains("NewUser1") && file.contains("NewTopic=PUB"), "{file}");
    let pull_as_new_user = |topic: &str| {
        let mut pull = RemotingCommand::request(request::QUERY_MESSAGE);
        for (k, v) in [
            ("topic", topic),
            ("key", "k"),
            ("maxNum", "1"),
            ("beginTimestamp", "0"),
            ("endTimestamp", "1"),
        ] {
            pull.ext_mut().insert(k, v);
        }
        signed(pull, "NewUser1", "newsecret1")
    };
    assert!(!is_acl_refusal(&ask(&conn, pull_as_new_user("Other")).await));
    let res = ask(&conn, pull_as_new_user("NewTopic")).await;
    assert!(
        remark(&res).contains("No default permission for topic:NewTopic"),
        "{}",
        remark(&res)
    );
    let res = ask(
        &conn,
        signed(
            RemotingCommand::request(request::GET_BROKER_CLUSTER_ACL_INFO),
            "RocketMQAdmin",
            "admin12345678",
        ),
    )
    .await;
    let version: serde_json::Value = serde_json::from_str(res.ext().get("version").unwrap()).unwrap();
    assert_eq!(version["counter"], 1, "the file's data version moved on");

    let mut delete = RemotingCommand::request(request::DELETE_ACL_CONFIG);
    delete.ext_mut().insert("accessKey", "NewUser1");
    assert_eq!(
        ask(&conn, signed(delete, "RocketMQAdmin", "admin12345678")).await.code,
        response::SUCCESS
    );
    let res = ask(&conn, pull_as_new_user("Other")).await;
    assert!(remark(&res).contains("No acl config for NewUser1"));
    let mut delete = RemotingCommand::request(request::DELETE_ACL_CONFIG);
    delete.ext_mut().insert("accessKey", "NewUser1");
    assert_eq!(
        ask(&conn, signed(delete, "RocketMQAdmin", "admin12345678")).await.code,
        response::DELETE_ACL_CONFIG_FAILED
    );

    // 53: a global white list lets unsigned requests in. mqadmin updateGlobalWhiteAddr
    // without -p sends no aclFileFullPath: the default file (Java's decoder lets it be).
    let mut white = RemotingCommand::request(request::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG);
    white.ext_mut().insert("globalWhiteAddrs", "127.0.0.9");
    assert_eq!(
        ask(&conn, signed(white, "RocketMQAdmin", "admin12345678")).await.code,
        response::SUCCESS
    );
    let acl_text = std::fs::read_to_string(home.path().join("conf/plain_acl.yml")).unwrap();
    assert!(acl_text.contains("127.0.0.9"), "{acl_text}");
    let mut white = RemotingCommand::request(request::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG);
    white.ext_mut().insert("globalWhiteAddrs", "127.0.0.1");
    white.ext_mut().insert(
        "aclFileFullPath",
        home.path().join("conf/plain_acl.yml").display().to_string(),
    );
    assert_eq!(
        ask(&conn, signed(white, "RocketMQAdmin", "admin12345678")).await.code,
        response::SUCCESS
    );
    assert_eq!(ask(&conn, create_topic("UnsignedNow")).await.code, response::SUCCESS);
}

#[tokio::test]
async fn a_changed_file_is_picked_up_and_a_broken_one_is_not() {
    let home = home_with(&golden_yml());
    let broker = acl_broker(home.path()).await;
    let conn = connect(&broker.addr).await;
    let file = home.path().join("conf/plain_acl.yml");
    let as_later = || signed(create_topic("LaterTopic"), "LaterAdmin", "latersecret");
    assert!(is_acl_refusal(&ask(&conn, as_later()).await));

    // An account added by hand is in force within a few seconds.
    std::fs::write(
        &file,
        format!(
            "{}\n  - accessKey: LaterAdmin\n    secretKey: latersecret\n    admin: true\n",
            golden_yml().trim_end()
        ),
    )
    .unwrap();
    let mut picked_up = false;
    for _ in 0..100 {
        if ask(&conn, as_later()).await.code == response::SUCCESS {
            picked_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(picked_up, "the new account was never accepted");

    // A file that does not parse: the last good configuration stays.
    std::fs::write(&file, "accounts: [\n  - accessKey: broken\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ask(&conn, as_later()).await.code, response::SUCCESS);
    let refused = ask(&conn, signed(create_topic("X1"), "RocketMQ", "12345678")).await;
    assert!(refused.remark.unwrap_or_default().contains("Need admin permission"));
}

/// A refusal as Java's PlainPermissionManager words it: code 1, the exception and its frame.
fn java_refusal(message: &str, method: &str, line: u32) -> (i32, String) {
    (
        response::SYSTEM_ERROR,
        format!(
            "org.apache.rocketmq.acl.common.AclException: {message}, \
             org.apache.rocketmq.acl.plain.PlainPermissionManager.{method}(PlainPermissionManager.java:{line})"
        ),
    )
}

fn verdict(res: &RemotingCommand) -> (i32, String) {
    (res.code, res.remark.clone().unwrap_or_default())
}

#[tokio::test]
async fn addresses_outside_the_white_lists_are_checked_and_refused() {
    // As in Java, a white list lets its addresses skip the checks; it does not shut others out.
    let yml = "globalWhiteRemoteAddresses:\n  - 127.0.0.2\n\naccounts:\n  \
               - accessKey: WhiteListed\n    secretKey: whitesecret\n    whiteRemoteAddress: 127.0.0.3\n    \
               admin: false\n    defaultTopicPerm: DENY\n";
    let home = home_with(yml);
    let broker = acl_broker(home.path()).await;
    let from = |last: u8| IpAddr::from([127, 0, 0, last]);
    let global = connect_from(&broker.addr, from(2)).await;
    let account = connect_from(&broker.addr, from(3)).await;
    let outside = connect_from(&broker.addr, from(4)).await;
    let with_key = |name: &str| {
        let mut req = create_topic(name);
        req.ext_mut().insert("AccessKey", "WhiteListed");
        req
    };

    // 127.0.0.2, globally white-listed: no AccessKey, no signature, no admin flag needed.
    assert_eq!(ask(&global, create_topic("GlobalWhite")).await.code, response::SUCCESS);
    // 127.0.0.3, the account's address: its AccessKey alone, and no permission check.
    assert_eq!(ask(&account, with_key("AccountWhite")).await.code, response::SUCCESS);
    // ... but only with that account's AccessKey.
    assert_eq!(
        verdict(&ask(&account, create_topic("NoKey")).await),
        java_refusal("No accessKey is configured", "validate", 664)
    );

    // 127.0.0.4, on no list: unsigned, wrongly signed and under-privileged requests are refused.
    assert_eq!(
        verdict(&ask(&outside, create_topic("Outside")).await),
        java_refusal("No accessKey is configured", "validate", 664)
    );
    assert_eq!(
        verdict(&ask(&outside, with_key("Outside")).await),
        java_refusal("Check signature failed for accessKey=WhiteListed", "validate", 684)
    );
    assert_eq!(
        verdict(&ask(&outside, signed(create_topic("Outside"), "WhiteListed", "wrongsecret")).await),
        java_refusal("Check signature failed for accessKey=WhiteListed", "validate", 684)
    );
    assert_eq!(
        verdict(&ask(&outside, signed(create_topic("Outside"), "WhiteListed", "whitesecret")).await),
        java_refusal(
            "Need admin permission for request code=17, but accessKey=WhiteListed is not",
            "checkPerm",
            581
        )
    );
    // A correctly signed request the account may make is served from anywhere.
    let mut query = RemotingCommand::request(request::GET_BROKER_CLUSTER_ACL_INFO);
    query = signed(query, "WhiteListed", "whitesecret");
    assert_eq!(ask(&outside, query).await.code, response::SUCCESS);
}

/// Reads one frame off `sock`: its length word, then that many bytes, decoded as our codec does.
async fn read_frame(sock: &mut tokio::net::TcpStream) -> Option<RemotingCommand> {
    let mut length = [0u8; 4];
    sock.read_exact(&mut length).await.ok()?;
    let mut frame = length.to_vec();
    frame.resize(4 + u32::from_be_bytes(length) as usize, 0);
    sock.read_exact(&mut frame[4..]).await.ok()?;
    Some(remoting::frame::decode(&frame).expect("a well-formed frame"))
}

/// A stand-in name server on a plain TCP listener: every request it reads is passed on and
/// answered with SUCCESS.
async fn stand_in_namesrv() -> (String, mpsc::UnboundedReceiver<RemotingCommand>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(req) = read_frame(&mut sock).await {
                    let mut out = bytes::BytesMut::new();
                    remoting::frame::encode(&RemotingCommand::response_to(&req, response::SUCCESS, None), &mut out);
                    let _ = tx.send(req);
                    if sock.write_all(&out).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, rx)
}

async fn next_request(seen: &mut mpsc::UnboundedReceiver<RemotingCommand>, code: i32) -> RemotingCommand {
    loop {
        let req = tokio::time::timeout(Duration::from_secs(10), seen.recv())
            .await
            .unwrap_or_else(|_| panic!("no request {code} within 10 s"))
            .unwrap();
        if req.code == code {
            return req;
        }
    }
}

#[tokio::test]
async fn the_brokers_own_requests_to_the_name_server_are_signed_when_configured() {
    // Java 4.9.8 signs none: golden 16's broker ran with aclEnable=true, unsigned registrations.
    let frames = golden::load_frames("16-acl");
    let registrations: Vec<RemotingCommand> = frames
        .iter()
        .filter(|f| f.is_request() && f.code == request::REGISTER_BROKER)
        .map(GoldenFrame::to_command)
        .collect();
    assert!(!registrations.is_empty());
    assert!(registrations.iter().all(|r| r.ext().get("AccessKey").is_none()));

    let (ns, mut seen) = stand_in_namesrv().await;
    let credentials = r#"{"accessKey":"RocketMQ","secretKey":"12345678"}"#;
    let broker = InProcessBroker::start(&[
        ("namesrvAddr", ns.as_str()),
        ("innerClientAuthenticationCredentials", credentials),
    ])
    .await;
    let register = next_request(&mut seen, request::REGISTER_BROKER).await;
    assert_eq!(register.ext().get("AccessKey"), Some("RocketMQ"));
    assert!(register.ext().get("Signature").is_some());
    assert!(
        !register.body.is_empty(),
        "the topic configs are in the body, and signed"
    );

    // Our broker's own check, golden 16's accounts, a peer on no white list: let in.
    let home = home_with(&golden_yml());
    let acl = AclManager::open(home.path(), "conf/plain_acl.yml");
    let peer = IpAddr::from([10, 0, 0, 9]);
    acl.check(&peer, &register).expect("the broker's signature is accepted");
    let mut tampered = register.clone();
    tampered.ext_mut().insert("brokerName", "another");
    let refused = acl.check(&peer, &tampered).unwrap_err();
    assert!(refused.remark.contains("Check signature failed for accessKey=RocketMQ"));
    let mut tampered = register.clone();
    let mut body = tampered.body.to_vec();
    body.push(b' ');
    tampered.body = body.into();
    assert!(acl.check(&peer, &tampered).is_err(), "the body is signed too");

    // The secret is never shown by GET_BROKER_CONFIG.
    let conn = connect(&broker.addr).await;
    let res = ask(&conn, RemotingCommand::request(request::GET_BROKER_CONFIG)).await;
    let shown = String::from_utf8_lossy(&res.body).into_owned();
    assert!(shown.contains("brokerName=") && !shown.contains("12345678"), "{shown}");

    // The unregister at shutdown is signed as well.
    let InProcessBroker { broker, dir: _dir, .. } = broker;
    broker.shutdown().await;
    let unregister = next_request(&mut seen, request::UNREGISTER_BROKER).await;
    acl.check(&peer, &unregister).expect("the unregister is signed");

    // Without the key nothing is signed, as in Java 4.9.8.
    let (ns, mut seen) = stand_in_namesrv().await;
    let _plain = InProcessBroker::start(&[("namesrvAddr", ns.as_str())]).await;
    let register = next_request(&mut seen, request::REGISTER_BROKER).await;
    assert!(register.ext().get("AccessKey").is_none() && register.ext().get("Signature").is_none());
    assert_eq!(
        acl.check(&peer, &register).unwrap_err().remark,
        java_refusal("No accessKey is configured", "validate", 664).1
    );
}

#[tokio::test]
async fn a_syntax_error_is_logged_and_the_last_good_file_stays() {
    let home = home_with(&golden_yml());
    let store = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(binary("broker"));
    for define in [
        "listenPort=0".to_string(),
        "brokerIP1=127.0.0.1".to_string(),
        "aclEnable=true".to_string(),
        format!("rocketmqHome={}", home.path().display()),
        format!("storePathRootDir={}", store.path().display()),
    ] {
        cmd.arg("-D").arg(define);
    }
    cmd.env("RUST_LOG", "info")
        .env_remove("NAMESRV_ADDR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let (log_tx, mut log) = mpsc::unbounded_channel();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            let _ = log_tx.send(line);
        }
    });
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(addr) = line.split("listening on ").nth(1) {
                return addr.trim().rsplit(':').next().unwrap().to_string();
            }
        }
        panic!("the broker exited before it was ready");
    })
    .await
    .expect("the broker started within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    let conn = connect(&format!("127.0.0.1:{port}")).await;
    let as_admin = |topic: &str| signed(create_topic(topic), "RocketMQAdmin", "admin12345678");
    assert_eq!(ask(&conn, as_admin("BeforeBreak")).await.code, response::SUCCESS);

    let file = home.path().join("conf/plain_acl.yml");
    std::fs::write(&file, "accounts: [\n  - accessKey: broken\n    secretKey: [unclosed\n").unwrap();
    let warning = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let line = log.recv().await.expect("the broker's stderr closed");
            if line.contains("WARN") && line.contains("ACL configuration not reloaded") {
                return line;
            }
        }
    })
    .await
    .expect("a warning within 10 s");
    assert!(
        warning.contains(&file.display().to_string()),
        "names the file: {warning}"
    );
    assert!(warning.contains("the last good one stays in force"), "{warning}");
    assert!(!warning.contains("admin12345678"), "no secret in the log: {warning}");
    assert_eq!(ask(&conn, as_admin("AfterBreak")).await.code, response::SUCCESS);
    let refused = ask(&conn, signed(create_topic("X2"), "RocketMQ", "12345678")).await;
    assert!(refused.remark.unwrap_or_default().contains("Need admin permission"));
    let _ = child.start_kill();
}
