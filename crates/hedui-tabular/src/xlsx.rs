//! Excel workbooks through calamine's streaming cell reader. The rules are in the crate docs,
//! "Reading Excel".

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use calamine::{DataRef, Reader, Xlsx, XlsxError};
use chrono::{TimeDelta, Timelike};

use crate::column::{TextColumn, write_float};
use crate::error::Error;
use crate::{BadRow, Want};

/// What reading a workbook produced.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub sheet: String,
    pub headers: Vec<String>,
    pub columns: Vec<TextColumn>,
    pub row_numbers: Vec<u64>,
    pub bad_rows: Vec<BadRow>,
}

fn corrupt(path: &Path, e: XlsxError) -> Error {
    match e {
        XlsxError::Io(io) => Error::read(path, io),
        other => Error::CorruptXlsx {
            path: path.to_owned(),
            message: other.to_string(),
        },
    }
}

/// A cell as text, or the reason it has none.
enum CellText<'a> {
    Empty,
    Text(&'a str),
    Rendered,
    Error(String),
}

/// Renders `value` into `buf` (cleared first) unless it is plain text, empty or an error.
fn cell_text<'a>(value: &'a DataRef<'_>, buf: &mut String) -> CellText<'a> {
    buf.clear();
    match value {
        DataRef::Empty => CellText::Empty,
        DataRef::String(s) if s.is_empty() => CellText::Empty,
        DataRef::SharedString("") => CellText::Empty,
        DataRef::String(s) => CellText::Text(s),
        DataRef::SharedString(s) => CellText::Text(s),
        DataRef::Int(i) => {
            buf.push_str(&i.to_string());
            CellText::Rendered
        }
        DataRef::Float(f) => {
            write_float(buf, *f);
            CellText::Rendered
        }
        DataRef::Bool(b) => {
            buf.push_str(if *b { "true" } else { "false" });
            CellText::Rendered
        }
        DataRef::DateTime(dt) => {
            write_excel_datetime(buf, dt);
            CellText::Rendered
        }
        DataRef::DateTimeIso(s) => {
            let s = s.replacen('T', " ", 1);
            buf.push_str(s.strip_suffix(" 00:00:00").unwrap_or(&s));
            CellText::Rendered
        }
        DataRef::DurationIso(s) => CellText::Text(s),
        DataRef::Error(e) => CellText::Error(e.to_string()),
    }
}

fn write_excel_datetime(buf: &mut String, dt: &calamine::ExcelDateTime) {
    if dt.is_duration() {
        let secs = (dt.as_f64() * 86_400.0).round() as i64;
        let (sign, secs) = if secs < 0 { ("-", -secs) } else { ("", secs) };
        buf.push_str(&format!(
            "{sign}{}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        ));
        return;
    }
    let Some(t) = dt.as_datetime() else {
        write_float(buf, dt.as_f64());
        return;
    };
    // as_datetime keeps milliseconds; a time typed into Excel is whole seconds plus float noise.
    let t = t + TimeDelta::milliseconds(500);
    let t = t.with_nanosecond(0).unwrap_or(t);
    let serial = dt.as_f64();
    if (0.0..1.0).contains(&serial) {
        // A time of day with no date (Excel's day 0).
        buf.push_str(&t.format("%H:%M:%S").to_string());
    } else if t.time() == chrono::NaiveTime::MIN {
        buf.push_str(&t.format("%Y-%m-%d").to_string());
    } else {
        buf.push_str(&t.format("%Y-%m-%d %H:%M:%S").to_string());
    }
}

/// Excel's column letters for a 0-based column index (`0` → `A`, `27` → `AB`).
pub(crate) fn column_letters(mut col: u32) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// Reads a workbook.
pub(crate) fn read(path: &Path, sheet: Option<&str>, want: Want<'_>) -> Result<Parsed, Error> {
    // Open the file ourselves first so that "not found" and "permission denied" are reported
    // as such, not as a corrupt workbook.
    let file = File::open(path).map_err(|e| Error::read(path, e))?;
    let mut workbook: Xlsx<_> =
        Xlsx::new(BufReader::with_capacity(1 << 16, file)).map_err(|e| corrupt(path, e))?;
    let sheets = workbook.sheet_names();
    let sheet = match sheet {
        Some(name) => sheets
            .iter()
            .find(|s| s.as_str() == name)
            .cloned()
            .ok_or_else(|| Error::SheetNotFound {
                path: path.to_owned(),
                sheet: name.to_owned(),
                sheets: sheets.clone(),
            })?,
        None => sheets.first().cloned().ok_or_else(|| Error::CorruptXlsx {
            path: path.to_owned(),
            message: "the workbook has no worksheet".to_owned(),
        })?,
    };
    let mut cells = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(|e| corrupt(path, e))?;
    let declared_rows = {
        let d = cells.dimensions();
        (d.end.0.saturating_sub(d.start.0) as usize).min(1 << 20)
    };
    let mut buf = String::new();

    // The header: the first row with a non-empty cell.
    let mut header_cells: Vec<(u32, String)> = Vec::new();
    let mut header_row = None;
    let mut pending = None;
    // calamine's reader must not be asked again once it has said "no more cells".
    let mut exhausted = true;
    while let Some(cell) = cells.next_cell().map_err(|e| corrupt(path, e))? {
        let (r, c) = cell.get_position();
        if let Some(h) = header_row
            && r != h
        {
            pending = Some(cell);
            exhausted = false;
            break;
        }
        let text = match cell_text(cell.get_value(), &mut buf) {
            CellText::Empty => continue,
            CellText::Text(s) => s.to_owned(),
            CellText::Rendered => buf.clone(),
            CellText::Error(e) => e,
        };
        let text = crate::delimited::clean_header(&text).to_owned();
        if text.is_empty() {
            continue;
        }
        header_row = Some(r);
        header_cells.push((c, text));
    }
    let Some(header_row) = header_row else {
        return Err(Error::Empty {
            path: path.to_owned(),
        });
    };
    let width = header_cells.last().map_or(0, |(c, _)| *c as usize + 1);
    let mut headers = vec![String::new(); width];
    for (c, text) in header_cells {
        headers[c as usize] = text;
    }
    let projection = match want {
        Want::Headers => {
            return Ok(Parsed {
                sheet,
                headers,
                columns: Vec::new(),
                row_numbers: Vec::new(),
                bad_rows: Vec::new(),
            });
        }
        Want::Columns(p) => crate::resolve_projection(path, p, width)?,
    };
    // For each file column, its slot in the projection.
    let mut slot_of = vec![None; width];
    for (slot, &source) in projection.iter().enumerate() {
        slot_of[source] = Some(slot);
    }
    let rows_hint = declared_rows.saturating_sub(header_row as usize);
    let mut columns: Vec<TextColumn> = projection
        .iter()
        .map(|_| TextColumn::with_capacity(rows_hint, 0))
        .collect();
    let mut row_numbers = Vec::with_capacity(rows_hint);
    let mut bad_rows = Vec::new();

    let mut row = RowState::new(projection.len());
    let mut next = pending;
    loop {
        let cell = match next.take() {
            Some(c) => Some(c),
            None if exhausted => None,
            None => cells.next_cell().map_err(|e| corrupt(path, e))?,
        };
        let Some(cell) = cell else { break };
        let (r, c) = cell.get_position();
        if row.row != Some(r) {
            row.finish(&mut columns, &mut row_numbers, &mut bad_rows);
            row.start(r);
        }
        let slot = slot_of.get(c as usize).copied();
        let value = cell.get_value();
        match cell_text(value, &mut buf) {
            CellText::Empty => {}
            CellText::Error(e) => {
                row.non_empty = true;
                if let Some(Some(_)) = slot {
                    row.notes.push(format!(
                        "cell {}{}: Excel error {e}, read as empty",
                        column_letters(c),
                        r + 1
                    ));
                }
            }
            text => {
                row.non_empty = true;
                match slot {
                    Some(Some(s)) => {
                        if !row.filled[s] {
                            row.filled[s] = true;
                            match text {
                                CellText::Text(t) => columns[s].push(Some(t)),
                                _ => columns[s].push(Some(&buf)),
                            }
                        }
                    }
                    Some(None) => {}
                    None => {
                        if row.beyond.is_none() {
                            row.beyond = Some(c);
                        }
                    }
                }
            }
        }
    }
    row.finish(&mut columns, &mut row_numbers, &mut bad_rows);
    for c in &mut columns {
        c.shrink_to_fit();
    }
    row_numbers.shrink_to_fit();
    Ok(Parsed {
        sheet,
        headers,
        columns,
        row_numbers,
        bad_rows,
    })
}

/// The row being assembled. Values of projected columns are pushed straight into the columns
/// as they stream past; at the end of the row the unfilled columns get a null.
struct RowState {
    row: Option<u32>,
    non_empty: bool,
    filled: Vec<bool>,
    notes: Vec<String>,
    beyond: Option<u32>,
}

impl RowState {
    fn new(slots: usize) -> Self {
        RowState {
            row: None,
            non_empty: false,
            filled: vec![false; slots],
            notes: Vec::new(),
            beyond: None,
        }
    }

    fn start(&mut self, r: u32) {
        self.row = Some(r);
        self.non_empty = false;
        self.filled.fill(false);
        self.notes.clear();
        self.beyond = None;
    }

    fn finish(
        &mut self,
        columns: &mut [TextColumn],
        row_numbers: &mut Vec<u64>,
        bad_rows: &mut Vec<BadRow>,
    ) {
        let Some(r) = self.row else { return };
        if !self.non_empty {
            // Formatting without values; nothing was pushed.
            return;
        }
        for (column, filled) in columns.iter_mut().zip(&self.filled) {
            if !filled {
                column.push(None);
            }
        }
        let index = row_numbers.len();
        let line = u64::from(r) + 1;
        row_numbers.push(line);
        for reason in self.notes.drain(..) {
            bad_rows.push(BadRow {
                line,
                reason,
                row: Some(index),
                fields: Vec::new(),
            });
        }
        if let Some(c) = self.beyond {
            bad_rows.push(BadRow {
                line,
                reason: format!(
                    "values beyond the last header column (from cell {}{}) were ignored",
                    column_letters(c),
                    line
                ),
                row: Some(index),
                fields: Vec::new(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_like_excel() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }
}
