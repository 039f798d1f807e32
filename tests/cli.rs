//! End-to-end tests of the `hedui` binary, through its command line.

use std::process::Command;

fn hedui() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hedui"))
}

#[test]
fn synth_writes_a_city_and_summarises_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("city");
    let run = hedui()
        .args(["synth", "--population", "2500", "--seed", "3", "--out"])
        .arg(&out)
        .output()
        .expect("hedui runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("2500 persons"), "{stdout}");
    assert!(stdout.contains("renshe/contributions"), "{stdout}");
    for f in [
        "manifest.json",
        "snapshot-1/gongan/population.jsonl",
        "snapshot-1/weijian/deaths.xlsx",
        "snapshot-1/renshe/pensions.csv",
        "snapshot-2/zhujian/property.parquet",
        "snapshot-2/minzheng/cases.csv",
        "truth/events.csv",
        "truth/record_persons.parquet",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("manifest is JSON");
    assert_eq!(manifest["persons"], 2500);
    // No temporary files are left behind.
    let leftovers = walk(&out)
        .into_iter()
        .filter(|p| p.ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn same_seed_same_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut texts = Vec::new();
    for name in ["a", "b"] {
        let out = dir.path().join(name);
        let status = hedui()
            .args([
                "synth",
                "--population",
                "1500",
                "--seed",
                "9",
                "--json",
                "--out",
            ])
            .arg(&out)
            .output()
            .expect("hedui runs");
        assert!(status.status.success());
        texts.push(std::fs::read(out.join("snapshot-1/renshe/contributions.csv")).expect("csv"));
    }
    assert_eq!(texts[0], texts[1]);
}

#[test]
fn bad_arguments_exit_with_2_and_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = hedui()
        .args(["synth", "--population", "0", "--out"])
        .arg(dir.path())
        .output()
        .expect("hedui runs");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("population"));

    let run = hedui()
        .args([
            "synth",
            "--snapshot1",
            "2021-12-31",
            "--snapshot2",
            "2021-01-31",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .expect("hedui runs");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("snapshot"));

    let run = hedui()
        .args(["synth", "--population", "many"])
        .output()
        .expect("hedui runs");
    assert_eq!(run.status.code(), Some(2));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}
