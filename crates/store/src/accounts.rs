//! Console accounts, failed-log-in bookkeeping and sessions. Password hashing itself is the
//! console's; the store keeps the PHC string it is given.

use crate::BeginWrite as _;
use jiff::{SignedDuration, Timestamp};
use sqlx::Row;

use crate::{
    Account, AccountId, PersonId, Result, Roles, SchoolId, SecondFactor, Session, Store,
    StoreError, dispatch, micros, timestamp,
};

/// An account to create.
#[derive(Clone)]
pub struct NewAccount {
    /// Log-in name (unique across the deployment).
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// What it may do.
    pub roles: Roles,
    /// PHC string of the password.
    pub password_hash: String,
    /// Whether the first log-in must choose a new password.
    pub must_change_password: bool,
}

/// A log-in attempt, as [`Store::claim_login_attempt`] started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// The account is locked until then: the password must not be checked.
    Locked(Timestamp),
    /// Counted as a failure (with the lock it brings, if any) until the password proves right.
    Counted(LoginFailure),
}

/// The state of an account after a failed log-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailure {
    /// Failed attempts since the last success.
    pub failed_logins: i64,
    /// If set, log-ins are refused until then.
    pub locked_until: Option<Timestamp>,
}

const ACCOUNT_COLUMNS: &str = "id, school_id, username, display_name, roles, password_hash, \
     must_change_password, failed_logins, locked_until, disabled, totp_secret IS NOT NULL AS has_totp, email, \
     password_changed_at, source";

macro_rules! account_from_row {
    ($row:expr) => {{
        let row = $row;
        let roles: String = row.try_get("roles")?;
        let locked_until: Option<i64> = row.try_get("locked_until")?;
        Account {
            id: AccountId(row.try_get("id")?),
            school: SchoolId(row.try_get("school_id")?),
            username: row.try_get("username")?,
            display_name: row.try_get("display_name")?,
            roles: roles.parse::<Roles>()?,
            password_hash: row.try_get("password_hash")?,
            must_change_password: row.try_get("must_change_password")?,
            failed_logins: row.try_get("failed_logins")?,
            locked_until: locked_until.map(timestamp),
            disabled: row.try_get("disabled")?,
            has_second_factor: row.try_get("has_totp")?,
            email: row.try_get("email")?,
            password_changed_at: row
                .try_get::<Option<i64>, _>("password_changed_at")?
                .map(timestamp),
            from_directory: row.try_get::<String, _>("source")? == "directory",
        }
    }};
}

impl Store {
    /// Creates an account in `school`.
    pub async fn create_account(
        &self,
        school: SchoolId,
        account: &NewAccount,
    ) -> Result<AccountId> {
        let username = account.username.trim().to_lowercase();
        crate::check_username("username", &username)?;
        crate::check_name("display name", account.display_name.trim())?;
        if account.roles.is_empty() {
            return Err(StoreError::Invalid(
                "an account needs at least one role".into(),
            ));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let existing = sqlx::query("SELECT id FROM accounts WHERE username = $1")
                .bind(&username)
                .fetch_optional(pool)
                .await?;
            if existing.is_some() {
                return Err(StoreError::Conflict(format!("account {username:?}")));
            }
            let row = sqlx::query(
                "INSERT INTO accounts (school_id, username, display_name, roles, password_hash,
                   must_change_password, created_at, password_changed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            )
            .bind(school.0)
            .bind(&username)
            .bind(account.display_name.trim())
            .bind(account.roles.to_string())
            .bind(&account.password_hash)
            .bind(account.must_change_password)
            .bind(now)
            .fetch_one(pool)
            .await?;
            Ok(AccountId(row.try_get(0)?))
        })
    }

    /// The account with this username (any school), for log-in.
    pub async fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
        if username.chars().any(char::is_control) {
            return Ok(None);
        }
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE username = $1");
        dispatch!(self, pool => {
            match sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(username.trim().to_lowercase())
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Ok(Some(account_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// One account of a school.
    pub async fn account(&self, school: SchoolId, id: AccountId) -> Result<Account> {
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE school_id = $1 AND id = $2");
        dispatch!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(id.0)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound("account"))?;
            Ok(account_from_row!(&row))
        })
    }

    /// The school's accounts, by username.
    pub async fn accounts(&self, school: SchoolId) -> Result<Vec<Account>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE school_id = $1 ORDER BY username"
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(account_from_row!(row))).collect()
        })
    }

    /// How many accounts the whole deployment has (none means first start).
    pub async fn count_accounts(&self) -> Result<i64> {
        dispatch!(self, pool => {
            Ok(sqlx::query("SELECT COUNT(*) FROM accounts").fetch_one(pool).await?.try_get(0)?)
        })
    }

    /// Starts a log-in attempt on an account, atomically: refused at once while the account is
    /// locked, else counted as a failure until the password proves right (then
    /// [`Store::record_login_success`] clears the count). After `free_attempts` failures each
    /// further one locks the account for a doubling time (1 s, 2 s, 4 s…, at most `max_lock`):
    /// slow enough to stop guessing, short enough that a forgetful teacher is not locked out for
    /// the day. Counting before the password is checked, in one transaction that holds the
    /// account's row, is what stops many attempts at once from all being checked: the ones
    /// after the lock are refused, whatever their password.
    pub async fn claim_login_attempt(
        &self,
        id: AccountId,
        now: Timestamp,
        free_attempts: i64,
        max_lock: SignedDuration,
    ) -> Result<LoginAttempt> {
        self.claim_attempt(LockedTable::Accounts, id.0, now, free_attempts, max_lock)
            .await
    }

    /// [`Store::claim_login_attempt`] for a person who logs in with the school's directory
    /// password (at the proxy or the portal): the same counting and lock, on their own row.
    pub async fn claim_person_login_attempt(
        &self,
        id: PersonId,
        now: Timestamp,
        free_attempts: i64,
        max_lock: SignedDuration,
    ) -> Result<LoginAttempt> {
        self.claim_attempt(LockedTable::People, id.0, now, free_attempts, max_lock)
            .await
    }

    async fn claim_attempt(
        &self,
        table: LockedTable,
        id: i64,
        now: Timestamp,
        free_attempts: i64,
        max_lock: SignedDuration,
    ) -> Result<LoginAttempt> {
        let table = table.name();
        let count_sql = format!(
            "UPDATE {table} SET failed_logins = failed_logins + 1
             WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2)
             RETURNING failed_logins"
        );
        let locked_sql = format!("SELECT locked_until FROM {table} WHERE id = $1");
        let lock_sql = format!("UPDATE {table} SET locked_until = $2 WHERE id = $1");
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let counted = sqlx::query(sqlx::AssertSqlSafe(count_sql.as_str()))
                .bind(id)
                .bind(micros(now))
                .fetch_optional(&mut *transaction)
                .await?;
            let Some(counted) = counted else {
                let locked_until: Option<i64> =
                    sqlx::query(sqlx::AssertSqlSafe(locked_sql.as_str()))
                        .bind(id)
                        .fetch_optional(&mut *transaction)
                        .await?
                        .ok_or(StoreError::NotFound("account"))?
                        .try_get(0)?;
                transaction.commit().await?;
                return Ok(LoginAttempt::Locked(locked_until.map_or(now, timestamp)));
            };
            let failed: i64 = counted.try_get(0)?;
            let locked_until = (failed > free_attempts).then(|| {
                let exponent = u32::try_from((failed - free_attempts - 1).min(20)).unwrap_or(20);
                let lock = SignedDuration::from_secs(1i64 << exponent).min(max_lock);
                now + lock
            });
            sqlx::query(sqlx::AssertSqlSafe(lock_sql.as_str()))
                .bind(id)
                .bind(locked_until.map(micros))
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok(LoginAttempt::Counted(LoginFailure { failed_logins: failed, locked_until }))
        })
    }

    /// Clears the failure count after a successful log-in.
    pub async fn record_login_success(&self, id: AccountId) -> Result<()> {
        self.clear_attempts(LockedTable::Accounts, id.0).await
    }

    /// Clears a person's failure count after a successful directory log-in.
    pub async fn record_person_login_success(&self, id: PersonId) -> Result<()> {
        self.clear_attempts(LockedTable::People, id.0).await
    }

    async fn clear_attempts(&self, table: LockedTable, id: i64) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET failed_logins = 0, locked_until = NULL WHERE id = $1",
            table.name()
        );
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Sets an account's password (a PHC string), whether it must be changed at next log-in,
    /// and when it was set (`now`, for the school's change reminders).
    pub async fn set_password(
        &self,
        school: SchoolId,
        id: AccountId,
        password_hash: &str,
        must_change_password: bool,
        now: Timestamp,
    ) -> Result<()> {
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE accounts SET password_hash = $3, must_change_password = $4, failed_logins = 0,
                   locked_until = NULL, password_changed_at = $5
                 WHERE school_id = $1 AND id = $2",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(password_hash)
            .bind(must_change_password)
            .bind(micros(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound("account"));
        }
        Ok(())
    }

    /// Replaces an account's roles.
    pub async fn set_roles(&self, school: SchoolId, id: AccountId, roles: &Roles) -> Result<()> {
        if roles.is_empty() {
            return Err(StoreError::Invalid(
                "an account needs at least one role".into(),
            ));
        }
        let changed = dispatch!(self, pool => {
            sqlx::query("UPDATE accounts SET roles = $3 WHERE school_id = $1 AND id = $2")
                .bind(school.0)
                .bind(id.0)
                .bind(roles.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound("account"));
        }
        Ok(())
    }

    /// Starts a session for `account`; `token_hash` is the SHA-256 of the cookie's token.
    pub async fn create_session(
        &self,
        account: &Account,
        token_hash: &str,
        csrf_token: &str,
        now: Timestamp,
        expires_at: Timestamp,
        second_factor: SecondFactor,
    ) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO sessions (token_hash, account_id, school_id, csrf_token, created_at, expires_at, second_factor)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(token_hash)
            .bind(account.id.0)
            .bind(account.school.0)
            .bind(csrf_token)
            .bind(micros(now))
            .bind(micros(expires_at))
            .bind(second_factor.as_str())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The live session with this token hash, if any.
    pub async fn session(&self, token_hash: &str, now: Timestamp) -> Result<Option<Session>> {
        dispatch!(self, pool => {
            let row = sqlx::query(
                "SELECT account_id, school_id, csrf_token, expires_at, second_factor FROM sessions
                 WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(micros(now))
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(Session {
                    account: AccountId(row.try_get("account_id")?),
                    school: SchoolId(row.try_get("school_id")?),
                    csrf_token: row.try_get("csrf_token")?,
                    expires_at: timestamp(row.try_get("expires_at")?),
                    second_factor: SecondFactor::parse(&row.try_get::<String, _>("second_factor")?),
                })),
                None => Ok(None),
            }
        })
    }

    /// Marks a session's second factor as done.
    pub async fn complete_second_factor(&self, token_hash: &str) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query("UPDATE sessions SET second_factor = 'done' WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// An account's authenticator-app secret, if it has one.
    pub async fn totp_secret(&self, id: AccountId) -> Result<Option<String>> {
        dispatch!(self, pool => {
            let row = sqlx::query("SELECT totp_secret FROM accounts WHERE id = $1")
                .bind(id.0)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound("account"))?;
            Ok(row.try_get("totp_secret")?)
        })
    }

    /// Sets (or, with `None`, removes: a lost phone) an account's authenticator-app secret.
    pub async fn set_totp_secret(&self, id: AccountId, secret: Option<&str>) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query("UPDATE accounts SET totp_secret = $2, totp_last_step = NULL WHERE id = $1")
                .bind(id.0)
                .bind(secret)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Sets (or clears) an account's email address, by which single sign-on finds it.
    pub async fn set_account_email(&self, id: AccountId, email: Option<&str>) -> Result<()> {
        let email = email.map(|email| email.trim().to_lowercase());
        if let Some(email) = &email {
            crate::check_name("email", email)?;
        }
        dispatch!(self, pool => {
            sqlx::query("UPDATE accounts SET email = $2 WHERE id = $1")
                .bind(id.0)
                .bind(email)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The account with this email address (whatever its case), if exactly one has it.
    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE lower(email) = lower($1) LIMIT 2"
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(email.trim())
                .fetch_all(pool)
                .await?;
            if rows.len() != 1 {
                return Ok(None);
            }
            Ok(Some(account_from_row!(&rows[0])))
        })
    }

    /// Records a single sign-on under way (by the hash of its state).
    pub async fn create_sso_state(
        &self,
        state_hash: &str,
        nonce: &str,
        verifier: &str,
        next: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO sso_states (state_hash, nonce, verifier, next, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(state_hash)
            .bind(nonce)
            .bind(verifier)
            .bind(next)
            .bind(micros(expires_at))
            .execute(pool)
            .await?;
            sqlx::query("DELETE FROM sso_states WHERE expires_at < $1")
                .bind(micros(Timestamp::now()))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Takes a sign-in under way (once: it is deleted), if it has not expired: its nonce,
    /// PKCE verifier and the page to go to.
    pub async fn take_sso_state(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(String, String, String)>> {
        dispatch!(self, pool => {
            let row = sqlx::query(
                "DELETE FROM sso_states WHERE state_hash = $1 RETURNING nonce, verifier, next, expires_at",
            )
            .bind(state_hash)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            if timestamp(row.try_get("expires_at")?) <= now {
                return Ok(None);
            }
            Ok(Some((row.try_get("nonce")?, row.try_get("verifier")?, row.try_get("next")?)))
        })
    }

    /// The secret an account is setting up (not yet confirmed by a code), if any.
    pub async fn pending_totp_secret(&self, id: AccountId) -> Result<Option<String>> {
        dispatch!(self, pool => {
            let row = sqlx::query("SELECT totp_pending FROM accounts WHERE id = $1")
                .bind(id.0)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound("account"))?;
            Ok(row.try_get("totp_pending")?)
        })
    }

    /// Sets (or clears) the secret an account is setting up.
    pub async fn set_pending_totp_secret(&self, id: AccountId, secret: Option<&str>) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query("UPDATE accounts SET totp_pending = $2 WHERE id = $1")
                .bind(id.0)
                .bind(secret)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Makes the secret being set up the account's own (a code from it was typed).
    pub async fn confirm_totp_secret(&self, id: AccountId) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query(
                "UPDATE accounts SET totp_secret = totp_pending, totp_pending = NULL
                 WHERE id = $1 AND totp_pending IS NOT NULL",
            )
            .bind(id.0)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Claims TOTP time step `step` for the account: true once, for a step later than any
    /// accepted before (so a code seen over a shoulder, or sent twice, is good only once).
    pub async fn claim_totp_step(&self, id: AccountId, step: i64) -> Result<bool> {
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE accounts SET totp_last_step = $2
                 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
            )
            .bind(id.0)
            .bind(step)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Ends one session (log-out).
    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Ends every session of an account (after a password change, on other devices too) except
    /// the one whose token hash is `keep`.
    pub async fn delete_other_sessions(&self, account: AccountId, keep: &str) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND token_hash <> $2")
                .bind(account.0)
                .bind(keep)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Forgets sessions that have expired.
    pub async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64> {
        dispatch!(self, pool => {
            Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(micros(now))
                .execute(pool)
                .await?
                .rows_affected())
        })
    }
}

/// The tables whose rows carry a log-in lock-out (`failed_logins`, `locked_until`).
#[derive(Debug, Clone, Copy)]
enum LockedTable {
    Accounts,
    People,
}

impl LockedTable {
    fn name(self) -> &'static str {
        match self {
            LockedTable::Accounts => "accounts",
            LockedTable::People => "people",
        }
    }
}
