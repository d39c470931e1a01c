//! The filtering self-test.

use super::*;

#[derive(Template)]
#[template(path = "filtering_self_test.html")]
struct SelfTestPage {
    layout: Layout,
    result: Option<crate::SelfTest>,
    summary: String,
    runs: Vec<AuditRun>,
    can_run: bool,
    problem: String,
}

async fn self_test_page(
    state: &AppState,
    user: &CurrentUser,
    result: Option<crate::SelfTest>,
    summary: String,
    problem: String,
) -> Result<Response, AppError> {
    let runs = audit_runs(state, user, "filtering.self-test", 20).await?;
    let page = SelfTestPage {
        layout: Layout::for_user(state, user, "Filtering self-test").await,
        result,
        summary,
        runs,
        can_run: user.can(Permission::EditFiltering),
        problem,
    };
    render(&page)
}

/// `GET /filtering/self-test`: the self-test's earlier runs (kept in the audit log: evidence
/// for the annual review).
pub async fn self_test(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    self_test_page(&state, &user, None, String::new(), String::new()).await
}

/// `POST /filtering/self-test`: runs it now, and records the result with the date.
pub async fn run_self_test(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let Some(filter) = state.filter().cloned() else {
        return self_test_page(
            &state,
            &user,
            None,
            String::new(),
            "No filter runs with this console, so nothing can be tested here.".into(),
        )
        .await;
    };
    let outcome = tokio::task::spawn_blocking(move || filter.self_test())
        .await
        .map_err(|error| AppError::Internal(format!("self-test: {error}")))?;
    let mut result = match outcome {
        Ok(result) => result,
        Err(crate::Refused(why)) => {
            return self_test_page(&state, &user, None, String::new(), why).await;
        }
    };
    result.version = state
        .store()
        .latest_policy_number(user.account.school)
        .await?;
    let count = |outcome: &str| result.lines.iter().filter(|l| l.outcome == outcome).count();
    let summary = format!(
        "policy version {}: {} passed, {} failed, {} not tested",
        result.version.map_or("?".to_owned(), |n| n.to_string()),
        count("passed"),
        count("failed"),
        count("not tested")
    );
    let mut detail = summary.clone();
    for line in result.lines.iter().filter(|l| l.outcome != "passed") {
        detail.push_str(&format!(
            "\n{}: {} for {}: {}",
            line.outcome, line.check, line.who, line.detail
        ));
    }
    user.record(state.store(), "filtering.self-test", "policy", detail, None)
        .await?;
    self_test_page(&state, &user, Some(result), summary, String::new()).await
}
