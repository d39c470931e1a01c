//! `ward policy show` and `ward policy check`, and loading the index and policy for any command.

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
}

pub fn run(command: PolicyCommand) -> Result<u8, Failure> {
    match command {
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
