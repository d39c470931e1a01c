//! The category lists in force, and their updates.

use super::*;

#[derive(Template)]
#[template(path = "filtering_sources.html")]
struct SourcesPage {
    layout: Layout,
    status: Option<crate::ListsStatus>,
    built: String,
    /// (name, readable name, domains, URL prefixes, expressions, illegal).
    categories: Vec<(String, String, u64, u64, u64, bool)>,
    runs: Vec<AuditRun>,
    can_update: bool,
    message: String,
    problem: String,
}

async fn sources_page(
    state: &AppState,
    user: &CurrentUser,
    status_code: StatusCode,
    message: String,
    problem: String,
) -> Result<Response, AppError> {
    let status = state.filter().and_then(|filter| filter.lists_status());
    let runs = audit_runs(state, user, "filtering.lists-update", 10).await?;
    let page = SourcesPage {
        layout: Layout::for_user(state, user, "Category lists").await,
        built: status
            .as_ref()
            .and_then(|s| s.built)
            .map(|at| local_time(state, at))
            .unwrap_or_default(),
        categories: status
            .as_ref()
            .map(|s| {
                s.categories
                    .iter()
                    .map(|(id, domains, urls, expressions, illegal)| {
                        (
                            id.clone(),
                            ward_policy::readable(id),
                            *domains,
                            *urls,
                            *expressions,
                            *illegal,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        status,
        runs,
        can_update: user.can(Permission::EditFiltering),
        message,
        problem,
    };
    Ok((status_code, axum::response::Html(page.render()?)).into_response())
}

/// `GET /filtering/sources`: the category lists in force, their sizes and when they were built,
/// and the updates.
pub async fn sources(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    sources_page(&state, &user, StatusCode::OK, String::new(), String::new()).await
}

/// `POST /filtering/sources`: rebuilds the lists from their source now (audited).
pub async fn update_sources(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let Some(filter) = state.filter().cloned() else {
        return sources_page(
            &state,
            &user,
            StatusCode::BAD_REQUEST,
            String::new(),
            "No filter runs with this console.".into(),
        )
        .await;
    };
    let outcome = tokio::task::spawn_blocking(move || filter.update_lists())
        .await
        .map_err(|error| AppError::Internal(format!("list update: {error}")))?;
    let (message, problem) = match outcome {
        Ok(message) => (message, String::new()),
        Err(crate::Refused(why)) => (String::new(), why),
    };
    user.record(
        state.store(),
        "filtering.lists-update",
        "lists",
        if problem.is_empty() {
            message.clone()
        } else {
            problem.clone()
        },
        None,
    )
    .await?;
    let code = if problem.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    sources_page(&state, &user, code, message, problem).await
}
