//! The middleware in front of every route: it finds the request's session (once, for the
//! handlers to use) and refuses every state-changing request that does not carry the right CSRF
//! token, before any handler runs. Handlers therefore cannot forget the check.
//!
//! - Logged in: the token is the session's own, sent as the form field `csrf` (or, for file
//!   uploads, which are multipart, as the query parameter `csrf`).
//! - The log-in form: double-submit, the form field must equal the `ward_login` cookie set when
//!   the form was served; a parent's answer (`/parent`) likewise with `ward_parent`.
//!
//! Cookies are also `SameSite=Strict`, so a browser does not send them on another site's form.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{self, LOGIN_COOKIE, SessionContext};
use crate::{AppError, AppState};

/// Largest URL-encoded form read to find its token.
const FORM_LIMIT: usize = 1 << 20;

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |difference, (x, y)| difference | (x ^ y))
            == 0
}

fn token_in_query(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == "csrf")
        .map(|(_, value)| value)
}

/// Reads and drops what is left of a refused request's body (up to the form limit), so the
/// client, still sending it, gets the refusal instead of a connection reset: a server that
/// answers and closes while an upload is arriving makes the client's write fail.
async fn drain(request: Request) {
    let _ = to_bytes(request.into_body(), FORM_LIMIT).await;
}

/// The middleware (see the module documentation).
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let context = match auth::load_session(&state, request.headers()).await {
        Ok(context) => context,
        Err(error) => return error.into_response(),
    };
    let mut request = request;
    if let Some(context) = &context {
        request
            .extensions_mut()
            .insert::<SessionContext>(context.clone());
    }
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let mut sent = token_in_query(&request);
    if is_form {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
            return AppError::BadRequest("The form is too large.".into()).into_response();
        };
        if let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            && let Some((_, value)) = fields.into_iter().find(|(key, _)| key == "csrf")
        {
            sent = Some(value);
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }
    let expected = if request.uri().path() == "/login" {
        auth::cookie(request.headers(), LOGIN_COOKIE).map(str::to_owned)
    } else if request.uri().path() == "/parent" {
        // A parent's answer: no account, the same double-submit as the log-in form.
        auth::cookie(request.headers(), crate::parents::PARENT_COOKIE).map(str::to_owned)
    } else {
        match &context {
            Some(context) => Some(context.session.csrf_token.clone()),
            None => {
                drain(request).await;
                return AppError::LoginRequired {
                    next: "/".to_owned(),
                }
                .into_response();
            }
        }
    };
    match (expected, sent) {
        (Some(expected), Some(sent)) if !expected.is_empty() && same(&expected, &sent) => {
            next.run(request).await
        }
        _ => {
            tracing::info!(path = %request.uri().path(), "form refused: missing or wrong CSRF token");
            drain(request).await;
            AppError::CsrfRejected.into_response()
        }
    }
}
