//! The 前置库 tables in PostgreSQL and MariaDB/MySQL. Run when `HEDUI_TEST_POSTGRES_URL` /
//! `HEDUI_TEST_MYSQL_URL` are set (then a missing server fails the test); each run works in its
//! own uniquely named schema/database and drops it.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use hedui_simulator::{DbOptions, Simulator};
use sqlx::Row as _;

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// record_id → (seq, name) of the current rows the HTTP API serves for `dataset`.
async fn served(
    sim: &Simulator,
    r: &Running,
    dataset: &str,
) -> BTreeMap<String, (i64, Option<String>)> {
    let _ = sim;
    pull_all(r, dataset, 0, 10_000)
        .await
        .into_iter()
        .map(|m| {
            (
                m["流水号"].as_str().unwrap().to_owned(),
                (
                    m["_seq"].as_i64().unwrap(),
                    m["姓名"].as_str().map(str::to_owned),
                ),
            )
        })
        .collect()
}

fn options_for(schema: &str) -> DbOptions {
    DbOptions {
        datasets: Some(vec![
            "renshe/contributions".to_owned(),
            "zhujian/property".to_owned(),
        ]),
        schema: Some(schema.to_owned()),
    }
}

#[tokio::test]
async fn postgres_tables_follow_the_api() {
    let Ok(url) = std::env::var("HEDUI_TEST_POSTGRES_URL") else {
        println!("skipped: set HEDUI_TEST_POSTGRES_URL");
        return;
    };
    let schema = unique("hedui_sim_test");
    let r = start(options()).await;
    let report = r
        .sim
        .attach_database(&url, options_for(&schema))
        .await
        .expect("PostgreSQL reachable at HEDUI_TEST_POSTGRES_URL");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let result = async {
        assert_eq!(report.tables.len(), 2);
        assert_eq!(report.tables[0].rows, 5971);
        let check = |rows: Vec<sqlx::postgres::PgRow>| {
            rows.into_iter()
                .map(|row| {
                    (
                        row.get::<Option<String>, _>("record_id").unwrap(),
                        (
                            row.get::<i64, _>("seq"),
                            row.get::<Option<String>, _>("name"),
                        ),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        };
        let sql = format!(
            "SELECT seq, record_id, name FROM \"{schema}\".\"renshe_contributions\" ORDER BY seq"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(
            check(rows),
            served(&r.sim, &r, "renshe/contributions").await
        );
        let before: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT max(seq) FROM \"{schema}\".\"renshe_contributions\""
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        let report = r.sim.publish(Some("snapshot-2")).await.unwrap();
        let d = report
            .datasets
            .iter()
            .find(|d| d.dataset == "contributions")
            .unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(
            check(rows),
            served(&r.sim, &r, "renshe/contributions").await
        );
        // A database source's incremental pull gets exactly the new and changed rows.
        let pulled: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{schema}\".\"renshe_contributions\" WHERE seq > $1"
        )))
        .bind(before)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(pulled as u64, d.new + d.changed);
        assert!(d.new + d.changed > 0);
        // Chinese text survives.
        let name: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM \"{schema}\".\"renshe_contributions\" WHERE name IS NOT NULL LIMIT 1"
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(name.unwrap().chars().all(|c| !c.is_ascii_digit()));
    }
    .await;
    r.sim.detach_databases().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&pool)
    .await
    .unwrap();
    r.server.shutdown().await.unwrap();
    result
}

#[tokio::test]
async fn mysql_tables_follow_the_api() {
    let Ok(url) = std::env::var("HEDUI_TEST_MYSQL_URL") else {
        println!("skipped: set HEDUI_TEST_MYSQL_URL");
        return;
    };
    let schema = unique("hedui_sim_test");
    let r = start(options()).await;
    let report = r
        .sim
        .attach_database(&url, options_for(&schema))
        .await
        .expect("MySQL reachable at HEDUI_TEST_MYSQL_URL");
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let result = async {
        assert_eq!(report.tables.len(), 2);
        assert_eq!(report.tables[0].rows, 5971);
        let sql = format!(
            "SELECT seq, record_id, name FROM `{schema}`.`renshe_contributions` ORDER BY seq"
        );
        let check = |rows: Vec<sqlx::mysql::MySqlRow>| {
            rows.into_iter()
                .map(|row| {
                    (
                        row.get::<Option<String>, _>("record_id").unwrap(),
                        (
                            row.get::<i64, _>("seq"),
                            row.get::<Option<String>, _>("name"),
                        ),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(
            check(rows),
            served(&r.sim, &r, "renshe/contributions").await
        );
        r.sim.publish(Some("snapshot-2")).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(
            check(rows),
            served(&r.sim, &r, "renshe/contributions").await
        );
        let property: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM `{schema}`.`zhujian_property`"
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        let info = r.sim.datasets().await;
        let p = info.iter().find(|d| d.dataset == "property").unwrap();
        assert_eq!(property as u64, p.rows);
    }
    .await;
    r.sim.detach_databases().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE `{schema}`")))
        .execute(&pool)
        .await
        .unwrap();
    r.server.shutdown().await.unwrap();
    result
}
