//! The acceptable use agreement at the portal (DESIGN.md A1, issue 27): someone whose log-in
//! was right but who has not yet agreed this school year (or to the version now in force) reads
//! the agreement written for them and answers before any session opens. Between the log-in and
//! the answer they are a pending log-in here, tied to their computer's address by a random
//! token for ten minutes; no session exists, so the proxy treats them as it did before they
//! logged in. Declining is recorded and opens nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::AuthUser;

/// How long someone has to read and answer.
pub const ANSWER_TIME: Duration = Duration::from_secs(600);

/// Most log-ins waiting for an answer at once (each one needs the right password first).
const MOST_PENDING: usize = 10_000;

/// The agreement someone is to answer, as the wiring layer finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalAgreement {
    /// Its id, recorded with the answer.
    pub id: i64,
    /// Its version.
    pub version: i64,
    /// Its title.
    pub title: String,
    /// Its text (`ward_records::agreements::parse_text`).
    pub body: String,
    /// For the youngest children: large type, a picture for each point.
    pub pictured: bool,
}

/// A log-in waiting for its answer.
struct Waiting {
    address: IpAddr,
    user: AuthUser,
    agreement: PortalAgreement,
    then: String,
    /// Whether the password page may follow (a Ward password; not a sign-in provider's).
    password: bool,
    until: Instant,
}

/// What a pending log-in brings back with its answer.
pub(crate) struct Answered {
    pub user: AuthUser,
    pub agreement: PortalAgreement,
    pub then: String,
    pub password: bool,
}

/// The log-ins waiting for an answer, by a hash of their token.
#[derive(Default)]
pub(crate) struct PendingAgreements {
    pending: Mutex<HashMap<[u8; 32], Waiting>>,
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl PendingAgreements {
    /// Keeps `user`'s log-in at `address` until they answer `agreement`; the token the page
    /// carries, or `None` when too many are waiting (or no random token could be made).
    pub(crate) fn keep(
        &self,
        user: &AuthUser,
        agreement: &PortalAgreement,
        address: IpAddr,
        then: &str,
        password: bool,
    ) -> Option<String> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).ok()?;
        let token = hex::encode(bytes);
        let mut pending = self.pending.lock().ok()?;
        let now = Instant::now();
        if pending.len() >= MOST_PENDING {
            pending.retain(|_, waiting| waiting.until > now);
            if pending.len() >= MOST_PENDING {
                return None;
            }
        }
        pending.insert(
            key(&token),
            Waiting {
                address,
                user: user.clone(),
                agreement: agreement.clone(),
                then: then.to_owned(),
                password,
                until: now + ANSWER_TIME,
            },
        );
        Some(token)
    }

    /// Takes the log-in with `token`, if it is current and from `address`. Taken either way:
    /// an answer brought from another computer ends it.
    pub(crate) fn take(&self, token: &str, address: IpAddr) -> Option<Answered> {
        let taken = self.pending.lock().ok()?.remove(&key(token))?;
        (taken.until > Instant::now() && taken.address == address).then_some(Answered {
            user: taken.user,
            agreement: taken.agreement,
            then: taken.then,
            password: taken.password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_log_in_is_taken_once_and_only_from_its_own_computer() {
        let pending = PendingAgreements::default();
        let here = IpAddr::from([10, 0, 3, 17]);
        let there = IpAddr::from([10, 0, 3, 18]);
        let user = AuthUser {
            username: "l.wright".into(),
            person: None,
            group: None,
        };
        let agreement = PortalAgreement {
            id: 3,
            version: 1,
            title: "Rules".into(),
            body: "- [tell] Tell".into(),
            pictured: true,
        };
        let first = pending
            .keep(&user, &agreement, here, "http://example.org/", true)
            .expect("kept");
        let second = pending
            .keep(&user, &agreement, here, "", false)
            .expect("kept");
        assert_ne!(first, second);
        let answered = pending.take(&first, here).expect("waiting");
        assert_eq!(answered.user, user);
        assert_eq!(answered.then, "http://example.org/");
        assert!(
            pending.take(&first, here).is_none(),
            "a replay finds nothing"
        );
        assert!(pending.take(&second, there).is_none(), "another computer");
        assert!(
            pending.take(&second, here).is_none(),
            "ended by the attempt"
        );
        assert!(pending.take("made-up", here).is_none());
    }
}
