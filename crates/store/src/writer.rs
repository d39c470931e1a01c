//! The event writer: front ends hand events to a bounded queue and never wait on the database;
//! one task takes them off in batches, appends each batch to the on-disk journal, and writes it
//! to the database in one transaction together with how far into the journal it has got.
//!
//! - Database healthy and nothing waiting: each batch goes to the journal, then straight to the
//!   database.
//! - Database slow or down: batches keep going to the journal (the front ends never notice); the
//!   writer retries with a growing pause and, once the database answers, replays the journal in
//!   order from where the database says it stopped. Because that place is committed with the
//!   events, a batch is never written twice nor skipped, even across a crash or restart.
//! - Events are dropped only when the queue is full (the writer cannot even keep the journal up)
//!   or the journal has reached its size limit; every drop is counted, shown on the dashboard and
//!   recorded in the database when it answers.
//! - A hard stop (`kill -9`, a power cut) loses what is still in the queue. After every journal
//!   write the writer notes in a ledger beside the journal how many events the front ends had
//!   handed over, dropped and journalled so far; a clean stop marks it clean. On the next start,
//!   an unclean ledger and the journal's records after it tell how many of the events handed
//!   over were never journalled, and they are recorded as dropped by that run. Only events
//!   handed over after the last ledger note (during the journal write in progress at the
//!   moment of the stop, and at most the last 50 ms, as the ledger is also noted that often)
//!   can be lost without being counted.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::events::Progress;
use crate::journal::{Journal, Position};

/// The ledger file in the journal folder (see the module's documentation).
const LEDGER: &str = "ledger.json";
/// How often the ledger is noted between journal writes.
const LEDGER_EVERY: Duration = Duration::from_millis(50);

/// Keeps the ledger: what this run has been handed, dropped and journalled.
struct LedgerKeeper {
    path: PathBuf,
    temporary: PathBuf,
    run: String,
    health: Arc<WriterHealth>,
    /// Events journalled and the journal's end after them, changed together.
    journalled: Mutex<(u64, Position)>,
    /// The accepted count at the last note (to skip notes that would say nothing new).
    noted_accepted: AtomicU64,
    /// One write of the file at a time.
    writing: Mutex<()>,
    /// Losses of earlier runs not yet recorded in the database, carried from ledger to ledger.
    unrecorded: Mutex<Vec<(String, u64)>>,
}

impl LedgerKeeper {
    fn journalled(&self, count: u64, end: Position) {
        if let Ok(mut journalled) = self.journalled.lock() {
            *journalled = (count, end);
        }
    }

    fn note_if_changed(&self) {
        if self.health.accepted() != self.noted_accepted.load(Ordering::Relaxed) {
            self.note(false);
        }
    }

    fn note(&self, clean: bool) {
        let Ok(_writing) = self.writing.lock() else {
            return;
        };
        // Read the counts after what was journalled: whatever they hold beyond it was handed
        // over before this note and is either journalled later or lost.
        let (journalled, end) = match self.journalled.lock() {
            Ok(journalled) => *journalled,
            Err(_) => return,
        };
        let accepted = self.health.accepted();
        let ledger = Ledger {
            run: self.run.clone(),
            accepted,
            dropped: self.health.dropped(),
            journalled,
            segment: end.0,
            position: end.1,
            clean,
            unrecorded: self
                .unrecorded
                .lock()
                .map(|unrecorded| unrecorded.clone())
                .unwrap_or_default(),
        };
        // Kept in the page cache across a killed process; a rename replaces it whole.
        let written = serde_json::to_vec(&ledger)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&self.temporary, bytes))
            .and_then(|()| std::fs::rename(&self.temporary, &self.path));
        match written {
            Ok(()) => self.noted_accepted.store(accepted, Ordering::Relaxed),
            Err(error) => tracing::warn!(%error, "cannot write the event writer's ledger"),
        }
    }
}

/// What a writer run had done by its last journal write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Ledger {
    run: String,
    accepted: u64,
    dropped: u64,
    journalled: u64,
    segment: i64,
    position: u64,
    clean: bool,
    /// Losses of earlier runs (run, events) not yet recorded in the database.
    #[serde(default)]
    unrecorded: Vec<(String, u64)>,
}
use crate::{Event, EventSink, Result, Store, StoreError, WriterHealth};

/// How the writer behaves.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// This gateway's name, unique in the deployment (its journal progress is kept under it).
    pub gateway: String,
    /// The folder for the journal.
    pub journal_folder: PathBuf,
    /// Events the queue holds before front ends' events are dropped (counted).
    pub queue_capacity: usize,
    /// Most events written in one transaction.
    pub batch_size: usize,
    /// Longest a database write may take before the database is treated as down.
    pub database_timeout: Duration,
    /// Longest pause between attempts to reach a database that is down.
    pub max_retry_pause: Duration,
    /// The journal may hold this many bytes not yet in the database; beyond it events are
    /// dropped (counted).
    pub journal_limit: u64,
    /// A segment this large is closed and a new one started once the database has it all.
    pub segment_size: u64,
    /// Blocked attempts of one person in one category within this long are one alert.
    pub alert_window: jiff::SignedDuration,
}

impl WriterConfig {
    /// Defaults for a gateway called `gateway` keeping its journal in `journal_folder`.
    pub fn new(gateway: &str, journal_folder: PathBuf) -> WriterConfig {
        WriterConfig {
            gateway: gateway.to_owned(),
            journal_folder,
            queue_capacity: 100_000,
            batch_size: 5_000,
            database_timeout: Duration::from_secs(5),
            max_retry_pause: Duration::from_secs(30),
            journal_limit: 2 << 30,
            segment_size: 64 << 20,
            alert_window: crate::DEFAULT_ALERT_WINDOW,
        }
    }
}

/// The running writer.
#[derive(Debug)]
pub struct EventWriter {
    task: JoinHandle<()>,
    stop: Arc<Notify>,
    notes: JoinHandle<()>,
}

impl EventWriter {
    /// Opens the journal and starts the writer. Returns the sink front ends use.
    pub fn start(store: Store, config: WriterConfig) -> Result<(EventSink, EventWriter)> {
        let journal = Journal::open(&config.journal_folder, 0)?;
        let crashed = crashed_run(&config, &journal);
        let (sink, receiver) = EventSink::channel(config.queue_capacity);
        let health = sink.health().clone();
        let run = format!(
            "{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_microsecond()
        );
        let ledger = Arc::new(LedgerKeeper {
            path: config.journal_folder.join(LEDGER),
            temporary: config.journal_folder.join("ledger.json.new"),
            run: run.clone(),
            health: health.clone(),
            journalled: Mutex::new((0, journal.end())),
            noted_accepted: AtomicU64::new(u64::MAX),
            writing: Mutex::new(()),
            unrecorded: Mutex::new(crashed.clone()),
        });
        ledger.note(false);
        let stop = Arc::new(Notify::new());
        let state = WriterTask {
            store,
            config,
            journal: Arc::new(Mutex::new(journal)),
            health: health.clone(),
            progress: None,
            run,
            dropped_recorded: 0,
            journalled: 0,
            ledger: ledger.clone(),
            crashed,
            removed_below: 0,
            pause: Duration::ZERO,
            next_attempt: tokio::time::Instant::now(),
        };
        let task = tokio::spawn(state.run(receiver, stop.clone()));
        // Between journal writes (the database may hold the writer up for seconds), the ledger
        // is noted every LEDGER_EVERY, so that a hard stop loses uncounted at most what was
        // handed over since.
        let notes = tokio::spawn(async move {
            let mut every = tokio::time::interval(LEDGER_EVERY);
            loop {
                every.tick().await;
                ledger.note_if_changed();
            }
        });
        Ok((sink, EventWriter { task, stop, notes }))
    }

    /// Stops taking events, writes what is queued to the journal, tries the database once more,
    /// and returns. Whatever the database has not got stays in the journal for the next start.
    pub async fn shutdown(self) {
        // The writer notes the ledger clean as it ends; no timed note may come after.
        self.notes.abort();
        let _ = self.notes.await;
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

struct WriterTask {
    store: Store,
    config: WriterConfig,
    journal: Arc<Mutex<Journal>>,
    health: Arc<WriterHealth>,
    /// Where the database has the journal up to; `None` until the database has told us.
    progress: Option<Position>,
    /// This run of the writer, for its drop count in the database.
    run: String,
    /// The run's drop total the database is known to hold.
    dropped_recorded: u64,
    /// Events this run has journalled.
    journalled: u64,
    /// The ledger beside the journal.
    ledger: Arc<LedgerKeeper>,
    /// Runs that stopped without shutting down, and the events each lost (dropped, or never
    /// journalled), until the database has them.
    crashed: Vec<(String, u64)>,
    /// Segments below this one have been deleted (so the folder is listed only when the
    /// database moves into a new segment).
    removed_below: i64,
    pause: Duration,
    next_attempt: tokio::time::Instant,
}

impl WriterTask {
    async fn run(mut self, mut receiver: mpsc::Receiver<Event>, stop: Arc<Notify>) {
        let mut batch = Vec::with_capacity(self.config.batch_size);
        let mut stopping = false;
        loop {
            let retry_in = self
                .next_attempt
                .saturating_duration_since(tokio::time::Instant::now());
            let behind = self.is_behind();
            tokio::select! {
                received = receiver.recv_many(&mut batch, self.config.batch_size) => {
                    if received == 0 {
                        break;
                    }
                }
                () = stop.notified(), if !stopping => {
                    stopping = true;
                    receiver.close();
                    continue;
                }
                () = tokio::time::sleep(retry_in.max(Duration::from_millis(50))), if behind => {}
            }
            if !batch.is_empty() {
                let events = std::mem::take(&mut batch);
                self.take(events).await;
                batch = Vec::with_capacity(self.config.batch_size);
            }
            self.catch_up().await;
        }
        // Queue closed and drained: one last attempt to bring the database up to date.
        self.catch_up().await;
        let end = self.journal.lock().map(|journal| journal.end());
        if let Ok(end) = end {
            self.note_ledger(end, true);
        }
    }

    /// Notes in the ledger what this run has done, up to `end` of the journal (`clean`: the
    /// run is stopping and has journalled everything).
    fn note_ledger(&self, end: Position, clean: bool) {
        self.ledger.journalled(self.journalled, end);
        self.ledger.note(clean);
    }

    fn is_behind(&self) -> bool {
        match (self.progress, self.journal.lock()) {
            (Some(progress), Ok(journal)) => {
                progress != journal.end() || self.health.dropped() > self.dropped_recorded
            }
            _ => true,
        }
    }

    /// Journals a batch, then writes it straight to the database if nothing is waiting before it.
    async fn take(&mut self, events: Vec<Event>) {
        let backlog = self.health.backlog_bytes();
        if backlog > self.config.journal_limit {
            self.health.add_dropped(events.len() as u64);
            self.health.set_error(Some(format!(
                "the journal holds {backlog} bytes the database has not taken (limit {}); new events are dropped",
                self.config.journal_limit
            )));
            return;
        }
        let journal = self.journal.clone();
        let appended = tokio::task::spawn_blocking(move || {
            let count = requests(&events);
            let mut journal = match journal.lock() {
                Ok(journal) => journal,
                Err(_) => return Err((count, "the journal lock was poisoned".to_owned())),
            };
            let before = journal.end();
            match journal.append(&events) {
                Ok(after) => Ok((events, before, after)),
                Err(error) => Err((count, error.to_string())),
            }
        })
        .await
        .unwrap_or_else(|error| Err((0, format!("the journal task failed: {error}"))));
        let (events, before, after) = match appended {
            Ok(appended) => appended,
            Err((count, error)) => {
                // Neither journal nor database can take the batch: drop it, counted, and say why.
                self.health.add_dropped(count);
                tracing::error!(%error, "event journal append failed");
                self.health.set_error(Some(error));
                return;
            }
        };
        self.journalled += requests(&events);
        self.note_ledger(after, false);
        if self.progress == Some(before) && self.database_due() {
            let progress = Progress {
                gateway: &self.config.gateway,
                segment: after.0,
                position: after.1 as i64,
            };
            let written = tokio::time::timeout(
                self.config.database_timeout,
                self.store.write_events(
                    &self.config.gateway,
                    &events,
                    Some(progress),
                    self.config.alert_window,
                ),
            )
            .await;
            match written {
                Ok(Ok(())) => {
                    self.progress = Some(after);
                    self.database_answered(requests(&events));
                }
                Ok(Err(error)) => self.database_failed(error.to_string()),
                Err(_) => self
                    .database_failed(StoreError::Timeout(self.config.database_timeout).to_string()),
            }
        }
        self.update_backlog();
    }

    fn database_due(&self) -> bool {
        tokio::time::Instant::now() >= self.next_attempt
    }

    fn database_answered(&mut self, written: u64) {
        self.health.add_written(written, Timestamp::now());
        self.health.set_database_up(true);
        self.health.set_error(None);
        self.pause = Duration::ZERO;
    }

    fn database_failed(&mut self, error: String) {
        if self.health.set_database_up(false) || self.pause.is_zero() {
            tracing::warn!(%error, "event database unavailable; events go to the journal until it returns");
        }
        self.health.set_error(Some(format!("database: {error}")));
        self.pause = (self.pause * 2)
            .max(Duration::from_millis(250))
            .min(self.config.max_retry_pause);
        self.next_attempt = tokio::time::Instant::now() + self.pause;
    }

    /// Records how much of the journal the database has not taken. Until the database has said
    /// where it is, all of the journal on disk counts, so the journal limit holds even when the
    /// database has never answered since the start.
    fn update_backlog(&self) {
        let Ok(journal) = self.journal.lock() else {
            return;
        };
        let from = match self.progress {
            Some(progress) => Ok(progress),
            None => journal.oldest(),
        };
        if let Ok(backlog) = from.and_then(|from| journal.backlog(from)) {
            self.health.set_backlog_bytes(backlog);
        }
    }

    /// Brings the database up to the end of the journal, a batch at a time, if it is due.
    async fn catch_up(&mut self) {
        if !self.database_due() {
            return;
        }
        if let Err(error) = self.try_catch_up().await {
            self.database_failed(error.to_string());
        }
        self.update_backlog();
    }

    async fn try_catch_up(&mut self) -> Result<()> {
        let timeout = self.config.database_timeout;
        let timed_out = || StoreError::Timeout(timeout);
        if self.progress.is_none() {
            let recorded =
                tokio::time::timeout(timeout, self.store.writer_progress(&self.config.gateway))
                    .await
                    .map_err(|_| timed_out())??;
            let oldest = self.lock_journal()?.oldest()?;
            // With no progress recorded, or progress in a segment already deleted, start at the
            // oldest segment on disk.
            self.progress = Some(match recorded {
                Some((segment, position)) if segment >= oldest.0 => (segment, position as u64),
                _ => oldest,
            });
            self.database_answered(0);
        }
        if !self.crashed.is_empty() {
            for (run, lost) in &self.crashed {
                tokio::time::timeout(
                    timeout,
                    self.store.record_drops(
                        &self.config.gateway,
                        run,
                        i64::try_from(*lost).unwrap_or(i64::MAX),
                    ),
                )
                .await
                .map_err(|_| timed_out())??;
            }
            self.crashed.clear();
            if let Ok(mut unrecorded) = self.ledger.unrecorded.lock() {
                unrecorded.clear();
            }
            self.ledger.note(false);
        }
        let dropped = self.health.dropped();
        if dropped > self.dropped_recorded {
            // The run's total, not what was added since: a write that timed out here may still
            // commit, and sending the total again then changes nothing.
            tokio::time::timeout(
                timeout,
                self.store.record_drops(
                    &self.config.gateway,
                    &self.run,
                    i64::try_from(dropped).unwrap_or(i64::MAX),
                ),
            )
            .await
            .map_err(|_| timed_out())??;
            self.dropped_recorded = dropped;
        }
        // Replay a bounded number of batches per call, so that the queue keeps being drained
        // into the journal while a long backlog is written.
        for _ in 0..8 {
            let Some(progress) = self.progress else { break };
            let (chunk, end) = {
                let journal = self.lock_journal()?;
                if progress == journal.end() {
                    break;
                }
                (
                    journal.read(progress, self.config.batch_size)?,
                    journal.end(),
                )
            };
            for damage in &chunk.damage {
                tracing::error!(%damage, "event journal damaged");
            }
            let next = Progress {
                gateway: &self.config.gateway,
                segment: chunk.next.0,
                position: chunk.next.1 as i64,
            };
            tokio::time::timeout(
                timeout,
                self.store.write_events(
                    &self.config.gateway,
                    &chunk.events,
                    Some(next),
                    self.config.alert_window,
                ),
            )
            .await
            .map_err(|_| timed_out())??;
            self.progress = Some(chunk.next);
            self.database_answered(requests(&chunk.events));
            if chunk.next == end {
                break;
            }
        }
        // Caught up: close a large segment and delete the ones the database has in full.
        if let Some(progress) = self.progress {
            let journal = self.journal.clone();
            let mut journal = journal
                .lock()
                .map_err(|_| StoreError::Invalid("the journal lock was poisoned".into()))?;
            if progress == journal.end() && progress.1 >= self.config.segment_size {
                journal.rotate()?;
                // The database still says "end of the old segment"; that segment is deleted
                // below, and a restart that cannot find it starts at the oldest one left, which
                // is exactly where the database's next write will be.
                self.progress = Some(journal.end());
            }
        }
        if let Some(progress) = self.progress
            && progress.0 > self.removed_below
        {
            self.lock_journal()?.remove_before(progress.0)?;
            self.removed_below = progress.0;
        }
        Ok(())
    }

    fn lock_journal(&self) -> Result<std::sync::MutexGuard<'_, Journal>> {
        self.journal
            .lock()
            .map_err(|_| StoreError::Invalid("the journal lock was poisoned".into()))
    }
}

/// The run before this one, if it stopped without shutting down (its ledger is not clean): its
/// name and the events it lost, those it dropped and those handed over but never journalled
/// (the journal's records after the ledger's note count as journalled).
fn crashed_run(config: &WriterConfig, journal: &Journal) -> Vec<(String, u64)> {
    let path = config.journal_folder.join(LEDGER);
    let Ok(bytes) = std::fs::read(&path) else {
        return Vec::new();
    };
    let ledger: Ledger = match serde_json::from_slice(&bytes) {
        Ok(ledger) => ledger,
        Err(error) => {
            tracing::warn!(%error, "the event writer's ledger is unreadable; the last run's losses cannot be counted");
            return Vec::new();
        }
    };
    let mut lost_by_runs = ledger.unrecorded.clone();
    if ledger.clean {
        return lost_by_runs;
    }
    let after = match journal.read((ledger.segment, ledger.position), usize::MAX) {
        Ok(chunk) => requests(&chunk.events),
        Err(error) => {
            tracing::warn!(%error, "cannot read the journal after the ledger");
            0
        }
    };
    let journalled = ledger.journalled + after;
    let never_journalled = ledger
        .accepted
        .saturating_sub(ledger.dropped)
        .saturating_sub(journalled);
    tracing::warn!(
        run = %ledger.run,
        never_journalled,
        dropped = ledger.dropped,
        "the last run of the event writer stopped without shutting down (killed, or the power went): {never_journalled} events it had been handed were never journalled and are counted as dropped; any handed over in its last 50 ms cannot be counted"
    );
    lost_by_runs.push((ledger.run, ledger.dropped + never_journalled));
    lost_by_runs
}

impl EventWriter {
    /// Stops the writer at once, as a crash would: what is queued is not journalled and the
    /// ledger is left as the last journal write wrote it. For tests of what a restart counts.
    pub fn abandon(self) {
        self.notes.abort();
        self.task.abort();
    }
}

/// The requests `events` stand for (an event may stand for several: repeats folded at the gate,
/// allowed requests counted per hour).
fn requests(events: &[Event]) -> u64 {
    events.iter().map(|event| u64::from(event.count)).sum()
}
