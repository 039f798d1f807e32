//! End-to-end tests of `hedui check periodic` and `hedui check entry` through the binary, on the
//! committed synthetic city `data-samples/city-3000` (3,000 persons, seed 2021).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hedui() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hedui"));
    // Relative paths (pipelines/rules.toml) resolve against the workspace.
    c.current_dir(workspace());
    c
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn city() -> PathBuf {
    workspace().join("data-samples/city-3000")
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read_jsonl(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn periodic(out: &Path, extra: &[&str]) -> Output {
    hedui()
        .args(["check", "periodic", "--data"])
        .arg(city())
        .args(["--snapshot", "snapshot-2", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("hedui runs")
}

/// Planted roster events between snapshot-1 and snapshot-2 (ground truth), by case.
fn planted() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(city().join("truth/events.csv")).expect("events.csv");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() > 4 && !f[4].is_empty()).then(|| (f[4].to_owned(), f[1].to_owned()))
        })
        .collect()
}

#[test]
fn periodic_check_raises_the_planted_events_and_nothing_on_data_quality_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let o = periodic(&out, &["--baseline", "snapshot-1", "--truth"]);
    // Findings → exit code 1.
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    for f in [
        "flags.jsonl",
        "cases.jsonl",
        "due.jsonl",
        "snapshot.json",
        "summary.json",
        "results.jsonl",
        "accuracy.json",
        "baseline/snapshot.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing\n{}", show(&o));
    }
    let flags = read_jsonl(&out.join("flags.jsonl"));
    let acc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("accuracy.json")).expect("accuracy"))
            .expect("JSON");
    let events = planted();
    let real: Vec<&(String, String)> = events.iter().filter(|(_, t)| t != "dq_variation").collect();
    assert!(real.len() >= 5, "the sample plants roster events");
    // Recall: at least 8 in 9 planted roster events found (sound bound for a 9-event sample).
    let found = acc["overall_events_found"].as_u64().unwrap_or(0);
    let total = acc["overall_events"].as_u64().unwrap_or(0);
    assert_eq!(total as usize, real.len(), "{acc}");
    assert!(found * 9 >= total * 8, "recall {found}/{total}\n{acc}");
    // Precision: at least 80% of flags sit on a household with a planted change.
    let tp = acc["overall_true_positives"].as_u64().unwrap_or(0);
    let n = acc["overall_flags"].as_u64().unwrap_or(0);
    assert_eq!(n as usize, flags.len());
    assert!(tp * 5 >= n * 4, "precision {tp}/{n}\n{acc}");
    // No flag on a household whose only change is a re-formatted ID or a traditional name.
    let dq_cases: Vec<&str> = events
        .iter()
        .filter(|(_, t)| t == "dq_variation")
        .map(|(c, _)| c.as_str())
        .filter(|c| !real.iter().any(|(rc, _)| rc == c))
        .collect();
    assert!(
        !dq_cases.is_empty(),
        "the sample plants a dq_variation household"
    );
    for f in &flags {
        let case = f["subject"]["case_id"].as_str().unwrap_or("");
        assert!(
            !dq_cases.contains(&case),
            "flag on a data-quality-only household: {f}"
        );
    }
    // Every flag carries what a caseworker needs, with IDs masked.
    for f in &flags {
        assert!(
            f["evidence"].as_array().is_some_and(|e| !e.is_empty())
                || f["flag_type"] == "ID-NOT-FOUND"
                || f["flag_type"] == "DUP-PROGRAM",
            "{f}"
        );
        assert!(
            f["deadline"].is_string() && f["reason_zh"].is_string(),
            "{f}"
        );
        let id = f["subject"]["head_id_masked"].as_str().unwrap_or("");
        assert!(id.contains("********"), "{id}");
        let text = f.to_string();
        // No 18-character ID number in the clear anywhere in a flag.
        assert!(
            !text
                .as_bytes()
                .windows(18)
                .any(|w| w.iter().all(u8::is_ascii_digit)),
            "{text}"
        );
    }
    // The death flag cites the death certificate with its identity-match quality.
    if let Some(death) = flags.iter().find(|f| f["flag_type"] == "DYN-DEATH") {
        assert!(
            death["evidence"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["dataset"] == "deaths" && e["identity"]["kind"].is_string()),
            "{death}"
        );
        assert_eq!(death["severity"], "high");
    }
}

#[test]
fn rerunning_the_same_night_raises_nothing_and_dismissed_flags_stay_dismissed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first");
    let o = periodic(&first, &["--baseline", "snapshot-1"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let flags = read_jsonl(&first.join("flags.jsonl"));
    assert!(flags.len() >= 2, "{}", show(&o));

    // The same night again, with the first run as the previous run: no new flags, exit 0.
    let again = dir.path().join("again");
    let o = periodic(
        &again,
        &["--previous-run", first.to_str().expect("utf-8 path")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(read_jsonl(&again.join("flags.jsonl")).is_empty());

    // A dismissed flag is not raised again, even when the night is recomputed from the
    // baseline; the other flags are, with the same ids.
    let dismissed_id = flags[0]["flag_id"].as_str().expect("flag_id").to_owned();
    let dfile = dir.path().join("dismissed.txt");
    std::fs::write(
        &dfile,
        format!("# dismissed by a caseworker\n{dismissed_id}\n"),
    )
    .expect("write");
    let third = dir.path().join("third");
    let o = periodic(
        &third,
        &[
            "--baseline",
            "snapshot-1",
            "--dismissed",
            dfile.to_str().expect("utf-8"),
        ],
    );
    let ids: Vec<String> = read_jsonl(&third.join("flags.jsonl"))
        .iter()
        .map(|f| f["flag_id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(!ids.contains(&dismissed_id), "{}", show(&o));
    let expected: Vec<String> = flags[1..]
        .iter()
        .map(|f| f["flag_id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ids, expected);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(third.join("summary.json")).expect("summary"))
            .expect("JSON");
    assert_eq!(summary["summary"]["suppressed_dismissed"], 1);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

#[test]
fn entry_check_reports_every_application_and_refuses_uncovered_members() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A copy of the city in which one member of a multi-member application lost its signature.
    let data = dir.path().join("city");
    copy_dir(&city().join("snapshot-2"), &data.join("snapshot-2"));
    std::fs::copy(city().join("manifest.json"), data.join("manifest.json")).expect("manifest");
    let members = std::fs::read_to_string(data.join("snapshot-2/minzheng/application_members.csv"))
        .expect("members");
    let mut per_app: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for l in members.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        per_app
            .entry(f[1].to_owned())
            .or_default()
            .push(f[3].trim_start_matches('\'').to_owned());
    }
    let apps =
        std::fs::read_to_string(data.join("snapshot-2/minzheng/applications.csv")).expect("apps");
    let app_auth: std::collections::BTreeMap<String, String> = apps
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].trim_start_matches('\u{feff}').to_owned(),
                f[10].to_owned(),
            )
        })
        .collect();
    let (victim, _) = per_app
        .iter()
        .find(|(_, m)| m.len() > 1)
        .expect("a multi-member application");
    let victim = victim.clone();
    let auth = app_auth[&victim].clone();
    let auth_path = data.join("snapshot-2/minzheng/authorizations.csv");
    let text = std::fs::read_to_string(&auth_path).expect("authorizations");
    let mut dropped = false;
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            let drop = !dropped
                && l.split(',').nth(1) == Some(auth.as_str())
                && l.split(',').next().is_some_and(|k| k.ends_with("-02"));
            dropped |= drop;
            !drop
        })
        .collect();
    assert!(dropped, "signature of {victim} found");
    std::fs::write(&auth_path, kept.join("\n") + "\n").expect("write");

    let out = dir.path().join("entry");
    let o = hedui()
        .args(["check", "entry", "--data"])
        .arg(&data)
        .args(["--snapshot", "snapshot-2", "--out"])
        .arg(&out)
        .output()
        .expect("hedui runs");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("entry-summary.json")).expect("summary"))
            .expect("JSON");
    assert_eq!(
        summary["applications"].as_u64(),
        Some(app_auth.len() as u64),
        "{summary}"
    );
    for app in app_auth.keys() {
        for ext in ["json", "html", "xlsx"] {
            let p = out.join("reports").join(format!("{app}.{ext}"));
            assert!(
                p.is_file() && std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0) > 0,
                "{}",
                p.display()
            );
        }
        let r: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join("reports").join(format!("{app}.json"))).expect("report"),
        )
        .expect("JSON");
        let html =
            std::fs::read_to_string(out.join("reports").join(format!("{app}.html"))).expect("html");
        assert!(html.contains("居民家庭经济状况核对报告"));
        assert!(
            !html
                .as_bytes()
                .windows(18)
                .any(|w| w.iter().all(u8::is_ascii_digit)),
            "full ID in {app}.html"
        );
        if *app == victim {
            assert_eq!(r["checked"], false, "{r}");
            assert!(r["gate"].as_array().is_some_and(|g| g.len() == 1), "{r}");
            assert!(
                r["members"].as_array().is_some_and(Vec::is_empty),
                "no department data shown when refused"
            );
            assert!(html.contains("授权不完整"));
        } else if r["checked"] == true {
            let members = r["members"].as_array().expect("members");
            assert_eq!(members.len(), per_app[app].len());
            // Every member shows every source: found rows or 查无记录.
            for m in members {
                assert_eq!(m["findings"].as_array().map(Vec::len), Some(10), "{m}");
            }
            assert!(r["results"].as_array().is_some_and(|x| !x.is_empty()));
            assert!(html.contains("查无记录") || html.contains("："));
        }
    }
}

#[test]
fn an_invalid_rule_set_is_an_error_listing_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = std::fs::read_to_string(workspace().join("pipelines/rules.toml")).expect("rules");
    let bad = rules
        .replace("indicator = \"vehicles\"", "indicator = \"yachts\"")
        .replace("type = \"DUP-PROGRAM\"", "type = \"DUP-PROGRAMME\"");
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, bad).expect("write");
    let o = periodic(
        &dir.path().join("out"),
        &["--rules", path.to_str().expect("utf-8")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("yachts") && err.contains("DUP-PROGRAM"),
        "{err}"
    );
}
