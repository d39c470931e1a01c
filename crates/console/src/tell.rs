//! "Alert these staff" (issue 26): from an alert or an incident, the DSL tells chosen colleagues
//! to look at it, with a message. Each is told in the console (at the top of every page until
//! they open it) and by email when their account has an address; opening it is the read receipt
//! the sender sees beside each name.
//!
//! Only colleagues who may open the record can be chosen: those who triage alerts for an alert,
//! those who manage incidents for an incident. The message stays in Ward: the email says who
//! asked and links to the record.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use ward_store::{AccountId, AlertId, IncidentId, StoreError};

use crate::auth::CurrentUser;
use crate::layout::local_time;
use crate::roles::{Permission, allows};
use crate::{AppError, AppState};

/// A message sent about a record, as the record's page lists it.
pub struct Told {
    /// To whom.
    pub to: String,
    /// By whom (display name).
    pub by: String,
    /// When.
    pub sent: String,
    /// What they wrote.
    pub message: String,
    /// When the recipient opened the record ("not yet" otherwise).
    pub read: String,
    /// Whether it has been read.
    pub is_read: bool,
}

/// What a record's page shows of telling staff: who was told, and whom one may tell.
#[derive(Default)]
pub struct TellBox {
    /// The form's action (`/alerts/7/tell`).
    pub path: String,
    /// Messages sent about the record, oldest first.
    pub told: Vec<Told>,
    /// Colleagues who may open the record: (account id, "Name (roles)").
    pub candidates: Vec<(i64, String)>,
}

/// What a target needs of its readers.
fn permission_for(target: &str) -> Permission {
    if target.starts_with("alert:") {
        Permission::TriageAlerts
    } else {
        Permission::ManageIncidents
    }
}

impl TellBox {
    /// The box for `target` (`alert:ID`, `incident:ID`) as `user` sees it, marking what was
    /// sent to `user` about it read: they are looking at it now.
    pub async fn for_target(
        state: &AppState,
        user: &CurrentUser,
        target: &str,
        path: String,
    ) -> Result<TellBox, AppError> {
        let store = state.store();
        let school = user.account.school;
        store
            .mark_notices_read(school, user.account.id, target)
            .await?;
        let accounts = store.accounts(school).await?;
        let name = |username: &str| {
            accounts
                .iter()
                .find(|account| account.username == username)
                .map_or_else(|| username.to_owned(), |a| a.display_name.clone())
        };
        let told = store
            .notices_about(school, target)
            .await?
            .into_iter()
            .map(|notice| Told {
                to: notice.recipient_name,
                by: name(&notice.sent_by),
                sent: local_time(state, notice.created_at),
                message: notice.message,
                read: notice
                    .read_at
                    .map_or_else(|| "not yet".to_owned(), |at| local_time(state, at)),
                is_read: notice.read_at.is_some(),
            })
            .collect();
        let permission = permission_for(target);
        let candidates = accounts
            .iter()
            .filter(|account| !account.disabled && account.id != user.account.id)
            .filter(|account| allows(&account.roles, permission))
            .map(|account| {
                (
                    account.id.0,
                    format!(
                        "{} ({}){}",
                        account.display_name,
                        account.roles,
                        if account.email.is_some() {
                            ""
                        } else {
                            ", no email: in Ward only"
                        }
                    ),
                )
            })
            .collect();
        Ok(TellBox {
            path,
            told,
            candidates,
        })
    }
}

/// `POST /alerts/{id}/tell`.
pub async fn alert(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<AlertId>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::TriageAlerts)?;
    state.store().alert(user.account.school, id).await?;
    send(&state, &user, &format!("alert:{id}"), &fields).await?;
    Ok(Redirect::to(&format!("/alerts/{id}#tell")).into_response())
}

/// `POST /incidents/{id}/tell`.
pub async fn incident(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<IncidentId>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageIncidents)?;
    state
        .store()
        .incident(user.account.school, ward_store::IncidentScope::All, id)
        .await?;
    send(&state, &user, &format!("incident:{id}"), &fields).await?;
    Ok(Redirect::to(&format!("/incidents/{id}#tell")).into_response())
}

/// Sends the form's message (`message`) to the accounts chosen (`to`, once or more), each of
/// whom must be a colleague who may open the record; audits it.
async fn send(
    state: &AppState,
    user: &CurrentUser,
    target: &str,
    fields: &[(String, String)],
) -> Result<(), AppError> {
    let store = state.store();
    let school = user.account.school;
    let accounts = store.accounts(school).await?;
    let permission = permission_for(target);
    let mut recipients: Vec<AccountId> = Vec::new();
    let mut names = Vec::new();
    for (_, value) in fields.iter().filter(|(key, _)| key == "to") {
        let account = value
            .parse::<i64>()
            .ok()
            .and_then(|id| accounts.iter().find(|account| account.id.0 == id))
            .filter(|account| !account.disabled && allows(&account.roles, permission))
            .ok_or_else(|| {
                AppError::BadRequest(
                    "Choose colleagues from the list: only those who may open it can be told."
                        .into(),
                )
            })?;
        if !recipients.contains(&account.id) {
            recipients.push(account.id);
            names.push(account.username.clone());
        }
    }
    if recipients.is_empty() {
        return Err(AppError::BadRequest("Choose whom to tell.".into()));
    }
    let message = fields
        .iter()
        .find(|(key, _)| key == "message")
        .map_or("", |(_, value)| value.as_str());
    store
        .send_notices(school, &user.account.username, &recipients, target, message)
        .await
        .map_err(|error| match error {
            StoreError::Invalid(message) => AppError::BadRequest(message),
            other => other.into(),
        })?;
    let (kind, _) = target.split_once(':').unwrap_or((target, ""));
    user.record(
        store,
        &format!("{kind}.tell"),
        target,
        format!("told {}", names.join(", ")),
        None,
    )
    .await?;
    Ok(())
}
