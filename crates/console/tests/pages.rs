//! Every console page, as each role sees it, in real headless Chromium: at a phone's width
//! (360 px) nothing runs off the side of the screen, and axe-core (npm, pinned in `tests/axe`)
//! finds no accessibility violation, at that width and at a desktop's. Screenshots of each page
//! at both widths are left in the test's temporary folder for people to look at.

mod support;

use support::{Console, PASSWORD, browser_log_in};
use ward_store::{IncidentScope, NewIncident, NewUnblockRequest};
use ward_testkit::webdriver::Browser;

/// Fills the console with one of everything a page lists: a welfare concern and a misuse
/// incident (with steps, actions, notes and a colleague told), an unblock request, an
/// exclusion. Returns Jo's id.
fn seed(console: &Console) -> i64 {
    let store = &console.store;
    let school = console.school;
    console.runtime.block_on(async {
        let jo = store
            .person_by_username(school, "j.smith")
            .await
            .expect("query")
            .expect("Jo");
        let sam = store
            .person_by_username(school, "s.ng")
            .await
            .expect("query")
            .expect("Sam");
        let welfare = store
            .open_incident(
                school,
                "dsl",
                &NewIncident {
                    audience: "pupil".into(),
                    kind: "bullying-victim".into(),
                    welfare: true,
                    person: Some(jo.id),
                    others: vec![sam.id],
                    username: "j.smith".into(),
                    station: "ICT-07".into(),
                    evidence: "Jo says messages in the class chat call her names every night, \
                               and she does not want to come to school"
                        .into(),
                    reported_by: "Mrs Patel".into(),
                    ..NewIncident::default()
                },
            )
            .await
            .expect("welfare concern");
        store
            .add_incident_entry(
                school,
                IncidentScope::All,
                welfare,
                "dsl",
                &ward_store::NewEntry::note("Spoke to Jo with her mum after school", None),
            )
            .await
            .expect("note");
        store
            .open_incident(
                school,
                "teacher",
                &NewIncident {
                    audience: "pupil".into(),
                    kind: "non-educational-sites".into(),
                    person: Some(jo.id),
                    username: "j.smith".into(),
                    evidence: "A games site during a maths lesson".into(),
                    reported_by: "Mr Green".into(),
                    alerts: vec![ward_store::AlertId(1)],
                    ..NewIncident::default()
                },
            )
            .await
            .expect("incident");
        let head = store
            .account_by_username("head")
            .await
            .expect("query")
            .expect("head");
        store
            .send_notices(
                school,
                "dsl",
                &[head.id],
                &format!("incident:{welfare}"),
                "Can you call Jo's mum today?",
            )
            .await
            .expect("notice");
        store
            .create_unblock_request(
                school,
                &NewUnblockRequest {
                    origin: "console".into(),
                    client_ip: std::net::IpAddr::from([0, 0, 0, 0]),
                    device: None,
                    person: None,
                    username: Some("teacher".into()),
                    group: "ks2".into(),
                    url: "http://casino.example/".into(),
                    host: "casino.example".into(),
                    categories: "gambling".into(),
                    blocked_because: "unacceptable for ks2".into(),
                    reason: "Year 6 maths lesson on probability".into(),
                    wanted: None,
                },
            )
            .await
            .expect("unblock request");
        store
            .add_exclusion(
                school,
                &ward_store::NewExclusion {
                    kind: ward_store::ExclusionKind::Phrase,
                    value: "kill the lights".into(),
                    reason: "Drama club's stage directions".into(),
                },
                "dsl",
            )
            .await
            .expect("exclusion");
        jo.id.0
    })
}

/// What runs off the side: the page's width beyond the window's, and the elements that stick
/// out (a selector-like name for each, at most five).
const OVERFLOW: &str = "
    const width = document.documentElement.clientWidth;
    const out = [];
    for (const element of document.querySelectorAll('body *')) {
        const box = element.getBoundingClientRect();
        if (box.width > 0 && box.right > width + 1) {
            let name = element.tagName.toLowerCase();
            if (element.id) name += '#' + element.id;
            if (element.className && typeof element.className === 'string') name += '.' + element.className.trim().replace(/ +/g, '.');
            out.push(name + ' (right ' + Math.round(box.right) + ')');
        }
    }
    return JSON.stringify({ scroll: document.documentElement.scrollWidth, width: width, out: out.slice(0, 5) });
";

/// Opens each of `pages` as the browser's account and checks it at 360 px and 1280 px; the
/// problems found, one line each.
fn check(browser: &Browser, console: &Console, who: &str, pages: &[String]) -> Vec<String> {
    let axe = ward_testkit::axe::source();
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pages");
    std::fs::create_dir_all(&shots).expect("screenshot folder");
    let mut problems = Vec::new();
    for page in pages {
        for (width, height) in [(360, 780), (1280, 900)] {
            browser.set_window_size(width, height);
            browser.open(&format!("{}{page}", console.base));
            let title = browser.run("return document.title");
            let title = title.as_str().unwrap_or_default().to_owned();
            if title.starts_with("That did not work") || title.starts_with("Not allowed") {
                problems.push(format!("{who} {page}: the page is an error: {title}"));
                break;
            }
            let name = format!(
                "{who}{}-{width}.png",
                page.replace(['/', '?', '=', '&'], "_")
            );
            // The whole page, for people to look at: the window as tall as the page.
            let tall = browser.run("return document.documentElement.scrollHeight");
            let tall = u32::try_from(tall.as_i64().unwrap_or(0)).unwrap_or(height);
            browser.set_window_size(width, tall.clamp(height, 6000));
            std::fs::write(shots.join(name), browser.screenshot()).expect("screenshot");
            browser.set_window_size(width, height);
            if width == 360 {
                let overflow = browser.run(OVERFLOW);
                let overflow: serde_json::Value =
                    serde_json::from_str(overflow.as_str().expect("text")).expect("JSON");
                if overflow["scroll"].as_i64() > overflow["width"].as_i64() {
                    problems.push(format!(
                        "{who} {page} at 360 px: the page is {} px wide; sticking out: {}",
                        overflow["scroll"], overflow["out"]
                    ));
                }
            }
            for violation in ward_testkit::axe::violations(browser, &axe) {
                problems.push(format!("{who} {page} at {width} px: {violation}"));
            }
        }
    }
    problems
}

#[test]
fn every_page_fits_a_phone_and_has_no_accessibility_violation_for_every_role() {
    let console = Console::start();
    let jo = seed(&console);
    let dsl_pages: Vec<String> = [
        "/",
        "/people",
        "/people?kind=pupil",
        "/people/import",
        "/people/new",
        &format!("/people/{jo}"),
        "/alerts?severity=2&assigned=none",
        "/activity",
        "/alerts",
        "/alerts/1",
        "/alerts/exclusions",
        "/watched",
        "/incidents",
        "/incidents?status=closed",
        "/incidents/new",
        "/incidents/new?alert=1",
        "/incidents/1",
        "/incidents/2",
        &format!("/people/{jo}/chronology"),
        "/unblock",
        "/unblock/1",
        "/unblock/new",
        "/unblock/mine",
        "/unblock/log",
        "/audit",
        "/filtering",
        "/filtering/versions",
        "/filtering/test",
        "/filtering/document",
        "/filtering/sources",
        "/filtering/windows",
        "/filtering/settings",
        "/filtering/lists",
        "/filtering/groups",
        "/account/password",
        "/agreements",
        "/agreements/early-years",
        "/agreements/pupils",
        "/agreements/staff/report",
        "/agreement",
        "/consent",
        "/consent?purpose=website",
        "/consent/check",
        "/consent/file-names",
        &format!("/consent/{jo}"),
        "/parents",
        "/parent",
        "/training",
    ]
    .iter()
    .map(|page| (*page).to_owned())
    .collect();
    let mut problems = Vec::new();
    let browser = Browser::start();
    browser_log_in(&browser, &console, "dsl", PASSWORD);
    browser.wait_for_text("Blocked today");
    problems.extend(check(&browser, &console, "dsl", &dsl_pages));
    drop(browser);

    // The headteacher has a colleague's request to look waiting at the top of the page.
    let browser = Browser::start();
    browser_log_in(&browser, &console, "head", PASSWORD);
    browser.wait_for_text("Colleagues asked you to look");
    problems.extend(check(
        &browser,
        &console,
        "head",
        &["/".to_owned(), "/accounts".to_owned()],
    ));
    drop(browser);

    for (who, pages) in [
        (
            "tech",
            vec![
                "/",
                "/devices",
                "/accounts",
                "/people/import",
                "/loans",
                "/licences",
            ],
        ),
        (
            "teacher",
            vec![
                "/",
                "/incidents",
                "/incidents/2",
                "/unblock/new",
                "/consent",
            ],
        ),
        ("governor", vec!["/", "/filtering/document", "/training"]),
    ] {
        let browser = Browser::start();
        browser_log_in(&browser, &console, who, PASSWORD);
        browser.wait_for_text("Blocked today");
        let pages: Vec<String> = pages.iter().map(|page| (*page).to_owned()).collect();
        problems.extend(check(&browser, &console, who, &pages));
    }
    let browser = Browser::start();
    browser.open(&format!("{}/login", console.base));
    problems.extend(check(&browser, &console, "nobody", &["/login".to_owned()]));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
