//! Ward's configuration: built-in defaults, then a TOML file, then `WARD_…` environment
//! variables, into one typed [`Config`]. Unknown keys in the file and unknown `WARD_`
//! variables are errors, not silently ignored. Every setting is documented in
//! `ward.example.toml`, which a test parses and checks against these types.
//!
//! A setting's variable is `WARD_` and its path in upper case with `_` between the parts:
//! `console.listen` is `WARD_CONSOLE_LISTEN`, `data_dir` is `WARD_DATA_DIR`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// Variables that are not settings but are read elsewhere (the CLI's own flags, the first
/// administrator's password, the log filter, the test suite's database).
const OTHER_VARIABLES: &[&str] = &[
    "WARD_CONFIG",
    "WARD_INDEX",
    "WARD_POLICY",
    "WARD_ADMIN_PASSWORD",
    "WARD_LOG",
    "WARD_TEST_POSTGRES",
    "WARD_PG_BIN",
];

/// Everything `ward serve` can be told.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Folder for Ward's data: the SQLite database, the event journal, the category index.
    pub data_dir: PathBuf,
    /// The school created on first start.
    pub school: SchoolSection,
    /// The database.
    pub database: DatabaseSection,
    /// The staff console.
    pub console: ConsoleSection,
    /// Recording events.
    pub events: EventsSection,
    /// Filtering: the policy and the category index.
    pub filter: FilterSection,
    /// The DNS filter.
    pub dns: DnsSection,
    /// The HTTP/HTTPS proxy.
    pub proxy: ProxySection,
    /// The alert queue and who is told, how.
    pub alerts: AlertsSection,
    /// Risk detection on searches, addresses and pages the proxy sees.
    pub detection: DetectionSection,
    /// The audit log's anchor outside the database.
    pub audit: AuditSection,
    /// RADIUS accounting from the school's network: who holds which address.
    pub radius: RadiusSection,
    /// The school's LDAP or Active Directory: people synchronised, passwords checked.
    pub directory: DirectorySection,
    /// "Sign in with Microsoft / Google" (OpenID Connect) at the console and the portal.
    pub sso: SsoSection,
    /// Password rules for the accounts Ward keeps itself.
    pub passwords: PasswordsSection,
    /// The operations endpoint: Prometheus metrics, `/healthz`, `/readyz`.
    pub metrics: MetricsSection,
    /// How Ward writes its log.
    pub log: LogSection,
    /// Scheduled backups.
    pub backup: BackupSection,
    /// The settings that are not plain values, parsed once by [`Config::load`]; the fields
    /// above keep them as written.
    #[serde(skip)]
    pub parsed: Parsed,
}

/// How the connection to the mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    /// STARTTLS on the submission port (587).
    #[default]
    Starttls,
    /// TLS from the start (465).
    Tls,
    /// None: a relay on the school's own network.
    None,
}

/// Settings read from their text once, when the configuration is loaded, so that no user of
/// the configuration parses (or can mis-parse) them again.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The console's address.
    pub console_listen: SocketAddr,
    /// The DNS filter's addresses (none: off).
    pub dns_listen: Vec<SocketAddr>,
    /// The resolvers allowed queries go to (read from /etc/resolv.conf when not set; empty
    /// when the DNS filter is off).
    pub dns_upstreams: Vec<SocketAddr>,
    /// The networks the DNS filter answers besides the device register (empty when it is off).
    pub dns_allow_clients: Vec<ward_store::Network>,
    /// The block page's IPv4 address, where set.
    pub block_page_ipv4: Option<std::net::Ipv4Addr>,
    /// The block page's IPv6 address, where set.
    pub block_page_ipv6: Option<std::net::Ipv6Addr>,
    /// The proxy's listening addresses and their kinds (none: off).
    pub proxy_listeners: Vec<(ward_proxy::ListenerKind, SocketAddr)>,
    /// The ports CONNECT may reach (`None`: any).
    pub proxy_connect_ports: Option<Vec<u16>>,
    /// The proxy's own name table.
    pub proxy_hosts: std::collections::HashMap<String, std::net::IpAddr>,
    /// Servers the proxy may reach although their addresses are internal.
    pub proxy_internal_servers: Vec<ward_proxy::InternalServer>,
    /// The weekly summary's day and time of day.
    pub summary_at: (jiff::civil::Weekday, jiff::civil::Time),
    /// How the mail server connection is secured.
    pub smtp_security: SmtpSecurity,
    /// The month and day the school year starts.
    pub year_starts: (i8, i8),
    /// Where RADIUS accounting is received (`None`: off).
    pub radius_listen: Option<SocketAddr>,
    /// The network devices that may send accounting, and their shared secrets.
    pub radius_clients: std::collections::HashMap<std::net::IpAddr, Secret>,
    /// Where the metrics endpoint listens (`None`: off).
    pub metrics_listen: Option<SocketAddr>,
    /// Whether log lines are JSON objects.
    pub log_json: bool,
}

impl Default for Parsed {
    /// What the built-in defaults parse to (before [`Config::load`] has parsed the real ones).
    fn default() -> Parsed {
        Parsed {
            console_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            dns_listen: Vec::new(),
            dns_upstreams: Vec::new(),
            dns_allow_clients: Vec::new(),
            block_page_ipv4: None,
            block_page_ipv6: None,
            proxy_listeners: Vec::new(),
            proxy_connect_ports: Some(vec![443, 8443]),
            proxy_hosts: std::collections::HashMap::new(),
            proxy_internal_servers: Vec::new(),
            summary_at: (jiff::civil::Weekday::Monday, jiff::civil::Time::midnight()),
            smtp_security: SmtpSecurity::Starttls,
            year_starts: (9, 1),
            radius_listen: None,
            radius_clients: std::collections::HashMap::new(),
            metrics_listen: None,
            log_json: false,
        }
    }
}

/// RADIUS accounting (RFC 2866) from the school's 802.1X Wi-Fi and switches: which user holds
/// which address, for the DNS filter and the proxy alike.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RadiusSection {
    /// Address to receive accounting on (UDP, usually port 1813); empty: off.
    pub listen: String,
    /// The network devices that may send accounting, each with its shared secret:
    /// `ADDRESS=SECRET`, comma-separated (better given as `WARD_RADIUS_CLIENTS`).
    pub clients: Secret,
    /// Minutes a log-in lasts without word from the network, when the network does not say
    /// how often it updates (`Acct-Interim-Interval`).
    pub session_minutes: u64,
}

impl Default for RadiusSection {
    fn default() -> RadiusSection {
        RadiusSection {
            listen: String::new(),
            clients: Secret::default(),
            session_minutes: 120,
        }
    }
}

/// The school's directory (LDAP, Active Directory): who its people are and where they sit,
/// synchronised into Ward's people, and their passwords for proxy and portal log-ins.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySection {
    /// `ldaps://HOST` or `ldap://HOST` (StartTLS is then required); empty: no directory.
    pub url: String,
    /// A PEM file of the CA certificates the directory's certificate is checked against
    /// besides the system's (a school's own CA); empty: the system's only.
    pub ca: String,
    /// Ward's service account (read access to people and groups).
    pub bind_dn: String,
    /// Its password (better given as `WARD_DIRECTORY_BIND_PASSWORD`).
    pub bind_password: Secret,
    /// Where people are searched for.
    pub base_dn: String,
    /// Which entries are people.
    pub user_filter: String,
    /// The attribute holding the log-in name (`uid`; Active Directory: `sAMAccountName`).
    pub username_attribute: String,
    /// Minutes between synchronisations (0: only `ward directory sync`).
    pub sync_minutes: u64,
    /// The longest a connection or operation may take, in seconds.
    pub timeout_seconds: u64,
    /// How directory entries are placed in Ward, in order: the first that matches.
    pub map: Vec<DirectoryMap>,
    /// Console roles given to the members of directory groups (all that match add up).
    pub roles: Vec<DirectoryRoles>,
}

/// One `[[directory.roles]]`: the members of a directory group get a console account with
/// these roles, whose password is the directory's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryRoles {
    /// The directory group's DN.
    pub member_of: String,
    /// Console roles, comma-separated (`dsl`, `headteacher`, `technician`, `teacher`,
    /// `governor`).
    pub roles: String,
}

impl Default for DirectorySection {
    fn default() -> DirectorySection {
        DirectorySection {
            url: String::new(),
            ca: String::new(),
            bind_dn: String::new(),
            bind_password: Secret::default(),
            base_dn: String::new(),
            user_filter: "(objectClass=person)".into(),
            username_attribute: "uid".into(),
            sync_minutes: 60,
            timeout_seconds: 10,
            map: Vec::new(),
            roles: Vec::new(),
        }
    }
}

/// One `[[directory.map]]` rule: members of `member_of`, or entries under `under` (or both,
/// when both are given), are `kind`, in year `year` and policy group `group`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryMap {
    /// A directory group's DN.
    pub member_of: String,
    /// An organisational unit's DN.
    pub under: String,
    /// `pupil`, `staff` or `guest`.
    pub kind: String,
    /// A pupil's year group (`R`, `1`…`13`); empty: none.
    pub year: String,
    /// The policy group; empty: the school's group for the kind and year.
    pub group: String,
}

/// Single sign-on at the console with an OpenID Connect provider (Microsoft Entra ID, Google).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SsoSection {
    /// The provider's issuer; empty: no single sign-on.
    pub issuer: String,
    /// Ward's client (application) id there.
    pub client_id: String,
    /// Its client secret (better given as `WARD_SSO_CLIENT_SECRET`).
    pub client_secret: Secret,
    /// Email domains that may sign in, comma-separated; empty: any the provider vouches for.
    pub domains: String,
    /// The button's words after "Sign in with".
    pub label: String,
}

impl SsoSection {
    /// The provider's settings, when single sign-on is configured.
    pub fn settings(&self) -> Option<ward_oidc::client::Settings> {
        (!self.issuer.trim().is_empty()).then(|| ward_oidc::client::Settings {
            issuer: self.issuer.trim().to_owned(),
            client_id: self.client_id.trim().to_owned(),
            client_secret: self.client_secret.expose().to_owned(),
            domains: self
                .domains
                .split(',')
                .map(|domain| domain.trim().to_lowercase())
                .filter(|domain| !domain.is_empty())
                .collect(),
            label: if self.label.trim().is_empty() {
                "your school account".to_owned()
            } else {
                self.label.trim().to_owned()
            },
        })
    }
}

/// Password rules (issue 24): `[passwords.accounts]` for staff accounts, `[passwords.people]`
/// for pupils' Ward passwords, and `[[passwords.group]]` for particular policy groups. A field
/// left out keeps the built-in rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordsSection {
    /// Staff accounts (the console; proxy and portal log-ins with them).
    pub accounts: PasswordRulesSection,
    /// People's (pupils') Ward passwords, for groups not named in `group`.
    pub people: PasswordRulesSection,
    /// Rules for the people of particular policy groups.
    pub group: Vec<GroupPasswordsSection>,
}

/// One kind of account's rules, as written (each field optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordRulesSection {
    /// Fewest characters.
    pub min_length: Option<usize>,
    /// `anything`, `letters-and-numbers` or `capitals-small-letters-and-numbers`.
    pub needs: Option<ward_console::passwords::Needs>,
    /// Days after which the holder is reminded to choose a new one (0: never).
    pub change_days: Option<u32>,
}

impl PasswordRulesSection {
    fn over(
        &self,
        base: &ward_console::passwords::PasswordRules,
    ) -> ward_console::passwords::PasswordRules {
        ward_console::passwords::PasswordRules {
            min_length: self.min_length.unwrap_or(base.min_length),
            needs: self.needs.unwrap_or(base.needs),
            change_days: self.change_days.unwrap_or(base.change_days),
        }
    }
}

/// One `[[passwords.group]]`: rules for the people of some policy groups.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GroupPasswordsSection {
    /// The policy groups, comma-separated (`ks1, eyfs`).
    pub groups: String,
    /// Fewest characters.
    pub min_length: Option<usize>,
    /// What it must have in it.
    pub needs: Option<ward_console::passwords::Needs>,
    /// Days after which the holder is reminded to choose a new one (0: never).
    pub change_days: Option<u32>,
}

impl PasswordsSection {
    /// The rules in force (the built-in ones where the configuration is silent); an error
    /// names a rule no one could keep.
    pub fn policy(&self) -> anyhow::Result<ward_console::passwords::PasswordPolicy> {
        use ward_console::passwords::{PasswordPolicy, PasswordRules};
        let accounts = self.accounts.over(&PasswordRules::staff_default());
        let people = self.people.over(&PasswordRules::pupil_default());
        let mut checked = vec![("passwords.accounts".to_owned(), accounts.clone())];
        checked.push(("passwords.people".to_owned(), people.clone()));
        let mut groups = Vec::new();
        for group in &self.group {
            let rules = PasswordRulesSection {
                min_length: group.min_length,
                needs: group.needs,
                change_days: group.change_days,
            }
            .over(&people);
            let names: Vec<String> = group
                .groups
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect();
            if names.is_empty() {
                bail!("a [[passwords.group]] names no groups");
            }
            for name in names {
                checked.push((format!("passwords.group {name}"), rules.clone()));
                groups.push((name, rules.clone()));
            }
        }
        for (place, rules) in &checked {
            if let Some(problem) = rules.problem_with_rules() {
                bail!("{place}: {problem}");
            }
        }
        Ok(PasswordPolicy {
            accounts,
            people,
            groups,
        })
    }
}

/// The audit log's checkpoints (see `ward audit verify`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// The file holding the key that signs the audit log's checkpoints; empty: `audit.key` in
    /// the data folder. Keep it where the database's administrators cannot write.
    pub key_file: String,
}

/// The operations endpoint (issue 28).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// ADDRESS:PORT of the endpoint; empty: off.
    pub listen: String,
}

/// How Ward writes its log (to standard error; the journal under systemd).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// "text" (a line for people) or "json" (one object per line, for log collectors).
    pub format: String,
}

impl Default for LogSection {
    fn default() -> LogSection {
        LogSection {
            format: "text".into(),
        }
    }
}

/// Backups Ward takes by itself (`ward backup` takes one by hand).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSection {
    /// The folder backups are written to; empty: no scheduled backups.
    pub folder: String,
    /// Hours between backups.
    pub every_hours: u64,
    /// How many backups are kept; older ones are deleted.
    pub keep: usize,
}

impl Default for BackupSection {
    fn default() -> BackupSection {
        BackupSection {
            folder: String::new(),
            every_hours: 24,
            keep: 14,
        }
    }
}

/// Risk detection (issue 7): phrase lists scanned against what the proxy sees.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionSection {
    /// Whether the proxy scans at all.
    pub enabled: bool,
    /// The most of a page read for scanning, in KiB (the rest passes unscanned).
    pub page_limit_kb: usize,
    /// More phrase lists in Ward's format, comma-separated paths, added to the built-in one.
    pub lists: String,
    /// A folder of e2guardian phrase lists to import as well (`/etc/e2guardian/lists/phraselists`);
    /// empty: none.
    pub e2guardian: String,
    /// Whether the classifier shipped in Ward reads searches, titles and messages beside the
    /// lists (and may overrule a list hit it is sure is harmless).
    pub model: bool,
}

impl Default for DetectionSection {
    fn default() -> DetectionSection {
        DetectionSection {
            enabled: true,
            page_limit_kb: 1024,
            lists: String::new(),
            e2guardian: String::new(),
            model: true,
        }
    }
}

/// The longest alert window: beyond a week, repeats would hide that something is still going on.
const MAX_FOLD_MINUTES: u64 = 7 * 24 * 60;

/// A setting that must not be shown: a password, or an address holding a token. `Debug`
/// (and so every log line and panic message) prints `"(secret)"`; the value is read with
/// [`Secret::expose`] where it is used.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"(secret)\"")
        }
    }
}

/// The alert queue and its notifications (email over SMTP, a webhook, the weekly summary).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSection {
    /// Blocked attempts of one person in one category within this many minutes are one alert.
    pub fold_minutes: u64,
    /// Alerts at least this severe (1 to 5) are sent at once by email and to the webhook.
    pub notify_severity: u8,
    /// Who is emailed at once, comma-separated; empty: nobody.
    pub email_to: String,
    /// Who gets the weekly summary, comma-separated; empty: the `email_to` addresses.
    pub summary_to: String,
    /// The summary's day of the week (`monday` … `sunday`) and time, school time.
    pub summary_day: String,
    /// `HH:MM`.
    pub summary_time: String,
    /// An address that is sent each notified alert as JSON (POST); empty: none. Chat
    /// services put their secret in the address, so it is kept as a secret.
    pub webhook: Secret,
    /// The console's address as staff reach it, for links in messages; empty:
    /// `http://` and `console.listen`.
    pub console_url: String,
    /// The mail server (host name); empty: no email.
    pub smtp_server: String,
    /// Its port.
    pub smtp_port: u16,
    /// `starttls` (port 587), `tls` (port 465) or `none` (a relay on the school's own network).
    pub smtp_security: String,
    /// The user name to log in to the mail server with; empty: no log-in.
    pub smtp_username: String,
    /// Its password (better given as `WARD_ALERTS_SMTP_PASSWORD`).
    pub smtp_password: Secret,
    /// The sender, e.g. `Ward <ward@school.example>`.
    pub smtp_from: String,
}

/// The HTTP/HTTPS proxy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySection {
    /// Explicit proxy addresses, comma-separated; empty turns it off.
    pub listen: String,
    /// Transparent HTTP addresses (port 80 redirected here); empty: off.
    pub transparent_http: String,
    /// Transparent HTTPS addresses (port 443 redirected here); empty: off.
    pub transparent_https: String,
    /// How clients reach the explicit proxy (`host:port`), for the PAC file and the block
    /// page's forms; empty: the address each connection arrived on.
    pub public_address: String,
    /// Most client connections at once.
    pub max_connections: usize,
    /// Most client connections from one address.
    pub max_connections_per_client: usize,
    /// Largest request head, in KiB.
    pub max_header_kb: usize,
    /// Seconds a client has to send a request's head (and the longest wait between requests).
    pub header_timeout_seconds: u64,
    /// Seconds a body or tunnel may go without a byte either way.
    pub idle_timeout_seconds: u64,
    /// Seconds to connect to a server.
    pub connect_timeout_seconds: u64,
    /// Ports CONNECT may reach, comma-separated; `*` for any.
    pub connect_ports: String,
    /// Proxy log-ins (Ward accounts and the directory) and the portal log-in page.
    pub authentication: bool,
    /// Whether Basic log-ins (a typed user name and password) are offered; with Kerberos, the
    /// fallback for computers off the domain.
    pub basic_login: bool,
    /// The proxy's Kerberos keytab (`HTTP/PROXY-NAME@REALM`, exported by the domain's
    /// administrator), for transparent sign-on of domain computers; empty: no Kerberos.
    pub kerberos_keytab: String,
    /// Minutes a portal log-in lasts (ended sooner by logging out).
    pub portal_minutes: u64,
    /// `NAME=ADDRESS` pairs resolved before the system resolver, comma-separated.
    pub hosts: String,
    /// Servers the proxy may reach although their addresses are internal (loopback, this
    /// machine's, or private for a group without `private_networks`), comma-separated:
    /// `ADDRESS`, `ADDRESS/PREFIX`, `ADDRESS:PORT`, `[IPV6]:PORT`. Ward's own listening
    /// addresses are never reached, whatever this says.
    pub internal_servers: String,
    /// Inspect HTTPS (decrypt with the school's CA from `ward ca init`), on CONNECT tunnels
    /// and transparent HTTPS alike.
    pub inspect_https: bool,
    /// A PEM file of extra certificate authorities trusted for sites Ward inspects, besides the
    /// system's (an internal server's own CA); empty: none.
    pub upstream_ca: String,
    /// A file of hosts never decrypted (one per line, each covering the names under it),
    /// besides Ward's own list; empty: none.
    pub never_inspect: String,
}

/// The school created on first start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SchoolSection {
    /// Its name, as the console shows it.
    pub name: String,
    /// A short unique name (letters, digits, `-`).
    pub slug: String,
    /// Its time zone, for "today" and the times shown.
    pub time_zone: String,
    /// The day the school year starts (`MM-DD`): agreements are accepted again each year.
    pub year_starts: String,
}

/// The database. The URL may hold a password, so `Debug` hides it.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`; empty means `ward.db` in the
    /// data folder.
    pub url: String,
    /// Most connections open at once.
    pub max_connections: u32,
    /// Seconds to wait for a connection before a query fails.
    pub connect_timeout_seconds: u64,
}

impl fmt::Debug for DatabaseSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSection")
            .field("url", &ward_store::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("connect_timeout_seconds", &self.connect_timeout_seconds)
            .finish()
    }
}

/// The staff console.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSection {
    /// Address and port to listen on.
    pub listen: String,
    /// Mark cookies `Secure`: set when the console is reached over HTTPS.
    pub secure_cookies: bool,
    /// Hours a log-in lasts.
    pub session_hours: i64,
    /// Failed log-ins allowed before each further one locks the account for a doubling time.
    pub free_login_attempts: i64,
    /// The longest such lock, in minutes.
    pub max_lockout_minutes: i64,
    /// Roles whose accounts sign in with a code from an authenticator app as well as the
    /// password, comma-separated; empty: none.
    pub second_factor_roles: String,
    /// Largest CSV upload, in megabytes.
    pub upload_limit_mb: usize,
    /// Most connections at once; at the limit the one that has waited longest without sending
    /// a request is closed to make room, else the new one is refused.
    pub max_connections: usize,
    /// Most connections at once from one address, likewise.
    pub max_connections_per_client: usize,
    /// Seconds a client has to send a request's head, and the longest wait between requests.
    pub header_timeout_seconds: u64,
    /// Seconds a request's body or a response may go without a byte moving.
    pub idle_timeout_seconds: u64,
}

/// Recording events.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
    /// This gateway's name, unique among the gateways sharing a database.
    pub gateway: String,
    /// Events held in memory before new ones are dropped (counted on the dashboard).
    pub queue_capacity: usize,
    /// Most events written in one transaction.
    pub batch_size: usize,
    /// Seconds a database write may take before the database is treated as down.
    pub database_timeout_seconds: u64,
    /// Megabytes of journal (events not yet in the database) kept before new ones are dropped.
    pub journal_limit_mb: u64,
}

/// Filtering: the policy and the category index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FilterSection {
    /// The policy file; empty means the built-in default policy. Its groups become the
    /// school's groups.
    pub policy: String,
    /// The compiled category index (`ward lists import`); empty means `ward.idx` in the data
    /// folder.
    pub index: String,
    /// A folder in UT1's layout (a mirror the school or its authority keeps current) to
    /// rebuild the index from on a schedule; empty: the index is only rebuilt by hand.
    pub update_ut1: String,
    /// Or an HTTPS address of a `.tar.gz` archive in UT1's layout (UT1's own, or an
    /// authority's mirror) to download and rebuild from; set this or `update_ut1`.
    pub update_url: String,
    /// Where the archive's SHA-256 is published (`sha256sum`'s format); empty: the archive's
    /// address with `.sha256` added. An archive whose checksum differs is refused.
    pub update_checksum_url: String,
    /// An Ed25519 public key (base64, 32 bytes) whose signature over the archive, published at
    /// its address with `.sig` added (base64 or the 64 bytes), is required; empty: the
    /// checksum alone.
    pub update_public_key: String,
    /// A PEM file of the certificate authorities to trust for the download instead of the
    /// public ones (an authority's own mirror); empty: the public ones.
    pub update_ca: String,
    /// The most megabytes downloaded for the archive.
    pub update_max_mb: u64,
    /// Illegal-content lists to rebuild it with, comma-separated `NAME=FILE` (IWF, CTIRU).
    pub update_illegal: String,
    /// Hours between rebuilds.
    pub update_hours: u64,
}

/// The DNS filter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSection {
    /// Addresses to answer on (UDP and TCP), comma-separated; empty turns the DNS filter off.
    pub listen: String,
    /// Upstream resolvers, comma-separated (`ADDRESS` or `ADDRESS:PORT`); empty means the
    /// `nameserver` lines of /etc/resolv.conf.
    pub upstream: String,
    /// Milliseconds to wait for one upstream try.
    pub upstream_timeout_ms: u64,
    /// Times the whole upstream list is tried before answering SERVFAIL.
    pub upstream_attempts: usize,
    /// The block page's IPv4 address, answered for blocked names; empty: "no data".
    pub block_page_ipv4: String,
    /// The block page's IPv6 address; empty: "no data".
    pub block_page_ipv6: String,
    /// Answers kept in the cache.
    pub cache_entries: usize,
    /// Receive loops per UDP socket.
    pub workers: usize,
    /// Networks whose clients are answered, comma-separated (`10.0.0.0/16, 192.168.5.0/24`),
    /// besides the device register's addresses and subnets; others get REFUSED. Empty: the
    /// networks of this machine's own addresses.
    pub allow_clients: String,
    /// Answers per second per client over UDP before response-rate limiting (beyond it, every
    /// second query gets an empty truncated reply and the rest nothing); 0 turns it off.
    pub client_qps: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("var"),
            school: SchoolSection {
                name: "Our School".into(),
                slug: "school".into(),
                time_zone: "Europe/London".into(),
                year_starts: "09-01".into(),
            },
            database: DatabaseSection {
                url: String::new(),
                max_connections: 8,
                connect_timeout_seconds: 5,
            },
            console: ConsoleSection {
                listen: "127.0.0.1:8080".into(),
                secure_cookies: false,
                session_hours: 8,
                free_login_attempts: 5,
                max_lockout_minutes: 15,
                second_factor_roles: "dsl,headteacher".into(),
                upload_limit_mb: 10,
                max_connections: 256,
                max_connections_per_client: 32,
                header_timeout_seconds: 30,
                idle_timeout_seconds: 60,
            },
            events: EventsSection {
                gateway: "gateway".into(),
                queue_capacity: 100_000,
                batch_size: 5_000,
                database_timeout_seconds: 5,
                journal_limit_mb: 2_048,
            },
            filter: FilterSection {
                policy: String::new(),
                index: String::new(),
                update_ut1: String::new(),
                update_url: String::new(),
                update_checksum_url: String::new(),
                update_public_key: String::new(),
                update_ca: String::new(),
                update_max_mb: 256,
                update_illegal: String::new(),
                update_hours: 24,
            },
            dns: DnsSection {
                listen: "127.0.0.1:5353".into(),
                upstream: String::new(),
                upstream_timeout_ms: 1_500,
                upstream_attempts: 2,
                block_page_ipv4: String::new(),
                block_page_ipv6: String::new(),
                cache_entries: 100_000,
                workers: 2,
                allow_clients: String::new(),
                client_qps: 200,
            },
            proxy: ProxySection {
                listen: "127.0.0.1:3128".into(),
                transparent_http: String::new(),
                transparent_https: String::new(),
                public_address: String::new(),
                max_connections: 4096,
                max_connections_per_client: 256,
                max_header_kb: 64,
                header_timeout_seconds: 30,
                idle_timeout_seconds: 300,
                connect_timeout_seconds: 10,
                connect_ports: "443,8443".into(),
                authentication: false,
                basic_login: true,
                kerberos_keytab: String::new(),
                portal_minutes: 60,
                hosts: String::new(),
                internal_servers: String::new(),
                inspect_https: false,
                upstream_ca: String::new(),
                never_inspect: String::new(),
            },
            detection: DetectionSection::default(),
            audit: AuditSection::default(),
            radius: RadiusSection::default(),
            directory: DirectorySection::default(),
            sso: SsoSection::default(),
            passwords: PasswordsSection::default(),
            metrics: MetricsSection::default(),
            log: LogSection::default(),
            backup: BackupSection::default(),
            parsed: Parsed::default(),
            alerts: AlertsSection {
                fold_minutes: 60,
                notify_severity: 4,
                email_to: String::new(),
                summary_to: String::new(),
                summary_day: "monday".into(),
                summary_time: "07:30".into(),
                webhook: Secret::default(),
                console_url: String::new(),
                smtp_server: String::new(),
                smtp_port: 587,
                smtp_security: "starttls".into(),
                smtp_username: String::new(),
                smtp_password: Secret::default(),
                smtp_from: "Ward <ward@localhost>".into(),
            },
        }
    }
}

impl Default for AlertsSection {
    fn default() -> AlertsSection {
        Config::default().alerts
    }
}

impl Default for SchoolSection {
    fn default() -> SchoolSection {
        Config::default().school
    }
}
impl Default for DatabaseSection {
    fn default() -> DatabaseSection {
        Config::default().database
    }
}
impl Default for ConsoleSection {
    fn default() -> ConsoleSection {
        Config::default().console
    }
}
impl Default for EventsSection {
    fn default() -> EventsSection {
        Config::default().events
    }
}
impl Default for FilterSection {
    fn default() -> FilterSection {
        Config::default().filter
    }
}
impl Default for DnsSection {
    fn default() -> DnsSection {
        Config::default().dns
    }
}
impl Default for ProxySection {
    fn default() -> ProxySection {
        Config::default().proxy
    }
}

impl Config {
    /// Reads the configuration: defaults, then `file` (if given), then the `WARD_` variables
    /// among `environment`.
    pub fn load(
        file: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut table =
            toml::Table::try_from(Config::default()).context("default configuration")?;
        if let Some(file) = file {
            let text = std::fs::read_to_string(file).with_context(|| {
                format!("cannot read the configuration file {}", file.display())
            })?;
            let from_file: toml::Table = text
                .parse()
                .with_context(|| format!("{} is not valid TOML", file.display()))?;
            merge(&mut table, from_file);
        }
        let leaves = leaf_paths(&toml::Table::try_from(Config::default())?);
        let mut unknown = Vec::new();
        for (name, value) in environment {
            let Some(setting) = name.strip_prefix("WARD_") else {
                continue;
            };
            if OTHER_VARIABLES.contains(&name.as_str()) {
                continue;
            }
            let Some(path) = leaves
                .iter()
                .find(|path| path.join("_").to_ascii_uppercase() == setting)
            else {
                unknown.push(name);
                continue;
            };
            set_from_text(&mut table, path, &value).with_context(|| format!("{name}={value:?}"))?;
        }
        if !unknown.is_empty() {
            bail!(
                "unknown environment variable(s) {}: the settings are {}",
                unknown.join(", "),
                leaves
                    .iter()
                    .map(|path| format!("WARD_{}", path.join("_").to_ascii_uppercase()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let mut config: Config = table.try_into().map_err(|error: toml::de::Error| {
            anyhow::anyhow!(
                "configuration{}: {}",
                file.map_or(String::new(), |file| format!(" ({})", file.display())),
                error.message()
            )
        })?;
        config.parsed = config.parse()?;
        Ok(config)
    }

    /// Checks the plain values and parses the others, once.
    fn parse(&self) -> anyhow::Result<Parsed> {
        let console_listen = self.listen_address()?;
        jiff::tz::TimeZone::get(&self.school.time_zone).with_context(|| {
            format!(
                "school.time_zone {:?} is not a time zone",
                self.school.time_zone
            )
        })?;
        if self.school.slug.is_empty()
            || !self
                .school
                .slug
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        {
            bail!(
                "school.slug {:?} must be letters, digits and -",
                self.school.slug
            );
        }
        if self.events.batch_size == 0 || self.events.queue_capacity == 0 {
            bail!("events.batch_size and events.queue_capacity must be above 0");
        }
        if self.console.session_hours <= 0 {
            bail!("console.session_hours must be above 0");
        }
        if !self.sso.issuer.trim().is_empty() {
            let issuer = self.sso.issuer.trim();
            let loopback =
                issuer.starts_with("http://127.0.0.1") || issuer.starts_with("http://localhost");
            if !issuer.starts_with("https://") && !loopback {
                bail!("sso.issuer {issuer:?} must be an https:// address");
            }
            if self.sso.client_id.trim().is_empty() || self.sso.client_secret.is_empty() {
                bail!("sso.issuer is set but sso.client_id or sso.client_secret is not");
            }
        }
        self.passwords.policy()?;
        for (number, rule) in self.directory.roles.iter().enumerate() {
            let roles: ward_store::Roles = rule.roles.parse().map_err(|error| {
                anyhow::anyhow!("[[directory.roles]] number {}: roles: {error}", number + 1)
            })?;
            if roles.is_empty() || rule.member_of.trim().is_empty() {
                bail!(
                    "[[directory.roles]] number {} needs member_of and roles",
                    number + 1
                );
            }
        }
        self.console
            .second_factor_roles
            .parse::<ward_store::Roles>()
            .map_err(|error| anyhow::anyhow!("console.second_factor_roles: {error}"))?;
        let dns_listen = self.dns_listen()?;
        // The upstreams and the clients answered matter only when the DNS filter runs (and
        // reading them may need /etc/resolv.conf and the machine's interfaces).
        let (dns_upstreams, dns_allow_clients) = if dns_listen.is_empty() {
            if !self.dns.upstream.trim().is_empty() {
                self.dns_upstreams()?;
            }
            (Vec::new(), Vec::new())
        } else {
            (self.dns_upstreams()?, self.dns_allow_clients()?)
        };
        let (block_page_ipv4, block_page_ipv6) = self.block_page_addresses()?;
        if self.dns.cache_entries == 0 || self.dns.upstream_timeout_ms == 0 {
            bail!("dns.cache_entries and dns.upstream_timeout_ms must be above 0");
        }
        let (summary_at, smtp_security) = self.check_alerts()?;
        let proxy = &self.proxy;
        if proxy.max_connections == 0
            || proxy.header_timeout_seconds == 0
            || proxy.idle_timeout_seconds == 0
            || proxy.connect_timeout_seconds == 0
            || proxy.portal_minutes == 0
        {
            bail!(
                "proxy.max_connections, proxy.portal_minutes and the proxy's time-outs must be above 0"
            );
        }
        if !proxy.kerberos_keytab.trim().is_empty() && !proxy.authentication {
            bail!("proxy.kerberos_keytab needs proxy.authentication = true");
        }
        if proxy.authentication && !proxy.basic_login && proxy.kerberos_keytab.trim().is_empty() {
            bail!("proxy.authentication is on with neither Basic log-ins nor a Kerberos keytab");
        }
        let metrics_listen = match self.metrics.listen.trim() {
            "" => None,
            text => Some(
                text.parse::<SocketAddr>()
                    .with_context(|| format!("metrics.listen {text:?} is not ADDRESS:PORT"))?,
            ),
        };
        let log_json = match self.log.format.trim() {
            "text" => false,
            "json" => true,
            other => bail!("log.format {other:?} must be \"text\" or \"json\""),
        };
        if !self.backup.folder.trim().is_empty()
            && (self.backup.every_hours == 0 || self.backup.keep == 0)
        {
            bail!("backup.every_hours and backup.keep must be above 0");
        }
        Ok(Parsed {
            metrics_listen,
            log_json,
            console_listen,
            dns_listen,
            dns_upstreams,
            dns_allow_clients,
            block_page_ipv4,
            block_page_ipv6,
            proxy_listeners: self.proxy_listeners()?,
            proxy_connect_ports: self.proxy_connect_ports()?,
            proxy_hosts: self.proxy_hosts()?,
            proxy_internal_servers: self.proxy_internal_servers()?,
            summary_at,
            smtp_security,
            year_starts: self.year_starts()?,
            radius_listen: self.radius_listen()?,
            radius_clients: self.radius_clients()?,
        })
    }

    fn year_starts(&self) -> anyhow::Result<(i8, i8)> {
        let text = self.school.year_starts.trim();
        let date = format!("2024-{text}")
            .parse::<jiff::civil::Date>()
            .ok()
            .filter(|_| text.len() == 5)
            .with_context(|| {
                format!("school.year_starts {text:?} is not a day of the year like 09-01")
            })?;
        Ok((date.month(), date.day()))
    }

    fn radius_listen(&self) -> anyhow::Result<Option<SocketAddr>> {
        let listen = self.radius.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        if self.radius.session_minutes == 0 {
            bail!("radius.session_minutes must be above 0");
        }
        if self.dns.listen.trim().is_empty() && self.proxy.listen.trim().is_empty() {
            bail!(
                "radius.listen is set but neither the DNS filter nor the proxy runs \
                 (dns.listen and proxy.listen are empty): the network's log-ins would name nobody"
            );
        }
        let address = listen
            .parse()
            .with_context(|| format!("radius.listen {listen:?} is not ADDRESS:PORT"))?;
        if self.radius.clients.is_empty() {
            bail!("radius.listen is set but radius.clients names no network device and secret");
        }
        Ok(Some(address))
    }

    /// `ADDRESS=SECRET` pairs. The secrets are never in an error message.
    fn radius_clients(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<std::net::IpAddr, Secret>> {
        let mut clients = std::collections::HashMap::new();
        for part in split_list(self.radius.clients.expose()) {
            let Some((address, secret)) = part.split_once('=') else {
                bail!("radius.clients: an entry is not ADDRESS=SECRET");
            };
            let address: std::net::IpAddr = address.trim().parse().with_context(|| {
                format!("radius.clients: {:?} is not an IP address", address.trim())
            })?;
            let secret = secret.trim();
            if secret.len() < 16 {
                bail!(
                    "radius.clients: the secret for {address} is shorter than 16 characters \
                     (RADIUS secrets protect who is on the network: use a long random one)"
                );
            }
            clients.insert(
                ward_gateway::canonical_ip(address),
                Secret::from(secret.to_owned()),
            );
        }
        Ok(clients)
    }

    fn check_alerts(
        &self,
    ) -> anyhow::Result<((jiff::civil::Weekday, jiff::civil::Time), SmtpSecurity)> {
        let alerts = &self.alerts;
        if !(1..=MAX_FOLD_MINUTES).contains(&alerts.fold_minutes) {
            bail!("alerts.fold_minutes must be 1 to {MAX_FOLD_MINUTES} (a week)");
        }
        if !(1..=5).contains(&alerts.notify_severity) {
            bail!("alerts.notify_severity must be 1 to 5");
        }
        let summary_at = self.summary_schedule()?;
        let smtp_security = match alerts.smtp_security.as_str() {
            "starttls" => SmtpSecurity::Starttls,
            "tls" => SmtpSecurity::Tls,
            "none" => SmtpSecurity::None,
            other => bail!("alerts.smtp_security {other:?} must be starttls, tls or none"),
        };
        let webhook = alerts.webhook.expose().trim();
        if !webhook.is_empty()
            && !webhook.starts_with("https://")
            && !webhook.starts_with("http://")
        {
            bail!("alerts.webhook must be an http:// or https:// address");
        }
        if alerts.smtp_server.trim().is_empty()
            && !(alerts.email_to.trim().is_empty() && alerts.summary_to.trim().is_empty())
        {
            bail!("alerts.email_to and alerts.summary_to need alerts.smtp_server");
        }
        Ok((summary_at, smtp_security))
    }

    /// The weekly summary's day and time of day.
    fn summary_schedule(&self) -> anyhow::Result<(jiff::civil::Weekday, jiff::civil::Time)> {
        use jiff::civil::Weekday;
        let day = match self.alerts.summary_day.trim().to_ascii_lowercase().as_str() {
            "monday" => Weekday::Monday,
            "tuesday" => Weekday::Tuesday,
            "wednesday" => Weekday::Wednesday,
            "thursday" => Weekday::Thursday,
            "friday" => Weekday::Friday,
            "saturday" => Weekday::Saturday,
            "sunday" => Weekday::Sunday,
            other => bail!("alerts.summary_day {other:?} is not a day of the week"),
        };
        let time = self
            .alerts
            .summary_time
            .trim()
            .parse::<jiff::civil::Time>()
            .with_context(|| {
                format!(
                    "alerts.summary_time {:?} is not a time like 07:30",
                    self.alerts.summary_time
                )
            })?;
        Ok((day, time))
    }

    /// The console's address for links in messages.
    pub fn console_url(&self) -> String {
        match self.alerts.console_url.trim() {
            "" => format!("http://{}", self.console.listen),
            url => url.trim_end_matches('/').to_owned(),
        }
    }

    /// The proxy's listening addresses and their kinds (none: the proxy is off).
    fn proxy_listeners(&self) -> anyhow::Result<Vec<(ward_proxy::ListenerKind, SocketAddr)>> {
        use ward_proxy::ListenerKind::{Explicit, TransparentHttp, TransparentHttps};
        let mut listeners = Vec::new();
        for (kind, name, text) in [
            (Explicit, "proxy.listen", &self.proxy.listen),
            (
                TransparentHttp,
                "proxy.transparent_http",
                &self.proxy.transparent_http,
            ),
            (
                TransparentHttps,
                "proxy.transparent_https",
                &self.proxy.transparent_https,
            ),
        ] {
            for part in split_list(text) {
                let address = part
                    .parse()
                    .with_context(|| format!("{name} {part:?} is not ADDRESS:PORT"))?;
                listeners.push((kind, address));
            }
        }
        Ok(listeners)
    }

    /// The ports CONNECT may reach (`None`: any).
    fn proxy_connect_ports(&self) -> anyhow::Result<Option<Vec<u16>>> {
        if self.proxy.connect_ports.trim() == "*" {
            return Ok(None);
        }
        split_list(&self.proxy.connect_ports)
            .map(|part| {
                part.parse::<u16>()
                    .ok()
                    .filter(|&port| port != 0)
                    .with_context(|| format!("proxy.connect_ports {part:?} is not a port"))
            })
            .collect::<anyhow::Result<Vec<u16>>>()
            .map(Some)
    }

    /// The networks the DNS filter answers (besides the device register): `dns.allow_clients`,
    /// or the networks of this machine's addresses.
    fn dns_allow_clients(&self) -> anyhow::Result<Vec<ward_store::Network>> {
        if self.dns.allow_clients.trim().is_empty() {
            return Ok(machine_networks());
        }
        split_list(&self.dns.allow_clients)
            .map(|part| {
                part.parse()
                    .with_context(|| format!("dns.allow_clients {part:?}"))
            })
            .collect()
    }

    /// Servers the proxy may reach although their addresses are internal.
    fn proxy_internal_servers(&self) -> anyhow::Result<Vec<ward_proxy::InternalServer>> {
        split_list(&self.proxy.internal_servers)
            .map(|part| {
                part.parse()
                    .with_context(|| format!("proxy.internal_servers {part:?}"))
            })
            .collect()
    }

    /// The proxy's own name table.
    fn proxy_hosts(&self) -> anyhow::Result<std::collections::HashMap<String, std::net::IpAddr>> {
        split_list(&self.proxy.hosts)
            .map(|part| {
                let (name, address) = part
                    .split_once('=')
                    .with_context(|| format!("proxy.hosts {part:?} is not NAME=ADDRESS"))?;
                let address = address
                    .trim()
                    .parse()
                    .with_context(|| format!("proxy.hosts {part:?}: not an IP address"))?;
                Ok((
                    name.trim().trim_end_matches('.').to_ascii_lowercase(),
                    address,
                ))
            })
            .collect()
    }

    /// The category index file.
    pub fn index_path(&self) -> PathBuf {
        if self.filter.index.is_empty() {
            self.data_dir.join("ward.idx")
        } else {
            PathBuf::from(&self.filter.index)
        }
    }

    /// The DNS filter's addresses (none: the filter is off).
    fn dns_listen(&self) -> anyhow::Result<Vec<SocketAddr>> {
        split_list(&self.dns.listen)
            .map(|text| {
                text.parse()
                    .with_context(|| format!("dns.listen {text:?} is not ADDRESS:PORT"))
            })
            .collect()
    }

    /// The upstream resolvers: the setting, or /etc/resolv.conf's name servers.
    fn dns_upstreams(&self) -> anyhow::Result<Vec<SocketAddr>> {
        if self.dns.upstream.trim().is_empty() {
            let text = std::fs::read_to_string("/etc/resolv.conf").context(
                "dns.upstream is empty and /etc/resolv.conf cannot be read: name the upstream resolvers",
            )?;
            return Ok(resolv_conf_servers(&text));
        }
        split_list(&self.dns.upstream)
            .map(|text| {
                parse_server(text).with_context(|| {
                    format!("dns.upstream {text:?} is not ADDRESS or ADDRESS:PORT")
                })
            })
            .collect()
    }

    /// The block page's addresses, where set.
    fn block_page_addresses(
        &self,
    ) -> anyhow::Result<(Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>)> {
        let v4 =
            match self.dns.block_page_ipv4.trim() {
                "" => None,
                text => Some(text.parse().with_context(|| {
                    format!("dns.block_page_ipv4 {text:?} is not an IPv4 address")
                })?),
            };
        let v6 =
            match self.dns.block_page_ipv6.trim() {
                "" => None,
                text => Some(text.parse().with_context(|| {
                    format!("dns.block_page_ipv6 {text:?} is not an IPv6 address")
                })?),
            };
        Ok((v4, v6))
    }

    /// The console's address.
    fn listen_address(&self) -> anyhow::Result<SocketAddr> {
        self.console.listen.parse().with_context(|| {
            format!(
                "console.listen {:?} is not ADDRESS:PORT",
                self.console.listen
            )
        })
    }

    /// The database URL, with the default filled in.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("ward.db").display())
        } else {
            self.database.url.clone()
        }
    }
}

/// The networks of this machine's addresses (loopback included).
fn machine_networks() -> Vec<ward_store::Network> {
    let interfaces = match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces,
        Err(error) => {
            tracing::warn!(%error, "cannot read this machine's addresses; the DNS filter answers loopback and the device register only");
            Vec::new()
        }
    };
    let mut networks: Vec<ward_store::Network> = interfaces
        .iter()
        .filter_map(|interface| {
            let prefix = match &interface.addr {
                if_addrs::IfAddr::V4(v4) => u32::from(v4.netmask).count_ones(),
                if_addrs::IfAddr::V6(v6) => u128::from(v6.netmask).count_ones(),
            };
            format!("{}/{prefix}", interface.ip()).parse().ok()
        })
        .collect();
    for loopback in ["127.0.0.0/8", "::1/128"] {
        if let Ok(network) = loopback.parse() {
            networks.push(network);
        }
    }
    networks
}

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
}

/// `ADDRESS`, `ADDRESS:PORT` or `[IPv6]:PORT`; port 53 when not given.
fn parse_server(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let ip: std::net::IpAddr = text.trim_matches(['[', ']']).parse()?;
    Ok(SocketAddr::new(ip, 53))
}

/// The `nameserver` addresses of a resolv.conf.
fn resolv_conf_servers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| {
            // A scope suffix (fe80::1%eth0) is dropped: a link-local resolver needs it, but
            // tokio cannot take it from the text.
            let address = rest.trim().split('%').next()?;
            address.parse().ok().map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

/// Lays `overlay` over `base`, table by table.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base)), toml::Value::Table(overlay)) => merge(base, overlay),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Every setting's path (`["console", "listen"]`).
fn leaf_paths(table: &toml::Table) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(inner) => {
                for mut path in leaf_paths(inner) {
                    path.insert(0, key.clone());
                    paths.push(path);
                }
            }
            _ => paths.push(vec![key.clone()]),
        }
    }
    paths
}

/// Sets the setting at `path` from an environment variable's text, typed like its default.
fn set_from_text(table: &mut toml::Table, path: &[String], text: &str) -> anyhow::Result<()> {
    let (last, parents) = path.split_last().context("empty setting path")?;
    let mut current = table;
    for part in parents {
        current = match current.get_mut(part) {
            Some(toml::Value::Table(inner)) => inner,
            _ => bail!("no section {part}"),
        };
    }
    let value = match current.get(last) {
        Some(toml::Value::Integer(_)) => {
            toml::Value::Integer(text.trim().parse().context("expected a whole number")?)
        }
        Some(toml::Value::Boolean(_)) => {
            toml::Value::Boolean(text.trim().parse().context("expected true or false")?)
        }
        Some(toml::Value::Array(_)) => {
            bail!("a list of tables: set it in the configuration file")
        }
        _ => toml::Value::String(text.to_owned()),
    };
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ward.example.toml")
    }

    #[test]
    fn settings_that_are_not_plain_values_are_parsed_once_at_load() {
        let config = Config::load(
            None,
            environment(&[
                ("WARD_CONSOLE_LISTEN", "127.0.0.1:9090"),
                ("WARD_PROXY_CONNECT_PORTS", "*"),
                ("WARD_PROXY_HOSTS", "intranet.school=10.0.0.5"),
                ("WARD_ALERTS_SMTP_SECURITY", "tls"),
                ("WARD_ALERTS_SUMMARY_DAY", "Friday"),
                ("WARD_ALERTS_SUMMARY_TIME", "15:45"),
                ("WARD_DNS_LISTEN", ""),
            ]),
        )
        .expect("loads");
        let parsed = &config.parsed;
        assert_eq!(
            parsed.console_listen,
            "127.0.0.1:9090".parse().expect("addr")
        );
        assert_eq!(parsed.proxy_connect_ports, None);
        assert_eq!(
            parsed.proxy_hosts.get("intranet.school"),
            Some(&"10.0.0.5".parse().expect("ip"))
        );
        assert_eq!(parsed.smtp_security, SmtpSecurity::Tls);
        assert_eq!(
            parsed.summary_at,
            (
                jiff::civil::Weekday::Friday,
                jiff::civil::time(15, 45, 0, 0)
            )
        );
        assert!(parsed.dns_listen.is_empty() && parsed.dns_upstreams.is_empty());
        let refused = Config::load(None, environment(&[("WARD_ALERTS_SMTP_SECURITY", "ssl")]))
            .expect_err("refused");
        assert!(
            refused.to_string().contains("starttls, tls or none"),
            "{refused}"
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let config = Config::load(
            None,
            environment(&[
                ("WARD_ALERTS_SMTP_PASSWORD", "smtp-pass-7731"),
                ("WARD_ALERTS_SMTP_SERVER", "smtp.school.example"),
                (
                    "WARD_ALERTS_WEBHOOK",
                    "https://chat.example/hooks/token-9921",
                ),
                (
                    "WARD_DATABASE_URL",
                    "postgres://ward:db-pass-4410@db.example/ward",
                ),
            ]),
        )
        .expect("loads");
        assert_eq!(config.alerts.smtp_password.expose(), "smtp-pass-7731");
        let shown = format!("{config:?} {config:#?}");
        for secret in ["smtp-pass-7731", "token-9921", "db-pass-4410"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("(secret)"));
    }

    #[test]
    fn password_rules_inherit_and_rules_no_one_could_keep_are_refused() {
        use ward_console::passwords::Needs;
        let section: PasswordsSection = toml::from_str(
            "[passwords.people]\nchange_days = 30\n[[passwords.group]]\ngroups = \"eyfs, KS1\"\nmin_length = 5\nneeds = \"anything\"\n",
        )
        .map(|table: toml::Table| table["passwords"].clone().try_into().expect("section"))
        .expect("TOML");
        let policy = section.policy().expect("kept");
        assert_eq!(
            policy.accounts.min_length, 10,
            "staff keep the built-in rule"
        );
        assert_eq!(
            (
                policy.people.min_length,
                policy.people.needs,
                policy.people.change_days
            ),
            (8, Needs::LettersAndNumbers, 30)
        );
        let infants = policy.for_group(Some("ks1"));
        assert_eq!((infants.min_length, infants.needs), (5, Needs::Anything));
        assert_eq!(infants.change_days, 30, "the people's reminder, inherited");
        for bad in [
            "[passwords.accounts]\nmin_length = 2\n",
            "[[passwords.group]]\ngroups = \" , \"\n",
            "[passwords.people]\nneeds = \"emoji\"\n",
        ] {
            let loaded: Result<PasswordsSection, String> = toml::from_str::<toml::Table>(bad)
                .map_err(|e| e.to_string())
                .and_then(|table| {
                    table["passwords"]
                        .clone()
                        .try_into()
                        .map_err(|e: toml::de::Error| e.to_string())
                });
            assert!(
                loaded.map_or(true, |section| section.policy().is_err()),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_example_file_parses_and_documents_every_setting() {
        let config = Config::load(Some(&example()), Vec::new()).expect("the example loads");
        assert_eq!(config.school.time_zone, "Europe/London");
        let text = std::fs::read_to_string(example()).expect("read the example");
        let example_table: toml::Table = text.parse().expect("TOML");
        let documented = leaf_paths(&example_table);
        for path in leaf_paths(&toml::Table::try_from(Config::default()).expect("defaults")) {
            assert!(
                documented.contains(&path),
                "ward.example.toml does not show {}",
                path.join(".")
            );
        }
    }

    #[test]
    fn layers_apply_in_order_defaults_file_environment() {
        let folder = std::env::temp_dir().join(format!("ward-config-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("folder");
        let file = folder.join("ward.toml");
        std::fs::write(&file, "[console]\nlisten = \"0.0.0.0:9000\"\nsession_hours = 4\n[school]\nname = \"Park End\"\n")
            .expect("write");
        let config = Config::load(
            Some(&file),
            environment(&[
                ("WARD_CONSOLE_LISTEN", "127.0.0.1:9100"),
                ("WARD_EVENTS_BATCH_SIZE", "250"),
                ("WARD_CONSOLE_SECURE_COOKIES", "true"),
                ("WARD_INDEX", "ignored: a CLI flag's variable"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .expect("load");
        assert_eq!(
            config.console.listen, "127.0.0.1:9100",
            "environment beats file"
        );
        assert_eq!(config.console.session_hours, 4, "file beats default");
        assert_eq!(config.school.name, "Park End");
        assert_eq!(config.school.slug, "school", "default kept");
        assert_eq!(config.events.batch_size, 250);
        assert!(config.console.secure_cookies);
        assert_eq!(config.database_url(), "sqlite://var/ward.db");
        std::fs::remove_dir_all(&folder).expect("clean up");
    }

    #[test]
    fn radius_without_a_filter_is_refused() {
        let error = Config::load(
            None,
            environment(&[
                ("WARD_RADIUS_LISTEN", "127.0.0.1:1813"),
                ("WARD_RADIUS_CLIENTS", "127.0.0.1=a long enough secret 1234"),
                ("WARD_DNS_LISTEN", ""),
                ("WARD_PROXY_LISTEN", ""),
            ]),
        )
        .expect_err("refused");
        assert!(
            format!("{error:#}").contains("neither the DNS filter nor the proxy"),
            "{error:#}"
        );
        let config = Config::load(
            None,
            environment(&[
                ("WARD_RADIUS_LISTEN", "127.0.0.1:1813"),
                ("WARD_RADIUS_CLIENTS", "127.0.0.1=a long enough secret 1234"),
                ("WARD_DNS_LISTEN", "127.0.0.1:5353"),
                ("WARD_PROXY_LISTEN", ""),
            ]),
        )
        .expect("with the DNS filter");
        assert!(config.parsed.radius_listen.is_some());
    }

    #[test]
    fn unknown_keys_and_variables_are_refused() {
        let folder = std::env::temp_dir().join(format!("ward-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("folder");
        let file = folder.join("ward.toml");
        std::fs::write(&file, "[console]\nlisten_on = \"0.0.0.0:9000\"\n").expect("write");
        let error = Config::load(Some(&file), Vec::new()).expect_err("unknown key");
        assert!(format!("{error:#}").contains("listen_on"), "{error:#}");
        let error = Config::load(None, environment(&[("WARD_CONSOLE_PORT", "80")]))
            .expect_err("unknown variable");
        assert!(
            format!("{error:#}").contains("WARD_CONSOLE_PORT"),
            "{error:#}"
        );
        let error = Config::load(None, environment(&[("WARD_EVENTS_BATCH_SIZE", "lots")]))
            .expect_err("bad number");
        assert!(format!("{error:#}").contains("whole number"), "{error:#}");
        let error = Config::load(None, environment(&[("WARD_CONSOLE_LISTEN", "localhost")]))
            .expect_err("bad address");
        assert!(format!("{error:#}").contains("ADDRESS:PORT"), "{error:#}");
        for (name, value, expected) in [
            (
                "WARD_ALERTS_FOLD_MINUTES",
                "0",
                "fold_minutes must be 1 to 10080",
            ),
            (
                "WARD_ALERTS_FOLD_MINUTES",
                "20000",
                "fold_minutes must be 1 to 10080",
            ),
            (
                "WARD_ALERTS_NOTIFY_SEVERITY",
                "6",
                "notify_severity must be 1 to 5",
            ),
            (
                "WARD_ALERTS_SMTP_SECURITY",
                "ssl",
                "must be starttls, tls or none",
            ),
            ("WARD_ALERTS_SUMMARY_DAY", "funday", "not a day of the week"),
            (
                "WARD_ALERTS_EMAIL_TO",
                "dsl@school.test",
                "need alerts.smtp_server",
            ),
        ] {
            let error = Config::load(None, environment(&[(name, value)])).expect_err(value);
            assert!(
                format!("{error:#}").contains(expected),
                "{name}={value}: {error:#}"
            );
        }
        std::fs::remove_dir_all(&folder).expect("clean up");
    }

    #[test]
    fn database_passwords_stay_out_of_debug_output() {
        let mut config = Config::default();
        config.database.url = "postgres://ward:hunter2@db/ward".into();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ward:***@db"), "{shown}");
    }
}
