//! The audit chain.

use super::*;

on_both_backends!(audit_chain_verifies_and_names_the_first_broken_link,);

async fn audit_chain_verifies_and_names_the_first_broken_link(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "audit").await;
    let mut last = None;
    for number in 0..5 {
        let entry = store
            .append_audit(school, &audit_entry(&format!("action.{number}")))
            .await
            .expect("append");
        if let Some(previous) = &last {
            let previous: &ward_store::AuditEntry = previous;
            assert_eq!(entry.prev_hash, previous.hash);
            assert_eq!(entry.seq, previous.seq + 1);
        }
        last = Some(entry);
    }
    let verified = store.verify_audit(school).await.expect("verify");
    assert_eq!(verified.entries, 5);
    assert_eq!(verified.first_broken, None);
    assert_eq!(verified.head, last.map(|entry| entry.hash));
    let newest = store
        .audit_entries(school, 2, None, "")
        .await
        .expect("entries");
    assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 4]);
    let filtered = store
        .audit_entries(school, 10, None, "action.3")
        .await
        .expect("entries");
    assert_eq!(filtered.len(), 1);

    // Someone with database access rewrites what entry 3 says.
    support::execute_behind_the_stores_back(
        &fixture.url,
        "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 3",
    )
    .await;
    let verified = store.verify_audit(school).await.expect("verify");
    let (seq, why) = verified.first_broken.expect("tampering found");
    assert_eq!(seq, 3);
    assert!(why.contains("changed"), "{why}");

    // Deleting an entry is caught as a gap.
    support::execute_behind_the_stores_back(&fixture.url, "DELETE FROM audit_log WHERE seq <= 3")
        .await;
    let verified = store.verify_audit(school).await.expect("verify");
    assert_eq!(verified.first_broken.map(|(seq, _)| seq), Some(1));
}
