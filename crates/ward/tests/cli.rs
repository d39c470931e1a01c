//! Runs the `ward` binary as a user does: import lists, check requests, show the policy.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ward(arguments: &[&str], directory: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(arguments)
        .current_dir(directory)
        .env_remove("WARD_INDEX")
        .env_remove("WARD_POLICY")
        .output()
        .expect("ward runs")
}

/// Runs `ward` with `input` on its standard input.
fn ward_with_input(arguments: &[&str], directory: &Path, input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(arguments)
        .current_dir(directory)
        .env_remove("WARD_INDEX")
        .env_remove("WARD_POLICY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ward runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input)
        .expect("ward reads its input");
    child.wait_with_output().expect("ward finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh working folder with a small set of list files.
fn workspace(name: &str) -> PathBuf {
    let folder = std::env::temp_dir().join(format!("ward-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(folder.join("ut1/gambling")).expect("temp folder");
    std::fs::create_dir_all(folder.join("ut1/games")).expect("temp folder");
    std::fs::write(
        folder.join("ut1/gambling/domains"),
        "casino.com\nbad line!\n",
    )
    .expect("write");
    std::fs::write(folder.join("ut1/games/domains"), "play.net\n").expect("write");
    std::fs::write(folder.join("iwf.txt"), "abuse.example/img/\n").expect("write");
    std::fs::write(
        folder.join("ads.txt"),
        "||ads.example^\n@@||ok.ads.example^\n",
    )
    .expect("write");
    folder
}

fn import(folder: &Path) {
    let output = ward(
        &[
            "lists",
            "import",
            "--out",
            "var/ward.idx",
            "--ut1",
            "ut1",
            "--illegal",
            "iwf=iwf.txt",
            "--adblock",
            "ads=ads.txt",
        ],
        folder,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("ut1/gambling/domains:2: not a domain"),
        "bad lines are reported with file and line: {stderr}"
    );
    assert!(text(&output.stdout).contains("wrote var/ward.idx"));
}

#[test]
fn import_then_check() {
    let folder = workspace("check");
    import(&folder);

    let output = ward(
        &["check", "http://www.casino.com/", "--group", "ks2"],
        &folder,
    );
    assert_eq!(output.status.code(), Some(1), "blocked exits 1");
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("block  http://www.casino.com/"),
        "{stdout}"
    );
    assert!(stdout.contains(
        "reason:     rule gambling (unacceptable): category gambling, domain casino.com"
    ));

    let output = ward(&["check", "example.org", "--group", "staff"], &folder);
    assert_eq!(output.status.code(), Some(0), "allowed exits 0");

    let output = ward(
        &[
            "check",
            "play.net",
            "--group",
            "ks2",
            "--at",
            "2026-11-23T12:15",
        ],
        &folder,
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "games at lunchtime: {}",
        text(&output.stdout)
    );
    let output = ward(
        &[
            "check",
            "play.net",
            "--group",
            "ks2",
            "--at",
            "2026-11-23T10:15",
        ],
        &folder,
    );
    assert_eq!(output.status.code(), Some(1), "games in lessons");

    let output = ward(
        &[
            "check",
            "http://abuse.example/img/1.jpg",
            "--group",
            "staff",
        ],
        &folder,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains("illegal-content list iwf"));

    let output = ward(&["check", "http://exa mple.com/"], &folder);
    assert_eq!(output.status.code(), Some(2), "bad input exits 2");
    let output = ward(&["check", "example.com", "--group", "year12"], &folder);
    assert_eq!(output.status.code(), Some(2), "unknown group exits 2");
    assert!(text(&output.stderr).contains("no group \"year12\""));
    let output = ward(&["check", "example.com", "--at", "teatime"], &folder);
    assert_eq!(output.status.code(), Some(2), "bad time exits 2");
}

#[test]
fn batch_mode_answers_every_line() {
    let folder = workspace("batch");
    import(&folder);
    let output = ward_with_input(
        &["check", "--batch", "--group", "ks2", "--at", "2026-11-23T10:00"],
        &folder,
        b"casino.com\nhttp://x.ads.example/a staff\nok.ads.example staff\n\nhttp://[bad/\nplay.net staff\n",
    );
    assert!(output.status.success());
    let lines: Vec<String> = text(&output.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(lines[0].starts_with("block\tks2\tgambling\trule gambling"));
    assert!(
        lines[1].starts_with("allow\tstaff\tads\t"),
        "ads is in no rule: {}",
        lines[1]
    );
    assert_eq!(
        lines[2], "allow\tstaff\t-\tuncategorised",
        "adblock exception"
    );
    assert_eq!(lines[3], "error\tempty line");
    assert!(lines[4].starts_with("error\t"));
    assert!(lines[5].starts_with("block\tstaff\tgames\t"));
}

#[test]
fn damaged_or_missing_index_is_refused() {
    let folder = workspace("damaged");
    let output = ward(&["check", "example.com"], &folder);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("ward lists import"),
        "{}",
        text(&output.stderr)
    );

    import(&folder);
    let path = folder.join("var/ward.idx");
    let mut bytes = std::fs::read(&path).expect("index written");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let output = ward(&["check", "example.com"], &folder);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("corrupt"),
        "{}",
        text(&output.stderr)
    );
    let output = ward(&["lists", "stats"], &folder);
    assert_eq!(output.status.code(), Some(3));
}

#[test]
fn policy_show_and_check() {
    let folder = workspace("policy");
    let output = ward(&["policy", "show"], &folder);
    assert!(output.status.success(), "show works before any import");
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("| On-line gambling |  |  |  | X |  |"),
        "{stdout}"
    );

    import(&folder);
    let output = ward(&["policy", "check"], &folder);
    assert!(output.status.success());
    assert!(
        text(&output.stderr)
            .contains("warning: rule \"terrorist-material\": the index has no category \"ctiru\"")
    );

    std::fs::write(
        folder.join("bad.toml"),
        ward_policy::DEFAULT_POLICY
            .replace("unknown_group = \"eyfs\"", "unknown_group = \"nobody\""),
    )
    .expect("write");
    let output = ward(&["policy", "check", "--policy", "bad.toml"], &folder);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("unknown group \"nobody\""),
        "{}",
        text(&output.stderr)
    );

    let output = ward(&["lists", "stats"], &folder);
    assert!(output.status.success());
    assert!(text(&output.stdout).contains("bytes per key"));
}

#[test]
fn unreadable_list_names_its_path() {
    let folder = workspace("unreadable");
    let output = ward(&["lists", "import", "--domains", "x=missing.txt"], &folder);
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("missing.txt"));
    let output = ward(&["lists", "import"], &folder);
    assert_eq!(output.status.code(), Some(2), "no lists given");
}

#[test]
fn squid_helper_protocol() {
    let folder = workspace("squid");
    import(&folder);
    let output = ward_with_input(
        &[
            "check",
            "--squid",
            "--group",
            "ks2",
            "--block-page",
            "http://ward.school/blocked",
        ],
        &folder,
        b"http://www.casino.com/a?b 10.0.0.1/- - GET\n\
          http://example.org/ 10.0.0.1/- - GET\n\
          casino.com:443 10.0.0.1/- - CONNECT\n\
          http://[bad 10.0.0.1/- - GET\n\
          \n",
    );
    assert!(output.status.success());
    let lines: Vec<String> = text(&output.stdout).lines().map(String::from).collect();
    assert_eq!(
        lines[0],
        "OK rewrite-url=\"http://ward.school/blocked?url=http%3A%2F%2Fwww.casino.com%2Fa%3Fb&group=ks2\
         &reason=rule%20gambling%20%28unacceptable%29%3A%20category%20gambling%2C%20domain%20casino.com\""
    );
    assert_eq!(lines[1], "ERR", "allowed requests are left unchanged");
    assert!(lines[2].starts_with("OK rewrite-url=\"http://ward.school/blocked?url=casino.com&"));
    assert!(
        lines[3].starts_with("BH message="),
        "unreadable requests are not let through"
    );
    assert!(lines[4].starts_with("BH message="));
    assert_eq!(lines.len(), 5);
}

#[test]
fn detect_scans_text_and_pages_and_reads_lists() {
    let directory = std::env::temp_dir();
    // Arguments: an evasion fires self-harm with the phrase, its weight and the text around it.
    let output = ward(&["detect", "scan", "I want to k1ll mys3lf"], &directory);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert!(
        out.starts_with("self-harm (Self-harm and suicide): found by the phrase lists")
            && out.contains("score 60 of 50, severity 5")
            && out.contains("+60  kill myself")
            && out.contains("classifier: ")
            && out.contains("text: … i want to kill myself …"),
        "{out}"
    );
    // The classic false positives find nothing (exit 0).
    let output = ward(
        &[
            "detect",
            "scan",
            "--band",
            "primary",
            "a bath bomb from Scunthorpe; kill the process",
        ],
        &directory,
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(text(&output.stdout), "nothing found\n");
    // HTML on standard input is read as a page: an inline tag does not split a word.
    let output = ward_with_input(
        &["detect", "scan", "--band", "staff"],
        &directory,
        b"<html><title>t</title><p>free sp<b>i</b>ns at the online c4s1n0</p></html>",
    );
    assert_eq!(output.status.code(), Some(1));
    let out = text(&output.stdout);
    assert!(
        out.starts_with("gambling (Gambling): found by")
            && out.contains("score 250 of 50, severity 1"),
        "{out}"
    );
    // A school's own list adds a category; its bad lines are reported with file and line.
    let list = directory.join(format!("ward-cli-{}.list", std::process::id()));
    std::fs::write(
        &list,
        "category vaping \"Vaping\"\nthreshold 30\n30 vape shop\nloud vape\n",
    )
    .expect("write list");
    let list_path = list.to_string_lossy().into_owned();
    let output = ward(&["detect", "lists", "--list", &list_path], &directory);
    assert_eq!(output.status.code(), Some(0));
    let out = text(&output.stdout);
    assert!(out.contains("vaping") && out.contains("Vaping"), "{out}");
    assert!(
        text(&output.stderr).contains(&format!("skipped: {list_path}:4: ")),
        "{}",
        text(&output.stderr)
    );
    let output = ward(
        &[
            "detect",
            "scan",
            "--list",
            &list_path,
            "is there a vape shop near school",
        ],
        &directory,
    );
    assert_eq!(output.status.code(), Some(1));
    let out = text(&output.stdout);
    assert!(
        out.starts_with("vaping (Vaping): found by the phrase lists;")
            && out.contains("score 30 of 30"),
        "{out}"
    );
    // A missing list is an error naming it (exit 3); a bad band is a usage error (exit 2).
    let output = ward(
        &["detect", "lists", "--list", "/nonexistent.list"],
        &directory,
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("/nonexistent.list"));
    let output = ward(&["detect", "scan", "--band", "infants", "x"], &directory);
    assert_eq!(output.status.code(), Some(2));
    let _ = std::fs::remove_file(&list);
}

/// A table row of `ward detect eval`'s output, its cells joined by single spaces.
fn row_of(out: &str, id: &str) -> String {
    out.lines()
        .find(|line| line.starts_with(&format!("{id} ")))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[test]
fn detect_eval_measures_the_lists_on_labelled_cases() {
    let directory = ward_testkit::temp_folder("cli-eval");
    let cases = directory.join("cases.tsv");
    std::fs::write(
        &cases,
        "# kind\tlabels\ttext\n\
         search\tself-harm\thow to kill myself\n\
         chat\tabuse\tthey are not nice to me\n\
         search\tnone\ta bath bomb from scunthorpe\n\
         search\tnone\tonline casino\n\
         what\tnone\tbad line\n",
    )
    .expect("write cases");
    let cases = cases.to_string_lossy().into_owned();
    // The lists alone (the classifier's figures move whenever it is retrained).
    let output = ward(&["detect", "eval", "--no-model", &cases], &directory);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert!(out.contains("lists alone"), "{out}");
    let row = |id: &str| row_of(&out, id);
    assert!(out.contains("4 cases (2 risky, 2 harmless)"), "{out}");
    assert_eq!(row("self-harm"), "self-harm 1 1 100.0% 100.0% 0 (0.0%)");
    assert_eq!(row("abuse"), "abuse 1 0 0.0% - 0 (0.0%)");
    assert_eq!(row("gambling"), "gambling 0 0 - 0.0% 1 (50.0%)");
    assert_eq!(row("overall"), "overall 2 1 50.0% 50.0% 1 of 2 (50.0%)");
    // Each miss and false alarm is listed with where it is and why.
    assert!(
        out.contains(&format!("Missed (1):\n  {cases}:3 [chat abuse] they are not nice to me\n      no phrase of its categories matched")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "False alarms (1):\n  {cases}:5 [search none] online casino\n      fired: gambling"
        )),
        "{out}"
    );
    assert!(
        text(&output.stderr).contains(&format!("skipped: {cases}:6: ")),
        "{}",
        text(&output.stderr)
    );
    // --summary prints the figures only; by default the classifier reads the cases too.
    let output = ward(&["detect", "eval", "--summary", &cases], &directory);
    let out = text(&output.stdout);
    assert!(out.contains("overall") && !out.contains("Missed"), "{out}");
    assert!(out.contains("lists and classifier ("), "{out}");
    assert_eq!(
        row_of(&out, "self-harm"),
        "self-harm 1 1 100.0% 100.0% 0 (0.0%)"
    );
    let _ = std::fs::remove_dir_all(&directory);
}

/// Issue 20, item 18: a reader that stops early (`ward check … | head`) ends `ward` quietly
/// with 141 (as SIGPIPE would), never a panic.
#[test]
fn a_closed_standard_output_ends_ward_quietly() {
    let folder = workspace("pipe");
    import(&folder);
    let many = "casino.com\nplay.net staff\n".repeat(20_000);
    for (arguments, input) in [
        (vec!["check", "--batch", "--group", "ks2"], many.as_bytes()),
        (vec!["check", "--squid", "--group", "ks2"], b"" as &[u8]),
        (vec!["check", "casino.com", "--group", "ks2"], b""),
        (vec!["policy", "show"], b""),
    ] {
        // The reader is gone before Ward starts, so that it cannot write anything first.
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(&arguments)
            .current_dir(&folder)
            .env_remove("WARD_INDEX")
            .env_remove("WARD_POLICY")
            .stdin(Stdio::piped())
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .expect("ward runs");
        let squid = arguments[1] == "--squid";
        let input = if squid {
            "http://casino.com/ 127.0.0.1/- - GET\n".repeat(20_000)
        } else {
            String::from_utf8_lossy(input).into_owned()
        };
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        let output = child.wait_with_output().expect("ward finishes");
        let stderr = text(&output.stderr);
        assert!(!stderr.contains("panicked"), "{arguments:?}: {stderr}");
        assert_eq!(output.status.code(), Some(141), "{arguments:?}: {stderr}");
    }
}
