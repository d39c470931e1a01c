//! `ward check`: decide one request, or one per line of standard input with `--batch`.

use std::io::{BufRead, BufWriter, Write};

use anyhow::anyhow;
use jiff::Timestamp;
use ward_policy::{Action, Decision, Identity, PolicySnapshot, Request, decide, parse_time};

use crate::policy::load;
use crate::{EXIT_BLOCKED, EXIT_OK, Failure, Inputs};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A URL (`https://example.com/page`) or a host (`example.com`). Not used with --batch.
    #[arg(required_unless_present = "batch")]
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
    let text = arguments.request.unwrap_or_default();
    let request = Request::parse(&text).map_err(|e| Failure::usage(anyhow!("{text:?}: {e}")))?;
    let decision = decide(&snapshot, &request, &default_identity, now);
    println!("{}  {request}", decision.action);
    println!("group:      {}", decision.group);
    if let Some(user) = &default_identity.user {
        println!("user:       {user}");
    }
    println!("at:         {now}");
    println!("reason:     {}", decision.reason);
    println!("categories: {}", categories(&decision));
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
    let mut stdin = std::io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut buffer = Vec::with_capacity(1024);
    loop {
        buffer.clear();
        if stdin.read_until(b'\n', &mut buffer)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buffer);
        let mut fields = line.split_whitespace();
        let Some(target) = fields.next() else {
            writeln!(out, "error\tempty line")?;
            continue;
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
                    continue;
                }
            },
        };
        let request = match Request::parse(target) {
            Ok(request) => request,
            Err(error) => {
                writeln!(out, "error\t{target:?}: {error}")?;
                continue;
            }
        };
        let decision = decide(snapshot, &request, identity, now);
        write!(out, "{}\t{}\t", decision.action, decision.group)?;
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
    }
    out.flush()?;
    Ok(())
}
