//! The directory client against a real OpenLDAP server (Debian's `slapd`), over StartTLS and
//! LDAPS, with the school's CA.

use std::time::Duration;

use ward_directory::{Directory, Kind, MapRule, PasswordCheck, Placement, Settings, tls_config};
use ward_testkit::slapd::{self, Slapd};

fn rule(
    member_of: Option<&str>,
    under: Option<&str>,
    kind: Kind,
    year: Option<&str>,
    group: Option<&str>,
) -> MapRule {
    MapRule {
        member_of: member_of.map(str::to_owned),
        under: under.map(str::to_owned),
        place: Placement {
            kind,
            year: year.map(str::to_owned),
            group: group.map(str::to_owned),
        },
    }
}

fn settings(server: &Slapd, url: &str) -> Settings {
    let ca = std::fs::read(&server.ca_pem).expect("the test CA");
    Settings {
        url: url.to_owned(),
        bind_dn: slapd::WARD_DN.into(),
        bind_password: slapd::WARD_PASSWORD.into(),
        base_dn: format!("ou=people,{}", slapd::SUFFIX),
        user_filter: "(objectClass=inetOrgPerson)".into(),
        username_attribute: "uid".into(),
        timeout: Duration::from_secs(5),
        rules: vec![
            rule(
                Some("cn=Year 4,ou=groups,dc=park-end,dc=sch,dc=uk"),
                None,
                Kind::Pupil,
                Some("4"),
                Some("ks2"),
            ),
            rule(
                Some("CN=Year 6, OU=Groups, DC=park-end, DC=sch, DC=uk"),
                None,
                Kind::Pupil,
                Some("6"),
                Some("ks2"),
            ),
            rule(
                None,
                Some("ou=staff,ou=people,dc=park-end,dc=sch,dc=uk"),
                Kind::Staff,
                None,
                None,
            ),
        ],
        tls: tls_config(Some(&ca)).expect("TLS settings"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_read_and_placed_over_starttls_and_ldaps() {
    let server = Slapd::start(slapd::PARK_END);
    for url in [&server.ldap_url, &server.ldaps_url] {
        let directory = Directory::new(settings(&server, url)).expect("settings");
        let mut people = directory.people().await.expect("read people");
        people.sort_by(|a, b| a.username.cmp(&b.username));
        let placed: Vec<(&str, &str, Option<&str>, Option<&str>)> = people
            .iter()
            .map(|p| {
                let place = p.placement.as_ref();
                (
                    p.username.as_str(),
                    place.map_or("-", |p| p.kind.as_str()),
                    place.and_then(|p| p.year.as_deref()),
                    place.and_then(|p| p.group.as_deref()),
                )
            })
            .collect();
        assert_eq!(
            placed,
            [
                ("itadmin", "-", None, None),
                ("lwright10", "pupil", Some("4"), Some("ks2")),
                ("mrs.jones", "staff", None, None),
                ("oadeyemi6", "pupil", Some("6"), Some("ks2")),
                ("tkhan9", "pupil", Some("4"), Some("ks2")),
            ],
            "{url}"
        );
        let lena = people
            .iter()
            .find(|p| p.username == "lwright10")
            .expect("Lena");
        assert_eq!(
            (lena.given_name.as_str(), lena.family_name.as_str()),
            ("Lena", "Wright")
        );
        assert_eq!(lena.email.as_deref(), Some("lwright10@park-end.sch.uk"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_checked_by_binding_as_the_user() {
    let server = Slapd::start(slapd::PARK_END);
    let directory = Directory::new(settings(&server, &server.ldap_url)).expect("settings");
    let lena = directory
        .find("lwright10")
        .await
        .expect("search")
        .expect("Lena");
    assert_eq!(
        lena.dn,
        "uid=lwright10,ou=pupils,ou=people,dc=park-end,dc=sch,dc=uk"
    );
    assert_eq!(
        directory
            .check_password(&lena, "PASSWORD-lwright10")
            .await
            .expect("bind"),
        PasswordCheck::Right
    );
    assert_eq!(
        directory
            .check_password(&lena, "PASSWORD-tkhan9")
            .await
            .expect("bind"),
        PasswordCheck::Wrong
    );
    // An empty password would be an anonymous bind, which the server accepts: never sent.
    assert_eq!(
        directory.check_password(&lena, "").await.expect("no bind"),
        PasswordCheck::Wrong
    );
    // A name is a value, never a filter: `*` and a closing parenthesis find nobody.
    for name in ["*", "lwright10)(uid=*", "nobody", "lwright1*"] {
        assert_eq!(directory.find(name).await.expect("search"), None, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_or_a_wrong_service_password_is_an_error() {
    let server = Slapd::start(slapd::PARK_END);
    // Without the school's CA the server's certificate is not trusted: nothing is sent.
    let mut untrusted = settings(&server, &server.ldaps_url);
    untrusted.tls = tls_config(None).expect("system roots");
    let error = Directory::new(untrusted)
        .expect("settings")
        .people()
        .await
        .expect_err("refused");
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "{error}"
    );
    let mut wrong = settings(&server, &server.ldap_url);
    wrong.bind_password = "not the service password".into();
    let error = Directory::new(wrong)
        .expect("settings")
        .people()
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("service account"), "{error}");
}
