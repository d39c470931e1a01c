//! "Sign in with Microsoft / Google" for staff at the console (OpenID Connect, the
//! authorization code flow with PKCE; issue 24). `ward-oidc` decides whether the provider's
//! answer is trusted; this module does the round trip: the request (its state kept once, by
//! hash, for ten minutes), the code exchanged for an ID token at the provider's token endpoint,
//! and the account found by its email address. The rest of a log-in is the password's: the
//! same session, the same second factor for the roles that need one, the same audit. Local
//! accounts and passwords stay (the first administrator, and break-glass use).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use ward_oidc::{Discovery, Expected, Keys, Pkce};
use ward_store::{random_token, sha256_hex};

use crate::auth::ClientAddress;
use crate::{AppError, AppState};

/// How long a sign-in may take at the provider.
const SIGN_IN_TIME: SignedDuration = SignedDuration::from_mins(10);
/// How long the provider's discovery document and keys are kept before being read again.
const PROVIDER_TIME: Duration = Duration::from_secs(3600);
/// The longest a request to the provider may take.
const HTTP_TIME: Duration = Duration::from_secs(10);

/// A provider, as the configuration names it.
#[derive(Clone)]
pub struct SsoSettings {
    /// The issuer (`https://login.microsoftonline.com/TENANT/v2.0`, `https://accounts.google.com`).
    pub issuer: String,
    /// Ward's client id there.
    pub client_id: String,
    /// Ward's client secret there (never shown by `Debug`).
    pub client_secret: String,
    /// Email domains whose accounts may sign in (`park-end.sch.uk`); empty: any.
    pub domains: Vec<String>,
    /// What the button says after "Sign in with" (`Microsoft`).
    pub label: String,
}

impl std::fmt::Debug for SsoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"(secret)")
            .field("domains", &self.domains)
            .field("label", &self.label)
            .finish()
    }
}

/// A provider and what Ward last read of it.
#[derive(Debug)]
pub struct Sso {
    settings: SsoSettings,
    provider: tokio::sync::Mutex<Option<(Discovery, Keys, Instant)>>,
}

impl Sso {
    /// Single sign-on with `settings`.
    pub fn new(settings: SsoSettings) -> Arc<Sso> {
        Arc::new(Sso {
            settings,
            provider: tokio::sync::Mutex::new(None),
        })
    }

    /// What the log-in page's button says.
    pub fn label(&self) -> &str {
        &self.settings.label
    }

    /// The provider's discovery document and keys (read again when older than an hour, or
    /// when `refresh`: a key Ward has not seen).
    async fn provider(&self, refresh: bool) -> Result<(Discovery, Keys), String> {
        let mut cached = self.provider.lock().await;
        if let Some((discovery, keys, read)) = cached.as_ref()
            && !refresh
            && read.elapsed() < PROVIDER_TIME
        {
            return Ok((discovery.clone(), keys.clone()));
        }
        let issuer = self.settings.issuer.trim_end_matches('/').to_owned();
        let document = get(format!("{issuer}/.well-known/openid-configuration")).await?;
        let discovery = Discovery::parse(&document, &issuer).map_err(|e| e.to_string())?;
        let keys =
            Keys::parse(&get(discovery.jwks_uri.clone()).await?).map_err(|e| e.to_string())?;
        *cached = Some((discovery.clone(), keys.clone(), Instant::now()));
        Ok((discovery, keys))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(HTTP_TIME))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
}

/// A response's body, at most a megabyte.
fn body(mut response: ureq::http::Response<ureq::Body>, url: &str) -> Result<Vec<u8>, String> {
    response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(|e| format!("{url}: {e}"))
}

/// GET `url` (off the async threads); the body of a 200.
async fn get(url: String) -> Result<Vec<u8>, String> {
    tokio::task::spawn_blocking(move || {
        let response = agent()
            .get(&url)
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        if response.status() != 200 {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        body(response, &url)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// POST a form to `url`; the body whatever the status (a refused code is an error document).
async fn post_form(url: String, form: String) -> Result<Vec<u8>, String> {
    tokio::task::spawn_blocking(move || {
        let response = agent()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .send(form.as_bytes())
            .map_err(|e| format!("{url}: {e}"))?;
        body(response, &url)
    })
    .await
    .map_err(|e| e.to_string())?
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
    let (discovery, _) = match sso.provider(false).await {
        Ok(provider) => provider,
        Err(error) => {
            tracing::error!(%error, "cannot read the sign-in provider");
            return refused(
                &state,
                StatusCode::BAD_GATEWAY,
                "The sign-in service cannot be reached just now. Try again, or use your Ward password.",
            );
        }
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
    let url = ward_oidc::authorization_url(
        &discovery,
        &sso.settings.client_id,
        &redirect_uri(&state, &headers),
        &state_token,
        &nonce,
        &pkce,
    );
    Ok(Redirect::to(&url).into_response())
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
    let outcome: Result<ward_oidc::Identity, String> = async {
        let (discovery, mut keys) = sso.provider(false).await?;
        let body = ward_oidc::token_request(
            &sso.settings.client_id,
            &sso.settings.client_secret,
            &redirect_uri(&state, &headers),
            &query.code,
            &verifier,
        );
        let response = post_form(discovery.token_endpoint.clone(), body).await?;
        let token = ward_oidc::id_token_from_response(&response).map_err(|e| e.to_string())?;
        let expected = Expected {
            issuer: &sso.settings.issuer,
            client_id: &sso.settings.client_id,
            nonce: &nonce,
            domains: &sso.settings.domains,
            now,
        };
        match ward_oidc::verify_id_token(&token, &keys, &expected) {
            Err(ward_oidc::OidcError::UnknownKey) => {
                // The provider may have rolled its keys since they were read.
                (_, keys) = sso.provider(true).await?;
                ward_oidc::verify_id_token(&token, &keys, &expected).map_err(|e| e.to_string())
            }
            other => other.map_err(|e| e.to_string()),
        }
    }
    .await;
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
