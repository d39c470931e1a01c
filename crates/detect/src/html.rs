//! The words of an HTML page, read as it streams past (issue 7, part 4).
//!
//! [`PageText`] is fed the page's bytes in whatever chunks the network delivers and keeps only
//! the text a reader would see: tags, comments, scripts and styles are dropped, character
//! references (`&amp;`, `&#117;`, `&#x75;`) are decoded, block-level tags separate words while
//! inline ones (`<b>`, `<span>`…) do not (so `sui<b></b>cide` is still one word), and the
//! `<title>` is kept apart as well. Memory is bounded: at most `limit` bytes of the page are
//! read; the rest is counted and ignored, and [`PageText::truncated`] says so.

use memchr::{memchr, memchr2};

// What a block-level tag leaves in the text: it separates words, and paragraphs
// ([`PageText::paragraphs`]).
use crate::normalise::PARAGRAPH;

/// The longest tag name kept (longer names are no tag Ward acts on).
const MAX_TAG_NAME: usize = 16;
/// The longest character reference read (`&#x1F600;` is 9).
const MAX_REFERENCE: usize = 12;
/// The longest title kept, in bytes.
const MAX_TITLE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between tags.
    Text,
    /// After `&`, reading a character reference.
    Reference,
    /// After `<`, reading a tag's name.
    TagName,
    /// Inside a tag after its name; `Some(quote)` inside a quoted attribute value.
    Attributes(Option<u8>),
    /// Inside `<!-- … -->`; the number of `-` just seen.
    Comment(u8),
    /// Inside `<script>` or `<style>`: skipping to its end tag; how much of `</script` (or
    /// `</style`) has matched so far.
    Raw(&'static [u8], usize),
}

/// The visible text of an HTML page, gathered as its bytes stream past.
#[derive(Debug, Clone)]
pub struct PageText {
    limit: usize,
    read: usize,
    seen: u64,
    state: State,
    name: Vec<u8>,
    reference: Vec<u8>,
    closing: bool,
    in_title: bool,
    text: Vec<u8>,
    title: Vec<u8>,
}

impl PageText {
    /// Reads at most `limit` bytes of the page.
    pub fn new(limit: usize) -> PageText {
        PageText {
            limit,
            read: 0,
            seen: 0,
            state: State::Text,
            name: Vec::with_capacity(MAX_TAG_NAME),
            reference: Vec::with_capacity(MAX_REFERENCE),
            closing: false,
            in_title: false,
            text: Vec::new(),
            title: Vec::new(),
        }
    }

    /// Feeds the next bytes of the page.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        let room = self.limit - self.read;
        let bytes = &bytes[..bytes.len().min(room)];
        self.read += bytes.len();
        let mut at = 0;
        while at < bytes.len() {
            at = match self.state {
                State::Text => self.text_run(bytes, at),
                State::Raw(end, matched) => self.raw(bytes, at, end, matched),
                // Fast paths: inside a tag or a comment only a few bytes matter, so the rest
                // are skipped rather than read one at a time.
                State::Attributes(None) => self.attributes(bytes, at),
                State::Attributes(Some(quote)) => match memchr(quote, &bytes[at..]) {
                    Some(offset) => self.attributes(bytes, at + offset + 1),
                    None => bytes.len(),
                },
                // A tag's name (letters and digits) is taken whole; what ends it goes the
                // general way.
                State::TagName => {
                    let rest = &bytes[at..];
                    let run = rest
                        .iter()
                        .position(|b| !b.is_ascii_alphanumeric())
                        .unwrap_or(rest.len());
                    if run == 0 {
                        self.byte(rest[0]);
                        at + 1
                    } else {
                        let room = MAX_TAG_NAME.saturating_sub(self.name.len());
                        self.name
                            .extend(rest[..run.min(room)].iter().map(u8::to_ascii_lowercase));
                        at + run
                    }
                }
                // So is a character reference's name, up to the longest one read.
                State::Reference => {
                    let rest = &bytes[at..];
                    let room = MAX_REFERENCE.saturating_sub(self.reference.len());
                    let run = rest
                        .iter()
                        .take(room)
                        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'#'))
                        .unwrap_or(rest.len().min(room));
                    if run == 0 {
                        self.byte(rest[0]);
                        at + 1
                    } else {
                        self.reference.extend_from_slice(&rest[..run]);
                        at + run
                    }
                }
                State::Comment(0) => match memchr(b'-', &bytes[at..]) {
                    Some(offset) => {
                        self.byte(b'-');
                        at + offset + 1
                    }
                    None => bytes.len(),
                },
                _ => {
                    self.byte(bytes[at]);
                    at + 1
                }
            };
        }
    }

    /// Whether the page was longer than the limit (only its start was read).
    pub fn truncated(&self) -> bool {
        self.seen > self.read as u64
    }

    /// Bytes of the page fed so far (counting those past the limit).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The page's visible text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }

    /// The page's visible text, [`normalise`](crate::normalise)d: the same as normalising
    /// [`PageText::text`], without the copy.
    pub fn normalised(&self) -> String {
        crate::normalise::normalise_lossy(&self.text)
    }

    /// The page's visible text a block at a time (a paragraph, heading, list item, table
    /// cell…), as bytes meant to be UTF-8; empty blocks are skipped.
    pub fn paragraphs(&self) -> impl Iterator<Item = &[u8]> {
        self.text
            .split(|byte| *byte == PARAGRAPH)
            .filter(|block| block.iter().any(|byte| !byte.is_ascii_whitespace()))
    }

    /// The page's `<title>`, if it had one.
    pub fn title(&self) -> String {
        String::from_utf8_lossy(&self.title)
            .replace(char::from(PARAGRAPH), " ")
            .trim()
            .to_owned()
    }

    /// Copies text up to the next `<` or `&`, reads a tag found there whole when it can (and
    /// goes on with the text after it); returns where it stopped.
    fn text_run(&mut self, bytes: &[u8], mut at: usize) -> usize {
        while self.state == State::Text {
            let rest = &bytes[at..];
            let Some(end) = memchr2(b'<', b'&', rest) else {
                self.push_text(rest);
                return bytes.len();
            };
            self.push_text(&rest[..end]);
            at += end + 1;
            if rest[end] == b'<' {
                self.name.clear();
                self.closing = false;
                self.state = State::TagName;
                at = self.tag(bytes, at);
            } else {
                self.reference.clear();
                self.state = State::Reference;
            }
        }
        at
    }

    /// Reads as much as it can of a tag whose `<` was just read: the usual `<name …>` or
    /// `</name>` whole, with its attributes; returns where it stopped. Anything else (`<!--`, a
    /// `<` that opens no tag, a tag cut off by the end of the bytes) is left part-read, in its
    /// state, for [`PageText::byte`].
    fn tag(&mut self, bytes: &[u8], mut at: usize) -> usize {
        if bytes.get(at) == Some(&b'/') {
            self.closing = true;
            at += 1;
        }
        let rest = &bytes[at..];
        let run = rest
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        if run == 0 || run == rest.len() {
            // No name here, or the name may go on in the next bytes: the general way.
            return at;
        }
        self.name.extend(
            rest[..run.min(MAX_TAG_NAME)]
                .iter()
                .map(u8::to_ascii_lowercase),
        );
        at += run;
        if bytes[at] == b'>' {
            self.tag_done();
            return at + 1;
        }
        // Whatever else ends the name begins the attributes (as in `byte`, it opens no quote).
        self.state = State::Attributes(None);
        self.attributes(bytes, at + 1)
    }

    /// Skips a tag's attributes (outside a quoted value) to its `>`, which ends the tag;
    /// returns where it stopped.
    fn attributes(&mut self, bytes: &[u8], mut at: usize) -> usize {
        loop {
            // Attributes are short, so a plain loop finds their end sooner than a search would.
            let Some(offset) = bytes[at..]
                .iter()
                .position(|b| matches!(b, b'>' | b'"' | b'\''))
            else {
                self.state = State::Attributes(None);
                return bytes.len();
            };
            at += offset;
            let quote = bytes[at];
            if quote == b'>' {
                self.tag_done();
                return at + 1;
            }
            match memchr(quote, &bytes[at + 1..]) {
                Some(offset) => at += 1 + offset + 1,
                None => {
                    self.state = State::Attributes(Some(quote));
                    return bytes.len();
                }
            }
        }
    }

    /// Skips script or style content up to `</end`; returns where it stopped.
    fn raw(
        &mut self,
        bytes: &[u8],
        mut at: usize,
        end: &'static [u8],
        mut matched: usize,
    ) -> usize {
        while at < bytes.len() {
            if matched == 0 {
                match memchr(b'<', &bytes[at..]) {
                    Some(offset) => {
                        at += offset + 1;
                        matched = 1;
                    }
                    None => {
                        self.state = State::Raw(end, 0);
                        return bytes.len();
                    }
                }
                continue;
            }
            let byte = bytes[at].to_ascii_lowercase();
            at += 1;
            if matched == end.len() {
                // `</script` matched: the end tag if a separator follows.
                if byte == b'>' || byte.is_ascii_whitespace() || byte == b'/' {
                    self.state = if byte == b'>' {
                        self.push_text(b" ");
                        State::Text
                    } else {
                        self.name.clear();
                        State::Attributes(None)
                    };
                    return at;
                }
                matched = usize::from(byte == b'<');
            } else if byte == end[matched] {
                matched += 1;
            } else {
                matched = usize::from(byte == b'<');
            }
        }
        self.state = State::Raw(end, matched);
        at
    }

    fn byte(&mut self, byte: u8) {
        match self.state {
            State::Reference => {
                if byte == b';' {
                    self.reference_done(true);
                    self.state = State::Text;
                } else if byte.is_ascii_alphanumeric() || byte == b'#' {
                    if self.reference.len() < MAX_REFERENCE {
                        self.reference.push(byte);
                    } else {
                        self.reference_done(false);
                        self.state = State::Text;
                        self.push_text(&[byte]);
                    }
                } else {
                    self.reference_done(false);
                    self.state = State::Text;
                    // Not part of a reference: read it as text (it may be `<` or `&`).
                    self.feed_one_as_text(byte);
                }
            }
            State::TagName => {
                if self.name.is_empty() && byte == b'/' && !self.closing {
                    self.closing = true;
                } else if byte.is_ascii_alphanumeric()
                    || (byte == b'!' && self.name.is_empty())
                    || (byte == b'-' && self.name.first() == Some(&b'!'))
                {
                    if self.name.len() < MAX_TAG_NAME {
                        self.name.push(byte.to_ascii_lowercase());
                    }
                    if self.name == b"!--" {
                        self.state = State::Comment(0);
                    }
                } else if self.name.is_empty() && !self.closing {
                    // `<` not followed by a tag name (`a < b`): text.
                    self.state = State::Text;
                    self.push_text(b"<");
                    self.feed_one_as_text(byte);
                } else if byte == b'>' {
                    self.tag_done();
                } else {
                    self.state = State::Attributes(None);
                }
            }
            State::Attributes(quote) => match (quote, byte) {
                (None, b'"' | b'\'') => self.state = State::Attributes(Some(byte)),
                (Some(open), _) if byte == open => self.state = State::Attributes(None),
                (None, b'>') => self.tag_done(),
                _ => {}
            },
            State::Comment(dashes) => {
                self.state = match byte {
                    b'-' => State::Comment(dashes.saturating_add(1)),
                    b'>' if dashes >= 2 => State::Text,
                    _ => State::Comment(0),
                };
            }
            State::Text | State::Raw(..) => self.feed_one_as_text(byte),
        }
    }

    /// One byte read in the text state (after an aborted reference or tag).
    fn feed_one_as_text(&mut self, byte: u8) {
        match byte {
            b'<' => {
                self.name.clear();
                self.closing = false;
                self.state = State::TagName;
            }
            b'&' => {
                self.reference.clear();
                self.state = State::Reference;
            }
            _ => self.push_text(&[byte]),
        }
    }

    /// A tag's `>`: acts on its name.
    fn tag_done(&mut self) {
        self.state = State::Text;
        let name = self.name.as_slice();
        if !self.closing && (name == b"script" || name == b"style") {
            self.state = State::Raw(
                if name == b"script" {
                    b"</script"
                } else {
                    b"</style"
                },
                0,
            );
            self.push_text(b" ");
            return;
        }
        if name == b"title" {
            self.in_title = !self.closing;
        }
        if !is_inline(name) {
            self.push_text(&[PARAGRAPH]);
        }
    }

    /// The end of a character reference: decoded if known, else kept as written.
    fn reference_done(&mut self, terminated: bool) {
        let reference = std::mem::take(&mut self.reference);
        match decode_reference(&reference) {
            Some(c) => {
                let mut buffer = [0u8; 4];
                self.push_text(c.encode_utf8(&mut buffer).as_bytes());
            }
            None => {
                self.push_text(b"&");
                self.push_text(&reference);
                if terminated {
                    self.push_text(b";");
                }
            }
        }
        self.reference = reference;
    }

    fn push_text(&mut self, bytes: &[u8]) {
        self.text.extend_from_slice(bytes);
        if self.in_title && self.title.len() < MAX_TITLE {
            let room = MAX_TITLE - self.title.len();
            self.title
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
}

/// Tags that do not separate words.
fn is_inline(name: &[u8]) -> bool {
    matches!(
        name,
        b"a" | b"abbr"
            | b"b"
            | b"bdi"
            | b"bdo"
            | b"cite"
            | b"code"
            | b"data"
            | b"del"
            | b"dfn"
            | b"em"
            | b"font"
            | b"i"
            | b"ins"
            | b"kbd"
            | b"mark"
            | b"q"
            | b"s"
            | b"samp"
            | b"small"
            | b"span"
            | b"strike"
            | b"strong"
            | b"sub"
            | b"sup"
            | b"time"
            | b"tt"
            | b"u"
            | b"var"
            | b"wbr"
    )
}

/// The character a reference (without `&` and `;`) stands for.
fn decode_reference(reference: &[u8]) -> Option<char> {
    if let Some(number) = reference.strip_prefix(b"#") {
        let text = std::str::from_utf8(number).ok()?;
        let value = match text.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => text.parse().ok()?,
        };
        return char::from_u32(value).filter(|c| *c != '\0');
    }
    Some(match reference {
        b"amp" => '&',
        b"lt" => '<',
        b"gt" => '>',
        b"quot" => '"',
        b"apos" => '\'',
        b"nbsp" => ' ',
        b"shy" => '\u{00AD}',
        b"zwj" => '\u{200D}',
        b"zwnj" => '\u{200C}',
        b"ndash" => '–',
        b"mdash" => '—',
        b"hellip" => '…',
        b"rsquo" | b"lsquo" => '\'',
        b"rdquo" | b"ldquo" => '"',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::normalise;

    fn read(html: &str) -> PageText {
        let mut page = PageText::new(1 << 20);
        page.feed(html.as_bytes());
        page
    }

    const PAGE: &str = "<!DOCTYPE html><html><head><title>How to &amp; why</title>\
        <style>p { color: red } /* kill myself */</style>\
        <script>var s = '<b>suicide</b>'; if (a < b) {}</script></head>\
        <body><!-- a comment with suicide --><p class=\"x>y\">First para&nbsp;here.</p>\
        <p>sui<b></b>cide &#115;elf harm &#x68;urt</p><div>one</div><div>two</div>\
        a < b &c</body></html>";

    #[test]
    fn keeps_what_a_reader_sees() {
        let page = read(PAGE);
        assert_eq!(page.title(), "How to & why");
        assert_eq!(
            normalise(&page.text()).replace("\u{1e} ", ""),
            " how to why first para here suicide self harm hurt one two a be see "
        );
        // Normalised, a page keeps the mark between its paragraphs.
        assert_eq!(page.normalised(), normalise(&page.text()));
        assert!(
            page.normalised()
                .contains(" first para here \u{1e} suicide ")
        );
        assert!(!page.truncated());
        let paragraphs: Vec<String> = page
            .paragraphs()
            .map(|p| normalise(&String::from_utf8_lossy(p)))
            .collect();
        assert_eq!(
            paragraphs,
            [
                " how to why ",
                " first para here ",
                " suicide self harm hurt ",
                " one ",
                " two ",
                " a be see "
            ]
        );
    }

    #[test]
    fn pages_over_the_limit_are_read_up_to_it() {
        let mut page = PageText::new(30);
        page.feed(b"<p>the first words</p><p>and then some more that are past the limit</p>");
        assert!(page.truncated());
        assert_eq!(
            normalise(&page.text()),
            " \u{1e} the first words \u{1e} and t "
        );
        assert_eq!(page.seen(), 71);
    }

    proptest! {
        #[test]
        fn chunking_does_not_change_the_text(cuts in prop::collection::vec(0..PAGE.len(), 0..12)) {
            let whole = read(PAGE);
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut page = PageText::new(1 << 20);
            let mut from = 0;
            for cut in cuts {
                page.feed(&PAGE.as_bytes()[from..cut]);
                from = cut;
            }
            page.feed(&PAGE.as_bytes()[from..]);
            prop_assert_eq!(page.text(), whole.text());
            prop_assert_eq!(page.title(), whole.title());
        }

        #[test]
        fn markup_fed_a_byte_at_a_time_reads_as_fed_whole(
            parts in prop::collection::vec(prop::sample::select(vec![
                "<", ">", "</", "<!--", "-->", "-", "!", "b", "span", "DIV", "title", "script",
                "style", "averyveryverylongtagname", " ", "x=\"", "'", "&", "&amp;", ";", "#1",
                "sui", "cide", "\u{e9}",
            ]), 0..40),
        ) {
            let html = parts.concat();
            let whole = read(&html);
            let mut page = PageText::new(1 << 20);
            for byte in html.as_bytes() {
                page.feed(std::slice::from_ref(byte));
            }
            prop_assert_eq!(page.text(), whole.text());
            prop_assert_eq!(page.title(), whole.title());
        }

        #[test]
        fn any_bytes_are_read_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..400), limit in 0usize..500) {
            let mut page = PageText::new(limit);
            page.feed(&bytes);
            prop_assert!(page.text.len() <= limit, "the text is never longer than what was read");
        }
    }
}
