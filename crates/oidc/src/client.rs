//! The round trip to a provider (feature `client`): its discovery document and keys read and
//! kept for an hour, the browser's authorization address made, and the code the browser
//! brings back exchanged for an ID token, which is checked before anyone is named. Blocking
//! (ureq): async callers run these on a blocking thread. The console's staff sign-in and the
//! portal's pupil sign-in both use it; each keeps its own state, nonce and PKCE verifier.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::{Discovery, Expected, Identity, Keys, OidcError, Pkce};

/// How long the provider's discovery document and keys are kept before being read again.
const PROVIDER_TIME: Duration = Duration::from_secs(3600);
/// The longest a request to the provider may take.
const HTTP_TIME: Duration = Duration::from_secs(10);
/// The largest answer read from the provider.
const MOST_BODY: u64 = 1 << 20;

/// A provider, as the configuration names it.
#[derive(Clone)]
pub struct Settings {
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

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"(secret)")
            .field("domains", &self.domains)
            .field("label", &self.label)
            .finish()
    }
}

/// Why a sign-in did not name anyone.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The provider could not be reached or answered nonsense.
    #[error("the provider: {0}")]
    Provider(String),
    /// The provider's answer was not trusted (refused code, bad token).
    #[error(transparent)]
    Refused(#[from] OidcError),
}

/// A provider and what Ward last read of it.
#[derive(Debug)]
pub struct Provider {
    settings: Settings,
    read: Mutex<Option<(Discovery, Keys, Instant)>>,
}

impl Provider {
    /// A provider with `settings`.
    pub fn new(settings: Settings) -> Provider {
        Provider {
            settings,
            read: Mutex::new(None),
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What the sign-in button says after "Sign in with".
    pub fn label(&self) -> &str {
        &self.settings.label
    }

    /// The discovery document and keys (read again when older than an hour, or when
    /// `refresh`: a key Ward has not seen).
    fn documents(&self, refresh: bool) -> Result<(Discovery, Keys), SignInError> {
        if let Ok(read) = self.read.lock()
            && let Some((discovery, keys, at)) = read.as_ref()
            && !refresh
            && at.elapsed() < PROVIDER_TIME
        {
            return Ok((discovery.clone(), keys.clone()));
        }
        let issuer = self.settings.issuer.trim_end_matches('/');
        let document = get(&format!("{issuer}/.well-known/openid-configuration"))?;
        let discovery = Discovery::parse(&document, issuer)?;
        let keys = Keys::parse(&get(&discovery.jwks_uri)?)?;
        if let Ok(mut read) = self.read.lock() {
            *read = Some((discovery.clone(), keys.clone(), Instant::now()));
        }
        Ok((discovery, keys))
    }

    /// Where to send the browser to sign in, coming back to `redirect_uri` with `state`.
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        pkce: &Pkce,
    ) -> Result<String, SignInError> {
        let (discovery, _) = self.documents(false)?;
        Ok(crate::authorization_url(
            &discovery,
            &self.settings.client_id,
            redirect_uri,
            state,
            nonce,
            pkce,
        ))
    }

    /// Exchanges the `code` the browser brought back for an ID token and checks it: who
    /// signed in.
    pub fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
        now: Timestamp,
    ) -> Result<Identity, SignInError> {
        let (discovery, keys) = self.documents(false)?;
        let body = crate::token_request(
            &self.settings.client_id,
            &self.settings.client_secret,
            redirect_uri,
            code,
            verifier,
        );
        let response = post_form(&discovery.token_endpoint, &body)?;
        let token = crate::id_token_from_response(&response)?;
        let expected = Expected {
            issuer: &self.settings.issuer,
            client_id: &self.settings.client_id,
            nonce,
            domains: &self.settings.domains,
            now,
        };
        match crate::verify_id_token(&token, &keys, &expected) {
            Err(OidcError::UnknownKey) => {
                // The provider may have rolled its keys since they were read.
                let (_, keys) = self.documents(true)?;
                Ok(crate::verify_id_token(&token, &keys, &expected)?)
            }
            other => Ok(other?),
        }
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
fn body(mut response: ureq::http::Response<ureq::Body>, url: &str) -> Result<Vec<u8>, SignInError> {
    response
        .body_mut()
        .with_config()
        .limit(MOST_BODY)
        .read_to_vec()
        .map_err(|e| SignInError::Provider(format!("{url}: {e}")))
}

/// GET `url`: the body of a 200.
fn get(url: &str) -> Result<Vec<u8>, SignInError> {
    let response = agent()
        .get(url)
        .call()
        .map_err(|e| SignInError::Provider(format!("{url}: {e}")))?;
    if response.status() != 200 {
        return Err(SignInError::Provider(format!(
            "{url}: HTTP {}",
            response.status()
        )));
    }
    body(response, url)
}

/// POST a form to `url`: the body whatever the status (a refused code is an error document).
fn post_form(url: &str, form: &str) -> Result<Vec<u8>, SignInError> {
    let response = agent()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .send(form.as_bytes())
        .map_err(|e| SignInError::Provider(format!("{url}: {e}")))?;
    body(response, url)
}
