//! Just enough of the W3C WebDriver protocol to drive Debian's headless Chromium through
//! ChromeDriver (both installed by scripts/test): open pages, fill and submit forms, upload a
//! file, read text, run a script.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A ChromeDriver process and one browser session; both end when dropped.
pub struct Browser {
    driver: Child,
    endpoint: String,
    agent: ureq::Agent,
    _profile: std::path::PathBuf,
    /// With [`Browser::start_trusting`]: the home folder holding its certificate store.
    home: Option<std::path::PathBuf>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free port")
        .port()
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a fresh profile.
    pub fn start() -> Browser {
        Browser::start_with(&[])
    }

    /// The same, with more Chromium arguments (a proxy, say).
    pub fn start_with(extra: &[String]) -> Browser {
        Browser::launch(extra, None)
    }

    /// The same, with a certificate store that trusts the CA in `ca_pem` for websites, as a
    /// school's managed devices trust its filter's CA (NSS's `certutil`, Debian package
    /// `libnss3-tools`; Chromium on Linux reads `$HOME/.pki/nssdb`).
    pub fn start_trusting(extra: &[String], ca_pem: &std::path::Path) -> Browser {
        let home = crate::temp_folder("chromium-home");
        let nssdb = home.join(".pki/nssdb");
        std::fs::create_dir_all(&nssdb).expect("NSS folder");
        let database = format!("sql:{}", nssdb.display());
        let certutil = |arguments: &[&str]| {
            let status = Command::new("certutil")
                .args(arguments)
                .stdout(Stdio::null())
                .status()
                .expect("certutil (Debian package libnss3-tools; scripts/test installs it)");
            assert!(status.success(), "certutil {arguments:?}");
        };
        certutil(&["-N", "-d", &database, "--empty-password"]);
        let ca = ca_pem.display().to_string();
        certutil(&[
            "-A",
            "-d",
            &database,
            "-n",
            "school-ca",
            "-t",
            "C,,",
            "-i",
            &ca,
        ]);
        Browser::launch(extra, Some(home))
    }

    fn launch(extra: &[String], home: Option<std::path::PathBuf>) -> Browser {
        let port = free_port();
        let mut command = Command::new("chromedriver");
        if let Some(home) = &home {
            command.env("HOME", home);
        }
        let driver = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "start chromedriver (Debian package chromium-driver; scripts/test installs it)",
            );
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = crate::temp_folder("chromium-profile");
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(extra.iter().cloned());
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": args,
                    }
                }
            }
        });
        let mut response = agent
            .post(format!("{base}/session"))
            .send_json(&capabilities)
            .expect("create a browser session");
        let answer: Value = response.body_mut().read_json().expect("session JSON");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Browser {
            driver,
            endpoint: format!("{base}/session/{session}"),
            agent,
            _profile: profile,
            home,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.endpoint);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).send_json(body.unwrap_or(json!({}))),
        };
        let mut response = response.expect("chromedriver answers");
        let answer: Value = response.body_mut().read_json().expect("WebDriver JSON");
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!(
                "WebDriver {method} {path}: {error}: {}",
                answer["value"]["message"]
            );
        }
        answer["value"].clone()
    }

    /// Opens a URL and waits for the page to load.
    pub fn open(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current page's URL.
    pub fn url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The visible text of the whole page (read in one step, so a page being replaced cannot
    /// leave a stale reference).
    pub fn text(&self) -> String {
        self.run("return document.body ? document.body.innerText : '';")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The visible text of the element matching `selector`.
    pub fn find_text(&self, selector: &str) -> String {
        let element = self.find(selector);
        self.command("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML.
    pub fn source(&self) -> String {
        self.command("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element matching a CSS selector (panics if there is none).
    pub fn find(&self, selector: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": selector })),
        );
        // The answer is an object with one member, the element reference.
        found
            .as_object()
            .and_then(|object| object.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {selector}"))
            .to_owned()
    }

    /// How many elements match a CSS selector.
    pub fn count(&self, selector: &str) -> usize {
        self.command(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": selector })),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    /// Types into the element matching `selector` (for a file input: a path to upload).
    pub fn type_into(&self, selector: &str, text: &str) {
        let element = self.find(selector);
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Empties the input matching `selector`.
    pub fn clear(&self, selector: &str) {
        let element = self.find(selector);
        self.command(
            "POST",
            &format!("/element/{element}/clear"),
            Some(json!({})),
        );
    }

    /// Clicks the element matching `selector` (and waits for any page load it starts).
    pub fn click(&self, selector: &str) {
        let element = self.find(selector);
        self.command(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    /// Sets the window's size (its outer size, in CSS pixels).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// Runs a script in the page.
    pub fn run(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// A screenshot of the window, as PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let encoded = self.command("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("the screenshot is base64")
    }

    /// Waits until the page's text contains `text`.
    pub fn wait_for_text(&self, text: &str) {
        let started = Instant::now();
        loop {
            if self.text().contains(text) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "page never showed {text:?}; it shows:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.endpoint).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if let Some(home) = &self.home {
            let _ = std::fs::remove_dir_all(home);
        }
    }
}
