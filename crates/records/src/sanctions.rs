//! The school's actions and sanctions tables (DESIGN.md S3, G4): for pupils and for staff, each
//! kind of incident and the actions the school takes for it. The incident record suggests a
//! kind's actions and records the ones taken; `ward policy show` prints the tables.

use std::collections::HashSet;
use std::fmt::Write;

use serde::Deserialize;

use crate::RecordsError;

/// The shipped tables: Park End Primary School's, pupils and staff.
pub const DEFAULT_SANCTIONS: &str = include_str!("../default-sanctions.toml");

/// Both tables.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sanctions {
    /// For pupils.
    pub pupil: SanctionTable,
    /// For staff.
    pub staff: SanctionTable,
}

/// One table: its action columns and its incident rows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanctionTable {
    /// Whom it is for, as a heading.
    pub title: String,
    /// The columns: what the school can do.
    pub actions: Vec<SanctionAction>,
    /// The rows: kinds of incident.
    #[serde(rename = "incident")]
    pub incidents: Vec<IncidentKind>,
}

/// An action the school can take (a column).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanctionAction {
    /// Identifier, e.g. `parents`.
    pub id: String,
    /// As the policy words it.
    pub title: String,
}

/// A kind of incident (a row) and the actions marked for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentKind {
    /// Identifier, e.g. `deliberate-offensive`.
    pub id: String,
    /// As the policy words it.
    pub title: String,
    /// The actions marked, by id.
    pub actions: Vec<String>,
    /// The row for continued infringement after earlier warnings or sanctions.
    #[serde(default)]
    pub escalation: bool,
}

impl SanctionTable {
    /// The kind of incident with this id.
    pub fn incident(&self, id: &str) -> Option<&IncidentKind> {
        self.incidents.iter().find(|kind| kind.id == id)
    }

    /// The action with this id.
    pub fn action(&self, id: &str) -> Option<&SanctionAction> {
        self.actions.iter().find(|action| action.id == id)
    }

    /// The continued-infringement row, suggested when the person has earlier incidents.
    pub fn escalation(&self) -> Option<&IncidentKind> {
        self.incidents.iter().find(|kind| kind.escalation)
    }

    fn check(&self, table: &str) -> Result<(), RecordsError> {
        let bad = |problem: String| RecordsError::BadSanctions(format!("{table}: {problem}"));
        let mut actions = HashSet::new();
        for action in &self.actions {
            if !actions.insert(action.id.as_str()) {
                return Err(bad(format!("action {:?} is listed twice", action.id)));
            }
        }
        let mut kinds = HashSet::new();
        for kind in &self.incidents {
            if !kinds.insert(kind.id.as_str()) {
                return Err(bad(format!("incident {:?} is listed twice", kind.id)));
            }
            if let Some(unknown) = kind.actions.iter().find(|a| !actions.contains(a.as_str())) {
                return Err(bad(format!(
                    "incident {:?} names the action {unknown:?}, which is not a column",
                    kind.id
                )));
            }
        }
        if self.incidents.iter().filter(|kind| kind.escalation).count() > 1 {
            return Err(bad("more than one row is marked escalation".into()));
        }
        Ok(())
    }

    /// The table as Markdown, an X where the policy marks an action.
    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "### {}\n", self.title);
        let _ = write!(out, "| Incidents |");
        for action in &self.actions {
            let _ = write!(out, " {} |", action.title.replace('|', "\\|"));
        }
        let _ = write!(out, "\n|---|");
        for _ in &self.actions {
            let _ = write!(out, "---|");
        }
        let _ = writeln!(out);
        for kind in &self.incidents {
            let _ = write!(out, "| {} |", kind.title.replace('|', "\\|"));
            for action in &self.actions {
                let mark = if kind.actions.contains(&action.id) {
                    " X |"
                } else {
                    " |"
                };
                out.push_str(mark);
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
    }
}

impl Sanctions {
    /// Reads and checks tables written as TOML.
    pub fn from_toml(text: &str) -> Result<Sanctions, RecordsError> {
        let sanctions: Sanctions =
            toml::from_str(text).map_err(|error| RecordsError::BadSanctions(error.to_string()))?;
        sanctions.pupil.check("pupil")?;
        sanctions.staff.check("staff")?;
        Ok(sanctions)
    }

    /// The shipped tables.
    pub fn default_tables() -> Sanctions {
        // Checked by a test; a broken shipped file is a build defect, not a user error.
        Sanctions::from_toml(DEFAULT_SANCTIONS)
            .unwrap_or_else(|error| panic!("the shipped sanctions tables do not load: {error}"))
    }

    /// Both tables as Markdown, for the policy document.
    pub fn render_markdown(&self) -> String {
        let mut out = String::from("## School actions and sanctions\n\n");
        self.pupil.render(&mut out);
        self.staff.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_tables_are_park_ends_row_for_row() {
        let tables = Sanctions::from_toml(DEFAULT_SANCTIONS).expect("loads");
        assert_eq!(tables.pupil.actions.len(), 10);
        assert_eq!(tables.pupil.incidents.len(), 17);
        assert_eq!(tables.staff.actions.len(), 9);
        assert_eq!(tables.staff.incidents.len(), 16);
        // Spot checks against the seed's X marks.
        let pupil = |id: &str| tables.pupil.incident(id).expect(id).actions.clone();
        assert_eq!(pupil("illegal-material"), ["headteacher-dsl", "police"]);
        assert_eq!(
            pupil("subverting-filtering"),
            [
                "computing-coordinator",
                "headteacher-dsl",
                "technical-staff",
                "parents",
                "warning",
                "online-safety-teaching"
            ]
        );
        let staff = |id: &str| tables.staff.incident(id).expect(id).actions.clone();
        assert_eq!(
            staff("deliberate-offensive"),
            [
                "headteacher",
                "dsl",
                "police",
                "technical-staff",
                "disciplinary",
                "suspension"
            ]
        );
        assert!(
            tables
                .staff
                .incident("illegal-material")
                .expect("row")
                .title
                .ends_with("unsuitable / inappropriate activities)."),
            "the row the seed breaks over two lines is one row"
        );
        assert_eq!(
            tables.pupil.escalation().map(|kind| kind.id.as_str()),
            Some("continued-infringement")
        );
        assert_eq!(
            tables.staff.escalation().map(|kind| kind.id.as_str()),
            Some("continued-infringement")
        );
        let markdown = tables.render_markdown();
        assert!(markdown.contains(
            "| Deliberately accessing or trying to access offensive or pornographic material | | X | X | X | | X | | | X | X |"
        ), "{markdown}");
    }

    #[test]
    fn broken_tables_are_refused_with_the_reason() {
        let cases = [
            (
                "actions = [\"headteacher-dsl\", \"police\"]",
                "actions = [\"headteacher-dsl\", \"the-moon\"]",
                "names the action \"the-moon\"",
            ),
            (
                "id = \"mobile-device\"",
                "id = \"non-educational-sites\"",
                "listed twice",
            ),
            (
                "escalation = true\n\n[[pupil.incident]]",
                "escalaton = true\n\n[[pupil.incident]]",
                "unknown field",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(DEFAULT_SANCTIONS.contains(from), "{from}");
            let text = DEFAULT_SANCTIONS.replacen(from, to, 1);
            let error = Sanctions::from_toml(&text).expect_err(to).to_string();
            assert!(error.contains(expected), "{to}: {error}");
        }
    }
}
