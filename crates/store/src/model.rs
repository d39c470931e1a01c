//! The records the store keeps, and the small types (ids, kinds, roles, networks) they are made of.

use std::fmt;

use std::str::FromStr;

use jiff::Timestamp;

use crate::StoreError;
pub use ward_events::{
    AccountId, AlertId, Device, DeviceId, Disposition, Event, EventAlert, GroupRowId, IncidentId,
    Network, PersonId, RequestId, SchoolId, Source, subject,
};

/// Microseconds since the Unix epoch: how times are stored.
pub fn micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

/// The inverse of [`micros`]; out-of-range values (which Ward never writes) clamp to the epoch.
pub fn timestamp(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct School {
    /// Its id.
    pub id: SchoolId,
    /// Its name, as shown in the console.
    pub name: String,
    /// A short unique name for URLs and configuration (`park-end`).
    pub slug: String,
}

/// What kind of person someone is; it decides which fields apply and which groups fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonKind {
    /// A pupil (has a year group, key stage and class).
    Pupil,
    /// A member of staff (has a job role).
    Staff,
    /// A guest or community user.
    Guest,
}

impl PersonKind {
    /// The name stored and shown (`pupil`, `staff`, `guest`).
    pub fn as_str(self) -> &'static str {
        match self {
            PersonKind::Pupil => "pupil",
            PersonKind::Staff => "staff",
            PersonKind::Guest => "guest",
        }
    }
}

impl FromStr for PersonKind {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<PersonKind, StoreError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "pupil" | "student" => Ok(PersonKind::Pupil),
            "staff" | "teacher" => Ok(PersonKind::Staff),
            "guest" | "community" | "visitor" => Ok(PersonKind::Guest),
            other => Err(StoreError::Invalid(format!(
                "unknown kind of person {other:?} (pupil, staff or guest)"
            ))),
        }
    }
}

impl fmt::Display for PersonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group as the store keeps it: the policy's group id plus who belongs to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its id.
    pub id: GroupRowId,
    /// The policy's group id (`ks2`).
    pub name: String,
    /// How people read it (`Key Stage 2 (Years 3–4)`).
    pub label: String,
    /// Whose group it is.
    pub kind: PersonKind,
    /// For pupil groups, the year groups that belong (`3`, `4`; `N` and `R` for nursery and
    /// reception).
    pub year_groups: Vec<String>,
}

/// A group to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    /// The policy's group id.
    pub name: String,
    /// How people read it.
    pub label: String,
    /// Whose group it is.
    pub kind: PersonKind,
    /// For pupil groups, the year groups that belong.
    pub year_groups: Vec<String>,
}

/// A person as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Its id.
    pub id: PersonId,
    /// Pupil, staff or guest.
    pub kind: PersonKind,
    /// The network log-in name (unique in the school).
    pub username: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// The MIS's id (a pupil's UPN, a staff code), if the import had one.
    pub external_id: Option<String>,
    /// Pupils: `N`, `R`, `1`…`13`.
    pub year_group: Option<String>,
    /// Pupils: `EYFS`, `KS1`…`KS5`.
    pub key_stage: Option<String>,
    /// Pupils: registration class.
    pub class_name: Option<String>,
    /// Staff: job role.
    pub job_role: Option<String>,
    /// The policy group they browse as.
    pub group: Option<String>,
    /// Their email address, if the directory has one (single sign-on matches on it).
    pub email: Option<String>,
    /// Whether the school's directory has them (a synchronisation then also marks them as a
    /// leaver when they are gone from it).
    pub from_directory: bool,
    /// Where they came from: `directory`, `mis` (a CSV import) or `console` (added by hand).
    pub source: String,
    /// When they left (`None`: still at the school). Leavers are kept, never deleted; they
    /// cannot log in and are not given their old group.
    pub left_at: Option<Timestamp>,
    /// Whether Ward keeps a password for them (checked at the proxy and the portal before the
    /// directory's; the hash itself is read only to check one).
    pub has_password: bool,
    /// Whether their Ward password is a starting one they must change at the next log-in.
    pub must_change_password: bool,
    /// When their Ward password was last set.
    pub password_changed_at: Option<Timestamp>,
}

impl Person {
    /// "Given Family".
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

/// A person to create or update (matched on username).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    /// Pupil, staff or guest.
    pub kind: PersonKind,
    /// The network log-in name.
    pub username: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// The MIS's id.
    pub external_id: Option<String>,
    /// Pupils: year group.
    pub year_group: Option<String>,
    /// Pupils: key stage.
    pub key_stage: Option<String>,
    /// Pupils: class.
    pub class_name: Option<String>,
    /// Staff: job role.
    pub job_role: Option<String>,
    /// The group they browse as.
    pub group: Option<GroupRowId>,
}

/// A device to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Station number or name.
    pub name: String,
    /// Its address or subnet.
    pub network: Network,
    /// For a shared device, its group.
    pub group: Option<GroupRowId>,
    /// Where it is.
    pub location: String,
}

/// A console role. What each may do is decided in the console; the store only keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Designated safeguarding lead / online safety coordinator.
    Dsl,
    /// Headteacher (and senior leadership).
    Headteacher,
    /// Technician or managed service provider.
    Technician,
    /// Teacher or support staff.
    Teacher,
    /// Governor: aggregates only.
    Governor,
}

impl Role {
    /// Every role, in the order forms show them.
    pub const ALL: [Role; 5] = [
        Role::Dsl,
        Role::Headteacher,
        Role::Technician,
        Role::Teacher,
        Role::Governor,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Dsl => "dsl",
            Role::Headteacher => "headteacher",
            Role::Technician => "technician",
            Role::Teacher => "teacher",
            Role::Governor => "governor",
        }
    }

    /// How people read it.
    pub fn label(self) -> &'static str {
        match self {
            Role::Dsl => "DSL / online safety coordinator",
            Role::Headteacher => "Headteacher",
            Role::Technician => "Technician",
            Role::Teacher => "Teacher",
            Role::Governor => "Governor",
        }
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Role, StoreError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text.trim())
            .ok_or_else(|| StoreError::Invalid(format!("unknown role {text:?}")))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The roles an account holds (a small school's headteacher is often its DSL too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    /// From a list; duplicates are removed and the order made canonical.
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Roles {
        let mut roles: Vec<Role> = roles.into_iter().collect();
        roles.sort();
        roles.dedup();
        Roles(roles)
    }

    /// Whether the account holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    /// The roles held.
    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for Roles {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Roles, StoreError> {
        text.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Role::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(Roles::new)
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, role) in self.0.iter().enumerate() {
            if position > 0 {
                f.write_str(",")?;
            }
            f.write_str(role.as_str())?;
        }
        Ok(())
    }
}

/// A console account. The password hash is kept out of `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// The school it belongs to.
    pub school: SchoolId,
    /// Log-in name.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// What it may do.
    pub roles: Roles,
    /// PHC string (argon2id).
    pub password_hash: String,
    /// Set for a one-time password: the next log-in must choose a new one.
    pub must_change_password: bool,
    /// Failed log-ins since the last success.
    pub failed_logins: i64,
    /// Log-ins are refused until then.
    pub locked_until: Option<Timestamp>,
    /// A disabled account cannot log in.
    pub disabled: bool,
    /// Whether it has a second factor (an authenticator app's secret) set up.
    pub has_second_factor: bool,
    /// The email address single sign-on finds it by, if set.
    pub email: Option<String>,
    /// When its password was last set (`None`: before Ward kept the date).
    pub password_changed_at: Option<Timestamp>,
    /// Whether the school's directory made it: its roles come from the directory's groups and
    /// its password is the directory's.
    pub from_directory: bool,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("school", &self.school)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .field("password_hash", &"[redacted]")
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .finish_non_exhaustive()
    }
}

/// A log-in session, found by the hash of its cookie token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The account logged in.
    pub account: AccountId,
    /// Its school.
    pub school: SchoolId,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// When it ends.
    pub expires_at: Timestamp,
    /// Whether the log-in still needs its second factor.
    pub second_factor: SecondFactor,
}

/// Where a session's second factor stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    /// Done, or not needed: the session may be used.
    Done,
    /// The password was right; a code from the authenticator app is still to come.
    Code,
    /// The password was right; the account must set up an authenticator app first.
    Enrol,
}

impl SecondFactor {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactor::Done => "done",
            SecondFactor::Code => "code",
            SecondFactor::Enrol => "enrol",
        }
    }

    /// The stored name read back (anything unknown is not done).
    pub fn parse(text: &str) -> SecondFactor {
        match text {
            "done" => SecondFactor::Done,
            "enrol" => SecondFactor::Enrol,
            _ => SecondFactor::Code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_in_canonical_order() {
        let roles: Roles = "teacher,dsl,teacher".parse().expect("valid roles");
        assert_eq!(roles.to_string(), "dsl,teacher");
        assert!(roles.has(Role::Dsl) && !roles.has(Role::Governor));
        assert!("dsl,janitor".parse::<Roles>().is_err());
    }
}

/// Longest username, in characters.
pub const MAX_USERNAME: usize = 64;
/// Longest device name, in characters.
pub const MAX_DEVICE_NAME: usize = 64;
/// Longest name or other short text shown beside an identifier (a display name, a location).
pub const MAX_NAME: usize = 120;

/// Whether `c` changes how text around it is shown without being seen itself: controls,
/// bidirectional overrides and isolates (`ad\u{202e}nim` shows as "adnim" reversed), zero-width
/// and other invisible format characters, tag characters. A name holding one can pass for
/// another.
pub fn is_hidden_character(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{61c}'
                | '\u{115f}'..='\u{1160}'
                | '\u{17b4}'..='\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// Why an identifier or a name was refused, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadIdentifier(pub String);

impl From<BadIdentifier> for String {
    fn from(bad: BadIdentifier) -> String {
        bad.0
    }
}

impl From<BadIdentifier> for StoreError {
    fn from(bad: BadIdentifier) -> StoreError {
        StoreError::Invalid(bad.0)
    }
}

/// Checks a username: 1 to [`MAX_USERNAME`] letters, digits and `. - _ @ '`, nothing else (no
/// spaces, markup or hidden characters). `what` names it in the message.
pub fn check_username(what: &str, username: &str) -> std::result::Result<(), BadIdentifier> {
    let length = username.chars().count();
    if length == 0 {
        return Err(BadIdentifier(format!("a {what} is needed")));
    }
    if length > MAX_USERNAME {
        return Err(BadIdentifier(format!(
            "a {what} has at most {MAX_USERNAME} characters ({length} given)"
        )));
    }
    if let Some(bad) = username
        .chars()
        .find(|&c| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '\'')))
    {
        return Err(BadIdentifier(format!(
            "a {what} has only letters, digits and . - _ @ ' (not {})",
            describe(bad)
        )));
    }
    Ok(())
}

/// Checks a device name or station number: 1 to [`MAX_DEVICE_NAME`] letters, digits, spaces
/// and `. - _ # / ( )`.
pub fn check_device_name(name: &str) -> std::result::Result<(), BadIdentifier> {
    let length = name.chars().count();
    if name.trim().is_empty() {
        return Err(BadIdentifier(
            "a device needs a name or station number".into(),
        ));
    }
    if length > MAX_DEVICE_NAME {
        return Err(BadIdentifier(format!(
            "a device name has at most {MAX_DEVICE_NAME} characters ({length} given)"
        )));
    }
    if let Some(bad) = name.chars().find(|&c| {
        !(c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_' | '#' | '/' | '(' | ')'))
    }) {
        return Err(BadIdentifier(format!(
            "a device name has only letters, digits, spaces and . - _ # / ( ) (not {})",
            describe(bad)
        )));
    }
    Ok(())
}

/// Checks a name or short text shown beside an identifier: at most [`MAX_NAME`] characters and
/// no hidden characters (any letters and punctuation are fine: names are written many ways).
pub fn check_name(what: &str, name: &str) -> std::result::Result<(), BadIdentifier> {
    let length = name.chars().count();
    if length > MAX_NAME {
        return Err(BadIdentifier(format!(
            "a {what} has at most {MAX_NAME} characters ({length} given)"
        )));
    }
    if let Some(bad) = name.chars().find(|&c| is_hidden_character(c)) {
        return Err(BadIdentifier(format!(
            "a {what} may not hold {}",
            describe(bad)
        )));
    }
    Ok(())
}

/// A character as a message can show it.
fn describe(c: char) -> String {
    if is_hidden_character(c) || c.is_whitespace() {
        format!("the invisible character U+{:04X}", u32::from(c))
    } else {
        format!("{c:?}")
    }
}

#[cfg(test)]
mod identifier_tests {
    use super::*;

    #[test]
    fn identifiers_are_short_and_visible() {
        for good in [
            "j.smith",
            "lwright10",
            "o'brien",
            "zoë.ng",
            "a@school.example",
            "A-B_C",
        ] {
            assert_eq!(check_username("username", good), Ok(()), "{good}");
        }
        let long = "a".repeat(5000);
        for bad in [
            "",
            "ad\u{202e}min",
            "ad\u{200b}min",
            "j smith",
            "<b>admin</b>",
            "a\tb",
            "a\u{0}b",
            long.as_str(),
        ] {
            assert!(check_username("username", bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_device_name("OWL-LAP-03"), Ok(()));
        assert_eq!(check_device_name("Room 4 PC #12 (left)"), Ok(()));
        for bad in ["", "  ", "PC\u{202e}1", "<script>", long.as_str()] {
            assert!(check_device_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_name("name", "Zoë O'Brien-Ng (Miss)"), Ok(()));
        assert!(check_name("name", "Zo\u{202e}ë").is_err());
        assert!(check_name("name", &long).is_err());
        let message = check_username("username", "ad\u{202e}min").expect_err("refused");
        assert!(message.to_string().contains("U+202E"), "{message}");
    }
}
