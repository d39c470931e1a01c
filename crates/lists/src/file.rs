//! The index file: a compiled [`CategoryIndex`] on disk.
//!
//! ```text
//! header (32 bytes): magic "WARDIDX\n", format version u32, reserved u32,
//!                    payload length u64, CRC-32 of the payload u32, reserved u32
//! payload:           categories, category sets, expressions, illegal entries, sources,
//!                    key count u64, min labels u8, slots (u64 count, u64 each), blob (u64, bytes)
//! ```
//! All integers are little-endian; strings are a u32 length and UTF-8 bytes. A file is written
//! to a temporary name and renamed into place, so a reader never sees half of one. On load the
//! magic, version, length and checksum are checked first and then every record, so an index is
//! either loaded whole or refused with a message saying why.

use std::io::Write;
use std::path::Path;

use crate::build::compile_expressions;
use crate::host::Host;
use crate::index::{Category, CategoryId, CategoryIndex, IllegalEntry, SourceSummary};

/// First bytes of every index file.
pub const MAGIC: &[u8; 8] = b"WARDIDX\n";
/// Version of the layout (and of the key hash). Bump it on any change; older files are then
/// refused as stale rather than misread.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 32;

/// Why an index file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IndexFileError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file does not start with the index magic bytes.
    #[error("{path}: not a Ward category index")]
    NotAnIndex {
        /// The file.
        path: String,
    },
    /// The file was written by a different format version.
    #[error(
        "{path}: index format version {found}, but this Ward reads version {expected}; \
         rebuild it with `ward lists import`"
    )]
    Stale {
        /// The file.
        path: String,
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// Length or checksum do not match, or a record is malformed.
    #[error("{path}: index is corrupt ({detail}); rebuild it with `ward lists import`")]
    Corrupt {
        /// The file.
        path: String,
        /// What was wrong.
        detail: String,
    },
}

impl CategoryIndex {
    /// Serialises the index into the file format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut payload = Writer::default();
        payload.u32(self.categories.len() as u32);
        for category in &self.categories {
            payload.str(&category.name);
            payload.u8(u8::from(category.illegal));
            payload.u32(category.sources.len() as u32);
            for source in &category.sources {
                payload.str(source);
            }
            for count in [
                category.domains,
                category.urls,
                category.expressions,
                category.exceptions,
            ] {
                payload.u64(count);
            }
        }
        payload.u32(self.sets.len() as u32);
        for set in &self.sets {
            payload.u16(set.len() as u16);
            for category in set {
                payload.u16(category.0);
            }
        }
        payload.u32(self.expressions.len() as u32);
        for (category, pattern) in &self.expressions {
            payload.u16(category.0);
            payload.str(pattern);
        }
        payload.u32(self.illegal_entries.len() as u32);
        for entry in &self.illegal_entries {
            payload.u16(entry.category.0);
            payload.str(&entry.host.key());
            match &entry.path {
                Some(path) => {
                    payload.u8(1);
                    payload.str(path);
                }
                None => payload.u8(0),
            }
        }
        payload.u32(self.sources.len() as u32);
        for source in &self.sources {
            for text in [
                &source.source,
                &source.category,
                &source.format,
                &source.path,
            ] {
                payload.str(text);
            }
            payload.u64(source.entries);
            payload.u64(source.bad_lines);
        }
        payload.u64(self.key_count);
        payload.u8(self.min_labels);
        payload.u64(self.slots.len() as u64);
        payload
            .bytes
            .reserve(self.slots.len() * 8 + self.blob.len() + 8);
        for &slot in &self.slots {
            payload.u64(slot);
        }
        payload.u64(self.blob.len() as u64);
        payload.bytes.extend_from_slice(&self.blob);

        frame(&payload.bytes)
    }

    /// Writes the index to `path` atomically (temporary file, then rename).
    pub fn write_file(&self, path: &Path) -> Result<(), IndexFileError> {
        let io_error = |source| IndexFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = std::path::PathBuf::from(temporary);
        let mut file = std::fs::File::create(&temporary).map_err(io_error)?;
        file.write_all(&self.to_bytes()).map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        drop(file);
        std::fs::rename(&temporary, path).map_err(io_error)
    }

    /// Reads and checks an index file.
    pub fn read_file(path: &Path) -> Result<CategoryIndex, IndexFileError> {
        let bytes = std::fs::read(path).map_err(|source| IndexFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        CategoryIndex::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses and checks the file format; `label` names the file in errors.
    pub fn from_bytes(bytes: &[u8], label: &str) -> Result<CategoryIndex, IndexFileError> {
        let corrupt = |detail: &str| IndexFileError::Corrupt {
            path: label.to_string(),
            detail: detail.to_string(),
        };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(IndexFileError::NotAnIndex {
                path: label.to_string(),
            });
        }
        let mut header = Reader::new(&bytes[MAGIC.len()..]);
        let version = header.u32().map_err(|e| corrupt(&e))?;
        if version != FORMAT_VERSION {
            return Err(IndexFileError::Stale {
                path: label.to_string(),
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        let parse_header = |header: &mut Reader| -> Result<(u64, u32), String> {
            let reserved = header.u32()?;
            let length = header.u64()?;
            let checksum = header.u32()?;
            if reserved != 0 || header.u32()? != 0 {
                return Err("reserved header fields are not zero".into());
            }
            Ok((length, checksum))
        };
        let (length, checksum) = parse_header(&mut header).map_err(|e| corrupt(&e))?;
        let payload = &bytes[HEADER_LEN.min(bytes.len())..];
        if payload.len() as u64 != length {
            return Err(corrupt(&format!(
                "payload is {} bytes, header says {length}",
                payload.len()
            )));
        }
        if crc32fast::hash(payload) != checksum {
            return Err(corrupt("checksum does not match"));
        }
        let index = parse_payload(payload).map_err(|e| corrupt(&e))?;
        index.validate().map_err(|e| corrupt(&e))?;
        Ok(index)
    }
}

/// A whole index file around `payload`: the header with magic, version, length and checksum.
pub(crate) fn frame(payload: &[u8]) -> Vec<u8> {
    let mut file = Vec::with_capacity(HEADER_LEN + payload.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(&0u32.to_le_bytes());
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    file.extend_from_slice(&0u32.to_le_bytes());
    file.extend_from_slice(payload);
    file
}

fn parse_payload(payload: &[u8]) -> Result<CategoryIndex, String> {
    let mut reader = Reader::new(payload);
    let category_count = reader.u32()?;
    let mut categories = Vec::new();
    for _ in 0..category_count {
        let name = reader.string()?;
        let illegal = reader.u8()? != 0;
        let source_count = reader.u32()?;
        let mut sources = Vec::new();
        for _ in 0..source_count {
            sources.push(reader.string()?);
        }
        categories.push(Category {
            name,
            sources,
            illegal,
            domains: reader.u64()?,
            urls: reader.u64()?,
            expressions: reader.u64()?,
            exceptions: reader.u64()?,
        });
    }
    let set_count = reader.u32()?;
    let mut sets = Vec::new();
    for _ in 0..set_count {
        let length = reader.u16()?;
        let mut set = Vec::with_capacity(usize::from(length));
        for _ in 0..length {
            set.push(CategoryId(reader.u16()?));
        }
        sets.push(set);
    }
    if sets.first().is_none_or(|first| !first.is_empty()) {
        return Err("category set 0 must be the empty set".into());
    }
    let expression_count = reader.u32()?;
    let mut expressions = Vec::new();
    for _ in 0..expression_count {
        let category = CategoryId(reader.u16()?);
        expressions.push((category, reader.string()?));
    }
    let illegal_count = reader.u32()?;
    let mut illegal_entries = Vec::new();
    for _ in 0..illegal_count {
        let category = CategoryId(reader.u16()?);
        let host_text = reader.string()?;
        let host =
            Host::parse(&host_text).map_err(|e| format!("illegal entry {host_text:?}: {e}"))?;
        let path = match reader.u8()? {
            0 => None,
            _ => Some(reader.string()?),
        };
        illegal_entries.push(IllegalEntry {
            category,
            host,
            path,
        });
    }
    let source_count = reader.u32()?;
    let mut sources = Vec::new();
    for _ in 0..source_count {
        sources.push(SourceSummary {
            source: reader.string()?,
            category: reader.string()?,
            format: reader.string()?,
            path: reader.string()?,
            entries: reader.u64()?,
            bad_lines: reader.u64()?,
        });
    }
    let key_count = reader.u64()?;
    let min_labels = reader.u8()?;
    let slot_count = usize::try_from(reader.u64()?).map_err(|_| "slot count too large")?;
    let slot_bytes = reader.take(slot_count.checked_mul(8).ok_or("slot count too large")?)?;
    let slots: Vec<u64> = slot_bytes
        .chunks_exact(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            u64::from_le_bytes(word)
        })
        .collect();
    let blob_length = usize::try_from(reader.u64()?).map_err(|_| "blob too large")?;
    let blob = reader.take(blob_length)?.to_vec();
    if !reader.rest.is_empty() {
        return Err("bytes left over after the blob".into());
    }
    let raw_expressions: Vec<(u16, String)> =
        expressions.iter().map(|(c, p)| (c.0, p.clone())).collect();
    let expression_set = compile_expressions(&raw_expressions).map_err(|e| e.to_string())?;
    Ok(CategoryIndex {
        categories,
        sets,
        slots,
        blob,
        expressions,
        expression_set,
        illegal_entries,
        sources,
        key_count,
        min_labels,
    })
}

#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }
    fn u16(&mut self, value: u16) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    fn str(&mut self, text: &str) {
        self.u32(text.len() as u32);
        self.bytes.extend_from_slice(text.as_bytes());
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }
    fn take(&mut self, length: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < length {
            return Err("file is cut short".into());
        }
        let (head, tail) = self.rest.split_at(length);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn string(&mut self) -> Result<String, String> {
        let length = self.u32()? as usize;
        let bytes = self.take(length)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }
}
