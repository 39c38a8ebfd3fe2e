//! TLS on the remoting ports, as Java's `tls.server.mode` does it, over real sockets:
//! disabled (plain only), permissive (TLS and plain on one port), enforcing (TLS only); a
//! client that checks the server's certificate against the one the test made; the
//! self-signed certificate of Java's test mode; a handshake that never completes; and a
//! broker registering with a TLS-only name server and serving a TLS producer.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use compat_tests::process::{InProcessBroker, InProcessNamesrv};
use remoting::code::{request, response};
use remoting::tls::TlsClientSettings;
use remoting::{ClientConfig, RemotingClient, RemotingCommand, RemotingError, Router, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ECHO: i32 = 7301;

/// A certificate for 127.0.0.1 and its key, written as PEM files under `dir`.
fn certificate(dir: &Path) -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    (cert_path.display().to_string(), key_path.display().to_string())
}

async fn echo_server(settings: &[(&str, &str)]) -> std::io::Result<remoting::ServerHandle> {
    let mut router = Router::new();
    router.route(ECHO, |_conn, req: RemotingCommand| async move {
        Ok(Some(RemotingCommand::success(&req).with_body(req.body.clone())))
    });
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    for (k, v) in settings {
        assert!(config.settings.set(k, v).unwrap(), "{k} is a server key");
    }
    remoting::serve(config, Arc::new(router)).await
}

fn client(tls: Option<&str>) -> RemotingClient {
    let mut settings = TlsClientSettings::default();
    if let Some(trust) = tls {
        settings.enable = true;
        if !trust.is_empty() {
            settings.auth_server = true;
            settings.trust_cert_path = Some(trust.to_string());
        }
    }
    let config = ClientConfig {
        tls: settings,
        ..Default::default()
    };
    RemotingClient::new(config, Arc::new(remoting::connection::IgnoreRequests))
}

async fn echo(client: &RemotingClient, addr: &str) -> Result<Vec<u8>, RemotingError> {
    let req = RemotingCommand::request(ECHO).with_body(b"over the wire".to_vec());
    client
        .invoke(addr, req, Duration::from_secs(3))
        .await
        .map(|res| res.body.to_vec())
}

#[tokio::test]
async fn each_mode_serves_what_java_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    for (mode, plain_ok, tls_ok) in [
        ("disabled", true, false),
        ("permissive", true, true),
        ("enforcing", false, true),
    ] {
        let server = echo_server(&[
            ("tls.server.mode", mode),
            ("tls.server.certPath", &cert),
            ("tls.server.keyPath", &key),
        ])
        .await
        .unwrap();
        let addr = server.local_addr().to_string();
        let plain = echo(&client(None), &addr).await;
        assert_eq!(plain.is_ok(), plain_ok, "{mode}: plain client: {plain:?}");
        // A client that checks the certificate against the one it trusts.
        let tls = echo(&client(Some(&cert)), &addr).await;
        assert_eq!(tls.is_ok(), tls_ok, "{mode}: TLS client: {tls:?}");
        if let Ok(body) = tls {
            assert_eq!(body, b"over the wire");
        }
        server.shutdown().await;
    }
}

#[tokio::test]
async fn test_mode_makes_a_certificate_and_a_distrustful_client_refuses_it() {
    // Java's defaults: permissive, test mode on, no certificate configured.
    let server = echo_server(&[]).await.unwrap();
    let addr = server.local_addr().to_string();
    assert!(echo(&client(None), &addr).await.is_ok());
    assert!(
        echo(&client(Some("")), &addr).await.is_ok(),
        "a client that does not check accepts it"
    );
    let dir = tempfile::tempdir().unwrap();
    let (other_cert, _) = certificate(dir.path());
    let refused = echo(&client(Some(&other_cert)), &addr).await;
    assert!(refused.is_err(), "a client trusting another certificate refuses it");
    // Enforcing without any certificate is a start-up error, not a plain server.
    let err = echo_server(&[("tls.server.mode", "enforcing"), ("tls.test.mode.enable", "false")])
        .await
        .err()
        .expect("refused to start");
    assert!(err.to_string().contains("tls.server.certPath"), "{err}");
}

/// Reads until the server ends the connection; fails if it does not within 10 s.
async fn closed_by_server(stream: &mut tokio::net::TcpStream) {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open"),
        }
    }
}

#[tokio::test]
async fn a_handshake_that_never_completes_is_closed_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let server = echo_server(&[
        ("tls.server.mode", "enforcing"),
        ("tls.server.certPath", &cert),
        ("tls.server.keyPath", &key),
        ("tls.server.handshakeTimeoutMillis", "300"),
    ])
    .await
    .unwrap();
    let addr = server.local_addr().to_string();
    // A handshake record header, then silence.
    let mut stuck = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stuck.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    closed_by_server(&mut stuck).await;
    // Garbage instead of a ClientHello fails the handshake (an alert at most, then the end).
    let mut garbage = tokio::net::TcpStream::connect(&addr).await.unwrap();
    garbage.write_all(&[0x16; 64]).await.unwrap();
    closed_by_server(&mut garbage).await;
    assert_eq!(echo(&client(Some(&cert)), &addr).await.unwrap(), b"over the wire");
}

#[tokio::test]
async fn a_broker_registers_over_tls_and_serves_a_tls_producer() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let tls_server = [
        ("tls.server.mode", "enforcing"),
        ("tls.server.certPath", cert.as_str()),
        ("tls.server.keyPath", key.as_str()),
    ];
    let namesrv = InProcessNamesrv::start(&tls_server).await;
    let mut broker_settings = tls_server.to_vec();
    broker_settings.extend([
        ("namesrvAddr", namesrv.addr.as_str()),
        ("tls.enable", "true"),
        ("tls.client.authServer", "true"),
        ("tls.client.trustCertPath", cert.as_str()),
    ]);
    let broker = InProcessBroker::start(&broker_settings).await;
    let tls = client(Some(&cert));

    // The broker's registration went over TLS: the name server knows it.
    let info = tls
        .invoke(
            &namesrv.addr,
            RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO),
            Duration::from_secs(3),
        )
        .await
        .unwrap();
    assert_eq!(info.code, response::SUCCESS);
    let text = String::from_utf8_lossy(&info.body).to_string();
    assert!(text.contains(&broker.addr), "{text}");

    let header = remoting::header::broker::CreateTopicRequestHeader::read_write("TlsTopic", 1);
    let req = RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &header);
    assert_eq!(
        tls.invoke(&broker.addr, req, Duration::from_secs(3))
            .await
            .unwrap()
            .code,
        response::SUCCESS
    );
    let send = remoting::header::broker::SendMessageRequestHeader {
        producer_group: "pg_tls".into(),
        topic: "TlsTopic".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 0,
        flag: 0,
        properties: None,
        reconsume_times: None,
        unit_mode: None,
        batch: None,
        max_reconsume_times: None,
    };
    let req = RemotingCommand::request_with_header(request::SEND_MESSAGE, &send).with_body(vec![7u8; 100_000]);
    let sent = tls.invoke(&broker.addr, req, Duration::from_secs(3)).await.unwrap();
    assert_eq!(sent.code, response::SUCCESS, "{:?}", sent.remark);
    let mut view = RemotingCommand::request(request::GET_MAX_OFFSET);
    view.ext_mut().insert("topic", "TlsTopic");
    view.ext_mut().insert("queueId", "0");
    let max = tls.invoke(&broker.addr, view, Duration::from_secs(3)).await.unwrap();
    assert_eq!(max.ext().get("offset"), Some("1"));
    // A plain client is not served.
    assert!(echo(&client(None), &broker.addr).await.is_err());
}
