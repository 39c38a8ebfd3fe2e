//! The decoder must turn any byte sequence into frames, "need more bytes", or an error,
//! never a panic, and valid frames must survive being split at any point.

use bytes::BytesMut;
use proptest::prelude::*;
use remoting::codec::RemotingCodec;
use remoting::{frame, RemotingCommand, SerializeType};
use tokio_util::codec::Decoder;

fn decode_all(bytes: &[u8]) -> Result<Vec<RemotingCommand>, ()> {
    let mut codec = RemotingCodec::new(1 << 20);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(cmd)) => out.push(cmd),
            Ok(None) => return Ok(out),
            Err(_) => return Err(()),
        }
    }
}

fn command_strategy() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i16>(),
        any::<i32>(),
        any::<bool>(),
        proptest::option::of("[a-zA-Z0-9 ]{0,20}"),
        proptest::collection::vec(("[a-zA-Z]{1,8}", ".{0,12}"), 0..5),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(code, opaque, binary, remark, ext, body)| {
            let mut cmd = RemotingCommand::request(code as i32);
            cmd.opaque = opaque;
            cmd.serialize_type = if binary {
                SerializeType::RocketMq
            } else {
                SerializeType::Json
            };
            cmd.remark = remark.filter(|r| !r.is_empty());
            if !ext.is_empty() {
                for (k, v) in ext {
                    cmd.ext_mut().insert(k, v);
                }
            }
            cmd.body = body.into();
            cmd
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_all(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(cmd in command_strategy(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut buf = BytesMut::new();
        frame::encode(&cmd, &mut buf);
        let mut bytes = buf.to_vec();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = decode_all(&bytes);
    }

    #[test]
    fn frames_round_trip_across_any_split(cmds in proptest::collection::vec(command_strategy(), 1..4), split in any::<prop::sample::Index>()) {
        let mut buf = BytesMut::new();
        for cmd in &cmds {
            frame::encode(cmd, &mut buf);
        }
        let at = split.index(buf.len() + 1);
        let mut codec = RemotingCodec::default();
        let mut input = BytesMut::from(&buf[..at]);
        let mut got = Vec::new();
        while let Some(cmd) = codec.decode(&mut input).unwrap() { got.push(cmd); }
        input.extend_from_slice(&buf[at..]);
        while let Some(cmd) = codec.decode(&mut input).unwrap() { got.push(cmd); }
        prop_assert_eq!(got, cmds);
    }
}
