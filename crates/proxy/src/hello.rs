//! The server name in a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3), for transparent HTTPS:
//! the proxy reads the client's first bytes, decides on the name, and then splices the
//! connection to the server unchanged (the bytes read are sent on first).
//!
//! The ClientHello may span several TLS records; they are put back together up to
//! [`MAX_HELLO`] bytes. Nothing here trusts a length: every read is bounds-checked.

/// Most bytes read while waiting for a whole ClientHello (Chrome's, with post-quantum key
/// shares, is about 1.8 KB; a ClientHello may be up to 2^24 bytes, but none real is this large).
pub const MAX_HELLO: usize = 16 * 1024;

const RECORD_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXTENSION_SERVER_NAME: u16 = 0;
const EXTENSION_ECH: u16 = 0xfe0d;
const NAME_TYPE_HOST: u8 = 0;

/// What the ClientHello says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The server name (SNI), if the client sent one.
    pub server_name: Option<String>,
    /// Whether it offers Encrypted Client Hello (the name above is then only the outer, public
    /// name).
    pub ech: bool,
}

/// Why no server name could be read (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// More bytes are needed.
    #[error("incomplete ClientHello")]
    Incomplete,
    /// The bytes are not a TLS handshake (plain HTTP on the HTTPS port, say).
    #[error("not a TLS ClientHello")]
    NotTls,
    /// A TLS handshake, but malformed or too large.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
}

/// Reads the ClientHello at the start of `bytes` (what the client has sent so far).
pub fn parse_client_hello(bytes: &[u8]) -> Result<ClientHello, HelloError> {
    if bytes.is_empty() {
        return Err(HelloError::Incomplete);
    }
    if bytes[0] != RECORD_HANDSHAKE {
        return Err(HelloError::NotTls);
    }
    // Put the handshake message back together from its records.
    let mut handshake = Vec::new();
    let mut rest = bytes;
    let message_length = loop {
        if rest.len() < 5 {
            return Err(HelloError::Incomplete);
        }
        if rest[0] != RECORD_HANDSHAKE {
            return Err(HelloError::Malformed(
                "record type changed inside the handshake",
            ));
        }
        if rest[1] != 3 {
            return Err(HelloError::NotTls);
        }
        let length = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if length == 0 {
            return Err(HelloError::Malformed("empty record"));
        }
        if rest.len() < 5 + length {
            if bytes.len() >= MAX_HELLO {
                return Err(HelloError::Malformed("too large"));
            }
            return Err(HelloError::Incomplete);
        }
        handshake.extend_from_slice(&rest[5..5 + length]);
        rest = &rest[5 + length..];
        if handshake.len() >= 4 {
            if handshake[0] != HANDSHAKE_CLIENT_HELLO {
                return Err(HelloError::Malformed(
                    "first handshake message is not a ClientHello",
                ));
            }
            let length = usize::from(handshake[1]) << 16
                | usize::from(handshake[2]) << 8
                | usize::from(handshake[3]);
            if length > MAX_HELLO {
                return Err(HelloError::Malformed("too large"));
            }
            if handshake.len() >= 4 + length {
                break length;
            }
        }
    };
    client_hello_body(&handshake[4..4 + message_length])
}

fn client_hello_body(body: &[u8]) -> Result<ClientHello, HelloError> {
    let mut reader = Reader(body);
    reader.skip(2, "version")?;
    reader.skip(32, "random")?;
    let session = reader.u8("session id")?;
    reader.skip(usize::from(session), "session id")?;
    let suites = reader.u16("cipher suites")?;
    reader.skip(usize::from(suites), "cipher suites")?;
    let compression = reader.u8("compression methods")?;
    reader.skip(usize::from(compression), "compression methods")?;
    let mut hello = ClientHello {
        server_name: None,
        ech: false,
    };
    if reader.0.is_empty() {
        // No extensions at all (very old clients): no name.
        return Ok(hello);
    }
    let length = reader.u16("extensions")?;
    let mut extensions = Reader(reader.take(usize::from(length), "extensions")?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16("extension type")?;
        let length = extensions.u16("extension length")?;
        let data = extensions.take(usize::from(length), "extension")?;
        match kind {
            EXTENSION_SERVER_NAME => {
                if hello.server_name.is_some() {
                    return Err(HelloError::Malformed("two server_name extensions"));
                }
                hello.server_name = server_name(data)?;
            }
            EXTENSION_ECH => hello.ech = true,
            _ => {}
        }
    }
    Ok(hello)
}

fn server_name(data: &[u8]) -> Result<Option<String>, HelloError> {
    let mut reader = Reader(data);
    let length = reader.u16("server name list")?;
    let mut list = Reader(reader.take(usize::from(length), "server name list")?);
    let mut found = None;
    while !list.0.is_empty() {
        let kind = list.u8("name type")?;
        let length = list.u16("name length")?;
        let name = list.take(usize::from(length), "name")?;
        if kind == NAME_TYPE_HOST {
            if found.is_some() {
                return Err(HelloError::Malformed("two host names"));
            }
            // RFC 6066: ASCII, no trailing dot; anything else is refused rather than guessed.
            if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
                return Err(HelloError::Malformed(
                    "server name is not an ASCII host name",
                ));
            }
            found = Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    Ok(found)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], HelloError> {
        if self.0.len() < n {
            return Err(HelloError::Malformed(what));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn skip(&mut self, n: usize, what: &'static str) -> Result<(), HelloError> {
        self.take(n, what).map(|_| ())
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, HelloError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, HelloError> {
        let bytes = self.take(2, what)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds a ClientHello record: `names` as host names in one
    /// server_name extension (none: no extension), optionally an ECH extension, split into records
    /// of at most `record_size` bytes.
    fn build_client_hello(names: &[&str], ech: bool, record_size: usize) -> Vec<u8> {
        let mut extensions = Vec::new();
        if !names.is_empty() {
            let mut list = Vec::new();
            for name in names {
                list.push(NAME_TYPE_HOST);
                list.extend_from_slice(&(name.len() as u16).to_be_bytes());
                list.extend_from_slice(name.as_bytes());
            }
            extensions.extend_from_slice(&EXTENSION_SERVER_NAME.to_be_bytes());
            extensions.extend_from_slice(&((list.len() + 2) as u16).to_be_bytes());
            extensions.extend_from_slice(&(list.len() as u16).to_be_bytes());
            extensions.extend_from_slice(&list);
        }
        // supported_versions (TLS 1.3), as every real client sends.
        extensions.extend_from_slice(&[0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04]);
        if ech {
            extensions.extend_from_slice(&EXTENSION_ECH.to_be_bytes());
            extensions.extend_from_slice(&[0x00, 0x04, 0x00, 0x00, 0x01, 0x00]);
        }
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7u8; 32]);
        body.push(32);
        body.extend_from_slice(&[9u8; 32]);
        body.extend_from_slice(&[0x00, 0x04, 0x13, 0x01, 0x13, 0x02]);
        body.extend_from_slice(&[0x01, 0x00]);
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(&extensions);
        let mut handshake = vec![HANDSHAKE_CLIENT_HELLO];
        handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        handshake.extend_from_slice(&body);
        let mut out = Vec::new();
        for chunk in handshake.chunks(record_size.max(1)) {
            out.extend_from_slice(&[RECORD_HANDSHAKE, 3, 1]);
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    #[test]
    fn reads_the_server_name() {
        let hello = build_client_hello(&["www.example.com"], false, 16_384);
        assert_eq!(
            parse_client_hello(&hello),
            Ok(ClientHello {
                server_name: Some("www.example.com".into()),
                ech: false
            })
        );
        let hello = build_client_hello(&["public.example"], true, 16_384);
        assert!(parse_client_hello(&hello).expect("ech").ech);
        let hello = build_client_hello(&[], false, 16_384);
        assert_eq!(
            parse_client_hello(&hello).expect("no sni").server_name,
            None
        );
    }

    #[test]
    fn waits_for_every_record_of_a_split_hello() {
        let hello = build_client_hello(&["split.example"], false, 20);
        for end in 0..hello.len() {
            assert_eq!(
                parse_client_hello(&hello[..end]),
                Err(HelloError::Incomplete),
                "{end}"
            );
        }
        assert_eq!(
            parse_client_hello(&hello)
                .expect("whole")
                .server_name
                .as_deref(),
            Some("split.example")
        );
    }

    #[test]
    fn refuses_what_is_not_a_clean_hello() {
        assert_eq!(
            parse_client_hello(b"GET / HTTP/1.1\r\n"),
            Err(HelloError::NotTls)
        );
        assert!(matches!(
            parse_client_hello(&build_client_hello(
                &["a.example", "b.example"],
                false,
                16_384
            )),
            Err(HelloError::Malformed(_))
        ));
        assert!(matches!(
            parse_client_hello(&build_client_hello(&["bad name"], false, 16_384)),
            Err(HelloError::Malformed(_))
        ));
        // A length that runs past the end.
        let mut hello = build_client_hello(&["x.example"], false, 16_384);
        let last = hello.len() - 1;
        hello[last] = 0xff;
        hello.push(0);
        let _ = parse_client_hello(&hello);
        // A declared handshake larger than the limit.
        let huge = [
            RECORD_HANDSHAKE,
            3,
            1,
            0,
            4,
            HANDSHAKE_CLIENT_HELLO,
            0xff,
            0xff,
            0xff,
        ];
        assert!(matches!(
            parse_client_hello(&huge),
            Err(HelloError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn any_bytes_are_answered_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_client_hello(&bytes);
        }

        #[test]
        fn any_split_reads_the_same_name(name in "[a-z]{1,20}(\\.[a-z]{1,10}){1,3}", size in 1usize..300) {
            let hello = build_client_hello(&[&name], false, size);
            prop_assert_eq!(parse_client_hello(&hello).expect("hello").server_name, Some(name));
        }
    }
}
