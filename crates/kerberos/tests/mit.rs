//! A real ticket: made by MIT Kerberos's KDC (krb5-kdc 1.20) for `HTTP/localhost@PARK-END.TEST`
//! and sent by curl (`--proxy-negotiate`) for `lwright10`; the service's keytab exported by
//! `kadmin ktadd`. Both are test data only (a throwaway realm).

use jiff::Timestamp;
use ward_kerberos::{Acceptor, KerberosError, read_keytab};

fn acceptor() -> Acceptor {
    let keytab = read_keytab(include_bytes!("data/http-localhost.keytab")).expect("keytab");
    Acceptor::new(keytab)
}

const TOKEN: &str = include_str!("data/lwright10.token");

fn when(text: &str) -> Timestamp {
    text.parse().expect("time")
}

#[test]
fn the_keytab_names_its_service_and_keys() {
    let keytab = read_keytab(include_bytes!("data/http-localhost.keytab")).expect("keytab");
    let kinds: Vec<(String, i32, u32)> = keytab
        .iter()
        .map(|key| (key.principal(), key.etype, key.kvno))
        .collect();
    assert_eq!(
        kinds,
        [
            ("HTTP/localhost@PARK-END.TEST".to_owned(), 18, 2),
            ("HTTP/localhost@PARK-END.TEST".to_owned(), 17, 2)
        ]
    );
    assert!(
        !format!("{keytab:?}").contains("key: ["),
        "keys never shown"
    );
}

#[test]
fn curls_ticket_names_its_user_once() {
    let acceptor = acceptor();
    let now = when("2026-12-02T05:26:00Z");
    let principal = acceptor.accept(TOKEN, now).expect("accepted");
    assert_eq!(
        (principal.name.as_str(), principal.realm.as_str()),
        ("lwright10", "PARK-END.TEST")
    );
    assert_eq!(acceptor.accept(TOKEN, now), Err(KerberosError::Replay));
}

#[test]
fn a_stale_changed_or_foreign_token_is_refused() {
    // The authenticator is from 05:25; an hour later it is too old to be fresh.
    assert_eq!(
        acceptor().accept(TOKEN, when("2026-12-02T06:30:00Z")),
        Err(KerberosError::Skew)
    );
    // Days later the ticket itself has ended.
    assert_eq!(
        acceptor().accept(TOKEN, when("2026-12-05T05:26:00Z")),
        Err(KerberosError::TicketTime)
    );
    // Any changed byte of the ticket's sealed part fails its checksum (or its structure).
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(TOKEN.trim())
        .expect("base64");
    let now = when("2026-12-02T05:26:00Z");
    for position in [200, 400, 600, bytes.len() - 20] {
        let mut changed = bytes.clone();
        changed[position] ^= 0x01;
        let changed = base64::engine::general_purpose::STANDARD.encode(&changed);
        assert!(acceptor().accept(&changed, now).is_err(), "byte {position}");
    }
    // Without the service's key nothing is read.
    let keytab = read_keytab(include_bytes!("data/http-localhost.keytab")).expect("keytab");
    let other: Vec<_> = keytab.into_iter().filter(|key| key.etype == 17).collect();
    assert!(matches!(
        Acceptor::new(other).accept(TOKEN, now),
        Err(KerberosError::UnknownService(_))
    ));
    for junk in ["", "not base64!", "YWJj", "YIIBAAYGKwYBBQUCoA=="] {
        assert!(acceptor().accept(junk, now).is_err(), "{junk:?}");
    }
}
