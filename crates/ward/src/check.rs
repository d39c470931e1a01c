//! `ward check`: decide one request, or one per line of standard input with `--batch`.

use crate::output::say;
use std::io::{BufWriter, Read, Write};

use anyhow::anyhow;
use jiff::Timestamp;
use ward_policy::{Action, Decision, Identity, PolicySnapshot, Request, decide, parse_time};

use crate::policy::load;
use crate::{EXIT_BLOCKED, EXIT_OK, Failure, Inputs};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A URL (`https://example.com/page`) or a host (`example.com`). Not used with --batch.
    #[arg(required_unless_present_any = ["batch", "squid"])]
    request: Option<String>,
    /// The group whose policy applies (default: the policy's unknown-client group).
    #[arg(long)]
    group: Option<String>,
    /// The user name, for "acceptable for nominated users" and user grants.
    #[arg(long)]
    user: Option<String>,
    /// When: `2026-11-23T12:30` (policy time zone) or `2026-11-23T12:30:00Z` (default: now).
    #[arg(long)]
    at: Option<String>,
    /// Read requests from standard input, one per line: `URL-OR-HOST [GROUP [USER]]`. Writes one
    /// line per request: `ACTION<TAB>GROUP<TAB>CATEGORIES<TAB>REASON`, or `error<TAB>MESSAGE`.
    #[arg(long, conflicts_with = "request")]
    batch: bool,
    /// Speak squid's URL-rewrite helper protocol on standard input and output, as squidGuard
    /// does (`url_rewrite_program /usr/bin/ward check --squid --group ks2`): each line is
    /// `URL CLIENT/FQDN USER METHOD …`; the answer is `ERR` (allow, unchanged) or
    /// `OK rewrite-url="BLOCK-PAGE?…"`. The ident field, when not `-`, is taken as the user.
    #[arg(long, conflicts_with_all = ["request", "batch"])]
    squid: bool,
    /// Block page that `--squid` sends blocked requests to; `url`, `group` and `reason` are
    /// added as query parameters.
    #[arg(long, default_value = "http://ward.invalid/blocked")]
    block_page: String,
    #[command(flatten)]
    inputs: Inputs,
}

pub fn run(arguments: CheckArgs) -> Result<u8, Failure> {
    let (snapshot, _warnings) = load(&arguments.inputs)?;
    let now = match &arguments.at {
        Some(text) => {
            parse_time(text, snapshot.time_zone()).map_err(|e| Failure::usage(anyhow!(e)))?
        }
        None => Timestamp::now(),
    };
    let default_group = match &arguments.group {
        Some(text) => text
            .parse()
            .map_err(|e: String| Failure::usage(anyhow!(e)))?,
        None => snapshot.unknown_group().id.clone(),
    };
    if !snapshot.groups().iter().any(|g| g.id == default_group) {
        let known: Vec<&str> = snapshot.groups().iter().map(|g| g.id.as_str()).collect();
        return Err(Failure::usage(anyhow!(
            "the policy has no group \"{default_group}\"; it has {}",
            known.join(", ")
        )));
    }
    let default_identity = Identity {
        group: default_group,
        user: arguments.user.clone(),
    };

    if arguments.batch {
        batch(&snapshot, &default_identity, now)?;
        return Ok(EXIT_OK);
    }
    if arguments.squid {
        squid_helper(&snapshot, &default_identity, now, &arguments.block_page)?;
        return Ok(EXIT_OK);
    }
    let text = arguments.request.unwrap_or_default();
    let request = Request::parse(&text).map_err(|e| Failure::usage(anyhow!("{text:?}: {e}")))?;
    let decision = decide(&snapshot, &request, &default_identity, now);
    say!("{}  {request}", decision.action);
    say!("group:      {}", decision.group);
    if let Some(user) = &default_identity.user {
        say!("user:       {user}");
    }
    say!("at:         {now}");
    say!("reason:     {}", decision.reason);
    say!("categories: {}", categories(&decision));
    Ok(match decision.action {
        Action::Allow => EXIT_OK,
        Action::Block => EXIT_BLOCKED,
    })
}

fn categories(decision: &Decision<'_>) -> String {
    if decision.categories.is_empty() {
        return "-".to_string();
    }
    decision
        .categories
        .iter()
        .map(|c| format!("{} ({})", c.category, c.matched))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides one request per line of standard input. The line buffer is reused and output is
/// written straight to a buffered writer, so a line costs little more than its decision.
fn batch(snapshot: &PolicySnapshot, default: &Identity, now: Timestamp) -> Result<(), Failure> {
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    each_stdin_line(|line, _| {
        let mut fields = line.split_ascii_whitespace();
        let Some(target) = fields.next() else {
            writeln!(out, "error\tempty line")?;
            return Ok(());
        };
        let identity;
        let identity = match fields.next() {
            None => default,
            Some(group) => match group.parse() {
                Ok(group) => {
                    identity = Identity {
                        group,
                        user: fields.next().map(String::from).or(default.user.clone()),
                    };
                    &identity
                }
                Err(problem) => {
                    writeln!(out, "error\t{problem}")?;
                    return Ok(());
                }
            },
        };
        let request = match Request::parse(target) {
            Ok(request) => request,
            Err(error) => {
                writeln!(out, "error\t{target:?}: {error}")?;
                return Ok(());
            }
        };
        let decision = decide(snapshot, &request, identity, now);
        out.write_all(match decision.action {
            Action::Allow => b"allow\t",
            Action::Block => b"block\t",
        })?;
        out.write_all(decision.group.as_str().as_bytes())?;
        out.write_all(b"\t")?;
        if decision.categories.is_empty() {
            out.write_all(b"-")?;
        }
        for (position, found) in decision.categories.iter().enumerate() {
            if position > 0 {
                out.write_all(b",")?;
            }
            out.write_all(found.category.as_bytes())?;
        }
        writeln!(out, "\t{}", decision.reason)?;
        Ok(())
    })?;
    out.flush()?;
    Ok(())
}

/// Calls `handle` with each line of standard input (invalid UTF-8 replaced), and whether more
/// input is already buffered. Lines are handed over where they lie in a large read buffer, so a
/// line costs no copy beyond its work.
fn each_stdin_line(
    mut handle: impl FnMut(&str, bool) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut stdin = std::io::stdin().lock();
    let mut buffer = vec![0u8; 1 << 20];
    // buffer[start..filled] holds input not yet handed over.
    let (mut start, mut filled) = (0, 0);
    loop {
        if start > 0 {
            buffer.copy_within(start..filled, 0);
            filled -= start;
            start = 0;
        }
        if filled == buffer.len() {
            // A line longer than the buffer: grow it rather than cut the line.
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = match stdin.read(&mut buffer[filled..]) {
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error.into()),
        };
        filled += read;
        let at_end = read == 0;
        while start < filled {
            let Some(length) = memchr::memchr(b'\n', &buffer[start..filled]) else {
                if !at_end {
                    break;
                }
                // The last line has no newline.
                let line = &buffer[start..filled];
                start = filled;
                with_text(line, |text| handle(text, false))?;
                break;
            };
            let line = &buffer[start..start + length];
            start += length + 1;
            with_text(line, |text| handle(text, start < filled))?;
        }
        if at_end {
            return Ok(());
        }
    }
}

/// Runs `f` on `bytes` as text: borrowed when it is UTF-8, else with invalid bytes replaced.
fn with_text<T>(bytes: &[u8], f: impl FnOnce(&str) -> T) -> T {
    match std::str::from_utf8(bytes) {
        Ok(text) => f(text),
        Err(_) => f(&String::from_utf8_lossy(bytes)),
    }
}

/// The squid URL-rewrite helper protocol (non-concurrent form). A line Ward cannot read is
/// answered `BH` (broken helper: squid logs it and applies its own failure policy), never `ERR`,
/// so a malformed request is not let through by default.
fn squid_helper(
    snapshot: &PolicySnapshot,
    default: &Identity,
    now: Timestamp,
    block_page: &str,
) -> Result<(), Failure> {
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut answer: Vec<u8> = Vec::with_capacity(1024);
    let mut text = String::with_capacity(256);
    each_stdin_line(|line, more_buffered| {
        let mut fields = line.split_ascii_whitespace();
        let Some(target) = fields.next() else {
            writeln!(out, "BH message=\"empty request\"")?;
            return Ok(());
        };
        let _client = fields.next();
        let user = fields.next().filter(|u| *u != "-");
        let method = fields.next().unwrap_or("GET");
        let identity;
        let identity = match user {
            None => default,
            Some(user) => {
                identity = Identity {
                    group: default.group.clone(),
                    user: Some(percent_decode_lossy(user)),
                };
                &identity
            }
        };
        // CONNECT requests arrive as host:port.
        let parsed = if method.eq_ignore_ascii_case("CONNECT") {
            let host = match target.rsplit_once(':') {
                Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
                _ => target,
            };
            ward_lists::Host::parse(host)
                .map(Request::Host)
                .map_err(ward_lists::UrlError::Host)
        } else {
            Request::parse(target)
        };
        let request = match parsed {
            Ok(request) => request,
            Err(error) => {
                writeln!(out, "BH message=\"{}\"", quote_safe(&error.to_string()))?;
                return Ok(());
            }
        };
        let decision = decide(snapshot, &request, identity, now);
        match decision.action {
            Action::Allow => out.write_all(b"ERR\n")?,
            Action::Block => {
                answer.clear();
                answer.extend_from_slice(b"OK rewrite-url=\"");
                answer.extend_from_slice(block_page.as_bytes());
                answer.extend_from_slice(b"?url=");
                text.clear();
                let _ = std::fmt::Write::write_fmt(&mut text, format_args!("{request}"));
                push_query_escaped(&mut answer, &text);
                answer.extend_from_slice(b"&group=");
                answer.extend_from_slice(decision.group.as_str().as_bytes());
                answer.extend_from_slice(b"&reason=");
                text.clear();
                let _ = std::fmt::Write::write_fmt(&mut text, format_args!("{}", decision.reason));
                push_query_escaped(&mut answer, &text);
                answer.extend_from_slice(b"\"\n");
                out.write_all(&answer)?;
            }
        }
        // Squid waits for each answer: flush unless more input is already buffered.
        if !more_buffered {
            out.flush()?;
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(())
}

/// Appends `text` percent-encoded for a query parameter (everything but unreserved characters).
fn push_query_escaped(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    const UNRESERVED: [bool; 256] = {
        let mut table = [false; 256];
        let mut byte = 0;
        while byte < 256 {
            let b = byte as u8;
            table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
            byte += 1;
        }
        table
    };
    out.reserve(text.len() * 3);
    for &byte in text.as_bytes() {
        if UNRESERVED[usize::from(byte)] {
            out.push(byte);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 15)],
            ]);
        }
    }
}

/// Squid percent-encodes the ident field.
fn percent_decode_lossy(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Text safe inside a double-quoted helper key-value pair.
fn quote_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '\''
            } else {
                c
            }
        })
        .collect()
}
