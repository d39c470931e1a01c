//! The console over real HTTP: log-in and lock-out, roles on every route, CSRF on every form,
//! tenancy, hostile input, the activity search's reason and its audit entry, CSV import.

mod support;

use support::{Client, Console, PASSWORD, Page, csrf_in};

#[test]
fn log_in_log_out_and_password_change() {
    let console = Console::start();
    let mut client = console.client();
    let page = client.get("/people?kind=pupil");
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/login?next=/people%3Fkind%3Dpupil")
    );
    let page = client.log_in("tech", "wrong password");
    assert_eq!(page.status, 401);
    assert!(page.body.contains("do not match"));
    let page = client.log_in("nobody", PASSWORD);
    assert_eq!(page.status, 401, "an unknown user gets the same answer");
    assert!(page.body.contains("do not match"));
    let page = client.log_in("TECH", PASSWORD);
    assert_eq!((page.status, page.location.as_str()), (303, "/"));
    let page = client.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Test tech"));
    // Change the password; the old one stops working.
    let page = client.submit(
        "/account/password",
        "/account/password",
        &[
            ("current", PASSWORD),
            ("new", "short"),
            ("confirm", "short"),
        ],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("Use at least 10 letters or numbers"));
    let page = client.submit(
        "/account/password",
        "/account/password",
        &[
            ("current", PASSWORD),
            ("new", "a new long password"),
            ("confirm", "a new long password"),
        ],
    );
    assert_eq!((page.status, page.location.as_str()), (303, "/"));
    let token = csrf_in(&client.get("/").body);
    let page = client.post("/logout", &[("csrf", &token)]);
    assert_eq!((page.status, page.location.as_str()), (303, "/login"));
    assert_eq!(client.get("/").status, 303, "logged out");
    assert_eq!(console.client().log_in("tech", PASSWORD).status, 401);
    assert_eq!(
        console
            .client()
            .log_in("tech", "a new long password")
            .status,
        303
    );
    let actions: Vec<String> = console
        .audit()
        .iter()
        .map(|entry| entry.entry.action.clone())
        .collect();
    for expected in ["login.failed", "login", "account.password"] {
        assert!(
            actions.iter().any(|action| action == expected),
            "{expected} missing from {actions:?}"
        );
    }
}

#[test]
fn repeated_failures_lock_the_account_and_are_audited() {
    let console = Console::start();
    let mut client = console.client();
    for _ in 0..5 {
        assert_eq!(client.log_in("teacher", "guess").status, 401);
    }
    // The sixth failure locks the account; now even the right password is refused for a while.
    assert_eq!(client.log_in("teacher", "guess").status, 401);
    let page = client.log_in("teacher", PASSWORD);
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains("too many tries"));
    // Issue 20, item 11: a locked account is answered as an unknown one is, so the answer
    // does not tell whether the username exists.
    let mut stranger = console.client();
    let mut unknown = stranger.log_in("nobody.here", "guess");
    for _ in 0..6 {
        unknown = stranger.log_in("nobody.here", "guess");
    }
    assert_eq!(unknown.status, page.status);
    let message = |body: &str| {
        body.split("<p class=\"error\"")
            .nth(1)
            .and_then(|rest| rest.split("</p>").next())
            .map(str::to_owned)
    };
    assert!(message(&page.body).is_some(), "{}", page.body);
    assert_eq!(message(&unknown.body), message(&page.body));
    let failures = console
        .audit()
        .iter()
        .filter(|entry| entry.entry.action == "login.failed")
        .count();
    assert_eq!(
        failures, 7,
        "six wrong passwords and the refusal while locked"
    );
    // The headteacher issues a new one-time password, which also unlocks the account.
    let mut head = console.logged_in("head");
    let accounts = head.get("/accounts").body;
    let teacher_id = console
        .runtime
        .block_on(console.store.account_by_username("teacher"))
        .expect("query")
        .expect("teacher")
        .id;
    let token = csrf_in(&accounts);
    let page = head.post(
        &format!("/accounts/{teacher_id}/reset-password"),
        &[("csrf", &token)],
    );
    assert_eq!(page.status, 200);
    let marker = "<code>";
    let start = page.body.find(marker).expect("one-time password shown") + marker.len();
    let one_time = &page.body[start..start + 23];
    let mut teacher = console.client();
    let page = teacher.log_in("teacher", one_time);
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/account/password")
    );
    assert_eq!(
        teacher.get("/").location,
        "/account/password",
        "nothing else until it is changed"
    );
}

#[test]
fn every_route_checks_the_role() {
    let console = Console::start();
    let routes = [
        "/people",
        "/people/import",
        "/people/1/password",
        "/filtering",
        "/filtering/rules/gambling",
        "/filtering/groups/staff/remove",
        "/filtering/versions",
        "/filtering/compare?a=1&b=1",
        "/filtering/log.csv",
        "/filtering/test",
        "/filtering/lists",
        "/filtering/settings",
        "/filtering/windows",
        "/filtering/groups",
        "/filtering/self-test",
        "/filtering/sources",
        "/filtering/document",
        "/devices",
        "/activity",
        "/audit",
        "/accounts",
        "/unblock",
        "/unblock/log",
        "/alerts",
        "/alerts/1",
        "/alerts/exclusions",
        "/unblock/new",
        "/unblock/mine",
        "/agreements",
        "/agreements/staff",
        "/agreements/pupils/report",
        "/consent",
        "/consent/check",
        "/consent/file-names",
        "/consent/1",
        "/parents",
        "/training",
        "/loans",
        "/licences",
    ];
    let allowed: &[(&str, &[&str])] = &[
        (
            "dsl",
            &[
                "/people",
                "/people/import",
                "/people/1/password",
                "/filtering",
                "/filtering/rules/gambling",
                "/filtering/groups/staff/remove",
                "/filtering/versions",
                "/filtering/compare?a=1&b=1",
                "/filtering/log.csv",
                "/filtering/test",
                "/filtering/lists",
                "/filtering/settings",
                "/filtering/windows",
                "/filtering/groups",
                "/filtering/self-test",
                "/filtering/sources",
                "/filtering/document",
                "/activity",
                "/audit",
                "/unblock",
                "/unblock/log",
                "/alerts",
                "/alerts/1",
                "/alerts/exclusions",
                "/unblock/new",
                "/unblock/mine",
                "/agreements",
                "/agreements/staff",
                "/agreements/pupils/report",
                "/consent",
                "/consent/check",
                "/consent/file-names",
                "/consent/1",
                "/parents",
                "/training",
            ],
        ),
        (
            "head",
            &[
                "/people",
                "/filtering",
                "/filtering/versions",
                "/filtering/compare?a=1&b=1",
                "/filtering/log.csv",
                "/filtering/test",
                "/filtering/lists",
                "/filtering/settings",
                "/filtering/windows",
                "/filtering/groups",
                "/filtering/self-test",
                "/filtering/sources",
                "/filtering/document",
                "/activity",
                "/audit",
                "/accounts",
                "/unblock",
                "/unblock/log",
                "/alerts",
                "/alerts/1",
                "/alerts/exclusions",
                "/unblock/new",
                "/unblock/mine",
                "/agreements",
                "/agreements/staff",
                "/agreements/pupils/report",
                "/consent",
                "/consent/check",
                "/consent/file-names",
                "/consent/1",
                "/parents",
                "/training",
                "/loans",
                "/licences",
            ],
        ),
        (
            "tech",
            &[
                "/people",
                "/people/import",
                "/people/1/password",
                "/filtering",
                "/filtering/rules/gambling",
                "/filtering/groups/staff/remove",
                "/filtering/versions",
                "/filtering/compare?a=1&b=1",
                "/filtering/log.csv",
                "/filtering/test",
                "/filtering/lists",
                "/filtering/settings",
                "/filtering/windows",
                "/filtering/groups",
                "/filtering/self-test",
                "/filtering/sources",
                "/filtering/document",
                "/devices",
                "/accounts",
                "/unblock",
                "/unblock/log",
                "/unblock/new",
                "/unblock/mine",
                "/loans",
                "/licences",
            ],
        ),
        (
            "teacher",
            &[
                "/filtering/document",
                "/unblock/new",
                "/unblock/mine",
                "/consent",
                "/consent/check",
                "/consent/file-names",
            ],
        ),
        ("governor", &["/filtering/document", "/training"]),
    ];
    for (username, may) in allowed {
        let mut client = console.logged_in(username);
        assert_eq!(client.get("/").status, 200, "{username} sees the dashboard");
        for route in routes {
            let page = client.get(route);
            let expected = if may.contains(&route) { 200 } else { 403 };
            assert_eq!(page.status, expected, "{username} GET {route}");
            if expected == 403 {
                assert!(page.body.contains("Not available to your role"));
            }
        }
    }
    // Refused on POST too, not only hidden from the menu.
    let mut teacher = console.logged_in("teacher");
    let token = csrf_in(&teacher.get("/").body);
    let page = teacher.post(
        "/activity",
        &[
            ("csrf", &token),
            ("person", "j.smith"),
            ("reason", "curious about it"),
        ],
    );
    assert_eq!(page.status, 403);
    let page = teacher.post(
        "/accounts",
        &[("csrf", &token), ("username", "x"), ("roles", "dsl")],
    );
    assert_eq!(page.status, 403);
    for route in [
        "/accounts/1/classes",
        "/consent/1",
        "/parents/letters",
        "/loans",
        "/licences",
        "/agreements/staff",
    ] {
        let page = teacher.post(route, &[("csrf", &token), ("classes", "6T")]);
        assert_eq!(page.status, 403, "teacher POST {route}");
    }
    for route in ["/unblock/1", "/unblock/1/end"] {
        let page = teacher.post(route, &[("csrf", &token), ("decision", "approve")]);
        assert_eq!(page.status, 403, "teacher POST {route}");
    }
    assert_eq!(teacher.get("/unblock/1").status, 403);
    let mut clients: std::collections::HashMap<&str, (Client, String)> =
        std::collections::HashMap::new();
    for (username, route) in [
        ("teacher", "/alerts/1"),
        ("teacher", "/alerts/1/activity"),
        ("tech", "/alerts/1"),
        ("tech", "/alerts/1/activity"),
        ("governor", "/alerts/1"),
        ("head", "/alerts/exclusions"),
        ("head", "/alerts/exclusions/1/end"),
        ("tech", "/alerts/exclusions"),
        ("teacher", "/alerts/exclusions"),
        // Whoever sets a pupil's password could log in as them.
        ("head", "/people/1/password"),
        ("teacher", "/people/1/password"),
        ("governor", "/people/1/password"),
        // Reading the policy is not changing it.
        ("head", "/filtering/rules/gambling"),
        ("head", "/filtering/versions/1/restore"),
        ("teacher", "/filtering/rules/gambling"),
        ("head", "/filtering/lists"),
        ("teacher", "/filtering/lists"),
        ("head", "/filtering/settings"),
        ("governor", "/filtering/settings"),
        ("head", "/filtering/windows"),
        ("head", "/filtering/groups"),
        ("head", "/filtering/groups/staff/remove"),
        ("teacher", "/filtering/groups"),
        ("head", "/filtering/self-test"),
        ("teacher", "/filtering/self-test"),
        ("head", "/filtering/sources"),
        ("governor", "/filtering/versions/1/restore"),
    ] {
        // One log-in each: a headteacher's needs a new sign-in code, which comes every 30 s.
        let (client, token) = clients.entry(username).or_insert_with(|| {
            let mut client = console.logged_in(username);
            let token = csrf_in(&client.get("/").body);
            (client, token)
        });
        let token = token.clone();
        let page = client.post(
            route,
            &[
                ("csrf", &token),
                ("status", "false_positive"),
                ("note", "not for this role to say"),
                ("reason", "not for this role to look"),
            ],
        );
        assert_eq!(page.status, 403, "{username} POST {route}");
    }
    // A governor cannot ask for sites to be unblocked.
    let mut governor = console.logged_in("governor");
    let token = csrf_in(&governor.get("/").body);
    let page = governor.post(
        "/unblock/new",
        &[
            ("csrf", &token),
            ("site", "casino.example"),
            ("group", "ks2"),
            ("reason", "not for this role to ask"),
        ],
    );
    assert_eq!(page.status, 403);
    // Nothing changed: the alert is still new, with no history.
    let mut dsl = console.logged_in("dsl");
    let page = dsl.get("/alerts/1");
    assert!(
        page.body.contains("No one has acted on it yet"),
        "{}",
        page.body
    );
}

#[test]
fn governors_see_counts_but_never_names() {
    let console = Console::start();
    let mut governor = console.logged_in("governor");
    let page = governor.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Gambling"),
        "counts by category are shown, by name"
    );
    // Two blocked attempts today, two pupils: small numbers are suppressed for governors, so
    // that no pupil can be picked out; the event writer's health is for technicians.
    assert!(
        page.body.contains("id=\"blocked-total\">&#60;5<"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<span id=\"pupil-count\">&#60;5</span>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"event-writer\""), "{}", page.body);
    for name in ["Smith", "j.smith", "Ng", "s.ng", "how to bet"] {
        assert!(
            !page.body.contains(name),
            "the governor's dashboard shows {name:?}"
        );
    }
    assert_eq!(governor.get("/people").status, 403);
    assert_eq!(governor.get("/activity").status, 403);

    // A request in two categories is one blocked attempt in the total, and counts in each
    // category; the DSL, who sees names, sees the numbers as they are.
    console.runtime.block_on(async {
        let event = ward_store::Event {
            school: console.school,
            at: jiff::Timestamp::now(),
            source: ward_store::Source::Proxy,
            client_ip: "10.0.3.18".parse().expect("ip"),
            device: None,
            person: None,
            username: None,
            identified_by: None,
            host: "poker-games.example".into(),
            url: Some("http://poker-games.example/".into()),
            action: ward_store::Disposition::Block,
            categories: "gambling,games".into(),
            reason: "unacceptable for ks2".into(),
            search_term: None,
            count: 1,
            alert: None,
        };
        console.store.insert_events(&[event]).await.expect("event");
    });
    let mut dsl = console.logged_in("dsl");
    let page = dsl.get("/");
    assert!(
        page.body.contains("id=\"blocked-total\">3<"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<tr><td>Gambling</td><td class=\"number\">2</td></tr>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<span id=\"pupil-count\">2</span>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("id=\"event-writer\""),
        "not a technician"
    );
    let mut tech = console.logged_in("tech");
    assert!(tech.get("/").body.contains("id=\"event-writer\""));
}

#[test]
fn what_waits_is_in_the_menu_and_a_grave_alert_stays_on_every_page_until_opened() {
    let console = Console::start();
    let raise = |severity: u8, summary: &str| {
        console.runtime.block_on(async {
            let mut alert = ward_store::NewAlert::system(severity, summary.into());
            alert.category = "self-harm".into();
            alert.source = ward_store::AlertSource::Detection;
            console
                .store
                .raise_alert(console.school, &alert)
                .await
                .expect("raise")
        })
    };
    let waiting = || {
        console
            .runtime
            .block_on(console.store.waiting(console.school, 5))
            .expect("waiting")
    };
    let before = waiting();
    raise(3, "A search about fighting");
    let grave = raise(5, "A search about ending a life");
    let after = waiting();
    assert_eq!(after.new_alert_total(), before.new_alert_total() + 2);
    let total = after.new_alert_total();
    let by_severity: Vec<String> = (1..=5usize)
        .rev()
        .filter(|severity| after.new_alerts[severity - 1] > 0)
        .map(|severity| format!("{} of severity {severity}", after.new_alerts[severity - 1]))
        .collect();
    let mut dsl = console.logged_in("dsl");
    let page = dsl.get("/people");
    assert_eq!(page.status, 200);
    // The menu counts what waits; the grave alert is at the top of any page, with a link.
    assert!(
        page.body.contains(&format!(
            "Alerts <span class=\"badge\">{total}<span class=\"hidden-label\"> new</span></span>"
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"urgent\""), "{}", page.body);
    // (This console runs no detection, so the category is named from its id.)
    assert!(
        page.body.contains(&format!(
            "<a href=\"/alerts/{grave}\">A search about ending a life</a> <span class=\"hint\">(Self-harm)</span>"
        )),
        "{}",
        page.body
    );
    let dashboard = dsl.get("/");
    assert!(
        dashboard.body.contains(&format!(
            "{total} new alerts</a>: {}.",
            by_severity.join(", ")
        )),
        "{}",
        dashboard.body
    );
    // Opened once, it stops waiting on every page (still new until triaged), and its page
    // says who opened it first.
    let alert = dsl.get(&format!("/alerts/{grave}"));
    assert_eq!(alert.status, 200);
    // The menu marks where one is, and a keyboard user can skip past it.
    assert!(
        alert
            .body
            .contains("<a href=\"/alerts\" id=\"menu-alerts\" aria-current=\"page\">"),
        "{}",
        alert.body
    );
    assert_eq!(alert.body.matches("aria-current=\"page\"").count(), 1);
    assert!(alert.body.contains("<a class=\"skip\" href=\"#main\">"));
    assert!(alert.body.contains("id=\"opened\""), "{}", alert.body);
    assert!(alert.body.contains(", by dsl</dd>"), "{}", alert.body);
    let page = dsl.get("/people");
    assert!(!page.body.contains("id=\"urgent\""), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<span class=\"badge\">{total}<")),
        "still new"
    );
    let mut head = console.logged_in("head");
    let alert = head.get(&format!("/alerts/{grave}"));
    assert!(
        alert.body.contains(", by dsl</dd>"),
        "the first opening is kept"
    );
    // Those who do not triage alerts see neither counts nor the banner; nor does the other
    // school's DSL.
    for username in ["governor", "teacher", "other.dsl"] {
        let mut client = console.logged_in(username);
        let page = client.get("/");
        assert!(
            !page.body.contains("class=\"badge\""),
            "{username}: {}",
            page.body
        );
        assert!(
            !page.body.contains("ending a life"),
            "{username}: {}",
            page.body
        );
    }
}

#[test]
fn forms_without_the_csrf_token_are_refused() {
    let console = Console::start();
    let mut tech = console.logged_in("tech");
    let device = [("name", "ICT-01"), ("network", "10.0.3.1")];
    let page = tech.post("/devices", &device);
    assert_eq!(page.status, 403);
    assert!(page.body.contains("This form has expired"));
    let page = tech.post(
        "/devices",
        &[
            ("name", "ICT-01"),
            ("network", "10.0.3.1"),
            ("csrf", "0000"),
        ],
    );
    assert_eq!(page.status, 403);
    // Another session's token does not do either.
    let other = csrf_in(&console.logged_in("head").get("/").body);
    let page = tech.post(
        "/devices",
        &[
            ("name", "ICT-01"),
            ("network", "10.0.3.1"),
            ("csrf", &other),
        ],
    );
    assert_eq!(page.status, 403);
    let page = tech.upload_people(
        "pupil",
        "pupils.csv",
        b"username,forename,surname,year\na.b,A,B,3\n",
        false,
    );
    assert_eq!(page.status, 403, "uploads need the token too");
    // Log-in itself needs the cookie-bound token.
    let mut stranger = console.client();
    let page = stranger.post(
        "/login",
        &[
            ("username", "dsl"),
            ("password", PASSWORD),
            ("csrf", "forged"),
        ],
    );
    assert_eq!(page.status, 403);
    // With the token, it works; and it was audited.
    let page = tech.submit("/devices", "/devices", &device);
    assert_eq!((page.status, page.location.as_str()), (303, "/devices"));
    assert!(tech.get("/devices").body.contains("10.0.3.1/32"));
    assert!(
        console
            .audit()
            .iter()
            .any(|entry| entry.entry.action == "device.add")
    );
}

#[test]
fn a_named_persons_activity_needs_a_reason_which_is_audited() {
    let console = Console::start();
    let mut dsl = console.logged_in("dsl");
    let page = dsl.submit(
        "/activity",
        "/activity",
        &[("person", "j.smith"), ("reason", "")],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("needs a reason"));
    assert!(
        !page.body.contains("casino.example"),
        "no results without a reason"
    );
    let reason = "Class teacher reported a concern about gambling";
    let page = dsl.submit(
        "/activity",
        "/activity",
        &[("person", "J.Smith"), ("reason", reason)],
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("casino.example"));
    assert!(
        page.body.contains("how to bet online"),
        "search terms are shown"
    );
    let entry = console
        .audit()
        .into_iter()
        .find(|entry| entry.entry.action == "activity.view")
        .expect("the look is in the audit log");
    assert_eq!(entry.entry.actor, "dsl");
    assert_eq!(entry.entry.subject, "person:j.smith");
    assert_eq!(entry.entry.reason.as_deref(), Some(reason));
    let audit_page = dsl.get("/audit?action=activity");
    assert!(audit_page.body.contains(reason));
    let page = dsl.submit(
        "/activity",
        "/activity",
        &[("person", "nobody.here"), ("reason", reason)],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("nobody with the username"));
}

#[test]
fn each_school_sees_only_its_own_records() {
    let console = Console::start();
    let mut other = console.logged_in("other.dsl");
    let people = other.get("/people").body;
    assert!(people.contains("Other Child"));
    assert!(
        !people.contains("Smith"),
        "another school's pupils are invisible"
    );
    let page = other.submit(
        "/activity",
        "/activity",
        &[
            ("person", "j.smith"),
            ("reason", "trying another school's pupil"),
        ],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("nobody with the username"));
    let page = other.submit("/activity", "/activity", &[("site", "casino")]);
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("casino.example"));
    assert!(!other.get("/").body.contains("gambling"));
    let audit = other.get("/audit").body;
    assert!(
        !audit.contains("account:dsl"),
        "another school's audit entries are invisible"
    );
}

#[test]
fn hostile_input_is_text_and_search_fields_are_literal() {
    let console = Console::start();
    let mut tech = console.logged_in("tech");
    let csv = "username,forename,surname,year\n\
               x.script,<script>alert(1)</script>,\"<img src=x onerror=alert(2)>\",3\n";
    let page = tech.upload_people("pupil", "evil<b>.csv", csv.as_bytes(), true);
    assert_eq!(page.status, 200, "{}", page.body);
    let page = tech.get("/people?q=x.script");
    assert!(
        page.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>"));
    assert!(!page.body.contains("<img src=x"));
    for search in [
        "' OR '1'='1",
        "%",
        "_",
        "\\",
        "'; DROP TABLE people; --",
        "\u{0}",
    ] {
        let query: String = search.bytes().map(|byte| format!("%{byte:02X}")).collect();
        let page = tech.get(&format!("/people?q={query}"));
        assert_eq!(page.status, 200, "search {search:?}");
        assert!(
            !page.body.contains("Smith"),
            "search {search:?} matched everyone"
        );
    }
    let page = tech.get("/people?kind=dragon");
    assert_eq!(page.status, 400);
    let mut dsl = console.logged_in("dsl");
    for field in ["person", "site", "category", "from", "to", "device"] {
        let page = dsl.submit(
            "/activity",
            "/activity",
            &[(field, "' OR 1=1 --"), ("reason", "testing input")],
        );
        assert!(matches!(page.status, 200 | 400), "{field}: {}", page.status);
        assert!(
            !page.body.contains("casino.example"),
            "{field} matched everything"
        );
    }
    assert_eq!(
        tech.get("/people").status,
        200,
        "the people table is still there"
    );
}

#[test]
fn csv_import_reports_bad_rows_and_refuses_what_is_not_csv() {
    let console = Console::start();
    let mut dsl = console.logged_in("dsl");
    let csv = "UPN,Legal Surname,Legal Forename,Year,Reg Group,Username,Gender\n\
               B1,Patel,Ravi,Year 3,3A,r.patel,M\n\
               B2,Jones,Mia,Year 14,3A,m.jones,F\n\
               B3,Evans,Tom,R,RB,t.evans,M\n";
    let page = dsl.upload_people("pupil", "spring.csv", csv.as_bytes(), true);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<strong>2</strong> added"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Year 14"));
    assert!(
        page.body
            .contains("<p id=\"unused-columns\">Columns not used: Gender."),
        "{}",
        page.body
    );
    let people = dsl.get("/people?q=patel").body;
    assert!(people.contains("Ravi Patel") && people.contains("ks2"));
    let page = dsl.upload_people("pupil", "garbage.bin", b"\x00\x01\x02\xff", true);
    assert_eq!(page.status, 400, "{}", page.body);
    let huge = vec![b'a'; 11 << 20];
    let page = dsl.upload_people("pupil", "huge.csv", &huge, true);
    assert_eq!(page.status, 413, "over the upload limit: {}", page.body);
    let entry = console
        .audit()
        .into_iter()
        .find(|entry| entry.entry.action == "people.import")
        .expect("import audited");
    assert!(
        entry.entry.detail.contains("2 created"),
        "{}",
        entry.entry.detail
    );
}

#[test]
fn a_technician_cannot_make_anyone_a_dsl() {
    let console = Console::start();
    let mut tech = console.logged_in("tech");
    let page = tech.submit(
        "/accounts",
        "/accounts",
        &[("username", "new.dsl"), ("roles", "dsl")],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("do not allow"));
    let page = tech.submit(
        "/accounts",
        "/accounts",
        &[
            ("username", "new.teacher"),
            ("display_name", "New Teacher"),
            ("roles", "teacher"),
        ],
    );
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("One-time password for <strong>new.teacher</strong>")
    );
    let tech_id = console
        .runtime
        .block_on(console.store.account_by_username("tech"))
        .expect("query")
        .expect("tech")
        .id;
    let page = tech.submit(
        "/accounts",
        &format!("/accounts/{tech_id}/roles"),
        &[("roles", "technician"), ("roles", "dsl")],
    );
    assert_eq!(page.status, 400, "not even to themselves");
    assert!(
        console
            .audit()
            .iter()
            .any(|entry| entry.entry.action == "account.create")
    );
}

#[test]
fn unknown_pages_and_records_get_clear_pages() {
    let console = Console::start();
    let mut tech = console.logged_in("tech");
    let page = tech.get("/no/such/page");
    assert_eq!(page.status, 404);
    assert!(page.body.contains("Page not found"));
    let page = tech.submit("/devices", "/devices/999999/delete", &[]);
    assert_eq!(page.status, 404);
    let page = tech.submit(
        "/devices",
        "/devices",
        &[("name", "Bad"), ("network", "10.0.0.300")],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("not an IP address or subnet"));
    let page = tech.get("/static/style.css");
    assert_eq!(page.status, 200);
}

#[test]
fn a_database_failure_gets_the_generic_error_page() {
    let console = Console::start();
    let mut dsl = console.logged_in("dsl");
    console.runtime.block_on(console.store.close());
    let page = dsl.get("/people");
    assert_eq!(page.status, 500);
    assert!(page.body.contains("Something went wrong"));
    assert!(
        !page.body.to_lowercase().contains("pool"),
        "no internal detail leaks: {}",
        page.body
    );
    let page = console.client().log_in("dsl", PASSWORD);
    assert_eq!(page.status, 500);
}

/// Records an incident through the form as `client`; returns where the console sent it.
fn record_incident(client: &mut Client, kind: &str, username: &str, evidence: &str) -> Page {
    client.submit(
        "/incidents/new",
        "/incidents",
        &[
            ("kind", kind),
            ("username", username),
            ("station", "IT-04"),
            ("occurred_at", "2026-11-23T10:15:00"),
            ("evidence", evidence),
            ("reported_by", "Mr Teacher"),
        ],
    )
}

fn incident_id(page: &Page) -> ward_store::IncidentId {
    let id = page
        .location
        .rsplit(['/', '='])
        .next()
        .and_then(|id| id.parse().ok());
    id.unwrap_or_else(|| panic!("no incident id in {:?}: {}", page.location, page.body))
}

#[test]
fn incidents_are_seen_and_changed_only_by_those_allowed() {
    let console = Console::start();
    let mut teacher = console.logged_in("teacher");

    // A teacher records a pupil incident and sees it; a staff incident goes to the DSL and
    // headteacher and is not shown to the teacher who recorded it.
    let pupil = record_incident(
        &mut teacher,
        "pupil:non-educational-sites",
        "j.smith",
        "Games site open during maths",
    );
    assert_eq!(pupil.status, 303, "{}", pupil.body);
    let pupil_id = incident_id(&pupil);
    assert_eq!(pupil.location, format!("/incidents/{pupil_id}"));
    let staff = record_incident(
        &mut teacher,
        "staff:personal-use",
        "m.jones",
        "Shopping sites on the classroom PC during lessons",
    );
    assert_eq!(staff.status, 303, "{}", staff.body);
    let staff_id = incident_id(&staff);
    assert_eq!(staff.location, format!("/incidents?recorded={staff_id}"));
    let list = teacher.get("/incidents");
    assert!(list.body.contains("Games site") || list.body.contains("j.smith"));
    assert!(!list.body.contains("m.jones"), "{}", list.body);
    assert_eq!(teacher.get(&format!("/incidents/{staff_id}")).status, 404);

    // A bad record is refused with the reason, and nothing is recorded.
    let bad = record_incident(&mut teacher, "pupil:no-such-row", "j.smith", "x");
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("Choose the type of incident"),
        "{}",
        bad.body
    );
    let empty = record_incident(&mut teacher, "pupil:non-educational-sites", "", "");
    assert_eq!(empty.status, 400);

    // Who may open which page.
    let pages = [
        "/incidents".to_owned(),
        "/incidents/new".to_owned(),
        format!("/incidents/{pupil_id}"),
        format!("/incidents/{staff_id}"),
        "/people/1/chronology".to_owned(),
    ];
    let expected: &[(&str, [u16; 5])] = &[
        ("dsl", [200, 200, 200, 200, 200]),
        ("head", [200, 200, 200, 200, 200]),
        // The technician recorded neither, so sees neither.
        ("tech", [200, 200, 404, 404, 403]),
        ("teacher", [200, 200, 200, 404, 403]),
        ("governor", [403, 403, 403, 403, 403]),
    ];
    for (username, statuses) in expected {
        let mut client = console.logged_in(username);
        for (page, status) in pages.iter().zip(statuses) {
            assert_eq!(client.get(page).status, *status, "{username} GET {page}");
        }
    }

    // The teacher's view of their incident has the record and notes, not the procedure.
    let view = teacher.get(&format!("/incidents/{pupil_id}"));
    assert!(view.body.contains("Games site open during maths"));
    assert!(!view.body.contains("id=\"procedure\""), "{}", view.body);

    // The procedure, actions and sign-off are the DSL's and headteacher's (sign-off the DSL's).
    let token = csrf_in(&teacher.get("/").body);
    let posts: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "steps",
            vec![("step", "do-not-examine"), ("answer", "confirmed")],
        ),
        ("actions", vec![("action", "warning"), ("note", "")]),
        ("signoff", vec![("note", "done")]),
    ];
    for (username, refused) in [
        ("teacher", &["steps", "actions", "signoff"][..]),
        ("tech", &["steps", "actions", "signoff"][..]),
        ("governor", &["steps", "actions", "signoff"][..]),
        ("head", &["signoff"][..]),
    ] {
        let mut client = console.logged_in(username);
        let token = csrf_in(&client.get("/").body);
        for (route, fields) in &posts {
            if !refused.contains(route) {
                continue;
            }
            let mut fields = fields.clone();
            fields.push(("csrf", &token));
            let page = client.post(&format!("/incidents/{pupil_id}/{route}"), &fields);
            assert_eq!(page.status, 403, "{username} POST {route}");
        }
    }
    let mut governor = console.logged_in("governor");
    let governor_token = csrf_in(&governor.get("/").body);
    let page = governor.post(
        &format!("/incidents/{pupil_id}/notes"),
        &[("csrf", &governor_token), ("note", "not mine to write")],
    );
    assert_eq!(page.status, 403);
    let mut dsl = console.logged_in("dsl");
    let view = dsl.get(&format!("/incidents/{pupil_id}"));
    assert!(
        view.body.contains("No actions recorded yet"),
        "{}",
        view.body
    );
    assert!(!view.body.contains("not mine to write"));

    // The DSL may not sign off before the procedure is complete.
    let page = dsl.submit(
        &format!("/incidents/{pupil_id}"),
        &format!("/incidents/{pupil_id}/signoff"),
        &[("note", "too early")],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("not complete"), "{}", page.body);

    // Notes are append-only: a teacher adds one to their incident and corrects it; no route
    // edits or removes an entry, whatever the method.
    let page = teacher.post(
        &format!("/incidents/{pupil_id}/notes"),
        &[("csrf", &token), ("note", "Spoke to Jo at break")],
    );
    assert_eq!(page.status, 303);
    let entries = console
        .runtime
        .block_on(console.store.incident_entries(
            console.school,
            ward_store::IncidentScope::All,
            pupil_id,
        ))
        .expect("entries");
    let note = entries.last().expect("the note").id;
    let page = teacher.post(
        &format!("/incidents/{pupil_id}/notes"),
        &[
            ("csrf", &token),
            ("note", "Spoke to Jo at lunch, not break"),
            ("corrects", &note.to_string()),
        ],
    );
    assert_eq!(page.status, 303);
    for (method, path) in [
        ("PUT", format!("/incidents/{pupil_id}/notes")),
        ("DELETE", format!("/incidents/{pupil_id}/notes")),
        ("PATCH", format!("/incidents/{pupil_id}")),
        ("DELETE", format!("/incidents/{pupil_id}")),
        ("POST", format!("/incidents/{pupil_id}/notes/{note}")),
        ("POST", format!("/incidents/{pupil_id}/entries/{note}")),
        ("DELETE", format!("/incidents/{pupil_id}/entries/{note}")),
        ("POST", format!("/incidents/{pupil_id}/edit")),
    ] {
        let status = if method == "POST" {
            dsl.post(&path, &[("csrf", &token), ("note", "rewritten")])
                .status
        } else {
            dsl.call(method, &path).status
        };
        assert!(
            [403, 404, 405].contains(&status),
            "{method} {path} answered {status}"
        );
    }
    let after = console
        .runtime
        .block_on(console.store.incident_entries(
            console.school,
            ward_store::IncidentScope::All,
            pupil_id,
        ))
        .expect("entries");
    let notes: Vec<(&str, Option<i64>)> = after
        .iter()
        .map(|entry| (entry.note.as_str(), entry.corrects))
        .collect();
    assert_eq!(
        notes,
        [
            ("Spoke to Jo at break", None),
            ("Spoke to Jo at lunch, not break", Some(note))
        ]
    );

    // Once the DSL finds a child protection concern, the teacher who recorded it no longer sees it.
    for (step, answer) in [
        ("do-not-examine", "confirmed"),
        ("reported", "dsl"),
        ("child-protection", "yes"),
    ] {
        let page = dsl.submit(
            &format!("/incidents/{pupil_id}"),
            &format!("/incidents/{pupil_id}/steps"),
            &[("step", step), ("answer", answer), ("note", "")],
        );
        assert_eq!(page.status, 303, "{step}: {}", page.body);
    }
    assert_eq!(teacher.get(&format!("/incidents/{pupil_id}")).status, 404);
    assert!(!teacher.get("/incidents").body.contains("Games site"));
    let page = teacher.post(
        &format!("/incidents/{pupil_id}/notes"),
        &[("csrf", &token), ("note", "still there?")],
    );
    assert_eq!(page.status, 404);
    let head = console
        .logged_in("head")
        .get(&format!("/incidents/{pupil_id}"));
    assert!(
        head.body
            .contains("child protection: DSL and headteacher only")
    );

    // Another school's DSL sees none of it.
    let mut other = console.logged_in("other.dsl");
    assert_eq!(other.get(&format!("/incidents/{pupil_id}")).status, 404);

    // Every step is in the audit log.
    let actions: Vec<String> = console
        .audit()
        .into_iter()
        .map(|e| e.entry.action)
        .collect();
    for action in [
        "incident.create",
        "incident.note",
        "incident.correct",
        "incident.step",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[test]
fn the_watched_page_is_public_and_exclusions_are_checked_kept_and_audited() {
    let console = Console::start();
    // No log-in needed; this console runs no gateway, so it says detection is off.
    let mut visitor = console.client();
    let page = visitor.get("/watched");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("What Ward watches for"), "{}", page.body);
    assert!(page.body.contains("id=\"detection-off\""), "{}", page.body);
    assert!(visitor.get("/login").body.contains("href=\"/watched\""));

    let mut dsl = console.logged_in("dsl");
    let token = csrf_in(&dsl.get("/alerts/exclusions").body);
    let add = |client: &mut Client, kind: &str, value: &str, reason: &str| {
        client.post(
            "/alerts/exclusions",
            &[
                ("csrf", &token),
                ("kind", kind),
                ("value", value),
                ("reason", reason),
            ],
        )
    };
    let reason = "Sam's family asked; agreed at the safeguarding meeting";
    for (kind, value, why, expected) in [
        ("person", "j.smith", "short", "at least 10 characters"),
        (
            "person",
            "nobody.here",
            reason,
            "no pupil, member of staff or guest has the username",
        ),
        ("site", "http://exa mple.org/", reason, "Not added"),
        ("phrase", "", reason, "write the phrase"),
        ("planet", "mars", reason, "choose what to leave out"),
        (
            "phrase",
            "<script>alert(1)</script>",
            "x",
            "at least 10 characters",
        ),
    ] {
        let page = add(&mut dsl, kind, value, why);
        assert_eq!(page.status, 400, "{kind} {value:?}: {}", page.body);
        assert!(
            page.body.contains(expected),
            "{kind} {value:?}: {}",
            page.body
        );
        assert!(!page.body.contains("<script>alert"), "escaped");
    }
    let page = add(&mut dsl, "person", "S.NG", reason);
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/alerts/exclusions")
    );
    let page = add(
        &mut dsl,
        "site",
        "https://www.Example.org/some/page",
        reason,
    );
    assert_eq!(page.status, 303, "{}", page.body);
    let list = dsl.get("/alerts/exclusions").body;
    assert!(list.contains("Sam Ng (s.ng)"), "{list}");
    assert!(list.contains("www.example.org"), "{list}");
    assert!(
        list.contains("agreed at the safeguarding meeting"),
        "{list}"
    );

    // The headteacher sees them and why, but cannot change them.
    let mut head = console.logged_in("head");
    let seen = head.get("/alerts/exclusions").body;
    assert!(seen.contains("Sam Ng (s.ng)"), "{seen}");
    assert!(!seen.contains("id=\"exclude-form\"") && !seen.contains("id=\"end-"));

    // Ended, not deleted: it stays listed as ended, and a second end changes nothing.
    let id = list
        .split("action=\"/alerts/exclusions/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("an End button")
        .to_owned();
    for _ in 0..2 {
        let page = dsl.post(&format!("/alerts/exclusions/{id}/end"), &[("csrf", &token)]);
        assert_eq!(page.status, 303);
    }
    let list = dsl.get("/alerts/exclusions").body;
    let ended = list.split("<h2>Ended</h2>").nth(1).expect("an Ended table");
    assert_eq!(
        ended.matches("<tr><td data-label=\"Kind\">").count(),
        1,
        "{ended}"
    );
    assert_eq!(
        dsl.post("/alerts/exclusions/999/end", &[("csrf", &token)])
            .status,
        404
    );

    let audit = dsl.get("/audit").body;
    assert_eq!(audit.matches("detection.exclude").count(), 2, "{audit}");
    assert_eq!(audit.matches("detection.include").count(), 1, "{audit}");
}

/// Issue 20, item 5: `next` after log-in stays on the console, however it is disguised, and a
/// control character in it is a clean refusal, never a 500.
#[test]
fn the_page_after_log_in_is_always_on_the_console() {
    let console = Console::start();
    for next in [
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%0d%0a/evil.example",
        "/%0b/evil.example",
        "/%5c/evil.example",
        "//evil.example",
        "https://evil.example/",
        "/%0d%0aSet-Cookie:%20x=1",
    ] {
        let mut client = console.client();
        let page = client.get(&format!("/login?next={next}"));
        assert_eq!(page.status, 200, "{next}");
        let token = csrf_in(&page.body);
        let decoded = next
            .replace("%09", "\t")
            .replace("%0a", "\n")
            .replace("%0d", "\r")
            .replace("%0b", "\u{b}")
            .replace("%5c", "\\")
            .replace("%20", " ");
        let page = client.post(
            "/login",
            &[
                ("username", "tech"),
                ("password", PASSWORD),
                ("csrf", &token),
                ("next", &decoded),
            ],
        );
        assert_eq!((page.status, page.location.as_str()), (303, "/"), "{next}");
        // Logged in already: the log-in page sends them on, to the console's front page.
        let page = client.get(&format!("/login?next={next}"));
        assert_eq!((page.status, page.location.as_str()), (303, "/"), "{next}");
    }
    let mut client = console.client();
    let page = client.get("/login?next=/alerts%3Ftab%3Dnew");
    let token = csrf_in(&page.body);
    let page = client.post(
        "/login",
        &[
            ("username", "tech"),
            ("password", PASSWORD),
            ("csrf", &token),
            ("next", "/alerts?tab=new"),
        ],
    );
    assert_eq!(page.location, "/alerts?tab=new");
}

/// Issue 20, item 13: usernames and device names are short, and hold no markup, controls or
/// characters that reverse or hide text (`ad\u{202e}min`).
#[test]
fn identifiers_are_short_and_hold_no_hidden_characters() {
    let console = Console::start();
    let mut head = console.logged_in("head");
    let long = "a".repeat(5_000);
    for username in [
        "ad\u{202e}min",
        "ad\u{200b}min",
        "<b>boss</b>",
        long.as_str(),
    ] {
        let page = head.submit(
            "/accounts",
            "/accounts",
            &[("username", username), ("roles", "teacher")],
        );
        assert_eq!(page.status, 400, "{username:?}: {}", page.body);
        assert!(
            page.body.contains("a username"),
            "{username:?}: {}",
            page.body
        );
    }
    let page = head.submit(
        "/accounts",
        "/accounts",
        &[("username", "new.teacher"), ("roles", "teacher")],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("new.teacher"), "{}", page.body);

    let mut tech = console.logged_in("tech");
    for name in ["PC\u{202e}21", "<script>x</script>", long.as_str()] {
        let page = tech.submit(
            "/devices",
            "/devices",
            &[("name", name), ("network", "10.0.3.9")],
        );
        assert_eq!(page.status, 400, "{name:?}: {}", page.body);
    }
    // In an MIS file, such a row is reported with its line and the others are imported.
    let csv = "username,forename,surname,year\n\
               good.one,Good,One,3\n\
               ad\u{202e}min,Bad,Name,3\n\
               fine.two,Fi\u{200f}ne,Two,3\n";
    let page = tech.upload_people("pupil", "people.csv", csv.as_bytes(), true);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("U+202E"), "{}", page.body);
    assert!(page.body.contains("U+200F"), "{}", page.body);
    let page = tech.get("/people?q=good.one");
    assert!(page.body.contains("good.one"), "{}", page.body);
}

/// Issue 20, item 10: twenty log-ins at once, nineteen wrong and the right one last, cannot get
/// round the lock-out; none fails with a database error, and every failure is audited.
#[test]
fn log_ins_at_once_cannot_get_round_the_lock_out() {
    let console = Console::start();
    let mut handles = Vec::new();
    for attempt in 0..20 {
        let mut client = console.client();
        let token = csrf_in(&client.get("/login").body);
        handles.push(std::thread::spawn(move || {
            if attempt == 19 {
                // The right password, while the wrong ones are still being checked.
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let password = if attempt == 19 {
                PASSWORD
            } else {
                "wrong guess"
            };
            client
                .post(
                    "/login",
                    &[
                        ("username", "teacher"),
                        ("password", password),
                        ("csrf", &token),
                        ("next", "/"),
                    ],
                )
                .status
        }));
    }
    let statuses: Vec<u16> = handles
        .into_iter()
        .map(|handle| handle.join().expect("client thread"))
        .collect();
    assert!(statuses.iter().all(|&status| status == 401), "{statuses:?}");
    let failures = console
        .audit()
        .iter()
        .filter(|entry| entry.entry.action == "login.failed")
        .count();
    assert_eq!(failures, 20, "every failure is audited");
}

/// The gateway as the dashboard sees it: HTTPS inspection on, a certificate expiring in 40 days,
/// and uninspected connections from a device.
struct Inspecting;

impl ward_console::FilterHooks for Inspecting {
    fn check_grant(
        &self,
        _: ward_store::RequestId,
        _: &ward_store::UnblockGrant,
    ) -> Result<(), ward_console::Refused> {
        Err(ward_console::Refused("not in this test".into()))
    }
    fn records_changed(&self) {}
    fn classify(
        &self,
        _: &str,
        _: &str,
    ) -> Result<ward_console::Classified, ward_console::Refused> {
        Err(ward_console::Refused("not in this test".into()))
    }
    fn exclusions_changed(&self, _: &[ward_store::Exclusion]) {}
    fn listed_phrase(&self, _: &str) -> Result<String, ward_console::Refused> {
        Err(ward_console::Refused("not in this test".into()))
    }
    fn https_status(&self) -> Option<ward_console::HttpsStatus> {
        let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(40 * 24 + 1);
        Some(ward_console::HttpsStatus {
            inspecting: true,
            certificate: Some(("Ward inspection CA, Park End".into(), expires)),
            next: None,
            inspected: 1234,
            uninspected: vec![(
                "www.bbc.co.uk".into(),
                "device 7 (10.0.3.17)".into(),
                "the device does not trust the school's certificate, or the app pins its own"
                    .into(),
                3,
            )],
            http3_removed: 5,
        })
    }
}

#[test]
fn the_dashboard_warns_before_the_schools_certificate_expires_and_shows_devices_to_technicians() {
    let console = Console::start_with_filter(
        ward_console::ConsoleConfig::default(),
        Some(std::sync::Arc::new(Inspecting)),
    );
    let mut technician = console.logged_in("tech");
    let page = technician.get("/");
    assert_eq!(page.status, 200);
    for expected in [
        "Secure (HTTPS) sites",
        "1234",
        "It expires in 40 days",
        "ward ca next",
        "www.bbc.co.uk",
        "device 7 (10.0.3.17)",
        "taken out of DNS answers: 5",
    ] {
        assert!(
            page.body.contains(expected),
            "{expected:?} missing: {}",
            page.body
        );
    }
    // Governors see the site and why, not which device.
    let mut governor = console.logged_in("governor");
    let page = governor.get("/");
    assert!(page.body.contains("www.bbc.co.uk"), "{}", page.body);
    assert!(!page.body.contains("10.0.3.17"), "{}", page.body);
}

#[test]
fn the_dsl_and_the_headteacher_sign_in_with_a_code_from_an_app() {
    let console = Console::start();
    // A new DSL, without an authenticator app yet.
    console.runtime.block_on(async {
        let hash = ward_console::auth::hash_password(PASSWORD).expect("hash");
        console
            .store
            .create_account(
                console.school,
                &ward_store::NewAccount {
                    username: "new.dsl".into(),
                    display_name: "New DSL".into(),
                    roles: "dsl".parse().expect("roles"),
                    password_hash: hash,
                    must_change_password: false,
                },
            )
            .await
            .expect("account")
    });
    let mut client = console.client();
    let page = client.log_in("new.dsl", PASSWORD);
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/login/code?next=%2F")
    );
    // Nothing else opens until the code is done.
    let page = client.get("/alerts");
    assert_eq!((page.status, page.location.as_str()), (303, "/login/code"));
    let page = client.get("/login/code?next=/alerts");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Set up your sign-in code"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("aria-label=\"Console\""),
        "no menu until signed in"
    );
    let secret = page
        .body
        .split("id=\"secret\" class=\"pre\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret is shown");
    let secret = ward_testkit::totp::from_base32(secret);
    assert_eq!(secret.len(), 20);
    assert!(page.body.contains("otpauth://totp/"), "a link for the app");
    let csrf = csrf_in(&page.body);
    let now = ward_console::totp::step_of(jiff::Timestamp::now());
    let code = |step: i64| format!("{:06}", ward_console::totp::code_at(&secret, step));
    let wrong = format!(
        "{:06}",
        (ward_console::totp::code_at(&secret, now) + 1) % 1_000_000
    );
    let page = client.post(
        "/login/code",
        &[("code", &wrong), ("csrf", &csrf), ("next", "/alerts")],
    );
    assert_eq!(page.status, 401);
    assert!(page.body.contains("did not work"));
    let page = client.post(
        "/login/code",
        &[("code", &code(now)), ("csrf", &csrf), ("next", "/alerts")],
    );
    assert_eq!((page.status, page.location.as_str()), (303, "/alerts"));
    // A new account: the staff agreement next, then the page asked for.
    let page = client.get("/alerts");
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/agreement?next=/alerts")
    );
    client.accept_agreement();
    assert_eq!(client.get("/alerts").status, 200);

    // Next time: a code, not the set-up; the one already used is not good again.
    let mut again = console.client();
    assert_eq!(again.log_in("new.dsl", PASSWORD).status, 303);
    let page = again.get("/login/code");
    assert!(page.body.contains("Your sign-in code"));
    assert!(
        !page.body.contains("id=\"secret\""),
        "the secret is shown only once"
    );
    let csrf = csrf_in(&page.body);
    let page = again.post(
        "/login/code",
        &[("code", &code(now)), ("csrf", &csrf), ("next", "/")],
    );
    assert_eq!(page.status, 401, "a code is good once");
    let page = again.post(
        "/login/code",
        &[("code", &code(now + 1)), ("csrf", &csrf), ("next", "/")],
    );
    assert_eq!((page.status, page.location.as_str()), (303, "/"));

    // Roles that do not see pupils' data sign in with the password alone.
    let page = console.client().log_in("teacher", PASSWORD);
    assert_eq!((page.status, page.location.as_str()), (303, "/"));
    let actions: Vec<String> = console
        .audit()
        .iter()
        .map(|entry| entry.entry.action.clone())
        .collect();
    for expected in [
        "account.second_factor.set",
        "login.code.failed",
        "login.code",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }

    // A lost phone: the headteacher removes the code; the next log-in sets up a new one.
    let mut head = console.logged_in("head");
    let page = head.get("/accounts");
    assert!(
        page.body.contains("id=\"reset-code-new.dsl\""),
        "{}",
        page.body
    );
    let id = console.runtime.block_on(async {
        console
            .store
            .account_by_username("new.dsl")
            .await
            .expect("query")
            .expect("account")
            .id
    });
    let page = head.submit("/accounts", &format!("/accounts/{id}/reset-code"), &[]);
    assert_eq!((page.status, page.location.as_str()), (303, "/accounts"));
    assert_eq!(again.get("/").status, 303, "its sessions ended");
    let mut later = console.client();
    later.log_in("new.dsl", PASSWORD);
    assert!(
        later
            .get("/login/code")
            .body
            .contains("Set up your sign-in code")
    );
    // A teacher may not.
    let mut teacher = console.logged_in("teacher");
    let page = teacher.get("/");
    let csrf = csrf_in(&page.body);
    let refused = teacher.post(&format!("/accounts/{id}/reset-code"), &[("csrf", &csrf)]);
    assert_eq!(refused.status, 403);
}

#[test]
fn staff_see_the_password_rules_and_are_reminded_when_theirs_is_old() {
    use ward_console::passwords::{Needs, PasswordPolicy, PasswordRules};
    let config = ward_console::ConsoleConfig {
        passwords: std::sync::Arc::new(PasswordPolicy {
            accounts: PasswordRules {
                min_length: 12,
                needs: Needs::CapitalsSmallLettersAndNumbers,
                change_days: 30,
            },
            ..PasswordPolicy::default()
        }),
        ..ward_console::ConsoleConfig::default()
    };
    let console = Console::start_with(config);
    let mut tech = console.logged_in("tech");
    assert!(!tech.get("/").body.contains("password-due"), "set just now");
    // The password is 31 days old: every page says so, with the way to change it.
    let account = console
        .runtime
        .block_on(console.store.account_by_username("tech"))
        .expect("query")
        .expect("tech");
    let long_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 31);
    console
        .runtime
        .block_on(console.store.set_password(
            account.school,
            account.id,
            &account.password_hash,
            false,
            long_ago,
        ))
        .expect("dated");
    for route in ["/", "/people"] {
        let page = tech.get(route);
        assert!(
            page.body.contains("id=\"password-due\"")
                && page.body.contains("Your password is older than the school")
                && page
                    .body
                    .contains("href=\"/account/password\">Choose a new one"),
            "{route}: {}",
            page.body
        );
    }
    let page = tech.get("/account/password");
    assert!(page.body.contains("Use at least 12 letters or numbers."));
    assert!(page.body.contains("a capital letter (like A)"));
    assert!(page.body.contains("minlength=\"12\""));
    // A new one that breaks the rules is refused in the same words; one that keeps them ends
    // the reminder.
    let page = tech.submit(
        "/account/password",
        "/account/password",
        &[
            ("current", PASSWORD),
            ("new", "all small letters 1"),
            ("confirm", "all small letters 1"),
        ],
    );
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("a capital letter (like A)"),
        "{}",
        page.body
    );
    let page = tech.submit(
        "/account/password",
        "/account/password",
        &[
            ("current", PASSWORD),
            ("new", "Autumn term 2026"),
            ("confirm", "Autumn term 2026"),
        ],
    );
    assert_eq!((page.status, page.location.as_str()), (303, "/"));
    assert!(!tech.get("/").body.contains("password-due"));
}

#[test]
fn a_welfare_concern_resolves_names_asks_for_its_reasons_and_keeps_to_its_school() {
    let console = Console::start();
    console
        .runtime
        .block_on(console.store.import_people(
            console.school,
            b"username,forename,surname,year\ns.ng2,Sam,Ng,5\n",
            ward_store::PersonKind::Pupil,
        ))
        .expect("a second Sam Ng");
    let person = |username: &str| {
        console
            .runtime
            .block_on(console.store.person_by_username(console.school, username))
            .expect("query")
            .expect("person")
            .id
    };
    let mut dsl = console.logged_in("dsl");
    let record = |dsl: &mut support::Client, kind: &str, username: &str, person: &str| {
        dsl.submit(
            "/incidents/new",
            "/incidents",
            &[
                ("kind", kind),
                ("username", username),
                ("person", person),
                ("others", ""),
                ("station", ""),
                ("occurred_at", ""),
                (
                    "evidence",
                    "Told Mrs Patel that dad hits him when he drinks",
                ),
                ("reported_by", "Mrs Patel"),
            ],
        )
    };
    let refused = record(&mut dsl, "welfare:no-such-concern", "s.ng", "");
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("Choose the type of incident"));
    // A name two pupils share is not guessed: the form comes back with both to choose from,
    // and what was typed kept.
    let ambiguous = record(&mut dsl, "welfare:abuse-disclosed", "Sam Ng", "");
    assert_eq!(ambiguous.status, 400, "{}", ambiguous.body);
    assert!(ambiguous.body.contains("Several people match"));
    assert!(
        ambiguous.body.contains("Sam Ng (s.ng), 6"),
        "{}",
        ambiguous.body
    );
    assert!(ambiguous.body.contains("Sam Ng (s.ng2)"));
    assert!(ambiguous.body.contains("dad hits him when he drinks"));
    let chosen = person("s.ng2").0.to_string();
    let recorded = record(&mut dsl, "welfare:abuse-disclosed", "Sam Ng", &chosen);
    assert_eq!(recorded.status, 303, "{}", recorded.body);
    let page = recorded.location.clone();
    let id: i64 = page
        .trim_start_matches("/incidents/")
        .parse()
        .expect("incident page");
    let incident = console
        .runtime
        .block_on(console.store.incident(
            console.school,
            ward_store::IncidentScope::All,
            ward_store::IncidentId(id),
        ))
        .expect("incident");
    assert!(incident.welfare);
    assert_eq!(incident.person, Some(person("s.ng2")));
    let shown = dsl.get(&page).body;
    assert!(shown.contains("Abuse disclosed"), "{shown}");
    assert!(
        !shown.contains("Refer to class teacher"),
        "welfare actions, not sanctions"
    );

    // A decision not to refer needs its rationale: nothing of the form is recorded without it.
    let steps = format!("{page}/steps");
    let answer =
        |dsl: &mut support::Client, fields: &[(&str, &str)]| dsl.submit(&page, &steps, fields);
    let missing = answer(
        &mut dsl,
        &[
            ("answer:reported", "dsl"),
            ("answer:referral", "not-referred"),
            ("note:referral", "  "),
        ],
    );
    assert_eq!(missing.status, 400);
    assert!(
        missing
            .body
            .contains("needs a note: why not, and who was consulted"),
        "{}",
        missing.body
    );
    // The page comes back with what was chosen still chosen.
    assert!(
        missing
            .body
            .contains(r#"id="answer-referral-not-referred" checked"#),
        "{}",
        missing.body
    );
    let entries = |console: &Console| {
        console
            .runtime
            .block_on(console.store.incident_entries(
                console.school,
                ward_store::IncidentScope::All,
                ward_store::IncidentId(id),
            ))
            .expect("entries")
    };
    assert!(entries(&console).is_empty(), "nothing recorded");
    // The device steps do not apply until a device with illegal material is said to be involved.
    let early = answer(&mut dsl, &[("answer:do-not-examine", "confirmed")]);
    assert_eq!(early.status, 400);
    assert!(early.body.contains("does not apply"));
    let together = answer(
        &mut dsl,
        &[
            ("answer:device", "yes"),
            ("answer:do-not-examine", "confirmed"),
            ("answer:referral", "referred"),
            (
                "note:referral",
                "MASH referral: disclosure of physical abuse, ref 55/1",
            ),
        ],
    );
    assert_eq!(together.status, 303, "{}", together.body);
    let recorded: Vec<(String, String)> = entries(&console)
        .into_iter()
        .map(|entry| (entry.step, entry.answer))
        .collect();
    assert_eq!(
        recorded,
        [
            ("device".to_owned(), "yes".to_owned()),
            ("do-not-examine".to_owned(), "confirmed".to_owned()),
            ("referral".to_owned(), "referred".to_owned()),
        ]
    );

    // Adding pupils: another school's pupil is nobody here; a teacher may not add anyone.
    let people = format!("{page}/people");
    let stranger = dsl.submit(&page, &people, &[("name", "o.child")]);
    assert_eq!(stranger.status, 400);
    assert!(stranger.body.contains("Nobody in the school"));
    let added = dsl.submit(&page, &people, &[("name", "j.smith")]);
    assert_eq!(added.status, 303);
    assert!(dsl.get(&page).body.contains("Jo Smith (j.smith)"));
    let mut teacher = console.logged_in("teacher");
    let token = support::csrf_in(&teacher.get("/incidents/new").body);
    let page = teacher.post(&people, &[("csrf", &token), ("name", "s.ng")]);
    assert_eq!(page.status, 403);
    let actions: Vec<String> = console
        .audit()
        .into_iter()
        .map(|e| e.entry.action)
        .collect();
    assert!(
        actions.contains(&"incident.person".to_owned()),
        "{actions:?}"
    );
}

#[test]
fn the_dsl_asks_a_colleague_to_look_at_an_alert_and_sees_when_they_have_read_it() {
    let console = Console::start();
    let account = |username: &str| {
        console
            .runtime
            .block_on(console.store.account_by_username(username))
            .expect("query")
            .expect("account")
            .id
            .0
            .to_string()
    };
    let (head, teacher, elsewhere) = (account("head"), account("teacher"), account("other.dsl"));
    let mut dsl = console.logged_in("dsl");
    let alert = dsl.get("/alerts/1").body;
    assert!(alert.contains("Nobody has been asked to look at this yet"));
    assert!(alert.contains(&format!(r#"id="tell-{head}""#)), "{alert}");
    assert!(
        !alert.contains(&format!(r#"id="tell-{teacher}""#)),
        "a teacher cannot open alerts, so is not offered"
    );
    // Only colleagues who may open it, of this school, can be told.
    for refused in [&teacher, &elsewhere, &"x".to_owned()] {
        let page = dsl.submit(
            "/alerts/1",
            "/alerts/1/tell",
            &[("to", refused), ("message", "look")],
        );
        assert_eq!(page.status, 400, "{refused}: {}", page.body);
    }
    let sent = dsl.submit(
        "/alerts/1",
        "/alerts/1/tell",
        &[("to", &head), ("message", "Jo again: can you call home?")],
    );
    assert_eq!(sent.status, 303, "{}", sent.body);
    let told = dsl.get("/alerts/1").body;
    assert!(told.contains("Jo again: can you call home?"), "{told}");
    assert!(told.contains("not yet"), "{told}");

    // The headteacher sees it at the top of every page until they open the alert.
    let mut head_client = console.logged_in("head");
    let dashboard = head_client.get("/").body;
    assert!(
        dashboard.contains("Colleagues asked you to look"),
        "{dashboard}"
    );
    assert!(dashboard.contains("Jo again: can you call home?"));
    assert!(dashboard.contains(r#"href="/alerts/1""#));
    let opened = head_client.get("/alerts/1").body;
    assert!(!opened.contains("Colleagues asked you to look"), "{opened}");
    assert!(
        !head_client
            .get("/")
            .body
            .contains("Colleagues asked you to look")
    );
    // The DSL sees when it was read.
    let receipt = dsl.get("/alerts/1").body;
    assert!(!receipt.contains(">not yet<"), "{receipt}");
    assert!(receipt.contains(r#"class="read""#), "{receipt}");

    // A teacher may not tell anyone about an alert.
    let mut teacher_client = console.logged_in("teacher");
    let token = csrf_in(&teacher_client.get("/incidents/new").body);
    let page = teacher_client.post("/alerts/1/tell", &[("csrf", &token), ("to", &head)]);
    assert_eq!(page.status, 403);
    let actions: Vec<String> = console
        .audit()
        .into_iter()
        .map(|e| e.entry.action)
        .collect();
    assert!(actions.contains(&"alert.tell".to_owned()), "{actions:?}");
}

#[test]
fn the_queue_filters_by_pupil_and_triages_or_assigns_several_alerts_at_once() {
    let console = Console::start();
    // Two more alerts: one of Sam's (severity 4) and one of Jo's (severity 5).
    let (store, school) = (&console.store, console.school);
    console.runtime.block_on(async {
        let person = |username: &'static str| async move {
            store
                .person_by_username(school, username)
                .await
                .expect("query")
                .expect("person")
        };
        let (jo, sam) = (person("j.smith").await, person("s.ng").await);
        let alert = |who: &ward_store::Person, host: &str, category: &str, severity: u8| {
            ward_store::Event {
                school,
                at: jiff::Timestamp::now(),
                source: ward_store::Source::Proxy,
                client_ip: "10.0.3.18".parse().expect("ip"),
                device: None,
                person: Some(who.id),
                username: Some(who.username.clone()),
                identified_by: Some(ward_store::IdentifiedBy::Network),
                host: host.into(),
                url: None,
                action: ward_store::Disposition::Block,
                categories: category.into(),
                reason: "unacceptable".into(),
                search_term: None,
                count: 1,
                alert: Some(ward_store::EventAlert {
                    severity,
                    category: category.into(),
                    detection: None,
                }),
            }
        };
        store
            .insert_events(&[
                alert(&sam, "fight.example", "violence", 4),
                alert(&jo, "harm.example", "self-harm", 5),
            ])
            .await
            .expect("events");
    });
    let mut dsl = console.logged_in("dsl");
    let all = dsl.get("/alerts").body;
    assert_eq!(all.matches("name=\"alert\"").count(), 3, "{all}");
    let jo = dsl.get("/alerts?person=Jo+Smith").body;
    assert_eq!(jo.matches("name=\"alert\"").count(), 2, "{jo}");
    assert!(!jo.contains("Sam Ng"));
    let class = dsl.get("/alerts?class=6t&severity=4").body;
    assert_eq!(class.matches("name=\"alert\"").count(), 1, "{class}");
    assert!(class.contains("Sam Ng"));
    // The tabs keep the filters.
    assert!(
        class
            .replace("&#38;", "&")
            .replace("&amp;", "&")
            .contains("/alerts?status=triaged&class=6t&severity=4"),
        "{class}"
    );
    let unknown = dsl.get("/alerts?person=nobody").body;
    assert!(unknown.contains("Nobody in the school"), "{unknown}");

    // Jo's two alerts triaged at once, from the filtered queue: back to it, with what was done.
    let ids: Vec<String> = jo
        .split("name=\"alert\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    let mut fields = vec![
        ("action", "triaged"),
        ("back", "status=new&person=Jo Smith"),
        ("note", ""),
        ("assignee", ""),
    ];
    for id in &ids {
        fields.push(("alert", id));
    }
    let done = dsl.submit("/alerts", "/alerts/bulk", &fields);
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(
        done.location.contains("person=Jo+Smith"),
        "{}",
        done.location
    );
    assert!(
        done.location.contains("changed=2&refused=0"),
        "{}",
        done.location
    );
    assert!(dsl.get(&done.location).body.contains("2 alert(s) changed."));
    let queue = dsl.get("/alerts").body;
    assert_eq!(queue.matches("name=\"alert\"").count(), 1, "{queue}");

    // Closing needs a reason: refused without one, nothing changed.
    let sam_id = queue
        .split("name=\"alert\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("Sam's alert")
        .to_owned();
    let refused = dsl.submit(
        "/alerts",
        "/alerts/bulk",
        &[("action", "closed"), ("note", ""), ("alert", &sam_id)],
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("Nothing was changed"),
        "{}",
        refused.body
    );
    // The queue comes back with the alert still ticked and the move still chosen.
    assert!(
        refused.body.contains(&format!(
            r#"id="pick-{sam_id}" aria-label="Choose alert {sam_id}" checked"#
        )),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"<option value="closed" selected>"#));
    assert_eq!(dsl.get("/alerts").body.matches("name=\"alert\"").count(), 1);

    // Assigned to the headteacher, who is told and finds it under "assigned to me".
    let assigned = dsl.submit(
        "/alerts",
        "/alerts/bulk",
        &[
            ("action", "assign"),
            ("assignee", "head"),
            ("alert", &sam_id),
        ],
    );
    assert_eq!(assigned.status, 303, "{}", assigned.body);
    let mut head = console.logged_in("head");
    let dashboard = head.get("/").body;
    assert!(dashboard.contains("Assigned to you"), "{dashboard}");
    let mine = head.get("/alerts?assigned=me").body;
    assert_eq!(mine.matches("name=\"alert\"").count(), 1, "{mine}");
    assert!(
        mine.contains("Test head"),
        "the colleague's name, not the username: {mine}"
    );
    // Someone who is not a colleague who triages cannot be assigned.
    let bad = dsl.submit(
        "/alerts",
        "/alerts/bulk",
        &[
            ("action", "assign"),
            ("assignee", "teacher"),
            ("alert", &sam_id),
        ],
    );
    assert_eq!(bad.status, 400);
    // Another school's alert is not found.
    let mut other = console.logged_in("other.dsl");
    let page = other.submit(
        "/alerts",
        "/alerts/bulk",
        &[("action", "triaged"), ("alert", &sam_id)],
    );
    assert_eq!(page.status, 404, "{}", page.body);
    let actions: Vec<String> = console
        .audit()
        .into_iter()
        .map(|e| e.entry.action)
        .collect();
    assert!(actions.contains(&"alert.assign".to_owned()));
    assert_eq!(
        actions.iter().filter(|a| *a == "alert.triage").count(),
        2,
        "{actions:?}"
    );
}

#[test]
fn a_person_is_added_changed_and_marked_as_a_leaver_in_the_console() {
    let console = Console::start();
    let mut dsl = console.logged_in("dsl");
    let form = |kind: &'static str, username: &'static str, year: &'static str| {
        vec![
            ("kind", kind),
            ("username", username),
            ("given_name", "Mia"),
            ("family_name", "Khan"),
            ("external_id", "B777"),
            ("year_group", year),
            ("class_name", "5K"),
            ("job_role", ""),
        ]
    };
    // A pupil needs a year group a group holds; a form refused keeps what was typed.
    let refused = dsl.submit(
        "/people/new",
        "/people",
        &form("pupil", "m.khan", "Year 99"),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("needs a year group"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"value="m.khan""#));
    let taken = dsl.submit("/people/new", "/people", &form("pupil", "j.smith", "5"));
    assert_eq!(taken.status, 400);
    assert!(
        taken.body.contains("already has the username j.smith"),
        "{}",
        taken.body
    );
    let added = dsl.submit("/people/new", "/people", &form("pupil", "M.Khan", "Year 5"));
    assert_eq!(added.status, 303, "{}", added.body);
    let page = added.location.clone();
    let shown = dsl.get(&page).body;
    assert!(shown.contains("username m.khan"), "{shown}");
    assert!(dsl.get("/people?q=khan").body.contains("added here"));

    // Changed: a new class; the username stays whatever the form says.
    let mut changed = form("pupil", "someone.else", "5");
    changed[6] = ("class_name", "5T");
    let saved = dsl.submit(&page, &page, &changed);
    assert_eq!(saved.status, 303, "{}", saved.body);
    let mia = console
        .runtime
        .block_on(console.store.person_by_username(console.school, "m.khan"))
        .expect("query")
        .expect("still m.khan");
    assert_eq!(mia.class_name.as_deref(), Some("5T"));

    // A leaver: access ends, the record stays; and back again.
    let leaver = format!("{page}/leaver");
    let left = dsl.submit(&page, &leaver, &[("action", "left")]);
    assert_eq!(left.status, 303);
    let mia = console
        .runtime
        .block_on(console.store.person(console.school, mia.id))
        .expect("Mia");
    assert!(mia.left_at.is_some());
    assert!(dsl.get(&page).body.contains("Marked as a leaver"));
    let back = dsl.submit(&page, &leaver, &[("action", "returned")]);
    assert_eq!(back.status, 303);

    // Only those who import people change them; another school's person is not found.
    let mut head = console.logged_in("head");
    assert_eq!(head.get(&page).status, 200, "the headteacher sees people");
    assert!(!head.get(&page).body.contains("person-form"));
    let token = csrf_in(&head.get("/people").body);
    let page_post = head.post(&leaver, &[("csrf", &token), ("action", "left")]);
    assert_eq!(page_post.status, 403);
    let mut teacher = console.logged_in("teacher");
    assert_eq!(teacher.get(&page).status, 403);
    let mut other = console.logged_in("other.dsl");
    assert_eq!(other.get(&page).status, 404);
    let actions: Vec<String> = console
        .audit()
        .into_iter()
        .map(|e| e.entry.action)
        .collect();
    for action in [
        "person.add",
        "person.update",
        "person.leaver",
        "person.returned",
    ] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }
}

#[test]
fn files_attached_to_an_incident_are_checked_kept_with_their_hash_and_only_downloaded() {
    let console = Console::start();
    let mut teacher = console.logged_in("teacher");
    let recorded = teacher.submit(
        "/incidents/new",
        "/incidents",
        &[
            ("kind", "pupil:non-educational-sites"),
            ("username", "j.smith"),
            ("evidence", "A games site in maths"),
            ("reported_by", "Mr Green"),
        ],
    );
    assert_eq!(recorded.status, 303, "{}", recorded.body);
    let page = recorded.location.clone();
    let files = format!("{page}/files");
    // The teacher who recorded it attaches a screenshot (a PNG, whatever its name says).
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let attached = teacher.upload(&page, &files, "screen shot.txt", png);
    assert_eq!(attached.status, 303, "{}", attached.body);
    let shown = teacher.get(&page).body;
    let hash = {
        use sha2::Digest as _;
        use std::fmt::Write as _;
        sha2::Sha256::digest(png)
            .iter()
            .fold(String::new(), |mut text, byte| {
                let _ = write!(text, "{byte:02x}");
                text
            })
    };
    assert!(shown.contains(&hash), "the SHA-256 is shown: {shown}");
    assert!(
        shown.contains("screen shot.txt") && shown.contains("picture"),
        "{shown}"
    );
    let link = shown
        .split("href=\"")
        .find(|rest| rest.starts_with(&format!("{files}/")))
        .and_then(|rest| rest.split('"').next())
        .expect("a download link")
        .to_owned();
    let (status, headers, bytes) = teacher.download(&link);
    assert_eq!(status, 200);
    assert_eq!(bytes, png);
    assert_eq!(headers["content-type"], "image/png", "what the bytes are");
    assert!(
        headers["content-disposition"].starts_with("attachment;"),
        "{headers:?}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"].contains("sandbox"));

    // Hostile or unknown files are refused; nothing is kept of them.
    for (name, bytes) in [
        (
            "report.html",
            b"<!doctype html><script>alert(document.cookie)</script>".as_slice(),
        ),
        (
            "logo.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".as_slice(),
        ),
        (
            "photo.png",
            b"<html><body>not a picture</body></html>".as_slice(),
        ),
        (
            "setup.exe",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".as_slice(),
        ),
        ("empty.pdf", b"".as_slice()),
    ] {
        let refused = teacher.upload(&page, &files, name, bytes);
        assert_eq!(refused.status, 400, "{name}: {}", refused.body);
    }
    // Too large: over the console's upload limit.
    let mut big = b"%PDF-1.7\n".to_vec();
    big.resize(11 << 20, b'a');
    let refused = teacher.upload(&page, &files, "big.pdf", &big);
    assert_eq!(refused.status, 413, "{}", refused.body);
    let kept = console
        .runtime
        .block_on(console.store.incident_files(
            console.school,
            ward_store::IncidentScope::All,
            ward_store::IncidentId(page.trim_start_matches("/incidents/").parse().expect("id")),
        ))
        .expect("files");
    assert_eq!(kept.len(), 1, "{kept:?}");

    // Only those who may see the incident get its files: not another teacher's account, not
    // another school.
    let mut other = console.logged_in("other.dsl");
    assert_eq!(other.download(&link).0, 404);
    let mut governor = console.logged_in("governor");
    assert_eq!(governor.download(&link).0, 403);
    let actions: Vec<String> = console
        .audit()
        .into_iter()
        .map(|e| e.entry.action)
        .collect();
    assert!(actions.contains(&"incident.file".to_owned()));
    assert!(actions.contains(&"incident.file.download".to_owned()));
}

#[test]
fn the_dashboard_draws_trends_on_the_server_with_small_numbers_suppressed_for_governors() {
    let console = Console::start();
    let mut dsl = console.logged_in("dsl");
    let page = dsl.get("/").body;
    for chart in [
        "trend-blocked-days",
        "trend-blocked-weeks",
        "trend-alerts-days",
    ] {
        assert!(
            page.contains(&format!(r#"<svg class="chart" id="{chart}""#)),
            "{chart}: {page}"
        );
    }
    assert!(
        !page.contains("<script"),
        "no script: the charts are drawn on the server"
    );
    // Today's two blocked requests (the fixture's) are the last day's bar and in this week's.
    let numbers = |page: &str, chart: &str| -> Vec<String> {
        let table = page
            .split(&format!(r#"id="{chart}-numbers""#))
            .nth(1)
            .and_then(|rest| rest.split("</table>").next())
            .unwrap_or_else(|| panic!("no numbers for {chart}"))
            .to_owned();
        table
            .split(r#"<td class="number">"#)
            .skip(1)
            .filter_map(|cell| cell.split('<').next())
            .map(|shown| shown.replace("&#60;", "<").replace("&lt;", "<"))
            .collect()
    };
    let days = numbers(&page, "trend-blocked-days");
    assert_eq!(days.len(), 14);
    assert_eq!(days.last().map(String::as_str), Some("2"), "{days:?}");
    assert_eq!(
        numbers(&page, "trend-blocked-weeks")
            .last()
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(
        numbers(&page, "trend-alerts-days")
            .last()
            .map(String::as_str),
        Some("1")
    );
    // A governor sees the shape, not the small numbers.
    let mut governor = console.logged_in("governor");
    let page = governor.get("/").body;
    assert_eq!(
        numbers(&page, "trend-blocked-days")
            .last()
            .map(String::as_str),
        Some("<5"),
        "{page}"
    );
    assert!(page.contains("trend-blocked-days-hatch"));
}

#[test]
fn the_staff_agreement_is_asked_at_the_first_log_in_of_the_year_and_again_for_a_new_version() {
    let console = Console::start();
    let hash = ward_console::auth::hash_password(PASSWORD).expect("hash");
    console.runtime.block_on(async {
        console
            .store
            .create_account(
                console.school,
                &ward_store::NewAccount {
                    username: "new.teacher".into(),
                    display_name: "New Teacher".into(),
                    roles: "teacher".parse().expect("roles"),
                    password_hash: hash,
                    must_change_password: false,
                },
            )
            .await
            .expect("account")
    });
    let mut client = console.client();
    assert_eq!(client.log_in("new.teacher", PASSWORD).status, 303);
    // Every page leads to the agreement until it is answered, keeping where they were going.
    let page = client.get("/unblock/mine");
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/agreement?next=/unblock/mine")
    );
    let page = client.get("/agreement?next=/unblock/mine");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Staff acceptable use agreement"));
    assert!(page.body.contains("Computer Misuse Act 1990"));
    assert!(
        !page.body.contains("aria-label=\"Console\""),
        "no menu until it is answered"
    );
    // Declining is recorded and ends the log-in.
    let token = csrf_in(&page.body);
    let page = client.post(
        "/agreement",
        &[
            ("csrf", &token),
            ("answer", "decline"),
            ("next", "/unblock/mine"),
        ],
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("You did not agree"), "{}", page.body);
    assert_eq!(client.get("/").location, "/login?next=/");
    // A made-up answer is refused, not taken for either.
    let mut again = console.client();
    assert_eq!(again.log_in("new.teacher", PASSWORD).status, 303);
    let token = csrf_in(&again.get("/agreement").body);
    let page = again.post("/agreement", &[("csrf", &token), ("answer", "maybe")]);
    assert_eq!(page.status, 400);
    let page = again.post(
        "/agreement",
        &[
            ("csrf", &token),
            ("answer", "accept"),
            ("next", "/unblock/mine"),
        ],
    );
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/unblock/mine")
    );
    assert_eq!(again.get("/unblock/mine").status, 200);
    let actions: Vec<String> = console
        .audit()
        .iter()
        .filter(|entry| entry.entry.actor == "new.teacher")
        .map(|entry| entry.entry.action.clone())
        .collect();
    assert!(actions.contains(&"agreement.decline".to_owned()));
    assert!(actions.contains(&"agreement.accept".to_owned()));

    // The headteacher publishes a new staff agreement: the teacher is asked again at once.
    let mut head = console.logged_in("head");
    let page = head.submit(
        "/agreements/staff",
        "/agreements/staff",
        &[
            ("title", "Staff agreement 2"),
            ("body", "- I keep pupils' data safe.\n- I report concerns."),
        ],
    );
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/agreements/staff?published=2")
    );
    let page = again.get("/unblock/mine");
    assert_eq!(page.status, 303);
    assert!(page.location.starts_with("/agreement?"));
    // The headteacher is asked too, having published it.
    let page = head.get("/agreements/staff/report");
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/agreement?next=/agreements/staff/report")
    );
    let token = csrf_in(&head.get("/agreement").body);
    let page = head.post(
        "/agreement",
        &[
            ("csrf", &token),
            ("answer", "accept"),
            ("next", "/agreements/staff/report"),
        ],
    );
    assert_eq!(page.status, 303);
    let report = head.get("/agreements/staff/report");
    assert!(report.body.contains("New Teacher"), "{}", report.body);
    assert!(report.body.contains("Test head"));
    assert!(report.body.contains("Agreed to an earlier version"));
}

#[test]
fn agreements_are_read_published_and_reported_per_class() {
    let console = Console::start();
    let mut head = console.logged_in("head");
    let page = head.get("/agreements");
    assert_eq!(page.status, 200);
    for readers in ["early-years", "pupils", "staff", "community", "parents"] {
        assert!(
            page.body.contains(&format!("id=\"readers-{readers}\"")),
            "{readers}"
        );
    }
    // The youngest children's agreement is pictured; every point has its drawing.
    let page = head.get("/agreements/early-years");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("agreement pictured"));
    assert_eq!(page.body.matches("<svg class=\"picture\"").count(), 6);
    assert!(
        page.body
            .contains("I tell a grown-up if I see something that upsets me.")
    );
    assert_eq!(head.get("/agreements/nobody").status, 404);

    // A text that cannot be published comes back as typed, with why.
    let typed = "- [dragon] I fly <b>safely</b>";
    let page = head.submit(
        "/agreements/pupils",
        "/agreements/pupils",
        &[("title", "Our rules"), ("body", typed)],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("no picture called [dragon]"));
    assert!(
        page.body
            .contains("- [dragon] I fly &#60;b&#62;safely&#60;/b&#62;"),
        "the text typed, as text"
    );
    let page = head.submit(
        "/agreements/pupils",
        "/agreements/pupils",
        &[
            ("title", "Park End's rules"),
            (
                "body",
                "# Online\n- [kind] I am kind online.\n- [tell] I tell an adult.",
            ),
        ],
    );
    assert_eq!(page.status, 303);
    let page = head.get("/agreements/pupils");
    assert!(
        page.body.contains("Park End&#39;s rules (version 2)"),
        "{}",
        page.body
    );

    // Jo (4W) agreed to version 2; Sam (6T) has not: the report, per class, and its file.
    console.runtime.block_on(async {
        let store = &console.store;
        let jo = store
            .person_by_username(console.school, "j.smith")
            .await
            .expect("query")
            .expect("Jo");
        let agreement = store
            .agreement_in_force(console.school, ward_records::Readers::Pupils)
            .await
            .expect("in force");
        store
            .answer_agreement(
                console.school,
                &agreement,
                ward_store::Signer::Person(jo.id),
                "j.smith",
                true,
                support::school_year_now(),
                "portal",
            )
            .await
            .expect("answer");
    });
    let page = head.get("/agreements/pupils/report");
    assert!(
        page.body
            .contains("1 agreed to version 2, 0 declined, 1 not yet"),
        "{}",
        page.body
    );
    let page = head.get("/agreements/pupils/report?class=6T");
    assert!(page.body.contains("Sam Ng") && !page.body.contains("Jo Smith"));
    let page = head.get("/agreements/pupils/report?show=not-agreed");
    assert!(page.body.contains("Sam Ng") && !page.body.contains("Jo Smith"));
    let page = head.get("/agreements/pupils/report?group=uks2");
    assert!(
        page.body.contains("Sam Ng") && !page.body.contains("Jo Smith"),
        "per group"
    );
    let (status, headers, bytes) = head.download("/agreements/pupils/report?format=csv");
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("text/csv"));
    let csv = String::from_utf8(bytes).expect("utf-8");
    assert!(csv.starts_with("Name,Username,Year,Class,Answer,When\r\n"));
    assert!(
        csv.contains("\"Jo Smith\",\"j.smith\",\"4\",\"4W\",\"Agreed\""),
        "{csv}"
    );
    assert!(
        csv.contains("\"Sam Ng\",\"s.ng\",\"6\",\"6T\",\"Not yet\""),
        "{csv}"
    );
    // Another school's people are never in it.
    assert!(!csv.contains("Other Child"));
    let actions: Vec<String> = console
        .audit()
        .iter()
        .map(|entry| entry.entry.action.clone())
        .collect();
    assert!(actions.contains(&"agreement.publish".to_owned()));
    assert!(actions.contains(&"agreement.report".to_owned()));
}

#[test]
fn photo_consent_is_recorded_in_writing_checked_before_publishing_and_kept_from_file_names() {
    let console = Console::start();
    let lily = console.runtime.block_on(async {
        console
            .store
            .import_people(
                console.school,
                b"username,forename,surname,year,class\nlwright4,Lily,Wright,4,4W\n",
                ward_store::PersonKind::Pupil,
            )
            .await
            .expect("import");
        console
            .store
            .person_by_username(console.school, "lwright4")
            .await
            .expect("query")
            .expect("Lily")
            .id
            .0
    });
    let mut dsl = console.logged_in("dsl");
    let page = dsl.get(&format!("/consent/{lily}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No written answer yet"));
    // A form without its date comes back as typed.
    let page = dsl.submit(
        &format!("/consent/{lily}"),
        &format!("/consent/{lily}"),
        &[
            ("website", "yes"),
            ("parent_name", "Kate Wright"),
            ("form_dated", ""),
            ("note", "<script>x</script>"),
        ],
    );
    assert_eq!(page.status, 400);
    assert!(
        page.body
            .contains("Not recorded: write the date on the paper form")
    );
    assert!(page.body.contains("value=\"Kate Wright\""));
    assert!(page.body.contains("&#60;script&#62;x&#60;/script&#62;"));
    assert!(!page.body.contains("<script>x"));
    // Partial: the website only.
    let page = dsl.submit(
        &format!("/consent/{lily}"),
        &format!("/consent/{lily}"),
        &[
            ("website", "yes"),
            ("social-media", "no"),
            ("parent_name", "Kate Wright"),
            ("form_dated", "2026-09-03"),
            ("note", ""),
        ],
    );
    assert_eq!(page.status, 303, "{}", page.body);
    let page = dsl.get(&format!("/consent/{lily}"));
    assert!(
        page.body
            .contains("a signed paper form dated 2026-09-03, from Kate Wright")
    );

    // A teacher reads their own classes only, once the headteacher has set them.
    let mut teacher = console.logged_in("teacher");
    let page = teacher.get("/consent");
    assert!(page.body.contains("Your classes are not set yet"));
    assert!(!page.body.contains("Jo Smith") && !page.body.contains("Sam Ng"));
    let teacher_id = console
        .runtime
        .block_on(console.store.account_by_username("teacher"))
        .expect("query")
        .expect("the teacher")
        .id
        .0;
    let mut head = console.logged_in("head");
    let page = head.submit(
        "/accounts",
        &format!("/accounts/{teacher_id}/classes"),
        &[("classes", "4W, 4W")],
    );
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(head.get("/accounts").body.contains("value=\"4W\""));
    let page = teacher.get("/consent");
    assert!(
        page.body.contains("Jo Smith") && !page.body.contains("Sam Ng"),
        "4W only"
    );
    // The teacher's class list: Jo has no answer, so she may not appear on the website; Lily may.
    let page = teacher.get("/consent?class=4W&purpose=website");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Jo Smith") && !page.body.contains("Lily Wright"));
    assert!(
        !page
            .body
            .split("href=\"/consent/")
            .skip(1)
            .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit())),
        "no history for teachers"
    );
    assert_eq!(teacher.get(&format!("/consent/{lily}")).status, 403);

    // The publish check: names pasted and a tag list uploaded.
    let page = teacher.send_multipart(
        "/consent/check",
        "/consent/check",
        &[
            ("purpose", "website"),
            ("names", "Lily Wright\nj.smith\nNobody Here"),
        ],
        &[("file", "tags.txt", b"Sam Ng\tfront row\n")],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    let may = page.body.split("id=\"may\"").nth(1).unwrap_or_default();
    let may_not = page
        .body
        .split("id=\"may-not\"")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .unwrap_or_default();
    assert!(may.contains("Lily Wright"), "{}", page.body);
    assert!(may_not.contains("Jo Smith") && may_not.contains("Sam Ng"));
    assert!(page.body.contains("No pupil has this name"));
    // Social media: Lily's parent said no.
    let page = teacher.send_multipart(
        "/consent/check",
        "/consent/check",
        &[("purpose", "social-media"), ("names", "lwright4")],
        &[],
    );
    assert!(page.body.contains("Refused or withdrawn"), "{}", page.body);

    // File names: images uploaded (names only) and names pasted.
    let page = teacher.send_multipart(
        "/consent/file-names",
        "/consent/file-names",
        &[("names", "sports-day-2026.jpg\nsam_ng.png")],
        &[
            (
                "files",
                "lily-wright-sports-day.jpg",
                b"\xff\xd8 not really a jpeg",
            ),
            ("files", "IMG_0042.jpg", b"\xff\xd8"),
        ],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("2 of 4 name a pupil"), "{}", page.body);
    assert!(page.body.contains("lily-wright-sports-day.jpg"));
    assert!(page.body.contains("Lily Wright (full name)"));
    assert!(page.body.contains("Sam Ng (full name)"));
    assert!(!page.body.contains("IMG_0042.jpg</td>"));
    // Another school's pupils are not there to be found.
    let mut other = console.logged_in("other.dsl");
    let page = other.send_multipart(
        "/consent/file-names",
        "/consent/file-names",
        &[("names", "lily-wright-sports-day.jpg")],
        &[],
    );
    assert!(page.body.contains("0 of 1 name a pupil"), "{}", page.body);
    assert_eq!(other.get(&format!("/consent/{lily}")).status, 404);
    let actions: Vec<String> = console
        .audit()
        .iter()
        .map(|entry| entry.entry.action.clone())
        .collect();
    for action in [
        "consent.record",
        "consent.view",
        "consent.check",
        "consent.file_names",
    ] {
        assert!(actions.contains(&action.to_owned()), "{action}");
    }
}

#[test]
fn a_parent_answers_by_the_letters_code_once_and_bad_expired_or_spent_links_are_refused() {
    let console = Console::start();
    let mut head = console.logged_in("head");
    let page = head.get("/parents");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Email is not set up"),
        "no mail server here"
    );
    let page = head.submit("/parents", "/parents/letters", &[("class", "4W")]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Dear parent or carer of Jo Smith (4W)"));
    let code = page
        .body
        .split("<p class=\"code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a code")
        .to_owned();
    assert_eq!(code.len(), 11, "{code}");

    // The parent types the code (in lower case, without the dash): the child's agreement and
    // the parents', and a question for each use of photographs.
    let mut parent = console.client();
    let typed = code.replace('-', "").to_lowercase();
    let page = parent.get(&format!("/parent?key={typed}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("How we stay safe online"),
        "Jo is in Year 4"
    );
    assert!(
        page.body.contains("Parents&#39; and carers&#39; agreement"),
        "{}",
        page.body
    );
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("csrf")
        .to_owned();
    let answer = |parent: &mut Client, fields: &[(&str, &str)]| {
        let mut all = vec![("key", typed.as_str()), ("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        parent.post("/parent", &all)
    };
    // Without the page's token (another site's form): refused.
    let page = console
        .client()
        .post("/parent", &[("key", typed.as_str()), ("endorse", "yes")]);
    assert_eq!(page.status, 403);
    // Not every question answered: back, as typed.
    let page = answer(
        &mut parent,
        &[
            ("endorse", "yes"),
            ("website", "yes"),
            ("parent_name", "Ann Smith"),
        ],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("Please answer Yes or No for each use"));
    assert!(page.body.contains("value=\"Ann Smith\""));
    let csrf_again = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("csrf")
        .to_owned();
    let mut all = vec![
        ("key", typed.as_str()),
        ("csrf", csrf_again.as_str()),
        ("endorse", "yes"),
        ("parent_name", "Ann Smith"),
        ("website", "yes"),
    ];
    for purpose in ["social-media", "newsletter", "press", "displays", "video"] {
        all.push((purpose, "no"));
    }
    let page = parent.post("/parent", &all);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Thank you"));
    assert!(page.body.contains("The school website: yes"));

    // At once: the class list and the reports.
    let page = head.get("/consent?class=4W&purpose=website");
    assert!(
        !page.body.contains("Jo Smith"),
        "Jo may now appear on the website"
    );
    let page = head.get("/consent?class=4W&purpose=newsletter");
    assert!(page.body.contains("Jo Smith"));
    let page = head.get("/agreements/parents/report");
    assert!(page.body.contains("1 agreed to version 1"), "{}", page.body);

    // The same link again: spent. A made-up one: not right. Many bad ones: wait.
    let page = parent.get(&format!("/parent?key={typed}"));
    assert_eq!(page.status, 410);
    assert!(page.body.contains("This link has been used"));
    let page = parent.post("/parent", &all);
    assert_eq!(page.status, 410, "a replayed answer");
    let page = parent.get("/parent?key=AAAAA-BBBBB");
    assert_eq!(page.status, 404);
    assert!(page.body.contains("not right"));
    // An expired link.
    let expired = console.runtime.block_on(async {
        let jo = console
            .store
            .person_by_username(console.school, "j.smith")
            .await
            .expect("query")
            .expect("Jo");
        console
            .store
            .create_parent_link(
                console.school,
                &ward_store::NewParentLink {
                    person: jo.id,
                    token_hash: ward_store::sha256_hex(b"OLDTOKEN"),
                    code_hash: ward_store::sha256_hex(b"OLDCODE"),
                    email: None,
                    expires_at: jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1),
                },
                "head",
            )
            .await
            .expect("link")
    });
    assert!(expired > 0);
    let page = parent.get("/parent?key=old-token");
    assert_eq!(page.status, 410);
    assert!(page.body.contains("This link has expired"));
    for _ in 0..25 {
        parent.get("/parent?key=WRONGWRONG");
    }
    let page = parent.get("/parent?key=WRONGWRONG");
    assert_eq!(page.status, 429, "too many bad codes from one address");
    let actions: Vec<String> = console
        .audit()
        .iter()
        .map(|entry| entry.entry.action.clone())
        .collect();
    assert!(actions.contains(&"parents.letters".to_owned()));
    assert!(actions.contains(&"parents.answer".to_owned()));
}

#[test]
fn training_is_recorded_with_its_renewal_and_the_policy_read_and_governors_see_counts_only() {
    let console = Console::start();
    console.runtime.block_on(async {
        console
            .store
            .import_people(
                console.school,
                b"username,forename,surname,job role\nmrs.jones,Ann,Jones,Teacher\nmr.green,Tom,Green,Teaching assistant\n",
                ward_store::PersonKind::Staff,
            )
            .await
            .expect("staff");
    });
    let mut head = console.logged_in("head");
    let record =
        |head: &mut Client, fields: &[(&str, &str)]| head.submit("/training", "/training", fields);
    // A pupil has no training record; a course in the future is refused; both come back typed.
    let page = record(
        &mut head,
        &[
            ("person", "j.smith"),
            ("course", "Online safety induction"),
            ("completed_on", "2026-09-02"),
            ("renewal_due", ""),
            ("evidence", ""),
        ],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("Only staff have training records"));
    let page = record(
        &mut head,
        &[
            ("person", "mrs.jones"),
            ("course", "Online safety induction"),
            ("completed_on", "2999-01-01"),
            ("renewal_due", ""),
            ("evidence", "certificate in the HR file"),
        ],
    );
    assert_eq!(page.status, 400);
    assert!(page.body.contains("in the future"));
    assert!(page.body.contains("certificate in the HR file"));
    // One up to date, one overdue.
    for (who, due) in [("mrs.jones", "2099-09-01"), ("Tom Green", "2025-09-01")] {
        let page = record(
            &mut head,
            &[
                ("person", who),
                ("course", "Online safety (annual)"),
                ("completed_on", "2024-09-02"),
                ("renewal_due", due),
                ("evidence", "CPD log"),
            ],
        );
        assert_eq!(page.status, 303, "{who}: {}", page.body);
    }
    let page = head.get("/training");
    assert!(page.body.contains("Ann Jones") && page.body.contains("Tom Green"));
    assert!(page.body.contains("Overdue"));
    // The policy read by the teacher: counted, and named for the headteacher.
    let mut teacher = console.logged_in("teacher");
    let page = teacher.get("/filtering/document");
    assert!(page.body.contains("I have read this policy"));
    let page = teacher.submit("/filtering/document", "/filtering/document/read", &[]);
    assert_eq!(page.status, 303);
    let page = head.get("/training");
    assert!(
        page.body.contains("1 of 5 accounts have read version 1"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Not yet read: "));
    // Governors: the counts, no names.
    let mut governor = console.logged_in("governor");
    let page = governor.get("/training");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Online safety (annual)"));
    assert!(!page.body.contains("Tom Green") && !page.body.contains("Ann Jones"));
    assert!(
        !page.body.contains("Test teacher"),
        "no names of readers either"
    );
    let page = governor.submit("/training", "/training", &[("person", "mrs.jones")]);
    assert_eq!(page.status, 403);
    assert_eq!(teacher.get("/training").status, 403);
    let actions: Vec<String> = console
        .audit()
        .iter()
        .map(|entry| entry.entry.action.clone())
        .collect();
    assert!(actions.contains(&"training.add".to_owned()));
    assert!(actions.contains(&"policy.read".to_owned()));
}

#[test]
fn devices_are_lent_on_the_terms_returned_or_reported_and_licences_are_reconciled() {
    let console = Console::start();
    let mut tech = console.logged_in("tech");
    let page = tech.get("/loans");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Do not jailbreak it"));
    let lend = |tech: &mut Client, terms: &str, due: &str| {
        tech.submit(
            "/loans",
            "/loans",
            &[
                ("person", "j.smith"),
                ("device", "iPad 14, asset 00231"),
                ("lent_on", "2026-09-07"),
                ("due_back", due),
                ("out_of_school", "yes"),
                ("terms_accepted_by", "Ann Smith (parent)"),
                ("terms", terms),
            ],
        )
    };
    let page = lend(&mut tech, "", "2026-10-01");
    assert_eq!(page.status, 400, "not without the terms accepted");
    assert!(page.body.contains("must be read and accepted first"));
    assert!(page.body.contains("iPad 14, asset 00231"), "kept as typed");
    let page = lend(&mut tech, "accepted", "2026-09-01");
    assert_eq!(page.status, 400);
    assert!(page.body.contains("due back before it is lent"));
    assert_eq!(lend(&mut tech, "accepted", "2026-10-01").status, 303);
    let page = tech.get("/loans");
    assert!(page.body.contains("Jo Smith") && page.body.contains("Ann Smith (parent)"));
    assert!(
        page.body.contains("(overdue)"),
        "due back on 1 October 2026"
    );
    let id = page
        .body
        .split("id=\"loan-")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a loan")
        .to_owned();
    let page = tech.submit(
        "/loans",
        &format!("/loans/{id}"),
        &[
            ("kind", "damaged"),
            ("on", "2026-09-20"),
            ("note", "cracked screen"),
        ],
    );
    assert_eq!(page.status, 303);
    let page = tech.submit(
        "/loans",
        &format!("/loans/{id}"),
        &[("kind", "returned"), ("on", "2026-09-21"), ("note", "")],
    );
    assert_eq!(page.status, 303);
    let page = tech.get("/loans");
    assert!(
        page.body
            .contains("Damaged on 2026-09-20 (recorded by tech): cracked screen")
    );
    assert!(page.body.contains("Returned on 2026-09-21"));
    assert!(!page.body.contains("(overdue)"), "returned");
    let page = tech.submit(
        "/loans",
        &format!("/loans/{id}"),
        &[("kind", "lost"), ("on", "2026-09-22"), ("note", "")],
    );
    assert_eq!(page.status, 400, "nothing happens to a returned device");
    let page = tech.submit(
        "/loans",
        &format!("/loans/{id}"),
        &[("kind", "borrowed again"), ("on", "2026-09-22")],
    );
    assert_eq!(page.status, 400);

    // Licences: over-use first.
    for (software, bought, installed) in [("Purple Mash", "30", "30"), ("Office 365", "20", "27")] {
        let page = tech.submit(
            "/licences",
            "/licences",
            &[
                ("software", software),
                ("purchased", bought),
                ("installed", installed),
                ("note", ""),
            ],
        );
        assert_eq!(page.status, 303, "{software}");
    }
    let page = tech.submit(
        "/licences",
        "/licences",
        &[("software", "X"), ("purchased", "-1"), ("installed", "2")],
    );
    assert_eq!(page.status, 400);
    let page = tech.get("/licences");
    assert!(
        page.body.contains("1 of 2 titles over-used."),
        "{}",
        page.body
    );
    let office = page.body.find("Office 365").expect("listed");
    let mash = page.body.find("Purple Mash").expect("listed");
    assert!(office < mash, "over-used first");
    assert!(page.body.contains(">7</td>"), "over by 7");
    // Teachers and governors do not manage loans.
    assert_eq!(console.logged_in("teacher").get("/loans").status, 403);
    let actions: Vec<String> = console
        .audit()
        .iter()
        .map(|entry| entry.entry.action.clone())
        .collect();
    for action in ["loan.lend", "loan.event", "licence.set"] {
        assert!(actions.contains(&action.to_owned()), "{action}");
    }
}
