//! People synchronised from the school's directory: leavers marked, never deleted; what only
//! the MIS knows kept; a sync that would empty the school refused; a person's own lock-out.

use super::*;
use ward_store::DirectoryEntry;

on_both_backends!(
    a_sync_adds_updates_and_marks_leavers_without_deleting_anyone,
    a_sync_that_would_make_most_people_leavers_is_refused,
    a_directory_log_in_is_locked_out_like_a_console_one,
    a_sign_on_finds_one_current_person_by_email_or_nobody,
    a_ward_password_is_kept_for_a_person_and_dated,
    directory_groups_make_console_accounts_and_disable_them_when_they_go,
);

fn entry(
    username: &str,
    kind: PersonKind,
    year: Option<&str>,
    group: Option<&str>,
) -> DirectoryEntry {
    let (given, family) = username.split_once('.').unwrap_or((username, "Directory"));
    DirectoryEntry {
        username: username.into(),
        given_name: given.into(),
        family_name: family.into(),
        email: Some(format!("{username}@park-end.sch.uk")),
        kind,
        year: year.map(str::to_owned),
        group: group.map(str::to_owned),
    }
}

async fn a_sync_adds_updates_and_marks_leavers_without_deleting_anyone(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "directory-sync").await;
    // Jo came from the MIS first, with a class the directory does not know.
    store
        .import_people(
            school,
            b"username,forename,surname,year,class\nj.smith,Jo,Smith,3,3B\n",
            PersonKind::Pupil,
        )
        .await
        .expect("import");
    let everyone = [
        entry("J.Smith", PersonKind::Pupil, Some("Year 4"), None),
        entry("lena.wright", PersonKind::Pupil, Some("4"), None),
        entry("tariq.khan", PersonKind::Pupil, Some("6"), None),
        entry("ann.jones", PersonKind::Staff, None, None),
        entry("bad\u{202e}name", PersonKind::Pupil, Some("4"), None),
        entry("no.year", PersonKind::Pupil, None, None),
        entry(
            "guest.speaker",
            PersonKind::Guest,
            None,
            Some("no-such-group"),
        ),
    ];
    let first = store
        .sync_directory(school, &everyone, false)
        .await
        .expect("sync");
    assert_eq!((first.created, first.updated), (3, 1), "{first:?}");
    assert!(first.left.is_empty());
    let problems: Vec<&str> = first
        .problems
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(problems, ["bad\u{202e}name", "no.year", "guest.speaker"]);
    let jo = store
        .person_by_username(school, "j.smith")
        .await
        .expect("query")
        .expect("Jo");
    assert_eq!(
        jo.year_group.as_deref(),
        Some("4"),
        "the directory moves her up"
    );
    assert_eq!(jo.group.as_deref(), Some("ks2"));
    assert_eq!(
        jo.class_name.as_deref(),
        Some("3B"),
        "the MIS's class is kept"
    );
    assert!(jo.from_directory && jo.left_at.is_none());
    let tariq = store
        .person_by_username(school, "tariq.khan")
        .await
        .expect("query")
        .expect("Tariq");
    assert_eq!(
        (tariq.group.as_deref(), tariq.key_stage.as_deref()),
        (Some("uks2"), Some("KS2"))
    );
    assert_eq!(tariq.email.as_deref(), Some("tariq.khan@park-end.sch.uk"));

    // Tariq leaves: marked, kept. A person whose entry could not be written is not a leaver.
    let second = store
        .sync_directory(
            school,
            &[
                everyone[0].clone(),
                everyone[1].clone(),
                everyone[3].clone(),
            ],
            false,
        )
        .await
        .expect("sync");
    assert_eq!(second.left, ["tariq.khan"]);
    let tariq = store
        .person_by_username(school, "tariq.khan")
        .await
        .expect("query")
        .expect("kept");
    assert!(tariq.left_at.is_some());
    assert_eq!(
        tariq.full_name(),
        "tariq khan",
        "names as the directory has them"
    );
    // He comes back: no longer a leaver, and reported.
    let third = store
        .sync_directory(school, &everyone, false)
        .await
        .expect("sync");
    assert_eq!(third.returned, ["tariq.khan"]);
    assert!(third.left.is_empty());
    let tariq = store
        .person_by_username(school, "tariq.khan")
        .await
        .expect("query")
        .expect("back");
    assert!(tariq.left_at.is_none());
    // People only the MIS has are never made leavers by the directory.
    store
        .import_people(
            school,
            b"username,forename,surname\ncook,Pat,Cook\n",
            PersonKind::Staff,
        )
        .await
        .expect("import");
    let fourth = store
        .sync_directory(school, &everyone, false)
        .await
        .expect("sync");
    assert!(fourth.left.is_empty());
}

async fn a_sync_that_would_make_most_people_leavers_is_refused(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "directory-empty").await;
    let everyone = [
        entry("a.one", PersonKind::Pupil, Some("4"), None),
        entry("b.two", PersonKind::Pupil, Some("4"), None),
        entry("c.three", PersonKind::Staff, None, None),
    ];
    store
        .sync_directory(school, &everyone, false)
        .await
        .expect("sync");
    // A base DN mistyped answers nobody: refused whole, nobody marked.
    let error = store
        .sync_directory(school, &[], false)
        .await
        .expect_err("refused");
    assert!(
        matches!(error, StoreError::Invalid(ref why) if why.contains("3 of the 3")),
        "{error}"
    );
    let one = store
        .person_by_username(school, "a.one")
        .await
        .expect("query")
        .expect("a.one");
    assert!(one.left_at.is_none(), "nothing changed");
    // One of three leaving is ordinary.
    let report = store
        .sync_directory(school, &everyone[..2], false)
        .await
        .expect("sync");
    assert_eq!(report.left, ["c.three"]);
    // Told that they have all left, it marks them.
    let report = store.sync_directory(school, &[], true).await.expect("sync");
    assert_eq!(report.left, ["a.one", "b.two"]);
}

async fn a_directory_log_in_is_locked_out_like_a_console_one(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "directory-lock").await;
    let lena = store
        .add_directory_person(
            school,
            &entry("lena.wright", PersonKind::Pupil, Some("4"), None),
        )
        .await
        .expect("added at first log-in");
    assert!(lena.from_directory);
    assert_eq!(lena.group.as_deref(), Some("ks2"));
    // Whole seconds: times are stored to the microsecond.
    let now = Timestamp::from_second(Timestamp::now().as_second()).expect("now");
    let max = SignedDuration::from_mins(15);
    for expected in 1..=3 {
        let attempt = store
            .claim_person_login_attempt(lena.id, now, 3, max)
            .await
            .expect("claim");
        assert_eq!(
            attempt,
            LoginAttempt::Counted(LoginFailure {
                failed_logins: expected,
                locked_until: None
            })
        );
    }
    let LoginAttempt::Counted(LoginFailure {
        locked_until: Some(until),
        ..
    }) = store
        .claim_person_login_attempt(lena.id, now, 3, max)
        .await
        .expect("claim")
    else {
        panic!("the fourth failure locks");
    };
    assert_eq!(
        store
            .claim_person_login_attempt(lena.id, now, 3, max)
            .await
            .expect("claim"),
        LoginAttempt::Locked(until)
    );
    store
        .record_person_login_success(lena.id)
        .await
        .expect("clear");
    assert!(matches!(
        store
            .claim_person_login_attempt(lena.id, now, 3, max)
            .await
            .expect("claim"),
        LoginAttempt::Counted(LoginFailure {
            failed_logins: 1,
            ..
        })
    ));
}

async fn a_sign_on_finds_one_current_person_by_email_or_nobody(fixture: Fixture) {
    let store = &fixture.store;
    let other = school(store, "directory-email-other").await;
    let school = school(store, "directory-email").await;
    let everyone = [
        entry("lena.wright", PersonKind::Pupil, Some("4"), None),
        entry("tariq.khan", PersonKind::Pupil, Some("6"), None),
        entry("ann.jones", PersonKind::Staff, None, None),
    ];
    store
        .sync_directory(school, &everyone, false)
        .await
        .expect("sync");
    let lena = store
        .person_by_email(school, " Lena.Wright@PARK-END.sch.uk ")
        .await
        .expect("query")
        .expect("found whatever the case");
    assert_eq!(lena.username, "lena.wright");
    assert!(
        store
            .person_by_email(other, "lena.wright@park-end.sch.uk")
            .await
            .expect("query")
            .is_none(),
        "another school's sign-on never finds her"
    );
    for nobody in [
        "",
        "nobody@park-end.sch.uk",
        "lena.wright@park-end.sch.uk\u{0}",
    ] {
        assert!(
            store
                .person_by_email(school, nobody)
                .await
                .expect("query")
                .is_none(),
            "{nobody:?}"
        );
    }
    // Tariq leaves: his address names nobody.
    store
        .sync_directory(school, &everyone[..1], true)
        .await
        .expect("sync");
    assert!(
        store
            .person_by_email(school, "tariq.khan@park-end.sch.uk")
            .await
            .expect("query")
            .is_none()
    );
    // Two current people with one address (a sibling's typed in the MIS): nobody is guessed.
    let twin = DirectoryEntry {
        username: "lena.wright2".into(),
        email: Some("lena.wright@park-end.sch.uk".into()),
        ..entry("lena.wright2", PersonKind::Pupil, Some("4"), None)
    };
    store
        .add_directory_person(school, &twin)
        .await
        .expect("added");
    assert!(
        store
            .person_by_email(school, "lena.wright@park-end.sch.uk")
            .await
            .expect("query")
            .is_none()
    );
}

async fn a_ward_password_is_kept_for_a_person_and_dated(fixture: Fixture) {
    let store = &fixture.store;
    let other = school(store, "ward-password-other").await;
    let school = school(store, "ward-password").await;
    let lena = store
        .add_directory_person(
            school,
            &entry("lena.wright", PersonKind::Pupil, Some("4"), None),
        )
        .await
        .expect("added");
    assert!(!lena.has_password && !lena.must_change_password);
    assert_eq!(lena.password_changed_at, None);
    assert_eq!(
        store
            .person_password_hash(school, lena.id)
            .await
            .expect("query"),
        None
    );
    // Locked out, then given a starting password: the lock goes, and she must change it.
    for _ in 0..5 {
        store
            .claim_person_login_attempt(
                lena.id,
                Timestamp::now(),
                1,
                jiff::SignedDuration::from_mins(5),
            )
            .await
            .expect("attempt");
    }
    let set_at: Timestamp = "2026-12-01T09:00:00Z".parse().expect("time");
    store
        .set_person_password(school, lena.id, Some("$argon2id$starting"), true, set_at)
        .await
        .expect("set");
    let lena = store
        .person_by_username(school, "lena.wright")
        .await
        .expect("query")
        .expect("Lena");
    assert!(lena.has_password && lena.must_change_password);
    assert_eq!(lena.password_changed_at, Some(set_at));
    assert_eq!(
        store
            .person_password_hash(school, lena.id)
            .await
            .expect("query")
            .as_deref(),
        Some("$argon2id$starting")
    );
    assert!(
        matches!(
            store
                .claim_person_login_attempt(
                    lena.id,
                    Timestamp::now(),
                    1,
                    jiff::SignedDuration::from_mins(5)
                )
                .await
                .expect("attempt"),
            ward_store::LoginAttempt::Counted(_)
        ),
        "the lock-out was cleared"
    );
    // Another school cannot set or read it.
    assert!(matches!(
        store
            .set_person_password(other, lena.id, Some("$argon2id$theirs"), false, set_at)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store
            .person_password_hash(other, lena.id)
            .await
            .expect("query"),
        None
    );
    // She chooses her own; then it is taken away (back to the directory's).
    store
        .set_person_password(school, lena.id, Some("$argon2id$hers"), false, set_at)
        .await
        .expect("set");
    let lena = store
        .person_by_username(school, "lena.wright")
        .await
        .expect("query")
        .expect("Lena");
    assert!(lena.has_password && !lena.must_change_password);
    store
        .set_person_password(school, lena.id, None, true, set_at)
        .await
        .expect("removed");
    let lena = store
        .person_by_username(school, "lena.wright")
        .await
        .expect("query")
        .expect("Lena");
    assert!(!lena.has_password && !lena.must_change_password);
    assert_eq!(lena.password_changed_at, None);
}

fn account(username: &str, roles: &[Role]) -> ward_store::DirectoryAccount {
    ward_store::DirectoryAccount {
        username: username.into(),
        display_name: format!("{username} Person"),
        email: Some(format!("{username}@park-end.sch.uk")),
        roles: Roles::new(roles.iter().copied()),
    }
}

async fn directory_groups_make_console_accounts_and_disable_them_when_they_go(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "directory-accounts").await;
    // A Ward account of the same name as a directory entry: the directory never touches it.
    store
        .create_account(
            school,
            &ward_store::NewAccount {
                username: "itadmin".into(),
                display_name: "IT Admin".into(),
                roles: Roles::new([Role::Technician]),
                password_hash: "$argon2id$local".into(),
                must_change_password: false,
            },
        )
        .await
        .expect("local account");
    let first = store
        .sync_directory_accounts(
            school,
            &[
                account("mrs.jones", &[Role::Dsl, Role::Teacher]),
                account("mr.ali", &[Role::Teacher]),
                account("itadmin", &[Role::Headteacher]),
                account("pupil", &[]),
            ],
            false,
        )
        .await
        .expect("sync");
    assert_eq!(first.created, ["mr.ali", "mrs.jones"]);
    assert_eq!(first.problems.len(), 1, "{first:?}");
    assert_eq!(first.problems[0].0, "itadmin");
    let jones = store
        .account_by_username("mrs.jones")
        .await
        .expect("query")
        .expect("made");
    assert!(jones.from_directory && !jones.disabled);
    assert!(jones.roles.has(Role::Dsl) && jones.roles.has(Role::Teacher));
    assert_eq!(jones.password_hash, ward_store::DIRECTORY_PASSWORD);
    assert_eq!(jones.email.as_deref(), Some("mrs.jones@park-end.sch.uk"));
    let itadmin = store
        .account_by_username("itadmin")
        .await
        .expect("query")
        .expect("kept");
    assert!(!itadmin.from_directory && itadmin.roles.has(Role::Technician));
    assert!(
        store
            .account_by_username("pupil")
            .await
            .expect("query")
            .is_none(),
        "no role, no account"
    );

    // Mrs Jones leaves the safeguarding group; Mr Ali's groups give no role any more: his
    // account is disabled (kept), and comes back with a role.
    let second = store
        .sync_directory_accounts(
            school,
            &[
                account("mrs.jones", &[Role::Teacher]),
                account("mr.ali", &[]),
                account("mr.new", &[Role::Governor]),
            ],
            false,
        )
        .await
        .expect("sync");
    assert_eq!(
        second.changed,
        [(
            "mrs.jones".to_owned(),
            "dsl,teacher".to_owned(),
            "teacher".to_owned()
        )]
    );
    assert_eq!(second.disabled, ["mr.ali"]);
    let ali = store
        .account_by_username("mr.ali")
        .await
        .expect("query")
        .expect("kept");
    assert!(ali.disabled);
    let third = store
        .sync_directory_accounts(
            school,
            &[
                account("mrs.jones", &[Role::Teacher]),
                account("mr.ali", &[Role::Teacher]),
                account("mr.new", &[Role::Governor]),
            ],
            false,
        )
        .await
        .expect("sync");
    assert_eq!(
        third.changed,
        [(
            "mr.ali".to_owned(),
            "disabled".to_owned(),
            "teacher".to_owned()
        )]
    );
    // A directory that answers nobody would disable them all: refused, nothing changed.
    let error = store
        .sync_directory_accounts(school, &[], false)
        .await
        .expect_err("refused");
    assert!(matches!(error, StoreError::Invalid(_)), "{error}");
    assert!(
        !store
            .account_by_username("mrs.jones")
            .await
            .expect("query")
            .expect("kept")
            .disabled
    );
}
