//! Device loans and software licences.

use super::*;
use ward_store::NewLoan;

on_both_backends!(loans_keep_what_happened_and_licences_flag_over_use,);

async fn loans_keep_what_happened_and_licences_flag_over_use(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "loans").await;
    let other = school_of_its_own(store).await;
    let jo = jo(store, school).await;
    let day = |text: &str| text.parse::<jiff::civil::Date>().expect("date");
    let loan = NewLoan {
        person: jo.id,
        device: "iPad 14".into(),
        out_of_school: true,
        terms_accepted_by: "Ann Smith".into(),
        lent_on: day("2026-09-07"),
        due_back: Some(day("2026-10-01")),
    };
    assert!(matches!(
        store.lend(other, &loan, "tech").await,
        Err(StoreError::NotFound(_))
    ));
    let id = store.lend(school, &loan, "tech").await.expect("lent");
    assert!(matches!(
        store
            .loan_event(other, id, "lost", day("2026-09-10"), "", "x")
            .await,
        Err(StoreError::NotFound(_))
    ));
    store
        .loan_event(school, id, "damaged", day("2026-09-10"), "screen", "tech")
        .await
        .expect("damaged");
    store
        .loan_event(school, id, "returned", day("2026-09-11"), "", "tech")
        .await
        .expect("returned");
    assert!(
        store
            .loan_event(school, id, "stolen", day("2026-09-12"), "", "tech")
            .await
            .is_err(),
        "returned: nothing more"
    );
    let loans = store.loans(school).await.expect("loans");
    assert_eq!(loans.len(), 1);
    assert!(loans[0].returned());
    assert_eq!(loans[0].events.len(), 2);
    assert!(store.loans(other).await.expect("loans").is_empty());

    store
        .set_licence(school, "Office", 20, 27, "", "tech")
        .await
        .expect("set");
    store
        .set_licence(school, "Mash", 30, 10, "", "tech")
        .await
        .expect("set");
    store
        .set_licence(school, "Mash", 30, 31, "renews in May", "head")
        .await
        .expect("changed");
    let licences = store.licences(school).await.expect("licences");
    assert_eq!(
        licences
            .iter()
            .map(|l| (l.software.as_str(), l.over_use()))
            .collect::<Vec<_>>(),
        vec![("Mash", 1), ("Office", 7)]
    );
    assert!(
        store
            .set_licence(school, "X", -1, 0, "", "tech")
            .await
            .is_err()
    );
    assert!(store.licences(other).await.expect("licences").is_empty());
}
