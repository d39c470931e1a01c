//! Versions: the list, two compared, an old one restored, the change log as CSV.

use super::*;

/// A version as the list shows it.
pub struct VersionLine {
    number: i64,
    when: String,
    author: String,
    source: &'static str,
    reason: String,
    added: usize,
    removed: usize,
}

#[derive(Template)]
#[template(path = "filtering_versions.html")]
struct VersionsPage {
    layout: Layout,
    versions: Vec<VersionLine>,
    can_edit: bool,
    problem: String,
}

fn version_lines(state: &AppState, versions: &[PolicyVersion]) -> Vec<VersionLine> {
    versions
        .iter()
        .enumerate()
        .map(|(i, version)| {
            let (added, removed) = versions.get(i + 1).map_or((0, 0), |before| {
                let diff = diff_lines(&before.text, &version.text);
                (
                    diff.iter().filter(|l| l.change == '+').count(),
                    diff.iter().filter(|l| l.change == '-').count(),
                )
            });
            VersionLine {
                number: version.number,
                when: local_time(state, version.created_at),
                author: version.author.clone(),
                source: version.source.label(),
                reason: version.reason.clone(),
                added,
                removed,
            }
        })
        .collect()
}

/// `GET /filtering/versions`.
pub async fn versions(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    versions_page(&state, &user, StatusCode::OK, String::new()).await
}

async fn versions_page(
    state: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    problem: String,
) -> Result<Response, AppError> {
    let versions = state.store().policy_versions(user.account.school).await?;
    let page = VersionsPage {
        layout: Layout::for_user(state, user, "Filtering versions").await,
        versions: version_lines(state, &versions),
        can_edit: user.can(Permission::EditFiltering),
        problem,
    };
    Ok((status, axum::response::Html(page.render()?)).into_response())
}

/// One line of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// `+` added, `-` removed, ` ` the same.
    pub change: char,
    /// The line.
    pub text: String,
}

/// The lines that differ between `before` and `after`, with a few the same around each
/// change (the longest common subsequence of what lies between the common start and end).
pub fn diff_lines(before: &str, after: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let start = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let end = a[start..]
        .iter()
        .rev()
        .zip(b[start..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (middle_a, middle_b) = (&a[start..a.len() - end], &b[start..b.len() - end]);
    let mut out: Vec<DiffLine> = Vec::new();
    let line = |change: char, text: &str| DiffLine {
        change,
        text: text.to_owned(),
    };
    for text in &a[start.saturating_sub(3)..start] {
        out.push(line(' ', text));
    }
    if middle_a.len().saturating_mul(middle_b.len()) > 4_000_000 {
        // Too large to compare line by line: all of one, then all of the other.
        out.extend(middle_a.iter().map(|t| line('-', t)));
        out.extend(middle_b.iter().map(|t| line('+', t)));
    } else {
        let (n, m) = (middle_a.len(), middle_b.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * (m + 1) + j] = if middle_a[i] == middle_b[j] {
                    lcs[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && middle_a[i] == middle_b[j] {
                out.push(line(' ', middle_a[i]));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
                // What was removed is shown before what replaced it.
                out.push(line('-', middle_a[i]));
                i += 1;
            } else {
                out.push(line('+', middle_b[j]));
                j += 1;
            }
        }
    }
    for text in a[a.len() - end..].iter().take(3) {
        out.push(line(' ', text));
    }
    out
}

#[derive(Template)]
#[template(path = "filtering_compare.html")]
struct ComparePage {
    layout: Layout,
    before: PolicyVersion,
    after: PolicyVersion,
    lines: Vec<DiffLine>,
}

/// Query of a comparison.
#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    a: i64,
    b: i64,
}

/// `GET /filtering/compare?a=N&b=M`: two versions, line by line.
pub async fn compare(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<CompareQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    let store = state.store();
    let (first, second) = (query.a.min(query.b), query.a.max(query.b));
    let before = store.policy_version(user.account.school, first).await?;
    let after = store.policy_version(user.account.school, second).await?;
    let page = ComparePage {
        layout: Layout::for_user(&state, &user, "Compare versions").await,
        lines: diff_lines(&before.text, &after.text),
        before,
        after,
    };
    render(&page)
}

/// The restore form.
#[derive(Debug, Deserialize)]
pub struct RestoreForm {
    #[serde(default)]
    reason: String,
}

/// `POST /filtering/versions/{n}/restore`: an old version, as a new one.
pub async fn restore(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(number): Path<i64>,
    axum::Form(form): axum::Form<RestoreForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let old = state
        .store()
        .policy_version(user.account.school, number)
        .await?;
    let what = format!("version {number} restored");
    match save_version(
        &state,
        &user,
        &old.text,
        PolicySource::Restore,
        &form.reason,
        &what,
    )
    .await?
    {
        Ok(saved) => Ok(Redirect::to(&format!("/filtering?saved={saved}")).into_response()),
        Err(problem) => versions_page(&state, &user, StatusCode::BAD_REQUEST, problem).await,
    }
}

/// `GET /filtering/log.csv`: the filter-change log (G2): every version with when, who, from
/// where, why, and how many lines it changed.
pub async fn log_csv(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    let versions = state.store().policy_versions(user.account.school).await?;
    let mut csv = String::from("version,date,by,from,reason,lines added,lines removed\r\n");
    for line in version_lines(&state, &versions) {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{}\r\n",
            line.number,
            csv_field(&line.when),
            csv_field(&line.author),
            csv_field(line.source),
            csv_field(&line.reason),
            line.added,
            line.removed
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"filter-change-log.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

/// A CSV field (see [`crate::csv::field`]).
pub(super) fn csv_field(text: &str) -> String {
    crate::csv::field(text)
}
