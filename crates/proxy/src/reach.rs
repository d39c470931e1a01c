//! Where the proxy may connect. A pupil who can make Ward connect to `127.0.0.1` reaches the
//! staff console, the proxy itself (a loop) and anything else listening on the machine; one who
//! can reach private addresses reaches the school's printers, switches and management pages. So
//! the address is checked at connect time, after the name is resolved (a name that resolves to
//! `127.0.0.1`, or that changes its answer between the decision and the connection, gets no
//! further), and whatever the URL was written as:
//!
//! 1. Ward's own listening addresses (the proxy, the console, the DNS filter): never.
//! 2. Servers the technician names (`proxy.internal_servers`, an address or network with an
//!    optional port: an intranet server, or the test and benchmark origins on loopback): yes.
//! 3. Loopback, link-local, unspecified, multicast, broadcast and reserved addresses, and the
//!    machine's own addresses: never.
//! 4. Private addresses (RFC 1918, shared address space, unique local IPv6): per policy group
//!    (`private_networks`), blocked for pupils and guests by default.
//! 5. Everything else: yes.
//!
//! IPv4 addresses inside IPv6 ones (`::ffff:127.0.0.1`, NAT64's `64:ff9b::7f00:1`, 6to4's
//! `2002:7f00:1::`) are checked as the IPv4 address they carry.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

/// How long the machine's own addresses are kept before they are read again (DHCP can change
/// them).
const MACHINE_ADDRESSES_TIME: Duration = Duration::from_secs(30);

/// Why the proxy will not connect to an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// One of Ward's own listening addresses.
    Ward,
    /// A loopback address (`127.0.0.0/8`, `::1`).
    Loopback,
    /// A link-local address (`169.254.0.0/16`, `fe80::/10`).
    LinkLocal,
    /// An address that is not a single host on a network: unspecified, multicast, broadcast,
    /// reserved.
    NotAHost,
    /// One of the addresses of the machine Ward runs on.
    ThisMachine,
    /// A private address, and the group may not reach private networks.
    Private,
}

impl Refusal {
    /// The reason, as events and messages give it.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Ward => "Ward's own address",
            Refusal::Loopback => "a loopback address",
            Refusal::LinkLocal => "a link-local address",
            Refusal::NotAHost => "an address that is not a host",
            Refusal::ThisMachine => "an address of the machine Ward runs on",
            Refusal::Private => "an address on a private network",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// The kind of an address, for [`Reach::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// Reachable on the internet.
    Public,
    /// On a private network (RFC 1918, RFC 6598, RFC 4193).
    Private,
    /// Refused whatever the group.
    Never(Refusal),
}

/// The IPv4 address an IPv6 address carries, if it is one of the forms that carry one.
fn embedded_ipv4(v6: &Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = v6.segments();
    let low = || Ipv4Addr::from(((segments[6] as u32) << 16) | segments[7] as u32);
    // NAT64's well-known prefix 64:ff9b::/96 (RFC 6052) and the local-use 64:ff9b:1::/48.
    if segments[0] == 0x64 && segments[1] == 0xff9b {
        return Some(low());
    }
    // 6to4, 2002:AABB:CCDD::/48 (RFC 3056).
    if segments[0] == 0x2002 {
        return Some(Ipv4Addr::from(
            ((segments[1] as u32) << 16) | segments[2] as u32,
        ));
    }
    // IPv4-compatible addresses (::a.b.c.d, deprecated) other than :: and ::1.
    if segments[..6] == [0; 6] && !matches!(segments[6..], [0, 0] | [0, 1]) {
        return Some(low());
    }
    None
}

/// An address in the one form it is checked in: IPv4 for an IPv6 address that carries one.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_ipv4(&v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What kind of address `ip` is (see the module's list).
pub fn kind_of(ip: IpAddr) -> AddressKind {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                AddressKind::Never(Refusal::Loopback)
            } else if v4.is_link_local() {
                AddressKind::Never(Refusal::LinkLocal)
            } else if a == 0 || v4.is_multicast() || v4.is_broadcast() || a >= 240 {
                // 0.0.0.0/8 is "this network" (Linux connects 0.0.0.0 to the machine itself);
                // 240.0.0.0/4 is reserved.
                AddressKind::Never(Refusal::NotAHost)
            } else if v4.is_private() || (a == 100 && (b & 0xc0) == 64) {
                AddressKind::Private
            } else {
                AddressKind::Public
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                AddressKind::Never(Refusal::Loopback)
            } else if (first & 0xffc0) == 0xfe80 {
                AddressKind::Never(Refusal::LinkLocal)
            } else if v6.is_unspecified() || v6.is_multicast() || (first & 0xffc0) == 0xfec0 {
                // fec0::/10 were site-local addresses (deprecated, still routed locally).
                AddressKind::Never(Refusal::NotAHost)
            } else if (first & 0xfe00) == 0xfc00 {
                AddressKind::Private
            } else {
                AddressKind::Public
            }
        }
    }
}

/// A server, or network of servers, that the technician has named as reachable although its
/// address would otherwise be refused: `ADDRESS`, `ADDRESS/PREFIX`, `ADDRESS:PORT`,
/// `[IPV6]:PORT`, `ADDRESS/PREFIX:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InternalServer {
    network: IpAddr,
    prefix: u8,
    port: Option<u16>,
}

/// Why an internal server's text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an address, ADDRESS/PREFIX or ADDRESS:PORT")]
pub struct BadInternalServer {
    /// What was written.
    pub text: String,
}

impl FromStr for InternalServer {
    type Err = BadInternalServer;

    fn from_str(text: &str) -> Result<InternalServer, BadInternalServer> {
        let bad = || BadInternalServer {
            text: text.to_owned(),
        };
        let text = text.trim();
        // `[v6]:port`, `[v6]`, `v4:port`, `v4/prefix:port`; a bare IPv6 address has colons.
        let (address, port) = if let Some(rest) = text.strip_prefix('[') {
            let (address, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or_else(bad)?),
            };
            (address, port)
        } else if text.matches(':').count() == 1 {
            let (address, port) = text.split_once(':').ok_or_else(bad)?;
            (address, Some(port))
        } else {
            (text, None)
        };
        let port = match port {
            Some(port) => Some(
                port.parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(bad)?,
            ),
            None => None,
        };
        let (ip, prefix) = match address.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (address, None),
        };
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        let ip = canonical(ip);
        let most = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= most)
                .ok_or_else(bad)?,
            None => most,
        };
        Ok(InternalServer {
            network: ip,
            prefix,
            port,
        })
    }
}

impl InternalServer {
    /// Whether `address` is this server (or in this network, on this port if one is named).
    fn contains(&self, address: SocketAddr) -> bool {
        if self.port.is_some_and(|port| port != address.port()) {
            return false;
        }
        match (self.network, canonical(address.ip())) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The addresses of the machine's network interfaces, read now.
fn read_machine_addresses() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces
            .into_iter()
            .map(|interface| canonical(interface.ip()))
            .collect(),
        Err(error) => {
            // Loopback and link-local are refused anyway; the machine's other addresses are
            // private in almost every school, so pupils are still kept off them.
            tracing::warn!(%error, "cannot read the machine's addresses");
            Vec::new()
        }
    }
}

/// The proxy's rule for where it may connect (see the module's documentation).
#[derive(Debug)]
pub struct Reach {
    /// Ward's own listening addresses, all front ends (the proxy's are added once bound).
    own: ArcSwap<Vec<SocketAddr>>,
    internal: Vec<InternalServer>,
    /// The machine's addresses and when they were read.
    machine: ArcSwap<(Instant, Vec<IpAddr>)>,
}

impl Reach {
    /// A rule refusing `own` (Ward's listening addresses) and allowing `internal`.
    pub fn new(own: Vec<SocketAddr>, internal: Vec<InternalServer>) -> Reach {
        Reach {
            own: ArcSwap::from_pointee(own),
            internal,
            machine: ArcSwap::from_pointee((Instant::now(), read_machine_addresses())),
        }
    }

    /// Adds listening addresses of Ward's (the proxy's own, once bound).
    pub fn add_own(&self, addresses: &[SocketAddr]) {
        self.own.rcu(|own| {
            let mut own = Vec::clone(own);
            own.extend_from_slice(addresses);
            own
        });
    }

    /// The machine's addresses, read again when they are older than
    /// [`MACHINE_ADDRESSES_TIME`].
    fn machine_addresses(&self) -> Arc<(Instant, Vec<IpAddr>)> {
        let machine = self.machine.load_full();
        if machine.0.elapsed() <= MACHINE_ADDRESSES_TIME {
            return machine;
        }
        let fresh = Arc::new((Instant::now(), read_machine_addresses()));
        self.machine.store(fresh.clone());
        fresh
    }

    /// Whether the proxy may connect to `address` for a client whose group may
    /// (`private_networks`) or may not reach private addresses.
    pub fn check(&self, address: SocketAddr, private_networks: bool) -> Result<(), Refusal> {
        let ip = canonical(address.ip());
        let kind = kind_of(ip);
        // Ward's own listeners: the address itself, or any of the machine's (or loopback, or
        // unspecified) at the port of a listener bound to every address.
        let on_this_machine = || {
            matches!(
                kind,
                AddressKind::Never(Refusal::Loopback | Refusal::NotAHost)
            ) || self.machine_addresses().1.contains(&ip)
        };
        for own in self.own.load().iter() {
            if own.port() == address.port()
                && (canonical(own.ip()) == ip || (own.ip().is_unspecified() && on_this_machine()))
            {
                return Err(Refusal::Ward);
            }
        }
        if self
            .internal
            .iter()
            .any(|server| server.contains(SocketAddr::new(ip, address.port())))
        {
            return Ok(());
        }
        match kind {
            AddressKind::Never(refusal) => return Err(refusal),
            _ if self.machine_addresses().1.contains(&ip) => return Err(Refusal::ThisMachine),
            AddressKind::Private if !private_networks => return Err(Refusal::Private),
            AddressKind::Private | AddressKind::Public => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> SocketAddr {
        text.parse().expect("socket address")
    }

    #[test]
    fn addresses_are_classified() {
        for (ip, kind) in [
            ("127.0.0.1", AddressKind::Never(Refusal::Loopback)),
            ("127.255.1.2", AddressKind::Never(Refusal::Loopback)),
            ("::1", AddressKind::Never(Refusal::Loopback)),
            ("::ffff:127.0.0.1", AddressKind::Never(Refusal::Loopback)),
            ("64:ff9b::7f00:1", AddressKind::Never(Refusal::Loopback)),
            ("2002:7f00:1::", AddressKind::Never(Refusal::Loopback)),
            ("::127.0.0.1", AddressKind::Never(Refusal::Loopback)),
            ("169.254.169.254", AddressKind::Never(Refusal::LinkLocal)),
            ("fe80::1", AddressKind::Never(Refusal::LinkLocal)),
            ("0.0.0.0", AddressKind::Never(Refusal::NotAHost)),
            ("0.1.2.3", AddressKind::Never(Refusal::NotAHost)),
            ("::", AddressKind::Never(Refusal::NotAHost)),
            ("224.0.0.1", AddressKind::Never(Refusal::NotAHost)),
            ("255.255.255.255", AddressKind::Never(Refusal::NotAHost)),
            ("240.0.0.1", AddressKind::Never(Refusal::NotAHost)),
            ("ff02::1", AddressKind::Never(Refusal::NotAHost)),
            ("10.1.2.3", AddressKind::Private),
            ("172.16.0.1", AddressKind::Private),
            ("172.31.255.255", AddressKind::Private),
            ("192.168.1.1", AddressKind::Private),
            ("100.64.0.1", AddressKind::Private),
            ("100.127.255.254", AddressKind::Private),
            ("::ffff:10.0.0.1", AddressKind::Private),
            ("fd00::1", AddressKind::Private),
            ("172.32.0.1", AddressKind::Public),
            ("100.128.0.1", AddressKind::Public),
            ("93.184.216.34", AddressKind::Public),
            ("2001:db8::1", AddressKind::Public),
            ("2a00:1450::1", AddressKind::Public),
        ] {
            assert_eq!(kind_of(ip.parse().expect("ip")), kind, "{ip}");
        }
    }

    #[test]
    fn internal_servers_are_read() {
        for (text, inside, outside) in [
            ("127.0.0.1:8081", "127.0.0.1:8081", "127.0.0.1:8080"),
            ("10.0.0.0/24", "10.0.0.77:443", "10.0.1.1:443"),
            ("10.0.0.0/24:80", "10.0.0.9:80", "10.0.0.9:81"),
            ("[::1]:9000", "[::1]:9000", "[::1]:9001"),
            ("fd00::/8", "[fd12::1]:80", "[fe80::1]:80"),
            ("192.168.1.5", "192.168.1.5:1", "192.168.1.6:1"),
            ("::ffff:127.0.0.1", "127.0.0.1:5", "127.0.0.2:5"),
        ] {
            let server: InternalServer = text.parse().expect(text);
            assert!(server.contains(address(inside)), "{text} holds {inside}");
            assert!(!server.contains(address(outside)), "{text} not {outside}");
        }
        for bad in [
            "",
            "localhost",
            "10.0.0.0/33",
            "10.0.0.1:0",
            "10.0.0.1:99999",
            "[::1",
            "[::1]x",
            "1.2.3.4:80:90",
        ] {
            assert!(bad.parse::<InternalServer>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn loopback_link_local_and_wards_own_addresses_are_refused() {
        let reach = Reach::new(vec![address("127.0.0.1:8080")], Vec::new());
        assert_eq!(
            reach.check(address("127.0.0.1:8080"), true),
            Err(Refusal::Ward)
        );
        assert_eq!(
            reach.check(address("127.0.0.1:22"), true),
            Err(Refusal::Loopback)
        );
        assert_eq!(
            reach.check(address("[::ffff:7f00:1]:22"), true),
            Err(Refusal::Loopback)
        );
        assert_eq!(
            reach.check(address("169.254.169.254:80"), true),
            Err(Refusal::LinkLocal)
        );
        assert_eq!(
            reach.check(address("0.0.0.0:80"), true),
            Err(Refusal::NotAHost)
        );
        assert_eq!(reach.check(address("93.184.216.34:443"), false), Ok(()));
    }

    #[test]
    fn private_networks_follow_the_group() {
        let reach = Reach::new(Vec::new(), Vec::new());
        assert_eq!(
            reach.check(address("192.0.2.1:80"), false),
            Ok(()),
            "documentation addresses are not private"
        );
        assert_eq!(
            reach.check(address("10.9.9.9:80"), false),
            Err(Refusal::Private)
        );
        // The machine's own addresses are never reached, even by staff; others are.
        let machine = reach.machine_addresses();
        for ip in ["10.9.9.9", "192.168.200.200"] {
            let ip: IpAddr = ip.parse().expect("ip");
            if !machine.1.contains(&ip) {
                assert_eq!(reach.check(SocketAddr::new(ip, 80), true), Ok(()));
            }
        }
        assert!(!machine.1.is_empty(), "the machine has addresses");
        for ip in machine.1.iter() {
            assert!(reach.check(SocketAddr::new(*ip, 80), true).is_err(), "{ip}");
        }
    }

    #[test]
    fn named_internal_servers_are_reached_but_never_ward_itself() {
        let reach = Reach::new(
            vec![address("0.0.0.0:3128"), address("127.0.0.1:8080")],
            vec![
                "127.0.0.1".parse().expect("server"),
                "10.0.0.0/8".parse().expect("server"),
            ],
        );
        assert_eq!(reach.check(address("127.0.0.1:8081"), false), Ok(()));
        assert_eq!(reach.check(address("10.2.3.4:80"), false), Ok(()));
        assert_eq!(
            reach.check(address("127.0.0.1:8080"), false),
            Err(Refusal::Ward)
        );
        // A listener on every address is reached by any of the machine's addresses.
        assert_eq!(
            reach.check(address("127.0.0.1:3128"), false),
            Err(Refusal::Ward)
        );
        assert_eq!(
            reach.check(address("127.9.9.9:3128"), false),
            Err(Refusal::Ward)
        );
        assert_eq!(
            reach.check(address("0.0.0.0:3128"), false),
            Err(Refusal::Ward)
        );
        for ip in reach.machine_addresses().1.iter() {
            assert_eq!(
                reach.check(SocketAddr::new(*ip, 3128), true),
                Err(Refusal::Ward),
                "{ip}"
            );
        }
    }
}
