//! Accounts, the lock-out and sessions.

use super::*;

on_both_backends!(
    accounts_lock_out_and_sessions_expire,
    log_in_attempts_at_once_are_counted_atomically,
    single_sign_on_finds_accounts_by_email_and_takes_each_state_once,
);

async fn single_sign_on_finds_accounts_by_email_and_takes_each_state_once(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "sso").await;
    let id = store
        .create_account(
            school,
            &NewAccount {
                username: "mrs.jones".into(),
                display_name: "Ann Jones".into(),
                roles: "teacher".parse().expect("roles"),
                password_hash: "not a hash".into(),
                must_change_password: false,
            },
        )
        .await
        .expect("create");
    assert!(
        store
            .account_by_email("a.jones@park-end.sch.uk")
            .await
            .expect("query")
            .is_none()
    );
    store
        .set_account_email(id, Some(" A.Jones@Park-End.sch.uk "))
        .await
        .expect("email");
    let found = store
        .account_by_email("a.jones@PARK-END.sch.uk")
        .await
        .expect("query")
        .expect("found whatever the case");
    assert_eq!(
        (found.id, found.email.as_deref()),
        (id, Some("a.jones@park-end.sch.uk"))
    );
    let now = Timestamp::now();
    store
        .create_sso_state(
            "hash-1",
            "nonce-1",
            "verifier-1",
            "/alerts",
            now + SignedDuration::from_mins(10),
        )
        .await
        .expect("state");
    store
        .create_sso_state(
            "hash-old",
            "n",
            "v",
            "/",
            now - SignedDuration::from_mins(1),
        )
        .await
        .expect("state");
    assert_eq!(
        store.take_sso_state("hash-1", now).await.expect("take"),
        Some(("nonce-1".into(), "verifier-1".into(), "/alerts".into()))
    );
    assert_eq!(
        store.take_sso_state("hash-1", now).await.expect("take"),
        None,
        "once"
    );
    assert_eq!(
        store.take_sso_state("hash-old", now).await.expect("take"),
        None,
        "expired"
    );
    assert_eq!(
        store.take_sso_state("never", now).await.expect("take"),
        None
    );
}

async fn accounts_lock_out_and_sessions_expire(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "accounts").await;
    let account = NewAccount {
        username: "Head".into(),
        display_name: "The Head".into(),
        roles: "headteacher,dsl".parse().expect("roles"),
        password_hash: "$argon2id$placeholder".into(),
        must_change_password: true,
    };
    let id = store
        .create_account(school, &account)
        .await
        .expect("create");
    assert!(matches!(
        store.create_account(school, &account).await,
        Err(StoreError::Conflict(_))
    ));
    let found = store
        .account_by_username("HEAD")
        .await
        .expect("query")
        .expect("usernames are matched without case");
    assert_eq!(found.id, id);
    assert!(found.must_change_password);
    assert_eq!(found.roles.to_string(), "dsl,headteacher");
    assert!(
        !format!("{found:?}").contains("placeholder"),
        "hash in Debug output"
    );
    let mut now = at("2026-11-23T09:00:00Z");
    let max_lock = SignedDuration::from_mins(15);
    let claim = |now| store.claim_login_attempt(id, now, 3, max_lock);
    for attempt in 1..=3 {
        let counted = claim(now).await.expect("attempt");
        assert_eq!(
            counted,
            LoginAttempt::Counted(LoginFailure {
                failed_logins: attempt,
                locked_until: None
            })
        );
    }
    let fourth = claim(now).await.expect("attempt");
    assert_eq!(
        fourth,
        LoginAttempt::Counted(LoginFailure {
            failed_logins: 4,
            locked_until: Some(now + SignedDuration::from_secs(1))
        })
    );
    // While the lock holds, an attempt is refused and not counted.
    assert_eq!(
        claim(now).await.expect("attempt"),
        LoginAttempt::Locked(now + SignedDuration::from_secs(1))
    );
    now += SignedDuration::from_secs(1);
    let fifth = claim(now).await.expect("attempt");
    assert_eq!(
        fifth,
        LoginAttempt::Counted(LoginFailure {
            failed_logins: 5,
            locked_until: Some(now + SignedDuration::from_secs(2))
        })
    );
    for _ in 0..20 {
        let locked = store.account(school, id).await.expect("account");
        now = locked.locked_until.expect("locked");
        claim(now).await.expect("attempt");
    }
    let locked = store.account(school, id).await.expect("account");
    assert_eq!(locked.locked_until, Some(now + max_lock));
    store.record_login_success(id).await.expect("success");
    let account_now = store.account(school, id).await.expect("account");
    assert_eq!(
        (account_now.failed_logins, account_now.locked_until),
        (0, None)
    );

    store
        .create_session(
            &account_now,
            "hash-1",
            "csrf-1",
            now,
            now + SignedDuration::from_hours(8),
            ward_store::SecondFactor::Done,
        )
        .await
        .expect("session");
    store
        .create_session(
            &account_now,
            "hash-2",
            "csrf-2",
            now,
            now + SignedDuration::from_hours(8),
            ward_store::SecondFactor::Code,
        )
        .await
        .expect("session");
    let session = store
        .session("hash-1", now)
        .await
        .expect("query")
        .expect("live");
    assert_eq!(
        (session.account, session.csrf_token.as_str()),
        (id, "csrf-1")
    );
    // A session waiting for its second factor says so until it is done.
    let waiting = |hash: &'static str| async move {
        store
            .session(hash, now)
            .await
            .expect("query")
            .expect("live")
            .second_factor
    };
    assert_eq!(waiting("hash-2").await, ward_store::SecondFactor::Code);
    store.complete_second_factor("hash-2").await.expect("done");
    assert_eq!(waiting("hash-2").await, ward_store::SecondFactor::Done);
    // An authenticator secret: pending until confirmed, then a code's step is good once.
    assert!(!account_now.has_second_factor);
    store
        .set_pending_totp_secret(id, Some("00ff"))
        .await
        .expect("pending");
    assert_eq!(store.totp_secret(id).await.expect("query"), None);
    store.confirm_totp_secret(id).await.expect("confirm");
    assert_eq!(
        store.totp_secret(id).await.expect("query").as_deref(),
        Some("00ff")
    );
    assert_eq!(store.pending_totp_secret(id).await.expect("query"), None);
    assert!(
        store
            .account(school, id)
            .await
            .expect("account")
            .has_second_factor
    );
    assert!(store.claim_totp_step(id, 100).await.expect("claim"));
    assert!(
        !store.claim_totp_step(id, 100).await.expect("claim"),
        "the same step twice"
    );
    assert!(
        !store.claim_totp_step(id, 99).await.expect("claim"),
        "an earlier step"
    );
    assert!(store.claim_totp_step(id, 101).await.expect("claim"));
    let later = now + SignedDuration::from_hours(9);
    assert!(
        store
            .session("hash-1", later)
            .await
            .expect("query")
            .is_none()
    );
    store
        .delete_other_sessions(id, "hash-1")
        .await
        .expect("delete others");
    assert!(store.session("hash-2", now).await.expect("query").is_none());
    store.delete_session("hash-1").await.expect("log out");
    assert!(store.session("hash-1", now).await.expect("query").is_none());
    store
        .set_roles(school, id, &Roles::new([ward_store::Role::Teacher]))
        .await
        .expect("roles");
    assert_eq!(
        store
            .account(school, id)
            .await
            .expect("account")
            .roles
            .to_string(),
        "teacher"
    );
    assert!(
        store
            .set_roles(school, id, &Roles::default())
            .await
            .is_err()
    );
}

/// Issue 20, item 10: many log-in attempts at once on one account are counted one by one, and
/// those after the lock are refused before any password is checked.
async fn log_in_attempts_at_once_are_counted_atomically(fixture: Fixture) {
    let store = &fixture.store;
    let school = school(store, "race").await;
    let id = store
        .create_account(
            school,
            &NewAccount {
                username: "racer".into(),
                display_name: "Racer".into(),
                roles: Roles::new([Role::Teacher]),
                password_hash: "placeholder".into(),
                must_change_password: false,
            },
        )
        .await
        .expect("account");
    let now = Timestamp::now();
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        attempts.spawn(async move {
            store
                .claim_login_attempt(id, now, 5, SignedDuration::from_mins(15))
                .await
        });
    }
    let (mut counted, mut locked) = (Vec::new(), 0);
    while let Some(result) = attempts.join_next().await {
        match result
            .expect("task")
            .expect("no database error under contention")
        {
            LoginAttempt::Counted(failure) => counted.push(failure.failed_logins),
            LoginAttempt::Locked(_) => locked += 1,
        }
    }
    counted.sort_unstable();
    assert_eq!(counted, [1, 2, 3, 4, 5, 6], "each counted once, in turn");
    assert_eq!(locked, 14);
}
