//! Migrations.

use super::*;

on_both_backends!(
    migrations_are_recorded_and_idempotent,
    a_failed_upgrade_changes_nothing_and_a_newer_schema_is_refused,
);

async fn migrations_are_recorded_and_idempotent(fixture: Fixture) {
    // A second run (as at every start) finds nothing to do and changes nothing.
    fixture.store.migrate().await.expect("migrate again");
    fixture.store.ping().await.expect("ping");
    // A database whose recorded migration differs from Ward's is refused, not guessed at.
    support::execute_behind_the_stores_back(
        &fixture.url,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await;
    let error = fixture
        .store
        .migrate()
        .await
        .expect_err("changed migration");
    assert!(
        matches!(error, StoreError::MigrationChanged { version: 1 }),
        "{error}"
    );
}

/// Issue 28, upgrades: the pending migrations go in together or not at all, so a failed upgrade
/// leaves the schema the previous Ward can run on; a database from a newer Ward is refused.
async fn a_failed_upgrade_changes_nothing_and_a_newer_schema_is_refused(fixture: Fixture) {
    let latest = ward_store::schema_version();
    assert_eq!(
        fixture
            .store
            .schema_version_in_use()
            .await
            .expect("version"),
        latest
    );
    // Pretend the last two migrations are new: the one before them is undone by hand, and
    // the last one cannot apply (its column is still there), as an upgrade might fail.
    let (before_last, last) = (latest - 1, latest);
    support::execute_behind_the_stores_back(
        &fixture.url,
        &format!("DELETE FROM schema_migrations WHERE version >= {before_last}"),
    )
    .await;
    support::execute_behind_the_stores_back(&fixture.url, "DROP TABLE account_classes").await;
    let error = fixture
        .store
        .migrate()
        .await
        .expect_err("the upgrade fails");
    match &error {
        StoreError::MigrationFailed { version, from, .. } => {
            assert_eq!((*version, *from), (last, before_last - 1), "{error}");
        }
        other => panic!("expected a failed migration, got {other}"),
    }
    let message = error.to_string();
    assert!(message.contains("Nothing was changed"), "{message}");
    assert!(message.contains("install the previous Ward"), "{message}");
    // Nothing of the upgrade stayed: the table the earlier migration makes is not there, and
    // the recorded version is the old one.
    assert!(
        support::try_behind_the_stores_back(&fixture.url, "SELECT 1 FROM account_classes")
            .await
            .is_err()
    );
    assert_eq!(
        fixture
            .store
            .schema_version_in_use()
            .await
            .expect("version"),
        before_last - 1
    );

    // A schema from a newer Ward (a downgrade) is refused with what to do.
    support::execute_behind_the_stores_back(
        &fixture.url,
        &format!(
            "INSERT INTO schema_migrations (version, checksum, applied_at) VALUES ({}, 'newer', 0)",
            latest + 1
        ),
    )
    .await;
    let error = fixture.store.migrate().await.expect_err("newer schema");
    assert!(
        matches!(error, StoreError::SchemaTooNew { found, known } if found == latest + 1 && known == latest),
        "{error}"
    );
    assert!(error.to_string().contains("never downgraded"), "{error}");
}
