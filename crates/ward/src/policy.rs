//! `ward policy show` and `ward policy check`, loading the index and policy for any command, and
//! `ward policy export` and `ward policy import`: the policy's versions in the database to and
//! from its TOML file, exactly (a local authority may keep its schools' policies in version
//! control). An import is a version like any other: checked against the index first, with a
//! reason, and in force at every gateway at once.

use crate::output::{say, say_inline};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use ward_lists::CategoryIndex;
use ward_policy::{DEFAULT_POLICY, PolicySnapshot, Warning};

use crate::{EXIT_OK, Failure, Inputs};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the policy as the tables for the school's policy document (Markdown).
    Show {
        #[command(flatten)]
        inputs: Inputs,
    },
    /// Load the policy against the index and report every problem.
    Check {
        #[command(flatten)]
        inputs: Inputs,
    },
    /// Print the school's policy in force (or an older version) exactly as it was saved.
    Export(ExportArgs),
    /// Save a policy file as the school's next version, after checking it against the index.
    Import(ImportArgs),
}

/// Arguments of `ward policy export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Configuration file (TOML); see ward.example.toml. Environment variables override it.
    #[arg(long, env = "WARD_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// The version to print (default: the one in force).
    #[arg(long)]
    version: Option<i64>,
}

/// Arguments of `ward policy import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The policy file.
    file: std::path::PathBuf,
    /// Why (what is blocked or allowed, and why; at least 10 characters).
    #[arg(long)]
    reason: String,
    /// Configuration file (TOML); see ward.example.toml. Environment variables override it.
    #[arg(long, env = "WARD_CONFIG")]
    config: Option<std::path::PathBuf>,
}

pub fn run(command: PolicyCommand) -> Result<u8, Failure> {
    match command {
        PolicyCommand::Export(arguments) => {
            versions(arguments.config.as_deref(), |store, school| {
                Box::pin(async move {
                    let version = match arguments.version {
                        Some(number) => store.policy_version(school, number).await?,
                        None => store.latest_policy_version(school).await?.context(
                            "the school has no policy version yet: run `ward serve` once first",
                        )?,
                    };
                    say_inline!("{}", version.text);
                    Ok(EXIT_OK)
                })
            })
        }
        PolicyCommand::Import(arguments) => {
            let text = std::fs::read_to_string(&arguments.file)
                .with_context(|| format!("cannot read {}", arguments.file.display()))?;
            let config = crate::config::Config::load(arguments.config.as_deref(), std::env::vars())
                .map_err(Failure::usage)?;
            let index = CategoryIndex::read_file(&config.index_path()).with_context(|| {
                format!(
                    "cannot load the category index {} (build one with `ward lists import`)",
                    config.index_path().display()
                )
            })?;
            let (_, warnings) =
                PolicySnapshot::from_toml(&text, Arc::new(index)).with_context(|| {
                    format!(
                        "{} does not load; nothing was saved",
                        arguments.file.display()
                    )
                })?;
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            let reason = arguments.reason.clone();
            versions(arguments.config.as_deref(), move |store, school| {
                Box::pin(async move {
                    let number = store
                        .add_policy_version(
                            school,
                            &text,
                            ward_store::PolicySource::Import,
                            &reason,
                            "ward policy import",
                            jiff::Timestamp::now(),
                        )
                        .await?;
                    store
                        .append_audit(
                            school,
                            &ward_store::NewAuditEntry {
                                actor: "ward policy import".into(),
                                action: "filtering.change".into(),
                                subject: format!("policy:{number}"),
                                detail: format!("version {number}: imported"),
                                reason: Some(reason.clone()),
                            },
                        )
                        .await?;
                    store.notify_filter_changed(school).await;
                    say!(
                        "saved as version {number}; gateways on this database load it now (others within half a minute)"
                    );
                    Ok(EXIT_OK)
                })
            })
        }
        PolicyCommand::Show { inputs } => {
            // The table does not depend on the lists, so it can be shown before any import.
            let index = if inputs.index.exists() {
                Arc::new(CategoryIndex::read_file(&inputs.index)?)
            } else {
                Arc::new(CategoryIndex::empty())
            };
            let (snapshot, _) = compile(&inputs, index)?;
            say_inline!("{}", snapshot.render_markdown());
            say_inline!(
                "\n{}",
                ward_records::Sanctions::default_tables().render_markdown()
            );
            Ok(EXIT_OK)
        }
        PolicyCommand::Check { inputs } => {
            let (snapshot, warnings) = load(&inputs)?;
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            say!(
                "policy {:?} loads: {} groups, {} rules, {} warnings",
                snapshot.spec().name,
                snapshot.groups().len(),
                snapshot.spec().rules.len(),
                warnings.len()
            );
            Ok(EXIT_OK)
        }
    }
}

/// Loads the index and compiles the policy against it.
pub fn load(inputs: &Inputs) -> Result<(PolicySnapshot, Vec<Warning>), Failure> {
    let index = CategoryIndex::read_file(&inputs.index).with_context(|| {
        format!(
            "cannot load the category index {} (build one with `ward lists import`)",
            inputs.index.display()
        )
    })?;
    compile(inputs, Arc::new(index))
}

fn compile(
    inputs: &Inputs,
    index: Arc<CategoryIndex>,
) -> Result<(PolicySnapshot, Vec<Warning>), Failure> {
    let text = match &inputs.policy {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policy {}", path.display()))?,
        None => DEFAULT_POLICY.to_string(),
    };
    let label = inputs
        .policy
        .as_ref()
        .map_or("built-in default policy".to_string(), |p| {
            p.display().to_string()
        });
    Ok(
        PolicySnapshot::from_toml(&text, index)
            .with_context(|| format!("{label} does not load"))?,
    )
}

/// Runs `work` with the configured store and its school.
fn versions<F>(config: Option<&std::path::Path>, work: F) -> Result<u8, Failure>
where
    F: for<'a> FnOnce(
        &'a ward_store::Store,
        ward_store::SchoolId,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = anyhow::Result<u8>> + 'a>,
    >,
{
    let config = crate::config::Config::load(config, std::env::vars()).map_err(Failure::usage)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(async {
        let store = crate::serve::open_store(&config).await?;
        let school = store
            .schools()
            .await?
            .first()
            .map(|school| school.id)
            .context("there is no school yet: run `ward serve` once first")?;
        let outcome = work(&store, school).await;
        store.close().await;
        outcome
    })?)
}
