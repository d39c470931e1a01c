//! Password rules for the accounts Ward keeps itself (issue 24, A4): staff accounts (the
//! console, proxy and portal log-ins) and pupils' Ward passwords (for schools whose pupils
//! have no directory account), by policy group. Each rule is said in words a seven-year-old
//! can follow, because the portal shows them to pupils as they choose a password; a refused
//! password is told in the same words. "Change reminders" remind: Ward never locks anyone out
//! for an old password (the NCSC's advice against forced expiry), it asks at log-in.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The longest password accepted (argon2 hashes anything, but a megabyte "password" is an
/// attack).
pub const MAX_LENGTH: usize = 256;

/// What a password must have in it, besides its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Needs {
    /// Any letters, numbers or signs (length is what makes a password strong).
    #[default]
    Anything,
    /// At least one letter and at least one number.
    LettersAndNumbers,
    /// A capital letter, a small letter and a number.
    CapitalsSmallLettersAndNumbers,
}

/// The rules for one kind of account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordRules {
    /// Fewest characters.
    pub min_length: usize,
    /// What it must have in it.
    pub needs: Needs,
    /// Days after which the holder is reminded to choose a new one (0: never).
    pub change_days: u32,
}

impl Default for PasswordRules {
    fn default() -> Self {
        PasswordRules {
            min_length: 8,
            needs: Needs::Anything,
            change_days: 0,
        }
    }
}

impl PasswordRules {
    /// The rules for staff accounts unless the configuration says otherwise.
    pub fn staff_default() -> PasswordRules {
        PasswordRules {
            min_length: 10,
            needs: Needs::Anything,
            change_days: 0,
        }
    }

    /// The rules for pupils' Ward passwords unless the configuration says otherwise.
    pub fn pupil_default() -> PasswordRules {
        PasswordRules {
            min_length: 8,
            needs: Needs::LettersAndNumbers,
            change_days: 0,
        }
    }

    /// Why these rules cannot be kept, if they cannot (a minimum no password can meet, or
    /// one so short it is no lock at all).
    pub fn problem_with_rules(&self) -> Option<String> {
        if self.min_length < 4 {
            return Some(format!(
                "min_length {} is too short to protect anyone (4 or more)",
                self.min_length
            ));
        }
        if self.min_length > 64 {
            return Some(format!(
                "min_length {} is longer than anyone can type (64 or fewer)",
                self.min_length
            ));
        }
        if self.change_days > 3650 {
            return Some(format!(
                "change_days {} is over ten years",
                self.change_days
            ));
        }
        None
    }

    /// The rules, one sentence each, in words a seven-year-old can follow.
    pub fn described(&self) -> Vec<String> {
        let mut rules = vec![format!(
            "Use at least {} letters or numbers.",
            self.min_length
        )];
        match self.needs {
            Needs::Anything => {}
            Needs::LettersAndNumbers => {
                rules.push("Put in letters and at least one number.".into());
            }
            Needs::CapitalsSmallLettersAndNumbers => rules.push(
                "Put in a capital letter (like A), a small letter (like a) and a number (like 7)."
                    .into(),
            ),
        }
        rules.push("Do not use your name or your user name.".into());
        rules.push("Keep it secret. Do not tell your friends.".into());
        if self.change_days > 0 {
            rules.push(format!(
                "You will be asked for a new one every {} days.",
                self.change_days
            ));
        }
        rules
    }

    /// Why `password` breaks the rules for the holder of `username` called `names` (their
    /// given and family names), in the rules' own words; `None` when it keeps them.
    pub fn problem(&self, password: &str, username: &str, names: &[&str]) -> Option<String> {
        let length = password.chars().count();
        if length < self.min_length {
            return Some(format!(
                "That password is too short. Use at least {} letters or numbers.",
                self.min_length
            ));
        }
        if length > MAX_LENGTH {
            return Some(format!(
                "That password is too long. Use at most {MAX_LENGTH} letters or numbers."
            ));
        }
        let letters = password.chars().any(char::is_alphabetic);
        let numbers = password.chars().any(|c| c.is_ascii_digit());
        let capitals = password.chars().any(char::is_uppercase);
        let small = password.chars().any(char::is_lowercase);
        match self.needs {
            Needs::Anything => {}
            Needs::LettersAndNumbers if !(letters && numbers) => {
                return Some("Put in letters and at least one number.".into());
            }
            Needs::CapitalsSmallLettersAndNumbers if !(capitals && small && numbers) => {
                return Some(
                    "Put in a capital letter (like A), a small letter (like a) and a number (like 7)."
                        .into(),
                );
            }
            _ => {}
        }
        let lower = password.to_lowercase();
        let own = std::iter::once(username)
            .chain(names.iter().copied())
            .map(str::trim)
            .filter(|name| name.chars().count() >= 3)
            .any(|name| lower.contains(&name.to_lowercase()));
        if own {
            return Some("Do not use your name or your user name.".into());
        }
        None
    }

    /// Whether a password set at `set_at` is due to be changed at `now` (never when the rules
    /// do not ask, or when Ward does not know when it was set).
    pub fn due(&self, set_at: Option<Timestamp>, now: Timestamp) -> bool {
        self.change_days > 0
            && set_at.is_some_and(|set_at| {
                now.duration_since(set_at)
                    >= SignedDuration::from_hours(24 * i64::from(self.change_days))
            })
    }
}

/// The rules for every kind of account Ward keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Staff accounts (the console, and proxy and portal log-ins with them).
    pub accounts: PasswordRules,
    /// Pupils' and other people's Ward passwords, for any policy group not named below.
    pub people: PasswordRules,
    /// Rules for people in particular policy groups (`ks1`: shorter, simpler).
    pub groups: Vec<(String, PasswordRules)>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            accounts: PasswordRules::staff_default(),
            people: PasswordRules::pupil_default(),
            groups: Vec::new(),
        }
    }
}

impl PasswordPolicy {
    /// The rules for a person in policy group `group`.
    pub fn for_group(&self, group: Option<&str>) -> &PasswordRules {
        group
            .and_then(|group| {
                self.groups
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(group))
            })
            .map_or(&self.people, |(_, rules)| rules)
    }
}

/// Short, easy words for a starting password a teacher reads out or prints on a log-in card.
const WORDS: &[&str] = &[
    "apple", "badger", "banana", "beach", "biscuit", "bubble", "button", "cactus", "camel",
    "candle", "carrot", "castle", "cloud", "comet", "cookie", "dolphin", "dragon", "feather",
    "forest", "garden", "giraffe", "glitter", "hamster", "island", "jelly", "kettle", "kitten",
    "ladder", "lemon", "lizard", "magnet", "meadow", "mitten", "monkey", "muffin", "noodle",
    "orange", "otter", "panda", "parrot", "pebble", "pencil", "pepper", "pickle", "pirate",
    "planet", "pocket", "puffin", "puppet", "rabbit", "rainbow", "rocket", "saucer", "shadow",
    "squirrel", "star", "sunset", "teapot", "tiger", "tomato", "tractor", "tulip", "turtle",
    "velvet", "wagon", "walrus", "whistle", "window", "wizard", "yoghurt", "zebra",
];

/// A starting password that keeps `rules` for anyone: two easy words and two numbers, the
/// first word with a capital (`Rocket-teapot-47`), longer words added until it is long
/// enough. Drawn from 32 random bytes (the caller's random source).
pub fn starting_password(rules: &PasswordRules, random: &[u8; 32]) -> String {
    let mut bytes = random.iter().copied();
    let mut next = || usize::from(bytes.next().unwrap_or(0));
    let number = next() % 90 + 10;
    let mut words: Vec<String> = Vec::new();
    while words.len() < 2 || words.iter().map(|w| w.len() + 1).sum::<usize>() + 2 < rules.min_length
    {
        let word = WORDS[(next() * 256 + next()) % WORDS.len()];
        words.push(word.to_owned());
        if words.len() > 12 {
            break;
        }
    }
    if let Some(first) = words.first_mut() {
        let mut chars = first.chars();
        if let Some(c) = chars.next() {
            *first = c.to_uppercase().chain(chars).collect();
        }
    }
    format!("{}-{number}", words.join("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_said_and_kept_in_the_same_words() {
        let rules = PasswordRules::pupil_default();
        let said = rules.described();
        assert_eq!(said[0], "Use at least 8 letters or numbers.");
        assert_eq!(said[1], "Put in letters and at least one number.");
        let short = rules.problem("cat7", "lwright10", &["Lena", "Wright"]);
        assert_eq!(
            short.as_deref(),
            Some("That password is too short. Use at least 8 letters or numbers.")
        );
        assert_eq!(
            rules
                .problem("allletters", "lwright10", &["Lena", "Wright"])
                .as_deref(),
            Some("Put in letters and at least one number.")
        );
        for own in ["lena12345", "WRIGHT2024", "xlwright10x"] {
            assert_eq!(
                rules
                    .problem(own, "lwright10", &["Lena", "Wright"])
                    .as_deref(),
                Some("Do not use your name or your user name."),
                "{own}"
            );
        }
        assert_eq!(
            rules.problem("purple7giraffe", "lwright10", &["Lena", "Wright"]),
            None
        );
        // A two-letter name is not a rule anyone could keep.
        assert_eq!(rules.problem("jolly7trees", "jo", &["Jo", "Li"]), None);
        assert!(rules.problem(&"a1".repeat(200), "x", &[]).is_some());

        let strict = PasswordRules {
            min_length: 12,
            needs: Needs::CapitalsSmallLettersAndNumbers,
            change_days: 90,
        };
        assert!(strict.problem("all small 1234", "ann", &[]).is_some());
        assert_eq!(strict.problem("Small and 1234", "ann", &[]), None);
        assert!(
            strict
                .described()
                .contains(&"You will be asked for a new one every 90 days.".to_owned())
        );
    }

    #[test]
    fn reminders_come_after_the_days_and_only_when_asked_for() {
        let now: Timestamp = "2026-12-02T09:00:00Z".parse().expect("time");
        let day = SignedDuration::from_hours(24);
        let mut rules = PasswordRules::staff_default();
        assert!(!rules.due(Some(now - day * 1000), now), "never asked for");
        rules.change_days = 90;
        assert!(!rules.due(Some(now - day * 89), now));
        assert!(rules.due(Some(now - day * 90), now));
        assert!(!rules.due(None, now), "not known when it was set");
    }

    #[test]
    fn groups_have_their_own_rules_and_others_the_peoples() {
        let mut policy = PasswordPolicy::default();
        let infants = PasswordRules {
            min_length: 5,
            needs: Needs::Anything,
            change_days: 0,
        };
        policy.groups.push(("ks1".into(), infants.clone()));
        assert_eq!(policy.for_group(Some("KS1")), &infants);
        assert_eq!(policy.for_group(Some("ks2")), &policy.people);
        assert_eq!(policy.for_group(None), &policy.people);
    }

    #[test]
    fn starting_passwords_keep_every_kind_of_rule() {
        for seed in 0u8..=255 {
            let random = [seed; 32];
            let mut varied = [0u8; 32];
            for (i, byte) in varied.iter_mut().enumerate() {
                *byte = seed
                    .wrapping_mul(31)
                    .wrapping_add(u8::try_from(i).unwrap_or(0) * 7);
            }
            for rules in [
                PasswordRules::pupil_default(),
                PasswordRules::staff_default(),
                PasswordRules {
                    min_length: 20,
                    needs: Needs::CapitalsSmallLettersAndNumbers,
                    change_days: 0,
                },
            ] {
                for random in [random, varied] {
                    let password = starting_password(&rules, &random);
                    assert_eq!(
                        rules.problem(&password, "lwright10", &["Lena", "Wright"]),
                        None,
                        "{password}"
                    );
                }
            }
        }
        assert_ne!(
            starting_password(&PasswordRules::default(), &[1; 32]),
            starting_password(&PasswordRules::default(), &[2; 32])
        );
    }
}
