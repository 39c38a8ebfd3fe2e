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
        rows.iter().all(|q| q["rollbackOffset"] == 0 && q["consumerOffset"] == 5),
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
