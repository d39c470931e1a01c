//! Single sign-on at the portal: the proxy's [`SignOn`] with the school's OpenID Connect
//! provider (the `[sso]` the console uses). The code is exchanged and the ID token checked by
//! `ward-oidc`; the email it vouches for names a Ward account (staff, as a password log-in
//! would) or else the one person of the school with that address who has not left. A person
//! without a policy group is not signed in (an account without one browses as staff).
//! Refusals are audited.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ward_oidc::Pkce;
use ward_oidc::client::{Provider, SignInError};
use ward_proxy::{AuthUser, SignOn, SignOnRefusal, SignOnStart};
use ward_store::{NewAuditEntry, SchoolId, Store, random_token};

/// Sign-ins at the portal with the school's provider.
pub struct PortalSignOn {
    provider: Arc<Provider>,
    store: Store,
    school: SchoolId,
}

impl PortalSignOn {
    /// Sign-ins with `settings`, naming people of `school`.
    pub fn new(settings: ward_oidc::client::Settings, store: Store, school: SchoolId) -> Self {
        PortalSignOn {
            provider: Arc::new(Provider::new(settings)),
            store,
            school,
        }
    }

    async fn start(&self, redirect_uri: &str) -> Option<SignOnStart> {
        let state = random_token(24);
        let nonce = random_token(24);
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).ok()?;
        let pkce = Pkce::from_random(&random);
        let provider = Arc::clone(&self.provider);
        let (redirect, for_state, for_nonce, for_pkce) = (
            redirect_uri.to_owned(),
            state.clone(),
            nonce.clone(),
            pkce.clone(),
        );
        let url = tokio::task::spawn_blocking(move || {
            provider.authorization_url(&redirect, &for_state, &for_nonce, &for_pkce)
        })
        .await
        .ok()?;
        match url {
            Ok(url) => Some(SignOnStart {
                url,
                state,
                nonce,
                verifier: pkce.verifier,
            }),
            Err(error) => {
                tracing::error!(%error, "cannot read the sign-in provider for the portal");
                None
            }
        }
    }

    async fn person(
        &self,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<AuthUser, SignOnRefusal> {
        let provider = Arc::clone(&self.provider);
        let (redirect, code, verifier, nonce) = (
            redirect_uri.to_owned(),
            code.to_owned(),
            verifier.to_owned(),
            nonce.to_owned(),
        );
        let finished = tokio::task::spawn_blocking(move || {
            provider.finish(&redirect, &code, &verifier, &nonce, jiff::Timestamp::now())
        })
        .await
        .map_err(|_| SignOnRefusal::Unavailable)?;
        let identity = match finished {
            Ok(identity) => identity,
            Err(SignInError::Provider(error)) => {
                tracing::error!(%error, "the sign-in provider cannot be reached for the portal");
                return Err(SignOnRefusal::Unavailable);
            }
            Err(SignInError::Refused(why)) => {
                tracing::warn!(%why, "a portal sign-in was refused");
                self.audit_refusal(&format!("the provider's answer was refused: {why}"))
                    .await;
                return Err(SignOnRefusal::NotAccepted);
            }
        };
        let email = identity.email;
        match self.store.account_by_email(&email).await {
            Ok(Some(account)) if !account.disabled && account.school == self.school => {
                // Accounts are staff accounts: they browse as the policy's staff group.
                return Ok(AuthUser {
                    username: account.username,
                    person: None,
                    group: None,
                });
            }
            Ok(_) => {}
            Err(error) => {
                tracing::error!(%error, "cannot look up a portal sign-in");
                return Err(SignOnRefusal::Unavailable);
            }
        }
        match self.store.person_by_email(self.school, &email).await {
            Ok(Some(person)) if person.group.is_some() => Ok(AuthUser {
                username: person.username,
                person: Some(person.id),
                group: person.group,
            }),
            Ok(_) => {
                self.audit_refusal(&format!("nobody at the school has the address {email}"))
                    .await;
                Err(SignOnRefusal::Unknown(email))
            }
            Err(error) => {
                tracing::error!(%error, "cannot look up a portal sign-in");
                Err(SignOnRefusal::Unavailable)
            }
        }
    }

    async fn audit_refusal(&self, detail: &str) {
        let entry = NewAuditEntry {
            actor: "(portal sign-in)".into(),
            action: "proxy.portal.sso.refused".into(),
            subject: "portal".into(),
            detail: detail.to_owned(),
            reason: None,
        };
        if let Err(error) = self.store.append_audit(self.school, &entry).await {
            tracing::error!(%error, "cannot audit a refused portal sign-in");
        }
    }
}

impl SignOn for PortalSignOn {
    fn label(&self) -> &str {
        self.provider.label()
    }

    fn begin<'a>(
        &'a self,
        redirect_uri: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<SignOnStart>> + Send + 'a>> {
        Box::pin(self.start(redirect_uri))
    }

    fn finish<'a>(
        &'a self,
        redirect_uri: &'a str,
        code: &'a str,
        verifier: &'a str,
        nonce: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<AuthUser, SignOnRefusal>> + Send + 'a>> {
        Box::pin(self.person(redirect_uri, code, verifier, nonce))
    }
}
