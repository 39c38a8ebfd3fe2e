//! No Docker engine runs here, so the compose file and Dockerfile are checked for what they
//! promise: the services, ports on 127.0.0.1 only, named volumes, and commands whose flags and
//! config files our binaries really accept (each service's command is run with `-p`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use compat_tests::process::binary;
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| v.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Runs a service's command locally with `-p` (print config and exit), the container's
/// conf directory mapped to the repository's; returns the printed settings.
fn effective_config(command: &[String]) -> BTreeMap<String, String> {
    let conf = repo().join("conf");
    let args: Vec<String> = command[1..]
        .iter()
        .map(|a| a.replace("/home/rocketmq/conf", conf.to_str().unwrap()))
        .collect();
    let out = std::process::Command::new(binary(&command[0]))
        .args(&args)
        .arg("-p")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

#[test]
fn compose_file_matches_the_binaries() {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    let services = doc["services"].as_hash().expect("services");
    let names: Vec<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(names, ["namesrv", "broker-a", "broker-a-s", "broker-b"]);
    let declared_volumes: Vec<&str> = doc["volumes"]
        .as_hash()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();

    let mut namesrv_port = String::new();
    let mut broker_ports = Vec::new();
    for name in names {
        let service = &doc["services"][name];
        assert_eq!(
            service["build"].as_str(),
            Some("."),
            "{name} builds from the repository"
        );
        let command = strings(&service["command"]);
        let config = effective_config(&command);
        let listen_port = config["listenPort"].clone();

        // Published on loopback only, on the port the process listens on, and probed there;
        // a slave sharing its master's network namespace is published by the master.
        let published_by = match service["network_mode"].as_str() {
            Some(mode) => mode.strip_prefix("service:").expect("network_mode service:NAME"),
            None => name,
        };
        let ports = strings(&doc["services"][published_by]["ports"]);
        assert!(
            ports.contains(&format!("127.0.0.1:{listen_port}:{listen_port}")),
            "{name}: port {listen_port} published by {published_by}"
        );
        assert!(
            ports.iter().all(|p| p.starts_with("127.0.0.1:")),
            "{name}: loopback only"
        );
        assert_eq!(
            service["environment"]["RMQ_HEALTH_PORT"].as_str(),
            Some(listen_port.as_str()),
            "{name}"
        );

        // Data on a named volume, at the path the config writes to.
        let volumes = strings(&service["volumes"]);
        let data_volume = volumes
            .iter()
            .find(|v| !v.starts_with("./"))
            .expect("a named data volume");
        let (volume, mount) = data_volume.split_once(':').unwrap();
        assert!(
            declared_volumes.contains(&volume),
            "{name}: volume {volume} is declared"
        );
        if command[0] == "namesrv" {
            namesrv_port = listen_port;
            assert!(
                config["kvConfigPath"].starts_with(mount),
                "{name}: KV config under {mount}"
            );
        } else {
            assert_eq!(command[0], "broker");
            // A slave (brokerId > 0) belongs to its master's broker group.
            let group = if config["brokerId"] == "0" {
                name
            } else {
                name.trim_end_matches("-s")
            };
            assert_eq!(config["brokerName"], group);
            if config["brokerId"] != "0" {
                assert_eq!(
                    service["depends_on"][group]["condition"].as_str(),
                    Some("service_healthy"),
                    "{name} starts after its master"
                );
            } else {
                assert_eq!(
                    service["depends_on"]["namesrv"]["condition"].as_str(),
                    Some("service_healthy")
                );
            }
            assert_eq!(
                config["brokerIP1"], "127.0.0.1",
                "{name}: clients on the host reach it there"
            );
            broker_ports.push(listen_port);
            let conf_file = command.iter().find(|a| a.ends_with(".conf")).unwrap();
            let conf_text = std::fs::read_to_string(
                conf_file.replace("/home/rocketmq/conf", repo().join("conf").to_str().unwrap()),
            )
            .unwrap();
            assert!(
                conf_text.lines().any(|l| l == format!("storePathRootDir={mount}")),
                "{name}: store on the volume"
            );
            if config["brokerId"] != "0" {
                assert!(conf_text.lines().any(|l| l == "brokerRole=SLAVE"), "{name} is a slave");
            }
            assert_eq!(config["namesrvAddr"], format!("namesrv:{namesrv_port}"));
        }
    }
    assert_eq!(broker_ports.len(), 3);
    let distinct: std::collections::BTreeSet<_> = broker_ports.iter().collect();
    assert_eq!(distinct.len(), 3, "the brokers publish different host ports");
}

#[test]
fn dockerfile_builds_from_registries_and_runs_unprivileged() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage");
    assert!(froms[0].starts_with("FROM rust:") && froms[0].ends_with(" AS build"));
    assert!(froms[1].starts_with("FROM debian:") && froms[1].contains("slim"));
    assert!(text.contains("RUN cargo build --release --bins"));
    assert!(text.lines().any(|l| l.starts_with("USER ") && !l.contains("root")));
    assert!(text.contains("HEALTHCHECK"));
    // Only the Rust and Debian registries: nothing fetched by URL.
    assert!(!text.contains("curl") && !text.contains("wget") && !text.contains("http"));
    // Every binary the compose commands use is installed into the image.
    for bin in ["namesrv", "broker"] {
        assert!(text.contains(&format!("target/release/{bin}")), "{bin} is installed");
    }
}
