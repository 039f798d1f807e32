//! Reading one snapshot file of a dataset into [`Staged`] rows.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use hedui_model::DatasetSchema;

use crate::Error;
use crate::store::Staged;

/// A snapshot file read and serialised.
#[derive(Debug)]
pub(crate) struct ReadFile {
    pub path: PathBuf,
    pub staged: Staged,
    /// Data rows in the file (`rows_staged + skipped`).
    pub rows_read: u64,
    /// Rows that could not be served (unparseable JSON line, ragged CSV row), with reasons.
    pub skipped: Vec<(u64, String)>,
    /// Schema columns the file lacks (served as null).
    pub missing_columns: Vec<String>,
    /// File columns the schema does not know (not served).
    pub ignored_columns: Vec<String>,
}

/// The file of `schema` in `snapshot_dir`, if there is one: the schema's delivery extension
/// first, then any other format hedui reads.
pub(crate) fn find_file(snapshot_dir: &Path, schema: &DatasetSchema) -> Option<PathBuf> {
    let base = snapshot_dir.join(&schema.department);
    let preferred = schema.delivery.format.extension();
    std::iter::once(preferred)
        .chain(
            ["jsonl", "csv", "xlsx", "parquet"]
                .into_iter()
                .filter(|e| *e != preferred),
        )
        .map(|ext| base.join(format!("{}.{ext}", schema.dataset)))
        .find(|p| p.is_file())
}

/// Reads `path` as a file of `schema`; `prefixes` are the body prefixes of the served columns
/// (the schema's `source` headers, in order).
pub(crate) fn read_file(
    path: &Path,
    schema: &DatasetSchema,
    prefixes: &[Vec<u8>],
) -> Result<ReadFile, Error> {
    let headers: Vec<&str> = schema.source_headers();
    let key_index = schema.index_of(&schema.key);
    let is_jsonl = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("json"));
    if is_jsonl {
        read_jsonl(path, &headers, key_index, prefixes)
    } else {
        read_tabular(path, &headers, key_index, prefixes)
    }
}

fn read_tabular(
    path: &Path,
    headers: &[&str],
    key_index: Option<usize>,
    prefixes: &[Vec<u8>],
) -> Result<ReadFile, Error> {
    let table = hedui_tabular::read_table(path, None).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let columns: Vec<Option<&hedui_tabular::TextColumn>> =
        headers.iter().map(|h| table.column(h)).collect();
    let missing_columns = headers
        .iter()
        .zip(&columns)
        .filter(|(_, c)| c.is_none())
        .map(|(h, _)| (*h).to_owned())
        .collect();
    let ignored_columns = table
        .file_headers
        .iter()
        .filter(|h| !headers.contains(&h.as_str()))
        .cloned()
        .collect();
    let mut staged = Staged::new();
    for row in 0..table.num_rows() {
        let key = key_index.and_then(|k| columns[k].and_then(|c| c.get(row)));
        staged.push(
            prefixes,
            key,
            columns.iter().map(|c| c.and_then(|c| c.get(row))),
        );
    }
    let skipped: Vec<(u64, String)> = table
        .bad_rows
        .iter()
        .filter(|b| b.row.is_none())
        .map(|b| (b.line, b.reason.clone()))
        .collect();
    Ok(ReadFile {
        path: path.to_owned(),
        rows_read: (staged.len() + skipped.len()) as u64,
        staged,
        skipped,
        missing_columns,
        ignored_columns,
    })
}

fn read_jsonl(
    path: &Path,
    headers: &[&str],
    key_index: Option<usize>,
    prefixes: &[Vec<u8>],
) -> Result<ReadFile, Error> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut staged = Staged::new();
    let mut skipped = Vec::new();
    let mut seen_headers = vec![false; headers.len()];
    let mut ignored_columns: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut line_no = 0u64;
    let mut values: Vec<Option<String>> = vec![None; headers.len()];
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = line.trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            continue;
        }
        let object: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                skipped.push((line_no, "line is not a JSON object".to_owned()));
                continue;
            }
            Err(e) => {
                skipped.push((line_no, format!("line is not valid JSON: {e}")));
                continue;
            }
        };
        for v in values.iter_mut() {
            *v = None;
        }
        for (name, value) in object {
            let Some(i) = headers.iter().position(|h| *h == name) else {
                if !ignored_columns.contains(&name) {
                    ignored_columns.push(name);
                }
                continue;
            };
            seen_headers[i] = true;
            values[i] = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) if s.is_empty() => None,
                serde_json::Value::String(s) => Some(s),
                other => Some(other.to_string()),
            };
        }
        let key = key_index.and_then(|k| values[k].as_deref());
        staged.push(prefixes, key, values.iter().map(|v| v.as_deref()));
    }
    let missing_columns = if staged.len() == 0 {
        Vec::new()
    } else {
        headers
            .iter()
            .zip(&seen_headers)
            .filter(|(_, seen)| !**seen)
            .map(|(h, _)| (*h).to_owned())
            .collect()
    };
    Ok(ReadFile {
        path: path.to_owned(),
        rows_read: (staged.len() + skipped.len()) as u64,
        staged,
        skipped,
        missing_columns,
        ignored_columns,
    })
}
