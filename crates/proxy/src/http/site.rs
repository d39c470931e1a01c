//! Ward's own small website on the proxy's address: the PAC and WPAD files, the portal log-in,
//! and the block page's forms (their token checked here; what they do is handed to
//! [`crate::actions::BlockPageActions`]).

use super::*;
use crate::SignOnRefusal;

/// Largest form the block page's forms may post.
const MAX_FORM: usize = 16 * 1024;
/// Most characters of a reason or message passed on (the store keeps 2,000).
const MAX_FORM_TEXT: usize = 2000;

impl Connection {
    pub(super) fn public_address(&self) -> String {
        let public = &self.proxy.settings.public_address;
        if public.is_empty() {
            self.local.to_string()
        } else {
            public.clone()
        }
    }

    /// Whether the request is for Ward itself: its own address, or a WPAD host's `wpad.dat`.
    pub(super) fn is_ward(&self, target: &HttpTarget) -> bool {
        let endpoint = &target.endpoint;
        let own_address = match &endpoint.host {
            Host::Ipv4(v4) => {
                std::net::IpAddr::V4(*v4) == ward_gateway::canonical_ip(self.local.ip())
                    && endpoint.port == self.local.port()
            }
            Host::Ipv6(v6) => {
                std::net::IpAddr::V6(*v6) == self.local.ip() && endpoint.port == self.local.port()
            }
            Host::Domain(_) => false,
        };
        let public = &self.proxy.settings.public_address;
        let own_name = !public.is_empty()
            && (endpoint.authority().eq_ignore_ascii_case(public)
                || endpoint.host_header().eq_ignore_ascii_case(public));
        let wpad = endpoint
            .host
            .domain()
            .is_some_and(|name| name.as_str() == "wpad" || name.as_str().starts_with("wpad."))
            && target.path_and_query == "/wpad.dat";
        own_address || own_name || wpad
    }

    /// The school's CA for devices: a page that says how to install it, the certificate (PEM
    /// or DER), the next one during a planned change, and an Apple profile with every
    /// certificate devices should trust. Never the key.
    fn certificate(&self, school: &str, path: &str) -> Response<Body> {
        let Some(authorities) = &self.proxy.settings.certificates else {
            return page::message(
                school,
                StatusCode::NOT_FOUND,
                "No certificate yet",
                "This school has not set up its certificate yet. Ask the school's IT team.",
            );
        };
        let now = Timestamp::now();
        let current = authorities.current.certificate();
        match path {
            "/ward/ca.crt" => page::download(
                current.pem().as_bytes().to_vec(),
                "application/x-x509-ca-cert",
                "ward-ca.crt",
            ),
            "/ward/ca.der" => page::download(
                current.der().to_vec(),
                "application/pkix-cert",
                "ward-ca.der",
            ),
            "/ward/next-ca.crt" => match &authorities.next {
                Some(next) => page::download(
                    next.pem().as_bytes().to_vec(),
                    "application/x-x509-ca-cert",
                    "ward-next-ca.crt",
                ),
                None => page::message(
                    school,
                    StatusCode::NOT_FOUND,
                    "Not found",
                    "There is no next certificate.",
                ),
            },
            "/ward/ca.mobileconfig" => {
                let certificates: Vec<(String, Vec<u8>)> = authorities
                    .trusted(now)
                    .into_iter()
                    .map(|c| (c.name(), c.der().to_vec()))
                    .collect();
                page::download(
                    page::mobileconfig(school, &certificates).into_bytes(),
                    "application/x-apple-aspen-config",
                    "ward-ca.mobileconfig",
                )
            }
            _ => {
                let ca_page = page::CaPage {
                    school,
                    certificates: authorities
                        .trusted(now)
                        .into_iter()
                        .map(|c| {
                            (
                                c.name(),
                                c.not_after().strftime("%-d %B %Y").to_string(),
                                c.fingerprint(),
                            )
                        })
                        .collect(),
                    next: authorities.next.is_some(),
                };
                match ca_page.render() {
                    Ok(html) => page::html(StatusCode::OK, html),
                    Err(error) => {
                        tracing::error!(%error, "the CA page did not render");
                        page::text(StatusCode::INTERNAL_SERVER_ERROR, "Error\n".into())
                    }
                }
            }
        }
    }

    /// Ward's own pages: the PAC file and the block page's forms.
    pub(super) async fn ward(
        &self,
        request: Request<Incoming>,
        target: &HttpTarget,
        state: &FilterState,
    ) -> Response<Body> {
        let school = state.policy.spec().name.as_str();
        let path = target.path_and_query.split('?').next().unwrap_or("");
        match (request.method(), path) {
            (&Method::GET | &Method::HEAD, "/proxy.pac" | "/wpad.dat") => {
                page::pac(&self.public_address())
            }
            (
                &Method::GET | &Method::HEAD,
                "/ward/ca"
                | "/ward/ca.crt"
                | "/ward/ca.der"
                | "/ward/ca.mobileconfig"
                | "/ward/next-ca.crt",
            ) => self.certificate(school, path),
            (&Method::GET | &Method::HEAD, "/ward/login") => {
                let then: PortalForm = query(target);
                self.portal_page(state, StatusCode::OK, "", &then.then)
            }
            (&Method::GET | &Method::HEAD, "/ward/login/sso") => {
                let then: PortalForm = query(target);
                self.sign_on_begin(state, &then.then).await
            }
            (&Method::GET, "/ward/login/sso/callback") => {
                self.sign_on_finish(state, &query(target)).await
            }
            (&Method::GET | &Method::HEAD, "/ward/password") => {
                let then: PortalForm = query(target);
                self.password_form(state, &then.then).await
            }
            (&Method::POST, "/ward/login" | "/ward/logout" | "/ward/password" | "/ward/agree") => {
                let form: PortalForm = match read_form(request).await {
                    Ok(form) => form,
                    Err(message) => {
                        return page::message(
                            school,
                            StatusCode::BAD_REQUEST,
                            "That did not work",
                            message,
                        );
                    }
                };
                if form.token != self.proxy.form_token(self.peer.ip(), PORTAL_FORM) {
                    return self.portal_page(
                        state,
                        StatusCode::FORBIDDEN,
                        "The form had expired. Please try again.",
                        &form.then,
                    );
                }
                match path {
                    "/ward/login" => self.portal_login(state, &form).await,
                    "/ward/password" => self.password_change(state, &form).await,
                    "/ward/agree" => self.agreement_answer(state, &form).await,
                    _ => self.portal_logout(state).await,
                }
            }
            (&Method::POST, "/ward/unblock" | "/ward/concern") => {
                let client = match self.identify(&request, state, Timestamp::now()).await {
                    Ok(client) => client,
                    Err(response) => return response,
                };
                let form: Form = match read_form(request).await {
                    Ok(form) => form,
                    Err(message) => {
                        return page::message(
                            school,
                            StatusCode::BAD_REQUEST,
                            "That did not work",
                            message,
                        );
                    }
                };
                if form.token != self.proxy.form_token(self.peer.ip(), &form.url) {
                    return page::message(
                        school,
                        StatusCode::FORBIDDEN,
                        "That did not work",
                        "This form has to be sent from the block page on this computer. Go back, reload the page and try again.",
                    );
                }
                if path == "/ward/unblock" {
                    self.unblock_request(&form, &client, state).await
                } else {
                    self.concern(&form, &client, state).await
                }
            }
            _ => page::message(
                school,
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page on Ward's proxy.",
            ),
        }
    }

    /// The portal page for this client: the log-in form, or the session open here.
    fn portal_page(
        &self,
        state: &FilterState,
        status: StatusCode,
        problem: &str,
        then: &str,
    ) -> Response<Body> {
        self.portal_page_saying(state, status, problem, "", then)
    }

    /// [`Self::portal_page`] with a notice for whoever is logged in.
    fn portal_page_saying(
        &self,
        state: &FilterState,
        status: StatusCode,
        problem: &str,
        notice: &str,
        then: &str,
    ) -> Response<Body> {
        let proxy = &self.proxy;
        let school = state.policy.spec().name.as_str();
        if proxy.settings.authenticator.is_none() {
            return page::message(
                school,
                StatusCode::NOT_FOUND,
                "No log-in here",
                "This school does not use log-ins for the internet.",
            );
        }
        let session = proxy.live.sessions().get(self.peer.ip(), Timestamp::now());
        let public = self.public_address();
        let portal = PortalPage {
            school,
            address: ward_gateway::canonical_ip(self.peer.ip()).to_string(),
            user: session.as_ref().map(|s| s.user.as_str()),
            until: session.as_ref().map_or(String::new(), |s| {
                s.until
                    .to_zoned_datetime(state.policy.time_zone().clone())
                    .strftime("%H:%M")
                    .to_string()
            }),
            minutes: proxy.settings.portal_session.as_secs() / 60,
            problem,
            notice,
            then: onward_address(then),
            password_address: format!("http://{public}/ward/password"),
            login_action: format!("http://{public}/ward/login"),
            logout_action: format!("http://{public}/ward/logout"),
            sign_on_label: proxy.settings.sign_on.as_ref().map_or("", |s| s.label()),
            sign_on_action: {
                let then = onward_address(then);
                if then.is_empty() {
                    format!("http://{public}/ward/login/sso")
                } else {
                    format!(
                        "http://{public}/ward/login/sso?{}",
                        serde_urlencoded::to_string([("then", then)]).unwrap_or_default()
                    )
                }
            },
            token: proxy.form_token(self.peer.ip(), PORTAL_FORM),
        };
        match portal.render() {
            Ok(html) => page::html(status, html),
            Err(error) => {
                tracing::error!(%error, "portal page did not render");
                page::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The log-in page is broken.\n".into(),
                )
            }
        }
    }

    /// A portal log-in: the account checked (with its lock-out), then a session for this
    /// client address.
    async fn portal_login(&self, state: &FilterState, form: &PortalForm) -> Response<Body> {
        let proxy = &self.proxy;
        let Some(authenticator) = &proxy.settings.authenticator else {
            return self.portal_page(state, StatusCode::NOT_FOUND, "", "");
        };
        let username = form.username.trim();
        let Some(user) = authenticator.check(username, &form.password).await else {
            Stats::add(&proxy.stats.failed_logins);
            return self.portal_page(
                state,
                StatusCode::FORBIDDEN,
                "That user name and password did not work. After several tries the account is locked for a while.",
                &form.then,
            );
        };
        self.continue_log_in(state, &user, &form.then, true).await
    }

    /// After a right log-in: the acceptable use agreement first, if `user` has still to agree
    /// this school year; then (for a Ward password, `password`) the password page if their
    /// starting password must be replaced; then the session.
    async fn continue_log_in(
        &self,
        state: &FilterState,
        user: &crate::AuthUser,
        then: &str,
        password: bool,
    ) -> Response<Body> {
        let proxy = &self.proxy;
        let Some(authenticator) = &proxy.settings.authenticator else {
            return self.portal_page(state, StatusCode::NOT_FOUND, "", then);
        };
        let due = match authenticator.agreement_due(user).await {
            Ok(due) => due,
            Err(error) => {
                tracing::error!(%error, user = %user.username, "cannot tell whether the agreement is due; no session opened");
                return self.portal_page(
                    state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "You cannot log in just now. Please try again in a minute.",
                    then,
                );
            }
        };
        if let Some(agreement) = due {
            let Some(pending) =
                proxy
                    .agreements
                    .keep(user, &agreement, self.peer.ip(), then, password)
            else {
                return self.portal_page(
                    state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many people are logging in just now. Please try again in a minute.",
                    then,
                );
            };
            let page = AgreementPage {
                school: state.policy.spec().name.as_str(),
                username: &user.username,
                title: &agreement.title,
                pictured: agreement.pictured,
                blocks: ward_records::agreements::display_blocks(&agreement.body),
                action: format!("http://{}/ward/agree", self.public_address()),
                pending,
                token: proxy.form_token(self.peer.ip(), PORTAL_FORM),
            };
            return match page.render() {
                Ok(html) => page::html(StatusCode::OK, html),
                Err(error) => {
                    tracing::error!(%error, "agreement page did not render");
                    page::text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "The agreement page is broken.\n".into(),
                    )
                }
            };
        }
        self.after_agreement(state, user, then, password).await
    }

    /// The password page, if a starting Ward password must be replaced; else the session.
    async fn after_agreement(
        &self,
        state: &FilterState,
        user: &crate::AuthUser,
        then: &str,
        password: bool,
    ) -> Response<Body> {
        let advice = match (&self.proxy.settings.authenticator, password) {
            (Some(authenticator), true) => authenticator.password_advice(user).await,
            _ => None,
        };
        match advice {
            Some(advice) if advice.must_change => self.password_page(
                state,
                StatusCode::OK,
                &user.username,
                true,
                &advice.rules,
                "",
                then,
            ),
            Some(advice) if advice.due => {
                self.open_portal_session(
                    state,
                    user,
                    "Your password is getting old. It is time to make a new one.",
                    then,
                )
                .await
            }
            _ => self.open_portal_session(state, user, "", then).await,
        }
    }

    /// `POST /ward/agree`: the answer to the agreement a pending log-in was shown. Accepted:
    /// on with the log-in. Declined: recorded, and nothing opens.
    async fn agreement_answer(&self, state: &FilterState, form: &PortalForm) -> Response<Body> {
        let proxy = &self.proxy;
        let school = state.policy.spec().name.as_str();
        let Some(authenticator) = &proxy.settings.authenticator else {
            return self.portal_page(state, StatusCode::NOT_FOUND, "", "");
        };
        let accepted = match form.answer.as_str() {
            "accept" => true,
            "decline" => false,
            _ => {
                return page::message(
                    school,
                    StatusCode::BAD_REQUEST,
                    "That did not work",
                    "Please press Yes or No.",
                );
            }
        };
        let Some(answered) = proxy.agreements.take(&form.pending, self.peer.ip()) else {
            return self.portal_page(
                state,
                StatusCode::BAD_REQUEST,
                "That took too long, or it was answered already. Please log in again.",
                "",
            );
        };
        if let Err(error) = authenticator
            .answer_agreement(
                &answered.user,
                &answered.agreement,
                accepted,
                ward_gateway::canonical_ip(self.peer.ip()),
            )
            .await
        {
            tracing::error!(%error, user = %answered.user.username, "the answer to the agreement was not recorded");
            return self.portal_page(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Your answer could not be saved just now. Please try again in a minute.",
                &answered.then,
            );
        }
        proxy.agreement_answered(&answered.user.username);
        if accepted {
            tracing::info!(user = %answered.user.username, version = answered.agreement.version, "agreement accepted at the portal");
            return self
                .after_agreement(state, &answered.user, &answered.then, answered.password)
                .await;
        }
        tracing::info!(user = %answered.user.username, version = answered.agreement.version, "agreement declined at the portal");
        page::message(
            school,
            StatusCode::FORBIDDEN,
            "You said no",
            "That is all right, but you cannot use the internet at school until you agree to the rules. Talk to your teacher about them. When you are ready, log in again and read them again.",
        )
    }

    /// The portal's password page.
    #[allow(clippy::too_many_arguments)]
    fn password_page(
        &self,
        state: &FilterState,
        status: StatusCode,
        username: &str,
        starting: bool,
        rules: &[String],
        problem: &str,
        then: &str,
    ) -> Response<Body> {
        let page = PasswordPage {
            school: state.policy.spec().name.as_str(),
            username,
            starting,
            rules,
            problem,
            then: onward_address(then),
            action: format!("http://{}/ward/password", self.public_address()),
            token: self.proxy.form_token(self.peer.ip(), PORTAL_FORM),
        };
        match page.render() {
            Ok(html) => page::html(status, html),
            Err(error) => {
                tracing::error!(%error, "password page did not render");
                page::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The password page is broken.\n".into(),
                )
            }
        }
    }

    /// `GET /ward/password`: the password page for whoever is logged in here.
    async fn password_form(&self, state: &FilterState, then: &str) -> Response<Body> {
        let proxy = &self.proxy;
        let Some(authenticator) = &proxy.settings.authenticator else {
            return self.portal_page(state, StatusCode::NOT_FOUND, "", then);
        };
        let Some(session) = proxy.live.sessions().get(self.peer.ip(), Timestamp::now()) else {
            return self.portal_page(
                state,
                StatusCode::OK,
                "Log in first. Then you can make a new password.",
                then,
            );
        };
        let user = crate::AuthUser {
            username: session.user.clone(),
            person: session.person,
            group: session.group.clone(),
        };
        match authenticator.password_advice(&user).await {
            Some(advice) => self.password_page(
                state,
                StatusCode::OK,
                &user.username,
                advice.must_change,
                &advice.rules,
                "",
                then,
            ),
            None => self.portal_page(
                state,
                StatusCode::OK,
                "Your password belongs to the school network, not to Ward. Ask your teacher how to change it.",
                then,
            ),
        }
    }

    /// `POST /ward/password`: a new password, then a session as them (if they were not
    /// logged in here already).
    async fn password_change(&self, state: &FilterState, form: &PortalForm) -> Response<Body> {
        let proxy = &self.proxy;
        let Some(authenticator) = &proxy.settings.authenticator else {
            return self.portal_page(state, StatusCode::NOT_FOUND, "", "");
        };
        let username = form.username.trim();
        let changed = authenticator
            .change_password(username, &form.current, &form.new, &form.again)
            .await;
        match changed {
            Ok(user) => {
                let here = proxy.live.sessions().get(self.peer.ip(), Timestamp::now());
                let saved = "Your new password is saved. Use it next time you log in.";
                if here.is_some_and(|session| session.user == user.username) {
                    self.portal_page_saying(state, StatusCode::OK, "", saved, &form.then)
                } else {
                    self.open_portal_session(state, &user, saved, &form.then)
                        .await
                }
            }
            Err(refusal) => {
                if refusal.rules.is_empty() {
                    Stats::add(&proxy.stats.failed_logins);
                }
                self.password_page(
                    state,
                    StatusCode::BAD_REQUEST,
                    username,
                    form.starting,
                    &refusal.rules,
                    &refusal.problem,
                    &form.then,
                )
            }
        }
    }

    /// Opens a portal session at this client address for `user` (checked by password or by
    /// the school's sign-in provider), watched for misuse and audited.
    async fn open_portal_session(
        &self,
        state: &FilterState,
        user: &crate::AuthUser,
        notice: &str,
        then: &str,
    ) -> Response<Body> {
        let proxy = &self.proxy;
        let since = Timestamp::now();
        let until = since
            + jiff::SignedDuration::try_from(proxy.settings.portal_session)
                .unwrap_or(jiff::SignedDuration::from_hours(1));
        proxy.live.sessions().start(
            self.peer.ip(),
            PortalSession {
                person: user.person,
                user: user.username.clone(),
                group: user.group.clone(),
                since,
                until,
            },
        );
        tracing::info!(user = %user.username, client = %self.peer.ip(), "portal log-in");
        let base = state.clients.lookup(self.peer.ip());
        let client = base.logged_in(
            user.person,
            &user.username,
            ward_gateway::account_group(&state.policy, user.group.as_deref()),
            ward_events::IdentifiedBy::Portal,
        );
        proxy.watch_log_in(&client, self.peer.ip(), until, base, since);
        if let Some(authenticator) = &proxy.settings.authenticator {
            authenticator
                .portal_session(
                    &user.username,
                    ward_gateway::canonical_ip(self.peer.ip()),
                    true,
                )
                .await;
        }
        self.portal_page_saying(state, StatusCode::OK, "", notice, then)
    }

    /// Where the school's sign-in provider sends the browser back.
    fn sign_on_return(&self) -> String {
        format!("http://{}/ward/login/sso/callback", self.public_address())
    }

    /// `GET /ward/login/sso`: a sign-in with the school's provider begun for this computer.
    async fn sign_on_begin(&self, state: &FilterState, then: &str) -> Response<Body> {
        let proxy = &self.proxy;
        let (Some(sign_on), Some(_)) = (&proxy.settings.sign_on, &proxy.settings.authenticator)
        else {
            return self.portal_page(state, StatusCode::NOT_FOUND, "", then);
        };
        let Some(start) = sign_on.begin(&self.sign_on_return()).await else {
            return self.portal_page(
                state,
                StatusCode::BAD_GATEWAY,
                "Signing in that way does not work just now. Try again soon, or use your user name and password.",
                then,
            );
        };
        if !proxy
            .sign_ons
            .keep(&start, self.peer.ip(), onward_address(then))
        {
            return self.portal_page(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many people are signing in at once. Wait a minute and try again.",
                then,
            );
        }
        page::redirect(&start.url)
    }

    /// `GET /ward/login/sso/callback`: the provider's answer, taken once at the computer that
    /// began the sign-in, checked, and a portal session for the person it names.
    async fn sign_on_finish(&self, state: &FilterState, answer: &SignOnAnswer) -> Response<Body> {
        let proxy = &self.proxy;
        let (Some(sign_on), Some(_)) = (&proxy.settings.sign_on, &proxy.settings.authenticator)
        else {
            return self.portal_page(state, StatusCode::NOT_FOUND, "", "");
        };
        let Some(returned) = proxy.sign_ons.take(&answer.state, self.peer.ip()) else {
            return self.portal_page(
                state,
                StatusCode::BAD_REQUEST,
                "That sign-in has been used already, is too old, or was started on another computer. Start again here.",
                "",
            );
        };
        if !answer.error.is_empty() || answer.code.is_empty() {
            Stats::add(&proxy.stats.failed_logins);
            return self.portal_page(
                state,
                StatusCode::UNAUTHORIZED,
                "You were not signed in. Try again, or use your user name and password.",
                &returned.then,
            );
        }
        let finished = sign_on
            .finish(
                &self.sign_on_return(),
                &answer.code,
                &returned.verifier,
                &returned.nonce,
            )
            .await;
        let problem = match finished {
            Ok(user) => {
                return self
                    .continue_log_in(state, &user, &returned.then, false)
                    .await;
            }
            Err(SignOnRefusal::Unavailable) => {
                "Signing in that way does not work just now. Try again soon, or use your user name and password.".to_owned()
            }
            Err(SignOnRefusal::NotAccepted) => {
                Stats::add(&proxy.stats.failed_logins);
                "That sign-in could not be accepted. Try again, or ask your teacher.".to_owned()
            }
            Err(SignOnRefusal::Unknown(email)) => {
                Stats::add(&proxy.stats.failed_logins);
                format!(
                    "You signed in as {email}, but Ward does not know that name at this school. Ask your teacher."
                )
            }
        };
        self.portal_page(state, StatusCode::FORBIDDEN, &problem, &returned.then)
    }

    /// Ends the portal session at this client address.
    async fn portal_logout(&self, state: &FilterState) -> Response<Body> {
        let proxy = &self.proxy;
        let school = state.policy.spec().name.as_str();
        if let Some(session) = proxy.live.sessions().end(self.peer.ip())
            && let Some(authenticator) = &proxy.settings.authenticator
        {
            tracing::info!(user = %session.user, client = %self.peer.ip(), "portal log-out");
            proxy
                .live
                .sessions()
                .misuse()
                .log_out(&session.user, self.peer.ip());
            authenticator
                .portal_session(
                    &session.user,
                    ward_gateway::canonical_ip(self.peer.ip()),
                    false,
                )
                .await;
        }
        page::message(
            school,
            StatusCode::OK,
            "Logged out",
            "You are logged out. This computer is back to its usual settings.",
        )
    }

    async fn unblock_request(
        &self,
        form: &Form,
        client: &Client,
        state: &FilterState,
    ) -> Response<Body> {
        let school = state.policy.spec().name.as_str();
        let Some(actions) = &self.proxy.settings.actions else {
            return page::message(
                school,
                StatusCode::SERVICE_UNAVAILABLE,
                "Not sent",
                "Requests cannot be sent from here. Please ask your teacher.",
            );
        };
        let reason = form.reason.trim();
        if reason.is_empty() {
            return page::message(
                school,
                StatusCode::BAD_REQUEST,
                "Please say why",
                "Go back and say why you need this page, then send the request again.",
            );
        }
        let request = match PolicyRequest::parse(&form.url) {
            Ok(request) => request,
            Err(_) => {
                return page::message(
                    school,
                    StatusCode::BAD_REQUEST,
                    "That did not work",
                    "The page's address could not be read.",
                );
            }
        };
        let decision = decide(&state.policy, &request, &client.identity, Timestamp::now());
        if matches!(decision.reason, ward_policy::Reason::IllegalList { .. }) {
            return page::message(
                school,
                StatusCode::FORBIDDEN,
                "Cannot be unblocked",
                "This page is on an illegal-content list, which nobody at school can unblock.",
            );
        }
        let ask = ward_events::NewUnblockRequest {
            origin: "block-page".into(),
            client_ip: ward_gateway::canonical_ip(self.peer.ip()),
            device: client.device,
            person: client.person,
            username: client.identity.user.clone(),
            group: decision.group.to_string(),
            url: form.url.clone(),
            host: request.host().to_string(),
            categories: decision.category_list(),
            blocked_because: decision.reason.to_string(),
            reason: reason.chars().take(MAX_FORM_TEXT).collect(),
            wanted: None,
        };
        match actions.ask_unblock(ask).await {
            Ok(Outcome::Recorded) => page::message(
                school,
                StatusCode::OK,
                "Request sent",
                "Thank you. Your request has been sent, and a member of staff will look at it. You will be able to open the page if it is approved.",
            ),
            Ok(Outcome::AlreadyWaiting) => page::message(
                school,
                StatusCode::OK,
                "Already sent",
                "Your request for this page has already been sent. A member of staff will look at it.",
            ),
            Ok(Outcome::TooMany) => page::message(
                school,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "This computer has sent a lot of requests in the last hour. Please ask your teacher.",
            ),
            Err(error) => {
                tracing::error!(%error, "cannot record an unblock request");
                page::message(
                    school,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Not sent",
                    "Your request could not be saved just now. Please try again later or ask your teacher.",
                )
            }
        }
    }

    async fn concern(&self, form: &Form, client: &Client, state: &FilterState) -> Response<Body> {
        let school = state.policy.spec().name.as_str();
        let Some(actions) = &self.proxy.settings.actions else {
            return page::message(
                school,
                StatusCode::SERVICE_UNAVAILABLE,
                "Not sent",
                "Please tell a member of staff.",
            );
        };
        let message = form.message.trim();
        if message.is_empty() {
            return page::message(
                school,
                StatusCode::BAD_REQUEST,
                "Please tell us more",
                "Go back and write what worried you, then send it again.",
            );
        }
        let report = ConcernReport {
            client_ip: ward_gateway::canonical_ip(self.peer.ip()),
            device: client.device,
            person: client.person,
            username: client.identity.user.clone(),
            identified_by: client.identified_by,
            group: client.identity.group.to_string(),
            url: form.url.clone(),
            message: message.chars().take(MAX_FORM_TEXT).collect(),
        };
        match actions.report_concern(report).await {
            Ok(Outcome::Recorded | Outcome::AlreadyWaiting) => page::message(
                school,
                StatusCode::OK,
                "Thank you for telling us",
                "A member of staff will read what you wrote. If you are worried right now, talk to your teacher or another adult you trust. You can also call Childline free on 0800 1111.",
            ),
            Ok(Outcome::TooMany) => page::message(
                school,
                StatusCode::TOO_MANY_REQUESTS,
                "Please talk to someone",
                "This computer has sent a lot of messages in the last hour. If you are worried, talk to your teacher or another adult you trust now. You can also call Childline free on 0800 1111.",
            ),
            Err(error) => {
                tracing::error!(%error, "cannot record a reported concern");
                page::message(
                    school,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Not sent",
                    "Your message could not be saved just now. Please tell your teacher or another adult you trust.",
                )
            }
        }
    }
}

/// What the portal's forms (log-in, log-out, a new password) and its address's query carry.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PortalForm {
    username: String,
    password: String,
    token: String,
    then: String,
    /// A new password: the one now, and the new one twice.
    current: String,
    new: String,
    again: String,
    /// Whether a starting password is being replaced (only what the page says).
    starting: bool,
    /// The agreement's answer (`accept`, `decline`) and the pending log-in it is for.
    answer: String,
    pending: String,
}

/// A page's query, as `T` (its defaults where it is missing or unreadable).
fn query<T: serde::de::DeserializeOwned + Default>(target: &HttpTarget) -> T {
    let query = target.path_and_query.split_once('?').map_or("", |(_, q)| q);
    serde_urlencoded::from_str(query).unwrap_or_default()
}

/// The sign-in provider's answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignOnAnswer {
    code: String,
    state: String,
    error: String,
}

/// What the portal's form tokens are tied to, besides the client address.
const PORTAL_FORM: &str = "portal";

/// `then` if it is an `http`/`https` address to send the browser on to, else empty (a
/// `javascript:` address in a link would run in the portal's page).
fn onward_address(then: &str) -> &str {
    let lower = then.get(..8).unwrap_or(then).to_ascii_lowercase();
    let web = lower.starts_with("http://") || lower.starts_with("https://");
    if web && then.len() <= 2048 && !then.chars().any(char::is_control) {
        then
    } else {
        ""
    }
}

/// The block page's forms.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Form {
    url: String,
    token: String,
    reason: String,
    message: String,
}

async fn read_form<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
) -> Result<T, &'static str> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err("The form was not sent as a form.");
    }
    let body = Limited::new(request.into_body(), MAX_FORM)
        .collect()
        .await
        .map_err(|_| "The form is too large.")?
        .to_bytes();
    serde_urlencoded::from_bytes(&body).map_err(|_| "The form could not be read.")
}
