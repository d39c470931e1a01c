//! The DER that Kerberos messages are written in (RFC 4120 uses ASN.1 with explicit context
//! tags and application tags): definite lengths only, every length checked against what is
//! left, so a hostile token is an error and never a panic or a long loop.

use jiff::Timestamp;

/// A message that does not read as the DER it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Kerberos message: {0}")]
pub struct DerError(pub &'static str);

/// `SEQUENCE`.
pub const SEQUENCE: u8 = 0x30;
/// `INTEGER`.
pub const INTEGER: u8 = 0x02;
/// `OCTET STRING`.
pub const OCTET_STRING: u8 = 0x04;
/// `OBJECT IDENTIFIER`.
pub const OID: u8 = 0x06;
/// `GeneralString` (Kerberos strings).
pub const GENERAL_STRING: u8 = 0x1b;
/// `GeneralizedTime`.
pub const GENERALIZED_TIME: u8 = 0x18;

/// The tag of `[APPLICATION n]` (constructed).
pub const fn application(n: u8) -> u8 {
    0x60 | n
}

/// The tag of `[n]` (context-specific, constructed), as Kerberos's explicit tags are.
pub const fn context(n: u8) -> u8 {
    0xa0 | n
}

/// One element: its tag and contents, and what follows it.
pub fn element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError("it ends early"))?;
    if tag & 0x1f == 0x1f {
        return Err(DerError("a tag number above 30"));
    }
    let (&first, rest) = rest.split_first().ok_or(DerError("it ends early"))?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 {
            return Err(DerError("an indefinite length"));
        }
        if count > 4 || rest.len() < count {
            return Err(DerError("a length that cannot be right"));
        }
        let length = rest[..count]
            .iter()
            .fold(0usize, |length, &byte| (length << 8) | usize::from(byte));
        (length, &rest[count..])
    };
    if rest.len() < length {
        return Err(DerError("an element longer than the message"));
    }
    Ok((tag, &rest[..length], &rest[length..]))
}

/// The element with tag `tag`, or an error saying what was expected.
pub fn expect<'a>(
    input: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), DerError> {
    match element(input)? {
        (found, contents, rest) if found == tag => Ok((contents, rest)),
        _ => Err(DerError(what)),
    }
}

/// The fields of a `SEQUENCE` with explicit context tags, by tag number (`[0]`…`[15]`); each
/// field's contents are its inner element.
pub fn fields(sequence: &[u8]) -> Result<[Option<&[u8]>; 16], DerError> {
    let mut found: [Option<&[u8]>; 16] = [None; 16];
    let mut rest = sequence;
    while !rest.is_empty() {
        let (tag, contents, after) = element(rest)?;
        let number = usize::from(tag & 0x1f);
        if tag & 0xe0 != 0xa0 || number >= found.len() || found[number].is_some() {
            return Err(DerError("an unexpected field"));
        }
        found[number] = Some(contents);
        rest = after;
    }
    Ok(found)
}

/// A required field.
pub fn required<'a>(
    fields: &[Option<&'a [u8]>; 16],
    number: usize,
    what: &'static str,
) -> Result<&'a [u8], DerError> {
    fields[number].ok_or(DerError(what))
}

/// An `INTEGER` that fits in an `i64`.
pub fn integer(input: &[u8]) -> Result<i64, DerError> {
    let (bytes, _) = expect(input, INTEGER, "a number was expected")?;
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(DerError("a number out of range"));
    }
    let negative = bytes[0] & 0x80 != 0;
    let start = if negative { -1i64 } else { 0 };
    Ok(bytes
        .iter()
        .fold(start, |value, &byte| (value << 8) | i64::from(byte)))
}

/// An `OCTET STRING`'s bytes.
pub fn octets(input: &[u8]) -> Result<&[u8], DerError> {
    Ok(expect(input, OCTET_STRING, "bytes were expected")?.0)
}

/// A `GeneralString` (Kerberos names and realms), as text.
pub fn string(input: &[u8]) -> Result<String, DerError> {
    let (bytes, _) = expect(input, GENERAL_STRING, "a name was expected")?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DerError("a name that is not text"))
}

/// A `GeneralizedTime` as Kerberos writes it (`YYYYMMDDHHMMSSZ`).
pub fn time(input: &[u8]) -> Result<Timestamp, DerError> {
    let (bytes, _) = expect(input, GENERALIZED_TIME, "a time was expected")?;
    let text = std::str::from_utf8(bytes).map_err(|_| DerError("a time that is not text"))?;
    if text.len() != 15 || !text.ends_with('Z') || !text[..14].bytes().all(|b| b.is_ascii_digit()) {
        return Err(DerError("a time not in Kerberos's form"));
    }
    let number = |range: std::ops::Range<usize>| -> i16 { text[range].parse().unwrap_or(-1) };
    let civil = jiff::civil::DateTime::new(
        number(0..4),
        i8::try_from(number(4..6)).unwrap_or(-1),
        i8::try_from(number(6..8)).unwrap_or(-1),
        i8::try_from(number(8..10)).unwrap_or(-1),
        i8::try_from(number(10..12)).unwrap_or(-1),
        i8::try_from(number(12..14)).unwrap_or(-1),
        0,
    )
    .map_err(|_| DerError("a time that does not exist"))?;
    jiff::tz::TimeZone::UTC
        .to_timestamp(civil)
        .map_err(|_| DerError("a time that does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked() {
        assert_eq!(
            element(&[0x04, 0x02, 1, 2, 9]),
            Ok((0x04, &[1u8, 2][..], &[9u8][..]))
        );
        assert_eq!(
            element(&[0x04, 0x81, 0x01, 7]),
            Ok((0x04, &[7u8][..], &[][..]))
        );
        assert!(
            element(&[0x04, 0x05, 1]).is_err(),
            "longer than what is left"
        );
        assert!(element(&[0x04, 0x80, 1, 0, 0]).is_err(), "indefinite");
        assert!(element(&[0x04, 0x89, 1]).is_err(), "a nine-byte length");
        assert!(element(&[0x1f, 0x01, 0x00]).is_err(), "a long tag");
        assert!(element(&[]).is_err());
    }

    #[test]
    fn numbers_times_and_fields_are_read() {
        assert_eq!(integer(&[0x02, 0x01, 0x05]), Ok(5));
        assert_eq!(integer(&[0x02, 0x01, 0xff]), Ok(-1));
        assert_eq!(integer(&[0x02, 0x02, 0x01, 0x00]), Ok(256));
        assert!(integer(&[0x02, 0x00]).is_err());
        let when = time(b"\x18\x0f20261202052526Z").expect("a time");
        assert_eq!(when.to_string(), "2026-12-02T05:25:26Z");
        assert!(time(b"\x18\x0f20261302052526Z").is_err(), "month 13");
        let sequence = [0xa0, 0x03, 0x02, 0x01, 0x05, 0xa2, 0x03, 0x02, 0x01, 0x07];
        let found = fields(&sequence).expect("fields");
        assert_eq!(integer(found[0].expect("[0]")), Ok(5));
        assert!(found[1].is_none());
        assert_eq!(integer(found[2].expect("[2]")), Ok(7));
        assert!(fields(&[0xa0, 0x00, 0xa0, 0x00]).is_err(), "a field twice");
        assert!(fields(&[0x30, 0x00]).is_err(), "not a context field");
    }
}
