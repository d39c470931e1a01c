//! Log-in, log-out, password change, and who is asking ([`CurrentUser`]).
//!
//! Passwords are argon2id PHC strings. Sessions are a random 256-bit token in an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` when configured); the database keeps only its SHA-256. After
//! a few failed log-ins each further failure locks the account for a doubling time; an unknown
//! username costs the same time as a wrong password, so the two cannot be told apart.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;
use ward_store::{Account, LoginAttempt, NewAuditEntry, Session, Store, random_token, sha256_hex};

use crate::layout::Layout;
use crate::roles::{self, Permission};
use crate::{AppError, AppState};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ward_session";
/// The log-in form's CSRF cookie (double-submit: the form carries the same value).
pub const LOGIN_COOKIE: &str = "ward_login";
/// Longest password accepted (argon2 hashes anything, but a megabyte "password" is an attack).
pub const MAX_PASSWORD: usize = crate::passwords::MAX_LENGTH;

/// Hashes a password as an argon2id PHC string. CPU-heavy (tens of milliseconds): call it from
/// a blocking task.
pub fn hash_password(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| AppError::Internal(format!("password hashing: {error}")))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A password to hand out once (first start, reset): 20 hex digits in groups of five.
pub fn one_time_password() -> String {
    let token = random_token(10);
    token
        .as_bytes()
        .chunks(5)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// A hash of a random password, verified against when the username does not exist so that
/// the answer takes as long as for a real account.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token(16)).unwrap_or_default())
}

/// [`verify_password`] on a blocking thread.
pub async fn verify_blocking(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// [`hash_password`] on a blocking thread, so the runtime keeps serving while it works.
pub async fn hash_blocking(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|error| AppError::Internal(format!("password hashing task: {error}")))?
}

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

pub(crate) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age_seconds: i64,
) -> HeaderValue {
    let secure = if state.config().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}"
    );
    // The value is hex or empty and the name a constant, so the header is always valid.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""))
}

/// A logged-in session, found by the CSRF middleware and left in the request's extensions.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The session.
    pub session: Session,
    /// Its account.
    pub account: Account,
    /// SHA-256 of the cookie's token.
    pub token_hash: String,
}

/// Looks up the session a request's cookie names, if it is live and its account usable. A
/// database that fails is an error, not "logged out": staff should see that Ward has a problem,
/// not be sent to log in again.
pub async fn load_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SessionContext>, AppError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    if token.len() != 64 || !token.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let token_hash = sha256_hex(token.as_bytes());
    let store = state.store();
    let Some(session) = store.session(&token_hash, Timestamp::now()).await? else {
        return Ok(None);
    };
    let account = match store.account(session.school, session.account).await {
        Ok(account) => account,
        Err(ward_store::StoreError::NotFound(_)) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    if account.disabled {
        return Ok(None);
    }
    Ok(Some(SessionContext {
        session,
        account,
        token_hash,
    }))
}

/// The logged-in account making the request. Extracting it refuses requests without a live
/// session (to the log-in page) and, while a one-time password is in use, everything but the
/// password page.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The account.
    pub account: Account,
    /// The session.
    pub session: Session,
    /// SHA-256 of the session token.
    pub token_hash: String,
    /// The page asked for (its path), for the menu to mark where the user is.
    pub path: String,
}

impl CurrentUser {
    /// Refuses the request unless the account's roles carry `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Whether the account's roles carry `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        roles::allows(&self.account.roles, permission)
    }

    /// Writes an audit entry by this account in its school.
    pub async fn record(
        &self,
        store: &Store,
        action: &str,
        subject: &str,
        detail: String,
        reason: Option<String>,
    ) -> Result<(), ward_store::StoreError> {
        let entry = NewAuditEntry {
            actor: self.account.username.clone(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            detail,
            reason,
        };
        store
            .append_audit(self.account.school, &entry)
            .await
            .map(|_| ())
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<CurrentUser, AppError> {
        let path = parts.uri.path();
        let Some(context) = parts.extensions.get::<SessionContext>().cloned() else {
            let next = parts
                .uri
                .path_and_query()
                .map_or("/".to_owned(), |target| target.as_str().to_owned());
            return Err(AppError::LoginRequired { next });
        };
        if context.session.second_factor != ward_store::SecondFactor::Done
            && path != "/login/code"
            && path != "/logout"
        {
            return Err(AppError::SecondFactorRequired);
        }
        if context.account.must_change_password
            && context.session.second_factor == ward_store::SecondFactor::Done
            && path != "/account/password"
            && path != "/logout"
        {
            return Err(AppError::PasswordChangeRequired);
        }
        // The staff acceptable use agreement, once a school year, before anything else opens.
        if context.session.second_factor == ward_store::SecondFactor::Done
            && !context.account.must_change_password
            && !matches!(path, "/agreement" | "/logout")
            && crate::agreements::must_agree(state, &context.account).await?
        {
            let next = parts
                .uri
                .path_and_query()
                .map_or("/".to_owned(), |target| target.as_str().to_owned());
            return Err(AppError::AgreementRequired { next });
        }
        Ok(CurrentUser {
            account: context.account,
            session: context.session,
            token_hash: context.token_hash,
            path: path.to_owned(),
        })
    }
}

/// The client's address, where the server recorded it.
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<ClientAddress, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    /// The single sign-on button's provider and address, if one is set up.
    sso: Option<(String, String)>,
    next: String,
    username: String,
    message: String,
}

/// Query of the log-in page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

/// Only a path on this console is a safe place to return to after log-in: `/` followed by
/// printable ASCII only, never `//` or a backslash anywhere. Browsers drop tabs and line breaks
/// from a `Location` (`/\t/evil.example` is followed as `//evil.example`, another site) and
/// read `\` as `/`, and a control character cannot be sent in a header at all; anything of the
/// kind means the front page instead.
pub(crate) fn local_path(next: &str) -> String {
    let printable = next.bytes().all(|b| b.is_ascii_graphic());
    if printable
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.parse::<axum::http::uri::PathAndQuery>().is_ok()
    {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

pub(crate) fn login_form(
    state: &AppState,
    status: StatusCode,
    next: &str,
    username: &str,
    message: &str,
) -> Result<Response, AppError> {
    let token = random_token(32);
    let mut layout = Layout::bare("Log in");
    layout.csrf = token.clone();
    let page = LoginPage {
        layout,
        sso: state.config().sso.as_ref().map(|sso| {
            (
                sso.label().to_owned(),
                format!(
                    "/login/sso?{}",
                    serde_urlencoded::to_string([("next", local_path(next))]).unwrap_or_default()
                ),
            )
        }),
        next: local_path(next),
        username: username.to_owned(),
        message: message.to_owned(),
    };
    let mut response = (status, Html(page.render()?)).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_COOKIE, &token, 3600),
    );
    Ok(response)
}

/// `GET /login`.
pub async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    // Found by the CSRF middleware, which looks every request's session up once.
    session: Option<axum::Extension<SessionContext>>,
) -> Result<Response, AppError> {
    if session.is_some() {
        return Ok(Redirect::to(&local_path(&query.next)).into_response());
    }
    login_form(&state, StatusCode::OK, &query.next, "", "")
}

/// The log-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// The lock-out: failures allowed before each further one locks the account for a doubling
/// time, and the longest lock.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    /// Failures allowed before the first lock.
    pub free_attempts: i64,
    /// The longest lock.
    pub max_lock: jiff::SignedDuration,
}

/// The school's directory, for accounts it made (`[[directory.roles]]`): their password is
/// the directory's, checked by a bind as the user. Implemented by the binary.
pub trait DirectoryPasswords: Send + Sync + std::fmt::Debug + 'static {
    /// Whether `password` is the directory password of `username`.
    fn check<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>;
}

/// What a password check found.
#[derive(Debug)]
pub enum PasswordCheck {
    /// The password is right: the account, its failures cleared.
    Right(Account),
    /// Refused: an unknown or disabled account, a locked one, or a wrong password. One answer
    /// for all, in about the same time, so that it does not tell whether a username exists.
    Refused,
}

/// Checks a log-in's password, for the console and the proxy alike: the lock-out counted
/// atomically before the password is checked (of many attempts at once, those after the lock
/// are refused whatever their password), every failure on an account audited as
/// `failed_action` (`login.failed`, `proxy.login.failed`) with where it came from, and the
/// failure count cleared on success.
#[allow(clippy::too_many_arguments)]
pub async fn check_password(
    store: &Store,
    directory: Option<&dyn DirectoryPasswords>,
    username: &str,
    password: &str,
    lockout: Lockout,
    from: &str,
    failed_action: &str,
) -> Result<PasswordCheck, ward_store::StoreError> {
    let now = Timestamp::now();
    if password.len() > MAX_PASSWORD * 4 {
        return Ok(PasswordCheck::Refused);
    }
    let account = store.account_by_username(username).await?;
    let Some(account) = account.filter(|account| !account.disabled) else {
        verify_blocking(password.to_owned(), dummy_hash().to_owned()).await;
        tracing::info!(username = %username.chars().take(64).collect::<String>(), %from, "log-in with an unknown username");
        return Ok(PasswordCheck::Refused);
    };
    let audit = |detail: String| NewAuditEntry {
        actor: account.username.clone(),
        action: failed_action.to_owned(),
        subject: format!("account:{}", account.username),
        detail,
        reason: None,
    };
    let attempt = store
        .claim_login_attempt(account.id, now, lockout.free_attempts, lockout.max_lock)
        .await?;
    let failure = match attempt {
        LoginAttempt::Locked(until) => {
            verify_blocking(password.to_owned(), dummy_hash().to_owned()).await;
            store
                .append_audit(
                    account.school,
                    &audit(format!("from {from}; refused: locked until {until}")),
                )
                .await?;
            return Ok(PasswordCheck::Refused);
        }
        LoginAttempt::Counted(failure) => failure,
    };
    let right = if account.password_hash == ward_store::DIRECTORY_PASSWORD {
        // The directory's password; without the directory (an outage, or no longer
        // configured) nobody is let in by it. An empty password would be an anonymous bind.
        match directory {
            Some(directory) if !password.is_empty() => {
                directory.check(&account.username, password).await
            }
            _ => false,
        }
    } else {
        verify_blocking(password.to_owned(), account.password_hash.clone()).await
    };
    if !right {
        let detail = format!(
            "from {from}; {} failed in a row{}",
            failure.failed_logins,
            failure
                .locked_until
                .map_or(String::new(), |until| format!("; locked until {until}"))
        );
        store.append_audit(account.school, &audit(detail)).await?;
        // The failure that locks the account is told to the alert queue (once: later ones
        // while it is locked are refused above without counting).
        if let Some(until) = failure.locked_until
            && failure.failed_logins == lockout.free_attempts + 1
        {
            let locked = ward_store::LockedOut {
                user: &account.username,
                person: None,
                failed: failure.failed_logins,
                from,
                until,
            };
            store
                .raise_or_fold(
                    account.school,
                    &ward_store::NewAlert::locked_out(&locked),
                    ward_store::DEFAULT_ALERT_WINDOW,
                )
                .await?;
        }
        return Ok(PasswordCheck::Refused);
    }
    store.record_login_success(account.id).await?;
    Ok(PasswordCheck::Right(account))
}

/// `POST /login` (its CSRF cookie is checked by the middleware).
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<Response, AppError> {
    let store = state.store();
    let config = state.config();
    let from = address.map_or("an unknown address".to_owned(), |ip| ip.to_string());
    let refused = |message: &str| {
        login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            &form.next,
            &form.username,
            message,
        )
    };
    // One answer for every refusal (unknown account, wrong password, locked account), in about
    // the same time, so that none tells whether a username exists.
    let wrong = "That username and password do not match, or there have been too many tries: \
                 check them, wait a minute, and try again.";
    let lockout = Lockout {
        free_attempts: config.free_login_attempts,
        max_lock: config.max_lockout,
    };
    let account = match check_password(
        store,
        config.directory.as_deref(),
        &form.username,
        &form.password,
        lockout,
        &from,
        "login.failed",
    )
    .await?
    {
        PasswordCheck::Right(account) => account,
        PasswordCheck::Refused => return refused(wrong),
    };
    start_session(
        &state,
        account,
        &form.next,
        &from,
        format!("from {from}").as_str(),
    )
    .await
}

/// Opens a session for `account` after a right password or a trusted single sign-on: the
/// second factor still to come for the roles that need one, audited as `login` with `detail`,
/// and the browser sent on to `next` (or the code page, or the password change).
pub(crate) async fn start_session(
    state: &AppState,
    account: Account,
    next: &str,
    from: &str,
    detail: &str,
) -> Result<Response, AppError> {
    let store = state.store();
    let config = state.config();
    let now = Timestamp::now();
    let token = random_token(32);
    let token_hash = sha256_hex(token.as_bytes());
    // The roles that see pupils' data need a code from an authenticator app as well.
    let second_factor = if account.has_second_factor {
        ward_store::SecondFactor::Code
    } else if crate::totp::required_for(&account.roles, &config.second_factor_roles) {
        ward_store::SecondFactor::Enrol
    } else {
        ward_store::SecondFactor::Done
    };
    store
        .create_session(
            &account,
            &token_hash,
            &random_token(32),
            now,
            now + config.session_lifetime,
            second_factor,
        )
        .await?;
    store
        .append_audit(
            account.school,
            &NewAuditEntry {
                actor: account.username.clone(),
                action: "login".into(),
                subject: format!("account:{}", account.username),
                detail: if detail.starts_with("from ") {
                    detail.to_owned()
                } else {
                    format!("from {from}; {detail}")
                },
                reason: None,
            },
        )
        .await?;
    let target = if second_factor != ward_store::SecondFactor::Done {
        format!(
            "/login/code?{}",
            serde_urlencoded::to_string([("next", local_path(next))]).unwrap_or_default()
        )
    } else if account.must_change_password {
        "/account/password".to_owned()
    } else {
        local_path(next)
    };
    let mut response = Redirect::to(&target).into_response();
    let lifetime = config.session_lifetime.as_secs();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, &token, lifetime),
    );
    headers.append(header::SET_COOKIE, set_cookie(state, LOGIN_COOKIE, "", 0));
    Ok(response)
}

/// Ends `user`'s log-in and shows the log-in page with `message`.
pub(crate) async fn end_session(
    state: &AppState,
    user: &CurrentUser,
    message: &str,
) -> Result<Response, AppError> {
    state.store().delete_session(&user.token_hash).await?;
    let mut response = login_form(state, StatusCode::OK, "/", "", message)?;
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(state, SESSION_COOKIE, "", 0));
    Ok(response)
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    state.store().delete_session(&user.token_hash).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", 0),
    );
    Ok(response)
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    layout: Layout,
    forced: bool,
    message: String,
    /// The school's rules for staff passwords, in words.
    rules: Vec<String>,
    min_length: usize,
}

/// `GET /account/password`.
pub async fn password_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    if user.account.from_directory {
        return Err(AppError::BadRequest(
            "Your password is the school directory's: change it the way you change your network password.".into(),
        ));
    }
    let rules = &state.config().passwords.accounts;
    let page = PasswordPage {
        layout: Layout::for_user(&state, &user, "Change password").await,
        forced: user.account.must_change_password,
        message: String::new(),
        rules: rules.described(),
        min_length: rules.min_length,
    };
    Ok(Html(page.render()?).into_response())
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

/// `POST /account/password`.
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<PasswordForm>,
) -> Result<Response, AppError> {
    if user.account.from_directory {
        return Err(AppError::BadRequest(
            "Your password is the school directory's: change it the way you change your network password.".into(),
        ));
    }
    let rules = state.config().passwords.accounts.clone();
    let problem = if form.current.len() > MAX_PASSWORD * 4
        || !verify_blocking(form.current.clone(), user.account.password_hash.clone()).await
    {
        Some("The current password is not right.".to_owned())
    } else if form.new != form.confirm {
        Some("The new password and its confirmation differ.".to_owned())
    } else if form.new == form.current {
        Some("Choose a password different from the current one.".to_owned())
    } else {
        let names: Vec<&str> = user.account.display_name.split_whitespace().collect();
        rules.problem(&form.new, &user.account.username, &names)
    };
    if let Some(message) = problem {
        let page = PasswordPage {
            layout: Layout::for_user(&state, &user, "Change password").await,
            forced: user.account.must_change_password,
            message,
            rules: rules.described(),
            min_length: rules.min_length,
        };
        return Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
    }
    let hash = hash_blocking(form.new.clone()).await?;
    let store = state.store();
    store
        .set_password(
            user.account.school,
            user.account.id,
            &hash,
            false,
            jiff::Timestamp::now(),
        )
        .await?;
    store
        .delete_other_sessions(user.account.id, &user.token_hash)
        .await?;
    user.record(
        store,
        "account.password",
        &format!("account:{}", user.account.username),
        "changed own password; other sessions ended".into(),
        None,
    )
    .await?;
    Ok(Redirect::to("/").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn one_time_passwords_keep_the_staff_rules() {
        let rules = crate::passwords::PasswordRules::staff_default();
        let one_time = one_time_password();
        assert_eq!(one_time.len(), 23);
        assert_eq!(
            rules.problem(&one_time, "admin", &["Ward", "Administrator"]),
            None
        );
    }

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path("/people?kind=pupil"), "/people?kind=pupil");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example/"), "/");
        assert_eq!(local_path("https://evil.example/"), "/");
        for hostile in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\x0b/evil.example",
            "/ /evil.example",
            "/x\\..\\/evil.example",
            "/\u{a0}/evil.example",
            "",
        ] {
            assert_eq!(local_path(hostile), "/", "{hostile:?}");
        }
        assert_eq!(local_path("/alerts/3?tab=new"), "/alerts/3?tab=new");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ward_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
