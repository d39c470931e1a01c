//! "Sign in with Microsoft / Google" for staff at the console (OpenID Connect, the
//! authorization code flow with PKCE; issue 24). `ward-oidc` decides whether the provider's
//! answer is trusted; this module does the round trip: the request (its state kept once, by
//! hash, for ten minutes), the code exchanged for an ID token at the provider's token endpoint,
//! and the account found by its email address. The rest of a log-in is the password's: the
//! same session, the same second factor for the roles that need one, the same audit. Local
//! accounts and passwords stay (the first administrator, and break-glass use).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use ward_oidc::Pkce;
use ward_store::{random_token, sha256_hex};

use crate::auth::ClientAddress;
use crate::{AppError, AppState};

/// How long a sign-in may take at the provider.
const SIGN_IN_TIME: SignedDuration = SignedDuration::from_mins(10);
/// A provider's settings, as the configuration names them.
pub use ward_oidc::client::Settings as SsoSettings;

/// Single sign-on with one provider.
#[derive(Debug)]
pub struct Sso {
    provider: Arc<ward_oidc::client::Provider>,
}

impl Sso {
    /// Single sign-on with `settings`.
    pub fn new(settings: SsoSettings) -> Arc<Sso> {
        Arc::new(Sso {
            provider: Arc::new(ward_oidc::client::Provider::new(settings)),
        })
    }

    /// What the log-in page's button says.
    pub fn label(&self) -> &str {
        self.provider.label()
    }
}

/// Where the provider sends the browser back: this console, as the browser reached it.
fn redirect_uri(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.config().secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}/login/sso/callback")
}

/// Query of `/login/sso`.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    next: String,
}

/// `GET /login/sso`: sends the browser to the provider.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<StartQuery>,
) -> Result<Response, AppError> {
    let Some(sso) = state.config().sso.clone() else {
        return Err(AppError::NotFound);
    };
    let state_token = random_token(24);
    let nonce = random_token(24);
    let random: [u8; 32] = hex_bytes(&random_token(32));
    let pkce = Pkce::from_random(&random);
    state
        .store()
        .create_sso_state(
            &sha256_hex(state_token.as_bytes()),
            &nonce,
            &pkce.verifier,
            &crate::auth::local_path(&query.next),
            Timestamp::now() + SIGN_IN_TIME,
        )
        .await?;
    let provider = Arc::clone(&sso.provider);
    let redirect = redirect_uri(&state, &headers);
    let url = tokio::task::spawn_blocking(move || {
        provider.authorization_url(&redirect, &state_token, &nonce, &pkce)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    match url {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(error) => {
            tracing::error!(%error, "cannot read the sign-in provider");
            refused(
                &state,
                StatusCode::BAD_GATEWAY,
                "The sign-in service cannot be reached just now. Try again, or use your Ward password.",
            )
        }
    }
}

fn hex_bytes(hex: &str) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0);
    }
    bytes
}

/// Query of the callback.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

fn refused(state: &AppState, status: StatusCode, message: &str) -> Result<Response, AppError> {
    crate::auth::login_form(state, status, "/", "", message)
}

/// `GET /login/sso/callback`: the provider's answer, checked; then a log-in as with a password.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let Some(sso) = state.config().sso.clone() else {
        return Err(AppError::NotFound);
    };
    let store = state.store();
    let now = Timestamp::now();
    let from = address.map_or("an unknown address".to_owned(), |ip| ip.to_string());
    // Taken once: a replayed or forged state finds nothing.
    let Some((nonce, verifier, next)) = store
        .take_sso_state(&sha256_hex(query.state.as_bytes()), now)
        .await?
    else {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "That sign-in link has been used already or is too old. Start again with the button below.",
        );
    };
    if !query.error.is_empty() || query.code.is_empty() {
        return refused(
            &state,
            StatusCode::UNAUTHORIZED,
            "The sign-in service did not sign you in.",
        );
    }
    let provider = Arc::clone(&sso.provider);
    let redirect = redirect_uri(&state, &headers);
    let code = query.code.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        provider.finish(&redirect, &code, &verifier, &nonce, now)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let identity = match outcome {
        Ok(identity) => identity,
        Err(why) => {
            tracing::warn!(%why, %from, "a single sign-on was refused");
            return refused(
                &state,
                StatusCode::UNAUTHORIZED,
                "That sign-in could not be accepted. Try again, or use your Ward password.",
            );
        }
    };
    let account = store
        .account_by_email(&identity.email)
        .await?
        .filter(|account| !account.disabled);
    let Some(account) = account else {
        return refused(
            &state,
            StatusCode::FORBIDDEN,
            &format!(
                "No Ward account has the address {}. Ask whoever manages Ward's accounts to add it to yours.",
                identity.email
            ),
        );
    };
    crate::auth::start_session(
        &state,
        account,
        &next,
        &from,
        &format!("signed in with {} as {}", sso.label(), identity.email),
    )
    .await
}
