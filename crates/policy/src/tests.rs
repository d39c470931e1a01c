//! Table-driven tests of every step of the precedence, of every verdict kind, and of every check
//! that stops a policy loading.

use std::sync::Arc;

use jiff::Timestamp;
use ward_lists::{CategoryIndex, ListFormat};

use crate::*;

fn index() -> Arc<CategoryIndex> {
    ward_testkit::category_index(&[
        (
            "gambling",
            ListFormat::Domains,
            "casino.com\nbet.org\n",
            false,
        ),
        (
            "games",
            ListFormat::Domains,
            "play.net\ncasino.com\n",
            false,
        ),
        ("shopping", ListFormat::Domains, "shop.co.uk\n", false),
        ("terror", ListFormat::Domains, "extreme.example\n", false),
        ("education", ListFormat::Domains, "learn.org\n", false),
        ("social", ListFormat::Urls, "video.com/chat/\n", false),
        (
            "iwf",
            ListFormat::Illegal,
            "abuse.example/img/\nwhole.example\n",
            true,
        ),
    ])
}

const POLICY: &str = r#"
name = "Test School"
timezone = "Europe/London"
unknown_group = "ks2"

[[group]]
id = "ks2"
title = "Key Stage 2"
kind = "pupil"
years = ["3", "4", "5", "6"]

[[group]]
id = "eyfs"
title = "Early Years"
kind = "pupil"
years = ["N", "R"]
uncategorised = "block"

[[group]]
id = "staff"
title = "Staff"
kind = "staff"

[[window]]
id = "lunchtime"
title = "Lunchtime"
days = ["mon-fri"]
from = "12:00"
to = "13:00"

[[rule]]
id = "abuse"
action = "Child sexual abuse images"
categories = ["iwf"]
verdict = "unacceptable and illegal"

[[rule]]
id = "terrorism"
action = "Terrorist material"
categories = ["terror"]
verdict = "unacceptable and illegal"

[[rule]]
id = "gambling"
action = "On-line gambling"
categories = ["gambling"]
verdict = "unacceptable"
alert = 2

[[rule]]
id = "games"
action = "On-line gaming"
categories = ["games"]
verdict = "acceptable at certain times: lunchtime"
[rule.groups]
staff = "acceptable"

[[rule]]
id = "shopping"
action = "On-line shopping"
categories = ["shopping"]
verdict = "acceptable for nominated users: group staff, user pupil.helper"

[[rule]]
id = "education"
action = "Education"
categories = ["education", "missing-category"]
verdict = "acceptable"

[[rule]]
id = "social"
action = "Social media"
categories = ["social"]
verdict = "unacceptable"

[[list]]
group = "all"
allow = ["games.bet.org", "news.example/ok"]
block = ["news.example", "learn.org/forum"]

[[list]]
group = "ks2"
allow = ["learn.org/forum", "play.net", "198.51.100.7"]

[[list]]
group = "staff"
allow = ["tie.example"]
block = ["tie.example"]

[[grant]]
id = "g1"
site = "casino.com"
group = "ks2"
start = "2026-03-02T09:00"
end = "2026-03-02T10:00"
reason = "Maths lesson on probability"
approved_by = "coordinator"

[[grant]]
id = "g2"
category = "gambling"
user = "teacher.one"
start = "2026-03-02T00:00:00Z"
end = "2026-03-03T00:00:00Z"
reason = "Research"
approved_by = "coordinator"

[[grant]]
id = "g3"
site = "extreme.example"
group = "ks2"
start = "2026-03-02T00:00:00Z"
end = "2026-03-03T00:00:00Z"
reason = "Tries to open an illegal category by site"
approved_by = "coordinator"
"#;

fn snapshot() -> PolicySnapshot {
    let (snapshot, warnings) = PolicySnapshot::from_toml(POLICY, index()).expect("policy loads");
    assert_eq!(
        warnings,
        [Warning(
            "rule \"education\": the index has no category \"missing-category\"".into()
        )]
    );
    snapshot
}

/// Monday 2 March 2026 (GMT), 10:30.
const MONDAY_MORNING: &str = "2026-03-02T10:30:00Z";
/// Monday 2 March 2026 (GMT), 12:30: lunchtime.
const MONDAY_LUNCH: &str = "2026-03-02T12:30:00Z";
/// Monday 2 March 2026 (GMT), 09:30: grant g1 is active.
const MONDAY_GRANT: &str = "2026-03-02T09:30:00Z";

struct Case {
    name: &'static str,
    request: &'static str,
    group: &'static str,
    user: Option<&'static str>,
    at: &'static str,
    action: Action,
    reason: &'static str,
}

fn case(
    name: &'static str,
    request: &'static str,
    group: &'static str,
    at: &'static str,
    action: Action,
    reason: &'static str,
) -> Case {
    Case {
        name,
        request,
        group,
        user: None,
        at,
        action,
        reason,
    }
}

#[test]
fn precedence_and_verdicts() {
    use Action::{Allow, Block};
    let snapshot = snapshot();
    let mut cases = vec![
        // 1. Illegal lists: per URL, whole domains, and for every group.
        case(
            "illegal url",
            "http://abuse.example/img/1.jpg",
            "staff",
            MONDAY_MORNING,
            Block,
            "illegal-content list iwf: url abuse.example/img/",
        ),
        case(
            "illegal url, other path",
            "http://abuse.example/about",
            "staff",
            MONDAY_MORNING,
            Allow,
            "uncategorised",
        ),
        case(
            "illegal domain",
            "sub.whole.example",
            "staff",
            MONDAY_MORNING,
            Block,
            "illegal-content list iwf: domain whole.example",
        ),
        // 2. Illegal rules beat grants (g3 covers this site for ks2 all day).
        case(
            "illegal rule over grant",
            "extreme.example",
            "ks2",
            MONDAY_MORNING,
            Block,
            "rule terrorism (unacceptable and illegal): category terror, domain extreme.example",
        ),
        // 3. Grants: in their period, for their group or user.
        case(
            "group grant active",
            "casino.com",
            "ks2",
            MONDAY_GRANT,
            Allow,
            "grant g1 until 2026-03-02T10:00:00Z, approved by coordinator: Maths lesson on probability",
        ),
        case(
            "group grant expired",
            "casino.com",
            "ks2",
            MONDAY_MORNING,
            Block,
            "rule gambling (unacceptable): category gambling, domain casino.com",
        ),
        case(
            "group grant, other group",
            "casino.com",
            "staff",
            MONDAY_GRANT,
            Block,
            "rule gambling (unacceptable): category gambling, domain casino.com",
        ),
        // 4. Local lists: allow over rules, most specific wins, block wins a tie, per group.
        case(
            "local allow over rule",
            "games.bet.org",
            "staff",
            MONDAY_MORNING,
            Allow,
            "local list all: games.bet.org",
        ),
        case(
            "local block",
            "www.news.example",
            "staff",
            MONDAY_MORNING,
            Block,
            "local list all: news.example",
        ),
        case(
            "longer path allow wins",
            "http://news.example/ok/page",
            "staff",
            MONDAY_MORNING,
            Allow,
            "local list all: news.example/ok",
        ),
        case(
            "group list over all list",
            "http://learn.org/forum/x",
            "ks2",
            MONDAY_MORNING,
            Allow,
            "local list ks2: learn.org/forum",
        ),
        case(
            "all list for other group",
            "http://learn.org/forum/x",
            "staff",
            MONDAY_MORNING,
            Block,
            "local list all: learn.org/forum",
        ),
        case(
            "tie goes to block",
            "tie.example",
            "staff",
            MONDAY_MORNING,
            Block,
            "local list staff: tie.example",
        ),
        case(
            "group allow over time rule",
            "play.net",
            "ks2",
            MONDAY_MORNING,
            Allow,
            "local list ks2: play.net",
        ),
        // 5. Rules, each verdict kind.
        case(
            "acceptable",
            "learn.org",
            "ks2",
            MONDAY_MORNING,
            Allow,
            "rule education (acceptable): category education, domain learn.org",
        ),
        case(
            "unacceptable",
            "www.bet.org",
            "staff",
            MONDAY_MORNING,
            Block,
            "rule gambling (unacceptable): category gambling, domain bet.org",
        ),
        case(
            "outside window",
            "play.net",
            "eyfs",
            MONDAY_MORNING,
            Block,
            "rule games (acceptable at certain times): category games, domain play.net; outside Lunchtime",
        ),
        case(
            "inside window",
            "play.net",
            "eyfs",
            MONDAY_LUNCH,
            Allow,
            "rule games (acceptable at certain times): category games, domain play.net; inside Lunchtime",
        ),
        case(
            "per-group override",
            "play.net",
            "staff",
            MONDAY_MORNING,
            Allow,
            "rule games (acceptable): category games, domain play.net",
        ),
        case(
            "nominated group",
            "shop.co.uk",
            "staff",
            MONDAY_MORNING,
            Allow,
            "rule shopping (acceptable for nominated users): category shopping, domain shop.co.uk; group staff is nominated",
        ),
        case(
            "not nominated",
            "shop.co.uk",
            "ks2",
            MONDAY_MORNING,
            Block,
            "rule shopping (acceptable for nominated users): category shopping, domain shop.co.uk; not a nominated user",
        ),
        case(
            "strongest block of several",
            "casino.com",
            "eyfs",
            MONDAY_LUNCH,
            Block,
            "rule gambling (unacceptable): category gambling, domain casino.com",
        ),
        case(
            "url rule",
            "https://video.com/chat/room",
            "staff",
            MONDAY_MORNING,
            Block,
            "rule social (unacceptable): category social, url video.com/chat/",
        ),
        case(
            "url rule needs the path",
            "video.com",
            "staff",
            MONDAY_MORNING,
            Allow,
            "uncategorised",
        ),
        // 6. Fallback.
        case(
            "uncategorised allowed",
            "example.org",
            "ks2",
            MONDAY_MORNING,
            Allow,
            "uncategorised",
        ),
        case(
            "walled garden",
            "example.org",
            "eyfs",
            MONDAY_MORNING,
            Block,
            "uncategorised",
        ),
        // Unknown groups get the unknown-client group, never nothing.
        case(
            "unknown group",
            "shop.co.uk",
            "nobody",
            MONDAY_MORNING,
            Block,
            "rule shopping (acceptable for nominated users): category shopping, domain shop.co.uk; not a nominated user",
        ),
    ];
    cases.push(Case {
        user: Some("pupil.helper"),
        ..case("nominated user", "shop.co.uk", "ks2", MONDAY_MORNING, Allow,
               "rule shopping (acceptable for nominated users): category shopping, domain shop.co.uk; user pupil.helper is nominated")
    });
    // 5. Hosts written as IP addresses: blocked for pupil groups unless a list allows them.
    cases.extend([
        case(
            "ip host, pupil",
            "http://0xc0000201/index.html",
            "ks2",
            MONDAY_MORNING,
            Block,
            "the host is an IP address, which this group may not use",
        ),
        case(
            "ipv6 host, pupil",
            "[2001:db8::1]",
            "ks2",
            MONDAY_MORNING,
            Block,
            "the host is an IP address, which this group may not use",
        ),
        case(
            "ip host on the group's allow list",
            "198.51.100.7",
            "ks2",
            MONDAY_MORNING,
            Allow,
            "local list ks2: 198.51.100.7",
        ),
        case(
            "ip host, staff",
            "192.0.2.1",
            "staff",
            MONDAY_MORNING,
            Allow,
            "uncategorised",
        ),
    ]);
    cases.push(Case {
        user: Some("Teacher.One"),
        ..case(
            "user grant of a category",
            "bet.org",
            "staff",
            MONDAY_MORNING,
            Allow,
            "grant g2 until 2026-03-03T00:00:00Z, approved by coordinator: Research",
        )
    });
    cases.push(Case {
        user: Some("teacher.one"),
        ..case(
            "user grant has ended",
            "bet.org",
            "staff",
            "2026-03-03T00:00:00Z",
            Block,
            "rule gambling (unacceptable): category gambling, domain bet.org",
        )
    });
    cases.push(Case {
        user: Some("teacher.one"),
        ..case(
            "user grant cannot open illegal lists",
            "whole.example",
            "staff",
            MONDAY_MORNING,
            Block,
            "illegal-content list iwf: domain whole.example",
        )
    });

    for case in cases {
        let request = Request::parse(case.request).expect(case.name);
        let identity = Identity {
            group: case.group.parse().expect(case.name),
            user: case.user.map(String::from),
        };
        let at: Timestamp = case.at.parse().expect("valid time");
        let decision = decide(&snapshot, &request, &identity, at);
        assert_eq!(
            decision.action, case.action,
            "{}: {}",
            case.name, decision.reason
        );
        assert_eq!(decision.reason.to_string(), case.reason, "{}", case.name);
    }
}

#[test]
fn blocked_requests_in_serious_categories_carry_an_alert_severity() {
    let snapshot = snapshot();
    let at: Timestamp = MONDAY_MORNING.parse().expect("valid time");
    let cases = [
        // Illegal lists and illegal rules: always 5, for staff too.
        (
            "http://abuse.example/img/1.jpg",
            "staff",
            None,
            Some((5, "iwf")),
        ),
        ("extreme.example", "ks2", None, Some((5, "terrorism"))),
        // A rule with `alert`: its severity when blocked, whatever blocked it (casino.com is
        // also a game, and the games rule outside lunchtime is weaker than gambling's).
        ("bet.org", "ks2", None, Some((2, "gambling"))),
        ("casino.com", "staff", None, Some((2, "gambling"))),
        // Blocked by a local list, in no category: nothing to alert on.
        ("news.example", "ks2", None, None),
        // Blocked, but no rule of its categories alerts.
        ("video.com/chat/room", "ks2", None, None),
        // Allowed (by a grant here): no alert.
        ("bet.org", "staff", Some("teacher.one"), None),
    ];
    for (request, group, user, severity) in cases {
        let identity = Identity {
            group: group.parse().expect("group"),
            user: user.map(String::from),
        };
        let decision = decide(
            &snapshot,
            &Request::parse(request).expect("valid"),
            &identity,
            at,
        );
        let alert = decision.alert.map(|level| (level.severity, level.category));
        assert_eq!(
            alert, severity,
            "{request} for {group}: {}",
            decision.reason
        );
    }
    // A severity outside 1 to 5 stops the policy loading.
    let error = load_error(
        "verdict = \"unacceptable\"\nalert = 2",
        "verdict = \"unacceptable\"\nalert = 6",
    );
    assert!(
        matches!(&error, PolicyError::BadAlert { rule, severity: 6 } if rule == "gambling"),
        "{error}"
    );
}

#[test]
fn unknown_group_is_reported() {
    let snapshot = snapshot();
    let identity = Identity {
        group: "nobody".parse().expect("valid id"),
        user: None,
    };
    let request = Request::parse("example.org").expect("valid");
    let at: Timestamp = MONDAY_MORNING.parse().expect("valid");
    assert_eq!(
        decide(&snapshot, &request, &identity, at).group.as_str(),
        "ks2"
    );
}

#[test]
fn every_category_is_reported() {
    let snapshot = snapshot();
    let identity = Identity {
        group: "staff".parse().expect("valid"),
        user: None,
    };
    let at: Timestamp = MONDAY_MORNING.parse().expect("valid");
    let decision = decide(
        &snapshot,
        &Request::parse("casino.com").expect("valid"),
        &identity,
        at,
    );
    let mut names: Vec<&str> = decision.categories.iter().map(|c| c.category).collect();
    names.sort();
    assert_eq!(names, ["gambling", "games"]);
    let mut listed: Vec<String> = decision
        .category_list()
        .split(',')
        .map(String::from)
        .collect();
    listed.sort();
    assert_eq!(listed, ["gambling", "games"]);

    // A URL in a category both by its domain and by a URL entry is listed once.
    let mut decision = decision.clone();
    decision.categories.push(decision.categories[0]);
    assert_eq!(decision.category_list().split(',').count(), 2);
}

#[test]
fn the_clock_change_moves_windows_with_local_time() {
    let snapshot = snapshot();
    let identity = Identity {
        group: "eyfs".parse().expect("valid"),
        user: None,
    };
    let request = Request::parse("play.net").expect("valid");
    let action =
        |at: &str| decide(&snapshot, &request, &identity, at.parse().expect("valid")).action;
    // Friday 27 March 2026 (GMT) and Monday 30 March 2026 (BST, clocks went forward on the 29th).
    assert_eq!(action("2026-03-27T12:30:00Z"), Action::Allow);
    assert_eq!(action("2026-03-27T11:30:00Z"), Action::Block);
    assert_eq!(action("2026-03-30T11:30:00Z"), Action::Allow);
    assert_eq!(action("2026-03-30T12:30:00Z"), Action::Block);
}

/// Replaces `from` with `to` in the test policy, and returns the error loading it gives.
fn load_error(from: &str, to: &str) -> PolicyError {
    assert!(
        POLICY.contains(from),
        "test edits text that is not there: {from}"
    );
    let text = POLICY.replacen(from, to, 1);
    PolicySnapshot::from_toml(&text, index()).expect_err("policy must not load")
}

#[test]
fn allowing_illegal_content_stops_the_policy_loading() {
    let cases = [
        // An allow entry on, above or below an illegal entry.
        (
            r#"allow = ["games.bet.org""#,
            r#"allow = ["whole.example", "games.bet.org""#,
            "list \"all\" allow \"whole.example\"",
        ),
        (
            r#"allow = ["games.bet.org""#,
            r#"allow = ["example", "games.bet.org""#,
            "list \"all\" allow \"example\"",
        ),
        (
            r#"allow = ["games.bet.org""#,
            r#"allow = ["abuse.example", "games.bet.org""#,
            "list \"all\" allow \"abuse.example\"",
        ),
        (
            r#"allow = ["games.bet.org""#,
            r#"allow = ["abuse.example/img/x", "games.bet.org""#,
            "list \"all\" allow \"abuse.example/img/x\"",
        ),
        (
            r#"allow = ["games.bet.org""#,
            r#"allow = ["WWW.Whole.Example.", "games.bet.org""#,
            "list \"all\" allow \"WWW.Whole.Example.\"",
        ),
        // A grant of a site on an illegal list.
        (
            "site = \"casino.com\"",
            "site = \"http://abuse.example/img/1.jpg\"",
            "grant \"g1\"",
        ),
    ];
    for (from, to, rule) in cases {
        match load_error(from, to) {
            PolicyError::AllowsIllegal {
                rule: found, list, ..
            } => {
                assert_eq!(found, rule);
                assert_eq!(list, "iwf");
            }
            other => panic!("{to}: {other}"),
        }
    }
    // A path of the same host that is not on the list is fine.
    let text = POLICY.replacen(
        r#"allow = ["games.bet.org""#,
        r#"allow = ["abuse.example/about", "games.bet.org""#,
        1,
    );
    assert!(PolicySnapshot::from_toml(&text, index()).is_ok());
}

#[test]
fn illegal_categories_cannot_be_made_acceptable() {
    let error = load_error(
        "categories = [\"iwf\"]\nverdict = \"unacceptable and illegal\"",
        "categories = [\"iwf\"]\nverdict = \"unacceptable and illegal\"\n[rule.groups]\nstaff = \"acceptable\"",
    );
    assert!(
        matches!(error, PolicyError::IllegalCategoryAllowed { .. }),
        "{error}"
    );
    let error = load_error("category = \"gambling\"", "category = \"terror\"");
    assert!(
        matches!(error, PolicyError::IllegalCategoryAllowed { .. }),
        "{error}"
    );
    let error = load_error("category = \"gambling\"", "category = \"iwf\"");
    assert!(
        matches!(error, PolicyError::IllegalCategoryAllowed { .. }),
        "{error}"
    );
}

#[test]
fn malformed_policies_are_refused_with_a_reason() {
    let cases: [(&str, &str, &str); 15] = [
        (
            "years = [\"N\", \"R\"]",
            "years = [\"R\", \"3\"]",
            "year 3 is already in group \"ks2\"",
        ),
        (
            "years = [\"N\", \"R\"]",
            "years = [\"R\", \"14\"]",
            "not N, R or 1 to 13",
        ),
        (
            "kind = \"staff\"",
            "kind = \"staff\"\nyears = [\"7\"]",
            "only pupil groups have year groups",
        ),
        (
            "timezone = \"Europe/London\"",
            "timezone = \"Europe/Atlantis\"",
            "unknown time zone",
        ),
        (
            "unknown_group = \"ks2\"",
            "unknown_group = \"year12\"",
            "unknown group",
        ),
        ("id = \"eyfs\"", "id = \"ks2\"", "duplicate group"),
        (
            "acceptable at certain times: lunchtime",
            "acceptable at certain times: playtime",
            "unknown time window",
        ),
        (
            "verdict = \"unacceptable\"",
            "verdict = \"sometimes\"",
            "not a verdict",
        ),
        (
            "staff = \"acceptable\"",
            "teachers = \"acceptable\"",
            "unknown group",
        ),
        (
            "group = \"ks2\"\nallow",
            "group = \"year9\"\nallow",
            "unknown group",
        ),
        ("\"play.net\",", "\"bad name.net\",", "not a domain"),
        (
            "end = \"2026-03-02T10:00\"",
            "end = \"2026-03-02T08:00\"",
            "ends before it starts",
        ),
        (
            "site = \"casino.com\"",
            "site = \"casino.com\"\ncategory = \"games\"",
            "exactly one of site or category",
        ),
        (
            "from = \"12:00\"",
            "from = \"14:00\"",
            "ends (13:00) before it starts",
        ),
        (
            "kind = \"staff\"",
            "kind = \"staff\"\ncolour = \"blue\"",
            "unknown field",
        ),
    ];
    for (from, to, expected) in cases {
        let error = load_error(from, to).to_string();
        assert!(error.contains(expected), "{to}: {error}");
    }
}

#[test]
fn default_policy_loads_and_renders_the_seed_table() {
    let (snapshot, warnings) =
        PolicySnapshot::from_toml(DEFAULT_POLICY, index()).expect("default policy loads");
    assert!(
        !warnings.is_empty(),
        "the test index lacks most UT1 categories"
    );
    let groups: Vec<&str> = snapshot.groups().iter().map(|g| g.id.as_str()).collect();
    assert_eq!(groups, ["eyfs", "ks1", "ks2", "uks2", "staff", "guests"]);
    let table = snapshot.render_markdown();
    for row in [
        "| Pornography |  |  |  | X |  |",
        "| On-line gaming (educational) | X |  |  |  |  |",
        "| On-line gaming (non-educational) |  | X (Lunchtime, After school) |  |  |  |",
        "| On-line shopping / commerce |  |  | X (STAFF) |  |  |",
        "| Downloading terrorist and extremist material from the internet |  |  |  |  | X |",
        "| Lunchtime | Mon–Fri 12:00–13:00 |",
    ] {
        assert!(table.contains(row), "missing {row:?} in\n{table}");
    }
}

#[test]
fn per_group_verdicts_render_with_group_names() {
    let table = snapshot().render_markdown();
    assert!(
        table.contains("| On-line gaming | STAFF | KS2, EYFS (Lunchtime) |  |  |  |"),
        "{table}"
    );
}

#[test]
fn private_networks_are_blocked_for_pupils_and_guests_unless_the_policy_says() {
    let policy = snapshot();
    let setting = |id: &str| policy.group(id).expect("group").private_networks;
    assert_eq!(setting("ks2"), Fallback::Block);
    assert_eq!(setting("eyfs"), Fallback::Block);
    assert_eq!(setting("staff"), Fallback::Allow);

    let text = POLICY.replace(
        "kind = \"staff\"",
        "kind = \"staff\"\nprivate_networks = \"block\"",
    );
    let text = text.replace(
        "years = [\"3\", \"4\", \"5\", \"6\"]",
        "years = [\"3\", \"4\", \"5\", \"6\"]\nprivate_networks = \"allow\"",
    );
    let (policy, _) = PolicySnapshot::from_toml(&text, index()).expect("loads");
    assert_eq!(
        policy.group("staff").expect("staff").private_networks,
        Fallback::Block
    );
    assert_eq!(
        policy.group("ks2").expect("ks2").private_networks,
        Fallback::Allow
    );
}

#[test]
fn a_groups_stage_comes_from_its_kind_and_years() {
    let policy = snapshot();
    let stage = |id: &str| policy.group(id).expect("group").stage();
    assert_eq!(stage("ks2"), Stage::Primary);
    assert_eq!(stage("eyfs"), Stage::Primary);
    assert_eq!(stage("staff"), Stage::Adult);

    // One year of 7 or above makes a pupil group secondary; a group with no years stays
    // primary.
    let text = POLICY.replace(
        "years = [\"3\", \"4\", \"5\", \"6\"]",
        "years = [\"6\", \"7\"]",
    );
    let (policy, _) = PolicySnapshot::from_toml(&text, index()).expect("loads");
    assert_eq!(policy.group("ks2").expect("ks2").stage(), Stage::Secondary);
    let text = POLICY.replace("years = [\"3\", \"4\", \"5\", \"6\"]\n", "");
    let (policy, _) = PolicySnapshot::from_toml(&text, index()).expect("loads");
    assert_eq!(policy.group("ks2").expect("ks2").stage(), Stage::Primary);
}

#[test]
fn inspection_skips_the_policys_categories_and_groups() {
    let policy = format!(
        "{POLICY}\n[proxy]\nnever_inspect = [\"shopping\", \"no-such-category\"]\ngroups_not_inspected = [\"eyfs\"]\n"
    );
    let (snapshot, warnings) = PolicySnapshot::from_toml(&policy, index()).expect("policy loads");
    assert!(
        warnings.contains(&Warning(
            "proxy.never_inspect: the index has no category \"no-such-category\"".into()
        )),
        "{warnings:?}"
    );
    let at: Timestamp = MONDAY_MORNING.parse().expect("valid");
    let decided = |host: &str, group: &str| {
        let identity = Identity {
            group: group.parse().expect("valid"),
            user: None,
        };
        let decision = decide(
            &snapshot,
            &Request::parse(host).expect("valid"),
            &identity,
            at,
        );
        snapshot.inspection_allowed(&decision)
    };
    assert_eq!(decided("learn.org", "ks2"), Ok(()));
    assert_eq!(
        decided("shop.co.uk", "ks2"),
        Err(NotInspected::Category("shopping".into()))
    );
    assert_eq!(
        decided("learn.org", "eyfs"),
        Err(NotInspected::Group("eyfs".into()))
    );

    // By default banking (UT1's `bank`) is never decrypted; an index without it is no warning.
    let (snapshot, warnings) = PolicySnapshot::from_toml(POLICY, index()).expect("loads");
    assert_eq!(snapshot.spec().proxy.never_inspect, ["bank"]);
    assert!(!warnings.iter().any(|w| w.0.contains("never_inspect")));

    let bad = format!("{POLICY}\n[proxy]\ngroups_not_inspected = [\"nobody\"]\n");
    assert!(matches!(
        PolicySnapshot::from_toml(&bad, index()),
        Err(PolicyError::UnknownGroup { .. })
    ));
}
