//! Test fixtures for the console: a real console served on 127.0.0.1 (its own runtime, on a
//! fresh SQLite store with a school, people, events and one account per role), and a small HTTP
//! client that keeps cookies and reads CSRF tokens out of pages as a browser would.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;

use jiff::Timestamp;
use ward_console::{AppState, ConsoleConfig};
use ward_store::{
    Disposition, Event, EventAlert, NewAccount, NewGroup, OpenOptions, PersonKind, Roles, SchoolId,
    Source, Store,
};

/// Every test account's password.
pub const PASSWORD: &str = "correct horse battery";

pub use ward_testkit::temp_folder;

/// A console running on its own runtime until dropped.
pub struct Console {
    pub base: String,
    pub store: Store,
    pub school: SchoolId,
    pub other_school: SchoolId,
    pub runtime: tokio::runtime::Runtime,
    server: tokio::task::JoinHandle<()>,
    /// The sign-in code steps each account used (a code is good once).
    codes: ward_testkit::totp::Codes,
}

/// The authenticator secret the fixture's DSL and headteacher accounts have set up (the
/// roles that need a code at sign-in).
pub const TOTP_SECRET: &[u8; 20] = b"ward-test-totp-12345";

/// Whether the fixture's account `username` signs in with a code.
pub fn needs_code(username: &str) -> bool {
    matches!(username, "dsl" | "head" | "other.dsl")
}

impl Drop for Console {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn groups() -> Vec<NewGroup> {
    let group = |name: &str, kind, years: &[&str]| NewGroup {
        name: name.into(),
        label: name.to_uppercase(),
        kind,
        year_groups: years.iter().map(|year| year.to_string()).collect(),
    };
    vec![
        group("eyfs", PersonKind::Pupil, &["N", "R"]),
        group("ks1", PersonKind::Pupil, &["1", "2"]),
        group("ks2", PersonKind::Pupil, &["3", "4"]),
        group("uks2", PersonKind::Pupil, &["5", "6"]),
        group("staff", PersonKind::Staff, &[]),
        group("guests", PersonKind::Guest, &[]),
    ]
}

/// The roles of the fixture's accounts, by username.
pub const ACCOUNTS: &[(&str, &str)] = &[
    ("dsl", "dsl"),
    ("head", "headteacher"),
    ("tech", "technician"),
    ("teacher", "teacher"),
    ("governor", "governor"),
];

impl Console {
    /// Starts a console with Park End's groups, pupils Jo Smith (Year 4) and Sam Ng (Year 6),
    /// two blocked attempts by Jo today, and one account per role; a second school has its own
    /// pupil (Other Child) and account `other.dsl`.
    pub fn start() -> Console {
        Console::start_with(ConsoleConfig::default())
    }

    /// [`Console::start`] with `config`.
    pub fn start_with(config: ConsoleConfig) -> Console {
        Console::start_with_filter(config, None)
    }

    /// [`Console::start_with`], with `filter` as the gateway in the same process.
    pub fn start_with_filter(
        config: ConsoleConfig,
        filter: Option<std::sync::Arc<dyn ward_console::FilterHooks>>,
    ) -> Console {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let folder = temp_folder("store");
        let url = format!("sqlite://{}", folder.join("ward.db").display());
        let (store, school, other_school, listener) = runtime.block_on(async {
            let store = Store::open_and_migrate(&url, &OpenOptions::default())
                .await
                .expect("store");
            let school = store
                .create_school("Park End Primary School", "park-end")
                .await
                .expect("school");
            let other_school = store
                .create_school("Other School", "other")
                .await
                .expect("school");
            for id in [school, other_school] {
                store.ensure_groups(id, &groups()).await.expect("groups");
                store
                    .add_policy_version(
                        id,
                        ward_policy::DEFAULT_POLICY,
                        ward_store::PolicySource::Builtin,
                        "Ward's default policy, at first start",
                        "ward",
                        jiff::Timestamp::now(),
                    )
                    .await
                    .expect("policy");
            }
            let hash = ward_console::auth::hash_password(PASSWORD).expect("hash");
            // The fixture's staff have accepted this school year's staff agreement, as a
            // school's staff have after their first log-in (`agreement_at_log_in` tests the
            // asking).
            let year = school_year_now();
            for (username, roles) in ACCOUNTS {
                let account = store
                    .create_account(
                        school,
                        &NewAccount {
                            username: username.to_string(),
                            display_name: format!("Test {username}"),
                            roles: roles.parse::<Roles>().expect("roles"),
                            password_hash: hash.clone(),
                            must_change_password: false,
                        },
                    )
                    .await
                    .expect("account");
                agree(&store, school, account, username, year).await;
            }
            let other_dsl = store
                .create_account(
                    other_school,
                    &NewAccount {
                        username: "other.dsl".into(),
                        display_name: "Other DSL".into(),
                        roles: "dsl".parse().expect("roles"),
                        password_hash: hash,
                        must_change_password: false,
                    },
                )
                .await
                .expect("account");
            agree(&store, other_school, other_dsl, "other.dsl", year).await;
            let secret = ward_store::hex(TOTP_SECRET);
            for username in ["dsl", "head", "other.dsl"] {
                let account = store
                    .account_by_username(username)
                    .await
                    .expect("query")
                    .expect("account");
                store
                    .set_pending_totp_secret(account.id, Some(&secret))
                    .await
                    .expect("secret");
                store
                    .confirm_totp_secret(account.id)
                    .await
                    .expect("confirm");
            }
            let pupils =
                "username,forename,surname,year,class\nj.smith,Jo,Smith,4,4W\ns.ng,Sam,Ng,6,6T\n";
            store
                .import_people(school, pupils.as_bytes(), PersonKind::Pupil)
                .await
                .expect("pupils");
            store
                .import_people(
                    other_school,
                    b"username,forename,surname,year\no.child,Other,Child,3\n",
                    PersonKind::Pupil,
                )
                .await
                .expect("pupils");
            let jo = store
                .person_by_username(school, "j.smith")
                .await
                .expect("query")
                .expect("Jo");
            let event = |host: &str, categories: &str, search: Option<&str>| Event {
                school,
                at: Timestamp::now(),
                source: Source::Proxy,
                client_ip: "10.0.3.17".parse().expect("ip"),
                device: None,
                person: Some(jo.id),
                username: Some("j.smith".into()),
                identified_by: Some(ward_store::IdentifiedBy::Network),
                host: host.into(),
                url: Some(format!("http://{host}/")),
                action: Disposition::Block,
                categories: categories.into(),
                reason: "unacceptable for ks2".into(),
                search_term: search.map(String::from),
                count: 1,
                // The default policy's gambling row alerts at severity 2.
                alert: (categories == "gambling").then(|| EventAlert {
                    severity: 2,
                    category: "gambling".into(),
                    detection: None,
                }),
            };
            store
                .insert_events(&[
                    event("casino.example", "gambling", None),
                    event(
                        "www.google.co.uk",
                        "searchengines",
                        Some("how to bet online"),
                    ),
                ])
                .await
                .expect("events");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            (store, school, other_school, listener)
        });
        let address = listener.local_addr().expect("address");
        let state = match filter {
            Some(filter) => AppState::with_filter(store.clone(), config, None, filter),
            None => AppState::new(store.clone(), config, None),
        };
        let app = ward_console::router(state);
        let server = runtime.spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("serve");
        });
        Console {
            base: format!("http://{address}"),
            store,
            school,
            other_school,
            runtime,
            server,
            codes: ward_testkit::totp::Codes::default(),
        }
    }

    /// A client of this console, not logged in.
    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// A client logged in as `username` (with [`PASSWORD`], and a code for the accounts
    /// that need one).
    pub fn logged_in(&self, username: &str) -> Client {
        let mut client = self.client();
        let response = client.log_in(username, PASSWORD);
        assert_eq!(
            response.status, 303,
            "log-in as {username}: {}",
            response.body
        );
        if needs_code(username) {
            let page = client.get("/login/code");
            let csrf = csrf_in(&page.body);
            let code = self.next_code(username);
            let done = client.post(
                "/login/code",
                &[("code", &code), ("csrf", &csrf), ("next", "/")],
            );
            assert_eq!(done.status, 303, "code for {username}: {}", done.body);
        }
        client
    }

    /// A sign-in code for `username` that has not been used yet (waiting for the next
    /// 30-second step if this account has used up the three a moment accepts).
    pub fn next_code(&self, username: &str) -> String {
        self.codes.next(username, TOTP_SECRET)
    }

    /// The school's audit entries, newest first.
    pub fn audit(&self) -> Vec<ward_store::AuditEntry> {
        self.runtime
            .block_on(self.store.audit_entries(self.school, 1000, None, ""))
            .expect("audit entries")
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
}

/// An HTTP client that keeps cookies, follows nothing, and treats every status as an answer.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    cookies: HashMap<String, String>,
}

/// The value of the first `name="csrf"` hidden field in a page.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html
        .find(marker)
        .map(|at| at + marker.len())
        .expect("the page has a CSRF field");
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl Client {
    fn new(base: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        Client {
            base: base.to_owned(),
            agent,
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn read(&mut self, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
        let mut response = response.expect("the console answers");
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Page {
            status: response.status().as_u16(),
            location,
            body: response.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Page {
        let response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .call();
        self.read(response)
    }

    /// `POST path` with a URL-encoded form, exactly as given (no token added).
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send_form(fields.iter().copied());
        self.read(response)
    }

    /// `METHOD path` with an empty body (for methods the console has no routes for).
    pub fn call(&mut self, method: &str, path: &str) -> Page {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .body(())
            .expect("a request");
        let response = self.agent.run(request);
        self.read(response)
    }

    /// `POST path` with the form, adding the CSRF token from the page at `form_page`.
    pub fn submit(&mut self, form_page: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = csrf_in(&self.get(form_page).body);
        let mut fields = fields.to_vec();
        fields.push(("csrf", &token));
        self.post(path, &fields)
    }

    /// Uploads `bytes` as a people CSV, with the token in the query as the page's form does.
    pub fn upload_people(
        &mut self,
        kind: &str,
        name: &str,
        bytes: &[u8],
        with_token: bool,
    ) -> Page {
        let token = csrf_in(&self.get("/people/import").body);
        let path = if with_token {
            format!("/people/import?csrf={token}")
        } else {
            "/people/import".to_owned()
        };
        let form = ureq::unversioned::multipart::Form::new()
            .text("kind", kind)
            .part(
                "file",
                ureq::unversioned::multipart::Part::bytes(bytes)
                    .file_name(name)
                    .mime_str("text/csv")
                    .expect("mime"),
            );
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send(form);
        self.read(response)
    }

    /// Uploads `bytes` as the file `name` to `path` (a multipart form with one `file` field),
    /// with the CSRF token from `form_page` in the query, as the console's forms send it.
    pub fn upload(&mut self, form_page: &str, path: &str, name: &str, bytes: &[u8]) -> Page {
        let token = csrf_in(&self.get(form_page).body);
        let form = ureq::unversioned::multipart::Form::new().part(
            "file",
            ureq::unversioned::multipart::Part::bytes(bytes)
                .file_name(name)
                .mime_str("application/octet-stream")
                .expect("mime"),
        );
        let response = self
            .agent
            .post(format!("{}{path}?csrf={token}", self.base))
            .header("cookie", self.cookie_header())
            .send(form);
        self.read(response)
    }

    /// A multipart form posted to `path` with the CSRF token from `form_page`: `texts` as
    /// (name, value) fields, `files` as (field, file name, bytes).
    pub fn send_multipart(
        &mut self,
        form_page: &str,
        path: &str,
        texts: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Page {
        let token = csrf_in(&self.get(form_page).body);
        let mut form = ureq::unversioned::multipart::Form::new();
        for (name, value) in texts {
            form = form.text(name, value);
        }
        for (field, name, bytes) in files {
            form = form.part(
                field,
                ureq::unversioned::multipart::Part::bytes(bytes)
                    .file_name(name)
                    .mime_str("application/octet-stream")
                    .expect("mime"),
            );
        }
        let response = self
            .agent
            .post(format!("{}{path}?csrf={token}", self.base))
            .header("cookie", self.cookie_header())
            .send(form);
        self.read(response)
    }

    /// `GET path` for a download: the status, the headers (lower-case names) and the bytes.
    pub fn download(&mut self, path: &str) -> (u16, HashMap<String, String>, Vec<u8>) {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .call()
            .expect("the console answers");
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_lowercase(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .expect("body");
        (response.status().as_u16(), headers, bytes)
    }

    /// Accepts the staff agreement the console asks for at a first log-in of the year.
    pub fn accept_agreement(&mut self) {
        let page = self.get("/agreement");
        assert_eq!(page.status, 200, "the agreement page: {}", page.body);
        let token = csrf_in(&page.body);
        let done = self.post(
            "/agreement",
            &[("csrf", &token), ("answer", "accept"), ("next", "/")],
        );
        assert_eq!(done.status, 303, "accepting the agreement: {}", done.body);
    }

    /// Logs in through the log-in form.
    pub fn log_in(&mut self, username: &str, password: &str) -> Page {
        let token = csrf_in(&self.get("/login").body);
        self.post(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &token),
                ("next", "/"),
            ],
        )
    }
}

/// Logs `browser` in through the form as `username`; the DSL and the headteacher then type the
/// code their authenticator app shows (when the password is the right one).
pub fn browser_log_in(
    browser: &ward_testkit::webdriver::Browser,
    console: &Console,
    username: &str,
    password: &str,
) {
    browser.open(&format!("{}/login", console.base));
    browser.type_into("input[name=username]", username);
    browser.type_into("input[name=password]", password);
    browser.click("form[action='/login'] button[type=submit]");
    if password == PASSWORD && needs_code(username) {
        browser.wait_for_text("Your sign-in code");
        browser.type_into("#code", &console.next_code(username));
        browser.click("#check-code");
    }
}

/// The school year today falls in (the console's default: 1 September, Europe/London).
pub fn school_year_now() -> i16 {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").expect("zone"))
        .date();
    ward_records::school_year(today.year(), today.month(), today.day(), (9, 1))
}

/// `account` accepts the staff agreement in force for `year`.
pub async fn agree(
    store: &ward_store::Store,
    school: ward_store::SchoolId,
    account: ward_store::AccountId,
    username: &str,
    year: i16,
) {
    let agreement = store
        .agreement_in_force(school, ward_records::Readers::Staff)
        .await
        .expect("staff agreement");
    store
        .answer_agreement(
            school,
            &agreement,
            ward_store::Signer::Account(account),
            username,
            true,
            year,
            "console",
        )
        .await
        .expect("agree");
}
