//! Canonical host names: the one place where a raw host becomes the form every list and policy
//! lookup uses.
//!
//! A filter is only as good as its normalisation: a blocked site must not become reachable by
//! writing its name differently. The canonical form of a host is
//! - for a domain: lower-case ASCII (internationalised names in punycode, per UTS #46), no
//!   trailing dot, every label 1–63 bytes of `[a-z0-9_-]`, at most 253 bytes in all;
//! - for an IPv4 address: dotted decimal, whatever form it was written in (decimal `3232235777`,
//!   octal `0300.0250.0.1`, hex `0xc0a80001`, short `192.168.257`), following the WHATWG URL
//!   standard, which is what browsers do;
//! - for an IPv6 address: the RFC 5952 text form; an IPv4-mapped address (`::ffff:1.2.3.4`)
//!   becomes the IPv4 address it reaches.
//!
//! Underscores are accepted because real DNS names (and the UT1 lists) use them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Longest domain name in presentation form, without the trailing dot (RFC 1035).
pub const MAX_DOMAIN_LEN: usize = 253;
/// Longest label (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// Why a host could not be put into canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The host was empty (or only a dot).
    #[error("empty host")]
    Empty,
    /// The name is longer than 253 bytes once in ASCII form.
    #[error("host name longer than {MAX_DOMAIN_LEN} bytes")]
    TooLong,
    /// A label is empty (`a..b`) or longer than 63 bytes.
    #[error("empty or over-long label in host name")]
    BadLabel,
    /// A character that cannot appear in a host name.
    #[error("character {0:?} not allowed in a host name")]
    BadCharacter(char),
    /// The name ends in a number but is not a valid IPv4 address (WHATWG rejects these, and so
    /// do we, rather than guess what a client would do).
    #[error("looks like an IPv4 address but is not a valid one")]
    BadIpv4,
    /// A bracketed literal that is not a valid IPv6 address.
    #[error("invalid IPv6 address literal")]
    BadIpv6,
    /// Internationalised name that UTS #46 processing rejects.
    #[error("invalid internationalised domain name")]
    BadIdn,
    /// A `%` escape that is not two hex digits, or that decodes to invalid UTF-8.
    #[error("invalid percent-encoding in host")]
    BadPercentEncoding,
}

/// A host in canonical form: a domain name or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// A domain name.
    Domain(DomainName),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (never an IPv4-mapped one: those become [`Host::Ipv4`]).
    Ipv6(Ipv6Addr),
}

/// A domain name in canonical form (see the module documentation). The only way to build one is
/// through [`Host::parse`] or [`DomainName::from_str`], so holding one means it is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// Wraps text the caller has already checked is in canonical form.
    pub(crate) fn from_canonical(text: String) -> DomainName {
        debug_assert!(
            matches!(parse_ascii_host(&text), Ok(Host::Domain(ref name)) if name.0 == text)
        );
        DomainName(text)
    }

    /// The canonical text, e.g. `www.example.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This name and every parent domain, most specific first
    /// (`a.b.com`, `b.com`, `com`).
    pub fn suffixes(&self) -> impl Iterator<Item = &str> {
        let name = self.0.as_str();
        std::iter::once(name).chain(
            name.char_indices()
                .filter(|&(_, c)| c == '.')
                .map(move |(i, _)| &name[i + 1..]),
        )
    }

    /// Whether this name is `domain` or one of its subdomains (`a.b.com` is within `b.com`, not
    /// within `ab.com`); `domain` is compared as written, so give it in canonical form.
    pub fn is_within(&self, domain: &str) -> bool {
        self.suffixes().any(|suffix| suffix == domain)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DomainName {
    type Err = HostError;

    /// Parses a host that must be a domain name; IP addresses are refused as
    /// [`HostError::BadCharacter`] would not describe them, so they get [`HostError::BadLabel`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match Host::parse(text)? {
            Host::Domain(name) => Ok(name),
            Host::Ipv4(_) | Host::Ipv6(_) => Err(HostError::BadLabel),
        }
    }
}

impl Host {
    /// Puts a raw host (as found in a URL, a Host header, a DNS question or a list file) into
    /// canonical form. Accepts percent-encoding, a trailing dot, upper case, Unicode, IPv4 in any
    /// WHATWG form and bracketed IPv6 (brackets optional).
    pub fn parse(raw: &str) -> Result<Host, HostError> {
        let decoded;
        let mut text = raw;
        if text.contains('%') {
            decoded = percent_decode_host(text)?;
            text = &decoded;
        }
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(HostError::BadIpv6)?;
            let address: Ipv6Addr = inner.parse().map_err(|_| HostError::BadIpv6)?;
            return Ok(Host::from_ip(IpAddr::V6(address)));
        }
        if text.contains(':') {
            let address: Ipv6Addr = text.parse().map_err(|_| HostError::BadIpv6)?;
            return Ok(Host::from_ip(IpAddr::V6(address)));
        }
        if text.is_ascii() {
            parse_ascii_host(text)
        } else {
            // UTS #46 maps full-width dots, compatibility characters and case, then encodes to
            // punycode; the result is checked again as ASCII so that its labels obey our rules.
            let ascii = idna::domain_to_ascii(text).map_err(|_| HostError::BadIdn)?;
            if !ascii.is_ascii() {
                return Err(HostError::BadIdn);
            }
            parse_ascii_host(&ascii)
        }
    }

    /// The canonical host for an IP address (IPv4-mapped IPv6 becomes IPv4).
    pub fn from_ip(address: IpAddr) -> Host {
        match address {
            IpAddr::V4(v4) => Host::Ipv4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Host::Ipv4(v4),
                None => Host::Ipv6(v6),
            },
        }
    }

    /// The domain name, if this host is one.
    pub fn domain(&self) -> Option<&DomainName> {
        match self {
            Host::Domain(name) => Some(name),
            Host::Ipv4(_) | Host::Ipv6(_) => None,
        }
    }

    /// True for IP-address hosts (a common filter bypass: no name to classify).
    pub fn is_ip(&self) -> bool {
        !matches!(self, Host::Domain(_))
    }

    /// The key this host has in a category index: the domain text, dotted-decimal IPv4, or the
    /// bracketed IPv6 text.
    pub fn key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(name) => f.write_str(name.as_str()),
            Host::Ipv4(address) => write!(f, "{address}"),
            Host::Ipv6(address) => write!(f, "[{address}]"),
        }
    }
}

impl FromStr for Host {
    type Err = HostError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Host::parse(text)
    }
}

/// Canonicalises an ASCII host: case, trailing dot, IPv4 forms, label rules.
fn parse_ascii_host(text: &str) -> Result<Host, HostError> {
    let text = text.strip_suffix('.').unwrap_or(text);
    if text.is_empty() {
        return Err(HostError::Empty);
    }
    if let Some(address) = parse_ipv4(text)? {
        return Ok(Host::Ipv4(address));
    }
    if text.len() > MAX_DOMAIN_LEN {
        return Err(HostError::TooLong);
    }
    let mut label_length = 0;
    for byte in text.bytes() {
        if byte == b'.' {
            if label_length == 0 {
                return Err(HostError::BadLabel);
            }
            label_length = 0;
            continue;
        }
        if !(byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_') {
            return Err(HostError::BadCharacter(char::from(byte)));
        }
        label_length += 1;
        if label_length > MAX_LABEL_LEN {
            return Err(HostError::BadLabel);
        }
    }
    if label_length == 0 {
        return Err(HostError::BadLabel);
    }
    Ok(Host::Domain(DomainName(text.to_ascii_lowercase())))
}

/// The WHATWG "ends in a number" check and IPv4 parser. Returns `Ok(None)` for names that are
/// not meant as addresses, an error for names that look like addresses but are not valid ones.
fn parse_ipv4(text: &str) -> Result<Option<Ipv4Addr>, HostError> {
    // The caller has removed one trailing dot, as WHATWG does; a second one leaves an empty
    // last label, which is not a number.
    let last = text.rsplit('.').next().unwrap_or(text);
    let last_is_number = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit()) || parse_ipv4_number(last).is_some());
    if !last_is_number {
        return Ok(None);
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 {
        return Err(HostError::BadIpv4);
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        numbers.push(parse_ipv4_number(part).ok_or(HostError::BadIpv4)?);
    }
    let (last_number, leading) = numbers.split_last().ok_or(HostError::BadIpv4)?;
    if leading.iter().any(|&n| n > 255) {
        return Err(HostError::BadIpv4);
    }
    let last_limit = 256u64.pow(5 - numbers.len() as u32);
    if *last_number >= last_limit {
        return Err(HostError::BadIpv4);
    }
    let mut address = *last_number;
    for (index, &n) in leading.iter().enumerate() {
        address += n * 256u64.pow(3 - index as u32);
    }
    let address = u32::try_from(address).map_err(|_| HostError::BadIpv4)?;
    Ok(Some(Ipv4Addr::from(address)))
}

/// One part of a WHATWG IPv4 address: decimal, `0x` hex or `0`-prefixed octal.
fn parse_ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x").or(part.strip_prefix("0X")) {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        // "0x" alone is zero in WHATWG.
        return Some(0);
    }
    if digits.len() > 32 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Decodes `%XX` escapes in a host. The result must be valid UTF-8.
fn percent_decode_host(text: &str) -> Result<String, HostError> {
    let bytes = percent_decode_bytes(text.as_bytes()).ok_or(HostError::BadPercentEncoding)?;
    String::from_utf8(bytes).map_err(|_| HostError::BadPercentEncoding)
}

/// Decodes every `%XX` escape; `None` if an escape is malformed.
pub(crate) fn percent_decode_bytes(input: &[u8]) -> Option<Vec<u8>> {
    let mut output = Vec::with_capacity(input.len());
    let mut index = 0;
    while index < input.len() {
        if input[index] == b'%' {
            let high = hex_value(*input.get(index + 1)?)?;
            let low = hex_value(*input.get(index + 2)?)?;
            output.push(high << 4 | low);
            index += 3;
        } else {
            output.push(input[index]);
            index += 1;
        }
    }
    Some(output)
}

/// The value of one hex digit.
pub(crate) fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(raw: &str) -> String {
        Host::parse(raw)
            .unwrap_or_else(|e| panic!("{raw}: {e}"))
            .to_string()
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("Example.COM", "example.com"),
            ("example.com.", "example.com"),
            ("%65xample.com", "example.com"),
            ("ex%41mple.com", "example.com"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("BÜCHER.example", "xn--bcher-kva.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("example\u{3002}com", "example.com"),
            ("ｅｘａｍｐｌｅ.com", "example.com"),
            ("_dmarc.example.com", "_dmarc.example.com"),
            ("3232235777", "192.168.1.1"),
            ("0xc0a80101", "192.168.1.1"),
            ("0300.0250.01.01", "192.168.1.1"),
            ("192.168.257", "192.168.1.1"),
            ("0x7f.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("127.0.0.1.", "127.0.0.1"),
            ("[::1]", "[::1]"),
            ("[0:0:0:0:0:0:0:1]", "[::1]"),
            ("[::ffff:c0a8:101]", "192.168.1.1"),
            ("[2001:DB8::1]", "[2001:db8::1]"),
            ("2001:db8::1", "[2001:db8::1]"),
        ];
        for (raw, expected) in cases {
            assert_eq!(canonical(raw), expected, "input {raw:?}");
        }
    }

    #[test]
    fn rejected_forms() {
        let cases = [
            ("", HostError::Empty),
            (".", HostError::Empty),
            ("a..b", HostError::BadLabel),
            ("exa mple.com", HostError::BadCharacter(' ')),
            ("exa/mple.com", HostError::BadCharacter('/')),
            ("256.1.1.1", HostError::BadIpv4),
            ("1.2.3.4.5", HostError::BadIpv4),
            ("example.123", HostError::BadIpv4),
            ("[::1", HostError::BadIpv6),
            ("[zz::1]", HostError::BadIpv6),
            ("%zz.com", HostError::BadPercentEncoding),
            ("%ff.com", HostError::BadPercentEncoding),
        ];
        for (raw, expected) in cases {
            assert_eq!(Host::parse(raw), Err(expected), "input {raw:?}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert_eq!(Host::parse(&long_label), Err(HostError::BadLabel));
        let long_name = ["abcdefghi"; 26].join(".");
        assert_eq!(Host::parse(&long_name), Err(HostError::TooLong));
    }

    #[test]
    fn suffixes_run_most_specific_first() {
        let name: DomainName = "a.b.example.com".parse().expect("valid name");
        let suffixes: Vec<&str> = name.suffixes().collect();
        assert_eq!(
            suffixes,
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
    }

    #[test]
    fn a_name_is_within_itself_and_its_parents_only() {
        let name: DomainName = "www.bbc.co.uk".parse().expect("valid name");
        assert!(name.is_within("www.bbc.co.uk"));
        assert!(name.is_within("bbc.co.uk"));
        assert!(name.is_within("uk"));
        assert!(!name.is_within("c.co.uk"));
        assert!(!name.is_within("bbc.co"));
        assert!(!name.is_within(""));
    }

    #[test]
    fn domain_name_refuses_addresses() {
        assert!("10.0.0.1".parse::<DomainName>().is_err());
        assert!("example.org".parse::<DomainName>().is_ok());
    }
}
