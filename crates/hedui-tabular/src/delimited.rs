//! Delimited text (CSV, TSV): encoding detection, streaming decoding, delimiter sniffing, and
//! row assembly. The rules are in the crate docs, "Reading delimited text".

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use encoding_rs::{Decoder, DecoderResult, Encoding};

use crate::column::TextColumn;
use crate::error::Error;
use crate::{BadRow, Want};

/// Bytes looked at to decide the encoding.
pub(crate) const SAMPLE_BYTES: usize = 1 << 20;
/// Bytes decoded per step.
pub(crate) const CHUNK_BYTES: usize = 1 << 18;
/// The delimiters sniffed on the header line, in tie-break order.
const DELIMITERS: [u8; 4] = [b',', b'\t', b';', b'|'];
/// chardetng's Big5 guess is trusted only with at least this many non-ASCII bytes.
const MIN_NON_ASCII_FOR_GUESS: usize = 32;

/// What reading a delimited file produced.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub encoding: &'static str,
    pub delimiter: u8,
    pub headers: Vec<String>,
    pub columns: Vec<TextColumn>,
    pub row_numbers: Vec<u64>,
    pub bad_rows: Vec<BadRow>,
}

/// Reads a delimited text file. `delimiter` forces the delimiter (`.tsv`, or the caller's
/// choice); `encoding_label` forces the encoding. With `emit`, every `chunk` rows read so far
/// are handed to it as they fill (the file is decoded incrementally, so memory is bounded by
/// the chunk); the rows after the last full chunk are returned.
pub(crate) fn read(
    path: &Path,
    encoding_label: Option<&str>,
    delimiter: Option<u8>,
    want: Want<'_>,
    mut emit: Option<crate::Emit<'_, Parsed>>,
) -> Result<Parsed, Error> {
    let mut file = File::open(path).map_err(|e| Error::read(path, e))?;
    let mut sample = Vec::with_capacity(SAMPLE_BYTES.max(CHUNK_BYTES));
    (&mut file)
        .take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(|e| Error::read(path, e))?;
    let at_eof = sample.len() < SAMPLE_BYTES;
    let forced = match encoding_label {
        Some(label) => Some(Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
            Error::UnknownEncodingLabel {
                path: path.to_owned(),
                label: label.to_owned(),
            }
        })?),
        None => None,
    };
    let encoding = detect_encoding(path, &sample, at_eof, forced)?;
    let mut text = DecodingReader::new(file, sample, encoding, CHUNK_BYTES);
    let delimiter = match delimiter {
        Some(d) => d,
        None => {
            let first = text
                .first_content_line(SAMPLE_BYTES)
                .map_err(|e| io_to_error(path, e))?;
            sniff_delimiter(first)
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(CHUNK_BYTES)
        .from_reader(text);

    let mut record = csv::StringRecord::new();
    let headers = loop {
        if !reader
            .read_record(&mut record)
            .map_err(|e| csv_error(path, e))?
        {
            return Err(Error::Empty {
                path: path.to_owned(),
            });
        }
        if record.iter().any(|f| !clean_header(f).is_empty()) {
            break header_cells(record.iter());
        }
    };
    let encoding_name = encoding.name();
    let projection = match want {
        Want::Headers => {
            return Ok(Parsed {
                encoding: encoding_name,
                delimiter,
                headers,
                columns: Vec::new(),
                row_numbers: Vec::new(),
                bad_rows: Vec::new(),
            });
        }
        Want::Columns(p) => crate::resolve_projection(path, p, headers.len())?,
    };

    let width = headers.len();
    let mut columns: Vec<TextColumn> = projection.iter().map(|_| TextColumn::new()).collect();
    let mut row_numbers = Vec::new();
    let mut bad_rows = Vec::new();
    loop {
        if !reader
            .read_record(&mut record)
            .map_err(|e| csv_error(path, e))?
        {
            break;
        }
        let line = record.position().map_or(0, csv::Position::line);
        if record.iter().all(str::is_empty) {
            // A row of bare delimiters carries no data; blank lines are skipped by the parser.
            continue;
        }
        let fits = record.len() == width
            || (record.len() > width && record.iter().skip(width).all(str::is_empty));
        if !fits {
            let end_line = reader.position().line().saturating_sub(1);
            let mut reason = format!("expected {width} fields, found {}", record.len());
            if end_line > line {
                reason.push_str(&format!(
                    " (the record runs over lines {line}–{end_line}: an unclosed quote?)"
                ));
            }
            bad_rows.push(BadRow {
                line,
                reason,
                row: None,
                fields: record.iter().map(str::to_owned).collect(),
            });
            continue;
        }
        for (column, &source) in columns.iter_mut().zip(&projection) {
            column.push(record.get(source));
        }
        row_numbers.push(line);
        if let Some((chunk, f)) = emit.as_mut()
            && row_numbers.len() >= *chunk
        {
            f(Parsed {
                encoding: encoding_name,
                delimiter,
                headers: headers.clone(),
                columns: std::mem::replace(
                    &mut columns,
                    projection.iter().map(|_| TextColumn::new()).collect(),
                ),
                row_numbers: std::mem::take(&mut row_numbers),
                bad_rows: std::mem::take(&mut bad_rows),
            });
        }
    }
    for c in &mut columns {
        c.shrink_to_fit();
    }
    Ok(Parsed {
        encoding: encoding_name,
        delimiter,
        headers,
        columns,
        row_numbers,
        bad_rows,
    })
}

/// Trims a header cell: whitespace including the ideographic space U+3000, and stray BOMs.
pub(crate) fn clean_header(cell: &str) -> &str {
    cell.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}')
}

/// The header row's cells, trimmed, with trailing empty cells (a trailing delimiter) dropped.
pub(crate) fn header_cells<'a>(cells: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut headers: Vec<String> = cells.map(|c| clean_header(c).to_owned()).collect();
    while headers.last().is_some_and(String::is_empty) {
        headers.pop();
    }
    headers
}

/// Decides the encoding of a file from its first bytes.
fn detect_encoding(
    path: &Path,
    sample: &[u8],
    at_eof: bool,
    forced: Option<&'static Encoding>,
) -> Result<&'static Encoding, Error> {
    if let Some(e) = forced {
        return Ok(e);
    }
    if let Some((e, _)) = Encoding::for_bom(sample) {
        return Ok(e);
    }
    let (non_ascii_chars, errors) = utf8_stats(sample, at_eof);
    // GBK text decoded as UTF-8 fails on most characters (valid/invalid ≈ 0.2); a UTF-8 file
    // with one damaged byte has thousands of valid characters per error.
    if errors == 0 || non_ascii_chars >= 8 * errors {
        return Ok(encoding_rs::UTF_8);
    }
    let non_ascii_bytes = sample.iter().filter(|b| !b.is_ascii()).count();
    if non_ascii_bytes >= MIN_NON_ASCII_FOR_GUESS {
        let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
        detector.feed(sample, at_eof);
        let guess = detector.guess(None, chardetng::Utf8Detection::Deny);
        if guess == encoding_rs::BIG5 {
            return Err(Error::UnsupportedEncoding {
                path: path.to_owned(),
                detected: "Big5",
            });
        }
    }
    Ok(encoding_rs::GB18030)
}

/// Counts valid non-ASCII characters and invalid sequences when reading `bytes` as UTF-8. An
/// incomplete sequence at the end of a sample cut mid-file is not an error.
fn utf8_stats(mut bytes: &[u8], at_eof: bool) -> (usize, usize) {
    let mut non_ascii = 0;
    let mut errors = 0;
    loop {
        match simdutf8::compat::from_utf8(bytes) {
            Ok(s) => {
                non_ascii += s.chars().filter(|c| !c.is_ascii()).count();
                return (non_ascii, errors);
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                non_ascii += String::from_utf8_lossy(valid)
                    .chars()
                    .filter(|c| !c.is_ascii())
                    .count();
                match e.error_len() {
                    Some(n) => {
                        errors += 1;
                        bytes = &rest[n..];
                    }
                    None => {
                        if at_eof {
                            errors += 1;
                        }
                        return (non_ascii, errors);
                    }
                }
            }
        }
    }
}

/// Picks the delimiter that occurs most often outside quotes in the header line; ties go to
/// the earlier of `, \t ; |`; a line with none of them is one column (comma).
pub(crate) fn sniff_delimiter(line: &str) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut quoted = false;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = DELIMITERS.iter().position(|&d| d == b) {
            counts[i] += 1;
        }
    }
    let mut best = 0;
    for i in 1..DELIMITERS.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    DELIMITERS[best]
}

/// A decoding failure, carried through `io::Error` from the decoder to the csv parser and back.
#[derive(Debug)]
struct DecodeFailure {
    line: u64,
    encoding: &'static str,
    detail: String,
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.detail)
    }
}

impl std::error::Error for DecodeFailure {}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map_or(0, csv::Position::line);
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io_to_error(path, io),
        other => Error::CorruptCsv {
            path: path.to_owned(),
            line,
            message: format!("{other:?}"),
        },
    }
}

fn io_to_error(path: &Path, e: io::Error) -> Error {
    if let Some(failure) = e.get_ref().and_then(|r| r.downcast_ref::<DecodeFailure>()) {
        return Error::InvalidEncoding {
            path: path.to_owned(),
            line: failure.line,
            encoding: failure.encoding,
            detail: failure.detail.clone(),
        };
    }
    Error::read(path, e)
}

/// Streams a byte source as UTF-8 text, decoding strictly and counting lines so that an error
/// can name its line.
struct DecodingReader<R> {
    inner: R,
    decoder: Decoder,
    encoding: &'static Encoding,
    /// Undecoded input; `raw[raw_pos..]` is pending.
    raw: Vec<u8>,
    raw_pos: usize,
    /// Bytes read from `inner` per step.
    chunk: usize,
    inner_done: bool,
    decoder_done: bool,
    /// Decoded text; `out[out_pos..]` has not been handed out yet.
    out: String,
    out_pos: usize,
    /// Newlines in all text decoded so far.
    newlines: u64,
}

impl<R: Read> DecodingReader<R> {
    /// `first` holds bytes already read from the start of the source; later reads take
    /// `chunk` bytes at a time.
    fn new(inner: R, first: Vec<u8>, encoding: &'static Encoding, chunk: usize) -> Self {
        DecodingReader {
            inner,
            // Removes the BOM of the chosen encoding if present (never sniffs another one).
            decoder: encoding.new_decoder_with_bom_removal(),
            encoding,
            raw: first,
            raw_pos: 0,
            chunk: chunk.max(1),
            inner_done: false,
            decoder_done: false,
            out: String::new(),
            out_pos: 0,
            newlines: 0,
        }
    }

    /// Decodes until at least one line containing something other than whitespace is complete
    /// (or `limit` bytes are buffered, or the input ends) and returns that line.
    fn first_content_line(&mut self, limit: usize) -> io::Result<&str> {
        loop {
            let pending = &self.out[self.out_pos..];
            let mut start = 0;
            let mut found = None;
            while let Some(nl) = pending[start..].find('\n') {
                let line = &pending[start..start + nl];
                if !line.trim().is_empty() {
                    found = Some((start, start + nl));
                    break;
                }
                start += nl + 1;
            }
            if found.is_none() && (self.decoder_done || pending.len() >= limit) {
                let rest = &pending[start..];
                if !rest.trim().is_empty() {
                    found = Some((start, pending.len()));
                }
            }
            if let Some((a, b)) = found {
                let base = self.out_pos;
                return Ok(&self.out[base + a..base + b]);
            }
            if self.decoder_done || pending.len() >= limit {
                return Ok("");
            }
            self.decode_more()?;
        }
    }

    /// Decodes one more chunk, appending to `out`.
    fn decode_more(&mut self) -> io::Result<()> {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        if self.raw_pos == self.raw.len() && !self.inner_done {
            self.raw.clear();
            self.raw_pos = 0;
            self.raw.resize(self.chunk, 0);
            let n = loop {
                match self.inner.read(&mut self.raw) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.raw.truncate(n);
            self.inner_done = n == 0;
        }
        let src = &self.raw[self.raw_pos..];
        let last = self.inner_done;
        let need = self
            .decoder
            .max_utf8_buffer_length_without_replacement(src.len())
            .unwrap_or(src.len() * 3 + 16);
        self.out.reserve(need);
        let before = self.out.len();
        let (result, read) =
            self.decoder
                .decode_to_string_without_replacement(src, &mut self.out, last);
        self.raw_pos += read;
        let new_text = &self.out[before..];
        if let Some(at) = new_text.find('\u{FFFD}') {
            let line = self.newlines + count_newlines(&new_text[..at]) + 1;
            return Err(self.failure(
                line,
                "the text contains U+FFFD replacement characters (�): it was already damaged \
                 by a wrong decoding before it reached hedui; get a clean export"
                    .to_owned(),
            ));
        }
        self.newlines += count_newlines(new_text);
        match result {
            DecoderResult::InputEmpty => {
                if last {
                    self.decoder_done = true;
                }
            }
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(_, _) => {
                let detail = if self.encoding == encoding_rs::UTF_8 {
                    "bytes that are not valid UTF-8; the start of the file is UTF-8, so the file \
                     mixes encodings or is damaged — re-save it as UTF-8"
                        .to_owned()
                } else {
                    format!(
                        "bytes that are not valid {} — re-save the file as UTF-8",
                        self.encoding.name()
                    )
                };
                return Err(self.failure(self.newlines + 1, detail));
            }
        }
        Ok(())
    }

    fn failure(&self, line: u64, detail: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            DecodeFailure {
                line,
                encoding: self.encoding.name(),
                detail,
            },
        )
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out.len() {
            if self.decoder_done {
                return Ok(0);
            }
            self.decode_more()?;
        }
        let pending = &self.out.as_bytes()[self.out_pos..];
        let n = pending.len().min(buf.len());
        buf[..n].copy_from_slice(&pending[..n]);
        self.out_pos += n;
        Ok(n)
    }
}

fn count_newlines(s: &str) -> u64 {
    s.bytes().filter(|&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_chunked(
        bytes: &[u8],
        enc: &'static Encoding,
        first: usize,
        chunk: usize,
    ) -> io::Result<String> {
        let (first, rest) = bytes.split_at(bytes.len().min(first));
        let mut r = DecodingReader::new(rest, first.to_vec(), enc, chunk);
        let mut s = String::new();
        r.read_to_string(&mut s)?;
        Ok(s)
    }

    fn decode_all(bytes: &[u8], enc: &'static Encoding) -> io::Result<String> {
        // Tiny chunks force multi-byte sequences across chunk boundaries.
        decode_chunked(bytes, enc, 3, 5)
    }

    proptest::proptest! {
        /// Any text survives GB18030, UTF-8 and UTF-16 decoding at any chunking, and an error's
        /// line number does not depend on where the chunks fall.
        #[test]
        fn chunking_never_matters(
            text in "[a-z,\n张三李四𠀀é\u{3000}]{0,60}|\\PC{0,40}",
            first in 0usize..16,
            chunk in 1usize..16,
        ) {
            let text = text.replace('\u{FFFD}', "");
            for enc in [encoding_rs::GB18030, encoding_rs::UTF_8] {
                let (bytes, _, unmappable) = enc.encode(&text);
                proptest::prop_assert!(!unmappable);
                let decoded = decode_chunked(&bytes, enc, first, chunk).expect("decodes");
                proptest::prop_assert_eq!(&decoded, &text);
            }
            let mut utf16 = vec![0xFF, 0xFE];
            for u in text.encode_utf16() {
                utf16.extend_from_slice(&u.to_le_bytes());
            }
            let decoded = decode_chunked(&utf16, encoding_rs::UTF_16LE, first, chunk).expect("utf-16");
            proptest::prop_assert_eq!(&decoded, &text);

            let mut broken = text.clone().into_bytes();
            broken.push(0xFF);
            let err = decode_chunked(&broken, encoding_rs::UTF_8, first, chunk)
                .expect_err("0xFF is never UTF-8");
            let line = err
                .get_ref()
                .and_then(|e| e.downcast_ref::<DecodeFailure>())
                .map(|f| f.line);
            proptest::prop_assert_eq!(line, Some(text.matches('\n').count() as u64 + 1));
        }
    }

    #[test]
    fn decodes_gb18030_across_chunks() {
        let text = "姓名,住址\n张三,湖北省随州市\n𠀀,x\n";
        let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
        assert!(!unmappable);
        assert_eq!(
            decode_all(&bytes, encoding_rs::GB18030).expect("decodes"),
            text
        );
    }

    #[test]
    fn malformed_bytes_name_the_line() {
        let mut bytes = "a,b\n1,2\n3,".as_bytes().to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
        let err = decode_all(&bytes, encoding_rs::UTF_8).expect_err("invalid UTF-8");
        let failure = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<DecodeFailure>())
            .expect("a decode failure");
        assert_eq!(failure.line, 3);
    }

    #[test]
    fn replacement_characters_are_refused() {
        let err =
            decode_all("a\nb\n张\u{FFFD}\n".as_bytes(), encoding_rs::UTF_8).expect_err("U+FFFD");
        let failure = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<DecodeFailure>())
            .expect("a decode failure");
        assert_eq!(failure.line, 3);
    }

    #[test]
    fn sniffs_delimiters() {
        assert_eq!(sniff_delimiter("姓名,身份证号,性别"), b',');
        assert_eq!(sniff_delimiter("姓名\t身份证号\t性别"), b'\t');
        assert_eq!(sniff_delimiter("姓名;身份证号;\"a,b\""), b';');
        assert_eq!(sniff_delimiter("a|b|c,d"), b'|');
        assert_eq!(sniff_delimiter("姓名"), b',');
    }

    #[test]
    fn detection_prefers_utf8_and_falls_back_to_gb18030() {
        let p = Path::new("x.csv");
        let text = "姓名,住址\n张三,湖北省随州市曾都区西城街道\n李四,随县厉山镇\n";
        let pick = |b: &[u8]| detect_encoding(p, b, true, None).map(|e| e.name());
        assert_eq!(pick(text.as_bytes()).expect("utf-8"), "UTF-8");
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert_eq!(pick(&gbk).expect("gbk"), "gb18030");
        // Mostly UTF-8 with one broken byte: still UTF-8, so the bad line gets reported.
        let mut damaged = text.repeat(4).into_bytes();
        damaged.insert(10, 0xff);
        assert_eq!(pick(&damaged).expect("damaged utf-8"), "UTF-8");
        let mut bom = vec![0xef, 0xbb, 0xbf];
        bom.extend_from_slice(b"a,b\n");
        assert_eq!(pick(&bom).expect("bom"), "UTF-8");
        let trad = "姓名,身份證號,住址\n張偉,A123456789,臺北市中正區重慶南路一段122號\n陳麗華,B223456789,高雄市前鎮區\n";
        let (big5, _, _) = encoding_rs::BIG5.encode(trad);
        assert!(matches!(
            detect_encoding(p, &big5, true, None),
            Err(Error::UnsupportedEncoding { .. })
        ));
        // An explicit encoding wins over detection.
        assert_eq!(
            detect_encoding(p, &big5, true, Some(encoding_rs::BIG5))
                .expect("forced")
                .name(),
            "Big5"
        );
    }

    #[test]
    fn headers_are_trimmed_and_trailing_blanks_dropped() {
        let h = header_cells(["\u{FEFF} 姓名\u{3000}", "身份证号 ", "", ""].into_iter());
        assert_eq!(h, vec!["姓名", "身份证号"]);
    }
}
