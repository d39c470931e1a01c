//! Proxy and portal log-ins (Basic authentication, the portal's form) checked against Ward's
//! accounts, with the console's password hashing and lock-out (a wrong password counts
//! towards the same lock as a wrong console log-in, and is audited the same way); then
//! against a person's own Ward password (pupils without a directory account: a starting
//! password from staff, changed at the portal); then against the school's directory (with
//! the same lock-out on the person). The school's password rules are applied when a
//! password is changed at the portal, and told in words a seven-year-old can follow. Portal
//! sessions opened and ended are audited.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use jiff::SignedDuration;
use ward_proxy::{AuthUser, Authenticator, PasswordAdvice, PasswordRefusal, PortalAgreement};
use ward_store::{NewAuditEntry, Store};

use crate::config::Config;

/// Checks proxy log-ins against the accounts in the store.
pub struct AccountLogins {
    store: Store,
    school: ward_store::SchoolId,
    /// Account alerts of one person within this are one alert.
    alert_window: SignedDuration,
    free_attempts: i64,
    max_lock: SignedDuration,
    /// The school's directory, for everyone without a Ward account.
    directory: Option<crate::directory::DirectoryLogins>,
    /// The directory's passwords, for the console accounts it made.
    directory_passwords: Option<crate::directory::DirectoryPasswords>,
    /// The school's password rules.
    passwords: ward_console::passwords::PasswordPolicy,
    /// The school's time zone and the day its year starts (agreements are yearly).
    time_zone: jiff::tz::TimeZone,
    year_starts: (i8, i8),
}

impl AccountLogins {
    /// Log-ins against `store`, locked out as the console's are.
    pub fn new(store: Store, school: ward_store::SchoolId, config: &Config) -> AccountLogins {
        AccountLogins {
            store,
            school,
            alert_window: SignedDuration::from_mins(
                i64::try_from(config.alerts.fold_minutes).unwrap_or(60),
            ),
            free_attempts: config.console.free_login_attempts,
            max_lock: SignedDuration::from_mins(config.console.max_lockout_minutes),
            directory: None,
            directory_passwords: None,
            // Checked when the configuration was loaded.
            passwords: config.passwords.policy().unwrap_or_default(),
            // Checked when the configuration was loaded.
            time_zone: jiff::tz::TimeZone::get(&config.school.time_zone)
                .unwrap_or(jiff::tz::TimeZone::UTC),
            year_starts: config.parsed.year_starts,
        }
    }

    /// Also checks directory passwords, for usernames that are not Ward accounts.
    pub fn with_directory(mut self, directory: crate::directory::DirectoryLogins) -> AccountLogins {
        self.directory_passwords = Some(directory.passwords());
        self.directory = Some(directory);
        self
    }

    /// The school year today falls in, in the school's time zone.
    fn school_year(&self) -> i16 {
        let today = jiff::Timestamp::now()
            .to_zoned_datetime(self.time_zone.clone())
            .date();
        ward_records::school_year(today.year(), today.month(), today.day(), self.year_starts)
    }

    /// Who `user` answers as, and which agreement they read: a person by their kind and year,
    /// an account (staff) by its own id. `None` for someone Ward does not know.
    async fn signer(
        &self,
        user: &AuthUser,
    ) -> ward_store::Result<Option<(ward_store::Signer, ward_records::Readers)>> {
        if let Some(id) = user.person {
            let person = self.store.person(self.school, id).await?;
            let readers = ward_records::Readers::for_person(
                person.kind.as_str(),
                person.year_group.as_deref(),
            );
            return Ok(Some((ward_store::Signer::Person(id), readers)));
        }
        Ok(self
            .store
            .account_by_username(&user.username)
            .await?
            .filter(|account| account.school == self.school)
            .map(|account| {
                (
                    ward_store::Signer::Account(account.id),
                    ward_records::Readers::Staff,
                )
            }))
    }

    async fn due(&self, user: &AuthUser) -> Result<Option<PortalAgreement>, String> {
        let failed = |error: ward_store::StoreError| error.to_string();
        let Some((signer, readers)) = self.signer(user).await.map_err(failed)? else {
            return Ok(None);
        };
        let agreement = self
            .store
            .agreement_in_force(self.school, readers)
            .await
            .map_err(failed)?;
        let answer = self
            .store
            .agreement_answer(self.school, &agreement, signer, self.school_year())
            .await
            .map_err(failed)?;
        if answer == Some(true) {
            return Ok(None);
        }
        Ok(Some(PortalAgreement {
            id: agreement.id,
            version: agreement.version,
            title: agreement.title,
            body: agreement.body,
            pictured: readers.pictured(),
        }))
    }

    async fn answer(
        &self,
        user: &AuthUser,
        answered: &PortalAgreement,
        accepted: bool,
        address: IpAddr,
    ) -> Result<(), String> {
        let failed = |error: ward_store::StoreError| error.to_string();
        let signer = self
            .signer(user)
            .await
            .map_err(failed)?
            .map(|(signer, _)| signer)
            .ok_or_else(|| format!("{} is not known here", user.username))?;
        let agreement = self
            .store
            .agreement(self.school, answered.id)
            .await
            .map_err(failed)?
            .ok_or_else(|| format!("agreement {} is not this school's", answered.id))?;
        let year = self.school_year();
        self.store
            .answer_agreement(
                self.school,
                &agreement,
                signer,
                &user.username,
                accepted,
                year,
                "portal",
            )
            .await
            .map_err(failed)?;
        let subject = match signer {
            ward_store::Signer::Person(person) => format!("person:{}", person.0),
            ward_store::Signer::Account(_) => format!("account:{}", user.username),
        };
        self.store
            .append_audit(
                self.school,
                &NewAuditEntry {
                    actor: user.username.clone(),
                    action: if accepted {
                        "agreement.accept"
                    } else {
                        "agreement.decline"
                    }
                    .into(),
                    subject,
                    detail: format!(
                        "{} version {} for {}, at the portal from {address}",
                        agreement.readers.title(),
                        agreement.version,
                        ward_records::school_year_name(year)
                    ),
                    reason: None,
                },
            )
            .await
            .map(|_| ())
            .map_err(failed)
    }

    async fn check_account(&self, username: &str, password: &str) -> Option<AuthUser> {
        // A Ward account's own password decides for it (the first administrator, break-glass);
        // then a person's Ward password; everyone else is the directory's.
        match self.store.account_by_username(username).await {
            Ok(Some(_)) => return self.check_ward_account(username, password).await,
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "cannot check a proxy log-in; refused");
                return None;
            }
        }
        match self.store.person_by_username(self.school, username).await {
            Ok(Some(person)) if person.has_password && person.left_at.is_none() => {
                return self.check_person(&person, password, "the proxy").await;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::error!(%error, "cannot check a proxy log-in; refused");
                return None;
            }
        }
        if let Some(directory) = &self.directory {
            let person = directory.check(username, password, "the proxy").await?;
            if person.group.is_none() {
                // Never the staff group by default (what an account without one gets).
                tracing::warn!(user = %person.username, "a directory person without a group cannot log in");
                return None;
            }
            return Some(AuthUser {
                username: person.username,
                person: Some(person.id),
                group: person.group,
            });
        }
        // Nobody by that name: refused as slowly as a wrong password.
        self.check_ward_account(username, password).await
    }

    /// A person's Ward password, with Ward's lock-out on the person; failures audited, and an
    /// alert when the lock first closes.
    async fn check_person(
        &self,
        person: &ward_store::Person,
        password: &str,
        from: &str,
    ) -> Option<AuthUser> {
        match self.try_check_person(person, password, from).await {
            Ok(user) => user,
            Err(error) => {
                tracing::error!(%error, "cannot check a Ward password; refused");
                None
            }
        }
    }

    async fn try_check_person(
        &self,
        person: &ward_store::Person,
        password: &str,
        from: &str,
    ) -> anyhow::Result<Option<AuthUser>> {
        let lockout = crate::misuse::PersonLockout {
            store: &self.store,
            school: self.school,
            free_attempts: self.free_attempts,
            max_lock: self.max_lock,
            action: "person.login.failed",
        };
        let check = async {
            let hash = self
                .store
                .person_password_hash(self.school, person.id)
                .await?
                .unwrap_or_default();
            Ok(password.len() <= ward_console::auth::MAX_PASSWORD * 4
                && ward_console::auth::verify_blocking(password.to_owned(), hash).await)
        };
        if !lockout.attempt(person, from, check).await? {
            return Ok(None);
        }
        if person.group.is_none() {
            // Never the staff group by default (what an account without one gets).
            tracing::warn!(user = %person.username, "a person without a group cannot log in");
            return Ok(None);
        }
        Ok(Some(AuthUser {
            username: person.username.clone(),
            person: Some(person.id),
            group: person.group.clone(),
        }))
    }

    /// A Ward account's password, with the console's lock-out.
    async fn check_ward_account(&self, username: &str, password: &str) -> Option<AuthUser> {
        let lockout = ward_console::auth::Lockout {
            free_attempts: self.free_attempts,
            max_lock: self.max_lock,
        };
        let checked = ward_console::auth::check_password(
            &self.store,
            self.directory_passwords
                .as_ref()
                .map(|passwords| passwords as &dyn ward_console::auth::DirectoryPasswords),
            username,
            password,
            lockout,
            "the proxy",
            "proxy.login.failed",
        )
        .await;
        match checked {
            // Accounts are staff accounts: they browse as the policy's staff group.
            Ok(ward_console::auth::PasswordCheck::Right(account)) => Some(AuthUser {
                username: account.username,
                person: None,
                group: None,
            }),
            Ok(ward_console::auth::PasswordCheck::Refused) => None,
            Err(error) => {
                tracing::error!(%error, "cannot check a proxy log-in; refused");
                None
            }
        }
    }
}

impl AccountLogins {
    /// A user proved by Kerberos: a Ward account (staff), else the person with the name who
    /// has not left; `None` for anyone else, and when the database cannot say.
    async fn named_user(&self, username: &str) -> Option<AuthUser> {
        match self.store.account_by_username(username).await {
            Ok(Some(account)) if !account.disabled => {
                return Some(AuthUser {
                    username: account.username,
                    person: None,
                    group: None,
                });
            }
            Ok(_) => {}
            Err(error) => {
                tracing::error!(%error, "cannot look up a Kerberos user; named without their group");
                return None;
            }
        }
        match self.store.person_by_username(self.school, username).await {
            // A person without a group is named only: an account without a group would
            // browse as staff.
            Ok(Some(person)) if person.left_at.is_none() && person.group.is_some() => {
                Some(AuthUser {
                    username: person.username,
                    person: Some(person.id),
                    group: person.group,
                })
            }
            Ok(_) => None,
            Err(error) => {
                tracing::error!(%error, "cannot look up a Kerberos user; named without their group");
                None
            }
        }
    }

    async fn audit_portal(&self, username: &str, address: IpAddr, opened: bool) {
        let (school, actor) = match self.store.account_by_username(username).await {
            Ok(Some(account)) => (account.school, account.username),
            // A directory log-in: the person's own name.
            Ok(None) => match &self.directory {
                Some(directory) => (directory.school(), username.to_owned()),
                None => return,
            },
            Err(error) => {
                tracing::error!(%error, "cannot read accounts to audit a portal session");
                return;
            }
        };
        let entry = NewAuditEntry {
            actor: actor.clone(),
            action: if opened {
                "proxy.portal.login"
            } else {
                "proxy.portal.logout"
            }
            .into(),
            subject: format!("address:{address}"),
            detail: if opened {
                format!("browsing as {actor} from {address}")
            } else {
                format!("logged out at {address}")
            },
            reason: None,
        };
        if let Err(error) = self.store.append_audit(school, &entry).await {
            tracing::error!(%error, "cannot audit a portal session");
        }
    }
}

impl AccountLogins {
    /// What the portal tells `user` about their Ward password.
    async fn advice(&self, user: &AuthUser) -> Option<PasswordAdvice> {
        let now = jiff::Timestamp::now();
        match user.person {
            Some(id) => {
                let person = self.store.person(self.school, id).await.ok()?;
                if !person.has_password {
                    // The directory's password: the directory's rules.
                    return None;
                }
                let rules = self.passwords.for_group(person.group.as_deref());
                Some(PasswordAdvice {
                    must_change: person.must_change_password,
                    due: rules.due(person.password_changed_at, now),
                    rules: rules.described(),
                })
            }
            None => {
                let account = self
                    .store
                    .account_by_username(&user.username)
                    .await
                    .ok()??;
                if account.from_directory {
                    // The directory's password: the directory's rules.
                    return None;
                }
                let rules = &self.passwords.accounts;
                Some(PasswordAdvice {
                    must_change: account.must_change_password,
                    due: rules.due(account.password_changed_at, now),
                    rules: rules.described(),
                })
            }
        }
    }

    /// A new password at the portal, for a person's Ward password or a staff account.
    async fn change(
        &self,
        username: &str,
        current: &str,
        new: &str,
        again: &str,
    ) -> Result<AuthUser, PasswordRefusal> {
        let refused = |problem: &str, rules: Vec<String>| PasswordRefusal {
            problem: problem.to_owned(),
            rules,
        };
        let Some(user) = self.check_account(username, current).await else {
            return Err(refused(
                "That user name and password did not work. After several tries you have to wait a while.",
                Vec::new(),
            ));
        };
        let Some(advice) = self.advice(&user).await else {
            return Err(refused(
                "Your password belongs to the school network, not to Ward. Ask your teacher how to change it.",
                Vec::new(),
            ));
        };
        if new != again {
            return Err(refused(
                "The two new passwords are not the same. Type them again.",
                advice.rules,
            ));
        }
        if new == current {
            return Err(refused(
                "Make up a new password, not the one you have now.",
                advice.rules,
            ));
        }
        let store_error = |error: ward_store::StoreError| {
            tracing::error!(%error, "cannot save a new password");
            refused(
                "Your new password could not be saved just now. Try again soon.",
                Vec::new(),
            )
        };
        match user.person {
            Some(id) => {
                let person = self
                    .store
                    .person(self.school, id)
                    .await
                    .map_err(store_error)?;
                let rules = self.passwords.for_group(person.group.as_deref());
                let names = [person.given_name.as_str(), person.family_name.as_str()];
                if let Some(problem) = rules.problem(new, &person.username, &names) {
                    return Err(refused(&problem, advice.rules));
                }
                let hash = ward_console::auth::hash_blocking(new.to_owned())
                    .await
                    .map_err(|_| {
                        refused(
                            "Your new password could not be saved just now. Try again soon.",
                            Vec::new(),
                        )
                    })?;
                self.store
                    .set_person_password(
                        self.school,
                        id,
                        Some(&hash),
                        false,
                        jiff::Timestamp::now(),
                    )
                    .await
                    .map_err(store_error)?;
                self.audit_change(self.school, &person.username, &format!("person:{id}"))
                    .await;
            }
            None => {
                let account = self
                    .store
                    .account_by_username(&user.username)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| refused("That account is gone.", Vec::new()))?;
                let names: Vec<&str> = account.display_name.split_whitespace().collect();
                if let Some(problem) =
                    self.passwords
                        .accounts
                        .problem(new, &account.username, &names)
                {
                    return Err(refused(&problem, advice.rules));
                }
                let hash = ward_console::auth::hash_blocking(new.to_owned())
                    .await
                    .map_err(|_| {
                        refused(
                            "Your new password could not be saved just now. Try again soon.",
                            Vec::new(),
                        )
                    })?;
                self.store
                    .set_password(
                        account.school,
                        account.id,
                        &hash,
                        false,
                        jiff::Timestamp::now(),
                    )
                    .await
                    .map_err(store_error)?;
                // Console sessions elsewhere end, as after a change in the console.
                self.store
                    .delete_other_sessions(account.id, "")
                    .await
                    .map_err(store_error)?;
                self.audit_change(
                    account.school,
                    &account.username,
                    &format!("account:{}", account.username),
                )
                .await;
            }
        }
        Ok(user)
    }

    async fn audit_change(&self, school: ward_store::SchoolId, actor: &str, subject: &str) {
        let entry = NewAuditEntry {
            actor: actor.to_owned(),
            action: "portal.password".into(),
            subject: subject.to_owned(),
            detail: "changed own password at the portal".into(),
            reason: None,
        };
        if let Err(error) = self.store.append_audit(school, &entry).await {
            tracing::error!(%error, "cannot audit a password change");
        }
    }
}

impl Authenticator for AccountLogins {
    fn check<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<AuthUser>> + Send + 'a>> {
        Box::pin(self.check_account(username, password))
    }

    fn portal_session<'a>(
        &'a self,
        user: &'a str,
        address: IpAddr,
        opened: bool,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(self.audit_portal(user, address, opened))
    }

    fn named<'a>(
        &'a self,
        username: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<AuthUser>> + Send + 'a>> {
        Box::pin(self.named_user(username))
    }

    fn password_advice<'a>(
        &'a self,
        user: &'a AuthUser,
    ) -> Pin<Box<dyn Future<Output = Option<PasswordAdvice>> + Send + 'a>> {
        Box::pin(self.advice(user))
    }

    fn change_password<'a>(
        &'a self,
        username: &'a str,
        current: &'a str,
        new: &'a str,
        again: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<AuthUser, PasswordRefusal>> + Send + 'a>> {
        Box::pin(self.change(username, current, new, again))
    }

    fn misuse<'a>(
        &'a self,
        report: ward_gateway::misuse::MisuseReport,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            crate::misuse::raise(&self.store, self.school, &report, self.alert_window).await;
        })
    }

    fn agreement_due<'a>(
        &'a self,
        user: &'a AuthUser,
    ) -> Pin<Box<dyn Future<Output = Result<Option<PortalAgreement>, String>> + Send + 'a>> {
        Box::pin(self.due(user))
    }

    fn answer_agreement<'a>(
        &'a self,
        user: &'a AuthUser,
        agreement: &'a PortalAgreement,
        accepted: bool,
        address: IpAddr,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(self.answer(user, agreement, accepted, address))
    }
}
