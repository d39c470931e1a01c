//! Photo and video consent (DESIGN.md A3, issue 27), as Park End's policy sets it: per pupil and
//! purpose; given in writing only (a parent's answer through their own link, or a paper form the
//! school records), never verbally; partial (some purposes only); withdrawable at any time; its
//! whole history kept. And the check that no pupil can be identified from an image's file name.

use std::fmt;

/// What a pupil's image may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// The school's website.
    Website,
    /// The school's social media accounts.
    SocialMedia,
    /// The school's newsletter.
    Newsletter,
    /// Local newspapers and other press.
    Press,
    /// Displays inside the school.
    Displays,
    /// Video (of lessons, performances, events).
    Video,
}

/// A name that is not one of the [`Purpose`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a purpose (website, social-media, newsletter, press, displays, video)")]
pub struct BadPurpose(pub String);

impl Purpose {
    /// Every purpose, in the order forms list them.
    pub const ALL: [Purpose; 6] = [
        Purpose::Website,
        Purpose::SocialMedia,
        Purpose::Newsletter,
        Purpose::Press,
        Purpose::Displays,
        Purpose::Video,
    ];

    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Website => "website",
            Purpose::SocialMedia => "social-media",
            Purpose::Newsletter => "newsletter",
            Purpose::Press => "press",
            Purpose::Displays => "displays",
            Purpose::Video => "video",
        }
    }

    /// The name people read.
    pub fn title(self) -> &'static str {
        match self {
            Purpose::Website => "The school website",
            Purpose::SocialMedia => "The school's social media",
            Purpose::Newsletter => "The newsletter",
            Purpose::Press => "Local newspapers and press",
            Purpose::Displays => "Displays in school",
            Purpose::Video => "Video",
        }
    }
}

impl std::str::FromStr for Purpose {
    type Err = BadPurpose;

    fn from_str(name: &str) -> Result<Purpose, BadPurpose> {
        Purpose::ALL
            .into_iter()
            .find(|purpose| purpose.as_str() == name)
            .ok_or_else(|| BadPurpose(name.to_owned()))
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// Where a consent (or its withdrawal) came from: always in writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The parent answered through their own link (e-endorsement).
    ParentLink,
    /// A paper form the parent signed, recorded by a member of staff.
    PaperForm,
}

impl Written {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Written::ParentLink => "parent-link",
            Written::PaperForm => "paper-form",
        }
    }

    /// The name read.
    pub fn title(self) -> &'static str {
        match self {
            Written::ParentLink => "the parent's own link",
            Written::PaperForm => "a signed paper form",
        }
    }

    /// The source stored as `name`.
    pub fn named(name: &str) -> Option<Written> {
        [Written::ParentLink, Written::PaperForm]
            .into_iter()
            .find(|written| written.as_str() == name)
    }
}

/// Where a pupil stands for one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Written consent in force.
    Given,
    /// Refused, or withdrawn.
    Refused,
    /// No written answer yet: no consent (Park End: "if prior written consent is not given
    /// then individual images will not be used").
    NotAsked,
}

impl Standing {
    /// Whether the pupil may appear.
    pub fn may_appear(self) -> bool {
        self == Standing::Given
    }

    /// Words for it.
    pub fn words(self) -> &'static str {
        match self {
            Standing::Given => "Yes",
            Standing::Refused => "No",
            Standing::NotAsked => "No answer yet",
        }
    }
}

/// Someone whose name must not be in an image's file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named<'a> {
    /// Forename.
    pub given: &'a str,
    /// Surname.
    pub family: &'a str,
    /// Log-in name.
    pub username: &'a str,
}

/// Which of someone's names a file name holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameFound {
    /// Their place in the list checked.
    pub index: usize,
    /// `forename`, `surname`, `full name`, `username`, as found.
    pub parts: Vec<&'static str>,
}

/// The words of a file name, in lower case: split at anything that is not a letter or digit,
/// and where a lower-case letter is followed by a capital (`LilyWright` → `lily`, `wright`).
fn words(file_name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in file_name.chars() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase();
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// A name as a file name may hold it: its words (`mary`, `jane`; one letter ones left out) and
/// all of it run together (`maryjane`, `oneill` for O'Neill).
struct Forms {
    words: Vec<String>,
    joined: String,
}

impl Forms {
    fn of(name: &str) -> Forms {
        let all = words(name);
        Forms {
            joined: all.concat(),
            words: all.into_iter().filter(|w| w.chars().count() >= 2).collect(),
        }
    }

    /// Whether the file name's words hold it: every word of it, or all of it as one word.
    fn in_words(&self, found: &[String]) -> bool {
        (!self.words.is_empty() && self.words.iter().all(|word| found.contains(word)))
            || (self.joined.chars().count() >= 2 && found.contains(&self.joined))
    }
}

/// The people in `people` whose forename, surname, full name (also run together, `lilywright`)
/// or username a file name holds as a whole word. A forename alone is reported too: with a
/// class photograph it may be enough to know a child.
pub fn names_in_file_name(file_name: &str, people: &[Named<'_>]) -> Vec<NameFound> {
    // The extension is not part of the name.
    let stem = file_name
        .rsplit_once('.')
        .filter(|(stem, extension)| !stem.is_empty() && extension.len() <= 5)
        .map_or(file_name, |(stem, _)| stem);
    let found_words = words(stem);
    let joined: String = found_words.concat();
    let mut found = Vec::new();
    for (index, person) in people.iter().enumerate() {
        let given = Forms::of(person.given);
        let family = Forms::of(person.family);
        let run_together = |first: &Forms, second: &Forms| {
            let name = format!("{}{}", first.joined, second.joined);
            !first.joined.is_empty()
                && !second.joined.is_empty()
                && name.chars().count() >= 6
                && joined.contains(&name)
        };
        let (forename, surname) = (given.in_words(&found_words), family.in_words(&found_words));
        let mut parts = Vec::new();
        if (forename && surname) || run_together(&given, &family) || run_together(&family, &given) {
            parts.push("full name");
        } else if forename {
            parts.push("forename");
        } else if surname {
            parts.push("surname");
        }
        let username = Forms::of(person.username);
        if username.joined.chars().count() >= 3
            && (found_words.contains(&username.joined) || joined == username.joined)
        {
            parts.push("username");
        }
        if !parts.is_empty() {
            found.push(NameFound { index, parts });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people() -> Vec<Named<'static>> {
        vec![
            Named {
                given: "Lily",
                family: "Wright",
                username: "lwright1",
            },
            Named {
                given: "Sam",
                family: "Ng",
                username: "s.ng",
            },
            Named {
                given: "Mary-Jane",
                family: "O'Neill",
                username: "mjoneill",
            },
        ]
    }

    fn found(file_name: &str) -> Vec<(usize, Vec<&'static str>)> {
        names_in_file_name(file_name, &people())
            .into_iter()
            .map(|found| (found.index, found.parts))
            .collect()
    }

    #[test]
    fn names_in_file_names_are_found_as_words() {
        assert_eq!(
            found("lily-wright-sports-day.jpg"),
            vec![(0, vec!["full name"])]
        );
        assert_eq!(found("LilyWright.JPG"), vec![(0, vec!["full name"])]);
        assert_eq!(
            found("IMG_lilywright_2026.png"),
            vec![(0, vec!["full name"])]
        );
        assert_eq!(found("sports day - Lily.jpg"), vec![(0, vec!["forename"])]);
        assert_eq!(found("wright family.jpg"), vec![(0, vec!["surname"])]);
        assert_eq!(found("lwright1.jpeg"), vec![(0, vec!["username"])]);
        assert_eq!(
            found("sam ng at the fair.jpg"),
            vec![(1, vec!["full name"])]
        );
        assert_eq!(
            found("mary jane oneill.jpg"),
            vec![(2, vec!["full name"])],
            "a hyphenated name and an apostrophe"
        );
        // Whole words only: not part of another word.
        assert!(found("family-fun-day.jpg").is_empty());
        assert!(found("samples_of_writing.jpg").is_empty());
        assert!(found("IMG_0042.jpg").is_empty());
        assert!(found("").is_empty());
    }

    #[test]
    fn purposes_read_back() {
        for purpose in Purpose::ALL {
            assert_eq!(purpose.as_str().parse::<Purpose>(), Ok(purpose));
        }
        assert!("billboards".parse::<Purpose>().is_err());
        assert_eq!(Written::named("paper-form"), Some(Written::PaperForm));
        assert_eq!(Written::named("verbal"), None, "never verbal");
        assert!(Standing::Given.may_appear());
        assert!(!Standing::NotAsked.may_appear());
    }
}
