//! Where a request is going, read from its request line and `Host` header, in the canonical form
//! the policy decides on (`ward_lists::CanonicalUrl`). The proxy connects to the canonical host,
//! so what is decided is what is reached: `http://0x7f.1/` is decided and fetched as 127.0.0.1.
//!
//! - absolute form (`GET http://host/path`): an explicit proxy request;
//! - origin form (`GET /path` + `Host`): a transparent request, or one for Ward itself;
//! - authority form (`CONNECT host:443`): a tunnel.
//!
//! Anything that cannot be put in canonical form is refused (400): a request the policy cannot
//! classify is never forwarded.

use std::fmt;

use hyper::Method;
use hyper::http::uri::{Authority, Scheme, Uri};
use ward_lists::{CanonicalUrl, Host};

/// Why a request's target could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Origin form without a `Host` header.
    #[error("the request has no Host header")]
    NoHost,
    /// The `Host` header is not a valid authority, or disagrees with itself.
    #[error("the Host header is not a host name")]
    BadHost,
    /// `https://` or another scheme in absolute form: browsers use CONNECT for HTTPS.
    #[error("only http:// URLs can be fetched through the proxy (HTTPS uses CONNECT)")]
    Scheme,
    /// CONNECT without `host:port`.
    #[error("CONNECT needs host:port")]
    BadConnect,
    /// The host or URL has no canonical form.
    #[error("the address cannot be read: {0}")]
    Unreadable(String),
}

/// Where to connect: the canonical host and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The canonical host (a domain in ASCII form, or an address).
    pub host: Host,
    /// The port.
    pub port: u16,
}

impl Endpoint {
    /// `host:port`, with IPv6 addresses in brackets: the `Host` header and CONNECT form.
    pub fn authority(&self) -> String {
        match &self.host {
            Host::Ipv6(v6) => format!("[{v6}]:{}", self.port),
            host => format!("{host}:{}", self.port),
        }
    }

    /// The `Host` header value for plain HTTP: the port only when it is not 80.
    pub fn host_header(&self) -> String {
        self.host_header_for(false)
    }

    /// The `Host` header value: the port only when it is not the scheme's (80, or 443 for
    /// `https`).
    pub fn host_header_for(&self, https: bool) -> String {
        if self.port == if https { 443 } else { 80 } {
            match &self.host {
                Host::Ipv6(v6) => format!("[{v6}]"),
                host => host.to_string(),
            }
        } else {
            self.authority()
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

/// A request's target (plain HTTP, or HTTPS inside an inspected connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// Where to connect.
    pub endpoint: Endpoint,
    /// The URL as the policy sees it.
    pub url: CanonicalUrl,
    /// The path and query to send (as the client wrote it; `/` when empty).
    pub path_and_query: String,
    /// True when the request was in absolute form (explicit proxy, or HTTP/2).
    pub absolute: bool,
    /// True for HTTPS (an inspected connection).
    pub https: bool,
}

impl HttpTarget {
    /// The URL as it is fetched: scheme + authority + path, for block pages and events.
    pub fn display_url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme(),
            self.endpoint.host_header_for(self.https),
            self.path_and_query
        )
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// The `Host` header (and HTTP/2 authority) to send.
    pub fn host_header(&self) -> String {
        self.endpoint.host_header_for(self.https)
    }
}

/// Reads a non-CONNECT request's target from its URI and `Host` header: plain HTTP, or with
/// `https` a request inside an inspected connection (absolute form is then `https://`, as
/// HTTP/2 sends it).
pub fn http_target(
    uri: &Uri,
    host_header: Option<&[u8]>,
    https: bool,
) -> Result<HttpTarget, TargetError> {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let path_and_query = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        // `GET http://host?x` has an empty path: it is `/`. `OPTIONS *` has no path at all.
        format!("/{path_and_query}")
    };
    let (authority, absolute) = match uri.authority() {
        Some(authority) => {
            let scheme = if https { Scheme::HTTPS } else { Scheme::HTTP };
            if uri.scheme() != Some(&scheme) {
                return Err(TargetError::Scheme);
            }
            (authority.clone(), true)
        }
        None => {
            let raw = host_header.ok_or(TargetError::NoHost)?;
            let text = std::str::from_utf8(raw).map_err(|_| TargetError::BadHost)?;
            let authority: Authority = text.trim().parse().map_err(|_| TargetError::BadHost)?;
            (authority, false)
        }
    };
    if authority.as_str().contains('@') {
        // Userinfo in a request target is not HTTP; browsers never send it.
        return Err(TargetError::BadHost);
    }
    let endpoint = endpoint(&authority, if https { 443 } else { 80 })?;
    let url = CanonicalUrl::parse(&format!(
        "{}://{}{}",
        if https { "https" } else { "http" },
        endpoint.host_header_for(https),
        path_and_query
    ))
    .map_err(|e| TargetError::Unreadable(e.to_string()))?;
    Ok(HttpTarget {
        endpoint,
        url,
        path_and_query,
        absolute,
        https,
    })
}

/// Reads a CONNECT request's `host:port`.
pub fn connect_target(method: &Method, uri: &Uri) -> Result<Endpoint, TargetError> {
    debug_assert_eq!(method, Method::CONNECT);
    let authority = uri.authority().ok_or(TargetError::BadConnect)?;
    if authority.port_u16().is_none() || uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return Err(TargetError::BadConnect);
    }
    endpoint(authority, 443)
}

/// The canonical endpoint of an authority (`default_port` when it has none).
pub fn endpoint(authority: &Authority, default_port: u16) -> Result<Endpoint, TargetError> {
    let port = match authority.port() {
        Some(port) => port
            .as_str()
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| TargetError::Unreadable("invalid port".into()))?,
        None => default_port,
    };
    let host = Host::parse(authority.host()).map_err(|e| TargetError::Unreadable(e.to_string()))?;
    Ok(Endpoint { host, port })
}

/// The endpoint named in a TLS server name (port 443, or the listener's).
pub fn server_name_endpoint(name: &str, port: u16) -> Result<Endpoint, TargetError> {
    let host = Host::parse(name).map_err(|e| TargetError::Unreadable(e.to_string()))?;
    Ok(Endpoint { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(uri: &str, host: Option<&str>) -> Result<HttpTarget, TargetError> {
        let uri: Uri = uri.parse().expect("uri");
        http_target(&uri, host.map(str::as_bytes), false)
    }

    #[test]
    fn https_targets_inside_an_inspected_connection() {
        let https = |uri: &str, host: Option<&str>| {
            http_target(&uri.parse().expect("uri"), host.map(str::as_bytes), true)
        };
        let target = https("/search?q=x", Some("www.google.co.uk")).expect("origin form");
        assert_eq!(target.endpoint.authority(), "www.google.co.uk:443");
        assert_eq!(target.display_url(), "https://www.google.co.uk/search?q=x");
        assert_eq!(target.url.match_key(), "www.google.co.uk/search?q=x");
        let target = https("https://example.org:8443/a", None).expect("HTTP/2 form");
        assert!(target.absolute);
        assert_eq!(target.host_header(), "example.org:8443");
        assert_eq!(https("http://example.org/", None), Err(TargetError::Scheme));
    }

    #[test]
    fn absolute_and_origin_forms() {
        let target = http("http://WWW.Example.COM./a/../b?q=1", None).expect("absolute");
        assert!(target.absolute);
        assert_eq!(target.endpoint.authority(), "www.example.com:80");
        assert_eq!(target.endpoint.host_header(), "www.example.com");
        assert_eq!(target.url.match_key(), "www.example.com/b?q=1");
        assert_eq!(target.path_and_query, "/a/../b?q=1");
        assert_eq!(target.display_url(), "http://www.example.com/a/../b?q=1");

        let target = http("/index.html", Some("example.org:8080")).expect("origin");
        assert!(!target.absolute);
        assert_eq!(target.endpoint.authority(), "example.org:8080");
        assert_eq!(target.display_url(), "http://example.org:8080/index.html");

        let target = http("http://example.org?x=1", None).expect("empty path");
        assert_eq!(target.path_and_query, "/?x=1");
    }

    #[test]
    fn encoded_hosts_are_decided_and_reached_in_canonical_form() {
        for (uri, host) in [
            ("http://0x7f.1/", "127.0.0.1"),
            ("http://3232235777/", "192.168.1.1"),
            ("http://[::ffff:10.0.0.1]/", "10.0.0.1"),
            ("http://xn--bcher-kva.example/", "xn--bcher-kva.example"),
        ] {
            let target = http(uri, None).expect(uri);
            assert_eq!(target.endpoint.host.to_string(), host, "{uri}");
            assert_eq!(target.url.host().to_string(), host, "{uri}");
        }
        let target = http("http://[2001:db8::1]:81/", None).expect("ipv6");
        assert_eq!(target.endpoint.authority(), "[2001:db8::1]:81");
    }

    #[test]
    fn unreadable_targets_are_refused() {
        assert_eq!(http("/", None), Err(TargetError::NoHost));
        assert_eq!(http("https://example.com/", None), Err(TargetError::Scheme));
        assert_eq!(http("/", Some("bad host")), Err(TargetError::BadHost));
        assert_eq!(http("/", Some("a@b.com")), Err(TargetError::BadHost));
        assert!(matches!(
            http("http://example.com:0/", None),
            Err(TargetError::Unreadable(_))
        ));
        assert!(matches!(
            http("/", Some("exa_mple..com")),
            Err(TargetError::Unreadable(_)) | Err(TargetError::BadHost)
        ));
    }

    #[test]
    fn connect_targets() {
        let connect = |uri: &str| connect_target(&Method::CONNECT, &uri.parse().expect("uri"));
        assert_eq!(
            connect("Example.com:443").expect("connect").authority(),
            "example.com:443"
        );
        assert_eq!(
            connect("0x7f000001:8443").expect("connect").authority(),
            "127.0.0.1:8443"
        );
        assert_eq!(connect("example.com"), Err(TargetError::BadConnect));
    }
}
