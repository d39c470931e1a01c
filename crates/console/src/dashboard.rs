//! The dashboard: blocked attempts today by category, people counts, the event writer's health;
//! counts only, no names (governors see it).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jiff::{Timestamp, ToSpan};

use crate::auth::CurrentUser;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// Blocked attempts in one category today.
pub struct CategoryLine {
    category: String,
    /// The count as shown (small counts suppressed for those who see no names).
    count: String,
}

/// Counts from 1 to this are shown as "<5" to those who see no names (governors), so that no
/// pupil can be picked out of a small number.
const SUPPRESSED_BELOW: i64 = 5;

/// The event writer's state, as words and numbers.
#[derive(Default)]
pub struct WriterLine {
    running: bool,
    database_up: bool,
    queued: usize,
    accepted: u64,
    written: u64,
    dropped_here: u64,
    dropped_ever: i64,
    backlog_bytes: u64,
    last_write: String,
    last_error: String,
}

/// The HTTPS section: inspection, the certificate, and what could not be inspected.
struct HttpsLine {
    inspecting: bool,
    certificate: String,
    expires: String,
    days_left: i64,
    /// Within [`CERTIFICATE_WARNING_DAYS`] of expiring.
    expiring: bool,
    next: String,
    inspected: u64,
    /// (site, device (technicians only, else empty), why, count).
    uninspected: Vec<(String, String, String, u64)>,
    http3_removed: u64,
    show_devices: bool,
}

/// The certificate is flagged this many days before it expires: time to prepare the next one
/// and give it to every device.
const CERTIFICATE_WARNING_DAYS: i64 = 90;
/// Most lines of uninspected connections shown.
const UNINSPECTED_LINES: usize = 20;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    https: Option<HttpsLine>,
    layout: Layout,
    day: String,
    categories: Vec<CategoryLine>,
    total_blocked: String,
    pupils: String,
    staff: String,
    guests: String,
    /// Whether small counts are suppressed on this page (the account sees no names).
    suppressed: bool,
    /// The event writer's health: for technicians.
    writer: Option<WriterLine>,
    /// Trends: blocked requests per day and per week, alerts per day.
    charts: Vec<(crate::charts::Chart, String)>,
}

/// Days in the daily trends, today included.
const TREND_DAYS: i64 = 14;
/// Weeks in the weekly trend, this one included.
const TREND_WEEKS: i64 = 12;

/// Sums hourly counts into the periods that start at `starts` (each runs to the next start;
/// the last to `end`): one total per period.
fn into_periods(
    hours: impl Iterator<Item = (Timestamp, i64)>,
    starts: &[Timestamp],
    end: Timestamp,
) -> Vec<i64> {
    let mut totals = vec![0; starts.len()];
    for (hour, count) in hours {
        if hour >= end {
            continue;
        }
        if let Some(index) = starts.iter().rposition(|start| *start <= hour) {
            totals[index] += count;
        }
    }
    totals
}

/// The trend charts: blocked requests over the last days and weeks, and alerts raised over the
/// last days; with small numbers suppressed where `suppressed`.
async fn trends(
    state: &AppState,
    school: ward_store::SchoolId,
    today: &jiff::ZonedDateTime,
    suppressed: bool,
) -> Result<Vec<(crate::charts::Chart, String)>, AppError> {
    use crate::charts::{Bar, Chart};
    let internal = |error: jiff::Error| AppError::Internal(error.to_string());
    let store = state.store();
    let end = today.checked_add(1.day()).map_err(internal)?;
    let mut days = Vec::new();
    for back in (0..TREND_DAYS).rev() {
        days.push(today.checked_sub(back.days()).map_err(internal)?);
    }
    let monday = today
        .checked_sub(i64::from(today.weekday().to_monday_zero_offset()).days())
        .map_err(internal)?;
    let mut weeks = Vec::new();
    for back in (0..TREND_WEEKS).rev() {
        weeks.push(monday.checked_sub(back.weeks()).map_err(internal)?);
    }
    let first = weeks[0].timestamp().min(days[0].timestamp());
    let traffic = store
        .traffic_by_hour(school, first, end.timestamp())
        .await?;
    let alerts = store
        .alerts_by_hour(school, days[0].timestamp(), end.timestamp())
        .await?;
    let stamps = |zoned: &[jiff::ZonedDateTime]| {
        zoned
            .iter()
            .map(jiff::ZonedDateTime::timestamp)
            .collect::<Vec<_>>()
    };
    let bars = |labels: Vec<String>, totals: Vec<i64>| -> Vec<Bar> {
        labels
            .into_iter()
            .zip(totals)
            .map(|(label, value)| {
                if suppressed && (1..SUPPRESSED_BELOW).contains(&value) {
                    Bar {
                        label,
                        value: None,
                        shown: format!("<{SUPPRESSED_BELOW}"),
                    }
                } else {
                    Bar {
                        label,
                        value: Some(value),
                        shown: value.to_string(),
                    }
                }
            })
            .collect()
    };
    let day_labels: Vec<String> = days
        .iter()
        .map(|day| day.strftime("%a %-d").to_string())
        .collect();
    let week_labels: Vec<String> = weeks
        .iter()
        .map(|week| week.strftime("%-d %b").to_string())
        .collect();
    let daily = into_periods(
        traffic.iter().map(|(hour, _, blocked)| (*hour, *blocked)),
        &stamps(&days),
        end.timestamp(),
    );
    let weekly = into_periods(
        traffic.iter().map(|(hour, _, blocked)| (*hour, *blocked)),
        &stamps(&weeks),
        end.timestamp(),
    );
    let raised = into_periods(alerts.into_iter(), &stamps(&days), end.timestamp());
    Ok(vec![
        (
            Chart {
                id: "trend-blocked-days",
                title: format!("Blocked requests, the last {TREND_DAYS} days"),
                bars: bars(day_labels.clone(), daily),
            },
            "day".to_owned(),
        ),
        (
            Chart {
                id: "trend-blocked-weeks",
                title: format!(
                    "Blocked requests, the last {TREND_WEEKS} weeks (weeks from Monday)"
                ),
                bars: bars(week_labels, weekly),
            },
            "week of".to_owned(),
        ),
        (
            Chart {
                id: "trend-alerts-days",
                title: format!("Alerts raised, the last {TREND_DAYS} days"),
                bars: bars(day_labels, raised),
            },
            "day".to_owned(),
        ),
    ])
}

/// `GET /`: today's blocked attempts by category, people counts, the event writer's health.
/// Aggregates only: every role may see it.
pub async fn dashboard(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewDashboard)?;
    let store = state.store();
    let school = user.account.school;
    let today = Timestamp::now()
        .to_zoned_datetime(state.config().time_zone.clone())
        .start_of_day()
        .map_err(|error| AppError::Internal(error.to_string()))?;
    let tomorrow = today
        .checked_add(1.day())
        .map_err(|error| AppError::Internal(error.to_string()))?;
    let counts = store
        .blocked_by_category(school, today.timestamp(), tomorrow.timestamp())
        .await?;
    let blocked = store
        .blocked_requests(school, today.timestamp(), tomorrow.timestamp())
        .await?;
    // Aggregates for those who see no names have small numbers suppressed.
    let suppressed = !user.can(Permission::ViewPeople);
    let shown = |count: i64| {
        if suppressed && (1..SUPPRESSED_BELOW).contains(&count) {
            format!("<{SUPPRESSED_BELOW}")
        } else {
            count.to_string()
        }
    };
    let (pupils, staff, guests) = store.count_people(school).await?;
    // The event writer's health is for technicians; no one else's page asks for it.
    let dropped_ever = if user.can(Permission::ManageDevices) {
        Some(store.dropped_events().await?)
    } else {
        None
    };
    let writer = match (dropped_ever, state.events()) {
        (None, _) => None,
        (Some(dropped_ever), Some(sink)) => Some({
            let health = sink.health();
            WriterLine {
                running: true,
                database_up: health.database_up(),
                queued: sink.queued(),
                accepted: health.accepted(),
                written: health.written(),
                dropped_here: health.dropped(),
                dropped_ever,
                backlog_bytes: health.backlog_bytes(),
                last_write: health
                    .last_write()
                    .map_or("never".to_owned(), |at| local_time(&state, at)),
                last_error: health.last_error().unwrap_or_default(),
            }
        }),
        (Some(dropped_ever), None) => Some(WriterLine {
            dropped_ever,
            ..WriterLine::default()
        }),
    };
    let https = state
        .filter()
        .and_then(|filter| filter.https_status())
        .map(|status| {
            let now = Timestamp::now();
            let zone = state.config().time_zone.clone();
            let day = |at: Timestamp| {
                at.to_zoned_datetime(zone.clone())
                    .strftime("%-d %B %Y")
                    .to_string()
            };
            let (certificate, expires, days_left) = match &status.certificate {
                Some((name, until)) => (
                    name.clone(),
                    day(*until),
                    until.duration_since(now).as_hours() / 24,
                ),
                None => (String::new(), String::new(), 0),
            };
            // Which device could not be inspected is for the technicians who fix it.
            let show_devices = user.can(Permission::ManageDevices);
            let mut uninspected: Vec<(String, String, String, u64)> = Vec::new();
            for (site, device, why, count) in status.uninspected {
                let device = if show_devices { device } else { String::new() };
                match uninspected
                    .iter_mut()
                    .find(|line| line.0 == site && line.1 == device && line.2 == why)
                {
                    Some(line) => line.3 += count,
                    None => uninspected.push((site, device, why, count)),
                }
            }
            uninspected.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
            uninspected.truncate(UNINSPECTED_LINES);
            HttpsLine {
                inspecting: status.inspecting,
                expiring: !certificate.is_empty() && days_left < CERTIFICATE_WARNING_DAYS,
                certificate,
                expires,
                days_left,
                next: status
                    .next
                    .map(|(name, until)| format!("{name} (valid until {})", day(until)))
                    .unwrap_or_default(),
                inspected: status.inspected,
                uninspected,
                http3_removed: status.http3_removed,
                show_devices,
            }
        });
    let page = DashboardPage {
        https,
        layout: Layout::for_user(&state, &user, "Dashboard").await,
        day: today.strftime("%A %-d %B %Y").to_string(),
        total_blocked: shown(blocked),
        categories: counts
            .into_iter()
            .map(|line| CategoryLine {
                category: line.category,
                count: shown(line.count),
            })
            .collect(),
        pupils: shown(pupils),
        staff: shown(staff),
        guests: shown(guests),
        suppressed,
        writer,
        charts: trends(&state, school, &today, suppressed).await?,
    };
    render(&page)
}

// ---------------------------------------------------------------------------------------------
// People and import
