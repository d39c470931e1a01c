//! Schools (tenants) and their groups.

use crate::BeginWrite as _;
use jiff::Timestamp;
use sqlx::Row;

use crate::{
    Group, GroupRowId, NewGroup, PersonKind, Result, School, SchoolId, Store, StoreError, dispatch,
    micros,
};

impl Store {
    /// Creates a school. The slug must be unique across the deployment.
    pub async fn create_school(&self, name: &str, slug: &str) -> Result<SchoolId> {
        if name.trim().is_empty() || slug.trim().is_empty() {
            return Err(StoreError::Invalid(
                "a school needs a name and a slug".into(),
            ));
        }
        let now = micros(Timestamp::now());
        let id: i64 = dispatch!(self, pool => {
            let existing = sqlx::query("SELECT id FROM schools WHERE slug = $1")
                .bind(slug)
                .fetch_optional(pool)
                .await?;
            if existing.is_some() {
                return Err(StoreError::Conflict(format!("school {slug:?}")));
            }
            sqlx::query("INSERT INTO schools (name, slug, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(name.trim())
                .bind(slug.trim())
                .bind(now)
                .fetch_one(pool)
                .await?
                .try_get(0)?
        });
        Ok(SchoolId(id))
    }

    /// Every school, in order of creation.
    pub async fn schools(&self) -> Result<Vec<School>> {
        dispatch!(self, pool => {
            let rows = sqlx::query("SELECT id, name, slug FROM schools ORDER BY id")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(School {
                        id: SchoolId(row.try_get("id")?),
                        name: row.try_get("name")?,
                        slug: row.try_get("slug")?,
                    })
                })
                .collect()
        })
    }

    /// One school.
    pub async fn school(&self, id: SchoolId) -> Result<School> {
        dispatch!(self, pool => {
            let row = sqlx::query("SELECT id, name, slug FROM schools WHERE id = $1")
                .bind(id.0)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound("school"))?;
            Ok(School {
                id: SchoolId(row.try_get("id")?),
                name: row.try_get("name")?,
                slug: row.try_get("slug")?,
            })
        })
    }

    /// Creates the groups that do not exist yet (matched by name); existing ones are left as
    /// they are. Returns how many were created.
    pub async fn ensure_groups(&self, school: SchoolId, groups: &[NewGroup]) -> Result<usize> {
        let mut created = 0;
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            for group in groups {
                let done = sqlx::query(
                    "INSERT INTO groups (school_id, name, label, kind, year_groups) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (school_id, name) DO NOTHING",
                )
                .bind(school.0)
                .bind(&group.name)
                .bind(&group.label)
                .bind(group.kind.as_str())
                .bind(group.year_groups.join(","))
                .execute(&mut *transaction)
                .await?;
                created += done.rows_affected() as usize;
            }
            transaction.commit().await?;
        });
        Ok(created)
    }

    /// Brings the school's groups in line with the policy in force: new ones created, and each
    /// existing one's name and year groups updated (its kind is kept: people are placed by it).
    /// Groups the policy no longer has are kept (people may still belong to them). Returns how
    /// many were created or changed.
    pub async fn sync_groups(&self, school: SchoolId, groups: &[NewGroup]) -> Result<usize> {
        let mut changed = self.ensure_groups(school, groups).await?;
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            for group in groups {
                let done = sqlx::query(
                    "UPDATE groups SET label = $3, year_groups = $4
                     WHERE school_id = $1 AND name = $2 AND (label <> $3 OR year_groups <> $4)",
                )
                .bind(school.0)
                .bind(&group.name)
                .bind(&group.label)
                .bind(group.year_groups.join(","))
                .execute(&mut *transaction)
                .await?;
                changed += done.rows_affected() as usize;
            }
            transaction.commit().await?;
        });
        Ok(changed)
    }

    /// How many people and devices are in each of the school's groups: (group name, people,
    /// devices), for every group the store has.
    pub async fn group_members(&self, school: SchoolId) -> Result<Vec<(String, i64, i64)>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT g.name,
                   (SELECT COUNT(*) FROM people p WHERE p.group_id = g.id),
                   (SELECT COUNT(*) FROM devices d WHERE d.group_id = g.id)
                 FROM groups g WHERE g.school_id = $1 ORDER BY g.id",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                .collect()
        })
    }

    /// Moves every person and device of group `from` to group `to` (both by name), in one
    /// transaction, before `from` leaves the policy. Returns (people, devices) moved. `to` must
    /// exist; `from` may not (nothing to move).
    pub async fn move_group_members(
        &self,
        school: SchoolId,
        from: &str,
        to: &str,
    ) -> Result<(u64, u64)> {
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let target: Option<i64> =
                sqlx::query_scalar("SELECT id FROM groups WHERE school_id = $1 AND name = $2")
                    .bind(school.0)
                    .bind(to)
                    .fetch_optional(&mut *transaction)
                    .await?;
            let target = target.ok_or(StoreError::NotFound("group"))?;
            let mut moved = [0u64; 2];
            for (table, count) in ["people", "devices"].into_iter().zip(&mut moved) {
                let sql = format!(
                    "UPDATE {table} SET group_id = $3 WHERE school_id = $1 AND group_id =
                       (SELECT id FROM groups WHERE school_id = $1 AND name = $2)"
                );
                *count = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(school.0)
                    .bind(from)
                    .bind(target)
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
            }
            transaction.commit().await?;
            Ok((moved[0], moved[1]))
        })
    }

    /// The school's groups, by name.
    pub async fn groups(&self, school: SchoolId) -> Result<Vec<Group>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, name, label, kind, year_groups FROM groups WHERE school_id = $1 ORDER BY id",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let kind: String = row.try_get("kind")?;
                    let years: String = row.try_get("year_groups")?;
                    Ok(Group {
                        id: GroupRowId(row.try_get("id")?),
                        name: row.try_get("name")?,
                        label: row.try_get("label")?,
                        kind: kind.parse::<PersonKind>()?,
                        year_groups: years
                            .split(',')
                            .filter(|year| !year.is_empty())
                            .map(String::from)
                            .collect(),
                    })
                })
                .collect()
        })
    }
}
