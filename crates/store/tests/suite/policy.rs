//! The filtering policy's versions: numbered in order, the newest in force, each read back byte
//! for byte (an export is exactly what was imported), a reason required, the file's last
//! version found; and the change announcement (NOTIFY) reaching a listener on PostgreSQL.

use super::*;
use proptest::strategy::{Strategy, ValueTree};
use ward_store::PolicySource;

on_both_backends!(
    versions_are_numbered_kept_and_read_back_byte_for_byte,
    a_change_is_announced_to_listeners,
);

/// Policy-like texts as people and tools write them: comments in any language, Windows or Unix
/// line endings, tabs, trailing spaces, quotes, no final newline.
fn policy_texts() -> impl Strategy<Value = String> {
    let line = proptest::string::string_regex(
        "(# [\\PC]{0,40}|[a-z_]{1,12} = \"[^\"\\\\\\p{Cc}]{0,30}\"|\\[\\[rule\\]\\]|[ \t]{0,3})",
    )
    .expect("regex");
    (
        proptest::collection::vec(line, 0..40),
        proptest::bool::ANY,
        proptest::bool::ANY,
    )
        .prop_map(|(lines, windows, final_newline)| {
            let end = if windows { "\r\n" } else { "\n" };
            let mut text = lines.join(end);
            if final_newline {
                text.push_str(end);
            }
            text
        })
}

async fn versions_are_numbered_kept_and_read_back_byte_for_byte(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "policy-versions").await;
    let other = school_named_other(store).await;
    assert_eq!(
        store.latest_policy_version(school).await.expect("query"),
        None
    );
    let at: Timestamp = "2026-12-02T09:00:00Z".parse().expect("time");
    let first = store
        .add_policy_version(
            school,
            "name = \"Park End\"\n",
            PolicySource::File,
            "imported from the policy file policy.toml",
            "ward",
            at,
        )
        .await
        .expect("saved");
    assert_eq!(first, 1);
    // Generated texts, each a new version, each read back exactly.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = policy_texts();
    for case in 0..48 {
        let text = strategy.new_tree(&mut runner).expect("a text").current();
        let number = store
            .add_policy_version(
                school,
                &text,
                PolicySource::Import,
                "The authority's policy from version control",
                "ward policy import",
                at,
            )
            .await
            .expect("saved");
        assert_eq!(number, case + 2);
        let back = store.policy_version(school, number).await.expect("read");
        assert_eq!(back.text, text, "byte for byte");
        assert_eq!(back.source, PolicySource::Import);
        let latest = store
            .latest_policy_version(school)
            .await
            .expect("query")
            .expect("one");
        assert_eq!((latest.number, latest.text), (number, text));
    }
    assert_eq!(
        store.latest_policy_number(school).await.expect("query"),
        Some(49)
    );
    let file = store
        .latest_file_policy(school)
        .await
        .expect("query")
        .expect("the file's version");
    assert_eq!(file.number, 1);
    assert_eq!(store.policy_versions(school).await.expect("list").len(), 49);
    // Another school's versions are its own.
    assert_eq!(
        store.latest_policy_number(other).await.expect("query"),
        None
    );
    assert!(matches!(
        store.policy_version(other, 1).await,
        Err(StoreError::NotFound(_))
    ));
    // A reason that says nothing, or a control character in it, or a huge text: refused.
    for (text, reason) in [
        ("x = 1\n", "ok"),
        ("x = 1\n", "a reason with a bell \u{7} in it"),
        (
            &"#".repeat(ward_store::MOST_POLICY_BYTES + 1) as &str,
            "far too large a policy",
        ),
    ] {
        assert!(matches!(
            store
                .add_policy_version(school, text, PolicySource::Console, reason, "dsl", at)
                .await,
            Err(StoreError::Invalid(_))
        ));
    }
    assert_eq!(
        store.latest_policy_number(school).await.expect("query"),
        Some(49),
        "nothing saved"
    );
}

async fn school_named_other(store: &Store) -> SchoolId {
    school(store, "policy-versions-other").await
}

async fn a_change_is_announced_to_listeners(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "policy-notify").await;
    match store.filter_changes().await.expect("listen") {
        // SQLite: one process; nothing to listen to, and announcing does nothing.
        None => {
            assert_eq!(store.backend(), ward_store::BackendKind::Sqlite);
            store.notify_filter_changed(school).await;
        }
        Some(mut changes) => {
            assert_eq!(store.backend(), ward_store::BackendKind::Postgres);
            store.notify_filter_changed(school).await;
            let heard = tokio::time::timeout(std::time::Duration::from_secs(5), changes.next())
                .await
                .expect("announced within five seconds")
                .expect("a school");
            assert_eq!(heard, school);
        }
    }
}
