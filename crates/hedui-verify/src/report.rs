//! The printable 核对报告: Chinese HTML (escaped, print-friendly) and XLSX, built in memory.
//! ID numbers appear only masked; hospital stays only as counts and amounts.

use std::fmt::Write;

use rust_xlsxwriter::{Format, Workbook};

use crate::Error;
use crate::entry::EntryReport;
use crate::rules::fmt_num;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The report as a standalone, printable HTML page.
pub fn render_html(r: &EntryReport) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>居民家庭经济状况核对报告 {}</title>\
<style>body{{font-family:\"SimSun\",\"Songti SC\",serif;margin:2em;}}table{{border-collapse:collapse;width:100%;margin:0.6em 0;}}\
td,th{{border:1px solid #333;padding:3px 6px;font-size:13px;vertical-align:top;}}th{{background:#eee;}}\
h1{{text-align:center;font-size:20px;}}h2{{font-size:16px;border-bottom:1px solid #333;}}.warn{{color:#a00;font-weight:bold;}}\
@media print{{body{{margin:0;}}}}</style></head><body>\n",
        esc(&r.report_no)
    );
    let _ = write!(h, "<h1>居民家庭经济状况核对报告</h1>\n<table>");
    let rows: Vec<(&str, String)> = vec![
        ("报告编号", r.report_no.clone()),
        ("申请编号", r.application_id.clone()),
        ("核对类型", "新申请核对（逢进必核）".to_owned()),
        (
            "救助类别",
            format!("{}（{}）", r.programme_zh, r.urban_rural),
        ),
        ("地址", r.address.clone()),
        (
            "授权书编号",
            r.auth_no.clone().unwrap_or_else(|| "（无）".into()),
        ),
        (
            "申请日期",
            r.applied.map_or_else(String::new, |d| d.to_string()),
        ),
        ("核对日期", r.as_of.to_string()),
        ("核对状态", r.status_zh.clone()),
        ("规则版本", r.rules_version.clone()),
    ];
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    h.push_str("</table>\n");
    if !r.cutoffs.is_empty() {
        h.push_str("<h2>数据截止日期</h2><table><tr><th>数据来源</th><th>截止日期</th></tr>");
        for (q, d) in &r.cutoffs {
            let _ = write!(h, "<tr><td>{}</td><td>{d}</td></tr>", esc(q));
        }
        h.push_str("</table>\n");
    }
    if !r.gate.is_empty() {
        h.push_str("<h2 class=\"warn\">授权不完整：本次未核对</h2><table><tr><th>成员</th><th>身份证号</th><th>原因</th></tr>");
        for g in &r.gate {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"warn\">{}</td></tr>",
                esc(&g.name_masked),
                esc(&g.id_masked),
                esc(&g.reason)
            );
        }
        h.push_str("</table>\n");
    }
    if r.checked {
        h.push_str("<h2>一、家庭成员</h2><table><tr><th>姓名</th><th>身份证号</th><th>关系</th><th>年龄</th><th>身份核验</th><th>状态</th></tr>");
        for m in &r.members {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&m.name),
                esc(&m.id_masked),
                esc(&m.relation),
                m.age.map_or_else(String::new, |a| a.to_string()),
                esc(&m.identity),
                esc(&m.status)
            );
        }
        h.push_str("</table>\n<h2>二、各部门核对情况</h2>");
        for m in &r.members {
            let _ = write!(
                h,
                "<h3>{}（{}）</h3><table><tr><th>部门</th><th>数据</th><th>核对结果</th></tr>",
                esc(&m.name),
                esc(&m.id_masked)
            );
            for f in &m.findings {
                let cell = if !f.delivered {
                    "<span class=\"warn\">本次未提供该数据</span>".to_owned()
                } else if f.rows.is_empty() {
                    "查无记录".to_owned()
                } else {
                    f.rows
                        .iter()
                        .map(|row| {
                            row.iter()
                                .map(|(k, v)| format!("{}：{}", esc(k), esc(v)))
                                .collect::<Vec<_>>()
                                .join("；")
                        })
                        .collect::<Vec<_>>()
                        .join("<br>")
                };
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{cell}</td></tr>",
                    esc(&f.department),
                    esc(&f.dataset)
                );
            }
            h.push_str("</table>\n");
        }
        if let Some(i) = &r.indicators {
            h.push_str("<h2>三、计算汇总</h2><table>");
            let inc = &i.income;
            let rows: Vec<(&str, String)> = vec![
                ("共同生活人数", i.counted_members.to_string()),
                (
                    "申报家庭月收入",
                    r.declared_income
                        .map_or_else(|| "（未申报）".into(), |x| format!("{}元", fmt_num(x))),
                ),
                ("工资性收入（月）", format!("{}元", fmt_num(inc.wage))),
                ("经营净收入（月）", format!("{}元", fmt_num(inc.business))),
                ("财产净收入（月）", format!("{}元", fmt_num(inc.property))),
                ("转移净收入（月）", format!("{}元", fmt_num(inc.transfer))),
                ("其他收入（月）", format!("{}元", fmt_num(inc.other))),
                (
                    "就业成本扣减",
                    format!("{}元", fmt_num(inc.employment_cost_deduction)),
                ),
                (
                    "不计入收入的项目",
                    format!("{}元（城乡居民基础养老金）", fmt_num(inc.excluded)),
                ),
                ("家庭月总收入", format!("{}元", fmt_num(inc.total))),
                ("家庭人均月收入", format!("{}元", fmt_num(inc.per_capita))),
                (
                    "住房",
                    format!(
                        "{}套，人均{}㎡",
                        i.dwellings,
                        fmt_num(i.dwelling_area_per_capita)
                    ),
                ),
                ("非住宅房产", format!("{}处", i.nonresidential_units)),
                (
                    "机动车（非豁免）",
                    format!(
                        "{}辆（另有车龄较长{}辆、豁免车辆{}辆）",
                        i.vehicles, i.old_vehicles, i.exempt_vehicles
                    ),
                ),
                ("财政供养成员", format!("{}人", i.public_payroll_members)),
                (
                    "近12个月医疗自付",
                    format!(
                        "{}元（住院{}次）",
                        fmt_num(i.medical_oop_12m),
                        i.medical_stays_12m
                    ),
                ),
            ];
            for (k, v) in rows {
                let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
            }
            h.push_str("</table>\n");
        }
        h.push_str("<h2>四、规则比对结果</h2><table><tr><th>规则</th><th>内容</th><th>结果</th><th>说明</th><th>依据记录数</th></tr>");
        for x in &r.results {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td></tr>",
                esc(&x.rule_id),
                esc(&x.title),
                esc(x.outcome.label_zh()),
                esc(&x.reason_zh),
                if x.estimated_standard {
                    "（标准为估计值，待确认）"
                } else {
                    ""
                },
                x.evidence.len()
            );
        }
        h.push_str("</table>\n");
    }
    let _ = writeln!(
        h,
        "<h2>核对结论</h2><p>{}</p><p>本报告为信息核对结果，不是审核确认决定。申请人对核对结果有异议的，可申请复核。</p>\
<table><tr><th>核对人</th><td></td><th>复核人</th><td></td><th>单位盖章</th><td></td><th>日期</th><td>{}</td></tr></table></body></html>",
        esc(&r.conclusion_zh),
        r.as_of
    );
    h
}

/// The report as an XLSX workbook (sheets 概况, 成员, 核对明细, 规则结果).
///
/// # Errors
///
/// [`Error::Xlsx`] when the workbook cannot be built.
pub fn render_xlsx(r: &EntryReport) -> Result<Vec<u8>, Error> {
    let x = |e: rust_xlsxwriter::XlsxError| Error::Xlsx(e.to_string());
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    {
        let ws = wb.add_worksheet().set_name("概况").map_err(x)?;
        let rows: Vec<(&str, String)> = vec![
            ("报告编号", r.report_no.clone()),
            ("申请编号", r.application_id.clone()),
            (
                "救助类别",
                format!("{}（{}）", r.programme_zh, r.urban_rural),
            ),
            ("地址", r.address.clone()),
            ("授权书编号", r.auth_no.clone().unwrap_or_default()),
            ("核对日期", r.as_of.to_string()),
            ("核对状态", r.status_zh.clone()),
            ("核对结论", r.conclusion_zh.clone()),
        ];
        for (i, (k, v)) in rows.iter().enumerate() {
            ws.write_string_with_format(i as u32, 0, *k, &bold)
                .map_err(x)?;
            ws.write_string(i as u32, 1, v).map_err(x)?;
        }
        let mut row = rows.len() as u32 + 1;
        for g in &r.gate {
            ws.write_string(row, 0, "未授权成员").map_err(x)?;
            ws.write_string(
                row,
                1,
                format!("{} {}：{}", g.name_masked, g.id_masked, g.reason),
            )
            .map_err(x)?;
            row += 1;
        }
        if let Some(i) = &r.indicators {
            for (k, v) in [
                ("共同生活人数", f64::from(i.counted_members)),
                ("家庭月总收入", i.income.total),
                ("家庭人均月收入", i.income.per_capita),
                ("住房套数", f64::from(i.dwellings)),
                ("人均住房面积", i.dwelling_area_per_capita),
                ("非豁免机动车", f64::from(i.vehicles)),
                ("财政供养成员", f64::from(i.public_payroll_members)),
                ("近12个月医疗自付", i.medical_oop_12m),
            ] {
                ws.write_string_with_format(row, 0, k, &bold).map_err(x)?;
                ws.write_number(row, 1, (v * 100.0).round() / 100.0)
                    .map_err(x)?;
                row += 1;
            }
        }
        ws.set_column_width(0, 18).map_err(x)?;
        ws.set_column_width(1, 60).map_err(x)?;
    }
    {
        let ws = wb.add_worksheet().set_name("成员").map_err(x)?;
        for (c, hd) in [
            "成员编号",
            "姓名",
            "身份证号",
            "关系",
            "年龄",
            "身份核验",
            "状态",
        ]
        .iter()
        .enumerate()
        {
            ws.write_string_with_format(0, c as u16, *hd, &bold)
                .map_err(x)?;
        }
        for (i, m) in r.members.iter().enumerate() {
            let row = i as u32 + 1;
            ws.write_string(row, 0, &m.member_id).map_err(x)?;
            ws.write_string(row, 1, &m.name).map_err(x)?;
            ws.write_string(row, 2, &m.id_masked).map_err(x)?;
            ws.write_string(row, 3, &m.relation).map_err(x)?;
            if let Some(a) = m.age {
                ws.write_number(row, 4, f64::from(a)).map_err(x)?;
            }
            ws.write_string(row, 5, &m.identity).map_err(x)?;
            ws.write_string(row, 6, &m.status).map_err(x)?;
        }
    }
    {
        let ws = wb.add_worksheet().set_name("核对明细").map_err(x)?;
        for (c, hd) in ["姓名", "部门", "数据", "核对结果"].iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *hd, &bold)
                .map_err(x)?;
        }
        let mut row = 1u32;
        for m in &r.members {
            for f in &m.findings {
                let lines: Vec<String> = if !f.delivered {
                    vec!["本次未提供该数据".to_owned()]
                } else if f.rows.is_empty() {
                    vec!["查无记录".to_owned()]
                } else {
                    f.rows
                        .iter()
                        .map(|r| {
                            r.iter()
                                .map(|(k, v)| format!("{k}：{v}"))
                                .collect::<Vec<_>>()
                                .join("；")
                        })
                        .collect()
                };
                for l in lines {
                    ws.write_string(row, 0, &m.name).map_err(x)?;
                    ws.write_string(row, 1, &f.department).map_err(x)?;
                    ws.write_string(row, 2, &f.dataset).map_err(x)?;
                    ws.write_string(row, 3, l).map_err(x)?;
                    row += 1;
                }
            }
        }
        ws.set_column_width(3, 90).map_err(x)?;
    }
    {
        let ws = wb.add_worksheet().set_name("规则结果").map_err(x)?;
        for (c, hd) in ["规则", "内容", "结果", "说明", "标准为估计值"]
            .iter()
            .enumerate()
        {
            ws.write_string_with_format(0, c as u16, *hd, &bold)
                .map_err(x)?;
        }
        for (i, res) in r.results.iter().enumerate() {
            let row = i as u32 + 1;
            ws.write_string(row, 0, &res.rule_id).map_err(x)?;
            ws.write_string(row, 1, &res.title).map_err(x)?;
            ws.write_string(row, 2, res.outcome.label_zh()).map_err(x)?;
            ws.write_string(row, 3, &res.reason_zh).map_err(x)?;
            ws.write_string(row, 4, if res.estimated_standard { "是" } else { "否" })
                .map_err(x)?;
        }
        ws.set_column_width(3, 80).map_err(x)?;
    }
    wb.save_to_buffer().map_err(x)
}
