//! CSV files the console hands out (the filtering log, the agreements report).

/// A CSV field: quoted, with quotes doubled; a field a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@` first) is written with a `'` before it.
pub(crate) fn field(text: &str) -> String {
    let safe = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", safe.replace('"', "\"\""))
}
