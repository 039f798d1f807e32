//! # hedui-store
//!
//! The casework store: runs, cases, flags, decisions, the clerical-review queue of uncertain
//! identity links, users and roles, sessions, and an append-only audit log. SQLite by default
//! (embedded, created on first use) and PostgreSQL for production, from one code base: every
//! statement is written once in the SQL both understand (`$1` placeholders, `ON CONFLICT`,
//! `RETURNING`) and run through [`Store`], an enum over the two pools; each backend has its own
//! migrations (`migrations/sqlite`, `migrations/postgres`), embedded at compile time.
//!
//! Main types: [`Store`] (open, publish a run, work queue, decisions, reviews, users, sessions,
//! audit), [`User`]/[`Role`]/[`Scope`] (who may see and do what — scope follows the *case's*
//! county/township, never the ID prefix), [`StoredFlag`], [`Decision`], [`PublishReport`],
//! [`LinkLabel`].
//!
//! Decisions flow back: [`Store::dismissed_flag_ids`] is what verification must not raise again,
//! [`Store::publish_run`] never reopens a dismissed flag nor touches a decided one, and
//! [`Store::link_labels`] gives the analysts' identity decisions as training labels and
//! must-link / cannot-link constraints for the next run.
//!
//! The audit log has no update or delete API, and a trigger on both backends refuses UPDATE and
//! DELETE on the table.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hedui_store::Error> {
//! use hedui_store::{Store, RunInfo};
//! let store = Store::open("sqlite://hedui-data/store.db").await?;
//! let run = RunInfo { run_id: "run-1".into(), as_of: chrono::NaiveDate::from_ymd_opt(2021, 9, 30).unwrap_or_default() };
//! store.record_run_start(&run).await?;
//! let report = store.publish_run(&run, &[], &[], &[]).await?;
//! store.record_run_finish(&run.run_id, "succeeded", &format!("{} new flags", report.new_flags)).await?;
//! let suppress = store.dismissed_flag_ids().await?; // for the next night's verification
//! # let _ = suppress; Ok(()) }
//! ```

mod types;

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use hedui_model::flag::{CaseRecord, Flag, LinkReview, Severity};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{AssertSqlSafe, Row, SqlSafeStr};

pub use types::*;

/// Store errors, each saying whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store URL is not one we can open (user's configuration).
    #[error("store URL not usable ({url}): {reason}")]
    Url {
        /// The URL with any password removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// The database failed or could not be reached (environment).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed (environment or a store from another version).
    #[error("migrating the store failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The caller's input is not acceptable (user's fault); the message is for the user.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The acting user may not do this (user's permissions).
    #[error("not permitted: {0}")]
    Forbidden(String),
    /// No such record.
    #[error("not found: {0}")]
    NotFound(String),
    /// A stored value cannot be read back (internal bug or a damaged store).
    #[error("stored data unreadable ({what}): {reason}")]
    Corrupt {
        /// Which value.
        what: String,
        /// Why.
        reason: String,
    },
    /// Password hashing failed (internal).
    #[error("password hashing failed: {0}")]
    Password(String),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The two backends.
#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same statement text on whichever pool the store holds. Each arm is type-checked
/// for its own backend, so a statement that one backend cannot bind fails to compile.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

/// Typed column access shared by both row types.
trait RowExt {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_float(&self, col: &str) -> Result<Option<f64>>;
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn text(&self, col: &str) -> Result<String> {
                Ok(self.try_get::<String, _>(col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>> {
                Ok(self.try_get::<Option<String>, _>(col)?)
            }
            fn int(&self, col: &str) -> Result<i64> {
                Ok(self.try_get::<i64, _>(col)?)
            }
            fn opt_float(&self, col: &str) -> Result<Option<f64>> {
                Ok(self.try_get::<Option<f64>, _>(col)?)
            }
        }
    };
}
impl_row_ext!(SqliteRow);
impl_row_ext!(PgRow);

/// Session lifetime.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// A new login session: the token goes into the cookie (only its hash is stored); the CSRF token
/// goes into every form.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    /// Cookie value.
    pub token: String,
    /// Per-session CSRF token.
    pub csrf: String,
}

/// A live session with its user.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub user: User,
    /// The session's CSRF token.
    pub csrf: String,
}

/// The casework store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(SystemTime::now())
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A random token of 32 bytes, hex.
fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Removes a password from a URL for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn severity_code(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Medium => "medium",
        Severity::High => "high",
    }
}

fn severity_rank(s: Severity) -> i64 {
    match s {
        Severity::Info => 0,
        Severity::Medium => 1,
        Severity::High => 2,
    }
}

fn corrupt(what: impl Into<String>, reason: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        what: what.into(),
        reason: reason.to_string(),
    }
}

fn migrator(postgres: bool) -> Migrator {
    let sql = if postgres {
        include_str!("../migrations/postgres/0001_init.sql")
    } else {
        include_str!("../migrations/sqlite/0001_init.sql")
    };
    Migrator::with_migrations(vec![Migration::new(
        1,
        "init".into(),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )])
}

fn valid_username(s: &str) -> bool {
    let n = s.chars().count();
    (2..=64).contains(&n)
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn valid_month(s: &str) -> bool {
    s.len() == 6
        && s.bytes().all(|b| b.is_ascii_digit())
        && matches!(s[4..].parse::<u32>(), Ok(1..=12))
        && matches!(s[..4].parse::<u32>(), Ok(1990..=2100))
}

fn user_from_row(r: &impl RowExt) -> Result<User> {
    let role_s = r.text("role")?;
    Ok(User {
        user_id: r.int("user_id")?,
        username: r.text("username")?,
        role: Role::parse(&role_s).ok_or_else(|| corrupt("users.role", &role_s))?,
        county_code: r.opt_text("county_code")?,
        township_code: r.opt_text("township_code")?,
        active: r.int("active")? != 0,
    })
}

fn stored_flag_from_row(r: &impl RowExt) -> Result<StoredFlag> {
    let id = r.text("flag_id")?;
    let json = r.text("flag_json")?;
    let flag: Flag = serde_json::from_str(&json).map_err(|e| corrupt(format!("flag {id}"), e))?;
    let status_s = r.text("status")?;
    let approval_s = r.text("approval")?;
    Ok(StoredFlag {
        flag,
        status: FlagStatus::parse(&status_s)
            .ok_or_else(|| corrupt(format!("flag {id} status"), &status_s))?,
        outcome: r.opt_text("outcome")?.as_deref().and_then(Outcome::parse),
        approval: Approval::parse(&approval_s)
            .ok_or_else(|| corrupt(format!("flag {id} approval"), &approval_s))?,
        first_run: r.text("first_run")?,
        last_run: r.text("last_run")?,
    })
}

fn decision_from_row(r: &impl RowExt) -> Result<Decision> {
    let id = r.int("decision_id")?;
    let status_s = r.text("status")?;
    let approval_s = r.text("approval")?;
    Ok(Decision {
        decision_id: id,
        flag_id: r.text("flag_id")?,
        status: FlagStatus::parse(&status_s)
            .ok_or_else(|| corrupt(format!("decision {id} status"), &status_s))?,
        outcome: r.opt_text("outcome")?.as_deref().and_then(Outcome::parse),
        new_amount: r.opt_float("new_amount")?,
        effective_month: r.opt_text("effective_month")?,
        reason_code: r.text("reason_code")?,
        reason: r.text("reason")?,
        notice_type: r.opt_text("notice_type")?,
        notice_date: r.opt_text("notice_date")?,
        notice_method: r.opt_text("notice_method")?,
        decided_by: r.text("decided_by")?,
        decided_role: r.text("decided_role")?,
        decided_at: r.text("decided_at")?,
        approval: Approval::parse(&approval_s)
            .ok_or_else(|| corrupt(format!("decision {id} approval"), &approval_s))?,
        approved_by: r.opt_text("approved_by")?,
        approved_at: r.opt_text("approved_at")?,
        approval_note: r.opt_text("approval_note")?,
    })
}

fn review_from_row(r: &impl RowExt) -> Result<StoredReview> {
    let id = r.text("review_id")?;
    let json = r.text("review_json")?;
    let review: LinkReview =
        serde_json::from_str(&json).map_err(|e| corrupt(format!("review {id}"), e))?;
    let status_s = r.text("status")?;
    Ok(StoredReview {
        review,
        status: ReviewStatus::parse(&status_s)
            .ok_or_else(|| corrupt(format!("review {id} status"), &status_s))?,
        decided_by: r.opt_text("decided_by")?,
        decided_at: r.opt_text("decided_at")?,
    })
}

fn audit_from_row(r: &impl RowExt) -> Result<AuditEntry> {
    Ok(AuditEntry {
        audit_id: r.int("audit_id")?,
        at: r.text("at")?,
        username: r.text("username")?,
        role: r.text("role")?,
        scope: r.text("scope")?,
        client_ip: r.text("client_ip")?,
        action: r.text("action")?,
        result: r.text("result")?,
        case_id: r.opt_text("case_id")?,
        flag_id: r.opt_text("flag_id")?,
        fields: r.text("fields")?,
        purpose: r.text("purpose")?,
        result_count: r.int("result_count")?,
        detail: r.text("detail")?,
    })
}

fn run_from_row(r: &impl RowExt) -> Result<RunRecord> {
    Ok(RunRecord {
        run_id: r.text("run_id")?,
        as_of: r.text("as_of")?,
        started_at: r.text("started_at")?,
        finished_at: r.opt_text("finished_at")?,
        status: r.text("status")?,
        summary: r.text("summary")?,
    })
}

/// Appends `AND col = $n` clauses for the set filters of a flag query and the user's scope;
/// returns the WHERE clause and the bound values in order.
fn flag_where(q: &FlagQuery, scope: &Scope) -> (String, Vec<String>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    let mut push = |col: &str, op: &str, v: String| {
        binds.push(v);
        clauses.push(format!("{col} {op} ${}", binds.len()));
    };
    match scope {
        Scope::City => {}
        Scope::County(c) => push("county_code", "=", c.clone()),
        Scope::Township(t) => push("township_code", "=", t.clone()),
        // A scope without cases matches nothing (an impossible code keeps the SQL uniform).
        Scope::NoCases => push("county_code", "=", "-".to_owned()),
    }
    fn nonempty(o: &Option<String>) -> Option<&str> {
        o.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    if let Some(v) = nonempty(&q.county) {
        push("county_code", "=", v.to_owned());
    }
    if let Some(v) = nonempty(&q.township) {
        push("township_code", "=", v.to_owned());
    }
    if let Some(v) = nonempty(&q.flag_type) {
        push("flag_type", "=", v.to_owned());
    }
    if let Some(v) = nonempty(&q.severity) {
        push("severity", "=", v.to_owned());
    }
    if let Some(v) = nonempty(&q.status) {
        push("status", "=", v.to_owned());
    }
    if let Some(v) = nonempty(&q.case_id) {
        push("case_id", "=", v.to_owned());
    }
    if let Some(d) = q.deadline_before {
        push("deadline", "<=", d.format("%Y-%m-%d").to_string());
    }
    let w = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (w, binds)
}

impl Store {
    /// Opens (and migrates) the store at `url`: `sqlite://PATH` (the file and its directory are
    /// created if missing), `sqlite::memory:` (one connection, for tests), or `postgres://…`.
    pub async fn open(url: &str) -> Result<Store> {
        let bad = |reason: String| Error::Url {
            url: redact(url),
            reason,
        };
        let pool = if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:");
            let mut opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| bad(e.to_string()))?
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if !memory {
                opts = opts.journal_mode(SqliteJournalMode::Wal);
                let path = opts.get_filename().to_path_buf();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(if memory { 1 } else { 4 })
                .connect_with(opts)
                .await?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Pool::Postgres(pool)
        } else {
            return Err(bad(
                "expected sqlite://PATH, sqlite::memory: or postgres://…".to_owned(),
            ));
        };
        let store = Store { pool };
        match &store.pool {
            Pool::Sqlite(p) => migrator(false).run(p).await?,
            Pool::Postgres(p) => migrator(true).run(p).await?,
        }
        Ok(store)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    // ----------------------------------------------------------------- runs and publication

    /// Records that a run started (idempotent: a second start of the same id resets its state).
    pub async fn record_run_start(&self, run: &RunInfo) -> Result<()> {
        let sql = "INSERT INTO runs (run_id, as_of, started_at, finished_at, status, summary) \
                   VALUES ($1, $2, $3, NULL, 'running', '') \
                   ON CONFLICT (run_id) DO UPDATE SET as_of = excluded.as_of, \
                   started_at = excluded.started_at, finished_at = NULL, status = 'running'";
        let as_of = run.as_of.format("%Y-%m-%d").to_string();
        on_pool!(self, p => sqlx::query(sql)
            .bind(&run.run_id).bind(&as_of).bind(ts(now()))
            .execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Records that a run finished with `status` (`succeeded`, `failed` …) and a summary
    /// (counts only, never personal data).
    pub async fn record_run_finish(&self, run_id: &str, status: &str, summary: &str) -> Result<()> {
        let sql = "UPDATE runs SET finished_at = $1, status = $2, summary = $3 WHERE run_id = $4";
        let done = on_pool!(self, p => sqlx::query(sql)
            .bind(ts(now())).bind(status).bind(summary).bind(run_id)
            .execute(p).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(Error::NotFound(format!("run {run_id}")));
        }
        Ok(())
    }

    /// Recorded runs, newest first.
    pub async fn runs(&self, limit: i64) -> Result<Vec<RunRecord>> {
        let sql = "SELECT * FROM runs ORDER BY started_at DESC, run_id DESC LIMIT $1";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(limit).fetch_all(p).await?;
            rows.iter().map(run_from_row).collect()
        })
    }

    /// Publishes a run's cases, flags and identity reviews, in one transaction. Idempotent:
    /// flags are upserted by `flag_id`; a flag dismissed earlier (误报) stays dismissed and is
    /// counted as suppressed; a decided flag keeps its decision and outcome; an open flag gets
    /// the latest text. Reviews already queued or decided are left as they are.
    pub async fn publish_run(
        &self,
        run: &RunInfo,
        cases: &[CaseRecord],
        flags: &[Flag],
        reviews: &[LinkReview],
    ) -> Result<PublishReport> {
        let mut rep = PublishReport::default();
        let t = ts(now());
        let as_of = run.as_of.format("%Y-%m-%d").to_string();
        let run_sql = "INSERT INTO runs (run_id, as_of, started_at, finished_at, status, summary) \
                       VALUES ($1, $2, $3, NULL, 'published', '') ON CONFLICT (run_id) DO NOTHING";
        let case_sql = "INSERT INTO cases (case_id, programme, status, county_code, township_code, \
             address, monthly_benefit, next_review, record_json, last_run) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (case_id) DO UPDATE SET programme = excluded.programme, \
             status = excluded.status, county_code = excluded.county_code, \
             township_code = excluded.township_code, address = excluded.address, \
             monthly_benefit = excluded.monthly_benefit, next_review = excluded.next_review, \
             record_json = excluded.record_json, last_run = excluded.last_run";
        let get_sql = "SELECT status FROM flags WHERE flag_id = $1";
        let ins_sql = "INSERT INTO flags (flag_id, case_id, flag_type, severity, severity_rank, \
             county_code, township_code, deadline, as_of, first_run, last_run, status, outcome, \
             approval, flag_json, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 'open', NULL, 'none', $11, $12, $12)";
        let refresh_sql = "UPDATE flags SET flag_json = $1, severity = $2, severity_rank = $3, \
             county_code = $4, township_code = $5, last_run = $6, updated_at = $7 WHERE flag_id = $8";
        let touch_sql = "UPDATE flags SET last_run = $1 WHERE flag_id = $2";
        let rev_sql = "INSERT INTO link_reviews (review_id, run_id, left_key, right_key, case_id, \
             county_code, probability, match_weight, review_json, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10) \
             ON CONFLICT (review_id) DO NOTHING";

        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(run_sql).bind(&run.run_id).bind(&as_of).bind(&t)
                .execute(&mut *tx).await?;
            for c in cases {
                let json = serde_json::to_string(c)
                    .map_err(|e| corrupt(format!("case {}", c.case_id), e))?;
                sqlx::query(case_sql)
                    .bind(&c.case_id).bind(&c.programme).bind(&c.status)
                    .bind(&c.county_code).bind(&c.township_code).bind(&c.address)
                    .bind(c.monthly_benefit)
                    .bind(c.next_review.map(|d| d.format("%Y-%m-%d").to_string()))
                    .bind(json).bind(&run.run_id)
                    .execute(&mut *tx).await?;
                rep.cases += 1;
            }
            for f in flags {
                let json = serde_json::to_string(f)
                    .map_err(|e| corrupt(format!("flag {}", f.flag_id), e))?;
                let existing = sqlx::query(get_sql).bind(&f.flag_id)
                    .fetch_optional(&mut *tx).await?;
                match existing {
                    None => {
                        sqlx::query(ins_sql)
                            .bind(&f.flag_id).bind(&f.subject.case_id).bind(&f.flag_type)
                            .bind(severity_code(f.severity)).bind(severity_rank(f.severity))
                            .bind(&f.subject.county_code).bind(&f.subject.township_code)
                            .bind(f.deadline.format("%Y-%m-%d").to_string())
                            .bind(f.as_of.format("%Y-%m-%d").to_string())
                            .bind(&run.run_id).bind(json).bind(&t)
                            .execute(&mut *tx).await?;
                        rep.new_flags += 1;
                    }
                    Some(row) => {
                        let status_s = row.text("status")?;
                        let status = FlagStatus::parse(&status_s)
                            .ok_or_else(|| corrupt(format!("flag {} status", f.flag_id), &status_s))?;
                        match status {
                            FlagStatus::Dismissed => {
                                rep.suppressed_flags += 1;
                            }
                            FlagStatus::Resolved | FlagStatus::DataError => {
                                sqlx::query(touch_sql).bind(&run.run_id).bind(&f.flag_id)
                                    .execute(&mut *tx).await?;
                                rep.decided_flags += 1;
                            }
                            FlagStatus::Open | FlagStatus::Investigating => {
                                sqlx::query(refresh_sql)
                                    .bind(json).bind(severity_code(f.severity))
                                    .bind(severity_rank(f.severity))
                                    .bind(&f.subject.county_code).bind(&f.subject.township_code)
                                    .bind(&run.run_id).bind(&t).bind(&f.flag_id)
                                    .execute(&mut *tx).await?;
                                rep.unchanged_flags += 1;
                            }
                        }
                    }
                }
            }
            for r in reviews {
                let json = serde_json::to_string(r)
                    .map_err(|e| corrupt(format!("review {}", r.review_id), e))?;
                let done = sqlx::query(rev_sql)
                    .bind(&r.review_id).bind(&r.run_id).bind(&r.left_key).bind(&r.right_key)
                    .bind(&r.case_id).bind(&r.county_code).bind(r.probability)
                    .bind(r.match_weight).bind(json).bind(&t)
                    .execute(&mut *tx).await?;
                if done.rows_affected() > 0 {
                    rep.new_reviews += 1;
                } else {
                    rep.existing_reviews += 1;
                }
            }
            tx.commit().await?;
            Ok::<(), Error>(())
        })?;
        Ok(rep)
    }

    /// Ids of flags dismissed as false positives (误报): verification must not raise them again.
    pub async fn dismissed_flag_ids(&self) -> Result<BTreeSet<String>> {
        let sql = "SELECT flag_id FROM flags WHERE status = 'dismissed'";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter().map(|r| r.text("flag_id")).collect()
        })
    }

    /// Flags with a final decision other than dismissal (flag id → outcome), for the run's report.
    pub async fn decided_flags(&self) -> Result<Vec<(String, FlagStatus, Option<Outcome>)>> {
        let sql = "SELECT flag_id, status, outcome FROM flags \
                   WHERE status IN ('resolved', 'data_error') ORDER BY flag_id";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter().map(|r| {
                let s = r.text("status")?;
                Ok((r.text("flag_id")?,
                    FlagStatus::parse(&s).ok_or_else(|| corrupt("flags.status", &s))?,
                    r.opt_text("outcome")?.as_deref().and_then(Outcome::parse)))
            }).collect()
        })
    }

    /// The analysts' identity decisions: training labels for the linkage model and must-link
    /// (`same_person`) / cannot-link constraints for the next run. Sorted.
    pub async fn link_labels(&self) -> Result<Vec<LinkLabel>> {
        let sql = "SELECT left_key, right_key, status FROM link_reviews \
                   WHERE status IN ('same', 'different') ORDER BY left_key, right_key";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter().map(|r| Ok(LinkLabel {
                left_key: r.text("left_key")?,
                right_key: r.text("right_key")?,
                same_person: r.text("status")? == "same",
            })).collect()
        })
    }

    // ------------------------------------------------------------------------ cases and flags

    /// One case.
    pub async fn case(&self, case_id: &str) -> Result<Option<CaseRecord>> {
        let sql = "SELECT record_json FROM cases WHERE case_id = $1";
        let row = on_pool!(self, p => {
            let r = sqlx::query(sql).bind(case_id).fetch_optional(p).await?;
            r.map(|r| r.text("record_json")).transpose()
        })?;
        row.map(|j| serde_json::from_str(&j).map_err(|e| corrupt(format!("case {case_id}"), e)))
            .transpose()
    }

    /// Township codes that have cases, sorted.
    pub async fn case_townships(&self) -> Result<Vec<String>> {
        let sql = "SELECT DISTINCT township_code FROM cases ORDER BY township_code";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter().map(|r| r.text("township_code")).collect()
        })
    }

    /// One flag with its state.
    pub async fn flag(&self, flag_id: &str) -> Result<Option<StoredFlag>> {
        let sql = "SELECT * FROM flags WHERE flag_id = $1";
        on_pool!(self, p => {
            let r = sqlx::query(sql).bind(flag_id).fetch_optional(p).await?;
            r.as_ref().map(stored_flag_from_row).transpose()
        })
    }

    /// The work queue: flags matching `q` inside `scope`, most severe and most urgent first;
    /// returns one page and the total count.
    pub async fn flags(
        &self,
        q: &FlagQuery,
        scope: &Scope,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredFlag>, i64)> {
        let (w, binds) = flag_where(q, scope);
        let count_sql = format!("SELECT COUNT(*) AS n FROM flags{w}");
        let list_sql = format!(
            "SELECT * FROM flags{w} ORDER BY severity_rank DESC, deadline ASC, flag_id ASC \
             LIMIT {} OFFSET {}",
            limit.clamp(0, 100_000),
            offset.max(0)
        );
        on_pool!(self, p => {
            let mut cq = sqlx::query(AssertSqlSafe(count_sql));
            for b in &binds { cq = cq.bind(b); }
            let total = cq.fetch_one(p).await?.int("n")?;
            let mut lq = sqlx::query(AssertSqlSafe(list_sql));
            for b in &binds { lq = lq.bind(b); }
            let rows = lq.fetch_all(p).await?;
            let flags = rows.iter().map(stored_flag_from_row).collect::<Result<Vec<_>>>()?;
            Ok((flags, total))
        })
    }

    /// Distinct flag types present in `scope` (for the filter list).
    pub async fn flag_types(&self, scope: &Scope) -> Result<Vec<String>> {
        let (w, binds) = flag_where(&FlagQuery::default(), scope);
        let sql = format!("SELECT DISTINCT flag_type FROM flags{w} ORDER BY flag_type");
        on_pool!(self, p => {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for b in &binds { q = q.bind(b); }
            let rows = q.fetch_all(p).await?;
            rows.iter().map(|r| r.text("flag_type")).collect()
        })
    }

    /// Decisions on a flag, oldest first.
    pub async fn decisions(&self, flag_id: &str) -> Result<Vec<Decision>> {
        let sql = "SELECT * FROM decisions WHERE flag_id = $1 ORDER BY decision_id";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(flag_id).fetch_all(p).await?;
            rows.iter().map(decision_from_row).collect()
        })
    }

    /// Decisions waiting for approval inside `scope`, oldest first.
    pub async fn pending_approvals(&self, scope: &Scope) -> Result<Vec<Decision>> {
        let (w, binds) = flag_where(&FlagQuery::default(), scope);
        let cond = if w.is_empty() {
            " WHERE".to_owned()
        } else {
            format!("{w} AND")
        };
        let sql = format!(
            "SELECT * FROM decisions WHERE approval = 'pending' AND flag_id IN \
             (SELECT flag_id FROM flags{cond} approval = 'pending') ORDER BY decision_id"
        );
        on_pool!(self, p => {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for b in &binds { q = q.bind(b); }
            let rows = q.fetch_all(p).await?;
            rows.iter().map(decision_from_row).collect()
        })
    }

    /// Checks a decision against DOMAIN.md §6.3; returns the user-facing problem (Chinese).
    pub fn validate_decision(d: &NewDecision) -> std::result::Result<FlagStatus, String> {
        let status = d.status.ok_or("请选择处理状态")?;
        if status == FlagStatus::Resolved && d.outcome.is_none() {
            return Err("状态为“已处理”时必须选择处理结果".into());
        }
        if status != FlagStatus::Open
            && status != FlagStatus::Investigating
            && d.reason.trim().is_empty()
            && d.reason_code.trim().is_empty()
        {
            return Err("请填写处理原因".into());
        }
        if d.reason.chars().count() > 2000 || d.reason_code.chars().count() > 100 {
            return Err("原因过长".into());
        }
        if let Some(o) = d.outcome {
            if o.needs_effective_month() {
                match d.effective_month.as_deref().map(str::trim) {
                    Some(m) if valid_month(m) => {}
                    _ => return Err(format!("“{}”须填写生效月份（格式YYYYMM）", o.label_zh())),
                }
            }
            if matches!(o, Outcome::Reduce | Outcome::Increase) {
                match d.new_amount {
                    Some(a) if a.is_finite() && (0.0..1_000_000.0).contains(&a) => {}
                    _ => return Err(format!("“{}”须填写调整后月发放金额", o.label_zh())),
                }
            }
            if o.needs_notice() {
                let filled =
                    |s: &Option<String>| s.as_deref().is_some_and(|v| !v.trim().is_empty());
                if !filled(&d.notice_type) || d.notice_date.is_none() || !filled(&d.notice_method) {
                    return Err(format!(
                        "“{}”必须填写告知书类型、告知日期和送达方式",
                        o.label_zh()
                    ));
                }
            }
        }
        if let Some(m) = &d.effective_month
            && !m.trim().is_empty()
            && !valid_month(m.trim())
        {
            return Err("生效月份格式应为YYYYMM".into());
        }
        Ok(status)
    }

    /// Records a decision on a flag by `user`. Checks the user's right to decide on the flag's
    /// case, validates the fields (notice mandatory for 减发/停发), and starts the approval chain:
    /// a township caseworker's 减发/停发/转类别/追回 waits for a county reviewer or the city.
    pub async fn record_decision(
        &self,
        flag_id: &str,
        d: &NewDecision,
        user: &User,
    ) -> Result<Decision> {
        let sf = self
            .flag(flag_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("flag {flag_id}")))?;
        let s = &sf.flag.subject;
        if !user.can_decide(&s.county_code, &s.township_code) {
            return Err(Error::Forbidden(format!(
                "{} may not decide flag {flag_id}",
                user.username
            )));
        }
        let status = Self::validate_decision(d).map_err(Error::Invalid)?;
        let approval = match d.outcome {
            Some(o) if o.needs_approval() && user.role == Role::TownshipCaseworker => {
                Approval::Pending
            }
            Some(o) if o.needs_approval() => Approval::Approved,
            _ => Approval::NotRequired,
        };
        let t = ts(now());
        let self_approved = approval == Approval::Approved;
        let ins = "INSERT INTO decisions (flag_id, status, outcome, new_amount, effective_month, \
             reason_code, reason, notice_type, notice_date, notice_method, decided_by, \
             decided_role, decided_at, approval, approved_by, approved_at, approval_note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL) \
             RETURNING decision_id";
        let upd = "UPDATE flags SET status = $1, outcome = $2, approval = $3, updated_at = $4 \
                   WHERE flag_id = $5";
        let trim_opt = |o: &Option<String>| {
            o.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let id = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let row = sqlx::query(ins)
                .bind(flag_id).bind(status.as_str()).bind(d.outcome.map(Outcome::as_str))
                .bind(d.new_amount).bind(trim_opt(&d.effective_month))
                .bind(d.reason_code.trim()).bind(d.reason.trim())
                .bind(trim_opt(&d.notice_type))
                .bind(d.notice_date.map(|x| x.format("%Y-%m-%d").to_string()))
                .bind(trim_opt(&d.notice_method))
                .bind(&user.username).bind(user.role.as_str()).bind(&t)
                .bind(approval.as_str())
                .bind(if self_approved { Some(user.username.clone()) } else { None })
                .bind(if self_approved { Some(t.clone()) } else { None })
                .fetch_one(&mut *tx).await?;
            let id = row.int("decision_id")?;
            sqlx::query(upd)
                .bind(status.as_str()).bind(d.outcome.map(Outcome::as_str))
                .bind(approval.as_str()).bind(&t).bind(flag_id)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<i64, Error>(id)
        })?;
        self.decision(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("decision {id}")))
    }

    /// One decision.
    pub async fn decision(&self, decision_id: i64) -> Result<Option<Decision>> {
        let sql = "SELECT * FROM decisions WHERE decision_id = $1";
        on_pool!(self, p => {
            let r = sqlx::query(sql).bind(decision_id).fetch_optional(p).await?;
            r.as_ref().map(decision_from_row).transpose()
        })
    }

    /// Approves or rejects a pending decision (county reviewer of the case's county, or the
    /// city). A rejection sends the flag back to 核实中.
    pub async fn approve_decision(
        &self,
        decision_id: i64,
        approve: bool,
        note: &str,
        user: &User,
    ) -> Result<Decision> {
        let d = self
            .decision(decision_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("decision {decision_id}")))?;
        let sf = self
            .flag(&d.flag_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("flag {}", d.flag_id)))?;
        let s = &sf.flag.subject;
        if !user.can_approve(&s.county_code, &s.township_code) {
            return Err(Error::Forbidden(format!(
                "{} may not approve decision {decision_id}",
                user.username
            )));
        }
        if d.approval != Approval::Pending {
            return Err(Error::Invalid("该处理决定不在待审批状态".into()));
        }
        if d.decided_by == user.username {
            return Err(Error::Invalid("不能审批本人录入的处理决定".into()));
        }
        let state = if approve {
            Approval::Approved
        } else {
            Approval::Rejected
        };
        let t = ts(now());
        let upd_d = "UPDATE decisions SET approval = $1, approved_by = $2, approved_at = $3, \
                     approval_note = $4 WHERE decision_id = $5 AND approval = 'pending'";
        let upd_f =
            "UPDATE flags SET approval = $1, status = $2, updated_at = $3 WHERE flag_id = $4";
        let flag_status = if approve {
            d.status
        } else {
            FlagStatus::Investigating
        };
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let done = sqlx::query(upd_d)
                .bind(state.as_str()).bind(&user.username).bind(&t).bind(note.trim())
                .bind(decision_id)
                .execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Err(Error::Invalid("该处理决定不在待审批状态".into()));
            }
            sqlx::query(upd_f)
                .bind(state.as_str()).bind(flag_status.as_str()).bind(&t).bind(&d.flag_id)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<(), Error>(())
        })?;
        self.decision(decision_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("decision {decision_id}")))
    }

    // --------------------------------------------------------------------- identity reviews

    /// Identity reviews with the given status (all when `None`), most uncertain first.
    pub async fn reviews(
        &self,
        status: Option<ReviewStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredReview>, i64)> {
        let w = if status.is_some() {
            " WHERE status = $1"
        } else {
            ""
        };
        let count_sql = format!("SELECT COUNT(*) AS n FROM link_reviews{w}");
        let list_sql = format!(
            "SELECT * FROM link_reviews{w} ORDER BY ABS(probability - 0.5) ASC, review_id ASC \
             LIMIT {} OFFSET {}",
            limit.clamp(0, 100_000),
            offset.max(0)
        );
        on_pool!(self, p => {
            let mut cq = sqlx::query(AssertSqlSafe(count_sql));
            let mut lq = sqlx::query(AssertSqlSafe(list_sql));
            if let Some(s) = status {
                cq = cq.bind(s.as_str());
                lq = lq.bind(s.as_str());
            }
            let total = cq.fetch_one(p).await?.int("n")?;
            let rows = lq.fetch_all(p).await?;
            let v = rows.iter().map(review_from_row).collect::<Result<Vec<_>>>()?;
            Ok((v, total))
        })
    }

    /// One identity review.
    pub async fn review(&self, review_id: &str) -> Result<Option<StoredReview>> {
        let sql = "SELECT * FROM link_reviews WHERE review_id = $1";
        on_pool!(self, p => {
            let r = sqlx::query(sql).bind(review_id).fetch_optional(p).await?;
            r.as_ref().map(review_from_row).transpose()
        })
    }

    /// Decides an identity review (same person / not the same person). A later decision by an
    /// analyst replaces an earlier one (corrections happen); the audit log keeps both.
    pub async fn decide_review(
        &self,
        review_id: &str,
        same_person: bool,
        user: &User,
    ) -> Result<StoredReview> {
        if !user.can_decide_reviews() {
            return Err(Error::Forbidden(format!(
                "{} may not decide identity reviews",
                user.username
            )));
        }
        let status = if same_person {
            ReviewStatus::Same
        } else {
            ReviewStatus::Different
        };
        let sql = "UPDATE link_reviews SET status = $1, decided_by = $2, decided_at = $3 \
                   WHERE review_id = $4";
        let done = on_pool!(self, p => sqlx::query(sql)
            .bind(status.as_str()).bind(&user.username).bind(ts(now())).bind(review_id)
            .execute(p).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(Error::NotFound(format!("review {review_id}")));
        }
        self.review(review_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("review {review_id}")))
    }

    // ------------------------------------------------------------------------------- users

    /// Adds a user with an argon2-hashed password.
    pub async fn add_user(&self, u: &NewUser, password: &str) -> Result<User> {
        if !valid_username(&u.username) {
            return Err(Error::Invalid(format!(
                "user name {:?}: use 2–64 letters, digits, '_', '-' or '.'",
                u.username
            )));
        }
        if password.chars().count() < 8 {
            return Err(Error::Invalid("password: at least 8 characters".into()));
        }
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        let mut county = u.county_code.clone().filter(|s| !s.trim().is_empty());
        let township = u.township_code.clone().filter(|s| !s.trim().is_empty());
        match u.role {
            Role::CountyReviewer => match &county {
                Some(c) if digits(c, 6) => {}
                _ => {
                    return Err(Error::Invalid(
                        "county_reviewer needs --county with a 6-digit county code".into(),
                    ));
                }
            },
            Role::TownshipCaseworker => match &township {
                Some(t) if digits(t, 9) => {
                    let derived = t[..6].to_owned();
                    if county.as_ref().is_some_and(|c| *c != derived) {
                        return Err(Error::Invalid(format!(
                            "township {t} is not in county {}",
                            county.unwrap_or_default()
                        )));
                    }
                    county = Some(derived);
                }
                _ => {
                    return Err(Error::Invalid(
                        "township_caseworker needs --township with a 9-digit township code".into(),
                    ));
                }
            },
            _ => {
                if county.is_some() || township.is_some() {
                    return Err(Error::Invalid(format!(
                        "role {} has no county or township scope",
                        u.role.as_str()
                    )));
                }
            }
        }
        let hash = hash_password(password).await?;
        let sql = "INSERT INTO users (username, password_hash, role, county_code, township_code, \
                   active, created_at) VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING user_id";
        let res = on_pool!(self, p => sqlx::query(sql)
            .bind(&u.username).bind(hash).bind(u.role.as_str())
            .bind(&county).bind(&township).bind(ts(now()))
            .fetch_one(p).await.map(|r| on_pool_row_id(&r)));
        let row_id = match res {
            Ok(r) => r?,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::Invalid(format!(
                    "user {} already exists",
                    u.username
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(User {
            user_id: row_id,
            username: u.username.clone(),
            role: u.role,
            county_code: county,
            township_code: township,
            active: true,
        })
    }

    /// Sets a new password for an existing user.
    pub async fn set_password(&self, username: &str, password: &str) -> Result<()> {
        if password.chars().count() < 8 {
            return Err(Error::Invalid("password: at least 8 characters".into()));
        }
        let hash = hash_password(password).await?;
        let sql = "UPDATE users SET password_hash = $1 WHERE username = $2";
        let done = on_pool!(self, p => sqlx::query(sql).bind(hash).bind(username).execute(p).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(Error::NotFound(format!("user {username}")));
        }
        Ok(())
    }

    /// Enables or disables a user; disabling also ends their sessions.
    pub async fn set_active(&self, username: &str, active: bool) -> Result<()> {
        let sql = "UPDATE users SET active = $1 WHERE username = $2";
        let done = on_pool!(self, p => sqlx::query(sql)
            .bind(i64::from(active)).bind(username).execute(p).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(Error::NotFound(format!("user {username}")));
        }
        if !active {
            let del = "DELETE FROM sessions WHERE user_id IN (SELECT user_id FROM users WHERE username = $1)";
            on_pool!(self, p => sqlx::query(del).bind(username).execute(p).await.map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    /// All users, by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        let sql = "SELECT user_id, username, role, county_code, township_code, active FROM users \
                   ORDER BY username";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter().map(user_from_row).collect()
        })
    }

    /// One user by name.
    pub async fn user(&self, username: &str) -> Result<Option<User>> {
        let sql = "SELECT user_id, username, role, county_code, township_code, active FROM users \
                   WHERE username = $1";
        on_pool!(self, p => {
            let r = sqlx::query(sql).bind(username).fetch_optional(p).await?;
            r.as_ref().map(user_from_row).transpose()
        })
    }

    /// Checks a login. Returns the user when the name exists, is active and the password
    /// matches; `None` otherwise (the same work is done for unknown names, so timing does not
    /// tell which names exist).
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Option<User>> {
        let sql = "SELECT user_id, username, role, county_code, township_code, active, \
                   password_hash FROM users WHERE username = $1";
        let found = on_pool!(self, p => {
            let r = sqlx::query(sql).bind(username).fetch_optional(p).await?;
            match r {
                Some(r) => Ok::<_, Error>(Some((user_from_row(&r)?, r.text("password_hash")?))),
                None => Ok(None),
            }
        })?;
        let (user, hash) = match found {
            Some((u, h)) => (Some(u), h),
            None => (None, dummy_hash().await?),
        };
        let ok = verify_password(password, &hash).await?;
        Ok(user.filter(|u| ok && u.active))
    }

    // ---------------------------------------------------------------------------- sessions

    /// Starts a session for `user`.
    pub async fn create_session(&self, user: &User) -> Result<SessionTokens> {
        let token = random_token();
        let csrf = random_token();
        let t = now();
        let expires = t + chrono::Duration::from_std(SESSION_TTL).unwrap_or_default();
        let sql = "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(sha256_hex(&token)).bind(user.user_id).bind(&csrf)
            .bind(ts(t)).bind(ts(expires))
            .execute(p).await.map(|r| r.rows_affected()))?;
        Ok(SessionTokens { token, csrf })
    }

    /// The live session of a cookie token (expired sessions and disabled users give `None`).
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let sql = "SELECT u.user_id, u.username, u.role, u.county_code, u.township_code, u.active, \
                   s.csrf_token FROM sessions s JOIN users u ON u.user_id = s.user_id \
                   WHERE s.token_hash = $1 AND s.expires_at > $2";
        on_pool!(self, p => {
            let r = sqlx::query(sql).bind(sha256_hex(token)).bind(ts(now()))
                .fetch_optional(p).await?;
            match r {
                Some(r) => {
                    let user = user_from_row(&r)?;
                    if !user.active { return Ok(None); }
                    Ok(Some(Session { user, csrf: r.text("csrf_token")? }))
                }
                None => Ok(None),
            }
        })
    }

    /// Ends a session.
    pub async fn delete_session(&self, token: &str) -> Result<()> {
        let sql = "DELETE FROM sessions WHERE token_hash = $1 OR expires_at <= $2";
        on_pool!(self, p => sqlx::query(sql).bind(sha256_hex(token)).bind(ts(now())).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    // ------------------------------------------------------------------------------- audit

    /// Appends an audit entry (the only write the audit log accepts).
    pub async fn audit(&self, a: &NewAudit) -> Result<i64> {
        let sql = "INSERT INTO audit_log (at, username, role, scope, client_ip, action, result, \
                   case_id, flag_id, fields, purpose, result_count, detail) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING audit_id";
        let row = on_pool!(self, p => sqlx::query(sql)
            .bind(ts(now())).bind(&a.username).bind(&a.role).bind(&a.scope).bind(&a.client_ip)
            .bind(&a.action).bind(&a.result).bind(&a.case_id).bind(&a.flag_id).bind(&a.fields)
            .bind(&a.purpose).bind(a.result_count).bind(&a.detail)
            .fetch_one(p).await.map_err(Error::from).and_then(|r| r.int("audit_id")))?;
        Ok(row)
    }

    /// Audit entries matching `q`, newest first, one page and the total.
    pub async fn audit_entries(
        &self,
        q: &AuditQuery,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditEntry>, i64)> {
        let mut clauses = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        for (col, v) in [
            ("username", &q.username),
            ("action", &q.action),
            ("flag_id", &q.flag_id),
            ("case_id", &q.case_id),
        ] {
            if let Some(v) = v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                binds.push(v.to_owned());
                clauses.push(format!("{col} = ${}", binds.len()));
            }
        }
        let w = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let count_sql = format!("SELECT COUNT(*) AS n FROM audit_log{w}");
        let list_sql = format!(
            "SELECT * FROM audit_log{w} ORDER BY audit_id DESC LIMIT {} OFFSET {}",
            limit.clamp(0, 100_000),
            offset.max(0)
        );
        on_pool!(self, p => {
            let mut cq = sqlx::query(AssertSqlSafe(count_sql));
            for b in &binds { cq = cq.bind(b); }
            let total = cq.fetch_one(p).await?.int("n")?;
            let mut lq = sqlx::query(AssertSqlSafe(list_sql));
            for b in &binds { lq = lq.bind(b); }
            let rows = lq.fetch_all(p).await?;
            let v = rows.iter().map(audit_from_row).collect::<Result<Vec<_>>>()?;
            Ok((v, total))
        })
    }

    /// Runs a raw statement against the store. For tests and maintenance only (the workbench
    /// never calls it); the audit-log triggers still apply.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        let done = on_pool!(self, p => sqlx::query(AssertSqlSafe(sql.to_owned())).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }
}

fn on_pool_row_id(r: &impl RowExt) -> Result<i64> {
    r.int("user_id")
}

/// An argon2id hash of a random password, verified against when a login name does not exist
/// so that unknown and known names cost the same.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn dummy_hash() -> Result<String> {
    DUMMY_HASH
        .get_or_try_init(|| async { hash_password(&random_token()).await })
        .await
        .cloned()
}

async fn hash_password(password: &str) -> Result<String> {
    let pw = password.to_owned();
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordHasher;
        argon2::Argon2::default()
            .hash_password(pw.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Password(e.to_string()))
    })
    .await
    .map_err(|e| Error::Password(e.to_string()))?
}

async fn verify_password(password: &str, hash: &str) -> Result<bool> {
    let pw = password.to_owned();
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordVerifier;
        use argon2::password_hash::phc::PasswordHash;
        match PasswordHash::new(&hash) {
            Ok(parsed) => argon2::Argon2::default()
                .verify_password(pw.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    })
    .await
    .map_err(|e| Error::Password(e.to_string()))
}

/// Parses a `YYYY-MM-DD` date from a form field.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@host/db"),
            "postgres://u:***@host/db"
        );
        assert_eq!(redact("sqlite://a.db"), "sqlite://a.db");
    }

    #[test]
    fn months() {
        assert!(valid_month("202109"));
        assert!(!valid_month("202113"));
        assert!(!valid_month("2021-9"));
    }

    #[test]
    fn reduce_needs_notice() {
        let mut d = NewDecision {
            status: Some(FlagStatus::Resolved),
            outcome: Some(Outcome::Reduce),
            new_amount: Some(300.0),
            effective_month: Some("202110".into()),
            reason: "收入超标".into(),
            ..Default::default()
        };
        assert!(Store::validate_decision(&d).is_err());
        d.notice_type = Some("书面告知书".into());
        d.notice_date = NaiveDate::from_ymd_opt(2021, 10, 8);
        d.notice_method = Some("直接送达".into());
        assert_eq!(Store::validate_decision(&d), Ok(FlagStatus::Resolved));
    }
}
