//! The decision: a pure function of (policy snapshot, request, identity, time). See the crate
//! documentation for the precedence it applies.

use std::fmt;

use jiff::Timestamp;
use ward_lists::{CanonicalUrl, Classification, Host, UrlError};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryMatch {
    /// Category name.
    pub category: String,
    /// The entry, e.g. `domain casino.com`.
    pub entry: String,
}

/// Why the decision was made: the step of the precedence that decided, and its rule, list,
/// category and entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Step 1: on an illegal-content list.
    IllegalList {
        /// The list (category), e.g. `iwf`.
        list: String,
        /// The entry matched.
        entry: String,
    },
    /// Step 2: a rule says "unacceptable and illegal" for this group.
    IllegalRule {
        /// The rule id.
        rule: String,
        /// The category.
        category: String,
        /// The entry matched.
        entry: String,
    },
    /// Step 3: a temporary grant.
    Grant {
        /// Grant id.
        grant: String,
        /// Its reason.
        reason: String,
        /// Who approved it.
        approved_by: String,
        /// When it ends.
        until: Timestamp,
    },
    /// Step 4: a local allow or block list.
    LocalList {
        /// `all` or the group id.
        list: String,
        /// The entry as written.
        entry: String,
    },
    /// Step 5: a User Actions rule.
    Rule {
        /// The rule id.
        rule: String,
        /// Its verdict for this group.
        verdict: VerdictKind,
        /// The category.
        category: String,
        /// The entry matched.
        entry: String,
        /// For time and nomination verdicts: which window or nomination applied.
        detail: Option<String>,
    },
    /// Step 6: nothing covered the request; the group's fallback applied.
    Uncategorised,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::IllegalList { list, entry } => {
                write!(f, "illegal-content list {list}: {entry}")
            }
            Reason::IllegalRule {
                rule,
                category,
                entry,
            } => write!(
                f,
                "rule {rule} (unacceptable and illegal): category {category}, {entry}"
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
                entry,
                detail,
            } => {
                write!(
                    f,
                    "rule {rule} ({}): category {category}, {entry}",
                    verdict.heading().to_ascii_lowercase()
                )?;
                if let Some(detail) = detail {
                    write!(f, "; {detail}")?;
                }
                Ok(())
            }
            Reason::Uncategorised => f.write_str("uncategorised"),
        }
    }
}

/// The answer: allow or block, why, for which group, and every category the request is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow or block.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// The group whose policy applied (the unknown-client group if the identity's was unknown).
    pub group: GroupId,
    /// Every category the request is in.
    pub categories: Vec<CategoryMatch>,
}

/// Decides a request. Pure: the same arguments always give the same decision.
pub fn decide(
    snapshot: &PolicySnapshot,
    request: &Request,
    identity: &Identity,
    now: Timestamp,
) -> Decision {
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
            category: index.category(m.category).name.clone(),
            entry: m.matched.to_string(),
        })
        .collect();
    let (action, reason) = decide_step(snapshot, request, identity, group, &classification, now);
    Decision {
        action,
        reason,
        group: snapshot.groups[group].id.clone(),
        categories,
    }
}

fn decide_step(
    snapshot: &PolicySnapshot,
    request: &Request,
    identity: &Identity,
    group: usize,
    classification: &Classification<'_>,
    now: Timestamp,
) -> (Action, Reason) {
    let index = snapshot.index.as_ref();

    // 1. Illegal-content lists.
    for found in &classification.matches {
        let category = index.category(found.category);
        if category.illegal {
            let reason = Reason::IllegalList {
                list: category.name.clone(),
                entry: found.matched.to_string(),
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
                    rule: rule.id.clone(),
                    category: index.category(found.category).name.clone(),
                    entry: found.matched.to_string(),
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
                grant: grant.id.clone(),
                reason: grant.reason.clone(),
                approved_by: grant.approved_by.clone(),
                until: grant.end,
            };
            return (Action::Allow, reason);
        }
    }

    // 4. Local lists.
    if let Some((entry, list)) = best_local_entry(snapshot, request, group) {
        let reason = Reason::LocalList {
            list,
            entry: entry.text.clone(),
        };
        return (entry.action, reason);
    }

    // 5. The User Actions rules.
    let mut allowed: Option<Reason> = None;
    let mut blocked: Option<(u8, Reason)> = None;
    for found in &classification.matches {
        for &rule_number in &snapshot.category_rules[found.category.index()] {
            let rule = &snapshot.rules[rule_number];
            let (outcome, kind, detail) = match &rule.verdicts[group] {
                CompiledVerdict::Acceptable => (None, VerdictKind::Acceptable, None),
                CompiledVerdict::Unacceptable => (Some(3), VerdictKind::Unacceptable, None),
                CompiledVerdict::AtCertainTimes(windows) => {
                    let open = windows
                        .iter()
                        .map(|&w| &snapshot.windows[w])
                        .find(|w| w.contains(now, &snapshot.zone));
                    match open {
                        Some(window) => (
                            None,
                            VerdictKind::AtCertainTimes,
                            Some(format!("inside {}", window.title)),
                        ),
                        None => {
                            let titles: Vec<&str> = windows
                                .iter()
                                .map(|&w| snapshot.windows[w].title.as_str())
                                .collect();
                            (
                                Some(2),
                                VerdictKind::AtCertainTimes,
                                Some(format!("outside {}", titles.join(", "))),
                            )
                        }
                    }
                }
                CompiledVerdict::ForNominatedUsers { groups, users } => {
                    let by_user = identity
                        .user
                        .as_deref()
                        .and_then(|u| users.iter().find(|n| n.eq_ignore_ascii_case(u)).cloned());
                    if let Some(user) = by_user {
                        (
                            None,
                            VerdictKind::ForNominatedUsers,
                            Some(format!("user {user} is nominated")),
                        )
                    } else if groups.contains(&group) {
                        let id = &snapshot.groups[group].id;
                        (
                            None,
                            VerdictKind::ForNominatedUsers,
                            Some(format!("group {id} is nominated")),
                        )
                    } else {
                        (
                            Some(1),
                            VerdictKind::ForNominatedUsers,
                            Some("not a nominated user".to_string()),
                        )
                    }
                }
                // Handled in step 2.
                CompiledVerdict::UnacceptableAndIllegal => continue,
            };
            let reason = Reason::Rule {
                rule: rule.id.clone(),
                verdict: kind,
                category: index.category(found.category).name.clone(),
                entry: found.matched.to_string(),
                detail,
            };
            match outcome {
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

    // 6. The group's fallback.
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
) -> Option<(&'a LocalEntry, String)> {
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
            Some(g) => snapshot.groups[g].id.to_string(),
            None => "all".to_string(),
        };
        (entry, list)
    })
}
