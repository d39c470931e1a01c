//! The school's directory in `ward serve` and on the command line: the settings turned into a
//! [`Directory`], synchronisation (every `directory.sync_minutes`, and `ward directory sync`)
//! of people and of the console accounts `[[directory.roles]]` gives, directory log-ins for
//! the proxy and the portal with Ward's lock-out on the person, and the directory's passwords
//! for the console accounts it made.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use jiff::SignedDuration;
use ward_directory::{Directory, DirectoryPerson, Kind, MapRule, PasswordCheck, Placement};
use ward_store::{
    DirectoryEntry, DirectorySync, NewAlert, NewAuditEntry, Person, PersonKind, SchoolId, Store,
    StoreError,
};

use crate::config::Config;
use crate::output::say;
use crate::{EXIT_FAILURE, EXIT_OK, Failure};

/// The directory the configuration names (`None`: `directory.url` is empty).
pub fn from_config(config: &Config) -> anyhow::Result<Option<Directory>> {
    let section = &config.directory;
    if section.url.trim().is_empty() {
        return Ok(None);
    }
    let ca = if section.ca.trim().is_empty() {
        None
    } else {
        Some(
            std::fs::read(section.ca.trim())
                .with_context(|| format!("directory.ca: cannot read {}", section.ca.trim()))?,
        )
    };
    let mut rules = Vec::new();
    for (number, map) in section.map.iter().enumerate() {
        let which = format!("[[directory.map]] number {}", number + 1);
        let kind = Kind::parse(&map.kind).with_context(|| {
            format!("{which}: kind {:?} is not pupil, staff or guest", map.kind)
        })?;
        let text = |value: &str| (!value.trim().is_empty()).then(|| value.trim().to_owned());
        rules.push(MapRule {
            member_of: text(&map.member_of),
            under: text(&map.under),
            place: Placement {
                kind,
                year: text(&map.year),
                group: text(&map.group),
            },
        });
    }
    let settings = ward_directory::Settings {
        url: section.url.trim().to_owned(),
        bind_dn: section.bind_dn.trim().to_owned(),
        bind_password: section.bind_password.expose().to_owned(),
        base_dn: section.base_dn.trim().to_owned(),
        user_filter: section.user_filter.trim().to_owned(),
        username_attribute: section.username_attribute.trim().to_owned(),
        timeout: Duration::from_secs(section.timeout_seconds.max(1)),
        rules,
        tls: ward_directory::tls_config(ca.as_deref())?,
    };
    Ok(Some(Directory::new(settings)?))
}

/// One `[[directory.roles]]`: members of the group (a normalised DN) get the roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    group: String,
    roles: ward_store::Roles,
}

/// The console roles the configuration gives to directory groups.
pub fn role_rules(config: &Config) -> anyhow::Result<Vec<RoleRule>> {
    config
        .directory
        .roles
        .iter()
        .enumerate()
        .map(|(number, rule)| {
            let which = format!("[[directory.roles]] number {}", number + 1);
            if rule.member_of.trim().is_empty() {
                anyhow::bail!("{which}: member_of is empty");
            }
            let roles: ward_store::Roles = rule
                .roles
                .parse()
                .map_err(|error| anyhow::anyhow!("{which}: roles: {error}"))?;
            if roles.is_empty() {
                anyhow::bail!("{which}: no roles");
            }
            Ok(RoleRule {
                group: ward_directory::normalise_dn(&rule.member_of),
                roles,
            })
        })
        .collect()
}

/// The roles `rules` give `person` (none: no console account).
fn roles_of(person: &DirectoryPerson, rules: &[RoleRule]) -> ward_store::Roles {
    ward_store::Roles::new(
        rules
            .iter()
            .filter(|rule| person.groups.contains(&rule.group))
            .flat_map(|rule| rule.roles.iter()),
    )
}

/// The directory's passwords, for the console accounts it made: a bind as the user.
#[derive(Debug)]
pub struct DirectoryPasswords(pub Directory);

impl ward_console::auth::DirectoryPasswords for DirectoryPasswords {
    fn check<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let checked = async {
                let Some(found) = self.0.find(username).await? else {
                    return Ok::<_, ward_directory::DirectoryError>(false);
                };
                Ok(self.0.check_password(&found, password).await? == PasswordCheck::Right)
            };
            match checked.await {
                Ok(right) => right,
                Err(error) => {
                    tracing::error!(%error, "cannot check a directory password; refused");
                    false
                }
            }
        })
    }
}

/// What a synchronisation did: people, and the console accounts (when `[[directory.roles]]`
/// gives any).
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// People.
    pub people: DirectorySync,
    /// Console accounts.
    pub accounts: Option<ward_store::AccountsSync>,
}

/// What the store records for a placed directory person (`None`: no rule places them).
fn entry(person: &DirectoryPerson) -> Option<DirectoryEntry> {
    let placement = person.placement.as_ref()?;
    Some(DirectoryEntry {
        username: person.username.clone(),
        given_name: person.given_name.clone(),
        family_name: person.family_name.clone(),
        email: person.email.clone(),
        kind: match placement.kind {
            Kind::Pupil => PersonKind::Pupil,
            Kind::Staff => PersonKind::Staff,
            Kind::Guest => PersonKind::Guest,
        },
        year: placement.year.clone(),
        group: placement.group.clone(),
    })
}

/// Reads the directory and synchronises the school's people with it, and the console
/// accounts `roles` gives; audited.
pub async fn sync(
    store: &Store,
    school: SchoolId,
    directory: &Directory,
    roles: &[RoleRule],
    allow_many_leavers: bool,
    actor: &str,
) -> anyhow::Result<SyncReport> {
    let people = directory.people().await?;
    let entries: Vec<DirectoryEntry> = people.iter().filter_map(entry).collect();
    let report = store
        .sync_directory(school, &entries, allow_many_leavers)
        .await?;
    let mut detail = format!(
        "{} in the directory, {} placed: {} added, {} updated, {} left, {} back, {} not written",
        people.len(),
        entries.len(),
        report.created,
        report.updated,
        report.left.len(),
        report.returned.len(),
        report.problems.len()
    );
    if !report.left.is_empty() {
        detail.push_str(&format!("; leavers: {}", report.left.join(", ")));
    }
    store
        .append_audit(
            school,
            &NewAuditEntry {
                actor: actor.to_owned(),
                action: "directory.sync".into(),
                subject: "people".into(),
                detail,
                reason: None,
            },
        )
        .await?;
    if roles.is_empty() {
        return Ok(SyncReport {
            people: report,
            accounts: None,
        });
    }
    let accounts: Vec<ward_store::DirectoryAccount> = people
        .iter()
        .map(|person| ward_store::DirectoryAccount {
            username: person.username.clone(),
            display_name: format!("{} {}", person.given_name, person.family_name)
                .trim()
                .to_owned(),
            email: person.email.clone(),
            roles: roles_of(person, roles),
        })
        .collect();
    let accounts = store
        .sync_directory_accounts(school, &accounts, allow_many_leavers)
        .await?;
    let mut detail = format!(
        "{} made, {} with new roles, {} disabled, {} not written",
        accounts.created.len(),
        accounts.changed.len(),
        accounts.disabled.len(),
        accounts.problems.len()
    );
    for username in &accounts.created {
        detail.push_str(&format!("; made {username}"));
    }
    for (username, before, now) in &accounts.changed {
        detail.push_str(&format!("; {username}: {before} to {now}"));
    }
    for username in &accounts.disabled {
        detail.push_str(&format!("; disabled {username}"));
    }
    store
        .append_audit(
            school,
            &NewAuditEntry {
                actor: actor.to_owned(),
                action: "directory.sync".into(),
                subject: "accounts".into(),
                detail,
                reason: None,
            },
        )
        .await?;
    Ok(SyncReport {
        people: report,
        accounts: Some(accounts),
    })
}

/// Synchronises every `minutes` (from now) until Ward stops. A run refused because it would
/// make most people leavers raises an alert: a person must look.
pub fn spawn_sync(
    store: Store,
    school: SchoolId,
    directory: Directory,
    roles: Vec<RoleRule>,
    minutes: u64,
) {
    tokio::spawn(async move {
        let mut refused_told = false;
        loop {
            match sync(&store, school, &directory, &roles, false, "ward").await {
                Ok(SyncReport {
                    people: report,
                    accounts,
                }) => {
                    if let Some(accounts) = &accounts {
                        tracing::info!(
                            made = accounts.created.len(),
                            changed = accounts.changed.len(),
                            disabled = accounts.disabled.len(),
                            "directory accounts synchronised"
                        );
                        for (username, why) in &accounts.problems {
                            tracing::warn!(%username, %why, "a directory account was not written");
                        }
                    }
                    refused_told = false;
                    tracing::info!(
                        added = report.created,
                        updated = report.updated,
                        left = report.left.len(),
                        problems = report.problems.len(),
                        "directory synchronised"
                    );
                    for (username, why) in &report.problems {
                        tracing::warn!(%username, %why, "a directory person was not written");
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "cannot synchronise with the directory; trying again later");
                    let refused = matches!(
                        error.downcast_ref::<StoreError>(),
                        Some(StoreError::Invalid(_))
                    );
                    if refused && !refused_told {
                        refused_told = true;
                        let alert = NewAlert::system(
                            3,
                            format!("The directory synchronisation was refused: {error:#}"),
                        );
                        if let Err(error) = store.raise_alert(school, &alert).await {
                            tracing::error!(%error, "cannot raise the directory alert");
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(minutes.max(1) * 60)).await;
        }
    });
}

/// Log-ins with directory passwords: the person found in the directory (and added to Ward at
/// their first log-in), Ward's lock-out counted on them before the directory is asked, and every
/// failure audited.
pub struct DirectoryLogins {
    store: Store,
    school: SchoolId,
    directory: Directory,
    free_attempts: i64,
    max_lock: SignedDuration,
}

impl DirectoryLogins {
    /// Log-ins for `school` against `directory`, locked out as the console's are.
    pub fn new(
        store: Store,
        school: SchoolId,
        directory: Directory,
        config: &Config,
    ) -> DirectoryLogins {
        DirectoryLogins {
            store,
            school,
            directory,
            free_attempts: config.console.free_login_attempts,
            max_lock: SignedDuration::from_mins(config.console.max_lockout_minutes),
        }
    }

    /// The school whose people log in.
    pub fn school(&self) -> SchoolId {
        self.school
    }

    /// The directory's passwords, for the console accounts it made.
    pub fn passwords(&self) -> DirectoryPasswords {
        DirectoryPasswords(self.directory.clone())
    }

    /// The person, if `password` is their directory password and they may log in. `from`
    /// says where (for the audit log).
    pub async fn check(&self, username: &str, password: &str, from: &str) -> Option<Person> {
        match self.try_check(username, password, from).await {
            Ok(person) => person,
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "cannot check a directory log-in; refused");
                None
            }
        }
    }

    async fn try_check(
        &self,
        username: &str,
        password: &str,
        from: &str,
    ) -> anyhow::Result<Option<Person>> {
        let Some(found) = self.directory.find(username).await? else {
            return Ok(None);
        };
        // Only people a rule places are Ward users: other accounts' passwords are never tried.
        let Some(entry) = entry(&found) else {
            return Ok(None);
        };
        let person = match self
            .store
            .person_by_username(self.school, &found.username)
            .await?
        {
            Some(person) if person.from_directory && person.left_at.is_none() => person,
            // New to Ward, back after leaving, or known only from the MIS until now.
            _ => self.store.add_directory_person(self.school, &entry).await?,
        };
        let lockout = crate::misuse::PersonLockout {
            store: &self.store,
            school: self.school,
            free_attempts: self.free_attempts,
            max_lock: self.max_lock,
            action: "directory.login.failed",
        };
        let check = async {
            Ok(self.directory.check_password(&found, password).await? == PasswordCheck::Right)
        };
        Ok(lockout
            .attempt(&person, from, check)
            .await?
            .then_some(person))
    }
}

/// `ward directory …`.
#[derive(Debug, clap::Subcommand)]
pub enum DirectoryCommand {
    /// Synchronise the school's people with the directory now.
    Sync(SyncArgs),
    /// Check a directory password (read from standard input) and say where the person is
    /// placed: a test of the settings.
    Check(CheckArgs),
}

/// Arguments of `ward directory sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Configuration file (TOML); see ward.example.toml. Environment variables override it.
    #[arg(long, env = "WARD_CONFIG")]
    config: Option<PathBuf>,
    /// Show who the directory has and where they would go, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Mark people as leavers even when most of them are gone from the directory.
    #[arg(long)]
    allow_many_leavers: bool,
}

/// Arguments of `ward directory check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Configuration file (TOML); see ward.example.toml. Environment variables override it.
    #[arg(long, env = "WARD_CONFIG")]
    config: Option<PathBuf>,
    /// The log-in name.
    username: String,
}

fn placement_text(person: &DirectoryPerson) -> String {
    match &person.placement {
        None => "not placed by any [[directory.map]] rule: not a Ward user".into(),
        Some(place) => {
            let mut text = place.kind.as_str().to_owned();
            if let Some(year) = &place.year {
                text.push_str(&format!(", year {year}"));
            }
            text.push_str(&format!(
                ", group {}",
                place
                    .group
                    .as_deref()
                    .unwrap_or("(the school's for the kind and year)")
            ));
            text
        }
    }
}

/// Runs a `ward directory` command.
pub fn run(command: DirectoryCommand) -> Result<u8, Failure> {
    let config_path = match &command {
        DirectoryCommand::Sync(arguments) => arguments.config.clone(),
        DirectoryCommand::Check(arguments) => arguments.config.clone(),
    };
    let config = Config::load(config_path.as_deref(), std::env::vars()).map_err(Failure::usage)?;
    let directory = from_config(&config)
        .map_err(Failure::usage)?
        .ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "directory.url is not set: there is no directory"
            ))
        })?;
    let roles = role_rules(&config).map_err(Failure::usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        match command {
            DirectoryCommand::Sync(arguments) if arguments.dry_run => {
                let people = directory.people().await?;
                let mut placed = 0;
                for person in &people {
                    placed += usize::from(person.placement.is_some());
                    let console = roles_of(person, &roles);
                    say!(
                        "{}: {} {}: {}{}",
                        person.username,
                        person.given_name,
                        person.family_name,
                        placement_text(person),
                        if console.is_empty() {
                            String::new()
                        } else {
                            format!("; console roles {console}")
                        }
                    );
                }
                say!(
                    "{} people in the directory, {placed} placed (nothing was changed)",
                    people.len()
                );
                Ok(EXIT_OK)
            }
            DirectoryCommand::Sync(arguments) => {
                let store = crate::serve::open_store(&config).await?;
                let school = store
                    .schools()
                    .await?
                    .first()
                    .map(|school| school.id)
                    .context("there is no school yet: run `ward serve` once first")?;
                let SyncReport {
                    people: report,
                    accounts,
                } = sync(
                    &store,
                    school,
                    &directory,
                    &roles,
                    arguments.allow_many_leavers,
                    "ward directory sync",
                )
                .await?;
                say!(
                    "{} added, {} updated, {} marked as leavers, {} back",
                    report.created,
                    report.updated,
                    report.left.len(),
                    report.returned.len()
                );
                for username in &report.left {
                    say!("left: {username}");
                }
                for username in &report.returned {
                    say!("back: {username}");
                }
                for (username, why) in &report.problems {
                    say!("not written: {username}: {why}");
                }
                let mut account_problems = 0;
                if let Some(accounts) = &accounts {
                    say!(
                        "console accounts: {} made, {} with new roles, {} disabled",
                        accounts.created.len(),
                        accounts.changed.len(),
                        accounts.disabled.len()
                    );
                    for username in &accounts.created {
                        say!("account made: {username}");
                    }
                    for (username, before, now) in &accounts.changed {
                        say!("account roles: {username}: {before} to {now}");
                    }
                    for username in &accounts.disabled {
                        say!("account disabled: {username}");
                    }
                    for (username, why) in &accounts.problems {
                        say!("account not written: {username}: {why}");
                    }
                    account_problems = accounts.problems.len();
                }
                Ok(if report.problems.is_empty() && account_problems == 0 {
                    EXIT_OK
                } else {
                    EXIT_FAILURE
                })
            }
            DirectoryCommand::Check(arguments) => {
                let mut password = String::new();
                std::io::stdin().lock().read_line(&mut password)?;
                let password = password.trim_end_matches(['\r', '\n']);
                let Some(person) = directory.find(&arguments.username).await? else {
                    say!(
                        "{}: not in the directory (or not unique there)",
                        arguments.username
                    );
                    return Ok(EXIT_FAILURE);
                };
                say!(
                    "{} ({}): {}",
                    person.username,
                    person.dn,
                    placement_text(&person)
                );
                match directory.check_password(&person, password).await? {
                    PasswordCheck::Right => {
                        say!("the password is right");
                        Ok(EXIT_OK)
                    }
                    PasswordCheck::Wrong => {
                        say!("the directory refused the password");
                        Ok(EXIT_FAILURE)
                    }
                }
            }
        }
    })
}
