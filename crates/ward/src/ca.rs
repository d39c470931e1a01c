//! `ward ca …`: the school's certificate authority for HTTPS inspection (issue 22): make it, show
//! it, and change to a new one without a day when devices distrust Ward.

use std::path::PathBuf;

use jiff::Timestamp;
use ward_proxy::ca::{CaCertificate, CaFolder};

use crate::config::Config;
use crate::output::say;
use crate::{EXIT_OK, Failure};

/// `ward ca …`.
#[derive(Debug, clap::Subcommand)]
pub enum CaCommand {
    /// Make the school's certificate authority (once), named after `school.name`.
    Init(CaArgs),
    /// Print the certificate authorities' names, fingerprints and expiry (`--pem`: the
    /// certificates devices should trust).
    Show(ShowArgs),
    /// Make the next certificate authority, for devices to trust before it is used.
    Next(CaArgs),
    /// Start signing with the next certificate authority; the old one stays trusted until it
    /// expires.
    Rotate(ConfigArg),
}

/// The configuration file.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// Configuration file (TOML); see ward.example.toml. Environment variables override it.
    #[arg(long, env = "WARD_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Arguments of `ward ca init` and `ward ca next`.
#[derive(Debug, clap::Args)]
pub struct CaArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// How many years it is valid for (1 to 20).
    #[arg(long, default_value_t = 5)]
    years: u16,
}

/// Arguments of `ward ca show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print the certificates devices should trust, in PEM form, and nothing else.
    #[arg(long)]
    pem: bool,
}

fn load_config(arguments: &ConfigArg) -> Result<Config, Failure> {
    Config::load(arguments.config.as_deref(), std::env::vars()).map_err(Failure::usage)
}

/// Runs a `ward ca` command.
pub fn run(command: CaCommand) -> Result<u8, Failure> {
    let now = Timestamp::now();
    match command {
        CaCommand::Init(arguments) => {
            let config = load_config(&arguments.config)?;
            let folder = CaFolder::in_data_dir(&config.data_dir);
            let made = folder.init(&config.school.name, arguments.years, now)?;
            say!(
                "Made the certificate authority in {}:",
                folder.path().display()
            );
            describe(&made, now);
            say!("The key (ca.key) is readable only by this user; it never leaves this machine.");
            say!(
                "Give devices the certificate: http://PROXY-ADDRESS/ward/ca.crt (see the README's \
                 HTTPS inspection section), then set proxy.inspect_https = true."
            );
        }
        CaCommand::Next(arguments) => {
            let config = load_config(&arguments.config)?;
            let folder = CaFolder::in_data_dir(&config.data_dir);
            let made = folder.next(&config.school.name, arguments.years, now)?;
            say!("Made the next certificate authority (not signing yet):");
            describe(&made, now);
            say!(
                "Devices are now offered it beside the current one at /ward/ca.crt. Once every \
                 device trusts it, run `ward ca rotate` and restart Ward."
            );
        }
        CaCommand::Rotate(arguments) => {
            let config = load_config(&arguments)?;
            let folder = CaFolder::in_data_dir(&config.data_dir);
            let signing = folder.rotate()?;
            say!("Ward now signs with:");
            describe(&signing, now);
            say!(
                "The previous certificate stays offered to devices until it expires. Restart \
                 Ward (or send it SIGHUP) for the proxy to use the new one."
            );
        }
        CaCommand::Show(arguments) => {
            let config = load_config(&arguments.config)?;
            let folder = CaFolder::in_data_dir(&config.data_dir);
            let authorities = folder.load()?;
            if arguments.pem {
                for certificate in authorities.trusted(now) {
                    crate::output::say_inline!("{}", certificate.pem());
                }
                return Ok(EXIT_OK);
            }
            say!("Signing now:");
            describe(authorities.current.certificate(), now);
            if let Some(next) = &authorities.next {
                say!("Next (offered to devices, not signing yet):");
                describe(next, now);
            }
            if let Some(previous) = &authorities.previous {
                say!("Previous (offered to devices until it expires):");
                describe(previous, now);
            }
        }
    }
    Ok(EXIT_OK)
}

fn describe(certificate: &CaCertificate, now: Timestamp) {
    let day = |at: Timestamp| at.strftime("%Y-%m-%d").to_string();
    let left = certificate.not_after().duration_since(now).as_hours() / 24;
    say!("  name:        {}", certificate.name());
    say!("  SHA-256:     {}", certificate.fingerprint());
    say!(
        "  valid:       {} to {} ({})",
        day(certificate.not_before()),
        day(certificate.not_after()),
        if left < 0 {
            "expired".to_owned()
        } else {
            format!("{left} days left")
        }
    );
}
