//! Acceptable-use agreements (DESIGN.md A1, issue 27): who reads which agreement, what an
//! agreement's text may hold, Ward's default agreements, and the school year an acceptance
//! counts for.
//!
//! An agreement is written for one [`Readers`] group and published in versions; the store keeps
//! every version and every answer. Someone has agreed when they accepted the version in force
//! during the current school year ([`school_year`]): a new school year, or a new version, asks
//! again.
//!
//! The text is plain, one block a line ([`parse_text`]): `# ` starts a heading, `- ` a point
//! (`- [tell] ...` gives the point one of Ward's [`Picture`]s, shown large for the youngest
//! children), and any other line is a paragraph.

use std::fmt;

/// Who an agreement is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Readers {
    /// Nursery, Reception and Key Stage 1 (ages 3 to 7): pictures, large type, short words.
    EarlyYears,
    /// Pupils in Key Stage 2 and older.
    Pupils,
    /// Staff.
    Staff,
    /// Community users, volunteers and trainee teachers.
    Community,
    /// Parents and carers, endorsing their child's agreement.
    Parents,
}

/// A name that is not one of the [`Readers`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an agreement's readers (early-years, pupils, staff, community, parents)")]
pub struct BadReaders(pub String);

impl Readers {
    /// Every group, in the order the console lists them.
    pub const ALL: [Readers; 5] = [
        Readers::EarlyYears,
        Readers::Pupils,
        Readers::Staff,
        Readers::Community,
        Readers::Parents,
    ];

    /// The name stored and used in addresses.
    pub fn as_str(self) -> &'static str {
        match self {
            Readers::EarlyYears => "early-years",
            Readers::Pupils => "pupils",
            Readers::Staff => "staff",
            Readers::Community => "community",
            Readers::Parents => "parents",
        }
    }

    /// The name staff see.
    pub fn title(self) -> &'static str {
        match self {
            Readers::EarlyYears => "Nursery, Reception and Key Stage 1",
            Readers::Pupils => "Key Stage 2 and older",
            Readers::Staff => "Staff",
            Readers::Community => "Community users, volunteers and trainee teachers",
            Readers::Parents => "Parents and carers",
        }
    }

    /// Whether the agreement is shown with pictures in large type, for children who are only
    /// starting to read (and for an adult reading it aloud with them).
    pub fn pictured(self) -> bool {
        self == Readers::EarlyYears
    }

    /// The group a person reads for: pupils by their year group (Nursery to Year 2 are the
    /// early years; a pupil without a year reads the older pupils' agreement), staff, and
    /// guests as community users.
    pub fn for_person(kind: &str, year_group: Option<&str>) -> Readers {
        match kind {
            "pupil" => match year_group.map(str::trim) {
                Some("N" | "R" | "1" | "2") => Readers::EarlyYears,
                _ => Readers::Pupils,
            },
            "staff" => Readers::Staff,
            _ => Readers::Community,
        }
    }
}

impl std::str::FromStr for Readers {
    type Err = BadReaders;

    fn from_str(name: &str) -> Result<Readers, BadReaders> {
        Readers::ALL
            .into_iter()
            .find(|readers| readers.as_str() == name)
            .ok_or_else(|| BadReaders(name.to_owned()))
    }
}

impl fmt::Display for Readers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// The pictures a point of an agreement may carry, drawn by Ward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picture {
    /// Asking a grown-up (a raised hand).
    Ask,
    /// Only what I am allowed (a tick).
    Allowed,
    /// Taking care (a heart).
    Care,
    /// Asking for help (a question mark).
    Help,
    /// Telling a grown-up (a speech bubble).
    Tell,
    /// Rules (a list).
    Rules,
    /// Passwords (a key).
    Password,
    /// Being kind (a smile).
    Kind,
    /// Not downloading (a down arrow).
    Download,
    /// Pictures of people (a camera).
    Photo,
    /// Private things (a padlock).
    Private,
    /// Being seen (an eye).
    Seen,
}

impl Picture {
    const NAMES: [(&'static str, Picture); 12] = [
        ("ask", Picture::Ask),
        ("allowed", Picture::Allowed),
        ("care", Picture::Care),
        ("help", Picture::Help),
        ("tell", Picture::Tell),
        ("rules", Picture::Rules),
        ("password", Picture::Password),
        ("kind", Picture::Kind),
        ("download", Picture::Download),
        ("photo", Picture::Photo),
        ("private", Picture::Private),
        ("seen", Picture::Seen),
    ];

    /// Its name in an agreement's text (`[tell]`).
    pub fn name(self) -> &'static str {
        Picture::NAMES
            .iter()
            .find(|(_, picture)| *picture == self)
            .map_or("", |(name, _)| name)
    }

    /// The picture named `name`.
    pub fn named(name: &str) -> Option<Picture> {
        Picture::NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, picture)| *picture)
    }

    /// Every name, for the console's help text.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Picture::NAMES.iter().map(|(name, _)| *name)
    }

    /// The picture as an inline SVG drawing (48 by 48, in the text's colour, hidden from
    /// screen readers: the point's words say everything it shows).
    pub fn svg(self) -> String {
        let drawing = match self {
            Picture::Ask => {
                r#"<path d="M16 26V12a3 3 0 0 1 6 0v10M22 20V8a3 3 0 0 1 6 0v12M28 20V10a3 3 0 0 1 6 0v14M34 22v-6a3 3 0 0 1 6 0v12c0 9-6 16-14 16s-12-5-15-10l-4-7a3 3 0 0 1 5-3l2 3"/>"#
            }
            Picture::Allowed => r#"<circle cx="24" cy="24" r="19"/><path d="M14 25l7 7 13-15"/>"#,
            Picture::Care => {
                r#"<path d="M24 41S6 30 6 17a9 9 0 0 1 18-3 9 9 0 0 1 18 3c0 13-18 24-18 24z"/>"#
            }
            Picture::Help => {
                r#"<circle cx="24" cy="24" r="19"/><path d="M18 18a6 6 0 1 1 8 6c-2 1-2 3-2 5"/><circle cx="24" cy="35" r="1.5"/>"#
            }
            Picture::Tell => {
                r#"<path d="M8 10h32a3 3 0 0 1 3 3v17a3 3 0 0 1-3 3H22l-9 8v-8H8a3 3 0 0 1-3-3V13a3 3 0 0 1 3-3z"/><path d="M14 19h20M14 25h14"/>"#
            }
            Picture::Rules => {
                r#"<rect x="9" y="5" width="30" height="38" rx="3"/><path d="M19 15h14M19 24h14M19 33h14"/><circle cx="14" cy="15" r="1.5"/><circle cx="14" cy="24" r="1.5"/><circle cx="14" cy="33" r="1.5"/>"#
            }
            Picture::Password => {
                r#"<circle cx="15" cy="24" r="8"/><path d="M23 24h19M36 24v7M42 24v5"/>"#
            }
            Picture::Kind => {
                r#"<circle cx="24" cy="24" r="19"/><circle cx="17" cy="19" r="1.5"/><circle cx="31" cy="19" r="1.5"/><path d="M15 28c4 6 14 6 18 0"/>"#
            }
            Picture::Download => r#"<path d="M24 6v24M14 20l10 10 10-10M8 34v6h32v-6"/>"#,
            Picture::Photo => {
                r#"<path d="M6 16h8l4-6h12l4 6h8v24H6z"/><circle cx="24" cy="27" r="7"/>"#
            }
            Picture::Private => {
                r#"<rect x="10" y="21" width="28" height="21" rx="3"/><path d="M16 21v-6a8 8 0 0 1 16 0v6"/><circle cx="24" cy="31" r="2"/>"#
            }
            Picture::Seen => {
                r#"<path d="M4 24s8-13 20-13 20 13 20 13-8 13-20 13S4 24 4 24z"/><circle cx="24" cy="24" r="6"/>"#
            }
        };
        format!(
            r#"<svg class="picture" viewBox="0 0 48 48" width="96" height="96" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="3" stroke-linecap="round" stroke-linejoin="round">{drawing}</svg>"#
        )
    }
}

/// One block of an agreement's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A heading.
    Heading(String),
    /// A paragraph.
    Paragraph(String),
    /// A point the reader agrees to, with its picture if it has one.
    Point(Option<Picture>, String),
}

/// What is wrong with an agreement's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing to agree to.
    #[error("an agreement needs at least one point (a line starting with \"- \")")]
    NoPoints,
    /// A picture Ward does not draw.
    #[error("line {line}: there is no picture called [{name}] (there are: {known})")]
    UnknownPicture {
        /// The line, from 1.
        line: usize,
        /// The name written.
        name: String,
        /// The names there are.
        known: String,
    },
    /// Too long to be read.
    #[error("the text is longer than {MAX_TEXT} characters")]
    TooLong,
    /// A title that is empty or too long.
    #[error("the title must be 1 to 200 characters")]
    BadTitle,
}

/// The longest text an agreement may have.
pub const MAX_TEXT: usize = 30_000;

/// Reads an agreement's text into blocks.
pub fn parse_text(text: &str) -> Result<Vec<Block>, TextError> {
    if text.chars().count() > MAX_TEXT {
        return Err(TextError::TooLong);
    }
    let mut blocks = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(heading) = line.strip_prefix("# ") {
            blocks.push(Block::Heading(heading.trim().to_owned()));
        } else if let Some(point) = line.strip_prefix("- ") {
            let point = point.trim_start();
            let (picture, said) = match point
                .strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
            {
                Some((name, said)) => match Picture::named(name.trim()) {
                    Some(picture) => (Some(picture), said.trim()),
                    None => {
                        return Err(TextError::UnknownPicture {
                            line: number + 1,
                            name: name.trim().to_owned(),
                            known: Picture::names().collect::<Vec<_>>().join(", "),
                        });
                    }
                },
                None => (None, point),
            };
            if !said.is_empty() {
                blocks.push(Block::Point(picture, said.to_owned()));
            }
        } else {
            blocks.push(Block::Paragraph(line.to_owned()));
        }
    }
    if !blocks.iter().any(|block| matches!(block, Block::Point(..))) {
        return Err(TextError::NoPoints);
    }
    Ok(blocks)
}

/// An agreement's text as a page shows it: (`heading`, `paragraph` or `point`, the words, the
/// picture's SVG drawing or nothing). A text that does not read (it always did when published)
/// is shown as one paragraph.
pub fn display_blocks(text: &str) -> Vec<(&'static str, String, String)> {
    parse_text(text)
        .unwrap_or_else(|_| vec![Block::Paragraph(text.to_owned())])
        .into_iter()
        .map(|block| match block {
            Block::Heading(words) => ("heading", words, String::new()),
            Block::Paragraph(words) => ("paragraph", words, String::new()),
            Block::Point(picture, words) => (
                "point",
                words,
                picture.map(Picture::svg).unwrap_or_default(),
            ),
        })
        .collect()
}

/// Checks an agreement's title and text before it is published.
pub fn check(title: &str, text: &str) -> Result<(), TextError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(TextError::BadTitle);
    }
    parse_text(text).map(|_| ())
}

/// The school year `date` falls in, named by the calendar year it starts in (2026 for
/// 2026–27), for a school year starting on `month`/`day` (1 September in England).
pub fn school_year(year: i16, month: i8, day: i8, starts: (i8, i8)) -> i16 {
    if (month, day) >= starts {
        year
    } else {
        year - 1
    }
}

/// How a school year is written: `2026–27`.
pub fn school_year_name(year: i16) -> String {
    format!("{year}–{:02}", (year + 1).rem_euclid(100))
}

/// Ward's default agreement for `readers`: (title, text). Written for Ward in plain words; it
/// covers every point of the seed schools' agreements (Amblecote's pupil agreement for the
/// Foundation Stage and Key Stage 1 and for Key Stage 2, its staff policy and its iPad policy,
/// and Park End's expectations of staff, pupils, parents and community users). A school edits
/// and publishes its own in the console.
pub fn default_agreement(readers: Readers) -> (&'static str, &'static str) {
    match readers {
        Readers::EarlyYears => ("How we stay safe on computers and tablets", EARLY_YEARS),
        Readers::Pupils => ("How we stay safe online", PUPILS),
        Readers::Staff => ("Staff acceptable use agreement", STAFF),
        Readers::Community => (
            "Acceptable use agreement for community users, volunteers and trainee teachers",
            COMMUNITY,
        ),
        Readers::Parents => ("Parents' and carers' agreement", PARENTS),
    }
}

const EARLY_YEARS: &str = "\
This is how we stay safe when we use computers and tablets.
- [ask] I ask a grown-up before I use a computer or a tablet.
- [allowed] I only use the games and websites a grown-up says I can use.
- [care] I take care of the computers and tablets.
- [help] I ask a grown-up for help if I am not sure what to do, or if I think I did something wrong.
- [tell] I tell a grown-up if I see something that upsets me.
- [rules] I know that if I break these rules, I might not be allowed to use a computer or tablet for a while.
";

const PUPILS: &str = "\
This is how we stay safe when we use computers, tablets and the internet at school.
# Using computers
- [ask] I ask a teacher or another adult before I use a computer or a tablet.
- [allowed] I only use the websites, games and apps that a teacher or another adult has said I can use.
- [care] I take care of the computers, tablets and other equipment.
- [download] I do not download programs or games onto school computers, tablets or laptops unless I have been told I can.
# Keeping myself safe
- [password] I keep my passwords to myself, and I never use anyone else's. If I find out someone else's password, I tell them and a member of staff so that it can be changed.
- [private] When I am online I do not give my name, home address or phone number, I do not pretend to be someone else, and I never arrange to meet someone I do not know, unless my parent, carer or teacher has said I can.
- [photo] I always check with an adult before I share or post pictures of myself, my friends or other people online.
# Being kind, and telling someone
- [kind] I am kind and respectful to people online. I never write bullying messages or join in with bullying.
- [tell] If someone sends me a message I do not like, or that makes me feel uncomfortable, I show it to my teacher or my parent or carer.
- [help] I report anything nasty or upsetting that I see or that is sent to me. My report is kept private, and it helps keep me and other pupils safe.
- [help] I ask an adult for help if I am not sure what to do, or if I think I have done something wrong.
# Rules
- [seen] I know that the school can see what I do on school computers and on the school's internet.
- [rules] I know that if I break these rules, there will be consequences, and I might not be allowed to use the computers for a while.
";

const STAFF: &str = "\
This agreement is for everyone who works at the school. It covers the school's computers, laptops, tablets, email and internet, wherever you use them. Read it carefully; if there is anything you do not understand, ask the headteacher or your line manager. Misuse may lead to disciplinary action, and in serious cases to dismissal or a report to the police.
# Using the school's systems
- I use the school's systems for school work and professional development. Any personal use follows the same rules and is agreed with the headteacher.
- I use the school's official systems and accounts (my school email address, the school's approved apps) for school business.
- I keep my passwords private, I lock or log off a computer when I leave it, and I never use another person's account.
- I do not try to get round the filtering, reach restricted parts of the network, look at data I am not allowed to see, or run hacking, password-finding or network-monitoring software. I know that unauthorised access to computer material is a crime under the Computer Misuse Act 1990.
- I do not install software or apps without the permission of the headteacher or the technician, who check that they are safe and properly licensed.
- I do not download, keep or share material that is illegal, indecent, offensive or likely to upset others, and I do not use school systems for gambling or online gaming. If I come across such material by accident, I tell the online safety lead at once.
- I respect copyright and licences when I download, copy or share material.
- I report at once to the online safety lead any damage, virus, security problem or fault I find, and anything that worries me about a child's safety online to the designated safeguarding lead.
# Email and messages
- I remember that what I write may speak for the school. I write to pupils, parents and colleagues professionally, only through the school's systems, and I re-read messages before sending them.
- I do not send sensitive personal data by email unless it is through a secure system, and I mark confidential messages as confidential.
- I save copies of messages to and from parents, with their attachments, in the school's secure place.
- I never pretend to be someone else, or change messages I have received.
- I do not send jokes or material that are defamatory, sexist, racist or otherwise offensive.
# Social media
- I do not use school equipment for personal social media.
- I do not accept pupils (or recent pupils) as friends or followers, and I do not contact pupils through my personal accounts.
- When I post for the school, I make it clear that it is the school's account, I am professional, and I follow the school's rules on pupils' photographs and names.
- I do not post anything that could harm the school's reputation, criticise or abuse pupils, parents or colleagues, or put a child at risk.
- I set my own accounts' privacy settings carefully.
# Personal data
- I keep information about pupils, parents and staff private and secure, on paper and on screen, and I only share it when I am allowed to.
- I do not carry personal data on memory sticks or personal devices; I use the school's secure systems to reach it from elsewhere.
- I do not write personal or unkind remarks about anyone in school records. I know that people can ask to see what the school holds about them.
- I take photographs and videos of pupils only on school equipment, only for school purposes, and only of pupils whose parents have given consent.
# School laptops and tablets
- I keep a school laptop or tablet in its case, safe, charged and locked away when not in use, and I know where it is at all times.
- I report a lost, stolen or damaged device to the school office at once. Away from school, the school's insurance may not cover it.
- I do not jailbreak or otherwise remove a device's protections. The device stays the school's property, and the school may check it at any time.
- I fill in a loan form before I take a device out of school.
# Monitoring
- I know that the school filters and monitors the use of its systems, that what I do on them may be recorded, and that this may be used in disciplinary procedures and shared where the law requires.
";

const COMMUNITY: &str = "\
This agreement is for community users, volunteers, students and trainee teachers who use the school's computers, internet or online learning spaces. Access is limited to what you need.
- I use the school's systems only for the purpose I was given access for, and I follow what staff tell me.
- I keep my log-in to myself, and I log off when I finish.
- I do not try to get round the filtering or reach parts of the network I have not been given.
- I do not download, keep or share anything illegal, indecent or offensive, and I do not install software.
- I do not take, keep or share photographs or videos of pupils, and I do not contact pupils online.
- I keep any information I see about pupils, families or staff private.
- I tell a member of staff at once if I see something that worries me about a child's safety, or if something goes wrong.
- I know that the school filters and monitors the use of its systems, and that what I do may be recorded.
";

const PARENTS: &str = "\
The school teaches your child to stay safe online and asks every child to agree to its acceptable use agreement each year. Please read your child's agreement with them.
- I have read my child's acceptable use agreement and talked it through with them.
- I understand that the school filters and monitors its internet and computers to keep children safe, and will tell me if there is a serious concern.
- I will support the school in teaching my child to stay safe online, and I will tell the school if I am worried about my child's safety online.
- I will not post photographs or videos of school events that show other children on social media.
- I will use the school's website and any online pupil records only as the school asks.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_agreement_reads_and_the_youngest_have_pictures_on_every_point() {
        for readers in Readers::ALL {
            let (title, text) = default_agreement(readers);
            check(title, text).unwrap_or_else(|error| panic!("{readers:?}: {error}"));
            let blocks = parse_text(text).expect("reads");
            if readers.pictured() {
                assert!(
                    blocks
                        .iter()
                        .all(|block| !matches!(block, Block::Point(None, _))),
                    "an early-years point without a picture"
                );
            }
        }
    }

    #[test]
    fn the_text_format_and_its_refusals() {
        let blocks = parse_text("Intro\n# Head\n- [tell] Tell someone\n- plain\n\n").expect("ok");
        assert_eq!(
            blocks,
            vec![
                Block::Paragraph("Intro".into()),
                Block::Heading("Head".into()),
                Block::Point(Some(Picture::Tell), "Tell someone".into()),
                Block::Point(None, "plain".into()),
            ]
        );
        assert_eq!(parse_text("just words"), Err(TextError::NoPoints));
        assert!(matches!(
            parse_text("- [dragon] no"),
            Err(TextError::UnknownPicture { line: 1, .. })
        ));
        assert_eq!(
            parse_text(&"x".repeat(MAX_TEXT + 1)),
            Err(TextError::TooLong)
        );
        assert_eq!(check(" ", "- a"), Err(TextError::BadTitle));
    }

    #[test]
    fn readers_by_person_and_school_years() {
        assert_eq!(Readers::for_person("pupil", Some("R")), Readers::EarlyYears);
        assert_eq!(Readers::for_person("pupil", Some("2")), Readers::EarlyYears);
        assert_eq!(Readers::for_person("pupil", Some("3")), Readers::Pupils);
        assert_eq!(Readers::for_person("pupil", None), Readers::Pupils);
        assert_eq!(Readers::for_person("staff", None), Readers::Staff);
        assert_eq!(Readers::for_person("guest", None), Readers::Community);
        for readers in Readers::ALL {
            assert_eq!(readers.as_str().parse::<Readers>(), Ok(readers));
        }
        assert!("nobody".parse::<Readers>().is_err());
        assert_eq!(school_year(2026, 8, 31, (9, 1)), 2025);
        assert_eq!(school_year(2026, 9, 1, (9, 1)), 2026);
        assert_eq!(school_year(2027, 1, 5, (9, 1)), 2026);
        assert_eq!(school_year_name(2026), "2026–27");
        assert_eq!(school_year_name(2099), "2099–00");
    }
}
