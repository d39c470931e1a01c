//! Migrations.

use super::*;

on_both_backends!(migrations_are_recorded_and_idempotent,);

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
