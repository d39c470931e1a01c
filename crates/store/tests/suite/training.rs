//! Staff training records and policy readings.

use super::*;
use ward_store::NewTraining;

on_both_backends!(training_is_recorded_for_staff_and_the_policy_read_once,);

async fn training_is_recorded_for_staff_and_the_policy_read_once(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "training").await;
    store
        .import_people(
            school,
            b"username,forename,surname\nmrs.jones,Ann,Jones\n",
            PersonKind::Staff,
        )
        .await
        .expect("staff");
    let jones = store
        .person_by_username(school, "mrs.jones")
        .await
        .expect("query")
        .expect("Ann");
    let pupil = jo(store, school).await;
    let course = |person, due: Option<&str>| NewTraining {
        person,
        course: "Online safety (annual)".into(),
        completed_on: "2026-09-02".parse().expect("date"),
        renewal_due: due.map(|due| due.parse().expect("date")),
        evidence: "CPD log".into(),
    };
    assert!(matches!(
        store
            .add_training(school, &course(pupil.id, None), "head")
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .add_training(school, &course(jones.id, Some("2026-01-01")), "head")
            .await
            .is_err(),
        "renewal before the course"
    );
    store
        .add_training(school, &course(jones.id, Some("2027-09-02")), "head")
        .await
        .expect("recorded");
    let records = store.training_records(school).await.expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].name, "Ann Jones");
    assert_eq!(
        records[0].renewal_due.map(|d| d.to_string()).as_deref(),
        Some("2027-09-02")
    );
    // Due by the end of 2027: claimed once; a renewal recorded later supersedes an old record.
    let due_by: jiff::civil::Date = "2027-12-31".parse().expect("date");
    let claimed = store
        .claim_training_due(school, due_by, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(
        store
            .claim_training_due(school, due_by, 10)
            .await
            .expect("claim")
            .is_empty(),
        "once"
    );
    store
        .unclaim_training(school, &[claimed[0].id])
        .await
        .expect("given back");
    store
        .add_training(school, &course(jones.id, Some("2028-09-02")), "head")
        .await
        .expect("renewed");
    assert!(
        store
            .claim_training_due(school, due_by, 10)
            .await
            .expect("claim")
            .is_empty(),
        "the renewal supersedes the old record"
    );
    let account = store
        .create_account(
            school,
            &NewAccount {
                username: "reader".into(),
                display_name: "Reader".into(),
                roles: "teacher".parse().expect("roles"),
                password_hash: "x".into(),
                must_change_password: false,
            },
        )
        .await
        .expect("account");
    for _ in 0..2 {
        store
            .record_policy_reading(school, account, 3)
            .await
            .expect("read");
    }
    assert_eq!(
        store
            .policy_readers(school, 3)
            .await
            .expect("readers")
            .len(),
        1
    );
    assert!(
        store
            .policy_readers(school, 4)
            .await
            .expect("readers")
            .is_empty()
    );
}
