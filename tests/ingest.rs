//! End-to-end tests of `hedui ingest` through the binary.
//!
//! The HTTP tests run against `FixtureApi` below: a **test fixture**, a minimal HTTP/1.1
//! server on 127.0.0.1 implementing docs/department-api.md (records endpoint, JSON and
//! GB18030 CSV pages, signed and bearer auth, deterministic fault injection), serving the
//! committed sample city's extracts. It stands in for `hedui-simulator` until that crate
//! exposes an in-process server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hedui_lake::{Lake, PartitionFilter, Zone};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "fixture-secret";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample(rel: &str) -> PathBuf {
    repo().join("data-samples/city-3000/snapshot-1").join(rel)
}

#[derive(Debug, Clone, Default)]
struct Faults {
    /// Which fault, applied to every `every`-th request (1-based: requests 2, 2+every, …).
    kind: Option<&'static str>,
    every: u64,
    slow_ms: u64,
    /// Rename 姓名 → 名称 (JSON dataset).
    drift: bool,
    /// Delay every response (for the SIGKILL test).
    delay_ms: u64,
}

struct Dataset {
    header: Vec<u8>, // CSV only: GB18030 header line (without _seq)
    rows: Vec<Vec<u8>>,
}

struct FixtureApi {
    json: Dataset,
    csv: Dataset,
    faults: Mutex<Faults>,
    requests: AtomicU64,
}

impl FixtureApi {
    fn load() -> Arc<FixtureApi> {
        let jsonl = std::fs::read(sample("gongan/population.jsonl")).unwrap();
        let json_rows: Vec<Vec<u8>> = jsonl
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        let csv = std::fs::read(sample("renshe/contributions.csv")).unwrap();
        let mut lines = csv
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
            .filter(|l| !l.is_empty());
        let header = lines.next().unwrap();
        Arc::new(FixtureApi {
            json: Dataset {
                header: Vec::new(),
                rows: json_rows,
            },
            csv: Dataset {
                header,
                rows: lines.collect(),
            },
            faults: Mutex::new(Faults::default()),
            requests: AtomicU64::new(0),
        })
    }

    fn set(&self, f: Faults) {
        *self.faults.lock().unwrap() = f;
    }

    /// Starts the server on an ephemeral loopback port in a background runtime.
    fn start(self: &Arc<Self>) -> u16 {
        let (tx, rx) = std::sync::mpsc::channel();
        let api = Arc::clone(self);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        continue;
                    };
                    let api = Arc::clone(&api);
                    tokio::spawn(async move {
                        let _ = api.serve(sock).await;
                    });
                }
            });
        });
        rx.recv().unwrap()
    }

    async fn serve(&self, mut sock: tokio::net::TcpStream) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let mut lines = head.split("\r\n");
        let target = lines
            .next()
            .unwrap_or("")
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let headers: Vec<(String, String)> = lines
            .take_while(|l| !l.is_empty())
            .filter_map(|l| {
                l.split_once(':')
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            })
            .collect();
        let h = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let mut params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('=').map(|(a, b)| (a.to_owned(), b.to_owned())))
            .collect();
        params.sort();
        let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let faults = self.faults.lock().unwrap().clone();
        if faults.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
        }
        // Authentication.
        let authorised = if path.contains("/renshe/") {
            h("authorization").as_deref() == Some(&format!("Bearer {SECRET}"))
        } else {
            match (
                h("x-app-key"),
                h("x-timestamp"),
                h("x-nonce"),
                h("x-signature"),
            ) {
                (Some(k), Some(ts), Some(nonce), Some(sig)) => {
                    let ts: i64 = ts.parse().unwrap_or(0);
                    let canon = params
                        .iter()
                        .map(|(a, b)| format!("{a}={b}"))
                        .collect::<Vec<_>>()
                        .join("&");
                    k == "hedui-gongan"
                        && (chrono::Utc::now().timestamp() - ts).abs() <= 300
                        && (8..=64).contains(&nonce.len())
                        && sig
                            == hedui_ingest::http::signature(
                                SECRET, "GET", path, &canon, ts, &nonce,
                            )
                }
                _ => false,
            }
        };
        if !authorised {
            return respond(
                &mut sock,
                401,
                "application/json",
                &[],
                br#"{"code":401,"msg":"authentication failed"}"#,
            )
            .await;
        }
        let fault = if faults.every > 0 && n % faults.every == 2 % faults.every {
            faults.kind
        } else {
            None
        };
        match fault {
            Some("5xx") => {
                return respond(
                    &mut sock,
                    503,
                    "application/json",
                    &[],
                    br#"{"code":503,"msg":"busy"}"#,
                )
                .await;
            }
            Some("timeout") => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return Ok(());
            }
            Some("slow") => tokio::time::sleep(Duration::from_millis(faults.slow_ms)).await,
            _ => {}
        }
        let mut since: i64 = param("since").and_then(|s| s.parse().ok()).unwrap_or(0);
        let limit: usize = param("limit").and_then(|s| s.parse().ok()).unwrap_or(1000);
        if fault == Some("duplicate") {
            since = (since - 3).max(0);
        }
        let csv = param("format").as_deref() == Some("csv");
        let data = if csv { &self.csv } else { &self.json };
        let start = usize::try_from(since).unwrap_or(0).min(data.rows.len());
        let end = (start + limit).min(data.rows.len());
        let next = if end > start { end as i64 } else { since };
        let more = end < data.rows.len();
        let (ctype, body, extra): (&str, Vec<u8>, Vec<(String, String)>) = if csv {
            let mut body = b"_seq,".to_vec();
            body.extend_from_slice(&data.header);
            body.extend_from_slice(b"\r\n");
            for (i, r) in data.rows[start..end].iter().enumerate() {
                body.extend_from_slice(format!("{},", start + i + 1).as_bytes());
                body.extend_from_slice(r);
                body.extend_from_slice(b"\r\n");
            }
            (
                "text/csv; charset=gb18030",
                body,
                vec![
                    ("X-Next-Since".into(), next.to_string()),
                    ("X-Has-More".into(), more.to_string()),
                ],
            )
        } else {
            let mut body = br#"{"code":0,"msg":"ok","data":{"records":["#.to_vec();
            for (i, r) in data.rows[start..end].iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                let mut line = String::from_utf8_lossy(r).into_owned();
                if faults.drift {
                    line = line.replace("\"姓名\"", "\"名称\"");
                }
                body.extend_from_slice(format!("{{\"_seq\":{},", start + i + 1).as_bytes());
                body.extend_from_slice(&line.as_bytes()[1..]);
            }
            body.extend_from_slice(
                format!(r#"],"next_since":{next},"has_more":{more}}}}}"#).as_bytes(),
            );
            ("application/json", body, Vec::new())
        };
        if fault == Some("truncate") {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            sock.write_all(head.as_bytes()).await?;
            sock.write_all(&body[..body.len() / 2]).await?;
            return sock.shutdown().await;
        }
        respond(&mut sock, 200, ctype, &extra, &body).await
    }
}

async fn respond(
    sock: &mut tokio::net::TcpStream,
    status: u16,
    ctype: &str,
    extra: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body).await?;
    sock.shutdown().await
}

fn write_pipeline(dir: &Path, port: u16, extra_http: &str, files: &str) -> PathBuf {
    let text = format!(
        r#"
[pipeline]
name = "test"
data_dir = "data"
timezone = "Asia/Shanghai"

[[sources]]
name = "gongan_population"
department = "gongan"
dataset = "population"
kind = "http"
checkpoint_secs = 0.2
[sources.http]
base_url = "http://127.0.0.1:{port}/api/v1"
auth = "signed"
app_key = "hedui-gongan"
secret_env = "FIXTURE_SECRET"
format = "json"
page_size = 250
timeout_secs = 1
max_retries = 6
retry_base_ms = 20
{extra_http}

[[sources]]
name = "renshe_contributions"
department = "renshe"
dataset = "contributions"
kind = "http"
[sources.http]
base_url = "http://127.0.0.1:{port}/api/v1"
auth = "bearer"
secret_env = "FIXTURE_SECRET"
format = "csv"
page_size = 700
timeout_secs = 1
max_retries = 6
retry_base_ms = 20
{extra_http}
{files}

[linkage]
ignored = "by ingestion"
"#
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn hedui(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hedui"))
        .args(args)
        .env("FIXTURE_SECRET", SECRET)
        .env("HEDUI_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every `_seq` (raw and quarantine) of a dataset in the lake, checking there is no duplicate.
fn lake_seqs(lake: &Path, dept: &str, ds: &str) -> Vec<i64> {
    let lake = Lake::open(lake);
    let mut out = Vec::new();
    for zone in [Zone::Raw, Zone::Quarantine] {
        for p in lake
            .partitions(zone, dept, ds, &PartitionFilter::default())
            .unwrap()
        {
            let t = p.read_text().unwrap();
            if let Some(c) = t.column("_seq") {
                out.extend(
                    c.iter()
                        .map(|v| v.as_deref().unwrap().parse::<i64>().unwrap()),
                );
            }
        }
    }
    out.sort_unstable();
    out
}

fn assert_exact(lake: &Path, dept: &str, ds: &str, n: usize) {
    let seqs = lake_seqs(lake, dept, ds);
    let unique: BTreeSet<i64> = seqs.iter().copied().collect();
    assert_eq!(
        unique.len(),
        seqs.len(),
        "{dept}/{ds}: duplicated rows in the lake"
    );
    assert_eq!(
        seqs,
        (1..=n as i64).collect::<Vec<_>>(),
        "{dept}/{ds}: lake differs from the source"
    );
}

fn run_manifest_reconciles(lake: &Path, stdout_json: &str) {
    let m: hedui_lake::RunManifest = serde_json::from_str(stdout_json).unwrap();
    for s in &m.sources {
        assert!(
            s.reconciles(),
            "{}: read {} != written {} + quarantined {}",
            s.source,
            s.rows_read,
            s.rows_written,
            s.rows_quarantined
        );
    }
    let stored = Lake::open(lake).run_manifest(&m.run_id).unwrap();
    assert_eq!(stored, m);
}

#[test]
fn http_json_and_csv_end_to_end_then_idempotent() {
    let api = FixtureApi::load();
    let port = api.start();
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), port, "", "");
    let lake = dir.path().join("data/lake");
    let (code, out, err) = hedui(&["ingest", "--pipeline", p.to_str().unwrap(), "--json"]);
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    run_manifest_reconciles(&lake, &out);
    assert_exact(&lake, "gongan", "population", api.json.rows.len());
    assert_exact(&lake, "renshe", "contributions", api.csv.rows.len());
    // Typed columns: the population's updated_at is a timestamp, the contribution amount a float.
    let l = Lake::open(&lake);
    let parts = l
        .partitions(
            Zone::Raw,
            "renshe",
            "contributions",
            &PartitionFilter::default(),
        )
        .unwrap();
    let batch = &parts[0].read_batches().unwrap()[0];
    let ty = |n: &str| {
        format!(
            "{:?}",
            batch.schema().field_with_name(n).unwrap().data_type()
        )
    };
    assert_eq!(ty("base"), "Float64");
    assert_eq!(ty("id_number"), "Utf8");
    assert_eq!(ty("_seq"), "Int64");
    // A rerun pulls nothing new.
    let (code, out, err) = hedui(&["ingest", "--pipeline", p.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let m: hedui_lake::RunManifest = serde_json::from_str(&out).unwrap();
    assert!(m.sources.iter().all(|s| s.rows_read == 0), "{out}");
    assert_exact(&lake, "gongan", "population", api.json.rows.len());
}

#[test]
fn each_http_fault_leaves_exactly_the_source_rows() {
    let api = FixtureApi::load();
    let port = api.start();
    for (kind, every) in [
        ("5xx", 3),
        ("timeout", 5),
        ("slow", 4),
        ("truncate", 3),
        ("duplicate", 2),
    ] {
        api.set(Faults {
            kind: Some(kind),
            every,
            slow_ms: 300,
            ..Faults::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let p = write_pipeline(dir.path(), port, "", "");
        let lake = dir.path().join("data/lake");
        let (code, out, err) = hedui(&["ingest", "--pipeline", p.to_str().unwrap(), "--json"]);
        assert!(code == 0 || code == 1, "{kind}: exit {code}: {err}");
        run_manifest_reconciles(&lake, &out);
        let m: hedui_lake::RunManifest = serde_json::from_str(&out).unwrap();
        assert!(
            m.sources.iter().all(|s| s.status != "failed"),
            "{kind}: {out}"
        );
        if kind == "duplicate" {
            assert!(
                m.sources.iter().any(|s| s.duplicates_dropped > 0),
                "{kind}: {out}"
            );
        } else if kind != "slow" {
            assert!(m.sources.iter().any(|s| s.retries > 0), "{kind}: {out}");
        }
        assert_exact(&lake, "gongan", "population", api.json.rows.len());
        assert_exact(&lake, "renshe", "contributions", api.csv.rows.len());
    }
}

#[test]
fn schema_drift_fails_clearly_and_the_rerun_completes() {
    let api = FixtureApi::load();
    let port = api.start();
    api.set(Faults {
        drift: true,
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), port, "", "");
    let lake = dir.path().join("data/lake");
    let (code, out, _) = hedui(&[
        "ingest",
        "--pipeline",
        p.to_str().unwrap(),
        "--source",
        "gongan_population",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("schema drift") && out.contains("姓名 (name)") && out.contains("名称"),
        "{out}"
    );
    assert!(lake_seqs(&lake, "gongan", "population").is_empty());
    api.set(Faults::default());
    let (code, out, err) = hedui(&[
        "ingest",
        "--pipeline",
        p.to_str().unwrap(),
        "--source",
        "gongan_population",
    ]);
    assert!(code == 0 || code == 1, "{out} {err}");
    assert_exact(&lake, "gongan", "population", api.json.rows.len());
}

#[test]
fn sigkill_mid_pull_then_rerun_loses_and_duplicates_nothing() {
    let api = FixtureApi::load();
    let port = api.start();
    api.set(Faults {
        delay_ms: 60,
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), port, "", "");
    let lake = dir.path().join("data/lake");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hedui"))
        .args([
            "ingest",
            "--pipeline",
            p.to_str().unwrap(),
            "--source",
            "gongan_population",
        ])
        .env("FIXTURE_SECRET", SECRET)
        .env("HEDUI_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // 12 pages of 250 at ≥ 60 ms each: kill after about half.
    std::thread::sleep(Duration::from_millis(450));
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let before = lake_seqs(&lake, "gongan", "population");
    assert!(
        before.len() < api.json.rows.len(),
        "the kill came too late to test anything"
    );
    api.set(Faults::default());
    let (code, out, err) = hedui(&[
        "ingest",
        "--pipeline",
        p.to_str().unwrap(),
        "--source",
        "gongan_population",
        "--json",
    ]);
    assert!(code == 0 || code == 1, "{out} {err}");
    run_manifest_reconciles(&lake, &out);
    assert_exact(&lake, "gongan", "population", api.json.rows.len());
}

fn drop_pipeline(dir: &Path, dept: &str, ds: &str, patterns: &str) -> (PathBuf, PathBuf) {
    let drop = dir.join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let files = format!(
        r#"
[[sources]]
name = "drop"
department = "{dept}"
dataset = "{ds}"
kind = "file_drop"
[sources.file_drop]
dir = "drop"
archive_dir = "archive"
patterns = [{patterns}]
"#
    );
    // The HTTP sources point at a closed port; only --source drop is run.
    (write_pipeline(dir, 9, "", &files), drop)
}

fn run_drop(p: &Path) -> (i32, hedui_lake::RunManifest, String) {
    let (code, out, err) = hedui(&[
        "ingest",
        "--pipeline",
        p.to_str().unwrap(),
        "--source",
        "drop",
        "--json",
    ]);
    let m: hedui_lake::RunManifest =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, m, err)
}

#[test]
fn file_drops_of_every_format_are_ingested_once_then_archived() {
    for (dept, ds, file, pattern) in [
        ("renshe", "pensions", "renshe/pensions.csv", "\"*.csv\""), // GB18030
        ("minzheng", "cases", "minzheng/cases.csv", "\"*.csv\""),   // UTF-8 with BOM
        ("weijian", "births", "weijian/births.xlsx", "\"*.xlsx\""),
        (
            "zhujian",
            "property",
            "zhujian/property.parquet",
            "\"*.parquet\"",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (p, drop) = drop_pipeline(dir.path(), dept, ds, pattern);
        let name = Path::new(file).file_name().unwrap();
        std::fs::copy(sample(file), drop.join(name)).unwrap();
        let (code, m, err) = run_drop(&p);
        assert!(code == 0 || code == 1, "{file}: {err}");
        let s = &m.sources[0];
        assert!(s.reconciles() && s.rows_read > 0, "{file}: {s:?}");
        assert_eq!(s.files.len(), 1);
        assert_eq!(s.files[0].status, "ingested", "{file}: {s:?}");
        assert!(!drop.join(name).exists(), "archived");
        assert!(dir.path().join("archive").join(name).exists(), "archived");
        let n = lake_seqs(&dir.path().join("data/lake"), dept, ds).len() as u64;
        assert_eq!(n, s.rows_read);
        // The same file dropped again is recognised by checksum and not ingested twice.
        std::fs::copy(sample(file), drop.join(name)).unwrap();
        let (_, m2, _) = run_drop(&p);
        assert_eq!(m2.sources[0].files[0].status, "skipped", "{file}");
        assert_eq!(m2.sources[0].rows_read, 0);
        assert_eq!(
            lake_seqs(&dir.path().join("data/lake"), dept, ds).len() as u64,
            n
        );
    }
}

fn quarantine_reasons(lake: &Path, dept: &str, ds: &str) -> Vec<String> {
    let lake = Lake::open(lake);
    let mut out = Vec::new();
    for p in lake
        .partitions(Zone::Quarantine, dept, ds, &PartitionFilter::default())
        .unwrap()
    {
        let t = p.read_text().unwrap();
        out.extend(
            t.column("_reason")
                .unwrap()
                .iter()
                .map(|r| r.clone().unwrap_or_default()),
        );
    }
    out
}

#[test]
fn bad_input_is_quarantined_or_rejected_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (p, drop) = drop_pipeline(dir.path(), "minzheng", "cases", "\"*.csv\"");
    let header = "家庭编号,救助类别,城乡类别,区县代码,乡镇代码,村社区,户主姓名,户主身份证号,家庭人口,申报月收入,月保障金额,批准日期,分类,上次核对日期,下次核对日期,状态,授权书编号";
    let good = "DB1,DB,2,421321,421321114,桃园村,徐子,421303198001010018,3,500.00,300.00,2021-01-05,A,2021-01-05,2022-01-05,1,SQ1";
    let long = "长".repeat(2000);
    let bad_rows = format!(
        "{header}\n{good}\nDB2,DB,2,421321,421321114,桃园村,王五,4.21303E+17,3,500,300,2021-01-05,A,,,1,SQ2\n\
         DB3,DB,2,421321,421321114,{long},李四,421303198001010018,3,500,300,2021-01-05,A,,,1,SQ3\n\
         DB4,DB,2,421321\n\
         ,DB,2,421321,421321114,桃园村,赵六,421303198001010018,3,500,300,2021-01-05,A,,,1,SQ5\n"
    );
    std::fs::write(drop.join("a-bad-rows.csv"), bad_rows).unwrap();
    std::fs::write(drop.join("b-empty.csv"), "").unwrap();
    std::fs::write(drop.join("c-header-only.csv"), format!("{header}\n")).unwrap();
    // Mixed encodings: a UTF-8 file with one GBK-encoded line (武汉 in GBK: CE E4 BA BA).
    let mut mixed = format!("{header}\n{good}\n").into_bytes();
    mixed.extend_from_slice(b"DB9,DB,2,421321,421321114,\xce\xe4\xba\xba,X,421303198001010018,3,1,1,2021-01-05,A,,,1,SQ9\n");
    std::fs::write(drop.join("d-mixed.csv"), mixed).unwrap();
    let (code, m, err) = run_drop(&p);
    assert_eq!(code, 1, "{err}");
    let s = &m.sources[0];
    assert!(s.reconciles(), "{s:?}");
    let file = |n: &str| s.files.iter().find(|f| f.name == n).unwrap();
    assert_eq!(file("a-bad-rows.csv").rows_read, 5);
    assert_eq!(file("a-bad-rows.csv").rows_written, 1);
    assert_eq!(file("a-bad-rows.csv").rows_quarantined, 4);
    assert_eq!(file("b-empty.csv").status, "rejected");
    assert_eq!(file("c-header-only.csv").status, "ingested");
    assert!(
        file("c-header-only.csv")
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("header only")
    );
    assert_eq!(file("d-mixed.csv").status, "rejected");
    assert!(
        file("d-mixed.csv")
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("line 3"),
        "{:?}",
        file("d-mixed.csv")
    );
    assert!(
        dir.path()
            .join("archive/rejected/b-empty.csv.reason.txt")
            .exists()
    );
    let reasons = quarantine_reasons(&dir.path().join("data/lake"), "minzheng", "cases").join("\n");
    for needle in [
        "scientific notation",
        "4096-byte limit",
        "line 5",
        "required key column",
    ] {
        assert!(reasons.contains(needle), "{needle} not in:\n{reasons}");
    }
    assert!(
        !reasons.contains("421303198001010018"),
        "ID numbers must be masked"
    );
}

#[test]
fn bad_pipeline_file_exits_2_listing_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "[pipeline]\nschedule = \"never\"\n[[sources]]\nname = \"x\"\nkind = \"ftp\"\n",
    )
    .unwrap();
    let (code, _, err) = hedui(&["ingest", "--pipeline", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    for needle in ["name is required", "schedule", "ftp"] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

fn db_test(url_var: &str, create: &str, insert: &dyn Fn(usize) -> String, table: &str) {
    let Ok(url) = std::env::var(url_var) else {
        println!("skipped: set {url_var}");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[pipeline]\nname = \"db\"\ndata_dir = \"data\"\n[[sources]]\nname = \"db\"\ndepartment = \"renshe\"\ndataset = \"unemployment\"\nkind = \"database\"\n[sources.database]\nurl_env = \"{url_var}\"\ntable = \"{table}\"\nbatch_size = 7\n"
    );
    let p = dir.path().join("db.toml");
    std::fs::write(&p, text).unwrap();
    let n = 40usize;
    rt.block_on(async {
        use sqlx_exec::exec;
        exec(&url, create).await;
        for i in 1..=n {
            exec(&url, &insert(i)).await;
        }
    });
    let out = Command::new(env!("CARGO_BIN_EXE_hedui"))
        .args(["ingest", "--pipeline", p.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    rt.block_on(sqlx_exec::exec(&url, &format!("DROP TABLE {table}")));
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    run_manifest_reconciles(&dir.path().join("data/lake"), &stdout);
    assert_exact(&dir.path().join("data/lake"), "renshe", "unemployment", n);
}

mod sqlx_exec {
    /// Runs one statement through the `hedui` crates' own database stack: the test crate has
    /// no direct sqlx dependency, so it goes through `psql`/`mysql` clients when present.
    pub async fn exec(url: &str, sql: &str) {
        let status = if url.starts_with("postgres") {
            std::process::Command::new("psql")
                .arg(url)
                .arg("-qc")
                .arg(sql)
                .status()
        } else {
            let rest = url.trim_start_matches("mysql://");
            let (user_host, db) = rest.split_once('/').unwrap_or((rest, "test"));
            let (user, host) = user_host.split_once('@').unwrap_or(("root", user_host));
            let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
            std::process::Command::new("mysql")
                .args(["-u", user, "-h", host, "-P", port, db, "-e", sql])
                .status()
        };
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "could not run SQL: {sql}"
        );
    }
}

fn unemployment_columns() -> Vec<String> {
    let c = hedui_model::Catalog::builtin().unwrap();
    c.dataset("renshe", "unemployment")
        .unwrap()
        .columns
        .iter()
        .map(|c| c.name.clone())
        .collect()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    )
}

fn insert_sql(table: &str, i: usize) -> String {
    let cols = unemployment_columns();
    let values: Vec<String> = cols
        .iter()
        .map(|c| match c.as_str() {
            "record_id" => format!("'SY{i:05}'"),
            "id_number" => "'421303198001010018'".into(),
            "name" => "'张三'".into(),
            _ => "NULL".into(),
        })
        .collect();
    format!(
        "INSERT INTO {table} (seq, updated_at, {}) VALUES ({i}, CURRENT_TIMESTAMP, {})",
        cols.join(", "),
        values.join(", ")
    )
}

#[test]
fn postgres_table_source() {
    let table = unique("hedui_test_unemp");
    let cols: Vec<String> = unemployment_columns()
        .iter()
        .map(|c| format!("{c} TEXT"))
        .collect();
    let create = format!(
        "CREATE TABLE {table} (seq BIGINT PRIMARY KEY, updated_at TIMESTAMP, {})",
        cols.join(", ")
    );
    db_test(
        "HEDUI_TEST_POSTGRES_URL",
        &create,
        &|i| insert_sql(&table, i),
        &table,
    );
}

#[test]
fn mariadb_table_source() {
    let table = unique("hedui_test_unemp");
    let cols: Vec<String> = unemployment_columns()
        .iter()
        .map(|c| format!("{c} TEXT"))
        .collect();
    let create = format!(
        "CREATE TABLE {table} (seq BIGINT PRIMARY KEY, updated_at TIMESTAMP NULL, {}) DEFAULT CHARSET=utf8mb4",
        cols.join(", ")
    );
    db_test(
        "HEDUI_TEST_MYSQL_URL",
        &create,
        &|i| insert_sql(&table, i),
        &table,
    );
}
