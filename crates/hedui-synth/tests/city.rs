//! End-to-end checks of the synthetic city: determinism whatever the thread count, every file
//! readable in its delivery format, and ground truth that is honest about the damage it did.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow::array::{Array, StringArray};
use hedui_identity::id::parse_id;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn generate_with_threads(threads: usize, dir: &Path, population: usize) -> hedui_synth::Report {
    let config = hedui_synth::Config {
        population,
        seed: 7,
        ..Default::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| hedui_synth::generate(&config, dir))
        .expect("generation succeeds")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn output_is_identical_at_one_and_two_threads() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    generate_with_threads(1, a.path(), 4000);
    generate_with_threads(2, b.path(), 4000);
    let fa = files_under(a.path());
    let fb = files_under(b.path());
    assert_eq!(fa.len(), fb.len());
    assert!(fa.len() >= 33, "{} files", fa.len());
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(x.strip_prefix(a.path()).ok(), y.strip_prefix(b.path()).ok());
        let bx = std::fs::read(x).expect("read");
        let by = std::fs::read(y).expect("read");
        assert!(bx == by, "{} differs between 1 and 2 threads", x.display());
    }
}

fn read_parquet(path: &Path) -> Vec<HashMap<String, Option<String>>> {
    let file = std::fs::File::open(path).expect("open parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet footer")
        .build()
        .expect("reader");
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let schema = batch.schema();
        for r in 0..batch.num_rows() {
            let mut row = HashMap::new();
            for (c, f) in schema.fields().iter().enumerate() {
                let col = batch
                    .column(c)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("text columns");
                let v = (!col.is_null(r)).then(|| col.value(r).to_owned());
                row.insert(f.name().clone(), v);
            }
            rows.push(row);
        }
    }
    rows
}

fn read_gb18030_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).expect("read csv");
    let (text, _, had_errors) = encoding_rs::GB18030.decode(&bytes);
    assert!(!had_errors, "{} is valid GB18030", path.display());
    let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = rdr
        .records()
        .map(|r| r.expect("row").iter().map(str::to_owned).collect())
        .collect();
    (headers, rows)
}

#[test]
fn extracts_read_back_and_truth_is_honest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = generate_with_threads(2, dir.path(), 6000);
    let catalog = hedui_model::Catalog::builtin().expect("schemas");

    // Every file has the rows the report claims, and the schema's headers.
    let contributions = dir.path().join("snapshot-2/renshe/contributions.csv");
    let (headers, rows) = read_gb18030_csv(&contributions);
    let schema = catalog.dataset("renshe", "contributions").expect("schema");
    assert_eq!(headers, schema.source_headers());
    let claimed = report
        .files
        .iter()
        .find(|f| f.dataset == "renshe/contributions" && f.snapshot == "snapshot-2")
        .expect("file stat");
    assert_eq!(rows.len() as u64, claimed.rows);
    assert!(rows.len() > 1000);

    // The true person of every record.
    let truth = read_parquet(&dir.path().join("truth/record_persons.parquet"));
    let persons = read_parquet(&dir.path().join("truth/persons.parquet"));
    let true_id: HashMap<String, String> = persons
        .iter()
        .map(|p| {
            (
                p["person_id"].clone().expect("pid"),
                p["id_number"].clone().expect("id"),
            )
        })
        .collect();
    assert_eq!(true_id.len(), report.persons);
    let subject: HashMap<String, (String, String)> = truth
        .iter()
        .filter(|t| {
            t["snapshot"].as_deref() == Some("snapshot-2")
                && t["dataset"].as_deref() == Some("renshe/contributions")
        })
        .map(|t| {
            (
                t["record_id"].clone().expect("rid"),
                (
                    t["person_id"].clone().expect("pid"),
                    t["corruptions"].clone().unwrap_or_default(),
                ),
            )
        })
        .collect();
    assert_eq!(
        subject.len(),
        rows.len(),
        "every record has its true person"
    );

    // Where the truth says the ID was not damaged beyond repair, the standardiser recovers
    // exactly the true number; where it says it was, it does not.
    let mut by_tag: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for row in &rows {
        let (pid, tags) = &subject[&row[0]];
        let parsed = parse_id(&row[1]);
        let recovered = parsed.normalized.as_deref() == Some(true_id[pid].as_str());
        let irreparable = tags.contains("id_typo") || tags.contains("id_transpose");
        if irreparable {
            assert!(!parsed.is_valid() || !recovered, "{tags}: {}", row[1]);
        } else {
            assert!(
                recovered,
                "{tags}: {} should standardise to the true ID",
                row[1]
            );
        }
        for t in tags.split('|').filter(|t| t.starts_with("id")) {
            let e = by_tag.entry(t.to_owned()).or_default();
            e.0 += 1;
            e.1 += usize::from(recovered);
        }
    }
    // The realistic defaults produce 15-digit numbers and lower-case x in this department.
    assert!(
        by_tag.get("id15").is_some_and(|(n, _)| *n > 0),
        "{by_tag:?}"
    );
}

#[test]
fn planted_events_are_reported_and_cite_their_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = hedui_synth::Config {
        population: 20_000,
        seed: 11,
        event_rate: 4.0,
        ..Default::default()
    };
    let report = hedui_synth::generate(&config, dir.path()).expect("generation");
    assert!(report.cases > 200, "{} cases", report.cases);
    for kind in [
        "death",
        "new_job",
        "pension_start",
        "property_new",
        "vehicle_new",
        "hospital_costly",
    ] {
        assert!(
            report.roster_events.get(kind).is_some_and(|n| *n > 0),
            "no {kind} planted: {:?}",
            report.roster_events
        );
    }
    let text = std::fs::read_to_string(dir.path().join("truth/events.csv")).expect("events");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let n = rdr.records().count();
    assert_eq!(n, report.events.values().sum::<usize>());
}

#[test]
fn invalid_configurations_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = hedui_synth::Config {
        population: 0,
        ..Default::default()
    };
    assert!(hedui_synth::generate(&bad, dir.path()).is_err());
    let mut swapped = hedui_synth::Config::default();
    swapped.snapshots.reverse();
    assert!(hedui_synth::generate(&swapped, dir.path()).is_err());
}
