//! Events: blocked and rewritten requests one row each, allowed browsing as counts per subject,
//! site and hour (F10); and the queries the console asks of them.

use crate::BeginWrite as _;
use std::collections::HashMap;
use std::fmt::Write;

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;
use ward_events::IdentifiedBy;

use crate::{
    Bound, DeviceId, Disposition, Event, PersonId, Result, SchoolId, Store, dispatch, micros,
    timestamp,
};

/// Rows per multi-row `INSERT` (16 parameters each; both backends allow far more than 8,000).
const ROWS_PER_INSERT: usize = 500;
const EVENT_COLUMNS: usize = 16;

/// How long repeats of a blocked attempt (same person, same category) are folded into one alert
/// unless the writer is told otherwise.
pub const DEFAULT_ALERT_WINDOW: SignedDuration = SignedDuration::from_hours(1);

/// Where an event writer has got to in its journal; written in the same transaction as the
/// events, so a batch is in the database exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress<'a> {
    pub gateway: &'a str,
    pub segment: i64,
    pub position: i64,
}

/// Blocked attempts in one category, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    /// The category.
    pub category: String,
    /// Blocked attempts.
    pub count: i64,
}

/// What to look for in the activity search. Empty strings and `None` mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityQuery {
    /// One person.
    pub person: Option<PersonId>,
    /// One device.
    pub device: Option<DeviceId>,
    /// One client address (as events record it); empty for any.
    pub client_ip: String,
    /// From (inclusive).
    pub from: Option<Timestamp>,
    /// To (exclusive).
    pub to: Option<Timestamp>,
    /// Part of the host name.
    pub site: String,
    /// A category the event was in.
    pub category: String,
    /// At most this many rows.
    pub limit: i64,
    /// Only events older than this one (its time and id): the next page of results.
    pub before: Option<(Timestamp, i64)>,
}

/// A site or category search that matches more sites than this reads the events in time order
/// (the sites are then common enough); fewer, it reads each site's own events.
const SITES_ONE_BY_ONE: usize = 40;
/// A category search reads each site's own events, up to this many sites, when the category is
/// rarer than one request in [`RARE_SHARE`] in the period.
const RARE_SITES_ONE_BY_ONE: usize = 500;
/// See [`RARE_SITES_ONE_BY_ONE`].
const RARE_SHARE: i64 = 50;

/// A blocked or rewritten request, as the activity search shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Its id.
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// `dns` or `proxy`.
    pub source: String,
    /// The client's address.
    pub client_ip: String,
    /// The device's name, if registered.
    pub device: Option<String>,
    /// The person's username, if known.
    pub username: Option<String>,
    /// The person's full name, if known.
    pub person_name: Option<String>,
    /// How the front end knew who it was (`None` before it was recorded).
    pub identified_by: Option<IdentifiedBy>,
    /// The host.
    pub host: String,
    /// The URL, if seen.
    pub url: Option<String>,
    /// `block` or `rewrite`.
    pub action: String,
    /// Categories, comma-separated.
    pub categories: String,
    /// Why.
    pub reason: String,
    /// The search term, if any.
    pub search_term: Option<String>,
    /// How many requests it stands for (repeats within a few seconds are one event).
    pub requests: i64,
}

/// Allowed browsing of one subject on one site in one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowsingRow {
    /// The start of the hour.
    pub hour: Timestamp,
    /// The site.
    pub site: String,
    /// Requests in that hour.
    pub requests: i64,
}

/// One `INSERT INTO events … VALUES (…), (…)` with `rows` rows of placeholders: numbered
/// (`$1`) for PostgreSQL, anonymous (`?`) for SQLite, whose lookup of numbered parameters by
/// name is linear, which makes a 7,000-parameter statement quadratic.
/// The `n`th (from 1) placeholder of a statement: `$n` for PostgreSQL, `?` for SQLite (which
/// looks numbered ones up by name, slowly, in statements with many of them).
fn placeholder(numbered: bool, n: usize) -> String {
    if numbered {
        format!("${n}")
    } else {
        "?".to_owned()
    }
}

fn insert_events_sql(rows: usize, numbered: bool) -> String {
    let mut sql = String::from(
        "INSERT INTO events (school_id, at, gateway, source, client_ip, device_id, person_id, username, \
         identified_by, host, url, action, categories, reason, search_term, requests) VALUES ",
    );
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..EVENT_COLUMNS {
            let separator = if column == 0 { "" } else { ", " };
            if numbered {
                let _ = write!(sql, "{separator}${}", row * EVENT_COLUMNS + column + 1);
            } else {
                let _ = write!(sql, "{separator}?");
            }
        }
        sql.push(')');
    }
    sql
}

/// Allowed requests summed per (school, hour, subject, site).
fn browsing_counts(events: &[Event]) -> HashMap<(i64, i64, String, &str), i64> {
    let mut counts = HashMap::new();
    for event in events
        .iter()
        .filter(|event| event.action == Disposition::Allow)
    {
        let hour = hour_start(event.at);
        *counts
            .entry((event.school.0, hour, event.subject(), event.host.as_str()))
            .or_insert(0) += i64::from(event.count);
    }
    counts
}

/// The start of the hour `at` is in, in microseconds (how the hourly counts are keyed).
fn hour_start(at: Timestamp) -> i64 {
    at.as_second().div_euclid(3600) * 3600 * 1_000_000
}

/// Requests summed per (school, hour, categories): (allowed, blocked). Allowed requests are
/// counted under no categories.
fn traffic_hours(events: &[Event]) -> HashMap<(i64, i64, &str), (i64, i64)> {
    let mut counts: HashMap<(i64, i64, &str), (i64, i64)> = HashMap::new();
    for event in events {
        let hour = hour_start(event.at);
        match event.action {
            Disposition::Allow => {
                counts.entry((event.school.0, hour, "")).or_default().0 += i64::from(event.count);
            }
            Disposition::Block => {
                counts
                    .entry((event.school.0, hour, event.categories.as_str()))
                    .or_default()
                    .1 += i64::from(event.count);
            }
            Disposition::Rewrite => {}
        }
    }
    counts.retain(|_, (allowed, blocked)| *allowed > 0 || *blocked > 0);
    counts
}

/// The columns an [`EventRow`] is read from (with [`EVENT_FROM`]).
pub(crate) const EVENT_ROW_COLUMNS: &str = "e.id, e.at, e.source, e.client_ip, d.name AS device_name, \
     p.username AS person_username, p.given_name, p.family_name, e.username, e.identified_by, e.host, e.url, \
     e.action, e.categories, e.reason, e.search_term, e.requests";

/// Events with their person and device.
pub(crate) const EVENT_FROM: &str = "events e
     LEFT JOIN people p ON p.id = e.person_id AND p.school_id = e.school_id
     LEFT JOIN devices d ON d.id = e.device_id AND d.school_id = e.school_id";

/// An [`EventRow`] from a row of [`EVENT_ROW_COLUMNS`].
macro_rules! event_row {
    ($row:expr) => {{
        let row = $row;
        let given: Option<String> = row.try_get("given_name")?;
        let family: Option<String> = row.try_get("family_name")?;
        let person_username: Option<String> = row.try_get("person_username")?;
        let seen_username: Option<String> = row.try_get("username")?;
        $crate::EventRow {
            id: row.try_get("id")?,
            at: $crate::timestamp(row.try_get("at")?),
            source: row.try_get("source")?,
            client_ip: row.try_get("client_ip")?,
            device: row.try_get("device_name")?,
            username: person_username.or(seen_username),
            person_name: given
                .zip(family)
                .map(|(given, family)| format!("{given} {family}")),
            identified_by: row
                .try_get::<Option<String>, _>("identified_by")?
                .as_deref()
                .and_then(ward_events::IdentifiedBy::parse),
            host: row.try_get("host")?,
            url: row.try_get("url")?,
            action: row.try_get("action")?,
            categories: row.try_get("categories")?,
            reason: row.try_get("reason")?,
            search_term: row.try_get("search_term")?,
            requests: row.try_get("requests")?,
        }
    }};
}
pub(crate) use event_row;

impl Store {
    /// Writes a batch in one transaction: blocked and rewritten requests as rows, allowed ones
    /// added to the hourly counts, and (for the event writer) its journal progress.
    /// Blocked attempts that raise alerts are folded into the alert queue in the same
    /// transaction (repeats of one subject and category within `alert_window` into one alert),
    /// so a replayed batch never raises them twice.
    pub(crate) async fn write_events(
        &self,
        gateway: &str,
        events: &[Event],
        progress: Option<Progress<'_>>,
        alert_window: SignedDuration,
    ) -> Result<()> {
        let recorded: Vec<&Event> = events
            .iter()
            .filter(|event| event.action != Disposition::Allow)
            .collect();
        let counts = browsing_counts(events);
        let hours = traffic_hours(events);
        let sites: std::collections::HashSet<(i64, &str, &str)> = recorded
            .iter()
            .map(|event| {
                (
                    event.school.0,
                    event.host.as_str(),
                    event.categories.as_str(),
                )
            })
            .collect();
        let folds = crate::alerts::fold_blocked(events, alert_window);
        let numbered = self.backend() == crate::BackendKind::Postgres;
        // The statement for a full chunk is the same every time: build it once per backend.
        static FULL_CHUNK: [std::sync::OnceLock<String>; 2] =
            [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
        let full_chunk_sql = FULL_CHUNK[usize::from(numbered)]
            .get_or_init(|| insert_events_sql(ROWS_PER_INSERT, numbered));
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            for chunk in recorded.chunks(ROWS_PER_INSERT) {
                let partial_sql;
                let sql = if chunk.len() == ROWS_PER_INSERT {
                    full_chunk_sql
                } else {
                    partial_sql = insert_events_sql(chunk.len(), numbered);
                    partial_sql.as_str()
                };
                // Only the full chunk's statement is kept prepared: a remainder's differs in
                // length every batch, and each kept one holds its compiled program (hundreds
                // of kilobytes at these sizes) in the connection's statement cache.
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .persistent(chunk.len() == ROWS_PER_INSERT);
                for event in chunk {
                    query = query
                        .bind(event.school.0)
                        .bind(micros(event.at))
                        .bind(gateway)
                        .bind(event.source.as_str())
                        .bind(event.client_ip.to_string())
                        .bind(event.device.map(|device| device.0))
                        .bind(event.person.map(|person| person.0))
                        .bind(event.username.as_deref())
                        .bind(event.identified_by.map(IdentifiedBy::as_str))
                        .bind(event.host.as_str())
                        .bind(event.url.as_deref())
                        .bind(event.action.as_str())
                        .bind(event.categories.as_str())
                        .bind(event.reason.as_str())
                        .bind(event.search_term.as_deref())
                        .bind(i64::from(event.count));
                }
                query.execute(&mut *transaction).await?;
            }
            for ((school, hour, subject, site), requests) in &counts {
                sqlx::query(
                    "INSERT INTO browsing_counts (school_id, hour, subject, site, requests) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (school_id, subject, hour, site)
                     DO UPDATE SET requests = browsing_counts.requests + excluded.requests",
                )
                .bind(*school)
                .bind(*hour)
                .bind(subject.as_str())
                .bind(*site)
                .bind(*requests)
                .execute(&mut *transaction)
                .await?;
            }
            // The sites seen, many rows a statement (one statement each would cost the batch
            // more than the rows themselves).
            let sites: Vec<&(i64, &str, &str)> = sites.iter().collect();
            for chunk in sites.chunks(300) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|row| {
                        let place = |column: usize| placeholder(numbered, row * 3 + column + 1);
                        format!("({}, {}, {})", place(0), place(1), place(2))
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO event_hosts (school_id, host, categories) VALUES {}
                     ON CONFLICT (school_id, host, categories) DO NOTHING",
                    values.join(", ")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .persistent(chunk.len() == 300);
                for (school, host, categories) in chunk {
                    query = query.bind(*school).bind(*host).bind(*categories);
                }
                query.execute(&mut *transaction).await?;
            }
            for ((school, hour, categories), (allowed, blocked)) in &hours {
                sqlx::query(
                    "INSERT INTO traffic_hours (school_id, hour, categories, allowed, blocked)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (school_id, hour, categories)
                     DO UPDATE SET allowed = traffic_hours.allowed + excluded.allowed,
                                   blocked = traffic_hours.blocked + excluded.blocked",
                )
                .bind(*school)
                .bind(*hour)
                .bind(*categories)
                .bind(*allowed)
                .bind(*blocked)
                .execute(&mut *transaction)
                .await?;
            }
            if !folds.is_empty() {
                crate::alerts::write_blocked_folds!(transaction, &folds, alert_window);
            }
            if let Some(progress) = progress {
                sqlx::query(
                    "INSERT INTO writer_progress (gateway, segment, position, updated_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (gateway) DO UPDATE SET segment = excluded.segment, position = excluded.position,
                       updated_at = excluded.updated_at",
                )
                .bind(progress.gateway)
                .bind(progress.segment)
                .bind(progress.position)
                .bind(micros(Timestamp::now()))
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await?;
        });
        Ok(())
    }

    /// Where the database has the writer of `gateway` up to: (segment, position).
    pub(crate) async fn writer_progress(&self, gateway: &str) -> Result<Option<(i64, i64)>> {
        dispatch!(self, pool => {
            let row = sqlx::query("SELECT segment, position FROM writer_progress WHERE gateway = $1")
                .bind(gateway)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some((row.try_get(0)?, row.try_get(1)?))),
                None => Ok(None),
            }
        })
    }

    /// Records how many events a writer run of a gateway has dropped so far: its running total,
    /// so that sending it again (after a time-out whose write committed anyway) counts nothing
    /// twice, and an older, smaller total arriving late never lowers it.
    pub async fn record_drops(&self, gateway: &str, run: &str, dropped: i64) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO writer_drops (gateway, run, at, dropped) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (gateway, run) WHERE run <> '' DO UPDATE SET
                     at = excluded.at,
                     dropped = CASE WHEN excluded.dropped > writer_drops.dropped
                                    THEN excluded.dropped ELSE writer_drops.dropped END",
            )
            .bind(gateway)
            .bind(run)
            .bind(micros(Timestamp::now()))
            .bind(dropped)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every event any gateway of the deployment has ever had to drop (shown on the dashboard).
    pub async fn dropped_events(&self) -> Result<i64> {
        dispatch!(self, pool => {
            Ok(sqlx::query("SELECT CAST(COALESCE(SUM(dropped), 0) AS BIGINT) FROM writer_drops")
                .fetch_one(pool)
                .await?
                .try_get(0)?)
        })
    }

    /// Blocked requests in the hours from `from` to `to` (whole hours: a bound within an hour
    /// counts from that hour's start), each counted once (a request in two categories is one
    /// request). From the hourly counts, not the events.
    pub async fn blocked_requests(
        &self,
        school: SchoolId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<i64> {
        dispatch!(self, pool => {
            let count: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(blocked), 0) AS BIGINT) FROM traffic_hours
                 WHERE school_id = $1 AND hour >= $2 AND hour < $3",
            )
            .bind(school.0)
            .bind(hour_start(from))
            .bind(hour_start(to))
            .fetch_one(pool)
            .await?;
            Ok(count)
        })
    }

    /// Requests per hour from `from` to `to` (hours that had any), oldest first: (the hour's
    /// start, allowed, blocked). From the hourly counts, not the events: a term's worth is a
    /// few thousand rows.
    pub async fn traffic_by_hour(
        &self,
        school: SchoolId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, i64, i64)>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT hour, CAST(SUM(allowed) AS BIGINT), CAST(SUM(blocked) AS BIGINT)
                 FROM traffic_hours
                 WHERE school_id = $1 AND hour >= $2 AND hour < $3 GROUP BY hour ORDER BY hour",
            )
            .bind(school.0)
            .bind(micros(from))
            .bind(micros(to))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok((
                        crate::timestamp(row.try_get(0)?),
                        row.try_get(1)?,
                        row.try_get(2)?,
                    ))
                })
                .collect()
        })
    }

    /// Alerts raised per hour from `from` to `to` (hours that had any), oldest first.
    pub async fn alerts_by_hour(
        &self,
        school: SchoolId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, i64)>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT (created_at / 3600000000) * 3600000000 AS hour, COUNT(*) FROM alerts
                 WHERE school_id = $1 AND created_at >= $2 AND created_at < $3
                 GROUP BY (created_at / 3600000000) * 3600000000 ORDER BY 1",
            )
            .bind(school.0)
            .bind(micros(from))
            .bind(micros(to))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| Ok((crate::timestamp(row.try_get(0)?), row.try_get(1)?)))
                .collect()
        })
    }

    /// Blocked attempts per category in the hours from `from` to `to` (whole hours, as
    /// [`Store::blocked_requests`]), most first. An event in several categories counts once in
    /// each.
    pub async fn blocked_by_category(
        &self,
        school: SchoolId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<CategoryCount>> {
        let rows: Vec<(String, i64)> = dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT categories, CAST(SUM(blocked) AS BIGINT) FROM traffic_hours
                 WHERE school_id = $1 AND hour >= $2 AND hour < $3 AND blocked > 0
                 GROUP BY categories",
            )
            .bind(school.0)
            .bind(hour_start(from))
            .bind(hour_start(to))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<_>>()?
        });
        let mut totals: HashMap<String, i64> = HashMap::new();
        for (categories, count) in rows {
            let names: Vec<&str> = categories
                .split(',')
                .filter(|name| !name.is_empty())
                .collect();
            if names.is_empty() {
                *totals.entry("(uncategorised)".to_owned()).or_default() += count;
            }
            for name in names {
                *totals.entry(name.to_owned()).or_default() += count;
            }
        }
        let mut counts: Vec<CategoryCount> = totals
            .into_iter()
            .map(|(category, count)| CategoryCount { category, count })
            .collect();
        counts.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.category.cmp(&b.category))
        });
        Ok(counts)
    }

    /// Blocked and rewritten requests matching `query`, newest first.
    ///
    /// The query is built from the filters given, so that each is answered from an index at a
    /// year's size (10 million events): a person's events through `events_school_person`; a
    /// site or category by finding the matching sites in `event_hosts` first, then reading each
    /// site's events through `events_school_host` (or, when many sites match, the events in
    /// time order with the sites as a condition); otherwise the events in time order.
    pub async fn search_events(
        &self,
        school: SchoolId,
        query: &ActivityQuery,
    ) -> Result<Vec<EventRow>> {
        // Hosts and categories never hold control characters; a NUL would cut the pattern short
        // in SQLite and be refused by PostgreSQL.
        if (query.site.chars().chain(query.category.chars())).any(char::is_control) {
            return Ok(Vec::new());
        }
        let site = query.site.trim().to_lowercase();
        let category = query.category.trim().to_lowercase();
        let hosts = if site.is_empty() && category.is_empty() {
            None
        } else {
            Some(self.matching_hosts(school, &site, &category).await?)
        };
        if hosts.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        // Read site by site when few sites match, or when a category is rare in the period (in
        // time order, a page of a rare category would be found only after reading most of the
        // period's requests): the hourly totals say how rare.
        let one_by_one = match &hosts {
            None => false,
            Some(_) if query.person.is_some() => false,
            Some(hosts) if hosts.len() <= SITES_ONE_BY_ONE => true,
            Some(hosts) if site.is_empty() && hosts.len() <= RARE_SITES_ONE_BY_ONE => {
                let mut sets: Vec<&str> = hosts.iter().map(|(_, set)| set.as_str()).collect();
                sets.sort_unstable();
                sets.dedup();
                let (matching, total) = self
                    .category_share(school, query.from, query.to, &sets)
                    .await?;
                matching.saturating_mul(RARE_SHARE) < total
            }
            Some(_) => false,
        };
        // The conditions every part of the query shares (`$1` is the school).
        let mut bound = vec![Bound::Int(school.0)];
        let mut conditions = vec!["e.school_id = $1".to_owned()];
        let mut add = |bound: &mut Vec<Bound>, condition: &str, value: Bound| {
            bound.push(value);
            conditions.push(condition.replace('?', &format!("${}", bound.len())));
        };
        if let Some(person) = query.person {
            add(&mut bound, "e.person_id = ?", Bound::Int(person.0));
        }
        if let Some(device) = query.device {
            add(&mut bound, "e.device_id = ?", Bound::Int(device.0));
        }
        if !query.client_ip.is_empty() {
            add(
                &mut bound,
                "e.client_ip = ?",
                Bound::Text(query.client_ip.clone()),
            );
        }
        if let Some(from) = query.from {
            add(&mut bound, "e.at >= ?", Bound::Int(micros(from)));
        }
        if let Some(to) = query.to {
            add(&mut bound, "e.at < ?", Bound::Int(micros(to)));
        }
        if let Some((at, id)) = query.before {
            bound.push(Bound::Int(micros(at)));
            let at_index = bound.len();
            bound.push(Bound::Int(id));
            conditions.push(format!(
                "(e.at < ${at_index} OR (e.at = ${at_index} AND e.id < ${}))",
                at_index + 1
            ));
        }
        // The matching sites and category sets as conditions on the row: `IN` lists (a site
        // search names the sites; a category search names the sets that hold the category).
        let within = |bound: &mut Vec<Bound>, hosts: &[(String, String)]| -> String {
            let mut sql = Vec::new();
            let mut list = |bound: &mut Vec<Bound>, column: &str, mut values: Vec<&String>| {
                values.sort();
                values.dedup();
                let mut places = Vec::new();
                for value in values {
                    bound.push(Bound::Text(value.clone()));
                    places.push(format!("${}", bound.len()));
                }
                sql.push(format!("{column} IN ({})", places.join(", ")));
            };
            if !site.is_empty() {
                list(
                    bound,
                    "e.host",
                    hosts.iter().map(|(host, _)| host).collect(),
                );
            }
            if !category.is_empty() {
                list(
                    bound,
                    "e.categories",
                    hosts.iter().map(|(_, set)| set).collect(),
                );
            }
            sql.join(" AND ")
        };
        let common = conditions.join(" AND ");
        let sql = match &hosts {
            Some(hosts) if one_by_one => {
                // Each site's newest events, through its index, then the newest of those.
                let mut parts = Vec::new();
                let mut by_host: Vec<(&str, Vec<&str>)> = Vec::new();
                for (host, categories) in hosts {
                    match by_host.iter_mut().find(|(known, _)| *known == host) {
                        Some((_, sets)) => sets.push(categories),
                        None => by_host.push((host, vec![categories])),
                    }
                }
                for (host, sets) in by_host {
                    bound.push(Bound::Text(host.to_owned()));
                    let host_index = bound.len();
                    let mut sets_sql = Vec::new();
                    for set in sets {
                        bound.push(Bound::Text(set.to_owned()));
                        sets_sql.push(format!("${}", bound.len()));
                    }
                    bound.push(Bound::Int(query.limit));
                    parts.push(format!(
                        "SELECT * FROM (SELECT e.id AS event_id, e.at AS event_at FROM events e
                           WHERE {common} AND e.host = ${host_index} AND e.categories IN ({})
                           ORDER BY e.at DESC, e.id DESC LIMIT ${}) AS part",
                        sets_sql.join(", "),
                        bound.len()
                    ));
                }
                bound.push(Bound::Int(query.limit));
                format!(
                    "SELECT {EVENT_ROW_COLUMNS} FROM ({}) AS found
                     JOIN events e ON e.id = found.event_id
                     LEFT JOIN people p ON p.id = e.person_id AND p.school_id = e.school_id
                     LEFT JOIN devices d ON d.id = e.device_id AND d.school_id = e.school_id
                     ORDER BY found.event_at DESC, found.event_id DESC LIMIT ${}",
                    parts.join(" UNION ALL "),
                    bound.len()
                )
            }
            Some(hosts) => {
                let condition = within(&mut bound, hosts);
                bound.push(Bound::Int(query.limit));
                format!(
                    "SELECT {EVENT_ROW_COLUMNS} FROM {EVENT_FROM}
                     WHERE {common} AND ({condition})
                     ORDER BY e.at DESC, e.id DESC LIMIT ${}",
                    bound.len()
                )
            }
            None => {
                bound.push(Bound::Int(query.limit));
                format!(
                    "SELECT {EVENT_ROW_COLUMNS} FROM {EVENT_FROM} WHERE {common}
                     ORDER BY e.at DESC, e.id DESC LIMIT ${}",
                    bound.len()
                )
            }
        };
        dispatch!(self, pool => {
            let statement = crate::bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql.as_str())), &bound);
            let rows = statement.fetch_all(pool).await?;
            rows.iter().map(|row| Ok(event_row!(row))).collect()
        })
    }

    /// Blocked requests in the hours of a period in any of `sets`, and in all: how common a
    /// category is, from the hourly totals.
    async fn category_share(
        &self,
        school: SchoolId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        sets: &[&str],
    ) -> Result<(i64, i64)> {
        let places: Vec<String> = (0..sets.len())
            .map(|index| format!("${}", index + 4))
            .collect();
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN categories IN ({}) THEN blocked ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(blocked), 0) AS BIGINT)
             FROM traffic_hours WHERE school_id = $1 AND hour >= $2 AND hour < $3",
            places.join(", ")
        );
        dispatch!(self, pool => {
            let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(from.map_or(i64::MIN, hour_start))
                .bind(to.map_or(i64::MAX, hour_start));
            for set in sets {
                statement = statement.bind(*set);
            }
            let row = statement.fetch_one(pool).await?;
            Ok((row.try_get(0)?, row.try_get(1)?))
        })
    }

    /// The (site, categories) pairs of the school's events whose site contains `site` and whose
    /// categories include `category` (either may be empty: any), at most 2,000.
    async fn matching_hosts(
        &self,
        school: SchoolId,
        site: &str,
        category: &str,
    ) -> Result<Vec<(String, String)>> {
        let site_pattern = format!("%{}%", crate::people::like_escape(site));
        let category_pattern = format!("%,{},%", crate::people::like_escape(category));
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT host, categories FROM event_hosts
                 WHERE school_id = $1 AND host LIKE $2 ESCAPE '\\'
                   AND ($3 = '' OR (',' || categories || ',') LIKE $4 ESCAPE '\\')
                 ORDER BY host, categories LIMIT 2000",
            )
            .bind(school.0)
            .bind(&site_pattern)
            .bind(category)
            .bind(&category_pattern)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        })
    }

    /// Allowed browsing of one subject (`person:ID`, `device:ID`, `ip:ADDRESS`) between `from`
    /// and `to`, by hour then site.
    pub async fn browsing(
        &self,
        school: SchoolId,
        subject: &str,
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> Result<Vec<BrowsingRow>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT hour, site, requests FROM browsing_counts
                 WHERE school_id = $1 AND subject = $2 AND hour >= $3 AND hour < $4
                 ORDER BY hour DESC, requests DESC, site LIMIT $5",
            )
            .bind(school.0)
            .bind(subject)
            .bind(micros(from))
            .bind(micros(to))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(BrowsingRow {
                        hour: timestamp(row.try_get("hour")?),
                        site: row.try_get("site")?,
                        requests: row.try_get("requests")?,
                    })
                })
                .collect()
        })
    }

    /// How many blocked and rewritten events (rows, each standing for one request or more) the
    /// school has in all.
    pub async fn count_events(&self, school: SchoolId) -> Result<i64> {
        dispatch!(self, pool => {
            Ok(sqlx::query("SELECT COUNT(*) FROM events WHERE school_id = $1")
                .bind(school.0)
                .fetch_one(pool)
                .await?
                .try_get(0)?)
        })
    }

    /// Writes events directly, outside any journal (for imports, tests and tools that have no
    /// gateway). Front ends use the [`crate::EventWriter`] instead.
    pub async fn insert_events(&self, events: &[Event]) -> Result<()> {
        self.write_events("direct", events, None, DEFAULT_ALERT_WINDOW)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sql_numbers_every_placeholder_once() {
        let sql = insert_events_sql(2, true);
        assert!(sql.ends_with(
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16), \
             ($17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32)"
        ));
        let sql = insert_events_sql(2, false);
        assert_eq!(sql.matches('?').count(), 32);
        assert!(!sql.contains('$'));
    }
}
