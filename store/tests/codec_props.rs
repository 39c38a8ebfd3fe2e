//! Property tests of the message codec.

use std::net::SocketAddr;

use proptest::prelude::*;
use store::codec::{self, EncodeFields};

fn addr(v6: bool, seed: u16) -> SocketAddr {
    if v6 {
        format!("[2001:db8::{seed:x}]:{seed}").parse().unwrap()
    } else {
        format!("10.0.{}.{}:{seed}", seed >> 8, seed & 0xff).parse().unwrap()
    }
}

proptest! {
    #[test]
    fn encode_then_decode_gives_the_fields_back(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        topic in "[A-Za-z0-9_%-]{1,60}",
        props in proptest::collection::vec(("[A-Za-z]{1,8}", "[ -~&&[^\u{1}\u{2}]]{1,12}"), 0..6),
        queue_id in 0i32..64, queue_offset in 0i64..1_000_000, phys in 0i64..(1 << 40),
        flag in any::<i32>(), born_v6 in any::<bool>(), store_v6 in any::<bool>(), seed in any::<u16>(),
    ) {
        let born = addr(born_v6, seed);
        let store = addr(store_v6, seed.wrapping_add(1));
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in props { codec::insert_property(&mut pairs, &k, &v); }
        let ps = codec::properties_to_string(&pairs);
        let sys_flag = codec::host_v6_flags(&born, &store);
        let mut out = Vec::new();
        codec::encode_message(&mut out, &EncodeFields {
            body_crc: codec::body_crc(&body), queue_id, flag, queue_offset, physical_offset: phys, sys_flag,
            born_timestamp: 7, born_host: &born, store_timestamp: 9, store_host: &store, reconsume_times: 1,
            prepared_transaction_offset: 0, body: &body, topic: topic.as_bytes(), properties: &[ps.as_bytes()],
        });
        let m = codec::decode_message(&out).unwrap();
        prop_assert_eq!(m.store_size as usize, out.len());
        prop_assert_eq!(m.body.as_ref(), body.as_slice());
        prop_assert_eq!(&m.topic, &topic);
        prop_assert_eq!(&m.properties, &pairs);
        prop_assert_eq!(m.born_host, born);
        prop_assert_eq!(m.store_host, store);
        prop_assert_eq!(m.queue_offset, queue_offset);
        prop_assert_eq!(m.commit_log_offset, phys);
        prop_assert_eq!(m.flag, flag);
        prop_assert_eq!(codec::decode_offset_msg_id(&m.offset_msg_id()), Some((store, phys)));
        let is_message = matches!(codec::check_record(&out, true), codec::RecordCheck::Message(_));
        prop_assert!(is_message);
        // Any truncation is reported, never a panic.
        for cut in [0, 3, 8, out.len() / 2, out.len() - 1] {
            prop_assert!(codec::decode_message(&out[..cut]).is_err());
        }
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = codec::decode_message(&data);
        let _ = codec::check_record(&data, true);
        let _ = codec::decode_messages(&data);
        let _ = codec::decode_batch_body(&data);
        let _ = codec::string_to_properties(&String::from_utf8_lossy(&data));
    }
}
