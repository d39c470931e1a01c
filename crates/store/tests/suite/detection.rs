//! Detection alerts and exclusions.

use super::*;

on_both_backends!(detection_alerts_fold_apart_and_exclusions_keep_their_reasons,);

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
    let jo = jo(store, school).await;
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
