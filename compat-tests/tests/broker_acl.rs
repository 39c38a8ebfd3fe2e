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

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use broker::acl::{signature, signed_content};
use compat_tests::golden::{self, GoldenFrame};
use compat_tests::process::{connect, InProcessBroker};
use remoting::code::{request, response};
use remoting::{Connection, RemotingCommand};

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

    // 53: a global white list lets unsigned requests in.
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
