//! Readable names for the category lists (`category-names.toml`): what staff read instead of
//! UT1's short, partly French ids, and the words a block page gives a child. A policy may
//! change a category's words for children (`[[category]]`).

use std::sync::LazyLock;

use serde::Deserialize;

use crate::spec::PolicySpec;

/// A category's names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryName {
    /// The list's id (`agressif`).
    pub id: String,
    /// For staff (`Hate and aggression`).
    pub name: String,
    /// What the list holds, in a sentence.
    pub about: String,
    /// What a blocked page is about, for a child: finishes "it is about …".
    pub child: String,
}

#[derive(Deserialize)]
struct File {
    category: Vec<CategoryName>,
}

/// Ward's built-in names (checked by a test to read whole).
static NAMES: LazyLock<Vec<CategoryName>> = LazyLock::new(|| {
    toml::from_str::<File>(include_str!("../category-names.toml"))
        .map(|file| file.category)
        .unwrap_or_default()
});

/// The built-in names of category `id`, if Ward has them.
pub fn category_name(id: &str) -> Option<&'static CategoryName> {
    NAMES.iter().find(|name| name.id == id)
}

/// What staff read for category `id`: its name, or the id itself for a list Ward has no name
/// for (a school's own).
pub fn readable(id: &str) -> String {
    category_name(id).map_or_else(|| id.to_owned(), |name| name.name.clone())
}

/// Category ids as staff read them with the ids beside the names, for staff who need both
/// (`Gambling, Hate and aggression (agressif)`; the id is left out where it is the name).
pub fn readable_with_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    ids.into_iter()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            let name = readable(id);
            if name.eq_ignore_ascii_case(id) {
                name
            } else {
                format!("{name} ({id})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A comma-separated list of category ids as staff read them (`Gambling, Hate and aggression`).
pub fn readable_list(ids: &str) -> String {
    ids.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(readable)
        .collect::<Vec<_>>()
        .join(", ")
}

impl PolicySpec {
    /// What a page in category `id` is about, for a child: the policy's own words for it, else
    /// Ward's, else the category's name.
    pub fn child_words(&self, id: &str) -> String {
        self.category_words
            .iter()
            .find(|words| words.id == id)
            .map(|words| words.child.clone())
            .or_else(|| category_name(id).map(|name| name.child.clone()))
            .unwrap_or_else(|| readable(id).to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_name_reads_and_ut1s_ids_are_named() {
        assert!(NAMES.len() >= 71, "{}", NAMES.len());
        assert_eq!(readable("agressif"), "Hate and aggression");
        assert_eq!(readable("fakenews"), "Misinformation and disinformation");
        assert_eq!(readable("school-own-list"), "school-own-list");
        assert_eq!(
            readable_with_ids("gambling, agressif,own-list".split(',')),
            "Gambling, Hate and aggression (agressif), own-list"
        );
        for name in NAMES.iter() {
            assert!(
                !name.child.is_empty() && !name.name.is_empty(),
                "{}",
                name.id
            );
            assert!(
                name.child.chars().next().is_some_and(char::is_lowercase),
                "{}: the child's words finish a sentence",
                name.id
            );
        }
        let mut policy = PolicySpec::from_toml(crate::DEFAULT_POLICY).expect("default");
        assert_eq!(
            policy.child_words("gambling"),
            "gambling, which means betting money"
        );
        policy.category_words.push(crate::spec::CategoryWords {
            id: "gambling".into(),
            child: "betting games".into(),
        });
        assert_eq!(policy.child_words("gambling"), "betting games");
        assert_eq!(policy.child_words("own-list"), "own-list");
    }
}
