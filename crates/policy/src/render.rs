//! The live policy as the tables a school puts in its policy document (G4), so that the written
//! policy and the system never disagree.

use std::fmt::Write;

use crate::compile::PolicySnapshot;
use crate::spec::{PolicySpec, VerdictKind, VerdictSpec};

impl PolicySnapshot {
    /// Markdown: the User Actions table in the policy document's five columns (an `X` where a
    /// verdict holds for every group, the group ids where it holds for some), then what each
    /// row covers, the time windows, local lists and grants.
    pub fn render_markdown(&self) -> String {
        let spec = &self.spec;
        let mut out = String::new();
        let _ = writeln!(out, "# {}: internet filtering policy\n", spec.name);
        let _ = writeln!(
            out,
            "Applies to {}. Times are {} time. Devices and users Ward cannot identify get the {} policy.\n",
            self.groups
                .iter()
                .map(|g| format!("{} ({})", g.id.as_str().to_uppercase(), g.title))
                .collect::<Vec<_>>()
                .join(", "),
            spec.timezone,
            self.unknown_group().id.as_str().to_uppercase(),
        );

        let _ = writeln!(out, "## User Actions\n");
        let _ = write!(out, "| User action |");
        for kind in VerdictKind::ALL {
            let _ = write!(out, " {} |", kind.heading());
        }
        let _ = writeln!(out, "\n|---|---|---|---|---|---|");
        let rows = spec.user_actions();
        for row in &rows {
            if let Some(text) = row.heading {
                let _ = writeln!(out, "| **{}** | | | | | |", escape(text));
            }
            let _ = write!(out, "| {} |", escape(row.action));
            for cell in &row.cells {
                let _ = write!(out, " {cell} |");
            }
            out.push('\n');
        }

        let _ = writeln!(out, "\n## What each row covers\n");
        let _ = writeln!(out, "| User action | UKSIC category | Lists |");
        let _ = writeln!(out, "|---|---|---|");
        for row in &rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                escape(row.action),
                row.uksic.unwrap_or("—"),
                escape(&row.covers)
            );
        }

        if !self.windows.is_empty() {
            let _ = writeln!(out, "\n## Time windows\n");
            let _ = writeln!(out, "| Window | When |\n|---|---|");
            for window in &self.windows {
                let _ = writeln!(out, "| {} | {} |", window.title, window.describe());
            }
        }

        if !spec.lists.is_empty() {
            let _ = writeln!(out, "\n## Local lists\n");
            let _ = writeln!(out, "| Applies to | Allowed | Blocked |\n|---|---|---|");
            for list in &spec.lists {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    list.group,
                    escape(&list.allow.join(", ")),
                    escape(&list.block.join(", "))
                );
            }
        }

        if !spec.grants.is_empty() {
            let _ = writeln!(out, "\n## Temporary unfiltering\n");
            let _ = writeln!(
                out,
                "| Grant | What | For | From | Until | Reason | Approved by |\n|---|---|---|---|---|---|---|"
            );
            for grant in &spec.grants {
                let what = grant.site.as_ref().or(grant.category.as_ref());
                let holder = grant.group.as_ref().or(grant.user.as_ref());
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    grant.id,
                    escape(what.map_or("", String::as_str)),
                    escape(holder.map_or("", String::as_str)),
                    grant.start,
                    grant.end,
                    escape(&grant.reason),
                    escape(&grant.approved_by)
                );
            }
        }
        out
    }
}

/// One row of the *User Actions* table as the policy document shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRow<'a> {
    /// The heading the row sits under, when it starts a new one.
    pub heading: Option<&'a str>,
    /// The row's words.
    pub action: &'a str,
    /// The five columns: `X` where the verdict holds for every group, else the groups' ids in
    /// capitals, with the windows or nominations named.
    pub cells: [String; 5],
    /// The UK Safer Internet Centre category, if the row names one.
    pub uksic: Option<&'a str>,
    /// What it covers: its categories, or its note.
    pub covers: String,
}

impl PolicySpec {
    /// The *User Actions* table, row by row.
    pub fn user_actions(&self) -> Vec<ActionRow<'_>> {
        let mut heading: Option<&str> = None;
        self.rules
            .iter()
            .map(|rule| {
                let starts = rule.heading.as_deref() != heading;
                heading = rule.heading.as_deref();
                ActionRow {
                    heading: if starts { heading } else { None },
                    action: &rule.action,
                    cells: VerdictKind::ALL.map(|kind| cell(self, rule, kind)),
                    uksic: rule.uksic.as_deref(),
                    covers: if rule.categories.is_empty() {
                        rule.note.clone().unwrap_or_else(|| "—".to_string())
                    } else {
                        rule.categories.join(", ")
                    },
                }
            })
            .collect()
    }
}

/// One cell: `X` for every group, else the ids of the groups the verdict holds for, then the
/// windows or nominations it names.
fn cell(spec: &PolicySpec, rule: &crate::spec::RuleSpec, kind: VerdictKind) -> String {
    let mut holders = Vec::new();
    let mut details: Vec<String> = Vec::new();
    for group in &spec.groups {
        let verdict = rule.groups.get(group.id.as_str()).unwrap_or(&rule.verdict);
        if verdict.kind() != kind {
            continue;
        }
        holders.push(group.id.to_uppercase());
        let detail = match verdict {
            VerdictSpec::AtCertainTimes(windows) => windows
                .iter()
                .map(|id| {
                    spec.windows
                        .iter()
                        .find(|w| &w.id == id)
                        .map_or(id.clone(), |w| w.title.clone())
                })
                .collect::<Vec<_>>()
                .join(", "),
            VerdictSpec::ForNominatedUsers { groups, users } => groups
                .iter()
                .map(|g| g.to_uppercase())
                .chain(users.iter().cloned())
                .collect::<Vec<_>>()
                .join(", "),
            _ => continue,
        };
        if !details.contains(&detail) {
            details.push(detail);
        }
    }
    if holders.is_empty() {
        return String::new();
    }
    let mut cell = if holders.len() == spec.groups.len() {
        "X".to_string()
    } else {
        holders.join(", ")
    };
    if !details.is_empty() {
        let _ = write!(cell, " ({})", details.join("; "));
    }
    cell
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
