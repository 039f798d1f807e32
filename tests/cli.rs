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

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data-samples/city-3000");

fn sample(path: &str) -> std::path::PathBuf {
    std::path::Path::new(SAMPLE).join(path)
}

/// Runs `hedui link --left L --right R --out O EXTRA…` with the given thread count.
fn link(
    left: &std::path::Path,
    right: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
    threads: &str,
) -> std::process::Output {
    hedui()
        .arg("link")
        .arg("--left")
        .arg(left)
        .arg("--right")
        .arg(right)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .expect("hedui runs")
}

#[test]
fn link_output_is_identical_at_one_and_two_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let left = sample("snapshot-1/renshe/contributions.csv");
    let right = sample("snapshot-1/zhujian/housing_fund.parquet");
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("links-{threads}.csv"));
        let run = link(&left, &right, &out, &[], threads);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        outputs.push(std::fs::read(&out).expect("links written"));
    }
    assert_eq!(
        outputs[0], outputs[1],
        "output differs between 1 and 2 threads"
    );
    let text = String::from_utf8(outputs.swap_remove(0)).expect("UTF-8");
    let header = text
        .lines()
        .next()
        .expect("header")
        .trim_start_matches('\u{feff}');
    assert_eq!(
        header,
        "left_id,right_id,match_probability,match_weight,gamma_id_number,gamma_name,gamma_birth_date,gamma_gender,gamma_address,gamma_phone"
    );
    assert!(text.lines().count() > 50, "links found");
}

/// Reading and standardising a file in small chunks, and reading the register's standardised
/// records back from the prepared-records cache (and recovering from a damaged cache entry),
/// all give exactly the links of the plain run.
#[test]
fn chunked_and_cached_runs_give_the_plain_links() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let left = sample("snapshot-1/renshe/contributions.csv");
    let right = sample("snapshot-1/zhujian/housing_fund.parquet");
    let cache = dir.path().join("prepared");
    let cache_arg = cache.to_str().expect("UTF-8 path");
    let run = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let r = link(&left, &right, &out, extra, "2");
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        (
            std::fs::read(&out).expect("links written"),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        )
    };
    let (plain, _) = run("plain.parquet", &[]);
    let (chunked, _) = run("chunked.parquet", &["--chunk-rows", "97"]);
    assert_eq!(plain, chunked, "chunk size changed the links");

    let (first, log) = run("first.parquet", &["--prepared-cache", cache_arg]);
    assert!(log.contains("prepared records saved"), "{log}");
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(&cache)
        .expect("cache directory")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one entry, no temporary files: {entries:?}"
    );
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(
        mode(&entries[0]),
        0o600,
        "personal data readable by its owner only"
    );
    assert_eq!(mode(&cache), 0o700);

    let (warm, log) = run("warm.parquet", &["--prepared-cache", cache_arg]);
    assert!(log.contains("prepared records read"), "{log}");

    let mut bytes = std::fs::read(&entries[0]).expect("entry");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&entries[0], &bytes).expect("damage the entry");
    let (recovered, log) = run("recovered.parquet", &["--prepared-cache", cache_arg]);
    assert!(log.contains("not reused"), "{log}");
    assert!(log.contains("prepared records saved"), "{log}");
    for (what, links) in [
        ("first", &first),
        ("warm", &warm),
        ("recovered", &recovered),
    ] {
        assert_eq!(
            &plain, links,
            "{what} run through the cache changed the links"
        );
    }
}

/// The links between the 人社 contributions and the 民政 roster members of the sample city are
/// checked against its ground truth: record ids name the same person.
#[test]
fn link_finds_true_pairs_on_the_sample_city() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("links.parquet");
    let left = sample("snapshot-1/renshe/pensions.csv");
    let right = sample("snapshot-1/minzheng/members.csv");
    let run = link(&left, &right, &out, &[], "2");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let links = hedui_tabular::read_table(&out, None).expect("links parquet");
    let truth =
        hedui_tabular::read_table(sample("truth/record_persons.parquet"), None).expect("truth");
    let col = |t: &hedui_tabular::Table, n: &str| t.column(n).expect("column").clone();
    let (snap, ds, rid, pid) = (
        col(&truth, "snapshot"),
        col(&truth, "dataset"),
        col(&truth, "record_id"),
        col(&truth, "person_id"),
    );
    let mut person = std::collections::HashMap::new();
    for i in 0..truth.num_rows() {
        if snap.get(i) == Some("snapshot-1") {
            person.insert(
                (ds.get(i).unwrap_or(""), rid.get(i).unwrap_or("")),
                pid.get(i).unwrap_or(""),
            );
        }
    }
    let (l, r) = (col(&links, "left_id"), col(&links, "right_id"));
    let mut correct = 0;
    for i in 0..links.num_rows() {
        let a = person.get(&("renshe/pensions", l.get(i).unwrap_or("")));
        let b = person.get(&("minzheng/members", r.get(i).unwrap_or("")));
        correct += usize::from(a.is_some() && a == b);
    }
    assert!(links.num_rows() > 10);
    assert_eq!(
        correct,
        links.num_rows(),
        "every link joins the same person"
    );
}

#[test]
fn same_file_deduplicates_without_self_pairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = sample("snapshot-1/renshe/contributions.csv");
    let out = dir.path().join("pairs.csv");
    let run = link(&input, &input, &out, &[], "2");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("pairs");
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().skip(1) {
        let mut f = line.split(',');
        let (a, b) = (f.next().expect("left"), f.next().expect("right"));
        assert_ne!(a, b, "no self pairs");
        let key = if a < b { (a, b) } else { (b, a) };
        assert!(seen.insert(key), "each unordered pair once: {a} {b}");
    }
    // Contributions hold one row per person and month: deduplication finds many pairs.
    assert!(seen.len() > 100);
}

/// Runs `hedui dedupe --input INPUT --out OUT EXTRA…` and expects success.
fn dedupe_ok(input: &std::path::Path, out: &std::path::Path, extra: &[&std::ffi::OsStr]) {
    let run = hedui()
        .args(["dedupe", "--input"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("hedui runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn dedupe_writes_clusters_and_models_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = sample("snapshot-1/renshe/contributions.csv");
    let out = dir.path().join("clusters.csv");
    let model = dir.path().join("model.json");
    dedupe_ok(&input, &out, &["--save-model".as_ref(), model.as_os_str()]);
    let text = std::fs::read_to_string(&out).expect("clusters");
    assert!(
        text.lines()
            .next()
            .is_some_and(|h| h.ends_with("record_id,cluster_id"))
    );
    let rows = text.lines().count() - 1;
    let clusters: std::collections::HashSet<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    assert!(
        clusters.len() < rows,
        "records of one person share a cluster"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&model).expect("model")).expect("JSON");
    assert_eq!(json["format"], "hedui-linkage-model");
    // The saved model is used as given.
    let again = dir.path().join("again.csv");
    dedupe_ok(&input, &again, &["--model".as_ref(), model.as_os_str()]);
    assert_eq!(
        std::fs::read(&out).expect("first"),
        std::fs::read(&again).expect("second")
    );
}

#[test]
fn unusable_inputs_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = sample("snapshot-1/minzheng/members.csv");
    let no_identity = dir.path().join("no-identity.csv");
    std::fs::write(&no_identity, "a,b\n1,2\n").expect("write");
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").expect("write");
    let header_only = dir.path().join("header-only.csv");
    std::fs::write(&header_only, "姓名,身份证号\n").expect("write");
    let unknown = dir.path().join("data.docx");
    std::fs::write(&unknown, "x").expect("write");
    let missing = dir.path().join("missing.csv");
    let out = dir.path().join("out.csv");
    for bad in [&no_identity, &empty, &header_only, &unknown, &missing] {
        let run = link(bad, &good, &out, &[], "1");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{}: {stderr}", bad.display());
        let name = bad.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(stderr.contains(name), "the message names {name}: {stderr}");
        assert!(!out.exists(), "no output for unusable input");
    }
}

#[test]
fn blocking_report_shows_the_cost_before_comparing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let left = sample("snapshot-1/renshe/contributions.csv");
    let right = sample("snapshot-1/zhujian/housing_fund.parquet");
    let out = dir.path().join("never-written.csv");
    let run = link(&left, &right, &out, &["--blocking-report"], "2");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    for rule in [
        "id_number",
        "id_one_edit",
        "pinyin+birth_date",
        "name+township",
        "candidate pairs",
    ] {
        assert!(stdout.contains(rule), "{rule} missing from: {stdout}");
    }
    assert!(
        !out.exists(),
        "the report compares nothing and writes no links"
    );
}
