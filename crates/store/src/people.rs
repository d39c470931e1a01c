//! People (pupils, staff, guests) and the device register.

use crate::BeginWrite as _;
use jiff::Timestamp;
use sqlx::Row;

use crate::{
    Device, DeviceId, NewDevice, NewPerson, Person, PersonId, PersonKind, Result, SchoolId, Store,
    StoreError, dispatch, micros,
};

const PERSON_COLUMNS: &str = "p.id, p.kind, p.username, p.given_name, p.family_name, p.external_id, \
     p.year_group, p.key_stage, p.class_name, p.job_role, g.name AS group_name, p.email, p.source, p.left_at, \
     p.password_hash IS NOT NULL AS has_password, p.must_change_password, p.password_changed_at";

macro_rules! person_from_row {
    ($row:expr) => {{
        let row = $row;
        let kind: String = row.try_get("kind")?;
        Person {
            id: PersonId(row.try_get("id")?),
            kind: kind.parse::<PersonKind>()?,
            username: row.try_get("username")?,
            given_name: row.try_get("given_name")?,
            family_name: row.try_get("family_name")?,
            external_id: row.try_get("external_id")?,
            year_group: row.try_get("year_group")?,
            key_stage: row.try_get("key_stage")?,
            class_name: row.try_get("class_name")?,
            job_role: row.try_get("job_role")?,
            group: row.try_get("group_name")?,
            email: row.try_get("email")?,
            from_directory: row.try_get::<String, _>("source")? == "directory",
            source: row.try_get("source")?,
            left_at: row
                .try_get::<Option<i64>, _>("left_at")?
                .map($crate::timestamp),
            has_password: row.try_get("has_password")?,
            must_change_password: row.try_get("must_change_password")?,
            password_changed_at: row
                .try_get::<Option<i64>, _>("password_changed_at")?
                .map($crate::timestamp),
        }
    }};
}

impl Store {
    /// Creates or updates people (matched on username within the school), all in one
    /// transaction: either every one is written or none is. Returns (created, updated).
    ///
    /// A person without a username (an MIS export has none) is matched by their MIS id (UPN,
    /// admission number); one not found is added with that id, lower-cased, as their username
    /// until the directory or an import with usernames gives the real one: a person with a
    /// username whose MIS id matches such a placeholder takes it over (renamed, records kept).
    pub async fn upsert_people(
        &self,
        school: SchoolId,
        people: &[NewPerson],
    ) -> Result<(usize, usize)> {
        for person in people {
            check_person(person)?;
        }
        let now = micros(Timestamp::now());
        let (mut created, mut updated) = (0, 0);
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            for person in people {
                let placeholder = person
                    .external_id
                    .as_deref()
                    .map(str::to_lowercase)
                    .unwrap_or_default();
                let username = if person.username.is_empty() {
                    // Matched by MIS id: the person's username, whatever it is now.
                    let found = sqlx::query(
                        "SELECT username FROM people WHERE school_id = $1 AND lower(external_id) = $2
                         ORDER BY id LIMIT 1",
                    )
                    .bind(school.0)
                    .bind(&placeholder)
                    .fetch_optional(&mut *transaction)
                    .await?;
                    match found {
                        Some(row) => row.try_get::<String, _>(0)?,
                        None => placeholder.clone(),
                    }
                } else {
                    let known = sqlx::query("SELECT id FROM people WHERE school_id = $1 AND username = $2")
                        .bind(school.0)
                        .bind(&person.username)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    if known.is_none() && !placeholder.is_empty() {
                        // The real username for someone added by MIS id: renamed in place.
                        sqlx::query(
                            "UPDATE people SET username = $3 WHERE school_id = $1 AND username = $2
                               AND lower(external_id) = $2",
                        )
                        .bind(school.0)
                        .bind(&placeholder)
                        .bind(&person.username)
                        .execute(&mut *transaction)
                        .await?;
                    }
                    person.username.clone()
                };
                let existing = sqlx::query("SELECT id FROM people WHERE school_id = $1 AND username = $2")
                    .bind(school.0)
                    .bind(&username)
                    .fetch_optional(&mut *transaction)
                    .await?;
                let query = match existing {
                    Some(_) => {
                        updated += 1;
                        sqlx::query(
                            // What the file does not say (no class column, say) is kept.
                            "UPDATE people SET kind = $3, given_name = $4, family_name = $5,
                               external_id = COALESCE($6, external_id), year_group = $7, key_stage = $8,
                               class_name = COALESCE($9, class_name), job_role = COALESCE($10, job_role),
                               group_id = $11, updated_at = $12
                             WHERE school_id = $1 AND username = $2",
                        )
                    }
                    None => {
                        created += 1;
                        sqlx::query(
                            "INSERT INTO people (school_id, username, kind, given_name, family_name, external_id,
                               year_group, key_stage, class_name, job_role, group_id, updated_at, created_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
                        )
                    }
                };
                query
                    .bind(school.0)
                    .bind(&username)
                    .bind(person.kind.as_str())
                    .bind(&person.given_name)
                    .bind(&person.family_name)
                    .bind(&person.external_id)
                    .bind(&person.year_group)
                    .bind(&person.key_stage)
                    .bind(&person.class_name)
                    .bind(&person.job_role)
                    .bind(person.group.map(|group| group.0))
                    .bind(now)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await?;
        });
        Ok((created, updated))
    }

    /// Adds one person (the console's *Add a person*): refused as a conflict when the school
    /// has someone with that username already.
    pub async fn add_person(&self, school: SchoolId, person: &NewPerson) -> Result<PersonId> {
        check_person(person)?;
        if person.username.is_empty() {
            return Err(StoreError::Invalid("give their username".into()));
        }
        if self
            .person_by_username(school, &person.username)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(format!(
                "someone already has the username {}",
                person.username
            )));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let row = sqlx::query(
                "INSERT INTO people (school_id, username, kind, given_name, family_name, external_id,
                   year_group, key_stage, class_name, job_role, group_id, updated_at, created_at, source)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, 'console')
                 RETURNING id",
            )
            .bind(school.0)
            .bind(person.username.to_lowercase())
            .bind(person.kind.as_str())
            .bind(&person.given_name)
            .bind(&person.family_name)
            .bind(&person.external_id)
            .bind(&person.year_group)
            .bind(&person.key_stage)
            .bind(&person.class_name)
            .bind(&person.job_role)
            .bind(person.group.map(|group| group.0))
            .bind(now)
            .fetch_one(pool)
            .await?;
            Ok(PersonId(row.try_get(0)?))
        })
    }

    /// Changes a person's details (not their username, which their records and log-ins are
    /// kept under). Someone from the directory is changed there, not here.
    pub async fn update_person(
        &self,
        school: SchoolId,
        id: PersonId,
        person: &NewPerson,
    ) -> Result<()> {
        let current = self.person(school, id).await?;
        if current.from_directory {
            return Err(StoreError::Conflict(
                "they come from the school's directory: change them there".into(),
            ));
        }
        let mut checked = person.clone();
        checked.username.clone_from(&current.username);
        check_person(&checked)?;
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            sqlx::query(
                "UPDATE people SET kind = $3, given_name = $4, family_name = $5, external_id = $6,
                   year_group = $7, key_stage = $8, class_name = $9, job_role = $10, group_id = $11,
                   updated_at = $12
                 WHERE school_id = $1 AND id = $2",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(person.kind.as_str())
            .bind(&person.given_name)
            .bind(&person.family_name)
            .bind(&person.external_id)
            .bind(&person.year_group)
            .bind(&person.key_stage)
            .bind(&person.class_name)
            .bind(&person.job_role)
            .bind(person.group.map(|group| group.0))
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Marks a person as a leaver at `at` (their access ends: no log-in, no group of theirs;
    /// their records are kept for the retention period), or, with `None`, as back at the school.
    pub async fn set_person_left(
        &self,
        school: SchoolId,
        id: PersonId,
        at: Option<Timestamp>,
    ) -> Result<()> {
        let now = micros(Timestamp::now());
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE people SET left_at = $3, updated_at = $4 WHERE school_id = $1 AND id = $2",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(at.map(micros))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound("person"));
        }
        Ok(())
    }

    /// The school's people, by family name, optionally only one kind and only names or
    /// usernames containing `search` (case-insensitive), at most `limit`.
    pub async fn people(
        &self,
        school: SchoolId,
        kind: Option<PersonKind>,
        search: &str,
        limit: i64,
    ) -> Result<Vec<Person>> {
        // Names never hold control characters (imports refuse them), and a NUL would end the
        // pattern early in SQLite and be refused by PostgreSQL.
        if search.chars().any(char::is_control) {
            return Ok(Vec::new());
        }
        let pattern = format!("%{}%", like_escape(&search.to_lowercase()));
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM people p LEFT JOIN groups g ON g.id = p.group_id
             WHERE p.school_id = $1 AND ($2 = '' OR p.kind = $2)
               AND (lower(p.username) LIKE $3 ESCAPE '\\' OR lower(p.given_name || ' ' || p.family_name) LIKE $3 ESCAPE '\\')
             ORDER BY p.family_name, p.given_name, p.username LIMIT $4"
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(kind.map_or("", PersonKind::as_str))
                .bind(&pattern)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(person_from_row!(row))).collect()
        })
    }

    /// How many people of each kind the school has: (pupils, staff, guests).
    pub async fn count_people(&self, school: SchoolId) -> Result<(i64, i64, i64)> {
        dispatch!(self, pool => {
            let row = sqlx::query(
                "SELECT
                   CAST(COALESCE(SUM(CASE WHEN kind = 'pupil' THEN 1 ELSE 0 END), 0) AS BIGINT),
                   CAST(COALESCE(SUM(CASE WHEN kind = 'staff' THEN 1 ELSE 0 END), 0) AS BIGINT),
                   CAST(COALESCE(SUM(CASE WHEN kind = 'guest' THEN 1 ELSE 0 END), 0) AS BIGINT)
                 FROM people WHERE school_id = $1",
            )
            .bind(school.0)
            .fetch_one(pool)
            .await?;
            Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
        })
    }

    /// One person of the school, by username.
    pub async fn person_by_username(
        &self,
        school: SchoolId,
        username: &str,
    ) -> Result<Option<Person>> {
        if username.chars().any(char::is_control) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM people p LEFT JOIN groups g ON g.id = p.group_id
             WHERE p.school_id = $1 AND lower(p.username) = lower($2)"
        );
        dispatch!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(username.trim())
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(person_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// One person of the school, by the MIS's id (a pupil's UPN, an admission number).
    pub async fn person_by_external_id(
        &self,
        school: SchoolId,
        external_id: &str,
    ) -> Result<Option<Person>> {
        if external_id.trim().is_empty() || external_id.chars().any(char::is_control) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM people p LEFT JOIN groups g ON g.id = p.group_id
             WHERE p.school_id = $1 AND lower(p.external_id) = lower($2)
             ORDER BY p.id LIMIT 1"
        );
        dispatch!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(external_id.trim())
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(person_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// The people a name typed on a record may mean, at most `limit`: an exact username, email
    /// address or MIS id (UPN, admission number) first; failing those, an exact full name
    /// ("Liam Wright"); failing that, an exact family name. Case does not matter. Several
    /// results mean the person typing must choose; none, that the text names nobody known.
    pub async fn people_matching(
        &self,
        school: SchoolId,
        text: &str,
        limit: i64,
    ) -> Result<Vec<Person>> {
        let text = text.trim();
        if text.is_empty() || text.chars().any(char::is_control) {
            return Ok(Vec::new());
        }
        let tries = [
            "lower(p.username) = lower($2) OR lower(p.email) = lower($2) \
             OR lower(p.external_id) = lower($2)",
            "lower(p.given_name || ' ' || p.family_name) = lower($2)",
            "lower(p.family_name) = lower($2)",
        ];
        for condition in tries {
            let sql = format!(
                "SELECT {PERSON_COLUMNS} FROM people p LEFT JOIN groups g ON g.id = p.group_id
                 WHERE p.school_id = $1 AND ({condition})
                 ORDER BY p.left_at IS NOT NULL, p.family_name, p.given_name, p.username
                 LIMIT $3"
            );
            let found: Vec<Person> = dispatch!(self, pool => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(school.0)
                    .bind(text)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(|row| Ok(person_from_row!(row))).collect::<Result<Vec<_>>>()?
            });
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(Vec::new())
    }

    /// The person of the school with this email address who has not left (case does not
    /// matter), for a single sign-on; `None` when nobody has it, or more than one does (a
    /// sign-on never guesses between two children).
    pub async fn person_by_email(&self, school: SchoolId, email: &str) -> Result<Option<Person>> {
        let email = email.trim();
        if email.is_empty() || email.chars().any(char::is_control) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM people p LEFT JOIN groups g ON g.id = p.group_id
             WHERE p.school_id = $1 AND lower(p.email) = lower($2) AND p.left_at IS NULL
             LIMIT 2"
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(email)
                .fetch_all(pool)
                .await?;
            match rows.as_slice() {
                [row] => Ok(Some(person_from_row!(row))),
                _ => Ok(None),
            }
        })
    }

    /// Sets a person's Ward password (a PHC string; `None` removes it, so they log in with the
    /// directory's, if any) and whether it must be changed at the next log-in; clears their
    /// lock-out.
    pub async fn set_person_password(
        &self,
        school: SchoolId,
        id: PersonId,
        password_hash: Option<&str>,
        must_change_password: bool,
        now: Timestamp,
    ) -> Result<()> {
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE people SET password_hash = $3, must_change_password = $4,
                   password_changed_at = $5, failed_logins = 0, locked_until = NULL
                 WHERE school_id = $1 AND id = $2",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(password_hash)
            .bind(must_change_password && password_hash.is_some())
            .bind(password_hash.map(|_| micros(now)))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound("person"));
        }
        Ok(())
    }

    /// A person's Ward password (a PHC string), to check one; `None` when they have none.
    pub async fn person_password_hash(
        &self,
        school: SchoolId,
        id: PersonId,
    ) -> Result<Option<String>> {
        dispatch!(self, pool => {
            let row = sqlx::query(
                "SELECT password_hash FROM people WHERE school_id = $1 AND id = $2",
            )
            .bind(school.0)
            .bind(id.0)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(row.try_get("password_hash")?),
                None => Ok(None),
            }
        })
    }

    /// One person of the school, by id.
    pub async fn person(&self, school: SchoolId, id: PersonId) -> Result<Person> {
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM people p LEFT JOIN groups g ON g.id = p.group_id
             WHERE p.school_id = $1 AND p.id = $2"
        );
        dispatch!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(id.0)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound("person"))?;
            Ok(person_from_row!(&row))
        })
    }

    /// Registers a device. Names are unique within a school.
    pub async fn add_device(&self, school: SchoolId, device: &NewDevice) -> Result<DeviceId> {
        crate::check_device_name(device.name.trim())?;
        crate::check_name("location", device.location.trim())?;
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let existing = sqlx::query("SELECT id FROM devices WHERE school_id = $1 AND name = $2")
                .bind(school.0)
                .bind(device.name.trim())
                .fetch_optional(pool)
                .await?;
            if existing.is_some() {
                return Err(StoreError::Conflict(format!("device {:?}", device.name.trim())));
            }
            let row = sqlx::query(
                "INSERT INTO devices (school_id, name, network, group_id, location, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(school.0)
            .bind(device.name.trim())
            .bind(device.network.to_string())
            .bind(device.group.map(|group| group.0))
            .bind(device.location.trim())
            .bind(now)
            .fetch_one(pool)
            .await?;
            Ok(DeviceId(row.try_get(0)?))
        })
    }

    /// Removes a device from the register. Events keep its id.
    pub async fn remove_device(&self, school: SchoolId, id: DeviceId) -> Result<()> {
        let removed = dispatch!(self, pool => {
            sqlx::query("DELETE FROM devices WHERE school_id = $1 AND id = $2")
                .bind(school.0)
                .bind(id.0)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if removed == 0 {
            return Err(StoreError::NotFound("device"));
        }
        Ok(())
    }

    /// The school's device register, by name.
    pub async fn devices(&self, school: SchoolId) -> Result<Vec<Device>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT d.id, d.name, d.network, d.location, g.name AS group_name
                 FROM devices d LEFT JOIN groups g ON g.id = d.group_id
                 WHERE d.school_id = $1 ORDER BY d.name",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let network: String = row.try_get("network")?;
                    Ok(Device {
                        id: DeviceId(row.try_get("id")?),
                        name: row.try_get("name")?,
                        network: network.parse()?,
                        group: row.try_get("group_name")?,
                        location: row.try_get("location")?,
                    })
                })
                .collect()
        })
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern, so that a search for `50%` finds
/// that text rather than everything.
pub(crate) fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// Checks what people read and type about a person: the username, and names without hidden
/// characters.
pub(crate) fn check_person(person: &NewPerson) -> std::result::Result<(), crate::BadIdentifier> {
    match (&person.username, &person.external_id) {
        // Matched by MIS id, which becomes the username of someone new.
        (username, Some(id)) if username.is_empty() => {
            crate::check_username("UPN or admission number", &id.to_lowercase())?;
        }
        (username, _) => crate::check_username("username", username)?,
    }
    crate::check_name("first name", &person.given_name)?;
    crate::check_name("last name", &person.family_name)?;
    for (what, value) in [
        ("MIS id", &person.external_id),
        ("year", &person.year_group),
        ("key stage", &person.key_stage),
        ("class", &person.class_name),
        ("job role", &person.job_role),
    ] {
        if let Some(value) = value {
            crate::check_name(what, value)?;
        }
    }
    Ok(())
}
