//! Both phrase list readers (Ward's format, e2guardian's) on arbitrary bytes, decoded as a file
//! under any of the folder names that pick an encoding: never panic, report problems with line
//! numbers inside the input, and what they keep compiles and scans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_detect::{PhraseLists, Scanner};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the folder name a file might be found under, so every decoding runs.
    let hints = ["", "russian-koi8-r", "japanese", "chinesebig5", "korean", "polish"];
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let text = ward_detect::decode_named(data, hints[usize::from(pick) % hints.len()]);
    let lines = text.lines().count();
    let mut lists = PhraseLists::default();
    for problem in lists.parse("fuzz", &text) {
        assert!(problem.line >= 1 && problem.line <= lines, "{problem}");
    }
    let report = lists.import_e2guardian("fuzz", "Fuzz", "fuzz", &text, false);
    for problem in &report.problems {
        assert!(problem.line >= 1 && problem.line <= lines, "{problem}");
    }
    let scanner = Scanner::new(lists);
    let _ = scanner.scan(&text);
});
