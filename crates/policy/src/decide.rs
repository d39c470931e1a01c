//! The decision: a pure function of (policy snapshot, request, identity, time). See the crate
//! documentation for the precedence it applies.

use std::fmt;

use jiff::Timestamp;
use ward_lists::{CanonicalUrl, Classification, Host, Matched, UrlError};

use crate::compile::{
    CompiledVerdict, GrantHolder, GrantTarget, GroupId, LocalEntry, PolicySnapshot, is_within,
};
use crate::spec::VerdictKind;

/// What is being asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A host alone, as a DNS query, a CONNECT request or a TLS server name shows it.
    Host(Host),
    /// A full URL, as a proxied HTTP request shows it.
    Url(CanonicalUrl),
}

impl Request {
    /// Parses what a person types: a URL if it has a scheme or a path, otherwise a host.
    pub fn parse(text: &str) -> Result<Request, UrlError> {
        let text = text.trim();
        if text.contains("://") || text.contains('/') {
            CanonicalUrl::parse(text).map(Request::Url)
        } else {
            Host::parse(text).map(Request::Host).map_err(UrlError::Host)
        }
    }

    /// The host asked for.
    pub fn host(&self) -> &Host {
        match self {
            Request::Host(host) => host,
            Request::Url(url) => url.host(),
        }
    }

    /// The canonical path and query, when the request shows one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Request::Host(_) => None,
            Request::Url(url) => Some(url.path_and_query()),
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Host(host) => write!(f, "{host}"),
            Request::Url(url) => write!(f, "{url}"),
        }
    }
}

/// Who is asking: their group, and their user name where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The group (from the device register, a log-in, or the unknown-client setting).
    pub group: GroupId,
    /// The user name, when a log-in or proxy authentication tells it.
    pub user: Option<String>,
}

/// What to do with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Let it through.
    Allow,
    /// Stop it and say why.
    Block,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Block => "block",
        })
    }
}

/// One category the request is in, and the list entry that put it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryMatch<'a> {
    /// Category name.
    pub category: &'a str,
    /// The entry, e.g. `domain casino.com`.
    pub matched: Matched<'a>,
}

/// Which window or nomination a time or nomination verdict turned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleDetail<'a> {
    /// Inside this window (its title).
    InsideWindow(&'a str),
    /// Outside all of these windows (their titles, joined).
    OutsideWindows(&'a str),
    /// This user is nominated.
    NominatedUser(&'a str),
    /// This group is nominated.
    NominatedGroup(&'a GroupId),
    /// Neither the user nor the group is nominated.
    NotNominated,
}

impl fmt::Display for RuleDetail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleDetail::InsideWindow(title) => write!(f, "inside {title}"),
            RuleDetail::OutsideWindows(titles) => write!(f, "outside {titles}"),
            RuleDetail::NominatedUser(user) => write!(f, "user {user} is nominated"),
            RuleDetail::NominatedGroup(group) => write!(f, "group {group} is nominated"),
            RuleDetail::NotNominated => f.write_str("not a nominated user"),
        }
    }
}

/// Why the decision was made: the step of the precedence that decided, and its rule, list,
/// category and entry. Borrows from the snapshot, so deciding allocates nothing for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason<'a> {
    /// Step 1: on an illegal-content list.
    IllegalList {
        /// The list (category), e.g. `iwf`.
        list: &'a str,
        /// The entry matched.
        matched: Matched<'a>,
    },
    /// Step 2: a rule says "unacceptable and illegal" for this group.
    IllegalRule {
        /// The rule id.
        rule: &'a str,
        /// The category.
        category: &'a str,
        /// The entry matched.
        matched: Matched<'a>,
    },
    /// Step 3: a temporary grant.
    Grant {
        /// Grant id.
        grant: &'a str,
        /// Its reason.
        reason: &'a str,
        /// Who approved it.
        approved_by: &'a str,
        /// When it ends.
        until: Timestamp,
    },
    /// Step 4: a local allow or block list.
    LocalList {
        /// `all` or the group id.
        list: &'a str,
        /// The entry as written.
        entry: &'a str,
    },
    /// Step 5: the host is an IP address, and the group's `ip_hosts` setting blocks those.
    IpAddressHost,
    /// Step 6: a User Actions rule.
    Rule {
        /// The rule id.
        rule: &'a str,
        /// Its verdict for this group.
        verdict: VerdictKind,
        /// The category.
        category: &'a str,
        /// The entry matched.
        matched: Matched<'a>,
        /// For time and nomination verdicts: which window or nomination applied.
        detail: Option<RuleDetail<'a>>,
    },
    /// Step 7: nothing covered the request; the group's fallback applied.
    Uncategorised,
}

/// The steps of [`decide`]'s precedence, in order: a title and what the step does.
pub const PRECEDENCE: [(&str, &str); 7] = [
    (
        "Illegal-content lists",
        "IWF and CTIRU lists: always blocked, nothing overrides them",
    ),
    (
        "Rules that say unacceptable and illegal",
        "blocked for the group; grants and local lists cannot open them",
    ),
    (
        "Temporary unblocks (grants)",
        "sites or categories opened for a group or a person, for a time",
    ),
    (
        "Local allow and block lists",
        "the school's own entries; the most specific wins, block on a tie",
    ),
    (
        "Sites given as an IP address",
        "blocked for groups that may not use addresses instead of names",
    ),
    (
        "User Actions rules",
        "the rows covering the site's categories, for this group, person and time",
    ),
    (
        "The group's fallback",
        "for sites no rule covers: allowed, or blocked for a walled garden",
    ),
];

impl Reason<'_> {
    /// Which step of [`PRECEDENCE`] decided (1 to 7).
    pub fn step(&self) -> usize {
        match self {
            Reason::IllegalList { .. } => 1,
            Reason::IllegalRule { .. } => 2,
            Reason::Grant { .. } => 3,
            Reason::LocalList { .. } => 4,
            Reason::IpAddressHost => 5,
            Reason::Rule { .. } => 6,
            Reason::Uncategorised => 7,
        }
    }

    /// The User Actions row that decided, if one did.
    pub fn rule(&self) -> Option<&str> {
        match self {
            Reason::IllegalRule { rule, .. } | Reason::Rule { rule, .. } => Some(rule),
            _ => None,
        }
    }
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::IllegalList { list, matched } => {
                write!(f, "illegal-content list {list}: {matched}")
            }
            Reason::IllegalRule {
                rule,
                category,
                matched,
            } => write!(
                f,
                "rule {rule} (unacceptable and illegal): category {category}, {matched}"
            ),
            Reason::Grant {
                grant,
                reason,
                approved_by,
                until,
            } => write!(
                f,
                "grant {grant} until {until}, approved by {approved_by}: {reason}"
            ),
            Reason::LocalList { list, entry } => write!(f, "local list {list}: {entry}"),
            Reason::Rule {
                rule,
                verdict,
                category,
                matched,
                detail,
            } => {
                write!(
                    f,
                    "rule {rule} ({}): category {category}, {matched}",
                    verdict.lower_case()
                )?;
                if let Some(detail) = detail {
                    write!(f, "; {detail}")?;
                }
                Ok(())
            }
            Reason::IpAddressHost => {
                f.write_str("the host is an IP address, which this group may not use")
            }
            Reason::Uncategorised => f.write_str("uncategorised"),
        }
    }
}

/// The answer: allow or block, why, for which group, and every category the request is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'a> {
    /// Allow or block.
    pub action: Action,
    /// Why.
    pub reason: Reason<'a>,
    /// The group whose policy applied (the unknown-client group if the identity's was unknown).
    pub group: &'a GroupId,
    /// Every category the request is in.
    pub categories: Vec<CategoryMatch<'a>>,
    /// For a blocked request in a serious category, the alert it raises (DESIGN.md M4).
    /// `None` for allowed requests.
    pub alert: Option<AlertLevel<'a>>,
}

/// The alert a blocked request raises: severity 5 under the illegal list or rule that blocked
/// it, else the highest `alert` of the rules covering its categories, under that rule's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertLevel<'a> {
    /// 1 (lowest) to 5.
    pub severity: u8,
    /// The rule id or illegal list it is raised under (the queue's category).
    pub category: &'a str,
}

impl Decision<'_> {
    /// The categories the request is in, each once, in order, comma-separated (as events and
    /// block pages show them).
    pub fn category_list(&self) -> String {
        let mut names: Vec<&str> = Vec::with_capacity(self.categories.len());
        for category in &self.categories {
            if !names.contains(&category.category) {
                names.push(category.category);
            }
        }
        names.join(",")
    }
}

/// Decides a request. Pure: the same arguments always give the same decision.
///
/// Indexing into the snapshot's tables (groups, rules, windows, rules per category) cannot go out
/// of bounds: `PolicySnapshot::compile` builds every index it stores from those same tables, and
/// the classification comes from the snapshot's own category index.
pub fn decide<'a>(
    snapshot: &'a PolicySnapshot,
    request: &Request,
    identity: &Identity,
    now: Timestamp,
) -> Decision<'a> {
    let group = snapshot
        .group_position(&identity.group)
        .unwrap_or(snapshot.unknown_group);
    let index = snapshot.index.as_ref();
    let classification = match request {
        Request::Host(host) => index.classify_host(host),
        Request::Url(url) => index.classify_url(url),
    };
    let categories = classification
        .matches
        .iter()
        .map(|m| CategoryMatch {
            category: index.category(m.category).name.as_str(),
            matched: m.matched,
        })
        .collect();
    let (action, reason) = decide_step(snapshot, request, identity, group, &classification, now);
    let alert = match (action, &reason) {
        (Action::Allow, _) => None,
        (_, Reason::IllegalList { list: category, .. })
        | (_, Reason::IllegalRule { rule: category, .. }) => Some(AlertLevel {
            severity: 5,
            category,
        }),
        _ => classification
            .matches
            .iter()
            .flat_map(|found| &snapshot.category_rules[found.category.index()])
            .map(|&rule| &snapshot.rules[rule])
            .filter_map(|rule| {
                rule.alert.map(|severity| AlertLevel {
                    severity,
                    category: rule.id.as_str(),
                })
            })
            .max_by_key(|level| level.severity),
    };
    Decision {
        action,
        reason,
        group: &snapshot.groups[group].id,
        categories,
        alert,
    }
}

fn decide_step<'a>(
    snapshot: &'a PolicySnapshot,
    request: &Request,
    identity: &Identity,
    group: usize,
    classification: &Classification<'a>,
    now: Timestamp,
) -> (Action, Reason<'a>) {
    let index = snapshot.index.as_ref();

    // 1. Illegal-content lists.
    for found in &classification.matches {
        let category = index.category(found.category);
        if category.illegal {
            let reason = Reason::IllegalList {
                list: &category.name,
                matched: found.matched,
            };
            return (Action::Block, reason);
        }
    }

    // 2. Rules that make a category illegal for this group.
    for found in &classification.matches {
        for &rule in &snapshot.category_rules[found.category.index()] {
            let rule = &snapshot.rules[rule];
            if matches!(
                rule.verdicts[group],
                CompiledVerdict::UnacceptableAndIllegal
            ) {
                let reason = Reason::IllegalRule {
                    rule: &rule.id,
                    category: &index.category(found.category).name,
                    matched: found.matched,
                };
                return (Action::Block, reason);
            }
        }
    }

    // 3. Temporary grants.
    for grant in &snapshot.grants {
        if now < grant.start || now >= grant.end {
            continue;
        }
        let holds = match &grant.holder {
            GrantHolder::Group(g) => *g == group,
            GrantHolder::User(user) => identity
                .user
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(user)),
        };
        let covers = match &grant.target {
            GrantTarget::Site { host, path } => {
                site_covers(host, path.as_deref(), request.host(), request.path())
            }
            GrantTarget::Category(category) => classification.contains(*category),
        };
        if holds && covers {
            let reason = Reason::Grant {
                grant: &grant.id,
                reason: &grant.reason,
                approved_by: &grant.approved_by,
                until: grant.end,
            };
            return (Action::Allow, reason);
        }
    }

    // 4. Local lists.
    if let Some((entry, list)) = best_local_entry(snapshot, request, group) {
        let reason = Reason::LocalList {
            list,
            entry: &entry.text,
        };
        return (entry.action, reason);
    }

    // 5. Hosts given as an IP address (no name to classify: a common way round name-based
    //    filtering).
    if matches!(request.host(), Host::Ipv4(_) | Host::Ipv6(_))
        && snapshot.groups[group].ip_hosts == crate::spec::Fallback::Block
    {
        return (Action::Block, Reason::IpAddressHost);
    }

    // 6. The User Actions rules.
    let mut allowed: Option<Reason<'a>> = None;
    let mut blocked: Option<(u8, Reason<'a>)> = None;
    for found in &classification.matches {
        for &rule_number in &snapshot.category_rules[found.category.index()] {
            let rule = &snapshot.rules[rule_number];
            // The rank orders blocking verdicts: the strongest one gives the reason.
            let (block_rank, kind, detail) = match &rule.verdicts[group] {
                CompiledVerdict::Acceptable => (None, VerdictKind::Acceptable, None),
                CompiledVerdict::Unacceptable => (Some(3), VerdictKind::Unacceptable, None),
                CompiledVerdict::AtCertainTimes { windows, titles } => {
                    let open = windows
                        .iter()
                        .map(|&w| &snapshot.windows[w])
                        .find(|w| w.contains(now, &snapshot.zone));
                    match open {
                        Some(window) => (
                            None,
                            VerdictKind::AtCertainTimes,
                            Some(RuleDetail::InsideWindow(&window.title)),
                        ),
                        None => (
                            Some(2),
                            VerdictKind::AtCertainTimes,
                            Some(RuleDetail::OutsideWindows(titles)),
                        ),
                    }
                }
                CompiledVerdict::ForNominatedUsers { groups, users } => {
                    let by_user = identity
                        .user
                        .as_deref()
                        .and_then(|u| users.iter().find(|n| n.eq_ignore_ascii_case(u)));
                    if let Some(user) = by_user {
                        (
                            None,
                            VerdictKind::ForNominatedUsers,
                            Some(RuleDetail::NominatedUser(user)),
                        )
                    } else if groups.contains(&group) {
                        (
                            None,
                            VerdictKind::ForNominatedUsers,
                            Some(RuleDetail::NominatedGroup(&snapshot.groups[group].id)),
                        )
                    } else {
                        (
                            Some(1),
                            VerdictKind::ForNominatedUsers,
                            Some(RuleDetail::NotNominated),
                        )
                    }
                }
                // Handled in step 2.
                CompiledVerdict::UnacceptableAndIllegal => continue,
            };
            let reason = Reason::Rule {
                rule: &rule.id,
                verdict: kind,
                category: &index.category(found.category).name,
                matched: found.matched,
                detail,
            };
            match block_rank {
                Some(rank) if blocked.as_ref().is_none_or(|(best, _)| rank > *best) => {
                    blocked = Some((rank, reason));
                }
                Some(_) => {}
                None if allowed.is_none() => allowed = Some(reason),
                None => {}
            }
        }
    }
    if let Some((_, reason)) = blocked {
        return (Action::Block, reason);
    }
    if let Some(reason) = allowed {
        return (Action::Allow, reason);
    }

    // 7. The group's fallback.
    let action = match snapshot.groups[group].uncategorised {
        crate::spec::Fallback::Allow => Action::Allow,
        crate::spec::Fallback::Block => Action::Block,
    };
    (action, Reason::Uncategorised)
}

/// True when a site entry (domain with subdomains, optionally a path prefix) covers the request.
fn site_covers(
    host: &Host,
    path: Option<&str>,
    request_host: &Host,
    request_path: Option<&str>,
) -> bool {
    let host_covered = match (request_host.domain(), host.domain()) {
        (Some(name), Some(parent)) => is_within(name.as_str(), parent.as_str()),
        _ => request_host == host,
    };
    host_covered
        && match path {
            None => true,
            Some(prefix) => request_path.is_some_and(|p| p.starts_with(prefix)),
        }
}

/// The most specific local entry covering the request for this group: longest host, then
/// longest path, then the group's own list over `all`; block wins a tie.
fn best_local_entry<'a>(
    snapshot: &'a PolicySnapshot,
    request: &Request,
    group: usize,
) -> Option<(&'a LocalEntry, &'a str)> {
    if snapshot.local.is_empty() {
        return None;
    }
    let host = request.host();
    let keys: Vec<String> = match host.domain() {
        Some(name) => name.suffixes().map(str::to_string).collect(),
        None => vec![host.key()],
    };
    // (host length, path length, group's own list, block): larger is more specific.
    type Specificity = (usize, usize, bool, bool);
    let mut best: Option<(&LocalEntry, Specificity)> = None;
    for key in &keys {
        let Some(entries) = snapshot.local.get(key) else {
            continue;
        };
        for entry in entries {
            if entry.group.is_some_and(|g| g != group) {
                continue;
            }
            let path_length = match (&entry.path, request.path()) {
                (None, _) => 0,
                (Some(prefix), Some(path)) if path.starts_with(prefix.as_str()) => prefix.len(),
                (Some(_), _) => continue,
            };
            let rank = (
                key.len(),
                path_length,
                entry.group.is_some(),
                entry.action == Action::Block,
            );
            if best.as_ref().is_none_or(|(_, best_rank)| rank > *best_rank) {
                best = Some((entry, rank));
            }
        }
    }
    best.map(|(entry, _)| {
        let list = match entry.group {
            Some(g) => snapshot.groups[g].id.as_str(),
            None => "all",
        };
        (entry, list)
    })
}
