//! The store's test suite, run against both backends: every test runs once on a fresh SQLite
//! file and once on a fresh database of a real PostgreSQL server. One module per area of the
//! store; the helpers they share are here.

#[path = "../support/mod.rs"]
mod support;

use jiff::{SignedDuration, Timestamp};
pub(crate) use support::Fixture;
use ward_store::{
    ActivityQuery, AlertFilter, AlertId, AlertNarrowing, AlertSource, AlertStatus, Disposition,
    EntryKind, Event, EventAlert, ExclusionKind, IncidentFilter, IncidentId, IncidentScope,
    IncidentStatus, LoginAttempt, LoginFailure, MAX_UNBLOCK_REASON, NewAccount, NewAlert,
    NewAuditEntry, NewDevice, NewEntry, NewExclusion, NewGroup, NewIncident, NewUnblockRequest,
    PersonId, PersonKind, Role, Roles, SchoolId, Source, Store, StoreError, UnblockGrant,
};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::support::sqlite_store().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::support::postgres_store().await).await
                }
            )*
        }
    };
}

mod accounts;
mod agreements;
mod alerts;
mod audit;
mod consent;
mod detection;
mod directory;
mod events;
mod incidents;
mod loans;
mod people;
mod policy;
mod schema;
mod schools;
mod training;
mod unblock;

pub(crate) fn group(name: &str, kind: PersonKind, years: &[&str]) -> NewGroup {
    NewGroup {
        name: name.into(),
        label: name.to_uppercase(),
        kind,
        year_groups: years.iter().map(|year| year.to_string()).collect(),
    }
}

/// A school with Park End's groups.
pub(crate) async fn school(store: &Store, slug: &str) -> SchoolId {
    let school = store
        .create_school(&format!("School {slug}"), slug)
        .await
        .expect("create school");
    store
        .ensure_groups(
            school,
            &[
                group("eyfs", PersonKind::Pupil, &["N", "R"]),
                group("ks1", PersonKind::Pupil, &["1", "2"]),
                group("ks2", PersonKind::Pupil, &["3", "4"]),
                group("uks2", PersonKind::Pupil, &["5", "6"]),
                group("staff", PersonKind::Staff, &[]),
                group("guests", PersonKind::Guest, &[]),
            ],
        )
        .await
        .expect("create groups");
    school
}

/// Jo Smith (`j.smith`, Year 4), imported as a pupil: the one person many scenarios need.
pub(crate) async fn jo(store: &Store, school: SchoolId) -> ward_store::Person {
    let csv = "UPN,Surname,Forename,Year,Reg Group,Username\nA1,Smith,Jo,Year 4,4W,j.smith\n";
    store
        .import_people(school, csv.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    store
        .person_by_username(school, "j.smith")
        .await
        .expect("query")
        .expect("Jo imported")
}

pub(crate) fn at(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

pub(crate) fn blocked(school: SchoolId, host: &str, categories: &str, when: &str) -> Event {
    Event {
        school,
        at: at(when),
        source: Source::Proxy,
        client_ip: "10.0.3.17".parse().expect("ip"),
        device: None,
        person: None,
        username: None,
        identified_by: None,
        host: host.into(),
        url: Some(format!("http://{host}/")),
        action: Disposition::Block,
        categories: categories.into(),
        reason: "unacceptable for ks2".into(),
        search_term: None,
        count: 1,
        alert: None,
    }
}

pub(crate) fn audit_entry(action: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: "head".into(),
        action: action.into(),
        subject: "person:1".into(),
        detail: "looked at activity".into(),
        reason: Some("concern raised by class teacher".into()),
    }
}

pub(crate) fn alerting(
    school: SchoolId,
    host: &str,
    rule: &str,
    severity: u8,
    when: &str,
) -> Event {
    Event {
        alert: Some(EventAlert {
            severity,
            category: rule.into(),
            detection: None,
        }),
        ..blocked(school, host, rule, when)
    }
}

pub(crate) async fn school_of_its_own(store: &Store) -> SchoolId {
    store
        .create_school("Another school", "another")
        .await
        .expect("create school")
}
