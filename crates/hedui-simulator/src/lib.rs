//! # hedui-simulator
//!
//! A department simulator: serves a synthetic city's extracts (the output of `hedui synth`) the
//! way the departments would — the data-sharing HTTP API of `docs/department-api.md` with
//! pagination, an incremental `_seq` watermark, HMAC-signed or bearer authentication and rate
//! limits, and the 前置库 tables in PostgreSQL or MariaDB/MySQL — with deterministic fault
//! injection (5xx, timeouts, slow and truncated responses, duplicated pages, schema drift).
//! The demo, the ingestion tests and the ingestion benchmark run against it. `hedui simulate`
//! is its command line.
//!
//! Main types: [`Simulator`] (load a city, publish snapshots, set faults, serve, load
//! databases), [`SimulatorOptions`], [`FaultConfig`], [`AuthPolicy`], [`ServerHandle`],
//! [`Stats`], [`PublishReport`], [`DbOptions`], [`Error`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), hedui_simulator::Error> {
//! use hedui_simulator::{Simulator, SimulatorOptions};
//!
//! let sim = Simulator::load("data-samples/city-3000".as_ref(), SimulatorOptions::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(hedui_simulator::Error::Bind)?;
//! let server = sim.serve(listener)?;
//! println!("serving on http://{}", server.local_addr());
//! // … clients pull snapshot-1 …
//! let report = sim.publish(None).await?; // snapshot-2: new and changed rows get new _seq
//! println!("{} rows changed", report.datasets.iter().map(|d| d.changed).sum::<u64>());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! ## How rows are held
//!
//! Every row version is serialised once, when its snapshot is published, into one byte buffer
//! per dataset (see `store.rs`): a page is a run of memcpys, `since` is an index, and nothing is
//! re-read or re-encoded per request (CSV pages are rendered from the same buffer). A changed
//! row supersedes its earlier version, so the API serves each dataset's current state ordered by
//! `_seq` — the same rows the 前置库 table holds.
//!
//! Rows are identified across snapshots by the schema's key column; the k-th row with the same
//! key value (or without one) in a snapshot is matched with the k-th such row of the previous
//! snapshot, so duplicated or missing keys are served, not merged. Rows of a file that cannot be
//! read (an unparseable JSON line, a ragged CSV row) are counted per dataset with their line and
//! reason ([`DatasetInfo::skipped`]): `rows_read = rows staged + skipped`.
//!
//! ## Faults
//!
//! See [`FaultConfig`] for exactly how a fault is chosen for each request (a pure function of
//! the seed and the request's number in arrival order).
//!
//! ## Architecture invariants
//!
//! The simulator only reads the city directory (never `truth/`); it writes nothing to disk. It
//! logs dataset names, counts and request outcomes — never row values.

mod auth;
mod db;
mod faults;
mod load;
mod server;
mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hedui_model::{Catalog, DatasetSchema};
use serde::Serialize;

pub use auth::{
    AuthMode, AuthPolicy, WINDOW_SECS, canonical_query, percent_decode, percent_encode, sign,
    string_to_sign,
};
pub use db::{DbKind, DbLoadReport, DbOptions, DbTable, default_db_datasets};
pub use faults::{Drift, FaultConfig, FaultKind};
pub use server::ServerHandle;

/// The secret (and bearer token) when neither `--secret` nor `HEDUI_SIM_SECRET` gives one.
pub const DEFAULT_SECRET: &str = "hedui-demo-secret";

/// The environment variable holding the secret.
pub const SECRET_ENV: &str = "HEDUI_SIM_SECRET";

/// Everything that can go wrong, by whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// User: the directory is not a synthetic city.
    #[error("{path} is not a synthetic city directory: {reason}")]
    DataDir {
        /// The directory given.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// User: a snapshot that the directory does not have.
    #[error("unknown snapshot `{name}` (available: {available})")]
    UnknownSnapshot {
        /// The name asked for.
        name: String,
        /// Those the directory has.
        available: String,
    },
    /// User: there is no snapshot after the published one.
    #[error("no snapshot after `{0}` to publish")]
    NoNextSnapshot(String),
    /// User: an option or setting that does not make sense.
    #[error("invalid setting: {0}")]
    Config(String),
    /// Data: a snapshot file that cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        source: hedui_tabular::Error,
    },
    /// I/O on a file of the city.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Environment: the listening socket.
    #[error("cannot listen: {0}")]
    Bind(std::io::Error),
    /// Environment: the HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    /// External: a database refused or failed (the message names the table).
    #[error("database {what}: {source}")]
    Database {
        /// What was being done.
        what: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Internal bug (please report).
    #[error("internal error: {0}")]
    Internal(String),
}

/// How to load and serve a city.
#[derive(Debug, Clone)]
pub struct SimulatorOptions {
    /// The snapshot published at start (default: the first, `snapshot-1`).
    pub snapshot: Option<String>,
    /// HMAC secret and bearer token.
    pub secret: String,
    /// Which departments accept which authentication.
    pub auth: AuthPolicy,
    /// Requests per second per app key (`None` = unlimited).
    pub rate_limit: Option<u32>,
    /// Fault injection at start.
    pub faults: FaultConfig,
    /// Serve only these `department/dataset`s (`None` = every department dataset found).
    pub datasets: Option<Vec<String>>,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        SimulatorOptions {
            snapshot: None,
            secret: DEFAULT_SECRET.to_owned(),
            auth: AuthPolicy::default(),
            rate_limit: None,
            faults: FaultConfig::none(),
            datasets: None,
        }
    }
}

/// A served dataset, as listed at start and by [`Simulator::datasets`].
#[derive(Debug, Clone, Serialize)]
pub struct DatasetInfo {
    /// Department key (`gongan` …).
    pub department: String,
    /// Dataset key (`population` …).
    pub dataset: String,
    /// Delivered (Chinese) headers, in schema order.
    pub columns: Vec<String>,
    /// Highest `_seq` handed out.
    pub published_seq: u64,
    /// Rows served now (current versions).
    pub rows: u64,
    /// The snapshot last published.
    pub snapshot: String,
    /// Data rows in the last published file.
    pub rows_read: u64,
    /// Rows of that file that could not be served: (line, reason).
    pub skipped: Vec<(u64, String)>,
    /// Schema columns that file lacked (served as null).
    pub missing_columns: Vec<String>,
    /// Columns of that file the schema does not know (not served).
    pub ignored_columns: Vec<String>,
    /// Bytes of serialised rows held.
    pub bytes: u64,
}

/// What a publish did to one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetPublish {
    /// Department key.
    pub department: String,
    /// Dataset key.
    pub dataset: String,
    /// Data rows in the snapshot's file (0 when it has none).
    pub rows_read: u64,
    /// Rows of the file that could not be served.
    pub skipped: u64,
    /// Rows whose key was not published before.
    pub new: u64,
    /// Rows whose key was published with other values.
    pub changed: u64,
    /// Rows identical to the published version (not sent again).
    pub unchanged: u64,
    /// The `_seq` range handed out, if any.
    pub first_seq: Option<u64>,
    /// Last `_seq` handed out.
    pub last_seq: Option<u64>,
    /// Whether the snapshot had a file for the dataset.
    pub file_found: bool,
}

/// What [`Simulator::publish`] did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// The snapshot published.
    pub snapshot: String,
    /// Per dataset.
    pub datasets: Vec<DatasetPublish>,
}

/// Counters since start (`GET /admin/stats`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// API and admin requests answered (or abandoned by the client).
    pub requests: u64,
    /// Responses by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Records sent in pages (JSON and CSV, including repeated ones).
    pub records_served: u64,
    /// Faults injected, by kind (`5xx`, `timeout`, `slow`, `truncate`, `duplicate`).
    pub faults: BTreeMap<String, u64>,
    /// Responses with renamed columns (drift).
    pub drifted_responses: u64,
    /// Requests refused with 429.
    pub rate_limited: u64,
    /// Requests refused with 401.
    pub auth_rejected: u64,
    /// Snapshots published (including the first).
    pub publishes: u64,
}

/// One served dataset.
#[derive(Debug)]
pub(crate) struct Entry {
    pub schema: DatasetSchema,
    pub qualified: String,
    pub headers: Vec<String>,
    pub prefixes: Vec<Vec<u8>>,
    pub store: tokio::sync::RwLock<store::Store>,
    pub last_file: Mutex<FileState>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct FileState {
    snapshot: String,
    rows_read: u64,
    skipped: Vec<(u64, String)>,
    missing_columns: Vec<String>,
    ignored_columns: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    dir: PathBuf,
    snapshots: Vec<String>,
    current: Mutex<String>,
    pub entries: Vec<Entry>,
    pub auth: auth::Authenticator,
    pub rate: Option<auth::RateLimiter>,
    pub faults: RwLock<Arc<FaultConfig>>,
    pub fault_counter: AtomicU64,
    pub stats: Mutex<Stats>,
    publish_lock: tokio::sync::Mutex<()>,
    databases: tokio::sync::Mutex<Vec<db::DbTarget>>,
}

/// A loaded city being served. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

/// The `snapshot-*` directories of a city, in numeric order.
fn list_snapshots(dir: &Path) -> Result<Vec<String>, Error> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::DataDir {
        path: dir.to_owned(),
        reason: format!("cannot list it ({e})"),
    })?;
    let mut names: Vec<String> = read
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with("snapshot-"))
        .collect();
    names.sort_by_key(|n| {
        (
            n.trim_start_matches("snapshot-")
                .parse::<u64>()
                .unwrap_or(u64::MAX),
            n.clone(),
        )
    });
    if names.is_empty() {
        return Err(Error::DataDir {
            path: dir.to_owned(),
            reason: "it has no snapshot-* directory (make one with `hedui synth`)".into(),
        });
    }
    Ok(names)
}

impl Simulator {
    /// Loads a synthetic city directory and publishes its first snapshot (or
    /// `options.snapshot`). Blocking (reads and serialises every file); call it from
    /// `spawn_blocking` inside a runtime if the city is large.
    ///
    /// # Errors
    ///
    /// [`Error::DataDir`] if `dir` is not a city (no `snapshot-*` directories, no dataset
    /// files), [`Error::UnknownSnapshot`], [`Error::Config`] for a bad option, [`Error::Read`]
    /// for an unreadable file.
    pub fn load(dir: &Path, options: SimulatorOptions) -> Result<Simulator, Error> {
        if !dir.is_dir() {
            return Err(Error::DataDir {
                path: dir.to_owned(),
                reason: "it does not exist or is not a directory".into(),
            });
        }
        options.faults.validate()?;
        if options.secret.is_empty() {
            return Err(Error::Config("the secret must not be empty".into()));
        }
        let snapshots = list_snapshots(dir)?;
        let snapshot = match &options.snapshot {
            Some(s) => {
                if !snapshots.contains(s) {
                    return Err(Error::UnknownSnapshot {
                        name: s.clone(),
                        available: snapshots.join(", "),
                    });
                }
                s.clone()
            }
            None => snapshots[0].clone(),
        };
        let catalog = Catalog::builtin().map_err(|e| Error::Internal(e.to_string()))?;
        let wanted: Vec<&DatasetSchema> = match &options.datasets {
            Some(list) => {
                let mut out = Vec::new();
                for q in list {
                    let found = catalog
                        .datasets
                        .iter()
                        .find(|d| d.department != "truth" && &d.qualified_name() == q)
                        .ok_or_else(|| Error::Config(format!("unknown dataset `{q}`")))?;
                    out.push(found);
                }
                out
            }
            None => catalog
                .datasets
                .iter()
                .filter(|d| d.department != "truth")
                .collect(),
        };
        let snapshot_dir = dir.join(&snapshot);
        let mut found = Vec::new();
        for schema in wanted {
            match load::find_file(&snapshot_dir, schema) {
                Some(path) => found.push((schema, path)),
                None => {
                    tracing::warn!(dataset = %schema.qualified_name(), snapshot = %snapshot, "no file for dataset; not served")
                }
            }
        }
        let reads = read_parallel(&found)?;
        let mut entries = Vec::new();
        for ((schema, _), (headers, prefixes, mut read)) in found.into_iter().zip(reads) {
            let mut st = store::Store::new();
            st.apply(std::mem::take(&mut read.staged));
            log_file(&schema.qualified_name(), &read);
            entries.push(Entry {
                qualified: schema.qualified_name(),
                schema: schema.clone(),
                headers,
                prefixes,
                store: tokio::sync::RwLock::new(st),
                last_file: Mutex::new(FileState {
                    snapshot: snapshot.clone(),
                    rows_read: read.rows_read,
                    skipped: read.skipped,
                    missing_columns: read.missing_columns,
                    ignored_columns: read.ignored_columns,
                }),
            });
        }
        if entries.is_empty() {
            return Err(Error::DataDir {
                path: dir.to_owned(),
                reason: format!("{snapshot} holds no department dataset file"),
            });
        }
        let stats = Stats {
            publishes: 1,
            ..Stats::default()
        };
        Ok(Simulator {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                snapshots,
                current: Mutex::new(snapshot),
                entries,
                auth: auth::Authenticator::new(options.secret, options.auth),
                rate: options.rate_limit.map(auth::RateLimiter::new),
                faults: RwLock::new(Arc::new(options.faults)),
                fault_counter: AtomicU64::new(0),
                stats: Mutex::new(stats),
                publish_lock: tokio::sync::Mutex::new(()),
                databases: tokio::sync::Mutex::new(Vec::new()),
            }),
        })
    }

    /// The city directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The snapshots the city has, in order.
    pub fn snapshots(&self) -> &[String] {
        &self.inner.snapshots
    }

    /// The snapshot published last.
    pub fn current_snapshot(&self) -> String {
        lock(&self.inner.current).clone()
    }

    /// The served datasets with their counts.
    pub async fn datasets(&self) -> Vec<DatasetInfo> {
        let mut out = Vec::with_capacity(self.inner.entries.len());
        for e in &self.inner.entries {
            let st = e.store.read().await;
            let file = lock(&e.last_file).clone();
            out.push(DatasetInfo {
                department: e.schema.department.clone(),
                dataset: e.schema.dataset.clone(),
                columns: e.headers.clone(),
                published_seq: st.published_seq(),
                rows: st.live() as u64,
                snapshot: file.snapshot,
                rows_read: file.rows_read,
                skipped: file.skipped,
                missing_columns: file.missing_columns,
                ignored_columns: file.ignored_columns,
                bytes: st.bytes() as u64,
            });
        }
        out
    }

    /// Publishes `snapshot` (default: the one after the current): each dataset's rows that are
    /// new or changed by key get the next `_seq` numbers, in file order; attached databases
    /// are updated the same way.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSnapshot`], [`Error::NoNextSnapshot`], [`Error::Read`] (nothing is
    /// published then: every file is read before any dataset changes), [`Error::Database`].
    pub async fn publish(&self, snapshot: Option<&str>) -> Result<PublishReport, Error> {
        let _guard = self.inner.publish_lock.lock().await;
        let current = self.current_snapshot();
        let target = match snapshot {
            Some(s) => {
                if !self.inner.snapshots.iter().any(|n| n == s) {
                    return Err(Error::UnknownSnapshot {
                        name: s.to_owned(),
                        available: self.inner.snapshots.join(", "),
                    });
                }
                s.to_owned()
            }
            None => {
                let pos = self.inner.snapshots.iter().position(|n| *n == current);
                pos.and_then(|p| self.inner.snapshots.get(p + 1))
                    .cloned()
                    .ok_or_else(|| Error::NoNextSnapshot(current.clone()))?
            }
        };
        let inner = Arc::clone(&self.inner);
        let target_for_task = target.clone();
        let (report, deltas) =
            tokio::task::spawn_blocking(move || publish_blocking(&inner, &target_for_task))
                .await
                .map_err(|e| Error::Internal(format!("publish task failed: {e}")))??;
        *lock(&self.inner.current) = target.clone();
        lock(&self.inner.stats).publishes += 1;
        let mut dbs = self.inner.databases.lock().await;
        for target_db in dbs.iter_mut() {
            db::apply_publish(self, target_db, &deltas).await?;
        }
        tracing::info!(snapshot = %report.snapshot, "published");
        Ok(report)
    }

    /// Replaces the fault setting and restarts the request numbering (see [`FaultConfig`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for rates outside 0..=1 or summing to more than 1.
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), Error> {
        faults.validate()?;
        let mut slot = self
            .inner
            .faults
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Arc::new(faults);
        self.inner.fault_counter.store(0, Ordering::SeqCst);
        Ok(())
    }

    /// The current fault setting.
    pub fn faults(&self) -> FaultConfig {
        self.inner
            .faults
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .clone()
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    /// Serves the API on `listener` until [`ServerHandle::shutdown`]. Must be called inside a
    /// tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Bind`] if the listener has no local address.
    pub fn serve(&self, listener: tokio::net::TcpListener) -> Result<ServerHandle, Error> {
        server::serve(self.clone(), listener)
    }

    /// Creates the 前置库 tables `<department>_<dataset>` in the database at `url`
    /// (`postgres://…` or `mysql://…`/`mariadb://…`), bulk-loads the current rows, and keeps the
    /// tables up to date on every later [`publish`](Self::publish). Existing tables of the same
    /// names are replaced.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an unknown URL scheme or dataset, [`Error::Database`].
    pub async fn attach_database(
        &self,
        url: &str,
        options: DbOptions,
    ) -> Result<DbLoadReport, Error> {
        let _guard = self.inner.publish_lock.lock().await;
        let (target, report) = db::attach(self, url, options).await?;
        self.inner.databases.lock().await.push(target);
        Ok(report)
    }

    /// Closes every attached database connection.
    pub async fn detach_databases(&self) {
        let targets: Vec<db::DbTarget> = self.inner.databases.lock().await.drain(..).collect();
        for t in targets {
            t.close().await;
        }
    }

    pub(crate) fn entry(&self, department: &str, dataset: &str) -> Option<&Entry> {
        self.inner
            .entries
            .iter()
            .find(|e| e.schema.department == department && e.schema.dataset == dataset)
    }
}

/// The `_seq` changes of one dataset in a publish, for the databases.
#[derive(Debug, Clone)]
pub(crate) struct Delta {
    pub entry: usize,
    pub superseded: Vec<u64>,
    pub appended: Option<(u64, u64)>,
}

fn publish_blocking(inner: &Inner, snapshot: &str) -> Result<(PublishReport, Vec<Delta>), Error> {
    let dir = inner.dir.join(snapshot);
    // Read everything first, so that an unreadable file publishes nothing.
    let mut found = Vec::new();
    let mut has_file = Vec::with_capacity(inner.entries.len());
    for e in &inner.entries {
        match load::find_file(&dir, &e.schema) {
            Some(path) => {
                found.push((&e.schema, path));
                has_file.push(true);
            }
            None => {
                tracing::warn!(dataset = %e.qualified, snapshot, "no file for dataset in snapshot; nothing to publish");
                has_file.push(false);
            }
        }
    }
    let mut loaded = read_parallel(&found)?.into_iter();
    let reads: Vec<Option<load::ReadFile>> = has_file
        .into_iter()
        .map(|has| {
            if has {
                loaded.next().map(|(_, _, r)| r)
            } else {
                None
            }
        })
        .collect();
    let mut report = PublishReport {
        snapshot: snapshot.to_owned(),
        datasets: Vec::new(),
    };
    let mut deltas = Vec::new();
    for (i, (e, read)) in inner.entries.iter().zip(reads).enumerate() {
        let mut row = DatasetPublish {
            department: e.schema.department.clone(),
            dataset: e.schema.dataset.clone(),
            rows_read: 0,
            skipped: 0,
            new: 0,
            changed: 0,
            unchanged: 0,
            first_seq: None,
            last_seq: None,
            file_found: read.is_some(),
        };
        if let Some(mut read) = read {
            log_file(&e.qualified, &read);
            let staged = std::mem::take(&mut read.staged);
            let applied = e.store.blocking_write().apply(staged);
            row.rows_read = read.rows_read;
            row.skipped = read.skipped.len() as u64;
            row.new = applied.new;
            row.changed = applied.changed;
            row.unchanged = applied.unchanged;
            row.first_seq = applied.appended.map(|a| a.0);
            row.last_seq = applied.appended.map(|a| a.1);
            *lock(&e.last_file) = FileState {
                snapshot: snapshot.to_owned(),
                rows_read: read.rows_read,
                skipped: read.skipped,
                missing_columns: read.missing_columns,
                ignored_columns: read.ignored_columns,
            };
            deltas.push(Delta {
                entry: i,
                superseded: applied.superseded,
                appended: applied.appended,
            });
            tracing::info!(
                dataset = %e.qualified, snapshot, new = row.new, changed = row.changed,
                unchanged = row.unchanged, "publish"
            );
        }
        report.datasets.push(row);
    }
    Ok((report, deltas))
}

type Loaded = (Vec<String>, Vec<Vec<u8>>, load::ReadFile);

/// Reads the files on up to four threads (each holds one file's table while it serialises it).
fn read_parallel(found: &[(&DatasetSchema, PathBuf)]) -> Result<Vec<Loaded>, Error> {
    let next = AtomicU64::new(0);
    let slots: Vec<Mutex<Option<Result<Loaded, Error>>>> =
        found.iter().map(|_| Mutex::new(None)).collect();
    let threads = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(1, 4)
        .min(found.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    let Some((schema, path)) = found.get(i) else {
                        break;
                    };
                    let headers: Vec<String> =
                        schema.columns.iter().map(|c| c.source.clone()).collect();
                    let prefixes = store::key_prefixes(&headers);
                    let result =
                        load::read_file(path, schema, &prefixes).map(|r| (headers, prefixes, r));
                    *lock(&slots[i]) = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .unwrap_or_else(|| Err(Error::Internal("a file was not read".into())))
        })
        .collect()
}

fn log_file(qualified: &str, read: &load::ReadFile) {
    tracing::info!(dataset = %qualified, file = %read.path.display(), rows = read.rows_read, skipped = read.skipped.len(), "read");
    for (line, reason) in read.skipped.iter().take(20) {
        tracing::warn!(dataset = %qualified, line, reason = %reason, "row skipped");
    }
    if !read.missing_columns.is_empty() {
        tracing::warn!(dataset = %qualified, columns = ?read.missing_columns, "file lacks schema columns; served as null");
    }
    if !read.ignored_columns.is_empty() {
        tracing::warn!(dataset = %qualified, columns = ?read.ignored_columns, "file has columns the schema does not know; not served");
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
