//! Measures read throughput on a synthetic analyst file.
//!
//! ```text
//! cargo run --release -p hedui-tabular --example read_throughput -- gen OUT.csv ROWS [gb18030]
//! cargo run --release -p hedui-tabular --example read_throughput -- read FILE [COL,COL,…]
//! ```
//!
//! `gen` writes a CSV with ten columns of synthetic identity data (UTF-8 with BOM through
//! `TableWriter`, or GB18030 by hand); `read` reads it with `read_table` (all columns, or the
//! listed 0-based ones) and prints rows, seconds, rows/s and MB/s. Peak memory: run under
//! `/usr/bin/time -v`.

use std::error::Error;
use std::io::Write;
use std::time::Instant;

use hedui_tabular::{TableWriter, Value, read_table};

const SURNAMES: [&str; 12] = [
    "张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "欧阳", "曾",
];
const GIVEN: [&str; 10] = [
    "伟", "芳", "秀英", "敏", "静", "强", "磊", "军", "洋", "桂兰",
];
const PLACES: [&str; 4] = [
    "湖北省随州市曾都区西城街道办事处",
    "随县厉山镇神农村3组",
    "广水市应山街道永阳大道88号",
    "曾都区南郊街道烈山大道12号3单元",
];

fn row(i: u64) -> [String; 10] {
    let name = format!(
        "{}{}",
        SURNAMES[(i % 12) as usize],
        GIVEN[(i / 12 % 10) as usize]
    );
    [
        format!("R{i:08}"),
        name,
        format!("4213031980{:04}{:04}", i % 1231, i % 10_000),
        (if i.is_multiple_of(2) { "男" } else { "女" }).to_owned(),
        format!("19{:02}-{:02}-{:02}", 40 + i % 60, 1 + i % 12, 1 + i % 28),
        format!("{}{}号", PLACES[(i % 4) as usize], i % 500),
        format!("139{:08}", i % 100_000_000),
        String::new(),
        if i.is_multiple_of(10) {
            "复核, \"加急\"".to_owned()
        } else {
            String::new()
        },
        format!("{}.{:02}", i % 5000, i % 100),
    ]
}

const HEADERS: [&str; 10] = [
    "编号",
    "姓名",
    "身份证号",
    "性别",
    "出生日期",
    "住址",
    "联系电话",
    "曾用名",
    "备注",
    "金额",
];

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => {
            let path = args.get(1).ok_or("missing OUT")?;
            let rows: u64 = args.get(2).ok_or("missing ROWS")?.parse()?;
            if args.get(3).map(String::as_str) == Some("gb18030") {
                let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
                let mut line = HEADERS.join(",");
                line.push('\n');
                for i in 0..rows {
                    let r = row(i);
                    line.push_str(&r.iter().map(|c| csv_quote(c)).collect::<Vec<_>>().join(","));
                    line.push('\n');
                    if line.len() > 1 << 16 || i + 1 == rows {
                        let (bytes, _, _) = encoding_rs::GB18030.encode(&line);
                        out.write_all(&bytes)?;
                        line.clear();
                    }
                }
                out.flush()?;
            } else {
                let mut w = TableWriter::create_text(path, &HEADERS)?;
                for i in 0..rows {
                    let r = row(i);
                    let values: Vec<Value<'_>> =
                        r.iter().map(|c| Value::from(Some(c.as_str()))).collect();
                    w.write_row(&values)?;
                }
                w.finish()?;
            }
        }
        Some("read") => {
            let path = args.get(1).ok_or("missing FILE")?;
            let projection: Option<Vec<usize>> = args
                .get(2)
                .map(|s| s.split(',').map(str::parse).collect())
                .transpose()?;
            let bytes = std::fs::metadata(path)?.len();
            let start = Instant::now();
            let t = read_table(path, projection.as_deref())?;
            let secs = start.elapsed().as_secs_f64();
            let text: usize = t.columns.iter().map(|c| c.text_bytes()).sum();
            println!(
                "{path}: {} rows × {} columns ({:?}), {} bad rows, {:.2} s, {:.0} rows/s, {:.0} MB/s, {:.0} MB of cell text",
                t.num_rows(),
                t.columns.len(),
                t.encoding,
                t.bad_rows.len(),
                secs,
                t.num_rows() as f64 / secs,
                bytes as f64 / secs / 1e6,
                text as f64 / 1e6
            );
        }
        _ => return Err("usage: gen OUT ROWS [gb18030] | read FILE [COLS]".into()),
    }
    Ok(())
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
