//! Acceptable-use agreements: versions, answers per school year, the report, and that nothing
//! written can be changed.

use super::*;
use ward_records::Readers;
use ward_store::Signer;

on_both_backends!(agreements_are_versioned_answered_per_year_and_reported,);

async fn agreements_are_versioned_answered_per_year_and_reported(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "agreements").await;
    let other = school_of_its_own(store).await;
    let csv = "UPN,Surname,Forename,Year,Reg Group,Username\n\
               A1,Smith,Jo,Year 4,4W,j.smith\n\
               A2,Wright,Lily,Year 1,1R,l.wright\n\
               A3,Ng,Sam,Year 6,6B,s.ng\n";
    store
        .import_people(school, csv.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    let jo = store
        .person_by_username(school, "j.smith")
        .await
        .expect("query")
        .expect("Jo");
    let lily = store
        .person_by_username(school, "l.wright")
        .await
        .expect("query")
        .expect("Lily");

    // Ward's default is version 1, the first time it is asked for, and once only.
    let first = store
        .agreement_in_force(school, Readers::Pupils)
        .await
        .expect("in force");
    assert_eq!((first.version, first.published_by.as_str()), (1, "Ward"));
    let again = store
        .agreement_in_force(school, Readers::Pupils)
        .await
        .expect("in force");
    assert_eq!(again, first);
    let theirs = store
        .agreement_in_force(other, Readers::Pupils)
        .await
        .expect("in force");
    assert_ne!(theirs.id, first.id, "each school has its own");
    assert_eq!(
        store.agreement(other, first.id).await.expect("query"),
        None,
        "another school's agreement is not reachable"
    );

    // Answers: the latest this school year stands; another year is another question.
    store
        .answer_agreement(
            school,
            &first,
            Signer::Person(jo.id),
            "j.smith",
            false,
            2026,
            "portal",
        )
        .await
        .expect("decline");
    assert_eq!(
        store
            .agreement_answer(school, &first, Signer::Person(jo.id), 2026)
            .await
            .expect("answer"),
        Some(false)
    );
    store
        .answer_agreement(
            school,
            &first,
            Signer::Person(jo.id),
            "j.smith",
            true,
            2026,
            "portal",
        )
        .await
        .expect("accept");
    assert_eq!(
        store
            .agreement_answer(school, &first, Signer::Person(jo.id), 2026)
            .await
            .expect("answer"),
        Some(true)
    );
    assert_eq!(
        store
            .agreement_answer(school, &first, Signer::Person(jo.id), 2027)
            .await
            .expect("answer"),
        None,
        "a new school year asks again"
    );

    // The report lists the readers' pupils (Lily is in the early years' report), with answers.
    let report = store
        .agreement_report(school, Readers::Pupils, 2026)
        .await
        .expect("report");
    let names: Vec<&str> = report.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(names, vec!["Sam Ng", "Jo Smith"]);
    assert!(report[1].agreed_to(1));
    assert!(!report[0].agreed_to(1) && report[0].answer.is_none());
    let early = store
        .agreement_report(school, Readers::EarlyYears, 2026)
        .await
        .expect("report");
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].signer, Signer::Person(lily.id));

    // A new version asks again: Jo's acceptance of version 1 no longer counts as agreeing.
    assert!(
        store
            .publish_agreement(
                school,
                Readers::Pupils,
                "Our rules",
                "no points here",
                "head"
            )
            .await
            .is_err(),
        "an agreement needs something to agree to"
    );
    let second = store
        .publish_agreement(
            school,
            Readers::Pupils,
            "Our rules",
            "- [kind] Be kind.",
            "head",
        )
        .await
        .expect("publish");
    assert_eq!((second.version, second.published_by.as_str()), (2, "head"));
    let report = store
        .agreement_report(school, Readers::Pupils, 2026)
        .await
        .expect("report");
    assert!(!report[1].agreed_to(second.version));
    assert_eq!(
        store
            .agreement_versions(school, Readers::Pupils)
            .await
            .expect("versions")
            .iter()
            .map(|version| version.version)
            .collect::<Vec<_>>(),
        vec![2, 1]
    );

    // Staff: people and console accounts alike.
    let account = store
        .create_account(
            school,
            &NewAccount {
                username: "head".into(),
                display_name: "Pat Head".into(),
                roles: "headteacher".parse().expect("roles"),
                password_hash: "not a hash".into(),
                must_change_password: false,
            },
        )
        .await
        .expect("account");
    let staff = store
        .agreement_in_force(school, Readers::Staff)
        .await
        .expect("staff agreement");
    store
        .answer_agreement(
            school,
            &staff,
            Signer::Account(account),
            "head",
            true,
            2026,
            "console",
        )
        .await
        .expect("accept");
    let report = store
        .agreement_report(school, Readers::Staff, 2026)
        .await
        .expect("report");
    assert_eq!(report.len(), 1);
    assert!(report[0].agreed_to(staff.version));

    // Nothing written is changed or removed.
    for sql in [
        format!("UPDATE agreements SET body = 'x' WHERE id = {}", first.id),
        format!("DELETE FROM agreements WHERE id = {}", first.id),
        "UPDATE agreement_answers SET accepted = FALSE".to_owned(),
        "DELETE FROM agreement_answers".to_owned(),
    ] {
        assert!(
            support::try_behind_the_stores_back(&fixture.url, &sql)
                .await
                .is_err(),
            "{sql} was allowed"
        );
    }
}
