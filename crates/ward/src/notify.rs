//! Telling people about alerts (DESIGN.md M3): high-severity alerts at once, by email (SMTP)
//! and to a webhook; a weekly summary to the DSL. And telling staff what waits for them, by
//! email to their accounts' addresses: a new incident recorded by someone who does not manage
//! incidents goes to those who do (the DSL, the headteacher); a new unblock request to those
//! who decide them; "alert these staff" to the staff chosen.
//!
//! Both work from the database, not from the front ends: every few seconds the notifier
//! claims the school's new alerts at or above the configured severity (a claim marks them told,
//! so with several gateways each alert is sent once) and sends them; a send that fails gives
//! the claim back and is tried again later. The weekly summary is claimed the same way, once
//! per school and week.
//!
//! What a message carries is kept to what the reader needs to act: who, what kind, how severe,
//! when, and a link to the console. The address visited (an illegal-content list's address must
//! never travel by email), what a pupil wrote and surrounding text stay in the console, behind
//! log-in, role and audit. The weekly summary has counts only, no names.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ZonedDateTime};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use ward_console::roles::{Permission, allows};
use ward_store::{Account, Alert, AlertSource, NewRecords, SchoolId, Store};

use crate::config::{Config, SmtpSecurity};

/// How often the notifier looks for alerts to send.
const POLL: Duration = Duration::from_secs(5);
/// Longest wait between attempts while sending keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Alerts older than this when first seen are not sent (after a long outage, the queue says it).
const TOO_OLD: SignedDuration = SignedDuration::from_hours(24);

/// How often the parents' weekly reminders are looked at.
const PARENTS_EVERY: Duration = Duration::from_secs(3600);

/// How long before a course is due again those who manage training are told.
const TRAINING_NOTICE_DAYS: i64 = 30;

/// Where messages go and how.
#[derive(Clone)]
pub struct Notifier {
    store: Store,
    school: SchoolId,
    school_name: String,
    zone: TimeZone,
    min_severity: u8,
    console_url: String,
    email: Option<Email>,
    summary_to: Vec<Mailbox>,
    summary_at: (Weekday, Time),
    webhook: Option<String>,
    /// Names alert categories as staff read them.
    names: std::sync::Arc<ward_console::Watched>,
}

#[derive(Clone)]
struct Email {
    mailer: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

/// The addresses of the school's accounts that may act with `permission`, are not disabled and
/// have an email address, but `except` (who made the thing: they know).
fn recipients(accounts: &[Account], permission: Permission, except: &str) -> Vec<Mailbox> {
    accounts
        .iter()
        .filter(|account| !account.disabled && account.username != except)
        .filter(|account| allows(&account.roles, permission))
        .filter_map(|account| account.email.as_deref()?.parse::<Mailbox>().ok())
        .collect()
}

fn mailboxes(list: &str, setting: &str) -> anyhow::Result<Vec<Mailbox>> {
    list.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<Mailbox>()
                .with_context(|| format!("{setting}: {part:?} is not an email address"))
        })
        .collect()
}

/// The mail server `config` names, and who messages are from; `None` when there is none.
fn smtp(config: &Config) -> anyhow::Result<Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>> {
    let alerts = &config.alerts;
    let server = alerts.smtp_server.trim();
    if server.is_empty() {
        return Ok(None);
    }
    let builder = match config.parsed.smtp_security {
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(server)?,
        SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(server)?,
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server),
    };
    let mut builder = builder
        .port(alerts.smtp_port)
        .timeout(Some(Duration::from_secs(30)));
    if !alerts.smtp_username.is_empty() {
        builder = builder.credentials(Credentials::new(
            alerts.smtp_username.clone(),
            alerts.smtp_password.expose().to_owned(),
        ));
    }
    let from = alerts.smtp_from.parse().with_context(|| {
        format!(
            "alerts.smtp_from {:?} is not an email address",
            alerts.smtp_from
        )
    })?;
    Ok(Some((builder.build(), from)))
}

/// Parents' links sent through the school's mail server (the console's `Mailer`).
pub struct ParentMail {
    email: Email,
}

impl std::fmt::Debug for ParentMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentMail")
            .field("from", &self.email.from)
            .finish_non_exhaustive()
    }
}

impl ParentMail {
    /// Through `config`'s mail server; `None` when there is none.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<ParentMail>> {
        Ok(smtp(config)?.map(|(mailer, from)| ParentMail {
            email: Email {
                mailer,
                from,
                to: Vec::new(),
            },
        }))
    }
}

impl ward_console::parents::Mailer for ParentMail {
    fn send<'a>(
        &'a self,
        to: &'a str,
        subject: &'a str,
        body: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let to: Mailbox = to
                .parse()
                .map_err(|_| format!("{to:?} is not an email address"))?;
            send_mail(&self.email, &[to], subject, body)
                .await
                .map_err(|error| format!("{error:#}"))
        })
    }
}

impl Notifier {
    /// The notifier `config` describes for `school`; `None` when it sends nothing (no mail
    /// server and no webhook). `names` names the alert categories in messages.
    pub fn from_config(
        config: &Config,
        store: Store,
        school: SchoolId,
        school_name: String,
        names: std::sync::Arc<ward_console::Watched>,
    ) -> anyhow::Result<Option<Notifier>> {
        let alerts = &config.alerts;
        let email = match smtp(config)? {
            None => None,
            Some((mailer, from)) => Some(Email {
                mailer,
                from,
                to: mailboxes(&alerts.email_to, "alerts.email_to")?,
            }),
        };
        let summary_to = match alerts.summary_to.trim() {
            "" => email.as_ref().map(|e| e.to.clone()).unwrap_or_default(),
            list => mailboxes(list, "alerts.summary_to")?,
        };
        let webhook = Some(alerts.webhook.expose().trim().to_owned()).filter(|url| !url.is_empty());
        if email.is_none() && webhook.is_none() {
            return Ok(None);
        }
        Ok(Some(Notifier {
            store,
            school,
            school_name,
            zone: TimeZone::get(&config.school.time_zone)?,
            min_severity: alerts.notify_severity,
            console_url: config.console_url(),
            email,
            summary_to,
            summary_at: config.parsed.summary_at,
            webhook,
            names,
        }))
    }

    /// Sends alerts and summaries until the task is aborted.
    pub async fn run(self) {
        let mut backoff = POLL;
        // The summary period this process has seen handled (sent here or by another gateway),
        // so the database is asked once per period rather than every few seconds.
        let mut summary_handled = None;
        // Parents' weekly reminders: looked at once an hour (each address at most once a week).
        let mut parents_reminded: Option<std::time::Instant> = None;
        loop {
            if parents_reminded.is_none_or(|at| at.elapsed() >= PARENTS_EVERY) {
                parents_reminded = Some(std::time::Instant::now());
                self.remind_parents().await;
            }
            let sent = self.send_due_alerts().await;
            let sent = sent.and(self.tell_staff().await);
            let sent = sent.and(self.remind_training().await);
            let summary = self
                .send_weekly_summary_if_due(Timestamp::now(), &mut summary_handled)
                .await;
            match sent.and(summary) {
                Ok(()) => backoff = POLL,
                Err(error) => {
                    tracing::error!("alert notification: {error:#}");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// Claims and sends the alerts due now. An alert whose message cannot be sent is given
    /// back, to be tried again.
    async fn send_due_alerts(&self) -> anyhow::Result<()> {
        let since = Timestamp::now() - TOO_OLD;
        let alerts = self
            .store
            .claim_alerts_to_notify(self.school, self.min_severity, since, 20)
            .await?;
        let mut failure = Ok(());
        for alert in alerts {
            if let Err(error) = self.send_alert(&alert).await {
                self.store.unclaim_alert(self.school, alert.id).await?;
                failure = Err(error.context(format!("alert {}", alert.id)));
            }
        }
        failure
    }

    /// Emails staff what waits for them: new incidents recorded by someone who does not manage
    /// incidents, new unblock requests, and the notices sent with "alert these staff". Each is
    /// claimed first (so that with several gateways it is sent once) and given back if sending
    /// fails. A message names no pupil and no site: it says what kind of thing waits, and where.
    async fn tell_staff(&self) -> anyhow::Result<()> {
        let Some(email) = &self.email else {
            return Ok(());
        };
        let since = Timestamp::now() - TOO_OLD;
        let accounts = self.store.accounts(self.school).await?;
        let name = |username: &str| {
            accounts
                .iter()
                .find(|account| account.username == username)
                .map_or_else(
                    || username.to_owned(),
                    |account| account.display_name.clone(),
                )
        };
        let mut failure = Ok(());
        for incident in self
            .store
            .claim_new_incidents(self.school, since, 20)
            .await?
        {
            let recorder = accounts
                .iter()
                .find(|account| account.username == incident.created_by);
            if recorder.is_some_and(|account| allows(&account.roles, Permission::ManageIncidents)) {
                continue;
            }
            let to = recipients(&accounts, Permission::ManageIncidents, &incident.created_by);
            let what = if incident.welfare {
                "a welfare concern"
            } else if incident.audience == "staff" {
                "a staff incident"
            } else {
                "a pupil incident"
            };
            let subject = format!(
                "[Ward] {} recorded {what} — {}",
                name(&incident.created_by),
                self.school_name
            );
            let body = format!(
                "{} recorded {what} (incident {}) at {}.\n\nOpen it in Ward (log-in needed): \
                 {}/incidents/{}\n\nThe details are in Ward only.\n",
                name(&incident.created_by),
                incident.id,
                self.when(incident.created_at),
                self.console_url,
                incident.id
            );
            if let Err(error) = self.send_to(email, &to, &subject, body).await {
                self.store
                    .unclaim_new(self.school, NewRecords::Incidents, incident.id.0)
                    .await?;
                failure = Err(error.context(format!("incident {}", incident.id)));
            }
        }
        for id in self
            .store
            .claim_new_unblock_requests(self.school, since, 20)
            .await?
        {
            let request = self.store.unblock_request(self.school, id).await?;
            let asker = request.request.username.clone().unwrap_or_default();
            let to = recipients(&accounts, Permission::DecideUnblocks, &asker);
            let who = if request.request.origin == "block-page" {
                "Someone at a block page".to_owned()
            } else {
                name(&asker)
            };
            let subject = format!("[Ward] New unblock request — {}", self.school_name);
            let body = format!(
                "{who} asked for a site to be unblocked (request {id}) at {}.\n\nDecide in Ward \
                 (log-in needed): {}/unblock/{id}\n",
                self.when(request.created_at),
                self.console_url
            );
            if let Err(error) = self.send_to(email, &to, &subject, body).await {
                self.store
                    .unclaim_new(self.school, NewRecords::UnblockRequests, id.0)
                    .await?;
                failure = Err(error.context(format!("unblock request {id}")));
            }
        }
        for claimed in self
            .store
            .claim_notices_to_email(self.school, since, 20)
            .await?
        {
            let notice = &claimed.notice;
            let (kind, id) = notice.target.split_once(':').unwrap_or(("", ""));
            let (thing, path) = match kind {
                "alert" => ("alert", "alerts"),
                _ => ("incident", "incidents"),
            };
            let subject = format!(
                "[Ward] {} asked you to look at {thing} {id} — {}",
                name(&notice.sent_by),
                self.school_name
            );
            let body = format!(
                "{} asked you to look at {thing} {id}{}.\n\nOpen it in Ward (log-in needed): \
                 {}/{path}/{id}\n\nOpening it tells them you have read it.\n",
                name(&notice.sent_by),
                if notice.message.is_empty() {
                    ""
                } else {
                    "; their message is with it in Ward"
                },
                self.console_url
            );
            let to = match claimed.email.parse::<Mailbox>() {
                Ok(mailbox) => vec![mailbox],
                Err(_) => {
                    tracing::warn!(
                        notice = notice.id,
                        "the recipient's email address cannot be used"
                    );
                    continue;
                }
            };
            if let Err(error) = self.send_to(email, &to, &subject, body).await {
                self.store.unclaim_notice(self.school, notice.id).await?;
                failure = Err(error.context(format!("notice {}", notice.id)));
            }
        }
        failure
    }

    /// Emails a new link to each parent whose link has waited a week unanswered (at most
    /// three reminders), through the console's `LinkSender`.
    async fn remind_parents(&self) {
        let Some(email) = &self.email else {
            return;
        };
        let mail = ParentMail {
            email: Email {
                mailer: email.mailer.clone(),
                from: email.from.clone(),
                to: Vec::new(),
            },
        };
        let sender = ward_console::parents::LinkSender {
            store: &self.store,
            mailer: Some(&mail),
            public_url: &self.console_url,
            school: self.school,
            by: "ward",
        };
        match sender.remind(true).await {
            Ok((0, problems)) if problems.is_empty() => {}
            Ok((sent, problems)) => {
                tracing::info!(sent, "parents reminded of their links");
                for problem in problems {
                    tracing::warn!(%problem, "a parent's reminder was not sent");
                }
            }
            Err(error) => tracing::error!(%error, "cannot send parents' reminders"),
        }
    }

    /// Tells those who manage staff training (the DSL and the headteacher, by their accounts'
    /// addresses) of the courses due again within 30 days, each once.
    async fn remind_training(&self) -> anyhow::Result<()> {
        let Some(email) = &self.email else {
            return Ok(());
        };
        let today = Timestamp::now().to_zoned_datetime(self.zone.clone()).date();
        let due_by = today
            .checked_add(jiff::Span::new().days(TRAINING_NOTICE_DAYS))
            .unwrap_or(today);
        let accounts = self.store.accounts(self.school).await?;
        let to = recipients(&accounts, Permission::ManageTraining, "");
        if to.is_empty() {
            // Nobody to tell: left unclaimed, shown on the Training page.
            return Ok(());
        }
        let due = self
            .store
            .claim_training_due(self.school, due_by, 50)
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = due
            .iter()
            .map(|record| {
                let when = record
                    .renewal_due
                    .map(|date| date.to_string())
                    .unwrap_or_default();
                let state = if record.renewal_due.is_some_and(|date| date < today) {
                    "overdue since"
                } else {
                    "due again on"
                };
                format!("- {}: {}, {state} {when}", record.name, record.course)
            })
            .collect();
        let subject = format!("[Ward] Staff training due again — {}", self.school_name);
        let body = format!(
            "These online safety courses are due again within {TRAINING_NOTICE_DAYS} days:\n\n{}\n\nThe records: {}/training\n",
            lines.join("\n"),
            self.console_url
        );
        if let Err(error) = send_mail(email, &to, &subject, body).await {
            let ids: Vec<i64> = due.iter().map(|record| record.id).collect();
            self.store.unclaim_training(self.school, &ids).await?;
            return Err(error);
        }
        Ok(())
    }

    /// Sends to `to`, if anyone: nobody to tell is not a failure.
    async fn send_to(
        &self,
        email: &Email,
        to: &[Mailbox],
        subject: &str,
        body: String,
    ) -> anyhow::Result<()> {
        if to.is_empty() {
            return Ok(());
        }
        send_mail(email, to, subject, body).await
    }

    fn when(&self, at: Timestamp) -> String {
        at.to_zoned_datetime(self.zone.clone())
            .strftime("%a %-d %b %H:%M")
            .to_string()
    }

    async fn send_alert(&self, alert: &Alert) -> anyhow::Result<()> {
        let line = self.alert_line(alert);
        let link = format!("{}/alerts/{}", self.console_url, alert.id);
        if let Some(email) = &self.email
            && !email.to.is_empty()
        {
            let mut body = String::new();
            let _ = writeln!(body, "{line}\n");
            let _ = writeln!(body, "Open it in Ward (log-in needed): {link}\n");
            let _ = writeln!(
                body,
                "The details (the address, what was written, the activity around it) are in \
                 Ward only. If a child may be at immediate risk, follow the school's child \
                 protection procedure now."
            );
            let subject = format!(
                "[Ward] Severity {} alert: {} — {}",
                alert.severity,
                self.names.category_name(&alert.category),
                self.school_name
            );
            send_mail(email, &email.to, &subject, body).await?;
        }
        if let Some(url) = &self.webhook {
            let payload = serde_json::json!({
                "text": format!("{line} {link}"),
                "id": alert.id,
                "school": self.school_name,
                "severity": alert.severity,
                "category": alert.category,
                "category_name": self.names.category_name(&alert.category),
                "source": alert.source.as_str(),
                "raised_at": alert.created_at.to_string(),
                "who": self.who(alert),
                "link": link,
            });
            post_json(url.clone(), payload).await?;
        }
        Ok(())
    }

    /// Who the alert is about, as a message may say it: the person's name (staff need it to
    /// act), else the computer, else nothing.
    fn who(&self, alert: &Alert) -> String {
        match (&alert.person_name, &alert.username, &alert.device_name) {
            (Some(name), _, _) => name.clone(),
            (None, Some(user), _) => format!("user {user}"),
            (None, None, Some(device)) => format!("computer {device}"),
            (None, None, None) => match &alert.client_ip {
                Some(ip) => format!("address {ip}"),
                None => "no one in particular".into(),
            },
        }
    }

    /// One line saying what happened, without the address or what was written.
    fn alert_line(&self, alert: &Alert) -> String {
        let when = self.when(alert.created_at);
        let category = self.names.category_name(&alert.category);
        let what = match alert.source {
            AlertSource::Blocked => format!("blocked attempt in {category}"),
            AlertSource::Concern => "concern reported from the block page".to_owned(),
            AlertSource::Detection => format!("risk detected: {category}"),
            AlertSource::Account => format!("account: {category}"),
            // Ward's own problems name no one; their summary says what broke.
            AlertSource::System => format!("system: {}", alert.summary),
        };
        let repeats = if alert.repeats > 1 {
            format!(" ({} times)", alert.repeats)
        } else {
            String::new()
        };
        format!(
            "Severity {} at {}: {what}{repeats}, {}, {when}.",
            alert.severity,
            self.school_name,
            self.who(alert)
        )
    }

    /// The start of the latest summary period that has ended by `now`: the most recent
    /// summary day and time at or before `now`, school time.
    fn latest_summary_time(&self, now: Timestamp) -> anyhow::Result<ZonedDateTime> {
        let (day, time) = self.summary_at;
        let today = now.to_zoned_datetime(self.zone.clone());
        let mut date = today.date();
        for _ in 0..8 {
            if date.weekday() == day {
                let at = date
                    .to_datetime(time)
                    .to_zoned_datetime(self.zone.clone())?;
                if at.timestamp() <= now {
                    return Ok(at);
                }
            }
            date = date.yesterday()?;
        }
        anyhow::bail!("no summary time in the last eight days")
    }

    /// Sends the weekly summary if its time has come and no one has sent it yet: alerts of
    /// the seven days before the summary time, by category and severity, and blocked attempts
    /// by category. Counts only. `handled` is the start of the last period known to be sent;
    /// it is updated once this one is.
    async fn send_weekly_summary_if_due(
        &self,
        now: Timestamp,
        handled: &mut Option<Timestamp>,
    ) -> anyhow::Result<()> {
        let Some(email) = &self.email else {
            return Ok(());
        };
        if self.summary_to.is_empty() {
            return Ok(());
        }
        let end = self.latest_summary_time(now)?;
        // Not sent more than a day late (Ward was off): the next one will cover its week.
        if now.duration_since(end.timestamp()) > SignedDuration::from_hours(24) {
            return Ok(());
        }
        let start = end.checked_sub(jiff::Span::new().weeks(1))?;
        if *handled == Some(start.timestamp()) {
            return Ok(());
        }
        if self
            .store
            .claim_summary(self.school, "weekly", start.timestamp())
            .await?
        {
            let sent = self.send_summary(email, &start, &end).await;
            if sent.is_err() {
                self.store
                    .unclaim_summary(self.school, "weekly", start.timestamp())
                    .await?;
                return sent;
            }
        }
        *handled = Some(start.timestamp());
        Ok(())
    }

    async fn send_summary(
        &self,
        email: &Email,
        start: &ZonedDateTime,
        end: &ZonedDateTime,
    ) -> anyhow::Result<()> {
        let tally = self
            .store
            .alert_tally(self.school, start.timestamp(), end.timestamp())
            .await?;
        let blocked = self
            .store
            .blocked_by_category(self.school, start.timestamp(), end.timestamp())
            .await?;
        let period = format!(
            "{} to {}",
            start.strftime("%A %-d %B %Y %H:%M"),
            end.strftime("%A %-d %B %Y %H:%M")
        );
        let mut body = String::new();
        let _ = writeln!(body, "Ward weekly summary for {}", self.school_name);
        let _ = writeln!(body, "{period}\n");
        let total: i64 = tally.iter().map(|row| row.alerts).sum();
        let still_new: i64 = tally.iter().map(|row| row.still_new).sum();
        let _ = writeln!(
            body,
            "Alerts raised: {total} ({still_new} not yet looked at).\n"
        );
        if !tally.is_empty() {
            let _ = writeln!(
                body,
                "{:<28} {:>8} {:>7} {:>11} {:>9}",
                "Category", "Severity", "Alerts", "Occurrences", "Still new"
            );
            for row in &tally {
                let _ = writeln!(
                    body,
                    "{:<28} {:>8} {:>7} {:>11} {:>9}",
                    self.names.category_name(&row.category),
                    row.severity,
                    row.alerts,
                    row.occurrences,
                    row.still_new
                );
            }
            let _ = writeln!(body);
        }
        let total_blocked: i64 = blocked.iter().map(|row| row.count).sum();
        let _ = writeln!(body, "Blocked attempts: {total_blocked}.");
        for row in blocked.iter().take(15) {
            let _ = writeln!(
                body,
                "  {:<40} {:>8}",
                self.names.category_name(&row.category),
                row.count
            );
        }
        let _ = writeln!(
            body,
            "\nThe queue, with names and details: {}/alerts",
            self.console_url
        );
        // The audit log's head, kept in the mailboxes too: a later rewrite of the log cannot
        // change what was sent (compare with `ward audit verify`).
        if let Ok(Some((seq, hash))) = self.store.audit_head(self.school).await {
            let _ = writeln!(body, "\nAudit log: {seq} entries, head {hash}.");
        }
        let subject = format!("[Ward] Weekly summary — {}", self.school_name);
        send_mail(email, &self.summary_to, &subject, body).await
    }
}

async fn send_mail(
    email: &Email,
    to: &[Mailbox],
    subject: &str,
    body: String,
) -> anyhow::Result<()> {
    let mut message = Message::builder().from(email.from.clone()).subject(subject);
    for mailbox in to {
        message = message.to(mailbox.clone());
    }
    let message = message
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .context("cannot build the message")?;
    email
        .mailer
        .send(message)
        .await
        .context("the mail server did not take the message")?;
    Ok(())
}

async fn post_json(url: String, payload: serde_json::Value) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(15)))
            .build()
            .into();
        agent
            .post(&url)
            .send_json(&payload)
            .with_context(|| format!("the webhook {url} did not take the alert"))?;
        Ok(())
    })
    .await
    .context("the webhook task failed")?
}
