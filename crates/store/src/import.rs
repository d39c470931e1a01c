//! Importing pupils and staff from an MIS export (CSV). Column names are matched loosely
//! (`Forename`, `First name`, `Legal Forename` are all the given name), every row is checked on its
//! own, and the rows that pass are written in one transaction; the others come back with their
//! line number and what is wrong.

use std::collections::{HashMap, HashSet};

use crate::{Group, NewPerson, PersonKind, Result, SchoolId, Store, StoreError};

/// Most rows one import takes (a large secondary school has ~2,000 pupils).
pub const MAX_ROWS: usize = 50_000;
const MAX_FIELD: usize = 200;

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The line in the file (1 is the header).
    pub line: u64,
    /// What is wrong, in words for the person importing.
    pub message: String,
}

/// The outcome of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: usize,
    /// People created.
    pub created: usize,
    /// People updated (same username).
    pub updated: usize,
    /// Rows not imported.
    pub problems: Vec<RowProblem>,
    /// Columns of the file Ward did not use (an MIS export has many): said, so that a column
    /// named unexpectedly is noticed rather than silently left out.
    pub unused_columns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Kind,
    Username,
    GivenName,
    FamilyName,
    ExternalId,
    YearGroup,
    KeyStage,
    Class,
    JobRole,
}

fn column_for(header: &str) -> Option<Column> {
    let name: String = header
        .trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    Some(match name.as_str() {
        "kind" | "type" | "usertype" | "persontype" => Column::Kind,
        // SIMS, Arbor and Bromcom exports name their columns differently; these are the names
        // they use (and the obvious ones).
        "username" | "login" | "networkusername" | "networklogin" | "user" | "loginname"
        | "networkid" => Column::Username,
        "givenname" | "forename" | "firstname" | "legalforename" | "preferredforename"
        | "legalfirstname" | "preferredfirstname" => Column::GivenName,
        "familyname" | "surname" | "lastname" | "legalsurname" | "preferredsurname"
        | "legallastname" | "preferredlastname" => Column::FamilyName,
        "upn" | "uniquepupilnumber" | "admissionnumber" | "admissionno" | "adno" | "admno"
        | "staffcode" | "misid" | "id" | "externalid" | "studentid" | "pupilid" => {
            Column::ExternalId
        }
        "year"
        | "yeargroup"
        | "ncyear"
        | "ncy"
        | "nationalcurriculumyear"
        | "curriculumyear"
        | "yr" => Column::YearGroup,
        "keystage" => Column::KeyStage,
        "class" | "reggroup" | "registrationgroup" | "form" | "tutorgroup" | "registrationform"
        | "regform" | "formgroup" | "regclass" => Column::Class,
        "jobrole" | "role" | "jobtitle" | "post" => Column::JobRole,
        _ => return None,
    })
}

/// A year group in canonical form (`N`, `R`, `1`…`13`), from what MIS exports write.
pub fn year_group(text: &str) -> Option<String> {
    let lower = text.trim().to_lowercase();
    let lower = lower
        .strip_prefix("year")
        .or_else(|| lower.strip_prefix('y'))
        .unwrap_or(&lower)
        .trim();
    match lower {
        "n" | "n1" | "n2" | "nursery" => Some("N".into()),
        "r" | "rec" | "reception" => Some("R".into()),
        number => number
            .parse::<u8>()
            .ok()
            .filter(|year| (1..=13).contains(year))
            .map(|year| year.to_string()),
    }
}

/// The key stage of a year group.
pub(crate) fn key_stage(year: &str) -> &'static str {
    match year {
        "N" | "R" => "EYFS",
        "1" | "2" => "KS1",
        "3" | "4" | "5" | "6" => "KS2",
        "7" | "8" | "9" => "KS3",
        "10" | "11" => "KS4",
        _ => "KS5",
    }
}

/// The parsed rows of a people CSV: what can be imported and what cannot.
#[derive(Debug, Default)]
pub struct PeopleCsv {
    /// Rows that passed every check.
    pub people: Vec<NewPerson>,
    /// Rows that did not.
    pub problems: Vec<RowProblem>,
    /// Data rows read.
    pub rows: usize,
    /// Header names Ward did not use, as written.
    pub unused_columns: Vec<String>,
}

impl PeopleCsv {
    /// Reads `bytes` as a CSV export. `default_kind` applies to rows without a kind column
    /// (an export of pupils, or of staff). Groups are assigned from `groups`: a pupil's by year
    /// group, staff and guests to the school's staff and guest groups.
    pub fn parse(bytes: &[u8], default_kind: PersonKind, groups: &[Group]) -> Result<PeopleCsv> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers = reader
            .byte_headers()
            .map_err(|error| StoreError::Invalid(format!("the file is not CSV: {error}")))?
            .clone();
        let mut columns: HashMap<Column, usize> = HashMap::new();
        let mut unused_columns = Vec::new();
        for (index, header) in headers.iter().enumerate() {
            let header = String::from_utf8_lossy(header);
            match column_for(&header) {
                Some(column) if !columns.contains_key(&column) => {
                    columns.insert(column, index);
                }
                _ => {
                    let name: String = header
                        .trim()
                        .trim_start_matches('\u{feff}')
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(60)
                        .collect();
                    if !name.is_empty() {
                        unused_columns.push(name);
                    }
                }
            }
        }
        // Without usernames (most MIS exports have none), rows are matched by their UPN or
        // admission number.
        if !columns.contains_key(&Column::Username) && !columns.contains_key(&Column::ExternalId) {
            return Err(StoreError::Invalid(format!(
                "the header has no username column and no UPN or admission number column to \
                 match people by (it has: {})",
                headers
                    .iter()
                    .map(|h| String::from_utf8_lossy(h).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for (needed, name) in [
            (Column::GivenName, "given name (or forename)"),
            (Column::FamilyName, "family name (or surname)"),
        ] {
            if !columns.contains_key(&needed) {
                return Err(StoreError::Invalid(format!(
                    "the header has no {name} column (it has: {})",
                    headers
                        .iter()
                        .map(|h| String::from_utf8_lossy(h).into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let mut parsed = PeopleCsv {
            unused_columns,
            ..PeopleCsv::default()
        };
        let mut seen: HashSet<String> = HashSet::new();
        let mut record = csv::ByteRecord::new();
        let mut lines = LineCounter::new(bytes);
        loop {
            let line = lines.at(reader.position());
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(error) => {
                    parsed.rows += 1;
                    let line = error.position().map_or(line, |position| lines.at(position));
                    parsed.problems.push(RowProblem {
                        line,
                        message: format!("unreadable row: {}", csv_error_text(&error)),
                    });
                    if matches!(error.kind(), csv::ErrorKind::Io(_)) {
                        break;
                    }
                    continue;
                }
            }
            let line = record
                .position()
                .map_or(line, |position| lines.at(position));
            parsed.rows += 1;
            if parsed.rows > MAX_ROWS {
                return Err(StoreError::Invalid(format!(
                    "the file has more than {MAX_ROWS} rows; split it"
                )));
            }
            if record.iter().all(|field| field.is_empty()) {
                parsed.rows -= 1;
                continue;
            }
            match person_from_record(&record, &columns, default_kind, groups) {
                Ok(person) => {
                    let key = match &person.external_id {
                        Some(id) if person.username.is_empty() => format!("id {id:?}"),
                        _ => format!("username {:?}", person.username),
                    };
                    if seen.insert(key.to_lowercase()) {
                        parsed.people.push(person);
                    } else {
                        parsed.problems.push(RowProblem {
                            line,
                            message: format!("{key} appears earlier in the file"),
                        });
                    }
                }
                Err(message) => parsed.problems.push(RowProblem { line, message }),
            }
        }
        Ok(parsed)
    }
}

/// The line a record starts on, counted from its byte offset: the csv crate's own count is
/// one short for files with Windows line endings (`\r\n`, what Excel and SIMS write), whose
/// `\n` it reads only as the next record starts. Counts forwards from the last offset asked.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> LineCounter<'a> {
        LineCounter {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record at `position`.
    fn at(&mut self, position: &csv::Position) -> u64 {
        let mut start = usize::try_from(position.byte())
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        // A record read after a `\r` starts at the `\n` that ends the line before it.
        if self.bytes.get(start) == Some(&b'\n') {
            start += 1;
        }
        if start < self.offset {
            // Asked about an earlier record: count from the start again.
            self.offset = 0;
            self.line = 1;
        }
        self.line += self.bytes[self.offset..start]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count() as u64;
        self.offset = start;
        self.line
    }
}

fn csv_error_text(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("it has {len} fields where the header has {expected_len}"),
        _ => error.to_string(),
    }
}

/// Puts a person in the group they browse as: a pupil by year group (which must be canonical,
/// `year_group`; the key stage follows from it unless given), staff and guests in the school's
/// staff or guest group.
pub fn place_in_group(person: &mut NewPerson, groups: &[Group]) -> Result<(), String> {
    match person.kind {
        PersonKind::Pupil => {
            let year = person
                .year_group
                .clone()
                .ok_or("a pupil needs a year group")?;
            let group = groups
                .iter()
                .find(|group| group.kind == PersonKind::Pupil && group.year_groups.contains(&year))
                .ok_or_else(|| {
                    format!("no pupil group includes year {year}; add it to a group first")
                })?;
            if person.key_stage.is_none() {
                person.key_stage = Some(key_stage(&year).to_owned());
            }
            person.job_role = None;
            person.group = Some(group.id);
        }
        PersonKind::Staff | PersonKind::Guest => {
            let group = groups
                .iter()
                .find(|group| group.kind == person.kind)
                .ok_or_else(|| format!("the school has no {} group", person.kind))?;
            person.year_group = None;
            person.key_stage = None;
            person.class_name = None;
            person.group = Some(group.id);
        }
    }
    Ok(())
}

fn person_from_record(
    record: &csv::ByteRecord,
    columns: &HashMap<Column, usize>,
    default_kind: PersonKind,
    groups: &[Group],
) -> Result<NewPerson, String> {
    let field = |column: Column| -> Result<Option<String>, String> {
        let Some(&index) = columns.get(&column) else {
            return Ok(None);
        };
        let bytes = record.get(index).unwrap_or_default();
        let text = std::str::from_utf8(bytes)
            .map_err(|_| format!("column {} is not UTF-8 text", index + 1))?;
        if text.chars().any(char::is_control) {
            return Err(format!("column {} contains control characters", index + 1));
        }
        if text.chars().count() > MAX_FIELD {
            return Err(format!(
                "column {} is longer than {MAX_FIELD} characters",
                index + 1
            ));
        }
        Ok((!text.is_empty()).then(|| text.to_owned()))
    };
    let kind = match field(Column::Kind)? {
        Some(kind) => kind
            .parse::<PersonKind>()
            .map_err(|error| error.to_string())?,
        None => default_kind,
    };
    // No username column: the row is matched by its MIS id (`upsert_people`).
    let username = match columns.contains_key(&Column::Username) {
        true => {
            let username = field(Column::Username)?
                .ok_or("the username is empty")?
                .to_lowercase();
            crate::check_username("username", &username)?;
            username
        }
        false => {
            field(Column::ExternalId)?.ok_or("the UPN or admission number is empty")?;
            String::new()
        }
    };
    let given_name = field(Column::GivenName)?.ok_or("the given name is empty")?;
    let family_name = field(Column::FamilyName)?.ok_or("the family name is empty")?;
    let mut person = NewPerson {
        kind,
        username,
        given_name,
        family_name,
        external_id: field(Column::ExternalId)?,
        year_group: None,
        key_stage: None,
        class_name: None,
        job_role: None,
        group: None,
    };
    if kind == PersonKind::Pupil {
        let written = field(Column::YearGroup)?.ok_or("a pupil needs a year group")?;
        person.year_group = Some(
            year_group(&written)
                .ok_or_else(|| format!("year group {written:?} is not N, R or 1 to 13"))?,
        );
        person.key_stage = field(Column::KeyStage)?.map(|stage| stage.to_uppercase());
        person.class_name = field(Column::Class)?;
    } else {
        person.job_role = field(Column::JobRole)?;
    }
    place_in_group(&mut person, groups)?;
    crate::people::check_person(&person)?;
    Ok(person)
}

impl Store {
    /// Imports a people CSV into the school: rows that pass are written (all together, in one
    /// transaction), rows that do not are reported.
    pub async fn import_people(
        &self,
        school: SchoolId,
        bytes: &[u8],
        default_kind: PersonKind,
    ) -> Result<ImportReport> {
        let groups = self.groups(school).await?;
        let parsed = PeopleCsv::parse(bytes, default_kind, &groups)?;
        let (created, updated) = self.upsert_people(school, &parsed.people).await?;
        Ok(ImportReport {
            rows: parsed.rows,
            created,
            updated,
            problems: parsed.problems,
            unused_columns: parsed.unused_columns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GroupRowId;

    fn groups() -> Vec<Group> {
        let pupil = |id, name: &str, years: &[&str]| Group {
            id: GroupRowId(id),
            name: name.into(),
            label: name.into(),
            kind: PersonKind::Pupil,
            year_groups: years.iter().map(|y| y.to_string()).collect(),
        };
        vec![
            pupil(1, "eyfs", &["N", "R"]),
            pupil(2, "ks1", &["1", "2"]),
            pupil(3, "ks2", &["3", "4"]),
            pupil(4, "uks2", &["5", "6"]),
            Group {
                id: GroupRowId(5),
                name: "staff".into(),
                label: "Staff".into(),
                kind: PersonKind::Staff,
                year_groups: vec![],
            },
        ]
    }

    #[test]
    fn reads_an_mis_export_with_its_own_column_names() {
        let csv = "\u{feff}UPN,Legal Surname,Legal Forename,Year,Reg Group,Username\n\
                   A123,Smith,Jo,Year 4,4W,J.Smith\n\
                   A124,Ng,Sam,R,RB,s.ng\n\
                   A125,Brown,Ali,Y6,6T,a.brown\n";
        let parsed = PeopleCsv::parse(csv.as_bytes(), PersonKind::Pupil, &groups()).expect("parse");
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.rows, 3);
        let jo = &parsed.people[0];
        assert_eq!(jo.username, "j.smith");
        assert_eq!(jo.year_group.as_deref(), Some("4"));
        assert_eq!(jo.key_stage.as_deref(), Some("KS2"));
        assert_eq!(jo.group, Some(GroupRowId(3)));
        assert_eq!(jo.external_id.as_deref(), Some("A123"));
        assert_eq!(parsed.people[1].group, Some(GroupRowId(1)));
        assert_eq!(parsed.people[2].group, Some(GroupRowId(4)));
    }

    #[test]
    fn bad_rows_are_reported_with_their_line_and_the_rest_kept() {
        let csv = "username,forename,surname,year\n\
                   a.one,Ann,One,3\n\
                   ,No,Username,3\n\
                   b.two,Ben,Two,14\n\
                   c.three,Cat,Three\n\
                   a.one,Ann,Again,3\n\
                   d.four,Dan,Four,5\n\
                   e.five,Eve,\"Fi\u{7}ve\",5\n";
        let parsed = PeopleCsv::parse(csv.as_bytes(), PersonKind::Pupil, &groups()).expect("parse");
        let usernames: Vec<&str> = parsed.people.iter().map(|p| p.username.as_str()).collect();
        assert_eq!(usernames, ["a.one", "d.four"]);
        let lines: Vec<u64> = parsed.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 8], "{:?}", parsed.problems);
        assert!(parsed.problems[1].message.contains("\"14\""));
        assert!(
            parsed.problems[2]
                .message
                .contains("3 fields where the header has 4")
        );
        assert!(parsed.problems[3].message.contains("earlier in the file"));
        assert!(parsed.problems[4].message.contains("control characters"));
    }

    #[test]
    fn columns_ward_does_not_use_are_named() {
        let csv = "\u{feff}UPN,Legal Surname,Legal Forename,Username,Year,Date of Birth,Gender,Surname\n\
                   A123,Smith,Jo,j.smith,4,2017-01-01,F,Smyth\n";
        let parsed = PeopleCsv::parse(csv.as_bytes(), PersonKind::Pupil, &groups()).expect("parse");
        assert_eq!(parsed.people.len(), 1);
        assert_eq!(
            parsed.people[0].family_name, "Smith",
            "the first surname column is used"
        );
        assert_eq!(
            parsed.unused_columns,
            ["Date of Birth", "Gender", "Surname"]
        );
    }

    #[test]
    fn lines_are_counted_alike_with_windows_line_endings() {
        // What Excel and SIMS write: `\r\n` after every line.
        let unix = "username,forename,surname,year\n\
                    a.one,Ann,One,3\n\
                    b.two,Ben,Two,14\n\
                    c.three,Cat,Three\n\
                    d.four,Dan,Four,5\n";
        let windows = unix.replace('\n', "\r\n");
        for text in [unix.to_owned(), windows] {
            let parsed =
                PeopleCsv::parse(text.as_bytes(), PersonKind::Pupil, &groups()).expect("parse");
            let lines: Vec<u64> = parsed.problems.iter().map(|p| p.line).collect();
            assert_eq!(lines, [3, 4], "{text:?}: {:?}", parsed.problems);
            assert_eq!(parsed.people.len(), 2);
        }
    }

    #[test]
    fn a_file_without_the_needed_columns_is_refused_whole() {
        let error = PeopleCsv::parse(b"name,age\nJo,7\n", PersonKind::Pupil, &groups())
            .expect_err("no username column");
        assert!(
            error
                .to_string()
                .contains("no username column and no UPN or admission number column"),
            "{error}"
        );
        let error = PeopleCsv::parse(b"\xff\xfe\x00garbage", PersonKind::Pupil, &groups())
            .expect_err("binary");
        assert!(!error.to_string().is_empty());
    }

    #[test]
    fn sims_arbor_and_bromcom_exports_are_read_without_a_username_column() {
        // The column sets each MIS writes for a class list (as exported with its defaults).
        let exports = [
            (
                "SIMS",
                "UPN,Adno,Legal Surname,Legal Forename,Preferred Forename,Gender,DOB,Year,Reg Group\r\n\
                 A123,001234,Smith,Jo,Jo,F,01/02/2017,Year 4,4W\r\n",
            ),
            (
                "Arbor",
                "Student ID,UPN,Legal first name,Legal last name,Year group,Registration form,Email\r\n\
                 A123,A123,Jo,Smith,Year 4,4W,jo@example.org\r\n",
            ),
            (
                "Bromcom",
                "Admission No,Forename,Surname,Year Group,Reg Group,Date of Birth\r\n\
                 A123,Jo,Smith,4,4W,01/02/2017\r\n",
            ),
        ];
        for (mis, csv) in exports {
            let parsed =
                PeopleCsv::parse(csv.as_bytes(), PersonKind::Pupil, &groups()).expect("parse");
            assert!(parsed.problems.is_empty(), "{mis}: {:?}", parsed.problems);
            let jo = &parsed.people[0];
            assert_eq!(jo.username, "", "{mis}: matched by MIS id");
            assert_eq!(jo.external_id.as_deref(), Some("A123"), "{mis}");
            assert_eq!(
                (jo.given_name.as_str(), jo.family_name.as_str()),
                ("Jo", "Smith")
            );
            assert_eq!(jo.year_group.as_deref(), Some("4"), "{mis}");
            assert_eq!(jo.class_name.as_deref(), Some("4W"), "{mis}");
            assert!(
                !parsed.unused_columns.is_empty(),
                "{mis}: the others are named"
            );
        }
        // A row without its id cannot be matched: reported, the rest kept.
        let csv = "UPN,Surname,Forename,Year\n,Ng,Sam,6\nA9,Lee,Ben,5\n";
        let parsed = PeopleCsv::parse(csv.as_bytes(), PersonKind::Pupil, &groups()).expect("parse");
        assert_eq!(parsed.people.len(), 1);
        assert!(
            parsed.problems[0]
                .message
                .contains("UPN or admission number is empty")
        );
    }

    #[test]
    fn staff_go_to_the_staff_group_and_guests_need_one() {
        let csv = "kind,username,first name,last name,job role\n\
                   staff,t.jones,Tom,Jones,Class teacher\n\
                   guest,v.visitor,Val,Visitor,\n";
        let parsed = PeopleCsv::parse(csv.as_bytes(), PersonKind::Pupil, &groups()).expect("parse");
        assert_eq!(parsed.people.len(), 1);
        assert_eq!(parsed.people[0].group, Some(GroupRowId(5)));
        assert_eq!(parsed.people[0].job_role.as_deref(), Some("Class teacher"));
        assert!(parsed.problems[0].message.contains("no guest group"));
    }
}
