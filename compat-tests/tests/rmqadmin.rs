//! `rmqadmin` as a user runs it: a subprocess against a standalone server. The tables and
//! the `--json` documents are checked against what the test did (30 messages sent to a
//! 4-queue topic, 20 of them committed by a consumer group), errors against their exit
//! status and message, and one run has no JVM to find (empty environment, empty PATH).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use compat_tests::process::{connect, free_port, target_dir, StandaloneProcess};
use remoting::code::{request, response};
use remoting::header::broker::{UnregisterClientRequestHeader, UpdateConsumerOffsetRequestHeader};
use remoting::{fastjson, Connection, RemotingCommand};
use serde_json::Value;

const TOPIC: &str = "AdminCliTopic";
const GROUP: &str = "cg_cli";
const PRODUCER_GROUP: &str = "pg_cli";
const CLIENT_ID: &str = "127.0.0.1@cli#1";

/// The rmqadmin binary, built by this test (once) so that `cargo test` alone is enough:
/// cargo builds an integration test's own package's binaries, not other packages'.
fn rmqadmin_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = target_dir();
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "--quiet", "-p", "rmqadmin", "--bin", "rmqadmin"]);
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            if let Some(root) = dir.parent() {
                cmd.env("CARGO_TARGET_DIR", root);
            }
            let status = cmd.status().expect("running cargo build -p rmqadmin");
            assert!(status.success(), "cargo build -p rmqadmin failed");
            let path = dir.join("rmqadmin");
            assert!(path.exists(), "{} is missing", path.display());
            path
        })
        .clone()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

struct Cli {
    namesrv: String,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(rmqadmin_binary())
            .arg("-n")
            .arg(&self.namesrv)
            .args(args)
            .output()
            .unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, Some(0), "{args:?} failed: {}{}", r.stderr, r.stdout);
        r.stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// Runs a command that must fail with status 1; returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, Some(1), "{args:?} should fail: {}{}", r.stderr, r.stdout);
        assert!(r.stderr.starts_with("rmqadmin: "), "{}", r.stderr);
        r.stderr
    }
}

/// Rows of a table whose first header is `first` (header line excluded).
fn table_rows(text: &str, first: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(first));
    assert!(lines.next().is_some(), "no table starting with {first} in:\n{text}");
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// Retries `f` a bounded number of times (route changes reach the name server when the
/// broker re-registers); the last attempt's failure is what the test reports.
fn eventually<T>(mut f: impl FnMut() -> Result<T, String>) -> T {
    for _ in 0..100 {
        if let Ok(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f().unwrap_or_else(|e| panic!("{e}"))
}

async fn ask(conn: &Connection, req: RemotingCommand) -> RemotingCommand {
    conn.request(req, Duration::from_secs(5)).await.unwrap()
}

/// A consumer of GROUP (and a producer of PRODUCER_GROUP) online on `conn`, with the group's
/// offsets committed at 5 per queue: 20 of the 30 messages consumed.
async fn consumer_online(conn: &Connection) {
    let heartbeat = format!(
        r#"{{"clientID":"{CLIENT_ID}","consumerDataSet":[{{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"{GROUP}","messageModel":"CLUSTERING","subscriptionDataSet":[{{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":7,"tagsSet":[],"topic":"{TOPIC}"}}],"unitMode":false}}],"producerDataSet":[{{"groupName":"{PRODUCER_GROUP}"}}]}}"#
    );
    let mut hb = RemotingCommand::request(request::HEART_BEAT).with_body(heartbeat.into_bytes());
    hb.version = 409;
    assert_eq!(ask(conn, hb).await.code, response::SUCCESS);
    for queue_id in 0..4 {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: GROUP.into(),
            topic: TOPIC.into(),
            queue_id,
            commit_offset: 5,
        };
        let res = ask(
            conn,
            RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &header),
        )
        .await;
        assert_eq!(res.code, response::SUCCESS);
    }
}

async fn subscription_groups(conn: &Connection) -> Value {
    let res = ask(
        conn,
        RemotingCommand::request(request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    fastjson::parse(&res.body).unwrap()["subscriptionGroupTable"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_report_what_the_test_did() {
    rmqadmin_binary();
    let data = tempfile::tempdir().unwrap();
    let server = StandaloneProcess::start(data.path(), &[]).await;
    let broker = format!("127.0.0.1:{}", server.broker_port);
    let cli = Cli {
        namesrv: server.namesrv_addr.clone(),
    };

    // clusterList: the one broker, as a table and as JSON.
    let text = cli.ok(&["clusterList"]);
    let rows = table_rows(&text, "#Cluster Name");
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0][3], broker);
    let cluster = rows[0][0].to_string();
    let brokers = cli.json(&["clusterList"])["brokers"].clone();
    assert_eq!(brokers[0]["addr"], broker.as_str());
    assert_eq!(brokers[0]["brokerId"], 0);
    assert_eq!(brokers[0]["version"], "V4_9_8");
    let broker_name = brokers[0]["brokerName"].as_str().unwrap().to_string();

    // updateTopic on the cluster; the route shows 4 queues once the broker re-registered.
    let text = cli.ok(&["updateTopic", "-c", &cluster, "-t", TOPIC, "-r", "4", "-w", "4"]);
    assert!(text.contains(&format!("create topic to {broker} success.")), "{text}");
    let route = eventually(|| {
        let r = cli.run(&["--json", "topicRoute", "-t", TOPIC]);
        if r.code == Some(0) {
            Ok(serde_json::from_str::<Value>(&r.stdout).unwrap())
        } else {
            Err(r.stderr)
        }
    });
    assert_eq!(route["queueDatas"][0]["writeQueueNums"], 4);
    assert_eq!(route["queueDatas"][0]["perm"], 6);
    assert_eq!(route["brokerDatas"][0]["brokerAddrs"]["0"], broker.as_str());
    let rows = table_rows(&cli.ok(&["topicRoute", "-t", TOPIC, "-l"]), "#ClusterName");
    assert_eq!(rows[0][..2], [cluster.as_str(), broker_name.as_str()]);
    assert!(cli.ok(&["topicList"]).lines().any(|l| l == TOPIC));
    assert!(cli.json(&["topicList"])["topicList"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == TOPIC));

    // sendMessage: 30 messages, queue i % 4 (8, 8, 7, 7), even ones tagged TagA.
    let mut sent = Vec::new();
    for i in 0..30 {
        let (qid, tag, key, body) = (
            (i % 4).to_string(),
            if i % 2 == 0 { "TagA" } else { "TagB" },
            format!("key{i}"),
            format!("body {i}"),
        );
        let args = [
            "sendMessage",
            "-t",
            TOPIC,
            "-p",
            &body,
            "-k",
            &key,
            "-c",
            tag,
            "-b",
            &broker_name,
            "-i",
            &qid,
        ];
        if i == 0 {
            let rows = table_rows(&cli.ok(&args), "#Broker Name");
            assert_eq!(rows[0][..3], [broker_name.as_str(), "0", "SEND_OK"]);
            sent.push(Value::Null);
            continue;
        }
        let v = cli.json(&args);
        assert_eq!(v["sendStatus"], "SEND_OK");
        assert_eq!(v["queueId"], i % 4);
        assert_eq!(v["queueOffset"], i / 4);
        sent.push(v);
    }

    // topicStatus: the max offsets add up to what was sent.
    let status = cli.json(&["topicStatus", "-t", TOPIC]);
    let queues = status["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 4);
    let max: Vec<i64> = queues.iter().map(|q| q["maxOffset"].as_i64().unwrap()).collect();
    assert_eq!(max, [8, 8, 7, 7]);
    let rows = table_rows(&cli.ok(&["topicStatus", "-t", TOPIC]), "#Broker Name");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows.iter().map(|r| r[3].parse::<i64>().unwrap()).sum::<i64>(), 30);

    // Queries by key, unique key and offset id find message 7 (queue 3, offset 1).
    let rows = table_rows(&cli.ok(&["queryMsgByKey", "-t", TOPIC, "-k", "key7"]), "#Message ID");
    assert_eq!(rows, [[sent[7]["msgId"].as_str().unwrap(), "3", "1"]]);
    let found = cli.json(&["queryMsgByKey", "-t", TOPIC, "-k", "key7"]);
    assert_eq!(found["messages"][0]["body"], "body 7");
    let text = cli.ok(&[
        "queryMsgByUniqueKey",
        "-t",
        TOPIC,
        "-i",
        sent[7]["msgId"].as_str().unwrap(),
    ]);
    assert!(
        text.contains("Keys:                [key7]") && text.contains("body 7"),
        "{text}"
    );
    let text = cli.ok(&["queryMsgById", "-i", sent[7]["offsetMsgId"].as_str().unwrap()]);
    assert!(text.contains(&format!("Topic:               {TOPIC}")), "{text}");
    assert!(
        text.contains("Queue Offset:        1") && text.contains("body 7"),
        "{text}"
    );

    // printMsg with a tag filter sees the 15 TagA messages; consumeMessage takes 20.
    let printed = cli.json(&["printMsg", "-t", TOPIC, "-s", "TagA"]);
    let msgs: Vec<&Value> = printed["queues"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| q["messages"].as_array().unwrap())
        .collect();
    assert_eq!(msgs.len(), 15);
    assert!(msgs.iter().all(|m| m["tags"] == "TagA"));
    let consumed = cli.json(&["consumeMessage", "-t", TOPIC, "-c", "20"]);
    assert_eq!(consumed["count"], 20);
    let text = cli.ok(&["consumeMessage", "-t", TOPIC, "-b", &broker_name, "-i", "2", "-o", "5"]);
    assert_eq!(text.matches("MSGID: ").count(), 2, "queue 2 holds offsets 0..7: {text}");

    // A consumer group online with 20 messages committed: progress shows 10 behind.
    let conn = connect(&broker).await;
    consumer_online(&conn).await;
    let progress = eventually(|| {
        let r = cli.run(&["--json", "consumerProgress", "-g", GROUP]);
        if r.code == Some(0) {
            Ok(serde_json::from_str::<Value>(&r.stdout).unwrap())
        } else {
            Err(r.stderr)
        }
    });
    assert_eq!(progress["diffTotal"], 10);
    let queues = progress["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 4);
    assert!(queues.iter().all(|q| q["consumerOffset"] == 5 && q["topic"] == TOPIC));
    let text = cli.ok(&["consumerProgress", "-g", GROUP]);
    assert!(text.contains("Diff Total: 10"), "{text}");
    assert_eq!(table_rows(&text, "#Topic").len(), 4);
    let all = cli.json(&["consumerProgress"]);
    let row = all["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == GROUP)
        .unwrap()
        .clone();
    assert_eq!(row["count"], 1);
    assert_eq!(row["diffTotal"], 10);
    assert_eq!(row["consumeType"], "PUSH");

    // Connections.
    let text = cli.ok(&["consumerConnection", "-g", GROUP]);
    let rows = table_rows(&text, "#ClientId");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], CLIENT_ID);
    assert!(
        text.contains("ConsumeType: CONSUME_PASSIVELY") && text.contains("MessageModel: CLUSTERING"),
        "{text}"
    );
    let cc = cli.json(&["consumerConnection", "-g", GROUP]);
    assert_eq!(cc["connectionSet"].as_array().unwrap().len(), 1);
    let pc = cli.json(&["producerConnection", "-g", PRODUCER_GROUP, "-t", TOPIC]);
    assert_eq!(pc["connectionSet"][0]["clientId"], CLIENT_ID);
    assert!(cli
        .ok(&["producerConnection", "-g", PRODUCER_GROUP, "-t", TOPIC])
        .contains(CLIENT_ID));

    // statsAll: the group's accumulation on the topic.
    let stats = cli.json(&["statsAll", "-t", TOPIC]);
    let row = stats["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == GROUP)
        .unwrap()
        .clone();
    assert_eq!(row["accumulation"], 10);

    // Broker status and config; a runtime setting updated and read back.
    let status = cli.json(&["brokerStatus", "-b", &broker]);
    assert_eq!(status["brokers"][&broker]["brokerVersionDesc"], "V4_9_8");
    assert!(cli
        .ok(&["brokerStatus", "-b", &broker])
        .lines()
        .any(|l| l.starts_with("brokerVersionDesc")));
    let text = cli.ok(&[
        "updateBrokerConfig",
        "-b",
        &broker,
        "-k",
        "shortPollingTimeMills",
        "-v",
        "700",
    ]);
    assert_eq!(text, format!("update broker config success, {broker}\n"));
    let config = cli.json(&["getBrokerConfig", "-b", &broker]);
    assert_eq!(config["brokers"][&broker]["shortPollingTimeMills"], "700");
    assert_eq!(config["brokers"][&broker]["brokerName"], broker_name.as_str());
    let text = cli.ok(&["getBrokerConfig", "-c", &cluster]);
    assert!(
        text.contains(&format!("============Master: {broker}============")),
        "{text}"
    );
    // A broker error: code name, code and remark.
    let err = cli.fails(&[
        "updateBrokerConfig",
        "-b",
        &broker,
        "-k",
        "brokerConfigPath",
        "-v",
        "/tmp/x",
    ]);
    assert!(
        err.contains("NO_PERMISSION (code 16)") && err.contains("black list"),
        "{err}"
    );

    // Name server config.
    let ns = cli.json(&["getNamesrvConfig"]);
    assert_eq!(
        ns["namesrvs"][&server.namesrv_addr]["listenPort"],
        server.namesrv_port.to_string()
    );
    assert!(cli
        .ok(&["getNamesrvConfig"])
        .contains(&format!("============{}============", server.namesrv_addr)));

    // Subscription groups, checked in the broker's own table.
    let text = cli.ok(&["updateSubGroup", "-c", &cluster, "-g", "cg_cli_made", "-r", "3"]);
    assert!(
        text.contains(&format!("create subscription group to {broker} success.")),
        "{text}"
    );
    let groups = subscription_groups(&conn).await;
    assert_eq!(groups["cg_cli_made"]["retryMaxTimes"], 3);
    assert_eq!(groups["cg_cli_made"]["consumeBroadcastEnable"], false);
    let text = cli.ok(&["deleteSubGroup", "-b", &broker, "-g", "cg_cli_made"]);
    assert!(text.contains("delete subscription group [cg_cli_made]"), "{text}");
    assert!(subscription_groups(&conn).await.get("cg_cli_made").is_none());

    // resetOffsetByTime with the consumer gone: mqadmin's fallback sets the broker's offsets.
    let header = UnregisterClientRequestHeader {
        client_id: CLIENT_ID.into(),
        producer_group: Some(PRODUCER_GROUP.into()),
        consumer_group: Some(GROUP.into()),
    };
    let res = ask(
        &conn,
        RemotingCommand::request_with_header(request::UNREGISTER_CLIENT, &header),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    // The broker answers 222 with CONSUMER_NOT_ONLINE, and rmqadmin falls back as mqadmin does.
    let r = cli.run(&["--json", "resetOffsetByTime", "-g", GROUP, "-t", TOPIC, "-s", "0"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["online"], false, "{v}");
    let rows = v["rollbackStats"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .all(|q| q["rollbackOffset"] == 0 && q["consumerOffset"] == 5),
        "{v}"
    );
    assert_eq!(cli.json(&["consumerProgress", "-g", GROUP])["diffTotal"], 30);

    // Unknown topic and group.
    let err = cli.fails(&["topicStatus", "-t", "NoSuchTopicAnywhere"]);
    assert!(
        err.contains("topic NoSuchTopicAnywhere does not exist") && err.contains("TOPIC_NOT_EXIST"),
        "{err}"
    );
    let err = cli.fails(&["consumerProgress", "-g", "no_such_group"]);
    assert!(err.contains("consumer group no_such_group is unknown"), "{err}");

    // No JVM needed: an empty environment, PATH an empty directory, the address from NAMESRV_ADDR.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(rmqadmin_binary())
        .env_clear()
        .env("PATH", empty.path())
        .env("NAMESRV_ADDR", &server.namesrv_addr)
        .args(["--json", "clusterList"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["brokers"][0]["addr"], broker.as_str());

    // deleteTopic: gone from the broker and the name server.
    let text = cli.ok(&["deleteTopic", "-c", &cluster, "-t", TOPIC]);
    assert!(
        text.contains(&format!("delete topic [{TOPIC}] from NameServer success.")),
        "{text}"
    );
    let err = cli.fails(&["topicRoute", "-t", TOPIC]);
    assert!(err.contains("does not exist"), "{err}");
    drop(conn);
}

#[test]
fn errors_exit_non_zero_with_a_clear_message() {
    // Nothing listens on this port.
    let cli = Cli {
        namesrv: format!("127.0.0.1:{}", free_port()),
    };
    let err = cli.fails(&["topicList"]);
    assert!(err.contains("cannot reach any name server"), "{err}");
    // Two addresses, both down: both are named.
    let two = Cli {
        namesrv: format!("{};127.0.0.1:{}", cli.namesrv, free_port()),
    };
    let err = two.fails(&["clusterList"]);
    assert!(
        err.contains(&cli.namesrv) && err.matches("127.0.0.1:").count() >= 2,
        "{err}"
    );
    // No address at all.
    let out = Command::new(rmqadmin_binary())
        .env_clear()
        .arg("topicList")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAMESRV_ADDR"));
    // Bad usage is clap's status 2.
    let out = Command::new(rmqadmin_binary()).arg("topicStatus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

const ORDER_TOPIC: &str = "AdminCliOrderTopic";
const GROUP2: &str = "cg_cli2";
const CLIENT2: &str = "127.0.0.1@cli#2";

/// A consumer client that answers the broker's GET_CONSUMER_RUNNING_INFO (307) relay with
/// queues 0 and 1 of ORDER_TOPIC (consumerProgress -s shows its IP there, N/A elsewhere)
/// and ignores other pushes (RESET_CONSUMER_CLIENT_OFFSET, NOTIFY_CONSUMER_IDS_CHANGED).
struct RunningInfoClient {
    broker_name: String,
}

impl remoting::RequestHandler for RunningInfoClient {
    fn handle(&self, _conn: Connection, req: RemotingCommand) -> remoting::BoxFuture<Option<RemotingCommand>> {
        let answer = (req.code == request::GET_CONSUMER_RUNNING_INFO).then(|| {
            let mq = |q: i32| {
                serde_json::json!({"brokerName": self.broker_name, "queueId": q, "topic": ORDER_TOPIC}).to_string()
            };
            let body = serde_json::json!({
                "properties": {}, "subscriptionSet": [], "statusTable": {},
                "mqTable": { mq(0): {}, mq(1): {} },
            });
            RemotingCommand::success(&req).with_body(body.to_string().into_bytes())
        });
        Box::pin(async move { answer })
    }
}

async fn consumer2_online(broker: &str, broker_name: &str) -> Connection {
    let stream = tokio::net::TcpStream::connect(broker).await.unwrap();
    let conn = Connection::spawn(
        stream,
        std::sync::Arc::new(RunningInfoClient {
            broker_name: broker_name.to_string(),
        }),
        remoting::frame::DEFAULT_MAX_FRAME_LENGTH,
        tokio_util::sync::CancellationToken::new(),
    )
    .unwrap();
    let heartbeat = format!(
        r#"{{"clientID":"{CLIENT2}","consumerDataSet":[{{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"{GROUP2}","messageModel":"CLUSTERING","subscriptionDataSet":[{{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":7,"tagsSet":[],"topic":"{ORDER_TOPIC}"}}],"unitMode":false}}],"producerDataSet":[{{"groupName":"pg_cli2"}}]}}"#
    );
    let mut hb = RemotingCommand::request(request::HEART_BEAT).with_body(heartbeat.into_bytes());
    hb.version = 409;
    assert_eq!(ask(&conn, hb).await.code, response::SUCCESS);
    // 4 of the 8 messages consumed: offset 1 in every queue.
    for queue_id in 0..4 {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: GROUP2.into(),
            topic: ORDER_TOPIC.into(),
            queue_id,
            commit_offset: 1,
        };
        let res = ask(
            &conn,
            RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &header),
        )
        .await;
        assert_eq!(res.code, response::SUCCESS);
    }
    conn
}

/// A group's committed offset in a queue (-1: none).
async fn committed(conn: &Connection, group: &str, topic: &str, queue_id: i32) -> i64 {
    let mut req = RemotingCommand::request(request::QUERY_CONSUMER_OFFSET);
    for (k, v) in [
        ("consumerGroup", group.to_string()),
        ("topic", topic.to_string()),
        ("queueId", queue_id.to_string()),
    ] {
        req.ext_mut().insert(k, v);
    }
    let res = ask(conn, req).await;
    if res.code != response::SUCCESS {
        return -1;
    }
    res.ext().get("offset").unwrap().parse().unwrap()
}

/// The broker's offset table (GET_ALL_CONSUMER_OFFSET) as text: keys are `topic@group`.
async fn all_offsets(conn: &Connection) -> String {
    let res = ask(conn, RemotingCommand::request(request::GET_ALL_CONSUMER_OFFSET)).await;
    assert_eq!(res.code, response::SUCCESS);
    String::from_utf8(res.body.to_vec()).unwrap()
}

async fn kv_value(namesrv: &str, namespace: &str, key: &str) -> Option<String> {
    let conn = connect(namesrv).await;
    let mut req = RemotingCommand::request(request::GET_KV_CONFIG);
    req.ext_mut().insert("namespace", namespace);
    req.ext_mut().insert("key", key);
    let res = ask(&conn, req).await;
    (res.code == response::SUCCESS).then(|| res.ext().get("value").unwrap_or("").to_string())
}

fn route_perm(cli: &Cli, topic: &str) -> i64 {
    cli.json(&["topicRoute", "-t", topic])["queueDatas"][0]["perm"]
        .as_i64()
        .unwrap()
}

/// The rest of the commands and flags: order conf, topic permission, the cluster of a
/// topic, queries by queue offset and of the consume queue, per-broker consume stats, the
/// producers, a group's config, cloning offsets (208 then 15 per queue, as mqadmin
/// 4.9.8), skipping the accumulated messages (online and offline), KV config, name server
/// config, write permission, the maintenance codes, allocateMQ, and -c/-o/-s/-r variants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_commands_and_flags() {
    rmqadmin_binary();
    let data = tempfile::tempdir().unwrap();
    let server = StandaloneProcess::start(data.path(), &[]).await;
    let broker = format!("127.0.0.1:{}", server.broker_port);
    let ns = server.namesrv_addr.clone();
    let cli = Cli { namesrv: ns.clone() };
    let brokers = cli.json(&["clusterList"])["brokers"].clone();
    let cluster = brokers[0]["cluster"].as_str().unwrap().to_string();
    let broker_name = brokers[0]["brokerName"].as_str().unwrap().to_string();

    // updateTopic -o true: the order conf goes to the name server.
    let text = cli.ok(&[
        "updateTopic",
        "-c",
        &cluster,
        "-t",
        ORDER_TOPIC,
        "-r",
        "4",
        "-w",
        "4",
        "-o",
        "true",
    ]);
    let conf = format!("{broker_name}:4");
    assert!(
        text.contains(&format!("set orderConf. isOrder=true, orderConf=[{conf}]")),
        "{text}"
    );
    assert_eq!(
        kv_value(&ns, "ORDER_TOPIC_CONFIG", ORDER_TOPIC).await.as_deref(),
        Some(conf.as_str())
    );
    eventually(|| {
        if cli.run(&["topicRoute", "-t", ORDER_TOPIC]).code == Some(0) {
            Ok(())
        } else {
            Err("no route".to_string())
        }
    });

    // updateOrderConf get / put / delete.
    let text = cli.ok(&["updateOrderConf", "-t", ORDER_TOPIC, "-m", "get"]);
    assert_eq!(
        text.trim_end(),
        format!("get orderConf success. topic=[{ORDER_TOPIC}], orderConf=[{conf}]")
    );
    let text = cli.ok(&[
        "updateOrderConf",
        "-t",
        ORDER_TOPIC,
        "-m",
        "put",
        "-v",
        &format!("{broker_name}:2"),
    ]);
    assert!(text.starts_with("update orderConf success."), "{text}");
    assert_eq!(
        cli.json(&["updateOrderConf", "-t", ORDER_TOPIC, "-m", "get"])["orderConf"],
        format!("{broker_name}:2")
    );
    let err = cli.fails(&["updateOrderConf", "-t", ORDER_TOPIC, "-m", "put"]);
    assert!(err.contains("please set orderConf with option -v."), "{err}");
    let text = cli.ok(&["updateOrderConf", "-t", ORDER_TOPIC, "-m", "delete"]);
    assert_eq!(
        text.trim_end(),
        format!("delete orderConf success. topic=[{ORDER_TOPIC}]")
    );
    assert_eq!(kv_value(&ns, "ORDER_TOPIC_CONFIG", ORDER_TOPIC).await, None);
    let err = cli.fails(&["updateOrderConf", "-t", ORDER_TOPIC, "-m", "get"]);
    assert!(
        err.contains("QUERY_NOT_FOUND") && err.contains("No config item"),
        "{err}"
    );

    // topicClusterList.
    assert_eq!(cli.ok(&["topicClusterList", "-t", ORDER_TOPIC]), format!("{cluster}\n"));
    assert_eq!(
        cli.json(&["topicClusterList", "-t", ORDER_TOPIC])["clusters"][0],
        cluster.as_str()
    );

    // allocateMQ: 4 queues among 3 clients, averagely: 2, 1, 1.
    let v = cli.json(&["allocateMQ", "-t", ORDER_TOPIC, "-i", "c1,c2,c3"]);
    let ids = |c: &str| -> Vec<i64> {
        v["result"][c]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["queueId"].as_i64().unwrap())
            .collect()
    };
    assert_eq!((ids("c1"), ids("c2"), ids("c3")), (vec![0, 1], vec![2], vec![3]), "{v}");
    assert_eq!(v["result"]["c1"][0]["brokerName"], broker_name.as_str());
    let text = cli.ok(&["allocateMQ", "-t", ORDER_TOPIC, "-i", "c1,c2,c3"]);
    assert!(
        text.starts_with("{\"result\":{\"c1\":[{") && text.ends_with("]}}\n"),
        "{text}"
    );

    // 8 messages, message i in queue i % 4 at offset i / 4.
    for i in 0..8 {
        let qid = (i % 4).to_string();
        let body = format!("order body {i}");
        cli.ok(&[
            "sendMessage",
            "-t",
            ORDER_TOPIC,
            "-p",
            &body,
            "-b",
            &broker_name,
            "-i",
            &qid,
        ]);
    }

    // queryMsgByOffset: queue 1 offset 1 is message 5; nothing printed past the end.
    let text = cli.ok(&[
        "queryMsgByOffset",
        "-t",
        ORDER_TOPIC,
        "-b",
        &broker_name,
        "-i",
        "1",
        "-o",
        "1",
    ]);
    assert!(
        text.contains("order body 5") && text.contains("Queue ID:            1"),
        "{text}"
    );
    let v = cli.json(&[
        "queryMsgByOffset",
        "-t",
        ORDER_TOPIC,
        "-b",
        &broker_name,
        "-i",
        "1",
        "-o",
        "1",
    ]);
    assert_eq!(v["status"], "FOUND");
    assert_eq!(v["message"]["queueOffset"], 1);
    assert_eq!(v["message"]["body"], "order body 5");
    let text = cli.ok(&[
        "queryMsgByOffset",
        "-t",
        ORDER_TOPIC,
        "-b",
        &broker_name,
        "-i",
        "1",
        "-o",
        "9",
    ]);
    assert_eq!(text, "");

    // queryCq: queue 2 holds two units.
    let text = cli.ok(&["queryCq", "-t", ORDER_TOPIC, "-q", "2", "-i", "0", "-c", "5"]);
    assert!(text.contains("Queue data: \nmax: 2, min: 0\n"), "{text}");
    assert_eq!(text.matches("idx: ").count(), 2, "{text}");
    assert!(text.contains("ConsumeQueueData{physicOffset="), "{text}");
    let cq = cli.json(&["queryCq", "-t", ORDER_TOPIC, "-q", "2", "-i", "0", "-b", &broker]);
    let units = cq["queueData"].as_array().unwrap();
    assert_eq!(units.len(), 2);
    assert!(units.iter().all(|u| u["physicSize"].as_i64().unwrap() > 0));
    assert!(units[0]["physicOffset"].as_i64() < units[1]["physicOffset"].as_i64());

    // A consumer of GROUP2 online with 4 of 8 consumed.
    let conn = consumer2_online(&broker, &broker_name).await;
    let text = cli.ok(&["queryCq", "-t", ORDER_TOPIC, "-q", "0", "-i", "0", "-g", GROUP2]);
    assert!(
        text.starts_with("Subscription data: \n") && text.contains(ORDER_TOPIC),
        "{text}"
    );

    // brokerConsumeStats: one row per queue, diff 1 each.
    let v = eventually(|| {
        let v = cli.json(&["brokerConsumeStats", "-b", &broker]);
        if v["queues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["group"] == GROUP2)
            .count()
            == 4
        {
            Ok(v)
        } else {
            Err(format!("{v}"))
        }
    });
    let rows: Vec<&Value> = v["queues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["group"] == GROUP2)
        .collect();
    assert!(rows
        .iter()
        .all(|q| q["diff"] == 1 && q["consumerOffset"] == 1 && q["topic"] == ORDER_TOPIC));
    let text = cli.ok(&["brokerConsumeStats", "-b", &broker, "-l", "1"]);
    assert_eq!(
        table_rows(&text, "#Topic").iter().filter(|r| r[1] == GROUP2).count(),
        4,
        "{text}"
    );
    let text = cli.ok(&["brokerConsumeStats", "-b", &broker, "-l", "2"]);
    assert!(table_rows(&text, "#Topic").iter().all(|r| r[1] != GROUP2), "{text}");

    // consumerProgress -s: the client's IP for the queues it reported, N/A for the others.
    let v = cli.json(&["consumerProgress", "-g", GROUP2, "-s", "true"]);
    let ips: Vec<Value> = v["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["clientIP"].clone())
        .collect();
    assert_eq!(
        ips,
        [
            Value::from("127.0.0.1"),
            Value::from("127.0.0.1"),
            Value::Null,
            Value::Null
        ],
        "{v}"
    );
    let text = cli.ok(&["consumerProgress", "-g", GROUP2, "-s", "true"]);
    let rows = table_rows(&text, "#Topic");
    assert_eq!(rows[0][5], "127.0.0.1", "{text}");
    assert_eq!(rows[3][5], "N/A", "{text}");

    // producer: the producer group of the heartbeat.
    let text = cli.ok(&["producer", "-b", &broker]);
    assert!(
        text.contains(&format!(
            "producer group (pg_cli2) instance : clientId={CLIENT2},remoteIP="
        )),
        "{text}"
    );
    assert_eq!(
        cli.json(&["producer", "-b", &broker])["data"]["pg_cli2"][0]["clientId"],
        CLIENT2
    );

    // getConsumerConfig: the group's config, created with the heartbeat.
    let text = cli.ok(&["getConsumerConfig", "-g", GROUP2]);
    assert!(
        text.contains(&format!("============================={cluster}:{broker_name}=")),
        "{text}"
    );
    assert!(text.contains(&format!("{:<40}=  {GROUP2}", "groupName")), "{text}");
    assert!(text.contains(&format!("{:<40}=  16", "retryMaxTimes")), "{text}");
    assert_eq!(cli.ok(&["getConsumerConfig", "-g", "no_such_group_here"]), "");

    // cloneGroupOffset: the destination group gets the source's offsets.
    let text = cli.ok(&[
        "cloneGroupOffset",
        "-s",
        GROUP2,
        "-d",
        "cg_cli2_clone",
        "-t",
        ORDER_TOPIC,
    ]);
    assert_eq!(
        text.trim_end(),
        format!("clone group offset success. srcGroup[{GROUP2}], destGroup=[cg_cli2_clone], topic[{ORDER_TOPIC}]")
    );
    for q in 0..4 {
        assert_eq!(committed(&conn, "cg_cli2_clone", ORDER_TOPIC, q).await, 1);
    }
    let err = cli.fails(&["cloneGroupOffset", "-s", "no_such_src", "-d", "x", "-t", ORDER_TOPIC]);
    assert!(err.contains("no_such_src"), "{err}");

    // skipAccumulatedMessage with the consumer online (222 -> 220 pushed): offsets at the end.
    let v = cli.json(&["skipAccumulatedMessage", "-g", GROUP2, "-t", ORDER_TOPIC]);
    assert_eq!(v["online"], true, "{v}");
    assert_eq!(v["offsets"].as_array().unwrap().len(), 4);
    assert!(v["offsets"].as_array().unwrap().iter().all(|o| o["offset"] == 2), "{v}");
    assert_eq!(cli.json(&["consumerProgress", "-g", GROUP2])["diffTotal"], 0);
    // Offline: mqadmin's fallback.
    let header = UnregisterClientRequestHeader {
        client_id: CLIENT2.into(),
        producer_group: Some("pg_cli2".into()),
        consumer_group: Some(GROUP2.into()),
    };
    let res = ask(
        &conn,
        RemotingCommand::request_with_header(request::UNREGISTER_CLIENT, &header),
    )
    .await;
    assert_eq!(res.code, response::SUCCESS);
    cli.ok(&["resetOffsetByTime", "-g", GROUP2, "-t", ORDER_TOPIC, "-s", "0"]);
    assert_eq!(cli.json(&["consumerProgress", "-g", GROUP2])["diffTotal"], 8);
    let text = cli.ok(&["skipAccumulatedMessage", "-g", GROUP2, "-t", ORDER_TOPIC]);
    let rows = table_rows(&text, "#brokerName");
    assert_eq!(rows.len(), 4, "{text}");
    assert!(rows.iter().all(|r| r[5] == "2"), "{text}");
    assert_eq!(cli.json(&["consumerProgress", "-g", GROUP2])["diffTotal"], 0);

    // updateTopicPerm on the cluster, then on the broker.
    let text = cli.ok(&["updateTopicPerm", "-c", &cluster, "-t", ORDER_TOPIC, "-p", "4"]);
    assert_eq!(text, format!("update topic perm from 6 to 4 in {broker} success.\n"));
    eventually(|| {
        if route_perm(&cli, ORDER_TOPIC) == 4 {
            Ok(())
        } else {
            Err("perm still 6".to_string())
        }
    });
    let text = cli.ok(&["updateTopicPerm", "-b", &broker, "-t", ORDER_TOPIC, "-p", "4"]);
    assert_eq!(text, "new perm equals to the old one!\n");
    let text = cli.ok(&["updateTopicPerm", "-b", &broker, "-t", ORDER_TOPIC, "-p", "6"]);
    assert!(text.starts_with(&format!("update topic perm from 4 to 6 in {broker} success.\nTopicConfig [topicName={ORDER_TOPIC}, readQueueNums=4, writeQueueNums=4, perm=RW-")), "{text}");
    eventually(|| {
        if route_perm(&cli, ORDER_TOPIC) == 6 {
            Ok(())
        } else {
            Err("perm still 4".to_string())
        }
    });
    let err = cli.fails(&["updateTopicPerm", "-b", "127.0.0.1:1", "-t", ORDER_TOPIC, "-p", "6"]);
    assert!(err.contains("broker not exit or broker is not master"), "{err}");

    // wipeWritePerm / addWritePerm on the name server.
    let text = cli.ok(&["wipeWritePerm", "-b", &broker_name]);
    assert!(
        text.starts_with(&format!(
            "wipe write perm of broker[{broker_name}] in name server[{ns}] OK, "
        )),
        "{text}"
    );
    assert!(
        cli.json(&["wipeWritePerm", "-b", &broker_name])["results"][0]["topicCount"]
            .as_i64()
            .unwrap()
            >= 1
    );
    assert_eq!(route_perm(&cli, ORDER_TOPIC), 4);
    let v = cli.json(&["addWritePerm", "-b", &broker_name]);
    assert_eq!(v["results"][0]["ok"], true);
    assert!(v["results"][0]["topicCount"].as_i64().unwrap() >= 1, "{v}");
    assert_eq!(route_perm(&cli, ORDER_TOPIC), 6);
    assert!(cli
        .ok(&["addWritePerm", "-b", &broker_name])
        .starts_with(&format!("add write perm of broker[{broker_name}]")));

    // KV config and name server config.
    let text = cli.ok(&["updateKvConfig", "-s", "CLI_NS", "-k", "cli.key", "-v", "cli-value"]);
    assert_eq!(text, "create or update kv config to namespace success.\n");
    assert_eq!(kv_value(&ns, "CLI_NS", "cli.key").await.as_deref(), Some("cli-value"));
    let text = cli.ok(&["deleteKvConfig", "-s", "CLI_NS", "-k", "cli.key"]);
    assert_eq!(text, "delete kv config from namespace success.\n");
    assert_eq!(kv_value(&ns, "CLI_NS", "cli.key").await, None);
    let text = cli.ok(&["updateNamesrvConfig", "-k", "orderMessageEnable", "-v", "true"]);
    assert!(
        text.starts_with("update name server config success!") && text.contains("orderMessageEnable : true"),
        "{text}"
    );
    assert_eq!(
        cli.json(&["getNamesrvConfig"])["namesrvs"][&ns]["orderMessageEnable"],
        "true"
    );
    let err = cli.fails(&["updateNamesrvConfig", "-k", "configStorePath", "-v", "/tmp/x"]);
    assert!(err.contains("NO_PERMISSION (code 16)"), "{err}");

    // topicList -c: the topic with its cluster and its consumer groups.
    let v = cli.json(&["topicList", "-c"]);
    let row = v["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == ORDER_TOPIC)
        .unwrap()
        .clone();
    assert_eq!(row["cluster"], cluster.as_str());
    assert!(
        row["consumerGroups"].as_array().unwrap().iter().any(|g| g == GROUP2),
        "{row}"
    );
    let rows = table_rows(&cli.ok(&["topicList", "-c"]), "#Cluster Name");
    assert!(
        rows.iter()
            .any(|r| r.len() == 3 && r[1] == ORDER_TOPIC && r[2] == GROUP2),
        "{rows:?}"
    );

    // brokerStatus -c: every line carries the broker's address.
    let text = cli.ok(&["brokerStatus", "-c", &cluster]);
    assert!(text.lines().all(|l| l.starts_with(&broker)), "{text}");
    assert!(text.lines().any(|l| l.contains("brokerVersionDesc")), "{text}");

    // Maintenance codes: on the broker, the cluster, or every cluster.
    assert_eq!(cli.ok(&["cleanExpiredCQ", "-c", &cluster]), "success");
    assert_eq!(cli.ok(&["deleteExpiredCommitLog", "-b", &broker]), "success");
    assert_eq!(cli.ok(&["cleanUnusedTopic"]), "success");
    assert_eq!(
        cli.json(&["cleanUnusedTopic", "-b", &broker])["brokers"][0],
        broker.as_str()
    );

    // deleteSubGroup -c -r true: the group, its offsets, its retry and DLQ topics go.
    let offset_key = format!("\"{ORDER_TOPIC}@{GROUP2}\"");
    assert!(all_offsets(&conn).await.contains(&offset_key));
    let text = cli.ok(&["deleteSubGroup", "-c", &cluster, "-g", GROUP2, "-r", "true"]);
    assert!(
        text.contains(&format!("delete subscription group [{GROUP2}]")),
        "{text}"
    );
    assert!(subscription_groups(&conn).await.get(GROUP2).is_none());
    let after = all_offsets(&conn).await;
    assert!(!after.contains(&offset_key), "{after}");
    assert!(all_offsets(&conn)
        .await
        .contains(&format!("{ORDER_TOPIC}@cg_cli2_clone")));
    eventually(|| {
        let topics = cli.json(&["topicList"])["topicList"].clone();
        if topics
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == format!("%RETRY%{GROUP2}").as_str())
        {
            Err(format!("retry topic still listed: {topics}"))
        } else {
            Ok(())
        }
    });
    drop(conn);
}
