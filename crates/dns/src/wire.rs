//! DNS messages at the byte level: parsing a query, building the answers Ward makes itself
//! (errors, blocks, truncation), and walking the records of a reply to find their TTLs and
//! names. Hand-written because this is the path every query takes: it allocates nothing but the
//! answer. Rewriting whole replies (safe search, ECH removal) goes through `hickory-proto` in
//! [`crate::reply`], where speed matters less than getting every record type right.
//!
//! Everything here takes untrusted bytes and returns an error rather than panicking; slices are
//! taken with `get` and lengths checked before use.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Bytes in a DNS header.
pub const HEADER_LEN: usize = 12;
/// The largest UDP answer Ward sends, whatever the client offers (the DNS Flag Day 2020 value:
/// avoids IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// A client that does not use EDNS can take this much over UDP (RFC 1035).
pub const CLASSIC_UDP_PAYLOAD: u16 = 512;
/// Longest name in wire form (RFC 1035).
pub const MAX_NAME_WIRE: usize = 255;

/// Response codes Ward uses.
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// The query could not be read.
    pub const FORMERR: u8 = 1;
    /// The upstream resolvers failed.
    pub const SERVFAIL: u8 = 2;
    /// No such name.
    pub const NXDOMAIN: u8 = 3;
    /// Not implemented (an opcode other than QUERY).
    pub const NOTIMP: u8 = 4;
    /// Refused.
    pub const REFUSED: u8 = 5;
}

/// Record types Ward looks at.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// EDNS options pseudo-record.
    pub const OPT: u16 = 41;
    /// Service binding.
    pub const SVCB: u16 = 64;
    /// HTTPS service binding.
    pub const HTTPS: u16 = 65;
}

/// The Internet class.
pub const CLASS_IN: u16 = 1;

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
const FLAG_CD: u16 = 0x0010;

/// What a client's EDNS record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The UDP payload size it can take.
    pub udp_size: u16,
    /// EDNS version (only 0 exists).
    pub version: u8,
    /// It wants DNSSEC records.
    pub dnssec_ok: bool,
}

/// A query, borrowed from the packet it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    /// Message id, echoed in the answer.
    pub id: u16,
    /// Header flags as sent (RD and CD are echoed).
    pub flags: u16,
    /// The question exactly as the client wrote it: name, type and class.
    pub question: &'a [u8],
    /// The question's type.
    pub qtype: u16,
    /// The question's class.
    pub qclass: u16,
    /// The client's EDNS record, if any.
    pub edns: Option<Edns>,
}

/// Why a packet is not a query Ward can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Too short to have a header, or a response: nothing to answer, drop it.
    #[error("not a DNS query")]
    Ignore,
    /// A query Ward cannot read; answer FORMERR with this id.
    #[error("malformed query")]
    Malformed {
        /// The message id.
        id: u16,
        /// The header flags.
        flags: u16,
    },
    /// An opcode other than QUERY; answer NOTIMP.
    #[error("opcode not implemented")]
    NotImplemented {
        /// The message id.
        id: u16,
        /// The header flags.
        flags: u16,
    },
    /// EDNS version other than 0; answer BADVERS (extended rcode 16).
    #[error("unsupported EDNS version")]
    BadVersion {
        /// The message id.
        id: u16,
        /// The header flags.
        flags: u16,
    },
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let bytes = buf.get(at..at + 2)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Reads a query. Names in the question must not be compressed (no client compresses the only
/// name in its message).
pub fn parse_query(packet: &[u8]) -> Result<Query<'_>, QueryError> {
    let (Some(id), Some(flags)) = (u16_at(packet, 0), u16_at(packet, 2)) else {
        return Err(QueryError::Ignore);
    };
    if packet.len() < HEADER_LEN || flags & FLAG_QR != 0 {
        return Err(QueryError::Ignore);
    }
    let malformed = QueryError::Malformed { id, flags };
    if (flags >> 11) & 0xf != 0 {
        return Err(QueryError::NotImplemented { id, flags });
    }
    let counts = [
        u16_at(packet, 4),
        u16_at(packet, 6),
        u16_at(packet, 8),
        u16_at(packet, 10),
    ];
    let [Some(qdcount), Some(ancount), Some(nscount), Some(arcount)] = counts else {
        return Err(malformed);
    };
    if qdcount != 1 || ancount != 0 || nscount != 0 {
        return Err(malformed);
    }
    let name_end = question_name_end(packet, HEADER_LEN).ok_or(malformed)?;
    let (Some(qtype), Some(qclass)) = (u16_at(packet, name_end), u16_at(packet, name_end + 2))
    else {
        return Err(malformed);
    };
    let question_end = name_end + 4;
    let question = &packet[HEADER_LEN..question_end];

    let mut edns = None;
    let mut at = question_end;
    for _ in 0..arcount {
        let record = read_record(packet, at).ok_or(malformed)?;
        if record.rtype == rtype::OPT {
            // Exactly one OPT, owned by the root (RFC 6891 6.1.1).
            if edns.is_some() || packet.get(at) != Some(&0) {
                return Err(malformed);
            }
            let version = packet.get(record.ttl_at + 1).copied().ok_or(malformed)?;
            let dnssec_ok = packet.get(record.ttl_at + 2).is_some_and(|b| b & 0x80 != 0);
            if version != 0 {
                return Err(QueryError::BadVersion { id, flags });
            }
            edns = Some(Edns {
                udp_size: record.class,
                version,
                dnssec_ok,
            });
        }
        at = record.end;
    }
    Ok(Query {
        id,
        flags,
        question,
        qtype,
        qclass,
        edns,
    })
}

/// End of an uncompressed name starting at `at`, checked for label and total length.
fn question_name_end(packet: &[u8], mut at: usize) -> Option<usize> {
    let start = at;
    loop {
        let length = usize::from(*packet.get(at)?);
        if length == 0 {
            return Some(at + 1);
        }
        if length > 63 {
            return None; // a compression pointer or a reserved label type
        }
        at += 1 + length;
        if at - start >= MAX_NAME_WIRE {
            return None;
        }
    }
}

impl Query<'_> {
    /// The name in wire form (lengths and labels, ending in the root's zero).
    pub fn name_wire(&self) -> &[u8] {
        &self.question[..self.question.len() - 4]
    }

    /// The name in presentation form, lower-cased, without the trailing dot (`""` for the root).
    /// `None` when a label holds a byte that cannot be in a host name (`.`, space, controls,
    /// non-ASCII): such names cannot be put into canonical form, so they are not filtered as if
    /// they were something else.
    pub fn name(&self) -> Option<String> {
        name_text(self.name_wire())
    }

    /// The UDP payload the client can take (512 without EDNS; never more than Ward sends).
    pub fn udp_limit(&self) -> usize {
        usize::from(match self.edns {
            Some(edns) => edns.udp_size.clamp(CLASSIC_UDP_PAYLOAD, MAX_UDP_PAYLOAD),
            None => CLASSIC_UDP_PAYLOAD,
        })
    }

    /// The cache key: the lower-cased name in wire form followed by the type. Returns its length
    /// in `key`; the last byte of `key` is left for the caller (the cache's variant byte).
    pub fn cache_key(&self, key: &mut [u8; MAX_NAME_WIRE + 3]) -> usize {
        let name = self.name_wire();
        let length = name.len().min(MAX_NAME_WIRE);
        for (out, byte) in key.iter_mut().zip(&name[..length]) {
            *out = byte.to_ascii_lowercase();
        }
        key[length..length + 2].copy_from_slice(&self.qtype.to_be_bytes());
        length + 2
    }
}

/// Presentation form of an uncompressed wire name (see [`Query::name`]).
pub fn name_text(wire: &[u8]) -> Option<String> {
    let mut text = String::with_capacity(wire.len());
    let mut at = 0;
    loop {
        let length = usize::from(*wire.get(at)?);
        if length == 0 {
            return Some(text);
        }
        let label = wire.get(at + 1..at + 1 + length)?;
        if !text.is_empty() {
            text.push('.');
        }
        for &byte in label {
            if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || byte == b'*' {
                text.push(char::from(byte.to_ascii_lowercase()));
            } else {
                return None;
            }
        }
        at += 1 + length;
    }
}

/// Wire form of a presentation name (`www.example.com`, no trailing dot needed).
pub fn name_wire(text: &str) -> Option<Vec<u8>> {
    let mut wire = Vec::with_capacity(text.len() + 2);
    for label in text
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let length = u8::try_from(label.len()).ok().filter(|&l| l <= 63)?;
        wire.push(length);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.push(0);
    (wire.len() <= MAX_NAME_WIRE).then_some(wire)
}

/// One record's layout in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAt {
    /// Where its owner name starts.
    pub name_at: usize,
    /// Its type.
    pub rtype: u16,
    /// Its class (for OPT, the UDP payload size).
    pub class: u16,
    /// Where its TTL is.
    pub ttl_at: usize,
    /// Its TTL.
    pub ttl: u32,
    /// Where its data starts.
    pub data_at: usize,
    /// Where it ends.
    pub end: usize,
}

/// Skips a possibly compressed name; returns where the record continues.
pub fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    let mut total = 0usize;
    loop {
        let length = *message.get(at)?;
        match length {
            0 => return Some(at + 1),
            1..=63 => {
                at += 1 + usize::from(length);
                total += 1 + usize::from(length);
                if total > MAX_NAME_WIRE || at > message.len() {
                    return None;
                }
            }
            0xc0..=0xff => {
                message.get(at + 1)?;
                return Some(at + 2);
            }
            _ => return None,
        }
    }
}

/// Reads a record's layout at `at`.
pub fn read_record(message: &[u8], at: usize) -> Option<RecordAt> {
    let after_name = skip_name(message, at)?;
    let rtype = u16_at(message, after_name)?;
    let class = u16_at(message, after_name + 2)?;
    let ttl = u32_at(message, after_name + 4)?;
    let data_length = usize::from(u16_at(message, after_name + 8)?);
    let data_at = after_name + 10;
    let end = data_at + data_length;
    if end > message.len() {
        return None;
    }
    Some(RecordAt {
        name_at: at,
        rtype,
        class,
        ttl_at: after_name + 4,
        ttl,
        data_at,
        end,
    })
}

/// Reads a possibly compressed name as lower-case presentation text. Pointers must point
/// backwards, so a loop cannot be followed forever.
pub fn read_name(message: &[u8], mut at: usize) -> Option<String> {
    let mut text = String::new();
    let mut limit = at;
    loop {
        let length = *message.get(at)?;
        match length {
            0 => return Some(text),
            1..=63 => {
                let label = message.get(at + 1..at + 1 + usize::from(length))?;
                if !text.is_empty() {
                    text.push('.');
                }
                for &byte in label {
                    if byte.is_ascii_graphic() && byte != b'.' {
                        text.push(char::from(byte.to_ascii_lowercase()));
                    } else {
                        return None;
                    }
                }
                if text.len() > MAX_NAME_WIRE {
                    return None;
                }
                at += 1 + usize::from(length);
            }
            0xc0..=0xff => {
                let target = usize::from(u16_at(message, at)? & 0x3fff);
                if target >= limit {
                    return None;
                }
                limit = target;
                at = target;
            }
            _ => return None,
        }
    }
}

/// The sections after the question of a reply, with the header fields Ward keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sections {
    /// The reply's response code.
    pub rcode: u8,
    /// Answer, authority and additional counts.
    pub counts: [u16; 3],
    /// Where the records start in the message.
    pub records_at: usize,
    /// Every record, in order.
    pub records: Vec<RecordAt>,
}

/// Walks a reply's records. The reply must have one question.
pub fn read_sections(message: &[u8]) -> Option<Sections> {
    let flags = u16_at(message, 2)?;
    if u16_at(message, 4)? != 1 {
        return None;
    }
    let counts = [
        u16_at(message, 6)?,
        u16_at(message, 8)?,
        u16_at(message, 10)?,
    ];
    let records_at = skip_name(message, HEADER_LEN)? + 4;
    if records_at > message.len() {
        return None;
    }
    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
    let mut records = Vec::with_capacity(total);
    let mut at = records_at;
    for _ in 0..total {
        let record = read_record(message, at)?;
        at = record.end;
        records.push(record);
    }
    Some(Sections {
        rcode: (flags & 0xf) as u8,
        counts,
        records_at,
        records,
    })
}

/// Builds answers to a query in place, reusing one buffer.
pub struct Answer<'b> {
    out: &'b mut Vec<u8>,
}

impl<'b> Answer<'b> {
    /// Starts an answer to `query`: header (id, RD and CD echoed, RA set), then the question as
    /// the client wrote it. Counts start at zero.
    pub fn start(out: &'b mut Vec<u8>, query: &Query<'_>, rcode: u8) -> Answer<'b> {
        out.clear();
        let flags =
            FLAG_QR | FLAG_RA | (query.flags & (FLAG_RD | FLAG_CD)) | u16::from(rcode & 0xf);
        out.extend_from_slice(&query.id.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(query.question);
        Answer { out }
    }

    /// An answer with no question: for queries whose question could not be read.
    pub fn headers_only(out: &'b mut Vec<u8>, id: u16, flags: u16, rcode: u8) -> Answer<'b> {
        out.clear();
        let flags = FLAG_QR | FLAG_RA | (flags & (FLAG_RD | FLAG_CD)) | u16::from(rcode & 0xf);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[0; 8]);
        Answer { out }
    }

    fn bump(&mut self, count_at: usize) {
        let count = u16::from_be_bytes([self.out[count_at], self.out[count_at + 1]]);
        self.out[count_at..count_at + 2].copy_from_slice(&count.wrapping_add(1).to_be_bytes());
    }

    /// Adds an A or AAAA record for the question's name.
    pub fn address(&mut self, qtype: u16, ttl: u32, ipv4: Ipv4Addr, ipv6: Ipv6Addr) -> &mut Self {
        self.out.extend_from_slice(&[0xc0, 0x0c]);
        self.out.extend_from_slice(&qtype.to_be_bytes());
        self.out.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.out.extend_from_slice(&ttl.to_be_bytes());
        if qtype == rtype::A {
            self.out.extend_from_slice(&4u16.to_be_bytes());
            self.out.extend_from_slice(&ipv4.octets());
        } else {
            self.out.extend_from_slice(&16u16.to_be_bytes());
            self.out.extend_from_slice(&ipv6.octets());
        }
        self.bump(6);
        self
    }

    /// Adds a SOA record in the authority section, owned by the question's name, so that
    /// resolvers cache a negative answer for `ttl` seconds only (RFC 2308).
    pub fn negative_soa(&mut self, ttl: u32) -> &mut Self {
        const MNAME: &[u8] = b"\x04ward\x07invalid\x00";
        const RNAME: &[u8] = b"\x07blocked\x04ward\x07invalid\x00";
        self.out.extend_from_slice(&[0xc0, 0x0c]);
        self.out.extend_from_slice(&rtype::SOA.to_be_bytes());
        self.out.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.out.extend_from_slice(&ttl.to_be_bytes());
        let length = MNAME.len() + RNAME.len() + 20;
        self.out
            .extend_from_slice(&u16::try_from(length).unwrap_or(0).to_be_bytes());
        self.out.extend_from_slice(MNAME);
        self.out.extend_from_slice(RNAME);
        for value in [1u32, 3600, 600, 86400, ttl] {
            self.out.extend_from_slice(&value.to_be_bytes());
        }
        self.bump(8);
        self
    }

    /// Adds Ward's OPT record (its UDP payload size, no options), if the client sent one.
    pub fn edns(&mut self, query_edns: Option<Edns>, extended_rcode: u8) -> &mut Self {
        if query_edns.is_some() || extended_rcode != 0 {
            push_opt(self.out, extended_rcode);
            self.bump(10);
        }
        self
    }

    /// Marks the answer truncated.
    pub fn truncated(&mut self) -> &mut Self {
        self.out[2] |= (FLAG_TC >> 8) as u8;
        self
    }
}

fn push_opt(out: &mut Vec<u8>, extended_rcode: u8) {
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[extended_rcode, 0, 0, 0]);
    out.extend_from_slice(&0u16.to_be_bytes());
}

/// Appends an OPT record to a finished message and counts it.
pub fn append_opt(out: &mut Vec<u8>) {
    push_opt(out, 0);
    let count = u16::from_be_bytes([out[10], out[11]]).wrapping_add(1);
    out[10..12].copy_from_slice(&count.to_be_bytes());
}

/// Builds a query for `name` (wire form) and `qtype`, with EDNS and recursion desired.
pub fn build_query(out: &mut Vec<u8>, id: u16, name_wire: &[u8], qtype: u16) {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&FLAG_RD.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
    out.extend_from_slice(name_wire);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    push_opt(out, 0);
}

/// True if a message has the TC flag.
pub fn is_truncated(message: &[u8]) -> bool {
    u16_at(message, 2).is_some_and(|flags| flags & FLAG_TC != 0)
}

/// Message id of a message.
pub fn message_id(message: &[u8]) -> Option<u16> {
    u16_at(message, 0)
}

/// Response code in a message's header.
pub fn message_rcode(message: &[u8]) -> Option<u8> {
    u16_at(message, 2).map(|flags| (flags & 0xf) as u8)
}

/// The question of a message (name, type, class), if it has exactly one.
pub fn message_question(message: &[u8]) -> Option<&[u8]> {
    if u16_at(message, 4)? != 1 {
        return None;
    }
    let end = skip_name(message, HEADER_LEN)? + 4;
    message.get(HEADER_LEN..end)
}

/// Sets a message's id, RD/CD flags from the query, and returns it.
pub fn set_reply_header(message: &mut [u8], query: &Query<'_>) {
    if message.len() < HEADER_LEN {
        return;
    }
    message[0..2].copy_from_slice(&query.id.to_be_bytes());
    let flags = u16::from_be_bytes([message[2], message[3]]);
    let flags = (flags & !(FLAG_RD | FLAG_CD | FLAG_TC))
        | FLAG_QR
        | FLAG_RA
        | (query.flags & (FLAG_RD | FLAG_CD));
    message[2..4].copy_from_slice(&flags.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_bytes(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
        let mut out = Vec::new();
        build_query(
            &mut out,
            0x1234,
            &name_wire(name).expect("well-formed test message"),
            qtype,
        );
        if !edns {
            // Drop the OPT record build_query adds.
            out.truncate(out.len() - 11);
            out[11] = 0;
        }
        out
    }

    #[test]
    fn reads_a_query_and_its_edns() {
        let packet = query_bytes("WWW.Example.com", rtype::AAAA, true);
        let query = parse_query(&packet).expect("well-formed test message");
        assert_eq!(query.id, 0x1234);
        assert_eq!(query.qtype, rtype::AAAA);
        assert_eq!(query.qclass, CLASS_IN);
        assert_eq!(query.name().as_deref(), Some("www.example.com"));
        assert_eq!(query.edns.map(|e| e.udp_size), Some(MAX_UDP_PAYLOAD));
        assert_eq!(query.udp_limit(), 1232);

        let plain = query_bytes("example.com", rtype::A, false);
        let query = parse_query(&plain).expect("well-formed test message");
        assert_eq!(query.edns, None);
        assert_eq!(query.udp_limit(), 512);
    }

    #[test]
    fn refuses_what_is_not_a_query() {
        assert_eq!(parse_query(&[1, 2, 3]), Err(QueryError::Ignore));
        let mut response = query_bytes("example.com", rtype::A, false);
        response[2] |= 0x80;
        assert_eq!(parse_query(&response), Err(QueryError::Ignore));

        let mut update = query_bytes("example.com", rtype::A, false);
        update[2] |= 5 << 3;
        assert!(matches!(
            parse_query(&update),
            Err(QueryError::NotImplemented { .. })
        ));

        let mut two_questions = query_bytes("example.com", rtype::A, false);
        two_questions[5] = 2;
        assert!(matches!(
            parse_query(&two_questions),
            Err(QueryError::Malformed { .. })
        ));

        let cut = query_bytes("example.com", rtype::A, false);
        assert!(matches!(
            parse_query(&cut[..cut.len() - 3]),
            Err(QueryError::Malformed { .. })
        ));

        let mut pointer = query_bytes("example.com", rtype::A, false);
        pointer[12] = 0xc0;
        assert!(matches!(
            parse_query(&pointer),
            Err(QueryError::Malformed { .. })
        ));

        let mut version = query_bytes("example.com", rtype::A, true);
        let at = version.len() - 11 + 1 + 2 + 2 + 1;
        version[at] = 1;
        assert!(matches!(
            parse_query(&version),
            Err(QueryError::BadVersion { .. })
        ));
    }

    #[test]
    fn names_that_cannot_be_canonical_are_reported() {
        let packet = query_bytes("exa mple.com", rtype::A, false);
        assert_eq!(
            parse_query(&packet)
                .expect("well-formed test message")
                .name(),
            None
        );
        let root = query_bytes("", rtype::A, false);
        assert_eq!(
            parse_query(&root)
                .expect("well-formed test message")
                .name()
                .as_deref(),
            Some("")
        );
        assert_eq!(name_wire(&"a".repeat(64)), None);
    }

    #[test]
    fn cache_keys_ignore_case_but_not_type() {
        let a = query_bytes("Example.COM", rtype::A, false);
        let b = query_bytes("example.com", rtype::A, true);
        let c = query_bytes("example.com", rtype::AAAA, false);
        let key = |packet: &[u8]| {
            let mut key = [0; MAX_NAME_WIRE + 3];
            let length = parse_query(packet)
                .expect("well-formed test message")
                .cache_key(&mut key);
            key[..length].to_vec()
        };
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
    }

    #[test]
    fn built_answers_read_back() {
        let packet = query_bytes("blocked.example", rtype::A, true);
        let query = parse_query(&packet).expect("well-formed test message");
        let mut out = Vec::new();
        Answer::start(&mut out, &query, rcode::NOERROR)
            .address(
                rtype::A,
                60,
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv6Addr::LOCALHOST,
            )
            .edns(query.edns, 0);
        let sections = read_sections(&out).expect("well-formed test message");
        assert_eq!(sections.counts, [1, 0, 1]);
        assert_eq!(sections.records[0].rtype, rtype::A);
        assert_eq!(
            &out[sections.records[0].data_at..sections.records[0].end],
            &[10, 0, 0, 1]
        );
        assert_eq!(
            read_name(&out, sections.records[0].name_at).as_deref(),
            Some("blocked.example")
        );

        Answer::start(&mut out, &query, rcode::NXDOMAIN).negative_soa(30);
        let sections = read_sections(&out).expect("well-formed test message");
        assert_eq!(sections.rcode, rcode::NXDOMAIN);
        assert_eq!(sections.counts, [0, 1, 0]);
        assert_eq!(sections.records[0].ttl, 30);
    }

    #[test]
    fn compression_loops_are_refused() {
        // A name that points at itself.
        let mut message = vec![0u8; 12];
        message.extend_from_slice(&[0xc0, 12]);
        assert_eq!(read_name(&message, 12), None);
        assert_eq!(skip_name(&message, 12), Some(14));
    }

    proptest::proptest! {
        /// Any host name round-trips through a query: wire form, parse, presentation form.
        #[test]
        fn names_round_trip(labels in proptest::collection::vec("[a-z0-9_-]{1,20}", 1..8), qtype in 1u16..300) {
            let name = labels.join(".");
            let mut packet = Vec::new();
            build_query(&mut packet, 1, &name_wire(&name).expect("short enough"), qtype);
            let query = parse_query(&packet).expect("a query");
            proptest::prop_assert_eq!(query.name(), Some(name));
            proptest::prop_assert_eq!(query.qtype, qtype);
        }

        /// Arbitrary bytes never panic the readers.
        #[test]
        fn arbitrary_bytes_are_refused_not_fatal(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = parse_query(&bytes);
            let _ = read_sections(&bytes);
            for at in 0..bytes.len().min(40) {
                let _ = read_name(&bytes, at);
                let _ = skip_name(&bytes, at);
            }
        }
    }
}
