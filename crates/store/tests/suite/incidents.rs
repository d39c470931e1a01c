//! Incidents: the append-only record.

use super::*;

on_both_backends!(
    incidents_keep_an_append_only_record,
    a_welfare_concern_about_several_pupils_is_in_each_chronology,
    files_are_kept_as_attached_with_their_hash,
);

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
        ..NewIncident::default()
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

async fn a_welfare_concern_about_several_pupils_is_in_each_chronology(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "welfare").await;
    let csv = "UPN,Surname,Forename,Year,Reg Group,Username\n\
               A1,Smith,Jo,Year 4,4W,j.smith\n\
               A2,Wright,Liam,Year 5,5K,lwright10\n\
               A3,Wright,Liam,Year 6,6B,lwright12\n\
               A4,Ahmed,Sam,Year 5,5K,s.ahmed\n";
    store
        .import_people(school, csv.as_bytes(), PersonKind::Pupil)
        .await
        .expect("import");
    let find = |text: &'static str| async move {
        store
            .people_matching(school, text, 10)
            .await
            .expect("query")
            .into_iter()
            .map(|person| person.username)
            .collect::<Vec<_>>()
    };
    // A username, the MIS id or a unique name finds one person; a shared name finds both, for
    // the person typing to choose; nothing known finds nobody.
    assert_eq!(find("LWRIGHT10").await, ["lwright10"]);
    assert_eq!(find("a4").await, ["s.ahmed"]);
    assert_eq!(find("jo smith").await, ["j.smith"]);
    assert_eq!(find("Liam Wright").await, ["lwright10", "lwright12"]);
    assert_eq!(find("Wright").await, ["lwright10", "lwright12"]);
    assert!(find("nobody").await.is_empty());
    assert!(find("%").await.is_empty(), "no pattern matching");

    let person = |username: &'static str| async move {
        store
            .person_by_username(school, username)
            .await
            .expect("query")
            .expect("imported")
            .id
    };
    let (liam, sam, jo) = (
        person("lwright10").await,
        person("s.ahmed").await,
        person("j.smith").await,
    );
    let concern = NewIncident {
        audience: "pupil".into(),
        kind: "bullying-victim".into(),
        welfare: true,
        person: Some(liam),
        others: vec![sam, liam],
        username: "lwright10".into(),
        evidence: "Messages in the class chat calling Liam names".into(),
        reported_by: "Mr Green".into(),
        ..NewIncident::default()
    };
    let staff = NewIncident {
        audience: "staff".into(),
        ..concern.clone()
    };
    let refused = store.open_incident(school, "dsl", &staff).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "a welfare concern is about a pupil: {refused:?}"
    );
    let id = store
        .open_incident(school, "dsl", &concern)
        .await
        .expect("recorded");
    let incident = store
        .incident(school, IncidentScope::All, id)
        .await
        .expect("read");
    assert!(incident.welfare);
    let on = |incidents: Vec<ward_store::Incident>| -> Vec<IncidentId> {
        incidents.into_iter().map(|incident| incident.id).collect()
    };
    for (who, expected) in [(liam, vec![id]), (sam, vec![id]), (jo, vec![])] {
        let found = store
            .incidents(
                school,
                IncidentScope::All,
                &IncidentFilter {
                    person: Some(who),
                    limit: 10,
                    ..IncidentFilter::default()
                },
            )
            .await
            .expect("list");
        assert_eq!(on(found), expected, "{who:?}");
    }
    let people = store
        .incident_people(school, IncidentScope::All, id)
        .await
        .expect("people");
    assert_eq!(people.len(), 2, "Liam once, and Sam: {people:?}");

    // Adding Jo later puts it in Jo's chronology too, once, with an entry saying so.
    assert!(
        store
            .add_person_to_incident(school, IncidentScope::All, id, jo, "dsl")
            .await
            .expect("added")
    );
    assert!(
        !store
            .add_person_to_incident(school, IncidentScope::All, id, jo, "dsl")
            .await
            .expect("already on it")
    );
    let entries = store
        .incident_entries(school, IncidentScope::All, id)
        .await
        .expect("entries");
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0].note.contains("Jo Smith (j.smith)"),
        "{entries:?}"
    );
    // Someone who may see only their own records cannot add anyone to this one.
    let hidden = store
        .add_person_to_incident(
            school,
            IncidentScope::RecordedBy("teacher"),
            id,
            jo,
            "teacher",
        )
        .await;
    assert!(matches!(hidden, Err(StoreError::NotFound(_))), "{hidden:?}");
    // Another school's pupil cannot be put on it.
    let elsewhere = super::school(store, "welfare-elsewhere").await;
    let stranger = jo_in(store, elsewhere).await;
    let refused = store
        .add_person_to_incident(school, IncidentScope::All, id, stranger, "dsl")
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
}

async fn jo_in(store: &Store, school: SchoolId) -> PersonId {
    jo(store, school).await.id
}

async fn files_are_kept_as_attached_with_their_hash(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "files").await;
    let id = store
        .open_incident(school, "teacher", &pupil_incident(None, vec![]))
        .await
        .expect("recorded");
    let data = b"%PDF-1.4 a letter".as_slice();
    let attached = store
        .attach_incident_file(
            school,
            IncidentScope::RecordedBy("teacher"),
            id,
            "teacher",
            &ward_store::NewIncidentFile {
                name: "../../etc/Letter \u{7}home.pdf",
                content_type: "application/pdf",
                data,
            },
        )
        .await
        .expect("attached");
    let file = attached.id;
    let (kept, bytes) = store
        .incident_file(school, IncidentScope::All, id, file)
        .await
        .expect("file");
    assert_eq!(bytes, data);
    assert_eq!(kept, attached, "what attaching said is what was kept");
    assert_eq!(
        kept.name, "Letter home.pdf",
        "no path, no control characters"
    );
    let expected: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(data)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    };
    assert_eq!(kept.sha256, expected);
    assert_eq!(kept.size, data.len() as i64);
    // Someone who may not see the incident cannot read its files either.
    let hidden = store
        .incident_file(school, IncidentScope::RecordedBy("someone.else"), id, file)
        .await;
    assert!(matches!(hidden, Err(StoreError::NotFound(_))), "{hidden:?}");
    let other = super::school(store, "files-elsewhere").await;
    assert!(
        store
            .incident_file(other, IncidentScope::All, id, file)
            .await
            .is_err()
    );
    // Kept as attached: the database refuses changes and removals.
    for sql in [
        "UPDATE incident_files SET name = 'x'",
        "DELETE FROM incident_files",
    ] {
        let outcome = support::try_behind_the_stores_back(&fixture.url, sql).await;
        let error = outcome.expect_err("kept as attached");
        assert!(error.contains("kept as uploaded"), "{error}");
    }
    let entries = store
        .incident_entries(school, IncidentScope::All, id)
        .await
        .expect("entries");
    assert!(entries[0].note.contains(&kept.sha256), "{entries:?}");
}
