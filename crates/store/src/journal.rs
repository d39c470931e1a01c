//! The event writer's on-disk journal: every batch is appended here (and synced) before it is
//! written to the database, so events survive a database that is down and a gateway restart.
//!
//! The journal is a folder of segment files, `events-0000000042.journal`. Each record is
//! `length: u32 LE | crc32: u32 LE | payload` where the payload is one [`Event`] as JSON. A
//! position in the journal is (segment, byte offset). Each start of the writer opens a fresh
//! segment, so a segment that a crash cut short is never appended to; reading stops at the first
//! record whose length or checksum is wrong and moves on to the next segment.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::Event;

/// Largest record accepted when reading; anything longer is damage, not an event.
const MAX_RECORD: u32 = 1 << 20;

/// What went wrong with the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file in the journal folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// A place in the journal: the next byte to read.
pub(crate) type Position = (i64, u64);

/// Events read back, and where reading stopped.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub events: Vec<Event>,
    pub next: Position,
    /// Damage skipped while reading (a cut-short record at the end of an old segment).
    pub damage: Vec<String>,
}

/// The journal folder, with its newest segment open for appending.
#[derive(Debug)]
pub(crate) struct Journal {
    folder: PathBuf,
    segment: i64,
    file: File,
    size: u64,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

fn segment_path(folder: &Path, segment: i64) -> PathBuf {
    folder.join(format!("events-{segment:010}.journal"))
}

/// The segment numbers in `folder`, oldest first.
fn list_segments(folder: &Path) -> Result<Vec<i64>, JournalError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(folder).map_err(io_error(folder))? {
        let entry = entry.map_err(io_error(folder))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(number) = name
            .strip_prefix("events-")
            .and_then(|rest| rest.strip_suffix(".journal"))
            .and_then(|number| number.parse().ok())
        {
            segments.push(number);
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

impl Journal {
    /// Opens `folder` (creating it), starting a new segment numbered above every existing one
    /// and above `at_least`.
    pub fn open(folder: &Path, at_least: i64) -> Result<Journal, JournalError> {
        fs::create_dir_all(folder).map_err(io_error(folder))?;
        let newest = list_segments(folder)?.last().copied().unwrap_or(0);
        let segment = newest.max(at_least) + 1;
        let path = segment_path(folder, segment);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        Ok(Journal {
            folder: folder.to_owned(),
            segment,
            file,
            size: 0,
        })
    }

    /// The first position of the oldest segment still on disk.
    pub fn oldest(&self) -> Result<Position, JournalError> {
        Ok((
            list_segments(&self.folder)?
                .first()
                .copied()
                .unwrap_or(self.segment),
            0,
        ))
    }

    /// Where the next append will go.
    pub fn end(&self) -> Position {
        (self.segment, self.size)
    }

    /// Appends events and syncs them to disk; returns the new end.
    pub fn append(&mut self, events: &[Event]) -> Result<Position, JournalError> {
        let mut buffer = Vec::with_capacity(events.len() * 256);
        for event in events {
            // Serialising plain data to JSON cannot fail: every field is a string, number or
            // enum, with no maps keyed by non-strings.
            let payload = serde_json::to_vec(event).unwrap_or_default();
            let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
            buffer.extend_from_slice(&length.to_le_bytes());
            buffer.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            buffer.extend_from_slice(&payload);
        }
        let path = segment_path(&self.folder, self.segment);
        self.file.write_all(&buffer).map_err(io_error(&path))?;
        self.file.sync_data().map_err(io_error(&path))?;
        self.size += buffer.len() as u64;
        Ok(self.end())
    }

    /// Starts a new segment (when the current one has been written to the database in full).
    pub fn rotate(&mut self) -> Result<(), JournalError> {
        let next = Journal::open(&self.folder, self.segment)?;
        *self = next;
        Ok(())
    }

    /// Deletes the segments before `segment`, which the database has in full.
    pub fn remove_before(&self, segment: i64) -> Result<(), JournalError> {
        for old in list_segments(&self.folder)?
            .into_iter()
            .filter(|old| *old < segment)
        {
            let path = segment_path(&self.folder, old);
            fs::remove_file(&path).map_err(io_error(&path))?;
        }
        Ok(())
    }

    /// Bytes from `from` to the end of the journal: what the database has still to receive.
    pub fn backlog(&self, from: Position) -> Result<u64, JournalError> {
        // The usual case, the database within the segment being written: no need to look at
        // the folder.
        if from.0 == self.segment {
            return Ok(self.size.saturating_sub(from.1));
        }
        let mut total = 0;
        for segment in list_segments(&self.folder)?
            .into_iter()
            .filter(|segment| *segment >= from.0)
        {
            let size = if segment == self.segment {
                self.size
            } else {
                let path = segment_path(&self.folder, segment);
                fs::metadata(&path).map_err(io_error(&path))?.len()
            };
            total += if segment == from.0 {
                size.saturating_sub(from.1)
            } else {
                size
            };
        }
        Ok(total)
    }

    /// Reads up to `max_events` from `from`, crossing into later segments as each one ends.
    pub fn read(&self, from: Position, max_events: usize) -> Result<Chunk, JournalError> {
        let segments = list_segments(&self.folder)?;
        let mut chunk = Chunk {
            next: from,
            ..Chunk::default()
        };
        for segment in segments.into_iter().filter(|segment| *segment >= from.0) {
            let start = if segment == from.0 { from.1 } else { 0 };
            chunk.next = (segment, start);
            let path = segment_path(&self.folder, segment);
            let limit = if segment == self.segment {
                self.size
            } else {
                fs::metadata(&path).map_err(io_error(&path))?.len()
            };
            let mut reader =
                BufReader::with_capacity(1 << 16, File::open(&path).map_err(io_error(&path))?);
            reader
                .seek(SeekFrom::Start(start))
                .map_err(io_error(&path))?;
            let mut position = start;
            while position < limit {
                if chunk.events.len() >= max_events {
                    return Ok(chunk);
                }
                match read_record(&mut reader, limit - position) {
                    Ok((event, length)) => {
                        position += length;
                        chunk.events.push(event);
                        chunk.next = (segment, position);
                    }
                    Err(problem) => {
                        chunk.damage.push(format!(
                            "{}: {problem} at byte {position}; the rest of the segment ({} bytes) is skipped",
                            path.display(),
                            limit - position
                        ));
                        chunk.next = (segment, limit);
                        break;
                    }
                }
            }
            if segment == self.segment {
                break;
            }
            // This segment is finished: continue at the start of the next one.
        }
        Ok(chunk)
    }
}

/// Reads one record; returns it and how many bytes it took.
fn read_record(reader: &mut impl Read, available: u64) -> Result<(Event, u64), String> {
    let mut header = [0u8; 8];
    if available < 8 {
        return Err("a record header cut short".into());
    }
    reader
        .read_exact(&mut header)
        .map_err(|error| format!("unreadable record header ({error})"))?;
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if length > MAX_RECORD || u64::from(length) + 8 > available {
        return Err(format!(
            "a record length of {length} bytes that does not fit"
        ));
    }
    let mut payload = vec![0u8; length as usize];
    reader
        .read_exact(&mut payload)
        .map_err(|error| format!("a record cut short ({error})"))?;
    if crc32fast::hash(&payload) != checksum {
        return Err("a record whose checksum does not match".into());
    }
    let event = serde_json::from_slice(&payload)
        .map_err(|error| format!("a record that is not an event ({error})"))?;
    Ok((event, u64::from(length) + 8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Disposition, SchoolId, Source};

    fn event(number: usize) -> Event {
        Event {
            school: SchoolId(1),
            at: jiff::Timestamp::from_second(1_700_000_000 + number as i64).expect("valid time"),
            source: Source::Dns,
            client_ip: "10.0.0.1".parse().expect("ip"),
            device: None,
            person: None,
            username: None,
            identified_by: None,
            host: format!("site{number}.example"),
            url: None,
            action: Disposition::Block,
            categories: "adult".into(),
            reason: "test".into(),
            search_term: None,
            count: 1,
            alert: None,
        }
    }

    fn folder(name: &str) -> PathBuf {
        let folder =
            std::env::temp_dir().join(format!("ward-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&folder);
        folder
    }

    #[test]
    fn reads_back_in_order_across_segments_and_restarts() {
        let folder = folder("order");
        let mut journal = Journal::open(&folder, 0).expect("open");
        let start = journal.oldest().expect("oldest");
        journal.append(&[event(0), event(1)]).expect("append");
        journal.rotate().expect("rotate");
        journal.append(&[event(2)]).expect("append");
        drop(journal);
        let mut journal = Journal::open(&folder, 0).expect("reopen");
        journal.append(&[event(3), event(4)]).expect("append");
        let first = journal.read(start, 3).expect("read");
        let hosts: Vec<&str> = first.events.iter().map(|e| e.host.as_str()).collect();
        assert_eq!(hosts, ["site0.example", "site1.example", "site2.example"]);
        let rest = journal.read(first.next, 100).expect("read");
        let hosts: Vec<&str> = rest.events.iter().map(|e| e.host.as_str()).collect();
        assert_eq!(hosts, ["site3.example", "site4.example"]);
        assert_eq!(rest.next, journal.end());
        assert_eq!(journal.backlog(rest.next).expect("backlog"), 0);
        assert!(journal.backlog(start).expect("backlog") > 0);
        journal.remove_before(rest.next.0).expect("remove");
        assert_eq!(journal.oldest().expect("oldest").0, journal.end().0);
        fs::remove_dir_all(&folder).expect("clean up");
    }

    #[test]
    fn a_torn_tail_is_skipped_and_reported() {
        let folder = folder("torn");
        let mut journal = Journal::open(&folder, 0).expect("open");
        let start = journal.oldest().expect("oldest");
        journal.append(&[event(0), event(1)]).expect("append");
        let (segment, size) = journal.end();
        drop(journal);
        // Cut the last record in half, as a crash mid-write would.
        let path = segment_path(&folder, segment);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open segment");
        file.set_len(size - 10).expect("truncate");
        let mut journal = Journal::open(&folder, 0).expect("reopen");
        journal.append(&[event(2)]).expect("append");
        let chunk = journal.read(start, 100).expect("read");
        let hosts: Vec<&str> = chunk.events.iter().map(|e| e.host.as_str()).collect();
        assert_eq!(hosts, ["site0.example", "site2.example"]);
        assert_eq!(chunk.damage.len(), 1, "{:?}", chunk.damage);
        fs::remove_dir_all(&folder).expect("clean up");
    }
}
