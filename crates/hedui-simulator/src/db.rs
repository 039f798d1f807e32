//! The 前置库 tables: each dataset as a table `<department>_<dataset>` with `seq BIGINT PRIMARY
//! KEY`, `updated_at`, and one `TEXT` column per schema column under its canonical name, in
//! PostgreSQL (bulk-loaded with `COPY … FROM STDIN`) or MariaDB/MySQL (multi-row `INSERT`s).
//! A publish deletes the superseded versions of changed rows and inserts the new and changed
//! rows under their new `seq`, in one transaction per table.

use serde::Serialize;
use sqlx::{AssertSqlSafe, MySqlPool, PgPool, QueryBuilder};

use crate::store::{split_body, token_text};
use crate::{Delta, Entry, Error, Simulator};

/// Rows fetched from the store per batch.
const BATCH: u64 = 5_000;

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DbKind {
    /// PostgreSQL (`postgres://`, `postgresql://`).
    Postgres,
    /// MariaDB or MySQL (`mysql://`, `mariadb://`).
    MySql,
}

impl DbKind {
    /// The kind of a connection URL.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for another scheme.
    pub fn of_url(url: &str) -> Result<DbKind, Error> {
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
        match scheme {
            "postgres" | "postgresql" => Ok(DbKind::Postgres),
            "mysql" | "mariadb" => Ok(DbKind::MySql),
            _ => Err(Error::Config(
                "database URL must start with postgres:// or mysql://".into(),
            )),
        }
    }
}

/// What to load into a database.
#[derive(Debug, Clone, Default)]
pub struct DbOptions {
    /// `department/dataset`s to load (`None` = [`default_db_datasets`]).
    pub datasets: Option<Vec<String>>,
    /// Create the tables in this PostgreSQL schema / MySQL database (created if missing)
    /// instead of the connection's default. Letters, digits and `_` only.
    pub schema: Option<String>,
}

/// One loaded table.
#[derive(Debug, Clone, Serialize)]
pub struct DbTable {
    /// `department/dataset`.
    pub dataset: String,
    /// The table name (`<department>_<dataset>`, qualified with the schema when one was given).
    pub table: String,
    /// Rows loaded.
    pub rows: u64,
}

/// What [`Simulator::attach_database`] loaded.
#[derive(Debug, Clone, Serialize)]
pub struct DbLoadReport {
    /// The database kind.
    pub kind: DbKind,
    /// Tables created and loaded.
    pub tables: Vec<DbTable>,
}

/// The datasets that go to the 前置库 by default: every 人社 and 住建 dataset served.
pub fn default_db_datasets(sim: &Simulator) -> Vec<String> {
    sim.inner
        .entries
        .iter()
        .filter(|e| matches!(e.schema.department.as_str(), "renshe" | "zhujian"))
        .map(|e| e.qualified.clone())
        .collect()
}

#[derive(Debug)]
enum Pool {
    Pg(PgPool),
    My(MySqlPool),
}

/// An attached database.
#[derive(Debug)]
pub(crate) struct DbTarget {
    pool: Pool,
    schema: Option<String>,
    entries: Vec<usize>,
}

impl DbTarget {
    pub async fn close(self) {
        match self.pool {
            Pool::Pg(p) => p.close().await,
            Pool::My(p) => p.close().await,
        }
    }

    fn table(&self, entry: &Entry) -> String {
        let name = format!("{}_{}", entry.schema.department, entry.schema.dataset);
        let q = |s: &str| match self.pool {
            Pool::Pg(_) => format!("\"{s}\""),
            Pool::My(_) => format!("`{s}`"),
        };
        match &self.schema {
            Some(s) => format!("{}.{}", q(s), q(&name)),
            None => q(&name),
        }
    }

    fn column_list(&self, entry: &Entry) -> String {
        let q = |s: &str| match self.pool {
            Pool::Pg(_) => format!("\"{s}\""),
            Pool::My(_) => format!("`{s}`"),
        };
        let mut cols = vec!["seq".to_owned(), "updated_at".to_owned()];
        cols.extend(entry.schema.columns.iter().map(|c| q(&c.name)));
        cols.join(", ")
    }
}

fn db_err(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Error {
    let what = what.into();
    move |source| Error::Database { what, source }
}

pub(crate) async fn attach(
    sim: &Simulator,
    url: &str,
    options: DbOptions,
) -> Result<(DbTarget, DbLoadReport), Error> {
    let kind = DbKind::of_url(url)?;
    if let Some(s) = &options.schema
        && (s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(Error::Config(format!(
            "schema name `{s}` must be letters, digits and _"
        )));
    }
    let names = options.datasets.unwrap_or_else(|| default_db_datasets(sim));
    let mut entries = Vec::new();
    for q in &names {
        let i = sim
            .inner
            .entries
            .iter()
            .position(|e| &e.qualified == q)
            .ok_or_else(|| Error::Config(format!("dataset `{q}` is not served")))?;
        if !entries.contains(&i) {
            entries.push(i);
        }
    }
    let pool = match kind {
        DbKind::Postgres => Pool::Pg(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(url)
                .await
                .map_err(db_err("connect to PostgreSQL"))?,
        ),
        DbKind::MySql => Pool::My(
            sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(2)
                .connect(url)
                .await
                .map_err(db_err("connect to MySQL"))?,
        ),
    };
    let target = DbTarget {
        pool,
        schema: options.schema,
        entries,
    };
    if let Some(s) = &target.schema {
        let sql = match target.pool {
            Pool::Pg(_) => format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""),
            Pool::My(_) => {
                format!("CREATE DATABASE IF NOT EXISTS `{s}` CHARACTER SET utf8mb4")
            }
        };
        execute(&target.pool, &sql, "create schema").await?;
    }
    let mut report = DbLoadReport {
        kind,
        tables: Vec::new(),
    };
    for &i in &target.entries {
        let entry = &sim.inner.entries[i];
        let table = target.table(entry);
        execute(
            &target.pool,
            &format!("DROP TABLE IF EXISTS {table}"),
            &format!("drop {table}"),
        )
        .await?;
        let columns: Vec<String> = entry
            .schema
            .columns
            .iter()
            .map(|c| match target.pool {
                Pool::Pg(_) => format!("\"{}\" TEXT", c.name),
                Pool::My(_) => format!("`{}` TEXT", c.name),
            })
            .collect();
        let create = match target.pool {
            Pool::Pg(_) => format!(
                "CREATE TABLE {table} (seq BIGINT PRIMARY KEY, updated_at TIMESTAMP NOT NULL, {})",
                columns.join(", ")
            ),
            Pool::My(_) => format!(
                "CREATE TABLE {table} (seq BIGINT PRIMARY KEY, updated_at DATETIME NOT NULL, {}) \
                 DEFAULT CHARSET=utf8mb4",
                columns.join(", ")
            ),
        };
        execute(&target.pool, &create, &format!("create {table}")).await?;
        let last = entry.store.read().await.published_seq();
        let rows = insert_range(&target, entry, &[], 1, last).await?;
        tracing::info!(dataset = %entry.qualified, %table, rows, "前置库 table loaded");
        report.tables.push(DbTable {
            dataset: entry.qualified.clone(),
            table,
            rows,
        });
    }
    Ok((target, report))
}

async fn execute(pool: &Pool, sql: &str, what: &str) -> Result<(), Error> {
    match pool {
        // Identifiers come from the embedded schemas and a checked schema name.
        Pool::Pg(p) => sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(p)
            .await
            .map(|_| ()),
        Pool::My(p) => sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(p)
            .await
            .map(|_| ()),
    }
    .map_err(db_err(what))
}

pub(crate) async fn apply_publish(
    sim: &Simulator,
    target: &mut DbTarget,
    deltas: &[Delta],
) -> Result<(), Error> {
    for d in deltas {
        if !target.entries.contains(&d.entry) {
            continue;
        }
        let entry = &sim.inner.entries[d.entry];
        let (first, last) = d.appended.unwrap_or((1, 0));
        let rows = insert_range(target, entry, &d.superseded, first, last).await?;
        tracing::info!(dataset = %entry.qualified, replaced = d.superseded.len(), rows, "前置库 table updated");
    }
    Ok(())
}

type Row = (i64, Vec<Option<String>>);

/// The current rows with `first <= seq <= last`, as values.
async fn fetch(entry: &Entry, first: u64, last: u64) -> Result<Vec<Row>, Error> {
    let store = entry.store.read().await;
    let mut out = Vec::new();
    for r in store.live_in(first, last) {
        let tokens = split_body(store.body(r), &entry.prefixes).ok_or_else(|| {
            Error::Internal(format!("corrupt row {} of {}", r + 1, entry.qualified))
        })?;
        let values = tokens
            .into_iter()
            .map(|t| token_text(t).map(|v| v.into_owned()))
            .collect();
        out.push((i64::try_from(r + 1).unwrap_or(i64::MAX), values));
    }
    Ok(out)
}

fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::NaiveDateTime::new(
        now.date(),
        chrono::NaiveTime::from_num_seconds_from_midnight_opt(now.num_seconds_from_midnight(), 0)
            .unwrap_or_default(),
    )
}

use chrono::Timelike as _;

/// In one transaction: deletes the rows with seq in `delete`, inserts the current rows with
/// `first <= seq <= last`. Returns the rows inserted.
async fn insert_range(
    target: &DbTarget,
    entry: &Entry,
    delete: &[u64],
    first: u64,
    last: u64,
) -> Result<u64, Error> {
    let table = target.table(entry);
    let columns = target.column_list(entry);
    let stamp = now();
    let delete: Vec<i64> = delete
        .iter()
        .map(|&s| i64::try_from(s).unwrap_or(i64::MAX))
        .collect();
    let mut inserted = 0u64;
    match &target.pool {
        Pool::Pg(pool) => {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            if !delete.is_empty() {
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE seq = ANY($1)"
                )))
                .bind(&delete)
                .execute(&mut *tx)
                .await
                .map_err(db_err(format!("delete from {table}")))?;
            }
            if last >= first {
                let mut copy = tx
                    .copy_in_raw(&format!(
                        "COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
                    ))
                    .await
                    .map_err(db_err(format!("copy into {table}")))?;
                let stamp = stamp.format("%Y-%m-%d %H:%M:%S").to_string();
                let mut lo = first;
                while lo <= last {
                    let hi = (lo + BATCH - 1).min(last);
                    let rows = fetch(entry, lo, hi).await?;
                    let mut buf = String::with_capacity(rows.len() * 200);
                    for (seq, values) in &rows {
                        buf.push_str(&seq.to_string());
                        buf.push(',');
                        buf.push_str(&stamp);
                        for v in values {
                            buf.push(',');
                            if let Some(v) = v {
                                buf.push('"');
                                buf.push_str(&v.replace('"', "\"\""));
                                buf.push('"');
                            }
                        }
                        buf.push('\n');
                    }
                    inserted += rows.len() as u64;
                    if !buf.is_empty() {
                        copy.send(buf.into_bytes())
                            .await
                            .map_err(db_err(format!("copy into {table}")))?;
                    }
                    lo = hi + 1;
                }
                copy.finish()
                    .await
                    .map_err(db_err(format!("copy into {table}")))?;
            }
            tx.commit()
                .await
                .map_err(db_err(format!("commit {table}")))?;
        }
        Pool::My(pool) => {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            for chunk in delete.chunks(1000) {
                let mut qb =
                    QueryBuilder::<sqlx::MySql>::new(format!("DELETE FROM {table} WHERE seq IN ("));
                let mut sep = qb.separated(", ");
                for s in chunk {
                    sep.push_bind(*s);
                }
                qb.push(")");
                qb.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err(format!("delete from {table}")))?;
            }
            let per_statement = (60_000 / (entry.schema.columns.len() + 2)).clamp(1, 2_000);
            let mut lo = first;
            while last >= first && lo <= last {
                let hi = (lo + BATCH - 1).min(last);
                let rows = fetch(entry, lo, hi).await?;
                for chunk in rows.chunks(per_statement) {
                    let mut qb = QueryBuilder::<sqlx::MySql>::new(format!(
                        "INSERT INTO {table} ({columns}) "
                    ));
                    qb.push_values(chunk, |mut b, (seq, values)| {
                        b.push_bind(*seq);
                        b.push_bind(stamp);
                        for v in values {
                            b.push_bind(v.clone());
                        }
                    });
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err(format!("insert into {table}")))?;
                    inserted += chunk.len() as u64;
                }
                lo = hi + 1;
            }
            tx.commit()
                .await
                .map_err(db_err(format!("commit {table}")))?;
        }
    }
    Ok(inserted)
}
