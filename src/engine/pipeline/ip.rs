//! `ip("…")` matching (Loki's `log/ip.go`): a pattern is a single address, a CIDR
//! prefix or an `a-b` range, IPv4 or IPv6; the matcher scans text for address-looking
//! runs and tests each one.

use std::net::IpAddr;

/// The error for a pattern that is none of address, CIDR or range.
pub fn invalid_pattern(pattern: &str) -> String {
    format!(
        "ip: invalid pattern: {}",
        crate::go::strconv::quote(pattern)
    )
}

/// A compiled `ip("…")` pattern.
#[derive(Debug, Clone)]
pub enum IpMatcher {
    /// One address.
    Addr(IpAddr),
    /// A CIDR prefix (`addr`, `bits`); host bits are masked on comparison.
    Prefix(IpAddr, u8),
    /// An inclusive range of one family.
    Range(IpAddr, IpAddr),
}

impl IpMatcher {
    /// Parses a pattern the way Loki tries it: address, then prefix, then range.
    pub fn new(pattern: &str) -> Result<IpMatcher, String> {
        if let Some(a) = parse_addr(pattern) {
            return Ok(IpMatcher::Addr(a));
        }
        if let Some((a, bits)) = pattern.split_once('/') {
            if let (Some(addr), Some(bits)) = (parse_addr(a), parse_bits(bits)) {
                let max = if addr.is_ipv4() { 32 } else { 128 };
                if bits <= max {
                    return Ok(IpMatcher::Prefix(addr, bits));
                }
            }
        }
        if let Some((a, b)) = pattern.split_once('-') {
            if let (Some(from), Some(to)) = (parse_addr(a), parse_addr(b)) {
                if from.is_ipv4() == to.is_ipv4() && from <= to {
                    return Ok(IpMatcher::Range(from, to));
                }
            }
        }
        Err(invalid_pattern(pattern))
    }

    /// Whether `ip` is inside the pattern (families never mix, as in Go's `netip`).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match *self {
            IpMatcher::Addr(a) => a == ip,
            IpMatcher::Range(from, to) => from.is_ipv4() == ip.is_ipv4() && from <= ip && ip <= to,
            IpMatcher::Prefix(net, bits) => match (net, ip) {
                (IpAddr::V4(n), IpAddr::V4(i)) => {
                    let mask = if bits == 0 {
                        0
                    } else {
                        u32::MAX << (32 - bits)
                    };
                    u32::from(n) & mask == u32::from(i) & mask
                }
                (IpAddr::V6(n), IpAddr::V6(i)) => {
                    let mask = if bits == 0 {
                        0
                    } else {
                        u128::MAX << (128 - bits)
                    };
                    u128::from(n) & mask == u128::from(i) & mask
                }
                _ => false,
            },
        }
    }

    /// Whether `text` contains an address inside the pattern. Like Loki, it looks for
    /// IPv4 hints (a digit with a dot within the next three bytes) and IPv6 hints (hex
    /// digits followed by a colon), takes the longest run of address characters there
    /// and parses it; a run that is not an address is skipped whole.
    pub fn matches_in(&self, text: &[u8]) -> bool {
        let n = text.len();
        let mut i = 0;
        while i < n {
            if i + 3 < n && ipv4_hint(&text[i..i + 4]) {
                let (ok, len) = self.test_run(text, i, IPV4_CHARS);
                if ok {
                    return true;
                }
                i += len + 1;
                continue;
            }
            if i + 4 < n && ipv6_hint(&text[i..i + 5]) {
                let (ok, len) = self.test_run(text, i, IPV6_CHARS);
                if ok {
                    return true;
                }
                i += len + 1;
                continue;
            }
            i += 1;
        }
        false
    }

    fn test_run(&self, text: &[u8], start: usize, charset: fn(u8) -> bool) -> (bool, usize) {
        let len = text[start..].iter().take_while(|b| charset(**b)).count();
        let run = &text[start..start + len];
        let ok = std::str::from_utf8(run)
            .ok()
            .and_then(parse_addr)
            .is_some_and(|ip| self.contains(ip));
        (ok, len)
    }
}

#[allow(non_snake_case)]
fn IPV4_CHARS(b: u8) -> bool {
    b.is_ascii_digit() || b == b'.'
}

#[allow(non_snake_case)]
fn IPV6_CHARS(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

fn ipv4_hint(p: &[u8]) -> bool {
    p[0].is_ascii_digit() && (p[1] == b'.' || p[2] == b'.' || p[3] == b'.')
}

fn ipv6_hint(p: &[u8]) -> bool {
    let h = |b: u8| b.is_ascii_hexdigit();
    (p[0] == b':' && p[1] == b':' && h(p[2]))
        || (h(p[0]) && p[1] == b':')
        || (h(p[0]) && h(p[1]) && p[2] == b':')
        || (h(p[0]) && h(p[1]) && h(p[2]) && p[3] == b':')
        || (h(p[0]) && h(p[1]) && h(p[2]) && h(p[3]) && p[4] == b':')
}

/// Go's `netip.ParseAddr` for the forms that matter (no zones): Rust's parsers agree
/// with Go on rejecting leading zeros in IPv4 octets.
fn parse_addr(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok()
}

fn parse_bits(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches!(
            IpMatcher::new("192.168.1.5"),
            Ok(IpMatcher::Addr(_))
        ));
        assert!(matches!(
            IpMatcher::new("192.168.0.0/16"),
            Ok(IpMatcher::Prefix(_, 16))
        ));
        assert!(matches!(
            IpMatcher::new("192.168.1.1-192.168.1.9"),
            Ok(IpMatcher::Range(..))
        ));
        assert!(matches!(
            IpMatcher::new("2001:db8::/32"),
            Ok(IpMatcher::Prefix(_, 32))
        ));
        assert_eq!(
            IpMatcher::new("notanip").unwrap_err(),
            "ip: invalid pattern: \"notanip\""
        );
        assert!(IpMatcher::new("").is_err());
        assert!(IpMatcher::new("10.0.0.0/33").is_err());
        assert!(IpMatcher::new("10.0.0.9-10.0.0.1").is_err());
    }

    #[test]
    fn scanning_lines() {
        let m = IpMatcher::new("192.168.1.0/24").unwrap();
        assert!(m.matches_in(b"src 192.168.1.10 ok"));
        assert!(!m.matches_in(b"src 10.0.0.9 ok"));
        assert!(!m.matches_in(b"no ip here"));
        assert!(!m.matches_in(b""));
        let m = IpMatcher::new("10.0.0.0/8").unwrap();
        assert!(m.matches_in(b"client 10.0.0.7:80"));
        let m = IpMatcher::new("2001:db8::/32").unwrap();
        assert!(m.matches_in(b"addr=2001:db8::1"));
        assert!(!m.matches_in(b"addr=192.168.1.5"));
        // IPv4 patterns do not match IPv4-mapped IPv6 addresses (Go's netip).
        let m = IpMatcher::new("1.2.3.4").unwrap();
        assert!(!m.matches_in(b"::ffff:1.2.3.4 "));
        assert!(m.matches_in(b"x=1.2.3.4"));
    }
}
