//! Reading a department's file: its text encoding and its rows, with each
//! row's line number and (when asked) its text as written.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io::{Cursor, Read};
use std::rc::Rc;

/// How much of a file without a byte-order mark is looked at to tell
/// UTF-8 from GB18030.
pub const SNIFF_BYTES: usize = 64 << 10;

/// `reader` as UTF-8 text, and the name of the encoding it was read in: a
/// UTF-8 or UTF-16 byte-order mark is honoured (and dropped); without one,
/// a file whose first [`SNIFF_BYTES`] are not UTF-8 is read as GB18030
/// (which includes GBK and GB2312), as Chinese spreadsheet software saves
/// CSV.
pub fn decoded<'a>(
    mut reader: Box<dyn Read + 'a>,
) -> std::io::Result<(Box<dyn Read + 'a>, &'static str)> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut reader)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    let bom = encoding_rs::Encoding::for_bom(&head).map(|(e, _)| e);
    let sniffed = match std::str::from_utf8(&head) {
        Ok(_) => None,
        // Cut inside a character at the end of the sample: UTF-8 still.
        Err(e) if e.error_len().is_none() => None,
        Err(_) => Some(encoding_rs::GB18030),
    };
    let name = bom.or(sniffed).map_or("UTF-8", encoding_rs::Encoding::name);
    let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(sniffed)
        .bom_override(true)
        .strip_bom(true)
        .build(Cursor::new(head).chain(reader));
    Ok((Box::new(decoder), name))
}

/// A CSV reader as every double-publicity file is read: a header row,
/// rows of any length (a row whose length differs from the header's is
/// refused alone, by [`Mapper::map`](super::Mapper::map)).
pub fn csv_reader<R: Read>(reader: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new().flexible(true).from_reader(reader)
}

/// A double-publicity CSV file being read: its text decoded
/// ([`decoded`]), its rows split by [`csv_reader`], and the line each row
/// starts on counted here (the csv crate counts one line short after a
/// `\r\n`, which is how spreadsheets end lines).
pub struct CsvFile<'a> {
    /// The text encoding the file is read in (`UTF-8`, `gb18030`, …).
    pub encoding: &'static str,
    reader: csv::Reader<Newlines<'a>>,
    newlines: Rc<RefCell<VecDeque<(u64, u64)>>>,
    passed: u64,
    kept: Option<Rc<RefCell<Kept>>>,
}

/// The decoded text read but not yet taken ([`CsvFile::take_text`]).
#[derive(Debug, Default)]
struct Kept {
    /// The offset in the decoded text of `bytes[taken]`.
    at: u64,
    bytes: Vec<u8>,
    taken: usize,
}

impl fmt::Debug for CsvFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvFile")
            .field("encoding", &self.encoding)
            .field("passed", &self.passed)
            .finish_non_exhaustive()
    }
}

impl<'a> CsvFile<'a> {
    /// Starts reading `reader` (its first [`SNIFF_BYTES`] are read to tell
    /// the encoding).
    pub fn open(reader: Box<dyn Read + 'a>) -> std::io::Result<CsvFile<'a>> {
        CsvFile::start(reader, false)
    }

    /// [`CsvFile::open`], keeping the decoded text as it is read, so that
    /// the rows can be taken as text too ([`CsvFile::take_text`]).
    pub fn open_keeping_text(reader: Box<dyn Read + 'a>) -> std::io::Result<CsvFile<'a>> {
        CsvFile::start(reader, true)
    }

    fn start(reader: Box<dyn Read + 'a>, keep: bool) -> std::io::Result<CsvFile<'a>> {
        let (inner, encoding) = decoded(reader)?;
        let newlines = Rc::new(RefCell::new(VecDeque::new()));
        let kept = keep.then(|| Rc::new(RefCell::new(Kept::default())));
        let counted = Newlines {
            inner,
            offset: 0,
            in_run: false,
            seen: Rc::clone(&newlines),
            kept: kept.clone(),
        };
        Ok(CsvFile {
            encoding,
            reader: csv_reader(counted),
            newlines,
            passed: 0,
            kept,
        })
    }

    /// Moves the decoded text (UTF-8, without a byte-order mark) from
    /// where the last call stopped up to offset `end` into `out`: with
    /// `end` a row's start ([`csv::ByteRecord::position`]), the text of
    /// the header or of the rows before it, with the line ends (and blank
    /// lines) that follow, which the csv crate counts as the next row's;
    /// with `None`, everything read so far (at the end of the file, the
    /// last row's).
    /// Takes nothing unless the file was opened with
    /// [`CsvFile::open_keeping_text`].
    pub fn take_text(&mut self, end: Option<u64>, out: &mut Vec<u8>) {
        let Some(kept) = &self.kept else { return };
        let mut kept = kept.borrow_mut();
        let available = kept.bytes.len() - kept.taken;
        let from = kept.taken;
        let mut n = end.map_or(available, |end| {
            usize::try_from(end.saturating_sub(kept.at)).map_or(available, |n| n.min(available))
        });
        while n < available && matches!(kept.bytes[from + n], b'\r' | b'\n') {
            n += 1;
        }
        out.extend_from_slice(&kept.bytes[from..from + n]);
        kept.taken += n;
        kept.at += n as u64;
        // Dropping what was taken now and then keeps this to about a
        // buffer's worth of text without moving it for every row.
        if kept.taken >= (64 << 10) && kept.taken * 2 >= kept.bytes.len() {
            let taken = kept.taken;
            kept.bytes.drain(..taken);
            kept.taken = 0;
        }
    }

    /// The header row.
    pub fn headers(&mut self) -> csv::Result<&csv::StringRecord> {
        self.reader.headers()
    }

    /// Reads the next row into `raw`; returns the line it starts on (from
    /// 1; the header is line 1), or `None` at the end of the file.
    pub fn read(&mut self, raw: &mut csv::ByteRecord) -> csv::Result<Option<u64>> {
        if !self.reader.read_byte_record(raw)? {
            return Ok(None);
        }
        let start = raw.position().map_or(0, csv::Position::byte);
        // The csv crate's row starts right after the byte that ended the
        // row before: a `\r\n`'s `\n` and blank lines are still ahead. So
        // a row starts after every run of line ends that begins at or
        // before that point (runs after it are inside quoted fields).
        let mut runs = self.newlines.borrow_mut();
        while let Some(&(at, newlines)) = runs.front()
            && at <= start
        {
            runs.pop_front();
            self.passed += newlines;
        }
        Ok(Some(self.passed + 1))
    }
}

/// Notes each run of line-end bytes (`\r`, `\n`) of the decoded text as
/// the CSV reader reads it: where it starts and how many `\n` it holds.
/// Also keeps the text, when asked to.
struct Newlines<'a> {
    inner: Box<dyn Read + 'a>,
    offset: u64,
    in_run: bool,
    seen: Rc<RefCell<VecDeque<(u64, u64)>>>,
    kept: Option<Rc<RefCell<Kept>>>,
}

impl Read for Newlines<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(kept) = &self.kept {
            kept.borrow_mut().bytes.extend_from_slice(&buf[..n]);
        }
        let mut runs = self.seen.borrow_mut();
        for (i, &b) in buf[..n].iter().enumerate() {
            let eol = b == b'\n' || b == b'\r';
            if eol && !self.in_run {
                runs.push_back((self.offset + i as u64, 0));
            }
            if b == b'\n'
                && let Some(run) = runs.back_mut()
            {
                run.1 += 1;
            }
            self.in_run = eol;
        }
        self.offset += n as u64;
        Ok(n)
    }
}
