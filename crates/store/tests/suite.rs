//! The store's test suite, run against both backends: every test below runs once on a fresh
//! SQLite file and once on a fresh database of a real PostgreSQL server.

mod support;

use jiff::{SignedDuration, Timestamp};
use support::Fixture;
use ward_store::{
    ActivityQuery, AlertFilter, AlertId, AlertSource, AlertStatus, Disposition, EntryKind, Event,
    EventAlert, ExclusionKind, IncidentFilter, IncidentId, IncidentScope, IncidentStatus,
    LoginAttempt, LoginFailure, MAX_UNBLOCK_REASON, NewAccount, NewAlert, NewAuditEntry, NewDevice,
    NewEntry, NewExclusion, NewGroup, NewIncident, NewUnblockRequest, PersonId, PersonKind, Role,
    Roles, SchoolId, Source, Store, StoreError, UnblockGrant,
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

on_both_backends!(
    migrations_are_recorded_and_idempotent,
    schools_and_groups,
    every_query_stays_inside_its_school,
    people_import_keeps_good_rows_and_reports_bad_ones,
    hostile_text_is_stored_verbatim_and_search_is_literal,
    device_register,
    accounts_lock_out_and_sessions_expire,
    blocked_events_and_browsing_counts,
    audit_chain_verifies_and_names_the_first_broken_link,
    event_writer_writes_every_event_once,
    alerts_are_raised_per_school,
    blocked_attempts_fold_into_alerts,
    alerts_move_through_triage_with_a_history,
    unblock_requests_are_recorded_per_school,
    incidents_keep_an_append_only_record,
    detection_alerts_fold_apart_and_exclusions_keep_their_reasons,
    drops_are_counted_once_however_often_they_are_recorded,
    log_in_attempts_at_once_are_counted_atomically,
    concerns_from_one_person_fold_into_one_alert,
    an_event_standing_for_repeats_counts_them_all,
);

fn group(name: &str, kind: PersonKind, years: &[&str]) -> NewGroup {
    NewGroup {
        name: name.into(),
        label: name.to_uppercase(),
        kind,
        year_groups: years.iter().map(|year| year.to_string()).collect(),
    }
}

/// A school with Park End's groups.
async fn school(store: &Store, slug: &str) -> SchoolId {
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

fn at(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn blocked(school: SchoolId, host: &str, categories: &str, when: &str) -> Event {
    Event {
        school,
        at: at(when),
        source: Source::Proxy,
        client_ip: "10.0.3.17".parse().expect("ip"),
        device: None,
        person: None,
        username: None,
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

async fn migrations_are_recorded_and_idempotent(fixture: Fixture) {
    // A second run (as at every start) finds nothing to do and changes nothing.
    fixture.store.migrate().await.expect("migrate again");
    fixture.store.ping().await.expect("ping");
    // A database whose recorded migration differs from Ward's is refused, not guessed at.
    support::execute_behind_the_stores_back(
        &fixture.url,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await;
    let error = fixture
        .store
        .migrate()
        .await
        .expect_err("changed migration");
    assert!(
        matches!(error, StoreError::MigrationChanged { version: 1 }),
        "{error}"
    );
}

async fn schools_and_groups(fixture: Fixture) {
    let store = &fixture.store;
    let park_end = school(store, "park-end").await;
    let error = store
        .create_school("Another", "park-end")
        .await
        .expect_err("duplicate slug");
    assert!(matches!(error, StoreError::Conflict(_)), "{error}");
    assert_eq!(
        store.school(park_end).await.expect("school").slug,
        "park-end"
    );
    // Groups are created once; a second call (every start does it) adds none.
    let again = store
        .ensure_groups(park_end, &[group("ks2", PersonKind::Pupil, &["3", "4"])])
        .await
        .expect("ensure");
    assert_eq!(again, 0);
    let groups = store.groups(park_end).await.expect("groups");
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["eyfs", "ks1", "ks2", "uks2", "staff", "guests"]);
    assert_eq!(groups[0].year_groups, ["N", "R"]);
    assert_eq!(store.schools().await.expect("schools").len(), 1);
}

async fn every_query_stays_inside_its_school(fixture: Fixture) {
    let store = &fixture.store;
    let first = school(store, "first").await;
    let second = school(store, "second").await;
    let csv = b"username,forename,surname,year\nsam.a,Sam,Able,4\n";
    store
        .import_people(first, csv, PersonKind::Pupil)
        .await
        .expect("import");
    let sam = store
        .person_by_username(first, "sam.a")
        .await
        .expect("query")
        .expect("Sam is in the first school");
    assert!(
        store
            .person_by_username(second, "sam.a")
            .await
            .expect("query")
            .is_none()
    );
    assert!(matches!(
        store.person(second, sam.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .people(second, None, "", 100)
            .await
            .expect("people")
            .is_empty()
    );
    let device = store
        .add_device(
            first,
            &NewDevice {
                name: "ICT-01".into(),
                network: "10.0.3.1".parse().expect("net"),
                group: None,
                location: String::new(),
            },
        )
        .await
        .expect("device");
    assert!(store.devices(second).await.expect("devices").is_empty());
    assert!(store.remove_device(second, device).await.is_err());
    let mut event = blocked(first, "bad.example", "adult", "2026-11-23T10:00:00Z");
    event.person = Some(sam.id);
    store.insert_events(&[event]).await.expect("events");
    let everything = ActivityQuery {
        limit: 100,
        ..ActivityQuery::default()
    };
    assert_eq!(
        store
            .search_events(first, &everything)
            .await
            .expect("search")
            .len(),
        1
    );
    assert!(
        store
            .search_events(second, &everything)
            .await
            .expect("search")
            .is_empty()
    );
    let day = (at("2026-11-23T00:00:00Z"), at("2026-11-24T00:00:00Z"));
    assert!(
        store
            .blocked_by_category(second, day.0, day.1)
            .await
            .expect("counts")
            .is_empty()
    );
    store
        .append_audit(first, &audit_entry("people.import"))
        .await
        .expect("audit");
    assert!(
        store
            .audit_entries(second, 10, None, "")
            .await
            .expect("audit")
            .is_empty()
    );
    assert_eq!(store.verify_audit(second).await.expect("verify").entries, 0);
}

async fn people_import_keeps_good_rows_and_reports_bad_ones(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "import").await;
    let csv = "UPN,Surname,Forename,Year,Reg Group,Username\n\
               A1,Smith,Jo,Year 4,4W,j.smith\n\
               A2,Ng,Sam,Year 19,RB,s.ng\n\
               A3,Brown,Ali,6,6T\n\
               A4,Khan,Zara,R,RB,z.khan\n";
    let report = store
        .import_people(school, csv.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    assert_eq!((report.rows, report.created, report.updated), (4, 2, 0));
    let lines: Vec<u64> = report.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [3, 4]);
    let jo = store
        .person_by_username(school, "J.Smith")
        .await
        .expect("query")
        .expect("Jo imported");
    assert_eq!(jo.group.as_deref(), Some("ks2"));
    assert_eq!(jo.class_name.as_deref(), Some("4W"));
    assert_eq!(jo.key_stage.as_deref(), Some("KS2"));
    // The same file again updates rather than duplicates; a move to year 5 changes group.
    let moved = "username,forename,surname,year\nj.smith,Jo,Smith,5\n";
    let report = store
        .import_people(school, moved.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    assert_eq!((report.created, report.updated), (0, 1));
    let jo = store
        .person_by_username(school, "j.smith")
        .await
        .expect("query")
        .expect("Jo");
    assert_eq!(jo.group.as_deref(), Some("uks2"));
    let staff = "username,first name,last name,job role\nt.jones,Tom,Jones,Class teacher\n";
    store
        .import_people(school, staff.as_bytes(), PersonKind::Staff)
        .await
        .expect("import staff");
    assert_eq!(store.count_people(school).await.expect("count"), (2, 1, 0));
    let pupils = store
        .people(school, Some(PersonKind::Pupil), "", 100)
        .await
        .expect("people");
    let names: Vec<String> = pupils.iter().map(|p| p.full_name()).collect();
    assert_eq!(names, ["Zara Khan", "Jo Smith"]);
}

async fn hostile_text_is_stored_verbatim_and_search_is_literal(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "hostile").await;
    let csv = "username,forename,surname,year\n\
               x.script,<script>alert(1)</script>,\"O'Brien; DROP TABLE people; --\",3\n\
               p.percent,100%,Under_score,3\n";
    let report = store
        .import_people(school, csv.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let person = store
        .person_by_username(school, "x.script")
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(person.given_name, "<script>alert(1)</script>");
    assert_eq!(person.family_name, "O'Brien; DROP TABLE people; --");
    for (search, expected) in [
        ("' OR '1'='1", 0),
        ("O'Brien; DROP TABLE people; --", 1),
        ("'; DROP TABLE people; --", 0),
        ("%", 1),
        ("_", 1),
        ("\\", 0),
        ("<script>", 1),
        ("", 2),
    ] {
        let found = store
            .people(school, None, search, 100)
            .await
            .expect("search");
        assert_eq!(found.len(), expected, "search {search:?} found {found:?}");
    }
    let query = ActivityQuery {
        site: "' OR 1=1 --".into(),
        category: "%".into(),
        limit: 10,
        ..ActivityQuery::default()
    };
    assert!(
        store
            .search_events(school, &query)
            .await
            .expect("search")
            .is_empty()
    );
    assert_eq!(store.count_people(school).await.expect("count").0, 2);
}

async fn device_register(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "devices").await;
    let groups = store.groups(school).await.expect("groups");
    let ks1 = groups.iter().find(|g| g.name == "ks1").expect("ks1").id;
    let ipads = NewDevice {
        name: "Class 2 iPads".into(),
        network: "10.0.20.77/24".parse().expect("subnet"),
        group: Some(ks1),
        location: "Class 2".into(),
    };
    store.add_device(school, &ipads).await.expect("add");
    let error = store
        .add_device(school, &ipads)
        .await
        .expect_err("duplicate");
    assert!(matches!(error, StoreError::Conflict(_)));
    let devices = store.devices(school).await.expect("devices");
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].network.to_string(), "10.0.20.0/24");
    assert_eq!(devices[0].group.as_deref(), Some("ks1"));
    assert!(
        devices[0]
            .network
            .contains("10.0.20.5".parse().expect("ip"))
    );
    store
        .remove_device(school, devices[0].id)
        .await
        .expect("remove");
    assert!(store.devices(school).await.expect("devices").is_empty());
}

async fn accounts_lock_out_and_sessions_expire(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "accounts").await;
    let account = NewAccount {
        username: "Head".into(),
        display_name: "The Head".into(),
        roles: "headteacher,dsl".parse().expect("roles"),
        password_hash: "$argon2id$placeholder".into(),
        must_change_password: true,
    };
    let id = store
        .create_account(school, &account)
        .await
        .expect("create");
    assert!(matches!(
        store.create_account(school, &account).await,
        Err(StoreError::Conflict(_))
    ));
    let found = store
        .account_by_username("HEAD")
        .await
        .expect("query")
        .expect("usernames are matched without case");
    assert_eq!(found.id, id);
    assert!(found.must_change_password);
    assert_eq!(found.roles.to_string(), "dsl,headteacher");
    assert!(
        !format!("{found:?}").contains("placeholder"),
        "hash in Debug output"
    );
    let mut now = at("2026-11-23T09:00:00Z");
    let max_lock = SignedDuration::from_mins(15);
    let claim = |now| store.claim_login_attempt(id, now, 3, max_lock);
    for attempt in 1..=3 {
        let counted = claim(now).await.expect("attempt");
        assert_eq!(
            counted,
            LoginAttempt::Counted(LoginFailure {
                failed_logins: attempt,
                locked_until: None
            })
        );
    }
    let fourth = claim(now).await.expect("attempt");
    assert_eq!(
        fourth,
        LoginAttempt::Counted(LoginFailure {
            failed_logins: 4,
            locked_until: Some(now + SignedDuration::from_secs(1))
        })
    );
    // While the lock holds, an attempt is refused and not counted.
    assert_eq!(
        claim(now).await.expect("attempt"),
        LoginAttempt::Locked(now + SignedDuration::from_secs(1))
    );
    now += SignedDuration::from_secs(1);
    let fifth = claim(now).await.expect("attempt");
    assert_eq!(
        fifth,
        LoginAttempt::Counted(LoginFailure {
            failed_logins: 5,
            locked_until: Some(now + SignedDuration::from_secs(2))
        })
    );
    for _ in 0..20 {
        let locked = store.account(school, id).await.expect("account");
        now = locked.locked_until.expect("locked");
        claim(now).await.expect("attempt");
    }
    let locked = store.account(school, id).await.expect("account");
    assert_eq!(locked.locked_until, Some(now + max_lock));
    store.record_login_success(id).await.expect("success");
    let account_now = store.account(school, id).await.expect("account");
    assert_eq!(
        (account_now.failed_logins, account_now.locked_until),
        (0, None)
    );

    store
        .create_session(
            &account_now,
            "hash-1",
            "csrf-1",
            now,
            now + SignedDuration::from_hours(8),
        )
        .await
        .expect("session");
    store
        .create_session(
            &account_now,
            "hash-2",
            "csrf-2",
            now,
            now + SignedDuration::from_hours(8),
        )
        .await
        .expect("session");
    let session = store
        .session("hash-1", now)
        .await
        .expect("query")
        .expect("live");
    assert_eq!(
        (session.account, session.csrf_token.as_str()),
        (id, "csrf-1")
    );
    let later = now + SignedDuration::from_hours(9);
    assert!(
        store
            .session("hash-1", later)
            .await
            .expect("query")
            .is_none()
    );
    store
        .delete_other_sessions(id, "hash-1")
        .await
        .expect("delete others");
    assert!(store.session("hash-2", now).await.expect("query").is_none());
    store.delete_session("hash-1").await.expect("log out");
    assert!(store.session("hash-1", now).await.expect("query").is_none());
    store
        .set_roles(school, id, &Roles::new([ward_store::Role::Teacher]))
        .await
        .expect("roles");
    assert_eq!(
        store
            .account(school, id)
            .await
            .expect("account")
            .roles
            .to_string(),
        "teacher"
    );
    assert!(
        store
            .set_roles(school, id, &Roles::default())
            .await
            .is_err()
    );
}

async fn blocked_events_and_browsing_counts(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "events").await;
    store
        .import_people(
            school,
            b"username,forename,surname,year\nj.smith,Jo,Smith,4\n",
            PersonKind::Pupil,
        )
        .await
        .expect("import");
    let jo = store
        .person_by_username(school, "j.smith")
        .await
        .expect("query")
        .expect("Jo");
    let mut events = vec![
        blocked(school, "casino.example", "gambling", "2026-11-23T10:00:00Z"),
        blocked(school, "casino.example", "gambling", "2026-11-23T10:05:00Z"),
        blocked(
            school,
            "adult.example",
            "adult,porn",
            "2026-11-23T11:00:00Z",
        ),
        blocked(school, "yesterday.example", "adult", "2026-11-22T11:00:00Z"),
    ];
    events[2].person = Some(jo.id);
    events[2].search_term = Some("how to get past the filter".into());
    let mut allowed = blocked(school, "bbc.co.uk", "news", "2026-11-23T10:10:00Z");
    allowed.action = Disposition::Allow;
    allowed.person = Some(jo.id);
    events.push(allowed.clone());
    events.push(allowed.clone());
    store.insert_events(&events).await.expect("insert");
    // A second batch in the same hour adds to the same count.
    store.insert_events(&[allowed]).await.expect("insert");

    let day = (at("2026-11-23T00:00:00Z"), at("2026-11-24T00:00:00Z"));
    let counts = store
        .blocked_by_category(school, day.0, day.1)
        .await
        .expect("counts");
    let counts: Vec<(&str, i64)> = counts
        .iter()
        .map(|c| (c.category.as_str(), c.count))
        .collect();
    assert_eq!(counts, [("gambling", 2), ("adult", 1), ("porn", 1)]);
    assert_eq!(
        store.count_events(school).await.expect("count"),
        4,
        "allowed requests are counts, not rows"
    );

    let by_person = ActivityQuery {
        person: Some(jo.id),
        limit: 100,
        ..ActivityQuery::default()
    };
    let rows = store
        .search_events(school, &by_person)
        .await
        .expect("search");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].person_name.as_deref(), Some("Jo Smith"));
    assert_eq!(
        rows[0].search_term.as_deref(),
        Some("how to get past the filter")
    );
    let by_category = ActivityQuery {
        category: "PORN".into(),
        from: Some(day.0),
        to: Some(day.1),
        limit: 100,
        ..ActivityQuery::default()
    };
    assert_eq!(
        store
            .search_events(school, &by_category)
            .await
            .expect("search")
            .len(),
        1
    );
    // "adult" must not match inside another category's name.
    let partial = ActivityQuery {
        category: "dul".into(),
        limit: 100,
        ..ActivityQuery::default()
    };
    assert!(
        store
            .search_events(school, &partial)
            .await
            .expect("search")
            .is_empty()
    );
    let by_site = ActivityQuery {
        site: "CASINO".into(),
        limit: 100,
        ..ActivityQuery::default()
    };
    let rows = store.search_events(school, &by_site).await.expect("search");
    assert_eq!(rows.len(), 2);
    assert!(rows[0].at > rows[1].at, "newest first");
    let browsing = store
        .browsing(school, &format!("person:{}", jo.id), day.0, day.1, 100)
        .await
        .expect("browsing");
    assert_eq!(browsing.len(), 1);
    assert_eq!(
        (browsing[0].site.as_str(), browsing[0].requests),
        ("bbc.co.uk", 3)
    );
    assert_eq!(browsing[0].hour, at("2026-11-23T10:00:00Z"));
}

fn audit_entry(action: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: "head".into(),
        action: action.into(),
        subject: "person:1".into(),
        detail: "looked at activity".into(),
        reason: Some("concern raised by class teacher".into()),
    }
}

async fn audit_chain_verifies_and_names_the_first_broken_link(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "audit").await;
    let mut last = None;
    for number in 0..5 {
        let entry = store
            .append_audit(school, &audit_entry(&format!("action.{number}")))
            .await
            .expect("append");
        if let Some(previous) = &last {
            let previous: &ward_store::AuditEntry = previous;
            assert_eq!(entry.prev_hash, previous.hash);
            assert_eq!(entry.seq, previous.seq + 1);
        }
        last = Some(entry);
    }
    let verified = store.verify_audit(school).await.expect("verify");
    assert_eq!(verified.entries, 5);
    assert_eq!(verified.first_broken, None);
    assert_eq!(verified.head, last.map(|entry| entry.hash));
    let newest = store
        .audit_entries(school, 2, None, "")
        .await
        .expect("entries");
    assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 4]);
    let filtered = store
        .audit_entries(school, 10, None, "action.3")
        .await
        .expect("entries");
    assert_eq!(filtered.len(), 1);

    // Someone with database access rewrites what entry 3 says.
    support::execute_behind_the_stores_back(
        &fixture.url,
        "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 3",
    )
    .await;
    let verified = store.verify_audit(school).await.expect("verify");
    let (seq, why) = verified.first_broken.expect("tampering found");
    assert_eq!(seq, 3);
    assert!(why.contains("changed"), "{why}");

    // Deleting an entry is caught as a gap.
    support::execute_behind_the_stores_back(&fixture.url, "DELETE FROM audit_log WHERE seq <= 3")
        .await;
    let verified = store.verify_audit(school).await.expect("verify");
    assert_eq!(verified.first_broken.map(|(seq, _)| seq), Some(1));
}

async fn event_writer_writes_every_event_once(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "writer").await;
    let journal = support::temp_folder("journal");
    let mut config = ward_store::WriterConfig::new("gateway-1", journal.clone());
    config.batch_size = 500;
    config.segment_size = 16 << 10; // small segments, so rotation and deletion happen
    let (sink, writer) =
        ward_store::EventWriter::start(store.clone(), config.clone()).expect("start");
    for number in 0..5_000 {
        sink.record(blocked(
            school,
            &format!("site{number}.example"),
            "adult",
            "2026-11-23T10:00:00Z",
        ));
    }
    let health = sink.health().clone();
    drop(sink);
    writer.shutdown().await;
    assert_eq!(
        (health.accepted(), health.written(), health.dropped()),
        (5_000, 5_000, 0)
    );
    assert_eq!(store.count_events(school).await.expect("count"), 5_000);
    // A restart finds nothing left to replay and writes nothing twice.
    let (sink, writer) = ward_store::EventWriter::start(store.clone(), config).expect("restart");
    sink.record(blocked(
        school,
        "after-restart.example",
        "adult",
        "2026-11-23T10:00:00Z",
    ));
    drop(sink);
    writer.shutdown().await;
    assert_eq!(store.count_events(school).await.expect("count"), 5_001);
    let segments = std::fs::read_dir(&journal).expect("journal folder").count();
    assert!(
        segments <= 2,
        "old journal segments are deleted once written ({segments} left)"
    );
}

async fn alerts_are_raised_per_school(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "alerts").await;
    let other = school_of_its_own(store).await;
    let alert = |severity, summary: &str| NewAlert::system(severity, summary.into());
    store
        .raise_alert(school, &alert(2, "low"))
        .await
        .expect("raise");
    store
        .raise_alert(school, &alert(4, "policy reload failed"))
        .await
        .expect("raise");
    let refused = store.raise_alert(school, &alert(6, "off the scale")).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    let alerts = store
        .alerts(school, &AlertFilter::status(AlertStatus::New, 10))
        .await
        .expect("alerts");
    let summaries: Vec<&str> = alerts.iter().map(|a| a.summary.as_str()).collect();
    assert_eq!(
        summaries,
        ["policy reload failed", "low"],
        "highest severity first"
    );
    assert_eq!(alerts[0].severity, 4);
    assert!(
        store
            .alerts(other, &AlertFilter::status(AlertStatus::New, 10))
            .await
            .expect("alerts")
            .is_empty()
    );
    assert!(
        store
            .alerts(school, &AlertFilter::status(AlertStatus::Closed, 10))
            .await
            .expect("alerts")
            .is_empty()
    );
}

fn alerting(school: SchoolId, host: &str, rule: &str, severity: u8, when: &str) -> Event {
    Event {
        alert: Some(EventAlert {
            severity,
            category: rule.into(),
            detection: None,
        }),
        ..blocked(school, host, rule, when)
    }
}

async fn blocked_attempts_fold_into_alerts(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "folding").await;
    // Within the hour of the first attempt: one alert, three repeats, whether in one batch or
    // several; another category and another client are alerts of their own; an event with no
    // alert raises none.
    let mut other_client = alerting(school, "c.test", "pornography", 3, "2026-11-23T10:05:00Z");
    other_client.client_ip = "10.0.3.99".parse().expect("ip");
    store
        .insert_events(&[
            alerting(school, "a.test", "pornography", 3, "2026-11-23T10:00:00Z"),
            alerting(school, "b.test", "pornography", 3, "2026-11-23T10:10:00Z"),
            alerting(school, "bet.test", "gambling", 2, "2026-11-23T10:11:00Z"),
            other_client,
            blocked(school, "chat.test", "chat", "2026-11-23T10:12:00Z"),
        ])
        .await
        .expect("write");
    store
        .insert_events(&[alerting(
            school,
            "d.test",
            "pornography",
            3,
            "2026-11-23T10:59:00Z",
        )])
        .await
        .expect("write");
    // Past the hour: a new alert.
    store
        .insert_events(&[alerting(
            school,
            "e.test",
            "pornography",
            3,
            "2026-11-23T11:00:01Z",
        )])
        .await
        .expect("write");
    let alerts = store
        .alerts(school, &AlertFilter::status(AlertStatus::New, 10))
        .await
        .expect("alerts");
    let seen: Vec<(&str, &str, i64, &str)> = alerts
        .iter()
        .map(|a| {
            (
                a.category.as_str(),
                a.client_ip.as_deref().unwrap_or(""),
                a.repeats,
                a.summary.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "pornography",
                "10.0.3.17",
                1,
                "Blocked attempt to reach http://e.test/ (pornography)"
            ),
            (
                "pornography",
                "10.0.3.99",
                1,
                "Blocked attempt to reach http://c.test/ (pornography)"
            ),
            (
                "pornography",
                "10.0.3.17",
                3,
                "Blocked attempt to reach http://a.test/ (pornography)"
            ),
            (
                "gambling",
                "10.0.3.17",
                1,
                "Blocked attempt to reach http://bet.test/ (gambling)"
            ),
        ]
    );
    let folded = &alerts[2];
    assert_eq!(folded.source, AlertSource::Blocked);
    assert_eq!(folded.subject, "ip:10.0.3.17");
    assert_eq!(folded.created_at, at("2026-11-23T10:00:00Z"));
    assert_eq!(folded.last_seen, at("2026-11-23T10:59:00Z"));
    // Once someone has looked at it, further attempts are a new alert, not more repeats.
    store
        .change_alert(school, folded.id, "dsl", AlertStatus::Triaged, "", None)
        .await
        .expect("triage");
    store
        .insert_events(&[alerting(
            school,
            "f.test",
            "pornography",
            3,
            "2026-11-23T10:30:00Z",
        )])
        .await
        .expect("write");
    let triaged = store.alert(school, folded.id).await.expect("alert");
    assert_eq!(triaged.repeats, 3);
    let fresh = store
        .alerts(
            school,
            &AlertFilter {
                subject: Some("ip:10.0.3.17".into()),
                ..AlertFilter::status(AlertStatus::New, 10)
            },
        )
        .await
        .expect("alerts");
    assert_eq!(fresh.len(), 3, "{fresh:?}");

    // The weekly tally: per category and severity, with repeats and what is still new.
    let tally = store
        .alert_tally(
            school,
            at("2026-11-23T00:00:00Z"),
            at("2026-11-24T00:00:00Z"),
        )
        .await
        .expect("tally");
    let rows: Vec<(&str, u8, i64, i64, i64)> = tally
        .iter()
        .map(|t| {
            (
                t.category.as_str(),
                t.severity,
                t.alerts,
                t.occurrences,
                t.still_new,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("pornography", 3, 4, 6, 3), ("gambling", 2, 1, 1, 1)]
    );
}

async fn alerts_move_through_triage_with_a_history(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "triage").await;
    let other = school_of_its_own(store).await;
    let id = store
        .raise_alert(school, &NewAlert::system(5, "urgent".into()))
        .await
        .expect("raise");
    let low = store
        .raise_alert(school, &NewAlert::system(2, "minor".into()))
        .await
        .expect("raise");
    // Another school's alert cannot be seen or changed through this one.
    assert!(matches!(
        store.alert(other, id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .change_alert(other, id, "dsl", AlertStatus::Closed, "not ours", None)
            .await,
        Err(StoreError::NotFound(_))
    ));
    // A false positive needs a reason.
    let unexplained = store
        .change_alert(school, id, "dsl", AlertStatus::FalsePositive, "  ", None)
        .await;
    assert!(
        matches!(unexplained, Err(StoreError::Invalid(_))),
        "{unexplained:?}"
    );
    store
        .change_alert(school, id, "dsl", AlertStatus::Triaged, "looking", None)
        .await
        .expect("triage");
    store
        .change_alert(
            school,
            id,
            "dsl",
            AlertStatus::FalsePositive,
            "A geography lesson on Essex",
            None,
        )
        .await
        .expect("false positive");
    // Nothing goes back to new; a false positive can be reopened, with a reason.
    let back = store
        .change_alert(school, id, "dsl", AlertStatus::New, "again", None)
        .await;
    assert!(matches!(back, Err(StoreError::Conflict(_))), "{back:?}");
    let escalate = store
        .change_alert(
            school,
            id,
            "dsl",
            AlertStatus::Escalated,
            "",
            Some(IncidentId(7)),
        )
        .await;
    assert!(
        matches!(escalate, Err(StoreError::Conflict(_))),
        "{escalate:?}"
    );
    store
        .change_alert(
            school,
            id,
            "head",
            AlertStatus::Triaged,
            "The pupil said more today",
            None,
        )
        .await
        .expect("reopen");
    store
        .change_alert(
            school,
            id,
            "dsl",
            AlertStatus::Escalated,
            "",
            Some(IncidentId(7)),
        )
        .await
        .expect("escalate");
    let alert = store.alert(school, id).await.expect("alert");
    assert_eq!(alert.status, AlertStatus::Escalated);
    assert_eq!(alert.incident, Some(IncidentId(7)));
    let history: Vec<(String, AlertStatus, String)> = store
        .alert_changes(school, id)
        .await
        .expect("history")
        .into_iter()
        .map(|change| (change.actor, change.status, change.note))
        .collect();
    assert_eq!(
        history,
        [
            ("dsl".into(), AlertStatus::Triaged, "looking".into()),
            (
                "dsl".into(),
                AlertStatus::FalsePositive,
                "A geography lesson on Essex".into()
            ),
            (
                "head".into(),
                AlertStatus::Triaged,
                "The pupil said more today".into()
            ),
            ("dsl".into(), AlertStatus::Escalated, String::new()),
        ]
    );
    assert!(
        store
            .alert_changes(other, id)
            .await
            .expect("none")
            .is_empty()
    );
    let counts = store.alert_counts(school).await.expect("counts");
    assert!(counts.contains(&(AlertStatus::Escalated, 1)), "{counts:?}");
    assert!(counts.contains(&(AlertStatus::New, 1)), "{counts:?}");

    // Notifications: each alert at or above the severity is claimed once; a claim given back
    // is claimed again.
    let since = Timestamp::now() - SignedDuration::from_hours(1);
    let claimed = store
        .claim_alerts_to_notify(school, 4, since, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.iter().map(|a| a.id).collect::<Vec<_>>(), [id]);
    assert!(claimed[0].notified_at.is_some());
    assert!(
        store
            .claim_alerts_to_notify(school, 4, since, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    assert!(
        store
            .claim_alerts_to_notify(other, 1, since, 10)
            .await
            .expect("claim")
            .is_empty(),
        "another school's claim takes none of this school's alerts"
    );
    store.unclaim_alert(school, id).await.expect("unclaim");
    let again = store
        .claim_alerts_to_notify(school, 1, since, 10)
        .await
        .expect("claim");
    let ids: Vec<AlertId> = again.iter().map(|a| a.id).collect();
    assert_eq!(ids, [id, low]);

    // A summary is claimed once per school, kind and period; given back, it can be claimed again.
    let monday = at("2026-11-16T00:00:00Z");
    assert!(
        store
            .claim_summary(school, "weekly", monday)
            .await
            .expect("claim")
    );
    assert!(
        !store
            .claim_summary(school, "weekly", monday)
            .await
            .expect("claim")
    );
    assert!(
        store
            .claim_summary(other, "weekly", monday)
            .await
            .expect("claim")
    );
    store
        .unclaim_summary(school, "weekly", monday)
        .await
        .expect("unclaim");
    assert!(
        store
            .claim_summary(school, "weekly", monday)
            .await
            .expect("claim")
    );
}

async fn unblock_requests_are_recorded_per_school(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "unblock").await;
    let other = school_of_its_own(store).await;
    let request = |reason: &str| NewUnblockRequest {
        origin: "block-page".into(),
        client_ip: "10.0.3.7".parse().expect("ip"),
        device: None,
        person: None,
        username: Some("j.smith".into()),
        group: "ks2".into(),
        url: "http://www.example.org/racism/history".into(),
        host: "www.example.org".into(),
        categories: "racism".into(),
        blocked_because: "rule hate (unacceptable): category racism".into(),
        reason: reason.into(),
        wanted: None,
    };
    let before = Timestamp::now();
    let first = store
        .create_unblock_request(
            school,
            &request("  Year 6 project on the civil rights movement "),
        )
        .await
        .expect("create");
    let second = store
        .create_unblock_request(school, &request("Homework"))
        .await
        .expect("create");
    assert!(second > first);
    for bad in ["", "   ", &"x".repeat(MAX_UNBLOCK_REASON + 1)] {
        let refused = store.create_unblock_request(school, &request(bad)).await;
        assert!(
            matches!(refused, Err(StoreError::Invalid(_))),
            "{refused:?}"
        );
    }
    let listed = store
        .unblock_requests(school, "new", 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, second, "newest first");
    assert_eq!(
        listed[1].request,
        request("Year 6 project on the civil rights movement"),
        "stored as given, the reason trimmed"
    );
    assert_eq!(listed[1].status, "new");
    assert!(listed[1].created_at >= before);
    let ip = "10.0.3.7".parse().expect("ip");
    assert_eq!(
        store
            .count_unblock_requests_since(school, ip, before)
            .await
            .expect("count"),
        2
    );
    assert!(
        store
            .unblock_requests(other, "new", 10)
            .await
            .expect("list")
            .is_empty()
    );

    assert!(listed[0].decision.is_none());

    // The coordinator narrows the first to one page's folder for the group, for a week, and
    // refuses the second. Each is decided once; the other school cannot decide them.
    let start = Timestamp::now();
    let grant = UnblockGrant {
        site: "www.example.org/racism/".into(),
        group: Some("ks2".into()),
        user: None,
        start,
        end: start + jiff::SignedDuration::from_hours(24 * 7),
    };
    let bad_grants = [
        UnblockGrant {
            site: " ".into(),
            ..grant.clone()
        },
        UnblockGrant {
            user: Some("j.smith".into()),
            ..grant.clone()
        },
        UnblockGrant {
            group: None,
            ..grant.clone()
        },
        UnblockGrant {
            end: start,
            ..grant.clone()
        },
    ];
    for bad in &bad_grants {
        let refused = store
            .decide_unblock_request(school, first, "dsl", "", Some(bad))
            .await;
        assert!(
            matches!(refused, Err(StoreError::Invalid(_))),
            "{bad:?}: {refused:?}"
        );
    }
    let elsewhere = store
        .decide_unblock_request(other, first, "dsl", "", Some(&grant))
        .await;
    assert!(
        matches!(elsewhere, Err(StoreError::NotFound(_))),
        "{elsewhere:?}"
    );
    store
        .decide_unblock_request(school, first, "dsl", "For the project only", Some(&grant))
        .await
        .expect("approve");
    store
        .decide_unblock_request(school, second, "dsl", "Not needed for homework", None)
        .await
        .expect("refuse");
    let again = store
        .decide_unblock_request(school, first, "head", "", None)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

    let approved = store.unblock_request(school, first).await.expect("one");
    assert_eq!(approved.status, "approved");
    let decision = approved.decision.expect("decided");
    assert_eq!(
        (decision.by.as_str(), decision.note.as_str()),
        ("dsl", "For the project only")
    );
    let kept = decision.grant.expect("a grant");
    assert_eq!(kept.site, grant.site);
    assert_eq!(kept.group, grant.group);
    assert_eq!(kept.start.as_microsecond(), grant.start.as_microsecond());
    assert_eq!(kept.end.as_microsecond(), grant.end.as_microsecond());
    let refused = store.unblock_request(school, second).await.expect("one");
    assert_eq!(refused.status, "refused");
    assert_eq!(refused.decision.expect("decided").grant, None);

    // The live grants: the approval, until it ends (or is ended early).
    let grants = store
        .unblock_grants(school, Timestamp::now())
        .await
        .expect("grants");
    assert_eq!(grants.iter().map(|g| g.id).collect::<Vec<_>>(), [first]);
    assert!(
        store
            .unblock_grants(school, grant.end)
            .await
            .expect("grants")
            .is_empty()
    );
    assert!(
        store
            .unblock_grants(other, Timestamp::now())
            .await
            .expect("grants")
            .is_empty()
    );
    assert!(
        store
            .end_unblock_grant(school, first, Timestamp::now())
            .await
            .expect("end")
    );
    assert!(
        !store
            .end_unblock_grant(school, second, Timestamp::now())
            .await
            .expect("end")
    );
    assert!(
        store
            .unblock_grants(school, Timestamp::now())
            .await
            .expect("grants")
            .is_empty()
    );

    // The log: everything, oldest first, decisions included.
    let log = store.unblock_log(school, before, 100).await.expect("log");
    assert_eq!(
        log.iter()
            .map(|r| (r.id, r.status.as_str()))
            .collect::<Vec<_>>(),
        [(first, "approved"), (second, "refused")]
    );

    // A request made in the console says the period it wants; a period ending before it
    // starts is refused. The requester's own list finds it (and only theirs).
    let lesson = (at("2026-11-26T09:00:00Z"), at("2026-11-26T10:00:00Z"));
    let asked = store
        .create_unblock_request(
            school,
            &NewUnblockRequest {
                origin: "console".into(),
                username: Some("t.jones".into()),
                wanted: Some(lesson),
                ..request("Thursday's lesson on probability")
            },
        )
        .await
        .expect("console request");
    let backwards = store
        .create_unblock_request(
            school,
            &NewUnblockRequest {
                wanted: Some((lesson.1, lesson.0)),
                ..request("backwards")
            },
        )
        .await;
    assert!(
        matches!(backwards, Err(StoreError::Invalid(_))),
        "{backwards:?}"
    );
    let mine = store
        .unblock_requests_by(school, "t.jones", 10)
        .await
        .expect("mine");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, asked);
    assert_eq!(mine[0].request.wanted, Some(lesson));
    assert_eq!(mine[0].request.origin, "console");
    assert!(
        store
            .unblock_requests_by(other, "t.jones", 10)
            .await
            .expect("mine")
            .is_empty()
    );
}

async fn school_of_its_own(store: &Store) -> SchoolId {
    store
        .create_school("Another school", "another")
        .await
        .expect("create school")
}

fn pupil_incident(person: Option<PersonId>, alerts: Vec<AlertId>) -> NewIncident {
    NewIncident {
        audience: "pupil".into(),
        kind: "non-educational-sites".into(),
        person,
        username: "j.smith".into(),
        station: "IT-07".into(),
        occurred_at: Some(at("2026-11-23T10:00:00Z")),
        evidence: "Gambling site attempted during a maths lesson".into(),
        reported_by: "Mrs Patel".into(),
        alerts,
    }
}

async fn incidents_keep_an_append_only_record(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "incidents").await;
    let csv = "UPN,Surname,Forename,Year,Reg Group,Username\nA1,Smith,Jo,Year 4,4W,j.smith\n";
    store
        .import_people(school, csv.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    let jo = store
        .person_by_username(school, "j.smith")
        .await
        .expect("query")
        .expect("Jo");

    // The Appendix 1 record needs the evidence, who reported it, and a username, station or
    // time; the audience is pupil or staff.
    let mut missing = pupil_incident(Some(jo.id), vec![]);
    missing.evidence = "  ".into();
    let refused = store.open_incident(school, "dsl", &missing).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    let mut nobody = pupil_incident(None, vec![]);
    (nobody.username, nobody.station, nobody.occurred_at) = (String::new(), String::new(), None);
    let refused = store.open_incident(school, "dsl", &nobody).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    let mut odd = pupil_incident(None, vec![]);
    odd.audience = "governor".into();
    let refused = store.open_incident(school, "dsl", &odd).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );

    // Escalating an alert: the alert is escalated with a history row, the incident lists it and
    // the blocked requests behind it (the same client, from the first to the last repeat).
    let mut attempt = alerting(school, "bet.test", "gambling", 2, "2026-11-23T10:00:00Z");
    attempt.person = Some(jo.id);
    let mut repeat = alerting(school, "bet2.test", "gambling", 2, "2026-11-23T10:20:00Z");
    repeat.person = Some(jo.id);
    let mut later = blocked(school, "late.test", "chat", "2026-11-23T12:00:00Z");
    later.person = Some(jo.id);
    store
        .insert_events(&[attempt, repeat, later])
        .await
        .expect("write");
    let alert = store
        .alerts(school, &AlertFilter::status(AlertStatus::New, 10))
        .await
        .expect("alerts")
        .pop()
        .expect("an alert");
    let id = store
        .open_incident(school, "dsl", &pupil_incident(Some(jo.id), vec![alert.id]))
        .await
        .expect("open");
    let escalated = store.alert(school, alert.id).await.expect("alert");
    assert_eq!(
        (escalated.status, escalated.incident),
        (AlertStatus::Escalated, Some(IncidentId(id)))
    );
    let history = store
        .alert_changes(school, alert.id)
        .await
        .expect("history");
    assert_eq!(
        history.last().map(|c| c.note.as_str()),
        Some(format!("escalated to incident {id}").as_str())
    );
    let events = store
        .incident_events(school, IncidentScope::All, id)
        .await
        .expect("events");
    let hosts: Vec<&str> = events.iter().map(|e| e.host.as_str()).collect();
    assert_eq!(hosts, ["bet.test", "bet2.test"]);
    // An escalated alert cannot be escalated again, and nothing is half-written when it fails.
    let again = store
        .open_incident(school, "dsl", &pupil_incident(Some(jo.id), vec![alert.id]))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let all = store
        .incidents(
            school,
            IncidentScope::All,
            &IncidentFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(
        all.len(),
        1,
        "the failed escalation left no incident behind"
    );

    // Entries: notes, answers and actions, with corrections pointing at what they correct.
    let note = store
        .add_incident_entry(
            school,
            IncidentScope::All,
            id,
            "dsl",
            &NewEntry::note("Spoke to Jo.", None),
        )
        .await
        .expect("note");
    let correction = store
        .add_incident_entry(
            school,
            IncidentScope::All,
            id,
            "dsl",
            &NewEntry::note("Spoke to Jo and the class teacher.", Some(note)),
        )
        .await
        .expect("correction");
    let step = NewEntry {
        kind: EntryKind::Step,
        step: "child-protection".into(),
        answer: "yes".into(),
        note: String::new(),
        corrects: None,
        child_protection: Some(true),
    };
    store
        .add_incident_entry(school, IncidentScope::All, id, "dsl", &step)
        .await
        .expect("answer");
    let wrong_kind = store
        .add_incident_entry(
            school,
            IncidentScope::All,
            id,
            "dsl",
            &NewEntry::note("x", Some(correction + 1)),
        )
        .await;
    assert!(
        matches!(wrong_kind, Err(StoreError::Invalid(_))),
        "a note cannot correct an answer: {wrong_kind:?}"
    );
    let entries = store
        .incident_entries(school, IncidentScope::All, id)
        .await
        .expect("entries");
    let kinds: Vec<(EntryKind, Option<i64>)> =
        entries.iter().map(|e| (e.kind, e.corrects)).collect();
    assert_eq!(
        kinds,
        [
            (EntryKind::Alert, None),
            (EntryKind::Note, None),
            (EntryKind::Note, Some(note)),
            (EntryKind::Step, None)
        ]
    );
    assert_eq!(
        entries[1].note, "Spoke to Jo.",
        "the corrected note is kept as written"
    );

    // The database refuses to change or remove an entry, whoever asks.
    for sql in [
        format!("UPDATE incident_entries SET note = 'rewritten' WHERE id = {note}"),
        format!("DELETE FROM incident_entries WHERE id = {note}"),
    ] {
        let outcome = support::try_behind_the_stores_back(&fixture.url, &sql).await;
        let error = outcome.expect_err("append-only");
        assert!(error.contains("append-only"), "{error}");
    }

    // Visibility: a child-protection incident is hidden from the teacher who recorded it;
    // a teacher sees their own pupil incidents only, never staff ones.
    let by_teacher = store
        .open_incident(school, "t.jones", &pupil_incident(None, vec![]))
        .await
        .expect("teacher's");
    let mut staff = pupil_incident(None, vec![]);
    staff.audience = "staff".into();
    staff.kind = "personal-use".into();
    let staff_id = store
        .open_incident(school, "t.jones", &staff)
        .await
        .expect("staff");
    let teacher = IncidentScope::RecordedBy("t.jones");
    let seen: Vec<i64> = store
        .incidents(
            school,
            teacher,
            &IncidentFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("teacher's list")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(seen, [by_teacher]);
    for hidden in [staff_id, id] {
        let outcome = store.incident(school, teacher, hidden).await;
        assert!(
            matches!(outcome, Err(StoreError::NotFound(_))),
            "{outcome:?}"
        );
        assert!(
            store
                .incident_entries(school, teacher, hidden)
                .await
                .expect("entries")
                .is_empty()
        );
        assert!(
            store
                .incident_events(school, teacher, hidden)
                .await
                .expect("events")
                .is_empty()
        );
        let note = store
            .add_incident_entry(
                school,
                teacher,
                hidden,
                "t.jones",
                &NewEntry::note("peek", None),
            )
            .await;
        assert!(matches!(note, Err(StoreError::NotFound(_))), "{note:?}");
    }
    assert!(
        store
            .incident(
                school,
                IncidentScope::RecordedBy("someone.else"),
                by_teacher
            )
            .await
            .is_err()
    );

    // Earlier incidents of the same person (continued infringement), by person or username.
    let earlier = store
        .incidents(
            school,
            IncidentScope::All,
            &IncidentFilter {
                username: Some("J.SMITH".into()),
                before: Some(Timestamp::now() + SignedDuration::from_secs(60)),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("by username");
    assert_eq!(earlier.len(), 3);
    let by_person = store
        .incidents(
            school,
            IncidentScope::All,
            &IncidentFilter {
                person: Some(jo.id),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("by person");
    assert_eq!(by_person.iter().map(|i| i.id).collect::<Vec<_>>(), [id]);

    // Sign-off closes the incident and its escalated alert; afterwards only notes go in.
    store
        .sign_off_incident(school, id, "dsl", "Dealt with.")
        .await
        .expect("sign off");
    let closed = store
        .incident(school, IncidentScope::All, id)
        .await
        .expect("incident");
    assert_eq!(closed.status, IncidentStatus::Closed);
    assert_eq!(closed.closed_by.as_deref(), Some("dsl"));
    assert_eq!(
        store.alert(school, alert.id).await.expect("alert").status,
        AlertStatus::Closed
    );
    let twice = store.sign_off_incident(school, id, "dsl", "again").await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    let late_step = store
        .add_incident_entry(school, IncidentScope::All, id, "dsl", &step)
        .await;
    assert!(
        matches!(late_step, Err(StoreError::Conflict(_))),
        "{late_step:?}"
    );
    store
        .add_incident_entry(
            school,
            IncidentScope::All,
            id,
            "dsl",
            &NewEntry::note("Parents called back.", None),
        )
        .await
        .expect("a note after sign-off");

    // Another school sees none of it.
    let other = school_of_its_own(store).await;
    assert!(store.incident(other, IncidentScope::All, id).await.is_err());
    assert!(
        store
            .incident_events(other, IncidentScope::All, id)
            .await
            .expect("events")
            .is_empty()
    );
    let cross = store
        .link_alert_to_incident(other, id, alert.id, "dsl")
        .await;
    assert!(matches!(cross, Err(StoreError::NotFound(_))), "{cross:?}");
}

fn detected(school: SchoolId, category: &str, severity: u8, when: &str) -> Event {
    Event {
        action: Disposition::Allow,
        search_term: Some("how to k1ll myself".into()),
        reason: format!("risk found in a search: {category}"),
        alert: Some(EventAlert {
            severity,
            category: category.into(),
            detection: Some("Found: kil myself (60)\nText: how to kil myself".into()),
        }),
        ..blocked(school, "www.google.com", "search-engines", when)
    }
}

async fn detection_alerts_fold_apart_and_exclusions_keep_their_reasons(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "detection").await;
    // A detection and a blocked attempt in a category of the same name are separate alerts;
    // detections of one subject and category within the window fold into one.
    // Later findings are not lost in the fold: their phrases and text join the alert's detail,
    // from the same batch and from a later one.
    let with_text = |event: Event, found: &str| Event {
        alert: event.alert.map(|alert| EventAlert {
            detection: Some(found.into()),
            ..alert
        }),
        ..event
    };
    store
        .insert_events(&[
            detected(school, "gambling", 3, "2026-11-23T10:00:00Z"),
            alerting(school, "bet.test", "gambling", 2, "2026-11-23T10:01:00Z"),
            with_text(
                detected(school, "gambling", 3, "2026-11-23T10:02:00Z"),
                "Found: online casino (40)\nText: best online casino",
            ),
        ])
        .await
        .expect("write");
    store
        .insert_events(&[with_text(
            detected(school, "gambling", 4, "2026-11-23T10:20:00Z"),
            "Found: place a bet (40)\nText: how to place a bet",
        )])
        .await
        .expect("write");
    let alerts = store
        .alerts(school, &AlertFilter::status(AlertStatus::New, 10))
        .await
        .expect("alerts");
    let seen: Vec<(AlertSource, &str, u8, i64)> = alerts
        .iter()
        .map(|a| (a.source, a.category.as_str(), a.severity, a.repeats))
        .collect();
    assert_eq!(
        seen,
        [
            (AlertSource::Detection, "gambling", 4, 3),
            (AlertSource::Blocked, "gambling", 2, 1),
        ]
    );
    let detection = &alerts[0];
    assert_eq!(
        detection.summary,
        "Risk detected (gambling): risk found in a search: gambling"
    );
    assert!(
        detection.detail.contains("kil myself (60)")
            && detection.detail.contains("Address: http://www.google.com/"),
        "{}",
        detection.detail
    );
    assert!(
        detection
            .detail
            .contains("Again at 2026-11-23T10:02:00Z: Address: http://www.google.com/\nFound: online casino (40)")
            && detection
                .detail
                .contains("Again at 2026-11-23T10:20:00Z: Address: http://www.google.com/\nFound: place a bet (40)\nText: how to place a bet"),
        "{}",
        detection.detail
    );

    // Exclusions: a reason is required; a site is kept as its domain; a person must be the
    // school's; ending one keeps it on record.
    let refused = store
        .add_exclusion(
            school,
            &NewExclusion {
                kind: ExclusionKind::Phrase,
                value: "kil myself".into(),
                reason: "because".into(),
            },
            "dsl",
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(ref m)) if m.contains("reason")),
        "{refused:?}"
    );
    let site = store
        .add_exclusion(
            school,
            &NewExclusion {
                kind: ExclusionKind::Site,
                value: "https://www.Samaritans.org/how-we-can-help/".into(),
                reason: "a help service: pupils are encouraged to use it".into(),
            },
            "dsl",
        )
        .await
        .expect("site");
    for bad in ["not a site", "http:///", "exa mple.org"] {
        assert!(
            store
                .add_exclusion(
                    school,
                    &NewExclusion {
                        kind: ExclusionKind::Site,
                        value: bad.into(),
                        reason: "long enough to be a reason".into(),
                    },
                    "dsl",
                )
                .await
                .is_err(),
            "{bad:?}"
        );
    }
    let csv = "UPN,Surname,Forename,Year,Reg Group,Username\nA1,Smith,Jo,Year 4,4W,j.smith\n";
    store
        .import_people(school, csv.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    let jo = store
        .person_by_username(school, "j.smith")
        .await
        .expect("person")
        .expect("imported");
    store
        .add_exclusion(
            school,
            &NewExclusion {
                kind: ExclusionKind::Person,
                value: jo.id.0.to_string(),
                reason: "researching extremism for the Prevent coursework, agreed with the DSL"
                    .into(),
            },
            "dsl",
        )
        .await
        .expect("person");
    let other = school_of_its_own(store).await;
    assert!(
        store
            .add_exclusion(
                other,
                &NewExclusion {
                    kind: ExclusionKind::Person,
                    value: jo.id.0.to_string(),
                    reason: "another school's pupil is not ours".into(),
                },
                "dsl",
            )
            .await
            .is_err(),
        "a person of another school"
    );
    let now = store.exclusions(school, false).await.expect("exclusions");
    let rows: Vec<(ExclusionKind, &str, Option<&str>)> = now
        .iter()
        .map(|e| (e.kind, e.value.as_str(), e.person_username.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            (
                ExclusionKind::Person,
                jo.id.0.to_string().as_str(),
                Some("j.smith")
            ),
            (ExclusionKind::Site, "www.samaritans.org", None),
        ]
    );
    assert!(
        now[0]
            .person_name
            .as_deref()
            .is_some_and(|n| n.contains("Jo Smith"))
    );
    let ended = store
        .end_exclusion(school, site, "head")
        .await
        .expect("end");
    assert_eq!(ended.ended.map(|(_, by)| by), Some("head".to_owned()));
    assert!(matches!(
        store.end_exclusion(school, site, "head").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.end_exclusion(other, site, "head").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.exclusions(school, false).await.expect("now").len(), 1);
    assert_eq!(store.exclusions(school, true).await.expect("all").len(), 2);
    assert!(
        store
            .exclusions(other, true)
            .await
            .expect("other")
            .is_empty()
    );
}

/// Issue 20, item 17: a writer records its run's running total of drops, so a record sent
/// again (after a time-out whose write committed anyway) or arriving late counts nothing twice.
async fn drops_are_counted_once_however_often_they_are_recorded(fixture: Fixture) {
    let store = &fixture.store;
    assert_eq!(store.dropped_events().await.expect("drops"), 0);
    store
        .record_drops("gw-1", "run-a", 3_894)
        .await
        .expect("record");
    store
        .record_drops("gw-1", "run-a", 3_894)
        .await
        .expect("again");
    assert_eq!(store.dropped_events().await.expect("drops"), 3_894);
    // An older, smaller total arriving late changes nothing; a larger one replaces it.
    store
        .record_drops("gw-1", "run-a", 1_000)
        .await
        .expect("late");
    assert_eq!(store.dropped_events().await.expect("drops"), 3_894);
    store
        .record_drops("gw-1", "run-a", 4_000)
        .await
        .expect("more");
    assert_eq!(store.dropped_events().await.expect("drops"), 4_000);
    // Another run of the same gateway, and another gateway, add theirs.
    store
        .record_drops("gw-1", "run-b", 7)
        .await
        .expect("next run");
    store
        .record_drops("gw-2", "run-a", 3)
        .await
        .expect("other gateway");
    assert_eq!(store.dropped_events().await.expect("drops"), 4_010);
}

/// Issue 20, item 10: many log-in attempts at once on one account are counted one by one, and
/// those after the lock are refused before any password is checked.
async fn log_in_attempts_at_once_are_counted_atomically(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "race").await;
    let id = store
        .create_account(
            school,
            &NewAccount {
                username: "racer".into(),
                display_name: "Racer".into(),
                roles: Roles::new([Role::Teacher]),
                password_hash: "placeholder".into(),
                must_change_password: false,
            },
        )
        .await
        .expect("account");
    let now = Timestamp::now();
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        attempts.spawn(async move {
            store
                .claim_login_attempt(id, now, 5, SignedDuration::from_mins(15))
                .await
        });
    }
    let (mut counted, mut locked) = (Vec::new(), 0);
    while let Some(result) = attempts.join_next().await {
        match result
            .expect("task")
            .expect("no database error under contention")
        {
            LoginAttempt::Counted(failure) => counted.push(failure.failed_logins),
            LoginAttempt::Locked(_) => locked += 1,
        }
    }
    counted.sort_unstable();
    assert_eq!(counted, [1, 2, 3, 4, 5, 6], "each counted once, in turn");
    assert_eq!(locked, 14);
}

/// Issue 20, item 8: one person's concerns within the window are one alert, which keeps what
/// each said; another person's are their own.
async fn concerns_from_one_person_fold_into_one_alert(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "concerns").await;
    let concern = |ip: &str, message: &str| ward_store::NewAlert {
        severity: 3,
        category: "concern".into(),
        source: AlertSource::Concern,
        person: None,
        device: None,
        client_ip: Some(ip.parse().expect("ip")),
        username: None,
        summary: "Concern reported from the block page".into(),
        detail: format!("What they wrote: {message}"),
    };
    let window = SignedDuration::from_hours(1);
    let (first, folded) = store
        .raise_concern(school, &concern("10.0.0.5", "first worry"), window)
        .await
        .expect("raise");
    assert!(!folded);
    for message in ["second worry", "third worry"] {
        let (id, folded) = store
            .raise_concern(school, &concern("10.0.0.5", message), window)
            .await
            .expect("fold");
        assert_eq!((id, folded), (first, true));
    }
    let (other, folded) = store
        .raise_concern(school, &concern("10.0.0.6", "someone else"), window)
        .await
        .expect("raise");
    assert!(!folded && other != first);
    let alerts = store
        .alerts(school, &AlertFilter::status(AlertStatus::New, 10))
        .await
        .expect("alerts");
    assert_eq!(alerts.len(), 2);
    let folded = alerts
        .iter()
        .find(|a| a.id == first)
        .expect("the folded alert");
    assert_eq!(folded.repeats, 3);
    for message in ["first worry", "second worry", "third worry"] {
        assert!(folded.detail.contains(message), "{}", folded.detail);
    }
}

/// Issue 21: an event that stands for several requests (repeats folded at the gate) adds all
/// of them to its alert's repeats and to the blocked-attempt counts.
async fn an_event_standing_for_repeats_counts_them_all(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "repeats").await;
    let first = alerting(school, "a.test", "pornography", 3, "2026-11-23T10:00:00Z");
    let mut repeats = alerting(school, "a.test", "pornography", 3, "2026-11-23T10:00:01Z");
    repeats.count = 41;
    store.insert_events(&[first]).await.expect("first");
    store.insert_events(&[repeats]).await.expect("repeats");
    let alerts = store
        .alerts(school, &AlertFilter::status(AlertStatus::New, 10))
        .await
        .expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].repeats, 42);
    assert_eq!(store.count_events(school).await.expect("rows"), 2);
    let by_category = store
        .blocked_by_category(
            school,
            at("2026-11-23T00:00:00Z"),
            at("2026-11-24T00:00:00Z"),
        )
        .await
        .expect("counts");
    assert_eq!(by_category.iter().map(|row| row.count).sum::<i64>(), 42);
    let rows = store
        .search_events(
            school,
            &ActivityQuery {
                limit: 10,
                ..ActivityQuery::default()
            },
        )
        .await
        .expect("rows");
    let mut requests: Vec<i64> = rows.iter().map(|row| row.requests).collect();
    requests.sort_unstable();
    assert_eq!(requests, [1, 41]);
}
