//! The database source: a department's 前置库 table on PostgreSQL or MySQL/MariaDB, pulled
//! incrementally (`WHERE key > watermark ORDER BY key LIMIT batch`), one batch at a time, so
//! memory is bounded by the batch size whatever the table's size.
//!
//! Columns are matched by name against the schema's canonical names (or the delivered Chinese
//! headers); the incremental key and an `updated_at` bookkeeping column are not data. Any other
//! difference is schema drift.

use std::time::Duration;

use sqlx::{Column, Row};

use crate::spec::DatabaseSpec;
use crate::{CancelToken, Error};

#[derive(Debug)]
enum Pool {
    Pg(sqlx::PgPool),
    My(sqlx::MySqlPool),
}

/// One batch: the column names and the rows (key, values in column order).
#[derive(Debug, Default)]
pub struct DbBatch {
    /// Column names as the database reports them.
    pub columns: Vec<String>,
    /// Index of the key column in `columns`.
    pub key_index: usize,
    /// Rows: key value and every column's value as text.
    pub rows: Vec<(i64, Vec<Option<String>>)>,
}

/// Pulls batches from one table.
#[derive(Debug)]
pub struct DbPuller {
    pool: Pool,
    spec: DatabaseSpec,
    source: String,
    sql: String,
    /// Queries made.
    pub requests: u64,
    /// Queries retried.
    pub retries: u64,
}

fn quote(ident: &str, q: char) -> String {
    ident
        .split('.')
        .map(|p| format!("{q}{p}{q}"))
        .collect::<Vec<_>>()
        .join(".")
}

impl DbPuller {
    /// Connects with the URL in `spec.url_env`.
    pub async fn connect(source: &str, spec: &DatabaseSpec) -> Result<DbPuller, Error> {
        let url =
            std::env::var(&spec.url_env).map_err(|_| Error::MissingEnv(spec.url_env.clone()))?;
        let err = |e: sqlx::Error| Error::Database {
            source_name: source.to_owned(),
            message: format!("connecting: {e}"),
        };
        let (pool, sql) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(15))
                .connect(&url)
                .await
                .map_err(err)?;
            let sql = format!(
                "SELECT * FROM {} WHERE {} > $1 ORDER BY {} LIMIT $2",
                quote(&spec.table, '"'),
                quote(&spec.key, '"'),
                quote(&spec.key, '"')
            );
            (Pool::Pg(pool), sql)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let pool = sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(15))
                .connect(&url)
                .await
                .map_err(err)?;
            let sql = format!(
                "SELECT * FROM {} WHERE {} > ? ORDER BY {} LIMIT ?",
                quote(&spec.table, '`'),
                quote(&spec.key, '`'),
                quote(&spec.key, '`')
            );
            (Pool::My(pool), sql)
        } else {
            return Err(Error::Database {
                source_name: source.to_owned(),
                message: format!(
                    "the URL in {} must start with postgres:// or mysql://",
                    spec.url_env
                ),
            });
        };
        Ok(DbPuller {
            pool,
            spec: spec.clone(),
            source: source.to_owned(),
            sql,
            requests: 0,
            retries: 0,
        })
    }

    /// The next batch after `since` (empty when the table has nothing newer). Retries
    /// transient failures three times with backoff. `Ok(None)` when cancelled.
    pub async fn fetch(
        &mut self,
        since: i64,
        cancel: &CancelToken,
    ) -> Result<Option<DbBatch>, Error> {
        let mut attempt = 0u32;
        loop {
            if cancel.is_cancelled() {
                return Ok(None);
            }
            self.requests += 1;
            match self.query(since).await {
                Ok(b) => return Ok(Some(b)),
                Err(e) if attempt < 3 && is_transient(&e) => {
                    attempt += 1;
                    self.retries += 1;
                    tracing::warn!(source = %self.source, attempt, "retrying database batch: {e}");
                    tokio::time::sleep(Duration::from_millis(200 * (1 << attempt))).await;
                }
                Err(e) => {
                    return Err(Error::Database {
                        source_name: self.source.clone(),
                        message: format!("querying {}: {e}", self.spec.table),
                    });
                }
            }
        }
    }

    async fn query(&self, since: i64) -> Result<DbBatch, sqlx::Error> {
        let limit = i64::from(self.spec.batch_size);
        let mut batch = DbBatch::default();
        match &self.pool {
            Pool::Pg(pool) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(self.sql.clone()))
                    .bind(since)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                for row in &rows {
                    if batch.columns.is_empty() {
                        batch.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
                        batch.key_index = key_index(&batch.columns, &self.spec.key);
                    }
                    let values: Vec<Option<String>> =
                        (0..row.len()).map(|i| pg_text(row, i)).collect();
                    let key = key_value(&values, batch.key_index);
                    batch.rows.push((key, values));
                }
            }
            Pool::My(pool) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(self.sql.clone()))
                    .bind(since)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                for row in &rows {
                    if batch.columns.is_empty() {
                        batch.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
                        batch.key_index = key_index(&batch.columns, &self.spec.key);
                    }
                    let values: Vec<Option<String>> =
                        (0..row.len()).map(|i| my_text(row, i)).collect();
                    let key = key_value(&values, batch.key_index);
                    batch.rows.push((key, values));
                }
            }
        }
        Ok(batch)
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_)
    )
}

fn key_index(columns: &[String], key: &str) -> usize {
    columns.iter().position(|c| c == key).unwrap_or(usize::MAX)
}

fn key_value(values: &[Option<String>], i: usize) -> i64 {
    values
        .get(i)
        .and_then(|v| v.as_deref())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(i64::MIN)
}

fn pg_text(row: &sqlx::postgres::PgRow, i: usize) -> Option<String> {
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v;
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map(|n| n.to_string());
    }
    if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
        return v.map(|n| n.to_string());
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return v.map(hedui_tabular::render_float);
    }
    if let Ok(v) = row.try_get::<Option<chrono::NaiveDateTime>, _>(i) {
        return v.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    }
    if let Ok(v) = row.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(i) {
        return v.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    }
    if let Ok(v) = row.try_get::<Option<chrono::NaiveDate>, _>(i) {
        return v.map(|t| t.format("%Y-%m-%d").to_string());
    }
    None
}

fn my_text(row: &sqlx::mysql::MySqlRow, i: usize) -> Option<String> {
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v;
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map(|n| n.to_string());
    }
    if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
        return v.map(|n| n.to_string());
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return v.map(hedui_tabular::render_float);
    }
    if let Ok(v) = row.try_get::<Option<chrono::NaiveDateTime>, _>(i) {
        return v.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    }
    if let Ok(v) = row.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(i) {
        return v.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    }
    if let Ok(v) = row.try_get::<Option<chrono::NaiveDate>, _>(i) {
        return v.map(|t| t.format("%Y-%m-%d").to_string());
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
        return v.map(|b| String::from_utf8_lossy(&b).into_owned());
    }
    None
}
