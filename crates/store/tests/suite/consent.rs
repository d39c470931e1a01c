//! Photo and video consent: written answers per purpose, partial and withdrawn, the history,
//! where each pupil stands, and nothing changed once written.

use super::*;
use ward_records::consent::{Purpose, Standing, Written};
use ward_store::NewConsent;

on_both_backends!(consent_is_written_partial_withdrawable_and_kept,);

async fn consent_is_written_partial_withdrawable_and_kept(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "consent").await;
    let other = school_of_its_own(store).await;
    let jo = jo(store, school).await;
    let paper = |answers: Vec<(Purpose, bool)>, dated: Option<&str>| NewConsent {
        person: jo.id,
        answers,
        written: Written::PaperForm,
        parent_name: "Ann Smith".into(),
        form_dated: dated.map(str::to_owned),
        note: "September form".into(),
    };
    // Refusals: nothing answered, no parent, a paper form without its date or dated ahead.
    for (consent, said) in [
        (
            paper(Vec::new(), Some("2026-09-03")),
            "at least one purpose",
        ),
        (
            NewConsent {
                parent_name: " ".into(),
                ..paper(vec![(Purpose::Website, true)], Some("2026-09-03"))
            },
            "parent or carer",
        ),
        (
            paper(vec![(Purpose::Website, true)], None),
            "date on the paper form",
        ),
        (
            paper(vec![(Purpose::Website, true)], Some("2999-01-01")),
            "in the future",
        ),
    ] {
        let error = store
            .record_consent(school, &consent, "office")
            .await
            .expect_err("refused");
        assert!(error.to_string().contains(said), "{said}: {error}");
    }
    // Partial: the website and displays, not social media.
    store
        .record_consent(
            school,
            &paper(
                vec![
                    (Purpose::Website, true),
                    (Purpose::Displays, true),
                    (Purpose::SocialMedia, false),
                ],
                Some("2026-09-03"),
            ),
            "office",
        )
        .await
        .expect("recorded");
    let now = store.pupil_consents(school, None).await.expect("consents");
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].for_purpose(Purpose::Website), Standing::Given);
    assert_eq!(now[0].for_purpose(Purpose::SocialMedia), Standing::Refused);
    assert_eq!(now[0].for_purpose(Purpose::Press), Standing::NotAsked);
    // Withdrawn later through the parent's link: the website only; displays stand.
    store
        .record_consent(
            school,
            &NewConsent {
                answers: vec![(Purpose::Website, false)],
                written: Written::ParentLink,
                form_dated: None,
                note: String::new(),
                ..paper(Vec::new(), None)
            },
            "parent",
        )
        .await
        .expect("withdrawn");
    let now = store
        .pupil_consents(school, Some("4W"))
        .await
        .expect("consents");
    assert_eq!(now[0].for_purpose(Purpose::Website), Standing::Refused);
    assert_eq!(now[0].for_purpose(Purpose::Displays), Standing::Given);
    assert!(
        store
            .pupil_consents(school, Some("6T"))
            .await
            .expect("consents")
            .is_empty(),
        "another class"
    );
    let history = store.consent_history(school, jo.id).await.expect("history");
    assert_eq!(history.len(), 4);
    assert_eq!(
        (history[0].purpose, history[0].given, history[0].written),
        (Purpose::Website, false, Written::ParentLink)
    );
    assert_eq!(history[3].form_dated.as_deref(), Some("2026-09-03"));
    // Another school's store has no such pupil; its history of Jo is empty.
    assert!(matches!(
        store
            .record_consent(
                other,
                &paper(vec![(Purpose::Website, true)], Some("2026-09-03")),
                "x"
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .consent_history(other, jo.id)
            .await
            .expect("history")
            .is_empty()
    );
    // The classes a member of staff teaches: set, replaced, and only for the school's accounts.
    let teacher = store
        .create_account(
            school,
            &NewAccount {
                username: "class.teacher".into(),
                display_name: "Class Teacher".into(),
                roles: "teacher".parse().expect("roles"),
                password_hash: "x".into(),
                must_change_password: false,
            },
        )
        .await
        .expect("account");
    store
        .set_account_classes(school, teacher, &["4W".into(), "3R".into(), "4W".into()])
        .await
        .expect("set");
    assert_eq!(
        store
            .account_classes(school, teacher)
            .await
            .expect("classes"),
        vec!["3R".to_owned(), "4W".to_owned()]
    );
    store
        .set_account_classes(school, teacher, &["6T".into()])
        .await
        .expect("replaced");
    assert_eq!(
        store
            .account_classes(school, teacher)
            .await
            .expect("classes"),
        vec!["6T".to_owned()]
    );
    assert!(matches!(
        store.set_account_classes(other, teacher, &[]).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .account_classes(other, teacher)
            .await
            .expect("classes")
            .is_empty()
    );

    // Kept as given.
    for sql in ["UPDATE consents SET given = TRUE", "DELETE FROM consents"] {
        assert!(
            support::try_behind_the_stores_back(&fixture.url, sql)
                .await
                .is_err(),
            "{sql} was allowed"
        );
    }
}
