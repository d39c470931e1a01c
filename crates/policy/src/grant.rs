//! What an approved unblock request may open (DESIGN.md F5). The coordinator may approve a
//! request as asked, or narrower: a folder of the site or a subdomain of it, one user instead of
//! the group, a shorter period. Never wider, and never a public suffix (`info`, `co.uk`,
//! `github.io`), which would open every site under it: approving `site=info` for a request for
//! `www.0-casino.info` once opened the whole `.info` domain to the youngest pupils.
//!
//! [`check_within`] is the rule; the console applies it before saving an approval, and
//! [`crate::PolicySnapshot::compile`] refuses a grant on a public suffix whatever its origin.

use std::fmt;

use jiff::Timestamp;
use ward_lists::Host;

use crate::compile::{is_within, parse_site};

/// Whether `name` (canonical, lower case) is a public suffix: a name under which anyone may
/// register sites (`com`, `co.uk`, `sch.uk`, `github.io`), by the public suffix list. A name
/// the list does not know ending in a label it does not know (`localhost`, `test`) counts as one
/// too, as the list's default rule says.
pub fn is_public_suffix(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    psl::suffix_str(name).is_none_or(|suffix| suffix == name)
}

/// What was asked for.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// The host of the page asked for.
    pub host: &'a str,
    /// The group it was asked for.
    pub group: &'a str,
    /// Who asked, when known (a grant for them alone is narrower than one for the group).
    pub username: Option<&'a str>,
    /// The period asked for, when the request named one.
    pub period: Option<(Timestamp, Timestamp)>,
}

/// What the coordinator would open.
#[derive(Debug, Clone, Copy)]
pub struct Offered<'a> {
    /// A domain (with its subdomains) or a URL prefix.
    pub site: &'a str,
    /// The group, if it is for a group.
    pub group: Option<&'a str>,
    /// The user, if it is for one user.
    pub user: Option<&'a str>,
    /// Whether that user belongs to the group asked for (the caller looks it up).
    pub user_in_group: bool,
    /// From.
    pub start: Timestamp,
    /// Until (exclusive).
    pub end: Timestamp,
}

/// How an approval is narrower than the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Narrowing {
    /// A subdomain of the site asked for.
    Subdomain(String),
    /// A folder of the site (a URL prefix).
    Folder(String),
    /// One user instead of the group.
    User(String),
    /// A period inside the one asked for.
    ShorterPeriod,
}

impl fmt::Display for Narrowing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Narrowing::Subdomain(site) => write!(f, "the subdomain {site}"),
            Narrowing::Folder(site) => write!(f, "the folder {site}"),
            Narrowing::User(user) => write!(f, "the user {user} instead of the group"),
            Narrowing::ShorterPeriod => f.write_str("a shorter period"),
        }
    }
}

/// Why an approval cannot be given as offered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The site could not be read.
    #[error("{site:?} is not a site: {problem}")]
    BadSite {
        /// What was written.
        site: String,
        /// Why.
        problem: String,
    },
    /// The site is a public suffix: it would open every site under it.
    #[error("{0} is a public suffix: opening it would open every site that ends in .{0}")]
    PublicSuffix(String),
    /// The site is not the one asked for, nor inside it.
    #[error(
        "{site} is not {asked} or inside it: an approval may open only the site asked for, a subdomain or a folder of it"
    )]
    Wider {
        /// The site offered.
        site: String,
        /// The host asked for.
        asked: String,
    },
    /// Another group, or a user who did not ask.
    #[error(
        "a grant is for the group asked for ({group}), the person who asked, or one person in that group"
    )]
    OtherPeople {
        /// The group asked for.
        group: String,
    },
    /// A period reaching outside the one asked for.
    #[error("the period must lie within the one asked for")]
    LongerPeriod,
}

/// Whether `offered` is `asked` or narrower: `Ok` with how it is narrower (empty: exactly as
/// asked).
pub fn check_within(
    asked: &Asked<'_>,
    offered: &Offered<'_>,
) -> Result<Vec<Narrowing>, GrantError> {
    let mut narrowing = Vec::new();
    let (host, path) = parse_site(offered.site).map_err(|problem| GrantError::BadSite {
        site: offered.site.to_owned(),
        problem,
    })?;
    let asked_host = Host::parse(asked.host).map_err(|error| GrantError::BadSite {
        site: asked.host.to_owned(),
        problem: error.to_string(),
    })?;
    if let Some(domain) = host.domain()
        && is_public_suffix(domain.as_str())
    {
        return Err(GrantError::PublicSuffix(domain.as_str().to_owned()));
    }
    // A folder is matched as URL lists match (squidGuard's way): on the host without `www.`
    // and its subdomains, so `www.example.com/maths/` is a folder of `www.example.com`.
    let asked_name = asked_host.domain().map(|name| match &path {
        Some(_) => name.as_str().strip_prefix("www.").unwrap_or(name.as_str()),
        None => name.as_str(),
    });
    let inside = match (host.domain(), asked_name) {
        (Some(offered), Some(asked)) => is_within(offered.as_str(), asked),
        _ => host == asked_host,
    };
    if !inside {
        return Err(GrantError::Wider {
            site: host.to_string(),
            asked: asked_host.to_string(),
        });
    }
    if host.domain().map(|name| name.as_str()) != asked_name {
        narrowing.push(Narrowing::Subdomain(host.to_string()));
    }
    if let Some(path) = path.filter(|path| path != "/") {
        narrowing.push(Narrowing::Folder(format!("{host}{path}")));
    }
    match (offered.group, offered.user) {
        (Some(group), None) if group == asked.group => {}
        (None, Some(user)) if offered.user_in_group || Some(user) == asked.username => {
            narrowing.push(Narrowing::User(user.to_owned()));
        }
        _ => {
            return Err(GrantError::OtherPeople {
                group: asked.group.to_owned(),
            });
        }
    }
    if let Some((from, until)) = asked.period {
        if offered.start < from || offered.end > until {
            return Err(GrantError::LongerPeriod);
        }
        if offered.start > from || offered.end < until {
            narrowing.push(Narrowing::ShorterPeriod);
        }
    }
    Ok(narrowing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn public_suffixes_are_known() {
        for suffix in [
            "info",
            "com",
            "co.uk",
            "gloucs.sch.uk",
            "github.io",
            "uk",
            "localhost",
        ] {
            assert!(is_public_suffix(suffix), "{suffix}");
        }
        for site in [
            "0-casino.info",
            "bbc.co.uk",
            "parkend.gloucs.sch.uk",
            "ward.github.io",
        ] {
            assert!(!is_public_suffix(site), "{site}");
        }
    }

    #[test]
    fn approvals_may_narrow_but_never_widen() {
        let asked = Asked {
            host: "www.0-casino.info",
            group: "eyfs",
            username: Some("lwright10"),
            period: None,
        };
        let offer = |site, group, user| Offered {
            site,
            group,
            user,
            user_in_group: false,
            start: at("2026-12-01T09:00:00Z"),
            end: at("2026-12-01T10:00:00Z"),
        };
        assert_eq!(
            check_within(&asked, &offer("www.0-casino.info", Some("eyfs"), None)),
            Ok(vec![])
        );
        assert_eq!(
            check_within(&asked, &offer("WWW.0-Casino.INFO.", Some("eyfs"), None)),
            Ok(vec![])
        );
        assert_eq!(
            check_within(
                &asked,
                &offer("http://www.0-casino.info/maths/odds", Some("eyfs"), None)
            ),
            Ok(vec![Narrowing::Folder("0-casino.info/maths/odds".into())])
        );
        assert!(matches!(
            check_within(&asked, &offer("0-casino.info/", Some("eyfs"), None)),
            Err(GrantError::Wider { .. })
        ));
        assert_eq!(
            check_within(
                &asked,
                &offer("odds.www.0-casino.info", None, Some("lwright10"))
            ),
            Ok(vec![
                Narrowing::Subdomain("odds.www.0-casino.info".into()),
                Narrowing::User("lwright10".into())
            ])
        );
        // The reported widening, and every other way of going wider.
        assert_eq!(
            check_within(&asked, &offer("info", Some("eyfs"), None)),
            Err(GrantError::PublicSuffix("info".into()))
        );
        assert!(matches!(
            check_within(&asked, &offer("0-casino.info", Some("eyfs"), None)),
            Err(GrantError::Wider { .. })
        ));
        assert!(matches!(
            check_within(&asked, &offer("7slot-casino.info", Some("eyfs"), None)),
            Err(GrantError::Wider { .. })
        ));
        assert!(matches!(
            check_within(
                &asked,
                &offer("www.0-casino.info.evil.example", Some("eyfs"), None)
            ),
            Err(GrantError::Wider { .. })
        ));
        assert!(matches!(
            check_within(&asked, &offer("ww.0-casino.info", Some("eyfs"), None)),
            Err(GrantError::Wider { .. })
        ));
        assert!(matches!(
            check_within(&asked, &offer("www.0-casino.info", Some("staff"), None)),
            Err(GrantError::OtherPeople { .. })
        ));
        assert!(matches!(
            check_within(
                &asked,
                &offer("www.0-casino.info", None, Some("someone.else"))
            ),
            Err(GrantError::OtherPeople { .. })
        ));
        let in_group = Offered {
            user_in_group: true,
            ..offer("www.0-casino.info", None, Some("a.pupil"))
        };
        assert_eq!(
            check_within(&asked, &in_group),
            Ok(vec![Narrowing::User("a.pupil".into())])
        );
        assert!(matches!(
            check_within(&asked, &offer("not a site", Some("eyfs"), None)),
            Err(GrantError::BadSite { .. })
        ));
    }

    #[test]
    fn a_period_asked_for_bounds_the_approval() {
        let asked = Asked {
            host: "learn.example",
            group: "ks2",
            username: None,
            period: Some((at("2026-12-01T09:00:00Z"), at("2026-12-05T15:00:00Z"))),
        };
        let offer = |start, end| Offered {
            site: "learn.example",
            group: Some("ks2"),
            user: None,
            user_in_group: false,
            start: at(start),
            end: at(end),
        };
        assert_eq!(
            check_within(
                &asked,
                &offer("2026-12-01T09:00:00Z", "2026-12-05T15:00:00Z")
            ),
            Ok(vec![])
        );
        assert_eq!(
            check_within(
                &asked,
                &offer("2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z")
            ),
            Ok(vec![Narrowing::ShorterPeriod])
        );
        assert_eq!(
            check_within(
                &asked,
                &offer("2026-12-01T09:00:00Z", "2026-12-06T15:00:00Z")
            ),
            Err(GrantError::LongerPeriod)
        );
        assert_eq!(
            check_within(
                &asked,
                &offer("2026-11-30T09:00:00Z", "2026-12-02T15:00:00Z")
            ),
            Err(GrantError::LongerPeriod)
        );
    }
}
