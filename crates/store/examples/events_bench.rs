//! Event ingestion benchmark (bench/events.sh runs it): how fast the event writer takes events
//! into SQLite end to end (queue → journal with fsync → batched transactions), and what a
//! front end pays per event handed over.
//!
//!     events_bench FOLDER EVENTS BLOCKED_PERCENT     # prints the figures
//!     events_bench --csv FILE EVENTS                 # writes the same blocked events as CSV,
//!                                                    # for sqlite3's .import (the peer)

use std::io::Write;
use std::time::{Duration, Instant};

use ward_store::{
    Disposition, Event, EventWriter, OpenOptions, SchoolId, Source, Store, WriterConfig,
};

/// A realistic event: a few hundred sites, a thousand pupils, forty stations.
fn event(number: usize, blocked_percent: usize, start: jiff::Timestamp) -> Event {
    let blocked = number % 100 < blocked_percent;
    let site = number.wrapping_mul(2_654_435_761) % 500;
    let person = number.wrapping_mul(40_503) % 1_000 + 1;
    Event {
        school: SchoolId(1),
        at: start + jiff::SignedDuration::from_millis(number as i64),
        source: if number.is_multiple_of(3) {
            Source::Dns
        } else {
            Source::Proxy
        },
        client_ip: format!("10.0.{}.{}", number % 4, number % 40 + 10)
            .parse()
            .unwrap_or(std::net::IpAddr::from([10, 0, 0, 1])),
        device: Some(ward_store::DeviceId((number % 40 + 1) as i64)),
        person: Some(ward_store::PersonId(person as i64)),
        username: Some(format!("pupil{person}")),
        identified_by: None,
        host: format!("www.site{site}.example"),
        url: Some(format!(
            "http://www.site{site}.example/page/{}",
            number % 97
        )),
        action: if blocked {
            Disposition::Block
        } else {
            Disposition::Allow
        },
        categories: if blocked {
            "gambling,games".into()
        } else {
            "news".into()
        },
        reason: if blocked {
            "rule gambling: unacceptable for ks2".into()
        } else {
            String::new()
        },
        search_term: number
            .is_multiple_of(10)
            .then(|| format!("search words {}", number % 13)),
        count: 1,
        // As the default policy's gambling row does: blocked attempts raise (folded) alerts.
        alert: blocked.then(|| ward_store::EventAlert {
            severity: 2,
            category: "gambling".into(),
            detection: None,
        }),
    }
}

fn write_csv(path: &str, events: usize) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let start = jiff::Timestamp::now();
    for number in 0..events {
        let event = event(number, 100, start);
        writeln!(
            out,
            "1,{},gateway,{},{},{},{},{},{},{},block,\"{}\",{},{}",
            event.at.as_microsecond(),
            event.source.as_str(),
            event.client_ip,
            event.device.map_or(0, |d| d.0),
            event.person.map_or(0, |p| p.0),
            event.username.unwrap_or_default(),
            event.host,
            event.url.unwrap_or_default(),
            event.categories,
            event.reason,
            event.search_term.unwrap_or_default(),
        )?;
    }
    out.flush()
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().collect();
    if arguments.get(1).map(String::as_str) == Some("--csv") {
        let path = arguments.get(2).ok_or("--csv FILE EVENTS")?;
        let events = arguments.get(3).ok_or("--csv FILE EVENTS")?.parse()?;
        write_csv(path, events)?;
        return Ok(());
    }
    let [_, folder, events, blocked_percent] = arguments.as_slice() else {
        return Err("usage: events_bench FOLDER EVENTS BLOCKED_PERCENT".into());
    };
    let events: usize = events.parse()?;
    let blocked_percent: usize = blocked_percent.parse()?;
    let folder = std::path::PathBuf::from(folder);
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder)?;
    let url = format!("sqlite://{}", folder.join("ward.db").display());
    let store = Store::open_and_migrate(&url, &OpenOptions::default()).await?;
    store.create_school("Bench", "bench").await?;

    let config = WriterConfig::new("bench", folder.join("journal"));
    let capacity = config.queue_capacity;
    let (sink, writer) = EventWriter::start(store.clone(), config)?;
    let start = jiff::Timestamp::now();
    let prepared: Vec<Event> = (0..events)
        .map(|n| event(n, blocked_percent, start))
        .collect();

    // The front end: hand events over as fast as the queue takes them, timing each call. When
    // the queue is nearly full it pauses (a real gateway's traffic would not all arrive at
    // once), so that the figure is the writer's sustained rate, with nothing dropped.
    let mut handover = Vec::with_capacity(events);
    let began = Instant::now();
    for event in prepared {
        while sink.queued() > capacity * 9 / 10 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let call = Instant::now();
        sink.record(event);
        handover.push(call.elapsed());
    }
    let health = sink.health().clone();
    while health.written() < events as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = began.elapsed();
    drop(sink);
    writer.shutdown().await;
    let rows = store.count_events(SchoolId(1)).await?;
    handover.sort_unstable();
    println!(
        "events {events}, blocked {blocked_percent}%: {:.2} s, {:.0} events/s into SQLite (journal fsync per batch), {rows} event rows, {} dropped",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        health.dropped()
    );
    println!(
        "hand-over per event (EventSink::record): p50 {:?}, p99 {:?}, max {:?}",
        percentile(&handover, 0.5),
        percentile(&handover, 0.99),
        percentile(&handover, 1.0)
    );

    // A simple logger for comparison: one INSERT and one commit per event.
    let naive = 5_000.min(events);
    let naive_store = Store::open_and_migrate(
        &format!("sqlite://{}", folder.join("naive.db").display()),
        &OpenOptions::default(),
    )
    .await?;
    naive_store.create_school("Bench", "bench").await?;
    let began = Instant::now();
    for number in 0..naive {
        naive_store
            .insert_events(&[event(number, 100, start)])
            .await?;
    }
    let naive_elapsed = began.elapsed();
    println!(
        "one transaction per event (naive logger): {:.0} events/s over {naive}",
        naive as f64 / naive_elapsed.as_secs_f64()
    );
    Ok(())
}
