//! `ward`: the command line. It parses arguments and configuration, and wires the library crates
//! together; the logic lives in `ward-lists`, `ward-policy`, `ward-store` and `ward-console`.
//!
//! Exit codes (documented in docs/cli.md):
//! - 0: success; for `ward check`, the request is allowed;
//! - 1: `ward check`: the request is blocked; `ward audit verify`: a chain is broken;
//! - 2: bad usage or bad input (unknown option, unparseable URL or time);
//! - 3: Ward could not do its work (unreadable or corrupt index, policy that does not load, I/O);
//! - 141: standard output was closed early (`ward check --batch … | head`), see [`output`].

mod anchor;
mod backup;
mod block_page;
mod ca;
mod check;
mod config;
mod detect;
mod directory;
mod gateway;
mod list_update;
mod lists;
mod memory;
mod metrics;
mod misuse;
mod notify;
mod output;
mod policy;
mod proxy_auth;
mod radius;
mod self_test;
mod serve;
mod sign_on;
mod snapshot;
mod systemd;
mod web;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: allowed, or success.
pub const EXIT_OK: u8 = 0;
/// Exit code: `ward check` found the request blocked; `ward audit verify` found a broken chain.
pub const EXIT_BLOCKED: u8 = 1;
/// Exit code: bad usage or input.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: Ward could not do its work.
pub const EXIT_FAILURE: u8 = 3;

/// Ward: web filtering, monitoring and safeguarding records for schools.
#[derive(Debug, Parser)]
#[command(name = "ward", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the compiled category index and the policy come from.
#[derive(Debug, Clone, clap::Args)]
pub struct Inputs {
    /// The compiled category index (built by `ward lists import`).
    #[arg(long, env = "WARD_INDEX", default_value = "var/ward.idx")]
    pub index: PathBuf,
    /// A policy file (TOML); without one, the built-in default policy is used.
    #[arg(long, env = "WARD_POLICY")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build and inspect the category index.
    #[command(subcommand)]
    Lists(lists::ListsCommand),
    /// Show and check the policy.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Decide one request (or, with --batch, one per line of standard input).
    Check(check::CheckArgs),
    /// Try the risk-detection phrase lists on text.
    #[command(subcommand)]
    Detect(detect::DetectCommand),
    /// Run Ward: the DNS filter, the proxy, the staff console and the event writer.
    Serve(serve::ServeArgs),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(serve::AuditCommand),
    /// Back up Ward's data while it runs: the database (SQLite), the journal, the index, the keys.
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty data folder.
    Restore(backup::BackupArgs),
    /// The school's certificate authority for HTTPS inspection.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// The school's LDAP or Active Directory: synchronise people, test a log-in.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
}

/// An error with the exit code it should end the process with.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// What went wrong.
    pub error: anyhow::Error,
}

impl Failure {
    /// Bad usage or input.
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            error: error.into(),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure {
            code: EXIT_FAILURE,
            error: error.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lists(command) => lists::run(command),
        Command::Policy(command) => policy::run(command),
        Command::Check(arguments) => check::run(arguments),
        Command::Detect(command) => detect::run(command),
        Command::Serve(arguments) => serve::run(arguments),
        Command::Audit(command) => serve::audit(command),
        Command::Backup(arguments) => backup::backup_command(arguments),
        Command::Restore(arguments) => backup::restore_command(arguments),
        Command::Ca(command) => ca::run(command),
        Command::Directory(command) => directory::run(command),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) if output::is_closed_pipe(&failure.error) => {
            ExitCode::from(output::EXIT_CLOSED)
        }
        Err(failure) => {
            eprintln!("ward: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}
