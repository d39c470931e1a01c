//! The audit log, filtered by action, with chain verification.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// One audit entry, formatted.
pub struct AuditLine {
    at: String,
    entry: ward_store::AuditEntry,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<AuditLine>,
    action: String,
    older: Option<i64>,
    verification: Option<ward_store::AuditVerification>,
}

/// Query of the audit page.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    verify: Option<String>,
}

/// `GET /audit`.
pub async fn audit(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<AuditQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewAudit)?;
    let store = state.store();
    let school = user.account.school;
    let page_size = 100;
    let entries = store
        .audit_entries(school, page_size, query.before, query.action.trim())
        .await?;
    let older = (entries.len() as i64 == page_size)
        .then(|| entries.last().map(|entry| entry.seq))
        .flatten();
    let verification = match query.verify {
        Some(_) => Some(store.verify_audit(school).await?),
        None => None,
    };
    let page = AuditPage {
        layout: Layout::for_user(&state, &user, "Audit log").await,
        entries: entries
            .into_iter()
            .map(|entry| AuditLine {
                at: local_time(&state, entry.at),
                entry,
            })
            .collect(),
        action: query.action,
        older,
        verification,
    };
    render(&page)
}

// ---------------------------------------------------------------------------------------------
// Accounts
