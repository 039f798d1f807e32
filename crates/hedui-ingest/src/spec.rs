//! The pipeline file: `[pipeline]` and `[[sources]]` of `pipelines/*.toml`, read with the
//! `config` crate and validated with every problem reported at once. Other top-level sections
//! (`[linkage]`, `[verify]`, `[publish]` …) belong to later stages and are ignored here.
//!
//! ```toml
//! [pipeline]
//! name = "nightly"
//! data_dir = "../hedui-data"          # relative to this file; the lake is <data_dir>/lake
//! timezone = "Asia/Shanghai"          # or "UTC", "+08:00"
//! schedule = "0 0 2 * * *"            # cron with seconds: the nightly run
//!
//! [[sources]]
//! name = "gongan_population"
//! department = "gongan"
//! dataset = "population"
//! kind = "http"                        # http | database | file_drop
//! schedule = "0 0 1 * * *"
//! [sources.http]
//! base_url = "http://127.0.0.1:18080/api/v1"
//! auth = "signed"                      # signed | bearer
//! app_key = "hedui-gongan"
//! secret_env = "HEDUI_GONGAN_SECRET"   # the secret/token comes from this variable
//! format = "json"                      # json | csv
//! page_size = 5000
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::FixedOffset;
use serde_json::Value;

use crate::Error;

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// App key + HMAC-SHA256 signature (docs/department-api.md).
    Signed,
    /// `Authorization: Bearer <token>`.
    Bearer,
}

/// The page format requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    /// JSON pages.
    Json,
    /// GB18030 CSV pages with pagination in headers.
    Csv,
}

/// An HTTP API source (the provincial data-sharing platform style).
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// e.g. `http://127.0.0.1:18080/api/v1`.
    pub base_url: String,
    /// Signing or bearer token.
    pub auth: Auth,
    /// The app key (signed auth).
    pub app_key: Option<String>,
    /// Name of the environment variable holding the secret (signed) or token (bearer).
    pub secret_env: String,
    /// JSON or CSV pages.
    pub format: PageFormat,
    /// Records per page (1..=10000, default 5000).
    pub page_size: u32,
    /// Requests per second this client allows itself (none = unlimited).
    pub rate_limit_per_sec: Option<f64>,
    /// Per-request timeout (default 30 s).
    pub timeout_secs: f64,
    /// Retries of one page after timeouts, 5xx, 429 and broken bodies (default 8).
    pub max_retries: u32,
    /// First backoff delay in milliseconds, doubled per retry, with jitter (default 250).
    pub retry_base_ms: u64,
}

/// A database table (a department's 前置库).
#[derive(Debug, Clone)]
pub struct DatabaseSpec {
    /// Name of the environment variable holding the connection URL
    /// (`postgres://…` or `mysql://…`); URLs carry passwords, so never in the file.
    pub url_env: String,
    /// Table name (`[A-Za-z0-9_]`, optionally `schema.table`).
    pub table: String,
    /// The incremental key column (default `seq`).
    pub key: String,
    /// Rows per query (default 10000).
    pub batch_size: u32,
}

/// A directory that receives files.
#[derive(Debug, Clone)]
pub struct FileDropSpec {
    /// Watched directory.
    pub dir: PathBuf,
    /// Where ingested files are moved (rejected files go to `<archive_dir>/rejected/`).
    pub archive_dir: PathBuf,
    /// File name patterns (`*` and `?`), e.g. `["*.csv", "*.xlsx"]`.
    pub patterns: Vec<String>,
}

/// Kind-specific settings.
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// HTTP API.
    Http(HttpSpec),
    /// Database table.
    Database(DatabaseSpec),
    /// File drop directory.
    FileDrop(FileDropSpec),
}

impl SourceKind {
    /// `http`, `database`, `file_drop`.
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::Http(_) => "http",
            SourceKind::Database(_) => "database",
            SourceKind::FileDrop(_) => "file_drop",
        }
    }
}

/// One `[[sources]]` entry.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Unique name (`[A-Za-z0-9_-]`), used in the lake's lineage and state.
    pub name: String,
    /// Department key (`schemas/<department>/`).
    pub department: String,
    /// Dataset key.
    pub dataset: String,
    /// When the daemon pulls it.
    pub schedule: Option<cron::Schedule>,
    /// The cron expression as written.
    pub schedule_text: Option<String>,
    /// Commit a part after this many buffered rows (default 200000).
    pub checkpoint_rows: usize,
    /// …or after this many seconds since the last commit (default 5).
    pub checkpoint_secs: f64,
    /// Kind-specific settings.
    pub kind: SourceKind,
}

/// A validated pipeline file.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The file read.
    pub file: PathBuf,
    /// `[pipeline] name`.
    pub name: String,
    /// `[pipeline] data_dir` (resolved).
    pub data_dir: PathBuf,
    /// `[pipeline] timezone` as written.
    pub timezone_name: String,
    /// Its offset (China has no daylight saving time).
    pub timezone: FixedOffset,
    /// `[pipeline] schedule`: the nightly run.
    pub schedule: Option<cron::Schedule>,
    /// The cron expression as written.
    pub schedule_text: Option<String>,
    /// The sources, in file order.
    pub sources: Vec<SourceSpec>,
}

impl Pipeline {
    /// Reads and validates a pipeline file.
    ///
    /// # Errors
    ///
    /// [`Error::Pipeline`] listing every problem found (the user's fault).
    pub fn load(path: impl AsRef<Path>) -> Result<Pipeline, Error> {
        let path = path.as_ref();
        let cfg = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .build()
            .map_err(|e| Error::Pipeline {
                path: path.to_owned(),
                problems: vec![e.to_string()],
            })?;
        let value: Value = cfg.try_deserialize().map_err(|e| Error::Pipeline {
            path: path.to_owned(),
            problems: vec![e.to_string()],
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Pipeline::from_value(path, &base, &value)
    }

    /// The lake directory: `<data_dir>/lake`.
    pub fn lake_dir(&self) -> PathBuf {
        self.data_dir.join("lake")
    }

    /// The source with this name.
    pub fn source(&self, name: &str) -> Option<&SourceSpec> {
        self.sources.iter().find(|s| s.name == name)
    }

    fn from_value(path: &Path, base: &Path, value: &Value) -> Result<Pipeline, Error> {
        let mut p = Problems::default();
        let catalog =
            hedui_model::Catalog::builtin().map_err(|e| Error::Internal(e.to_string()))?;
        let empty = serde_json::Map::new();
        let pipe = match value.get("pipeline") {
            Some(Value::Object(m)) => m,
            Some(_) => {
                p.push("[pipeline] must be a table".into());
                &empty
            }
            None => {
                p.push("missing [pipeline] section".into());
                &empty
            }
        };
        let t = Table {
            map: pipe,
            at: "[pipeline]".into(),
        };
        let name = t.string(&mut p, "name", true).unwrap_or_default();
        let data_dir = t
            .string(&mut p, "data_dir", false)
            .map(|d| resolve(base, &d))
            .unwrap_or_else(|| resolve(base, "hedui-data"));
        let timezone_name = t
            .string(&mut p, "timezone", false)
            .unwrap_or_else(|| "Asia/Shanghai".into());
        let timezone = match parse_timezone(&timezone_name) {
            Some(tz) => tz,
            None => {
                p.push(format!(
                    "[pipeline] timezone {timezone_name:?} is not supported (use Asia/Shanghai, UTC or an offset such as +08:00)"
                ));
                FixedOffset::east_opt(8 * 3600)
                    .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
            }
        };
        let schedule_text = t.string(&mut p, "schedule", false);
        let schedule = schedule_text
            .as_deref()
            .and_then(|s| parse_cron(&mut p, "[pipeline] schedule", s));

        let mut sources = Vec::new();
        match value.get("sources") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(s) = source(&mut p, &catalog, base, i, item) {
                        if sources.iter().any(|o: &SourceSpec| o.name == s.name) {
                            p.push(format!(
                                "[[sources]] #{}: name {:?} is used twice",
                                i + 1,
                                s.name
                            ));
                        }
                        sources.push(s);
                    }
                }
            }
            Some(_) => p.push("sources must be an array of tables ([[sources]])".into()),
        }
        if p.0.is_empty() {
            Ok(Pipeline {
                file: path.to_owned(),
                name,
                data_dir,
                timezone_name,
                timezone,
                schedule,
                schedule_text,
                sources,
            })
        } else {
            Err(Error::Pipeline {
                path: path.to_owned(),
                problems: p.0,
            })
        }
    }
}

#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, s: String) {
        self.0.push(s);
    }
}

struct Table<'a> {
    map: &'a serde_json::Map<String, Value>,
    at: String,
}

impl Table<'_> {
    fn string(&self, p: &mut Problems, key: &str, required: bool) -> Option<String> {
        match self.map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::String(_)) | None => {
                if required {
                    p.push(format!("{}: {key} is required", self.at));
                }
                None
            }
            Some(other) => {
                p.push(format!(
                    "{}: {key} must be a string, found {other}",
                    self.at
                ));
                None
            }
        }
    }

    fn number(&self, p: &mut Problems, key: &str, min: f64, max: f64) -> Option<f64> {
        let v = self.map.get(key)?;
        let n = match v {
            Value::Number(n) => n.as_f64(),
            // config may hand numbers over as strings
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= min && n <= max => Some(n),
            _ => {
                p.push(format!(
                    "{}: {key} must be a number in {min}..={max}, found {v}",
                    self.at
                ));
                None
            }
        }
    }

    fn strings(&self, p: &mut Problems, key: &str) -> Option<Vec<String>> {
        match self.map.get(key)? {
            Value::Array(items) => {
                let mut out = Vec::new();
                for i in items {
                    match i {
                        Value::String(s) => out.push(s.clone()),
                        other => p.push(format!(
                            "{}: {key} must hold strings, found {other}",
                            self.at
                        )),
                    }
                }
                Some(out)
            }
            Value::String(s) => Some(vec![s.clone()]),
            other => {
                p.push(format!(
                    "{}: {key} must be a list of strings, found {other}",
                    self.at
                ));
                None
            }
        }
    }

    fn check_keys(&self, p: &mut Problems, known: &[&str]) {
        for k in self.map.keys() {
            if !known.contains(&k.as_str()) {
                p.push(format!(
                    "{}: unknown setting {k:?} (known: {})",
                    self.at,
                    known.join(", ")
                ));
            }
        }
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let path = PathBuf::from(p);
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `Asia/Shanghai` (and the other zones of China), `UTC`, or a fixed offset `+08:00`.
pub fn parse_timezone(s: &str) -> Option<FixedOffset> {
    match s {
        "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Harbin" | "Asia/Urumqi" | "PRC" | "CST" => {
            FixedOffset::east_opt(8 * 3600)
        }
        "UTC" | "Etc/UTC" | "Z" => FixedOffset::east_opt(0),
        other => FixedOffset::from_str(other).ok(),
    }
}

fn parse_cron(p: &mut Problems, at: &str, s: &str) -> Option<cron::Schedule> {
    match cron::Schedule::from_str(s) {
        Ok(c) => Some(c),
        Err(e) => {
            p.push(format!("{at}: {s:?} is not a cron expression with a seconds field (e.g. \"0 0 1 * * *\"): {e}"));
            None
        }
    }
}

fn source(
    p: &mut Problems,
    catalog: &hedui_model::Catalog,
    base: &Path,
    i: usize,
    item: &Value,
) -> Option<SourceSpec> {
    let Value::Object(map) = item else {
        p.push(format!("[[sources]] #{} must be a table", i + 1));
        return None;
    };
    let label = map.get("name").and_then(Value::as_str).map_or_else(
        || format!("[[sources]] #{}", i + 1),
        |n| format!("source {n:?}"),
    );
    let t = Table {
        map,
        at: label.clone(),
    };
    t.check_keys(
        p,
        &[
            "name",
            "department",
            "dataset",
            "kind",
            "schedule",
            "checkpoint_rows",
            "checkpoint_secs",
            "http",
            "database",
            "file_drop",
        ],
    );
    let name = t.string(p, "name", true);
    if let Some(n) = &name
        && !safe_name(n)
    {
        p.push(format!(
            "{label}: name must use only letters, digits, _ and -"
        ));
    }
    let department = t.string(p, "department", true);
    let dataset = t.string(p, "dataset", true);
    if let (Some(d), Some(s)) = (&department, &dataset)
        && catalog.dataset(d, s).is_none()
    {
        p.push(format!("{label}: no schema for {d}/{s} in schemas/"));
    }
    let schedule_text = t.string(p, "schedule", false);
    let schedule = schedule_text
        .as_deref()
        .and_then(|s| parse_cron(p, &format!("{label}: schedule"), s));
    let checkpoint_rows = t
        .number(p, "checkpoint_rows", 1.0, 1e8)
        .map_or(200_000, |n| n as usize);
    let checkpoint_secs = t.number(p, "checkpoint_secs", 0.0, 86400.0).unwrap_or(5.0);
    let kind_name = t.string(p, "kind", true);
    let sub = |key: &str| -> Option<Table<'_>> {
        match map.get(key) {
            Some(Value::Object(m)) => Some(Table {
                map: m,
                at: format!("{label} [{key}]"),
            }),
            _ => None,
        }
    };
    let kind = match kind_name.as_deref() {
        Some("http") => {
            let Some(h) = sub("http") else {
                p.push(format!(
                    "{label}: kind = \"http\" needs a [sources.http] table"
                ));
                return None;
            };
            h.check_keys(
                p,
                &[
                    "base_url",
                    "auth",
                    "app_key",
                    "secret_env",
                    "format",
                    "page_size",
                    "rate_limit_per_sec",
                    "timeout_secs",
                    "max_retries",
                    "retry_base_ms",
                ],
            );
            let base_url = h.string(p, "base_url", true).unwrap_or_default();
            if !base_url.is_empty() && reqwest::Url::parse(&base_url).is_err() {
                p.push(format!("{}: base_url {base_url:?} is not a URL", h.at));
            }
            let auth = match h.string(p, "auth", false).as_deref() {
                None | Some("signed") => Auth::Signed,
                Some("bearer") => Auth::Bearer,
                Some(other) => {
                    p.push(format!(
                        "{}: auth must be \"signed\" or \"bearer\", found {other:?}",
                        h.at
                    ));
                    Auth::Signed
                }
            };
            let app_key = h.string(p, "app_key", false);
            if auth == Auth::Signed && app_key.is_none() {
                p.push(format!("{}: auth = \"signed\" needs app_key", h.at));
            }
            let secret_env = h.string(p, "secret_env", true).unwrap_or_default();
            let format = match h.string(p, "format", false).as_deref() {
                None | Some("json") => PageFormat::Json,
                Some("csv") => PageFormat::Csv,
                Some(other) => {
                    p.push(format!(
                        "{}: format must be \"json\" or \"csv\", found {other:?}",
                        h.at
                    ));
                    PageFormat::Json
                }
            };
            SourceKind::Http(HttpSpec {
                base_url: base_url.trim_end_matches('/').to_owned(),
                auth,
                app_key,
                secret_env,
                format,
                page_size: h
                    .number(p, "page_size", 1.0, 10000.0)
                    .map_or(5000, |n| n as u32),
                rate_limit_per_sec: h.number(p, "rate_limit_per_sec", 0.01, 1e6),
                timeout_secs: h.number(p, "timeout_secs", 0.05, 3600.0).unwrap_or(30.0),
                max_retries: h
                    .number(p, "max_retries", 0.0, 1000.0)
                    .map_or(8, |n| n as u32),
                retry_base_ms: h
                    .number(p, "retry_base_ms", 0.0, 600_000.0)
                    .map_or(250, |n| n as u64),
            })
        }
        Some("database") => {
            let Some(d) = sub("database") else {
                p.push(format!(
                    "{label}: kind = \"database\" needs a [sources.database] table"
                ));
                return None;
            };
            d.check_keys(p, &["url_env", "table", "key", "batch_size"]);
            let url_env = d.string(p, "url_env", true).unwrap_or_default();
            let table = d.string(p, "table", true).unwrap_or_default();
            let ident_ok = |s: &str| {
                !s.is_empty()
                    && s.split('.').all(|part| {
                        !part.is_empty()
                            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    })
            };
            if !table.is_empty() && !ident_ok(&table) {
                p.push(format!(
                    "{}: table {table:?} must be [A-Za-z0-9_] (optionally schema.table)",
                    d.at
                ));
            }
            let key = d.string(p, "key", false).unwrap_or_else(|| "seq".into());
            if !ident_ok(&key) || key.contains('.') {
                p.push(format!("{}: key {key:?} must be a plain column name", d.at));
            }
            SourceKind::Database(DatabaseSpec {
                url_env,
                table,
                key,
                batch_size: d
                    .number(p, "batch_size", 1.0, 1e6)
                    .map_or(10_000, |n| n as u32),
            })
        }
        Some("file_drop") => {
            let Some(f) = sub("file_drop") else {
                p.push(format!(
                    "{label}: kind = \"file_drop\" needs a [sources.file_drop] table"
                ));
                return None;
            };
            f.check_keys(p, &["dir", "archive_dir", "patterns"]);
            let dir = f
                .string(p, "dir", true)
                .map(|d| resolve(base, &d))
                .unwrap_or_default();
            let archive_dir = f
                .string(p, "archive_dir", false)
                .map(|d| resolve(base, &d))
                .unwrap_or_else(|| dir.join("archive"));
            let patterns = f
                .strings(p, "patterns")
                .unwrap_or_else(|| vec!["*.csv".into(), "*.xlsx".into(), "*.parquet".into()]);
            if patterns.is_empty() {
                p.push(format!("{}: patterns must not be empty", f.at));
            }
            SourceKind::FileDrop(FileDropSpec {
                dir,
                archive_dir,
                patterns,
            })
        }
        Some(other) => {
            p.push(format!(
                "{label}: kind must be http, database or file_drop, found {other:?}"
            ));
            return None;
        }
        None => return None,
    };
    Some(SourceSpec {
        name: name?,
        department: department?,
        dataset: dataset?,
        schedule,
        schedule_text,
        checkpoint_rows,
        checkpoint_secs,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Pipeline, Error> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).expect("write");
        Pipeline::load(&path)
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = load(
            r#"
[pipeline]
name = "x"
timezone = "Mars/Olympus"
schedule = "every night"
[[sources]]
name = "a"
department = "gongan"
dataset = "nope"
kind = "http"
[sources.http]
auth = "magic"
[[sources]]
name = "a"
department = "renshe"
dataset = "pensions"
kind = "ftp"
[linkage]
whatever = 1
"#,
        )
        .expect_err("invalid");
        let text = err.to_string();
        for needle in [
            "timezone",
            "schedule",
            "gongan/nope",
            "base_url",
            "auth",
            "secret_env",
            "ftp",
        ] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
        assert!(
            !text.contains("linkage"),
            "unknown sections are ignored: {text}"
        );
    }

    #[test]
    fn valid_file_resolves_paths_against_its_directory() {
        let p = load(
            r#"
[pipeline]
name = "n"
data_dir = "data"
schedule = "0 0 2 * * *"
[[sources]]
name = "minzheng_cases"
department = "minzheng"
dataset = "cases"
kind = "file_drop"
schedule = "0 */5 * * * *"
[sources.file_drop]
dir = "drop/minzheng"
patterns = ["*.csv"]
"#,
        )
        .expect("valid");
        assert!(p.data_dir.ends_with("data"));
        assert!(
            p.data_dir.is_absolute()
                || p.data_dir.starts_with(std::env::temp_dir())
                || p.data_dir.components().count() > 1
        );
        let SourceKind::FileDrop(f) = &p.sources[0].kind else {
            panic!("file drop")
        };
        assert!(f.archive_dir.ends_with("drop/minzheng/archive"));
        assert_eq!(p.timezone, FixedOffset::east_opt(8 * 3600).expect("offset"));
    }
}
