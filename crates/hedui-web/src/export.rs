//! XLSX export of a work queue: Chinese headers, masked ID numbers and names, text cells only
//! (an ID number typed as a number would lose its last digits in Excel).

use chrono::NaiveDate;
use hedui_model::flag::programme_label_zh;
use hedui_store::StoredFlag;
use rust_xlsxwriter::{Format, Workbook};

use crate::Error;
use crate::views::{FlagRow, county_name, flag_type_label, mask_again, township_name};

/// Column headers of the export.
pub const HEADERS: [&str; 17] = [
    "预警编号",
    "预警类型",
    "类型代码",
    "严重程度",
    "处理状态",
    "处理结果",
    "区县",
    "乡镇",
    "案件编号",
    "救助类别",
    "户主姓名",
    "户主身份证号",
    "地址",
    "预警原因",
    "测算影响",
    "建议措施",
    "截止日期",
];

/// Builds the workbook of a queue.
pub fn queue_xlsx(rows: &[StoredFlag], today: NaiveDate) -> Result<Vec<u8>, Error> {
    let x = |e: rust_xlsxwriter::XlsxError| Error::Export(e.to_string());
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("核对预警").map_err(x)?;
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(x)?;
    }
    for (i, sf) in rows.iter().enumerate() {
        let r = (i + 1) as u32;
        let f = &sf.flag;
        let s = &f.subject;
        let view = FlagRow::new(sf, today);
        let cells: [String; 17] = [
            f.flag_id.clone(),
            flag_type_label(&f.flag_type),
            f.flag_type.clone(),
            f.severity.label_zh().to_owned(),
            sf.status.label_zh().to_owned(),
            sf.outcome
                .map(|o| o.label_zh().to_owned())
                .unwrap_or_default(),
            county_name(&s.county_code),
            township_name(&s.township_code),
            s.case_id.clone(),
            programme_label_zh(&s.programme).to_owned(),
            s.head_name_masked.clone(),
            mask_again(&s.head_id_masked),
            s.address.clone(),
            f.reason_zh.clone(),
            f.impact_zh.clone().unwrap_or_default(),
            f.suggested_action_zh.clone(),
            if view.overdue {
                format!("{}（已逾期）", f.deadline)
            } else {
                f.deadline.to_string()
            },
        ];
        for (c, v) in cells.iter().enumerate() {
            ws.write_string(r, c as u16, v).map_err(x)?;
        }
    }
    ws.set_column_width(0, 18).map_err(x)?;
    ws.set_column_width(11, 22).map_err(x)?;
    ws.set_column_width(13, 40).map_err(x)?;
    wb.save_to_buffer().map_err(x)
}
