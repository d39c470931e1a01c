//! The console's main flows in real headless Chromium (Debian `chromium` through
//! `chromium-driver`): log in, import a CSV with a bad row, look at a pupil's activity giving a
//! reason and find it in the audit log; a teacher refused the audit log; a governor's dashboard
//! with counts and no names; a form posted without its CSRF token refused.

mod support;

use support::{Console, PASSWORD, browser_log_in as log_in};
use ward_testkit::webdriver::Browser;

#[test]
fn dsl_imports_pupils_then_looks_at_a_pupils_activity_with_a_reason() {
    let console = Console::start();
    let browser = Browser::start();

    // Log in; a wrong password first.
    log_in(&browser, &console, "dsl", "not the password");
    browser.wait_for_text("do not match");
    log_in(&browser, &console, "dsl", PASSWORD);
    browser.wait_for_text("Blocked today");
    assert_eq!(browser.url(), format!("{}/", console.base));
    assert!(browser.text().contains("Test dsl"));

    // Import a CSV with one bad row, through the file picker.
    let folder = support::temp_folder("browser-csv");
    let file = folder.join("autumn-pupils.csv");
    std::fs::write(
        &file,
        "UPN,Surname,Forename,Year,Reg Group,Username\n\
         C1,Okafor,Ada,Year 5,5K,a.okafor\n\
         C2,Lee,Ben,Year 99,5K,b.lee\n\
         C3,Novak,Eva,Year 2,2H,e.novak\n",
    )
    .expect("write the CSV");
    browser.open(&format!("{}/people/import", console.base));
    browser.type_into("input[name=file]", &file.to_string_lossy());
    browser.click("form[enctype='multipart/form-data'] button[type=submit]");
    browser.wait_for_text("not imported");
    let report = browser.text();
    assert!(
        report.contains("3 rows read: 2 added, 0 updated, 1 not imported"),
        "{report}"
    );
    assert!(
        report.contains("year group \"Year 99\" is not N, R or 1 to 13"),
        "{report}"
    );
    assert_eq!(browser.count("#import-problems tbody tr"), 1);
    browser.open(&format!("{}/people?kind=pupil", console.base));
    let people = browser.text();
    assert!(
        people.contains("Ada Okafor") && people.contains("Eva Novak"),
        "{people}"
    );
    assert!(!people.contains("Ben Lee"));

    // Look at a pupil's activity: without a reason it is refused, with one it is shown.
    browser.open(&format!("{}/activity", console.base));
    browser.type_into("input[name=person]", "j.smith");
    browser.click("form[action='/activity'] button[type=submit]");
    browser.wait_for_text("needs a reason");
    assert!(!browser.text().contains("casino.example"));
    let reason = "Parent reported gambling sites at home; checking school use";
    browser.type_into("input[name=reason]", reason);
    browser.click("form[action='/activity'] button[type=submit]");
    browser.wait_for_text("casino.example");
    assert!(browser.text().contains("how to bet online"));
    assert_eq!(browser.count("#activity-results tbody tr"), 2);

    // The look is in the audit log, with who, what and why.
    browser.click("nav a[href='/audit']");
    browser.wait_for_text("Audit log");
    let audit = browser.text();
    let line = audit
        .lines()
        .find(|line| line.contains("activity.view"))
        .unwrap_or_else(|| panic!("no activity.view entry in:\n{audit}"));
    assert!(
        line.contains("dsl") && line.contains("person:j.smith") && line.contains(reason),
        "{line}"
    );
    assert!(audit.contains("people.import"));
    browser.click("a[href='/audit?verify=1']");
    browser.wait_for_text("entries link correctly");
}

#[test]
fn dsl_triages_an_alert_to_false_positive_after_looking_at_the_context() {
    let console = Console::start();
    let browser = Browser::start();
    log_in(&browser, &console, "dsl", PASSWORD);
    browser.wait_for_text("Blocked today");

    // The queue: the blocked gambling attempt is a new alert, with who and what.
    browser.click("nav a[href='/alerts']");
    browser.wait_for_text("New (1)");
    assert_eq!(browser.count("#alerts tbody tr"), 1);
    let queue = browser.text();
    assert!(queue.contains("Jo Smith (j.smith)"), "{queue}");
    assert!(
        queue.contains("Blocked attempt to reach http://casino.example/ (gambling)"),
        "{queue}"
    );
    browser.click("#alerts a");
    browser.wait_for_text("No one has acted on it yet");

    // The surrounding activity needs a reason; with one it shows the search next to it.
    browser.click("#show-context");
    // The browser's own check stops an empty reason; a too-short one reaches the server.
    browser.type_into("#reason", "why");
    browser.click("#show-context");
    browser.wait_for_text("needs a reason");
    browser.clear("#reason");
    browser.type_into("#reason", "Triage of the gambling alert");
    browser.click("#show-context");
    browser.wait_for_text("Activity around the alert");
    let context = browser.text();
    assert!(context.contains("how to bet online"), "{context}");
    assert_eq!(browser.count("#context tbody tr"), 2);

    // False positive without a note is refused and nothing changes; with one it is recorded.
    browser.click("#to-false_positive");
    browser.wait_for_text("Not changed");
    assert!(browser.text().contains("No one has acted on it yet"));
    browser.type_into(
        "#note",
        "A maths lesson on probability: the class was shown the site by the teacher",
    );
    browser.click("#to-false_positive");
    browser.wait_for_text("A maths lesson on probability");
    assert_eq!(browser.find_text("#status"), "False positive");
    assert_eq!(browser.count("#history tbody tr"), 1);

    // The queue moves it to its tab; the audit log has the look and the decision, with reasons.
    browser.open(&format!("{}/alerts", console.base));
    browser.wait_for_text("New (0)");
    assert!(browser.text().contains("False positive (1)"));
    browser.open(&format!("{}/audit", console.base));
    browser.wait_for_text("Audit log");
    let audit = browser.text();
    assert!(audit.contains("alert.context"), "{audit}");
    assert!(audit.contains("Triage of the gambling alert"), "{audit}");
    assert!(audit.contains("alert.false-positive"), "{audit}");
}

/// Waits until `selector` matches `count` elements.
fn wait_for_count(browser: &Browser, selector: &str, count: usize) {
    let started = std::time::Instant::now();
    while browser.count(selector) != count {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{selector} never matched {count} elements; the page shows:\n{}",
            browser.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn dsl_escalates_an_alert_to_an_incident_and_walks_the_pupil_procedure() {
    let console = Console::start();
    let browser = Browser::start();
    log_in(&browser, &console, "dsl", PASSWORD);
    browser.wait_for_text("Blocked today");

    // From the alert, the incident form comes filled in from what the alert knows.
    browser.click("nav a[href='/alerts']");
    browser.wait_for_text("New (1)");
    browser.click("#alerts a");
    browser.wait_for_text("Escalate to an incident");
    browser.click("#escalate-new");
    browser.wait_for_text("Record an incident");
    assert!(
        browser.text().contains("Escalating Alert 1"),
        "{}",
        browser.text()
    );
    assert_eq!(
        browser.run("return document.querySelector('#username').value"),
        "j.smith"
    );
    assert!(browser.find_text("#evidence").contains("casino.example"));
    // Without a type it is refused by the server (the select is required; remove that to see).
    browser.run("document.querySelector('#kind').removeAttribute('required')");
    browser.click("#record");
    browser.wait_for_text("Choose the type of incident");
    browser.click("#kind option[value='pupil:non-educational-sites']");
    browser.click("#record");
    browser.wait_for_text("Procedure (Appendix 1)");
    let page = browser.text();
    assert!(page.contains("Jo Smith (j.smith)"), "{page}");
    assert!(page.contains("Unauthorised use of non-educational sites during lessons"));
    // The alert and the blocked requests behind it are linked.
    assert_eq!(browser.count("#linked-alerts li"), 1);
    assert!(
        browser
            .find_text("#linked-events")
            .contains("casino.example")
    );
    // The table's suggested actions, none taken yet.
    let suggested = browser.find_text("#suggested");
    for action in [
        "Refer to class teacher",
        "Warning",
        "Online safety curriculum/ teaching",
    ] {
        assert!(suggested.contains(action), "{suggested}");
    }
    assert!(!suggested.contains('✓'));

    // Walk the procedure: each answer opens the next step the flowchart leads to.
    let walk = [
        ("do-not-examine", "confirmed", ""),
        ("reported", "dsl", "Reported by Mrs Patel at 10:40"),
        ("child-protection", "no", ""),
        ("intervention", "further", ""),
        ("provider", "contacted", "Service desk, call ref 4411"),
        ("consent", "given", "Consent given by the headteacher"),
        ("illegal", "no", ""),
        ("inappropriate", "yes", ""),
    ];
    for (done, (step, answer, note)) in walk.iter().enumerate() {
        if !note.is_empty() {
            browser.type_into(&format!("#note-{step}"), note);
        }
        browser.click(&format!("#answer-{step}-{answer}"));
        browser.click("#record-answers");
        wait_for_count(&browser, "#procedure li.done", done + 1);
    }
    // What is done is folded away under the next step; opened, it shows every answer.
    browser.run("document.querySelector('#done-steps').open = true");
    let procedure = browser.find_text("#procedure");
    assert!(
        procedure.contains("Contact the service provider for further advice."),
        "{procedure}"
    );
    assert!(procedure.contains("Service desk, call ref 4411"));
    assert_eq!(
        browser.count("#step-police"),
        0,
        "no police step: nothing illegal was found"
    );
    assert_eq!(browser.count("#sign-off"), 0, "not complete yet");
    browser.click("#answer-provider-advice-received");
    browser.click("#record-answers");
    browser.wait_for_text("Every step that applies has an answer");

    // A changed answer is a new entry: the earlier one stays in the log, marked corrected.
    browser.run("document.querySelector('#step-consent details').open = true");
    browser.type_into(
        "#step-consent details input[name=note]",
        "Consent was the chair of governors'",
    );
    browser.click("#step-consent details button[value=given]");
    browser.wait_for_text("(corrects #");
    assert_eq!(browser.count("#log li.corrected"), 1);

    // Actions taken, with who and when; the suggestion is ticked.
    browser.click("#action-parents");
    browser.type_into("#action-note", "Phoned Jo's mother");
    browser.click("#record-action");
    browser.wait_for_text("Phoned Jo's mother");
    assert!(browser.find_text("#taken").contains("dsl"));
    browser.click("#action-warning");
    browser.click("#record-action");
    wait_for_count(&browser, "#taken tbody tr", 2);
    assert!(browser.find_text("#suggested").contains("✓ Warning"));

    // Notes are appended; a correction points at the note it corrects.
    browser.type_into("#note", "Jo says a friend showed the site");
    browser.click("#add-note");
    browser.wait_for_text("Jo says a friend showed the site");
    browser.run("document.querySelector('#log li:last-child details').open = true");
    browser.type_into(
        "#log li:last-child textarea",
        "Jo says an older cousin showed the site",
    );
    browser.click("#log li:last-child details button");
    browser.wait_for_text("Jo says an older cousin showed the site");
    assert_eq!(browser.count("#log li.corrected"), 2);
    assert!(
        browser.text().contains("Jo says a friend showed the site"),
        "the old note stays"
    );

    // The DSL signs off: the incident and its alert are closed.
    browser.type_into("#signoff-note", "Parents informed, warning given");
    browser.click("#sign-off");
    browser.wait_for_text("Signed off,");
    assert_eq!(browser.count("#answer-police-contacted"), 0);
    assert_eq!(
        browser.count("#record-action"),
        0,
        "no more actions once signed off"
    );
    browser.open(&format!("{}/alerts/1", console.base));
    browser.wait_for_text("Alert 1");
    assert_eq!(browser.find_text("#status"), "Closed");
    // The DSL sees how sure the name is: the Wi-Fi said who held the address.
    assert!(browser.find_text("#who").contains("Wi-Fi log-in"));
    assert_eq!(
        browser.find_text("#identified-by"),
        "named by the Wi-Fi log-in at that address"
    );

    // A second incident for Jo: continued infringement is suggested, the first is listed, and
    // Jo's chronology has both.
    browser.open(&format!("{}/incidents/new", console.base));
    browser.wait_for_text("Record an incident");
    browser.click("#kind option[value='pupil:subverting-filtering']");
    browser.type_into("#username", "J.Smith");
    browser.type_into("#evidence", "A proxy site, reported by a classmate");
    browser.click("#record");
    // (Not just "Continued infringement": the form's list of types has "Continued infringements
    // of the above", which would let the wait pass before the form was sent.)
    browser.wait_for_text("Continued infringement: this person has earlier incidents");
    assert!(
        browser
            .find_text("#escalation")
            .contains("Refer to Headteacher / Safeguarding Lead")
    );
    assert!(browser.find_text("#earlier").contains("Incident 1"));
    browser.click("#chronology-link");
    browser.wait_for_text("Chronology: Jo Smith (j.smith)");
    let chronology = browser.find_text("#chronology");
    for line in [
        "Incident 1 recorded by dsl",
        "Incident 2 recorded by dsl",
        "Alert 1 (severity 2",
        "Signed off",
        "Blocked: http://casino.example/ (Gambling)",
    ] {
        assert!(chronology.contains(line), "{line} in {chronology}");
    }

    // Every step is in the audit log.
    let actions: Vec<String> = console
        .audit()
        .into_iter()
        .map(|e| e.entry.action)
        .collect();
    for action in [
        "incident.create",
        "alert.escalate",
        "incident.step",
        "incident.action",
        "incident.note",
        "incident.correct",
        "incident.signoff",
        "person.chronology",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[test]
fn a_suicidal_search_becomes_a_welfare_concern_linked_to_the_pupils_typed_and_signed_off_in_six_page_loads()
 {
    let console = Console::start();
    // A search from a computer Ward could not put a name to: the alert has no person.
    let alert = console.runtime.block_on(async {
        let event = ward_store::Event {
            school: console.school,
            at: jiff::Timestamp::now(),
            source: ward_store::Source::Proxy,
            client_ip: "10.0.3.40".parse().expect("ip"),
            device: None,
            person: None,
            username: None,
            identified_by: None,
            host: "www.google.co.uk".into(),
            url: Some("http://www.google.co.uk/search?q=how+to+kill+myself".into()),
            action: ward_store::Disposition::Block,
            categories: "searchengines".into(),
            reason: "risk found in a search".into(),
            search_term: Some("how to kill myself".into()),
            count: 1,
            alert: Some(ward_store::EventAlert {
                severity: 5,
                category: "self-harm".into(),
                detection: None,
            }),
        };
        console.store.insert_events(&[event]).await.expect("event");
        console
            .store
            .alerts(
                console.school,
                &ward_store::AlertFilter {
                    status: None,
                    subject: Some("ip:10.0.3.40".into()),
                    incident: None,
                    limit: 5,
                    ..ward_store::AlertFilter::default()
                },
            )
            .await
            .expect("alerts")
            .first()
            .expect("an alert for the search")
            .id
    });
    let browser = Browser::start();
    log_in(&browser, &console, "dsl", PASSWORD);
    browser.wait_for_text("Blocked today");

    // Page loads are counted as the tab's history grows: a form sent and the page it leads to
    // (POST, then redirect) are one.
    browser.open(&format!("{}/alerts/{alert}", console.base));
    browser.wait_for_text("Escalate to an incident");
    let start = browser
        .run("return history.length")
        .as_i64()
        .expect("a number");
    browser.click("#escalate-new");
    browser.wait_for_text("Record an incident");
    // What the search says about the pupil is a welfare concern, chosen already.
    assert_eq!(
        browser.run("return document.querySelector('#kind').value"),
        "welfare:suicidal-thoughts"
    );
    // The teacher who saw it knows who was at the computer: typed by name, it links the pupil.
    browser.type_into("#username", "Sam Ng");
    browser.type_into("#others", "j.smith");
    browser.click("#record");
    browser.wait_for_text("What to do (welfare concern)");
    let page = browser.text();
    assert!(page.contains("Suicidal thoughts"), "{page}");
    assert!(page.contains("call 999"), "the concern's guidance: {page}");
    let people = browser.find_text("#people-list");
    assert!(
        people.contains("Sam Ng (s.ng)") && people.contains("Jo Smith (j.smith)"),
        "{people}"
    );
    // No forensic or log-file steps unless a device holds illegal material.
    assert_eq!(browser.count("#step-do-not-examine"), 0);
    assert_eq!(browser.count("#step-consent"), 0);
    let usual = browser.find_text("#suggested");
    for action in [
        "Safety plan",
        "CAMHS",
        "Reviewed by the designated safeguarding lead",
    ] {
        assert!(usual.contains(action), "{action} in {usual}");
    }
    assert!(!usual.contains("Warning"), "{usual}");

    // Every step answered in one go, the decision not to refer with its rationale.
    for (step, answer) in [
        ("reported", "dsl"),
        ("child-protection", "no"),
        ("device", "no"),
        ("referral", "not-referred"),
        ("parents", "informed"),
    ] {
        browser.click(&format!("#answer-{step}-{answer}"));
    }
    browser.type_into(
        "#note-referral",
        "Spoke to the CAMHS duty line: safety plan in school, GP appointment booked by mum",
    );
    browser.click("#record-answers");
    browser.wait_for_text("Every step that applies has an answer");
    assert!(
        browser
            .find_text("#done-steps")
            .contains("Spoke to the CAMHS duty line")
    );

    for action in ["dsl-review", "safety-plan", "parents-informed"] {
        browser.click(&format!("#action-{action}"));
    }
    browser.type_into(
        "#action-note",
        "Plan agreed with Sam and mum, review in two weeks",
    );
    browser.click("#record-action");
    wait_for_count(&browser, "#taken tbody tr", 3);

    browser.type_into("#signoff-note", "Safety plan in place; review booked");
    browser.click("#sign-off");
    browser.wait_for_text("Signed off,");
    let loads = browser
        .run("return history.length")
        .as_i64()
        .expect("a number")
        - start
        + 1;
    assert!(loads <= 8, "{loads} page loads from the alert to sign-off");
    assert_eq!(loads, 6, "alert, form, record, answers, actions, sign-off");

    // A letter from CAMHS is attached afterwards, through the file picker, and comes back only
    // as a download.
    let folder = support::temp_folder("attachment");
    let letter = folder.join("camhs letter.pdf");
    std::fs::write(&letter, b"%PDF-1.4\n% a letter from CAMHS\n").expect("write the file");
    browser.type_into("#file", &letter.to_string_lossy());
    browser.click("#attach");
    browser.wait_for_text("camhs letter.pdf");
    assert!(browser.find_text("#file-list").contains("PDF"));
    let link = browser.run("return document.querySelector('#file-list a').getAttribute('href')");
    let link = link.as_str().expect("a link").to_owned();
    let served = browser.run(&format!(
        "return fetch('{link}').then(r => r.headers.get('content-disposition') + ' | ' + r.headers.get('content-type'))"
    ));
    let served = served.as_str().expect("headers");
    assert!(
        served.starts_with("attachment; filename=\"camhs letter.pdf\"")
            && served.ends_with("| application/pdf"),
        "{served}"
    );

    // The concern is in both pupils' chronologies.
    for (username, name) in [("s.ng", "Sam Ng"), ("j.smith", "Jo Smith")] {
        let id = console.runtime.block_on(async {
            console
                .store
                .person_by_username(console.school, username)
                .await
                .expect("query")
                .expect("person")
                .id
        });
        browser.open(&format!("{}/people/{id}/chronology", console.base));
        browser.wait_for_text(&format!("Chronology: {name}"));
        let chronology = browser.find_text("#chronology");
        assert!(
            chronology.contains("Suicidal thoughts") && chronology.contains("Welfare concern"),
            "{chronology}"
        );
    }
}

#[test]
fn the_dsl_filters_the_queue_to_a_pupil_and_triages_their_alerts_at_once() {
    let console = Console::start();
    let (store, school) = (&console.store, console.school);
    console.runtime.block_on(async {
        let jo = store
            .person_by_username(school, "j.smith")
            .await
            .expect("query")
            .expect("Jo");
        let event = |host: &str, category: &str| ward_store::Event {
            school,
            at: jiff::Timestamp::now(),
            source: ward_store::Source::Proxy,
            client_ip: "10.0.3.17".parse().expect("ip"),
            device: None,
            person: Some(jo.id),
            username: Some("j.smith".into()),
            identified_by: Some(ward_store::IdentifiedBy::Network),
            host: host.into(),
            url: None,
            action: ward_store::Disposition::Block,
            categories: category.into(),
            reason: "unacceptable".into(),
            search_term: None,
            count: 1,
            alert: Some(ward_store::EventAlert {
                severity: 3,
                category: category.into(),
                detection: None,
            }),
        };
        store
            .insert_events(&[
                event("chat.example", "chat"),
                event("dating.example", "dating"),
            ])
            .await
            .expect("events");
    });
    let browser = Browser::start();
    log_in(&browser, &console, "dsl", PASSWORD);
    browser.wait_for_text("Blocked today");
    browser.open(&format!("{}/alerts", console.base));
    browser.wait_for_text("New (3)");
    // The filter is folded away until it is wanted.
    browser.run("document.querySelector('#filters').open = true");
    browser.type_into("#filter-person", "Jo Smith");
    browser.click("#filter-severity option[value='3']");
    browser.click("#filter");
    wait_for_count(&browser, "#alerts tbody tr", 2);
    // From the queue (one page load) to both triaged (the second).
    let start = browser
        .run("return history.length")
        .as_i64()
        .expect("a number");
    for row in 1..=2 {
        browser.click(&format!(
            "#alerts tbody tr:nth-child({row}) input[name=alert]"
        ));
    }
    browser.click("#bulk-action option[value='triaged']");
    browser.type_into("#bulk-note", "Talked with Jo about chat sites");
    browser.click("#bulk-apply");
    browser.wait_for_text("2 alert(s) changed.");
    let loads = browser
        .run("return history.length")
        .as_i64()
        .expect("a number")
        - start
        + 1;
    assert_eq!(loads, 2, "page loads to triage from the queue");
    // Back on the queue as it was filtered: Jo's new alerts at severity 3 or more are gone.
    assert_eq!(
        browser.run("return document.querySelector('#filter-person').value"),
        "Jo Smith"
    );
    assert_eq!(browser.count("#alerts tbody tr"), 0);
    browser.open(&format!("{}/alerts?status=triaged", console.base));
    browser.wait_for_text("Triaged (2)");
}

#[test]
fn a_staff_incident_recorded_by_a_teacher_is_hidden_from_teachers() {
    let console = Console::start();
    let browser = Browser::start();
    log_in(&browser, &console, "teacher", PASSWORD);
    browser.wait_for_text("Blocked today");
    browser.click("nav a[href='/incidents']");
    browser.wait_for_text("Record an incident");
    browser.click("#record-incident");
    browser.wait_for_text("do not examine the files or folders");
    browser.click("#kind option[value='staff:personal-use']");
    browser.type_into("#username", "m.jones");
    browser.type_into("#station", "Staffroom PC 2");
    browser.type_into(
        "#evidence",
        "Betting site open on the staffroom PC at lunchtime",
    );
    browser.click("#record");
    browser.wait_for_text("is recorded and has gone to the designated safeguarding lead");
    assert!(!browser.text().contains("m.jones"), "{}", browser.text());
    assert_eq!(browser.count("#incidents tbody tr"), 0);
    let id = browser
        .url()
        .rsplit('=')
        .next()
        .and_then(|id| id.parse::<i64>().ok())
        .expect("the incident's id in the address");
    browser.open(&format!("{}/incidents/{id}", console.base));
    browser.wait_for_text("not found");
    assert!(!browser.text().contains("Betting site"));
    browser.open(&format!("{}/", console.base));
    browser.wait_for_text("Blocked today");
    browser.click("button.link");
    browser.wait_for_text("Log in to Ward");

    // The headteacher sees it, with the staff procedure: it goes to the headteacher.
    log_in(&browser, &console, "head", PASSWORD);
    browser.wait_for_text("Blocked today");
    browser.open(&format!("{}/incidents", console.base));
    browser.wait_for_text("m.jones");
    browser.click("#incidents a");
    browser.wait_for_text("Procedure (Appendix 1)");
    assert_eq!(browser.find_text("#audience"), "Staff incident");
    assert!(
        browser
            .text()
            .contains("an allegation against a member of staff goes to the headteacher")
    );
    assert_eq!(browser.count("#step-child-protection"), 0);
    assert!(
        browser
            .find_text("#suggested")
            .contains("Disciplinary Action")
    );
    assert_eq!(browser.count("#sign-off"), 0, "sign-off is the DSL's");
}

#[test]
fn teachers_and_governors_see_only_what_their_role_allows() {
    let console = Console::start();
    let browser = Browser::start();

    log_in(&browser, &console, "teacher", PASSWORD);
    browser.wait_for_text("Blocked today");
    assert_eq!(
        browser.count("nav a[href='/audit']"),
        0,
        "no audit link for a teacher"
    );
    browser.open(&format!("{}/audit", console.base));
    browser.wait_for_text("Not available to your role");
    assert!(
        !browser.text().contains("login"),
        "no audit entries leak onto the refusal"
    );
    browser.click("a[href='/']"); // "Back to the dashboard", then log out
    browser.wait_for_text("Blocked today");
    browser.click("button.link");
    browser.wait_for_text("Log in to Ward");

    log_in(&browser, &console, "governor", PASSWORD);
    browser.wait_for_text("Blocked today");
    let dashboard = browser.text();
    assert!(
        dashboard.contains("Gambling"),
        "categories by name: {dashboard}"
    );
    assert_eq!(
        browser.find_text("#blocked-total"),
        "<5",
        "small numbers suppressed"
    );
    for name in ["Smith", "j.smith", "Sam", "Ng", "bet online"] {
        assert!(
            !dashboard.contains(name),
            "governor sees {name:?}:\n{dashboard}"
        );
    }
    for page in ["/people", "/activity"] {
        browser.open(&format!("{}{page}", console.base));
        browser.wait_for_text("Not available to your role");
        assert!(!browser.text().contains("Smith"));
    }
}

#[test]
fn a_parent_reads_what_is_watched_and_the_dsl_leaves_a_person_out_with_a_reason() {
    let config = ward_console::ConsoleConfig {
        watched: std::sync::Arc::new(ward_console::Watched {
            enabled: true,
            page_limit_kb: 1024,
            https: false,
            categories: vec![
                ward_console::WatchedCategory {
                    id: "self-harm".into(),
                    title: "Self-harm and suicide".into(),
                    about: "Searches and pages about wanting to die.".into(),
                    phrases: 60,
                },
                ward_console::WatchedCategory {
                    id: "e2g-gambling".into(),
                    title: "e2g-gambling".into(),
                    about: String::new(),
                    phrases: 300,
                },
            ],
        }),
        ..ward_console::ConsoleConfig::default()
    };
    let console = Console::start_with(config);
    let browser = Browser::start();

    // From the log-in page, without logging in.
    browser.open(&format!("{}/login", console.base));
    browser.click("#watched-link");
    browser.wait_for_text("What it looks for");
    let page = browser.text();
    assert!(
        page.contains("Self-harm and suicide") && page.contains("wanting to die"),
        "{page}"
    );
    assert!(page.contains("first 1024 KiB"), "{page}");
    assert!(page.contains("in these categories: e2g-gambling"), "{page}");
    assert_eq!(browser.count("#categories tbody tr"), 1);

    // The DSL leaves a pupil out; a reason that says nothing is refused first.
    log_in(&browser, &console, "dsl", PASSWORD);
    browser.wait_for_text("Blocked today");
    browser.open(&format!("{}/alerts/exclusions", console.base));
    browser.wait_for_text("Leave something out");
    browser.click("#kind option[value=person]");
    browser.type_into("#value", "s.ng");
    browser.type_into("#exclude-reason", "ok");
    browser.click("#exclude");
    browser.wait_for_text("Not added");
    assert!(browser.text().contains("at least 10 characters"));
    browser.clear("#exclude-reason");
    browser.type_into(
        "#exclude-reason",
        "Sam's counsellor reads these pages with him each week",
    );
    browser.click("#exclude");
    browser.wait_for_text("Sam Ng (s.ng)");
    assert_eq!(browser.count("#in-force tbody tr"), 1);
    browser.click("#in-force button");
    browser.wait_for_text("Ended");
    assert_eq!(browser.count("#ended tbody tr"), 1);
    assert_eq!(browser.count("#in-force tbody tr"), 0);
}

#[test]
fn a_form_posted_without_its_csrf_token_is_refused() {
    let console = Console::start();
    let browser = Browser::start();
    log_in(&browser, &console, "tech", PASSWORD);
    browser.wait_for_text("Blocked today");
    // Build and submit, from the logged-in page, the device form without its token: what a
    // forged form on another page would send.
    browser.run(
        "const form = document.createElement('form');
         form.method = 'post'; form.action = '/devices';
         for (const [name, value] of [['name', 'Forged'], ['network', '10.9.9.9']]) {
             const input = document.createElement('input');
             input.name = name; input.value = value; form.appendChild(input);
         }
         document.body.appendChild(form); form.submit();",
    );
    browser.wait_for_text("This form has expired");
    browser.open(&format!("{}/devices", console.base));
    assert!(!browser.text().contains("Forged"), "nothing was written");
    // The page's own form, with its token, works.
    browser.type_into("input[name=name]", "ICT-07");
    browser.type_into("input[name=network]", "10.0.3.7");
    browser.click("form[action='/devices'] button[type=submit]");
    browser.wait_for_text("10.0.3.7/32");
    // Removing it asks first: the button that removes is behind "Remove".
    assert!(
        !browser.text().contains("Remove ICT-07?"),
        "asked only after Remove"
    );
    assert_eq!(
        browser.run("return document.querySelector('details.confirm').open"),
        false
    );
    browser.click("details.confirm summary");
    browser.wait_for_text("Remove ICT-07?");
    browser.click("button[id^='remove-device-']");
    browser.wait_for_text("No devices registered yet.");
}

#[test]
fn staff_sign_in_with_the_schools_provider_and_a_replayed_answer_or_bad_token_is_refused() {
    use ward_testkit::oidc::Provider;
    let port = ward_testkit::free_port();
    let config = ward_console::ConsoleConfig {
        sso: Some(ward_console::sso::Sso::new(
            ward_console::sso::SsoSettings {
                issuer: format!("http://127.0.0.1:{port}"),
                client_id: "ward-console".into(),
                client_secret: "console test client secret".into(),
                domains: vec!["park-end.sch.uk".into()],
                label: "Park End".into(),
            },
        )),
        ..ward_console::ConsoleConfig::default()
    };
    let console = Console::start_with(config);
    let provider = Provider::start(
        port,
        "ward-console",
        "console test client secret",
        &format!("{}/login/sso/callback", console.base),
    );
    assert_eq!(provider.issuer, format!("http://127.0.0.1:{port}"));
    // The headteacher gives the teacher's account its school address on the Accounts page.
    let head = Browser::start();
    log_in(&head, &console, "head", PASSWORD);
    head.wait_for_text("Blocked today");
    head.open(&format!("{}/accounts", console.base));
    head.type_into("#email-teacher", "T.Teacher@park-end.sch.uk");
    head.run("document.getElementById('email-teacher').form.submit()");
    // The page before the save says "Accounts" too: wait for the page after it, which shows
    // the address as kept (in small letters).
    let saved = std::time::Instant::now();
    while head.run(
        "var field = document.getElementById('email-teacher'); return field ? field.value : ''",
    ) != "t.teacher@park-end.sch.uk"
    {
        assert!(
            saved.elapsed() < std::time::Duration::from_secs(10),
            "the address is kept in small letters"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // The teacher signs in at the provider (its own log-in and consent pages) and is back in
    // the console, logged in.
    let sign_in = |browser: &Browser, login: &str| {
        browser.open(&format!("{}/login", console.base));
        browser.click("#sso");
        browser.wait_for_text("Sign-in");
        browser.type_into("input[name=login]", login);
        browser.type_into("input[name=password]", "anything");
        browser.click("button[type=submit]");
    };
    let browser = Browser::start();
    sign_in(&browser, "t.teacher@park-end.sch.uk");
    browser.wait_for_text("Authorize");
    browser.click("button[type=submit]");
    browser.wait_for_text("Test teacher");
    assert_eq!(browser.url(), format!("{}/", console.base));
    let answer = provider.last_redirect().expect("the provider answered");
    assert!(
        answer.contains("code=") && answer.contains("state="),
        "{answer}"
    );

    // The same answer again (a copied link, a back button, an attacker's replay): refused.
    let other = Browser::start();
    other.open(&answer);
    other.wait_for_text("has been used already");
    other.open(&format!("{}/", console.base));
    other.wait_for_text("Log in to Ward");

    // An address outside the school's domain, and a school address no account has.
    let stranger = Browser::start();
    sign_in(&stranger, "someone@gmail.com");
    stranger.wait_for_text("Authorize");
    stranger.click("button[type=submit]");
    stranger.wait_for_text("could not be accepted");
    // A token the provider made for another application, and one that has expired, both for
    // the teacher's own address: refused for that alone.
    for fault in ["wrong-audience", "expired"] {
        let browser = Browser::start();
        sign_in(&browser, &format!("{fault}:t.teacher@park-end.sch.uk"));
        browser.wait_for_text("Authorize");
        browser.click("button[type=submit]");
        browser.wait_for_text("could not be accepted");
        browser.open(&format!("{}/", console.base));
        browser.wait_for_text("Log in to Ward");
    }
    let nobody = Browser::start();
    sign_in(&nobody, "nobody@park-end.sch.uk");
    nobody.wait_for_text("Authorize");
    nobody.click("button[type=submit]");
    nobody.wait_for_text("No Ward account has the address nobody@park-end.sch.uk");
    let login_entries: Vec<String> = console
        .audit()
        .iter()
        .filter(|entry| entry.entry.action == "login")
        .map(|entry| entry.entry.detail.clone())
        .collect();
    assert!(
        login_entries
            .iter()
            .any(|detail| detail.contains("signed in with Park End as t.teacher@park-end.sch.uk")),
        "{login_entries:?}"
    );
}
