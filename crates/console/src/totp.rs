//! Two-factor sign-in (issue 24; CPOMS asks it of its key holders): a code from an
//! authenticator app (TOTP, RFC 6238: HMAC-SHA1, 30-second steps, six digits) after the
//! password, for the roles that see pupils' data (the DSL and the headteacher). An account
//! sets it up at its first log-in after the role needs it; a code is good once (the last step
//! accepted is kept), within one step either side for clocks a little out; a wrong code counts
//! towards the same lock-out as a wrong password.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use serde::Deserialize;
use sha1::Sha1;
use ward_store::{NewAuditEntry, Roles, SecondFactor};

use crate::auth::{ClientAddress, CurrentUser, Lockout};
use crate::layout::Layout;
use crate::{AppError, AppState};

/// Seconds per step.
const STEP_SECONDS: i64 = 30;
/// Bytes of secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

/// Whether an account with `roles` must use a second factor: one of them is in `required`
/// (the console's `second_factor_roles`: by default the DSL's and the headteacher's, who see
/// pupils' data and safeguarding records).
pub fn required_for(roles: &Roles, required: &Roles) -> bool {
    roles.iter().any(|role| required.has(role))
}

/// RFC 4648 base32 without padding, as authenticator apps take a secret typed in.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            out.push(char::from(ALPHABET[((buffer >> (bits - 5)) & 31) as usize]));
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The six-digit code for time step `step` (RFC 4226's HOTP with the step as the counter).
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    value % 1_000_000
}

/// The time step of `now`.
pub fn step_of(now: Timestamp) -> i64 {
    now.as_second().div_euclid(STEP_SECONDS)
}

/// The step (now, or one either side) whose code is `typed`, if any.
pub fn matching_step(secret: &[u8], typed: &str, now: Timestamp) -> Option<i64> {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let typed: u32 = digits.parse().ok()?;
    let now = step_of(now);
    // Every candidate is computed, so the time taken does not say which one matched.
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        if code_at(secret, step) == typed && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` address an authenticator app reads (from a QR code or a link).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let encode = |text: &str| {
        serde_urlencoded::to_string([("", text)])
            .unwrap_or_default()
            .trim_start_matches('=')
            .replace('+', "%20")
    };
    let label = encode(&format!("{issuer}:{account}"));
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        base32(secret),
        encode(issuer)
    )
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodePage {
    layout: Layout,
    enrol: bool,
    secret: String,
    uri: String,
    next: String,
    message: String,
}

/// Query of the code page.
#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    #[serde(default)]
    next: String,
}

/// The code form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

/// The secret an enrolling account is shown: made once and kept (unconfirmed) until a code
/// from it is typed, so that reloading the page does not change it.
async fn enrolling_secret(state: &AppState, user: &CurrentUser) -> Result<Vec<u8>, AppError> {
    let store = state.store();
    if let Some(secret) = store
        .pending_totp_secret(user.account.id)
        .await?
        .and_then(|hex| decode_hex(&hex))
    {
        return Ok(secret);
    }
    let secret = ward_store::random_token(SECRET_BYTES);
    store
        .set_pending_totp_secret(user.account.id, Some(&secret))
        .await?;
    decode_hex(&secret).ok_or(AppError::NotFound)
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    next: &str,
    message: &str,
) -> Result<Response, AppError> {
    let enrol = user.session.second_factor == SecondFactor::Enrol;
    let layout = Layout::for_user(state, user, "Your code").await;
    let (secret, uri) = if enrol {
        let secret = enrolling_secret(state, user).await?;
        let issuer = format!("Ward ({})", layout.school);
        (
            base32(&secret)
                .as_bytes()
                .chunks(4)
                .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            otpauth_uri(&issuer, &user.account.username, &secret),
        )
    } else {
        (String::new(), String::new())
    };
    let page = CodePage {
        layout,
        enrol,
        secret,
        uri,
        next: next.to_owned(),
        message: message.to_owned(),
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /login/code`.
pub async fn code_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<CodeQuery>,
) -> Result<Response, AppError> {
    if user.session.second_factor == SecondFactor::Done {
        return Ok(Redirect::to(&crate::auth::local_path(&query.next)).into_response());
    }
    page(&state, &user, StatusCode::OK, &query.next, "").await
}

/// `POST /login/code`: checks the code (after counting the attempt), then finishes the log-in.
pub async fn check_code(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddress(address): ClientAddress,
    axum::Form(form): axum::Form<CodeForm>,
) -> Result<Response, AppError> {
    let store = state.store();
    let account = &user.account;
    if user.session.second_factor == SecondFactor::Done {
        return Ok(Redirect::to(&crate::auth::local_path(&form.next)).into_response());
    }
    let enrol = user.session.second_factor == SecondFactor::Enrol;
    let from = address.map_or("an unknown address".to_owned(), |ip| ip.to_string());
    let now = Timestamp::now();
    let secret = if enrol {
        enrolling_secret(&state, &user).await?
    } else {
        store
            .totp_secret(account.id)
            .await?
            .and_then(|hex| decode_hex(&hex))
            .ok_or(AppError::NotFound)?
    };
    let config = state.config();
    let lockout = Lockout {
        free_attempts: config.free_login_attempts,
        max_lock: config.max_lockout,
    };
    // Counted first, as a password is: many guesses at once are refused after the lock.
    let attempt = store
        .claim_login_attempt(account.id, now, lockout.free_attempts, lockout.max_lock)
        .await?;
    let accepted = match attempt {
        ward_store::LoginAttempt::Locked(_) => false,
        ward_store::LoginAttempt::Counted(_) => match matching_step(&secret, &form.code, now) {
            Some(step) => store.claim_totp_step(account.id, step).await?,
            None => false,
        },
    };
    let audit = |action: &str, detail: String| NewAuditEntry {
        actor: account.username.clone(),
        action: action.to_owned(),
        subject: format!("account:{}", account.username),
        detail,
        reason: None,
    };
    if !accepted {
        store
            .append_audit(
                account.school,
                &audit("login.code.failed", format!("from {from}")),
            )
            .await?;
        return page(
            &state,
            &user,
            StatusCode::UNAUTHORIZED,
            &form.next,
            "That code did not work. Codes change every 30 seconds: type the one your app shows now. \
             After several tries the account is locked for a while.",
        )
        .await;
    }
    store.record_login_success(account.id).await?;
    if enrol {
        store.confirm_totp_secret(account.id).await?;
        store
            .append_audit(
                account.school,
                &audit("account.second_factor.set", format!("from {from}")),
            )
            .await?;
    }
    store.complete_second_factor(&user.token_hash).await?;
    store
        .append_audit(account.school, &audit("login.code", format!("from {from}")))
        .await?;
    let target = if account.must_change_password {
        "/account/password".to_owned()
    } else {
        crate::auth::local_path(&form.next)
    };
    Ok(Redirect::to(&target).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_rfc_6238() {
        // RFC 6238 appendix B, SHA-1, the 20-byte secret "12345678901234567890" (its 8-digit
        // values, whose last six digits are the 6-digit codes).
        let secret = b"12345678901234567890";
        for (seconds, eight) in [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let now = Timestamp::from_second(seconds).expect("time");
            assert_eq!(
                code_at(secret, step_of(now)),
                eight % 1_000_000,
                "{seconds}"
            );
        }
    }

    #[test]
    fn a_code_matches_its_step_or_one_either_side_and_nothing_else() {
        let secret = b"12345678901234567890";
        let now = Timestamp::from_second(1_234_567_890).expect("time");
        let step = step_of(now);
        let code = |step| format!("{:06}", code_at(secret, step));
        assert_eq!(matching_step(secret, &code(step), now), Some(step));
        assert_eq!(matching_step(secret, &code(step - 1), now), Some(step - 1));
        assert_eq!(matching_step(secret, &code(step + 1), now), Some(step + 1));
        assert_eq!(matching_step(secret, &code(step - 3), now), None);
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
        let spaced = format!("{} {}", &code(step)[..3], &code(step)[3..]);
        assert_eq!(
            matching_step(secret, &spaced, now),
            Some(step),
            "spaces as apps show them"
        );
    }

    #[test]
    fn secrets_are_shown_in_base32_for_apps() {
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(base32(b"f"), "MY");
        let uri = otpauth_uri("Ward (Park End)", "dsl", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Ward%20%28Park%20End%29%3Adsl?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Ward%20%28Park%20End%29&algorithm=SHA1&digits=6&period=30"
        );
    }
}
