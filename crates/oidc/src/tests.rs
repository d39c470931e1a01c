//! ID tokens made here and signed with test keys (a P-256 key made per test, and an RSA key
//! kept as test data), changed one claim at a time.

use super::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair};

const ISSUER: &str = "https://login.example.test/park-end";
const CLIENT: &str = "ward-console";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct Signer {
    p256: EcdsaKeyPair,
    rsa: RsaKeyPair,
    random: SystemRandom,
}

impl Signer {
    fn new() -> Signer {
        let random = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &random)
                .expect("a P-256 key");
        let p256 = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &random,
        )
        .expect("key");
        let rsa =
            RsaKeyPair::from_pkcs8(include_bytes!("tests/rsa-test-key.pk8")).expect("RSA key");
        Signer { p256, rsa, random }
    }

    fn keys(&self) -> Keys {
        let point = self.p256.public_key().as_ref();
        let rsa: serde_json::Value =
            serde_json::from_str(include_str!("tests/rsa-test-jwks.json")).expect("JWKS");
        let jwks = serde_json::json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "kid": "ec-test", "use": "sig",
              "x": b64(&point[1..33]), "y": b64(&point[33..]) },
            rsa["keys"][0],
            { "kty": "oct", "kid": "shared", "k": "c2VjcmV0" }
        ]});
        Keys::parse(jwks.to_string().as_bytes()).expect("keys")
    }

    fn token(&self, alg: &str, kid: &str, claims: &serde_json::Value) -> String {
        let header = b64(serde_json::json!({ "alg": alg, "kid": kid, "typ": "JWT" })
            .to_string()
            .as_bytes());
        let payload = b64(claims.to_string().as_bytes());
        let signed = format!("{header}.{payload}");
        let signature = match alg {
            "ES256" => self
                .p256
                .sign(&self.random, signed.as_bytes())
                .expect("sign")
                .as_ref()
                .to_vec(),
            "RS256" => {
                let mut out = vec![0; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(
                        &signature::RSA_PKCS1_SHA256,
                        &self.random,
                        signed.as_bytes(),
                        &mut out,
                    )
                    .expect("sign");
                out
            }
            _ => b"not a signature".to_vec(),
        };
        format!("{signed}.{}", b64(&signature))
    }
}

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("time")
}

fn claims() -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER, "sub": "user-1234", "aud": CLIENT, "exp": 1_800_000_600, "iat": 1_799_999_990,
        "nonce": "nonce-1", "email": "L.Wright@Park-End.sch.uk", "email_verified": true, "name": "Lena Wright"
    })
}

fn expected(domains: &[String]) -> Expected<'_> {
    Expected {
        issuer: ISSUER,
        client_id: CLIENT,
        nonce: "nonce-1",
        domains,
        now: now(),
    }
}

#[test]
fn a_good_token_names_its_person_by_either_algorithm() {
    let signer = Signer::new();
    let keys = signer.keys();
    let domains = vec!["park-end.sch.uk".to_owned()];
    for (alg, kid) in [("ES256", "ec-test"), ("RS256", "rsa-test")] {
        let identity = verify_id_token(
            &signer.token(alg, kid, &claims()),
            &keys,
            &expected(&domains),
        )
        .expect("accepted");
        assert_eq!(identity.email, "l.wright@park-end.sch.uk", "{alg}");
        assert_eq!(identity.subject, "user-1234");
        assert_eq!(identity.name.as_deref(), Some("Lena Wright"));
    }
}

#[test]
fn every_check_refuses_what_it_should() {
    let signer = Signer::new();
    let keys = signer.keys();
    let domains = vec!["park-end.sch.uk".to_owned()];
    let refused = |claims: serde_json::Value| {
        verify_id_token(
            &signer.token("ES256", "ec-test", &claims),
            &keys,
            &expected(&domains),
        )
        .expect_err("refused")
    };
    let with = |field: &str, value: serde_json::Value| {
        let mut claims = claims();
        claims[field] = value;
        claims
    };
    assert!(matches!(
        refused(with("iss", "https://evil.example".into())),
        OidcError::Issuer(_)
    ));
    assert_eq!(
        refused(with("aud", "another-app".into())),
        OidcError::Audience,
        "wrong audience"
    );
    assert_eq!(
        refused(with("aud", serde_json::json!([CLIENT, "another-app"]))),
        OidcError::Audience,
        "several audiences without azp naming us"
    );
    assert_eq!(
        refused(with("exp", 1_799_999_000.into())),
        OidcError::Time,
        "expired"
    );
    assert_eq!(
        refused(with("iat", 1_800_000_500.into())),
        OidcError::Time,
        "from the future"
    );
    assert_eq!(
        refused(with("nonce", "another sign-in".into())),
        OidcError::Nonce
    );
    let mut no_nonce = claims();
    no_nonce.as_object_mut().expect("object").remove("nonce");
    assert_eq!(refused(no_nonce), OidcError::Nonce);
    assert!(matches!(
        refused(with("email", "someone@gmail.com".into())),
        OidcError::Email(_)
    ));
    assert!(matches!(
        refused(with("email_verified", false.into())),
        OidcError::Email(_)
    ));
    let mut several = with("aud", serde_json::json!([CLIENT, "another-app"]));
    several["azp"] = CLIENT.into();
    assert!(
        verify_id_token(
            &signer.token("ES256", "ec-test", &several),
            &keys,
            &expected(&domains)
        )
        .is_ok()
    );

    // Signatures: a changed payload, another key, `none`, a shared secret.
    let good = signer.token("ES256", "ec-test", &claims());
    let mut parts: Vec<&str> = good.split('.').collect();
    let changed = b64(with("email", "head@park-end.sch.uk".into())
        .to_string()
        .as_bytes());
    parts[1] = &changed;
    assert_eq!(
        verify_id_token(&parts.join("."), &keys, &expected(&domains)),
        Err(OidcError::Signature)
    );
    let other = Signer::new();
    assert_eq!(
        verify_id_token(
            &other.token("ES256", "ec-test", &claims()),
            &keys,
            &expected(&domains)
        ),
        Err(OidcError::Signature)
    );
    assert_eq!(
        verify_id_token(
            &signer.token("none", "ec-test", &claims()),
            &keys,
            &expected(&domains)
        ),
        Err(OidcError::Algorithm("none".into()))
    );
    assert_eq!(
        verify_id_token(
            &signer.token("HS256", "shared", &claims()),
            &keys,
            &expected(&domains)
        ),
        Err(OidcError::Algorithm("HS256".into()))
    );
    assert_eq!(
        verify_id_token(
            &signer.token("ES256", "no-such-key", &claims()),
            &keys,
            &expected(&domains)
        ),
        Err(OidcError::UnknownKey)
    );
    for junk in ["", "a.b", "a.b.c.d", "!!.??.##"] {
        assert!(
            verify_id_token(junk, &keys, &expected(&domains)).is_err(),
            "{junk:?}"
        );
    }
}

#[test]
fn requests_carry_pkce_state_and_nonce() {
    let discovery = Discovery::parse(
        serde_json::json!({
            "issuer": ISSUER,
            "authorization_endpoint": "https://login.example.test/authorize",
            "token_endpoint": "https://login.example.test/token",
            "jwks_uri": "https://login.example.test/keys"
        })
        .to_string()
        .as_bytes(),
        ISSUER,
    )
    .expect("discovery");
    assert!(matches!(
        Discovery::parse(br#"{"issuer":"https://evil.example","authorization_endpoint":"a","token_endpoint":"b","jwks_uri":"c"}"#, ISSUER),
        Err(OidcError::Issuer(_))
    ));
    // RFC 7636 appendix B.
    let random: [u8; 32] = [
        116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37,
        77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
    ];
    let pkce = Pkce::from_random(&random);
    assert_eq!(pkce.verifier, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_eq!(
        pkce.challenge,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    let url = authorization_url(
        &discovery,
        CLIENT,
        "https://ward.example/cb?x=1",
        "state 1",
        "n1",
        &pkce,
    );
    assert!(url.starts_with(
        "https://login.example.test/authorize?response_type=code&client_id=ward-console"
    ));
    assert!(url.contains("&redirect_uri=https%3A%2F%2Fward.example%2Fcb%3Fx%3D1&"));
    assert!(url.contains("&state=state%201&nonce=n1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"));
    assert!(
        !format!("{pkce:?}").contains(&pkce.verifier),
        "the verifier is never shown"
    );
    let body = token_request(
        CLIENT,
        "s3cret&",
        "https://ward.example/cb",
        "code-1",
        &pkce.verifier,
    );
    assert!(body.contains("client_secret=s3cret%26"));
    assert_eq!(
        id_token_from_response(br#"{"error":"invalid_grant","error_description":"code used"}"#),
        Err(OidcError::Malformed(
            "the provider refused the code: invalid_grant code used".into()
        ))
    );
}
