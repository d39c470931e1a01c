//! The policy as a school writes it: a TOML document, deserialised as-is. [`PolicySnapshot`]
//! compiles and checks it.
//!
//! [`PolicySnapshot`]: crate::PolicySnapshot

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::PolicyError;

/// A whole policy document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Whose policy this is, e.g. "Park End Primary School".
    pub name: String,
    /// IANA time zone in which time windows are read, normally `Europe/London`.
    pub timezone: String,
    /// Group whose policy applies when the user or device is not known (never unfiltered).
    pub unknown_group: String,
    /// The groups, in the order they appear in reports.
    #[serde(rename = "group")]
    pub groups: Vec<GroupSpec>,
    /// Named time windows for "acceptable at certain times".
    #[serde(rename = "window", default)]
    pub windows: Vec<WindowSpec>,
    /// The User Actions table: one rule per row.
    #[serde(rename = "rule")]
    pub rules: Vec<RuleSpec>,
    /// Local allow and block lists, per group or for everyone (`group = "all"`).
    #[serde(rename = "list", default)]
    pub lists: Vec<LocalListSpec>,
    /// Temporary unfiltering (F5) approved by the coordinator.
    #[serde(rename = "grant", default)]
    pub grants: Vec<GrantSpec>,
    /// How the DNS filter answers for blocked names.
    #[serde(default)]
    pub dns: DnsSpec,
    /// How the proxy treats clients it does not know.
    #[serde(default)]
    pub proxy: ProxySpec,
    /// The school's own words for categories, for children (`[[category]]`).
    #[serde(rename = "category", default)]
    pub category_words: Vec<CategoryWords>,
}

/// A school's words for a category on the block page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryWords {
    /// The category's id.
    pub id: String,
    /// What a page in it is about, for a child: finishes "it is about …".
    pub child: String,
}

/// Proxy settings that are policy (the deployment's addresses and limits are configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySpec {
    /// What happens to a client that is not in the device register and has not authenticated.
    pub unknown_clients: UnknownClients,
    /// What happens when the TLS server name inside a CONNECT tunnel is not the host the
    /// tunnel was opened to (domain fronting, or a shared certificate).
    pub server_name_mismatch: ServerNameMismatch,
    /// Categories whose sites HTTPS inspection never decrypts (they are still decided by
    /// name): banking by default (UT1's `bank`). Ward's own do-not-inspect lists (sign-in,
    /// updates, pinned apps, health and help services) apply whatever this says.
    pub never_inspect: Vec<String>,
    /// Groups whose HTTPS is never decrypted (decided by name only), e.g. `["staff"]`.
    pub groups_not_inspected: Vec<String>,
}

/// The categories never decrypted unless the policy says otherwise.
pub const DEFAULT_NEVER_INSPECT: &[&str] = &["bank"];

impl Default for ProxySpec {
    fn default() -> ProxySpec {
        ProxySpec {
            unknown_clients: UnknownClients::default(),
            server_name_mismatch: ServerNameMismatch::default(),
            never_inspect: DEFAULT_NEVER_INSPECT
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            groups_not_inspected: Vec::new(),
        }
    }
}

/// A CONNECT tunnel whose ClientHello names another server than the one asked for (F8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerNameMismatch {
    /// The server name is decided too: the tunnel is blocked if either name is.
    #[default]
    Decide,
    /// The tunnel is blocked.
    Block,
}

/// The proxy's treatment of clients the device register does not know (F11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownClients {
    /// They browse as the policy's unknown-client group.
    #[default]
    Group,
    /// They must log in to the proxy with a Ward account (Basic proxy authentication) first.
    Authenticate,
}

/// How the DNS filter answers for blocked names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSpec {
    /// `block-page` (the address of Ward's block page, so plain HTTP shows why) or `nxdomain`.
    pub blocked: BlockedAnswer,
    /// Seconds a client may keep a blocked answer (short, so an unblock takes effect soon).
    pub blocked_ttl: u32,
}

impl Default for DnsSpec {
    fn default() -> DnsSpec {
        DnsSpec {
            blocked: BlockedAnswer::BlockPage,
            blocked_ttl: 60,
        }
    }
}

/// The answer for a blocked name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockedAnswer {
    /// The block page's address for A and AAAA (no data for other types).
    #[default]
    BlockPage,
    /// "No such name".
    Nxdomain,
}

/// YouTube's restricted mode, enforced by DNS (F7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum YouTubeMode {
    /// Strict restricted mode (`restrict.youtube.com`).
    #[default]
    Strict,
    /// Moderate restricted mode (`restrictmoderate.youtube.com`).
    Moderate,
    /// Not enforced.
    Off,
}

impl PolicySpec {
    /// Parses a policy document; the error names the line and the problem.
    pub fn from_toml(text: &str) -> Result<PolicySpec, PolicyError> {
        toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))
    }
}

/// What kind of people a group holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    /// Pupils (EYFS, key stages).
    Pupil,
    /// Staff.
    Staff,
    /// Guests and community users.
    Guest,
}

/// What happens to a site that no rule, list or grant decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Allowed (categorised filtering).
    #[default]
    Allow,
    /// Blocked (a walled garden: only what is allowed is reachable).
    Block,
}

/// One group of users.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Short identifier, e.g. `ks2`.
    pub id: String,
    /// Name shown in reports, e.g. "Key Stage 2 (Years 3–4)".
    pub title: String,
    /// Pupils, staff or guests.
    pub kind: GroupKind,
    /// For pupil groups, the year groups that belong (`N`, `R`, `1`…`13`): pupils imported
    /// from the MIS join the group of their year.
    #[serde(default)]
    pub years: Vec<String>,
    /// What happens to sites nothing else decides.
    #[serde(default)]
    pub uncategorised: Fallback,
    /// Safe search forced on Google, Bing and DuckDuckGo (F7). On unless set to false.
    #[serde(default = "yes")]
    pub safe_search: bool,
    /// YouTube restricted mode: `strict` (the default), `moderate` or `off`.
    #[serde(default)]
    pub youtube: YouTubeMode,
    /// Hosts written as an IP address (`http://93.184.216.34/`, CONNECT to an address, TLS
    /// without a server name): `allow` or `block`. Unset: blocked for pupil groups, allowed for
    /// the others.
    #[serde(default)]
    pub ip_hosts: Option<Fallback>,
    /// Servers at private addresses (the school's own network: 10/8, 172.16/12, 192.168/16,
    /// 100.64/10, fc00::/7), reached through the proxy: `allow` or `block`. Unset: allowed for
    /// staff, blocked for pupils and guests. Loopback, link-local and Ward's own machine are never
    /// reached, whatever this says.
    #[serde(default)]
    pub private_networks: Option<Fallback>,
}

fn yes() -> bool {
    true
}

/// A named, weekly time window in the policy's time zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Identifier used in verdicts, e.g. `lunchtime`.
    pub id: String,
    /// Name shown in reports.
    pub title: String,
    /// Days, e.g. `["mon-fri"]` or `["sat", "sun"]`.
    pub days: Vec<String>,
    /// Start, `HH:MM`, inclusive.
    pub from: String,
    /// End, `HH:MM`, exclusive; after `from`.
    pub to: String,
}

/// One row of the User Actions table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Identifier, e.g. `gambling`.
    pub id: String,
    /// The row's text as the policy document words it.
    pub action: String,
    /// The heading the row sits under in the policy document, if any.
    #[serde(default)]
    pub heading: Option<String>,
    /// The UK Safer Internet Centre category this row corresponds to, if any.
    #[serde(default)]
    pub uksic: Option<String>,
    /// Index categories the row covers. Names the index does not have are reported as warnings
    /// (e.g. the IWF list before a school has imported it).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Verdict for every group, e.g. `"unacceptable"` or
    /// `"acceptable at certain times: lunchtime, after-school"`.
    pub verdict: VerdictSpec,
    /// Verdicts that differ for some groups, by group id.
    #[serde(default)]
    pub groups: BTreeMap<String, VerdictSpec>,
    /// How the row is enforced when no category covers it (shown in reports).
    #[serde(default)]
    pub note: Option<String>,
    /// A blocked request in one of the row's categories raises an alert of this severity
    /// (1 to 5) for the safeguarding queue (DESIGN.md M4). Rows whose verdict is "unacceptable
    /// and illegal", and the illegal-content lists, always alert at 5, whatever this says.
    #[serde(default)]
    pub alert: Option<u8>,
}

/// Local entries for one group (or `all`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalListSpec {
    /// Group id, or `all`.
    pub group: String,
    /// Domains (with subdomains) or URL prefixes to allow.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Domains (with subdomains) or URL prefixes to block.
    #[serde(default)]
    pub block: Vec<String>,
}

/// A temporary grant: sites or a category opened for a group or a user for a period.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Identifier (the unblock request's number, once requests live in the store).
    pub id: String,
    /// A domain or URL prefix; give this or `category`.
    #[serde(default)]
    pub site: Option<String>,
    /// An index category; give this or `site`.
    #[serde(default)]
    pub category: Option<String>,
    /// The group it is for; give this or `user`.
    #[serde(default)]
    pub group: Option<String>,
    /// The user it is for; give this or `group`.
    #[serde(default)]
    pub user: Option<String>,
    /// Start: RFC 3339 (`2026-11-23T09:00:00Z`) or local time in the policy's zone
    /// (`2026-11-23T09:00`).
    pub start: String,
    /// End, exclusive, in the same forms.
    pub end: String,
    /// Why, e.g. "Year 6 research on discrimination".
    pub reason: String,
    /// Who requested it.
    #[serde(default)]
    pub requested_by: Option<String>,
    /// Who approved it.
    pub approved_by: String,
}

/// A verdict as written in the policy: one of the five columns of the User Actions table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum VerdictSpec {
    /// "acceptable"
    Acceptable,
    /// "acceptable at certain times: WINDOW, WINDOW"
    AtCertainTimes(Vec<String>),
    /// "acceptable for nominated users: group ID, user NAME"
    ForNominatedUsers {
        /// Group ids.
        groups: Vec<String>,
        /// User names.
        users: Vec<String>,
    },
    /// "unacceptable"
    Unacceptable,
    /// "unacceptable and illegal"
    UnacceptableAndIllegal,
}

/// The five verdict columns, without their details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VerdictKind {
    /// Acceptable.
    Acceptable,
    /// Acceptable at certain times.
    AtCertainTimes,
    /// Acceptable for nominated users.
    ForNominatedUsers,
    /// Unacceptable.
    Unacceptable,
    /// Unacceptable and illegal.
    UnacceptableAndIllegal,
}

impl VerdictKind {
    /// All five, in the policy document's column order.
    pub const ALL: [VerdictKind; 5] = [
        VerdictKind::Acceptable,
        VerdictKind::AtCertainTimes,
        VerdictKind::ForNominatedUsers,
        VerdictKind::Unacceptable,
        VerdictKind::UnacceptableAndIllegal,
    ];

    /// The column heading in lower case, as reasons print it.
    pub fn lower_case(self) -> &'static str {
        match self {
            VerdictKind::Acceptable => "acceptable",
            VerdictKind::AtCertainTimes => "acceptable at certain times",
            VerdictKind::ForNominatedUsers => "acceptable for nominated users",
            VerdictKind::Unacceptable => "unacceptable",
            VerdictKind::UnacceptableAndIllegal => "unacceptable and illegal",
        }
    }

    /// The column heading.
    pub fn heading(self) -> &'static str {
        match self {
            VerdictKind::Acceptable => "Acceptable",
            VerdictKind::AtCertainTimes => "Acceptable at certain times",
            VerdictKind::ForNominatedUsers => "Acceptable for nominated users",
            VerdictKind::Unacceptable => "Unacceptable",
            VerdictKind::UnacceptableAndIllegal => "Unacceptable and illegal",
        }
    }
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.heading())
    }
}

impl VerdictSpec {
    /// Which column this verdict is.
    pub fn kind(&self) -> VerdictKind {
        match self {
            VerdictSpec::Acceptable => VerdictKind::Acceptable,
            VerdictSpec::AtCertainTimes(_) => VerdictKind::AtCertainTimes,
            VerdictSpec::ForNominatedUsers { .. } => VerdictKind::ForNominatedUsers,
            VerdictSpec::Unacceptable => VerdictKind::Unacceptable,
            VerdictSpec::UnacceptableAndIllegal => VerdictKind::UnacceptableAndIllegal,
        }
    }
}

impl TryFrom<String> for VerdictSpec {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl FromStr for VerdictSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let (head, details) = match lower.split_once(':') {
            Some((head, details)) => (head.trim(), Some(details)),
            None => (lower.as_str(), None),
        };
        let items = |details: Option<&str>| -> Vec<String> {
            details
                .unwrap_or("")
                .split(',')
                .map(|item| item.trim().to_string())
                .filter(|item| !item.is_empty())
                .collect()
        };
        match head {
            "acceptable" if details.is_none() => Ok(VerdictSpec::Acceptable),
            "unacceptable" if details.is_none() => Ok(VerdictSpec::Unacceptable),
            "unacceptable and illegal" if details.is_none() => {
                Ok(VerdictSpec::UnacceptableAndIllegal)
            }
            "acceptable at certain times" => {
                let windows = items(details);
                if windows.is_empty() {
                    return Err(format!("{text:?}: name the time windows after a colon"));
                }
                Ok(VerdictSpec::AtCertainTimes(windows))
            }
            "acceptable for nominated users" => {
                let mut groups = Vec::new();
                let mut users = Vec::new();
                for item in items(details) {
                    match item.split_once(char::is_whitespace) {
                        Some(("group", id)) => groups.push(id.trim().to_string()),
                        Some(("user", name)) => users.push(name.trim().to_string()),
                        _ => {
                            return Err(format!(
                                "{text:?}: nominate as \"group ID\" or \"user NAME\", not {item:?}"
                            ));
                        }
                    }
                }
                if groups.is_empty() && users.is_empty() {
                    return Err(format!("{text:?}: name the nominated groups or users"));
                }
                Ok(VerdictSpec::ForNominatedUsers { groups, users })
            }
            _ => Err(format!(
                "{text:?} is not a verdict: use \"acceptable\", \"acceptable at certain times: …\", \
                 \"acceptable for nominated users: …\", \"unacceptable\" or \"unacceptable and illegal\""
            )),
        }
    }
}

impl fmt::Display for VerdictSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerdictSpec::AtCertainTimes(windows) => {
                write!(f, "acceptable at certain times: {}", windows.join(", "))
            }
            VerdictSpec::ForNominatedUsers { groups, users } => {
                let items: Vec<String> = groups
                    .iter()
                    .map(|g| format!("group {g}"))
                    .chain(users.iter().map(|u| format!("user {u}")))
                    .collect();
                write!(f, "acceptable for nominated users: {}", items.join(", "))
            }
            other => f.write_str(other.kind().lower_case()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_parse_in_the_policy_documents_words() {
        let cases = [
            ("acceptable", VerdictSpec::Acceptable),
            ("Unacceptable", VerdictSpec::Unacceptable),
            (
                "unacceptable and illegal",
                VerdictSpec::UnacceptableAndIllegal,
            ),
            (
                "acceptable at certain times: lunchtime, after-school",
                VerdictSpec::AtCertainTimes(vec!["lunchtime".into(), "after-school".into()]),
            ),
            (
                "acceptable for nominated users: group staff, user j.wainwright",
                VerdictSpec::ForNominatedUsers {
                    groups: vec!["staff".into()],
                    users: vec!["j.wainwright".into()],
                },
            ),
        ];
        for (text, expected) in cases {
            let parsed: VerdictSpec = text.parse().expect(text);
            assert_eq!(parsed, expected);
            assert_eq!(
                parsed
                    .to_string()
                    .parse::<VerdictSpec>()
                    .expect("round trip"),
                parsed
            );
        }
        for bad in [
            "allowed",
            "acceptable at certain times",
            "acceptable for nominated users: staff",
            "unacceptable: sometimes",
        ] {
            assert!(bad.parse::<VerdictSpec>().is_err(), "{bad}");
        }
    }
}
