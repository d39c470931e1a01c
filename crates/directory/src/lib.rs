//! The school's directory (OpenLDAP, Active Directory, any LDAPv3 server): who its people are,
//! where they sit in it (groups, organisational units), and whether a password is theirs.
//!
//! Ward reads the directory with a service account of its own (a bind DN and password with read
//! access), always over TLS: `ldaps://`, or `ldap://` upgraded with StartTLS before anything
//! is sent. The server's certificate is checked against the system's trusted certificates and
//! an optional PEM file of the school's own CA. A password is checked by binding as the user
//! (the directory's own lock-out and password rules apply as well as Ward's); an empty
//! password is refused before anything is sent, since LDAP treats a bind with a DN and no
//! password as an anonymous bind that succeeds.
//!
//! Where someone is placed in Ward (pupil or staff, year group, policy group) comes from the
//! [`MapRule`]s, in order: the first rule whose directory group the entry is a member of, or
//! whose subtree (organisational unit) it is under, places it. An entry no rule places is not
//! a Ward user: it is never synchronised and its password is never tried (service and
//! administrator accounts stay out of Ward).
//!
//! Nothing here knows Ward's database: [`Directory::people`] returns what the directory says,
//! and the caller records it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Entries read per page of a synchronisation (Active Directory returns at most 1,000 a page).
const PAGE_SIZE: i32 = 500;
/// The most people one synchronisation reads (a school has a few thousand; a filter that
/// matches a whole forest is a mistake, reported rather than read).
pub const MOST_PEOPLE: usize = 100_000;
/// The longest user name or password Ward sends.
const MOST_CREDENTIAL: usize = 512;
/// Active Directory's `userAccountControl` bit for a disabled account.
const AD_ACCOUNT_DISABLED: u32 = 0x2;

/// What can go wrong with the directory.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The settings cannot work (a URL without TLS, an unreadable CA file, …).
    #[error("directory settings: {0}")]
    Settings(String),
    /// The directory could not be reached, or refused or failed an operation.
    #[error("directory: {0}")]
    Ldap(#[from] ldap3::LdapError),
    /// The directory took longer than the time-out.
    #[error("the directory did not answer within {0:?}")]
    TimedOut(Duration),
    /// Ward's own service account was refused.
    #[error(
        "the directory refused Ward's service account ({0}): check directory.bind_dn and its password"
    )]
    ServiceBind(String),
    /// More entries than [`MOST_PEOPLE`].
    #[error(
        "the directory returned more than {MOST_PEOPLE} people: narrow directory.base_dn or directory.user_filter"
    )]
    TooMany,
}

/// What kind of person a rule places someone as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A pupil.
    Pupil,
    /// A member of staff.
    Staff,
    /// A guest or community user.
    Guest,
}

impl Kind {
    /// `pupil`, `staff` or `guest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pupil => "pupil",
            Kind::Staff => "staff",
            Kind::Guest => "guest",
        }
    }

    /// The kind named `text`.
    pub fn parse(text: &str) -> Option<Kind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "pupil" => Some(Kind::Pupil),
            "staff" => Some(Kind::Staff),
            "guest" => Some(Kind::Guest),
            _ => None,
        }
    }
}

/// Where a rule places the entries it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Pupil, staff or guest.
    pub kind: Kind,
    /// A pupil's year group (`R`, `1`…`13`), if the rule says.
    pub year: Option<String>,
    /// The policy group they browse as, if the rule says (else Ward's default for the kind).
    pub group: Option<String>,
}

/// One mapping from the directory to Ward: entries that are members of `member_of` (a group's
/// DN, as the entry's `memberOf` lists it) or sit under `under` (an OU's DN) are placed as
/// `place` says. A rule with both needs both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRule {
    /// A directory group's DN.
    pub member_of: Option<String>,
    /// A subtree's DN (an organisational unit).
    pub under: Option<String>,
    /// Where its entries are placed.
    pub place: Placement,
}

impl MapRule {
    fn matches(&self, dn: &str, member_of: &[String]) -> bool {
        if self.member_of.is_none() && self.under.is_none() {
            return false;
        }
        let in_group = self.member_of.as_deref().is_none_or(|group| {
            let group = normalise_dn(group);
            member_of.iter().any(|member| normalise_dn(member) == group)
        });
        let under = self.under.as_deref().is_none_or(|subtree| {
            let subtree = normalise_dn(subtree);
            let dn = normalise_dn(dn);
            dn.len() > subtree.len()
                && dn.ends_with(&subtree)
                && dn[..dn.len() - subtree.len()].ends_with(',')
        });
        in_group && under
    }
}

/// How Ward reaches and reads the directory.
#[derive(Clone)]
pub struct Settings {
    /// `ldaps://HOST[:PORT]`, or `ldap://HOST[:PORT]` (StartTLS is then required).
    pub url: String,
    /// Ward's service account.
    pub bind_dn: String,
    /// Its password (never shown by `Debug`).
    pub bind_password: String,
    /// Where people are searched for.
    pub base_dn: String,
    /// Which entries are people (`(objectClass=person)`).
    pub user_filter: String,
    /// The attribute holding the log-in name (`uid`; Active Directory: `sAMAccountName`).
    pub username_attribute: String,
    /// The longest any connection or operation may take.
    pub timeout: Duration,
    /// How entries are placed in Ward, in order.
    pub rules: Vec<MapRule>,
    /// TLS: the system's trusted certificates and the school's own CA, if given.
    pub tls: Arc<ClientConfig>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &"(secret)")
            .field("base_dn", &self.base_dn)
            .field("user_filter", &self.user_filter)
            .field("username_attribute", &self.username_attribute)
            .field("timeout", &self.timeout)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// The TLS settings for a directory: the system's trusted certificates, plus the PEM
/// certificates in `extra_ca` (the school's own CA, which signs many domain controllers').
pub fn tls_config(extra_ca: Option<&[u8]>) -> Result<Arc<ClientConfig>, DirectoryError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "reading the system's trusted certificates");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(pem) = extra_ca {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate =
                certificate.map_err(|e| DirectoryError::Settings(format!("directory.ca: {e}")))?;
            roots
                .add(certificate)
                .map_err(|e| DirectoryError::Settings(format!("directory.ca: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(DirectoryError::Settings(
                "directory.ca holds no PEM certificate".into(),
            ));
        }
    }
    if roots.is_empty() {
        return Err(DirectoryError::Settings(
            "no trusted certificates: install Debian's ca-certificates or set directory.ca".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::Settings(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One person as the directory has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPerson {
    /// The entry's DN.
    pub dn: String,
    /// The log-in name.
    pub username: String,
    /// Given name (`givenName`).
    pub given_name: String,
    /// Family name (`sn`).
    pub family_name: String,
    /// `mail`, if any.
    pub email: Option<String>,
    /// Where the first matching rule places them (`None`: not a Ward user).
    pub placement: Option<Placement>,
    /// The groups they are a member of (`memberOf`), as [`normalise_dn`] writes DNs.
    pub groups: Vec<String>,
}

/// The answer to a password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password is theirs.
    Right,
    /// The directory refused it (wrong password, disabled or locked account).
    Wrong,
}

/// A school's directory.
#[derive(Debug, Clone)]
pub struct Directory {
    settings: Arc<Settings>,
}

impl Directory {
    /// A directory reached with `settings` (checked here: nothing is connected yet).
    pub fn new(settings: Settings) -> Result<Directory, DirectoryError> {
        let url = settings.url.trim();
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("ldaps://") || lower.starts_with("ldap://")) {
            return Err(DirectoryError::Settings(format!(
                "directory.url {url:?} must start with ldaps:// or ldap:// (then StartTLS is used)"
            )));
        }
        for (name, value) in [
            ("bind_dn", &settings.bind_dn),
            ("base_dn", &settings.base_dn),
            ("username_attribute", &settings.username_attribute),
        ] {
            if value.trim().is_empty() {
                return Err(DirectoryError::Settings(format!(
                    "directory.{name} is not set"
                )));
            }
        }
        if settings.bind_password.is_empty() {
            return Err(DirectoryError::Settings(
                "directory.bind_password is not set (an empty password would be an anonymous bind)"
                    .into(),
            ));
        }
        if !settings
            .username_attribute
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(DirectoryError::Settings(
                "directory.username_attribute is not an attribute name".into(),
            ));
        }
        let filter = settings.user_filter.trim();
        if !(filter.starts_with('(') && filter.ends_with(')')) {
            return Err(DirectoryError::Settings(format!(
                "directory.user_filter {filter:?} is not an LDAP filter in parentheses"
            )));
        }
        if settings.rules.is_empty() {
            return Err(DirectoryError::Settings(
                "no [[directory.map]] rule: nobody in the directory would be a Ward user".into(),
            ));
        }
        if let Some(rule) = settings
            .rules
            .iter()
            .find(|rule| rule.member_of.is_none() && rule.under.is_none())
        {
            return Err(DirectoryError::Settings(format!(
                "a [[directory.map]] rule ({} ) names neither member_of nor under",
                rule.place.kind.as_str()
            )));
        }
        Ok(Directory {
            settings: Arc::new(settings),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Connects over TLS and binds as Ward's service account.
    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let settings = &self.settings;
        let url = settings.url.trim();
        let starttls = url.to_ascii_lowercase().starts_with("ldap://");
        let connection = LdapConnSettings::new()
            .set_conn_timeout(settings.timeout)
            .set_config(settings.tls.clone())
            .set_starttls(starttls);
        let (driver, mut ldap) = LdapConnAsync::with_settings(connection, url).await?;
        tokio::spawn(async move {
            if let Err(error) = driver.drive().await {
                tracing::debug!(%error, "directory connection ended");
            }
        });
        ldap.with_timeout(settings.timeout);
        let bound = ldap
            .simple_bind(&settings.bind_dn, &settings.bind_password)
            .await?;
        if bound.rc != 0 {
            return Err(DirectoryError::ServiceBind(describe(bound.rc, &bound.text)));
        }
        Ok(ldap)
    }

    /// `(&USER_FILTER(ATTRIBUTE=VALUE))` with the value escaped.
    fn user_filter_for(&self, username: &str) -> String {
        format!(
            "(&{}({}={}))",
            self.settings.user_filter.trim(),
            self.settings.username_attribute,
            escape_filter_value(username)
        )
    }

    fn attributes(&self) -> Vec<&str> {
        vec![
            self.settings.username_attribute.as_str(),
            "givenName",
            "sn",
            "displayName",
            "cn",
            "mail",
            "memberOf",
            "userAccountControl",
        ]
    }

    /// A person from a search entry (`None`: no user name, or a disabled Active Directory
    /// account).
    fn person(&self, entry: SearchEntry) -> Option<DirectoryPerson> {
        let first = |name: &str| -> Option<String> {
            entry
                .attrs
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, values)| values.first())
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        if let Some(control) = first("userAccountControl")
            && control
                .parse::<u32>()
                .is_ok_and(|flags| flags & AD_ACCOUNT_DISABLED != 0)
        {
            return None;
        }
        let username = first(&self.settings.username_attribute)?;
        let member_of: Vec<String> = entry
            .attrs
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case("memberOf"))
            .flat_map(|(_, values)| values.iter().cloned())
            .collect();
        let (given, family) = match (first("givenName"), first("sn")) {
            (Some(given), Some(family)) => (given, family),
            (given, family) => {
                // Split a display name when the directory has no separate parts.
                let whole = first("displayName")
                    .or_else(|| first("cn"))
                    .unwrap_or_else(|| username.clone());
                let (a, b) = whole.rsplit_once(' ').unwrap_or((whole.as_str(), ""));
                (
                    given.unwrap_or_else(|| a.to_owned()),
                    family.unwrap_or_else(|| b.to_owned()),
                )
            }
        };
        let placement = self
            .settings
            .rules
            .iter()
            .find(|rule| rule.matches(&entry.dn, &member_of))
            .map(|rule| rule.place.clone());
        Some(DirectoryPerson {
            dn: entry.dn,
            username,
            given_name: given,
            family_name: family,
            email: first("mail"),
            placement,
            groups: member_of.iter().map(|dn| normalise_dn(dn)).collect(),
        })
    }

    /// Everyone the user filter finds under the base DN (paged), placed or not; disabled
    /// Active Directory accounts are left out.
    pub async fn people(&self) -> Result<Vec<DirectoryPerson>, DirectoryError> {
        let timeout = self.settings.timeout.saturating_mul(30);
        tokio::time::timeout(timeout, self.read_people())
            .await
            .map_err(|_| DirectoryError::TimedOut(timeout))?
    }

    async fn read_people(&self) -> Result<Vec<DirectoryPerson>, DirectoryError> {
        let mut ldap = self.connect().await?;
        let adapters: Vec<Box<dyn Adapter<'_, &str, Vec<&str>>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let mut search = ldap
            .streaming_search_with(
                adapters,
                self.settings.base_dn.trim(),
                Scope::Subtree,
                self.settings.user_filter.trim(),
                self.attributes(),
            )
            .await?;
        let mut people = Vec::new();
        while let Some(entry) = search.next().await? {
            if people.len() >= MOST_PEOPLE {
                let _ = search.finish().await;
                return Err(DirectoryError::TooMany);
            }
            if let Some(person) = self.person(SearchEntry::construct(entry)) {
                people.push(person);
            }
        }
        let done = search.finish().await;
        if done.rc != 0 {
            return Err(DirectoryError::Ldap(ldap3::LdapError::LdapResult {
                result: done,
            }));
        }
        let _ = ldap.unbind().await;
        Ok(people)
    }

    /// The person with log-in name `username`, if exactly one entry has it (`None` for none,
    /// or several: a name that is not unique names nobody).
    pub async fn find(&self, username: &str) -> Result<Option<DirectoryPerson>, DirectoryError> {
        if !plausible_username(username) {
            return Ok(None);
        }
        let timeout = self.settings.timeout.saturating_mul(3);
        tokio::time::timeout(timeout, async {
            let mut ldap = self.connect().await?;
            let (entries, _) = ldap
                .search(
                    self.settings.base_dn.trim(),
                    Scope::Subtree,
                    &self.user_filter_for(username),
                    self.attributes(),
                )
                .await?
                .success()?;
            let _ = ldap.unbind().await;
            if entries.len() != 1 {
                if entries.len() > 1 {
                    tracing::warn!(
                        count = entries.len(),
                        "several directory entries have one log-in name; it logs nobody in"
                    );
                }
                return Ok(None);
            }
            let entry = entries.into_iter().next().map(SearchEntry::construct);
            Ok(entry.and_then(|entry| self.person(entry)))
        })
        .await
        .map_err(|_| DirectoryError::TimedOut(timeout))?
    }

    /// Whether `password` is `person`'s: a bind as their DN. An empty password is
    /// [`PasswordCheck::Wrong`] without asking (it would be an anonymous bind).
    pub async fn check_password(
        &self,
        person: &DirectoryPerson,
        password: &str,
    ) -> Result<PasswordCheck, DirectoryError> {
        if password.is_empty() || password.len() > MOST_CREDENTIAL || password.contains('\0') {
            return Ok(PasswordCheck::Wrong);
        }
        let timeout = self.settings.timeout.saturating_mul(3);
        tokio::time::timeout(timeout, async {
            // Its own connection: the service account's is never rebound as a user.
            let settings = &self.settings;
            let url = settings.url.trim();
            let connection = LdapConnSettings::new()
                .set_conn_timeout(settings.timeout)
                .set_config(settings.tls.clone())
                .set_starttls(url.to_ascii_lowercase().starts_with("ldap://"));
            let (driver, mut ldap) = LdapConnAsync::with_settings(connection, url).await?;
            tokio::spawn(async move {
                let _ = driver.drive().await;
            });
            ldap.with_timeout(settings.timeout);
            let bound = ldap.simple_bind(&person.dn, password).await?;
            let _ = ldap.unbind().await;
            match bound.rc {
                0 => Ok(PasswordCheck::Right),
                // invalidCredentials; Active Directory adds why in the text (expired, locked…).
                49 | 50 | 53 => {
                    tracing::debug!(reason = %describe(bound.rc, &bound.text), "directory refused a password");
                    Ok(PasswordCheck::Wrong)
                }
                _ => Err(DirectoryError::Ldap(ldap3::LdapError::LdapResult {
                    result: bound,
                })),
            }
        })
        .await
        .map_err(|_| DirectoryError::TimedOut(timeout))?
    }
}

/// A log-in name worth asking the directory about.
fn plausible_username(username: &str) -> bool {
    !username.trim().is_empty()
        && username.len() <= MOST_CREDENTIAL
        && !username.chars().any(char::is_control)
}

/// An LDAP result code and text, for a log line or error.
fn describe(rc: u32, text: &str) -> String {
    let name = match rc {
        32 => "no such object",
        34 => "invalid DN syntax",
        48 => "inappropriate authentication",
        49 => "invalid credentials",
        50 => "insufficient access",
        51 => "busy",
        52 => "unavailable",
        53 => "unwilling to perform",
        _ => "error",
    };
    if text.trim().is_empty() {
        format!("{name}, code {rc}")
    } else {
        format!("{name}, code {rc}: {}", text.trim())
    }
}

/// A value escaped for an LDAP filter (RFC 4515): `*`, `(`, `)`, `\` and NUL as `\XX`, so a
/// log-in name cannot change the filter it is put in (`*` would match everyone).
pub fn escape_filter_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => escaped.push_str("\\2a"),
            '(' => escaped.push_str("\\28"),
            ')' => escaped.push_str("\\29"),
            '\\' => escaped.push_str("\\5c"),
            '\0' => escaped.push_str("\\00"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A DN compared as directories compare them for Ward's purposes: case and the spaces around
/// `,` and `=` do not matter (`CN=Year 4, OU=Groups` is `cn=year 4,ou=groups`).
pub fn normalise_dn(dn: &str) -> String {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == ',' {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
        .iter()
        .map(|part| {
            let (attribute, value) = part.split_once('=').unwrap_or((part.as_str(), ""));
            format!(
                "{}={}",
                attribute.trim().to_lowercase(),
                value.trim().to_lowercase()
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_cannot_change_the_filter() {
        assert_eq!(escape_filter_value("j.smith"), "j.smith");
        assert_eq!(escape_filter_value("*"), "\\2a");
        assert_eq!(
            escape_filter_value("a)(uid=*"),
            "a\\29\\28uid=\\2a",
            "no way out of the value"
        );
        assert_eq!(escape_filter_value("back\\slash\0"), "back\\5cslash\\00");
    }

    #[test]
    fn dns_compare_without_case_or_spaces() {
        assert_eq!(
            normalise_dn("CN=Year 4, OU=Groups ,DC=Park-End,DC=sch,DC=uk"),
            "cn=year 4,ou=groups,dc=park-end,dc=sch,dc=uk"
        );
        assert_eq!(
            normalise_dn("cn=Smith\\, Jo,ou=Staff"),
            "cn=smith\\, jo,ou=staff"
        );
    }

    fn rule(member_of: Option<&str>, under: Option<&str>, kind: Kind) -> MapRule {
        MapRule {
            member_of: member_of.map(str::to_owned),
            under: under.map(str::to_owned),
            place: Placement {
                kind,
                year: None,
                group: None,
            },
        }
    }

    #[test]
    fn rules_match_groups_and_subtrees() {
        let groups = ["CN=Year 4,OU=Groups,DC=school".to_owned()];
        let by_group = rule(Some("cn=year 4,ou=groups,dc=school"), None, Kind::Pupil);
        assert!(by_group.matches("uid=a,ou=pupils,dc=school", &groups));
        assert!(!by_group.matches("uid=a,ou=pupils,dc=school", &[]));
        let by_subtree = rule(None, Some("OU=Staff,DC=school"), Kind::Staff);
        assert!(by_subtree.matches("uid=b,ou=staff,dc=school", &[]));
        assert!(by_subtree.matches("uid=b,ou=teachers,ou=staff,dc=school", &[]));
        assert!(
            !by_subtree.matches("ou=staff,dc=school", &[]),
            "not the OU itself"
        );
        assert!(
            !by_subtree.matches("uid=c,ou=nonstaff,dc=school", &[]),
            "a whole RDN, not a suffix of one"
        );
        let both = rule(
            Some("cn=year 4,ou=groups,dc=school"),
            Some("ou=pupils,dc=school"),
            Kind::Pupil,
        );
        assert!(both.matches("uid=a,ou=pupils,dc=school", &groups));
        assert!(!both.matches("uid=a,ou=staff,dc=school", &groups));
        assert!(!rule(None, None, Kind::Pupil).matches("uid=a,dc=school", &groups));
    }

    fn settings() -> Settings {
        Settings {
            url: "ldaps://dc.school.example".into(),
            bind_dn: "cn=ward,dc=school".into(),
            bind_password: "service password".into(),
            base_dn: "dc=school".into(),
            user_filter: "(objectClass=person)".into(),
            username_attribute: "uid".into(),
            timeout: Duration::from_secs(5),
            rules: vec![rule(None, Some("ou=pupils,dc=school"), Kind::Pupil)],
            tls: tls_config(None).expect("system roots"),
        }
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        assert!(Directory::new(settings()).is_ok());
        let refused = |change: fn(&mut Settings)| {
            let mut settings = settings();
            change(&mut settings);
            Directory::new(settings).expect_err("refused").to_string()
        };
        assert!(refused(|s| s.url = "http://dc".into()).contains("ldaps://"));
        assert!(refused(|s| s.bind_password = String::new()).contains("anonymous"));
        assert!(refused(|s| s.user_filter = "objectClass=person".into()).contains("filter"));
        assert!(refused(|s| s.rules.clear()).contains("directory.map"));
        assert!(refused(|s| s.username_attribute = "uid)(x".into()).contains("attribute"));
        assert!(
            !format!("{:?}", settings()).contains("service password"),
            "Debug never shows the password"
        );
    }
}
