//! A minimal pcap reader: enough to recover the TCP byte streams of the golden captures
//! so that codec tests can work on the exact bytes Java wrote.

use std::collections::{BTreeMap, HashSet};

/// One direction of one TCP connection to a server port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamKey {
    pub client_port: u16,
    pub server_port: u16,
    /// True for client-to-server bytes.
    pub to_server: bool,
}

/// Reassembles the payload of every TCP stream that has one of `server_ports` as an end.
/// Segments are appended in capture order, skipping retransmissions (repeated sequence
/// numbers), which is what loopback captures need.
pub fn tcp_streams(pcap: &[u8], server_ports: &[u16]) -> BTreeMap<StreamKey, Vec<u8>> {
    let magic = u32::from_le_bytes(pcap[0..4].try_into().unwrap());
    let little = match magic {
        0xa1b2c3d4 | 0xa1b23c4d => true,
        0xd4c3b2a1 | 0x4d3cb2a1 => false,
        other => panic!("not a pcap file (magic {other:#x})"),
    };
    let u32_at = |b: &[u8], at: usize| {
        let raw: [u8; 4] = b[at..at + 4].try_into().unwrap();
        if little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        }
    };
    let link = u32_at(pcap, 20);
    let mut streams: BTreeMap<StreamKey, Vec<u8>> = BTreeMap::new();
    let mut seen: HashSet<(StreamKey, u32)> = HashSet::new();
    let mut pos = 24;
    while pos + 16 <= pcap.len() {
        let caplen = u32_at(pcap, pos + 8) as usize;
        let packet = &pcap[pos + 16..(pos + 16 + caplen).min(pcap.len())];
        pos += 16 + caplen;
        let Some(ip) = strip_link(link, packet) else { continue };
        let Some((src, dst, seq, payload)) = tcp_payload(ip) else {
            continue;
        };
        if payload.is_empty() {
            continue;
        }
        let key = if server_ports.contains(&dst) {
            StreamKey {
                client_port: src,
                server_port: dst,
                to_server: true,
            }
        } else if server_ports.contains(&src) {
            StreamKey {
                client_port: dst,
                server_port: src,
                to_server: false,
            }
        } else {
            continue;
        };
        if !seen.insert((key.clone(), seq)) {
            continue;
        }
        streams.entry(key).or_default().extend_from_slice(payload);
    }
    streams
}

fn strip_link(link: u32, packet: &[u8]) -> Option<&[u8]> {
    match link {
        1 => packet.get(14..),   // Ethernet
        113 => packet.get(16..), // Linux cooked
        276 => packet.get(20..), // Linux cooked v2
        0 => packet.get(4..),    // BSD loopback
        101 => Some(packet),     // raw IP
        _ => None,
    }
}

fn tcp_payload(ip: &[u8]) -> Option<(u16, u16, u32, &[u8])> {
    let version = ip.first()? >> 4;
    let (proto, tcp) = match version {
        4 => {
            let ihl = ((ip[0] & 0x0f) as usize) * 4;
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            (ip[9], ip.get(ihl..total.min(ip.len()))?)
        }
        6 => {
            let payload_len = u16::from_be_bytes([ip[4], ip[5]]) as usize;
            (ip[6], ip.get(40..(40 + payload_len).min(ip.len()))?)
        }
        _ => return None,
    };
    if proto != 6 || tcp.len() < 20 {
        return None;
    }
    let src = u16::from_be_bytes([tcp[0], tcp[1]]);
    let dst = u16::from_be_bytes([tcp[2], tcp[3]]);
    let seq = u32::from_be_bytes(tcp[4..8].try_into().unwrap());
    let offset = ((tcp[12] >> 4) as usize) * 4;
    Some((src, dst, seq, tcp.get(offset..)?))
}
