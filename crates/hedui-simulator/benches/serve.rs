//! How fast the simulator serves pages: a city with one 1,000,000-row dataset
//! (`renshe/contributions`), pulled as JSON pages of 10,000 over loopback HTTP by a client that
//! only reads the bytes (so the figure is the server's, plus the transfer). Also the JSON and
//! CSV page rendering alone.
//!
//! `cargo bench -p hedui-simulator --bench serve` (set `HEDUI_BENCH_ROWS` for another size).

#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hedui_simulator::{Simulator, SimulatorOptions};

const HEADERS: &str = "流水号,公民身份号码,姓名,险种类型,参保状态,缴费单位名称,统一社会信用代码,单位类型,缴费基数,费款所属期,个人缴费额,参保日期";

fn write_city(dir: &std::path::Path, rows: usize) {
    let d = dir.join("snapshot-1/renshe");
    std::fs::create_dir_all(&d).unwrap();
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(d.join("contributions.csv")).unwrap());
    writeln!(f, "{HEADERS}").unwrap();
    for i in 0..rows {
        writeln!(
            f,
            "RS{i:012},42130319800101{:04},张{}明,110,1,随州市曾都区第{}建筑有限公司,91421300MA4{:07},企业,{}.00,2021{:02},{}.50,2015-03-01",
            i % 10_000,
            ["伟", "芳", "娜", "秀英"][i % 4],
            i % 97,
            i % 9_999_999,
            3000 + i % 5000,
            1 + i % 12,
            300 + i % 700
        )
        .unwrap();
    }
    f.flush().unwrap();
}

fn bench(c: &mut Criterion) {
    let rows: usize = std::env::var("HEDUI_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    write_city(dir.path(), rows);
    let started = Instant::now();
    let sim = Simulator::load(dir.path(), SimulatorOptions::default()).unwrap();
    let load = started.elapsed();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (server, bytes) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = sim.serve(listener).unwrap();
        let bytes = sim.datasets().await[0].bytes;
        (server, bytes)
    });
    eprintln!(
        "loaded {rows} rows in {:.2} s ({:.0} rows/s), {} MB of serialised rows",
        load.as_secs_f64(),
        rows as f64 / load.as_secs_f64(),
        bytes / 1_000_000
    );
    let client = reqwest::Client::new();
    let base = server.base_url();
    let pull = |format: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let mut since = 0u64;
            let mut total = 0usize;
            loop {
                let resp = client
                    .get(format!(
                        "{base}/api/v1/datasets/renshe/contributions/records?since={since}&limit=10000&format={format}"
                    ))
                    .bearer_auth(hedui_simulator::DEFAULT_SECRET)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                let next: Option<u64> = resp
                    .headers()
                    .get("x-next-since")
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                let body = resp.bytes().await.unwrap();
                total += body.len();
                // The page's last `_seq`: the JSON tail holds next_since.
                since = match next {
                    Some(n) => n,
                    None => {
                        let tail = String::from_utf8_lossy(&body[body.len().saturating_sub(64)..]);
                        let n = tail.split("\"next_since\":").nth(1).unwrap();
                        n.split(',').next().unwrap().parse().unwrap()
                    }
                };
                if since >= rows as u64 {
                    break;
                }
            }
            total
        }
    };
    let mut group = c.benchmark_group("simulator");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function(format!("pull {rows} rows as JSON pages of 10000"), |b| {
        b.iter(|| runtime.block_on(pull("json")));
    });
    group.bench_function(format!("pull {rows} rows as CSV pages of 10000"), |b| {
        b.iter(|| runtime.block_on(pull("csv")));
    });
    group.finish();
    runtime.block_on(server.shutdown()).unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
