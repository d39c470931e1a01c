//! Turning an upstream reply into what Ward caches and serves: id 0, no OPT record (Ward adds
//! its own per client), and no `ech` parameter in HTTPS/SVCB records, so that a browser still
//! sends a readable server name the proxy can filter on (F8); with HTTPS inspection on, no `h3`
//! in their ALPN either, so that browsers stay on TCP where the proxy sees them, not QUIC. And building safe-search answers:
//! a CNAME from the search engine's name to its safe host, then the safe host's records.
//!
//! Replies that need rewriting go through `hickory-proto`, which knows every record type; the
//! common case (no HTTPS/SVCB records, OPT last) is done on the bytes.

use hickory_proto::op::{Message, Query as HickoryQuery};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::rdata::svcb::{SvcParamKey, SvcParamValue};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::wire::{self, rtype};

/// Why an upstream reply cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// Its records cannot be read.
    #[error("unreadable reply: {0}")]
    Unreadable(String),
    /// It could not be written back after rewriting.
    #[error("cannot rewrite reply: {0}")]
    Rewrite(String),
}

/// What [`normalise`] took out of service bindings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// An `ech` parameter.
    pub ech: bool,
    /// HTTP/3 from an ALPN.
    pub http3: bool,
}

/// Normalises an upstream reply (see the module documentation), removing HTTP/3 from service
/// bindings when `remove_http3`. Returns the reply and what was removed.
pub fn normalise(mut reply: Vec<u8>, remove_http3: bool) -> Result<(Vec<u8>, Removed), ReplyError> {
    let sections = wire::read_sections(&reply)
        .ok_or_else(|| ReplyError::Unreadable("records do not parse".into()))?;
    let has_service_binding = sections
        .records
        .iter()
        .any(|r| r.rtype == rtype::HTTPS || r.rtype == rtype::SVCB);
    let opt_positions: Vec<usize> = sections
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.rtype == rtype::OPT)
        .map(|(i, _)| i)
        .collect();
    let opt_is_last = match opt_positions.as_slice() {
        [] => true,
        [only] => *only + 1 == sections.records.len(),
        _ => false,
    };
    if !has_service_binding && opt_is_last {
        if let (Some(&last), Some(record)) = (opt_positions.first(), sections.records.last()) {
            debug_assert_eq!(last + 1, sections.records.len());
            reply.truncate(record.name_at);
            let additional = sections.counts[2].saturating_sub(1);
            reply[10..12].copy_from_slice(&additional.to_be_bytes());
        } else {
            reply.truncate(
                sections
                    .records
                    .last()
                    .map_or(sections.records_at, |r| r.end),
            );
        }
        reply[0..2].copy_from_slice(&[0, 0]);
        return Ok((reply, Removed::default()));
    }

    let mut message =
        Message::from_vec(&reply).map_err(|e| ReplyError::Unreadable(e.to_string()))?;
    message.edns = None;
    message.signature = None;
    message.metadata.id = 0;
    let mut removed = Removed::default();
    for record in message
        .answers
        .iter_mut()
        .chain(message.authorities.iter_mut())
        .chain(message.additionals.iter_mut())
    {
        let svcb = match &mut record.data {
            RData::HTTPS(https) => &mut https.0,
            RData::SVCB(svcb) => svcb,
            _ => continue,
        };
        let before = svcb.svc_params.len();
        svcb.svc_params
            .retain(|(key, _)| !matches!(key, SvcParamKey::EchConfigList));
        removed.ech |= svcb.svc_params.len() != before;
        if remove_http3 {
            removed.http3 |= remove_h3(&mut svcb.svc_params);
        }
    }
    let bytes = message
        .to_vec()
        .map_err(|e| ReplyError::Rewrite(e.to_string()))?;
    Ok((bytes, removed))
}

/// Removes `h3` (and drafts, `h3-29`…) from a service binding's ALPN. An ALPN left empty goes,
/// and with it `no-default-alpn` (the record then offers HTTP/1.1, the default, as a client
/// would assume anyway). Returns whether anything was removed.
fn remove_h3(params: &mut Vec<(SvcParamKey, SvcParamValue)>) -> bool {
    let mut removed = false;
    let mut emptied = false;
    for (key, value) in params.iter_mut() {
        if let (SvcParamKey::Alpn, SvcParamValue::Alpn(alpn)) = (key, value) {
            let before = alpn.0.len();
            alpn.0.retain(|id| id != "h3" && !id.starts_with("h3-"));
            removed |= alpn.0.len() != before;
            emptied |= alpn.0.is_empty();
        }
    }
    if emptied {
        params.retain(|(key, _)| !matches!(key, SvcParamKey::Alpn | SvcParamKey::NoDefaultAlpn));
    }
    removed
}

/// Builds the safe-search answer for `name` (presentation form) and `qtype`: a CNAME to the
/// safe host, then the safe host's records from `target_reply` (normalised). The result is a
/// normalised reply too (id 0, no OPT).
pub fn safe_search(
    name: &str,
    qtype: u16,
    target: &str,
    target_reply: &[u8],
) -> Result<Vec<u8>, ReplyError> {
    let parsed =
        Message::from_vec(target_reply).map_err(|e| ReplyError::Unreadable(e.to_string()))?;
    let owner = fqdn(name)?;
    let target_name = fqdn(target)?;
    let mut message = Message::response(0, parsed.metadata.op_code);
    message.metadata.recursion_available = true;
    message.metadata.recursion_desired = true;
    message.metadata.response_code = parsed.metadata.response_code;
    message.add_query(HickoryQuery::query(owner.clone(), RecordType::from(qtype)));
    // The CNAME lives as long as the target's records; 300 s when the target has none.
    let ttl = parsed.answers.iter().map(|r| r.ttl).min().unwrap_or(300);
    message.add_answer(Record::from_rdata(
        owner,
        ttl,
        RData::CNAME(CNAME(target_name)),
    ));
    message.add_answers(parsed.answers);
    message.add_authorities(parsed.authorities);
    message
        .to_vec()
        .map_err(|e| ReplyError::Rewrite(e.to_string()))
}

fn fqdn(text: &str) -> Result<Name, ReplyError> {
    let mut name =
        Name::from_ascii(text).map_err(|e| ReplyError::Rewrite(format!("{text}: {e}")))?;
    name.set_fqdn(true);
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Edns;
    use hickory_proto::rr::rdata::svcb::{Alpn, EchConfigList, SVCB};
    use hickory_proto::rr::rdata::{A, HTTPS};

    fn upstream_reply(records: Vec<Record>, qtype: RecordType) -> Vec<u8> {
        let mut message = Message::response(0x4242, hickory_proto::op::OpCode::Query);
        message.add_query(HickoryQuery::query(
            fqdn("example.com").expect("well-formed test message"),
            qtype,
        ));
        message.add_answers(records);
        message.set_edns(Edns::new());
        message.to_vec().expect("well-formed test message")
    }

    #[test]
    fn opt_and_id_are_removed_from_plain_replies() {
        let record = Record::from_rdata(
            fqdn("example.com").expect("well-formed test message"),
            60,
            RData::A(A::new(192, 0, 2, 7)),
        );
        let (bytes, removed) = normalise(upstream_reply(vec![record], RecordType::A), false)
            .expect("well-formed test message");
        assert_eq!(removed, Removed::default());
        let message = Message::from_vec(&bytes).expect("well-formed test message");
        assert_eq!(message.metadata.id, 0);
        assert!(message.edns.is_none());
        assert_eq!(message.answers.len(), 1);
    }

    #[test]
    fn ech_is_removed_and_other_parameters_kept() {
        let svcb = SVCB::new(
            1,
            Name::root(),
            vec![
                (
                    SvcParamKey::Alpn,
                    SvcParamValue::Alpn(Alpn(vec!["h2".into()])),
                ),
                (
                    SvcParamKey::EchConfigList,
                    SvcParamValue::EchConfigList(EchConfigList(vec![0, 1, 2, 3])),
                ),
            ],
        );
        let record = Record::from_rdata(
            fqdn("example.com").expect("well-formed test message"),
            60,
            RData::HTTPS(HTTPS(svcb)),
        );
        let (bytes, removed) = normalise(upstream_reply(vec![record], RecordType::HTTPS), false)
            .expect("well-formed test message");
        assert!(removed.ech && !removed.http3);
        let message = Message::from_vec(&bytes).expect("well-formed test message");
        let RData::HTTPS(https) = &message.answers[0].data else {
            panic!("not HTTPS: {:?}", message.answers[0]);
        };
        assert_eq!(https.0.svc_params.len(), 1);
        assert_eq!(https.0.svc_params[0].0, SvcParamKey::Alpn);
        assert!(message.edns.is_none());
    }

    fn https_record(alpn: &[&str], no_default: bool) -> Vec<u8> {
        let mut params = vec![(
            SvcParamKey::Alpn,
            SvcParamValue::Alpn(Alpn(alpn.iter().map(|a| (*a).to_owned()).collect())),
        )];
        if no_default {
            params.push((SvcParamKey::NoDefaultAlpn, SvcParamValue::NoDefaultAlpn));
        }
        let record = Record::from_rdata(
            fqdn("example.com").expect("name"),
            60,
            RData::HTTPS(HTTPS(SVCB::new(1, Name::root(), params))),
        );
        upstream_reply(vec![record], RecordType::HTTPS)
    }

    fn params(bytes: &[u8]) -> Vec<(SvcParamKey, SvcParamValue)> {
        let message = Message::from_vec(bytes).expect("reply");
        let RData::HTTPS(https) = &message.answers[0].data else {
            panic!("not HTTPS: {:?}", message.answers[0]);
        };
        https.0.svc_params.clone()
    }

    #[test]
    fn http3_is_removed_from_alpn_when_asked() {
        let (bytes, removed) =
            normalise(https_record(&["h3", "h3-29", "h2"], false), true).expect("reply");
        assert!(removed.http3 && !removed.ech);
        assert_eq!(
            params(&bytes),
            [(
                SvcParamKey::Alpn,
                SvcParamValue::Alpn(Alpn(vec!["h2".into()]))
            )]
        );
        // Only HTTP/3 offered: the record keeps offering the default (HTTP/1.1) instead.
        let (bytes, _) = normalise(https_record(&["h3"], true), true).expect("reply");
        assert!(params(&bytes).is_empty(), "{:?}", params(&bytes));
        // Without inspection, HTTP/3 stays.
        let (bytes, removed) = normalise(https_record(&["h3", "h2"], false), false).expect("reply");
        assert_eq!(removed, Removed::default());
        assert_eq!(
            params(&bytes),
            [(
                SvcParamKey::Alpn,
                SvcParamValue::Alpn(Alpn(vec!["h3".into(), "h2".into()]))
            )]
        );
    }

    #[test]
    fn safe_search_answers_chain_to_the_safe_host() {
        let target = Record::from_rdata(
            fqdn("forcesafesearch.google.com").expect("well-formed test message"),
            120,
            RData::A(A::new(216, 239, 38, 120)),
        );
        let mut reply = Message::response(0, hickory_proto::op::OpCode::Query);
        reply.add_query(HickoryQuery::query(
            fqdn("forcesafesearch.google.com").expect("well-formed test message"),
            RecordType::A,
        ));
        reply.add_answer(target);
        let bytes = safe_search(
            "www.google.co.uk",
            rtype::A,
            "forcesafesearch.google.com",
            &reply.to_vec().expect("well-formed test message"),
        )
        .expect("well-formed test message");
        let message = Message::from_vec(&bytes).expect("well-formed test message");
        assert_eq!(message.queries[0].name().to_ascii(), "www.google.co.uk.");
        assert_eq!(message.answers.len(), 2);
        assert!(
            matches!(&message.answers[0].data, RData::CNAME(c) if c.0.to_ascii() == "forcesafesearch.google.com.")
        );
        assert_eq!(message.answers[0].ttl, 120);
    }
}
