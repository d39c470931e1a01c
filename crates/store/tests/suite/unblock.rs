//! Unblock requests and their grants.

use super::*;

on_both_backends!(unblock_requests_are_recorded_per_school,);

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
