//! End-to-end tests of `hedui ingest` through the binary.
//!
//! The HTTP tests run against the department simulator (`hedui-simulator`, what `hedui
//! simulate` serves) in this test process on 127.0.0.1, serving the committed sample city's
//! extracts with its seeded fault injection; the database tests against the local PostgreSQL
//! and MariaDB when their addresses are set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hedui_lake::{Lake, PartitionFilter, Zone};
use hedui_simulator::{FaultConfig, FaultKind, Simulator, SimulatorOptions};

const SECRET: &str = "fixture-secret";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample(rel: &str) -> PathBuf {
    repo().join("data-samples/city-3000/snapshot-1").join(rel)
}

/// The simulator serving the sample city's 公安 population (JSON) and 人社 contributions
/// (GB18030 CSV) on a loopback port, on a runtime of its own.
struct Sim {
    rt: tokio::runtime::Runtime,
    sim: Simulator,
    server: Option<hedui_simulator::ServerHandle>,
}

impl Sim {
    fn start() -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let options = SimulatorOptions {
            secret: SECRET.to_owned(),
            datasets: Some(vec![
                "gongan/population".to_owned(),
                "renshe/contributions".to_owned(),
            ]),
            ..SimulatorOptions::default()
        };
        let sim = Simulator::load(&repo().join("data-samples/city-3000"), options).unwrap();
        let server = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            sim.serve(listener).unwrap()
        });
        Sim {
            rt,
            sim,
            server: Some(server),
        }
    }

    fn port(&self) -> u16 {
        self.server.as_ref().unwrap().local_addr().port()
    }

    /// Sets the fault injection (counters restart, so the draws are reproducible).
    fn set(&self, faults: FaultConfig) {
        self.sim.set_faults(faults).unwrap();
    }

    /// Faults of `kind` injected so far.
    fn injected(&self, kind: FaultKind) -> u64 {
        self.sim
            .stats()
            .faults
            .get(kind.as_str())
            .copied()
            .unwrap_or(0)
    }

    /// Rows the simulator serves of `department/dataset`.
    fn rows(&self, department: &str, dataset: &str) -> usize {
        let all = self.rt.block_on(self.sim.datasets());
        let d = all
            .iter()
            .find(|d| d.department == department && d.dataset == dataset)
            .unwrap();
        usize::try_from(d.rows).unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.rt.block_on(server.shutdown());
        }
    }
}

/// Faults of one kind at `rate` per request (seeded), held or delayed for `ms`.
fn faults(kind: FaultKind, rate: f64, ms: u64) -> FaultConfig {
    FaultConfig {
        seed: 7,
        rates: BTreeMap::from([(kind, rate)]),
        slow_ms: ms,
        timeout_ms: ms,
        ..FaultConfig::none()
    }
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

/// `hedui args` with the simulator's secret and `HEDUI_LOG=log`.
fn hedui_command(args: &[&str], log: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hedui"));
    c.args(args)
        .env("FIXTURE_SECRET", SECRET)
        .env("HEDUI_LOG", log);
    c
}

fn hedui(args: &[&str]) -> (i32, String, String) {
    let out = hedui_command(args, "warn").output().unwrap();
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
    let sim = Sim::start();
    let (people, contributions) = (
        sim.rows("gongan", "population"),
        sim.rows("renshe", "contributions"),
    );
    assert!(people > 1000 && contributions > 1000);
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), sim.port(), "", "");
    let lake = dir.path().join("data/lake");
    let (code, out, err) = hedui(&["ingest", "--pipeline", p.to_str().unwrap(), "--json"]);
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    run_manifest_reconciles(&lake, &out);
    assert_exact(&lake, "gongan", "population", people);
    assert_exact(&lake, "renshe", "contributions", contributions);
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
    assert_exact(&lake, "gongan", "population", people);
}

#[test]
fn each_http_fault_leaves_exactly_the_source_rows() {
    let sim = Sim::start();
    let (people, contributions) = (
        sim.rows("gongan", "population"),
        sim.rows("renshe", "contributions"),
    );
    // Held 1.5 s: past the pipeline's 1 s timeout. Slow: 300 ms, within it.
    for (kind, rate, ms) in [
        (FaultKind::ServerError, 0.3, 0),
        (FaultKind::Timeout, 0.15, 1500),
        (FaultKind::Slow, 0.3, 300),
        (FaultKind::Truncate, 0.3, 0),
        (FaultKind::Duplicate, 0.4, 0),
    ] {
        sim.set(faults(kind, rate, ms));
        let before = sim.injected(kind);
        let dir = tempfile::tempdir().unwrap();
        let p = write_pipeline(dir.path(), sim.port(), "", "");
        let lake = dir.path().join("data/lake");
        let (code, out, err) = hedui(&["ingest", "--pipeline", p.to_str().unwrap(), "--json"]);
        let name = kind.as_str();
        assert!(code == 0 || code == 1, "{name}: exit {code}: {err}");
        assert!(sim.injected(kind) > before, "{name}: no fault was injected");
        run_manifest_reconciles(&lake, &out);
        let m: hedui_lake::RunManifest = serde_json::from_str(&out).unwrap();
        assert!(
            m.sources.iter().all(|s| s.status != "failed"),
            "{name}: {out}"
        );
        match kind {
            FaultKind::Duplicate => assert!(
                m.sources.iter().any(|s| s.duplicates_dropped > 0),
                "{name}: {out}"
            ),
            FaultKind::Slow => {}
            _ => assert!(m.sources.iter().any(|s| s.retries > 0), "{name}: {out}"),
        }
        assert_exact(&lake, "gongan", "population", people);
        assert_exact(&lake, "renshe", "contributions", contributions);
    }
}

#[test]
fn schema_drift_fails_clearly_and_the_rerun_completes() {
    let sim = Sim::start();
    sim.set(FaultConfig {
        drift: vec![hedui_simulator::Drift {
            dataset: "gongan/population".to_owned(),
            rename: BTreeMap::from([("姓名".to_owned(), "名称".to_owned())]),
        }],
        ..FaultConfig::none()
    });
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), sim.port(), "", "");
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
    sim.set(FaultConfig::none());
    let (code, out, err) = hedui(&[
        "ingest",
        "--pipeline",
        p.to_str().unwrap(),
        "--source",
        "gongan_population",
    ]);
    assert!(code == 0 || code == 1, "{out} {err}");
    assert_exact(
        &lake,
        "gongan",
        "population",
        sim.rows("gongan", "population"),
    );
}

#[test]
fn sigkill_mid_pull_then_rerun_loses_and_duplicates_nothing() {
    let sim = Sim::start();
    let people = sim.rows("gongan", "population");
    // Every response 60 ms late.
    sim.set(faults(FaultKind::Slow, 1.0, 60));
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), sim.port(), "", "");
    let lake = dir.path().join("data/lake");
    let mut child = hedui_command(
        &[
            "ingest",
            "--pipeline",
            p.to_str().unwrap(),
            "--source",
            "gongan_population",
        ],
        "warn",
    )
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // Pages of 250 at ≥ 60 ms each: kill after about half.
    std::thread::sleep(Duration::from_millis(
        60 * (people as u64).div_ceil(250) / 2 + 60,
    ));
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let before = lake_seqs(&lake, "gongan", "population");
    assert!(
        before.len() < people,
        "the kill came too late to test anything"
    );
    sim.set(FaultConfig::none());
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
    assert_exact(&lake, "gongan", "population", people);
}

#[test]
fn the_daemon_runs_sources_on_schedule_without_overlap_and_stops_on_sigterm() {
    let sim = Sim::start();
    let people = sim.rows("gongan", "population");
    // Every response 150 ms late: a pull of the population (a dozen pages) outlasts its
    // one-second schedule, so firings come while it runs.
    sim.set(faults(FaultKind::Slow, 1.0, 150));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("drop")).unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
[pipeline]
name = "daemon-test"
data_dir = "data"
timezone = "Asia/Shanghai"

[[sources]]
name = "gongan_population"
department = "gongan"
dataset = "population"
kind = "http"
schedule = "* * * * * *"
checkpoint_secs = 0.2
[sources.http]
base_url = "http://127.0.0.1:{}/api/v1"
auth = "signed"
app_key = "hedui-gongan"
secret_env = "FIXTURE_SECRET"
format = "json"
page_size = 250
timeout_secs = 5

[[sources]]
name = "drop"
department = "renshe"
dataset = "contributions"
kind = "file_drop"
schedule = "* * * * * *"
[sources.file_drop]
dir = "drop"
archive_dir = "archive"
patterns = ["*.csv"]
"#,
            sim.port()
        ),
    )
    .unwrap();
    let log_path = dir.path().join("daemon.log");
    let mut child = hedui_command(
        &[
            "daemon",
            "--no-nightly",
            "--pipeline",
            pipeline.to_str().unwrap(),
        ],
        "info",
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::fs::File::create(&log_path).unwrap())
    .spawn()
    .unwrap();
    let lake = dir.path().join("data/lake");
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        for _ in 0..600 {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("timed out waiting for {what}; daemon log:\n{log}");
    };
    // The first runs come at start-up (never run before: the missed-run policy), then every
    // second.
    wait_for("the population", &|| {
        lake_seqs(&lake, "gongan", "population").len() == people
    });
    // A file dropped now is picked up by a scheduled run, then archived.
    std::fs::copy(
        sample("renshe/contributions.csv"),
        dir.path().join("drop/contributions.csv"),
    )
    .unwrap();
    wait_for("the dropped file", &|| {
        !dir.path().join("drop/contributions.csv").exists()
            && !lake_seqs(&lake, "renshe", "contributions").is_empty()
    });
    // SIGTERM: a clean stop, exit 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exit = None;
    for _ in 0..300 {
        if let Some(s) = child.try_wait().unwrap() {
            exit = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    let Some(exit) = exit else {
        let _ = child.kill();
        panic!("the daemon did not stop on SIGTERM; log:\n{log}");
    };
    assert!(exit.success(), "{exit:?}\n{log}");
    assert!(log.contains("daemon started"), "{log}");
    assert!(
        log.contains("previous run still going: this scheduled run is skipped"),
        "no overlapping firing was skipped:\n{log}"
    );
    assert!(log.contains("daemon stopped"), "{log}");
    // Fired many times, never two at once: the lake holds each row once.
    assert_exact(&lake, "gongan", "population", people);
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

#[test]
fn a_large_file_streams_in_parts_and_one_bad_at_the_end_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    // Rows go to the lake 1,000 at a time, so the file is never held whole.
    let p = write_pipeline(
        dir.path(),
        9,
        "",
        r#"
[[sources]]
name = "drop"
department = "minzheng"
dataset = "cases"
kind = "file_drop"
checkpoint_rows = 1000
[sources.file_drop]
dir = "drop"
archive_dir = "archive"
patterns = ["*.csv"]
"#,
    );
    let header = "家庭编号,救助类别,城乡类别,区县代码,乡镇代码,村社区,户主姓名,户主身份证号,家庭人口,申报月收入,月保障金额,批准日期,分类,上次核对日期,下次核对日期,状态,授权书编号";
    let rows = 12_000;
    let mut text = format!("{header}\n");
    for i in 0..rows {
        text.push_str(&format!(
            "DB{i:06},DB,2,421321,421321114,桃园村,徐子,421303198001010018,3,500.00,300.00,2021-01-05,A,2021-01-05,2022-01-05,1,SQ{i}\n"
        ));
    }
    // Past the 1 MiB the encoding is detected on: a GBK line in a UTF-8 file, found only when
    // the rows before it have gone to the lake.
    assert!(text.len() > 1 << 20);
    let mut bad = text.clone().into_bytes();
    bad.extend_from_slice(b"DB9,DB,2,421321,421321114,\xce\xe4\xba\xba,X,421303198001010018,3,1,1,2021-01-05,A,,,1,SQ9\n");
    std::fs::write(drop.join("a-bad-at-the-end.csv"), bad).unwrap();
    // In the same run, after it: the same rows without the bad line.
    std::fs::write(drop.join("b-good.csv"), text).unwrap();
    let (code, m, err) = run_drop(&p);
    assert!(code == 0 || code == 1, "{err}");
    let s = &m.sources[0];
    assert_eq!(s.files[0].status, "rejected", "{s:?}");
    assert!(
        s.files[0].reason.as_deref().unwrap_or("").contains("line"),
        "{s:?}"
    );
    assert_eq!(
        (s.files[0].rows_read, s.files[0].rows_written),
        (0, 0),
        "{s:?}"
    );
    assert_eq!(s.files[1].status, "ingested", "{s:?}");
    // Nothing of the rejected file reached the lake, although parts of it had been written.
    assert!(s.reconciles() && s.rows_read == rows, "{s:?}");
    let lake = dir.path().join("data/lake");
    assert_eq!(lake_seqs(&lake, "minzheng", "cases").len(), rows as usize);
    let parts: usize = Lake::open(&lake)
        .partitions(Zone::Raw, "minzheng", "cases", &PartitionFilter::default())
        .unwrap()
        .iter()
        .map(|p| p.manifest.parts.len())
        .sum();
    assert!(
        parts >= 10,
        "{parts} parts: the file went to the lake in parts"
    );
    let on_disk = walk(&lake)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert_eq!(
        on_disk, parts,
        "parts of the rejected file were left behind"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
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
