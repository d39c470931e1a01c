//! The URL tester.

use super::*;

/// Query of the URL tester.
#[derive(Debug, Default, Deserialize)]
pub struct TestQuery {
    #[serde(default)]
    site: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    at: String,
}

/// One step of the precedence as the tester shows it.
pub struct StepLine {
    title: &'static str,
    about: &'static str,
    /// `decided`, `passed` (considered, did not decide) or `not reached`.
    outcome: &'static str,
}

#[derive(Template)]
#[template(path = "filtering_test.html")]
struct TestPage {
    layout: Layout,
    query: TestQuery,
    groups: Vec<(String, String)>,
    answer: Option<crate::Explained>,
    /// The answer's categories as staff read them.
    categories: String,
    steps: Vec<StepLine>,
    when: String,
    who: String,
    problem: String,
}

/// `GET /filtering/test`: "would this be blocked, for whom, and why?" A site, a group or a
/// person, a time (now by default).
pub async fn test(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<TestQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    let version = in_force(&state, &user).await?;
    let spec = parse(&version)?;
    let groups = group_titles(&spec);
    let mut page = TestPage {
        layout: Layout::for_user(&state, &user, "URL tester").await,
        groups,
        answer: None,
        categories: String::new(),
        steps: Vec::new(),
        when: String::new(),
        who: String::new(),
        problem: String::new(),
        query,
    };
    if page.query.site.trim().is_empty() {
        return render(&page);
    }
    let zone = state.config().time_zone.clone();
    let at = match page.query.at.trim() {
        "" => jiff::Timestamp::now(),
        text => match text
            .parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|local| local.to_zoned_datetime(zone.clone()).ok())
        {
            Some(zoned) => zoned.timestamp(),
            None => {
                page.problem = format!("{text:?} is not a date and time.");
                return render(&page);
            }
        },
    };
    // A person: their group, and their name for nominated users and personal grants.
    let person = page.query.person.trim().to_owned();
    let (group, username) = if person.is_empty() {
        (page.query.group.trim().to_owned(), None)
    } else {
        match state
            .store()
            .person_by_username(user.account.school, &person)
            .await?
        {
            Some(found) => match found.group.clone() {
                Some(group) => {
                    page.who = format!("{} ({})", found.full_name(), found.username);
                    (group, Some(found.username))
                }
                None => {
                    page.problem = format!(
                        "{} is in no group: they browse as the unknown-client group.",
                        found.username
                    );
                    (spec.unknown_group.clone(), Some(found.username))
                }
            },
            None => {
                page.problem = format!("Nobody at the school has the username {person:?}.");
                return render(&page);
            }
        }
    };
    let Some(filter) = state.filter() else {
        page.problem = "No filter runs with this console, so nothing can be tested here.".into();
        return render(&page);
    };
    match filter.explain(&page.query.site, &group, username.as_deref(), at) {
        Ok(answer) => {
            page.steps = ward_policy::PRECEDENCE
                .iter()
                .enumerate()
                .map(|(i, (title, about))| StepLine {
                    title,
                    about,
                    outcome: match (i + 1).cmp(&answer.step) {
                        std::cmp::Ordering::Less => "passed",
                        std::cmp::Ordering::Equal => "decided",
                        std::cmp::Ordering::Greater => "not reached",
                    },
                })
                .collect();
            page.when = local_time(&state, at);
            page.categories = readable_categories(&answer.categories);
            page.answer = Some(answer);
        }
        Err(crate::Refused(why)) => page.problem = why,
    }
    render(&page)
}
