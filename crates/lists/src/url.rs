//! Canonical URLs for classification: the single place where a raw URL becomes the text that
//! list entries and expressions are matched against.
//!
//! The canonical form is built for matching, not for forwarding: it is lower-cased throughout,
//! has no scheme, userinfo, default port or fragment, and its path is resolved the way a server
//! would resolve it. Parsing follows what browsers do (the WHATWG URL standard) wherever a
//! difference could be used to slip past a list:
//! - `http://good.com@bad.com/` goes to `bad.com` (userinfo is dropped);
//! - backslashes count as slashes and any number of slashes may follow the scheme;
//! - tabs and newlines anywhere are removed;
//! - hosts go through [`Host::parse`] (case, IDN, percent-encoding, IPv4 forms, IPv6);
//! - in the path, `%XX` escapes of harmless printable characters are decoded (`%61` = `a`),
//!   and everything else is written as an escape, so `é`, `%C3%A9` and `%c3%a9` are one path;
//! - repeated slashes are collapsed and `.` / `..` segments (also written `%2e`) are resolved.
//!
//! Escapes of characters that carry structure (`/ \\ ? # % & = + ;`) are kept as escapes, because
//! decoding them would change which resource or parameter the server sees.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::host::{Host, HostError, hex_value};

/// Why a URL could not be put into canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Nothing left after trimming.
    #[error("empty URL")]
    Empty,
    /// The scheme is one a filter cannot reason about (e.g. `javascript:`).
    #[error("unsupported URL scheme {0:?}")]
    UnsupportedScheme(String),
    /// The host part is not a valid host.
    #[error("invalid host: {0}")]
    Host(#[from] HostError),
    /// The port is not a number from 0 to 65535.
    #[error("invalid port")]
    BadPort,
}

/// The scheme of a URL. Anything else is refused: a filter should not guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`
    Http,
    /// `https`
    Https,
    /// `ws`
    Ws,
    /// `wss`
    Wss,
    /// `ftp`
    Ftp,
}

impl Scheme {
    fn from_name(name: &str) -> Option<Scheme> {
        [
            Scheme::Http,
            Scheme::Https,
            Scheme::Ws,
            Scheme::Wss,
            Scheme::Ftp,
        ]
        .into_iter()
        .find(|scheme| scheme.as_str().eq_ignore_ascii_case(name))
    }

    /// The scheme's name, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Ftp => "ftp",
        }
    }

    /// The port a URL of this scheme uses when none is written.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http | Scheme::Ws => 80,
            Scheme::Https | Scheme::Wss => 443,
            Scheme::Ftp => 21,
        }
    }
}

/// A URL in canonical form (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalUrl {
    scheme: Scheme,
    host: Host,
    port: Option<u16>,
    /// Canonical path, always starting with `/`, followed by `?query` when there is one.
    path_and_query: String,
}

impl CanonicalUrl {
    /// Parses a raw URL. A URL without a scheme (`example.com/path`, as list files write them)
    /// is taken as `http`.
    pub fn parse(raw: &str) -> Result<CanonicalUrl, UrlError> {
        let cleaned = clean_input(raw);
        if cleaned.is_empty() {
            return Err(UrlError::Empty);
        }
        let (scheme, rest) = split_scheme(&cleaned)?;
        let rest = rest.trim_start_matches(['/', '\\']);
        let authority_end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let host_and_port = match authority.rfind('@') {
            Some(at) => &authority[at + 1..],
            None => authority,
        };
        let (host_text, port_text) = split_port(host_and_port);
        let host = Host::parse(host_text)?;
        let port = match port_text {
            None | Some("") => None,
            Some(digits) => {
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(UrlError::BadPort);
                }
                let port: u16 = digits.parse().map_err(|_| UrlError::BadPort)?;
                (port != scheme.default_port()).then_some(port)
            }
        };
        let tail = match tail.find('#') {
            Some(hash) => &tail[..hash],
            None => tail,
        };
        let (path, query) = match tail.find('?') {
            Some(mark) => (&tail[..mark], Some(&tail[mark + 1..])),
            None => (tail, None),
        };
        let mut path_and_query = canonical_path(path);
        if let Some(query) = query.filter(|q| !q.is_empty()) {
            path_and_query.push('?');
            push_canonical_component(&mut path_and_query, query.as_bytes());
        }
        Ok(CanonicalUrl {
            scheme,
            host,
            port,
            path_and_query,
        })
    }

    /// The URL's scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The canonical host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port, when it is not the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Canonical path and query, e.g. `/search?q=cats`.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// The text list entries and expressions match against: host, then path and query, with no
    /// scheme or port, as squidGuard-style lists write URLs (`example.com/path`).
    pub fn match_key(&self) -> String {
        let mut key = match &self.host {
            Host::Domain(name) => {
                let mut key =
                    String::with_capacity(name.as_str().len() + self.path_and_query.len());
                key.push_str(name.as_str());
                key
            }
            Host::Ipv4(_) | Host::Ipv6(_) => self.host.to_string(),
        };
        key.push_str(&self.path_and_query);
        key
    }
}

impl fmt::Display for CanonicalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        f.write_str(&self.path_and_query)
    }
}

impl FromStr for CanonicalUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        CanonicalUrl::parse(text)
    }
}

/// Removes leading and trailing C0 controls and spaces, and every tab and newline, as browsers do.
/// Borrows when there is nothing to remove, which is almost always.
fn clean_input(raw: &str) -> Cow<'_, str> {
    let trimmed = raw.trim_matches(|c: char| c <= ' ');
    if trimmed.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r')) {
        Cow::Owned(
            trimmed
                .chars()
                .filter(|&c| !matches!(c, '\t' | '\n' | '\r'))
                .collect(),
        )
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// Splits off a known scheme. Text without `scheme:` is taken as a scheme-less `http` URL; so is
/// `host:port/...`, whose "scheme" would contain a dot or be followed by digits.
fn split_scheme(text: &str) -> Result<(Scheme, &str), UrlError> {
    let Some(colon) = text.find(':') else {
        return Ok((Scheme::Http, text));
    };
    let name = &text[..colon];
    let is_scheme_shaped = name
        .bytes()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !is_scheme_shaped {
        return Ok((Scheme::Http, text));
    }
    let rest = &text[colon + 1..];
    match Scheme::from_name(name) {
        Some(scheme) => Ok((scheme, rest)),
        // `example.com:8080/path`: a host and a port, not a scheme.
        None if rest.starts_with(|c: char| c.is_ascii_digit()) || rest.is_empty() => {
            Ok((Scheme::Http, text))
        }
        None => Err(UrlError::UnsupportedScheme(name.to_ascii_lowercase())),
    }
}

/// Splits `host:port`, respecting IPv6 brackets. A bare IPv6 address without brackets has no
/// port.
fn split_port(text: &str) -> (&str, Option<&str>) {
    if text.starts_with('[') {
        return match text.find(']') {
            Some(close) => {
                let port = text[close + 1..].strip_prefix(':');
                (&text[..=close], port)
            }
            None => (text, None),
        };
    }
    match text.rfind(':') {
        Some(colon) if text[..colon].contains(':') => (text, None),
        Some(colon) => (&text[..colon], Some(&text[colon + 1..])),
        None => (text, None),
    }
}

/// Characters whose escapes are kept: decoding them would change the URL's structure. A
/// backslash counts, because a raw one in a path is a slash (found by fuzzing: decoding `%5c`
/// made the canonical form change when normalised again).
fn is_structural(byte: u8) -> bool {
    matches!(
        byte,
        b'%' | b'/' | b'\\' | b'?' | b'#' | b'&' | b'=' | b'+' | b';'
    )
}

/// Appends one URL component in canonical form: lower case, harmless escapes decoded, everything
/// else outside printable ASCII escaped with lower-case hex.
fn push_canonical_component(output: &mut String, input: &[u8]) {
    // Most components are already canonical: lower-case letters, digits and a few marks.
    let plain = input.iter().all(|&b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_' | b'~')
    });
    if plain && let Ok(text) = std::str::from_utf8(input) {
        output.push_str(text);
        return;
    }
    let mut index = 0;
    while index < input.len() {
        let byte = input[index];
        if byte == b'%' {
            let escaped = input
                .get(index + 1)
                .and_then(|&h| hex_value(h))
                .zip(input.get(index + 2).and_then(|&l| hex_value(l)));
            if let Some((high, low)) = escaped {
                let decoded = high << 4 | low;
                if (0x21..0x7f).contains(&decoded) && !is_structural(decoded) {
                    output.push(char::from(decoded.to_ascii_lowercase()));
                } else {
                    push_escape(output, decoded);
                }
                index += 3;
                continue;
            }
            // A lone `%` is a literal percent sign.
            push_escape(output, b'%');
            index += 1;
            continue;
        }
        if (0x21..0x7f).contains(&byte) && byte != b'#' {
            output.push(char::from(byte.to_ascii_lowercase()));
        } else {
            push_escape(output, byte);
        }
        index += 1;
    }
}

fn push_escape(output: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    output.push('%');
    output.push(char::from(HEX[usize::from(byte >> 4)]));
    output.push(char::from(HEX[usize::from(byte & 0x0f)]));
}

/// Canonical path: segments canonicalised, empty segments dropped (repeated slashes), `.` and
/// `..` resolved; a trailing slash is kept because `/dir/` and `/dir` can be different resources.
/// Segments are written straight into the result and taken back out for `.` and `..`.
fn canonical_path(raw: &str) -> String {
    let mut path = String::with_capacity(raw.len() + 1);
    let ends_with_slash = raw.ends_with(['/', '\\']);
    let mut ends_in_directory = ends_with_slash;
    for segment in raw.split(['/', '\\']) {
        if segment.is_empty() {
            continue;
        }
        let start = path.len();
        path.push('/');
        push_canonical_component(&mut path, segment.as_bytes());
        match &path[start + 1..] {
            "." => {
                path.truncate(start);
                ends_in_directory = true;
            }
            ".." => {
                path.truncate(start);
                let parent = path.rfind('/').unwrap_or(0);
                path.truncate(parent);
                ends_in_directory = true;
            }
            _ => ends_in_directory = ends_with_slash,
        }
    }
    if path.is_empty() || ends_in_directory {
        path.push('/');
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(raw: &str) -> String {
        CanonicalUrl::parse(raw)
            .unwrap_or_else(|e| panic!("{raw}: {e}"))
            .to_string()
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("http://Example.COM/", "http://example.com/"),
            ("HTTP://example.com", "http://example.com/"),
            ("example.com/Path", "http://example.com/path"),
            ("https://example.com:443/a", "https://example.com/a"),
            ("http://example.com:80/a", "http://example.com/a"),
            ("http://example.com:8080/a", "http://example.com:8080/a"),
            ("example.com:8080/a", "http://example.com:8080/a"),
            ("http://example.com:/a", "http://example.com/a"),
            ("http://good.com@bad.com/", "http://bad.com/"),
            ("http://user:pw@good.com:x@bad.com/x", "http://bad.com/x"),
            ("http:\\\\bad.com\\x", "http://bad.com/x"),
            ("http:/bad.com/x", "http://bad.com/x"),
            ("http:////bad.com/x", "http://bad.com/x"),
            ("http://bad.com//a///b", "http://bad.com/a/b"),
            ("http://bad.com/a/./b/../c", "http://bad.com/a/c"),
            ("http://bad.com/a/%2e%2E/c", "http://bad.com/c"),
            ("http://bad.com/../../x", "http://bad.com/x"),
            ("http://bad.com/a/b/..", "http://bad.com/a/"),
            ("http://bad.com/dir/", "http://bad.com/dir/"),
            ("http://bad.com/x#frag", "http://bad.com/x"),
            ("http://bad.com/x?#frag", "http://bad.com/x"),
            ("http://bad.com/%70%6F%72%6E", "http://bad.com/porn"),
            ("http://bad.com/caf%C3%A9", "http://bad.com/caf%c3%a9"),
            ("http://bad.com/café", "http://bad.com/caf%c3%a9"),
            ("http://bad.com/a%2Fb", "http://bad.com/a%2fb"),
            ("http://bad.com/a%5Cb", "http://bad.com/a%5cb"),
            ("http://bad.com/a\\b", "http://bad.com/a/b"),
            ("http://bad.com/x?a\\b", "http://bad.com/x?a\\b"),
            ("http://bad.com/a b", "http://bad.com/a%20b"),
            ("http://bad.com/100%", "http://bad.com/100%25"),
            (
                "http://bad.com/s?q=A%26B&x=%41",
                "http://bad.com/s?q=a%26b&x=a",
            ),
            ("http://3232235777/", "http://192.168.1.1/"),
            ("http://0x7f.1/", "http://127.0.0.1/"),
            ("http://[::ffff:7f00:1]:8080/", "http://127.0.0.1:8080/"),
            ("http://[2001:db8::1]/", "http://[2001:db8::1]/"),
            ("http://b%61d.com/", "http://bad.com/"),
            ("http://bad.com./", "http://bad.com/"),
            ("  http://bad.com/\n", "http://bad.com/"),
            ("ht\ttp://ba\nd.com/x", "http://bad.com/x"),
            ("https://bücher.example/", "https://xn--bcher-kva.example/"),
            ("wss://chat.example/socket", "wss://chat.example/socket"),
        ];
        for (raw, expected) in cases {
            assert_eq!(canonical(raw), expected, "input {raw:?}");
        }
    }

    #[test]
    fn rejected_forms() {
        assert_eq!(CanonicalUrl::parse(" "), Err(UrlError::Empty));
        assert_eq!(
            CanonicalUrl::parse("javascript:alert(1)"),
            Err(UrlError::UnsupportedScheme("javascript".into()))
        );
        assert_eq!(
            CanonicalUrl::parse("http://example.com:99999/"),
            Err(UrlError::BadPort)
        );
        assert_eq!(
            CanonicalUrl::parse("http://example.com:8o/"),
            Err(UrlError::BadPort)
        );
        assert!(matches!(
            CanonicalUrl::parse("http://exa mple.com/"),
            Err(UrlError::Host(_))
        ));
    }

    #[test]
    fn match_key_has_no_scheme_or_port() {
        let url = CanonicalUrl::parse("https://WWW.Example.com:8443/A/b?Q=1").expect("valid");
        assert_eq!(url.match_key(), "www.example.com/a/b?q=1");
        assert_eq!(url.port(), Some(8443));
    }
}
