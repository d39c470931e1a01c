//! The console's main flows in real headless Chromium (Debian `chromium` through
//! `chromium-driver`): log in, import a CSV with a bad row, look at a pupil's activity giving a
//! reason and find it in the audit log; a teacher refused the audit log; a governor's dashboard
//! with counts and no names; a form posted without its CSRF token refused.

mod support;

use support::webdriver::Browser;
use support::{Console, PASSWORD};

fn log_in(browser: &Browser, console: &Console, username: &str, password: &str) {
    browser.open(&format!("{}/login", console.base));
    browser.type_into("input[name=username]", username);
    browser.type_into("input[name=password]", password);
    browser.click("form[action='/login'] button[type=submit]");
}

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
    assert!(dashboard.contains("gambling"), "{dashboard}");
    assert_eq!(browser.find_text("#blocked-total"), "2");
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
}
