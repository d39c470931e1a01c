//! Account misuse (DESIGN.md A4) seen where people log in: one account in use from two
//! addresses at once, a pupil's account on a staff-only device, a staff account on a pupil
//! device or subnet. The seeds' sanctions tables list "using another pupil's account" and
//! "using the account of a member of staff" as incidents; these are what a DSL or technician
//! needs to hear about.
//!
//! Log-in points (the portal, the proxy's log-ins, the network's accounting) tell the
//! [`MisuseWatch`] who logged in where and until when; it answers with what is wrong, at most
//! once per account and kind of misuse per [`TELL_AGAIN_AFTER`], and the caller raises the
//! alert. Nothing here is on the path of an ordinary request: only log-ins are looked at.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use ward_policy::GroupKind;

use crate::{Client, canonical_ip};

/// The same misuse of one account is told at most this often (the alert queue folds repeats
/// within its own window as well).
pub const TELL_AGAIN_AFTER: SignedDuration = SignedDuration::from_hours(1);
/// Most accounts followed at once; beyond it, log-ins whose entries have ended are forgotten
/// first, and then new accounts are not followed until there is room (filtering never waits).
const MOST_ACCOUNTS: usize = 200_000;

/// What is wrong with a log-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misuse {
    /// The account is also logged in at `other`.
    TwoAddresses {
        /// The other address.
        other: IpAddr,
    },
    /// A pupil's account on a device the register gives to staff.
    PupilOnStaffDevice,
    /// A staff account on a device or subnet the register gives to pupils.
    StaffOnPupilDevice,
}

impl Misuse {
    fn kind(&self) -> u8 {
        match self {
            Misuse::TwoAddresses { .. } => 0,
            Misuse::PupilOnStaffDevice => 1,
            Misuse::StaffOnPupilDevice => 2,
        }
    }
}

/// One log-in as a log-in point reports it.
#[derive(Debug, Clone, Copy)]
pub struct LogIn<'a> {
    /// The account's log-in name.
    pub user: &'a str,
    /// Where.
    pub address: IpAddr,
    /// Until when it holds the address (a session's end; for a single request, a few minutes).
    pub until: Timestamp,
    /// Who the address is without the log-in: its device register entry and group.
    pub device: &'a Client,
    /// The group kind the account browses as.
    pub kind: GroupKind,
}

/// Misuse found at a log-in, with what an alert needs to say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MisuseReport {
    /// The account's log-in name.
    pub user: String,
    /// The person, if Ward knows them.
    pub person: Option<ward_events::PersonId>,
    /// Where it was used.
    pub address: IpAddr,
    /// The device there, if the register has one.
    pub device: Option<ward_events::DeviceId>,
    /// The kind of group the account browses as.
    pub kind: GroupKind,
    /// How the log-in was made.
    pub by: ward_events::IdentifiedBy,
    /// What is wrong.
    pub misuse: Misuse,
}

#[derive(Debug, Default)]
struct Account {
    /// Addresses the account is logged in at, and until when.
    at: Vec<(IpAddr, Timestamp)>,
    /// Misuse already told, by kind, and when.
    told: [Option<Timestamp>; 3],
}

/// Who is logged in where, for spotting misuse. Shared by every front end (it lives with the
/// sessions).
#[derive(Debug, Default)]
pub struct MisuseWatch {
    accounts: Mutex<HashMap<String, Account>>,
}

impl MisuseWatch {
    /// Records a log-in at `now` and returns the misuse to tell (each at most once per
    /// account and kind per [`TELL_AGAIN_AFTER`]).
    pub fn log_in(&self, login: LogIn<'_>, now: Timestamp) -> Vec<Misuse> {
        let address = canonical_ip(login.address);
        let mut found = Vec::new();
        if login.device.registered {
            match (login.kind, login.device.kind) {
                (GroupKind::Pupil, GroupKind::Staff) => found.push(Misuse::PupilOnStaffDevice),
                (GroupKind::Staff, GroupKind::Pupil) => found.push(Misuse::StaffOnPupilDevice),
                _ => {}
            }
        }
        let key = key(login.user).into_owned();
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if accounts.len() >= MOST_ACCOUNTS && !accounts.contains_key(&key) {
            accounts.retain(|_, account| {
                account.at.retain(|(_, until)| *until > now);
                !account.at.is_empty()
            });
            if accounts.len() >= MOST_ACCOUNTS {
                return found;
            }
        }
        let account = accounts.entry(key).or_default();
        account.at.retain(|(_, until)| *until > now);
        if let Some((other, _)) = account.at.iter().find(|(at, _)| *at != address) {
            found.push(Misuse::TwoAddresses { other: *other });
        }
        match account.at.iter_mut().find(|(at, _)| *at == address) {
            Some(entry) => entry.1 = entry.1.max(login.until),
            None => account.at.push((address, login.until)),
        }
        found.retain(|misuse| {
            let told = &mut account.told[usize::from(misuse.kind())];
            if told.is_some_and(|at| now.duration_since(at) < TELL_AGAIN_AFTER) {
                return false;
            }
            *told = Some(now);
            true
        });
        found
    }

    /// [`MisuseWatch::log_in`], with each misuse as a report about `person`, made `by`.
    pub fn reports(
        &self,
        login: LogIn<'_>,
        person: Option<ward_events::PersonId>,
        by: ward_events::IdentifiedBy,
        now: Timestamp,
    ) -> Vec<MisuseReport> {
        self.log_in(login, now)
            .into_iter()
            .map(|misuse| MisuseReport {
                user: login.user.to_owned(),
                person,
                address: canonical_ip(login.address),
                device: login.device.device,
                kind: login.kind,
                by,
                misuse,
            })
            .collect()
    }

    /// A log-in already looked at goes on at `address` until `until` (a network session's
    /// interim update): its hold on the address is extended, nothing else is worked out.
    pub fn extend(&self, user: &str, address: IpAddr, until: Timestamp) {
        let address = canonical_ip(address);
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = accounts
            .get_mut(key(user).as_ref())
            .and_then(|account| account.at.iter_mut().find(|(at, _)| *at == address))
        {
            entry.1 = entry.1.max(until);
        }
    }

    /// The account has logged out at `address` (or its session there ended).
    pub fn log_out(&self, user: &str, address: IpAddr) {
        let address = canonical_ip(address);
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(account) = accounts.get_mut(key(user).as_ref()) {
            account.at.retain(|(at, _)| *at != address);
        }
    }
}

/// How an account is keyed: its name trimmed and in lower case (copied only when it is not
/// already).
fn key(user: &str) -> std::borrow::Cow<'_, str> {
    let user = user.trim();
    // Bytes, not characters: this runs for every accounting packet.
    if user
        .bytes()
        .any(|byte| byte.is_ascii_uppercase() || !byte.is_ascii())
    {
        std::borrow::Cow::Owned(user.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use ward_policy::PolicySnapshot;

    /// A client of the default policy's first group of `kind`.
    fn client(kind: GroupKind, registered: bool) -> Client {
        let index = ward_lists::IndexBuilder::new()
            .finish()
            .expect("empty index");
        let (policy, _) = PolicySnapshot::from_toml(ward_policy::DEFAULT_POLICY, Arc::new(index))
            .expect("default policy loads");
        let group = policy
            .groups()
            .iter()
            .find(|group| group.kind == kind)
            .expect("a group of the kind");
        Client::of_group(group, None, registered)
    }

    #[test]
    fn two_addresses_at_once_are_told_once_and_not_after_log_out() {
        let watch = MisuseWatch::default();
        let now = Timestamp::from_second(1_800_000_000).expect("time");
        let until = now + SignedDuration::from_mins(30);
        let device = client(GroupKind::Pupil, false);
        let at = |address: &str, user: &str, now: Timestamp| {
            watch.log_in(
                LogIn {
                    user,
                    address: address.parse().expect("ip"),
                    until,
                    device: &device,
                    kind: GroupKind::Pupil,
                },
                now,
            )
        };
        assert!(at("10.0.0.5", "lwright10", now).is_empty());
        assert!(
            at("10.0.0.5", "LWright10", now).is_empty(),
            "the same address again"
        );
        assert_eq!(
            at("10.0.0.6", "lwright10", now),
            [Misuse::TwoAddresses {
                other: "10.0.0.5".parse().expect("ip")
            }]
        );
        assert!(
            at("10.0.0.7", "lwright10", now).is_empty(),
            "told once an hour"
        );
        assert!(at("10.0.0.9", "tkhan9", now).is_empty(), "another account");
        // Once she has logged out at both, a new address is ordinary.
        for address in ["10.0.0.5", "10.0.0.6", "10.0.0.7"] {
            watch.log_out("lwright10", address.parse().expect("ip"));
        }
        let later = now + SignedDuration::from_hours(2);
        assert!(at("10.0.0.8", "lwright10", later).is_empty());
        // Log-ins that have ended by themselves do not count either.
        let much_later = later + SignedDuration::from_hours(2);
        assert!(at("10.0.0.1", "lwright10", much_later).is_empty());
    }

    #[test]
    fn an_extended_session_keeps_its_hold_on_the_address() {
        let watch = MisuseWatch::default();
        let now = Timestamp::from_second(1_800_000_000).expect("time");
        let device = client(GroupKind::Pupil, false);
        let log_in = |address: &str, until: Timestamp, at: Timestamp| {
            watch.log_in(
                LogIn {
                    user: "Tkhan9",
                    address: address.parse().expect("ip"),
                    until,
                    device: &device,
                    kind: GroupKind::Pupil,
                },
                at,
            )
        };
        assert!(log_in("10.0.0.5", now + SignedDuration::from_mins(10), now).is_empty());
        // Interim updates keep it going past its first end...
        watch.extend(
            " tkhan9",
            "10.0.0.5".parse().expect("ip"),
            now + SignedDuration::from_mins(30),
        );
        let later = now + SignedDuration::from_mins(20);
        assert_eq!(
            log_in("10.0.0.6", later + SignedDuration::from_mins(10), later),
            [Misuse::TwoAddresses {
                other: "10.0.0.5".parse().expect("ip")
            }],
            "still held at 20 minutes"
        );
        // ...and extending an address the account never logged in at holds nothing.
        watch.extend(
            "tkhan9",
            "10.0.0.9".parse().expect("ip"),
            now + SignedDuration::from_hours(9),
        );
        let much_later = now + SignedDuration::from_hours(2);
        assert!(log_in("10.0.0.7", much_later, much_later).is_empty());
    }

    #[test]
    fn accounts_on_the_other_kind_of_device_are_told() {
        let watch = MisuseWatch::default();
        let now = Timestamp::from_second(1_800_000_000).expect("time");
        let until = now + SignedDuration::from_mins(30);
        let staff_pc = client(GroupKind::Staff, true);
        let pupil_laptop = client(GroupKind::Pupil, true);
        let unknown = client(GroupKind::Staff, false);
        let log_in = |user, address: &str, device, kind| {
            watch.log_in(
                LogIn {
                    user,
                    address: address.parse().expect("ip"),
                    until,
                    device,
                    kind,
                },
                now,
            )
        };
        assert_eq!(
            log_in("lwright10", "10.0.1.1", &staff_pc, GroupKind::Pupil),
            [Misuse::PupilOnStaffDevice]
        );
        assert_eq!(
            log_in("mrs.jones", "10.0.2.1", &pupil_laptop, GroupKind::Staff),
            [Misuse::StaffOnPupilDevice]
        );
        assert!(log_in("mr.patel", "10.0.1.2", &staff_pc, GroupKind::Staff).is_empty());
        assert!(log_in("tkhan9", "10.0.2.2", &pupil_laptop, GroupKind::Pupil).is_empty());
        assert!(
            log_in("tkhan8", "10.0.9.9", &unknown, GroupKind::Pupil).is_empty(),
            "an address the register does not know is no one's device"
        );
    }
}
