//! Events, browsing counts and the event writer.

use super::*;

on_both_backends!(
    blocked_events_and_browsing_counts,
    event_writer_writes_every_event_once,
    drops_are_counted_once_however_often_they_are_recorded,
    an_event_standing_for_repeats_counts_them_all,
    the_activity_search_reads_sites_one_by_one_or_in_time_order_and_pages_by_key,
);

async fn blocked_events_and_browsing_counts(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "events").await;
    store
        .import_people(
            school,
            b"username,forename,surname,year\nj.smith,Jo,Smith,4\n",
            PersonKind::Pupil,
        )
        .await
        .expect("import");
    let jo = store
        .person_by_username(school, "j.smith")
        .await
        .expect("query")
        .expect("Jo");
    let mut events = vec![
        blocked(school, "casino.example", "gambling", "2026-11-23T10:00:00Z"),
        blocked(school, "casino.example", "gambling", "2026-11-23T10:05:00Z"),
        blocked(
            school,
            "adult.example",
            "adult,porn",
            "2026-11-23T11:00:00Z",
        ),
        blocked(school, "yesterday.example", "adult", "2026-11-22T11:00:00Z"),
    ];
    events[2].person = Some(jo.id);
    events[2].identified_by = Some(ward_store::IdentifiedBy::Network);
    events[2].search_term = Some("how to get past the filter".into());
    let mut allowed = blocked(school, "bbc.co.uk", "news", "2026-11-23T10:10:00Z");
    allowed.action = Disposition::Allow;
    allowed.person = Some(jo.id);
    events.push(allowed.clone());
    events.push(allowed.clone());
    store.insert_events(&events).await.expect("insert");
    // A second batch in the same hour adds to the same count.
    store.insert_events(&[allowed]).await.expect("insert");

    let day = (at("2026-11-23T00:00:00Z"), at("2026-11-24T00:00:00Z"));
    let counts = store
        .blocked_by_category(school, day.0, day.1)
        .await
        .expect("counts");
    let counts: Vec<(&str, i64)> = counts
        .iter()
        .map(|c| (c.category.as_str(), c.count))
        .collect();
    assert_eq!(counts, [("gambling", 2), ("adult", 1), ("porn", 1)]);
    assert_eq!(
        store.count_events(school).await.expect("count"),
        4,
        "allowed requests are counts, not rows"
    );
    // The hourly totals the dashboard's trends read: per hour, allowed and blocked, both
    // batches added up.
    let hours = store
        .traffic_by_hour(school, day.0, day.1)
        .await
        .expect("hours");
    assert_eq!(
        hours,
        [
            (at("2026-11-23T10:00:00Z"), 3, 2),
            (at("2026-11-23T11:00:00Z"), 0, 1)
        ]
    );

    let by_person = ActivityQuery {
        person: Some(jo.id),
        limit: 100,
        ..ActivityQuery::default()
    };
    let rows = store
        .search_events(school, &by_person)
        .await
        .expect("search");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].person_name.as_deref(), Some("Jo Smith"));
    assert_eq!(
        rows[0].identified_by,
        Some(ward_store::IdentifiedBy::Network),
        "how Ward knew it was Jo is kept"
    );
    assert_eq!(
        rows[0].search_term.as_deref(),
        Some("how to get past the filter")
    );
    let by_category = ActivityQuery {
        category: "PORN".into(),
        from: Some(day.0),
        to: Some(day.1),
        limit: 100,
        ..ActivityQuery::default()
    };
    assert_eq!(
        store
            .search_events(school, &by_category)
            .await
            .expect("search")
            .len(),
        1
    );
    // "adult" must not match inside another category's name.
    let partial = ActivityQuery {
        category: "dul".into(),
        limit: 100,
        ..ActivityQuery::default()
    };
    assert!(
        store
            .search_events(school, &partial)
            .await
            .expect("search")
            .is_empty()
    );
    let by_site = ActivityQuery {
        site: "CASINO".into(),
        limit: 100,
        ..ActivityQuery::default()
    };
    let rows = store.search_events(school, &by_site).await.expect("search");
    assert_eq!(rows.len(), 2);
    assert!(rows[0].at > rows[1].at, "newest first");
    let browsing = store
        .browsing(school, &format!("person:{}", jo.id), day.0, day.1, 100)
        .await
        .expect("browsing");
    assert_eq!(browsing.len(), 1);
    assert_eq!(
        (browsing[0].site.as_str(), browsing[0].requests),
        ("bbc.co.uk", 3)
    );
    assert_eq!(browsing[0].hour, at("2026-11-23T10:00:00Z"));
}

async fn event_writer_writes_every_event_once(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "writer").await;
    let journal = support::temp_folder("journal");
    let mut config = ward_store::WriterConfig::new("gateway-1", journal.clone());
    config.batch_size = 500;
    config.segment_size = 16 << 10; // small segments, so rotation and deletion happen
    let (sink, writer) =
        ward_store::EventWriter::start(store.clone(), config.clone()).expect("start");
    for number in 0..5_000 {
        sink.record(blocked(
            school,
            &format!("site{number}.example"),
            "adult",
            "2026-11-23T10:00:00Z",
        ));
    }
    let health = sink.health().clone();
    drop(sink);
    writer.shutdown().await;
    assert_eq!(
        (health.accepted(), health.written(), health.dropped()),
        (5_000, 5_000, 0)
    );
    assert_eq!(store.count_events(school).await.expect("count"), 5_000);
    // A restart finds nothing left to replay and writes nothing twice.
    let (sink, writer) = ward_store::EventWriter::start(store.clone(), config).expect("restart");
    sink.record(blocked(
        school,
        "after-restart.example",
        "adult",
        "2026-11-23T10:00:00Z",
    ));
    drop(sink);
    writer.shutdown().await;
    assert_eq!(store.count_events(school).await.expect("count"), 5_001);
    let segments = std::fs::read_dir(&journal).expect("journal folder").count();
    assert!(
        segments <= 2,
        "old journal segments are deleted once written ({segments} left)"
    );
}

/// Issue 20, item 17: a writer records its run's running total of drops, so a record sent
/// again (after a time-out whose write committed anyway) or arriving late counts nothing twice.
async fn drops_are_counted_once_however_often_they_are_recorded(fixture: Fixture) {
    let store = &fixture.store;
    assert_eq!(store.dropped_events().await.expect("drops"), 0);
    store
        .record_drops("gw-1", "run-a", 3_894)
        .await
        .expect("record");
    store
        .record_drops("gw-1", "run-a", 3_894)
        .await
        .expect("again");
    assert_eq!(store.dropped_events().await.expect("drops"), 3_894);
    // An older, smaller total arriving late changes nothing; a larger one replaces it.
    store
        .record_drops("gw-1", "run-a", 1_000)
        .await
        .expect("late");
    assert_eq!(store.dropped_events().await.expect("drops"), 3_894);
    store
        .record_drops("gw-1", "run-a", 4_000)
        .await
        .expect("more");
    assert_eq!(store.dropped_events().await.expect("drops"), 4_000);
    // Another run of the same gateway, and another gateway, add theirs.
    store
        .record_drops("gw-1", "run-b", 7)
        .await
        .expect("next run");
    store
        .record_drops("gw-2", "run-a", 3)
        .await
        .expect("other gateway");
    assert_eq!(store.dropped_events().await.expect("drops"), 4_010);
}

/// Issue 21: an event that stands for several requests (repeats folded at the gate) adds all
/// of them to its alert's repeats and to the blocked-attempt counts.
async fn an_event_standing_for_repeats_counts_them_all(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "repeats").await;
    let first = alerting(school, "a.test", "pornography", 3, "2026-11-23T10:00:00Z");
    let mut repeats = alerting(school, "a.test", "pornography", 3, "2026-11-23T10:00:01Z");
    repeats.count = 41;
    store.insert_events(&[first]).await.expect("first");
    store.insert_events(&[repeats]).await.expect("repeats");
    let alerts = store
        .alerts(school, &AlertFilter::status(AlertStatus::New, 10))
        .await
        .expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].repeats, 42);
    assert_eq!(store.count_events(school).await.expect("rows"), 2);
    let by_category = store
        .blocked_by_category(
            school,
            at("2026-11-23T00:00:00Z"),
            at("2026-11-24T00:00:00Z"),
        )
        .await
        .expect("counts");
    assert_eq!(by_category.iter().map(|row| row.count).sum::<i64>(), 42);
    let rows = store
        .search_events(
            school,
            &ActivityQuery {
                limit: 10,
                ..ActivityQuery::default()
            },
        )
        .await
        .expect("rows");
    let mut requests: Vec<i64> = rows.iter().map(|row| row.requests).collect();
    requests.sort_unstable();
    assert_eq!(requests, [1, 41]);
}

async fn the_activity_search_reads_sites_one_by_one_or_in_time_order_and_pages_by_key(
    fixture: Fixture,
) {
    let store = &fixture.store;
    let school = school(store, "search-paths").await;
    // 50 sites, three blocked requests each, a minute apart, alternating two category sets.
    let mut events = Vec::new();
    for site in 0..50 {
        for repeat in 0..3 {
            let minute = site * 3 + repeat;
            let when = format!("2026-11-23T{:02}:{:02}:00Z", 8 + minute / 60, minute % 60);
            let categories = if repeat == 1 { "games,chat" } else { "games" };
            events.push(blocked(
                school,
                &format!("s{site}.example"),
                categories,
                &when,
            ));
        }
    }
    store.insert_events(&events).await.expect("insert");
    let search = |site: &'static str, category: &'static str, before, limit| async move {
        store
            .search_events(
                school,
                &ActivityQuery {
                    site: site.into(),
                    category: category.into(),
                    limit,
                    before,
                    ..ActivityQuery::default()
                },
            )
            .await
            .expect("search")
    };
    let newest_first = |rows: &[ward_store::EventRow]| {
        rows.windows(2)
            .all(|pair| (pair[0].at, pair[0].id) > (pair[1].at, pair[1].id))
    };
    // 50 sites match "example": read in time order.
    let all = search("example", "", None, 1000).await;
    assert_eq!(all.len(), 150);
    assert!(newest_first(&all));
    // 11 sites match "s1" (s1, s10…s19): each site's own events, merged newest first.
    let some = search("s1", "", None, 1000).await;
    assert_eq!(some.len(), 33);
    assert!(newest_first(&some));
    assert!(some.iter().all(|row| row.host.starts_with("s1")));
    // A category narrows to the sites' events in it, whichever path.
    assert_eq!(search("s1", "chat", None, 1000).await.len(), 11);
    assert_eq!(search("example", "chat", None, 1000).await.len(), 50);
    assert_eq!(search("", "chat", None, 1000).await.len(), 50);
    assert!(search("", "nothing-like-it", None, 1000).await.is_empty());
    // A rare category on many sites (45 sites, one request each, among 3,000 others) is read
    // site by site; the result is the same either way.
    let mut more = Vec::new();
    for site in 0..45 {
        more.push(blocked(
            school,
            &format!("r{site}.test"),
            "hacking",
            &format!("2026-11-24T09:{:02}:00Z", site),
        ));
    }
    for minute in 0..3000 {
        more.push(blocked(
            school,
            "busy.test",
            "games",
            &format!(
                "2026-11-24T{:02}:{:02}:30Z",
                10 + minute / 60 % 12,
                minute % 60
            ),
        ));
    }
    store.insert_events(&more).await.expect("insert");
    let rare = search("", "hacking", None, 1000).await;
    assert_eq!(rare.len(), 45);
    assert!(newest_first(&rare));
    assert_eq!(search("", "hacking", None, 10).await.len(), 10);
    // Pages by key: each page follows on from the last row of the one before, none repeated.
    for site in ["example", "s1"] {
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = search(site, "", before, 7).await;
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 7);
            before = page.last().map(|row| (row.at, row.id));
            seen.extend(page.into_iter().map(|row| row.id));
        }
        let whole: Vec<i64> = search(site, "", None, 1000)
            .await
            .into_iter()
            .map(|row| row.id)
            .collect();
        assert_eq!(seen, whole, "{site}");
    }
}
