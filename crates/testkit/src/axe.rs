//! axe-core (npm, pinned in `tests/axe`; `scripts/test` runs `npm ci --prefix tests/axe`) run
//! on the page a browser has open.

use crate::webdriver::Browser;

/// axe-core's violations on the page, as `rule: N element(s), first at TARGET` lines.
const RUN: &str = "
    return axe.run(document, { resultTypes: ['violations'] }).then(result =>
        JSON.stringify(result.violations.map(v =>
            v.id + ': ' + v.nodes.length + ' element(s), first at ' + JSON.stringify(v.nodes[0].target) + ' — ' + v.help)));
";

/// axe-core's source, as npm installed it.
pub fn source() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/axe/node_modules/axe-core/axe.min.js"
    );
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("{path}: {error} (run npm ci --prefix tests/axe)"))
}

/// The violations axe-core finds on the page `browser` has open (`source` is [`source`]).
pub fn violations(browser: &Browser, source: &str) -> Vec<String> {
    browser.run(source);
    let found = browser.run(RUN);
    serde_json::from_str(found.as_str().expect("axe answers with text")).expect("axe's JSON")
}
