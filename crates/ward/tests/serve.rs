//! Runs `ward serve` as a newcomer does: first start on an empty folder prints a one-time
//! password, which logs in (and must be changed); SIGTERM stops it cleanly; a restart keeps the
//! accounts; `ward audit verify` checks the chain and finds a tampered entry; the DNS filter
//! answers `dig` and reloads its policy on SIGHUP, keeping the old one (and raising an alert)
//! when the new one does not load.

use ward_testkit::{free_port, temp_folder, webdriver};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn ward(directory: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ward"));
    command.current_dir(directory);
    for (name, _) in std::env::vars() {
        if name.starts_with("WARD_") {
            command.env_remove(name);
        }
    }
    command
}

/// A running `ward serve`, with what it printed before the console came up.
struct Server {
    child: Child,
    base: String,
    printed: Vec<String>,
}

impl Server {
    fn start(directory: &Path, environment: &[(&str, &str)]) -> Server {
        let mut child = ward(directory)
            .arg("serve")
            .env("WARD_CONSOLE_LISTEN", "127.0.0.1:0")
            // The DNS filter and the proxy need a category index; the tests that want them
            // turn them on.
            .env("WARD_DNS_LISTEN", "")
            .env("WARD_PROXY_LISTEN", "")
            .envs(environment.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ward serve starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut printed = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read stdout");
            if let Some(address) = line.strip_prefix("Ward console listening on ") {
                FOLDERS.lock().expect("folders").push((
                    address.trim_end_matches('/').to_owned(),
                    directory.to_owned(),
                ));
                return Server {
                    child,
                    base: address.trim_end_matches('/').to_owned(),
                    printed,
                };
            }
            printed.push(line);
        }
        let output = child.wait_with_output().expect("ward serve ended");
        panic!(
            "ward serve stopped before listening: {:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn one_time_password(&self) -> Option<String> {
        self.printed
            .iter()
            .find_map(|line| line.trim().strip_prefix("One-time password: "))
            .map(str::to_owned)
    }

    /// Sends SIGTERM and waits; returns whether it exited successfully, and its log.
    fn terminate(mut self) -> (bool, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let mut log = Vec::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            use std::io::Read;
            stderr.read_to_end(&mut log).expect("read the log");
        }
        let status = self.child.wait().expect("ward serve stops");
        (status.success(), String::from_utf8_lossy(&log).into_owned())
    }
}

/// A test that fails part way leaves no Ward running behind it.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Logs in through the form; returns the session cookie and where the console sent us.
fn log_in(base: &str, username: &str, password: &str) -> (u16, String, Option<String>) {
    let agent = agent();
    let mut page = agent
        .get(format!("{base}/login"))
        .call()
        .expect("login page");
    let cookie = login_cookie(&page);
    let body = page.body_mut().read_to_string().expect("body");
    let token = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("CSRF token on the log-in page")
        .to_owned();
    let response = agent
        .post(format!("{base}/login"))
        .header("cookie", format!("ward_login={cookie}"))
        .send_form([
            ("username", username),
            ("password", password),
            ("csrf", &token),
        ])
        .expect("log in");
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let session = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix("ward_session="))
        .and_then(|value| value.split(';').next())
        .map(str::to_owned);
    // The first administrator (a DSL and headteacher) signs in with a code as well: set up an
    // authenticator app at the first log-in, and a code from it after.
    if let Some(session) = &session
        && location.starts_with("/login/code")
    {
        let (status, location) = second_factor(base, username, session);
        accept_staff_agreement(base, session);
        return (status, location, Some(session.clone()));
    }
    if let Some(session) = &session
        && response.status().as_u16() == 303
    {
        accept_staff_agreement(base, session);
    }
    (response.status().as_u16(), location, session)
}

/// At the first log-in of the school year the console asks for the staff agreement: accepted,
/// as the school's staff do (`agreement_at_the_console_and_the_portal` tests the asking).
fn accept_staff_agreement(base: &str, session: &str) {
    let (status, page) = console_get(base, session, "/agreement");
    if status != 200 || !page.contains("id=\"agree\"") {
        return;
    }
    let probe = agent()
        .get(format!("{base}/"))
        .header("cookie", format!("ward_session={session}"))
        .call()
        .expect("console page");
    let asked = probe
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|location| location.starts_with("/agreement"));
    if asked {
        let (status, _) = console_post(
            base,
            session,
            "/agreement",
            &[
                ("csrf", &field(&page, "csrf")),
                ("answer", "accept"),
                ("next", "/"),
            ],
        );
        assert_eq!(status, 303, "accepting the staff agreement");
    }
}

/// Each console's data folder (a restarted Ward has a new address but the same accounts).
static FOLDERS: std::sync::Mutex<Vec<(String, std::path::PathBuf)>> =
    std::sync::Mutex::new(Vec::new());

/// Authenticator secrets the tests' accounts set up, by data folder and account.
static SECRETS: std::sync::Mutex<Vec<(String, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());
static CODES: std::sync::LazyLock<ward_testkit::totp::Codes> =
    std::sync::LazyLock::new(ward_testkit::totp::Codes::default);

/// Answers the code page as a person with an authenticator app would; the status and where to.
fn second_factor(base: &str, username: &str, session: &str) -> (u16, String) {
    let (status, page) = console_get(base, session, "/login/code");
    assert_eq!(status, 200, "{page}");
    let folder = FOLDERS
        .lock()
        .expect("folders")
        .iter()
        .rev()
        .find(|(address, _)| address == base)
        .map(|(_, folder)| folder.display().to_string())
        .unwrap_or_else(|| base.to_owned());
    let key = format!("{folder} {username}");
    let shown = page
        .split("id=\"secret\" class=\"pre\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .map(ward_testkit::totp::from_base32);
    let secret = {
        let mut secrets = SECRETS.lock().expect("secrets");
        if let Some(shown) = shown {
            secrets.retain(|(k, _)| *k != key);
            secrets.push((key.clone(), shown));
        }
        secrets
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, secret)| secret.clone())
            .expect("the account's secret was shown at its first log-in")
    };
    let code = CODES.next(&key, &secret);
    let csrf = field(&page, "csrf");
    let (status, location) = console_post(
        base,
        session,
        "/login/code",
        &[("code", &code), ("csrf", &csrf), ("next", "/")],
    );
    (status, location)
}

fn login_cookie(page: &ureq::http::Response<ureq::Body>) -> String {
    page.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix("ward_login="))
        .and_then(|value| value.split(';').next())
        .expect("log-in cookie")
        .to_owned()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

#[test]
fn first_start_then_log_in_stop_restart_and_verify_the_audit_log() {
    let folder = temp_folder("first-start");
    let server = Server::start(&folder, &[("WARD_SCHOOL_NAME", "Park End Primary School")]);
    assert!(
        server
            .printed
            .iter()
            .any(|line| line.contains("Ward is set up for Park End Primary School"))
    );
    let password = server
        .one_time_password()
        .expect("a one-time password is printed");
    assert!(
        folder.join("var/ward.db").exists(),
        "SQLite in the data folder"
    );

    let (status, location, session) = log_in(&server.base, "admin", &password);
    assert_eq!((status, location.as_str()), (303, "/account/password"));
    let session = session.expect("a session cookie");
    let agent = agent();
    let response = agent
        .get(format!("{}/", server.base))
        .header("cookie", format!("ward_session={session}"))
        .call()
        .expect("dashboard");
    assert_eq!(
        response.status(),
        303,
        "the one-time password must be changed first"
    );
    let (clean, log) = server.terminate();
    assert!(clean, "SIGTERM ends ward serve with success:\n{log}");
    assert!(log.contains("stopped"), "{log}");

    // A restart keeps the school and the account; no new password is printed.
    let server = Server::start(&folder, &[]);
    assert_eq!(server.one_time_password(), None);
    let (status, location, _) = log_in(&server.base, "admin", &password);
    assert_eq!((status, location.as_str()), (303, "/account/password"));
    assert_eq!(log_in(&server.base, "admin", "a wrong password").0, 401);
    let (clean, _) = server.terminate();
    assert!(clean);

    let verify = ward(&folder)
        .args(["audit", "verify"])
        .output()
        .expect("ward audit verify");
    let said = String::from_utf8_lossy(&verify.stdout).into_owned();
    assert_eq!(verify.status.code(), Some(0), "{said}");
    // setup; login, account.second_factor.set, login.code; after the restart login, login.code
    // and login.failed.
    assert!(
        said.contains("Park End Primary School: 7 entries, chain intact"),
        "{said}"
    );

    // Someone edits the log behind Ward's back: verify names the entry and exits 1.
    let database = format!("sqlite://{}", folder.join("var/ward.db").display());
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            use sqlx::Connection;
            let mut connection = sqlx::SqliteConnection::connect(&database)
                .await
                .expect("open");
            sqlx::query("UPDATE audit_log SET detail = 'from 10.0.0.99' WHERE seq = 3")
                .execute(&mut connection)
                .await
                .expect("tamper");
        });
    let verify = ward(&folder)
        .args(["audit", "verify"])
        .output()
        .expect("ward audit verify");
    let said = String::from_utf8_lossy(&verify.stdout).into_owned();
    assert_eq!(verify.status.code(), Some(1), "{said}");
    assert!(said.contains("BROKEN at entry 3"), "{said}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

#[test]
fn the_first_password_can_come_from_the_environment() {
    let folder = temp_folder("admin-password");
    let failed = ward(&folder)
        .arg("serve")
        .env("WARD_CONSOLE_LISTEN", "127.0.0.1:0")
        .env("WARD_ADMIN_PASSWORD", "short")
        .output()
        .expect("ward serve");
    assert_eq!(failed.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("Use at least 10 letters or numbers"));

    let server = Server::start(
        &folder,
        &[("WARD_ADMIN_PASSWORD", "chosen by the installer")],
    );
    assert_eq!(server.one_time_password(), None);
    let (status, location, _) = log_in(&server.base, "admin", "chosen by the installer");
    assert_eq!(
        (status, location.as_str()),
        (303, "/"),
        "no forced change for a chosen password"
    );
    let (clean, _) = server.terminate();
    assert!(clean);
    std::fs::remove_dir_all(&folder).expect("clean up");
}

#[test]
fn configuration_mistakes_are_reported_not_ignored() {
    let folder = temp_folder("config");
    let output = ward(&folder)
        .arg("serve")
        .env("WARD_CONSOLE_PORT", "8080")
        .output()
        .expect("ward serve");
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("WARD_CONSOLE_PORT") && said.contains("WARD_CONSOLE_LISTEN"),
        "{said}"
    );
    std::fs::write(
        folder.join("ward.toml"),
        "[console]\nlisten = \"127.0.0.1:0\"\ncolour = \"blue\"\n",
    )
    .expect("write");
    let output = ward(&folder)
        .args(["serve", "--config", "ward.toml"])
        .output()
        .expect("ward serve");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("colour"));
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// dig against `server` (ADDRESS:PORT as Ward printed it), trying once for at most 3 s.
fn dig(server: &str, arguments: &[&str]) -> String {
    let server = server.parse().expect("ADDRESS:PORT");
    ward_testkit::dig::dig(server, &[&["+tries=1", "+time=3"], arguments].concat())
}

/// curl through the proxy at `proxy`: the status and the body.
fn curl_through(proxy: &str, url: &str) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", "--proxy"])
        .arg(format!("http://{proxy}"))
        .arg(url)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("status line");
    (status.trim().parse().expect("HTTP status"), body.to_owned())
}

fn hang_up(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Writes `casino.test` as the only gambling entry and builds `lists.idx` from it in `folder`.
fn gambling_index(folder: &Path) {
    std::fs::write(folder.join("gambling.txt"), "casino.test\n").expect("list");
    let import = ward(folder)
        .args([
            "lists",
            "import",
            "--domains",
            "gambling=gambling.txt",
            "--out",
            "lists.idx",
        ])
        .output()
        .expect("ward lists import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
}

/// Starts `ward serve` in `folder` with the proxy on, the gambling index and `policy` (as
/// policy.toml), plus `environment`; returns it and the proxy's address.
fn start_with_proxy(folder: &Path, policy: &str, environment: &[(&str, &str)]) -> (Server, String) {
    gambling_index(folder);
    std::fs::write(folder.join("policy.toml"), policy).expect("policy");
    let mut all = vec![
        ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
        ("WARD_FILTER_INDEX", "lists.idx"),
        ("WARD_FILTER_POLICY", "policy.toml"),
    ];
    all.extend_from_slice(environment);
    let server = Server::start(folder, &all);
    let proxy = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward proxy listening on "))
        .expect("the proxy's address is printed")
        .trim()
        .to_owned();
    (server, proxy)
}

const DNS_POLICY: &str = r#"
name = "DNS school"
timezone = "Europe/London"
unknown_group = "pupils"

[[group]]
id = "pupils"
title = "Pupils"
kind = "pupil"

[[rule]]
id = "gambling"
action = "Gambling"
categories = ["gambling"]
verdict = "VERDICT"
"#;

/// DNS_POLICY where pupils (and everyone unknown) may not gamble but the staff group may,
/// followed by `extra` TOML.
fn staff_may_gamble(extra: &str) -> String {
    format!(
        "{}[rule.groups]\nstaff = \"acceptable\"\n\n[[group]]\nid = \"staff\"\ntitle = \"Staff\"\nkind = \"staff\"\n{extra}",
        DNS_POLICY.replace("VERDICT", "unacceptable")
    )
}

#[test]
fn the_dns_filter_answers_and_reloads_its_policy_on_sighup() {
    let folder = temp_folder("dns");
    gambling_index(&folder);
    std::fs::write(
        folder.join("policy.toml"),
        DNS_POLICY.replace("VERDICT", "unacceptable"),
    )
    .expect("policy");
    let server = Server::start(
        &folder,
        &[
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
            // Nothing listens here: allowed names get SERVFAIL, which tells them from blocked.
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
        ],
    );
    let dns = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward DNS filter listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the DNS filter's address is printed")
        .to_owned();
    assert_eq!(dig(&dns, &["casino.test", "+short"]).trim(), "192.0.2.250");
    let proxy = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward proxy listening on "))
        .expect("the proxy's address is printed")
        .trim()
        .to_owned();
    // The proxy decides with the same state: blocked with the block page.
    let (status, body) = curl_through(&proxy, "http://casino.test/spin");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("about\n<strong>gambling, which means betting money</strong>"),
        "{body}"
    );
    assert!(
        body.contains("<dd id=\"rule-words\">Gambling</dd>"),
        "{body}"
    );

    // A policy with a mistake: the old one stays in force, and an alert is raised.
    std::fs::write(
        folder.join("policy.toml"),
        DNS_POLICY.replace("VERDICT", "maybe"),
    )
    .expect("policy");
    hang_up(&server);
    let database = format!("sqlite://{}", folder.join("var/ward.db").display());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = runtime
        .block_on(ward_store::Store::open(
            &database,
            &ward_store::OpenOptions::default(),
        ))
        .expect("open the database");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let alerts = loop {
        let alerts = runtime
            .block_on(store.alerts(
                ward_store::SchoolId(1),
                &ward_store::AlertFilter::status(ward_store::AlertStatus::New, 10),
            ))
            .expect("alerts");
        if !alerts.is_empty() || std::time::Instant::now() > deadline {
            break alerts;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(alerts.len(), 1, "one alert for the failed reload");
    assert!(
        alerts[0].summary.contains("previous one stays in force"),
        "{alerts:?}"
    );
    assert!(
        alerts[0].summary.contains("maybe"),
        "the alert names the problem: {alerts:?}"
    );
    assert_eq!(dig(&dns, &["casino.test", "+short"]).trim(), "192.0.2.250");

    // A good policy takes effect without a restart.
    std::fs::write(
        folder.join("policy.toml"),
        DNS_POLICY.replace("VERDICT", "acceptable"),
    )
    .expect("policy");
    hang_up(&server);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = dig(&dns, &["casino.test"]);
        if answer.contains("status: SERVFAIL") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new policy never took effect: {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The proxy too: casino.test is allowed now, and (it does not exist) cannot be reached.
    let (status, body) = curl_through(&proxy, "http://casino.test/spin");
    assert_eq!(status, 502, "{body}");
    runtime.block_on(store.close());
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
    assert!(log.contains("failed to reload"), "{log}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

#[test]
fn a_portal_log_in_changes_what_the_dns_filter_and_the_proxy_allow_and_is_audited() {
    let folder = temp_folder("portal");
    gambling_index(&folder);
    // Pupils (everyone unknown) may not gamble; staff may.
    let policy = staff_may_gamble("");
    std::fs::write(folder.join("policy.toml"), policy).expect("policy");
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "portal test password"),
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
            ("WARD_PROXY_AUTHENTICATION", "true"),
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
        ],
    );
    let printed = |prefix: &str| {
        server
            .printed
            .iter()
            .find_map(|line| line.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{prefix:?} is printed"))
            .to_owned()
    };
    let dns = printed("Ward DNS filter listening on ");
    let proxy = printed("Ward proxy listening on ");
    assert_eq!(dig(&dns, &["casino.test", "+short"]).trim(), "192.0.2.250");
    assert_eq!(curl_through(&proxy, "http://casino.test/spin").0, 403);

    let (status, page) = curl_through(&proxy, &format!("http://{proxy}/ward/login"));
    assert_eq!(status, 200, "{page}");
    let token = page
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token")
        .to_owned();
    let login = Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            "--data-urlencode",
            "username=admin",
        ])
        .args(["--data-urlencode", "password=portal test password"])
        .args(["--data-urlencode", &format!("token={token}")])
        .arg(format!("http://{proxy}/ward/login"))
        .output()
        .expect("curl");
    let said = String::from_utf8_lossy(&login.stdout).into_owned();
    assert!(said.ends_with("\n200"), "{said}");
    // The right password opens nothing yet: first this school year's staff agreement.
    assert!(said.contains("Staff acceptable use agreement"), "{said}");
    assert_eq!(
        curl_through(&proxy, "http://casino.test/spin").0,
        403,
        "no session before the agreement is answered"
    );
    let pending = said
        .split("name=\"pending\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the pending log-in's token")
        .to_owned();
    let agree = |answer: &str, pending: &str| {
        let output = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}"])
            .args(["--data-urlencode", &format!("answer={answer}")])
            .args(["--data-urlencode", &format!("pending={pending}")])
            .args(["--data-urlencode", &format!("token={token}")])
            .arg(format!("http://{proxy}/ward/agree"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(
        agree("accept", "made-up").ends_with("\n400"),
        "a made-up log-in"
    );
    let said = agree("accept", &pending);
    assert!(said.ends_with("\n200"), "{said}");
    assert!(said.contains("as <strong>admin</strong>"), "{said}");
    assert!(
        agree("accept", &pending).ends_with("\n400"),
        "a pending log-in answers once"
    );

    // The same address now browses as staff, through the proxy and through DNS.
    assert_eq!(
        curl_through(&proxy, "http://casino.test/spin").0,
        502,
        "allowed (unreachable)"
    );
    let answer = dig(&dns, &["casino.test"]);
    assert!(
        answer.contains("status: SERVFAIL"),
        "allowed, upstream down: {answer}"
    );

    let logout = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-d",
            &format!("token={token}"),
        ])
        .arg(format!("http://{proxy}/ward/logout"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&logout.stdout), "200");
    assert_eq!(dig(&dns, &["casino.test", "+short"]).trim(), "192.0.2.250");

    let database = format!("sqlite://{}", folder.join("var/ward.db").display());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = runtime
        .block_on(ward_store::Store::open(
            &database,
            &ward_store::OpenOptions::default(),
        ))
        .expect("open the database");
    let entries = runtime
        .block_on(store.audit_entries(ward_store::SchoolId(1), 10, None, "proxy.portal."))
        .expect("audit entries");
    let actions: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.entry.action.as_str(),
                e.entry.actor.as_str(),
                e.entry.subject.as_str(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("proxy.portal.logout", "admin", "address:127.0.0.1"),
            ("proxy.portal.login", "admin", "address:127.0.0.1"),
        ]
    );
    runtime.block_on(store.close());
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// GET a console page as the session; the status and the body.
fn console_get(base: &str, session: &str, path: &str) -> (u16, String) {
    let mut response = agent()
        .get(format!("{base}{path}"))
        .header("cookie", format!("ward_session={session}"))
        .call()
        .expect("console page");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().expect("body"))
}

/// POST a console form as the session; the status and the Location.
fn console_post(base: &str, session: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut response = agent()
        .post(format!("{base}{path}"))
        .header("cookie", format!("ward_session={session}"))
        .send_form(form.iter().copied())
        .expect("console form");
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, if location.is_empty() { body } else { location })
}

fn field(page: &str, name: &str) -> String {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} field in {page}"))
        .to_owned()
}

#[test]
fn an_approved_unblock_request_opens_the_site_at_once_and_closes_when_it_ends() {
    let folder = temp_folder("unblock");
    let (server, proxy) = start_with_proxy(
        &folder,
        &DNS_POLICY.replace("VERDICT", "unacceptable"),
        &[("WARD_ADMIN_PASSWORD", "unblock test password")],
    );

    // A pupil meets the block page and asks, with a reason.
    let (status, page) = curl_through(&proxy, "http://casino.test/odds");
    assert_eq!(status, 403, "{page}");
    let token = field(&page, "token");
    let sent = Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            "--proxy",
            &format!("http://{proxy}"),
        ])
        .args(["--data-urlencode", "url=http://casino.test/odds"])
        .args([
            "--data-urlencode",
            "reason=Maths lesson on probability and the odds of gambling",
        ])
        .args(["--data-urlencode", &format!("token={token}")])
        .arg(format!("http://{proxy}/ward/unblock"))
        .output()
        .expect("curl");
    let said = String::from_utf8_lossy(&sent.stdout).into_owned();
    assert!(said.ends_with("\n200"), "{said}");

    // The coordinator sees it in the queue and approves it for the group, for a few seconds.
    let (status, _, session) = log_in(&server.base, "admin", "unblock test password");
    assert_eq!(status, 303);
    let session = session.expect("a session");
    let (status, queue) = console_get(&server.base, &session, "/unblock");
    assert_eq!(status, 200, "{queue}");
    assert!(queue.contains("Maths lesson on probability"), "{queue}");
    let (status, request) = console_get(&server.base, &session, "/unblock/1");
    assert_eq!(status, 200, "{request}");
    let csrf = field(&request, "csrf");
    let zone = jiff::tz::TimeZone::get("Europe/London").expect("zone");
    let local = |at: jiff::Timestamp| {
        at.to_zoned_datetime(zone.clone())
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let now = jiff::Timestamp::now();
    // Whole seconds, as the form carries them.
    let until = jiff::Timestamp::from_second(now.as_second() + 8).expect("a time");
    // Issue 20, item 4: an approval may not open more than was asked for: not the public
    // suffix (which opened every .info site to the youngest pupils), not a neighbour.
    for (site, why) in [
        ("test", "public suffix"),
        ("other-casino.test", "is not casino.test or inside it"),
    ] {
        let (status, page) = console_post(
            &server.base,
            &session,
            "/unblock/1",
            &[
                ("csrf", &csrf),
                ("decision", "approve"),
                ("site", site),
                ("group", "pupils"),
                ("user", ""),
                ("from", &local(now - jiff::SignedDuration::from_mins(1))),
                ("until", &local(until)),
                ("note", "Wider than asked"),
            ],
        );
        assert_eq!(status, 400, "{site}: {page}");
        assert!(page.contains(why), "{site}: {page}");
    }
    let (status, location) = console_post(
        &server.base,
        &session,
        "/unblock/1",
        &[
            ("csrf", &csrf),
            ("decision", "approve"),
            ("site", "casino.test"),
            ("group", "pupils"),
            ("user", ""),
            ("from", &local(now - jiff::SignedDuration::from_mins(1))),
            ("until", &local(until)),
            ("note", "For Thursday's lesson"),
        ],
    );
    assert_eq!((status, location.as_str()), (303, "/unblock/1"));

    // The site passes the filter at once: allowed, and unreachable (it does not exist).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = curl_through(&proxy, "http://casino.test/odds");
        if status == 502 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never opened: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(jiff::Timestamp::now() < until, "opened before its end");
    // A second decision on the same request is refused.
    let (status, _) = console_post(
        &server.base,
        &session,
        "/unblock/1",
        &[("csrf", &csrf), ("decision", "refuse")],
    );
    assert_eq!(status, 400);

    // And closes by itself when the period ends.
    let deadline = until + jiff::SignedDuration::from_secs(5);
    loop {
        let (status, _) = curl_through(&proxy, "http://casino.test/odds");
        if status == 403 {
            break;
        }
        assert!(
            jiff::Timestamp::now() < deadline,
            "still open after its end: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(jiff::Timestamp::now() >= until, "closed before its end");

    // The log and the audit trail have it.
    let (status, log) = console_get(&server.base, &session, "/unblock/log");
    assert_eq!(status, 200);
    assert!(
        log.contains("approved by admin: casino.test for group pupils"),
        "{log}"
    );
    assert!(
        log.contains("For Thursday&#39;s lesson") || log.contains("For Thursday's lesson"),
        "{log}"
    );
    let (_, audit) = console_get(&server.base, &session, "/audit");
    assert!(audit.contains("unblock.approve"), "{audit}");
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// A real SMTP server (Python's aiosmtpd, Debian `python3-aiosmtpd`) that keeps every message
/// it is given in a maildir.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    fn start(folder: &Path) -> SmtpServer {
        let port = free_port();
        let maildir = folder.join("maildir");
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aiosmtpd is not installed: run scripts/test (Debian python3-aiosmtpd)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        SmtpServer {
            child,
            port,
            maildir,
        }
    }

    /// The messages received so far, as text (quoted-printable soft line breaks joined, so
    /// that a search for a word finds it wherever the line was broken).
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .map(|text| text.replace("=\r\n", "").replace("=\n", ""))
            .collect()
    }

    /// Waits until `count` messages have arrived; returns them.
    fn wait_for(&self, count: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let messages = self.messages();
            if messages.len() >= count || std::time::Instant::now() > deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-request HTTP server: answers 200 and hands over the request's head and body.
fn webhook_receiver() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut received = Vec::new();
            let mut buffer = [0_u8; 4096];
            // Read the head, then as much body as Content-Length says.
            let text = loop {
                let Ok(read) = stream.read(&mut buffer) else {
                    break None;
                };
                if read == 0 {
                    break None;
                }
                received.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&received).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break Some(text);
                    }
                }
            };
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            if let Some(text) = text {
                let _ = sender.send(text);
            }
        }
    });
    (port, receiver)
}

#[test]
fn a_serious_blocked_attempt_is_emailed_and_posted_at_once_and_the_weekly_summary_is_sent() {
    let folder = temp_folder("notify");
    let smtp = SmtpServer::start(&folder);
    let (hook_port, hook) = webhook_receiver();
    // The summary is due at midnight today (school time), so it goes out at start.
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").expect("zone"))
        .strftime("%A")
        .to_string();
    let (server, proxy) = start_with_proxy(
        &folder,
        &DNS_POLICY.replace(
            "verdict = \"VERDICT\"",
            "verdict = \"unacceptable\"\nalert = 4",
        ),
        &[
            ("WARD_ADMIN_PASSWORD", "notify test password"),
            ("WARD_ALERTS_SMTP_SERVER", "127.0.0.1"),
            ("WARD_ALERTS_SMTP_PORT", &smtp.port.to_string()),
            ("WARD_ALERTS_SMTP_SECURITY", "none"),
            ("WARD_ALERTS_SMTP_FROM", "Ward <ward@school.test>"),
            (
                "WARD_ALERTS_EMAIL_TO",
                "dsl@school.test, Deputy DSL <deputy@school.test>",
            ),
            ("WARD_ALERTS_SUMMARY_DAY", &today),
            ("WARD_ALERTS_SUMMARY_TIME", "00:00"),
            (
                "WARD_ALERTS_WEBHOOK",
                &format!("http://127.0.0.1:{hook_port}/hook"),
            ),
            ("WARD_ALERTS_CONSOLE_URL", "https://ward.school.test/"),
        ],
    );

    let (status, page) = curl_through(&proxy, "http://casino.test/odds");
    assert_eq!(status, 403, "{page}");

    // The webhook gets the alert as JSON, with a link and without the address visited.
    let request = hook
        .recv_timeout(Duration::from_secs(30))
        .expect("the webhook was called");
    assert!(request.starts_with("POST /hook "), "{request}");
    let body = request.split_once("\r\n\r\n").expect("a body").1;
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(json["severity"], 4);
    assert_eq!(json["category"], "gambling");
    assert_eq!(json["category_name"], "Gambling");
    assert_eq!(json["source"], "blocked");
    assert_eq!(json["link"], "https://ward.school.test/alerts/1");
    assert!(
        json["text"]
            .as_str()
            .is_some_and(|text| text.contains("blocked attempt in Gambling")),
        "{json}"
    );
    assert!(!body.contains("casino"), "{body}");

    // Two messages: the weekly summary and the alert, each to both recipients.
    let messages = smtp.wait_for(2);
    assert_eq!(messages.len(), 2, "{messages:?}");
    let alert = messages
        .iter()
        .find(|m| m.contains("Subject: [Ward] Severity 4 alert: Gambling"))
        .unwrap_or_else(|| panic!("no alert email among {messages:?}"));
    assert!(alert.contains("From: Ward <ward@school.test>"), "{alert}");
    // The envelope (as the server saw it) went to both.
    assert!(
        alert.contains("X-RcptTo: dsl@school.test, deputy@school.test"),
        "{alert}"
    );
    assert!(alert.contains("Content-Type: text/plain"), "{alert}");
    assert!(
        alert.contains("To: dsl@school.test, \"Deputy DSL\" <deputy@school.test>")
            || alert.contains("To: dsl@school.test, Deputy DSL <deputy@school.test>"),
        "{alert}"
    );
    assert!(
        alert.contains("https://ward.school.test/alerts/1"),
        "{alert}"
    );
    assert!(
        !alert.contains("casino"),
        "the address stays in Ward: {alert}"
    );
    let summary = messages
        .iter()
        .find(|m| m.contains("Subject: [Ward] Weekly summary"))
        .unwrap_or_else(|| panic!("no summary among {messages:?}"));
    assert!(summary.contains("Alerts raised: "), "{summary}");
    assert!(summary.contains("Blocked attempts: "), "{summary}");

    // Told once: another blocked attempt folds into the same alert and sends nothing more,
    // and the summary is not sent again.
    let (status, _) = curl_through(&proxy, "http://casino.test/again");
    assert_eq!(status, 403);
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(smtp.messages().len(), 2);
    assert!(hook.try_recv().is_err(), "the webhook was called again");
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
}

#[test]
fn in_chromium_a_request_asked_in_the_console_is_approved_opens_the_site_and_expires() {
    let folder = temp_folder("unblock-browser");
    let (server, proxy) = start_with_proxy(
        &folder,
        &DNS_POLICY.replace("VERDICT", "unacceptable"),
        &[("WARD_ADMIN_PASSWORD", "browser test password")],
    );
    assert_eq!(curl_through(&proxy, "http://casino.test/odds").0, 403);

    let browser = webdriver::Browser::start();
    browser.open(&format!("{}/login", server.base));
    browser.type_into("input[name=username]", "admin");
    browser.type_into("input[name=password]", "browser test password");
    browser.click("form[action='/login'] button[type=submit]");
    // The first administrator is a DSL: at the first log-in, an authenticator app is set up
    // with the key the page shows, and its code typed.
    browser.wait_for_text("Set up your sign-in code");
    let secret = ward_testkit::totp::from_base32(&browser.find_text("#secret"));
    browser.type_into("#code", &CODES.next("chromium admin", &secret));
    browser.click("#check-code");
    // The first log-in of the school year: the staff agreement, then the dashboard.
    browser.wait_for_text("Staff acceptable use agreement");
    browser.click("#agree");
    browser.wait_for_text("Blocked today");

    // A site that is not blocked is refused: nothing to ask.
    browser.open(&format!("{}/unblock/new", server.base));
    browser.wait_for_text("Ask for a site to be unblocked");
    browser.type_into("#site", "www.example.org");
    browser.run("document.querySelector('#group').value = 'pupils'");
    browser.type_into("#why", "Year 6 maths: probability and the odds of gambling");
    browser.click("#send-request");
    browser.wait_for_text("is not blocked for that group now");

    // The casino site, for the next few seconds (the form takes seconds; whole ones).
    let zone = jiff::tz::TimeZone::get("Europe/London").expect("zone");
    let local = |at: jiff::Timestamp| {
        at.to_zoned_datetime(zone.clone())
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let now = jiff::Timestamp::now();
    let until = jiff::Timestamp::from_second(now.as_second() + 15).expect("a time");
    browser.clear("#site");
    browser.type_into("#site", "casino.test");
    browser.run(&format!(
        "document.querySelector('#from').value = '{}'; document.querySelector('#until').value = '{}';",
        local(now - jiff::SignedDuration::from_mins(1)),
        local(until)
    ));
    browser.click("#send-request");
    browser.wait_for_text("Period asked for");
    let request = browser.text();
    assert!(request.contains("admin (in the console)"), "{request}");
    assert!(
        request.contains("Year 6 maths: probability and the odds of gambling"),
        "{request}"
    );
    // The decision starts from the period asked for; approve it as asked.
    // Chromium reports a datetime-local value without its seconds when they are :00, so the
    // two are compared as times, not as text.
    let until_field = browser.run("return document.querySelector('input[name=until]').value");
    let as_time = |text: &str| {
        text.parse::<jiff::civil::DateTime>()
            .unwrap_or_else(|_| panic!("{text:?} is not a date and time"))
    };
    assert_eq!(
        until_field.as_str().map(as_time),
        Some(as_time(&local(until)))
    );
    browser.click("#approve");
    browser.wait_for_text("Opened");

    // The site passes the filter at once, and closes by itself at the end of the period.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while curl_through(&proxy, "http://casino.test/odds").0 != 502 {
        assert!(std::time::Instant::now() < deadline, "never opened");
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = until + jiff::SignedDuration::from_secs(5);
    while curl_through(&proxy, "http://casino.test/odds").0 != 403 {
        assert!(
            jiff::Timestamp::now() < deadline,
            "still open after its end"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(jiff::Timestamp::now() >= until, "closed before its end");

    // The requester's own list shows the decision; the audit log has the request and approval.
    browser.open(&format!("{}/unblock/mine", server.base));
    browser.wait_for_text("My unblock requests");
    assert_eq!(browser.find_text("#mine tbody tr .status"), "approved");
    browser.open(&format!("{}/audit", server.base));
    browser.wait_for_text("Audit log");
    let audit = browser.text();
    assert!(audit.contains("unblock.request"), "{audit}");
    assert!(audit.contains("unblock.approve"), "{audit}");
    drop(browser);
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// Polls the alert queue (new alerts) until `wanted` is on it; the page.
fn wait_for_alert(base: &str, session: &str, wanted: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, queue) = console_get(base, session, "/alerts");
        assert_eq!(status, 200, "{queue}");
        if queue.contains(wanted) {
            return queue;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no alert {wanted:?}: {queue}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The "Times" of the queue's first alert whose row has `summary`.
fn alert_times(queue: &str, summary: &str) -> String {
    let row = queue
        .split("<tr class=\"severity-")
        .find(|row| row.contains(summary))
        .unwrap_or_else(|| panic!("no {summary:?} row: {queue}"));
    row.split("data-label=\"Times\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a Times cell")
        .to_owned()
}

#[test]
fn risk_found_through_the_proxy_is_an_alert_the_public_page_says_what_is_watched_and_the_dsl_leaves_a_phrase_out()
 {
    let folder = temp_folder("detection");
    let (server, proxy) = start_with_proxy(
        &folder,
        &DNS_POLICY.replace("VERDICT", "unacceptable"),
        &[("WARD_ADMIN_PASSWORD", "detection test password")],
    );

    // Anyone can read what is watched, without logging in; the phrases are not published.
    let mut response = agent()
        .get(format!("{}/watched", server.base))
        .call()
        .expect("the public page");
    assert_eq!(response.status().as_u16(), 200);
    let public = response.body_mut().read_to_string().expect("body");
    for category in [
        "Self-harm and suicide",
        "Searches and pages about wanting to die",
        "Gambling",
    ] {
        assert!(public.contains(category), "{category} missing: {public}");
    }
    assert!(!public.contains("kil myself") && !public.contains("kill myself"));
    assert!(public.contains("first 1024 KiB"), "{public}");

    // An address with a self-harm phrase through the proxy (the site does not exist: 502).
    let (status, _) = curl_through(&proxy, "http://nowhere.test/how-to-kill-myself");
    assert_eq!(status, 502);
    let (status, _, session) = log_in(&server.base, "admin", "detection test password");
    assert_eq!(status, 303);
    let session = session.expect("a session");
    let queue = wait_for_alert(&server.base, &session, "Risk detected (self-harm)");
    assert_eq!(alert_times(&queue, "Risk detected (self-harm)"), "1");
    // Staff read the category's name, not its id.
    assert!(
        queue.contains(
            "<td data-label=\"Category\">Self-harm and suicide <small>(detection)</small></td>"
        ),
        "{queue}"
    );
    let (_, alert) = console_get(&server.base, &session, "/alerts/1");
    assert!(alert.contains("kill myself"), "{alert}");
    assert!(
        alert.contains("<dd>Self-harm and suicide (detection)</dd>"),
        "{alert}"
    );
    assert!(
        alert.contains(
            "/alerts/exclusions?kind=site&#38;value=nowhere.test\">Stop reading nowhere.test"
        ),
        "{alert}"
    );

    // Leaving a phrase out needs a real reason and a phrase some list has.
    let (_, page) = console_get(&server.base, &session, "/alerts/exclusions");
    let csrf = field(&page, "csrf");
    let exclude = |value: &str, reason: &str| {
        console_post(
            &server.base,
            &session,
            "/alerts/exclusions",
            &[
                ("csrf", &csrf),
                ("kind", "phrase"),
                ("value", value),
                ("reason", reason),
            ],
        )
    };
    let (status, page) = exclude("kill myself", "because");
    assert_eq!(status, 400);
    assert!(page.contains("at least 10 characters"), "{page}");
    let (status, page) = exclude("purple elephants", "Not a phrase of any list at all");
    assert_eq!(status, 400);
    assert!(page.contains("no detection list has the phrase"), "{page}");
    let reason = "Year 9 are studying a novel whose narrator says it; reviewed by the DSL";
    let (status, location) = exclude("KILL  myself", reason);
    assert_eq!((status, location.as_str()), (303, "/alerts/exclusions"));
    let (_, page) = console_get(&server.base, &session, "/alerts/exclusions");
    assert!(page.contains("kill myself"), "{page}");
    assert!(page.contains("reviewed by the DSL"), "{page}");

    // In force at once: the phrase no longer counts. A gambling address sent after it shows
    // when the proxy's events have been written.
    let (status, _) = curl_through(&proxy, "http://nowhere.test/kill-myself-tonight");
    assert_eq!(status, 502);
    let (status, _) = curl_through(&proxy, "http://nowhere.test/online-casino-betting-odds");
    assert_eq!(status, 502);
    let queue = wait_for_alert(&server.base, &session, "Risk detected (gambling)");
    assert_eq!(alert_times(&queue, "Risk detected (self-harm)"), "1");

    // Ended, it counts again.
    let id = page
        .split("action=\"/alerts/exclusions/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("an End button")
        .to_owned();
    let (status, location) = console_post(
        &server.base,
        &session,
        &format!("/alerts/exclusions/{id}/end"),
        &[("csrf", &csrf)],
    );
    assert_eq!((status, location.as_str()), (303, "/alerts/exclusions"));
    let (status, _) = curl_through(&proxy, "http://nowhere.test/kill-myself-tonight");
    assert_eq!(status, 502);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while alert_times(
        &console_get(&server.base, &session, "/alerts").1,
        "Risk detected (self-harm)",
    ) != "2"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the phrase did not count again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Both decisions are in the audit log, the reason with the first.
    let (_, audit) = console_get(&server.base, &session, "/audit");
    assert!(audit.contains("detection.exclude"), "{audit}");
    assert!(audit.contains("detection.include"), "{audit}");
    assert!(audit.contains("reviewed by the DSL"), "{audit}");
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// Issue 20, item 1: through `ward serve`'s proxy, nobody reaches the console (or the proxy
/// itself) on loopback, however it is written.
#[test]
fn the_console_cannot_be_reached_through_the_proxy() {
    let folder = temp_folder("reach");
    let (server, proxy) =
        start_with_proxy(&folder, &DNS_POLICY.replace("VERDICT", "unacceptable"), &[]);
    let console_port = server.base.rsplit_once(':').expect("port").1.to_owned();
    let proxy_port = proxy.rsplit_once(':').expect("port").1.to_owned();
    for url in [
        format!("http://localhost:{console_port}/login"),
        format!("http://LOCALHOST:{console_port}/login"),
        format!("http://localhost.:{console_port}/login"),
        format!("http://127.0.0.1:{console_port}/login"),
        format!("http://0x7f.1:{console_port}/login"),
        format!("http://[::ffff:127.0.0.1]:{console_port}/login"),
        format!("http://localhost:{proxy_port}/x"),
    ] {
        let (status, body) = curl_through(&proxy, &url);
        assert_eq!(status, 403, "{url}: {body}");
        assert!(
            !body.contains("password"),
            "{url} reached the console: {body}"
        );
    }
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// A TCP connection from `from` (a loopback address) to `to` that sends `bytes` and then
/// A TCP connection from `from` (a loopback address) to `to` that sends `bytes` and then
/// nothing.
fn held_connection(from: [u8; 4], to: &str, bytes: &[u8]) -> Option<std::net::TcpStream> {
    use std::io::Write;
    let mut stream = ward_testkit::connect_from(from, to.parse().ok()?)?;
    stream.write_all(bytes).ok()?;
    Some(stream)
}

/// Issue 20, items 6 and 7: connections that send nothing, or half a request, from one address
/// or from many, stop neither the console nor the proxy nor the DNS filter; the console has a
/// connection limit and cuts off a client that does not finish its request head.
#[test]
fn idle_connections_stop_no_front_end() {
    let folder = temp_folder("flood");
    let (server, proxy) = start_with_proxy(
        &folder,
        &DNS_POLICY.replace("VERDICT", "unacceptable"),
        &[
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
            ("WARD_CONSOLE_MAX_CONNECTIONS", "64"),
            ("WARD_CONSOLE_MAX_CONNECTIONS_PER_CLIENT", "8"),
            ("WARD_CONSOLE_HEADER_TIMEOUT_SECONDS", "2"),
            ("WARD_PROXY_MAX_CONNECTIONS", "64"),
            ("WARD_PROXY_MAX_CONNECTIONS_PER_CLIENT", "8"),
        ],
    );
    let dns = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward DNS filter listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the DNS filter's address is printed")
        .to_owned();
    let console = server.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for target in [&console, &proxy] {
        // One address far past its share, half a request each; then many addresses past the
        // listener's limit.
        for _ in 0..40 {
            held.extend(held_connection(
                [127, 0, 0, 9],
                target,
                b"GET / HTTP/1.1\r\nHo",
            ));
        }
        for n in 0..100u8 {
            held.extend(held_connection([127, 0, 3, n + 1], target, b""));
        }
    }
    assert!(held.len() >= 250, "{}", held.len());
    // Everyone else is still served, by every front end.
    let (status, page) = console_get(&server.base, "", "/login");
    assert_eq!(status, 200, "{page}");
    let (status, body) = curl_through(&proxy, "http://casino.test/spin");
    assert_eq!(status, 403, "{body}");
    assert_eq!(dig(&dns, &["casino.test", "+short"]).trim(), "192.0.2.250");

    // A console client that never finishes its request head is cut off after the time-out.
    let mut slow =
        held_connection([127, 0, 0, 1], &console, b"GET /login HTTP/1.1\r\nHo").expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut slow, &mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "cut off after about two seconds, not {:?}",
        started.elapsed()
    );
    drop(held);
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// Blocked requests for `host` in the SQLite database at `path` (an event may stand for
/// several: repeats are folded at the gate).
fn blocked_events(path: &Path, host: &str) -> i64 {
    let database = format!("sqlite://{}", path.display());
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            use sqlx::{Connection, Row};
            let mut connection = sqlx::SqliteConnection::connect(&database)
                .await
                .expect("open");
            sqlx::query(
                "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM events
                 WHERE host = $1 AND action = 'block'",
            )
            .bind(host)
            .fetch_one(&mut connection)
            .await
            .expect("count")
            .try_get(0)
            .expect("a count")
        })
}

const STAFF_POLICY: &str = r#"
name = "Resilient school"
timezone = "Europe/London"
unknown_group = "pupils"

[[group]]
id = "pupils"
title = "Pupils"
kind = "pupil"

[[group]]
id = "staff"
title = "Staff"
kind = "staff"

[[rule]]
id = "gambling"
action = "Gambling"
categories = ["gambling"]
verdict = "unacceptable"
[rule.groups]
staff = "acceptable"
"#;

/// Issue 20, item 15: Ward starts while its database is unavailable and filters with the last
/// policy, index, device register and grants it had; the console says the database is
/// unavailable; events wait in the journal and are written once when the database is back.
#[test]
fn ward_filters_while_its_database_is_unavailable_and_catches_up_after() {
    let folder = temp_folder("no-database");
    gambling_index(&folder);
    std::fs::write(folder.join("policy.toml"), STAFF_POLICY).expect("policy");
    std::fs::create_dir_all(folder.join("db")).expect("database folder");
    let database = format!("sqlite://{}", folder.join("db/ward.db").display());
    let environment = [
        ("WARD_DATABASE_URL", database.as_str()),
        ("WARD_DNS_LISTEN", "127.0.0.1:0"),
        ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
        ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
        ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
        ("WARD_FILTER_INDEX", "lists.idx"),
        ("WARD_FILTER_POLICY", "policy.toml"),
        ("WARD_ADMIN_PASSWORD", "resilience test password"),
    ];
    let printed = |server: &Server, what: &str| -> String {
        server
            .printed
            .iter()
            .find_map(|line| line.strip_prefix(what))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{what} is printed"))
            .to_owned()
    };

    // With the database: a staff computer is registered, and the gateway reads it.
    let server = Server::start(&folder, &environment);
    let dns = printed(&server, "Ward DNS filter listening on ");
    let (status, _, session) = log_in(&server.base, "admin", "resilience test password");
    assert_eq!(status, 303);
    let session = session.expect("a session");
    let (_, devices) = console_get(&server.base, &session, "/devices");
    let csrf = field(&devices, "csrf");
    let (status, _) = console_post(
        &server.base,
        &session,
        "/devices",
        &[
            ("csrf", &csrf),
            ("name", "STAFF-PC-1"),
            ("network", "127.0.0.2"),
            ("group", "staff"),
        ],
    );
    assert_eq!(status, 303);
    hang_up(&server);
    let staff_allowed = |dns: &str| {
        dig(
            dns,
            &[
                "-b",
                "127.0.0.2",
                "casino.test",
                "+short",
                "+tries=1",
                "+time=2",
            ],
        )
        .trim()
        .is_empty()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !staff_allowed(&dns) {
        assert!(
            std::time::Instant::now() < deadline,
            "the device was never read"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert!(folder.join("var/gateway-snapshot.json").exists());
    let before = blocked_events(&folder.join("db/ward.db"), "casino.test");

    // The database goes away (its folder is gone: SQLite cannot open it).
    std::fs::rename(folder.join("db"), folder.join("db-away")).expect("move");
    let server = Server::start(&folder, &environment);
    let dns = printed(&server, "Ward DNS filter listening on ");
    let proxy = printed(&server, "Ward proxy listening on ");
    assert_eq!(dig(&dns, &["casino.test", "+short"]).trim(), "192.0.2.250");
    assert!(staff_allowed(&dns), "the saved device register is in force");
    let (status, body) = curl_through(&proxy, "http://casino.test/spin");
    assert_eq!(status, 403, "{body}");
    for _ in 0..4 {
        assert_eq!(dig(&dns, &["casino.test", "+short"]).trim(), "192.0.2.250");
    }
    let mut response = agent()
        .get(format!("{}/login", server.base))
        .call()
        .expect("console");
    assert_eq!(response.status().as_u16(), 503);
    let page = response.body_mut().read_to_string().expect("body");
    assert!(page.contains("database is unavailable"), "{page}");

    // It comes back: the console opens, and the events of the outage are written, once.
    std::fs::rename(folder.join("db-away"), folder.join("db")).expect("move back");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = agent()
            .get(format!("{}/login", server.base))
            .call()
            .expect("console")
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the console never opened"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // Five DNS answers and one proxy request were blocked while the database was away.
    while blocked_events(&folder.join("db/ward.db"), "casino.test") < before + 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "the journal was never written"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert_eq!(
        blocked_events(&folder.join("db/ward.db"), "casino.test"),
        before + 6
    );
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// Issue 20, item 16: `kill -9` while events wait in the queue (the database held up by a lock)
/// loses them, but the next start counts them as dropped: every blocked query answered is
/// afterwards an event in the database or counted, never silently gone.
#[test]
fn a_killed_ward_counts_what_it_lost_on_the_next_start() {
    let folder = temp_folder("kill-9");
    gambling_index(&folder);
    std::fs::write(
        folder.join("policy.toml"),
        DNS_POLICY.replace("VERDICT", "unacceptable"),
    )
    .expect("policy");
    let environment = [
        ("WARD_DNS_LISTEN", "127.0.0.1:0"),
        ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
        ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
        ("WARD_FILTER_INDEX", "lists.idx"),
        ("WARD_FILTER_POLICY", "policy.toml"),
        ("WARD_EVENTS_DATABASE_TIMEOUT_SECONDS", "2"),
        ("WARD_ADMIN_PASSWORD", "kill test password"),
    ];
    let server = Server::start(&folder, &environment);
    let dns: std::net::SocketAddr = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward DNS filter listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the DNS filter's address is printed")
        .parse()
        .expect("address");
    let database = folder.join("var/ward.db");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // Another program holds the database's write lock: Ward's writes wait.
    let mut lock = hold_database(&runtime, &database);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut answered = 0i64;
    let name = [
        6, b'c', b'a', b's', b'i', b'n', b'o', 4, b't', b'e', b's', b't', 0,
    ];
    for id in 0..400u16 {
        let mut query = id.to_be_bytes().to_vec();
        query.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        query.extend_from_slice(&name);
        query.extend_from_slice(&[0, 1, 0, 1]);
        socket.send_to(&query, dns).expect("send");
        let mut reply = [0u8; 512];
        if socket.recv_from(&mut reply).is_ok() {
            answered += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut server = server;
    server.child.kill().expect("kill -9");
    let _ = server.child.wait();
    runtime.block_on(async {
        sqlx::query("ROLLBACK")
            .execute(&mut lock)
            .await
            .expect("unlock");
    });
    drop(lock);

    let server = Server::start(&folder, &environment);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (written, dropped) = loop {
        let written = blocked_events(&database, "casino.test");
        let dropped: i64 = runtime.block_on(async {
            use sqlx::{Connection, Row};
            let mut connection =
                sqlx::SqliteConnection::connect(&format!("sqlite://{}", database.display()))
                    .await
                    .expect("open");
            sqlx::query("SELECT CAST(COALESCE(SUM(dropped), 0) AS BIGINT) FROM writer_drops")
                .fetch_one(&mut connection)
                .await
                .expect("drops")
                .try_get(0)
                .expect("a sum")
        });
        if written + dropped >= answered || std::time::Instant::now() > deadline {
            break (written, dropped);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert!(written <= answered, "{written} written of {answered}");
    assert!(
        written + dropped >= answered,
        "{answered} blocked queries were answered; {written} are in the database and {dropped} counted as dropped"
    );
    println!("{answered} answered: {written} written, {dropped} counted as lost");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// `ward audit verify` in `folder`: its exit code and what it printed.
fn audit_verify(folder: &Path) -> (i32, String) {
    let verify = ward(folder)
        .args(["audit", "verify"])
        .output()
        .expect("ward audit verify");
    (
        verify.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&verify.stdout).into_owned(),
    )
}

/// Issue 20, item 12: someone who can write the database rewrites an audit entry and re-hashes
/// every later one, or cuts the last entries off; the chain still links, but the checkpoints
/// signed with a key the database does not hold find it. A changed checkpoint file is found too.
#[test]
fn a_rewritten_or_cut_audit_log_is_found_by_its_checkpoints() {
    let folder = temp_folder("anchor");
    let server = Server::start(&folder, &[("WARD_ADMIN_PASSWORD", "anchor test password")]);
    for _ in 0..3 {
        assert_eq!(log_in(&server.base, "admin", "anchor test password").0, 303);
    }
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert!(log.contains("audit log checkpoint"), "{log}");
    let (code, said) = audit_verify(&folder);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("checkpoints match"), "{said}");

    let database = folder.join("var/ward.db");
    let pristine = folder.join("pristine.db");
    std::fs::copy(&database, &pristine).expect("copy");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let connect = || {
        runtime.block_on(async {
            use sqlx::Connection;
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", database.display()))
                .await
                .expect("open")
        })
    };

    // Rewrite entry 2 and re-hash every entry after it: the chain links again.
    let mut connection = connect();
    runtime.block_on(async {
        let connection = &mut connection;
        {
            use sqlx::Row;
            let rows = sqlx::query(
                "SELECT seq, at, actor, action, subject, detail, reason FROM audit_log
                 WHERE school_id = 1 ORDER BY seq",
            )
            .fetch_all(&mut *connection)
            .await
            .expect("entries");
            let mut prev = String::new();
            for row in rows {
                let seq: i64 = row.get(0);
                let mut entry = ward_store::NewAuditEntry {
                    actor: row.get(2),
                    action: row.get(3),
                    subject: row.get(4),
                    detail: row.get(5),
                    reason: row.get(6),
                };
                if seq == 1 {
                    prev =
                        sqlx::query("SELECT hash FROM audit_log WHERE school_id = 1 AND seq = 1")
                            .fetch_one(&mut *connection)
                            .await
                            .expect("hash")
                            .get(0);
                    continue;
                }
                if seq == 2 {
                    entry.detail = "nothing happened here".into();
                }
                let hash =
                    ward_store::entry_hash(&prev, ward_store::SchoolId(1), seq, row.get(1), &entry);
                sqlx::query(
                    "UPDATE audit_log SET detail = $1, prev_hash = $2, hash = $3
                     WHERE school_id = 1 AND seq = $4",
                )
                .bind(&entry.detail)
                .bind(&prev)
                .bind(&hash)
                .bind(seq)
                .execute(&mut *connection)
                .await
                .expect("rewrite");
                prev = hash;
            }
        }
    });
    drop(connection);
    let (code, said) = audit_verify(&folder);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("chain intact"),
        "the chain alone links: {said}"
    );
    assert!(said.contains("the log was rewritten"), "{said}");

    // The last two entries cut off.
    std::fs::copy(&pristine, &database).expect("restore");
    let _ = std::fs::remove_file(folder.join("var/ward.db-wal"));
    let _ = std::fs::remove_file(folder.join("var/ward.db-shm"));
    let mut connection = connect();
    runtime.block_on(async {
        sqlx::query(
            "DELETE FROM audit_log WHERE school_id = 1
             AND seq > (SELECT MAX(seq) - 2 FROM audit_log WHERE school_id = 1)",
        )
        .execute(&mut connection)
        .await
        .expect("cut");
    });
    drop(connection);
    let (code, said) = audit_verify(&folder);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("entries were deleted"), "{said}");

    // A checkpoint changed to match: its signature no longer does.
    let file = folder.join("var/audit-checkpoints");
    let text = std::fs::read_to_string(&file).expect("checkpoints");
    let changed: String = text
        .lines()
        .map(|line| {
            let mut parts: Vec<String> = line.split(' ').map(str::to_owned).collect();
            let seq: i64 = parts[2].parse().expect("seq");
            parts[2] = (seq - 2).to_string();
            parts.join(" ") + "\n"
        })
        .collect();
    std::fs::write(&file, changed).expect("write");
    let (code, said) = audit_verify(&folder);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("not a checkpoint signed with this key"),
        "{said}"
    );
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// Posts one of the block page's forms (`path` is `concern` or `unblock`) through the proxy with
/// curl, as the page's form does, for the blocked page `blocked` with its form `token` and the
/// field `name` set to `text`; returns the answer's status.
fn post_block_page_form(
    proxy: &str,
    blocked: &str,
    token: &str,
    path: &str,
    name: &str,
    text: &str,
) -> u16 {
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--proxy"])
        .arg(format!("http://{proxy}"))
        .args(["--data-urlencode", &format!("url={blocked}")])
        .args(["--data-urlencode", &format!("token={token}")])
        .args(["--data-urlencode", &format!("{name}={text}")])
        .arg(format!("http://{proxy}/ward/{path}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("status")
}

/// Issue 20, item 8: concern reports from one computer are folded into one alert that keeps
/// what each said, and limited per hour; the same unblock request again is recorded once.
#[test]
fn block_page_forms_are_folded_and_limited_per_computer() {
    let folder = temp_folder("forms");
    let (server, proxy) = start_with_proxy(
        &folder,
        &DNS_POLICY.replace("VERDICT", "unacceptable"),
        &[("WARD_ADMIN_PASSWORD", "forms test password")],
    );
    let blocked = "http://casino.test/roulette";
    let (status, page) = curl_through(&proxy, blocked);
    assert_eq!(status, 403, "{page}");
    let token = field(&page, "token");
    let post = |path: &str, name: &str, text: &str| {
        post_block_page_form(&proxy, blocked, &token, path, name, text)
    };
    let statuses: Vec<u16> = (0..25)
        .map(|n| post("concern", "message", &format!("worried, message {n}")))
        .collect();
    assert!(statuses[..20].iter().all(|&s| s == 200), "{statuses:?}");
    assert!(statuses[20..].iter().all(|&s| s == 429), "{statuses:?}");
    for _ in 0..3 {
        assert_eq!(
            post("unblock", "reason", "For our maths lesson on chance"),
            200
        );
    }
    let (status, _, session) = log_in(&server.base, "admin", "forms test password");
    assert_eq!(status, 303);
    let session = session.expect("a session");
    let (_, alerts) = console_get(&server.base, &session, "/alerts");
    assert_eq!(
        alerts
            .matches("Concern reported from the block page")
            .count(),
        1,
        "one alert: {alerts}"
    );
    let (_, requests) = console_get(&server.base, &session, "/unblock");
    assert_eq!(
        requests.matches("For our maths lesson on chance").count(),
        1,
        "{requests}"
    );
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

/// Issue 23, part 6: what a pupil writes on the block page is read by risk detection. A
/// question is a severity 3 concern and emails no one; a disclosure of abuse after it, from the
/// same computer, raises that alert to severity 5 and it is emailed at once, without what the
/// pupil wrote.
#[test]
fn a_disclosure_on_the_block_page_is_severity_5_and_emailed_at_once() {
    let folder = temp_folder("disclosure");
    let smtp = SmtpServer::start(&folder);
    let (server, proxy) = start_with_proxy(
        &folder,
        &DNS_POLICY.replace("VERDICT", "unacceptable"),
        &[
            ("WARD_ADMIN_PASSWORD", "disclosure test password"),
            ("WARD_ALERTS_SMTP_SERVER", "127.0.0.1"),
            ("WARD_ALERTS_SMTP_PORT", &smtp.port.to_string()),
            ("WARD_ALERTS_SMTP_SECURITY", "none"),
            ("WARD_ALERTS_SMTP_FROM", "Ward <ward@school.test>"),
            ("WARD_ALERTS_EMAIL_TO", "dsl@school.test"),
            ("WARD_ALERTS_SUMMARY_DAY", "sunday"),
            ("WARD_ALERTS_SUMMARY_TIME", "23:59"),
        ],
    );
    let blocked = "http://casino.test/cards";
    let (status, page) = curl_through(&proxy, blocked);
    assert_eq!(status, 403, "{page}");
    let token = field(&page, "token");
    let report = |message: &str| {
        post_block_page_form(&proxy, blocked, &token, "concern", "message", message)
    };
    assert_eq!(report("why is this blocked, it is a card game"), 200);
    std::thread::sleep(Duration::from_secs(7));
    assert!(
        smtp.messages().is_empty(),
        "a question emails no one: {:?}",
        smtp.messages()
    );
    assert_eq!(
        report("my step dad hits me and i am scared to go home"),
        200
    );
    let messages = smtp.wait_for(1);
    let told = messages
        .iter()
        .find(|m| m.contains("Subject: [Ward] Severity 5 alert"))
        .unwrap_or_else(|| panic!("no severity 5 email among {messages:?}"));
    assert!(
        !told.contains("step dad"),
        "what they wrote stays in Ward: {told}"
    );

    let (status, _, session) = log_in(&server.base, "admin", "disclosure test password");
    assert_eq!(status, 303);
    let session = session.expect("a session");
    let (_, alerts) = console_get(&server.base, &session, "/alerts");
    assert_eq!(
        alerts.matches("Disclosure from the block page").count(),
        1,
        "the question and the disclosure are one alert, raised: {alerts}"
    );
    assert!(alerts.contains("Abuse at home"), "{alerts}");
    let (_, alert) = console_get(&server.base, &session, "/alerts/1");
    assert!(alert.contains("why is this blocked"), "{alert}");
    assert!(alert.contains("scared to go home"), "{alert}");
    assert!(alert.contains("found by the phrase lists"), "{alert}");
    assert!(
        alert.contains("classifier: "),
        "the classifier says why: {alert}"
    );
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

#[test]
fn https_inspection_with_the_schools_certificate_from_ward_ca_init() {
    let folder = temp_folder("inspection");
    // Before the CA exists, inspection cannot start: Ward says what to do.
    std::fs::write(
        folder.join("policy.toml"),
        DNS_POLICY.replace("VERDICT", "unacceptable"),
    )
    .expect("policy");
    gambling_index(&folder);
    let refused = ward(&folder)
        .arg("serve")
        .env("WARD_CONSOLE_LISTEN", "127.0.0.1:0")
        .env("WARD_DNS_LISTEN", "")
        .env("WARD_PROXY_LISTEN", "127.0.0.1:0")
        .env("WARD_FILTER_INDEX", "lists.idx")
        .env("WARD_FILTER_POLICY", "policy.toml")
        .env("WARD_PROXY_INSPECT_HTTPS", "true")
        .env("WARD_ADMIN_PASSWORD", "inspection test password")
        .output()
        .expect("ward serve");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("ward ca init"), "{said}");

    let made = ward(&folder)
        .args(["ca", "init", "--years", "3"])
        .env("WARD_SCHOOL_NAME", "Inspection Primary")
        .output()
        .expect("ward ca init");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let shown = ward(&folder)
        .args(["ca", "show"])
        .output()
        .expect("ward ca show");
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        shown.contains("Ward inspection CA, Inspection Primary"),
        "{shown}"
    );
    assert!(
        shown.contains("1095 days left") || shown.contains("1096 days left"),
        "{shown}"
    );
    let ca = folder.join("var/ca/ca.pem");

    // A CA that does not load (its key readable by others) does not stop filtering while
    // inspection is off: it is just not offered.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = folder.join("var/ca/ca.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (server, proxy) = start_with_proxy(
            &folder,
            &DNS_POLICY.replace("VERDICT", "unacceptable"),
            &[("WARD_ADMIN_PASSWORD", "inspection test password")],
        );
        let (status, page) = curl_through(&proxy, &format!("http://{proxy}/ward/ca.crt"));
        assert_eq!(status, 404, "{page}");
        assert_eq!(
            curl_through(&proxy, "http://casino.test/").0,
            403,
            "still filtering"
        );
        let (ok, log) = server.terminate();
        assert!(ok, "{log}");
        assert!(log.contains("does not load"), "{log}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    let (server, proxy) = start_with_proxy(
        &folder,
        &DNS_POLICY.replace("VERDICT", "unacceptable"),
        &[
            ("WARD_ADMIN_PASSWORD", "inspection test password"),
            ("WARD_PROXY_INSPECT_HTTPS", "true"),
        ],
    );
    // The certificate is offered to devices at the proxy's own address.
    let (status, offered) = curl_through(&proxy, &format!("http://{proxy}/ward/ca.crt"));
    assert_eq!(status, 200);
    assert_eq!(
        offered.trim(),
        std::fs::read_to_string(&ca).expect("CA").trim()
    );
    // A blocked HTTPS site gets the block page, through TLS with the school's certificate.
    let inspected = |url: &str| {
        let output = Command::new("curl")
            .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", "--proxy"])
            .arg(format!("http://{proxy}"))
            .arg("--cacert")
            .arg(&ca)
            .arg(url)
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').expect("status line");
        (status.trim().parse::<u16>().unwrap_or(0), body.to_owned())
    };
    let (status, page) = inspected("https://casino.test/roulette");
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("This page is blocked"), "{page}");
    // Sign-in is never decrypted (it is spliced, and here cannot be reached at all).
    let (status, _) = inspected("https://accounts.google.com/");
    assert_eq!(status, 0);

    let (status, _, session) = log_in(&server.base, "admin", "inspection test password");
    assert_eq!(status, 303);
    let session = session.expect("a session");
    let (_, dashboard) = console_get(&server.base, &session, "/");
    for expected in [
        "Secure (HTTPS) sites",
        "secure connections inspected since Ward started",
        "Ward inspection CA, Inspection Primary",
        "accounts.google.com",
        "on the do-not-inspect list",
        "taken out of DNS answers",
    ] {
        assert!(
            dashboard.contains(expected),
            "{expected:?} missing: {dashboard}"
        );
    }
    assert!(
        !dashboard.contains("It expires in"),
        "three years left: no warning"
    );
    // The public page says secure sites are read, and what never is.
    let (_, public) = console_get(&server.base, &session, "/watched");
    assert!(public.contains("Secure (HTTPS) sites too"), "{public}");
    assert!(public.contains("Childline"), "{public}");
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

/// radclient sending `attributes` to `server` with `secret`: whether it got its answer.
fn radclient(server: &str, secret: &str, attributes: &str) -> bool {
    ward_testkit::radius::radclient(server, secret, attributes).0
}

/// Imports staff (`USERNAME,GIVEN,FAMILY` lines) through the console's upload form, as curl.
fn import_staff(base: &str, session: &str, folder: &Path, lines: &str) {
    import_people(
        base,
        session,
        folder,
        "staff",
        &format!("username,forename,surname\n{lines}"),
    );
}

/// Imports a CSV of people of `kind` (its header line included) through the console.
fn import_people(base: &str, session: &str, folder: &Path, kind: &str, csv: &str) {
    let (_, page) = console_get(base, session, "/people/import");
    let csrf = field(&page, "csrf");
    std::fs::write(folder.join("people.csv"), csv).expect("csv");
    let import = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-b"])
        .arg(format!("ward_session={session}"))
        .args(["-F", &format!("kind={kind}"), "-F"])
        .arg(format!("file=@{}", folder.join("people.csv").display()))
        .arg(format!("{base}/people/import?csrf={csrf}"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&import.stdout), "200");
}

/// The activity search's results for blocked requests to `site`, once they name `wanted`
/// (events reach the database a moment after the request), or after ten seconds.
fn blocked_activity(base: &str, session: &str, site: &str, wanted: &str) -> String {
    let (_, page) = console_get(base, session, "/activity");
    let csrf = field(&page, "csrf");
    let mut results = String::new();
    for _ in 0..100 {
        let (status, body) = console_post(
            base,
            session,
            "/activity",
            &[("csrf", &csrf), ("site", site)],
        );
        assert_eq!(status, 200, "{body}");
        results = body;
        if results.contains(wanted) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    results
}

#[test]
fn wifi_accounting_tells_the_dns_filter_who_is_at_an_address() {
    let folder = temp_folder("radius");
    gambling_index(&folder);
    // Pupils (everyone unknown) may not gamble; staff may.
    let policy = staff_may_gamble("");
    std::fs::write(folder.join("policy.toml"), policy).expect("policy");
    let secret = "radius test secret 12345";
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "radius test password"),
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
            ("WARD_RADIUS_LISTEN", "127.0.0.1:0"),
            (
                "WARD_RADIUS_CLIENTS",
                "127.0.0.1=radius test secret 12345, 10.0.0.9=another long secret 678",
            ),
        ],
    );
    let printed = |prefix: &str| {
        server
            .printed
            .iter()
            .find_map(|line| line.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{prefix:?} is printed"))
            .to_owned()
    };
    let dns = printed("Ward DNS filter listening on ");
    let radius = printed("Ward RADIUS accounting listening on ");

    // A member of staff, imported from the MIS.
    let (status, _, session) = log_in(&server.base, "admin", "radius test password");
    assert_eq!(status, 303);
    let session = session.expect("a session");
    import_staff(&server.base, &session, &folder, "mrs.jones,Ann,Jones\n");

    let gambling_from = |address: &str| {
        dig(&dns, &["-b", address, "casino.test", "+short"]).trim() != "192.0.2.250"
    };
    assert!(!gambling_from("127.0.0.5"), "an unknown address is a pupil");

    let start = "User-Name = \"mrs.jones\", Acct-Status-Type = Start, \
                 Framed-IP-Address = 127.0.0.5, Acct-Session-Id = \"w-1\", \
                 Acct-Interim-Interval = 600\n";
    // The wrong secret changes nothing (and gets no answer).
    assert!(!radclient(&radius, "not the right secret at all", start));
    assert!(!gambling_from("127.0.0.5"));
    // The Wi-Fi says Mrs Jones has the address: she browses as staff there.
    assert!(radclient(&radius, secret, start));
    assert!(gambling_from("127.0.0.5"), "staff may");
    assert!(!gambling_from("127.0.0.6"), "only at her address");
    // Her session ends: the address is a pupil's again.
    let stop = "User-Name = \"mrs.jones\", Acct-Status-Type = Stop, \
                Framed-IP-Address = 127.0.0.5, Acct-Session-Id = \"w-1\"\n";
    assert!(radclient(&radius, secret, stop));
    assert!(!gambling_from("127.0.0.5"));
    // A user Ward does not know is named, never given a wider group.
    let unknown = "User-Name = \"visitor7\", Acct-Status-Type = Start, \
                   Framed-IP-Address = 127.0.0.5, Acct-Session-Id = \"w-2\"\n";
    assert!(radclient(&radius, secret, unknown));
    assert!(!gambling_from("127.0.0.5"));
    // The blocked look-ups are recorded with the name and how Ward knew it: visitor7's by the
    // Wi-Fi log-in, the one before any log-in by the address alone (no name).
    let results = blocked_activity(&server.base, &session, "casino.test", "visitor7");
    let rows: Vec<&str> = results.split("<tr>").skip(2).collect();
    assert!(
        rows.iter()
            .any(|row| row.contains("visitor7 <span class=\"hint\">(Wi-Fi log-in)</span>")),
        "{results}"
    );
    assert!(
        rows.iter()
            .any(|row| row.contains("127.0.0.5") && !row.contains("log-in)")),
        "the look-up before any log-in names nobody: {results}"
    );
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

/// curl through the proxy at `proxy` logged in as `user:password`: the status.
fn curl_as(proxy: &str, user: &str, url: &str) -> u16 {
    let output = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
            "-w",
            "%{http_code}",
        ])
        .args(["--proxy", &format!("http://{proxy}"), "--proxy-user", user])
        .arg(url)
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("HTTP status")
}

/// `[directory]` settings for the test directory: Year 4 and Year 6 are pupils, the staff OU
/// staff.
fn directory_settings(directory: &ward_testkit::slapd::Slapd) -> String {
    use ward_testkit::slapd;
    format!(
        "[directory]\nurl = \"{url}\"\nca = \"{ca}\"\nbind_dn = \"{bind}\"\n\
         base_dn = \"ou=people,{suffix}\"\nuser_filter = \"(objectClass=inetOrgPerson)\"\n\
         username_attribute = \"uid\"\n\n\
         [[directory.map]]\nmember_of = \"cn=Year 4,{groups}\"\nkind = \"pupil\"\nyear = \"4\"\ngroup = \"pupils\"\n\n\
         [[directory.map]]\nmember_of = \"cn=Year 6,{groups}\"\nkind = \"pupil\"\nyear = \"6\"\ngroup = \"pupils\"\n\n\
         [[directory.map]]\nunder = \"ou=staff,ou=people,{suffix}\"\nkind = \"staff\"\n",
        url = directory.ldap_url,
        ca = directory.ca_pem.display(),
        bind = slapd::WARD_DN,
        suffix = slapd::SUFFIX,
        groups = format!("ou=groups,{}", slapd::SUFFIX),
    )
}

#[test]
fn the_schools_directory_logs_people_in_at_the_proxy_and_synchronises_them() {
    use ward_testkit::slapd::{self, Slapd};
    let directory = Slapd::start(slapd::PARK_END);
    let folder = temp_folder("directory");
    // Pupils may not gamble; staff may.
    let policy = staff_may_gamble("");
    std::fs::write(folder.join("ward.toml"), directory_settings(&directory)).expect("ward.toml");
    let settings = [
        ("WARD_CONFIG", "ward.toml"),
        ("WARD_DIRECTORY_BIND_PASSWORD", slapd::WARD_PASSWORD),
    ];

    // A dry run shows where everyone would go, and changes nothing.
    let dry = ward(&folder)
        .args(["directory", "sync", "--dry-run"])
        .envs(settings)
        .output()
        .expect("ward directory sync --dry-run");
    let said = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        said.contains("lwright10: Lena Wright: pupil, year 4, group pupils"),
        "{said}"
    );
    assert!(said.contains("itadmin: IT Admin: not placed"), "{said}");
    assert!(
        said.contains("5 people in the directory, 4 placed"),
        "{said}"
    );

    gambling_index(&folder);
    std::fs::write(folder.join("policy.toml"), policy).expect("policy");
    let mut environment = vec![
        ("WARD_ADMIN_PASSWORD", "directory test password"),
        ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
        ("WARD_PROXY_AUTHENTICATION", "true"),
        ("WARD_FILTER_INDEX", "lists.idx"),
        ("WARD_FILTER_POLICY", "policy.toml"),
        ("WARD_CONSOLE_FREE_LOGIN_ATTEMPTS", "3"),
    ];
    environment.extend_from_slice(&settings);
    let server = Server::start(&folder, &environment);
    let proxy = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward proxy listening on "))
        .expect("the proxy's address")
        .trim()
        .to_owned();
    let (_, _, session) = log_in(&server.base, "admin", "directory test password");
    let session = session.expect("a session");

    // Ward synchronises at start: the directory's people are in the console.
    let mut people = String::new();
    for _ in 0..100 {
        people = console_get(&server.base, &session, "/people").1;
        if people.contains("Adeyemi") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for name in ["Wright", "Khan", "Adeyemi", "Jones"] {
        assert!(people.contains(name), "{name} synchronised: {people}");
    }
    assert!(
        !people.contains("IT Admin"),
        "no rule places the IT administrator"
    );

    // They accepted this school year's agreements at the portal some time ago (a typed
    // log-in of someone who owes one is sent to the portal: the proxy's tests show it).
    agreed_at_the_portal(&folder, &["mrs.jones", "lwright10", "tkhan9", "oadeyemi6"]);

    // Directory passwords at the proxy: staff may gamble, a pupil may not.
    let casino = "http://casino.test/spin";
    assert_eq!(
        curl_as(&proxy, "mrs.jones:PASSWORD-mrs.jones", casino),
        502,
        "allowed (unreachable)"
    );
    assert_eq!(curl_as(&proxy, "lwright10:PASSWORD-lwright10", casino), 403);
    assert_eq!(
        curl_as(&proxy, "mrs.jones:PASSWORD-lwright10", casino),
        407,
        "another's password"
    );
    assert_eq!(
        curl_as(&proxy, "mrs.jones:", casino),
        407,
        "no password is no log-in"
    );
    assert_eq!(
        curl_as(&proxy, "itadmin:PASSWORD-itadmin", casino),
        407,
        "a directory account no rule places is not a Ward user"
    );
    assert_eq!(curl_as(&proxy, "*:PASSWORD-lwright10", casino), 407);

    // Ward's lock-out on the person: after three wrong passwords, the right one waits too.
    for _ in 0..4 {
        assert_eq!(curl_as(&proxy, "tkhan9:guess", casino), 407);
    }
    assert_eq!(
        curl_as(&proxy, "tkhan9:PASSWORD-tkhan9", casino),
        407,
        "locked"
    );
    let audit = console_get(&server.base, &session, "/audit").1;
    assert!(audit.contains("directory.login.failed"), "{audit}");
    assert!(audit.contains("refused: locked until"), "{audit}");
    // The lock is an alert: someone may be guessing Tariq's password.
    wait_for_alert(
        &server.base,
        &session,
        "4 failed log-ins in a row for tkhan9",
    );
    // Lena's password used from a second computer while her first log-in holds: an alert.
    let second = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
            "-w",
            "%{http_code}",
        ])
        .args([
            "--interface",
            "127.0.0.2",
            "--proxy",
            &format!("http://{proxy}"),
        ])
        .args(["--proxy-user", "lwright10:PASSWORD-lwright10", casino])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&second.stdout), "403");
    wait_for_alert(
        &server.base,
        &session,
        "account is in use at two places at once: 127.0.0.2 and 127.0.0.1",
    );

    // Lena's blocked attempt names her, and says how Ward knew.
    let results = blocked_activity(&server.base, &session, "casino.test", "lwright10");
    assert!(
        results.contains("Lena Wright lwright10 <span class=\"hint\">(proxy log-in)</span>"),
        "{results}"
    );

    // Ola leaves: gone from the directory, a leaver in Ward (kept), and no longer logs in.
    directory.modify(&format!(
        "dn: uid=oadeyemi6,ou=pupils,ou=people,{}\nchangetype: delete\n",
        slapd::SUFFIX
    ));
    let sync = ward(&folder)
        .args(["directory", "sync"])
        .envs(settings)
        .output()
        .expect("ward directory sync");
    let said = String::from_utf8_lossy(&sync.stdout);
    assert!(
        sync.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    assert!(said.contains("left: oadeyemi6"), "{said}");
    assert_eq!(curl_as(&proxy, "oadeyemi6:PASSWORD-oadeyemi6", casino), 407);
    let people = console_get(&server.base, &session, "/people").1;
    let ola = people
        .split("<tr")
        .find(|row| row.contains("Adeyemi"))
        .expect("a leaver is kept");
    assert!(ola.contains("(left "), "and shown as a leaver: {ola}");
    let audit = console_get(&server.base, &session, "/audit").1;
    assert!(audit.contains("leavers: oadeyemi6"), "{audit}");

    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert!(
        !log.contains(slapd::WARD_PASSWORD),
        "the service password is never logged"
    );
    assert!(!log.contains("PASSWORD-"), "no user's password is logged");
}

#[test]
fn the_directorys_safeguarding_group_makes_a_dsl_account_with_the_directorys_password() {
    use ward_testkit::slapd::{self, Slapd};
    let directory = Slapd::start(slapd::PARK_END);
    let folder = temp_folder("directory-roles");
    let safeguarding = format!("cn=Safeguarding,ou=groups,{}", slapd::SUFFIX);
    std::fs::write(
        folder.join("ward.toml"),
        format!(
            "{}\n[[directory.roles]]\nmember_of = \"{safeguarding}\"\nroles = \"dsl\"\n",
            directory_settings(&directory)
        ),
    )
    .expect("ward.toml");
    let settings = [
        ("WARD_CONFIG", "ward.toml"),
        ("WARD_DIRECTORY_BIND_PASSWORD", slapd::WARD_PASSWORD),
    ];
    let dry = ward(&folder)
        .args(["directory", "sync", "--dry-run"])
        .envs(settings)
        .output()
        .expect("ward directory sync --dry-run");
    let said = String::from_utf8_lossy(&dry.stdout);
    assert!(said.contains("mrs.jones: Ann Jones: staff"), "{said}");
    assert!(said.contains("; console roles dsl"), "{said}");
    assert!(!said.contains("lwright10: Lena Wright: pupil, year 4, group pupils; console"));

    let mut environment = vec![("WARD_ADMIN_PASSWORD", "directory roles test password")];
    environment.extend_from_slice(&settings);
    let server = Server::start(&folder, &environment);
    let (_, _, admin) = log_in(&server.base, "admin", "directory roles test password");
    let admin = admin.expect("a session");
    let mut accounts = String::new();
    for _ in 0..100 {
        accounts = console_get(&server.base, &admin, "/accounts").1;
        if accounts.contains("mrs.jones") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let row = accounts
        .split("<tr")
        .find(|row| row.contains("mrs.jones"))
        .expect("Mrs Jones has an account");
    assert!(row.contains("(from the directory)"), "{row}");
    assert!(row.contains("DSL / online safety coordinator"), "{row}");
    assert!(
        !row.contains("New one-time password"),
        "its password is the directory's"
    );

    // She signs in to the console with her network password (and, as a DSL, a code).
    assert_eq!(
        log_in(&server.base, "mrs.jones", "PASSWORD-lwright10").0,
        401,
        "another's password"
    );
    assert_eq!(log_in(&server.base, "mrs.jones", "").0, 401, "no password");
    let (_, _, jones) = log_in(&server.base, "mrs.jones", "PASSWORD-mrs.jones");
    let jones = jones.expect("signed in");
    assert_eq!(console_get(&server.base, &jones, "/alerts").0, 200, "a DSL");
    assert_eq!(console_get(&server.base, &jones, "/accounts").0, 403);
    assert_eq!(
        console_get(&server.base, &jones, "/account/password").0,
        400,
        "changed in the directory, not in Ward"
    );
    // Roles from the directory are not changed in the console.
    let (_, page) = console_get(&server.base, &admin, "/accounts");
    let csrf = field(&page, "csrf");
    let id = page
        .split("<tr")
        .find(|row| row.contains("mrs.jones"))
        .and_then(|row| row.split("/accounts/").nth(1))
        .and_then(|rest| rest.split('/').next())
        .expect("her account's id")
        .to_owned();
    let (status, said) = console_post(
        &server.base,
        &admin,
        &format!("/accounts/{id}/roles"),
        &[("csrf", &csrf), ("roles", "headteacher")],
    );
    assert_eq!(status, 400, "{said}");

    // She leaves the safeguarding group: at the next synchronisation her account is disabled
    // (kept) and her session ends.
    directory.modify(&format!(
        // (A group of names is never empty: someone else stays in it.)
        "dn: {safeguarding}\nchangetype: modify\nadd: member\nmember: cn=nobody,{suffix}\n-\n\
         delete: member\nmember: uid=mrs.jones,ou=staff,ou=people,{suffix}\n",
        suffix = slapd::SUFFIX
    ));
    let sync = ward(&folder)
        .args(["directory", "sync", "--allow-many-leavers"])
        .envs(settings)
        .output()
        .expect("ward directory sync");
    let said = String::from_utf8_lossy(&sync.stdout);
    assert!(said.contains("account disabled: mrs.jones"), "{said}");
    assert_ne!(console_get(&server.base, &jones, "/alerts").0, 200);
    assert_eq!(
        log_in(&server.base, "mrs.jones", "PASSWORD-mrs.jones").0,
        401
    );
    let audit = console_get(&server.base, &admin, "/audit").1;
    assert!(audit.contains("made mrs.jones"), "{audit}");
    assert!(audit.contains("disabled mrs.jones"), "{audit}");
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert!(!log.contains("PASSWORD-mrs.jones"), "no password is logged");
}

#[test]
fn pupils_and_staff_sign_in_at_the_portal_with_the_schools_provider_in_chromium() {
    use ward_testkit::oidc::Provider;
    use ward_testkit::slapd::{self, Slapd};
    let directory = Slapd::start(slapd::PARK_END);
    let folder = temp_folder("portal-sso");
    gambling_index(&folder);
    std::fs::write(folder.join("policy.toml"), staff_may_gamble("")).expect("policy");
    let (provider_port, proxy_port) = (free_port(), free_port());
    let proxy = format!("127.0.0.1:{proxy_port}");
    let provider = Provider::start(
        provider_port,
        "ward-portal",
        "portal test client secret",
        &format!("http://{proxy}/ward/login/sso/callback"),
    );
    std::fs::write(
        folder.join("ward.toml"),
        format!(
            "{}\n[sso]\nissuer = \"{}\"\nclient_id = \"ward-portal\"\n\
             domains = \"park-end.sch.uk\"\nlabel = \"Park End\"\n",
            directory_settings(&directory),
            provider.issuer
        ),
    )
    .expect("ward.toml");
    let server = Server::start(
        &folder,
        &[
            ("WARD_CONFIG", "ward.toml"),
            ("WARD_DIRECTORY_BIND_PASSWORD", slapd::WARD_PASSWORD),
            ("WARD_SSO_CLIENT_SECRET", "portal test client secret"),
            ("WARD_ADMIN_PASSWORD", "portal sso test password"),
            ("WARD_PROXY_LISTEN", proxy.as_str()),
            ("WARD_PROXY_AUTHENTICATION", "true"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
        ],
    );
    let (_, _, session) = log_in(&server.base, "admin", "portal sso test password");
    let session = session.expect("a session");
    for _ in 0..100 {
        if console_get(&server.base, &session, "/people")
            .1
            .contains("Wright")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let casino = "http://casino.test/spin";
    assert_eq!(curl_through(&proxy, casino).0, 403, "nobody logged in here");

    // Mrs Jones signs in at the portal with her school account and goes on to the page she
    // wanted; this computer browses as her (staff) until she logs out.
    // Each in a browser of its own: the provider remembers who signed in with it.
    let sign_in = |login: &str| {
        let browser = webdriver::Browser::start();
        browser.open(&format!(
            "http://{proxy}/ward/login?then=http%3A%2F%2Fcasino.test%2Fspin"
        ));
        assert_eq!(browser.find_text("#sso"), "Sign in with Park End");
        browser.click("#sso");
        browser.wait_for_text("Sign-in");
        browser.type_into("input[name=login]", login);
        browser.type_into("input[name=password]", "anything");
        browser.click("button[type=submit]");
        browser.wait_for_text("Authorize");
        browser.click("button[type=submit]");
        browser
    };
    let browser = sign_in("a.jones@park-end.sch.uk");
    // First, this school year's agreement (a sign-in provider's log-in is asked too).
    browser.wait_for_text("Staff acceptable use agreement");
    browser.click("#agree");
    browser.wait_for_text("You are logged in");
    assert!(
        browser.find_text("#status").contains("as mrs.jones"),
        "{}",
        browser.text()
    );
    assert_eq!(
        browser.find_text("#continue"),
        "Go on to http://casino.test/spin"
    );
    assert_eq!(
        curl_through(&proxy, casino).0,
        502,
        "staff: allowed (unreachable)"
    );
    browser.click("#logout");
    browser.wait_for_text("You are logged out");
    assert_eq!(curl_through(&proxy, casino).0, 403);

    // Lena, a pupil, the same way: named, and still kept from gambling.
    let browser = sign_in("lwright10@park-end.sch.uk");
    browser.wait_for_text("How we stay safe online");
    browser.click("#agree");
    browser.wait_for_text("You are logged in");
    assert!(browser.find_text("#status").contains("as lwright10"));
    assert_eq!(curl_through(&proxy, casino).0, 403);
    let results = blocked_activity(&server.base, &session, "casino.test", "lwright10");
    assert!(
        results.contains("Lena Wright lwright10 <span class=\"hint\">(portal log-in)</span>"),
        "{results}"
    );
    browser.click("#logout");
    browser.wait_for_text("You are logged out");

    // The provider's answer again (a back button, a copied link): used already.
    let answer = provider.last_redirect().expect("the provider answered");
    browser.open(&answer);
    browser.wait_for_text("has been used already");
    assert_eq!(
        curl_through(&proxy, casino).0,
        403,
        "nobody signed in by it"
    );

    // Tokens for another application or expired, an address outside the school's domain, and
    // a school address nobody has: refused, and nobody logged in.
    for (login, said) in [
        (
            "wrong-audience:lwright10@park-end.sch.uk",
            "could not be accepted",
        ),
        ("expired:lwright10@park-end.sch.uk", "could not be accepted"),
        ("lwright10@gmail.com", "could not be accepted"),
        (
            "nobody@park-end.sch.uk",
            "Ward does not know that name at this school",
        ),
    ] {
        let browser = sign_in(login);
        browser.wait_for_text(said);
        assert!(
            browser.count("#logout") == 0,
            "{login}: not logged in: {}",
            browser.text()
        );
    }
    assert_eq!(curl_through(&proxy, casino).0, 403);
    let audit = console_get(&server.base, &session, "/audit").1;
    for refused in [
        "the token is for another application (audience)",
        "the token has expired",
        "nobody at the school has the address nobody@park-end.sch.uk",
        "browsing as lwright10",
    ] {
        assert!(audit.contains(refused), "{refused}: {audit}");
    }
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert!(
        !log.contains("portal test client secret"),
        "the secret is never logged"
    );
}

#[test]
fn a_pupil_given_a_starting_password_makes_their_own_at_the_portal_in_chromium() {
    let folder = temp_folder("ward-passwords");
    gambling_index(&folder);
    // Pupils in years 3 and 4 may not gamble; staff may.
    let policy = staff_may_gamble("").replace(
        "kind = \"pupil\"\n",
        "kind = \"pupil\"\nyears = [\"3\", \"4\"]\n",
    );
    std::fs::write(folder.join("policy.toml"), policy).expect("policy");
    // The pupils' group has its own rules: six or more, letters and a number, a new one every
    // 30 days.
    std::fs::write(
        folder.join("ward.toml"),
        "[[passwords.group]]\ngroups = \"pupils\"\nmin_length = 6\nneeds = \"letters-and-numbers\"\nchange_days = 30\n",
    )
    .expect("ward.toml");
    let server = Server::start(
        &folder,
        &[
            ("WARD_CONFIG", "ward.toml"),
            ("WARD_ADMIN_PASSWORD", "ward passwords test password"),
            ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
            ("WARD_PROXY_AUTHENTICATION", "true"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
        ],
    );
    let proxy = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward proxy listening on "))
        .expect("the proxy's address")
        .trim()
        .to_owned();
    let (_, _, session) = log_in(&server.base, "admin", "ward passwords test password");
    let session = session.expect("a session");
    import_people(
        &server.base,
        &session,
        &folder,
        "pupil",
        "username,forename,surname,year\njsmith3,Jo,Smith,3\n",
    );
    let people = console_get(&server.base, &session, "/people").1;
    let id = people
        .split_once("/password\" aria-label=\"Ward password of jsmith3\"")
        .and_then(|(before, _)| before.rsplit("/people/").next())
        .expect("a Password link for Jo")
        .to_owned();
    // The technician's page shows the rules Jo will be shown; a starting password is given
    // once, and the audit log never has it.
    let page = console_get(&server.base, &session, &format!("/people/{id}/password")).1;
    assert!(page.contains("They have no Ward password"), "{page}");
    assert!(
        page.contains("Use at least 6 letters or numbers."),
        "{page}"
    );
    let csrf = field(&page, "csrf");
    let (status, page) = console_post(
        &server.base,
        &session,
        &format!("/people/{id}/password"),
        &[("csrf", &csrf), ("action", "start")],
    );
    assert_eq!(status, 200, "{page}");
    let starting = page
        .split("<strong id=\"starting-password\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the starting password, shown once")
        .to_owned();
    assert!(
        page.contains("They have a starting password, not yet changed"),
        "{page}"
    );
    let casino = "http://casino.test/spin";
    // Not for browsing until Jo has made her own.
    assert_eq!(curl_as(&proxy, &format!("jsmith3:{starting}"), casino), 407);

    // Jo logs in at the portal with it, and is asked to make her own, with her rules.
    let browser = webdriver::Browser::start();
    browser.open(&format!("http://{proxy}/ward/login"));
    browser.type_into("#username", "jsmith3");
    browser.type_into("#password", &starting);
    browser.click("#login");
    // This school year's agreement first, then her own password.
    browser.wait_for_text("How we stay safe online");
    browser.click("#agree");
    browser.wait_for_text("Make a new password");
    assert!(
        browser
            .find_text("#starting")
            .contains("password from your teacher")
    );
    let rules = browser.find_text("#rules");
    assert!(
        rules.contains("Use at least 6 letters or numbers."),
        "{rules}"
    );
    assert!(
        rules.contains("Put in letters and at least one number."),
        "{rules}"
    );
    assert!(rules.contains("every 30 days"), "{rules}");
    assert_eq!(browser.count("#logout"), 0, "not logged in yet");
    let attempt = |current: &str, new: &str, again: &str| {
        browser.type_into("#current", current);
        browser.type_into("#new", new);
        browser.type_into("#again", again);
        browser.click("#save-password");
    };
    for (new, again, said) in [
        (
            "cat7",
            "cat7",
            "That password is too short. Use at least 6 letters or numbers.",
        ),
        (
            "giraffes",
            "giraffes",
            "Put in letters and at least one number.",
        ),
        (
            "smith2024",
            "smith2024",
            "Do not use your name or your user name.",
        ),
        (
            "purple7fish",
            "purple7fist",
            "The two new passwords are not the same.",
        ),
    ] {
        attempt(&starting, new, again);
        // The page before has the same heading and rules (and each says the last problem):
        // wait for this answer in the problem line itself.
        let problem = "return (document.getElementById('problem') || {}).textContent || ''";
        let waited = std::time::Instant::now();
        while !browser.run(problem).as_str().unwrap_or("").contains(said)
            && waited.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            browser.find_text("#problem").contains(said),
            "{new}: {}",
            browser.text()
        );
        assert!(
            browser.find_text("#rules").contains("Use at least 6"),
            "the rules stay"
        );
    }
    attempt(&starting, "purple7fish", "purple7fish");
    browser.wait_for_text("Your new password is saved");
    assert!(browser.find_text("#status").contains("as jsmith3"));
    assert_eq!(curl_through(&proxy, casino).0, 403, "a pupil, named");
    browser.click("#logout");
    browser.wait_for_text("You are logged out");

    // The starting password no longer works anywhere; her own does.
    assert_eq!(curl_as(&proxy, &format!("jsmith3:{starting}"), casino), 407);
    assert_eq!(curl_as(&proxy, "jsmith3:purple7fish", casino), 403);
    let audit = console_get(&server.base, &session, "/audit").1;
    assert!(
        audit.contains("starting password given to jsmith3"),
        "{audit}"
    );
    assert!(
        audit.contains("changed own password at the portal"),
        "{audit}"
    );
    assert!(!audit.contains(&starting) && !audit.contains("purple7fish"));

    // Thirty days on, the portal reminds her (and lets her in).
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = runtime
        .block_on(ward_store::Store::open(
            &format!("sqlite://{}", folder.join("var/ward.db").display()),
            &ward_store::OpenOptions::default(),
        ))
        .expect("the database");
    runtime.block_on(async {
        let school = ward_store::SchoolId(1);
        let jo = store
            .person_by_username(school, "jsmith3")
            .await
            .expect("query")
            .expect("Jo");
        let hash = store
            .person_password_hash(school, jo.id)
            .await
            .expect("query");
        let long_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 31);
        store
            .set_person_password(school, jo.id, hash.as_deref(), false, long_ago)
            .await
            .expect("dated");
    });
    runtime.block_on(store.close());
    browser.open(&format!("http://{proxy}/ward/login"));
    browser.type_into("#username", "jsmith3");
    browser.type_into("#password", "purple7fish");
    browser.click("#login");
    browser.wait_for_text("You are logged in");
    assert!(
        browser
            .find_text("#notice")
            .contains("time to make a new one")
    );
    browser.click("#change-password");
    browser.wait_for_text("Your password rules");
    attempt("purple7fish", "orange8kite", "orange8kite");
    browser.wait_for_text("Your new password is saved");
    assert_eq!(curl_as(&proxy, "jsmith3:orange8kite", casino), 403);

    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert!(
        !log.contains(&starting) && !log.contains("orange8kite"),
        "no password is logged"
    );
}

#[test]
fn a_coordinator_changes_a_row_with_a_reason_and_the_filters_follow_within_two_seconds() {
    let folder = temp_folder("filtering-console");
    std::fs::write(folder.join("gambling.txt"), "casino.test\nbet365.com\n").expect("list");
    std::fs::write(folder.join("iwf.txt"), "abuse.test/img/\n").expect("list");
    let import = ward(&folder)
        .args(["lists", "import", "--domains", "gambling=gambling.txt"])
        .args(["--illegal", "iwf=iwf.txt", "--out", "lists.idx"])
        .output()
        .expect("ward lists import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let policy = format!(
        "{}\n[[rule]]\nid = \"iwf\"\naction = \"Child sexual abuse images\"\ncategories = [\"iwf\"]\nverdict = \"unacceptable and illegal\"\n",
        DNS_POLICY.replace("VERDICT", "unacceptable")
    );
    std::fs::write(folder.join("policy.toml"), &policy).expect("policy");
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "filtering test password"),
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
        ],
    );
    let printed = |prefix: &str| {
        server
            .printed
            .iter()
            .find_map(|line| line.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{prefix:?} is printed"))
            .to_owned()
    };
    let dns = printed("Ward DNS filter listening on ");
    let proxy = printed("Ward proxy listening on ");
    let (_, _, session) = log_in(&server.base, "admin", "filtering test password");
    let session = session.expect("a session");
    let blocked_by_dns = || dig(&dns, &["casino.test", "+short"]).trim() == "192.0.2.250";
    assert!(blocked_by_dns());
    assert_eq!(curl_through(&proxy, "http://casino.test/spin").0, 403);

    // The policy file is version 1; the table shows the row.
    let (status, page) = console_get(&server.base, &session, "/filtering");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("version 1</strong>"), "{page}");
    assert!(page.contains("imported from the policy file"), "{page}");
    assert!(page.contains("id=\"row-gambling\""), "{page}");

    // The policy document is the version in force, with the sanctions tables.
    let (status, page) = console_get(&server.base, &session, "/filtering/document");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("version 1, saved"), "{page}");
    assert!(page.contains("Child sexual abuse images"), "{page}");
    assert!(
        page.contains("<h2>Pupils: actions and sanctions</h2>"),
        "{page}"
    );
    let (status, file) = console_get(&server.base, &session, "/filtering/document?file=1");
    assert_eq!(status, 200);
    assert!(!file.contains("href=\"/alerts\""), "no menu in the file");

    // The self-test: the illegal list blocked for everyone, gambling for pupils (and by the
    // running DNS filter and proxy themselves), safe search on; sites the lists do not know are
    // not tested.
    let csrf_now = field(
        &console_get(&server.base, &session, "/filtering/self-test").1,
        "csrf",
    );
    let (status, page) = console_post(
        &server.base,
        &session,
        "/filtering/self-test",
        &[("csrf", &csrf_now)],
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("policy version 1: "), "{page}");
    assert!(
        page.contains("<td>Illegal content (iwf)</td><td>pupils</td><td>passed</td>"),
        "{page}"
    );
    assert!(
        page.contains("<td>Gambling</td><td>pupils</td><td>passed</td>"),
        "{page}"
    );
    assert!(
        page.contains("<td>Gambling</td><td>the DNS filter at "),
        "{page}"
    );
    assert!(page.contains("bet365.com answered as blocked"), "{page}");
    assert!(
        page.contains(&format!(
            "<td>Gambling</td><td>the proxy at {proxy}</td><td>passed</td>"
        )),
        "{page}"
    );
    assert!(page.contains("http://bet365.com/ was blocked"), "{page}");
    assert!(
        page.contains("<td>Safe search</td><td>pupils</td><td>passed</td>"),
        "{page}"
    );
    assert!(page.contains("pornhub.com is in no list loaded"), "{page}");
    assert!(!page.contains("<td>failed</td>"), "{page}");
    let (_, page) = console_get(&server.base, &session, "/filtering/self-test");
    assert!(page.contains("0 failed"), "the run is kept: {page}");

    // The URL tester explains the block, step by step, with the row to change.
    let (status, page) = console_get(
        &server.base,
        &session,
        "/filtering/test?site=http%3A%2F%2Fcasino.test%2Fspin&group=pupils",
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h2>Blocked</h2>"), "{page}");
    assert!(
        page.contains("rule gambling (unacceptable): category gambling"),
        "{page}"
    );
    assert!(
        page.contains("href=\"/filtering/rules/gambling\""),
        "{page}"
    );
    assert_eq!(page.matches("did not apply").count(), 5, "{page}");
    assert_eq!(
        page.matches("<strong>decided</strong>").count(),
        1,
        "{page}"
    );
    let (_, page) = console_get(
        &server.base,
        &session,
        "/filtering/test?site=abuse.test%2Fimg%2F1.jpg&group=pupils",
    );
    assert!(page.contains("illegal-content list iwf"), "{page}");
    let (_, page) = console_get(
        &server.base,
        &session,
        "/filtering/test?site=a%20b&group=pupils",
    );
    assert!(page.contains("id=\"problem\""), "a clear error: {page}");

    // A reason that says nothing is refused; so is opening the illegal-content row, which is
    // audited with the rule named.
    let (_, page) = console_get(&server.base, &session, "/filtering/rules/gambling");
    let csrf = field(&page, "csrf");
    let (status, page) = console_post(
        &server.base,
        &session,
        "/filtering/rules/gambling",
        &[
            ("csrf", &csrf),
            ("default_kind", "acceptable"),
            ("reason", "ok"),
        ],
    );
    assert_eq!(status, 400);
    assert!(page.contains("at least 10 characters"), "{page}");
    let (status, page) = console_post(
        &server.base,
        &session,
        "/filtering/rules/iwf",
        &[
            ("csrf", &csrf),
            ("default_kind", "acceptable"),
            ("reason", "<script>alert(1)</script> trying to open it"),
        ],
    );
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Not saved"), "{page}");
    assert!(page.contains("iwf"), "{page}");
    assert!(!page.contains("<script>alert(1)"), "the reason is text");
    let audit = console_get(&server.base, &session, "/audit").1;
    assert!(audit.contains("filtering.refused"), "{audit}");

    // Gambling opened for a maths project: in force at the DNS filter and the proxy within
    // two seconds of the save.
    let saved = std::time::Instant::now();
    let (status, location) = console_post(
        &server.base,
        &session,
        "/filtering/rules/gambling",
        &[
            ("csrf", &csrf),
            ("default_kind", "acceptable"),
            (
                "reason",
                "Year 6 probability project on the odds of gambling, agreed by the head",
            ),
        ],
    );
    assert_eq!(status, 303, "{location}");
    let mut dns_after = None;
    let mut proxy_after = None;
    while saved.elapsed() < Duration::from_secs(5) && (dns_after.is_none() || proxy_after.is_none())
    {
        if dns_after.is_none() && !blocked_by_dns() {
            dns_after = Some(saved.elapsed());
        }
        if proxy_after.is_none() && curl_through(&proxy, "http://casino.test/spin").0 != 403 {
            proxy_after = Some(saved.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dns_after = dns_after.expect("the DNS filter follows");
    let proxy_after = proxy_after.expect("the proxy follows");
    println!("in force after: DNS {dns_after:?}, proxy {proxy_after:?}");
    assert!(
        dns_after < Duration::from_secs(2),
        "DNS after {dns_after:?}"
    );
    assert!(
        proxy_after < Duration::from_secs(2),
        "proxy after {proxy_after:?}"
    );

    // The versions, compared and restored.
    let (_, page) = console_get(&server.base, &session, "/filtering/versions");
    assert!(page.contains("Year 6 probability project"), "{page}");
    let (_, page) = console_get(&server.base, &session, "/filtering/compare?a=1&b=2");
    assert!(
        page.contains("class=\"removed\">− verdict = &#34;unacceptable&#34;"),
        "{page}"
    );
    assert!(
        page.contains("class=\"added\">+ verdict = &#34;acceptable&#34;"),
        "{page}"
    );
    let (status, location) = console_post(
        &server.base,
        &session,
        "/filtering/versions/1/restore",
        &[
            ("csrf", &csrf),
            ("reason", "The project is over: gambling closed again"),
        ],
    );
    assert_eq!(status, 303, "{location}");
    let restored = std::time::Instant::now();
    while !blocked_by_dns() && restored.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(restored.elapsed() < Duration::from_secs(2), "blocked again");
    let (status, csv) = console_get(&server.base, &session, "/filtering/log.csv");
    assert_eq!(status, 200);
    assert!(csv.starts_with("version,date,by,from,reason"), "{csv}");
    assert!(csv.contains("\"a restore\",\"The project is over"), "{csv}");
    assert_eq!(csv.lines().count(), 4, "{csv}");

    let kill = |signal: &str| {
        Command::new("kill")
            .args([signal, &server.child.id().to_string()])
            .status()
            .expect("kill");
    };
    // Exported exactly as saved; a file imported (comments, Windows line endings, a name with
    // an accent, no final newline) is the next version, in force, and exports byte for byte.
    let export = |version: Option<&str>| {
        let mut command = ward(&folder);
        command
            .args(["policy", "export"])
            .env("WARD_FILTER_INDEX", "lists.idx");
        if let Some(version) = version {
            command.args(["--version", version]);
        }
        let output = command.output().expect("ward policy export");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    assert_eq!(export(Some("1")), policy, "version 1 is the file as it was");
    let imported = format!(
        "# Policy for Ecole Sainte-Thérèse, kept in version control\r\n{}",
        policy
            .replace("DNS school", "Sainte-Thérèse")
            .replacen(
                "verdict = \"unacceptable\"",
                "verdict   =   \"acceptable\"  # for the project",
                1
            )
            .replace('\n', "\r\n")
            .trim_end()
    );
    std::fs::write(folder.join("imported.toml"), &imported).expect("file");
    let refused = ward(&folder)
        .args(["policy", "import", "imported.toml", "--reason", "short"])
        .env("WARD_FILTER_INDEX", "lists.idx")
        .output()
        .expect("ward policy import");
    assert!(!refused.status.success(), "a reason that says nothing");
    let import = ward(&folder)
        .args(["policy", "import", "imported.toml"])
        .args([
            "--reason",
            "The local authority's reviewed policy for this term",
        ])
        .env("WARD_FILTER_INDEX", "lists.idx")
        .output()
        .expect("ward policy import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert!(String::from_utf8_lossy(&import.stdout).contains("saved as version 4"));
    assert_eq!(export(None), imported);
    // With SQLite the running Ward reads it within half a minute, or at once on SIGHUP.
    kill("-HUP");
    let in_force = std::time::Instant::now();
    while blocked_by_dns() && in_force.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!blocked_by_dns(), "the import is in force");
    // An import that would open illegal content is refused and saves nothing.
    std::fs::write(
        folder.join("bad.toml"),
        policy.replace(
            "verdict = \"unacceptable and illegal\"",
            "verdict = \"acceptable\"",
        ),
    )
    .expect("file");
    let bad = ward(&folder)
        .args([
            "policy",
            "import",
            "bad.toml",
            "--reason",
            "Trying to open everything up",
        ])
        .env("WARD_FILTER_INDEX", "lists.idx")
        .output()
        .expect("ward policy import");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("iwf"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert_eq!(export(None), imported, "nothing saved");
    // Back to the file's policy for what follows.
    let import = ward(&folder)
        .args([
            "policy",
            "import",
            "policy.toml",
            "--reason",
            "Back to the school's own file",
        ])
        .env("WARD_FILTER_INDEX", "lists.idx")
        .output()
        .expect("ward policy import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    kill("-HUP");
    while !blocked_by_dns() && in_force.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(blocked_by_dns(), "the school's file is in force again");

    // The file unchanged, a SIGHUP makes no version; the file changed, it is the next one.
    kill("-HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        console_get(&server.base, &session, "/filtering/log.csv")
            .1
            .lines()
            .count(),
        6
    );
    std::fs::write(
        folder.join("policy.toml"),
        policy.replacen("verdict = \"unacceptable\"", "verdict = \"acceptable\"", 1),
    )
    .expect("policy");
    kill("-HUP");
    let changed = std::time::Instant::now();
    while blocked_by_dns() && changed.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!blocked_by_dns(), "the changed file is in force");
    let csv = console_get(&server.base, &session, "/filtering/log.csv").1;
    // A local list: casino.test blocked for pupils by the school's own entry (over the rule
    // that now allows it), then removed; an allow reaching illegal content is refused.
    let csrf = field(
        &console_get(&server.base, &session, "/filtering/lists").1,
        "csrf",
    );
    let list_change = |action: &str, list: &str, entry: &str, reason: &str| {
        console_post(
            &server.base,
            &session,
            "/filtering/lists",
            &[
                ("csrf", &csrf),
                ("action", action),
                ("group", "pupils"),
                ("list", list),
                ("entry", entry),
                ("reason", reason),
            ],
        )
    };
    let (status, page) = list_change(
        "add",
        "block",
        "casino.test",
        "Parents complained: keep it closed",
    );
    assert_eq!(status, 303, "{page}");
    let changed = std::time::Instant::now();
    while !blocked_by_dns() && changed.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        blocked_by_dns(),
        "the block entry is in force within two seconds"
    );
    let (_, page) = console_get(&server.base, &session, "/filtering/lists");
    assert!(page.contains("<li>casino.test"), "{page}");
    let (status, page) = list_change(
        "add",
        "allow",
        "abuse.test",
        "Trying to open the illegal list",
    );
    assert_eq!(status, 400);
    assert!(page.contains("Not saved") && page.contains("iwf"), "{page}");
    let (status, page) = list_change("add", "allow", "two words", "Hostile input in the entry");
    assert_eq!(status, 400);
    assert!(page.contains("without spaces"), "{page}");
    let (status, page) = list_change(
        "remove",
        "block",
        "casino.test",
        "The complaint was about another site",
    );
    assert_eq!(status, 303, "{page}");
    let changed = std::time::Instant::now();
    while blocked_by_dns() && changed.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!blocked_by_dns(), "removed within two seconds");
    // Settings: YouTube moderate for pupils, with a reason, is a new version of one line.
    let (_, page) = console_get(&server.base, &session, "/filtering/settings");
    assert!(page.contains("id=\"youtube_pupils\""), "{page}");
    let (status, page) = console_post(
        &server.base,
        &session,
        "/filtering/settings",
        &[
            ("csrf", &csrf),
            ("unknown_group", "pupils"),
            ("dns_blocked", "block-page"),
            ("safe_search_pupils", "on"),
            ("youtube_pupils", "moderate"),
            ("ip_hosts_pupils", ""),
            ("uncategorised_pupils", "allow"),
            ("decrypt_pupils", "on"),
            ("decrypt_staff", "on"),
            ("years_pupils", ""),
            ("never_inspect", "bank"),
            (
                "reason",
                "Year 6 videos for the science unit need moderate mode",
            ),
        ],
    );
    assert_eq!(status, 303, "{page}");
    let versions = console_get(&server.base, &session, "/filtering/versions").1;
    let newest = versions
        .split("id=\"version-")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the newest version")
        .to_owned();
    let previous = (newest.parse::<i64>().expect("a number") - 1).to_string();
    let (_, page) = console_get(
        &server.base,
        &session,
        &format!("/filtering/compare?a={previous}&b={newest}"),
    );
    assert!(
        page.contains("class=\"added\">+ youtube = &#34;moderate&#34;"),
        "{page}"
    );
    assert_eq!(
        page.matches("class=\"added\"").count(),
        1,
        "one line: {page}"
    );
    // Year groups: pupils now take years 5 and 6, and a Year 5 pupil imported joins them.
    let (status, page) = console_post(
        &server.base,
        &session,
        "/filtering/settings",
        &[
            ("csrf", &csrf),
            ("unknown_group", "pupils"),
            ("dns_blocked", "block-page"),
            ("safe_search_pupils", "on"),
            ("youtube_pupils", "moderate"),
            ("ip_hosts_pupils", ""),
            ("uncategorised_pupils", "allow"),
            ("decrypt_pupils", "on"),
            ("decrypt_staff", "on"),
            ("years_pupils", "5, 6"),
            ("never_inspect", "bank"),
            (
                "reason",
                "Pupils in years 5 and 6 use this school's computers",
            ),
        ],
    );
    assert_eq!(status, 303, "{page}");
    import_people(
        &server.base,
        &session,
        &folder,
        "pupil",
        "username,forename,surname,year\nkid5,Kim,Five,5\n",
    );
    let people = console_get(&server.base, &session, "/people").1;
    let row = people
        .split("<tr")
        .find(|row| row.contains("kid5"))
        .expect("the Year 5 pupil was imported");
    assert!(
        row.contains("<td data-label=\"Group\">pupils</td>"),
        "{row}"
    );
    // Time windows: one added, one with an impossible time refused by the check, one removed.
    let window = |action: &str, id: &str, to: &str| {
        console_post(
            &server.base,
            &session,
            "/filtering/windows",
            &[
                ("csrf", &csrf),
                ("action", action),
                ("id", id),
                ("title", "After school"),
                ("days", "mon-fri"),
                ("from", "15:30"),
                ("to", to),
                (
                    "reason",
                    "The after-school computing club needs its own times",
                ),
            ],
        )
    };
    assert_eq!(window("add", "after-school", "17:00").0, 303);
    let (status, page) = window("add", "late", "25:00");
    assert_eq!(status, 400);
    assert!(
        page.contains("Not saved") && page.contains("25:00"),
        "{page}"
    );
    let (_, page) = console_get(&server.base, &session, "/filtering/windows");
    assert!(page.contains("<td>after-school</td>"), "{page}");
    assert_eq!(window("remove", "after-school", "").0, 303);
    assert!(csv.contains("the policy file policy.toml changed"), "{csv}");
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

/// A new, empty database on the test command's PostgreSQL server (`WARD_TEST_POSTGRES`).
fn postgres_database(name: &str) -> String {
    use ward_testkit::postgres;
    postgres::create_database_blocking(&postgres::server(), &format!("ward_serve_{name}"))
}

#[test]
fn two_gateways_on_one_postgresql_follow_a_change_in_either_console_within_two_seconds() {
    let database = postgres_database("two_gateways");
    let start = |name: &str| {
        let folder = temp_folder(name);
        gambling_index(&folder);
        // Pupils (and anyone unknown) may not gamble; staff may.
        std::fs::write(folder.join("policy.toml"), staff_may_gamble("")).expect("policy");
        let server = Server::start(
            &folder,
            &[
                ("WARD_DATABASE_URL", database.as_str()),
                ("WARD_ADMIN_PASSWORD", "two gateways test password"),
                ("WARD_EVENTS_GATEWAY", name),
                ("WARD_DNS_LISTEN", "127.0.0.1:0"),
                ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
                ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
                ("WARD_FILTER_INDEX", "lists.idx"),
                ("WARD_FILTER_POLICY", "policy.toml"),
            ],
        );
        let dns = server
            .printed
            .iter()
            .find_map(|line| line.strip_prefix("Ward DNS filter listening on "))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the DNS filter's address")
            .to_owned();
        (server, dns)
    };
    let (first, first_dns) = start("gateway-a");
    let (second, second_dns) = start("gateway-b");
    // Whether `dns` blocks casino.test for a query from `from`.
    let blocked = |dns: &str, from: &str| {
        let (ip, port) = dns.rsplit_once(':').expect("address:port");
        let output = Command::new("dig")
            .args(["-b", from, "+short", "+time=2", "+tries=1", "-p", port])
            .arg(format!("@{ip}"))
            .arg("casino.test")
            .output()
            .expect("dig");
        String::from_utf8_lossy(&output.stdout).trim() == "192.0.2.250"
    };
    let waited = |dns: &str, from: &str, saved: std::time::Instant| {
        while blocked(dns, from) && saved.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        saved.elapsed()
    };
    for dns in [&first_dns, &second_dns] {
        assert!(blocked(dns, "127.0.0.1") && blocked(dns, "127.0.0.9"));
    }

    // A staff laptop registered in the second console: its group in force at the first
    // gateway within two seconds.
    let (_, _, other) = log_in(&second.base, "admin", "two gateways test password");
    let other = other.expect("a session");
    let csrf = field(&console_get(&second.base, &other, "/devices").1, "csrf");
    let saved = std::time::Instant::now();
    let (status, page) = console_post(
        &second.base,
        &other,
        "/devices",
        &[
            ("csrf", &csrf),
            ("name", "STAFF-LAP-01"),
            ("network", "127.0.0.9/32"),
            ("group", "staff"),
            ("location", "Staff room"),
        ],
    );
    assert_eq!(status, 303, "{page}");
    let elapsed = waited(&first_dns, "127.0.0.9", saved);
    println!("the device reached the other gateway after {elapsed:?}");
    assert!(
        !blocked(&first_dns, "127.0.0.9"),
        "the other gateway never followed"
    );
    assert!(elapsed < Duration::from_secs(2), "after {elapsed:?}");
    assert!(blocked(&first_dns, "127.0.0.1"), "only the laptop");

    // A row changed in the first console: in force at the second gateway within two seconds.
    // (Sessions are in the database: the same log-in works at either console.)
    let session = other;
    let (_, page) = console_get(&first.base, &session, "/filtering/rules/gambling");
    let csrf = field(&page, "csrf");
    let saved = std::time::Instant::now();
    let (status, _) = console_post(
        &first.base,
        &session,
        "/filtering/rules/gambling",
        &[
            ("csrf", &csrf),
            ("default_kind", "acceptable"),
            (
                "reason",
                "Year 6 probability project, agreed by the headteacher",
            ),
        ],
    );
    assert_eq!(status, 303);
    let elapsed = waited(&second_dns, "127.0.0.1", saved);
    println!("the policy reached the other gateway after {elapsed:?}");
    assert!(
        !blocked(&second_dns, "127.0.0.1"),
        "the other gateway never followed"
    );
    assert!(elapsed < Duration::from_secs(2), "after {elapsed:?}");
    let (ok, log) = first.terminate();
    assert!(ok, "{log}");
    let (ok, log) = second.terminate();
    assert!(ok, "{log}");
}

#[test]
fn in_chromium_a_coordinator_changes_a_row_compares_restores_and_prints_the_policy() {
    let folder = temp_folder("filtering-browser");
    std::fs::write(folder.join("gambling.txt"), "casino.test\n").expect("list");
    std::fs::write(folder.join("iwf.txt"), "abuse.test/img/\n").expect("list");
    let import = ward(&folder)
        .args(["lists", "import", "--domains", "gambling=gambling.txt"])
        .args(["--illegal", "iwf=iwf.txt", "--out", "lists.idx"])
        .output()
        .expect("ward lists import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    std::fs::write(
        folder.join("policy.toml"),
        format!(
            "{}\n[[rule]]\nid = \"iwf\"\naction = \"Child sexual abuse images\"\ncategories = [\"iwf\"]\nverdict = \"unacceptable and illegal\"\n",
            DNS_POLICY.replace("VERDICT", "unacceptable")
        ),
    )
    .expect("policy");
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "filtering browser password"),
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
        ],
    );
    let dns = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward DNS filter listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the DNS filter's address")
        .to_owned();
    let blocked = || dig(&dns, &["casino.test", "+short"]).trim() == "192.0.2.250";
    let within_two_seconds = |want_blocked: bool| {
        let from = std::time::Instant::now();
        while blocked() != want_blocked && from.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let took = from.elapsed();
        assert_eq!(blocked(), want_blocked);
        assert!(took < Duration::from_secs(2), "took {took:?}");
    };
    assert!(blocked());

    let browser = webdriver::Browser::start();
    browser.open(&format!("{}/login", server.base));
    browser.type_into("input[name=username]", "admin");
    browser.type_into("input[name=password]", "filtering browser password");
    browser.click("form[action='/login'] button[type=submit]");
    browser.wait_for_text("Set up your sign-in code");
    let secret = ward_testkit::totp::from_base32(&browser.find_text("#secret"));
    browser.type_into("#code", &CODES.next("chromium filtering admin", &secret));
    browser.click("#check-code");
    // The first log-in of the school year: the staff agreement, then the dashboard.
    browser.wait_for_text("Staff acceptable use agreement");
    browser.click("#agree");
    browser.wait_for_text("Blocked today");

    // The coordinator opens gambling for a project, with a reason.
    browser.click("a[href='/filtering']");
    browser.wait_for_text("User Actions");
    browser.click("a[aria-label='Change Gambling']");
    browser.wait_for_text("Change: Gambling");
    browser.run("document.getElementById('default_kind').value = 'acceptable'");
    browser.type_into(
        "#reason",
        "Year 6 probability project, agreed by the headteacher",
    );
    browser.click("#save-row");
    browser.wait_for_text("Version 2 is saved and in force");
    within_two_seconds(false);

    // Opening the illegal-content row is refused, with the rule named, and audited.
    browser.open(&format!("{}/filtering/rules/iwf", server.base));
    browser.wait_for_text("Change: Child sexual abuse images");
    browser.run("document.getElementById('default_kind').value = 'acceptable'");
    browser.type_into("#reason", "Trying to open it from the console");
    browser.click("#save-row");
    browser.wait_for_text("Not saved");
    assert!(browser.find_text("#problem").contains("iwf"));
    browser.open(&format!("{}/audit", server.base));
    browser.wait_for_text("filtering.refused");
    browser.open(&format!("{}/filtering", server.base));
    browser.wait_for_text("User Actions");

    // Compared, then version 1 restored.
    browser.click("a[href='/filtering/versions']");
    browser.wait_for_text("Filtering versions");
    browser.click("#compare");
    browser.wait_for_text("Version 1 and version 2");
    let diff = browser.find_text("#diff");
    assert!(diff.contains("verdict = \"unacceptable\""), "{diff}");
    assert!(diff.contains("verdict = \"acceptable\""), "{diff}");
    browser.open(&format!("{}/filtering/versions", server.base));
    browser.wait_for_text("Filtering versions");
    browser.type_into("#restore-reason-1", "The project is over: closed again");
    browser.click("#restore-1");
    browser.wait_for_text("Version 3 is saved and in force");
    within_two_seconds(true);

    // The URL tester explains it, and leads to the row.
    browser.click("#url-tester");
    browser.wait_for_text("Would a site be blocked");
    browser.type_into("#site", "http://casino.test/spin");
    browser.click("#test-site");
    browser.wait_for_text("Every step, in order");
    assert!(
        browser
            .find_text("#reason")
            .contains("rule gambling (unacceptable)")
    );
    browser.click("#change-rule");
    browser.wait_for_text("Change: Gambling");

    // The self-test runs, and its result is kept: the illegal list blocked for pupils, safe
    // search on, nothing failed.
    browser.open(&format!("{}/filtering/self-test", server.base));
    browser.wait_for_text("Filtering self-test");
    browser.click("#run-self-test");
    browser.wait_for_text("Result");
    let summary = browser.find_text("#summary");
    assert!(
        summary.starts_with("policy version 3: ") && summary.contains(" 0 failed"),
        "{summary}"
    );
    let result = browser.find_text("#self-test-result");
    assert!(result.contains("Illegal content (iwf)"), "{result}");
    assert!(result.contains("Safe search"), "{result}");
    assert!(browser.find_text("#runs").contains(&summary));

    // The policy document, as it prints.
    browser.open(&format!("{}/filtering/document", server.base));
    browser.wait_for_text("internet filtering and sanctions");
    assert!(browser.find_text("#policy-document").contains("version 3"));
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "a screenshot");
    std::fs::write(folder.join("policy-document.png"), &png).expect("screenshot");
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

#[test]
fn a_coordinator_adds_a_group_opens_a_row_for_it_and_removes_it_moving_its_computer_back() {
    let folder = temp_folder("filtering-groups");
    gambling_index(&folder);
    std::fs::write(
        folder.join("policy.toml"),
        DNS_POLICY.replace("VERDICT", "unacceptable"),
    )
    .expect("policy");
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "groups test password"),
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
        ],
    );
    let dns = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward DNS filter listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the DNS filter's address is printed")
        .to_owned();
    // Asked from the bursar's office computer (127.0.0.3).
    let blocked_for_office = || {
        dig(
            &dns,
            &[
                "-b",
                "127.0.0.3",
                "casino.test",
                "+short",
                "+tries=1",
                "+time=2",
            ],
        )
        .trim()
            == "192.0.2.250"
    };
    assert!(blocked_for_office());
    let (_, _, session) = log_in(&server.base, "admin", "groups test password");
    let session = session.expect("a session");
    let (status, page) = console_get(&server.base, &session, "/filtering/groups");
    assert_eq!(status, 200, "{page}");
    let csrf = field(&page, "csrf");

    // A bad id, and script in the name, are refused with a clear error and nothing saved.
    let (status, page) = console_post(
        &server.base,
        &session,
        "/filtering/groups",
        &[
            ("csrf", &csrf),
            ("id", "Office <b>"),
            ("title", "<script>alert(1)</script>"),
            ("kind", "staff"),
            ("reason", "The bursar needs the gambling regulator's sites"),
        ],
    );
    assert_eq!(status, 400);
    assert!(page.contains("id=\"problem\""), "{page}");
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert_eq!(
        console_get(&server.base, &session, "/filtering/log.csv")
            .1
            .lines()
            .count(),
        2,
        "still one version"
    );

    // The group is made, given its own verdict on the gambling row, and the office computer
    // put in it: the DNS filter follows.
    let (status, location) = console_post(
        &server.base,
        &session,
        "/filtering/groups",
        &[
            ("csrf", &csrf),
            ("id", "office"),
            ("title", "School office"),
            ("kind", "staff"),
            ("like", "pupils"),
            (
                "reason",
                "The bursar checks the gambling regulator's licences",
            ),
        ],
    );
    assert_eq!(status, 303, "{location}");
    let (_, page) = console_get(&server.base, &session, "/filtering/groups");
    assert!(
        page.contains("<td>School office</td><td>office</td><td>Staff</td>"),
        "{page}"
    );
    let (status, location) = console_post(
        &server.base,
        &session,
        "/filtering/rules/gambling",
        &[
            ("csrf", &csrf),
            ("default_kind", "unacceptable"),
            ("kind_office", "acceptable"),
            (
                "reason",
                "The bursar checks the gambling regulator's licences",
            ),
        ],
    );
    assert_eq!(status, 303, "{location}");
    let (status, _) = console_post(
        &server.base,
        &session,
        "/devices",
        &[
            ("csrf", &csrf),
            ("name", "OFFICE-1"),
            ("network", "127.0.0.3"),
            ("group", "office"),
        ],
    );
    assert_eq!(status, 303);
    let waited = std::time::Instant::now();
    while blocked_for_office() && waited.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!blocked_for_office(), "the office may reach it");
    let (_, page) = console_get(&server.base, &session, "/filtering/groups");
    assert!(
        page.contains("<td class=\"number\">0</td><td class=\"number\">1</td>"),
        "one device in the office group: {page}"
    );

    // Removing it says what goes, needs a group for its computer, and moves the computer back:
    // blocked again at once.
    let (status, page) = console_get(&server.base, &session, "/filtering/groups/office/remove");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("its own verdicts on 1 row: Gambling"),
        "{page}"
    );
    assert!(page.contains("0 people and 1 device is in it"), "{page}");
    let (status, page) = console_post(
        &server.base,
        &session,
        "/filtering/groups/office/remove",
        &[
            ("csrf", &csrf),
            ("reason", "The bursar's check is done now"),
        ],
    );
    assert_eq!(status, 400);
    assert!(page.contains("choose the group they move to"), "{page}");
    let (status, location) = console_post(
        &server.base,
        &session,
        "/filtering/groups/office/remove",
        &[
            ("csrf", &csrf),
            ("move_to", "pupils"),
            ("reason", "The bursar's check is done now"),
        ],
    );
    assert_eq!(status, 303, "{location}");
    let removed = std::time::Instant::now();
    while !blocked_for_office() && removed.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        removed.elapsed() < Duration::from_secs(2),
        "blocked again after {:?}",
        removed.elapsed()
    );
    let (_, page) = console_get(&server.base, &session, "/filtering/groups");
    assert!(!page.contains("School office"), "{page}");
    let (_, csv) = console_get(&server.base, &session, "/filtering/log.csv");
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let audit = console_get(&server.base, &session, "/audit").1;
    assert!(
        audit.contains("group office removed; its own verdicts on gambling; 0 people and 1 devices moved to pupils"),
        "{audit}"
    );
    // The unknown-client group cannot go.
    let (status, page) = console_get(&server.base, &session, "/filtering/groups/pupils/remove");
    assert_eq!(status, 200);
    assert!(page.contains("cannot identify"), "{page}");
    assert!(!page.contains("id=\"remove-group\""), "no form: {page}");
}

#[test]
fn the_lists_are_rebuilt_from_their_source_and_a_bad_update_changes_nothing() {
    let folder = temp_folder("list-updates");
    std::fs::create_dir_all(folder.join("ut1/gambling")).expect("folder");
    std::fs::write(folder.join("ut1/gambling/domains"), "casino.test\n").expect("list");
    std::fs::write(folder.join("iwf.txt"), "abuse.test/img/\n").expect("list");
    let import = ward(&folder)
        .args([
            "lists",
            "import",
            "--ut1",
            "ut1",
            "--illegal",
            "iwf=iwf.txt",
        ])
        .args(["--out", "lists.idx"])
        .output()
        .expect("ward lists import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    std::fs::write(
        folder.join("policy.toml"),
        format!(
            "{}\n[[rule]]\nid = \"iwf\"\naction = \"Child sexual abuse images\"\ncategories = [\"iwf\"]\nverdict = \"unacceptable and illegal\"\n",
            DNS_POLICY.replace("VERDICT", "unacceptable")
        ),
    )
    .expect("policy");
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "list updates test password"),
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
            ("WARD_FILTER_UPDATE_UT1", "ut1"),
            ("WARD_FILTER_UPDATE_ILLEGAL", "iwf=iwf.txt"),
        ],
    );
    let dns = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward DNS filter listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the DNS filter's address")
        .to_owned();
    let blocked = |name: &str| dig(&dns, &[name, "+short"]).trim() == "192.0.2.250";
    assert!(blocked("casino.test") && !blocked("newcasino.test"));
    let (_, _, session) = log_in(&server.base, "admin", "list updates test password");
    let session = session.expect("a session");
    let (status, page) = console_get(&server.base, &session, "/filtering/sources");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("rebuilt from their source on a schedule"),
        "{page}"
    );
    assert!(page.contains("Gambling"), "{page}");

    // The mirror gains a site: an update now puts it in force.
    std::fs::write(
        folder.join("ut1/gambling/domains"),
        "casino.test\nnewcasino.test\n",
    )
    .expect("list");
    let csrf = field(&page, "csrf");
    let (status, page) = console_post(
        &server.base,
        &session,
        "/filtering/sources",
        &[("csrf", &csrf)],
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("in force now"), "{page}");
    let updated = std::time::Instant::now();
    while !blocked("newcasino.test") && updated.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(blocked("newcasino.test"), "the new site is blocked");

    // The IWF file arrives empty: refused, and the lists in force stay.
    std::fs::write(folder.join("iwf.txt"), "").expect("list");
    let (status, page) = console_post(
        &server.base,
        &session,
        "/filtering/sources",
        &[("csrf", &csrf)],
    );
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("were not updated") && page.contains("iwf"),
        "{page}"
    );
    assert!(blocked("newcasino.test") && blocked("casino.test"));
    assert!(!folder.join("lists.idx.new").exists());
    let audit = console_get(&server.base, &session, "/audit").1;
    assert!(audit.contains("filtering.lists-update"), "{audit}");
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

#[test]
fn a_sigterm_the_moment_ward_says_it_listens_still_stops_it_in_order() {
    // A service manager (or a script) may stop Ward as soon as it has started: the signal
    // handlers are in place before Ward says so, so the stop is orderly, never a kill.
    for round in 0..3 {
        let folder = temp_folder(&format!("early-stop-{round}"));
        gambling_index(&folder);
        let server = Server::start(
            &folder,
            &[
                ("WARD_DNS_LISTEN", "127.0.0.1:0"),
                ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
                ("WARD_FILTER_INDEX", "lists.idx"),
            ],
        );
        let (ok, log) = server.terminate();
        assert!(ok, "round {round}: {log}");
        assert!(log.contains("stopped"), "round {round}: {log}");
    }
}

/// Runs `openssl` with `args` in `folder`, and says what went wrong if it fails.
fn openssl(folder: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(folder)
        .output()
        .expect("openssl (Debian package openssl) runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn lists_are_downloaded_over_https_and_refused_when_their_checksum_or_signature_is_wrong() {
    let folder = temp_folder("list-download");
    // An authority's mirror: its own CA, a server certificate for 127.0.0.1, and openssl's
    // web server (s_server -WWW) serving the archive, its SHA-256 and its Ed25519 signature.
    let www = folder.join("www");
    std::fs::create_dir_all(&www).expect("www");
    ward_testkit::certificates(&folder, "Test authority CA");
    openssl(
        &folder,
        &["genpkey", "-algorithm", "ed25519", "-out", "sign.key"],
    );
    openssl(
        &folder,
        &[
            "pkey",
            "-in",
            "sign.key",
            "-pubout",
            "-outform",
            "DER",
            "-out",
            "sign.pub.der",
        ],
    );
    let public_der = std::fs::read(folder.join("sign.pub.der")).expect("public key");
    let public_key = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        &public_der[public_der.len() - 32..],
    );
    // Publishes UT1's layout with `gambling` as its gambling list: the archive, its checksum
    // (sha256sum's format) and, with `sign`, its signature.
    let publish = |gambling: &str, checksum: bool, sign: bool| {
        let source = folder.join("source");
        let _ = std::fs::remove_dir_all(&source);
        std::fs::create_dir_all(source.join("blacklists/gambling")).expect("folder");
        std::fs::write(source.join("blacklists/gambling/domains"), gambling).expect("list");
        let status = Command::new("tar")
            .args(["czf"])
            .arg(www.join("ut1.tar.gz"))
            .arg("-C")
            .arg(&source)
            .arg("blacklists")
            .status()
            .expect("tar");
        assert!(status.success());
        if checksum {
            let output = Command::new("sha256sum")
                .arg("ut1.tar.gz")
                .current_dir(&www)
                .output()
                .expect("sha256sum");
            std::fs::write(www.join("ut1.tar.gz.sha256"), output.stdout).expect("checksum");
        }
        if sign {
            openssl(
                &folder,
                &[
                    "pkeyutl",
                    "-sign",
                    "-rawin",
                    "-inkey",
                    "sign.key",
                    "-in",
                    "www/ut1.tar.gz",
                    "-out",
                    "www/ut1.tar.gz.sig",
                ],
            );
        }
    };
    publish("casino.test\n", true, true);
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        listener.local_addr().expect("address").port()
    };
    let mut mirror = Command::new("openssl")
        .args(["s_server", "-WWW", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-cert", "../server.pem", "-key", "../server.key"])
        .current_dir(&www)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "s_server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    gambling_index(&folder);
    std::fs::write(
        folder.join("policy.toml"),
        DNS_POLICY.replace("VERDICT", "unacceptable"),
    )
    .expect("policy");
    let url = format!("https://127.0.0.1:{port}/ut1.tar.gz");
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "list download test password"),
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_DNS_BLOCK_PAGE_IPV4", "192.0.2.250"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
            ("WARD_FILTER_UPDATE_URL", &url),
            ("WARD_FILTER_UPDATE_CA", "ca.pem"),
            ("WARD_FILTER_UPDATE_PUBLIC_KEY", &public_key),
        ],
    );
    let dns = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward DNS filter listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the DNS filter's address")
        .to_owned();
    let blocked = |name: &str| dig(&dns, &[name, "+short"]).trim() == "192.0.2.250";
    assert!(blocked("casino.test") && !blocked("newcasino.test"));
    let (_, _, session) = log_in(&server.base, "admin", "list download test password");
    let session = session.expect("a session");
    let (_, page) = console_get(&server.base, &session, "/filtering/sources");
    assert!(
        page.contains(&format!(
            "{url}, downloaded over HTTPS and checked against its SHA-256 and its signature, every 24 hours"
        )),
        "{page}"
    );
    let csrf = field(&page, "csrf");
    let update = || {
        console_post(
            &server.base,
            &session,
            "/filtering/sources",
            &[("csrf", &csrf)],
        )
    };

    // The mirror publishes a new site, signed: downloaded, checked and in force.
    publish("casino.test\nnewcasino.test\n", true, true);
    let (status, page) = update();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("in force now"), "{page}");
    assert!(page.contains("signature checked"), "{page}");
    let updated = std::time::Instant::now();
    while !blocked("newcasino.test") && updated.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(blocked("newcasino.test"), "the new site is blocked");

    // An archive that is not the one whose checksum is published: refused.
    publish("casino.test\nnewcasino.test\nthird.test\n", false, true);
    let (status, page) = update();
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("SHA-256"), "{page}");
    // The right checksum but a signature for another archive: refused.
    let old_signature = std::fs::read(www.join("ut1.tar.gz.sig")).expect("signature");
    publish("casino.test\nnewcasino.test\nfourth.test\n", true, false);
    std::fs::write(www.join("ut1.tar.gz.sig"), old_signature).expect("signature");
    let (status, page) = update();
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("does not verify"), "{page}");
    assert!(
        blocked("newcasino.test") && !blocked("fourth.test"),
        "the lists in force stay"
    );
    // Nothing unpacked is left behind (the data folder is `var`, and Ward made it).
    assert!(folder.join("var").is_dir());
    assert!(!folder.join("var/lists-download").exists());
    let audit = console_get(&server.base, &session, "/audit").1;
    assert!(audit.contains("filtering.lists-update"), "{audit}");
    let _ = mirror.kill();
    let _ = mirror.wait();
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

#[test]
fn a_staff_account_on_a_pupil_laptop_and_in_two_places_at_once_are_alerts() {
    let folder = temp_folder("misuse");
    gambling_index(&folder);
    let policy = staff_may_gamble("");
    std::fs::write(folder.join("policy.toml"), policy).expect("policy");
    let secret = "radius test secret 12345";
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "misuse test password"),
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
            ("WARD_RADIUS_LISTEN", "127.0.0.1:0"),
            ("WARD_RADIUS_CLIENTS", "127.0.0.1=radius test secret 12345"),
        ],
    );
    let radius = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward RADIUS accounting listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the RADIUS address")
        .to_owned();
    let (_, _, session) = log_in(&server.base, "admin", "misuse test password");
    let session = session.expect("a session");
    // Mrs Jones is staff; 127.0.0.7 is a pupils' laptop in the device register.
    import_staff(&server.base, &session, &folder, "mrs.jones,Ann,Jones\n");
    let csrf = field(&console_get(&server.base, &session, "/devices").1, "csrf");
    let (status, _) = console_post(
        &server.base,
        &session,
        "/devices",
        &[
            ("csrf", &csrf),
            ("name", "PUPIL-LAPTOP-07"),
            ("network", "127.0.0.7"),
            ("group", "pupils"),
            ("location", "Owl class"),
        ],
    );
    assert_eq!(status, 303);

    // The Wi-Fi says she logged in on the pupils' laptop. (The register reloads at once after
    // the console's change, but under load a packet may come first: until the alert shows,
    // the session is ended and started again, each start a log-in the misuse watch looks at;
    // an interim update would only extend the first.)
    let on_laptop = "User-Name = \"mrs.jones\", Acct-Status-Type = Interim-Update, \
                     Framed-IP-Address = 127.0.0.7, Acct-Session-Id = \"w-1\"\n";
    let start_on_laptop = "User-Name = \"mrs.jones\", Acct-Status-Type = Start, \
                           Framed-IP-Address = 127.0.0.7, Acct-Session-Id = \"w-1\"\n";
    let stop_on_laptop = "User-Name = \"mrs.jones\", Acct-Status-Type = Stop, \
                          Framed-IP-Address = 127.0.0.7, Acct-Session-Id = \"w-1\"\n";
    let wanted = "A staff account (mrs.jones) was used on a pupils";
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    for attempt in 0.. {
        if attempt > 0 {
            assert!(radclient(&radius, secret, stop_on_laptop));
        }
        assert!(radclient(&radius, secret, start_on_laptop));
        if console_get(&server.base, &session, "/alerts")
            .1
            .contains(wanted)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no staff-account alert"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Then the same account at a second address while the first goes on.
    let elsewhere = "User-Name = \"mrs.jones\", Acct-Status-Type = Start, \
                     Framed-IP-Address = 127.0.0.8, Acct-Session-Id = \"w-2\"\n";
    assert!(radclient(&radius, secret, elsewhere));
    let queue = wait_for_alert(
        &server.base,
        &session,
        "account is in use at two places at once: 127.0.0.8 and 127.0.0.7",
    );
    // Each is told once, however often the Wi-Fi repeats itself.
    assert!(radclient(&radius, secret, elsewhere));
    assert!(radclient(&radius, secret, on_laptop));
    std::thread::sleep(Duration::from_millis(500));
    let queue_after = console_get(&server.base, &session, "/alerts").1;
    assert_eq!(queue_after.matches(wanted).count(), 1, "{queue}");
    // (Counted in the summaries: the category column says "Account in use at two places at
    // once" too.)
    assert_eq!(
        queue_after
            .matches("account is in use at two places at once")
            .count(),
        1,
        "{queue_after}"
    );
    // After she logs out at the laptop, a new address is ordinary.
    let stop = "User-Name = \"mrs.jones\", Acct-Status-Type = Stop, \
                Framed-IP-Address = 127.0.0.7, Acct-Session-Id = \"w-1\"\n";
    assert!(radclient(&radius, secret, stop));
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

#[test]
fn domain_computers_sign_on_at_the_proxy_with_kerberos() {
    use ward_testkit::kdc::Kdc;
    let kdc = Kdc::start(&[
        ("mrs.jones", "PASSWORD-mrs.jones"),
        ("visitor", "PASSWORD-visitor"),
    ]);
    let folder = temp_folder("kerberos");
    // Unknown clients must log in; pupils may not gamble, staff may.
    let policy = staff_may_gamble("\n[proxy]\nunknown_clients = \"authenticate\"\n");
    let keytab = kdc.keytab.display().to_string();
    let (server, proxy) = start_with_proxy(
        &folder,
        &policy,
        &[
            ("WARD_ADMIN_PASSWORD", "kerberos test password"),
            ("WARD_PROXY_AUTHENTICATION", "true"),
            ("WARD_PROXY_BASIC_LOGIN", "false"),
            ("WARD_PROXY_KERBEROS_KEYTAB", &keytab),
        ],
    );
    // curl asks for a ticket for HTTP/<the proxy's host name>.
    let proxy = proxy.replace("127.0.0.1", "localhost");
    let (_, _, session) = log_in(&server.base, "admin", "kerberos test password");
    let session = session.expect("a session");
    import_staff(&server.base, &session, &folder, "mrs.jones,Ann,Jones\n");

    let negotiate = |cache: Option<&Path>| {
        let mut command = Command::new("curl");
        command
            .args(["-sS", "-D", "-", "-o", "/dev/null", "--max-time", "20"])
            .args([
                "--proxy-negotiate",
                "-U",
                ":",
                "--proxy",
                &format!("http://{proxy}"),
            ])
            .arg("http://casino.test/spin")
            .env("KRB5_CONFIG", &kdc.config);
        let cache = cache.map_or_else(
            || kdc.folder().join("no-such-cache"),
            std::path::Path::to_path_buf,
        );
        command.env("KRB5CCNAME", format!("FILE:{}", cache.display()));
        let output = command.output().expect("curl");
        let headers = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            !headers.is_empty(),
            "curl answered nothing ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        headers
    };
    let status = |headers: &str| -> u16 {
        headers
            .lines()
            .rfind(|line| line.starts_with("HTTP/"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {headers:?}"))
    };
    // No ticket: asked to log in, with Kerberos only (Basic is off here).
    let headers = negotiate(None);
    assert_eq!(status(&headers), 407, "{headers}");
    let lower = headers.to_lowercase();
    assert!(lower.contains("proxy-authenticate: negotiate"), "{headers}");
    assert!(!lower.contains("basic"), "{headers}");
    // Mrs Jones's computer proves her: staff, so the casino is allowed (and unreachable). She
    // accepted this school year's staff agreement at the portal some time ago.
    agreed_at_the_portal(&folder, &["mrs.jones"]);
    let jones = kdc.kinit("mrs.jones", "PASSWORD-mrs.jones");
    let headers = negotiate(Some(&jones));
    assert_eq!(status(&headers), 502, "{headers}");
    // A domain user Ward does not know is named, in the unknown clients' group: blocked.
    let visitor = kdc.kinit("visitor", "PASSWORD-visitor");
    let headers = negotiate(Some(&visitor));
    assert_eq!(status(&headers), 403, "{headers}");
    // The blocked request names the visitor, and how Ward knew.
    let results = blocked_activity(&server.base, &session, "casino.test", "visitor");
    assert!(
        results.contains("visitor <span class=\"hint\">(domain log-in)</span>"),
        "{results}"
    );
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

/// Issue 26: what waits for staff reaches their inbox. A teacher's incident is emailed to those
/// who manage incidents, a block-page unblock request to those who decide them, and "alert these
/// staff" to the colleague chosen: each once, to the addresses of their accounts, naming no pupil,
/// no site and not the message.
#[test]
fn staff_are_emailed_a_teachers_incident_an_unblock_request_and_a_colleagues_request_to_look() {
    let folder = temp_folder("tell-staff");
    let smtp = SmtpServer::start(&folder);
    let (server, proxy) = start_with_proxy(
        &folder,
        &DNS_POLICY.replace("VERDICT", "unacceptable"),
        &[
            ("WARD_ADMIN_PASSWORD", "tell staff test password"),
            ("WARD_ALERTS_SMTP_SERVER", "127.0.0.1"),
            ("WARD_ALERTS_SMTP_PORT", &smtp.port.to_string()),
            ("WARD_ALERTS_SMTP_SECURITY", "none"),
            ("WARD_ALERTS_SMTP_FROM", "Ward <ward@school.test>"),
            ("WARD_ALERTS_EMAIL_TO", "alerts@school.test"),
            ("WARD_ALERTS_SUMMARY_DAY", "sunday"),
            ("WARD_ALERTS_SUMMARY_TIME", "23:59"),
            ("WARD_ALERTS_CONSOLE_URL", "https://ward.school.test/"),
        ],
    );
    let base = &server.base;
    let (status, _, session) = log_in(base, "admin", "tell staff test password");
    assert_eq!(status, 303);
    let admin = session.expect("a session");
    let (_, page) = console_get(base, &admin, "/accounts");
    let csrf = field(&page, "csrf");
    let set_email = |id: &str, email: &str| {
        let (status, body) = console_post(
            base,
            &admin,
            &format!("/accounts/{id}/email"),
            &[("email", email), ("csrf", &csrf)],
        );
        assert_eq!(status, 303, "{body}");
    };
    set_email("1", "head@school.test");
    let teacher_password = create_account(base, &admin, &csrf, "mr.green", "Mr Green", "teacher");
    create_account(base, &admin, &csrf, "deputy", "Ms Deputy", "dsl");
    set_email("3", "deputy@school.test");

    // A teacher records an incident: the DSL and headteacher are emailed (not the teacher).
    let teacher = first_log_in(base, "mr.green", &teacher_password);
    record_incident(base, &teacher, "Tom had a betting site open in maths");
    let messages = smtp.wait_for(1);
    let incident = messages
        .iter()
        .find(|m| m.contains("Subject: [Ward] Mr Green recorded a pupil incident"))
        .unwrap_or_else(|| panic!("no incident email among {messages:?}"));
    assert!(
        incident.contains("https://ward.school.test/incidents/1"),
        "{incident}"
    );
    assert!(
        incident.contains("X-RcptTo: head@school.test, deputy@school.test")
            || incident.contains("X-RcptTo: deputy@school.test, head@school.test"),
        "{incident}"
    );
    assert!(
        !incident.contains("t.jones") && !incident.contains("betting"),
        "{incident}"
    );

    // A pupil asks at the block page: those who decide requests are emailed, without the site.
    let blocked = "http://casino.test/roulette";
    let (status, page) = curl_through(&proxy, blocked);
    assert_eq!(status, 403, "{page}");
    let token = field(&page, "token");
    assert_eq!(
        post_block_page_form(&proxy, blocked, &token, "unblock", "reason", "For maths"),
        200
    );
    let messages = smtp.wait_for(2);
    let request = messages
        .iter()
        .find(|m| m.contains("Subject: [Ward] New unblock request"))
        .unwrap_or_else(|| panic!("no request email among {messages:?}"));
    assert!(request.contains("Someone at a block page"), "{request}");
    assert!(
        request.contains("https://ward.school.test/unblock/1"),
        "{request}"
    );
    assert!(!request.contains("casino"), "{request}");

    // The DSL asks the deputy to look at the incident.
    let (_, page) = console_get(base, &admin, "/incidents/1");
    assert!(
        page.contains("id=\"tell-3\""),
        "the deputy is offered: {page}"
    );
    assert!(
        !page.contains("id=\"tell-2\""),
        "the teacher cannot open it, so is not"
    );
    let (status, body) = console_post(
        base,
        &admin,
        "/incidents/1/tell",
        &[
            ("to", "3"),
            ("message", "Tom's mum rang, can you follow up?"),
            ("csrf", &field(&page, "csrf")),
        ],
    );
    assert_eq!(status, 303, "{body}");
    let messages = smtp.wait_for(3);
    let asked = messages
        .iter()
        .find(|m| m.contains("Subject: [Ward] Administrator asked you to look at incident 1"))
        .unwrap_or_else(|| panic!("no request to look among {messages:?}"));
    assert!(asked.contains("X-RcptTo: deputy@school.test"), "{asked}");
    assert!(
        !asked.contains("mum rang"),
        "the message stays in Ward: {asked}"
    );

    // Each once: nothing more follows.
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(smtp.messages().len(), 3, "{:?}", smtp.messages());
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    std::fs::remove_dir_all(&folder).expect("clean up");
}

#[test]
fn a_ks1_pupil_reads_the_pictured_agreement_at_the_portal_declines_then_agrees_in_chromium() {
    let folder = temp_folder("ward-agreement");
    gambling_index(&folder);
    let policy = staff_may_gamble("").replace(
        "kind = \"pupil\"\n",
        "kind = \"pupil\"\nyears = [\"R\", \"1\", \"2\"]\n",
    );
    std::fs::write(folder.join("policy.toml"), policy).expect("policy");
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "ward agreement test password"),
            ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
            ("WARD_PROXY_AUTHENTICATION", "true"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
        ],
    );
    let proxy = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward proxy listening on "))
        .expect("the proxy's address")
        .trim()
        .to_owned();
    let (_, _, session) = log_in(&server.base, "admin", "ward agreement test password");
    let session = session.expect("a session");
    import_people(
        &server.base,
        &session,
        &folder,
        "pupil",
        "username,forename,surname,year,class\nlwright1,Lily,Wright,1,1R\n",
    );
    let people = console_get(&server.base, &session, "/people").1;
    let id = people
        .split_once("/password\" aria-label=\"Ward password of lwright1\"")
        .and_then(|(before, _)| before.rsplit("/people/").next())
        .expect("a Password link for Lily")
        .to_owned();
    let page = console_get(&server.base, &session, &format!("/people/{id}/password")).1;
    let (status, page) = console_post(
        &server.base,
        &session,
        &format!("/people/{id}/password"),
        &[("csrf", &field(&page, "csrf")), ("action", "start")],
    );
    assert_eq!(status, 200, "{page}");
    let starting = page
        .split("<strong id=\"starting-password\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the starting password")
        .to_owned();
    let report = |wanted: &str| {
        let page = console_get(&server.base, &session, "/agreements/early-years/report").1;
        assert!(page.contains("Lily Wright"), "{page}");
        assert!(page.contains(wanted), "{wanted}: {page}");
    };
    report("Not yet");

    // Lily logs in at the portal on a phone-sized screen: the youngest children's agreement,
    // large, with a picture for each point.
    let browser = webdriver::Browser::start();
    browser.set_window_size(360, 800);
    let log_in_at_the_portal = || {
        browser.open(&format!("http://{proxy}/ward/login"));
        browser.type_into("#username", "lwright1");
        browser.type_into("#password", &starting);
        browser.click("#login");
        browser.wait_for_text("How we stay safe on computers and tablets");
    };
    log_in_at_the_portal();
    assert!(browser.find_text("#why").contains("with a grown-up"));
    assert_eq!(browser.count("main.pictured"), 1);
    assert_eq!(
        browser.count("#agreement-text svg"),
        6,
        "a picture for each point"
    );
    assert!(
        browser
            .text()
            .contains("I tell a grown-up if I see something that upsets me.")
    );
    let overflow = browser
        .run("return document.documentElement.scrollWidth > document.documentElement.clientWidth");
    assert_eq!(
        overflow,
        serde_json::Value::Bool(false),
        "nothing runs off a phone"
    );
    let axe = ward_testkit::axe::source();
    let found = ward_testkit::axe::violations(&browser, &axe);
    assert!(found.is_empty(), "axe-core: {found:?}");
    let shot = browser.screenshot();
    std::fs::create_dir_all("../../target/tmp").expect("target/tmp");
    std::fs::write("../../target/tmp/portal-agreement-360.png", shot).expect("screenshot");

    // She says no: recorded, and nothing opens.
    browser.click("#decline");
    browser.wait_for_text("You said no");
    assert!(browser.text().contains("Talk to your teacher"));
    let found = ward_testkit::axe::violations(&browser, &axe);
    assert!(found.is_empty(), "axe-core: {found:?}");
    browser.open(&format!("http://{proxy}/ward/login"));
    browser.wait_for_text("Log in");
    assert_eq!(browser.count("#logout"), 0, "no session after saying no");
    report("Declined");

    // Later she agrees; then she makes her own password, and browses as herself.
    log_in_at_the_portal();
    browser.click("#agree");
    browser.wait_for_text("Make a new password");
    browser.type_into("#current", &starting);
    browser.type_into("#new", "blue7whale");
    browser.type_into("#again", "blue7whale");
    browser.click("#save-password");
    browser.wait_for_text("Your new password is saved");
    assert!(browser.find_text("#status").contains("as lwright1"));
    report("Agreed");
    let audit = console_get(&server.base, &session, "/audit?action=agreement").1;
    assert!(audit.contains("agreement.decline"), "{audit}");
    assert!(audit.contains("agreement.accept"), "{audit}");
    assert!(audit.contains("at the portal from"), "{audit}");

    // Logging in again the same school year: straight in, not asked again.
    browser.click("#logout");
    browser.wait_for_text("You are logged out");
    browser.open(&format!("http://{proxy}/ward/login"));
    browser.type_into("#username", "lwright1");
    browser.type_into("#password", "blue7whale");
    browser.click("#login");
    browser.wait_for_text("You are logged in");
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

#[test]
fn a_parent_endorses_from_the_emailed_link_on_a_phone_gives_website_consent_then_withdraws_it() {
    let folder = temp_folder("ward-parents");
    let smtp = SmtpServer::start(&folder);
    let port = free_port().to_string();
    let console = format!("http://127.0.0.1:{port}");
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "parents test password"),
            ("WARD_CONSOLE_LISTEN", &format!("127.0.0.1:{port}")),
            ("WARD_ALERTS_CONSOLE_URL", &console),
            ("WARD_ALERTS_SMTP_SERVER", "127.0.0.1"),
            ("WARD_ALERTS_SMTP_PORT", &smtp.port.to_string()),
            ("WARD_ALERTS_SMTP_SECURITY", "none"),
            ("WARD_ALERTS_SMTP_FROM", "Ward <ward@school.test>"),
            ("WARD_ALERTS_SUMMARY_DAY", "sunday"),
            ("WARD_ALERTS_SUMMARY_TIME", "23:59"),
        ],
    );
    let base = &server.base;
    let (_, _, session) = log_in(base, "admin", "parents test password");
    let session = session.expect("a session");
    import_people(
        base,
        &session,
        &folder,
        "pupil",
        "username,forename,surname,year,class,upn\nlwright4,Lily,Wright,4,4W,A123\nj.smith,Jo,Smith,4,4W,A124\n",
    );
    // Links emailed from a pasted list; a bad line is said and nothing is sent for it.
    let page = console_get(base, &session, "/parents").1;
    let (status, page) = console_post(
        base,
        &session,
        "/parents/email",
        &[
            ("csrf", &field(&page, "csrf")),
            (
                "pairs",
                "A123, kate.wright@families.test\nnobody, x@families.test\nj.smith, not-an-address",
            ),
        ],
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("1 links emailed."), "{page}");
    assert!(page.contains("no pupil has the username or UPN"), "{page}");
    assert!(page.contains("is not an email address"), "{page}");
    let link_in = |message: &str| {
        let text = message.replace("=3D", "=");
        text.split(&format!("{console}/parent?key="))
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(|key| format!("{console}/parent?key={key}"))
            .unwrap_or_else(|| panic!("no link in {message}"))
    };
    let messages = smtp.wait_for(1);
    let first = messages
        .iter()
        .find(|m| m.contains("kate.wright@families.test"))
        .unwrap_or_else(|| panic!("no email to the parent among {messages:?}"));
    assert!(
        first.contains("Dear parent or carer of Lily Wright"),
        "{first}"
    );
    let link = link_in(first);

    // On a phone: she reads, endorses, and agrees to the school website only.
    let browser = webdriver::Browser::start();
    browser.set_window_size(360, 780);
    let answer = |link: &str, website: &str| {
        browser.open(link);
        browser.wait_for_text("Photographs and videos");
        assert!(browser.text().contains("How we stay safe online"));
        browser.click("#endorse");
        for purpose in [
            "website",
            "social-media",
            "newsletter",
            "press",
            "displays",
            "video",
        ] {
            let choice = if purpose == "website" { website } else { "no" };
            browser.click(&format!("#{purpose}-{choice}"));
        }
        browser.type_into("#parent_name", "Kate Wright");
        let overflow = browser.run(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth",
        );
        assert_eq!(overflow, serde_json::Value::Bool(false), "fits a phone");
        let axe = ward_testkit::axe::source();
        let found = ward_testkit::axe::violations(&browser, &axe);
        assert!(found.is_empty(), "axe-core: {found:?}");
        browser.click("#send-answers");
        browser.wait_for_text("Thank you");
    };
    answer(&link, "yes");
    assert!(browser.text().contains("The school website: yes"));
    let shot = browser.screenshot();
    std::fs::create_dir_all("../../target/tmp").expect("target/tmp");
    std::fs::write("../../target/tmp/parent-thanks-360.png", shot).expect("screenshot");

    // At once: the class list and the publish check say Lily may appear on the website only.
    let list = console_get(base, &session, "/consent?class=4W&purpose=website").1;
    assert!(
        !list.contains("Lily Wright") && list.contains("Jo Smith"),
        "{list}"
    );
    let check = |purpose: &str| {
        let page = console_get(base, &session, "/consent/check").1;
        let csrf = field(&page, "csrf");
        let output = Command::new("curl")
            .args(["-s", "-b"])
            .arg(format!("ward_session={session}"))
            .args([
                "-F",
                &format!("purpose={purpose}"),
                "-F",
                "names=Lily Wright",
            ])
            .arg(format!("{base}/consent/check?csrf={csrf}"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let page = check("website");
    let may = page.split("id=\"may\"").nth(1).unwrap_or_default();
    assert!(may.contains("Lily Wright"), "{page}");
    assert!(check("newsletter").contains("Refused or withdrawn"));
    // The same link again: used.
    browser.open(&link);
    browser.wait_for_text("This link has been used");

    // A reminder goes to nobody (she answered); later the school sends a new link, and she
    // withdraws the website too.
    let page = console_get(base, &session, "/parents").1;
    let (_, page) = console_post(
        base,
        &session,
        "/parents/remind",
        &[("csrf", &field(&page, "csrf"))],
    );
    assert!(page.contains("0 reminders emailed."), "{page}");
    let page = console_get(base, &session, "/parents").1;
    console_post(
        base,
        &session,
        "/parents/email",
        &[
            ("csrf", &field(&page, "csrf")),
            ("pairs", "lwright4, kate.wright@families.test"),
        ],
    );
    let messages = smtp.wait_for(2);
    let second = messages
        .iter()
        .map(|m| link_in(m))
        .find(|other| *other != link)
        .expect("a second link");
    answer(&second, "no");
    let list = console_get(base, &session, "/consent?class=4W&purpose=website").1;
    assert!(list.contains("Lily Wright"), "withdrawn: {list}");
    assert!(check("website").contains("Refused or withdrawn"));
    let audit = console_get(base, &session, "/audit?action=parents").1;
    assert!(audit.contains("parents.answer"), "{audit}");
    assert!(audit.contains("Kate Wright endorsed"), "{audit}");
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

/// `usernames` (people, or console accounts) accepted this school year's agreement written for
/// them, as they would have at the portal.
fn agreed_at_the_portal(folder: &Path, usernames: &[&str]) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = ward_store::Store::open(
            &format!("sqlite://{}", folder.join("var/ward.db").display()),
            &ward_store::OpenOptions::default(),
        )
        .await
        .expect("the database");
        let school = ward_store::SchoolId(1);
        let today = jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").expect("zone"))
            .date();
        let year = ward_records::school_year(today.year(), today.month(), today.day(), (9, 1));
        for username in usernames {
            let (signer, readers) = match store
                .person_by_username(school, username)
                .await
                .expect("query")
            {
                Some(person) => (
                    ward_store::Signer::Person(person.id),
                    ward_records::Readers::for_person(
                        person.kind.as_str(),
                        person.year_group.as_deref(),
                    ),
                ),
                None => {
                    let account = store
                        .account_by_username(username)
                        .await
                        .expect("query")
                        .unwrap_or_else(|| panic!("nobody is {username}"));
                    (
                        ward_store::Signer::Account(account.id),
                        ward_records::Readers::Staff,
                    )
                }
            };
            let agreement = store
                .agreement_in_force(school, readers)
                .await
                .expect("agreement");
            store
                .answer_agreement(school, &agreement, signer, username, true, year, "portal")
                .await
                .expect("agreed");
        }
        store.close().await;
    });
}

#[test]
fn those_who_manage_training_are_emailed_once_when_a_course_is_due_again() {
    let folder = temp_folder("ward-training");
    let smtp = SmtpServer::start(&folder);
    let server = Server::start(
        &folder,
        &[
            ("WARD_ADMIN_PASSWORD", "training test password"),
            ("WARD_ALERTS_SMTP_SERVER", "127.0.0.1"),
            ("WARD_ALERTS_SMTP_PORT", &smtp.port.to_string()),
            ("WARD_ALERTS_SMTP_SECURITY", "none"),
            ("WARD_ALERTS_SMTP_FROM", "Ward <ward@school.test>"),
            ("WARD_ALERTS_SUMMARY_DAY", "sunday"),
            ("WARD_ALERTS_SUMMARY_TIME", "23:59"),
        ],
    );
    let base = &server.base;
    let (_, _, session) = log_in(base, "admin", "training test password");
    let session = session.expect("a session");
    let page = console_get(base, &session, "/accounts").1;
    let (status, body) = console_post(
        base,
        &session,
        "/accounts/1/email",
        &[
            ("email", "head@school.test"),
            ("csrf", &field(&page, "csrf")),
        ],
    );
    assert_eq!(status, 303, "{body}");
    import_people(
        base,
        &session,
        &folder,
        "staff",
        "username,forename,surname\nmrs.jones,Ann,Jones\nmr.green,Tom,Green\n",
    );
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").expect("zone"))
        .date();
    let soon = today.checked_add(jiff::Span::new().days(10)).expect("date");
    let later = today
        .checked_add(jiff::Span::new().days(200))
        .expect("date");
    for (who, due) in [("mrs.jones", soon), ("mr.green", later)] {
        let page = console_get(base, &session, "/training").1;
        let (status, body) = console_post(
            base,
            &session,
            "/training",
            &[
                ("csrf", &field(&page, "csrf")),
                ("person", who),
                ("course", "Online safety (annual)"),
                ("completed_on", &today.to_string()),
                ("renewal_due", &due.to_string()),
                ("evidence", "CPD log"),
            ],
        );
        assert_eq!(status, 303, "{body}");
    }
    let messages = smtp.wait_for(1);
    let reminder = messages
        .iter()
        .find(|m| m.contains("Staff training due again"))
        .unwrap_or_else(|| panic!("no reminder among {messages:?}"));
    assert!(reminder.contains("head@school.test"), "{reminder}");
    assert!(
        reminder.contains(&format!(
            "Ann Jones: Online safety (annual), due again on {soon}"
        )),
        "{reminder}"
    );
    assert!(
        !reminder.contains("Tom Green"),
        "not due within 30 days: {reminder}"
    );
    // Told once: the next rounds of the notifier send nothing more.
    std::thread::sleep(Duration::from_secs(11));
    let reminders = smtp
        .messages()
        .iter()
        .filter(|m| m.contains("Staff training due again"))
        .count();
    assert_eq!(reminders, 1);
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

#[test]
fn a_parents_link_unanswered_for_a_week_is_followed_by_a_reminder() {
    let folder = temp_folder("ward-parent-reminder");
    let smtp = SmtpServer::start(&folder);
    let port = smtp.port.to_string();
    let environment = [
        ("WARD_ADMIN_PASSWORD", "reminder test password"),
        ("WARD_ALERTS_SMTP_SERVER", "127.0.0.1"),
        ("WARD_ALERTS_SMTP_PORT", port.as_str()),
        ("WARD_ALERTS_SMTP_SECURITY", "none"),
        ("WARD_ALERTS_SMTP_FROM", "Ward <ward@school.test>"),
        ("WARD_ALERTS_SUMMARY_DAY", "sunday"),
        ("WARD_ALERTS_SUMMARY_TIME", "23:59"),
    ];
    let server = Server::start(&folder, &environment);
    let base = server.base.clone();
    let (_, _, session) = log_in(&base, "admin", "reminder test password");
    let session = session.expect("a session");
    import_people(
        &base,
        &session,
        &folder,
        "pupil",
        "username,forename,surname,year,class\nlwright4,Lily,Wright,4,4W\n",
    );
    let page = console_get(&base, &session, "/parents").1;
    let (status, page) = console_post(
        &base,
        &session,
        "/parents/email",
        &[
            ("csrf", &field(&page, "csrf")),
            ("pairs", "lwright4, kate.wright@families.test"),
        ],
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(smtp.wait_for(1).len(), 1);
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    // A week and a day pass without an answer.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect(&format!(
            "sqlite://{}",
            folder.join("var/ward.db").display()
        ))
        .await
        .expect("the database");
        let eight_days = 8 * 24 * 3600 * 1_000_000_i64;
        sqlx::query("UPDATE parent_links SET created_at = created_at - $1")
            .bind(eight_days)
            .execute(&mut connection)
            .await
            .expect("aged");
    });
    let server = Server::start(&folder, &environment);
    let messages = smtp.wait_for(2);
    let reminder = messages
        .iter()
        .find(|m| m.contains("Reminder from"))
        .unwrap_or_else(|| panic!("no reminder among {messages:?}"));
    assert!(reminder.contains("kate.wright@families.test"), "{reminder}");
    assert!(reminder.contains("/parent?key="), "{reminder}");
    // The new link is fresh: no more reminders now.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(smtp.messages().len(), 2);
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

/// One value from an SQLite database (the tests' own SQL).
fn sqlite_value<T>(path: &Path, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
{
    let database = format!("sqlite://{}", path.display());
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            use sqlx::{Connection, Row};
            let mut connection = sqlx::SqliteConnection::connect(&database)
                .await
                .expect("open");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut connection)
                .await
                .expect("query")
                .try_get(0)
                .expect("a value")
        })
}

fn sqlite_number(path: &Path, sql: &str) -> i64 {
    sqlite_value(path, sql)
}

fn sqlite_text(path: &Path, sql: &str) -> String {
    sqlite_value::<Option<String>>(path, sql).unwrap_or_default()
}

/// GET `url` with no proxy: the status and the body.
fn plain_get(url: &str) -> (u16, String) {
    let mut response = agent()
        .get(url)
        .call()
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    (
        response.status().as_u16(),
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// The value of one sample (`name` with its labels, as written) in a Prometheus scrape.
fn sample(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no sample {name} in:\n{scrape}"))
        .trim()
        .parse()
        .expect("a number")
}

/// Runs wrk for `seconds` with `connections` against the proxy at `proxy`, every request for
/// `url`; returns how many requests completed.
fn wrk_through(proxy: &str, url: &str, host: &str, seconds: u32, folder: &Path) -> u64 {
    let script = folder.join("request.lua");
    std::fs::write(
        &script,
        format!(
            "request = function()\n    return wrk.format(\"GET\", \"{url}\", {{ Host = \"{host}\" }})\nend\n"
        ),
    )
    .expect("script");
    let output = Command::new("wrk")
        .args(["-t1", "-c4", &format!("-d{seconds}s"), "-s"])
        .arg(&script)
        .arg(format!("http://{proxy}"))
        .output()
        .expect("wrk runs (Debian package wrk)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}");
    text.lines()
        .find_map(|line| line.trim().split_once(" requests in "))
        .and_then(|(count, _)| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"))
}

/// Issue 28, metrics and health: the endpoint is up before anything else, `/readyz` and
/// systemd's readiness say "not ready" while the database is held and "ready" once Ward
/// filters; after a bounded load (dnsperf, wrk) the scraped counts agree with the clients' and
/// with the database's; the log is JSON lines when asked.
#[test]
fn metrics_and_readiness_follow_start_up_and_agree_with_the_database_under_load() {
    use std::os::unix::net::UnixDatagram;
    let folder = temp_folder("metrics");
    gambling_index(&folder);
    std::fs::write(
        folder.join("policy.toml"),
        DNS_POLICY.replace("VERDICT", "unacceptable"),
    )
    .expect("policy");
    std::fs::create_dir_all(folder.join("var")).expect("data folder");
    let database = folder.join("var/ward.db");
    let notify_path = folder.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    notify.set_nonblocking(true).expect("non-blocking");

    // Someone holds the database: Ward waits for it (busy, up to 10 s) before it can filter.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut holder = hold_database(&runtime, &database);

    let mut child = ward(&folder)
        .arg("serve")
        .envs([
            ("WARD_CONSOLE_LISTEN", "127.0.0.1:0"),
            ("WARD_DNS_LISTEN", "127.0.0.1:0"),
            ("WARD_DNS_UPSTREAM", "127.0.0.1:9"),
            ("WARD_DNS_CLIENT_QPS", "0"),
            ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
            ("WARD_METRICS_LISTEN", "127.0.0.1:0"),
            ("WARD_LOG_FORMAT", "json"),
        ])
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ward serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = Vec::new();
    let metrics = loop {
        let line = lines
            .next()
            .expect("Ward printed its metrics address")
            .expect("stdout");
        if let Some(address) = line.strip_prefix("Ward metrics listening on ") {
            break address.trim().trim_end_matches('/').to_owned();
        }
        printed.push(line);
    };
    assert_eq!(
        plain_get(&format!("{metrics}/healthz")),
        (200, "alive\n".into())
    );
    let (status, body) = plain_get(&format!("{metrics}/readyz"));
    assert_eq!(status, 503, "not ready while the database is held");
    assert_eq!(body, "not ready: opening the database\n");
    let mut buffer = [0u8; 256];
    assert!(
        notify.recv(&mut buffer).is_err(),
        "systemd is not told READY before Ward filters"
    );
    let scrape = plain_get(&format!("{metrics}/metrics")).1;
    assert_eq!(sample(&scrape, "ward_ready"), 0.0, "{scrape}");

    runtime.block_on(async {
        use sqlx::Connection;
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut holder)
            .await
            .expect("unlock");
        holder.close().await.expect("close");
    });
    let console = loop {
        let line = lines.next().expect("the console's line").expect("stdout");
        if let Some(address) = line.strip_prefix("Ward console listening on ") {
            break address.trim().trim_end_matches('/').to_owned();
        }
        printed.push(line);
    };
    let server = Server {
        child,
        base: console,
        printed,
    };
    notify.set_nonblocking(false).expect("blocking");
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("time-out");
    let length = notify.recv(&mut buffer).expect("READY=1 arrives");
    assert_eq!(&buffer[..length], b"READY=1");
    let (status, body) = plain_get(&format!("{metrics}/readyz"));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("ready: filtering with policy version "),
        "{body}"
    );

    let dns = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward DNS filter listening on "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the DNS filter's address")
        .to_owned();
    let proxy = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward proxy listening on "))
        .expect("the proxy's address")
        .trim()
        .to_owned();

    // A bounded load: 2,000 blocked DNS queries with dnsperf, two seconds of blocked proxy
    // requests with wrk.
    let queries = folder.join("queries.txt");
    let mut text = String::new();
    for n in 0..1000 {
        text.push_str(&format!("casino.test A\nwww{n}.casino.test AAAA\n"));
    }
    std::fs::write(&queries, text).expect("queries");
    let (dns_host, dns_port) = dns.rsplit_once(':').expect("ADDRESS:PORT");
    let output = Command::new("dnsperf")
        .args([
            "-s", dns_host, "-p", dns_port, "-n", "1", "-c", "1", "-t", "5", "-d",
        ])
        .arg(&queries)
        .output()
        .expect("dnsperf runs (Debian package dnsperf)");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{report}");
    let completed: u64 = report
        .lines()
        .find_map(|line| line.trim().strip_prefix("Queries completed:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("dnsperf's report:\n{report}"));
    assert_eq!(completed, 2000, "{report}");
    let requests = wrk_through(&proxy, "http://casino.test/spin", "casino.test", 2, &folder);
    assert!(requests > 100, "wrk completed {requests} requests");

    // The scrape agrees with the clients at once, and with the database once the events are
    // written (blocked repeats are folded and flushed every few seconds).
    let scrape = plain_get(&format!("{metrics}/metrics")).1;
    assert_eq!(
        sample(&scrape, "ward_dns_queries_total{verdict=\"blocked\"}"),
        2000.0,
        "{scrape}"
    );
    assert_eq!(sample(&scrape, "ward_dns_latency_seconds_count"), 2000.0);
    let proxy_blocked = sample(&scrape, "ward_proxy_requests_total{verdict=\"blocked\"}");
    // wrk counts the requests it saw answered; up to one per connection may have been cut off
    // in flight when it stopped.
    assert!(
        (requests as f64..=requests as f64 + 4.0).contains(&proxy_blocked),
        "wrk {requests}, metrics {proxy_blocked}"
    );
    assert_eq!(
        sample(&scrape, "ward_proxy_latency_seconds_count"),
        sample(&scrape, "ward_proxy_requests_total{verdict=\"blocked\"}")
    );
    assert_eq!(sample(&scrape, "ward_database_up"), 1.0);
    assert!(scrape.contains("# TYPE ward_dns_latency_seconds histogram"));
    assert!(sample(&scrape, "ward_policy_version") >= 1.0);
    assert!(sample(&scrape, "ward_index_keys") >= 1.0);

    let in_database = |source: &str| {
        sqlite_number(
            &database,
            &format!(
                "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM events WHERE action = 'block' AND source = '{source}'"
            ),
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (scrape, dns_rows, proxy_rows) = loop {
        let scrape = plain_get(&format!("{metrics}/metrics")).1;
        let (dns_rows, proxy_rows) = (in_database("dns"), in_database("proxy"));
        if (dns_rows + proxy_rows) as f64 == sample(&scrape, "ward_events_written_total")
            && sample(&scrape, "ward_events_waiting") == 0.0
            && dns_rows == 2000
            || std::time::Instant::now() > deadline
        {
            break (scrape, dns_rows, proxy_rows);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        dns_rows as f64,
        sample(&scrape, "ward_dns_queries_total{verdict=\"blocked\"}")
    );
    assert_eq!(
        proxy_rows as f64,
        sample(&scrape, "ward_proxy_requests_total{verdict=\"blocked\"}"),
        "{scrape}"
    );
    assert_eq!(
        (dns_rows + proxy_rows) as f64,
        sample(&scrape, "ward_events_written_total")
    );
    assert_eq!(sample(&scrape, "ward_events_dropped_total"), 0.0);

    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    let length = notify.recv(&mut buffer).expect("STOPPING=1 arrives");
    assert_eq!(&buffer[..length], b"STOPPING=1");
    // log.format = "json": every line is one JSON object with a level and a message.
    let lines: Vec<&str> = log.lines().filter(|line| !line.is_empty()).collect();
    assert!(lines.len() > 3, "{log}");
    for line in &lines {
        assert!(
            line.starts_with('{') && line.ends_with('}') && line.contains("\"level\":"),
            "not a JSON log line: {line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|line| line.contains("\"message\":\"Ward started\"")),
        "{log}"
    );
}

/// Runs `ward ARGUMENTS` in `folder` with `environment`: the exit code and what it printed
/// (standard output, then standard error).
fn ward_run(folder: &Path, arguments: &[&str], environment: &[(&str, &str)]) -> (i32, String) {
    let output = ward(folder)
        .args(arguments)
        .envs(environment.iter().copied())
        .output()
        .expect("ward runs");
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// Issue 28, backup and restore: a backup taken while wrk loads the proxy restores into an
/// empty folder; the restored Ward has every event the database had when the backup began
/// (and none that were never made), the same alerts, and an audit chain that verifies against
/// its checkpoints. A damaged archive, one from a newer schema and a folder in use are refused,
/// and nothing is changed.
#[test]
fn a_backup_taken_under_load_restores_into_an_empty_folder_with_its_events_alerts_incidents_and_audit_chain()
 {
    let folder = temp_folder("backup");
    let policy = DNS_POLICY.replace(
        "verdict = \"VERDICT\"",
        "verdict = \"unacceptable\"\nalert = 3",
    );
    let (server, proxy) = start_with_proxy(
        &folder,
        &policy,
        &[
            ("WARD_METRICS_LISTEN", "127.0.0.1:0"),
            ("WARD_ADMIN_PASSWORD", "backup test password"),
        ],
    );
    // An incident recorded by a teacher, before the backup.
    let base = &server.base;
    let (status, _, session) = log_in(base, "admin", "backup test password");
    assert_eq!(status, 303);
    let admin = session.expect("a session");
    let (_, page) = console_get(base, &admin, "/accounts");
    let password = create_account(
        base,
        &admin,
        &field(&page, "csrf"),
        "mr.green",
        "Mr Green",
        "teacher",
    );
    let teacher = first_log_in(base, "mr.green", &password);
    record_incident(base, &teacher, "Tom had a betting site open in maths");
    let metrics = server
        .printed
        .iter()
        .find_map(|line| line.strip_prefix("Ward metrics listening on "))
        .expect("the metrics address")
        .trim()
        .trim_end_matches('/')
        .to_owned();
    // Same settings as the running Ward (the data folder is var/ beside lists.idx).
    let settings = [
        ("WARD_FILTER_INDEX", "lists.idx"),
        ("WARD_FILTER_POLICY", "policy.toml"),
    ];
    let (status, _) = curl_through(&proxy, "http://casino.test/first");
    assert_eq!(status, 403);
    // The first blocked attempt is an alert, and in the database, before the load starts.
    let database = folder.join("var/ward.db");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sqlite_number(&database, "SELECT COUNT(*) FROM alerts") == 0 {
        assert!(std::time::Instant::now() < deadline, "no alert was raised");
        std::thread::sleep(Duration::from_millis(200));
    }

    let load = {
        let (proxy, folder) = (proxy.clone(), folder.clone());
        std::thread::spawn(move || {
            wrk_through(&proxy, "http://casino.test/spin", "casino.test", 4, &folder)
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let before = sample(
        &plain_get(&format!("{metrics}/metrics")).1,
        "ward_events_written_total",
    );
    let (code, said) = ward_run(&folder, &["backup", "backup.tar.gz"], &settings);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("Backed up "), "{said}");
    let requests = load.join().expect("wrk");
    assert!(requests > 100, "{requests}");
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    let original_total = sqlite_number(
        &database,
        "SELECT CAST(SUM(requests) AS BIGINT) FROM events WHERE action = 'block'",
    );
    let alerts_sql = "SELECT group_concat(id || ' ' || category || ' ' || severity, ', ') FROM (SELECT * FROM alerts ORDER BY id)";
    let audit_sql = "SELECT group_concat(hash, ' ') FROM (SELECT hash FROM audit_log ORDER BY id)";
    let original_alerts = sqlite_text(&database, alerts_sql);
    let original_audit = sqlite_text(&database, audit_sql);
    let archive = folder.join("backup.tar.gz");
    let bytes = std::fs::read(&archive).expect("archive");

    // Refused, and nothing changed: a damaged archive, a newer schema, a folder in use.
    let fresh = temp_folder("restore-damaged");
    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    std::fs::write(fresh.join("damaged.tar.gz"), &damaged).expect("write");
    let (code, said) = ward_run(&fresh, &["restore", "damaged.tar.gz"], &settings);
    assert_ne!(code, 0, "{said}");
    assert!(
        said.contains("cannot be restored; nothing was changed"),
        "{said}"
    );
    assert!(!fresh.join("var/ward.db").exists() && !fresh.join("lists.idx").exists());

    let newer = temp_folder("restore-newer");
    let unpacked = newer.join("unpacked");
    std::fs::create_dir_all(&unpacked).expect("folder");
    let tar = |arguments: &[&str], at: &Path| {
        let status = Command::new("tar")
            .args(arguments)
            .current_dir(at)
            .status()
            .expect("tar runs");
        assert!(status.success());
    };
    tar(&["-xzf", archive.to_str().expect("UTF-8")], &unpacked);
    let manifest = std::fs::read_to_string(unpacked.join("manifest.json")).expect("manifest");
    let version_at = manifest
        .find("\"schema_version\": ")
        .expect("schema version")
        + 18;
    let digits = manifest[version_at..]
        .find(|c: char| !c.is_ascii_digit())
        .expect("end");
    std::fs::write(
        unpacked.join("manifest.json"),
        format!(
            "{}9999{}",
            &manifest[..version_at],
            &manifest[version_at + digits..]
        ),
    )
    .expect("manifest");
    // The same files in the same order, the manifest last, as Ward writes them.
    let mut names: Vec<String> = Vec::new();
    for line in manifest.lines() {
        if let Some(name) = line.trim().strip_prefix("\"name\": \"") {
            names.push(
                name.trim_end_matches("\",")
                    .trim_end_matches('"')
                    .to_owned(),
            );
        }
    }
    names.push("manifest.json".into());
    let mut arguments = vec!["-czf", "../newer.tar.gz", "--no-recursion"];
    arguments.extend(names.iter().map(String::as_str));
    tar(&arguments, &unpacked);
    let (code, said) = ward_run(&newer, &["restore", "newer.tar.gz"], &settings);
    assert_ne!(code, 0, "{said}");
    assert!(said.contains("from a newer Ward"), "{said}");
    assert!(
        !newer.join("var").exists(),
        "nothing was unpacked into place"
    );

    let (code, said) = ward_run(&folder, &["restore", "backup.tar.gz"], &settings);
    assert_ne!(code, 0, "{said}");
    assert!(said.contains("is not empty"), "{said}");

    // Restored into an empty folder: the audit chain verifies as it is, and again after the
    // restored Ward has run and written the journal's events.
    let restored = temp_folder("restored");
    std::fs::write(restored.join("policy.toml"), &policy).expect("policy");
    let (code, said) = ward_run(
        &restored,
        &["restore", archive.to_str().expect("UTF-8")],
        &settings,
    );
    assert_eq!(code, 0, "{said}");
    assert!(restored.join("lists.idx").exists(), "the index is restored");
    assert_eq!(
        audit_verify(&restored).0,
        0,
        "{}",
        audit_verify(&restored).1
    );
    let server = Server::start(
        &restored,
        &[
            ("WARD_PROXY_LISTEN", "127.0.0.1:0"),
            ("WARD_FILTER_INDEX", "lists.idx"),
            ("WARD_FILTER_POLICY", "policy.toml"),
        ],
    );
    let restored_database = restored.join("var/ward.db");
    // The journal's events reach the database.
    std::thread::sleep(Duration::from_secs(3));
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    let (code, said) = audit_verify(&restored);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("chain intact"), "{said}");
    let restored_total = sqlite_number(
        &restored_database,
        "SELECT CAST(SUM(requests) AS BIGINT) FROM events WHERE action = 'block'",
    );
    assert!(
        (before as i64..=original_total).contains(&restored_total),
        "the database had {before} requests when the backup began and {original_total} at the end; the restored one has {restored_total}"
    );
    // The one alert (folded repeats of the same attempts), and the audit chain the original
    // had when the backup was taken: its beginning, entry for entry.
    assert_eq!(sqlite_text(&restored_database, alerts_sql), original_alerts);
    assert!(!original_alerts.is_empty());
    let restored_audit = sqlite_text(&restored_database, audit_sql);
    assert!(
        !restored_audit.is_empty() && original_audit.starts_with(&restored_audit),
        "restored {restored_audit}\noriginal {original_audit}"
    );
}

/// The administrator creates a console account; returns its one-time password.
fn create_account(
    base: &str,
    admin: &str,
    csrf: &str,
    username: &str,
    name: &str,
    role: &str,
) -> String {
    let (status, page) = console_post(
        base,
        admin,
        "/accounts",
        &[
            ("username", username),
            ("display_name", name),
            ("roles", role),
            ("csrf", csrf),
        ],
    );
    assert_eq!(status, 200, "{page}");
    page.split("<code>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the one-time password")
        .to_owned()
}

/// A new account's first log-in: a password of its own, then this school year's staff
/// agreement; returns the session.
fn first_log_in(base: &str, username: &str, one_time_password: &str) -> String {
    let (_, _, session) = log_in(base, username, one_time_password);
    let session = session.expect("a session");
    let (_, page) = console_get(base, &session, "/account/password");
    let new_password = "cobalt lantern orchard ninety";
    let (status, body) = console_post(
        base,
        &session,
        "/account/password",
        &[
            ("current", one_time_password),
            ("new", new_password),
            ("confirm", new_password),
            ("csrf", &field(&page, "csrf")),
        ],
    );
    assert_eq!(status, 303, "{body}");
    accept_staff_agreement(base, &session);
    session
}

/// Records a pupil incident about t.jones with `evidence`, reported by Mr Green.
fn record_incident(base: &str, session: &str, evidence: &str) {
    let (_, page) = console_get(base, session, "/incidents/new");
    let (status, body) = console_post(
        base,
        session,
        "/incidents",
        &[
            ("kind", "pupil:non-educational-sites"),
            ("username", "t.jones"),
            ("evidence", evidence),
            ("reported_by", "Mr Green"),
            ("csrf", &field(&page, "csrf")),
        ],
    );
    assert_eq!(status, 303, "{body}");
}

/// Another program takes the SQLite database's write lock (making the file if there is none)
/// and holds it until the connection ends its transaction.
fn hold_database(runtime: &tokio::runtime::Runtime, database: &Path) -> sqlx::SqliteConnection {
    runtime.block_on(async {
        use sqlx::Connection;
        let mut connection =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", database.display()))
                .await
                .expect("open");
        sqlx::raw_sql("BEGIN EXCLUSIVE")
            .execute(&mut connection)
            .await
            .expect("lock");
        connection
    })
}
