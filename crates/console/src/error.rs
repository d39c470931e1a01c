//! What the console answers when a request cannot be served: user mistakes get a clear 4xx page
//! and are not logged as errors; internal failures get a generic 500 page and are logged once.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ward_store::StoreError;

use crate::layout::Layout;

/// A request that ends in something other than the page asked for.
#[derive(Debug)]
pub enum AppError {
    /// Not logged in: go to the log-in page, then back to `next`.
    LoginRequired {
        /// Where to return after log-in.
        next: String,
    },
    /// Logged in with a one-time password: choose a new one first.
    PasswordChangeRequired,
    /// The password was right; the code from the authenticator app is still to come.
    SecondFactorRequired,
    /// The staff acceptable use agreement is to be accepted first; then on to `next`.
    AgreementRequired {
        /// Where to go once it is accepted.
        next: String,
    },
    /// Logged in, but the account's roles do not allow this.
    Forbidden,
    /// The form's CSRF token is missing or wrong.
    CsrfRejected,
    /// No such page or record (in this school).
    NotFound,
    /// The request itself is wrong (a form value that does not parse, a duplicate name).
    BadRequest(String),
    /// The upload is larger than the configured limit.
    TooLarge,
    /// Something failed inside Ward.
    Internal(String),
    /// Ward started without its database and has not reached it yet.
    DatabaseUnavailable,
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> AppError {
        match error {
            StoreError::NotFound(_) => AppError::NotFound,
            StoreError::Invalid(message) => AppError::BadRequest(message),
            StoreError::Conflict(what) => AppError::BadRequest(format!("{what} already exists")),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<ward_store::BadNetwork> for AppError {
    fn from(error: ward_store::BadNetwork) -> AppError {
        AppError::BadRequest(error.to_string())
    }
}

impl From<askama::Error> for AppError {
    fn from(error: askama::Error) -> AppError {
        AppError::Internal(format!("template: {error}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    heading: &'a str,
    message: &'a str,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match &self {
            AppError::LoginRequired { next } => {
                let target = format!("/login?next={}", url_encode(next));
                return Redirect::to(&target).into_response();
            }
            AppError::PasswordChangeRequired => {
                return Redirect::to("/account/password").into_response();
            }
            AppError::SecondFactorRequired => {
                return Redirect::to("/login/code").into_response();
            }
            AppError::AgreementRequired { next } => {
                let target = format!("/agreement?next={}", url_encode(next));
                return Redirect::to(&target).into_response();
            }
            AppError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not available to your role",
                "Your account's role does not include this page. If you need it, ask your \
                 headteacher or the online safety coordinator.",
            ),
            AppError::DatabaseUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable",
                "Ward cannot reach its database, so the console cannot show or save anything \
                 just now. Filtering goes on with the policy, devices and unblocked sites Ward \
                 last had, and what it sees is kept on disk and saved once the database is \
                 back. This page works again then.",
            ),
            AppError::CsrfRejected => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was not sent from a page Ward gave you, or you have logged in again \
                 since. Go back, reload the page and try again.",
            ),
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no such page or record here.",
            ),
            AppError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "The file is too large",
                "Ward takes uploads up to the size set in its configuration \
                 (console.upload_limit_mb). Split the file, or ask your technician.",
            ),
            AppError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                "That did not work",
                message.as_str(),
            ),
            AppError::Internal(detail) => {
                tracing::error!(%detail, "console request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Ward could not complete this request. It has been logged; please tell your \
                     technician if it happens again.",
                )
            }
        };
        let page = ErrorPage {
            layout: Layout::bare(heading),
            heading,
            message,
        };
        match page.render() {
            Ok(html) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            Err(_) => (status, heading.to_owned()).into_response(),
        }
    }
}

/// Percent-encodes everything but unreserved characters, for a value in a query string.
pub(crate) fn url_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
