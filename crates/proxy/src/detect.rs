//! Risk detection in the proxy (issue 7, part 4): search terms, addresses, page titles and the
//! text of HTML pages are scanned against the phrase lists; what is found becomes an event whose
//! alert the event writer folds into the queue (one alert per person and category per window).
//!
//! Pages are scanned as they stream to the client: [`ScanBody`] passes every frame on unchanged
//! and feeds a copy to a bounded [`PageText`]; when the body ends (or the client goes away) the
//! text gathered is scanned on the blocking pool, off the connection's path.

use std::collections::HashSet;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use jiff::Timestamp;
use ward_detect::context::{INFORMATIONAL_CATEGORIES, is_help_service};
use ward_detect::{AgeBand, Finding, PageText, Scanner, SiteKind, normalise};
use ward_gateway::{Client, FilterState, Requester};

use crate::proxy::Proxy;
use ward_events::{Disposition, EventAlert, EventSink, SchoolId, Source};
use ward_lists::Host;
use ward_policy::{GroupKind, PolicySnapshot, Stage};

/// What the school has excluded from detection (read from the store by the gateway).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    /// Phrases as the lists write them (normalised).
    pub phrases: Vec<String>,
    /// Domains: a site and its subdomains are not scanned.
    pub sites: Vec<String>,
    /// People (by id) whose browsing is not scanned.
    pub people: HashSet<i64>,
    /// Their usernames, for clients known only by a log-in name.
    pub usernames: HashSet<String>,
}

impl Exclusions {
    fn covers_host(&self, host: &Host) -> bool {
        let Host::Domain(name) = host else {
            return false;
        };
        self.sites.iter().any(|site| name.is_within(site))
    }

    fn covers_client(&self, client: &Client) -> bool {
        client.person.is_some_and(|p| self.people.contains(&p.0))
            || client
                .identity
                .user
                .as_ref()
                .is_some_and(|u| self.usernames.contains(&u.to_lowercase()))
    }
}

/// Detection's lists, limits and exclusions, shared by every connection.
pub struct Detection {
    scanner: Scanner,
    /// The most bytes of a page read for scanning; the rest passes unscanned.
    pub page_limit: usize,
    exclusions: ArcSwap<Exclusions>,
}

impl std::fmt::Debug for Detection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detection")
            .field("phrases", &self.scanner.lists().phrase_count())
            .field("page_limit", &self.page_limit)
            .finish_non_exhaustive()
    }
}

impl Detection {
    /// Detection with `scanner`, reading at most `page_limit` bytes of a page.
    pub fn new(scanner: Scanner, page_limit: usize) -> Detection {
        Detection {
            scanner,
            page_limit,
            exclusions: ArcSwap::from_pointee(Exclusions::default()),
        }
    }

    /// The lists it scans for.
    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// Puts new exclusions in force (for the next request).
    pub fn set_exclusions(&self, exclusions: Exclusions) {
        self.exclusions.store(Arc::new(exclusions));
    }

    /// Whether requests from `client` to `host` are scanned at all.
    pub(crate) fn watches(&self, client: &Client, host: &Host) -> bool {
        let exclusions = self.exclusions.load();
        !exclusions.covers_client(client) && !exclusions.covers_host(host)
    }

    /// Scans `text` (any text), leaving out excluded phrases.
    pub(crate) fn scan(&self, text: &str) -> Vec<Finding> {
        self.scan_normalised(&normalise(text))
    }

    /// Scans text already normalised, leaving out excluded phrases.
    fn scan_normalised(&self, text: &str) -> Vec<Finding> {
        let exclusions = self.exclusions.load();
        self.scanner
            .scan_normalised_excluding(text, &exclusions.phrases)
    }

    /// Scans a page a paragraph at a time, tempered by the kind of `site` it came from.
    fn scan_page(&self, page: &PageText, site: SiteKind) -> Vec<Finding> {
        let exclusions = self.exclusions.load();
        self.scanner.scan_page(page, &exclusions.phrases, site)
    }
}

/// The kind of site `host` is: a help service's (by name), an informational one (in a news,
/// education, reference or health category of the school's lists), or another.
fn site_kind(policy: &PolicySnapshot, host: &str) -> SiteKind {
    let host = host.to_ascii_lowercase();
    if is_help_service(&host) {
        return SiteKind::HelpService;
    }
    let Ok(parsed) = Host::parse(&host) else {
        return SiteKind::Ordinary;
    };
    let index = policy.index();
    let informational = index
        .classify_host(&parsed)
        .matches
        .iter()
        .any(|m| INFORMATIONAL_CATEGORIES.contains(&index.category(m.category).name.as_str()));
    if informational {
        SiteKind::Informational
    } else {
        SiteKind::Ordinary
    }
}

/// The age band whose severities apply to `client`: its group's stage, as the policy says
/// (a client of a group the policy no longer has is scanned as its kind: pupils as primary).
pub(crate) fn age_band(policy: &PolicySnapshot, client: &Client) -> AgeBand {
    let stage = match policy.group(client.identity.group.as_str()) {
        Some(group) if group.kind == client.kind => group.stage(),
        _ if client.kind == GroupKind::Pupil => Stage::Primary,
        _ => Stage::Adult,
    };
    match stage {
        Stage::Primary => AgeBand::Primary,
        Stage::Secondary => AgeBand::Secondary,
        Stage::Adult => AgeBand::Staff,
    }
}

/// Who and what a scan is about: enough to write its event later, off the request's path.
#[derive(Clone)]
pub(crate) struct Subject {
    pub school: SchoolId,
    pub client_ip: IpAddr,
    pub client: Client,
    pub band: AgeBand,
    pub host: String,
    pub url: String,
    /// The kind of site: a help service's, an informational one's, or another.
    pub site: SiteKind,
}

impl Subject {
    /// What a finding on `client`'s traffic to `host` (at `url`) is about.
    pub(crate) fn new(
        school: SchoolId,
        state: &FilterState,
        client: &Client,
        client_ip: IpAddr,
        host: String,
        url: String,
    ) -> Subject {
        Subject {
            school,
            client_ip,
            band: age_band(&state.policy, client),
            client: Client::clone(client),
            site: site_kind(&state.policy, &host),
            host,
            url,
        }
    }
}

/// Scans the host name of a tunnel (CONNECT, or transparent HTTPS by its server name), which is
/// all detection can read of encrypted traffic (`suicide-methods.example`), and records what
/// it finds.
pub(crate) fn scan_tunnel_host(
    proxy: &Proxy,
    state: &FilterState,
    client: &Client,
    client_ip: IpAddr,
    host: &Host,
) {
    let (Some(detection), Some(events)) = (&proxy.settings.detection, &proxy.events) else {
        return;
    };
    if !detection.watches(client, host) {
        return;
    }
    let host = host.to_string();
    let findings = detection.scan(&host);
    if findings.is_empty() {
        return;
    }
    let url = format!("https://{host}/");
    let subject = Subject::new(proxy.settings.school, state, client, client_ip, host, url);
    record(
        detection,
        events,
        &subject,
        Place::Address,
        &findings,
        None,
        None,
    );
}

/// Where in the traffic something was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Search,
    Address,
    Page,
}

impl Place {
    fn describe(self) -> &'static str {
        match self {
            Place::Search => "a search",
            Place::Address => "a web address",
            Place::Page => "a page's text",
        }
    }
}

/// Records an event with an alert for each finding.
pub(crate) fn record(
    detection: &Detection,
    events: &EventSink,
    subject: &Subject,
    place: Place,
    findings: &[Finding],
    search_term: Option<&str>,
    title: Option<&str>,
) {
    for finding in findings {
        let Some(category) = detection
            .scanner
            .lists()
            .categories
            .iter()
            .find(|c| c.id == finding.category)
        else {
            continue;
        };
        let phrases: Vec<String> = finding
            .phrases
            .iter()
            .map(|(phrase, weight)| format!("{phrase} ({weight:+})"))
            .collect();
        let mut detail = format!(
            "Found in {} by the {}: {}.\nPhrase lists: score {} of {}; phrases: {}",
            place.describe(),
            finding.layer.describe(),
            category.title,
            finding.score,
            category.threshold,
            if phrases.is_empty() {
                "none".to_owned()
            } else {
                phrases.join(", ")
            },
        );
        if let Some(view) = &finding.model {
            detail.push_str(&format!("\nClassifier: {view}"));
        }
        detail.push_str(&format!("\nText around it: … {} …", finding.context));
        if let Some(title) = title.filter(|t| !t.is_empty()) {
            detail.push_str(&format!("\nPage title: {title}"));
        }
        if let Some(term) = search_term {
            detail.push_str(&format!("\nSearch: {term}"));
        }
        let requester = Requester::new(
            subject.school,
            Source::Proxy,
            Timestamp::now(),
            subject.client_ip,
            Arc::new(subject.client.clone()),
        );
        let mut event = requester.event(subject.host.clone(), Disposition::Allow);
        event.url = Some(subject.url.clone());
        event.categories = finding.category.clone();
        event.reason = format!("{} found in {}", category.title, place.describe());
        event.search_term = search_term.map(str::to_owned);
        event.alert = Some(EventAlert {
            severity: category.severity(subject.band),
            category: finding.category.clone(),
            detection: Some(detail),
        });
        events.record(event);
    }
}

/// A page being scanned as it streams past.
pub(crate) struct PageScan {
    pub detection: Arc<Detection>,
    pub events: EventSink,
    pub subject: Subject,
    pub text: PageText,
}

/// A response body passed through unchanged while a copy of its bytes is read for scanning.
pub struct ScanBody {
    inner: Incoming,
    scan: Option<Box<PageScan>>,
}

impl ScanBody {
    /// `inner` as it is, scanned if `scan` is given.
    pub(crate) fn new(inner: Incoming, scan: Option<PageScan>) -> ScanBody {
        ScanBody {
            inner,
            scan: scan.map(Box::new),
        }
    }

    fn finish(&mut self) {
        let Some(scan) = self.scan.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn_blocking(move || {
            let PageScan {
                detection,
                events,
                subject,
                text,
            } = *scan;
            if text.truncated() {
                tracing::debug!(url = %subject.url, seen = text.seen(), "page scanned up to the limit");
            }
            let findings = detection.scan_page(&text, subject.site);
            if !findings.is_empty() {
                let title = text.title();
                record(
                    &detection,
                    &events,
                    &subject,
                    Place::Page,
                    &findings,
                    None,
                    Some(&title),
                );
            }
        });
    }
}

impl HttpBody for ScanBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(scan), Some(data)) = (this.scan.as_mut(), frame.data_ref()) {
                    scan.text.feed(data);
                }
            }
            Poll::Ready(None) => this.finish(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ScanBody {
    fn drop(&mut self) {
        // A client that went away mid-page: what arrived is still scanned.
        self.finish();
    }
}
