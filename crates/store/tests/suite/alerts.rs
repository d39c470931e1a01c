//! The alert queue: raising, folding, triage, concerns.

use super::*;

on_both_backends!(
    alerts_are_raised_per_school,
    blocked_attempts_fold_into_alerts,
    alerts_move_through_triage_with_a_history,
    concerns_from_one_person_fold_into_one_alert,
    what_waits_is_counted_and_an_urgent_alert_waits_until_opened,
    the_queue_narrows_by_pupil_class_year_severity_category_date_and_assignment,
);

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
        identified_by: None,
        summary: "Concern reported from the block page".into(),
        detail: format!("What they wrote: {message}"),
    };
    let window = SignedDuration::from_hours(1);
    let (first, folded) = store
        .raise_or_fold(school, &concern("10.0.0.5", "first worry"), window)
        .await
        .expect("raise");
    assert!(!folded);
    for message in ["second worry", "third worry"] {
        let (id, folded) = store
            .raise_or_fold(school, &concern("10.0.0.5", message), window)
            .await
            .expect("fold");
        assert_eq!((id, folded), (first, true));
    }
    let (other, folded) = store
        .raise_or_fold(school, &concern("10.0.0.6", "someone else"), window)
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

async fn what_waits_is_counted_and_an_urgent_alert_waits_until_opened(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "waiting").await;
    let other = school_of_its_own(store).await;
    let raise = |severity, summary: &str| {
        let alert = NewAlert::system(severity, summary.into());
        async move { store.raise_alert(school, &alert).await.expect("raise") }
    };
    raise(2, "low").await;
    raise(5, "first grave").await;
    let second = raise(5, "second grave").await;
    raise(5, "third grave").await;
    store
        .raise_alert(other, &NewAlert::system(5, "another school's".into()))
        .await
        .expect("raise");
    let waiting = store.waiting(school, 2).await.expect("waiting");
    assert_eq!(waiting.new_alerts, [0, 1, 0, 0, 3]);
    assert_eq!(waiting.new_alert_total(), 4);
    let summaries: Vec<&str> = waiting
        .unopened_urgent
        .iter()
        .map(|u| u.summary.as_str())
        .collect();
    assert_eq!(
        summaries,
        ["first grave", "second grave"],
        "oldest first, limited"
    );
    assert_eq!((waiting.unblock_requests, waiting.open_incidents), (0, 0));

    // Opened once: the first opening is kept, and the alert stops waiting to be opened (it is
    // still new until triaged).
    let at: Timestamp = "2026-12-02T09:00:00Z".parse().expect("time");
    assert!(
        store
            .mark_alert_opened(school, second, "dsl", at)
            .await
            .expect("open")
    );
    assert!(
        !store
            .mark_alert_opened(
                school,
                second,
                "head",
                at + jiff::SignedDuration::from_mins(1)
            )
            .await
            .expect("open")
    );
    assert!(
        !store
            .mark_alert_opened(other, second, "intruder", at)
            .await
            .expect("open")
    );
    let alert = store.alert(school, second).await.expect("alert");
    assert_eq!(alert.opened, Some((at, "dsl".to_owned())));
    let waiting = store.waiting(school, 5).await.expect("waiting");
    assert_eq!(waiting.unopened_urgent.len(), 2);
    assert!(waiting.unopened_urgent.iter().all(|u| u.id != second));
    assert_eq!(waiting.new_alerts[4], 3);
    let theirs = store.waiting(other, 5).await.expect("waiting");
    assert_eq!(theirs.new_alerts, [0, 0, 0, 0, 1]);
}

async fn the_queue_narrows_by_pupil_class_year_severity_category_date_and_assignment(
    fixture: Fixture,
) {
    let store = &fixture.store;
    let school = school(store, "narrowing").await;
    let jo = jo(store, school).await;
    let by_jo = |host: &str, rule: &str, severity: u8, when: &str| Event {
        person: Some(jo.id),
        ..alerting(school, host, rule, severity, when)
    };
    store
        .insert_events(&[
            by_jo("casino.test", "gambling", 2, "2026-11-23T10:00:00Z"),
            by_jo("harm.test", "self-harm", 5, "2026-11-24T10:00:00Z"),
            alerting(
                school,
                "porn.test",
                "pornography",
                3,
                "2026-11-25T10:00:00Z",
            ),
        ])
        .await
        .expect("write");
    let list = |narrow: AlertNarrowing| async move {
        let mut summaries: Vec<String> = store
            .alerts(
                school,
                &AlertFilter {
                    narrow,
                    ..AlertFilter::status(AlertStatus::New, 50)
                },
            )
            .await
            .expect("alerts")
            .into_iter()
            .map(|alert| alert.category)
            .collect();
        summaries.sort();
        summaries
    };
    assert_eq!(list(AlertNarrowing::default()).await.len(), 3);
    let jo_only = AlertNarrowing {
        person: Some(jo.id),
        ..AlertNarrowing::default()
    };
    assert_eq!(list(jo_only).await, ["gambling", "self-harm"]);
    let class = AlertNarrowing {
        class: Some("4w".into()),
        ..AlertNarrowing::default()
    };
    assert_eq!(list(class).await, ["gambling", "self-harm"], "any case");
    let year = AlertNarrowing {
        year: Some("4".into()),
        min_severity: Some(4),
        ..AlertNarrowing::default()
    };
    assert_eq!(list(year).await, ["self-harm"]);
    let category = AlertNarrowing {
        category: Some("pornography".into()),
        ..AlertNarrowing::default()
    };
    assert_eq!(list(category).await, ["pornography"]);
    let days = AlertNarrowing {
        from: Some(at("2026-11-24T00:00:00Z")),
        to: Some(at("2026-11-25T00:00:00Z")),
        ..AlertNarrowing::default()
    };
    assert_eq!(list(days).await, ["self-harm"]);

    // Assigning: to a colleague, once (again is no change), with a line in the history.
    let all = store
        .alerts(school, &AlertFilter::status(AlertStatus::New, 50))
        .await
        .expect("alerts");
    let ids: Vec<AlertId> = all.iter().map(|alert| alert.id).collect();
    assert_eq!(
        store
            .assign_alerts(school, &ids[..2], Some("deputy"), "dsl")
            .await
            .expect("assign"),
        2
    );
    assert_eq!(
        store
            .assign_alerts(school, &ids[..2], Some("deputy"), "dsl")
            .await
            .expect("assign"),
        0
    );
    let mine = AlertNarrowing {
        assigned_to: Some("deputy".into()),
        ..AlertNarrowing::default()
    };
    assert_eq!(list(mine).await.len(), 2);
    let nobodys = AlertNarrowing {
        assigned_to: Some(String::new()),
        ..AlertNarrowing::default()
    };
    assert_eq!(list(nobodys).await.len(), 1);
    let history = store.alert_changes(school, ids[0]).await.expect("history");
    assert!(
        history
            .iter()
            .any(|change| change.note == "assigned to deputy" && change.actor == "dsl"),
        "{history:?}"
    );
    // Another school's alerts are never assigned from here.
    let other = school_of_its_own(store).await;
    assert_eq!(
        store
            .assign_alerts(other, &ids, Some("deputy"), "dsl")
            .await
            .expect("assign"),
        0
    );
}
