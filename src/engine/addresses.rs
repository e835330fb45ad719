//! Which IP addresses are special: the blocks of IANA's IPv4 and IPv6 Special-Purpose Address
//! Registries that are not globally reachable (webhooks must not reach them), and how a client
//! address is grouped for a per-address cap (an IPv6 client by its /64).
//!
//! Sources: <https://www.iana.org/assignments/iana-ipv4-special-registry> and
//! <https://www.iana.org/assignments/iana-ipv6-special-registry>, plus the multicast blocks.
//! A block whose registry entry says "globally reachable: true" only for a few anycast
//! addresses inside it (192.0.0.0/24, 2001::/23) is refused whole: no webhook lives there.

use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// IPv4 blocks that are not globally reachable.
const V4_BLOCKS: &[&str] = &[
    "0.0.0.0/8",       // "this network" (RFC 791); 0.x reaches the local host on Linux
    "10.0.0.0/8",      // private use (RFC 1918)
    "100.64.0.0/10",   // shared address space, CGNAT (RFC 6598)
    "127.0.0.0/8",     // loopback (RFC 1122)
    "169.254.0.0/16",  // link local (RFC 3927), cloud metadata services
    "172.16.0.0/12",   // private use (RFC 1918)
    "192.0.0.0/24",    // IETF protocol assignments (RFC 6890)
    "192.0.2.0/24",    // documentation, TEST-NET-1 (RFC 5737)
    "192.88.99.0/24",  // 6to4 relay anycast, deprecated (RFC 7526)
    "192.168.0.0/16",  // private use (RFC 1918)
    "198.18.0.0/15",   // benchmarking (RFC 2544)
    "198.51.100.0/24", // documentation, TEST-NET-2 (RFC 5737)
    "203.0.113.0/24",  // documentation, TEST-NET-3 (RFC 5737)
    "224.0.0.0/4",     // multicast (RFC 5771)
    "240.0.0.0/4",     // reserved (RFC 1112), with the limited broadcast 255.255.255.255
];

/// IPv6 blocks that are not globally reachable (the forms embedding an IPv4 address are
/// checked by that address, see [`embedded_v4`]).
const V6_BLOCKS: &[&str] = &[
    "::/96",          // unspecified, loopback, deprecated IPv4-compatible (RFC 4291)
    "64:ff9b:1::/48", // local-use IPv4/IPv6 translation (RFC 8215)
    "100::/64",       // discard-only (RFC 6666)
    "100:0:0:1::/64", // dummy prefix (RFC 9780)
    "2001::/23",      // IETF protocol assignments: Teredo, benchmarking, ORCHID (RFC 2928)
    "2001:db8::/32",  // documentation (RFC 3849)
    "3fff::/20",      // documentation (RFC 9637)
    "5f00::/16",      // segment routing SIDs (RFC 9602)
    "fc00::/7",       // unique local (RFC 4193)
    "fe80::/10",      // link-local unicast (RFC 4291)
    "fec0::/10",      // site-local, deprecated (RFC 3879)
    "ff00::/8",       // multicast (RFC 4291)
];

static V4: LazyLock<Vec<Ipv4Net>> = LazyLock::new(|| parse_all(V4_BLOCKS));
static V6: LazyLock<Vec<Ipv6Net>> = LazyLock::new(|| parse_all(V6_BLOCKS));

fn parse_all<T: std::str::FromStr>(blocks: &[&str]) -> Vec<T> {
    blocks.iter().filter_map(|b| b.parse().ok()).collect()
}

/// Whether `ip` is an address webhooks must not reach without an allow-list entry: in a
/// special-purpose block that is not globally reachable, or an IPv6 form that carries such an
/// IPv4 address (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => V4.iter().any(|n| n.contains(&v4)),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_internal(IpAddr::V4(v4)),
            None => V6.iter().any(|n| n.contains(&v6)),
        },
    }
}

/// The IPv4 address an IPv6 address stands for, where it embeds one a packet is delivered to.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let o = v6.octets();
    let s = v6.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    (s[0] == 0x2002).then(|| Ipv4Addr::new(o[2], o[3], o[4], o[5]))
}

/// The key a client address is counted under for a per-address cap: an IPv4 address (also
/// when mapped into IPv6) as it is, an IPv6 address by its /64, the smallest network a
/// subscriber gets, who can pick any of 2^64 addresses in it.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => Ipv6Net::new(v6, 64).map_or(ip, |n| IpAddr::V6(n.network())),
        },
    }
}
