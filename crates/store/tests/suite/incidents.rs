//! Incidents: the append-only record.

use super::*;

on_both_backends!(incidents_keep_an_append_only_record,);

fn pupil_incident(person: Option<PersonId>, alerts: Vec<AlertId>) -> NewIncident {
    NewIncident {
        audience: "pupil".into(),
        kind: "non-educational-sites".into(),
        person,
        username: "j.smith".into(),
        station: "IT-07".into(),
        occurred_at: Some(at("2026-11-23T10:00:00Z")),
        evidence: "Gambling site attempted during a maths lesson".into(),
        reported_by: "Mrs Patel".into(),
        alerts,
    }
}

async fn incidents_keep_an_append_only_record(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "incidents").await;
    let jo = jo(store, school).await;

    // The Appendix 1 record needs the evidence, who reported it, and a username, station or
    // time; the audience is pupil or staff.
    let mut missing = pupil_incident(Some(jo.id), vec![]);
    missing.evidence = "  ".into();
    let refused = store.open_incident(school, "dsl", &missing).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    let mut nobody = pupil_incident(None, vec![]);
    (nobody.username, nobody.station, nobody.occurred_at) = (String::new(), String::new(), None);
    let refused = store.open_incident(school, "dsl", &nobody).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    let mut odd = pupil_incident(None, vec![]);
    odd.audience = "governor".into();
    let refused = store.open_incident(school, "dsl", &odd).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );

    // Escalating an alert: the alert is escalated with a history row, the incident lists it and
    // the blocked requests behind it (the same client, from the first to the last repeat).
    let mut attempt = alerting(school, "bet.test", "gambling", 2, "2026-11-23T10:00:00Z");
    attempt.person = Some(jo.id);
    let mut repeat = alerting(school, "bet2.test", "gambling", 2, "2026-11-23T10:20:00Z");
    repeat.person = Some(jo.id);
    let mut later = blocked(school, "late.test", "chat", "2026-11-23T12:00:00Z");
    later.person = Some(jo.id);
    store
        .insert_events(&[attempt, repeat, later])
        .await
        .expect("write");
    let alert = store
        .alerts(school, &AlertFilter::status(AlertStatus::New, 10))
        .await
        .expect("alerts")
        .pop()
        .expect("an alert");
    let id = store
        .open_incident(school, "dsl", &pupil_incident(Some(jo.id), vec![alert.id]))
        .await
        .expect("open");
    let escalated = store.alert(school, alert.id).await.expect("alert");
    assert_eq!(
        (escalated.status, escalated.incident),
        (AlertStatus::Escalated, Some(id))
    );
    let history = store
        .alert_changes(school, alert.id)
        .await
        .expect("history");
    assert_eq!(
        history.last().map(|c| c.note.as_str()),
        Some(format!("escalated to incident {id}").as_str())
    );
    let events = store
        .incident_events(school, IncidentScope::All, id)
        .await
        .expect("events");
    let hosts: Vec<&str> = events.iter().map(|e| e.host.as_str()).collect();
    assert_eq!(hosts, ["bet.test", "bet2.test"]);
    // An escalated alert cannot be escalated again, and nothing is half-written when it fails.
    let again = store
        .open_incident(school, "dsl", &pupil_incident(Some(jo.id), vec![alert.id]))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let all = store
        .incidents(
            school,
            IncidentScope::All,
            &IncidentFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(
        all.len(),
        1,
        "the failed escalation left no incident behind"
    );

    // Entries: notes, answers and actions, with corrections pointing at what they correct.
    let note = store
        .add_incident_entry(
            school,
            IncidentScope::All,
            id,
            "dsl",
            &NewEntry::note("Spoke to Jo.", None),
        )
        .await
        .expect("note");
    let correction = store
        .add_incident_entry(
            school,
            IncidentScope::All,
            id,
            "dsl",
            &NewEntry::note("Spoke to Jo and the class teacher.", Some(note)),
        )
        .await
        .expect("correction");
    let step = NewEntry {
        kind: EntryKind::Step,
        step: "child-protection".into(),
        answer: "yes".into(),
        note: String::new(),
        corrects: None,
        child_protection: Some(true),
    };
    store
        .add_incident_entry(school, IncidentScope::All, id, "dsl", &step)
        .await
        .expect("answer");
    let wrong_kind = store
        .add_incident_entry(
            school,
            IncidentScope::All,
            id,
            "dsl",
            &NewEntry::note("x", Some(correction + 1)),
        )
        .await;
    assert!(
        matches!(wrong_kind, Err(StoreError::Invalid(_))),
        "a note cannot correct an answer: {wrong_kind:?}"
    );
    let entries = store
        .incident_entries(school, IncidentScope::All, id)
        .await
        .expect("entries");
    let kinds: Vec<(EntryKind, Option<i64>)> =
        entries.iter().map(|e| (e.kind, e.corrects)).collect();
    assert_eq!(
        kinds,
        [
            (EntryKind::Alert, None),
            (EntryKind::Note, None),
            (EntryKind::Note, Some(note)),
            (EntryKind::Step, None)
        ]
    );
    assert_eq!(
        entries[1].note, "Spoke to Jo.",
        "the corrected note is kept as written"
    );

    // The database refuses to change or remove an entry, whoever asks.
    for sql in [
        format!("UPDATE incident_entries SET note = 'rewritten' WHERE id = {note}"),
        format!("DELETE FROM incident_entries WHERE id = {note}"),
    ] {
        let outcome = support::try_behind_the_stores_back(&fixture.url, &sql).await;
        let error = outcome.expect_err("append-only");
        assert!(error.contains("append-only"), "{error}");
    }

    // Visibility: a child-protection incident is hidden from the teacher who recorded it;
    // a teacher sees their own pupil incidents only, never staff ones.
    let by_teacher = store
        .open_incident(school, "t.jones", &pupil_incident(None, vec![]))
        .await
        .expect("teacher's");
    let mut staff = pupil_incident(None, vec![]);
    staff.audience = "staff".into();
    staff.kind = "personal-use".into();
    let staff_id = store
        .open_incident(school, "t.jones", &staff)
        .await
        .expect("staff");
    let teacher = IncidentScope::RecordedBy("t.jones");
    let seen: Vec<IncidentId> = store
        .incidents(
            school,
            teacher,
            &IncidentFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("teacher's list")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(seen, [by_teacher]);
    for hidden in [staff_id, id] {
        let outcome = store.incident(school, teacher, hidden).await;
        assert!(
            matches!(outcome, Err(StoreError::NotFound(_))),
            "{outcome:?}"
        );
        assert!(
            store
                .incident_entries(school, teacher, hidden)
                .await
                .expect("entries")
                .is_empty()
        );
        assert!(
            store
                .incident_events(school, teacher, hidden)
                .await
                .expect("events")
                .is_empty()
        );
        let note = store
            .add_incident_entry(
                school,
                teacher,
                hidden,
                "t.jones",
                &NewEntry::note("peek", None),
            )
            .await;
        assert!(matches!(note, Err(StoreError::NotFound(_))), "{note:?}");
    }
    assert!(
        store
            .incident(
                school,
                IncidentScope::RecordedBy("someone.else"),
                by_teacher
            )
            .await
            .is_err()
    );

    // Earlier incidents of the same person (continued infringement), by person or username.
    let earlier = store
        .incidents(
            school,
            IncidentScope::All,
            &IncidentFilter {
                username: Some("J.SMITH".into()),
                before: Some(Timestamp::now() + SignedDuration::from_secs(60)),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("by username");
    assert_eq!(earlier.len(), 3);
    let by_person = store
        .incidents(
            school,
            IncidentScope::All,
            &IncidentFilter {
                person: Some(jo.id),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("by person");
    assert_eq!(by_person.iter().map(|i| i.id).collect::<Vec<_>>(), [id]);

    // Sign-off closes the incident and its escalated alert; afterwards only notes go in.
    store
        .sign_off_incident(school, id, "dsl", "Dealt with.")
        .await
        .expect("sign off");
    let closed = store
        .incident(school, IncidentScope::All, id)
        .await
        .expect("incident");
    assert_eq!(closed.status, IncidentStatus::Closed);
    assert_eq!(closed.closed_by.as_deref(), Some("dsl"));
    assert_eq!(
        store.alert(school, alert.id).await.expect("alert").status,
        AlertStatus::Closed
    );
    let twice = store.sign_off_incident(school, id, "dsl", "again").await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    let late_step = store
        .add_incident_entry(school, IncidentScope::All, id, "dsl", &step)
        .await;
    assert!(
        matches!(late_step, Err(StoreError::Conflict(_))),
        "{late_step:?}"
    );
    store
        .add_incident_entry(
            school,
            IncidentScope::All,
            id,
            "dsl",
            &NewEntry::note("Parents called back.", None),
        )
        .await
        .expect("a note after sign-off");

    // Another school sees none of it.
    let other = school_of_its_own(store).await;
    assert!(store.incident(other, IncidentScope::All, id).await.is_err());
    assert!(
        store
            .incident_events(other, IncidentScope::All, id)
            .await
            .expect("events")
            .is_empty()
    );
    let cross = store
        .link_alert_to_incident(other, id, alert.id, "dsl")
        .await;
    assert!(matches!(cross, Err(StoreError::NotFound(_))), "{cross:?}");
}
