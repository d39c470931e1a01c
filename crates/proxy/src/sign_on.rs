//! Single sign-on at the portal ("Sign in with Microsoft / Google" for pupils and staff who
//! browse on a shared computer; issue 24). The proxy keeps each sign-in's state for ten
//! minutes, by hash, tied to the address that began it and taken once, so a replayed or
//! forged answer, or one carried to another computer, opens nothing. The provider round trip
//! (the authorization address, the code exchanged, the ID token checked, the person found by
//! email) is the binary's, behind [`SignOn`].

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::proxy::AuthUser;

/// How long a sign-in may take at the provider.
pub const SIGN_IN_TIME: Duration = Duration::from_secs(600);
/// Most sign-ins waiting for the provider at once (beyond it new ones are refused).
const MOST_PENDING: usize = 10_000;

/// A sign-in begun: where the browser goes, and what Ward keeps until it comes back.
pub struct SignOnStart {
    /// The provider's authorization address (with the state, nonce and PKCE challenge).
    pub url: String,
    /// The state sent with it, which the browser brings back.
    pub state: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier, sent with the code.
    pub verifier: String,
}

impl std::fmt::Debug for SignOnStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignOnStart")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in opened no session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignOnRefusal {
    /// The provider cannot be reached just now.
    Unavailable,
    /// The provider's answer was not trusted (a refused code, a token for another
    /// application, expired, the wrong nonce, an address outside the school's domains).
    NotAccepted,
    /// Signed in, but nobody in Ward has this email address (or they have left).
    Unknown(String),
}

/// The provider round trip, implemented by the binary.
pub trait SignOn: Send + Sync + 'static {
    /// What the button says after "Sign in with" (`Microsoft`).
    fn label(&self) -> &str;

    /// Begins a sign-in that comes back to `redirect_uri`; `None` when the provider cannot
    /// be reached.
    fn begin<'a>(
        &'a self,
        redirect_uri: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<SignOnStart>> + Send + 'a>>;

    /// Finishes one: the `code` exchanged, its ID token checked, and the person it names.
    fn finish<'a>(
        &'a self,
        redirect_uri: &'a str,
        code: &'a str,
        verifier: &'a str,
        nonce: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<AuthUser, SignOnRefusal>> + Send + 'a>>;
}

/// A sign-in waiting for the provider.
struct Pending {
    address: IpAddr,
    nonce: String,
    verifier: String,
    then: String,
    until: Instant,
}

/// What a sign-in that came back had kept.
#[derive(Debug)]
pub(crate) struct Returned {
    pub(crate) nonce: String,
    pub(crate) verifier: String,
    pub(crate) then: String,
}

/// Sign-ins waiting for the provider, by the hash of their state.
#[derive(Default)]
pub(crate) struct PendingSignOns {
    pending: Mutex<HashMap<[u8; 32], Pending>>,
}

fn key(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

impl PendingSignOns {
    /// Keeps `start` for `address`; false when too many are waiting.
    pub(crate) fn keep(&self, start: &SignOnStart, address: IpAddr, then: &str) -> bool {
        let Ok(mut pending) = self.pending.lock() else {
            return false;
        };
        let now = Instant::now();
        if pending.len() >= MOST_PENDING {
            pending.retain(|_, p| p.until > now);
            if pending.len() >= MOST_PENDING {
                return false;
            }
        }
        pending.insert(
            key(&start.state),
            Pending {
                address,
                nonce: start.nonce.clone(),
                verifier: start.verifier.clone(),
                then: then.to_owned(),
                until: now + SIGN_IN_TIME,
            },
        );
        true
    }

    /// Takes the sign-in with `state`, if it is current and was begun at `address`. Taken
    /// either way: an answer brought to another computer ends the sign-in.
    pub(crate) fn take(&self, state: &str, address: IpAddr) -> Option<Returned> {
        let taken = self.pending.lock().ok()?.remove(&key(state))?;
        (taken.until > Instant::now() && taken.address == address).then_some(Returned {
            nonce: taken.nonce,
            verifier: taken.verifier,
            then: taken.then,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(state: &str) -> SignOnStart {
        SignOnStart {
            url: "https://provider.test/authorize".into(),
            state: state.into(),
            nonce: "n".into(),
            verifier: "v".into(),
        }
    }

    #[test]
    fn a_state_is_taken_once_and_only_at_its_own_address() {
        let pending = PendingSignOns::default();
        let here: IpAddr = IpAddr::from([10, 0, 3, 17]);
        let there: IpAddr = IpAddr::from([10, 0, 3, 18]);
        assert!(pending.keep(&start("s1"), here, "http://example.org/"));
        assert!(pending.keep(&start("s2"), here, ""));
        let returned = pending.take("s1", here).expect("kept");
        assert_eq!(returned.then, "http://example.org/");
        assert_eq!(returned.verifier, "v");
        assert!(pending.take("s1", here).is_none(), "a replay finds nothing");
        assert!(pending.take("s2", there).is_none(), "another computer");
        assert!(pending.take("s2", here).is_none(), "ended by the attempt");
        assert!(pending.take("never", here).is_none());
    }
}
