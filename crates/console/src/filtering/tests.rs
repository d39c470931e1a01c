use super::versions::csv_field;
use super::*;

const POLICY: &str = r#"# Park End's policy
name = "Park End"
timezone = "Europe/London"
unknown_group = "ks2"

[[group]]
id = "ks2"
title = "KS2"
kind = "pupil"

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

# Gambling: never for pupils.
[[rule]]
id = "gambling"
action = "Gambling"
categories = ["gambling"]
verdict = "unacceptable"

[[rule]]
id = "games"
action = "Online gaming"
categories = ["games"]
verdict = "unacceptable"
groups = { staff = "acceptable" }
"#;

#[test]
fn a_row_is_changed_in_place_and_comments_stay() {
    let times: VerdictSpec = "acceptable at certain times: lunchtime"
        .parse()
        .expect("verdict");
    let text = set_row_verdicts(
        POLICY,
        "gambling",
        &VerdictSpec::Unacceptable,
        &[("ks2".into(), None), ("staff".into(), Some(times.clone()))],
    )
    .expect("changed");
    assert!(text.contains("# Gambling: never for pupils."));
    assert!(text.contains("# Park End's policy"));
    let spec = PolicySpec::from_toml(&text).expect("reads");
    let gambling = &spec.rules[0];
    assert_eq!(gambling.groups.get("staff"), Some(&times));
    assert_eq!(gambling.verdict, VerdictSpec::Unacceptable);
    let diff = diff_lines(POLICY, &text);
    let changed: Vec<&DiffLine> = diff.iter().filter(|l| l.change != ' ').collect();
    assert!(
        changed.iter().all(|l| l.change == '+'),
        "only added lines: {changed:?}"
    );
    assert!(
        changed
            .iter()
            .any(|l| l.text.contains("acceptable at certain times"))
    );

    // An inline table of groups is kept inline; a group set back to the row's verdict is
    // removed, and an empty table with it.
    let text = set_row_verdicts(
        POLICY,
        "games",
        &VerdictSpec::Unacceptable,
        &[("ks2".into(), None), ("staff".into(), None)],
    )
    .expect("changed");
    let spec = PolicySpec::from_toml(&text).expect("reads");
    assert!(spec.rules[1].groups.is_empty());
    assert!(!text.contains("groups = {"));
    let text = set_row_verdicts(
        POLICY,
        "games",
        &VerdictSpec::Acceptable,
        &[
            ("ks2".into(), Some(VerdictSpec::Unacceptable)),
            ("staff".into(), None),
        ],
    )
    .expect("changed");
    assert!(
        text.contains(r#"groups = { ks2 = "unacceptable" }"#),
        "{text}"
    );
    assert!(set_row_verdicts(POLICY, "no-such-row", &VerdictSpec::Acceptable, &[]).is_err());
}

#[test]
fn list_entries_are_added_and_removed_in_place() {
    let text = set_list_entry(POLICY, "ks2", "allow", "bbc.co.uk/bitesize", true).expect("added");
    assert!(text.contains("# Gambling: never for pupils."));
    let spec = PolicySpec::from_toml(&text).expect("reads");
    assert_eq!(spec.lists.len(), 1);
    assert_eq!(spec.lists[0].allow, ["bbc.co.uk/bitesize"]);
    let again = set_list_entry(&text, "ks2", "block", "games.example", true).expect("added");
    let spec = PolicySpec::from_toml(&again).expect("reads");
    assert_eq!(spec.lists[0].block, ["games.example"]);
    assert!(set_list_entry(&again, "ks2", "allow", "BBC.co.uk/bitesize", true).is_err());
    let removed =
        set_list_entry(&again, "ks2", "allow", "bbc.co.uk/bitesize", false).expect("removed");
    let spec = PolicySpec::from_toml(&removed).expect("reads");
    assert!(spec.lists[0].allow.is_empty());
    for bad in ["", "two words", "tab\there", &"x".repeat(3000)] {
        assert!(
            set_list_entry(POLICY, "ks2", "allow", bad, true).is_err(),
            "{bad:?}"
        );
    }
    assert!(set_list_entry(POLICY, "ks2", "maybe", "a.example", true).is_err());
    assert!(set_list_entry(POLICY, "ks2", "allow", "a.example", false).is_err());
}

#[test]
fn settings_are_set_in_place_and_defaults_stay_unwritten() {
    let keep = |group: &str| GroupSettings {
        group: group.into(),
        safe_search: true,
        youtube: "strict".into(),
        ip_hosts: String::new(),
        uncategorised: "allow".into(),
    };
    let same =
        set_settings(POLICY, "ks2", "block-page", &[keep("ks2"), keep("staff")]).expect("set");
    assert_eq!(same, POLICY, "nothing written for defaults");
    let staff = GroupSettings {
        safe_search: false,
        youtube: "off".into(),
        ip_hosts: "allow".into(),
        ..keep("staff")
    };
    let text = set_settings(POLICY, "staff", "nxdomain", &[keep("ks2"), staff]).expect("set");
    let spec = PolicySpec::from_toml(&text).expect("reads");
    assert_eq!(spec.unknown_group, "staff");
    assert_eq!(spec.dns.blocked, ward_policy::BlockedAnswer::Nxdomain);
    assert!(!spec.groups[1].safe_search && spec.groups[0].safe_search);
    assert_eq!(spec.groups[1].youtube, ward_policy::YouTubeMode::Off);
    assert_eq!(spec.groups[1].ip_hosts, Some(ward_policy::Fallback::Allow));
    assert!(text.contains("# Gambling: never for pupils."));
    let bad = GroupSettings {
        youtube: "<script>".into(),
        ..keep("ks2")
    };
    assert!(set_settings(POLICY, "ks2", "block-page", &[bad]).is_err());
    assert!(set_settings(POLICY, "ks2", "maybe", &[]).is_err());
    assert!(set_settings(POLICY, "ks2", "block-page", &[keep("nobody")]).is_err());
}

#[test]
fn windows_are_added_and_removed() {
    let form = WindowForm {
        action: "add".into(),
        id: "after-school".into(),
        title: "After school".into(),
        days: "mon-fri".into(),
        from: "15:30".into(),
        to: "17:00".into(),
        reason: String::new(),
    };
    let text = set_window(POLICY, &form).expect("added");
    let spec = PolicySpec::from_toml(&text).expect("reads");
    assert_eq!(spec.windows.len(), 2);
    assert_eq!(spec.windows[1].from, "15:30");
    assert!(set_window(&text, &form).is_err(), "twice");
    for bad in ["After School", "", "a b", "<x>"] {
        let form = WindowForm {
            id: bad.into(),
            ..form.clone()
        };
        assert!(set_window(POLICY, &form).is_err(), "{bad:?}");
    }
    let remove = WindowForm {
        action: "remove".into(),
        id: "lunchtime".into(),
        ..WindowForm::default()
    };
    let text = set_window(POLICY, &remove).expect("removed");
    assert!(
        PolicySpec::from_toml(&text)
            .expect("reads")
            .windows
            .is_empty()
    );
}

#[test]
fn year_groups_and_what_is_never_decrypted_are_set_in_place() {
    let same =
        set_group_details(POLICY, &[("ks2".into(), vec![])], &[], &["bank".into()]).expect("set");
    assert_eq!(same, POLICY, "defaults unwritten");
    let text = set_group_details(
        POLICY,
        &[("ks2".into(), vec!["3".into(), "4".into()])],
        &["staff".into()],
        &["bank".into(), "webmail".into()],
    )
    .expect("set");
    let spec = PolicySpec::from_toml(&text).expect("reads");
    assert_eq!(spec.groups[0].years, ["3", "4"]);
    assert_eq!(spec.proxy.groups_not_inspected, ["staff"]);
    assert_eq!(spec.proxy.never_inspect, ["bank", "webmail"]);
    assert!(set_group_details(POLICY, &[("ks2".into(), vec!["<3>".into()])], &[], &[]).is_err());
    assert!(set_group_details(POLICY, &[], &[], &["bank; rm".into()]).is_err());
}

#[test]
fn a_comparison_shows_what_changed_with_lines_around_it() {
    let before = "a\nb\nc\nd\ne\nf\ng\n";
    let after = "a\nb\nc\nD\ne\nf\ng\nh\n";
    let diff = diff_lines(before, after);
    let shown: Vec<String> = diff
        .iter()
        .map(|l| format!("{}{}", l.change, l.text))
        .collect();
    assert_eq!(
        shown,
        [" a", " b", " c", "-d", "+D", " e", " f", " g", "+h"]
    );
    assert!(diff_lines(before, before).iter().all(|l| l.change == ' '));
}

#[test]
fn csv_fields_are_quoted_and_never_formulas() {
    assert_eq!(csv_field("plain"), "\"plain\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
}

/// POLICY with staff nominated on a social-media row, local lists for staff, and staff's HTTPS
/// never decrypted.
fn staff_extras(allow: &[&str], block: &[&str]) -> String {
    let list = |entries: &[&str]| {
        entries
            .iter()
            .map(|entry| format!("{entry:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    POLICY.replace(
        "groups = { staff = \"acceptable\" }",
        &format!(
            "groups = {{ staff = \"acceptable\" }}\n\n[[rule]]\nid = \"social\"\naction = \"Social media\"\ncategories = [\"social_networks\"]\nverdict = \"acceptable for nominated users: group staff, user head\"\n\n[[list]]\ngroup = \"staff\"\nallow = [{}]\nblock = [{}]\n\n[proxy]\ngroups_not_inspected = [\"staff\"]",
            list(allow),
            list(block)
        ),
    )
}

fn group_form(id: &str, kind: &str, years: &str, like: &str) -> GroupForm {
    GroupForm {
        id: id.into(),
        title: format!("Group {id}"),
        kind: kind.into(),
        years: years.into(),
        like: like.into(),
        reason: String::new(),
    }
}

#[test]
fn a_group_is_added_after_the_others_starting_as_another_if_asked() {
    // A staff-like group gets staff's own verdicts, nominations, lists and settings.
    let policy = staff_extras(&["teachers.example"], &[]).replace(
        "kind = \"staff\"",
        "kind = \"staff\"\nyoutube = \"moderate\"",
    );
    let text = add_group(&policy, &group_form("governors", "staff", "", "staff")).expect("added");
    let spec = PolicySpec::from_toml(&text).expect("reads");
    let ids: Vec<&str> = spec.groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["ks2", "staff", "governors"]);
    // Written with the groups, before the windows and rows, not at the end.
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {text}"))
    };
    assert!(at("id = \"governors\"") < at("[[window]]"), "{text}");
    let governors = &spec.groups[2];
    assert_eq!(governors.youtube, ward_policy::YouTubeMode::Moderate);
    let games = spec.rules.iter().find(|r| r.id == "games").expect("games");
    assert_eq!(
        games.groups.get("governors"),
        Some(&VerdictSpec::Acceptable)
    );
    let social = spec
        .rules
        .iter()
        .find(|r| r.id == "social")
        .expect("social");
    assert_eq!(
        social.verdict.to_string(),
        "acceptable for nominated users: group staff, group governors, user head"
    );
    assert!(
        spec.lists
            .iter()
            .any(|l| l.group == "governors" && l.allow == ["teachers.example"])
    );
    assert!(
        spec.proxy
            .groups_not_inspected
            .contains(&"governors".to_owned())
    );
    assert!(text.contains("# Gambling: never for pupils."));

    // Without a model: the rows' usual verdicts and the built-in settings.
    let text = add_group(POLICY, &group_form("year7", "pupil", "7, 8", "")).expect("added");
    let spec = PolicySpec::from_toml(&text).expect("reads");
    let year7 = spec.groups.iter().find(|g| g.id == "year7").expect("year7");
    assert_eq!(year7.years, ["7", "8"]);
    assert!(spec.rules.iter().all(|r| !r.groups.contains_key("year7")));

    // Refused: a taken id, a bad id, `all`, years for staff, a bad year, a missing model.
    for (form, problem) in [
        (group_form("ks2", "pupil", "", ""), "already"),
        (group_form("Year 7", "pupil", "", ""), "small letters"),
        (group_form("all", "pupil", "", ""), "cannot be all"),
        (group_form("<script>", "pupil", "", ""), "small letters"),
        (group_form("office", "staff", "7", ""), "Only pupil groups"),
        (group_form("year14", "pupil", "14", ""), "not a year group"),
        (group_form("year9", "pupil", "9", "nobody"), "no group"),
        (
            group_form("year9", "teachers", "", ""),
            "pupils, staff or guests",
        ),
    ] {
        let error = add_group(POLICY, &form).expect_err(&form.id);
        assert!(error.contains(problem), "{}: {error}", form.id);
    }
}

#[test]
fn a_group_is_removed_with_what_is_its_own_and_refused_where_it_is_needed() {
    let policy = staff_extras(&["teachers.example", "pd.example"], &["x.example"]);
    let (text, removal) = remove_group(&policy, "staff").expect("removed");
    assert_eq!(removal.rows, ["games"]);
    assert_eq!(removal.nominations, ["social"]);
    assert_eq!(removal.list_entries, 3);
    let spec = PolicySpec::from_toml(&text).expect("reads");
    assert_eq!(spec.groups.len(), 1);
    assert!(spec.rules.iter().all(|r| r.groups.is_empty()));
    assert!(spec.lists.is_empty());
    assert!(spec.proxy.groups_not_inspected.is_empty());
    assert!(!text.contains("staff ="), "{text}");
    let social = spec
        .rules
        .iter()
        .find(|r| r.id == "social")
        .expect("social");
    assert_eq!(
        social.verdict.to_string(),
        "acceptable for nominated users: user head"
    );

    // The unknown-client group, a row's only nomination, a grant's group, the last group and
    // a group that is not there are refused.
    assert!(
        remove_group(POLICY, "ks2")
            .expect_err("unknown")
            .contains("cannot identify")
    );
    let only = POLICY.replace(
        "verdict = \"unacceptable\"\ngroups",
        "verdict = \"acceptable for nominated users: group staff\"\ngroups",
    );
    assert!(
        remove_group(&only, "staff")
            .expect_err("only nomination")
            .contains("Row games nominates only staff")
    );
    let granted = format!(
        "{POLICY}\n[[grant]]\nid = \"7\"\nsite = \"x.example\"\ngroup = \"staff\"\nstart = \"2026-11-23T09:00\"\nend = \"2026-11-24T09:00\"\nreason = \"Research\"\napproved_by = \"dsl\"\n"
    );
    assert!(
        remove_group(&granted, "staff")
            .expect_err("grant")
            .contains("grant 7")
    );
    assert!(remove_group(POLICY, "nobody").is_err());
    let (one, _) = remove_group(POLICY, "staff").expect("removed");
    assert!(remove_group(&one, "ks2").is_err());
}
