//! Where a page was read tempers what its text means (issue 23, part 3).
//!
//! A search, an address, a chat line or a title is short, and one strong phrase in it is
//! enough. A page is read a paragraph at a time ([`Scanner::scan_page`]), so that words
//! scattered over a long page do not add up to a finding no paragraph makes. And the site
//! itself says something:
//!
//! - **A help service** (Childline, the Samaritans, Papyrus, Kooth, Shout, the NSPCC, CEOP,
//!   FRANK, GamCare, …: [`HELP_SERVICES`]) is where a child goes for help. What its pages say
//!   about self-harm, abuse or drugs is never a finding of that harm: the child is seeking help,
//!   and that is what is recorded (`help-seeking`, the lowest severity).
//! - **An informational site** (news, education, reference, health: a site in one of
//!   [`INFORMATIONAL_CATEGORIES`] of the school's filtering lists) writes about harms to inform.
//!   A finding there stands only if both layers agree or the lists' score is twice the
//!   category's threshold.

use crate::{Finding, Layer, Scanner};

/// The kind of site a page came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteKind {
    /// Any other site.
    Ordinary,
    /// News, education, reference or health.
    Informational,
    /// A service children are told to go to for help.
    HelpService,
}

/// Sites of the services children in England are told to go to for help (and their
/// subdomains).
pub const HELP_SERVICES: &[&str] = &[
    "childline.org.uk",
    "nspcc.org.uk",
    "samaritans.org",
    "papyrus-uk.org",
    "kooth.com",
    "giveusashout.org",
    "shout.org.uk",
    "youngminds.org.uk",
    "mind.org.uk",
    "themix.org.uk",
    "beateatingdisorders.org.uk",
    "harmless.org.uk",
    "selfinjurysupport.org.uk",
    "calmzone.net",
    "thecalmzone.net",
    "ceop.police.uk",
    "thinkuknow.co.uk",
    "reportharmfulcontent.com",
    "iwf.org.uk",
    "stopitnow.org.uk",
    "talktofrank.com",
    "gamcare.org.uk",
    "begambleaware.org",
    "anti-bullyingalliance.org.uk",
    "bullying.co.uk",
    "ditchthelabel.org",
    "childnet.com",
    "saferinternet.org.uk",
    "nhs.uk",
    "brook.org.uk",
    "refuge.org.uk",
    "womensaid.org.uk",
    "victimsupport.org.uk",
    "crimestoppers-uk.org",
    "fearless.org",
    "exitcounterextremism.org",
];

/// Names of filtering-list categories whose sites inform (UT1's and common English names).
pub const INFORMATIONAL_CATEGORIES: &[&str] = &[
    "news",
    "press",
    "education",
    "educational",
    "educational_games",
    "reference",
    "encyclopedia",
    "health",
    "sexual_education",
    "liste_bu",
];

/// Whether `host` (a lower-case domain name) is a help service's site or under one.
pub fn is_help_service(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    HELP_SERVICES.iter().any(|site| {
        host == *site
            || host
                .strip_suffix(site)
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// The categories harm on a help service's site is never recorded as.
const HARMS: &[&str] = &[
    "self-harm",
    "abuse",
    "bullying",
    "grooming",
    "drugs",
    "gambling",
    "extremism",
    "hate",
    "violence",
    "sexual",
];

/// What fired on a page (or an address, or a search made on it) of `site`, tempered by it.
pub fn temper(scanner: &Scanner, findings: Vec<Finding>, site: SiteKind) -> Vec<Finding> {
    match site {
        SiteKind::Ordinary => findings,
        SiteKind::Informational => findings
            .into_iter()
            .filter(|finding| {
                let threshold = scanner
                    .lists()
                    .categories
                    .iter()
                    .find(|c| c.id == finding.category)
                    .map_or(i32::MAX, |c| c.threshold);
                finding.layer == Layer::Both || finding.score >= threshold.saturating_mul(2)
            })
            .collect(),
        SiteKind::HelpService => {
            let has_category = scanner
                .lists()
                .categories
                .iter()
                .any(|c| c.id == "help-seeking");
            let mut kept: Vec<Finding> = Vec::new();
            for mut finding in findings {
                if HARMS.contains(&finding.category.as_str()) {
                    if !has_category || kept.iter().any(|f| f.category == "help-seeking") {
                        continue;
                    }
                    finding.category = "help-seeking".to_owned();
                    finding.model = None;
                }
                if finding.category == "help-seeking" {
                    kept.retain(|f| f.category != "help-seeking");
                }
                kept.push(finding);
            }
            kept
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PageText, default_lists};

    fn page(html: &str) -> PageText {
        let mut page = PageText::new(1 << 20);
        page.feed(html.as_bytes());
        page
    }

    #[test]
    fn help_services_are_known_with_their_subdomains() {
        assert!(is_help_service("childline.org.uk"));
        assert!(is_help_service("www.childline.org.uk"));
        assert!(is_help_service("www.nhs.uk."));
        assert!(!is_help_service("notchildline.org.uk"));
        assert!(!is_help_service("childline.org.uk.example.com"));
    }

    #[test]
    fn a_page_is_read_a_paragraph_at_a_time() {
        let scanner = Scanner::new(default_lists());
        // Weak words spread over paragraphs do not add up.
        let spread = page("<p>The knife drawer.</p><p>A gun show.</p><p>Kill time.</p>");
        assert!(
            scanner
                .scan_page(&spread, &[], SiteKind::Ordinary)
                .is_empty()
        );
        // One paragraph that says it fires, with that paragraph as its context.
        let said = page("<p>Our trip.</p><p>I want to kill myself tonight.</p><p>Lunch.</p>");
        let findings = scanner.scan_page(&said, &[], SiteKind::Ordinary);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].category, "self-harm");
        assert!(findings[0].context.contains("kill myself"), "{findings:?}");
    }

    #[test]
    fn an_imported_e2guardian_list_is_weighed_over_the_whole_page() {
        let mut lists = default_lists();
        let problems = lists.parse(
            "e2g.list",
            "category e2g-gambling Gambling\nthreshold 50\n30 poker\n30 roulette\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let scanner = Scanner::new(lists);
        // As e2guardian weighs it: words in different paragraphs add up.
        let spread = page("<p>Poker night.</p><p>A roulette wheel.</p>");
        let found = scanner.scan_page(&spread, &[], SiteKind::Ordinary);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].category, "e2g-gambling");
    }

    #[test]
    fn a_help_service_is_help_seeking_and_news_needs_more() {
        let scanner = Scanner::new(default_lists());
        let text = page("<p>If you want to kill myself thoughts, talk to us.</p>");
        let help = scanner.scan_page(&text, &[], SiteKind::HelpService);
        assert!(
            help.iter().all(|f| f.category == "help-seeking"),
            "{help:?}"
        );
        assert!(!help.is_empty());
        // One strong phrase (60 of 50) on a news site is not enough; twice the threshold is.
        let news = page("<p>He said he wanted to kill myself, the court heard.</p>");
        assert!(
            scanner
                .scan_page(&news, &[], SiteKind::Informational)
                .is_empty()
        );
        let strong = page("<p>I want to kill myself and end my life.</p>");
        assert_eq!(
            scanner.scan_page(&strong, &[], SiteKind::Informational)[0].category,
            "self-harm"
        );
    }
}
