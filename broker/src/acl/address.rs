//! White-list address patterns of `plain_acl.yml` (`whiteRemoteAddress`,
//! `globalWhiteRemoteAddresses`), read as Java 4.9.8's RemoteAddressStrategyFactory reads them:
//!
//! * empty or missing: matches no address;
//! * `*`, `*.*.*.*` or `*:*:*:*:*:*:*:*`: matches every address;
//! * `a.b.c.{1,2,3}`: the listed last parts; `a,b,c`: the listed addresses;
//! * a `*` or an `x-y` range in one part (`192.168.*.*`, `192.168.1.10-20`): the first such
//!   part (the second, third or fourth) is compared, the parts before it must be equal;
//! * anything else: one address, compared exactly.
//!
//! IPv6 addresses are compared in their full eight-group form.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq)]
pub enum AddressPattern {
    Nothing,
    Everything,
    Set(Vec<String>),
    /// Parts before the ranged one (with their separators), the ranged part's index and bounds.
    Range {
        head: String,
        index: usize,
        start: u32,
        end: u32,
        v6: bool,
    },
    One(String),
}

/// An address in the form the patterns compare: dotted IPv4, or eight upper-case hex groups.
pub fn canonical(addr: &IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => expand_v6(v6),
        },
    }
}

fn expand_v6(v6: &Ipv6Addr) -> String {
    v6.segments()
        .iter()
        .map(|s| format!("{s:04X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn is_v4(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok()
}

fn parse_v6(s: &str) -> Option<String> {
    s.parse::<Ipv6Addr>().ok().map(|a| expand_v6(&a))
}

fn bad(pattern: &str) -> String {
    format!("Netaddress examine Exception netaddress is {pattern}")
}

impl AddressPattern {
    pub fn parse(pattern: Option<&str>) -> Result<AddressPattern, String> {
        let Some(p) = pattern.map(str::trim).filter(|p| !p.is_empty()) else {
            return Ok(AddressPattern::Nothing);
        };
        if p == "*" || p == "*.*.*.*" || p == "*:*:*:*:*:*:*:*" {
            return Ok(AddressPattern::Everything);
        }
        if p.ends_with('}') {
            let open = p.rfind('{').ok_or_else(|| bad(p))?;
            let (head, list) = (&p[..open], &p[open + 1..p.len() - 1]);
            let v6 = p.contains(':');
            if !v6 && p.split('.').filter(|s| !s.is_empty()).count() < 4 {
                return Err(format!(
                    "MultipleRemoteAddressStrategy has got a/some wrong format IP(s) {p}"
                ));
            }
            let addrs: Vec<String> = list
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| format!("{head}{s}"))
                .collect();
            return Self::set(&addrs);
        }
        if p.contains(',') {
            let addrs: Vec<String> = p
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.trim().to_string())
                .collect();
            return Self::set(&addrs);
        }
        if p.contains('*') || p.contains('-') {
            return Self::range(p);
        }
        if is_v4(p) {
            return Ok(AddressPattern::One(p.to_string()));
        }
        parse_v6(p).map(AddressPattern::One).ok_or_else(|| bad(p))
    }

    fn set(addrs: &[String]) -> Result<AddressPattern, String> {
        let mut set = Vec::new();
        for a in addrs {
            if is_v4(a) {
                set.push(a.clone());
            } else {
                set.push(parse_v6(a).ok_or_else(|| bad(a))?);
            }
        }
        Ok(AddressPattern::Set(set))
    }

    fn range(p: &str) -> Result<AddressPattern, String> {
        let scope = || format!("Netaddress examine scope Exception netaddress is {p}");
        let v6 = p.contains(':');
        let (sep, radix, max, parts): (char, u32, u32, Vec<&str>) = if v6 {
            (':', 16, 0xffff, p.split(':').filter(|s| !s.is_empty()).collect())
        } else {
            ('.', 10, 255, p.split('.').filter(|s| !s.is_empty()).collect())
        };
        let last_index = if v6 { parts.len().saturating_sub(1) } else { 3 };
        for index in 1..=last_index.min(parts.len().saturating_sub(1)) {
            let value = parts[index].trim();
            let (start, end) = if value == "*" {
                (0, max)
            } else if let Some((a, b)) = value.split_once('-') {
                if a.is_empty() {
                    return Err(format!(
                        "RangeRemoteAddressStrategy netaddress examine scope Exception value {value} "
                    ));
                }
                let start = u32::from_str_radix(a.trim(), radix).map_err(|_| scope())?;
                let end = u32::from_str_radix(b.trim(), radix).map_err(|_| scope())?;
                if start > end || end > max {
                    return Err(format!(
                        "RangeRemoteAddressStrategy netaddress examine scope Exception start is {start} , end is {end}"
                    ));
                }
                (start, end)
            } else {
                continue;
            };
            // The parts before the ranged one must be plain numbers.
            for before in &parts[..index] {
                let n = u32::from_str_radix(before.trim(), radix).map_err(|_| scope())?;
                if n > max {
                    return Err(scope());
                }
            }
            let mut head = String::new();
            for before in &parts[..index] {
                if v6 {
                    let n = u32::from_str_radix(before.trim(), 16).unwrap_or(0);
                    head.push_str(&format!("{n:04X}"));
                } else {
                    head.push_str(before.trim());
                }
                head.push(sep);
            }
            return Ok(AddressPattern::Range {
                head,
                index,
                start,
                end,
                v6,
            });
        }
        Err(scope())
    }

    /// Whether `addr` (as [`canonical`] writes it) matches.
    pub fn matches(&self, addr: &str) -> bool {
        match self {
            AddressPattern::Nothing => false,
            AddressPattern::Everything => true,
            AddressPattern::Set(set) => set.iter().any(|a| a == addr),
            AddressPattern::One(one) => one.eq_ignore_ascii_case(addr),
            AddressPattern::Range {
                head,
                index,
                start,
                end,
                v6,
            } => {
                let sep = if *v6 { ':' } else { '.' };
                if *v6 != addr.contains(':') || !addr.starts_with(head.as_str()) {
                    return false;
                }
                let part = addr.split(sep).nth(*index).unwrap_or("");
                let radix = if *v6 { 16 } else { 10 };
                u32::from_str_radix(part, radix).is_ok_and(|n| n >= *start && n <= *end)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, addr: &str) -> bool {
        AddressPattern::parse(Some(pattern)).unwrap().matches(addr)
    }

    #[test]
    fn patterns_match_as_javas_strategies() {
        assert!(!AddressPattern::parse(None).unwrap().matches("127.0.0.1"));
        assert!(!AddressPattern::parse(Some("")).unwrap().matches("127.0.0.1"));
        assert!(m("*", "10.1.2.3"));
        assert!(m("*.*.*.*", "10.1.2.3"));
        assert!(m("192.168.0.{1,2}", "192.168.0.2"));
        assert!(!m("192.168.0.{1,2}", "192.168.0.3"));
        assert!(m("10.0.0.1,10.0.0.9", "10.0.0.9"));
        assert!(m("192.168.*.*", "192.168.77.1"));
        assert!(!m("192.168.*.*", "192.169.77.1"));
        assert!(m("192.168.1.10-20", "192.168.1.15"));
        assert!(!m("192.168.1.10-20", "192.168.1.21"));
        assert!(m("192.*", "192.3.4.5"));
        assert!(m("127.0.0.1", "127.0.0.1"));
        assert!(!m("127.0.0.1", "127.0.0.2"));
        let loopback = canonical(&"::1".parse().unwrap());
        assert_eq!(loopback, "0000:0000:0000:0000:0000:0000:0000:0001");
        assert!(m("::1", &loopback));
        assert!(m("0:0:0:0:0:0:0:1-5", &loopback));
        assert!(AddressPattern::parse(Some("not-an-ip")).is_err());
        assert!(AddressPattern::parse(Some("1.2.3.300")).is_err());
        assert!(AddressPattern::parse(Some("1.2.3.-5")).is_err());
    }
}
