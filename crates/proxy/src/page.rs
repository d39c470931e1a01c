//! What the proxy says itself: the block page (F9), the pages after its two forms, the 403 for
//! blocked tunnels, the 407 asking for a log-in, errors, and the PAC file.

use crate::detect::ScanBody;
use askama::Template;
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue, LOCATION,
    PROXY_AUTHENTICATE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Response, StatusCode};
use ward_policy::{Decision, PolicySnapshot, Reason};

/// Every response body the proxy sends: the origin's, streamed, or its own.
pub type Body = Either<ScanBody, Full<Bytes>>;

/// The block page (F9): plain words for a seven-year-old at the top, the rule for an adult
/// under "Details for staff", and the two forms.
#[derive(Template)]
#[template(path = "block.html")]
pub struct BlockPage<'a> {
    /// The school's name (the policy's).
    pub school: &'a str,
    /// The page's host.
    pub host: &'a str,
    /// The page's address.
    pub url: &'a str,
    /// What the page is about, in the policy document's words.
    pub topic: String,
    /// The row that decided, in the policy document's words (staff details).
    pub rule_words: String,
    /// The categories, comma-separated.
    pub categories: String,
    /// The decision's reason.
    pub reason: String,
    /// The group whose policy applied.
    pub group: &'a str,
    /// The user name, or "not logged in".
    pub user: &'a str,
    /// The device or address.
    pub client: String,
    /// When (local time).
    pub time: String,
    /// An illegal-content list decided: IWF wording, and no unblock request.
    pub illegal: bool,
    /// Where the unblock form posts.
    pub unblock_action: String,
    /// Where the concern form posts.
    pub concern_action: String,
    /// Ties the forms to this client and address.
    pub token: String,
}

/// The portal: log in to browse as oneself on this computer, or the session open here.
#[derive(Template)]
#[template(path = "portal.html")]
pub struct PortalPage<'a> {
    /// The school's name.
    pub school: &'a str,
    /// The client's address.
    pub address: String,
    /// Who is logged in here, if anyone.
    pub user: Option<&'a str>,
    /// When their session ends (local time).
    pub until: String,
    /// How long a session lasts.
    pub minutes: u64,
    /// Why the last log-in did not work.
    pub problem: &'a str,
    /// Something to tell them (a password saved, or one due for a change).
    pub notice: &'a str,
    /// Where to go on to (an `http`/`https` address, or empty).
    pub then: &'a str,
    /// Where the password page is (offered to whoever is logged in).
    pub password_address: String,
    /// Where the log-in form posts.
    pub login_action: String,
    /// Where the log-out form posts.
    pub logout_action: String,
    /// The school's sign-in provider (`Microsoft`), or empty when there is none.
    pub sign_on_label: &'a str,
    /// Where its button goes (with the onward address).
    pub sign_on_action: String,
    /// Ties the forms to this client.
    pub token: String,
}

/// The portal's password page: choose a new Ward password, with the school's rules in words a
/// seven-year-old can follow.
#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage<'a> {
    /// The school's name.
    pub school: &'a str,
    /// Whose password (their log-in name).
    pub username: &'a str,
    /// A starting password is being replaced (the first log-in).
    pub starting: bool,
    /// The rules.
    pub rules: &'a [String],
    /// Why the last try did not work.
    pub problem: &'a str,
    /// Where to go on to afterwards.
    pub then: &'a str,
    /// Where the form posts.
    pub action: String,
    /// Ties the form to this client.
    pub token: String,
}

/// The acceptable use agreement at the portal, to answer before any session opens. For the
/// youngest children it is large, with a picture for each point and short words (read aloud
/// by an adult, or by a screen reader: the pictures are hidden from it, the words say it all).
#[derive(Template)]
#[template(path = "agreement.html")]
pub struct AgreementPage<'a> {
    /// The school's name.
    pub school: &'a str,
    /// Whose log-in it is.
    pub username: &'a str,
    /// Its title.
    pub title: &'a str,
    /// Large type with pictures.
    pub pictured: bool,
    /// Its blocks: (`heading`, `paragraph` or `point`, the words, the picture's drawing).
    pub blocks: Vec<(&'static str, String, String)>,
    /// Where the form posts.
    pub action: String,
    /// The pending log-in's token.
    pub pending: String,
    /// Ties the form to this client.
    pub token: String,
}

/// A short page after a form, or an error.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    /// The school's name.
    pub school: &'a str,
    /// Heading.
    pub title: &'a str,
    /// One paragraph.
    pub message: &'a str,
}

/// The page that tells a device's owner how to install the school's CA.
#[derive(Template)]
#[template(path = "ca.html")]
pub struct CaPage<'a> {
    /// The school's name.
    pub school: &'a str,
    /// (name, valid until, SHA-256 fingerprint) of each certificate devices should trust.
    pub certificates: Vec<(String, String, String)>,
    /// Whether a next CA is prepared.
    pub next: bool,
}

/// A file to download: `content_type`, saved as `filename`.
pub fn download(body: Vec<u8>, content_type: &'static str, filename: &str) -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body))));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(hyper::header::CONTENT_DISPOSITION, value);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// An Apple configuration profile (`.mobileconfig`) that installs `certificates` (DER) as
/// trusted roots on iPads, iPhones and Macs. Its identifiers are made from the certificates'
/// fingerprints, so the same certificates always give the same profile (installing it again
/// replaces it rather than adding another).
pub fn mobileconfig(school: &str, certificates: &[(String, Vec<u8>)]) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let uuid = |seed: &[u8]| {
        let hash = Sha256::digest(seed);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&hash[..16]);
        // A name-based UUID's version and variant bits.
        bytes[6] = (bytes[6] & 0x0f) | 0x50;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex = hex::encode(bytes).to_uppercase();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    };
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let school = escape(school);
    let mut all = Vec::new();
    let mut payloads = String::new();
    for (name, der) in certificates {
        all.extend_from_slice(der);
        let id = uuid(der);
        payloads.push_str(&format!(
            "\t\t<dict>\n\
             \t\t\t<key>PayloadCertificateFileName</key>\n\t\t\t<string>ward-ca.cer</string>\n\
             \t\t\t<key>PayloadContent</key>\n\t\t\t<data>{}</data>\n\
             \t\t\t<key>PayloadDisplayName</key>\n\t\t\t<string>{}</string>\n\
             \t\t\t<key>PayloadIdentifier</key>\n\t\t\t<string>uk.ward.ca.{id}</string>\n\
             \t\t\t<key>PayloadType</key>\n\t\t\t<string>com.apple.security.root</string>\n\
             \t\t\t<key>PayloadUUID</key>\n\t\t\t<string>{id}</string>\n\
             \t\t\t<key>PayloadVersion</key>\n\t\t\t<integer>1</integer>\n\
             \t\t</dict>\n",
            base64::engine::general_purpose::STANDARD.encode(der),
            escape(name),
        ));
    }
    let profile = uuid(&all);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n\
         \t<key>PayloadContent</key>\n\t<array>\n{payloads}\t</array>\n\
         \t<key>PayloadDescription</key>\n\t<string>Lets {school} check secure websites to keep pupils safe.</string>\n\
         \t<key>PayloadDisplayName</key>\n\t<string>{school}: web filter certificate</string>\n\
         \t<key>PayloadIdentifier</key>\n\t<string>uk.ward.ca-profile</string>\n\
         \t<key>PayloadOrganization</key>\n\t<string>{school}</string>\n\
         \t<key>PayloadRemovalDisallowed</key>\n\t<false/>\n\
         \t<key>PayloadType</key>\n\t<string>Configuration</string>\n\
         \t<key>PayloadUUID</key>\n\t<string>{profile}</string>\n\
         \t<key>PayloadVersion</key>\n\t<integer>1</integer>\n\
         </dict>\n</plist>\n"
    )
}

/// What the decided page is about, in words a pupil can read: the category's words for children
/// where a rule decided.
pub fn topic(policy: &PolicySnapshot, decision: &Decision<'_>) -> String {
    match decision.reason {
        // The category in words a child can read (the school's own, else Ward's); the row's
        // formal words are in the details for staff.
        Reason::Rule { category, .. } | Reason::IllegalRule { category, .. } => {
            policy.spec().child_words(category)
        }
        Reason::IllegalList { .. } => "illegal content".into(),
        Reason::LocalList { .. } => "a site the school has chosen to block".into(),
        Reason::IpAddressHost => "a web address written as numbers instead of a name".into(),
        Reason::Uncategorised => "a site that is not on your group's list of allowed sites".into(),
        Reason::Grant { .. } => "a site that is not allowed".into(),
    }
}

/// The User Actions row that decided, in the policy document's words (for staff), if a row
/// decided.
pub fn rule_words(policy: &PolicySnapshot, decision: &Decision<'_>) -> String {
    decision
        .reason
        .rule()
        .and_then(|id| policy.spec().rules.iter().find(|rule| rule.id == id))
        .map(|rule| rule.action.clone())
        .unwrap_or_default()
}

/// An HTML response that no cache keeps.
pub fn html(status: StatusCode, html: String) -> Response<Body> {
    html_posting_to(status, html, None)
}

/// An HTML page whose forms post to `form_origin` (`http://HOST:PORT`, Ward's own address, for
/// the block page shown at a blocked site's address) as well as to where it is shown. Like the
/// console's pages, it may not be framed (another site could otherwise dress its forms up and
/// have them posted), sniffed, cached or sent its address on as a referrer, and it loads nothing.
pub fn html_posting_to(
    status: StatusCode,
    html: String,
    form_origin: Option<&str>,
) -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(html))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let policy = format!(
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'{}",
        form_origin
            .map(|origin| format!(" {origin}"))
            .unwrap_or_default()
    );
    let policy = HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ));
    headers.insert(CONTENT_SECURITY_POLICY, policy);
    response
}

/// 302 to `location` (the portal, for a transparent client that has to log in).
pub fn redirect(location: &str) -> Response<Body> {
    let mut response = text(
        StatusCode::FOUND,
        format!("Log in to the internet first: {location}\n"),
    );
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(LOCATION, value);
        }
        Err(_) => *response.status_mut() = StatusCode::FORBIDDEN,
    }
    response
}

/// A plain-text response that no cache keeps.
pub fn text(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(text))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A message page, or plain text should the template fail.
pub fn message(school: &str, status: StatusCode, title: &str, message: &str) -> Response<Body> {
    let page = MessagePage {
        school,
        title,
        message,
    };
    match page.render() {
        Ok(body) => html(status, body),
        Err(_) => text(status, format!("{title}\n\n{message}\n")),
    }
}

/// 407: log in to the proxy.
pub fn authentication_required(
    school: &str,
    settings: &crate::proxy::ProxySettings,
) -> Response<Body> {
    let mut response = message(
        school,
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "Please log in",
        "Log in with your school account to use the internet here.",
    );
    // Kerberos first: a computer on the school's domain answers it without asking anyone.
    if settings.kerberos.is_some() {
        response
            .headers_mut()
            .append(PROXY_AUTHENTICATE, HeaderValue::from_static("Negotiate"));
    }
    if settings.offer_basic {
        response.headers_mut().append(
            PROXY_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Ward\", charset=\"UTF-8\""),
        );
    }
    response
}

/// The proxy auto-configuration file (and WPAD's `wpad.dat`): everything through the proxy at
/// `address` (`host:port`), plain host names and loopback direct. There is no `DIRECT` fallback:
/// if the proxy is down, browsing stops rather than going unfiltered.
pub fn pac(address: &str) -> Response<Body> {
    let body = format!(
        "// Ward proxy auto-configuration.\n\
         function FindProxyForURL(url, host) {{\n\
         \x20 if (isPlainHostName(host) || host == \"localhost\" || shExpMatch(host, \"127.*\") || host == \"[::1]\") {{\n\
         \x20   return \"DIRECT\";\n\
         \x20 }}\n\
         \x20 return \"PROXY {address}\";\n\
         }}\n"
    );
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body))));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ns-proxy-autoconfig"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(illegal: bool) -> String {
        BlockPage {
            school: "Park End Primary School",
            host: "www.0-casino.info",
            url: "http://www.0-casino.info/roulette?table=<3>&bet=\"all\"",
            topic: "gambling, which means betting money".into(),
            rule_words: "On-line gambling".into(),
            categories: ward_policy::readable_with_ids("gambling,agressif".split(',')),
            reason: "rule gambling (unacceptable): category gambling, domain 0-casino.info".into(),
            group: "ks2",
            user: "not logged in",
            client: "device 12 (10.0.3.7)".into(),
            time: "Monday 23 November 2026, 10:15".into(),
            illegal,
            unblock_action: "http://10.0.0.2:3128/ward/unblock".into(),
            concern_action: "http://10.0.0.2:3128/ward/concern".into(),
            token: "0123456789abcdef0123456789abcdef".into(),
        }
        .render()
        .expect("the block page renders")
    }

    /// The block page as a pupil gets it, compared with the reviewed copy in
    /// `tests/snapshots/`. After a deliberate change, run with `UPDATE_SNAPSHOTS=1` and review
    /// the difference.
    #[test]
    fn block_page_snapshot() {
        for (illegal, name) in [
            (false, "block_page.html"),
            (true, "block_page_illegal.html"),
        ] {
            let html = page(illegal);
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/snapshots")
                .join(name);
            if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
                std::fs::create_dir_all(path.parent().expect("folder")).expect("folder");
                std::fs::write(&path, &html).expect("write the snapshot");
            }
            let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!("{} is missing: run with UPDATE_SNAPSHOTS=1", path.display())
            });
            assert_eq!(
                html, expected,
                "the block page changed: review it, then UPDATE_SNAPSHOTS=1"
            );
        }
    }

    #[test]
    fn what_the_page_shows_is_escaped_and_complete() {
        let html = page(false);
        assert!(
            html.contains("roulette?table=&#60;3&#62;&#38;bet=&#34;all&#34;"),
            "{html}"
        );
        assert!(!html.contains("<3>"));
        for expected in [
            "On-line gambling",
            "monitored",
            "Ask for this to be unblocked",
            "Report a concern",
        ] {
            assert!(html.contains(expected), "{expected}");
        }
        let illegal = page(true);
        assert!(illegal.contains("Internet Watch Foundation (IWF)"));
        assert!(
            !illegal.contains("id=\"unblock\""),
            "no unblock form for illegal content"
        );
        assert!(illegal.contains("id=\"concern\""));
    }
}
