//! Accounts: roles, one-time passwords; who may grant which role.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use ward_store::{AccountId, NewAccount, Role, Roles};

use crate::auth::{CurrentUser, hash_blocking, one_time_password};
use crate::layout::{Layout, render};
use crate::roles::{Permission, may_grant};
use crate::{AppError, AppState};

/// An account as the list shows it.
pub struct AccountLine {
    id: AccountId,
    username: String,
    display_name: String,
    roles: Vec<(Role, bool)>,
    locked: bool,
    must_change: bool,
    has_code: bool,
    email: String,
    /// Made by the directory: roles from its groups, password its own.
    from_directory: bool,
    /// Disabled (a directory account whose groups no longer give a role).
    disabled: bool,
    /// The classes it teaches, comma-separated (a teacher reads their consent).
    classes: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    layout: Layout,
    accounts: Vec<AccountLine>,
    grantable: Vec<Role>,
    created: Option<(String, String)>,
}

async fn accounts_page(
    state: &AppState,
    user: &CurrentUser,
    created: Option<(String, String)>,
) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let school = user.account.school;
    let accounts = state.store().accounts(school).await?;
    let mut classes = Vec::with_capacity(accounts.len());
    for account in &accounts {
        classes.push(
            state
                .store()
                .account_classes(school, account.id)
                .await?
                .join(", "),
        );
    }
    let page = AccountsPage {
        layout: Layout::for_user(state, user, "Accounts").await,
        accounts: accounts
            .into_iter()
            .zip(classes)
            .map(|(account, classes)| AccountLine {
                classes,
                id: account.id,
                roles: Role::ALL
                    .into_iter()
                    .map(|role| (role, account.roles.has(role)))
                    .collect(),
                username: account.username,
                display_name: account.display_name,
                locked: account.locked_until.is_some_and(|until| until > now),
                must_change: account.must_change_password,
                has_code: account.has_second_factor,
                email: account.email.clone().unwrap_or_default(),
                from_directory: account.from_directory,
                disabled: account.disabled,
            })
            .collect(),
        grantable: Role::ALL
            .into_iter()
            .filter(|role| may_grant(&user.account.roles, *role))
            .collect(),
        created,
    };
    render(&page)
}

/// `GET /accounts`.
pub async fn accounts(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    accounts_page(&state, &user, None).await
}

fn roles_from_form(fields: &[(String, String)]) -> Result<Roles, AppError> {
    fields
        .iter()
        .filter(|(key, _)| key == "roles")
        .map(|(_, value)| value.parse::<Role>().map_err(AppError::from))
        .collect::<Result<Vec<_>, _>>()
        .map(Roles::new)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.trim())
}

/// `POST /accounts`: creates an account with a one-time password, shown once.
pub async fn create_account(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    let roles = roles_from_form(&fields)?;
    if let Some(role) = roles
        .iter()
        .find(|role| !may_grant(&user.account.roles, *role))
    {
        return Err(AppError::BadRequest(format!(
            "Your roles do not allow giving the {} role.",
            role.label()
        )));
    }
    let username = field(&fields, "username").to_owned();
    let display_name = match field(&fields, "display_name") {
        "" => username.clone(),
        name => name.to_owned(),
    };
    let password = one_time_password();
    let hash = hash_blocking(password.clone()).await?;
    let store = state.store();
    store
        .create_account(
            user.account.school,
            &NewAccount {
                username: username.clone(),
                display_name,
                roles: roles.clone(),
                password_hash: hash,
                must_change_password: true,
            },
        )
        .await?;
    user.record(
        store,
        "account.create",
        &format!("account:{}", username.to_lowercase()),
        format!("roles {roles}"),
        None,
    )
    .await?;
    accounts_page(&state, &user, Some((username.to_lowercase(), password))).await
}

/// `POST /accounts/{id}/roles`.
pub async fn set_roles(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    let store = state.store();
    let account = store.account(user.account.school, AccountId(id)).await?;
    if account.from_directory {
        return Err(AppError::BadRequest(
            "This account's roles come from the school directory's groups: change its groups there.".into(),
        ));
    }
    let roles = roles_from_form(&fields)?;
    // Adding or removing a role both need the right to give it.
    let changed = Role::ALL
        .into_iter()
        .filter(|role| roles.has(*role) != account.roles.has(*role));
    for role in changed {
        if !may_grant(&user.account.roles, role) {
            return Err(AppError::BadRequest(format!(
                "Your roles do not allow giving or removing the {} role.",
                role.label()
            )));
        }
    }
    store
        .set_roles(user.account.school, account.id, &roles)
        .await?;
    user.record(
        store,
        "account.roles",
        &format!("account:{}", account.username),
        format!("from {} to {roles}", account.roles),
        None,
    )
    .await?;
    Ok(Redirect::to("/accounts").into_response())
}

/// Account `id` of the user's school, if the user may grant every role it has (so may reset
/// `what` of it).
async fn manageable(
    store: &ward_store::Store,
    user: &CurrentUser,
    id: i64,
    what: &str,
) -> Result<ward_store::Account, AppError> {
    let account = store.account(user.account.school, AccountId(id)).await?;
    if account.from_directory && what == "the password" {
        return Err(AppError::BadRequest(
            "This account's password is the school directory's: reset it there.".into(),
        ));
    }
    if let Some(role) = account
        .roles
        .iter()
        .find(|role| !may_grant(&user.account.roles, *role))
    {
        return Err(AppError::BadRequest(format!(
            "Your roles do not allow resetting {what} of a {} account.",
            role.label()
        )));
    }
    Ok(account)
}

/// `POST /accounts/{id}/reset-password`: a new one-time password, shown once; also unlocks.
pub async fn reset_password(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    let store = state.store();
    let account = manageable(store, &user, id, "the password").await?;
    let password = one_time_password();
    let hash = hash_blocking(password.clone()).await?;
    store
        .set_password(
            user.account.school,
            account.id,
            &hash,
            true,
            jiff::Timestamp::now(),
        )
        .await?;
    store.delete_other_sessions(account.id, "").await?;
    user.record(
        store,
        "account.reset_password",
        &format!("account:{}", account.username),
        "one-time password issued; sessions ended".into(),
        None,
    )
    .await?;
    accounts_page(&state, &user, Some((account.username, password))).await
}

/// `POST /accounts/{id}/reset-code`: removes an account's sign-in code (a lost or replaced
/// phone); it sets up a new one at its next log-in. Its sessions end.
pub async fn reset_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    let store = state.store();
    let account = manageable(store, &user, id, "the sign-in code").await?;
    store.set_totp_secret(account.id, None).await?;
    store.set_pending_totp_secret(account.id, None).await?;
    store.delete_other_sessions(account.id, "").await?;
    user.record(
        store,
        "account.reset_second_factor",
        &format!("account:{}", account.username),
        "sign-in code removed; sessions ended".into(),
        None,
    )
    .await?;
    Ok(Redirect::to("/accounts").into_response())
}

/// The email form.
#[derive(Debug, serde::Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

/// `POST /accounts/{id}/email`: the address single sign-on finds the account by (empty: none).
pub async fn set_email(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<EmailForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    let store = state.store();
    let account = manageable(store, &user, id, "the email address").await?;
    let email = form.email.trim();
    if !email.is_empty() && (!email.contains('@') || email.chars().any(char::is_whitespace)) {
        return Err(AppError::BadRequest(format!(
            "{email:?} is not an email address."
        )));
    }
    store
        .set_account_email(account.id, (!email.is_empty()).then_some(email))
        .await?;
    user.record(
        store,
        "account.email",
        &format!("account:{}", account.username),
        if email.is_empty() {
            "removed".into()
        } else {
            format!("set to {}", email.to_lowercase())
        },
        None,
    )
    .await?;
    Ok(Redirect::to("/accounts").into_response())
}

/// The classes form.
#[derive(Debug, serde::Deserialize)]
pub struct ClassesForm {
    #[serde(default)]
    classes: String,
}

/// `POST /accounts/{id}/classes`: the classes a member of staff teaches (comma-separated).
pub async fn set_classes(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<ClassesForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    let store = state.store();
    let account = store.account(user.account.school, AccountId(id)).await?;
    let classes: Vec<String> = form
        .classes
        .split(',')
        .map(str::trim)
        .filter(|class| !class.is_empty())
        .map(str::to_owned)
        .collect();
    store
        .set_account_classes(user.account.school, account.id, &classes)
        .await?;
    user.record(
        store,
        "account.classes",
        &format!("account:{}", account.username),
        format!(
            "teaches {}",
            if classes.is_empty() {
                "no class".to_owned()
            } else {
                classes.join(", ")
            }
        ),
        None,
    )
    .await?;
    Ok(Redirect::to("/accounts").into_response())
}
