//! End-to-end tests of `hedui demo` and `hedui run` through the binary: two nights on a small
//! synthetic city served by the in-process department simulator, then the properties a data
//! center relies on — a rerun of the same night changes nothing, a run killed after a stage
//! resumes with the next one, a second concurrent run is refused, identity-review decisions
//! reach the links of unchanged records on the next night.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn hedui() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hedui"))
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "status {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn runs(dir: &Path) -> Vec<serde_json::Value> {
    let mut v: Vec<serde_json::Value> = fs::read_dir(dir.join("runs"))
        .expect("runs dir")
        .map(|e| {
            let p = e.expect("entry").path().join("state.json");
            serde_json::from_slice(&fs::read(&p).expect("state")).expect("state is JSON")
        })
        .collect();
    v.sort_by(|a, b| a["run_id"].as_str().cmp(&b["run_id"].as_str()));
    v
}

fn counter(run: &serde_json::Value, stage: &str, field: &str) -> u64 {
    run["completed"]
        .as_array()
        .and_then(|c| c.iter().find(|s| s[0] == stage))
        .and_then(|s| s[1][field].as_u64())
        .unwrap_or_else(|| panic!("no {stage}.{field} in {run}"))
}

fn detail(run: &serde_json::Value, stage: &str, field: &str) -> u64 {
    run["completed"]
        .as_array()
        .and_then(|c| c.iter().find(|s| s[0] == stage))
        .and_then(|s| s[1]["details"][field].as_u64())
        .unwrap_or_else(|| panic!("no {stage} detail {field} in {run}"))
}

/// `hedui run --skip-ingest --as-of AS_OF --json` on the demo's pipeline.
fn night(pipeline: &Path, as_of: &str) -> Output {
    hedui()
        .args([
            "run",
            "--skip-ingest",
            "--as-of",
            as_of,
            "--json",
            "--pipeline",
        ])
        .arg(pipeline)
        .output()
        .expect("hedui run")
}

#[test]
fn demo_runs_two_nights_and_reruns_change_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let out = hedui()
        .args(["demo", "--population", "3000", "--seed", "7", "--dir"])
        .arg(&dir)
        .output()
        .expect("hedui demo runs");
    let stdout = ok(&out);
    assert!(
        stdout.contains("Flags raised on the second night"),
        "{stdout}"
    );
    assert!(stdout.contains("hedui serve --store"), "{stdout}");

    let nights = runs(&dir);
    assert_eq!(nights.len(), 2, "two nights");
    for n in &nights {
        assert!(n["finished_at"].is_string(), "{n}");
        // Row counts reconcile: received = written + quarantined.
        assert_eq!(
            counter(n, "ingest", "received"),
            counter(n, "ingest", "written") + counter(n, "ingest", "quarantined")
        );
    }
    // Minors in the 户 of roster members that the roster does not list are read from the
    // register and counted as co-living members.
    assert!(
        detail(&nights[1], "verify", "register_members") > 0,
        "{}",
        nights[1]
    );
    // The second night links only new and changed records.
    assert!(counter(&nights[1], "link", "linked") < counter(&nights[0], "link", "linked"));
    let second = dir
        .join("runs")
        .join(nights[1]["run_id"].as_str().expect("id"));
    for f in ["report.html", "flags.jsonl", "cases.jsonl", "snapshot.json"] {
        assert!(second.join(f).is_file(), "{f} missing");
    }
    let report = fs::read_to_string(second.join("report.html")).expect("report");
    assert!(
        report.contains("运行报告") && report.contains("<svg"),
        "report has its charts"
    );
    let flags = fs::read_to_string(second.join("flags.jsonl")).expect("flags");
    for line in flags.lines() {
        let f: serde_json::Value = serde_json::from_str(line).expect("flag JSON");
        let id = f["subject"]["head_id_masked"].as_str().unwrap_or("");
        assert!(id.is_empty() || id.contains('*'), "masked: {id}");
    }
    assert!(
        fs::read_dir(
            dir.join("exports")
                .join(nights[1]["run_id"].as_str().expect("id"))
        )
        .expect("exports")
        .count()
            > 0
    );

    // The same night again (sources already drained): no new link, no new flag.
    let pipeline = dir.join("pipeline.toml");
    let out = night(&pipeline, "2021-09-30");
    let rerun: serde_json::Value = serde_json::from_str(&ok(&out)).expect("state JSON");
    assert_eq!(counter(&rerun, "link", "linked"), 0);
    assert_eq!(counter(&rerun, "verify", "flagged"), 0);
    // Entry reports with nothing new in them stay in the run that wrote them; the index says so.
    assert!(detail(&rerun, "verify", "entry_reports") > 0, "{rerun}");
    assert_eq!(
        detail(&rerun, "verify", "entry_reports_rendered"),
        0,
        "{rerun}"
    );
    let entry_index: serde_json::Value = serde_json::from_slice(
        &fs::read(
            dir.join("runs")
                .join(rerun["run_id"].as_str().expect("id"))
                .join("entry/index.json"),
        )
        .expect("entry index"),
    )
    .expect("entry index JSON");
    let held_by = entry_index
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|v| v["run_id"].as_str())
        .expect("an indexed report");
    assert_eq!(held_by, nights[1]["run_id"].as_str().expect("id"));
    assert_eq!(counter(&rerun, "publish", "written"), 0);

    // A run killed after verification resumes with publication, under the same id.
    let state_path = dir
        .join("runs")
        .join(rerun["run_id"].as_str().expect("id"))
        .join("state.json");
    let mut st = rerun.clone();
    st["finished_at"] = serde_json::Value::Null;
    let completed = st["completed"].as_array_mut().expect("completed");
    completed.retain(|s| s[0] != "publish");
    fs::write(&state_path, serde_json::to_vec(&st).expect("json")).expect("write state");
    let out = night(&pipeline, "2021-09-30");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let resumed: serde_json::Value = serde_json::from_str(&ok(&out)).expect("state JSON");
    assert_eq!(resumed["run_id"], rerun["run_id"], "same run resumed");
    assert!(stderr.contains("resuming run"), "{stderr}");
    assert!(stderr.contains("already done"), "{stderr}");
    assert!(resumed["finished_at"].is_string());

    // Identity-review decisions come back on the next night, although the records they are
    // about have not changed: the most likely candidate is ruled another person, the least
    // likely the same one — at least one of them contradicts its current link.
    let store_url = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("store"))
        .map(|u| u.trim().to_owned())
        .expect("the demo names its store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = hedui_store::Store::open(&store_url).await.expect("store");
        let analyst = store
            .user("analyst")
            .await
            .expect("user")
            .expect("the demo seeds an analyst");
        let (mut pending, _) = store
            .reviews(Some(hedui_store::ReviewStatus::Pending), 100_000, 0)
            .await
            .expect("reviews");
        assert!(pending.len() >= 2, "the demo queues identity reviews");
        pending.sort_by(|a, b| a.review.probability.total_cmp(&b.review.probability));
        let (low, high) = (&pending[0], &pending[pending.len() - 1]);
        store
            .decide_review(&high.review.review_id, false, &analyst)
            .await
            .expect("decide");
        store
            .decide_review(&low.review.review_id, true, &analyst)
            .await
            .expect("decide");
    });
    let next_night = |as_of: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&night(&pipeline, as_of))).expect("state JSON")
    };
    let review_relinks = |run: &serde_json::Value| detail(run, "link", "review_relinks");
    let decided = next_night("2021-10-01");
    assert!(review_relinks(&decided) >= 1, "{decided}");
    assert!(counter(&decided, "link", "linked") >= review_relinks(&decided));
    // Honoured: the night after, nothing contradicts a decision any more.
    let after = next_night("2021-10-02");
    assert_eq!(review_relinks(&after), 0, "{after}");
    assert_eq!(counter(&after, "link", "linked"), 0);
}

#[test]
fn a_second_concurrent_run_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).expect("mkdir");
    let pipeline = tmp.path().join("p.toml");
    fs::write(
        &pipeline,
        format!(
            "[pipeline]\nname = \"t\"\ndata_dir = \"{d}\"\ntimezone = \"Asia/Shanghai\"\n\n\
             [[sources]]\nname = \"cases\"\ndepartment = \"minzheng\"\ndataset = \"cases\"\n\
             kind = \"file_drop\"\n[sources.file_drop]\ndir = \"{d}/drop\"\n\
             archive_dir = \"{d}/archive\"\npatterns = [\"*.csv\"]\n",
            d = data.display()
        ),
    )
    .expect("write pipeline");
    // Hold the lock as a running night would.
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data.join("run.lock"))
        .expect("lock file");
    lock.try_lock().expect("take the lock");
    let out = hedui()
        .args(["run", "--skip-ingest", "--pipeline"])
        .arg(&pipeline)
        .output()
        .expect("hedui run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another run is in progress"), "{stderr}");
    drop(lock);
}
