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
