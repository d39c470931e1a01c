//! Proxy and portal log-ins (Basic authentication, the portal's form) checked against Ward's
//! accounts, with the console's password hashing and lock-out (a wrong password counts
//! towards the same lock as a wrong console log-in, and is audited the same way), and, for
//! anyone without a Ward account, against the school's directory (with the same lock-out on
//! the person). Portal sessions opened and ended are audited.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use jiff::SignedDuration;
use ward_proxy::{AuthUser, Authenticator};
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
        }
    }

    /// Also checks directory passwords, for usernames that are not Ward accounts.
    pub fn with_directory(mut self, directory: crate::directory::DirectoryLogins) -> AccountLogins {
        self.directory = Some(directory);
        self
    }

    async fn check_account(&self, username: &str, password: &str) -> Option<AuthUser> {
        // A Ward account's own password decides for it (the first administrator, break-glass);
        // everyone else is the directory's.
        if let Some(directory) = &self.directory {
            match self.store.account_by_username(username).await {
                Ok(None) => {
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
                Ok(Some(_)) => {}
                Err(error) => {
                    tracing::error!(%error, "cannot check a proxy log-in; refused");
                    return None;
                }
            }
        }
        let lockout = ward_console::auth::Lockout {
            free_attempts: self.free_attempts,
            max_lock: self.max_lock,
        };
        let checked = ward_console::auth::check_password(
            &self.store,
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

    fn misuse<'a>(
        &'a self,
        report: ward_gateway::misuse::MisuseReport,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            crate::misuse::raise(&self.store, self.school, &report, self.alert_window).await;
        })
    }
}
