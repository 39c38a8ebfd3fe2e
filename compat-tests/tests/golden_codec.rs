//! Every frame Java sent or received in the golden captures decodes with our codec, and
//! encodes back: JSON headers to equal JSON values, ROCKETMQ headers to identical bytes.

use bytes::BytesMut;
use compat_tests::golden::{self, GoldenFrame};
use compat_tests::pcap;
use remoting::frame::{self, DEFAULT_MAX_FRAME_LENGTH};
use remoting::SerializeType;
use serde_json::Value;

// The name server, the broker and its VIP port, and the slave of 15-ha-replication.
const SERVER_PORTS: [u16; 5] = [9876, 10911, 10909, 10921, 10919];

/// Splits a byte stream into whole frames (raw bytes each).
fn split_frames(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut buf = BytesMut::from(stream);
    let mut out = Vec::new();
    while let Some(size) = frame::check(&buf, DEFAULT_MAX_FRAME_LENGTH).expect("golden stream must be valid") {
        out.push(buf.split_to(size).to_vec());
    }
    assert!(buf.is_empty(), "a golden stream ends in a partial frame");
    out
}

/// Java headers (with serializeTypeCurrentRPC) must re-encode to the same JSON value; other
/// clients' headers are compared after normalising value types, since ext values are
/// carried as text and the serialize-type member is always written.
fn normalise(mut header: Value) -> Value {
    let obj = header.as_object_mut().unwrap();
    obj.remove("serializeTypeCurrentRPC");
    if let Some(Value::Object(ext)) = obj.get_mut("extFields") {
        for v in ext.values_mut() {
            if !v.is_string() {
                *v = Value::String(v.to_string());
            }
        }
        ext.retain(|_, v| !v.is_null());
    }
    header
}

#[test]
fn every_golden_frame_decodes_and_reencodes() {
    let mut checked = 0;
    for name in golden::frame_files() {
        let recorded = golden::load_frames(&name);
        let mut unmatched: Vec<Option<&GoldenFrame>> = recorded.iter().map(Some).collect();
        let capture = std::fs::read(golden::golden_dir().join("pcap").join(format!("{name}.pcap"))).unwrap();
        for (key, bytes) in pcap::tcp_streams(&capture, &SERVER_PORTS) {
            let conn = format!("{}->{}", key.client_port, key.server_port);
            for raw in split_frames(&bytes) {
                let cmd = frame::decode(&raw).unwrap_or_else(|e| panic!("{name} {conn}: frame does not decode: {e}"));
                // The recorded frame with the same connection, code, opaque and flag. Opaques
                // are per direction, so two responses on one connection can share all four
                // (a client request and a broker push with the same opaque): then the one
                // whose header and body size match too.
                let same = |g: &GoldenFrame| {
                    g.conn == conn && g.code == cmd.code && g.opaque == cmd.opaque && g.flag == cmd.flag
                };
                let exact =
                    |g: &GoldenFrame| same(g) && g.body_len == cmd.body.len() && g.to_command().ext() == cmd.ext();
                let want_exact = unmatched.iter().any(|g| g.is_some_and(exact));
                let slot = unmatched
                    .iter_mut()
                    .find(|g| g.is_some_and(|g| if want_exact { exact(g) } else { same(g) }))
                    .unwrap_or_else(|| {
                        panic!(
                            "{name} {conn}: decoded frame code {} opaque {} not in the recording",
                            cmd.code, cmd.opaque
                        )
                    });
                check_frame(&name, &raw, slot.take().unwrap());
                checked += 1;
            }
        }
        assert!(
            unmatched.iter().all(Option::is_none),
            "{name}: some recorded frames were not found in the capture"
        );
    }
    assert!(checked > 400, "only {checked} golden frames checked");
}

fn check_frame(name: &str, raw: &[u8], golden: &GoldenFrame) {
    let cmd = frame::decode(raw).unwrap_or_else(|e| panic!("{name}: frame {} does not decode: {e}", golden.opaque));
    let expect = golden.to_command();
    assert_eq!(cmd.code, expect.code, "{name}");
    assert_eq!(cmd.opaque, expect.opaque, "{name}");
    assert_eq!(cmd.flag, expect.flag, "{name}");
    assert_eq!(cmd.version, expect.version, "{name}");
    assert_eq!(cmd.language, expect.language, "{name}");
    assert_eq!(cmd.ext(), expect.ext(), "{name} opaque {}", golden.opaque);
    assert_eq!(cmd.body.len(), golden.body_len, "{name}");
    assert!(cmd.body.starts_with(&golden.body()), "{name}: body differs");

    let header_len = (u32::from_be_bytes(raw[4..8].try_into().unwrap()) & 0x00FF_FFFF) as usize;
    let raw_header = &raw[8..8 + header_len];
    let ours = frame::encode_header(&cmd);
    match cmd.serialize_type {
        SerializeType::RocketMq => {
            assert_eq!(
                ours, raw_header,
                "{name}: ROCKETMQ header must re-encode to identical bytes"
            );
            let mut whole = BytesMut::new();
            frame::encode(&cmd, &mut whole);
            assert_eq!(&whole[..], raw, "{name}: whole ROCKETMQ frame re-encodes identically");
        }
        SerializeType::Json => {
            // The single-pass header reader and the general JSON parser agree, on what the
            // clients sent and on what we write back.
            for text in [raw_header, &ours[..]] {
                let general = frame::decode_json_header_general(text).unwrap();
                assert_eq!(
                    frame::decode_json_header(text).unwrap(),
                    general,
                    "{name}: header readers differ"
                );
            }
            let original: Value = serde_json::from_slice(raw_header).unwrap();
            let again: Value = serde_json::from_slice(&ours).unwrap();
            if original.get("serializeTypeCurrentRPC").is_some() && golden.header["language"] == "JAVA" {
                assert_eq!(again, original, "{name}: Java JSON header re-encodes to an equal value");
            } else {
                assert_eq!(normalise(again), normalise(original), "{name}: JSON header re-encodes");
            }
        }
    }
}
