//! The file drop source: a directory receiving CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 —
//! detected by `hedui-tabular`), XLSX and Parquet. Each file is ingested once, recognised by
//! the SHA-256 of its content (recorded in the committed partition manifests), then moved to
//! the archive directory; a file that cannot be read as a whole (empty, undecodable, schema
//! drift) is moved to `<archive_dir>/rejected/` with a `.reason.txt` beside it.

use std::io::Read;
use std::path::{Path, PathBuf};

use hedui_lake::FileRecord;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::sink::RowSink;
use crate::spec::FileDropSpec;

/// `*` matches any run of characters, `?` one character; case-insensitive.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The files waiting in the drop directory, by name.
pub fn pending_files(spec: &FileDropSpec) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&spec.dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(&spec.dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&spec.dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        if spec.patterns.iter().any(|p| glob_match(p, &name)) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// SHA-256 (hex) and size of a file, streamed.
pub fn checksum(path: &Path) -> Result<(String, u64), Error> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(h.finalize()), total))
}

/// Moves a handled file to the archive (`rejected` with a reason file when `reason` is set).
pub fn archive(spec: &FileDropSpec, path: &Path, rejected: Option<&str>) -> Result<PathBuf, Error> {
    let dir = match rejected {
        Some(_) => spec.archive_dir.join("rejected"),
        None => spec.archive_dir.clone(),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let mut target = dir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{n}-{name}"));
        n += 1;
    }
    std::fs::rename(path, &target).map_err(|e| Error::io(&target, e))?;
    if let Some(reason) = rejected {
        let note = target.with_file_name(format!(
            "{}.reason.txt",
            target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        std::fs::write(&note, format!("{reason}\n")).map_err(|e| Error::io(&note, e))?;
    }
    Ok(target)
}

/// Why a whole file was not ingested.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// Unreadable, empty, wrong encoding …
    Unreadable(String),
    /// Its headers do not match the schema.
    Drift(String),
    /// Writing its rows to the lake failed (not the file's fault: the run fails).
    Lake(Error),
}

/// Rows read and handed to the sink at a time: what a file costs in memory, whatever its size.
const CHUNK_ROWS: usize = 50_000;

/// Reads one file into the sink, chunk by chunk (rows beyond the checkpoint size go to the
/// lake as uncommitted parts as they come). A file that turns out unreadable or drifted
/// part-way is rejected; the caller then drops what it handed over, so a rejected file leaves
/// no rows behind.
pub(crate) fn ingest_file(
    sink: &mut RowSink,
    path: &Path,
    record: &mut FileRecord,
) -> Result<(), Rejection> {
    let before = sink.counts;
    let width = sink.plan().width();
    let chunk = CHUNK_ROWS.min(sink.checkpoint_rows());
    let mut mapping: Option<Vec<Option<usize>>> = None;
    let mut failed: Option<Rejection> = None;
    let (mut rows, mut bad) = (0usize, 0usize);
    let mut encoding = None;
    let mut push_chunk = |table: hedui_tabular::Table| {
        if failed.is_some() {
            return;
        }
        if mapping.is_none() {
            match sink.plan().map_headers(&table.file_headers, &[]) {
                Ok(m) => mapping = Some(m),
                Err(d) => {
                    failed = Some(Rejection::Drift(d.to_string()));
                    return;
                }
            }
            encoding = table.encoding;
        }
        let Some(mapping) = mapping.as_ref() else {
            return;
        };
        rows += table.num_rows();
        bad += table.bad_rows.len();
        let mut notes: std::collections::BTreeMap<usize, Vec<String>> =
            std::collections::BTreeMap::new();
        let mut left_out = Vec::new();
        for b in &table.bad_rows {
            match b.row {
                Some(i) => notes
                    .entry(i)
                    .or_default()
                    .push(format!("line {}: {}", b.line, b.reason)),
                None => left_out.push(b),
            }
        }
        let mut values: Vec<Option<&str>> = vec![None; width];
        for r in 0..table.num_rows() {
            values.iter_mut().for_each(|v| *v = None);
            for (j, col) in mapping.iter().enumerate() {
                if let (Some(c), Some(column)) = (col, table.source_column(j)) {
                    values[*c] = column.get(r);
                }
            }
            let seq = i64::try_from(table.row_numbers[r]).unwrap_or(i64::MAX);
            match notes.get(&r) {
                Some(n) => sink.push_quarantine(seq, &values, &n.join("; ")),
                None => sink.push(seq, &values),
            }
        }
        for b in left_out {
            values.iter_mut().for_each(|v| *v = None);
            for (j, field) in b.fields.iter().enumerate() {
                if let Some(Some(c)) = mapping.get(j) {
                    values[*c] = Some(field.as_str()).filter(|s| !s.is_empty());
                }
            }
            let seq = i64::try_from(b.line).unwrap_or(i64::MAX);
            sink.push_quarantine(seq, &values, &format!("line {}: {}", b.line, b.reason));
        }
        if let Err(e) = sink.spill() {
            failed = Some(Rejection::Lake(e));
        }
    };
    let read = hedui_tabular::read_table_chunked(
        path,
        &hedui_tabular::ReadOptions::default(),
        chunk,
        &mut push_chunk,
    );
    if let Some(f) = failed {
        return Err(f);
    }
    read.map_err(|e| Rejection::Unreadable(e.to_string()))?;
    let after = sink.counts;
    record.rows_read = after.read - before.read;
    record.rows_written = after.written - before.written;
    record.rows_quarantined = after.quarantined - before.quarantined;
    let mut note = Vec::new();
    if let Some(enc) = encoding {
        note.push(format!("encoding {enc}"));
    }
    if rows == 0 && bad == 0 {
        note.push("header only: no data rows".to_owned());
    }
    if !note.is_empty() {
        record.reason = Some(note.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.csv", "人社缴费.CSV"));
        assert!(glob_match("pop_????.xlsx", "pop_2021.xlsx"));
        assert!(!glob_match("*.csv", "a.csv.tmp"));
        assert!(glob_match("*", "x"));
    }
}
