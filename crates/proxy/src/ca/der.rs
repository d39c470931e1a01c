//! Just enough of DER (X.690) to read a certificate's subject and validity: what Ward needs to
//! sign with a CA it made earlier and to say when that CA expires. Anything unexpected is an
//! error, never a guess.

use jiff::Timestamp;
use jiff::civil::DateTime;

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the certificate cannot be read: {0}")]
pub struct DerError(&'static str);

/// One attribute of a distinguished name: its type's object identifier, the string type's tag
/// and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAttribute {
    /// The attribute type (2.5.4.3 is the common name).
    pub oid: Vec<u64>,
    /// The string's DER tag (12 UTF8String, 19 PrintableString, 22 IA5String).
    pub tag: u8,
    /// The text.
    pub value: String,
}

/// What Ward reads from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFields {
    /// The subject's attributes, in order.
    pub subject: Vec<NameAttribute>,
    /// Valid from.
    pub not_before: Timestamp,
    /// Valid until.
    pub not_after: Timestamp,
    /// The subject's public key (its whole `SubjectPublicKeyInfo`, as DER).
    pub public_key: Vec<u8>,
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION: u8 = 0xa0;

/// Reads one tag-length-value: (tag, contents, the rest).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError("it ends early"))?;
    if tag & 0x1f == 0x1f {
        return Err(DerError("a multi-byte tag"));
    }
    let (&first, rest) = rest.split_first().ok_or(DerError("it ends early"))?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(DerError("a bad length"));
        }
        let (bytes, rest) = rest.split_at(count);
        if bytes[0] == 0 {
            return Err(DerError("a length that is not minimal"));
        }
        let length = bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
        if length < 0x80 {
            return Err(DerError("a length that is not minimal"));
        }
        (length, rest)
    };
    if rest.len() < length {
        return Err(DerError("it ends early"));
    }
    let (contents, rest) = rest.split_at(length);
    Ok((tag, contents, rest))
}

/// Reads a value that must have `tag`.
fn expect<'a>(
    input: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), DerError> {
    let (found, contents, rest) = tlv(input)?;
    if found != tag {
        return Err(DerError(what));
    }
    Ok((contents, rest))
}

/// Reads a certificate's subject and validity.
pub fn certificate_fields(der: &[u8]) -> Result<CertificateFields, DerError> {
    let (certificate, rest) = expect(der, SEQUENCE, "it is not a certificate")?;
    if !rest.is_empty() {
        return Err(DerError("bytes after the certificate"));
    }
    let (tbs, _) = expect(certificate, SEQUENCE, "it has no certificate body")?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    let (_serial, rest) = expect(rest, INTEGER, "it has no serial number")?;
    let (_algorithm, rest) = expect(rest, SEQUENCE, "it has no signature algorithm")?;
    let (_issuer, rest) = expect(rest, SEQUENCE, "it has no issuer")?;
    let (validity, rest) = expect(rest, SEQUENCE, "it has no validity")?;
    let (subject, rest) = expect(rest, SEQUENCE, "it has no subject")?;
    let (_, after_key) = expect(rest, SEQUENCE, "it has no public key")?;
    let public_key = rest[..rest.len() - after_key.len()].to_vec();
    let (not_before, validity) = time(validity)?;
    let (not_after, _) = time(validity)?;
    Ok(CertificateFields {
        subject: name(subject)?,
        not_before,
        not_after,
        public_key,
    })
}

/// A `Name`'s attributes (RDNs of one attribute each, as certificates have in practice).
fn name(mut input: &[u8]) -> Result<Vec<NameAttribute>, DerError> {
    let mut attributes = Vec::new();
    while !input.is_empty() {
        let (set, rest) = expect(input, SET, "a name part is not a set")?;
        input = rest;
        let (pair, extra) = expect(set, SEQUENCE, "a name attribute is not a sequence")?;
        if !extra.is_empty() {
            return Err(DerError("a name part with several attributes"));
        }
        let (oid_bytes, value) = expect(pair, OID, "a name attribute has no type")?;
        let (tag, text, after) = tlv(value)?;
        if !after.is_empty() {
            return Err(DerError("bytes after a name attribute"));
        }
        let value = match tag {
            12 | 19 | 22 => std::str::from_utf8(text)
                .map_err(|_| DerError("a name that is not text"))?
                .to_owned(),
            _ => return Err(DerError("a name in a string type Ward does not read")),
        };
        attributes.push(NameAttribute {
            oid: oid(oid_bytes)?,
            tag,
            value,
        });
    }
    Ok(attributes)
}

/// An object identifier's arcs.
fn oid(bytes: &[u8]) -> Result<Vec<u64>, DerError> {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if value == 0 && byte == 0x80 {
            return Err(DerError("an object identifier that is not minimal"));
        }
        value = value
            .checked_mul(128)
            .ok_or(DerError("an object identifier too long"))?
            | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        } else if i + 1 == bytes.len() {
            return Err(DerError("an object identifier ends early"));
        }
    }
    if arcs.is_empty() {
        return Err(DerError("an empty object identifier"));
    }
    Ok(arcs)
}

/// A UTCTime or GeneralizedTime (`Z` only, as RFC 5280 requires).
fn time(input: &[u8]) -> Result<(Timestamp, &[u8]), DerError> {
    let (tag, contents, rest) = tlv(input)?;
    let text = std::str::from_utf8(contents).map_err(|_| DerError("a time that is not text"))?;
    let digits = text
        .strip_suffix('Z')
        .ok_or(DerError("a time not in UTC"))?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DerError("a time that is not digits"));
    }
    let number = |range: std::ops::Range<usize>| -> Result<i32, DerError> {
        digits
            .get(range)
            .and_then(|d| d.parse().ok())
            .ok_or(DerError("a time too short"))
    };
    let (year, rest_at) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (number(0..4)?, 4),
        _ => return Err(DerError("a time in a form Ward does not read")),
    };
    let field = |at: usize| number(rest_at + at..rest_at + at + 2);
    let small = |n: i32| i8::try_from(n).map_err(|_| DerError("a time out of range"));
    let civil = DateTime::new(
        i16::try_from(year).map_err(|_| DerError("a time out of range"))?,
        small(field(0)?)?,
        small(field(2)?)?,
        small(field(4)?)?,
        small(field(6)?)?,
        small(field(8)?)?,
        0,
    )
    .map_err(|_| DerError("a time that is not a date"))?;
    let at = civil
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map_err(|_| DerError("a time out of range"))?
        .timestamp();
    Ok((at, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_identifiers_are_read() {
        assert_eq!(oid(&[0x55, 0x04, 0x03]).ok(), Some(vec![2, 5, 4, 3]));
        assert_eq!(
            oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]).ok(),
            Some(vec![1, 2, 840, 113549])
        );
        assert!(oid(&[0x86]).is_err());
        assert!(oid(&[]).is_err());
        assert!(oid(&[0x80, 0x01]).is_err());
    }

    #[test]
    fn times_are_read_in_both_forms() {
        let utc = [
            UTC_TIME, 13, b'2', b'6', b'1', b'2', b'0', b'2', b'0', b'3', b'0', b'4', b'0', b'5',
            b'Z',
        ];
        let (at, rest) = time(&utc).expect("UTCTime");
        assert!(rest.is_empty());
        assert_eq!(at.to_string(), "2026-12-02T03:04:05Z");
        let mut generalized = vec![GENERALIZED_TIME, 15];
        generalized.extend_from_slice(b"20991231235959Z");
        assert_eq!(
            time(&generalized).map(|(at, _)| at.to_string()).ok(),
            Some("2099-12-31T23:59:59Z".into())
        );
        let local = [
            UTC_TIME, 12, b'2', b'6', b'1', b'2', b'0', b'2', b'0', b'3', b'0', b'4', b'0', b'5',
        ];
        assert!(time(&local).is_err());
        let bad_month = [
            UTC_TIME, 13, b'2', b'6', b'1', b'3', b'0', b'2', b'0', b'3', b'0', b'4', b'0', b'5',
            b'Z',
        ];
        assert!(time(&bad_month).is_err());
    }

    #[test]
    fn lengths_must_be_whole_and_minimal() {
        assert!(tlv(&[0x30, 0x05, 1, 2]).is_err());
        assert!(tlv(&[0x30, 0x81, 0x05, 1, 2, 3, 4, 5]).is_err());
        assert!(tlv(&[0x30, 0x82, 0x00, 0x80]).is_err());
        assert!(tlv(&[0x1f, 0x01, 0x00]).is_err());
        assert_eq!(
            tlv(&[0x04, 0x01, 9, 7]).ok(),
            Some((0x04, &[9u8][..], &[7u8][..]))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for length in 0..400 {
            let bytes: Vec<u8> = (0..length)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 24) as u8
                })
                .collect();
            let _ = certificate_fields(&bytes);
            let mut framed = vec![0x30, 0x82, (length >> 8) as u8, length as u8];
            framed.extend_from_slice(&bytes);
            let _ = certificate_fields(&framed);
        }
    }
}
