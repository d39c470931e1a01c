//! A real OpenID Connect provider for the single sign-on tests: the npm package `oidc-provider`
//! (installed in `tests/oidc` by `scripts/test`), run by Node.js with one client registered,
//! its development log-in page taking any name (the name is the email address).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running provider; stopped when dropped.
pub struct Provider {
    /// Its issuer (`http://127.0.0.1:PORT`).
    pub issuer: String,
    /// Every answer it sent back to the client's redirect address, in order.
    redirects: Arc<Mutex<Vec<String>>>,
    child: Child,
}

impl Provider {
    /// Starts a provider on `port` with client `client_id`/`secret` and its `redirect_uri`.
    pub fn start(port: u16, client_id: &str, secret: &str, redirect_uri: &str) -> Provider {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/oidc");
        assert!(
            std::path::Path::new(folder)
                .join("node_modules/oidc-provider")
                .exists(),
            "tests/oidc/node_modules is missing: scripts/test runs `npm ci` there"
        );
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .arg(port.to_string())
            .args([client_id, secret, redirect_uri])
            .current_dir(folder)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node (Debian package nodejs)");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let issuer = loop {
            let line = lines
                .next()
                .expect("the provider stopped before listening")
                .expect("read");
            if let Some(issuer) = line.strip_prefix("OIDC provider listening on ") {
                break issuer.trim().to_owned();
            }
        };
        let redirects = Arc::new(Mutex::new(Vec::new()));
        let seen = redirects.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("REDIRECT ") {
                    seen.lock().expect("redirects").push(url.trim().to_owned());
                }
            }
        });
        Provider {
            issuer,
            redirects,
            child,
        }
    }

    /// The last answer sent back to the client (its `code` and `state`), if any.
    pub fn last_redirect(&self) -> Option<String> {
        self.redirects.lock().expect("redirects").last().cloned()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
