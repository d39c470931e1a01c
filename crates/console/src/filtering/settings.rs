//! Filtering settings: per group, and for everyone.

use super::*;

/// A group's settings as the settings form sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSettings {
    /// The group's id.
    pub group: String,
    /// Safe search forced on.
    pub safe_search: bool,
    /// `strict`, `moderate` or `off`.
    pub youtube: String,
    /// `allow`, `block`, or empty for the group kind's default.
    pub ip_hosts: String,
    /// `allow` (categorised filtering) or `block` (a walled garden).
    pub uncategorised: String,
}

/// Sets the policy-wide settings (the unknown-client group, the DNS filter's answer for a
/// blocked name) and each group's, in the policy's text in place. A setting equal to the
/// built-in default is written only when the text already had it.
pub fn set_settings(
    text: &str,
    unknown_group: &str,
    dns_blocked: &str,
    groups: &[GroupSettings],
) -> Result<String, String> {
    let mut document = editable(text)?;
    let choose = |value: &str, allowed: &[&str], what: &str| {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err(format!("{value:?} is not a choice for {what}"))
        }
    };
    choose(dns_blocked, &["block-page", "nxdomain"], "the DNS answer")?;
    if document
        .get("unknown_group")
        .and_then(toml_edit::Item::as_str)
        != Some(unknown_group)
    {
        document["unknown_group"] = toml_edit::value(unknown_group);
    }
    let current_dns = document
        .get("dns")
        .and_then(|dns| dns.get("blocked"))
        .and_then(toml_edit::Item::as_str)
        .unwrap_or("block-page");
    if current_dns != dns_blocked {
        if document.get("dns").is_none() {
            document["dns"] = toml_edit::Item::Table(toml_edit::Table::new());
        }
        document["dns"]["blocked"] = toml_edit::value(dns_blocked);
    }
    let tables = document
        .get_mut("group")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or("the policy has no groups")?;
    for settings in groups {
        choose(&settings.youtube, &["strict", "moderate", "off"], "YouTube")?;
        choose(&settings.ip_hosts, &["", "allow", "block"], "addresses")?;
        choose(
            &settings.uncategorised,
            &["allow", "block"],
            "uncategorised sites",
        )?;
        let table = tables
            .iter_mut()
            .find(|t| {
                t.get("id").and_then(toml_edit::Item::as_str) == Some(settings.group.as_str())
            })
            .ok_or_else(|| format!("the policy has no group {:?}", settings.group))?;
        let set_bool = |table: &mut toml_edit::Table, key: &str, value: bool, default: bool| {
            let now = table
                .get(key)
                .and_then(toml_edit::Item::as_bool)
                .unwrap_or(default);
            if now != value {
                table[key] = toml_edit::value(value);
            }
        };
        let set_text = |table: &mut toml_edit::Table, key: &str, value: &str, default: &str| {
            let now = table
                .get(key)
                .and_then(toml_edit::Item::as_str)
                .unwrap_or(default)
                .to_owned();
            if value.is_empty() {
                table.remove(key);
            } else if now != value {
                table[key] = toml_edit::value(value);
            }
        };
        set_bool(table, "safe_search", settings.safe_search, true);
        set_text(table, "youtube", &settings.youtube, "strict");
        set_text(table, "ip_hosts", &settings.ip_hosts, "");
        set_text(table, "uncategorised", &settings.uncategorised, "allow");
    }
    Ok(document.to_string())
}

/// Sets each pupil group's year groups, which groups' HTTPS is never decrypted, and the
/// categories never decrypted, in the policy's text in place (unchanged values unwritten).
pub fn set_group_details(
    text: &str,
    years: &[(String, Vec<String>)],
    not_inspected: &[String],
    never_inspect: &[String],
) -> Result<String, String> {
    let mut document = editable(text)?;
    let word = |w: &String| {
        !w.is_empty()
            && w.len() <= 40
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let array = |items: &[String]| {
        let mut array = toml_edit::Array::new();
        for item in items {
            array.push(item.as_str());
        }
        toml_edit::value(array)
    };
    let current = |item: Option<&toml_edit::Item>| -> Option<Vec<String>> {
        item.and_then(toml_edit::Item::as_array).map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
    };
    {
        let tables = document
            .get_mut("group")
            .and_then(toml_edit::Item::as_array_of_tables_mut)
            .ok_or("the policy has no groups")?;
        for (group, wanted) in years {
            if let Some(bad) = wanted.iter().find(|y| !word(y)) {
                return Err(format!("{bad:?} is not a year group (N, R, 1 to 13)"));
            }
            let table = tables
                .iter_mut()
                .find(|t| t.get("id").and_then(toml_edit::Item::as_str) == Some(group.as_str()))
                .ok_or_else(|| format!("the policy has no group {group:?}"))?;
            if current(table.get("years")).unwrap_or_default() != *wanted {
                if wanted.is_empty() {
                    table.remove("years");
                } else {
                    table["years"] = array(wanted);
                }
            }
        }
    }
    for list in [not_inspected, never_inspect] {
        if let Some(bad) = list.iter().find(|w| !word(w)) {
            return Err(format!("{bad:?} is not a group or category id"));
        }
    }
    let proxy_now = document.get("proxy");
    let never_now = current(proxy_now.and_then(|p| p.get("never_inspect")))
        .unwrap_or_else(|| vec!["bank".to_owned()]);
    let groups_now =
        current(proxy_now.and_then(|p| p.get("groups_not_inspected"))).unwrap_or_default();
    if never_now != never_inspect || groups_now != not_inspected {
        if document.get("proxy").is_none() {
            document["proxy"] = toml_edit::Item::Table(toml_edit::Table::new());
        }
        if never_now != never_inspect {
            document["proxy"]["never_inspect"] = array(never_inspect);
        }
        if groups_now != not_inspected {
            document["proxy"]["groups_not_inspected"] = array(not_inspected);
        }
    }
    Ok(document.to_string())
}

/// A group's settings as the page shows them.
pub struct SettingsLine {
    id: String,
    title: String,
    pupils: bool,
    years: String,
    decrypted: bool,
    safe_search: bool,
    youtube: String,
    ip_hosts: String,
    uncategorised: String,
}

#[derive(Template)]
#[template(path = "filtering_settings.html")]
struct SettingsPage {
    layout: Layout,
    never_inspect: String,
    unknown_group: String,
    dns_blocked: String,
    groups: Vec<SettingsLine>,
    can_edit: bool,
    problem: String,
}

fn settings_lines(spec: &PolicySpec) -> Vec<SettingsLine> {
    spec.groups
        .iter()
        .map(|g| SettingsLine {
            id: g.id.clone(),
            title: g.title.clone(),
            pupils: g.kind == ward_policy::GroupKind::Pupil,
            years: g.years.join(", "),
            decrypted: !spec.proxy.groups_not_inspected.contains(&g.id),
            safe_search: g.safe_search,
            youtube: match g.youtube {
                ward_policy::YouTubeMode::Strict => "strict",
                ward_policy::YouTubeMode::Moderate => "moderate",
                ward_policy::YouTubeMode::Off => "off",
            }
            .to_owned(),
            ip_hosts: match g.ip_hosts {
                None => "",
                Some(ward_policy::Fallback::Allow) => "allow",
                Some(ward_policy::Fallback::Block) => "block",
            }
            .to_owned(),
            uncategorised: match g.uncategorised {
                ward_policy::Fallback::Allow => "allow",
                ward_policy::Fallback::Block => "block",
            }
            .to_owned(),
        })
        .collect()
}

async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    problem: String,
) -> Result<Response, AppError> {
    let version = in_force(state, user).await?;
    let spec = parse(&version)?;
    let page = SettingsPage {
        layout: Layout::for_user(state, user, "Filtering settings").await,
        never_inspect: spec.proxy.never_inspect.join(", "),
        unknown_group: spec.unknown_group.clone(),
        dns_blocked: match spec.dns.blocked {
            ward_policy::BlockedAnswer::BlockPage => "block-page",
            ward_policy::BlockedAnswer::Nxdomain => "nxdomain",
        }
        .to_owned(),
        groups: settings_lines(&spec),
        can_edit: user.can(Permission::EditFiltering),
        problem,
    };
    Ok((status, axum::response::Html(page.render()?)).into_response())
}

/// `GET /filtering/settings`: each group's safe search, YouTube, addresses and uncategorised
/// sites; the unknown-client group; the DNS filter's answer for blocked names.
pub async fn settings(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    settings_page(&state, &user, StatusCode::OK, String::new()).await
}

/// `POST /filtering/settings`: the settings, with a reason, as a new version.
pub async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let version = in_force(&state, &user).await?;
    let spec = parse(&version)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    };
    let unknown = field("unknown_group");
    if !spec.groups.iter().any(|g| g.id == unknown) {
        return settings_page(
            &state,
            &user,
            StatusCode::BAD_REQUEST,
            format!("The policy has no group {unknown:?}."),
        )
        .await;
    }
    let groups: Vec<GroupSettings> = spec
        .groups
        .iter()
        .map(|g| GroupSettings {
            group: g.id.clone(),
            safe_search: field(&format!("safe_search_{}", g.id)) == "on",
            youtube: field(&format!("youtube_{}", g.id)).to_owned(),
            ip_hosts: field(&format!("ip_hosts_{}", g.id)).to_owned(),
            uncategorised: field(&format!("uncategorised_{}", g.id)).to_owned(),
        })
        .collect();
    let list = |text: &str| -> Vec<String> {
        text.split(',')
            .map(|item| item.trim().to_owned())
            .filter(|item| !item.is_empty())
            .collect()
    };
    let years: Vec<(String, Vec<String>)> = spec
        .groups
        .iter()
        .filter(|g| g.kind == ward_policy::GroupKind::Pupil)
        .map(|g| (g.id.clone(), list(field(&format!("years_{}", g.id)))))
        .collect();
    let not_inspected: Vec<String> = spec
        .groups
        .iter()
        .filter(|g| field(&format!("decrypt_{}", g.id)) != "on")
        .map(|g| g.id.clone())
        .collect();
    let text =
        match set_settings(&version.text, unknown, field("dns_blocked"), &groups).and_then(|text| {
            set_group_details(&text, &years, &not_inspected, &list(field("never_inspect")))
        }) {
            Ok(text) => text,
            Err(problem) => {
                return settings_page(&state, &user, StatusCode::BAD_REQUEST, problem).await;
            }
        };
    if text == version.text {
        return settings_page(
            &state,
            &user,
            StatusCode::BAD_REQUEST,
            "Nothing was changed.".into(),
        )
        .await;
    }
    let before = settings_lines(&spec);
    let after = settings_lines(
        &PolicySpec::from_toml(&text).map_err(|e| AppError::Internal(e.to_string()))?,
    );
    let mut what: Vec<String> = Vec::new();
    if unknown != spec.unknown_group {
        what.push(format!("unknown clients: {unknown}"));
    }
    for (b, a) in before.iter().zip(&after) {
        if b.safe_search != a.safe_search {
            what.push(format!(
                "{} safe search {}",
                a.id,
                if a.safe_search { "on" } else { "off" }
            ));
        }
        if b.youtube != a.youtube {
            what.push(format!("{} YouTube {}", a.id, a.youtube));
        }
        if b.ip_hosts != a.ip_hosts {
            what.push(format!(
                "{} addresses {}",
                a.id,
                if a.ip_hosts.is_empty() {
                    "default"
                } else {
                    &a.ip_hosts
                }
            ));
        }
        if b.uncategorised != a.uncategorised {
            what.push(format!("{} uncategorised {}", a.id, a.uncategorised));
        }
        if b.years != a.years {
            what.push(format!("{} years {}", a.id, a.years));
        }
        if b.decrypted != a.decrypted {
            what.push(format!(
                "{} HTTPS {}",
                a.id,
                if a.decrypted {
                    "inspected"
                } else {
                    "never decrypted"
                }
            ));
        }
    }
    if what.is_empty() {
        what.push(format!(
            "DNS answer {}; categories never decrypted {}",
            field("dns_blocked"),
            field("never_inspect")
        ));
    }
    match save_version(
        &state,
        &user,
        &text,
        PolicySource::Console,
        field("reason"),
        &format!("settings: {}", what.join("; ")),
    )
    .await?
    {
        Ok(number) => Ok(Redirect::to(&format!("/filtering?saved={number}")).into_response()),
        Err(problem) => settings_page(&state, &user, StatusCode::BAD_REQUEST, problem).await,
    }
}
