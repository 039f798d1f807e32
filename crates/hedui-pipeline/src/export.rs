//! Per-district XLSX workbooks of a run's new flags, for counties that work from spreadsheets.
//! Chinese headers, masked subjects (the flags carry masked names and IDs only), one file per
//! county named after it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use hedui_model::flag::{Flag, programme_label_zh};
use rust_xlsxwriter::{Format, Workbook};

use crate::Error;
use crate::run::write_atomic;

const HEADERS: [&str; 15] = [
    "标记编号",
    "标记类型",
    "严重程度",
    "案件编号",
    "救助类别",
    "区县",
    "乡镇（街道）",
    "户主",
    "户主身份证号",
    "涉及成员",
    "事由",
    "影响测算",
    "建议措施",
    "身份匹配",
    "办理期限",
];

/// Writes one workbook per county under `dir`; returns their paths (sorted).
pub fn district_workbooks(flags: &[Flag], dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut by_county: BTreeMap<&str, Vec<&Flag>> = BTreeMap::new();
    for f in flags {
        by_county
            .entry(f.subject.county_code.as_str())
            .or_default()
            .push(f);
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for (county, flags) in by_county {
        let name = hedui_identity::divisions::county_by_code(county)
            .map(|c| c.name.to_owned())
            .unwrap_or_else(|| county.to_owned());
        let bytes = workbook(&flags).map_err(|e| Error::Internal(format!("XLSX: {e}")))?;
        let path = dir.join(format!("核对标记-{name}.xlsx"));
        write_atomic(&path, &bytes)?;
        out.push(path);
    }
    Ok(out)
}

fn workbook(flags: &[&Flag]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("核对标记")?;
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, f) in flags.iter().enumerate() {
        let r = (i + 1) as u32;
        let s = &f.subject;
        let township = hedui_identity::divisions::township_by_code(&s.township_code)
            .map(|t| t.name.to_owned())
            .unwrap_or_else(|| s.township_code.clone());
        let county = hedui_identity::divisions::county_by_code(&s.county_code)
            .map(|c| c.name.to_owned())
            .unwrap_or_else(|| s.county_code.clone());
        let identity = if f.needs_identity_confirmation() {
            "待确认身份"
        } else {
            "身份证号匹配"
        };
        let cells = [
            f.flag_id.clone(),
            f.flag_type.clone(),
            f.severity.label_zh().to_owned(),
            s.case_id.clone(),
            programme_label_zh(&s.programme).to_owned(),
            county,
            township,
            s.head_name_masked.clone(),
            s.head_id_masked.clone(),
            s.member_name_masked.clone().unwrap_or_default(),
            f.reason_zh.clone(),
            f.impact_zh.clone().unwrap_or_default(),
            f.suggested_action_zh.clone(),
            identity.to_owned(),
            f.deadline.to_string(),
        ];
        for (c, v) in cells.iter().enumerate() {
            ws.write_string(r, c as u16, v)?;
        }
    }
    ws.autofit();
    wb.save_to_buffer()
}
