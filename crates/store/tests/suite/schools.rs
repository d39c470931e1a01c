//! Schools, groups, and every query kept inside its school.

use super::*;

on_both_backends!(schools_and_groups, every_query_stays_inside_its_school,);

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
    // The policy moves year 4 to a new group: existing groups follow, a new one is made, and
    // none is dropped.
    let changed = store
        .sync_groups(
            park_end,
            &[
                group("ks2", PersonKind::Pupil, &["3"]),
                group("year4", PersonKind::Pupil, &["4"]),
            ],
        )
        .await
        .expect("sync");
    assert_eq!(changed, 2, "one changed, one made");
    let groups = store.groups(park_end).await.expect("groups");
    let ks2 = groups.iter().find(|g| g.name == "ks2").expect("ks2");
    assert_eq!(ks2.year_groups, ["3"]);
    assert!(
        groups
            .iter()
            .any(|g| g.name == "year4" && g.year_groups == ["4"])
    );
    assert_eq!(groups.len(), 7, "nothing dropped");
    let again = store
        .sync_groups(park_end, &[group("ks2", PersonKind::Pupil, &["3"])])
        .await
        .expect("sync");
    assert_eq!(again, 0, "nothing to change");

    // Before a group leaves the policy, its people and devices move to another, together;
    // another school's are untouched.
    store
        .import_people(
            park_end,
            b"username,forename,surname,year\nsam.a,Sam,Able,4\n",
            PersonKind::Pupil,
        )
        .await
        .expect("import");
    let year4 = groups.iter().find(|g| g.name == "year4").expect("year4").id;
    store
        .add_device(
            park_end,
            &NewDevice {
                name: "Y4-01".into(),
                network: "10.0.4.1".parse().expect("net"),
                group: Some(year4),
                location: String::new(),
            },
        )
        .await
        .expect("device");
    let members = store.group_members(park_end).await.expect("members");
    assert!(members.contains(&("year4".to_owned(), 1, 1)), "{members:?}");
    assert!(members.contains(&("ks2".to_owned(), 0, 0)), "{members:?}");
    assert_eq!(
        store
            .move_group_members(park_end, "year4", "ks2")
            .await
            .expect("move"),
        (1, 1)
    );
    let members = store.group_members(park_end).await.expect("members");
    assert!(members.contains(&("year4".to_owned(), 0, 0)), "{members:?}");
    assert!(members.contains(&("ks2".to_owned(), 1, 1)), "{members:?}");
    let sam = store
        .person_by_username(park_end, "sam.a")
        .await
        .expect("query")
        .expect("Sam");
    assert_eq!(sam.group.as_deref(), Some("ks2"));
    assert!(matches!(
        store.move_group_members(park_end, "ks2", "nowhere").await,
        Err(StoreError::NotFound(_))
    ));
    let other = school(store, "other").await;
    assert!(
        store
            .group_members(other)
            .await
            .expect("members")
            .iter()
            .all(|(_, people, devices)| *people == 0 && *devices == 0)
    );
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
