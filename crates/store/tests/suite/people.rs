//! People, the MIS import and the device register.

use super::*;

on_both_backends!(
    people_import_keeps_good_rows_and_reports_bad_ones,
    hostile_text_is_stored_verbatim_and_search_is_literal,
    device_register,
    an_mis_export_without_usernames_is_matched_by_upn_and_a_later_one_names_them,
);

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

async fn an_mis_export_without_usernames_is_matched_by_upn_and_a_later_one_names_them(
    fixture: Fixture,
) {
    let store = &fixture.store;
    let school = school(store, "mis-ids").await;
    // A SIMS class list: no usernames. Jo is added with her UPN as a stand-in username.
    let sims = "UPN,Legal Surname,Legal Forename,Year,Reg Group\r\nA123,Smith,Jo,Year 4,4W\r\n";
    let report = store
        .import_people(school, sims.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    assert_eq!((report.created, report.updated), (1, 0), "{report:?}");
    let jo = store
        .person_by_username(school, "a123")
        .await
        .expect("query")
        .expect("Jo, by her UPN");
    // The next term's list moves her class: matched by UPN, updated, not added twice.
    let moved = sims.replace("4W", "4K");
    let report = store
        .import_people(school, moved.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    assert_eq!((report.created, report.updated), (0, 1), "{report:?}");
    // An export with usernames gives her real one: the same person, renamed.
    let named = "UPN,Surname,Forename,Year,Username\nA123,Smith,Jo,4,j.smith\n";
    let report = store
        .import_people(school, named.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    assert_eq!((report.created, report.updated), (0, 1), "{report:?}");
    let renamed = store
        .person_by_username(school, "j.smith")
        .await
        .expect("query")
        .expect("Jo, by her username");
    assert_eq!(renamed.id, jo.id, "the same record");
    assert_eq!(renamed.class_name.as_deref(), Some("4K"));
    assert!(
        store
            .person_by_username(school, "a123")
            .await
            .expect("query")
            .is_none()
    );
    // And a list without usernames after that still finds her by UPN.
    let report = store
        .import_people(school, sims.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    assert_eq!((report.created, report.updated), (0, 1), "{report:?}");
    let jo = store.person(school, jo.id).await.expect("Jo");
    assert_eq!(
        (jo.username.as_str(), jo.class_name.as_deref()),
        ("j.smith", Some("4W"))
    );
}
