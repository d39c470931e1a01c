//! Parsers for the list formats Ward imports: squidGuard/UT1 `domains`, `urls` and `expressions`
//! files, hosts files, adblock-style domain rules, plain domain lists and illegal-content URL
//! lists. Each turns the text of one file into entries; a line it cannot use is reported with
//! its line number and skipped, never fatal.

use std::fmt;

use crate::host::Host;
use crate::url::CanonicalUrl;

/// The format of one list file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListFormat {
    /// One domain per line (UT1 `domains`, plain lists). `*.` and `.` prefixes are accepted; a
    /// line with a path is taken as a URL entry.
    Domains,
    /// One URL prefix per line, usually without scheme (UT1 `urls`).
    Urls,
    /// One regular expression per line, matched against the canonical URL (UT1 `expressions`).
    Expressions,
    /// Hosts file: `0.0.0.0 name [name …]`.
    Hosts,
    /// Adblock-style rules: `||example.com^` blocks, `@@||example.com^` excepts; other rules
    /// (cosmetic, path, option-bearing) are counted as unsupported and skipped.
    Adblock,
    /// Illegal-content list (IWF, CTIRU): one URL or domain per line.
    Illegal,
}

impl ListFormat {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ListFormat::Domains => "domains",
            ListFormat::Urls => "urls",
            ListFormat::Expressions => "expressions",
            ListFormat::Hosts => "hosts",
            ListFormat::Adblock => "adblock",
            ListFormat::Illegal => "illegal",
        }
    }
}

impl fmt::Display for ListFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One usable entry from a list file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Matches the host and every subdomain on a label boundary.
    Domain(Host),
    /// Matches URLs on the host (and its subdomains) whose canonical path and query start with
    /// `path`.
    Url {
        /// Host part, with a leading `www.` removed (the entry covers subdomains anyway).
        host: Host,
        /// Canonical path prefix, starting with `/`.
        path: String,
    },
    /// A regular expression over the canonical URL's match key, case-insensitive.
    Expression(String),
    /// An adblock `@@` exception: the host and its subdomains are taken out of this list's
    /// category, unless a more specific entry puts them back.
    Exception(Host),
}

/// A line that could not be used, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
    /// The line itself, shortened to 120 bytes for reports.
    pub text: String,
}

/// What one file yielded.
#[derive(Debug, Default, Clone)]
pub struct ParsedList {
    /// Usable entries, with their line numbers.
    pub entries: Vec<(usize, Entry)>,
    /// Lines that are not valid in this format.
    pub bad_lines: Vec<BadLine>,
    /// Valid lines of a kind Ward does not use (adblock cosmetic or path rules, `localhost` in a
    /// hosts file).
    pub unsupported: usize,
}

/// Largest regular expression Ward compiles from a list (bytes of compiled program). Guards
/// against a hostile or broken line using unbounded memory.
pub const EXPRESSION_SIZE_LIMIT: usize = 1 << 20;

/// Parses the text of one list file. Lines that are not UTF-8 are reported as bad lines.
pub fn parse_list(format: ListFormat, text: &[u8]) -> ParsedList {
    let mut parsed = ParsedList::default();
    for (index, raw_line) in text.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let raw_line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        let line = match std::str::from_utf8(raw_line) {
            Ok(line) => line.trim(),
            Err(_) => {
                parsed.bad_lines.push(BadLine {
                    line: number,
                    reason: "not valid UTF-8".into(),
                    text: String::from_utf8_lossy(raw_line)
                        .chars()
                        .take(120)
                        .collect(),
                });
                continue;
            }
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(format, line) {
            LineOutcome::Entries(entries) => {
                parsed
                    .entries
                    .extend(entries.into_iter().map(|e| (number, e)));
            }
            LineOutcome::Comment => {}
            LineOutcome::Unsupported => parsed.unsupported += 1,
            LineOutcome::Bad(reason) => parsed.bad_lines.push(BadLine {
                line: number,
                reason,
                text: shorten(line),
            }),
        }
    }
    parsed
}

enum LineOutcome {
    Entries(Vec<Entry>),
    Comment,
    Unsupported,
    Bad(String),
}

fn parse_line(format: ListFormat, line: &str) -> LineOutcome {
    match format {
        ListFormat::Domains => one(parse_domain_or_url(strip_trailing_comment(line))),
        ListFormat::Illegal => one(parse_domain_or_url(line)),
        ListFormat::Urls => one(parse_url_entry(line)),
        ListFormat::Expressions => one(parse_expression(line)),
        ListFormat::Hosts => parse_hosts_line(strip_trailing_comment(line)),
        ListFormat::Adblock => parse_adblock_line(line),
    }
}

fn one(result: Result<Entry, String>) -> LineOutcome {
    match result {
        Ok(entry) => LineOutcome::Entries(vec![entry]),
        Err(reason) => LineOutcome::Bad(reason),
    }
}

fn strip_trailing_comment(line: &str) -> &str {
    match line.find(" #").or_else(|| line.find("\t#")) {
        Some(index) => line[..index].trim_end(),
        None => line,
    }
}

fn shorten(line: &str) -> String {
    let mut end = line.len().min(120);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_string()
}

/// A domain, or a URL prefix when the line has a path.
fn parse_domain_or_url(line: &str) -> Result<Entry, String> {
    let has_path = line
        .split_once("://")
        .map_or(line, |(_, rest)| rest)
        .contains('/');
    if has_path {
        return parse_url_entry(line);
    }
    let name = line
        .strip_prefix("*.")
        .or_else(|| line.strip_prefix('.'))
        .unwrap_or(line);
    let name = name
        .split_once("://")
        .map_or(name, |(_, rest)| rest)
        .trim_end_matches('/');
    Host::parse(name)
        .map(Entry::Domain)
        .map_err(|e| format!("not a domain: {e}"))
}

/// A URL prefix. One whose path is just `/` covers the whole site, so it becomes a domain entry.
fn parse_url_entry(line: &str) -> Result<Entry, String> {
    let url = CanonicalUrl::parse(line).map_err(|e| format!("not a URL: {e}"))?;
    let host = strip_www(url.host().clone());
    let path = url.path_and_query();
    if path == "/" {
        return Ok(Entry::Domain(host));
    }
    Ok(Entry::Url {
        host,
        path: path.to_string(),
    })
}

/// `www.example.com/page` is listed for `example.com/page` as well, as squidGuard does.
fn strip_www(host: Host) -> Host {
    if let Some(name) = host.domain()
        && let Some(rest) = name.as_str().strip_prefix("www.")
        && rest.contains('.')
        && let Ok(parent) = Host::parse(rest)
    {
        return parent;
    }
    host
}

fn parse_expression(line: &str) -> Result<Entry, String> {
    regex::RegexBuilder::new(line)
        .case_insensitive(true)
        .size_limit(EXPRESSION_SIZE_LIMIT)
        .build()
        .map(|_| Entry::Expression(line.to_string()))
        .map_err(|e| {
            let message = e.to_string();
            let first = message.lines().last().unwrap_or("invalid").trim();
            format!("not a valid regular expression: {first}")
        })
}

/// Names that hosts files list for the machine itself; they are not blocklist entries.
const HOSTS_LOCAL_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

fn parse_hosts_line(line: &str) -> LineOutcome {
    let mut fields = line.split_whitespace();
    let Some(address) = fields.next() else {
        return LineOutcome::Comment;
    };
    if address.parse::<std::net::IpAddr>().is_err() {
        return LineOutcome::Bad(format!("{address:?} is not an IP address"));
    }
    let mut entries = Vec::new();
    let mut unsupported = false;
    for name in fields {
        if HOSTS_LOCAL_NAMES.contains(&name.to_ascii_lowercase().as_str()) {
            unsupported = true;
            continue;
        }
        match Host::parse(name) {
            Ok(host) => entries.push(Entry::Domain(host)),
            Err(e) => return LineOutcome::Bad(format!("{name:?} is not a host name: {e}")),
        }
    }
    if entries.is_empty() {
        return if unsupported {
            LineOutcome::Unsupported
        } else {
            LineOutcome::Bad("address without a host name".into())
        };
    }
    LineOutcome::Entries(entries)
}

fn parse_adblock_line(line: &str) -> LineOutcome {
    if line.starts_with('!') || line.starts_with('[') {
        return LineOutcome::Comment;
    }
    let (exception, rule) = match line.strip_prefix("@@") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let Some(rest) = rule.strip_prefix("||") else {
        return LineOutcome::Unsupported;
    };
    let (body, options) = match rest.split_once('$') {
        Some((body, options)) => (body, Some(options)),
        None => (rest, None),
    };
    // Options narrow a rule to some requests (third-party, scripts, …); only `important` keeps
    // it a whole-domain rule that a DNS filter or proxy can apply.
    if options.is_some_and(|o| !o.split(',').all(|option| option == "important")) {
        return LineOutcome::Unsupported;
    }
    let Some(domain) = body.strip_suffix('^') else {
        return LineOutcome::Unsupported;
    };
    if domain.contains(['/', '*']) {
        return LineOutcome::Unsupported;
    }
    match Host::parse(domain) {
        Ok(host) if exception => LineOutcome::Entries(vec![Entry::Exception(host)]),
        Ok(host) => LineOutcome::Entries(vec![Entry::Domain(host)]),
        Err(e) => LineOutcome::Bad(format!("not a domain: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(name: &str) -> Entry {
        Entry::Domain(Host::parse(name).expect("valid host"))
    }

    fn url(host: &str, path: &str) -> Entry {
        Entry::Url {
            host: Host::parse(host).expect("valid host"),
            path: path.into(),
        }
    }

    fn entries(format: ListFormat, text: &str) -> Vec<Entry> {
        parse_list(format, text.as_bytes())
            .entries
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    #[test]
    fn domains_file() {
        let text = "# comment\n\nExample.com\r\n*.wild.org\n.dot.net\nsub.site.com # note\n\
                    bad..name\nhttp://site.org/\n10.1.2.3\nsite.org/path\n";
        let parsed = parse_list(ListFormat::Domains, text.as_bytes());
        let found: Vec<Entry> = parsed.entries.iter().map(|(_, e)| e.clone()).collect();
        assert_eq!(
            found,
            [
                domain("example.com"),
                domain("wild.org"),
                domain("dot.net"),
                domain("sub.site.com"),
                domain("site.org"),
                domain("10.1.2.3"),
                url("site.org", "/path"),
            ]
        );
        assert_eq!(parsed.bad_lines.len(), 1);
        assert_eq!(parsed.bad_lines[0].line, 7);
        assert!(parsed.bad_lines[0].reason.contains("not a domain"));
    }

    #[test]
    fn urls_file() {
        assert_eq!(
            entries(
                ListFormat::Urls,
                "www.Example.com/Path/Page\nsite.org\n1.2.3.4/x?y=1\n"
            ),
            [
                url("example.com", "/path/page"),
                domain("site.org"),
                url("1.2.3.4", "/x?y=1"),
            ]
        );
    }

    #[test]
    fn expressions_file() {
        let parsed = parse_list(
            ListFormat::Expressions,
            b"(/banner/|/sponsor/)\n(unclosed\n",
        );
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.bad_lines.len(), 1);
        assert_eq!(parsed.bad_lines[0].line, 2);
    }

    #[test]
    fn hosts_file() {
        let text = "127.0.0.1 localhost\n::1 ip6-localhost\n0.0.0.0 ads.example.com tracker.net # x\n\
                    0.0.0.0\nnot-an-ip bad.com\n0.0.0.0 0.0.0.0\n";
        let parsed = parse_list(ListFormat::Hosts, text.as_bytes());
        let found: Vec<Entry> = parsed.entries.iter().map(|(_, e)| e.clone()).collect();
        assert_eq!(found, [domain("ads.example.com"), domain("tracker.net")]);
        assert_eq!(parsed.unsupported, 3);
        let bad: Vec<usize> = parsed.bad_lines.iter().map(|b| b.line).collect();
        assert_eq!(bad, [4, 5]);
    }

    #[test]
    fn adblock_rules() {
        let text = "[Adblock Plus 2.0]\n! comment\n||ads.example.com^\n@@||good.ads.example.com^\n\
                    ||tracker.net^$important\n||third.com^$third-party\nexample.org##.banner\n\
                    /banner/*\n||path.com/ads^\n||bad name^\n";
        let parsed = parse_list(ListFormat::Adblock, text.as_bytes());
        let found: Vec<Entry> = parsed.entries.iter().map(|(_, e)| e.clone()).collect();
        assert_eq!(
            found,
            [
                domain("ads.example.com"),
                Entry::Exception(Host::parse("good.ads.example.com").expect("valid")),
                domain("tracker.net"),
            ]
        );
        assert_eq!(parsed.unsupported, 4);
        assert_eq!(parsed.bad_lines.len(), 1);
        assert_eq!(parsed.bad_lines[0].line, 10);
    }

    #[test]
    fn illegal_list() {
        assert_eq!(
            entries(
                ListFormat::Illegal,
                "http://abuse.example/img/1.jpg\nwhole-site.example\n"
            ),
            [
                url("abuse.example", "/img/1.jpg"),
                domain("whole-site.example")
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_a_bad_line() {
        let parsed = parse_list(ListFormat::Domains, b"good.com\n\xff\xfe.com\nalso.com\n");
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(parsed.bad_lines[0].line, 2);
        assert_eq!(parsed.bad_lines[0].reason, "not valid UTF-8");
    }
}
