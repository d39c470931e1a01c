//! Compiling a [`PolicySpec`] against a category index into an immutable [`PolicySnapshot`],
//! with every check that must pass before a policy may take effect.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use ward_lists::{CategoryId, CategoryIndex, Entry, Host, ListFormat, parse_list};

use crate::PolicyError;
use crate::decide::{Action, Decision};
use crate::spec::{Fallback, GroupKind, PolicySpec, VerdictSpec, YouTubeMode};
use crate::time::{Window, parse_time};

/// The id of a group: lower-case letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(String);

impl GroupId {
    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for GroupId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid = !text.is_empty()
            && text.len() <= 32
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid && text != "all" {
            Ok(GroupId(text.to_string()))
        } else {
            Err(format!(
                "{text:?} is not a group id (lower-case letters, digits, '_' or '-'; not \"all\")"
            ))
        }
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A group of users.
#[derive(Debug, Clone)]
pub struct Group {
    /// Its id.
    pub id: GroupId,
    /// Name for reports.
    pub title: String,
    /// Pupils, staff or guests.
    pub kind: GroupKind,
    /// For pupil groups, the year groups that belong.
    pub years: Vec<String>,
    /// What happens to requests nothing else decides.
    pub uncategorised: Fallback,
    /// Safe search forced on search engines.
    pub safe_search: bool,
    /// YouTube restricted mode.
    pub youtube: YouTubeMode,
    /// Whether hosts written as IP addresses are allowed.
    pub ip_hosts: Fallback,
    /// Whether the proxy may connect to private addresses for this group.
    pub private_networks: Fallback,
}

/// Which school stage a group's people are at, for what depends on age (detection's severities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Primary-age pupils (reception to year 6).
    Primary,
    /// Secondary-age pupils (year 7 and above).
    Secondary,
    /// Staff and guests.
    Adult,
}

impl Group {
    /// The stage of the group's people: staff and guests are adults; a pupil group is primary
    /// unless one of its years is 7 or above (a group with no years is primary, the more cautious
    /// reading).
    pub fn stage(&self) -> Stage {
        match self.kind {
            GroupKind::Staff | GroupKind::Guest => Stage::Adult,
            GroupKind::Pupil
                if self
                    .years
                    .iter()
                    .any(|y| y.trim().parse::<u8>().is_ok_and(|year| year >= 7)) =>
            {
                Stage::Secondary
            }
            GroupKind::Pupil => Stage::Primary,
        }
    }
}

/// Something worth telling whoever loads the policy, that does not stop it loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why the policy keeps a request from being decrypted by HTTPS inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotInspected {
    /// The site is in this never-inspected category.
    Category(String),
    /// This group's HTTPS is never decrypted.
    Group(String),
}

/// A verdict with its references resolved to indexes.
#[derive(Debug, Clone)]
pub(crate) enum CompiledVerdict {
    Acceptable,
    AtCertainTimes {
        windows: Vec<usize>,
        /// The windows' titles, joined, for reasons.
        titles: String,
    },
    ForNominatedUsers {
        groups: Vec<usize>,
        users: Vec<String>,
    },
    Unacceptable,
    UnacceptableAndIllegal,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) id: String,
    /// The verdict for each group, by group index.
    pub(crate) verdicts: Vec<CompiledVerdict>,
    /// The severity of the alert a blocked request in the rule's categories raises.
    pub(crate) alert: Option<u8>,
}

/// A local allow or block entry.
#[derive(Debug, Clone)]
pub(crate) struct LocalEntry {
    /// `None` for `all`.
    pub(crate) group: Option<usize>,
    pub(crate) action: Action,
    pub(crate) path: Option<String>,
    pub(crate) text: String,
}

#[derive(Debug, Clone)]
pub(crate) enum GrantTarget {
    Site { host: Host, path: Option<String> },
    Category(CategoryId),
}

#[derive(Debug, Clone)]
pub(crate) enum GrantHolder {
    Group(usize),
    User(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) id: String,
    pub(crate) target: GrantTarget,
    pub(crate) holder: GrantHolder,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) reason: String,
    pub(crate) approved_by: String,
}

/// A compiled, checked, immutable policy together with the category index it was checked
/// against. Share it behind an `Arc` and swap the whole snapshot to change policy.
#[derive(Debug)]
pub struct PolicySnapshot {
    pub(crate) spec: PolicySpec,
    pub(crate) zone: TimeZone,
    pub(crate) index: Arc<CategoryIndex>,
    pub(crate) groups: Vec<Group>,
    pub(crate) unknown_group: usize,
    pub(crate) windows: Vec<Window>,
    pub(crate) rules: Vec<Rule>,
    /// Rules covering each index category, by [`CategoryId::index`].
    pub(crate) category_rules: Vec<Vec<usize>>,
    /// Local entries by host key.
    pub(crate) local: HashMap<String, Vec<LocalEntry>>,
    pub(crate) grants: Vec<Grant>,
}

impl PolicySnapshot {
    /// Compiles and checks a policy against an index. Returns the snapshot and warnings (such as
    /// categories the index does not have); any error means the policy must not take effect.
    pub fn compile(
        spec: PolicySpec,
        index: Arc<CategoryIndex>,
    ) -> Result<(PolicySnapshot, Vec<Warning>), PolicyError> {
        let mut warnings = Vec::new();
        let zone = TimeZone::get(&spec.timezone)
            .map_err(|_| PolicyError::UnknownTimeZone(spec.timezone.clone()))?;

        let mut groups = Vec::new();
        let mut group_index: HashMap<String, usize> = HashMap::new();
        for group in &spec.groups {
            let id: GroupId = group
                .id
                .parse()
                .map_err(|problem| PolicyError::UnknownGroup {
                    context: "group".into(),
                    group: problem,
                })?;
            if group_index.insert(group.id.clone(), groups.len()).is_some() {
                return Err(duplicate("group", &group.id));
            }
            for year in &group.years {
                let valid = matches!(year.as_str(), "N" | "R")
                    || year
                        .parse::<u8>()
                        .is_ok_and(|number| (1..=13).contains(&number) && !year.starts_with('0'));
                let problem = if group.kind != GroupKind::Pupil {
                    Some("only pupil groups have year groups".to_owned())
                } else if !valid {
                    Some(format!("year group {year:?} is not N, R or 1 to 13"))
                } else {
                    groups
                        .iter()
                        .find(|other: &&Group| other.years.contains(year))
                        .map(|other| {
                            format!("year {year} is already in group {:?}", other.id.as_str())
                        })
                };
                if let Some(problem) = problem {
                    return Err(PolicyError::BadGroup {
                        group: group.id.clone(),
                        problem,
                    });
                }
            }
            groups.push(Group {
                id,
                title: group.title.clone(),
                kind: group.kind,
                years: group.years.clone(),
                uncategorised: group.uncategorised,
                safe_search: group.safe_search,
                youtube: group.youtube,
                ip_hosts: group.ip_hosts.unwrap_or(match group.kind {
                    GroupKind::Pupil => Fallback::Block,
                    GroupKind::Staff | GroupKind::Guest => Fallback::Allow,
                }),
                private_networks: group.private_networks.unwrap_or(match group.kind {
                    GroupKind::Staff => Fallback::Allow,
                    GroupKind::Pupil | GroupKind::Guest => Fallback::Block,
                }),
            });
        }
        let find_group = |context: &str, id: &str| {
            group_index
                .get(id)
                .copied()
                .ok_or_else(|| PolicyError::UnknownGroup {
                    context: context.to_string(),
                    group: id.to_string(),
                })
        };
        let unknown_group = find_group("unknown_group", &spec.unknown_group)?;
        for group in &spec.proxy.groups_not_inspected {
            find_group("proxy.groups_not_inspected", group)?;
        }
        let default_never = spec
            .proxy
            .never_inspect
            .iter()
            .map(String::as_str)
            .eq(crate::spec::DEFAULT_NEVER_INSPECT.iter().copied());
        for category in &spec.proxy.never_inspect {
            // The default names UT1's category; an index without UT1 simply has no banking
            // sites to leave alone.
            if index.category_id(category).is_none() && !default_never {
                warnings.push(Warning(format!(
                    "proxy.never_inspect: the index has no category {category:?}"
                )));
            }
        }

        let mut windows = Vec::new();
        let mut window_index: HashMap<String, usize> = HashMap::new();
        for window in &spec.windows {
            if window_index
                .insert(window.id.clone(), windows.len())
                .is_some()
            {
                return Err(duplicate("window", &window.id));
            }
            windows.push(Window::compile(window)?);
        }

        let mut rules = Vec::new();
        let mut category_rules = vec![Vec::new(); index.categories().len()];
        let mut rule_ids = HashSet::new();
        for rule in &spec.rules {
            if !rule_ids.insert(rule.id.as_str()) {
                return Err(duplicate("rule", &rule.id));
            }
            for group in rule.groups.keys() {
                find_group(&format!("rule {:?}", rule.id), group)?;
            }
            let mut verdicts = Vec::new();
            for group in &groups {
                let verdict = rule.groups.get(group.id.as_str()).unwrap_or(&rule.verdict);
                verdicts.push(compile_verdict(
                    &rule.id,
                    verdict,
                    &window_index,
                    &windows,
                    &find_group,
                )?);
            }
            let rule_number = rules.len();
            for name in &rule.categories {
                match index.category_id(name) {
                    Some(category) => {
                        if index.category(category).illegal
                            && let Some(group) = groups.iter().zip(&verdicts).find_map(|(g, v)| {
                                (!matches!(v, CompiledVerdict::UnacceptableAndIllegal)).then_some(g)
                            })
                        {
                            return Err(PolicyError::IllegalCategoryAllowed {
                                rule: format!("rule {:?} (group {})", rule.id, group.id),
                                category: name.clone(),
                            });
                        }
                        category_rules[category.index()].push(rule_number);
                    }
                    None => warnings.push(Warning(format!(
                        "rule {:?}: the index has no category {name:?}",
                        rule.id
                    ))),
                }
            }
            if let Some(severity) = rule.alert
                && !(1..=5).contains(&severity)
            {
                return Err(PolicyError::BadAlert {
                    rule: rule.id.clone(),
                    severity,
                });
            }
            rules.push(Rule {
                id: rule.id.clone(),
                verdicts,
                alert: rule.alert,
            });
        }
        for (position, category) in index.categories().iter().enumerate() {
            if category.illegal && category_rules[position].is_empty() {
                warnings.push(Warning(format!(
                    "illegal-content list {:?} is in no rule; it is blocked all the same",
                    category.name
                )));
            }
        }

        let mut local: HashMap<String, Vec<LocalEntry>> = HashMap::new();
        for list in &spec.lists {
            let group = match list.group.as_str() {
                "all" => None,
                id => Some(find_group("list", id)?),
            };
            for (action, entries) in [(Action::Allow, &list.allow), (Action::Block, &list.block)] {
                for text in entries {
                    let (host, path) =
                        parse_site(text).map_err(|problem| PolicyError::BadListEntry {
                            group: list.group.clone(),
                            entry: text.clone(),
                            problem,
                        })?;
                    if action == Action::Allow {
                        check_not_illegal(
                            &index,
                            &format!("list {:?} allow {text:?}", list.group),
                            &host,
                            path.as_deref(),
                        )?;
                    }
                    local.entry(host.key()).or_default().push(LocalEntry {
                        group,
                        action,
                        path,
                        text: text.clone(),
                    });
                }
            }
        }

        let mut grants = Vec::new();
        let mut grant_ids = HashSet::new();
        for grant in &spec.grants {
            if !grant_ids.insert(grant.id.as_str()) {
                return Err(duplicate("grant", &grant.id));
            }
            let bad = |problem: String| PolicyError::BadGrant {
                grant: grant.id.clone(),
                problem,
            };
            let target = match (&grant.site, &grant.category) {
                (Some(site), None) => {
                    let (host, path) = parse_site(site).map_err(&bad)?;
                    if let Some(domain) = host.domain()
                        && crate::grant::is_public_suffix(domain.as_str())
                    {
                        return Err(bad(format!(
                            "{domain} is a public suffix: a grant would open every site under it"
                        )));
                    }
                    check_not_illegal(
                        &index,
                        &format!("grant {:?}", grant.id),
                        &host,
                        path.as_deref(),
                    )?;
                    GrantTarget::Site { host, path }
                }
                (None, Some(name)) => {
                    let category = index
                        .category_id(name)
                        .ok_or_else(|| bad(format!("the index has no category {name:?}")))?;
                    let illegal_rule = category_rules[category.index()].iter().any(|&r| {
                        rules[r]
                            .verdicts
                            .iter()
                            .any(|v| matches!(v, CompiledVerdict::UnacceptableAndIllegal))
                    });
                    if index.category(category).illegal || illegal_rule {
                        return Err(PolicyError::IllegalCategoryAllowed {
                            rule: format!("grant {:?}", grant.id),
                            category: name.clone(),
                        });
                    }
                    GrantTarget::Category(category)
                }
                _ => return Err(bad("give exactly one of site or category".into())),
            };
            let holder = match (&grant.group, &grant.user) {
                (Some(group), None) => {
                    GrantHolder::Group(find_group(&format!("grant {:?}", grant.id), group)?)
                }
                (None, Some(user)) if !user.trim().is_empty() => {
                    GrantHolder::User(user.trim().to_string())
                }
                _ => return Err(bad("give exactly one of group or user".into())),
            };
            let start = parse_time(&grant.start, &zone).map_err(|e| bad(e.to_string()))?;
            let end = parse_time(&grant.end, &zone).map_err(|e| bad(e.to_string()))?;
            if end <= start {
                return Err(bad("ends before it starts".into()));
            }
            if grant.reason.trim().is_empty() || grant.approved_by.trim().is_empty() {
                return Err(bad("a grant needs a reason and who approved it".into()));
            }
            grants.push(Grant {
                id: grant.id.clone(),
                target,
                holder,
                start,
                end,
                reason: grant.reason.clone(),
                approved_by: grant.approved_by.clone(),
            });
        }

        let snapshot = PolicySnapshot {
            spec,
            zone,
            index,
            groups,
            unknown_group,
            windows,
            rules,
            category_rules,
            local,
            grants,
        };
        Ok((snapshot, warnings))
    }

    /// Parses and compiles a TOML policy document.
    pub fn from_toml(
        text: &str,
        index: Arc<CategoryIndex>,
    ) -> Result<(PolicySnapshot, Vec<Warning>), PolicyError> {
        PolicySnapshot::compile(PolicySpec::from_toml(text)?, index)
    }

    /// Whether HTTPS inspection may decrypt what `decision` decided: not in a category the
    /// policy never decrypts, nor for a group it never inspects.
    pub fn inspection_allowed(&self, decision: &Decision<'_>) -> Result<(), NotInspected> {
        let proxy = &self.spec.proxy;
        if proxy
            .groups_not_inspected
            .iter()
            .any(|group| group == decision.group.as_str())
        {
            return Err(NotInspected::Group(decision.group.as_str().to_owned()));
        }
        match decision
            .categories
            .iter()
            .find(|matched| proxy.never_inspect.iter().any(|c| c == matched.category))
        {
            Some(matched) => Err(NotInspected::Category(matched.category.to_owned())),
            None => Ok(()),
        }
    }

    /// The policy as written.
    pub fn spec(&self) -> &PolicySpec {
        &self.spec
    }

    /// The category index this policy was checked against.
    pub fn index(&self) -> &Arc<CategoryIndex> {
        &self.index
    }

    /// The groups, in report order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The group with this id, if the policy has it.
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id.as_str() == id)
    }

    /// The group applied to unknown clients.
    pub fn unknown_group(&self) -> &Group {
        &self.groups[self.unknown_group]
    }

    /// The time zone windows are read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Index of the group with this id, if the policy has it.
    pub(crate) fn group_position(&self, id: &GroupId) -> Option<usize> {
        self.groups.iter().position(|g| &g.id == id)
    }
}

fn duplicate(kind: &'static str, id: &str) -> PolicyError {
    PolicyError::Duplicate {
        kind,
        id: id.to_string(),
    }
}

fn compile_verdict(
    rule: &str,
    verdict: &VerdictSpec,
    windows: &HashMap<String, usize>,
    window_titles: &[Window],
    find_group: &dyn Fn(&str, &str) -> Result<usize, PolicyError>,
) -> Result<CompiledVerdict, PolicyError> {
    Ok(match verdict {
        VerdictSpec::Acceptable => CompiledVerdict::Acceptable,
        VerdictSpec::Unacceptable => CompiledVerdict::Unacceptable,
        VerdictSpec::UnacceptableAndIllegal => CompiledVerdict::UnacceptableAndIllegal,
        VerdictSpec::AtCertainTimes(names) => {
            let mut found = Vec::new();
            for name in names {
                found.push(
                    *windows
                        .get(name)
                        .ok_or_else(|| PolicyError::UnknownWindow {
                            rule: rule.to_string(),
                            window: name.clone(),
                        })?,
                );
            }
            let titles = found
                .iter()
                .map(|&w| window_titles[w].title.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            CompiledVerdict::AtCertainTimes {
                windows: found,
                titles,
            }
        }
        VerdictSpec::ForNominatedUsers { groups, users } => {
            let mut found = Vec::new();
            for group in groups {
                found.push(find_group(&format!("rule {rule:?}"), group)?);
            }
            CompiledVerdict::ForNominatedUsers {
                groups: found,
                users: users.clone(),
            }
        }
    })
}

/// A local-list or grant site: a domain (with subdomains) or a URL prefix, normalised exactly
/// as list files are.
pub(crate) fn parse_site(text: &str) -> Result<(Host, Option<String>), String> {
    let parsed = parse_list(ListFormat::Domains, text.as_bytes());
    if let Some(bad) = parsed.bad_lines.first() {
        return Err(bad.reason.clone());
    }
    match parsed.entries.as_slice() {
        [(_, Entry::Domain(host))] => Ok((host.clone(), None)),
        [(_, Entry::Url { host, path })] => Ok((host.clone(), Some(path.clone()))),
        _ => Err("give one domain or URL".into()),
    }
}

/// Refuses an allow entry or grant that overlaps any illegal-content entry: the same or a
/// parent/child host, with paths that are equal, absent or prefixes of one another.
fn check_not_illegal(
    index: &CategoryIndex,
    rule: &str,
    host: &Host,
    path: Option<&str>,
) -> Result<(), PolicyError> {
    for entry in index.illegal_entries() {
        let paths_overlap = match (path, entry.path.as_deref()) {
            (Some(a), Some(b)) => a.starts_with(b) || b.starts_with(a),
            _ => true,
        };
        if paths_overlap && hosts_overlap(host, &entry.host) {
            return Err(PolicyError::AllowsIllegal {
                rule: rule.to_string(),
                entry: format!("{}{}", entry.host, entry.path.as_deref().unwrap_or("")),
                list: index.category(entry.category).name.clone(),
            });
        }
    }
    Ok(())
}

/// True when one host is the other or a subdomain of it.
pub(crate) fn hosts_overlap(a: &Host, b: &Host) -> bool {
    match (a.domain(), b.domain()) {
        (Some(a), Some(b)) => {
            is_within(a.as_str(), b.as_str()) || is_within(b.as_str(), a.as_str())
        }
        _ => a == b,
    }
}

/// True when `name` is `parent` or a subdomain of it.
pub(crate) fn is_within(name: &str, parent: &str) -> bool {
    name == parent
        || (name.len() > parent.len()
            && name.ends_with(parent)
            && name.as_bytes()[name.len() - parent.len() - 1] == b'.')
}
