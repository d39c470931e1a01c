//! Single sign-on with OpenID Connect ("Sign in with Microsoft", "Sign in with Google"), the
//! parts that decide whether anyone is trusted, with no network of their own (the caller
//! fetches the provider's documents and calls the token endpoint):
//!
//! - the provider's discovery document and signing keys (JWKS) read;
//! - the authorization request: the authorization code flow with PKCE (S256), a `state` the
//!   caller keeps once (a replayed one finds nothing) and a `nonce` the ID token must carry;
//! - the ID token checked before its claims are believed: signed with one of the provider's
//!   keys by RS256 or ES256 (never `none`, never a shared-secret algorithm), issued by the
//!   configured issuer, for this client (`aud`, and `azp` when there are several audiences),
//!   current (`exp`, `iat`, with a minute's leeway), with the request's nonce; and an email
//!   from an allowed domain (the school's), not marked unverified.

#[cfg(feature = "client")]
pub mod client;

use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use ring::signature::{self, UnparsedPublicKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Clock difference allowed between Ward and the provider.
pub const LEEWAY: SignedDuration = SignedDuration::from_secs(60);
/// The longest ID token read.
const MOST_TOKEN: usize = 64 * 1024;

/// Why a token or document was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// Not the JSON or JWT it should be.
    #[error("malformed: {0}")]
    Malformed(String),
    /// An algorithm Ward does not accept (`none`, `HS256`, …).
    #[error("the token is signed with {0}, which is not accepted (RS256 or ES256)")]
    Algorithm(String),
    /// No key of the provider's matches the token's.
    #[error("no signing key of the provider matches the token")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature does not verify")]
    Signature,
    /// Another issuer.
    #[error("the token was issued by {0}, not the configured issuer")]
    Issuer(String),
    /// For another client.
    #[error("the token is for another application (audience)")]
    Audience,
    /// Expired, or issued in the future.
    #[error("the token has expired or is not yet valid")]
    Time,
    /// The nonce is not the request's.
    #[error("the token does not answer this sign-in (nonce)")]
    Nonce,
    /// No email, an unverified one, or one outside the allowed domains.
    #[error("{0}")]
    Email(String),
}

/// What the provider's `/.well-known/openid-configuration` says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    /// The issuer (must equal the configured one).
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged for tokens.
    pub token_endpoint: String,
    /// Where the signing keys are.
    pub jwks_uri: String,
}

impl Discovery {
    /// Reads a discovery document, which must be for `issuer` (a document naming another
    /// issuer is refused: OpenID Connect Discovery, section 4.3).
    pub fn parse(json: &[u8], issuer: &str) -> Result<Discovery, OidcError> {
        let discovery: Discovery = serde_json::from_slice(json)
            .map_err(|e| OidcError::Malformed(format!("discovery document: {e}")))?;
        if discovery.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OidcError::Issuer(discovery.issuer));
        }
        Ok(discovery)
    }
}

/// One signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256 { point: Vec<u8> },
}

/// The provider's signing keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    keys: Vec<(Option<String>, Key)>,
}

fn base64url(text: &str) -> Result<Vec<u8>, OidcError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| OidcError::Malformed("not base64url".into()))
}

impl Keys {
    /// Reads a JWKS document; keys of kinds Ward does not use are skipped.
    pub fn parse(json: &[u8]) -> Result<Keys, OidcError> {
        #[derive(Deserialize)]
        struct Jwk {
            kty: String,
            kid: Option<String>,
            #[serde(rename = "use")]
            usage: Option<String>,
            n: Option<String>,
            e: Option<String>,
            crv: Option<String>,
            x: Option<String>,
            y: Option<String>,
        }
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<Jwk>,
        }
        let jwks: Jwks = serde_json::from_slice(json)
            .map_err(|e| OidcError::Malformed(format!("signing keys: {e}")))?;
        let mut keys = Vec::new();
        for jwk in jwks.keys {
            if jwk.usage.as_deref().is_some_and(|usage| usage != "sig") {
                continue;
            }
            let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
                ("RSA", _) => match (&jwk.n, &jwk.e) {
                    (Some(n), Some(e)) => Key::Rsa {
                        n: base64url(n)?,
                        e: base64url(e)?,
                    },
                    _ => continue,
                },
                ("EC", Some("P-256")) => match (&jwk.x, &jwk.y) {
                    (Some(x), Some(y)) => {
                        let (x, y) = (base64url(x)?, base64url(y)?);
                        if x.len() != 32 || y.len() != 32 {
                            continue;
                        }
                        let mut point = vec![0x04];
                        point.extend_from_slice(&x);
                        point.extend_from_slice(&y);
                        Key::P256 { point }
                    }
                    _ => continue,
                },
                _ => continue,
            };
            keys.push((jwk.kid, key));
        }
        if keys.is_empty() {
            return Err(OidcError::Malformed("no RSA or P-256 signing key".into()));
        }
        Ok(Keys { keys })
    }
}

/// PKCE (RFC 7636): the verifier Ward keeps and the challenge it sends.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    /// Kept until the code is exchanged.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`, sent with the authorization request.
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"(secret)")
            .finish_non_exhaustive()
    }
}

impl Pkce {
    /// From 32 random bytes (the caller's random source).
    pub fn from_random(random: &[u8; 32]) -> Pkce {
        let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// The address the browser is sent to, to sign in.
pub fn authorization_url(
    discovery: &Discovery,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    nonce: &str,
    pkce: &Pkce,
) -> String {
    let query = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email profile"),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(name, value)| format!("{name}={}", encode(value)))
    .collect::<Vec<_>>()
    .join("&");
    let separator = if discovery.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{}{separator}{query}", discovery.authorization_endpoint)
}

/// The form body of the token request (the client's secret in it:
/// `client_secret_post`).
pub fn token_request(
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    code: &str,
    pkce_verifier: &str,
) -> String {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("code_verifier", pkce_verifier),
    ]
    .iter()
    .map(|(name, value)| format!("{name}={}", encode(value)))
    .collect::<Vec<_>>()
    .join("&")
}

/// The ID token from a token response's JSON.
pub fn id_token_from_response(json: &[u8]) -> Result<String, OidcError> {
    #[derive(Deserialize)]
    struct TokenResponse {
        id_token: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let response: TokenResponse = serde_json::from_slice(json)
        .map_err(|e| OidcError::Malformed(format!("token response: {e}")))?;
    if let Some(error) = response.error {
        return Err(OidcError::Malformed(format!(
            "the provider refused the code: {error} {}",
            response.error_description.unwrap_or_default()
        )));
    }
    response
        .id_token
        .ok_or_else(|| OidcError::Malformed("the token response has no ID token".into()))
}

fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// What a sign-in must match.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The configured issuer.
    pub issuer: &'a str,
    /// This application's client id.
    pub client_id: &'a str,
    /// The nonce sent with this sign-in's request.
    pub nonce: &'a str,
    /// Email domains allowed (`park-end.sch.uk`); empty: any.
    pub domains: &'a [String],
    /// Now.
    pub now: Timestamp,
}

/// Who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's id for them.
    pub subject: String,
    /// Their email address (lower case), from an allowed domain.
    pub email: String,
    /// Their name, if the provider gave it.
    pub name: Option<String>,
}

/// Checks an ID token and returns who it names.
pub fn verify_id_token(
    token: &str,
    keys: &Keys,
    expected: &Expected<'_>,
) -> Result<Identity, OidcError> {
    if token.len() > MOST_TOKEN {
        return Err(OidcError::Malformed("a token too long".into()));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OidcError::Malformed("not a signed JWT".into()));
    };
    #[derive(Deserialize)]
    struct Header {
        alg: String,
        kid: Option<String>,
    }
    let header: Header = serde_json::from_slice(&base64url(header)?)
        .map_err(|e| OidcError::Malformed(format!("token header: {e}")))?;
    let signed = &token.as_bytes()[..token.len() - signature.len() - 1];
    let signature = base64url(signature)?;
    let candidates = keys
        .keys
        .iter()
        .filter(|(kid, key)| {
            let kind_fits = matches!(
                (header.alg.as_str(), key),
                ("RS256", Key::Rsa { .. }) | ("ES256", Key::P256 { .. })
            );
            kind_fits && (header.kid.is_none() || kid.is_none() || *kid == header.kid)
        })
        .map(|(_, key)| key);
    if !matches!(header.alg.as_str(), "RS256" | "ES256") {
        return Err(OidcError::Algorithm(header.alg));
    }
    let mut any = false;
    let mut verified = false;
    for key in candidates {
        any = true;
        let ok = match key {
            Key::Rsa { n, e } => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, &signature)
                .is_ok(),
            Key::P256 { point } => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(signed, &signature)
                    .is_ok()
            }
        };
        if ok {
            verified = true;
            break;
        }
    }
    if !any {
        return Err(OidcError::UnknownKey);
    }
    if !verified {
        return Err(OidcError::Signature);
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Audience {
        One(String),
        Many(Vec<String>),
    }
    #[derive(Deserialize)]
    struct Claims {
        iss: String,
        sub: String,
        aud: Audience,
        azp: Option<String>,
        exp: i64,
        iat: i64,
        nonce: Option<String>,
        email: Option<String>,
        email_verified: Option<bool>,
        preferred_username: Option<String>,
        name: Option<String>,
    }
    let claims: Claims = serde_json::from_slice(&base64url(payload)?)
        .map_err(|e| OidcError::Malformed(format!("token claims: {e}")))?;
    if claims.iss.trim_end_matches('/') != expected.issuer.trim_end_matches('/') {
        return Err(OidcError::Issuer(claims.iss));
    }
    let for_us = match &claims.aud {
        Audience::One(aud) => aud == expected.client_id,
        Audience::Many(auds) => {
            auds.iter().any(|aud| aud == expected.client_id)
                && (auds.len() == 1 || claims.azp.as_deref() == Some(expected.client_id))
        }
    };
    if !for_us {
        return Err(OidcError::Audience);
    }
    let now = expected.now.as_second();
    if claims.exp <= now - LEEWAY.as_secs() || claims.iat > now + LEEWAY.as_secs() {
        return Err(OidcError::Time);
    }
    if claims.nonce.as_deref() != Some(expected.nonce) {
        return Err(OidcError::Nonce);
    }
    if claims.email_verified == Some(false) {
        return Err(OidcError::Email(
            "the provider says the email address is not verified".into(),
        ));
    }
    // Microsoft's accounts may carry the address as the user name only.
    let email = claims
        .email
        .or(claims.preferred_username.filter(|name| name.contains('@')))
        .ok_or_else(|| OidcError::Email("the provider gave no email address".into()))?
        .trim()
        .to_lowercase();
    let domain = email.rsplit_once('@').map_or("", |(_, domain)| domain);
    if !expected.domains.is_empty()
        && !expected
            .domains
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(domain))
    {
        return Err(OidcError::Email(format!(
            "{email} is not an address of the school (allowed: {})",
            expected.domains.join(", ")
        )));
    }
    Ok(Identity {
        subject: claims.sub,
        email,
        name: claims.name,
    })
}

#[cfg(test)]
mod tests;
