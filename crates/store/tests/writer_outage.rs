//! The event writer against a PostgreSQL server that dies: the test stops its own throwaway
//! cluster while events flow, starts it again, and finds every event written, once, in order.
//! Then the same with a gateway restart while the database is still down.

mod support;

use std::time::Duration;

use support::PgCluster;
use ward_store::{
    ActivityQuery, Disposition, Event, EventWriter, OpenOptions, SchoolId, Source, Store,
    WriterConfig,
};

fn event(school: SchoolId, number: usize) -> Event {
    Event {
        school,
        at: jiff::Timestamp::from_second(1_795_000_000 + number as i64).expect("valid time"),
        source: Source::Dns,
        client_ip: "10.0.3.17".parse().expect("ip"),
        device: None,
        person: None,
        username: None,
        identified_by: None,
        host: format!("n{number:06}.example"),
        url: None,
        action: Disposition::Block,
        categories: "adult".into(),
        reason: "outage test".into(),
        search_term: None,
        count: 1,
        alert: None,
    }
}

async fn open(cluster: &PgCluster) -> (Store, SchoolId) {
    let url = support::create_database(&cluster.url()).await;
    let options = OpenOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(1),
    };
    let store = Store::open_and_migrate(&url, &options).await.expect("open");
    let school = store
        .create_school("Outage", "outage")
        .await
        .expect("school");
    (store, school)
}

fn config(journal: std::path::PathBuf) -> WriterConfig {
    let mut config = WriterConfig::new("gateway-outage", journal);
    config.batch_size = 200;
    config.database_timeout = Duration::from_secs(2);
    config.max_retry_pause = Duration::from_millis(500);
    config
}

/// Every event's number, in the order the database stored them.
async fn stored_numbers(store: &Store, school: SchoolId) -> Vec<usize> {
    let everything = ActivityQuery {
        limit: 1_000_000,
        ..ActivityQuery::default()
    };
    let mut rows = store
        .search_events(school, &everything)
        .await
        .expect("search");
    rows.sort_by_key(|row| row.id);
    rows.iter()
        .map(|row| row.host[1..7].parse().expect("numbered host"))
        .collect()
}

async fn wait_until_caught_up(sink: &ward_store::EventSink, expected: u64) {
    let health = sink.health().clone();
    for _ in 0..600 {
        if health.written() == expected && health.backlog_bytes() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "writer did not catch up: {} of {expected} written, {} bytes in the journal, last error {:?}",
        health.written(),
        health.backlog_bytes(),
        health.last_error()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_killed_mid_stream_loses_nothing() {
    let cluster = PgCluster::start();
    let (store, school) = open(&cluster).await;
    let journal = support::temp_folder("outage-journal");
    let (sink, writer) = EventWriter::start(store.clone(), config(journal)).expect("start");

    let total = 12_000;
    let mut produced = 0;
    let mut killed_at = None;
    let mut resumed = false;
    // A steady stream: 100 events every 10 ms. The database dies a third of the way in; it comes
    // back once the writer has noticed (which takes up to the pool's connect timeout) and at
    // least two thirds of the events have been handed over.
    while produced < total {
        for _ in 0..100 {
            sink.record(event(school, produced));
            produced += 1;
        }
        if produced == total / 3 {
            cluster.kill();
            killed_at = Some(std::time::Instant::now());
        }
        if let Some(killed) = killed_at
            && !resumed
            && produced >= 2 * total / 3
            && !sink.health().database_up()
        {
            assert!(
                sink.health().backlog_bytes() > 0,
                "events went to the journal meanwhile"
            );
            assert!(killed.elapsed() < Duration::from_secs(20));
            cluster.resume();
            resumed = true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !resumed {
        // The stream ended before the writer noticed; wait for it, then bring the database back.
        for _ in 0..200 {
            if !sink.health().database_up() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            !sink.health().database_up(),
            "the writer noticed the database was gone"
        );
        cluster.resume();
    }
    wait_until_caught_up(&sink, total as u64).await;
    assert_eq!(sink.health().dropped(), 0);
    drop(sink);
    writer.shutdown().await;
    let numbers = stored_numbers(&store, school).await;
    assert_eq!(numbers.len(), total, "every event written exactly once");
    assert!(
        numbers
            .iter()
            .enumerate()
            .all(|(index, number)| index == *number),
        "in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_survives_a_gateway_restart_while_the_database_is_down() {
    let cluster = PgCluster::start();
    let (store, school) = open(&cluster).await;
    let journal = support::temp_folder("restart-journal");

    let (sink, writer) = EventWriter::start(store.clone(), config(journal.clone())).expect("start");
    for number in 0..1_000 {
        sink.record(event(school, number));
    }
    wait_until_caught_up(&sink, 1_000).await;
    cluster.kill();
    for number in 1_000..3_000 {
        sink.record(event(school, number));
    }
    drop(sink);
    // The gateway stops (SIGTERM) with the database still down: the journal keeps the events.
    writer.shutdown().await;

    cluster.resume();
    let (sink, writer) = EventWriter::start(store.clone(), config(journal)).expect("restart");
    for number in 3_000..3_500 {
        sink.record(event(school, number));
    }
    // This writer's own count covers what it replayed from the journal plus its own 500.
    wait_until_caught_up(&sink, 2_500).await;
    drop(sink);
    writer.shutdown().await;
    let numbers = stored_numbers(&store, school).await;
    assert_eq!(numbers.len(), 3_500);
    assert!(
        numbers
            .iter()
            .enumerate()
            .all(|(index, number)| index == *number),
        "in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_limit_holds_when_the_database_never_answered() {
    // Nothing listens on port 1: the writer never learns where the database is.
    let options = OpenOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_millis(300),
    };
    let store = Store::open("postgres://postgres@127.0.0.1:1/none", &options)
        .await
        .expect("a lazy pool opens without connecting");
    let journal = support::temp_folder("limit-journal");
    let mut config = config(journal.clone());
    config.journal_limit = 20_000;
    let (sink, writer) = EventWriter::start(store, config).expect("start");
    for batch in 0..20 {
        for number in 0..100 {
            sink.record(event(SchoolId(1), batch * 100 + number));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health = sink.health().clone();
    drop(sink);
    writer.shutdown().await;
    assert!(!health.database_up());
    assert!(
        health.dropped() > 0,
        "beyond the limit new events are dropped, and counted"
    );
    let on_disk: u64 = std::fs::read_dir(&journal)
        .expect("journal folder")
        .map(|entry| entry.expect("entry").metadata().expect("metadata").len())
        .sum();
    // One batch may cross the limit (it is checked before each append), never more.
    assert!(
        on_disk < 20_000 + 200 * 1_000,
        "journal grew to {on_disk} bytes"
    );
    assert_eq!(health.accepted(), 2_000);
    assert!(on_disk > 0 && health.dropped() < 2_000);
}

/// Issue 20, item 16: a writer stopped as `kill -9` would stop it loses what was still queued,
/// but the next start counts it: every event handed over is afterwards either in the database
/// or counted as dropped, never silently gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_stop_is_counted_on_the_next_start() {
    let journal = support::temp_folder("crash-journal");
    let folder = support::temp_folder("crash-db");
    let url = format!("sqlite://{}", folder.join("ward.db").display());
    let store = Store::open_and_migrate(&url, &OpenOptions::default())
        .await
        .expect("store");
    let school = store.create_school("Crash", "crash").await.expect("school");
    let mut first = config(journal.clone());
    first.batch_size = 50;
    let (sink, writer) = EventWriter::start(store.clone(), first).expect("start");
    let handed_over = 20_000;
    for number in 0..handed_over {
        sink.record(event(school, number));
        if number % 1_000 == 999 {
            tokio::task::yield_now().await;
        }
    }
    // Nothing more is handed over; a moment later (past the ledger's next note) the writer is
    // stopped while its queue still holds events.
    tokio::time::sleep(Duration::from_millis(120)).await;
    let accepted = sink.health().accepted();
    writer.abandon();
    drop(sink);
    assert_eq!(accepted, handed_over as u64);
    // The abandoned task's last journal write may still be finishing on its own thread.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before_restart = stored_numbers(&store, school).await.len();

    let (sink, writer) =
        EventWriter::start(store.clone(), config(journal.clone())).expect("restart");
    let mut written = 0;
    let mut dropped = 0;
    for _ in 0..300 {
        written = stored_numbers(&store, school).await.len() as i64;
        dropped = store.dropped_events().await.expect("drops");
        if written + dropped == handed_over as i64 && sink.health().backlog_bytes() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(sink);
    writer.shutdown().await;
    assert_eq!(
        written + dropped,
        handed_over as i64,
        "{written} written and {dropped} counted as dropped"
    );
    assert!(
        dropped > 0,
        "the queue still held events when the writer stopped ({before_restart} were in the database)"
    );
    println!("{written} written, {dropped} lost in the hard stop and counted");
}
