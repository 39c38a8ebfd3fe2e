//! TLS on a remoting port, configured by Java's keys (`TlsSystemConfig`):
//!
//! * `tls.server.mode`: `disabled` (plain only; a TLS handshake closes the connection),
//!   `permissive` (Java's default: a connection whose first byte is 0x16, a TLS handshake
//!   record, is TLS, any other is plain, on the same port) or `enforcing` (TLS only).
//! * `tls.server.certPath`, `tls.server.keyPath`: PEM certificate chain and PKCS#8/PKCS#1/SEC1
//!   key. Without them and with `tls.test.mode.enable` (default true) the server makes itself
//!   a self-signed certificate at start, as Java's test mode does.
//! * `tls.server.need.client.auth`: `none`, `optional` or `require`, checked against
//!   `tls.server.trustCertPath`.
//! * `tls.config.file` (default `/etc/rocketmq/tls.properties`): the same keys in a file,
//!   read when it exists; keys given directly win.
//!
//! `tls.server.handshakeTimeoutMillis` (ours, 10 s as Netty's SslHandler): a handshake not
//! done by then closes the connection.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disabled,
    Permissive,
    Enforcing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    pub mode: TlsMode,
    pub cert_path: Option<String>,
    pub key_path: Option<String>,
    pub key_password: Option<String>,
    pub need_client_auth: String,
    pub trust_cert_path: Option<String>,
    pub test_mode: bool,
    pub config_file: String,
    pub handshake_timeout: Duration,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            mode: TlsMode::Permissive,
            cert_path: None,
            key_path: None,
            key_password: None,
            need_client_auth: "none".into(),
            trust_cert_path: None,
            test_mode: true,
            config_file: "/etc/rocketmq/tls.properties".into(),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl TlsSettings {
    /// Applies one key; Ok(false) when it is not a TLS key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let value = value.trim();
        let path = || (!value.is_empty()).then(|| value.to_string());
        match key {
            "tls.server.mode" => {
                self.mode = match value.to_ascii_lowercase().as_str() {
                    "disabled" => TlsMode::Disabled,
                    "permissive" => TlsMode::Permissive,
                    "enforcing" => TlsMode::Enforcing,
                    _ => {
                        return Err(format!(
                            "config key {key}: cannot use {value:?} (disabled, permissive or enforcing)"
                        ))
                    }
                }
            }
            "tls.server.certPath" => self.cert_path = path(),
            "tls.server.keyPath" => self.key_path = path(),
            "tls.server.keyPassword" => self.key_password = path(),
            "tls.server.need.client.auth" => self.need_client_auth = value.to_ascii_lowercase(),
            "tls.server.trustCertPath" => self.trust_cert_path = path(),
            "tls.test.mode.enable" => self.test_mode = value.eq_ignore_ascii_case("true"),
            "tls.config.file" => self.config_file = value.to_string(),
            "tls.server.handshakeTimeoutMillis" => {
                let ms: u64 = value
                    .parse()
                    .map_err(|_| format!("config key {key}: cannot use {value:?}"))?;
                self.handshake_timeout = Duration::from_millis(ms.max(1));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mode = match self.mode {
            TlsMode::Disabled => "disabled",
            TlsMode::Permissive => "permissive",
            TlsMode::Enforcing => "enforcing",
        };
        vec![
            ("tls.server.mode", mode.to_string()),
            ("tls.server.certPath", self.cert_path.clone().unwrap_or_default()),
            ("tls.server.keyPath", self.key_path.clone().unwrap_or_default()),
            ("tls.server.need.client.auth", self.need_client_auth.clone()),
            (
                "tls.server.trustCertPath",
                self.trust_cert_path.clone().unwrap_or_default(),
            ),
            ("tls.test.mode.enable", self.test_mode.to_string()),
            ("tls.config.file", self.config_file.clone()),
        ]
    }

    /// These settings with the keys of `tls.config.file` filled in where not set directly.
    fn with_config_file(&self) -> TlsSettings {
        let Ok(text) = std::fs::read_to_string(&self.config_file) else {
            return self.clone();
        };
        let mut merged = TlsSettings::default();
        for (k, v) in crate::properties::parse(&text) {
            let _ = merged.set(&k, &v);
        }
        // Directly given keys win: re-apply every key that differs from the default.
        let defaults = TlsSettings::default();
        for ((k, mine), (_, default)) in self.to_pairs().into_iter().zip(defaults.to_pairs()) {
            if mine != default {
                let _ = merged.set(k, &mine);
            }
        }
        merged.handshake_timeout = self.handshake_timeout;
        merged
    }

    /// The acceptor for TLS connections; `None` when the mode is disabled.
    pub fn acceptor(&self) -> Result<Option<TlsServer>, String> {
        if self.mode == TlsMode::Disabled {
            return Ok(None);
        }
        let s = self.with_config_file();
        if s.key_password.is_some() {
            return Err(
                "tls.server.keyPassword: encrypted private keys are not supported; use an unencrypted PEM key".into(),
            );
        }
        let (certs, key) = match (&s.cert_path, &s.key_path) {
            (Some(cert), Some(key)) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                    .map_err(|e| format!("tls.server.certPath {cert}: {e}"))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("tls.server.certPath {cert}: {e}"))?;
                if certs.is_empty() {
                    return Err(format!("tls.server.certPath {cert}: no certificate in the file"));
                }
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("tls.server.keyPath {key}: {e}"))?;
                (certs, key)
            }
            (None, None) if s.test_mode => self_signed()?,
            _ => {
                return Err(
                    "TLS needs both tls.server.certPath and tls.server.keyPath (or tls.test.mode.enable=true)".into(),
                )
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let config = match s.need_client_auth.as_str() {
            "optional" | "require" => {
                let trust = s
                    .trust_cert_path
                    .as_ref()
                    .ok_or("tls.server.need.client.auth needs tls.server.trustCertPath")?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(trust)
                    .map_err(|e| format!("tls.server.trustCertPath {trust}: {e}"))?
                {
                    roots
                        .add(cert.map_err(|e| format!("tls.server.trustCertPath {trust}: {e}"))?)
                        .map_err(|e| format!("tls.server.trustCertPath {trust}: {e}"))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if s.need_client_auth == "optional" {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder
                    .with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
                    .with_single_cert(certs, key)
            }
            _ => builder.with_no_client_auth().with_single_cert(certs, key),
        }
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
        Ok(Some(TlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            mode: s.mode,
            handshake_timeout: s.handshake_timeout,
        }))
    }
}

/// A certificate for `localhost` and 127.0.0.1 made at start (test mode).
fn self_signed() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(|e| format!("making a self-signed certificate: {e}"))?;
    let key = PrivateKeyDer::try_from(cert.key_pair.serialize_der()).map_err(|e| e.to_string())?;
    Ok((vec![cert.cert.der().clone()], key))
}

/// What an accepting server needs to speak TLS.
#[derive(Clone)]
pub struct TlsServer {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub mode: TlsMode,
    pub handshake_timeout: Duration,
}

/// The first byte of a TLS handshake record.
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// The client side (Java's `tls.enable` and `tls.client.*`): whether outbound connections
/// use TLS, and whether the server's certificate is checked (`tls.client.authServer`,
/// default false, in which case any certificate is accepted, as Java's client does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsClientSettings {
    pub enable: bool,
    pub auth_server: bool,
    pub trust_cert_path: Option<String>,
}

impl TlsClientSettings {
    /// Applies one key; Ok(false) when it is not a TLS client key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let value = value.trim();
        match key {
            "tls.enable" => self.enable = value.eq_ignore_ascii_case("true"),
            "tls.client.authServer" => self.auth_server = value.eq_ignore_ascii_case("true"),
            "tls.client.trustCertPath" => self.trust_cert_path = (!value.is_empty()).then(|| value.to_string()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The connector for outbound TLS; `None` when `tls.enable` is off.
    pub fn connector(&self) -> Result<Option<tokio_rustls::TlsConnector>, String> {
        if !self.enable {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let config = if self.auth_server {
            let trust = self
                .trust_cert_path
                .as_ref()
                .ok_or("tls.client.authServer needs tls.client.trustCertPath")?;
            let mut roots = RootCertStore::empty();
            for cert in
                CertificateDer::pem_file_iter(trust).map_err(|e| format!("tls.client.trustCertPath {trust}: {e}"))?
            {
                roots
                    .add(cert.map_err(|e| format!("tls.client.trustCertPath {trust}: {e}"))?)
                    .map_err(|e| format!("tls.client.trustCertPath {trust}: {e}"))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider)))
                .with_no_client_auth()
        };
        Ok(Some(tokio_rustls::TlsConnector::from(Arc::new(config))))
    }
}

/// Accepts any server certificate, still checking that the handshake is signed by its key
/// (Java's InsecureTrustManagerFactory, what its client uses unless authServer is set).
#[derive(Debug)]
struct AnyServerCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Opens a TLS connection to `addr` ("host:port") through `connector`.
pub async fn connect(
    connector: &tokio_rustls::TlsConnector,
    addr: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_matches(['[', ']']);
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    connector.connect(name, stream).await
}
