//! Integration tests: real files in a temporary directory, through the public API only.
//! All personal data here is synthetic (ID numbers like 421303198001010018 are made up).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field as ArrowField, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use hedui_tabular::{
    ColumnType, Error, Fault, Field, FileFormat, ReadOptions, Table, TableWriter, Value,
    read_headers, read_table, read_table_with, recognise, write_table,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).expect("write test file");
    path
}

fn cells(table: &Table, name: &str) -> Vec<Option<String>> {
    table
        .column(name)
        .unwrap_or_else(|| panic!("column {name} in {:?}", table.headers))
        .to_vec()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

const PEOPLE_CSV: &str = "编号,姓名,身份证号,性别,出生日期,住址\n\
    1,张三,421303198001010018,男,1980-01-01,湖北省随州市曾都区西城街道\n\
    2,李秀英,42130319850315002X,女,1985-03-15,随县厉山镇神农村3组\n\
    3,欧阳𠀀,,女,,\"广水市应山街道, 永阳大道88号\"\n";

fn check_people(t: &Table) {
    assert_eq!(
        t.headers,
        ["编号", "姓名", "身份证号", "性别", "出生日期", "住址"]
    );
    assert_eq!(t.num_rows(), 3);
    assert_eq!(cells(t, "姓名"), [s("张三"), s("李秀英"), s("欧阳𠀀")]);
    assert_eq!(
        cells(t, "身份证号"),
        [s("421303198001010018"), s("42130319850315002X"), None]
    );
    assert_eq!(
        cells(t, "住址")[2].as_deref(),
        Some("广水市应山街道, 永阳大道88号")
    );
    assert_eq!(t.row_numbers, [2, 3, 4]);
    assert!(t.bad_rows.is_empty(), "{:?}", t.bad_rows);
}

#[test]
fn csv_utf8() {
    let dir = tmp();
    let path = write_bytes(dir.path(), "people.csv", PEOPLE_CSV.as_bytes());
    let t = read_table(&path, None).expect("read");
    assert_eq!(t.format, FileFormat::Csv);
    assert_eq!(t.encoding, Some("UTF-8"));
    assert_eq!(t.delimiter, Some(b','));
    check_people(&t);
}

#[test]
fn csv_utf8_with_bom_and_padded_headers() {
    let dir = tmp();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        PEOPLE_CSV
            .replacen("编号,姓名,", " 编号 ,\u{3000}姓名\u{3000},", 1)
            .as_bytes(),
    );
    let path = write_bytes(dir.path(), "bom.csv", &bytes);
    let (format, headers) = read_headers(&path).expect("headers");
    assert_eq!(format, FileFormat::Csv);
    assert_eq!(headers[0], "编号", "BOM and spaces stripped");
    assert_eq!(headers[1], "姓名", "full-width spaces stripped");
    let t = read_table(&path, None).expect("read");
    assert_eq!(t.encoding, Some("UTF-8"));
    check_people(&t);
}

#[test]
fn csv_gb18030() {
    let dir = tmp();
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(PEOPLE_CSV);
    assert!(!unmappable, "GB18030 encodes every character, 𠀀 included");
    assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
    let path = write_bytes(dir.path(), "gbk.csv", &bytes);
    let t = read_table(&path, None).expect("read");
    assert_eq!(t.encoding, Some("gb18030"));
    check_people(&t);
}

#[test]
fn csv_utf16_from_excel_unicode_text() {
    // Excel's "Unicode text" export: UTF-16LE with BOM, tab-separated, in a .txt file.
    let dir = tmp();
    let text = PEOPLE_CSV.replace(',', "\t").replace(
        "\"广水市应山街道\t 永阳大道88号\"",
        "\"广水市应山街道, 永阳大道88号\"",
    );
    let mut bytes = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    let path = write_bytes(dir.path(), "export.txt", &bytes);
    let t = read_table(&path, None).expect("read");
    assert_eq!(t.encoding, Some("UTF-16LE"));
    assert_eq!(t.delimiter, Some(b'\t'));
    check_people(&t);
}

#[test]
fn delimiters_are_sniffed_or_forced() {
    let dir = tmp();
    let tsv = PEOPLE_CSV.replace(',', "\t").replace(
        "\"广水市应山街道\t 永阳大道88号\"",
        "\"广水市应山街道, 永阳大道88号\"",
    );
    // .tsv is tab-separated by extension; .txt and .csv are sniffed.
    for name in ["people.tsv", "people.txt", "tab.csv"] {
        let path = write_bytes(dir.path(), name, tsv.as_bytes());
        let t = read_table(&path, None).expect("read");
        assert_eq!(t.delimiter, Some(b'\t'), "{name}");
        check_people(&t);
    }
    for d in [';', '|'] {
        let text = PEOPLE_CSV.replace(',', &d.to_string()).replace(
            &format!("\"广水市应山街道{d} 永阳大道88号\""),
            "\"广水市应山街道, 永阳大道88号\"",
        );
        let path = write_bytes(dir.path(), "other.csv", text.as_bytes());
        let t = read_table(&path, None).expect("read");
        assert_eq!(t.delimiter, Some(d as u8));
        check_people(&t);
    }
    // Forcing the delimiter: read the comma file as semicolon-separated → one column.
    let path = write_bytes(dir.path(), "comma.csv", PEOPLE_CSV.as_bytes());
    let t = read_table_with(&path, None, &ReadOptions::default().delimiter(b';')).expect("read");
    assert_eq!(t.file_headers.len(), 1);
}

#[test]
fn ragged_rows_are_reported_not_dropped_silently() {
    let dir = tmp();
    let text = "编号,姓名,身份证号\n\
                1,张三,421303198001010018\n\
                2,李四\n\
                3,王五,421303198001010026,多余\n\
                4,赵六,421303198001010034,,\n\
                \n\
                ,,\n\
                5,\"孙\n七\",421303198001010042\n\
                6,\"周八,421303198001010050\n\
                7,吴九,421303198001010069\n";
    let path = write_bytes(dir.path(), "ragged.csv", text.as_bytes());
    let t = read_table(&path, None).expect("ragged rows are not an error");
    // Row 4's extra fields are empty (a trailing delimiter): kept. The blank line and the
    // row of bare delimiters carry nothing and are skipped. Row 5 has a quoted newline.
    assert_eq!(cells(&t, "编号"), [s("1"), s("4"), s("5")]);
    assert_eq!(cells(&t, "姓名")[2].as_deref(), Some("孙\n七"));
    assert_eq!(t.row_numbers, [2, 5, 8]);
    let lines: Vec<u64> = t.bad_rows.iter().map(|b| b.line).collect();
    assert_eq!(lines, [3, 4, 10]);
    assert_eq!(t.bad_rows[0].reason, "expected 3 fields, found 2");
    assert_eq!(t.bad_rows[0].fields, ["2", "李四"]);
    assert_eq!(t.bad_rows[0].row, None);
    assert_eq!(t.bad_rows[1].reason, "expected 3 fields, found 4");
    // The unclosed quote swallows the rest of the file; the note says so.
    assert!(
        t.bad_rows[2].reason.contains("lines 10–11") && t.bad_rows[2].reason.contains("quote"),
        "{}",
        t.bad_rows[2].reason
    );
}

#[test]
fn invalid_bytes_are_rejected_naming_the_line() {
    let dir = tmp();
    // GB18030 content with a broken sequence on line 3.
    let (mut bytes, _, _) = encoding_rs::GB18030.encode(PEOPLE_CSV);
    let bytes = {
        let mut v = bytes.to_vec();
        let third_line = v
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(1)
            .map(|(i, _)| i + 1)
            .expect("three lines");
        v.insert(third_line + 2, 0xFF);
        bytes = v.into();
        bytes
    };
    let path = write_bytes(dir.path(), "broken-gbk.csv", &bytes);
    let err = read_table(&path, None).expect_err("invalid GB18030");
    match &err {
        Error::InvalidEncoding { line, encoding, .. } => {
            assert_eq!(*line, 3);
            assert_eq!(*encoding, "gb18030");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.fault(), Fault::Data);
    assert!(err.to_string().contains("broken-gbk.csv"), "{err}");
    assert!(err.to_string().contains("line 3"), "{err}");

    // A UTF-8 file damaged far beyond the detection sample is still UTF-8; the bad line is named.
    let mut text = String::from("姓名,住址\n");
    for i in 0..40_000 {
        text.push_str(&format!("张{i},湖北省随州市曾都区西城街道{i}号\n"));
    }
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"\xE5\xBC,x\n");
    let path = write_bytes(dir.path(), "damaged.csv", &bytes);
    let err = read_table(&path, None).expect_err("invalid UTF-8 late in the file");
    assert!(
        matches!(
            err,
            Error::InvalidEncoding {
                line: 40_002,
                encoding: "UTF-8",
                ..
            }
        ),
        "{err:?}"
    );

    // U+FFFD in the text: damaged by an earlier wrong decoding.
    let path = write_bytes(
        dir.path(),
        "fffd.csv",
        "姓名,住址\n张三,随州\n李\u{FFFD}四,随州\n".as_bytes(),
    );
    let err = read_table(&path, None).expect_err("U+FFFD");
    assert!(
        matches!(err, Error::InvalidEncoding { line: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("U+FFFD"), "{err}");
}

#[test]
fn big5_is_refused_unless_forced() {
    let dir = tmp();
    let text = "姓名,身份證號,住址\n張偉,A123456789,臺北市中正區重慶南路一段122號\n陳麗華,B223456789,高雄市前鎮區中華五路\n";
    let (bytes, _, _) = encoding_rs::BIG5.encode(text);
    let path = write_bytes(dir.path(), "taiwan.csv", &bytes);
    let err = read_table(&path, None).expect_err("Big5 is not guessed");
    assert!(matches!(
        err,
        Error::UnsupportedEncoding {
            detected: "Big5",
            ..
        }
    ));
    assert!(err.to_string().contains("UTF-8"), "{err}");
    let t = read_table_with(&path, None, &ReadOptions::default().encoding("big5"))
        .expect("forced Big5");
    assert_eq!(t.encoding, Some("Big5"));
    assert_eq!(cells(&t, "姓名"), [s("張偉"), s("陳麗華")]);
    let err = read_table_with(&path, None, &ReadOptions::default().encoding("klingon"))
        .expect_err("unknown label");
    assert_eq!(err.fault(), Fault::User);
}

#[test]
fn empty_and_header_only_files() {
    let dir = tmp();
    for (name, bytes) in [
        ("empty.csv", &b""[..]),
        ("bom-only.csv", &b"\xEF\xBB\xBF"[..]),
        ("blank.csv", &b"\r\n\n  \n,,\n"[..]),
    ] {
        let path = write_bytes(dir.path(), name, bytes);
        let err = read_table(&path, None).expect_err("no header");
        assert!(matches!(err, Error::Empty { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(name), "{err}");
        assert!(matches!(read_headers(&path), Err(Error::Empty { .. })));
    }
    let path = write_bytes(
        dir.path(),
        "header-only.csv",
        "姓名,身份证号\r\n".as_bytes(),
    );
    let t = read_table(&path, None).expect("header-only is fine");
    assert_eq!(t.headers, ["姓名", "身份证号"]);
    assert!(t.is_empty());
    assert_eq!(t.num_rows(), 0);
    assert_eq!(t.columns.len(), 2);
}

#[test]
fn path_errors_name_the_file_and_the_fault() {
    let dir = tmp();
    let missing = dir.path().join("nope.csv");
    let err = read_table(&missing, None).expect_err("missing");
    assert!(matches!(err, Error::NotFound { .. }));
    assert_eq!(err.fault(), Fault::User);
    assert!(err.to_string().contains("nope.csv"));
    assert_eq!(err.path(), missing);

    let sub = dir.path().join("folder.csv");
    fs::create_dir(&sub).expect("mkdir");
    assert!(matches!(
        read_table(&sub, None),
        Err(Error::NotAFile { .. })
    ));

    let xls = write_bytes(dir.path(), "名单.xls", b"\xD0\xCF\x11\xE0");
    let err = read_headers(&xls).expect_err("xls");
    assert!(matches!(err, Error::UnknownFormat { .. }));
    assert!(err.to_string().contains("名单.xls") && err.to_string().contains(".xlsx"));

    let fake = write_bytes(dir.path(), "fake.xlsx", b"not a zip");
    let err = read_table(&fake, None).expect_err("corrupt xlsx");
    assert!(matches!(err, Error::CorruptXlsx { .. }), "{err:?}");
    assert_eq!(err.fault(), Fault::Data);

    let fake = write_bytes(dir.path(), "fake.parquet", b"PAR1 not really");
    let err = read_table(&fake, None).expect_err("corrupt parquet");
    assert!(matches!(err, Error::CorruptParquet { .. }), "{err:?}");
    assert!(err.to_string().contains("fake.parquet"));
}

#[test]
fn csv_projection_materialises_only_requested_columns() {
    let dir = tmp();
    let path = write_bytes(dir.path(), "people.csv", PEOPLE_CSV.as_bytes());
    let t = read_table(&path, Some(&[2, 1, 2])).expect("read");
    assert_eq!(t.headers, ["身份证号", "姓名"]);
    assert_eq!(t.source_columns, [2, 1]);
    assert_eq!(t.columns.len(), 2);
    assert_eq!(t.file_headers.len(), 6);
    assert_eq!(t.source_column(1).map(|c| c.get(0)), Some(Some("张三")));
    assert!(t.source_column(0).is_none());
    let err = read_table(&path, Some(&[6])).expect_err("out of range");
    assert!(matches!(
        err,
        Error::ColumnOutOfRange {
            index: 6,
            columns: 6,
            ..
        }
    ));
    assert_eq!(err.fault(), Fault::Internal);
}

fn sample_workbook(path: &Path) {
    let mut wb = Workbook::new();
    let sheet = wb.add_worksheet();
    sheet.set_name("名单").expect("sheet name");
    // Row 1 is blank; the header is the first non-empty row.
    for (c, h) in [
        "编号",
        "姓名",
        "身份证号",
        "出生日期",
        "登记时间",
        "金额",
        "在册",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(1, c as u16, *h).expect("header");
    }
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    // A string ID, as it should be.
    sheet.write_number(2, 0, 1.0).expect("cell");
    sheet.write_string(2, 1, "张三").expect("cell");
    sheet
        .write_string(2, 2, "421303198001010018")
        .expect("cell");
    let d = ExcelDateTime::from_ymd(1980, 1, 1).expect("date");
    sheet
        .write_datetime_with_format(2, 3, &d, &date)
        .expect("cell");
    let dt = ExcelDateTime::parse_from_str("2024-03-05 14:30:00").expect("datetime");
    sheet
        .write_datetime_with_format(2, 4, &dt, &datetime)
        .expect("cell");
    sheet.write_number(2, 5, 1234.0).expect("cell");
    sheet.write_boolean(2, 6, true).expect("cell");
    // A numeric ID: already corrupted by Excel.
    sheet.write_number(3, 0, 2.0).expect("cell");
    sheet.write_string(3, 1, "李四").expect("cell");
    sheet
        .write_number(3, 2, 421303198001010018.0)
        .expect("cell");
    sheet.write_number(3, 5, 3.25).expect("cell");
    sheet.write_boolean(3, 6, false).expect("cell");
    // Row 5 blank. Row 6: an error cell and a value beyond the last header.
    sheet.write_number(5, 0, 3.0).expect("cell");
    sheet
        .write_formula(5, 1, Formula::new("=NA()").set_result("#N/A"))
        .expect("cell");
    sheet.write_string(5, 8, "stray").expect("cell");
    wb.add_worksheet().set_name("其他").expect("sheet");
    wb.worksheet_from_name("其他")
        .expect("sheet")
        .write_string(0, 0, "姓名")
        .expect("cell");
    wb.save(path).expect("save workbook");
}

#[test]
fn xlsx_cells_become_text_and_excel_damage_stays_visible() {
    let dir = tmp();
    let path = dir.path().join("名单.xlsx");
    sample_workbook(&path);
    let (format, headers) = read_headers(&path).expect("headers");
    assert_eq!(format, FileFormat::Xlsx);
    assert_eq!(
        headers,
        [
            "编号",
            "姓名",
            "身份证号",
            "出生日期",
            "登记时间",
            "金额",
            "在册"
        ]
    );
    let t = read_table(&path, None).expect("read");
    assert_eq!(t.sheet.as_deref(), Some("名单"));
    assert_eq!(t.encoding, None);
    assert_eq!(cells(&t, "编号"), [s("1"), s("2"), s("3")]);
    assert_eq!(cells(&t, "姓名"), [s("张三"), s("李四"), None]);
    let ids = cells(&t, "身份证号");
    assert_eq!(ids[0].as_deref(), Some("421303198001010018"));
    // Excel's damage is visible as scientific notation, not a plausible wrong number.
    assert_eq!(ids[1].as_deref(), Some("4.2130319800101005E+17"));
    assert_eq!(ids[2], None);
    assert_eq!(cells(&t, "出生日期"), [s("1980-01-01"), None, None]);
    assert_eq!(
        cells(&t, "登记时间"),
        [s("2024-03-05 14:30:00"), None, None]
    );
    assert_eq!(cells(&t, "金额"), [s("1234"), s("3.25"), None]);
    assert_eq!(cells(&t, "在册"), [s("true"), s("false"), None]);
    // Sheet rows (1-based): header on row 2, data on 3, 4 and 6.
    assert_eq!(t.row_numbers, [3, 4, 6]);
    assert_eq!(t.bad_rows.len(), 2, "{:?}", t.bad_rows);
    assert_eq!(t.bad_rows[0].line, 6);
    assert_eq!(t.bad_rows[0].row, Some(2));
    assert!(t.bad_rows[0].reason.contains("B6") && t.bad_rows[0].reason.contains("#N/A"));
    assert!(
        t.bad_rows[1].reason.contains("I6"),
        "{}",
        t.bad_rows[1].reason
    );

    // Projection, and another sheet.
    let t = read_table(&path, Some(&[2])).expect("read");
    assert_eq!(t.headers, ["身份证号"]);
    assert_eq!(t.columns.len(), 1);
    assert_eq!(t.num_rows(), 3);
    assert_eq!(
        t.bad_rows.len(),
        1,
        "notes only about read columns and stray values"
    );
    let t = read_table_with(&path, None, &ReadOptions::default().sheet("其他")).expect("sheet");
    assert_eq!(t.headers, ["姓名"]);
    assert!(t.is_empty());
    let err = read_table_with(&path, None, &ReadOptions::default().sheet("Sheet9"))
        .expect_err("no such sheet");
    assert!(err.to_string().contains("名单, 其他"), "{err}");
}

#[test]
fn parquet_typed_columns_read_as_text() {
    let dir = tmp();
    let path = dir.path().join("typed.parquet");
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("rid", DataType::Int64, false),
        ArrowField::new("姓名", DataType::Utf8, true),
        ArrowField::new("amount", DataType::Float64, true),
        ArrowField::new("birth", DataType::Date32, true),
        ArrowField::new("flag", DataType::Boolean, true),
        ArrowField::new(
            "seen",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        ArrowField::new("id_as_float", DataType::Float64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2, 3])),
        Arc::new(StringArray::from(vec![Some("张三"), None, Some("")])),
        Arc::new(Float64Array::from(vec![Some(1234.0), Some(0.1), None])),
        // 1980-01-01 is day 3652 of the epoch.
        Arc::new(Date32Array::from(vec![Some(3652), None, Some(0)])),
        Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_709_649_000_000),
            Some(0),
            None,
        ])),
        Arc::new(Float64Array::from(vec![
            Some(421303198001010018.0),
            Some(f64::NAN),
            None,
        ])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    let mut w = ArrowWriter::try_new(fs::File::create(&path).expect("create"), schema, None)
        .expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");

    let (format, headers) = read_headers(&path).expect("headers");
    assert_eq!(format, FileFormat::Parquet);
    assert_eq!(headers.len(), 7);
    let t = read_table(&path, None).expect("read");
    assert_eq!(cells(&t, "rid"), [s("1"), s("2"), s("3")]);
    assert_eq!(cells(&t, "姓名"), [s("张三"), None, None]);
    assert_eq!(cells(&t, "amount"), [s("1234"), s("0.1"), None]);
    assert_eq!(cells(&t, "birth"), [s("1980-01-01"), None, s("1970-01-01")]);
    assert_eq!(cells(&t, "flag"), [s("true"), s("false"), None]);
    assert_eq!(
        cells(&t, "seen"),
        [s("2024-03-05 14:30:00"), s("1970-01-01"), None]
    );
    assert_eq!(
        cells(&t, "id_as_float"),
        [s("4.2130319800101005E+17"), None, None]
    );
    assert_eq!(t.row_numbers, [1, 2, 3]);

    // Projection: only the requested columns, in the requested order.
    let t = read_table(&path, Some(&[3, 1])).expect("projected");
    assert_eq!(t.headers, ["birth", "姓名"]);
    assert_eq!(t.columns.len(), 2);
    assert_eq!(t.columns[0].get(0), Some("1980-01-01"));
    assert_eq!(t.columns[1].get(0), Some("张三"));
    assert_eq!(t.num_rows(), 3);
}

#[test]
fn csv_writer_round_trip_with_bom() {
    let dir = tmp();
    let path = dir.path().join("out.csv");
    let names = vec![s("张三"), None, s("O'Brien, \"Jr\"\nline2"), s(" 李四 ")];
    let ids = vec![
        s("421303198001010018"),
        s("42130319850315002X"),
        None,
        s("x"),
    ];
    write_table(&path, &["姓名", "身份证号"], &[names.clone(), ids.clone()]).expect("write");
    let bytes = fs::read(&path).expect("read back");
    assert!(bytes.starts_with("\u{FEFF}姓名,身份证号\r\n".as_bytes()));
    let t = read_table(&path, None).expect("read");
    assert_eq!(t.encoding, Some("UTF-8"));
    assert_eq!(cells(&t, "姓名"), names);
    assert_eq!(cells(&t, "身份证号"), ids);
    // No temporary files left behind.
    let entries: Vec<_> = fs::read_dir(dir.path()).expect("list").collect();
    assert_eq!(entries.len(), 1);
}

/// Read a chunk at a time (text columns kept as the decoder's string views), a Parquet file
/// gives the cells a whole read gives, whatever the chunk size against the decoder's batches.
#[test]
fn parquet_read_in_chunks_equals_whole() {
    let dir = tmp();
    let path = dir.path().join("register.parquet");
    let mut w = TableWriter::create(
        &path,
        &[
            ("id", ColumnType::Text),
            ("name", ColumnType::Text),
            ("address", ColumnType::Text),
            ("age", ColumnType::Int64),
        ],
    )
    .expect("create");
    let rows = 20_000usize;
    for i in 0..rows {
        let id = format!("GA{i:07}");
        // Short names (inline in a view), long addresses (in the data buffers), nulls and
        // empty cells.
        let name = match i % 11 {
            0 => None,
            1 => Some(String::new()),
            _ => Some(format!("张{}", i % 97)),
        };
        let address =
            (i % 13 != 0).then(|| format!("湖北省随州市曾都区西城街道{}号院{}单元", i % 500, i));
        w.write_row(&[
            Value::Text(&id),
            name.as_deref().into(),
            address.as_deref().into(),
            Value::Int64(i as i64),
        ])
        .expect("row");
    }
    w.finish().expect("finish");
    let whole = read_table(&path, None).expect("whole");
    assert_eq!(whole.num_rows(), rows);
    for chunk in [1000, 8192, 10_000, 30_000] {
        let mut seen = 0usize;
        hedui_tabular::read_table_chunked(&path, &ReadOptions::default(), chunk, &mut |t| {
            assert!(
                t.num_rows() >= chunk.min(rows - seen),
                "chunk of {}",
                t.num_rows()
            );
            for (c, column) in t.columns.iter().enumerate() {
                for r in 0..t.num_rows() {
                    assert_eq!(
                        column.get(r),
                        whole.columns[c].get(seen + r),
                        "chunk {chunk}, column {c}, row {}",
                        seen + r
                    );
                }
                assert_eq!(column.get(t.num_rows()), None);
            }
            if t.num_rows() == 0 {
                // The rows ended with a full chunk: the last table is empty.
                assert_eq!(seen, rows);
                return;
            }
            assert_eq!(t.row_numbers.first().copied(), Some(seen as u64 + 1));
            // A chunk's column is an ordinary column: it compares, and takes more cells.
            let mut names = t.columns[1].clone();
            assert_eq!(names, t.columns[1]);
            assert_eq!(
                names.null_count(),
                t.columns[1].iter().filter(Option::is_none).count()
            );
            names.push(Some("李四"));
            assert_eq!(names.get(t.num_rows()), Some("李四"));
            assert_eq!(names.get(0), t.columns[1].get(0));
            seen += t.num_rows();
        })
        .expect("chunked");
        assert_eq!(seen, rows);
    }
}

#[test]
fn parquet_writer_keeps_types() {
    let dir = tmp();
    let path = dir.path().join("links.parquet");
    let mut w = TableWriter::create(
        &path,
        &[
            ("left_id", ColumnType::Text),
            ("right_id", ColumnType::Text),
            ("match_probability", ColumnType::Float64),
            ("match_weight", ColumnType::Float64),
            ("gamma_name", ColumnType::Int64),
        ],
    )
    .expect("create");
    for i in 0..100_000i64 {
        let l = format!("L{i}");
        w.write_row(&[
            Value::Text(&l),
            Value::from(if i % 7 == 0 { None } else { Some("R") }),
            Value::Float64(i as f64 / 100_000.0),
            Value::Float64(-3.5),
            Value::Int64(i % 4 - 1),
        ])
        .expect("row");
    }
    assert!(!path.exists(), "nothing under the real name before finish");
    assert_eq!(w.finish().expect("finish"), 100_000);

    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).expect("open"))
        .expect("parquet");
    let types: Vec<DataType> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Utf8,
            DataType::Utf8,
            DataType::Float64,
            DataType::Float64,
            DataType::Int64
        ]
    );
    let t = read_table(&path, None).expect("read");
    assert_eq!(t.num_rows(), 100_000);
    // The footer states the row count; a CSV does not.
    assert_eq!(
        hedui_tabular::row_count(&path).expect("count"),
        Some(100_000)
    );
    let csv = dir.path().join("rows.csv");
    fs::write(&csv, "a\n1\n2\n").expect("csv");
    assert_eq!(hedui_tabular::row_count(&csv).expect("count"), None);
    fs::remove_file(&csv).expect("remove");
    assert_eq!(t.columns[0].get(99_999), Some("L99999"));
    assert_eq!(t.columns[1].get(0), None);
    assert_eq!(t.columns[1].get(1), Some("R"));
    assert_eq!(t.columns[2].get(50_000), Some("0.5"));
    assert_eq!(t.columns[3].get(3), Some("-3.5"));
    assert_eq!(t.columns[4].get(0), Some("-1"));

    // Type checks and row length.
    let path = dir.path().join("bad.parquet");
    let mut w = TableWriter::create(&path, &[("p", ColumnType::Float64)]).expect("create");
    let err = w
        .write_row(&[Value::Text("0.5")])
        .expect_err("text in a float column");
    assert_eq!(err.fault(), Fault::Internal);
    assert!(w.write_row(&[]).is_err());
    drop(w);
    assert_eq!(
        fs::read_dir(dir.path()).expect("list").count(),
        1,
        "temp removed on drop"
    );
}

#[test]
fn typed_csv_and_xlsx_output() {
    let dir = tmp();
    for name in ["links.csv", "links.tsv", "links.xlsx"] {
        let path = dir.path().join(name);
        let mut w = TableWriter::create(
            &path,
            &[
                ("left_id", ColumnType::Text),
                ("match_probability", ColumnType::Float64),
                ("gamma_id", ColumnType::Int64),
            ],
        )
        .expect("create");
        w.write_row(&[
            Value::Text("421303198001010018"),
            Value::Float64(0.999),
            Value::from(2i8),
        ])
        .expect("row");
        w.write_row(&[Value::Text("甲"), Value::Null, Value::Int64(-1)])
            .expect("row");
        w.finish().expect("finish");
        let t = read_table(&path, None).expect("read back");
        assert_eq!(
            cells(&t, "left_id"),
            [s("421303198001010018"), s("甲")],
            "{name}: ID numbers survive as text"
        );
        assert_eq!(cells(&t, "match_probability"), [s("0.999"), None], "{name}");
        assert_eq!(cells(&t, "gamma_id"), [s("2"), s("-1")], "{name}");
    }
    let tsv = fs::read(dir.path().join("links.tsv")).expect("tsv");
    assert!(tsv.starts_with("\u{FEFF}left_id\tmatch_probability".as_bytes()));
}

#[test]
fn writes_are_atomic_and_errors_name_the_file() {
    let dir = tmp();
    let path = dir.path().join("no-such-dir").join("out.parquet");
    let err = TableWriter::create_text(&path, &["a"]).expect_err("missing directory");
    assert!(matches!(err, Error::Write { .. }));
    assert_eq!(err.fault(), Fault::Io);
    assert!(err.to_string().contains("out.parquet"));

    let err = TableWriter::create_text(dir.path().join("x.json"), &["a"]).expect_err("json");
    assert!(matches!(err, Error::UnknownFormat { .. }));

    // Overwriting an existing file replaces it whole.
    let path = dir.path().join("t.csv");
    fs::write(&path, "old").expect("old file");
    write_table(&path, &["姓名"], &[vec![s("新")]]).expect("write");
    let t = read_table(&path, None).expect("read");
    assert_eq!(cells(&t, "姓名"), [s("新")]);

    let err = write_table(&path, &["a", "b"], &[vec![s("1")], vec![]]).expect_err("ragged");
    assert!(matches!(err, Error::InvalidRow { .. }));
    assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
}

#[test]
fn recognise_on_real_files() {
    let dir = tmp();
    let path = write_bytes(dir.path(), "people.csv", PEOPLE_CSV.as_bytes());
    let (_, headers) = read_headers(&path).expect("headers");
    let map = recognise(&path, &headers, &[], None).expect("recognised");
    assert_eq!(map.record_id, Some(0));
    assert_eq!(map.name, Some(1));
    assert_eq!(map.id_number, Some(2));
    assert_eq!(map.gender, Some(3));
    assert_eq!(map.birth_date, Some(4));
    assert_eq!(map.address, Some(5));
    assert_eq!(map.phone, None);
    let t = read_table(&path, Some(&map.columns())).expect("projected");
    assert_eq!(t.columns.len(), 6);

    let path = write_bytes(dir.path(), "金额.csv", "序号,金额\n1,100\n".as_bytes());
    let (_, headers) = read_headers(&path).expect("headers");
    let err = recognise(&path, &headers, &[], None).expect_err("no identity column");
    let msg = err.to_string();
    assert!(
        msg.contains("金额.csv") && msg.contains("\"序号\", \"金额\""),
        "{msg}"
    );
    // An override rescues it.
    let map = recognise(&path, &headers, &[(Field::Name, "序号".into())], None).expect("mapped");
    assert_eq!(map.name, Some(0));
}

mod roundtrip {
    use super::*;
    use proptest::prelude::*;

    fn cell() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            1 => Just(None),
            3 => any::<String>().prop_map(|s| Some(s.replace('\u{FFFD}', "?"))),
            3 => "[a-z张三李四,;|\"\\t\\r\\n '　]{0,12}".prop_map(Some),
        ]
        .prop_map(|c| c.filter(|s| !s.is_empty()))
    }

    fn header() -> impl Strategy<Value = String> {
        "[a-z姓名号码]{1,6}( [a-z]{1,3})?"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Arbitrary cell text (delimiters, quotes, newlines, Chinese …) survives the CSV and
        /// TSV writers and the reader. Rows with no value at all are not data and are skipped
        /// on read, so every generated row has one value.
        #[test]
        fn csv_round_trip(
            headers in prop::collection::vec(header(), 1..5),
            rows in prop::collection::vec(prop::collection::vec(cell(), 5), 0..20),
            tsv in any::<bool>(),
        ) {
            let width = headers.len();
            let rows: Vec<Vec<Option<String>>> = rows
                .into_iter()
                .map(|mut r| {
                    r.truncate(width);
                    if r.iter().all(Option::is_none) {
                        r[0] = Some("x".to_owned());
                    }
                    r
                })
                .collect();
            let columns: Vec<Vec<Option<String>>> =
                (0..width).map(|c| rows.iter().map(|r| r[c].clone()).collect()).collect();
            let dir = tmp();
            let path = dir.path().join(if tsv { "p.tsv" } else { "p.csv" });
            let hs: Vec<&str> = headers.iter().map(String::as_str).collect();
            write_table(&path, &hs, &columns).expect("write");
            let t = read_table(&path, None).expect("read");
            prop_assert_eq!(&t.headers, &headers);
            prop_assert!(t.bad_rows.is_empty(), "{:?}", t.bad_rows);
            let back: Vec<Vec<Option<String>>> = t.columns.iter().map(|c| c.to_vec()).collect();
            prop_assert_eq!(back, columns);
        }
    }
}
