//! Reading a participant list's records from its text, which is already decoded and in memory.
//!
//! The rules are the csv crate's default reader's (RFC 4180 quoting, lenient about stray
//! quotes), so a file reads the same as anywhere else:
//! - a field starting with `"` runs to the next lone `"`, across commas and line breaks, and
//!   `""` inside it is one `"`; anything after the closing quote, up to the next comma or line
//!   end, is kept as written; an unclosed quote runs to the end of the file;
//! - any other field runs to the next comma or line end, quotes included;
//! - `\n`, `\r\n` and `\r` all end a record, and empty lines are skipped.
//!
//! Reading is total: every text splits into records, so there is no parse error to report.
//! It is written for this one case rather than taken from the csv crate because the preview
//! reads every row of files up to 100,000 rows: finding each cell's end (and a quoted cell's
//! closing quote) eight bytes at a time and copying each row once is several times quicker than
//! a byte-at-a-time state machine.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A row's cells, kept in one buffer (one allocation for all rows, not one per cell); on the
/// wire, a list of strings.
#[derive(Clone, Default)]
pub struct Cells {
    text: String,
    /// Each cell's place in `text`.
    ranges: Vec<(u32, u32)>,
}

impl Cells {
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.ranges
            .iter()
            .map(|&(start, end)| self.text.get(start as usize..end as usize).unwrap_or(""))
    }

    pub fn get(&self, index: usize) -> Option<&str> {
        let &(start, end) = self.ranges.get(index)?;
        self.text.get(start as usize..end as usize)
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ranges.clear();
    }

    fn push(&mut self, cell: &str) {
        let start = offset(self.text.len());
        self.text.push_str(cell);
        self.ranges.push((start, offset(self.text.len())));
    }
}

impl<'a> FromIterator<&'a str> for Cells {
    fn from_iter<I: IntoIterator<Item = &'a str>>(cells: I) -> Self {
        let mut record = Cells::default();
        for cell in cells {
            record.push(cell);
        }
        record
    }
}

/// Cells are equal when they hold the same values, however their buffer is laid out.
impl PartialEq for Cells {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Cells {}

impl std::fmt::Debug for Cells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Cells {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Cells {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let cells = Vec::<String>::deserialize(deserializer)?;
        Ok(cells.iter().map(String::as_str).collect())
    }
}

/// A place in a file's text or a record's buffer.
fn offset(at: usize) -> u32 {
    // Participant lists are capped at tens of megabytes, far below 4 GiB.
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// The longest text `Records` reads, so that every place in it fits 32 bits.
pub(crate) const MAX_TEXT: usize = u32::MAX as usize;

/// Where a record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// Byte offset in the text.
    pub byte: usize,
    /// 1-based line number.
    pub line: u64,
}

/// The records of a text, one after another.
pub struct Records<'a> {
    text: &'a str,
    at: usize,
    /// Line breaks passed so far.
    breaks: u64,
    /// Quoted cells whose value differs from what is written (`""`, text after the quote).
    unquoted: String,
}

/// Marks a range as being in `Records::unquoted` rather than the text.
const UNQUOTED: u32 = 1 << 31;

/// The bytes of `word` (read little-endian) that are one of `wanted`, each marked by its high
/// bit, and only those: a cell's end is the lowest mark, the next cell's the next one.
fn marks_in(word: u64, wanted: [u8; 3]) -> u64 {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const LOWS: u64 = u64::from_le_bytes([0x7F; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // A byte's high bit, after adding 0x7F to its low seven bits, says whether it is not zero;
    // no carry crosses into the next byte, so every byte is judged on its own.
    let nonzero = |x: u64| ((x & LOWS) + LOWS) | x;
    let other = nonzero(word ^ (ONES * u64::from(wanted[0])))
        & nonzero(word ^ (ONES * u64::from(wanted[1])))
        & nonzero(word ^ (ONES * u64::from(wanted[2])));
    !other & HIGHS
}

/// Commas and line ends: where an unquoted cell ends.
const DELIMITERS: [u8; 3] = [b',', b'\n', b'\r'];

/// The commas and line ends of `word`.
fn delimiters_in(word: u64) -> u64 {
    marks_in(word, DELIMITERS)
}

/// The eight bytes of `bytes` from `at`, read little-endian; those past the end are zeros, which
/// are no delimiter.
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let rest = bytes.get(at..).unwrap_or_default();
    u64::from_le_bytes(rest.first_chunk::<8>().copied().unwrap_or_else(|| {
        let mut padded = [0; 8];
        padded[..rest.len()].copy_from_slice(rest);
        padded
    }))
}

/// Where the first of `wanted` is in `bytes` from `from` on, or the end of `bytes`; searched
/// eight bytes at a time.
fn next_mark(bytes: &[u8], from: usize, wanted: [u8; 3]) -> usize {
    let mut at = from;
    loop {
        let found = marks_in(word_at(bytes, at), wanted);
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        if at + 8 >= bytes.len() {
            return bytes.len();
        }
        at += 8;
    }
}

impl<'a> Records<'a> {
    pub fn new(text: &'a str) -> Self {
        Records::starting_at(text, Start { byte: 0, line: 1 })
    }

    /// Reads on from a record's start, e.g. to read one earlier record again.
    pub fn starting_at(text: &'a str, start: Start) -> Self {
        // Places in the text are kept in 32 bits: only its first 4 GiB are read (the preview
        // refuses a longer file before reading it).
        let text = &text[..text.floor_char_boundary(MAX_TEXT)];
        Records {
            text,
            at: start.byte.min(text.len()),
            breaks: start.line.saturating_sub(1),
            unquoted: String::new(),
        }
    }

    /// Reads the next record into `cells` (replacing what it held) and says where it started;
    /// `None` at the end of the text.
    pub fn next_into(&mut self, cells: &mut Cells) -> Option<Start> {
        let bytes = self.text.as_bytes();
        // Empty lines are skipped.
        while let Some(&byte) = bytes.get(self.at) {
            match byte {
                b'\n' => self.breaks += 1,
                b'\r' if bytes.get(self.at + 1) != Some(&b'\n') => self.breaks += 1,
                b'\r' => {}
                _ => break,
            }
            self.at += 1;
        }
        if self.at >= bytes.len() {
            return None;
        }
        let start = Start {
            byte: self.at,
            line: self.breaks + 1,
        };
        cells.clear();
        self.unquoted.clear();
        // Cells end at the delimiters of one eight-byte word after another: `ahead` marks those
        // of the word at `word` not yet passed, so a word is searched once however many short
        // cells it holds. A quoted cell is read on its own and the search starts again after it.
        let mut at = self.at;
        let mut word = at;
        let mut ahead = delimiters_in(word_at(bytes, word));
        loop {
            let range = if bytes.get(at) == Some(&b'"') {
                self.at = at;
                let range = self.quoted_cell(start.byte);
                at = self.at;
                word = at;
                ahead = delimiters_in(word_at(bytes, word));
                range
            } else {
                while ahead == 0 && word + 8 < bytes.len() {
                    word += 8;
                    ahead = delimiters_in(word_at(bytes, word));
                }
                let end = match ahead {
                    0 => bytes.len(),
                    _ => word + (ahead.trailing_zeros() / 8) as usize,
                };
                // Within the text, which is at most `MAX_TEXT` long: the places fit.
                let range = ((at - start.byte) as u32, (end - start.byte) as u32);
                at = end;
                range
            };
            cells.ranges.push(range);
            // `at` is now on the comma or line end after the cell (the lowest mark in `ahead`),
            // or at the end of the text.
            match bytes.get(at) {
                Some(b',') => {
                    at += 1;
                    ahead &= ahead.wrapping_sub(1);
                }
                Some(_) => {
                    self.at = at;
                    self.end_line();
                    break;
                }
                None => {
                    self.at = at;
                    break;
                }
            }
        }
        self.copy_into(cells, start.byte);
        Some(start)
    }

    /// Steps over the line end `at` is on.
    fn end_line(&mut self) {
        let bytes = self.text.as_bytes();
        if bytes.get(self.at) == Some(&b'\r') && bytes.get(self.at + 1) == Some(&b'\n') {
            self.at += 1;
        }
        self.at += 1;
        self.breaks += 1;
    }

    /// Reads the quoted cell starting at `at` in the record starting at `record`, leaving `at`
    /// on the delimiter after it.
    fn quoted_cell(&mut self, record: usize) -> (u32, u32) {
        let bytes = self.text.as_bytes();
        let inside = self.at + 1;
        // The closing quote is the first `"` not doubled; without one, the text's end. Quotes
        // and line breaks (counted, `\r\n` as one) are found eight bytes at a time.
        let mut from = inside;
        let mut doubled = false;
        let closing = loop {
            let place = next_mark(bytes, from, [b'"', b'\n', b'\r']);
            from = place + 1;
            match (bytes.get(place), bytes.get(from)) {
                (None, _) => break bytes.len(),
                (Some(b'"'), Some(b'"')) => {
                    doubled = true;
                    from += 1;
                }
                (Some(b'"'), _) => break place,
                (Some(b'\r'), Some(b'\n')) => {} // the `\n` is counted
                _ => self.breaks += 1,
            }
        };
        let after = (closing + 1).min(bytes.len());
        let end = next_mark(bytes, after, DELIMITERS);
        self.at = end;
        if !doubled && end == after {
            return (offset(inside - record), offset(closing - record));
        }
        // The cell reads other than it is written: keep the value read apart.
        let start = offset(self.unquoted.len());
        for (i, piece) in self.text[inside..closing].split("\"\"").enumerate() {
            if i > 0 {
                self.unquoted.push('"');
            }
            self.unquoted.push_str(piece);
        }
        self.unquoted.push_str(&self.text[after..end]);
        (UNQUOTED | start, UNQUOTED | offset(self.unquoted.len()))
    }

    /// Copies the record's text (from `start`, where the record began, to `at`) and its
    /// rewritten quoted cells into `cells`. Ranges are already relative to the record's start;
    /// those of rewritten cells are pointed after the record's text, where they are copied.
    fn copy_into(&self, cells: &mut Cells, start: usize) {
        let written = &self.text[start..self.at.min(self.text.len())];
        cells.text.push_str(written);
        if self.unquoted.is_empty() {
            return;
        }
        let rewritten = offset(written.len());
        cells.text.push_str(&self.unquoted);
        for range in &mut cells.ranges {
            if range.0 & UNQUOTED != 0 {
                *range = (rewritten + (range.0 & !UNQUOTED), rewritten + (range.1 & !UNQUOTED));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Cells, Records, Start};

    fn ours(text: &str) -> Vec<Vec<String>> {
        let mut records = Records::new(text);
        let mut cells = Cells::default();
        let mut all = Vec::new();
        while records.next_into(&mut cells).is_some() {
            all.push(cells.iter().map(str::to_owned).collect());
        }
        all
    }

    /// What the csv crate's default reader makes of the same text.
    fn csv_crate(text: &str) -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .records()
            .map(|record| record.expect("valid UTF-8").iter().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn records_read_as_the_csv_crate_reads_them() {
        let cases = [
            "a,b,c\n1,2,3\n",
            "a,b,c\r\n1,2,3\r\n",
            "a,b\r1,2\r",
            "no final line break,x",
            "\n\n\r\n  \nafter,blank lines\n\n",
            "a,\"b,c\",d\n",
            "\"she said \"\"hi\"\"\",x\n",
            "\"two\nlines\",\"and\r\nthree\rhere\"\n",
            "\"quoted\"then text,x\n",
            "\"q\" ,x\n",
            "un\"quoted\"quotes,x\n",
            "\"\",\"\"\"\",\"\"\"\"\"\"\n",
            ",,\n,\n,",
            "trailing comma,\n",
            "trailing comma at the end,",
            "\"unclosed, to the end\nof the text",
            "\"unclosed with \"\"doubled",
            "\"closed\"\"\",\"a\"\"b\"\"c\"tail,\n",
            "José,Zoë,\"Œuvre, née\"\n",
            "",
            "\n",
            "\"\"",
        ];
        for case in cases {
            assert_eq!(ours(case), csv_crate(case), "reading {case:?}");
        }
    }

    #[test]
    fn any_mix_of_delimiters_quotes_and_line_breaks_reads_as_the_csv_crate_reads_it() {
        // A fixed pseudo-random sequence, so a failure names a text that can be replayed.
        // Long pieces make cells that span the eight-byte steps of the delimiter search.
        let pieces = [
            "a",
            "bc",
            ",",
            "\"",
            "\"\"",
            "\n",
            "\r",
            "\r\n",
            " ",
            "é",
            "defghij",
            "klmnopqrstuvwx",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            assert_eq!(ours(&text), csv_crate(&text), "reading {text:?}");
        }
    }

    #[test]
    fn every_delimiter_of_eight_bytes_is_marked_and_nothing_else() {
        // Each place holds a delimiter or not, beside every other byte value: the marks are
        // exactly the delimiters, wherever they are and whatever is around them.
        let is_delimiter = |byte: u8| matches!(byte, b',' | b'\n' | b'\r');
        for other in 0..=255u8 {
            for places in 0..=255u8 {
                let word: [u8; 8] = std::array::from_fn(|i| match places >> i & 1 {
                    1 => [b',', b'\n', b'\r'][i % 3],
                    _ => other,
                });
                let expected = word
                    .iter()
                    .enumerate()
                    .filter(|&(_, &byte)| is_delimiter(byte))
                    .fold(0u64, |marks, (i, _)| marks | 0x80 << (8 * i));
                assert_eq!(super::delimiters_in(u64::from_le_bytes(word)), expected, "{word:?}");
            }
        }
        assert_eq!(super::delimiters_in(u64::from_le_bytes(*b"a\"b;\t 0\xFF")), 0);
    }

    #[test]
    fn each_record_knows_the_line_and_byte_it_starts_on() {
        let text = "h1,h2\n\n\"two\r\nlines\",x\r\n\r\nlast,\"a\rb\"\nend";
        let mut records = Records::new(text);
        let mut cells = Cells::default();
        let mut starts = Vec::new();
        while let Some(start) = records.next_into(&mut cells) {
            starts.push(start);
        }
        let lines: Vec<u64> = starts.iter().map(|s| s.line).collect();
        assert_eq!(lines, [1, 3, 6, 8]);
        assert!(text[starts[1].byte..].starts_with("\"two"));
        // Read again from its start, a record reads the same.
        let mut again = Cells::default();
        Records::starting_at(text, starts[2]).next_into(&mut again);
        assert_eq!(again.iter().collect::<Vec<_>>(), ["last", "a\rb"]);
        assert_eq!(
            Records::starting_at(
                text,
                Start {
                    byte: text.len() + 5,
                    line: 1
                }
            )
            .next_into(&mut again),
            None
        );
    }

    #[test]
    fn cells_compare_by_their_values_and_travel_as_a_list_of_strings() {
        let mut read = Cells::default();
        Records::new("\"a\"\"b\",c\n").next_into(&mut read);
        let built: Cells = ["a\"b", "c"].into_iter().collect();
        assert_eq!(read, built);
        let json = serde_json::to_string(&read).unwrap();
        assert_eq!(json, r#"["a\"b","c"]"#);
        assert_eq!(serde_json::from_str::<Cells>(&json).unwrap(), read);
        assert_eq!(read.get(1), Some("c"));
        assert_eq!(read.get(2), None);
    }
}
