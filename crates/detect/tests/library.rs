//! Ward's default phrase list, category by category: what must fire (with the evasions children
//! use) and what must not (the classic false positives and harmless contexts).

use ward_detect::{DEFAULT_LISTS, Part, PhraseLists, Scanner, default_lists};

fn scanner() -> Scanner {
    Scanner::new(default_lists())
}

/// The categories `text` fires, in id order.
fn fired(scanner: &Scanner, text: &str) -> Vec<String> {
    let mut ids: Vec<String> = scanner.scan(text).into_iter().map(|f| f.category).collect();
    ids.sort();
    ids
}

/// Checks one category's table: every positive fires it, no negative does.
fn table(category: &str, positives: &[&str], negatives: &[&str]) {
    let scanner = scanner();
    let mut failures = Vec::new();
    for text in positives {
        if !fired(&scanner, text).iter().any(|c| c == category) {
            failures.push(format!("should fire: {text:?} → {:?}", scanner.scan(text)));
        }
    }
    for text in negatives {
        if fired(&scanner, text).iter().any(|c| c == category) {
            failures.push(format!(
                "should not fire: {text:?} → {:?}",
                scanner.scan(text)
            ));
        }
    }
    assert!(failures.is_empty(), "{category}:\n{}", failures.join("\n"));
}

#[test]
fn the_shipped_list_reads_without_problems_and_covers_m2() {
    let mut lists = PhraseLists::default();
    for (name, text) in DEFAULT_LISTS {
        let problems = lists.parse(name, text);
        assert!(problems.is_empty(), "{problems:?}");
    }
    let ids: Vec<&str> = lists.categories.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "self-harm",
            "help-seeking",
            "abuse",
            "bullying",
            "grooming",
            "extremism",
            "hate",
            "sexual",
            "drugs",
            "violence",
            "gambling"
        ]
    );
    for category in &lists.categories {
        assert!(!category.about.is_empty(), "{} has no about", category.id);
        assert!(
            category.phrases.len() >= 15,
            "{} has only {} phrases",
            category.id,
            category.phrases.len()
        );
    }
}

/// Every phrase is written once in its category across the default lists: a second line that
/// reads the same once normalised (`don't tell` and `dont tell`, `a & b` and `b & a`) would
/// silently set the first one's weight, so what a list says and what counts would differ.
#[test]
fn no_phrase_is_listed_twice_in_a_category() {
    let mut first: std::collections::HashMap<(String, Vec<String>), String> =
        std::collections::HashMap::new();
    let mut twice = Vec::new();
    for (name, text) in DEFAULT_LISTS {
        let mut category = String::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split(" #").next().unwrap_or("").trim();
            let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
            if keyword == "category" {
                category = rest.split_whitespace().next().unwrap_or("").to_owned();
                continue;
            }
            if keyword.parse::<i32>().is_err() {
                continue;
            }
            let mut parts: Vec<String> = rest
                .split('&')
                .map(|part| Part::parse(part).expect("a usable part").written())
                .collect();
            parts.sort();
            let here = format!("{name}:{} {line:?}", number + 1);
            match first.entry((category.clone(), parts)) {
                std::collections::hash_map::Entry::Occupied(earlier) => {
                    twice.push(format!("{here} repeats {}", earlier.get()))
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(here);
                }
            }
        }
    }
    assert!(twice.is_empty(), "listed twice:\n{}", twice.join("\n"));
}

#[test]
fn self_harm() {
    table(
        "self-harm",
        &[
            "i want to kill myself",
            "I WANT TO DIE",
            "how to commit suicide painlessly",
            "5u1c1d3 methods",
            "s u i c i d a l thoughts every night",
            "wanna diiiiie",
            "gonna kms",
            "k.m.s fr",
            "how to unalive urself painlessly",
            "nobody would miss me if i was gone",
            "how to tie a noose",
            "thinking about how to unalive myself",
            "k\u{200B}ill mys\u{00AD}elf",
            "ѕuісіdаl",
            "ｋｉｌｌ ｍｙｓｅｌｆ",
            "how many pills to overdose",
            "pro ana tips thinspo",
            "i keep cutting myself",
            "I feel worthless and hopeless and just want to die",
        ],
        &[
            "suicide prevention week assembly",
            "watching suicide squad tonight",
            "kill the process on linux",
            "the dead sea scrolls",
            "die hard is a christmas film",
            "how to stop self harming",
            "childline number self harm",
            "the die is cast",
            "Scunthorpe United v Essex",
            "i ran 5 kms at parkrun",
            "the noose in to kill a mockingbird",
        ],
    );
}

#[test]
fn help_seeking_is_flagged_as_help_seeking_not_intent() {
    table(
        "help-seeking",
        &[
            "how to stop self harming",
            "who can i talk to about feeling suicidal",
            "childline number self harm",
            "what to do if you are being bullied",
            "is it normal to feel depressed all the time",
            "i need help my uncle touched me",
            "how do i stop wanting to kill myself",
        ],
        &[
            "help with maths homework",
            "advice on choosing a guitar",
            "suicide squad cast",
            // Ways of asking with no topic, as on a software page.
            "Node.js has support for worker threads; see the help for each option",
            "how to stop a stream: get help from the docs",
        ],
    );
    let scanner = scanner();
    for text in [
        "how to stop self harming",
        "how do i stop wanting to kill myself",
    ] {
        assert_eq!(fired(&scanner, text), ["help-seeking"], "{text:?}");
    }
}

#[test]
fn bullying() {
    table(
        "bullying",
        &[
            "kys",
            "just k y s",
            "kill yourself loser",
            "nobody likes you",
            "everyone hates you, you're so ugly",
            "you should die",
            "go die in a hole",
            "i hate you, you're stupid and ugly",
        ],
        &[
            "anti bullying week",
            "our school's bullying policy",
            "the ugly duckling",
            "kill the process",
            "I love you",
        ],
    );
}

#[test]
fn grooming() {
    table(
        "grooming",
        &[
            "this is our little secret",
            "don't tell your parents about me",
            "dont tell your mum ok",
            "delete this chat after",
            "you're very mature for your age",
            "age is just a number",
            "send me a pic of you",
            "are you home alone right now",
            "how old are you? turn on your webcam",
        ],
        &[
            "dog grooming near me",
            "secret santa ideas",
            "the secret garden book",
            "how to spot grooming signs",
            "how old are you in year 5",
            "keep it a surprise for mum",
        ],
    );
}

#[test]
fn extremism() {
    table(
        "extremism",
        &[
            "how to join isis",
            "the great replacement is real",
            "race war now",
            "1488 brother",
            "white pride 1488",
            "sieg heil",
            "white genocide",
            "how to make a pipe bomb",
            "atomwaffen division",
        ],
        &[
            "the history of nazi germany",
            "counter terrorism police",
            "the prevent duty at school",
            "Zog by Julia Donaldson",
            "national action plan for maths",
            "world war two evacuees",
            "battle of sauchieburn 1488",
            "the 88 bus to the town centre",
            "1488",
        ],
    );
}

#[test]
fn hate() {
    table(
        "hate",
        &[
            "go back to your country",
            "you're such a retard",
            "n1gger",
            "f@ggot",
            "spastic",
            "tranny",
            "shut up you dirty coon",
        ],
        &[
            "a chink in the armour",
            "a chink of light",
            "flame retardant",
            "buying a pack of fags, cigarettes",
            "Scunthorpe",
            "the racoon",
            // `coon` squeezes to "con".
            "Comic Con: the queer artists' panel",
        ],
    );
}

#[test]
fn sexual_content() {
    table(
        "sexual",
        &[
            "free porn",
            "p0rn videos",
            "pornhub",
            "send nudes",
            "hentai",
            "naked boobs",
            "onlyfans leaks",
        ],
        &[
            "Essex and Middlesex",
            "Sussex by the sea",
            "relationships and sex education",
            "sexual health clinic",
            "visible to the naked eye",
            "the naked mole rat",
            "bits and bobs",
            "Moby Dick",
            "the Scunthorpe problem",
            "love you xxx",
            "pornography is banned by the acceptable use policy",
        ],
    );
}

#[test]
fn drugs() {
    table(
        "drugs",
        &[
            "where to buy weed near me",
            "smoking weed behind the science block",
            "buy mdma",
            "how to make meth",
            "c0caine",
            "ketamine",
            "smoking spice",
        ],
        &[
            "weed killer for the garden",
            "talk to frank drug advice",
            "high school musical",
            "drug awareness lesson",
            "the ecstasy of saint teresa",
            "seaweed",
            // `weed` squeezes to "wed": a date is not a drug.
            "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT, high water mark",
        ],
    );
}

#[test]
fn violence_and_weapons() {
    table(
        "violence",
        &[
            "i'm going to stab him",
            "school shooting",
            "gonna shoot up the school",
            "how to make a bomb",
            "where to buy a zombie knife",
            "3d printed gun plans",
            "kill him stab him",
        ],
        &[
            "lush bath bomb",
            "how to kill the process in linux",
            "kill process 1234",
            "we will shoot a video for the project",
            "school photo shoot",
            "knife and fork",
            "stable and stability",
            "Bombay mix",
            "bamboo shoots",
            "to kill time",
            "water gun fight",
        ],
    );
}

#[test]
fn gambling() {
    table(
        "gambling",
        &[
            "online casino free spins",
            "best betting odds",
            "bet365 deposit bonus",
            "roulette and blackjack",
            "c4s1n0",
        ],
        &[
            "gambling addiction help gamcare",
            "the alphabet",
            "I bet you can't",
            "national lottery heritage fund",
        ],
    );
}
