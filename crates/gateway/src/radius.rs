//! RADIUS accounting (RFC 2866) as the school's 802.1X Wi-Fi and network switches send it: who
//! (`User-Name`) holds which address (`Framed-IP-Address`, `Framed-IPv6-Address`), from a
//! session's `Start` through its `Interim-Update`s to its `Stop` (issue 24, DESIGN.md F11).
//!
//! Only the packet: reading an Accounting-Request, checking its authenticator against the
//! client's shared secret, and writing the Accounting-Response. No I/O, so that a fuzz target
//! can hold it to its promise: bytes that are not a well-formed, authenticated request are an
//! error, never a session.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use md5::{Digest, Md5};

/// The smallest and largest RADIUS packets (RFC 2865 §3).
const MIN_LENGTH: usize = 20;
const MAX_LENGTH: usize = 4096;
/// Accounting-Request and Accounting-Response codes.
const ACCOUNTING_REQUEST: u8 = 4;
const ACCOUNTING_RESPONSE: u8 = 5;
/// The longest user name or session id Ward keeps (RADIUS allows 253 bytes).
const MAX_TEXT: usize = 253;

/// Attribute types read.
mod attribute {
    pub const USER_NAME: u8 = 1;
    pub const NAS_IP_ADDRESS: u8 = 4;
    pub const FRAMED_IP_ADDRESS: u8 = 8;
    pub const SESSION_TIMEOUT: u8 = 27;
    pub const ACCT_STATUS_TYPE: u8 = 40;
    pub const ACCT_SESSION_ID: u8 = 44;
    pub const ACCT_INTERIM_INTERVAL: u8 = 85;
    pub const FRAMED_IPV6_ADDRESS: u8 = 168;
}

/// Why a packet was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RadiusError {
    /// Shorter than a header, longer than RADIUS allows, or shorter than its own length field.
    #[error("the packet's length is wrong")]
    Length,
    /// Another kind of packet (only accounting requests are served).
    #[error("not an Accounting-Request (code {0})")]
    NotAccounting(u8),
    /// An attribute that runs past the packet or is shorter than its header.
    #[error("an attribute's length is wrong")]
    Attribute,
    /// A known attribute with a value of the wrong size or form.
    #[error("attribute {0} has a value of the wrong form")]
    Value(u8),
    /// The authenticator does not match: the wrong shared secret, or a forged or damaged packet.
    #[error("the request authenticator does not match the shared secret")]
    Authenticator,
}

/// What an accounting packet says has happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A session started.
    Start,
    /// A session ended.
    Stop,
    /// A session goes on (RFC 2869).
    InterimUpdate,
    /// The sender (an access point, a switch) started: its earlier sessions are over.
    AccountingOn,
    /// The sender is stopping: its sessions are over.
    AccountingOff,
    /// Another status Ward does not act on.
    Other(u32),
}

impl Status {
    fn from_code(code: u32) -> Status {
        match code {
            1 => Status::Start,
            2 => Status::Stop,
            3 => Status::InterimUpdate,
            7 => Status::AccountingOn,
            8 => Status::AccountingOff,
            other => Status::Other(other),
        }
    }
}

/// An authenticated Accounting-Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounting {
    /// The packet's identifier (the response repeats it).
    pub identifier: u8,
    /// What happened (`Acct-Status-Type`); `None` when the packet does not say.
    pub status: Option<Status>,
    /// Who (`User-Name`), as sent.
    pub user: Option<String>,
    /// The address the user was given (`Framed-IP-Address`, else `Framed-IPv6-Address`).
    pub address: Option<IpAddr>,
    /// The session (`Acct-Session-Id`).
    pub session_id: Option<String>,
    /// The sender (`NAS-IP-Address`).
    pub nas: Option<IpAddr>,
    /// Seconds between interim updates (`Acct-Interim-Interval`), if the sender says.
    pub interim_interval: Option<u32>,
    /// Seconds the session may last (`Session-Timeout`), if the sender says.
    pub session_timeout: Option<u32>,
}

/// Reads an Accounting-Request, checking its authenticator with `secret`. Bytes after the
/// packet's own length are padding and ignored (RFC 2865 §3).
pub fn read_accounting(datagram: &[u8], secret: &[u8]) -> Result<Accounting, RadiusError> {
    let packet = framed(datagram)?;
    if packet[0] != ACCOUNTING_REQUEST {
        return Err(RadiusError::NotAccounting(packet[0]));
    }
    // Attributes are read (and their framing checked) before the authenticator, whose check
    // needs the whole packet anyway; nothing is returned unless both pass.
    let mut accounting = Accounting {
        identifier: packet[1],
        status: None,
        user: None,
        address: None,
        session_id: None,
        nas: None,
        interim_interval: None,
        session_timeout: None,
    };
    let mut ipv6 = None;
    let mut rest = &packet[MIN_LENGTH..];
    while !rest.is_empty() {
        let [kind, length, ..] = *rest else {
            return Err(RadiusError::Attribute);
        };
        let length = usize::from(length);
        if length < 2 || length > rest.len() {
            return Err(RadiusError::Attribute);
        }
        let value = &rest[2..length];
        rest = &rest[length..];
        match kind {
            attribute::USER_NAME => accounting.user = Some(text(kind, value)?),
            attribute::ACCT_SESSION_ID => accounting.session_id = Some(text(kind, value)?),
            attribute::FRAMED_IP_ADDRESS => {
                accounting.address = Some(IpAddr::V4(ipv4(kind, value)?));
            }
            attribute::NAS_IP_ADDRESS => accounting.nas = Some(IpAddr::V4(ipv4(kind, value)?)),
            attribute::FRAMED_IPV6_ADDRESS => {
                let bytes: [u8; 16] = value.try_into().map_err(|_| RadiusError::Value(kind))?;
                ipv6 = Some(IpAddr::V6(Ipv6Addr::from(bytes)));
            }
            attribute::ACCT_STATUS_TYPE => {
                accounting.status = Some(Status::from_code(integer(kind, value)?));
            }
            attribute::ACCT_INTERIM_INTERVAL => {
                accounting.interim_interval = Some(integer(kind, value)?);
            }
            attribute::SESSION_TIMEOUT => accounting.session_timeout = Some(integer(kind, value)?),
            _ => {}
        }
    }
    if accounting.address.is_none() {
        accounting.address = ipv6;
    }
    let expected = digest(&[&packet[..4], &[0u8; 16], &packet[MIN_LENGTH..], secret]);
    if !constant_time_eq(&expected, &packet[4..20]) {
        return Err(RadiusError::Authenticator);
    }
    Ok(accounting)
}

/// The Accounting-Response to an authenticated `request` (as read by [`read_accounting`]).
pub fn accounting_response(request: &[u8], secret: &[u8]) -> Result<[u8; 20], RadiusError> {
    let packet = framed(request)?;
    let mut response = [0u8; 20];
    response[0] = ACCOUNTING_RESPONSE;
    response[1] = packet[1];
    response[2..4].copy_from_slice(&(MIN_LENGTH as u16).to_be_bytes());
    let authenticator = digest(&[&response[..4], &packet[4..20], secret]);
    response[4..20].copy_from_slice(&authenticator);
    Ok(response)
}

/// The packet within `datagram`, by its length field.
fn framed(datagram: &[u8]) -> Result<&[u8], RadiusError> {
    if datagram.len() < MIN_LENGTH {
        return Err(RadiusError::Length);
    }
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) || length > datagram.len() {
        return Err(RadiusError::Length);
    }
    Ok(&datagram[..length])
}

fn digest(parts: &[&[u8]]) -> [u8; 16] {
    let mut md5 = Md5::new();
    for part in parts {
        md5.update(part);
    }
    md5.finalize().into()
}

/// Equal without a time that depends on where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// A name or id: UTF-8, not empty, no control characters, at most [`MAX_TEXT`] bytes.
fn text(kind: u8, value: &[u8]) -> Result<String, RadiusError> {
    let text = std::str::from_utf8(value).map_err(|_| RadiusError::Value(kind))?;
    if text.is_empty() || text.len() > MAX_TEXT || text.chars().any(char::is_control) {
        return Err(RadiusError::Value(kind));
    }
    Ok(text.to_owned())
}

fn ipv4(kind: u8, value: &[u8]) -> Result<Ipv4Addr, RadiusError> {
    let bytes: [u8; 4] = value.try_into().map_err(|_| RadiusError::Value(kind))?;
    Ok(Ipv4Addr::from(bytes))
}

fn integer(kind: u8, value: &[u8]) -> Result<u32, RadiusError> {
    let bytes: [u8; 4] = value.try_into().map_err(|_| RadiusError::Value(kind))?;
    Ok(u32::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Accounting-Request as FreeRADIUS's `radclient` sent it (secret `testing123`):
    /// `User-Name = "lwright10", Acct-Status-Type = Start, Framed-IP-Address = 10.0.3.17,
    /// Acct-Session-Id = "abc123", NAS-IP-Address = 10.0.0.2`.
    const FROM_RADCLIENT: &str = "042b0039dce5e16b1ed9d086402400c5de30fdcb010b6c777269676874313028060000000108060a0003112c0861626331323304060a000002";

    fn packet() -> Vec<u8> {
        hex::decode(FROM_RADCLIENT).expect("hex")
    }

    #[test]
    fn a_real_start_packet_is_read_and_authenticated() {
        let read = read_accounting(&packet(), b"testing123").expect("authentic");
        assert_eq!(
            read,
            Accounting {
                identifier: 0x2b,
                status: Some(Status::Start),
                user: Some("lwright10".into()),
                address: Some("10.0.3.17".parse().expect("address")),
                session_id: Some("abc123".into()),
                nas: Some("10.0.0.2".parse().expect("address")),
                interim_interval: None,
                session_timeout: None,
            }
        );
        // Padding after the packet's length is ignored.
        let mut padded = packet();
        padded.extend_from_slice(&[0xff; 7]);
        assert!(read_accounting(&padded, b"testing123").is_ok());
    }

    #[test]
    fn the_wrong_secret_or_any_changed_byte_is_refused() {
        assert_eq!(
            read_accounting(&packet(), b"testing124"),
            Err(RadiusError::Authenticator)
        );
        let original = packet();
        for at in 0..original.len() {
            let mut changed = original.clone();
            changed[at] ^= 0x01;
            assert!(
                read_accounting(&changed, b"testing123").is_err(),
                "a change at byte {at} was accepted"
            );
        }
        for length in 0..original.len() {
            assert!(read_accounting(&original[..length], b"testing123").is_err());
        }
    }

    #[test]
    fn the_response_authenticator_follows_rfc_2866() {
        let request = packet();
        let response = accounting_response(&request, b"testing123").expect("response");
        assert_eq!(response[0], ACCOUNTING_RESPONSE);
        assert_eq!(response[1], request[1]);
        assert_eq!(&response[2..4], &[0, 20]);
        let mut check = Vec::new();
        check.extend_from_slice(&response[..4]);
        check.extend_from_slice(&request[4..20]);
        check.extend_from_slice(b"testing123");
        let expected: [u8; 16] = Md5::digest(&check).into();
        assert_eq!(&response[4..], &expected);
    }

    #[test]
    fn malformed_attributes_and_values_are_errors() {
        let sign = |mut packet: Vec<u8>| {
            let length = u16::try_from(packet.len()).expect("short");
            packet[2..4].copy_from_slice(&length.to_be_bytes());
            let authenticator = digest(&[&packet[..4], &[0u8; 16], &packet[20..], b"s"]);
            packet[4..20].copy_from_slice(&authenticator);
            packet
        };
        let header = || {
            let mut packet = vec![ACCOUNTING_REQUEST, 1, 0, 0];
            packet.extend_from_slice(&[0; 16]);
            packet
        };
        let with = |attributes: &[u8]| {
            let mut packet = header();
            packet.extend_from_slice(attributes);
            sign(packet)
        };
        assert!(
            read_accounting(&with(&[]), b"s").is_ok(),
            "no attributes is well-formed"
        );
        assert_eq!(
            read_accounting(&with(&[1, 1]), b"s"),
            Err(RadiusError::Attribute)
        );
        assert_eq!(
            read_accounting(&with(&[1, 9, b'a']), b"s"),
            Err(RadiusError::Attribute)
        );
        assert_eq!(
            read_accounting(&with(&[1]), b"s"),
            Err(RadiusError::Attribute)
        );
        assert_eq!(
            read_accounting(&with(&[8, 5, 1, 2, 3]), b"s"),
            Err(RadiusError::Value(8))
        );
        assert_eq!(
            read_accounting(&with(&[40, 3, 1]), b"s"),
            Err(RadiusError::Value(40))
        );
        assert_eq!(
            read_accounting(&with(&[1, 2]), b"s"),
            Err(RadiusError::Value(1))
        );
        assert_eq!(
            read_accounting(&with(&[1, 3, 0x07]), b"s"),
            Err(RadiusError::Value(1))
        );
        assert_eq!(
            read_accounting(&with(&[1, 4, 0xc3, 0x28]), b"s"),
            Err(RadiusError::Value(1))
        );
        let mut access = with(&[]);
        access[0] = 1;
        assert_eq!(
            read_accounting(&access, b"s"),
            Err(RadiusError::NotAccounting(1))
        );
        // IPv6 when there is no IPv4 address; unknown attributes skipped.
        let mut v6 = vec![168, 18];
        v6.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().expect("v6").octets());
        v6.extend_from_slice(&[26, 6, 0, 0, 0, 9, 40, 6, 0, 0, 0, 3]);
        let read = read_accounting(&with(&v6), b"s").expect("ok");
        assert_eq!(read.address, Some("2001:db8::7".parse().expect("address")));
        assert_eq!(read.status, Some(Status::InterimUpdate));
        // A length field longer than the datagram, or beyond RADIUS's limit.
        let mut long = with(&[]);
        long[2..4].copy_from_slice(&21u16.to_be_bytes());
        assert_eq!(read_accounting(&long, b"s"), Err(RadiusError::Length));
        let mut huge = vec![0u8; 5000];
        huge[0] = ACCOUNTING_REQUEST;
        huge[2..4].copy_from_slice(&4097u16.to_be_bytes());
        assert_eq!(read_accounting(&huge, b"s"), Err(RadiusError::Length));
    }
}
